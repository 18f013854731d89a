/* The leader's executor (src/leader/executor.c) with a manual clock and
 * hand-made records: dispatch under the lease, grants, dependency order, the
 * migration limit, follow-up from the records, wakes and wakers, the
 * takeover wait, plans that outlive their lease, and the event log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "leader/executor.h"

#define T0 1000000u         /* monotonic ms at the start of every test */
#define WALL0 1700000000000u /* wall ms at the start */
#define LEASE 400u          /* what a fresh lease has left */

/* n1 (this host, a candidate) runs web and db; n2 takes migrations; n3 is
 * idle with an off command; n4 is off, woken by Wake-on-LAN on n1's
 * network; n5 is off with a BMC; n6 holds the IPMI credentials. */
enum { N1, N2, N3, N4, N5, N6, HOSTS };
static const char *const names[HOSTS] = {"n1", "n2", "n3", "n4", "n5", "n6"};

struct world {
    Nodectl__HostRecord rec[HOSTS];
    Nodectl__Hypervisor hv[HOSTS];
    Nodectl__Capacity cap[HOSTS];
    Nodectl__Usage use[HOSTS];
    Nodectl__Power pw[HOSTS];
    Nodectl__Vm vm[2];
    Nodectl__Vm *n1_vms[2];
    Nodectl__Migration mig[HOSTS][4];
    Nodectl__Migration *migs[HOSTS][4];
    char addr[HOSTS][32];
    struct executor_member m[HOSTS];
    uint64_t now, wall;
};

static void world_init(struct world *w) {
    memset(w, 0, sizeof *w);
    for (int i = 0; i < HOSTS; i++) {
        Nodectl__HostRecord *r = &w->rec[i];
        nodectl__host_record__init(r);
        nodectl__hypervisor__init(&w->hv[i]);
        nodectl__capacity__init(&w->cap[i]);
        nodectl__usage__init(&w->use[i]);
        nodectl__power__init(&w->pw[i]);
        r->name = (char *)names[i];
        snprintf(w->addr[i], sizeof w->addr[i], "127.0.0.1:%d", 7000 + i);
        r->address = w->addr[i];
        r->hypervisor = &w->hv[i];
        r->capacity = &w->cap[i];
        r->usage = &w->use[i];
        r->power = &w->pw[i];
        r->migration_uri = "qemu+tcp://host/system";
        w->hv[i].available = true;
        w->cap[i].cpus = 8;
        w->cap[i].cpu_mhz = 2000;
        w->cap[i].memory_kib = 16u << 20;
        w->use[i].cpu_percent = 10;
        w->pw[i].network = "10.0.0.0/24";
        w->pw[i].can_power_off = true;
        for (int k = 0; k < 4; k++) {
            nodectl__migration__init(&w->mig[i][k]);
            w->migs[i][k] = &w->mig[i][k];
        }
        r->migrations = w->migs[i];
        w->m[i] = (struct executor_member){r, LEADER_HOST_UP, 0};
    }
    w->rec[N1].candidate = true;
    w->pw[N1].can_power_off = false;
    for (int k = 0; k < 2; k++) {
        nodectl__vm__init(&w->vm[k]);
        w->vm[k].name = k ? "db" : "web";
        w->vm[k].state = NODECTL__VM_STATE__VM_STATE_RUNNING;
        w->vm[k].vcpus = 1;
        w->vm[k].memory_kib = 1u << 20;
        w->n1_vms[k] = &w->vm[k];
    }
    w->rec[N1].vms = w->n1_vms;
    w->rec[N1].n_vms = 2;
    w->m[N4].liveness = w->m[N5].liveness = LEADER_HOST_OFF;
    w->pw[N4].wake_mac = "52:54:00:00:00:04";
    w->pw[N4].wake_broadcast = "10.0.0.255:9";
    w->pw[N5].ipmi_address = "10.0.1.5";
    w->pw[N5].network = "10.0.5.0/24";
    w->pw[N6].ipmi_waker = true;
    w->now = T0;
    w->wall = WALL0;
}

/* A host reports command `id` (kind "" for a migration) in state `st`. */
static void report(struct world *w, int host, const char *id, const char *kind, const char *st,
                   const char *vm) {
    Nodectl__HostRecord *r = &w->rec[host];
    assert_true(r->n_migrations < 4);
    Nodectl__Migration *m = &w->mig[host][r->n_migrations++];
    m->id = (char *)id;
    m->kind = (char *)kind;
    m->state = (char *)st;
    m->vm = (char *)vm;
    m->ended_at_ms = strcmp(st, "running") ? w->wall : 0;
    m->term = 1;
}

static void advance(struct world *w, uint64_t ms) {
    w->now += ms;
    w->wall += ms;
}

static struct executor *new_executor(enum config_automation automation) {
    struct executor_config c = {.automation = automation,
                                .max_migrations = 1,
                                .migration_timeout_ms = 60000,
                                .power_on_timeout_ms = 120000,
                                .plan_interval_ms = 10000,
                                .wake_cooldown_ms = 3600000,
                                .idle_watts = 100,
                                .max_watts = 250,
                                .seed = 7};
    snprintf(c.self, sizeof c.self, "n1");
    snprintf(c.policy, sizeof c.policy, "default");
    struct executor *ex = executor_new(&c);
    assert_non_null(ex);
    return ex;
}

/* The election's view at w->now: this host leads `term` with `left` ms of
 * lease (0: no lease). */
static void observe(struct executor *ex, const struct world *w, uint64_t term, uint64_t left) {
    struct executor_lease l = {term, left ? "n1" : "n2", left ? w->now + left : 0};
    executor_observe(ex, &l, w->now, w->wall);
}

/* A fresh world, and an executor leading it in term 5. */
static struct executor *leading(struct world *w, enum config_automation automation) {
    world_init(w);
    struct executor *ex = new_executor(automation);
    observe(ex, w, 5, LEASE);
    return ex;
}

/* `ms` later, under the lease of term 5: one step. */
static void tick(struct executor *ex, struct world *w, uint64_t ms) {
    advance(w, ms);
    observe(ex, w, 5, LEASE);
    assert_int_equal(executor_step(ex, w->m, HOSTS, w->now, w->wall), 0);
}

