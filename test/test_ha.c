/* The leader's HA state (src/leader/ha.c) and the definitions candidates
 * keep (src/leader/ha_defs.c), with hand-made records and a manual clock:
 * renewals answered and refused, every down host fenced, the evidence
 * (BMC, operator, self after the wait), what holds restarts back (a down
 * host without evidence, an up host that does not show the term yet), the
 * restart order, restarts in flight, the release of a host that came back,
 * a stale death refuted within the refutation window (not fenced), and a
 * new term starting afresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "gossip/gossip.h"
#include "leader/ha.h"
#include "leader/ha_defs.h"

#define T 30000u
#define RHO 0.1
#define MARGIN 2000u
#define T0 1000000u
#define WAIT 35000u /* T * (1 + RHO) + MARGIN */

struct host {
    Nodectl__HostRecord rec;
    Nodectl__Power power;
    Nodectl__Vm vm[4], *vms[4];
    Nodectl__Migration mig, *migs[1];
};

static void host_init(struct host *h, const char *name, uint64_t term) {
    nodectl__host_record__init(&h->rec);
    nodectl__power__init(&h->power);
    h->rec.name = (char *)name;
    h->rec.term = term;
    h->rec.power = &h->power;
    h->rec.vms = h->vms;
    h->rec.migrations = h->migs;
}

static void add_vm(struct host *h, const char *name, bool ha, uint32_t prio, Nodectl__VmState st) {
    Nodectl__Vm *v = &h->vm[h->rec.n_vms];
    nodectl__vm__init(v);
    v->name = (char *)name;
    v->ha = ha;
    v->ha_priority = prio;
    v->state = st;
    h->vms[h->rec.n_vms++] = v;
}

/* h's record reports command id in `state` (its one action). */
static void report(struct host *h, const char *id, const char *state) {
    nodectl__migration__init(&h->mig);
    h->mig.id = (char *)id;
    h->mig.state = (char *)state;
    h->migs[0] = &h->mig;
    h->rec.n_migrations = 1;
}

static struct ha *leader_refuting(uint64_t term, uint64_t now, uint32_t refute_ms) {
    struct ha_config c = {.timeout_ms = T, .margin_ms = MARGIN, .rho = RHO, .refute_ms = refute_ms};
    struct ha *h = ha_new(&c);
    assert_non_null(h);
    ha_observe(h, term, true, now);
    return h;
}

/* A leader that fences a host at the first round that shows it down. */
static struct ha *leader(uint64_t term, uint64_t now) { return leader_refuting(term, now, 0); }

static void renew(struct ha *h, const char *host, uint64_t now, struct fence_renewed *out) {
    struct fence_renew req = {.nonce = 1};
    snprintf(req.host, sizeof req.host, "%s", host);
    ha_answer(h, &req, host, now + 500, now, out);
}

#define RUNNING NODECTL__VM_STATE__VM_STATE_RUNNING
#define SHUTOFF NODECTL__VM_STATE__VM_STATE_SHUTOFF

static void a_down_host_is_fenced_and_its_vms_restart_after_the_wait(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct fence_renewed r;
    renew(h, "n2", T0 + 1000, &r);
    assert_true(r.granted);
    assert_int_equal(r.valid_ms, T);
    struct host n1, n2;
    host_init(&n1, "n1", 3);
    host_init(&n2, "n2", 3);
    add_vm(&n1, "d", true, 0, RUNNING);
    add_vm(&n2, "a", true, 10, RUNNING);
    add_vm(&n2, "b", true, 500, RUNNING);
    add_vm(&n2, "c", false, 0, RUNNING);
    add_vm(&n2, "d", true, 0, RUNNING); /* migrating to n1 when n2 died */
    struct executor_member m[2] = {{&n1.rec, LEADER_HOST_UP, 0}, {&n2.rec, LEADER_HOST_DOWN, 0}};
    struct ha_change ch[4];
    assert_int_equal(ha_update(h, m, 2, T0 + 2000, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_FENCED);
    assert_string_equal(ch[0].host, "n2");
    assert_int_equal(ha_update(h, m, 2, T0 + 2100, ch, 4), 0);
    /* Fenced: refused, with `fenced`. */
    renew(h, "n2", T0 + 2200, &r);
    assert_false(r.granted);
    assert_true(r.fenced);
    /* No evidence before the wait from the last answer. */
    struct ha_restart rs[8];
    char why[256];
    assert_int_equal(ha_restarts(h, m, 2, T0 + 1000 + WAIT - 1, rs, 8, why, sizeof why), 0);
    assert_non_null(strstr(why, "no evidence yet that n2 is fenced: its self-fence wait ends in 1 s"));
    enum ha_evidence e;
    assert_string_equal(ha_fenced_at(h, 0, T0 + 1000 + WAIT - 1, &e), "n2");
    assert_int_equal(e, HA_EVIDENCE_NONE);
    /* Then: b (500) before a (10); c is not protected, d runs on n1. */
    assert_int_equal(ha_restarts(h, m, 2, T0 + 1000 + WAIT, rs, 8, why, sizeof why), 2);
    assert_string_equal(why, "");
    assert_string_equal(rs[0].vm, "b");
    assert_string_equal(rs[1].vm, "a");
    assert_string_equal(rs[0].from, "n2");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_SELF);
    /* b sent to n1: in flight, not offered again; settled when n1 shows it
     * running. Defined but not yet started (libvirt's define, then its
     * create), it is still in flight: offered again then, it would run
     * twice. */
    assert_true(ha_restart_sent(h, &rs[0], "n1", "id-b", T0 + 1000 + WAIT));
    assert_int_equal(ha_restarts(h, m, 2, T0 + 1000 + WAIT, rs, 8, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    add_vm(&n1, "b", true, 500, SHUTOFF);
    ha_update(h, m, 2, T0 + 1000 + WAIT + 1, ch, 4);
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 2, T0 + 1000 + WAIT + 1, rs, 8, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    n1.vm[n1.rec.n_vms - 1].state = RUNNING;
    ha_update(h, m, 2, T0 + 1000 + WAIT + 1, ch, 4);
    assert_int_equal(ha_in_flight(h), 0);
    /* A restart whose define ended without the VM is settled too. */
    struct ha_restart ra = {.vm = "a", .from = "n2", .priority = 10};
    assert_true(ha_restart_sent(h, &ra, "n1", "id-a", T0 + 1000 + WAIT));
    report(&n1, "id-a", "refused");
    ha_update(h, m, 2, T0 + 1000 + WAIT + 2, ch, 4);
    assert_int_equal(ha_in_flight(h), 0);
    /* n2 back, its guests stopped, a shown only by it: it has evidence
     * (the wait is over), so it is released at once (were it kept fenced
     * until a runs elsewhere, and no host were left to run a, a would
     * stay down); a, shown stopped by an up host, is restarted. */
    m[1].liveness = LEADER_HOST_UP;
    n2.vm[0].state = n2.vm[1].state = n2.vm[3].state = SHUTOFF;
    assert_int_equal(ha_update(h, m, 2, T0 + 1000 + WAIT + 3, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_RELEASED);
    assert_string_equal(ch[0].host, "n2");
    assert_int_equal(ha_restarts(h, m, 2, T0 + 1000 + WAIT + 3, rs, 8, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_UP);
    renew(h, "n2", T0 + 1000 + WAIT + 5, &r);
    assert_true(r.granted);
    ha_free(h);
}

/* n2 (m[1]) is down with protected VM a: fenced, and once its self-fence
 * wait is over, a is restarted on n1 (m[0]); returns that moment. */
static uint64_t a_restarted_on_n1(struct ha *h, struct executor_member *m, size_t n) {
    struct ha_change ch[4];
    ha_update(h, m, n, T0 + 2000, ch, 4);
    struct ha_restart rs[4];
    char why[256];
    uint64_t t = T0 + 1000 + WAIT;
    assert_int_equal(ha_restarts(h, m, n, t, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    assert_true(ha_restart_sent(h, &rs[0], "n1", "id-a", t));
    return t;
}

/* Term 3: n2, down with protected VM "a", restarted on n1 once its wait
 * is over; n3 up. Returns when the restart was sent. */
static uint64_t n2_down_a_restarted_on_n1(struct ha *h, struct host *n1, struct host *n2,
                                          struct host *n3, struct executor_member m[3]) {
    struct fence_renewed r;
    renew(h, "n2", T0 + 1000, &r);
    renew(h, "n1", T0 + 1000, &r);
    host_init(n1, "n1", 3);
    host_init(n2, "n2", 3);
    host_init(n3, "n3", 3);
    add_vm(n2, "a", true, 10, RUNNING);
    m[0] = (struct executor_member){&n1->rec, LEADER_HOST_UP, 0};
    m[1] = (struct executor_member){&n2->rec, LEADER_HOST_DOWN, 0};
    m[2] = (struct executor_member){&n3->rec, LEADER_HOST_UP, 0};
    return a_restarted_on_n1(h, m, 3);
}

/* The target of a restart dies after it defined the VM, before it showed
 * it running: its create may go on unseen, so the restart is lost (held
 * until the target is fenced), and back up still showing it stopped, the
 * target is waited for (its start may be under way), never bypassed. */
static void a_restart_whose_target_dies_while_starting_it_is_not_sent_again(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct host n1, n2, n3;
    struct executor_member m[3];
    uint64_t t = n2_down_a_restarted_on_n1(h, &n1, &n2, &n3, m);
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    struct fence_renewed r;
    renew(h, "n1", t, &r); /* n1's lease runs: no self-fence evidence soon */
    add_vm(&n1, "a", true, 10, SHUTOFF);
    m[0].liveness = LEADER_HOST_DOWN;
    ha_update(h, m, 3, t + 1000, ch, 4);
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 3, t + 1000, rs, 4, why, sizeof why), 0);
    m[0].liveness = LEADER_HOST_UP;
    ha_update(h, m, 3, t + 2000, ch, 4);
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 3, t + 2000, rs, 4, why, sizeof why), 0);
    n1.vm[0].state = RUNNING;
    ha_update(h, m, 3, t + 3000, ch, 4);
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 3, t + 3000, rs, 4, why, sizeof why), 0);
    ha_free(h);
}

