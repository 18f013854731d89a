/* The bookkeeping of the transport's inbound connections (admission.c):
 * per-address and overall limits on connections not yet authenticated
 * (half-open or not), the overall limit, idle timeouts, which connection
 * makes room, and what a look at the descriptors adds and forgets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "net/admission.h"

static const struct admission_limits small = {.total = 8, .unauth_total = 6,
                                              .unauth_per_addr = 3, .unauth_idle_ms = 1000,
                                              .auth_idle_ms = 10000};

/* Connection `port` from 192.0.2.host. */
static struct admission_conn v4(uint8_t host, uint16_t port) {
    const uint8_t ip[4] = {192, 0, 2, host};
    return admission_conn_v4(ip, port);
}

/* nng reports pipe `pipe` on connection port from host; returns the port
 * of the connection to cut (0: none) and its reason. */
static uint16_t pipe_on(struct admission *a, uint32_t pipe, uint8_t host, uint16_t port,
                        uint64_t now, enum admission_reason *why) {
    struct admission_conn c = v4(host, port);
    struct admission_cut cut = admission_pipe(a, pipe, &c, now);
    if (why)
        *why = cut.why;
    return cut.conn.port;
}

static void the_oldest_unauthenticated_of_an_address_makes_room(void **state) {
    struct admission *a = admission_new(&small);
    enum admission_reason why;
    for (uint32_t p = 1; p <= 3; p++)
        assert_int_equal(pipe_on(a, p, 1, (uint16_t)(1000 + p), p, NULL), 0);
    assert_int_equal(pipe_on(a, 4, 1, 1004, 4, &why), 1001);
    assert_int_equal(why, ADMISSION_PER_ADDRESS);
    assert_int_equal(pipe_on(a, 5, 1, 1005, 5, &why), 1002);
    /* Another address is not affected. */
    assert_int_equal(pipe_on(a, 6, 2, 1001, 6, NULL), 0);
    struct admission_counts k = admission_counts(a);
    assert_int_equal(k.open, 4);
    assert_int_equal(k.unauth, 4);
    assert_int_equal(k.cut[ADMISSION_PER_ADDRESS], 2);
    admission_free(a);
}

static void authenticated_connections_do_not_count_against_an_address(void **state) {
    struct admission *a = admission_new(&small);
    enum admission_reason why;
    for (uint32_t p = 1; p <= 3; p++) {
        assert_int_equal(pipe_on(a, p, 1, (uint16_t)(1000 + p), p, NULL), 0);
        admission_authenticated(a, p, p);
    }
    for (uint32_t p = 4; p <= 6; p++)
        assert_int_equal(pipe_on(a, p, 1, (uint16_t)(1000 + p), p, NULL), 0);
    /* The fourth unauthenticated one from that address evicts the oldest
     * unauthenticated one, never an authenticated one. */
    assert_int_equal(pipe_on(a, 7, 1, 1007, 7, &why), 1004);
    assert_int_equal(why, ADMISSION_PER_ADDRESS);
    admission_free(a);
}

static void unauthenticated_connections_are_bounded_in_all(void **state) {
    struct admission *a = admission_new(&small);
    enum admission_reason why;
    for (uint32_t p = 1; p <= 6; p++)
        assert_int_equal(pipe_on(a, p, (uint8_t)p, 1000, p, NULL), 0);
    assert_int_equal(pipe_on(a, 7, 7, 1000, 7, &why), 1000);
    assert_int_equal(why, ADMISSION_UNAUTH_TOTAL);
    assert_int_equal(admission_counts(a).unauth, 6);
    admission_free(a);
}

static void a_table_full_of_authenticated_connections_refuses_newcomers(void **state) {
    struct admission *a = admission_new(&small);
    enum admission_reason why;
    for (uint32_t p = 1; p <= 7; p++) {
        assert_int_equal(pipe_on(a, p, (uint8_t)p, 1000, p, NULL), 0);
        admission_authenticated(a, p, p);
    }
    /* One slot left: an unauthenticated newcomer takes it; the next one
     * evicts it (the oldest unauthenticated); with none left, refused. */
    assert_int_equal(pipe_on(a, 8, 8, 1000, 8, NULL), 0);
    struct admission_conn c9 = v4(9, 1000), c10 = v4(10, 1000);
    struct admission_cut cut = admission_pipe(a, 9, &c9, 9);
    assert_int_equal(cut.pipe, 8);
    assert_int_equal(cut.why, ADMISSION_TOTAL);
    admission_authenticated(a, 9, 9);
    cut = admission_pipe(a, 10, &c10, 10);
    assert_int_equal(cut.pipe, 10); /* the newcomer itself */
    assert_memory_equal(&cut.conn, &c10, sizeof c10);
    assert_int_equal(admission_counts(a).open, 8);
    /* A connection that goes makes room. */
    admission_pipe_gone(a, 3);
    assert_int_equal(pipe_on(a, 11, 11, 1000, 11, &why), 0);
    admission_free(a);
}