/* One planned action, in snapshot indices (hosts in member order; VMs
 * web = 0 and db = 1, n1's running VMs). */
struct step {
    enum placement_action_kind kind;
    uint32_t vm, from, host;
    size_t dep; /* 1-based index of the action it waits for; 0: none */
};

/* Plans `steps` as if the planner had proposed them; true when kept. */
static bool plan(struct executor *ex, struct world *w, const struct step *steps, size_t n) {
    struct leader_snapshot s;
    uint64_t ticket;
    assert_int_equal(executor_plan_begin(ex, w->m, HOSTS, w->now, w->wall, &s, &ticket),
                     EXECUTOR_PLAN_STARTED);
    struct placement_plan pp;
    placement_plan_init(&pp);
    struct placement_action a[8];
    size_t deps[8];
    memset(a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        a[i] = (struct placement_action){.kind = steps[i].kind, .vm = steps[i].vm,
                                         .from = steps[i].from, .host = steps[i].host,
                                         .dep_off = pp.n_deps};
        snprintf(a[i].reason, sizeof a[i].reason, "test step %zu", i + 1);
        if (steps[i].dep) {
            deps[pp.n_deps++] = steps[i].dep - 1;
            a[i].n_deps = 1;
        }
    }
    pp.actions = a;
    pp.n_actions = n;
    pp.deps = deps;
    bool kept = executor_plan_end(ex, ticket, &s, 0, &pp, w->now, w->wall);
    leader_snapshot_free(&s);
    return kept;
}

/* Every command queued now, at most `max`. */
static size_t take(struct executor *ex, struct executor_send *out, size_t max) {
    size_t n = 0;
    while (n < max && executor_next(ex, &out[n]))
        n++;
    struct executor_send extra;
    assert_false(executor_next(ex, &extra));
    return n;
}

static struct grant ask(struct executor *ex, const struct executor_send *s, uint64_t term,
                        uint64_t lease_until, uint64_t now) {
    struct grant_request req = {.term = s->cmd.term, .nonce = 99};
    snprintf(req.id, sizeof req.id, "%s", s->cmd.id);
    snprintf(req.target, sizeof req.target, "%s", s->cmd.target);
    struct grant g;
    executor_grant(ex, &req, term, lease_until, now, &g);
    assert_string_equal(g.id, s->cmd.id);
    assert_int_equal(g.nonce, 99);
    return g;
}

static bool has_event(const struct executor *ex, const char *needle) {
    const struct leader_events *ev = executor_events(ex);
    for (uint64_t s = leader_events_first(ev); s < ev->next_seq; s++)
        if (strstr(leader_events_get(ev, s)->text, needle))
            return true;
    return false;
}

static const struct step power_off_n3[] = {{PLACEMENT_POWER_OFF, 0, 0, N3, 0}};

/* Defect: a leader paused between its decision and the target's request
 * (SIGSTOP, a long plan, swap) must not let its command act. The grant is
 * decided on a fresh reading: a lease that ended while the leader was
 * paused grants nothing, whatever the leader decided before. */
static void a_paused_leader_grants_nothing(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    assert_true(plan(ex, &w, power_off_n3, 1));
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send s[4];
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_POWER_OFF);
    assert_string_equal(s[0].cmd.target, "n3");
    assert_string_equal(s[0].cmd.issuer, "n1");
    assert_int_equal(s[0].cmd.term, 5);
    assert_string_equal(s[0].address, "127.0.0.1:7002");
    assert_false(s[0].local);
    uint64_t lease_until = w.now + LEASE;
    /* Paused for a second: the lease it held ended meanwhile. */
    advance(&w, 1000);
    struct grant g = ask(ex, &s[0], 5, lease_until, w.now);
    assert_false(g.granted);
    assert_non_null(strstr(g.reason, "holds no lease"));
    /* Nor is it granted once another leader is elected (the executor has
     * seen the new term): refused, never granted later. */
    observe(ex, &w, 6, 0);
    g = ask(ex, &s[0], 6, 0, w.now);
    assert_false(g.granted);
    executor_free(ex);
    (void)state;
}

/* Grants: once, to the command's target, in its term, under a lease that
 * leaves room; valid for what remains of the lease less the room. */
