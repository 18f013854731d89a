/* Failure detection: SWIM's probe (Das et al. 2002, sections 3.1 and 4.3)
 * with Lifeguard's local health (Dadgar et al. 2018, section 4.1).
 *
 * Every probe interval the next member in a shuffled round-robin order is
 * pinged; without an ack within the probe timeout, k members are asked to
 * ping it for us (ping-req); without any ack by the end of the interval it
 * is suspected. Round-robin over a shuffled list bounds the time until a
 * failed member is probed by each node (SWIM section 4.3) where uniform
 * random choice only bounds the expectation.
 *
 * Local health: a node that misses acks and nacks is more likely slow
 * itself than surrounded by failures, so its score rises, and its probe
 * interval and timeout are multiplied by score + 1; a successful probe
 * lowers it. Relays answer a ping-req they could not complete with a nack,
 * so the requester can tell "target down" from "my own network is bad".
 *
 * An ack counts only from the member probed or a relay asked, a nack only
 * from a relay asked, and a relay passes on only the target's ack (the
 * senders are authenticated, gossip_receive): no other member can keep a
 * dead one alive or make a live one look slow. A relay asked can still lie
 * about its target; SWIM trusts the members it asks. */
#include <math.h>

#include "gossip_internal.h"

uint32_t scaled_ms(const struct gossip *g, uint32_t ms) {
    return ms * (g->awareness + 1);
}

/* SWIM (section 3.1) sets the ping timeout from an estimate of the
 * round-trip time and makes the protocol period at least three times that
 * estimate. The configured timeout and interval, widened by local health,
 * stay the floor, so on a quiet network (round trips of a few
 * milliseconds) detection is as fast as configured. When every member's
 * loop runs late at once (a whole cluster starting on busy machines, the
 * burst of work after a leader fails) round trips grow to hundreds of
 * milliseconds within a second, before our own lateness has raised local
 * health, and a fixed window would turn healthy members into suspects
 * whose refutations load the loops further.
 *
 * The estimate is a peak that decays with time, as Finagle's Peak EWMA
 * load balancer keeps latency: a longer round trip is taken at once, and
 * the peak falls by e every RTT_DECAY_MS after it. An average over samples
 * (TCP's SRTT + 4 RTTVAR, RFC 6298) would both lag the rise and, with a
 * sample only every protocol period, hold a storm's estimate for tens of
 * seconds after it passed. It is capped where local health at its worst
 * puts the timeout, so a failure is still found within a bounded time. */
#define RTT_DECAY_MS 2000.0

static double rtt_cap(const struct gossip *g) {
    return (double)g->cfg.probe_timeout_ms * g->cfg.awareness_max_multiplier;
}

/* Until the first ack has come back the estimate is its cap, as TCP holds
 * its retransmission timeout at a conservative 1 s until a round trip has
 * been measured (RFC 6298, section 2.1); the cap then decays as any peak
 * does. A member that starts with the whole cluster (power restored) meets
 * the busiest loops in its first seconds: probed with the configured
 * timeout, members that answer late would be suspected while they join, and
 * each suspicion holds up the join everywhere until its refutation has gone
 * round. */
static double rtt_peak_now(const struct gossip *g) {
    if (!g->rtt_measured)
        return rtt_cap(g);
    double age = (double)(g->now_ms - g->rtt_peak_at_ms);
    return g->rtt_peak_ms * exp(-(age > 0 ? age : 0) / RTT_DECAY_MS);
}

static uint32_t rto_ms(const struct gossip *g) {
    double rto = rtt_peak_now(g), cap = rtt_cap(g);
    return (uint32_t)(rto < cap ? rto : cap);
}

uint32_t probe_wait_ms(const struct gossip *g) {
    uint32_t floor = scaled_ms(g, g->cfg.probe_timeout_ms), rto = rto_ms(g);
    return rto > floor ? rto : floor;
}

static uint32_t probe_period_ms(const struct gossip *g) {
    uint32_t floor = scaled_ms(g, g->cfg.probe_interval_ms), rto3 = 3 * rto_ms(g);
    return rto3 > floor ? rto3 : floor;
}

/* A relay nacks after the configured timeout, not one widened by its own
 * local health (the requester judges its health by these nacks, as
 * memberlist's relays do), but waits out the round trips it has seen. */
static uint32_t relay_wait_ms(const struct gossip *g) {
    uint32_t rto = rto_ms(g);
    return rto > g->cfg.probe_timeout_ms ? rto : g->cfg.probe_timeout_ms;
}

