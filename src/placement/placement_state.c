/* The planner's working copy of the cluster: which VMs each host holds while
 * moves are tried, and what each host can still grant. */
#include <stdlib.h>
#include <string.h>

#include "placement/placement_internal.h"

/* A vCPU never gets more than one core (CloudSim VmSchedulerTimeShared caps
 * each PE share at the host's PE capacity). */
double pl_vm_capped(const struct placement_host *h, const struct placement_vm *v) {
    uint32_t n = v->vcpus ? v->vcpus : 1;
    double per = v->cpu_mips / n;
    return (per > h->core_mips ? h->core_mips : per) * n;
}

/* CloudSim recomputes a host's available MIPS by granting its VMs' requests
 * in order; a VM's grant is at least what it held at the last measurement
 * (at creation it holds its full size while requesting nothing yet). */
/* Adds VM v to host h's running sums. Sums are kept in host order, so
 * appending performs exactly the operations of a recount (CloudSim recounts
 * on every call; the results are bit-identical). */
static void sums_add(struct pl_state *st, uint32_t h, uint32_t v) {
    const struct placement_vm *vm = &st->snap->vms[v];
    struct pl_host *ph = &st->hosts[h];
    double host_mips = pl_host_mips(&st->snap->hosts[h]);
    double *hs = st->hist_sum + (size_t)h * PLACEMENT_HISTORY_MAX;
    ph->req_sum += vm->cpu_mips;
    size_t n = vm->history_len < PLACEMENT_HISTORY_MAX ? vm->history_len : PLACEMENT_HISTORY_MAX;
    for (size_t i = 0; i < n; i++)
        hs[i] += vm->history[i] * vm->mips / host_mips;
    if (vm->mem_mb > ph->mem_max)
        ph->mem_max = vm->mem_mb;
}

void pl_host_refresh(struct pl_state *st, uint32_t h) {
    const struct placement_host *hs = &st->snap->hosts[h];
    struct pl_host *ph = &st->hosts[h];
    double avail = pl_host_mips(hs) * st->pol->cpu_overcommit, sum = 0;
    ph->req_sum = 0;
    ph->mem_max = 0;
    for (size_t i = 0; i < PLACEMENT_HISTORY_MAX; i++)
        st->hist_sum[(size_t)h * PLACEMENT_HISTORY_MAX + i] = 0;
    for (uint32_t i = 0; i < ph->n_vms; i++) {
        sums_add(st, h, ph->vms[i]);
        uint32_t v = ph->vms[i];
        double capped = pl_vm_capped(hs, &st->snap->vms[v]);
        avail -= st->vm_alloc[v] > capped ? st->vm_alloc[v] : capped;
        sum += st->vm_alloc[v];
    }
    ph->avail = avail;
    ph->alloc_sum = sum;
    pl_trend_update(st, h);
    pl_host_power_before(st, h);
}

static int push_vm(struct pl_host *ph, uint32_t vm) {
    if (ph->n_vms == ph->cap_vms) {
        uint32_t cap = ph->cap_vms ? ph->cap_vms * 2 : 4;
        uint32_t *n = realloc(ph->vms, cap * sizeof *n);
        if (!n)
            return -1;
        ph->vms = n;
        ph->cap_vms = cap;
    }
    ph->vms[ph->n_vms++] = vm;
    return 0;
}

int pl_state_init(struct pl_state *st, const struct placement_snapshot *snap,
                  const struct placement_policy *pol, double now, struct prng *rng,
                  struct placement_plan *plan) {
    memset(st, 0, sizeof *st);
    st->snap = snap;
    st->pol = pol;
    st->now = now;
    st->rng = rng;
    st->plan = plan;
    st->hosts = calloc(snap->n_hosts ? snap->n_hosts : 1, sizeof *st->hosts);
    st->vm_host = calloc(snap->n_vms ? snap->n_vms : 1, sizeof *st->vm_host);
    st->vm_alloc = calloc(snap->n_vms ? snap->n_vms : 1, sizeof *st->vm_alloc);
    st->vm_action = calloc(snap->n_vms ? snap->n_vms : 1, sizeof *st->vm_action);
    st->hist_sum = calloc((snap->n_hosts ? snap->n_hosts : 1) * PLACEMENT_HISTORY_MAX, sizeof *st->hist_sum);
    st->scratch = calloc(snap->n_vms ? snap->n_vms : 1, sizeof *st->scratch);
    st->trend = calloc(snap->n_hosts ? snap->n_hosts : 1, sizeof *st->trend);
    st->lr_low = calloc(snap->n_hosts ? snap->n_hosts : 1, sizeof *st->lr_low);
    if (!st->hosts || !st->vm_host || !st->vm_alloc || !st->vm_action || !st->hist_sum || !st->scratch ||
        !st->trend || !st->lr_low || pl_index_init(st) != 0) {
        pl_state_free(st);
        return -1;
    }
    for (size_t h = 0; h < snap->n_hosts; h++) {
        st->hosts[h].power_on_action = -1;
        st->hosts[h].migrations = snap->hosts[h].migrations_in_flight;
    }
    for (size_t v = 0; v < snap->n_vms; v++) {
        const struct placement_vm *vm = &snap->vms[v];
        st->vm_host[v] = vm->host;
        st->vm_alloc[v] = vm->alloc_mips;
        st->vm_action[v] = -1;
        if (push_vm(&st->hosts[vm->host], (uint32_t)v) != 0) {
            pl_state_free(st);
            return -1;
        }
        st->hosts[vm->host].mem_used += vm->mem_mb;
    }
    pl_trend_init(st);
    for (size_t h = 0; h < snap->n_hosts; h++) {
        pl_host_refresh(st, (uint32_t)h);
        st->hosts[h].req_measured = pl_host_requested_mips(st, (uint32_t)h, -1);
    }
    return 0;
}

