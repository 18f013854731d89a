#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/atomic_file.h"
#include "net/keyring.h"

/* A new cluster key: 32 random bytes from the OS (libsodium's randombytes),
 * as 64 hexadecimal digits. Written to FILE with mode 0600, never over an
 * existing key (that would split the cluster), or printed. */
int cmd_keygen(const struct cli_ctx *ctx, int argc, char **argv) {
    if (argc > 2) {
        fprintf(stderr, "nodectl keygen: unexpected argument '%s' (see: nodectl help keygen)\n",
                argv[2]);
        return 2;
    }
    if (keyring_init() != 0) {
        fprintf(stderr, "nodectl keygen: libsodium failed to initialise\n");
        return 1;
    }
    unsigned char key[KEYRING_KEY_BYTES];
    char hex[2 * KEYRING_KEY_BYTES + 2];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    strcat(hex, "\n");
    int rc = 0;
    if (argc < 2) {
        fputs(hex, stdout);
    } else if (access(argv[1], F_OK) == 0) {
        fprintf(stderr, "nodectl keygen: %s exists; remove it first if you mean to replace the "
                        "key of every host\n", argv[1]);
        rc = 1;
    } else if (atomic_write_file(argv[1], hex, strlen(hex), 0600) != 0) {
        fprintf(stderr, "nodectl keygen: cannot write %s: %s\n", argv[1], strerror(errno));
        rc = 1;
    }
    sodium_memzero(hex, sizeof hex);
    return rc;
}
