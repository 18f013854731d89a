/* The libvirt window, against libvirt's real test driver: the built-in
 * test:///default host, a host defined by our own XML, a hypervisor that
 * cannot be reached, and one that does not answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "common/clock.h"
#include "hv/hv.h"

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void) { return clock_mono_ms(); }

static const struct hv_vm *find_vm(const struct hv_sample *s, const char *name) {
    for (size_t i = 0; i < s->n_vms; i++)
        if (strcmp(s->vms[i].name, name) == 0)
            return &s->vms[i];
    return NULL;
}

static void default_test_host_has_its_domain(void **state) {
    struct hv *hv = hv_new("test:///default");
    assert_non_null(hv);
    const struct hv_sample *s = hv_sample(hv, now_ms());
    assert_true(s->available);
    assert_int_equal(s->cpus, 16);
    assert_int_equal(s->cpu_mhz, 1400);
    assert_int_equal(s->memory_kib, 3145728);
    assert_int_equal(s->n_vms, 1);
    const struct hv_vm *vm = find_vm(s, "test");
    assert_non_null(vm);
    assert_int_equal(vm->state, HV_VM_RUNNING);
    assert_int_equal(vm->vcpus, 2);
    assert_int_equal(vm->memory_kib, 2097152);
    assert_string_equal(hv_vm_state_name(vm->state), "running");
    hv_free(hv);
}

static void own_xml_host_and_cpu_from_deltas(void **state) {
    struct hv *hv = hv_new("test://" NODECTL_TEST_DATA "/host-a.xml");
    assert_non_null(hv);
    const struct hv_sample *s = hv_sample(hv, now_ms());
    assert_true(s->available);
    assert_int_equal(s->cpus, 4);
    assert_int_equal(s->cpu_mhz, 2400);
    assert_int_equal(s->memory_kib, 8388608);
    assert_int_equal(s->n_vms, 3);
    const struct hv_vm *db = find_vm(s, "db-1");
    assert_non_null(db);
    static const unsigned char db_uuid[16] = {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33,
                                              0x44, 0x44, 0, 0, 0, 0, 0, 0x02};
    assert_memory_equal(db->uuid, db_uuid, 16);
    assert_int_equal(find_vm(s, "batch-1")->state, HV_VM_SHUTOFF);
    /* No previous sample yet: no CPU figure. */
    assert_true(db->cpu_percent == 0.0);
    /* Memory used without node counters: the running domains' memory. */
    assert_int_equal(s->memory_used_kib, 1048576 + 2097152);

    /* The test driver reports a running domain's CPU time as wall time, so
     * one busy vCPU: 100 % for the 1-vCPU db-1, 50 % for the 2-vCPU web-1.
     * The interval is long enough that scheduling jitter on a loaded machine
     * (the counters are read a little after now_ms) stays within the bounds. */
    sleep_ms(600);
    s = hv_sample(hv, now_ms());
    assert_true(s->available);
    double db_pct = find_vm(s, "db-1")->cpu_percent;
    double web_pct = find_vm(s, "web-1")->cpu_percent;
    assert_true(db_pct > 80.0 && db_pct <= 100.0);
    assert_true(web_pct > 40.0 && web_pct <= 55.0);
    assert_true(find_vm(s, "batch-1")->cpu_percent == 0.0);
    assert_true(s->cpu_percent > 0.0 && s->cpu_percent <= 100.0);
    hv_free(hv);
}

