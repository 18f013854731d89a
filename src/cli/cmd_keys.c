#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/atomic_file.h"
#include "net/keyring.h"

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "nodectl keys: %s%s%s (see: nodectl help keys)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return 2;
}

/* KEYFILE ("-": standard input) as `nodectl keygen` writes it. */
static int read_key(const char *path, uint8_t key[KEYRING_KEY_BYTES]) {
    char buf[256];
    size_t len = 0;
    int rc = -1;
    if (strcmp(path, "-") == 0) {
        len = fread(buf, 1, sizeof buf - 1, stdin);
        rc = keyring_parse_key(buf, len, key);
    } else {
        char *text = read_small_file(path, sizeof buf, &len);
        if (!text) {
            fprintf(stderr, "nodectl keys: cannot read %s: %s\n", path, strerror(errno));
            return -1;
        }
        rc = keyring_parse_key(text, len, key);
        sodium_memzero(text, len);
        free(text);
    }
    sodium_memzero(buf, sizeof buf);
    if (rc != 0)
        fprintf(stderr, "nodectl keys: %s: a cluster key is 64 hexadecimal digits (make one with "
                        "`nodectl keygen`)\n", path);
    return rc;
}

static void print_json(const Nodectl__KeysReply *r) {
    json_t *keys = json_array();
    for (size_t i = 0; i < r->n_keys; i++) {
        const Nodectl__KeyState *k = r->keys[i];
        json_t *missing = json_array();
        for (size_t m = 0; m < k->n_missing; m++)
            json_array_append_new(missing, json_string(k->missing[m]));
        json_array_append_new(keys, json_pack("{s:s, s:b, s:b, s:I, s:I, s:o}", "id", k->id,
                                              "installed", k->installed, "primary", k->primary,
                                              "hosts", (json_int_t)k->hosts, "primary_hosts",
                                              (json_int_t)k->primary_hosts, "missing", missing));
    }
    json_t *root = json_pack("{s:s, s:I, s:s, s:o}", "file", r->file, "members",
                             (json_int_t)r->members, "done", r->done, "keys", keys);
    json_dumpf(root, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(root);
}

static void print_table(const Nodectl__KeysReply *r) {
    if (r->done[0])
        printf("%s\n", r->done);
    printf("keyring: %s; %u live member(s)\n\n", r->file, r->members);
    printf("%-9s %-8s %-7s %-10s %s\n", "KEY", "HERE", "HOSTS", "PRIMARY ON", "MISSING ON");
    for (size_t i = 0; i < r->n_keys; i++) {
        const Nodectl__KeyState *k = r->keys[i];
        char hosts[24], missing[512] = "-";
        snprintf(hosts, sizeof hosts, "%u/%u", k->hosts, r->members);
        for (size_t m = 0, used = 0; m < k->n_missing && used < sizeof missing; m++)
            used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                     m ? ", " : "", k->missing[m]);
        if (k->n_missing && k->n_missing < r->members - k->hosts)
            strncat(missing, ", ...", sizeof missing - strlen(missing) - 1);
        printf("%-9s %-8s %-7s %-10u %s\n", k->id,
               k->primary ? "primary" : k->installed ? "yes" : "no", hosts, k->primary_hosts,
               missing);
    }
}

int cmd_keys(const struct cli_ctx *ctx, int argc, char **argv) {
    if (argc < 2)
        return usage_error("expected list, install, use or remove", NULL);
    Nodectl__KeysRequest body = NODECTL__KEYS_REQUEST__INIT;
    const char *op = argv[1];
    bool json = false;
    const char *arg = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--force") == 0)
            body.force = true;
        else if (!arg && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
            arg = argv[i];
        else
            return usage_error("unexpected argument", argv[i]);
    }
    uint8_t key[KEYRING_KEY_BYTES];
    if (strcmp(op, "list") == 0) {
        if (arg || body.force)
            return usage_error("list takes no argument but --json", NULL);
        body.op = NODECTL__KEYS_OP__KEYS_LIST;
    } else if (strcmp(op, "install") == 0) {
        if (!arg || body.force)
            return usage_error("expected: install KEYFILE", NULL);
        if (keyring_init() != 0 || read_key(arg, key) != 0)
            return 1;
        body.op = NODECTL__KEYS_OP__KEYS_INSTALL;
        body.key.data = key;
        body.key.len = sizeof key;
    } else if (strcmp(op, "use") == 0 || strcmp(op, "remove") == 0) {
        uint32_t id;
        if (!arg)
            return usage_error("expected a key id after", op);
        if (keyring_parse_id(arg, &id) != 0)
            return usage_error("a key id is 8 hexadecimal digits (see nodectl keys list), not",
                               arg);
        body.op = op[0] == 'u' ? NODECTL__KEYS_OP__KEYS_USE : NODECTL__KEYS_OP__KEYS_REMOVE;
        body.key_id = (char *)arg;
    } else {
        return usage_error("unknown operation", op);
    }
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_KEYS;
    req.keys = &body;
    Nodectl__Response *resp = cli_call(ctx, "keys", &req, NODECTL__RESPONSE__BODY_KEYS);
    sodium_memzero(key, sizeof key);
    if (!resp)
        return 1;
    if (json)
        print_json(resp->keys);
    else
        print_table(resp->keys);
    nodectl__response__free_unpacked(resp, NULL);
    return 0;
}
