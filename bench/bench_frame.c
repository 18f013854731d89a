/* The frame layer's cost (docs/security.md): microseconds to seal and to
 * open a frame (secretbox, Ed25519 signature and verification, certificate
 * from the cache; then with the pair's MAC instead of the signature), and to
 * verify a certificate the cache has not seen.
 *
 *   bench_frame [PAYLOAD_BYTES] [ROUNDS]
 *
 * Prints one line per figure; bench/frame.sh puts them beside the frame
 * rate of an agent in a cluster of 100 (nodesim). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/frame.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct host {
    uint8_t sk[CERT_SK_BYTES];
    uint8_t cert[CERT_MAX];
    size_t cert_len;
};

static void make_host(struct host *h, const char *name, const uint8_t ca_sk[CERT_SK_BYTES]) {
    struct cert_info info = {.candidate = true, .not_after = UINT64_MAX / 2};
    snprintf(info.name, sizeof info.name, "%s", name);
    crypto_sign_keypair(info.public_key, h->sk);
    h->cert_len = cert_issue(ca_sk, &info, h->cert);
}

#define A_ADDR "10.0.0.1:7946"
#define B_ADDR "10.0.0.2:7946"

static struct frame_ctx *ctx(const char *name, const char *addr, const struct host *h,
                             const struct keyring *r, const uint8_t ca_pk[CERT_PK_BYTES]) {
    struct frame_config fc = {.cluster = "bench", .name = name, .addrs = {addr}, .n_addrs = 1,
                              .epoch = 1, .senders_max = 1024};
    struct frame_ctx *c = frame_ctx_new(&fc);
    frame_ctx_set_keyring(c, r);
    frame_ctx_set_identity(c, ca_pk, h->sk, h->cert, h->cert_len);
    return c;
}

/* Seals rounds frames from a to b and opens them; prints the figures. */
static int measure(struct frame_ctx *ca, struct frame_ctx *cb, size_t payload, int rounds,
                   const char *how) {
    uint8_t *data = calloc(1, payload + 1);
    size_t size = frame_sealed_size(ca, B_ADDR, payload);
    uint8_t *frames = malloc(size * (size_t)rounds);
    if (!data || !frames)
        exit(2);
    double t0 = now_s();
    for (int i = 0; i < rounds; i++)
        frame_seal(ca, frames + size * (size_t)i, B_ADDR, CHANNEL_GOSSIP, data, payload);
    double seal = (now_s() - t0) / rounds;
    int ok = 0;
    t0 = now_s();
    for (int i = 0; i < rounds; i++) {
        struct frame_msg m;
        if (frame_open(cb, frames + size * (size_t)i, size, FRAME_PATH_UNICAST,
                       (uint64_t)time(NULL), &m) == FRAME_OK) {
            ok++;
            free(m.payload);
        }
    }
    double open = (now_s() - t0) / rounds;
    printf("%s: frame of %zu payload bytes: %zu bytes on the wire (%zu of overhead)\n", how,
           payload, size, size - payload);
    printf("%s: seal %.1f us, open %.1f us (certificate cached; %d of %d accepted); one core "
           "opens %.0f frames/s and seals %.0f frames/s\n", how, seal * 1e6, open * 1e6, ok,
           rounds, 1 / open, 1 / seal);
    free(frames);
    free(data);
    return ok == rounds ? 0 : 1;
}

int main(int argc, char **argv) {
    size_t payload = argc > 1 ? (size_t)atol(argv[1]) : 1400;
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    if (frame_init() != 0 || payload > 65536 || rounds < 1)
        return 2;
    uint8_t ca_pk[CERT_PK_BYTES], ca_sk[CERT_SK_BYTES];
    crypto_sign_keypair(ca_pk, ca_sk);
    struct keyring ring = {0};
    uint8_t key[KEYRING_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    char err[128];
    keyring_install(&ring, key, err, sizeof err);
    struct host a, b;
    make_host(&a, "host-a.example.org", ca_sk);
    make_host(&b, "host-b.example.org", ca_sk);
    struct frame_ctx *ca = ctx("host-a.example.org", A_ADDR, &a, &ring, ca_pk);
    struct frame_ctx *cb = ctx("host-b.example.org", B_ADDR, &b, &ring, ca_pk);
    /* Before a has heard from b its frames to b are signed; after, they
     * carry the pair's MAC (src/net/session.h). */
    int rc = measure(ca, cb, payload, rounds, "signed");
    uint8_t hello[FRAME_OVERHEAD_MAX];
    size_t n = frame_seal(cb, hello, A_ADDR, CHANNEL_GOSSIP, NULL, 0);
    struct frame_msg m;
    if (frame_open(ca, hello, n, FRAME_PATH_UNICAST, (uint64_t)time(NULL), &m) != FRAME_OK)
        return 1;
    free(m.payload);
    rc |= measure(ca, cb, payload, rounds, "pair MAC");
    struct cert_info info;
    int certs = rounds / 10 ? rounds / 10 : 1;
    double t0 = now_s();
    for (int i = 0; i < certs; i++)
        cert_verify(ca_pk, a.cert, a.cert_len, &info);
    printf("certificate verification %.1f us (a sender first seen)\n",
           (now_s() - t0) / certs * 1e6);
    frame_ctx_free(ca);
    frame_ctx_free(cb);
    return rc;
}
