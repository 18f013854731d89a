#include "sim_sign.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/signed_record.h"

/* Certificates valid over any simulated time (the wall clock is not
 * simulated; the check runs at this time). */
#define CERT_TIME 1000000000u

struct node_key {
    struct sim_signer *s;
    uint32_t i;
    uint8_t sk[CERT_SK_BYTES];
    uint8_t cert[CERT_MAX];
    size_t cert_len;
};

struct sim_signer {
    uint8_t ca_pk[CERT_PK_BYTES];
    struct cert_cache cache; /* one for all nodes: the CA's signature is checked once */
    struct sim_sign_stats stats;
    struct node_key *k;
};

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sim_signer *sim_signer_new(uint32_t nodes) {
    if (sodium_init() < 0)
        return NULL;
    struct sim_signer *s = calloc(1, sizeof *s);
    if (!s || !(s->k = calloc(nodes, sizeof *s->k))) {
        free(s);
        return NULL;
    }
    uint8_t ca_sk[CERT_SK_BYTES];
    crypto_sign_keypair(s->ca_pk, ca_sk);
    for (uint32_t i = 0; i < nodes; i++) {
        struct node_key *k = &s->k[i];
        struct cert_info info = {.not_before = CERT_TIME - 1, .not_after = CERT_TIME + 1};
        snprintf(info.name, sizeof info.name, "n%u", i);
        crypto_sign_keypair(info.public_key, k->sk);
        k->s = s;
        k->i = i;
        k->cert_len = cert_issue(ca_sk, &info, k->cert);
    }
    sodium_memzero(ca_sk, sizeof ca_sk);
    s->stats.overhead = nodes ? signed_record_size(s->k[0].cert_len, 0) : 0;
    return s;
}

void sim_signer_free(struct sim_signer *s) {
    if (!s)
        return;
    free(s->k);
    free(s);
}

static int seal(void *ctx, uint64_t version, const uint8_t *data, size_t len, uint8_t **out,
                size_t *out_len) {
    struct node_key *k = ctx;
    double t0 = cpu_now();
    *out = malloc(signed_record_size(k->cert_len, len));
    if (!*out)
        return -1;
    *out_len = signed_record_seal(k->sk, k->cert, k->cert_len, k->i + 1, version, data, len, *out);
    k->s->stats.seals++;
    k->s->stats.seal_s += cpu_now() - t0;
    return 0;
}

static bool verify(void *ctx, uint64_t id, uint64_t version, const uint8_t *data, size_t len) {
    struct sim_signer *s = ((struct node_key *)ctx)->s;
    double t0 = cpu_now();
    struct signed_record sr;
    struct cert_info owner;
    char name[CERT_NAME_MAX];
    snprintf(name, sizeof name, "n%llu", (unsigned long long)(id - 1));
    bool ok = signed_record_verify(&s->cache, s->ca_pk, CERT_TIME, id, version, data, len, &sr,
                                   &owner) == SIGNED_RECORD_OK &&
              strcmp(owner.name, name) == 0;
    s->stats.verifies++;
    s->stats.refused += !ok;
    s->stats.verify_s += cpu_now() - t0;
    return ok;
}

void sim_signer_configure(struct sim_signer *s, uint32_t i, struct gossip_config *cfg) {
    cfg->record_seal = seal;
    cfg->record_verify = verify;
    cfg->record_ctx = &s->k[i];
}

const struct sim_sign_stats *sim_signer_stats(const struct sim_signer *s) {
    return &s->stats;
}
