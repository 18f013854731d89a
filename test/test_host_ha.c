/* The host's side of HA restart, pure (src/host/host_ha.c): the protected
 * gate's file, which qemu hook calls it refuses, whether a domain's XML is
 * protected, and the reconcile's verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "host/host_ha.h"

static void gate_round_trip(void **state) {
    (void)state;
    struct host_ha_gate g = {.state = HOST_HA_READY, .pid = 4242, .start = 123456789ULL}, back;
    char text[HOST_HA_TEXT_MAX + 64];
    host_ha_gate_format(&g, text, sizeof text);
    assert_string_equal(text, "ready pid=4242 start=123456789\n");
    assert_int_equal(host_ha_gate_parse(text, &back), 0);
    assert_int_equal(back.state, HOST_HA_READY);
    assert_int_equal(back.pid, 4242);
    assert_true(back.start == 123456789ULL);

    g = (struct host_ha_gate){.state = HOST_HA_FENCED};
    snprintf(g.reason, sizeof g.reason, "the self-fence lease lapsed");
    host_ha_gate_format(&g, text, sizeof text);
    assert_string_equal(text, "fenced: the self-fence lease lapsed\n");
    assert_int_equal(host_ha_gate_parse(text, &back), 0);
    assert_int_equal(back.state, HOST_HA_FENCED);
    assert_string_equal(back.reason, "the self-fence lease lapsed");

    assert_int_equal(host_ha_gate_parse("reconciling\n", &back), 0);
    assert_int_equal(back.state, HOST_HA_RECONCILING);
    assert_string_equal(back.reason, "");

    static const char *bad[] = {"", "ready\n", "ready pid=0 start=1\n", "ready pid=12\n",
                                "ready pid=12 start=x\n", "ready pid=12 start=5 more\n",
                                "open\n", "fencedx\n", "fenced: a\nsecond line\n",
                                "reconciling:no space\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(host_ha_gate_parse(bad[i], &back), -1);
}

/* libvirt's QEMU status file, as /run/libvirt/qemu/NAME.xml holds it
 * (abridged): the QEMU process's pid on <domstatus>, the live <domain>. */
static const char *status_xml(char *buf, size_t len, const char *pid, const char *ha) {
    snprintf(buf, len,
             "<domstatus state='running' reason='booted' pid='%s'>"
             "<taint flag='high-privileges'/><monitor path='/var/lib/libvirt/qemu/m' type='unix'/>"
             "<domain type='kvm' id='7'><name>db,1</name><uuid>0d3e0000-0000-0000-0000-"
             "000000000000</uuid><metadata><nodectl:placement xmlns:nodectl="
             "'https://nodectl.example/xmlns/placement/1' pinned='no' ha='%s'/></metadata>"
             "<memory unit='KiB'>1048576</memory></domain></domstatus>",
             pid, ha);
    return buf;
}

static void qemu_status_files(void **state) {
    (void)state;
    char x[2048];
    struct host_ha_status st;
    status_xml(x, sizeof x, "4242", "yes");
    assert_int_equal(host_ha_status_parse(x, strlen(x), &st), 0);
    assert_string_equal(st.name, "db,1");
    assert_int_equal(st.pid, 4242);
    assert_int_equal(st.protected, 1);
    status_xml(x, sizeof x, "4242", "no");
    assert_int_equal(host_ha_status_parse(x, strlen(x), &st), 0);
    assert_int_equal(st.protected, 0);
    status_xml(x, sizeof x, "4242", "maybe");
    assert_int_equal(host_ha_status_parse(x, strlen(x), &st), 0);
    assert_int_equal(st.protected, -1);
    /* No QEMU process to name, or not a status at all. */
    static const char *pids[] = {"0", "-3", "12x", ""};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++) {
        status_xml(x, sizeof x, pids[i], "yes");
        assert_int_equal(host_ha_status_parse(x, strlen(x), &st), -1);
    }
    const char *domain = "<domain type='kvm'><name>db</name></domain>";
    assert_int_equal(host_ha_status_parse(domain, strlen(domain), &st), -1);
    const char *noname = "<domstatus pid='5'><domain type='kvm'></domain></domstatus>";
    assert_int_equal(host_ha_status_parse(noname, strlen(noname), &st), -1);
    assert_int_equal(host_ha_status_parse("<domstatus", 10, &st), -1);
}

