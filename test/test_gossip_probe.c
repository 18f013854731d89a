/* Failure detection: crash detection by everyone, indirect probes around a
 * broken link, Lifeguard's suspicion timeout and its confirmations. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gossip/gossip_internal.h"
#include "gossip_harness.h"

static void crashed_member_becomes_dead_everywhere(void **state) {
    struct harness h;
    harness_start(&h, 8, NULL);
    harness_run(&h, 5000);
    h.down[5] = true;
    int64_t crash = h.now;
    int64_t all_dead = -1;
    for (int64_t t = crash + 100; t <= crash + 20000 && all_dead < 0; t += 100) {
        harness_run(&h, t);
        bool all = true;
        for (size_t o = 0; o < h.n; o++)
            if (o != 5 && harness_state(&h, o, 5) != GOSSIP_DEAD)
                all = false;
        if (all)
            all_dead = t;
    }
    assert_true(all_dead > 0);
    /* Not before the minimum suspicion timeout: mult * log10(N) probes,
     * with log10 taken as at least 1. */
    assert_true(all_dead - crash >= (int64_t)(h.cfg.suspicion_mult * h.cfg.probe_interval_ms));
    for (size_t o = 0; o < h.n; o++)
        for (size_t m = 0; m < h.n; m++)
            if (o != 5 && m != 5)
                assert_int_equal(harness_state(&h, o, m), GOSSIP_ALIVE);
    harness_stop(&h);
}

static void indirect_probes_bridge_a_broken_link(void **state) {
    struct harness h;
    harness_start(&h, 6, NULL);
    harness_run(&h, 3000);
    h.cut[0][1] = h.cut[1][0] = true;
    harness_run(&h, 60000);
    for (size_t o = 0; o < h.n; o++)
        assert_int_equal(harness_state(&h, o, 1), GOSSIP_ALIVE);
    /* Never even suspected: it never had to refute. */
    assert_int_equal(gossip_incarnation(h.g[1]), 0);
    harness_stop(&h);
}

/* Packets are counted by kind each way: with nothing lost, what all sent
 * of a kind all received, and a quiet cluster probes (ping, ack) and
 * exchanges its state (push-pull) but does not relay. */
static void packets_are_counted_by_kind(void **state) {
    struct harness h;
    harness_start(&h, 5, NULL);
    harness_run(&h, 20000);
    uint64_t sent[GOSSIP_KINDS] = {0}, received[GOSSIP_KINDS] = {0};
    for (size_t i = 0; i < h.n; i++) {
        struct gossip_counts c = gossip_counts(h.g[i]);
        for (unsigned k = 0; k < GOSSIP_KINDS; k++) {
            sent[k] += c.sent[k];
            received[k] += c.received[k];
        }
    }
    for (unsigned k = 0; k < GOSSIP_KINDS; k++)
        assert_int_equal(sent[k], received[k]);
    assert_true(sent[NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING] > 0);
    assert_int_equal(sent[NODECTL__GOSSIP_KIND__GOSSIP_KIND_ACK],
                     sent[NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING]);
    assert_true(sent[NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL] > 0);
    assert_int_equal(sent[NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING_REQ], 0);
    assert_string_equal(gossip_kind_name(NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING_REQ), "ping_req");
    assert_string_equal(gossip_kind_name(GOSSIP_KINDS), "unknown");
    harness_stop(&h);
}

static void restarted_member_is_alive_again_with_higher_incarnation(void **state) {
    struct harness h;
    harness_start(&h, 5, NULL);
    harness_run(&h, 3000);
    h.down[4] = true;
    harness_run(&h, 30000);
    assert_int_equal(harness_state(&h, 0, 4), GOSSIP_DEAD);
    /* A new process with an empty view and the same id rejoins. */
    gossip_free(h.g[4]);
    struct gossip_addr a = harness_addr(4), seed = harness_addr(0);
    h.g[4] = gossip_new(&h.cfg, harness_id(4), &a, 0, 999, h.now);
    assert_non_null(h.g[4]);
    assert_int_equal(gossip_join(h.g[4], h.now, &seed, 1), 0);
    h.down[4] = false;
    harness_run(&h, h.now + 10000);
    for (size_t o = 0; o < h.n; o++) {
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(4), &m));
        assert_int_equal(m.state, GOSSIP_ALIVE);
        assert_true(m.incarnation >= 1);
    }
    harness_stop(&h);
}

