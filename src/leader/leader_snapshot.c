/* Gossiped records -> the planner's snapshot. The mapping:
 *   host: cores = logical CPUs, core MIPS = nominal MHz (the CloudSim
 *   convention of Beloglazov & Buyya 2012: one MIPS per MHz), memory in MB,
 *   utilisation = the host's CPU %, loadavg15 from /proc/loadavg.
 *   VM: its MIPS = vCPUs x the host's core MIPS, demand = its CPU % of that.
 * Only the current sample is known from a record, so every VM has a history
 * of one: the planner's adaptive policies fall back to their static
 * threshold until a longer history is kept. */
#include "leader_snapshot.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool vm_runs(const Nodectl__Vm *vm) {
    return vm->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
           vm->state == NODECTL__VM_STATE__VM_STATE_BLOCKED;
}

/* What the record says the host has; false when it says nothing usable. */
static bool capacity_known(const Nodectl__HostRecord *r) {
    return r->capacity && r->capacity->cpus > 0 && r->capacity->memory_kib > 0;
}

static bool wakeable(const Nodectl__HostRecord *r) {
    return r->power && ((r->power->wake_mac[0] && r->power->wake_broadcast[0]) ||
                        r->power->ipmi_address[0]);
}

const char *leader_host_unusable(const Nodectl__HostRecord *r, enum leader_liveness l,
                                 bool failed, char *why, size_t len) {
    bool hv = r->hypervisor && r->hypervisor->available;
    const char *hv_reason = r->hypervisor && r->hypervisor->reason[0] ? r->hypervisor->reason
                                                                      : "no sample";
    switch (l) {
    case LEADER_HOST_DOWN: snprintf(why, len, "not alive"); break;
    case LEADER_HOST_UP:
        if (!hv)
            snprintf(why, len, "hypervisor unavailable: %s", hv_reason);
        else if (!capacity_known(r))
            snprintf(why, len, "its hypervisor reports no CPUs or memory");
        else
            why[0] = '\0';
        break;
    case LEADER_HOST_OFF:
        if (failed)
            snprintf(why, len, "off: did not come back when woken");
        else if (!wakeable(r))
            snprintf(why, len, "off: cannot be woken (no wake MAC nor BMC)");
        else if (!capacity_known(r))
            snprintf(why, len, "off: its capacity is unknown (%s before it went off)",
                     hv ? "no CPUs or memory reported" : hv_reason);
        else
            why[0] = '\0';
        break;
    }
    return why[0] ? why : NULL;
}

/* Running migrations of `vm` in any record, and when its last migration
 * ended (its host's stamp clock, ms; 0: never). A failed or refused attempt counts too: the VM
 * then waits out the policy's cool-down before the leader tries again,
 * instead of a retry every round against the same fault. */
static void vm_history(const struct leader_member *members, size_t n, const char *vm,
                       bool *moving, uint64_t *moved_at) {
    *moving = false;
    *moved_at = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < members[i].n_reports; k++) {
            const struct report *x = &members[i].reports[k];
            if (x->kind != REPORT_MIGRATION || strcmp(x->m->vm, vm) != 0)
                continue;
            if (x->state == REPORT_RUNNING && members[i].liveness == LEADER_HOST_UP)
                *moving = true;
            else if (x->state != REPORT_RUNNING && x->m->ended_at_ms > *moved_at)
                *moved_at = x->m->ended_at_ms;
        }
    }
}

/* Running migrations to or from host `name`. */
static uint32_t migrations_of(const struct leader_member *members, size_t n, const char *name) {
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = members[i].rec;
        bool source = strcmp(r->name, name) == 0;
        for (size_t k = 0; members[i].liveness == LEADER_HOST_UP && k < members[i].n_reports;
             k++) {
            const struct report *x = &members[i].reports[k];
            count += x->kind == REPORT_MIGRATION && x->state == REPORT_RUNNING &&
                     (source || strcmp(x->m->destination, name) == 0);
        }
    }
    return count;
}

static bool vm_stopped(const Nodectl__Vm *v) {
    return v->state == NODECTL__VM_STATE__VM_STATE_SHUTOFF ||
           v->state == NODECTL__VM_STATE__VM_STATE_CRASHED;
}

/* Whether host m's record shows a protected VM stopped that no up host's
 * record shows running: it waits for its restart, in place or elsewhere
 * (docs/ha.md), and powering the host off would leave it down with its
 * only definition on a host that is off (VMware DPM keeps on what HA needs
 * for a failover in the same way). */
static bool parks_protected(const struct leader_member *m, const struct leader_member *members,
                            size_t n) {
    for (size_t k = 0; k < m->rec->n_vms; k++) {
        const Nodectl__Vm *v = m->rec->vms[k];
        if (!v->ha || !vm_stopped(v))
            continue;
        bool elsewhere = false;
        for (size_t i = 0; i < n && !elsewhere; i++)
            for (size_t j = 0; &members[i] != m && members[i].liveness == LEADER_HOST_UP &&
                               j < members[i].rec->n_vms && !elsewhere;
                 j++)
                elsewhere = strcmp(members[i].rec->vms[j]->name, v->name) == 0 &&
                            !vm_stopped(members[i].rec->vms[j]);
        if (!elsewhere)
            return true;
    }
    return false;
}

