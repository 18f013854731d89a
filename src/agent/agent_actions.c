/* The command channel: the I/O around the host guard (src/host/) on the
 * target's side and the grants on the issuer's side (docs/safety.md).
 *
 * A command arrives; the guard checks its target, term and id and asks its
 * issuer for a grant; the grant comes back with how long it holds on this
 * host's clock; the command is carried out only if a fresh reading of the
 * clock, taken immediately before the action, is still within it (for a
 * migration, in the hypervisor's thread just before libvirt's call). What
 * this host carried out or refused (live migrations, its own power-off,
 * wake requests for others) travels in its gossiped record, so whoever
 * asked, any operator, and a new leader see in-flight work and its results
 * without asking. A command delivered twice runs once: the guard remembers
 * its id before anything runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "host/host_failed.h"
#include "published.h"

/* Room for the grant's trip back to the target, on the issuer's clock. */
#define GRANT_ROOM_MS 20

static const char *state_name(enum action_state s) {
    switch (s) {
    case ACTION_RUNNING: return "running";
    case ACTION_SUCCEEDED: return "succeeded";
    case ACTION_FAILED: return "failed";
    case ACTION_ABORTED: return "aborted";
    case ACTION_REFUSED: return "refused";
    }
    return "unknown";
}

/* Migration.kind in the record (proto/host.proto). */
static const char *kind_word(enum command_kind k) {
    return k == COMMAND_MIGRATE ? "" : command_kind_name(k);
}

