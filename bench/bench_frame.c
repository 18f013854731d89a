/* The frame layer's cost (docs/security.md): microseconds to seal and to
 * open a frame (secretbox, Ed25519 signature and verification, certificate
 * from the cache), and to verify a certificate the cache has not seen.
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

static struct frame_ctx *ctx(const char *name, const char *addr, const struct host *h,
                             const struct keyring *r, const uint8_t ca_pk[CERT_PK_BYTES]) {
    struct frame_config fc = {.cluster = "bench", .name = name, .addrs = {addr}, .n_addrs = 1,
                              .epoch = 1, .senders_max = 1024};
    struct frame_ctx *c = frame_ctx_new(&fc);
    frame_ctx_set_keyring(c, r);
    frame_ctx_set_identity(c, ca_pk, h->sk, h->cert, h->cert_len);
    return c;
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
    struct frame_ctx *ca = ctx("host-a.example.org", "10.0.0.1:7946", &a, &ring, ca_pk);
    struct frame_ctx *cb = ctx("host-b.example.org", "10.0.0.2:7946", &b, &ring, ca_pk);
    uint8_t *data = calloc(1, payload + 1);
    size_t size = frame_sealed_size(ca, "10.0.0.2:7946", payload);
    uint8_t *frames = malloc(size * (size_t)rounds);
    double t0 = now_s();
    for (int i = 0; i < rounds; i++)
        frame_seal(ca, frames + size * (size_t)i, "10.0.0.2:7946", CHANNEL_GOSSIP, data, payload);
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
    struct cert_info info;
    int certs = rounds / 10 ? rounds / 10 : 1;
    t0 = now_s();
    for (int i = 0; i < certs; i++)
        cert_verify(ca_pk, a.cert, a.cert_len, &info);
    double verify = (now_s() - t0) / certs;
    printf("frame of %zu payload bytes: %zu bytes on the wire (%zu of overhead)\n", payload, size,
           size - payload);
    printf("seal %.1f us, open %.1f us (certificate cached; %d of %d accepted), "
           "certificate verification %.1f us (a sender first seen)\n",
           seal * 1e6, open * 1e6, ok, rounds, verify * 1e6);
    printf("one core opens %.0f frames/s and seals %.0f frames/s\n", 1 / open, 1 / seal);
    frame_ctx_free(ca);
    frame_ctx_free(cb);
    free(frames);
    free(data);
    return ok == rounds ? 0 : 1;
}
