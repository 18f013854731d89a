/* Agent-to-agent transport over real nng TCP sockets on loopback: delivery,
 * authentication with the cluster key, and never blocking on a dead peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/transport.h"
#include "test_helpers.h"

static const uint8_t key_a[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key_b[32] = {9};

static uint16_t port_base(void) { return (uint16_t)test_port_base(); }

static struct transport *open_at(uint16_t port, const char *cluster, const uint8_t *key) {
    char adv[64], err[256];
    snprintf(adv, sizeof adv, "127.0.0.1:%u", port);
    struct transport *t = transport_open("127.0.0.1", port, adv, cluster, key, err, sizeof err);
    if (!t)
        fail_msg("transport_open: %s", err);
    return t;
}

/* Waits up to timeout_ms for one message; 1 if received. */
static int recv_wait(struct transport *t, struct frame_msg *m, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (transport_recv(t, m))
            return 1;
        struct pollfd p = {.fd = transport_fd(t), .events = POLLIN};
        poll(&p, 1, 20);
    }
    return 0;
}

static void keyed_peers_exchange_messages(void **state) {
    uint16_t pa = port_base(), pb = pa + 1;
    struct transport *a = open_at(pa, "c1", key_a), *b = open_at(pb, "c1", key_a);
    char to[64];
    snprintf(to, sizeof to, "127.0.0.1:%u", pb);
    for (int i = 0; i < 3; i++)
        assert_int_equal(transport_send(a, to, 7, "hello", 5), 0);
    struct frame_msg m;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(recv_wait(b, &m, 5000), 1);
        assert_int_equal(m.channel, 7);
        assert_int_equal(m.len, 5);
        assert_memory_equal(m.payload, "hello", 5);
        char from[64];
        snprintf(from, sizeof from, "127.0.0.1:%u", pa);
        assert_string_equal(m.from, from);
        free(m.payload);
    }
    assert_int_equal(transport_stats(b).received, 3);
    assert_int_equal(transport_stats(a).sent, 3);
    transport_close(a);
    transport_close(b);
}

/* b must receive nothing from a, and count the frames as refused. */
static void expect_refused(struct transport *a, struct transport *b, uint16_t pb) {
    char to[64];
    snprintf(to, sizeof to, "127.0.0.1:%u", pb);
    for (int i = 0; i < 5; i++)
        assert_int_equal(transport_send(a, to, 1, "intruder", 8), 0);
    struct frame_msg m;
    for (int waited = 0; waited < 5000 && transport_stats(b).dropped_auth < 5; waited += 20) {
        assert_int_equal(transport_recv(b, &m), 0);
        usleep(20000);
    }
    assert_int_equal(transport_stats(b).dropped_auth, 5);
    assert_int_equal(transport_stats(b).received, 0);
}

static void wrong_key_insecure_or_other_cluster_is_refused(void **state) {
    uint16_t p = port_base() + 2;
    struct transport *b = open_at(p, "c1", key_a);
    struct transport *wrong = open_at(p + 1, "c1", key_b);
    expect_refused(wrong, b, p);
    transport_close(wrong);
    transport_close(b);

    b = open_at(p, "c1", key_a);
    struct transport *insecure = open_at(p + 1, "c1", NULL);
    expect_refused(insecure, b, p);
    transport_close(insecure);
    transport_close(b);

    b = open_at(p, "c1", key_a);
    struct transport *other = open_at(p + 1, "c2", key_a);
    expect_refused(other, b, p);
    transport_close(other);
    transport_close(b);
}

static void garbage_frames_are_dropped(void **state) {
    uint16_t p = port_base() + 4;
    struct transport *b = open_at(p, "c1", NULL);
    nng_socket raw;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%u", p);
    assert_int_equal(nng_push0_open(&raw), 0);
    assert_int_equal(nng_dial(raw, url, NULL, 0), 0);
    uint8_t frame[40] = {0};
    frame[32] = 0xff; /* a zero MAC, then a body that does not decode */
    assert_int_equal(nng_send(raw, frame, sizeof frame, 0), 0);
    assert_int_equal(nng_send(raw, frame, 3, 0), 0); /* shorter than a MAC */
    struct frame_msg m;
    for (int waited = 0; waited < 5000 && transport_stats(b).dropped_malformed < 2; waited += 20) {
        assert_int_equal(transport_recv(b, &m), 0);
        usleep(20000);
    }
    assert_int_equal(transport_stats(b).dropped_malformed, 2);
    nng_close(raw);
    transport_close(b);
}

static void sending_to_a_dead_peer_never_blocks(void **state) {
    uint16_t p = port_base() + 6;
    struct transport *a = open_at(p, "c1", key_a);
    char to[64];
    snprintf(to, sizeof to, "127.0.0.1:%u", p + 1); /* nobody listens there */
    int dropped = 0;
    for (int i = 0; i < 1000; i++)
        dropped += transport_send(a, to, 1, "x", 1) != 0;
    /* At most the per-peer queue is held; the rest is dropped at once. */
    assert_true(dropped >= 1000 - 64);
    assert_int_equal(transport_stats(a).dropped_send, (uint64_t)dropped);
    assert_int_equal(transport_send(a, "not-an-address", 1, "x", 1), -1);
    transport_close(a);
}

static void key_files(void **state) {
    char path[4200], err[512];
    uint8_t key[32];
    test_write_file(test_dir, "good.key",
                    "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n", path,
                    sizeof path);
    assert_int_equal(transport_key_load(path, key, err, sizeof err), 0);
    assert_int_equal(key[0], 0);
    assert_int_equal(key[31], 0x1f);
    test_write_file(test_dir, "short.key", "0001\n", path, sizeof path);
    assert_int_equal(transport_key_load(path, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "short.key: a cluster key is 64 hexadecimal digits"));
    test_write_file(test_dir, "bad.key",
                    "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", path,
                    sizeof path);
    assert_int_equal(transport_key_load(path, key, err, sizeof err), -1);
    snprintf(path, sizeof path, "%s/absent.key", test_dir);
    assert_int_equal(transport_key_load(path, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "absent.key: cannot read the cluster key"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyed_peers_exchange_messages),
        cmocka_unit_test(wrong_key_insecure_or_other_cluster_is_refused),
        cmocka_unit_test(garbage_frames_are_dropped),
        cmocka_unit_test(sending_to_a_dead_peer_never_blocks),
        cmocka_unit_test(key_files),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
