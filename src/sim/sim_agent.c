/* The agent's I/O shell on a simulated host: what src/agent/ does around
 * the pure code, with the simulated clock, network, disk and hypervisor in
 * place of the real ones. The decisions are the shipped code's: gossip
 * (src/gossip), the election (src/election), the leader's executor and the
 * planner (src/leader, src/placement), and the host's acceptance of
 * commands and its checks at the resource (src/host). This file only moves
 * bytes, reads clocks and calls the hypervisor, one step at a time
 * (sim_cluster.h), so that a pause can fall between any two. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "host/host_checks.h"
#include "host/host_gate.h"
#include "host/host_guard.h"
#include "agent/host_record.h"
#include "leader/executor.h"
#include "leader/leader_view.h"
#include "sim_cluster.h"

/* The agent's sample interval ([hypervisor] sample_interval's default). */
#define SAMPLE_MS 5000
/* The agent announces "off" this long before its off command runs
 * (agent_power.c), for the news to spread. */
#define OFF_SPREAD_MS 1000
/* The agent's timings for the cluster the simulator runs: the election's
 * defaults, a plan every 10 s and cool-downs short enough that the load's
 * swing within a run both consolidates and spreads. */
#define HEARTBEAT_MS 100
#define ELECTION_TIMEOUT_MS 500
#define LEASE_MARGIN_MS 100
#define PLAN_INTERVAL_MS 10000
#define MIGRATION_TIMEOUT_MS 120000
#define POWER_ON_TIMEOUT_MS 180000
#define VM_COOLDOWN_S 60
#define WAKE_COOLDOWN_S 120
#define MAX_MIGRATIONS 4
/* The bound on clock rates every host's code assumes (src/election's margin
 * covers 20 %: 100 ms of a 500 ms timeout); the simulated clocks stay
 * within it. */
#define RHO 0.05
#define ACTIONS_MAX 32

enum action_kind { ACT_MIGRATION, ACT_POWER_OFF, ACT_WAKE };

/* A command this host carries out, as its record reports it (the agent's
 * agent_actions.c). */
struct action {
    bool used;
    char id[COMMAND_ID_MAX];
    enum action_kind kind;
    char vm[COMMAND_VM_MAX];
    char destination[COMMAND_NAME_MAX];
    enum report_state state;
    char error[COMMAND_REASON_MAX];
    uint64_t started_ms, ended_ms; /* wall */
    uint64_t term;
    uint32_t mig; /* the hypervisor's migration */
};

/* A plan being computed in the worker thread. */
struct plan_job {
    bool busy;
    uint64_t term;
    struct executor_member *m;
    size_t n;
    struct leader_snapshot snap;
    struct placement_plan pp;
    int rc;
    int64_t done_us;
};

/* The payload of a STEP_SEND_CHECK / STEP_SEND. */
struct send_step {
    struct executor_send s;
    uint64_t term;
};
/* STEP_GRANT / STEP_GRANT_SEND. */
struct grant_step {
    struct grant_request req;
    struct grant grant;
    uint32_t to;
};
/* STEP_ACT_CHECK / STEP_ACT. */
struct act_step {
    struct command cmd;
    uint64_t deadline;
};

struct member_cache {
    uint64_t version;
    Nodectl__HostRecord *rec;
};

struct sim_host {
    uint32_t i;
    char name[COMMAND_NAME_MAX];
    bool candidate;
    bool up;
    int64_t frozen_until_us;
    int64_t wake_at_us;
    uint32_t wake_gen;
    struct sim_clock clock;
    struct sim_disk disk;
    struct gossip *g;
    struct election *e;
    struct executor *ex;
    struct host_guard *guard;
    struct prng rng; /* the planner's */
    /* The loop's queue of steps. */
    struct sim_step *q;
    size_t q_head, q_n, q_cap;
    int64_t next_sample_ms;
    bool lead_due;
    uint64_t seen_term;
    bool seen_lease;
    struct plan_job plan;
    struct member_cache *cache; /* per host index */
    struct action actions[ACTIONS_MAX];
    bool have_sample;
    /* The power-off under way: committed, the off command at off_at_ms. */
    bool off_pending;
    int64_t off_at_ms;
    char off_id[COMMAND_ID_MAX];
    uint64_t off_term;
};

const char *sim_step_name(enum sim_step_kind k) {
    switch (k) {
    case STEP_RECEIVE: return "receive";
    case STEP_TICK: return "tick";
    case STEP_SAMPLE: return "sample";
    case STEP_LEAD: return "lead";
    case STEP_PLAN: return "plan";
    case STEP_PLAN_DONE: return "plan-done";
    case STEP_SEND_CHECK: return "send-check";
    case STEP_SEND: return "send";
    case STEP_GRANT: return "grant";
    case STEP_GRANT_SEND: return "grant-send";
    case STEP_ACT_CHECK: return "act-check";
    case STEP_ACT: return "act";
    case STEP_OFF_CHECK: return "off-check";
    case STEP_OFF: return "off";
    case STEP_KINDS: break;
    }
    return "?";
}

static uint64_t voter_id(uint32_t i) { return 0x100 + i; }

static int64_t mono(const struct sim_cluster *c, const struct sim_host *h) {
    return sim_clock_mono_ms(&h->clock, c->now_us);
}

static uint64_t wall(const struct sim_cluster *c, const struct sim_host *h) {
    return (uint64_t)sim_clock_wall_ms(&h->clock, c->now_us);
}

/* ---- the step queue ---- */

static int q_grow(struct sim_host *h) {
    size_t cap = h->q_cap ? 2 * h->q_cap : 16;
    struct sim_step *q = malloc(cap * sizeof *q);
    if (!q)
        return -1;
    for (size_t k = 0; k < h->q_n; k++)
        q[k] = h->q[(h->q_head + k) % h->q_cap];
    free(h->q);
    h->q = q;
    h->q_cap = cap;
    h->q_head = 0;
    return 0;
}

/* Queues a step at the back, or at the front (the continuation of the step
 * that runs now, before anything else). p is taken. */
static int push(struct sim_host *h, enum sim_step_kind kind, void *p, size_t len, bool front) {
    if (h->q_n == h->q_cap && q_grow(h) != 0) {
        free(p);
        return -1;
    }
    struct sim_step s = {.kind = kind, .p = p, .len = len};
    if (front) {
        h->q_head = (h->q_head + h->q_cap - 1) % h->q_cap;
        h->q[h->q_head] = s;
    } else {
        h->q[(h->q_head + h->q_n) % h->q_cap] = s;
    }
    h->q_n++;
    return 0;
}

