/* The leader at work: while this host holds the leader lease, it sends its
 * plan's actions in dependency order, each as a command fenced by its term
 * to the host that must carry it out: a migration to the source (a few at
 * a time, counting every migration gossip shows running), a power-off to
 * the idle host itself, and a power-on as an IPMI request to any live host
 * holding the IPMI credentials when the sleeper declared its BMC (a BMC is
 * reachable from anywhere it is routed to, and its answer says whether the
 * chassis took the command), else as a Wake-on-LAN request to a live host
 * on the sleeper's network. It follows each outcome in the gossiped
 * records: a migration's in its source's record, a power-off by the host
 * turning "off" in gossip, a power-on by the host coming back alive; a
 * woken host not back within power_on_timeout is marked failed and the
 * planner routes around it.
 *
 * Why the lease: a leader acts only while a majority acknowledged it within
 * the lease, so no other leader exists meanwhile (src/election/
 * election_lease.c). A command sent under the lease takes effect only under
 * a grant the target asks for when it is ready, given while a fresh reading
 * shows the lease still held (executor_grant, docs/safety.md): a leader
 * paused after its check, or a command held in a queue, cannot act late.
 *
 * Takeover: a new leader does not know what its predecessor sent, but the
 * sources publish every migration they run. Before planning, a leader in
 * `auto` waits until no migration it did not send itself is still running
 * in any live record (each source aborts its own at its timeout), so it
 * never issues a second move of a VM already moving, as a Raft leader first
 * learns what its predecessor committed (Ongaro 2014, section 3.6)
 * (executor_plan.c). A power-off in progress shows as the host going "off";
 * a wake in progress may be sent again by the new leader, which is
 * harmless: a magic packet to a waking host changes nothing. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor_internal.h"

/* How long a command may take to reach its target and start. */
#define DISPATCH_GRACE_MS 30000
/* How long a host may take from the power-off command to "off" in gossip:
 * the agent's announcement, then its off command's grace. */
#define POWER_OFF_MS 90000
/* A magic packet is one unacknowledged datagram, lost with a frame or
 * ignored by a host still on its way down: while a woken host is not back,
 * the packet is asked for again every WAKE_REPEAT_MS, as wake tools repeat
 * theirs. An IPMI power on is acknowledged, but a chassis still on its way
 * down takes it as a no-op: it is asked again too, once the previous
 * ipmitool has finished. */
#define WAKE_REPEAT_MS 5000

const char *executor_action_state_name(enum executor_action_state s) {
    switch (s) {
    case EXECUTOR_PROPOSED: return "proposed";
    case EXECUTOR_DISPATCHED: return "dispatched";
    case EXECUTOR_DONE: return "done";
    case EXECUTOR_FAILED: return "failed";
    case EXECUTOR_NOT_EXECUTED: return "not-executed";
    }
    return "unknown";
}

const char *executor_action_kind_name(enum placement_action_kind k) {
    switch (k) {
    case PLACEMENT_MIGRATE: return "migrate";
    case PLACEMENT_POWER_ON: return "power-on";
    case PLACEMENT_POWER_OFF: return "power-off";
    }
    return "unknown";
}

struct executor *executor_new(const struct executor_config *cfg) {
    struct executor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->cfg = *cfg;
    prng_seed(&ex->rng, cfg->seed);
    leader_events_init(&ex->events);
    return ex;
}

void executor_free(struct executor *ex) {
    if (!ex)
        return;
    free(ex->actions);
    free(ex->deps);
    free(ex->out);
    free(ex);
}

void executor_plan_clear(struct executor *ex) {
    for (size_t i = 0; i < ex->n_actions; i++)
        issued_revoke(&ex->issued, ex->actions[i].tag);
    free(ex->actions);
    free(ex->deps);
    ex->actions = NULL;
    ex->deps = NULL;
    ex->n_actions = ex->n_deps = 0;
    ex->plan_at = 0;
}

void executor_observe(struct executor *ex, const struct executor_lease *l, uint64_t now,
                      uint64_t wall) {
    const char *leader = l->leader ? l->leader : "";
    if (l->term != ex->seen_term || strcmp(leader, ex->seen_leader) != 0) {
        ex->seen_term = l->term;
        snprintf(ex->seen_leader, sizeof ex->seen_leader, "%s", leader);
        leader_events_add(&ex->events, wall, "term %" PRIu64 ": %s", l->term,
                          leader[0] ? leader : "no leader");
    }
    if (l->term != ex->term) {
        /* A new term starts from what gossip shows, not from an old plan:
         * nothing sent in an older term is granted again. */
        executor_creates_drop_ha(ex, wall, "a new term");
        executor_plan_clear(ex);
        issued_clear(&ex->issued);
        ex->note[0] = '\0';
        ex->term = l->term;
        ex->epoch++;
    }
    ex->lease_until = l->lease_until;
    bool lease = l->lease_until > now;
    if (lease == ex->leading)
        return;
    ex->leading = lease;
    if (lease) {
        ex->epoch++;
        ex->next_plan_ms = ex->next_tick_ms = now;
        leader_events_add(&ex->events, wall,
                          "this host leads (term %" PRIu64 "): automation %s, policy %s, a plan "
                          "every %u ms", ex->term, config_automation_name(ex->cfg.automation),
                          ex->cfg.policy, ex->cfg.plan_interval_ms);
    } else {
        leader_events_add(&ex->events, wall,
                          "lease lost (term %" PRIu64 "): no more plans or commands from this "
                          "host", ex->term);
        /* The HA round that asked for them starts afresh when this host
         * leads again (ha_observe), and any leader meanwhile decides
         * again: kept, a late define could run a VM restarted elsewhere. */
        executor_creates_drop_ha(ex, wall, "this host lost its lease");
    }
}

