/* One planning round (CloudSim PowerVmAllocationPolicyMigrationAbstract
 * .optimizeAllocation, extended): find overloaded hosts, pick VMs to move off
 * them, place those with PABFD (powering a host on when no running host can
 * take them), then evacuate drained hosts and consolidate underloaded ones,
 * and power idle hosts off. Every action carries the reason it was taken. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement/placement_internal.h"

void placement_plan_init(struct placement_plan *p) { memset(p, 0, sizeof *p); }

void placement_plan_free(struct placement_plan *p) {
    free(p->actions);
    free(p->deps);
    placement_plan_init(p);
}

int pl_emit(struct pl_state *st, enum placement_action_kind kind, uint32_t vm, uint32_t from,
            uint32_t host, const char *reason) {
    struct placement_plan *p = st->plan;
    if (p->n_actions == p->cap_actions) {
        size_t cap = p->cap_actions ? p->cap_actions * 2 : 16;
        struct placement_action *n = realloc(p->actions, cap * sizeof *n);
        if (!n)
            return -1;
        p->actions = n;
        p->cap_actions = cap;
    }
    struct placement_action *a = &p->actions[p->n_actions];
    a->kind = kind;
    a->vm = vm;
    a->from = from;
    a->host = host;
    a->dep_off = p->n_deps;
    a->n_deps = 0;
    snprintf(a->reason, sizeof a->reason, "%s", reason);
    return (int)p->n_actions++;
}

/* Dependencies are added right after their action is emitted, so each
 * action's dependencies are one contiguous run of plan->deps. */
int pl_depend(struct pl_state *st, int action, int on) {
    struct placement_plan *p = st->plan;
    if (action != (int)p->n_actions - 1 || on < 0 || on >= action)
        return -1;
    if (p->n_deps == p->cap_deps) {
        size_t cap = p->cap_deps ? p->cap_deps * 2 : 16;
        size_t *n = realloc(p->deps, cap * sizeof *n);
        if (!n)
            return -1;
        p->deps = n;
        p->cap_deps = cap;
    }
    p->deps[p->n_deps++] = (size_t)on;
    p->actions[action].n_deps++;
    return 0;
}

int pl_record_move(struct pl_state *st, uint32_t vm, uint32_t from, uint32_t h, const char *reason) {
    const struct placement_host *hs = &st->snap->hosts[h];
    struct pl_host *ph = &st->hosts[h];
    if (hs->power_state == PLACEMENT_HOST_OFF && ph->power_on_action < 0) {
        char why[PLACEMENT_REASON_MAX];
        snprintf(why, sizeof why, "no running host can take VM %u: powering on host %u, the least "
                 "power increase among hosts off", st->snap->vms[vm].id, hs->id);
        int power_on = pl_emit(st, PLACEMENT_POWER_ON, 0, h, h, why);
        if (power_on < 0)
            return -1;
        ph->power_on_action = power_on;
        pl_host_power_before(st, h);
    }
    int a = pl_emit(st, PLACEMENT_MIGRATE, vm, from, h, reason);
    if (a < 0)
        return -1;
    /* Power on before migrating to it; a VM moved twice in one round
     * (CloudSim model) moves in order. */
    if (ph->power_on_action >= 0 && pl_depend(st, a, ph->power_on_action) != 0)
        return -1;
    if (st->vm_action[vm] >= 0 && pl_depend(st, a, st->vm_action[vm]) != 0)
        return -1;
    st->vm_action[vm] = a;
    return a;
}

int pl_plan_move(struct pl_state *st, uint32_t vm, uint32_t h, const char *reason) {
    uint32_t from = st->vm_host[vm];
    if (pl_host_add(st, h, vm) != 0)
        return -1;
    st->hosts[from].migrations++;
    st->hosts[h].migrations++;
    return pl_record_move(st, vm, from, h, reason);
}

static void overload_text(const struct pl_overload *o, uint32_t host_id, char *buf, size_t n) {
    if (o->predicted)
        snprintf(buf, n, "host %u overloaded: predicted CPU %.2f >= 1 (%s)", host_id, o->value, o->rule);
    else
        snprintf(buf, n, "host %u overloaded: %s %.2f > %s threshold %.2f", host_id, o->what, o->value,
                 o->rule, o->threshold);
}