static void q_clear(struct sim_host *h) {
    for (size_t k = 0; k < h->q_n; k++)
        free(h->q[(h->q_head + k) % h->q_cap].p);
    h->q_n = 0;
    h->q_head = 0;
}

static void *copy_of(const void *p, size_t len) {
    void *x = malloc(len);
    if (x)
        memcpy(x, p, len);
    return x;
}

/* ---- names and addresses ---- */

static void host_name(uint32_t i, char *out, size_t len) { snprintf(out, len, "n%u", i + 1); }

uint32_t sim_host_index(const struct sim_cluster *c, const char *name) {
    if (name[0] != 'n')
        return UINT32_MAX;
    char *end;
    unsigned long k = strtoul(name + 1, &end, 10);
    if ((*end && *end != ':') || k < 1 || k > c->o.hosts)
        return UINT32_MAX;
    return (uint32_t)(k - 1);
}

static void wake_mac(uint32_t i, char *out, size_t len) {
    snprintf(out, len, "52:54:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
}

static uint32_t host_of_mac(const struct sim_cluster *c, const char *mac) {
    unsigned a, b;
    if (sscanf(mac, "52:54:00:00:%2x:%2x", &a, &b) != 2 || (a << 8 | b) >= c->o.hosts)
        return UINT32_MAX;
    return a << 8 | b;
}

/* ---- sending ---- */

static void send_msg(struct sim_cluster *c, uint32_t from, uint32_t to, uint32_t kind,
                     uint8_t *data, size_t len) {
    if (sim_net_send_queued(&c->net, c->now_us, kind, from, to, data, len) != 0)
        c->violations++; /* out of memory: the run is not trustworthy */
}

static void send_command_msg(struct sim_cluster *c, uint32_t from, uint32_t to,
                             const struct command_msg *m) {
    uint8_t *data;
    size_t len;
    if (command_msg_encode(m, &data, &len) != 0) {
        c->violations++;
        return;
    }
    send_msg(c, from, to, EV_COMMAND, data, len);
}

static void flush_gossip(struct sim_cluster *c, struct sim_host *h);

/* ---- the record ---- */

static struct action *action_find(struct sim_host *h, const char *id) {
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

static struct action *action_new(struct sim_cluster *c, struct sim_host *h,
                                 const struct command *cmd, enum action_kind kind) {
    struct action *x = action_slot(h);
    if (!x)
        return NULL;
    memset(x, 0, sizeof *x);
    x->used = true;
    snprintf(x->id, sizeof x->id, "%s", cmd->id);
    x->kind = kind;
    x->term = cmd->term;
    x->state = REPORT_RUNNING;
    x->started_ms = wall(c, h);
    if (kind == ACT_MIGRATION) {
        snprintf(x->vm, sizeof x->vm, "%s", cmd->migrate.vm);
        snprintf(x->destination, sizeof x->destination, "%s", cmd->migrate.destination);
    } else if (kind == ACT_WAKE) {
        snprintf(x->vm, sizeof x->vm, "%s", cmd->wake.host);
        snprintf(x->destination, sizeof x->destination, "%s", cmd->wake.host);
    } else {
        snprintf(x->destination, sizeof x->destination, "%s", h->name);
    }
    return x;
}

static void action_end(struct sim_cluster *c, struct sim_host *h, struct action *x,
                       enum report_state st, const char *why) {
    x->state = st;
    x->ended_ms = wall(c, h);
    snprintf(x->error, sizeof x->error, "%s", why ? why : "");
}

/* A command refused before it ran: reported, so its issuer stops waiting. */
static void report_refused(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                           const char *why) {
    if (cmd->kind != COMMAND_MIGRATE && cmd->kind != COMMAND_POWER_OFF &&
        cmd->kind != COMMAND_WAKE)
        return;
    struct action *x = action_find(h, cmd->id);
    if (!x)
        x = action_new(c, h, cmd,
                       cmd->kind == COMMAND_MIGRATE     ? ACT_MIGRATION
                       : cmd->kind == COMMAND_POWER_OFF ? ACT_POWER_OFF
                                                        : ACT_WAKE);
    if (x)
        action_end(c, h, x, REPORT_REFUSED, why);
}

static char *dup_str(const char *s) { return strdup(s ? s : ""); }

static int actions_to_record(const struct sim_host *h, Nodectl__HostRecord *rec) {
    size_t n = 0;
    for (size_t k = 0; k < ACTIONS_MAX; k++)
        n += h->actions[k].used;
    if (!n)
        return 0;
    rec->migrations = calloc(n, sizeof *rec->migrations);
    if (!rec->migrations)
        return -1;
    for (size_t k = 0; k < ACTIONS_MAX; k++) {
        const struct action *x = &h->actions[k];
        if (!x->used)
            continue;
        Nodectl__Migration *m = malloc(sizeof *m);
        if (!m)
            return -1;
        nodectl__migration__init(m);
        rec->migrations[rec->n_migrations++] = m;
        m->id = dup_str(x->id);
        m->vm = dup_str(x->vm);
        m->destination = dup_str(x->destination);
        m->state = dup_str(report_state_name(x->state));
        m->error = dup_str(x->error);
        m->kind = dup_str(x->kind == ACT_MIGRATION ? "" : x->kind == ACT_POWER_OFF ? "power-off"
                                                                                 : "wake");
        if (!m->id || !m->vm || !m->destination || !m->state || !m->error || !m->kind)
            return -1;
        m->progress = x->state == REPORT_SUCCEEDED;
        m->started_at_ms = x->started_ms;
        m->ended_at_ms = x->ended_ms;
        m->term = x->term;
    }
    return 0;
}

/* This host's record now, as agent_self_record builds it. */
static Nodectl__HostRecord *self_record(struct sim_cluster *c, struct sim_host *h) {
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
    Nodectl__HostRecord *rec = host_record_build(&cfg, id, "qemu:///system", &s, load, wall(c, h));
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
    }
    uint64_t term = h->disk.fence.highest;
    const char *leader = "";
    char lname[COMMAND_NAME_MAX] = "";
    if (h->e) {
        uint64_t lid = election_leader(h->e);
        if (lid >= voter_id(0) && lid < voter_id(c->o.candidates)) {
            host_name((uint32_t)(lid - voter_id(0)), lname, sizeof lname);
            leader = lname;
        }
        rec->lease = election_has_lease(h->e, mono(c, h));
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

static void publish(struct sim_cluster *c, struct sim_host *h) {
    Nodectl__HostRecord *rec = self_record(c, h);
    if (!rec) {
        c->violations++;
        return;
    }
    size_t len = nodectl__host_record__get_packed_size(rec);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf) {
        nodectl__host_record__pack(rec, buf);
        if (gossip_set_record(h->g, mono(c, h), buf, len) != 0)
            c->violations++;
    } else {
        c->violations++;
    }
    free(buf);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    flush_gossip(c, h);
}

/* ---- gossip and the fence ---- */

static const Nodectl__HostRecord *cached(struct sim_host *h, const struct gossip_member_info *m) {
    uint64_t j = m->id - 1;
    struct member_cache *mc = &h->cache[j];
    if (mc->rec && mc->version == m->record_version)
        return mc->rec;
    if (mc->rec)
        nodectl__host_record__free_unpacked(mc->rec, NULL);
    mc->rec = m->record_len ? nodectl__host_record__unpack(NULL, m->record_len, m->record) : NULL;
    mc->version = m->record_version;
    return mc->rec;
}

static void see_term(struct sim_host *h, uint64_t term) { fence_see(&h->disk.fence, term); }

static void flush_gossip(struct sim_cluster *c, struct sim_host *h) {
    struct gossip_msg gm;
    while (gossip_next_msg(h->g, &gm)) {
        uint32_t to = sim_addr_node(&gm.to);
        if (to < c->o.hosts)
            send_msg(c, h->i, to, EV_GOSSIP, gm.data, gm.len);
        else
            free(gm.data);
    }
    struct gossip_event ev;
    while (gossip_next_event(h->g, &ev)) {
        struct gossip_member_info m;
        /* Every host learns terms from the records (agent_election.c's
         * observe), which is how hosts that do not vote fence. */
        if (ev.kind == GOSSIP_EV_RECORD && ev.id >= 1 && ev.id <= c->o.hosts &&
            ev.id != h->i + 1U && gossip_member_find(h->g, ev.id, &m)) {
            const Nodectl__HostRecord *r = cached(h, &m);
            if (r)
                see_term(h, r->term);
        }
    }
}

/* ---- the election ---- */

static void flush_election(struct sim_cluster *c, struct sim_host *h) {
    if (!h->e)
        return;
    struct election_hard_state hs;
    if (election_unsaved(h->e, &hs)) {
        h->disk.hs = hs; /* written and flushed before anything leaves */
        election_saved(h->e);
    }
    see_term(h, election_term(h->e));
    struct election_msg em;
    while (election_next_msg(h->e, &em)) {
        uint64_t to = em.to - voter_id(0);
        if (to < c->o.candidates)
            send_msg(c, h->i, (uint32_t)to, EV_ELECTION, em.data, em.len);
        else
            free(em.data);
    }
    sim_check_lease(c, h->i);
    uint64_t term = election_term(h->e);
    bool lease = election_has_lease(h->e, mono(c, h));
    if (term != h->seen_term || lease != h->seen_lease) {
        if (lease && (term != h->seen_term || !h->seen_lease))
            sim_check_leader(c, h->i, term);
        h->seen_term = term;
        h->seen_lease = lease;
        h->lead_due = true;
        publish(c, h);
    }
}

/* The election as one fresh reading shows it. */
static struct executor_lease lease_now(const struct sim_cluster *c, const struct sim_host *h,
                                       char *leader, size_t len) {
    struct executor_lease l = {.leader = leader};
    leader[0] = '\0';
    if (!h->e)
        return l;
    l.term = election_term(h->e);
    uint64_t lid = election_leader(h->e);
    if (lid >= voter_id(0) && lid < voter_id(c->o.candidates))
        host_name((uint32_t)(lid - voter_id(0)), leader, len);
    int64_t now = mono(c, h);
    l.lease_until = election_has_lease(h->e, now) ? (uint64_t)election_lease_until(h->e) : 0;
    return l;
}

/* ---- the members as the executor takes them ---- */

static enum leader_liveness liveness(enum gossip_state s) {
    return s == GOSSIP_ALIVE || s == GOSSIP_SUSPECT ? LEADER_HOST_UP
           : s == GOSSIP_OFF                        ? LEADER_HOST_OFF
                                                    : LEADER_HOST_DOWN;
}

/* Every member with a record; `own` makes them the caller's copies (for
 * the worker thread), else they are borrowed from the cache and valid
 * until the next gossip input. The self entry is always a fresh record,
 * owned. *self_at says where it is. */
static int members_collect(struct sim_cluster *c, struct sim_host *h, bool own,
                           struct executor_member **out, size_t *n, size_t *self_at) {
    size_t count = gossip_member_count(h->g);
    struct executor_member *m = calloc(count + 1, sizeof *m);
    if (!m)
        return -1;
    size_t k = 0;
    *self_at = SIZE_MAX;
    for (size_t x = 0; x < count; x++) {
        struct gossip_member_info info;
        gossip_member_at(h->g, x, &info);
        if (info.id < 1 || info.id > c->o.hosts)
            continue;
        const Nodectl__HostRecord *r;
        if (info.id == h->i + 1U) {
            r = self_record(c, h);
            *self_at = k;
        } else if (own) {
            r = info.record_len ? nodectl__host_record__unpack(NULL, info.record_len, info.record)
                                : NULL;
        } else {
            r = cached(h, &info);
        }
        if (!r)
            continue;
        m[k++] = (struct executor_member){r, liveness(info.state)};
    }
    *out = m;
    *n = k;
    return 0;
}

static void members_free(struct executor_member *m, size_t n, bool own, size_t self_at) {
    for (size_t k = 0; k < n; k++)
        if (own || k == self_at)
            protobuf_c_message_free_unpacked((ProtobufCMessage *)&m[k].rec->base, NULL);
    free(m);
}

/* ---- the leader ---- */

static void observe(struct sim_cluster *c, struct sim_host *h) {
    char leader[COMMAND_NAME_MAX];
    struct executor_lease l = lease_now(c, h, leader, sizeof leader);
    executor_observe(h->ex, &l, (uint64_t)mono(c, h), wall(c, h));
}

static int step_lead(struct sim_cluster *c, struct sim_host *h) {
    h->lead_due = false;
    observe(c, h);
    if (!executor_leading(h->ex))
        return 0;
    struct executor_member *m;
    size_t n, self_at;
    if (members_collect(c, h, false, &m, &n, &self_at) != 0)
        return -1;
    int rc = executor_step(h->ex, m, n, (uint64_t)mono(c, h), wall(c, h));
    members_free(m, n, false, self_at);
    if (rc != 0)
        return -1;
    struct send_step st = {.term = h->seen_term};
    while (executor_next(h->ex, &st.s))
        if (push(h, STEP_SEND_CHECK, copy_of(&st, sizeof st), sizeof st, false) != 0)
            return -1;
    if (!h->plan.busy && executor_plan_due(h->ex, (uint64_t)mono(c, h)))
        return push(h, STEP_PLAN, NULL, 0, false);
    return 0;
}

/* How long the worker thread takes: the planner's work grows with the
 * cluster (docs/placement.md); a slow round is a pause fault's. */
static int64_t plan_time_us(struct sim_cluster *c) {
    return 2000 + 50 * (int64_t)(c->o.hosts + c->o.vms) + (int64_t)prng_below(&c->rng, 5000);
}

static void plan_release(struct plan_job *p) {
    if (!p->busy)
        return;
    placement_plan_free(&p->pp);
    leader_snapshot_free(&p->snap);
    members_free(p->m, p->n, true, SIZE_MAX);
    memset(p, 0, sizeof *p);
}

static int step_plan(struct sim_cluster *c, struct sim_host *h) {
    struct plan_job *p = &h->plan;
    if (p->busy || !executor_plan_due(h->ex, (uint64_t)mono(c, h)))
        return 0;
    size_t self_at;
    if (members_collect(c, h, true, &p->m, &p->n, &self_at) != 0)
        return -1;
    p->busy = true;
    placement_plan_init(&p->pp);
    enum executor_plan_start st = executor_plan_begin(h->ex, p->m, p->n, (uint64_t)mono(c, h),
                                                      wall(c, h), &p->snap, &p->term);
    if (st != EXECUTOR_PLAN_STARTED) {
        plan_release(p);
        return st == EXECUTOR_PLAN_ERROR ? -1 : 0;
    }
    /* The worker runs the planner; the loop goes on meanwhile. */
    p->rc = placement_plan(&p->snap.snap, &c->policy, (double)wall(c, h) / 1000, &h->rng,
                           &p->pp);
    p->done_us = c->now_us + plan_time_us(c);
    return 0;
}

static int step_plan_done(struct sim_cluster *c, struct sim_host *h) {
    struct plan_job *p = &h->plan;
    bool kept = executor_plan_end(h->ex, p->term, &p->snap, p->rc, &p->pp, (uint64_t)mono(c, h),
                                  wall(c, h));
    if (kept)
        sim_trace(c, "%s: plan of term %" PRIu64 ": %zu action(s)", h->name,
                  executor_plan_term(h->ex), executor_plan_size(h->ex));
    plan_release(p);
    /* Dispatch now; a pause may fall between the plan and its dispatch. */
    return kept ? push(h, STEP_LEAD, NULL, 0, false) : 0;
}

/* The hosts and VM a command is about, for the checks. */
static void command_objects(const struct sim_cluster *c, const struct command *cmd,
                            uint32_t *host, uint32_t *host2, uint32_t *vm) {
    *host = sim_host_index(c, cmd->target);
    *host2 = UINT32_MAX;
    *vm = UINT32_MAX;
    if (cmd->kind == COMMAND_MIGRATE) {
        *host2 = sim_host_index(c, cmd->migrate.destination);
        uint32_t v;
        if (strncmp(cmd->migrate.vm, "vm", 2) == 0 &&
            (v = (uint32_t)strtoul(cmd->migrate.vm + 2, NULL, 10)) < c->hv.n_vms)
            *vm = v;
    } else if (cmd->kind == COMMAND_WAKE) {
        *host = sim_host_index(c, cmd->wake.host);
    }
}

static void deliver_local(struct sim_cluster *c, struct sim_host *h, const struct command_msg *m);

static int step_send_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct send_step *st = s->p;
    char leader[COMMAND_NAME_MAX];
    struct executor_lease l = lease_now(c, h, leader, sizeof leader);
    if (l.term != st->s.cmd.term ||
        !executor_may_send(l.lease_until, (uint64_t)mono(c, h))) {
        executor_not_sent(h->ex, st->s.cmd.id, "the lease does not cover the send", wall(c, h));
        return 0;
    }
    s->p = NULL;
    return push(h, STEP_SEND, st, sizeof *st, true);
}

static int step_send(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct send_step *st = s->p;
    uint32_t a, b, v;
    command_objects(c, &st->s.cmd, &a, &b, &v);
    sim_check_acted(c, st->s.cmd.term, a, b, v);
    c->commands_sent++;
    if (st->s.cmd.kind == COMMAND_POWER_OFF && sim_faults_power_off_sent(c, a) != 0)
        return -1;
    char what[160];
    command_describe(&st->s.cmd, what, sizeof what);
    sim_trace(c, "%s: sends %s (%s, term %" PRIu64 ") to %s", h->name, what, st->s.cmd.id,
              st->s.cmd.term, st->s.cmd.target);
    struct command_msg m = {.kind = COMMAND_MSG_COMMAND, .command = st->s.cmd};
    if (st->s.local) {
        deliver_local(c, h, &m);
        return 0;
    }
    uint32_t to = sim_host_index(c, st->s.address);
    if (to == UINT32_MAX) {
        executor_not_sent(h->ex, st->s.cmd.id, "no such host", wall(c, h));
        return 0;
    }
    send_command_msg(c, h->i, to, &m);
    return 0;
}

/* A grant request, at the issuer: decided on a fresh reading. */
static int step_grant(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct grant_step *st = s->p;
    if (!h->ex) {
        memset(&st->grant, 0, sizeof st->grant);
        snprintf(st->grant.id, sizeof st->grant.id, "%s", st->req.id);
        snprintf(st->grant.target, sizeof st->grant.target, "%s", st->req.target);
        st->grant.term = st->req.term;
        st->grant.nonce = st->req.nonce;
        snprintf(st->grant.reason, sizeof st->grant.reason, "%s issues no commands", h->name);
    } else {
        char leader[COMMAND_NAME_MAX];
        struct executor_lease l = lease_now(c, h, leader, sizeof leader);
        executor_grant(h->ex, &st->req, l.term, l.lease_until, (uint64_t)mono(c, h),
                       &st->grant);
    }
    s->p = NULL;
    return push(h, STEP_GRANT_SEND, st, sizeof *st, true);
}

static int step_grant_send(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct grant_step *st = s->p;
    if (st->grant.granted) {
        c->grants++;
        uint32_t a = sim_host_index(c, st->grant.target);
        sim_check_acted(c, st->grant.term, a, UINT32_MAX, UINT32_MAX);
        sim_trace(c, "%s: grants %s to %s for %u ms (term %" PRIu64 ")", h->name, st->grant.id,
                  st->grant.target, st->grant.valid_ms, st->grant.term);
    }
    struct command_msg m = {.kind = COMMAND_MSG_GRANT, .grant = st->grant};
    if (st->to == h->i)
        deliver_local(c, h, &m);
    else
        send_command_msg(c, h->i, st->to, &m);
    return 0;
}

/* ---- the host's acceptance ---- */

static void guard_flush(struct sim_cluster *c, struct sim_host *h) {
    struct host_guard_out out;
    while (host_guard_next(h->guard, &out)) {
        if (out.kind == HOST_GUARD_OUT_GIVE_UP) {
            report_refused(c, h, &out.cmd, out.why);
            continue;
        }
        struct command_msg m = {.kind = COMMAND_MSG_ASK, .ask = out.ask};
        if (!out.reply_to[0]) {
            deliver_local(c, h, &m);
            continue;
        }
        uint32_t to = sim_host_index(c, out.reply_to);
        if (to != UINT32_MAX)
            send_command_msg(c, h->i, to, &m);
    }
}

static void on_command(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                       const char *reply_to) {
    enum host_guard_verdict v =
        host_guard_receive(h->guard, &h->disk.fence, cmd, reply_to, (uint64_t)mono(c, h));
    if (v != HOST_GUARD_ASK && v != HOST_GUARD_DUPLICATE && v != HOST_GUARD_NOT_TARGET)
        report_refused(c, h, cmd, host_guard_verdict_name(v));
    guard_flush(c, h);
}

static void on_grant(struct sim_cluster *c, struct sim_host *h, const struct grant *g) {
    struct act_step st;
    char why[COMMAND_REASON_MAX];
    enum host_guard_answer a = host_guard_on_grant(h->guard, &h->disk.fence, g,
                                                   (uint64_t)mono(c, h), &st.cmd, &st.deadline,
                                                   why, sizeof why);
    if (a == HOST_GUARD_REFUSED)
        report_refused(c, h, &st.cmd, why);
    else if (a == HOST_GUARD_ACT && push(h, STEP_ACT_CHECK, copy_of(&st, sizeof st), sizeof st,
                                         true) != 0)
        c->violations++;
}

/* A command channel message taken on host h from host `from`. */
static void on_command_msg(struct sim_cluster *c, struct sim_host *h, uint32_t from,
                           const struct command_msg *m) {
    char reply_to[COMMAND_NAME_MAX] = "";
    if (from != h->i)
        host_name(from, reply_to, sizeof reply_to);
    switch (m->kind) {
    case COMMAND_MSG_COMMAND: on_command(c, h, &m->command, reply_to); break;
    case COMMAND_MSG_ASK: {
        struct grant_step st = {.req = m->ask, .to = from};
        if (push(h, STEP_GRANT, copy_of(&st, sizeof st), sizeof st, true) != 0)
            c->violations++;
        break;
    }
    case COMMAND_MSG_GRANT: on_grant(c, h, &m->grant); break;
    }
}

/* Ourselves: handed over without the network, as the agent does. */
static void deliver_local(struct sim_cluster *c, struct sim_host *h, const struct command_msg *m) {
    on_command_msg(c, h, h->i, m);
}

/* The destination as this host's gossip shows it, for the source's check. */
static void peer_view(struct sim_cluster *c, struct sim_host *h, const char *name,
                      struct host_peer *p) {
    memset(p, 0, sizeof *p);
    p->name = name;
    p->self = h->name;
    uint32_t j = sim_host_index(c, name);
    struct gossip_member_info m;
    if (j == UINT32_MAX || !gossip_member_find(h->g, j + 1, &m))
        return;
    static const enum host_peer_state map[] = {
        [GOSSIP_ALIVE] = HOST_PEER_ALIVE, [GOSSIP_SUSPECT] = HOST_PEER_SUSPECT,
        [GOSSIP_DEAD] = HOST_PEER_DEAD,   [GOSSIP_LEFT] = HOST_PEER_LEFT,
        [GOSSIP_OFF] = HOST_PEER_OFF};
    p->state = map[m.state];
    const Nodectl__HostRecord *r = j == h->i ? NULL : cached(h, &m);
    if (!r)
        return;
    p->migration_uri = r->migration_uri;
    p->drain = r->drain;
    for (size_t k = 0; k < r->n_migrations; k++)
        p->powering_off |= report_kind_parse(r->migrations[k]->kind) == REPORT_POWER_OFF &&
                           report_state_parse(r->migrations[k]->state) == REPORT_RUNNING;
}

/* The target's last check before the action: the grant's deadline on a
 * fresh clock, and for a migration the destination as gossip shows it and
 * the domain as a fresh view of libvirt shows it (agent_guard.c, and the
 * hypervisor thread's check just before virDomainMigrate). A power-off is
 * judged on its fresh view after its gate closed (step_act). */
static int step_act_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct act_step *st = s->p;
    const struct command *cmd = &st->cmd;
    char why[COMMAND_REASON_MAX] = "";
    if (!host_guard_may_act(&h->disk.fence, cmd->term, st->deadline, (uint64_t)mono(c, h))) {
        report_refused(c, h, cmd, "the grant's deadline passed");
        return 0;
    }
    if (cmd->kind == COMMAND_MIGRATE) {
        struct host_peer dest;
        peer_view(c, h, cmd->migrate.destination, &dest);
        struct hv_fresh view;
        sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
        if (host_migrate_peer_check(cmd->term, h->disk.fence.highest, &dest,
                                    cmd->migrate.destination_uri, why, sizeof why) != HOST_OK ||
            host_migrate_vm_check(hv_fresh_find(&view, cmd->migrate.vm), cmd->migrate.vm, why,
                                  sizeof why) != HOST_OK) {
            report_refused(c, h, cmd, why);
            return 0;
        }
    } else if (cmd->kind == COMMAND_POWER_OFF && (h->candidate || h->off_pending)) {
        report_refused(c, h, cmd, h->candidate ? "this host is a leader candidate: it stays on"
                                               : "already powering off");
        return 0;
    }
    s->p = NULL;
    return push(h, STEP_ACT, st, sizeof *st, true);
}

