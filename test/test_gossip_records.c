/* Records: announced, fetched, in pieces when large; snapshot round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gossip_harness.h"

static void assert_record(const struct harness *h, size_t observer, size_t owner,
                          uint64_t version, const void *data, size_t len) {
    struct gossip_member_info m;
    assert_true(gossip_member_find(h->g[observer], harness_id(owner), &m));
    assert_int_equal(m.record_version, version);
    assert_int_equal(m.record_len, len);
    assert_memory_equal(m.record, data, len);
}

/* n nodes with no scheduled push-pull during a test: what reaches a node
 * comes from gossip and the fetches it triggers. */
static void start_without_push_pull(struct harness *h, size_t n) {
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.push_pull_interval_ms = 600000;
    harness_start(h, n, &cfg);
    harness_run(h, 3000);
}

static void records_reach_everyone_newest_wins(void **state) {
    struct harness h;
    harness_start(&h, 6, NULL);
    harness_run(&h, 3000);
    const char *v1 = "cores=8", *v2 = "cores=16";
    assert_int_equal(gossip_set_record(h.g[2], h.now, (const uint8_t *)v1, strlen(v1)), 0);
    harness_run(&h, h.now + 3000);
    assert_int_equal(gossip_set_record(h.g[2], h.now, (const uint8_t *)v2, strlen(v2)), 0);
    harness_run(&h, h.now + 3000);
    for (size_t o = 0; o < h.n; o++) {
        if (o == 2)
            continue;
        assert_record(&h, o, 2, 2, v2, strlen(v2));
    }
    harness_stop(&h);
}

static void large_record_travels_in_pieces(void **state) {
    struct harness h;
    harness_start(&h, 5, NULL);
    harness_run(&h, 3000);
    size_t len = 5 * h.cfg.packet_max + 123;
    uint8_t *rec = malloc(len);
    assert_non_null(rec);
    for (size_t i = 0; i < len; i++)
        rec[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(gossip_set_record(h.g[4], h.now, rec, len), 0);
    harness_run(&h, h.now + 5000);
    for (size_t o = 0; o < 4; o++)
        assert_record(&h, o, 4, 1, rec, len);
    assert_true(h.largest_packet <= h.cfg.packet_max);
    free(rec);
    harness_stop(&h);
}

static void restarted_owner_outnumbers_its_old_record(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    for (int k = 0; k < 3; k++)
        assert_int_equal(gossip_set_record(h.g[3], h.now, (const uint8_t *)"old", 3), 0);
    harness_run(&h, h.now + 3000);
    gossip_free(h.g[3]);
    struct gossip_addr a = harness_addr(3), seed = harness_addr(0);
    h.g[3] = gossip_new(&h.cfg, harness_id(3), &a, 1, 7, h.now);
    assert_non_null(h.g[3]);
    assert_int_equal(gossip_set_record(h.g[3], h.now, (const uint8_t *)"new", 3), 0);
    assert_int_equal(gossip_join(h.g[3], h.now, &seed, 1), 0);
    harness_run(&h, h.now + 70000); /* past a push-pull interval */
    for (size_t o = 0; o < 3; o++) {
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(3), &m));
        assert_true(m.record_version > 3);
        assert_memory_equal(m.record, "new", 3);
    }
    harness_stop(&h);
}

