#include "flood.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_process.h"
#include "net/control.h"

enum conn_state { CONNECTING, OPEN, CLOSED };

struct conn {
    int fd;
    enum conn_state state;
    int slow;
    int headed;    /* slow: the SP and length headers went out */
    uint64_t sent; /* slow: bytes of the frame sent */
};

struct flood {
    struct conn *c;
    size_t n;
    uint64_t announce;
    struct pollfd *pfd;
    struct flood_counts counts;
};

long flood_rss_kib(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

long flood_agent_side(uint16_t port, const char *from) {
    struct in_addr a;
    if (inet_pton(AF_INET, from, &a) != 1)
        return -1;
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return -1;
    char line[512];
    long n = 0;
    unsigned lip, lport, rip, rport, st;
    while (fgets(line, sizeof line, f))
        /* "sl: local rem st ...": addresses in hex, the IPv4 address as the
         * kernel stores it (network order read as a host integer). */
        if (sscanf(line, " %*u: %x:%x %x:%x %x", &lip, &lport, &rip, &rport, &st) == 5 &&
            lport == port && rip == a.s_addr && st == 1 /* TCP_ESTABLISHED */)
            n++;
    fclose(f);
    return n;
}

static int connect_from(const struct sockaddr_in *src, const struct sockaddr_in *dst) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (const struct sockaddr *)src, sizeof *src) != 0 ||
        (connect(fd, (const struct sockaddr *)dst, sizeof *dst) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

struct flood *flood_open(const char *from, const char *to, uint16_t port, size_t n_idle,
                         size_t n_slow, uint64_t announce) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET,
                                                             .sin_port = htons(port)};
    if (inet_pton(AF_INET, from, &src.sin_addr) != 1 || inet_pton(AF_INET, to, &dst.sin_addr) != 1) {
        fprintf(stderr, "flood: %s or %s is not an IPv4 address\n", from, to);
        return NULL;
    }
    struct flood *f = calloc(1, sizeof *f);
    size_t n = n_idle + n_slow;
    if (!f || !(f->c = calloc(n ? n : 1, sizeof *f->c)) ||
        !(f->pfd = calloc(n ? n : 1, sizeof *f->pfd))) {
        fprintf(stderr, "flood: out of memory\n");
        flood_close(f);
        return NULL;
    }
    f->announce = announce;
    /* Alternate idle and slow ones, so that both meet the agent's limits. */
    size_t idle_left = n_idle, slow_left = n_slow;
    for (size_t i = 0; i < n; i++) {
        int fd = connect_from(&src, &dst);
        if (fd < 0) {
            fprintf(stderr, "flood: connection %zu from %s: %s\n", i, from, strerror(errno));
            f->n = i;
            flood_close(f);
            return NULL;
        }
        int slow = slow_left && (!idle_left || i % 2);
        (slow ? &slow_left : &idle_left)[0]--;
        f->c[i] = (struct conn){.fd = fd, .state = CONNECTING, .slow = slow};
        f->n = i + 1;
    }
    flood_trickle(f);
    return f;
}

static void closed(struct flood *f, struct conn *c, int failed) {
    c->state = CLOSED;
    close(c->fd);
    c->fd = -1;
    if (failed)
        f->counts.failed++;
}

/* The SP handshake of a push socket (nng's TCP transport: 0, 'S', 'P', 0,
 * protocol 0x50 = push v0, 0, 0), then the frame's length, big-endian. */
static void send_headers(struct flood *f, struct conn *c) {
    uint8_t h[16] = {0, 'S', 'P', 0, 0x00, 0x50, 0, 0};
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)(f->announce >> (56 - 8 * i));
    if (send(c->fd, h, sizeof h, MSG_NOSIGNAL) == (ssize_t)sizeof h)
        c->headed = 1;
    else if (errno != EAGAIN)
        closed(f, c, 0);
}

/* All of the frame but its last FLOOD_HELD bytes at once, so that the
 * buffer the receiver allocated is filled (its pages resident), then one
 * byte per call. */
#define FLOOD_HELD 64

static void send_body(struct flood *f, struct conn *c) {
    static const uint8_t junk[4096];
    uint64_t rush = f->announce > FLOOD_HELD ? f->announce - FLOOD_HELD : 0;
    while (c->sent < rush) {
        uint64_t left = rush - c->sent;
        ssize_t n = send(c->fd, junk, left < sizeof junk ? (size_t)left : sizeof junk,
                         MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN)
                closed(f, c, 0);
            return;
        }
        c->sent += (uint64_t)n;
    }
    if (c->sent >= f->announce)
        return;
    if (send(c->fd, junk, 1, MSG_NOSIGNAL) == 1)
        c->sent++;
    else if (errno != EAGAIN)
        closed(f, c, 0);
}

