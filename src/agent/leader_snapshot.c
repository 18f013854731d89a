/* Gossiped records -> the planner's snapshot. The mapping:
 *   host: cores = logical CPUs, core MIPS = nominal MHz (the CloudSim
 *   convention of Beloglazov & Buyya 2012: one MIPS per MHz), memory in MB,
 *   utilisation = the host's CPU %, loadavg15 from /proc/loadavg.
 *   VM: its MIPS = vCPUs x the host's core MIPS, demand = its CPU % of that.
 * Only the current sample is known from a record, so every VM has a history
 * of one: the planner's adaptive policies fall back to their static
 * threshold until a longer history is kept (issue [6], a later part). */
#include "leader_snapshot.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool vm_runs(const Nodectl__Vm *vm) {
    return vm->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
           vm->state == NODECTL__VM_STATE__VM_STATE_BLOCKED;
}

static bool host_usable(const struct leader_member *m) {
    return m->rec->hypervisor && m->rec->hypervisor->available && m->rec->capacity &&
           m->rec->capacity->cpus > 0;
}

/* Running migrations of `vm` in any record, and when its last migration
 * ended (wall ms; 0: never). A failed or refused attempt counts too: the VM
 * then waits out the policy's cool-down before the leader tries again,
 * instead of a retry every round against the same fault. */
static void vm_history(const struct leader_member *members, size_t n, const char *vm,
                       bool *moving, uint64_t *moved_at) {
    *moving = false;
    *moved_at = 0;
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = members[i].rec;
        for (size_t k = 0; k < r->n_migrations; k++) {
            const Nodectl__Migration *m = r->migrations[k];
            if (m->kind[0] || strcmp(m->vm, vm) != 0)
                continue;
            if (strcmp(m->state, "running") == 0 && members[i].liveness == LEADER_HOST_UP)
                *moving = true;
            else if (strcmp(m->state, "running") != 0 && m->ended_at_ms > *moved_at)
                *moved_at = m->ended_at_ms;
        }
    }
}

/* Running migrations to or from host `name`. */
static uint32_t migrations_of(const struct leader_member *members, size_t n, const char *name) {
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = members[i].rec;
        bool source = strcmp(r->name, name) == 0;
        for (size_t k = 0; members[i].liveness == LEADER_HOST_UP && k < r->n_migrations; k++)
            count += !r->migrations[k]->kind[0] &&
                     strcmp(r->migrations[k]->state, "running") == 0 &&
                     (source || strcmp(r->migrations[k]->destination, name) == 0);
    }
    return count;
}

static void fill_host(struct leader_snapshot *s, size_t h, const struct leader_member *m,
                      const struct leader_member *members, size_t n) {
    const Nodectl__HostRecord *r = m->rec;
    struct placement_host *ph = &s->hosts[h];
    bool usable = host_usable(m);
    ph->id = (uint32_t)h;
    ph->cores = usable ? r->capacity->cpus : 1;
    /* A hypervisor that reports no clock still has cores: count 1000 MIPS. */
    ph->core_mips = usable && r->capacity->cpu_mhz ? r->capacity->cpu_mhz : 1000;
    ph->mem_mb = usable ? r->capacity->memory_kib / 1024 : 0;
    ph->power = &s->power;
    ph->power_state = m->liveness == LEADER_HOST_OFF ? PLACEMENT_HOST_OFF : PLACEMENT_HOST_ON;
    bool wakeable = r->power && ((r->power->wake_mac[0] && r->power->wake_broadcast[0]) ||
                                 r->power->ipmi_address[0]);
    ph->flags = (r->candidate ? PLACEMENT_HOST_CANDIDATE : 0u) |
                (r->drain ? PLACEMENT_HOST_DRAIN : 0u) |
                (r->migration_uri[0] ? 0u : PLACEMENT_HOST_NO_INBOUND) |
                (r->power && r->power->can_power_off && !m->keep_on ? 0u
                                                                    : PLACEMENT_HOST_KEEP_ON) |
                (m->liveness == LEADER_HOST_DOWN || (m->liveness == LEADER_HOST_UP && !usable) ||
                         (m->liveness == LEADER_HOST_OFF && (m->failed || !wakeable))
                     ? PLACEMENT_HOST_FAILED
                     : 0u);
    ph->cpu_measured = r->usage ? r->usage->cpu_percent / 100 : 0;
    ph->loadavg15 = r->usage ? r->usage->load15 : 0;
    /* The wake cool-down holds hosts the leader woke, not every host whose
     * agent restarted (VMware DPM's rule is about its own power-ons too). */
    ph->powered_on_at = m->woken_at_ms ? (double)m->woken_at_ms / 1000 : -1e300;
    ph->migrations_in_flight = migrations_of(members, n, r->name);
}

