/* The faults of `nodesim cluster`, drawn from the run's seed: one every
 * fault_every seconds on average (exponential gaps), of a kind among those
 * enabled, most often aimed where it hurts: the leader, a host with a
 * migration under way, an idle host the leader may power off.
 *
 * A pause is armed at a kind of step of the victim's loop (sim_cluster.h)
 * and taken the next time the loop reaches one: between the lease check and
 * a command's send, between planning and dispatch, between a grant's
 * decision and its send, between a target's last check and its action,
 * before the off command; or wherever the loop is (a stop now), which also
 * pauses a source in the middle of its migration. Pauses last from a
 * fraction of the lease to many leases. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "sim_cluster.h"

#define WARMUP_US 15000000
/* An armed pause not reached in this time is dropped. */
#define ARM_TTL_US 30000000

static int64_t span_us(struct sim_cluster *c, int64_t min_us, int64_t max_us) {
    return min_us + (int64_t)prng_below(&c->rng, (uint64_t)(max_us - min_us) + 1);
}

static int push_event(struct sim_cluster *c, int64_t t_us, uint32_t kind, uint32_t node) {
    struct sim_event ev = {.t_us = t_us, .kind = kind, .node = node};
    return sim_heap_push(&c->net.heap, &ev);
}

/* The lease holder now, or UINT32_MAX. */
static uint32_t leader(const struct sim_cluster *c) {
    for (uint32_t i = 0; i < c->o.candidates; i++) {
        uint64_t term;
        int64_t end;
        if (sim_agent_lease_end(c, i, &term, &end))
            return i;
    }
    return UINT32_MAX;
}

static uint32_t random_up(struct sim_cluster *c) {
    for (int t = 0; t < 64; t++) {
        uint32_t i = (uint32_t)prng_below(&c->rng, c->o.hosts);
        if (sim_agent_up(c, i))
            return i;
    }
    return UINT32_MAX;
}

/* A host whose migration runs, as source or destination. */
static uint32_t migrating(struct sim_cluster *c) {
    size_t n = c->hv.n_mig;
    for (size_t k = 0; k < n; k++) {
        const struct sim_migration *m = &c->hv.mig[n - 1 - k];
        if (m->active)
            return prng_below(&c->rng, 2) ? m->src : m->dst;
    }
    return UINT32_MAX;
}

/* An idle host that may be powered off: none of its VMs left. */
static uint32_t idle(struct sim_cluster *c) {
    uint32_t start = (uint32_t)prng_below(&c->rng, c->o.hosts);
    for (uint32_t k = 0; k < c->o.hosts; k++) {
        uint32_t i = (start + k) % c->o.hosts;
        if (i >= c->o.candidates && c->hv.h[i].power == SIM_POWER_ON && !c->hv.h[i].n_doms)
            return i;
    }
    return UINT32_MAX;
}

static uint32_t victim(struct sim_cluster *c) {
    uint32_t v = UINT32_MAX;
    switch (prng_below(&c->rng, 5)) {
    case 0:
    case 1: v = leader(c); break;
    case 2: v = migrating(c); break;
    case 3: v = idle(c); break;
    }
    return v != UINT32_MAX && sim_agent_up(c, v) ? v : random_up(c);
}

static int crash(struct sim_cluster *c) {
    uint32_t v = victim(c);
    int64_t down = span_us(c, 500000, 20000000);
    /* The preferred candidate down for long: the others must lead without
     * trading leadership back and forth. */
    if (c->o.priority && sim_agent_up(c, 0) && prng_below(&c->rng, 3) == 0) {
        v = 0;
        down = span_us(c, 60000000, 180000000);
    }
    if (v == UINT32_MAX)
        return 0;
    sim_trace(c, "fault: %s crashes for %.1f s", sim_agent_name(c, v), (double)down / 1e6);
    sim_agent_stop(c, v);
    c->crashes++;
    return push_event(c, c->now_us + down, EV_RESTART, v);
}

