/* `nodectl find` and `nodectl migrate` across real agents on loopback, on
 * libvirt's test driver: every refusal names its reason, and a valid request
 * travels to the source host's agent, whose attempt and outcome come back
 * through gossip (the test driver cannot migrate, so the outcome is
 * libvirt's own refusal). Real migrations run on the rig (test/rig). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "test_helpers.h"

static pid_t pids[4];
static char conf[4][PATH_MAX];
static char out[1 << 16], err[4096];

/* n1 runs host-a.xml (web-1, db-1, batch-1); n2 takes migrations; n3
 * does not. */
static void start_node(int i, const char *uri, const char *extra) {
    char dir[PATH_MAX], text[4 * PATH_MAX], pki[3 * PATH_MAX], name[8];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    snprintf(name, sizeof name, "n%d", i);
    test_pki_host(test_dir, name, false, pki, sizeof pki);
    unsigned base = test_port_base();
    snprintf(text, sizeof text,
             "[cluster]\nname = m\n%sdiscovery = false\nseeds = 127.0.0.1:%u\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 300ms\n%s"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 2\n",
             pki, base, i, base + i - 1, dir, dir, uri, extra);
    pids[i] = agent_start_in(dir, text, conf[i], sizeof conf[i]);
    assert_true(pids[i] > 0);
}

static int cli(int i, const char *args) {
    return nodectl_run(conf[i], args, out, sizeof out, err, sizeof err);
}

/* Waits until `args` run on agent i exits 0 and prints needle. */
static int eventually(int i, const char *args, const char *needle, int timeout_s) {
    return nodectl_run_until(conf[i], args, needle, timeout_s, out, sizeof out, err, sizeof err);
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    start_node(1, "test://" NODECTL_TEST_DATA "/host-a.xml", "");
    start_node(2, "test:///default", "migration_uri = test:///default\n");
    start_node(3, "test:///default", "");
    /* Every agent knows every record before the tests ask. */
    for (int i = 1; i <= 3; i++)
        if (eventually(i, "vms", "web-1", 20) != 0)
            return -1;
    return 0;
}

static int teardown(void **state) {
    for (int i = 1; i <= 3; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    return test_dir_teardown(state);
}

static void find_names_the_host_from_any_agent(void **state) {
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(cli(i, "find db-1"), 0);
        assert_string_equal(out, "n1\trunning\n");
    }
    assert_int_equal(cli(3, "find batch-1 --json"), 0);
    assert_non_null(strstr(out, "\"state\": \"shutoff\""));
    assert_int_equal(cli(2, "find nothing-here"), 1);
    assert_non_null(strstr(err, "VM 'nothing-here' is on no live host"));
    assert_int_equal(cli(2, "find"), 2);
}

static void refusals_say_why(void **state) {
    assert_int_equal(cli(3, "migrate ghost n2"), 1);
    assert_non_null(strstr(err, "VM 'ghost' is on no live host"));
    assert_int_equal(cli(3, "migrate web-1 nowhere"), 1);
    assert_non_null(strstr(err, "no host named 'nowhere' in the cluster"));
    assert_int_equal(cli(3, "migrate web-1 n3"), 1);
    assert_non_null(strstr(err, "host 'n3' takes no migrations"));
    assert_int_equal(cli(3, "migrate web-1 n1"), 1);
    assert_non_null(strstr(err, "VM 'web-1' already runs on n1"));
    assert_int_equal(cli(3, "migrate batch-1 n2"), 1);
    assert_non_null(strstr(err, "VM 'batch-1' is not running on n1"));
    assert_int_equal(cli(3, "migrate web-1"), 2);
    assert_int_equal(cli(3, "migrate web-1 n2 --fast"), 2);
}

static void a_request_reaches_the_source_and_its_outcome_comes_back(void **state) {
    /* Asked on n3, carried out by n1, the outcome read from n1's record. */
    assert_int_equal(cli(3, "migrate db-1 n2 --wait"), 1);
    assert_non_null(strstr(out, "migrating db-1 from n1 to n2 (command "));
    assert_non_null(strstr(err, "failed: "));
    assert_non_null(strstr(err, "migration is not supported"));
    char log[PATH_MAX + 32];
    snprintf(log, sizeof log, "%s/n1/agent.log", test_dir);
    assert_int_equal(count_lines_with(log, "migrate db-1 to n2"), 1);
}

/* Waits until the file has a line with needle; 0, or -1 after timeout_s. */
static int file_has(const char *path, const char *needle, int timeout_s) {
    for (int i = 0; i < timeout_s * 10; i++) {
        if (count_lines_with(path, needle) > 0)
            return 0;
        usleep(100 * 1000);
    }
    return -1;
}

/* db-1's migration failed (the test before): n1 keeps it in its state
 * directory, and an n1 killed and started again reports it in its record
 * again, for the destination to judge a copy it may have left
 * (docs/safety.md, "A migration that failed at its destination"). Two
 * migrations written as running when the agent died are settled from
 * libvirt: db-1, still here with no job, failed; a VM no longer here,
 * succeeded (and no longer kept). */
static void a_failed_migration_is_still_reported_after_a_restart(void **state) {
    char path[PATH_MAX + 32], log[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/n1/state/migrations", test_dir);
    snprintf(log, sizeof log, "%s/n1/agent.log", test_dir);
    assert_int_equal(count_lines_with(path, " failed "), 1);
    assert_int_equal(count_lines_with(path, " n2 db-1"), 1);
    assert_int_equal(agent_stop(pids[1], SIGKILL, 5000), 128 + SIGKILL);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("orphan-here running 1700000000000 0 3 n2 db-1\n"
          "orphan-gone running 1700000000000 0 3 n2 left-1\n", f);
    fclose(f);
    pids[1] = agent_start(conf[1], log);
    assert_int_equal(agent_wait_ready(pids[1], conf[1], 10000), 0);
    assert_int_equal(count_lines_with(log, "3 migration(s) from"), 1);
    assert_int_equal(file_has(log, "migration orphan-here of db-1, running when this agent "
                                   "stopped: failed", 20), 0);
    assert_int_equal(file_has(log, "migration orphan-gone of left-1, running when this agent "
                                   "stopped: succeeded", 20), 0);
    assert_int_equal(eventually(3, "vms", "web-1", 20), 0);
    assert_int_equal(count_lines_with(path, " n2 db-1"), 2);
    assert_int_equal(count_lines_with(path, "orphan-here failed "), 1);
    assert_int_equal(count_lines_with(path, "orphan-gone"), 0);
}

static void a_dead_destination_is_refused(void **state) {
    kill(pids[2], SIGKILL);
    assert_int_equal(agent_wait_exit(pids[2], 5000), 128 + SIGKILL);
    pids[2] = 0;
    assert_int_equal(eventually(3, "members", "dead", 30), 0);
    assert_int_equal(cli(3, "migrate db-1 n2"), 1);
    assert_non_null(strstr(err, "host 'n2' is dead, not alive"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find_names_the_host_from_any_agent),
        cmocka_unit_test(refusals_say_why),
        cmocka_unit_test(a_request_reaches_the_source_and_its_outcome_comes_back),
        cmocka_unit_test(a_failed_migration_is_still_reported_after_a_restart),
        cmocka_unit_test(a_dead_destination_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
