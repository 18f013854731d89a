#include "metrics.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metrics_init(struct metrics *m) { *m = (struct metrics){0}; }

void metrics_free(struct metrics *m) {
    free(m->buf);
    *m = (struct metrics){0};
}

static void append(struct metrics *m, const char *s, size_t n) {
    if (m->failed)
        return;
    if (m->len + n + 1 > METRICS_MAX) {
        m->failed = true;
        return;
    }
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n + 1)
            cap *= 2;
        char *grown = realloc(m->buf, cap);
        if (!grown) {
            m->failed = true;
            return;
        }
        m->buf = grown;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, s, n);
    m->len += n;
    m->buf[m->len] = '\0';
}

static void appendf(struct metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(struct metrics *m, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof line); /* names and numbers only */
    append(m, line, (size_t)n);
}

void metrics_family(struct metrics *m, const char *name, const char *type, const char *help) {
    appendf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The format's escapes for label values: backslash, double quote, line
 * feed. */
static void append_escaped(struct metrics *m, const char *s) {
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            append(m, "\\\\", 2);
        else if (*p == '"')
            append(m, "\\\"", 2);
        else if (*p == '\n')
            append(m, "\\n", 2);
        else
            append(m, p, 1);
    }
}

/* The shortest of %.15g and %.17g that reads back as v: 0.005, not
 * 0.0050000000000000001. */
static void format_double(double v, char *out, size_t len) {
    snprintf(out, len, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, len, "%.17g", v);
}

static void append_value(struct metrics *m, double v) {
    char text[32];
    if (isnan(v))
        append(m, " NaN\n", 5);
    else if (isinf(v))
        appendf(m, " %sInf\n", v > 0 ? "+" : "-");
    else {
        format_double(v, text, sizeof text);
        appendf(m, " %s\n", text);
    }
}

static void append_labels(struct metrics *m, const char *const *labels, const char *le) {
    bool any = (labels && labels[0]) || le;
    if (!any)
        return;
    append(m, "{", 1);
    bool first = true;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        assert(labels[i + 1]);
        appendf(m, "%s%s=\"", first ? "" : ",", labels[i]);
        append_escaped(m, labels[i + 1]);
        append(m, "\"", 1);
        first = false;
    }
    if (le)
        appendf(m, "%sle=\"%s\"", first ? "" : ",", le);
    append(m, "}", 1);
}

void metrics_sample(struct metrics *m, const char *name, const char *const *labels, double v) {
    append(m, name, strlen(name));
    append_labels(m, labels, NULL);
    append_value(m, v);
}

void metrics_gauge(struct metrics *m, const char *name, const char *help, double v) {
    metrics_family(m, name, "gauge", help);
    metrics_sample(m, name, NULL, v);
}

void metrics_counter(struct metrics *m, const char *name, const char *help, double v) {
    metrics_family(m, name, "counter", help);
    metrics_sample(m, name, NULL, v);
}

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t n) {
    assert(n <= METRICS_BUCKETS_MAX);
    *h = (struct metrics_histogram){.bounds = bounds, .n_bounds = n};
}

void metrics_observe(struct metrics_histogram *h, double v) {
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    if (i < h->n_bounds)
        h->counts[i]++;
    h->count++;
    h->sum += v;
}

void metrics_histogram(struct metrics *m, const char *name, const char *help,
                       const struct metrics_histogram *h) {
    metrics_family(m, name, "histogram", help);
    char bucket[128], le[32];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h->n_bounds; i++) {
        cumulative += h->counts[i];
        format_double(h->bounds[i], le, sizeof le);
        append(m, bucket, strlen(bucket));
        append_labels(m, NULL, le);
        append_value(m, (double)cumulative);
    }
    append(m, bucket, strlen(bucket));
    append_labels(m, NULL, "+Inf");
    append_value(m, (double)h->count);
    appendf(m, "%s_sum", name);
    append_value(m, h->sum);
    appendf(m, "%s_count", name);
    append_value(m, (double)h->count);
}
