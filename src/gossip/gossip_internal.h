/* Shared between the files of src/gossip/ only; not a public header. */
#ifndef NODECTL_GOSSIP_INTERNAL_H
#define NODECTL_GOSSIP_INTERNAL_H

#include "common/prng.h"
#include "gossip.h"
#include "gossip.pb-c.h"

#define GOSSIP_RECORD_ASKS 8
#define GOSSIP_WANT_SCAN 512
#define GOSSIP_WANT_PER_TICK 32
#define GOSSIP_NONE UINT32_MAX
/* Members asked for their own word (a ping, whose ack carries the member's
 * entry) at most this many per probe interval. */
#define GOSSIP_ASKS_PER_INTERVAL 8

/* One member as this instance sees it. Kept small: the simulator holds
 * N * N of them. */
struct member {
    uint64_t id;
    struct gossip_addr addr;
    uint8_t state : 3;
    uint8_t wanted : 5; /* asks left for a newer record a peer listed, 0 = none */
    /* How far incarnation is above its anchor: the last incarnation the
     * member told us itself, or the first we learned of it. Others may
     * raise it to anchor + GOSSIP_INCARNATION_STEP, no further
     * (gossip_members.c). */
    uint8_t above_anchor;
    uint32_t incarnation;
    int64_t changed_ms;
    uint64_t record_version; /* of *record, 0 = none */
    struct gossip_blob *record;
    void *aux; /* SUSPECT: struct suspicion *; OFF: struct gossip_blob * wake */
};

/* Lifeguard suspicion (section 4.2 of the paper; memberlist suspicion.go):
 * the timeout starts at max and falls toward min as k independent
 * confirmations arrive. */
struct suspicion {
    uint32_t member;
    uint32_t slot; /* index in gossip.susp */
    int64_t start_ms;
    int64_t deadline_ms;
    uint32_t min_ms, max_ms;
    uint32_t k, n;
    uint64_t from[]; /* first suspector, then n confirmers */
};

enum bcast_kind { BCAST_MEMBER, BCAST_RECORD };
struct bcast {
    uint8_t kind;
    uint32_t member;
    uint64_t from; /* SUSPECT/DEAD: who suspects */
    uint32_t transmits;
};

#define GOSSIP_INDIRECT_MAX 16

/* The ping this node's probe of one member is waiting for. Its ack may come
 * from that member or from a relay asked, nothing else. */
struct probe {
    bool active;
    bool acked;
    bool indirect_sent;
    uint32_t seq;
    uint32_t member;
    uint64_t target; /* the member's id */
    uint32_t incarnation;
    int64_t timeout_ms; /* then ping-req */
    int64_t sent_ms;    /* the first ping, for the round-trip estimate */
    bool answered;      /* the target's own ack came */
    uint32_t expected_nacks, nacks;
    uint64_t relays[GOSSIP_INDIRECT_MAX]; /* ids of the members asked to ping it */
};

/* A ping sent on behalf of a ping-req: only the target may ack it. */
struct relay {
    uint32_t seq;      /* ours, to the target */
    uint32_t orig_seq; /* the requester's */
    uint64_t target;
    struct gossip_addr requester;
    int64_t deadline_ms; /* then nack */
};

struct reassembly {
    uint64_t id, version;
    uint32_t total, chunks_left;
    uint32_t asks;
    struct gossip_addr peer; /* who announced or listed it last */
    bool asked_owner;        /* the last ask went to the record's owner */
    int64_t asked_ms, deadline_ms;
    uint8_t *data;
    uint8_t *have; /* one byte per chunk */
};

struct outmsg {
    struct gossip_addr to;
    uint8_t *data;
    size_t len;
};

struct gossip {
    struct gossip_config cfg;
    struct prng rng;
    uint32_t self; /* index of our own member */
    int64_t now_ms;
    struct rejects rejects;
    uint64_t refused[GOSSIP_REFUSALS];
    struct gossip_counts counts;
    bool joined;
    uint32_t seq;
    /* Refutations: at most one per probe interval, the pending one done by
     * gossip_tick (gossip_members.c). */
    int64_t next_refute_ms;
    bool refute_pending;
    uint32_t refute_over;
    int64_t asks_reset_ms; /* see ask_member in gossip_members.c */
    uint32_t asks_left;
    /* With cfg.record_seal: our record as given, sealed again when a
     * previous life of ours forces a higher version. */
    struct gossip_blob *own_record;