/* A leader whose lease lapsed and holds again in the same term (it never
 * stepped down: no other leader had that term) keeps its restarts in
 * flight: their commands may still take effect, so the VM is not offered
 * again elsewhere; a new term starts afresh. */
static void a_lease_regained_in_the_same_term_keeps_the_restarts_in_flight(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct host n1, n2, n3;
    struct executor_member m[3];
    uint64_t t = n2_down_a_restarted_on_n1(h, &n1, &n2, &n3, m);
    assert_int_equal(ha_in_flight(h), 1);
    ha_observe(h, 3, false, t + 100);
    ha_observe(h, 3, true, t + 900);
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    ha_update(h, m, 3, t + 1000, ch, 4);
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 3, t + 1000, rs, 4, why, sizeof why), 0);
    assert_int_equal(ha_fenced_count(h), 1);
    /* A new term, even one this node first saw as a candidate. */
    ha_observe(h, 4, false, t + 2000);
    ha_observe(h, 4, true, t + 2100);
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_fenced_count(h), 0);
    ha_free(h);
}

/* The record that first reports a restart's define succeeded may carry a
 * sample taken between libvirt's define and its create (the VM shut off):
 * the restart stays in flight until a sample taken after the success (or
 * the VM running), and the VM is not restarted again meanwhile. */
static void a_succeeded_define_waits_for_a_later_sample(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct fence_renewed r;
    renew(h, "n2", T0 + 1000, &r);
    struct host n1, n2;
    host_init(&n1, "n1", 3);
    host_init(&n2, "n2", 3);
    add_vm(&n2, "a", true, 10, RUNNING);
    struct executor_member m[2] = {{&n1.rec, LEADER_HOST_UP, 0}, {&n2.rec, LEADER_HOST_DOWN, 0}};
    uint64_t t = a_restarted_on_n1(h, m, 2);
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    add_vm(&n1, "a", true, 10, SHUTOFF);
    report(&n1, "id-a", "succeeded");
    n1.mig.ended_at_ms = 5000;
    n1.rec.sampled_at_ms = 5000;
    ha_update(h, m, 2, t + 1000, ch, 4);
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 2, t + 1000, rs, 4, why, sizeof why), 0);
    /* A later sample that still shows it stopped: it stopped after it
     * started (a lapse of n1's lease, say); restarted from n1. */
    n1.rec.sampled_at_ms = 6000;
    ha_update(h, m, 2, t + 2000, ch, 4);
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 2, t + 2000, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].from, "n1");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_UP);
    ha_free(h);
}

/* Term 3: n1 up, n2 down with protected VM a running in its last record. */
static void n2_down_with_a(struct host *n1, struct host *n2, struct executor_member m[2]) {
    host_init(n1, "n1", 3);
    host_init(n2, "n2", 3);
    add_vm(n2, "a", true, 10, RUNNING);
    m[0] = (struct executor_member){&n1->rec, LEADER_HOST_UP, 0};
    m[1] = (struct executor_member){&n2->rec, LEADER_HOST_DOWN, 0};
}

