/* The frame layer (src/net/frame.c): what every agent-to-agent message and
 * every discovery beacon is opened with, by a fresh receiver ("b", keyed,
 * or insecure) per input. The first byte chooses what the rest is:
 *   raw bytes, opened keyed or insecure;
 *   a frame forged field by field (frame_encode): any channel, epoch,
 *     sequence, cluster, recipient, sender address and name, a valid,
 *     foreign or garbled certificate, sealed with the right key or another,
 *     signed by the certificate's key or another, or authenticated by the
 *     pair key (src/net/session.h) of either of those keys to this host, or
 *     insecure;
 *   a sequence of frames from a real sender ("a") whose epochs and sequence
 *     numbers the input picks, sealed, opened, and sometimes opened again;
 *   a round trip from a real sender, signed, or under the pair key once it
 *     has heard from this host.
 * Asserts: an opened frame names a sender, address and payload that fit
 * their bounds; a keyed frame opens only with the cluster key, a valid
 * certificate of this CA naming its sender and its own signature or pair
 * key, addressed
 * to this host; no (epoch, sequence) of a sender is accepted twice, and
 * none from an epoch older than one accepted. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "net/frame.h"
#include "net/session.h"

#define NOW_S 1800000000u /* within every certificate's validity here */
#define ME "10.0.0.2:7946"
#define PEER "10.0.0.1:7946"
#define SEQS_MAX 64
#define SEQ_EPOCHS 4
#define SEQ_NUMBERS 300
#define SEQ_FRAME_MAX 1024

struct party {
    uint8_t pk[CERT_PK_BYTES], sk[CERT_SK_BYTES];
    uint8_t cert[CERT_MAX];
    size_t cert_len;
};

static struct {
    bool ready;
    uint8_t ca_pk[CERT_PK_BYTES], ca_sk[CERT_SK_BYTES];
    uint8_t other_ca_pk[CERT_PK_BYTES], other_ca_sk[CERT_SK_BYTES];
    struct party a, b, foreign; /* foreign: "a" certified by another CA */
    struct keyring ring, other_ring;
} k;

