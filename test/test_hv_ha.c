/* What a host does to its protected domains, against libvirt's test driver
 * (src/hv/hv_ha.c): autostart turned off by the sampling, every running
 * protected domain destroyed at a self-fence and nothing else, a stale copy
 * undefined only when shut off, an HA restart in place started only when
 * protected. test:///default is shared by every
 * connection of this process, so the test looks at libvirt through a
 * connection of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>

#include "common/clock.h"
#include "hv/hv.h"

static const char *domain_xml(const char *name, int id, bool prot, char *out, size_t len) {
    snprintf(out, len,
             "<domain type='test'><name>%s</name>"
             "<uuid>7a000000-0000-4000-8000-0000000000%02d</uuid>"
             "<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
             "<metadata><nodectl:placement xmlns:nodectl='" HV_RULES_NS "' pinned='no' "
             "ha='%s'/></metadata></domain>",
             name, id, prot ? "yes" : "no");
    return out;
}

static virDomainPtr define(virConnectPtr c, const char *name, int id, bool prot, bool start) {
    char xml[1024];
    virDomainPtr d = virDomainDefineXML(c, domain_xml(name, id, prot, xml, sizeof xml));
    assert_non_null(d);
    if (start)
        assert_int_equal(virDomainCreate(d), 0);
    return d;
}

static int autostart(virDomainPtr d) {
    int on = -1;
    assert_int_equal(virDomainGetAutostart(d, &on), 0);
    return on;
}

static void protected_domains_on_a_host(void **state) {
    (void)state;
    struct hv *hv = hv_new("test:///default");
    assert_non_null(hv);
    virConnectPtr c = virConnectOpen("test:///default");
    assert_non_null(c);
    virDomainPtr prot = define(c, "prot", 1, true, true);
    virDomainPtr plain = define(c, "plain", 2, false, true);
    virDomainPtr stale = define(c, "stale", 3, true, false);
    assert_int_equal(virDomainSetAutostart(prot, 1), 0);
    assert_int_equal(virDomainSetAutostart(plain, 1), 0);

    /* A sample turns a protected domain's autostart off, only its. */
    const struct hv_sample *s = hv_sample(hv, clock_mono_ms());
    assert_true(s->available);
    assert_int_equal(autostart(prot), 0);
    assert_int_equal(autostart(plain), 1);

    /* A stale copy is undefined only when shut off. */
    unsigned char uuid[16];
    char err[512];
    assert_int_equal(virDomainGetUUID(prot, uuid), 0);
    assert_int_equal(hv_undefine_stale(hv, "prot", uuid, err, sizeof err), -1);
    assert_non_null(strstr(err, "runs"));
    assert_int_equal(virDomainIsPersistent(prot), 1);
    assert_int_equal(virDomainGetUUID(stale, uuid), 0);
    assert_int_equal(hv_undefine_stale(hv, "stale", uuid, err, sizeof err), 0);
    assert_null(virDomainLookupByName(c, "stale"));
    assert_int_equal(hv_undefine_stale(hv, "stale", uuid, err, sizeof err), -1);
    assert_non_null(strstr(err, "no longer on this host"));

    /* The self-fence: every running protected domain destroyed, at once,
     * nothing else. */
    struct hv_stopped st;
    assert_int_equal(hv_destroy_protected(hv, "test: lease lapsed", &st, err, sizeof err), 0);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.failed, 0);
    assert_string_equal(st.names[0], "prot");
    assert_int_equal(virDomainIsActive(prot), 0);
    assert_int_equal(virDomainIsActive(plain), 1);
    virDomainPtr builtin = virDomainLookupByName(c, "test");
    assert_non_null(builtin);
    assert_int_equal(virDomainIsActive(builtin), 1);
    /* Nothing left to stop. */
    assert_int_equal(hv_destroy_protected(hv, "again", &st, err, sizeof err), 0);
    assert_int_equal(st.n, 0);

    /* A copy that runs elsewhere, destroyed by UUID. */
    assert_int_equal(virDomainGetUUID(plain, uuid), 0);
    assert_int_equal(hv_destroy_stale(hv, "plain", uuid, err, sizeof err), 0);
    assert_int_equal(virDomainIsActive(plain), 0);

    virDomainFree(builtin);
    virDomainUndefine(prot);
    virDomainUndefine(plain);
    virDomainFree(prot);
    virDomainFree(plain);
    virDomainFree(stale);
    virConnectClose(c);
    hv_free(hv);
}