static void set_gate(struct sim_cluster *c, struct sim_host *h, enum host_gate g) {
    sim_hv_set_gate(&c->hv, h->i, g);
}

static void back_on(struct sim_cluster *c, struct sim_host *h, const char *why);

/* The power-off's commitment: the gate closes (no migration arrives, no
 * domain starts), no command is accepted, then libvirt is asked, and only
 * an empty host announces "off" (agent_power.c). */
static void commit_off(struct sim_cluster *c, struct sim_host *h, const struct command *cmd) {
    struct action *x = action_new(c, h, cmd, ACT_POWER_OFF);
    if (!x)
        return;
    set_gate(c, h, HOST_GATE_CLOSED);
    host_guard_set_off(h->guard, true);
    h->off_pending = true;
    h->off_term = cmd->term;
    snprintf(h->off_id, sizeof h->off_id, "%s", cmd->id);
    struct hv_fresh view;
    char why[COMMAND_REASON_MAX];
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    if (host_power_off_check(&view, why, sizeof why) != HOST_OK) {
        back_on(c, h, why);
        return;
    }
    publish(c, h); /* the running action goes out before the OFF state */
    if (gossip_power_off(h->g, mono(c, h), NULL, 0) != 0)
        c->violations++;
    flush_gossip(c, h);
    h->off_at_ms = mono(c, h) + OFF_SPREAD_MS;
}

