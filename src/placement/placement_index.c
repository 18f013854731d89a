/* PABFD's host index. PABFD (placement_pabfd.c) wants, among the hosts that
 * pass every constraint, the one whose power draw rises least when the VM is
 * added; scanning every host for every VM made a round O(VMs moved x hosts)
 * (557 ms at 10,000 hosts, docs/placement.md). Hosts are filed by type
 * (power model and MIPS), power state and utilisation bin. For a VM of given
 * MIPS, the power increase of every host in a bin has a lower bound that
 * depends on the power table only, so PABFD visits bins lowest bound first
 * and stops at the first bin whose bound exceeds the best increase found.
 * Within a bin, hosts are banded by the lowest LR prediction any VM could
 * give them (pl_state.lr_low), and bands where LR certainly rejects the VM
 * are skipped (in the synthetic benchmark most low-increase hosts are
 * already busy and fail LR). The bounds only prune: every host visited is
 * tested exactly as before, so the decision is the one a full scan makes
 * (a branch-and-bound search). */
#include <math.h>
#include <stdlib.h>

#include "placement/placement_internal.h"

/* Bin edges k / PL_INDEX_BINS must include the table's 10 % steps, so that
 * P(u) is linear inside a bin and only P(u + f) has a kink there. */
_Static_assert(PL_INDEX_BINS % 10 == 0, "bins must split the power table's 10 % steps");

enum { GROUP_BINS = 2 * PL_INDEX_BINS }; /* one type: running, then switched off */

/* LR bands: 0 = lowest prediction unknown (always visited), 1 = below
 * BAND_BASE, k >= 2 = from band_edge(k) on, BAND_W wide, the last open. */
#define BAND_BASE 0.5
#define BAND_W 0.025

static double band_edge(uint32_t k) { return BAND_BASE + (double)(k - 2) * BAND_W; }

int pl_index_init(struct pl_state *st) {
    struct pl_index *ix = &st->index;
    size_t nh = st->snap->n_hosts ? st->snap->n_hosts : 1;
    ix->type = malloc(nh * sizeof *ix->type);
    ix->list = malloc(nh * sizeof *ix->list);
    ix->next = malloc(nh * sizeof *ix->next);
    ix->prev = malloc(nh * sizeof *ix->prev);
    if (!ix->type || !ix->list || !ix->next || !ix->prev)
        return -1;
    /* Types in order of first appearance; hosts beyond PL_INDEX_TYPES
     * distinct types go to the bin that is always visited. */
    for (size_t i = 0; i < st->snap->n_hosts; i++) {
        const struct placement_host *hs = &st->snap->hosts[i];
        double mips = pl_host_mips(hs);
        size_t t = 0;
        while (t < ix->n_types && !(ix->power[t] == hs->power && ix->mips[t] == mips))
            t++;
        if (t == ix->n_types && t < PL_INDEX_TYPES) {
            ix->power[t] = hs->power;
            ix->mips[t] = mips;
            /* Far above the few ulps by which the interpolation below and
             * placement_power_watts can differ. */
            double w = 0;
            for (int k = 0; k <= 10; k++)
                w = fmax(w, fabs(hs->power->watts[k]));
            ix->slack[t] = 1e-9 * (1 + w);
            ix->n_types++;
        }
        ix->type[i] = (uint32_t)t;
        ix->list[i] = PL_INDEX_NONE;
    }
    ix->n_bins = ix->n_types * GROUP_BINS;
    size_t nb = ix->n_bins + 1;
    ix->head = malloc(nb * PL_INDEX_BANDS * sizeof *ix->head);
    ix->count = calloc(nb, sizeof *ix->count);
    ix->power_max = malloc(nb * sizeof *ix->power_max);
    ix->bound = malloc(nb * sizeof *ix->bound);
    ix->heap = malloc(nb * sizeof *ix->heap);
    if (!ix->head || !ix->count || !ix->power_max || !ix->bound || !ix->heap)
        return -1;
    for (size_t b = 0; b < nb * PL_INDEX_BANDS; b++)
        ix->head[b] = PL_INDEX_NONE;
    for (size_t b = 0; b < nb; b++)
        ix->power_max[b] = -INFINITY;
    return 0;
}

void pl_index_free(struct pl_state *st) {
    struct pl_index *ix = &st->index;
    free(ix->type);
    free(ix->list);
    free(ix->next);
    free(ix->prev);
    free(ix->head);
    free(ix->count);
    free(ix->power_max);
    free(ix->bound);
    free(ix->heap);
    *ix = (struct pl_index){0};
}

