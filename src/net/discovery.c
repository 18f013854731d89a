#include "discovery.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* A beacon is one datagram with no payload; this bounds what is read. */
#define BEACON_MAX 1024
_Static_assert(FRAME_OVERHEAD_MAX <= BEACON_MAX, "a beacon fits");

struct discovery {
    int fd;
    struct sockaddr_in group;
    struct frame_ctx *frames;
    struct discovery_stats stats;
};

static int set_opt(int fd, int level, int name, const void *v, socklen_t len, const char *what,
                   char *err, size_t errlen) {
    if (setsockopt(fd, level, name, v, len) == 0)
        return 0;
    snprintf(err, errlen, "discovery: %s: %s", what, strerror(errno));
    return -1;
}

struct discovery *discovery_open(const char *group, uint16_t port, const char *iface_addr,
                                 struct frame_ctx *frames, char *err, size_t errlen) {
    struct in_addr grp, iface;
    if (inet_pton(AF_INET, group, &grp) != 1 || !IN_MULTICAST(ntohl(grp.s_addr))) {
        snprintf(err, errlen, "discovery: '%s' is not an IPv4 multicast group", group);
        return NULL;
    }
    if (inet_pton(AF_INET, iface_addr, &iface) != 1) {
        snprintf(err, errlen, "discovery: '%s' is not an IPv4 address", iface_addr);
        return NULL;
    }
    if (frame_init() != 0) {
        snprintf(err, errlen, "discovery: libsodium failed to initialise");
        return NULL;
    }
    struct discovery *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    d->group = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port),
                                    .sin_addr = grp};
    d->frames = frames;
    int one = 1;
    unsigned char ttl = 1, loop = 1; /* one hop: the LAN; loop: agents on one machine */
    struct ip_mreq mreq = {.imr_multiaddr = grp, .imr_interface = iface};
    if (d->fd < 0) {
        snprintf(err, errlen, "discovery: socket: %s", strerror(errno));
    } else if (set_opt(d->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one, "SO_REUSEADDR", err,
                       errlen) == 0 &&
               bind(d->fd, (struct sockaddr *)&d->group, sizeof d->group) != 0) {
        snprintf(err, errlen, "discovery: bind %s:%u: %s", group, port, strerror(errno));
    } else if (set_opt(d->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq, "join group",
                       err, errlen) == 0 &&
               set_opt(d->fd, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof iface,
                       "multicast interface", err, errlen) == 0 &&
               set_opt(d->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl, "multicast TTL",
                       err, errlen) == 0 &&
               set_opt(d->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop,
                       "multicast loop", err, errlen) == 0) {
        return d;
    }
    discovery_close(d);
    return NULL;
}

void discovery_close(struct discovery *d) {
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}

int discovery_fd(struct discovery *d) { return d->fd; }

struct discovery_stats discovery_stats(const struct discovery *d) { return d->stats; }

int discovery_announce(struct discovery *d) {
    uint8_t frame[BEACON_MAX];
    size_t len = frame_sealed_size(d->frames, FRAME_TO_ALL, 0);
    if (!len || len > sizeof frame) {
        errno = EMSGSIZE;
        return -1;
    }
    if (frame_seal(d->frames, frame, FRAME_TO_ALL, CHANNEL_DISCOVERY, NULL, 0) != len) {
        errno = ENOKEY;
        return -1;
    }
    if (sendto(d->fd, frame, len, 0, (struct sockaddr *)&d->group, sizeof d->group) !=
        (ssize_t)len)
        return -1;
    d->stats.sent++;
    return 0;
}

int discovery_recv(struct discovery *d, char *addr, size_t len) {
    for (;;) {
        uint8_t frame[BEACON_MAX];
        ssize_t n = recv(d->fd, frame, sizeof frame, MSG_TRUNC);
        if (n < 0)
            return 0; /* EAGAIN: nothing waits; anything else is retried at the next poll */
        struct frame_msg msg;
        enum frame_result rc = n > (ssize_t)sizeof frame
                                   ? FRAME_MALFORMED
                                   : frame_open(d->frames, frame, (size_t)n, FRAME_PATH_DISCOVERY,
                                                (uint64_t)time(NULL), &msg);
        if (rc == FRAME_SELF)
            continue; /* our own beacon, looped back */
        if (rc != FRAME_OK) {
            d->stats.dropped++;
            if (n <= (ssize_t)sizeof frame && msg.report)
                log_warn("discovery: refused a beacon%s%s: %s (counted; further ones of this "
                         "kind are not logged)", msg.sender[0] ? " from " : "", msg.sender,
                         frame_result_name(rc));
            continue;
        }
        free(msg.payload);
        d->stats.received++;
        snprintf(addr, len, "%s", msg.from);
        return 1;
    }
}
