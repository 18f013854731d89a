/* A day of PlanetLab traces: one file per VM, 288 integer CPU percentages at
 * 5-minute steps (CloudSim UtilizationModelPlanetLabInMemory's format). */
#ifndef NODECTL_SIM_TRACE_H
#define NODECTL_SIM_TRACE_H

#include <stddef.h>

#define SIM_TRACE_SAMPLES 288

struct sim_workload {
    size_t n_vms;
    /* n_vms rows of SIM_TRACE_SAMPLES + 1 fractions; the extra last value
     * repeats the one before it, as CloudSim does. */
    double *data;
};

/* Loads every regular file of dir, in strcmp order of the names (the order
 * the benchmark note fixes). Returns 0, or -1 with err naming the problem. */
int sim_workload_load(const char *dir, struct sim_workload *w, char *err, size_t errlen);
void sim_workload_free(struct sim_workload *w);

static inline const double *sim_workload_trace(const struct sim_workload *w, size_t vm) {
    return w->data + vm * (SIM_TRACE_SAMPLES + 1);
}

#endif
