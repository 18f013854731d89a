#include "session.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define SETS (SESSION_PEERS / 2)
static const char DOMAIN[] = "nodectl frame key v1";

_Static_assert(SESSION_PEERS % 2 == 0, "two ways per set");

/* A peer by its Ed25519 key, with the keys of both directions: derived
 * together from one X25519 agreement, whichever of session_rx_key and
 * session_learn meets the peer first. */
struct peer_entry {
    uint64_t tick; /* 0: free */
    uint8_t pk[CERT_PK_BYTES];
    uint8_t rx[SESSION_KEY_BYTES]; /* its frames to this host */
    uint8_t tx[SESSION_KEY_BYTES]; /* this host's frames to it */
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
    struct peer_entry peer[SETS][2];
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

/* The key of frames from `from` to `to` (Ed25519 public keys, one of which
 * is ours) under the pair's X25519 secret. */
static void direction_key(const uint8_t shared[crypto_scalarmult_BYTES],
                          const uint8_t from[CERT_PK_BYTES], const uint8_t to[CERT_PK_BYTES],
                          uint8_t key[SESSION_KEY_BYTES]) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, shared, crypto_scalarmult_BYTES, SESSION_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)DOMAIN, sizeof DOMAIN);
    crypto_generichash_update(&st, from, CERT_PK_BYTES);
    crypto_generichash_update(&st, to, CERT_PK_BYTES);
    crypto_generichash_final(&st, key, SESSION_KEY_BYTES);
    sodium_memzero(&st, sizeof st);
}

/* The entry of peer, its keys derived when it had none (the least recently
 * used way of its set replaced, a free one first); NULL if there is no
 * identity or the key is not a usable point, nothing kept then. */
static struct peer_entry *peer_keys(struct session_keys *s, const uint8_t peer[CERT_PK_BYTES]) {
    struct peer_entry *set = s->peer[(peer[0] | (unsigned)peer[1] << 8) % SETS];
    for (int w = 0; w < 2; w++)
        if (set[w].tick && memcmp(set[w].pk, peer, CERT_PK_BYTES) == 0) {
            set[w].tick = ++s->tick;
            return &set[w];
        }
    uint8_t x_pk[crypto_scalarmult_curve25519_BYTES];
    uint8_t shared[crypto_scalarmult_BYTES];
    if (!s->has_identity || crypto_sign_ed25519_pk_to_curve25519(x_pk, peer) != 0 ||
        crypto_scalarmult(shared, s->x_sk, x_pk) != 0) { /* -1: a low-order point */
        sodium_memzero(shared, sizeof shared);
        return NULL;
    }
    struct peer_entry *e = set[0].tick <= set[1].tick ? &set[0] : &set[1];
    sodium_memzero(e, sizeof *e);
    direction_key(shared, peer, s->pk, e->rx);
    direction_key(shared, s->pk, peer, e->tx);
    sodium_memzero(shared, sizeof shared);
    memcpy(e->pk, peer, CERT_PK_BYTES);
    e->tick = ++s->tick;
    return e;
}

bool session_rx_key(struct session_keys *s, const uint8_t sender_pk[CERT_PK_BYTES],
                    uint8_t key[SESSION_KEY_BYTES]) {
    const struct peer_entry *e = peer_keys(s, sender_pk);
    if (!e)
        return false;
    memcpy(key, e->rx, SESSION_KEY_BYTES);
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
    /* Its own copy of the key: the peer's entry may be replaced first. */
    const struct peer_entry *p = peer_keys(s, pk);
    if (p)
        memcpy(e->key, p->tx, SESSION_KEY_BYTES);
    e->contested = !p; /* never usable: signed */
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
