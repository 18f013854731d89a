/* IPMI power-on's command line (src/net/ipmi.c): BMC addresses are checked
 * strictly, since one read from another host's record becomes an argument
 * of ipmitool, and the command names the BMC, port, cipher suite, user and
 * password file, never the password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "net/ipmi.h"

static void addresses_are_host_and_optional_port(void **state) {
    const char *good[] = {"10.77.0.254", "10.77.0.254:6235", "bmc-7.example.org", "BMC7:623",
                          "h:65535"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!ipmi_address_valid(good[i]))
            fail_msg("refused '%s'", good[i]);
    const char *bad[] = {"", ":623", "-H", "-obmc", "bmc;reboot", "bmc $(id)", "bmc\n",
                         "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:6a",
                         "10.0.0.1:623:1", "10.0.0.1:+623", "fe80::1", "bmc/1",
                         "b234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ipmi_address_valid(bad[i]))
            fail_msg("accepted '%s'", bad[i]);
    (void)state;
}

/* The argv as one line, arguments separated by single spaces. */
static void joined(const struct ipmi_command *c, char *out, size_t len) {
    out[0] = '\0';
    for (size_t i = 0; c->argv[i]; i++) {
        assert_true(i < IPMI_ARGV_MAX - 1);
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", c->argv[i]);
    }
}

static void the_command_powers_the_chassis_on(void **state) {
    struct ipmi_command c;
    char line[512];
    assert_int_equal(ipmi_power_on_command(&c, "10.77.0.254:6235", "admin", "/etc/pw", 3), 0);
    joined(&c, line, sizeof line);
    assert_string_equal(line, "ipmitool -I lanplus -H 10.77.0.254 -p 6235 -C 3 -U admin -f "
                              "/etc/pw chassis power on");
    assert_int_equal(ipmi_power_on_command(&c, "bmc7", "op", "/pw", 0), 0);
    joined(&c, line, sizeof line);
    assert_string_equal(line, "ipmitool -I lanplus -H bmc7 -U op -f /pw chassis power on");
    assert_int_equal(ipmi_power_on_command(&c, "bmc7;halt", "op", "/pw", 0), -1);
    (void)state;
}

/* The leader asks the BMC of a host that is "off" whether it is: ipmitool's
 * answer is one line on stdout. */
static void the_status_command_and_its_answer(void **state) {
    struct ipmi_command c;
    char line[512];
    assert_int_equal(ipmi_power_status_command(&c, "10.77.0.254:6233", "admin", "/pw", 3), 0);
    joined(&c, line, sizeof line);
    assert_string_equal(line, "ipmitool -I lanplus -H 10.77.0.254 -p 6233 -C 3 -U admin -f /pw "
                              "chassis power status");
    assert_int_equal(ipmi_power_status_command(&c, "-bmc", "op", "/pw", 0), -1);
    assert_int_equal(ipmi_parse_power_status("Chassis Power is on\n"), 1);
    assert_int_equal(ipmi_parse_power_status("Chassis Power is off\n"), 0);
    assert_int_equal(ipmi_parse_power_status("Chassis Power is off"), 0);
    assert_int_equal(ipmi_parse_power_status("Chassis Power is online\n"), -1);
    assert_int_equal(ipmi_parse_power_status("Error: Unable to establish IPMI v2 session\n"), -1);
    assert_int_equal(ipmi_parse_power_status(""), -1);
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses_are_host_and_optional_port),
        cmocka_unit_test(the_command_powers_the_chassis_on),
        cmocka_unit_test(the_status_command_and_its_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