static void rtt_sample(struct gossip *g, int64_t rtt) {
    if (!g->rtt_measured) {
        g->rtt_peak_ms = rtt_cap(g);
        g->rtt_peak_at_ms = g->now_ms;
        g->rtt_measured = true;
    }
    if ((double)rtt >= rtt_peak_now(g)) {
        g->rtt_peak_ms = (double)rtt;
        g->rtt_peak_at_ms = g->now_ms;
    }
}

void awareness_add(struct gossip *g, int delta) {
    int v = (int)g->awareness + delta;
    int max = (int)g->cfg.awareness_max_multiplier - 1;
    g->awareness = (uint32_t)(v < 0 ? 0 : v > max ? max : v);
}

/* A tick late by more than this part of the probe timeout says our own
 * loop is slow. */
#define LATE_SLACK_DIV 2

/* Lifeguard (section IV-A) raises the local health score when this node
 * shows signs of its own slowness, so that it probes less often and waits
 * longer before it suspects anyone. A loop that runs late is the most
 * direct sign: a busy host, a paused process or a saturated machine holds
 * the agent's timers back, and acks that arrived in time are read late.
 * Such a tick counts against our health once per probe interval (as a
 * failed probe does), and neither the probe in flight nor the relays we
 * serve are judged on the time we were not running: each gets back the
 * window it would have had. Without this, every late
 * loop would turn healthy members into suspects, whose refutations and
 * rebroadcasts load the loops further: the feedback of a metastable
 * failure. */
void loop_late(struct gossip *g, int64_t late_ms) {
    if (late_ms <= (int64_t)(g->cfg.probe_timeout_ms / LATE_SLACK_DIV)) {
        g->late_ms = 0;
        return;
    }
    g->late_ms = late_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)late_ms;
    if (g->now_ms >= g->late_counted_ms + (int64_t)g->cfg.probe_interval_ms) {
        awareness_add(g, 1);
        g->late_counted_ms = g->now_ms;
    }
    int64_t window = g->now_ms + probe_wait_ms(g);
    struct probe *pr = &g->probe;
    if (pr->active && !pr->acked) {
        int64_t end = window;
        if (!pr->indirect_sent) {
            if (pr->timeout_ms < window)
                pr->timeout_ms = window;
            /* and the indirect round its time after that */
            end = pr->timeout_ms + (probe_period_ms(g) - probe_wait_ms(g));
        }
        if (g->next_probe_ms < end)
            g->next_probe_ms = end;
    }
    for (uint32_t r = 0; r < g->n_relays; r++)
        if (g->relays[r].deadline_ms < window)
            g->relays[r].deadline_ms = window;
}

/* SWIM section 4.3: a new member goes to a random place among those not
 * yet probed in this round. */
void order_insert(struct gossip *g, uint32_t i) {
    uint32_t last = g->n - 1;
    g->order[last] = i;
    uint32_t span = last - g->order_pos + 1;
    uint32_t j = g->order_pos + (uint32_t)prng_below(&g->rng, span);
    g->order[last] = g->order[j];
    g->order[j] = i;
}

void probe_renumber(struct gossip *g, uint32_t removed, uint32_t moved) {
    uint32_t last = g->n - 1, p = 0;
    while (g->order[p] != removed)
        p++;
    /* Keep [0, order_pos) the members probed this round. */
    if (p < g->order_pos) {
        g->order[p] = g->order[g->order_pos - 1];
        g->order[g->order_pos - 1] = g->order[last];
        g->order_pos--;
    } else {
        g->order[p] = g->order[last];
    }
    for (uint32_t k = 0; k < last; k++)
        if (g->order[k] == moved)
            g->order[k] = removed;
    if (g->probe.active && g->probe.member == removed)
        g->probe.active = false;
    else if (g->probe.member == moved)
        g->probe.member = removed;
}

static void order_shuffle(struct gossip *g) {
    for (uint32_t a = g->n - 1; a > 0; a--) {
        uint32_t b = (uint32_t)prng_below(&g->rng, (uint64_t)a + 1);
        uint32_t t = g->order[a];
        g->order[a] = g->order[b];
        g->order[b] = t;
    }
    g->order_pos = 0;
}

static uint32_t next_target(struct gossip *g) {
    for (uint32_t tries = 0; tries <= g->n; tries++) {
        if (g->order_pos >= g->n)
            order_shuffle(g);
        uint32_t i = g->order[g->order_pos++];
        if (i != g->self && member_probeable(&g->m[i]))
            return i;
    }
    return GOSSIP_NONE;
}

static int send_seq(struct gossip *g, Nodectl__GossipKind kind, uint32_t seq,
                    const struct member *target, const struct gossip_addr *to) {
    struct pkt p;
    pkt_init(g, &p, kind);
    p.msg.seq = seq;
    if (target) {
        p.msg.target = target->id;
        if (kind == NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING_REQ)
            addr_to_wire(&target->addr, &p.msg.target_ip, &p.msg.target_port);
    }
    bcast_fill(g, &p, target ? (uint32_t)(target - g->m) : GOSSIP_NONE);
    return pkt_send(g, &p, to);
}

