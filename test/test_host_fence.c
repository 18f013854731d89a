/* The run lease (src/host/host_fence.c) with manual clocks: renewals asked
 * and answered, the lease's end on the host's own clock, answers that count
 * for nothing (replayed, duplicated, from another host, of an older term),
 * the lapse told once, a revocation, and the leader's side: when it
 * answers and when it may count a silent host as self-fenced. The last
 * test plays a host and two leaders on clocks drifting within rho and
 * checks the bound the design rests on: the host's lease ends, in real
 * time, before any leader counts it self-fenced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "host/host_fence.h"

#define T 30000u
#define RHO 0.1
#define T0 1000000u

static struct host_fence *fence(uint64_t restored, uint64_t now) {
    struct host_fence_config c = {.timeout_ms = T, .rho = RHO};
    snprintf(c.self, sizeof c.self, "n3");
    struct host_fence *f = host_fence_new(&c, restored, now);
    assert_non_null(f);
    return f;
}

static struct fence_renewed granted(uint64_t nonce, uint64_t term) {
    struct fence_renewed r = {.term = term, .nonce = nonce, .granted = true, .valid_ms = T};
    snprintf(r.host, sizeof r.host, "n3");
    return r;
}

static void renewals_extend_the_lease_on_the_hosts_clock(void **state) {
    (void)state;
    char why[256];
    struct host_fence *f = fence(0, T0);
    /* No lease yet: lapsed, told once. */
    assert_false(host_fence_holds(f, T0));
    assert_true(host_fence_lapse_due(f, T0, why, sizeof why));
    assert_non_null(strstr(why, "no run lease since the agent started"));
    assert_false(host_fence_lapse_due(f, T0 + 1, why, sizeof why));
    assert_true(host_fence_ask_due(f, T0));
    struct fence_renew req;
    host_fence_asked(f, 77, T0, &req);
    assert_string_equal(req.host, "n3");
    assert_int_equal(req.nonce, 77);
    assert_false(host_fence_ask_due(f, T0 + 999));
    assert_true(host_fence_ask_due(f, T0 + 1000)); /* unanswered: asked again */
    /* Answered 400 ms later: the lease counts from asked_at. */
    struct fence_renewed r = granted(77, 5);
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 5, T0 + 400), HOST_FENCE_EXTENDED);
    assert_int_equal(host_fence_until(f), T0 + 27000);
    assert_true(host_fence_holds(f, T0 + 26999));
    assert_false(host_fence_holds(f, T0 + 27000));
    /* The next renewal is a period (T / 6 = 5 s) after the last ask. */
    assert_false(host_fence_ask_due(f, T0 + 1000));
    assert_true(host_fence_ask_due(f, T0 + 5000));
    /* The same answer again (a duplicate, a replay): nothing. */
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 5, T0 + 500), HOST_FENCE_IGNORED);
    /* Lapses at its end, told once, with how long ago. */
    assert_false(host_fence_lapse_due(f, T0 + 26999, why, sizeof why));
    assert_true(host_fence_lapse_due(f, T0 + 27500, why, sizeof why));
    assert_non_null(strstr(why, "lapsed 500 ms ago"));
    assert_false(host_fence_lapse_due(f, T0 + 28000, why, sizeof why));
    /* Renewed again: held, and the next lapse is told again. */
    host_fence_asked(f, 78, T0 + 28000, &req);
    r = granted(78, 5);
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 5, T0 + 28100), HOST_FENCE_EXTENDED);
    assert_true(host_fence_holds(f, T0 + 28100));
    assert_true(host_fence_lapse_due(f, T0 + 28000 + 27000, why, sizeof why));
    host_fence_free(f);
}

