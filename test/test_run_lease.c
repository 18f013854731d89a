/* The run lease with real agents on loopback (docs/ha.md): n1 is the only
 * candidate, so the leader; n2 and n3 renew their run lease with it
 * ([ha] self_fence_timeout = 2s).
 *   Every host holds the lease soon after it joins, the leader too.
 *   n2's agent restarted on the same boot keeps the lease it held (the
 *   state directory's run-lease), so its protected guests need not stop,
 *   and its stamp clock resumes from the anchor it kept (stamp-anchor).
 *   The leader stopped (SIGSTOP) for longer than the lease: n2 and n3 see
 *   their lease lapse, within T of the leader's last answer; the leader
 *   back, they hold it again.
 *   Each start says why it resumed no anchor and no run lease: none kept
 *   yet at the first; a warning for a file that is not one (n3 restarted
 *   on damaged files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "test_helpers.h"

#define N 3

static pid_t pids[N + 1];
static char conf[N + 1][PATH_MAX];

static void start_node(int i) {
    char dir[PATH_MAX], text[4 * PATH_MAX], pki[3 * PATH_MAX], name[8];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    snprintf(name, sizeof name, "n%d", i);
    test_pki_host(test_dir, name, i == 1, pki, sizeof pki);
    unsigned base = test_port_base();
    snprintf(text, sizeof text,
             "[cluster]\nname = lease\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test:///default\nsample_interval = 300ms\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\n"
             "[ha]\nself_fence_timeout = 2s\nfence_margin = 0s\n",
             pki, base, i, base + i - 1, dir, dir);
    pids[i] = agent_start_in(dir, text, conf[i], sizeof conf[i]);
    assert_true(pids[i] > 0);
}

/* Waits until agent i's log has at least k lines with needle. */
static int log_has(int i, const char *needle, int k, int timeout_ms) {
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
    const struct timespec tick = {0, 50 * 1000000L};
    for (int t = 0; t <= timeout_ms; t += 50, nanosleep(&tick, NULL))
        if (count_lines_with(log, needle) >= k)
            return 0;
    fprintf(stderr, "n%d: fewer than %d line(s) with '%s' after %d ms\n", i, k, needle,
            timeout_ms);
    return -1;
}

/* Whether the last line of the log about the run lease says it is held
 * (a revoked lease is told at each answer until the leader releases it). */
static bool last_lease_line_held(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool held = false;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "run lease"))
            held = strstr(line, "run lease held") != NULL;
    fclose(f);
    return held;
}

/* Writes text over state file `name` of agent i. */
static void state_file_write(int i, const char *name, const char *text) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/n%d/state/%s", test_dir, i, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* The kernel's boot_id, which the state files begin with. */
static void this_boot(char *out, size_t len) {
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    assert_non_null(f);
    assert_non_null(fgets(out, (int)len, f));
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* Moves the stamp clock's anchor that agent i kept back by delta_ms: as if
 * its wall clock had stepped forward that much while it ran. The anchor is
 * of this boot. */
static void anchor_back(int i, int64_t delta_ms) {
    char path[PATH_MAX + 32], boot[64], saved[64];
    snprintf(path, sizeof path, "%s/n%d/state/stamp-anchor", test_dir, i);
    this_boot(boot, sizeof boot);
    long long offset_ns;
    unsigned long long mono_ms;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%63s %lld %llu", saved, &offset_ns, &mono_ms), 3);
    fclose(f);
    assert_string_equal(saved, boot);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s %lld %llu\n", boot, offset_ns - (long long)delta_ms * 1000000, mono_ms);
    fclose(f);
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    for (int i = 1; i <= N; i++)
        start_node(i);
    return 0;
}

static int teardown(void **state) {
    for (int i = 1; i <= N; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGCONT);
            agent_stop(pids[i], SIGTERM, 5000);
        }
    return test_dir_teardown(state);
}

