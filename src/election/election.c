/* Roles, timers, the persistence handshake and the entry points.
 *
 * Terms move only by plausible steps (docs/security.md, "Sane values"). A
 * voter may be malicious and still hold a candidate's certificate: Raft
 * trusts its voters, so such a voter can disrupt elections (campaign,
 * depose a leader with a higher term), but it must not move the term
 * arbitrarily: a term near UINT64_MAX would leave no term to elect a
 * leader in, and every fence would refuse the real leader's commands. So a
 * message whose term is more than ELECTION_TERM_STEP above the term that a
 * quorum of voters shows (this voter's own, the others' highest in their
 * messages and, through the driver, their signed records) is refused and
 * counted, as if lost. Its term still counts as what its sender shows:
 * a voter that comes back after many elections sees a quorum of the others
 * show the current term (the leader's heartbeats, the others' records or
 * their answers to its pre-vote) and then follows. Refusing a message is
 * the same as losing it, which the model (test/model) already allows:
 * safety does not depend on it. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "election_internal.h"
#include "fence.h"

_Static_assert(ELECTION_REJECT_REASONS <= REJECT_REASONS_MAX, "struct rejects holds every reason");

const char *election_role_name(enum election_role r) {
    switch (r) {
    case ELECTION_FOLLOWER: return "follower";
    case ELECTION_PRE_CANDIDATE: return "pre-candidate";
    case ELECTION_CANDIDATE: return "candidate";
    case ELECTION_LEADER: return "leader";
    }
    return "unknown";
}

const char *election_config_check(const struct election_config *c) {
    if (c->n_voters == 0 || c->n_voters > ELECTION_VOTERS_MAX)
        return "between 1 and 9 voters are needed";
    bool self = false;
    for (size_t i = 0; i < c->n_voters; i++) {
        if (c->voters[i].id == 0)
            return "a voter has id 0";
        for (size_t k = 0; k < i; k++)
            if (c->voters[k].id == c->voters[i].id)
                return "a voter is listed twice";
        self |= c->voters[i].id == c->self_id;
    }
    if (!self)
        return "this node is not one of the voters";
    if (c->heartbeat_ms == 0 || 2 * c->heartbeat_ms > c->election_timeout_ms)
        return "election_timeout must be at least twice heartbeat_interval";
    if (c->lease_margin_ms >= c->election_timeout_ms)
        return "lease_drift_margin must be shorter than election_timeout";
    return NULL;
}

size_t election_quorum(const struct election *e) { return e->cfg.n_voters / 2 + 1; }

int election_voter_index(const struct election *e, uint64_t id) {
    for (size_t i = 0; i < e->cfg.n_voters; i++)
        if (e->v[i].id == id)
            return (int)i;
    return -1;
}

/* Lifeguard applies its local health multiplier to the timeouts after
 * which a member judges another silent: a slow node (its probes missed,
 * its loop late) is more likely slow itself than surrounded by failures.
 * A leader's heartbeats and its followers' answers cross the same busy
 * machine (nng's threads, the loops) as the probes: when the probes come
 * back late, so do they, and an election timeout judged at face value
 * ends terms that had a live leader, each change making every host
 * republish its record on an already busy machine. Only the judging
 * waits longer; the lease, counted from acknowledged heartbeats, is not
 * lengthened (election_lease.c). A host in good health detects a dead
 * leader as fast as before. */
int64_t election_patience_ms(const struct election *e) {
    return (int64_t)e->cfg.election_timeout_ms * (1 + e->health);
}

void election_local_health(struct election *e, uint32_t score) {
    e->health = score > ELECTION_HEALTH_MAX ? ELECTION_HEALTH_MAX : score;
}

/* Raft section 3.4: a random timeout in [T, 2T) so that split votes are rare
 * and resolve quickly; T widened by the local health. */
void election_reset_timer(struct election *e) {
    e->campaign_at = e->now + election_patience_ms(e) +
                     (int64_t)prng_below(&e->rng, e->cfg.election_timeout_ms);
}

