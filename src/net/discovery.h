/* LAN discovery: every agent multicasts a small authenticated beacon with its
 * address, and listens for the beacons of others, so hosts on one network
 * find each other without a seed list. It replaces the subnet port scan of
 * older Xen cluster tools, which probed every address of the subnet. The
 * beacon only proposes a peer to gossip; membership is still decided by the
 * gossip protocol itself. */
#ifndef NODECTL_DISCOVERY_H
#define NODECTL_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct discovery_stats {
    uint64_t sent;
    uint64_t received;
    uint64_t dropped; /* refused by the frame layer (counted there by reason) */
};

struct discovery;

/* Joins group:port (IPv4) on the interface that holds iface_addr (0.0.0.0:
 * the default one). Beacons are sealed and opened with frames, as the
 * transport's (it outlives the discovery); each names this agent's gossip
 * address. NULL with a message in err. */
struct discovery *discovery_open(const char *group, uint16_t port, const char *iface_addr,
                                 struct frame_ctx *frames, char *err, size_t errlen);
void discovery_close(struct discovery *d);
int discovery_fd(struct discovery *d);
/* Multicasts one beacon; 0, or -1 (errno set). */
int discovery_announce(struct discovery *d);
/* Takes one waiting beacon of another agent: 1 with its address in addr,
 * 0 when none waits. Own beacons and refused ones are skipped. */
int discovery_recv(struct discovery *d, char *addr, size_t len);
struct discovery_stats discovery_stats(const struct discovery *d);

#endif
