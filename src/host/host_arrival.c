/* host_arrival.h: a copy a failed migration left at its destination. */
#include "host_arrival.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "leader/leader_view.h"

/* The report of migration `id` of `vm` to `self` in one of the records,
 * and that record. */
static const Nodectl__Migration *find_report(const char *self, const char *id, const char *vm,
                                             const struct host_arrival_peer *peers, size_t n,
                                             const struct host_arrival_peer **from) {
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = peers[i].rec;
        if (!r || strcmp(r->name, self) == 0)
            continue;
        for (size_t k = 0; k < r->n_migrations; k++) {
            const Nodectl__Migration *m = r->migrations[k];
            if (strcmp(m->id, id) == 0 && report_kind_parse(m->kind) == REPORT_MIGRATION &&
                strcmp(m->vm, vm) == 0 && strcmp(m->destination, self) == 0) {
                *from = &peers[i];
                return m;
            }
        }
    }
    return NULL;
}

static bool runs(const Nodectl__Vm *v) {
    return v->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
           v->state == NODECTL__VM_STATE__VM_STATE_BLOCKED;
}

enum host_arrival host_arrival_check(const char *self, const struct hv_domain_now *dom,
                                     const struct host_arrival_peer *peers, size_t n, char *why,
                                     size_t len) {
    snprintf(why, len, "not the leftover of a failed migration");
    if (!dom || !dom->active || !dom->arrival[0])
        return HOST_ARRIVAL_KEEP;
    if (dom->job != HV_JOB_NONE) {
        snprintf(why, len, "%s has a job (%s)", dom->name, hv_job_name(dom->job));
        return HOST_ARRIVAL_KEEP;
    }
    const struct host_arrival_peer *from = NULL;
    const Nodectl__Migration *m = find_report(self, dom->arrival, dom->name, peers, n, &from);
    if (!m)
        return HOST_ARRIVAL_KEEP;
    const Nodectl__HostRecord *src = from->rec;
    enum report_state st = report_state_parse(m->state);
    if (st != REPORT_FAILED && st != REPORT_ABORTED) {
        snprintf(why, len, "its migration %s from %s is %s", m->id, src->name,
                 report_state_name(st));
        return HOST_ARRIVAL_KEEP;
    }
    for (size_t k = 0; k < src->n_migrations; k++) {
        const Nodectl__Migration *o = src->migrations[k];
        if (strcmp(o->vm, dom->name) != 0 || report_kind_parse(o->kind) != REPORT_MIGRATION)
            continue;
        enum report_state ost = report_state_parse(o->state);
        if (ost == REPORT_RUNNING) {
            snprintf(why, len, "%s migrates %s again (%s)", src->name, dom->name, o->id);
            return HOST_ARRIVAL_DOUBT;
        }
        /* Its own copy moved on, after the failure, to another host,
         * which runs it now: this one is still the leftover. */
        if (ost == REPORT_SUCCEEDED && o->started_at_ms > m->ended_at_ms &&
            strcmp(o->destination, self) != 0) {
            snprintf(why, len,
                     "%s arrived by migration %s from %s, which %s reports %s at %" PRIu64
                     "; %s has since moved its copy to %s (%s, succeeded)",
                     dom->name, m->id, src->name, src->name, report_state_name(st),
                     m->ended_at_ms, src->name, o->destination, o->id);
            return HOST_ARRIVAL_LEFTOVER;
        }
    }
    /* The source's copy must be known to run after the failure: a record
     * sampled before it may show a copy the failure took down, and an off
     * host's last record shows what it ran before it went off. */
    if (!from->alive || !src->hypervisor || !src->hypervisor->available ||
        src->sampled_at_ms <= m->ended_at_ms) {
        snprintf(why, len, "%s has not shown %s since its migration %s ended %s", src->name,
                 dom->name, m->id, report_state_name(st));
        return HOST_ARRIVAL_DOUBT;
    }
    for (size_t k = 0; k < src->n_vms; k++) {
        const Nodectl__Vm *v = src->vms[k];
        if (strcmp(v->name, dom->name) != 0)
            continue;
        if (v->uuid.len != sizeof dom->uuid || memcmp(v->uuid.data, dom->uuid, sizeof dom->uuid))
            break;
        if (!runs(v))
            break;
        snprintf(why, len,
                 "%s arrived by migration %s from %s, which %s reports %s at %" PRIu64
                 " and runs %s since (sampled at %" PRIu64 ")",
                 dom->name, m->id, src->name, src->name, report_state_name(st), m->ended_at_ms,
                 dom->name, src->sampled_at_ms);
        return HOST_ARRIVAL_LEFTOVER;
    }
    snprintf(why, len, "%s does not show %s running (same UUID) after its migration %s failed",
             src->name, dom->name, m->id);
    return HOST_ARRIVAL_KEEP;
}

enum host_refusal host_arrival_migrate_check(const char *self, const struct hv_domain_now *dom,
                                             const struct host_arrival_peer *peers, size_t n,
                                             char *why, size_t len) {
    char found[HV_REASON_MAX * 2];
    enum host_arrival v = host_arrival_check(self, dom, peers, n, found, sizeof found);
    if (v == HOST_ARRIVAL_KEEP)
        return HOST_OK;
    snprintf(why, len, "VM '%s' may run at the source of the failed migration that brought it: %s",
             dom->name, found);
    return HOST_REFUSE_VM_LEFTOVER;
}
