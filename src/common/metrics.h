/* The Prometheus text exposition format (version 0.0.4), written into a
 * growing buffer: each family's # HELP and # TYPE lines, then its samples
 * together, as the format requires. Label values are escaped here. Pure:
 * the owners of the numbers call these to describe what they own. */
#ifndef NODECTL_METRICS_H
#define NODECTL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A page larger than this is cut and marked failed: metrics are bounded
 * like every output. */
#define METRICS_MAX (4u << 20)

struct metrics {
    char *buf;
    size_t len, cap;
    bool failed; /* out of memory or over METRICS_MAX */
};

void metrics_init(struct metrics *m);
void metrics_free(struct metrics *m);

/* type: "counter", "gauge" or "histogram". */
void metrics_family(struct metrics *m, const char *name, const char *type, const char *help);
/* labels: NULL, or { "key", "value", ..., NULL }. */
void metrics_sample(struct metrics *m, const char *name, const char *const *labels, double v);
/* A family of one sample without labels. */
void metrics_gauge(struct metrics *m, const char *name, const char *help, double v);
void metrics_counter(struct metrics *m, const char *name, const char *help, double v);

/* A histogram with fixed upper bounds (ascending, +Inf implied). */
#define METRICS_BUCKETS_MAX 16
struct metrics_histogram {
    const double *bounds;
    size_t n_bounds;
    uint64_t counts[METRICS_BUCKETS_MAX]; /* per bucket, not cumulative */
    uint64_t count;
    double sum;
};

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t n);
void metrics_observe(struct metrics_histogram *h, double v);
void metrics_histogram(struct metrics *m, const char *name, const char *help,
                       const struct metrics_histogram *h);

#endif
