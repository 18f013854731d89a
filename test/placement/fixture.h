/* Small hand-built cluster snapshots for the planner's tests. */
#ifndef NODECTL_TEST_PLACEMENT_FIXTURE_H
#define NODECTL_TEST_PLACEMENT_FIXTURE_H

#include "placement/placement.h"

#define FX_HOSTS 16
#define FX_VMS 64

struct fx {
    struct placement_host hosts[FX_HOSTS];
    size_t nh;
    struct placement_vm vms[FX_VMS];
    size_t nv;
    double hist[FX_VMS][PLACEMENT_HISTORY_MAX];
    struct placement_power_model power; /* 100 W idle, 200 W at full load */
    struct placement_policy pol;
    struct placement_plan plan;
    struct prng rng;
};

/* A nodectl-model policy by name with the anti-thrash rules off and no
 * consolidation, so a test switches on exactly what it checks. */
void fx_init(struct fx *f, const char *policy);
void fx_free(struct fx *f);
/* A powered-on host of `cores` x 1000 MIPS and mem_mb; returns its index. */
uint32_t fx_host(struct fx *f, uint32_t cores, uint64_t mem_mb);
void fx_hosts(struct fx *f, size_t n, uint32_t cores, uint64_t mem_mb);
/* A 1-vCPU VM of `mips` on host h using `util` of it now and in all 30
 * history samples; returns its index. */
uint32_t fx_vm(struct fx *f, uint32_t h, double mips, uint64_t mem_mb, double util);
void fx_history(struct fx *f, uint32_t vm, const double *newest_first, uint32_t n);
/* Sets every ON host's measured CPU from its VMs and plans at `now`. */
int fx_plan(struct fx *f, double now);
size_t fx_count(const struct fx *f, enum placement_action_kind kind);
/* The first MIGRATE of vm, or NULL. */
const struct placement_action *fx_move_of(const struct fx *f, uint32_t vm);
/* The POWER_ON / POWER_OFF of host h, or NULL. */
const struct placement_action *fx_power(const struct fx *f, enum placement_action_kind kind, uint32_t h);
/* Every action has a reason and its dependencies come before it. */
void fx_assert_well_formed(const struct fx *f);

#endif
