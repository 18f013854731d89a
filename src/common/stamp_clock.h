/* The clock of the times a host publishes and compares: its records'
 * sample times, the start and end of its actions, when its HA reconcile saw
 * a protected domain run. Peers order these stamps against each other's
 * ("was this record sampled after my copy last ran?") and against the same
 * host's earlier ones ("sampled after the migration ended?"), so a stamp
 * must not step: a wall clock stepped back two hours made a host's records
 * look two hours old to its peers and older than its own reports.
 *
 * A stamp is the wall clock read at the anchor, advanced by the monotonic
 * clock (CLOCK_BOOTTIME) and slewed toward the wall clock by at most
 * STAMP_CLOCK_SLEW_PPM, 500 ppm: NTP's frequency tolerance (RFC 5905,
 * appendix A, MAXFREQ) and the rate at which Linux's adjtime(3) slews. A
 * step of the wall clock reaches the stamps only at that rate (a minute's
 * step in a day and a half), while ntpd's corrections, which slew the
 * wall clock (and the monotonic clock's rate) no faster, are followed as
 * they happen (chrony may slew faster, by default up to 83,333 ppm: the
 * stamps then follow at 500 ppm). Stamps never go backwards: the
 * monotonic clock advances 1,000,000 ns per ms and the slew takes at most
 * 500 of them.
 *
 * The price: a wall clock wrong when the clock is anchored stays about that
 * wrong for as long (a step forward of an hour takes 83 days to reach the
 * stamps). The agent anchors at its first start after a boot and assumes the
 * wall clock is right then (its unit starts after time-sync.target); an
 * agent restarted on the same boot resumes from the anchor it kept
 * (stamp_clock_resume), so a step while it ran does not reach its stamps
 * after the restart either.
 *
 * Pure: readings are inputs. */
#ifndef NODECTL_STAMP_CLOCK_H
#define NODECTL_STAMP_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define STAMP_CLOCK_SLEW_PPM 500
/* How often a shell keeps the anchor on disk: a restart resumes from a
 * point at most this old, whose slew since is recomputed from then, as if
 * the clock had run on. */
#define STAMP_CLOCK_SAVE_EVERY_MS 60000
/* The end of the stamps' range, 2100-01-01T00:00:00Z: a wall clock read
 * past it is taken as it, and a kept anchor beyond it is refused. The ns
 * arithmetic then stays within int64_t for the monotonic clocks of any
 * machine (its limit is about 2262), and a broken wall clock (an RTC
 * reading 2300) cannot make stamps wrap. */
#define STAMP_CLOCK_MAX_MS 4102444800000ULL

struct stamp_clock {
    int64_t offset_ns;   /* a stamp is the monotonic time plus this */
    uint64_t at_mono_ms; /* the last reading's monotonic time */
    uint64_t last_ms;    /* the last stamp given */
};

/* What a shell keeps to resume the clock after a restart on one boot: the
 * values of a boot file (boot_file.h), the offset in ns and the monotonic
 * time in ms of the last reading. */
#define STAMP_CLOCK_KEPT_VALUES 2

/* Anchors the clock on the wall clock: its first stamp is wall_ms (at most
 * STAMP_CLOCK_MAX_MS). */
void stamp_clock_anchor(struct stamp_clock *c, uint64_t mono_ms, uint64_t wall_ms);
/* Resumes from the values stamp_clock_kept gave on this boot (mono_ms:
 * now). false, and the clock untouched, when they cannot be of this boot
 * (a negative monotonic time or one ahead of mono_ms, or a stamp that is
 * negative or past STAMP_CLOCK_MAX_MS): they are read from a file. */
bool stamp_clock_resume(struct stamp_clock *c, const int64_t kept[STAMP_CLOCK_KEPT_VALUES],
                        uint64_t mono_ms);
/* The stamp now, from fresh readings of both clocks. mono_ms must not be
 * before the previous reading's. */
uint64_t stamp_clock_read(struct stamp_clock *c, uint64_t mono_ms, uint64_t wall_ms);
/* A stamp no later than the one the clock gave, or would have given, at
 * an earlier monotonic time mono_ms: for what was read then and is
 * published now (a hypervisor sample's list of domains, read before the
 * record that carries it is built). mono_ms at or after the last reading:
 * the last stamp. */
uint64_t stamp_clock_before(const struct stamp_clock *c, uint64_t mono_ms);
/* The values to keep, of the last reading, into kept; returns that
 * reading's monotonic time. */
uint64_t stamp_clock_kept(const struct stamp_clock *c, int64_t kept[STAMP_CLOCK_KEPT_VALUES]);

#endif
