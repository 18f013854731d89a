/* A wake or a migration is carried out only at the addresses that its host
 * published in its own record (src/agent/published.h): a leader, or any
 * host that sends commands, cannot make a host present the cluster's IPMI
 * credentials to a BMC of its choosing, broadcast elsewhere, or send a VM's
 * memory anywhere but to the destination's advertised URI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent/published.h"

static Nodectl__Power power = NODECTL__POWER__INIT;
static Nodectl__HostRecord rec = NODECTL__HOST_RECORD__INIT;

static int setup(void **state) {
    (void)state;
    power.ipmi_address = "127.0.0.20:623";
    power.wake_mac = "52:54:00:aa:bb:03";
    power.wake_broadcast = "127.0.0.255:9";
    rec.name = "n3";
    rec.power = &power;
    rec.migration_uri = "qemu+tls://n3.example/system";
    rec.migration_address = "tcp://10.0.0.3";
    return 0;
}

static const char *check(const struct command_wake *w, const Nodectl__HostRecord *r) {
    static char why[256];
    return published_wake(w, r, why, sizeof why);
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

static const char *migration(const char *dest, const char *uri, const char *address,
                             const Nodectl__HostRecord *r) {
    static char why[256];
    struct command_migrate m = {.vm = "web-1"};
    snprintf(m.destination, sizeof m.destination, "%s", dest);
    snprintf(m.destination_uri, sizeof m.destination_uri, "%s", uri);
    snprintf(m.migration_address, sizeof m.migration_address, "%s", address);
    return published_migration(&m, r, why, sizeof why);
}

static void a_migration_goes_only_where_the_destination_advertises(void **state) {
    const char *uri = "qemu+tls://n3.example/system";
    assert_null(migration("n3", uri, "tcp://10.0.0.3", &rec));
    assert_null(migration("n3", uri, "", &rec)); /* libvirt's choice of data path */
    assert_non_null(strstr(migration("n3", "qemu+tcp://evil.example/system", "", &rec),
                           "destination URI qemu+tcp://evil.example/system is not the one n3 "
                           "advertises (qemu+tls://n3.example/system)"));
    assert_non_null(strstr(migration("n3", uri, "tcp://10.9.9.9", &rec),
                           "migration address tcp://10.9.9.9 is not the one n3 advertises"));
    assert_non_null(strstr(migration("n3", uri, "", NULL), "no record of n3"));
    assert_non_null(migration("n4", uri, "", &rec));
    Nodectl__HostRecord none = rec;
    none.migration_uri = "";
    assert_non_null(strstr(migration("n3", uri, "", &none), "advertises (none)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_published_addresses_are_taken),
        cmocka_unit_test(a_foreign_bmc_or_wake_address_is_refused),
        cmocka_unit_test(a_migration_goes_only_where_the_destination_advertises),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