static bool runs(const char *args, size_t len, const char *name) {
    return host_ha_cmdline_runs(args, len, name);
}
#define RUNS(lit, name) runs(lit, sizeof lit, name)

static void qemu_cmdline_names_its_guest(void **state) {
    (void)state;
    assert_true(RUNS("/usr/bin/qemu-system-x86_64\0-name\0guest=db,debug-threads=on\0-S", "db"));
    assert_true(RUNS("qemu-kvm\0-name\0guest=db", "db"));
    /* A ',' in the name is doubled. */
    assert_true(RUNS("qemu\0-name\0guest=a,,b,debug-threads=on", "a,b"));
    assert_false(RUNS("qemu\0-name\0guest=a,,b,debug-threads=on", "a"));
    assert_false(RUNS("qemu\0-name\0guest=a,b", "a,b"));
    /* Another guest, a prefix, another process that reused the pid. */
    assert_false(RUNS("qemu\0-name\0guest=db2,debug-threads=on", "db"));
    assert_false(RUNS("qemu\0-name\0guest=d", "db"));
    assert_false(RUNS("bash\0-c\0sleep 5", "db"));
    assert_false(RUNS("qemu\0-name", "db"));
    assert_false(RUNS("qemu\0-name\0db", "db"));
    /* A zombie's cmdline is empty. */
    assert_false(runs("", 0, "db"));
}

static void proc_start_field(void **state) {
    (void)state;
    unsigned long long t;
    /* A command name with spaces and parentheses. */
    const char *stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 3 1 0 0 20 0 1 0 "
                       "987654 12345678 300 18446744073709551615\n";
    assert_int_equal(host_ha_proc_start(stat, &t), 0);
    assert_true(t == 987654ULL);
    assert_int_equal(host_ha_proc_start("4242 (x) S 1 2 3\n", &t), -1);
    assert_int_equal(host_ha_proc_start("no parenthesis", &t), -1);
}

#define NS "https://nodectl.example/xmlns/placement/1"

static int prot(const char *xml) {
    return host_ha_xml_protected(xml, strlen(xml));
}

static void xml_protection(void **state) {
    (void)state;
    assert_int_equal(prot("<domain type='kvm'><name>a</name><metadata><nodectl:placement "
                          "xmlns:nodectl='" NS "' pinned='no' ha='yes' ha_priority='5'/>"
                          "</metadata></domain>"), 1);
    /* Another prefix for the same namespace is the same element. */
    assert_int_equal(prot("<domain><metadata><p:placement xmlns:p='" NS "' ha='yes'/>"
                          "</metadata></domain>"), 1);
    assert_int_equal(prot("<domain><metadata><nodectl:placement xmlns:nodectl='" NS "' "
                          "ha='no'/></metadata></domain>"), 0);
    assert_int_equal(prot("<domain><metadata><nodectl:placement xmlns:nodectl='" NS "' "
                          "pinned='yes'/></metadata></domain>"), 0);
    assert_int_equal(prot("<domain><name>vm1</name></domain>"), 0);
    /* Someone else's element of that name protects nothing. */
    assert_int_equal(prot("<domain><metadata><x:placement xmlns:x='urn:other' ha='yes'/>"
                          "</metadata></domain>"), 0);
    /* What cannot be read: not a domain, a value that is neither. */
    assert_int_equal(prot("<domain><metadata><n:placement xmlns:n='" NS "' ha='maybe'/>"
                          "</metadata></domain>"), -1);
    assert_int_equal(prot("<network/>"), -1);
    assert_int_equal(prot("not xml"), -1);
    assert_int_equal(host_ha_xml_protected("", 0), -1);
}

