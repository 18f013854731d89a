/* Membership state machine: joining, SWIM's update precedence, refutation,
 * graceful leave, power-off with wake information, reaping, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gossip.pb-c.h"
#include "gossip_harness.h"

/* A GOSSIP packet from `sender` carrying one update about `id`. */
static size_t craft(uint8_t *buf, uint64_t sender, uint64_t id, uint32_t inc,
                    Nodectl__GossipState st, uint64_t from) {
    return harness_craft(buf, NODECTL__GOSSIP_KIND__GOSSIP_KIND_GOSSIP, sender, id, inc, st, from,
                        0);
}

static void all_see_all_alive(const struct harness *h) {
    for (size_t o = 0; o < h->n; o++)
        for (size_t m = 0; m < h->n; m++)
            assert_int_equal(harness_state(h, o, m), GOSSIP_ALIVE);
}

static void join_through_one_seed_converges(void **state) {
    struct harness h;
    harness_start(&h, 6, NULL);
    harness_run(&h, 5000);
    all_see_all_alive(&h);
    for (size_t i = 1; i < h.n; i++)
        assert_true(gossip_joined(h.g[i]));
    harness_stop(&h);
}

static void updates_follow_incarnation_then_precedence(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    uint8_t buf[256];
    uint64_t x = harness_id(3), from = harness_id(2);
    struct gossip_member_info m;
    size_t n = craft(buf, from, x, 5, NODECTL__GOSSIP_STATE__GOSSIP_STATE_ALIVE, 0);
    harness_inject(&h, 0, 2, buf, n);
    assert_true(gossip_member_find(h.g[0], x, &m));
    assert_int_equal(m.incarnation, 5);
    /* Older news loses, whatever it says. */
    n = craft(buf, from, x, 4, NODECTL__GOSSIP_STATE__GOSSIP_STATE_DEAD, from);
    harness_inject(&h, 0, 2, buf, n);
    assert_int_equal(harness_state(&h, 0, 3), GOSSIP_ALIVE);
    /* Same incarnation: suspect beats alive, dead beats suspect... */
    n = craft(buf, from, x, 5, NODECTL__GOSSIP_STATE__GOSSIP_STATE_SUSPECT, from);
    harness_inject(&h, 0, 2, buf, n);
    assert_int_equal(harness_state(&h, 0, 3), GOSSIP_SUSPECT);
    n = craft(buf, from, x, 5, NODECTL__GOSSIP_STATE__GOSSIP_STATE_DEAD, from);
    harness_inject(&h, 0, 2, buf, n);
    assert_int_equal(harness_state(&h, 0, 3), GOSSIP_DEAD);
    /* ...and alive at the same incarnation cannot undo it. */
    n = craft(buf, from, x, 5, NODECTL__GOSSIP_STATE__GOSSIP_STATE_ALIVE, 0);
    harness_inject(&h, 0, 2, buf, n);
    assert_int_equal(harness_state(&h, 0, 3), GOSSIP_DEAD);
    harness_stop(&h);
}

static void suspected_member_refutes_with_higher_incarnation(void **state) {
    struct harness h;
    harness_start(&h, 5, NULL);
    harness_run(&h, 3000);
    assert_int_equal(gossip_incarnation(h.g[1]), 0);
    uint8_t buf[256];
    /* Node 2 says node 1 is suspect: only node 1 hears it. */
    size_t n = craft(buf, harness_id(2), harness_id(1), 0,
                     NODECTL__GOSSIP_STATE__GOSSIP_STATE_SUSPECT, harness_id(2));
    harness_inject(&h, 1, 2, buf, n);
    assert_int_equal(gossip_incarnation(h.g[1]), 1);
    /* Everyone suspects it now (as if the rumour had spread first). */
    for (size_t i = 0; i < h.n; i++)
        if (i != 1)
            harness_inject(&h, i, 2, buf, n);
    harness_run(&h, 6000);
    for (size_t o = 0; o < h.n; o++) {
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(1), &m));
        assert_int_equal(m.state, GOSSIP_ALIVE);
        assert_int_equal(m.incarnation, 1);
    }
    harness_stop(&h);
}

/* The next state event about id, the others skipped. */
static bool next_state_event(struct gossip *g, uint64_t id, struct gossip_event *e) {
    while (gossip_next_event(g, e))
        if (e->kind == GOSSIP_EV_STATE && e->id == id)
            return true;
    return false;
}

/* The events tell a member learned from one whose incarnation moved while
 * its state stood (it refuted a suspicion this node never heard of): the
 * agent logs the first as "joined" and the second not. */
