#include "config.h"
#include "config_policy.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type { T_STRING, T_PATH, T_BOOL, T_UINT, T_DURATION, T_PORT, T_LIST, T_LOG_LEVEL, T_PERCENT,
               T_AUTOMATION, T_MAC, T_OPTIONAL, T_LOG_FORMAT };

struct key {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    size_t size;       /* buffer size for strings */
    uint32_t min, max; /* bounds for numbers and durations (ms) */
};

#define STR(x) #x
#define XSTR(x) STR(x)
#define CONFIG_LINE_MAX_TEXT XSTR(CONFIG_LINE_MAX)

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const struct key keys[] = {
    {"cluster", "name", T_STRING, F(cluster_name), 0, 0},
    {"cluster", "seeds", T_LIST, F(seeds), 0, 0},
    {"cluster", "candidates", T_LIST, F(candidates), 0, 0},
    {"cluster", "key_file", T_PATH, F(key_file), 0, 0},
    {"cluster", "keyring_file", T_PATH, F(keyring_file), 0, 0},
    {"cluster", "ca_file", T_PATH, F(ca_file), 0, 0},
    {"cluster", "cert_file", T_PATH, F(cert_file), 0, 0},
    {"cluster", "host_key_file", T_PATH, F(host_key_file), 0, 0},
    {"cluster", "insecure", T_BOOL, F(insecure), 0, 0},
    {"cluster", "discovery", T_BOOL, F(discovery), 0, 0},
    {"cluster", "discovery_group", T_STRING, F(discovery_group), 0, 0},
    {"cluster", "discovery_port", T_PORT, F(discovery_port), 1, 65535},
    {"cluster", "discovery_interval", T_DURATION, F(discovery_interval_ms), 100, 3600000},
    {"node", "name", T_STRING, F(node_name), 0, 0},
    {"node", "bind_address", T_STRING, F(bind_address), 0, 0},
    {"node", "advertise_address", T_STRING, F(advertise_address), 0, 0},
    {"node", "port", T_PORT, F(port), 1, 65535},
    {"node", "candidate", T_BOOL, F(candidate), 0, 0},
    {"node", "state_dir", T_PATH, F(state_dir), 0, 0},
    {"node", "control_socket", T_PATH, F(control_socket), 0, 0},
    {"node", "log_level", T_LOG_LEVEL, F(log_level), 0, 0},
    {"node", "log_format", T_LOG_FORMAT, F(log_format), 0, 0},
    {"http", "listen", T_OPTIONAL, F(http_listen), 0, 0},
    {"http", "names", T_LIST, F(http_names), 0, 0},
    {"control", "group", T_STRING, F(control_group), 0, 0},
    {"control", "admin_group", T_STRING, F(control_admin_group), 0, 0},
    {"hypervisor", "uri", T_STRING, F(hypervisor_uri), 0, 0},
    {"hypervisor", "sample_interval", T_DURATION, F(sample_interval_ms), 100, 3600000},
    {"hypervisor", "migration_uri", T_STRING, F(migration_uri), 0, 0},
    {"hypervisor", "migration_address", T_STRING, F(migration_address), 0, 0},
    {"hypervisor", "migration_timeout", T_DURATION, F(migration_timeout_ms), 1000, 86400000},
    {"hypervisor", "synthetic_load_file", T_PATH, F(synthetic_load_file), 0, 0},
    {"hypervisor", "local_rebalance", T_BOOL, F(local_rebalance), 0, 0},
    {"hypervisor", "rebalance_margin", T_DURATION, F(rebalance_margin_ms), 1, 3600000},
    {"hypervisor", "rebalance_shares_min", T_UINT, F(rebalance_shares_min), 2, 262144},
    {"hypervisor", "rebalance_shares_max", T_UINT, F(rebalance_shares_max), 2, 262144},
    {"hypervisor", "rebalance_memory_floor", T_PERCENT, F(rebalance_memory_floor_pct), 1, 100},
    {"hypervisor", "rebalance_memory_headroom", T_PERCENT, F(rebalance_memory_headroom_pct), 1,
     400},
    {"gossip", "probe_interval", T_DURATION, F(probe_interval_ms), 10, 60000},
    {"gossip", "probe_timeout", T_DURATION, F(probe_timeout_ms), 5, 60000},
    {"gossip", "indirect_checks", T_UINT, F(indirect_checks), 1, 16},
    {"gossip", "suspicion_mult", T_UINT, F(suspicion_mult), 1, 100},
    {"gossip", "retransmit_mult", T_UINT, F(retransmit_mult), 1, 100},
    {"gossip", "push_pull_interval", T_DURATION, F(push_pull_interval_ms), 100, 3600000},
    {"gossip", "reconnect_timeout", T_DURATION, F(reconnect_timeout_ms), 1000, 2592000000u},
    {"gossip", "tombstone_timeout", T_DURATION, F(tombstone_timeout_ms), 1000, 2592000000u},
    {"election", "heartbeat_interval", T_DURATION, F(heartbeat_interval_ms), 10, 60000},
    {"election", "election_timeout", T_DURATION, F(election_timeout_ms), 50, 600000},
    {"election", "lease_drift_margin", T_DURATION, F(lease_drift_margin_ms), 0, 60000},
    {"leader", "automation", T_AUTOMATION, F(automation), 0, 0},
    {"leader", "policy", T_STRING, F(policy), 0, 0},
    {"leader", "plan_interval", T_DURATION, F(plan_interval_ms), 100, 86400000},
    {"leader", "max_migrations", T_UINT, F(max_migrations), 1, 1000},
    {"leader", "power_idle_watts", T_UINT, F(power_idle_watts), 1, 100000},
    {"leader", "power_max_watts", T_UINT, F(power_max_watts), 1, 100000},
    {"leader", "power_on_timeout", T_DURATION, F(power_on_timeout_ms), 1000, 86400000},
    {"leader", "vm_cooldown", T_DURATION, F(vm_cooldown_ms), 1, 86400000},
    {"leader", "wake_cooldown", T_DURATION, F(wake_cooldown_ms), 1, 86400000},
    {"leader", "off_check_after", T_DURATION, F(off_check_after_ms), 1000, 86400000},
    {"ha", "self_fence_timeout", T_DURATION, F(self_fence_timeout_ms), 1000, 600000},
    {"ha", "fence_margin", T_DURATION, F(fence_margin_ms), 0, 600000},
    {"power", "off_command", T_STRING, F(off_command), 0, 0},
    {"power", "wake_mac", T_MAC, F(wake_mac), 0, 0},
    {"power", "wake_broadcast", T_STRING, F(wake_broadcast), 0, 0},
    {"power", "ipmi_address", T_STRING, F(ipmi_address), 0, 0},
    {"power", "ipmi_user", T_STRING, F(ipmi_user), 0, 0},
    {"power", "ipmi_password_file", T_PATH, F(ipmi_password_file), 0, 0},
    /* IPMI v2.0 defines cipher suites 0 to 17; 0 (no authentication) is not
     * offered. */
    {"power", "ipmi_cipher_suite", T_UINT, F(ipmi_cipher_suite), 1, 17},
    {"ha", "watchdog", T_PATH, F(ha_watchdog), 0, 0},
    {"ha", "watchdog_timeout", T_DURATION, F(ha_watchdog_timeout_ms), 1000, 600000},
    {"ha", "qemu_state_dir", T_PATH, F(ha_qemu_state_dir), 0, 0},
};