static int partition(struct sim_cluster *c, int64_t len, bool isolate) {
    uint32_t v = victim(c);
    if (v == UINT32_MAX)
        v = 0;
    unsigned how = isolate ? 1 : (unsigned)prng_below(&c->rng, 4);
    c->partitions++;
    if (how == 0) {
        for (uint32_t i = 0; i < c->o.hosts; i++)
            c->net.side[i] = (uint8_t)prng_below(&c->rng, 2);
        c->net.side[v] = 1;
        sim_trace(c, "fault: partition in two sides for %.1f s", (double)len / 1e6);
        return 0;
    }
    /* Cut off one host: both ways, only what it sends, or only what it
     * receives. */
    for (uint32_t j = 0; j < c->o.hosts; j++) {
        if (j == v)
            continue;
        if ((how == 1 || how == 2) && sim_net_set_cut(&c->net, v, j, true) != 0)
            return -1;
        if ((how == 1 || how == 3) && sim_net_set_cut(&c->net, j, v, true) != 0)
            return -1;
    }
    sim_trace(c, "fault: %s cut off (%s) for %.1f s", sim_agent_name(c, v),
              how == 1   ? "both ways"
              : how == 2 ? "outgoing"
                         : "incoming",
              (double)len / 1e6);
    return 0;
}

static const enum sim_step_kind pause_points[] = {
    STEP_SEND,       /* between the lease check and the send */
    STEP_LEAD,       /* between planning and dispatch, and before a round */
    STEP_GRANT_SEND, /* between a grant's decision and its send */
    STEP_ACT,        /* between a target's last check and its action */
    STEP_OFF,        /* between the last look at libvirt and the off command */
    STEP_GRANT,      STEP_ACT_CHECK, STEP_RECEIVE, STEP_PLAN_DONE,
};
#define N_POINTS (sizeof pause_points / sizeof pause_points[0])

static int pause(struct sim_cluster *c) {
    uint32_t v = victim(c);
    if (v == UINT32_MAX)
        return 0;
    /* Mostly around a lease (0.1-2 s), sometimes many of them. */
    int64_t len =
        prng_below(&c->rng, 4) ? span_us(c, 100000, 2000000) : span_us(c, 2000000, 20000000);
    unsigned where = (unsigned)prng_below(&c->rng, N_POINTS + 3);
    if (where == N_POINTS) {
        /* Not a pause: the planner's thread takes that long on the victim's
         * next plan, while its loop goes on (a 10,000-host round takes
         * seconds, docs/placement.md). */
        c->slow_plan_host = v;
        c->slow_plan_us = len;
        sim_trace(c, "fault: %s's next plan takes %.3f s", sim_agent_name(c, v), (double)len / 1e6);
        return 0;
    }
    if (where > N_POINTS)
        return sim_agent_pause(c, v, len); /* wherever it is now */
    if (c->n_arms == SIM_ARMS_MAX)
        return 0;
    c->arms[c->n_arms++] = (struct sim_arm){
        .host = v, .kind = pause_points[where], .us = len, .until_us = c->now_us + ARM_TTL_US};
    sim_trace(c, "fault: %s will pause %.3f s before its next %s", sim_agent_name(c, v),
              (double)len / 1e6, sim_step_name(pause_points[where]));
    return 0;
}

bool sim_faults_pause_at(struct sim_cluster *c, uint32_t i, enum sim_step_kind k, int64_t *us) {
    for (uint32_t a = 0; a < c->n_arms; a++) {
        struct sim_arm *x = &c->arms[a];
        if (c->now_us > x->until_us) {
            c->arms[a--] = c->arms[--c->n_arms];
            continue;
        }
        if (x->host != i || x->kind != k)
            continue;
        *us = x->us;
        c->arms[a] = c->arms[--c->n_arms];
        if (c->last_fault_us < c->now_us + *us)
            c->last_fault_us = c->now_us + *us;
        return true;
    }
    return false;
}

static void skew(struct sim_cluster *c) {
    uint32_t v = (uint32_t)prng_below(&c->rng, c->o.hosts);
    if (prng_below(&c->rng, 2)) {
        int64_t jump = span_us(c, 1000, 7200000) * (prng_below(&c->rng, 2) ? 1 : -1);
        sim_agent_jump_wall(c, v, jump);
        sim_trace(c, "fault: %s's wall clock jumps %+.1f s", sim_agent_name(c, v),
                  (double)jump / 1e3);
    } else {
        int64_t ppm = sim_clock_random_rate(&c->rng, SIM_DRIFT_PPM);
        sim_agent_set_rate(c, v, ppm);
        sim_check_lease(c, v);
        sim_trace(c, "fault: %s's clock runs at %.4f", sim_agent_name(c, v),
                  (double)ppm / SIM_CLOCK_PPM);
    }
}

/* Outside nodectl: a VM stopped, or started by hand on host `on`
 * (UINT32_MAX: often an idle host, which the leader may be about to power
 * off). */
