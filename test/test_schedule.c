/* The cluster policy's configuration: [schedule] windows parsed and written
 * back, the window in force at a local time (the time an input), local
 * time across DST changes in a configured zone, and every bad value of the
 * policy's keys refused with file:line and the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/config_policy.h"
#include "common/schedule.h"
#include "common/tz.h"
#include "test_helpers.h"

static struct schedule_window parse_ok(const char *text) {
    struct schedule_window w;
    char err[200] = "";
    if (schedule_parse_window(text, &w, err, sizeof err) != 0)
        fail_msg("'%s' refused: %s", text, err);
    return w;
}

static void windows_parse_and_write_back(void **state) {
    (void)state;
    static const char *const same[] = {"mon-fri 07:30-19:00 spread", "22:00-06:00 consolidate",
                                       "sat-sun 00:00-24:00 relieve", "mon,wed,fri-sun 05:00-06:00 spread"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        struct schedule_window w = parse_ok(same[i]);
        char text[SCHEDULE_TEXT_MAX];
        schedule_window_text(&w, text, sizeof text);
        assert_string_equal(text, same[i]);
    }
    struct schedule_window w = parse_ok("fri-mon 22:00-00:00 consolidate");
    assert_int_equal(w.days, 0x1 | 0x10 | 0x20 | 0x40);
    assert_int_equal(w.start_min, 22 * 60);
    assert_int_equal(w.end_min, 1440);
    assert_int_equal(w.mode, SCHEDULE_CONSOLIDATE);
}

static void bad_windows_are_refused_with_what_is_wrong(void **state) {
    (void)state;
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"spread", "expected [DAYS] HH:MM-HH:MM MODE"},
        {"mon-fri 07:30-19:00 spread now", "expected [DAYS] HH:MM-HH:MM MODE"},
        {"monday 07:30-19:00 spread", "days 'monday'"},
        {"mon-xyz 07:30-19:00 spread", "days 'mon-xyz'"},
        {"mon, 07:30-19:00 spread", "days 'mon,'"},
        {"07:60-19:00 spread", "times"},
        {"24:00-06:00 spread", "times"},
        {"7:30-19:00 spread", "times"},
        {"07:30 spread", "times"},
        {"07:30-07:30 spread", "an empty window"},
        {"07:30-19:00 balance", "mode 'balance'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct schedule_window w;
        char err[200] = "";
        assert_int_equal(schedule_parse_window(bad[i].text, &w, err, sizeof err), -1);
        if (!strstr(err, bad[i].says))
            fail_msg("'%s': '%s' does not say '%s'", bad[i].text, err, bad[i].says);
    }
}

static struct schedule two_windows(void) {
    struct schedule s = {0};
    char err[200];
    struct schedule_window a = parse_ok("mon-fri 07:30-19:00 spread"),
                           b = parse_ok("22:00-06:00 consolidate");
    assert_int_equal(schedule_add(&s, &a, err, sizeof err), 0);
    assert_int_equal(schedule_add(&s, &b, err, sizeof err), 0);
    return s;
}

static int at(const struct schedule *s, int wday, int h, int m) {
    struct schedule_time t = {wday, h * 60 + m};
    return schedule_at(s, &t);
}

static void the_window_in_force_follows_days_and_midnight(void **state) {
    (void)state;
    struct schedule s = two_windows();
    assert_int_equal(at(&s, 0, 7, 29), -1);  /* Monday, before opening */
    assert_int_equal(at(&s, 0, 7, 30), 0);   /* opens at 07:30 sharp */
    assert_int_equal(at(&s, 4, 18, 59), 0);  /* Friday */
    assert_int_equal(at(&s, 4, 19, 0), -1);  /* closed at 19:00 */
    assert_int_equal(at(&s, 5, 10, 0), -1);  /* Saturday: not a spread day */
    assert_int_equal(at(&s, 5, 23, 0), 1);   /* every night */
    assert_int_equal(at(&s, 6, 5, 59), 1);   /* Sunday morning: Saturday's night */
    assert_int_equal(at(&s, 6, 6, 0), -1);
    assert_int_equal(at(&s, 0, 0, 30), 1);   /* Monday 00:30: Sunday's night */
    /* A night window of some days only: its morning belongs to the day after. */
    struct schedule f = {0};
    char err[200];
    struct schedule_window w = parse_ok("fri 22:00-06:00 consolidate");
    assert_int_equal(schedule_add(&f, &w, err, sizeof err), 0);
    assert_int_equal(at(&f, 5, 5, 0), 0);    /* Saturday morning */
    assert_int_equal(at(&f, 4, 5, 0), -1);   /* Friday morning: Thursday's night is not in */
    assert_int_equal(at(&f, 0, 23, 0), -1);
    /* The first listed window wins where two overlap. */
    struct schedule o = two_windows();
    struct schedule_window all = parse_ok("00:00-24:00 relieve");
    assert_int_equal(schedule_add(&o, &all, err, sizeof err), 0);
    assert_int_equal(at(&o, 2, 12, 0), 0);
    assert_int_equal(at(&o, 2, 20, 0), 2);
}

