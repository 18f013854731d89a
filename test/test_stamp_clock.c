/* The stamp clock (src/common/stamp_clock.h): a wall clock's steps reach
 * the stamps at 500 ppm at most, stamps never go backwards, and an agent
 * restarted on the same boot resumes where the clock was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/stamp_clock.h"

#define T0_WALL 1700000000000ULL
#define HOUR_MS 3600000ULL

/* A machine: its monotonic clock and a wall clock offset from it. */
struct machine {
    uint64_t mono;
    int64_t wall_offset;
};

static uint64_t wall(const struct machine *m) { return (uint64_t)((int64_t)m->mono + m->wall_offset); }

/* Reads every step_ms for span_ms; checks that each stamp moved by the
 * monotonic time elapsed, give or take the slew (and the ms rounding), and
 * returns the last. */
static uint64_t run(struct stamp_clock *c, struct machine *m, uint64_t span_ms, uint64_t step_ms) {
    uint64_t prev = stamp_clock_read(c, m->mono, wall(m));
    for (uint64_t t = 0; t < span_ms; t += step_ms) {
        m->mono += step_ms;
        uint64_t s = stamp_clock_read(c, m->mono, wall(m));
        assert_true(s >= prev);
        uint64_t d = s - prev;
        uint64_t slack = step_ms * STAMP_CLOCK_SLEW_PPM / 1000000 + 1;
        assert_true(d + slack >= step_ms);
        assert_true(d <= step_ms + slack);
        prev = s;
    }
    return prev;
}

static void anchored_on_the_wall_clock_it_follows_it(void **state) {
    (void)state;
    struct machine m = {.mono = 12345, .wall_offset = (int64_t)T0_WALL - 12345};
    struct stamp_clock c;
    stamp_clock_anchor(&c, m.mono, wall(&m));
    assert_int_equal(stamp_clock_read(&c, m.mono, wall(&m)), T0_WALL);
    uint64_t s = run(&c, &m, 600000, 100);
    assert_int_equal(s, wall(&m));
}

/* Two hours back (nodesim cluster --ha seed 5125's step): the stamps go on
 * as if nothing happened, less 500 ppm of the time since. */
static void a_step_back_reaches_the_stamps_at_500_ppm(void **state) {
    (void)state;
    struct machine m = {.mono = 1000, .wall_offset = (int64_t)T0_WALL};
    struct stamp_clock c;
    stamp_clock_anchor(&c, m.mono, wall(&m));
    run(&c, &m, 60000, 100);
    uint64_t before = stamp_clock_read(&c, m.mono, wall(&m));
    m.wall_offset -= (int64_t)(2 * HOUR_MS);
    uint64_t after = run(&c, &m, 1000000, 100);
    /* 1000 s later: 1000 s on, less the slew of 500 ms at most. */
    assert_true(after >= before + 1000000 - 500 - 1);
    assert_true(after <= before + 1000000);
    assert_true(after > wall(&m) + 2 * HOUR_MS - 1000);
}

static void a_step_forward_reaches_the_stamps_at_500_ppm(void **state) {
    (void)state;
    struct machine m = {.mono = 1000, .wall_offset = (int64_t)T0_WALL};
    struct stamp_clock c;
    stamp_clock_anchor(&c, m.mono, wall(&m));
    uint64_t before = stamp_clock_read(&c, m.mono, wall(&m));
    m.wall_offset += (int64_t)(2 * HOUR_MS);
    uint64_t after = run(&c, &m, 1000000, 1000);
    assert_true(after <= before + 1000000 + 500 + 1);
    assert_true(after >= before + 1000000 + 500 - 1);
}

/* A small error is slewed away, then the stamps are the wall clock again;
 * frequent readings (every ms) slew as fast as rare ones. */
static void a_small_error_is_slewed_away(void **state) {
    (void)state;
    struct machine m = {.mono = 1000, .wall_offset = (int64_t)T0_WALL};
    struct stamp_clock c;
    stamp_clock_anchor(&c, m.mono, wall(&m));
    m.wall_offset -= 200;
    /* 200 ms at 500 ppm: 400 s. */
    uint64_t s = run(&c, &m, 300000, 1);
    assert_true(s > wall(&m));
    assert_true(s - wall(&m) >= 49 && s - wall(&m) <= 51);
    s = run(&c, &m, 101000, 1);
    assert_int_equal(s, wall(&m));
    /* 300 ms ahead: 600 s; half a ms short after 599 s. */
    m.wall_offset += 300;
    s = run(&c, &m, 599000, 1000);
    assert_int_equal(s + 1, wall(&m));
    s = run(&c, &m, 1000, 1000);
    assert_int_equal(s, wall(&m));
}

/* An agent restarted on the same boot resumes from the anchor it kept: the
 * wall clock stepped while it ran (or while it was down) reaches the stamps
 * no faster than if it had not restarted. */
static void a_restart_resumes_from_the_kept_anchor(void **state) {
    (void)state;
    struct machine m = {.mono = 5000, .wall_offset = (int64_t)T0_WALL};
    struct stamp_clock ran, c;
    stamp_clock_anchor(&ran, m.mono, wall(&m));
    run(&ran, &m, 30000, 100);
    m.wall_offset -= (int64_t)(2 * HOUR_MS);
    run(&ran, &m, 30000, 100);
    int64_t kept[STAMP_CLOCK_KEPT_VALUES];
    stamp_clock_kept(&ran, kept);
    uint64_t last = run(&ran, &m, 20000, 100);
    /* Down for 7 s, then started again: it resumes. */
    m.mono += 7000;
    assert_true(stamp_clock_resume(&c, kept, m.mono));
    uint64_t first = stamp_clock_read(&c, m.mono, wall(&m));
    assert_true(first >= last + 7000 - 4);
    assert_int_equal(first, stamp_clock_read(&ran, m.mono, wall(&m)));
    /* Anchored afresh instead, it would take the stepped wall clock. */
    struct stamp_clock fresh;
    stamp_clock_anchor(&fresh, m.mono, wall(&m));
    assert_true(stamp_clock_read(&fresh, m.mono, wall(&m)) < last);
    /* An anchor ahead of this boot's monotonic time is not of this boot. */
    int64_t ahead[] = {kept[0], (int64_t)m.mono + 1};
    assert_false(stamp_clock_resume(&c, ahead, m.mono));
    int64_t negative[] = {-(int64_t)m.mono * 1000000 - 1, 0};
    assert_false(stamp_clock_resume(&c, negative, m.mono));
    /* Nor one before it began. */
    int64_t before_boot[] = {kept[0], -1};
    assert_false(stamp_clock_resume(&c, before_boot, m.mono));
}

