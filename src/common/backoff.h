/* Exponential backoff with "full jitter" (Brooker, "Exponential Backoff And
 * Jitter", AWS Architecture Blog, 2015): the delay before retry n is uniform
 * in [base/2, min(cap, base * 2^n)], so many agents that lost the same
 * libvirtd or seed do not retry in lock step. Pure: randomness comes in. */
#ifndef NODECTL_BACKOFF_H
#define NODECTL_BACKOFF_H

#include <stdint.h>

#include "prng.h"

struct backoff {
    uint32_t base_ms;
    uint32_t cap_ms;
    uint32_t attempt; /* failures since the last success */
};

/* The delay before the next attempt; counts one more failure. */
uint32_t backoff_next_ms(struct backoff *b, struct prng *r);
void backoff_reset(struct backoff *b);

#endif