static void hook_refusals(void **state) {
    (void)state;
    char why[1024];
    struct host_ha_gate ready = {.state = HOST_HA_READY, .pid = 1, .start = 2};
    struct host_ha_gate rec = {.state = HOST_HA_RECONCILING};
    snprintf(rec.reason, sizeof rec.reason, "waiting for a leader that holds its lease");
    struct host_ha_gate fenced = {.state = HOST_HA_FENCED};
    /* Only the start of a protected (or unreadable) domain is refused. */
    assert_false(host_ha_refuses("prepare", "begin", 0, NULL, false, why, sizeof why));
    assert_false(host_ha_refuses("migrate", "begin", 1, &rec, false, why, sizeof why));
    assert_false(host_ha_refuses("started", "begin", 1, &rec, false, why, sizeof why));
    assert_false(host_ha_refuses("reconnect", "begin", 1, &fenced, false, why, sizeof why));
    assert_false(host_ha_refuses("prepare", "end", 1, &fenced, false, why, sizeof why));
    assert_false(host_ha_refuses("release", "end", 1, NULL, false, why, sizeof why));
    /* Ready and its agent runs: let in. */
    assert_false(host_ha_refuses("prepare", "begin", 1, &ready, true, why, sizeof why));
    assert_false(host_ha_refuses("prepare", "begin", -1, &ready, true, why, sizeof why));
    /* Every other case refuses, with its reason. */
    assert_true(host_ha_refuses("prepare", "begin", 1, &ready, false, why, sizeof why));
    assert_non_null(strstr(why, "is gone"));
    assert_true(host_ha_refuses("prepare", "begin", 1, &rec, true, why, sizeof why));
    assert_non_null(strstr(why, "waiting for a leader"));
    assert_true(host_ha_refuses("prepare", "begin", 1, &fenced, true, why, sizeof why));
    assert_non_null(strstr(why, "fenced itself"));
    assert_true(host_ha_refuses("prepare", "begin", 1, NULL, false, why, sizeof why));
    assert_non_null(strstr(why, "has not run yet"));
    assert_true(host_ha_refuses("prepare", "begin", -1, &rec, false, why, sizeof why));
    assert_non_null(strstr(why, "cannot be read"));
}

static struct hv_domain_now local(bool active, enum hv_job job, unsigned char id) {
    struct hv_domain_now d = {.active = active, .job = job, .persistent = true,
                              .state = active ? HV_VM_RUNNING : HV_VM_SHUTOFF};
    snprintf(d.name, sizeof d.name, "vm%u", id);
    memset(d.uuid, id, sizeof d.uuid);
    return d;
}

static struct host_ha_copy copy(const char *host, unsigned char id, enum hv_vm_state s) {
    struct host_ha_copy c = {.host = host, .state = s};
    memset(c.uuid, id, sizeof c.uuid);
    return c;
}

