#include "rebalance.h"

#include <math.h>

void rebalance_config_defaults(struct rebalance_config *c) {
    c->shares_min = 128;
    c->shares_max = 8192;
    c->memory_min_fraction = 0.5;
    c->memory_headroom = 0.25;
    c->shares_threshold = 0.2;
    c->memory_threshold = 0.1;
    c->margin_ms = 10000;
}

static double relative_change(double from, double to) {
    return from > 0 ? fabs(to - from) / from : (to > 0 ? 1 : 0);
}

/* CPU: weights proportional to demand in cores, normalised so that the
 * mean weight is the cgroup default, 1024; idle VMs keep the floor, which
 * still lets them run when the host is not busy (shares only matter under
 * contention). */
static void plan_cpu(const struct rebalance_config *c, struct rebalance_vm *vms, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += vms[i].cpu_percent / 100.0 * vms[i].vcpus;
    double mean = n ? total / (double)n : 0;
    for (size_t i = 0; i < n; i++) {
        double demand = vms[i].cpu_percent / 100.0 * vms[i].vcpus;
        double w = mean > 0 ? 1024.0 * demand / mean : 1024.0;
        if (w < c->shares_min)
            w = c->shares_min;
        if (w > c->shares_max)
            w = c->shares_max;
        vms[i].new_shares = (uint32_t)lround(w);
    }
}

/* Memory: the balloon follows what the guest uses, with headroom, never
 * below the floor nor above the maximum. Without a guest figure the balloon
 * stays where it is. */
static void plan_memory(const struct rebalance_config *c, struct rebalance_vm *vms, size_t n) {
    for (size_t i = 0; i < n; i++) {
        struct rebalance_vm *v = &vms[i];
        v->new_memory_kib = v->memory_kib;
        if (!v->guest_used_kib || !v->max_memory_kib)
            continue;
        double target = (double)v->guest_used_kib * (1 + c->memory_headroom);
        double floor = (double)v->max_memory_kib * c->memory_min_fraction;
        if (target < floor)
            target = floor;
        if (target < (double)v->guest_used_kib)
            target = (double)v->guest_used_kib;
        if (target > (double)v->max_memory_kib)
            target = (double)v->max_memory_kib;
        v->new_memory_kib = (uint64_t)target;
    }
}

bool rebalance_plan(const struct rebalance_config *c, const struct rebalance_state *st,
                    int64_t now_ms, struct rebalance_vm *vms, size_t n) {
    plan_cpu(c, vms, n);
    plan_memory(c, vms, n);
    bool worth = false;
    for (size_t i = 0; i < n; i++) {
        struct rebalance_vm *v = &vms[i];
        /* Small moves are not made at all: they cost a call and buy nothing. */
        if (v->shares && relative_change(v->shares, v->new_shares) < c->shares_threshold)
            v->new_shares = v->shares;
        if (relative_change((double)v->memory_kib, (double)v->new_memory_kib) <
            c->memory_threshold)
            v->new_memory_kib = v->memory_kib;
        worth |= v->new_shares != v->shares || v->new_memory_kib != v->memory_kib;
    }
    if (!worth)
        return false;
    if (st->last_apply_ms &&
        now_ms - st->last_apply_ms < (int64_t)st->last_cost_ms + (int64_t)c->margin_ms)
        return false;
    return true;
}

void rebalance_applied(struct rebalance_state *st, int64_t now_ms, uint32_t cost_ms) {
    st->last_apply_ms = now_ms;
    st->last_cost_ms = cost_ms;
}
