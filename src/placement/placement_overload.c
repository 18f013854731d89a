/* Host overload detection: static threshold (THR) and the adaptive rules of
 * Beloglazov & Buyya (CCPE 2012, host overload detection): median absolute deviation
 * (MAD), interquartile range (IQR), local regression (LR) and robust local
 * regression (LRR); plus the Bologna cluster's load-average rule.
 *
 * The arithmetic follows CloudSim's MathUtil and commons-math 3 (LEGACY
 * percentile, SimpleRegression's incremental sums) operation for operation,
 * so a threshold comparison lands on the same side as in CloudSim. */
#include <math.h>
#include <stdlib.h>

#include "placement/placement_internal.h"

/* CloudSim MathUtil.countNonZeroBeginning: length up to the last non-zero
 * value (1 for an all-zero array). */
static size_t count_non_zero_beginning(const double *d, size_t n) {
    long i = (long)n - 1;
    while (i >= 0) {
        if (d[i--] != 0)
            break;
    }
    return (size_t)(i + 2);
}

size_t pl_host_history(const struct pl_state *st, uint32_t h, int extra_vm,
                       double out[PLACEMENT_HISTORY_MAX]) {
    const double *hs = st->hist_sum + (size_t)h * PLACEMENT_HISTORY_MAX;
    for (size_t i = 0; i < PLACEMENT_HISTORY_MAX; i++)
        out[i] = hs[i];
    if (extra_vm >= 0) {
        const struct placement_vm *v = &st->snap->vms[extra_vm];
        double host_mips = pl_host_mips(&st->snap->hosts[h]);
        size_t n = v->history_len < PLACEMENT_HISTORY_MAX ? v->history_len : PLACEMENT_HISTORY_MAX;
        for (size_t i = 0; i < n; i++)
            out[i] += v->history[i] * v->mips / host_mips;
    }
    return count_non_zero_beginning(out, PLACEMENT_HISTORY_MAX);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* commons-math Percentile(50), LEGACY estimation: pos = p (n + 1). */
static double median(const double *d, size_t n) {
    double w[PLACEMENT_HISTORY_MAX];
    for (size_t i = 0; i < n; i++)
        w[i] = d[i];
    qsort(w, n, sizeof *w, cmp_double);
    double pos = 0.5 * (double)(n + 1);
    double fpos = floor(pos);
    size_t ipos = (size_t)fpos;
    double dif = pos - fpos;
    if (pos < 1)
        return w[0];
    if (pos >= (double)n)
        return w[n - 1];
    double lower = w[ipos - 1], upper = w[ipos];
    return lower + dif * (upper - lower);
}

/* CloudSim MathUtil.mad. */
static double mad(const double *d, size_t n) {
    double m = median(d, n);
    double dev[PLACEMENT_HISTORY_MAX];
    for (size_t i = 0; i < n; i++)
        dev[i] = fabs(m - d[i]);
    return median(dev, n);
}

/* Java Math.round for the small positive values used here. */
static long java_round(double x) { return (long)floor(x + 0.5); }

/* CloudSim MathUtil.iqr: quartiles taken at rounded ranks. */
static double iqr(const double *d, size_t n) {
    double w[PLACEMENT_HISTORY_MAX];
    for (size_t i = 0; i < n; i++)
        w[i] = d[i];
    qsort(w, n, sizeof *w, cmp_double);
    long q1 = java_round(0.25 * (double)(n + 1)) - 1;
    long q3 = java_round(0.75 * (double)(n + 1)) - 1;
    return w[q3] - w[q1];
}

/* Ordinary least squares with intercept, with commons-math SimpleRegression's
 * running sums. CloudSim's "loess" builds tricube (LR) or bisquare (LRR)
 * weights but applies them only when >= 40 % are zero, which never happens
 * for 10 points, so both reduce to this fit (the benchmark note, 4.2); the
 * cloudsim model keeps that, the nodectl model's LRR adds robust() below. */
static void ols(const double *x, const double *y, size_t n, double *a, double *b) {
    double xbar = 0, ybar = 0, sxx = 0, sxy = 0, sx = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0) {
            xbar = x[i];
            ybar = y[i];
        } else {
            double fact1 = 1.0 + (double)i;
            double fact2 = (double)i / (1.0 + (double)i);
            double dx = x[i] - xbar, dy = y[i] - ybar;
            sxx += dx * dx * fact2;
            sxy += dx * dy * fact2;
            xbar += dx / fact1;
            ybar += dy / fact1;
        }
        sx += x[i];
        sy += y[i];
    }
    *b = sxy / sxx;
    *a = (sy - *b * sx) / (double)n;
}

/* Robust local regression as Cleveland (JASA 1979) and the paper
 * intend, one robustness step: bisquare weights from the OLS residuals
 * (scale 6 x median absolute residual), then weighted least squares. Used by
 * LRR in the nodectl model; CloudSim's never applies its weights. */