static void reconcile_verdicts(void **state) {
    (void)state;
    char why[512];
    struct hv_domain_now off = local(false, HV_JOB_NONE, 7), on = local(true, HV_JOB_NONE, 7);
    struct host_ha_copy running = copy("rig2", 7, HV_VM_RUNNING);
    struct host_ha_copy other = copy("rig2", 8, HV_VM_RUNNING);
    struct host_ha_copy stopped = copy("rig3", 7, HV_VM_SHUTOFF);
    struct host_ha_copy paused = copy("rig3", 7, HV_VM_PAUSED);
    /* Nothing elsewhere: kept, the leader decides. */
    assert_int_equal(host_ha_reconcile(&off, NULL, NULL, 0, why, sizeof why), HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&off, NULL, &other, 1, why, sizeof why), HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&off, NULL, &stopped, 1, why, sizeof why), HOST_HA_KEEP);
    /* Shut off here, active elsewhere: the definition here is stale. */
    struct host_ha_copy two[] = {stopped, running};
    assert_int_equal(host_ha_reconcile(&off, NULL, two, 2, why, sizeof why), HOST_HA_UNDEFINE);
    assert_non_null(strstr(why, "rig2"));
    /* Not for a copy paused elsewhere: a migration's arrival may fail yet. */
    assert_int_equal(host_ha_reconcile(&off, NULL, &paused, 1, why, sizeof why), HOST_HA_KEEP);
    /* Running here and for sure elsewhere: this copy is stopped. */
    assert_int_equal(host_ha_reconcile(&on, NULL, &running, 1, why, sizeof why), HOST_HA_DESTROY);
    /* Not while the other copy may be a migration's arrival, nor while a
     * job runs here. */
    assert_int_equal(host_ha_reconcile(&on, NULL, &paused, 1, why, sizeof why), HOST_HA_KEEP);
    struct hv_domain_now leaving = local(true, HV_JOB_MIGRATION_OUT, 7);
    assert_int_equal(host_ha_reconcile(&leaving, NULL, &running, 1, why, sizeof why), HOST_HA_KEEP);
}

/* One sample at `at` showing the domains `ids` active (ids end with 0). */
static void sample(struct host_ha_ran *t, uint64_t at, const unsigned char *ids) {
    host_ha_ran_begin(t);
    for (; *ids; ids++) {
        unsigned char uuid[16];
        memset(uuid, *ids, sizeof uuid);
        host_ha_ran_seen(t, uuid, at);
    }
    host_ha_ran_end(t, at);
}

static struct host_ha_copy copy_at(const char *host, unsigned char id, uint64_t sampled_at) {
    struct host_ha_copy c = copy(host, id, HV_VM_RUNNING);
    c.sampled_at_ms = sampled_at;
    return c;
}

/* Shut off here: a peer's record counts only when sampled after the last
 * sample that showed it running here. A host back from a partition holds
 * its peers' records of before the cut: one that shows the VM running
 * elsewhere but was sampled before it last ran here proves nothing; a
 * newer one does. */
static void a_stopped_copy_counts_records_after_its_last_run_here(void **state) {
    (void)state;
    char why[512];
    struct hv_domain_now off = local(false, HV_JOB_NONE, 7);
    struct host_ha_ran t;
    host_ha_ran_init(&t, 500);
    sample(&t, 800, (const unsigned char[]){7, 0});
    sample(&t, 1000, (const unsigned char[]){7, 0});
    sample(&t, 1200, (const unsigned char[]){0});
    struct host_ha_copy old = copy_at("rig1", 7, 1000), fresh = copy_at("rig1", 7, 1001);
    assert_int_equal(host_ha_reconcile(&off, &t, &old, 1, why, sizeof why), HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&off, &t, &fresh, 1, why, sizeof why), HOST_HA_UNDEFINE);
    assert_non_null(strstr(why, "rig1"));
    assert_int_equal(host_ha_reconcile(&off, NULL, &old, 1, why, sizeof why), HOST_HA_UNDEFINE);
    /* Not seen run since the agent started (the table is in memory): it
     * may have run here until the start (nodesim cluster --ha seed 204: a
     * migration's destination whose agent crashed). */
    struct host_ha_copy before_start = copy_at("rig1", 8, 500);
    struct host_ha_copy after_start = copy_at("rig1", 8, 501);
    struct hv_domain_now unseen = local(false, HV_JOB_NONE, 8);
    assert_int_equal(host_ha_reconcile(&unseen, &t, &before_start, 1, why, sizeof why),
                     HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&unseen, &t, &after_start, 1, why, sizeof why),
                     HOST_HA_UNDEFINE);
}

/* Active here: a peer's record counts only when sampled after the first
 * sample of the copy's current run here (nodesim cluster --ha seed 138: a
 * migration's destination destroyed its arrival, the VM's only copy, on
 * its source's record of before the migration). */
