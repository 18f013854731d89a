/* nodectl create when only a host that is off can take the new VM: the
 * leader wakes the host, as its planner's power-on does (VMware DPM and
 * the planner wake a host when the running ones cannot take the load),
 * and defines the VM there once gossip shows the host alive. Each create
 * waits in a small table, bounded by power_on_timeout: a host that does
 * not come back, or cannot be woken, ends it with an event that names why,
 * which the waiting CLI prints. The table is soft state of this leader: an
 * operator's create outlives a lease lost and regained (its commands go
 * again in the new term), but another leader knows nothing of it, and the
 * CLI's wait ends at its bound. The HA round's restarts onto a host that
 * is off use the same table (executor_ha_after_wake, docs/ha.md) but never
 * outlive the lease or the term, nor a revoke of their command. No create
 * outlives power_on_timeout from its asking without its host back. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "executor_internal.h"

/* How long the define may take to show in the woken host's record, and
 * how often it is sent again meanwhile: a host just woken is setting up its
 * connections, and a command frame is not acknowledged (docs/safety.md). */
#define CREATE_DEFINE_GRACE_MS 30000
#define CREATE_DEFINE_REPEAT_MS 2000

static const char *what(const struct exec_create *c) {
    return c->ha ? "HA restart" : "create";
}

static bool after_wake(struct executor *ex, struct command *cmd, const char *target,
                       uint64_t now, uint64_t wall, bool ha, char *why, size_t len) {
    assert(cmd->kind == COMMAND_DEFINE);
    if (!ex->leading || !executor_may_send(ex->lease_until, now)) {
        snprintf(why, len, "%s holds no lease now; try again", ex->cfg.self);
        return false;
    }
    for (size_t i = 0; i < ex->n_creates; i++)
        if (strcmp(ex->creates[i].cmd.define.name, cmd->define.name) == 0) {
            snprintf(why, len, "a%s %s of %s already waits for %s to wake",
                     ex->creates[i].ha ? "n" : "", what(&ex->creates[i]), cmd->define.name,
                     ex->creates[i].wake.pub.host);
            return false;
        }
    if (ex->n_creates == EXECUTOR_CREATES_MAX) {
        snprintf(why, len, "%d creates already wait for hosts to wake; try again later",
                 EXECUTOR_CREATES_MAX);
        return false;
    }
    struct exec_create *c = &ex->creates[ex->n_creates++];
    memset(c, 0, sizeof *c);
    executor_new_id(ex, cmd->id);
    c->cmd = *cmd;
    c->ha = ha;
    c->wake.pub.kind = PLACEMENT_POWER_ON;
    c->wake.pub.state = EXECUTOR_PROPOSED;
    c->wake.tag = ++ex->next_tag;
    c->define.tag = ++ex->next_tag;
    snprintf(c->wake.pub.host, sizeof c->wake.pub.host, "%s", target);
    snprintf(c->define.pub.host, sizeof c->define.pub.host, "%s", target);
    c->wake.deadline_ms = now + ex->cfg.power_on_timeout_ms;
    leader_events_add(&ex->events, wall, "%s: %s waits for %s, which is off, to wake "
                      "(command %s, at most %u s)", what(c), cmd->define.name, target, cmd->id,
                      ex->cfg.power_on_timeout_ms / 1000);
    return true;
}

bool executor_create_after_wake(struct executor *ex, struct command *cmd, const char *target,
                                uint64_t now, uint64_t wall, char *why, size_t len) {
    return after_wake(ex, cmd, target, now, wall, false, why, len);
}

bool executor_ha_after_wake(struct executor *ex, struct command *cmd, const char *target,
                            uint64_t now, uint64_t wall, char *why, size_t len) {
    return after_wake(ex, cmd, target, now, wall, true, why, len);
}

/* Create i ends: a failure told in the events, its define granted no more,
 * remembered when that define never left (executor_create_unsent), and its
 * slot freed. */
static void finish(struct executor *ex, size_t i, uint64_t wall, const char *why) {
    struct exec_create *c = &ex->creates[i];
    assert(i < ex->n_creates);
    if (why)
        leader_events_add(&ex->events, wall, "%s: %s not placed on %s (command %s): %s",
                          what(c), c->cmd.define.name, c->wake.pub.host, c->cmd.id, why);
    /* Its define is granted no more (the wake may go on: harmless). */
    issued_revoke(&ex->issued, c->define.tag);
    if (c->define.pub.state != EXECUTOR_DISPATCHED) {
        /* Copied by hand: both lie in *ex, and snprintf's restrict makes
         * an optimizing build (-Wrestrict) refuse it. */
        char *u = ex->unsent[ex->next_unsent++ % EXECUTOR_UNSENT_MAX];
        size_t len = strnlen(c->cmd.id, sizeof ex->unsent[0] - 1);
        memcpy(u, c->cmd.id, len);
        u[len] = '\0';
    }
    ex->creates[i] = ex->creates[--ex->n_creates];
}

bool executor_create_cancel(struct executor *ex, const char *id, uint64_t wall,
                            const char *why) {
    for (size_t i = 0; i < ex->n_creates; i++)
        if (strcmp(ex->creates[i].cmd.id, id) == 0) {
            finish(ex, i, wall, why);
            return true;
        }
    return false;
}

