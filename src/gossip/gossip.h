/* Gossip membership, failure detection and record dissemination.
 *
 * SWIM (Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent
 * Infection-style Process Group Membership Protocol", DSN 2002) with
 * suspicion, and the Lifeguard refinements (Dadgar, Phillips, Currey,
 * "Lifeguard: Local Health Awareness for More Accurate Failure Detection",
 * 2018): local health multiplier, suspicion timeouts that shrink with
 * independent confirmations, nacks from indirect probers, buddy system.
 * The structure follows HashiCorp memberlist; no code is taken from it.
 *
 * No I/O: the caller (the agent, or the simulator) feeds time, packets and
 * the local record in, and takes packets to send, the next deadline and
 * membership events out, like canonical/raft's injected I/O:
 *
 *   g = gossip_new(&cfg, id, &addr, incarnation, seed, now);
 *   loop: gossip_receive(g, now, sender, &from, bytes, len) for each packet;
 *         gossip_tick(g, now) when now >= gossip_next_deadline(g);
 *         drain gossip_next_msg() (send each to msg.to) and
 *         gossip_next_event().
 *
 * Members are named by a 64-bit id and reached at an IP address and port.
 * The driver authenticates every packet's sender and passes its id in: a
 * packet is believed only from the member it says it is from (the agent
 * derives the id from the name in the sender's certificate,
 * signed_record_member_id). What one member says about another is bounded
 * (docs/security.md, "Sane values"): an incarnation moves only by a small
 * step unless the member itself says so, and a record version only with a
 * record its owner sealed (the record_seal and record_verify hooks). */
#ifndef NODECTL_GOSSIP_H
#define NODECTL_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip_limits.h"
#include "common/reject.h"

/* How far another member's word may raise a member's incarnation
 * (gossip_members.c). */
#define GOSSIP_INCARNATION_STEP 16
/* Kinds of packet on the wire (GossipKind: gossip ... record_pieces). */
#define GOSSIP_KINDS 8

enum gossip_state {
    GOSSIP_ALIVE = 0,
    GOSSIP_SUSPECT = 1,
    GOSSIP_DEAD = 2,
    GOSSIP_LEFT = 3,
    GOSSIP_OFF = 4,
};

const char *gossip_state_name(enum gossip_state s);

struct gossip_addr {
    uint8_t ip[16]; /* IPv6, or IPv4-mapped ::ffff:a.b.c.d */
    uint16_t port;
};

/* Shared immutable record bytes. A store lets many instances in one process
 * (the simulator) keep one copy of each (owner, version); without one each
 * instance holds its own. */
struct gossip_blob {
    uint32_t refs;
    uint32_t len;
    uint8_t data[];
};
struct gossip_blob_store {
    /* Returns a blob holding data with one reference for the caller, or
     * NULL when out of memory. */
    struct gossip_blob *(*get)(void *ctx, uint64_t id, uint64_t version, const uint8_t *data,
                               size_t len);
    void *ctx;
};
void gossip_blob_unref(struct gossip_blob *b);

/* Mirrors memberlist's Config (config.go). Durations in milliseconds. */
struct gossip_config {
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t indirect_checks;           /* k of SWIM's ping-req */
    uint32_t suspicion_mult;            /* min timeout = mult * log10(N) * probe interval */
    uint32_t suspicion_max_timeout_mult; /* max timeout = this * min timeout */
    uint32_t retransmit_mult;           /* each update is sent mult * log10(N+1) times */
    uint32_t push_pull_interval_ms;     /* scaled up above 32 members, as memberlist does */
    uint32_t gossip_interval_ms;
    uint32_t gossip_nodes;
    uint32_t awareness_max_multiplier;  /* Lifeguard local health: timeouts * (score+1) */
    uint32_t packet_max;                /* bytes of one packet, >= 512 */
    /* A DEAD member is forgotten this long after it died (Serf's
     * reconnect_timeout: until then push-pull retries it), a LEFT one this
     * long after it left (Serf's tombstone_timeout). OFF members stay. */
    uint32_t reap_dead_ms;
    uint32_t reap_left_ms;
    struct gossip_blob_store store;     /* optional, see above */
    /* Optional, both or neither: records as their owner seals them. Gossip
     * hands the local record and its version to record_seal and carries
     * what it returns (*out malloc'd; 0, or -1 when it cannot); a record
     * received is kept, passed on or believed to exist only once
     * record_verify says it is member id's record at that version, sealed
     * by its owner. Without them, records are carried as given and every
     * record received is believed. */
    int (*record_seal)(void *ctx, uint64_t version, const uint8_t *data, size_t len,
                       uint8_t **out, size_t *out_len);
    bool (*record_verify)(void *ctx, uint64_t id, uint64_t version, const uint8_t *data,
                          size_t len);
    void *record_ctx;
};

