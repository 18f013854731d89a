#include "agent_pki.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "agent_process.h"
#include "net/frame.h"
#include "net/pki.h"

static void run_or_die(const char *cmd) {
    char out[512], err[2048];
    if (run_capture(cmd, out, sizeof out, err, sizeof err) != 0) {
        fprintf(stderr, "failed: %s\n%s", cmd, err);
        abort();
    }
}

void test_pki_cluster(const char *dir) {
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "test -f '%s/pki/ca/ca.pub' || { mkdir -p '%s/pki' && "
             "\"$NODECTL\" ca init '%s/pki/ca' >/dev/null && "
             "\"$NODECTL\" keygen '%s/pki/cluster.key'; }", dir, dir, dir, dir);
    run_or_die(cmd);
}

void test_pki_host(const char *dir, const char *name, bool candidate, char *lines, size_t len) {
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "set -e; d='%s/pki/%s'; mkdir -p \"$d\"; "
             "pk=$(\"$NODECTL\" identity init --key \"$d/host.key\" 2>/dev/null); "
             "\"$NODECTL\" ca sign --ca '%s/pki/ca' %s -o \"$d/host.cert\" '%s' \"$pk\" "
             "2>/dev/null", dir, name, dir, candidate ? "--candidate" : "", name);
    run_or_die(cmd);
    snprintf(lines, len,
             "ca_file = %s/pki/ca/ca.pub\ncert_file = %s/pki/%s/host.cert\n"
             "host_key_file = %s/pki/%s/host.key\nkey_file = %s/pki/cluster.key\n"
             "keyring_file = %s/pki/%s/keyring\n",
             dir, dir, name, dir, name, dir, dir, name);
}

struct frame_ctx *test_pki_ctx(const char *dir, const char *cluster, const char *name,
                               const char *addr, uint64_t epoch) {
    char ca[PATH_MAX], key[PATH_MAX], cert[PATH_MAX], ckey[PATH_MAX], none[PATH_MAX];
    char err[3 * PATH_MAX];
    snprintf(ca, sizeof ca, "%s/pki/ca/ca.pub", dir);
    snprintf(key, sizeof key, "%s/pki/%s/host.key", dir, name);
    snprintf(cert, sizeof cert, "%s/pki/%s/host.cert", dir, name);
    snprintf(ckey, sizeof ckey, "%s/pki/cluster.key", dir);
    snprintf(none, sizeof none, "%s/pki/%s/no-keyring", dir, name);
    struct pki_identity id;
    struct keyring ring;
    bool from_key_file;
    if (frame_init() != 0 ||
        pki_load_identity(ca, key, cert, name, (uint64_t)time(NULL), &id, err, sizeof err) != 0 ||
        keyring_load(none, ckey, &ring, &from_key_file, err, sizeof err) != 0) {
        fprintf(stderr, "test_pki_ctx: %s\n", err);
        abort();
    }
    struct frame_config fc = {.cluster = cluster, .name = name, .addrs = {addr}, .n_addrs = 1,
                              .epoch = epoch, .senders_max = 64};
    struct frame_ctx *c = frame_ctx_new(&fc);
    if (!c)
        abort();
    frame_ctx_set_keyring(c, &ring);
    frame_ctx_set_identity(c, id.ca_pk, id.sk, id.cert, id.cert_len);
    return c;
}
