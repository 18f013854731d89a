/* The planner end to end on small hand-checked clusters: PABFD's choice,
 * every hard constraint, every anti-thrash rule, power on/off with their
 * dependencies, time windows, bad input, and initial placement. Hosts are
 * 1000 MIPS per core; power is 100 W idle to 200 W full unless a test sets
 * a steeper (100-300 W) or flatter (100-150 W) model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "placement/fixture.h"

static struct placement_power_model steep, flat;

static int setup(void **state) {
    placement_power_linear(&steep, 100, 300);
    placement_power_linear(&flat, 100, 150);
    return 0;
}

/* Host 0 (2000 MIPS) runs a (900 MIPS, 1 GB) and b (800 MIPS, 512 MB):
 * CPU 0.85 > 0.8. MMT picks b (less memory); without it host 0 is at 0.45.
 * Host 1 (steep) and host 2 (flat) each run 200 MIPS. b adds 0.4 of a host:
 * +80 W on host 1, +20 W on host 2. */
static void overloaded_cluster(struct fx *f, const char *policy) {
    fx_init(f, policy);
    fx_host(f, 2, 8192);
    fx_host(f, 2, 8192);
    fx_host(f, 2, 8192);
    f->hosts[1].power = &steep;
    f->hosts[2].power = &flat;
    fx_vm(f, 0, 1000, 1024, 0.9);
    fx_vm(f, 0, 1000, 512, 0.8);
    fx_vm(f, 1, 1000, 1024, 0.2);
    fx_vm(f, 2, 1000, 1024, 0.2);
}

static void pabfd_moves_to_least_power_increase(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_count(&f, PLACEMENT_MIGRATE), 1);
    const struct placement_action *m = fx_move_of(&f, 1);
    assert_non_null(m);
    assert_int_equal(m->from, 0);
    assert_int_equal(m->host, 2);
    assert_non_null(strstr(m->reason, "host 0 overloaded: CPU 0.85 > THR threshold 0.80"));
    fx_assert_well_formed(&f);
    fx_free(&f);
}

/* Memory: host 2 has no room for b's 512 MB, so b goes to host 1. The
 * cloudsim model ignores memory after creation (benchmark note, 2). */
static void memory_is_a_hard_constraint(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    f.hosts[2].mem_mb = 1200;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 1);
    f.pol.model = PLACEMENT_MODEL_CLOUDSIM;
    f.pol.respect_memory = false;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 2);
    fx_free(&f);
}

/* A vCPU must fit one core: b at 1200 MIPS fits only host 3's 1500-MIPS
 * cores, although host 3 draws the most. */
static void vcpu_must_fit_a_core(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    f.vms[1].mips = 1500;
    f.vms[1].cpu_mips = f.vms[1].alloc_mips = 1200;
    fx_host(&f, 2, 8192);
    f.hosts[3].core_mips = 1500;
    f.hosts[3].power = &steep;
    fx_vm(&f, 3, 1000, 1024, 0.3);
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 3);
    fx_free(&f);
}

/* CPU overcommit limit, isolated with the load-average rule: host 2 already
 * grants 1500 of its 2000 MIPS, so b's 800 fit only with overcommit 1.5. */
static void cpu_overcommit_limit(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-loadavg-mmt");
    f.hosts[0].loadavg15 = 3;
    f.vms[0].pinned = true;
    fx_vm(&f, 2, 1000, 256, 0.65);
    fx_vm(&f, 2, 1000, 256, 0.65);
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 1);
    assert_non_null(strstr(fx_move_of(&f, 1)->reason, "loadavg15/core threshold 1.00"));
    f.pol.cpu_overcommit = 1.5;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 2);
    fx_free(&f);
}

static void pinned_vms_never_move(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    f.vms[0].pinned = f.vms[1].pinned = true;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_count(&f, PLACEMENT_MIGRATE), 0);
    fx_free(&f);
}

/* A host that takes no migrations is never a target: VM 1, which would go
 * to host 2, goes to host 1. */
static void a_host_that_takes_no_migrations_is_no_target(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 2);
    f.hosts[2].flags = PLACEMENT_HOST_NO_INBOUND;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 1);
    for (size_t i = 0; i < f.plan.n_actions; i++)
        if (f.plan.actions[i].kind == PLACEMENT_MIGRATE)
            assert_int_not_equal(f.plan.actions[i].host, 2);
    fx_free(&f);
}

static void anti_affinity_keeps_group_apart(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    f.vms[1].anti_affinity = 7;
    f.vms[3].anti_affinity = 7; /* the VM on host 2 */
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 1);
    fx_free(&f);
}

/* A drained host is never a target and is itself evacuated; a failed host
 * is neither target nor source. */