/* Local time in Europe/Berlin around its DST changes of 2026: clocks go
 * forward at 01:00 UTC on 29 March (02:00 CET -> 03:00 CEST) and back at
 * 01:00 UTC on 25 October (03:00 CEST -> 02:00 CET). */
static void local_time_is_dst_safe(void **state) {
    (void)state;
    struct tz *z = tz_open("Europe/Berlin");
    assert_non_null(z);
    struct schedule_time t;
    char abbr[16];
    const int64_t mar29 = 1774742400; /* 2026-03-29 00:00 UTC, a Sunday */
    tz_local(z, mar29 + 3600 - 1, &t, abbr, sizeof abbr);
    assert_int_equal(t.wday, 6);
    assert_int_equal(t.minute, 1 * 60 + 59);
    assert_string_equal(abbr, "CET");
    tz_local(z, mar29 + 3600, &t, abbr, sizeof abbr); /* 02:00 CET does not exist */
    assert_int_equal(t.minute, 3 * 60);
    assert_string_equal(abbr, "CEST");
    /* Monday 30 March, 07:30 local is 05:30 UTC in summer time. */
    struct schedule s = two_windows();
    const int64_t mar30 = mar29 + 86400;
    tz_local(z, mar30 + 5 * 3600 + 29 * 60, &t, NULL, 0);
    assert_int_equal(schedule_at(&s, &t), -1);
    tz_local(z, mar30 + 5 * 3600 + 30 * 60, &t, NULL, 0);
    assert_int_equal(t.wday, 0);
    assert_int_equal(schedule_at(&s, &t), 0);
    /* Monday 26 October, after the change back: 07:30 local is 06:30 UTC. */
    const int64_t oct25 = 1792886400; /* 2026-10-25 00:00 UTC, a Sunday */
    tz_local(z, oct25 + 3600 - 1, &t, abbr, sizeof abbr); /* 02:59:59 CEST */
    assert_int_equal(t.minute, 2 * 60 + 59);
    assert_string_equal(abbr, "CEST");
    tz_local(z, oct25 + 3600, &t, abbr, sizeof abbr); /* 02:00 CET again */
    assert_int_equal(t.minute, 2 * 60);
    assert_string_equal(abbr, "CET");
    const int64_t oct26 = oct25 + 86400;
    tz_local(z, oct26 + 6 * 3600 + 29 * 60, &t, NULL, 0);
    assert_int_equal(schedule_at(&s, &t), -1);
    tz_local(z, oct26 + 6 * 3600 + 30 * 60, &t, NULL, 0);
    assert_int_equal(schedule_at(&s, &t), 0);
    /* The night window holds through the repeated hour. */
    tz_local(z, oct25 + 3600 + 1800, &t, NULL, 0);
    assert_int_equal(schedule_at(&s, &t), 1);
    tz_free(z);
    assert_null(tz_open("Mars/Olympus_Mons"));
    assert_null(tz_open("/etc/passwd"));
    assert_null(tz_open("../../etc/localtime"));
}

static int load(const char *text, struct config *cfg, struct config_error *err) {
    char path[PATH_MAX];
    test_write_file(test_dir, "nodectl.conf", text, path, sizeof path);
    return config_load(path, cfg, err);
}