static void an_active_copy_counts_records_after_its_run_here_began(void **state) {
    (void)state;
    char why[512];
    struct hv_domain_now on = local(true, HV_JOB_NONE, 7);
    struct host_ha_ran t;
    host_ha_ran_init(&t, 500);
    /* Arrived (first sampled running) at 2000 and running since. */
    sample(&t, 1000, (const unsigned char[]){0});
    sample(&t, 2000, (const unsigned char[]){7, 0});
    sample(&t, 3000, (const unsigned char[]){7, 0});
    struct host_ha_copy source = copy_at("rig1", 7, 1999), restarted = copy_at("rig2", 7, 2001);
    assert_int_equal(host_ha_reconcile(&on, &t, &source, 1, why, sizeof why), HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&on, &t, &restarted, 1, why, sizeof why), HOST_HA_DESTROY);
    assert_non_null(strstr(why, "rig2"));
    /* Stopped here at 4000, running again in a view before the next sample:
     * its new run began after 4000. */
    sample(&t, 4000, (const unsigned char[]){0});
    struct host_ha_copy during = copy_at("rig2", 7, 3500), later = copy_at("rig2", 7, 4001);
    assert_int_equal(host_ha_reconcile(&on, &t, &during, 1, why, sizeof why), HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&on, &t, &later, 1, why, sizeof why), HOST_HA_DESTROY);
    /* Never sampled since the agent started: its start is the bound. */
    struct hv_domain_now unseen = local(true, HV_JOB_NONE, 9);
    struct host_ha_copy b = copy_at("rig1", 9, 500), a = copy_at("rig1", 9, 501);
    assert_int_equal(host_ha_reconcile(&unseen, &t, &b, 1, why, sizeof why), HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&unseen, &t, &a, 1, why, sizeof why), HOST_HA_DESTROY);
}

/* A copy its host reports leaving by a live migration (perhaps to here)
 * does not run there for sure: an arrival here is not destroyed on its
 * source's record sampled before the migration ended (nodesim cluster
 * --ha seed 620), nor undefined once stopped here. */
static void a_copy_leaving_by_migration_destroys_nothing(void **state) {
    (void)state;
    char why[512];
    struct hv_domain_now on = local(true, HV_JOB_NONE, 7), off = local(false, HV_JOB_NONE, 7);
    struct host_ha_copy source = copy("rig1", 7, HV_VM_RUNNING);
    source.leaving = true;
    assert_int_equal(host_ha_reconcile(&on, NULL, &source, 1, why, sizeof why), HOST_HA_KEEP);
    assert_int_equal(host_ha_reconcile(&off, NULL, &source, 1, why, sizeof why), HOST_HA_KEEP);
    /* The arrival ran here, then this host's self-fence stopped it; its
     * source's record of the migration under way was sampled, on a wall
     * clock a few seconds ahead of this host's, after the last sample
     * that showed the arrival running here (nodesim cluster --ha seed
     * 9097): that record does not count, the last definition stays. Once
     * a record shows the VM running there, no migration under way, it
     * does. */
    struct host_ha_ran t;
    host_ha_ran_init(&t, 500);
    sample(&t, 1000, (const unsigned char[]){7, 0});
    sample(&t, 1200, (const unsigned char[]){0});
    struct host_ha_copy ahead = copy_at("rig1", 7, 1300);
    ahead.leaving = true;
    assert_int_equal(host_ha_reconcile(&off, &t, &ahead, 1, why, sizeof why), HOST_HA_KEEP);
    ahead.leaving = false;
    assert_int_equal(host_ha_reconcile(&off, &t, &ahead, 1, why, sizeof why), HOST_HA_UNDEFINE);
    /* What the record says: a live migration of the VM under way, not one
     * ended, not another VM's, not a power-off. */
    Nodectl__Migration m = NODECTL__MIGRATION__INIT, *ms[] = {&m};
    Nodectl__HostRecord rec = NODECTL__HOST_RECORD__INIT;
    rec.migrations = ms;
    rec.n_migrations = 1;
    m.vm = "vm7";
    m.kind = "";
    m.state = "running";
    assert_true(host_ha_record_migrates(&rec, "vm7"));
    assert_false(host_ha_record_migrates(&rec, "vm8"));
    m.state = "succeeded";
    assert_false(host_ha_record_migrates(&rec, "vm7"));
    m.state = "running";
    m.kind = "power-off";
    assert_false(host_ha_record_migrates(&rec, "vm7"));
}

