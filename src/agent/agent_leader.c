/* The leader at work (issue [6]): every plan interval, and only while this
 * host holds the leader lease, it builds a snapshot of the cluster from the
 * gossiped records, runs the planner (src/placement) and keeps the plan. In
 * `auto` it sends the plan's actions, fenced by its term and bounded by a
 * deadline, in dependency order: a migration to the source host's agent (a
 * few at a time), a power-off to the idle host itself, and a power-on as an
 * IPMI request to any live host holding the IPMI credentials when the
 * sleeper declared its BMC (a BMC is reachable from anywhere it is routed
 * to, and its answer says whether the chassis took the command), else as a
 * Wake-on-LAN request to a live host on the sleeper's network. It follows
 * each outcome in the gossiped records: a migration's in its source's
 * record, a power-off by the host turning "off" in gossip, a power-on by the
 * host coming back alive; a woken host not back within power_on_timeout is
 * marked failed and the planner routes around it.
 *
 * Why the lease: a leader acts only while a majority acknowledged it within
 * the lease, so no other leader exists meanwhile (agent_election.c); the
 * term on every command makes agents refuse a deposed one anyway.
 *
 * Takeover: a new leader does not know what its predecessor sent, but the
 * sources publish every migration they run. Before planning, a leader in
 * `auto` waits until no migration it did not send itself is still running
 * in any live record (each source aborts its own at its timeout), so it
 * never issues a second move of a VM already moving, as a Raft leader first
 * learns what its predecessor committed (Ongaro 2014, section 3.6). The
 * planner itself also leaves VMs marked in_migration alone. A power-off in
 * progress shows as the host going "off"; a wake in progress may be sent
 * again by the new leader, which is harmless: a magic packet to a waking
 * host changes nothing. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"
#include "leader_snapshot.h"

/* How often the leader follows dispatched actions and starts the next. */
#define TICK_MS 250
/* How long a command may take to reach its source and start. */
#define DISPATCH_GRACE_MS 30000
/* How long a host may take from the power-off command to "off" in gossip:
 * the agent's announcement, then its off command's grace (agent_power.c). */
#define POWER_OFF_MS 90000

const char *agent_plan_state_name(enum plan_state s) {
    switch (s) {
    case PLAN_PROPOSED: return "proposed";
    case PLAN_DISPATCHED: return "dispatched";
    case PLAN_DONE: return "done";
    case PLAN_FAILED: return "failed";
    case PLAN_NOT_EXECUTED: return "not-executed";
    }
    return "unknown";
}

const char *agent_plan_kind_name(enum placement_action_kind k) {
    switch (k) {
    case PLACEMENT_MIGRATE: return "migrate";
    case PLACEMENT_POWER_ON: return "power-on";
    case PLACEMENT_POWER_OFF: return "power-off";
    }
    return "unknown";
}

