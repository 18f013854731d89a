/* Real agent processes forming a cluster: five join through
 * seeds and five through multicast discovery, all on loopback inside a
 * network namespace this test makes for itself. Then a crash is detected, a
 * restart comes back with a higher incarnation, an agent with the wrong
 * cluster key (but a valid certificate) is never admitted, and one whose
 * seeds are mostly down joins through the one that is up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "netns.h"
#include "test_helpers.h"

#define N 10
#define WRONG_KEY "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"

static pid_t pids[N + 3];
static char out[1 << 16], err[4096];

static void conf_path(int i, char *path, size_t len) {
    snprintf(path, len, "%s/n%d/nodectl.conf", test_dir, i);
}

/* Agent i listens on base + i - 1; discovery uses base + 19. Agents 1-5
 * (and the intruder, 11) know agent 1 as their seed; 6-10 have none and
 * must be found by multicast. Agent 12 does not multicast, and two of its
 * three seeds have no agent. Timings are shortened so the test takes
 * seconds. */
static void write_conf(int i, const char *key_name) {
    char dir[PATH_MAX], text[4 * PATH_MAX], path[PATH_MAX], seeds[128] = "", name[8];
    char pki[3 * PATH_MAX], key[PATH_MAX + 16] = "";
    snprintf(name, sizeof name, "n%d", i);
    test_pki_host(test_dir, name, false, pki, sizeof pki);
    if (key_name)
        snprintf(key, sizeof key, "key_file = %s/%s\n", test_dir, key_name);
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    unsigned base = test_port_base();
    if ((i > 1 && i <= 5) || i == 11)
        snprintf(seeds, sizeof seeds, "seeds = 127.0.0.1:%u\n", base);
    if (i == 12)
        snprintf(seeds, sizeof seeds, "seeds = 127.0.0.1:%u, 127.0.0.1:%u, 127.0.0.1:%u\n",
                 base + 17, base + 18, base);
    snprintf(text, sizeof text,
             "[cluster]\nname = t\n%s%s%s"
             "discovery = %s\ndiscovery_port = %u\ndiscovery_interval = 500ms\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test:///default\nsample_interval = 1s\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 2\n"
             "push_pull_interval = 2s\n",
             pki, key, seeds, i == 12 ? "false" : "true", base + 19, i, base + i - 1, dir, dir);
    test_write_file(dir, "nodectl.conf", text, path, sizeof path);
}

static pid_t start(int i) {
    char conf[PATH_MAX], log[PATH_MAX];
    conf_path(i, conf, sizeof conf);
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
    pid_t pid = agent_start(conf, log);
    assert_int_equal(agent_wait_ready(pid, conf, 10000), 0);
    return pid;
}

/* What agent i sees: the state and incarnation of `name` ("" if unknown),
 * and how many members are alive. */
struct view {
    int alive;
    int count;
    char state[16];
    long incarnation;
};

static struct view view_of(int i, const char *name) {
    char conf[PATH_MAX], cmd[PATH_MAX + 64];
    conf_path(i, conf, sizeof conf);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' members --json", conf);
    struct view v = {0};
    if (run_capture(cmd, out, sizeof out, err, sizeof err) != 0)
        return v;
    json_error_t jerr;
    json_t *arr = json_loads(out, 0, &jerr);
    v.count = (int)json_array_size(arr);
    for (size_t k = 0; k < json_array_size(arr); k++) {
        json_t *m = json_array_get(arr, k);
        const char *st = json_string_value(json_object_get(m, "state"));
        v.alive += strcmp(st, "alive") == 0;
        if (name && strcmp(json_string_value(json_object_get(m, "name")), name) == 0) {
            snprintf(v.state, sizeof v.state, "%s", st);
            v.incarnation = (long)json_integer_value(json_object_get(m, "incarnation"));
        }
    }
    json_decref(arr);
    return v;
}

/* Polls until every running agent but `except` satisfies pred, or the
 * timeout; returns the seconds it took, or -1. */
typedef int (*pred_fn)(struct view v, long arg);
static double wait_all(int except, const char *name, pred_fn pred, long arg, int timeout_s) {
    for (int tenth = 0; tenth <= timeout_s * 10; tenth++) {
        int ok = 1;
        for (int i = 1; i <= N && ok; i++)
            if (i != except)
                ok = pred(view_of(i, name), arg);
        if (ok)
            return tenth / 10.0;
        usleep(100000);
    }
    return -1;
}