bool executor_leading(const struct executor *ex) { return ex->leading; }

bool executor_may_send(uint64_t lease_until, uint64_t now) {
    return lease_until > now + EXECUTOR_SEND_ROOM_MS;
}

uint64_t executor_deadline(const struct executor *ex) {
    if (!ex->leading || (ex->cfg.automation == CONFIG_AUTOMATION_OFF && !ex->n_creates))
        return UINT64_MAX;
    return ex->next_tick_ms;
}

static struct executor_woken *woken_named(struct executor *ex, const char *name) {
    for (size_t i = 0; i < ex->n_woken; i++)
        if (strcmp(ex->woken[i].name, name) == 0)
            return &ex->woken[i];
    return NULL;
}

/* Notes that the leader woke `name` (now, or failed); the oldest note goes
 * when the table is full. */
static void woken_note(struct executor *ex, const char *name, uint64_t wall, bool failed) {
    struct executor_woken *w = woken_named(ex, name);
    if (!w) {
        if (ex->n_woken == EXECUTOR_WOKEN_MAX) {
            memmove(&ex->woken[0], &ex->woken[1], (EXECUTOR_WOKEN_MAX - 1) * sizeof ex->woken[0]);
            ex->n_woken--;
        }
        w = &ex->woken[ex->n_woken++];
        snprintf(w->name, sizeof w->name, "%s", name);
    }
    w->at_wall = wall;
    w->failed = failed;
}

/* The leader counts a power-off done once the host announced "off" (its
 * agent may be gone with the power right after); a host whose off command
 * failed comes back alive and says why in its record. Each such failure is
 * told once in the events. */
static void report_power_off_failure(struct executor *ex, const char *host,
                                     const Nodectl__Migration *x, uint64_t wall) {
    for (size_t i = 0; i < EXECUTOR_REPORTED_MAX; i++)
        if (strcmp(ex->reported[i], x->id) == 0)
            return;
    snprintf(ex->reported[ex->next_reported++ % EXECUTOR_REPORTED_MAX], sizeof ex->reported[0],
             "%s", x->id);
    leader_events_add(&ex->events, wall,
                      "power-off %s failed: %s (command %s, term %" PRIu64 "); it stays on for "
                      "the wake cool-down", host, x->error, x->id, x->term);
}

int executor_view(struct executor *ex, const struct executor_member *m, size_t n, uint64_t wall,
                  struct leader_member **out) {
    struct leader_member *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = (struct leader_member){.rec = m[i].rec, .liveness = m[i].liveness};
    if (leader_view_decode(v, n) != 0) {
        free(v);
        return -1;
    }
    /* Failed power-offs that ended after this are recent. */
    uint64_t recent = wall > ex->cfg.wake_cooldown_ms ? wall - ex->cfg.wake_cooldown_ms : 0;
    for (size_t i = 0; i < n; i++) {
        struct leader_member *h = &v[i];
        /* A host whose power-off failed lately (its off command failed, or
         * it kept running) is not powered off again before the wake
         * cool-down has passed: no retry every round against the same
         * fault. Read from its record, so a new leader knows it too. */
        for (size_t k = 0; k < h->n_reports; k++) {
            const struct report *x = &h->reports[k];
            if (x->kind != REPORT_POWER_OFF || x->state != REPORT_FAILED ||
                x->m->ended_at_ms <= recent)
                continue;
            h->keep_on = true;
            if (h->liveness == LEADER_HOST_UP)
                report_power_off_failure(ex, h->rec->name, x->m, wall);
        }
        struct executor_woken *w = woken_named(ex, h->rec->name);
        if (w && w->failed && h->liveness == LEADER_HOST_UP) {
            leader_events_add(&ex->events, wall,
                              "host %s, marked failed when it did not come back, is alive again",
                              h->rec->name);
            w->failed = false;
        }
        if (w) {
            h->failed = w->failed;
            h->woken_at_ms = w->at_wall;
        }
    }
    executor_creates_keep_on(ex, v, n);
    *out = v;
    return 0;
}