static void grants_are_given_once_to_the_target_under_the_lease(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    assert_true(plan(ex, &w, power_off_n3, 1));
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send s[1];
    assert_int_equal(take(ex, s, 1), 1);
    advance(&w, 10);
    static const struct {
        const char *target;
        uint64_t req_term, term;
        uint64_t left; /* of the lease at the request */
        const char *id; /* NULL: the command's */
        bool granted;
        const char *reason;
    } cases[] = {
        {"n2", 5, 5, 300, NULL, false, "issued to n3, not to n2"},
        {"n3", 4, 5, 300, NULL, false, "leads no more in term 4"},
        {"n3", 5, 6, 300, NULL, false, "leads no more in term 5"},
        {"n3", 5, 5, EXECUTOR_GRANT_ROOM_MS + EXECUTOR_GRANT_MIN_MS - 1, NULL, false,
         "holds no lease"},
        {"n3", 5, 5, 300, "forged-id", false, "not a command issued here"},
        {"n3", 5, 5, 300, NULL, true, ""},
        {"n3", 5, 5, 300, NULL, false, "granted once already"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct grant_request req = {.term = cases[i].req_term, .nonce = i + 1};
        snprintf(req.id, sizeof req.id, "%s", cases[i].id ? cases[i].id : s[0].cmd.id);
        snprintf(req.target, sizeof req.target, "%s", cases[i].target);
        struct grant g;
        executor_grant(ex, &req, cases[i].term, w.now + cases[i].left, w.now, &g);
        assert_int_equal(g.granted, cases[i].granted);
        assert_int_equal(g.nonce, i + 1);
        if (cases[i].granted)
            assert_int_equal(g.valid_ms, 300 - EXECUTOR_GRANT_ROOM_MS);
        else if (!strstr(g.reason, cases[i].reason))
            fail_msg("case %zu: reason '%s', expected '%s'", i, g.reason, cases[i].reason);
    }
    executor_free(ex);
    (void)state;
}

/* Nothing is dispatched unless the lease covers the send; a lease that
 * returns in the same term dispatches the same plan. */
static void nothing_is_dispatched_without_the_lease(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    assert_true(plan(ex, &w, power_off_n3, 1));
    observe(ex, &w, 5, EXECUTOR_SEND_ROOM_MS); /* ends within the room */
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send s[1];
    assert_int_equal(take(ex, s, 1), 0);
    assert_false(executor_may_send(w.now + EXECUTOR_SEND_ROOM_MS, w.now));
    assert_true(executor_may_send(w.now + EXECUTOR_SEND_ROOM_MS + 1, w.now));
    tick(ex, &w, 300);
    assert_int_equal(take(ex, s, 1), 1);
    /* A send the caller's fresh check stopped fails the action, and its
     * command is never granted. */
    executor_not_sent(ex, s[0].cmd.id, "the lease ended before the send", w.wall);
    assert_int_equal(executor_plan_action(ex, 0)->state, EXECUTOR_FAILED);
    assert_false(ask(ex, &s[0], 5, w.now + LEASE, w.now).granted);
    assert_true(has_event(ex, "not sent: the lease ended before the send"));
    executor_free(ex);
    (void)state;
}

/* A plan computed while the term or the lease ended is discarded. */
static void a_plan_that_outlives_its_lease_is_discarded(void **state) {
    static const struct {
        uint64_t term_after, left_after; /* the election's view when the plan ends */
        bool kept;
    } cases[] = {{5, LEASE, true}, {6, LEASE, false}, {5, 0, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct world w;
        struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
        struct leader_snapshot s;
        uint64_t ticket;
        assert_true(executor_plan_due(ex, w.now));
        assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &s, &ticket),
                         EXECUTOR_PLAN_STARTED);
        assert_false(executor_plan_due(ex, w.now)); /* one at a time */
        advance(&w, 5000); /* a long plan */
        observe(ex, &w, cases[i].term_after, cases[i].left_after);
        struct placement_plan pp;
        placement_plan_init(&pp);
        assert_int_equal(executor_plan_end(ex, ticket, &s, 0, &pp, w.now, w.wall),
                         cases[i].kept);
        assert_int_equal(has_event(ex, "plan discarded"), !cases[i].kept);
        leader_snapshot_free(&s);
        executor_free(ex);
    }
    (void)state;
}

/* Dependency order: the migration onto a woken host waits for its
 * power-on; one whose dependency failed is not executed. */
static void actions_start_in_dependency_order(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    static const struct step steps[] = {{PLACEMENT_POWER_ON, 0, 0, N4, 0},
                                        {PLACEMENT_MIGRATE, 0, N1, N4, 1}};
    assert_true(plan(ex, &w, steps, 2));
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send s[2];
    assert_int_equal(take(ex, s, 2), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_WAKE);
    /* The waker is this host: it is on n4's network (no extra hop). */
    assert_string_equal(s[0].cmd.target, "n1");
    assert_true(s[0].local);
    assert_string_equal(s[0].cmd.wake.mac, "52:54:00:00:00:04");
    assert_string_equal(s[0].cmd.wake.broadcast, "10.0.0.255:9");
    tick(ex, &w, 1000);
    assert_int_equal(take(ex, s, 2), 0); /* n4 not back yet */
    w.m[N4].liveness = LEADER_HOST_UP;
    tick(ex, &w, 1000);
    assert_int_equal(take(ex, s, 2), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_MIGRATE);
    assert_string_equal(s[0].cmd.target, "n1");
    assert_string_equal(s[0].cmd.migrate.vm, "web");
    assert_string_equal(s[0].cmd.migrate.destination, "n4");
    assert_int_equal(executor_plan_action(ex, 0)->state, EXECUTOR_DONE);

    /* The same plan with n4 failing to wake: the migration is not
     * executed. */
    executor_free(ex);
    ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    assert_true(plan(ex, &w, steps, 2));
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_int_equal(take(ex, s, 2), 1);
    report(&w, N1, s[0].cmd.id, "wake", "failed", "n4");
    tick(ex, &w, 300);
    assert_int_equal(executor_plan_action(ex, 0)->state, EXECUTOR_FAILED);
    assert_int_equal(executor_plan_action(ex, 1)->state, EXECUTOR_NOT_EXECUTED);
    assert_true(has_event(ex, "action 2 not executed"));
    executor_free(ex);
    (void)state;
}

/* max_migrations counts migrations in flight that this leader did not
 * send (a predecessor's), not only its own. */
static void the_migration_limit_counts_foreign_migrations(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    static const struct step steps[] = {{PLACEMENT_MIGRATE, 0, N1, N2, 0},
                                        {PLACEMENT_MIGRATE, 1, N1, N3, 0}};
    assert_true(plan(ex, &w, steps, 2));
    report(&w, N6, "old-term-move", "", "running", "other");
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send s[2];
    assert_int_equal(take(ex, s, 2), 0); /* the limit of 1 is taken */
    w.mig[N6][0].state = "succeeded";
    tick(ex, &w, 300);
    assert_int_equal(take(ex, s, 2), 1);
    assert_string_equal(s[0].cmd.migrate.vm, "web");
    /* Its own counts too: db waits until web's move ended. */
    report(&w, N1, s[0].cmd.id, "", "running", "web");
    tick(ex, &w, 300);
    assert_int_equal(take(ex, s, 2), 0);
    assert_non_null(strstr(executor_plan_action(ex, 0)->note, "running"));
    w.mig[N1][0].state = "succeeded";
    tick(ex, &w, 300);
    assert_int_equal(take(ex, s, 2), 1);
    assert_string_equal(s[0].cmd.migrate.vm, "db");
    assert_int_equal(executor_plan_action(ex, 0)->state, EXECUTOR_DONE);
    executor_free(ex);
    (void)state;
}

