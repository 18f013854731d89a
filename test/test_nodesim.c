/* nodesim gossip on short seeded runs, checked against the protocol's
 * invariants. The last --quiet seconds of a run
 * have no crashes, updates or loss, so the final views must be exact. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nodesim_run.h"

static json_t *nodesim(const char *args) { return nodesim_json(NODESIM_BIN, "gossip", args); }

static void crashes_are_detected_by_all_and_restarts_rejoin(void **state) {
    json_t *o = nodesim("--nodes 40 --duration 80 --crash-every 3 --down-for 20 --seed 3");
    assert_true(nodesim_num(o, "crashes") >= 10);
    assert_true(nodesim_num(o, "detections") >= 10);
    assert_int_equal(nodesim_num(o, "detections_unfinished"), 0);
    assert_true(nodesim_real(o, "detect_all_max_s") < 20.0);
    assert_int_equal(nodesim_num(o, "false_positives"), 0);
    assert_int_equal(nodesim_num(o, "final_live_not_alive"), 0);
    assert_int_equal(nodesim_num(o, "final_down_not_dead"), 0);
    assert_true(nodesim_num(o, "updates") > 50);
    json_decref(o);
}

static void false_suspicions_are_refuted(void **state) {
    json_t *o = nodesim("--nodes 30 --duration 60 --loss 0.3 --crash-every 0 --seed 5");
    assert_true(nodesim_num(o, "false_suspicions") > 0);
    assert_true(nodesim_num(o, "refutations") > 0);
    assert_int_equal(nodesim_num(o, "final_live_not_alive"), 0);
    json_decref(o);
}

static void partition_heals(void **state) {
    json_t *o = nodesim("--nodes 30 --duration 120 --crash-every 0 --update-every 0 "
                        "--partition-at 10 --partition-for 30 --seed 7");
    /* Each side declared the other dead... */
    assert_true(nodesim_num(o, "false_positives") >= 15);
    /* ...and the cluster is whole again. */
    assert_int_equal(nodesim_num(o, "final_live_not_alive"), 0);
    json_decref(o);
}

static void same_seed_same_run(void **state) {
    const char *args = "--nodes 25 --duration 40 --loss 0.1 --seed 11";
    json_t *a = nodesim(args), *b = nodesim(args);
    json_t *c = nodesim("--nodes 25 --duration 40 --loss 0.1 --seed 12");
    const char *wall[] = {"wall_seconds", "setup_wall_seconds", "run_wall_seconds",
                          "run_cpu_seconds"};
    nodesim_assert_seeded(a, b, c, wall, 4);
}

static void bad_arguments_are_refused_with_a_reason(void **state) {
    const char *words[] = {"--loss"};
    nodesim_assert_refused(NODESIM_BIN, "gossip --loss 2", words, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crashes_are_detected_by_all_and_restarts_rejoin),
        cmocka_unit_test(false_suspicions_are_refuted),
        cmocka_unit_test(partition_heals),
        cmocka_unit_test(same_seed_same_run),
        cmocka_unit_test(bad_arguments_are_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
