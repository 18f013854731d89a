/* Which VM leaves an overloaded host (Beloglazov & Buyya, CCPE 2012, VM
 * selection): minimum migration time (MMT), maximum correlation (MC),
 * random selection (RS); and "lightest VM first", as the Bologna
 * energy-saving cluster manager did. */
#include <math.h>
#include <stdlib.h>

#include "placement/placement_internal.h"

/* MC solves one least-squares system per VM (cubic in the VM count); hosts
 * with more movable VMs than this fall back to MMT. */
enum { MC_MAX_VMS = 24 };

static size_t movable_vms(const struct pl_state *st, uint32_t h, uint32_t *out) {
    const struct pl_host *ph = &st->hosts[h];
    size_t n = 0;
    for (uint32_t i = 0; i < ph->n_vms; i++)
        if (pl_vm_movable(st, ph->vms[i]))
            out[n++] = ph->vms[i];
    return n;
}

/* MMT: the least memory migrates fastest; ties go to the first in host order. */
static int select_mmt(const struct pl_state *st, const uint32_t *vms, size_t n) {
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (best < 0 || st->snap->vms[vms[i]].mem_mb < st->snap->vms[best].mem_mb)
            best = (int)vms[i];
    return best;
}

static int select_lowest_cpu(const struct pl_state *st, const uint32_t *vms, size_t n) {
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (best < 0 || st->snap->vms[vms[i]].cpu_mips < st->snap->vms[best].cpu_mips)
            best = (int)vms[i];
    return best;
}

/* Solves the p x p system a x = b in place (partial pivoting); -1 if singular. */
static int solve(double *a, double *b, size_t p) {
    for (size_t c = 0; c < p; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < p; r++)
            if (fabs(a[r * p + c]) > fabs(a[piv * p + c]))
                piv = r;
        if (fabs(a[piv * p + c]) < 1e-12)
            return -1;
        if (piv != c) {
            for (size_t k = 0; k < p; k++) {
                double t = a[c * p + k];
                a[c * p + k] = a[piv * p + k];
                a[piv * p + k] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (size_t r = c + 1; r < p; r++) {
            double f = a[r * p + c] / a[c * p + c];
            for (size_t k = c; k < p; k++)
                a[r * p + k] -= f * a[c * p + k];
            b[r] -= f * b[c];
        }
    }
    for (size_t c = p; c-- > 0;) {
        for (size_t k = c + 1; k < p; k++)
            b[c] -= a[c * p + k] * b[k];
        b[c] /= a[c * p + c];
    }
    return 0;
}

/* R^2 of regressing VM i's history on the others' (with intercept), over the
 * m most recent samples; -1 if the fit is impossible. */
static double r_squared(const struct pl_state *st, const uint32_t *vms, size_t n, size_t i, size_t m) {
    size_t p = n; /* intercept + (n - 1) regressors */
    double a[MC_MAX_VMS * MC_MAX_VMS] = {0}, b[MC_MAX_VMS] = {0}, row[MC_MAX_VMS];
    const double *y = st->snap->vms[vms[i]].history;
    for (size_t t = 0; t < m; t++) {
        size_t k = 0;
        row[k++] = 1;
        for (size_t j = 0; j < n; j++)
            if (j != i)
                row[k++] = st->snap->vms[vms[j]].history[t];
        for (size_t r = 0; r < p; r++) {
            b[r] += row[r] * y[t];
            for (size_t c = 0; c < p; c++)
                a[r * p + c] += row[r] * row[c];
        }
    }
    if (solve(a, b, p) != 0)
        return -1;
    double mean = 0, ss_tot = 0, ss_res = 0;
    for (size_t t = 0; t < m; t++)
        mean += y[t];
    mean /= (double)m;
    for (size_t t = 0; t < m; t++) {
        double fit = b[0];
        size_t k = 1;
        for (size_t j = 0; j < n; j++)
            if (j != i)
                fit += b[k++] * st->snap->vms[vms[j]].history[t];
        ss_res += (y[t] - fit) * (y[t] - fit);
        ss_tot += (y[t] - mean) * (y[t] - mean);
    }
    return ss_tot > 0 ? 1 - ss_res / ss_tot : 0;
}

/* MC: the VM whose load is best explained by its neighbours' (highest
 * multiple correlation) is the one most likely to overload the host with
 * them. Falls back to MMT when there are too few samples for a regression,
 * as CloudSim's PowerVmSelectionPolicyMaximumCorrelation does. */
static int select_mc(const struct pl_state *st, const uint32_t *vms, size_t n) {
    if (n < 2 || n > MC_MAX_VMS)
        return select_mmt(st, vms, n);
    size_t m = PLACEMENT_HISTORY_MAX;
    for (size_t i = 0; i < n; i++)
        if (st->snap->vms[vms[i]].history_len < m)
            m = st->snap->vms[vms[i]].history_len;
    if (m <= n)
        return select_mmt(st, vms, n);
    int best = -1;
    double best_r2 = 0;
    for (size_t i = 0; i < n; i++) {
        double r2 = r_squared(st, vms, n, i, m);
        if (r2 < 0)
            return select_mmt(st, vms, n);
        if (best < 0 || r2 > best_r2) {
            best = (int)vms[i];
            best_r2 = r2;
        }
    }
    return best;
}

int pl_select_vm(struct pl_state *st, uint32_t h) {
    uint32_t *buf = st->scratch;
    size_t n = movable_vms(st, h, buf);
    if (n == 0)
        return -1;
    switch (st->pol->select) {
    case PLACEMENT_SELECT_MMT:
        return select_mmt(st, buf, n);
    case PLACEMENT_SELECT_MC:
        return select_mc(st, buf, n);
    case PLACEMENT_SELECT_RS:
        return (int)buf[prng_below(st->rng, n)];
    case PLACEMENT_SELECT_LOWEST_CPU:
        return select_lowest_cpu(st, buf, n);
    }
    return select_mmt(st, buf, n);
}