static void robust(const double *x, const double *y, size_t n, double *a, double *b) {
    double r[PLACEMENT_HISTORY_MAX];
    for (size_t i = 0; i < n; i++)
        r[i] = fabs(y[i] - (*a + *b * x[i]));
    double s = 6 * median(r, n);
    if (!(s > 0))
        return;
    double sw = 0, swx = 0, swy = 0, swxx = 0, swxy = 0;
    for (size_t i = 0; i < n; i++) {
        double u = r[i] / s;
        double w = u < 1 ? (1 - u * u) * (1 - u * u) : 0;
        sw += w;
        swx += w * x[i];
        swy += w * y[i];
        swxx += w * x[i] * x[i];
        swxy += w * x[i] * y[i];
    }
    double det = sw * swxx - swx * swx;
    if (!(fabs(det) > 1e-12))
        return;
    *b = (sw * swxy - swx * swy) / det;
    *a = (swy - *b * swx) / sw;
}

static void threshold_test(double u, double thr, const char *rule, struct pl_overload *out) {
    out->over = u > thr;
    out->predicted = false;
    out->value = u;
    out->threshold = thr;
    out->rule = rule;
    out->what = "CPU";
}

/* Largest memory among the host's VMs, in migration seconds (CloudSim
 * getMaximumVmMigrationTime). */
static double max_migration_s(const struct pl_state *st, uint32_t h, int extra_vm) {
    uint64_t max_mem = st->hosts[h].mem_max;
    if (extra_vm >= 0 && st->snap->vms[extra_vm].mem_mb > max_mem)
        max_mem = st->snap->vms[extra_vm].mem_mb;
    return (double)max_mem / st->pol->migration_mb_per_s;
}

/* LR's window: "10 to make the regression responsive enough" (the paper). */
enum { LR_LEN = 10 };

void pl_overload_eval(const struct pl_state *st, uint32_t h, int extra_vm, struct pl_overload *out) {
    const struct placement_policy *pol = st->pol;
    const struct placement_host *hs = &st->snap->hosts[h];
    double u = pl_host_requested_mips(st, h, extra_vm) / pl_host_mips(hs);
    double hist[PLACEMENT_HISTORY_MAX];
    size_t n;

    switch (pol->overload) {
    case PLACEMENT_OVERLOAD_THR:
        threshold_test(u, pol->overload_param, "THR", out);
        return;
    case PLACEMENT_OVERLOAD_LOADAVG: {
        /* The measured load, shifted by the cores' worth of demand the
         * planner has moved on or off the host since. */
        double moved = pl_host_requested_mips(st, h, extra_vm) - st->hosts[h].req_measured;
        double load = hs->loadavg15 + moved / hs->core_mips;
        threshold_test(load / hs->cores, pol->loadavg_max, "loadavg15/core", out);
        out->what = "load";
        return;
    }
    case PLACEMENT_OVERLOAD_MAD:
    case PLACEMENT_OVERLOAD_IQR:
        n = pl_host_history(st, h, extra_vm, hist);
        /* "12 has been suggested as a safe value" (CloudSim, after the paper). */
        if (count_non_zero_beginning(hist, n) < 12) {
            threshold_test(u, pol->fallback_threshold, "THR fallback", out);
            return;
        }
        if (pol->overload == PLACEMENT_OVERLOAD_MAD)
            threshold_test(u, 1 - pol->overload_param * mad(hist, n), "MAD", out);
        else
            threshold_test(u, 1 - pol->overload_param * iqr(hist, n), "IQR", out);
        return;
    case PLACEMENT_OVERLOAD_LR:
    case PLACEMENT_OVERLOAD_LRR: {
        enum { LEN = LR_LEN };
        n = pl_host_history(st, h, extra_vm, hist);
        if (n < LEN) {
            threshold_test(u, pol->fallback_threshold, "THR fallback", out);
            return;
        }
        double x[LEN], y[LEN], a, b;
        for (int i = 0; i < LEN; i++) {
            x[i] = i + 1;
            y[i] = hist[LEN - i - 1];
        }
        ols(x, y, LEN, &a, &b);
        if (pol->overload == PLACEMENT_OVERLOAD_LRR && pol->model == PLACEMENT_MODEL_NODECTL)
            robust(x, y, LEN, &a, &b);
        double steps = ceil(max_migration_s(st, h, extra_vm) / pol->interval_s);
        double predicted = pol->overload_param * (a + b * (LEN + steps));
        out->over = predicted >= 1;
        out->predicted = true;
        out->value = predicted;
        out->threshold = 1;
        out->rule = pol->overload == PLACEMENT_OVERLOAD_LR ? "LR" : "LRR";
        out->what = "CPU";
        return;
    }
    }
    threshold_test(u, pol->overload_param, "THR", out);
}

/* PABFD asks LR "overloaded with this VM added?" of hundreds of candidate
 * hosts per VM placed, and most answers are far from the threshold. OLS on
 * x = 1..10 is linear in y, so the prediction is the host's trend plus the
 * VM's, each kept or computed once; when that sum is further from 1 than any
 * rounding could move it, it settles the answer, and only the close calls
 * run the exact arithmetic (which matches CloudSim's operation for operation). */
