/* Gossiped records -> the planner's snapshot (src/leader/leader_snapshot.c):
 * capacities, flags, liveness, running VMs only, migrations in flight and
 * finished, names in reasons, and a real planning round over the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "leader/leader_snapshot.h"

/* Three hosts: n1 (candidate, up, 4 x 2000 MHz, 8 GiB) runs web (2 vCPUs,
 * 25 %), db (moving to n2) and a stopped VM; n2 is drained and runs batch;
 * n3 is down; n4's hypervisor is unavailable. A move of web succeeded, one
 * of batch was refused. */
struct world {
    Nodectl__HostRecord rec[4];
    Nodectl__Hypervisor hv[4];
    Nodectl__Capacity cap[4];
    Nodectl__Usage use[4];
    Nodectl__Power pw[4];
    Nodectl__Vm vm[4];
    Nodectl__Vm *n1_vms[3], *n2_vms[1];
    Nodectl__Migration mig[3];
    Nodectl__Migration *n1_migs[3];
    struct leader_member members[4];
};

static void host(struct world *w, int i, const char *name, bool up_hv) {
    nodectl__host_record__init(&w->rec[i]);
    nodectl__hypervisor__init(&w->hv[i]);
    nodectl__capacity__init(&w->cap[i]);
    nodectl__usage__init(&w->use[i]);
    w->rec[i].name = (char *)name;
    w->rec[i].hypervisor = &w->hv[i];
    w->rec[i].capacity = &w->cap[i];
    w->rec[i].usage = &w->use[i];
    nodectl__power__init(&w->pw[i]);
    w->pw[i].can_power_off = true;
    w->pw[i].wake_mac = "52:54:00:00:00:01";
    w->pw[i].wake_broadcast = "10.0.0.255:9";
    w->pw[i].network = "10.0.0.0/24";
    w->rec[i].power = &w->pw[i];
    w->hv[i].available = up_hv;
    w->rec[i].migration_uri = up_hv ? "test:///default" : "";
    w->cap[i].cpus = 4;
    w->cap[i].cpu_mhz = 2000;
    w->cap[i].memory_kib = 8u << 20;
    w->use[i].cpu_percent = 50;
    w->use[i].load15 = 1.5;
    w->members[i] = (struct leader_member){.rec = &w->rec[i], .liveness = LEADER_HOST_UP, 0};
}

static void vm(struct world *w, int i, const char *name, uint32_t vcpus, double pct,
               Nodectl__VmState st) {
    nodectl__vm__init(&w->vm[i]);
    w->vm[i].name = (char *)name;
    w->vm[i].vcpus = vcpus;
    w->vm[i].memory_kib = 1u << 20;
    w->vm[i].cpu_percent = pct;
    w->vm[i].state = st;
}

static void world_init(struct world *w) {
    memset(w, 0, sizeof *w);
    host(w, 0, "n1", true);
    host(w, 1, "n2", true);
    host(w, 2, "n3", true);
    host(w, 3, "n4", false);
    w->rec[0].candidate = true;
    w->rec[1].drain = true;
    w->members[2].liveness = LEADER_HOST_DOWN;
    vm(w, 0, "web", 2, 25, NODECTL__VM_STATE__VM_STATE_RUNNING);
    vm(w, 1, "db", 1, 80, NODECTL__VM_STATE__VM_STATE_RUNNING);
    vm(w, 2, "off", 1, 0, NODECTL__VM_STATE__VM_STATE_SHUTOFF);
    vm(w, 3, "batch", 1, 10, NODECTL__VM_STATE__VM_STATE_RUNNING);
    w->n1_vms[0] = &w->vm[0];
    w->n1_vms[1] = &w->vm[1];
    w->n1_vms[2] = &w->vm[2];
    w->n2_vms[0] = &w->vm[3];
    w->rec[0].vms = w->n1_vms;
    w->rec[0].n_vms = 3;
    w->rec[1].vms = w->n2_vms;
    w->rec[1].n_vms = 1;
    for (int k = 0; k < 3; k++) {
        nodectl__migration__init(&w->mig[k]);
        w->n1_migs[k] = &w->mig[k];
    }
    w->mig[0].vm = "db";
    w->mig[0].destination = "n2";
    w->mig[0].state = "running";
    w->mig[1].vm = "web";
    w->mig[1].destination = "n1";
    w->mig[1].state = "succeeded";
    w->mig[1].ended_at_ms = 5000;
    w->mig[2].vm = "batch";
    w->mig[2].destination = "n1";
    w->mig[2].state = "refused";
    w->mig[2].ended_at_ms = 7000;
    w->rec[0].migrations = w->n1_migs;
    w->rec[0].n_migrations = 3;
}

