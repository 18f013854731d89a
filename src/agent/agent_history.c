/* The cluster's hosts on, off and failed and its estimated power, as this
 * host's gossip shows them: now (for /metrics) and over the last hour (the
 * dashboard's graph), in a ring of HISTORY_POINTS. Every host computes it
 * from gossip, so any host's dashboard shows it, not only the leader's.
 * The power of a host that is on comes from the leader's power model
 * ([leader] power_idle_watts, power_max_watts) at its CPU %; a host off
 * counts as drawing nothing. */
#include <string.h>

#include "agent_internal.h"
#include "placement/placement.h"

void agent_history_init(struct agent *a) {
    memset(&a->history, 0, sizeof a->history);
    a->history.next_ms = agent_clock_ms();
}

struct history_point agent_history_now(struct agent *a) {
    struct placement_power_model model;
    placement_power_linear(&model, a->cfg.power_idle_watts, a->cfg.power_max_watts);
    struct history_point p = {.at_ms = agent_stamp_ms(a)};
    const struct gossip *g = a->cluster.gossip;
    for (size_t i = 0, n = gossip_member_count(g); i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (m.state == GOSSIP_LEFT)
            continue;
        if (m.state == GOSSIP_DEAD) {
            p.failed++;
            continue;
        }
        /* The others' records as agent_views.c decoded them, once per
         * version: a sample costs no decoding per member. */
        const char *name = NULL;
        double cpu = 0;
        Nodectl__HostRecord *self = NULL;
        if (m.id == a->cluster.self_id) {
            if ((self = agent_member_record(a, &m))) {
                name = self->name;
                cpu = self->usage ? self->usage->cpu_percent : 0;
            }
        } else {
            const struct member_view *mv = member_views_find(a, m.id);
            name = mv ? mv->name : NULL;
            cpu = mv ? mv->cpu_percent : 0;
        }
        if (m.state == GOSSIP_OFF) {
            if (name && agent_offcheck_disproved(a, name))
                p.failed++;
            else
                p.off++;
        } else {
            p.on++;
            p.watts += placement_power_watts(&model, cpu / 100);
        }
        if (self)
            protobuf_c_message_free_unpacked(&self->base, NULL);
    }
    return p;
}

void agent_history_run(struct agent *a, uint64_t now_ms) {
    struct history *h = &a->history;
    if (now_ms < h->next_ms)
        return;
    h->next_ms = now_ms + HISTORY_STEP_MS;
    h->ring[h->next] = agent_history_now(a);
    h->next = (h->next + 1) % HISTORY_POINTS;
    if (h->n < HISTORY_POINTS)
        h->n++;
}

uint64_t agent_history_deadline(const struct agent *a) { return a->history.next_ms; }

void agent_history_metrics(struct agent *a, struct metrics *m) {
    struct history_point p = agent_history_now(a);
    metrics_family(m, "nodectl_cluster_hosts", "gauge",
                   "Hosts by power as this host's gossip shows them: on (alive or suspect), off "
                   "(powered off by nodectl), failed (dead, or off but found running).");
    metrics_sample(m, "nodectl_cluster_hosts", (const char *[]){"power", "on", NULL}, p.on);
    metrics_sample(m, "nodectl_cluster_hosts", (const char *[]){"power", "off", NULL}, p.off);
    metrics_sample(m, "nodectl_cluster_hosts", (const char *[]){"power", "failed", NULL},
                   p.failed);
    metrics_gauge(m, "nodectl_cluster_power_watts",
                  "Estimated power of the hosts on, from the power model and their CPU use.",
                  p.watts);
}