static void unreachable_hypervisor_is_reported_and_retried(void **state) {
    struct hv *hv = hv_new("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
    assert_non_null(hv);
    uint64_t t = 1000000;
    const struct hv_sample *s = hv_sample(hv, t);
    assert_false(s->available);
    assert_int_equal(s->n_vms, 0);
    assert_non_null(strstr(s->reason, "cannot connect"));
    char first[HV_REASON_MAX];
    snprintf(first, sizeof first, "%s", s->reason);
    /* Within the backoff nothing is retried; the state stays the same. */
    s = hv_sample(hv, t + 1);
    assert_false(s->available);
    assert_string_equal(s->reason, first);
    /* Later it is retried (and fails again). */
    s = hv_sample(hv, t + 60000);
    assert_false(s->available);
    hv_free(hv);
}

/* Waits up to timeout_ms for the hv's event fd; the count taken. */
static uint64_t wait_events(struct hv *hv, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        uint64_t n = hv_events_take(hv);
        if (n)
            return n;
        sleep_ms(10);
    }
    return 0;
}

static void lifecycle_events_signal_at_once(void **state) {
    struct hv *hv = hv_new("test:///default");
    assert_non_null(hv);
    assert_true(hv_sample(hv, now_ms())->available);
    assert_int_equal(hv_events_take(hv), 0);
    /* Another client of the same hypervisor stops and starts the domain. */
    virConnectPtr other = virConnectOpen("test:///default");
    assert_non_null(other);
    virDomainPtr dom = virDomainLookupByName(other, "test");
    assert_non_null(dom);
    assert_int_equal(virDomainDestroy(dom), 0);
    assert_true(wait_events(hv, 5000) >= 1);
    const struct hv_sample *s = hv_sample(hv, now_ms());
    assert_int_equal(find_vm(s, "test")->state, HV_VM_SHUTOFF);
    assert_int_equal(virDomainCreate(dom), 0);
    assert_true(wait_events(hv, 5000) >= 1);
    s = hv_sample(hv, now_ms());
    assert_int_equal(find_vm(s, "test")->state, HV_VM_RUNNING);
    virDomainFree(dom);
    virConnectClose(other);
    hv_free(hv);
}

/* Polls until the migration tagged `tag` ends; its record. */
static const struct hv_migration *migration_end(struct hv *hv, const char *tag) {
    const struct hv_migration *m[HV_MIGRATIONS_MAX];
    for (int i = 0; i < 500; i++) {
        hv_migrations_poll(hv, now_ms());
        size_t n = hv_migrations(hv, m);
        for (size_t k = 0; k < n; k++)
            if (strcmp(m[k]->tag, tag) == 0 && m[k]->state != HV_MIG_RUNNING)
                return m[k];
        sleep_ms(10);
    }
    fail_msg("the migration did not end");
    return NULL;
}

/* Asks for a fresh view and waits for its answer. */
static const struct hv_fresh *fresh_view(struct hv *hv) {
    uint64_t t = hv_fresh_request(hv);
    assert_true(t > 0);
    for (int i = 0; i < 500; i++) {
        const struct hv_fresh *f = hv_fresh_latest(hv);
        if (f->token >= t)
            return f;
        sleep_ms(10);
    }
    fail_msg("no fresh view within 5 s");
    return NULL;
}

/* What the last look before a migration saw, and its answer. */
static struct hv_domain_now seen;
static bool seen_present;

static int refuse_shut_off(const struct hv_domain_now *dom, const char *vm, void *ctx, char *why,
                           size_t len) {
    seen_present = dom != NULL;
    if (dom)
        seen = *dom;
    if (dom && dom->active)
        return 0;
    snprintf(why, len, "%s: %s", vm, (const char *)ctx);
    return -1;
}

