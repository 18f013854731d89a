/* The configuration parser: good files, defaults, and every kind of bad
 * input reported with file:line, the key and what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "test_helpers.h"



/* Loads text as a file; returns config_load's result, with the error in err. */
static int load(const char *text, struct config *cfg, struct config_error *err, char *path) {
    test_write_file(test_dir, "nodectl.conf", text, path, PATH_MAX);
    return config_load(path, cfg, err);
}

static void good_file_sets_every_kind_of_value(void **state) {
    struct config cfg;
    struct config_error err;
    char path[PATH_MAX];
    int rc = load("; a comment\n"
                  "[cluster]\n"
                  "name = prod\n"
                  "seeds = 10.0.0.1:7946, 10.0.0.2:7946 ,h3:7000\n"
                  "candidates = h1,h2,h3\n"
                  "key_file = /etc/nodectl/k\n"
                  "[node]\n"
                  "name = h2\n"
                  "bind_address = 127.0.0.1\n"
                  "port = 8000\n"
                  "state_dir = /var/lib/x\n"
                  "control_socket = /run/x/ctl.sock\n"
                  "log_level = debug\n"
                  "[hypervisor]\n"
                  "uri = qemu:///system\n"
                  "sample_interval = 2s\n"
                  "local_rebalance = yes\n"
                  "rebalance_memory_floor = 40%\n"
                  "[gossip]\n"
                  "probe_interval = 500ms\n"
                  "probe_timeout = 200ms\n"
                  "indirect_checks = 5\n"
                  "reconnect_timeout = 12h\n"
                  "[election]\n"
                  "election_timeout = 1m\n"
                  "[leader]\n"
                  "automation = auto\n"
                  "policy = nc-thr-mmt\n"
                  "plan_interval = 2s\n"
                  "max_migrations = 4\n"
                  "power_idle_watts = 80\n"
                  "power_max_watts = 300\n"
                  "power_on_timeout = 90s\n"
                  "vm_cooldown = 30s\n"
                  "[power]\n"
                  "off_command = systemctl poweroff\n"
                  "wake_mac = 52:54:00:AB:cd:01\n"
                  "wake_broadcast = 10.0.0.255:7\n"
                  "ipmi_address = 10.0.1.2:6230\n"
                  "ipmi_user = nodectl\n"
                  "ipmi_password_file = /etc/nodectl/ipmi.password\n",
                  &cfg, &err, path);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg.cluster_name, "prod");
    assert_int_equal(cfg.seeds.n, 3);
    assert_string_equal(cfg.seeds.item[1], "10.0.0.2:7946");
    assert_string_equal(cfg.seeds.item[2], "h3:7000");
    assert_int_equal(cfg.candidates.n, 3);
    assert_true(cfg.candidate); /* named in the list */
    assert_string_equal(cfg.node_name, "h2");
    assert_int_equal(cfg.port, 8000);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_string_equal(cfg.hypervisor_uri, "qemu:///system");
    assert_int_equal(cfg.sample_interval_ms, 2000);
    assert_true(cfg.local_rebalance);
    assert_int_equal(cfg.rebalance_memory_floor_pct, 40);
    assert_int_equal(cfg.rebalance_memory_headroom_pct, 0); /* unset: the policy's default */
    assert_int_equal(cfg.probe_interval_ms, 500);
    assert_int_equal(cfg.probe_timeout_ms, 200);
    assert_int_equal(cfg.indirect_checks, 5);
    assert_int_equal(cfg.suspicion_mult, 0); /* unset: the protocol's default */
    assert_int_equal(cfg.reconnect_timeout_ms, 12u * 3600 * 1000);
    assert_int_equal(cfg.tombstone_timeout_ms, 0);
    assert_int_equal(cfg.election_timeout_ms, 60000);
    assert_int_equal(cfg.automation, CONFIG_AUTOMATION_AUTO);
    assert_string_equal(cfg.policy, "nc-thr-mmt");
    assert_int_equal(cfg.power_on_timeout_ms, 90000);
    assert_int_equal(cfg.vm_cooldown_ms, 30000);
    assert_int_equal(cfg.wake_cooldown_ms, 0); /* unset: the policy's */
    assert_string_equal(cfg.off_command, "systemctl poweroff");
    assert_string_equal(cfg.wake_mac, "52:54:00:AB:cd:01");
    assert_string_equal(cfg.wake_broadcast, "10.0.0.255:7");
    assert_string_equal(cfg.ipmi_address, "10.0.1.2:6230");
    assert_string_equal(cfg.ipmi_user, "nodectl");
    assert_string_equal(cfg.ipmi_password_file, "/etc/nodectl/ipmi.password");
    assert_int_equal(cfg.ipmi_cipher_suite, 0); /* unset: ipmitool negotiates */
    assert_int_equal(cfg.plan_interval_ms, 2000);
    assert_int_equal(cfg.max_migrations, 4);
    assert_int_equal(cfg.power_idle_watts, 80);
    assert_int_equal(cfg.power_max_watts, 300);
    assert_string_equal(cfg.path, path);
}

