/* What a host's libsodium work costs when peers it has never heard from
 * join at once (bench/agents_scale.sh starts 150 on one machine): per peer,
 * its first frame opened (signed: its certificate and its signature
 * verified, the pair's keys derived), its next one (under the pair's MAC,
 * session.h) and its signed record (signed_record.h) verified, as the agent
 * does (agent_record.c), through the frames' certificate cache.
 *
 *   bench_join [PEERS] [ROUNDS]
 *
 * Prints the CPU time of one host's PEERS joins, the best of ROUNDS, beside
 * the same with the work the agent did before one cache and one X25519
 * agreement served both (redone here, with libsodium's own calls): each
 * record's certificate verified again in a cache of its own, and the pair's
 * key derived again for the peer's first MAC frame. That "before" is the
 * figure of the code before the change (this program built on it, with the
 * record cache of its own and nothing redone: 350 us a peer, as here). A
 * Release build: cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release, then
 * cmake --build build-bench --target bench_join. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/frame.h"
#include "net/session.h"
#include "net/signed_record.h"

#define NOW 2000000000ull
#define ME_ADDR "10.0.0.1:7946"
#define FRAME_BYTES (FRAME_OVERHEAD_MAX + 64)

struct peer {
    uint8_t pk[CERT_PK_BYTES];
    uint8_t first[FRAME_BYTES], next[FRAME_BYTES];
    size_t first_len, next_len;
    uint8_t record[SIGNED_RECORD_OVERHEAD_MAX + 64];
    size_t record_len;
    uint64_t id;
};

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct identity {
    uint8_t pk[CERT_PK_BYTES], sk[CERT_SK_BYTES], cert[CERT_MAX];
    size_t cert_len;
};

static void certify(struct identity *id, const char *name, const uint8_t ca_sk[CERT_SK_BYTES]) {
    struct cert_info info = {.candidate = true, .not_before = NOW - 1, .not_after = NOW + 86400};
    snprintf(info.name, sizeof info.name, "%s", name);
    crypto_sign_keypair(info.public_key, id->sk);
    memcpy(id->pk, info.public_key, CERT_PK_BYTES);
    if (!(id->cert_len = cert_issue(ca_sk, &info, id->cert)))
        exit(2);
}

static struct frame_ctx *host(const char *name, const char *addr, const struct keyring *r,
                              const uint8_t ca_pk[CERT_PK_BYTES], const struct identity *id) {
    struct frame_config fc = {.cluster = "bench", .name = name, .addrs = {addr}, .n_addrs = 1,
                              .epoch = 1, .senders_max = 1024};
    struct frame_ctx *c = frame_ctx_new(&fc);
    if (!c)
        exit(2);
    frame_ctx_set_keyring(c, r);
    frame_ctx_set_identity(c, ca_pk, id->sk, id->cert, id->cert_len);
    return c;
}

static bool open_ok(struct frame_ctx *c, const uint8_t *frame, size_t len) {
    uint8_t copy[FRAME_BYTES];
    memcpy(copy, frame, len);
    struct frame_msg m;
    if (frame_open(c, copy, len, FRAME_PATH_UNICAST, NOW, &m) != FRAME_OK)
        return false;
    free(m.payload);
    return true;
}

/* The key of peer_pk's frames to me as session.c derives it (session.h). */
static void derive_again(const uint8_t x_sk[32], const uint8_t me_pk[CERT_PK_BYTES],
                         const uint8_t peer_pk[CERT_PK_BYTES]) {
    static const char domain[] = "nodectl frame key v1";
    uint8_t x_pk[32], shared[32], key[SESSION_KEY_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(x_pk, peer_pk) != 0 ||
        crypto_scalarmult(shared, x_sk, x_pk) != 0)
        exit(1);
    crypto_generichash_state st;
    crypto_generichash_init(&st, shared, sizeof shared, sizeof key);
    crypto_generichash_update(&st, (const uint8_t *)domain, sizeof domain);
    crypto_generichash_update(&st, peer_pk, CERT_PK_BYTES);
    crypto_generichash_update(&st, me_pk, CERT_PK_BYTES);
    crypto_generichash_final(&st, key, sizeof key);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(key, sizeof key);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 150;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (frame_init() != 0 || n < 1 || n > 1000 || rounds < 1)
        return 2;
    uint8_t ca_pk[CERT_PK_BYTES], ca_sk[CERT_SK_BYTES];
    crypto_sign_keypair(ca_pk, ca_sk);
    struct keyring ring = {0};
    uint8_t k[KEYRING_KEY_BYTES];
    randombytes_buf(k, sizeof k);
    char err[128];
    if (keyring_install(&ring, k, err, sizeof err) != 0)
        return 2;
    struct identity self;
    certify(&self, "me", ca_sk);
    uint8_t x_sk[32];
    if (crypto_sign_ed25519_sk_to_curve25519(x_sk, self.sk) != 0)
        return 2;
    struct frame_ctx *me = host("me", ME_ADDR, &ring, ca_pk, &self);
    struct peer *peers = calloc((size_t)n, sizeof *peers);
    if (!peers)
        return 2;
    for (int i = 0; i < n; i++) {
        struct peer *p = &peers[i];
        char name[32], addr[32];
        snprintf(name, sizeof name, "peer-%d", i);
        snprintf(addr, sizeof addr, "10.0.%d.%d:7946", 1 + i / 250, 1 + i % 250);
        struct identity id;
        certify(&id, name, ca_sk);
        memcpy(p->pk, id.pk, CERT_PK_BYTES);
        struct frame_ctx *c = host(name, addr, &ring, ca_pk, &id);
        /* Its first frame to me is signed; once it heard from me, the next
         * carries the pair's MAC. */
        p->first_len = frame_seal(c, p->first, ME_ADDR, CHANNEL_GOSSIP, "join", 4);
        uint8_t hello[FRAME_BYTES];
        size_t hn = frame_seal(me, hello, addr, CHANNEL_GOSSIP, "hi", 2);
        if (!open_ok(c, hello, hn))
            return 1;
        p->next_len = frame_seal(c, p->next, ME_ADDR, CHANNEL_GOSSIP, "ping", 4);
        if (p->next_len != p->first_len - (CERT_SIG_BYTES - SESSION_KEY_BYTES))
            return 1;
        p->id = signed_record_member_id(name);
        p->record_len = signed_record_seal(id.sk, id.cert, id.cert_len, p->id, 1,
                                           (const uint8_t *)"rec", 3, p->record);
        frame_ctx_free(c);
    }
    frame_ctx_free(me);
    double best[2] = {1e9, 1e9};
    for (int r = 0; r < rounds; r++) {
        for (int before = 0; before < 2; before++) {
            static struct cert_cache own; /* the agent's own record cache, before */
            cert_cache_clear(&own);
            me = host("me", ME_ADDR, &ring, ca_pk, &self);
            double t0 = cpu_s();
            for (int i = 0; i < n; i++) {
                struct peer *p = &peers[i];
                struct signed_record sr;
                struct cert_info owner;
                if (!open_ok(me, p->first, p->first_len))
                    return 1;
                if (before)
                    derive_again(x_sk, self.pk, p->pk);
                if (!open_ok(me, p->next, p->next_len) ||
                    signed_record_verify(before ? &own : frame_ctx_cert_cache(me), ca_pk, NOW,
                                         p->id, 1, p->record, p->record_len, &sr,
                                         &owner) != SIGNED_RECORD_OK)
                    return 1;
            }
            double t = cpu_s() - t0;
            if (t < best[before])
                best[before] = t;
            frame_ctx_free(me);
        }
    }
    printf("%d peers joining, the best of %d rounds, CPU: before %.1f ms (%.0f us a peer), "
           "now %.1f ms (%.0f us a peer): %.0f %% less; %d hosts joining each other: %.1f s "
           "before, %.1f s now\n", n, rounds, best[1] * 1e3, best[1] / n * 1e6, best[0] * 1e3,
           best[0] / n * 1e6, (1 - best[0] / best[1]) * 100, n + 1, (n + 1) * best[1],
           (n + 1) * best[0]);
    sodium_memzero(x_sk, sizeof x_sk);
    sodium_memzero(&self, sizeof self);
    free(peers);
    return 0;
}