static void migration_refusals_and_driver_failure(void **state) {
    struct hv *hv = hv_new("test://" NODECTL_TEST_DATA "/host-a.xml");
    assert_non_null(hv);
    char err[512];
    /* Not connected yet: refused at once with the reason. */
    assert_int_equal(hv_migrate_start(hv, "t1", "db-1", "qemu+tcp://h2/system", NULL, 1000, 0,
                                      UINT64_MAX, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "unavailable"));
    assert_true(hv_sample(hv, now_ms())->available);
    /* The domain is looked up in the migration's thread: an unknown one
     * ends refused, the caller never waits for libvirt. */
    assert_int_equal(hv_migrate_start(hv, "t1", "nope", "qemu+tcp://h2/system", NULL, 1000,
                                      now_ms(), UINT64_MAX, NULL, NULL, err, sizeof err), 0);
    const struct hv_migration *m = migration_end(hv, "t1");
    assert_int_equal(m->state, HV_MIG_REFUSED);
    assert_string_equal(m->error, "VM 'nope' is not on this host");
    /* The caller's check sees the domain as libvirt shows it then. */
    assert_int_equal(hv_migrate_start(hv, "t2", "batch-1", "qemu+tcp://h2/system", NULL, 1000,
                                      now_ms(), UINT64_MAX, refuse_shut_off, "not running", err,
                                      sizeof err), 0);
    m = migration_end(hv, "t2");
    assert_true(seen_present);
    assert_string_equal(seen.name, "batch-1");
    assert_false(seen.active);
    assert_int_equal(seen.state, HV_VM_SHUTOFF);
    assert_int_equal(m->state, HV_MIG_REFUSED);
    assert_string_equal(m->error, "batch-1: not running");
    /* The test driver cannot migrate: the attempt runs and fails with
     * libvirt's own message. */
    assert_int_equal(hv_migrate_start(hv, "t3", "db-1", "qemu+tcp://h2/system", "tcp://h2", 5000,
                                      now_ms(), UINT64_MAX, refuse_shut_off, "not running", err,
                                      sizeof err), 0);
    assert_int_equal(hv_migrate_start(hv, "t4", "db-1", "qemu+tcp://h2/system", NULL, 5000,
                                      now_ms(), UINT64_MAX, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "already migrating"));
    m = migration_end(hv, "t3");
    assert_true(seen.active);
    assert_int_equal(seen.job, HV_JOB_NONE);
    assert_int_equal(m->state, HV_MIG_FAILED);
    assert_string_equal(m->vm, "db-1");
    assert_string_equal(m->tag, "t3");
    assert_string_equal(m->dest_uri, "qemu+tcp://h2/system");
    assert_true(strlen(m->error) > 0);
    assert_null(strstr(m->error, "grant"));
    /* Its grant expired before the thread got to libvirt's call: the
     * migration is refused without it, after the check (which saw the
     * domain before anything changed it), and the domain keeps the arrival
     * id it had (t3's, written before t3 failed), not t5's. */
    seen_present = false;
    assert_int_equal(hv_migrate_start(hv, "t5", "db-1", "qemu+tcp://h2/system", NULL, 5000,
                                      now_ms(), now_ms(), refuse_shut_off, "not running", err,
                                      sizeof err), 0);
    m = migration_end(hv, "t5");
    assert_int_equal(m->state, HV_MIG_REFUSED);
    assert_string_equal(m->error, "not started: its grant expired before the migration could "
                                  "start");
    assert_true(seen_present);
    assert_string_equal(seen.arrival, "t3");
    const struct hv_fresh *f = fresh_view(hv);
    assert_true(f->available);
    assert_non_null(hv_fresh_find(f, "db-1"));
    assert_string_equal(hv_fresh_find(f, "db-1")->arrival, "t3");
    hv_free(hv);
}


/* A fresh view lists every domain as libvirt has it when asked, active and
 * inactive, a transient one included, with no job on the test driver (it
 * has no job statistics); a change made a moment before shows in the next
 * view, whatever the samples say. */
