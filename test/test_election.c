/* The election state machine on an in-memory network (election_harness):
 * election, failover, CheckQuorum, the lease, persistence, transfer and
 * priority, and a sweep of seeds with loss, crashes and pauses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "election.pb-c.h"
#include "election/fence.h"
#include "election_harness.h"

#define HB 50
#define T 500

static void a_single_leader_emerges_and_holds_a_lease(void **state) {
    struct harness h;
    h_init(&h, 3, 1, HB, T);
    h_run(&h, 2 * T + 100);
    int l = h_leader(&h);
    assert_true(l >= 0);
    assert_int_equal(h_lease_holder(&h), l);
    uint64_t term = election_term(h.e[l]);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(election_term(h.e[i]), term);
        assert_int_equal(election_leader(h.e[i]), election_leader(h.e[l]));
        assert_int_equal(h.disk[i].term, term); /* persisted */
    }
    /* Quiet afterwards: no new elections while the leader lives. */
    h_run(&h, 10 * T);
    assert_int_equal(election_term(h.e[l]), term);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void a_crashed_leader_is_replaced(void **state) {
    struct harness h;
    h_init(&h, 3, 2, HB, T);
    h_run(&h, 2 * T + 100);
    int old = h_leader(&h);
    uint64_t term = election_term(h.e[old]);
    h_crash(&h, old);
    int64_t crashed_at = h.now;
    int64_t took = -1;
    for (int ms = 0; ms < 4 * T && took < 0; ms += 10) {
        h_run(&h, 10);
        if (h_lease_holder(&h) >= 0)
            took = h.now - crashed_at;
    }
    assert_true(took > 0 && took < 2 * T + 200);
    int l = h_leader(&h);
    assert_true(l != old);
    assert_true(election_term(h.e[l]) > term);
    /* The old leader comes back with its persisted term and follows. */
    h_restart(&h, old);
    h_run(&h, 3 * T);
    assert_int_equal(h_leader(&h), l);
    assert_int_equal(election_role(h.e[old]), ELECTION_FOLLOWER);
    assert_int_equal(election_leader(h.e[old]), election_leader(h.e[l]));
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* A saturated machine stalls every candidate at once: none runs for longer
 * than an election timeout, and messages wait unread. Judged over a time
 * no one ran, the leader's CheckQuorum and the followers' timers would end
 * the term; late ticks end none, and the leader keeps leading. */
static void a_pause_of_every_candidate_ends_no_term(void **state) {
    struct harness h;
    h_init(&h, 3, 21, HB, T);
    h_run(&h, 2 * T + 100);
    int l = h_leader(&h);
    assert_true(l >= 0);
    uint64_t term = election_term(h.e[l]);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++)
            h.frozen[i] = true;
        h_run(&h, 3 * T);
        for (int i = 0; i < 3; i++)
            h.frozen[i] = false;
        h_run(&h, 4 * T);
        assert_int_equal(h_leader(&h), l);
        assert_int_equal(election_term(h.e[l]), term);
        assert_int_equal(h_lease_holder(&h), l);
    }
    assert_true(election_counts(h.e[l]).late_ticks > 0);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* The grace is bounded: followers that are late at every deadline still
 * replace a leader that crashed, a few timeouts later. */