static void idle_connections_expire(void **state) {
    struct admission *a = admission_new(&small);
    struct admission_cut out[8];
    assert_int_equal(admission_deadline(a), UINT64_MAX);
    assert_int_equal(pipe_on(a, 1, 1, 1000, 100, NULL), 0); /* never authenticates */
    assert_int_equal(pipe_on(a, 2, 2, 1000, 200, NULL), 0); /* authenticates, then idles */
    assert_int_equal(pipe_on(a, 3, 3, 1000, 300, NULL), 0); /* keeps talking */
    admission_authenticated(a, 2, 500);
    admission_authenticated(a, 3, 500);
    assert_int_equal(admission_deadline(a), 1100);
    assert_int_equal(admission_expired(a, 1099, out, 8), 0);
    assert_int_equal(admission_expired(a, 1100, out, 8), 1);
    assert_int_equal(out[0].pipe, 1);
    assert_int_equal(out[0].why, ADMISSION_UNAUTH_IDLE);
    admission_authenticated(a, 3, 9000);
    assert_int_equal(admission_deadline(a), 10500);
    assert_int_equal(admission_expired(a, 10500, out, 8), 1);
    assert_int_equal(out[0].pipe, 2);
    assert_int_equal(out[0].why, ADMISSION_IDLE);
    /* Forgotten once reported: not reported again. */
    assert_int_equal(admission_expired(a, 10500, out, 8), 0);
    assert_int_equal(admission_deadline(a), 19000);
    struct admission_counts k = admission_counts(a);
    assert_int_equal(k.open, 1);
    assert_int_equal(k.cut[ADMISSION_UNAUTH_IDLE], 1);
    assert_int_equal(k.cut[ADMISSION_IDLE], 1);
    admission_free(a);
}

static void expired_connections_come_out_in_batches(void **state) {
    struct admission *a = admission_new(&small);
    struct admission_cut out[2];
    for (uint32_t p = 1; p <= 5; p++)
        assert_int_equal(pipe_on(a, p, (uint8_t)p, 1000, 0, NULL), 0);
    size_t total = 0, n;
    while ((n = admission_expired(a, 1000, out, 2)) > 0)
        total += n;
    assert_int_equal(total, 5);
    assert_int_equal(admission_counts(a).open, 0);
    admission_free(a);
}

/* A look finds connections nng has not reported (no SP handshake yet):
 * they count against the limits like unauthenticated ones, keep their
 * grace when nng reports them, and are forgotten when a look no longer
 * finds them. */
static void half_open_connections_are_found_by_looking(void **state) {
    struct admission *a = admission_new(&small);
    struct admission_conn c[5];
    for (int i = 0; i < 5; i++)
        c[i] = v4(1, (uint16_t)(2000 + i));
    admission_scan_begin(a);
    for (int i = 0; i < 3; i++)
        assert_int_equal(admission_seen(a, &c[i], 100).conn.port, 0);
    struct admission_cut cut = admission_seen(a, &c[3], 100);
    assert_int_equal(cut.conn.port, 2000); /* the oldest of that address */
    assert_int_equal(cut.pipe, 0);
    assert_int_equal(cut.why, ADMISSION_PER_ADDRESS);
    admission_scan_end(a);
    struct admission_counts k = admission_counts(a);
    assert_int_equal(k.half_open, 3);
    /* nng reports c[1] later: still counted from when it was found. */
    assert_int_equal(admission_pipe(a, 7, &c[1], 900).conn.port, 0);
    assert_int_equal(admission_deadline(a), 1100);
    /* The one just cut is still on the descriptor list, on its way out: a
     * look and nng's late notice of it do not count it again. */
    admission_scan_begin(a);
    assert_int_equal(admission_seen(a, &c[0], 950).conn.port, 0);
    assert_int_equal(admission_seen(a, &c[1], 950).conn.port, 0);
    assert_int_equal(admission_seen(a, &c[3], 950).conn.port, 0);
    admission_scan_end(a); /* c[2] was not seen: nng dropped it */
    k = admission_counts(a);
    assert_int_equal(k.open, 2);
    assert_int_equal(k.half_open, 1);
    assert_int_equal(k.unauth, 1);
    cut = admission_pipe(a, 8, &c[0], 960);
    assert_int_equal(cut.pipe, 8); /* refused: cut already */
    assert_int_equal(admission_counts(a).cut[ADMISSION_PER_ADDRESS], 1);
    admission_free(a);
}

