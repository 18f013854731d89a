#include "frame.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "session.h"

#define V_KEYED 0x01
#define V_INSECURE 0x81
#define OUTER_KEYED (1 + 4 + crypto_secretbox_NONCEBYTES)
#define MAC_BYTES crypto_secretbox_MACBYTES
#define HEADER 28
/* The inner header's byte 9: how the inner frame is authenticated. */
#define AUTH_SIGNATURE 0 /* Ed25519 by the certificate's key; insecure frames: none */
#define AUTH_MAC 1       /* keyed BLAKE2b under the pair's key (session.h) */
#define TAG_BYTES SESSION_KEY_BYTES
static const uint8_t MAGIC[4] = {'n', 'd', 'f', '1'};

_Static_assert(crypto_secretbox_KEYBYTES == KEYRING_KEY_BYTES, "key size");
_Static_assert(crypto_secretbox_NONCEBYTES == 24, "nonce size");
_Static_assert(MAC_BYTES == 16, "MAC size");
_Static_assert(FRAME_NAME_MAX == CERT_NAME_MAX && FRAME_NAME_MAX == REPLAY_NAME_MAX, "names");
_Static_assert(FRAME_RESULTS <= 32, "reported bits");
_Static_assert(TAG_BYTES <= CERT_SIG_BYTES, "a MAC frame is no longer than a signed one");

struct frame_ctx {
    char cluster[FRAME_CLUSTER_MAX];
    char name[FRAME_NAME_MAX];
    char addrs[FRAME_SELF_ADDRS][FRAME_ADDR_MAX];
    size_t n_addrs;
    bool insecure;
    uint64_t epoch, seq;
    bool has_keys, has_identity, has_sessions;
    struct keyring keys;
    uint8_t ca_pk[CERT_PK_BYTES];
    uint8_t sk[CERT_SK_BYTES];
    uint8_t cert[CERT_MAX];
    size_t cert_len;
    struct cert_cache cache;
    struct replay_table replay;
    struct session_keys *sessions;
    uint64_t counts[FRAME_RESULTS];
    uint32_t reported; /* reasons reported for senders without a window */
};

int frame_init(void) { return sodium_init() < 0 ? -1 : 0; }

const char *frame_channel_name(uint32_t channel) {
    switch ((enum frame_channel)channel) {
    case CHANNEL_GOSSIP: return "gossip";
    case CHANNEL_ELECTION: return "election";
    case CHANNEL_DISCOVERY: return "discovery";
    case CHANNEL_COMMAND: return "command";
    case CHANNEL_FORWARD: return "forward";
    }
    return "other";
}

const char *frame_result_name(enum frame_result r) {
    switch (r) {
    case FRAME_OK: return "accepted";
    case FRAME_SELF: return "self";
    case FRAME_MALFORMED: return "malformed";
    case FRAME_MODE: return "insecure_mismatch";
    case FRAME_UNKNOWN_KEY: return "unknown_key";
    case FRAME_BAD_MAC: return "bad_mac";
    case FRAME_WRONG_CLUSTER: return "wrong_cluster";
    case FRAME_BAD_CERT: return "bad_certificate";
    case FRAME_CERT_EXPIRED: return "certificate_expired";
    case FRAME_NAME_MISMATCH: return "name_mismatch";
    case FRAME_BAD_SIGNATURE: return "bad_signature";
    case FRAME_BAD_PAIR_MAC: return "bad_pair_mac";
    case FRAME_MISADDRESSED: return "misaddressed";
    case FRAME_OLD_EPOCH: return "old_epoch";
    case FRAME_REPLAY: return "replay";
    case FRAME_STALE: return "stale";
    case FRAME_NO_MEMORY: return "no_memory";
    case FRAME_RESULTS: break;
    }
    return "unknown";
}

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