static void a_fenced_host_back_before_its_evidence_stays_fenced(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct fence_renewed r;
    renew(h, "n2", T0 + 1000, &r);
    struct host n1, n2;
    struct executor_member m[2];
    n2_down_with_a(&n1, &n2, m);
    struct ha_change ch[4];
    assert_int_equal(ha_update(h, m, 2, T0 + 2000, ch, 4), 1);
    /* Back before the wait ends, a stopped: it may still run a copy no
     * record shows, so it stays fenced, refused, and nothing restarts. */
    m[1].liveness = LEADER_HOST_UP;
    n2.vm[0].state = SHUTOFF;
    assert_int_equal(ha_update(h, m, 2, T0 + 1000 + WAIT - 1, ch, 4), 0);
    assert_true(ha_fencing(h, "n2"));
    renew(h, "n2", T0 + 1000 + WAIT - 1, &r);
    assert_false(r.granted);
    struct ha_restart rs[4];
    char why[256];
    assert_int_equal(ha_restarts(h, m, 2, T0 + 1000 + WAIT - 1, rs, 4, why, sizeof why), 0);
    /* Once the wait is over: released. */
    assert_int_equal(ha_update(h, m, 2, T0 + 1000 + WAIT, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_RELEASED);
    assert_false(ha_fencing(h, "n2"));
    ha_free(h);
}

static void a_restart_known_only_to_the_leader_is_offered_until_sent(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct host n1, n2, n3;
    host_init(&n1, "n1", 3);
    host_init(&n2, "n2", 3);
    host_init(&n3, "n3", 3);
    add_vm(&n1, "a", true, 7, SHUTOFF); /* its lease lapsed */
    struct executor_member m[3] = {{&n1.rec, LEADER_HOST_UP, 0}, {&n2.rec, LEADER_HOST_UP, 0},
                                   {&n3.rec, LEADER_HOST_UP, 0}};
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    assert_int_equal(ha_restarts(h, m, 3, T0 + 10, rs, 4, why, sizeof why), 1);
    /* Elsewhere, as after a restart in place that failed. */
    rs[0].in_place = false;
    assert_true(ha_restart_sent(h, &rs[0], "n2", "id-1", T0 + 10));
    /* n2 refuses it, and n1 no longer shows a (say it ran on a host since
     * gone and n1's reconciliation undefined it): dropped, a would be known
     * to no one. Kept, and offered again, until a restart is sent. */
    n1.rec.n_vms = 0;
    nodectl__migration__init(&n2.mig);
    n2.mig.id = "id-1";
    n2.mig.state = "refused";
    n2.migs[0] = &n2.mig;
    n2.rec.n_migrations = 1;
    ha_update(h, m, 3, T0 + 20, ch, 4);
    assert_int_equal(ha_in_flight(h), 1);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(ha_restarts(h, m, 3, T0 + 30 + round, rs, 4, why, sizeof why), 1);
        assert_string_equal(rs[0].vm, "a");
        assert_string_equal(rs[0].from, "n1");
        assert_int_equal(rs[0].priority, 7);
        ha_update(h, m, 3, T0 + 31 + round, ch, 4);
    }
    assert_true(ha_restart_sent(h, &rs[0], "n3", "id-2", T0 + 40));
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 3, T0 + 41, rs, 4, why, sizeof why), 0);
    /* n3 goes down before its record shows a: lost, offered again once n3
     * is fenced with evidence, and again while no restart is sent. */
    m[2].liveness = LEADER_HOST_DOWN;
    assert_int_equal(ha_update(h, m, 3, T0 + 50, ch, 4), 2);
    assert_int_equal(ch[0].kind, HA_FENCED);
    assert_int_equal(ch[1].kind, HA_LOST); /* its command is revoked */
    assert_string_equal(ch[1].id, "id-2");
    assert_int_equal(ha_update(h, m, 3, T0 + 51, ch, 4), 0); /* told once */
    assert_int_equal(ha_restarts(h, m, 3, T0 + 51, rs, 4, why, sizeof why), 0);
    for (int round = 0; round < 2; round++) {
        ha_update(h, m, 3, T0 + WAIT + round, ch, 4);
        assert_int_equal(ha_restarts(h, m, 3, T0 + WAIT + round, rs, 4, why, sizeof why), 1);
        assert_string_equal(rs[0].vm, "a");
        assert_int_equal(rs[0].evidence, HA_EVIDENCE_SELF);
    }
    assert_true(ha_restart_sent(h, &rs[0], "n2", "id-3", T0 + WAIT + 2));
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 3, T0 + WAIT + 3, rs, 4, why, sizeof why), 0);
    ha_free(h);
}

#define WAKE 600000u /* power_on_timeout's default */

/* n2 (m[1]) is down with protected VM a, the only host with room (n3,
 * m[2]) is off: once n2's wait is over, a is restarted on n3, woken for
 * it; returns that moment. */