static void drain_and_failed_hosts(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    f.hosts[2].flags = PLACEMENT_HOST_DRAIN;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 1);
    const struct placement_action *d = fx_move_of(&f, 3);
    assert_non_null(d);
    assert_int_equal(d->from, 2);
    assert_non_null(strstr(d->reason, "host 2 in drain"));
    f.hosts[2].flags = PLACEMENT_HOST_FAILED;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, 1)->host, 1);
    assert_null(fx_move_of(&f, 3));
    assert_null(fx_power(&f, PLACEMENT_POWER_OFF, 2));
    fx_free(&f);
}

/* THR 0.5: host 0 at 0.95 sheds two VMs (to 0.6, then 0.25), unless at most
 * one migration per host is allowed. */
static void migrations_per_host_are_limited(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    f.pol.overload_param = 0.5;
    fx_host(&f, 2, 8192);
    fx_hosts(&f, 2, 4, 8192);
    fx_vm(&f, 0, 1000, 256, 0.7);
    fx_vm(&f, 0, 1000, 512, 0.7);
    fx_vm(&f, 0, 1000, 1024, 0.5);
    fx_vm(&f, 1, 1000, 1024, 0.2);
    fx_vm(&f, 2, 1000, 1024, 0.2);
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_count(&f, PLACEMENT_MIGRATE), 2);
    f.pol.max_migrations_per_host = 1;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_count(&f, PLACEMENT_MIGRATE), 1);
    assert_non_null(fx_move_of(&f, 0));
    fx_free(&f);
}

/* Idle hosts 1-4: 1 is a candidate (never powered off, and counts as a spare
 * already), 4 is the largest. */
static void candidates_and_spares_stay_on(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    fx_hosts(&f, 4, 2, 8192);
    fx_host(&f, 4, 8192);
    fx_vm(&f, 0, 1000, 1024, 0.5);
    f.hosts[1].flags = PLACEMENT_HOST_CANDIDATE;
    f.pol.spare_hosts = 1;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_count(&f, PLACEMENT_POWER_OFF), 3);
    assert_null(fx_power(&f, PLACEMENT_POWER_OFF, 1));
    f.pol.spare_hosts = 2;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_count(&f, PLACEMENT_POWER_OFF), 2);
    assert_null(fx_power(&f, PLACEMENT_POWER_OFF, 4));
    assert_non_null(fx_power(&f, PLACEMENT_POWER_OFF, 2));
    fx_assert_well_formed(&f);
    fx_free(&f);
}

static void woken_host_is_not_powered_off_within_cooldown(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    f.pol.host_wake_cooldown_s = 600;
    fx_hosts(&f, 3, 2, 8192);
    fx_vm(&f, 0, 1000, 1024, 0.5);
    f.hosts[1].powered_on_at = 10000 - 100;
    assert_int_equal(fx_plan(&f, 10000), 0);
    assert_null(fx_power(&f, PLACEMENT_POWER_OFF, 1));
    assert_non_null(fx_power(&f, PLACEMENT_POWER_OFF, 2));
    assert_int_equal(fx_plan(&f, 10000 + 600), 0);
    assert_non_null(fx_power(&f, PLACEMENT_POWER_OFF, 1));
    fx_free(&f);
}

/* Host 0 runs only a (200 MIPS, 4 GB: 65.5 s to migrate at 62.5 MB/s), host
 * 1 a pinned VM at 0.25. Consolidation empties host 0 into host 1 when the
 * underload has lasted longer than 65.5 s + 60 s margin. */
static void consolidation_cluster(struct fx *f) {
    fx_init(f, "nc-thr-mmt");
    f->pol.consolidate = true;
    f->pol.benefit_rule = true;
    f->pol.benefit_margin_s = 60;
    fx_host(f, 2, 8192);
    fx_host(f, 2, 8192);
    fx_vm(f, 0, 1000, 4096, 0.2);
    fx_vm(f, 1, 1000, 1024, 0.5);
    f->vms[1].pinned = true;
}

static void consolidation_evacuates_then_powers_off(void **state) {
    struct fx f;
    consolidation_cluster(&f);
    fx_vm(&f, 0, 1000, 256, 0.1);
    assert_int_equal(fx_plan(&f, 0), 0);
    const struct placement_action *a = fx_move_of(&f, 0), *c = fx_move_of(&f, 2);
    assert_non_null(a);
    assert_non_null(c);
    assert_int_equal(a->host, 1);
    assert_non_null(strstr(a->reason, "host 0 underloaded: CPU 0.15 < 0.50"));
    const struct placement_action *off = fx_power(&f, PLACEMENT_POWER_OFF, 0);
    assert_non_null(off);
    assert_int_equal(off->n_deps, 2);
    assert_int_equal(f.plan.deps[off->dep_off], (size_t)(a - f.plan.actions));
    assert_int_equal(f.plan.deps[off->dep_off + 1], (size_t)(c - f.plan.actions));
    fx_assert_well_formed(&f);
    fx_free(&f);
}