/* Steps 1-4 of optimizeAllocation. */
static int relieve_overload(struct pl_state *st) {
    const struct placement_snapshot *snap = st->snap;
    const struct placement_policy *pol = st->pol;
    struct pl_overload *seen = calloc(snap->n_hosts ? snap->n_hosts : 1, sizeof *seen);
    struct pl_pick *picked = malloc((snap->n_vms ? snap->n_vms : 1) * sizeof *picked);
    int rc = 0;
    if (!seen || !picked) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < snap->n_hosts; i++) {
        if (snap->hosts[i].flags & PLACEMENT_HOST_FAILED)
            continue;
        pl_overload_eval(st, (uint32_t)i, -1, &seen[i]);
        if (seen[i].over) {
            st->hosts[i].over = st->hosts[i].excl_source = true;
            pl_host_exclude_target(st, (uint32_t)i);
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < snap->n_hosts; i++) {
        uint32_t h = (uint32_t)i;
        if (!st->hosts[h].over)
            continue;
        uint32_t taken = 0;
        for (;;) {
            if (pol->max_migrations_per_host &&
                st->hosts[h].migrations + taken >= pol->max_migrations_per_host)
                break;
            int vm = pl_select_vm(st, h);
            if (vm < 0)
                break;
            picked[n] = (struct pl_pick){(uint32_t)vm, h, 0, 0, n};
            n++;
            taken++;
            pl_host_remove(st, h, (uint32_t)vm);
            struct pl_overload o;
            pl_overload_eval(st, h, -1, &o);
            if (!o.over)
                break;
        }
    }
    pl_sort_by_demand(st, picked, n);
    for (size_t k = 0; k < n && rc == 0; k++) {
        uint32_t vm = picked[k].vm, from = picked[k].from;
        int t;
        if (pol->model == PLACEMENT_MODEL_CLOUDSIM) {
            t = pl_pabfd_find(st, vm, PL_PASS_ALL);
        } else {
            t = pl_pabfd_find(st, vm, PL_PASS_ON);
            if (t < 0)
                t = pl_pabfd_find(st, vm, PL_PASS_OFF);
        }
        char why[PLACEMENT_REASON_MAX], head[PLACEMENT_REASON_MAX];
        overload_text(&seen[from], snap->hosts[from].id, head, sizeof head);
        if (t < 0) {
            /* Not movable anywhere: it stays (CloudSim: "simply not migrated"). */
            rc = pl_host_add(st, from, vm);
            st->vm_alloc[vm] = snap->vms[vm].alloc_mips;
            pl_host_refresh(st, from);
            continue;
        }
        snprintf(why, sizeof why, "%.120s; VM %u (%.0f MIPS) to host %u", head, snap->vms[vm].id,
                 snap->vms[vm].cpu_mips, snap->hosts[t].id);
        if (pl_plan_move(st, vm, (uint32_t)t, why) < 0)
            rc = -1;
    }
out:
    free(seen);
    free(picked);
    return rc;
}

static enum placement_window_mode window_mode(const struct placement_policy *pol, double now) {
    double day = fmod(now, 86400.0);
    if (day < 0)
        day += 86400.0;
    uint32_t minute = (uint32_t)(day / 60.0);
    for (size_t i = 0; i < pol->n_windows; i++) {
        const struct placement_window *w = &pol->windows[i];
        bool in = w->start_min <= w->end_min ? minute >= w->start_min && minute < w->end_min
                                             : minute >= w->start_min || minute < w->end_min;
        if (in)
            return w->mode;
    }
    return pol->consolidate ? PLACEMENT_WINDOW_CONSOLIDATE : PLACEMENT_WINDOW_NORMAL;
}

static int validate(const struct placement_snapshot *snap, const struct placement_policy *pol,
                    struct placement_plan *plan) {
    char *e = plan->error;
    size_t n = sizeof plan->error;
    if (pol->cpu_overcommit <= 0 || pol->migration_mb_per_s <= 0 || pol->interval_s <= 0) {
        snprintf(e, n, "policy: cpu_overcommit, migration_mb_per_s and interval_s must be > 0");
        return -1;
    }
    for (size_t i = 0; i < pol->n_windows; i++)
        if (pol->windows[i].start_min >= 1440 || pol->windows[i].end_min > 1440) {
            snprintf(e, n, "policy: window %zu: minutes must be below 1440", i);
            return -1;
        }
    for (size_t i = 0; i < snap->n_hosts; i++) {
        const struct placement_host *h = &snap->hosts[i];
        if (h->cores == 0 || !(h->core_mips > 0) || !h->power) {
            snprintf(e, n, "host %u (index %zu): needs cores > 0, core_mips > 0 and a power model",
                     h->id, i);
            return -1;
        }
    }
    for (size_t i = 0; i < snap->n_vms; i++) {
        const struct placement_vm *v = &snap->vms[i];
        if (v->host >= snap->n_hosts) {
            snprintf(e, n, "vm %u (index %zu): host index %u out of range (%zu hosts)", v->id, i,
                     v->host, snap->n_hosts);
            return -1;
        }
        if (!(v->mips > 0) || !(v->cpu_mips >= 0) || (v->history_len && !v->history)) {
            snprintf(e, n, "vm %u (index %zu): needs mips > 0, cpu_mips >= 0 and its history", v->id, i);
            return -1;
        }
    }
    return 0;
}

int placement_plan(const struct placement_snapshot *snap, const struct placement_policy *pol,
                   double now, struct prng *rng, struct placement_plan *plan) {
    plan->n_actions = 0;
    plan->n_deps = 0;
    plan->error[0] = '\0';
    if (validate(snap, pol, plan) != 0)
        return -1;
    if (!pol->migrate)
        return 0;
    struct pl_state st;
    if (pl_state_init(&st, snap, pol, now, rng, plan) != 0) {
        snprintf(plan->error, sizeof plan->error, "out of memory");
        return -1;
    }
    enum placement_window_mode mode = window_mode(pol, now);
    int rc = relieve_overload(&st);
    if (rc == 0 && pol->model == PLACEMENT_MODEL_NODECTL)
        rc = pl_evacuate_drained(&st);
    if (rc == 0 && mode == PLACEMENT_WINDOW_SPREAD)
        rc = pl_spread(&st);
    if (rc == 0 && mode == PLACEMENT_WINDOW_CONSOLIDATE)
        rc = pl_consolidate(&st);
    if (rc == 0 && mode != PLACEMENT_WINDOW_SPREAD)
        rc = pl_power_off_idle(&st);
    pl_state_free(&st);
    if (rc != 0) {
        snprintf(plan->error, sizeof plan->error, "out of memory");
        return -1;
    }
    return 0;
}