void pl_state_free(struct pl_state *st) {
    if (st->hosts)
        for (size_t h = 0; h < st->snap->n_hosts; h++)
            free(st->hosts[h].vms);
    free(st->hosts);
    free(st->vm_host);
    free(st->vm_alloc);
    free(st->vm_action);
    free(st->hist_sum);
    free(st->scratch);
    free(st->trend);
    free(st->lr_low);
    pl_index_free(st);
    st->trend = NULL;
    st->lr_low = NULL;
    st->hist_sum = NULL;
    st->scratch = NULL;
    st->hosts = NULL;
    st->vm_host = NULL;
    st->vm_alloc = NULL;
    st->vm_action = NULL;
}

/* CloudSim Host.vmCreate on a suitable host: the VM is granted its request. */
int pl_host_add(struct pl_state *st, uint32_t h, uint32_t vm) {
    const struct placement_host *hs = &st->snap->hosts[h];
    const struct placement_vm *v = &st->snap->vms[vm];
    struct pl_host *ph = &st->hosts[h];
    if (push_vm(ph, vm) != 0)
        return -1;
    double capped = pl_vm_capped(hs, v);
    st->vm_alloc[vm] = capped;
    st->vm_host[vm] = h;
    ph->avail -= capped;
    /* Appending keeps the in-order sum exact: same operations as a recount. */
    ph->alloc_sum += capped;
    ph->mem_used += v->mem_mb;
    sums_add(st, h, vm);
    pl_trend_update(st, h);
    pl_host_power_before(st, h);
    return 0;
}

/* CloudSim Host.vmDestroy: the remaining VMs are granted again in order. */
void pl_host_remove(struct pl_state *st, uint32_t h, uint32_t vm) {
    struct pl_host *ph = &st->hosts[h];
    for (uint32_t i = 0; i < ph->n_vms; i++) {
        if (ph->vms[i] != vm)
            continue;
        memmove(&ph->vms[i], &ph->vms[i + 1], (ph->n_vms - i - 1) * sizeof *ph->vms);
        ph->n_vms--;
        ph->mem_used -= st->snap->vms[vm].mem_mb;
        pl_host_refresh(st, h);
        return;
    }
}

/* CloudSim PowerVmAllocationPolicyMigrationAbstract.getUtilizationOfCpuMips. */
double pl_host_alloc_mips(const struct pl_state *st, uint32_t h) { return st->hosts[h].alloc_sum; }

/* Sum of current requests (CloudSim isHostOverUtilized's totalRequestedMips). */
double pl_host_requested_mips(const struct pl_state *st, uint32_t h, int extra_vm) {
    double sum = st->hosts[h].req_sum;
    if (extra_vm >= 0)
        sum += st->snap->vms[extra_vm].cpu_mips;
    return sum;
}

bool pl_vm_movable(const struct pl_state *st, uint32_t vm) {
    const struct placement_vm *v = &st->snap->vms[vm];
    if (v->pinned || v->in_migration)
        return false;
    return st->now - v->last_migrated_at >= st->pol->vm_cooldown_s;
}

static int by_demand_desc(const void *a, const void *b, void *ctx) {
    const struct pl_state *st = ctx;
    const struct pl_pick *x = a, *y = b;
    double dx = st->snap->vms[x->vm].cpu_mips, dy = st->snap->vms[y->vm].cpu_mips;
    if (dx != dy)
        return dx < dy ? 1 : -1;
    return (x->order > y->order) - (x->order < y->order);
}

void pl_sort_by_demand(const struct pl_state *st, struct pl_pick *p, size_t n) {
    qsort_r(p, n, sizeof *p, by_demand_desc, (void *)st);
}

void pl_host_exclude_target(struct pl_state *st, uint32_t h) {
    st->hosts[h].excl_target = true;
    pl_index_file(st, h);
}

/* Power before a move, for PABFD. CloudSim uses the utilisation measured at
 * the last update (stale while planning) and an off host's idle power, so
 * waking a host looks free; nodectl charges a woken host its whole draw. */
void pl_host_power_before(struct pl_state *st, uint32_t h) {
    const struct placement_host *hs = &st->snap->hosts[h];
    struct pl_host *ph = &st->hosts[h];
    if (st->pol->model == PLACEMENT_MODEL_CLOUDSIM)
        ph->power_before = placement_power_watts(hs->power, hs->cpu_measured);
    else if (pl_host_off(st, h))
        ph->power_before = 0;
    else
        ph->power_before = placement_power_watts(hs->power, ph->alloc_sum / pl_host_mips(hs));
    pl_index_file(st, h);
}