static int operator(struct sim_cluster *c, uint32_t on) {
    if (on == UINT32_MAX && c->o.hosts > c->o.candidates && prng_below(&c->rng, 4) == 0) {
        /* nodectl drain (or undrain) of a host that may be powered off,
         * typed on any host. */
        uint32_t at = random_up(c);
        uint32_t x = c->o.candidates + (uint32_t)prng_below(&c->rng, c->o.hosts - c->o.candidates);
        return at == UINT32_MAX ? 0 : sim_agent_operator_drain(c, at, x, prng_below(&c->rng, 3));
    }
    uint32_t vm = (uint32_t)prng_below(&c->rng, c->hv.n_vms);
    /* A stopped VM to start, if any. */
    for (uint32_t k = 0; k < c->hv.n_vms && !c->hv.vm[vm].stopped; k++)
        if (c->hv.vm[(vm + k) % c->hv.n_vms].stopped)
            vm = (vm + k) % c->hv.n_vms;
    if (!c->hv.vm[vm].stopped || (on == UINT32_MAX && prng_below(&c->rng, 3) == 0)) {
        vm = (uint32_t)prng_below(&c->rng, c->hv.n_vms);
        if (!c->hv.vm[vm].stopped && sim_hv_operator_stop(&c->hv, vm))
            sim_trace(c, "operator: stops %s", c->hv.vm[vm].name);
        return 0;
    }
    uint32_t h = on != UINT32_MAX ? on : prng_below(&c->rng, 2) ? idle(c) : UINT32_MAX;
    if (h == UINT32_MAX)
        h = (uint32_t)prng_below(&c->rng, c->o.hosts);
    if (sim_hv_operator_start(&c->hv, vm, h))
        sim_trace(c, "operator: starts %s on %s", c->hv.vm[vm].name, sim_agent_name(c, h));
    return 0;
}

int sim_faults_operator(struct sim_cluster *c, uint32_t host) {
    c->last_fault_us = c->now_us;
    return operator(c, host);
}

int sim_faults_power_off_sent(struct sim_cluster *c, uint32_t host) {
    /* Just as the leader powers a host off, someone starts a guest on it
     * by hand, once in a while. */
    if (!(c->o.faults & SIM_F_OPERATOR) || host >= c->o.hosts || prng_below(&c->rng, 3))
        return 0;
    return push_event(c, c->now_us + span_us(c, 0, 1500000), EV_OPERATOR, host);
}

/* libvirtd stops on a host, often one with a migration under way (the
 * rig's chaos test stops the destination's mid-migration). */
static int libvirtd(struct sim_cluster *c) {
    uint32_t v = migrating(c);
    if (v == UINT32_MAX)
        v = (uint32_t)prng_below(&c->rng, c->o.hosts);
    if (c->hv.h[v].power != SIM_POWER_ON || c->hv.h[v].libvirtd_down)
        return 0;
    int64_t len = span_us(c, 2000000, 30000000);
    sim_hv_libvirtd(&c->hv, c->now_us, v, false);
    sim_trace(c, "fault: libvirtd stops on %s for %.1f s", sim_agent_name(c, v), (double)len / 1e6);
    return push_event(c, c->now_us + len, EV_LIBVIRTD, v);
}

static int network(struct sim_cluster *c, unsigned kind) {
    if (c->heal_us)
        return 0; /* one network fault at a time */
    int64_t len = span_us(c, 1000000, 20000000);
    /* --ha: half the partitions cut one host off both ways for longer than
     * its run lease (40-100 s): it must fence itself before its VMs are
     * restarted elsewhere. */
    bool isolate = c->o.ha && kind == SIM_F_PARTITION && prng_below(&c->rng, 2);
    if (isolate)
        len = span_us(c, 40000000, 100000000);
    c->heal_us = c->now_us + len;
    c->network_fault = kind;
    if (kind == SIM_F_PARTITION) {
        if (partition(c, len, isolate) != 0)
            return -1;
    } else if (kind == SIM_F_LOSS) {
        c->net.loss = 0.05 + 0.35 * prng_unit(&c->rng);
        sim_trace(c, "fault: %.0f %% loss for %.1f s", 100 * c->net.loss, (double)len / 1e6);
    } else if (kind == SIM_F_DELAY) {
        c->net.spike = 0.05 + 0.25 * prng_unit(&c->rng);
        c->net.spike_us = span_us(c, 200000, 3000000);
        c->net.dup = 0.2 * prng_unit(&c->rng);
        sim_trace(c, "fault: delays up to %.1f s (%.0f %%), %.0f %% duplicated, for %.1f s",
                  (double)c->net.spike_us / 1e6, 100 * c->net.spike, 100 * c->net.dup,
                  (double)len / 1e6);
    } else {
        c->net.misdeliver = 0.02 + 0.1 * prng_unit(&c->rng);
        uint32_t n = 5 + (uint32_t)prng_below(&c->rng, 50);
        sim_trace(c, "fault: %u messages replayed, %.0f %% misdelivered for %.1f s", n,
                  100 * c->net.misdeliver, (double)len / 1e6);
        if (sim_net_replay(&c->net, c->now_us, n) != 0)
            return -1;
    }
    return push_event(c, c->heal_us, EV_HEAL, 0);
}