/* A copy that may be the leftover of this host's failed migration to its
 * host destroys nothing here: its host destroys it on this host's record
 * (host_arrival_check), and a destroy here too left the VM on no host
 * (nodesim cluster --ha seed 8309). */
static void a_failed_migrations_leftover_destroys_nothing(void **state) {
    (void)state;
    char why[512];
    struct hv_domain_now on = local(true, HV_JOB_NONE, 7);
    struct host_ha_copy dest = copy("rig2", 7, HV_VM_RUNNING);
    dest.leftover = true;
    assert_int_equal(host_ha_reconcile(&on, NULL, &dest, 1, why, sizeof why), HOST_HA_KEEP);
    dest.leftover = false;
    assert_int_equal(host_ha_reconcile(&on, NULL, &dest, 1, why, sizeof why), HOST_HA_DESTROY);
    /* What this host's record says: its last migration of the VM, to that
     * host, failed or was aborted; not one that succeeded, runs, went
     * elsewhere, or was followed by another. */
    Nodectl__Migration a = NODECTL__MIGRATION__INIT, b = NODECTL__MIGRATION__INIT,
                       *ms[] = {&a, &b};
    Nodectl__HostRecord rec = NODECTL__HOST_RECORD__INIT;
    rec.migrations = ms;
    rec.n_migrations = 1;
    a.vm = "vm7";
    a.kind = "";
    a.destination = "rig2";
    a.state = "failed";
    a.started_at_ms = 100;
    assert_true(host_ha_record_failed_to(&rec, "vm7", "rig2"));
    assert_false(host_ha_record_failed_to(&rec, "vm7", "rig3"));
    assert_false(host_ha_record_failed_to(&rec, "vm8", "rig2"));
    assert_false(host_ha_record_failed_to(NULL, "vm7", "rig2"));
    a.state = "aborted";
    assert_true(host_ha_record_failed_to(&rec, "vm7", "rig2"));
    a.state = "succeeded";
    assert_false(host_ha_record_failed_to(&rec, "vm7", "rig2"));
    a.state = "running";
    assert_false(host_ha_record_failed_to(&rec, "vm7", "rig2"));
    a.state = "failed";
    b = a;
    b.destination = "rig3";
    b.state = "succeeded";
    b.started_at_ms = 200;
    rec.n_migrations = 2;
    assert_false(host_ha_record_failed_to(&rec, "vm7", "rig2"));
    b.started_at_ms = 50;
    assert_true(host_ha_record_failed_to(&rec, "vm7", "rig2"));
}

/* The table keeps the domains most recently seen run when full. */
static void the_ran_table_forgets_the_oldest(void **state) {
    (void)state;
    struct host_ha_ran t;
    host_ha_ran_init(&t, 1);
    for (unsigned i = 0; i <= HOST_HA_RAN_MAX; i++) {
        unsigned char uuid[16] = {0};
        memcpy(uuid, &i, sizeof i);
        host_ha_ran_begin(&t);
        host_ha_ran_seen(&t, uuid, 10 + i);
        host_ha_ran_end(&t, 10 + i);
    }
    assert_int_equal(t.n, HOST_HA_RAN_MAX);
    char why[64];
    struct hv_domain_now first = {.active = false, .job = HV_JOB_NONE};
    struct host_ha_copy c = {.host = "rig1", .state = HV_VM_RUNNING, .sampled_at_ms = 5};
    /* uuid 0 was forgotten: its bound is the agent's start (1), not 10. */
    assert_int_equal(host_ha_reconcile(&first, &t, &c, 1, why, sizeof why), HOST_HA_UNDEFINE);
}

