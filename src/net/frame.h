/* The frame every agent-to-agent message travels in, over TCP
 * (transport.c) and in multicast discovery beacons (discovery.c). Pure: no
 * I/O; the wall clock is an input (docs/security.md, layers 2 to 4).
 *
 *   outer  = 0x01 | key id (4) | nonce (24) | secretbox(inner)   keyed
 *            0x81 | inner                                       insecure
 *   inner  = "ndf1" | channel | lengths | auth | epoch | seq | cluster | to
 *            | from | name | certificate | payload | Ed25519 signature or
 *            the pair's MAC (keyed)
 *
 * The box is libsodium's crypto_secretbox (XSalsa20-Poly1305, a random
 * nonce) under the keyring's primary key, named by its id; the receiver
 * opens it in place, in the frame's own buffer, with the key of that id, so
 * nothing is decoded or allocated before the MAC checked. Inside, the
 * sender's certificate (proto/cert.proto, checked against the cluster CA
 * through a cache) names the sender; its key signs the inner bytes, or,
 * once this host has heard from the recipient, a MAC under the key only the
 * two of them derive (session.h) authenticates them. The
 * frame names its recipient ("host:port", or "*" for a discovery beacon)
 * and carries the sender's boot epoch and a sequence number, which a
 * per-sender window (replay.h) accepts once. An insecure frame (tests
 * only) has no box, certificate or signature: its name is a claim. */
#ifndef NODECTL_FRAME_H
#define NODECTL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "keyring.h"

#define FRAME_ADDR_MAX 128   /* "host:port" with its NUL */
#define FRAME_NAME_MAX 64    /* a host name with its NUL, as CERT_NAME_MAX */
#define FRAME_CLUSTER_MAX 64 /* a cluster name with its NUL */
#define FRAME_SELF_ADDRS 16
/* The most a frame adds to its payload. */
#define FRAME_OVERHEAD_MAX                                                                      \
    (1 + 4 + 24 + 16 + 28 + FRAME_CLUSTER_MAX + 2 * FRAME_ADDR_MAX + FRAME_NAME_MAX + CERT_MAX + \
     CERT_SIG_BYTES)
/* The recipient of a discovery beacon: every agent on the LAN. */
#define FRAME_TO_ALL "*"

/* What a frame's payload is for. */
enum frame_channel {
    CHANNEL_GOSSIP = 1,
    CHANNEL_ELECTION = 2,
    CHANNEL_DISCOVERY = 3,
    CHANNEL_COMMAND = 4,
    CHANNEL_FORWARD = 5, /* a control request forwarded to the leader, and its answer */
};
#define CHANNELS 6 /* channel numbers are below this */
/* "gossip", "election", ...; "other" for a number no channel has. */
const char *frame_channel_name(uint32_t channel);

/* Where a frame came in: a unicast frame must name this host, a beacon
 * "*" on the discovery channel. */
enum frame_path { FRAME_PATH_UNICAST, FRAME_PATH_DISCOVERY };

/* The outcome of frame_open, in the order the checks run. Every refusal is
 * counted by its reason. */
enum frame_result {
    FRAME_OK,
    FRAME_SELF,          /* this host's own frame (a beacon looped back): dropped */
    FRAME_MALFORMED,     /* too short, an unknown version, or an inner part out of bounds */
    FRAME_MODE,          /* insecure to a keyed host, or the reverse */
    FRAME_UNKNOWN_KEY,   /* no installed key has its key id */
    FRAME_BAD_MAC,       /* the box does not open */
    FRAME_WRONG_CLUSTER,
    FRAME_BAD_CERT,      /* does not decode or is not signed by this cluster's CA */
    FRAME_CERT_EXPIRED,  /* or not valid yet */
    FRAME_NAME_MISMATCH, /* the frame claims a sender its certificate does not name */
    FRAME_BAD_SIGNATURE,
    FRAME_BAD_PAIR_MAC,  /* a frame under the pair's key (session.h) that does not check */
    FRAME_MISADDRESSED,  /* meant for another host, or "*" outside discovery */
    FRAME_OLD_EPOCH,     /* from before its sender's last restart */
    FRAME_REPLAY,        /* this (epoch, sequence number) was accepted already */
    FRAME_STALE,         /* below the sender's window: cannot be told from a replay */
    FRAME_NO_MEMORY,
    FRAME_RESULTS
};
/* A short name for counters and logs ("replay", "misaddressed", ...). */
const char *frame_result_name(enum frame_result r);