/* Follow-up from the records, per kind and report state. */
static void outcomes_are_followed_from_the_records(void **state) {
    static const struct {
        enum placement_action_kind kind;
        int reporter;
        const char *kind_word, *state; /* NULL: no report */
        enum leader_liveness host_after;
        uint64_t after_ms;
        enum executor_action_state expect;
        const char *note;
    } cases[] = {
        {PLACEMENT_MIGRATE, N1, "", "running", LEADER_HOST_UP, 300, EXECUTOR_DISPATCHED,
         "running: 0%"},
        {PLACEMENT_MIGRATE, N1, "", "succeeded", LEADER_HOST_UP, 300, EXECUTOR_DONE,
         "succeeded"},
        {PLACEMENT_MIGRATE, N1, "", "refused", LEADER_HOST_UP, 300, EXECUTOR_FAILED, "refused"},
        {PLACEMENT_MIGRATE, N1, "", NULL, LEADER_HOST_UP, 100000, EXECUTOR_FAILED,
         "no outcome from n1 before the deadline"},
        {PLACEMENT_POWER_OFF, N3, "power-off", "running", LEADER_HOST_OFF, 300, EXECUTOR_DONE,
         "off after"},
        {PLACEMENT_POWER_OFF, N3, "power-off", "refused", LEADER_HOST_UP, 300, EXECUTOR_FAILED,
         "refused: "},
        {PLACEMENT_POWER_OFF, N3, "power-off", NULL, LEADER_HOST_UP, 200000, EXECUTOR_FAILED,
         "did not turn off before the deadline"},
        {PLACEMENT_POWER_ON, N1, "wake", NULL, LEADER_HOST_UP, 300, EXECUTOR_DONE,
         "alive again after"},
        {PLACEMENT_POWER_ON, N1, "wake", "refused", LEADER_HOST_OFF, 300, EXECUTOR_FAILED,
         "n1 could not send the magic packet"},
        {PLACEMENT_POWER_ON, N1, "wake", "succeeded", LEADER_HOST_OFF, 130000, EXECUTOR_FAILED,
         "not back within 120 s: marked failed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct world w;
        struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
        int host = cases[i].kind == PLACEMENT_MIGRATE ? N2
                   : cases[i].kind == PLACEMENT_POWER_OFF ? N3 : N4;
        struct step st = {cases[i].kind, 0, N1, (uint32_t)host, 0};
        assert_true(plan(ex, &w, &st, 1));
        assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
        struct executor_send s[1];
        assert_int_equal(take(ex, s, 1), 1);
        if (cases[i].state)
            report(&w, cases[i].reporter, s[0].cmd.id, cases[i].kind_word, cases[i].state, "web");
        w.m[host].liveness = cases[i].host_after;
        tick(ex, &w, cases[i].after_ms);
        const struct executor_action *a = executor_plan_action(ex, 0);
        if (a->state != cases[i].expect || !strstr(a->note, cases[i].note))
            fail_msg("case %zu: %s '%s'", i, executor_action_state_name(a->state), a->note);
        /* An action that ended has its command refused from then on. */
        if (a->state != EXECUTOR_DISPATCHED)
            assert_false(ask(ex, &s[0], 5, w.now + LEASE, w.now).granted);
        executor_free(ex);
    }
    (void)state;
}

/* Wakers: a host with a BMC is powered on through it by a host holding
 * the IPMI credentials; one without, by a live host on its network. A
 * wake is asked again while the host is not back; a host not back within
 * power_on_timeout is failed in the next snapshot, until it is seen alive. */
static void wakes_are_repeated_and_a_host_that_stays_off_is_failed(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    static const struct step steps[] = {{PLACEMENT_POWER_ON, 0, 0, N5, 0},
                                        {PLACEMENT_POWER_ON, 0, 0, N4, 0}};
    w.pw[N1].network = "10.0.9.0/24"; /* n1 cannot broadcast on n4's network: n2 can */
    assert_true(plan(ex, &w, steps, 2));
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send s[2];
    assert_int_equal(take(ex, s, 2), 2);
    assert_string_equal(s[0].cmd.target, "n6");
    assert_string_equal(s[0].cmd.wake.ipmi_address, "10.0.1.5");
    assert_string_equal(s[0].cmd.wake.mac, "");
    assert_true(executor_plan_action(ex, 0)->by_ipmi);
    assert_string_equal(s[1].cmd.target, "n2");
    assert_string_equal(s[1].cmd.wake.mac, "52:54:00:00:00:04");
    assert_true(has_event(ex, "IPMI power on through its BMC from n6"));
    assert_true(has_event(ex, "magic packet from n2"));
    /* 5 s later: the magic packet is asked for again; the IPMI request
     * only once its ipmitool has finished. */
    report(&w, N6, s[0].cmd.id, "wake", "running", "n5");
    report(&w, N2, s[1].cmd.id, "wake", "succeeded", "n4");
    tick(ex, &w, 5000);
    struct executor_send r[2];
    assert_int_equal(take(ex, r, 2), 1);
    assert_string_equal(r[0].cmd.target, "n2");
    assert_string_not_equal(r[0].cmd.id, s[1].cmd.id);
    assert_string_equal(executor_plan_action(ex, 1)->command_id, r[0].cmd.id);
    /* Both ids are grantable while the wake is under way. */
    assert_true(ask(ex, &s[1], 5, w.now + LEASE, w.now).granted);
    assert_true(ask(ex, &r[0], 5, w.now + LEASE, w.now).granted);
    /* A repeat the caller did not send: the first request is followed. */
    tick(ex, &w, 5000);
    assert_int_equal(take(ex, r, 2), 1);
    executor_not_sent(ex, r[0].cmd.id, "transport full", w.wall);
    assert_int_equal(executor_plan_action(ex, 1)->state, EXECUTOR_DISPATCHED);
    assert_string_not_equal(executor_plan_action(ex, 1)->command_id, r[0].cmd.id);
    /* Not back within power_on_timeout: failed, and FAILED for the planner. */
    w.mig[N6][0].state = "succeeded";
    tick(ex, &w, 120000);
    assert_int_equal(executor_plan_action(ex, 1)->state, EXECUTOR_FAILED);
    struct leader_snapshot snap;
    uint64_t ticket;
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &snap, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_int_equal(snap.snap.hosts[N4].flags & PLACEMENT_HOST_FAILED, PLACEMENT_HOST_FAILED);
    leader_snapshot_free(&snap);
    /* Seen alive again: no longer failed. */
    w.m[N4].liveness = LEADER_HOST_UP;
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &snap, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_int_equal(snap.snap.hosts[N4].flags & PLACEMENT_HOST_FAILED, 0);
    assert_true(has_event(ex, "host n4, marked failed when it did not come back, is alive again"));
    leader_snapshot_free(&snap);
    executor_free(ex);
    (void)state;
}

/* Takeover: in auto, no plan while a migration this leader did not send
 * runs; advise plans anyway (it sends nothing). */
static void a_new_leader_waits_for_migrations_in_flight(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    report(&w, N2, "c-old", "", "running", "web");
    struct leader_snapshot s;
    uint64_t ticket;
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &s, &ticket),
                     EXECUTOR_PLAN_WAIT);
    assert_non_null(strstr(executor_note(ex), "waiting for 1 migration(s) already in flight "
                                              "(e.g. c-old of web"));
    assert_false(executor_plan_due(ex, w.now));
    advance(&w, 250);
    observe(ex, &w, 5, LEASE);
    assert_true(executor_plan_due(ex, w.now)); /* asked again at the next tick */
    w.mig[N2][0].state = "succeeded";
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &s, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_string_equal(executor_note(ex), "");
    leader_snapshot_free(&s);
    executor_free(ex);

    ex = new_executor(CONFIG_AUTOMATION_ADVISE);
    w.mig[N2][0].state = "running";
    observe(ex, &w, 5, LEASE);
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &s, &ticket),
                     EXECUTOR_PLAN_STARTED);
    leader_snapshot_free(&s);
    executor_free(ex);
    (void)state;
}

