#include "inbound.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* The descriptors are looked at to find half-open connections (which cost
 * a descriptor and nng's few KiB each until then): at rest four times a
 * second, or less often when there are many descriptors, so that the looks
 * cost about SCAN_FDS_PER_S descriptors a second whatever the size of the
 * cluster (an agent holds two connections per peer it talks to, so looks
 * at a fixed pace would cost each agent more the larger the cluster), but
 * at least every SCAN_REST_MAX_MS, so that a half-open connection is still
 * found well within UNAUTH_IDLE_MS (transport.c); sooner while a look finds
 * some to cut, and at most every SCAN_MIN_MS when nng's notices ask for
 * cuts. A look costs one system call per descriptor and two more per
 * connection to our port. */
#define SCAN_EVERY_MS 250
#define SCAN_REST_MAX_MS 2000
#define SCAN_FDS_PER_S 200
#define SCAN_BUSY_MS 50
#define SCAN_MIN_MS 50
/* Cuts decided in nng's ADD_PRE notices, waiting for the next look. If it
 * overflows, the next look finds the connections again, unknown, and
 * admission takes them from there. */
#define PENDING_MAX 1024

struct inbound {
    uint16_t port;
    int wake; /* eventfd: cuts are pending */
    /* nng's pipe notices run on its threads: what they touch is under lock. */
    pthread_mutex_t lock;
    struct admission *adm;
    /* At most admission_deadline(adm), exact after each look: an
     * authenticated frame only moves its connection's deadline later and a
     * connection gone takes its own away, so only an arrival can bring it
     * nearer. The loop asks for the deadline at every turn: answered
     * without a pass over the connections. */
    uint64_t adm_due;
    struct admission_cut pending[PENDING_MAX];
    size_t n_pending;
    bool logged[ADMISSION_REASONS];
    /* The loop's own: the last look, and room for what it finds and cuts
     * (kept from one look to the next, grown as needed). */
    uint64_t last_scan_ms, next_scan_ms;
    size_t scanned; /* descriptors the last look went through */
    bool scan_failed;
    struct sock *socks;
    size_t socks_cap;
    struct admission_cut *cuts;
    size_t cuts_cap;
};

/* A connection to our port, as the look found it. */
struct sock {
    int fd;
    struct admission_conn conn;
};

static uint64_t clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool conn_of(const struct sockaddr_storage *ss, struct admission_conn *c,
                    uint16_t *port) {
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        *port = ntohs(in->sin_port);
        *c = admission_conn_v4((const uint8_t *)&in->sin_addr, *port);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        *port = ntohs(in6->sin6_port);
        *c = admission_conn_v6(in6->sin6_addr.s6_addr, *port);
        return true;
    }
    return false;
}

/* The connection on fd if it is an established one to our port: not the
 * listener, and not one on its way out (cut, or closed by the peer), which
 * nng has yet to notice. */
static bool ours(const struct inbound *in, int fd, struct admission_conn *c) {
    struct sockaddr_storage me, peer;
    socklen_t ml = sizeof me, pl = sizeof peer, il = sizeof(struct tcp_info);
    uint16_t my_port, peer_port;
    struct admission_conn mine;
    struct tcp_info info;
    return getsockname(fd, (struct sockaddr *)&me, &ml) == 0 && conn_of(&me, &mine, &my_port) &&
           my_port == in->port && getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 &&
           conn_of(&peer, c, &peer_port) &&
           getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &il) == 0 &&
           info.tcpi_state == TCP_ESTABLISHED;
}

/* Grows *buf to hold want items of size each; false if out of memory. */
static bool room(void **buf, size_t *cap, size_t want, size_t size) {
    if (want <= *cap)
        return true;
    size_t n = *cap ? *cap : 64;
    while (n < want)
        n *= 2;
    void *more = realloc(*buf, n * size);
    if (!more)
        return false;
    *buf = more;
    *cap = n;
    return true;
}

/* Every connection to our port among this process's descriptors, into
 * in->socks; returns how many, or 0 if they cannot be listed. */