void flood_trickle(struct flood *f) {
    for (size_t i = 0; i < f->n; i++) {
        f->pfd[i].fd = f->c[i].state == CLOSED ? -1 : f->c[i].fd;
        f->pfd[i].events = POLLIN | (f->c[i].state == CONNECTING ? POLLOUT : 0);
        f->pfd[i].revents = 0;
    }
    if (poll(f->pfd, (nfds_t)f->n, 0) < 0)
        return;
    for (size_t i = 0; i < f->n; i++) {
        struct conn *c = &f->c[i];
        short ev = f->pfd[i].revents;
        if (c->state == CLOSED)
            continue;
        if (c->state == CONNECTING && (ev & (POLLOUT | POLLERR | POLLHUP))) {
            int soerr = 0;
            socklen_t len = sizeof soerr;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            if (soerr) {
                closed(f, c, 1);
                continue;
            }
            c->state = OPEN;
        }
        if (ev & POLLIN) {
            uint8_t buf[256];
            ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                closed(f, c, 0);
                continue;
            }
        }
        if ((ev & (POLLHUP | POLLERR)) && c->state == OPEN) {
            closed(f, c, 0);
            continue;
        }
        if (c->state != OPEN || !c->slow)
            continue;
        if (!c->headed)
            send_headers(f, c);
        if (c->state == OPEN && c->headed)
            send_body(f, c);
    }
    f->counts.idle_open = f->counts.slow_open = f->counts.connecting = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->c[i].state == OPEN)
            (f->c[i].slow ? &f->counts.slow_open : &f->counts.idle_open)[0]++;
        f->counts.connecting += f->c[i].state == CONNECTING;
    }
}

struct flood_counts flood_counts(const struct flood *f) { return f->counts; }

void flood_close(struct flood *f) {
    if (!f)
        return;
    for (size_t i = 0; f->c && i < f->n; i++)
        if (f->c[i].state != CLOSED)
            close(f->c[i].fd);
    free(f->c);
    free(f->pfd);
    free(f);
}

#define AGENTS 3

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static Nodectl__Response *status_of(const char *sock) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__StatusRequest body = NODECTL__STATUS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_STATUS;
    req.status = &body;
    char err[256];
    Nodectl__Response *r = control_call(sock, &req, 1000, err, sizeof err);
    if (r && !r->status) {
        nodectl__response__free_unpacked(r, NULL);
        r = NULL;
    }
    return r;
}

static int alive_members(const Nodectl__StatusReply *st) {
    int n = 0;
    for (size_t i = 0; i < st->n_members; i++)
        n += strcmp(st->members[i]->state, "alive") == 0;
    return n;
}

/* Whether the agent at sock sees host `name` drained. */
static int sees_drained(const char *sock, const char *name) {
    Nodectl__Response *r = status_of(sock);
    int yes = 0;
    for (size_t i = 0; r && i < r->status->n_members; i++)
        yes |= strcmp(r->status->members[i]->host->name, name) == 0 &&
               r->status->members[i]->host->drain;
    if (r)
        nodectl__response__free_unpacked(r, NULL);
    return yes;
}

static int drain_self(const char *sock, const char *name) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__DrainRequest body = NODECTL__DRAIN_REQUEST__INIT;
    body.host = (char *)name;
    body.drain = 1;
    req.body_case = NODECTL__REQUEST__BODY_DRAIN;
    req.drain = &body;
    char err[256];
    Nodectl__Response *r = control_call(sock, &req, 2000, err, sizeof err);
    int ok = r && r->drain;
    if (!ok)
        fprintf(stderr, "flood: drain %s: %s\n", name,
                r && r->error ? r->error->message : err);
    if (r)
        nodectl__response__free_unpacked(r, NULL);
    return ok ? 0 : -1;
}

