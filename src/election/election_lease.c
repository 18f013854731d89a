/* The leader's side: heartbeats, CheckQuorum, the lease, and leadership
 * transfer (Ongaro 2014, sections 6.2, 6.4.1 and 3.10).
 *
 * Why no other leader can be elected while the lease holds.
 * The leader sends a heartbeat at its local time s. A voter that receives it
 * (at real time r >= s) refuses every Pre-Vote and every non-transfer Vote
 * until it has gone a full election timeout T without hearing from a leader
 * (election_sticky), by its own clock: until at least r + T(1 - rho) in real
 * time, rho bounding how much slower than real time a clock may run. A
 * voter that restarts behaves as if it had just heard from a leader, so a
 * crash does not erase that promise. Once a majority acknowledged heartbeats
 * sent at s or later, the lease runs until s + T - margin on the leader's
 * clock. Any new leader needs the votes of a majority, and every majority
 * shares a voter with the one that acknowledged; that voter refuses until
 * r + T(1 - rho) >= s + T(1 - rho). So as long as margin >= T * (rho +
 * rho'), rho' covering the leader's own clock running fast, no other leader
 * exists before the lease ends. The default margin, 100 ms for T = 500 ms,
 * allows 20 % of drift, far beyond what NTP-disciplined or even free-running
 * quartz clocks show (about 1e-4). Transfer gives the lease up first: the
 * leader stops acting before it sends TIMEOUT_NOW, the only message that lets
 * voters ignore stickiness. A leader that cannot persist its state (disk full,
 * read-only) is disabled and holds no lease.
 *
 * Stickiness is a promise about a leader heard *now* (Raft section 4.2.3:
 * "heard from a current leader"), and a heartbeat may be replayed long after
 * its leader died: were it taken, one captured heartbeat resent every
 * 400 ms would keep every voter refusing votes, and the cluster leaderless. So a follower
 * takes a heartbeat (becomes sticky, resets its timer, acknowledges) only
 * when it echoes the follower's own clock from a message the follower sent
 * within an election timeout (widened by its local health,
 * election_patience_ms), in its current start (echo_boot, echo_ms),
 * and is newer than the last heartbeat taken from that leader in that term.
 * A replay then works for at most that long after the follower's message it
 * echoes. Any other heartbeat only teaches its term; the answer,
 * not granted, carries the follower's clock, so the leader's next
 * heartbeat echoes it. Refusing a heartbeat never endangers the lease: the
 * leader counts only granted acknowledgements, and a follower grants only
 * a heartbeat it took, becoming sticky from the moment it took it. */
#include "election_internal.h"

/* The newest send time that at least a quorum (the leader counting itself
 * at its last heartbeat) acknowledged. */
static int64_t quorum_acked(const struct election *e) {
    int64_t t[ELECTION_VOTERS_MAX];
    size_t n = e->cfg.n_voters;
    for (size_t i = 0; i < n; i++)
        t[i] = e->v[i].acked_sent_ms;
    /* Sort descending (at most 9 entries). */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && t[k] > t[k - 1]; k--) {
            int64_t x = t[k];
            t[k] = t[k - 1];
            t[k - 1] = x;
        }
    return t[election_quorum(e) - 1];
}

void election_heartbeat(struct election *e) {
    e->v[e->self].acked_sent_ms = e->now;
    e->next_heartbeat = e->now + e->cfg.heartbeat_ms;
    election_broadcast(e, NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT, e->hs.term, false);
    /* A single voter is its own majority. */
    if (election_quorum(e) == 1)
        e->lease_until = e->now + e->cfg.election_timeout_ms - e->cfg.lease_margin_ms;
}

/* A heartbeat from a leader heard now: it echoes a recent message of this
 * node's current start, and is newer than the last one taken. */
static bool heartbeat_fresh(struct election *e, const Nodectl__ElectionMsg *m) {
    if (m->echo_boot != e->boot || m->echo_ms > e->now ||
        e->now - m->echo_ms >= election_patience_ms(e)) {
        reject_count(&e->rejects, ELECTION_REJECT_UNECHOED);
        return false;
    }
    if (m->term == e->hb_term && m->from == e->hb_leader && m->sent_ms <= e->hb_sent_ms) {
        reject_count(&e->rejects, ELECTION_REJECT_OLD_HEARTBEAT);
        return false;
    }
    return true;
}

/* The answer to heartbeat m echoes it: granted, the leader times its lease
 * from m's send time. It also carries our clock, for the leader's next
 * heartbeat to echo. */
static void answer_heartbeat(struct election *e, const Nodectl__ElectionMsg *m, bool granted) {
    election_send_echo(e, m->from, NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT_RESP, e->hs.term,
                       granted, false, m->boot, m->sent_ms);
}

