/* The failed migrations a host keeps across its agent's restart
 * (src/host/host_failed.c): what is written is read back the same, what
 * the line cannot hold is refused, and a damaged file gives what it can. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "host/host_failed.h"

static struct host_failed entry(const char *id, enum report_state st, const char *vm) {
    struct host_failed f = {.state = st, .started_ms = 1700000026920, .ended_ms = 1700000032934,
                            .term = 7};
    snprintf(f.id, sizeof f.id, "%s", id);
    snprintf(f.destination, sizeof f.destination, "n9");
    snprintf(f.vm, sizeof f.vm, "%s", vm);
    return f;
}

static void written_and_read_back(void **state) {
    (void)state;
    struct host_failed in[3] = {
        entry("5a7672da-6023-4306-838f-77d6121cb49f", REPORT_FAILED, "vm37"),
        entry("b", REPORT_ABORTED, "web server 2"), entry("c", REPORT_FAILED, "x")};
    char text[HOST_FAILED_TEXT_MAX];
    int len = host_failed_format(in, 3, text, sizeof text);
    assert_true(len > 0);
    assert_int_equal((size_t)len, strlen(text));
    assert_non_null(strstr(text, "5a7672da-6023-4306-838f-77d6121cb49f failed 1700000026920 "
                                 "1700000032934 7 n9 vm37\n"));
    struct host_failed out[3];
    size_t bad = 99;
    assert_int_equal(host_failed_parse(text, out, 3, &bad), 3);
    assert_int_equal(bad, 0);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(out[i].id, in[i].id);
        assert_int_equal(out[i].state, in[i].state);
        assert_int_equal(out[i].started_ms, in[i].started_ms);
        assert_int_equal(out[i].ended_ms, in[i].ended_ms);
        assert_int_equal(out[i].term, in[i].term);
        assert_string_equal(out[i].destination, in[i].destination);
        assert_string_equal(out[i].vm, in[i].vm);
    }
    /* Nothing kept: an empty file. */
    assert_int_equal(host_failed_format(in, 0, text, sizeof text), 0);
    assert_int_equal(host_failed_parse("", out, 3, &bad), 0);
    /* More than max: the rest counted, not written past out. */
    len = host_failed_format(in, 3, text, sizeof text);
    assert_int_equal(host_failed_parse(text, out, 2, &bad), 2);
    assert_int_equal(bad, 1);
}

static void what_the_line_cannot_hold_is_refused(void **state) {
    (void)state;
    char text[HOST_FAILED_TEXT_MAX];
    struct host_failed f = entry("a b", REPORT_FAILED, "vm1");
    assert_int_equal(host_failed_format(&f, 1, text, sizeof text), -1);
    f = entry("a", REPORT_SUCCEEDED, "vm1");
    assert_int_equal(host_failed_format(&f, 1, text, sizeof text), -1);
    f = entry("a", REPORT_FAILED, "vm\n1");
    assert_int_equal(host_failed_format(&f, 1, text, sizeof text), -1);
    f = entry("a", REPORT_FAILED, " vm1");
    assert_int_equal(host_failed_format(&f, 1, text, sizeof text), -1);
    f = entry("", REPORT_FAILED, "vm1");
    assert_int_equal(host_failed_format(&f, 1, text, sizeof text), -1);
    f = entry("a", REPORT_FAILED, "vm1");
    assert_int_equal(host_failed_format(&f, 1, text, 8), -1);
}

static void a_damaged_file_gives_what_it_can(void **state) {
    (void)state;
    const char *text = "a failed 1 2 3 n9 vm1\n"
                       "garbage\n"
                       "b succeeded 1 2 3 n9 vm2\n"
                       "c aborted 1 2 x n9 vm3\n"
                       "d aborted 1 2 3 n9\n"
                       "\n"
                       "e aborted 4 5 6 n2 vm 5";
    struct host_failed out[8];
    size_t bad;
    assert_int_equal(host_failed_parse(text, out, 8, &bad), 2);
    assert_int_equal(bad, 4);
    assert_string_equal(out[0].id, "a");
    assert_string_equal(out[1].id, "e");
    assert_int_equal(out[1].state, REPORT_ABORTED);
    assert_string_equal(out[1].vm, "vm 5");
    assert_int_equal(out[1].term, 6);
}

/* A migration running when the agent stopped, settled from libvirt's view
 * at the next start: only a domain here with no job says it failed. */
static void a_running_migration_is_settled_from_libvirt(void **state) {
    (void)state;
    struct host_failed f = entry("m1", REPORT_RUNNING, "vm1");
    char text[HOST_FAILED_TEXT_MAX], why[256];
    assert_true(host_failed_format(&f, 1, text, sizeof text) > 0);
    struct hv_domain_now d = {.name = "vm1", .state = HV_VM_RUNNING, .active = true,
                              .job = HV_JOB_NONE};
    snprintf(d.arrival, sizeof d.arrival, "m1");
    assert_int_equal(host_failed_settle(&f, true, &d, why, sizeof why), REPORT_FAILED);
    assert_non_null(strstr(why, "this migration's id"));
    d.arrival[0] = '\0';
    assert_int_equal(host_failed_settle(&f, true, &d, why, sizeof why), REPORT_FAILED);
    d.job = HV_JOB_MIGRATION_OUT;
    assert_int_equal(host_failed_settle(&f, true, &d, why, sizeof why), REPORT_RUNNING);
    d.job = HV_JOB_UNKNOWN;
    assert_int_equal(host_failed_settle(&f, true, &d, why, sizeof why), REPORT_RUNNING);
    assert_int_equal(host_failed_settle(&f, true, NULL, why, sizeof why), REPORT_SUCCEEDED);
    assert_int_equal(host_failed_settle(&f, false, NULL, why, sizeof why), REPORT_RUNNING);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(written_and_read_back),
        cmocka_unit_test(what_the_line_cannot_hold_is_refused),
        cmocka_unit_test(a_damaged_file_gives_what_it_can),
        cmocka_unit_test(a_running_migration_is_settled_from_libvirt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