static bool trend_applies(const struct placement_policy *pol) {
    return pol->overload == PLACEMENT_OVERLOAD_LR ||
           (pol->overload == PLACEMENT_OVERLOAD_LRR && pol->model == PLACEMENT_MODEL_CLOUDSIM);
}

/* Trend of the newest LR_LEN samples y[0..9], newest first: sample i sits at
 * x = LR_LEN - i, and x's mean is 5.5 with sum of squared deviations 82.5. */
static struct pl_trend trend(const double *y, size_t n, double scale) {
    struct pl_trend t = {0, 0, 0};
    for (size_t i = 0; i < n && i < LR_LEN; i++) {
        double v = y[i] * scale;
        t.mean += v / LR_LEN;
        t.slope += ((double)(LR_LEN - i) - 5.5) * v / 82.5;
        t.mag += fabs(v);
    }
    return t;
}

/* The prediction with the trend t at x. */
static double predict(const struct placement_policy *pol, const struct pl_trend *t, double x) {
    return pol->overload_param * (t->mean + t->slope * (x - 5.5));
}

/* Far above the ~1e-15 (relative to these magnitudes) by which rounding
 * moves either computation of the prediction. */
static double rounding_allowance(const struct pl_state *st, double mag) {
    return 1e-9 * fabs(st->pol->overload_param) * (1 + st->lr_x_max) * mag;
}

/* LR predicts at x = 10 + the steps the host's largest VM needs to migrate
 * (max_migration_s): no later than with the largest VM of the round. */
void pl_trend_init(struct pl_state *st) {
    uint64_t mem = 0;
    for (size_t i = 0; i < st->snap->n_vms; i++)
        if (st->snap->vms[i].mem_mb > mem)
            mem = st->snap->vms[i].mem_mb;
    st->lr_x_max = LR_LEN + ceil((double)mem / st->pol->migration_mb_per_s / st->pol->interval_s);
}

/* lr_low: the prediction is linear in x, and x lies between the host's own
 * (its largest VM) and lr_x_max whatever VM is added, so the lower end of
 * that range bounds it. Known only when the 10th sample is positive: then
 * with any VM whose history is not negative LR applies, not the fallback. */
void pl_trend_update(struct pl_state *st, uint32_t h) {
    st->lr_low[h] = NAN;
    if (!trend_applies(st->pol))
        return;
    const double *hs = st->hist_sum + (size_t)h * PLACEMENT_HISTORY_MAX;
    struct pl_trend *t = &st->trend[h];
    *t = trend(hs, LR_LEN, 1);
    double own = LR_LEN + ceil(max_migration_s(st, h, -1) / st->pol->interval_s);
    double low = fmin(predict(st->pol, t, own), predict(st->pol, t, st->lr_x_max));
    if (hs[LR_LEN - 1] > 0 && isfinite(low))
        st->lr_low[h] = low - rounding_allowance(st, 1 + t->mag);
}

/* In MIPS: a host of M MIPS sees it divided by M (pl_host_history). */
struct pl_trend pl_trend_of_vm(const struct pl_state *st, uint32_t vm) {
    const struct placement_vm *v = &st->snap->vms[vm];
    return trend(v->history, v->history_len, v->mips);
}

double pl_trend_vm_low(const struct pl_state *st, uint32_t vm, const struct pl_trend *vt, double host_mips) {
    const struct placement_vm *v = &st->snap->vms[vm];
    if (!trend_applies(st->pol) || (v->history_len >= LR_LEN && !(v->history[LR_LEN - 1] >= 0)))
        return NAN;
    double own = LR_LEN + ceil((double)v->mem_mb / st->pol->migration_mb_per_s / st->pol->interval_s);
    double low = fmin(predict(st->pol, vt, own), predict(st->pol, vt, st->lr_x_max)) / host_mips;
    return low - rounding_allowance(st, vt->mag / host_mips);
}

bool pl_overloaded_with(const struct pl_state *st, uint32_t h, uint32_t vm, const struct pl_trend *vt) {
    const struct placement_policy *pol = st->pol;
    if (trend_applies(pol)) {
        const struct placement_vm *v = &st->snap->vms[vm];
        double host_mips = pl_host_mips(&st->snap->hosts[h]);
        /* A non-zero 10th sample means the history is long enough for LR
         * rather than the fallback threshold (pl_host_history's length). */
        double tenth = st->hist_sum[(size_t)h * PLACEMENT_HISTORY_MAX + LR_LEN - 1];
        if (v->history_len >= LR_LEN)
            tenth += v->history[LR_LEN - 1] * v->mips / host_mips;
        if (tenth != 0) {
            const struct pl_trend *ht = &st->trend[h];
            double x = LR_LEN + ceil(max_migration_s(st, h, (int)vm) / pol->interval_s);
            double p = predict(pol, ht, x) + predict(pol, vt, x) / host_mips;
            double slack = rounding_allowance(st, 1 + ht->mag + vt->mag / host_mips);
            if (p < 1 - slack)
                return false;
            if (p > 1 + slack)
                return true;
        }
    }
    struct pl_overload o;
    pl_overload_eval(st, h, (int)vm, &o);
    return o.over;
}