/* A kept anchor is a file: one whose stamps would pass the clock's range
 * (a corrupt or hand-edited offset; sscanf saturates an out-of-range one
 * to INT64_MAX) is refused rather than overflowing the ns arithmetic at
 * the next reading. */
static void an_anchor_out_of_range_is_refused(void **state) {
    (void)state;
    uint64_t mono = 1000000;
    struct stamp_clock c;
    int64_t huge[] = {INT64_MAX, 1000};
    assert_false(stamp_clock_resume(&c, huge, mono));
    /* Its stamp fits at the anchor, not a second later. */
    int64_t edge[] = {INT64_MAX - 1000 * 1000000LL, 1000};
    assert_false(stamp_clock_resume(&c, edge, mono));
    int64_t past_max[] = {(int64_t)(STAMP_CLOCK_MAX_MS + 1 - 1000) * 1000000, 1000};
    assert_false(stamp_clock_resume(&c, past_max, mono));
    int64_t most_negative[] = {INT64_MIN, 1000};
    assert_false(stamp_clock_resume(&c, most_negative, mono));
    /* The largest one accepted reads on without overflow. */
    int64_t max[] = {(int64_t)(STAMP_CLOCK_MAX_MS - 1000) * 1000000, 1000};
    assert_true(stamp_clock_resume(&c, max, mono));
    assert_true(stamp_clock_read(&c, mono, T0_WALL) >= STAMP_CLOCK_MAX_MS);
}

/* A wall clock past the stamps' range (an RTC reading 2300 at boot, an
 * operator's typo) is taken as the range's end: the ns arithmetic does not
 * overflow, the stamps do not wrap, and they go on from there. */
static void a_wall_clock_past_the_range_is_taken_as_its_end(void **state) {
    (void)state;
    const uint64_t y2300 = 10413792000000ULL;
    struct machine m = {.mono = 5000, .wall_offset = (int64_t)y2300 - 5000};
    struct stamp_clock c;
    stamp_clock_anchor(&c, m.mono, wall(&m));
    assert_int_equal(stamp_clock_read(&c, m.mono, wall(&m)), STAMP_CLOCK_MAX_MS);
    uint64_t s = run(&c, &m, 10000, 100);
    assert_true(s >= STAMP_CLOCK_MAX_MS + 10000 - 6 && s <= STAMP_CLOCK_MAX_MS + 10000);
    /* Anchored right, then stepped to 2300: slewed toward the range's end. */
    struct machine r = {.mono = 5000, .wall_offset = (int64_t)T0_WALL - 5000};
    stamp_clock_anchor(&c, r.mono, wall(&r));
    r.wall_offset = (int64_t)y2300;
    s = run(&c, &r, 10000, 100);
    assert_true(s >= T0_WALL + 10000 + 4 && s <= T0_WALL + 10000 + 6);
}

/* A value read earlier and published later (a hypervisor sample's domains)
 * is stamped no later than the stamp of the moment it was read, whichever
 * way the clock slewed since, and by no more than the slew's budget
 * earlier. */
static void a_stamp_before_is_no_later_than_the_stamp_then(void **state) {
    (void)state;
    enum { N = 200, STEP = 50 };
    for (int dir = -1; dir <= 1; dir += 2) {
        struct machine m = {.mono = 7000, .wall_offset = (int64_t)T0_WALL - 7000};
        struct stamp_clock c;
        stamp_clock_anchor(&c, m.mono, wall(&m));
        m.wall_offset += dir * (int64_t)HOUR_MS; /* slewing all along */
        uint64_t mono[N], stamp[N];
        for (int i = 0; i < N; i++) {
            m.mono += STEP;
            mono[i] = m.mono;
            stamp[i] = stamp_clock_read(&c, m.mono, wall(&m));
        }
        for (int i = 0; i < N; i++) {
            uint64_t b = stamp_clock_before(&c, mono[i]);
            uint64_t budget = (mono[N - 1] - mono[i]) * STAMP_CLOCK_SLEW_PPM / 1000000 + 1;
            assert_true(b <= stamp[i]);
            assert_true(b + 2 * budget >= stamp[i]);
        }
        assert_int_equal(stamp_clock_before(&c, m.mono + 1000), stamp[N - 1]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anchored_on_the_wall_clock_it_follows_it),
        cmocka_unit_test(a_step_back_reaches_the_stamps_at_500_ppm),
        cmocka_unit_test(a_step_forward_reaches_the_stamps_at_500_ppm),
        cmocka_unit_test(a_small_error_is_slewed_away),
        cmocka_unit_test(a_restart_resumes_from_the_kept_anchor),
        cmocka_unit_test(an_anchor_out_of_range_is_refused),
        cmocka_unit_test(a_wall_clock_past_the_range_is_taken_as_its_end),
        cmocka_unit_test(a_stamp_before_is_no_later_than_the_stamp_then),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