static int all_alive(struct view v, long n) { return v.alive == n; }
static int is_dead(struct view v, long unused) { return strcmp(v.state, "dead") == 0; }
static int alive_above(struct view v, long inc) {
    return strcmp(v.state, "alive") == 0 && v.incarnation > inc;
}

static void ten_agents_join_by_seeds_and_discovery(void **state) {
    char path[PATH_MAX];
    test_pki_cluster(test_dir);
    test_write_file(test_dir, "wrong.key", WRONG_KEY, path, sizeof path);
    for (int i = 1; i <= N; i++) {
        write_conf(i, NULL);
        pids[i] = start(i);
    }
    double t = wait_all(0, NULL, all_alive, N, 60);
    print_message("all %d agents see %d alive after %.1f s\n", N, N, t);
    assert_true(t >= 0);
    /* Agents 6-10 have no seed: someone found each of them by its beacon. */
    for (int i = 6; i <= N; i++) {
        char log[PATH_MAX], line[64];
        snprintf(line, sizeof line, "discovered 127.0.0.1:%u", test_port_base() + i - 1);
        int found = 0;
        for (int k = 1; k <= N; k++) {
            snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, k);
            found += count_lines_with(log, line);
        }
        assert_true(found >= 1);
    }
}

static void a_crash_is_detected_and_a_restart_refutes(void **state) {
    long before = view_of(1, "n3").incarnation;
    kill(pids[3], SIGKILL);
    assert_int_equal(agent_wait_exit(pids[3], 5000), 128 + SIGKILL);
    double t = wait_all(3, "n3", is_dead, 0, 60);
    print_message("n3 marked dead by all 9 others after %.1f s\n", t);
    assert_true(t >= 0);
    pids[3] = start(3);
    t = wait_all(0, "n3", alive_above, before, 60);
    print_message("n3 alive again everywhere, incarnation above %ld, after %.1f s\n", before, t);
    assert_true(t >= 0);
}

static void an_agent_with_the_wrong_key_is_never_admitted(void **state) {
    /* It seeds from agent 1 and multicasts, like any newcomer. */
    write_conf(11, "wrong.key");
    pids[11] = start(11);
    sleep(4); /* many probe and discovery rounds */
    for (int i = 1; i <= N; i++) {
        struct view v = view_of(i, "n11");
        assert_string_equal(v.state, "");
        assert_int_equal(v.count, N);
    }
    assert_int_equal(view_of(11, NULL).count, 1);
}

/* Seeds that are down, listed before the one that is up, do not hold the
 * join back. */
static void seeds_that_are_down_are_passed_over(void **state) {
    write_conf(12, NULL);
    pids[12] = start(12);
    double t = -1;
    for (int tenth = 0; tenth <= 100 && t < 0; tenth++, usleep(100000))
        if (view_of(12, NULL).alive == N + 1)
            t = tenth / 10.0;
    print_message("n12 sees all %d alive after %.1f s\n", N + 1, t);
    assert_true(t >= 0);
}

static int is_left(struct view v, long unused) { return strcmp(v.state, "left") == 0; }

static void a_graceful_stop_announces_left(void **state) {
    assert_int_equal(agent_stop(pids[4], SIGTERM, 5000), 0);
    pids[4] = 0;
    double t = wait_all(4, "n4", is_left, 0, 30);
    print_message("n4 seen as left by all 9 others after %.1f s\n", t);
    assert_true(t >= 0);
}

static int stop_all(void **state) {
    for (int i = 1; i <= N + 2; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    return test_dir_teardown(state);
}

int main(void) {
    if (netns_private_loopback() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ten_agents_join_by_seeds_and_discovery),
        cmocka_unit_test(a_crash_is_detected_and_a_restart_refutes),
        cmocka_unit_test(an_agent_with_the_wrong_key_is_never_admitted),
        cmocka_unit_test(seeds_that_are_down_are_passed_over),
        cmocka_unit_test(a_graceful_stop_announces_left),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, stop_all);
}