bool executor_create_clear(struct executor *ex, const char *vm, uint64_t wall, char *why,
                           size_t len) {
    for (size_t i = ex->n_creates; i > 0; i--) {
        struct exec_create *c = &ex->creates[i - 1];
        if (strcmp(c->cmd.define.name, vm) != 0)
            continue;
        if (!c->ha || c->define.pub.state == EXECUTOR_DISPATCHED) {
            snprintf(why, len, "a%s %s of it waits for %s (command %s)", c->ha ? "n" : "",
                     what(c), c->wake.pub.host, c->cmd.id);
            return false;
        }
        finish(ex, i - 1, wall, "the HA round decides again");
    }
    return true;
}

bool executor_create_unsent(const struct executor *ex, const char *id) {
    for (size_t i = 0; i < EXECUTOR_UNSENT_MAX; i++)
        if (strcmp(ex->unsent[i], id) == 0)
            return true;
    return false;
}

void executor_creates_drop_ha(struct executor *ex, uint64_t wall, const char *why) {
    for (size_t i = ex->n_creates; i > 0; i--)
        if (ex->creates[i - 1].ha)
            finish(ex, i - 1, wall, why);
}

/* One create, one step: true when it ended, with *why for a failure. */
static bool create_step(struct executor *ex, const struct leader_member *v, size_t n,
                        struct exec_create *c, uint64_t now, uint64_t wall, const char **why) {
    struct exec_action *w = &c->wake, *d = &c->define;
    *why = NULL;
    if (d->pub.state == EXECUTOR_DISPATCHED) {
        /* Kept until the host reports the define (or the grace passed), so
         * no plan powers the woken host off under it (executor_view). */
        const struct leader_member *h = leader_view_named(v, n, w->pub.host);
        const struct report *r = leader_view_report(h, c->cmd.id);
        if (r && r->state != REPORT_RUNNING)
            return true;
        if (!h || h->liveness != LEADER_HOST_UP) {
            *why = "its host went down before it reported the define";
            return true;
        }
        if (now > d->deadline_ms) {
            *why = "its host reported nothing of the define within 30 s";
            return true;
        }
        if (r || now < d->repeat_ms + CREATE_DEFINE_REPEAT_MS ||
            !executor_may_send(ex->lease_until, now))
            return false;
        /* Again, the same id: in a new term under a new grant. */
        d->repeat_ms = now;
        if (c->cmd.term == ex->term)
            executor_resend(ex, h, &c->cmd);
        else
            executor_send(ex, h, &c->cmd, d, now);
        return false;
    }
    if (w->pub.state == EXECUTOR_PROPOSED && now > w->deadline_ms) {
        *why = "this leader held no lease to wake it within power_on_timeout";
        return true;
    }
    if (!executor_may_send(ex->lease_until, now))
        return false;
    if (w->pub.state == EXECUTOR_PROPOSED) {
        uint64_t deadline = w->deadline_ms;
        if (!executor_send_wake(ex, v, n, w, now)) {
            executor_enter(ex, &w->pub, EXECUTOR_FAILED);
            *why = w->pub.note;
            return true;
        }
        executor_enter(ex, &w->pub, EXECUTOR_DISPATCHED);
        w->deadline_ms = deadline; /* counted from the asking */
        return false;
    }
    if (w->pub.state == EXECUTOR_DISPATCHED) {
        executor_repeat_wake(ex, v, n, w, now);
        return false;
    }
    if (w->pub.state != EXECUTOR_DONE) {
        *why = w->pub.note;
        return true;
    }
    const struct leader_member *h = leader_view_named(v, n, w->pub.host);
    if (!h || h->liveness != LEADER_HOST_UP)
        return false; /* alive in one reading, not in this one: wait for the next */
    if (!executor_send(ex, h, &c->cmd, d, now)) {
        *why = d->pub.note;
        return true;
    }
    d->pub.state = EXECUTOR_DISPATCHED;
    d->deadline_ms = now + CREATE_DEFINE_GRACE_MS;
    d->repeat_ms = now;
    leader_events_add(&ex->events, wall, "%s: %s sent to %s (command %s): its host is alive",
                      what(c), c->cmd.define.name, w->pub.host, c->cmd.id);
    return false;
}

void executor_creates_step(struct executor *ex, const struct leader_member *v, size_t n,
                           uint64_t now, uint64_t wall) {
    for (size_t i = ex->n_creates; i > 0; i--) {
        struct exec_create *c = &ex->creates[i - 1];
        struct exec_action *w = &c->wake;
        if (w->pub.state == EXECUTOR_DISPATCHED &&
            executor_follow_power_on(ex, v, n, w, now, wall) && w->pub.state == EXECUTOR_DONE)
            leader_events_add(&ex->events, wall, "%s: %s: %s woken: %s", what(c),
                              c->cmd.define.name, w->pub.host, w->pub.note);
        const char *why;
        if (create_step(ex, v, n, c, now, wall, &why))
            finish(ex, i - 1, wall, why);
    }
}

void executor_creates_keep_on(const struct executor *ex, struct leader_member *v, size_t n) {
    for (size_t i = 0; i < ex->n_creates; i++)
        for (size_t k = 0; k < n; k++)
            if (strcmp(v[k].rec->name, ex->creates[i].wake.pub.host) == 0)
                v[k].keep_on = true;
}