int sim_faults_heal(struct sim_cluster *c) {
    if (!c->heal_us || c->now_us < c->heal_us)
        return 0;
    for (uint32_t i = 0; i < c->o.hosts; i++)
        c->net.side[i] = 0;
    sim_net_heal_cuts(&c->net);
    c->net.loss = c->net.spike = c->net.dup = c->net.misdeliver = 0;
    c->heal_us = 0;
    c->last_fault_us = c->now_us;
    sim_trace(c, "fault: the network heals");
    return sim_net_release(&c->net, c->now_us, UINT32_MAX);
}

/* --ha: a host loses its power, most often one running protected VMs or
 * the leader; it comes back 20-90 s later, then boots. */
static int power_loss(struct sim_cluster *c) {
    uint32_t v = UINT32_MAX;
    if (prng_below(&c->rng, 3) == 0)
        v = leader(c);
    uint32_t start = (uint32_t)prng_below(&c->rng, c->o.hosts);
    for (uint32_t k = 0; k < c->o.hosts && v == UINT32_MAX; k++)
        if (sim_hv_protected_active(&c->hv, (start + k) % c->o.hosts))
            v = (start + k) % c->o.hosts;
    if (v == UINT32_MAX || c->hv.h[v].power != SIM_POWER_ON)
        return 0;
    int64_t back = span_us(c, 20000000, 90000000);
    sim_trace(c, "fault: %s loses its power for %.1f s", sim_agent_name(c, v), (double)back / 1e6);
    c->power_losses++;
    sim_hv_power_loss(&c->hv, c->now_us, v);
    return sim_ha_power_lost(c, v, back);
}

int sim_faults_restart_sent(struct sim_cluster *c, uint32_t leader_i) {
    /* Now and then the leader is killed within 2 s of sending restarts. */
    if (!(c->o.faults & SIM_F_CRASH) || c->now_us >= c->ha_quiet_us || prng_below(&c->rng, 4))
        return 0;
    return push_event(c, c->now_us + span_us(c, 0, 2000000), EV_KILL, leader_i);
}

int sim_faults_kill(struct sim_cluster *c, uint32_t i) {
    if (!sim_agent_up(c, i))
        return 0;
    int64_t down = span_us(c, 500000, 20000000);
    sim_trace(c, "fault: %s is killed during its restarts, for %.1f s", sim_agent_name(c, i),
              (double)down / 1e6);
    sim_agent_stop(c, i);
    c->crashes++;
    c->leader_kills_in_restart++;
    c->last_fault_us = c->now_us;
    return push_event(c, c->now_us + down, EV_RESTART, i);
}

int sim_faults_next(struct sim_cluster *c) {
    if (!c->o.faults)
        return 0;
    /* --ha: quiet at the end, for every host to come back and every
     * protected VM to run again. */
    if (c->o.ha && c->now_us >= c->ha_quiet_us)
        return 0;
    double mean = c->o.fault_every_s * 1e6;
    int64_t gap = (int64_t)(-log(1.0 - prng_unit(&c->rng)) * mean);
    int64_t next = (c->now_us < WARMUP_US ? WARMUP_US : c->now_us) + gap;
    if (c->now_us >= WARMUP_US) {
        unsigned kinds[16], n = 0;
        for (unsigned f = 1; f <= SIM_F_POWER; f <<= 1)
            if (c->o.faults & f)
                kinds[n++] = f;
        unsigned f = kinds[prng_below(&c->rng, n)];
        c->last_fault_us = c->now_us;
        c->faults++;
        int rc = 0;
        switch (f) {
        case SIM_F_CRASH: rc = crash(c); break;
        case SIM_F_PAUSE: rc = pause(c); break;
        case SIM_F_SKEW: skew(c); break;
        case SIM_F_OPERATOR: rc = operator(c, UINT32_MAX); break;
        case SIM_F_LIBVIRT: rc = libvirtd(c); break;
        case SIM_F_POWER: rc = power_loss(c); break;
        default: rc = network(c, f); break;
        }
        if (rc != 0)
            return -1;
    }
    return next < c->end_us ? push_event(c, next, EV_FAULT, 0) : 0;
}