/* A pipe whose end nng never reported is forgotten after two looks that do
 * not find its connection; one missed look is not enough (nng may report a
 * pipe between the look at the descriptors and its accounting). */
static void a_pipe_missing_from_two_looks_is_forgotten(void **state) {
    struct admission *a = admission_new(&small);
    struct admission_conn c = v4(1, 3000);
    assert_int_equal(admission_pipe(a, 1, &c, 0).conn.port, 0);
    admission_authenticated(a, 1, 0);
    admission_scan_begin(a);
    admission_scan_end(a);
    assert_int_equal(admission_counts(a).open, 1);
    admission_scan_begin(a);
    admission_scan_end(a);
    assert_int_equal(admission_counts(a).open, 0);
    admission_pipe_gone(a, 1); /* nng's late notice: ignored */
    admission_authenticated(a, 77, 10); /* unknown: ignored */
    admission_free(a);
}

static void connections_are_keyed_by_host(void **state) {
    const uint8_t ip4[4] = {10, 1, 2, 3};
    const uint8_t mapped[16] = {[10] = 0xff, [11] = 0xff, 10, 1, 2, 3};
    struct admission_conn a = admission_conn_v4(ip4, 7), b = admission_conn_v6(mapped, 7);
    assert_memory_equal(&a, &b, sizeof a);
    char text[64];
    admission_conn_text(&a, text, sizeof text);
    assert_string_equal(text, "10.1.2.3:7");
    /* IPv6: a /64 is one address for the limits. */
    struct admission *adm = admission_new(&small);
    uint8_t six[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    struct admission_conn c = admission_conn_v6(six, 9);
    admission_conn_text(&c, text, sizeof text);
    assert_string_equal(text, "[2001:db8:1:2:102:304:506:708]:9");
    for (uint8_t i = 0; i < 3; i++) {
        six[15] = i; /* same /64 */
        c = admission_conn_v6(six, 9);
        assert_int_equal(admission_pipe(adm, 1u + i, &c, i).conn.port, 0);
    }
    six[15] = 99;
    c = admission_conn_v6(six, 9);
    assert_int_equal(admission_pipe(adm, 4, &c, 3).why, ADMISSION_PER_ADDRESS);
    six[7] = 3; /* another /64 */
    c = admission_conn_v6(six, 9);
    struct admission_cut cut = admission_pipe(adm, 5, &c, 4);
    assert_int_equal(cut.conn.port, 0);
    admission_free(adm);
}

/* An attacker opens connection after connection from one address that never
 * authenticate, while peers from other addresses connect and authenticate
 * at once: no peer is ever evicted, and the attacker never holds more than
 * its per-address share. */
static void a_flood_from_one_address_never_evicts_a_peer(void **state) {
    const struct admission_limits lim = {.total = 64, .unauth_total = 16, .unauth_per_addr = 4,
                                         .unauth_idle_ms = 5000, .auth_idle_ms = 120000};
    struct admission *a = admission_new(&lim);
    uint32_t pipe = 0;
    uint64_t now = 0;
    for (int round = 0; round < 10000; round++, now++) {
        enum admission_reason why;
        ++pipe;
        if (pipe_on(a, pipe, 66, (uint16_t)(1 + round % 60000), now, &why))
            assert_int_equal(why, ADMISSION_PER_ADDRESS);
        assert_true(admission_counts(a).unauth <= 4);
        if (round % 250 == 0) {
            uint32_t peer = ++pipe;
            assert_int_equal(pipe_on(a, peer, (uint8_t)(round / 250), 7946, now, NULL), 0);
            admission_authenticated(a, peer, now + 1);
        }
    }
    struct admission_counts k = admission_counts(a);
    assert_int_equal(k.cut[ADMISSION_UNAUTH_TOTAL] + k.cut[ADMISSION_TOTAL], 0);
    assert_int_equal(k.open, 40 + 4); /* every peer, and the attacker's share */
    admission_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_oldest_unauthenticated_of_an_address_makes_room),
        cmocka_unit_test(authenticated_connections_do_not_count_against_an_address),
        cmocka_unit_test(unauthenticated_connections_are_bounded_in_all),
        cmocka_unit_test(a_table_full_of_authenticated_connections_refuses_newcomers),
        cmocka_unit_test(idle_connections_expire),
        cmocka_unit_test(expired_connections_come_out_in_batches),
        cmocka_unit_test(half_open_connections_are_found_by_looking),
        cmocka_unit_test(a_pipe_missing_from_two_looks_is_forgotten),
        cmocka_unit_test(connections_are_keyed_by_host),
        cmocka_unit_test(a_flood_from_one_address_never_evicts_a_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
