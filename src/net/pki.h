/* The files of the cluster's identities: the CA's key pair (nodectl ca
 * init), a host's signing key (nodectl identity init) and its certificate
 * (nodectl ca sign). Keys are 64 hexadecimal digits on one line (an Ed25519
 * seed or public key), certificates base64 on one line; lines starting with
 * '#' are comments that say what the file is. */
#ifndef NODECTL_PKI_H
#define NODECTL_PKI_H

#include <stddef.h>
#include <stdint.h>

#include "cert.h"

#define PKI_CA_KEY "ca.key" /* in the CA directory: its seed, 0600 */
#define PKI_CA_PUB "ca.pub" /* its public key: [cluster] ca_file on every host */

/* The n-byte value of a hex file. 0, or -1 with "PATH: problem" in err;
 * errno is ENOENT when the file does not exist. */
int pki_read_hex(const char *path, uint8_t *out, size_t n, char *err, size_t errlen);
/* Writes "# comment\nHEX\n" atomically with mode; never over an existing
 * file when exclusive. 0, or -1 with a message. */
int pki_write_hex(const char *path, const uint8_t *v, size_t n, const char *comment,
                  unsigned mode, int exclusive, char *err, size_t errlen);
int pki_read_cert(const char *path, uint8_t out[CERT_MAX], size_t *len, char *err, size_t errlen);
int pki_write_cert(const char *path, const uint8_t *cert, size_t len, const struct cert_info *info,
                   char *err, size_t errlen);
/* A key pair from a seed file (a CA's or a host's). */
int pki_read_keypair(const char *path, uint8_t pk[CERT_PK_BYTES], uint8_t sk[CERT_SK_BYTES],
                     char *err, size_t errlen);
/* "2026-05-01" (UTC) of a time in seconds. */
void pki_date(uint64_t s, char out[11]);

/* This host's identity as the agent and `nodectl identity show` load it. */
struct pki_identity {
    uint8_t ca_pk[CERT_PK_BYTES];
    uint8_t pk[CERT_PK_BYTES];
    uint8_t sk[CERT_SK_BYTES];
    uint8_t cert[CERT_MAX];
    size_t cert_len;
    struct cert_info info;
};
/* Loads the three files and checks that they belong together: the
 * certificate is signed by the CA, certifies this key, names `name` and is
 * valid at now_s. 0, or -1 with a message naming the configuration key,
 * the file and what is wrong. */
int pki_load_identity(const char *ca_file, const char *host_key_file, const char *cert_file,
                      const char *name, uint64_t now_s, struct pki_identity *out, char *err,
                      size_t errlen);

#endif
