/* Certificates, keyrings and frame contexts made in memory, for the tests
 * of the frame layer, the transport and discovery, and the fake peers of
 * the process tests. */
#ifndef NODECTL_FRAME_FIXTURE_H
#define NODECTL_FRAME_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "net/frame.h"

struct fixture_ca {
    uint8_t pk[CERT_PK_BYTES], sk[CERT_SK_BYTES];
};

struct fixture_host {
    char name[CERT_NAME_MAX];
    char addr[FRAME_ADDR_MAX];
    uint8_t pk[CERT_PK_BYTES], sk[CERT_SK_BYTES];
    uint8_t cert[CERT_MAX];
    size_t cert_len;
};

void fixture_ca(struct fixture_ca *ca);
/* A host with a fresh key pair, certified by `by` for [not_before,
 * not_after] (seconds). */
void fixture_host(struct fixture_host *h, const char *name, const char *addr,
                  const struct fixture_ca *by, bool candidate, uint64_t not_before,
                  uint64_t not_after);
/* A one-key keyring whose key is 32 bytes of fill. */
void fixture_ring(struct keyring *r, uint8_t fill);
/* A keyed context for h in cluster "c1" that trusts `trust`. */
struct frame_ctx *fixture_ctx(const struct fixture_host *h, uint64_t epoch,
                              const struct keyring *r, const struct fixture_ca *trust);
/* An insecure one. */
struct frame_ctx *fixture_insecure_ctx(const char *name, const char *addr, uint64_t epoch);

#endif