    /* members: dense array; index by id in an open-addressing table. */
    struct member *m;
    uint32_t n, cap;
    uint32_t *index; /* slot -> member + 1, 0 = empty */
    uint32_t index_mask;
    uint32_t n_alive; /* ALIVE or SUSPECT, for log N scaling */

    /* randomized round-robin probe order (SWIM section 4.3) */
    uint32_t *order;
    uint32_t order_pos;
    struct probe probe;
    int64_t next_probe_ms;
    uint32_t awareness;
    /* Local health from our own lateness (gossip_probe.c, loop_late). */
    int64_t late_counted_ms; /* when lateness last raised awareness */
    uint32_t late_ms;        /* how late the last late tick was, 0 = on time */
    /* The longest recent round trip of our probes, decaying with time
     * since it was seen (gossip_probe.c, rtt_sample). */
    double rtt_peak_ms;
    int64_t rtt_peak_at_ms;
    bool rtt_measured; /* false: no ack yet, the estimate is its cap */
    /* The last probe that ended without its target's own ack, whose ack
     * may still come (seq 0: none). */
    struct probe unanswered;

    struct relay relays[GOSSIP_RELAYS_MAX];
    uint32_t n_relays;

    struct suspicion **susp;
    uint32_t n_susp, cap_susp;
    int64_t susp_next_ms; /* the earliest deadline in susp, INT64_MAX if none */

    struct bcast *bq;
    uint32_t n_bq, cap_bq;
    int64_t next_gossip_ms;

    int64_t next_push_pull_ms;
    int64_t next_gap_pull_ms; /* see gap_pull in gossip_pushpull.c */
    /* Members whose record a peer has newer than we do (member.wanted). */
    uint32_t n_wanted, want_cursor;
    int64_t next_want_ms;
    struct reassembly reasm[GOSSIP_REASSEMBLY_MAX];
    uint32_t n_reasm;

    struct outmsg *out;
    size_t n_out, cap_out, out_head;
    struct gossip_event *ev;
    size_t n_ev, cap_ev, ev_head;
};

/* A packet being filled, up to cfg.packet_max bytes when packed. */
struct pkt {
    Nodectl__GossipPacket msg;
    Nodectl__GossipMember *mp[GOSSIP_PKT_MEMBERS];
    Nodectl__GossipMember mem[GOSSIP_PKT_MEMBERS];
    Nodectl__GossipRecord *rp[GOSSIP_PKT_RECORDS];
    Nodectl__GossipRecord rec[GOSSIP_PKT_RECORDS];
    uint64_t want[GOSSIP_PKT_WANT];
    size_t size, limit;
    int64_t now_ms; /* for the state ages of push-pull entries */
};

/* gossip_wire.c */
void pkt_init(struct gossip *g, struct pkt *p, Nodectl__GossipKind kind);
/* with_record_version: a push-pull entry, which also carries the record
 * version. DEAD and LEFT entries carry the state's age. */
bool pkt_add_member(struct pkt *p, const struct member *m, uint64_t from, bool with_record_version);
bool pkt_add_record(struct pkt *p, uint64_t id, uint64_t version, uint32_t total, uint32_t offset,
                    const uint8_t *data, size_t len);
bool pkt_add_want(struct pkt *p, uint64_t id);
int pkt_send(struct gossip *g, struct pkt *p, const struct gossip_addr *to);
int out_push(struct gossip *g, const struct gossip_addr *to, uint8_t *data, size_t len);
int event_push(struct gossip *g, const struct gossip_event *ev);
void addr_to_wire(const struct gossip_addr *a, ProtobufCBinaryData *ip, uint32_t *port);
bool addr_from_wire(ProtobufCBinaryData ip, uint32_t port, struct gossip_addr *a);

/* gossip_members.c */
uint32_t member_find(const struct gossip *g, uint64_t id);
int members_reserve(struct gossip *g, uint32_t cap);
uint32_t member_add(struct gossip *g, uint64_t id, const struct gossip_addr *addr,
                    enum gossip_state state, uint32_t incarnation);
int member_set_state(struct gossip *g, uint32_t i, enum gossip_state state, uint32_t incarnation);
/* Applies an update about a member (SWIM's rules, self refutation). from =
 * who suspects, sender_addr = where a refutation is sent directly. Returns
 * 1 if it changed something (the caller may rebroadcast), 0 if not, -1 on
 * error. */
int member_apply(struct gossip *g, const Nodectl__GossipMember *u, bool rebroadcast,
                 const struct gossip_addr *sender_addr, uint64_t sender);
