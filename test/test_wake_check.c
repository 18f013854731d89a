/* A wake request is carried out only at the addresses that the host to
 * wake published in its own record (src/agent/wake_check.h): a leader, or
 * any host that sends commands, cannot make a host present the cluster's
 * IPMI credentials to a BMC of its choosing, or broadcast elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent/wake_check.h"

static Nodectl__Power power = NODECTL__POWER__INIT;
static Nodectl__HostRecord rec = NODECTL__HOST_RECORD__INIT;

static int setup(void **state) {
    (void)state;
    power.ipmi_address = "127.0.0.20:623";
    power.wake_mac = "52:54:00:aa:bb:03";
    power.wake_broadcast = "127.0.0.255:9";
    rec.name = "n3";
    rec.power = &power;
    return 0;
}

static const char *check(const struct command_wake *w, const Nodectl__HostRecord *r) {
    static char why[256];
    return wake_check(w, r, why, sizeof why);
}

/* A request as the command channel decodes it. */
static struct command_wake wake(const char *bmc, const char *mac, const char *broadcast) {
    struct command_wake w = {.host = "n3"};
    snprintf(w.ipmi_address, sizeof w.ipmi_address, "%s", bmc);
    snprintf(w.mac, sizeof w.mac, "%s", mac);
    snprintf(w.broadcast, sizeof w.broadcast, "%s", broadcast);
    return w;
}

static void the_published_addresses_are_taken(void **state) {
    struct command_wake w = wake("127.0.0.20:623", "", "");
    assert_null(check(&w, &rec));
    w = wake("", "52:54:00:AA:BB:03", "127.0.0.255:9"); /* a MAC in either case */
    assert_null(check(&w, &rec));
}

static void a_foreign_bmc_or_wake_address_is_refused(void **state) {
    struct command_wake w = wake("127.0.0.99:623", "", "");
    const char *why = check(&w, &rec);
    assert_non_null(why);
    assert_non_null(strstr(why, "BMC address 127.0.0.99:623 is not the one n3 published"));
    w = wake("", "52:54:00:aa:bb:04", "127.0.0.255:9");
    assert_non_null(strstr(check(&w, &rec), "is not what n3 published"));
    w = wake("", "52:54:00:aa:bb:03", "10.0.0.255:9");
    assert_non_null(check(&w, &rec));
    /* No record, another host's, or one without wake information. */
    assert_non_null(strstr(check(&w, NULL), "no record of n3"));
    Nodectl__HostRecord other = rec;
    other.name = "n4";
    assert_non_null(check(&w, &other));
    other.name = "n3";
    other.power = NULL;
    assert_non_null(strstr(check(&w, &other), "published no wake information"));
    /* A host that published no BMC cannot be woken through one. */
    Nodectl__Power no_bmc = power;
    no_bmc.ipmi_address = "";
    other.power = &no_bmc;
    w = wake("127.0.0.20:623", "", "");
    assert_non_null(strstr(check(&w, &other), "n3 published (none)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_published_addresses_are_taken),
        cmocka_unit_test(a_foreign_bmc_or_wake_address_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
