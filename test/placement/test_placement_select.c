/* VM selection on an overloaded host: MMT, lowest CPU, RS and MC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "placement/fixture.h"
#include "placement/placement_internal.h"

static int select_on_host0(struct fx *f, double now) {
    struct placement_snapshot s = {f->hosts, f->nh, f->vms, f->nv};
    struct pl_state st;
    assert_int_equal(pl_state_init(&st, &s, &f->pol, now, &f->rng, &f->plan), 0);
    int vm = pl_select_vm(&st, 0);
    pl_state_free(&st);
    return vm;
}

/* MMT: least memory; ties go to the first in the host's order. */
static void mmt_takes_least_memory_first_on_ties(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    fx_host(&f, 4, 16384);
    fx_vm(&f, 0, 1000, 2048, 0.5);
    fx_vm(&f, 0, 1000, 1024, 0.9);
    fx_vm(&f, 0, 1000, 1024, 0.1);
    assert_int_equal(select_on_host0(&f, 0), 1);
    fx_free(&f);
}

static void lowest_cpu_takes_lightest(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-lowest");
    fx_host(&f, 4, 16384);
    fx_vm(&f, 0, 1000, 512, 0.3);
    fx_vm(&f, 0, 1000, 4096, 0.1);
    fx_vm(&f, 0, 1000, 512, 0.2);
    assert_int_equal(select_on_host0(&f, 0), 1);
    fx_free(&f);
}

/* Pinned VMs, VMs in migration and VMs moved within the cool-down stay. */
static void pinned_migrating_and_cooling_vms_are_not_selected(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    f.pol.vm_cooldown_s = 600;
    fx_host(&f, 4, 16384);
    uint32_t a = fx_vm(&f, 0, 1000, 256, 0.5);
    uint32_t b = fx_vm(&f, 0, 1000, 512, 0.5);
    uint32_t c = fx_vm(&f, 0, 1000, 768, 0.5);
    fx_vm(&f, 0, 1000, 1024, 0.5);
    f.vms[a].pinned = true;
    f.vms[b].in_migration = true;
    f.vms[c].last_migrated_at = 1000;
    assert_int_equal(select_on_host0(&f, 1500), 3);
    /* 600 s later c may move again. */
    assert_int_equal(select_on_host0(&f, 1600), 2);
    f.vms[3].pinned = true;
    assert_int_equal(select_on_host0(&f, 1500), -1);
    fx_free(&f);
}

/* RS draws from the prng handed in: both movable VMs come up, the pinned
 * one never, and the same seed gives the same draw. */
static void random_selection_is_seeded_and_respects_pins(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-rs");
    fx_host(&f, 4, 16384);
    fx_vm(&f, 0, 1000, 512, 0.5);
    uint32_t pinned = fx_vm(&f, 0, 1000, 512, 0.5);
    fx_vm(&f, 0, 1000, 512, 0.5);
    f.vms[pinned].pinned = true;
    int seen[3] = {0};
    for (int i = 0; i < 200; i++)
        seen[select_on_host0(&f, 0)]++;
    assert_true(seen[0] > 0 && seen[2] > 0);
    assert_int_equal(seen[1], 0);
    prng_seed(&f.rng, 99);
    int first = select_on_host0(&f, 0);
    prng_seed(&f.rng, 99);
    assert_int_equal(select_on_host0(&f, 0), first);
    fx_free(&f);
}

/* MC: v0 and v1 follow the same trend (plus a little noise of their own), v2
 * is a pattern unrelated to them and has the least memory. MC moves one of
 * the correlated pair; MMT would move v2. With fewer samples than VMs MC
 * cannot fit a regression and falls back to MMT. */
static void max_correlation_moves_a_correlated_vm(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mc");
    fx_host(&f, 4, 16384);
    uint32_t v0 = fx_vm(&f, 0, 1000, 2048, 0.5);
    uint32_t v1 = fx_vm(&f, 0, 1000, 2048, 0.5);
    uint32_t v2 = fx_vm(&f, 0, 1000, 512, 0.5);
    double h0[20], h1[20], h2[20];
    for (int t = 0; t < 20; t++) {
        h0[t] = 0.2 + 0.03 * t + (t % 2 ? 0.01 : -0.01);
        h1[t] = 0.1 + 0.03 * t + (t % 4 < 2 ? 0.012 : -0.012);
        h2[t] = 0.5 + (t % 3 == 0 ? 0.2 : t % 3 == 1 ? -0.1 : 0.0);
    }
    fx_history(&f, v0, h0, 20);
    fx_history(&f, v1, h1, 20);
    fx_history(&f, v2, h2, 20);
    int vm = select_on_host0(&f, 0);
    assert_true(vm == (int)v0 || vm == (int)v1);
    fx_history(&f, v0, h0, 3);
    assert_int_equal(select_on_host0(&f, 0), v2);
    fx_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mmt_takes_least_memory_first_on_ties),
        cmocka_unit_test(lowest_cpu_takes_lightest),
        cmocka_unit_test(pinned_migrating_and_cooling_vms_are_not_selected),
        cmocka_unit_test(random_selection_is_seeded_and_respects_pins),
        cmocka_unit_test(max_correlation_moves_a_correlated_vm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
