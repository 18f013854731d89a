/* A wall clock that does not step: the monotonic clock slewed toward the
 * wall clock (stamp_clock.h). */
#include "stamp_clock.h"

#include <assert.h>
#include <stdint.h>

#define NS_PER_MS 1000000
/* The largest change of the offset per monotonic ms. */
#define SLEW_NS_PER_MS (STAMP_CLOCK_SLEW_PPM * NS_PER_MS / 1000000)

_Static_assert(SLEW_NS_PER_MS > 0 && SLEW_NS_PER_MS < NS_PER_MS,
               "the slew must be slower than the clock it slews");
/* A stamp and a monotonic reading below the range's end, in ns, and their
 * difference, fit in int64_t with room for centuries of uptime. */
_Static_assert(STAMP_CLOCK_MAX_MS <= INT64_MAX / NS_PER_MS / 2, "the range must fit in ns");

static int64_t in_range(uint64_t wall_ms) {
    return (int64_t)(wall_ms < STAMP_CLOCK_MAX_MS ? wall_ms : STAMP_CLOCK_MAX_MS);
}

/* The stamp at mono_ms with the current offset; floor of whole ms, so that
 * a non-decreasing time in ns gives non-decreasing stamps. */
static uint64_t stamp_at(const struct stamp_clock *c, uint64_t mono_ms) {
    int64_t ns = (int64_t)mono_ms * NS_PER_MS + c->offset_ns;
    assert(ns >= 0);
    return (uint64_t)(ns / NS_PER_MS);
}

void stamp_clock_anchor(struct stamp_clock *c, uint64_t mono_ms, uint64_t wall_ms) {
    assert(mono_ms <= STAMP_CLOCK_MAX_MS);
    c->offset_ns = (in_range(wall_ms) - (int64_t)mono_ms) * NS_PER_MS;
    c->at_mono_ms = mono_ms;
    c->last_ms = stamp_at(c, mono_ms);
    assert(c->last_ms == (uint64_t)in_range(wall_ms));
}

/* The order of the values kept. */
enum { KEPT_OFFSET_NS, KEPT_MONO_MS };
_Static_assert(KEPT_MONO_MS + 1 == STAMP_CLOCK_KEPT_VALUES, "every value kept has its place");

bool stamp_clock_resume(struct stamp_clock *c, const int64_t kept[STAMP_CLOCK_KEPT_VALUES],
                        uint64_t mono_ms) {
    int64_t offset_ns = kept[KEPT_OFFSET_NS];
    /* Compared without overflow: the values are read from a file. */
    if (kept[KEPT_MONO_MS] < 0 || (uint64_t)kept[KEPT_MONO_MS] > mono_ms ||
        mono_ms > STAMP_CLOCK_MAX_MS)
        return false;
    uint64_t at_mono_ms = (uint64_t)kept[KEPT_MONO_MS];
    int64_t at_ns = (int64_t)at_mono_ms * NS_PER_MS;
    if (offset_ns < -at_ns || offset_ns > (int64_t)STAMP_CLOCK_MAX_MS * NS_PER_MS - at_ns)
        return false;
    c->offset_ns = offset_ns;
    c->at_mono_ms = at_mono_ms;
    c->last_ms = stamp_at(c, at_mono_ms);
    return true;
}

uint64_t stamp_clock_read(struct stamp_clock *c, uint64_t mono_ms, uint64_t wall_ms) {
    assert(mono_ms >= c->at_mono_ms);
    int64_t budget = (int64_t)(mono_ms - c->at_mono_ms) * SLEW_NS_PER_MS;
    /* How far the wall clock is from the stamp it would be given now. */
    int64_t behind = (in_range(wall_ms) - (int64_t)mono_ms) * NS_PER_MS - c->offset_ns;
    int64_t slew = behind > budget ? budget : behind < -budget ? -budget : behind;
    c->offset_ns += slew;
    c->at_mono_ms = mono_ms;
    uint64_t s = stamp_at(c, mono_ms);
    /* The monotonic clock gained NS_PER_MS per ms, the slew took at most
     * SLEW_NS_PER_MS of them. */
    assert(s >= c->last_ms);
    c->last_ms = s;
    return s;
}

uint64_t stamp_clock_before(const struct stamp_clock *c, uint64_t mono_ms) {
    if (mono_ms >= c->at_mono_ms)
        return c->last_ms;
    /* The offset moved by at most SLEW_NS_PER_MS a ms since then, either
     * way: at its lowest it gives the earliest stamp the clock can have
     * given then. */
    int64_t ns = (int64_t)mono_ms * NS_PER_MS + c->offset_ns -
                 (int64_t)(c->at_mono_ms - mono_ms) * SLEW_NS_PER_MS;
    return ns > 0 ? (uint64_t)(ns / NS_PER_MS) : 0;
}

uint64_t stamp_clock_kept(const struct stamp_clock *c, int64_t kept[STAMP_CLOCK_KEPT_VALUES]) {
    kept[KEPT_OFFSET_NS] = c->offset_ns;
    /* Monotonic milliseconds stay far below INT64_MAX (292 million years). */
    kept[KEPT_MONO_MS] = (int64_t)c->at_mono_ms;
    return c->at_mono_ms;
}
