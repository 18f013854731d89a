/* The replay reproduces CloudSim 5.0's published figures (benchmark note,
 * section 8) on a shared PlanetLab day, through the library and through the
 * nodesim binary. Skips, saying why, when the shared traces are absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/sim_cloudsim.h"

#define DAY NODECTL_PLANETLAB_DIR "/20110306"

static bool have_day(void) {
    struct stat sb;
    if (stat(DAY, &sb) == 0 && S_ISDIR(sb.st_mode))
        return true;
    fprintf(stderr, "skipping: no PlanetLab traces at %s (set NODECTL_PLANETLAB_DIR)\n", DAY);
    return false;
}

static void assert_within_5pct(double got, double want, const char *what) {
    double rel = fabs(got - want) / want;
    if (rel > 0.05)
        fail_msg("%s: %g is %.1f %% away from CloudSim's %g", what, got, rel * 100, want);
}

/* 20110306, THR-MMT-0.8: 144.74 kWh, 20908 migrations, SLATAH 5.134 %,
 * PDM 0.0700 %, SLAV 3.596e-05, ESV 5.205e-03. */
static void thr_mmt_matches_cloudsim(void **state) {
    if (!have_day())
        skip();
    char err[256];
    struct sim_workload w;
    assert_int_equal(sim_workload_load(DAY, &w, err, sizeof err), 0);
    assert_int_equal(w.n_vms, 898);
    struct placement_policy pol;
    assert_int_equal(placement_policy_by_name("thr-mmt", 0.8, &pol), 0);
    struct sim_options o = {.policy = &pol, .initial = PLACEMENT_INITIAL_POWER_AWARE, .n_hosts = 800, .seed = 1};
    struct sim_result r;
    int rc = sim_cloudsim_run(&w, &o, &r, err, sizeof err);
    sim_workload_free(&w);
    assert_int_equal(rc, 0);
    assert_int_equal(r.vms, 898);
    assert_within_5pct(r.energy_kwh, 144.74, "energy_kwh");
    assert_within_5pct((double)r.migrations, 20908, "migrations");
    assert_within_5pct(r.slatah, 0.05134, "slatah");
    assert_within_5pct(r.pdm, 0.000700, "pdm");
    assert_within_5pct(r.slav, 3.596e-05, "slav");
    assert_within_5pct(r.esv, 5.205e-03, "esv");
}

/* A hand-checked day: one VM (type 0, 2500 MIPS) at a constant 50 %. First
 * fit puts it on host 1 (G5: host 0's 1860-MIPS cores are too small); its
 * host runs at 1250 / 5320 = 0.2350 all day: 101 + 4 * 0.3496 = 102.398 W
 * over the 85,800 s from the first tick to the last: 2.4405 kWh. A second
 * VM idle from the start (0 % everywhere) finishes at the first tick and
 * costs nothing. */
static void replay_of_a_constant_vm(void **state) {
    char dir[] = "/tmp/nodectl-replay-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    const char *names[] = {"a", "b"};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        for (int i = 0; i < 288; i++)
            fprintf(fp, "%d\n", f == 0 ? 50 : 0);
        fclose(fp);
    }
    char err[256];
    struct sim_workload w;
    assert_int_equal(sim_workload_load(dir, &w, err, sizeof err), 0);
    assert_int_equal(w.n_vms, 2);
    struct placement_policy pol;
    assert_int_equal(placement_policy_by_name("dvfs", -1, &pol), 0);
    struct sim_options o = {.policy = &pol, .initial = PLACEMENT_INITIAL_FIRST_FIT, .n_hosts = 4, .seed = 1};
    struct sim_result r;
    assert_int_equal(sim_cloudsim_run(&w, &o, &r, err, sizeof err), 0);
    double watts = 101 + (105 - 101) / 10.0 * (1250.0 / 5320 - 0.2) * 100;
    assert_true(fabs(r.energy_kwh - watts * 85800 / 3.6e6) < 1e-9);
    assert_true(r.slatah == 0 && r.pdm == 0);
    /* The same VM under THR-MMT stays put: nothing is overloaded and host 1
     * cannot be emptied (no other host is running to take it). */
    assert_int_equal(placement_policy_by_name("thr-mmt", -1, &pol), 0);
    o.initial = PLACEMENT_INITIAL_POWER_AWARE;
    assert_int_equal(sim_cloudsim_run(&w, &o, &r, err, sizeof err), 0);
    assert_true(fabs(r.energy_kwh - watts * 85800 / 3.6e6) < 1e-9);
    sim_workload_free(&w);
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        unlink(path);
    }
    rmdir(dir);
}

static json_t *run_nodesim_json(const char *args, int *status) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' replay %s 2>/dev/null", NODESIM_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t e;
    json_t *j = json_loadf(p, JSON_DISABLE_EOF_CHECK, &e);
    *status = pclose(p);
    return j;
}

/* NPA through the binary: every host at full power all day. */
static void nodesim_npa_json(void **state) {
    if (!have_day())
        skip();
    int status;
    json_t *j = run_nodesim_json("--workload '" DAY "' --policy npa --json", &status);
    assert_non_null(j);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(json_integer_value(json_object_get(j, "vms")), 898);
    assert_int_equal(json_integer_value(json_object_get(j, "hosts")), 800);
    assert_within_5pct(json_real_value(json_object_get(j, "energy_kwh")), 2410.80, "npa energy_kwh");
    assert_int_equal(json_integer_value(json_object_get(j, "migrations")), 0);
    assert_non_null(json_object_get(j, "wall_seconds"));
    json_decref(j);
}

static void nodesim_rejects_bad_arguments(void **state) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' replay --workload /nonexistent-dir --policy thr-mmt 2>&1", NODESIM_BIN);
    FILE *p = popen(cmd, "r");
    char out[512] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    int status = pclose(p);
    assert_true(n > 0);
    assert_non_null(strstr(out, "cannot open workload folder /nonexistent-dir"));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(cmd, sizeof cmd, "'%s' replay --workload /tmp --policy no-such 2>&1", NODESIM_BIN);
    p = popen(cmd, "r");
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    status = pclose(p);
    assert_non_null(strstr(out, "unknown policy 'no-such'"));
    assert_int_equal(WEXITSTATUS(status), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_of_a_constant_vm),
        cmocka_unit_test(thr_mmt_matches_cloudsim),
        cmocka_unit_test(nodesim_npa_json),
        cmocka_unit_test(nodesim_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
