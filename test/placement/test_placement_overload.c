/* Overload rules (THR, MAD, IQR, LR, LRR, loadavg) and the power model, on
 * histories whose thresholds are worked out by hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "placement/fixture.h"
#include "placement/placement_internal.h"

/* Host 0: 2 cores x 1000 MIPS with one 2-vCPU VM of 2000 MIPS, so the host's
 * history equals the VM's. Returns the evaluation of host 0. */
static struct pl_overload eval_param(const char *policy, double param, const double *hist, uint32_t n,
                                     double now_util) {
    struct fx f;
    fx_init(&f, policy);
    if (param >= 0)
        f.pol.overload_param = param;
    fx_host(&f, 2, 8192);
    uint32_t v = fx_vm(&f, 0, 2000, 1024, now_util);
    f.vms[v].vcpus = 2;
    fx_history(&f, v, hist, n);
    struct placement_snapshot s = {f.hosts, f.nh, f.vms, f.nv};
    struct pl_state st;
    assert_int_equal(pl_state_init(&st, &s, &f.pol, 0, &f.rng, &f.plan), 0);
    struct pl_overload o;
    pl_overload_eval(&st, 0, -1, &o);
    pl_state_free(&st);
    fx_free(&f);
    return o;
}

static struct pl_overload eval(const char *policy, const double *hist, uint32_t n, double now_util) {
    return eval_param(policy, -1, hist, n, now_util);
}

static void thr_is_strictly_above_threshold(void **state) {
    double h[1] = {0.5};
    struct pl_overload o = eval("nc-thr-mmt", h, 1, 0.81);
    assert_true(o.over);
    assert_string_equal(o.rule, "THR");
    assert_true(fabs(o.threshold - 0.8) < 1e-12);
    assert_false(eval("nc-thr-mmt", h, 1, 0.8).over);
}

/* 12 samples alternating 0.5 / 0.7: median 0.6, every deviation 0.1, so
 * MAD = 0.1 and the threshold is 1 - 2.5 * 0.1 = 0.75. */
static void mad_threshold_from_median_absolute_deviation(void **state) {
    double h[12];
    for (int i = 0; i < 12; i++)
        h[i] = i % 2 ? 0.7 : 0.5;
    struct pl_overload o = eval("nc-mad-mmt", h, 12, 0.76);
    assert_string_equal(o.rule, "MAD");
    assert_true(fabs(o.threshold - 0.75) < 1e-9);
    assert_true(o.over);
    assert_false(eval("nc-mad-mmt", h, 12, 0.74).over);
}

/* Sorted: 3 x 0.2, 6 x 0.4, 3 x 0.6. n = 12: Q1 at rank round(3.25) = 3
 * (0.2), Q3 at rank round(9.75) = 10 (0.6); IQR 0.4, threshold 1 - 1.5 * 0.4
 * = 0.4. */
static void iqr_threshold_from_interquartile_range(void **state) {
    double h[12] = {0.4, 0.2, 0.6, 0.4, 0.2, 0.6, 0.4, 0.2, 0.6, 0.4, 0.4, 0.4};
    struct pl_overload o = eval("nc-iqr-mmt", h, 12, 0.45);
    assert_string_equal(o.rule, "IQR");
    assert_true(fabs(o.threshold - 0.4) < 1e-9);
    assert_true(o.over);
    assert_false(eval("nc-iqr-mmt", h, 12, 0.35).over);
}

/* Fewer than 12 samples: the adaptive rules fall back to THR 0.7. */
static void short_history_falls_back_to_static_threshold(void **state) {
    double h[11];
    for (int i = 0; i < 11; i++)
        h[i] = i % 2 ? 0.7 : 0.5;
    struct pl_overload o = eval("nc-mad-mmt", h, 11, 0.72);
    assert_string_equal(o.rule, "THR fallback");
    assert_true(fabs(o.threshold - 0.7) < 1e-12);
    assert_true(o.over);
    assert_false(eval("nc-iqr-mmt", h, 11, 0.69).over);
    assert_string_equal(eval("nc-lr-mmt", h, 9, 0.5).rule, "THR fallback");
}

/* Oldest to newest 0.35, 0.40, ..., 0.80: slope 0.05 per step, intercept
 * 0.30 at x = 0. A 1 GB VM migrates in 16.4 s < 300 s, so the prediction is
 * for x = 11: 0.30 + 0.55 = 0.85; times 1.2 = 1.02 >= 1 (overloaded), times
 * 1.1 = 0.935 (not). The test is on the prediction, not on the current CPU. */
