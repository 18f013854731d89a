/* A paused leader's command is not carried out (real agents on loopback):
 * n1, n2 and n3 are candidates; n4 runs host-a.xml under a synthetic load
 * that overloads it; n5 is empty, takes migrations and starts drained.
 *   n4 is stopped (SIGSTOP); n5 is undrained, so the leader plans to move
 *   a VM from n4 to n5 and sends the command, which waits in n4's socket.
 *   The leader is stopped in turn, longer than its lease: another candidate
 *   is elected. Then n4 and the old leader continue. n4 reads the command
 *   of the old term and asks the old leader for its grant; the old leader's
 *   fresh clock shows its lease over, so it refuses, and n4 does not act.
 * With commands bounded by a wall-clock deadline of 30 s and a fence that
 * n4 had not raised yet, n4 ran it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "test_helpers.h"

#define N 5

static pid_t pids[N + 1];
static char conf[N + 1][PATH_MAX], load_file[PATH_MAX];
static char out[1 << 16], err[4096];

static void start_node(int i) {
    char dir[PATH_MAX], state[PATH_MAX + 8], text[4 * PATH_MAX], pki[3 * PATH_MAX], name[8];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    snprintf(name, sizeof name, "n%d", i);
    test_pki_host(test_dir, name, i <= 3, pki, sizeof pki);
    snprintf(state, sizeof state, "%s/state", dir);
    mkdir(state, 0755);
    if (i == 5) {
        char path[PATH_MAX];
        test_write_file(state, "drain", "1\n", path, sizeof path);
    }
    unsigned base = test_port_base();
    const char *uri = i == 4   ? "test://" NODECTL_TEST_DATA "/host-a.xml"
                      : i == 5 ? "test://" NODECTL_TEST_DATA "/host-empty.xml"
                               : "test:///default";
    snprintf(text, sizeof text,
             "[cluster]\nname = paused\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1, n2, n3\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 300ms\n%s%s%s\n"
             /* n4 stays "suspect", not dead, for the seconds it is stopped:
              * the leader still plans with it. */
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 20\n"
             "[leader]\nautomation = auto\nplan_interval = 500ms\n",
             pki, base, i, base + i - 1, state, dir, uri,
             i == 5 ? "migration_uri = test:///default\n" : "",
             i == 4 ? "synthetic_load_file = " : "", i == 4 ? load_file : "");
    pids[i] = agent_start_in(dir, text, conf[i], sizeof conf[i]);
    assert_true(pids[i] > 0);
}

static int cli(int i, const char *args) {
    return nodectl_run(conf[i], args, out, sizeof out, err, sizeof err);
}

static int eventually(int i, const char *args, const char *needle, int timeout_s) {
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
    return nodectl_expect(conf[i], args, needle, timeout_s, log, out, sizeof out, err, sizeof err);
}

/* Agent i's view of the leader and term; -1 if it does not answer. */
static int leader_of(int i, long *term) {
    if (cli(i, "status --json") != 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    if (!root)
        return -1;
    const char *l = json_string_value(json_object_get(root, "leader"));
    int leader = l && l[0] == 'n' ? atoi(l + 1) : 0;
    *term = (long)json_integer_value(json_object_get(root, "term"));
    json_decref(root);
    return leader;
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    snprintf(load_file, sizeof load_file, "%s/load", test_dir);
    char path[PATH_MAX];
    test_write_file(test_dir, "load", "web-1 100\ndb-1 100\n", path, sizeof path);
    for (int i = 1; i <= N; i++)
        start_node(i);
    for (int i = 1; i <= N; i++)
        if (eventually(i, "vms", "web-1", 30) != 0 || eventually(i, "status", "leader:  n", 30))
            return -1;
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

static void a_paused_leaders_command_is_refused_by_its_target(void **state) {
    long term;
    int leader = 0;
    /* An election may be under way on a busy machine: wait for its end. */
    for (int t = 0; t < 100 && !(leader >= 1 && leader <= 3); t++, usleep(100000))
        leader = leader_of(4, &term);
    assert_true(leader >= 1 && leader <= 3);
    kill(pids[4], SIGSTOP);
    assert_int_equal(cli(5, "undrain n5"), 0);
    /* The leader sends the move to the stopped n4. */
    assert_int_equal(eventually(leader, "events", " from n4 to n5 (command ", 20), 0);
    const char *p = strstr(out, " from n4 to n5 (command ");
    char id[64];
    assert_int_equal(sscanf(p, " from n4 to n5 (command %63[^,], term %ld)", id, &term), 2);
    kill(pids[leader], SIGSTOP);
    /* Another candidate leads, in a newer term, with its lease. */
    int next = 0;
    long next_term = 0;
    for (int t = 0; t < 150 && !(next && next != leader && next_term > term); t++, usleep(100000))
        next = leader_of(leader % 3 + 1, &next_term);
    assert_true(next >= 1 && next <= 3 && next != leader && next_term > term);
    kill(pids[4], SIGCONT);
    kill(pids[leader], SIGCONT);
    /* n4 takes the old command up and refuses it. */
    char log[PATH_MAX + 16], needle[160];
    snprintf(log, sizeof log, "%s/n4/agent.log", test_dir);
    snprintf(needle, sizeof needle, "refused command %s from n%d", id, leader);
    for (int t = 0; t < 100 && count_lines_with(log, needle) == 0; t++)
        usleep(100000);
    if (count_lines_with(log, needle) != 1) {
        agent_log_tail(log, 30);
        fail_msg("n4 did not refuse command %s", id);
    }
    /* It never ran: no "command ID from nL (term T): migrate" line. */
    snprintf(needle, sizeof needle, "command %s from n%d (term %ld): migrate", id, leader, term);
    assert_int_equal(count_lines_with(log, needle), 0);
    /* Refused by the grant (the old leader's lease), or by the fence when
     * gossip told n4 of the new term first: either way not carried out. */
    int by_grant = count_lines_with(log, "holds no lease") + count_lines_with(log, "leads no more");
    print_message("n4 refused %s %s\n", id,
                  by_grant ? "for want of a grant (the old leader's lease had ended)"
                           : "by its fence (it had learned the new term)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_paused_leaders_command_is_refused_by_its_target),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