__attribute__((format(printf, 2, 3))) static void event(struct agent *a, const char *fmt, ...) {
    struct leader_state *L = &a->leader;
    struct leader_event *e = &L->events[L->next_seq % LEADER_EVENTS_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->seq = L->next_seq++;
    e->at_ms = agent_wall_clock_ms();
    log_info("event: %s", e->text);
}

int agent_leader_open(struct agent *a, char *err, size_t errlen) {
    struct leader_state *L = &a->leader;
    if (placement_policy_by_name(a->cfg.policy, -1, &L->policy) != 0) {
        snprintf(err, errlen, "[leader] policy '%s' is unknown; known: %s", a->cfg.policy,
                 placement_policy_names());
        return -1;
    }
    if (a->cfg.vm_cooldown_ms)
        L->policy.vm_cooldown_s = (double)a->cfg.vm_cooldown_ms / 1000;
    if (a->cfg.wake_cooldown_ms)
        L->policy.host_wake_cooldown_s = (double)a->cfg.wake_cooldown_ms / 1000;
    /* The planner takes its randomness (RS selection) from a seeded prng. */
    prng_seed(&L->rng, prng_next(&a->cluster.rng));
    L->next_seq = 1;
    return 0;
}

static void plan_clear(struct leader_plan *p) {
    free(p->actions);
    free(p->deps);
    memset(p, 0, sizeof *p);
}

void agent_leader_close(struct agent *a) { plan_clear(&a->leader.plan); }

uint64_t agent_leader_deadline(const struct agent *a) {
    const struct leader_state *L = &a->leader;
    if (!L->leading || a->cfg.automation == CONFIG_AUTOMATION_OFF)
        return UINT64_MAX;
    return L->next_tick_ms;
}

/* Every member with a record, and how gossip sees it. */
struct records {
    struct leader_member *m;
    size_t n;
};

static void records_free(struct records *r) {
    for (size_t i = 0; i < r->n; i++)
        protobuf_c_message_free_unpacked((ProtobufCMessage *)&r->m[i].rec->base, NULL);
    free(r->m);
    r->m = NULL;
    r->n = 0;
}

static struct leader_woken *woken_named(struct leader_state *L, const char *name) {
    for (size_t i = 0; i < L->n_woken; i++)
        if (strcmp(L->woken[i].name, name) == 0)
            return &L->woken[i];
    return NULL;
}

/* Notes that the leader woke `name` (now, or failed); the oldest note goes
 * when the table is full. */
static void woken_note(struct leader_state *L, const char *name, uint64_t at_ms, bool failed) {
    struct leader_woken *w = woken_named(L, name);
    if (!w) {
        if (L->n_woken == LEADER_WOKEN_MAX) {
            memmove(&L->woken[0], &L->woken[1], (LEADER_WOKEN_MAX - 1) * sizeof L->woken[0]);
            L->n_woken--;
        }
        w = &L->woken[L->n_woken++];
        snprintf(w->name, sizeof w->name, "%s", name);
    }
    w->at_ms = at_ms;
    w->failed = failed;
}

/* The leader counts a power-off done once the host announced "off" (its
 * agent may be gone with the power right after); a host whose off command
 * failed comes back alive and says why in its record. Each such failure is
 * told once in the events. */
static void report_power_off_failure(struct agent *a, const char *host,
                                     const Nodectl__Migration *x) {
    struct leader_state *L = &a->leader;
    for (size_t i = 0; i < LEADER_REPORTED_MAX; i++)
        if (strcmp(L->reported[i], x->id) == 0)
            return;
    snprintf(L->reported[L->next_reported++ % LEADER_REPORTED_MAX], sizeof L->reported[0], "%s",
             x->id);
    event(a, "power-off %s failed: %s (command %s, term %" PRIu64 "); it stays on for the wake "
             "cool-down", host, x->error, x->id, x->term);
}

static int records_collect(struct agent *a, struct records *r) {
    const struct gossip *g = a->cluster.gossip;
    size_t count = gossip_member_count(g);
    r->n = 0;
    r->m = calloc(count ? count : 1, sizeof *r->m);
    if (!r->m)
        return -1;
    /* Failed power-offs that ended after this are recent (see below). */
    uint64_t recent = agent_wall_clock_ms() -
                      (uint64_t)(a->leader.policy.host_wake_cooldown_s * 1000);
    for (size_t i = 0; i < count; i++) {
        struct gossip_member_info info;
        gossip_member_at(g, i, &info);
        Nodectl__HostRecord *rec = agent_member_record(a, &info);
        if (!rec)
            continue;
        enum leader_liveness l = info.state == GOSSIP_ALIVE || info.state == GOSSIP_SUSPECT
                                     ? LEADER_HOST_UP
                                 : info.state == GOSSIP_OFF ? LEADER_HOST_OFF
                                                            : LEADER_HOST_DOWN;
        /* "Off", but its machine answers or its BMC says on: not a host
         * to wake (agent_offcheck.c). */
        if (l == LEADER_HOST_OFF && agent_offcheck_disproved(a, rec->name))
            l = LEADER_HOST_DOWN;
        struct leader_member *m = &r->m[r->n++];
        *m = (struct leader_member){rec, l, false, false, 0};
        /* A host whose power-off failed lately (its off command failed, or
         * it kept running) is not powered off again before the wake
         * cool-down has passed: no retry every round against the same
         * fault. Read from its record, so a new leader knows it too. */
        for (size_t k = 0; k < rec->n_migrations; k++) {
            const Nodectl__Migration *x = rec->migrations[k];
            if (strcmp(x->kind, "power-off") != 0 || strcmp(x->state, "failed") != 0 ||
                x->ended_at_ms <= recent)
                continue;
            m->keep_on = true;
            if (l == LEADER_HOST_UP)
                report_power_off_failure(a, rec->name, x);
        }
        struct leader_woken *w = woken_named(&a->leader, rec->name);
        if (w && w->failed && l == LEADER_HOST_UP) {
            event(a, "host %s, marked failed when it did not come back, is alive again",
                  rec->name);
            w->failed = false;
        }
        if (w) {
            m->failed = w->failed;
            m->woken_at_ms = w->at_ms;
        }
    }
    return 0;
}

static const struct leader_member *record_named(const struct records *r, const char *name) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->m[i].rec->name, name) == 0)
            return &r->m[i];
    return NULL;
}