/* HashiCorp memberlist DefaultLANConfig (config.go): probe 1 s, timeout
 * 500 ms, 3 indirect checks, suspicion mult 4, max timeout mult 6,
 * retransmit mult 4, push-pull 30 s, gossip every 200 ms to 3 nodes,
 * awareness max 8, 1400-byte packets; with Serf's DefaultConfig reap times
 * (serf/config.go: reconnect_timeout and tombstone_timeout 24 h). The
 * reference point of bench/gossip.sh. */
void gossip_config_memberlist_lan(struct gossip_config *c);
/* The agent's defaults: memberlist's LAN values with a faster probe, more
 * indirect checks and retransmissions, and a shorter suspicion, which meet
 * the targets in nodesim (bench/gossip.sh): probe 200 ms, timeout
 * 100 ms, 5 indirect checks, suspicion mult 3, retransmit mult 8 (why each:
 * gossip.c). */
void gossip_config_defaults(struct gossip_config *c);
/* Returns NULL if c is usable, else what is wrong with it. */
const char *gossip_config_check(const struct gossip_config *c);

struct gossip;

/* A new instance, alive at the given incarnation (the agent passes one more
 * than the incarnation in its snapshot). seed feeds its PRNG. Returns NULL
 * on a bad config or out of memory. */
struct gossip *gossip_new(const struct gossip_config *cfg, uint64_t self_id,
                          const struct gossip_addr *self_addr, uint32_t incarnation,
                          uint64_t seed, int64_t now_ms);
void gossip_free(struct gossip *g);

/* Inputs. Each returns 0, or -1 on bad input or out of memory; a bad packet
 * is counted and otherwise ignored. sender: the id of the member the
 * packet's transport authenticated (a packet that names another is
 * refused); from: the address it came from. */
int gossip_receive(struct gossip *g, int64_t now_ms, uint64_t sender,
                   const struct gossip_addr *from, const uint8_t *data, size_t len);
int gossip_tick(struct gossip *g, int64_t now_ms);
int64_t gossip_next_deadline(const struct gossip *g);
/* Push-pull with each seed (the agent retries with backoff until
 * gossip_joined()). */
int gossip_join(struct gossip *g, int64_t now_ms, const struct gossip_addr *seeds, size_t n);
bool gossip_joined(const struct gossip *g);
/* Publishes a new version of the local record. */
int gossip_set_record(struct gossip *g, int64_t now_ms, const uint8_t *data, size_t len);
/* Sends the local record at once, whole, to every member alive or suspect,
 * for news that must not wait for the epidemic to spread it (the agent's
 * change of leader or term): a packet or a few per member, so for rare
 * events only. Receivers check it as any record (record_verify). */
int gossip_push_record(struct gossip *g, int64_t now_ms);
/* Announces a graceful leave, or a power-off with wake information. Keep
 * ticking for a few gossip intervals afterwards so the news goes out. */
int gossip_leave(struct gossip *g, int64_t now_ms);
int gossip_power_off(struct gossip *g, int64_t now_ms, const uint8_t *wake, size_t wake_len);
/* After an announced power-off that did not happen: alive again, with a
 * higher incarnation so that it overrides the OFF news. */
int gossip_resume(struct gossip *g, int64_t now_ms);

/* Outputs. msg.data is malloc'd and becomes the caller's. */
struct gossip_msg {
    struct gossip_addr to;
    uint8_t *data;
    size_t len;
};
bool gossip_next_msg(struct gossip *g, struct gossip_msg *out);

enum gossip_event_kind {
    GOSSIP_EV_STATE,  /* a member appeared or changed state or incarnation */
    GOSSIP_EV_RECORD, /* a member's record changed version */
    GOSSIP_EV_REMOVED, /* a DEAD or LEFT member was forgotten (state: which) */
};
struct gossip_event {
    enum gossip_event_kind kind;
    uint64_t id;
    enum gossip_state state;
    bool learned;                /* the member was not in the table before */
    enum gossip_state old_state; /* == state when learned, or when only the incarnation moved */
    uint32_t incarnation;
    uint64_t record_version;
};
bool gossip_next_event(struct gossip *g, struct gossip_event *out);

/* Queries. Pointers stay valid until the next input call. */
struct gossip_member_info {
    uint64_t id;
    struct gossip_addr addr;
    enum gossip_state state;
    uint32_t incarnation;
    int64_t changed_ms;
    uint64_t record_version;
    const uint8_t *record;
    size_t record_len;
    const uint8_t *wake;
    size_t wake_len;
};
size_t gossip_member_count(const struct gossip *g);
void gossip_member_at(const struct gossip *g, size_t i, struct gossip_member_info *out);
/* Returns false if id is unknown. */
bool gossip_member_find(const struct gossip *g, uint64_t id, struct gossip_member_info *out);
uint32_t gossip_incarnation(const struct gossip *g);
/* Lifeguard's local health multiplier (LHM, section IV-A): 0 = healthy;
 * probe intervals and timeouts are multiplied by score + 1. It rises with
 * missed acks and nacks, refutations, and ticks that come late: a driver
 * whose loop runs late (a busy host, a paused process) calls gossip_tick
 * after the deadline it was given, and gossip counts that as its own
 * slowness rather than its peers' failure. */