static void snapshot_round_trip_keeps_off_hosts_and_wake(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    const uint8_t wake[] = {0xde, 0xad, 0xbe, 0xef, 0, 1};
    assert_int_equal(gossip_set_record(h.g[1], h.now, (const uint8_t *)"rec1", 4), 0);
    assert_int_equal(gossip_power_off(h.g[1], h.now, wake, sizeof wake), 0);
    harness_run(&h, h.now + 3000);
    uint8_t *snap;
    size_t len;
    assert_int_equal(gossip_snapshot_encode(h.g[0], &snap, &len), 0);

    struct gossip_addr a = harness_addr(0);
    struct gossip *g = gossip_new(&h.cfg, harness_id(0), &a, 0, 5, 0);
    assert_non_null(g);
    const char *err = NULL;
    assert_int_equal(gossip_snapshot_load(g, 0, snap, len, &err), 0);
    assert_int_equal(gossip_member_count(g), 4);
    struct gossip_member_info m;
    assert_true(gossip_member_find(g, harness_id(1), &m));
    assert_int_equal(m.state, GOSSIP_OFF);
    assert_memory_equal(m.wake, wake, sizeof wake);
    assert_memory_equal(m.record, "rec1", 4);
    gossip_free(g);

    /* Someone else's snapshot and garbage are refused with a reason. */
    a = harness_addr(1);
    g = gossip_new(&h.cfg, harness_id(1), &a, 0, 5, 0);
    assert_int_equal(gossip_snapshot_load(g, 0, snap, len, &err), -1);
    assert_non_null(strstr(err, "another node"));
    const uint8_t junk[] = {0x0a, 0xff, 0xff};
    assert_int_equal(gossip_snapshot_load(g, 0, junk, sizeof junk, &err), -1);
    assert_non_null(strstr(err, "decoding"));
    gossip_free(g);
    free(snap);
    harness_stop(&h);
}

/* A node whose member list lacks someone (the answers to its join that
 * listed that member were lost) hears of that member's new record from a
 * peer and fills the gap by exchanging with that peer, not a push-pull
 * interval later. */
static void record_of_unknown_member_fills_the_gap(void **state) {
    struct harness h;
    start_without_push_pull(&h, 4);
    struct gossip_member_info known[2];
    for (size_t k = 0; k < 2; k++)
        assert_true(gossip_member_find(h.g[0], harness_id(k), &known[k]));
    gossip_free(h.g[3]);
    struct gossip_addr a = harness_addr(3);
    h.g[3] = gossip_new(&h.cfg, harness_id(3), &a, 0, 9, h.now);
    assert_non_null(h.g[3]);
    assert_int_equal(gossip_add_members(h.g[3], h.now, known, 2), 0);
    assert_int_equal(harness_state(&h, 3, 2), GOSSIP_OFF + 1);

    const char *rec = "cores=32";
    assert_int_equal(gossip_set_record(h.g[2], h.now, (const uint8_t *)rec, strlen(rec)), 0);
    harness_run(&h, h.now + 2000);
    assert_int_equal(harness_state(&h, 3, 2), GOSSIP_ALIVE);
    assert_record(&h, 3, 2, 1, rec, strlen(rec));
    harness_stop(&h);
}

/* Every answer to a node's requests for a record is lost for longer than
 * its asks last (the pieces are dropped, the small announcements and
 * requests pass): once they are spent it asks the owner, a probe interval
 * apart, and gets the record soon after the loss ends, not at the fetch's
 * deadline, a push-pull interval later. */
static void spent_fetch_asks_the_owner(void **state) {
    struct harness h;
    start_without_push_pull(&h, 4);
    uint8_t rec[600];
    for (size_t i = 0; i < sizeof rec; i++)
        rec[i] = (uint8_t)(i * 13 + 1);
    h.drop_longer[1] = 300;
    assert_int_equal(gossip_set_record(h.g[3], h.now, rec, sizeof rec), 0);
    int64_t t0 = h.now;
    harness_run(&h, t0 + 1500);
    struct gossip_member_info m;
    assert_true(gossip_member_find(h.g[1], harness_id(3), &m));
    assert_int_equal(m.record_version, 0);
    h.drop_longer[1] = 0;
    harness_run(&h, t0 + 3000);
    assert_record(&h, 1, 3, 1, rec, sizeof rec);
    harness_stop(&h);
}

/* A pushed record reaches every member in one delivery, without a gossip
 * round or a fetch: small, and large in pieces. */
