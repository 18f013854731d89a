/* Per-host clocks: piecewise-linear monotonic time and an offset wall clock. */
#include "sim_clock.h"

#include <assert.h>

void sim_clock_boot(struct sim_clock *c, int64_t now_us, int64_t rate_ppm, int64_t wall_ms) {
    assert(rate_ppm > 0);
    c->t0_us = now_us;
    c->mono0_us = 0;
    c->rate_ppm = rate_ppm;
    c->wall_offset_ms = wall_ms;
    c->stepped_ms = 0;
}

int64_t sim_clock_mono_us(const struct sim_clock *c, int64_t now_us) {
    assert(now_us >= c->t0_us);
    return c->mono0_us + (now_us - c->t0_us) * c->rate_ppm / SIM_CLOCK_PPM;
}

int64_t sim_clock_random_rate(struct prng *r, int64_t drift_ppm) {
    return SIM_CLOCK_PPM - drift_ppm + (int64_t)prng_below(r, 2 * (uint64_t)drift_ppm + 1);
}

void sim_clock_set_rate(struct sim_clock *c, int64_t now_us, int64_t rate_ppm) {
    assert(rate_ppm > 0);
    c->mono0_us = sim_clock_mono_us(c, now_us);
    c->t0_us = now_us;
    c->rate_ppm = rate_ppm;
}

void sim_clock_jump_wall(struct sim_clock *c, int64_t delta_ms) {
    c->wall_offset_ms += delta_ms;
    c->stepped_ms += delta_ms;
}

int64_t sim_clock_mono_ms(const struct sim_clock *c, int64_t now_us) {
    return sim_clock_mono_us(c, now_us) / 1000;
}

int64_t sim_clock_wall_ms(const struct sim_clock *c, int64_t now_us) {
    return sim_clock_mono_ms(c, now_us) + c->wall_offset_ms;
}

int64_t sim_clock_synced_wall_ms(const struct sim_clock *c, int64_t now_us) {
    return sim_clock_wall_ms(c, now_us) - c->stepped_ms;
}

int64_t sim_clock_real_at(const struct sim_clock *c, int64_t now_us, int64_t mono_ms) {
    int64_t want = mono_ms * 1000 - c->mono0_us;
    if (want <= 0)
        return now_us;
    /* Smallest d with d * rate / PPM >= want (the reading truncates). */
    int64_t d = (want * SIM_CLOCK_PPM + c->rate_ppm - 1) / c->rate_ppm;
    int64_t t = c->t0_us + d;
    return t > now_us ? t : now_us;
}
