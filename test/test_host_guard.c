/* A host's acceptance of commands (src/host/host_guard.c) with a manual
 * clock: what is asked, what is refused, grants matched by id and nonce,
 * the deadline on the host's own clock, retries and timeouts, the
 * power-off commitment; and, with the leader's executor as the issuer, a
 * deposed term's command delivered late is never carried out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "host/host_guard.h"
#include "leader/executor.h"

#define T0 5000000u
#define RHO 0.1

static struct host_guard *guard(void) {
    struct host_guard_config c = {.rho = RHO};
    snprintf(c.self, sizeof c.self, "n3");
    struct host_guard *g = host_guard_new(&c, 42);
    assert_non_null(g);
    return g;
}

static struct command power_off(const char *id, uint64_t term, const char *target) {
    struct command c = {.term = term, .kind = COMMAND_POWER_OFF};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.issuer, sizeof c.issuer, "n1");
    snprintf(c.target, sizeof c.target, "%s", target);
    return c;
}

/* The one output queued now, of kind `kind`. */
static struct host_guard_out one_out(struct host_guard *g, enum host_guard_out_kind kind) {
    struct host_guard_out o, extra;
    assert_true(host_guard_next(g, &o));
    assert_false(host_guard_next(g, &extra));
    assert_int_equal(o.kind, kind);
    return o;
}

static struct grant answer(const struct grant_request *r, bool granted, uint32_t valid_ms) {
    struct grant gr = {.term = r->term, .nonce = r->nonce, .granted = granted,
                       .valid_ms = valid_ms};
    snprintf(gr.id, sizeof gr.id, "%s", r->id);
    snprintf(gr.target, sizeof gr.target, "%s", r->target);
    snprintf(gr.reason, sizeof gr.reason, "%s", granted ? "" : "n1 holds no lease in term 7");
    return gr;
}

static void what_is_asked_and_what_is_refused(void **state) {
    static const struct {
        const char *id, *target;
        uint64_t term;
        enum host_guard_verdict verdict;
        uint64_t fence_after;
    } cases[] = {
        {"a", "n3", 7, HOST_GUARD_ASK, 7},
        {"a", "n3", 7, HOST_GUARD_DUPLICATE, 7},
        {"b", "n2", 7, HOST_GUARD_NOT_TARGET, 7},
        {"c", "n3", 6, HOST_GUARD_STALE, 7},
        {"d", "n3", 8, HOST_GUARD_ASK, 7}, /* a leader elected a moment ago: raises nothing */
        {"e", "n3", 9, HOST_GUARD_AHEAD, 7}, /* further: no quorum shows it */
        {"c", "n3", 8, HOST_GUARD_ASK, 7}, /* a refused id may come again */
    };
    struct host_guard *g = guard();
    struct fence f = {.highest = 7};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct command c = power_off(cases[i].id, cases[i].term, cases[i].target);
        enum host_guard_verdict v = host_guard_receive(g, &f, &c, "127.0.0.1:7000", T0);
        if (v != cases[i].verdict)
            fail_msg("case %zu: %s", i, host_guard_verdict_name(v));
        assert_int_equal(f.highest, cases[i].fence_after);
        struct host_guard_out o;
        if (v == HOST_GUARD_ASK) {
            o = one_out(g, HOST_GUARD_OUT_ASK);
            assert_string_equal(o.reply_to, "127.0.0.1:7000");
            assert_string_equal(o.ask.id, cases[i].id);
            assert_string_equal(o.ask.target, "n3");
            assert_int_equal(o.ask.term, cases[i].term);
            assert_int_not_equal(o.ask.nonce, 0);
        } else {
            assert_false(host_guard_next(g, &o));
        }
    }
    /* A bounded table: the next ones wait their turn. */
    for (int i = 3; i < HOST_GUARD_OUTSTANDING_MAX; i++) {
        char id[16];
        snprintf(id, sizeof id, "fill-%d", i);
        struct command c = power_off(id, 8, "n3");
        assert_int_equal(host_guard_receive(g, &f, &c, "", T0), HOST_GUARD_ASK);
    }
    struct command c = power_off("one-too-many", 8, "n3");
    assert_int_equal(host_guard_receive(g, &f, &c, "", T0), HOST_GUARD_BUSY);
    host_guard_free(g);
    (void)state;
}

/* Receives command `id` at T0 and returns its request. */
static struct grant_request asked(struct host_guard *g, struct fence *f, const char *id) {
    struct command c = power_off(id, 7, "n3");
    assert_int_equal(host_guard_receive(g, f, &c, "127.0.0.1:7000", T0), HOST_GUARD_ASK);
    return one_out(g, HOST_GUARD_OUT_ASK).ask;
}

