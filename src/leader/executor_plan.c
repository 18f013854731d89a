/* The leader's plans: when one is due, the planner's snapshot with what
 * the leader knows beyond the records, the takeover wait, and the
 * planner's result turned into the executor's actions. The planner itself
 * runs wherever the caller likes (the agent: in a worker thread); a result
 * that comes back after the term or the lease it was begun under ended is
 * discarded. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor_internal.h"

bool executor_plan_busy(const struct executor *ex) {
    for (size_t i = 0; i < ex->n_actions; i++)
        if (ex->actions[i].pub.state == EXECUTOR_PROPOSED ||
            ex->actions[i].pub.state == EXECUTOR_DISPATCHED)
            return true;
    return false;
}

bool executor_plan_due(const struct executor *ex, uint64_t now) {
    return ex->leading && ex->cfg.automation != CONFIG_AUTOMATION_OFF && !ex->planning &&
           now >= ex->next_plan_ms &&
           !(ex->cfg.automation == CONFIG_AUTOMATION_AUTO && executor_plan_busy(ex));
}

/* Takeover (executor.c's header): in auto, the first migration running in a
 * live record that this leader did not send, and how many; NULL if none. */
static const struct report *foreign_in_flight(const struct executor *ex,
                                              const struct leader_member *v, size_t n,
                                              size_t *count) {
    const char **own = calloc(ex->n_actions ? ex->n_actions : 1, sizeof *own);
    size_t n_own = 0;
    /* Out of memory: every running migration counts as foreign, the safe
     * side (wait rather than act). */
    for (size_t i = 0; own && i < ex->n_actions; i++)
        if (ex->actions[i].pub.command_id[0])
            own[n_own++] = ex->actions[i].pub.command_id;
    const struct report *r = leader_view_foreign_migration(v, n, own, n_own, count);
    free(own);
    return r;
}

/* The VMs that run on two hosts or more (the snapshot's `twice`, grouped by
 * name), told in the event log when they change: the planner leaves them
 * where they are, and the destination of the failed migration that made
 * the second copy destroys it (host_arrival.h). */
static void tell_twice(struct executor *ex, const struct leader_snapshot *s, uint64_t wall) {
    char now[sizeof ex->twice] = "";
    size_t o = 0;
    for (size_t i = 0; i < s->n_twice && o + 1 < sizeof now; i++) {
        const struct placement_vm *pv = &s->vms[s->twice[i]];
        const char *vm = s->vm_rec[pv->id]->name, *host = s->host_rec[pv->host]->name;
        bool first = i == 0 || strcmp(s->vm_rec[s->vms[s->twice[i - 1]].id]->name, vm) != 0;
        int w = first ? snprintf(now + o, sizeof now - o, "%s%s on %s", o ? "; " : "", vm, host)
                      : snprintf(now + o, sizeof now - o, ", %s", host);
        o = w < 0 ? o : o + (size_t)w < sizeof now ? o + (size_t)w : sizeof now - 1;
    }
    if (strcmp(now, ex->twice) == 0)
        return;
    if (now[0])
        leader_events_add(&ex->events, wall,
                          "VM running on more than one host (the records show it): %s; not moved "
                          "while it does", now);
    else
        leader_events_add(&ex->events, wall, "no VM runs on more than one host any more");
    snprintf(ex->twice, sizeof ex->twice, "%s", now);
}

enum executor_plan_start executor_plan_begin(struct executor *ex, const struct executor_member *m,
                                             size_t n, uint64_t now, uint64_t wall,
                                             struct leader_snapshot *out, uint64_t *ticket) {
    struct leader_member *v;
    if (executor_view(ex, m, n, wall, &v) != 0)
        return EXECUTOR_PLAN_ERROR;
    size_t n_foreign;
    const struct report *f = foreign_in_flight(ex, v, n, &n_foreign);
    if (ex->cfg.automation == CONFIG_AUTOMATION_AUTO && f) {
        /* Asked again at the next tick rather than the next plan interval:
         * a takeover should act as soon as its predecessor's moves end. */
        char note[sizeof ex->note];
        snprintf(note, sizeof note,
                 "waiting for %zu migration(s) already in flight (e.g. %s of %s, term %" PRIu64
                 ") before planning", n_foreign, f->m->id, f->m->vm, f->m->term);
        if (strcmp(note, ex->note) != 0)
            leader_events_add(&ex->events, wall, "%s", note);
        snprintf(ex->note, sizeof ex->note, "%s", note);
        ex->next_plan_ms = now + EXECUTOR_TICK_MS;
        executor_view_free(v, n);
        return EXECUTOR_PLAN_WAIT;
    }
    ex->note[0] = '\0';
    int rc = leader_snapshot_build(out, v, n, ex->cfg.idle_watts, ex->cfg.max_watts);
    executor_view_free(v, n);
    if (rc != 0)
        return EXECUTOR_PLAN_ERROR;
    tell_twice(ex, out, wall);
    ex->planning = true;
    ex->next_plan_ms = now + ex->cfg.plan_interval_ms;
    *ticket = ex->epoch;
    return EXECUTOR_PLAN_STARTED;
}

