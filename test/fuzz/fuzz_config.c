/* The configuration file (src/common/config.c), parsed from memory as
 * config_load parses a file. A configuration that loads must be one the
 * agent can run on: every string within its field, lists within their
 * bounds, and election timing that election_config_check accepts. */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "election/election.h"

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
    return 0;
}