static int step_act(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct act_step *st = s->p;
    const struct command *cmd = &st->cmd;
    uint32_t a, b, v;
    command_objects(c, cmd, &a, &b, &v);
    char what[160];
    command_describe(cmd, what, sizeof what);
    char where[COMMAND_NAME_MAX + 170];
    snprintf(where, sizeof where, "%s: %s", h->name, what);
    sim_check_effect(c, where, cmd->term, a, b, v, s->paused);
    c->effects++;
    switch (cmd->kind) {
    case COMMAND_MIGRATE: {
        struct action *x = action_new(c, h, cmd, ACT_MIGRATION);
        if (!x)
            return 0;
        char err[COMMAND_REASON_MAX];
        uint32_t dst = sim_host_index(c, cmd->migrate.destination);
        if (dst == UINT32_MAX ||
            sim_hv_migrate(&c->hv, c->now_us, h->i, cmd->migrate.vm, dst, cmd->id, &x->mig, err,
                           sizeof err) != 0)
            action_end(c, h, x, REPORT_REFUSED, dst == UINT32_MAX ? "no such host" : err);
        break;
    }
    case COMMAND_POWER_OFF: commit_off(c, h, cmd); break;
    case COMMAND_WAKE: {
        struct action *x = action_new(c, h, cmd, ACT_WAKE);
        if (!x)
            return 0;
        uint32_t w = host_of_mac(c, cmd->wake.mac);
        if (w != UINT32_MAX)
            sim_hv_wake(&c->hv, c->now_us, w);
        action_end(c, h, x, REPORT_SUCCEEDED, NULL);
        break;
    }
    case COMMAND_DRAIN:
        h->disk.drain = cmd->drain;
        if (!h->off_pending)
            set_gate(c, h, cmd->drain ? HOST_GATE_DRAINED : HOST_GATE_OPEN);
        break;
    case COMMAND_TRANSFER:
        if (h->e && election_transfer(h->e, mono(c, h), 0) == 0)
            flush_election(c, h);
        break;
    }
    publish(c, h);
    return 0;
}