/* Decodes the members' reports as they stand now, then builds. */
static int build(struct world *w, struct leader_snapshot *s) {
    leader_view_release(w->members, 4);
    assert_int_equal(leader_view_decode(w->members, 4), 0);
    return leader_snapshot_build(s, w->members, 4, 100, 250);
}

static void done(struct world *w, struct leader_snapshot *s) {
    leader_snapshot_free(s);
    leader_view_release(w->members, 4);
}

static void hosts_carry_capacity_flags_and_liveness(void **state) {
    struct world w;
    struct leader_snapshot s;
    world_init(&w);
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.n_hosts, 4);
    const struct placement_host *h = s.snap.hosts;
    assert_int_equal(h[0].cores, 4);
    assert_true(h[0].core_mips == 2000);
    assert_int_equal(h[0].mem_mb, 8192);
    assert_true(h[0].cpu_measured == 0.5);
    assert_true(h[0].loadavg15 == 1.5);
    assert_int_equal(h[0].flags, PLACEMENT_HOST_CANDIDATE);
    assert_int_equal(h[1].flags, PLACEMENT_HOST_DRAIN);
    assert_int_equal(h[2].flags, PLACEMENT_HOST_FAILED);
    assert_int_equal(h[3].flags, PLACEMENT_HOST_FAILED | PLACEMENT_HOST_NO_INBOUND);
    assert_int_equal(h[0].power_state, PLACEMENT_HOST_ON);
    /* db moves from n1 to n2: both count it; n3 and n4 nothing. */
    assert_int_equal(h[0].migrations_in_flight, 1);
    assert_int_equal(h[1].migrations_in_flight, 1);
    assert_int_equal(h[2].migrations_in_flight, 0);
    /* The linear model: 100 W idle, 250 W full, 175 W half. */
    assert_true(placement_power_watts(h[0].power, 0) == 100);
    assert_true(placement_power_watts(h[0].power, 1) == 250);
    assert_true(placement_power_watts(h[0].power, 0.5) == 175);
    done(&w, &s);

    w.members[2].liveness = LEADER_HOST_OFF;
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[2].power_state, PLACEMENT_HOST_OFF);
    assert_int_equal(s.snap.hosts[2].flags, 0);
    done(&w, &s);

    /* A host without a migration URI takes no migrations. */
    w.rec[0].migration_uri = "";
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[0].flags, PLACEMENT_HOST_CANDIDATE | PLACEMENT_HOST_NO_INBOUND);
    done(&w, &s);
}

/* Power: a host without an off command is kept on; an off host is a
 * power-on candidate only if it can be woken and did not fail to come back;
 * a host the leader woke carries that time for the wake cool-down. */
static void power_flags_and_wake_times(void **state) {
    struct world w;
    struct leader_snapshot s;
    world_init(&w);
    w.pw[1].can_power_off = false;
    w.members[2].liveness = LEADER_HOST_OFF; /* n3: off, wakeable */
    w.members[3].liveness = LEADER_HOST_OFF; /* n4: off, no MAC */
    w.pw[3].wake_mac = "";
    w.members[0].woken_at_ms = 90000;
    w.members[0].keep_on = true;
    assert_int_equal(build(&w, &s), 0);
    const struct placement_host *h = s.snap.hosts;
    assert_int_equal(h[0].flags, PLACEMENT_HOST_CANDIDATE | PLACEMENT_HOST_KEEP_ON);
    assert_int_equal(h[1].flags, PLACEMENT_HOST_DRAIN | PLACEMENT_HOST_KEEP_ON);
    assert_int_equal(h[2].flags, 0);
    assert_int_equal(h[2].power_state, PLACEMENT_HOST_OFF);
    assert_int_equal(h[3].flags & PLACEMENT_HOST_FAILED, PLACEMENT_HOST_FAILED);
    assert_true(h[0].powered_on_at == 90.0);
    assert_true(h[1].powered_on_at < -1e200);
    done(&w, &s);
    w.members[2].failed = true;
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[2].flags, PLACEMENT_HOST_FAILED);
    done(&w, &s);
    (void)state;
}

/* A protected VM stopped on a host, running on no up host, waits for its
 * restart there (docs/ha.md): the host is kept on, so that no plan powers
 * it off with the VM's only definition. Once another up host runs it, the
 * stopped copy is stale and holds nothing. */
static void a_host_with_a_protected_vm_waiting_for_its_restart_stays_on(void **state) {
    struct world w;
    struct leader_snapshot s;
    world_init(&w);
    w.rec[0].candidate = false;
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[0].flags, 0);
    done(&w, &s);
    w.vm[2].ha = true; /* n1's stopped "off" */
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[0].flags, PLACEMENT_HOST_KEEP_ON);
    done(&w, &s);
    w.vm[3].name = "off"; /* n2 runs it now */
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[0].flags, 0);
    done(&w, &s);
    w.members[1].liveness = LEADER_HOST_DOWN; /* a down host's record proves nothing */
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[0].flags, PLACEMENT_HOST_KEEP_ON);
    done(&w, &s);
    (void)state;
}

