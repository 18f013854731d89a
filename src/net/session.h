/* Per-peer frame keys (docs/security.md, layer 3): a frame between two
 * hosts that know each other's certified key is authenticated by a MAC
 * under a key only those two can derive, instead of an Ed25519 signature,
 * whose signing and verification cost an agent most of its CPU at rest.
 *
 * The key of the frames from A to B is BLAKE2b-256 keyed with the X25519
 * shared secret of A's and B's certified Ed25519 keys (converted to
 * Curve25519 by libsodium's crypto_sign_ed25519_*_to_curve25519), over a
 * domain prefix and A's then B's Ed25519 public keys: a static-static
 * Diffie-Hellman agreement (Noise's KK pattern without its ephemeral keys,
 * the frame's secretbox already giving confidentiality), one key per
 * direction so that no frame can be reflected to its sender. A receiver
 * derives the key of a sender from the certificate the frame carries (the
 * CA's signature checked through the certificate cache), so a restart of
 * either side changes nothing and nothing is negotiated.
 *
 * A sender uses the key of the host that listens at the frame's recipient
 * address, learned from that host's own authenticated frames (their
 * "from"); an address claimed by two keys is contested and frames to it are
 * signed from then on. Pure apart from libsodium; no I/O. */
#ifndef NODECTL_SESSION_H
#define NODECTL_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "cert.h"

#define SESSION_KEY_BYTES 32
/* Peers whose keys are kept, each way (two-way set associative, about
 * 310 KB in all): a cluster of a few hundred hosts signs no frame at rest;
 * beyond, a frame to a peer that lost its place is signed, which costs only
 * time. A peer's two keys come from one X25519 agreement, kept by its
 * Ed25519 key; an address holds a copy of the key of frames to it. */
#define SESSION_PEERS 1024

struct session_keys;

/* NULL when out of memory. */
struct session_keys *session_new(void);
void session_free(struct session_keys *s);
/* This host's certified key pair; forgets every derived key when it
 * changes. -1 if the key cannot be converted. */
int session_set_identity(struct session_keys *s, const uint8_t sk[CERT_SK_BYTES]);
/* The key of frames from the holder of sender_pk to this host; false if
 * there is no identity or the key is not a usable point. */
bool session_rx_key(struct session_keys *s, const uint8_t sender_pk[CERT_PK_BYTES],
                    uint8_t key[SESSION_KEY_BYTES]);
/* The holder of pk said, in a frame that authenticated, that it listens at
 * addr. */
void session_learn(struct session_keys *s, const char *addr, const uint8_t pk[CERT_PK_BYTES]);
/* The key of frames to addr; false when its holder is unknown or the
 * address contested: the frame is signed. */
bool session_tx_key(struct session_keys *s, const char *addr, uint8_t key[SESSION_KEY_BYTES]);

#endif
