#include "signed_record.h"

#include <sodium.h>
#include <string.h>

static const uint8_t MAGIC[4] = {'n', 'd', 'r', '1'};
#define HEADER_LEN (sizeof MAGIC + 2)

/* Domain separation: a host's signature over a record can never be taken
 * for its signature over a frame, nor the CA's over a certificate. */
static const char DOMAIN[] = "nodectl record 1";
static const char ID_DOMAIN[] = "nodectl member id 1";

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t signed_record_member_id(const char *name) {
    uint8_t h[8];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)ID_DOMAIN, sizeof ID_DOMAIN - 1);
    crypto_generichash_update(&st, (const uint8_t *)name, strlen(name));
    crypto_generichash_final(&st, h, sizeof h);
    uint64_t id = 0;
    for (int i = 7; i >= 0; i--)
        id = id << 8 | h[i];
    return id ? id : 1;
}

const char *signed_record_result_name(enum signed_record_result r) {
    switch (r) {
    case SIGNED_RECORD_OK: return "valid";
    case SIGNED_RECORD_MALFORMED: return "malformed";
    case SIGNED_RECORD_MODE: return "signed or not unlike this host's records";
    case SIGNED_RECORD_BAD_CERT: return "a certificate not of this cluster's CA";
    case SIGNED_RECORD_CERT_EXPIRED: return "an expired or not yet valid certificate";
    case SIGNED_RECORD_BAD_SIGNATURE: return "a signature not over this member's record and version";
    }
    return "unknown";
}

size_t signed_record_size(size_t cert_len, size_t len) {
    return HEADER_LEN + (cert_len ? cert_len + CERT_SIG_BYTES : 0) + len;
}

/* Ed25519ph (libsodium's multi-part signature) over the domain, the id,
 * the version and the record: no copy of a record of up to a megabyte. */
static void sign_start(crypto_sign_state *st, uint64_t id, uint64_t version) {
    uint8_t iv[16];
    put_u64(iv, id);
    put_u64(iv + 8, version);
    crypto_sign_init(st);
    crypto_sign_update(st, (const uint8_t *)DOMAIN, sizeof DOMAIN - 1);
    crypto_sign_update(st, iv, sizeof iv);
}

size_t signed_record_seal(const uint8_t *sk, const uint8_t *cert, size_t cert_len, uint64_t id,
                          uint64_t version, const uint8_t *record, size_t len, uint8_t *out) {
    if (cert_len > CERT_MAX)
        return 0;
    memcpy(out, MAGIC, sizeof MAGIC);
    out[4] = (uint8_t)cert_len;
    out[5] = (uint8_t)(cert_len >> 8);
    uint8_t *p = out + HEADER_LEN;
    if (cert_len) {
        memcpy(p, cert, cert_len);
        p += cert_len;
        crypto_sign_state st;
        sign_start(&st, id, version);
        crypto_sign_update(&st, record, len);
        crypto_sign_final_create(&st, p, NULL, sk);
        p += CERT_SIG_BYTES;
    }
    if (len)
        memcpy(p, record, len);
    return (size_t)(p - out) + len;
}

bool signed_record_parse(const uint8_t *data, size_t len, struct signed_record *out) {
    if (len < HEADER_LEN || memcmp(data, MAGIC, sizeof MAGIC) != 0)
        return false;
    size_t cert_len = (size_t)data[4] | (size_t)data[5] << 8;
    size_t head = HEADER_LEN + (cert_len ? cert_len + CERT_SIG_BYTES : 0);
    if (cert_len > CERT_MAX || head > len)
        return false;
    *out = (struct signed_record){.cert = cert_len ? data + HEADER_LEN : NULL,
                                  .cert_len = cert_len,
                                  .record = data + head,
                                  .len = len - head};
    return true;
}

enum signed_record_result signed_record_verify(struct cert_cache *cache,
                                               const uint8_t *ca_pk, uint64_t now_s,
                                               uint64_t id, uint64_t version,
                                               const uint8_t *data, size_t len,
                                               struct signed_record *out,
                                               struct cert_info *owner) {
    if (!signed_record_parse(data, len, out))
        return SIGNED_RECORD_MALFORMED;
    if (!ca_pk)
        return out->cert ? SIGNED_RECORD_MODE : SIGNED_RECORD_OK;
    if (!out->cert)
        return SIGNED_RECORD_MODE;
    if (cert_cache_verify(cache, ca_pk, out->cert, out->cert_len, owner) != CERT_OK)
        return SIGNED_RECORD_BAD_CERT;
    if (cert_valid_at(owner, now_s) != CERT_OK)
        return SIGNED_RECORD_CERT_EXPIRED;
    crypto_sign_state st;
    sign_start(&st, id, version);
    crypto_sign_update(&st, out->record, out->len);
    uint8_t sig[CERT_SIG_BYTES];
    memcpy(sig, out->cert + out->cert_len, sizeof sig);
    if (crypto_sign_final_verify(&st, sig, owner->public_key) != 0)
        return SIGNED_RECORD_BAD_SIGNATURE;
    return SIGNED_RECORD_OK;
}
