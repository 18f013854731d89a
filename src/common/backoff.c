#include "backoff.h"

uint32_t backoff_next_ms(struct backoff *b, struct prng *r) {
    uint64_t ceiling = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && ceiling < b->cap_ms; i++)
        ceiling *= 2;
    if (ceiling > b->cap_ms)
        ceiling = b->cap_ms;
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    uint64_t floor = b->base_ms / 2;
    if (ceiling <= floor)
        return (uint32_t)ceiling;
    return (uint32_t)(floor + prng_below(r, ceiling - floor + 1));
}

void backoff_reset(struct backoff *b) { b->attempt = 0; }