void executor_view_free(struct leader_member *v, size_t n) {
    leader_view_release(v, n);
    free(v);
}

void executor_describe(const struct exec_action *x, char *out, size_t len) {
    const struct executor_action *p = &x->pub;
    if (p->kind == PLACEMENT_MIGRATE)
        snprintf(out, len, "migrate %s from %s to %s", p->vm, p->source, p->host);
    else
        snprintf(out, len, "%s %s", executor_action_kind_name(p->kind), p->host);
}

void executor_enter(struct executor *ex, struct executor_action *p, enum executor_action_state s) {
    p->state = s;
    ex->entered[p->kind][s]++;
}

uint64_t executor_action_count(const struct executor *ex, enum placement_action_kind kind,
                               enum executor_action_state state) {
    assert(kind < EXECUTOR_KINDS && state < EXECUTOR_STATES);
    return ex->entered[kind][state];
}

/* An action left DISPATCHED: its commands are no longer granted. */
static void settle(struct executor *ex, struct exec_action *x, enum executor_action_state s) {
    executor_enter(ex, &x->pub, s);
    issued_revoke(&ex->issued, x->tag);
}

/* The outcome of a dispatched migration so far: true once it is known
 * (state and note set), false while it runs. */
static bool follow_migration(struct executor *ex, const struct leader_member *v, size_t n,
                             struct exec_action *x, uint64_t now) {
    struct executor_action *p = &x->pub;
    const struct report *r =
        leader_view_report(leader_view_named(v, n, p->source), p->command_id);
    if (r && r->state == REPORT_RUNNING) {
        snprintf(p->note, sizeof p->note, "running: %.0f%%", r->m->progress * 100);
        return false;
    }
    if (r) {
        settle(ex, x, r->state == REPORT_SUCCEEDED ? EXECUTOR_DONE : EXECUTOR_FAILED);
        snprintf(p->note, sizeof p->note, "%s%s%s", report_state_name(r->state),
                 r->m->error[0] ? ": " : "", r->m->error);
    } else if (now > x->deadline_ms) {
        settle(ex, x, EXECUTOR_FAILED);
        snprintf(p->note, sizeof p->note, "no outcome from %s before the deadline", p->source);
    } else {
        return false;
    }
    return true;
}

/* A power-off is done when gossip shows the host "off". */
static bool follow_power_off(struct executor *ex, const struct leader_member *v, size_t n,
                             struct exec_action *x, uint64_t now) {
    struct executor_action *p = &x->pub;
    const struct leader_member *h = leader_view_named(v, n, p->host);
    const struct report *r = leader_view_report(h, p->command_id);
    if (h && h->liveness == LEADER_HOST_OFF) {
        settle(ex, x, EXECUTOR_DONE);
        snprintf(p->note, sizeof p->note, "off after %.1f s", (double)(now - x->sent_ms) / 1000);
    } else if (r && (r->state == REPORT_FAILED || r->state == REPORT_REFUSED)) {
        settle(ex, x, EXECUTOR_FAILED);
        snprintf(p->note, sizeof p->note, "%s: %s", report_state_name(r->state), r->m->error);
    } else if (now > x->deadline_ms) {
        settle(ex, x, EXECUTOR_FAILED);
        snprintf(p->note, sizeof p->note, "%s did not turn off before the deadline", p->host);
    } else {
        snprintf(p->note, sizeof p->note, "powering off");
        return false;
    }
    return true;
}

/* A power-on is done when the host is alive again; failed when the waker
 * could not send the packet (or was refused), or the host is not back
 * within power_on_timeout (it is then marked failed, so the planner routes
 * around it). */
bool executor_follow_power_on(struct executor *ex, const struct leader_member *v, size_t n,
                            struct exec_action *x, uint64_t now, uint64_t wall) {
    struct executor_action *p = &x->pub;
    const struct leader_member *h = leader_view_named(v, n, p->host);
    const struct report *r =
        leader_view_report(leader_view_named(v, n, p->waker), p->command_id);
    if (h && h->liveness == LEADER_HOST_UP) {
        settle(ex, x, EXECUTOR_DONE);
        snprintf(p->note, sizeof p->note, "alive again after %.1f s",
                 (double)(now - x->sent_ms) / 1000);
        woken_note(ex, p->host, wall, false);
    } else if (r && (r->state == REPORT_FAILED || r->state == REPORT_REFUSED)) {
        settle(ex, x, EXECUTOR_FAILED);
        snprintf(p->note, sizeof p->note, "%s could not %s: %s", p->waker,
                 p->by_ipmi ? "power it on through its BMC" : "send the magic packet",
                 r->m->error);
    } else if (now > x->deadline_ms) {
        settle(ex, x, EXECUTOR_FAILED);
        snprintf(p->note, sizeof p->note, "not back within %u s: marked failed",
                 ex->cfg.power_on_timeout_ms / 1000);
        woken_note(ex, p->host, wall, true);
    } else {
        snprintf(p->note, sizeof p->note, "%s by %s; waiting %.0f s",
                 p->by_ipmi ? "IPMI power on asked" : "magic packet sent", p->waker,
                 (double)(now - x->sent_ms) / 1000);
        return false;
    }
    return true;
}