static int suspect_local(struct gossip *g, uint32_t i) {
    struct member *m = &g->m[i];
    uint64_t me = g->m[g->self].id;
    if (m->state == GOSSIP_SUSPECT) {
        if (suspicion_confirm(g, i, me))
            return bcast_member(g, i, me);
        return 0;
    }
    g->counts.suspicions++;
    if (member_set_state(g, i, GOSSIP_SUSPECT, m->incarnation) != 0 ||
        suspicion_start(g, i, me) != 0 || bcast_member(g, i, me) != 0)
        return -1;
    /* Tell the suspect directly as well: it refutes sooner than if the news
     * had to find it by gossip. */
    struct pkt p;
    pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_GOSSIP);
    pkt_add_member(&p, m, me, false);
    return pkt_send(g, &p, &m->addr);
}

static int probe_finish(struct gossip *g) {
    struct probe *pr = &g->probe;
    pr->active = false;
    if (pr->acked) {
        awareness_add(g, -1);
        return 0;
    }
    g->counts.probes_failed++;
    /* Lifeguard: missing nacks count against our own health; with no
     * relays to ask, the failed probe itself does. */
    if (pr->expected_nacks > 0)
        awareness_add(g, (int)(pr->expected_nacks - pr->nacks));
    else
        awareness_add(g, 1);
    const struct member *m = &g->m[pr->member];
    if (!member_probeable(m) || m->incarnation != pr->incarnation)
        return 0;
    return suspect_local(g, pr->member);
}

static int send_indirect(struct gossip *g) {
    struct probe *pr = &g->probe;
    pr->indirect_sent = true;
    uint32_t chosen[GOSSIP_INDIRECT_MAX];
    uint32_t n = 0;
    uint32_t want = g->cfg.indirect_checks < GOSSIP_INDIRECT_MAX ? g->cfg.indirect_checks
                                                                 : GOSSIP_INDIRECT_MAX;
    for (uint32_t t = 0; t < want * 4 && n < want; t++) {
        uint32_t i = member_random(g, member_probeable);
        if (i == GOSSIP_NONE)
            break;
        bool dup = i == pr->member;
        for (uint32_t c = 0; c < n && !dup; c++)
            dup = chosen[c] == i;
        if (!dup)
            chosen[n++] = i;
    }
    pr->expected_nacks = n;
    for (uint32_t c = 0; c < n; c++)
        pr->relays[c] = g->m[chosen[c]].id;
    for (uint32_t c = 0; c < n; c++)
        if (send_seq(g, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING_REQ, pr->seq, &g->m[pr->member],
                     &g->m[chosen[c]].addr) != 0)
            return -1;
    /* A second direct ping as well, in the role of memberlist's TCP
     * fallback ping: one lost datagram alone should not make a suspect. */
    const struct member *t = &g->m[pr->member];
    return send_seq(g, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING, pr->seq, t, &t->addr);
}

static int relays_expire(struct gossip *g) {
    for (uint32_t r = 0; r < g->n_relays;) {
        struct relay *rl = &g->relays[r];
        if (rl->deadline_ms > g->now_ms) {
            r++;
            continue;
        }
        if (send_seq(g, NODECTL__GOSSIP_KIND__GOSSIP_KIND_NACK, rl->orig_seq, NULL,
                     &rl->requester) != 0)
            return -1;
        g->relays[r] = g->relays[--g->n_relays];
    }
    return 0;
}

int probe_tick(struct gossip *g) {
    struct probe *pr = &g->probe;
    if (relays_expire(g) != 0)
        return -1;
    if (pr->active && !pr->acked && !pr->indirect_sent && g->now_ms >= pr->timeout_ms &&
        send_indirect(g) != 0)
        return -1;
    if (g->now_ms < g->next_probe_ms)
        return 0;
    if (pr->active && probe_finish(g) != 0)
        return -1;
    g->next_probe_ms = g->now_ms + probe_period_ms(g);
    /* The ack of a probe that ended unanswered may still come: its round
     * trip is the one the estimate most needs (rtt_sample). */
    if (pr->seq && !pr->answered)
        g->unanswered = *pr;
    uint32_t i = next_target(g);
    if (i == GOSSIP_NONE)
        return 0;
    *pr = (struct probe){.active = true,
                         .seq = ++g->seq,
                         .member = i,
                         .target = g->m[i].id,
                         .incarnation = g->m[i].incarnation,
                         .timeout_ms = g->now_ms + probe_wait_ms(g),
                         .sent_ms = g->now_ms};
    g->counts.probes++;
    return send_seq(g, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING, pr->seq, &g->m[i], &g->m[i].addr);
}