/* A failed power-off is told once and keeps the host on for the wake
 * cool-down; advise plans but sends nothing. */
static void a_failed_power_off_is_told_once_and_keeps_the_host_on(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_ADVISE);
    report(&w, N3, "off-1", "power-off", "failed", "n3");
    w.mig[N3][0].error = "the off command exited with status 3";
    assert_true(plan(ex, &w, power_off_n3, 1));
    assert_non_null(strstr(executor_plan_action(ex, 0)->note, "automation is advise"));
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send s[1];
    assert_int_equal(take(ex, s, 1), 0);
    struct leader_snapshot snap;
    uint64_t ticket;
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &snap, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_int_equal(snap.snap.hosts[N3].flags & PLACEMENT_HOST_KEEP_ON, PLACEMENT_HOST_KEEP_ON);
    leader_snapshot_free(&snap);
    const struct leader_events *ev = executor_events(ex);
    size_t told = 0;
    for (uint64_t q = leader_events_first(ev); q < ev->next_seq; q++)
        told += strstr(leader_events_get(ev, q)->text,
                       "power-off n3 failed: the off command exited with status 3") != NULL;
    assert_int_equal(told, 1);
    /* After the cool-down it may be powered off again. */
    advance(&w, 3600001);
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &snap, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_int_equal(snap.snap.hosts[N3].flags & PLACEMENT_HOST_KEEP_ON, 0);
    leader_snapshot_free(&snap);
    executor_free(ex);
    (void)state;
}

/* The event log keeps the newest LEADER_EVENTS_MAX, numbered on. */
static void the_event_log_is_a_bounded_ring(void **state) {
    struct leader_events ev;
    leader_events_init(&ev);
    assert_int_equal(leader_events_first(&ev), 1);
    assert_null(leader_events_get(&ev, 1));
    for (int i = 1; i <= LEADER_EVENTS_MAX + 10; i++)
        leader_events_add(&ev, (uint64_t)i, "event %d", i);
    assert_int_equal(leader_events_first(&ev), 11);
    assert_null(leader_events_get(&ev, 10));
    assert_string_equal(leader_events_get(&ev, 11)->text, "event 11");
    assert_int_equal(leader_events_get(&ev, LEADER_EVENTS_MAX + 10)->at_ms,
                     LEADER_EVENTS_MAX + 10);
    assert_null(leader_events_get(&ev, LEADER_EVENTS_MAX + 11));
    (void)state;
}

/* Terms, leaders and the lease as the events tell them; a new term forgets
 * the plan. */
static void elections_are_told_and_a_new_term_starts_afresh(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    assert_true(executor_leading(ex));
    assert_true(has_event(ex, "term 5: n1"));
    assert_true(has_event(ex, "this host leads (term 5): automation auto, policy default"));
    assert_true(plan(ex, &w, power_off_n3, 1));
    assert_int_equal(executor_plan_size(ex), 1);
    assert_int_equal(executor_plan_term(ex), 5);
    assert_int_equal(executor_plan_at(ex), w.wall);
    observe(ex, &w, 5, 0);
    assert_false(executor_leading(ex));
    assert_true(has_event(ex, "lease lost (term 5)"));
    assert_int_equal(executor_deadline(ex), UINT64_MAX);
    observe(ex, &w, 7, 0);
    assert_true(has_event(ex, "term 7: n2"));
    assert_int_equal(executor_plan_size(ex), 0);
    executor_free(ex);
    (void)state;
}

/* A new leader takes over what it copied of its predecessor: the log,
 * then what it logged itself since, and the hosts it woke. */
