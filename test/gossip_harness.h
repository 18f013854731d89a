/* A few real gossip instances wired together in memory for the unit tests:
 * a manual clock, zero-latency delivery, and nodes that can be cut off
 * (crashed) or have their traffic dropped. */
#ifndef NODECTL_TEST_GOSSIP_HARNESS_H
#define NODECTL_TEST_GOSSIP_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "gossip/gossip.h"
#include "gossip.pb-c.h"

#define HARNESS_MAX 16
#define HARNESS_HELD_MAX 1024

struct harness {
    struct gossip *g[HARNESS_MAX];
    bool down[HARNESS_MAX];             /* cut off from everyone */
    bool cut[HARNESS_MAX][HARNESS_MAX]; /* link from -> to drops everything */
    size_t drop_longer[HARNESS_MAX];    /* packets to node i longer than this are lost, 0 = none */
    /* Paused: not ticked, and what is sent to it waits in held until
     * harness_resume (a stopped process whose socket buffers fill). */
    bool paused[HARNESS_MAX];
    struct held {
        size_t from, to;
        uint8_t *data;
        size_t len;
        int64_t due; /* delivered then (latency_ms), or at harness_resume if paused */
    } held[HARNESS_HELD_MAX];
    int64_t latency_ms; /* every packet's one-way delay, 0 = delivered at once */
    size_t n_held;
    uint64_t suspicions[HARNESS_MAX]; /* members node i came to suspect */
    size_t n;
    int64_t now;
    size_t largest_packet;
    uint64_t delivered;
    struct gossip_config cfg;
};

struct gossip_addr harness_addr(size_t i);
uint64_t harness_id(size_t i);
/* n instances with cfg (gossip_config_defaults if NULL); node 0 is the seed of all others. */
void harness_start(struct harness *h, size_t n, const struct gossip_config *cfg);
/* The same, with each(i, c) adjusting node i's copy of cfg first. */
void harness_start_each(struct harness *h, size_t n, const struct gossip_config *cfg,
                        void (*each)(size_t i, struct gossip_config *c));
void harness_stop(struct harness *h);
/* Delivers and ticks until time `until` (ms). */
void harness_run(struct harness *h, int64_t until);
/* Node i wakes from a pause at the current time: as a late loop does, it
 * runs its timers first, then reads what arrived while it slept. */
void harness_resume(struct harness *h, size_t i);
/* State of `member` as node `observer` sees it; GOSSIP_OFF + 1 if unknown. */
int harness_state(const struct harness *h, size_t observer, size_t member);
/* Hands a raw packet to node i as if it came from node `from`. */
void harness_inject(struct harness *h, size_t i, size_t from, const uint8_t *data, size_t len);
/* A packet of `kind` that says it is from `sender`, carrying one update
 * about `id` (at harness_addr of id); a push-pull one is an answer, so the
 * receiver does not answer back. Returns its length in buf. */
size_t harness_craft(uint8_t *buf, Nodectl__GossipKind kind, uint64_t sender, uint64_t id,
                     uint32_t inc, Nodectl__GossipState st, uint64_t from, uint32_t age_ms);

#endif
