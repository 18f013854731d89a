/* Evacuating hosts: consolidation of underloaded hosts (CloudSim
 * getMigrationMapFromUnderUtilizedHosts: lowest utilisation first, all VMs
 * or none), evacuation of drained hosts, and the "spread" window that
 * powers hosts on and evens the load out (the Bologna cluster's normalize
 * step before working hours). */
#include <stdio.h>
#include <stdlib.h>

#include "placement/placement_internal.h"

static int by_measured_cpu(const void *a, const void *b, void *ctx) {
    const struct placement_snapshot *snap = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    double ux = snap->hosts[x].cpu_measured, uy = snap->hosts[y].cpu_measured;
    if (ux != uy)
        return ux < uy ? -1 : 1;
    return (x > y) - (x < y);
}

/* Consecutive newest history samples below the underload threshold, in
 * seconds: the time the host has been underloaded, taken as the time it will
 * stay so (the TR of the TR > O + lambda rule). */
static double underload_persistence(const struct pl_state *st, uint32_t h) {
    double hist[PLACEMENT_HISTORY_MAX];
    size_t n = pl_host_history(st, h, -1, hist);
    size_t k = 0;
    while (k < n && hist[k] < st->pol->underload_threshold)
        k++;
    return (double)k * st->pol->interval_s;
}

/* Decides whether host h's VMs may leave it; writes why into `why`. */
static bool may_evacuate(const struct pl_state *st, uint32_t h, char *why, size_t n) {
    const struct placement_host *hs = &st->snap->hosts[h];
    const struct pl_host *ph = &st->hosts[h];
    uint64_t mem = 0;
    for (uint32_t i = 0; i < ph->n_vms; i++) {
        if (!pl_vm_movable(st, ph->vms[i]))
            return false;
        mem += st->snap->vms[ph->vms[i]].mem_mb;
    }
    if (st->pol->model == PLACEMENT_MODEL_CLOUDSIM) {
        snprintf(why, n, "host %u underloaded: CPU %.2f, lowest first; evacuating it", hs->id,
                 hs->cpu_measured);
        return true;
    }
    double cost = (double)mem / st->pol->migration_mb_per_s;
    double tr = underload_persistence(st, h);
    if (st->pol->benefit_rule && !(tr > cost + st->pol->benefit_margin_s))
        return false;
    snprintf(why, n, "host %u underloaded: CPU %.2f < %.2f for %.0f s > migration %.0f s + margin %.0f s",
             hs->id, hs->cpu_measured, st->pol->underload_threshold, tr, cost,
             st->pol->benefit_margin_s);
    return true;
}

static void undo(struct pl_state *st, uint32_t from, struct pl_pick *t, size_t n) {
    for (size_t i = n; i-- > 0;) {
        pl_host_remove(st, t[i].to, t[i].vm);
        st->hosts[t[i].to].migrations--;
        st->hosts[from].migrations--;
        st->vm_host[t[i].vm] = from;
        st->vm_alloc[t[i].vm] = t[i].alloc;
        pl_host_refresh(st, from);
    }
}

/* Tries to place every VM of h elsewhere; on success emits the moves (after
 * the VMs left h) and returns 1, on failure leaves no trace and returns 0. */
