#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.pb-c.h"

const char *command_kind_name(enum command_kind k) {
    switch (k) {
    case COMMAND_MIGRATE: return "migrate";
    case COMMAND_POWER_OFF: return "power-off";
    case COMMAND_WAKE: return "wake";
    case COMMAND_DRAIN: return "drain";
    case COMMAND_TRANSFER: return "transfer";
    case COMMAND_VM_RULES: return "vm-rules";
    case COMMAND_DEFINE: return "define";
    }
    return "unknown";
}

/* Copies a decoded string into a bounded field; false (and why) when it
 * does not fit. protobuf-c gives "" for an absent proto3 string. */
static bool copy(char *dst, size_t cap, const char *src, const char *field, char *why,
                 size_t whylen) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        snprintf(why, whylen, "%s is %zu bytes long, more than %zu", field, n, cap - 1);
        return false;
    }
    memcpy(dst, src ? src : "", n + 1);
    return true;
}

#define COPY(dst, src, name) copy(dst, sizeof dst, src, name, why, whylen)

static int decode_command(const Nodectl__Command *pb, struct command *c, char *why,
                          size_t whylen) {
    memset(c, 0, sizeof *c);
    if (!COPY(c->id, pb->id, "id") || !COPY(c->issuer, pb->issuer, "issuer") ||
        !COPY(c->target, pb->target, "target"))
        return -1;
    if (!c->id[0]) {
        snprintf(why, whylen, "a command without an id");
        return -1;
    }
    c->term = pb->term;
    c->by_operator = pb->operator_;
    switch (pb->body_case) {
    case NODECTL__COMMAND__BODY_MIGRATE:
        c->kind = COMMAND_MIGRATE;
        c->migrate.timeout_ms = pb->migrate->timeout_ms;
        return COPY(c->migrate.vm, pb->migrate->vm, "migrate.vm") &&
                       COPY(c->migrate.destination, pb->migrate->destination,
                            "migrate.destination") &&
                       COPY(c->migrate.destination_uri, pb->migrate->destination_uri,
                            "migrate.destination_uri") &&
                       COPY(c->migrate.migration_address, pb->migrate->migration_address,
                            "migrate.migration_address")
                   ? 0
                   : -1;
    case NODECTL__COMMAND__BODY_POWER_OFF: c->kind = COMMAND_POWER_OFF; return 0;
    case NODECTL__COMMAND__BODY_WAKE:
        c->kind = COMMAND_WAKE;
        return COPY(c->wake.host, pb->wake->host, "wake.host") &&
                       COPY(c->wake.mac, pb->wake->mac, "wake.mac") &&
                       COPY(c->wake.broadcast, pb->wake->broadcast, "wake.broadcast") &&
                       COPY(c->wake.ipmi_address, pb->wake->ipmi_address, "wake.ipmi_address")
                   ? 0
                   : -1;
    case NODECTL__COMMAND__BODY_DRAIN:
        c->kind = COMMAND_DRAIN;
        c->drain = pb->drain->drain;
        return 0;
    case NODECTL__COMMAND__BODY_TRANSFER:
        c->kind = COMMAND_TRANSFER;
        return COPY(c->transfer_to, pb->transfer->destination, "transfer.destination") ? 0 : -1;
    case NODECTL__COMMAND__BODY_VM_RULES:
        c->kind = COMMAND_VM_RULES;
        c->vm_rules.set_pinned = pb->vm_rules->set_pinned;
        c->vm_rules.pinned = pb->vm_rules->pinned;
        c->vm_rules.set_group = pb->vm_rules->set_group;
        c->vm_rules.set_ha = pb->vm_rules->set_ha;
        c->vm_rules.ha = pb->vm_rules->ha;
        c->vm_rules.set_ha_priority = pb->vm_rules->set_ha_priority;
        c->vm_rules.ha_priority = pb->vm_rules->ha_priority;
        return COPY(c->vm_rules.vm, pb->vm_rules->vm, "vm_rules.vm") &&
                       COPY(c->vm_rules.group, pb->vm_rules->group, "vm_rules.group")
                   ? 0
                   : -1;
    case NODECTL__COMMAND__BODY_DEFINE:
        c->kind = COMMAND_DEFINE;
        c->define.start = pb->define->start;
        c->define.in_place = pb->define->in_place;
        if (pb->define->xml_deflated.len > sizeof c->define.xmlz) {
            snprintf(why, whylen, "define.xml_deflated is %zu bytes long, more than %zu",
                     pb->define->xml_deflated.len, sizeof c->define.xmlz);
            return -1;
        }
        c->define.xmlz_len = pb->define->xml_deflated.len;
        if (c->define.xmlz_len)
            memcpy(c->define.xmlz, pb->define->xml_deflated.data, c->define.xmlz_len);
        return COPY(c->define.name, pb->define->name, "define.name") ? 0 : -1;
    case NODECTL__COMMAND__BODY__NOT_SET:
    case _NODECTL__COMMAND__BODY__CASE_IS_INT_SIZE: break;
    }
    snprintf(why, whylen, "command %s has no action this version knows", c->id);
    return -1;
}