int64_t probe_next_deadline(const struct gossip *g) {
    int64_t d = g->next_probe_ms;
    const struct probe *pr = &g->probe;
    if (pr->active && !pr->acked && !pr->indirect_sent && pr->timeout_ms < d)
        d = pr->timeout_ms;
    for (uint32_t r = 0; r < g->n_relays; r++)
        if (g->relays[r].deadline_ms < d)
            d = g->relays[r].deadline_ms;
    return d;
}

int probe_on_ping(struct gossip *g, const Nodectl__GossipPacket *p, const struct gossip_addr *from) {
    /* A ping meant for whoever had this address before us is not ours to
     * answer. */
    if (p->target != g->m[g->self].id)
        return 0;
    /* The ack carries our entry: our own word on our incarnation, which
     * anchors the pinger's view of us (gossip_members.c). */
    struct pkt q;
    pkt_init(g, &q, NODECTL__GOSSIP_KIND__GOSSIP_KIND_ACK);
    q.msg.seq = p->seq;
    pkt_add_member(&q, &g->m[g->self], 0, false);
    bcast_fill(g, &q, GOSSIP_NONE);
    return pkt_send(g, &q, from);
}

int probe_ask(struct gossip *g, uint32_t i) {
    return send_seq(g, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING, ++g->seq, &g->m[i],
                    &g->m[i].addr);
}

int probe_on_ping_req(struct gossip *g, const Nodectl__GossipPacket *p,
                      const struct gossip_addr *from) {
    struct gossip_addr to;
    if (!addr_from_wire(p->target_ip, p->target_port, &to)) {
        reject_count(&g->rejects, GOSSIP_REJECT_ADDRESS);
        return 0;
    }
    if (g->n_relays == GOSSIP_RELAYS_MAX)
        return 0; /* overloaded: the requester's other relays will do */
    struct relay *rl = &g->relays[g->n_relays++];
    *rl = (struct relay){.seq = ++g->seq,
                         .orig_seq = p->seq,
                         .target = p->target,
                         .requester = *from,
                         .deadline_ms = g->now_ms + relay_wait_ms(g)};
    struct pkt q;
    pkt_init(g, &q, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING);
    q.msg.seq = rl->seq;
    q.msg.target = p->target;
    bcast_fill(g, &q, member_find(g, p->target));
    return pkt_send(g, &q, &to);
}

static bool asked(const struct probe *pr, uint64_t id) {
    for (uint32_t c = 0; c < pr->expected_nacks; c++)
        if (pr->relays[c] == id)
            return true;
    return false;
}

int probe_on_ack(struct gossip *g, const Nodectl__GossipPacket *p) {
    if (g->probe.active && p->seq == g->probe.seq) {
        if (p->sender == g->probe.target || asked(&g->probe, p->sender)) {
            /* Timed from the first ping even when the second (sent with
             * the ping-reqs) is the one answered: an estimate too long
             * errs toward patience, one that never saw the acks that came
             * after the timeout would never widen it. */
            if (p->sender == g->probe.target && !g->probe.answered) {
                rtt_sample(g, g->now_ms - g->probe.sent_ms);
                g->probe.answered = true;
            }
            g->probe.acked = true;
        } else
            refuse(g, GOSSIP_REFUSED_ACK);
        return 0;
    }
    if (g->unanswered.seq && p->seq == g->unanswered.seq &&
        p->sender == g->unanswered.target) {
        rtt_sample(g, g->now_ms - g->unanswered.sent_ms);
        g->unanswered.seq = 0;
        return 0;
    }
    for (uint32_t r = 0; r < g->n_relays; r++) {
        if (g->relays[r].seq != p->seq)
            continue;
        if (p->sender != g->relays[r].target) {
            refuse(g, GOSSIP_REFUSED_ACK);
            return 0;
        }
        struct gossip_addr to = g->relays[r].requester;
        uint32_t seq = g->relays[r].orig_seq;
        g->relays[r] = g->relays[--g->n_relays];
        return send_seq(g, NODECTL__GOSSIP_KIND__GOSSIP_KIND_ACK, seq, NULL, &to);
    }
    return 0;
}

void probe_on_nack(struct gossip *g, const Nodectl__GossipPacket *p) {
    if (!g->probe.active || p->seq != g->probe.seq)
        return;
    if (!asked(&g->probe, p->sender))
        refuse(g, GOSSIP_REFUSED_ACK);
    else if (g->probe.nacks < g->probe.expected_nacks)
        g->probe.nacks++;
}
