/* Power-aware best fit decreasing (Beloglazov & Buyya, CCPE 2012, VM
 * placement; CloudSim PowerVmAllocationPolicyMigrationAbstract
 * .findHostForVm): the VM goes where it raises power draw least, among hosts
 * that can take it without becoming overloaded. */
#include <float.h>

#include "placement/placement_internal.h"

/* Every hard constraint: the vCPU fits a core, CPU within the overcommit
 * limit, memory, drain/failed, migrations per host, anti-affinity. */
bool pl_host_suitable(const struct pl_state *st, uint32_t h, uint32_t vm) {
    const struct placement_host *hs = &st->snap->hosts[h];
    const struct placement_vm *v = &st->snap->vms[vm];
    const struct pl_host *ph = &st->hosts[h];
    if (st->vm_host[vm] == h || ph->excl_target)
        return false;
    if (hs->flags & (PLACEMENT_HOST_DRAIN | PLACEMENT_HOST_FAILED | PLACEMENT_HOST_NO_INBOUND))
        return false;
    if (v->cpu_mips / (v->vcpus ? v->vcpus : 1) > hs->core_mips)
        return false;
    if (ph->avail < v->cpu_mips)
        return false;
    if (st->pol->respect_memory && ph->mem_used + v->mem_mb > hs->mem_mb)
        return false;
    if (st->pol->max_migrations_per_host && ph->migrations >= st->pol->max_migrations_per_host)
        return false;
    if (v->anti_affinity)
        for (uint32_t i = 0; i < ph->n_vms; i++)
            if (st->snap->vms[ph->vms[i]].anti_affinity == v->anti_affinity)
                return false;
    return true;
}

/* Offers host h to the search: it becomes the best if its power increase
 * is below the best so far (the lowest index wins ties, as in CloudSim's
 * scan in host order) and it passes every constraint. */
static void consider(const struct pl_state *st, uint32_t vm, uint32_t h, enum pl_pass pass,
                     const struct pl_trend *vt, double *min_diff, int *best) {
    const struct placement_vm *v = &st->snap->vms[vm];
    const struct pl_host *ph = &st->hosts[h];
    /* Cheapest tests first; all must pass, so their order is free. */
    if (ph->excl_target || ph->avail < v->cpu_mips)
        return;
    bool off = pl_host_off(st, h);
    if ((pass == PL_PASS_ON && off) || (pass == PL_PASS_OFF && !off))
        return;
    const struct placement_host *hs = &st->snap->hosts[h];
    double alloc = ph->alloc_sum;
    double after = placement_power_watts(hs->power, (alloc + v->cpu_mips) / pl_host_mips(hs));
    double diff = after - ph->power_before;
    /* The remaining constraints and the overload test run only for a host
     * that would win. */
    if (!(diff < *min_diff || (diff == *min_diff && (int)h < *best)) || !pl_host_suitable(st, h, vm))
        return;
    /* CloudSim skips the test on an empty host; nodectl never places a
     * VM where it would overload the host on its own (anti-thrash: a
     * single-VM host is not "relieved" onto an equally overloaded one). */
    if ((st->pol->model != PLACEMENT_MODEL_CLOUDSIM || alloc != 0) && pl_overloaded_with(st, h, vm, vt))
        return;
    *min_diff = diff;
    *best = (int)h;
}

/* The nodectl model visits hosts through the index (placement_index.c): only
 * the bins whose lower bound can still beat the best found, in any order
 * (the tie rule in consider() makes the order irrelevant). The CloudSim
 * model scans every host in order, as CloudSim does: its power before the
 * move is a stale measurement unrelated to the utilisation the index files
 * hosts by, so bounds prune little there and the in-order scan is faster. */
int pl_pabfd_find(struct pl_state *st, uint32_t vm, enum pl_pass pass) {
    struct pl_trend vt = pl_trend_of_vm(st, vm);
    double min_diff = DBL_MAX;
    int best = -1;
    if (st->pol->model == PLACEMENT_MODEL_CLOUDSIM) {
        for (size_t h = 0; h < st->snap->n_hosts; h++)
            consider(st, vm, (uint32_t)h, pass, &vt, &min_diff, &best);
        return best;
    }
    pl_index_bound(st, vm, &vt, pass);
    for (uint32_t b; (b = pl_index_next(st, min_diff)) != PL_INDEX_NONE;)
        for (uint32_t k = 0; k < PL_INDEX_BANDS; k++)
            for (uint32_t h = pl_index_first(st, b, k); h != PL_INDEX_NONE; h = st->index.next[h])
                consider(st, vm, h, pass, &vt, &min_diff, &best);
    return best;
}