/* Lifeguard section 4.2: max - (max - min) * log(c + 1) / log(k + 1). */
static void suspicion_timeout_shrinks_with_confirmations(void **state) {
    struct gossip_config cfg;
    gossip_config_memberlist_lan(&cfg); /* mult 4: k = 2 */
    struct gossip_addr a = harness_addr(0);
    struct gossip *g = gossip_new(&cfg, harness_id(0), &a, 0, 1, 0);
    assert_non_null(g);
    struct gossip_member_info m[100];
    for (size_t i = 0; i < 100; i++)
        m[i] = (struct gossip_member_info){.id = harness_id(i + 1), .addr = harness_addr(i + 1)};
    assert_int_equal(gossip_add_members(g, 0, m, 100), 0);
    uint32_t x = member_find(g, harness_id(7));
    assert_int_equal(member_set_state(g, x, GOSSIP_SUSPECT, 0), 0);
    assert_int_equal(suspicion_start(g, x, harness_id(2)), 0);
    const struct suspicion *s = g->m[x].aux;
    /* 101 alive: min = 4 * log10(101) * 1000 ms. */
    uint32_t min = (uint32_t)(4 * log10(101.0) * 1000);
    assert_int_equal(s->min_ms, min);
    assert_int_equal(s->max_ms, 6 * min);
    assert_int_equal(s->deadline_ms, 6 * (int64_t)min);
    assert_false(suspicion_confirm(g, x, harness_id(2))); /* the first suspector again */
    assert_true(suspicion_confirm(g, x, harness_id(3)));
    int64_t one = s->deadline_ms;
    int64_t expect = (int64_t)(6.0 * min - 5.0 * min * log(2.0) / log(3.0));
    assert_true(llabs(one - expect) <= 1);
    assert_false(suspicion_confirm(g, x, harness_id(3))); /* not independent */
    assert_true(suspicion_confirm(g, x, harness_id(4)));
    assert_int_equal(s->deadline_ms, min);
    assert_false(suspicion_confirm(g, x, harness_id(5))); /* k reached */
    /* The timer fires at the deadline, not before. */
    assert_int_equal(gossip_tick(g, min - 1), 0);
    assert_int_equal(g->m[x].state, GOSSIP_SUSPECT);
    assert_int_equal(gossip_tick(g, min), 0);
    assert_int_equal(g->m[x].state, GOSSIP_DEAD);
    gossip_free(g);
}

static void local_health_rises_when_acks_are_missing(void **state) {
    struct harness h;
    harness_start(&h, 6, NULL);
    harness_run(&h, 3000);
    assert_int_equal(gossip_health_score(h.g[0]), 0);
    /* Node 0 hears nothing any more: its probes fail and no nack comes. */
    for (size_t i = 1; i < h.n; i++)
        h.cut[i][0] = true;
    harness_run(&h, 6000);
    assert_true(gossip_health_score(h.g[0]) > 0);
    assert_true(gossip_health_score(h.g[0]) < h.cfg.awareness_max_multiplier);
    for (size_t i = 1; i < h.n; i++)
        h.cut[i][0] = false;
    harness_run(&h, 60000);
    assert_int_equal(gossip_health_score(h.g[0]), 0);
    harness_stop(&h);
}

/* A node whose loop runs late (paused 300 ms at a time, as a busy host's
 * agent is) reads the acks of its probes only after its timers fired: it
 * must not take that for its peers' failure, and its local health shows
 * the slowness. The others may suspect it while it sleeps, never declare
 * it dead. */
static void late_loop_raises_health_and_suspects_no_one(void **state) {
    struct harness h;
    harness_start(&h, 6, NULL);
    harness_run(&h, 3000);
    uint32_t highest = 0, late = 0;
    for (int round = 0; round < 30; round++) {
        /* Stopped just after it sent a probe: the ack comes while it sleeps. */
        int64_t probe = h.g[0]->next_probe_ms;
        harness_run(&h, probe - 1);
        h.now = probe;
        assert_int_equal(gossip_tick(h.g[0], h.now), 0);
        h.paused[0] = true;
        harness_run(&h, h.now + 50 + 10 * (round % 26));
        harness_resume(&h, 0);
        if (gossip_health_score(h.g[0]) > highest)
            highest = gossip_health_score(h.g[0]);
        if (gossip_late_ms(h.g[0]) > late)
            late = gossip_late_ms(h.g[0]);
        harness_run(&h, h.now + 150);
        for (size_t m = 1; m < h.n; m++)
            assert_int_equal(harness_state(&h, 0, m), GOSSIP_ALIVE);
        for (size_t o = 1; o < h.n; o++)
            assert_int_not_equal(harness_state(&h, o, 0), GOSSIP_DEAD);
    }
    assert_int_equal(h.suspicions[0], 0);
    assert_true(highest > 0);
    assert_true(late >= 50);
    /* On time again: health comes back. */
    harness_run(&h, h.now + 30000);
    assert_int_equal(gossip_health_score(h.g[0]), 0);
    assert_int_equal(gossip_late_ms(h.g[0]), 0);
    for (size_t o = 1; o < h.n; o++)
        assert_int_equal(harness_state(&h, o, 0), GOSSIP_ALIVE);
    harness_stop(&h);
}