static void fresh_view_lists_every_domain_now(void **state) {
    struct hv *hv = hv_new("test:///default");
    assert_non_null(hv);
    assert_int_equal(hv_fresh_latest(hv)->token, 0);
    const struct hv_fresh *f = fresh_view(hv);
    assert_true(f->available);
    assert_int_equal(f->n, 1);
    const struct hv_domain_now *d = hv_fresh_find(f, "test");
    assert_non_null(d);
    assert_true(d->active);
    assert_true(d->persistent);
    assert_int_equal(d->state, HV_VM_RUNNING);
    assert_int_equal(d->job, HV_JOB_NONE);
    assert_null(hv_fresh_find(f, "nope"));
    /* The answer wakes the caller through the event fd, not as an event. */
    hv_events_take(hv);
    uint64_t t = hv_fresh_request(hv);
    struct pollfd pfd = {.fd = hv_event_fd(hv), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(hv_events_take(hv), 0);
    assert_true(hv_fresh_latest(hv)->token >= t);

    /* Another client destroys the domain and starts a transient one. */
    virConnectPtr other = virConnectOpen("test:///default");
    assert_non_null(other);
    virDomainPtr dom = virDomainLookupByName(other, "test");
    assert_int_equal(virDomainDestroy(dom), 0);
    virDomainPtr tr = virDomainCreateXML(
        other, "<domain type='test'><name>transient-1</name><memory>65536</memory>"
               "<os><type>hvm</type></os></domain>", 0);
    assert_non_null(tr);
    f = fresh_view(hv);
    assert_int_equal(f->n, 2);
    d = hv_fresh_find(f, "test");
    assert_false(d->active);
    assert_int_equal(d->state, HV_VM_SHUTOFF);
    d = hv_fresh_find(f, "transient-1");
    assert_non_null(d);
    assert_true(d->active);
    assert_false(d->persistent);
    assert_int_equal(virDomainDestroy(tr), 0);
    assert_int_equal(virDomainCreate(dom), 0);
    virDomainFree(tr);
    virDomainFree(dom);
    virConnectClose(other);
    f = fresh_view(hv);
    assert_int_equal(f->n, 1);
    assert_true(hv_fresh_find(f, "test")->active);
    hv_free(hv);
}

/* No hypervisor: the view says so, and why. */
static void fresh_view_of_an_unreachable_hypervisor(void **state) {
    struct hv *hv = hv_new("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
    assert_non_null(hv);
    const struct hv_fresh *f = fresh_view(hv);
    assert_false(f->available);
    assert_int_equal(f->n, 0);
    assert_non_null(strstr(f->reason, "cannot connect"));
    hv_free(hv);
}

static void cpu_weight_and_balloon_are_set_live(void **state) {
    struct hv *hv = hv_new("test://" NODECTL_TEST_DATA "/host-a.xml");
    assert_non_null(hv);
    assert_true(hv_sample(hv, now_ms())->available);
    char err[256];
    uint32_t shares;
    /* The test driver has Xen's "weight" (default 50): 200 on the cgroup scale. */
    assert_int_equal(hv_get_shares(hv, "web-1", &shares, err, sizeof err), 0);
    assert_int_equal(shares, 200);
    /* Accepted; the test driver does not store weights (KVM's cpu_shares
     * are checked on the rig), but it does move the balloon. */
    assert_int_equal(hv_tune(hv, "web-1", 2048, 524288, err, sizeof err), 0);
    const struct hv_sample *s = hv_sample(hv, now_ms());
    assert_int_equal(find_vm(s, "web-1")->memory_kib, 524288);
    assert_int_equal(hv_tune(hv, "ghost", 1024, 0, err, sizeof err), -1);
    assert_string_equal(err, "VM 'ghost' is not on this host");
    hv_free(hv);
}

/* Placement rules: the element parsed strictly (a bad value is an error,
 * not a default), written back, and kept by libvirt in the domain's
 * metadata, where every sample reads them; a domain whose element does not
 * parse has none. */
static void placement_rules_in_the_metadata(void **state) {
    (void)state;
    struct hv_rules r;
    char err[256], xml[256];
    assert_int_equal(hv_rules_parse("<placement pinned='yes' group='db-1.a_b'/>", &r, err,
                                    sizeof err), 0);
    assert_true(r.pinned);
    assert_string_equal(r.group, "db-1.a_b");
    assert_false(r.ha);
    assert_int_equal(r.ha_priority, 0);
    assert_int_equal(hv_rules_parse("<placement ha='yes' ha_priority='1000'/>", &r, err,
                                    sizeof err), 0);
    assert_true(r.ha);
    assert_int_equal(r.ha_priority, 1000);
    assert_false(r.pinned);
    assert_int_equal(hv_rules_parse("<placement/>", &r, err, sizeof err), 0);
    assert_false(r.pinned);
    assert_false(r.ha);
    assert_string_equal(r.group, "");
    assert_int_equal(hv_rules_parse("<placement ha='sure'/>", &r, err, sizeof err), -1);
    assert_string_equal(err, "ha='sure': expected yes or no");
    assert_int_equal(hv_rules_parse("<placement ha_priority='1001'/>", &r, err, sizeof err), -1);
    assert_string_equal(err, "ha_priority='1001': expected 0 to 1000");
    static const char *const bad[] = {"<placement pinned='true'/>", "<placement group='a b'/>",
                                      "<rules pinned='yes'/>", "<placement", "",
                                      "<placement ha_priority='-1'/>",
                                      "<placement ha_priority=''/>",
                                      "<placement ha_priority='12a'/>",
                                      "<placement ha_priority='99999'/>",
                                      "<placement group='0123456789012345678901234567890123456789"
                                      "012345678901234567890123'/>"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(hv_rules_parse(bad[i], &r, err, sizeof err), -1);
    r = (struct hv_rules){.pinned = false};
    assert_null(hv_rules_xml(&r, xml, sizeof xml));
    r = (struct hv_rules){.pinned = true, .group = "web"};
    assert_string_equal(hv_rules_xml(&r, xml, sizeof xml), "<placement pinned='yes' group='web'/>");
    r = (struct hv_rules){.ha = true, .ha_priority = 7};
    assert_string_equal(hv_rules_xml(&r, xml, sizeof xml),
                        "<placement pinned='no' ha='yes' ha_priority='7'/>");
    struct hv_rules back;
    assert_int_equal(hv_rules_parse(xml, &back, err, sizeof err), 0);
    assert_memory_equal(&back, &r, sizeof r);
    struct hv_rules_change ch = {.set_ha_priority = true, .ha_priority = 1001};
    assert_int_equal(hv_rules_apply(&r, &ch, err, sizeof err), -1);
    assert_int_equal(r.ha_priority, 7);

    struct hv *hv = hv_new("test://" NODECTL_TEST_DATA "/host-a.xml");
    assert_non_null(hv);
    assert_true(hv_sample(hv, now_ms())->available);
    ch = (struct hv_rules_change){.set_pinned = true, .pinned = true, .set_group = true,
                                  .group = "front"};
    assert_int_equal(hv_set_rules(hv, "web-1", &ch, err, sizeof err), 0);
    /* A group only: pinned is kept. */
    ch = (struct hv_rules_change){.set_group = true, .group = "edge"};
    assert_int_equal(hv_set_rules(hv, "web-1", &ch, err, sizeof err), 0);
    /* ha and its priority, each alone: the rest is kept. */
    ch = (struct hv_rules_change){.set_ha = true, .ha = true};
    assert_int_equal(hv_set_rules(hv, "web-1", &ch, err, sizeof err), 0);
    ch = (struct hv_rules_change){.set_ha_priority = true, .ha_priority = 300};
    assert_int_equal(hv_set_rules(hv, "web-1", &ch, err, sizeof err), 0);
    assert_int_equal(hv_get_rules(hv, "web-1", &r, err, sizeof err), 0);
    assert_true(r.pinned);
    assert_string_equal(r.group, "edge");
    assert_true(r.ha);
    assert_int_equal(r.ha_priority, 300);
    const struct hv_sample *s = hv_sample(hv, now_ms());
    assert_true(find_vm(s, "web-1")->rules.pinned);
    assert_string_equal(find_vm(s, "web-1")->rules.group, "edge");
    assert_true(find_vm(s, "web-1")->rules.ha);
    assert_int_equal(find_vm(s, "web-1")->rules.ha_priority, 300);
    assert_false(find_vm(s, "db-1")->rules.pinned);
    assert_false(find_vm(s, "db-1")->rules.ha);
    /* Nothing left to keep: the element is removed. */
    ch = (struct hv_rules_change){.set_pinned = true, .set_group = true, .set_ha = true,
                                  .set_ha_priority = true};
    assert_int_equal(hv_set_rules(hv, "web-1", &ch, err, sizeof err), 0);
    assert_int_equal(hv_get_rules(hv, "web-1", &r, err, sizeof err), 0);
    assert_false(r.pinned);
    assert_false(r.ha);
    ch = (struct hv_rules_change){.set_group = true, .group = "a b"};
    assert_int_equal(hv_set_rules(hv, "web-1", &ch, err, sizeof err), -1);
    ch = (struct hv_rules_change){.set_ha_priority = true, .ha_priority = 5000};
    assert_int_equal(hv_set_rules(hv, "web-1", &ch, err, sizeof err), -1);
    ch = (struct hv_rules_change){.set_pinned = true, .pinned = true};
    assert_int_equal(hv_set_rules(hv, "ghost", &ch, err, sizeof err), -1);
    assert_string_equal(err, "VM 'ghost' is not on this host");
    hv_free(hv);
}

static int refuse(const struct hv_domain_now *dom, const char *vm, void *ctx, char *why,
                  size_t len) {
    (void)vm;
    *(struct hv_domain_now *)ctx = *dom;
    snprintf(why, len, "not a leftover");
    return -1;
}

static int accept_leftover(const struct hv_domain_now *dom, const char *vm, void *ctx, char *why,
                           size_t len) {
    (void)vm;
    (void)why;
    (void)len;
    *(struct hv_domain_now *)ctx = *dom;
    return strcmp(dom->arrival, "c0ffee-1") == 0 ? 0 : -1;
}

/* The id of the migration a domain came by, in its live metadata (written
 * by the source, hv_migrate.c), shows in samples and fresh views; a
 * leftover is destroyed (and undefined) only if the check agrees on the
 * domain as libvirt shows it then. */
static void a_leftover_is_known_by_its_arrival_and_destroyed_after_a_check(void **state) {
    (void)state;
    assert_true(hv_arrival_id_valid("0a1b2c3d-0000-4000-8000-00000000000f"));
    assert_false(hv_arrival_id_valid(""));
    assert_false(hv_arrival_id_valid("a'b"));
    assert_false(hv_arrival_id_valid("a b"));
    struct hv *hv = hv_new("test:///default");
    assert_non_null(hv);
    assert_true(hv_sample(hv, now_ms())->available);
    assert_string_equal(find_vm(hv_sample(hv, now_ms()), "test")->arrival, "");
    virConnectPtr other = virConnectOpen("test:///default");
    virDomainPtr dom = virDomainLookupByName(other, "test");
    assert_int_equal(virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                          "<arrival id='c0ffee-1'/>", HV_ARRIVAL_PREFIX,
                                          HV_ARRIVAL_NS, VIR_DOMAIN_AFFECT_LIVE),
                     0);
    assert_string_equal(find_vm(hv_sample(hv, now_ms()), "test")->arrival, "c0ffee-1");
    const struct hv_fresh *f = fresh_view(hv);
    assert_string_equal(hv_fresh_find(f, "test")->arrival, "c0ffee-1");
    struct hv_domain_now looked;
    char err[512];
    assert_int_equal(hv_destroy_leftover(hv, "test", refuse, &looked, err, sizeof err), -1);
    assert_non_null(strstr(err, "kept: not a leftover"));
    assert_string_equal(looked.arrival, "c0ffee-1");
    assert_int_equal(virDomainIsActive(dom), 1);
    assert_int_equal(hv_destroy_leftover(hv, "nope", accept_leftover, &looked, err, sizeof err), -1);
    assert_int_equal(hv_destroy_leftover(hv, "test", accept_leftover, &looked, err, sizeof err), 0);
    assert_true(looked.active);
    assert_int_equal(looked.job, HV_JOB_NONE);
    /* Gone, definition and all. */
    virDomainFree(dom);
    assert_null(virDomainLookupByName(other, "test"));
    virConnectClose(other);
    hv_free(hv);
}

/* The sampling thread hands samples over; the caller's fd tells when, and a
 * hand-over is not counted as a domain event. */
static void sampler_hands_samples_over(void **state) {
    struct hv *hv = hv_new("test:///default");
    assert_non_null(hv);
    bool fresh;
    const struct hv_sample *s = hv_sample_latest(hv, &fresh);
    assert_false(fresh);
    assert_false(s->available);
    assert_string_equal(s->reason, "not sampled yet");
    assert_int_equal(hv_sample_request(hv), 0);
    struct pollfd pfd = {.fd = hv_event_fd(hv), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(hv_events_take(hv), 0);
    s = hv_sample_latest(hv, &fresh);
    assert_true(fresh);
    assert_true(s->available);
    assert_non_null(find_vm(s, "test"));
    /* Taken once: the next call has nothing newer. */
    s = hv_sample_latest(hv, &fresh);
    assert_false(fresh);
    assert_true(s->available);
    hv_free(hv);
}

/* A libvirtd that accepts a connection and never answers (the way a busy
 * one holds a call for seconds) holds up the sampling thread, not the
 * caller: the request returns at once and the last sample stays usable.
 * Once the daemon goes away, the sample says why. */
static void unanswering_hypervisor_does_not_block_the_caller(void **state) {
    char dir[] = "/tmp/nodectl-test-hv.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/libvirt-sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 4), 0);
    char uri[256];
    snprintf(uri, sizeof uri, "qemu+unix:///system?socket=%s", sa.sun_path);
    struct hv *hv = hv_new(uri);
    assert_non_null(hv);
    uint64_t t0 = now_ms();
    assert_int_equal(hv_sample_request(hv), 0);
    assert_true(now_ms() - t0 < 200);
    /* The connection is queued on our socket, unanswered: nothing comes. */
    assert_false(hv_sample_wait(hv, 500));
    bool fresh;
    const struct hv_sample *s = hv_sample_latest(hv, &fresh);
    assert_false(fresh);
    assert_string_equal(s->reason, "not sampled yet");
    assert_int_equal(hv_sample_request(hv), 0);
    /* Closing the listener resets the queued connection. */
    close(lfd);
    assert_true(hv_sample_wait(hv, 10000));
    s = hv_sample_latest(hv, &fresh);
    assert_true(fresh);
    assert_false(s->available);
    assert_non_null(strstr(s->reason, "cannot connect"));
    hv_free(hv);
    unlink(sa.sun_path);
    rmdir(dir);
}

/* A daemon that accepts every connection and closes it at once (a client's
 * open then fails quickly), counting them, in a thread of its own. */
struct fake_daemon {
    char path[256];
    int lfd;
    atomic_int accepted;
    atomic_bool stop;
    pthread_t thread;
};

static void *fake_daemon_run(void *arg) {
    struct fake_daemon *d = arg;
    while (!atomic_load(&d->stop)) {
        struct pollfd p = {.fd = d->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) != 1)
            continue;
        int c = accept(d->lfd, NULL, NULL);
        /* Counted before the close, which ends the client's open. */
        if (c >= 0) {
            atomic_fetch_add(&d->accepted, 1);
            close(c);
        }
    }
    return NULL;
}

static void fake_daemon_start(struct fake_daemon *d) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", d->path);
    d->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(d->lfd >= 0);
    assert_int_equal(bind(d->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(d->lfd, 8), 0);
    atomic_store(&d->accepted, 0);
    atomic_store(&d->stop, false);
    assert_int_equal(pthread_create(&d->thread, NULL, fake_daemon_run, d), 0);
}

static void fake_daemon_stop(struct fake_daemon *d) {
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    close(d->lfd);
    unlink(d->path);
}

/* Connections the daemon took since the last call. */
static int attempts(struct fake_daemon *d) { return atomic_exchange(&d->accepted, 0); }

/* A local daemon that comes back is tried the moment its socket appears,
 * not at the backoff's next retry: the event fd says so, the next sample
 * connects whatever the backoff said, and a daemon that does not answer at
 * that first moment is tried again within HV_FAST_RETRY_MS (200 ms), by
 * the sampling thread itself. */
static void reappearing_socket_is_tried_at_once(void **state) {
    char dir[] = "/tmp/nodectl-test-hv.XXXXXX", uri[300];
    assert_non_null(mkdtemp(dir));
    static struct fake_daemon d;
    snprintf(d.path, sizeof d.path, "%s/libvirt-sock", dir);
    snprintf(uri, sizeof uri, "qemu+unix:///system?socket=%s", d.path);
    struct hv *hv = hv_new(uri);
    assert_non_null(hv);
    uint64_t t = 1000000;
    /* No daemon: failures grow the backoff. */
    for (int i = 0; i < 4; i++)
        assert_false(hv_sample(hv, t += 10000)->available);
    assert_int_equal(hv_events_take(hv), 0);
    fake_daemon_start(&d);
    struct pollfd pfd = {.fd = hv_event_fd(hv), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    assert_int_equal(hv_events_take(hv), 1);
    assert_int_equal(attempts(&d), 0);
    /* The next sample tries at once, though the backoff had seconds left;
     * then every 200 ms. */
    assert_false(hv_sample(hv, t + 1)->available);
    assert_int_equal(attempts(&d), 1);
    assert_false(hv_sample(hv, t + 100)->available);
    assert_int_equal(attempts(&d), 0);
    assert_false(hv_sample(hv, t + 1 + 200)->available);
    assert_int_equal(attempts(&d), 1);
    /* Other files in the directory are not the socket. */
    char other[300];
    snprintf(other, sizeof other, "%s/notes.txt", dir);
    FILE *f = fopen(other, "w");
    assert_non_null(f);
    fclose(f);
    sleep_ms(50);
    assert_int_equal(hv_events_take(hv), 0);
    /* The sampling thread retries on its own while the daemon does not
     * answer: the caller asks once. */
    fake_daemon_stop(&d);
    fake_daemon_start(&d);
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    assert_int_equal(hv_events_take(hv), 1);
    assert_int_equal(hv_sample_request(hv), 0);
    int tries = 0;
    for (int i = 0; i < 100 && tries < 3; i++) {
        sleep_ms(20);
        tries += attempts(&d);
    }
    assert_true(tries >= 3);
    hv_free(hv);
    fake_daemon_stop(&d);
    unlink(other);
    rmdir(dir);
}

int main(void) {
    /* As the agent: a daemon that closes its end gives EPIPE, not SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reappearing_socket_is_tried_at_once),
        cmocka_unit_test(default_test_host_has_its_domain),
        cmocka_unit_test(own_xml_host_and_cpu_from_deltas),
        cmocka_unit_test(unreachable_hypervisor_is_reported_and_retried),
        cmocka_unit_test(lifecycle_events_signal_at_once),
        cmocka_unit_test(migration_refusals_and_driver_failure),
        cmocka_unit_test(fresh_view_lists_every_domain_now),
        cmocka_unit_test(a_leftover_is_known_by_its_arrival_and_destroyed_after_a_check),
        cmocka_unit_test(fresh_view_of_an_unreachable_hypervisor),
        cmocka_unit_test(cpu_weight_and_balloon_are_set_live),
        cmocka_unit_test(placement_rules_in_the_metadata),
        cmocka_unit_test(sampler_hands_samples_over),
        cmocka_unit_test(unanswering_hypervisor_does_not_block_the_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