/* The bin of host h; the last bin (always visited) takes hosts of no type
 * and utilisations outside [0, 1] (overcommit, odd grants), where the bounds
 * below do not hold. */
static uint32_t bin_of(const struct pl_state *st, uint32_t h) {
    const struct pl_index *ix = &st->index;
    uint32_t t = ix->type[h];
    double u = st->hosts[h].alloc_sum / ix->mips[t < PL_INDEX_TYPES ? t : 0];
    if (t >= ix->n_types || !(u >= 0 && u <= 1))
        return (uint32_t)ix->n_bins;
    uint32_t k = (uint32_t)(u * PL_INDEX_BINS);
    if (k >= PL_INDEX_BINS)
        k = PL_INDEX_BINS - 1;
    return t * GROUP_BINS + (pl_host_off(st, h) ? PL_INDEX_BINS : 0) + k;
}

/* Host h's LR band. */
static uint32_t band_of(const struct pl_state *st, uint32_t h) {
    double low = st->lr_low[h];
    if (!isfinite(low))
        return 0;
    if (low < band_edge(2))
        return 1;
    double k = floor((low - BAND_BASE) / BAND_W) + 2;
    uint32_t b = k >= PL_INDEX_BANDS - 1 ? PL_INDEX_BANDS - 1 : (uint32_t)k;
    /* The division may round up across an edge: a band's hosts are never below it. */
    while (low < band_edge(b))
        b--;
    return b;
}

/* Hosts that can never be a target this round (excl_target is only ever
 * set) are left out of the index rather than skipped on every visit. */
static bool never_target(const struct pl_state *st, uint32_t h) {
    return st->hosts[h].excl_target || (st->snap->hosts[h].flags & (PLACEMENT_HOST_DRAIN | PLACEMENT_HOST_FAILED));
}

void pl_index_file(struct pl_state *st, uint32_t h) {
    struct pl_index *ix = &st->index;
    /* Only the nodectl model searches the index (pl_pabfd_find). */
    if (st->pol->model != PLACEMENT_MODEL_NODECTL)
        return;
    uint32_t b = bin_of(st, h), old = ix->list[h];
    uint32_t l = never_target(st, h) ? PL_INDEX_NONE : b * PL_INDEX_BANDS + band_of(st, h);
    if (l != old) {
        if (old != PL_INDEX_NONE) {
            if (ix->prev[h] != PL_INDEX_NONE)
                ix->next[ix->prev[h]] = ix->next[h];
            else
                ix->head[old] = ix->next[h];
            if (ix->next[h] != PL_INDEX_NONE)
                ix->prev[ix->next[h]] = ix->prev[h];
            ix->count[old / PL_INDEX_BANDS]--;
        }
        ix->list[h] = l;
        if (l == PL_INDEX_NONE)
            return;
        ix->prev[h] = PL_INDEX_NONE;
        ix->next[h] = ix->head[l];
        if (ix->head[l] != PL_INDEX_NONE)
            ix->prev[ix->head[l]] = h;
        ix->head[l] = h;
        ix->count[b]++;
    }
    if (l == PL_INDEX_NONE)
        return;
    /* Only ever raised, so it stays an upper bound of the bin's hosts. */
    if (st->hosts[h].power_before > ix->power_max[b])
        ix->power_max[b] = st->hosts[h].power_before;
}

/* The table's piecewise linear function (placement_power_watts without its
 * exact-step test, which changes nothing but rounding). */
static double watts(const struct placement_power_model *m, double u) {
    double x = (u < 0 ? 0 : u > 1 ? 1 : u) * 10;
    int i = (int)x;
    if (i >= 10)
        return m->watts[10];
    return m->watts[i] + (m->watts[i + 1] - m->watts[i]) * (x - i);
}

/* The increase PABFD computes for a host at utilisation u is P(u + f) -
 * power_before, where power_before is P(u) for a running host and 0 for a
 * host off (pl_host_power_before, nodectl model). Both are piecewise linear
 * in u, so their minimum over a bin lies on its edges or where u + f crosses
 * a 10 % step. */