/* Every round trip takes `latency` ms twice, as when every member's loop
 * runs late at once (a cluster starting on busy machines): once the first
 * acks have come back, however late, probes wait out the round trips seen
 * (SWIM section 3.1) and nobody suspects anybody. When round trips are
 * short again the window shrinks back within seconds, and a crash is found
 * as fast as on a quiet network. */
static void run_with_latency(int64_t latency) {
    struct harness h;
    harness_start(&h, 6, NULL);
    harness_run(&h, 3000);
    h.latency_ms = latency;
    harness_run(&h, 8000);
    uint64_t before = 0, after = 0;
    for (size_t i = 0; i < h.n; i++)
        before += h.suspicions[i];
    harness_run(&h, 38000);
    for (size_t i = 0; i < h.n; i++)
        after += h.suspicions[i];
    print_message("round trips of %lld ms: %llu suspicions in the first 5 s, %llu in the next "
                  "30 s\n", (long long)(2 * latency), (unsigned long long)before,
                  (unsigned long long)(after - before));
    assert_int_equal(after, before);
    for (size_t o = 0; o < h.n; o++)
        for (size_t m = 0; m < h.n; m++)
            assert_int_equal(harness_state(&h, o, m), GOSSIP_ALIVE);
    h.latency_ms = 0;
    harness_run(&h, 48000);
    h.down[5] = true;
    int64_t crash = h.now, dead = -1;
    for (int64_t t = crash + 100; t <= crash + 20000 && dead < 0; t += 100) {
        harness_run(&h, t);
        if (harness_state(&h, 0, 5) == GOSSIP_DEAD)
            dead = t;
    }
    print_message("then a crash was found dead by node 0 after %lld ms\n", (long long)(dead - crash));
    assert_true(dead > 0 && dead - crash <= 5000);
    harness_stop(&h);
}

/* 300 ms: longer than the probe timeout (100 ms) and the whole interval
 * (200 ms). 1.8 s: longer than the widest window local health alone gives
 * (the interval times awareness_max_multiplier, 1.6 s), so only acks that
 * come after their probe ended can tell how long round trips are. */
static void long_round_trips_make_no_suspects(void **state) {
    run_with_latency(150);
    run_with_latency(900);
}

/* A cluster that starts with every round trip long (all its members
 * starting at once on loaded machines): 800 ms, eight probe intervals,
 * from the first packet of the join on. No ack has said so yet when the
 * first probes go out, and probes that waited only the configured timeout
 * would make suspects of everyone; the estimate is its cap until the
 * first ack (rtt_peak_now), so none is suspected, and every member is
 * alive everywhere once the round trips are short again. */
static void a_cluster_starting_with_long_round_trips_makes_no_suspects(void **state) {
    struct harness h;
    harness_start(&h, 6, NULL);
    h.latency_ms = 400;
    harness_run(&h, 15000);
    uint64_t suspicions = 0;
    for (size_t i = 0; i < h.n; i++)
        suspicions += h.suspicions[i];
    print_message("round trips of 800 ms from the start: %llu suspicions in 15 s\n",
                  (unsigned long long)suspicions);
    assert_int_equal(suspicions, 0);
    h.latency_ms = 0;
    harness_run(&h, 16000);
    for (size_t o = 0; o < h.n; o++)
        for (size_t m = 0; m < h.n; m++)
            assert_int_equal(harness_state(&h, o, m), GOSSIP_ALIVE);
    harness_stop(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crashed_member_becomes_dead_everywhere),
        cmocka_unit_test(late_loop_raises_health_and_suspects_no_one),
        cmocka_unit_test(indirect_probes_bridge_a_broken_link),
        cmocka_unit_test(packets_are_counted_by_kind),
        cmocka_unit_test(restarted_member_is_alive_again_with_higher_incarnation),
        cmocka_unit_test(suspicion_timeout_shrinks_with_confirmations),
        cmocka_unit_test(local_health_rises_when_acks_are_missing),
        cmocka_unit_test(long_round_trips_make_no_suspects),
        cmocka_unit_test(a_cluster_starting_with_long_round_trips_makes_no_suspects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