/* The power-off did not happen: alive again. */
static void back_on(struct sim_cluster *c, struct sim_host *h, const char *why) {
    struct action *x = action_find(h, h->off_id);
    if (x)
        action_end(c, h, x, REPORT_FAILED, why);
    h->off_pending = false;
    host_guard_set_off(h->guard, false);
    set_gate(c, h, h->disk.drain ? HOST_GATE_DRAINED : HOST_GATE_OPEN);
    if (gossip_resume(h->g, mono(c, h)) != 0)
        c->violations++;
    publish(c, h);
}

static int step_off_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct hv_fresh view;
    char why[COMMAND_REASON_MAX];
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    if (host_power_off_check(&view, why, sizeof why) != HOST_OK) {
        back_on(c, h, why);
        return 0;
    }
    (void)s;
    return push(h, STEP_OFF, NULL, 0, true);
}

static int step_off(struct sim_cluster *c, struct sim_host *h) {
    sim_trace(c, "%s: off command runs (%s, term %" PRIu64 ")", h->name, h->off_id, h->off_term);
    h->off_pending = false;
    sim_hv_power_off(&c->hv, c->now_us, h->i);
    /* The shutdown stops the agent with everything else. */
    sim_agent_stop(c, h->i);
    return 0;
}

/* ---- the loop ---- */