static void pushed_record_reaches_everyone_at_once(void **state) {
    struct harness h;
    start_without_push_pull(&h, 8);
    const char *small = "leader=n3 term=7";
    assert_int_equal(gossip_set_record(h.g[3], h.now, (const uint8_t *)small, strlen(small)), 0);
    harness_run(&h, h.now); /* delivery only: no timer is due */
    size_t have = 0;
    for (size_t o = 0; o < h.n; o++) {
        struct gossip_member_info m;
        have += o != 3 && gossip_member_find(h.g[o], harness_id(3), &m) && m.record_version == 1;
    }
    assert_true(have < h.n - 1); /* not by gossip alone, this fast */
    assert_int_equal(gossip_push_record(h.g[3], h.now), 0);
    harness_run(&h, h.now);
    for (size_t o = 0; o < h.n; o++)
        if (o != 3)
            assert_record(&h, o, 3, 1, small, strlen(small));
    size_t len = 3 * h.cfg.packet_max + 45;
    uint8_t *large = malloc(len);
    assert_non_null(large);
    for (size_t i = 0; i < len; i++)
        large[i] = (uint8_t)(i * 13 + 1);
    assert_int_equal(gossip_set_record(h.g[3], h.now, large, len), 0);
    assert_int_equal(gossip_push_record(h.g[3], h.now), 0);
    harness_run(&h, h.now);
    for (size_t o = 0; o < h.n; o++)
        if (o != 3)
            assert_record(&h, o, 3, 2, large, len);
    assert_true(h.largest_packet <= h.cfg.packet_max);
    free(large);
    harness_stop(&h);
}

/* A node hears of a new record only from a member that relays the
 * announcement, and that member stops before it answers the node's ask
 * (a paused or crashed process): the node asks the owner next, which has
 * the newest record, instead of the silent relay again, and has the
 * record within a few probe timeouts, not once the relay's asks are spent
 * (the sum of their growing waits, seconds). */
static void unanswered_ask_goes_to_the_owner(void **state) {
    struct harness h;
    start_without_push_pull(&h, 3);
    uint8_t rec[600];
    for (size_t i = 0; i < sizeof rec; i++)
        rec[i] = (uint8_t)(i * 11 + 5);
    /* Node 1 sleeps through the announcement; what node 2 sends it is
     * lost, what node 0 relays waits in its socket. */
    h.paused[1] = true;
    h.cut[2][1] = true;
    assert_int_equal(gossip_set_record(h.g[2], h.now, rec, sizeof rec), 0);
    harness_run(&h, h.now + 3 * (int64_t)h.cfg.probe_interval_ms);
    assert_record(&h, 0, 2, 1, rec, sizeof rec);
    h.paused[0] = true;
    h.cut[2][1] = false;
    harness_resume(&h, 1);
    int64_t t0 = h.now;
    struct gossip_member_info m;
    while (h.now < t0 + 10000 &&
           !(gossip_member_find(h.g[1], harness_id(2), &m) && m.record_version == 1))
        harness_run(&h, h.now + 10);
    print_message("node 1 had the record %lld ms after it woke\n", (long long)(h.now - t0));
    assert_true(h.now - t0 <= 4 * (int64_t)h.cfg.probe_timeout_ms);
    assert_record(&h, 1, 2, 1, rec, sizeof rec);
    harness_stop(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_reach_everyone_newest_wins),
        cmocka_unit_test(large_record_travels_in_pieces),
        cmocka_unit_test(restarted_owner_outnumbers_its_old_record),
        cmocka_unit_test(snapshot_round_trip_keeps_off_hosts_and_wake),
        cmocka_unit_test(record_of_unknown_member_fills_the_gap),
        cmocka_unit_test(spent_fetch_asks_the_owner),
        cmocka_unit_test(pushed_record_reaches_everyone_at_once),
        cmocka_unit_test(unanswered_ask_goes_to_the_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
