#include "transport.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

/* Peers this node keeps a connection to; past this the least recently used
 * connection is closed. Large enough for the fan-out of SWIM (a handful of
 * peers per period) plus the election voters. */
#define PEERS_MAX 256
#define FRAME_LIMIT (TRANSPORT_PAYLOAD_MAX + FRAME_OVERHEAD_MAX)

struct peer {
    char addr[TRANSPORT_ADDR_MAX];
    nng_socket sock;
    uint64_t last_use;
};

struct transport {
    nng_socket pull;
    int fd;
    struct frame_ctx *frames;
    struct peer peers[PEERS_MAX];
    size_t n_peers;
    uint64_t clock; /* use counter for LRU */
    struct transport_stats stats;
};

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
    char url[300];
    snprintf(url, sizeof url, "tcp://%s:%u", bind, port);
    int rv;
    if ((rv = nng_pull0_open(&t->pull)) != 0 ||
        (rv = nng_socket_set_size(t->pull, NNG_OPT_RECVMAXSZ, FRAME_LIMIT)) != 0 ||
        (rv = nng_socket_set_int(t->pull, NNG_OPT_RECVBUF, 1024)) != 0 ||
        (rv = nng_listen(t->pull, url, NULL, 0)) != 0 ||
        (rv = nng_socket_get_int(t->pull, NNG_OPT_RECVFD, &t->fd)) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
        nng_close(t->pull);
        free(t);
        return NULL;
    }
    return t;
}

void transport_close(struct transport *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n_peers; i++)
        nng_close(t->peers[i].sock);
    nng_close(t->pull);
    free(t);
}

int transport_fd(struct transport *t) { return t->fd; }

struct transport_stats transport_stats(const struct transport *t) { return t->stats; }

static struct peer *peer_for(struct transport *t, const char *to) {
    for (size_t i = 0; i < t->n_peers; i++) {
        if (strcmp(t->peers[i].addr, to) == 0) {
            t->peers[i].last_use = ++t->clock;
            return &t->peers[i];
        }
    }
    struct peer *p;
    if (t->n_peers < PEERS_MAX) {
        p = &t->peers[t->n_peers];
    } else {
        p = &t->peers[0];
        for (size_t i = 1; i < t->n_peers; i++)
            if (t->peers[i].last_use < p->last_use)
                p = &t->peers[i];
        nng_close(p->sock);
        t->n_peers--;
    }
    char url[TRANSPORT_ADDR_MAX + 8];
    snprintf(url, sizeof url, "tcp://%s", to);
    int rv;
    if ((rv = nng_push0_open(&p->sock)) != 0)
        return NULL;
    /* A short queue per peer: a peer that is down costs at most this many
     * buffered frames, and the dialer retries in the background, at least
     * twice a second, so a restarted peer is reachable again well within an
     * election timeout (a SYN to a dead host is cheap). */
    if ((rv = nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, 64)) != 0 ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 400)) != 0 ||
        (rv = nng_dial(p->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        log_debug("transport: cannot dial %s: %s", url, nng_strerror(rv));
        nng_close(p->sock);
        return NULL;
    }
    snprintf(p->addr, sizeof p->addr, "%s", to);
    p->last_use = ++t->clock;
    t->n_peers++;
    return p;
}

int transport_send(struct transport *t, const char *to, uint32_t channel, const void *payload,
                   size_t len) {
    if (len > TRANSPORT_PAYLOAD_MAX || strlen(to) >= TRANSPORT_ADDR_MAX) {
        t->stats.dropped_send++;
        return -1;
    }
    nng_msg *msg;
    size_t size = frame_sealed_size(t->frames, to, len);
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
        enum frame_result rc = frame_open(t->frames, nng_msg_body(m), nng_msg_len(m),
                                          FRAME_PATH_UNICAST, (uint64_t)time(NULL), msg);
        nng_msg_free(m);
        if (rc == FRAME_OK) {
            t->stats.received++;
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