static int step_receive(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    int64_t now = mono(c, h);
    switch (s->channel) {
    case EV_GOSSIP: {
        struct gossip_addr from = sim_addr(s->from);
        gossip_receive(h->g, now, &from, s->p, s->len);
        flush_gossip(c, h);
        break;
    }
    case EV_ELECTION:
        if (h->e) {
            election_receive(h->e, now, voter_id(s->from), s->p, s->len);
            flush_election(c, h);
        }
        break;
    case EV_COMMAND: {
        struct command_msg m;
        char why[COMMAND_REASON_MAX];
        if (command_msg_decode(s->p, s->len, &m, why, sizeof why) == 0)
            on_command_msg(c, h, s->from, &m);
        break;
    }
    }
    return 0;
}

static int step_tick(struct sim_cluster *c, struct sim_host *h) {
    int64_t now = mono(c, h);
    if (now >= gossip_next_deadline(h->g)) {
        gossip_tick(h->g, now);
        flush_gossip(c, h);
    }
    if (h->e && now >= election_next_deadline(h->e)) {
        election_tick(h->e, now);
        flush_election(c, h);
    } else if (h->e) {
        flush_election(c, h); /* the lease may have run out */
    }
    if ((uint64_t)now >= host_guard_deadline(h->guard)) {
        host_guard_tick(h->guard, (uint64_t)now);
        guard_flush(c, h);
    }
    return 0;
}

static int step_sample(struct sim_cluster *c, struct sim_host *h) {
    h->next_sample_ms = mono(c, h) + SAMPLE_MS;
    publish(c, h);
    return 0;
}

static int run_step(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    switch (s->kind) {
    case STEP_RECEIVE: return step_receive(c, h, s);
    case STEP_TICK: return step_tick(c, h);
    case STEP_SAMPLE: return step_sample(c, h);
    case STEP_LEAD: return step_lead(c, h);
    case STEP_PLAN: return step_plan(c, h);
    case STEP_PLAN_DONE: return step_plan_done(c, h);
    case STEP_SEND_CHECK: return step_send_check(c, h, s);
    case STEP_SEND: return step_send(c, h, s);
    case STEP_GRANT: return step_grant(c, h, s);
    case STEP_GRANT_SEND: return step_grant_send(c, h, s);
    case STEP_ACT_CHECK: return step_act_check(c, h, s);
    case STEP_ACT: return step_act(c, h, s);
    case STEP_OFF_CHECK: return step_off_check(c, h, s);
    case STEP_OFF: return step_off(c, h);
    case STEP_KINDS: break;
    }
    return 0;
}

