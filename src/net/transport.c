#include "transport.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/log.h"
#include "inbound.h"

/* Peers this node keeps a connection to; past this the least recently used
 * connection is closed. Large enough for the fan-out of SWIM (a handful of
 * peers per period) plus the election voters. */
#define PEERS_MAX 256
/* A push socket unused this long is closed; it is dialed again when
 * needed. Shorter than AUTH_IDLE_MS, so that a receiver never cuts the
 * connection of a peer that still holds it open (nng would redial it at
 * once, and the new connection, unauthenticated and idle, would be cut
 * again UNAUTH_IDLE_MS later, round and round). */
#define PEER_IDLE_MS 60000
/* A push socket that has no connection this long after its last use is
 * closed too: its peer is down (crashed, powered off, declared dead by
 * gossip, which then sends it one reconnect probe per push-pull interval),
 * and nng's dialer would otherwise try to connect to it several times a
 * second for a minute, each attempt costing milliseconds of CPU on nng's
 * threads: with a large cluster on a host, one dead peer would keep every
 * agent busy. It is dialed again at the next message. */
#define PEER_DOWN_IDLE_MS 2000

/* Inbound connections (admission.h). A peer that holds the key sends its
 * first frame as soon as it has connected (its push socket dials because it
 * has a message to send), so a few seconds are generous. Per address: a
 * host runs one agent, whose push socket has one connection here, two while
 * it reconnects; test clusters run up to 20 agents on 127.0.0.1. */
#define UNAUTH_PER_ADDR 32
#define UNAUTH_TOTAL 256
#define UNAUTH_IDLE_MS 5000
#define AUTH_IDLE_MS (2 * PEER_IDLE_MS)
/* Authenticated connections are at most one per peer host. */
#define CONNS_MAX 8192
/* Descriptors kept for other uses: the push sockets, libvirt, the control
 * socket and its clients, files. */
#define FDS_RESERVED (PEERS_MAX + 64)

struct peer {
    char addr[TRANSPORT_ADDR_MAX];
    nng_socket sock;
    uint64_t last_ms; /* last use, for LRU and the idle timeout */
    /* Its connections, counted by nng's pipe notices (on_peer_pipe). On
     * the heap: peers move in the array. */
    struct peer_link *link;
};

/* Written on nng's threads: the connections of a push socket (0 while its
 * dialer is still trying), and the transport's flag that one was lost. */
struct peer_link {
    atomic_int pipes;
    atomic_bool *lost;
};

struct transport {
    nng_socket pull;
    /* The address our connections leave from, when we listen on one
     * (family 0: any, as the kernel picks). */
    nng_sockaddr local;
    int fd;
    struct frame_ctx *frames;
    struct peer peers[PEERS_MAX];
    size_t n_peers;
    /* No peer is idle before then: at most the earliest last_ms +
     * PEER_IDLE_MS. A peer's last_ms only grows, and a new one's is the
     * latest, so the bound holds until transport_run looks again; the loop
     * asks for the deadline at every turn, which costs O(1), not a pass
     * over the peers. */
    uint64_t idle_due;
    /* A peer's connection was lost since transport_run last looked: the
     * peers are looked at again at the next turn, so that one that went
     * down is not redialed for the rest of PEER_IDLE_MS (PEER_DOWN_IDLE_MS). */
    atomic_bool lost;
    struct transport_stats stats;
    bool size_logged;
    struct inbound *in;
};

static uint64_t clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_peer_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg) {
    (void)pipe;
    struct peer_link *l = arg;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        atomic_fetch_add(&l->pipes, 1);
    } else {
        atomic_fetch_sub(&l->pipes, 1);
        atomic_store(l->lost, true);
    }
}

static bool peer_down(const struct peer *p) {
    return atomic_load(&p->link->pipes) == 0;
}

static void peer_close(struct peer *p) {
    nng_close(p->sock); /* no pipe notice comes after it returns */
    free(p->link);
    p->link = NULL;
}

static void idle_due_at(struct transport *t, uint64_t when) {
    if (when < t->idle_due)
        t->idle_due = when;
}

/* The limits for the descriptors this process may open: half of what is
 * not reserved goes to the connections admission counts, half stays for
 * those that arrive between two looks at the descriptors (inbound.h) and
 * for those being closed. */
static struct admission_limits limits(void) {
    struct rlimit rl;
    rlim_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    size_t total = fds > FDS_RESERVED + 2 * 16 ? (size_t)(fds - FDS_RESERVED) / 2 : 16;
    if (total > CONNS_MAX)
        total = CONNS_MAX;
    struct admission_limits lim = {.total = total, .unauth_total = UNAUTH_TOTAL,
                                   .unauth_per_addr = UNAUTH_PER_ADDR,
                                   .unauth_idle_ms = UNAUTH_IDLE_MS, .auth_idle_ms = AUTH_IDLE_MS};
    if (lim.unauth_total > total / 2)
        lim.unauth_total = total / 2;
    if (lim.unauth_per_addr > lim.unauth_total)
        lim.unauth_per_addr = lim.unauth_total;
    return lim;
}

