/* This host's record, and the others' as gossip carries them: sealed by
 * their owner (docs/security.md, layer 3; src/net/signed_record.h). */
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/clock.h"
#include "common/log.h"
#include "host_record.h"
#include "net/signed_record.h"

uint64_t agent_clock_ms(void) { return clock_mono_ms(); }

uint64_t agent_wall_clock_ms(void) { return clock_wall_ms(); }

Nodectl__HostRecord *agent_self_record(struct agent *a) {
    /* The agent runs on the host it reports, so its own load is the host's. */
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        log_debug("getloadavg failed; load reported as 0");
    if (a->sample->available && a->sample->cpus)
        a->capacity = (struct host_capacity){a->sample->cpus, a->sample->cpu_mhz,
                                             a->sample->memory_kib};
    /* The record is as old as the domains it lists: peers compare its
     * sample time with when a copy ran elsewhere (host_ha_reconcile) and
     * with this host's migrations' ends (host_arrival_check), so a record
     * built between samples, or after a migration ended that the sample
     * it carries did not see, is dated from its sample's start. */
    bool listed = a->sample && a->sample->available;
    uint64_t sampled = listed ? agent_stamp_before(a, a->sample->taken_at_ms) : agent_stamp_ms(a);
    Nodectl__HostRecord *rec = host_record_build(&a->cfg, a->id, hv_uri(a->hv), a->sample,
                                                 &a->capacity, load, sampled);
    if (rec && (agent_actions_to_record(a, rec) != 0 || leadership_to_record(a, rec) != 0 ||
                agent_power_to_record(a, rec) != 0 || security_to_record(a, rec) != 0 ||
                agent_offcheck_to_record(a, rec) != 0 || agent_policy_to_record(a, rec) != 0 ||
                agent_ha_fenced_to_record(a, rec) != 0 ||
                (a->cfg.migration_uri[0] && !(rec->migration_uri = strdup(a->cfg.migration_uri))) ||
                (a->cfg.migration_address[0] &&
                 !(rec->migration_address = strdup(a->cfg.migration_address))))) {
        protobuf_c_message_free_unpacked(&rec->base, NULL);
        return NULL;
    }
    if (rec) {
        rec->drain = a->drain;
        agent_synthetic_load(a, rec);
    }
    if (rec && a->cluster.advertise[0]) {
        char *addr = strdup(a->cluster.advertise);
        if (!addr) {
            protobuf_c_message_free_unpacked(&rec->base, NULL);
            return NULL;
        }
        if (rec->address != protobuf_c_empty_string)
            free(rec->address);
        rec->address = addr;
    }
    return rec;
}

Nodectl__HostRecord *agent_member_record(struct agent *a, const struct gossip_member_info *m) {
    if (m->id == a->cluster.self_id)
        return agent_self_record(a);
    struct signed_record sr;
    if (!m->record_len || !signed_record_parse(m->record, m->record_len, &sr))
        return NULL;
    /* Gossip keeps only records that passed agent_record_verify: no count
     * here, where every record is decoded again and again. */
    const char *field;
    return message_record_decode(sr.record, sr.len, NULL, &field);
}

Nodectl__HostRecord *agent_record_named(struct agent *a, const char *name) {
    struct gossip_member_info m;
    if (!gossip_member_find(a->cluster.gossip, signed_record_member_id(name), &m))
        return NULL;
    return agent_member_record(a, &m);
}

bool agent_record_of_candidate(struct agent *a, const struct gossip_member_info *m,
                               const Nodectl__HostRecord *rec) {
    if (!leadership_is_candidate(a, rec->name))
        return false;
    if (a->cfg.insecure)
        return true;
    struct signed_record sr;
    struct cert_info owner;
    /* Verified when it arrived: the cache answers without the CA's
     * signature. */
    return signed_record_parse(m->record, m->record_len, &sr) && sr.cert &&
           cert_cache_verify(frame_ctx_cert_cache(a->sec.frames), a->sec.ca_pk, sr.cert,
                             sr.cert_len, &owner) == CERT_OK &&
           owner.candidate;
}

