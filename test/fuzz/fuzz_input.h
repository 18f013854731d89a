/* The harnesses read their input as a stream of small decisions: a byte
 * picks an operation, the next ones its arguments. An exhausted input
 * reads as zeros and ends the run (fuzz_more). */
#ifndef NODECTL_FUZZ_INPUT_H
#define NODECTL_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuzz_input {
    const uint8_t *p;
    size_t n;
};

static inline bool fuzz_more(const struct fuzz_input *in) { return in->n > 0; }

static inline uint8_t fuzz_u8(struct fuzz_input *in) {
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in) {
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *in) {
    uint32_t lo = fuzz_u16(in);
    return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in) {
    uint64_t lo = fuzz_u32(in);
    return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* Up to max bytes of the input, as many as a length byte says. */
static inline const uint8_t *fuzz_bytes(struct fuzz_input *in, size_t max, size_t *len) {
    size_t want = fuzz_u8(in);
    if (want > max)
        want = max;
    if (want > in->n)
        want = in->n;
    const uint8_t *p = in->p;
    in->p += want;
    in->n -= want;
    *len = want;
    return p;
}

/* A NUL-terminated string of up to max - 1 bytes of the input. */
static inline void fuzz_string(struct fuzz_input *in, char *out, size_t max) {
    size_t len;
    const uint8_t *p = fuzz_bytes(in, max - 1, &len);
    memcpy(out, p, len);
    out[len] = '\0';
}

#endif
