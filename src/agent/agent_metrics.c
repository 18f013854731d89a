/* GET /metrics: the Prometheus text format (version 0.0.4), every family
 * written by the file that owns its numbers. Names follow Prometheus's
 * conventions: the nodectl_ prefix, _total on counters, base units
 * (seconds, bytes, watts, ratios 0..1). */
#include <stdio.h>
#include <unistd.h>

#include "agent_internal.h"

int agent_rejects_each(const struct agent *a, agent_rejects_fn fn, void *ctx) {
    const struct cluster *c = &a->cluster;
    return fn(ctx, "gossip", gossip_rejects(c->gossip), gossip_reject_name) ||
           fn(ctx, "host record", &c->record_rejects, message_reject_name) ||
           fn(ctx, "command", &c->command_rejects, message_reject_name) ||
           (a->lead.election &&
            fn(ctx, "election", election_rejects(a->lead.election), election_reject_name)) ||
           fn(ctx, "control socket", control_server_rejects(a->ctl), control_reject_name) ||
           (a->http && fn(ctx, "http", http_server_rejects(a->http), http_reject_name))
               ? -1
               : 0;
}

/* The reasons counted at least once (the components name their reasons
 * in words, as `nodectl status` shows them). */
static int rejects_samples(void *ctx, const char *component, const struct rejects *r,
                           const char *(*name)(unsigned)) {
    struct metrics *m = ctx;
    for (unsigned i = 0; i < REJECT_REASONS_MAX; i++) {
        if (!r->n[i])
            continue;
        metrics_sample(m, "nodectl_rejected_total",
                       (const char *[]){"component", component, "reason", name(i), NULL},
                       (double)r->n[i]);
    }
    return 0;
}

/* Resident set size, from /proc/self/statm (proc(5)). */
static double rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size, resident;
    int n = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f)
        fclose(f);
    return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : 0;
}

char *agent_metrics_text(struct agent *a, size_t *len) {
    struct metrics m;
    metrics_init(&m);
    metrics_family(&m, "nodectl_build_info", "gauge", "The agent's version; always 1.");
    metrics_sample(&m, "nodectl_build_info",
                   (const char *[]){"version", NODECTL_VERSION, "node", a->cfg.node_name,
                                    "cluster", a->cfg.cluster_name, NULL},
                   1);
    cluster_metrics(a, &m);
    security_metrics(a, &m);
    metrics_family(&m, "nodectl_rejected_total", "counter",
                   "Input refused for being out of bounds, by component and reason.");
    agent_rejects_each(a, rejects_samples, &m);
    leadership_metrics(a, &m);
    agent_leader_metrics(a, &m);
    agent_history_metrics(a, &m);
    agent_host_metrics(a, &m);
    agent_loop_metrics(a, &m);
    agent_ha_metrics(a, &m);
    metrics_gauge(&m, "nodectl_process_resident_memory_bytes", "Resident memory of the agent.",
                  rss_bytes());
    if (m.failed) {
        metrics_free(&m);
        return NULL;
    }
    *len = m.len;
    return m.buf;
}
