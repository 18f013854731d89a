/* A host's record as its owner seals it for gossip (docs/security.md,
 * layer 3): the owner's certificate and its Ed25519 signature over the
 * gossip member id, the record's version and the record. A host that
 * relays it cannot change it, and no host can make another's: the
 * certificate names its owner, whose member id must be the record's.
 * Pure: no I/O; the wall clock is an input.
 *
 *   sealed = "ndr1" | certificate length (2, little-endian) | certificate
 *            | signature (64) | record                         keyed
 *          = "ndr1" | 0 (2) | record                           insecure (tests)
 *   signed = "nodectl record 1" | member id (8, LE) | version (8, LE) | record
 *
 * The gossip member id of a host is derived from the name its certificate
 * certifies (signed_record_member_id), so that a packet, a record and an
 * election message are all tied to the same certified name. */
#ifndef NODECTL_SIGNED_RECORD_H
#define NODECTL_SIGNED_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"

/* The most sealing adds to a record. */
#define SIGNED_RECORD_OVERHEAD_MAX (4 + 2 + CERT_MAX + CERT_SIG_BYTES)

/* The gossip member id of host `name`: the first 8 bytes (little-endian)
 * of BLAKE2b over a domain prefix and the name, never 0. A hash no one can
 * aim at another host's id: a certified name cannot be chosen to collide
 * with another's (FNV, which the election's voter ids use, could be). */
uint64_t signed_record_member_id(const char *name);

/* The size of a record of len bytes sealed with a certificate of cert_len
 * bytes (0: insecure). */
size_t signed_record_size(size_t cert_len, size_t len);
/* Seals `record` as member id's at version into out (signed_record_size
 * bytes): signed with sk under cert, or insecure when cert_len is 0 (sk
 * unused). Returns the length, 0 if the certificate is too long. */
size_t signed_record_seal(const uint8_t *sk, const uint8_t *cert, size_t cert_len, uint64_t id,
                          uint64_t version, const uint8_t *record, size_t len, uint8_t *out);

enum signed_record_result {
    SIGNED_RECORD_OK,
    SIGNED_RECORD_MALFORMED,     /* too short, or a length past the end */
    SIGNED_RECORD_MODE,          /* unsigned to a keyed host, or signed to an insecure one */
    SIGNED_RECORD_BAD_CERT,      /* does not decode, or is not this CA's */
    SIGNED_RECORD_CERT_EXPIRED,  /* or not valid yet */
    SIGNED_RECORD_BAD_SIGNATURE, /* not this member id's, this version's or these bytes' */
};
const char *signed_record_result_name(enum signed_record_result r);

/* The parts of a sealed record; pointers into its bytes. */
struct signed_record {
    const uint8_t *cert; /* NULL: insecure */
    size_t cert_len;
    const uint8_t *record;
    size_t len;
};
/* Splits a sealed record, checking its bounds only (it was verified when it
 * was received). */
bool signed_record_parse(const uint8_t *data, size_t len, struct signed_record *out);
/* Checks sealed bytes as member id's record at version: with ca_pk, the
 * certificate is this CA's (through cache) and valid at now_s, and its key
 * signed these bytes for id and version; *owner is the certificate. Without
 * (insecure), the bytes must be unsigned, and only the caller can tell the
 * owner, from the record. Whether the owner's name is member id's is for
 * the caller to check (signed_record_member_id). */
enum signed_record_result signed_record_verify(struct cert_cache *cache,
                                               const uint8_t *ca_pk, uint64_t now_s,
                                               uint64_t id, uint64_t version,
                                               const uint8_t *data, size_t len,
                                               struct signed_record *out,
                                               struct cert_info *owner);

#endif