void election_set_term(struct election *e, uint64_t term, uint64_t voted_for) {
    if (e->hs.term == term && e->hs.voted_for == voted_for)
        return;
    e->hs.term = term;
    e->hs.voted_for = voted_for;
    e->dirty = true;
}

void election_become_follower(struct election *e, uint64_t term, uint64_t leader) {
    if (term > e->hs.term)
        election_set_term(e, term, 0);
    e->role = ELECTION_FOLLOWER;
    e->leader = leader;
    e->lease_until = NEVER;
    e->transfer = false;
    election_reset_timer(e);
}

void election_become_leader(struct election *e) {
    e->counts.won++;
    e->role = ELECTION_LEADER;
    e->leader = e->cfg.self_id;
    e->leader_since = e->now;
    e->quorum_from = NEVER;
    e->late_graces = 0;
    e->lease_until = NEVER;
    for (size_t i = 0; i < e->cfg.n_voters; i++)
        e->v[i].acked_sent_ms = NEVER;
    /* The first heartbeat asserts leadership at once and starts the lease. */
    e->next_heartbeat = e->now;
    election_heartbeat(e);
}

struct election *election_new(const struct election_config *cfg,
                              const struct election_hard_state *hs, uint64_t seed,
                              int64_t now_ms) {
    if (!cfg || !hs || election_config_check(cfg))
        return NULL;
    struct election *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->cfg = *cfg;
    prng_seed(&e->rng, seed);
    for (size_t i = 0; i < cfg->n_voters; i++) {
        e->v[i].id = cfg->voters[i].id;
        e->v[i].priority = cfg->voters[i].priority;
        if (cfg->voters[i].id == cfg->self_id)
            e->self = i;
    }
    e->boot = prng_next(&e->rng) | 1; /* never 0, which echoes nothing */
    e->hs = *hs;
    e->now = now_ms;
    e->role = ELECTION_FOLLOWER;
    e->lease_until = NEVER;
    /* A restarted voter may have acknowledged a leader just before it went
     * down and forgotten it: it behaves as if it had just heard from a
     * leader, refusing votes for one election timeout, so that the lease it
     * may have granted still holds (section 6.4.1). */
    e->leader_contact = now_ms;
    election_reset_timer(e);
    return e;
}

void election_free(struct election *e) {
    if (!e)
        return;
    for (size_t i = 0; i < e->n_out; i++)
        free(e->out[i].data);
    free(e->out);
    free(e);
}

/* Lifeguard (Dadgar et al. 2018, section IV-A) widens a member's timeouts
 * when its own loop runs late; the election does the same. A tick that
 * comes more than two heartbeat intervals after its deadline (a busy
 * machine delays every timer a little, which is no pause) says this node
 * did not run for that long (a busy host, a paused process, a saturated
 * machine): the messages that arrived meanwhile wait unread, and the
 * silence it would measure is its own. When all three candidates of a
 * saturated machine stall together, a leader that judged its followers'
 * answers, or followers that judged its heartbeats, over the time none of
 * them ran would end the term each time. So such a tick ends no term: a
 * follower of a leader waits about half a timeout more and counts the
 * pause as contact with its leader, refusing votes for an election
 * timeout as a restarted voter does (refusing more is always safe,
 * election_lease.c); a leader gives its followers an election timeout to
 * answer before CheckQuorum judges them again (its lease still runs only
 * from heartbeats a quorum acknowledged, so it may act no longer than
 * before). At most ELECTION_LATE_GRACES in a row: a node that is always
 * late still campaigns, and still steps down, a timeout or so later. */
static bool late_grace(struct election *e, int64_t deadline) {
    if (e->now - deadline <= 2 * (int64_t)e->cfg.heartbeat_ms ||
        e->late_graces >= ELECTION_LATE_GRACES)
        return false;
    e->late_graces++;
    e->counts.late_ticks++;
    return true;
}