/* The action `id` in a host's record (migrations and power actions). */
static const Nodectl__Migration *action_with_id(const Nodectl__HostRecord *h, const char *id) {
    for (size_t i = 0; h && i < h->n_migrations; i++)
        if (strcmp(h->migrations[i]->id, id) == 0)
            return h->migrations[i];
    return NULL;
}

/* A migration running in a live record that this leader did not send; NULL
 * if none. *count: how many. */
static const Nodectl__Migration *foreign_in_flight(const struct agent *a, const struct records *r,
                                                   size_t *count) {
    const struct leader_plan *p = &a->leader.plan;
    const char **own = calloc(p->n_actions ? p->n_actions : 1, sizeof *own);
    size_t n_own = 0;
    if (!own) {
        /* Out of memory: count every running migration as foreign, the
         * safe side (wait rather than act). */
        return leader_foreign_migration(r->m, r->n, NULL, 0, count);
    }
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].command_id[0])
            own[n_own++] = p->actions[i].command_id;
    const Nodectl__Migration *m = leader_foreign_migration(r->m, r->n, own, n_own, count);
    free(own);
    return m;
}

static bool same_actions(const struct leader_plan *x, const struct leader_plan *y) {
    if (x->n_actions != y->n_actions)
        return false;
    for (size_t i = 0; i < x->n_actions; i++) {
        const struct plan_action *p = &x->actions[i], *q = &y->actions[i];
        if (p->kind != q->kind || strcmp(p->vm, q->vm) != 0 || strcmp(p->source, q->source) != 0 ||
            strcmp(p->host, q->host) != 0)
            return false;
    }
    return true;
}

/* The planner's plan in names, with every action's starting state. */
static int plan_from(struct agent *a, const struct leader_snapshot *s,
                     const struct placement_plan *pp, struct leader_plan *out) {
    memset(out, 0, sizeof *out);
    out->actions = calloc(pp->n_actions ? pp->n_actions : 1, sizeof *out->actions);
    out->deps = calloc(pp->n_deps ? pp->n_deps : 1, sizeof *out->deps);
    if (!out->actions || !out->deps) {
        plan_clear(out);
        return -1;
    }
    if (pp->n_deps)
        memcpy(out->deps, pp->deps, pp->n_deps * sizeof *out->deps);
    out->n_deps = pp->n_deps;
    out->n_actions = pp->n_actions;
    out->at_ms = agent_wall_clock_ms();
    out->term = a->lead.term;
    for (size_t i = 0; i < pp->n_actions; i++) {
        const struct placement_action *pa = &pp->actions[i];
        struct plan_action *x = &out->actions[i];
        x->kind = pa->kind;
        x->dep_off = pa->dep_off;
        x->n_deps = pa->n_deps;
        snprintf(x->host, sizeof x->host, "%s", s->host_rec[pa->host]->name);
        if (pa->kind == PLACEMENT_MIGRATE) {
            snprintf(x->vm, sizeof x->vm, "%s", s->vm_rec[pa->vm]->name);
            snprintf(x->source, sizeof x->source, "%s", s->host_rec[pa->from]->name);
        }
        leader_snapshot_explain(s, pa->reason, x->reason, sizeof x->reason);
        if (a->cfg.automation != CONFIG_AUTOMATION_AUTO) {
            snprintf(x->note, sizeof x->note, "automation is advise: not executed");
        }
    }
    return 0;
}

static void describe(const struct plan_action *x, char *out, size_t len) {
    if (x->kind == PLACEMENT_MIGRATE)
        snprintf(out, len, "migrate %s from %s to %s", x->vm, x->source, x->host);
    else
        snprintf(out, len, "%s %s", agent_plan_kind_name(x->kind), x->host);
}

/* Plans one round; false when it must wait for migrations in flight (then
 * the next tick asks again rather than the next plan interval: a takeover
 * should act as soon as its predecessor's moves end). */
