#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "placement/fixture.h"

void fx_init(struct fx *f, const char *policy) {
    memset(f, 0, sizeof *f);
    placement_power_linear(&f->power, 100, 200);
    assert_int_equal(placement_policy_by_name(policy, -1, &f->pol), 0);
    f->pol.consolidate = false;
    f->pol.vm_cooldown_s = 0;
    f->pol.host_wake_cooldown_s = 0;
    f->pol.benefit_rule = false;
    f->pol.max_migrations_per_host = 0;
    placement_plan_init(&f->plan);
    prng_seed(&f->rng, 7);
}

void fx_free(struct fx *f) { placement_plan_free(&f->plan); }

uint32_t fx_host(struct fx *f, uint32_t cores, uint64_t mem_mb) {
    assert_true(f->nh < FX_HOSTS);
    f->hosts[f->nh] = (struct placement_host){
        .id = (uint32_t)f->nh,
        .cores = cores,
        .core_mips = 1000,
        .mem_mb = mem_mb,
        .power = &f->power,
        .power_state = PLACEMENT_HOST_ON,
        .powered_on_at = -1e300,
    };
    return (uint32_t)f->nh++;
}

void fx_hosts(struct fx *f, size_t n, uint32_t cores, uint64_t mem_mb) {
    for (size_t i = 0; i < n; i++)
        fx_host(f, cores, mem_mb);
}

uint32_t fx_vm(struct fx *f, uint32_t h, double mips, uint64_t mem_mb, double util) {
    assert_true(f->nv < FX_VMS);
    uint32_t i = (uint32_t)f->nv++;
    for (int k = 0; k < PLACEMENT_HISTORY_MAX; k++)
        f->hist[i][k] = util;
    f->vms[i] = (struct placement_vm){
        .id = i,
        .host = h,
        .vcpus = 1,
        .mips = mips,
        .mem_mb = mem_mb,
        .cpu_mips = util * mips,
        .alloc_mips = util * mips,
        .history = f->hist[i],
        .history_len = PLACEMENT_HISTORY_MAX,
        .last_migrated_at = -1e300,
    };
    return i;
}

void fx_history(struct fx *f, uint32_t vm, const double *newest_first, uint32_t n) {
    for (uint32_t k = 0; k < n; k++)
        f->hist[vm][k] = newest_first[k];
    f->vms[vm].history_len = n;
}

int fx_plan(struct fx *f, double now) {
    for (size_t h = 0; h < f->nh; h++) {
        double used = 0;
        for (size_t v = 0; v < f->nv; v++)
            if (f->vms[v].host == h)
                used += f->vms[v].alloc_mips;
        f->hosts[h].cpu_measured = used / (f->hosts[h].cores * f->hosts[h].core_mips);
    }
    struct placement_snapshot s = {f->hosts, f->nh, f->vms, f->nv};
    return placement_plan(&s, &f->pol, now, &f->rng, &f->plan);
}

size_t fx_count(const struct fx *f, enum placement_action_kind kind) {
    size_t n = 0;
    for (size_t i = 0; i < f->plan.n_actions; i++)
        n += f->plan.actions[i].kind == kind;
    return n;
}

const struct placement_action *fx_move_of(const struct fx *f, uint32_t vm) {
    for (size_t i = 0; i < f->plan.n_actions; i++)
        if (f->plan.actions[i].kind == PLACEMENT_MIGRATE && f->plan.actions[i].vm == vm)
            return &f->plan.actions[i];
    return NULL;
}

const struct placement_action *fx_power(const struct fx *f, enum placement_action_kind kind, uint32_t h) {
    for (size_t i = 0; i < f->plan.n_actions; i++)
        if (f->plan.actions[i].kind == kind && f->plan.actions[i].host == h)
            return &f->plan.actions[i];
    return NULL;
}

void fx_assert_well_formed(const struct fx *f) {
    for (size_t i = 0; i < f->plan.n_actions; i++) {
        const struct placement_action *a = &f->plan.actions[i];
        assert_true(strlen(a->reason) > 10);
        for (size_t d = 0; d < a->n_deps; d++)
            assert_true(f->plan.deps[a->dep_off + d] < i);
    }
}