static pid_t start_agent(const struct flood_plan *p, int i, char *sock) {
    char d[PATH_MAX / 2], text[2 * PATH_MAX], conf[PATH_MAX], log[PATH_MAX];
    if (snprintf(d, sizeof d, "%s/n%d", p->dir, i) >= (int)sizeof d) {
        fprintf(stderr, "flood: %s: path too long\n", p->dir);
        return -1;
    }
    mkdir(d, 0755);
    snprintf(text, sizeof text,
             "[cluster]\nname = flood\ninsecure = true\ndiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1, n2, n3\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test:///default\nsample_interval = 1s\n",
             p->base, i, p->base + (unsigned)i - 1, d, d);
    snprintf(conf, sizeof conf, "%s/nodectl.conf", d);
    snprintf(log, sizeof log, "%s/agent.log", d);
    snprintf(sock, PATH_MAX, "%s/ctl.sock", d);
    FILE *f = fopen(conf, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(conf);
        return -1;
    }
    pid_t pid = agent_start(conf, log);
    if (agent_wait_ready(pid, conf, 15000) != 0) {
        fprintf(stderr, "flood: agent n%d did not start; see %s\n", i, log);
        return -1;
    }
    return pid;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

void flood_run(const struct flood_plan *p, struct flood_result *res) {
    memset(res, 0, sizeof *res);
    res->inbound_s = res->outbound_s = -1;
    char sock[AGENTS + 1][PATH_MAX];
    pid_t pid[AGENTS + 1] = {0};
    /* systemd starts services with 1024 descriptors (soft) and a large hard
     * limit; the agents inherit the same. */
    struct rlimit saved, rl;
    getrlimit(RLIMIT_NOFILE, &saved);
    rl = saved;
    if (rl.rlim_cur > 1024)
        rl.rlim_cur = 1024;
    setrlimit(RLIMIT_NOFILE, &rl);
    int ok = 1;
    for (int i = 1; ok && i <= AGENTS; i++)
        ok = (pid[i] = start_agent(p, i, sock[i])) > 0;
    setrlimit(RLIMIT_NOFILE, &saved);
    double t0 = now_s();
    while (ok) {
        Nodectl__Response *r = status_of(sock[1]);
        int whole = r && alive_members(r->status) == AGENTS;
        if (r)
            nodectl__response__free_unpacked(r, NULL);
        if (whole)
            break;
        if (now_s() - t0 > 20) {
            fprintf(stderr, "flood: the cluster did not form within 20 s\n");
            ok = 0;
        }
        sleep_s(0.2);
    }
    struct flood *f = NULL;
    if (ok) {
        sleep_s(2);
        res->rss_before_kib = flood_rss_kib(pid[1]);
        f = flood_open(p->from, "127.0.0.1", (uint16_t)p->base, p->idle, p->slow, p->announce);
        ok = f != NULL;
    }
    res->started = ok;
    if (p->verbose && ok)
        printf("%5s %9s %10s %9s %9s %10s %7s %6s %8s %8s\n", "t_s", "rss_kib", "agent_side",
               "idle_open", "slow_open", "connecting", "status", "alive", "inbound", "outbound");
    double start = now_s(), drained_at = 0;
    for (int sec = 0; ok && sec < p->seconds + p->seconds_after; sec++) {
        double tick = start + sec;
        while (now_s() < tick)
            sleep_s(0.05);
        int flooding = sec < p->seconds;
        if (flooding) {
            flood_trickle(f);
        } else if (f) {
            res->end = flood_counts(f);
            flood_close(f);
            f = NULL;
        }
        long rss = flood_rss_kib(pid[1]);
        if (flooding && rss > res->rss_max_kib)
            res->rss_max_kib = rss;
        long agent_side = flood_agent_side((uint16_t)p->base, p->from);
        if (flooding && agent_side > res->agent_side_max)
            res->agent_side_max = agent_side;
        if (flooding)
            res->agent_side_end = agent_side;
        Nodectl__Response *r = status_of(sock[1]);
        int alive = r ? alive_members(r->status) : -1;
        if (r)
            nodectl__response__free_unpacked(r, NULL);
        if (flooding) {
            res->status_asked++;
            res->status_answered += r != NULL;
            res->whole_seconds += alive == AGENTS;
        }
        if (sec == 3 && flooding) {
            drained_at = now_s();
            if (drain_self(sock[2], "n2") != 0 || drain_self(sock[1], "n1") != 0)
                drained_at = -1;
        }
        if (drained_at > 0 && res->inbound_s < 0 && sees_drained(sock[1], "n2"))
            res->inbound_s = now_s() - drained_at;
        if (drained_at > 0 && res->outbound_s < 0 && sees_drained(sock[2], "n1"))
            res->outbound_s = now_s() - drained_at;
        struct flood_counts c = f ? flood_counts(f) : (struct flood_counts){0};
        if (p->verbose)
            printf("%5d %9ld %10ld %9zu %9zu %10zu %7s %6d %8s %8s\n", sec, rss, agent_side,
                   c.idle_open, c.slow_open, c.connecting, r ? "ok" : "NONE", alive,
                   res->inbound_s >= 0 ? "seen" : "-", res->outbound_s >= 0 ? "seen" : "-");
        fflush(stdout);
    }
    if (f) {
        res->end = flood_counts(f);
        flood_close(f);
    }
    if (ok)
        res->rss_after_kib = flood_rss_kib(pid[1]);
    for (int i = 1; i <= AGENTS; i++)
        if (pid[i] > 0)
            agent_stop(pid[i], SIGTERM, 10000);
}
