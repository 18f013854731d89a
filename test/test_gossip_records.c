/* Records: announced, fetched, in pieces when large; snapshot round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gossip_harness.h"

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
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(2), &m));
        assert_int_equal(m.record_version, 2);
        assert_int_equal(m.record_len, strlen(v2));
        assert_memory_equal(m.record, v2, strlen(v2));
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
    for (size_t o = 0; o < 4; o++) {
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(4), &m));
        assert_int_equal(m.record_len, len);
        assert_memory_equal(m.record, rec, len);
    }
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_reach_everyone_newest_wins),
        cmocka_unit_test(large_record_travels_in_pieces),
        cmocka_unit_test(restarted_owner_outnumbers_its_old_record),
        cmocka_unit_test(snapshot_round_trip_keeps_off_hosts_and_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
