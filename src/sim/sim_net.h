/* The simulator's clock, event queue and network, shared by the nodesim
 * subcommands. Time is in microseconds of simulated time. The network
 * delivers each datagram after a latency drawn from a shifted exponential
 * distribution (a floor plus a long tail, as LAN round trips are), drops it
 * with the loss probability, and drops it between different sides of a
 * partition. All randomness comes from one seeded PRNG, so a run is a
 * function of its seed. */
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
};

int sim_net_init(struct sim_net *net, uint32_t n_nodes, uint64_t seed, double loss,
                 double latency_mean_ms);
void sim_net_free(struct sim_net *net);
/* Schedules delivery of data (taken over) from -> to, or drops it. kind is
 * the event kind the caller uses for deliveries. */
int sim_net_send(struct sim_net *net, int64_t now_us, uint32_t kind, uint32_t from, uint32_t to,
                 uint8_t *data, size_t len);

/* Simulated node i's address, 10.x.y.z:SIM_PORT from its index, and back. */
#define SIM_PORT 7946
struct gossip_addr sim_addr(uint32_t node);
uint32_t sim_addr_node(const struct gossip_addr *a);

/* Percentile (0..100) by nearest rank of n samples; sorts them. */
double sim_percentile(double *v, size_t n, double pct);

#endif