static int evacuate(struct pl_state *st, uint32_t h, enum pl_pass pass, const char *why) {
    struct pl_host *ph = &st->hosts[h];
    size_t n = ph->n_vms;
    if (n == 0)
        return 0;
    struct pl_pick *t = malloc(n * sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < n; i++)
        t[i] = (struct pl_pick){ph->vms[i], h, 0, st->vm_alloc[ph->vms[i]], i};
    pl_sort_by_demand(st, t, n);
    size_t placed = 0;
    for (; placed < n; placed++) {
        int to = pl_pabfd_find(st, t[placed].vm, pass);
        if (to < 0)
            break;
        t[placed].to = (uint32_t)to;
        if (pl_host_add(st, (uint32_t)to, t[placed].vm) != 0) {
            undo(st, h, t, placed);
            free(t);
            return -1;
        }
        st->hosts[to].migrations++;
        ph->migrations++;
    }
    if (placed < n) {
        undo(st, h, t, placed);
        free(t);
        return 0;
    }
    /* Committed: emit the moves; the VMs then leave h. */
    int rc = 1;
    for (size_t i = 0; i < n && rc == 1; i++) {
        char reason[PLACEMENT_REASON_MAX];
        snprintf(reason, sizeof reason, "%.150s; VM %u to host %u", why, st->snap->vms[t[i].vm].id,
                 st->snap->hosts[t[i].to].id);
        if (pl_record_move(st, t[i].vm, h, t[i].to, reason) < 0)
            rc = -1;
        st->hosts[t[i].to].excl_source = true;
    }
    for (size_t i = 0; i < n; i++)
        pl_host_remove(st, h, t[i].vm);
    ph->evacuated = true;
    free(t);
    return rc;
}

int pl_consolidate(struct pl_state *st) {
    const struct placement_snapshot *snap = st->snap;
    bool cloudsim = st->pol->model == PLACEMENT_MODEL_CLOUDSIM;
    for (size_t i = 0; i < snap->n_hosts; i++) {
        const struct placement_host *hs = &snap->hosts[i];
        struct pl_host *ph = &st->hosts[i];
        /* Switched-off hosts are neither sources nor targets here. */
        if (hs->power_state == PLACEMENT_HOST_OFF) {
            ph->excl_source = true;
            pl_host_exclude_target(st, (uint32_t)i);
        }
        if (cloudsim)
            continue;
        /* nodectl: a host that just received VMs is not emptied again, and
         * hosts that must stay on are not emptied at all. */
        if (ph->migrations > hs->migrations_in_flight || hs->migrations_in_flight ||
            (hs->flags & (PLACEMENT_HOST_CANDIDATE | PLACEMENT_HOST_KEEP_ON | PLACEMENT_HOST_FAILED |
                          PLACEMENT_HOST_DRAIN)) ||
            st->now - hs->powered_on_at < st->pol->host_wake_cooldown_s)
            ph->excl_source = true;
    }
    /* CloudSim getUnderUtilizedHost, called until it finds none: least
     * utilised at the last measurement first (lowest index on ties), 0 < u <
     * 1 (nodectl: u < underload_threshold). The measurement does not change
     * while planning, so one sort gives the same order. */
    uint32_t *order = malloc((snap->n_hosts ? snap->n_hosts : 1) * sizeof *order);
    if (!order)
        return -1;
    size_t n = 0;
    double limit = cloudsim ? 1 : st->pol->underload_threshold;
    for (size_t i = 0; i < snap->n_hosts; i++)
        if (!st->hosts[i].excl_source && snap->hosts[i].cpu_measured > 0 &&
            snap->hosts[i].cpu_measured < limit)
            order[n++] = (uint32_t)i;
    qsort_r(order, n, sizeof *order, by_measured_cpu, (void *)snap);
    size_t tried = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        uint32_t h = order[k];
        if (st->hosts[h].excl_source)
            continue;
        if (st->pol->max_evacuations && tried >= st->pol->max_evacuations)
            break;
        st->hosts[h].excl_source = true;
        pl_host_exclude_target(st, h);
        char why[PLACEMENT_REASON_MAX];
        if (st->hosts[h].n_vms == 0 || !may_evacuate(st, h, why, sizeof why))
            continue;
        tried++;
        if (evacuate(st, h, PL_PASS_ALL, why) < 0)
            rc = -1;
    }
    free(order);
    return rc;
}

