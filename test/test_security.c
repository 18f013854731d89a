/* A cluster no one can fool (docs/security.md), with real agents on
 * loopback in a network namespace of the test's own. Five agents with a
 * CA, certificates and a cluster key made by the CLI; n2 is reached through
 * a tap of the test's (it binds 127.0.0.2, advertises 127.0.0.1, where the
 * tap listens and forwards), which keeps a copy of every frame sent to n2.
 *
 * - A captured frame of every kind (gossip, election, command, grant,
 *   discovery beacon), sent again later, is refused and counted; sent to another host,
 *   it is refused as misaddressed; after its sender restarts, as old. A
 *   captured drain command does not drain n2 again.
 * - An operator's migration and drain captured on their way to n2 (which
 *   runs libvirt's test driver with VMs) run once: sent again after 32
 *   other actions, after n2 restarted (its replay window empty) and after
 *   their issuer restarted, each is refused.
 * - A host with a certificate for another name does not start; one of
 *   another CA is never admitted; a frame that claims another sender than
 *   its certificate is refused.
 * - n3 is in [cluster] candidates but its certificate does not say
 *   candidate: its election messages are ignored (and counted) and it never
 *   leads.
 * - A rolling key change (install everywhere, use everywhere, remove the
 *   old everywhere) loses no member: no suspicion, no frame refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "command/command.h"
#include "net/frame.h"
#include "net/pki.h"
#include "netns.h"
#include "test_helpers.h"

#define N 5
#define TAPPED 2 /* n2 */
#define CLUSTER "sec"

static pid_t pids[N + 3];
static char conf[N + 3][PATH_MAX];
static char pki[N + 3][3 * PATH_MAX];
static char out[1 << 16], err[8192];

static unsigned port(int i) { return test_port_base() + (unsigned)i - 1; }
static unsigned discovery_port(void) { return test_port_base() + 19; }

/* ---- the tap in front of n2 ---- */

#define KEPT 16
/* Besides the channels: the command channel's commands alone (not their
 * grants), by id. */
#define COMMANDS (CHANNEL_COMMAND + 1)
struct captured {
    uint8_t data[4096];
    size_t len;
    char sender[FRAME_NAME_MAX];
    uint64_t epoch;
    int kind;                /* a command message's (enum command_msg_kind), or -1 */
    char id[COMMAND_ID_MAX]; /* a command's */
};
static struct {
    pthread_mutex_t lock;
    pthread_t thread;
    volatile int stop;
    volatile int hold; /* forward commands and grants only */
    nng_socket in, out;
    struct frame_ctx *reader; /* opens copies, to tell channels apart */
    struct captured kept[COMMANDS + 1][KEPT]; /* the last KEPT of each channel */
    size_t n_kept[COMMANDS + 1];
    uint64_t forwarded;
} tap = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void keep(uint32_t ring, const nng_msg *m, const struct frame_msg *fm, int kind,
                 const char *id) {
    struct captured *c = &tap.kept[ring][tap.n_kept[ring]++ % KEPT];
    memcpy(c->data, nng_msg_body((nng_msg *)m), nng_msg_len(m));
    c->len = nng_msg_len(m);
    snprintf(c->sender, sizeof c->sender, "%s", fm->sender);
    c->epoch = fm->epoch;
    c->kind = kind;
    snprintf(c->id, sizeof c->id, "%s", id);
}

static void *tap_run(void *unused) {
    while (!tap.stop) {
        nng_msg *m;
        if (nng_recvmsg(tap.in, &m, 0) != 0)
            continue; /* the receive timeout: look at stop again */
        uint8_t copy[4096];
        size_t len = nng_msg_len(m);
        struct frame_msg fm;
        uint32_t channel = 0;
        pthread_mutex_lock(&tap.lock);
        if (len <= sizeof copy) {
            memcpy(copy, nng_msg_body(m), len);
            if (frame_open(tap.reader, copy, len, FRAME_PATH_UNICAST, (uint64_t)time(NULL),
                           &fm) == FRAME_OK) {
                struct command_msg cm;
                char why[128];
                channel = fm.channel;
                int kind = channel == CHANNEL_COMMAND &&
                                   command_msg_decode(fm.payload, fm.len, &cm, why,
                                                      sizeof why) == 0
                               ? (int)cm.kind
                               : -1;
                if (channel <= CHANNEL_COMMAND)
                    keep(channel, m, &fm, kind, "");
                if (kind == COMMAND_MSG_COMMAND)
                    keep(COMMANDS, m, &fm, kind, cm.command.id);
                free(fm.payload);
            }
        }
        tap.forwarded++;
        bool drop = tap.hold && channel != CHANNEL_COMMAND;
        pthread_mutex_unlock(&tap.lock);
        /* Never blocks: with n2 gone, frames are dropped, as its own
         * transport drops what it cannot queue. */
        if (drop || nng_sendmsg(tap.out, m, NNG_FLAG_NONBLOCK) != 0)
            nng_msg_free(m);
    }
    return NULL;
}

