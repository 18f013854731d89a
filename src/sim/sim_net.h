/* The simulator's clock, event queue and network, shared by the nodesim
 * subcommands. Time is in microseconds of simulated time. The network
 * delivers each datagram after a latency drawn from a shifted exponential
 * distribution (a floor plus a long tail, as LAN round trips are), drops it
 * with the loss probability, and drops it between different sides of a
 * partition. All randomness comes from one seeded PRNG, so a run is a
 * function of its seed.
 *
 * `nodesim cluster` uses more of it, all off unless asked for: links cut in
 * one direction only, duplication, delay spikes that reorder, delivery to
 * the wrong node, captured messages replayed later, and queued sends. The
 * agent's transport is nng over TCP, a push socket per peer with a queue
 * of 64 messages (src/net/transport.c): a message to a peer that cannot be
 * reached (cut off, or its agent down) waits in that queue while nng
 * redials, the newest ones dropped once it is full, and arrives when the
 * link heals or the peer is back, seconds or minutes late; the queue dies
 * with the sender's agent. sim_net_send_queued models that. */
#ifndef NODECTL_SIM_NET_H
#define NODECTL_SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prng.h"
#include "gossip/gossip.h"

struct sim_event {
    int64_t t_us;
    uint64_t seq; /* ties break by insertion order: deterministic */
    uint32_t kind;
    uint32_t node;
    uint32_t from;
    uint32_t gen;
    uint8_t *data; /* owned by the event */
    size_t len;
};

struct sim_heap {
    struct sim_event *e;
    size_t n, cap;
    uint64_t next_seq;
};

/* Returns -1 on out of memory (ev->data is then not taken). */
int sim_heap_push(struct sim_heap *h, struct sim_event *ev);
bool sim_heap_pop(struct sim_heap *h, struct sim_event *out);
/* Frees the queue and the data of the events still in it. */
void sim_heap_free(struct sim_heap *h);

struct sim_net {
    struct sim_heap heap;
    struct prng rng;
    double loss;           /* probability a datagram is lost */
    int64_t latency_min_us;
    int64_t latency_tail_us; /* mean of the exponential part */
    uint32_t n_nodes;
    uint8_t *side;         /* partition side of each node; all equal = no partition */
    uint64_t sent, dropped;
    /* nodesim cluster only; zero/NULL: off. */
    uint8_t *cut;          /* n_nodes x n_nodes: cut[from * n + to] blocks from -> to */
    double dup;            /* probability a message is delivered twice */
    double misdeliver;     /* probability it is delivered to another node instead */
    double spike;          /* probability of an extra delay of up to spike_us */
    int64_t spike_us;
    struct sim_net_capture *captured; /* replay ring, when capture_every > 0 */
    uint32_t capture_every, capture_cap, n_captured, capture_next;
    uint64_t capture_count;
    struct sim_event *held; /* queued messages waiting for their link or peer */
    size_t n_held, cap_held;
    uint8_t *held_per_link;  /* n_nodes x n_nodes counts, each at most SIM_NET_QUEUE */
    int64_t *link_last_us;   /* n_nodes x n_nodes, when set: each link delivers in order
                              * (TCP), but for delay spikes */
    uint64_t duplicated, misdelivered, replayed, held_total;
};
#define SIM_NET_QUEUE 64

int sim_net_init(struct sim_net *net, uint32_t n_nodes, uint64_t seed, double loss,
                 double latency_mean_ms);
void sim_net_free(struct sim_net *net);
/* Schedules delivery of data (taken over) from -> to, or drops it. kind is
 * the event kind the caller uses for deliveries. */
int sim_net_send(struct sim_net *net, int64_t now_us, uint32_t kind, uint32_t from, uint32_t to,
                 uint8_t *data, size_t len);

/* Whether from -> to passes (partition sides and cut links). */
bool sim_net_open(const struct sim_net *net, uint32_t from, uint32_t to);
/* Cuts (or heals) the link from -> to, one direction. -1 on out of memory. */
int sim_net_set_cut(struct sim_net *net, uint32_t from, uint32_t to, bool cut);
void sim_net_heal_cuts(struct sim_net *net);
/* Makes every link deliver in sending order, as a TCP connection does,
 * except the messages a delay spike holds back. -1 on out of memory. */
int sim_net_fifo(struct sim_net *net);
/* Keeps a copy of every `every`-th message sent, the last `cap` of them,
 * for sim_net_replay. -1 on out of memory. */
int sim_net_capture(struct sim_net *net, uint32_t every, uint32_t cap);
/* A message that waits in its sender's queue (see above) while the link
 * is cut, and that loss on the way only delays (TCP retransmits). -1 on out
 * of memory. */
int sim_net_send_queued(struct sim_net *net, int64_t now_us, uint32_t kind, uint32_t from,
                        uint32_t to, uint8_t *data, size_t len);
/* A queued message that arrived where no agent takes it (down): back into
 * its sender's queue (ev->data taken), or dropped when that is full. */
int sim_net_hold(struct sim_net *net, struct sim_event *ev);
/* Sends what waits for `to` (UINT32_MAX: every node) on links now open,
 * after nng's redial. */
int sim_net_release(struct sim_net *net, int64_t now_us, uint32_t to);
/* The sender's agent stopped: its queues are gone. */
void sim_net_forget_from(struct sim_net *net, uint32_t from);
/* Sends copies of `count` captured messages again (an attacker on the
 * path, or a confused middlebox): to their destination, or with the
 * misdelivery probability to another node. */
int sim_net_replay(struct sim_net *net, int64_t now_us, uint32_t count);

/* Simulated node i's address, 10.x.y.z:SIM_PORT from its index, and back. */
#define SIM_PORT 7946
struct gossip_addr sim_addr(uint32_t node);
uint32_t sim_addr_node(const struct gossip_addr *a);

/* Percentile (0..100) by nearest rank of n samples; sorts them. */
double sim_percentile(double *v, size_t n, double pct);

#endif
