/* The agent's shell, the leader's side (agent_leader.c): the executor fed
 * a fresh reading of the election and the gossiped records, its commands
 * each checked against the lease immediately before it leaves, the planner
 * in a worker that takes time while the loop goes on, and grants. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_agent.h"

static enum leader_liveness liveness(enum gossip_state s) {
    return s == GOSSIP_ALIVE || s == GOSSIP_SUSPECT ? LEADER_HOST_UP
           : s == GOSSIP_OFF                        ? LEADER_HOST_OFF
                                                    : LEADER_HOST_DOWN;
}

/* Every member with a record; `own` makes them the caller's copies (for
 * the worker thread), else they are borrowed from the cache and valid
 * until the next gossip input. The self entry is always a fresh record,
 * owned. *self_at says where it is. */
int simh_members_collect(struct sim_cluster *c, struct sim_host *h, bool own,
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
            r = simh_self_record(c, h);
            *self_at = k;
        } else if (own) {
            r = info.record_len ? nodectl__host_record__unpack(NULL, info.record_len, info.record)
                                : NULL;
        } else {
            r = simh_cached(h, &info);
        }
        if (!r)
            continue;
        m[k++] = (struct executor_member){r, liveness(info.state), info.incarnation};
    }
    *out = m;
    *n = k;
    return 0;
}

void simh_members_free(struct executor_member *m, size_t n, bool own, size_t self_at) {
    for (size_t k = 0; k < n; k++)
        if (own || k == self_at)
            protobuf_c_message_free_unpacked((ProtobufCMessage *)&m[k].rec->base, NULL);
    free(m);
}

static void observe(struct sim_cluster *c, struct sim_host *h) {
    char leader[COMMAND_NAME_MAX];
    struct executor_lease l = simh_lease_now(c, h, leader, sizeof leader);
    executor_observe(h->ex, &l, (uint64_t)simh_mono(c, h), simh_stamp(c, h));
}

/* The leader's round, as agent_leader_run does it: the election's view
 * read fresh, the executor's step when due, each command it emits checked
 * and sent (STEP_SEND_CHECK, STEP_SEND, at once unless a pause falls
 * between), then a plan begun if one is due. */
int simh_step_lead(struct sim_cluster *c, struct sim_host *h) {
    h->lead_due = false;
    observe(c, h);
    uint64_t now = (uint64_t)simh_mono(c, h);
    bool step = now >= executor_deadline(h->ex);
    bool plan = !h->plan.busy && executor_plan_due(h->ex, now);
    if (!step && !plan)
        return 0;
    if (step) {
        struct executor_member *m;
        size_t n, self_at;
        if (simh_members_collect(c, h, false, &m, &n, &self_at) != 0)
            return -1;
        int rc = executor_step(h->ex, m, n, now, simh_stamp(c, h));
        simh_members_free(m, n, false, self_at);
        if (rc != 0)
            return -1;
    }
    if (plan && simh_push(h, STEP_PLAN, NULL, 0, true) != 0)
        return -1;
    return simh_dispatch(c, h);
}

int simh_dispatch(struct sim_cluster *c, struct sim_host *h) {
    (void)c;
    /* Queued at the front, in order: they run before anything else. */
    struct send_step sends[64];
    size_t k = 0;
    bool more = false;
    while (!more && executor_next(h->ex, &sends[k].s))
        more = ++k == sizeof sends / sizeof sends[0];
    if (more && simh_push(h, STEP_LEAD, NULL, 0, true) != 0)
        return -1;
    while (k--)
        if (simh_push(h, STEP_SEND_CHECK, simh_copy(&sends[k], sizeof sends[k]), sizeof sends[k],
                      true) != 0)
            return -1;
    return 0;
}

/* How long the worker thread takes: the planner's work grows with the
 * cluster (docs/placement.md); a slow round is a fault's. */
static int64_t plan_time_us(struct sim_cluster *c, uint32_t i) {
    if (c->slow_plan_host == i) {
        c->slow_plan_host = UINT32_MAX;
        return c->slow_plan_us;
    }
    return 2000 + 50 * (int64_t)(c->o.hosts + c->o.vms) + (int64_t)prng_below(&c->rng, 5000);
}

void simh_plan_release(struct plan_job *p) {
    if (!p->busy)
        return;
    placement_plan_free(&p->pp);
    leader_snapshot_free(&p->snap);
    simh_members_free(p->m, p->n, true, SIZE_MAX);
    memset(p, 0, sizeof *p);
}

int simh_step_plan(struct sim_cluster *c, struct sim_host *h) {
    struct plan_job *p = &h->plan;
    if (p->busy || !executor_plan_due(h->ex, (uint64_t)simh_mono(c, h)))
        return 0;
    size_t self_at;
    if (simh_members_collect(c, h, true, &p->m, &p->n, &self_at) != 0)
        return -1;
    p->busy = true;
    placement_plan_init(&p->pp);
    enum executor_plan_start st = executor_plan_begin(h->ex, p->m, p->n, (uint64_t)simh_mono(c, h),
                                                      simh_stamp(c, h), &p->snap, &p->ticket);
    if (st != EXECUTOR_PLAN_STARTED) {
        simh_plan_release(p);
        return st == EXECUTOR_PLAN_ERROR ? -1 : 0;
    }
    /* The worker runs the planner; the loop goes on meanwhile. */
    p->rc =
        placement_plan(&p->snap.snap, &c->policy, (double)simh_stamp(c, h) / 1000, &h->rng, &p->pp);
    p->done_us = c->now_us + plan_time_us(c, h->i);
    return 0;
}