static void the_policy_is_read_from_the_file(void **state) {
    (void)state;
    struct config cfg;
    struct config_error err;
    int rc = load("[cluster]\ntimezone = Europe/Berlin\n"
                  "[leader]\npolicy = nc-thr-mmt\npolicy_parameter = 0.75\ncpu_overcommit = 1.5\n"
                  "spare_hosts = 2\nunderload_threshold = 30%\n"
                  "[schedule]\nmon-fri 07:30-19:00 spread\n22:00-06:00 consolidate ; nights\n",
                  &cfg, &err);
    if (rc != 0)
        fail_msg("%s", err.text);
    assert_string_equal(cfg.timezone, "Europe/Berlin");
    assert_true(cfg.policy_parameter == 0.75);
    assert_true(cfg.cpu_overcommit == 1.5);
    assert_int_equal(cfg.spare_hosts, 2);
    assert_int_equal(cfg.underload_pct, 30);
    assert_int_equal(cfg.schedule.n, 2);
    assert_int_equal(cfg.schedule.w[1].mode, SCHEDULE_CONSOLIDATE);
    char text[1024];
    config_policy_text(&cfg, text, sizeof text);
    assert_string_equal(text, "policy=nc-thr-mmt policy_parameter=0.75 cpu_overcommit=1.5 "
                              "spare_hosts=2 underload_threshold=30 vm_cooldown=0 "
                              "wake_cooldown=0 timezone=Europe/Berlin "
                              "schedule=mon-fri 07:30-19:00 spread;22:00-06:00 consolidate");
    /* Defaults: the policy's own values, UTC, no windows. */
    assert_int_equal(load("[leader]\npolicy = default\n", &cfg, &err), 0);
    assert_true(cfg.policy_parameter < 0);
    assert_true(cfg.cpu_overcommit == 0);
    assert_int_equal(cfg.spare_hosts, 0);
    assert_string_equal(cfg.timezone, "UTC");
    assert_int_equal(cfg.schedule.n, 0);
}

static void bad_policy_values_name_file_line_and_key(void **state) {
    (void)state;
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"[cluster]\ntimezone = Mars/Olympus_Mons\n", ":2: key 'timezone' in [cluster]"},
        {"[leader]\npolicy_parameter = -1\n", ":2: key 'policy_parameter' in [leader]"},
        {"[leader]\ncpu_overcommit = lots\n", ":2: key 'cpu_overcommit' in [leader]"},
        {"[leader]\ncpu_overcommit = 0\n", ":2: key 'cpu_overcommit' in [leader]"},
        {"[leader]\nspare_hosts = 2.5\n", ":2: key 'spare_hosts' in [leader]"},
        {"[leader]\nunderload_threshold = 0.3\n", ":2: key 'underload_threshold' in [leader]"},
        {"[leader]\nunderload_threshold = 0%\n", ":2: key 'underload_threshold' in [leader]"},
        {"[leader]\nschedule_clock_file = clock\n", ":2: key 'schedule_clock_file' in [leader]"},
        {"[schedule]\n# nights\nmon-fri 07:30-19:00 spread\n22:00-06:00 sleep\n",
         ":4: window '22:00-06:00 sleep' in [schedule]: mode 'sleep'"},
        {"[schedule]\nmon-fri 7:30-19:00 spread\n", ":2: window 'mon-fri 7:30-19:00 spread'"},
        {"[schedule]\nmon-fri = 07:30-19:00 spread\n", ":2: window 'mon-fri:07:30-19:00 spread'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct config cfg;
        struct config_error err;
        assert_int_equal(load(bad[i].text, &cfg, &err), -1);
        if (!strstr(err.text, bad[i].says))
            fail_msg("%s: '%s' does not say '%s'", bad[i].text, err.text, bad[i].says);
    }
    /* More windows than a schedule holds. */
    char text[4096] = "[schedule]\n";
    for (int i = 0; i <= SCHEDULE_WINDOWS_MAX; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%02d:00-%02d:30 spread\n",
                 i % 24, i % 24);
    struct config cfg;
    struct config_error err;
    assert_int_equal(load(text, &cfg, &err), -1);
    assert_non_null(strstr(err.text, "at most 32 windows"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_parse_and_write_back),
        cmocka_unit_test(bad_windows_are_refused_with_what_is_wrong),
        cmocka_unit_test(the_window_in_force_follows_days_and_midnight),
        cmocka_unit_test(local_time_is_dst_safe),
        cmocka_unit_test_setup_teardown(the_policy_is_read_from_the_file, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(bad_policy_values_name_file_line_and_key, test_dir_setup,
                                        test_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
