/* The configuration files: nodectl.conf (src/common/config.c), parsed from
 * memory as config_load parses a file, and the same bytes as a keyring file
 * (src/net/keyring.c). A configuration that loads must be one the agent can
 * run on: every string within its field, lists within their bounds, and
 * election timing that election_config_check accepts. A keyring that loads
 * holds 1 to KEYRING_MAX keys, one of them primary, and reads back the
 * same from the text keyring_format writes. */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "election/election.h"
#include "net/keyring.h"

static void fits(const char *s, size_t size) {
    if (strnlen(s, size) >= size)
        abort();
}

static void loaded(const struct config *c) {
    fits(c->cluster_name, sizeof c->cluster_name);
    fits(c->node_name, sizeof c->node_name);
    fits(c->bind_address, sizeof c->bind_address);
    fits(c->advertise_address, sizeof c->advertise_address);
    fits(c->state_dir, sizeof c->state_dir);
    fits(c->hypervisor_uri, sizeof c->hypervisor_uri);
    fits(c->migration_uri, sizeof c->migration_uri);
    fits(c->ipmi_address, sizeof c->ipmi_address);
    fits(c->wake_mac, sizeof c->wake_mac);
    if (c->seeds.n > CONFIG_LIST_MAX || c->candidates.n > CONFIG_LIST_MAX)
        abort();
    for (size_t i = 0; i < c->candidates.n; i++)
        fits(c->candidates.item[i], sizeof c->candidates.item[i]);
    struct election_config ec = {.self_id = 1, .n_voters = 1, .voters = {{.id = 1}},
                                 .heartbeat_ms = c->heartbeat_interval_ms,
                                 .election_timeout_ms = c->election_timeout_ms,
                                 .lease_margin_ms = c->lease_drift_margin_ms};
    if (election_config_check(&ec))
        abort();
}

static void keyring_text(const uint8_t *data, size_t size) {
    static struct keyring r, again;
    char err[256];
    if (keyring_init() != 0)
        abort();
    if (keyring_parse((const char *)data, size, &r, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        return;
    }
    if (r.n == 0 || r.n > KEYRING_MAX || r.primary >= r.n)
        abort();
    static char text[KEYRING_FILE_MAX];
    size_t len = keyring_format(&r, text);
    if (keyring_parse(text, len, &again, err, sizeof err) != 0 || again.n != r.n ||
        again.primary != r.primary || memcmp(again.key, r.key, r.n * sizeof r.key[0]) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size)
        return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f)
        abort();
    static struct config cfg;
    struct config_error err;
    if (config_parse(f, "fuzz.conf", &cfg, &err) == 0)
        loaded(&cfg);
    else if (!err.text[0])
        abort(); /* a refusal always says why */
    fclose(f);
    keyring_text(data, size);
    return 0;
}
