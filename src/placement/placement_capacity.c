/* Capacity left for VMs of one size (placement_capacity.h), with the
 * planner's own accounting of a host's CPU and memory (pl_state). */
#include <stdlib.h>
#include <string.h>

#include "placement/placement_capacity.h"
#include "placement/placement_internal.h"

const char *placement_resource_name(enum placement_resource r) {
    switch (r) {
    case PLACEMENT_RES_NONE: return "none";
    case PLACEMENT_RES_CPU: return "cpu";
    case PLACEMENT_RES_MEMORY: return "memory";
    case PLACEMENT_RES_GROUP: return "anti-affinity group";
    case PLACEMENT_RES_HOST: return "host drained or failed";
    case PLACEMENT_RESOURCES: break;
    }
    return "unknown";
}

/* A count that does not fit a host is 0; rounding of the MIPS sums must
 * not lose a whole VM. */
static uint64_t fits(double left, double each) {
    if (left <= 0)
        return 0;
    return (uint64_t)(left / each + 1e-9);
}

/* How many VMs of the ask host h takes, and what stops one more. */
static uint64_t host_count(const struct pl_state *st, uint32_t h,
                           const struct placement_capacity_ask *ask, enum placement_resource *stop) {
    const struct placement_host *hs = &st->snap->hosts[h];
    const struct pl_host *ph = &st->hosts[h];
    if (hs->flags & (PLACEMENT_HOST_DRAIN | PLACEMENT_HOST_FAILED)) {
        *stop = PLACEMENT_RES_HOST;
        return 0;
    }
    uint64_t cpu = fits(ph->avail, (double)ask->vcpus * hs->core_mips);
    uint64_t mem = hs->mem_mb > ph->mem_used ? (hs->mem_mb - ph->mem_used) / ask->mem_mb : 0;
    uint64_t n = cpu;
    *stop = PLACEMENT_RES_CPU;
    if (mem <= n) {
        n = mem;
        *stop = PLACEMENT_RES_MEMORY;
    }
    if (ask->group && n > 0) {
        bool taken = false;
        for (uint32_t i = 0; i < ph->n_vms && !taken; i++)
            taken = st->snap->vms[ph->vms[i]].anti_affinity == ask->group;
        n = taken ? 0 : 1;
        *stop = PLACEMENT_RES_GROUP;
    }
    return n;
}

static enum placement_resource tightest(const struct placement_capacity_part *p) {
    enum placement_resource best = PLACEMENT_RES_NONE;
    for (int r = PLACEMENT_RES_CPU; r < PLACEMENT_RESOURCES; r++)
        if (p->stopped[r] > (best == PLACEMENT_RES_NONE ? 0 : p->stopped[best]))
            best = (enum placement_resource)r;
    return best;
}

static void add(struct placement_capacity_part *p, uint64_t n, enum placement_resource stop) {
    uint64_t vms = (uint64_t)p->vms + n;
    p->vms = vms > UINT32_MAX ? UINT32_MAX : (uint32_t)vms;
    p->hosts++;
    p->stopped[stop]++;
}

struct idle { uint32_t h; uint64_t n; enum placement_resource stop; };

static int by_count_desc(const void *a, const void *b) {
    const struct idle *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return (x->h > y->h) - (x->h < y->h);
}

int placement_capacity(const struct placement_snapshot *snap, const struct placement_policy *pol,
                       const struct placement_capacity_ask *ask, struct placement_capacity *out) {
    memset(out, 0, sizeof *out);
    if (!ask->vcpus || !ask->mem_mb)
        return -1;
    struct placement_plan plan;
    placement_plan_init(&plan);
    struct prng rng;
    prng_seed(&rng, 1);
    struct pl_state st;
    struct idle *idle = malloc((snap->n_hosts ? snap->n_hosts : 1) * sizeof *idle);
    if (!idle || pl_state_init(&st, snap, pol, 0, &rng, &plan) != 0) {
        free(idle);
        return -1;
    }
    size_t n_idle = 0;
    for (uint32_t h = 0; h < snap->n_hosts; h++) {
        enum placement_resource stop;
        uint64_t n = host_count(&st, h, ask, &stop);
        if (snap->hosts[h].power_state == PLACEMENT_HOST_OFF)
            add(&out->off, n, stop);
        else if (st.hosts[h].n_vms == 0 && stop != PLACEMENT_RES_HOST)
            idle[n_idle++] = (struct idle){h, n, stop};
        else
            add(&out->on, n, stop);
    }
    qsort(idle, n_idle, sizeof *idle, by_count_desc);
    for (size_t i = 0; i < n_idle; i++) {
        if (out->spare_held < pol->spare_hosts)
            out->spare_held++;
        else
            add(&out->on, idle[i].n, idle[i].stop);
    }
    out->on.tightest = tightest(&out->on);
    out->off.tightest = tightest(&out->off);
    pl_state_free(&st);
    placement_plan_free(&plan);
    free(idle);
    return 0;
}