struct frame_msg {
    char from[FRAME_ADDR_MAX];  /* the address the sender listens on, as it says */
    char sender[FRAME_NAME_MAX]; /* its certificate's name (insecure: its claim) */
    bool candidate;             /* its certificate says candidate (insecure: true) */
    uint32_t channel;
    uint64_t epoch, seq;
    uint8_t *payload; /* FRAME_OK: owned by the receiver, free() it */
    size_t len;
    /* A refusal: the first of its reason (for this sender, once it is
     * known), which the caller logs; later ones are only counted. */
    bool report;
};

struct frame_config {
    const char *cluster;
    const char *name; /* this host's [node] name */
    /* The "host:port" forms this host is reached at; addrs[0] is the one it
     * advertises (the frame's from). */
    const char *addrs[FRAME_SELF_ADDRS];
    size_t n_addrs;
    bool insecure;
    uint64_t epoch; /* this host's boot epoch */
    size_t senders_max;
};

struct frame_ctx;

/* Initialises libsodium; 0, or -1 if it cannot be used. */
int frame_init(void);
/* NULL when out of memory. A keyed context seals nothing until it has a
 * keyring and an identity. */
struct frame_ctx *frame_ctx_new(const struct frame_config *cfg);
void frame_ctx_free(struct frame_ctx *c);
/* Replaces the keys (a reload). */
void frame_ctx_set_keyring(struct frame_ctx *c, const struct keyring *r);
const struct keyring *frame_ctx_keyring(const struct frame_ctx *c);
/* This host's signing key and certificate (the caller checked that they
 * match, cert_verify) and the CA's public key; a new CA empties the
 * certificate cache (at its next use: cert.h). */
void frame_ctx_set_identity(struct frame_ctx *c, const uint8_t ca_pk[CERT_PK_BYTES],
                            const uint8_t sk[CERT_SK_BYTES], const uint8_t *cert, size_t len);
bool frame_ctx_insecure(const struct frame_ctx *c);
/* The cache frame_open checks senders' certificates through, for the
 * other checks of the same certificates (the agent's signed records), so
 * that each is verified once: pass it with the CA's key of
 * frame_ctx_set_identity (another empties it). */
struct cert_cache *frame_ctx_cert_cache(struct frame_ctx *c);
/* How many frames ended with each result. */
void frame_ctx_counts(const struct frame_ctx *c, uint64_t out[FRAME_RESULTS]);

/* The size of the frame frame_seal writes for a payload of len bytes to
 * `to`; 0 if to is too long. */
size_t frame_sealed_size(struct frame_ctx *c, const char *to, size_t len);
/* Seals a payload for `to` ("host:port", or FRAME_TO_ALL for a beacon) into
 * out (frame_sealed_size bytes) with the next sequence number; returns its
 * length, or 0 when it cannot be sealed (no keys or identity yet). */
size_t frame_seal(struct frame_ctx *c, uint8_t *out, const char *to, uint32_t channel,
                  const void *payload, size_t len);
/* Opens a frame in place (frame is overwritten), checks it in the order of
 * enum frame_result and fills msg. now_s: the wall clock, for certificate
 * validity. */
enum frame_result frame_open(struct frame_ctx *c, uint8_t *frame, size_t len,
                             enum frame_path path, uint64_t now_s, struct frame_msg *msg);

/* Every field of a frame, for the context's own frames and for tests and
 * fuzzers that forge any of them. */
struct frame_fields {
    uint32_t channel;
    uint64_t epoch, seq;
    const char *cluster, *to, *from, *name;
    const uint8_t *cert;
    size_t cert_len;
    const void *payload;
    size_t len;
    /* Keyed frames: authenticated by a MAC under this pair key
     * (SESSION_KEY_BYTES, session.h) instead of a signature, when set. */
    const uint8_t *mac_key;
};
/* The encoded size; 0 if a field is out of bounds. */
size_t frame_encoded_size(const struct frame_fields *f, bool keyed);
/* Encodes f into out, sealed under key (named key_id) and signed with sk
 * (or MACed under f->mac_key), or insecure when key is NULL; returns the
 * length, 0 if out of bounds. */
size_t frame_encode(const struct frame_fields *f, const uint8_t *key, uint32_t key_id,
                    const uint8_t *sk, uint8_t *out);

#endif