uint32_t gossip_health_score(const struct gossip *g);
/* How late the last late tick came after its deadline (ms; 0 when the
 * ticks come on time). */
uint32_t gossip_late_ms(const struct gossip *g);
/* What this member did since it started, for metrics. */
struct gossip_counts {
    uint64_t probes;        /* members probed (SWIM section 3.1) */
    uint64_t probes_failed; /* probes no ack answered, directly or through others */
    uint64_t suspicions;    /* members this one began to suspect */
    uint64_t refutations;   /* suspicions of this member it refuted */
    /* Packets by kind (proto/gossip.proto's GossipKind): queued to send, and
     * received and decoded (our own looped back excluded), to tell which
     * kind of traffic grows with load. */
    uint64_t sent[GOSSIP_KINDS];
    uint64_t received[GOSSIP_KINDS];
    uint64_t records;       /* new record versions of others believed */
};
struct gossip_counts gossip_counts(const struct gossip *g);
/* The name of packet kind k (< GOSSIP_KINDS): "ping", "ack", ... */
const char *gossip_kind_name(unsigned k);
/* Why a packet, or an entry of one, was refused. */
enum gossip_reject {
    GOSSIP_REJECT_MALFORMED,   /* does not decode as a GossipPacket */
    GOSSIP_REJECT_TOO_LARGE,   /* more than GOSSIP_PACKET_LIMIT bytes */
    GOSSIP_REJECT_MEMBERS,     /* more than GOSSIP_PKT_MEMBERS member entries */
    GOSSIP_REJECT_RECORDS,     /* more than GOSSIP_PKT_RECORDS record entries */
    GOSSIP_REJECT_WANTS,       /* more than GOSSIP_PKT_WANT wanted ids */
    GOSSIP_REJECT_KIND,        /* an unknown packet kind */
    GOSSIP_REJECT_STATE,       /* a member state out of range */
    GOSSIP_REJECT_ADDRESS,     /* a member or ping-req target address that is not one */
    GOSSIP_REJECT_WAKE,        /* wake information longer than GOSSIP_WAKE_MAX */
    GOSSIP_REJECT_RECORD_SIZE, /* a record longer than GOSSIP_RECORD_MAX, or a piece past its end */
    GOSSIP_REJECT_PIECE,       /* a piece off a chunk boundary or of the wrong length */
    GOSSIP_REJECT_TABLE_FULL,  /* a new member while GOSSIP_MEMBERS_MAX are known */
    GOSSIP_REJECT_REASONS,
};
const char *gossip_reject_name(unsigned r);
const struct rejects *gossip_rejects(const struct gossip *g);
/* Every refusal, whatever the reason. */
uint64_t gossip_bad_packets(const struct gossip *g);
/* How the suspicion timeouts grow with the cluster of n members: log10(n),
 * and 1 up to 10 (min = suspicion_mult * scale * probe_interval, Lifeguard
 * section 4.2). The leader's HA scales its refutation window by it too. */
double gossip_size_scale(size_t n);
/* What one member may not tell about another (docs/security.md, "Sane
 * values"): refused and counted by reason. */
enum gossip_refusal {
    GOSSIP_REFUSED_SENDER,      /* a packet names another sender than its transport's */
    GOSSIP_REFUSED_ACK,         /* an ack or nack from a member that was not asked */
    GOSSIP_REFUSED_INCARNATION, /* an incarnation beyond a plausible step, or exhausted */
    GOSSIP_REFUSED_RECORD,      /* a record its owner did not seal (record_verify) */
    GOSSIP_REFUSALS
};
const char *gossip_refusal_name(enum gossip_refusal r);
uint64_t gossip_refused(const struct gossip *g, enum gossip_refusal r);

/* Makes members known in the given state, as from a snapshot or a
 * simulator's warm start: no news is broadcast; a SUSPECT member is taken
 * as ALIVE and probed afresh; our own entry only raises our incarnation and
 * record version. Returns -1 on bad input (a state out of range, wake
 * information too long) or out of memory. */
int gossip_add_members(struct gossip *g, int64_t now_ms, const struct gossip_member_info *members,
                       size_t n);

/* Snapshot of the membership (with records and wake information) for the
 * agent's state directory. *out is malloc'd. */
int gossip_snapshot_encode(const struct gossip *g, uint8_t **out, size_t *len);
/* The same format from a list of members, e.g. a simulator's warm start. */
int gossip_snapshot_build(uint64_t self_id, const struct gossip_member_info *members, size_t n,
                          uint8_t **out, size_t *len);
/* Merges a snapshot with gossip_add_members (probing then finds out who is
 * really there). Returns -1 with *err on bad input. */
int gossip_snapshot_load(struct gossip *g, int64_t now_ms, const uint8_t *data, size_t len,
                         const char **err);

#endif
