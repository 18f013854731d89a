#include "pki.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic_file.h"

#define FILE_MAX 4096

/* The first line of text that is neither empty nor a comment, trimmed, in
 * place; NULL if none. */
static char *value_line(char *text) {
    char *save;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n && line[0] != '#')
            return line;
    }
    return NULL;
}

static char *read_text(const char *path, size_t *len, char *err, size_t errlen) {
    char *text = read_small_file(path, FILE_MAX, len);
    if (!text) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot read: %s", path,
                 e == EFBIG ? "too large" : strerror(e));
        errno = e;
    }
    return text;
}

int pki_read_hex(const char *path, uint8_t *out, size_t n, char *err, size_t errlen) {
    size_t len;
    char *text = read_text(path, &len, err, errlen);
    if (!text)
        return -1;
    char *line = value_line(text);
    size_t got = 0;
    int rc = line && strlen(line) == 2 * n &&
                     sodium_hex2bin(out, n, line, 2 * n, NULL, &got, NULL) == 0 && got == n
                 ? 0 : -1;
    sodium_memzero(text, len);
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "%s: expected one line of %zu hexadecimal digits", path, 2 * n);
        errno = EINVAL;
    }
    return rc;
}

static int write_new(const char *path, const char *text, size_t len, unsigned mode, int exclusive,
                     char *err, size_t errlen) {
    if (exclusive && access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s exists; it is never overwritten (remove it first if you mean "
                 "to replace it)", path);
        return -1;
    }
    if (atomic_write_file(path, text, len, mode) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int pki_write_hex(const char *path, const uint8_t *v, size_t n, const char *comment,
                  unsigned mode, int exclusive, char *err, size_t errlen) {
    char text[FILE_MAX];
    size_t len = (size_t)snprintf(text, sizeof text, "# %s\n", comment);
    if (len + 2 * n + 2 > sizeof text) {
        snprintf(err, errlen, "%s: comment too long", path);
        return -1;
    }
    sodium_bin2hex(text + len, sizeof text - len, v, n);
    len += 2 * n;
    text[len++] = '\n';
    int rc = write_new(path, text, len, mode, exclusive, err, errlen);
    sodium_memzero(text, sizeof text);
    return rc;
}

int pki_read_cert(const char *path, uint8_t out[CERT_MAX], size_t *len, char *err,
                  size_t errlen) {
    size_t tlen;
    char *text = read_text(path, &tlen, err, errlen);
    if (!text)
        return -1;
    char *line = value_line(text);
    int rc = line && sodium_base642bin(out, CERT_MAX, line, strlen(line), NULL, len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL) == 0 && *len > 0
                 ? 0 : -1;
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "%s: expected a certificate (one line of base64, as `nodectl ca "
                 "sign` writes)", path);
        errno = EINVAL;
    }
    return rc;
}

void pki_date(uint64_t s, char out[11]) {
    time_t t = (time_t)s;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(out, 11, "%Y-%m-%d", &tm);
    else
        snprintf(out, 11, "?");
}

int pki_write_cert(const char *path, const uint8_t *cert, size_t len, const struct cert_info *info,
                   char *err, size_t errlen) {
    char text[FILE_MAX], from[11], until[11];
    pki_date(info->not_before, from);
    pki_date(info->not_after, until);
    size_t n = (size_t)snprintf(text, sizeof text,
                                "# nodectl certificate: host %s%s, valid from %s to %s (UTC)\n",
                                info->name, info->candidate ? ", candidate" : "", from, until);
    sodium_bin2base64(text + n, sizeof text - n, cert, len, sodium_base64_VARIANT_ORIGINAL);
    n += strlen(text + n);
    text[n++] = '\n';
    if (strcmp(path, "-") == 0)
        return fwrite(text, 1, n, stdout) == n ? 0 : -1;
    return write_new(path, text, n, 0644, 0, err, errlen);
}

int pki_read_keypair(const char *path, uint8_t pk[CERT_PK_BYTES], uint8_t sk[CERT_SK_BYTES],
                     char *err, size_t errlen) {
    uint8_t seed[CERT_SEED_BYTES];
    if (pki_read_hex(path, seed, sizeof seed, err, errlen) != 0)
        return -1;
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    return 0;
}

int pki_load_identity(const char *ca_file, const char *host_key_file, const char *cert_file,
                      const char *name, uint64_t now_s, struct pki_identity *out, char *err,
                      size_t errlen) {
    char why[600];
    if (pki_read_hex(ca_file, out->ca_pk, sizeof out->ca_pk, why, sizeof why) != 0) {
        snprintf(err, errlen, "key 'ca_file' in [cluster]: %s (copy the CA's public key, "
                 "ca.pub of `nodectl ca init`, to every host)", why);
        return -1;
    }
    if (pki_read_keypair(host_key_file, out->pk, out->sk, why, sizeof why) != 0) {
        snprintf(err, errlen, "key 'host_key_file' in [cluster]: %s (make this host's key with "
                 "`nodectl identity init`)", why);
        return -1;
    }
    char pk_hex[2 * CERT_PK_BYTES + 1];
    sodium_bin2hex(pk_hex, sizeof pk_hex, out->pk, sizeof out->pk);
    if (pki_read_cert(cert_file, out->cert, &out->cert_len, why, sizeof why) != 0) {
        snprintf(err, errlen, "key 'cert_file' in [cluster]: %s (have this host's key "
                 "certified: nodectl ca sign --ca CA_DIR %s %s -o CERT)", why, name, pk_hex);
        return -1;
    }
    enum cert_result r = cert_verify(out->ca_pk, out->cert, out->cert_len, &out->info);
    if (r != CERT_OK) {
        snprintf(err, errlen, "key 'cert_file' in [cluster]: %s: the certificate is %s (ca_file "
                 "%s)", cert_file, cert_result_text(r), ca_file);
        return -1;
    }
    if (strcmp(out->info.name, name) != 0) {
        snprintf(err, errlen, "key 'cert_file' in [cluster]: %s certifies host '%s', but this "
                 "host is '%s' ([node] name)", cert_file, out->info.name, name);
        return -1;
    }
    if (sodium_memcmp(out->info.public_key, out->pk, CERT_PK_BYTES) != 0) {
        snprintf(err, errlen, "key 'cert_file' in [cluster]: %s certifies another public key "
                 "than this host's (host_key_file %s, public key %s)", cert_file, host_key_file,
                 pk_hex);
        return -1;
    }
    if ((r = cert_valid_at(&out->info, now_s)) != CERT_OK) {
        char from[11], until[11];
        pki_date(out->info.not_before, from);
        pki_date(out->info.not_after, until);
        snprintf(err, errlen, "key 'cert_file' in [cluster]: %s is %s (valid from %s to %s "
                 "UTC); sign a new one with `nodectl ca sign`", cert_file, cert_result_text(r),
                 from, until);
        return -1;
    }
    return 0;
}