static void bound_group(struct pl_state *st, size_t t, bool off, double f) {
    struct pl_index *ix = &st->index;
    const struct placement_power_model *m = ix->power[t];
    bool relative = !off;
    size_t base = t * GROUP_BINS + (off ? PL_INDEX_BINS : 0);
    double edge[PL_INDEX_BINS + 1];
    for (size_t k = 0; k <= PL_INDEX_BINS; k++) {
        double u = (double)k / PL_INDEX_BINS;
        edge[k] = watts(m, u + f) - (relative ? watts(m, u) : 0);
    }
    for (size_t k = 0; k < PL_INDEX_BINS; k++)
        ix->bound[base + k] = fmin(edge[k], edge[k + 1]);
    for (int j = 1; j <= 10; j++) {
        double u = j / 10.0 - f;
        if (!(u > 0 && u < 1))
            continue;
        size_t k = (size_t)(u * PL_INDEX_BINS);
        if (k >= PL_INDEX_BINS)
            k = PL_INDEX_BINS - 1;
        double g = watts(m, u + f) - (relative ? watts(m, u) : 0);
        ix->bound[base + k] = fmin(ix->bound[base + k], g);
    }
    for (size_t k = 0; k < PL_INDEX_BINS; k++) {
        size_t b = base + k;
        if (ix->count[b] == 0)
            ix->bound[b] = INFINITY;
        else
            ix->bound[b] -= ix->slack[t] + (relative ? 0 : ix->power_max[b]);
    }
}

/* Bands from the first whose edge plus the least the VM adds exceeds 1 are
 * certainly rejected by LR (both bounds have their rounding allowance off). */
static uint32_t band_cut(const struct pl_state *st, uint32_t vm, const struct pl_trend *vt, size_t t) {
    double vm_low = pl_trend_vm_low(st, vm, vt, st->index.mips[t]);
    if (!isfinite(vm_low))
        return PL_INDEX_BANDS;
    uint32_t k = 2;
    while (k < PL_INDEX_BANDS && !(band_edge(k) + vm_low > 1))
        k++;
    return k;
}

static void sift_down(struct pl_index *ix, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < ix->heap_n && ix->bound[ix->heap[l]] < ix->bound[ix->heap[m]])
            m = l;
        if (l + 1 < ix->heap_n && ix->bound[ix->heap[l + 1]] < ix->bound[ix->heap[m]])
            m = l + 1;
        if (m == i)
            return;
        uint32_t t = ix->heap[i];
        ix->heap[i] = ix->heap[m];
        ix->heap[m] = t;
        i = m;
    }
}

void pl_index_bound(struct pl_state *st, uint32_t vm, const struct pl_trend *vt, enum pl_pass pass) {
    struct pl_index *ix = &st->index;
    double mips = st->snap->vms[vm].cpu_mips;
    for (size_t t = 0; t < ix->n_types; t++) {
        ix->band_cut[t] = band_cut(st, vm, vt, t);
        for (int off = 0; off <= 1; off++) {
            size_t base = t * GROUP_BINS + (off ? PL_INDEX_BINS : 0);
            bool any = false;
            for (size_t k = 0; k < PL_INDEX_BINS && !any; k++)
                any = ix->count[base + k] != 0;
            if (!any || (pass == PL_PASS_ON && off) || (pass == PL_PASS_OFF && !off)) {
                for (size_t k = 0; k < PL_INDEX_BINS; k++)
                    ix->bound[base + k] = INFINITY;
                continue;
            }
            bound_group(st, t, off, mips / ix->mips[t]);
        }
    }
    ix->bound[ix->n_bins] = ix->count[ix->n_bins] ? -INFINITY : INFINITY;
    /* A round visits a few dozen of the bins: a heap orders just those. */
    ix->heap_n = 0;
    for (size_t b = 0; b <= ix->n_bins; b++)
        if (ix->bound[b] < INFINITY)
            ix->heap[ix->heap_n++] = (uint32_t)b;
    for (size_t i = ix->heap_n / 2; i-- > 0;)
        sift_down(ix, i);
}

uint32_t pl_index_next(struct pl_state *st, double limit) {
    struct pl_index *ix = &st->index;
    if (ix->heap_n == 0 || !(ix->bound[ix->heap[0]] <= limit))
        return PL_INDEX_NONE;
    uint32_t b = ix->heap[0];
    ix->heap[0] = ix->heap[--ix->heap_n];
    sift_down(ix, 0);
    return b;
}

uint32_t pl_index_first(const struct pl_state *st, uint32_t b, uint32_t k) {
    const struct pl_index *ix = &st->index;
    if (b < ix->n_bins && k >= ix->band_cut[b / GROUP_BINS])
        return PL_INDEX_NONE;
    return ix->head[b * PL_INDEX_BANDS + k];
}
