/* Agent-to-agent transport over real nng TCP sockets on loopback: delivery,
 * refusal of frames under another key, CA or mode, never blocking on a
 * dead peer nor dialing it for long, the largest frame, and the bounds on
 * connections that never authenticate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flood.h"
#include "frame_fixture.h"
#include "net/transport.h"
#include "test_helpers.h"

#define NOW_S ((uint64_t)time(NULL))

static struct fixture_ca ca, other_ca;
static struct keyring ring, other_ring;

static uint16_t port_base(void) { return (uint16_t)test_port_base(); }

/* Frame contexts outlive their transports; freed at the end. */
static struct frame_ctx *ctxs[32];
static size_t n_ctxs;

/* A transport on 127.0.0.1:port with a frame context of its own: keyed by
 * ring and certified by `by` (trusting `ca`), or insecure when ring is
 * NULL. */
static struct transport *open_at(uint16_t port, const struct keyring *r,
                                 const struct fixture_ca *by) {
    char adv[64], err[256], name[16];
    snprintf(adv, sizeof adv, "127.0.0.1:%u", port);
    snprintf(name, sizeof name, "h%u", port);
    struct frame_ctx *c;
    if (r) {
        struct fixture_host h;
        fixture_host(&h, name, adv, by, true, NOW_S - 60, NOW_S + 3600);
        c = fixture_ctx(&h, 1, r, &ca);
    } else {
        c = fixture_insecure_ctx(name, adv, 1);
    }
    assert_true(n_ctxs < sizeof ctxs / sizeof ctxs[0]);
    ctxs[n_ctxs++] = c;
    struct transport *t = transport_open("127.0.0.1", port, c, err, sizeof err);
    if (!t)
        fail_msg("transport_open: %s", err);
    return t;
}

static int teardown(void **state) {
    while (n_ctxs)
        frame_ctx_free(ctxs[--n_ctxs]);
    return 0;
}