/* Power actions in records are not migrations: no VM history, no foreign
 * migration for a takeover to wait for. */
static void power_actions_are_not_migrations(void **state) {
    struct world w;
    struct leader_snapshot s;
    world_init(&w);
    w.mig[0].kind = "wake";
    w.mig[0].vm = "db"; /* the woken host's name could be anything */
    size_t count;
    assert_int_equal(leader_view_decode(w.members, 4), 0);
    assert_null(leader_view_foreign_migration(w.members, 4, NULL, 0, &count));
    assert_int_equal(count, 0);
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[0].migrations_in_flight, 0);
    for (size_t v = 0; v < s.snap.n_vms; v++)
        assert_false(s.snap.vms[v].in_migration);
    done(&w, &s);
    (void)state;
}

static void vms_are_the_running_ones_with_demand_and_moves(void **state) {
    struct world w;
    struct leader_snapshot s;
    world_init(&w);
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.n_vms, 3); /* web, db, batch; not the stopped one */
    const struct placement_vm *v = s.snap.vms;
    assert_string_equal(s.vm_rec[0]->name, "web");
    assert_int_equal(v[0].host, 0);
    assert_int_equal(v[0].vcpus, 2);
    assert_true(v[0].mips == 4000);
    assert_true(v[0].cpu_mips == 1000); /* 25 % of 2 x 2000 */
    assert_int_equal(v[0].mem_mb, 1024);
    assert_int_equal(v[0].history_len, 1);
    assert_true(v[0].history[0] == 0.25);
    assert_true(v[0].last_migrated_at == 5.0);
    assert_false(v[0].in_migration);
    assert_string_equal(s.vm_rec[1]->name, "db");
    assert_true(v[1].in_migration);
    assert_true(v[1].last_migrated_at < -1e299);
    assert_string_equal(s.vm_rec[2]->name, "batch");
    assert_int_equal(v[2].host, 1);
    /* Its refused attempt starts the cool-down like a move would. */
    assert_true(v[2].last_migrated_at == 7.0);
    done(&w, &s);
}

static void reasons_name_hosts_and_vms(void **state) {
    struct world w;
    struct leader_snapshot s;
    char out[PLACEMENT_REASON_MAX];
    world_init(&w);
    assert_int_equal(build(&w, &s), 0);
    leader_snapshot_explain(&s, "host 1 in drain: evacuating VM 2 to host 0", out, sizeof out);
    assert_string_equal(out, "host n2 in drain: evacuating VM batch to host n1");
    /* Ids out of range and words that merely start alike stay as written. */
    leader_snapshot_explain(&s, "host 9 hostile VM x", out, sizeof out);
    assert_string_equal(out, "host 9 hostile VM x");
    leader_snapshot_explain(&s, "host 0 and more", out, 8);
    assert_string_equal(out, "host n1");
    done(&w, &s);
}

/* Snapshot and plan with the agent's default policy, at 10,000 s. */
static void plan_world(struct world *w, struct leader_snapshot *s,
                       struct placement_plan *plan) {
    struct placement_policy pol;
    struct prng rng;
    assert_int_equal(build(w, s), 0);
    assert_int_equal(placement_policy_by_name("default", -1, &pol), 0);
    prng_seed(&rng, 1);
    placement_plan_init(plan);
    assert_int_equal(placement_plan(&s->snap, &pol, 10000, &rng, plan), 0);
}

/* The planner, run on the snapshot, evacuates the drained host onto the
 * only usable one and never targets the drained, down or failed hosts. */
static void the_planner_evacuates_the_drained_host(void **state) {
    struct world w;
    struct leader_snapshot s;
    struct placement_plan plan;
    world_init(&w);
    plan_world(&w, &s, &plan);
    size_t moves = 0;
    for (size_t i = 0; i < plan.n_actions; i++) {
        const struct placement_action *a = &plan.actions[i];
        if (a->kind != PLACEMENT_MIGRATE)
            continue;
        moves++;
        assert_int_equal(a->host, 0);
        assert_string_equal(s.vm_rec[a->vm]->name, "batch");
        assert_int_equal(a->from, 1);
    }
    assert_int_equal(moves, 1);
    placement_plan_free(&plan);
    done(&w, &s);
}

/* A new leader finds db moving (command c-db, of an earlier term): it is
 * foreign until the leader recognises the id as its own, and only running
 * migrations of live hosts count. */
