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

int pl_pabfd_find(const struct pl_state *st, uint32_t vm, enum pl_pass pass) {
    const struct placement_vm *v = &st->snap->vms[vm];
    double min_diff = DBL_MAX;
    int best = -1;
    for (size_t i = 0; i < st->snap->n_hosts; i++) {
        uint32_t h = (uint32_t)i;
        const struct pl_host *ph = &st->hosts[h];
        /* Cheapest tests first; all must pass, so their order is free. */
        if (ph->excl_target || ph->avail < v->cpu_mips)
            continue;
        bool off = pl_host_off(st, h);
        if ((pass == PL_PASS_ON && off) || (pass == PL_PASS_OFF && !off))
            continue;
        const struct placement_host *hs = &st->snap->hosts[h];
        double alloc = ph->alloc_sum;
        double after = placement_power_watts(hs->power, (alloc + v->cpu_mips) / pl_host_mips(hs));
        double diff = after - ph->power_before;
        /* Strict <: the lowest index wins ties. The remaining constraints
         * and the overload test run only for a host that would win. */
        if (!(diff < min_diff) || !pl_host_suitable(st, h, vm))
            continue;
        /* CloudSim skips the test on an empty host; nodectl never places a
         * VM where it would overload the host on its own (anti-thrash: a
         * single-VM host is not "relieved" onto an equally overloaded one). */
        if (st->pol->model != PLACEMENT_MODEL_CLOUDSIM || alloc != 0) {
            struct pl_overload o;
            pl_overload_eval(st, h, (int)vm, &o);
            if (o.over)
                continue;
        }
        min_diff = diff;
        best = (int)h;
    }
    return best;
}
