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
    assert_int_equal(election_bad_messages(h.e[0]), 2);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_single_leader_emerges_and_holds_a_lease),
        cmocka_unit_test(a_crashed_leader_is_replaced),
        cmocka_unit_test(a_paused_leader_steps_down_and_loses_its_lease_first),
        cmocka_unit_test(an_isolated_leader_steps_down_by_check_quorum),
        cmocka_unit_test(messages_wait_for_the_disk_and_a_failing_disk_disables),
        cmocka_unit_test(a_voter_never_votes_twice_in_a_term),
        cmocka_unit_test(leadership_transfer_is_quick_and_fenced),
        cmocka_unit_test(the_preferred_candidate_ends_up_leading),
        cmocka_unit_test(a_preferred_candidate_that_is_down_causes_no_churn),
        cmocka_unit_test(bad_messages_are_counted_and_ignored),
        cmocka_unit_test(a_single_voter_leads_alone),
        cmocka_unit_test(seed_sweep_keeps_the_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