static size_t scan(struct inbound *in) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        if (!in->scan_failed)
            log_err("transport: cannot list /proc/self/fd (%s): connections are cut only "
                    "when nng reports them", strerror(errno));
        in->scan_failed = true;
        return 0;
    }
    in->scan_failed = false;
    size_t n = 0;
    in->scanned = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        struct admission_conn c;
        if (*end || end == e->d_name || fd == dirfd(d))
            continue;
        in->scanned++;
        if (!ours(in, (int)fd, &c))
            continue;
        if (!room((void **)&in->socks, &in->socks_cap, n + 1, sizeof *in->socks))
            break; /* the rest waits for the next look */
        in->socks[n++] = (struct sock){.fd = (int)fd, .conn = c};
    }
    closedir(d);
    return n;
}

/* Logs the first cut of each reason (the rest are counted). */
static void note(struct inbound *in, const struct admission_cut *c) {
    pthread_mutex_lock(&in->lock);
    bool first = !in->logged[c->why];
    in->logged[c->why] = true;
    pthread_mutex_unlock(&in->lock);
    if (first) {
        char who[64];
        admission_conn_text(&c->conn, who, sizeof who);
        log_warn("transport: cut a connection from %s: %s (logged once; the rest are counted)",
                 who, admission_reason_text(c->why));
    }
}

static bool same_conn(const struct admission_conn *a, const struct admission_conn *b) {
    return a->port == b->port && memcmp(a->ip, b->ip, sizeof a->ip) == 0;
}

/* Cuts c if the look found it; nng sees the connection end and drops it
 * (or its pipe) by itself. Without a look (no /proc), a pipe is closed
 * through nng, the one way left. */
static void cut(struct inbound *in, const struct admission_cut *c, size_t n) {
    note(in, c);
    for (size_t i = 0; i < n; i++) {
        struct admission_conn now;
        /* The descriptor may have been closed and reused since the look. */
        if (same_conn(&in->socks[i].conn, &c->conn) && ours(in, in->socks[i].fd, &now) &&
            same_conn(&now, &c->conn)) {
            shutdown(in->socks[i].fd, SHUT_RDWR);
            return;
        }
    }
    if (in->scan_failed && c->pipe) {
        nng_pipe p = NNG_PIPE_INITIALIZER;
        p.id = c->pipe;
        nng_pipe_close(p);
    }
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg) {
    struct inbound *in = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    if (ev == NNG_PIPE_EV_REM_POST) {
        pthread_mutex_lock(&in->lock);
        admission_pipe_gone(in->adm, id);
        pthread_mutex_unlock(&in->lock);
        return;
    }
    nng_sockaddr sa;
    struct admission_conn c;
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0) {
        nng_pipe_close(p);
        return;
    }
    if (sa.s_family == NNG_AF_INET)
        c = admission_conn_v4((const uint8_t *)&sa.s_in.sa_addr, ntohs(sa.s_in.sa_port));
    else if (sa.s_family == NNG_AF_INET6)
        c = admission_conn_v6(sa.s_in6.sa_addr, ntohs(sa.s_in6.sa_port));
    else
        return;
    pthread_mutex_lock(&in->lock);
    struct admission_cut out = admission_pipe(in->adm, id, &c, clock_ms());
    uint64_t due = admission_deadline(in->adm);
    if (due < in->adm_due)
        in->adm_due = due;
    bool refused = out.conn.port && out.pipe == id;
    bool queued = out.conn.port && !refused && in->n_pending < PENDING_MAX;
    if (queued)
        in->pending[in->n_pending++] = out;
    pthread_mutex_unlock(&in->lock);
    if (refused) {
        /* Before anything is read on it: nng's documented way to refuse. */
        nng_pipe_close(p);
        note(in, &out);
    } else if (queued) {
        uint64_t one = 1;
        if (write(in->wake, &one, sizeof one) < 0 && errno != EAGAIN)
            log_err("transport: cannot wake the loop: %s", strerror(errno));
    }
}