void election_on_heartbeat(struct election *e, const Nodectl__ElectionMsg *m) {
    if (m->term < e->hs.term) {
        /* A deposed leader: tell it the current term so it steps down. */
        answer_heartbeat(e, m, false);
        return;
    }
    if (!heartbeat_fresh(e, m)) {
        /* Only its term is news. */
        if (m->term > e->hs.term)
            election_become_follower(e, m->term, m->from);
        answer_heartbeat(e, m, false);
        return;
    }
    if (m->term > e->hs.term || e->role != ELECTION_FOLLOWER || e->leader != m->from)
        election_become_follower(e, m->term, m->from);
    e->hb_term = m->term;
    e->hb_leader = m->from;
    e->hb_sent_ms = m->sent_ms;
    e->leader_contact = e->now;
    e->late_graces = 0;
    election_reset_timer(e);
    answer_heartbeat(e, m, true);
}

void election_on_heartbeat_resp(struct election *e, const Nodectl__ElectionMsg *m) {
    if (m->term > e->hs.term) {
        election_become_follower(e, m->term, 0);
        return;
    }
    if (e->role != ELECTION_LEADER || m->term != e->hs.term || !m->granted ||
        m->echo_boot != e->boot)
        return;
    struct voter_state *v = &e->v[election_voter_index(e, m->from)];
    /* The acknowledgement echoes the heartbeat's send time (our clock).
     * Reordered or duplicated acks cannot move the lease backwards, and an
     * ack of a time not reached yet (a forged or corrupt time) counts as
     * now. */
    int64_t sent = m->echo_ms > e->now ? e->now : m->echo_ms;
    if (sent > v->acked_sent_ms)
        v->acked_sent_ms = sent;
    int64_t base = quorum_acked(e);
    if (base != NEVER) {
        int64_t until = base + e->cfg.election_timeout_ms - e->cfg.lease_margin_ms;
        if (until > e->lease_until)
            e->lease_until = until;
    }
}

/* Whether voter i acknowledged a heartbeat sent within the last `window`
 * ms. NEVER (no answer this term) is explicit: subtracted from now it would
 * overflow and, wrapped, read as "just now". */
static bool answered_within(const struct election *e, size_t i, int64_t window) {
    int64_t acked = e->v[i].acked_sent_ms;
    return acked != NEVER && e->now - acked < window;
}

/* CheckQuorum (section 6.2): a leader that has not heard from a majority
 * within an election timeout steps down, so a partitioned leader stops
 * acting and a majority elsewhere can make progress; not over a time it
 * did not run itself (quorum_from: election.c, late_grace). */
void election_check_quorum(struct election *e) {
    int64_t t = election_patience_ms(e);
    if (e->now - e->leader_since < (int64_t)e->cfg.election_timeout_ms || e->now < e->quorum_from)
        return;
    int64_t base = quorum_acked(e);
    if (base == NEVER || e->now - base >= t)
        election_become_follower(e, e->hs.term, 0);
    else if (e->now - e->next_heartbeat <= (int64_t)e->cfg.heartbeat_ms)
        e->late_graces = 0; /* a quorum answered, judged on time */
}

void election_on_timeout_now(struct election *e, const Nodectl__ElectionMsg *m) {
    if (m->term != e->hs.term || e->leader != m->from || e->disabled)
        return;
    election_campaign(e, false, true);
}

int election_transfer(struct election *e, int64_t now_ms, uint64_t to) {
    if (now_ms > e->now)
        e->now = now_ms;
    if (e->role != ELECTION_LEADER)
        return -1;
    int idx = -1;
    if (to) {
        idx = election_voter_index(e, to);
    } else {
        /* The most preferred voter that answered within a timeout. */
        for (size_t i = 0; i < e->cfg.n_voters; i++) {
            if (i == e->self || !answered_within(e, i, e->cfg.election_timeout_ms))
                continue;
            if (idx < 0 || e->v[i].priority > e->v[idx].priority)
                idx = (int)i;
        }
    }
    if (idx < 0 || (size_t)idx == e->self)
        return -1;
    e->oom = false;
    e->lease_until = NEVER; /* stop acting before anyone may vote freely */
    election_send(e, e->v[idx].id, NODECTL__ELECTION_KIND__ELECTION_TIMEOUT_NOW, e->hs.term, false,
                  true);
    /* Follow: the target's VOTE (transfer) will be granted, and if it never
     * comes, this node campaigns again after a timeout. */
    e->role = ELECTION_FOLLOWER;
    e->leader = 0;
    election_reset_timer(e);
    e->counts.transfers++;
    return e->oom ? -1 : 0;
}

/* A leader with a reachable voter of higher priority hands over to it. */
void election_prefer(struct election *e) {
    uint32_t mine = e->v[e->self].priority;
    for (size_t i = 0; i < e->cfg.n_voters; i++) {
        if (i != e->self && e->v[i].priority > mine && election_has_lease(e, e->now) &&
            answered_within(e, i, (int64_t)e->cfg.heartbeat_ms * 2)) {
            election_transfer(e, e->now, 0);
            return;
        }
    }
}
