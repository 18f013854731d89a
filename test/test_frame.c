/* The frame layer on its own (src/net/frame.c, cert.c, replay.c): no
 * sockets. Seal and open, every tampered byte, wrong and unknown keys, a
 * recipient elsewhere, replays, an old epoch, the window's edges against a
 * model, certificates of another CA, expired, or naming another host than
 * the frame claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/frame.h"
#include "frame_fixture.h"
#include "net/replay.h"
#include "net/session.h"
#include "net/signed_record.h"

#define NOW 2000000000ull /* the wall clock of the tests, seconds */
#define DAY 86400ull

static struct fixture_ca ca, other_ca;
static struct keyring ring, other_ring;

static struct fixture_host a, b, c, stranger, expired, plain;

static int setup(void **state) {
    if (frame_init() != 0)
        return -1;
    fixture_ca(&ca);
    fixture_ca(&other_ca);
    fixture_ring(&ring, 0x11);
    fixture_ring(&other_ring, 0x22);
    uint64_t from = NOW - DAY, until = NOW + DAY;
    fixture_host(&a, "a", "10.0.0.1:7946", &ca, true, from, until);
    fixture_host(&b, "b", "10.0.0.2:7946", &ca, true, from, until);
    fixture_host(&c, "c", "10.0.0.3:7946", &ca, true, from, until);
    fixture_host(&stranger, "a", "10.0.0.9:7946", &other_ca, true, from, until);
    fixture_host(&expired, "a", "10.0.0.1:7946", &ca, true, NOW - 3 * DAY, NOW - DAY);
    fixture_host(&plain, "p", "10.0.0.5:7946", &ca, false, from, until);
    return 0;
}

/* Seals payload from `from` to `to` into buf; its length. */
static size_t seal(struct frame_ctx *from, const char *to, uint32_t channel, const char *payload,
                   uint8_t *buf) {
    size_t n = frame_sealed_size(from, to, strlen(payload));
    assert_true(n > 0 && n <= 4096);
    assert_int_equal(frame_seal(from, buf, to, channel, payload, strlen(payload)), n);
    return n;
}

/* Opens a copy of frame (opening overwrites it). */
static enum frame_result open_copy(struct frame_ctx *at, const uint8_t *frame, size_t len,
                                   enum frame_path path, uint64_t now, struct frame_msg *m) {
    uint8_t copy[4096];
    memcpy(copy, frame, len);
    enum frame_result r = frame_open(at, copy, len, path, now, m);
    if (r == FRAME_OK) {
        free(m->payload);
        m->payload = NULL;
    }
    return r;
}

static void seal_and_open(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 5, &ring, &ca), *cb = fixture_ctx(&b, 9, &ring, &ca);
    uint8_t buf[4096];
    for (uint64_t i = 1; i <= 3; i++) {
        size_t n = seal(ca_, b.addr, CHANNEL_GOSSIP, "hello", buf);
        struct frame_msg m;
        assert_int_equal(frame_open(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
        assert_string_equal(m.sender, "a");
        assert_string_equal(m.from, a.addr);
        assert_true(m.candidate);
        assert_int_equal(m.channel, CHANNEL_GOSSIP);
        assert_int_equal(m.epoch, 5);
        assert_int_equal(m.seq, i);
        assert_int_equal(m.len, 5);
        assert_memory_equal(m.payload, "hello", 5);
        free(m.payload);
    }
    /* An empty payload, and a beacon on the discovery path. */
    size_t n = seal(ca_, b.addr, CHANNEL_ELECTION, "", buf);
    struct frame_msg m;
    assert_int_equal(frame_open(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_int_equal(m.len, 0);
    free(m.payload);
    n = seal(ca_, FRAME_TO_ALL, CHANNEL_DISCOVERY, "", buf);
    assert_int_equal(frame_open(cb, buf, n, FRAME_PATH_DISCOVERY, NOW, &m), FRAME_OK);
    assert_string_equal(m.from, a.addr);
    free(m.payload);
    /* The payload is not in the clear. */
    n = seal(ca_, b.addr, CHANNEL_COMMAND, "secret-command-body", buf);
    assert_null(memmem(buf, n, "secret-command-body", 19));
    uint64_t counts[FRAME_RESULTS];
    frame_ctx_counts(cb, counts);
    assert_int_equal(counts[FRAME_OK], 5);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
}

static void every_tampered_byte_and_truncation_is_refused(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca);
    uint8_t buf[4096];
    size_t n = seal(ca_, b.addr, CHANNEL_GOSSIP, "payload", buf);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            struct frame_ctx *cb = fixture_ctx(&b, 1, &ring, &ca);
            uint8_t t[4096];
            memcpy(t, buf, n);
            t[i] ^= (uint8_t)(1u << bit);
            struct frame_msg m;
            enum frame_result r = frame_open(cb, t, n, FRAME_PATH_UNICAST, NOW, &m);
            if (r == FRAME_OK)
                fail_msg("byte %zu bit %d flipped, yet accepted", i, bit);
            assert_true(r == FRAME_MALFORMED || r == FRAME_MODE || r == FRAME_UNKNOWN_KEY ||
                        r == FRAME_BAD_MAC);
            frame_ctx_free(cb);
        }
    }
    struct frame_ctx *cb = fixture_ctx(&b, 1, &ring, &ca);
    for (size_t len = 0; len < n; len++) {
        struct frame_msg m;
        assert_int_not_equal(open_copy(cb, buf, len, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    }
    struct frame_msg m;
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    frame_ctx_free(cb);
    frame_ctx_free(ca_);
}

static void wrong_or_unknown_keys_are_refused(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &other_ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    uint8_t buf[4096];
    size_t n = seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf);
    struct frame_msg m;
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_UNKNOWN_KEY);
    /* Another key under the id of ours: the box does not open. */
    struct frame_fields f = {.channel = CHANNEL_GOSSIP, .epoch = 1, .seq = 1, .cluster = "c1",
                             .to = b.addr, .from = a.addr, .name = "a", .cert = a.cert,
                             .cert_len = a.cert_len, .payload = "x", .len = 1};
    n = frame_encode(&f, other_ring.key[0], ring.id[0], a.sk, buf);
    assert_true(n > 0);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_MAC);
    /* After the receiver installs the other key, the first frame opens. */
    struct keyring both = ring;
    char err[128];
    assert_int_equal(keyring_install(&both, other_ring.key[0], err, sizeof err), 0);
    frame_ctx_set_keyring(cb, &both);
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
}