int command_msg_decode(const uint8_t *data, size_t len, struct command_msg *out, char *why,
                       size_t whylen) {
    Nodectl__CommandMsg *pb = nodectl__command_msg__unpack(NULL, len, data);
    if (!pb) {
        snprintf(why, whylen, "does not decode");
        return -1;
    }
    int rc = -1;
    memset(out, 0, sizeof *out);
    switch (pb->body_case) {
    case NODECTL__COMMAND_MSG__BODY_COMMAND:
        out->kind = COMMAND_MSG_COMMAND;
        rc = decode_command(pb->command, &out->command, why, whylen);
        break;
    case NODECTL__COMMAND_MSG__BODY_ASK:
        out->kind = COMMAND_MSG_ASK;
        out->ask.term = pb->ask->term;
        out->ask.nonce = pb->ask->nonce;
        rc = COPY(out->ask.id, pb->ask->id, "ask.id") &&
                     COPY(out->ask.target, pb->ask->target, "ask.target")
                 ? 0
                 : -1;
        break;
    case NODECTL__COMMAND_MSG__BODY_GRANT:
        out->kind = COMMAND_MSG_GRANT;
        out->grant.term = pb->grant->term;
        out->grant.nonce = pb->grant->nonce;
        out->grant.granted = pb->grant->granted;
        out->grant.valid_ms = pb->grant->valid_ms;
        rc = COPY(out->grant.id, pb->grant->id, "grant.id") &&
                     COPY(out->grant.target, pb->grant->target, "grant.target") &&
                     COPY(out->grant.reason, pb->grant->reason, "grant.reason")
                 ? 0
                 : -1;
        break;
    case NODECTL__COMMAND_MSG__BODY_RENEW:
        out->kind = COMMAND_MSG_RENEW;
        out->renew.nonce = pb->renew->nonce;
        rc = COPY(out->renew.host, pb->renew->host, "renew.host") ? 0 : -1;
        break;
    case NODECTL__COMMAND_MSG__BODY_RENEWED:
        out->kind = COMMAND_MSG_RENEWED;
        out->renewed.term = pb->renewed->term;
        out->renewed.nonce = pb->renewed->nonce;
        out->renewed.granted = pb->renewed->granted;
        out->renewed.valid_ms = pb->renewed->valid_ms;
        out->renewed.fenced = pb->renewed->fenced;
        out->renewed.show_term = pb->renewed->show_term;
        rc = COPY(out->renewed.host, pb->renewed->host, "renewed.host") &&
                     COPY(out->renewed.reason, pb->renewed->reason, "renewed.reason")
                 ? 0
                 : -1;
        break;
    case NODECTL__COMMAND_MSG__BODY_DEFINITION:
        out->kind = COMMAND_MSG_DEFINITION;
        out->definition.epoch = pb->definition->epoch;
        out->definition.seq = pb->definition->seq;
        if (pb->definition->xml_deflated.len > sizeof out->definition.xmlz) {
            snprintf(why, whylen, "definition.xml_deflated is %zu bytes long, more than %zu",
                     pb->definition->xml_deflated.len, sizeof out->definition.xmlz);
            break;
        }
        out->definition.xmlz_len = pb->definition->xml_deflated.len;
        if (out->definition.xmlz_len)
            memcpy(out->definition.xmlz, pb->definition->xml_deflated.data,
                   out->definition.xmlz_len);
        rc = COPY(out->definition.vm, pb->definition->vm, "definition.vm") &&
                     COPY(out->definition.host, pb->definition->host, "definition.host") &&
                     COPY(out->definition.xml, pb->definition->xml, "definition.xml")
                 ? 0
                 : -1;
        break;
    case NODECTL__COMMAND_MSG__BODY__NOT_SET:
    case _NODECTL__COMMAND_MSG__BODY__CASE_IS_INT_SIZE:
        snprintf(why, whylen, "an empty command message");
        break;
    }
    nodectl__command_msg__free_unpacked(pb, NULL);
    return rc;
}