static uint64_t a_restarted_on_n3_woken(struct ha *h, struct executor_member *m, size_t n) {
    struct ha_change ch[4];
    assert_int_equal(ha_update(h, m, n, T0 + 2000, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_FENCED);
    struct ha_restart rs[4];
    char why[256];
    uint64_t t = T0 + 1000 + WAIT;
    assert_int_equal(ha_restarts(h, m, n, t, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    assert_true(ha_restart_waking(h, &rs[0], "n3", "id-a", t, WAKE));
    return t;
}

/* A restart onto a host that is off (standby after a consolidation) stays
 * in flight while the host is woken, longer than HA_FLIGHT_TIMEOUT_MS (a
 * wake takes minutes): off is not "down before it showed the VM", and an
 * expiry at 120 s would revoke it and restart the VM elsewhere while the
 * woken host may still define it. Once the host is up, it gets
 * HA_FLIGHT_TIMEOUT_MS from then; a host that never comes back expires the
 * restart after the wake's bound (revoked, restarted again); one that goes
 * down from off is lost (revoked, restarted once it has evidence). */
static void a_restart_on_a_host_being_woken_stays_in_flight_through_the_wake(void **state) {
    (void)state;
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    struct host n1, n2, n3;
    struct fence_renewed r;
    /* Woken, up after 9 minutes, then it shows the VM running. */
    struct ha *h = leader(3, T0);
    renew(h, "n2", T0 + 1000, &r);
    host_init(&n1, "n1", 3);
    host_init(&n2, "n2", 3);
    host_init(&n3, "n3", 3);
    add_vm(&n2, "a", true, 10, RUNNING);
    struct executor_member m[3] = {
        {&n1.rec, LEADER_HOST_UP, 0}, {&n2.rec, LEADER_HOST_DOWN, 0}, {&n3.rec, LEADER_HOST_OFF, 0}};
    uint64_t t = a_restarted_on_n3_woken(h, m, 3);
    for (uint64_t at = t + 1000; at < t + 540000; at += 1000) {
        assert_int_equal(ha_update(h, m, 3, at, ch, 4), 0);
        assert_int_equal(ha_in_flight(h), 1);
        assert_int_equal(ha_restarts(h, m, 3, at, rs, 4, why, sizeof why), 0);
    }
    m[2].liveness = LEADER_HOST_UP;
    uint64_t up = t + 540000;
    assert_int_equal(ha_update(h, m, 3, up, ch, 4), 0);
    add_vm(&n3, "a", true, 10, SHUTOFF); /* defined, its start under way */
    assert_int_equal(ha_update(h, m, 3, up + HA_FLIGHT_TIMEOUT_MS - 1, ch, 4), 0);
    assert_int_equal(ha_in_flight(h), 1);
    n3.vm[0].state = RUNNING;
    assert_int_equal(ha_update(h, m, 3, up + HA_FLIGHT_TIMEOUT_MS - 1, ch, 4), 0);
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 3, up + HA_FLIGHT_TIMEOUT_MS, rs, 4, why, sizeof why), 0);
    ha_free(h);
    /* Up, but nothing shows within HA_FLIGHT_TIMEOUT_MS of it: expired
     * then, not at the wake's bound. */
    h = leader(3, T0);
    renew(h, "n2", T0 + 1000, &r);
    n3.rec.n_vms = 0;
    m[2].liveness = LEADER_HOST_OFF;
    t = a_restarted_on_n3_woken(h, m, 3);
    m[2].liveness = LEADER_HOST_UP;
    assert_int_equal(ha_update(h, m, 3, t + 60000, ch, 4), 0);
    assert_int_equal(ha_update(h, m, 3, t + 60000 + HA_FLIGHT_TIMEOUT_MS - 1, ch, 4), 0);
    assert_int_equal(ha_update(h, m, 3, t + 60000 + HA_FLIGHT_TIMEOUT_MS, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_EXPIRED);
    assert_string_equal(ch[0].id, "id-a");
    ha_free(h);
    /* Never back: expired after the wake's bound and the flight's time,
     * and a (n2's record shows it) is offered again. */
    h = leader(3, T0);
    renew(h, "n2", T0 + 1000, &r);
    m[2].liveness = LEADER_HOST_OFF;
    t = a_restarted_on_n3_woken(h, m, 3);
    assert_int_equal(ha_update(h, m, 3, t + WAKE + HA_FLIGHT_TIMEOUT_MS - 1, ch, 4), 0);
    assert_int_equal(ha_restarts(h, m, 3, t + WAKE, rs, 4, why, sizeof why), 0);
    assert_int_equal(ha_update(h, m, 3, t + WAKE + HA_FLIGHT_TIMEOUT_MS, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_EXPIRED);
    assert_string_equal(ch[0].vm, "a");
    assert_string_equal(ch[0].host, "n3");
    assert_string_equal(ch[0].id, "id-a");
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 3, t + WAKE + HA_FLIGHT_TIMEOUT_MS, rs, 4, why,
                                 sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    ha_free(h);
    /* Given up before its define left (no host could wake n3): expired
     * at once, not after the wake's bound; a restart no longer waiting
     * for a wake is not given up so. */
    h = leader(3, T0);
    renew(h, "n2", T0 + 1000, &r);
    m[2].liveness = LEADER_HOST_OFF;
    t = a_restarted_on_n3_woken(h, m, 3);
    assert_string_equal(ha_waking_at(h, 0), "id-a");
    assert_null(ha_waking_at(h, 1));
    assert_false(ha_restart_gave_up(h, "id-x", t + 2000));
    assert_true(ha_restart_gave_up(h, "id-a", t + 2000));
    assert_int_equal(ha_update(h, m, 3, t + 2000, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_EXPIRED);
    assert_string_equal(ch[0].id, "id-a");
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 3, t + 2000, rs, 4, why, sizeof why), 1);
    assert_true(ha_restart_sent(h, &rs[0], "n1", "id-b", t + 3000));
    assert_null(ha_waking_at(h, 0));
    assert_false(ha_restart_gave_up(h, "id-b", t + 3000));
    ha_free(h);
    /* Down from off (its "off" disproved, or it died as it came up):
     * lost, told once so its command is revoked, and a is not offered
     * before n3 has evidence. */
    h = leader(3, T0);
    renew(h, "n2", T0 + 1000, &r);
    m[2].liveness = LEADER_HOST_OFF;
    t = a_restarted_on_n3_woken(h, m, 3);
    renew(h, "n3", t + 4000, &r); /* it came up for a moment */
    assert_true(r.granted);
    m[2].liveness = LEADER_HOST_DOWN;
    assert_int_equal(ha_update(h, m, 3, t + 5000, ch, 4), 2);
    assert_int_equal(ch[0].kind, HA_FENCED);
    assert_int_equal(ch[1].kind, HA_LOST);
    assert_string_equal(ch[1].id, "id-a");
    assert_int_equal(ha_update(h, m, 3, t + 6000, ch, 4), 0);
    assert_int_equal(ha_restarts(h, m, 3, t + 6000, rs, 4, why, sizeof why), 0);
    assert_non_null(strstr(why, "no evidence yet that n3 is fenced"));
    assert_int_equal(ha_restarts(h, m, 3, t + 4000 + WAIT - 1, rs, 4, why, sizeof why), 0);
    assert_int_equal(ha_restarts(h, m, 3, t + 4000 + WAIT, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    ha_free(h);
}

/* Three up hosts of term 3; n1 (m[0]) shows protected VM a stopped. */
static void a_stopped_on_n1(struct host *n, struct executor_member *m) {
    const char *names[3] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++) {
        host_init(&n[i], names[i], 3);
        m[i].rec = &n[i].rec;
        m[i].liveness = LEADER_HOST_UP;
    }
    add_vm(&n[0], "a", true, 7, SHUTOFF);
}

/* A protected VM an up host that is not fenced shows stopped is restarted
 * there, in place, never elsewhere: an operator's `virsh define` then
 * `virsh start` there, seen between the two, would otherwise run it twice
 * (the leader's copy elsewhere and the operator's). In flight while the
 * host still shows it stopped; settled once it shows it running. */
static void a_vm_stopped_on_an_up_host_restarts_in_place(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct host n[3];
    struct executor_member m[3];
    a_stopped_on_n1(n, m);
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    assert_int_equal(ha_restarts(h, m, 3, T0 + 10, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    assert_string_equal(rs[0].from, "n1");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_UP);
    assert_true(rs[0].in_place);
    assert_true(ha_restart_sent(h, &rs[0], "n1", "id-1", T0 + 10));
    /* n1 still shows it stopped (its start under way): not offered again. */
    ha_update(h, m, 3, T0 + 1000, ch, 4);
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 3, T0 + 1000, rs, 4, why, sizeof why), 0);
    n[0].vm[0].state = RUNNING;
    ha_update(h, m, 3, T0 + 2000, ch, 4);
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 3, T0 + 2000, rs, 4, why, sizeof why), 0);
    /* Stopped again later: in place again (the start there succeeded). */
    n[0].vm[0].state = SHUTOFF;
    assert_int_equal(ha_restarts(h, m, 3, T0 + 3000, rs, 4, why, sizeof why), 1);
    assert_true(rs[0].in_place);
    /* A fenced host up again is not "in place": its lease is refused. */
    struct ha *h2 = leader(3, T0);
    m[0].liveness = LEADER_HOST_DOWN;
    ha_update(h2, m, 3, T0 + 10, ch, 4);
    assert_int_equal(ha_restarts(h2, m, 3, T0 + WAIT, rs, 4, why, sizeof why), 1);
    assert_false(rs[0].in_place);
    /* A fenced host's stale copy of a (listed first) does not send a
     * elsewhere while an up host that is not fenced shows it stopped: in
     * place there. */
    m[0].liveness = LEADER_HOST_UP;
    add_vm(&n[1], "a", true, 7, SHUTOFF);
    struct executor_member m2[3] = {m[1], m[0], m[2]};
    m2[0].liveness = LEADER_HOST_DOWN;
    struct ha *h3 = leader(3, T0);
    ha_update(h3, m2, 3, T0 + 10, ch, 4);
    assert_true(ha_fencing(h3, "n2"));
    assert_int_equal(ha_restarts(h3, m2, 3, T0 + WAIT, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].from, "n1");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_UP);
    assert_true(rs[0].in_place);
    /* Two up hosts show a stopped (one a stale copy, its reconciliation
     * not done): in place where this leader last saw it run, n2, though
     * n1 comes first. */
    struct ha *h4 = leader(3, T0);
    struct host p[3];
    struct executor_member pm[3];
    a_stopped_on_n1(p, pm);
    add_vm(&p[1], "a", true, 7, RUNNING);
    ha_update(h4, pm, 3, T0 + 10, ch, 4);
    p[1].vm[0].state = SHUTOFF;
    assert_int_equal(ha_restarts(h4, pm, 3, T0 + 20, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].from, "n2");
    assert_true(rs[0].in_place);
    ha_free(h4);
    ha_free(h3);
    ha_free(h2);
    ha_free(h);
}

/* A host gossip shows off whose record shows the VM running keeps it from
 * a restart (it may have booted and run it, its "off" stale); from a down
 * host, only on a record sampled after the down host's last: a leader
 * that missed the off host's last records holds one of before the VM
 * migrated away from it (nodesim cluster --ha seed 8231: vm38 was never
 * restarted after its new host fenced itself). */