/* TR > O + lambda: underloaded for one sample. At 300 s per sample 300 >
 * 125.5 (move); at 60 s per sample 60 < 125.5 (stay). */
static void migration_must_outlast_its_cost(void **state) {
    struct fx f;
    consolidation_cluster(&f);
    double h[3] = {0.2, 1.0, 1.0};
    fx_history(&f, 0, h, 3);
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_non_null(fx_move_of(&f, 0));
    assert_non_null(strstr(fx_move_of(&f, 0)->reason, "for 300 s > migration 66 s + margin 60 s"));
    f.pol.interval_s = 60;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_null(fx_move_of(&f, 0));
    assert_null(fx_power(&f, PLACEMENT_POWER_OFF, 0));
    fx_free(&f);
}

/* A VM that alone overloads its host (1800 of 2000 MIPS) is not moved to an
 * empty host of the same size, only to a larger one. CloudSim does move it
 * (it skips the test on empty hosts). */
static void single_vm_host_is_not_relieved_onto_equal_host(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    fx_hosts(&f, 2, 2, 8192);
    uint32_t v = fx_vm(&f, 0, 2000, 1024, 0.9);
    f.vms[v].vcpus = 2;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_null(fx_move_of(&f, v));
    f.pol.model = PLACEMENT_MODEL_CLOUDSIM;
    f.pol.respect_memory = false;
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, v)->host, 1);
    f.pol.model = PLACEMENT_MODEL_NODECTL;
    f.pol.respect_memory = true;
    fx_host(&f, 4, 8192);
    assert_int_equal(fx_plan(&f, 0), 0);
    assert_int_equal(fx_move_of(&f, v)->host, 2);
    fx_free(&f);
}

/* No running host has room for b (host 1 would reach 2300 of 2000 MIPS):
 * the off host with the least power increase (flat host 3) is powered on
 * first and the migration depends on it. */
static void overload_powers_on_most_efficient_off_host(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    fx_hosts(&f, 4, 2, 8192);
    f.hosts[2].power = &steep;
    f.hosts[3].power = &flat;
    f.hosts[2].power_state = f.hosts[3].power_state = PLACEMENT_HOST_OFF;
    fx_vm(&f, 0, 1000, 1024, 0.9);
    fx_vm(&f, 0, 1000, 512, 0.8);
    fx_vm(&f, 1, 1000, 1024, 0.75);
    fx_vm(&f, 1, 1000, 1024, 0.75);
    assert_int_equal(fx_plan(&f, 0), 0);
    const struct placement_action *on = fx_power(&f, PLACEMENT_POWER_ON, 3);
    const struct placement_action *m = fx_move_of(&f, 1);
    assert_non_null(on);
    assert_non_null(m);
    assert_int_equal(m->host, 3);
    assert_int_equal(m->n_deps, 1);
    assert_int_equal(f.plan.deps[m->dep_off], (size_t)(on - f.plan.actions));
    assert_non_null(strstr(on->reason, "powering on host 3"));
    assert_null(fx_power(&f, PLACEMENT_POWER_ON, 2));
    fx_assert_well_formed(&f);
    fx_free(&f);
}

/* Windows: consolidate 20:00-08:00, spread 07:30-07:45 (listed first, so it
 * wins), relieve only otherwise. */
static void time_windows_choose_the_mode(void **state) {
    static const struct placement_window w[] = {
        {7 * 60 + 30, 7 * 60 + 45, PLACEMENT_WINDOW_SPREAD},
        {20 * 60, 8 * 60, PLACEMENT_WINDOW_CONSOLIDATE},
    };
    struct fx f;
    consolidation_cluster(&f);
    f.pol.consolidate = false;
    f.pol.windows = w;
    f.pol.n_windows = 2;
    assert_int_equal(fx_plan(&f, 2 * 3600), 0);
    assert_non_null(fx_move_of(&f, 0));
    assert_int_equal(fx_plan(&f, 12 * 3600), 0);
    assert_int_equal(f.plan.n_actions, 0);
    /* Spread: host 0 at 0.6 (three 400-MIPS VMs), host 1 off. */
    struct fx s;
    fx_init(&s, "nc-thr-mmt");
    s.pol.windows = w;
    s.pol.n_windows = 2;
    fx_hosts(&s, 2, 2, 8192);
    s.hosts[1].power_state = PLACEMENT_HOST_OFF;
    for (int i = 0; i < 3; i++)
        fx_vm(&s, 0, 1000, 1024, 0.4);
    assert_int_equal(fx_plan(&s, 7 * 3600 + 35 * 60), 0);
    assert_non_null(fx_power(&s, PLACEMENT_POWER_ON, 1));
    assert_int_equal(fx_count(&s, PLACEMENT_MIGRATE), 1);
    assert_non_null(strstr(fx_move_of(&s, 0)->reason, "spread window"));
    fx_assert_well_formed(&s);
    fx_free(&s);
    fx_free(&f);
}