static bool plan_round(struct agent *a, const struct records *r) {
    struct leader_state *L = &a->leader;
    size_t n_foreign;
    const Nodectl__Migration *f = foreign_in_flight(a, r, &n_foreign);
    if (a->cfg.automation == CONFIG_AUTOMATION_AUTO && f) {
        char note[sizeof L->note];
        snprintf(note, sizeof note,
                 "waiting for %zu migration(s) already in flight (e.g. %s of %s, term %" PRIu64
                 ") before planning", n_foreign, f->id, f->vm, f->term);
        if (strcmp(note, L->note) != 0)
            event(a, "%s", note);
        snprintf(L->note, sizeof L->note, "%s", note);
        return false;
    }
    L->note[0] = '\0';
    struct leader_snapshot s;
    struct placement_plan pp;
    struct leader_plan next;
    placement_plan_init(&pp);
    if (leader_snapshot_build(&s, r->m, r->n, a->cfg.power_idle_watts, a->cfg.power_max_watts) !=
        0) {
        log_err("leader: snapshot: out of memory");
        return true;
    }
    if (placement_plan(&s.snap, &L->policy, (double)agent_wall_clock_ms() / 1000, &L->rng, &pp) !=
        0) {
        event(a, "planning failed: %s", pp.error);
    } else if (plan_from(a, &s, &pp, &next) != 0) {
        log_err("leader: plan: out of memory");
    } else {
        bool changed = !same_actions(&next, &L->plan);
        plan_clear(&L->plan);
        L->plan = next;
        size_t moves = 0;
        for (size_t i = 0; i < next.n_actions; i++)
            moves += next.actions[i].kind == PLACEMENT_MIGRATE;
        event(a, "plan (term %" PRIu64 ", policy %s, %zu hosts, %zu VMs): %zu action(s), %zu "
                 "migration(s)%s", next.term, a->cfg.policy, s.snap.n_hosts, s.snap.n_vms,
              next.n_actions, moves, changed || !next.n_actions ? "" : ", as before");
        for (size_t i = 0; changed && i < next.n_actions; i++) {
            char what[3 * CONFIG_NAME_MAX + HV_NAME_MAX];
            describe(&next.actions[i], what, sizeof what);
            event(a, "plan action %zu: %s: %s", i + 1, what, next.actions[i].reason);
        }
    }
    placement_plan_free(&pp);
    leader_snapshot_free(&s);
    return true;
}

/* The outcome of a dispatched migration so far: true once it is known
 * (x->state and x->note set), false while it runs. */
static bool follow_migration(const struct records *r, struct plan_action *x, uint64_t wall) {
    const struct leader_member *src = record_named(r, x->source);
    const Nodectl__Migration *m = src ? action_with_id(src->rec, x->command_id) : NULL;
    if (m && strcmp(m->state, "running") == 0) {
        snprintf(x->note, sizeof x->note, "running: %.0f%%", m->progress * 100);
        return false;
    }
    if (m) {
        x->state = strcmp(m->state, "succeeded") == 0 ? PLAN_DONE : PLAN_FAILED;
        snprintf(x->note, sizeof x->note, "%s%s%s", m->state, m->error[0] ? ": " : "", m->error);
    } else if (wall > x->deadline_ms) {
        x->state = PLAN_FAILED;
        snprintf(x->note, sizeof x->note, "no outcome from %s before the deadline", x->source);
    } else {
        return false;
    }
    return true;
}

/* A power-off is done when gossip shows the host "off". */
static bool follow_power_off(const struct records *r, struct plan_action *x, uint64_t wall) {
    const struct leader_member *h = record_named(r, x->host);
    const Nodectl__Migration *m = h ? action_with_id(h->rec, x->command_id) : NULL;
    if (h && h->liveness == LEADER_HOST_OFF) {
        x->state = PLAN_DONE;
        snprintf(x->note, sizeof x->note, "off after %.1f s", (double)(wall - x->sent_ms) / 1000);
    } else if (m && (strcmp(m->state, "failed") == 0 || strcmp(m->state, "refused") == 0)) {
        x->state = PLAN_FAILED;
        snprintf(x->note, sizeof x->note, "%s: %s", m->state, m->error);
    } else if (wall > x->deadline_ms) {
        x->state = PLAN_FAILED;
        snprintf(x->note, sizeof x->note, "%s did not turn off before the deadline", x->host);
    } else {
        snprintf(x->note, sizeof x->note, "powering off");
        return false;
    }
    return true;
}