static const char *const automation_names[] = {"off", "advise", "auto"};

const char *config_automation_name(enum config_automation a) {
    return (size_t)a < sizeof automation_names / sizeof *automation_names ? automation_names[a]
                                                                           : "unknown";
}

static const char *expected(const struct key *k) {
    switch (k->type) {
    case T_STRING: return "a non-empty string";
    case T_PATH: return "an absolute path";
    case T_BOOL: return "true or false";
    case T_UINT: return "a whole number";
    case T_DURATION: return "a duration such as 250ms, 5s or 2m";
    case T_PORT: return "a port number from 1 to 65535";
    case T_LIST: return "a comma-separated list of at most " XSTR(CONFIG_LIST_MAX) " items";
    case T_LOG_LEVEL: return "one of error, warn, info, debug";
    case T_PERCENT: return "a percentage such as 50%";
    case T_AUTOMATION: return "one of off, advise, auto";
    case T_MAC: return "a MAC address such as 52:54:00:12:34:56";
    case T_OPTIONAL: return "a string, or nothing";
    case T_LOG_FORMAT: return "one of text, json";
    }
    return "a value";
}

void config_defaults(struct config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->cluster_name, sizeof cfg->cluster_name, "default");
    if (gethostname(cfg->node_name, sizeof cfg->node_name - 1) != 0 || !cfg->node_name[0])
        snprintf(cfg->node_name, sizeof cfg->node_name, "localhost");
    snprintf(cfg->bind_address, sizeof cfg->bind_address, "0.0.0.0");
    cfg->port = 7946;
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "/var/lib/nodectl");
    snprintf(cfg->control_socket, sizeof cfg->control_socket, CONFIG_DEFAULT_SOCKET);
    snprintf(cfg->control_group, sizeof cfg->control_group, CONFIG_DEFAULT_CONTROL_GROUP);
    snprintf(cfg->key_file, sizeof cfg->key_file, "/etc/nodectl/cluster.key");
    snprintf(cfg->keyring_file, sizeof cfg->keyring_file, "/etc/nodectl/keyring");
    snprintf(cfg->ca_file, sizeof cfg->ca_file, "/etc/nodectl/ca.pub");
    snprintf(cfg->cert_file, sizeof cfg->cert_file, "/etc/nodectl/host.cert");
    snprintf(cfg->host_key_file, sizeof cfg->host_key_file, "/etc/nodectl/host.key");
    cfg->log_level = LOG_INFO;
    cfg->log_format = LOG_FORMAT_TEXT;
    /* Metrics and the dashboard, on loopback: exposing them is a choice. */
    snprintf(cfg->http_listen, sizeof cfg->http_listen, "127.0.0.1:9750");
    snprintf(cfg->hypervisor_uri, sizeof cfg->hypervisor_uri, "test:///default");
    cfg->sample_interval_ms = 5000;
    cfg->migration_timeout_ms = 600000;
    /* The rebalance_* keys stay 0: the policy's own defaults apply
     * (rebalance_config_defaults). */
    cfg->discovery = true;
    snprintf(cfg->discovery_group, sizeof cfg->discovery_group, "239.192.0.77");
    cfg->discovery_port = 7947;
    cfg->discovery_interval_ms = 5000;
    /* The [gossip] keys stay 0: the protocol's own defaults apply
     * (gossip_config_defaults), checked together by the agent. */
    cfg->heartbeat_interval_ms = 100;
    cfg->election_timeout_ms = 500;
    cfg->lease_drift_margin_ms = 100;
    cfg->automation = CONFIG_AUTOMATION_ADVISE;
    snprintf(cfg->policy, sizeof cfg->policy, "default");
    cfg->plan_interval_ms = 30000;
    cfg->max_migrations = 2;
    /* A typical two-socket server: about 100 W idle, 250 W at full load. */
    cfg->power_idle_watts = 100;
    cfg->power_max_watts = 250;
    /* A server takes a few minutes to boot; ten is generous. */
    cfg->power_on_timeout_ms = 600000;
    cfg->off_check_after_ms = 180000;
    /* Petted only while the run lease outlasts it: well under the lease. */
    cfg->ha_watchdog_timeout_ms = 10000;
    /* Proxmox's watchdog fencing waits 60 s; a run lease renewed every 5 s
     * lets 30 s do (docs/ha.md). The margin covers stopping the guests. */
    cfg->self_fence_timeout_ms = 30000;
    cfg->fence_margin_ms = 5000;
    /* vm_cooldown and wake_cooldown stay 0: the policy's own apply. */
    config_policy_defaults(cfg);
}