static void takeover_sees_migrations_still_running(void **state) {
    struct world w;
    size_t count;
    world_init(&w);
    w.mig[0].id = "c-db";
    w.mig[1].id = "c-web";
    w.mig[2].id = "c-batch";
    assert_int_equal(leader_view_decode(w.members, 4), 0);
    const struct report *m = leader_view_foreign_migration(w.members, 4, NULL, 0, &count);
    assert_non_null(m);
    assert_string_equal(m->m->id, "c-db");
    assert_int_equal(count, 1);
    const char *own[] = {"c-web", "c-db"};
    assert_null(leader_view_foreign_migration(w.members, 4, own, 2, &count));
    assert_int_equal(count, 0);
    w.members[0].liveness = LEADER_HOST_DOWN;
    assert_null(leader_view_foreign_migration(w.members, 4, NULL, 0, &count));
    leader_view_release(w.members, 4);
}

/* The planner never moves a VM already moving: with n1 drained, web is
 * evacuated to n2 and db, in flight, is left alone. */
static void a_vm_in_flight_is_never_planned_again(void **state) {
    struct world w;
    struct leader_snapshot s;
    struct placement_plan plan;
    world_init(&w);
    w.rec[0].drain = true;
    w.rec[1].drain = false;
    plan_world(&w, &s, &plan);
    bool web = false;
    for (size_t i = 0; i < plan.n_actions; i++) {
        const struct placement_action *a = &plan.actions[i];
        if (a->kind != PLACEMENT_MIGRATE)
            continue;
        assert_string_not_equal(s.vm_rec[a->vm]->name, "db");
        web |= strcmp(s.vm_rec[a->vm]->name, "web") == 0 && a->host == 1;
    }
    assert_true(web);
    placement_plan_free(&plan);
    done(&w, &s);
}

/* An off host is planned with what its last record gave, even when its
 * hypervisor was unavailable just before it went off (the agent keeps its
 * last capacity then): the planner wakes it for an overloaded host. With
 * no capacity known at all it is failed, with a reason, never a 0 MB host
 * that is silently never chosen. */
static void an_off_host_is_woken_with_its_last_capacity(void **state) {
    struct world w;
    struct leader_snapshot s;
    struct placement_plan plan;
    char why[LEADER_UNUSABLE_MAX];
    world_init(&w);
    w.members[3].liveness = LEADER_HOST_OFF; /* n4 */
    w.hv[3].reason = "cannot connect to libvirtd";
    w.rec[3].migration_uri = "test:///default";
    w.use[0].cpu_percent = 99; /* n1 overloaded; n2 drained, n3 down */
    w.vm[0].cpu_percent = w.vm[1].cpu_percent = 99;
    plan_world(&w, &s, &plan);
    const struct placement_host *h = &s.snap.hosts[3];
    assert_int_equal(h->power_state, PLACEMENT_HOST_OFF);
    assert_int_equal(h->flags & PLACEMENT_HOST_FAILED, 0);
    assert_int_equal(h->mem_mb, 8192);
    assert_int_equal(h->cores, 4);
    assert_null(leader_host_unusable(&w.rec[3], LEADER_HOST_OFF, false, why, sizeof why));
    bool woken = false;
    for (size_t i = 0; i < plan.n_actions; i++)
        woken |= plan.actions[i].kind == PLACEMENT_POWER_ON && plan.actions[i].host == 3;
    assert_true(woken);
    placement_plan_free(&plan);
    done(&w, &s);

    w.cap[3].cpus = 0;
    w.cap[3].memory_kib = 0;
    assert_int_equal(build(&w, &s), 0);
    assert_int_equal(s.snap.hosts[3].flags & PLACEMENT_HOST_FAILED, PLACEMENT_HOST_FAILED);
    assert_non_null(leader_host_unusable(&w.rec[3], LEADER_HOST_OFF, false, why, sizeof why));
    assert_string_equal(why, "off: its capacity is unknown (cannot connect to libvirtd before "
                             "it went off)");
    done(&w, &s);
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hosts_carry_capacity_flags_and_liveness),
        cmocka_unit_test(vms_are_the_running_ones_with_demand_and_moves),
        cmocka_unit_test(power_flags_and_wake_times),
        cmocka_unit_test(a_host_with_a_protected_vm_waiting_for_its_restart_stays_on),
        cmocka_unit_test(power_actions_are_not_migrations),
        cmocka_unit_test(reasons_name_hosts_and_vms),
        cmocka_unit_test(the_planner_evacuates_the_drained_host),
        cmocka_unit_test(takeover_sees_migrations_still_running),
        cmocka_unit_test(a_vm_in_flight_is_never_planned_again),
        cmocka_unit_test(an_off_host_is_woken_with_its_last_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