int election_tick(struct election *e, int64_t now_ms) {
    if (now_ms > e->now)
        e->now = now_ms;
    e->oom = false;
    if (e->role == ELECTION_LEADER) {
        if (late_grace(e, e->next_heartbeat))
            e->quorum_from = e->now + election_patience_ms(e);
        election_check_quorum(e);
        if (e->role == ELECTION_LEADER && e->now >= e->next_heartbeat) {
            election_heartbeat(e);
            election_prefer(e);
        }
    } else if (e->now >= e->campaign_at) {
        if (e->disabled) {
            election_reset_timer(e); /* refuses to lead while it cannot persist */
        } else if (e->role == ELECTION_FOLLOWER && e->leader && late_grace(e, e->campaign_at)) {
            /* Half a timeout or so, enough to read what waited and take
             * the leader's next heartbeat: the grace must not hold a
             * failover back by whole timeouts. */
            uint32_t half = e->cfg.election_timeout_ms / 2;
            e->leader_contact = e->now;
            e->campaign_at = e->now + half + (int64_t)prng_below(&e->rng, half);
        } else {
            election_campaign(e, true, false);
        }
    }
    return e->oom ? -1 : 0;
}

int64_t election_next_deadline(const struct election *e) {
    if (e->role != ELECTION_LEADER)
        return e->campaign_at;
    /* CheckQuorum may end leadership before the next heartbeat. */
    return e->next_heartbeat;
}

int election_receive(struct election *e, int64_t now_ms, uint64_t from, const uint8_t *data,
                     size_t len) {
    if (now_ms > e->now)
        e->now = now_ms;
    e->oom = false;
    Nodectl__ElectionMsg *m = nodectl__election_msg__unpack(NULL, len, data);
    /* Only voters take part; a message must say who sent it truthfully (the
     * transport authenticates the sender, the driver names it) and be
     * meant for this voter: a message delivered to the wrong voter, by
     * mistake or by a replay, is not its business. */
    int v = m ? election_voter_index(e, from) : -1;
    enum election_reject why = !m                                       ? ELECTION_REJECT_MALFORMED
                               : m->from != from || v < 0 || from == e->cfg.self_id
                                   ? ELECTION_REJECT_SENDER
                               : m->to != e->cfg.self_id                ? ELECTION_REJECT_RECIPIENT
                               : (unsigned)m->kind > NODECTL__ELECTION_KIND__ELECTION_TIMEOUT_NOW
                                   ? ELECTION_REJECT_KIND
                                   : ELECTION_REJECT_REASONS;
    if (why != ELECTION_REJECT_REASONS) {
        reject_count(&e->rejects, why);
        if (m)
            nodectl__election_msg__free_unpacked(m, NULL);
        return -1;
    }
    election_observe_term(e, from, m->term);
    if (m->term > election_term_ceiling(e)) {
        e->refused_terms++;
        nodectl__election_msg__free_unpacked(m, NULL);
        return 0;
    }
    /* Remember the sender's clock to echo it back: a new start of the
     * sender, or a newer reading of the same one. */
    struct voter_state *vs = &e->v[v];
    if (m->boot && (m->boot != vs->echo_boot || m->sent_ms > vs->echo_ms)) {
        vs->echo_boot = m->boot;
        vs->echo_ms = m->sent_ms;
    }
    switch (m->kind) {
    case NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE: election_on_pre_vote(e, m); break;
    case NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE_RESP: election_on_pre_vote_resp(e, m); break;
    case NODECTL__ELECTION_KIND__ELECTION_VOTE: election_on_vote(e, m); break;
    case NODECTL__ELECTION_KIND__ELECTION_VOTE_RESP: election_on_vote_resp(e, m); break;
    case NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT: election_on_heartbeat(e, m); break;
    case NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT_RESP: election_on_heartbeat_resp(e, m); break;
    case NODECTL__ELECTION_KIND__ELECTION_TIMEOUT_NOW: election_on_timeout_now(e, m); break;
    default: assert(!"kind checked above"); break;
    }
    nodectl__election_msg__free_unpacked(m, NULL);
    return e->oom ? -1 : 0;
}