static void lr_predicts_one_interval_past_migration(void **state) {
    double h[10];
    for (int i = 0; i < 10; i++)
        h[i] = 0.80 - 0.05 * i;
    struct pl_overload o = eval("nc-lr-mmt", h, 10, 0.1);
    assert_string_equal(o.rule, "LR");
    assert_true(o.predicted);
    assert_true(fabs(o.value - 1.02) < 1e-9);
    assert_true(o.over);
    struct pl_overload low = eval_param("nc-lr-mmt", 1.1, h, 10, 0.1);
    assert_true(fabs(low.value - 0.935) < 1e-9);
    assert_false(low.over);
    double flat[10];
    for (int i = 0; i < 10; i++)
        flat[i] = 0.8;
    /* Flat 0.8: prediction 0.96 < 1 even though the CPU is 0.99 now. */
    struct pl_overload fo = eval("nc-lr-mmt", flat, 10, 0.99);
    assert_true(fabs(fo.value - 0.96) < 1e-9);
    assert_false(fo.over);
}

/* In the cloudsim model LRR gives LR's decisions (CloudSim never applies the
 * robust weights). */
static void cloudsim_lrr_matches_lr(void **state) {
    double h[10] = {0.9, 0.5, 0.8, 0.4, 0.85, 0.3, 0.7, 0.6, 0.65, 0.5};
    struct pl_overload a = eval("lr-mmt", h, 10, 0.5), b = eval("lrr-mmt", h, 10, 0.5);
    assert_true(a.value == b.value);
    assert_string_equal(b.rule, "LRR");
}

/* Nine samples at 0.7 and a spike to 1.0 now, safety 1.25. OLS: slope
 * 0.3 * 4.5 / 82.5 = 0.0164, intercept 0.64, prediction (0.64 + 0.18) * 1.25
 * = 1.025: overloaded. The robust fit gives the spike a bisquare weight of
 * about 0.13 and predicts well below 1: a one-sample spike does not move VMs. */
static void nodectl_lrr_discounts_a_spike(void **state) {
    double h[10] = {1.0, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7};
    struct pl_overload lr = eval_param("nc-lr-mmt", 1.25, h, 10, 0.5);
    assert_true(fabs(lr.value - 1.025) < 1e-9);
    assert_true(lr.over);
    struct pl_overload lrr = eval_param("nc-lrr-mmt", 1.25, h, 10, 0.5);
    assert_false(lrr.over);
    assert_true(lrr.value < 0.95);
}

/* loadavg15 1.8 on 2 cores = 0.9 per core: above a 0.8 maximum. */
static void loadavg_rule_per_core(void **state) {
    struct fx f;
    fx_init(&f, "nc-loadavg-lowest");
    f.pol.loadavg_max = 0.8;
    fx_host(&f, 2, 8192);
    fx_vm(&f, 0, 1000, 1024, 0.1);
    f.hosts[0].loadavg15 = 1.8;
    struct placement_snapshot s = {f.hosts, f.nh, f.vms, f.nv};
    struct pl_state st;
    assert_int_equal(pl_state_init(&st, &s, &f.pol, 0, &f.rng, &f.plan), 0);
    struct pl_overload o;
    pl_overload_eval(&st, 0, -1, &o);
    assert_true(o.over);
    assert_true(fabs(o.value - 0.9) < 1e-12);
    f.hosts[0].loadavg15 = 1.5;
    pl_overload_eval(&st, 0, -1, &o);
    assert_false(o.over);
    pl_state_free(&st);
    fx_free(&f);
}

/* CloudSim's SPECpower interpolation (G4 table): exact on a step, linear in
 * between; the two-number config gives a straight line. */
static void power_model_interpolates_and_clamps(void **state) {
    struct placement_power_model g4 = {{86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117}};
    assert_true(placement_power_watts(&g4, 0) == 86);
    assert_true(fabs(placement_power_watts(&g4, 0.5) - 102) < 1e-9);
    assert_true(fabs(placement_power_watts(&g4, 0.25) - (92.6 + 96) / 2) < 1e-9);
    assert_true(placement_power_watts(&g4, 1.0) == 117);
    assert_true(placement_power_watts(&g4, 1.7) == 117);
    struct placement_power_model lin;
    placement_power_linear(&lin, 100, 250);
    assert_true(fabs(placement_power_watts(&lin, 0.3) - 145) < 1e-9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thr_is_strictly_above_threshold),
        cmocka_unit_test(mad_threshold_from_median_absolute_deviation),
        cmocka_unit_test(iqr_threshold_from_interquartile_range),
        cmocka_unit_test(short_history_falls_back_to_static_threshold),
        cmocka_unit_test(lr_predicts_one_interval_past_migration),
        cmocka_unit_test(cloudsim_lrr_matches_lr),
        cmocka_unit_test(nodectl_lrr_discounts_a_spike),
        cmocka_unit_test(loadavg_rule_per_core),
        cmocka_unit_test(power_model_interpolates_and_clamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