static void fill_host(struct leader_snapshot *s, size_t h, const struct leader_member *m,
                      const struct leader_member *members, size_t n) {
    const Nodectl__HostRecord *r = m->rec;
    struct placement_host *ph = &s->hosts[h];
    char why[LEADER_UNUSABLE_MAX];
    bool failed = leader_host_unusable(r, m->liveness, m->failed, why, sizeof why) != NULL;
    bool known = capacity_known(r);
    ph->id = (uint32_t)h;
    ph->cores = known ? r->capacity->cpus : 1;
    /* A hypervisor that reports no clock still has cores: count 1000 MIPS. */
    ph->core_mips = known && r->capacity->cpu_mhz ? r->capacity->cpu_mhz : 1000;
    ph->mem_mb = known ? r->capacity->memory_kib / 1024 : 0;
    ph->power = &s->power;
    ph->power_state = m->liveness == LEADER_HOST_OFF ? PLACEMENT_HOST_OFF : PLACEMENT_HOST_ON;
    ph->flags = (r->candidate ? PLACEMENT_HOST_CANDIDATE : 0u) |
                (r->drain ? PLACEMENT_HOST_DRAIN : 0u) |
                (r->migration_uri[0] ? 0u : PLACEMENT_HOST_NO_INBOUND) |
                (r->power && r->power->can_power_off && !m->keep_on &&
                         !parks_protected(m, members, n)
                     ? 0u
                     : PLACEMENT_HOST_KEEP_ON) |
                (failed ? PLACEMENT_HOST_FAILED : 0u);
    ph->cpu_measured = r->usage ? r->usage->cpu_percent / 100 : 0;
    ph->loadavg15 = r->usage ? r->usage->load15 : 0;
    /* The wake cool-down holds hosts the leader woke, not every host whose
     * agent restarted (VMware DPM's rule is about its own power-ons too). */
    ph->powered_on_at = m->woken_at_ms ? (double)m->woken_at_ms / 1000 : -1e300;
    ph->migrations_in_flight = migrations_of(members, n, r->name);
}

/* Whether the record's VMs are the ones running there now. */
static bool runs_here(const struct leader_member *m) {
    char why[LEADER_UNUSABLE_MAX];
    return m->liveness == LEADER_HOST_UP &&
           !leader_host_unusable(m->rec, m->liveness, m->failed, why, sizeof why);
}

/* The planner's id of anti-affinity group `name` (its VM's record's), from
 * 1; VMs of one group share it. groups holds the names seen so far. */
static uint32_t group_id(const char **groups, size_t *n_groups, const char *name) {
    if (!name[0])
        return 0;
    for (size_t i = 0; i < *n_groups; i++)
        if (strcmp(groups[i], name) == 0)
            return (uint32_t)i + 1;
    groups[*n_groups] = name;
    return (uint32_t)++*n_groups;
}

struct named {
    const char *name;
    uint32_t vm;
};

static int by_name(const void *a, const void *b) {
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->vm > y->vm) - (x->vm < y->vm);
}

/* Finds the VMs listed by more than one host (sorted by name: n log n for
 * a large cluster), pins every copy and lists them in s->twice. */
static int find_twice(struct leader_snapshot *s, size_t n_vms) {
    struct named *v = calloc(n_vms ? n_vms : 1, sizeof *v);
    s->twice = calloc(n_vms ? n_vms : 1, sizeof *s->twice);
    if (!v || !s->twice) {
        free(v);
        return -1;
    }
    for (size_t i = 0; i < n_vms; i++)
        v[i] = (struct named){s->vm_rec[i]->name, (uint32_t)i};
    qsort(v, n_vms, sizeof *v, by_name);
    for (size_t i = 0; i < n_vms; i++) {
        bool same_prev = i > 0 && strcmp(v[i].name, v[i - 1].name) == 0;
        bool same_next = i + 1 < n_vms && strcmp(v[i].name, v[i + 1].name) == 0;
        if (!same_prev && !same_next)
            continue;
        s->vms[v[i].vm].pinned = true;
        s->twice[s->n_twice++] = v[i].vm;
    }
    free(v);
    return 0;
}

int leader_snapshot_build(struct leader_snapshot *s, const struct leader_member *members,
                          size_t n, double idle_watts, double max_watts) {
    memset(s, 0, sizeof *s);
    placement_power_linear(&s->power, idle_watts, max_watts);
    size_t n_vms = 0;
    for (size_t i = 0; i < n; i++)
        if (runs_here(&members[i]))
            for (size_t k = 0; k < members[i].rec->n_vms; k++)
                n_vms += vm_runs(members[i].rec->vms[k]);
    s->hosts = calloc(n ? n : 1, sizeof *s->hosts);
    s->host_rec = calloc(n ? n : 1, sizeof *s->host_rec);
    s->vms = calloc(n_vms ? n_vms : 1, sizeof *s->vms);
    s->vm_rec = calloc(n_vms ? n_vms : 1, sizeof *s->vm_rec);
    s->history = calloc(n_vms ? n_vms : 1, sizeof *s->history);
    const char **groups = calloc(n_vms ? n_vms : 1, sizeof *groups);
    size_t n_groups = 0;
    if (!s->hosts || !s->host_rec || !s->vms || !s->vm_rec || !s->history || !groups) {
        free(groups);
        leader_snapshot_free(s);
        return -1;
    }
    size_t v = 0;
    for (size_t h = 0; h < n; h++) {
        const struct leader_member *m = &members[h];
        s->host_rec[h] = m->rec;
        fill_host(s, h, m, members, n);
        if (!runs_here(m))
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
            pv->pinned = rv->pinned;
            pv->anti_affinity = group_id(groups, &n_groups, rv->group);
            s->vm_rec[v] = rv;
            v++;
        }
    }
    free(groups);
    s->snap = (struct placement_snapshot){s->hosts, n, s->vms, v};
    if (find_twice(s, v) != 0) {
        leader_snapshot_free(s);
        return -1;
    }
    return 0;
}

void leader_snapshot_free(struct leader_snapshot *s) {
    free(s->hosts);
    free(s->host_rec);
    free(s->vms);
    free(s->vm_rec);
    free(s->history);
    free(s->twice);
    memset(s, 0, sizeof *s);
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
