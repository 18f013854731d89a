/* Initial placement strategies on synthetic arrivals (the comparison of
 * the UNESP 2014 study): fill-first, round-robin, random, most free
 * resources and power-aware, no migrations. 60 hosts of CloudSim's two types
 * (2 cores, 8 GB); VMs of CloudSim's four types arrive over 288 five-minute
 * steps (seeded), live 1-96 steps and draw a fresh CPU fraction each step
 * around their own mean. Prints, per strategy: VMs refused, host-steps
 * overloaded (demand above the host), energy (kWh; hosts without VMs off).
 *
 * usage: bench_initial [seed] */
#include <stdio.h>
#include <stdlib.h>

#include "placement/placement.h"

#define HOSTS 60
#define STEPS 288
#define MAX_VMS 4000

static const struct placement_power_model g4 = {{86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117}};
static const struct placement_power_model g5 = {{93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135}};

struct live {
    struct placement_vm vm;
    double mean;
    int until;
};

int main(int argc, char **argv) {
    unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    static const char *names[] = {"fill-first", "round-robin", "random", "most-free", "power-aware"};
    static const enum placement_initial_kind kinds[] = {
        PLACEMENT_INITIAL_FIRST_FIT, PLACEMENT_INITIAL_ROUND_ROBIN, PLACEMENT_INITIAL_RANDOM,
        PLACEMENT_INITIAL_MOST_FREE, PLACEMENT_INITIAL_POWER_AWARE};
    static const double mips[4] = {2500, 2000, 1000, 500};
    static const uint64_t mem[4] = {870, 1740, 1740, 613};
    struct placement_policy pol;
    placement_policy_by_name("nc-thr-mmt", -1, &pol);
    struct placement_initial_weights w = {0.5, 0.5, 0, 0};
    static struct placement_host hosts[HOSTS];
    static struct live live[MAX_VMS];
    static struct placement_vm snap_vms[MAX_VMS];
    printf("%-12s %8s %8s %12s %10s\n", "strategy", "arrived", "refused", "overloaded", "energy_kwh");
    for (size_t s = 0; s < sizeof kinds / sizeof *kinds; s++) {
        /* Separate streams: every strategy sees the same arrivals. */
        struct prng arrivals, demand, rng;
        prng_seed(&arrivals, seed);
        prng_seed(&demand, seed + 2);
        prng_seed(&rng, seed + 1);
        for (int h = 0; h < HOSTS; h++)
            hosts[h] = (struct placement_host){.id = (uint32_t)h, .cores = 2, .core_mips = h % 2 ? 2660 : 1860,
                                               .mem_mb = 8192, .power = h % 2 ? &g5 : &g4,
                                               .power_state = PLACEMENT_HOST_OFF, .powered_on_at = -1e300};
        size_t n_live = 0, arrived = 0, refused = 0, overloaded = 0;
        uint32_t cursor = 0;
        double energy_ws = 0;
        for (int t = 0; t < STEPS; t++) {
            /* Departures. */
            for (size_t i = 0; i < n_live;)
                if (live[i].until <= t)
                    live[i] = live[--n_live];
                else
                    i++;
            /* Arrivals: 0-11 per step. */
            int n_new = (int)prng_below(&arrivals, 12);
            for (int k = 0; k < n_new && n_live < MAX_VMS; k++) {
                int type = (int)prng_below(&arrivals, 4);
                struct placement_vm v = {.id = (uint32_t)arrived, .vcpus = 1, .mips = mips[type],
                                         .mem_mb = mem[type], .last_migrated_at = -1e300};
                double mean = 0.1 + 0.6 * prng_unit(&arrivals);
                int life = 1 + (int)prng_below(&arrivals, 96);
                arrived++;
                for (size_t i = 0; i < n_live; i++)
                    snap_vms[i] = live[i].vm;
                struct placement_snapshot snap = {hosts, HOSTS, snap_vms, n_live};
                int h = placement_initial(&snap, &pol, &v, kinds[s], &w, NULL, &cursor, &rng);
                if (h < 0) {
                    refused++;
                    continue;
                }
                v.host = (uint32_t)h;
                hosts[h].power_state = PLACEMENT_HOST_ON;
                live[n_live++] = (struct live){v, mean, t + life};
            }
            /* Demand this step; hosts without VMs are off. */
            double used[HOSTS] = {0};
            for (size_t i = 0; i < n_live; i++) {
                double u = live[i].mean + (prng_unit(&demand) - 0.5) * 0.4;
                u = u < 0 ? 0 : u > 1 ? 1 : u;
                live[i].vm.cpu_mips = live[i].vm.alloc_mips = u * live[i].vm.mips;
                used[live[i].vm.host] += live[i].vm.cpu_mips;
            }
            for (int h = 0; h < HOSTS; h++) {
                double cap = hosts[h].core_mips * hosts[h].cores;
                hosts[h].cpu_measured = used[h] / cap > 1 ? 1 : used[h] / cap;
                bool any = false;
                for (size_t i = 0; i < n_live && !any; i++)
                    any = live[i].vm.host == (uint32_t)h;
                hosts[h].power_state = any ? PLACEMENT_HOST_ON : PLACEMENT_HOST_OFF;
                if (!any)
                    continue;
                overloaded += used[h] > cap;
                energy_ws += placement_power_watts(hosts[h].power, used[h] / cap) * 300;
            }
        }
        printf("%-12s %8zu %8zu %12zu %10.2f\n", names[s], arrived, refused, overloaded, energy_ws / 3.6e6);
    }
    return 0;
}