int agent_actions_open(struct agent *a, char *err, size_t errlen) {
    /* The election's margin covers clocks drifting by rho each way
     * (election_lease.c): the guard assumes the same of this host's clock. */
    struct host_guard_config c = {
        .rho = (double)a->cfg.lease_drift_margin_ms / a->cfg.election_timeout_ms / 2};
    snprintf(c.self, sizeof c.self, "%s", a->cfg.node_name);
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = agent_wall_clock_ms() ^ a->cluster.self_id;
    if (!(a->guard = host_guard_new(&c, seed))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    issued_clear(&a->operators);
    return 0;
}

_Static_assert(sizeof((struct action *)0)->id == sizeof((struct host_failed *)0)->id &&
                   sizeof((struct action *)0)->vm == sizeof((struct host_failed *)0)->vm &&
                   sizeof((struct action *)0)->destination ==
                       sizeof((struct host_failed *)0)->destination,
               "a kept failed migration's fields are its action's");

static void failed_path(const struct agent *a, char *out, size_t len) {
    snprintf(out, len, "%s/%s", a->cfg.state_dir, HOST_FAILED_FILE);
}

/* The migrations running, failed or aborted, into HOST_FAILED_FILE: the
 * record reports them after a restart, for their destinations to judge the
 * copies they may have left (host_failed.h). */
static void keep_migrations(struct agent *a) {
    struct host_failed f[HOST_FAILED_MAX];
    size_t n = 0;
    for (size_t i = 0; i < ACTIONS_MAX && n < HOST_FAILED_MAX; i++) {
        const struct action *x = &a->actions[i];
        if (!x->used || x->kind != COMMAND_MIGRATE ||
            (x->state != ACTION_RUNNING && x->state != ACTION_FAILED &&
             x->state != ACTION_ABORTED))
            continue;
        f[n] = (struct host_failed){
            .state = x->state == ACTION_RUNNING  ? REPORT_RUNNING
                     : x->state == ACTION_FAILED ? REPORT_FAILED
                                                 : REPORT_ABORTED,
            .started_ms = x->started_ms, .ended_ms = x->ended_ms, .term = x->term};
        memcpy(f[n].id, x->id, sizeof f[n].id);
        memcpy(f[n].destination, x->destination, sizeof f[n].destination);
        memcpy(f[n].vm, x->vm, sizeof f[n].vm);
        n++;
    }
    char path[CONFIG_PATH_MAX + 32];
    char text[HOST_FAILED_TEXT_MAX];
    failed_path(a, path, sizeof path);
    int len = host_failed_format(f, n, text, sizeof text);
    if (len < 0)
        log_warn("%s: a failed migration cannot be kept (a name the file cannot hold)", path);
    else if (atomic_write_file(path, text, (size_t)len, 0644) != 0)
        log_warn("cannot keep the failed migrations in %s: %s (a restart forgets them, and "
                 "their destinations keep what copies they left)",
                 path, strerror(errno));
}

void agent_actions_restore(struct agent *a) {
    char path[CONFIG_PATH_MAX + 32];
    failed_path(a, path, sizeof path);
    size_t len, bad = 0, n = 0;
    char *text = read_small_file(path, HOST_FAILED_TEXT_MAX, &len);
    struct host_failed f[HOST_FAILED_MAX];
    if (text)
        n = host_failed_parse(text, f, HOST_FAILED_MAX, &bad);
    else if (errno != ENOENT)
        log_warn("%s: %s; the migrations that failed before this start are not reported",
                 path, strerror(errno));
    free(text);
    if (bad)
        log_warn("%s: %zu line(s) are not failed migrations; skipped", path, bad);
    for (size_t i = 0; i < n && i < ACTIONS_MAX; i++) {
        struct action *x = &a->actions[i];
        *x = (struct action){.used = true, .kind = COMMAND_MIGRATE,
                             .orphan = f[i].state == REPORT_RUNNING,
                             .state = f[i].state == REPORT_RUNNING  ? ACTION_RUNNING
                                      : f[i].state == REPORT_FAILED ? ACTION_FAILED
                                                                    : ACTION_ABORTED,
                             .started_ms = f[i].started_ms, .ended_ms = f[i].ended_ms,
                             .term = f[i].term};
        memcpy(x->id, f[i].id, sizeof x->id);
        memcpy(x->vm, f[i].vm, sizeof x->vm);
        memcpy(x->destination, f[i].destination, sizeof x->destination);
        if (!x->orphan)
            snprintf(x->error, sizeof x->error, "failed before this agent started");
    }
    if (n)
        log_info("%zu migration(s) from %s reported again", n, path);
}

/* The migrations running when the agent last stopped, settled from a fresh
 * view of libvirt (host_failed_settle), asked for once and read on a later
 * sample. */
static void settle_orphans(struct agent *a) {
    bool any = false;
    for (size_t i = 0; i < ACTIONS_MAX; i++)
        any |= a->actions[i].used && a->actions[i].orphan &&
               a->actions[i].state == ACTION_RUNNING;
    const struct hv_fresh *f = a->orphans_token ? hv_fresh_latest(a->hv) : NULL;
    if (!any || !f || f->token < a->orphans_token) {
        if (any && !a->orphans_token)
            a->orphans_token = hv_fresh_request(a->hv);
        return;
    }
    a->orphans_token = 0;
    bool changed = false;
    for (size_t i = 0; i < ACTIONS_MAX; i++) {
        struct action *x = &a->actions[i];
        if (!x->used || !x->orphan || x->state != ACTION_RUNNING)
            continue;
        struct host_failed e = {.state = REPORT_RUNNING};
        memcpy(e.id, x->id, sizeof e.id);
        memcpy(e.vm, x->vm, sizeof e.vm);
        char why[HV_REASON_MAX];
        enum report_state st = host_failed_settle(
            &e, f->available, f->available ? hv_fresh_find(f, x->vm) : NULL, why, sizeof why);
        if (st == REPORT_RUNNING)
            continue;
        x->orphan = false;
        x->state = st == REPORT_SUCCEEDED ? ACTION_SUCCEEDED : ACTION_FAILED;
        x->ended_ms = agent_stamp_ms(a);
        if (x->state == ACTION_FAILED)
            snprintf(x->error, sizeof x->error, "%s", why);
        log_info("migration %s of %s, running when this agent stopped: %s (%s)", x->id, x->vm,
                 state_name(x->state), why);
        changed = true;
    }
    if (changed)
        keep_migrations(a);
}

void agent_actions_close(struct agent *a) {
    host_guard_free(a->guard);
    a->guard = NULL;
}

/* A free slot, else the one that ended longest ago; NULL if all run. */
static struct action *slot(struct agent *a) {
    struct action *best = NULL;
    for (size_t i = 0; i < ACTIONS_MAX; i++) {
        struct action *x = &a->actions[i];
        if (!x->used)
            return x;
        if (x->state != ACTION_RUNNING && (!best || x->ended_ms < best->ended_ms))
            best = x;
    }
    return best;
}

/* A record entry for a command that acts on VMs or power; NULL for the
 * others (drain, transfer: a flag and the election show them) or when
 * every slot runs. */
static struct action *record_entry(struct agent *a, const struct command *c) {
    if (c->kind != COMMAND_MIGRATE && c->kind != COMMAND_POWER_OFF && c->kind != COMMAND_WAKE &&
        c->kind != COMMAND_VM_RULES && c->kind != COMMAND_DEFINE)
        return NULL;
    struct action *x = slot(a);
    if (!x) {
        log_err("command %s from %s: %d actions already run; not recorded", c->id, c->issuer,
                ACTIONS_MAX);
        return NULL;
    }
    memset(x, 0, sizeof *x);
    x->used = true;
    snprintf(x->id, sizeof x->id, "%s", c->id);
    x->kind = c->kind;
    x->term = c->term;
    x->started_ms = agent_stamp_ms(a);
    if (c->kind == COMMAND_MIGRATE) {
        snprintf(x->vm, sizeof x->vm, "%s", c->migrate.vm);
        snprintf(x->destination, sizeof x->destination, "%s", c->migrate.destination);
    } else if (c->kind == COMMAND_WAKE) {
        snprintf(x->vm, sizeof x->vm, "%s", c->wake.host);
        snprintf(x->destination, sizeof x->destination, "%s", c->wake.host);
    } else if (c->kind == COMMAND_VM_RULES) {
        snprintf(x->vm, sizeof x->vm, "%s", c->vm_rules.vm);
        snprintf(x->destination, sizeof x->destination, "%s", a->cfg.node_name);
    } else if (c->kind == COMMAND_DEFINE) {
        snprintf(x->vm, sizeof x->vm, "%s", c->define.name);
        snprintf(x->destination, sizeof x->destination, "%s", a->cfg.node_name);
    } else {
        snprintf(x->destination, sizeof x->destination, "%s", a->cfg.node_name);
    }
    return x;
}

/* A command that will not run here: logged, and in the record for the
 * issuer to follow. */
static void refuse(struct agent *a, const struct command *c, const char *why) {
    char what[COMMAND_VM_MAX + COMMAND_NAME_MAX + 32];
    command_describe(c, what, sizeof what);
    log_warn("refused command %s from %s (term %llu, %s): %s", c->id, c->issuer,
             (unsigned long long)c->term, what, why);
    struct action *x = record_entry(a, c);
    if (!x)
        return;
    x->state = ACTION_REFUSED;
    x->ended_ms = x->started_ms;
    /* A long reason is cut to the record's field. */
    snprintf(x->error, sizeof x->error, "%.*s", (int)sizeof x->error - 1, why);
    cluster_publish(a, agent_clock_ms());
}

/* A wake's or a migration's addresses must be the ones their host published
 * in its signed record (published.h): false, with x refused and the
 * refusal counted, when they are not. */
static bool as_published(struct agent *a, const struct command *c, struct action *x) {
    bool wake = c->kind == COMMAND_WAKE;
    char why[HV_REASON_MAX];
    Nodectl__HostRecord *rec = agent_record_named(a, wake ? c->wake.host : c->migrate.destination);
    const char *bad = wake ? published_wake(&c->wake, rec, why, sizeof why)
                           : published_migration(&c->migrate, rec, why, sizeof why);
    if (rec)
        nodectl__host_record__free_unpacked(rec, NULL);
    if (!bad)
        return true;
    x->state = ACTION_REFUSED;
    x->ended_ms = x->started_ms;
    snprintf(x->error, sizeof x->error, "%s", bad);
    log_warn("command %s refused: %s", c->id, bad);
    security_refuse(a, wake ? REFUSED_WAKE_ADDRESS : REFUSED_MIGRATION_ADDRESS, c->issuer,
                    wake ? "a wake request" : "a migration");
    return false;
}

/* Carries out a granted command, after the final check. */
static void act(struct agent *a, const struct command *c, uint64_t deadline) {
    char what[COMMAND_VM_MAX + COMMAND_NAME_MAX + 32];
    command_describe(c, what, sizeof what);
    /* The last look at the clock before the action takes effect. */
    if (!host_guard_may_act(&a->lead.fence, c->term, deadline, agent_clock_ms())) {
        refuse(a, c, "its grant expired (or a newer term is known) before it could act");
        return;
    }
    log_info("command %s from %s (term %llu): %s", c->id, c->issuer,
             (unsigned long long)c->term, what);
    if (c->kind == COMMAND_DRAIN) {
        char err[CONFIG_PATH_MAX + 64];
        if (agent_drain_set(a, c->drain, err, sizeof err) != 0)
            log_err("command %s from %s: %s", c->id, c->issuer, err);
        return;
    }
    if (c->kind == COMMAND_TRANSFER) {
        char err[128];
        if (leadership_transfer(a, c->transfer_to, err, sizeof err) != 0)
            log_warn("command %s from %s: leadership transfer refused: %s", c->id, c->issuer,
                     err);
        return;
    }
    struct action *x = record_entry(a, c);
    if (!x)
        return;
    if (c->kind == COMMAND_VM_RULES) {
        /* Its outcome stays in the record, for `nodectl vm set` to show. */
        bool ok = agent_vm_rules_write(a, &c->vm_rules, x->error, sizeof x->error) == 0;
        x->state = ok ? ACTION_SUCCEEDED : ACTION_FAILED;
        x->ended_ms = agent_stamp_ms(a);
        if (!ok)
            log_warn("command %s from %s: %s", c->id, c->issuer, x->error);
    } else if (c->kind == COMMAND_POWER_OFF) {
        /* It takes effect when the host commits, after a fresh view of
         * libvirt: the grant's deadline goes down to that moment. */
        agent_power_off(a, x, deadline);
    } else if (c->kind == COMMAND_WAKE) {
        if (as_published(a, c, x))
            agent_wake(a, &c->wake, x);
    } else if (c->kind == COMMAND_DEFINE) {
        agent_define(a, c, x, deadline);
    } else if (as_published(a, c, x)) {
        /* The destination advertises what the command names; then the
         * source's refusals from its gossip view; the grant's deadline,
         * then the domain as libvirt shows it, are checked in the
         * migration's thread just before libvirt's call. */
        bool accepted = agent_migrate_refusal(a, c, x->arrival, x->error, sizeof x->error) ==
                        HOST_OK;
        /* Kept before libvirt is asked: a restart settles it from libvirt. */
        if (accepted)
            keep_migrations(a);
        if (accepted &&
            hv_migrate_start(a->hv, x->id, c->migrate.vm, c->migrate.destination_uri,
                             c->migrate.migration_address[0] ? c->migrate.migration_address
                                                             : NULL,
                             c->migrate.timeout_ms ? c->migrate.timeout_ms
                                                   : a->cfg.migration_timeout_ms,
                             agent_clock_ms(), deadline, agent_migrate_vm_check, x->arrival,
                             x->error,
                             sizeof x->error) == 0) {
            x->state = ACTION_RUNNING;
        } else {
            x->state = ACTION_REFUSED;
            x->ended_ms = x->started_ms;
            log_warn("command %s refused: %s", c->id, x->error);
            if (accepted)
                keep_migrations(a);
        }
    }
    cluster_publish(a, agent_clock_ms());
}

static void on_grant(struct agent *a, const struct grant *gr, const char *sender);

/* The answer to a grant request for a command this host issued: an
 * operator's (granted within its window, no lease needed) or the
 * executor's (only under the lease). */
static void grant_request(struct agent *a, const struct grant_request *req, const char *from) {
    struct command_msg m = {.kind = COMMAND_MSG_GRANT};
    if (issued_find(&a->operators, req->id))
        issued_grant_operator(&a->operators, req, agent_clock_ms(), OPERATOR_VALID_MS,
                              GRANT_ROOM_MS, &m.grant);
    else
        agent_leader_grant(a, req, &m.grant);
    log_debug("grant for command %s to %s: %s%s", req->id, req->target,
              m.grant.granted ? "granted" : "refused: ", m.grant.reason);
    if (!from[0])
        on_grant(a, &m.grant, a->cfg.node_name);
    else if (cluster_send_command(a, from, &m) != 0)
        log_warn("grant for command %s: cannot reach %s at %s", req->id, req->target, from);
}

/* Does what the guard asks: requests to send, requests given up. */
static void flush_guard(struct agent *a) {
    struct host_guard_out o;
    while (host_guard_next(a->guard, &o)) {
        if (o.kind == HOST_GUARD_OUT_GIVE_UP) {
            refuse(a, &o.cmd, o.why);
        } else if (!o.reply_to[0]) {
            grant_request(a, &o.ask, "");
        } else {
            struct command_msg m = {.kind = COMMAND_MSG_ASK, .ask = o.ask};
            if (cluster_send_command(a, o.reply_to, &m) != 0)
                log_warn("command %s: cannot ask %s at %s for its grant; asking again later",
                         o.cmd.id, o.cmd.issuer, o.reply_to);
        }
    }
}

/* A grant from `sender` (its certificate's name; this host for its own). */
static void on_grant(struct agent *a, const struct grant *gr, const char *sender) {
    struct command c;
    uint64_t deadline;
    char why[COMMAND_REASON_MAX + 64];
    switch (host_guard_on_grant(a->guard, &a->lead.fence, gr, sender, agent_clock_ms(), &c,
                                &deadline, why, sizeof why)) {
    case HOST_GUARD_ACT: act(a, &c, deadline); break;
    case HOST_GUARD_REFUSED: refuse(a, &c, why); break;
    case HOST_GUARD_IGNORED:
        log_debug("grant for command %s from %s matches no request outstanding to it; ignored",
                  gr->id, sender);
        break;
    }
}

/* A command arrived from `from` ("": issued on this host). */
static void receive(struct agent *a, const struct command *c, const char *from) {
    enum host_guard_verdict v = host_guard_receive(a->guard, &a->lead.fence, c, from,
                                                   agent_clock_ms());
    char what[96];
    snprintf(what, sizeof what, "command %s", c->id);
    switch (v) {
    case HOST_GUARD_ASK: break;
    case HOST_GUARD_DUPLICATE: log_debug("%s: already received, not run again", what); break;
    case HOST_GUARD_STALE: leadership_refused_stale(a, c->term, what, c->issuer); break;
    case HOST_GUARD_AHEAD: leadership_refused_ahead(a, c->term, what, c->issuer); break;
    case HOST_GUARD_NOT_TARGET: /* someone else's id: nothing to record */
        log_warn("refused %s from %s: %s", what, c->issuer, host_guard_verdict_name(v));
        break;
    case HOST_GUARD_OFF:
    case HOST_GUARD_BUSY: refuse(a, c, host_guard_verdict_name(v)); break;
    }
    flush_guard(a);
}

/* The frame's certificate names its sender: a command must name it as its
 * issuer, a grant request as its target, and a grant must come from the
 * command's issuer (host_guard_on_grant), so that no host can issue, ask
 * or grant in another's name. A frame out of bounds (command_msg_decode,
 * message_check_command) is counted and logged once per reason and sender. */
void agent_command_frame(struct agent *a, const struct frame_msg *msg) {
    struct cluster *c = &a->cluster;
    struct command_msg m;
    char why[128];
    enum message_reject reason = MESSAGE_REJECT_MALFORMED;
    const char *field = why;
    if (command_msg_decode(msg->payload, msg->len, &m, why, sizeof why) != 0 ||
        (m.kind == COMMAND_MSG_COMMAND && (field = message_check_command(&m.command, &reason)))) {
        reject_count(&c->command_rejects, reason);
        reject_log_new(&c->command_log, &c->command_rejects, msg->sender, field);
        return;
    }
    switch (m.kind) {
    case COMMAND_MSG_COMMAND:
        if (strcmp(m.command.issuer, msg->sender) != 0)
            security_refuse(a, REFUSED_COMMAND_ISSUER, msg->sender, "a command");
        else
            receive(a, &m.command, msg->from);
        break;
    case COMMAND_MSG_ASK:
        if (strcmp(m.ask.target, msg->sender) != 0)
            security_refuse(a, REFUSED_COMMAND_ISSUER, msg->sender, "a grant request");
        else
            grant_request(a, &m.ask, msg->from);
        break;
    case COMMAND_MSG_GRANT: on_grant(a, &m.grant, msg->sender); break;
    case COMMAND_MSG_RENEW:
    case COMMAND_MSG_RENEWED: agent_fence_frame(a, &m, msg->sender, msg->from); break;
    case COMMAND_MSG_DEFINITION: agent_hadefs_frame(a, &m.definition, msg->sender); break;
    }
}

int agent_command_issue(struct agent *a, const struct command *c, const char *address,
                        bool local) {
    if (local) {
        receive(a, c, "");
        return 0;
    }
    struct command_msg m = {.kind = COMMAND_MSG_COMMAND, .command = *c};
    return cluster_send_command(a, address, &m);
}

void agent_operator_command(struct agent *a, struct command *c, const char *target) {
    uuid_t u;
    uuid_generate(u);
    uuid_unparse_lower(u, c->id);
    c->term = a->lead.fence.highest; /* fenced: refused by a host that knows a newer one */
    snprintf(c->issuer, sizeof c->issuer, "%s", a->cfg.node_name);
    snprintf(c->target, sizeof c->target, "%s", target);
    c->by_operator = true;
    issued_add(&a->operators, c, agent_clock_ms(), 0);
}

void agent_actions_run(struct agent *a, uint64_t now) {
    host_guard_tick(a->guard, now);
    flush_guard(a);
}

uint64_t agent_actions_deadline(const struct agent *a) { return host_guard_deadline(a->guard); }

/* A definition that ended: its outcome into the action. */
static void define_ended(struct agent *a, struct action *x) {
    const struct hv_definition *defs[HV_DEFINES_MAX];
    size_t n = hv_defines(a->hv, defs);
    for (size_t k = 0; k < n; k++) {
        if (strcmp(defs[k]->tag, x->id) != 0 || defs[k]->state == HV_DEF_RUNNING)
            continue;
        x->state = defs[k]->state == HV_DEF_SUCCEEDED ? ACTION_SUCCEEDED
                   : defs[k]->state == HV_DEF_REFUSED ? ACTION_REFUSED : ACTION_FAILED;
        snprintf(x->error, sizeof x->error, "%s", defs[k]->error);
        x->ended_ms = agent_stamp_ms(a);
        if (x->state == ACTION_SUCCEEDED)
            log_info("command %s: define %s succeeded", x->id, x->vm);
        else
            log_warn("command %s: define %s %s: %s", x->id, x->vm,
                     x->state == ACTION_REFUSED ? "refused" : "failed", x->error);
    }
}

void agent_actions_refresh(struct agent *a) {
    const struct hv_migration *migs[HV_MIGRATIONS_MAX];
    size_t n = hv_migrations(a->hv, migs);
    for (size_t i = 0; i < ACTIONS_MAX; i++) {
        struct action *x = &a->actions[i];
        if (x->used && x->state == ACTION_RUNNING && x->kind == COMMAND_DEFINE)
            define_ended(a, x);
        if (!x->used || x->state != ACTION_RUNNING || x->kind != COMMAND_MIGRATE)
            continue;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(migs[k]->tag, x->id) != 0)
                continue;
            x->progress = migs[k]->data_total
                              ? (double)migs[k]->data_processed / (double)migs[k]->data_total
                              : 0;
            if (migs[k]->state == HV_MIG_RUNNING)
                break;
            x->state = migs[k]->state == HV_MIG_SUCCEEDED ? ACTION_SUCCEEDED
                       : migs[k]->state == HV_MIG_ABORTED ? ACTION_ABORTED
                       : migs[k]->state == HV_MIG_REFUSED ? ACTION_REFUSED : ACTION_FAILED;
            if (x->state == ACTION_SUCCEEDED)
                x->progress = 1;
            snprintf(x->error, sizeof x->error, "%s", migs[k]->error);
            x->ended_ms = agent_stamp_ms(a);
            keep_migrations(a);
        }
    }
    settle_orphans(a);
}

int agent_actions_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    struct host_record_action r[ACTIONS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < ACTIONS_MAX; i++) {
        const struct action *x = &a->actions[i];
        if (x->used)
            r[n++] = (struct host_record_action){.id = x->id,
                                                 .vm = x->vm,
                                                 .destination = x->destination,
                                                 .state = state_name(x->state),
                                                 .error = x->error,
                                                 .kind = kind_word(x->kind),
                                                 .progress = x->progress,
                                                 .started_ms = x->started_ms,
                                                 .ended_ms = x->ended_ms,
                                                 .term = x->term};
    }
    return host_record_actions(rec, r, n);
}
