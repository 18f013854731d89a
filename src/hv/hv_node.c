#include <stdlib.h>
#include <string.h>

#include "hv_internal.h"

/* Host CPU % from the node's cumulative counters, when the driver has them. */
int hv_node_cpu_percent(struct hv *hv, double *pct) {
    int nparams = 0;
    if (virNodeGetCPUStats(hv->conn, VIR_NODE_CPU_STATS_ALL_CPUS, NULL, &nparams, 0) != 0 ||
        nparams <= 0)
        return -1;
    virNodeCPUStatsPtr params = calloc((size_t)nparams, sizeof *params);
    if (!params)
        return -1;
    int rc = virNodeGetCPUStats(hv->conn, VIR_NODE_CPU_STATS_ALL_CPUS, params, &nparams, 0);
    uint64_t total = 0, idle = 0;
    for (int i = 0; rc == 0 && i < nparams; i++) {
        total += params[i].value;
        if (strcmp(params[i].field, VIR_NODE_CPU_STATS_IDLE) == 0 ||
            strcmp(params[i].field, VIR_NODE_CPU_STATS_IOWAIT) == 0)
            idle += params[i].value;
    }
    free(params);
    if (rc != 0 || total == 0)
        return -1;
    uint64_t busy = total - idle;
    uint64_t prev_busy = hv->prev_busy_ns, prev_total = hv->prev_total_ns;
    hv->prev_busy_ns = busy;
    hv->prev_total_ns = total;
    /* Counters that do not advance (the test driver returns constants) say
     * nothing about load. */
    if (!prev_total || total <= prev_total || busy < prev_busy)
        return -1;
    *pct = 100.0 * (double)(busy - prev_busy) / (double)(total - prev_total);
    return 0;
}

int hv_node_memory_used(struct hv *hv, uint64_t *used_kib) {
    int nparams = 0;
    if (virNodeGetMemoryStats(hv->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &nparams, 0) != 0 ||
        nparams <= 0)
        return -1;
    virNodeMemoryStatsPtr params = calloc((size_t)nparams, sizeof *params);
    if (!params)
        return -1;
    int rc = virNodeGetMemoryStats(hv->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, params, &nparams, 0);
    uint64_t total = 0, avail = 0;
    for (int i = 0; rc == 0 && i < nparams; i++) {
        const char *f = params[i].field;
        if (strcmp(f, VIR_NODE_MEMORY_STATS_TOTAL) == 0)
            total = params[i].value;
        else if (strcmp(f, VIR_NODE_MEMORY_STATS_FREE) == 0 ||
                 strcmp(f, VIR_NODE_MEMORY_STATS_BUFFERS) == 0 ||
                 strcmp(f, VIR_NODE_MEMORY_STATS_CACHED) == 0)
            avail += params[i].value;
    }
    free(params);
    if (rc != 0 || total == 0)
        return -1;
    *used_kib = total > avail ? total - avail : 0;
    return 0;
}

