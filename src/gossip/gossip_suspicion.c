/* Suspicion timers with Lifeguard's dynamic timeout (Dadgar et al. 2018,
 * section 4.2 "Dynamic Suspicion Timeouts"; memberlist suspicion.go).
 *
 * A suspicion starts at max = suspicion_max_timeout_mult * min and falls
 * toward min = suspicion_mult * log10(N) * probe_interval as k independent
 * confirmations arrive:
 *
 *     timeout(c) = max(min, max - (max - min) * log(c + 1) / log(k + 1))
 *
 * with k = suspicion_mult - 2, as memberlist chooses. A real failure is
 * confirmed by the other probers within a few periods and times out near
 * min; a false suspicion raised by one slow or lossy prober stays near max,
 * which leaves the suspect time to refute. */
#include <math.h>
#include <stdlib.h>

#include "gossip_internal.h"

double gossip_size_scale(size_t n) {
    return n > 10 ? log10((double)n) : 1.0;
}

static uint32_t min_timeout_ms(const struct gossip *g) {
    return (uint32_t)(g->cfg.suspicion_mult * gossip_size_scale(g->n_alive) *
                      g->cfg.probe_interval_ms);
}

static int64_t timeout_ms(const struct suspicion *s) {
    if (s->k == 0 || s->n >= s->k)
        return s->min_ms;
    double frac = log((double)s->n + 1.0) / log((double)s->k + 1.0);
    double t = (double)s->max_ms - frac * (double)(s->max_ms - s->min_ms);
    return t < s->min_ms ? s->min_ms : (int64_t)t;
}

int suspicion_start(struct gossip *g, uint32_t i, uint64_t from) {
    uint32_t k = g->cfg.suspicion_mult > 2 ? g->cfg.suspicion_mult - 2 : 0;
    struct suspicion *s = malloc(sizeof *s + (k + 1) * sizeof s->from[0]);
    if (!s)
        return -1;
    if (g->n_susp == g->cap_susp) {
        uint32_t cap = g->cap_susp ? g->cap_susp * 2 : 8;
        struct suspicion **a = realloc(g->susp, cap * sizeof *a);
        if (!a) {
            free(s);
            return -1;
        }
        g->susp = a;
        g->cap_susp = cap;
    }
    s->member = i;
    s->slot = g->n_susp;
    s->start_ms = g->now_ms;
    s->min_ms = min_timeout_ms(g);
    s->max_ms = s->min_ms * g->cfg.suspicion_max_timeout_mult;
    s->k = k;
    s->n = 0;
    s->from[0] = from;
    s->deadline_ms = s->start_ms + timeout_ms(s);
    g->susp[g->n_susp++] = s;
    g->m[i].aux = s;
    if (s->deadline_ms < g->susp_next_ms)
        g->susp_next_ms = s->deadline_ms;
    return 0;
}

bool suspicion_confirm(struct gossip *g, uint32_t i, uint64_t from) {
    struct suspicion *s = g->m[i].aux;
    if (!s || s->n >= s->k)
        return false;
    for (uint32_t c = 0; c <= s->n; c++)
        if (s->from[c] == from)
            return false;
    s->from[++s->n] = from;
    s->deadline_ms = s->start_ms + timeout_ms(s);
    if (s->deadline_ms < g->susp_next_ms)
        g->susp_next_ms = s->deadline_ms;
    return true;
}

/* The earliest deadline is asked after every input (the simulator asks it
 * of every node, with thousands of nodes in one process): kept, and found
 * again by a scan only when the suspicion holding it goes. */
static void next_deadline_rescan(struct gossip *g) {
    g->susp_next_ms = INT64_MAX;
    for (uint32_t j = 0; j < g->n_susp; j++)
        if (g->susp[j]->deadline_ms < g->susp_next_ms)
            g->susp_next_ms = g->susp[j]->deadline_ms;
}

void suspicion_drop(struct gossip *g, uint32_t i) {
    struct suspicion *s = g->m[i].aux;
    if (!s)
        return;
    struct suspicion *last = g->susp[--g->n_susp];
    g->susp[s->slot] = last;
    last->slot = s->slot;
    g->m[i].aux = NULL;
    bool earliest = s->deadline_ms <= g->susp_next_ms;
    free(s);
    if (earliest)
        next_deadline_rescan(g);
}

int suspicion_tick(struct gossip *g) {
    if (g->susp_next_ms > g->now_ms)
        return 0;
    for (uint32_t j = 0; j < g->n_susp;) {
        struct suspicion *s = g->susp[j];
        if (s->deadline_ms > g->now_ms) {
            j++;
            continue;
        }
        /* Declaring dead drops the suspicion, which moves the last one into
         * slot j: look at j again. */
        uint32_t i = s->member;
        if (member_set_state(g, i, GOSSIP_DEAD, g->m[i].incarnation) != 0 ||
            bcast_member(g, i, g->m[g->self].id) != 0)
            return -1;
    }
    return 0;
}

int64_t suspicion_next_deadline(const struct gossip *g) {
    return g->susp_next_ms;
}
