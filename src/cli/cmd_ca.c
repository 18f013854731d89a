/* nodectl ca: the cluster's certificate authority, kept offline. It needs
 * no agent and no network: `ca init` makes its key pair, `ca sign`
 * certifies a host's public key, on whatever machine keeps the CA. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "common/atomic_file.h"
#include "net/pki.h"

#define DAYS_DEFAULT 365
#define DAYS_MAX 36500

static int ca_init(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "nodectl ca init: expected one directory (see: nodectl help ca)\n");
        return 2;
    }
    const char *dir = argv[2];
    char key[PATH_MAX], pub[PATH_MAX], err[PATH_MAX + 200];
    snprintf(key, sizeof key, "%s/%s", dir, PKI_CA_KEY);
    snprintf(pub, sizeof pub, "%s/%s", dir, PKI_CA_PUB);
    if (make_dirs(dir, 0700) != 0) {
        fprintf(stderr, "nodectl ca init: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    uint8_t seed[CERT_SEED_BYTES], pk[CERT_PK_BYTES], sk[CERT_SK_BYTES];
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    int rc = pki_write_hex(key, seed, sizeof seed,
                           "nodectl cluster CA secret key: keep it offline; no agent needs it",
                           0600, 1, err, sizeof err);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    if (rc == 0 && pki_write_hex(pub, pk, sizeof pk,
                                 "nodectl cluster CA public key: [cluster] ca_file on every host",
                                 0644, 1, err, sizeof err) != 0) {
        remove(key);
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "nodectl ca init: %s\n", err);
        return 1;
    }
    char hex[2 * CERT_PK_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    printf("%s\n", hex);
    fprintf(stderr, "CA made: %s (secret, keep it offline) and %s (copy it to every host as "
                    "[cluster] ca_file)\n", key, pub);
    return 0;
}

/* PUBKEY: 64 hexadecimal digits, or a file that holds them. */
static int public_key(const char *arg, uint8_t pk[CERT_PK_BYTES]) {
    size_t got = 0;
    if (strlen(arg) == 2 * CERT_PK_BYTES &&
        sodium_hex2bin(pk, CERT_PK_BYTES, arg, strlen(arg), NULL, &got, NULL) == 0 &&
        got == CERT_PK_BYTES)
        return 0;
    char err[PATH_MAX + 100];
    if (pki_read_hex(arg, pk, CERT_PK_BYTES, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "nodectl ca sign: PUBKEY '%s' is neither 64 hexadecimal digits (as `nodectl "
                    "identity init` prints) nor a file holding them\n", arg);
    return -1;
}

static int ca_sign(int argc, char **argv) {
    static const struct option opts[] = {{"ca", required_argument, NULL, 'a'},
                                         {"candidate", no_argument, NULL, 'C'},
                                         {"days", required_argument, NULL, 'd'},
                                         {"output", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *out = "-";
    long days = DAYS_DEFAULT;
    bool candidate = false;
    int opt;
    /* argv[1] is "sign": options and operands may mix after it (optind 0
     * makes glibc start afresh after main's "+" parse). */
    argc--;
    argv++;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (opt) {
        case 'a': dir = optarg; break;
        case 'C': candidate = true; break;
        case 'o': out = optarg; break;
        case 'd': {
            char *end;
            days = strtol(optarg, &end, 10);
            if (*end || days < 1 || days > DAYS_MAX) {
                fprintf(stderr, "nodectl ca sign: --days expects 1 to %d, got '%s'\n", DAYS_MAX,
                        optarg);
                return 2;
            }
            break;
        }
        default:
            fprintf(stderr, "nodectl ca sign: see: nodectl help ca\n");
            return 2;
        }
    }
    if (!dir || argc - optind != 2) {
        fprintf(stderr, "nodectl ca sign: expected --ca DIR HOST PUBKEY (see: nodectl help ca)\n");
        return 2;
    }
    const char *host = argv[optind];
    struct cert_info info = {.candidate = candidate};
    if (!host[0] || strlen(host) >= sizeof info.name) {
        fprintf(stderr, "nodectl ca sign: HOST must be 1 to %zu characters, as [node] name\n",
                sizeof info.name - 1);
        return 2;
    }
    snprintf(info.name, sizeof info.name, "%s", host);
    if (public_key(argv[optind + 1], info.public_key) != 0)
        return 2;
    char path[PATH_MAX], err[PATH_MAX + 200];
    snprintf(path, sizeof path, "%s/%s", dir, PKI_CA_KEY);
    uint8_t ca_pk[CERT_PK_BYTES], ca_sk[CERT_SK_BYTES];
    if (pki_read_keypair(path, ca_pk, ca_sk, err, sizeof err) != 0) {
        fprintf(stderr, "nodectl ca sign: %s (make a CA with `nodectl ca init DIR`)\n", err);
        return 1;
    }
    /* Valid from an hour ago: hosts whose clocks lag a little accept it at
     * once. */
    uint64_t now = (uint64_t)time(NULL);
    info.not_before = now > 3600 ? now - 3600 : 0;
    info.not_after = now + (uint64_t)days * 86400;
    randombytes_buf(&info.serial, sizeof info.serial);
    uint8_t cert[CERT_MAX];
    size_t len = cert_issue(ca_sk, &info, cert);
    sodium_memzero(ca_sk, sizeof ca_sk);
    if (!len || pki_write_cert(out, cert, len, &info, err, sizeof err) != 0) {
        fprintf(stderr, "nodectl ca sign: %s\n", len ? err : "cannot encode the certificate");
        return 1;
    }
    if (strcmp(out, "-") != 0)
        fprintf(stderr, "certified %s%s for %ld days in %s: copy it to %s as [cluster] "
                        "cert_file\n", host, candidate ? " (candidate)" : "", days, out, host);
    return 0;
}

int cmd_ca(const struct cli_ctx *ctx, int argc, char **argv) {
    if (sodium_init() < 0) {
        fprintf(stderr, "nodectl ca: libsodium failed to initialise\n");
        return 1;
    }
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return ca_init(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "sign") == 0)
        return ca_sign(argc, argv);
    fprintf(stderr, "nodectl ca: expected init or sign (see: nodectl help ca)\n");
    return 2;
}