/* A host listening on one address dials from it too: its peers see its
 * connections come from the address they know it by, which is what their
 * admission counts per address (admission.h). A host with several
 * addresses (or several agents on one loopback, as the benchmarks run
 * them, each on an address of its own in 127.0.0.0/8) would otherwise
 * dial from whichever the kernel picks, and every connection of a cluster
 * joining at once would count against one address and be cut. */
static nng_sockaddr local_address(const char *bind) {
    nng_sockaddr sa = {.s_family = 0};
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, bind, &v4) == 1 && v4.s_addr != htonl(INADDR_ANY)) {
        sa.s_in.sa_family = NNG_AF_INET;
        sa.s_in.sa_addr = v4.s_addr;
    } else if (inet_pton(AF_INET6, bind, &v6) == 1 && !IN6_IS_ADDR_UNSPECIFIED(&v6)) {
        sa.s_in6.sa_family = NNG_AF_INET6;
        memcpy(sa.s_in6.sa_addr, v6.s6_addr, sizeof sa.s_in6.sa_addr);
    }
    return sa;
}

/* Whether "host:port" names an address of the family we dial from. */
static bool same_family(const nng_sockaddr *local, const char *to) {
    return local->s_family == NNG_AF_INET ? to[0] != '[' : to[0] == '[';
}

struct transport *transport_open(const char *bind, uint16_t port, struct frame_ctx *frames,
                                 char *err, size_t errlen) {
    if (frame_init() != 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    struct transport *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->frames = frames;
    t->idle_due = UINT64_MAX;
    atomic_init(&t->lost, false);
    t->local = local_address(bind);
    struct admission_limits lim = limits();
    char url[300];
    snprintf(url, sizeof url, "tcp://%s:%u", bind, port);
    int rv;
    /* Inbound connections are watched before the listener starts. nng's
     * pull socket holds at most one frame per connection until
     * transport_recv takes it, plus the one being read. */
    if ((rv = nng_pull0_open(&t->pull)) != 0 ||
        (rv = nng_socket_set_size(t->pull, NNG_OPT_RECVMAXSZ, TRANSPORT_FRAME_MAX)) != 0) {
        snprintf(err, errlen, "cannot open a socket: %s", nng_strerror(rv));
        free(t);
        return NULL;
    }
    char why[200];
    if (!(t->in = inbound_open(t->pull, port, &lim, why, sizeof why))) {
        snprintf(err, errlen, "cannot watch connections: %s", why);
        nng_close(t->pull);
        free(t);
        return NULL;
    }
    if ((rv = nng_listen(t->pull, url, NULL, 0)) != 0 ||
        (rv = nng_socket_get_int(t->pull, NNG_OPT_RECVFD, &t->fd)) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
        nng_close(t->pull);
        inbound_close(t->in);
        free(t);
        return NULL;
    }
    log_info("transport: frames up to %d bytes; at most %zu inbound connections, %zu of them "
             "unauthenticated, %zu from one address", TRANSPORT_FRAME_MAX, lim.total,
             lim.unauth_total, lim.unauth_per_addr);
    return t;
}

void transport_close(struct transport *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n_peers; i++)
        peer_close(&t->peers[i]);
    nng_close(t->pull); /* no pipe notice comes after it returns */
    inbound_close(t->in);
    free(t);
}

int transport_fd(struct transport *t) { return t->fd; }

int transport_wake_fd(struct transport *t) { return inbound_fd(t->in); }

struct transport_stats transport_stats(struct transport *t) {
    struct transport_stats s = t->stats;
    s.conns = inbound_counts(t->in);
    return s;
}

static struct peer *peer_for(struct transport *t, const char *to) {
    uint64_t now = clock_ms();
    for (size_t i = 0; i < t->n_peers; i++) {
        if (strcmp(t->peers[i].addr, to) == 0) {
            t->peers[i].last_ms = now;
            if (peer_down(&t->peers[i]))
                idle_due_at(t, now + PEER_DOWN_IDLE_MS);
            return &t->peers[i];
        }
    }
    struct peer *p;
    if (t->n_peers < PEERS_MAX) {
        p = &t->peers[t->n_peers];
    } else {
        p = &t->peers[0];
        for (size_t i = 1; i < t->n_peers; i++)
            if (t->peers[i].last_ms < p->last_ms)
                p = &t->peers[i];
        peer_close(p);
        t->n_peers--;
    }
    char url[TRANSPORT_ADDR_MAX + 8];
    snprintf(url, sizeof url, "tcp://%s", to);
    int rv;
    if (!(p->link = calloc(1, sizeof *p->link)))
        return NULL;
    p->link->lost = &t->lost;
    if ((rv = nng_push0_open(&p->sock)) != 0) {
        free(p->link);
        p->link = NULL;
        return NULL;
    }
    /* A short queue per peer: a peer that is down costs at most this many
     * buffered frames, and the dialer retries in the background, at least
     * twice a second, so a restarted peer is reachable again well within an
     * election timeout (a SYN to a dead host is cheap). */
    nng_dialer d;
    if ((rv = nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, 64)) != 0 ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 400)) != 0 ||
        (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, on_peer_pipe, p->link)) != 0 ||
        (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, on_peer_pipe, p->link)) != 0 ||
        (rv = nng_dialer_create(&d, p->sock, url)) != 0 ||
        (t->local.s_family && same_family(&t->local, to) &&
         (rv = nng_dialer_set_addr(d, NNG_OPT_LOCADDR, &t->local)) != 0) ||
        (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
        log_debug("transport: cannot dial %s: %s", url, nng_strerror(rv));
        peer_close(p);
        return NULL;
    }
    snprintf(p->addr, sizeof p->addr, "%s", to);
    p->last_ms = now;
    idle_due_at(t, now + PEER_DOWN_IDLE_MS);
    t->n_peers++;
    return p;
}