static int setup(void **state) {
    fixture_ca(&ca);
    fixture_ca(&other_ca);
    fixture_ring(&ring, 1);
    fixture_ring(&other_ring, 9);
    return 0;
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
    struct transport *a = open_at(pa, &ring, &ca), *b = open_at(pb, &ring, &ca);
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
        snprintf(from, sizeof from, "h%u", pa);
        assert_string_equal(m.sender, from);
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

static void wrong_key_other_ca_or_insecure_is_refused(void **state) {
    uint16_t p = port_base() + 2;
    struct transport *b = open_at(p, &ring, &ca);
    struct transport *wrong = open_at(p + 1, &other_ring, &ca);
    expect_refused(wrong, b, p);
    transport_close(wrong);
    transport_close(b);

    b = open_at(p, &ring, &ca);
    struct transport *stranger = open_at(p + 1, &ring, &other_ca);
    expect_refused(stranger, b, p);
    transport_close(stranger);
    transport_close(b);

    b = open_at(p, &ring, &ca);
    struct transport *insecure = open_at(p + 1, NULL, NULL);
    expect_refused(insecure, b, p);
    transport_close(insecure);
    transport_close(b);
}

static void garbage_frames_are_dropped(void **state) {
    uint16_t p = port_base() + 4;
    struct transport *b = open_at(p, NULL, NULL);
    nng_socket raw;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%u", p);
    assert_int_equal(nng_push0_open(&raw), 0);
    assert_int_equal(nng_dial(raw, url, NULL, 0), 0);
    uint8_t frame[40] = {0x81}; /* insecure, then a header that does not parse */
    assert_int_equal(nng_send(raw, frame, sizeof frame, 0), 0);
    frame[0] = 0x07; /* an unknown version */
    assert_int_equal(nng_send(raw, frame, 3, 0), 0);
    struct frame_msg m;
    for (int waited = 0; waited < 5000 && transport_stats(b).dropped_malformed < 2; waited += 20) {
        assert_int_equal(transport_recv(b, &m), 0);
        usleep(20000);
    }
    assert_int_equal(transport_stats(b).dropped_malformed, 2);
    nng_close(raw);
    transport_close(b);
}

/* The largest payload travels; one byte more is refused by the sender. And
 * the largest payload, sealed with the longest cluster name, host name and
 * addresses (and so the largest certificate), fits TRANSPORT_FRAME_MAX. */
static void the_largest_frame_travels_and_no_larger_one_is_sent(void **state) {
    uint16_t p = port_base() + 8;
    struct transport *a = open_at(p, &ring, &ca), *b = open_at(p + 1, &ring, &ca);
    char to[64];
    snprintf(to, sizeof to, "127.0.0.1:%u", p + 1);
    static uint8_t big[TRANSPORT_PAYLOAD_MAX + 1];
    memset(big, 0xab, sizeof big);
    assert_int_equal(transport_send(a, to, CHANNEL_GOSSIP, big, TRANSPORT_PAYLOAD_MAX), 0);
    assert_int_equal(transport_send(a, to, CHANNEL_GOSSIP, big, TRANSPORT_PAYLOAD_MAX + 1), -1);
    assert_int_equal(transport_stats(a).dropped_send, 1);
    struct frame_msg m;
    assert_int_equal(recv_wait(b, &m, 5000), 1);
    assert_int_equal(m.len, TRANSPORT_PAYLOAD_MAX);
    assert_memory_equal(m.payload, big, m.len);
    free(m.payload);
    transport_close(a);
    transport_close(b);

    char cluster[FRAME_CLUSTER_MAX], name[FRAME_NAME_MAX], addr[FRAME_ADDR_MAX];
    memset(cluster, 'c', sizeof cluster - 1);
    cluster[sizeof cluster - 1] = '\0';
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    memset(addr, 'a', sizeof addr - 1);
    memcpy(addr + sizeof addr - 7, ":65535", 7);
    struct fixture_host h;
    fixture_host(&h, name, addr, &ca, true, NOW_S - 60, NOW_S + 3600);
    struct frame_config fc = {.cluster = cluster, .name = name, .addrs = {addr}, .n_addrs = 1,
                              .epoch = UINT64_MAX, .senders_max = 1};
    struct frame_ctx *c = frame_ctx_new(&fc);
    assert_non_null(c);
    frame_ctx_set_keyring(c, &ring);
    frame_ctx_set_identity(c, ca.pk, h.sk, h.cert, h.cert_len);
    size_t size = frame_sealed_size(c, addr, TRANSPORT_PAYLOAD_MAX);
    assert_true(size > TRANSPORT_PAYLOAD_MAX && size <= TRANSPORT_FRAME_MAX);
    frame_ctx_free(c);
}

/* Unauthenticated connections from one address: past the per-address
 * limit the oldest are cut, the rest when their grace runs out, whether
 * they did the SP handshake ("slow") or not ("idle", which nng does not
 * report); a frame announced above TRANSPORT_FRAME_MAX closes its
 * connection at once. Peers keep talking meanwhile. */
static void unauthenticated_connections_are_bounded(void **state) {
    uint16_t p = port_base() + 10;
    struct transport *a = open_at(p, &ring, &ca), *b = open_at(p + 1, &ring, &ca);
    char to[64];
    snprintf(to, sizeof to, "127.0.0.1:%u", p + 1);
    struct flood *slow = flood_open("127.0.0.3", "127.0.0.1", p + 1, 0, 40, TRANSPORT_FRAME_MAX);
    struct flood *idle = flood_open("127.0.0.4", "127.0.0.1", p + 1, 50, 0, 0);
    struct flood *huge = flood_open("127.0.0.5", "127.0.0.1", p + 1, 0, 1,
                                    TRANSPORT_FRAME_MAX + 1);
    assert_non_null(slow);
    assert_non_null(idle);
    assert_non_null(huge);
    struct frame_msg m;
    int got = 0;
    for (int waited = 0; waited < 2000; waited += 50) {
        flood_trickle(slow);
        flood_trickle(idle);
        flood_trickle(huge);
        transport_run(b);
        assert_int_equal(transport_send(a, to, 1, "peer", 4), 0);
        while (transport_recv(b, &m)) {
            got++;
            free(m.payload);
        }
        usleep(50000);
    }
    struct transport_stats st = transport_stats(b);
    assert_int_equal(flood_counts(slow).slow_open, 32);
    assert_int_equal(flood_counts(idle).idle_open, 32);
    assert_int_equal(st.conns.cut[ADMISSION_PER_ADDRESS], 8 + 18);
    assert_int_equal(flood_counts(huge).slow_open, 0);
    assert_true(got >= 30);
    /* The 64 left never authenticate: cut 5 s after they connected. */
    for (int waited = 0; waited < 8000; waited += 50) {
        flood_trickle(slow);
        flood_trickle(idle);
        transport_run(b);
        if (!flood_counts(slow).slow_open && !flood_counts(idle).idle_open)
            break;
        usleep(50000);
    }
    assert_int_equal(flood_counts(slow).slow_open, 0);
    assert_int_equal(flood_counts(idle).idle_open, 0);
    st = transport_stats(b);
    assert_int_equal(st.conns.cut[ADMISSION_UNAUTH_IDLE], 64);
    assert_int_equal(st.received, (uint64_t)got);
    assert_int_equal(st.conns.open, 1); /* a's connection */
    flood_close(slow);
    flood_close(idle);
    flood_close(huge);
    transport_close(a);
    transport_close(b);
}

static void sending_to_a_dead_peer_never_blocks(void **state) {
    uint16_t p = port_base() + 6;
    struct transport *a = open_at(p, &ring, &ca);
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

/* A plain TCP listener on 127.0.0.1:port (no nng behind it). */
static int listen_raw(uint16_t port, int flags) {
    int l = socket(AF_INET, SOCK_STREAM | flags, 0);
    assert_true(l >= 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 4), 0);
    return l;
}

/* A host that listens on one address dials from it: its peers count its
 * connections against the address they know it by, so agents on addresses
 * of their own (one loopback, several addresses of a host) are not cut as
 * one address's crowd. */
static void connections_leave_from_the_address_listened_on(void **state) {
    uint16_t port = (uint16_t)(port_base() + 12);
    int l = listen_raw(port, 0);
    char err[256];
    struct frame_ctx *c = fixture_insecure_ctx("h2", "127.0.0.2:1", 1);
    ctxs[n_ctxs++] = c;
    struct transport *t = transport_open("127.0.0.2", (uint16_t)(port + 1), c, err, sizeof err);
    if (!t)
        fail_msg("transport_open: %s", err);
    char to[32];
    snprintf(to, sizeof to, "127.0.0.1:%u", port);
    assert_int_equal(transport_send(t, to, CHANNEL_GOSSIP, "x", 1), 0);
    struct pollfd p = {.fd = l, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int s = accept(l, (struct sockaddr *)&peer, &len);
    assert_true(s >= 0);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
    assert_string_equal(text, "127.0.0.2");
    close(s);
    close(l);
    transport_close(t);
}

/* Accepts and closes every connection waiting on l; returns how many. */
static int accept_all(int l) {
    int n = 0, s;
    while ((s = accept(l, NULL, NULL)) >= 0) {
        close(s);
        n++;
    }
    return n;
}

/* For total_ms, runs a's own work when due (as the agent's loop does) and
 * counts the connections its dialers make to listener l, before and after
 * split_ms. */
static void count_dials(struct transport *a, int l, int split_ms, int total_ms, int *early,
                        int *late) {
    *early = *late = 0;
    for (int ms = 0; ms < total_ms; ms += 50) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 >= transport_deadline(a))
            transport_run(a);
        *(ms < split_ms ? early : late) += accept_all(l);
        poll(NULL, 0, 50);
    }
}