static bool same_actions(const struct executor *ex, const struct exec_action *next, size_t n) {
    if (n != ex->n_actions)
        return false;
    for (size_t i = 0; i < n; i++) {
        const struct executor_action *p = &ex->actions[i].pub, *q = &next[i].pub;
        if (p->kind != q->kind || strcmp(p->vm, q->vm) != 0 || strcmp(p->source, q->source) != 0 ||
            strcmp(p->host, q->host) != 0)
            return false;
    }
    return true;
}

/* The planner's plan in names, every action proposed; -1 when out of
 * memory. */
static int plan_from(struct executor *ex, const struct leader_snapshot *s,
                     const struct placement_plan *pp, struct exec_action **actions,
                     size_t **deps) {
    *actions = calloc(pp->n_actions ? pp->n_actions : 1, sizeof **actions);
    *deps = calloc(pp->n_deps ? pp->n_deps : 1, sizeof **deps);
    if (!*actions || !*deps) {
        free(*actions);
        free(*deps);
        return -1;
    }
    if (pp->n_deps)
        memcpy(*deps, pp->deps, pp->n_deps * sizeof **deps);
    for (size_t i = 0; i < pp->n_actions; i++) {
        const struct placement_action *pa = &pp->actions[i];
        assert(pa->host < s->snap.n_hosts && pa->dep_off + pa->n_deps <= pp->n_deps);
        assert(pa->kind != PLACEMENT_MIGRATE ||
               (pa->vm < s->snap.n_vms && pa->from < s->snap.n_hosts));
        struct exec_action *x = &(*actions)[i];
        struct executor_action *p = &x->pub;
        p->kind = pa->kind;
        p->state = EXECUTOR_PROPOSED;
        p->n_deps = pa->n_deps;
        p->deps = *deps + pa->dep_off;
        x->tag = ++ex->next_tag;
        snprintf(p->host, sizeof p->host, "%s", s->host_rec[pa->host]->name);
        if (pa->kind == PLACEMENT_MIGRATE) {
            snprintf(p->vm, sizeof p->vm, "%s", s->vm_rec[pa->vm]->name);
            snprintf(p->source, sizeof p->source, "%s", s->host_rec[pa->from]->name);
        }
        leader_snapshot_explain(s, pa->reason, p->reason, sizeof p->reason);
        if (ex->cfg.automation != CONFIG_AUTOMATION_AUTO)
            snprintf(p->note, sizeof p->note, "automation is advise: not executed");
    }
    return 0;
}

bool executor_plan_end(struct executor *ex, uint64_t ticket, const struct leader_snapshot *s,
                       int rc, const struct placement_plan *pp, uint64_t now, uint64_t wall) {
    ex->planning = false;
    if (ticket != ex->epoch || !ex->leading || now >= ex->lease_until) {
        leader_events_add(&ex->events, wall,
                          "plan discarded: the term or the lease it was begun under ended while "
                          "it was computed");
        return false;
    }
    if (rc != 0) {
        leader_events_add(&ex->events, wall, "planning failed: %s", pp->error);
        return false;
    }
    struct exec_action *next;
    size_t *deps;
    if (plan_from(ex, s, pp, &next, &deps) != 0) {
        leader_events_add(&ex->events, wall, "planning failed: out of memory");
        return false;
    }
    bool changed = !same_actions(ex, next, pp->n_actions);
    executor_plan_clear(ex);
    ex->actions = next;
    ex->n_actions = pp->n_actions;
    ex->deps = deps;
    ex->n_deps = pp->n_deps;
    ex->plan_at = wall;
    ex->plan_term = ex->term;
    size_t moves = 0;
    for (size_t i = 0; i < ex->n_actions; i++)
        moves += ex->actions[i].pub.kind == PLACEMENT_MIGRATE;
    leader_events_add(&ex->events, wall,
                      "plan (term %" PRIu64 ", policy %s, %zu hosts, %zu VMs): %zu action(s), %zu "
                      "migration(s)%s", ex->term, ex->cfg.policy, s->snap.n_hosts, s->snap.n_vms,
                      ex->n_actions, moves, changed || !ex->n_actions ? "" : ", as before");
    for (size_t i = 0; changed && i < ex->n_actions; i++) {
        char what[3 * COMMAND_NAME_MAX + COMMAND_VM_MAX];
        executor_describe(&ex->actions[i], what, sizeof what);
        leader_events_add(&ex->events, wall, "plan action %zu: %s: %s", i + 1, what,
                          ex->actions[i].pub.reason);
    }
    return true;
}
