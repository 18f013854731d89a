/* Power models and the decision to power idle hosts off. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "placement/placement_internal.h"

void placement_power_linear(struct placement_power_model *m, double idle_w, double max_w) {
    for (int i = 0; i <= 10; i++)
        m->watts[i] = idle_w + (max_w - idle_w) * i / 10.0;
}

/* CloudSim PowerModelSpecPower.getPower, including its test for an exact
 * step (Java's double remainder is C's fmod). */
double placement_power_watts(const struct placement_power_model *m, double u) {
    if (u < 0)
        u = 0;
    if (u > 1)
        u = 1;
    double x = u * 10;
    /* x >= 0, so truncation is floor and ceil is one more unless x is whole
     * (no libm calls: this runs for every host a VM could go to). u % 0.1 ==
     * 0 implies u * 10 is whole, so fmod runs only for those few values. */
    int i1 = (int)x;
    int i2 = i1 + (x > (double)i1);
    if (i1 == i2 && fmod(u, 0.1) == 0)
        return m->watts[i1];
    double delta = (m->watts[i2] - m->watts[i1]) / 10;
    return m->watts[i1] + delta * (u - (double)i1 / 10) * 100;
}

struct idle_host {
    uint32_t h;
    double mips;
};

static int by_mips_desc(const void *a, const void *b) {
    const struct idle_host *x = a, *y = b;
    if (x->mips != y->mips)
        return x->mips < y->mips ? 1 : -1;
    return (x->h > y->h) - (x->h < y->h);
}

/* Idle powered-on hosts are powered off, except candidates (a leader must
 * stay reachable), hosts that cannot be powered off (KEEP_ON), drained hosts
 * (in maintenance, an operator's to handle, as VMware DPM leaves them), hosts woken less than host_wake_cooldown_s ago
 * (anti-thrash), hosts with migrations in flight, and the `spare_hosts`
 * largest idle hosts kept on for sudden load. */
int pl_power_off_idle(struct pl_state *st) {
    const struct placement_snapshot *snap = st->snap;
    const struct placement_policy *pol = st->pol;
    struct idle_host *el = malloc((snap->n_hosts ? snap->n_hosts : 1) * sizeof *el);
    if (!el)
        return -1;
    size_t n_el = 0, kept_anyway = 0;
    for (size_t i = 0; i < snap->n_hosts; i++) {
        const struct placement_host *hs = &snap->hosts[i];
        const struct pl_host *ph = &st->hosts[i];
        if (hs->power_state != PLACEMENT_HOST_ON || ph->n_vms != 0 || (hs->flags & PLACEMENT_HOST_FAILED))
            continue;
        if ((hs->flags & (PLACEMENT_HOST_CANDIDATE | PLACEMENT_HOST_KEEP_ON | PLACEMENT_HOST_DRAIN)) || hs->migrations_in_flight ||
            st->now - hs->powered_on_at < pol->host_wake_cooldown_s) {
            kept_anyway++;
            continue;
        }
        el[n_el++] = (struct idle_host){(uint32_t)i, pl_host_mips(hs)};
    }
    qsort(el, n_el, sizeof *el, by_mips_desc);
    size_t keep = pol->spare_hosts > kept_anyway ? pol->spare_hosts - kept_anyway : 0;
    int rc = 0;
    for (size_t k = keep; k < n_el && rc == 0; k++) {
        uint32_t h = el[k].h;
        char reason[PLACEMENT_REASON_MAX];
        snprintf(reason, sizeof reason, "host %u idle%s: powering off (%u spare host%s kept on)",
                 snap->hosts[h].id, st->hosts[h].evacuated ? " after evacuation" : "",
                 pol->spare_hosts, pol->spare_hosts == 1 ? "" : "s");
        int a = pl_emit(st, PLACEMENT_POWER_OFF, 0, h, h, reason);
        if (a < 0) {
            rc = -1;
            break;
        }
        /* Evacuate before powering off: depend on every move off this host. */
        for (size_t j = 0; j < (size_t)a && rc == 0; j++) {
            const struct placement_action *m = &st->plan->actions[j];
            if (m->kind == PLACEMENT_MIGRATE && m->from == h)
                rc = pl_depend(st, a, (int)j);
        }
    }
    free(el);
    return rc;
}