int member_set_wake(struct gossip *g, uint32_t i, const uint8_t *wake, size_t len);
/* Forgets the DEAD and LEFT members past their reap time (Serf's reaper);
 * -1 when out of memory for the events. */
int members_reap(struct gossip *g);
/* A record received whole (reassembled, or from a snapshot): believed only
 * if cfg.record_verify says its owner sealed it. Ours, from a previous
 * life, makes us publish above it. */
int record_apply(struct gossip *g, uint64_t id, uint64_t version, const uint8_t *data, size_t len,
                 bool rebroadcast);
/* Seals g->own_record at version (cfg.record_seal) and publishes it. */
int own_record_seal(struct gossip *g, uint64_t version);
uint32_t member_random(struct gossip *g, bool (*ok)(const struct member *m));
bool member_probeable(const struct member *m);
uint32_t log10_ceil(uint32_t n);
int refute(struct gossip *g, uint32_t over_incarnation, const struct gossip_addr *tell);
/* The refutation held back by the rate limit, when it is due. */
int refute_tick(struct gossip *g);
void refuse(struct gossip *g, enum gossip_refusal r);
/* A blob holding a copy of data (one reference), NULL when out of memory. */
struct gossip_blob *blob_copy(const uint8_t *data, size_t len);

/* gossip_suspicion.c */
int suspicion_start(struct gossip *g, uint32_t i, uint64_t from);
bool suspicion_confirm(struct gossip *g, uint32_t i, uint64_t from);
void suspicion_drop(struct gossip *g, uint32_t i);
int suspicion_tick(struct gossip *g);
int64_t suspicion_next_deadline(const struct gossip *g);

/* gossip_broadcast.c */
int bcast_member(struct gossip *g, uint32_t i, uint64_t from);
int bcast_record(struct gossip *g, uint32_t i);
/* Priority entry first (buddy system), then the least-sent ones. */
void bcast_fill(struct gossip *g, struct pkt *p, uint32_t priority_member);
uint32_t bcast_limit(const struct gossip *g);
/* Member removed is gone and member moved took its index. */
void bcast_renumber(struct gossip *g, uint32_t removed, uint32_t moved);
int gossip_round(struct gossip *g);

/* gossip_probe.c */
int probe_tick(struct gossip *g);
int probe_on_ping(struct gossip *g, const Nodectl__GossipPacket *p, const struct gossip_addr *from);
int probe_on_ping_req(struct gossip *g, const Nodectl__GossipPacket *p,
                      const struct gossip_addr *from);
int probe_on_ack(struct gossip *g, const Nodectl__GossipPacket *p);
/* A ping to member i outside the probe round, only for its ack, which
 * carries its own entry: its own word (gossip_members.c). */
int probe_ask(struct gossip *g, uint32_t i);
void probe_on_nack(struct gossip *g, const Nodectl__GossipPacket *p);
int64_t probe_next_deadline(const struct gossip *g);
void awareness_add(struct gossip *g, int delta);
/* A tick this long after the deadline this instance asked for: its own
 * loop ran late (gossip_tick). */
void loop_late(struct gossip *g, int64_t late_ms);
uint32_t scaled_ms(const struct gossip *g, uint32_t ms);
/* How long to wait for an answer: the probe timeout widened by local
 * health, or the round-trip estimate if that is longer. */
uint32_t probe_wait_ms(const struct gossip *g);
void order_insert(struct gossip *g, uint32_t i);
/* Member removed is gone (g->n not yet lowered) and member moved took its
 * index: the probe order and the probe in flight follow. */
void probe_renumber(struct gossip *g, uint32_t removed, uint32_t moved);

/* gossip_pushpull.c */
int push_pull_tick(struct gossip *g);
/* Draws a new random phase within the (size-scaled) interval. */
void push_pull_rephase(struct gossip *g);
int push_pull_send(struct gossip *g, const struct gossip_addr *to, bool reply);
int push_pull_on_packet(struct gossip *g, const Nodectl__GossipPacket *p,
                        const struct gossip_addr *from);
int records_on_want(struct gossip *g, const Nodectl__GossipPacket *p,
                    const struct gossip_addr *from);
int records_on_piece(struct gossip *g, const Nodectl__GossipRecord *r,
                     const struct gossip_addr *from, uint64_t sender);
void reassembly_free_all(struct gossip *g);
/* Drops the fetch of id's record, if one is in flight. */
void reassembly_forget(struct gossip *g, uint64_t id);
int64_t push_pull_next_deadline(const struct gossip *g);

#endif