int transport_send(struct transport *t, const char *to, uint32_t channel, const void *payload,
                   size_t len) {
    if (len > TRANSPORT_PAYLOAD_MAX || strlen(to) >= TRANSPORT_ADDR_MAX) {
        if (len > TRANSPORT_PAYLOAD_MAX && !t->size_logged)
            log_err("transport: a message of %zu bytes on channel %u to %s exceeds the limit of "
                    "%d bytes; not sent (logged once; the rest are counted)", len, channel, to,
                    TRANSPORT_PAYLOAD_MAX);
        t->size_logged |= len > TRANSPORT_PAYLOAD_MAX;
        t->stats.dropped_send++;
        return -1;
    }
    nng_msg *msg;
    size_t size = frame_sealed_size(t->frames, to, len);
    assert(size <= TRANSPORT_FRAME_MAX); /* the frame adds at most FRAME_OVERHEAD_MAX */
    if (!size || nng_msg_alloc(&msg, size) != 0) {
        t->stats.dropped_send++;
        return -1;
    }
    if (frame_seal(t->frames, nng_msg_body(msg), to, channel, payload, len) != size) {
        nng_msg_free(msg);
        t->stats.dropped_send++;
        return -1;
    }
    struct peer *p = peer_for(t, to);
    if (!p || nng_sendmsg(p->sock, msg, NNG_FLAG_NONBLOCK) != 0) {
        nng_msg_free(msg);
        t->stats.dropped_send++;
        return -1;
    }
    t->stats.sent++;
    t->stats.sent_on[channel < CHANNELS ? channel : 0]++;
    t->stats.bytes_sent += size;
    return 0;
}

int transport_recv(struct transport *t, struct frame_msg *msg) {
    for (;;) {
        nng_msg *m;
        int rv = nng_recvmsg(t->pull, &m, NNG_FLAG_NONBLOCK);
        if (rv != 0) {
            if (rv != NNG_EAGAIN)
                log_warn("transport: receive failed: %s", nng_strerror(rv));
            return 0;
        }
        t->stats.bytes_received += nng_msg_len(m);
        enum frame_result rc = frame_open(t->frames, nng_msg_body(m), nng_msg_len(m),
                                          FRAME_PATH_UNICAST, (uint64_t)time(NULL), msg);
        if (rc == FRAME_OK)
            inbound_authenticated(t->in, m);
        nng_msg_free(m);
        if (rc == FRAME_OK) {
            t->stats.received++;
            t->stats.received_on[msg->channel < CHANNELS ? msg->channel : 0]++;
            return 1;
        }
        if (rc == FRAME_MALFORMED)
            t->stats.dropped_malformed++;
        else if (rc != FRAME_SELF)
            t->stats.dropped_auth++;
        if (msg->report)
            log_warn("transport: refused a frame%s%s: %s (counted; further ones of this kind "
                     "are not logged)", msg->sender[0] ? " from " : "", msg->sender,
                     frame_result_name(rc));
    }
}

void transport_run(struct transport *t) {
    inbound_run(t->in);
    uint64_t now = clock_ms();
    bool lost = atomic_exchange(&t->lost, false);
    if (now < t->idle_due && !lost)
        return;
    t->idle_due = UINT64_MAX;
    for (size_t i = 0; i < t->n_peers;) {
        struct peer *p = &t->peers[i];
        bool down = peer_down(p);
        uint64_t due = p->last_ms + (down ? PEER_DOWN_IDLE_MS : PEER_IDLE_MS);
        if (now >= due) {
            if (down)
                t->stats.peers_down++;
            peer_close(p);
            t->peers[i] = t->peers[--t->n_peers];
        } else {
            idle_due_at(t, due);
            i++;
        }
    }
}

uint64_t transport_deadline(struct transport *t) {
    if (atomic_load(&t->lost))
        return 0;
    uint64_t d = inbound_deadline(t->in);
    return t->idle_due < d ? t->idle_due : d;
}
