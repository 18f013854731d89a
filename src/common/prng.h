/* Deterministic pseudo-random numbers: xoshiro256** (Blackman and Vigna,
 * "Scrambled linear pseudorandom number generators", 2018), seeded through
 * splitmix64 as its authors recommend. Protocol code takes randomness only
 * from a struct prng handed to it, so a simulator run is reproducible from
 * its seed; the agent seeds it from the OS. Not for cryptography. */
#ifndef NODECTL_PRNG_H
#define NODECTL_PRNG_H

#include <stdint.h>

struct prng {
    uint64_t s[4];
};

void prng_seed(struct prng *r, uint64_t seed);
uint64_t prng_next(struct prng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t prng_below(struct prng *r, uint64_t n);
/* Uniform in [0, 1). */
double prng_unit(struct prng *r);

#endif