/* A power-on is done when the host is alive again; failed when the packet
 * could not be sent or the host is not back within power_on_timeout (it is
 * then marked failed, so the planner routes around it). */
static bool follow_power_on(struct agent *a, const struct records *r, struct plan_action *x,
                            uint64_t wall) {
    const struct leader_member *h = record_named(r, x->host), *w = record_named(r, x->waker);
    const Nodectl__Migration *m = w ? action_with_id(w->rec, x->command_id) : NULL;
    if (h && h->liveness == LEADER_HOST_UP) {
        x->state = PLAN_DONE;
        snprintf(x->note, sizeof x->note, "alive again after %.1f s",
                 (double)(wall - x->sent_ms) / 1000);
        woken_note(&a->leader, x->host, wall, false);
    } else if (m && strcmp(m->state, "failed") == 0) {
        x->state = PLAN_FAILED;
        snprintf(x->note, sizeof x->note, "%s could not %s: %s", x->waker,
                 x->by_ipmi ? "power it on through its BMC" : "send the magic packet", m->error);
    } else if (wall > x->deadline_ms) {
        x->state = PLAN_FAILED;
        snprintf(x->note, sizeof x->note, "not back within %u s: marked failed",
                 a->cfg.power_on_timeout_ms / 1000);
        woken_note(&a->leader, x->host, wall, true);
    } else {
        snprintf(x->note, sizeof x->note, "%s by %s; waiting %.0f s",
                 x->by_ipmi ? "IPMI power on asked" : "magic packet sent", x->waker,
                 (double)(wall - x->sent_ms) / 1000);
        return false;
    }
    return true;
}

/* Updates dispatched actions from the records and gossip. */
static void follow(struct agent *a, const struct records *r) {
    struct leader_plan *p = &a->leader.plan;
    uint64_t wall = agent_wall_clock_ms();
    for (size_t i = 0; i < p->n_actions; i++) {
        struct plan_action *x = &p->actions[i];
        if (x->state != PLAN_DISPATCHED)
            continue;
        bool ended = x->kind == PLACEMENT_MIGRATE   ? follow_migration(r, x, wall)
                     : x->kind == PLACEMENT_POWER_OFF ? follow_power_off(r, x, wall)
                                                      : follow_power_on(a, r, x, wall);
        if (!ended)
            continue;
        char what[3 * CONFIG_NAME_MAX + HV_NAME_MAX];
        describe(x, what, sizeof what);
        event(a, "action %zu %s: %s (command %s): %s", i + 1, agent_plan_state_name(x->state),
              what, x->command_id, x->note);
    }
}

/* Sends cmd to host `to` (ourselves: run here), fenced by our term, with a
 * fresh id in x->command_id; false with x->note set if it could not be
 * queued. */
static bool send_fenced(struct agent *a, const struct leader_member *to, Nodectl__Command *cmd,
                        struct plan_action *x) {
    uuid_t u;
    uuid_generate(u);
    uuid_unparse_lower(u, x->command_id);
    x->sent_ms = agent_wall_clock_ms();
    cmd->id = x->command_id;
    cmd->term = a->lead.term; /* fenced: refused by any host that knows a newer term */
    cmd->issuer = a->cfg.node_name;
    cmd->deadline_ms = x->sent_ms + DISPATCH_GRACE_MS;
    if (strcmp(to->rec->name, a->cfg.node_name) == 0) {
        agent_execute(a, cmd);
    } else if (cluster_send_command(a, to->rec->address, cmd) != 0) {
        snprintf(x->note, sizeof x->note, "cannot reach %s at %s", to->rec->name,
                 to->rec->address);
        return false;
    }
    return true;
}

static bool runs_vms(const Nodectl__HostRecord *h) {
    for (size_t k = 0; k < h->n_vms; k++)
        if (h->vms[k]->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
            h->vms[k]->state == NODECTL__VM_STATE__VM_STATE_BLOCKED ||
            h->vms[k]->state == NODECTL__VM_STATE__VM_STATE_PAUSED)
            return true;
    return false;
}

/* Sends migration x as a fenced command; false with x->note set if it could
 * not be sent. */
