/* The agent's shell, its record (agent_record.c, agent_actions.c): what
 * this host carried out or refused (migrations, its power-off, wakes), and
 * the host record gossip carries, built by the agent's own host_record_build
 * from the simulated hypervisor's sample. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/host_record.h"
#include "sim_agent.h"

/* Host i's Wake-on-LAN MAC, and back: a simulated magic packet finds its
 * host by it. */
static void wake_mac(uint32_t i, char *out, size_t len) {
    snprintf(out, len, "52:54:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
}

uint32_t simh_host_of_mac(const struct sim_cluster *c, const char *mac) {
    unsigned a, b;
    if (sscanf(mac, "52:54:00:00:%2x:%2x", &a, &b) != 2 || (a << 8 | b) >= c->o.hosts)
        return UINT32_MAX;
    return a << 8 | b;
}

struct action *simh_action_find(struct sim_host *h, const char *id) {
    for (size_t k = 0; k < ACTIONS_MAX; k++)
        if (h->actions[k].used && strcmp(h->actions[k].id, id) == 0)
            return &h->actions[k];
    return NULL;
}

/* A free slot, else the one that ended longest ago; NULL if all run. */
static struct action *action_slot(struct sim_host *h) {
    struct action *best = NULL;
    for (size_t k = 0; k < ACTIONS_MAX; k++) {
        struct action *x = &h->actions[k];
        if (!x->used)
            return x;
        if (x->state != REPORT_RUNNING && (!best || x->ended_ms < best->ended_ms))
            best = x;
    }
    return best;
}

struct action *simh_action_new(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                               enum action_kind kind) {
    struct action *x = action_slot(h);
    if (!x)
        return NULL;
    memset(x, 0, sizeof *x);
    x->used = true;
    snprintf(x->id, sizeof x->id, "%s", cmd->id);
    x->kind = kind;
    x->term = cmd->term;
    x->state = REPORT_RUNNING;
    x->started_ms = simh_stamp(c, h);
    if (kind == ACT_MIGRATION) {
        snprintf(x->vm, sizeof x->vm, "%s", cmd->migrate.vm);
        snprintf(x->destination, sizeof x->destination, "%s", cmd->migrate.destination);
    } else if (kind == ACT_WAKE) {
        snprintf(x->vm, sizeof x->vm, "%s", cmd->wake.host);
        snprintf(x->destination, sizeof x->destination, "%s", cmd->wake.host);
    } else if (kind == ACT_DEFINE) {
        snprintf(x->vm, sizeof x->vm, "%s", cmd->define.name);
        snprintf(x->destination, sizeof x->destination, "%s", h->name);
    } else {
        snprintf(x->destination, sizeof x->destination, "%s", h->name);
    }
    return x;
}

void simh_actions_keep(struct sim_cluster *c, struct sim_host *h) {
    struct host_failed f[HOST_FAILED_MAX];
    size_t n = 0;
    for (size_t k = 0; k < ACTIONS_MAX && n < HOST_FAILED_MAX; k++) {
        const struct action *x = &h->actions[k];
        if (!x->used || x->kind != ACT_MIGRATION ||
            (x->state != REPORT_RUNNING && x->state != REPORT_FAILED &&
             x->state != REPORT_ABORTED))
            continue;
        f[n] = (struct host_failed){.state = x->state, .started_ms = x->started_ms,
                                    .ended_ms = x->ended_ms, .term = x->term};
        memcpy(f[n].id, x->id, sizeof f[n].id);
        memcpy(f[n].destination, x->destination, sizeof f[n].destination);
        memcpy(f[n].vm, x->vm, sizeof f[n].vm);
        n++;
    }
    if (host_failed_format(f, n, h->disk.failed, sizeof h->disk.failed) < 0) {
        sim_trace(c, "%s: cannot keep its failed migrations", h->name);
        c->violations++;
    }
}

void simh_actions_restore(struct sim_cluster *c, struct sim_host *h) {
    struct host_failed f[HOST_FAILED_MAX];
    size_t bad;
    size_t n = host_failed_parse(h->disk.failed, f, HOST_FAILED_MAX, &bad);
    memset(h->actions, 0, sizeof h->actions);
    if (bad) {
        sim_trace(c, "%s: %zu unreadable line(s) in its failed migrations", h->name, bad);
        c->violations++;
    }
    for (size_t k = 0; k < n && k < ACTIONS_MAX; k++) {
        struct action *x = &h->actions[k];
        *x = (struct action){.used = true, .kind = ACT_MIGRATION, .state = f[k].state,
                             .started_ms = f[k].started_ms, .ended_ms = f[k].ended_ms,
                             .term = f[k].term};
        _Static_assert(sizeof x->id == sizeof f[k].id && sizeof x->vm == sizeof f[k].vm &&
                           sizeof x->destination == sizeof f[k].destination,
                       "an entry's fields are the action's");
        memcpy(x->id, f[k].id, sizeof x->id);
        memcpy(x->vm, f[k].vm, sizeof x->vm);
        memcpy(x->destination, f[k].destination, sizeof x->destination);
        x->orphan = f[k].state == REPORT_RUNNING;
        x->mig = UINT32_MAX;
        snprintf(x->error, sizeof x->error, "%s",
                 x->orphan ? "" : "failed before this agent started");
    }
}

void simh_orphans_settle(struct sim_cluster *c, struct sim_host *h) {
    struct hv_fresh view;
    bool fresh = false;
    for (size_t k = 0; k < ACTIONS_MAX; k++) {
        struct action *x = &h->actions[k];
        if (!x->used || !x->orphan || x->state != REPORT_RUNNING)
            continue;
        if (!fresh)
            sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
        fresh = true;
        struct host_failed f = {.state = x->state};
        memcpy(f.id, x->id, sizeof f.id);
        memcpy(f.vm, x->vm, sizeof f.vm);
        char why[COMMAND_REASON_MAX];
        enum report_state st =
            host_failed_settle(&f, view.available, hv_fresh_find(&view, x->vm), why, sizeof why);
        if (st == REPORT_RUNNING)
            continue;
        x->orphan = false;
        sim_trace(c, "%s: migration %s of %s settled %s: %s", h->name, x->id, x->vm,
                  report_state_name(st), why);
        simh_action_end(c, h, x, st, st == REPORT_SUCCEEDED ? NULL : why);
    }
}

void simh_action_end(struct sim_cluster *c, struct sim_host *h, struct action *x,
                     enum report_state st, const char *why) {
    x->state = st;
    x->ended_ms = simh_stamp(c, h);
    snprintf(x->error, sizeof x->error, "%s", why ? why : "");
    if (x->kind == ACT_MIGRATION)
        simh_actions_keep(c, h);
}

/* A command refused before it ran: reported, so its issuer stops waiting. */
void simh_refused(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                  const char *why) {
    sim_trace(c, "%s: refuses %s (term %" PRIu64 "): %s", h->name, cmd->id, cmd->term, why);
    if (cmd->kind != COMMAND_MIGRATE && cmd->kind != COMMAND_POWER_OFF &&
        cmd->kind != COMMAND_WAKE && cmd->kind != COMMAND_DEFINE)
        return;
    struct action *x = simh_action_find(h, cmd->id);
    if (!x)
        x = simh_action_new(c, h, cmd,
                            cmd->kind == COMMAND_MIGRATE     ? ACT_MIGRATION
                            : cmd->kind == COMMAND_POWER_OFF ? ACT_POWER_OFF
                            : cmd->kind == COMMAND_DEFINE    ? ACT_DEFINE
                                                             : ACT_WAKE);
    if (x)
        simh_action_end(c, h, x, REPORT_REFUSED, why);
}

static int actions_to_record(const struct sim_host *h, Nodectl__HostRecord *rec) {
    struct host_record_action r[ACTIONS_MAX];
    size_t n = 0;
    for (size_t k = 0; k < ACTIONS_MAX; k++) {
        const struct action *x = &h->actions[k];
        if (x->used)
            r[n++] = (struct host_record_action){
                .id = x->id,
                .vm = x->vm,
                .destination = x->destination,
                .state = report_state_name(x->state),
                .error = x->error,
                .kind = x->kind == ACT_MIGRATION   ? ""
                        : x->kind == ACT_POWER_OFF ? "power-off"
                        : x->kind == ACT_DEFINE    ? "define"
                                                   : "wake",
                .progress = x->state == REPORT_SUCCEEDED,
                .started_ms = x->started_ms,
                .ended_ms = x->ended_ms,
                .term = x->term};
    }
    return host_record_actions(rec, r, n);
}

/* This host's record now, as agent_self_record builds it. */
Nodectl__HostRecord *simh_self_record(struct sim_cluster *c, struct sim_host *h) {
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.node_name, sizeof cfg.node_name, "%s", h->name);
    snprintf(cfg.bind_address, sizeof cfg.bind_address, "%s", h->name);
    cfg.port = SIM_PORT;
    cfg.candidate = h->candidate;
    struct hv_sample s;
    sim_hv_sample(&c->hv, h->i, (double)c->now_us / 1e6, &s, c->vms_scratch);
    uuid_t id = {0};
    id[0] = (unsigned char)h->i;
    id[1] = (unsigned char)(h->i >> 8);
    double load[3] = {0, 0, 0};
    if (s.available && s.cpus)
        h->capacity = (struct host_capacity){s.cpus, s.cpu_mhz, s.memory_kib};
    Nodectl__HostRecord *rec = host_record_build(&cfg, id, "qemu:///system", &s, &h->capacity,
                                                 load, simh_stamp(c, h));
    if (!rec)
        return NULL;
    char uri[COMMAND_URI_MAX], mac[COMMAND_MAC_MAX];
    snprintf(uri, sizeof uri, "qemu+tcp://%s/system", h->name);
    wake_mac(h->i, mac, sizeof mac);
    Nodectl__Power *pw = malloc(sizeof *pw);
    if (pw) {
        nodectl__power__init(pw);
        rec->power = pw;
        pw->can_power_off = !h->candidate;
        pw->wake_mac = strdup(mac);
        pw->wake_broadcast = strdup("10.0.0.255:9");
        pw->network = strdup("10.0.0.0/24");
        if (c->bmc && c->bmc[h->i]) {
            char bmc[32];
            snprintf(bmc, sizeof bmc, "10.0.1.%u", h->i + 1);
            pw->ipmi_address = strdup(bmc);
        }
    }
    uint64_t term = h->e ? h->disk.fence.highest : h->shown_term;
    const char *leader = "";
    char lname[COMMAND_NAME_MAX] = "";
    if (h->e) {
        uint64_t lid = election_leader(h->e);
        if (lid >= simh_voter_id(0) && lid < simh_voter_id(c->o.candidates)) {
            simh_name((uint32_t)(lid - simh_voter_id(0)), lname, sizeof lname);
            leader = lname;
        }
        rec->lease = election_has_lease(h->e, simh_mono(c, h));
    }
    rec->term = term;
    rec->drain = h->disk.drain;
    rec->leader = strdup(leader);
    rec->migration_uri = strdup(uri);
    if (!pw || !pw->wake_mac || !pw->wake_broadcast || !pw->network || !rec->leader ||
        !rec->migration_uri || actions_to_record(h, rec) != 0) {
        protobuf_c_message_free_unpacked(&rec->base, NULL);
        return NULL;
    }
    return rec;
}

void simh_publish(struct sim_cluster *c, struct sim_host *h) {
    Nodectl__HostRecord *rec = simh_self_record(c, h);
    if (!rec) {
        c->violations++;
        return;
    }
    size_t len = nodectl__host_record__get_packed_size(rec);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf) {
        nodectl__host_record__pack(rec, buf);
        if (gossip_set_record(h->g, simh_mono(c, h), buf, len) != 0)
            c->violations++;
    } else {
        c->violations++;
    }
    free(buf);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    simh_flush_gossip(c, h);
}
