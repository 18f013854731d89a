#include "cert.h"

#include <sodium.h>
#include <string.h>

#include "cert.pb-c.h"

_Static_assert(crypto_sign_PUBLICKEYBYTES == CERT_PK_BYTES, "public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == CERT_SK_BYTES, "secret key size");
_Static_assert(crypto_sign_SEEDBYTES == CERT_SEED_BYTES, "seed size");
_Static_assert(crypto_sign_BYTES == CERT_SIG_BYTES, "signature size");

/* Domain separation: the CA's signature over a body can never be taken for
 * a signature over anything else. */
static const char DOMAIN[] = "nodectl certificate 1";
#define DOMAIN_LEN (sizeof DOMAIN - 1)

const char *cert_result_text(enum cert_result r) {
    switch (r) {
    case CERT_OK: return "valid";
    case CERT_MALFORMED: return "malformed";
    case CERT_BAD_SIGNATURE: return "not signed by this cluster's CA";
    case CERT_NOT_YET_VALID: return "not valid yet";
    case CERT_EXPIRED: return "expired";
    }
    return "unknown";
}

size_t cert_issue(const uint8_t ca_sk[CERT_SK_BYTES], const struct cert_info *info,
                  uint8_t out[CERT_MAX]) {
    size_t name_len = strnlen(info->name, CERT_NAME_MAX);
    if (name_len == 0 || name_len >= CERT_NAME_MAX)
        return 0;
    Nodectl__CertificateBody body = NODECTL__CERTIFICATE_BODY__INIT;
    body.name = (char *)info->name;
    body.public_key.data = (uint8_t *)info->public_key;
    body.public_key.len = CERT_PK_BYTES;
    body.candidate = info->candidate;
    body.not_before = info->not_before;
    body.not_after = info->not_after;
    body.serial = info->serial;
    uint8_t signed_bytes[DOMAIN_LEN + CERT_MAX];
    size_t body_len = nodectl__certificate_body__get_packed_size(&body);
    if (body_len > CERT_MAX)
        return 0;
    memcpy(signed_bytes, DOMAIN, DOMAIN_LEN);
    nodectl__certificate_body__pack(&body, signed_bytes + DOMAIN_LEN);
    uint8_t sig[CERT_SIG_BYTES];
    crypto_sign_detached(sig, NULL, signed_bytes, DOMAIN_LEN + body_len, ca_sk);
    Nodectl__Certificate cert = NODECTL__CERTIFICATE__INIT;
    cert.body.data = signed_bytes + DOMAIN_LEN;
    cert.body.len = body_len;
    cert.signature.data = sig;
    cert.signature.len = sizeof sig;
    size_t len = nodectl__certificate__get_packed_size(&cert);
    if (len > CERT_MAX)
        return 0;
    return nodectl__certificate__pack(&cert, out);
}

/* Unpacks with protobuf-c into the caller's bounded buffer: cert is at most
 * CERT_MAX bytes, so the decoded certificate is small. */
enum cert_result cert_verify(const uint8_t ca_pk[CERT_PK_BYTES], const uint8_t *cert, size_t len,
                             struct cert_info *out) {
    if (len == 0 || len > CERT_MAX)
        return CERT_MALFORMED;
    Nodectl__Certificate *c = nodectl__certificate__unpack(NULL, len, cert);
    if (!c)
        return CERT_MALFORMED;
    enum cert_result rc = CERT_OK;
    uint8_t signed_bytes[DOMAIN_LEN + CERT_MAX];
    Nodectl__CertificateBody *b = NULL;
    if (c->signature.len != CERT_SIG_BYTES || c->body.len > CERT_MAX) {
        rc = CERT_MALFORMED;
    } else {
        memcpy(signed_bytes, DOMAIN, DOMAIN_LEN);
        if (c->body.len) /* an empty body decodes with no data pointer */
            memcpy(signed_bytes + DOMAIN_LEN, c->body.data, c->body.len);
        if (crypto_sign_verify_detached(c->signature.data, signed_bytes,
                                        DOMAIN_LEN + c->body.len, ca_pk) != 0)
            rc = CERT_BAD_SIGNATURE;
    }
    if (rc == CERT_OK) {
        b = nodectl__certificate_body__unpack(NULL, c->body.len, c->body.data);
        size_t name_len = b ? strlen(b->name) : 0;
        if (!b || name_len == 0 || name_len >= CERT_NAME_MAX ||
            b->public_key.len != CERT_PK_BYTES) {
            rc = CERT_MALFORMED;
        } else {
            memset(out, 0, sizeof *out);
            memcpy(out->name, b->name, name_len);
            memcpy(out->public_key, b->public_key.data, CERT_PK_BYTES);
            out->candidate = b->candidate;
            out->not_before = b->not_before;
            out->not_after = b->not_after;
            out->serial = b->serial;
        }
    }
    if (b)
        nodectl__certificate_body__free_unpacked(b, NULL);
    nodectl__certificate__free_unpacked(c, NULL);
    return rc;
}

enum cert_result cert_valid_at(const struct cert_info *info, uint64_t now_s) {
    if (now_s < info->not_before)
        return CERT_NOT_YET_VALID;
    if (now_s > info->not_after)
        return CERT_EXPIRED;
    return CERT_OK;
}

enum cert_result cert_cache_verify(struct cert_cache *c, const uint8_t ca_pk[CERT_PK_BYTES],
                                   const uint8_t *cert, size_t len, struct cert_info *out) {
    if (len == 0 || len > CERT_MAX)
        return CERT_MALFORMED;
    /* Untouched while empty: its pages stay unused until a first entry. */
    if (c->tick && sodium_memcmp(c->ca_pk, ca_pk, CERT_PK_BYTES) != 0)
        cert_cache_clear(c);
    uint8_t h[32];
    crypto_generichash(h, sizeof h, cert, len, NULL, 0);
    struct cert_cache_entry *set = c->e[(h[0] | (unsigned)h[1] << 8) % (CERT_CACHE_SIZE / 2)];
    for (int w = 0; w < 2; w++) {
        if (set[w].used && sodium_memcmp(set[w].hash, h, sizeof h) == 0) {
            set[w].used = ++c->tick;
            *out = set[w].info;
            return CERT_OK;
        }
    }
    enum cert_result rc = cert_verify(ca_pk, cert, len, out);
    if (rc == CERT_OK) {
        memcpy(c->ca_pk, ca_pk, CERT_PK_BYTES);
        struct cert_cache_entry *e = set[0].used <= set[1].used ? &set[0] : &set[1];
        e->used = ++c->tick;
        memcpy(e->hash, h, sizeof h);
        e->info = *out;
    }
    return rc;
}

void cert_cache_clear(struct cert_cache *c) { memset(c, 0, sizeof *c); }