static bool send_migration(struct agent *a, const struct records *r, struct plan_action *x) {
    const struct leader_member *src = record_named(r, x->source), *dst = record_named(r, x->host);
    bool on_source = false;
    for (size_t k = 0; src && k < src->rec->n_vms; k++)
        on_source |= strcmp(src->rec->vms[k]->name, x->vm) == 0 &&
                     src->rec->vms[k]->state == NODECTL__VM_STATE__VM_STATE_RUNNING;
    if (!src || src->liveness != LEADER_HOST_UP || !on_source) {
        snprintf(x->note, sizeof x->note, "%s no longer runs on %s", x->vm, x->source);
        return false;
    }
    if (!dst || dst->liveness != LEADER_HOST_UP || !dst->rec->migration_uri[0]) {
        snprintf(x->note, sizeof x->note, "%s is not alive or takes no migrations", x->host);
        return false;
    }
    Nodectl__MigrateCommand mc = NODECTL__MIGRATE_COMMAND__INIT;
    mc.vm = x->vm;
    mc.destination = x->host;
    mc.destination_uri = dst->rec->migration_uri;
    mc.migration_address = dst->rec->migration_address;
    mc.timeout_ms = a->cfg.migration_timeout_ms;
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    cmd.body_case = NODECTL__COMMAND__BODY_MIGRATE;
    cmd.migrate = &mc;
    if (!send_fenced(a, src, &cmd, x))
        return false;
    x->deadline_ms = x->sent_ms + DISPATCH_GRACE_MS + a->cfg.migration_timeout_ms;
    return true;
}

static bool send_power_off(struct agent *a, const struct records *r, struct plan_action *x) {
    const struct leader_member *h = record_named(r, x->host);
    if (!h || h->liveness != LEADER_HOST_UP) {
        snprintf(x->note, sizeof x->note, "%s is not alive", x->host);
        return false;
    }
    if (!h->rec->power || !h->rec->power->can_power_off) {
        snprintf(x->note, sizeof x->note, "%s has no off command", x->host);
        return false;
    }
    if (runs_vms(h->rec)) {
        snprintf(x->note, sizeof x->note, "VMs still run on %s", x->host);
        return false;
    }
    Nodectl__PowerOffCommand po = NODECTL__POWER_OFF_COMMAND__INIT;
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    cmd.body_case = NODECTL__COMMAND__BODY_POWER_OFF;
    cmd.power_off = &po;
    if (!send_fenced(a, h, &cmd, x))
        return false;
    x->deadline_ms = x->sent_ms + DISPATCH_GRACE_MS + POWER_OFF_MS;
    return true;
}

/* A live host that can broadcast on `network`: this one if it can (no
 * extra hop), else the first in the records. */
static const struct leader_member *waker_on(struct agent *a, const struct records *r,
                                            const char *network) {
    const struct leader_member *self = record_named(r, a->cfg.node_name);
    if (self && self->rec->power && strcmp(self->rec->power->network, network) == 0)
        return self;
    for (size_t i = 0; i < r->n; i++) {
        const Nodectl__HostRecord *h = r->m[i].rec;
        if (r->m[i].liveness == LEADER_HOST_UP && h->power &&
            strcmp(h->power->network, network) == 0)
            return &r->m[i];
    }
    return NULL;
}

/* A live host holding the IPMI credentials: this one if it does, else the
 * first in the records. A BMC is not bound to a broadcast domain. */
static const struct leader_member *ipmi_waker(struct agent *a, const struct records *r) {
    const struct leader_member *self = record_named(r, a->cfg.node_name);
    if (self && self->rec->power && self->rec->power->ipmi_waker)
        return self;
    for (size_t i = 0; i < r->n; i++)
        if (r->m[i].liveness == LEADER_HOST_UP && r->m[i].rec->power &&
            r->m[i].rec->power->ipmi_waker)
            return &r->m[i];
    return NULL;
}

/* Asks a live host to power x->host on: through its BMC when it declared
 * one and a host holds the credentials, else by Wake-on-LAN. */