static void a_takeover_carries_the_log_and_the_woken_hosts(void **state) {
    struct world w;
    world_init(&w);
    struct leader_events prev;
    leader_events_init(&prev);
    leader_events_add(&prev, w.wall - 300, "plan (term 4, policy default, 4 hosts, 2 VMs)");
    leader_events_add(&prev, w.wall - 200, "action 1 dispatched: power-on n4");
    leader_events_add(&prev, w.wall - 100, "create: web-3 on n2");
    struct executor_woken woken[2] = {{"n4", w.wall - 200, true}, {"n3", w.wall - 5000, false}};
    struct executor *ex = new_executor(CONFIG_AUTOMATION_AUTO);
    observe(ex, &w, 5, LEASE);
    struct executor_takeover_from from = {"n2", &prev, woken, 2};
    executor_takeover(ex, &from, w.wall);
    const struct leader_events *ev = executor_events(ex);
    uint64_t first = leader_events_first(ev);
    assert_string_equal(leader_events_get(ev, first)->text, prev.ring[1].text);
    assert_int_equal(leader_events_get(ev, first)->at_ms, w.wall - 300);
    assert_string_equal(leader_events_get(ev, first + 2)->text, "create: web-3 on n2");
    assert_true(has_event(ex, "this host leads (term 5)"));
    assert_true(has_event(ex, "took over from n2: 3 event(s) of its log and 2 woken host(s) "
                              "carried over"));
    struct executor_woken list[4];
    assert_int_equal(executor_woken_list(ex, list, 4), 2);
    assert_string_equal(list[0].name, "n4"); /* newest first */
    assert_true(list[0].failed);
    assert_int_equal(list[0].at_wall, w.wall - 200);
    assert_string_equal(list[1].name, "n3");
    executor_free(ex);
    (void)state;
}

/* A command outside the plan (create's define) leaves only under the
 * lease and is granted once, to its target. */
static void a_define_is_issued_under_the_lease_and_granted_once(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_ADVISE);
    struct command cmd = {.kind = COMMAND_DEFINE};
    snprintf(cmd.define.name, sizeof cmd.define.name, "web-3");
    cmd.define.xmlz_len = 1;
    assert_true(executor_issue(ex, &cmd, "n2", "127.0.0.1:7001", false, w.now));
    struct executor_send s;
    assert_true(executor_next(ex, &s));
    assert_int_equal(s.cmd.kind, COMMAND_DEFINE);
    assert_int_equal(s.cmd.term, 5);
    assert_string_equal(s.cmd.target, "n2");
    assert_string_equal(s.cmd.issuer, "n1");
    assert_string_equal(s.cmd.id, cmd.id);
    struct grant_request req = {.term = 5, .nonce = 1};
    snprintf(req.id, sizeof req.id, "%s", cmd.id);
    snprintf(req.target, sizeof req.target, "n2");
    struct grant g;
    executor_grant(ex, &req, 5, w.now + 300, w.now, &g);
    assert_true(g.granted);
    executor_grant(ex, &req, 5, w.now + 300, w.now, &g);
    assert_false(g.granted);
    observe(ex, &w, 5, 0);
    assert_false(executor_issue(ex, &cmd, "n2", "127.0.0.1:7001", false, w.now));
    executor_free(ex);
    (void)state;
}

/* nodectl create when only a host that is off can take the VM: the leader
 * wakes it (Wake-on-LAN from a host on its network, or its BMC) and sends
 * the define, under the id the CLI follows, only once the host is alive; a
 * host that does not come back within power_on_timeout ends the create
 * with the reason in the log and no define leaves; a new term drops what
 * still waits. */
static void a_create_wakes_its_host_then_defines_or_gives_up(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_ADVISE);
    struct command cmd = {.kind = COMMAND_DEFINE};
    snprintf(cmd.define.name, sizeof cmd.define.name, "web-3");
    cmd.define.xmlz_len = 1;
    char why[160];
    assert_true(executor_create_after_wake(ex, &cmd, "n4", w.now, w.wall, why, sizeof why));
    assert_string_not_equal(cmd.id, "");
    struct command again = cmd;
    again.id[0] = '\0';
    assert_false(executor_create_after_wake(ex, &again, "n4", w.now, w.wall, why, sizeof why));
    assert_non_null(strstr(why, "a create of web-3 already waits for n4"));
    tick(ex, &w, 250);
    struct executor_send s[4];
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_WAKE);
    assert_string_equal(s[0].cmd.target, "n1");
    assert_string_equal(s[0].cmd.wake.mac, "52:54:00:00:00:04");
    /* Still off a second later: nothing else leaves. */
    tick(ex, &w, 1000);
    assert_int_equal(take(ex, s, 4), 0);
    w.m[N4].liveness = LEADER_HOST_UP;
    tick(ex, &w, 1000);
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_DEFINE);
    assert_string_equal(s[0].cmd.id, cmd.id);
    assert_string_equal(s[0].cmd.target, "n4");
    assert_string_equal(s[0].cmd.define.name, "web-3");
    assert_int_equal(s[0].cmd.term, 5);
    assert_true(ask(ex, &s[0], 5, w.now + LEASE, w.now).granted);
    assert_true(has_event(ex, "create: web-3 sent to n4"));
    /* Until n4 reports the define, no plan may power it off. */
    struct leader_snapshot snap;
    uint64_t ticket;
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &snap, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_true(snap.snap.hosts[N4].flags & PLACEMENT_HOST_KEEP_ON);
    leader_snapshot_free(&snap);
    /* Not reported 2 s later: sent again, the same id, granted still once. */
    tick(ex, &w, 2000);
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_DEFINE);
    assert_string_equal(s[0].cmd.id, cmd.id);
    assert_false(ask(ex, &s[0], 5, w.now + LEASE, w.now).granted);
    report(&w, N4, cmd.id, "define", "succeeded", "web-3");
    tick(ex, &w, 2000);
    assert_int_equal(take(ex, s, 4), 0);
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &snap, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_false(snap.snap.hosts[N4].flags & PLACEMENT_HOST_KEEP_ON);
    leader_snapshot_free(&snap);
    /* n5 through its BMC (n6 holds the credentials), never back. */
    struct command db = {.kind = COMMAND_DEFINE};
    snprintf(db.define.name, sizeof db.define.name, "db-2");
    assert_true(executor_create_after_wake(ex, &db, "n5", w.now, w.wall, why, sizeof why));
    tick(ex, &w, 250);
    assert_int_equal(take(ex, s, 4), 1);
    assert_string_equal(s[0].cmd.target, "n6");
    assert_string_equal(s[0].cmd.wake.ipmi_address, "10.0.1.5");
    report(&w, N6, s[0].cmd.id, "wake", "succeeded", "n5");
    for (int i = 0; i < 25; i++) {
        tick(ex, &w, 5000);
        while (executor_next(ex, &s[0]))
            assert_int_equal(s[0].cmd.kind, COMMAND_WAKE);
    }
    char needle[96];
    snprintf(needle, sizeof needle, "create: db-2 not placed on n5 (command %s): not back", db.id);
    assert_true(has_event(ex, needle));
    tick(ex, &w, 5000);
    assert_false(executor_next(ex, &s[0]));
    /* The lease lost before the wake left, regained in a new term: the
     * wake and the define go in that term; without a lease for
     * power_on_timeout, the create ends. */
    struct command late = {.kind = COMMAND_DEFINE};
    snprintf(late.define.name, sizeof late.define.name, "late");
    w.m[N4].liveness = LEADER_HOST_OFF;
    assert_true(executor_create_after_wake(ex, &late, "n4", w.now, w.wall, why, sizeof why));
    observe(ex, &w, 5, 0);
    advance(&w, 1000);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_false(executor_next(ex, &s[0]));
    advance(&w, 1000);
    observe(ex, &w, 6, LEASE);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_WAKE);
    assert_int_equal(s[0].cmd.term, 6);
    w.m[N4].liveness = LEADER_HOST_UP;
    advance(&w, 250);
    observe(ex, &w, 6, LEASE);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_DEFINE);
    assert_string_equal(s[0].cmd.id, late.id);
    assert_int_equal(s[0].cmd.term, 6);
    /* Down again before it reported the define: given up, with why. */
    w.m[N4].liveness = LEADER_HOST_OFF;
    advance(&w, 250);
    observe(ex, &w, 6, LEASE);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_true(has_event(ex, "create: late not placed on n4"));
    assert_true(has_event(ex, "its host went down before it reported the define"));
    struct command never = {.kind = COMMAND_DEFINE};
    snprintf(never.define.name, sizeof never.define.name, "never");
    assert_true(executor_create_after_wake(ex, &never, "n5", w.now, w.wall, why, sizeof why));
    observe(ex, &w, 6, 0);
    advance(&w, 121000);
    observe(ex, &w, 7, LEASE);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_false(executor_next(ex, &s[0]));
    assert_true(has_event(ex, "create: never not placed on n5"));
    assert_true(has_event(ex, "held no lease to wake it within power_on_timeout"));
    executor_free(ex);
    (void)state;
}