static void answers_that_count_for_nothing(void **state) {
    (void)state;
    struct host_fence *f = fence(0, T0);
    struct fence_renew req;
    host_fence_asked(f, 1, T0, &req);
    struct fence_renewed r = granted(1, 7);
    /* Not from the leader this host knows, or no leader known. */
    assert_int_equal(host_fence_on_renewed(f, &r, "n2", "n1", 7, T0 + 1), HOST_FENCE_IGNORED);
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "", 7, T0 + 1), HOST_FENCE_IGNORED);
    /* Of a term older than the one known. */
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 8, T0 + 1), HOST_FENCE_IGNORED);
    /* For another host. */
    struct fence_renewed other = r;
    snprintf(other.host, sizeof other.host, "n4");
    assert_int_equal(host_fence_on_renewed(f, &other, "n1", "n1", 7, T0 + 1), HOST_FENCE_IGNORED);
    /* An unknown nonce. */
    struct fence_renewed forged = granted(2, 7);
    assert_int_equal(host_fence_on_renewed(f, &forged, "n1", "n1", 7, T0 + 1), HOST_FENCE_IGNORED);
    assert_false(host_fence_holds(f, T0 + 1));
    /* A refusal without `fenced` (the leader lost its lease) changes nothing. */
    struct fence_renewed no = {.term = 7, .nonce = 1};
    snprintf(no.host, sizeof no.host, "n3");
    assert_int_equal(host_fence_on_renewed(f, &no, "n1", "n1", 7, T0 + 1), HOST_FENCE_REFUSED);
    /* Only HOST_FENCE_ASKS_MAX renewals are remembered: the oldest is
     * forgotten (a lease never comes from an ask the host forgot). */
    for (uint64_t i = 0; i <= HOST_FENCE_ASKS_MAX; i++)
        host_fence_asked(f, 100 + i, T0 + 10 + i, &req);
    r = granted(100, 7);
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 7, T0 + 50), HOST_FENCE_IGNORED);
    r = granted(101, 7);
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 7, T0 + 50), HOST_FENCE_EXTENDED);
    /* A lease is never shortened by an older ask's answer. */
    uint64_t until = host_fence_until(f);
    r = granted(102, 7);
    r.valid_ms = 1000;
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 7, T0 + 60), HOST_FENCE_EXTENDED);
    assert_int_equal(host_fence_until(f), until);
    host_fence_free(f);
}

static void a_revocation_ends_the_lease_at_once(void **state) {
    (void)state;
    char why[256];
    struct host_fence *f = fence(0, T0);
    struct fence_renew req;
    host_fence_asked(f, 1, T0, &req);
    struct fence_renewed r = granted(1, 3);
    assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 3, T0 + 10), HOST_FENCE_EXTENDED);
    assert_true(host_fence_lapse_due(f, T0, why, sizeof why) == false);
    host_fence_asked(f, 2, T0 + 5000, &req);
    struct fence_renewed fenced = {.term = 3, .nonce = 2, .fenced = true};
    snprintf(fenced.host, sizeof fenced.host, "n3");
    assert_int_equal(host_fence_on_renewed(f, &fenced, "n1", "n1", 3, T0 + 5010),
                     HOST_FENCE_REVOKED);
    assert_false(host_fence_holds(f, T0 + 5010));
    assert_true(host_fence_lapse_due(f, T0 + 5010, why, sizeof why));
    assert_non_null(strstr(why, "the leader fences this host"));
    host_fence_free(f);
}

static void a_lease_restored_after_a_restart_holds_until_its_end(void **state) {
    (void)state;
    char why[256];
    struct host_fence *f = fence(T0 + 9000, T0);
    assert_true(host_fence_holds(f, T0 + 8999));
    assert_false(host_fence_lapse_due(f, T0 + 8999, why, sizeof why));
    assert_int_equal(host_fence_deadline(f, T0 + 1), T0); /* a renewal is due at once */
    assert_true(host_fence_lapse_due(f, T0 + 9000, why, sizeof why));
    host_fence_free(f);
    /* One that ended before the restart is none. */
    f = fence(T0 - 1, T0);
    assert_int_equal(host_fence_until(f), 0);
    host_fence_free(f);
}