static void always_late_followers_still_replace_a_crashed_leader(void **state) {
    struct harness h;
    h_init(&h, 3, 22, HB, T);
    h_run(&h, 2 * T + 100);
    int old = h_leader(&h);
    h_crash(&h, old);
    int64_t crashed_at = h.now, took = -1;
    while (took < 0 && h.now - crashed_at < 20 * T) {
        for (int i = 0; i < 3; i++)
            h.frozen[i] = i != old;
        h_run(&h, 2 * T);
        for (int i = 0; i < 3; i++)
            h.frozen[i] = false;
        h_run(&h, T / 5);
        if (h_lease_holder(&h) >= 0)
            took = h.now - crashed_at;
    }
    assert_true(took > 0);
    assert_true(h_leader(&h) != old);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* Lifeguard's local health widens what the election waits for: on links
 * (a busy machine's threads and loops) where a heartbeat and its echo take
 * longer than an election timeout, voters that know they are slow keep
 * their leader instead of ending a term every few timeouts. */
static void slow_voters_that_know_it_keep_their_leader(void **state) {
    struct harness h;
    h_init(&h, 3, 23, HB, T);
    h_run(&h, 2 * T + 100);
    int l = h_leader(&h);
    assert_true(l >= 0);
    uint64_t term = election_term(h.e[l]);
    h.delay_max_ms = T * 3 / 4;
    for (int i = 0; i < 3; i++)
        election_local_health(h.e[i], 3);
    h_run(&h, 40 * T);
    assert_int_equal(h_leader(&h), l);
    assert_int_equal(election_term(h.e[l]), term);
    /* Healthy again on fast links: a crashed leader is replaced as fast
     * as ever. */
    h.delay_max_ms = 5;
    for (int i = 0; i < 3; i++)
        election_local_health(h.e[i], 0);
    h_run(&h, 2 * T);
    h_crash(&h, l);
    int64_t crashed_at = h.now, took = -1;
    for (int ms = 0; ms < 4 * T && took < 0; ms += 10) {
        h_run(&h, 10);
        if (h_lease_holder(&h) >= 0)
            took = h.now - crashed_at;
    }
    assert_true(took > 0 && took < 2 * T + 200);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void a_paused_leader_steps_down_and_loses_its_lease_first(void **state) {
    struct harness h;
    h_init(&h, 3, 3, HB, T);
    h_run(&h, 2 * T + 100);
    int old = h_leader(&h);
    int64_t lease_end = election_lease_until(h.e[old]);
    h.frozen[old] = true;
    h_run(&h, 3 * T);
    int l = h_leader(&h);
    assert_true(l >= 0 && l != old);
    /* The new leader was elected only after the old lease ran out. */
    assert_true(h.now - 3 * T + 1 > 0);
    assert_true(election_lease_until(h.e[l]) > lease_end);
    h.frozen[old] = false;
    h_run(&h, 1);
    assert_false(election_has_lease(h.e[old], h.now)); /* its clock says the lease is over */
    h_run(&h, T);
    assert_int_equal(election_role(h.e[old]), ELECTION_FOLLOWER);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void an_isolated_leader_steps_down_by_check_quorum(void **state) {
    struct harness h;
    h_init(&h, 5, 4, HB, T);
    h_run(&h, 2 * T + 100);
    int old = h_leader(&h);
    for (int i = 0; i < 5; i++)
        h.cut[old][i] = h.cut[i][old] = i != old;
    h_run(&h, 2 * T);
    assert_int_not_equal(election_role(h.e[old]), ELECTION_LEADER);
    int l = h_leader(&h);
    assert_true(l >= 0 && l != old);
    for (int i = 0; i < 5; i++)
        h.cut[old][i] = h.cut[i][old] = false;
    /* Healed: the old leader's Pre-Vote cannot disrupt the new leader. */
    uint64_t term = election_term(h.e[l]);
    h_run(&h, 4 * T);
    assert_int_equal(h_leader(&h), l);
    assert_int_equal(election_term(h.e[l]), term);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void messages_wait_for_the_disk_and_a_failing_disk_disables(void **state) {
    struct election_config c = {.self_id = 1, .n_voters = 3, .heartbeat_ms = HB,
                                .election_timeout_ms = T, .lease_margin_ms = 100};
    c.voters[0].id = 1;
    c.voters[1].id = 2;
    c.voters[2].id = 3;
    struct election_hard_state hs = {.term = 7, .voted_for = 0};
    struct election *e = election_new(&c, &hs, 9, 0);
    assert_non_null(e);
    /* A vote request from 2 in term 8: the grant must not leave before the
     * new term and vote are on disk. */
    struct harness h;
    h_init(&h, 3, 5, HB, T); /* only to build a message with the real encoder */
    h_run(&h, 2 * T + 100);
    h_free(&h);
    election_tick(e, 2 * T); /* past the restart wait: not sticky */
    election_tick(e, 2 * T + 1);
    struct election_msg m;
    struct election_hard_state saved;
    /* It campaigned (Pre-Vote needs no disk): messages flow. */
    assert_false(election_unsaved(e, &saved));
    int pre = 0;
    while (election_next_msg(e, &m)) {
        pre++;
        free(m.data);
    }
    assert_int_equal(pre, 2);
    election_free(e);

    /* A node whose disk fails neither votes nor leads. */
    h_init(&h, 3, 6, HB, T);
    h.disk_fails[0] = true;
    h_run(&h, 6 * T);
    assert_true(election_disabled(h.e[0]) || election_role(h.e[0]) != ELECTION_LEADER);
    assert_int_not_equal(h_leader(&h), 0);
    assert_true(h_leader(&h) > 0);
    h.disk_fails[0] = false;
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void a_voter_never_votes_twice_in_a_term(void **state) {
    struct harness h;
    h_init(&h, 3, 7, HB, T);
    h_run(&h, 5 * T);
    for (int i = 0; i < 3; i++) {
        assert_true(h.disk[i].voted_for == 0 || h.disk[i].term == election_term(h.e[i]));
    }
    h_free(&h);
}

static void leadership_transfer_is_quick_and_fenced(void **state) {
    struct harness h;
    h_init(&h, 3, 8, HB, T);
    h_run(&h, 2 * T + 100);
    int old = h_leader(&h);
    int target = (old + 1) % 3;
    uint64_t term = election_term(h.e[old]);
    assert_int_equal(election_transfer(h.e[old], h.now, 0x1000 + (uint64_t)target), 0);
    assert_false(election_has_lease(h.e[old], h.now)); /* gives the lease up at once */
    h_run(&h, 100);
    assert_int_equal(h_leader(&h), target);
    assert_int_equal(election_term(h.e[target]), term + 1);
    h_run(&h, 100);
    assert_int_equal(h_lease_holder(&h), target);
    /* Not a leader: nothing to transfer. */
    assert_int_equal(election_transfer(h.e[old], h.now, 0), -1);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void the_preferred_candidate_ends_up_leading(void **state) {
    struct harness h;
    h_init(&h, 3, 9, HB, T);
    for (int i = 0; i < 3; i++) {
        h.cfg[i].voters[2].priority = 10;
        election_free(h.e[i]);
        h.e[i] = election_new(&h.cfg[i], &h.disk[i], 40 + (uint64_t)i, h.now);
    }
    h_run(&h, 4 * T);
    assert_int_equal(h_leader(&h), 2);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* candidates = n1:10, n2, n3 with n1 down from the start: n1 never
 * answered a heartbeat (its ack time is "never"), so it is not reachable
 * and the leader among n2 and n3 keeps leading. Read as "answered just
 * now" (the subtraction from "never" overflowing), the leader abdicated to
 * n1 every few heartbeats and n2 and n3 traded terms without end. */
static void a_preferred_candidate_that_is_down_causes_no_churn(void **state) {
    struct harness h;
    h_init(&h, 3, 12, HB, T);
    for (int i = 0; i < 3; i++) {
        h.cfg[i].voters[0].priority = 10;
        election_free(h.e[i]);
        h.e[i] = election_new(&h.cfg[i], &h.disk[i], 60 + (uint64_t)i, h.now);
    }
    h_crash(&h, 0);
    h_run(&h, 4 * T);
    int l = h_leader(&h);
    assert_true(l == 1 || l == 2);
    uint64_t term = election_term(h.e[l]);
    h_run(&h, 20 * T);
    assert_int_equal(h_leader(&h), l);
    assert_int_equal(election_term(h.e[l]), term);
    assert_int_equal(h_lease_holder(&h), l);
    /* Nor does an explicit transfer to "the preferred reachable voter" pick
     * the one that never answered: the other live voter is chosen. */
    assert_int_equal(election_transfer(h.e[l], h.now, 0), 0);
    h_run(&h, 200);
    assert_int_equal(h_leader(&h), 3 - l);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void bad_messages_are_counted_and_ignored(void **state) {
    struct harness h;
    h_init(&h, 3, 10, HB, T);
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(election_receive(h.e[0], 1, 0x1001, junk, sizeof junk), -1);
    /* A real message, but from a host that is not a voter. */
    h_run(&h, 2 * T + 100);
    assert_int_equal(election_receive(h.e[0], h.now, 0x9999, junk, 0), -1);
    const struct rejects *r = election_rejects(h.e[0]);
    assert_int_equal(r->n[ELECTION_REJECT_MALFORMED], 1);
    assert_int_equal(r->n[ELECTION_REJECT_SENDER], 1);
    h_free(&h);
}

static void a_single_voter_leads_alone(void **state) {
    struct harness h;
    h_init(&h, 1, 11, HB, T);
    h_run(&h, 2 * T + 10);
    assert_int_equal(h_leader(&h), 0);
    assert_int_equal(h_lease_holder(&h), 0);
    h_free(&h);
}

/* An election message from voter `from` to voter `to` at `term`. */
static void send_as(struct harness *h, int from, int to, Nodectl__ElectionKind kind,
                    uint64_t term) {
    Nodectl__ElectionMsg m = NODECTL__ELECTION_MSG__INIT;
    m.kind = kind;
    m.term = term;
    m.from = 0x1000 + (uint64_t)from;
    m.to = 0x1000 + (uint64_t)to;
    m.granted = false;
    uint8_t buf[64];
    size_t len = nodectl__election_msg__pack(&m, buf);
    assert_int_equal(election_receive(h->e[to], h->now, m.from, buf, len), 0);
}

/* A voter with a candidate's certificate may still lie: its messages at a
 * term far above what a quorum shows are refused and counted, and the
 * leader keeps its term and its lease (a term near UINT64_MAX would leave
 * no term to elect a leader in, and raise every fence). */
static void a_term_far_above_the_quorums_is_refused(void **state) {
    struct harness h;
    h_init(&h, 3, 12, HB, T);
    h_run(&h, 2 * T + 100);
    int l = h_leader(&h);
    uint64_t term = election_term(h.e[l]);
    int liar = (l + 1) % 3, other = (l + 2) % 3;
    const Nodectl__ElectionKind kinds[] = {
        NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT, NODECTL__ELECTION_KIND__ELECTION_VOTE,
        NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE_RESP,
        NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT_RESP};
    const uint64_t lies[] = {term + ELECTION_TERM_STEP + 1, UINT64_MAX, UINT64_MAX - 1,
                             1ull << 62};
    for (size_t k = 0; k < 4; k++) {
        send_as(&h, liar, l, kinds[k], lies[k]);
        send_as(&h, liar, other, kinds[k], lies[k]);
    }
    assert_int_equal(election_refused_terms(h.e[l]), 4);
    assert_int_equal(election_refused_terms(h.e[other]), 4);
    h_run(&h, 5 * T);
    assert_int_equal(h_leader(&h), l);
    assert_int_equal(h_lease_holder(&h), l);
    for (int i = 0; i < 3; i++)
        assert_int_equal(election_term(h.e[i]), term);
    /* What one voter shows does not move the bound; a quorum does. */
    assert_int_equal(election_term_ceiling(h.e[other]), term + ELECTION_TERM_STEP);
    election_observe_term(h.e[other], 0x1000 + (uint64_t)l, term + 100);
    assert_int_equal(election_term_ceiling(h.e[other]), term + 100 + ELECTION_TERM_STEP);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* A voter down while many elections happened (the term moved far more than
 * ELECTION_TERM_STEP) still catches up when it comes back: the others'
 * answers to its pre-vote show a quorum at the current term. */
static void a_voter_back_after_many_elections_catches_up(void **state) {
    struct harness h;
    h_init(&h, 3, 13, HB, T);
    h_run(&h, 2 * T + 100);
    int away = (h_leader(&h) + 1) % 3;
    h_crash(&h, away);
    for (int k = 0; k < 3 * ELECTION_TERM_STEP; k++) {
        int l = h_leader(&h);
        assert_true(l >= 0);
        int to = 3 - l - away;
        assert_int_equal(election_transfer(h.e[l], h.now, 0x1000 + (uint64_t)to), 0);
        h_run(&h, 100);
    }
    int l = h_leader(&h);
    uint64_t term = election_term(h.e[l]);
    assert_true(term > h.disk[away].term + 2 * ELECTION_TERM_STEP);
    h_restart(&h, away);
    h_run(&h, 6 * T);
    assert_int_equal(election_term(h.e[away]), election_term(h.e[h_leader(&h)]));
    assert_int_equal(election_leader(h.e[away]), election_leader(h.e[h_leader(&h)]));
    assert_int_equal(election_role(h.e[away]), ELECTION_FOLLOWER);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* Fencing: a command older than the highest known term is stale, one more
 * than FENCE_AHEAD above it is ahead of any quorum; the known term is the
 * one a quorum of voters reaches. */
static void the_fence_knows_a_term_from_a_quorum(void **state) {
    struct fence f = {.highest = 10};
    assert_int_equal(fence_check(&f, 9), FENCE_STALE);
    assert_int_equal(fence_check(&f, 10), FENCE_ADMIT);
    assert_int_equal(fence_check(&f, 10 + FENCE_AHEAD), FENCE_ADMIT);
    assert_int_equal(fence_check(&f, 11 + FENCE_AHEAD), FENCE_AHEAD_OF_QUORUM);
    assert_int_equal(fence_check(&f, UINT64_MAX), FENCE_AHEAD_OF_QUORUM);
    assert_false(fence_admit(&f, 1ull << 62));
    assert_int_equal(f.highest, 10); /* admitting raises nothing */
    uint64_t three[] = {UINT64_MAX, 7, 12};
    assert_int_equal(fence_quorum_term(three, 3), 12);
    uint64_t five[] = {0, 1ull << 62, 5, 9, 0};
    assert_int_equal(fence_quorum_term(five, 5), 5);
    uint64_t one[] = {4};
    assert_int_equal(fence_quorum_term(one, 1), 4);
    uint64_t two[] = {UINT64_MAX, 3};
    assert_int_equal(fence_quorum_term(two, 2), 3);
}

static void cut_all(struct harness *h, bool cut) {
    for (int i = 0; i < h->n; i++)
        for (int k = 0; k < h->n; k++)
            h->cut[i][k] = cut && i != k;
}

static void replay(struct harness *h, int kind, int from, int to, int at) {
    long k = h_find_sent(h, kind, from, to);
    assert_true(k >= 0);
    h_replay(h, (size_t)k, at);
}

/* A split vote: A (0) and C (2) both campaign in term 1; B (1) votes for A.
 * B's vote, captured and delivered to C, must not count for C: a vote
 * names the candidate it is for. Without a recipient in the message, C
 * would lead term 1 beside A, both holding a lease. */
static void a_vote_replayed_to_another_candidate_does_not_count(void **state) {
    struct harness h;
    h_init(&h, 3, 12, HB, T);
    h.record = true;
    cut_all(&h, true); /* every message is recorded; the test delivers */
    h_run(&h, 2 * T);  /* every timer ran out: all three pre-campaign */
    replay(&h, NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE, 0, 1, 1);
    replay(&h, NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE_RESP, 1, 0, 0);
    replay(&h, NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE, 2, 1, 1);
    replay(&h, NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE_RESP, 1, 2, 2);
    assert_int_equal(election_role(h.e[0]), ELECTION_CANDIDATE);
    assert_int_equal(election_role(h.e[2]), ELECTION_CANDIDATE);
    assert_int_equal(election_term(h.e[0]), election_term(h.e[2]));
    replay(&h, NODECTL__ELECTION_KIND__ELECTION_VOTE, 0, 1, 1);
    replay(&h, NODECTL__ELECTION_KIND__ELECTION_VOTE_RESP, 1, 0, 0);
    assert_int_equal(election_role(h.e[0]), ELECTION_LEADER);
    /* The attack: B's vote for A, sent to C. */
    replay(&h, NODECTL__ELECTION_KIND__ELECTION_VOTE_RESP, 1, 0, 2);
    assert_int_not_equal(election_role(h.e[2]), ELECTION_LEADER);
    /* Heal: A leads term 1 alone and holds the only lease. */
    cut_all(&h, false);
    h_run(&h, 2 * T);
    assert_int_equal(h_lease_holder(&h), 0);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* The leader dies. A heartbeat of it to each follower, captured earlier,
 * is replayed every 400 ms for 20 s. Or the followers restart too (and
 * forget which heartbeat they took last), and the stream of the leader's
 * heartbeats captured over 20 s is replayed to them in order, each newer
 * than the last. A follower is sticky only to a leader it hears from now,
 * so a new leader takes over within a few election timeouts either way
 * (sticky to every heartbeat, the cluster stays leaderless for all 20 s). */
static void replay_heartbeats_after_the_leader_died(int stream) {
    struct harness h;
    h_init(&h, 3, 13, HB, T);
    h.record = true;
    h_run(&h, 2 * T + 100);
    int old = h_leader(&h);
    assert_true(old >= 0);
    h_run(&h, 20000);
    int f[2] = {(old + 1) % 3, (old + 2) % 3};
    size_t *hb[2];
    size_t n_hb[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        hb[i] = calloc(h.n_sent, sizeof *hb[i]);
        for (size_t k = 0; k < h.n_sent; k++)
            if (h.sent[k].from == old && h.sent[k].to == f[i] &&
                h_sent_kind(&h, k) == NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT)
                hb[i][n_hb[i]++] = k;
        assert_true(n_hb[i] > 50);
    }
    h_crash(&h, old);
    for (int i = 0; stream && i < 2; i++) {
        h_crash(&h, f[i]);
        h_restart(&h, f[i]);
    }
    int64_t crashed_at = h.now, took = -1;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 2; i++) {
            size_t pick = stream ? (size_t)round : n_hb[i] - 1;
            h_replay(&h, hb[i][pick], f[i]);
        }
        h_run(&h, 400);
        if (took < 0 && h_lease_holder(&h) >= 0)
            took = h.now - crashed_at;
    }
    assert_true(took > 0 && took < 6 * T);
    /* Until a new term began, the replays were refused. */
    uint64_t refused = 0;
    for (int i = 0; i < 2; i++) {
        const struct rejects *r = election_rejects(h.e[f[i]]);
        refused += r->n[ELECTION_REJECT_OLD_HEARTBEAT] + r->n[ELECTION_REJECT_UNECHOED];
        free(hb[i]);
    }
    assert_true(refused > 0);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

static void replayed_heartbeats_of_a_dead_leader_do_not_keep_followers_sticky(void **state) {
    replay_heartbeats_after_the_leader_died(0);
    replay_heartbeats_after_the_leader_died(1);
}

/* TIMEOUT_NOW names its target: delivered to another voter, it is
 * refused and that voter does not campaign. */
static void timeout_now_delivered_to_another_voter_is_ignored(void **state) {
    struct harness h;
    h_init(&h, 3, 14, HB, T);
    h.record = true;
    h_run(&h, 2 * T + 100);
    int old = h_leader(&h);
    int target = (old + 1) % 3, other = (old + 2) % 3;
    uint64_t term = election_term(h.e[old]);
    cut_all(&h, true);
    assert_int_equal(election_transfer(h.e[old], h.now, 0x1000 + (uint64_t)target), 0);
    h_run(&h, 1);
    long tn = h_find_sent(&h, NODECTL__ELECTION_KIND__ELECTION_TIMEOUT_NOW, old, target);
    assert_true(tn >= 0);
    h_replay(&h, (size_t)tn, other);
    assert_int_equal(election_role(h.e[other]), ELECTION_FOLLOWER);
    assert_int_equal(election_term(h.e[other]), term);
    assert_int_equal(election_rejects(h.e[other])->n[ELECTION_REJECT_RECIPIENT], 1);
    /* Delivered to its target, it starts the transfer campaign. */
    h_replay(&h, (size_t)tn, target);
    assert_int_equal(election_role(h.e[target]), ELECTION_CANDIDATE);
    assert_int_equal(h.violations, 0);
    h_free(&h);
}

/* Thousands of randomized runs with loss, delays, crashes, restarts and
 * pauses: never two leaders in a term, never two leases at once. */
static void seed_sweep_keeps_the_invariants(void **state) {
    const char *env = getenv("ELECTION_SEEDS");
    int seeds = env ? atoi(env) : 1000;
    for (int s = 1; s <= seeds; s++) {
        struct harness h;
        int n = s % 2 ? 3 : 5;
        h_init(&h, n, (uint64_t)s, HB, T);
        h.loss = 0.05 * (s % 4);
        h.delay_max_ms = 1 + s % 40;
        for (int round = 0; round < 60; round++) {
            int victim = (int)prng_below(&h.rng, (uint64_t)n);
            switch (prng_below(&h.rng, 4)) {
            case 0:
                if (h.up[victim])
                    h_crash(&h, victim);
                else
                    h_restart(&h, victim);
                break;
            case 1: h.frozen[victim] = !h.frozen[victim]; break;
            case 2:
                for (int k = 0; k < n; k++)
                    h.cut[victim][k] = h.cut[k][victim] = !h.cut[victim][k] && k != victim;
                break;
            default: break;
            }
            /* Short gaps too: a voter that restarts right after acknowledging
             * a leader is where a forgotten promise would show. */
            h_run(&h, 20 + (int)prng_below(&h.rng, 600));
        }
        if (h.violations)
            fail_msg("invariant violated with seed %d", s);
        h_free(&h);
    }
}

/* When the leader dies the two other candidates' timers often fire closer
 * together than a message takes on a loaded machine: both ask for
 * pre-votes, both are granted, both vote for themselves, and the term is
 * lost (a split vote, Raft section 3.4). The pre-candidate that the other
 * outranks yields when it is asked, so the first term after a crash
 * elects a leader. */
static void two_candidates_campaigning_together_split_no_vote(void **state) {
    int split = 0, runs = 300;
    for (int s = 1; s <= runs; s++) {
        struct harness h;
        h_init(&h, 3, 1000 + (uint64_t)s, HB, T);
        h.delay_max_ms = 150;
        int old = -1;
        for (int ms = 0; ms < 40 * T && (old < 0 || h_lease_holder(&h) != old); ms += 10) {
            h_run(&h, 10);
            old = h_leader(&h);
        }
        assert_true(old >= 0);
        h_run(&h, T);
        uint64_t term = election_term(h.e[old]);
        h_crash(&h, old);
        int l = -1;
        for (int ms = 0; ms < 20 * T && l < 0; ms += 10) {
            h_run(&h, 10);
            l = h_lease_holder(&h);
        }
        assert_true(l >= 0);
        split += election_term(h.e[l]) > term + 1;
        assert_int_equal(h.violations, 0);
        h_free(&h);
    }
    print_message("%d of %d failovers needed more than one term\n", split, runs);
    assert_int_equal(split, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_single_leader_emerges_and_holds_a_lease),
        cmocka_unit_test(a_crashed_leader_is_replaced),
        cmocka_unit_test(a_paused_leader_steps_down_and_loses_its_lease_first),
        cmocka_unit_test(a_pause_of_every_candidate_ends_no_term),
        cmocka_unit_test(always_late_followers_still_replace_a_crashed_leader),
        cmocka_unit_test(slow_voters_that_know_it_keep_their_leader),
        cmocka_unit_test(an_isolated_leader_steps_down_by_check_quorum),
        cmocka_unit_test(messages_wait_for_the_disk_and_a_failing_disk_disables),
        cmocka_unit_test(a_voter_never_votes_twice_in_a_term),
        cmocka_unit_test(leadership_transfer_is_quick_and_fenced),
        cmocka_unit_test(the_preferred_candidate_ends_up_leading),
        cmocka_unit_test(a_preferred_candidate_that_is_down_causes_no_churn),
        cmocka_unit_test(two_candidates_campaigning_together_split_no_vote),
        cmocka_unit_test(bad_messages_are_counted_and_ignored),
        cmocka_unit_test(a_single_voter_leads_alone),
        cmocka_unit_test(a_term_far_above_the_quorums_is_refused),
        cmocka_unit_test(a_voter_back_after_many_elections_catches_up),
        cmocka_unit_test(the_fence_knows_a_term_from_a_quorum),
        cmocka_unit_test(a_vote_replayed_to_another_candidate_does_not_count),
        cmocka_unit_test(replayed_heartbeats_of_a_dead_leader_do_not_keep_followers_sticky),
        cmocka_unit_test(timeout_now_delivered_to_another_voter_is_ignored),
        cmocka_unit_test(seed_sweep_keeps_the_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