static void frames_for_another_host_or_cluster_are_refused(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    uint8_t buf[4096];
    struct frame_msg m;
    size_t n = seal(ca_, c.addr, CHANNEL_ELECTION, "vote", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_MISADDRESSED);
    assert_string_equal(m.sender, "a");
    /* "*" is for beacons on the discovery path only, and beacons only. */
    n = seal(ca_, FRAME_TO_ALL, CHANNEL_DISCOVERY, "", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_MISADDRESSED);
    n = seal(ca_, FRAME_TO_ALL, CHANNEL_GOSSIP, "", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_MISADDRESSED);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_DISCOVERY, NOW, &m), FRAME_MISADDRESSED);
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_DISCOVERY, NOW, &m), FRAME_MISADDRESSED);
    n = seal(ca_, b.addr, CHANNEL_DISCOVERY, "", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_MISADDRESSED);
    /* A second address of b (the resolved form of its advertised name). */
    struct frame_config fc = {.cluster = "c1", .name = "b",
                              .addrs = {"host-b.example:7946", b.addr}, .n_addrs = 2,
                              .epoch = 1, .senders_max = 8};
    struct frame_ctx *cb2 = frame_ctx_new(&fc);
    frame_ctx_set_keyring(cb2, &ring);
    frame_ctx_set_identity(cb2, ca.pk, b.sk, b.cert, b.cert_len);
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "", buf);
    assert_int_equal(open_copy(cb2, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    n = seal(ca_, "host-b.example:7946", CHANNEL_GOSSIP, "", buf);
    assert_int_equal(open_copy(cb2, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    frame_ctx_free(cb2);
    /* Another cluster name under the same key and CA. */
    struct frame_fields f = {.channel = CHANNEL_GOSSIP, .epoch = 1, .seq = 99, .cluster = "c2",
                             .to = b.addr, .from = a.addr, .name = "a", .cert = a.cert,
                             .cert_len = a.cert_len};
    n = frame_encode(&f, ring.key[0], ring.id[0], a.sk, buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_WRONG_CLUSTER);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
}

static void replays_and_old_epochs_are_refused(void **state) {
    struct frame_ctx *a1 = fixture_ctx(&a, 1, &ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    uint8_t f1[4096], f2[4096], buf[4096];
    struct frame_msg m;
    size_t n1 = seal(a1, b.addr, CHANNEL_GOSSIP, "one", f1);
    size_t n2 = seal(a1, b.addr, CHANNEL_GOSSIP, "two", f2);
    assert_int_equal(open_copy(cb, f2, n2, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_int_equal(open_copy(cb, f2, n2, FRAME_PATH_UNICAST, NOW, &m), FRAME_REPLAY);
    assert_true(m.report);
    assert_int_equal(open_copy(cb, f2, n2, FRAME_PATH_UNICAST, NOW, &m), FRAME_REPLAY);
    assert_false(m.report); /* counted, not logged again */
    /* Reordered within the window: accepted once. */
    assert_int_equal(open_copy(cb, f1, n1, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_int_equal(open_copy(cb, f1, n1, FRAME_PATH_UNICAST, NOW, &m), FRAME_REPLAY);
    /* a restarts: its new epoch is accepted, then nothing of the old one. */
    uint8_t f3[4096];
    size_t n3 = seal(a1, b.addr, CHANNEL_GOSSIP, "three", f3);
    struct frame_ctx *a2 = fixture_ctx(&a, 2, &ring, &ca);
    size_t n = seal(a2, b.addr, CHANNEL_GOSSIP, "after restart", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_int_equal(m.seq, 1);
    assert_int_equal(open_copy(cb, f3, n3, FRAME_PATH_UNICAST, NOW, &m), FRAME_OLD_EPOCH);
    uint64_t counts[FRAME_RESULTS];
    frame_ctx_counts(cb, counts);
    assert_int_equal(counts[FRAME_REPLAY], 3);
    assert_int_equal(counts[FRAME_OLD_EPOCH], 1);
    /* Our own frame sent back to us is dropped, not counted as a refusal. */
    n = seal(cb, a.addr, CHANNEL_GOSSIP, "mine", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_SELF);
    frame_ctx_free(a1);
    frame_ctx_free(a2);
    frame_ctx_free(cb);
}

static void certificates_must_be_this_cas_valid_and_the_senders(void **state) {
    struct frame_ctx *cb = fixture_ctx(&b, 1, &ring, &ca);
    struct frame_ctx *from_other = fixture_ctx(&stranger, 1, &ring, &other_ca);
    struct frame_ctx *from_expired = fixture_ctx(&expired, 1, &ring, &ca);
    uint8_t buf[4096];
    struct frame_msg m;
    size_t n = seal(from_other, b.addr, CHANNEL_GOSSIP, "x", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_CERT);
    n = seal(from_expired, b.addr, CHANNEL_GOSSIP, "x", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_CERT_EXPIRED);
    /* ... and before it is valid. */
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca);
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW - 2 * DAY, &m),
                     FRAME_CERT_EXPIRED);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    /* a's certificate, a's key, but claiming to be c. */
    struct frame_fields f = {.channel = CHANNEL_ELECTION, .epoch = 1, .seq = 50, .cluster = "c1",
                             .to = b.addr, .from = c.addr, .name = "c", .cert = a.cert,
                             .cert_len = a.cert_len, .payload = "vote", .len = 4};
    n = frame_encode(&f, ring.key[0], ring.id[0], a.sk, buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_NAME_MISMATCH);
    /* c's certificate with a's key: the signature fails. */
    f.cert = c.cert;
    f.cert_len = c.cert_len;
    n = frame_encode(&f, ring.key[0], ring.id[0], a.sk, buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_SIGNATURE);
    /* A garbled certificate. */
    uint8_t junk[40];
    memset(junk, 0x5a, sizeof junk);
    f.cert = junk;
    f.cert_len = sizeof junk;
    n = frame_encode(&f, ring.key[0], ring.id[0], a.sk, buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_CERT);
    /* What a certificate says of candidacy reaches the receiver. */
    struct frame_ctx *cp = fixture_ctx(&plain, 1, &ring, &ca);
    n = seal(cp, b.addr, CHANNEL_ELECTION, "x", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_string_equal(m.sender, "p");
    assert_false(m.candidate);
    frame_ctx_free(cp);
    frame_ctx_free(ca_);
    frame_ctx_free(from_other);
    frame_ctx_free(from_expired);
    frame_ctx_free(cb);
}

/* The pair's key of frames from `from` to the holder of to_pk, as `from`
 * derives it (src/net/session.h). */
static void pair_key(const struct fixture_host *from, const struct fixture_host *to,
                     uint8_t key[SESSION_KEY_BYTES]) {
    struct session_keys *s = session_new();
    assert_non_null(s);
    assert_int_equal(session_set_identity(s, from->sk), 0);
    session_learn(s, to->addr, to->pk);
    assert_true(session_tx_key(s, to->addr, key));
    session_free(s);
}

/* b answers a, so that a learns the key of b's address. */
static void hear_from(struct frame_ctx *at, struct frame_ctx *peer, const char *at_addr) {
    uint8_t buf[4096];
    size_t n = seal(peer, at_addr, CHANNEL_GOSSIP, "hi", buf);
    struct frame_msg m;
    assert_int_equal(frame_open(at, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    free(m.payload);
}

static void hosts_that_heard_each_other_use_the_pairs_mac(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    uint8_t buf[4096], mac_frame[4096];
    size_t signed_len = seal(ca_, b.addr, CHANNEL_GOSSIP, "hello", buf);
    struct frame_msg m;
    assert_int_equal(open_copy(cb, buf, signed_len, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    hear_from(ca_, cb, a.addr);
    /* A MAC of 32 bytes where the signature took 64. */
    size_t n = seal(ca_, b.addr, CHANNEL_GOSSIP, "hello", mac_frame);
    assert_int_equal(n, signed_len - (CERT_SIG_BYTES - SESSION_KEY_BYTES));
    memcpy(buf, mac_frame, n);
    assert_int_equal(frame_open(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_string_equal(m.sender, "a");
    assert_string_equal(m.from, a.addr);
    assert_true(m.candidate);
    assert_memory_equal(m.payload, "hello", 5);
    free(m.payload);
    /* The replay window holds for them as for signed ones. */
    assert_int_equal(open_copy(cb, mac_frame, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_REPLAY);
    /* A certificate out of its validity is refused as before. */
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "late", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW + 2 * DAY, &m),
                     FRAME_CERT_EXPIRED);
    /* Frames to hosts not heard from are still signed. */
    n = seal(ca_, c.addr, CHANNEL_GOSSIP, "hello", buf);
    assert_int_equal(n, signed_len);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
}

static void only_the_two_hosts_of_a_pair_can_make_its_mac(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    struct frame_ctx *cc = fixture_ctx(&c, 1, &ring, &ca);
    hear_from(ca_, cb, a.addr);
    uint8_t buf[4096];
    struct frame_msg m;
    /* c, certified, poses as a with the key it shares with b. */
    uint8_t c_to_b[SESSION_KEY_BYTES], a_to_b[SESSION_KEY_BYTES], b_to_a[SESSION_KEY_BYTES];
    pair_key(&c, &b, c_to_b);
    pair_key(&a, &b, a_to_b);
    pair_key(&b, &a, b_to_a);
    assert_memory_not_equal(a_to_b, b_to_a, SESSION_KEY_BYTES);
    struct frame_fields f = {.channel = CHANNEL_ELECTION, .epoch = 1, .seq = 40, .cluster = "c1",
                             .to = b.addr, .from = a.addr, .name = "a", .cert = a.cert,
                             .cert_len = a.cert_len, .payload = "vote", .len = 4,
                             .mac_key = c_to_b};
    size_t n = frame_encode(&f, ring.key[0], ring.id[0], NULL, buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_PAIR_MAC);
    /* ... or with its own certificate under the name of a. */
    f.cert = c.cert;
    f.cert_len = c.cert_len;
    n = frame_encode(&f, ring.key[0], ring.id[0], NULL, buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_NAME_MISMATCH);
    /* A frame from b under the key of a's frames to b (the other
     * direction): a frame of a's reflected, with b's name put in. */
    f = (struct frame_fields){.channel = CHANNEL_ELECTION, .epoch = 1, .seq = 41,
                              .cluster = "c1", .to = a.addr, .from = b.addr, .name = "b",
                              .cert = b.cert, .cert_len = b.cert_len, .payload = "vote",
                              .len = 4, .mac_key = a_to_b};
    n = frame_encode(&f, ring.key[0], ring.id[0], NULL, buf);
    assert_int_equal(open_copy(ca_, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_PAIR_MAC);
    f.mac_key = b_to_a;
    n = frame_encode(&f, ring.key[0], ring.id[0], NULL, buf);
    assert_int_equal(open_copy(ca_, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    /* a's frame to b delivered to c: c cannot check it, whatever it says. */
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf);
    assert_int_equal(open_copy(cc, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_PAIR_MAC);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    /* Every flipped bit of the MAC and of what it covers is refused, the
     * box resealed around it under the cluster key (outer: version, key id,
     * nonce). */
    f = (struct frame_fields){.channel = CHANNEL_GOSSIP, .epoch = 1, .seq = 100, .cluster = "c1",
                              .to = b.addr, .from = a.addr, .name = "a", .cert = a.cert,
                              .cert_len = a.cert_len, .payload = "pay", .len = 3,
                              .mac_key = a_to_b};
    enum { OUTER = 1 + 4 + crypto_secretbox_NONCEBYTES };
    n = frame_encode(&f, ring.key[0], ring.id[0], NULL, buf);
    uint8_t inner[4096];
    size_t inner_len = n - OUTER - crypto_secretbox_MACBYTES;
    assert_int_equal(crypto_secretbox_open_easy(inner, buf + OUTER, n - OUTER, buf + 5,
                                                ring.key[0]), 0);
    for (size_t i = 0; i < inner_len; i++) {
        uint8_t t[4096];
        memcpy(t, buf, OUTER);
        inner[i] ^= 0x04;
        crypto_secretbox_easy(t + OUTER, inner, inner_len, t + 5, ring.key[0]);
        inner[i] ^= 0x04;
        struct frame_ctx *fresh = fixture_ctx(&b, 1, &ring, &ca);
        if (open_copy(fresh, t, n, FRAME_PATH_UNICAST, NOW, &m) == FRAME_OK)
            fail_msg("inner byte %zu of %zu flipped, yet accepted", i, inner_len);
        frame_ctx_free(fresh);
    }
    struct frame_ctx *fresh = fixture_ctx(&b, 1, &ring, &ca);
    assert_int_equal(open_copy(fresh, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    frame_ctx_free(fresh);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
    frame_ctx_free(cc);
}

static void an_address_claimed_by_two_keys_gets_signed_frames(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    uint8_t buf[4096];
    size_t signed_len = seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf);
    hear_from(ca_, cb, a.addr);
    assert_int_equal(seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf),
                     signed_len - (CERT_SIG_BYTES - SESSION_KEY_BYTES));
    /* c says it listens at b's address. */
    struct frame_fields f = {.channel = CHANNEL_GOSSIP, .epoch = 1, .seq = 7, .cluster = "c1",
                             .to = a.addr, .from = b.addr, .name = "c", .cert = c.cert,
                             .cert_len = c.cert_len, .payload = "x", .len = 1};
    size_t n = frame_encode(&f, ring.key[0], ring.id[0], c.sk, buf);
    struct frame_msg m;
    assert_int_equal(open_copy(ca_, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    /* No key is known to be b's address's any more: a signs, and b checks. */
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf);
    assert_int_equal(n, signed_len);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    hear_from(ca_, cb, a.addr);
    assert_int_equal(seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf), signed_len);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
}

/* The key of frames between `me` and `peer` (to the peer, or from it) as
 * session.h specifies it, computed here from libsodium alone: BLAKE2b-256
 * keyed with the X25519 secret, over the domain, the sender's Ed25519 key
 * and the recipient's. */
static void spec_key(const struct fixture_host *me, const struct fixture_host *peer, bool to_peer,
                     uint8_t key[SESSION_KEY_BYTES]) {
    const struct fixture_host *from = to_peer ? me : peer, *to = to_peer ? peer : me;
    uint8_t x_sk[32], x_pk[32], shared[32];
    assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(x_sk, me->sk), 0);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(x_pk, peer->pk), 0);
    assert_int_equal(crypto_scalarmult(shared, x_sk, x_pk), 0);
    static const char domain[] = "nodectl frame key v1";
    crypto_generichash_state st;
    crypto_generichash_init(&st, shared, sizeof shared, SESSION_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)domain, sizeof domain);
    crypto_generichash_update(&st, from->pk, CERT_PK_BYTES);
    crypto_generichash_update(&st, to->pk, CERT_PK_BYTES);
    crypto_generichash_final(&st, key, SESSION_KEY_BYTES);
}

static void a_peers_two_keys_come_from_one_agreement(void **state) {
    uint8_t want_rx[SESSION_KEY_BYTES], want_tx[SESSION_KEY_BYTES], key[SESSION_KEY_BYTES];
    spec_key(&a, &b, false, want_rx);
    spec_key(&a, &b, true, want_tx);
    /* Each order of a peer's first frame and of its address learned. */
    for (int learn_first = 0; learn_first < 2; learn_first++) {
        struct session_keys *s = session_new();
        assert_non_null(s);
        assert_false(session_rx_key(s, b.pk, key)); /* no identity yet */
        assert_int_equal(session_set_identity(s, a.sk), 0);
        if (learn_first)
            session_learn(s, b.addr, b.pk);
        assert_true(session_rx_key(s, b.pk, key));
        assert_memory_equal(key, want_rx, SESSION_KEY_BYTES);
        session_learn(s, b.addr, b.pk);
        assert_true(session_tx_key(s, b.addr, key));
        assert_memory_equal(key, want_tx, SESSION_KEY_BYTES);
        /* c claims b's address: no key for it any more, but b's frames
         * still check under b's key, and c's under c's. */
        session_learn(s, b.addr, c.pk);
        assert_false(session_tx_key(s, b.addr, key));
        assert_true(session_rx_key(s, b.pk, key));
        assert_memory_equal(key, want_rx, SESSION_KEY_BYTES);
        uint8_t c_to_a[SESSION_KEY_BYTES], a_to_c[SESSION_KEY_BYTES];
        spec_key(&a, &c, false, c_to_a);
        spec_key(&a, &c, true, a_to_c);
        assert_true(session_rx_key(s, c.pk, key));
        assert_memory_equal(key, c_to_a, SESSION_KEY_BYTES);
        session_learn(s, c.addr, c.pk);
        assert_true(session_tx_key(s, c.addr, key));
        assert_memory_equal(key, a_to_c, SESSION_KEY_BYTES);
        /* A low-order point (the neutral element) gets no key either way. */
        uint8_t low[CERT_PK_BYTES] = {1};
        assert_false(session_rx_key(s, low, key));
        session_learn(s, "10.0.0.66:7946", low);
        assert_false(session_tx_key(s, "10.0.0.66:7946", key));
        session_free(s);
    }
}

/* c, certified, says it listens at "*": a's beacons, for every host, stay
 * signed, never under the key of one pair. */
static void a_beacon_is_never_under_a_pairs_key(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    struct frame_ctx *cc = fixture_ctx(&c, 1, &ring, &ca);
    uint8_t buf[4096];
    struct frame_msg m;
    size_t signed_len = seal(ca_, FRAME_TO_ALL, CHANNEL_DISCOVERY, "", buf);
    struct frame_fields f = {.channel = CHANNEL_GOSSIP, .epoch = 1, .seq = 1, .cluster = "c1",
                             .to = a.addr, .from = FRAME_TO_ALL, .name = "c", .cert = c.cert,
                             .cert_len = c.cert_len, .payload = "x", .len = 1};
    size_t n = frame_encode(&f, ring.key[0], ring.id[0], c.sk, buf);
    assert_int_equal(open_copy(ca_, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    n = seal(ca_, FRAME_TO_ALL, CHANNEL_DISCOVERY, "", buf);
    assert_int_equal(n, signed_len);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_DISCOVERY, NOW, &m), FRAME_OK);
    assert_int_equal(open_copy(cc, buf, n, FRAME_PATH_DISCOVERY, NOW, &m), FRAME_OK);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
    frame_ctx_free(cc);
}

/* One certificate cache serves frames and records (frame_ctx_cert_cache);
 * certificates verified under the CA before do not pass under the next. */
static void the_shared_certificate_cache_follows_the_ca(void **state) {
    struct frame_ctx *ca_ = fixture_ctx(&a, 1, &ring, &ca), *cb = fixture_ctx(&b, 1, &ring, &ca);
    uint8_t buf[4096], rec[1024];
    struct frame_msg m;
    size_t n = seal(ca_, b.addr, CHANNEL_GOSSIP, "x", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    uint64_t id = signed_record_member_id("a");
    size_t rn = signed_record_seal(a.sk, a.cert, a.cert_len, id, 1, (const uint8_t *)"r", 1, rec);
    struct signed_record sr;
    struct cert_info owner;
    assert_int_equal(signed_record_verify(frame_ctx_cert_cache(cb), ca.pk, NOW, id, 1, rec, rn,
                                          &sr, &owner), SIGNED_RECORD_OK);
    assert_string_equal(owner.name, "a");
    /* b now trusts other_ca only. */
    frame_ctx_set_identity(cb, other_ca.pk, b.sk, b.cert, b.cert_len);
    assert_int_equal(signed_record_verify(frame_ctx_cert_cache(cb), other_ca.pk, NOW, id, 1, rec,
                                          rn, &sr, &owner), SIGNED_RECORD_BAD_CERT);
    n = seal(ca_, b.addr, CHANNEL_GOSSIP, "y", buf);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_BAD_CERT);
    /* ... and back: verified again, then cached. */
    frame_ctx_set_identity(cb, ca.pk, b.sk, b.cert, b.cert_len);
    assert_int_equal(open_copy(cb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_int_equal(signed_record_verify(frame_ctx_cert_cache(cb), ca.pk, NOW, id, 1, rec, rn,
                                          &sr, &owner), SIGNED_RECORD_OK);
    frame_ctx_free(ca_);
    frame_ctx_free(cb);
}

static void insecure_and_keyed_never_mix(void **state) {
    struct frame_ctx *ia = fixture_insecure_ctx("a", a.addr, 1);
    struct frame_ctx *ib = fixture_insecure_ctx("b", b.addr, 1);
    struct frame_ctx *kb = fixture_ctx(&b, 1, &ring, &ca), *ka = fixture_ctx(&a, 1, &ring, &ca);
    uint8_t buf[4096];
    struct frame_msg m;
    size_t n = seal(ia, b.addr, CHANNEL_GOSSIP, "plain", buf);
    assert_int_equal(open_copy(kb, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_MODE);
    assert_int_equal(open_copy(ib, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_OK);
    assert_int_equal(open_copy(ib, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_REPLAY);
    n = seal(ka, b.addr, CHANNEL_GOSSIP, "sealed", buf);
    assert_int_equal(open_copy(ib, buf, n, FRAME_PATH_UNICAST, NOW, &m), FRAME_MODE);
    /* A keyed context without keys or identity seals nothing. */
    struct frame_config fc = {.cluster = "c1", .name = "a", .addrs = {a.addr}, .n_addrs = 1,
                              .epoch = 1, .senders_max = 8};
    struct frame_ctx *bare = frame_ctx_new(&fc);
    assert_int_equal(frame_seal(bare, buf, a.addr, CHANNEL_GOSSIP, "x", 1), 0);
    frame_ctx_free(bare);
    frame_ctx_free(ia);
    frame_ctx_free(ib);
    frame_ctx_free(ka);
    frame_ctx_free(kb);
}

/* The window against a model that remembers every sequence number: fresh
 * means newer epoch, or above the top, or within REPLAY_WINDOW of it and
 * never accepted. */
static void window_matches_its_model(void **state) {
    struct replay_table t;
    assert_int_equal(replay_init(&t, 4), 0);
    static uint8_t seen[1 << 20];
    uint64_t top = 0, epoch = 1;
    bool any = false;
    uint64_t rng = 12345;
    for (int i = 0; i < 200000; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t r = rng >> 33;
        uint64_t seq;
        if (i % 2000 == 1999) { /* a restart */
            epoch++;
            memset(seen, 0, sizeof seen);
            any = false;
            top = 0;
        }
        if (r % 8 < 4)
            seq = top + 1 + r % 3; /* in order */
        else if (r % 8 == 4)
            seq = top + r % 1500; /* a jump */
        else
            seq = top > 1100 ? top - r % 1100 : 1 + r % 1100; /* around the window's edge */
        assert_true(seq < sizeof seen);
        enum replay_verdict want;
        if (!any || seq > top)
            want = REPLAY_FRESH;
        else if (top - seq >= REPLAY_WINDOW)
            want = REPLAY_STALE;
        else
            want = seen[seq] ? REPLAY_SEEN : REPLAY_FRESH;
        enum replay_verdict got = replay_check(&t, "s", epoch, seq);
        if (got != want)
            fail_msg("step %d: seq %llu top %llu: got %d, want %d", i, (unsigned long long)seq,
                     (unsigned long long)top, got, want);
        if (got == REPLAY_FRESH) {
            assert_non_null(replay_commit(&t, "s", epoch, seq));
            if (seq > top || !any) {
                /* Moving up forgets what falls below the window: the model
                 * keeps it, and calls it stale instead. */
                top = seq;
                any = true;
            }
            seen[seq] = 1;
        }
        assert_int_equal(replay_check(&t, "s", epoch - 1, seq), REPLAY_OLD_EPOCH);
    }
    /* Exact edges: top - 1023 is in the window, top - 1024 is not. */
    assert_non_null(replay_commit(&t, "edge", 1, 5000));
    assert_int_equal(replay_check(&t, "edge", 1, 5000 - 1023), REPLAY_FRESH);
    assert_int_equal(replay_check(&t, "edge", 1, 5000 - 1024), REPLAY_STALE);
    assert_non_null(replay_commit(&t, "edge", 1, 5000 - 1023));
    assert_int_equal(replay_check(&t, "edge", 1, 5000 - 1023), REPLAY_SEEN);
    assert_non_null(replay_commit(&t, "edge", 1, 5001)); /* the window moves by one */
    assert_int_equal(replay_check(&t, "edge", 1, 5000 - 1023), REPLAY_STALE);
    assert_int_equal(replay_check(&t, "edge", 1, 5000 - 1022), REPLAY_FRESH);
    assert_int_equal(replay_check(&t, "edge", 1, 5000), REPLAY_SEEN);
    assert_non_null(replay_commit(&t, "edge", 1, 5000 + 1024));
    assert_int_equal(replay_check(&t, "edge", 1, 5001), REPLAY_SEEN);
    assert_int_equal(replay_check(&t, "edge", 1, 5000), REPLAY_STALE);
    replay_free(&t);
}

static void the_table_of_senders_is_bounded(void **state) {
    struct replay_table t;
    assert_int_equal(replay_init(&t, 3), 0);
    assert_non_null(replay_commit(&t, "s1", 1, 10));
    assert_non_null(replay_commit(&t, "s2", 1, 10));
    assert_non_null(replay_commit(&t, "s3", 1, 10));
    assert_non_null(replay_commit(&t, "s1", 1, 11)); /* s2 is now the least recent */
    assert_non_null(replay_commit(&t, "s4", 1, 10));
    assert_int_equal(t.n, 3);
    assert_null(replay_find(&t, "s2"));
    assert_int_equal(replay_check(&t, "s1", 1, 11), REPLAY_SEEN);
    assert_int_equal(replay_check(&t, "s3", 1, 10), REPLAY_SEEN);
    assert_int_equal(replay_check(&t, "s4", 1, 10), REPLAY_SEEN);
    /* Forgotten: its window starts again (docs/security.md says what that
     * costs). */
    assert_int_equal(replay_check(&t, "s2", 1, 10), REPLAY_FRESH);
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        assert_non_null(replay_commit(&t, name, 1, 1));
        assert_int_equal(t.n, 3);
        assert_non_null(replay_find(&t, name));
    }
    replay_free(&t);
}

static void certificates_round_trip_and_cache(void **state) {
    struct cert_info info;
    assert_int_equal(cert_verify(ca.pk, a.cert, a.cert_len, &info), CERT_OK);
    assert_string_equal(info.name, "a");
    assert_memory_equal(info.public_key, a.pk, CERT_PK_BYTES);
    assert_true(info.candidate);
    assert_int_equal(cert_verify(other_ca.pk, a.cert, a.cert_len, &info), CERT_BAD_SIGNATURE);
    assert_int_equal(cert_valid_at(&info, NOW + 2 * DAY), CERT_EXPIRED);
    assert_int_equal(cert_valid_at(&info, NOW - 2 * DAY), CERT_NOT_YET_VALID);
    assert_int_equal(cert_verify(ca.pk, a.cert, 10, &info), CERT_MALFORMED);
    /* A changed byte of the body is a changed certificate. */
    for (size_t i = 0; i < a.cert_len; i++) {
        uint8_t t[CERT_MAX];
        memcpy(t, a.cert, a.cert_len);
        t[i] ^= 0x01;
        assert_int_not_equal(cert_verify(ca.pk, t, a.cert_len, &info), CERT_OK);
    }
    static struct cert_cache cache;
    cert_cache_clear(&cache);
    assert_int_equal(cert_cache_verify(&cache, ca.pk, a.cert, a.cert_len, &info), CERT_OK);
    assert_int_equal(cert_cache_verify(&cache, ca.pk, a.cert, a.cert_len, &info), CERT_OK);
    assert_string_equal(info.name, "a");
    assert_int_equal(cert_cache_verify(&cache, ca.pk, stranger.cert, stranger.cert_len, &info),
                     CERT_BAD_SIGNATURE);
    assert_int_equal(cert_cache_verify(&cache, ca.pk, stranger.cert, stranger.cert_len, &info),
                     CERT_BAD_SIGNATURE);
    /* Asked under another CA, what the first verified is not taken. */
    assert_int_equal(cert_cache_verify(&cache, other_ca.pk, a.cert, a.cert_len, &info),
                     CERT_BAD_SIGNATURE);
    assert_int_equal(cert_cache_verify(&cache, other_ca.pk, stranger.cert, stranger.cert_len,
                                       &info), CERT_OK);
    assert_int_equal(cert_cache_verify(&cache, ca.pk, stranger.cert, stranger.cert_len, &info),
                     CERT_BAD_SIGNATURE);
    /* A signature over no body at all: the empty body decodes with no data
     * pointer, and copying from NULL is undefined even for no bytes. */
    uint8_t bodiless[2 + CERT_SIG_BYTES] = {0x12, CERT_SIG_BYTES};
    assert_int_equal(cert_verify(ca.pk, bodiless, sizeof bodiless, &info), CERT_BAD_SIGNATURE);
    /* Names that do not fit are never issued. */
    struct cert_info big = {.not_after = NOW};
    memset(big.name, 'n', sizeof big.name);
    assert_int_equal(cert_issue(ca.sk, &big, (uint8_t[CERT_MAX]){0}), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_and_open),
        cmocka_unit_test(every_tampered_byte_and_truncation_is_refused),
        cmocka_unit_test(wrong_or_unknown_keys_are_refused),
        cmocka_unit_test(frames_for_another_host_or_cluster_are_refused),
        cmocka_unit_test(replays_and_old_epochs_are_refused),
        cmocka_unit_test(certificates_must_be_this_cas_valid_and_the_senders),
        cmocka_unit_test(hosts_that_heard_each_other_use_the_pairs_mac),
        cmocka_unit_test(only_the_two_hosts_of_a_pair_can_make_its_mac),
        cmocka_unit_test(an_address_claimed_by_two_keys_gets_signed_frames),
        cmocka_unit_test(a_peers_two_keys_come_from_one_agreement),
        cmocka_unit_test(the_shared_certificate_cache_follows_the_ca),
        cmocka_unit_test(a_beacon_is_never_under_a_pairs_key),
        cmocka_unit_test(insecure_and_keyed_never_mix),
        cmocka_unit_test(window_matches_its_model),
        cmocka_unit_test(the_table_of_senders_is_bounded),
        cmocka_unit_test(certificates_round_trip_and_cache),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
