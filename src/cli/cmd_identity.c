/* nodectl identity: this host's signing key and what its certificate
 * says. Needs no agent: it reads the configuration file's paths. */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "net/pki.h"

static void hex(const uint8_t *v, size_t n, char *out, size_t len) {
    sodium_bin2hex(out, len, v, n);
}

/* Makes the key unless it exists; prints the public key either way, so
 * that a script can run it on every host and sign what it prints. */
static int identity_init(const char *path) {
    char err[PATH_MAX + 200], pk_hex[2 * CERT_PK_BYTES + 1];
    uint8_t pk[CERT_PK_BYTES], sk[CERT_SK_BYTES];
    if (pki_read_keypair(path, pk, sk, err, sizeof err) == 0) {
        fprintf(stderr, "%s exists; kept (its public key follows)\n", path);
    } else if (errno != ENOENT) {
        fprintf(stderr, "nodectl identity init: %s; remove it to make a new key\n", err);
        return 1;
    } else {
        uint8_t seed[CERT_SEED_BYTES];
        randombytes_buf(seed, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        int rc = pki_write_hex(path, seed, sizeof seed,
                               "nodectl host signing key: secret, this host only", 0600, 1, err,
                               sizeof err);
        sodium_memzero(seed, sizeof seed);
        if (rc != 0) {
            fprintf(stderr, "nodectl identity init: %s\n", err);
            return 1;
        }
        fprintf(stderr, "made %s; have its public key certified: nodectl ca sign --ca CA_DIR "
                        "HOST PUBKEY -o CERT\n", path);
    }
    sodium_memzero(sk, sizeof sk);
    hex(pk, sizeof pk, pk_hex, sizeof pk_hex);
    printf("%s\n", pk_hex);
    return 0;
}

static int identity_show(const struct config *cfg) {
    struct pki_identity id;
    char err[3 * PATH_MAX];
    int rc = pki_load_identity(cfg->ca_file, cfg->host_key_file, cfg->cert_file, cfg->node_name,
                               (uint64_t)time(NULL), &id, err, sizeof err);
    char pk_hex[2 * CERT_PK_BYTES + 1];
    printf("host:        %s ([node] name)\n", cfg->node_name);
    if (rc != 0) {
        printf("problem:     %s\n", err);
        return 1;
    }
    char from[11], until[11];
    pki_date(id.info.not_before, from);
    pki_date(id.info.not_after, until);
    hex(id.pk, sizeof id.pk, pk_hex, sizeof pk_hex);
    printf("public key:  %s (%s)\n", pk_hex, cfg->host_key_file);
    printf("certificate: %s, %s, valid from %s to %s UTC, signed by the CA of %s (%s)\n",
           id.info.name, id.info.candidate ? "candidate" : "not a candidate", from, until,
           cfg->ca_file, cfg->cert_file);
    sodium_memzero(&id, sizeof id);
    return 0;
}

int cmd_identity(const struct cli_ctx *ctx, int argc, char **argv) {
    if (sodium_init() < 0) {
        fprintf(stderr, "nodectl identity: libsodium failed to initialise\n");
        return 1;
    }
    const char *sub = argc >= 2 ? argv[1] : "";
    const char *key = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(sub, "init") == 0 && strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else {
            fprintf(stderr, "nodectl identity: unexpected argument '%s' (see: nodectl help "
                            "identity)\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(sub, "init") != 0 && strcmp(sub, "show") != 0) {
        fprintf(stderr, "nodectl identity: expected init or show (see: nodectl help identity)\n");
        return 2;
    }
    struct config cfg;
    if (cli_load_config(ctx, &cfg) != 0)
        return 2;
    if (strcmp(sub, "init") == 0)
        return identity_init(key ? key : cfg.host_key_file);
    return identity_show(&cfg);
}