/* The slot tagged `tag`, once it ended (polled for up to 10 s). */
static const struct hv_definition *ended(struct hv *hv, const char *tag) {
    for (int i = 0; i < 1000; i++) {
        hv_defines_poll(hv);
        const struct hv_definition *d[HV_DEFINES_MAX];
        size_t n = hv_defines(hv, d);
        for (size_t k = 0; k < n; k++)
            if (strcmp(d[k]->tag, tag) == 0 && d[k]->state != HV_DEF_RUNNING)
                return d[k];
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("%s did not end", tag);
    return NULL;
}

/* An HA restart in place: libvirt says, in the thread, that the domain is
 * here and protected, and it is started only before the grant's bound;
 * one running already is a success (an operator's virsh start raced it:
 * it runs once). */
static void a_protected_domain_restarts_in_place(void **state) {
    (void)state;
    struct hv *hv = hv_new("test:///default");
    assert_non_null(hv);
    virConnectPtr c = virConnectOpen("test:///default");
    assert_non_null(c);
    virDomainPtr prot = define(c, "inplace", 4, true, false);
    virDomainPtr plain = define(c, "inplace-plain", 5, false, false);
    char err[512];
    const struct hv_definition *d;
    assert_true(hv_sample(hv, clock_mono_ms())->available); /* connects */

    assert_int_equal(hv_start_defined(hv, "t1", "inplace", UINT64_MAX, err, sizeof err), 0);
    d = ended(hv, "t1");
    assert_int_equal(d->state, HV_DEF_SUCCEEDED);
    assert_string_equal(d->name, "inplace");
    assert_int_equal(virDomainIsActive(prot), 1);
    /* Running already: succeeded, nothing else done. */
    assert_int_equal(hv_start_defined(hv, "t2", "inplace", UINT64_MAX, err, sizeof err), 0);
    assert_int_equal(ended(hv, "t2")->state, HV_DEF_SUCCEEDED);
    assert_int_equal(virDomainIsActive(prot), 1);
    /* Not protected, not here: refused, libvirt never asked to start. */
    assert_int_equal(hv_start_defined(hv, "t3", "inplace-plain", UINT64_MAX, err, sizeof err),
                     0);
    d = ended(hv, "t3");
    assert_int_equal(d->state, HV_DEF_REFUSED);
    assert_non_null(strstr(d->error, "not protected"));
    assert_int_equal(virDomainIsActive(plain), 0);
    assert_int_equal(hv_start_defined(hv, "t4", "nowhere", UINT64_MAX, err, sizeof err), 0);
    d = ended(hv, "t4");
    assert_int_equal(d->state, HV_DEF_REFUSED);
    assert_non_null(strstr(d->error, "no domain named 'nowhere'"));
    /* Its grant over before libvirt could be asked: refused, not started. */
    assert_int_equal(virDomainDestroy(prot), 0);
    assert_int_equal(hv_start_defined(hv, "t5", "inplace", 1, err, sizeof err), 0);
    d = ended(hv, "t5");
    assert_int_equal(d->state, HV_DEF_REFUSED);
    assert_non_null(strstr(d->error, "grant expired"));
    assert_int_equal(virDomainIsActive(prot), 0);

    virDomainUndefine(prot);
    virDomainUndefine(plain);
    virDomainFree(prot);
    virDomainFree(plain);
    virConnectClose(c);
    hv_free(hv);
}

/* A hypervisor that cannot be reached: an error, no crash. */
static void unreachable_hypervisor(void **state) {
    (void)state;
    struct hv *hv = hv_new("qemu+unix:///system?socket=/nonexistent/nodectl-test.sock");
    assert_non_null(hv);
    struct hv_stopped st;
    char err[512];
    unsigned char uuid[16] = {0};
    assert_int_equal(hv_destroy_protected(hv, "x", &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "unavailable"));
    assert_int_equal(hv_undefine_stale(hv, "x", uuid, err, sizeof err), -1);
    hv_free(hv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(protected_domains_on_a_host),
        cmocka_unit_test(a_protected_domain_restarts_in_place),
        cmocka_unit_test(unreachable_hypervisor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
