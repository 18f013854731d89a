/* placement_capacity on a cluster worked out by hand (1000 MIPS per core):
 *   h0: 4 cores, 8 GB, runs a (1 vCPU, 2 GB, at 50 %: 500 MIPS granted)
 *   h1: 2 cores, 16 GB, empty
 *   h2: 8 cores, 4 GB, drained
 *   h3: 4 cores, 8 GB, off
 *   h4: 2 cores, 2 GB, runs b (1 vCPU, 1 GB, at 100 %)
 * Asked: 1 vCPU, 2 GB, overcommit 1, no spares:
 *   h0: CPU (4000 - 500) / 1000 = 3, memory 6 GB / 2 GB = 3: 3 (memory, the tie)
 *   h1: CPU 2, memory 8: 2 (cpu); h2: 0 (drained); h4: CPU 1, memory 1 GB / 2 GB = 0: 0
 *   running: 5 VMs, stopped by memory on 2 hosts, cpu 1, drained 1: memory is the tightest
 *   off: h3: CPU 4, memory 4: 4 (memory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "placement/fixture.h"
#include "placement/placement_capacity.h"

static void cluster(struct fx *f) {
    fx_init(f, "default");
    f->pol.cpu_overcommit = 1;
    f->pol.spare_hosts = 0;
    fx_host(f, 4, 8192);
    fx_host(f, 2, 16384);
    fx_host(f, 8, 4096);
    fx_host(f, 4, 8192);
    fx_host(f, 2, 2048);
    f->hosts[2].flags |= PLACEMENT_HOST_DRAIN;
    f->hosts[3].power_state = PLACEMENT_HOST_OFF;
    fx_vm(f, 0, 1000, 2048, 0.5);
    fx_vm(f, 4, 1000, 1024, 1.0);
}

static int capacity(struct fx *f, uint32_t vcpus, uint64_t mem_mb, uint32_t group,
                    struct placement_capacity *out) {
    struct placement_snapshot s = {f->hosts, f->nh, f->vms, f->nv};
    struct placement_capacity_ask ask = {vcpus, mem_mb, group};
    return placement_capacity(&s, &f->pol, &ask, out);
}

static void counts_running_and_off_hosts(void **state) {
    (void)state;
    struct fx f;
    struct placement_capacity c;
    cluster(&f);
    assert_int_equal(capacity(&f, 1, 2048, 0, &c), 0);
    assert_int_equal(c.on.vms, 5);
    assert_int_equal(c.on.hosts, 4);
    assert_int_equal(c.on.stopped[PLACEMENT_RES_MEMORY], 2);
    assert_int_equal(c.on.stopped[PLACEMENT_RES_CPU], 1);
    assert_int_equal(c.on.stopped[PLACEMENT_RES_HOST], 1);
    assert_int_equal(c.on.tightest, PLACEMENT_RES_MEMORY);
    assert_int_equal(c.off.vms, 4);
    assert_int_equal(c.off.hosts, 1);
    assert_int_equal(c.off.tightest, PLACEMENT_RES_MEMORY);
    assert_int_equal(c.spare_held, 0);
    fx_free(&f);
}

/* Overcommit 2: h0 CPU 7 but memory 3; h1 CPU 4 (memory 8); h4 memory 0. */
static void overcommit_raises_cpu_only(void **state) {
    (void)state;
    struct fx f;
    struct placement_capacity c;
    cluster(&f);
    f.pol.cpu_overcommit = 2;
    assert_int_equal(capacity(&f, 1, 2048, 0, &c), 0);
    assert_int_equal(c.on.vms, 3 + 4 + 0);
    assert_int_equal(c.on.stopped[PLACEMENT_RES_CPU], 1);
    assert_int_equal(c.on.stopped[PLACEMENT_RES_MEMORY], 2);
    assert_int_equal(c.off.vms, 4);
    fx_free(&f);
}

/* 2 vCPUs of 1 GB: h0 3500 / 2000 = 1, h1 1, h4 1000 / 2000 = 0; off h3 2;
 * CPU stops every running host that can take VMs. */
static void larger_vms_are_cpu_bound(void **state) {
    (void)state;
    struct fx f;
    struct placement_capacity c;
    cluster(&f);
    assert_int_equal(capacity(&f, 2, 1024, 0, &c), 0);
    assert_int_equal(c.on.vms, 2);
    assert_int_equal(c.on.tightest, PLACEMENT_RES_CPU);
    assert_int_equal(c.on.stopped[PLACEMENT_RES_CPU], 3);
    assert_int_equal(c.off.vms, 2);
    fx_free(&f);
}

/* Group 5, which a on h0 belongs to: h0 none, h1 one, h4 none (memory);
 * the off host one. */
static void anti_affinity_allows_one_per_host(void **state) {
    (void)state;
    struct fx f;
    struct placement_capacity c;
    cluster(&f);
    f.vms[0].anti_affinity = 5;
    assert_int_equal(capacity(&f, 1, 2048, 5, &c), 0);
    assert_int_equal(c.on.vms, 1);
    assert_int_equal(c.on.stopped[PLACEMENT_RES_GROUP], 2);
    assert_int_equal(c.on.tightest, PLACEMENT_RES_GROUP);
    assert_int_equal(c.off.vms, 1);
    fx_free(&f);
}

/* One spare: the idle running host that takes the most (h1, 2) is held
 * back; the drained one is no spare. */
static void spare_hosts_are_held_back(void **state) {
    (void)state;
    struct fx f;
    struct placement_capacity c;
    cluster(&f);
    f.pol.spare_hosts = 1;
    assert_int_equal(capacity(&f, 1, 2048, 0, &c), 0);
    assert_int_equal(c.spare_held, 1);
    assert_int_equal(c.on.vms, 3);
    assert_int_equal(c.on.hosts, 3);
    fx_free(&f);
}

static void empty_ask_is_refused(void **state) {
    (void)state;
    struct fx f;
    struct placement_capacity c;
    cluster(&f);
    assert_int_equal(capacity(&f, 0, 2048, 0, &c), -1);
    assert_int_equal(capacity(&f, 1, 0, 0, &c), -1);
    fx_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_running_and_off_hosts),
        cmocka_unit_test(overcommit_raises_cpu_only),
        cmocka_unit_test(larger_vms_are_cpu_bound),
        cmocka_unit_test(anti_affinity_allows_one_per_host),
        cmocka_unit_test(spare_hosts_are_held_back),
        cmocka_unit_test(empty_ask_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