/* The HA round's restart onto a host that is off (executor_ha_after_wake)
 * wakes it as a create does, but it never outlives what asked for it: a
 * revoke (the HA flight expired, or its target went down) ends it even
 * while it waits for the wake, and so does a lost lease (the HA round
 * starts afresh, a successor decides again) or a new term; a define sent
 * already is granted no more. Kept, a late define would run the VM on the
 * woken host after the VM was restarted elsewhere. */
static void an_ha_restart_after_a_wake_ends_with_its_revoke_or_the_lease(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_ADVISE);
    struct executor_send s[4];
    char why[160], needle[128];
    /* Revoked while the host is still off: woken later, nothing defined. */
    struct command a = {.kind = COMMAND_DEFINE};
    snprintf(a.define.name, sizeof a.define.name, "db-ha");
    assert_true(executor_ha_after_wake(ex, &a, "n4", w.now, w.wall, why, sizeof why));
    assert_true(has_event(ex, "HA restart: db-ha waits for n4, which is off, to wake"));
    struct command twice = a;
    twice.id[0] = '\0';
    assert_false(executor_create_after_wake(ex, &twice, "n4", w.now, w.wall, why, sizeof why));
    assert_non_null(strstr(why, "an HA restart of db-ha already waits for n4"));
    tick(ex, &w, 250);
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_WAKE);
    assert_true(executor_create_waits(ex, a.id));
    assert_true(executor_revoke(ex, a.id, w.wall));
    assert_false(executor_create_waits(ex, a.id));
    snprintf(needle, sizeof needle, "HA restart: db-ha not placed on n4 (command %s): revoked",
             a.id);
    assert_true(has_event(ex, needle));
    assert_true(executor_create_unsent(ex, a.id)); /* nothing of it can take effect */
    w.m[N4].liveness = LEADER_HOST_UP;
    for (int i = 0; i < 8; i++) {
        tick(ex, &w, 1000);
        while (executor_next(ex, &s[0]))
            assert_int_not_equal(s[0].cmd.kind, COMMAND_DEFINE);
    }
    /* The lease lost while it waits, regained in the same term: gone. */
    w.m[N4].liveness = LEADER_HOST_OFF;
    struct command b = {.kind = COMMAND_DEFINE};
    snprintf(b.define.name, sizeof b.define.name, "db-ha");
    assert_true(executor_ha_after_wake(ex, &b, "n4", w.now, w.wall, why, sizeof why));
    observe(ex, &w, 5, 0);
    assert_false(executor_create_waits(ex, b.id));
    assert_true(executor_create_unsent(ex, b.id));
    assert_true(has_event(ex, "this host lost its lease"));
    advance(&w, 1000);
    w.m[N4].liveness = LEADER_HOST_UP;
    for (int i = 0; i < 8; i++) {
        tick(ex, &w, 1000);
        while (executor_next(ex, &s[0]))
            assert_int_not_equal(s[0].cmd.kind, COMMAND_DEFINE);
    }
    /* A new term while it waits: gone too. */
    w.m[N4].liveness = LEADER_HOST_OFF;
    struct command c = {.kind = COMMAND_DEFINE};
    snprintf(c.define.name, sizeof c.define.name, "db-ha");
    assert_true(executor_ha_after_wake(ex, &c, "n4", w.now, w.wall, why, sizeof why));
    advance(&w, 10);
    observe(ex, &w, 6, LEASE);
    assert_false(executor_create_waits(ex, c.id));
    /* The HA round deciding afresh ends one whose define has not left. */
    struct command e = {.kind = COMMAND_DEFINE};
    snprintf(e.define.name, sizeof e.define.name, "db-ha");
    assert_true(executor_ha_after_wake(ex, &e, "n4", w.now, w.wall, why, sizeof why));
    assert_true(executor_create_clear(ex, "db-ha", w.wall, why, sizeof why));
    assert_false(executor_create_waits(ex, e.id));
    assert_true(executor_create_unsent(ex, e.id));
    /* Woken and its define sent, then revoked: the define is granted no
     * more, and nothing is sent again. */
    struct command d = {.kind = COMMAND_DEFINE};
    snprintf(d.define.name, sizeof d.define.name, "db-ha");
    assert_true(executor_ha_after_wake(ex, &d, "n4", w.now, w.wall, why, sizeof why));
    advance(&w, 250);
    observe(ex, &w, 6, LEASE);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_WAKE);
    w.m[N4].liveness = LEADER_HOST_UP;
    advance(&w, 250);
    observe(ex, &w, 6, LEASE);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_int_equal(take(ex, s, 4), 1);
    assert_int_equal(s[0].cmd.kind, COMMAND_DEFINE);
    assert_string_equal(s[0].cmd.id, d.id);
    assert_true(has_event(ex, "HA restart: db-ha sent to n4"));
    /* Sent: it may be defining the VM, so a fresh decision must wait. */
    assert_false(executor_create_clear(ex, "db-ha", w.wall, why, sizeof why));
    assert_non_null(strstr(why, "an HA restart of it waits for n4"));
    assert_true(executor_create_waits(ex, d.id));
    assert_true(executor_revoke(ex, d.id, w.wall));
    assert_false(executor_create_unsent(ex, d.id)); /* its define left: it may have run */
    assert_false(ask(ex, &s[0], 6, w.now + LEASE, w.now).granted);
    for (int i = 0; i < 4; i++) {
        advance(&w, 2000);
        observe(ex, &w, 6, LEASE);
        assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
        assert_false(executor_next(ex, &s[0]));
    }
    executor_free(ex);
    (void)state;
}

