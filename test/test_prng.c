/* The deterministic randomness and backoff every protocol draws from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/backoff.h"
#include "common/prng.h"

static void same_seed_same_sequence(void **state) {
    struct prng a, b, c;
    prng_seed(&a, 42);
    prng_seed(&b, 42);
    prng_seed(&c, 43);
    int differs = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = prng_next(&a);
        assert_int_equal(x, prng_next(&b));
        differs |= x != prng_next(&c);
    }
    assert_true(differs);
}

static void below_is_in_range_and_covers_it(void **state) {
    struct prng r;
    prng_seed(&r, 7);
    int seen[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t v = prng_below(&r, 10);
        assert_true(v < 10);
        seen[v]++;
    }
    /* Each bucket expects 1000; 800 is over six standard deviations away. */
    for (int i = 0; i < 10; i++)
        assert_true(seen[i] > 800 && seen[i] < 1200);
    for (int i = 0; i < 1000; i++) {
        double u = prng_unit(&r);
        assert_true(u >= 0.0 && u < 1.0);
    }
}

static void backoff_grows_to_cap_with_jitter_and_resets(void **state) {
    struct prng r;
    prng_seed(&r, 1);
    struct backoff b = {.base_ms = 100, .cap_ms = 1000};
    uint32_t max_seen = 0;
    for (int i = 0; i < 50; i++) {
        uint32_t d = backoff_next_ms(&b, &r);
        assert_true(d >= 50 && d <= 1000);
        if (d > max_seen)
            max_seen = d;
    }
    assert_true(max_seen > 500); /* it did grow past the base */
    backoff_reset(&b);
    uint32_t first = backoff_next_ms(&b, &r);
    assert_true(first >= 50 && first <= 100);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_sequence),
        cmocka_unit_test(below_is_in_range_and_covers_it),
        cmocka_unit_test(backoff_grows_to_cap_with_jitter_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