static bool send_wake(struct agent *a, const struct records *r, struct plan_action *x) {
    const struct leader_member *h = record_named(r, x->host);
    const Nodectl__Power *pw = h ? h->rec->power : NULL;
    bool wol = pw && pw->wake_mac[0] && pw->wake_broadcast[0];
    if (!h || h->liveness != LEADER_HOST_OFF || !pw || (!wol && !pw->ipmi_address[0])) {
        snprintf(x->note, sizeof x->note, "%s is not off with wake information", x->host);
        return false;
    }
    const struct leader_member *w = pw->ipmi_address[0] ? ipmi_waker(a, r) : NULL;
    x->by_ipmi = w != NULL;
    if (!w && !wol) {
        snprintf(x->note, sizeof x->note, "no live host holds IPMI credentials for %s's BMC %s",
                 x->host, pw->ipmi_address);
        return false;
    }
    if (!w)
        w = waker_on(a, r, pw->network);
    if (!w) {
        snprintf(x->note, sizeof x->note, "no live host on %s's network %s", x->host,
                 pw->network[0] ? pw->network : "(unknown)");
        return false;
    }
    snprintf(x->waker, sizeof x->waker, "%s", w->rec->name);
    Nodectl__WakeCommand wc = NODECTL__WAKE_COMMAND__INIT;
    wc.host = x->host;
    if (x->by_ipmi) {
        wc.ipmi_address = pw->ipmi_address;
    } else {
        wc.mac = pw->wake_mac;
        wc.broadcast = pw->wake_broadcast;
    }
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    cmd.body_case = NODECTL__COMMAND__BODY_WAKE;
    cmd.wake = &wc;
    if (!send_fenced(a, w, &cmd, x))
        return false;
    x->deadline_ms = x->sent_ms + a->cfg.power_on_timeout_ms;
    x->repeat_ms = x->sent_ms;
    return true;
}

/* A magic packet is one unacknowledged datagram, lost with a frame or
 * ignored by a host still on its way down: while a woken host is not back,
 * the packet is asked for again every WAKE_REPEAT_MS, as wake tools repeat
 * theirs. An IPMI power on is acknowledged, but a chassis still on its way
 * down takes it as a no-op: it is asked again too, once the previous
 * ipmitool has finished. */
#define WAKE_REPEAT_MS 5000
static void repeat_wakes(struct agent *a, const struct records *r) {
    struct leader_plan *p = &a->leader.plan;
    uint64_t wall = agent_wall_clock_ms();
    for (size_t i = 0; i < p->n_actions; i++) {
        struct plan_action *x = &p->actions[i];
        if (x->kind != PLACEMENT_POWER_ON || x->state != PLAN_DISPATCHED ||
            wall < x->repeat_ms + WAKE_REPEAT_MS)
            continue;
        const struct leader_member *w = record_named(r, x->waker);
        const Nodectl__Migration *last = w ? action_with_id(w->rec, x->command_id) : NULL;
        if (x->by_ipmi && (!last || strcmp(last->state, "running") == 0))
            continue;
        uint64_t sent = x->sent_ms, deadline = x->deadline_ms;
        bool by_ipmi = x->by_ipmi;
        char id[sizeof x->command_id];
        snprintf(id, sizeof id, "%s", x->command_id);
        if (send_wake(a, r, x)) {
            log_debug("leader: %s for %s asked again of %s",
                      x->by_ipmi ? "IPMI power on" : "magic packet", x->host, x->waker);
        } else {
            /* Keep following the first request; try again later. */
            snprintf(x->command_id, sizeof x->command_id, "%s", id);
            x->by_ipmi = by_ipmi;
        }
        x->sent_ms = sent;
        x->deadline_ms = deadline;
        x->repeat_ms = wall;
    }
}

/* Starts the plan's actions whose dependencies are done, at most
 * max_migrations migrations in flight (counting every running migration
 * gossip shows); power actions are not limited by it. */
