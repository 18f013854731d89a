/* A flood of unauthenticated TCP connections against an agent's peer port,
 * as an attacker without the cluster key makes it: "idle" connections that
 * connect and send nothing (not even nng's SP handshake), and "slow" ones
 * that complete the SP handshake as a push socket, announce a frame of
 * `announce` bytes, send all of it but its last 64 bytes (so the buffer
 * the receiver allocated for it is resident) and then one byte per
 * flood_trickle call.
 * Every connection leaves from the source address `from` (a loopback
 * address other than the agents' own, so that the per-address limits of
 * the agent see the attacker apart from its legitimate peers). Used by
 * test_flood and bench/flood. */
#ifndef NODECTL_FLOOD_H
#define NODECTL_FLOOD_H

#include <stddef.h>
#include <stdint.h>

struct flood;

struct flood_counts {
    size_t idle_open;  /* idle connections established, not closed by the agent */
    size_t slow_open;  /* slow ones established, not closed by the agent */
    size_t connecting; /* not established yet (the agent's accept queue was full) */
    size_t failed;     /* connect() refused or timed out */
};

/* Opens n_idle idle and n_slow slow connections from `from` to to:port.
 * Slow ones are completed in flood_trickle. Raises this process's
 * descriptor limit to its hard limit. NULL (with a message on stderr) if a
 * socket cannot be made. */
struct flood *flood_open(const char *from, const char *to, uint16_t port, size_t n_idle,
                         size_t n_slow, uint64_t announce);
/* Advances the slow connections (handshake, length header, then one byte
 * each call) and notices the ones the agent closed. */
void flood_trickle(struct flood *f);
struct flood_counts flood_counts(const struct flood *f);
void flood_close(struct flood *f);

/* The resident set size of process pid in KiB (VmRSS), or -1. */
long flood_rss_kib(int pid);
/* The agent's side: established TCP connections to local port `port` from
 * address `from` in this network namespace (/proc/net/tcp), accepted or
 * waiting in the accept queue; -1 if it cannot be read. The flood's own
 * counts are the client's view, which keeps a connection the agent never
 * accepted (its accept queue was full, and it let the handshake lapse). */
long flood_agent_side(uint16_t port, const char *from);

/* The scenario of test_flood and bench/flood: three agents on 127.0.0.1
 * (ports base..base+2, started with the soft descriptor limit systemd gives
 * services, 1024), then a flood from `from` against the first one for
 * `seconds`, then `seconds_after` of quiet. Every second it samples the
 * flooded agent's RSS and asks it for its status; after 3 s of flood the
 * second agent drains itself and the first one drains itself, and the
 * scenario watches each record reach the other agent. */
struct flood_plan {
    const char *dir;   /* the agents' directories go under it */
    unsigned base;     /* first of 3 TCP ports */
    const char *from;  /* the flood's source address */
    size_t idle, slow;
    uint64_t announce; /* the slow ones' frame length */
    int seconds, seconds_after;
    int verbose;       /* print one line per second */
};

struct flood_result {
    long rss_before_kib, rss_max_kib, rss_after_kib;
    int status_asked, status_answered; /* during the flood */
    int whole_seconds;                 /* seconds the flooded agent saw 3 alive members */
    long agent_side_max;               /* flood_agent_side, most during the flood */
    long agent_side_end;               /* flood_agent_side, its last second */
    double inbound_s;  /* the second agent's drain seen by the flooded one; -1: never */
    double outbound_s; /* the flooded agent's drain seen by the second one; -1: never */
    struct flood_counts end;           /* connections still open when the flood ended */
    int started;       /* 0: the cluster did not come up (see the agents' logs) */
};

void flood_run(const struct flood_plan *plan, struct flood_result *res);

#endif