static void empty_file_gives_defaults(void **state) {
    struct config cfg;
    struct config_error err;
    char path[PATH_MAX];
    assert_int_equal(load("", &cfg, &err, path), 0);
    assert_string_equal(cfg.hypervisor_uri, "test:///default");
    assert_string_equal(cfg.control_socket, "/run/nodectl/nodectl.sock");
    assert_string_equal(cfg.state_dir, "/var/lib/nodectl");
    assert_int_equal(cfg.port, 7946);
    assert_int_equal(cfg.sample_interval_ms, 5000);
    assert_false(cfg.candidate);
    assert_true(cfg.discovery);
    assert_string_equal(cfg.discovery_group, "239.192.0.77");
    assert_true(cfg.node_name[0] != '\0'); /* the hostname */
    assert_int_equal(cfg.automation, CONFIG_AUTOMATION_ADVISE);
    assert_string_equal(config_automation_name(cfg.automation), "advise");
    assert_string_equal(cfg.policy, "default");
    assert_int_equal(cfg.plan_interval_ms, 30000);
    assert_int_equal(cfg.max_migrations, 2);
    assert_int_equal(cfg.power_idle_watts, 100);
    assert_int_equal(cfg.power_max_watts, 250);
}

/* Each bad file must fail with this exact "file:line: ..." suffix. */
static void expect_error(const char *text, const char *want) {
    struct config cfg;
    struct config_error err;
    char path[PATH_MAX], full[PATH_MAX + 256];
    assert_int_equal(load(text, &cfg, &err, path), -1);
    snprintf(full, sizeof full, "%s%s", path, want);
    assert_string_equal(err.text, full);
}

static void unknown_key_names_line_section_and_key(void **state) {
    expect_error("[node]\nname = a\nbogus = 1\n", ":3: unknown key 'bogus' in [node]");
    expect_error("[nodes]\nname = a\n", ":2: unknown key 'name' in [nodes]");
    expect_error("name = a\n", ":1: key 'name' is outside any [section]");
}

