/* CloudSim 5.0's power data centre, as written down in
 * shared/notes/benchmark-planetlab.md: 800 HP ProLiant hosts, four VM types,
 * 300 s scheduling interval, migrations that take RAM / 62.5 s with 10 % of
 * the VM's MIPS reserved on the target and 10 % lost on the source, energy
 * by trapezoids between updates, and the SLATAH/PDM metrics. The planner
 * decides every placement and migration. */
#ifndef NODECTL_SIM_CLOUDSIM_H
#define NODECTL_SIM_CLOUDSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "placement/placement.h"
#include "sim/sim_trace.h"

struct sim_options {
    const struct placement_policy *policy;
    enum placement_initial_kind initial; /* CloudSim: POWER_AWARE, or FIRST_FIT for npa/dvfs */
    bool non_power_aware;                /* NPA: every host draws full power all day */
    size_t n_hosts;                      /* CloudSim: 800 */
    uint64_t seed;
};

struct sim_result {
    size_t vms;
    size_t hosts;
    double energy_kwh;
    uint64_t migrations;
    double slatah; /* fraction */
    double pdm;    /* fraction */
    double slav;
    double esv;
    uint64_t host_shutdowns;
    double overall_sla; /* (requested - allocated) / requested over all VM time */
    double plan_seconds_max; /* slowest planning round (wall clock) */
    double wall_seconds;
};

/* Returns 0, or -1 with err saying what went wrong (a VM that fits no host,
 * a planner error). */
int sim_cloudsim_run(const struct sim_workload *w, const struct sim_options *o, struct sim_result *r,
                     char *err, size_t errlen);

#endif