int leader_snapshot_build(struct leader_snapshot *s, const struct leader_member *members,
                          size_t n, double idle_watts, double max_watts) {
    memset(s, 0, sizeof *s);
    placement_power_linear(&s->power, idle_watts, max_watts);
    size_t n_vms = 0;
    for (size_t i = 0; i < n; i++)
        if (members[i].liveness == LEADER_HOST_UP && host_usable(&members[i]))
            for (size_t k = 0; k < members[i].rec->n_vms; k++)
                n_vms += vm_runs(members[i].rec->vms[k]);
    s->hosts = calloc(n ? n : 1, sizeof *s->hosts);
    s->host_rec = calloc(n ? n : 1, sizeof *s->host_rec);
    s->vms = calloc(n_vms ? n_vms : 1, sizeof *s->vms);
    s->vm_rec = calloc(n_vms ? n_vms : 1, sizeof *s->vm_rec);
    s->history = calloc(n_vms ? n_vms : 1, sizeof *s->history);
    if (!s->hosts || !s->host_rec || !s->vms || !s->vm_rec || !s->history) {
        leader_snapshot_free(s);
        return -1;
    }
    size_t v = 0;
    for (size_t h = 0; h < n; h++) {
        const struct leader_member *m = &members[h];
        s->host_rec[h] = m->rec;
        fill_host(s, h, m, members, n);
        if (m->liveness != LEADER_HOST_UP || !host_usable(m))
            continue;
        for (size_t k = 0; k < m->rec->n_vms; k++) {
            const Nodectl__Vm *rv = m->rec->vms[k];
            if (!vm_runs(rv))
                continue;
            struct placement_vm *pv = &s->vms[v];
            bool moving;
            uint64_t moved_at;
            vm_history(members, n, rv->name, &moving, &moved_at);
            pv->id = (uint32_t)v;
            pv->host = (uint32_t)h;
            pv->vcpus = rv->vcpus ? rv->vcpus : 1;
            pv->mips = pv->vcpus * s->hosts[h].core_mips;
            pv->mem_mb = rv->memory_kib / 1024;
            double u = rv->cpu_percent / 100;
            pv->cpu_mips = pv->alloc_mips = u * pv->mips;
            s->history[v] = u;
            pv->history = &s->history[v];
            pv->history_len = 1;
            pv->last_migrated_at = moved_at ? (double)moved_at / 1000 : -1e300;
            pv->in_migration = moving;
            s->vm_rec[v] = rv;
            v++;
        }
    }
    s->snap = (struct placement_snapshot){s->hosts, n, s->vms, v};
    return 0;
}

void leader_snapshot_free(struct leader_snapshot *s) {
    free(s->hosts);
    free(s->host_rec);
    free(s->vms);
    free(s->vm_rec);
    free(s->history);
    memset(s, 0, sizeof *s);
}

const Nodectl__Migration *leader_foreign_migration(const struct leader_member *members, size_t n,
                                                   const char *const *own, size_t n_own,
                                                   size_t *count) {
    const Nodectl__Migration *first = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *h = members[i].rec;
        for (size_t k = 0; members[i].liveness == LEADER_HOST_UP && k < h->n_migrations; k++) {
            const Nodectl__Migration *m = h->migrations[k];
            bool mine = false;
            for (size_t o = 0; o < n_own && !mine; o++)
                mine = strcmp(own[o], m->id) == 0;
            if (!m->kind[0] && strcmp(m->state, "running") == 0 && !mine) {
                first = first ? first : m;
                (*count)++;
            }
        }
    }
    return first;
}

void leader_snapshot_explain(const struct leader_snapshot *s, const char *reason, char *out,
                             size_t len) {
    size_t o = 0;
    if (!len)
        return;
    for (const char *p = reason; *p && o + 1 < len;) {
        const char *name = NULL;
        size_t skip = 0;
        bool host = strncmp(p, "host ", 5) == 0, vm = strncmp(p, "VM ", 3) == 0;
        if ((host || vm) && isdigit((unsigned char)p[host ? 5 : 3])) {
            char *end;
            unsigned long id = strtoul(p + (host ? 5 : 3), &end, 10);
            if (host && id < s->snap.n_hosts)
                name = s->host_rec[id]->name;
            else if (vm && id < s->snap.n_vms)
                name = s->vm_rec[id]->name;
            skip = (size_t)(end - p);
        }
        if (name) {
            int w = snprintf(out + o, len - o, "%s %s", host ? "host" : "VM", name);
            o = w < 0 ? o : o + (size_t)w < len ? o + (size_t)w : len - 1;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}