bool election_unsaved(const struct election *e, struct election_hard_state *out) {
    if (e->dirty)
        *out = e->hs;
    return e->dirty;
}

void election_saved(struct election *e) {
    e->dirty = false;
    e->disabled = false;
}

/* What could not be saved must not be acted on: the messages that depend on
 * it are dropped, and the node neither votes nor leads until a save works.
 * The in-memory state keeps the new term, which is safe: a higher term only
 * makes this node refuse more. */
void election_save_failed(struct election *e) {
    e->disabled = true;
    for (size_t i = 0; i < e->n_out; i++)
        free(e->out[i].data);
    e->n_out = 0;
    if (e->role != ELECTION_FOLLOWER)
        election_become_follower(e, e->hs.term, 0);
}

bool election_disabled(const struct election *e) { return e->disabled; }

bool election_next_msg(struct election *e, struct election_msg *out) {
    if (e->dirty || e->n_out == 0)
        return false;
    *out = e->out[0];
    memmove(e->out, e->out + 1, (e->n_out - 1) * sizeof *e->out);
    e->n_out--;
    return true;
}

enum election_role election_role(const struct election *e) { return e->role; }
uint64_t election_term(const struct election *e) { return e->hs.term; }
uint64_t election_leader(const struct election *e) { return e->leader; }
int64_t election_leader_contact(const struct election *e) { return e->leader_contact; }
uint64_t election_bad_messages(const struct election *e) { return e->rejects.total; }
const struct rejects *election_rejects(const struct election *e) { return &e->rejects; }

const char *election_reject_name(unsigned r) {
    switch ((enum election_reject)r) {
    case ELECTION_REJECT_MALFORMED: return "a message that does not decode";
    case ELECTION_REJECT_SENDER: return "a message not from another voter, or naming another "
                                        "sender";
    case ELECTION_REJECT_RECIPIENT: return "a message addressed to another voter";
    case ELECTION_REJECT_KIND: return "a message of an unknown kind";
    case ELECTION_REJECT_UNECHOED: return "a heartbeat that echoes no recent message of ours "
                                          "(replayed, or long delayed)";
    case ELECTION_REJECT_OLD_HEARTBEAT: return "a heartbeat no newer than one already taken "
                                               "from that leader";
    case ELECTION_REJECT_REASONS: break;
    }
    return "unknown";
}

uint64_t election_refused_terms(const struct election *e) { return e->refused_terms; }

void election_observe_term(struct election *e, uint64_t from, uint64_t term) {
    int v = election_voter_index(e, from);
    if (v >= 0 && (size_t)v != e->self && term > e->v[v].shown)
        e->v[v].shown = term;
}

uint64_t election_term_ceiling(const struct election *e) {
    uint64_t t[ELECTION_VOTERS_MAX];
    size_t n = e->cfg.n_voters;
    for (size_t i = 0; i < n; i++)
        t[i] = i == e->self ? e->hs.term : e->v[i].shown;
    uint64_t q = fence_quorum_term(t, n);
    if (q < e->hs.term)
        q = e->hs.term;
    /* Never UINT64_MAX: a campaign adds one. */
    return q >= UINT64_MAX - 1 - ELECTION_TERM_STEP ? UINT64_MAX - 1 : q + ELECTION_TERM_STEP;
}

bool election_has_lease(const struct election *e, int64_t now_ms) {
    return e->role == ELECTION_LEADER && !e->disabled && !e->dirty && now_ms < e->lease_until;
}

struct election_counts election_counts(const struct election *e) { return e->counts; }

int64_t election_lease_until(const struct election *e) {
    return e->role == ELECTION_LEADER ? e->lease_until : NEVER;
}