static void the_leader_answers_only_under_its_lease(void **state) {
    (void)state;
    struct fence_renew req = {.host = "n3", .nonce = 9};
    struct fence_renewed out;
    host_fence_answer(&req, "n3", 4, T0 + 1000, T0, false, T, &out);
    assert_true(out.granted);
    assert_int_equal(out.valid_ms, T);
    assert_int_equal(out.nonce, 9);
    assert_int_equal(out.term, 4);
    host_fence_answer(&req, "n3", 4, T0 + HOST_FENCE_ANSWER_ROOM_MS - 1, T0, false, T, &out);
    assert_false(out.granted);
    assert_false(out.fenced);
    assert_string_equal(out.reason, "not leading with a lease");
    host_fence_answer(&req, "n3", 4, T0 + 1000, T0, true, T, &out);
    assert_false(out.granted);
    assert_true(out.fenced);
    host_fence_answer(&req, "n5", 4, T0 + 1000, T0, false, T, &out);
    assert_false(out.granted);
    assert_false(out.fenced);
    /* The wait: from the later of the last answer and the election. */
    assert_int_equal(host_fence_self_fenced_at(T0, T0 - 5, T, RHO, 2000), T0 + 33000 + 2000);
    assert_int_equal(host_fence_self_fenced_at(T0 - 5, T0, T, RHO, 0), T0 + 33000);
}

/* Real time in ms; each party's clock runs at its own rate within rho. The
 * host asks at real time a, leader 1 answers at real a + d while its lease
 * runs, leader 1's lease ends, leader 2 is elected later and waits from its
 * election. Whatever the rates and delays, the host's lease ends (real
 * time) before leader 2 counts it self-fenced, and before leader 1 would. */
static void the_lease_ends_before_any_leader_counts_the_host_fenced(void **state) {
    (void)state;
    const double rates[] = {1.0 - 0.04, 1.0, 1.0 + 0.04, 1.0 - RHO / 2, 1.0 + RHO / 2};
    const uint64_t delays[] = {0, 10, 900, 5000};
    for (size_t hr = 0; hr < 5; hr++)
        for (size_t lr = 0; lr < 5; lr++)
            for (size_t d = 0; d < 4; d++) {
                double host_rate = rates[hr], leader_rate = rates[lr];
                uint64_t real_ask = 100000, real_answer = real_ask + delays[d];
                uint64_t host_ask = (uint64_t)((double)real_ask * host_rate);
                struct host_fence *f = fence(0, host_ask);
                struct fence_renew req;
                host_fence_asked(f, 5, host_ask, &req);
                uint64_t leader_now = (uint64_t)((double)real_answer * leader_rate);
                struct fence_renewed r;
                host_fence_answer(&req, "n3", 2, leader_now + 300, leader_now, false, T, &r);
                /* Delivered any time later: the bound is from asked_at. */
                uint64_t host_recv = (uint64_t)((double)(real_answer + delays[d]) * host_rate);
                assert_int_equal(host_fence_on_renewed(f, &r, "n1", "n1", 2, host_recv),
                                 HOST_FENCE_EXTENDED);
                /* Real time of the lease's end on the host's clock. */
                double real_end = (double)host_fence_until(f) / host_rate;
                /* Leader 1 counts from its own answer. */
                double l1 = (double)host_fence_self_fenced_at(leader_now, 0, T, RHO, 0) /
                            leader_rate;
                assert_true(real_end <= l1);
                /* Leader 2, elected after leader 1's lease (real_answer + 300). */
                double elected_real = (double)real_answer + 301;
                uint64_t l2_since = (uint64_t)(elected_real * leader_rate);
                double l2 = (double)host_fence_self_fenced_at(0, l2_since, T, RHO, 0) /
                            leader_rate;
                assert_true(real_end <= l2);
                host_fence_free(f);
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renewals_extend_the_lease_on_the_hosts_clock),
        cmocka_unit_test(answers_that_count_for_nothing),
        cmocka_unit_test(a_revocation_ends_the_lease_at_once),
        cmocka_unit_test(a_lease_restored_after_a_restart_holds_until_its_end),
        cmocka_unit_test(the_leader_answers_only_under_its_lease),
        cmocka_unit_test(the_lease_ends_before_any_leader_counts_the_host_fenced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
