#include "session.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define SETS (SESSION_PEERS / 2)
static const char DOMAIN[] = "nodectl frame key v1";

_Static_assert(SESSION_PEERS % 2 == 0, "two ways per set");

struct rx_entry {
    uint64_t tick; /* 0: free */
    uint8_t pk[CERT_PK_BYTES];
    uint8_t key[SESSION_KEY_BYTES];
};

struct tx_entry {
    uint64_t tick; /* 0: free */
    bool contested;
    char addr[FRAME_ADDR_MAX];
    uint8_t pk[CERT_PK_BYTES];
    uint8_t key[SESSION_KEY_BYTES];
};

struct session_keys {
    bool has_identity;
    uint8_t pk[CERT_PK_BYTES];
    uint8_t x_sk[crypto_scalarmult_curve25519_BYTES];
    uint64_t tick;
    struct rx_entry rx[SETS][2];
    struct tx_entry tx[SETS][2];
};

struct session_keys *session_new(void) { return calloc(1, sizeof(struct session_keys)); }

void session_free(struct session_keys *s) {
    if (!s)
        return;
    sodium_memzero(s, sizeof *s);
    free(s);
}

int session_set_identity(struct session_keys *s, const uint8_t sk[CERT_SK_BYTES]) {
    uint8_t x_sk[crypto_scalarmult_curve25519_BYTES];
    if (crypto_sign_ed25519_sk_to_curve25519(x_sk, sk) != 0)
        return -1;
    if (s->has_identity && sodium_memcmp(s->x_sk, x_sk, sizeof x_sk) == 0) {
        sodium_memzero(x_sk, sizeof x_sk);
        return 0;
    }
    /* The tables are of the key before (calloc'd zeros until the first:
     * left untouched, so that unused entries cost no resident memory). */
    if (s->has_identity)
        sodium_memzero(s, sizeof *s);
    memcpy(s->x_sk, x_sk, sizeof x_sk);
    /* An Ed25519 secret key holds its public key in its second half. */
    memcpy(s->pk, sk + CERT_SK_BYTES - CERT_PK_BYTES, CERT_PK_BYTES);
    s->has_identity = true;
    sodium_memzero(x_sk, sizeof x_sk);
    return 0;
}

/* The key of frames from `from` to `to` (Ed25519 public keys), one of
 * which is ours. */
static bool derive(const struct session_keys *s, const uint8_t peer[CERT_PK_BYTES],
                   const uint8_t from[CERT_PK_BYTES], const uint8_t to[CERT_PK_BYTES],
                   uint8_t key[SESSION_KEY_BYTES]) {
    uint8_t x_pk[crypto_scalarmult_curve25519_BYTES];
    uint8_t shared[crypto_scalarmult_BYTES];
    if (!s->has_identity || crypto_sign_ed25519_pk_to_curve25519(x_pk, peer) != 0 ||
        crypto_scalarmult(shared, s->x_sk, x_pk) != 0) /* -1: a low-order point */
        return false;
    crypto_generichash_state st;
    crypto_generichash_init(&st, shared, sizeof shared, SESSION_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)DOMAIN, sizeof DOMAIN);
    crypto_generichash_update(&st, from, CERT_PK_BYTES);
    crypto_generichash_update(&st, to, CERT_PK_BYTES);
    crypto_generichash_final(&st, key, SESSION_KEY_BYTES);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(&st, sizeof st);
    return true;
}

/* The way of a set that holds pk, else the least recently used one (a free
 * one first). */
static struct rx_entry *rx_slot(struct session_keys *s, const uint8_t pk[CERT_PK_BYTES]) {
    struct rx_entry *set = s->rx[(pk[0] | (unsigned)pk[1] << 8) % SETS];
    for (int w = 0; w < 2; w++)
        if (set[w].tick && memcmp(set[w].pk, pk, CERT_PK_BYTES) == 0)
            return &set[w];
    return set[0].tick <= set[1].tick ? &set[0] : &set[1];
}

bool session_rx_key(struct session_keys *s, const uint8_t sender_pk[CERT_PK_BYTES],
                    uint8_t key[SESSION_KEY_BYTES]) {
    struct rx_entry *e = rx_slot(s, sender_pk);
    if (!e->tick || memcmp(e->pk, sender_pk, CERT_PK_BYTES) != 0) {
        if (!derive(s, sender_pk, sender_pk, s->pk, e->key)) {
            sodium_memzero(e, sizeof *e);
            return false;
        }
        memcpy(e->pk, sender_pk, CERT_PK_BYTES);
    }
    e->tick = ++s->tick;
    memcpy(key, e->key, SESSION_KEY_BYTES);
    return true;
}

/* The way that holds addr, else the least recently used one. FNV-1a: the
 * address is no secret, and a collision costs a signature. */
static struct tx_entry *tx_slot(struct session_keys *s, const char *addr) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = addr; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    struct tx_entry *set = s->tx[h % SETS];
    for (int w = 0; w < 2; w++)
        if (set[w].tick && strcmp(set[w].addr, addr) == 0)
            return &set[w];
    return set[0].tick <= set[1].tick ? &set[0] : &set[1];
}

void session_learn(struct session_keys *s, const char *addr, const uint8_t pk[CERT_PK_BYTES]) {
    size_t len = strlen(addr);
    if (!s->has_identity || len >= FRAME_ADDR_MAX)
        return;
    struct tx_entry *e = tx_slot(s, addr);
    if (e->tick && strcmp(e->addr, addr) == 0) {
        /* Two keys for one address: a host replaced, or one claiming
         * another's address. Either way no key is known to be right. */
        if (!e->contested && memcmp(e->pk, pk, CERT_PK_BYTES) != 0) {
            e->contested = true;
            sodium_memzero(e->key, sizeof e->key);
        }
        e->tick = ++s->tick;
        return;
    }
    sodium_memzero(e, sizeof *e);
    memcpy(e->addr, addr, len + 1);
    memcpy(e->pk, pk, CERT_PK_BYTES);
    e->contested = !derive(s, pk, s->pk, pk, e->key); /* never usable: signed */
    e->tick = ++s->tick;
}

bool session_tx_key(struct session_keys *s, const char *addr, uint8_t key[SESSION_KEY_BYTES]) {
    struct tx_entry *e = tx_slot(s, addr);
    if (!e->tick || e->contested || strcmp(e->addr, addr) != 0)
        return false;
    e->tick = ++s->tick;
    memcpy(key, e->key, SESSION_KEY_BYTES);
    return true;
}