int simh_step_plan_done(struct sim_cluster *c, struct sim_host *h) {
    struct plan_job *p = &h->plan;
    bool kept = executor_plan_end(h->ex, p->ticket, &p->snap, p->rc, &p->pp,
                                  (uint64_t)simh_mono(c, h), simh_stamp(c, h));
    if (kept)
        sim_trace(c, "%s: plan of term %" PRIu64 ": %zu action(s)", h->name,
                  executor_plan_term(h->ex), executor_plan_size(h->ex));
    simh_plan_release(p);
    /* Dispatch now; a pause may fall between the plan and its dispatch. */
    return kept ? simh_push(h, STEP_LEAD, NULL, 0, false) : 0;
}

/* The hosts and VM a command is about, for the checks. */
void simh_command_objects(const struct sim_cluster *c, const struct command *cmd, uint32_t *host,
                          uint32_t *host2, uint32_t *vm) {
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
    } else if (cmd->kind == COMMAND_DEFINE) {
        uint32_t v;
        if (strncmp(cmd->define.name, "vm", 2) == 0 &&
            (v = (uint32_t)strtoul(cmd->define.name + 2, NULL, 10)) < c->hv.n_vms)
            *vm = v;
    }
}

int simh_step_send_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct send_step *st = s->p;
    char leader[COMMAND_NAME_MAX];
    struct executor_lease l = simh_lease_now(c, h, leader, sizeof leader);
    if (l.term != st->s.cmd.term || !executor_may_send(l.lease_until, (uint64_t)simh_mono(c, h))) {
        executor_not_sent(h->ex, st->s.cmd.id, "the lease does not cover the send",
                          simh_stamp(c, h));
        return 0;
    }
    s->p = NULL;
    return simh_push(h, STEP_SEND, st, sizeof *st, true);
}

int simh_step_send(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct send_step *st = s->p;
    uint32_t a, b, v;
    simh_command_objects(c, &st->s.cmd, &a, &b, &v);
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
        simh_deliver_local(c, h, &m);
        return 0;
    }
    uint32_t to = sim_host_index(c, st->s.address);
    if (to == UINT32_MAX) {
        executor_not_sent(h->ex, st->s.cmd.id, "no such host", simh_stamp(c, h));
        return 0;
    }
    simh_send_command(c, h->i, to, &m);
    return 0;
}

/* A grant request, at the issuer (agent_actions.c's grant_request): an
 * operator's command typed here is granted within its window, no lease
 * needed; the executor's only under the lease, read fresh. */
int simh_step_grant(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct grant_step *st = s->p;
    if (h->operators && issued_find(h->operators, st->req.id)) {
        issued_grant_operator(h->operators, &st->req, (uint64_t)simh_mono(c, h), OPERATOR_VALID_MS,
                              GRANT_ROOM_MS, &st->grant);
        s->p = NULL;
        return simh_push(h, STEP_GRANT_SEND, st, sizeof *st, true);
    }
    char leader[COMMAND_NAME_MAX];
    struct executor_lease l = simh_lease_now(c, h, leader, sizeof leader);
    executor_grant(h->ex, &st->req, l.term, l.lease_until, (uint64_t)simh_mono(c, h), &st->grant);
    /* Checked again just before it leaves (agent_leader_grant). */
    l = simh_lease_now(c, h, leader, sizeof leader);
    if (st->grant.granted && !executor_may_send(l.lease_until, (uint64_t)simh_mono(c, h))) {
        st->grant.granted = false;
        st->grant.valid_ms = 0;
        snprintf(st->grant.reason, sizeof st->grant.reason,
                 "the lease ended before the grant left");
    }
    s->p = NULL;
    return simh_push(h, STEP_GRANT_SEND, st, sizeof *st, true);
}

int simh_step_grant_send(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct grant_step *st = s->p;
    bool leader = !(h->operators && issued_find(h->operators, st->grant.id));
    if (st->grant.granted && leader) {
        c->grants++;
        uint32_t a = sim_host_index(c, st->grant.target);
        sim_check_acted(c, st->grant.term, a, UINT32_MAX, UINT32_MAX);
        sim_trace(c, "%s: grants %s to %s for %u ms (term %" PRIu64 ")", h->name, st->grant.id,
                  st->grant.target, st->grant.valid_ms, st->grant.term);
    }
    struct command_msg m = {.kind = COMMAND_MSG_GRANT, .grant = st->grant};
    if (st->to == h->i)
        simh_deliver_local(c, h, &m);
    else
        simh_send_command(c, h->i, st->to, &m);
    return 0;
}
