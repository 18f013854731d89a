/* Failover time of the leader election with real agents:
 * `kill -9` the leader of a loopback cluster again and again, and time from
 * the kill until another agent holds a leader lease (it may act). The agents
 * are polled over their control sockets every few milliseconds.
 *
 *   election_failover DIR KILLS HEARTBEAT_MS ELECTION_TIMEOUT_MS [AGENTS]
 *
 * Prints one line of figures; bench/election.sh runs it for nodectl's
 * defaults and for an etcd-style configuration side by side. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "net/control.h"

#define MAX_AGENTS 9

static char conf[MAX_AGENTS + 1][PATH_MAX], sock[MAX_AGENTS + 1][PATH_MAX];
static pid_t pids[MAX_AGENTS + 1];
static char pki[MAX_AGENTS + 1][3 * PATH_MAX];
static int agents;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start(const char *dir, int i, unsigned base, unsigned hb, unsigned et) {
    char d[512], text[4 * PATH_MAX], log[PATH_MAX];
    if (snprintf(d, sizeof d, "%s/n%d", dir, i) >= (int)sizeof d) {
        fprintf(stderr, "%s: path too long\n", dir);
        exit(2);
    }
    mkdir(d, 0755);
    snprintf(text, sizeof text,
             "[cluster]\nname = bench\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1, n2, n3\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test:///default\nsample_interval = 5s\n"
             "[election]\nheartbeat_interval = %ums\nelection_timeout = %ums\n",
             pki[i], base, i, base + (unsigned)i - 1, d, d, hb, et);
    snprintf(conf[i], sizeof conf[i], "%s/nodectl.conf", d);
    snprintf(sock[i], sizeof sock[i], "%s/ctl.sock", d);
    FILE *f = fopen(conf[i], "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(conf[i]);
        exit(1);
    }
    snprintf(log, sizeof log, "%s/agent.log", d);
    pids[i] = agent_start(conf[i], log);
    if (agent_wait_ready(pids[i], conf[i], 10000) != 0) {
        fprintf(stderr, "agent %d did not start; see %s\n", i, log);
        exit(1);
    }
}

/* How many agents name `leader` (1-based index) as the leader. */
static int followers_of(int leader) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__StatusRequest body = NODECTL__STATUS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_STATUS;
    req.status = &body;
    char name[16];
    snprintf(name, sizeof name, "n%d", leader);
    int n = 0;
    for (int i = 1; i <= agents; i++) {
        char err[256];
        Nodectl__Response *r = control_call(sock[i], &req, 200, err, sizeof err);
        n += r && r->status && strcmp(r->status->leader, name) == 0;
        if (r)
            nodectl__response__free_unpacked(r, NULL);
    }
    return n;
}

/* The agent that holds a lease now, or 0. */
static int lease_holder(void) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__StatusRequest body = NODECTL__STATUS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_STATUS;
    req.status = &body;
    for (int i = 1; i <= 3; i++) {
        if (pids[i] <= 0)
            continue;
        char err[256];
        Nodectl__Response *r = control_call(sock[i], &req, 200, err, sizeof err);
        int lease = r && r->status && r->status->lease;
        if (r)
            nodectl__response__free_unpacked(r, NULL);
        if (lease)
            return i;
    }
    return 0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s DIR KILLS HEARTBEAT_MS ELECTION_TIMEOUT_MS [AGENTS]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int kills = atoi(argv[2]);
    unsigned hb = (unsigned)atoi(argv[3]), et = (unsigned)atoi(argv[4]);
    agents = argc > 5 ? atoi(argv[5]) : 5;
    if (kills < 1 || agents < 3 || agents > MAX_AGENTS) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    /* Below the ephemeral port range (32768-60999). */
    unsigned base = 10000 + (unsigned)(getpid() % 900) * 10;
    test_pki_cluster(dir);
    for (int i = 1; i <= agents; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        test_pki_host(dir, name, i <= 3, pki[i], sizeof pki[i]);
    }
    for (int i = 1; i <= agents; i++)
        start(dir, i, base, hb, et);
    double *t = calloc((size_t)kills, sizeof *t);
    int done = 0, failed = 0;
    for (int k = 0; k < kills; k++) {
        int leader = 0;
        for (double until = now_s() + 30; !leader && now_s() < until; usleep(20000))
            leader = lease_holder();
        if (!leader) {
            fprintf(stderr, "no leader with a lease after 30 s\n");
            failed++;
            break;
        }
        /* Steady state first: every agent, the one restarted last too,
         * follows this leader. */
        for (double until = now_s() + 30; followers_of(leader) < agents && now_s() < until;)
            usleep(20000);
        double t0 = now_s();
        kill(pids[leader], SIGKILL);
        agent_wait_exit(pids[leader], 5000);
        pids[leader] = 0;
        int next = 0;
        while (!next && now_s() - t0 < 30) {
            next = lease_holder();
            if (!next)
                usleep(2000);
        }
        if (!next) {
            failed++;
        } else {
            t[done++] = now_s() - t0;
        }
        start(dir, leader, base, hb, et);
    }
    qsort(t, (size_t)done, sizeof *t, cmp);
    double sum = 0;
    for (int i = 0; i < done; i++)
        sum += t[i];
    printf("heartbeat %u ms, election timeout %u ms, %d agents (3 candidates): %d kills, %d "
           "without a new leader; failover p50 %.3f s, p99 %.3f s, max %.3f s, mean %.3f s\n",
           hb, et, agents, done, failed, done ? t[done / 2] : 0,
           done ? t[(int)((done - 1) * 0.99 + 0.5)] : 0, done ? t[done - 1] : 0,
           done ? sum / done : 0);
    for (int i = 1; i <= agents; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    free(t);
    return failed ? 1 : 0;
}