struct inbound *inbound_open(nng_socket pull, uint16_t port, const struct admission_limits *lim,
                             char *err, size_t errlen) {
    struct inbound *in = calloc(1, sizeof *in);
    if (!in || !(in->adm = admission_new(lim))) {
        free(in);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->port = port;
    in->adm_due = UINT64_MAX;
    pthread_mutex_init(&in->lock, NULL);
    int rv;
    if ((in->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
    } else if ((rv = nng_pipe_notify(pull, NNG_PIPE_EV_ADD_PRE, on_pipe, in)) != 0 ||
               (rv = nng_pipe_notify(pull, NNG_PIPE_EV_REM_POST, on_pipe, in)) != 0) {
        snprintf(err, errlen, "pipe notices: %s", nng_strerror(rv));
    } else {
        return in;
    }
    inbound_close(in);
    return NULL;
}

void inbound_close(struct inbound *in) {
    if (!in)
        return;
    if (in->wake >= 0)
        close(in->wake);
    free(in->socks);
    free(in->cuts);
    admission_free(in->adm);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

void inbound_authenticated(struct inbound *in, const nng_msg *m) {
    uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(m));
    pthread_mutex_lock(&in->lock);
    admission_authenticated(in->adm, id, clock_ms());
    pthread_mutex_unlock(&in->lock);
}

uint64_t inbound_deadline(struct inbound *in) {
    pthread_mutex_lock(&in->lock);
    uint64_t d = in->adm_due;
    bool pending = in->n_pending > 0;
    pthread_mutex_unlock(&in->lock);
    if (in->next_scan_ms < d)
        d = in->next_scan_ms;
    if (pending && in->last_scan_ms + SCAN_MIN_MS < d)
        d = in->last_scan_ms + SCAN_MIN_MS;
    return d;
}

int inbound_fd(const struct inbound *in) { return in->wake; }

struct admission_counts inbound_counts(struct inbound *in) {
    pthread_mutex_lock(&in->lock);
    struct admission_counts k = admission_counts(in->adm);
    pthread_mutex_unlock(&in->lock);
    return k;
}

void inbound_run(struct inbound *in) {
    uint64_t now = clock_ms(), drained;
    if (read(in->wake, &drained, sizeof drained) < 0 && errno != EAGAIN)
        log_err("transport: wake-up: %s", strerror(errno));
    /* The bound passed: the exact deadline decides, so that a connection
     * that authenticated since brings no look before its time. */
    pthread_mutex_lock(&in->lock);
    if (now >= in->adm_due)
        in->adm_due = admission_deadline(in->adm);
    pthread_mutex_unlock(&in->lock);
    if (now < inbound_deadline(in) || now < in->last_scan_ms + SCAN_MIN_MS)
        return;
    size_t n = scan(in), k = 0;
    /* Everything decided in one hold of the lock, cut after it. */
    pthread_mutex_lock(&in->lock);
    size_t max = n + in->n_pending + 64;
    if (room((void **)&in->cuts, &in->cuts_cap, max, sizeof *in->cuts)) {
        if (!in->scan_failed) {
            admission_scan_begin(in->adm);
            for (size_t i = 0; i < n; i++) {
                struct admission_cut c = admission_seen(in->adm, &in->socks[i].conn, now);
                if (c.conn.port)
                    in->cuts[k++] = c;
            }
            admission_scan_end(in->adm);
        }
        for (size_t i = 0; i < in->n_pending; i++)
            in->cuts[k++] = in->pending[i];
        k += admission_expired(in->adm, now, in->cuts + k, max - k);
        in->n_pending = 0;
    }
    in->adm_due = admission_deadline(in->adm);
    pthread_mutex_unlock(&in->lock);
    bool half_open = false;
    for (size_t i = 0; i < k; i++) {
        half_open |= in->cuts[i].pipe == 0;
        cut(in, &in->cuts[i], n);
    }
    in->last_scan_ms = now;
    uint64_t rest = (uint64_t)in->scanned * 1000 / SCAN_FDS_PER_S;
    rest = rest < SCAN_EVERY_MS ? SCAN_EVERY_MS : rest > SCAN_REST_MAX_MS ? SCAN_REST_MAX_MS : rest;
    in->next_scan_ms = now + (half_open ? SCAN_BUSY_MS : rest);
}
