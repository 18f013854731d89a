/* A simulated host's clocks, as functions of the simulator's real time
 * (microseconds).
 *
 * The monotonic clock stands for CLOCK_BOOTTIME: it starts near zero when
 * the machine boots, keeps counting across an agent's restart and a
 * stop-the-world pause, and runs at a rate that differs from real time by
 * at most rho (the bound the election's lease and the grant deadline
 * assume, src/election/election_lease.c). The rate is piecewise constant:
 * a drift fault changes it, always within rho, so the clock never runs
 * backwards and a reading is exact integer arithmetic (a run is a function
 * of its seed, on every machine).
 *
 * The wall clock is the monotonic clock plus an offset that a skew fault
 * moves by seconds to hours in either direction, as NTP steps and operators
 * do. A boot sets it right again (the steps since the last boot undone), as
 * the time sync a real host runs before its agent starts does
 * (time-sync.target in deploy/nodectl.service). Nothing that must be safe
 * may depend on it; the times hosts publish come from the stamp clock
 * (src/common/stamp_clock.h), which it only slews. */
#ifndef NODECTL_SIM_CLOCK_H
#define NODECTL_SIM_CLOCK_H

#include <stdint.h>

#include "common/prng.h"

/* Rates are in parts per million of real time. */
#define SIM_CLOCK_PPM 1000000

struct sim_clock {
    int64_t t0_us;    /* real time where the current rate began */
    int64_t mono0_us; /* the monotonic reading then */
    int64_t rate_ppm; /* monotonic microseconds per SIM_CLOCK_PPM real ones */
    int64_t wall_offset_ms;
    int64_t stepped_ms; /* the wall clock's steps since the boot */
};

/* A machine that boots at real time now_us with the given rate; its wall
 * clock then reads wall_ms. */
void sim_clock_boot(struct sim_clock *c, int64_t now_us, int64_t rate_ppm, int64_t wall_ms);
/* A rate within drift_ppm of real time, drawn from r. */
int64_t sim_clock_random_rate(struct prng *r, int64_t drift_ppm);
/* Changes the rate from now on; the reading is continuous. */
void sim_clock_set_rate(struct sim_clock *c, int64_t now_us, int64_t rate_ppm);
/* Steps the wall clock by delta_ms. */
void sim_clock_jump_wall(struct sim_clock *c, int64_t delta_ms);
/* The wall clock without the steps since the boot: what a time sync at the
 * next boot reads. */
int64_t sim_clock_synced_wall_ms(const struct sim_clock *c, int64_t now_us);

int64_t sim_clock_mono_us(const struct sim_clock *c, int64_t now_us);
int64_t sim_clock_mono_ms(const struct sim_clock *c, int64_t now_us);
int64_t sim_clock_wall_ms(const struct sim_clock *c, int64_t now_us);
/* The earliest real time, not before now_us, at which the monotonic clock
 * reads at least mono_ms if the rate does not change before. */
int64_t sim_clock_real_at(const struct sim_clock *c, int64_t now_us, int64_t mono_ms);

#endif