static void bad_values_say_what_was_expected(void **state) {
    expect_error("[node]\nport = 70000\n",
                 ":2: key 'port' in [node]: expected a port number from 1 to 65535, got '70000'");
    expect_error("[node]\nport = 12ab\n",
                 ":2: key 'port' in [node]: expected a port number from 1 to 65535, got '12ab'");
    expect_error("\n\n[hypervisor]\nsample_interval = 5\n",
                 ":4: key 'sample_interval' in [hypervisor]: expected a duration such as 250ms, "
                 "5s or 2m between 100 and 3600000 ms, got '5'");
    expect_error("[hypervisor]\nsample_interval = 10ms\n",
                 ":2: key 'sample_interval' in [hypervisor]: expected a duration such as 250ms, "
                 "5s or 2m between 100 and 3600000 ms, got '10ms'");
    expect_error("[cluster]\ninsecure = maybe\n",
                 ":2: key 'insecure' in [cluster]: expected true or false, got 'maybe'");
    expect_error("[node]\nstate_dir = relative/dir\n",
                 ":2: key 'state_dir' in [node]: expected an absolute path, got 'relative/dir'");
    expect_error("[node]\nlog_level = loud\n",
                 ":2: key 'log_level' in [node]: expected one of error, warn, info, debug, got "
                 "'loud'");
    expect_error("[cluster]\nseeds = a:1,,b:2\n",
                 ":2: key 'seeds' in [cluster]: expected a comma-separated list of at most 128 items, got 'a:1,,b:2'");
    expect_error("[hypervisor]\nrebalance_memory_floor = 50\n",
                 ":2: key 'rebalance_memory_floor' in [hypervisor]: expected a percentage such as "
                 "50% between 1 and 100 %, got '50'");
    expect_error("[gossip]\nindirect_checks = -1\n",
                 ":2: key 'indirect_checks' in [gossip]: expected a whole number between 1 and "
                 "16, got '-1'");
    expect_error("[power]\nwake_mac = 52:54:00:12:34\n",
                 ":2: key 'wake_mac' in [power]: expected a MAC address such as "
                 "52:54:00:12:34:56, got '52:54:00:12:34'");
    expect_error("[power]\nwake_mac = 52-54-00-12-34-56\n",
                 ":2: key 'wake_mac' in [power]: expected a MAC address such as "
                 "52:54:00:12:34:56, got '52-54-00-12-34-56'");
    expect_error("[power]\nipmi_password_file = ipmi.password\n",
                 ":2: key 'ipmi_password_file' in [power]: expected an absolute path, got "
                 "'ipmi.password'");
    expect_error("[power]\nipmi_cipher_suite = 0\n",
                 ":2: key 'ipmi_cipher_suite' in [power]: expected a whole number between 1 and "
                 "17, got '0'");
    /* A BMC address long enough to overflow the wake information gossip
     * carries is refused. */
    expect_error("[power]\nipmi_address = "
                 "bmc-0123456789012345678901234567890123456789012345678901234567890\n",
                 ":2: key 'ipmi_address' in [power]: expected a non-empty string of at most 63 "
                 "characters, got "
                 "'bmc-0123456789012345678901234567890123456789012345678901234567890'");
    expect_error("[leader]\nautomation = yes\n",
                 ":2: key 'automation' in [leader]: expected one of off, advise, auto, got 'yes'");
    expect_error("[leader]\nplan_interval = 50ms\n",
                 ":2: key 'plan_interval' in [leader]: expected a duration such as 250ms, 5s or "
                 "2m between 100 and 86400000 ms, got '50ms'");
    expect_error("[leader]\nmax_migrations = 0\n",
                 ":2: key 'max_migrations' in [leader]: expected a whole number between 1 and "
                 "1000, got '0'");
}

static void first_error_is_reported(void **state) {
    expect_error("[node]\nport = 0\nbogus = 1\n",
                 ":2: key 'port' in [node]: expected a port number from 1 to 65535, got '0'");
}

static void syntax_error_has_a_line(void **state) {
    expect_error("[node]\nport 7946\n",
                 ":2: syntax error: expected '[section]' or 'key = value'");
}

static void missing_file_is_an_error(void **state) {
    struct config cfg;
    struct config_error err;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/absent.conf", test_dir);
    assert_int_equal(config_load(path, &cfg, &err), -1);
    assert_non_null(strstr(err.text, "absent.conf: cannot open: No such file or directory"));
}

static void cross_key_rules_are_checked(void **state) {
    expect_error("[election]\nheartbeat_interval = 600ms\nelection_timeout = 1s\n",
                 ": [election] election_timeout (1000 ms) must be at least twice "
                 "heartbeat_interval (600 ms)");
    expect_error("[cluster]\ncandidates = a, b\n[node]\nname = c\ncandidate = true\n",
                 ": [node] candidate = true but node 'c' is not in [cluster] candidates");
    expect_error("[cluster]\ncandidates = a, b\n[node]\nname = a\ncandidate = false\n",
                 ": [node] candidate = false but node 'a' is in [cluster] candidates");
    expect_error("[leader]\npower_idle_watts = 300\npower_max_watts = 200\n",
                 ": [leader] power_idle_watts (300) is above power_max_watts (200)");
}

/* [http] listen is on loopback unless said, and empty turns it off; names
 * are none unless said; log_format is text or json. */
static void http_and_log_format(void **state) {
    struct config cfg;
    struct config_error err;
    char path[PATH_MAX];
    assert_int_equal(load("", &cfg, &err, path), 0);
    assert_string_equal(cfg.http_listen, "127.0.0.1:9750");
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(load("[http]\nlisten =\n[node]\nlog_format = json\n", &cfg, &err, path), 0);
    assert_string_equal(cfg.http_listen, "");
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_int_equal(load("[http]\nlisten = [::1]:9000\n", &cfg, &err, path), 0);
    assert_string_equal(cfg.http_listen, "[::1]:9000");
    assert_int_equal(cfg.http_names.n, 0);
    assert_int_equal(load("[http]\nnames = dash.example.org, host1\n", &cfg, &err, path), 0);
    assert_int_equal(cfg.http_names.n, 2);
    assert_string_equal(cfg.http_names.item[1], "host1");
    assert_int_equal(load("[node]\nlog_format = xml\n", &cfg, &err, path), -1);
    assert_non_null(strstr(err.text, "key 'log_format' in [node]: expected one of text, json"));
}