int pl_evacuate_drained(struct pl_state *st) {
    for (size_t i = 0; i < st->snap->n_hosts; i++) {
        const struct placement_host *hs = &st->snap->hosts[i];
        struct pl_host *ph = &st->hosts[i];
        if (!(hs->flags & PLACEMENT_HOST_DRAIN) || (hs->flags & PLACEMENT_HOST_FAILED))
            continue;
        ph->excl_source = true;
        /* One VM at a time: a drain proceeds as far as it can. */
        for (uint32_t k = 0; k < ph->n_vms;) {
            uint32_t vm = ph->vms[k];
            if (!pl_vm_movable(st, vm)) {
                k++;
                continue;
            }
            int to = pl_pabfd_find(st, vm, PL_PASS_ON);
            if (to < 0)
                to = pl_pabfd_find(st, vm, PL_PASS_OFF);
            if (to < 0) {
                k++;
                continue;
            }
            char why[PLACEMENT_REASON_MAX];
            snprintf(why, sizeof why, "host %u in drain: evacuating VM %u to host %u", hs->id,
                     st->snap->vms[vm].id, st->snap->hosts[to].id);
            if (pl_plan_move(st, vm, (uint32_t)to, why) < 0)
                return -1;
            pl_host_remove(st, (uint32_t)i, vm);
        }
    }
    return 0;
}

static double host_load(const struct pl_state *st, uint32_t h) {
    return pl_host_requested_mips(st, h, -1) / pl_host_mips(&st->snap->hosts[h]);
}

static bool usable_for_spread(const struct pl_state *st, uint32_t h) {
    return !(st->snap->hosts[h].flags & (PLACEMENT_HOST_FAILED | PLACEMENT_HOST_DRAIN));
}

/* Spread window: repeatedly move the lightest movable VM from the most to the
 * least loaded usable host (powering it on if needed) while that narrows the
 * gap between them. Bounded by one move per VM. */
int pl_spread(struct pl_state *st) {
    const struct placement_snapshot *snap = st->snap;
    for (size_t round = 0; round < snap->n_vms; round++) {
        int hi = -1, lo = -1;
        for (size_t i = 0; i < snap->n_hosts; i++) {
            uint32_t h = (uint32_t)i;
            if (!usable_for_spread(st, h))
                continue;
            double l = host_load(st, h);
            if (st->hosts[h].n_vms && (hi < 0 || l > host_load(st, (uint32_t)hi)))
                hi = (int)h;
            if (!(snap->hosts[h].flags & PLACEMENT_HOST_NO_INBOUND) &&
                (lo < 0 || l < host_load(st, (uint32_t)lo)))
                lo = (int)h;
        }
        if (hi < 0 || lo < 0 || hi == lo)
            return 0;
        int vm = -1;
        const struct pl_host *ph = &st->hosts[hi];
        for (uint32_t k = 0; k < ph->n_vms; k++) {
            uint32_t v = ph->vms[k];
            if (pl_vm_movable(st, v) && st->vm_action[v] < 0 && pl_host_suitable(st, (uint32_t)lo, v) &&
                (vm < 0 || snap->vms[v].cpu_mips < snap->vms[vm].cpu_mips))
                vm = (int)v;
        }
        if (vm < 0)
            return 0;
        double d = snap->vms[vm].cpu_mips;
        double hi_after = host_load(st, (uint32_t)hi) - d / pl_host_mips(&snap->hosts[hi]);
        double lo_after = host_load(st, (uint32_t)lo) + d / pl_host_mips(&snap->hosts[lo]);
        if (!(lo_after < host_load(st, (uint32_t)hi)) || !(hi_after > host_load(st, (uint32_t)lo)))
            return 0;
        char why[PLACEMENT_REASON_MAX];
        snprintf(why, sizeof why, "spread window: host %u at CPU %.2f, host %u at %.2f; VM %u moves",
                 snap->hosts[hi].id, host_load(st, (uint32_t)hi), snap->hosts[lo].id,
                 host_load(st, (uint32_t)lo), snap->vms[vm].id);
        if (pl_plan_move(st, (uint32_t)vm, (uint32_t)lo, why) < 0)
            return -1;
        pl_host_remove(st, (uint32_t)hi, (uint32_t)vm);
    }
    return 0;
}
