#include "message_check.h"

#include <string.h>

_Static_assert(MESSAGE_REJECT_REASONS <= REJECT_REASONS_MAX, "struct rejects holds every reason");

const char *message_reject_name(unsigned r) {
    switch ((enum message_reject)r) {
    case MESSAGE_REJECT_MALFORMED: return "a message that does not decode within its bounds";
    case MESSAGE_REJECT_TEXT: return "text too long, missing, or a name with control characters";
    case MESSAGE_REJECT_BYTES: return "a UUID or key of the wrong size";
    case MESSAGE_REJECT_COUNT: return "more VMs, actions or candidates than a host has";
    case MESSAGE_REJECT_BODY: return "no body, or one of an unknown kind";
    case MESSAGE_REJECT_VALUE: return "a number out of range";
    case MESSAGE_REJECT_REASONS: break;
    }
    return "unknown";
}

/* Free text (libvirt's messages, VM names as libvirt allows them): only
 * the length is bounded; the log escapes what it prints. */
static bool text_fits(const char *s, size_t max) {
    return strnlen(s, max) < max;
}

/* Names, ids and addresses: bounded, and no control characters, which
 * would forge lines in a log or a terminal. */
static bool name_ok(const char *s, size_t max, bool required) {
    if (!text_fits(s, max) || (required && !s[0]))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

#define TEXT(s, max, field)                                                                        \
    do {                                                                                           \
        if (!text_fits((s), (max))) {                                                              \
            *why = MESSAGE_REJECT_TEXT;                                                            \
            return field;                                                                          \
        }                                                                                          \
    } while (0)
#define NAME(s, max, required, field)                                                              \
    do {                                                                                           \
        if (!name_ok((s), (max), (required))) {                                                    \
            *why = MESSAGE_REJECT_TEXT;                                                            \
            return field;                                                                          \
        }                                                                                          \
    } while (0)
#define COUNT(n, max, field)                                                                       \
    do {                                                                                           \
        if ((n) > (max)) {                                                                         \
            *why = MESSAGE_REJECT_COUNT;                                                           \
            return field;                                                                          \
        }                                                                                          \
    } while (0)
#define UUID(b, field)                                                                             \
    do {                                                                                           \
        if ((b).len != 0 && (b).len != MSG_UUID_BYTES) {                                           \
            *why = MESSAGE_REJECT_BYTES;                                                           \
            return field;                                                                          \
        }                                                                                          \
    } while (0)

/* An anti-affinity group: "" or a name as hv_group_valid has it. */
#define GROUP(s, field)                                                                            \
    do {                                                                                           \
        if (!text_fits((s), MSG_GROUP_MAX) || ((s)[0] && !hv_group_valid(s))) {                   \
            *why = MESSAGE_REJECT_TEXT;                                                            \
            return field;                                                                          \
        }                                                                                          \
    } while (0)

static const char *check_migration(const Nodectl__Migration *m, enum message_reject *why) {
    NAME(m->id, MSG_ID_MAX, false, "migrations.id");
    TEXT(m->vm, MSG_VM_NAME_MAX, "migrations.vm");
    UUID(m->vm_uuid, "migrations.vm_uuid");
    NAME(m->destination, MSG_NAME_MAX, false, "migrations.destination");
    NAME(m->state, MSG_WORD_MAX, false, "migrations.state");
    TEXT(m->error, MSG_REASON_MAX, "migrations.error");
    NAME(m->kind, MSG_WORD_MAX, false, "migrations.kind");
    return NULL;
}

const char *message_check_record(const Nodectl__HostRecord *r, enum message_reject *why) {
    NAME(r->name, MSG_NAME_MAX, true, "name");
    UUID(r->node_id, "node_id");
    NAME(r->address, MSG_ADDR_MAX, false, "address");
    if (r->hypervisor) {
        TEXT(r->hypervisor->uri, MSG_URI_MAX, "hypervisor.uri");
        TEXT(r->hypervisor->reason, MSG_REASON_MAX, "hypervisor.reason");
    }
    COUNT(r->n_vms, MSG_RECORD_VMS_MAX, "vms");
    for (size_t i = 0; i < r->n_vms; i++) {
        TEXT(r->vms[i]->name, MSG_VM_NAME_MAX, "vms.name");
        UUID(r->vms[i]->uuid, "vms.uuid");
        GROUP(r->vms[i]->group, "vms.group");
        if (r->vms[i]->ha_priority > COMMAND_HA_PRIORITY_MAX) {
            *why = MESSAGE_REJECT_VALUE;
            return "vms.ha_priority";
        }
    }
    NAME(r->policy_digest, MSG_DIGEST_MAX, false, "policy_digest");
    NAME(r->migration_uri, MSG_URI_MAX, false, "migration_uri");
    NAME(r->migration_address, MSG_URI_MAX, false, "migration_address");
    COUNT(r->n_migrations, MSG_RECORD_ACTIONS_MAX, "migrations");
    for (size_t i = 0; i < r->n_migrations; i++) {
        const char *bad = check_migration(r->migrations[i], why);
        if (bad)
            return bad;
    }
    NAME(r->leader, MSG_NAME_MAX, false, "leader");
    COUNT(r->n_candidates, MSG_RECORD_CANDIDATES_MAX, "candidates");
    for (size_t i = 0; i < r->n_candidates; i++)
        NAME(r->candidates[i], MSG_CANDIDATE_MAX, true, "candidates");
    COUNT(r->n_keys, MSG_RECORD_KEYS_MAX, "keys");
    for (size_t i = 0; i < r->n_keys; i++)
        NAME(r->keys[i], MSG_KEY_ID_MAX, true, "keys");
    NAME(r->primary_key, MSG_KEY_ID_MAX, false, "primary_key");
    COUNT(r->n_ha_fenced, MSG_RECORD_FENCED_MAX, "ha_fenced");
    for (size_t i = 0; i < r->n_ha_fenced; i++) {
        NAME(r->ha_fenced[i]->host, MSG_NAME_MAX, true, "ha_fenced.host");
        NAME(r->ha_fenced[i]->evidence, MSG_WORD_MAX, false, "ha_fenced.evidence");
    }
    COUNT(r->n_off_checks, MSG_RECORD_OFF_CHECKS_MAX, "off_checks");
    for (size_t i = 0; i < r->n_off_checks; i++) {
        NAME(r->off_checks[i]->host, MSG_NAME_MAX, true, "off_checks.host");
        TEXT(r->off_checks[i]->reason, MSG_REASON_MAX, "off_checks.reason");
    }
    if (r->power) {
        NAME(r->power->wake_mac, MSG_MAC_MAX, false, "power.wake_mac");
        NAME(r->power->wake_broadcast, MSG_NAME_MAX, false, "power.wake_broadcast");
        NAME(r->power->network, MSG_NAME_MAX, false, "power.network");
        NAME(r->power->ipmi_address, MSG_IPMI_MAX, false, "power.ipmi_address");
    }
    return NULL;
}

const char *message_check_command(const struct command *c, enum message_reject *why) {
    NAME(c->id, MSG_ID_MAX, true, "id");
    NAME(c->issuer, MSG_NAME_MAX, true, "issuer");
    NAME(c->target, MSG_NAME_MAX, false, "target");
    switch (c->kind) {
    case COMMAND_MIGRATE:
        if (!c->migrate.vm[0]) {
            *why = MESSAGE_REJECT_TEXT;
            return "migrate.vm";
        }
        NAME(c->migrate.destination, MSG_NAME_MAX, true, "migrate.destination");
        NAME(c->migrate.destination_uri, MSG_URI_MAX, true, "migrate.destination_uri");
        NAME(c->migrate.migration_address, MSG_URI_MAX, false, "migrate.migration_address");
        if (c->migrate.timeout_ms > MSG_MIGRATION_TIMEOUT_MAX) {
            *why = MESSAGE_REJECT_VALUE;
            return "migrate.timeout_ms";
        }
        return NULL;
    case COMMAND_TRANSFER:
        NAME(c->transfer_to, MSG_NAME_MAX, false, "transfer.destination");
        return NULL;
    case COMMAND_WAKE:
        NAME(c->wake.host, MSG_NAME_MAX, true, "wake.host");
        NAME(c->wake.mac, MSG_MAC_MAX, false, "wake.mac");
        NAME(c->wake.broadcast, MSG_NAME_MAX, false, "wake.broadcast");
        NAME(c->wake.ipmi_address, MSG_IPMI_MAX, false, "wake.ipmi_address");
        return NULL;
    case COMMAND_DEFINE:
        NAME(c->define.name, MSG_VM_NAME_MAX, true, "define.name");
        /* A new domain's XML, or none: in place, the one defined there. */
        if (!c->define.xmlz_len != c->define.in_place) {
            *why = MESSAGE_REJECT_TEXT;
            return "define.xml_deflated";
        }
        if (c->define.in_place && !c->define.start) {
            *why = MESSAGE_REJECT_VALUE;
            return "define.start";
        }
        return NULL;
    case COMMAND_DRAIN:
    case COMMAND_POWER_OFF:
        return NULL;
    case COMMAND_VM_RULES:
        if (!c->vm_rules.vm[0]) {
            *why = MESSAGE_REJECT_TEXT;
            return "vm_rules.vm";
        }
        GROUP(c->vm_rules.group, "vm_rules.group");
        if (c->vm_rules.ha_priority > COMMAND_HA_PRIORITY_MAX) {
            *why = MESSAGE_REJECT_VALUE;
            return "vm_rules.ha_priority";
        }
        return NULL;
    }
    *why = MESSAGE_REJECT_BODY;
    return "kind";
}

const char *message_check_request(const Nodectl__Request *q, enum message_reject *why) {
    switch (q->body_case) {
    case NODECTL__REQUEST__BODY_STATUS:
    case NODECTL__REQUEST__BODY_VMS:
    case NODECTL__REQUEST__BODY_MEMBERS:
    case NODECTL__REQUEST__BODY_PLAN:
    case NODECTL__REQUEST__BODY_EVENTS:
        return NULL;
    case NODECTL__REQUEST__BODY_CAPACITY:
        NAME(q->capacity->group, MSG_NAME_MAX, false, "capacity.group");
        if (q->capacity->vcpus > MSG_VCPUS_MAX || q->capacity->memory_kib > MSG_MEMORY_KIB_MAX) {
            *why = MESSAGE_REJECT_VALUE;
            return q->capacity->vcpus > MSG_VCPUS_MAX ? "capacity.vcpus" : "capacity.memory_kib";
        }
        return NULL;
    case NODECTL__REQUEST__BODY_CREATE:
        NAME(q->create->policy, MSG_WORD_MAX, false, "create.policy");
        if (!q->create->xml_deflated.len || q->create->xml_deflated.len > MSG_CREATE_XMLZ_MAX) {
            *why = MESSAGE_REJECT_TEXT;
            return "create.xml_deflated";
        }
        return NULL;
    case NODECTL__REQUEST__BODY_MIGRATE:
        TEXT(q->migrate->vm, MSG_VM_NAME_MAX, "migrate.vm");
        NAME(q->migrate->destination, MSG_NAME_MAX, false, "migrate.destination");
        return NULL;
    case NODECTL__REQUEST__BODY_LEADER_TRANSFER:
        NAME(q->leader_transfer->destination, MSG_NAME_MAX, false,
             "leader_transfer.destination");
        return NULL;
    case NODECTL__REQUEST__BODY_DRAIN:
        NAME(q->drain->host, MSG_NAME_MAX, false, "drain.host");
        return NULL;
    case NODECTL__REQUEST__BODY_KEYS:
        NAME(q->keys->key_id, MSG_KEY_ID_MAX, false, "keys.key_id");
        if (q->keys->key.len != 0 && q->keys->key.len != KEYRING_KEY_BYTES) {
            *why = MESSAGE_REJECT_BYTES;
            return "keys.key";
        }
        return NULL;
    case NODECTL__REQUEST__BODY_HOST_FENCED:
        NAME(q->host_fenced->host, MSG_NAME_MAX, true, "host_fenced.host");
        return NULL;
    case NODECTL__REQUEST__BODY_VM_SET:
        TEXT(q->vm_set->vm, MSG_VM_NAME_MAX, "vm_set.vm");
        GROUP(q->vm_set->group, "vm_set.group");
        if (q->vm_set->ha_priority > COMMAND_HA_PRIORITY_MAX) {
            *why = MESSAGE_REJECT_VALUE;
            return "vm_set.ha_priority";
        }
        return NULL;
    case NODECTL__REQUEST__BODY__NOT_SET:
    case _NODECTL__REQUEST__BODY__CASE_IS_INT_SIZE:
        break;
    }
    *why = MESSAGE_REJECT_BODY;
    return "body";
}

Nodectl__HostRecord *message_record_decode(const uint8_t *data, size_t len,
                                           struct rejects *rejects, const char **field) {
    Nodectl__HostRecord *r = nodectl__host_record__unpack(NULL, len, data);
    enum message_reject why = MESSAGE_REJECT_MALFORMED;
    *field = "record";
    if (r && !(*field = message_check_record(r, &why)))
        return r;
    if (r)
        nodectl__host_record__free_unpacked(r, NULL);
    if (rejects)
        reject_count(rejects, why);
    return NULL;
}
