/* Leader election among the configured candidate hosts.
 *
 * Raft's leader election (Ongaro, "Consensus: Bridging Theory and Practice",
 * Stanford PhD dissertation, 2014, section 3.4) with the Pre-Vote phase
 * (section 9.6), CheckQuorum (section 6.2) and a leader lease (section
 * 6.4.1), and leadership transfer (section 3.10). There is no log: the
 * leader only plans and commands, and rebuilds everything else from gossip,
 * so leadership is the whole replicated state.
 *
 * No I/O, like src/gossip/: the driver passes time, randomness (a seed) and
 * messages in, and takes messages, the hard state to persist and the next
 * deadline out. The hard state (term, vote) must be on disk before any
 * message produced after it changed is sent: election_next_msg holds them
 * back until the driver reports election_saved(); election_save_failed()
 * makes this node refuse to vote or lead until a save succeeds again.
 *
 * Why no second leader can be elected while a lease holds: see
 * election_lease.c.
 *
 * Messages may be lost, delayed, duplicated, replayed later and delivered
 * to the wrong voter: each names its sender and recipient, and is ignored
 * (and counted) by any other; a vote counts for the candidate and term it
 * names; a heartbeat makes a follower sticky only when it echoes a recent
 * message of that follower (proto/election.proto). */
#ifndef NODECTL_ELECTION_H
#define NODECTL_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/reject.h"

#define ELECTION_VOTERS_MAX 9
/* How far above the term a quorum of voters shows a message's term may be
 * (docs/security.md, "Sane values"; election.c). */
#define ELECTION_TERM_STEP 16
/* Late ticks forgiven in a row (election_tick). */
#define ELECTION_LATE_GRACES 2

enum election_role {
    ELECTION_FOLLOWER,
    ELECTION_PRE_CANDIDATE,
    ELECTION_CANDIDATE,
    ELECTION_LEADER,
};
const char *election_role_name(enum election_role r);

struct election_voter {
    uint64_t id;
    uint32_t priority; /* higher is preferred as leader; 0 = no preference */
};

struct election_config {
    uint64_t self_id; /* must be one of voters */
    size_t n_voters;
    struct election_voter voters[ELECTION_VOTERS_MAX];
    uint32_t heartbeat_ms;
    /* Followers campaign after a random timeout in [T, 2T) without a
     * heartbeat, and refuse votes for T after one. */
    uint32_t election_timeout_ms;
    /* The lease ends this much before followers may vote again, to cover
     * clock rate differences between hosts. */
    uint32_t lease_margin_ms;
};
/* NULL if usable, else what is wrong. */
const char *election_config_check(const struct election_config *c);

/* What must survive a restart (Raft's currentTerm and votedFor). */
struct election_hard_state {
    uint64_t term;
    uint64_t voted_for; /* 0: none in this term */
};

struct election;

struct election *election_new(const struct election_config *cfg,
                              const struct election_hard_state *hs, uint64_t seed, int64_t now_ms);
void election_free(struct election *e);

/* Inputs; -1 on a malformed message (counted) or out of memory. A message
 * whose term is more than ELECTION_TERM_STEP above what a quorum of voters
 * shows is refused and counted (election_refused_terms). */
int election_receive(struct election *e, int64_t now_ms, uint64_t from, const uint8_t *data,
                     size_t len);
/* A term voter `from` shows elsewhere: in its record, signed by it. */
void election_observe_term(struct election *e, uint64_t from, uint64_t term);
/* Lifeguard's local health score of this node (Dadgar et al. 2018, section
 * IV-A; gossip_health_score): 0 = healthy. While it is above 0, the times
 * this node allows a leader to be silent before it campaigns, a heartbeat's
 * echo to arrive, and a leader its followers to answer before CheckQuorum,
 * are multiplied by score + 1, the score counted up to ELECTION_HEALTH_MAX:
 * a leader's death also raises the score of the followers whose probes of
 * it fail, and failover must stay within a few timeouts. The lease, and
 * how long a voter refuses votes after a heartbeat, are unchanged. */
#define ELECTION_HEALTH_MAX 2
void election_local_health(struct election *e, uint32_t score);
/* Timers. A tick that comes more than two heartbeat intervals after
 * election_next_deadline says this node did not run meanwhile: it ends no
 * term (a follower does not campaign, a leader's CheckQuorum waits), at
 * most ELECTION_LATE_GRACES times in a row (election.c). */
int election_tick(struct election *e, int64_t now_ms);
int64_t election_next_deadline(const struct election *e);
/* Leader only: hands leadership to `to` (0: the preferred reachable voter).
 * The lease ends at once. -1 if not leader or no such voter. */
int election_transfer(struct election *e, int64_t now_ms, uint64_t to);

/* Persistence handshake. */
bool election_unsaved(const struct election *e, struct election_hard_state *out);
void election_saved(struct election *e);
void election_save_failed(struct election *e);
bool election_disabled(const struct election *e);

/* Outputs: data is malloc'd and becomes the caller's. */
struct election_msg {
    uint64_t to;
    uint8_t *data;
    size_t len;
};
bool election_next_msg(struct election *e, struct election_msg *out);

/* Queries. */
enum election_role election_role(const struct election *e);
uint64_t election_term(const struct election *e);
uint64_t election_leader(const struct election *e); /* 0: unknown */
/* When this node last took a heartbeat from a leader (or started). */
int64_t election_leader_contact(const struct election *e);
/* True while this node is leader and a majority acknowledged it recently
 * enough that no other leader can exist: only then may it act. */
bool election_has_lease(const struct election *e, int64_t now_ms);
int64_t election_lease_until(const struct election *e);
/* What this node did since it started, for metrics. */
struct election_counts {
    uint64_t pre_votes;  /* pre-vote rounds begun (Raft thesis section 9.6) */
    uint64_t pre_votes_yielded; /* of those, ended for one that outranks it (election_on_pre_vote) */
    uint64_t elections;  /* real votes begun: a term of its own */
    uint64_t won;        /* terms it became leader in */
    uint64_t transfers;  /* leadership handed to another voter */
    uint64_t late_ticks; /* ticks that came late and ended no term (election_tick) */
};
struct election_counts election_counts(const struct election *e);
/* Why a message was refused (counted by reason). */
enum election_reject {
    ELECTION_REJECT_MALFORMED,    /* does not decode as an ElectionMsg */
    ELECTION_REJECT_SENDER,       /* not from another voter, or it names another sender */
    ELECTION_REJECT_RECIPIENT,    /* addressed to another voter */
    ELECTION_REJECT_KIND,         /* an unknown kind */
    ELECTION_REJECT_UNECHOED,     /* a heartbeat that echoes no recent message of ours */
    ELECTION_REJECT_OLD_HEARTBEAT, /* a heartbeat no newer than one taken from that leader */
    ELECTION_REJECT_REASONS,
};
const char *election_reject_name(unsigned r);
const struct rejects *election_rejects(const struct election *e);
/* Every refusal, whatever the reason. */
uint64_t election_bad_messages(const struct election *e);
uint64_t election_refused_terms(const struct election *e);
/* The highest term a message may carry now. */
uint64_t election_term_ceiling(const struct election *e);

#endif