/* A grant acts only for a request outstanding (id and nonce), only once,
 * and only before asked_at + valid_ms * (1 - rho) on this host's clock. */
static void grants_bound_the_action_on_the_hosts_clock(void **state) {
    static const struct {
        uint64_t nonce_delta; /* added to the request's nonce */
        const char *from;     /* the grant's sender */
        bool granted;
        uint32_t valid_ms;
        uint64_t at; /* arrival, after T0 */
        enum host_guard_answer answer;
        const char *why;
    } cases[] = {
        {1, "n1", true, 300, 10, HOST_GUARD_IGNORED, ""}, /* not our nonce: a forgery */
        {0, "n9", true, 300, 10, HOST_GUARD_IGNORED, ""}, /* not from the issuer */
        {0, "n1", true, 300, 10, HOST_GUARD_ACT, ""},
        {0, "n1", true, 300, 269, HOST_GUARD_ACT, ""},    /* deadline T0 + 270 */
        {0, "n1", true, 300, 270, HOST_GUARD_REFUSED, "the grant came too late"},
        {0, "n1", false, 0, 10, HOST_GUARD_REFUSED, "not granted by n1: n1 holds no lease"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct host_guard *g = guard();
        struct fence f = {.highest = 7};
        struct grant_request r = asked(g, &f, "x");
        struct grant gr = answer(&r, cases[i].granted, cases[i].valid_ms);
        gr.nonce += cases[i].nonce_delta;
        struct command cmd;
        uint64_t deadline = 0;
        char why[COMMAND_REASON_MAX];
        enum host_guard_answer a = host_guard_on_grant(g, &f, &gr, cases[i].from, T0 + cases[i].at,
                                                       &cmd, &deadline, why, sizeof why);
        if (a != cases[i].answer || !strstr(a == HOST_GUARD_IGNORED ? "" : why, cases[i].why))
            fail_msg("case %zu: answer %d, why '%s'", i, (int)a, why);
        if (a == HOST_GUARD_ACT) {
            assert_string_equal(cmd.id, "x");
            assert_int_equal(deadline, T0 + 270);
            assert_true(host_guard_may_act(&f, 7, deadline, deadline - 1));
            assert_false(host_guard_may_act(&f, 7, deadline, deadline));
            /* A replay of the same grant finds nothing outstanding. */
            assert_int_equal(host_guard_on_grant(g, &f, &gr, "n1", T0 + cases[i].at, &cmd, &deadline,
                                                 why, sizeof why),
                             HOST_GUARD_IGNORED);
            /* A newer term learned before acting stops it. */
            f.highest = 8;
            assert_false(host_guard_may_act(&f, 7, deadline, deadline - 1));
        }
        host_guard_free(g);
    }
    (void)state;
}

/* No answer: asked again with a new nonce; a grant answering the first ask
 * still counts, from the first ask's time; no grant at all: given up. */
static void unanswered_requests_are_retried_then_given_up(void **state) {
    struct host_guard *g = guard();
    struct fence f = {.highest = 7};
    struct grant_request first = asked(g, &f, "x");
    assert_int_equal(host_guard_deadline(g), T0 + HOST_GUARD_ASK_RETRY_MS);
    host_guard_tick(g, T0 + HOST_GUARD_ASK_RETRY_MS - 1);
    struct host_guard_out o;
    assert_false(host_guard_next(g, &o));
    host_guard_tick(g, T0 + HOST_GUARD_ASK_RETRY_MS);
    o = one_out(g, HOST_GUARD_OUT_ASK);
    assert_int_not_equal(o.ask.nonce, first.nonce);
    struct grant gr = answer(&first, true, 2000);
    struct command cmd;
    uint64_t deadline;
    char why[COMMAND_REASON_MAX];
    assert_int_equal(host_guard_on_grant(g, &f, &gr, "n1", T0 + 1100, &cmd, &deadline, why, sizeof why),
                     HOST_GUARD_ACT);
    assert_int_equal(deadline, T0 + 1800);
    assert_int_equal(host_guard_deadline(g), UINT64_MAX);

    struct grant_request r = asked(g, &f, "y");
    for (uint64_t t = T0; t < T0 + HOST_GUARD_ASK_TIMEOUT_MS; t += HOST_GUARD_ASK_RETRY_MS) {
        host_guard_tick(g, t);
        while (host_guard_next(g, &o))
            assert_int_equal(o.kind, HOST_GUARD_OUT_ASK);
    }
    host_guard_tick(g, T0 + HOST_GUARD_ASK_TIMEOUT_MS);
    o = one_out(g, HOST_GUARD_OUT_GIVE_UP);
    assert_string_equal(o.cmd.id, "y");
    assert_non_null(strstr(o.why, "no grant from n1"));
    gr = answer(&r, true, 300);
    assert_int_equal(host_guard_on_grant(g, &f, &gr, "n1", T0 + HOST_GUARD_ASK_TIMEOUT_MS, &cmd,
                                         &deadline, why, sizeof why),
                     HOST_GUARD_IGNORED);
    host_guard_free(g);
    (void)state;
}

/* The issuer grants an id once and refuses every later ask of it: the
 * refusal of a retry must not settle the request while the first ask's
 * grant is on its way; once every ask is refused, the request is. */
static void a_refused_retry_does_not_waste_the_first_asks_grant(void **state) {
    struct host_guard *g = guard();
    struct fence f = {.highest = 7};
    struct grant_request first = asked(g, &f, "x");
    host_guard_tick(g, T0 + HOST_GUARD_ASK_RETRY_MS);
    struct host_guard_out retry = one_out(g, HOST_GUARD_OUT_ASK);
    struct grant no = answer(&retry.ask, false, 0);
    snprintf(no.reason, sizeof no.reason, "x was granted once already");
    struct command cmd;
    uint64_t deadline;
    char why[COMMAND_REASON_MAX];
    assert_int_equal(host_guard_on_grant(g, &f, &no, "n1", T0 + 1100, &cmd, &deadline, why,
                                         sizeof why),
                     HOST_GUARD_IGNORED);
    /* Answered: no more asks, and the refused nonce matches nothing. */
    host_guard_tick(g, T0 + 3 * HOST_GUARD_ASK_RETRY_MS);
    struct host_guard_out o;
    assert_false(host_guard_next(g, &o));
    struct grant zero = answer(&retry.ask, true, 2000);
    zero.nonce = 0;
    assert_int_equal(host_guard_on_grant(g, &f, &zero, "n1", T0 + 1200, &cmd, &deadline, why,
                                         sizeof why),
                     HOST_GUARD_IGNORED);
    struct grant yes = answer(&first, true, 2000);
    assert_int_equal(host_guard_on_grant(g, &f, &yes, "n1", T0 + 1300, &cmd, &deadline, why,
                                         sizeof why),
                     HOST_GUARD_ACT);
    assert_string_equal(cmd.id, "x");
    assert_int_equal(deadline, T0 + 1800);

    /* Every ask refused: the request is refused with the issuer's reason. */
    struct grant_request r = asked(g, &f, "y");
    host_guard_tick(g, T0 + HOST_GUARD_ASK_RETRY_MS);
    retry = one_out(g, HOST_GUARD_OUT_ASK);
    struct grant no1 = answer(&r, false, 0), no2 = answer(&retry.ask, false, 0);
    assert_int_equal(host_guard_on_grant(g, &f, &no2, "n1", T0 + 1100, &cmd, &deadline, why,
                                         sizeof why),
                     HOST_GUARD_IGNORED);
    assert_int_equal(host_guard_on_grant(g, &f, &no1, "n1", T0 + 1200, &cmd, &deadline, why,
                                         sizeof why),
                     HOST_GUARD_REFUSED);
    assert_non_null(strstr(why, "not granted by n1: n1 holds no lease"));

    /* One ask refused, the other never answered: given up with the reason. */
    r = asked(g, &f, "z");
    host_guard_tick(g, T0 + HOST_GUARD_ASK_RETRY_MS);
    retry = one_out(g, HOST_GUARD_OUT_ASK);
    no = answer(&retry.ask, false, 0);
    assert_int_equal(host_guard_on_grant(g, &f, &no, "n1", T0 + 1100, &cmd, &deadline, why,
                                         sizeof why),
                     HOST_GUARD_IGNORED);
    host_guard_tick(g, T0 + HOST_GUARD_ASK_TIMEOUT_MS);
    o = one_out(g, HOST_GUARD_OUT_GIVE_UP);
    assert_string_equal(o.cmd.id, "z");
    assert_non_null(strstr(o.why, "not granted by n1"));
    host_guard_free(g);
    (void)state;
}

/* Committed to power off: every request is given up and nothing is
 * accepted until the host is back. */
static void a_host_committed_to_power_off_accepts_nothing(void **state) {
    struct host_guard *g = guard();
    struct fence f = {.highest = 7};
    struct grant_request r = asked(g, &f, "x");
    host_guard_set_off(g, true);
    struct host_guard_out o = one_out(g, HOST_GUARD_OUT_GIVE_UP);
    assert_string_equal(o.why, "this host is powering off");
    struct grant gr = answer(&r, true, 300);
    struct command cmd;
    uint64_t deadline;
    char why[COMMAND_REASON_MAX];
    assert_int_equal(host_guard_on_grant(g, &f, &gr, "n1", T0 + 1, &cmd, &deadline, why, sizeof why),
                     HOST_GUARD_IGNORED);
    struct command c = power_off("z", 7, "n3");
    assert_int_equal(host_guard_receive(g, &f, &c, "", T0), HOST_GUARD_OFF);
    host_guard_set_off(g, false);
    assert_int_equal(host_guard_receive(g, &f, &c, "", T0), HOST_GUARD_ASK);
    host_guard_free(g);
    (void)state;
}

/* A deposed term's power-off, held in a queue while the host was off and
 * delivered after it came back (with the fence of that term: it had not
 * heard of the next one), is never carried out: the host asks the
 * deposed leader, whose fresh lease check refuses. With a wall-clock
 * deadline and ids remembered in memory only, it ran. */
static void a_deposed_terms_command_delivered_late_is_refused(void **state) {
    struct executor_config c = {.automation = CONFIG_AUTOMATION_AUTO, .max_migrations = 1,
                                .migration_timeout_ms = 60000, .power_on_timeout_ms = 60000,
                                .plan_interval_ms = 1000, .wake_cooldown_ms = 3600000,
                                .seed = 3};
    snprintf(c.self, sizeof c.self, "n1");
    struct executor *ex = executor_new(&c);
    assert_non_null(ex);
    Nodectl__HostRecord rec[2];
    Nodectl__Power pw[2];
    Nodectl__Hypervisor hv[2];
    Nodectl__Capacity cap[2];
    struct executor_member m[2];
    for (int i = 0; i < 2; i++) {
        nodectl__host_record__init(&rec[i]);
        nodectl__power__init(&pw[i]);
        nodectl__hypervisor__init(&hv[i]);
        nodectl__capacity__init(&cap[i]);
        rec[i].name = i ? "n3" : "n1";
        rec[i].power = &pw[i];
        rec[i].hypervisor = &hv[i];
        rec[i].capacity = &cap[i];
        hv[i].available = true;
        cap[i].cpus = 4;
        cap[i].memory_kib = 1u << 22;
        pw[i].can_power_off = i == 1;
        m[i] = (struct executor_member){&rec[i], LEADER_HOST_UP, 0};
    }
    uint64_t now = T0, wall = 1700000000000u;
    struct executor_lease l = {27, "n1", now + 400};
    executor_observe(ex, &l, now, wall);
    struct leader_snapshot s;
    uint64_t ticket;
    assert_int_equal(executor_plan_begin(ex, m, 2, now, wall, &s, &ticket), EXECUTOR_PLAN_STARTED);
    struct placement_action a = {.kind = PLACEMENT_POWER_OFF, .host = 1};
    struct placement_plan pp = {.actions = &a, .n_actions = 1};
    assert_true(executor_plan_end(ex, ticket, &s, 0, &pp, now, wall));
    leader_snapshot_free(&s);
    assert_int_equal(executor_step(ex, m, 2, now, wall), 0);
    struct executor_send out;
    assert_true(executor_next(ex, &out));
    /* The frame waits in a queue; term 28 is elected elsewhere (n1's lease
     * ended long before); n1 sees it. */
    now += 60000;
    wall += 60000;
    l = (struct executor_lease){28, "n2", 0};
    executor_observe(ex, &l, now, wall);
    /* n3 comes back: a new guard, its fence at 27 from disk. */
    struct host_guard *g = guard();
    struct fence f = {.highest = 27};
    assert_int_equal(host_guard_receive(g, &f, &out.cmd, "127.0.0.1:7000", now), HOST_GUARD_ASK);
    struct host_guard_out o = one_out(g, HOST_GUARD_OUT_ASK);
    struct grant gr;
    executor_grant(ex, &o.ask, 28, 0, now + 2, &gr);
    struct command cmd;
    uint64_t deadline;
    char why[COMMAND_REASON_MAX];
    assert_int_equal(host_guard_on_grant(g, &f, &gr, "n1", now + 3, &cmd, &deadline, why, sizeof why),
                     HOST_GUARD_REFUSED);
    assert_non_null(strstr(why, "not granted by n1: n1 leads no more in term 27"));
    /* Delivered once more, it is a duplicate here. */
    assert_int_equal(host_guard_receive(g, &f, &out.cmd, "127.0.0.1:7000", now),
                     HOST_GUARD_DUPLICATE);
    host_guard_free(g);
    executor_free(ex);
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(what_is_asked_and_what_is_refused),
        cmocka_unit_test(grants_bound_the_action_on_the_hosts_clock),
        cmocka_unit_test(unanswered_requests_are_retried_then_given_up),
        cmocka_unit_test(a_refused_retry_does_not_waste_the_first_asks_grant),
        cmocka_unit_test(a_host_committed_to_power_off_accepts_nothing),
        cmocka_unit_test(a_deposed_terms_command_delivered_late_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