static void bad_input_is_named(void **state) {
    struct fx f;
    overloaded_cluster(&f, "nc-thr-mmt");
    f.vms[2].host = 9;
    assert_int_equal(fx_plan(&f, 0), -1);
    assert_non_null(strstr(f.plan.error, "vm 2 (index 2): host index 9 out of range"));
    f.vms[2].host = 1;
    f.hosts[1].cores = 0;
    assert_int_equal(fx_plan(&f, 0), -1);
    assert_non_null(strstr(f.plan.error, "host 1"));
    fx_free(&f);
    struct placement_policy p;
    assert_int_equal(placement_policy_by_name("thr-xyz", -1, &p), -1);
    assert_int_equal(placement_policy_by_name("nope", -1, &p), -1);
}

/* Host 0 (2 GB, half used) cannot take a 1.5 GB VM; host 1 (4 cores) runs
 * 500 MIPS; host 2 is off; host 3 (2 cores) is empty. */
static void initial_placement_strategies(void **state) {
    struct fx f;
    fx_init(&f, "nc-thr-mmt");
    fx_host(&f, 2, 2048);
    fx_host(&f, 4, 8192);
    fx_hosts(&f, 2, 2, 8192);
    f.hosts[2].power_state = PLACEMENT_HOST_OFF;
    fx_vm(&f, 0, 1000, 1024, 0.5);
    fx_vm(&f, 1, 1000, 512, 0.5);
    struct placement_snapshot s = {f.hosts, f.nh, f.vms, f.nv};
    struct placement_vm nv = {.id = 99, .vcpus = 1, .mips = 1000, .mem_mb = 1536};
    struct placement_initial_weights w = {1, 0, 0, 0};
    uint32_t cur = 0;
    assert_int_equal(placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_FIRST_FIT, &w, NULL, &cur, &f.rng), 1);
    /* Power-aware: +25 W on host 1 (1000 of 4000 MIPS) vs +50 W on host 3. */
    assert_int_equal(placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_POWER_AWARE, &w, NULL, &cur, &f.rng), 1);
    /* Most free CPU: host 3 (all free) over host 1 (7/8 free). */
    assert_int_equal(placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_MOST_FREE, &w, NULL, &cur, &f.rng), 3);
    /* Round robin from host 2: off hosts wait, so host 3, then host 1. */
    cur = 2;
    assert_int_equal(placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_ROUND_ROBIN, &w, NULL, &cur, &f.rng), 3);
    assert_int_equal(placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_ROUND_ROBIN, &w, NULL, &cur, &f.rng), 1);
    int seen[4] = {0};
    for (int i = 0; i < 100; i++)
        seen[placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_RANDOM, &w, NULL, &cur, &f.rng)]++;
    assert_true(seen[1] > 0 && seen[3] > 0 && seen[0] == 0 && seen[2] == 0);
    /* Only off hosts have room: the new VM wakes one. */
    nv.mem_mb = 7800;
    f.hosts[3].mem_mb = 4096;
    assert_int_equal(placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_FIRST_FIT, &w, NULL, &cur, &f.rng), 2);
    nv.mem_mb = 100000;
    assert_int_equal(placement_initial(&s, &f.pol, &nv, PLACEMENT_INITIAL_POWER_AWARE, &w, NULL, &cur, &f.rng), -1);
    fx_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pabfd_moves_to_least_power_increase),
        cmocka_unit_test(memory_is_a_hard_constraint),
        cmocka_unit_test(vcpu_must_fit_a_core),
        cmocka_unit_test(cpu_overcommit_limit),
        cmocka_unit_test(pinned_vms_never_move),
        cmocka_unit_test(anti_affinity_keeps_group_apart),
        cmocka_unit_test(a_host_that_takes_no_migrations_is_no_target),
        cmocka_unit_test(drain_and_failed_hosts),
        cmocka_unit_test(migrations_per_host_are_limited),
        cmocka_unit_test(candidates_and_spares_stay_on),
        cmocka_unit_test(woken_host_is_not_powered_off_within_cooldown),
        cmocka_unit_test(consolidation_evacuates_then_powers_off),
        cmocka_unit_test(migration_must_outlast_its_cost),
        cmocka_unit_test(single_vm_host_is_not_relieved_onto_equal_host),
        cmocka_unit_test(overload_powers_on_most_efficient_off_host),
        cmocka_unit_test(time_windows_choose_the_mode),
        cmocka_unit_test(bad_input_is_named),
        cmocka_unit_test(initial_placement_strategies),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
