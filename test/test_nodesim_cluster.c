/* nodesim cluster (docs/safety.md, "The simulator") on short seeded runs:
 * the runs must do the work the invariants are about (elections, grants,
 * migrations, power-offs and power-ons, under every fault) and keep every
 * invariant; a run is a function of its seed. The long sweeps are the
 * sim_cluster_sweep tests and bench/cluster.sh. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

static json_t *cluster(const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s cluster --json %s", NODESIM_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t err;
    json_t *o = json_loadf(p, 0, &err);
    assert_int_equal(pclose(p), 0);
    if (!o)
        fail_msg("nodesim output is not JSON: %s", err.text);
    return o;
}

static long long num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s missing or not an integer", key);
    return json_integer_value(v);
}

static void assert_no_violation(const json_t *o) {
    static const char *keys[] = {"vm_lost",       "vm_duplicated",  "host_off_with_vm",
                                 "stale_effects", "lease_overlaps", "leader_churn",
                                 "violated_runs"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (num(o, keys[k]) != 0)
            fail_msg("%s is %lld", keys[k], num(o, keys[k]));
    assert_true(json_is_null(json_object_get(o, "first_violation_seed")));
}

static void faults_keep_every_invariant_while_the_work_goes_on(void **state) {
    json_t *o = cluster("--seed 1 --seeds 4 --duration 300 --faults all");
    assert_no_violation(o);
    assert_int_equal(num(o, "seeds"), 4);
    /* What the invariants are about did happen, under every kind of fault. */
    assert_true(num(o, "elections") >= 8);
    assert_true(num(o, "commands") >= 100);
    assert_true(num(o, "grants") >= num(o, "commands") / 2);
    assert_true(num(o, "migrations") >= 80);
    assert_true(num(o, "power_offs") >= 10);
    assert_true(num(o, "power_ons") >= 4);
    assert_true(num(o, "pauses") >= 4);
    assert_true(num(o, "crashes") >= 4);
    assert_true(num(o, "partitions") >= 2);
    assert_true(json_number_value(json_object_get(o, "sim_seconds")) == 1200);
    assert_true(json_number_value(json_object_get(o, "cpu_seconds")) > 0);
    json_decref(o);
}

static void without_faults_one_leader_does_it_all(void **state) {
    json_t *o = cluster("--seed 3 --duration 200 --faults none");
    assert_no_violation(o);
    assert_int_equal(num(o, "elections"), 1);
    assert_int_equal(num(o, "crashes") + num(o, "pauses") + num(o, "partitions"), 0);
    /* Every command was granted once; nearly all took effect (a source may
     * still refuse a migration to a woken host its gossip shows off). */
    assert_true(num(o, "commands") > 10);
    assert_int_equal(num(o, "grants"), num(o, "commands"));
    assert_true(num(o, "effects") * 10 >= num(o, "grants") * 9);
    json_decref(o);
}

static void a_preferred_candidate_down_for_minutes_causes_no_churn(void **state) {
    json_t *o = cluster("--seed 7 --seeds 3 --duration 300 --faults crash --priority 10");
    assert_no_violation(o);
    assert_true(num(o, "crashes") >= 3);
    json_decref(o);
}

static void same_seed_same_run(void **state) {
    const char *args = "--seed 5 --duration 150 --faults all";
    json_t *a = cluster(args), *b = cluster(args);
    json_t *c = cluster("--seed 6 --duration 150 --faults all");
    const char *clock[] = {"wall_seconds", "cpu_seconds", "cpu_seconds_per_run"};
    for (size_t k = 0; k < 3; k++) {
        json_object_del(a, clock[k]);
        json_object_del(b, clock[k]);
        json_object_del(c, clock[k]);
    }
    assert_true(json_equal(a, b));
    assert_false(json_equal(a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void bad_arguments_are_refused_with_a_reason(void **state) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s cluster --faults crash,meteor 2>&1", NODESIM_BIN);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512] = "";
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(WEXITSTATUS(pclose(p)), 2);
    assert_non_null(strstr(line, "--faults"));
    assert_non_null(strstr(line, "meteor"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(faults_keep_every_invariant_while_the_work_goes_on),
        cmocka_unit_test(without_faults_one_leader_does_it_all),
        cmocka_unit_test(a_preferred_candidate_down_for_minutes_causes_no_churn),
        cmocka_unit_test(same_seed_same_run),
        cmocka_unit_test(bad_arguments_are_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
