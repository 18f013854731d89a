/* The local rebalancing policy on hand-checked cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rebalance/rebalance.h"

#define GIB (1024ull * 1024)

static void cpu_shares_follow_demand_within_bounds(void **state) {
    struct rebalance_config c;
    rebalance_config_defaults(&c);
    struct rebalance_state st = {0};
    struct rebalance_vm v[3] = {
        {.vcpus = 1, .cpu_percent = 100, .shares = 1024, .memory_kib = GIB},  /* 1 core */
        {.vcpus = 4, .cpu_percent = 75, .shares = 1024, .memory_kib = GIB},   /* 3 cores */
        {.vcpus = 2, .cpu_percent = 0, .shares = 1024, .memory_kib = GIB},    /* idle */
    };
    assert_true(rebalance_plan(&c, &st, 1000, v, 3));
    /* Mean demand 4/3 cores: 1 core -> 768, 3 cores -> 2304, idle -> floor. */
    assert_int_equal(v[0].new_shares, 768);
    assert_int_equal(v[1].new_shares, 2304);
    assert_int_equal(v[2].new_shares, 128);
    c.shares_max = 2000;
    assert_true(rebalance_plan(&c, &st, 1000, v, 3));
    assert_int_equal(v[1].new_shares, 2000);
}

static void the_balloon_follows_guest_use_between_floor_and_maximum(void **state) {
    struct rebalance_config c;
    rebalance_config_defaults(&c);
    struct rebalance_state st = {0};
    struct rebalance_vm v[3] = {
        /* Uses 3 GiB of 4: 3.75 GiB. */
        {.vcpus = 1, .shares = 1024, .memory_kib = 2 * GIB, .max_memory_kib = 4 * GIB,
         .guest_used_kib = 3 * GIB},
        /* Uses 0.5 GiB of 4: the floor, 2 GiB. */
        {.vcpus = 1, .shares = 1024, .memory_kib = 4 * GIB, .max_memory_kib = 4 * GIB,
         .guest_used_kib = GIB / 2},
        /* No figure from the guest: left alone. */
        {.vcpus = 1, .shares = 1024, .memory_kib = 3 * GIB, .max_memory_kib = 4 * GIB},
    };
    assert_true(rebalance_plan(&c, &st, 1000, v, 3));
    assert_int_equal(v[0].new_memory_kib, 3 * GIB + 3 * GIB / 4);
    assert_int_equal(v[1].new_memory_kib, 2 * GIB);
    assert_int_equal(v[2].new_memory_kib, 3 * GIB);
    /* Never above the maximum. */
    v[0].guest_used_kib = 4 * GIB;
    assert_true(rebalance_plan(&c, &st, 1000, v, 3));
    assert_int_equal(v[0].new_memory_kib, 4 * GIB);
}

static void small_moves_are_not_worth_it(void **state) {
    struct rebalance_config c;
    rebalance_config_defaults(&c);
    struct rebalance_state st = {0};
    struct rebalance_vm v[2] = {
        {.vcpus = 1, .cpu_percent = 52, .shares = 1024, .memory_kib = GIB},
        {.vcpus = 1, .cpu_percent = 48, .shares = 1024, .memory_kib = GIB,
         .max_memory_kib = 2 * GIB, .guest_used_kib = GIB * 4 / 5},
    };
    /* 1065 and 983 shares are within 20 %; 1.0 GiB stays within 10 %. */
    assert_false(rebalance_plan(&c, &st, 1000, v, 2));
    assert_int_equal(v[0].new_shares, 1024);
    assert_int_equal(v[1].new_memory_kib, GIB);
}

static void hysteresis_waits_for_cost_plus_margin(void **state) {
    struct rebalance_config c;
    rebalance_config_defaults(&c);
    c.margin_ms = 10000;
    struct rebalance_state st = {0};
    struct rebalance_vm v[2] = {
        {.vcpus = 1, .cpu_percent = 100, .shares = 1024, .memory_kib = GIB},
        {.vcpus = 1, .cpu_percent = 10, .shares = 1024, .memory_kib = GIB},
    };
    assert_true(rebalance_plan(&c, &st, 50000, v, 2));
    rebalance_applied(&st, 50000, 3000); /* applying took 3 s */
    v[0].shares = 1024; /* demand moved again before anything was set */
    assert_false(rebalance_plan(&c, &st, 62999, v, 2));
    assert_true(rebalance_plan(&c, &st, 63000, v, 2));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_shares_follow_demand_within_bounds),
        cmocka_unit_test(the_balloon_follows_guest_use_between_floor_and_maximum),
        cmocka_unit_test(small_moves_are_not_worth_it),
        cmocka_unit_test(hysteresis_waits_for_cost_plus_margin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