static void view_readiness(void **state) {
    (void)state;
    char why[256];
    struct host_ha_view v = {.hv_fresh = true, .leader_known = true, .alive = 3,
                             .alive_with_record = 3};
    assert_true(host_ha_view_ready(&v, why, sizeof why));
    v.alive_with_record = 2;
    assert_false(host_ha_view_ready(&v, why, sizeof why));
    assert_non_null(strstr(why, "1 of the 3"));
    v.alive_with_record = 3;
    v.leader_known = false;
    assert_false(host_ha_view_ready(&v, why, sizeof why));
    assert_non_null(strstr(why, "leader"));
    v.hv_fresh = false;
    assert_false(host_ha_view_ready(&v, why, sizeof why));
    assert_non_null(strstr(why, "hypervisor"));
}

/* An HA restart in place starts a protected guest only under the run
 * lease, once the host has reconciled. */
static void in_place_starts_need_the_lease_and_the_gate(void **state) {
    (void)state;
    char why[256];
    assert_true(host_ha_may_start(HOST_HA_READY, true, why, sizeof why));
    assert_false(host_ha_may_start(HOST_HA_READY, false, why, sizeof why));
    assert_non_null(strstr(why, "run lease does not hold"));
    assert_false(host_ha_may_start(HOST_HA_RECONCILING, true, why, sizeof why));
    assert_non_null(strstr(why, host_ha_state_name(HOST_HA_RECONCILING)));
    assert_false(host_ha_may_start(HOST_HA_FENCED, true, why, sizeof why));
}

static void watchdog_petting(void **state) {
    (void)state;
    /* Petted while a reset would come before the lease ends. */
    assert_true(host_ha_watchdog_pet(1000, 20000, 10000, HOST_HA_READY, true));
    assert_true(host_ha_watchdog_pet(10000, 20000, 10000, HOST_HA_READY, true));
    assert_false(host_ha_watchdog_pet(10001, 20000, 10000, HOST_HA_READY, true));
    /* No lease (never held): not while protected guests may run. */
    assert_false(host_ha_watchdog_pet(5, 0, 10000, HOST_HA_READY, false));
    assert_false(host_ha_watchdog_pet(5, 0, 10000, HOST_HA_FENCED, true));
    assert_false(host_ha_watchdog_pet(5, 0, 10000, HOST_HA_RECONCILING, true));
    /* Nothing protected runs and none can start: petted. */
    assert_true(host_ha_watchdog_pet(5, 0, 10000, HOST_HA_FENCED, false));
    assert_true(host_ha_watchdog_pet(5, 0, 10000, HOST_HA_RECONCILING, false));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gate_round_trip),   cmocka_unit_test(proc_start_field),
        cmocka_unit_test(qemu_status_files), cmocka_unit_test(qemu_cmdline_names_its_guest),
        cmocka_unit_test(xml_protection),    cmocka_unit_test(hook_refusals),
        cmocka_unit_test(reconcile_verdicts),
        cmocka_unit_test(a_stopped_copy_counts_records_after_its_last_run_here),
        cmocka_unit_test(an_active_copy_counts_records_after_its_run_here_began),
        cmocka_unit_test(a_copy_leaving_by_migration_destroys_nothing),
        cmocka_unit_test(a_failed_migrations_leftover_destroys_nothing),
        cmocka_unit_test(the_ran_table_forgets_the_oldest),
        cmocka_unit_test(view_readiness),
        cmocka_unit_test(watchdog_petting),
        cmocka_unit_test(in_place_starts_need_the_lease_and_the_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