/* Updates dispatched actions from the records and gossip. */
static void follow(struct executor *ex, const struct leader_member *v, size_t n, uint64_t now,
                   uint64_t wall) {
    for (size_t i = 0; i < ex->n_actions; i++) {
        struct exec_action *x = &ex->actions[i];
        if (x->pub.state != EXECUTOR_DISPATCHED)
            continue;
        bool ended = x->pub.kind == PLACEMENT_MIGRATE     ? follow_migration(ex, v, n, x, now)
                     : x->pub.kind == PLACEMENT_POWER_OFF ? follow_power_off(ex, v, n, x, now)
                                                          : executor_follow_power_on(ex, v, n, x, now, wall);
        if (!ended)
            continue;
        char what[3 * COMMAND_NAME_MAX + COMMAND_VM_MAX];
        executor_describe(x, what, sizeof what);
        leader_events_add(&ex->events, wall, "action %zu %s: %s (command %s): %s", i + 1,
                          executor_action_state_name(x->pub.state), what, x->pub.command_id,
                          x->pub.note);
    }
}

/* A fresh command id: random (from the executor's seeded generator) in the
 * form of a version-4 UUID. */
void executor_new_id(struct executor *ex, char out[COMMAND_ID_MAX]) {
    uint64_t a = prng_next(&ex->rng), b = prng_next(&ex->rng);
    snprintf(out, COMMAND_ID_MAX, "%08x-%04x-4%03x-%04x-%012" PRIx64, (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             0x8000u | ((unsigned)(b >> 48) & 0x3fff), b & (uint64_t)0xffffffffffff);
}

static struct executor_send *queue_slot(struct executor *ex) {
    if (ex->out_head == ex->n_out)
        ex->out_head = ex->n_out = 0;
    if (ex->n_out == ex->cap_out) {
        size_t cap = ex->cap_out ? 2 * ex->cap_out : 8;
        struct executor_send *o = realloc(ex->out, cap * sizeof *o);
        if (!o)
            return NULL;
        ex->out = o;
        ex->cap_out = cap;
    }
    struct executor_send *s = &ex->out[ex->n_out];
    memset(s, 0, sizeof *s);
    return s;
}

/* Queues cmd (kind and body set) for host `to`, fenced by this leader's
 * term, under a fresh id in x->pub.command_id; false with the note set when
 * out of memory. */
bool executor_send(struct executor *ex, const struct leader_member *to, struct command *cmd,
                 struct exec_action *x, uint64_t now) {
    struct executor_send *s = queue_slot(ex);
    if (!s) {
        snprintf(x->pub.note, sizeof x->pub.note, "out of memory");
        return false;
    }
    if (!cmd->id[0])
        executor_new_id(ex, cmd->id);
    cmd->term = ex->term; /* fenced: refused by any host that knows a newer one */
    snprintf(cmd->issuer, sizeof cmd->issuer, "%s", ex->cfg.self);
    snprintf(cmd->target, sizeof cmd->target, "%s", to->rec->name);
    s->cmd = *cmd;
    snprintf(s->address, sizeof s->address, "%s", to->rec->address);
    s->local = strcmp(to->rec->name, ex->cfg.self) == 0;
    ex->n_out++;
    issued_add(&ex->issued, cmd, now, x->tag);
    snprintf(x->pub.command_id, sizeof x->pub.command_id, "%s", cmd->id);
    x->sent_ms = now;
    return true;
}

bool executor_resend(struct executor *ex, const struct leader_member *to,
                     const struct command *cmd) {
    assert(cmd->term == ex->term);
    struct executor_send *s = queue_slot(ex);
    if (!s)
        return false;
    s->cmd = *cmd;
    snprintf(s->address, sizeof s->address, "%s", to->rec->address);
    s->local = strcmp(to->rec->name, ex->cfg.self) == 0;
    ex->n_out++;
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

/* Queues migration x for its source; false with the note set if it cannot
 * be sent. */
static bool send_migration(struct executor *ex, const struct leader_member *v, size_t n,
                           struct exec_action *x, uint64_t now) {
    struct executor_action *p = &x->pub;
    const struct leader_member *src = leader_view_named(v, n, p->source),
                               *dst = leader_view_named(v, n, p->host);
    bool on_source = false;
    for (size_t k = 0; src && k < src->rec->n_vms; k++)
        on_source |= strcmp(src->rec->vms[k]->name, p->vm) == 0 &&
                     src->rec->vms[k]->state == NODECTL__VM_STATE__VM_STATE_RUNNING;
    if (!src || src->liveness != LEADER_HOST_UP || !on_source) {
        snprintf(p->note, sizeof p->note, "%s no longer runs on %s", p->vm, p->source);
        return false;
    }
    /* A VM that runs twice is not moved: the copy moved would be one of
     * two, and the other would stay (the destination of a failed migration
     * destroys its own, host_arrival.h). */
    const char *on[2];
    if (leader_view_hosts_running(v, n, p->vm, on, 2) > 1) {
        snprintf(p->note, sizeof p->note,
                 "%s runs on %s and %s (both records show it): not moved while it runs twice",
                 p->vm, on[0], on[1]);
        return false;
    }
    if (!dst || dst->liveness != LEADER_HOST_UP || !dst->rec->migration_uri[0]) {
        snprintf(p->note, sizeof p->note, "%s is not alive or takes no migrations", p->host);
        return false;
    }
    if (strlen(dst->rec->migration_uri) >= COMMAND_URI_MAX ||
        strlen(dst->rec->migration_address) >= COMMAND_URI_MAX) {
        snprintf(p->note, sizeof p->note, "%s's migration URI is too long", p->host);
        return false;
    }
    struct command cmd = {.kind = COMMAND_MIGRATE};
    snprintf(cmd.migrate.vm, sizeof cmd.migrate.vm, "%s", p->vm);
    snprintf(cmd.migrate.destination, sizeof cmd.migrate.destination, "%s", p->host);
    snprintf(cmd.migrate.destination_uri, sizeof cmd.migrate.destination_uri, "%s",
             dst->rec->migration_uri);
    snprintf(cmd.migrate.migration_address, sizeof cmd.migrate.migration_address, "%s",
             dst->rec->migration_address);
    cmd.migrate.timeout_ms = ex->cfg.migration_timeout_ms;
    if (!executor_send(ex, src, &cmd, x, now))
        return false;
    x->deadline_ms = now + DISPATCH_GRACE_MS + ex->cfg.migration_timeout_ms;
    return true;
}

static bool send_power_off(struct executor *ex, const struct leader_member *v, size_t n,
                           struct exec_action *x, uint64_t now) {
    struct executor_action *p = &x->pub;
    const struct leader_member *h = leader_view_named(v, n, p->host);
    if (!h || h->liveness != LEADER_HOST_UP) {
        snprintf(p->note, sizeof p->note, "%s is not alive", p->host);
        return false;
    }
    if (!h->rec->power || !h->rec->power->can_power_off) {
        snprintf(p->note, sizeof p->note, "%s has no off command", p->host);
        return false;
    }
    if (runs_vms(h->rec)) {
        snprintf(p->note, sizeof p->note, "VMs still run on %s", p->host);
        return false;
    }
    struct command cmd = {.kind = COMMAND_POWER_OFF};
    if (!executor_send(ex, h, &cmd, x, now))
        return false;
    x->deadline_ms = now + DISPATCH_GRACE_MS + POWER_OFF_MS;
    return true;
}

/* A live host that can broadcast on `network`: this one if it can (no
 * extra hop), else the first in the records. */
static const struct leader_member *waker_on(const struct executor *ex,
                                            const struct leader_member *v, size_t n,
                                            const char *network) {
    const struct leader_member *self = leader_view_named(v, n, ex->cfg.self);
    if (self && self->rec->power && strcmp(self->rec->power->network, network) == 0)
        return self;
    for (size_t i = 0; i < n; i++)
        if (v[i].liveness == LEADER_HOST_UP && v[i].rec->power &&
            strcmp(v[i].rec->power->network, network) == 0)
            return &v[i];
    return NULL;
}

/* A live host holding the IPMI credentials: this one if it does, else the
 * first in the records. A BMC is not bound to a broadcast domain. */
static const struct leader_member *ipmi_waker(const struct executor *ex,
                                              const struct leader_member *v, size_t n) {
    const struct leader_member *self = leader_view_named(v, n, ex->cfg.self);
    if (self && self->rec->power && self->rec->power->ipmi_waker)
        return self;
    for (size_t i = 0; i < n; i++)
        if (v[i].liveness == LEADER_HOST_UP && v[i].rec->power && v[i].rec->power->ipmi_waker)
            return &v[i];
    return NULL;
}

/* Asks a live host to power x's host on: through its BMC when it declared
 * one and a host holds the credentials, else by Wake-on-LAN. */
bool executor_send_wake(struct executor *ex, const struct leader_member *v, size_t n,
                      struct exec_action *x, uint64_t now) {
    struct executor_action *p = &x->pub;
    const struct leader_member *h = leader_view_named(v, n, p->host);
    const Nodectl__Power *pw = h ? h->rec->power : NULL;
    bool wol = pw && pw->wake_mac[0] && pw->wake_broadcast[0];
    if (!h || h->liveness != LEADER_HOST_OFF || !pw || (!wol && !pw->ipmi_address[0])) {
        snprintf(p->note, sizeof p->note, "%s is not off with wake information", p->host);
        return false;
    }
    const struct leader_member *w = pw->ipmi_address[0] ? ipmi_waker(ex, v, n) : NULL;
    p->by_ipmi = w != NULL;
    if (!w && !wol) {
        snprintf(p->note, sizeof p->note, "no live host holds IPMI credentials for %s's BMC %s",
                 p->host, pw->ipmi_address);
        return false;
    }
    if (!w)
        w = waker_on(ex, v, n, pw->network);
    if (!w) {
        snprintf(p->note, sizeof p->note, "no live host on %s's network %s", p->host,
                 pw->network[0] ? pw->network : "(unknown)");
        return false;
    }
    struct command cmd = {.kind = COMMAND_WAKE};
    snprintf(cmd.wake.host, sizeof cmd.wake.host, "%s", p->host);
    if (p->by_ipmi) {
        snprintf(cmd.wake.ipmi_address, sizeof cmd.wake.ipmi_address, "%s", pw->ipmi_address);
    } else {
        snprintf(cmd.wake.mac, sizeof cmd.wake.mac, "%s", pw->wake_mac);
        snprintf(cmd.wake.broadcast, sizeof cmd.wake.broadcast, "%s", pw->wake_broadcast);
    }
    if (!executor_send(ex, w, &cmd, x, now))
        return false;
    snprintf(p->waker, sizeof p->waker, "%s", w->rec->name);
    x->deadline_ms = now + ex->cfg.power_on_timeout_ms;
    x->repeat_ms = now;
    return true;
}

void executor_repeat_wake(struct executor *ex, const struct leader_member *v, size_t n,
                          struct exec_action *x, uint64_t now) {
    struct executor_action *p = &x->pub;
    if (p->kind != PLACEMENT_POWER_ON || p->state != EXECUTOR_DISPATCHED ||
        now < x->repeat_ms + WAKE_REPEAT_MS)
        return;
    const struct report *last =
        leader_view_report(leader_view_named(v, n, p->waker), p->command_id);
    if (p->by_ipmi && (!last || last->state == REPORT_RUNNING))
        return;
    /* The repeat is followed in place of the first request, with the
     * first one's times; if it cannot be sent, the first one is kept. */
    struct exec_action before = *x;
    if (executor_send_wake(ex, v, n, x, now)) {
        snprintf(x->prev_id, sizeof x->prev_id, "%s", before.pub.command_id);
        x->sent_ms = before.sent_ms;
        x->deadline_ms = before.deadline_ms;
    } else {
        *x = before;
    }
    x->repeat_ms = now;
}

/* Starts the plan's actions whose dependencies are done, at most
 * max_migrations migrations in flight (counting every running migration
 * gossip shows); power actions are not limited by it. */
static void dispatch(struct executor *ex, const struct leader_member *v, size_t n, uint64_t now,
                     uint64_t wall) {
    size_t in_flight = 0, foreign;
    const char **own = calloc(ex->n_actions ? ex->n_actions : 1, sizeof *own);
    if (!own)
        return; /* out of memory: dispatch nothing this round */
    size_t n_own = 0;
    for (size_t i = 0; i < ex->n_actions; i++) {
        const struct executor_action *p = &ex->actions[i].pub;
        in_flight += p->state == EXECUTOR_DISPATCHED && p->kind == PLACEMENT_MIGRATE;
        if (p->command_id[0])
            own[n_own++] = p->command_id;
    }
    leader_view_foreign_migration(v, n, own, n_own, &foreign);
    free(own);
    in_flight += foreign;
    for (size_t i = 0; i < ex->n_actions; i++) {
        struct exec_action *x = &ex->actions[i];
        struct executor_action *p = &x->pub;
        if (p->state != EXECUTOR_PROPOSED)
            continue;
        bool ready = true, blocked = false;
        size_t blocker = 0;
        for (size_t d = 0; d < p->n_deps; d++) {
            assert(p->deps[d] < i); /* the planner's order: dependencies come first */
            const struct executor_action *dep = &ex->actions[p->deps[d]].pub;
            ready &= dep->state == EXECUTOR_DONE;
            if (dep->state == EXECUTOR_FAILED || dep->state == EXECUTOR_NOT_EXECUTED) {
                blocked = true;
                blocker = p->deps[d] + 1;
            }
        }
        char what[3 * COMMAND_NAME_MAX + COMMAND_VM_MAX];
        executor_describe(x, what, sizeof what);
        if (blocked) {
            executor_enter(ex, p, EXECUTOR_NOT_EXECUTED);
            snprintf(p->note, sizeof p->note, "waits for action %zu, which did not complete",
                     blocker);
            leader_events_add(&ex->events, wall, "action %zu not executed: %s: %s", i + 1, what,
                              p->note);
            continue;
        }
        bool migration = p->kind == PLACEMENT_MIGRATE;
        if (!ready || (migration && in_flight >= ex->cfg.max_migrations))
            continue;
        bool sent = migration                        ? send_migration(ex, v, n, x, now)
                    : p->kind == PLACEMENT_POWER_OFF ? send_power_off(ex, v, n, x, now)
                                                     : executor_send_wake(ex, v, n, x, now);
        if (!sent) {
            executor_enter(ex, p, EXECUTOR_FAILED);
            leader_events_add(&ex->events, wall, "action %zu failed: %s: %s", i + 1, what,
                              p->note);
            continue;
        }
        executor_enter(ex, p, EXECUTOR_DISPATCHED);
        if (migration) {
            snprintf(p->note, sizeof p->note, "sent to %s", p->source);
            in_flight++;
        } else if (p->kind == PLACEMENT_POWER_OFF) {
            snprintf(p->note, sizeof p->note, "sent to %s", p->host);
        } else {
            snprintf(p->note, sizeof p->note, "%s asked of %s",
                     p->by_ipmi ? "IPMI power on" : "magic packet", p->waker);
        }
        leader_events_add(&ex->events, wall,
                          "action %zu dispatched: %s (command %s, term %" PRIu64 ")%s%s", i + 1,
                          what, p->command_id, ex->term,
                          !p->waker[0]  ? ""
                          : p->by_ipmi ? ": IPMI power on through its BMC from "
                                       : ": magic packet from ",
                          p->waker);
    }
}

int executor_step(struct executor *ex, const struct executor_member *m, size_t n, uint64_t now,
                  uint64_t wall) {
    /* An operator's create waits for its host to wake whatever the
     * automation: it was asked for, not planned. */
    if (!ex->leading || (ex->cfg.automation == CONFIG_AUTOMATION_OFF && !ex->n_creates) ||
        now < ex->next_tick_ms)
        return 0;
    struct leader_member *v;
    if (executor_view(ex, m, n, wall, &v) != 0)
        return -1;
    ex->next_tick_ms = now + EXECUTOR_TICK_MS;
    follow(ex, v, n, now, wall);
    executor_creates_step(ex, v, n, now, wall);
    /* Nothing leaves unless the lease covers it (the caller checks again,
     * with a fresh clock, immediately before each send). */
    if (ex->cfg.automation == CONFIG_AUTOMATION_AUTO && executor_may_send(ex->lease_until, now)) {
        for (size_t i = 0; i < ex->n_actions; i++)
            executor_repeat_wake(ex, v, n, &ex->actions[i], now);
        dispatch(ex, v, n, now, wall);
    }
    executor_view_free(v, n);
    return 0;
}

bool executor_next(struct executor *ex, struct executor_send *out) {
    if (ex->out_head == ex->n_out)
        return false;
    *out = ex->out[ex->out_head++];
    return true;
}

void executor_not_sent(struct executor *ex, const char *id, const char *why, uint64_t wall) {
    for (size_t i = 0; i < ex->n_actions; i++) {
        struct exec_action *x = &ex->actions[i];
        struct executor_action *p = &x->pub;
        if (p->state != EXECUTOR_DISPATCHED || strcmp(p->command_id, id) != 0)
            continue;
        if (x->prev_id[0]) {
            /* A repeated wake: keep following the request before it. */
            snprintf(p->command_id, sizeof p->command_id, "%s", x->prev_id);
            x->prev_id[0] = '\0';
            return;
        }
        settle(ex, x, EXECUTOR_FAILED);
        snprintf(p->note, sizeof p->note, "not sent: %s", why);
        char what[3 * COMMAND_NAME_MAX + COMMAND_VM_MAX];
        executor_describe(x, what, sizeof what);
        leader_events_add(&ex->events, wall, "action %zu failed: %s (command %s): %s", i + 1,
                          what, id, p->note);
        return;
    }
}

void executor_grant(struct executor *ex, const struct grant_request *req, uint64_t term,
                    uint64_t lease_until, uint64_t now, struct grant *out) {
    if (term != ex->term || req->term != term) {
        issued_answer(req, out);
        snprintf(out->reason, sizeof out->reason, "%s leads no more in term %" PRIu64,
                 ex->cfg.self, req->term);
        return;
    }
    if (lease_until < now + EXECUTOR_GRANT_ROOM_MS + EXECUTOR_GRANT_MIN_MS) {
        issued_answer(req, out);
        snprintf(out->reason, sizeof out->reason, "%s holds no lease in term %" PRIu64,
                 ex->cfg.self, term);
        return;
    }
    if (!issued_grant_once(&ex->issued, req, out))
        return;
    uint64_t valid = lease_until - now - EXECUTOR_GRANT_ROOM_MS;
    out->valid_ms = valid > UINT32_MAX ? UINT32_MAX : (uint32_t)valid;
}

size_t executor_plan_size(const struct executor *ex) { return ex->n_actions; }

const struct executor_action *executor_plan_action(const struct executor *ex, size_t i) {
    assert(i < ex->n_actions);
    return &ex->actions[i].pub;
}

uint64_t executor_plan_at(const struct executor *ex) { return ex->plan_at; }
uint64_t executor_plan_term(const struct executor *ex) { return ex->plan_term; }
const char *executor_note(const struct executor *ex) { return ex->note; }
const struct leader_events *executor_events(const struct executor *ex) { return &ex->events; }

size_t executor_woken_list(const struct executor *ex, struct executor_woken *out, size_t max) {
    size_t n = 0;
    for (size_t i = ex->n_woken; i > 0 && n < max; i--)
        out[n++] = ex->woken[i - 1];
    return n;
}

void executor_takeover(struct executor *ex, const struct executor_takeover_from *from,
                       uint64_t wall) {
    size_t carried = 0;
    /* Oldest first, so that the newest end up last in the table. */
    for (size_t i = from->n_woken; i > 0; i--) {
        const struct executor_woken *w = &from->woken[i - 1];
        if (!w->name[0] || woken_named(ex, w->name))
            continue;
        woken_note(ex, w->name, w->at_wall, w->failed);
        carried++;
    }
    const struct leader_events *prev = from->events;
    if (!prev || prev->next_seq == leader_events_first(prev)) {
        if (carried)
            leader_events_add(&ex->events, wall, "took over from %s: %zu woken host(s) carried "
                              "over", from->leader, carried);
        return;
    }
    /* The predecessor's log first, then what this host logged since its
     * last copy (elections it saw, its own start as leader). */
    struct leader_events *merged = malloc(sizeof *merged);
    if (!merged)
        return; /* out of memory: this leader's own log stays */
    leader_events_init(merged);
    uint64_t last = 0;
    size_t n = 0;
    for (uint64_t seq = leader_events_first(prev); seq < prev->next_seq; seq++, n++) {
        const struct leader_event *e = leader_events_get(prev, seq);
        leader_events_add(merged, e->at_ms, "%s", e->text);
        last = e->at_ms > last ? e->at_ms : last;
    }
    const struct leader_events *own = &ex->events;
    for (uint64_t seq = leader_events_first(own); seq < own->next_seq; seq++) {
        const struct leader_event *e = leader_events_get(own, seq);
        if (e->at_ms >= last)
            leader_events_add(merged, e->at_ms, "%s", e->text);
    }
    leader_events_add(merged, wall, "took over from %s: %zu event(s) of its log and %zu woken "
                      "host(s) carried over", from->leader, n, carried);
    ex->events = *merged;
    free(merged);
}

int executor_snapshot(struct executor *ex, const struct executor_member *m, size_t n,
                      uint64_t wall, struct leader_snapshot *out) {
    struct leader_member *v;
    if (executor_view(ex, m, n, wall, &v) != 0)
        return -1;
    int rc = leader_snapshot_build(out, v, n, ex->cfg.idle_watts, ex->cfg.max_watts);
    executor_view_free(v, n);
    return rc;
}

bool executor_issue(struct executor *ex, struct command *cmd, const char *target,
                    const char *address, bool local, uint64_t now) {
    if (!ex->leading || !executor_may_send(ex->lease_until, now))
        return false;
    struct executor_send *s = queue_slot(ex);
    if (!s)
        return false;
    executor_new_id(ex, cmd->id);
    cmd->term = ex->term; /* fenced, as the plan's commands */
    cmd->by_operator = false;
    snprintf(cmd->issuer, sizeof cmd->issuer, "%s", ex->cfg.self);
    snprintf(cmd->target, sizeof cmd->target, "%s", target);
    s->cmd = *cmd;
    snprintf(s->address, sizeof s->address, "%s", address);
    s->local = local;
    ex->n_out++;
    /* Its own tag: no plan's end revokes it; a new term does. */
    issued_add(&ex->issued, cmd, now, ++ex->next_tag);
    return true;
}

bool executor_revoke(struct executor *ex, const char *id, uint64_t wall) {
    /* A define still waiting for its host to wake goes with its command:
     * woken late, the host must not define what was given up. */
    bool waited = executor_create_cancel(ex, id, wall, "revoked by the leader");
    const struct issued_entry *e = issued_find(&ex->issued, id);
    if (e)
        issued_revoke(&ex->issued, e->tag);
    assert(!executor_create_waits(ex, id));
    return e || waited;
}

bool executor_create_waits(const struct executor *ex, const char *id) {
    for (size_t i = 0; i < ex->n_creates; i++)
        if (strcmp(ex->creates[i].cmd.id, id) == 0)
            return true;
    return false;
}

void executor_event(struct executor *ex, uint64_t wall, const char *text) {
    leader_events_add(&ex->events, wall, "%s", text);
}

void executor_policy(struct executor *ex, const char *policy, uint64_t wake_cooldown_ms) {
    snprintf(ex->cfg.policy, sizeof ex->cfg.policy, "%s", policy);
    ex->cfg.wake_cooldown_ms = wake_cooldown_ms;
}
