/* Campaigns: Pre-Vote, then the vote itself (Ongaro 2014, sections 3.4 and
 * 9.6). Pre-Vote asks "would you vote for me?" without touching anyone's
 * term, so a host that was cut off and comes back cannot force a needless
 * election by bumping terms. */
#include "election_internal.h"

/* Heard from a live leader within the minimum election timeout (section
 * 4.2.3): such a node neither pre-votes nor votes, which is what makes the
 * leader lease safe (election_lease.c). Not widened by the local health:
 * when the leader dies, its followers' failed probes of it raise their
 * scores, and a voter that refused longer would hold back the one that
 * campaigns first. */
bool election_sticky(const struct election *e) {
    if (e->role == ELECTION_LEADER)
        return true;
    return e->now - e->leader_contact < (int64_t)e->cfg.election_timeout_ms;
}

static size_t granted(const struct election *e) {
    size_t n = 0;
    for (size_t i = 0; i < e->cfg.n_voters; i++)
        n += e->v[i].granted;
    return n;
}

static void clear_grants(struct election *e) {
    for (size_t i = 0; i < e->cfg.n_voters; i++)
        e->v[i].granted = i == e->self;
}

static void start_vote(struct election *e) {
    e->counts.elections++;
    election_set_term(e, e->hs.term + 1, e->cfg.self_id);
    e->role = ELECTION_CANDIDATE;
    e->leader = 0;
    clear_grants(e);
    election_reset_timer(e);
    if (granted(e) >= election_quorum(e))
        election_become_leader(e);
    else
        election_broadcast(e, NODECTL__ELECTION_KIND__ELECTION_VOTE, e->hs.term, e->transfer);
}

void election_campaign(struct election *e, bool pre, bool transfer) {
    e->transfer = transfer;
    if (!pre) {
        start_vote(e);
        return;
    }
    e->counts.pre_votes++;
    e->role = ELECTION_PRE_CANDIDATE;
    e->leader = 0;
    e->proposed_term = e->hs.term + 1;
    clear_grants(e);
    election_reset_timer(e);
    if (granted(e) >= election_quorum(e))
        start_vote(e);
    else
        election_broadcast(e, NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE, e->proposed_term, false);
}

/* Whether voter i goes before voter j: the higher priority, then the
 * higher id. */
static bool outranks(const struct election *e, size_t i, size_t j) {
    if (e->v[i].priority != e->v[j].priority)
        return e->v[i].priority > e->v[j].priority;
    return e->v[i].id > e->v[j].id;
}

/* Two voters that campaign at once both grant each other's pre-vote, both
 * go on to vote for themselves, and with one voter down neither has a
 * quorum: the term is lost (a split vote, section 3.4), which the
 * randomized timeout makes rare only while messages take much less than
 * its spread, not on a loaded machine. So a voter that grants a pre-vote
 * to one that outranks it gives that campaign an election timeout before
 * its own (its timer starts again, as on granting a vote), and a
 * pre-candidate stands down; the other campaign goes on with its vote.
 * Nothing is granted that would not have been: Pre-Vote changes no term
 * and no vote, and a voter that waits only campaigns later. */
void election_on_pre_vote(struct election *e, const Nodectl__ElectionMsg *m) {
    bool grant = !e->disabled && m->term > e->hs.term && !election_sticky(e);
    int from = election_voter_index(e, m->from);
    if (grant && from >= 0 && outranks(e, (size_t)from, e->self) &&
        e->role != ELECTION_CANDIDATE) {
        if (e->role == ELECTION_PRE_CANDIDATE) {
            e->role = ELECTION_FOLLOWER;
            e->counts.pre_votes_yielded++;
        }
        election_reset_timer(e);
    }
    election_send(e, m->from, NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE_RESP,
                  grant ? m->term : e->hs.term, grant, false);
}

void election_on_pre_vote_resp(struct election *e, const Nodectl__ElectionMsg *m) {
    if (m->term > e->hs.term && !m->granted) {
        /* Someone is further ahead: follow its term (etcd raft does the same). */
        election_become_follower(e, m->term, 0);
        return;
    }
    if (e->role != ELECTION_PRE_CANDIDATE || m->term != e->proposed_term || !m->granted)
        return;
    e->v[election_voter_index(e, m->from)].granted = true;
    if (granted(e) >= election_quorum(e))
        start_vote(e);
}

void election_on_vote(struct election *e, const Nodectl__ElectionMsg *m) {
    /* A node that heard from its leader lately ignores a campaign, without
     * even adopting its term, unless the leader itself asked for it
     * (leadership transfer). */
    if (!m->transfer && election_sticky(e) && m->term > e->hs.term) {
        election_send(e, m->from, NODECTL__ELECTION_KIND__ELECTION_VOTE_RESP, e->hs.term, false,
                      false);
        return;
    }
    if (m->term > e->hs.term)
        election_become_follower(e, m->term, 0);
    bool grant = !e->disabled && m->term == e->hs.term &&
                 (e->hs.voted_for == 0 || e->hs.voted_for == m->from);
    if (grant) {
        election_set_term(e, e->hs.term, m->from);
        election_reset_timer(e);
    }
    election_send(e, m->from, NODECTL__ELECTION_KIND__ELECTION_VOTE_RESP, e->hs.term, grant, false);
}

/* A vote counts for the candidate it names (election_receive refuses one
 * addressed to another) in the term it names. */
void election_on_vote_resp(struct election *e, const Nodectl__ElectionMsg *m) {
    if (m->term > e->hs.term) {
        election_become_follower(e, m->term, 0);
        return;
    }
    if (e->role != ELECTION_CANDIDATE || m->term != e->hs.term || !m->granted)
        return;
    e->v[election_voter_index(e, m->from)].granted = true;
    if (granted(e) >= election_quorum(e))
        election_become_leader(e);
}