static int parse_u32(const char *s, uint32_t *out) {
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* "250ms", "5s", "2m": a whole number and a unit, to milliseconds. */
static int parse_duration_ms(const char *s, uint32_t *out) {
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *unit;
    unsigned long long v = strtoull(s, &unit, 10);
    unsigned long long mult;
    if (errno)
        return -1;
    if (strcmp(unit, "ms") == 0)
        mult = 1;
    else if (strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "m") == 0)
        mult = 60000;
    else if (strcmp(unit, "h") == 0)
        mult = 3600000;
    else
        return -1;
    if (v > UINT32_MAX / mult)
        return -1;
    *out = (uint32_t)(v * mult);
    return 0;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

/* "a, b ,c": items trimmed; an empty item ("a,,b") is an error. */
static int parse_list(const char *value, struct config_list *list) {
    list->n = 0;
    for (const char *p = value;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[CONFIG_ADDR_MAX];
        if (len >= sizeof item || list->n == CONFIG_LIST_MAX)
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        char *t = trim(item);
        if (!*t)
            return -1;
        strcpy(list->item[list->n++], t);
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* inih as Debian builds it reads lines of at most 200 bytes (INI_MAX_LINE,
 * compiled into the library) and reads the rest of a longer one as a line
 * of its own: a long seeds list would come back as "unknown key". So
 * inih's lines come from this reader (ini_parse_stream), which reads
 * whole lines of any length up to CONFIG_LINE_MAX. A line that fits in
 * inih's buffer goes as it is; a longer key = value line goes with a
 * marker for its value, which on_key replaces with the value kept here;
 * any other long line (a comment aside) becomes a line on_key refuses, so
 * the error names it. One reader call is one line of the file, which keeps
 * inih's line numbers. */
#define LONG_VALUE "\x01"
#define TOO_LONG "\x02"

struct line_reader {
    FILE *f;
    char *line; /* getline's buffer */
    size_t cap;
    char *value; /* the value of the last long line */
    /* What the last line was: the markers mean something only then (a
     * short line may hold the same bytes). */
    enum { LINE_AS_IS, LINE_LONG_VALUE, LINE_REFUSED } kind;
    bool too_long; /* the last line exceeded CONFIG_LINE_MAX */
};

/* inih's inline comments: ';' after whitespace ends a value. */
static void strip_comment(char *v) {
    for (char *p = v; *p; p++)
        if (*p == ';' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
}

static char *read_line(char *str, int num, void *stream) {
    struct line_reader *r = stream;
    ssize_t n = getline(&r->line, &r->cap, r->f);
    if (n < 0)
        return NULL;
    r->kind = LINE_AS_IS;
    if ((size_t)n < (size_t)num) {
        memcpy(str, r->line, (size_t)n + 1);
        return str;
    }
    char *text = r->line;
    while (*text == ' ' || *text == '\t')
        text++;
    if (*text == '#' || *text == ';') {
        snprintf(str, (size_t)num, "#\n");
        return str;
    }
    size_t key_len = strcspn(text, "=:");
    r->too_long = (size_t)n > CONFIG_LINE_MAX;
    if (r->too_long || !text[key_len] || key_len + sizeof LONG_VALUE + 3 > (size_t)num) {
        r->kind = LINE_REFUSED;
        snprintf(str, (size_t)num, TOO_LONG " = " TOO_LONG "\n");
        return str;
    }
    char *value = text + key_len + 1;
    value[strcspn(value, "\r\n")] = '\0';
    strip_comment(value);
    free(r->value);
    r->value = strdup(value);
    r->kind = r->value ? LINE_LONG_VALUE : LINE_REFUSED;
    if (!r->value) {
        snprintf(str, (size_t)num, TOO_LONG " = " TOO_LONG "\n");
        return str;
    }
    snprintf(str, (size_t)num, "%.*s= " LONG_VALUE "\n", (int)key_len, text);
    return str;
}

struct parse_state {
    struct config *cfg;
    struct line_reader *reader;
    bool candidate_set; /* [node] candidate was written out */
    char error[400];    /* the first error; inih reports its line */
};

static int set_key(struct config *cfg, const struct key *k, const char *value) {
    char *field = (char *)cfg + k->offset;
    switch (k->type) {
    case T_STRING:
    case T_PATH:
        if (!*value || strlen(value) >= k->size || (k->type == T_PATH && value[0] != '/'))
            return -1;
        strcpy(field, value);
        return 0;
    case T_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0)
            *(bool *)field = false;
        else
            return -1;
        return 0;
    case T_UINT:
    case T_DURATION:
    case T_PORT: {
        uint32_t v;
        int rc = k->type == T_DURATION ? parse_duration_ms(value, &v) : parse_u32(value, &v);
        if (rc != 0 || v < k->min || v > k->max)
            return -1;
        if (k->type == T_PORT)
            *(uint16_t *)field = (uint16_t)v;
        else
            *(uint32_t *)field = v;
        return 0;
    }
    case T_LIST:
        return parse_list(value, (struct config_list *)field);
    case T_PERCENT: {
        char num[16];
        size_t n = strlen(value);
        uint32_t v;
        if (n < 2 || n >= sizeof num || value[n - 1] != '%')
            return -1;
        memcpy(num, value, n - 1);
        num[n - 1] = '\0';
        if (parse_u32(num, &v) != 0 || v < k->min || v > k->max)
            return -1;
        *(uint32_t *)field = v;
        return 0;
    }
    case T_OPTIONAL:
        if (strlen(value) >= k->size)
            return -1;
        strcpy(field, value);
        return 0;
    case T_LOG_LEVEL:
        return log_level_parse(value, (enum log_level *)field);
    case T_LOG_FORMAT:
        return log_format_parse(value, (enum log_format *)field);
    case T_MAC: {
        unsigned b[6];
        char end;
        if (strlen(value) != 17 || sscanf(value, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
                                          &b[3], &b[4], &b[5], &end) != 6)
            return -1;
        for (size_t i = 0; i < 17; i++)
            if (i % 3 == 2 ? value[i] != ':' : !isxdigit((unsigned char)value[i]))
                return -1;
        strcpy(field, value);
        return 0;
    }
    case T_AUTOMATION:
        for (size_t i = 0; i < sizeof automation_names / sizeof *automation_names; i++)
            if (strcmp(value, automation_names[i]) == 0) {
                *(enum config_automation *)field = (enum config_automation)i;
                return 0;
            }
        return -1;
    }
    return -1;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
    struct parse_state *st = user;
    if (st->reader->kind == LINE_REFUSED) {
        if (!st->error[0])
            snprintf(st->error, sizeof st->error, "%s",
                     st->reader->too_long
                         ? "line longer than " CONFIG_LINE_MAX_TEXT " characters"
                         : "a long line that is not 'key = value'");
        return 0;
    }
    if (st->reader->kind == LINE_LONG_VALUE && strcmp(value, LONG_VALUE) == 0)
        value = trim(st->reader->value);
    char policy_err[sizeof st->error];
    int policy = config_policy_key(st->cfg, section, name, value, policy_err, sizeof policy_err);
    if (policy < 0 && !st->error[0])
        snprintf(st->error, sizeof st->error, "%s", policy_err);
    if (policy != 0)
        return policy > 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const struct key *k = &keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
            continue;
        if (set_key(st->cfg, k, value) == 0) {
            st->candidate_set |= k->offset == offsetof(struct config, candidate);
            return 1;
        }
        if (!st->error[0]) {
            if (k->type == T_UINT || k->type == T_DURATION || k->type == T_PERCENT)
                snprintf(st->error, sizeof st->error,
                         "key '%s' in [%s]: expected %s between %u and %u%s, got '%.80s'", name,
                         section, expected(k), k->min, k->max,
                         k->type == T_DURATION ? " ms" : k->type == T_PERCENT ? " %" : "", value);
            else if ((k->type == T_STRING || k->type == T_PATH || k->type == T_OPTIONAL) &&
                     strlen(value) >= k->size)
                snprintf(st->error, sizeof st->error,
                         "key '%s' in [%s]: expected %s of at most %zu characters, got '%.80s'",
                         name, section, expected(k), k->size - 1, value);
            else
                snprintf(st->error, sizeof st->error, "key '%s' in [%s]: expected %s, got '%.80s'",
                         name, section, expected(k), value);
        }
        return 0;
    }
    if (!st->error[0]) {
        if (!*section)
            snprintf(st->error, sizeof st->error, "key '%s' is outside any [section]", name);
        else
            snprintf(st->error, sizeof st->error, "unknown key '%s' in [%s]", name, section);
    }
    return 0;
}

/* Candidates are "name" or "name:priority". */
static bool candidate_listed(const struct config_list *l, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(l->item[i], name, n) == 0 && (l->item[i][n] == '\0' || l->item[i][n] == ':'))
            return true;
    return false;
}

/* Rules that involve more than one key; no single line is to blame. */
static int validate(const struct config *cfg, char *err, size_t len) {
    if (cfg->heartbeat_interval_ms * 2 > cfg->election_timeout_ms) {
        snprintf(err, len,
                 "[election] election_timeout (%u ms) must be at least twice heartbeat_interval (%u ms)",
                 cfg->election_timeout_ms, cfg->heartbeat_interval_ms);
        return -1;
    }
    if (cfg->lease_drift_margin_ms >= cfg->election_timeout_ms) {
        snprintf(err, len,
                 "[election] lease_drift_margin (%u ms) must be shorter than election_timeout (%u ms)",
                 cfg->lease_drift_margin_ms, cfg->election_timeout_ms);
        return -1;
    }
    if (cfg->rebalance_shares_min && cfg->rebalance_shares_max &&
        cfg->rebalance_shares_min > cfg->rebalance_shares_max) {
        snprintf(err, len, "[hypervisor] rebalance_shares_min (%u) is above rebalance_shares_max "
                 "(%u)", cfg->rebalance_shares_min, cfg->rebalance_shares_max);
        return -1;
    }
    if (cfg->power_idle_watts > cfg->power_max_watts) {
        snprintf(err, len, "[leader] power_idle_watts (%u) is above power_max_watts (%u)",
                 cfg->power_idle_watts, cfg->power_max_watts);
        return -1;
    }
    if (cfg->candidate && !candidate_listed(&cfg->candidates, cfg->node_name)) {
        snprintf(err, len, "[node] candidate = true but node '%s' is not in [cluster] candidates",
                 cfg->node_name);
        return -1;
    }
    return 0;
}

int config_load(const char *path, struct config *cfg, struct config_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) {
        config_defaults(cfg);
        snprintf(err->text, sizeof err->text, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = config_parse(f, path, cfg, err);
    fclose(f);
    return rc;
}

int config_parse(FILE *f, const char *path, struct config *cfg, struct config_error *err) {
    config_defaults(cfg);
    if (strlen(path) >= sizeof cfg->path) {
        snprintf(err->text, sizeof err->text, "%.100s...: path too long", path);
        return -1;
    }
    strcpy(cfg->path, path);
    struct line_reader reader = {.f = f};
    struct parse_state st = {.cfg = cfg, .reader = &reader};
    int line = ini_parse_stream(read_line, &reader, on_key, &st);
    free(reader.line);
    free(reader.value);
    if (line != 0) {
        if (!st.error[0])
            snprintf(st.error, sizeof st.error, "syntax error: expected '[section]' or 'key = value'");
        snprintf(err->text, sizeof err->text, "%s:%d: %s", path, line, st.error);
        return -1;
    }
    char msg[400];
    bool listed = candidate_listed(&cfg->candidates, cfg->node_name);
    if (st.candidate_set && !cfg->candidate && listed) {
        snprintf(err->text, sizeof err->text,
                 "%s: [node] candidate = false but node '%s' is in [cluster] candidates", path,
                 cfg->node_name);
        return -1;
    }
    /* Being named in the candidate list is what makes a node a voter. */
    cfg->candidate = cfg->candidate || listed;
    if (validate(cfg, msg, sizeof msg) != 0) {
        snprintf(err->text, sizeof err->text, "%s: %s", path, msg);
        return -1;
    }
    return 0;
}