static void tap_start(void) {
    char url[64];
    /* The tap reads frames addressed to n2 as n2 does: with n2's address and
     * key, since a host that has heard from n2 authenticates its frames to
     * n2 with their pair's key, which only the two can check
     * (src/net/session.h). */
    snprintf(url, sizeof url, "127.0.0.1:%u", port(TAPPED));
    tap.reader = test_pki_ctx(test_dir, CLUSTER, "n2", url, 1);
    assert_int_equal(nng_pull0_open(&tap.in), 0);
    assert_int_equal(nng_socket_set_ms(tap.in, NNG_OPT_RECVTIMEO, 50), 0);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%u", port(TAPPED));
    assert_int_equal(nng_listen(tap.in, url, NULL, 0), 0);
    assert_int_equal(nng_push0_open(&tap.out), 0);
    /* Room for a burst while n2 reads slowly (an ASan agent on a busy
     * machine): a frame the tap drops is lost to the test's counts. */
    assert_int_equal(nng_socket_set_int(tap.out, NNG_OPT_SENDBUF, 1024), 0);
    snprintf(url, sizeof url, "tcp://127.0.0.2:%u", port(TAPPED));
    assert_int_equal(nng_dial(tap.out, url, NULL, NNG_FLAG_NONBLOCK), 0);
    assert_int_equal(pthread_create(&tap.thread, NULL, tap_run, NULL), 0);
}

static void tap_stop(void) {
    tap.stop = 1;
    pthread_join(tap.thread, NULL);
    nng_close(tap.in);
    nng_close(tap.out);
    frame_ctx_free(tap.reader);
}

/* The last frame of `channel` the tap kept (from `sender` unless NULL; of
 * command message kind `kind` unless -1). */
static int tap_take_kind(uint32_t channel, const char *sender, int kind, struct captured *c) {
    pthread_mutex_lock(&tap.lock);
    int found = 0;
    size_t n = tap.n_kept[channel], oldest = n > KEPT ? n - KEPT : 0;
    for (size_t i = n; i-- > oldest && !found;) {
        const struct captured *k = &tap.kept[channel][i % KEPT];
        if ((!sender || strcmp(k->sender, sender) == 0) && (kind < 0 || k->kind == kind)) {
            *c = *k;
            found = 1;
        }
    }
    pthread_mutex_unlock(&tap.lock);
    return found;
}

static int tap_take(uint32_t channel, const char *sender, struct captured *c) {
    return tap_take_kind(channel, sender, -1, c);
}

/* The newest frame of `channel` from `sender`, waiting up to 5 s for one:
 * the tap keeps the last KEPT of each channel, and under load another
 * sender's may have filled them. */
static int tap_wait(uint32_t channel, const char *sender, struct captured *c) {
    for (int tenths = 0; tenths < 50; tenths++) {
        if (tap_take(channel, sender, c))
            return 1;
        usleep(100000);
    }
    return 0;
}

/* The frame that carried command `id` to n2. */
static int tap_take_command(const char *id, struct captured *c) {
    pthread_mutex_lock(&tap.lock);
    int found = 0;
    size_t n = tap.n_kept[COMMANDS], oldest = n > KEPT ? n - KEPT : 0;
    for (size_t i = n; i-- > oldest && !found;)
        if (strcmp(tap.kept[COMMANDS][i % KEPT].id, id) == 0) {
            *c = tap.kept[COMMANDS][i % KEPT];
            found = 1;
        }
    pthread_mutex_unlock(&tap.lock);
    return found;
}

static void tap_forget(uint32_t channel) {
    pthread_mutex_lock(&tap.lock);
    tap.n_kept[channel] = 0;
    pthread_mutex_unlock(&tap.lock);
}

/* Sends the frames of c[0..n) at once to the agent listening at addr:p. */
static void send_captured(const char *addr, unsigned p, const struct captured *c, size_t n) {
    nng_socket s;
    char url[64];
    snprintf(url, sizeof url, "tcp://%s:%u", addr, p);
    assert_int_equal(nng_push0_open(&s), 0);
    assert_int_equal(nng_dial(s, url, NULL, 0), 0);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(nng_send(s, (void *)c[k].data, c[k].len, 0), 0);
    usleep(300000); /* let them leave before the socket closes */
    nng_close(s);
}

/* Sends raw frame bytes to the agent listening at addr:p. */
static void send_raw(const char *addr, unsigned p, const uint8_t *data, size_t len) {
    struct captured c;
    assert_true(len <= sizeof c.data);
    memcpy(c.data, data, len);
    c.len = len;
    send_captured(addr, p, &c, 1);
}

