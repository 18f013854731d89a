/* The leader at work, the I/O shell around the executor (src/leader/
 * executor.h): every round it feeds the executor the election's view, read
 * fresh, and the gossiped records, and sends the commands it emits, each
 * only after a fresh check, immediately before the send, that the lease
 * still covers it. It answers grant requests the same way: the lease is
 * read fresh for the decision and checked again before the grant leaves.
 *
 * The planner may take seconds on a large cluster (docs/placement.md);
 * heartbeats and lease upkeep may not wait for it. So it runs in a worker
 * thread, on a snapshot the job owns (records included), and signals an
 * eventfd the agent's loop polls; the executor keeps its result only if the
 * term and the lease it was begun under still hold. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"
#include "common/log.h"

struct plan_job {
    pthread_t thread;
    int efd;
    struct agent_members mb; /* what the snapshot points into */
    struct leader_snapshot snap;
    struct placement_policy policy;
    struct prng rng;
    struct placement_window window; /* the [schedule]'s, which policy points to */
    double now_s;
    uint64_t ticket;
    int rc;
    double seconds; /* the planner's run */
    struct placement_plan pp;
};

/* Plans take milliseconds on a few hosts, seconds on thousands
 * (docs/placement.md). */
static const double plan_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30};

int agent_leader_open(struct agent *a, char *err, size_t errlen) {
    struct leader_state *L = &a->leader;
    if (agent_policy_open(a, err, errlen) != 0)
        return -1;
    /* The planner takes its randomness (RS selection) from a seeded prng. */
    prng_seed(&L->rng, prng_next(&a->cluster.rng));
    struct executor_config c = {
        .automation = a->cfg.automation,
        .max_migrations = a->cfg.max_migrations,
        .migration_timeout_ms = a->cfg.migration_timeout_ms,
        .power_on_timeout_ms = a->cfg.power_on_timeout_ms,
        .plan_interval_ms = a->cfg.plan_interval_ms,
        .wake_cooldown_ms = (uint64_t)(L->policy.host_wake_cooldown_s * 1000),
        .idle_watts = a->cfg.power_idle_watts,
        .max_watts = a->cfg.power_max_watts,
    };
    snprintf(c.self, sizeof c.self, "%s", a->cfg.node_name);
    snprintf(c.policy, sizeof c.policy, "%s", a->cfg.policy);
    if (getrandom(&c.seed, sizeof c.seed, 0) != (ssize_t)sizeof c.seed)
        c.seed = prng_next(&a->cluster.rng);
    metrics_histogram_init(&L->plan_seconds, plan_bounds, sizeof plan_bounds / sizeof *plan_bounds);
    if (!(L->ex = executor_new(&c))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void agent_members_free(struct agent_members *mb) {
    for (size_t i = 0; i < mb->n; i++)
        protobuf_c_message_free_unpacked((ProtobufCMessage *)&mb->m[i].rec->base, NULL);
    free(mb->m);
    mb->m = NULL;
    mb->n = 0;
}

/* Every member with a record, and how gossip sees it. */
int agent_members_collect(struct agent *a, struct agent_members *mb) {
    const struct gossip *g = a->cluster.gossip;
    size_t count = gossip_member_count(g);
    mb->n = 0;
    mb->m = calloc(count ? count : 1, sizeof *mb->m);
    if (!mb->m)
        return -1;
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
        /* "Off", but its machine answers or its BMC says on (this leader's
         * probes, agent_offcheck.c): down, so the planner neither counts
         * on it nor wakes it. */
        if (l == LEADER_HOST_OFF && agent_offcheck_disproved(a, rec->name))
            l = LEADER_HOST_DOWN;
        mb->m[mb->n++] = (struct executor_member){rec, l, info.incarnation};
    }
    return 0;
}

static void job_free(struct plan_job *j) {
    placement_plan_free(&j->pp);
    leader_snapshot_free(&j->snap);
    agent_members_free(&j->mb);
    if (j->efd >= 0)
        close(j->efd);
    free(j);
}

/* Waits for a running plan and drops it (the agent is stopping). */
static void job_abandon(struct agent *a) {
    struct plan_job *j = a->leader.job;
    if (!j)
        return;
    pthread_join(j->thread, NULL);
    job_free(j);
    a->leader.job = NULL;
}

void agent_leader_close(struct agent *a) {
    job_abandon(a);
    executor_free(a->leader.ex);
    a->leader.ex = NULL;
    agent_policy_close(a);
}

static void *run_planner(void *arg) {
    struct plan_job *j = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    j->rc = placement_plan(&j->snap.snap, &j->policy, j->now_s, &j->rng, &j->pp);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    j->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t one = 1;
    /* The loop polls the eventfd; a write to it cannot fail short of a
     * counter overflow, which one write per job never reaches. */
    if (write(j->efd, &one, sizeof one) != (ssize_t)sizeof one)
        log_err("leader: planner: cannot signal the agent's loop: %s", strerror(errno));
    return NULL;
}

/* Begins a plan when one is due: the snapshot under the executor, the
 * planner in a thread. */
static void plan_start(struct agent *a, uint64_t now) {
    struct leader_state *L = &a->leader;
    struct plan_job *j = calloc(1, sizeof *j);
    if (!j || agent_members_collect(a, &j->mb) != 0) {
        free(j);
        log_err("leader: plan: out of memory");
        return;
    }
    j->efd = -1;
    placement_plan_init(&j->pp);
    uint64_t stamp = agent_stamp_ms(a);
    enum executor_plan_start st =
        executor_plan_begin(L->ex, j->mb.m, j->mb.n, now, stamp, &j->snap, &j->ticket);
    if (st != EXECUTOR_PLAN_STARTED) {
        if (st == EXECUTOR_PLAN_ERROR)
            log_err("leader: snapshot: out of memory");
        job_free(j);
        return;
    }
    j->policy = L->policy;
    /* The policy's windows are times of day: the wall clock, as it reads.
     * The planner's clock is compared with the records' stamps. */
    agent_policy_window(a, agent_wall_clock_ms(), &j->policy, &j->window);
    prng_seed(&j->rng, prng_next(&L->rng));
    j->now_s = (double)stamp / 1000;
    j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (j->efd < 0 || pthread_create(&j->thread, NULL, run_planner, j) != 0) {
        log_err("leader: cannot start the planner: %s", strerror(errno));
        executor_plan_end(L->ex, j->ticket, &j->snap, -1, &j->pp, now, stamp);
        job_free(j);
        return;
    }
    L->job = j;
}

int agent_leader_fd(const struct agent *a) { return a->leader.job ? a->leader.job->efd : -1; }

/* Writes the executor's new events to the log. */
static void log_events(struct agent *a) {
    struct leader_state *L = &a->leader;
    const struct leader_events *ev = executor_events(L->ex);
    uint64_t seq = L->logged_seq + 1 > leader_events_first(ev) ? L->logged_seq + 1
                                                               : leader_events_first(ev);
    for (; seq < ev->next_seq; seq++)
        log_info("event: %s", leader_events_get(ev, seq)->text);
    L->logged_seq = ev->next_seq - 1;
}

void agent_leader_plan_done(struct agent *a) {
    struct leader_state *L = &a->leader;
    struct plan_job *j = L->job;
    uint64_t count;
    if (!j || read(j->efd, &count, sizeof count) != (ssize_t)sizeof count)
        return;
    pthread_join(j->thread, NULL);
    L->job = NULL;
    L->plans++;
    metrics_observe(&L->plan_seconds, j->seconds);
    executor_plan_end(L->ex, j->ticket, &j->snap, j->rc, &j->pp, agent_clock_ms(),
                      agent_stamp_ms(a));
    job_free(j);
    log_events(a);
}

uint64_t agent_leader_deadline(const struct agent *a) {
    return executor_deadline(a->leader.ex);
}

/* The election's view, read fresh, into the executor. */
static void observe(struct agent *a) {
    struct executor_lease l;
    uint64_t until = leadership_lease_until(a, &l.term);
    l.leader = a->lead.leader;
    l.lease_until = until;
    executor_observe(a->leader.ex, &l, agent_clock_ms(), agent_stamp_ms(a));
}

/* Sends what the executor emitted, each only after a fresh check that the
 * lease covers the send. */
void agent_leader_send(struct agent *a) {
    struct executor *ex = a->leader.ex;
    struct executor_send s;
    while (executor_next(ex, &s)) {
        uint64_t term;
        uint64_t until = leadership_lease_until(a, &term);
        const char *why = NULL;
        if (term != s.cmd.term || !executor_may_send(until, agent_clock_ms()))
            why = "the lease ended before it left";
        else if (agent_command_issue(a, &s.cmd, s.address, s.local) != 0)
            why = "the transport could not queue it";
        if (why) {
            char what[COMMAND_VM_MAX + COMMAND_NAME_MAX + 32];
            command_describe(&s.cmd, what, sizeof what);
            log_warn("leader: command %s to %s (%s) not sent: %s", s.cmd.id, s.cmd.target, what,
                     why);
            executor_not_sent(ex, s.cmd.id, why, agent_stamp_ms(a));
        }
    }
}

void agent_leader_run(struct agent *a, uint64_t now) {
    struct leader_state *L = &a->leader;
    observe(a);
    /* Before anything is planned: a new leader takes over what it copied
     * of its predecessor's log and soft state. */
    agent_forward_takeover(a);
    bool step = now >= executor_deadline(L->ex);
    bool plan = !L->job && executor_plan_due(L->ex, now);
    if (step || plan) {
        struct agent_members mb;
        if (agent_members_collect(a, &mb) != 0) {
            log_err("leader: records: out of memory");
        } else {
            if (step && executor_step(L->ex, mb.m, mb.n, now, agent_stamp_ms(a)) != 0)
                log_err("leader: out of memory");
            agent_members_free(&mb);
            agent_leader_send(a);
        }
        if (plan)
            plan_start(a, now);
    }
    log_events(a);
}

void agent_leader_grant(struct agent *a, const struct grant_request *req, struct grant *out) {
    uint64_t term;
    uint64_t until = leadership_lease_until(a, &term);
    executor_grant(a->leader.ex, req, term, until, agent_clock_ms(), out);
    /* Checked again just before the grant leaves: a pause between the
     * decision and here is covered by the target's deadline, but a grant
     * known to be late is better not sent. */
    if (out->granted && !executor_may_send(leadership_lease_until(a, &term), agent_clock_ms())) {
        out->granted = false;
        out->valid_ms = 0;
        snprintf(out->reason, sizeof out->reason, "the lease ended before the grant left");
    }
}

void agent_leader_metrics(const struct agent *a, struct metrics *m) {
    const struct leader_state *L = &a->leader;
    metrics_counter(m, "nodectl_leader_plans_total", "Plans this host computed while leading.",
                    (double)L->plans);
    metrics_histogram(m, "nodectl_leader_plan_seconds", "How long the planner took for a plan.",
                      &L->plan_seconds);
    static const enum executor_action_state outcomes[] = {EXECUTOR_DISPATCHED, EXECUTOR_DONE,
                                                          EXECUTOR_FAILED, EXECUTOR_NOT_EXECUTED};
    metrics_family(m, "nodectl_leader_actions_total", "counter",
                   "Plan actions this host's executor dispatched or settled, by kind and outcome.");
    for (int k = 0; k < EXECUTOR_KINDS; k++)
        for (size_t o = 0; o < sizeof outcomes / sizeof *outcomes; o++)
            metrics_sample(m, "nodectl_leader_actions_total",
                           (const char *[]){"kind", executor_action_kind_name(k), "outcome",
                                            executor_action_state_name(outcomes[o]), NULL},
                           (double)executor_action_count(L->ex, k, outcomes[o]));
    double in_flight = 0, planned = 0;
    bool leading = executor_leading(L->ex);
    for (size_t i = 0, n = leading ? executor_plan_size(L->ex) : 0; i < n; i++) {
        const struct executor_action *x = executor_plan_action(L->ex, i);
        planned++;
        in_flight += x->kind == PLACEMENT_MIGRATE && x->state == EXECUTOR_DISPATCHED;
    }
    metrics_gauge(m, "nodectl_leader_plan_actions", "Actions in the current plan (leader only).",
                  planned);
    metrics_gauge(m, "nodectl_leader_migrations_in_flight",
                  "Migrations of the current plan dispatched and not settled (leader only).",
                  in_flight);
}