/* 60 seeds make a line of about 1,000 characters, far beyond the 200 that
 * Debian's inih reads at once: every seed is kept, in order, and the keys
 * after it still count, with the right line numbers. */
static void long_lines_are_read_whole(void **state) {
    static char text[CONFIG_LINE_MAX + 4096];
    size_t n = (size_t)snprintf(text, sizeof text, "[cluster]\n# %0300d\nseeds = ", 0);
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s10.0.%d.%d:7946", i ? ", " : "",
                              i / 250, i % 250 + 1);
    n += (size_t)snprintf(text + n, sizeof text - n, " ; inline comment\ncandidates = ");
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%shypervisor-host-with-a-long-name-%02d",
                              i ? ", " : "", i);
    snprintf(text + n, sizeof text - n, "\n[node]\nname = hypervisor-host-with-a-long-name-00\n");
    struct config cfg;
    struct config_error err;
    char path[PATH_MAX];
    assert_int_equal(load(text, &cfg, &err, path), 0);
    assert_int_equal(cfg.seeds.n, 60);
    assert_string_equal(cfg.seeds.item[0], "10.0.0.1:7946");
    assert_string_equal(cfg.seeds.item[59], "10.0.0.60:7946");
    assert_int_equal(cfg.candidates.n, 9);
    assert_string_equal(cfg.candidates.item[8], "hypervisor-host-with-a-long-name-08");
    assert_true(cfg.candidate);
    /* An error after a long line names its own line. */
    snprintf(text + n, sizeof text - n, "x\n[node]\nbogus = 1\n");
    expect_error(text, ":6: unknown key 'bogus' in [node]");
}

/* A line too long for anything is refused, naming it, never split. */
static void overlong_line_is_an_error_naming_it(void **state) {
    static char text[CONFIG_LINE_MAX + 4096];
    size_t n = (size_t)snprintf(text, sizeof text, "[cluster]\nname = a\nseeds = ");
    while (n < CONFIG_LINE_MAX + 100)
        n += (size_t)snprintf(text + n, sizeof text - n, "10.0.0.1:7946, ");
    snprintf(text + n, sizeof text - n, "10.0.0.2:7946\n");
    expect_error(text, ":3: line longer than 32768 characters");
    /* The bytes that mark a long line mean nothing in a short one. */
    expect_error("[cluster]\nseeds = \x01\n\x02 = \x02\n", ":3: unknown key '\x02' in [cluster]");
    /* A long line without a key is not split into keys either. */
    memset(text, 'x', 500);
    snprintf(text + 500, sizeof text - 500, "\n");
    expect_error(text, ":1: a long line that is not 'key = value'");
    /* Within the line limit, more items than a list holds. */
    n = (size_t)snprintf(text, sizeof text, "[cluster]\nseeds = ");
    for (int i = 0; i < CONFIG_LIST_MAX + 1; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%sh%d:1", i ? "," : "", i);
    snprintf(text + n, sizeof text - n, "\n");
    struct config cfg;
    struct config_error err;
    char path[PATH_MAX];
    assert_int_equal(load(text, &cfg, &err, path), -1);
    assert_non_null(strstr(err.text, ":2: key 'seeds' in [cluster]: expected a comma-separated "
                                     "list of at most 128 items"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_and_log_format),
        cmocka_unit_test(good_file_sets_every_kind_of_value),
        cmocka_unit_test(empty_file_gives_defaults),
        cmocka_unit_test(unknown_key_names_line_section_and_key),
        cmocka_unit_test(bad_values_say_what_was_expected),
        cmocka_unit_test(first_error_is_reported),
        cmocka_unit_test(syntax_error_has_a_line),
        cmocka_unit_test(missing_file_is_an_error),
        cmocka_unit_test(cross_key_rules_are_checked),
        cmocka_unit_test(long_lines_are_read_whole),
        cmocka_unit_test(overlong_line_is_an_error_naming_it),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
