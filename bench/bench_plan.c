/* One planning round on a synthetic cluster, for growing sizes up to 10,000
 * hosts and 100,000 VMs. Prints milliseconds per round (median of `rounds`)
 * and the actions planned. The cluster: CloudSim's two core speeds (1860
 * and 2660 MIPS, here 4 cores and 32 GB per host so ten VMs fit) and VM
 * types; each host's VMs share a load level of 0.10-0.55 and have seeded
 * random-walk 30-sample histories, so hosts range from idle to overloaded.
 *
 * Wall time is what the target is about; CPU time is printed beside it
 * because on a shared machine wall time also counts other processes' turns.
 *
 * usage: bench_plan [policy ...]   (default: thr-mmt lr-mmt default) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "placement/placement.h"

static const struct placement_power_model g4 = {{86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117}};
static const struct placement_power_model g5 = {{93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135}};

struct cluster {
    struct placement_host *hosts;
    struct placement_vm *vms;
    double *hist;
    size_t nh, nv;
};

static double clock_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int build(struct cluster *c, size_t nh, size_t nv, uint64_t seed) {
    static const double mips[4] = {2500, 2000, 1000, 500};
    static const uint64_t mem[4] = {870, 1740, 1740, 613};
    struct prng r;
    prng_seed(&r, seed);
    c->nh = nh;
    c->nv = nv;
    c->hosts = calloc(nh, sizeof *c->hosts);
    c->vms = calloc(nv, sizeof *c->vms);
    c->hist = calloc(nv * PLACEMENT_HISTORY_MAX, sizeof *c->hist);
    if (!c->hosts || !c->vms || !c->hist)
        return -1;
    for (size_t i = 0; i < nh; i++)
        c->hosts[i] = (struct placement_host){
            .id = (uint32_t)i, .cores = 4, .core_mips = i % 2 ? 2660 : 1860, .mem_mb = 32768,
            .power = i % 2 ? &g5 : &g4, .power_state = PLACEMENT_HOST_ON, .powered_on_at = -1e300};
    double *used = calloc(nh, sizeof *used);
    if (!used)
        return -1;
    for (size_t v = 0; v < nv; v++) {
        int type = (int)prng_below(&r, 4);
        size_t h = v % nh;
        /* Each host's VMs share a load level so some hosts run hot. */
        double level = 0.1 + 0.45 * (double)((h * 2654435761u) % 1000) / 1000.0;
        double *hist = c->hist + v * PLACEMENT_HISTORY_MAX;
        double u = level;
        for (int k = PLACEMENT_HISTORY_MAX - 1; k >= 0; k--) {
            u += (prng_unit(&r) - 0.5) * 0.1;
            u = u < 0.01 ? 0.01 : u > 0.99 ? 0.99 : u;
            hist[k] = u;
        }
        double req = hist[0] * mips[type];
        double cap = c->hosts[h].core_mips;
        c->vms[v] = (struct placement_vm){
            .id = (uint32_t)v, .host = (uint32_t)h, .vcpus = 1, .mips = mips[type], .mem_mb = mem[type],
            .cpu_mips = req, .alloc_mips = req > cap ? cap : req, .history = hist,
            .history_len = PLACEMENT_HISTORY_MAX, .last_migrated_at = -1e300};
        used[h] += c->vms[v].alloc_mips;
    }
    for (size_t i = 0; i < nh; i++) {
        double u = used[i] / (c->hosts[i].core_mips * c->hosts[i].cores);
        c->hosts[i].cpu_measured = u > 1 ? 1 : u;
    }
    free(used);
    return 0;
}

static void destroy(struct cluster *c) {
    free(c->hosts);
    free(c->vms);
    free(c->hist);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *def[] = {"thr-mmt", "lr-mmt", "default"};
    const char **pols = argc > 1 ? (const char **)argv + 1 : def;
    int npol = argc > 1 ? argc - 1 : 3;
    static const size_t sizes[] = {1000, 2000, 5000, 10000};
    printf("%-10s %8s %8s %10s %10s %10s %8s\n", "policy", "hosts", "vms", "ms/round", "cpu_ms", "migrations",
           "power");
    for (int p = 0; p < npol; p++) {
        struct placement_policy pol;
        if (placement_policy_by_name(pols[p], -1, &pol) != 0) {
            fprintf(stderr, "bench_plan: unknown policy '%s'\n", pols[p]);
            return 2;
        }
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            struct cluster c;
            if (build(&c, sizes[s], sizes[s] * 10, 42) != 0) {
                fprintf(stderr, "bench_plan: out of memory\n");
                return 1;
            }
            struct placement_snapshot snap = {c.hosts, c.nh, c.vms, c.nv};
            struct placement_plan plan;
            placement_plan_init(&plan);
            struct prng rng;
            prng_seed(&rng, 1);
            enum { ROUNDS = 3 };
            double t[ROUNDS], cpu[ROUNDS];
            for (int k = 0; k < ROUNDS; k++) {
                double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
                if (placement_plan(&snap, &pol, 86400, &rng, &plan) != 0) {
                    fprintf(stderr, "bench_plan: %s\n", plan.error);
                    return 1;
                }
                t[k] = clock_s(CLOCK_MONOTONIC) - t0;
                cpu[k] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            }
            qsort(t, ROUNDS, sizeof *t, cmp);
            qsort(cpu, ROUNDS, sizeof *cpu, cmp);
            size_t mig = 0, pw = 0;
            for (size_t i = 0; i < plan.n_actions; i++)
                if (plan.actions[i].kind == PLACEMENT_MIGRATE)
                    mig++;
                else
                    pw++;
            printf("%-10s %8zu %8zu %10.1f %10.1f %10zu %8zu\n", pols[p], c.nh, c.nv, t[ROUNDS / 2] * 1e3,
                   cpu[ROUNDS / 2] * 1e3, mig, pw);
            fflush(stdout);
            placement_plan_free(&plan);
            destroy(&c);
        }
    }
    return 0;
}
