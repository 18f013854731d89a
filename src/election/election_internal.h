/* Shared between the files of src/election/ only. */
#ifndef NODECTL_ELECTION_INTERNAL_H
#define NODECTL_ELECTION_INTERNAL_H

#include "common/prng.h"
#include "election.h"
#include "election.pb-c.h"

#define NEVER INT64_MIN

struct voter_state {
    uint64_t id;
    uint32_t priority;
    bool granted;          /* (pre-)vote granted in the current campaign */
    int64_t acked_sent_ms; /* leader: newest heartbeat (by send time) it acknowledged */
    uint64_t shown;        /* the highest term it showed, in a message or its record */
    /* The newest (boot, sent_ms) heard from this voter, echoed in every
     * message sent to it (0, 0: none). */
    uint64_t echo_boot;
    int64_t echo_ms;
};

struct election {
    struct election_config cfg;
    struct prng rng;
    size_t self;
    struct voter_state v[ELECTION_VOTERS_MAX];
    uint64_t boot; /* drawn at election_new: which start of this node a clock reading is of */
    struct election_hard_state hs; /* in memory; ahead of the disk while dirty */
    bool dirty;
    bool disabled;
    enum election_role role;
    uint64_t leader;
    int64_t now;
    int64_t campaign_at;          /* follower and candidates: when to (re)campaign */
    int64_t leader_contact;       /* last heartbeat taken from the current leader */
    /* The last heartbeat taken: a later one of the same leader and term
     * must be newer (election_on_heartbeat). */
    uint64_t hb_term, hb_leader;
    int64_t hb_sent_ms;
    uint64_t proposed_term;       /* pre-candidate */
    bool transfer;                /* this campaign follows a TIMEOUT_NOW */
    int64_t leader_since;
    int64_t quorum_from;          /* leader: CheckQuorum judges from then on (late_grace) */
    uint32_t late_graces;         /* late ticks forgiven in a row (late_grace) */
    uint32_t health;              /* local health score (election_local_health) */
    int64_t next_heartbeat;
    int64_t lease_until;
    struct election_msg *out;
    size_t n_out, cap_out;
    struct rejects rejects;
    uint64_t refused_terms;
    struct election_counts counts;
    /* A message could not be queued (out of memory). Sticky, like ferror:
     * the input that caused it reports -1, and the peers see a lost
     * message, which the protocol tolerates. */
    bool oom;
};

size_t election_quorum(const struct election *e);
/* The election timeout widened by the local health: how long this node
 * waits for a leader's or a follower's word before it judges it silent. */
int64_t election_patience_ms(const struct election *e);
int election_voter_index(const struct election *e, uint64_t id);
void election_reset_timer(struct election *e);
void election_become_follower(struct election *e, uint64_t term, uint64_t leader);
void election_become_leader(struct election *e);
/* The hard state changed: it must be saved before the next message leaves. */
void election_set_term(struct election *e, uint64_t term, uint64_t voted_for);

/* election_vote.c */
void election_campaign(struct election *e, bool pre, bool transfer);
void election_on_pre_vote(struct election *e, const Nodectl__ElectionMsg *m);
void election_on_pre_vote_resp(struct election *e, const Nodectl__ElectionMsg *m);
void election_on_vote(struct election *e, const Nodectl__ElectionMsg *m);
void election_on_vote_resp(struct election *e, const Nodectl__ElectionMsg *m);
bool election_sticky(const struct election *e);

/* election_lease.c */
void election_heartbeat(struct election *e);
void election_on_heartbeat(struct election *e, const Nodectl__ElectionMsg *m);
void election_on_heartbeat_resp(struct election *e, const Nodectl__ElectionMsg *m);
void election_check_quorum(struct election *e);
void election_on_timeout_now(struct election *e, const Nodectl__ElectionMsg *m);
void election_prefer(struct election *e);

/* election_wire.c: queue one message (to every other voter), stamped
 * with this node's clock and the recipient's echo; out of memory sets
 * e->oom. */
void election_send(struct election *e, uint64_t to, Nodectl__ElectionKind kind, uint64_t term,
                   bool granted, bool transfer);
void election_broadcast(struct election *e, Nodectl__ElectionKind kind, uint64_t term,
                        bool transfer);
/* The same with the echo given: a heartbeat's answer echoes that heartbeat. */
void election_send_echo(struct election *e, uint64_t to, Nodectl__ElectionKind kind,
                        uint64_t term, bool granted, bool transfer, uint64_t echo_boot,
                        int64_t echo_ms);

#endif
