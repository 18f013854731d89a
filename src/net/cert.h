/* Host certificates (proto/cert.proto): the cluster CA's Ed25519 signature
 * over a host's name, public key, candidacy and validity. Pure: no I/O; the
 * time is an input. A small cache keyed by the certificate's hash keeps the
 * CA signature from being checked again for every frame. */
#ifndef NODECTL_CERT_H
#define NODECTL_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CERT_PK_BYTES 32
#define CERT_SK_BYTES 64
#define CERT_SEED_BYTES 32
#define CERT_SIG_BYTES 64
#define CERT_NAME_MAX 64 /* with the NUL; as CONFIG_NAME_MAX */
/* The largest packed certificate accepted: a 63-byte name, a key, a
 * signature and their framing take about 190. */
#define CERT_MAX 400
/* Certificates cached: the hosts of a large cluster (two-way set
 * associative, so that a few hundred senders seldom evict each other). */
#define CERT_CACHE_SIZE 1024

struct cert_info {
    char name[CERT_NAME_MAX];
    uint8_t public_key[CERT_PK_BYTES];
    bool candidate;
    uint64_t not_before, not_after; /* seconds since the epoch */
    uint64_t serial;
};

enum cert_result {
    CERT_OK,
    CERT_MALFORMED,     /* does not decode, or a field is out of bounds */
    CERT_BAD_SIGNATURE, /* not signed by this CA */
    CERT_NOT_YET_VALID,
    CERT_EXPIRED,
};
const char *cert_result_text(enum cert_result r);

/* Signs info with the CA's secret key into out (CERT_MAX bytes); its
 * length, or 0 if the name is empty or too long. */
size_t cert_issue(const uint8_t ca_sk[CERT_SK_BYTES], const struct cert_info *info,
                  uint8_t out[CERT_MAX]);
/* Decodes cert and checks the CA's signature (not the validity period). */
enum cert_result cert_verify(const uint8_t ca_pk[CERT_PK_BYTES], const uint8_t *cert, size_t len,
                             struct cert_info *out);
enum cert_result cert_valid_at(const struct cert_info *info, uint64_t now_s);

/* Verified certificates by the BLAKE2b hash of their bytes, two ways per
 * set, the least recently used replaced: a collision costs one more
 * verification, never a wrong answer. Only certificates that verified are
 * ever stored, and all under one CA: asked with another CA's key, the cache
 * empties itself first, so that it can be shared by checks that each name
 * their CA (frame_open and the agent's signed records). */
struct cert_cache {
    uint64_t tick; /* 0: empty */
    uint8_t ca_pk[CERT_PK_BYTES]; /* the CA of every entry */
    struct cert_cache_entry {
        uint64_t used; /* when last used; 0: free */
        uint8_t hash[32];
        struct cert_info info;
    } e[CERT_CACHE_SIZE / 2][2];
};
/* cert_verify through the cache. */
enum cert_result cert_cache_verify(struct cert_cache *c, const uint8_t ca_pk[CERT_PK_BYTES],
                                   const uint8_t *cert, size_t len, struct cert_info *out);
void cert_cache_clear(struct cert_cache *c);

#endif