static void learned_members_are_told_from_refutations(void **state) {
    struct gossip_config c;
    gossip_config_defaults(&c);
    struct gossip_addr a = harness_addr(0), from = harness_addr(2);
    struct gossip *g = gossip_new(&c, harness_id(0), &a, 0, 1, 0);
    assert_non_null(g);
    uint8_t buf[256];
    struct gossip_event e;
    size_t n = craft(buf, harness_id(2), harness_id(2), 0, NODECTL__GOSSIP_STATE__GOSSIP_STATE_ALIVE, 0);
    assert_int_equal(gossip_receive(g, 10, harness_id(2), &from, buf, n), 0);
    assert_true(next_state_event(g, harness_id(2), &e));
    assert_true(e.learned);
    assert_int_equal(e.state, GOSSIP_ALIVE);
    n = craft(buf, harness_id(2), harness_id(2), 1, NODECTL__GOSSIP_STATE__GOSSIP_STATE_ALIVE, 0);
    assert_int_equal(gossip_receive(g, 20, harness_id(2), &from, buf, n), 0);
    assert_true(next_state_event(g, harness_id(2), &e));
    assert_false(e.learned);
    assert_int_equal(e.state, GOSSIP_ALIVE);
    assert_int_equal(e.old_state, GOSSIP_ALIVE);
    assert_int_equal(e.incarnation, 1);
    gossip_free(g);
}

static void leave_is_announced(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    assert_int_equal(gossip_leave(h.g[3], h.now), 0);
    harness_run(&h, 5000);
    h.down[3] = true;
    harness_run(&h, 60000);
    for (size_t o = 0; o < 3; o++)
        assert_int_equal(harness_state(&h, o, 3), GOSSIP_LEFT);
    harness_stop(&h);
}

static void power_off_keeps_wake_information_and_is_not_failure(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    const uint8_t wake[] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 0, 9};
    assert_int_equal(gossip_power_off(h.g[2], h.now, wake, sizeof wake), 0);
    harness_run(&h, 5000);
    h.down[2] = true; /* it is off now: silent */
    harness_run(&h, 120000);
    for (size_t o = 0; o < h.n; o++) {
        if (o == 2)
            continue;
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(2), &m));
        assert_int_equal(m.state, GOSSIP_OFF);
        assert_int_equal(m.wake_len, sizeof wake);
        assert_memory_equal(m.wake, wake, sizeof wake);
    }
    harness_stop(&h);
}

#define UNKNOWN (GOSSIP_OFF + 1)

/* Serf's reaper: every node forgets a dead member reconnect_timeout after
 * it died and one that left tombstone_timeout after it left, push-pulls
 * from nodes that learned the news later do not bring them back, off
 * members stay, and the rest of the table (index, probe order) still
 * works: no live member is ever suspected. */
static void dead_and_left_members_are_forgotten(void **state) {
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.push_pull_interval_ms = 2000;
    cfg.reap_dead_ms = 20000;
    cfg.reap_left_ms = 60000;
    struct harness h;
    harness_start(&h, 12, &cfg);
    harness_run(&h, 5000);
    all_see_all_alive(&h);
    const uint8_t wake[] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    assert_int_equal(gossip_power_off(h.g[3], h.now, wake, sizeof wake), 0);
    assert_int_equal(gossip_leave(h.g[11], h.now), 0);
    harness_run(&h, h.now + 2000);
    h.down[3] = h.down[11] = true;
    for (size_t d = 6; d <= 10; d++)
        h.down[d] = true;
    harness_run(&h, h.now + 15000);
    size_t live[] = {0, 1, 2, 4, 5};
    int64_t last_death = 0;
    for (size_t k = 0; k < 5; k++) {
        size_t o = live[k];
        for (size_t d = 6; d <= 10; d++) {
            struct gossip_member_info m;
            assert_true(gossip_member_find(h.g[o], harness_id(d), &m));
            assert_int_equal(m.state, GOSSIP_DEAD);
            if (m.changed_ms > last_death)
                last_death = m.changed_ms;
        }
        assert_int_equal(harness_state(&h, o, 11), GOSSIP_LEFT);
        assert_int_equal(gossip_member_count(h.g[o]), 12);
    }
    /* Kept 20 s after the last node saw the last death, reaped at the next
     * push-pull round (2 s, 4 s at most with its random phase); the one
     * that left 24 s before that is kept 60 s. */
    harness_run(&h, last_death + 20000 + 4000);
    for (size_t k = 0; k < 5; k++) {
        size_t o = live[k];
        for (size_t d = 6; d <= 10; d++)
            assert_int_equal(harness_state(&h, o, d), UNKNOWN);
        assert_int_equal(harness_state(&h, o, 11), GOSSIP_LEFT);
        assert_int_equal(gossip_member_count(h.g[o]), 7);
    }
    harness_run(&h, h.now + 60000);
    for (size_t k = 0; k < 5; k++) {
        size_t o = live[k];
        assert_int_equal(gossip_member_count(h.g[o]), 6);
        assert_int_equal(harness_state(&h, o, 11), UNKNOWN);
        assert_int_equal(harness_state(&h, o, 3), GOSSIP_OFF);
        for (size_t j = 0; j < 5; j++)
            assert_int_equal(harness_state(&h, o, live[j]), GOSSIP_ALIVE);
        assert_int_equal(gossip_incarnation(h.g[o]), 0);
    }
    harness_stop(&h);
}