/* The wire form borrows the flat struct's strings: nothing to free but the
 * buffer. */
int command_msg_encode(const struct command_msg *m, uint8_t **out, size_t *len) {
    Nodectl__CommandMsg pb = NODECTL__COMMAND_MSG__INIT;
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    Nodectl__MigrateCommand mc = NODECTL__MIGRATE_COMMAND__INIT;
    Nodectl__PowerOffCommand po = NODECTL__POWER_OFF_COMMAND__INIT;
    Nodectl__WakeCommand wc = NODECTL__WAKE_COMMAND__INIT;
    Nodectl__DrainCommand dc = NODECTL__DRAIN_COMMAND__INIT;
    Nodectl__TransferCommand tc = NODECTL__TRANSFER_COMMAND__INIT;
    Nodectl__VmRulesCommand rc = NODECTL__VM_RULES_COMMAND__INIT;
    Nodectl__DefineCommand df = NODECTL__DEFINE_COMMAND__INIT;
    Nodectl__GrantRequest ask = NODECTL__GRANT_REQUEST__INIT;
    Nodectl__Grant grant = NODECTL__GRANT__INIT;
    Nodectl__FenceRenew renew = NODECTL__FENCE_RENEW__INIT;
    Nodectl__FenceRenewed renewed = NODECTL__FENCE_RENEWED__INIT;
    Nodectl__DefinitionPut def = NODECTL__DEFINITION_PUT__INIT;
    switch (m->kind) {
    case COMMAND_MSG_COMMAND: {
        const struct command *c = &m->command;
        pb.body_case = NODECTL__COMMAND_MSG__BODY_COMMAND;
        pb.command = &cmd;
        cmd.id = (char *)c->id;
        cmd.term = c->term;
        cmd.issuer = (char *)c->issuer;
        cmd.target = (char *)c->target;
        cmd.operator_ = c->by_operator;
        switch (c->kind) {
        case COMMAND_MIGRATE:
            cmd.body_case = NODECTL__COMMAND__BODY_MIGRATE;
            cmd.migrate = &mc;
            mc.vm = (char *)c->migrate.vm;
            mc.destination = (char *)c->migrate.destination;
            mc.destination_uri = (char *)c->migrate.destination_uri;
            mc.migration_address = (char *)c->migrate.migration_address;
            mc.timeout_ms = c->migrate.timeout_ms;
            break;
        case COMMAND_POWER_OFF:
            cmd.body_case = NODECTL__COMMAND__BODY_POWER_OFF;
            cmd.power_off = &po;
            break;
        case COMMAND_WAKE:
            cmd.body_case = NODECTL__COMMAND__BODY_WAKE;
            cmd.wake = &wc;
            wc.host = (char *)c->wake.host;
            wc.mac = (char *)c->wake.mac;
            wc.broadcast = (char *)c->wake.broadcast;
            wc.ipmi_address = (char *)c->wake.ipmi_address;
            break;
        case COMMAND_DRAIN:
            cmd.body_case = NODECTL__COMMAND__BODY_DRAIN;
            cmd.drain = &dc;
            dc.drain = c->drain;
            break;
        case COMMAND_TRANSFER:
            cmd.body_case = NODECTL__COMMAND__BODY_TRANSFER;
            cmd.transfer = &tc;
            tc.destination = (char *)c->transfer_to;
            break;
        case COMMAND_VM_RULES:
            cmd.body_case = NODECTL__COMMAND__BODY_VM_RULES;
            cmd.vm_rules = &rc;
            rc.vm = (char *)c->vm_rules.vm;
            rc.set_pinned = c->vm_rules.set_pinned;
            rc.pinned = c->vm_rules.pinned;
            rc.set_group = c->vm_rules.set_group;
            rc.group = (char *)c->vm_rules.group;
            rc.set_ha = c->vm_rules.set_ha;
            rc.ha = c->vm_rules.ha;
            rc.set_ha_priority = c->vm_rules.set_ha_priority;
            rc.ha_priority = c->vm_rules.ha_priority;
            break;
        case COMMAND_DEFINE:
            cmd.body_case = NODECTL__COMMAND__BODY_DEFINE;
            cmd.define = &df;
            df.name = (char *)c->define.name;
            df.xml_deflated.data = (uint8_t *)c->define.xmlz;
            df.xml_deflated.len = c->define.xmlz_len;
            df.start = c->define.start;
            df.in_place = c->define.in_place;
            break;
        }
        break;
    }
    case COMMAND_MSG_ASK:
        pb.body_case = NODECTL__COMMAND_MSG__BODY_ASK;
        pb.ask = &ask;
        ask.id = (char *)m->ask.id;
        ask.target = (char *)m->ask.target;
        ask.term = m->ask.term;
        ask.nonce = m->ask.nonce;
        break;
    case COMMAND_MSG_GRANT:
        pb.body_case = NODECTL__COMMAND_MSG__BODY_GRANT;
        pb.grant = &grant;
        grant.id = (char *)m->grant.id;
        grant.target = (char *)m->grant.target;
        grant.term = m->grant.term;
        grant.nonce = m->grant.nonce;
        grant.granted = m->grant.granted;
        grant.valid_ms = m->grant.valid_ms;
        grant.reason = (char *)m->grant.reason;
        break;
    case COMMAND_MSG_RENEW:
        pb.body_case = NODECTL__COMMAND_MSG__BODY_RENEW;
        pb.renew = &renew;
        renew.host = (char *)m->renew.host;
        renew.nonce = m->renew.nonce;
        break;
    case COMMAND_MSG_RENEWED:
        pb.body_case = NODECTL__COMMAND_MSG__BODY_RENEWED;
        pb.renewed = &renewed;
        renewed.host = (char *)m->renewed.host;
        renewed.term = m->renewed.term;
        renewed.nonce = m->renewed.nonce;
        renewed.granted = m->renewed.granted;
        renewed.valid_ms = m->renewed.valid_ms;
        renewed.fenced = m->renewed.fenced;
        renewed.show_term = m->renewed.show_term;
        renewed.reason = (char *)m->renewed.reason;
        break;
    case COMMAND_MSG_DEFINITION:
        pb.body_case = NODECTL__COMMAND_MSG__BODY_DEFINITION;
        pb.definition = &def;
        def.vm = (char *)m->definition.vm;
        def.host = (char *)m->definition.host;
        def.epoch = m->definition.epoch;
        def.seq = m->definition.seq;
        if (m->definition.xmlz_len) {
            def.xml_deflated.len = m->definition.xmlz_len;
            def.xml_deflated.data = (uint8_t *)m->definition.xmlz;
        } else {
            def.xml = (char *)m->definition.xml;
        }
        break;
    }
    *len = nodectl__command_msg__get_packed_size(&pb);
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return -1;
    nodectl__command_msg__pack(&pb, *out);
    return 0;
}

