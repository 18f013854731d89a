/* Leader election with real agent processes: 5 agents on
 * loopback, 3 of them candidates. A leader emerges and every agent names the
 * same leader and term; a killed leader is replaced; a leader frozen with
 * SIGSTOP is replaced, and when thawed steps down, and a command of its old
 * term is refused by every agent (log and counter); a restarted leader
 * leaves one leader; a transfer and a graceful stop hand over. */
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
#include "command.pb-c.h"
#include "net/transport.h"
#include "test_helpers.h"

#define N 5

static pid_t pids[N + 1];
static char conf[N + 1][PATH_MAX];
static char out[1 << 16], err[4096];

static char pki[N + 1][3 * PATH_MAX];

static void write_and_start(int i) {
    char dir[PATH_MAX], text[4 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    unsigned base = test_port_base();
    snprintf(text, sizeof text,
             "[cluster]\nname = lead\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1, n2, n3\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test:///default\nsample_interval = 1s\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 2\n",
             pki[i], base, i, base + i - 1, dir, dir);
    pids[i] = agent_start_in(dir, text, conf[i], sizeof conf[i]);
    assert_true(pids[i] > 0);
}

struct view {
    char leader[32];
    long term;
    long refused;
    char role[64];
};

static int view_of(int i, struct view *v) {
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' -t 1000 status --json", conf[i]);
    memset(v, 0, sizeof *v);
    if (run_capture(cmd, out, sizeof out, err, sizeof err) != 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    if (!root)
        return -1;
    const char *l = json_string_value(json_object_get(root, "leader"));
    snprintf(v->leader, sizeof v->leader, "%s", l ? l : "");
    snprintf(v->role, sizeof v->role, "%s", json_string_value(json_object_get(root, "role")));
    v->term = (long)json_integer_value(json_object_get(root, "term"));
    v->refused = (long)json_integer_value(json_object_get(root, "stale_commands_refused"));
    json_decref(root);
    return 0;
}

/* Waits until every running agent names one leader (not `not`) in one term
 * above `above`; returns its index, with its term in *term, or -1. */
static int agreed_leader(const char *not, long above, long *term, int timeout_s) {
    for (int t = 0; t < timeout_s * 10; t++, usleep(100000)) {
        struct view first = {0}, v;
        int ok = 1, seen = 0;
        for (int i = 1; i <= N && ok; i++) {
            if (pids[i] <= 0)
                continue;
            ok = view_of(i, &v) == 0 && v.leader[0] && v.term > above &&
                 (!not || strcmp(v.leader, not) != 0) &&
                 (!seen || (strcmp(v.leader, first.leader) == 0 && v.term == first.term));
            if (!seen++)
                first = v;
        }
        if (ok && seen) {
            *term = first.term;
            return atoi(first.leader + 1);
        }
    }
    return -1;
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    char name[8];
    for (int i = 1; i <= N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        test_pki_host(test_dir, name, i <= 3, pki[i], sizeof pki[i]);
    }
    test_pki_host(test_dir, "deposed", true, pki[0], sizeof pki[0]);
    for (int i = 1; i <= N; i++)
        write_and_start(i);
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

static long term1;
static int leader1;

static void one_leader_that_everyone_names(void **state) {
    leader1 = agreed_leader(NULL, 0, &term1, 30);
    assert_true(leader1 >= 1 && leader1 <= 3); /* a candidate */
    struct view v;
    assert_int_equal(view_of(4, &v), 0);
    assert_string_equal(v.role, "member (not a candidate)");
}

static void a_killed_leader_is_replaced(void **state) {
    char old[8];
    snprintf(old, sizeof old, "n%d", leader1);
    kill(pids[leader1], SIGKILL);
    agent_wait_exit(pids[leader1], 5000);
    pids[leader1] = 0;
    long term2;
    int l2 = agreed_leader(old, term1, &term2, 30);
    assert_true(l2 >= 1 && l2 <= 3 && l2 != leader1);
    /* Restarted, it follows: still one leader, the same one. */
    write_and_start(leader1);
    long term3;
    int l3 = agreed_leader(NULL, 0, &term3, 30);
    assert_int_equal(l3, l2);
    assert_int_equal(term3, term2);
    leader1 = l2;
    term1 = term2;
}

/* A command as a deposed leader would send it: its old term, to each host
 * as its target. It comes from a host of its own, "deposed", certified like
 * the others: were it signed as the frozen leader, its fresh epoch would
 * make the real one's frames look old to every host. */
static void send_stale_command(long term, const char *issuer) {
    char e[256], adv[32];
    unsigned port = test_port_base() + 10;
    snprintf(adv, sizeof adv, "127.0.0.1:%u", port);
    struct frame_ctx *frames = test_pki_ctx(test_dir, "lead", issuer, adv, 1);
    struct transport *t = transport_open("127.0.0.1", (uint16_t)port, frames, e, sizeof e);
    assert_non_null(t);
    Nodectl__MigrateCommand mc = NODECTL__MIGRATE_COMMAND__INIT;
    mc.vm = "test";
    mc.destination = "n5";
    mc.destination_uri = "test:///default";
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    cmd.id = "stale-1";
    cmd.term = (uint64_t)term;
    cmd.issuer = (char *)issuer;
    cmd.body_case = NODECTL__COMMAND__BODY_MIGRATE;
    cmd.migrate = &mc;
    Nodectl__CommandMsg msg = NODECTL__COMMAND_MSG__INIT;
    msg.body_case = NODECTL__COMMAND_MSG__BODY_COMMAND;
    msg.command = &cmd;
    for (int i = 1; i <= N; i++) {
        char to[32], target[8];
        snprintf(target, sizeof target, "n%d", i);
        cmd.target = target;
        uint8_t buf[256];
        size_t len = nodectl__command_msg__pack(&msg, buf);
        snprintf(to, sizeof to, "127.0.0.1:%u", test_port_base() + i - 1);
        assert_int_equal(transport_send(t, to, CHANNEL_COMMAND, buf, len), 0);
    }
    sleep(1); /* let the frames go out before the socket closes */
    transport_close(t);
    frame_ctx_free(frames);
}

static void a_frozen_leader_is_replaced_steps_down_and_is_fenced(void **state) {
    char old[8];
    snprintf(old, sizeof old, "n%d", leader1);
    long old_term = term1;
    kill(pids[leader1], SIGSTOP);
    pid_t frozen = pids[leader1];
    pids[leader1] = 0; /* not asked while frozen */
    long term2;
    int l2 = agreed_leader(old, old_term, &term2, 30);
    assert_true(l2 >= 1 && l2 <= 3 && l2 != leader1);
    kill(frozen, SIGCONT);
    pids[leader1] = frozen;
    long term3;
    assert_int_equal(agreed_leader(NULL, 0, &term3, 30), l2);
    struct view v;
    assert_int_equal(view_of(leader1, &v), 0);
    assert_string_equal(v.role, "follower");

    send_stale_command(old_term, "deposed");
    for (int i = 1; i <= N; i++) {
        for (int t = 0; t < 50 && view_of(i, &v) == 0 && v.refused == 0; t++)
            usleep(100000);
        assert_int_equal(v.refused, 1);
        char log[PATH_MAX];
        snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
        assert_int_equal(count_lines_with(log, "refused command stale-1"), 1);
        assert_int_equal(count_lines_with(log, "migrate test to n5"), 0);
    }
    leader1 = l2;
    term1 = term3;
}

static void transfer_and_graceful_stop_hand_over(void **state) {
    int target = leader1 % 3 + 1;
    char cmd[PATH_MAX + 64];
    /* Asked on a host that does not lead: it goes to the leader. */
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' leader transfer n%d", conf[5], target);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    long term2;
    assert_int_equal(agreed_leader(NULL, term1, &term2, 10), target);
    char old[8];
    snprintf(old, sizeof old, "n%d", target);
    assert_int_equal(agent_stop(pids[target], SIGTERM, 10000), 0);
    pids[target] = 0;
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, target);
    if (count_lines_with(log, "handed leadership over to") != 1) {
        agent_log_tail(log, 20);
        fail_msg("n%d did not hand over on SIGTERM", target);
    }
    long term3;
    assert_true(agreed_leader(old, term2, &term3, 10) > 0);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' leader transfer n9", conf[5]);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "'n9' is not a candidate"));
    assert_int_equal(run_capture("\"$NODECTL\" leader", out, sizeof out, err, sizeof err), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_leader_that_everyone_names),
        cmocka_unit_test(a_killed_leader_is_replaced),
        cmocka_unit_test(a_frozen_leader_is_replaced_steps_down_and_is_fenced),
        cmocka_unit_test(transfer_and_graceful_stop_hand_over),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