/* A VM that two records show running (a failed migration's copy left at
 * its destination) is pinned in the planner's snapshot, told in the log,
 * and never sent to migrate: moving one copy would leave the other. Once
 * one copy is gone it moves again. */
static void a_vm_running_twice_is_not_moved(void **state) {
    struct world w;
    struct executor *ex = leading(&w, CONFIG_AUTOMATION_AUTO);
    Nodectl__Vm copy;
    nodectl__vm__init(&copy);
    copy.name = "web";
    copy.state = NODECTL__VM_STATE__VM_STATE_RUNNING;
    copy.vcpus = 1;
    copy.memory_kib = 1u << 20;
    Nodectl__Vm *n2_vms[] = {&copy};
    w.rec[N2].vms = n2_vms;
    w.rec[N2].n_vms = 1;
    struct leader_snapshot s;
    uint64_t ticket;
    assert_int_equal(executor_plan_begin(ex, w.m, HOSTS, w.now, w.wall, &s, &ticket),
                     EXECUTOR_PLAN_STARTED);
    assert_int_equal(s.snap.n_vms, 3);
    assert_int_equal(s.n_twice, 2);
    for (size_t i = 0; i < s.snap.n_vms; i++)
        assert_int_equal(s.vms[i].pinned, strcmp(s.vm_rec[i]->name, "web") == 0);
    assert_true(has_event(ex, "VM running on more than one host (the records show it): web on "
                              "n1, n2"));
    /* A plan that moves it all the same (a planner that ignored the pin):
     * the executor refuses to send it. */
    struct placement_plan pp;
    placement_plan_init(&pp);
    struct placement_action a = {.kind = PLACEMENT_MIGRATE, .vm = 0, .from = N1, .host = N3};
    pp.actions = &a;
    pp.n_actions = 1;
    assert_true(executor_plan_end(ex, ticket, &s, 0, &pp, w.now, w.wall));
    leader_snapshot_free(&s);
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    struct executor_send out[2];
    assert_int_equal(take(ex, out, 2), 0);
    assert_int_equal(executor_plan_action(ex, 0)->state, EXECUTOR_FAILED);
    assert_non_null(strstr(executor_plan_action(ex, 0)->note,
                           "web runs on n1 and n2 (both records show it)"));
    assert_true(has_event(ex, "action 1 failed: migrate web from n1 to n3: web runs on n1 and n2"));
    /* n2's copy is gone: told once, and web moves again. */
    w.rec[N2].n_vms = 0;
    advance(&w, 20000);
    observe(ex, &w, 5, LEASE);
    static const struct step move_web[] = {{PLACEMENT_MIGRATE, 0, N1, N3, 0}};
    assert_true(plan(ex, &w, move_web, 1));
    assert_true(has_event(ex, "no VM runs on more than one host any more"));
    assert_int_equal(executor_step(ex, w.m, HOSTS, w.now, w.wall), 0);
    assert_int_equal(take(ex, out, 2), 1);
    assert_string_equal(out[0].cmd.migrate.vm, "web");
    executor_free(ex);
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_create_wakes_its_host_then_defines_or_gives_up),
        cmocka_unit_test(an_ha_restart_after_a_wake_ends_with_its_revoke_or_the_lease),
        cmocka_unit_test(a_takeover_carries_the_log_and_the_woken_hosts),
        cmocka_unit_test(a_define_is_issued_under_the_lease_and_granted_once),
        cmocka_unit_test(a_paused_leader_grants_nothing),
        cmocka_unit_test(a_vm_running_twice_is_not_moved),
        cmocka_unit_test(grants_are_given_once_to_the_target_under_the_lease),
        cmocka_unit_test(nothing_is_dispatched_without_the_lease),
        cmocka_unit_test(a_plan_that_outlives_its_lease_is_discarded),
        cmocka_unit_test(actions_start_in_dependency_order),
        cmocka_unit_test(the_migration_limit_counts_foreign_migrations),
        cmocka_unit_test(outcomes_are_followed_from_the_records),
        cmocka_unit_test(wakes_are_repeated_and_a_host_that_stays_off_is_failed),
        cmocka_unit_test(a_new_leader_waits_for_migrations_in_flight),
        cmocka_unit_test(a_failed_power_off_is_told_once_and_keeps_the_host_on),
        cmocka_unit_test(the_event_log_is_a_bounded_ring),
        cmocka_unit_test(elections_are_told_and_a_new_term_starts_afresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