/* The earliest monotonic time this host's loop has work, as its timers say. */
static int64_t next_deadline_ms(const struct sim_host *h) {
    int64_t d = gossip_next_deadline(h->g);
    if (h->next_sample_ms < d)
        d = h->next_sample_ms;
    if (h->e) {
        int64_t e = election_next_deadline(h->e);
        if (e < d)
            d = e;
        /* Notice the lease running out, to stop acting. */
        if (h->seen_lease && election_lease_until(h->e) < d)
            d = election_lease_until(h->e);
    }
    uint64_t g = host_guard_deadline(h->guard);
    if (g < (uint64_t)d)
        d = (int64_t)g;
    if (h->ex) {
        uint64_t x = executor_deadline(h->ex);
        if (x < (uint64_t)d)
            d = (int64_t)x;
    }
    if (h->off_pending && h->off_at_ms < d)
        d = h->off_at_ms;
    return d;
}

/* Queues the timers' work that is due. */
static int due(struct sim_cluster *c, struct sim_host *h) {
    int64_t now = mono(c, h);
    int rc = 0;
    if (now >= gossip_next_deadline(h->g) ||
        (h->e && (now >= election_next_deadline(h->e) ||
                  (h->seen_lease && now >= election_lease_until(h->e)))) ||
        (uint64_t)now >= host_guard_deadline(h->guard))
        rc |= push(h, STEP_TICK, NULL, 0, false);
    if (now >= h->next_sample_ms)
        rc |= push(h, STEP_SAMPLE, NULL, 0, false);
    if (h->plan.busy && c->now_us >= h->plan.done_us)
        rc |= push(h, STEP_PLAN_DONE, NULL, 0, false);
    else if (h->ex && (h->lead_due || (uint64_t)now >= executor_deadline(h->ex)))
        rc |= push(h, STEP_LEAD, NULL, 0, false);
    if (h->off_pending && now >= h->off_at_ms) {
        h->off_at_ms = INT64_MAX; /* once */
        rc |= push(h, STEP_OFF_CHECK, NULL, 0, false);
    }
    return rc;
}

int sim_agent_run(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    if (!h->up)
        return 0;
    if (c->now_us < h->frozen_until_us)
        return sim_wake(c, i, h->frozen_until_us);
    for (int guard = 0; guard < 100000; guard++) {
        if (!h->q_n && (due(c, h) != 0 || !h->q_n))
            break;
        struct sim_step *s = &h->q[h->q_head];
        int64_t us;
        if (!s->paused && sim_faults_pause_at(c, i, s->kind, &us)) {
            s->paused = true;
            h->frozen_until_us = c->now_us + us;
            c->pauses++;
            sim_trace(c, "%s: paused %.3f s before %s", h->name, (double)us / 1e6,
                      sim_step_name(s->kind));
            return sim_wake(c, i, h->frozen_until_us);
        }
        struct sim_step st = *s;
        h->q_head = (h->q_head + 1) % h->q_cap;
        h->q_n--;
        int rc = run_step(c, h, &st);
        free(st.p);
        if (rc != 0)
            return -1;
        if (!h->up)
            return 0;
    }
    int64_t t = sim_clock_real_at(&h->clock, c->now_us, next_deadline_ms(h));
    if (h->plan.busy && h->plan.done_us < t)
        t = h->plan.done_us;
    return sim_wake(c, i, t);
}

void sim_agent_deliver(struct sim_cluster *c, struct sim_event *ev) {
    struct sim_host *h = c->h[ev->node];
    if (!h->up) {
        /* Refused: it waits in the sender's queue for the agent. */
        sim_net_hold(&c->net, ev);
        return;
    }
    struct sim_step s = {.kind = STEP_RECEIVE, .channel = ev->kind, .from = ev->from,
                         .p = ev->data, .len = ev->len};
    ev->data = NULL;
    if (h->q_n == h->q_cap && q_grow(h) != 0) {
        free(s.p);
        c->violations++;
        return;
    }
    h->q[(h->q_head + h->q_n) % h->q_cap] = s;
    h->q_n++;
    if (sim_agent_run(c, ev->node) != 0)
        c->violations++;
}

void sim_agent_hv_note(struct sim_cluster *c, const struct sim_hv_note *n) {
    struct sim_host *h = c->h[n->host];
    if (n->kind == SIM_HV_BOOTED) {
        /* A new boot: the monotonic clock starts again. */
        int64_t w = sim_clock_wall_ms(&h->clock, c->now_us);
        sim_clock_boot(&h->clock, c->now_us, h->clock.rate_ppm, w);
        if (sim_agent_start(c, n->host) != 0)
            c->violations++;
        return;
    }
    if (n->kind != SIM_HV_MIGRATION_ENDED || !h->up)
        return;
    const struct sim_migration *m = sim_hv_migration(&c->hv, n->mig);
    for (size_t k = 0; k < ACTIONS_MAX; k++) {
        struct action *x = &h->actions[k];
        if (x->used && x->kind == ACT_MIGRATION && x->state == REPORT_RUNNING && x->mig == n->mig)
            action_end(c, h, x, m->fail ? REPORT_FAILED : REPORT_SUCCEEDED,
                       m->fail ? "migration failed" : NULL);
    }
    /* libvirt's event makes the agent sample at once. */
    h->next_sample_ms = mono(c, h);
    if (sim_wake(c, n->host, c->now_us) != 0)
        c->violations++;
}

/* ---- start and stop ---- */