/* A push-pull entry about a stranger that is dead carries how long ago it
 * died: too long ago, it is not learned (the others have forgotten it);
 * recently, it is learned with that age and forgotten on time. */
static void dead_strangers_are_learned_with_their_age(void **state) {
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.push_pull_interval_ms = 1000;
    cfg.reap_dead_ms = 20000;
    struct harness h;
    harness_start(&h, 3, &cfg);
    harness_run(&h, 3000);
    const Nodectl__GossipKind pp = NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL;
    const Nodectl__GossipState dead = NODECTL__GOSSIP_STATE__GOSSIP_STATE_DEAD;
    uint64_t x = harness_id(9);
    uint8_t buf[256];
    size_t n = harness_craft(buf, pp, harness_id(1), x, 0, dead, harness_id(1), 20000);
    harness_inject(&h, 0, 1, buf, n);
    assert_false(gossip_member_find(h.g[0], x, &(struct gossip_member_info){0}));
    n = harness_craft(buf, pp, harness_id(1), x, 0, dead, harness_id(1), 15000);
    harness_inject(&h, 0, 1, buf, n);
    struct gossip_member_info m;
    assert_true(gossip_member_find(h.g[0], x, &m));
    assert_int_equal(m.state, GOSSIP_DEAD);
    assert_int_equal(m.changed_ms, h.now - 15000);
    harness_run(&h, h.now + 7000);
    assert_false(gossip_member_find(h.g[0], x, &m));
    harness_stop(&h);
}

/* News that reached a node only by push-pull is gossiped on: node 3 is cut
 * off, node 2 alone hears by push-pull that it left; push-pull is too rare
 * to carry it to the others within the test, gossip does. */
static void news_from_push_pull_is_gossiped_on(void **state) {
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.push_pull_interval_ms = 600000;
    struct harness h;
    harness_start(&h, 6, &cfg);
    harness_run(&h, 3000);
    /* The join's exchanges are over; the next are minutes away. */
    all_see_all_alive(&h);
    h.down[3] = true;
    uint8_t buf[256];
    size_t n = harness_craft(buf, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL, harness_id(1),
                            harness_id(3), 1, NODECTL__GOSSIP_STATE__GOSSIP_STATE_LEFT, 0, 0);
    harness_inject(&h, 2, 1, buf, n);
    harness_run(&h, h.now + 3000);
    for (size_t o = 0; o < h.n; o++) {
        if (o == 3)
            continue;
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(3), &m));
        assert_int_equal(m.state, GOSSIP_LEFT);
        assert_int_equal(m.incarnation, 1);
    }
    harness_stop(&h);
}

static void bad_packets_are_counted_not_fatal(void **state) {
    struct harness h;
    harness_start(&h, 2, NULL);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x22};
    harness_inject(&h, 0, 1, junk, sizeof junk);
    assert_int_equal(gossip_bad_packets(h.g[0]), 1);
    /* A ping-req with a target address of the wrong length. */
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING_REQ;
    p.sender = harness_id(1);
    p.target = harness_id(0);
    uint8_t ip[3] = {1, 2, 3};
    p.target_ip.data = ip;
    p.target_ip.len = sizeof ip;
    uint8_t buf[128];
    size_t n = nodectl__gossip_packet__pack(&p, buf);
    harness_inject(&h, 0, 1, buf, n);
    assert_int_equal(gossip_bad_packets(h.g[0]), 2);
    assert_int_equal(gossip_receive(h.g[0], 0, harness_id(1), NULL, buf, n), -1);
    harness_run(&h, 3000);
    assert_int_equal(harness_state(&h, 0, 1), GOSSIP_ALIVE);
    harness_stop(&h);
}

static void config_check_names_the_problem(void **state) {
    struct gossip_config c;
    gossip_config_defaults(&c);
    assert_null(gossip_config_check(&c));
    c.probe_timeout_ms = c.probe_interval_ms;
    assert_non_null(strstr(gossip_config_check(&c), "probe_timeout"));
    gossip_config_memberlist_lan(&c);
    c.packet_max = 100;
    assert_non_null(strstr(gossip_config_check(&c), "packet_max"));
    struct gossip_addr a = harness_addr(0);
    assert_null(gossip_new(&c, 1, &a, 0, 1, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_through_one_seed_converges),
        cmocka_unit_test(updates_follow_incarnation_then_precedence),
        cmocka_unit_test(suspected_member_refutes_with_higher_incarnation),
        cmocka_unit_test(learned_members_are_told_from_refutations),
        cmocka_unit_test(leave_is_announced),
        cmocka_unit_test(power_off_keeps_wake_information_and_is_not_failure),
        cmocka_unit_test(dead_and_left_members_are_forgotten),
        cmocka_unit_test(dead_strangers_are_learned_with_their_age),
        cmocka_unit_test(news_from_push_pull_is_gossiped_on),
        cmocka_unit_test(bad_packets_are_counted_not_fatal),
        cmocka_unit_test(config_check_names_the_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