/* ---- agents ---- */

static void write_conf(int i, const char *name, const char *pki_lines) {
    char dir[PATH_MAX], text[4 * PATH_MAX], seeds[64] = "";
    snprintf(dir, sizeof dir, "%s/%s", test_dir, name);
    mkdir(dir, 0755);
    if (i != 1)
        snprintf(seeds, sizeof seeds, "seeds = 127.0.0.1:%u\n", port(1));
    snprintf(text, sizeof text,
             "[cluster]\nname = " CLUSTER "\n%scandidates = n1, n2, n3\n"
             "discovery = true\ndiscovery_port = %u\ndiscovery_interval = 500ms\n%s"
             "[node]\nname = %s\nbind_address = %s\nadvertise_address = 127.0.0.1\n"
             "port = %u\nstate_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 1s\n%s"
             /* Slower than the defaults: ASan agents on a busy machine must not
              * be suspected for being slow, so that a suspicion means a lost
              * frame. */
             "[gossip]\nprobe_interval = 500ms\nprobe_timeout = 300ms\nsuspicion_mult = 4\n"
             "push_pull_interval = 2s\n",
             pki_lines, discovery_port(), seeds, name, i == TAPPED ? "127.0.0.2" : "127.0.0.1",
             port(i), dir, dir,
             i == TAPPED ? "test://" NODECTL_TEST_DATA "/host-a.xml" : "test:///default",
             i == 1 ? "migration_uri = test:///default\n" : "");
    test_write_file(dir, "nodectl.conf", text, conf[i], sizeof conf[i]);
}

static void start(int i) {
    char log[PATH_MAX], name[16];
    snprintf(name, sizeof name, "n%d", i);
    snprintf(log, sizeof log, "%s/%s/agent.log", test_dir, name);
    pids[i] = agent_start(conf[i], log);
    assert_int_equal(agent_wait_ready(pids[i], conf[i], 15000), 0);
}

/* A counter from `nodectl status --json` of agent i: group "frames" or
 * "messages_refused"; -1 if it did not answer. */
