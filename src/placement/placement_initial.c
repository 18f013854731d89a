/* Initial placement of a new VM. The strategies are those compared by
 * the UNESP 2014 study: fill-first, round-robin, random, most
 * free resources (weighted CPU, memory, disk, network), and power-aware best
 * fit (PABFD, which CloudSim uses for the initial placement too). A new VM
 * requests its full size; memory always constrains it. */
#include <stdlib.h>
#include <string.h>

#include "placement/placement_internal.h"

static double free_score(const struct pl_state *st, uint32_t h, const struct placement_initial_weights *w,
                         const struct placement_initial_extra *x) {
    const struct placement_host *hs = &st->snap->hosts[h];
    double mips = pl_host_mips(hs) * st->pol->cpu_overcommit;
    double cpu = st->hosts[h].avail / mips;
    double mem = hs->mem_mb ? (double)(hs->mem_mb - st->hosts[h].mem_used) / (double)hs->mem_mb : 0;
    double disk = x && x->disk_free ? x->disk_free[h] : 1;
    double net = x && x->net_free ? x->net_free[h] : 1;
    return w->cpu * cpu + w->mem * mem + w->disk * disk + w->net * net;
}

static bool off(const struct pl_state *st, uint32_t h) {
    return st->snap->hosts[h].power_state == PLACEMENT_HOST_OFF;
}

static int pick(struct pl_state *st, uint32_t vm, enum placement_initial_kind kind,
                const struct placement_initial_weights *w, const struct placement_initial_extra *x,
                uint32_t *cursor, enum pl_pass pass) {
    size_t n = st->snap->n_hosts;
    if (kind == PLACEMENT_INITIAL_POWER_AWARE)
        return pl_pabfd_find(st, vm, pass);
    size_t suitable = 0;
    int best = -1;
    double best_score = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t h = (uint32_t)(kind == PLACEMENT_INITIAL_ROUND_ROBIN ? (*cursor + k) % n : k);
        if ((pass == PL_PASS_ON && off(st, h)) || (pass == PL_PASS_OFF && !off(st, h)))
            continue;
        if (!pl_host_suitable(st, h, vm))
            continue;
        suitable++;
        if (kind == PLACEMENT_INITIAL_FIRST_FIT || kind == PLACEMENT_INITIAL_ROUND_ROBIN) {
            if (kind == PLACEMENT_INITIAL_ROUND_ROBIN)
                *cursor = (uint32_t)((h + 1) % n);
            return (int)h;
        }
        if (kind == PLACEMENT_INITIAL_MOST_FREE) {
            double s = free_score(st, h, w, x);
            if (best < 0 || s > best_score) {
                best = (int)h;
                best_score = s;
            }
        }
    }
    if (kind == PLACEMENT_INITIAL_RANDOM && suitable > 0) {
        uint64_t target = prng_below(st->rng, suitable);
        for (size_t k = 0; k < n; k++) {
            uint32_t h = (uint32_t)k;
            if ((pass == PL_PASS_ON && off(st, h)) || (pass == PL_PASS_OFF && !off(st, h)))
                continue;
            if (pl_host_suitable(st, h, vm) && target-- == 0)
                return (int)h;
        }
    }
    return best;
}

int placement_initial(const struct placement_snapshot *snap, const struct placement_policy *pol,
                      const struct placement_vm *vm, enum placement_initial_kind kind,
                      const struct placement_initial_weights *w,
                      const struct placement_initial_extra *extra, uint32_t *cursor,
                      struct prng *rng) {
    if (snap->n_hosts == 0)
        return -1;
    /* The new VM joins a copy of the VM list, parked on host 0 and taken off
     * it again, so every placement rule sees it like any other VM. */
    struct placement_vm *vms = malloc((snap->n_vms + 1) * sizeof *vms);
    if (!vms)
        return -1;
    if (snap->n_vms)
        memcpy(vms, snap->vms, snap->n_vms * sizeof *vms);
    uint32_t idx = (uint32_t)snap->n_vms;
    vms[idx] = *vm;
    vms[idx].host = 0;
    vms[idx].cpu_mips = vm->mips;
    vms[idx].alloc_mips = 0;
    struct placement_snapshot s = {snap->hosts, snap->n_hosts, vms, snap->n_vms + 1};
    struct placement_policy p = *pol;
    p.respect_memory = true;
    struct placement_plan plan;
    placement_plan_init(&plan);
    struct pl_state st;
    if (pl_state_init(&st, &s, &p, 0, rng, &plan) != 0) {
        free(vms);
        return -1;
    }
    pl_host_remove(&st, 0, idx);
    st.vm_host[idx] = UINT32_MAX;
    int h;
    if (pol->model == PLACEMENT_MODEL_CLOUDSIM) {
        h = pick(&st, idx, kind, w, extra, cursor, PL_PASS_ALL);
    } else {
        h = pick(&st, idx, kind, w, extra, cursor, PL_PASS_ON);
        if (h < 0)
            h = pick(&st, idx, kind, w, extra, cursor, PL_PASS_OFF);
    }
    pl_state_free(&st);
    free(vms);
    return h;
}