/* A peer that never completes a connection (here: one that accepts and
 * hangs up at once, as a port without an agent behind it refuses) is
 * given up two seconds after the last message to it, instead of being
 * dialed several times a second for the minute a live peer is kept;
 * the next message dials it again. A live peer idle as long keeps its
 * connection. */
static void an_unreachable_peer_is_given_up(void **state) {
    uint16_t port = (uint16_t)(port_base() + 14);
    int l = listen_raw(port, SOCK_NONBLOCK);
    struct transport *a = open_at((uint16_t)(port + 1), &ring, &ca);
    struct transport *b = open_at((uint16_t)(port + 2), &ring, &ca);
    char dead[32], live[32];
    snprintf(dead, sizeof dead, "127.0.0.1:%u", port);
    snprintf(live, sizeof live, "127.0.0.1:%u", port + 2);
    assert_int_equal(transport_send(a, dead, CHANNEL_GOSSIP, "x", 1), 0);
    assert_int_equal(transport_send(a, live, CHANNEL_GOSSIP, "x", 1), 0);
    struct frame_msg m;
    assert_int_equal(recv_wait(b, &m, 5000), 1);
    free(m.payload);
    int early, late;
    count_dials(a, l, 2500, 4000, &early, &late);
    print_message("connections from the dialer: %d in the first 2.5 s, %d in the next 1.5 s\n",
                  early, late);
    assert_true(early > 0);
    assert_int_equal(late, 0);
    assert_int_equal(transport_stats(a).peers_down, 1);
    /* The next message dials again. */
    assert_int_equal(transport_send(a, dead, CHANNEL_GOSSIP, "x", 1), 0);
    struct pollfd p = {.fd = l, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_true(accept_all(l) > 0);
    /* The live peer kept its connection all along. */
    assert_int_equal(transport_send(a, live, CHANNEL_GOSSIP, "y", 1), 0);
    assert_int_equal(recv_wait(b, &m, 5000), 1);
    free(m.payload);
    assert_int_equal(transport_stats(a).peers_down, 1);
    close(l);
    transport_close(a);
    transport_close(b);
}

/* A peer whose connection drops (its agent stopped or was killed) is given
 * up at once if nothing was sent to it for PEER_DOWN_IDLE_MS: most members
 * of a cluster had not sent to a given host in the last seconds when it
 * died, and each would otherwise redial it several times a second for a
 * minute, all at the same time. */
static void a_peer_that_goes_down_is_not_redialed(void **state) {
    uint16_t port = (uint16_t)(port_base() + 17);
    struct transport *a = open_at((uint16_t)(port + 1), &ring, &ca);
    struct transport *b = open_at(port, &ring, &ca);
    char to[32];
    snprintf(to, sizeof to, "127.0.0.1:%u", port);
    assert_int_equal(transport_send(a, to, CHANNEL_GOSSIP, "x", 1), 0);
    struct frame_msg m;
    assert_int_equal(recv_wait(b, &m, 5000), 1);
    free(m.payload);
    for (int ms = 0; ms < 2500; ms += 50) {
        transport_run(a);
        poll(NULL, 0, 50);
    }
    assert_int_equal(transport_stats(a).peers_down, 0); /* connected: kept */
    transport_close(b);
    int l = listen_raw(port, SOCK_NONBLOCK);
    int early, late;
    count_dials(a, l, 500, 3000, &early, &late);
    print_message("redials after the peer went down: %d in the first 0.5 s, %d in the next 2.5 s\n",
                  early, late);
    assert_int_equal(late, 0);
    assert_int_equal(transport_stats(a).peers_down, 1);
    close(l);
    transport_close(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyed_peers_exchange_messages),
        cmocka_unit_test(wrong_key_other_ca_or_insecure_is_refused),
        cmocka_unit_test(garbage_frames_are_dropped),
        cmocka_unit_test(sending_to_a_dead_peer_never_blocks),
        cmocka_unit_test(the_largest_frame_travels_and_no_larger_one_is_sent),
        cmocka_unit_test(unauthenticated_connections_are_bounded),
        cmocka_unit_test(connections_leave_from_the_address_listened_on),
        cmocka_unit_test(an_unreachable_peer_is_given_up),
        cmocka_unit_test(a_peer_that_goes_down_is_not_redialed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