static long counter(int i, const char *group, const char *name) {
    if (nodectl_run(conf[i], "status --json", out, sizeof out, err, sizeof err) != 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    long v = root ? (long)json_integer_value(json_object_get(json_object_get(root, group), name))
                  : -1;
    json_decref(root);
    return v;
}

static long refused_replays(int i) {
    return counter(i, "frames", "replay") + counter(i, "frames", "stale");
}

static long misdelivered(int i) {
    return counter(i, "frames", "misaddressed") + counter(i, "frames", "bad_pair_mac");
}

/* How many members agent i sees alive, or (up) alive or suspect. */
static int seen(int i, bool up) {
    if (nodectl_run(conf[i], "members --json", out, sizeof out, err, sizeof err) != 0)
        return -1;
    json_error_t jerr;
    json_t *arr = json_loads(out, 0, &jerr);
    int n = 0;
    for (size_t k = 0; k < json_array_size(arr); k++) {
        const char *st = json_string_value(json_object_get(json_array_get(arr, k), "state"));
        n += strcmp(st, "alive") == 0 || (up && strcmp(st, "suspect") == 0);
    }
    json_decref(arr);
    return n;
}

static int alive(int i) { return seen(i, false); }
/* Members not lost: a slow one may be suspected, none is dead or gone. */
static int up(int i) { return seen(i, true); }

static int all_see_all(int timeout_s) {
    for (int t = 0; t < timeout_s * 5; t++, usleep(200000)) {
        int ok = 1;
        for (int i = 1; i <= N && ok; i++)
            ok = alive(i) == N;
        if (ok)
            return 0;
    }
    return -1;
}

/* Lines of every agent's log that contain needle. */
static int in_logs(const char *needle) {
    int n = 0;
    for (int i = 1; i <= N; i++) {
        char log[PATH_MAX];
        snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
        n += count_lines_with(log, needle);
    }
    return n;
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    test_pki_host(test_dir, "tap", false, pki[0], sizeof pki[0]);
    for (int i = 1; i <= N; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        /* n3 is listed as a candidate, but not certified as one. */
        test_pki_host(test_dir, name, i <= 2, pki[i], sizeof pki[i]);
        write_conf(i, name, pki[i]);
    }
    tap_start();
    for (int i = 1; i <= N; i++)
        start(i);
    return all_see_all(60);
}

static int teardown(void **state) {
    for (int i = 1; i <= N + 2; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    tap_stop();
    return test_dir_teardown(state);
}

/* ---- replays ---- */

static int drained(int i, const char *host) {
    if (nodectl_run(conf[i], "status --json", out, sizeof out, err, sizeof err) != 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    json_t *members = json_object_get(root, "members");
    int d = -1;
    for (size_t k = 0; k < json_array_size(members); k++) {
        json_t *m = json_array_get(members, k);
        if (strcmp(json_string_value(json_object_get(m, "name")), host) == 0)
            d = json_is_true(json_object_get(m, "drain"));
    }
    json_decref(root);
    return d;
}

static int wait_drained(int i, const char *host, int want, int timeout_s) {
    for (int t = 0; t < timeout_s * 5; t++, usleep(200000))
        if (drained(i, host) == want)
            return 0;
    return -1;
}

static void captured_frames_replayed_are_refused(void **state) {
    /* Every kind reaches n2 through the tap: gossip, the leader's
     * heartbeats (or, if n2 leads, the answers), a drain command and its
     * grant (a drain typed on n1 is n1's to grant). */
    tap_forget(CHANNEL_COMMAND);
    tap_forget(COMMANDS);
    assert_int_equal(nodectl_run(conf[1], "drain n2", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(wait_drained(1, "n2", 1, 10), 0);
    struct captured f[4]; /* gossip, election, drain, grant */
    struct captured *drain = &f[2];
    assert_true(tap_take(COMMANDS, "n1", drain));
    assert_true(tap_take_kind(CHANNEL_COMMAND, "n1", COMMAND_MSG_GRANT, &f[3]));
    assert_int_equal(nodectl_run(conf[1], "undrain n2", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(wait_drained(1, "n2", 0, 10), 0);
    /* From n1: n4, the other host they go to below, must not be their
     * sender (it would drop them as its own). */
    assert_true(tap_wait(CHANNEL_GOSSIP, "n1", &f[0]));
    assert_true(tap_wait(CHANNEL_ELECTION, "n1", &f[1]));
    print_message("captured from n1: gossip, election, drain %s and its grant\n", drain->id);

    /* Later, to n2 itself. */
    sleep(1);
    long before = refused_replays(TAPPED);
    send_captured("127.0.0.2", port(TAPPED), f, 4);
    long after = before;
    for (int t = 0; t < 50 && after < before + 4; t++, usleep(200000))
        after = refused_replays(TAPPED);
    assert_int_equal(after - before, 4);
    assert_int_equal(drained(TAPPED, "n2"), 0); /* the drain did not run again */

    /* To another host (n4 neither sent nor received them): misaddressed, or,
     * under n1 and n2's pair key, which n4 cannot derive, unverifiable. */
    before = misdelivered(4);
    send_captured("127.0.0.1", port(4), f, 4);
    after = before;
    for (int t = 0; t < 25 && after < before + 4; t++, usleep(200000))
        after = misdelivered(4);
    assert_int_equal(after - before, 4);
    assert_int_equal(drained(4, "n4"), 0);
}

/* Lines of agent i's log that contain needle. */
static int log_lines(int i, const char *needle) {
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
    return count_lines_with(log, needle);
}

/* How often n2 carried out n1's command id, and how often it refused it. */
static int acted(const char *id) {
    char all[128], refused[128];
    snprintf(all, sizeof all, "command %s from n1 (term", id);
    snprintf(refused, sizeof refused, "refused command %s from n1 (term", id);
    return log_lines(TAPPED, all) - log_lines(TAPPED, refused);
}

static int refusals(const char *id) {
    char needle[128];
    snprintf(needle, sizeof needle, "refused command %s from n1", id);
    return log_lines(TAPPED, needle);
}

/* An operator on n1 migrates vm from n2 to n1 (the test driver refuses to
 * migrate: each is an action in n2's record, refused by libvirt) and waits
 * until n2 carried it out (1) or refused it (0); -1 if n2 never heard of it
 * (a lost frame). Copies its id. */
static int migrate_once(const char *vm, char *id, size_t len) {
    char args[64];
    snprintf(args, sizeof args, "migrate %s n1", vm);
    /* n1 refuses while n2's record still shows the last one running. */
    int rc = 1;
    for (int t = 0; t < 50 && rc != 0; t++) {
        rc = nodectl_run(conf[1], args, out, sizeof out, err, sizeof err);
        if (rc != 0 && !strstr(err, "is already migrating"))
            fail_msg("nodectl %s: %s", args, err);
        if (rc != 0)
            usleep(200000);
    }
    assert_int_equal(rc, 0);
    const char *p = strstr(out, "(command ");
    assert_non_null(p);
    snprintf(id, len, "%.*s", (int)strcspn(p + 9, ")"), p + 9);
    /* Past the guard's timeout: a command without a grant is refused. */
    for (int t = 0; t < 40 && acted(id) + refusals(id) < 1; t++)
        usleep(200000);
    int a = acted(id), r = refusals(id);
    assert_true(a + r <= 1);
    return a + r == 0 ? -1 : a;
}

static long refused_frames_n2(void) {
    return refused_replays(TAPPED) + counter(TAPPED, "frames", "old_epoch");
}

/* Sends each captured frame to n2 again, and waits until n2 refused each:
 * the command (or, when its issuer's answer to the first taught n2 a newer
 * epoch of n1 before n2 read the next, the frame). */
static void replay_commands(const struct captured *c, size_t n, const int *refused_before) {
    long frames_before = refused_frames_n2();
    send_captured("127.0.0.2", port(TAPPED), c, n);
    size_t done = 0;
    long frames = 0;
    for (int t = 0; t < 100 && done + (size_t)frames < n; t++, usleep(200000)) {
        done = 0;
        for (size_t k = 0; k < n; k++)
            done += refusals(c[k].id) > refused_before[k];
        frames = refused_frames_n2() - frames_before;
    }
    if (done + (size_t)frames < n)
        fail_msg("n2 refused %zu of the %zu replayed commands, and %ld frames", done, n, frames);
}

/* n2 restarts hearing only the command channel: no fresher frame from n1
 * shows its replay window where n1's sequence stands, so a captured frame
 * of n1's passes the frame layer and only the command's grant decides. */
static void restart_n2_deaf(void) {
    tap.hold = 1;
    assert_int_equal(agent_stop(pids[TAPPED], SIGTERM, 10000), 0);
    start(TAPPED);
}

/* An operator's migration and drain, captured on their way to n2 and sent
 * again after 32 other actions of n2, after n2 restarted and after their
 * issuer n1 restarted, never run again: n2 needs a grant for every command
 * id it has not seen, and n1 grants an operator's id once, in the life it
 * issued it. */
static void a_captured_operator_command_runs_once(void **state) {
    struct captured cmd[2];
    /* A grant slower than the guard's retry can be spent on the first ask
     * and refused on the second: the operator types it again. */
    bool ran = false;
    for (int k = 0; k < 3 && !ran; k++)
        ran = migrate_once("db-1", cmd[0].id, sizeof cmd[0].id) == 1;
    assert_true(ran);
    assert_true(tap_take_command(cmd[0].id, &cmd[0]));
    tap_forget(COMMANDS);
    assert_int_equal(nodectl_run(conf[1], "drain n2", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(wait_drained(1, "n2", 1, 10), 0);
    assert_true(tap_take(COMMANDS, "n1", &cmd[1]));
    assert_int_equal(acted(cmd[1].id), 1);
    assert_int_equal(nodectl_run(conf[1], "undrain n2", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(wait_drained(1, "n2", 0, 10), 0);
    print_message("captured: migrate %s, drain %s\n", cmd[0].id, cmd[1].id);

    /* More actions than n2's record keeps (ACTIONS_MAX, 32). */
    for (int k = 0, lost = 0; k < 33; k++) {
        char id[COMMAND_ID_MAX];
        if (migrate_once(k % 2 ? "web-1" : "db-1", id, sizeof id) < 0) {
            assert_true(++lost < 5);
            k--;
        }
    }
    int refused[2] = {refusals(cmd[0].id), refusals(cmd[1].id)};
    long before = refused_replays(TAPPED);
    send_captured("127.0.0.2", port(TAPPED), cmd, 2);
    long after = before;
    for (int t = 0; t < 50 && after < before + 2; t++, usleep(200000))
        after = refused_replays(TAPPED);
    assert_int_equal(after - before, 2);

    /* n2 forgot every frame and command id it saw. */
    restart_n2_deaf();
    before = refused_replays(TAPPED);
    replay_commands(cmd, 2, refused);
    assert_int_equal(refused_replays(TAPPED), before); /* the frame layer let them pass */
    refused[0] = refusals(cmd[0].id);
    refused[1] = refusals(cmd[1].id);

    /* The issuer forgot what it granted too: its frame from its last life
     * reaches n2, which has not heard its new one. */
    tap.hold = 0;
    assert_int_equal(agent_stop(pids[1], SIGTERM, 10000), 0);
    start(1);
    restart_n2_deaf();
    replay_commands(cmd, 2, refused);
    tap.hold = 0;
    assert_int_equal(acted(cmd[0].id), 1);
    assert_int_equal(acted(cmd[1].id), 1);
    assert_int_equal(drained(TAPPED, "n2"), 0);
}

static int n2_hears_all_again(void **state) {
    tap.hold = 0;
    return all_see_all(60);
}

static void a_frame_from_before_its_senders_restart_is_old(void **state) {
    struct captured old;
    assert_true(tap_wait(CHANNEL_GOSSIP, "n4", &old));
    assert_int_equal(agent_stop(pids[4], SIGTERM, 10000), 0);
    start(4);
    assert_int_equal(all_see_all(30), 0);
    /* n2 has heard n4's new epoch by now (probes, gossip). */
    struct captured fresh = {0};
    for (int t = 0; t < 50; t++, usleep(100000))
        if (tap_take(CHANNEL_GOSSIP, "n4", &fresh) && fresh.epoch > old.epoch)
            break;
    assert_true(fresh.epoch > old.epoch);
    usleep(300000); /* forwarded to n2 after the tap kept it */
    long before = counter(TAPPED, "frames", "old_epoch");
    send_raw("127.0.0.2", port(TAPPED), old.data, old.len);
    long after = before;
    for (int t = 0; t < 25 && after == before; t++, usleep(200000))
        after = counter(TAPPED, "frames", "old_epoch");
    assert_int_equal(after - before, 1);
}

/* A listener in the discovery group takes one beacon and sends it again:
 * every agent refuses it, and n3 refuses it on its TCP port. */
static void a_replayed_beacon_is_refused(void **state) {
    int raw = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(raw, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in grp = {.sin_family = AF_INET, .sin_port = htons(discovery_port())};
    inet_pton(AF_INET, "239.192.0.77", &grp.sin_addr);
    assert_int_equal(bind(raw, (struct sockaddr *)&grp, sizeof grp), 0);
    struct ip_mreq mreq = {.imr_multiaddr = grp.sin_addr};
    inet_pton(AF_INET, "127.0.0.1", &mreq.imr_interface);
    assert_int_equal(setsockopt(raw, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq), 0);
    assert_int_equal(setsockopt(raw, IPPROTO_IP, IP_MULTICAST_IF, &mreq.imr_interface,
                                sizeof mreq.imr_interface), 0);
    uint8_t beacon[2048];
    ssize_t n = recv(raw, beacon, sizeof beacon, 0);
    assert_true(n > 0);
    sleep(1);
    long before[N + 1];
    for (int i = 1; i <= N; i++)
        before[i] = refused_replays(i);
    assert_int_equal(sendto(raw, beacon, (size_t)n, 0, (struct sockaddr *)&grp, sizeof grp), n);
    sleep(1);
    /* Its sender drops it as its own (as it does its every beacon, looped
     * back); every other agent refuses it as a replay. */
    long replays = 0;
    int sender = 0;
    for (int i = 1; i <= N; i++) {
        long d = refused_replays(i) - before[i];
        assert_true(d == 0 || d == 1);
        replays += d;
        if (d == 0)
            sender = i;
    }
    assert_int_equal(replays, N - 1);
    /* On a TCP port it is misaddressed: "*" is for discovery only. */
    int to = sender == 3 ? 4 : 3;
    long tcp_before = counter(to, "frames", "misaddressed");
    send_raw("127.0.0.1", port(to), beacon, (size_t)n);
    long after = tcp_before;
    for (int t = 0; t < 25 && after == tcp_before; t++, usleep(200000))
        after = counter(to, "frames", "misaddressed");
    assert_int_equal(after - tcp_before, 1);
    close(raw);
}

/* ---- identities ---- */

static void a_certificate_for_another_name_or_ca_is_not_admitted(void **state) {
    /* n6 holds a certificate that the CA made for its key, but as "n2". */
    char lines[3 * PATH_MAX], cmd[4 * PATH_MAX];
    test_pki_host(test_dir, "n6", false, lines, sizeof lines);
    snprintf(cmd, sizeof cmd,
             "pk=$(\"$NODECTL\" identity init --key '%s/pki/n6/host.key' 2>/dev/null) && "
             "\"$NODECTL\" ca sign --ca '%s/pki/ca' -o '%s/pki/n6/host.cert' n2 \"$pk\"",
             test_dir, test_dir, test_dir);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    write_conf(6, "n6", lines);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/n6/agent.log", test_dir);
    pid_t p = agent_start(conf[6], log);
    assert_int_equal(agent_wait_exit(p, 10000), 2);
    assert_int_equal(count_lines_with(log, "certifies host 'n2', but this host is 'n6'"), 1);

    /* n7 has a CA of its own: it runs, but no frame of it is believed. */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/other' && cd '%s/other' && "
             "\"$NODECTL\" ca init ca >/dev/null 2>&1 && \"$NODECTL\" keygen >/dev/null && "
             "pk=$(\"$NODECTL\" identity init --key host.key 2>/dev/null) && "
             "\"$NODECTL\" ca sign --ca ca -o host.cert n7 \"$pk\" 2>/dev/null",
             test_dir, test_dir);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    snprintf(lines, sizeof lines,
             "ca_file = %s/other/ca/ca.pub\ncert_file = %s/other/host.cert\n"
             "host_key_file = %s/other/host.key\nkey_file = %s/pki/cluster.key\n"
             "keyring_file = %s/other/keyring\n",
             test_dir, test_dir, test_dir, test_dir, test_dir);
    write_conf(7, "n7", lines);
    long before = counter(1, "frames", "bad_certificate");
    start(7);
    sleep(3);
    for (int i = 1; i <= N; i++)
        assert_int_equal(up(i), N);
    assert_true(counter(1, "frames", "bad_certificate") > before);
    assert_int_equal(agent_stop(pids[7], SIGTERM, 5000), 0);
    pids[7] = 0;

    /* A frame that claims to come from n5 under the tap's certificate. */
    char ca[PATH_MAX], key[PATH_MAX], cert[PATH_MAX], ckey[PATH_MAX], none[PATH_MAX];
    snprintf(ca, sizeof ca, "%s/pki/ca/ca.pub", test_dir);
    snprintf(key, sizeof key, "%s/pki/tap/host.key", test_dir);
    snprintf(cert, sizeof cert, "%s/pki/tap/host.cert", test_dir);
    snprintf(ckey, sizeof ckey, "%s/pki/cluster.key", test_dir);
    snprintf(none, sizeof none, "%s/pki/tap/none", test_dir);
    struct pki_identity id;
    struct keyring ring;
    bool from_key_file;
    char e[3 * PATH_MAX];
    assert_int_equal(pki_load_identity(ca, key, cert, "tap", (uint64_t)time(NULL), &id, e,
                                       sizeof e), 0);
    assert_int_equal(keyring_load(none, ckey, &ring, &from_key_file, e, sizeof e), 0);
    char to[32], from[32];
    snprintf(to, sizeof to, "127.0.0.1:%u", port(1));
    snprintf(from, sizeof from, "127.0.0.1:%u", port(5));
    struct frame_fields f = {.channel = CHANNEL_GOSSIP, .epoch = 1, .seq = 1, .cluster = CLUSTER,
                             .to = to, .from = from, .name = "n5", .cert = id.cert,
                             .cert_len = id.cert_len};
    uint8_t frame[2048];
    size_t n = frame_encode(&f, ring.key[0], ring.id[0], id.sk, frame);
    assert_true(n > 0);
    before = counter(1, "frames", "name_mismatch");
    send_raw("127.0.0.1", port(1), frame, n);
    long after = before;
    for (int t = 0; t < 25 && after == before; t++, usleep(200000))
        after = counter(1, "frames", "name_mismatch");
    assert_int_equal(after - before, 1);
}

static void a_candidate_without_a_candidate_certificate_is_ignored(void **state) {
    /* n1 and n2 make the majority of 3; n3 campaigns, or answers, in vain. */
    long refused = 0;
    for (int t = 0; t < 50 && refused == 0; t++, usleep(200000))
        refused = counter(1, "messages_refused", "election_not_candidate") +
                  counter(2, "messages_refused", "election_not_candidate");
    assert_true(refused > 0);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/n3/agent.log", test_dir);
    assert_int_equal(nodectl_expect(conf[3], "status", "WARNING: this host is in [cluster] "
                                    "candidates but its certificate", 5, log, out, sizeof out,
                                    err, sizeof err), 0);
    for (int i = 1; i <= N; i++) {
        assert_int_equal(nodectl_run(conf[i], "status --json", out, sizeof out, err,
                                     sizeof err), 0);
        assert_null(strstr(out, "\"leader\": \"n3\""));
    }
    assert_int_equal(nodectl_run_until(conf[4], "status", "leader:  n", 20, out, sizeof out, err,
                                       sizeof err), 0);
}

/* ---- a rolling key change ---- */

/* Runs `nodectl keys ARGS` on agent i; its exit code. */
static int keys(int i, const char *args) {
    char a[256];
    snprintf(a, sizeof a, "keys %s", args);
    return nodectl_run(conf[i], a, out, sizeof out, err, sizeof err);
}

/* `keys list` on agent 1 says of key id: hosts that have it and that seal
 * with it. */
static void key_hosts(const char *id, long *hosts, long *primary) {
    *hosts = *primary = -1;
    if (keys(1, "list --json") != 0)
        return;
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    json_t *list = json_object_get(root, "keys");
    *hosts = *primary = 0;
    for (size_t k = 0; k < json_array_size(list); k++) {
        json_t *o = json_array_get(list, k);
        if (strcmp(json_string_value(json_object_get(o, "id")), id) == 0) {
            *hosts = (long)json_integer_value(json_object_get(o, "hosts"));
            *primary = (long)json_integer_value(json_object_get(o, "primary_hosts"));
        }
    }
    json_decref(root);
}

static int wait_key(const char *id, long hosts, long primary) {
    long h, p;
    for (int t = 0; t < 100; t++, usleep(200000)) {
        key_hosts(id, &h, &p);
        if (h == hosts && p == primary)
            return 0;
        assert_int_equal(up(1), N); /* checked all along */
    }
    fprintf(stderr, "key %s: %ld hosts, %ld primary; wanted %ld, %ld\n", id, h, p, hosts,
            primary);
    return -1;
}

static long refused_frames(void) {
    long sum = 0;
    for (int i = 1; i <= N; i++)
        sum += counter(i, "frames", "unknown_key") + counter(i, "frames", "bad_mac");
    return sum;
}

static void a_rolling_key_change_loses_no_member(void **state) {
    char path[PATH_MAX], old_id[16] = "", new_id[16] = "", args[PATH_MAX + 32];
    assert_int_equal(keys(1, "list --json"), 0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    snprintf(old_id, sizeof old_id, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(root, "keys"), 0),
                                               "id")));
    json_decref(root);
    snprintf(path, sizeof path, "%s/pki/new.key", test_dir);
    snprintf(args, sizeof args, "\"$NODECTL\" keygen '%s'", path);
    assert_int_equal(run_capture(args, out, sizeof out, err, sizeof err), 0);
    int suspected = in_logs("-> suspect"), dead = in_logs("-> dead");
    long refused = refused_frames();

    /* 1. Install everywhere. Using it before is refused while hosts lack it. */
    snprintf(args, sizeof args, "install %s", path);
    assert_int_equal(keys(1, args), 0);
    char *id = strstr(out, "installed key ");
    assert_non_null(id);
    snprintf(new_id, sizeof new_id, "%.8s", id + strlen("installed key "));
    snprintf(args, sizeof args, "use %s", new_id);
    assert_int_equal(keys(1, args), 1);
    assert_non_null(strstr(err, "is not installed on 4 live member(s)"));
    snprintf(args, sizeof args, "install %s", path);
    for (int i = 2; i <= N; i++) {
        assert_int_equal(keys(i, args), 0);
        assert_int_equal(up(i), N);
    }
    assert_int_equal(wait_key(new_id, N, 0), 0);

    /* 2. Use it everywhere; then the old one is nobody's primary. */
    snprintf(args, sizeof args, "remove %s", old_id);
    assert_int_equal(keys(2, args), 1);
    assert_non_null(strstr(err, "is still the primary key of 5 live member(s)"));
    snprintf(args, sizeof args, "remove %s --force", old_id);
    assert_int_equal(keys(2, args), 1);
    assert_non_null(strstr(err, "is the primary key; make another key primary first"));
    snprintf(args, sizeof args, "use %s", new_id);
    for (int i = 1; i <= N; i++) {
        assert_int_equal(keys(i, args), 0);
        assert_int_equal(up(i), N);
    }
    assert_int_equal(wait_key(new_id, N, N), 0);
    assert_int_equal(wait_key(old_id, N, 0), 0);
    snprintf(args, sizeof args, "remove %s", new_id);
    assert_int_equal(keys(3, args), 1);
    assert_non_null(strstr(err, "is still the primary key of 5 live member(s)"));

    /* 3. Remove the old one everywhere. */
    snprintf(args, sizeof args, "remove %s", old_id);
    for (int i = 1; i <= N; i++) {
        assert_int_equal(keys(i, args), 0);
        assert_int_equal(up(i), N);
    }
    assert_int_equal(wait_key(old_id, 0, 0), 0);
    assert_int_equal(all_see_all(5), 0);
    sleep(2); /* several probe rounds under the new key alone */
    assert_int_equal(all_see_all(1), 0);
    /* No frame was refused for its key: no host ever sealed with a key
     * another lacked. No member died; a suspicion would be a slow host. */
    assert_int_equal(refused_frames(), refused);
    assert_int_equal(in_logs("-> dead"), dead);
    print_message("suspicions during the key change: %d\n", in_logs("-> suspect") - suspected);
    /* The keyring survives a restart: n5 comes back under the new key. */
    assert_int_equal(agent_stop(pids[5], SIGTERM, 10000), 0);
    start(5);
    assert_int_equal(all_see_all(30), 0);
}

int main(void) {
    if (netns_private_loopback() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(captured_frames_replayed_are_refused),
        cmocka_unit_test_teardown(a_captured_operator_command_runs_once, n2_hears_all_again),
        cmocka_unit_test(a_frame_from_before_its_senders_restart_is_old),
        cmocka_unit_test(a_replayed_beacon_is_refused),
        cmocka_unit_test(a_certificate_for_another_name_or_ca_is_not_admitted),
        cmocka_unit_test(a_candidate_without_a_candidate_certificate_is_ignored),
        cmocka_unit_test(a_rolling_key_change_loses_no_member),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
