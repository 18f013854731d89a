/* The invariants of `nodesim cluster` that are not the hypervisors' own
 * (those are counted by sim_hv.c on the domain tables):
 *
 * - at most one leader holds a lease at any instant of real time. A lease
 *   runs, in real time, until its holder's clock reaches lease_until,
 *   whatever the holder does meanwhile (paused, crashed): that is the
 *   promise the election makes (election_lease.c), so a new lease that
 *   begins before another one's end is an overlap. Only a leader that gives
 *   its lease up while it runs (a transfer) ends it early.
 *
 * - no command of term T takes effect after a leader of a term > T has
 *   acted on the same host or VM (docs/safety.md, "What takes effect
 *   when"). A leader acts when it sends a command or a grant, and when its
 *   command takes effect; each is about a host, maybe a second host (a
 *   migration's destination) and a VM. An effect whose term is below the
 *   highest that acted on any of them is stale. The one case no protocol
 *   can exclude, a target paused between its last check and the action
 *   (docs/safety.md), is counted apart: the guards at the resource must
 *   make it harmless, which the hypervisors' invariants check.
 *
 * - liveness: leadership does not churn while nothing fails. Three or more
 *   new leaders within CHURN_WINDOW, none of them within QUIET_AFTER of a
 *   fault's start or end, is a violation: with the network whole and every
 *   host either up or plainly down, one leader should stay (a candidate
 *   that comes back with a higher priority takes over once). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cluster.h"

#define CHURN_WINDOW_US 10000000
#define CHURN_LEADERS 3
#define QUIET_AFTER_US 5000000

int sim_check_init(struct sim_cluster *c) {
    c->lease_end_us = calloc(c->o.hosts, sizeof *c->lease_end_us);
    c->lease_term = calloc(c->o.hosts, sizeof *c->lease_term);
    c->lease_life = calloc(c->o.hosts, sizeof *c->lease_life);
    c->acted_host = calloc(c->o.hosts, sizeof *c->acted_host);
    c->acted_vm = calloc(c->o.vms ? c->o.vms : 1, sizeof *c->acted_vm);
    return c->lease_end_us && c->lease_term && c->lease_life && c->acted_host && c->acted_vm ? 0
                                                                                             : -1;
}

void sim_check_free(struct sim_cluster *c) {
    free(c->lease_end_us);
    free(c->lease_term);
    free(c->lease_life);
    free(c->acted_host);
    free(c->acted_vm);
}

void sim_violation(struct sim_cluster *c, const char *fmt, ...) {
    char text[SIM_TRACE_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (!c->first_violation[0]) {
        snprintf(c->first_violation, sizeof c->first_violation, "%.3f s: %s",
                 (double)c->now_us / 1e6, text);
        sim_trace_keep(c, text);
    }
    sim_trace(c, "VIOLATION: %s", text);
}

void sim_check_lease(struct sim_cluster *c, uint32_t i) {
    uint64_t term;
    int64_t end;
    uint32_t life = sim_agent_life(c, i);
    if (!sim_agent_lease_end(c, i, &term, &end)) {
        /* Given up while it ran (a transfer, or stepping down): only the
         * same life of the agent can give it up; a crashed one's promise
         * holds until its end. */
        if (c->lease_end_us[i] > c->now_us && c->lease_life[i] == life)
            c->lease_end_us[i] = c->now_us;
        return;
    }
    /* Checked when a lease begins: one that is only extended was checked. */
    bool begins =
        c->lease_term[i] != term || c->lease_life[i] != life || c->lease_end_us[i] <= c->now_us;
    for (uint32_t j = 0; begins && j < c->o.candidates; j++) {
        if (j == i || c->lease_end_us[j] <= c->now_us)
            continue;
        c->lease_overlaps++;
        sim_violation(c,
                      "%s holds a lease of term %" PRIu64 " while %s's of term %" PRIu64
                      " runs %.3f s more",
                      sim_agent_name(c, i), term, sim_agent_name(c, j), c->lease_term[j],
                      (double)(c->lease_end_us[j] - c->now_us) / 1e6);
    }
    c->lease_end_us[i] = end;
    c->lease_term[i] = term;
    c->lease_life[i] = life;
}

void sim_check_leader(struct sim_cluster *c, uint32_t i, uint64_t term) {
    if (term <= c->max_leader_term)
        return;
    c->max_leader_term = term;
    c->elections++;
    sim_trace(c, "%s leads in term %" PRIu64, sim_agent_name(c, i), term);
    if (c->heal_us || c->now_us < c->last_fault_us + QUIET_AFTER_US) {
        c->n_quiet = 0;
        return;
    }
    /* A window of the last CHURN_LEADERS quiet elections. */
    if (c->n_quiet == CHURN_LEADERS) {
        memmove(c->quiet_us, c->quiet_us + 1, (CHURN_LEADERS - 1) * sizeof c->quiet_us[0]);
        c->n_quiet--;
    }
    c->quiet_us[c->n_quiet++] = c->now_us;
    if (c->n_quiet == CHURN_LEADERS && c->now_us - c->quiet_us[0] <= CHURN_WINDOW_US) {
        c->churn++;
        sim_violation(c, "%d leaders in %.1f s with nothing failing (term %" PRIu64 ")",
                      CHURN_LEADERS, (double)(c->now_us - c->quiet_us[0]) / 1e6, term);
        c->n_quiet = 0;
    }
}

static uint64_t acted(const struct sim_cluster *c, uint32_t host, uint32_t host2, uint32_t vm) {
    uint64_t t = 0;
    if (host < c->o.hosts && c->acted_host[host] > t)
        t = c->acted_host[host];
    if (host2 < c->o.hosts && c->acted_host[host2] > t)
        t = c->acted_host[host2];
    if (vm < c->o.vms && c->acted_vm[vm] > t)
        t = c->acted_vm[vm];
    return t;
}

void sim_check_acted(struct sim_cluster *c, uint64_t term, uint32_t host, uint32_t host2,
                     uint32_t vm) {
    if (host < c->o.hosts && c->acted_host[host] < term)
        c->acted_host[host] = term;
    if (host2 < c->o.hosts && c->acted_host[host2] < term)
        c->acted_host[host2] = term;
    if (vm < c->o.vms && c->acted_vm[vm] < term)
        c->acted_vm[vm] = term;
}

void sim_check_effect(struct sim_cluster *c, const char *what, uint64_t term, uint32_t host,
                      uint32_t host2, uint32_t vm, bool paused) {
    uint64_t newer = acted(c, host, host2, vm);
    sim_trace(c, "effect: %s (term %" PRIu64 ")%s", what, term,
              paused ? " after a pause of the target" : "");
    if (newer > term) {
        if (paused) {
            c->stale_target_paused++;
            sim_trace(c,
                      "stale after the target's pause: %s of term %" PRIu64 " after term %" PRIu64
                      " acted",
                      what, term, newer);
        } else {
            c->stale_effects++;
            sim_violation(c, "%s of term %" PRIu64 " took effect after term %" PRIu64 " acted",
                          what, term, newer);
        }
    }
    sim_check_acted(c, term, host, host2, vm);
}