int sim_agent_start(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    int64_t now = mono(c, h);
    h->disk.incarnation++;
    struct gossip_config gc;
    gossip_config_defaults(&gc);
    struct gossip_addr a = sim_addr(i);
    h->g = gossip_new(&gc, i + 1, &a, h->disk.incarnation, prng_next(&c->rng), now);
    if (!h->g)
        return -1;
    /* Its snapshot: every host it knew, probed afresh. */
    for (uint32_t k = 0; k < c->o.hosts; k++) {
        if (k == i)
            continue;
        struct gossip_member_info m = {.id = k + 1, .addr = sim_addr(k), .state = GOSSIP_ALIVE};
        if (gossip_add_members(h->g, now, &m, 1) != 0)
            return -1;
    }
    if (h->candidate) {
        struct election_config ec = {.self_id = voter_id(i), .n_voters = c->o.candidates,
                                     .heartbeat_ms = HEARTBEAT_MS,
                                     .election_timeout_ms = ELECTION_TIMEOUT_MS,
                                     .lease_margin_ms = LEASE_MARGIN_MS};
        for (uint32_t k = 0; k < c->o.candidates; k++)
            ec.voters[k] = (struct election_voter){voter_id(k), k == 0 ? c->o.priority : 0};
        h->e = election_new(&ec, &h->disk.hs, prng_next(&c->rng), now);
        struct executor_config xc = {.automation = CONFIG_AUTOMATION_AUTO,
                                     .max_migrations = MAX_MIGRATIONS,
                                     .migration_timeout_ms = MIGRATION_TIMEOUT_MS,
                                     .power_on_timeout_ms = POWER_ON_TIMEOUT_MS,
                                     .plan_interval_ms = PLAN_INTERVAL_MS,
                                     .wake_cooldown_ms = WAKE_COOLDOWN_S * 1000,
                                     .idle_watts = 100, .max_watts = 250,
                                     .seed = prng_next(&c->rng)};
        snprintf(xc.self, sizeof xc.self, "%s", h->name);
        snprintf(xc.policy, sizeof xc.policy, "default");
        h->ex = executor_new(&xc);
        if (!h->e || !h->ex)
            return -1;
        prng_seed(&h->rng, prng_next(&c->rng));
    }
    struct host_guard_config hc = {.rho = RHO};
    snprintf(hc.self, sizeof hc.self, "%s", h->name);
    h->guard = host_guard_new(&hc, prng_next(&c->rng));
    if (!h->guard)
        return -1;
    set_gate(c, h, h->disk.drain ? HOST_GATE_DRAINED : HOST_GATE_OPEN);
    h->up = true;
    h->frozen_until_us = 0;
    h->seen_term = UINT64_MAX;
    h->seen_lease = false;
    h->next_sample_ms = now;
    h->lead_due = h->ex != NULL;
    memset(h->actions, 0, sizeof h->actions);
    if (sim_net_release(&c->net, c->now_us, i) != 0)
        return -1;
    return sim_wake(c, i, c->now_us);
}

void sim_agent_stop(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    if (!h->up)
        return;
    plan_release(&h->plan);
    q_clear(h);
    gossip_free(h->g);
    election_free(h->e);
    executor_free(h->ex);
    host_guard_free(h->guard);
    h->g = NULL;
    h->e = NULL;
    h->ex = NULL;
    h->guard = NULL;
    h->up = false;
    h->off_pending = false;
    h->wake_gen++;
    h->wake_at_us = INT64_MAX;
    for (uint32_t k = 0; k < c->o.hosts; k++) {
        if (h->cache[k].rec)
            nodectl__host_record__free_unpacked(h->cache[k].rec, NULL);
        h->cache[k].rec = NULL;
    }
    sim_net_forget_from(&c->net, i);
}

int sim_agent_new(struct sim_cluster *c, uint32_t i, int64_t rate_ppm, int64_t wall_ms) {
    struct sim_host *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    c->h[i] = h;
    h->i = i;
    host_name(i, h->name, sizeof h->name);
    h->candidate = i < c->o.candidates;
    h->wake_at_us = INT64_MAX;
    h->cache = calloc(c->o.hosts, sizeof *h->cache);
    if (!h->cache)
        return -1;
    sim_clock_boot(&h->clock, c->now_us, rate_ppm, wall_ms);
    return 0;
}

void sim_agent_free(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    if (!h)
        return;
    sim_agent_stop(c, i);
    free(h->cache);
    free(h->q);
    free(h);
    c->h[i] = NULL;
}

/* ---- what the rest of the simulator asks of a host ---- */

int sim_wake(struct sim_cluster *c, uint32_t i, int64_t t_us) {
    struct sim_host *h = c->h[i];
    if (t_us < c->now_us)
        t_us = c->now_us;
    if (t_us >= h->wake_at_us)
        return 0; /* the wake-up queued fires first; the loop then looks again */
    h->wake_at_us = t_us;
    struct sim_event ev = {.t_us = t_us, .kind = EV_WAKE, .node = i, .gen = ++h->wake_gen};
    return sim_heap_push(&c->net.heap, &ev);
}

int sim_agent_timer(struct sim_cluster *c, const struct sim_event *ev) {
    struct sim_host *h = c->h[ev->node];
    if (ev->gen != h->wake_gen)
        return 0;
    h->wake_at_us = INT64_MAX;
    return sim_agent_run(c, ev->node);
}

bool sim_agent_up(const struct sim_cluster *c, uint32_t i) { return c->h[i]->up; }

uint32_t sim_agent_life(const struct sim_cluster *c, uint32_t i) {
    return c->h[i]->disk.incarnation;
}

bool sim_agent_lease_end(const struct sim_cluster *c, uint32_t i, uint64_t *term,
                         int64_t *end_us) {
    const struct sim_host *h = c->h[i];
    if (!h->up || !h->e || !election_has_lease(h->e, mono(c, h)))
        return false;
    *term = election_term(h->e);
    *end_us = sim_clock_real_at(&h->clock, c->now_us, election_lease_until(h->e));
    return true;
}

void sim_agent_set_rate(struct sim_cluster *c, uint32_t i, int64_t rate_ppm) {
    sim_clock_set_rate(&c->h[i]->clock, c->now_us, rate_ppm);
}

void sim_agent_jump_wall(struct sim_cluster *c, uint32_t i, int64_t delta_ms) {
    sim_clock_jump_wall(&c->h[i]->clock, delta_ms);
}

bool sim_agent_frozen(const struct sim_cluster *c, uint32_t i) {
    return c->now_us < c->h[i]->frozen_until_us;
}

/* Freezes host i now for us: a stop-the-world pause wherever its loop is. */
int sim_agent_pause(struct sim_cluster *c, uint32_t i, int64_t us) {
    struct sim_host *h = c->h[i];
    if (!h->up || c->now_us < h->frozen_until_us)
        return 0;
    h->frozen_until_us = c->now_us + us;
    c->pauses++;
    sim_trace(c, "%s: paused %.3f s", h->name, (double)us / 1e6);
    return sim_wake(c, i, h->frozen_until_us);
}

const char *sim_agent_name(const struct sim_cluster *c, uint32_t i) { return c->h[i]->name; }