struct frame_ctx *frame_ctx_new(const struct frame_config *cfg) {
    assert(cfg->n_addrs >= 1 && cfg->n_addrs <= FRAME_SELF_ADDRS);
    struct frame_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->sessions = session_new()) ||
        replay_init(&c->replay, cfg->senders_max ? cfg->senders_max : 1) != 0) {
        session_free(c->sessions);
        free(c);
        return NULL;
    }
    copy_str(c->cluster, sizeof c->cluster, cfg->cluster);
    copy_str(c->name, sizeof c->name, cfg->name);
    for (size_t i = 0; i < cfg->n_addrs; i++)
        copy_str(c->addrs[i], sizeof c->addrs[i], cfg->addrs[i]);
    c->n_addrs = cfg->n_addrs;
    c->insecure = cfg->insecure;
    c->epoch = cfg->epoch;
    return c;
}

void frame_ctx_free(struct frame_ctx *c) {
    if (!c)
        return;
    replay_free(&c->replay);
    session_free(c->sessions);
    sodium_memzero(c, sizeof *c);
    free(c);
}

void frame_ctx_set_keyring(struct frame_ctx *c, const struct keyring *r) {
    assert(r->n > 0 && r->primary < r->n);
    c->keys = *r;
    c->has_keys = true;
}

const struct keyring *frame_ctx_keyring(const struct frame_ctx *c) {
    return c->has_keys ? &c->keys : NULL;
}

void frame_ctx_set_identity(struct frame_ctx *c, const uint8_t ca_pk[CERT_PK_BYTES],
                            const uint8_t sk[CERT_SK_BYTES], const uint8_t *cert, size_t len) {
    assert(len > 0 && len <= CERT_MAX);
    memcpy(c->ca_pk, ca_pk, CERT_PK_BYTES);
    memcpy(c->sk, sk, CERT_SK_BYTES);
    memcpy(c->cert, cert, len);
    c->cert_len = len;
    /* A key the caller checked converts; one that would not leaves every
     * frame signed. */
    c->has_identity = true;
    c->has_sessions = session_set_identity(c->sessions, sk) == 0;
}

bool frame_ctx_insecure(const struct frame_ctx *c) { return c->insecure; }

struct cert_cache *frame_ctx_cert_cache(struct frame_ctx *c) { return &c->cache; }

void frame_ctx_counts(const struct frame_ctx *c, uint64_t out[FRAME_RESULTS]) {
    memcpy(out, c->counts, sizeof c->counts);
}

/* Lengths of the strings of f; false if one is out of bounds. */
static bool lengths(const struct frame_fields *f, size_t n[4]) {
    const char *s[4] = {f->cluster, f->to, f->from, f->name};
    static const size_t max[4] = {FRAME_CLUSTER_MAX, FRAME_ADDR_MAX, FRAME_ADDR_MAX,
                                  FRAME_NAME_MAX};
    for (int i = 0; i < 4; i++)
        if ((n[i] = strnlen(s[i], max[i])) >= max[i])
            return false;
    return f->cert_len <= CERT_MAX && f->channel <= UINT8_MAX;
}

static size_t inner_size(const struct frame_fields *f, const size_t n[4], bool keyed) {
    return HEADER + n[0] + n[1] + n[2] + n[3] + f->cert_len + f->len +
           (!keyed ? 0 : f->mac_key ? TAG_BYTES : CERT_SIG_BYTES);
}