static void dispatch(struct agent *a, const struct records *r) {
    struct leader_plan *p = &a->leader.plan;
    size_t in_flight = 0, foreign;
    for (size_t i = 0; i < p->n_actions; i++)
        in_flight += p->actions[i].state == PLAN_DISPATCHED &&
                     p->actions[i].kind == PLACEMENT_MIGRATE;
    foreign_in_flight(a, r, &foreign);
    in_flight += foreign;
    for (size_t i = 0; i < p->n_actions; i++) {
        struct plan_action *x = &p->actions[i];
        if (x->state != PLAN_PROPOSED)
            continue;
        bool ready = true, blocked = false;
        size_t blocker = 0;
        for (size_t d = 0; d < x->n_deps; d++) {
            const struct plan_action *dep = &p->actions[p->deps[x->dep_off + d]];
            ready &= dep->state == PLAN_DONE;
            if (dep->state == PLAN_FAILED || dep->state == PLAN_NOT_EXECUTED) {
                blocked = true;
                blocker = p->deps[x->dep_off + d] + 1;
            }
        }
        char what[3 * CONFIG_NAME_MAX + HV_NAME_MAX];
        describe(x, what, sizeof what);
        if (blocked) {
            x->state = PLAN_NOT_EXECUTED;
            snprintf(x->note, sizeof x->note, "waits for action %zu, which did not complete",
                     blocker);
            event(a, "action %zu not executed: %s: %s", i + 1, what, x->note);
            continue;
        }
        if (!ready)
            continue;
        bool migration = x->kind == PLACEMENT_MIGRATE;
        if (migration && in_flight >= a->cfg.max_migrations)
            continue;
        bool sent = migration                         ? send_migration(a, r, x)
                    : x->kind == PLACEMENT_POWER_OFF ? send_power_off(a, r, x)
                                                      : send_wake(a, r, x);
        if (!sent) {
            x->state = PLAN_FAILED;
            event(a, "action %zu failed: %s: %s", i + 1, what, x->note);
            continue;
        }
        x->state = PLAN_DISPATCHED;
        if (migration) {
            snprintf(x->note, sizeof x->note, "sent to %s", x->source);
            in_flight++;
        } else if (x->kind == PLACEMENT_POWER_OFF) {
            snprintf(x->note, sizeof x->note, "sent to %s", x->host);
        } else {
            snprintf(x->note, sizeof x->note, "%s asked of %s",
                     x->by_ipmi ? "IPMI power on" : "magic packet", x->waker);
        }
        event(a, "action %zu dispatched: %s (command %s, term %" PRIu64 ")%s%s", i + 1, what,
              x->command_id, a->lead.term,
              !x->waker[0] ? "" : x->by_ipmi ? ": IPMI power on through its BMC from "
                                             : ": magic packet from ",
              x->waker);
    }
}

/* Whether the plan still has work under way or waiting. */
static bool plan_busy(const struct leader_plan *p) {
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].state == PLAN_PROPOSED || p->actions[i].state == PLAN_DISPATCHED)
            return true;
    return false;
}

/* Elections as this host sees them, for the event log. */
static void observe_election(struct agent *a, uint64_t now) {
    struct leader_state *L = &a->leader;
    if (a->lead.term != L->seen_term || strcmp(a->lead.leader, L->seen_leader) != 0) {
        L->seen_term = a->lead.term;
        snprintf(L->seen_leader, sizeof L->seen_leader, "%s", a->lead.leader);
        event(a, "term %" PRIu64 ": %s", L->seen_term,
              L->seen_leader[0] ? L->seen_leader : "no leader");
    }
    if (a->lead.lease == L->leading)
        return;
    L->leading = a->lead.lease;
    if (L->leading) {
        event(a, "this host leads (term %" PRIu64 "): automation %s, policy %s, a plan every "
                 "%u ms", a->lead.term, config_automation_name(a->cfg.automation), a->cfg.policy,
              a->cfg.plan_interval_ms);
        /* A new term starts from what gossip shows, not from an old plan. */
        plan_clear(&L->plan);
        L->note[0] = '\0';
        L->next_plan_ms = now;
        L->next_tick_ms = now;
    } else {
        event(a, "lease lost (term %" PRIu64 "): no more plans or commands from this host",
              a->lead.term);
    }
}

void agent_leader_run(struct agent *a, uint64_t now) {
    struct leader_state *L = &a->leader;
    observe_election(a, now);
    if (!L->leading || a->cfg.automation == CONFIG_AUTOMATION_OFF || now < L->next_tick_ms)
        return;
    L->next_tick_ms = now + TICK_MS;
    struct records r;
    if (records_collect(a, &r) != 0) {
        log_err("leader: records: out of memory");
        return;
    }
    bool automatic = a->cfg.automation == CONFIG_AUTOMATION_AUTO;
    follow(a, &r);
    if (now >= L->next_plan_ms && !(automatic && plan_busy(&L->plan))) {
        L->next_plan_ms = now + a->cfg.plan_interval_ms;
        if (!plan_round(a, &r))
            L->next_plan_ms = now + TICK_MS;
    }
    if (automatic && a->lead.lease) {
        repeat_wakes(a, &r);
        dispatch(a, &r);
    }
    records_free(&r);
}