static void keypair(uint8_t pk[CERT_PK_BYTES], uint8_t sk[CERT_SK_BYTES], uint8_t fill) {
    uint8_t seed[CERT_SEED_BYTES];
    memset(seed, fill, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static void party(struct party *p, const char *name, uint8_t fill, const uint8_t *ca_sk) {
    keypair(p->pk, p->sk, fill);
    struct cert_info info = {.candidate = true, .not_before = 0, .not_after = 2 * (uint64_t)NOW_S};
    strcpy(info.name, name);
    memcpy(info.public_key, p->pk, sizeof p->pk);
    p->cert_len = cert_issue(ca_sk, &info, p->cert);
    if (!p->cert_len)
        abort();
}

static void setup(void) {
    if (k.ready)
        return;
    if (frame_init() != 0)
        abort();
    keypair(k.ca_pk, k.ca_sk, 1);
    keypair(k.other_ca_pk, k.other_ca_sk, 2);
    party(&k.a, "a", 3, k.ca_sk);
    party(&k.b, "b", 4, k.ca_sk);
    party(&k.foreign, "a", 5, k.other_ca_sk);
    uint8_t key[KEYRING_KEY_BYTES];
    char err[128];
    memset(key, 6, sizeof key);
    if (keyring_install(&k.ring, key, err, sizeof err) != 0)
        abort();
    memset(key, 7, sizeof key);
    if (keyring_install(&k.other_ring, key, err, sizeof err) != 0)
        abort();
    k.ready = true;
}

static struct frame_ctx *context(const char *name, const char *addr, const struct party *p,
                                 bool insecure, uint64_t epoch) {
    struct frame_config fc = {.cluster = "c1", .name = name, .addrs = {addr}, .n_addrs = 1,
                              .insecure = insecure, .epoch = epoch, .senders_max = 8};
    struct frame_ctx *c = frame_ctx_new(&fc);
    if (!c)
        abort();
    if (!insecure) {
        frame_ctx_set_keyring(c, &k.ring);
        frame_ctx_set_identity(c, k.ca_pk, p->sk, p->cert, p->cert_len);
    }
    return c;
}

/* The frame was accepted: what the receiver hands on is within bounds. */
static void accepted(const struct frame_msg *m, bool keyed) {
    if (!m->sender[0] || strnlen(m->sender, sizeof m->sender) >= sizeof m->sender ||
        strnlen(m->from, sizeof m->from) >= sizeof m->from || (m->len && !m->payload))
        abort();
    if (keyed && strcmp(m->sender, "a") != 0 && strcmp(m->sender, "b") != 0)
        abort(); /* only this CA's certificates name senders */
}

static enum frame_result open_copy(struct frame_ctx *rx, const uint8_t *data, size_t len,
                                   enum frame_path path, bool keyed, struct frame_msg *m) {
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, data, len);
    enum frame_result r = frame_open(rx, copy, len, path, NOW_S, m);
    free(copy);
    if (r >= FRAME_RESULTS)
        abort();
    if (r == FRAME_OK) {
        accepted(m, keyed);
        free(m->payload);
    }
    return r;
}

/* A frame forged field by field, sealed and signed as the input says. */
static void forged(struct fuzz_input *in, bool keyed) {
    char cluster[FRAME_CLUSTER_MAX + 8], to[FRAME_ADDR_MAX + 8], from[FRAME_ADDR_MAX + 8],
        name[FRAME_NAME_MAX + 8];
    uint8_t flags = fuzz_u8(in);
    struct frame_fields f = {.channel = fuzz_u8(in) % 6, .epoch = fuzz_u8(in), .seq = fuzz_u8(in)};
    strcpy(cluster, "c1");
    strcpy(to, ME);
    strcpy(from, PEER);
    strcpy(name, "a");
    if (flags & 0x01)
        fuzz_string(in, cluster, sizeof cluster);
    if (flags & 0x02)
        fuzz_string(in, to, sizeof to);
    if (flags & 0x04)
        fuzz_string(in, from, sizeof from);
    if (flags & 0x08)
        fuzz_string(in, name, sizeof name);
    f.cluster = cluster;
    f.to = to;
    f.from = from;
    f.name = name;
    uint8_t cert[CERT_MAX];
    const struct party *signer = &k.a;
    switch (fuzz_u8(in) % 4) {
    case 0: f.cert = k.a.cert, f.cert_len = k.a.cert_len; break;
    case 1: f.cert = k.foreign.cert, f.cert_len = k.foreign.cert_len, signer = &k.foreign; break;
    case 2: { /* the right certificate with bytes changed */
        memcpy(cert, k.a.cert, k.a.cert_len);
        size_t n = fuzz_u8(in) % 4;
        for (size_t i = 0; i < n; i++)
            cert[fuzz_u8(in) % k.a.cert_len] ^= (uint8_t)(1 + fuzz_u8(in));
        f.cert = cert, f.cert_len = k.a.cert_len;
        break;
    }
    default: {
        size_t len;
        const uint8_t *b = fuzz_bytes(in, CERT_MAX, &len);
        memcpy(cert, b, len);
        f.cert = cert, f.cert_len = len;
        break;
    }
    }
    if (flags & 0x10)
        signer = &k.b; /* signed with a key its certificate does not name */
    uint8_t mac_key[SESSION_KEY_BYTES];
    if (keyed && flags & 0x80) {
        /* The pair key of the signer's frames to this host, as the signer
         * derives it. */
        struct session_keys *s = session_new();
        if (!s || session_set_identity(s, signer->sk) != 0)
            abort();
        session_learn(s, ME, k.b.pk);
        if (!session_tx_key(s, ME, mac_key))
            abort();
        session_free(s);
        f.mac_key = mac_key;
    }
    f.payload = fuzz_bytes(in, 255, &f.len);
    const struct keyring *ring = flags & 0x20 ? &k.other_ring : &k.ring;
    size_t size = frame_encoded_size(&f, keyed);
    if (!size)
        return;
    uint8_t *frame = malloc(size);
    if (!frame)
        abort();
    size_t len = frame_encode(&f, keyed ? ring->key[ring->primary] : NULL,
                              keyed ? keyring_primary_id(ring) : 0, signer->sk, frame);
    if (len) {
        struct frame_ctx *rx = context("b", ME, &k.b, !keyed, 1);
        struct frame_msg m;
        enum frame_path path = flags & 0x40 ? FRAME_PATH_DISCOVERY : FRAME_PATH_UNICAST;
        enum frame_result r = open_copy(rx, frame, len, path, keyed, &m);
        /* A keyed frame that opens was made with everything right. */
        bool right = strcmp(cluster, "c1") == 0 && strcmp(name, "a") == 0 &&
                     f.cert_len == k.a.cert_len && memcmp(f.cert, k.a.cert, f.cert_len) == 0 &&
                     signer == &k.a && ring == &k.ring;
        if (keyed && r == FRAME_OK && !right)
            abort();
        frame_ctx_free(rx);
    }
    free(frame);
}

/* A frame of the real sender "a" for sequence(): made once per process for
 * each (mode, epoch, sequence number), since signing it (the sender's work)
 * depends on nothing else of the input, and kept to be opened by each
 * input's fresh receiver, which checks it in full every time. */
struct made_frame {
    size_t len;
    uint8_t bytes[SEQ_FRAME_MAX];
};

static const struct made_frame *sender_frame(bool keyed, uint64_t epoch, uint64_t seq) {
    static struct made_frame made[2][SEQ_EPOCHS][SEQ_NUMBERS];
    struct made_frame *mf = &made[keyed][epoch - 1][seq];
    if (mf->len)
        return mf;
    struct frame_fields f = {.channel = CHANNEL_GOSSIP, .cluster = "c1", .to = ME, .from = PEER,
                             .name = "a", .cert = k.a.cert, .cert_len = k.a.cert_len,
                             .payload = "x", .len = 1, .epoch = epoch, .seq = seq};
    if (frame_encoded_size(&f, keyed) > sizeof mf->bytes)
        abort();
    mf->len = frame_encode(&f, keyed ? k.ring.key[k.ring.primary] : NULL,
                           keyed ? keyring_primary_id(&k.ring) : 0, k.a.sk, mf->bytes);
    if (!mf->len)
        abort();
    return mf;
}

/* Frames of a real sender with the epochs and sequence numbers the input
 * picks (some repeated, some opened twice): never one accepted twice, and
 * none from an epoch older than one accepted. */
static void sequence(struct fuzz_input *in, bool keyed) {
    struct frame_ctx *rx = context("b", ME, &k.b, !keyed, 1);
    uint64_t seen_epoch[SEQS_MAX], seen_seq[SEQS_MAX], max_epoch = 0;
    size_t n_seen = 0;
    size_t frames = fuzz_u8(in) % SEQS_MAX;
    for (size_t i = 0; i < frames && fuzz_more(in); i++) {
        uint64_t epoch = 1 + fuzz_u8(in) % SEQ_EPOCHS;
        uint64_t seq = fuzz_u16(in) % SEQ_NUMBERS;
        const struct made_frame *mf = sender_frame(keyed, epoch, seq);
        struct frame_msg m;
        enum frame_result r = open_copy(rx, mf->bytes, mf->len, FRAME_PATH_UNICAST, keyed, &m);
        if (r != FRAME_OK)
            continue;
        if (m.epoch != epoch || m.seq != seq)
            abort();
        if (epoch < max_epoch)
            abort();
        for (size_t s = 0; s < n_seen; s++)
            if (seen_epoch[s] == epoch && seen_seq[s] == seq)
                abort();
        if (n_seen < SEQS_MAX) {
            seen_epoch[n_seen] = epoch;
            seen_seq[n_seen++] = seq;
        }
        if (epoch > max_epoch)
            max_epoch = epoch;
    }
    frame_ctx_free(rx);
}

/* Seal then open: what a real sender seals to this host on a unicast
 * channel opens, once. */
static void round_trip(struct fuzz_input *in, bool keyed) {
    struct frame_ctx *tx = context("a", PEER, &k.a, !keyed, 1 + fuzz_u8(in));
    struct frame_ctx *rx = context("b", ME, &k.b, !keyed, 1);
    uint8_t how = fuzz_u8(in);
    if (how & 0x80) {
        /* tx hears from rx first, and seals under their pair key. */
        uint8_t hello[FRAME_OVERHEAD_MAX];
        size_t n = frame_seal(rx, hello, PEER, CHANNEL_GOSSIP, NULL, 0);
        struct frame_msg m;
        if (!n || frame_open(tx, hello, n, FRAME_PATH_UNICAST, NOW_S, &m) != FRAME_OK)
            abort();
        free(m.payload);
    }
    static const uint32_t unicast[] = {CHANNEL_GOSSIP, CHANNEL_ELECTION, CHANNEL_COMMAND};
    uint32_t channel = unicast[how % 3];
    size_t len;
    const uint8_t *payload = fuzz_bytes(in, 255, &len);
    size_t size = frame_sealed_size(tx, ME, len);
    uint8_t *frame = malloc(size ? size : 1);
    if (!frame)
        abort();
    size_t n = frame_seal(tx, frame, ME, channel, payload, len);
    if (!n)
        abort();
    uint8_t *copy = malloc(n);
    if (!copy)
        abort();
    memcpy(copy, frame, n);
    struct frame_msg m;
    enum frame_result r = frame_open(rx, frame, n, FRAME_PATH_UNICAST, NOW_S, &m);
    if (r != FRAME_OK) {
        fprintf(stderr, "round trip: %s\n", frame_result_name(r));
        abort();
    }
    if (m.channel != channel || m.len != len || (len && memcmp(m.payload, payload, len) != 0) ||
        strcmp(m.sender, "a") != 0 || strcmp(m.from, PEER) != 0)
        abort();
    free(m.payload);
    if (frame_open(rx, copy, n, FRAME_PATH_UNICAST, NOW_S, &m) == FRAME_OK)
        abort(); /* a replay */
    free(copy);
    free(frame);
    frame_ctx_free(tx);
    frame_ctx_free(rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    struct fuzz_input in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    bool keyed = !(mode & 0x80);
    switch (mode % 4) {
    case 0: {
        struct frame_ctx *rx = context("b", ME, &k.b, !keyed, 1);
        struct frame_msg m;
        open_copy(rx, in.p, in.n, mode & 0x40 ? FRAME_PATH_DISCOVERY : FRAME_PATH_UNICAST, keyed,
                  &m);
        frame_ctx_free(rx);
        break;
    }
    case 1: forged(&in, keyed); break;
    case 2: sequence(&in, keyed); break;
    default: round_trip(&in, keyed); break;
    }
    return 0;
}
