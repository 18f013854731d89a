#include "frame_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

void fixture_ca(struct fixture_ca *ca) {
    assert_int_equal(frame_init(), 0);
    crypto_sign_keypair(ca->pk, ca->sk);
}

void fixture_host(struct fixture_host *h, const char *name, const char *addr,
                  const struct fixture_ca *by, bool candidate, uint64_t not_before,
                  uint64_t not_after) {
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->addr, sizeof h->addr, "%s", addr);
    crypto_sign_keypair(h->pk, h->sk);
    struct cert_info info = {.candidate = candidate, .not_before = not_before,
                             .not_after = not_after, .serial = 7};
    snprintf(info.name, sizeof info.name, "%s", name);
    memcpy(info.public_key, h->pk, sizeof h->pk);
    h->cert_len = cert_issue(by->sk, &info, h->cert);
    assert_true(h->cert_len > 0);
}

void fixture_ring(struct keyring *r, uint8_t fill) {
    uint8_t key[KEYRING_KEY_BYTES];
    memset(key, fill, sizeof key);
    memset(r, 0, sizeof *r);
    char err[128];
    assert_int_equal(keyring_install(r, key, err, sizeof err), 0);
}

struct frame_ctx *fixture_ctx(const struct fixture_host *h, uint64_t epoch,
                              const struct keyring *r, const struct fixture_ca *trust) {
    struct frame_config fc = {.cluster = "c1", .name = h->name, .addrs = {h->addr}, .n_addrs = 1,
                              .epoch = epoch, .senders_max = 64};
    struct frame_ctx *c = frame_ctx_new(&fc);
    assert_non_null(c);
    frame_ctx_set_keyring(c, r);
    frame_ctx_set_identity(c, trust->pk, h->sk, h->cert, h->cert_len);
    return c;
}

struct frame_ctx *fixture_insecure_ctx(const char *name, const char *addr, uint64_t epoch) {
    struct frame_config fc = {.cluster = "c1", .name = name, .addrs = {addr}, .n_addrs = 1,
                              .insecure = true, .epoch = epoch, .senders_max = 64};
    struct frame_ctx *c = frame_ctx_new(&fc);
    assert_non_null(c);
    return c;
}