static void every_host_holds_the_lease_and_loses_it_without_a_leader(void **state) {
    (void)state;
    for (int i = 1; i <= N; i++)
        assert_int_equal(log_has(i, "run lease held", 1, 30000), 0);
    /* A restart on the same boot keeps what was held: no lapse is told
     * beyond the one of the first start. */
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/n2/agent.log", test_dir);
    assert_int_equal(count_lines_with(log, "no run lease since the agent started"), 1);
    /* The first start kept nothing before: said once each, as normal. */
    assert_int_equal(count_lines_with(log, "info: no stamp clock anchor resumed from "), 1);
    assert_int_equal(count_lines_with(log, "/n2/state/stamp-anchor: none kept yet"), 1);
    assert_int_equal(count_lines_with(log, "info: no run lease resumed from "), 1);
    assert_int_equal(count_lines_with(log, "/n2/state/run-lease: none kept yet"), 1);
    assert_int_equal(agent_stop(pids[2], SIGTERM, 5000), 0);
    /* The stamp clock resumes from its anchor on the same boot
     * (docs/ha.md, "Stamps"): kept two hours behind the wall clock, its
     * stamps stay that far behind after the restart, rather than taking
     * the wall clock again. */
    anchor_back(2, 7200000);
    start_node(2);
    assert_int_equal(log_has(2, "stamp clock resumed from before the restart", 1, 20000), 0);
    /* Two hours, less the slew (500 ppm) since the anchor was kept. */
    assert_int_equal(count_lines_with(log, "before the restart: -7200.0") +
                         count_lines_with(log, "before the restart: -7199.9"),
                     1);
    assert_int_equal(log_has(2, "run lease kept from before the restart", 1, 20000), 0);
    assert_int_equal(log_has(2, "run lease held", 2, 20000), 0);
    assert_int_equal(count_lines_with(log, "no run lease since the agent started"), 1);
    /* n2 left the cluster while it restarted: the leader's HA round (once
     * a second) may have fenced it (a host that left is down for HA),
     * revoking its lease until it releases it, known fenced (docs/ha.md).
     * Two rounds later, either that happened and is waited out, or not. */
    const struct timespec rounds = {2, 0};
    nanosleep(&rounds, NULL);
    char log1[PATH_MAX + 16];
    snprintf(log1, sizeof log1, "%s/n1/agent.log", test_dir);
    int fenced = count_lines_with(log1, "HA: n2 is down: fenced");
    if (fenced) {
        assert_int_equal(log_has(1, "HA: n2 is back", fenced, 20000), 0);
        const struct timespec tick = {0, 50 * 1000000L};
        int t = 0;
        for (; t <= 20000 && !last_lease_line_held(log); t += 50)
            nanosleep(&tick, NULL);
        assert_true(t <= 20000);
    }
    int held2 = count_lines_with(log, "run lease held");
    /* No leader answers: the lease lapses within T (2 s) of the last
     * answer; waited for up to 20 s on a loaded machine. */
    assert_int_equal(kill(pids[1], SIGSTOP), 0);
    assert_int_equal(log_has(2, "run lease: the run lease lapsed", 1, 20000), 0);
    assert_int_equal(log_has(3, "run lease: the run lease lapsed", 1, 20000), 0);
    assert_int_equal(kill(pids[1], SIGCONT), 0);
    assert_int_equal(log_has(2, "run lease held", held2 + 1, 20000), 0);
    assert_int_equal(log_has(3, "run lease held", 2, 20000), 0);
    /* Damaged files: the start warns, naming each and why, and takes the
     * wall clock and no lease, as after a reboot. A lease of this boot
     * that ends before its clock began is out of range. */
    assert_int_equal(agent_stop(pids[3], SIGTERM, 5000), 0);
    char boot[64], lease[128];
    this_boot(boot, sizeof boot);
    snprintf(lease, sizeof lease, "%s -5\n", boot);
    state_file_write(3, "stamp-anchor", "not an anchor\n");
    state_file_write(3, "run-lease", lease);
    start_node(3);
    assert_int_equal(log_has(3, "warn: no run lease resumed from ", 1, 20000), 0);
    snprintf(log, sizeof log, "%s/n3/agent.log", test_dir);
    assert_int_equal(count_lines_with(log, "warn: no stamp clock anchor resumed from "), 1);
    assert_int_equal(count_lines_with(log, "/n3/state/stamp-anchor: malformed"), 1);
    assert_int_equal(count_lines_with(log, "/n3/state/run-lease: values out of range"), 1);
    assert_int_equal(count_lines_with(log, "stamp clock resumed from before the restart"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_host_holds_the_lease_and_loses_it_without_a_leader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
