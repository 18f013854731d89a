/* An in-memory network of election instances for the tests: a shared clock,
 * messages delivered after a delay, loss, cut links and crashes, and every
 * hard state "saved" unless a node's disk is failing. Deterministic from its
 * seed. */
#ifndef NODECTL_ELECTION_HARNESS_H
#define NODECTL_ELECTION_HARNESS_H

#include <stdbool.h>

#include "common/prng.h"
#include "election/election.h"

#define H_NODES 9

struct h_msg {
    int from, to;
    int64_t at;
    uint8_t *data;
    size_t len;
};

/* A message as it left its sender, kept when harness.record is set, so
 * that a test can replay it later or deliver it to another voter. */
struct h_sent {
    int from, to;
    uint8_t *data;
    size_t len;
};

struct harness {
    int n;
    struct election_config cfg[H_NODES];
    struct election *e[H_NODES];
    struct election_hard_state disk[H_NODES];
    bool up[H_NODES];
    bool disk_fails[H_NODES];
    bool frozen[H_NODES]; /* SIGSTOP: neither ticks nor reads until thawed */
    bool cut[H_NODES][H_NODES];
    int64_t now;
    struct prng rng;
    double loss;
    int delay_max_ms; /* uniform in [1, delay_max_ms] */
    struct h_msg *q;
    size_t nq, capq;
    bool record;
    struct h_sent *sent;
    size_t n_sent, cap_sent;
    /* Invariant tracking. */
    uint64_t leader_of_term[4096];
    int violations;
};

void h_init(struct harness *h, int n, uint64_t seed, uint32_t heartbeat, uint32_t timeout);
void h_free(struct harness *h);
void h_crash(struct harness *h, int i);
void h_restart(struct harness *h, int i);
/* Runs for ms, 1 ms steps, checking: one leader per term, at most one lease
 * at any instant. */
void h_run(struct harness *h, int ms);
/* Delivers sent[k] (as sent by its sender) to node `to` now, then lets
 * that node save and send; to may differ from the addressee. */
void h_replay(struct harness *h, size_t k, int to);
/* The kind (Nodectl__ElectionKind) of sent[k]. */
int h_sent_kind(const struct harness *h, size_t k);
/* The newest recorded message of this kind (Nodectl__ElectionKind) from
 * `from` to `to` (-1: any), or -1. */
long h_find_sent(const struct harness *h, int kind, int from, int to);
/* The node that leads with a lease now, or -1. */
int h_lease_holder(const struct harness *h);
int h_leader(const struct harness *h);

#endif