static void an_off_hosts_older_record_holds_no_restart_back(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct host n[3];
    struct executor_member m[3];
    a_stopped_on_n1(n, m);
    n[0].vm[0].state = RUNNING;
    n[0].rec.sampled_at_ms = 5000;
    m[0].liveness = LEADER_HOST_DOWN;
    add_vm(&n[2], "a", true, 7, RUNNING);
    n[2].rec.sampled_at_ms = 4000;
    m[2].liveness = LEADER_HOST_OFF;
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    ha_update(h, m, 3, T0 + 10, ch, 4);
    assert_true(ha_fencing(h, "n1"));
    assert_int_equal(ha_restarts(h, m, 3, T0 + WAIT, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    assert_string_equal(rs[0].from, "n1");
    assert_false(rs[0].in_place);
    /* Sampled after n1's last: n3 is not off, it runs a. */
    n[2].rec.sampled_at_ms = 5001;
    assert_int_equal(ha_restarts(h, m, 3, T0 + WAIT, rs, 4, why, sizeof why), 0);
    /* Against an up host's records (renewed all the time), any counts. */
    struct ha *h2 = leader(3, T0);
    n[0].vm[0].state = SHUTOFF;
    m[0].liveness = LEADER_HOST_UP;
    n[2].rec.sampled_at_ms = 4000;
    assert_int_equal(ha_restarts(h2, m, 3, T0 + 10, rs, 4, why, sizeof why), 0);
    /* Said, since nothing else is. */
    assert_non_null(strstr(why, "a, stopped on n1, is not restarted: n3, shown off"));
    ha_free(h2);
    ha_free(h);
}

/* n1 (m[0]) shows a stopped: a restart in place is offered; sent as `id`
 * and reported by n1 in `state`, a later round offers a again: returns
 * whether in place. */
static bool in_place_after(struct ha *h, struct host *n, struct executor_member *m,
                           const char *id, const char *state, uint64_t t) {
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    assert_int_equal(ha_restarts(h, m, 3, t, rs, 4, why, sizeof why), 1);
    assert_true(rs[0].in_place);
    assert_true(ha_restart_sent(h, &rs[0], "n1", id, t));
    report(&n[0], id, state);
    ha_update(h, m, 3, t + 1, ch, 4);
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 3, t + 2, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    assert_string_equal(rs[0].from, "n1");
    return rs[0].in_place;
}

/* A restart in place refused (nothing tried: the grant ran out, the run
 * lease did not hold) is tried in place again, for HA_IN_PLACE_REFUSED_MS
 * from the first refusal in a row; one that failed (libvirt tried) or showed nothing in
 * HA_FLIGHT_TIMEOUT_MS is not: the VM is restarted elsewhere, as a fenced
 * host's, and stays "elsewhere" when that too ends without it, until a
 * record shows it running. */
static void a_failed_restart_in_place_is_relocated(void **state) {
    (void)state;
    struct ha *h = leader(3, T0);
    struct host n[3];
    struct executor_member m[3];
    a_stopped_on_n1(n, m);
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    const uint64_t R = HA_IN_PLACE_REFUSED_MS;
    assert_true(in_place_after(h, n, m, "id-1", "refused", T0 + 10));
    assert_true(in_place_after(h, n, m, "id-2", "refused", T0 + 20));
    assert_true(in_place_after(h, n, m, "id-3", "refused", T0 + 9 + R));
    assert_false(in_place_after(h, n, m, "id-r", "refused", T0 + 10 + R));
    /* Running on n1 after all (an operator started it): forgotten. */
    n[0].vm[0].state = RUNNING;
    ha_update(h, m, 3, T0 + R + 40, ch, 4);
    n[0].vm[0].state = SHUTOFF;
    /* Succeeded, and a later sample shows it stopped: it started, and
     * stopped since (a new stop): in place again. */
    n[0].rec.sampled_at_ms = 1;
    assert_true(in_place_after(h, n, m, "id-s", "succeeded", T0 + R + 45));
    /* Failed: elsewhere at once, round after round. */
    assert_false(in_place_after(h, n, m, "id-4", "failed", T0 + R + 50));
    ha_update(h, m, 3, T0 + R + 60, ch, 4);
    assert_int_equal(ha_restarts(h, m, 3, T0 + R + 61, rs, 4, why, sizeof why), 1);
    assert_false(rs[0].in_place);
    assert_true(ha_restart_sent(h, &rs[0], "n2", "id-5", T0 + R + 70));
    assert_int_equal(ha_in_flight(h), 1);
    assert_int_equal(ha_restarts(h, m, 3, T0 + R + 71, rs, 4, why, sizeof why), 0);
    /* n2 refuses it: elsewhere again, not in place. */
    report(&n[1], "id-5", "refused");
    ha_update(h, m, 3, T0 + R + 80, ch, 4);
    assert_int_equal(ha_in_flight(h), 0);
    assert_int_equal(ha_restarts(h, m, 3, T0 + R + 81, rs, 4, why, sizeof why), 1);
    assert_false(rs[0].in_place);
    /* Running again, then stopped: in place; nothing shown in
     * HA_FLIGHT_TIMEOUT_MS: revoked, and elsewhere next. */
    n[0].vm[0].state = RUNNING;
    ha_update(h, m, 3, T0 + R + 90, ch, 4);
    n[0].vm[0].state = SHUTOFF;
    assert_int_equal(ha_restarts(h, m, 3, T0 + R + 100, rs, 4, why, sizeof why), 1);
    assert_true(rs[0].in_place);
    assert_true(ha_restart_sent(h, &rs[0], "n1", "id-6", T0 + R + 100));
    assert_int_equal(ha_update(h, m, 3, T0 + R + 100 + HA_FLIGHT_TIMEOUT_MS, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_EXPIRED);
    assert_string_equal(ch[0].id, "id-6");
    assert_int_equal(ha_restarts(h, m, 3, T0 + R + 101 + HA_FLIGHT_TIMEOUT_MS, rs, 4, why,
                                 sizeof why), 1);
    assert_false(rs[0].in_place);
    ha_free(h);
}

#define LATER (HA_BMC_POWER_WAIT_MS + HA_BMC_RETRY_MS)

static void what_holds_restarts_back(void **state) {
    (void)state;
    struct ha *h = leader(7, T0);
    struct host n1, n2, n3;
    host_init(&n1, "n1", 7);
    host_init(&n2, "n2", 7);
    host_init(&n3, "n3", 7);
    add_vm(&n2, "a", true, 0, RUNNING);
    struct executor_member m[3] = {{&n1.rec, LEADER_HOST_UP, 0},
                                   {&n2.rec, LEADER_HOST_DOWN, 0},
                                   {&n3.rec, LEADER_HOST_DOWN, 0}};
    struct ha_change ch[4];
    assert_int_equal(ha_update(h, m, 3, T0, ch, 4), 2);
    /* n2 confirmed by the operator; n3 (no protected VM in its record)
     * still holds everything back: it may run one no record shows. */
    assert_true(ha_confirm(h, "n2", T0));
    struct ha_restart rs[4];
    char why[256];
    assert_int_equal(ha_restarts(h, m, 3, T0 + 1, rs, 4, why, sizeof why), 0);
    assert_non_null(strstr(why, "no evidence yet that n3 is fenced"));
    /* n3's BMC: not asked while its record shows no protected VM (its
     * unprotected guests would die for nothing); then asked once; off read
     * back is evidence. */
    n3.power.ipmi_address = "10.0.0.3";
    char host[COMMAND_NAME_MAX];
    add_vm(&n3, "u", false, 0, RUNNING);
    enum ha_bmc_step step;
    assert_false(ha_bmc_due(h, m, 3, T0 + 2, host, sizeof host, &step));
    add_vm(&n3, "p", true, 0, SHUTOFF);
    assert_true(ha_bmc_due(h, m, 3, T0 + 2, host, sizeof host, &step));
    assert_string_equal(host, "n3");
    assert_int_equal(step, HA_BMC_POWER_OFF);
    assert_false(ha_bmc_due(h, m, 3, T0 + 3, host, sizeof host, &step));
    /* The BMC did not answer, all through the power-wait: its status is
     * read every second, then the power off sent again later. */
    ha_bmc_result(h, "n3", HA_BMC_READ_NO_ANSWER, T0 + 4);
    assert_false(ha_bmc_due(h, m, 3, T0 + 5, host, sizeof host, &step));
    assert_true(ha_bmc_due(h, m, 3, T0 + 4 + HA_BMC_STATUS_EVERY_MS, host, sizeof host, &step));
    assert_int_equal(step, HA_BMC_STATUS);
    ha_bmc_result(h, "n3", HA_BMC_READ_NO_ANSWER, T0 + 2 + HA_BMC_POWER_WAIT_MS);
    assert_false(ha_bmc_due(h, m, 3, T0 + 1 + HA_BMC_POWER_WAIT_MS + HA_BMC_RETRY_MS, host,
                            sizeof host, &step));
    assert_true(ha_bmc_due(h, m, 3, T0 + 2 + HA_BMC_POWER_WAIT_MS + HA_BMC_RETRY_MS, host,
                           sizeof host, &step));
    assert_int_equal(step, HA_BMC_POWER_OFF);
    ha_bmc_result(h, "n3", HA_BMC_READ_OFF, T0 + 5 + LATER);
    uint64_t until;
    assert_int_equal(ha_evidence_now(h, "n3", T0 + 6 + LATER, &until), HA_EVIDENCE_BMC);
    /* n1's record from before it heard of term 7. */
    n1.rec.term = 6;
    assert_int_equal(ha_restarts(h, m, 3, T0 + 6 + LATER, rs, 4, why, sizeof why), 0);
    assert_string_equal(why, "n1's record does not show term 7 yet");
    n1.rec.term = 7;
    assert_int_equal(ha_restarts(h, m, 3, T0 + 7 + LATER, rs, 4, why, sizeof why), 2);
    assert_string_equal(rs[0].vm, "a");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_OPERATOR);
    assert_string_equal(rs[1].vm, "p");
    assert_int_equal(rs[1].evidence, HA_EVIDENCE_BMC);
    /* A protected VM an up, unfenced host shows stopped (its lease lapsed
     * while no leader answered) is started again; an unprotected one not. */
    add_vm(&n1, "b", true, 3, SHUTOFF);
    add_vm(&n1, "c", false, 0, SHUTOFF);
    assert_int_equal(ha_restarts(h, m, 3, T0 + 8 + LATER, rs, 4, why, sizeof why), 3);
    assert_string_equal(rs[0].vm, "b");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_UP);
    assert_string_equal(rs[1].vm, "a");
    assert_string_equal(rs[2].vm, "p");
    /* A new term starts afresh: nothing fenced, the wait from its start. */
    ha_observe(h, 8, true, T0 + 100000);
    assert_int_equal(ha_fenced_count(h), 0);
    ha_update(h, m, 3, T0 + 100000, ch, 4);
    assert_int_equal(ha_evidence_now(h, "n2", T0 + 100000 + WAIT - 1, &until), HA_EVIDENCE_NONE);
    assert_int_equal(until, T0 + 100000 + WAIT);
    /* Not leading: no restart, no answer. */
    ha_observe(h, 8, false, T0 + 200000);
    assert_int_equal(ha_restarts(h, m, 3, T0 + 200000, rs, 4, why, sizeof why), 0);
    struct fence_renewed r;
    renew(h, "n1", T0 + 200000, &r);
    assert_false(r.granted);
    ha_free(h);
}

/* Hosts that do not vote show the term in their records only when the
 * leader asks, in its answers to their renewals: while a restart waits and
 * a running host's record does not show the term. Never otherwise: after
 * each election every host would republish, and every host fetch them all. */
static void renewals_ask_for_the_term_only_while_a_restart_waits_for_it(void **state) {
    (void)state;
    struct ha *h = leader(7, T0);
    struct host n1, n2, n3;
    host_init(&n1, "n1", 6);
    host_init(&n2, "n2", 7);
    host_init(&n3, "n3", 6);
    add_vm(&n2, "a", true, 0, RUNNING);
    struct executor_member m[3] = {
        {&n1.rec, LEADER_HOST_UP, 0}, {&n2.rec, LEADER_HOST_UP, 0}, {&n3.rec, LEADER_HOST_OFF, 0}};
    struct ha_change ch[4];
    struct ha_restart rs[4];
    char why[256];
    struct fence_renewed r;
    /* Nothing to restart: n1's old term is asked for by no one. */
    assert_int_equal(ha_update(h, m, 3, T0, ch, 4), 0);
    assert_int_equal(ha_restarts(h, m, 3, T0, rs, 4, why, sizeof why), 0);
    renew(h, "n1", T0, &r);
    assert_true(r.granted);
    assert_false(r.show_term);
    /* n2 goes down: its VM waits for evidence, and for n1's record. n3,
     * off, is not waited for. */
    m[1].liveness = LEADER_HOST_DOWN;
    assert_int_equal(ha_update(h, m, 3, T0 + 1, ch, 4), 1);
    assert_int_equal(ha_restarts(h, m, 3, T0 + 1, rs, 4, why, sizeof why), 0);
    renew(h, "n1", T0 + 1, &r);
    assert_true(r.granted);
    assert_true(r.show_term);
    /* Evidence comes; n1's record, asked, shows the term: a restart, and
     * no more asking. */
    assert_true(ha_confirm(h, "n2", T0 + 2));
    assert_int_equal(ha_restarts(h, m, 3, T0 + 2, rs, 4, why, sizeof why), 0);
    assert_string_equal(why, "n1's record does not show term 7 yet");
    n1.rec.term = 7;
    assert_int_equal(ha_restarts(h, m, 3, T0 + 3, rs, 4, why, sizeof why), 1);
    renew(h, "n1", T0 + 3, &r);
    assert_false(r.show_term);
    /* A new term asks nothing until a restart waits again. */
    n1.rec.term = 6;
    assert_int_equal(ha_restarts(h, m, 3, T0 + 4, rs, 4, why, sizeof why), 0);
    ha_observe(h, 8, true, T0 + 5);
    renew(h, "n1", T0 + 5, &r);
    assert_true(r.granted);
    assert_false(r.show_term);
    ha_free(h);
}

/* The power-wait: after a power off the chassis status is read back every
 * second, and only a read that says off is evidence; still on after the
 * wait, the power off is sent again at once. A new term asks afresh. */
static void the_bmc_status_is_read_back_until_off(void **state) {
    (void)state;
    struct ha *h = leader(7, T0);
    struct host n1, n2;
    host_init(&n1, "n1", 7);
    host_init(&n2, "n2", 7);
    add_vm(&n2, "p", true, 0, RUNNING);
    n2.power.ipmi_address = "10.0.0.2";
    struct executor_member m[2] = {{&n1.rec, LEADER_HOST_UP, 0}, {&n2.rec, LEADER_HOST_DOWN, 0}};
    struct ha_change ch[4];
    assert_int_equal(ha_update(h, m, 2, T0, ch, 4), 1);
    char host[COMMAND_NAME_MAX];
    enum ha_bmc_step step;
    uint64_t until, t = T0;
    assert_true(ha_bmc_due(h, m, 2, t, host, sizeof host, &step));
    assert_int_equal(step, HA_BMC_POWER_OFF);
    /* Still on while the power-wait lasts: a status read every second,
     * no power off, no evidence. */
    uint64_t off_at = t;
    for (int i = 0; t + 1500 < off_at + HA_BMC_POWER_WAIT_MS; i++) {
        t += 500;
        ha_bmc_result(h, "n2", HA_BMC_READ_ON, t);
        assert_int_equal(ha_evidence_now(h, "n2", t, &until), HA_EVIDENCE_NONE);
        assert_false(ha_bmc_due(h, m, 2, t + HA_BMC_STATUS_EVERY_MS - 1, host, sizeof host, &step));
        t += HA_BMC_STATUS_EVERY_MS;
        assert_true(ha_bmc_due(h, m, 2, t, host, sizeof host, &step));
        assert_int_equal(step, HA_BMC_STATUS);
    }
    /* Still on after it: the power off again, at once. */
    t = off_at + HA_BMC_POWER_WAIT_MS;
    ha_bmc_result(h, "n2", HA_BMC_READ_ON, t);
    assert_true(ha_bmc_due(h, m, 2, t, host, sizeof host, &step));
    assert_int_equal(step, HA_BMC_POWER_OFF);
    /* Off read back 2 s later (the rig's chassis): fenced by its BMC,
     * nothing more asked. */
    ha_bmc_result(h, "n2", HA_BMC_READ_ON, t + 300);
    assert_true(ha_bmc_due(h, m, 2, t + 1300, host, sizeof host, &step));
    assert_int_equal(step, HA_BMC_STATUS);
    ha_bmc_result(h, "n2", HA_BMC_READ_OFF, t + 1600);
    assert_int_equal(ha_evidence_now(h, "n2", t + 1600, &until), HA_EVIDENCE_BMC);
    assert_false(ha_bmc_due(h, m, 2, t + 5000, host, sizeof host, &step));
    /* A result nobody asked for is no evidence: a new term starts afresh,
     * with a power off first, and a late read of the old term's is dropped. */
    ha_observe(h, 8, true, t + 2000);
    ha_update(h, m, 2, t + 2000, ch, 4);
    ha_bmc_result(h, "n2", HA_BMC_READ_OFF, t + 2001);
    assert_int_equal(ha_evidence_now(h, "n2", t + 2001, &until), HA_EVIDENCE_NONE);
    assert_true(ha_bmc_due(h, m, 2, t + 2002, host, sizeof host, &step));
    assert_int_equal(step, HA_BMC_POWER_OFF);
    ha_free(h);
}

static void candidates_keep_the_newest_definition_per_host(void **state) {
    (void)state;
    struct ha_defs *d = ha_defs_new();
    assert_non_null(d);
    struct definition_put p = {.vm = "a", .host = "n2", .epoch = 5, .seq = 2, .xml = "<domain/>"};
    enum ha_defs_put r;
    assert_false(ha_defs_put(d, &p, "n3", 1, &r)); /* not its own */
    assert_true(ha_defs_put(d, &p, "n2", 1, &r));
    assert_int_equal(r, HA_DEFS_NEW);
    struct definition_put older = p;
    older.seq = 1;
    snprintf(older.xml, sizeof older.xml, "<old/>");
    assert_true(ha_defs_put(d, &older, "n2", 2, &r));
    assert_int_equal(r, HA_DEFS_OLDER);
    assert_string_equal(ha_defs_get(d, "a", "n2")->xml, "<domain/>");
    struct definition_put restarted = p; /* a new boot epoch, seq from 1 */
    restarted.epoch = 6;
    restarted.seq = 1;
    snprintf(restarted.xml, sizeof restarted.xml, "<new/>");
    assert_true(ha_defs_put(d, &restarted, "n2", 3, &r));
    assert_int_equal(r, HA_DEFS_NEWER);
    assert_string_equal(ha_defs_get(d, "a", "n2")->xml, "<new/>");
    assert_true(ha_defs_put(d, &restarted, "n2", 4, &r));
    assert_int_equal(r, HA_DEFS_SAME);
    /* Per host: n1's copy of a is another. */
    struct definition_put other = p;
    snprintf(other.host, sizeof other.host, "n1");
    assert_true(ha_defs_put(d, &other, "n1", 5, &r));
    assert_int_equal(ha_defs_count(d), 2);
    assert_null(ha_defs_get(d, "b", "n2"));
    /* The leader restarted a on n3 with n2's copy: it keeps that as n3's
     * (version 0.0) until n3's own arrives, so a restart from n3 is
     * possible should n3 die first (the rig's bench lost VMs so); any
     * copy of n3's own is newer; a second seed changes nothing. */
    assert_true(ha_defs_seed(d, ha_defs_get(d, "a", "n2"), "n3", 6));
    assert_string_equal(ha_defs_get(d, "a", "n3")->xml, "<new/>");
    assert_int_equal(ha_defs_get(d, "a", "n3")->epoch, 0);
    assert_false(ha_defs_seed(d, &p, "n3", 7));
    struct definition_put own = p;
    snprintf(own.host, sizeof own.host, "n3");
    own.epoch = 1;
    own.seq = 1;
    snprintf(own.xml, sizeof own.xml, "<n3/>");
    assert_true(ha_defs_put(d, &own, "n3", 8, &r));
    assert_int_equal(r, HA_DEFS_NEWER);
    assert_string_equal(ha_defs_get(d, "a", "n3")->xml, "<n3/>");
    /* Full: the copy received longest ago goes. */
    for (int i = 0; i < HA_DEFS_MAX; i++) {
        struct definition_put q = p;
        snprintf(q.vm, sizeof q.vm, "v%d", i);
        assert_true(ha_defs_put(d, &q, "n2", 10 + (uint64_t)i, &r));
    }
    assert_int_equal(ha_defs_count(d), HA_DEFS_MAX);
    assert_null(ha_defs_get(d, "a", "n2"));
    assert_null(ha_defs_get(d, "a", "n1"));
    assert_null(ha_defs_get(d, "a", "n3"));
    ha_defs_free(d);
}

#define REFUTE 3600u /* ha_refute_ms of the agent's gossip defaults */

/* The CI failure of test_ha_rig: a healed partition's gossip showed rig4
 * dead (incarnation 0) and rig4 refuted it 0.2 s later, but the leader,
 * which had taken the death, fenced rig4 at once: its renewal was refused
 * with `fenced`, its run lease revoked, and it destroyed its protected
 * guests, which were restarted elsewhere. Shown down for less than the
 * refutation window, a host is not fenced and its renewals are answered;
 * shown down for the whole window, it is, and its self evidence comes
 * when it would have without the window (the wait counts from the last
 * answer). */
static void a_host_refuting_its_death_within_the_window_is_not_fenced(void **state) {
    (void)state;
    struct ha *h = leader_refuting(3, T0, REFUTE);
    struct fence_renewed r;
    renew(h, "n2", T0 + 1000, &r);
    assert_true(r.granted);
    struct host n1, n2;
    struct executor_member m[2];
    n2_down_with_a(&n1, &n2, m);
    struct ha_change ch[4];
    assert_int_equal(ha_update(h, m, 2, T0 + 2000, ch, 4), 0);
    assert_false(ha_fencing(h, "n2"));
    /* Its renewal within the window is answered: its lease holds. */
    renew(h, "n2", T0 + 2200, &r);
    assert_true(r.granted);
    assert_false(r.fenced);
    /* Refuted: up again, 3.5 s after the leader took its death. */
    assert_int_equal(ha_update(h, m, 2, T0 + 3000, ch, 4), 0);
    m[1].liveness = LEADER_HOST_UP;
    assert_int_equal(ha_update(h, m, 2, T0 + 5500, ch, 4), 0);
    assert_false(ha_fencing(h, "n2"));
    /* Down again: the window starts afresh, not from the first death. */
    m[1].liveness = LEADER_HOST_DOWN;
    assert_int_equal(ha_update(h, m, 2, T0 + 6000, ch, 4), 0);
    /* A round without its record breaks the row too. */
    assert_int_equal(ha_update(h, m, 1, T0 + 7000, ch, 4), 0);
    assert_int_equal(ha_update(h, m, 2, T0 + 8000, ch, 4), 0);
    assert_int_equal(ha_update(h, m, 2, T0 + 8000 + REFUTE - 1, ch, 4), 0);
    renew(h, "n2", T0 + 8000 + REFUTE - 1, &r);
    assert_true(r.granted);
    /* Nothing restarts meanwhile, and the leader says why. */
    struct ha_restart rs[4];
    char why[256];
    add_vm(&n1, "b", true, 0, SHUTOFF);
    assert_int_equal(ha_restarts(h, m, 2, T0 + 8000 + REFUTE - 1, rs, 4, why, sizeof why), 0);
    assert_string_equal(why, "n2 is down: fenced once shown down for 3.6 s in a row (a healthy "
                             "host refutes a false death within that)");
    n1.rec.n_vms = 0;
    /* Down for the whole window: fenced. */
    assert_int_equal(ha_update(h, m, 2, T0 + 8000 + REFUTE, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_FENCED);
    assert_string_equal(ch[0].host, "n2");
    renew(h, "n2", T0 + 8000 + REFUTE + 1, &r);
    assert_false(r.granted);
    assert_true(r.fenced);
    /* Its evidence: the wait from the last answer, as without a window. */
    uint64_t last = T0 + 8000 + REFUTE - 1;
    assert_int_equal(ha_restarts(h, m, 2, last + WAIT - 1, rs, 4, why, sizeof why), 0);
    assert_int_equal(ha_restarts(h, m, 2, last + WAIT, rs, 4, why, sizeof why), 1);
    assert_string_equal(rs[0].vm, "a");
    assert_int_equal(rs[0].evidence, HA_EVIDENCE_SELF);
    ha_free(h);
}

/* The window grows with log10 of the members, as gossip's suspicion
 * timeout does: among 100, twice the one of 10 or fewer. */
/* Two deaths that the rounds see as one row: the host came back (a new
 * incarnation) and a stale death arrived before the next round, which
 * shows it down again. The window starts at that round, not at the first
 * death (nodesim ha seed 2736 fenced such a host). */
static void a_new_incarnation_between_rounds_starts_the_window_again(void **state) {
    (void)state;
    struct ha *h = leader_refuting(3, T0, REFUTE);
    struct host n1, n2;
    struct executor_member m[2];
    n2_down_with_a(&n1, &n2, m);
    struct ha_change ch[4];
    m[1].incarnation = 4;
    assert_int_equal(ha_update(h, m, 2, T0 + 2000, ch, 4), 0);
    assert_int_equal(ha_update(h, m, 2, T0 + 3000, ch, 4), 0);
    m[1].incarnation = 5;
    assert_int_equal(ha_update(h, m, 2, T0 + 2000 + REFUTE, ch, 4), 0);
    assert_false(ha_fencing(h, "n2"));
    assert_int_equal(ha_update(h, m, 2, T0 + 2000 + 2 * REFUTE - 1, ch, 4), 0);
    assert_false(ha_fencing(h, "n2"));
    /* Down at that incarnation for the whole window: fenced. */
    assert_int_equal(ha_update(h, m, 2, T0 + 2000 + 2 * REFUTE, ch, 4), 1);
    assert_int_equal(ch[0].kind, HA_FENCED);
    ha_free(h);
}

static void the_refutation_window_grows_with_the_members(void **state) {
    (void)state;
    enum { N = 100 };
    static struct host hs[N];
    static struct executor_member m[N];
    static char names[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i + 1);
        host_init(&hs[i], names[i], 3);
        m[i] = (struct executor_member){&hs[i].rec, LEADER_HOST_UP, 0};
    }
    m[1].liveness = LEADER_HOST_DOWN;
    struct ha *h = leader_refuting(3, T0, REFUTE);
    struct ha_change ch[4];
    assert_int_equal(ha_update(h, m, N, T0, ch, 4), 0);
    assert_int_equal(ha_update(h, m, N, T0 + 2 * REFUTE - 1, ch, 4), 0);
    assert_int_equal(ha_update(h, m, N, T0 + 2 * REFUTE, ch, 4), 1);
    assert_string_equal(ch[0].host, "n2");
    ha_free(h);
    struct gossip_config g;
    gossip_config_defaults(&g);
    assert_int_equal(ha_refute_ms(&g), REFUTE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_down_host_is_fenced_and_its_vms_restart_after_the_wait),
        cmocka_unit_test(a_host_refuting_its_death_within_the_window_is_not_fenced),
        cmocka_unit_test(a_new_incarnation_between_rounds_starts_the_window_again),
        cmocka_unit_test(the_refutation_window_grows_with_the_members),
        cmocka_unit_test(a_restart_whose_target_dies_while_starting_it_is_not_sent_again),
        cmocka_unit_test(a_lease_regained_in_the_same_term_keeps_the_restarts_in_flight),
        cmocka_unit_test(a_succeeded_define_waits_for_a_later_sample),
        cmocka_unit_test(a_fenced_host_back_before_its_evidence_stays_fenced),
        cmocka_unit_test(a_restart_known_only_to_the_leader_is_offered_until_sent),
        cmocka_unit_test(a_restart_on_a_host_being_woken_stays_in_flight_through_the_wake),
        cmocka_unit_test(a_vm_stopped_on_an_up_host_restarts_in_place),
        cmocka_unit_test(a_failed_restart_in_place_is_relocated),
        cmocka_unit_test(an_off_hosts_older_record_holds_no_restart_back),
        cmocka_unit_test(what_holds_restarts_back),
        cmocka_unit_test(renewals_ask_for_the_term_only_while_a_restart_waits_for_it),
        cmocka_unit_test(the_bmc_status_is_read_back_until_off),
        cmocka_unit_test(candidates_keep_the_newest_definition_per_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