int agent_record_seal(void *ctx, uint64_t version, const uint8_t *data, size_t len,
                      uint8_t **out, size_t *out_len) {
    struct agent *a = ctx;
    const struct security *s = &a->sec;
    size_t cert_len = a->cfg.insecure ? 0 : s->cert_len;
    *out = malloc(signed_record_size(cert_len, len));
    if (!*out)
        return -1;
    *out_len = signed_record_seal(s->sk, s->cert, cert_len, a->cluster.self_id, version, data, len,
                                  *out);
    return 0;
}

/* Logs the first record refused for each reason (counted by gossip). */
static void record_refused(struct agent *a, uint64_t id, const char *owner, const char *why) {
    security_refuse(a, REFUSED_RECORD_NOT_OWNERS, owner, "a record");
    log_debug("record of member %016llx refused: %s", (unsigned long long)id, why);
}

bool agent_record_verify(void *ctx, uint64_t id, uint64_t version, const uint8_t *data,
                         size_t len) {
    struct agent *a = ctx;
    struct signed_record sr;
    struct cert_info owner = {.name = "?"};
    /* The certificate is most often in the cache already, from the
     * owner's frames (frame_open). */
    enum signed_record_result r =
        signed_record_verify(frame_ctx_cert_cache(a->sec.frames),
                             a->cfg.insecure ? NULL : a->sec.ca_pk,
                             agent_wall_clock_ms() / 1000, id, version, data, len, &sr, &owner);
    if (r != SIGNED_RECORD_OK) {
        record_refused(a, id, owner.name, signed_record_result_name(r));
        return false;
    }
    /* Within the bounds of message_limits.h (counted by reason, the field
     * at fault kept for the log), then the owner's. */
    Nodectl__HostRecord *rec = message_record_decode(sr.record, sr.len, &a->cluster.record_rejects,
                                                     &a->cluster.record_field);
    const char *why = NULL;
    if (!rec)
        why = "the record does not decode within its bounds";
    else if (!a->cfg.insecure && strcmp(rec->name, owner.name) != 0)
        why = "the record names another host than its certificate";
    else if (signed_record_member_id(rec->name) != id)
        why = "the host it names has another member id";
    if (why)
        record_refused(a, id, rec ? rec->name : owner.name, why);
    if (rec)
        nodectl__host_record__free_unpacked(rec, NULL);
    return !why;
}

void agent_host_metrics(struct agent *a, struct metrics *m) {
    Nodectl__HostRecord *rec = agent_self_record(a);
    if (!rec) {
        m->failed = true;
        return;
    }
    bool up = rec->hypervisor && rec->hypervisor->available;
    metrics_gauge(m, "nodectl_hypervisor_up", "1 if libvirt answered the last sample, else 0.",
                  up ? 1 : 0);
    metrics_gauge(m, "nodectl_host_cpus", "CPUs of this host.",
                  rec->capacity ? rec->capacity->cpus : 0);
    metrics_gauge(m, "nodectl_host_cpu_ratio",
                  "CPU use of this host as its record shows it, 0 to 1.",
                  rec->usage ? rec->usage->cpu_percent / 100 : 0);
    metrics_gauge(m, "nodectl_host_memory_bytes", "Memory of this host.",
                  rec->capacity ? (double)rec->capacity->memory_kib * 1024 : 0);
    metrics_gauge(m, "nodectl_host_memory_used_bytes", "Memory in use on this host.",
                  rec->usage ? (double)rec->usage->memory_used_kib * 1024 : 0);
    double running = 0;
    for (size_t i = 0; i < rec->n_vms; i++)
        running += rec->vms[i]->state == NODECTL__VM_STATE__VM_STATE_RUNNING;
    metrics_family(m, "nodectl_host_vms", "gauge",
                   "VMs defined on this host, by whether they run.");
    metrics_sample(m, "nodectl_host_vms", (const char *[]){"state", "running", NULL}, running);
    metrics_sample(m, "nodectl_host_vms", (const char *[]){"state", "other", NULL},
                   (double)rec->n_vms - running);
    metrics_gauge(m, "nodectl_host_drained", "1 if this host is drained (in maintenance).",
                  rec->drain ? 1 : 0);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
}