size_t frame_encoded_size(const struct frame_fields *f, bool keyed) {
    size_t n[4];
    if (!lengths(f, n))
        return 0;
    return (keyed ? OUTER_KEYED + MAC_BYTES : 1) + inner_size(f, n, keyed);
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t frame_encode(const struct frame_fields *f, const uint8_t *key, uint32_t key_id,
                    const uint8_t *sk, uint8_t *out) {
    size_t n[4];
    if (!lengths(f, n))
        return 0;
    bool keyed = key != NULL;
    size_t inner_len = inner_size(f, n, keyed);
    uint8_t *in = out + (keyed ? OUTER_KEYED + MAC_BYTES : 1);
    memcpy(in, MAGIC, sizeof MAGIC);
    in[4] = (uint8_t)f->channel;
    in[5] = (uint8_t)n[0];
    in[6] = (uint8_t)n[1];
    in[7] = (uint8_t)n[2];
    in[8] = (uint8_t)n[3];
    in[9] = keyed && f->mac_key ? AUTH_MAC : AUTH_SIGNATURE;
    in[10] = (uint8_t)(f->cert_len & 0xff);
    in[11] = (uint8_t)(f->cert_len >> 8);
    put64(in + 12, f->epoch);
    put64(in + 20, f->seq);
    uint8_t *p = in + HEADER;
    const char *s[4] = {f->cluster, f->to, f->from, f->name};
    for (int i = 0; i < 4; i++) {
        memcpy(p, s[i], n[i]);
        p += n[i];
    }
    if (f->cert_len)
        memcpy(p, f->cert, f->cert_len);
    p += f->cert_len;
    if (f->len)
        memcpy(p, f->payload, f->len);
    p += f->len;
    if (!keyed) {
        out[0] = V_INSECURE;
        return 1 + inner_len;
    }
    if (f->mac_key)
        crypto_generichash(p, TAG_BYTES, in, (size_t)(p - in), f->mac_key, SESSION_KEY_BYTES);
    else
        crypto_sign_detached(p, NULL, in, (size_t)(p - in), sk);
    out[0] = V_KEYED;
    out[1] = (uint8_t)(key_id >> 24);
    out[2] = (uint8_t)(key_id >> 16);
    out[3] = (uint8_t)(key_id >> 8);
    out[4] = (uint8_t)key_id;
    uint8_t *nonce = out + 5;
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    /* In place: libsodium moves the plaintext when the buffers overlap. */
    crypto_secretbox_easy(out + OUTER_KEYED, in, inner_len, nonce, key);
    return OUTER_KEYED + MAC_BYTES + inner_len;
}

/* This host's frame to `to`: under the pair's key when the host at `to`
 * is known (session.h), signed otherwise. A beacon is for every host, so
 * never under one pair's key, whoever claimed "*" as its address. */
static void own_fields(struct frame_ctx *c, struct frame_fields *f, const char *to,
                       uint32_t channel, const void *payload, size_t len,
                       uint8_t mac_key[SESSION_KEY_BYTES]) {
    bool mac = !c->insecure && c->has_sessions && strcmp(to, FRAME_TO_ALL) != 0 &&
               session_tx_key(c->sessions, to, mac_key);
    *f = (struct frame_fields){.channel = channel, .epoch = c->epoch, .seq = c->seq + 1,
                               .cluster = c->cluster, .to = to, .from = c->addrs[0],
                               .name = c->name, .cert = c->insecure ? NULL : c->cert,
                               .cert_len = c->insecure ? 0 : c->cert_len, .payload = payload,
                               .len = len, .mac_key = mac ? mac_key : NULL};
}

size_t frame_sealed_size(struct frame_ctx *c, const char *to, size_t len) {
    struct frame_fields f;
    uint8_t key[SESSION_KEY_BYTES];
    own_fields(c, &f, to, 0, NULL, len, key);
    sodium_memzero(key, sizeof key);
    return frame_encoded_size(&f, !c->insecure);
}

size_t frame_seal(struct frame_ctx *c, uint8_t *out, const char *to, uint32_t channel,
                  const void *payload, size_t len) {
    if (!c->insecure && (!c->has_keys || !c->has_identity))
        return 0;
    struct frame_fields f;
    uint8_t key[SESSION_KEY_BYTES];
    own_fields(c, &f, to, channel, payload, len, key);
    size_t n = c->insecure ? frame_encode(&f, NULL, 0, NULL, out)
                           : frame_encode(&f, c->keys.key[c->keys.primary],
                                          c->keys.id[c->keys.primary], c->sk, out);
    sodium_memzero(key, sizeof key);
    if (n)
        c->seq++;
    return n;
}

/* The parts of an opened inner frame, pointing into it. */
struct inner {
    uint32_t channel;
    uint64_t epoch, seq;
    const char *str[4]; /* cluster, to, from, name: not NUL-terminated */
    size_t n[4];
    const uint8_t *cert;
    size_t cert_len;
    const uint8_t *payload;
    size_t len;
    bool mac;           /* authenticated by a MAC, not a signature */
    const uint8_t *sig; /* keyed only: the signature or the MAC */
    size_t signed_len;
};

static bool parse_inner(const uint8_t *in, size_t len, bool keyed, struct inner *out) {
    if (len < HEADER || memcmp(in, MAGIC, sizeof MAGIC) != 0 ||
        (in[9] != AUTH_SIGNATURE && (!keyed || in[9] != AUTH_MAC)))
        return false;
    out->mac = in[9] == AUTH_MAC;
    size_t tail = !keyed ? 0 : out->mac ? TAG_BYTES : CERT_SIG_BYTES;
    if (len < HEADER + tail)
        return false;
    out->channel = in[4];
    static const size_t max[4] = {FRAME_CLUSTER_MAX, FRAME_ADDR_MAX, FRAME_ADDR_MAX,
                                  FRAME_NAME_MAX};
    size_t need = HEADER + tail;
    for (int i = 0; i < 4; i++) {
        out->n[i] = in[5 + i];
        if (out->n[i] >= max[i] || (i != 0 && out->n[i] == 0))
            return false;
        need += out->n[i];
    }
    out->cert_len = (size_t)in[10] | (size_t)in[11] << 8;
    if (out->cert_len > CERT_MAX || (keyed ? out->cert_len == 0 : out->cert_len != 0))
        return false;
    need += out->cert_len;
    if (need > len)
        return false;
    out->epoch = get64(in + 12);
    out->seq = get64(in + 20);
    const uint8_t *p = in + HEADER;
    for (int i = 0; i < 4; i++) {
        out->str[i] = (const char *)p;
        if (memchr(p, '\0', out->n[i]))
            return false;
        p += out->n[i];
    }
    out->cert = p;
    p += out->cert_len;
    out->payload = p;
    out->len = len - need;
    out->sig = p + out->len;
    out->signed_len = (size_t)(out->sig - in);
    return true;
}

static bool str_is(const char *s, size_t n, const char *z) {
    return strlen(z) == n && memcmp(s, z, n) == 0;
}

static bool addressed_here(const struct frame_ctx *c, const struct inner *in,
                           enum frame_path path) {
    if (path == FRAME_PATH_DISCOVERY)
        return in->channel == CHANNEL_DISCOVERY && str_is(in->str[1], in->n[1], FRAME_TO_ALL);
    if (in->channel == CHANNEL_DISCOVERY)
        return false;
    for (size_t i = 0; i < c->n_addrs; i++)
        if (str_is(in->str[1], in->n[1], c->addrs[i]))
            return true;
    return false;
}

/* Counts r and decides whether the caller reports it: the first of its
 * reason per sender with a window, else the first overall. */
static enum frame_result finish(struct frame_ctx *c, enum frame_result r, struct frame_msg *msg) {
    c->counts[r]++;
    if (r == FRAME_OK || r == FRAME_SELF)
        return r;
    struct replay_sender *s = msg->sender[0] ? replay_find(&c->replay, msg->sender) : NULL;
    uint32_t *logged = s ? &s->logged : &c->reported;
    msg->report = !(*logged & 1u << r);
    *logged |= 1u << r;
    return r;
}

static enum frame_result open_checked(struct frame_ctx *c, uint8_t *frame, size_t len,
                                      enum frame_path path, uint64_t now_s,
                                      struct frame_msg *msg) {
    if (len < 1)
        return FRAME_MALFORMED;
    bool keyed = frame[0] == V_KEYED;
    if (!keyed && frame[0] != V_INSECURE)
        return FRAME_MALFORMED;
    if (keyed == c->insecure)
        return FRAME_MODE;
    uint8_t *inner = frame + 1;
    size_t inner_len = len - 1;
    if (keyed) {
        if (len < OUTER_KEYED + MAC_BYTES)
            return FRAME_MALFORMED;
        uint32_t id = (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 |
                      (uint32_t)frame[3] << 8 | frame[4];
        const uint8_t *key = c->has_keys ? keyring_find(&c->keys, id) : NULL;
        if (!key)
            return FRAME_UNKNOWN_KEY;
        inner = frame + OUTER_KEYED;
        inner_len = len - OUTER_KEYED - MAC_BYTES;
        if (crypto_secretbox_open_easy(inner, inner, len - OUTER_KEYED, frame + 5, key) != 0)
            return FRAME_BAD_MAC;
    }
    struct inner in;
    if (!parse_inner(inner, inner_len, keyed, &in))
        return FRAME_MALFORMED;
    if (!str_is(in.str[0], in.n[0], c->cluster))
        return FRAME_WRONG_CLUSTER;
    msg->candidate = true;
    struct cert_info info;
    if (keyed) {
        enum cert_result cr = cert_cache_verify(&c->cache, c->ca_pk, in.cert, in.cert_len, &info);
        if (cr != CERT_OK)
            return FRAME_BAD_CERT;
        if (cert_valid_at(&info, now_s) != CERT_OK)
            return FRAME_CERT_EXPIRED;
        if (!str_is(in.str[3], in.n[3], info.name))
            return FRAME_NAME_MISMATCH;
        if (in.mac) {
            /* Our own frame comes back under the key of the host it was
             * for (a frame reflected, or looped back): checked with that
             * key, then dropped as our own. */
            uint8_t key[SESSION_KEY_BYTES], tag[TAG_BYTES];
            char to[FRAME_ADDR_MAX];
            memcpy(to, in.str[1], in.n[1]);
            to[in.n[1]] = '\0';
            bool own = str_is(in.str[3], in.n[3], c->name);
            bool have = c->has_sessions &&
                        (own ? session_tx_key(c->sessions, to, key)
                             : session_rx_key(c->sessions, info.public_key, key));
            if (have)
                crypto_generichash(tag, sizeof tag, inner, in.signed_len, key, sizeof key);
            sodium_memzero(key, sizeof key);
            if (!have || sodium_memcmp(tag, in.sig, TAG_BYTES) != 0)
                return FRAME_BAD_PAIR_MAC;
        } else if (crypto_sign_verify_detached(in.sig, inner, in.signed_len,
                                               info.public_key) != 0) {
            return FRAME_BAD_SIGNATURE;
        }
        msg->candidate = info.candidate;
    }
    memcpy(msg->sender, in.str[3], in.n[3]);
    msg->sender[in.n[3]] = '\0';
    if (strcmp(msg->sender, c->name) == 0)
        return FRAME_SELF;
    if (!addressed_here(c, &in, path))
        return FRAME_MISADDRESSED;
    switch (replay_check(&c->replay, msg->sender, in.epoch, in.seq)) {
    case REPLAY_FRESH: break;
    case REPLAY_OLD_EPOCH: return FRAME_OLD_EPOCH;
    case REPLAY_SEEN: return FRAME_REPLAY;
    case REPLAY_STALE: return FRAME_STALE;
    }
    if (!(msg->payload = malloc(in.len ? in.len : 1)))
        return FRAME_NO_MEMORY;
    if (!replay_commit(&c->replay, msg->sender, in.epoch, in.seq)) {
        free(msg->payload);
        msg->payload = NULL;
        return FRAME_NO_MEMORY;
    }
    if (in.len)
        memcpy(msg->payload, in.payload, in.len);
    msg->len = in.len;
    msg->channel = in.channel;
    msg->epoch = in.epoch;
    msg->seq = in.seq;
    memcpy(msg->from, in.str[2], in.n[2]);
    msg->from[in.n[2]] = '\0';
    if (keyed && c->has_sessions)
        session_learn(c->sessions, msg->from, info.public_key);
    return FRAME_OK;
}

enum frame_result frame_open(struct frame_ctx *c, uint8_t *frame, size_t len,
                             enum frame_path path, uint64_t now_s, struct frame_msg *msg) {
    memset(msg, 0, sizeof *msg);
    return finish(c, open_checked(c, frame, len, path, now_s, msg), msg);
}