void command_describe(const struct command *c, char *out, size_t len) {
    switch (c->kind) {
    case COMMAND_MIGRATE:
        snprintf(out, len, "migrate %s to %s", c->migrate.vm, c->migrate.destination);
        return;
    case COMMAND_POWER_OFF: snprintf(out, len, "power off"); return;
    case COMMAND_WAKE: snprintf(out, len, "wake %s", c->wake.host); return;
    case COMMAND_DRAIN: snprintf(out, len, "%s", c->drain ? "drain" : "undrain"); return;
    case COMMAND_TRANSFER:
        snprintf(out, len, "leadership transfer to %s",
                 c->transfer_to[0] ? c->transfer_to : "the preferred candidate");
        return;
    case COMMAND_VM_RULES: {
        const struct command_vm_rules *r = &c->vm_rules;
        char prio[32] = "";
        if (r->set_ha_priority)
            snprintf(prio, sizeof prio, " ha_priority=%u", (unsigned)r->ha_priority);
        snprintf(out, len, "rules of %s:%s%s%s%s%s%s", r->vm,
                 r->set_pinned ? r->pinned ? " pinned=yes" : " pinned=no" : "",
                 r->set_group ? " group=" : "", r->set_group ? r->group : "",
                 r->set_group && !r->group[0] ? "(none)" : "",
                 r->set_ha ? r->ha ? " ha=yes" : " ha=no" : "", prio);
        return;
    }
    case COMMAND_DEFINE:
        if (c->define.in_place)
            snprintf(out, len, "start %s in place", c->define.name);
        else
            snprintf(out, len, "define %s%s", c->define.name,
                     c->define.start ? " and start it" : "");
        return;
    }
    snprintf(out, len, "unknown");
}
