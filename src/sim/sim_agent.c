/* The agent's I/O shell on a simulated host: what src/agent/ does around
 * the pure code, with the simulated clock, network, disk and hypervisor in
 * place of the real ones. The decisions are the shipped code's: gossip
 * (src/gossip), the election (src/election), the leader's executor and the
 * planner (src/leader, src/placement), and the host's acceptance of
 * commands and its checks at the resource (src/host). The shell only moves
 * bytes, reads clocks and calls the hypervisor, one step at a time
 * (sim_cluster.h), so that a pause can fall between any two.
 *
 * This file: the loop and its queue of steps, the network, gossip and the
 * election, starting and stopping the agent; sim_record.c builds the
 * record, sim_leader.c drives the executor, sim_target.c the host guard. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/message_check.h"
#include "sim_agent.h"

const char *sim_step_name(enum sim_step_kind k) {
    switch (k) {
    case STEP_RECEIVE: return "receive";
    case STEP_TICK: return "tick";
    case STEP_SAMPLE: return "sample";
    case STEP_LEAD: return "lead";
    case STEP_PLAN: return "plan";
    case STEP_PLAN_DONE: return "plan-done";
    case STEP_SEND_CHECK: return "send-check";
    case STEP_SEND: return "send";
    case STEP_GRANT: return "grant";
    case STEP_GRANT_SEND: return "grant-send";
    case STEP_ACT_CHECK: return "act-check";
    case STEP_ACT: return "act";
    case STEP_OFF_CHECK: return "off-check";
    case STEP_OFF: return "off";
    case STEP_HA: return "ha";
    case STEP_KINDS: break;
    }
    return "?";
}

/* ---- the step queue ---- */

static int q_grow(struct sim_host *h) {
    size_t cap = h->q_cap ? 2 * h->q_cap : 16;
    struct sim_step *q = malloc(cap * sizeof *q);
    if (!q)
        return -1;
    for (size_t k = 0; k < h->q_n; k++)
        q[k] = h->q[(h->q_head + k) % h->q_cap];
    free(h->q);
    h->q = q;
    h->q_cap = cap;
    h->q_head = 0;
    return 0;
}

static int enqueue(struct sim_host *h, const struct sim_step *s, bool front) {
    if (h->q_n == h->q_cap && q_grow(h) != 0) {
        free(s->p);
        return -1;
    }
    if (front) {
        h->q_head = (h->q_head + h->q_cap - 1) % h->q_cap;
        h->q[h->q_head] = *s;
    } else {
        h->q[(h->q_head + h->q_n) % h->q_cap] = *s;
    }
    h->q_n++;
    return 0;
}

int simh_push(struct sim_host *h, enum sim_step_kind kind, void *p, size_t len, bool front) {
    struct sim_step s = {.kind = kind, .p = p, .len = len};
    return enqueue(h, &s, front);
}

static void q_clear(struct sim_host *h) {
    for (size_t k = 0; k < h->q_n; k++)
        free(h->q[(h->q_head + k) % h->q_cap].p);
    h->q_n = 0;
    h->q_head = 0;
}

void *simh_copy(const void *p, size_t len) {
    void *x = malloc(len);
    if (x)
        memcpy(x, p, len);
    return x;
}

/* ---- names and addresses ---- */

void simh_name(uint32_t i, char *out, size_t len) { snprintf(out, len, "n%u", i + 1); }

uint32_t sim_host_index(const struct sim_cluster *c, const char *name) {
    if (name[0] != 'n')
        return UINT32_MAX;
    char *end;
    unsigned long k = strtoul(name + 1, &end, 10);
    if ((*end && *end != ':') || k < 1 || k > c->o.hosts)
        return UINT32_MAX;
    return (uint32_t)(k - 1);
}

static void send_msg(struct sim_cluster *c, uint32_t from, uint32_t to, uint32_t kind,
                     uint8_t *data, size_t len) {
    if (sim_net_send_queued(&c->net, c->now_us, kind, from, to, data, len) != 0)
        c->violations++; /* out of memory: the run is not trustworthy */
}

void simh_send_command(struct sim_cluster *c, uint32_t from, uint32_t to,
                       const struct command_msg *m) {
    uint8_t *data;
    size_t len;
    if (command_msg_encode(m, &data, &len) != 0) {
        c->violations++;
        return;
    }
    send_msg(c, from, to, EV_COMMAND, data, len);
}

const Nodectl__HostRecord *simh_cached(struct sim_host *h, const struct gossip_member_info *m) {
    uint64_t j = m->id - 1;
    struct member_cache *mc = &h->cache[j];
    if (mc->rec && mc->version == m->record_version)
        return mc->rec;
    if (mc->rec)
        nodectl__host_record__free_unpacked(mc->rec, NULL);
    const char *field;
    mc->rec = m->record_len ? message_record_decode(m->record, m->record_len, NULL, &field) : NULL;
    mc->version = m->record_version;
    return mc->rec;
}

static void see_term(struct sim_host *h, uint64_t term) { fence_see(&h->disk.fence, term); }

void simh_flush_gossip(struct sim_cluster *c, struct sim_host *h) {
    struct gossip_msg gm;
    while (gossip_next_msg(h->g, &gm)) {
        uint32_t to = sim_addr_node(&gm.to);
        if (to < c->o.hosts)
            send_msg(c, h->i, to, EV_GOSSIP, gm.data, gm.len);
        else
            free(gm.data);
    }
    struct gossip_event ev;
    while (gossip_next_event(h->g, &ev)) {
        struct gossip_member_info m;
        /* Every host learns terms from the records (agent_election.c's
         * observe), which is how hosts that do not vote fence. */
        if (ev.kind == GOSSIP_EV_RECORD && ev.id >= 1 && ev.id <= c->o.hosts &&
            ev.id != h->i + 1U && gossip_member_find(h->g, ev.id, &m)) {
            const Nodectl__HostRecord *r = simh_cached(h, &m);
            if (r)
                see_term(h, r->term);
        }
    }
}

/* ---- the election ---- */

void simh_flush_election(struct sim_cluster *c, struct sim_host *h) {
    if (!h->e)
        return;
    /* Written and flushed before anything leaves: election_unsaved writes
     * the disk's copy only when it holds what is not saved yet. */
    if (election_unsaved(h->e, &h->disk.hs))
        election_saved(h->e);
    see_term(h, election_term(h->e));
    struct election_msg em;
    while (election_next_msg(h->e, &em)) {
        uint64_t to = em.to - simh_voter_id(0);
        if (to < c->o.candidates)
            send_msg(c, h->i, (uint32_t)to, EV_ELECTION, em.data, em.len);
        else
            free(em.data);
    }
    sim_check_lease(c, h->i);
    uint64_t term = election_term(h->e);
    bool lease = election_has_lease(h->e, simh_mono(c, h));
    if (term != h->seen_term || lease != h->seen_lease) {
        if (lease && (term != h->seen_term || !h->seen_lease))
            sim_check_leader(c, h->i, term);
        h->seen_term = term;
        h->seen_lease = lease;
        h->lead_due = true;
        simh_publish(c, h);
    } else if (lease && !executor_leading(h->ex)) {
        /* The executor saw the lease lapse (a pause fell between two
         * readings here) and it holds again in the same term: the agent
         * reads the election into the executor at every turn of its loop
         * (agent_leader_run), so its leader leads again at once. */
        h->lead_due = true;
    }
}

/* The election as one fresh reading shows it; a host that does not vote
 * knows the highest term gossip told it, and no lease. */
struct executor_lease simh_lease_now(const struct sim_cluster *c, const struct sim_host *h,
                                     char *leader, size_t len) {
    struct executor_lease l = {.leader = leader, .term = h->disk.fence.highest};
    leader[0] = '\0';
    if (!h->e)
        return l;
    l.term = election_term(h->e);
    uint64_t lid = election_leader(h->e);
    if (lid >= simh_voter_id(0) && lid < simh_voter_id(c->o.candidates))
        simh_name((uint32_t)(lid - simh_voter_id(0)), leader, len);
    int64_t now = simh_mono(c, h);
    l.lease_until = election_has_lease(h->e, now) ? (uint64_t)election_lease_until(h->e) : 0;
    return l;
}

static int step_receive(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    int64_t now = simh_mono(c, h);
    switch (s->channel) {
    case EV_GOSSIP: {
        struct gossip_addr from = sim_addr(s->from);
        gossip_receive(h->g, now, s->from + 1U, &from, s->p, s->len);
        simh_flush_gossip(c, h);
        break;
    }
    case EV_ELECTION:
        if (h->e) {
            election_receive(h->e, now, simh_voter_id(s->from), s->p, s->len);
            simh_flush_election(c, h);
        }
        break;
    case EV_COMMAND: {
        struct command_msg m;
        char why[COMMAND_REASON_MAX];
        enum message_reject reason;
        if (command_msg_decode(s->p, s->len, &m, why, sizeof why) == 0 &&
            (m.kind != COMMAND_MSG_COMMAND || !message_check_command(&m.command, &reason)))
            simh_command_msg(c, h, s->from, &m);
        break;
    }
    }
    return 0;
}

static int step_tick(struct sim_cluster *c, struct sim_host *h) {
    int64_t now = simh_mono(c, h);
    if (now >= gossip_next_deadline(h->g)) {
        gossip_tick(h->g, now);
        simh_flush_gossip(c, h);
    }
    if (h->e && now >= election_next_deadline(h->e)) {
        election_tick(h->e, now);
        simh_flush_election(c, h);
    } else if (h->e) {
        simh_flush_election(c, h); /* the lease may have run out */
    }
    if ((uint64_t)now >= host_guard_deadline(h->guard)) {
        host_guard_tick(h->guard, (uint64_t)now);
        simh_guard_flush(c, h);
    }
    return 0;
}

static int step_sample(struct sim_cluster *c, struct sim_host *h) {
    h->next_sample_ms = simh_mono(c, h) + SAMPLE_MS;
    simh_orphans_settle(c, h);
    simh_leftovers(c, h);
    simha_sampled(c, h);
    simh_publish(c, h);
    return 0;
}

static int run_step(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    switch (s->kind) {
    case STEP_RECEIVE: return step_receive(c, h, s);
    case STEP_TICK: return step_tick(c, h);
    case STEP_SAMPLE: return step_sample(c, h);
    case STEP_LEAD: return simh_step_lead(c, h);
    case STEP_PLAN: return simh_step_plan(c, h);
    case STEP_PLAN_DONE: return simh_step_plan_done(c, h);
    case STEP_SEND_CHECK: return simh_step_send_check(c, h, s);
    case STEP_SEND: return simh_step_send(c, h, s);
    case STEP_GRANT: return simh_step_grant(c, h, s);
    case STEP_GRANT_SEND: return simh_step_grant_send(c, h, s);
    case STEP_ACT_CHECK: return simh_step_act_check(c, h, s);
    case STEP_ACT: return simh_step_act(c, h, s);
    case STEP_OFF_CHECK: return simh_step_off_check(c, h, s);
    case STEP_OFF: return simh_step_off(c, h);
    case STEP_HA: return h->ha ? simha_step(c, h) : 0;
    case STEP_KINDS: break;
    }
    return 0;
}

/* The earliest monotonic time this host's loop has work, as its timers say. */
static int64_t next_deadline_ms(const struct sim_cluster *c, const struct sim_host *h) {
    int64_t d = gossip_next_deadline(h->g);
    if (h->next_sample_ms < d)
        d = h->next_sample_ms;
    if (h->e) {
        int64_t e = election_next_deadline(h->e);
        if (e < d)
            d = e;
        /* Notice the lease running out, to stop acting. */
        if (h->seen_lease && election_lease_until(h->e) < d)
            d = election_lease_until(h->e);
    }
    uint64_t g = host_guard_deadline(h->guard);
    if (g < (uint64_t)d)
        d = (int64_t)g;
    uint64_t x = executor_deadline(h->ex);
    if (x < (uint64_t)d)
        d = (int64_t)x;
    if (h->off_pending && h->off_at_ms < d)
        d = h->off_at_ms;
    int64_t x2 = simha_deadline(c, h);
    if (x2 < d)
        d = x2;
    return d;
}

/* Queues the timers' work that is due; -1 on out of memory. */
static int due(struct sim_cluster *c, struct sim_host *h) {
    int64_t now = simh_mono(c, h);
    if ((now >= gossip_next_deadline(h->g) ||
         (h->e && (now >= election_next_deadline(h->e) ||
                   (h->seen_lease && now >= election_lease_until(h->e)))) ||
         (uint64_t)now >= host_guard_deadline(h->guard)) &&
        simh_push(h, STEP_TICK, NULL, 0, false) != 0)
        return -1;
    if (now >= h->next_sample_ms && simh_push(h, STEP_SAMPLE, NULL, 0, false) != 0)
        return -1;
    if (h->plan.busy && c->now_us >= h->plan.done_us) {
        if (simh_push(h, STEP_PLAN_DONE, NULL, 0, false) != 0)
            return -1;
    } else if ((h->lead_due || (uint64_t)now >= executor_deadline(h->ex)) &&
               simh_push(h, STEP_LEAD, NULL, 0, false) != 0) {
        return -1;
    }
    if (h->ha && now >= simha_deadline(c, h) && simh_push(h, STEP_HA, NULL, 0, false) != 0)
        return -1;
    if (h->off_pending && now >= h->off_at_ms) {
        h->off_at_ms = INT64_MAX; /* once */
        if (simh_push(h, STEP_OFF_CHECK, NULL, 0, false) != 0)
            return -1;
    }
    return 0;
}

/* Steps one wake-up may run: more means the loop never waits (a bug of the
 * simulator or of the code it runs). */
#define STEPS_MAX 100000

int sim_agent_run(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    if (!h->up)
        return 0;
    if (c->now_us < h->frozen_until_us)
        return sim_wake(c, i, h->frozen_until_us);
    for (int steps = 0;; steps++) {
        if (!h->q_n) {
            if (due(c, h) != 0)
                return -1;
            if (!h->q_n)
                break;
        }
        if (steps == STEPS_MAX) {
            c->violations++;
            sim_violation(c, "%s's loop ran %d steps without waiting", h->name, STEPS_MAX);
            return -1;
        }
        struct sim_step *s = &h->q[h->q_head];
        int64_t us;
        if (!s->paused && sim_faults_pause_at(c, i, s->kind, &us)) {
            s->paused = true;
            h->frozen_until_us = c->now_us + us;
            c->pauses++;
            sim_trace(c, "%s: paused %.3f s before %s", h->name, (double)us / 1e6,
                      sim_step_name(s->kind));
            return sim_wake(c, i, h->frozen_until_us);
        }
        struct sim_step st = *s;
        h->q_head = (h->q_head + 1) % h->q_cap;
        h->q_n--;
        int rc = run_step(c, h, &st);
        free(st.p);
        if (rc != 0)
            return -1;
        if (!h->up)
            return 0;
    }
    int64_t t = sim_clock_real_at(&h->clock, c->now_us, next_deadline_ms(c, h));
    if (h->plan.busy && h->plan.done_us < t)
        t = h->plan.done_us;
    return sim_wake(c, i, t);
}

void sim_agent_deliver(struct sim_cluster *c, struct sim_event *ev) {
    struct sim_host *h = c->h[ev->node];
    if (!h->up) {
        /* Refused: it waits in the sender's queue for the agent. */
        sim_net_hold(&c->net, ev);
        return;
    }
    struct sim_step s = {
        .kind = STEP_RECEIVE, .channel = ev->kind, .from = ev->from, .p = ev->data, .len = ev->len};
    ev->data = NULL;
    if (enqueue(h, &s, false) != 0 || sim_agent_run(c, ev->node) != 0)
        c->violations++; /* out of memory: the run is not trustworthy */
}

void sim_agent_hv_note(struct sim_cluster *c, const struct sim_hv_note *n) {
    struct sim_host *h = c->h[n->host];
    if (n->kind == SIM_HV_BOOTED) {
        /* A new boot: the monotonic clock starts again, the wall clock is
         * set right by the boot's time sync. */
        int64_t w = sim_clock_synced_wall_ms(&h->clock, c->now_us);
        sim_clock_boot(&h->clock, c->now_us, h->clock.rate_ppm, w);
        if (sim_agent_start(c, n->host) != 0)
            c->violations++;
        return;
    }
    if (n->kind != SIM_HV_MIGRATION_ENDED)
        return;
    /* --ha: libvirt's lifecycle event (the guest resumed) makes the
     * destination's agent sample at once too (hv_events.c), as it does at
     * the migration's start (simh_step_act). */
    if (c->o.ha)
        sim_agent_sample_soon(c, sim_hv_migration(&c->hv, n->mig)->dst);
    if (!h->up)
        return;
    simh_migration_ended(c, h, n->mig);
    /* libvirt's event makes the agent sample at once. */
    h->next_sample_ms = simh_mono(c, h);
    if (sim_wake(c, n->host, c->now_us) != 0)
        c->violations++;
}

/* ---- start and stop ---- */

/* The boot id of host h's current boot: its index and boot count. */
static void boot_id(const struct sim_cluster *c, const struct sim_host *h, char *out, size_t len) {
    snprintf(out, len, "host%" PRIu32 "-boot%" PRIu64, h->i, c->hv.h[h->i].boots);
}

void simh_bootfile_keep(const struct sim_cluster *c, const struct sim_host *h, char *text,
                        const int64_t *v, size_t n) {
    char boot[BOOT_FILE_ID_MAX];
    boot_id(c, h, boot, sizeof boot);
    /* Two numbers and two words: an id the file keeps. */
    int len = boot_file_format(boot, v, n, text, BOOT_FILE_TEXT_MAX);
    assert(len > 0);
    (void)len;
}

enum boot_file_kept simh_bootfile_read(const struct sim_cluster *c, const struct sim_host *h,
                                       const char *text, int64_t *v, size_t n) {
    char boot[BOOT_FILE_ID_MAX];
    boot_id(c, h, boot, sizeof boot);
    return boot_file_parse(text[0] ? text : NULL, strlen(text), boot, v, n);
}

void simh_bootfile_not_resumed(struct sim_cluster *c, const struct sim_host *h, const char *what,
                               enum boot_file_kept why) {
    assert(why != BOOT_FILE_THIS_BOOT);
    if (boot_file_kept_normal(why))
        return;
    sim_trace(c, "%s: no %s resumed: %s", h->name, what, boot_file_kept_name(why));
    c->violations++;
}

/* Keeps the stamp clock's anchor on disk for a restart on this boot. */
static void stamp_save(const struct sim_cluster *c, struct sim_host *h) {
    int64_t v[STAMP_CLOCK_KEPT_VALUES];
    h->stamp_saved_ms = stamp_clock_kept(&h->stamp, v);
    simh_bootfile_keep(c, h, h->disk.stamp_anchor, v, STAMP_CLOCK_KEPT_VALUES);
}

uint64_t simh_stamp(const struct sim_cluster *c, struct sim_host *h) {
    uint64_t mono = (uint64_t)simh_mono(c, h);
    uint64_t s = stamp_clock_read(&h->stamp, mono, (uint64_t)sim_clock_wall_ms(&h->clock, c->now_us));
    if (mono >= h->stamp_saved_ms + STAMP_CLOCK_SAVE_EVERY_MS)
        stamp_save(c, h);
    return s;
}

/* The stamp clock as agent_stamp.c starts it: resumed from the anchor kept
 * on this boot, else anchored on the wall clock, right at boot. */
static void stamp_start(struct sim_cluster *c, struct sim_host *h) {
    uint64_t mono = (uint64_t)simh_mono(c, h);
    int64_t v[STAMP_CLOCK_KEPT_VALUES];
    enum boot_file_kept kept =
        simh_bootfile_read(c, h, h->disk.stamp_anchor, v, STAMP_CLOCK_KEPT_VALUES);
    if (kept == BOOT_FILE_THIS_BOOT && !stamp_clock_resume(&h->stamp, v, mono))
        kept = BOOT_FILE_OUT_OF_RANGE;
    if (kept != BOOT_FILE_THIS_BOOT) {
        simh_bootfile_not_resumed(c, h, "stamp clock anchor", kept);
        stamp_clock_anchor(&h->stamp, mono, (uint64_t)sim_clock_wall_ms(&h->clock, c->now_us));
    }
    stamp_save(c, h);
}

int sim_agent_start(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    int64_t now = simh_mono(c, h);
    h->disk.incarnation++;
    stamp_start(c, h);
    struct gossip_config gc;
    gossip_config_defaults(&gc);
    struct gossip_addr a = sim_addr(i);
    h->g = gossip_new(&gc, i + 1, &a, h->disk.incarnation, prng_next(&c->rng), now);
    if (!h->g)
        return -1;
    /* Its snapshot: every host it knew, probed afresh. */
    for (uint32_t k = 0; k < c->o.hosts; k++) {
        if (k == i)
            continue;
        struct gossip_member_info m = {.id = k + 1, .addr = sim_addr(k), .state = GOSSIP_ALIVE};
        if (gossip_add_members(h->g, now, &m, 1) != 0)
            return -1;
    }
    if (h->candidate) {
        struct election_config ec = {.self_id = simh_voter_id(i),
                                     .n_voters = c->o.candidates,
                                     .heartbeat_ms = HEARTBEAT_MS,
                                     .election_timeout_ms = ELECTION_TIMEOUT_MS,
                                     .lease_margin_ms = LEASE_MARGIN_MS};
        for (uint32_t k = 0; k < c->o.candidates; k++)
            ec.voters[k] = (struct election_voter){simh_voter_id(k), k == 0 ? c->o.priority : 0};
        h->e = election_new(&ec, &h->disk.hs, prng_next(&c->rng), now);
        if (!h->e)
            return -1;
    }
    /* Every agent has an executor, as every agent answers grant requests
     * (agent.c): one that does not lead refuses them. */
    struct executor_config xc = {.automation = CONFIG_AUTOMATION_AUTO,
                                 .max_migrations = MAX_MIGRATIONS,
                                 .migration_timeout_ms = MIGRATION_TIMEOUT_MS,
                                 .power_on_timeout_ms = POWER_ON_TIMEOUT_MS,
                                 .plan_interval_ms = PLAN_INTERVAL_MS,
                                 .wake_cooldown_ms = SIM_WAKE_COOLDOWN_S * 1000,
                                 .idle_watts = 100,
                                 .max_watts = 250,
                                 .seed = prng_next(&c->rng)};
    snprintf(xc.self, sizeof xc.self, "%s", h->name);
    snprintf(xc.policy, sizeof xc.policy, "default");
    h->ex = executor_new(&xc);
    if (!h->ex)
        return -1;
    prng_seed(&h->rng, prng_next(&c->rng));
    struct host_guard_config hc = {.rho = RHO};
    snprintf(hc.self, sizeof hc.self, "%s", h->name);
    h->guard = host_guard_new(&hc, prng_next(&c->rng));
    if (!h->guard)
        return -1;
    simh_set_gate(c, h, h->disk.drain ? HOST_GATE_DRAINED : HOST_GATE_OPEN);
    h->up = true;
    h->frozen_until_us = 0;
    h->seen_term = UINT64_MAX;
    h->seen_lease = false;
    h->shown_term = 0;
    h->next_sample_ms = now;
    h->lead_due = true;
    h->capacity = (struct host_capacity){0, 0, 0};
    simh_actions_restore(c, h);
    if (simha_start(c, h) != 0)
        return -1;
    if (sim_net_release(&c->net, c->now_us, i) != 0)
        return -1;
    return sim_wake(c, i, c->now_us);
}

void sim_agent_stop(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    if (!h->up)
        return;
    simh_plan_release(&h->plan);
    q_clear(h);
    gossip_free(h->g);
    election_free(h->e);
    executor_free(h->ex);
    free(h->operators);
    h->operators = NULL;
    host_guard_free(h->guard);
    simha_stop(c, h);
    h->g = NULL;
    h->e = NULL;
    h->ex = NULL;
    h->guard = NULL;
    h->up = false;
    h->off_pending = false;
    h->wake_gen++;
    h->wake_at_us = INT64_MAX;
    for (uint32_t k = 0; k < c->o.hosts; k++) {
        if (h->cache[k].rec)
            nodectl__host_record__free_unpacked(h->cache[k].rec, NULL);
        h->cache[k].rec = NULL;
    }
    sim_net_forget_from(&c->net, i);
}

int sim_agent_new(struct sim_cluster *c, uint32_t i, int64_t rate_ppm, int64_t wall_ms) {
    struct sim_host *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    c->h[i] = h;
    h->i = i;
    simh_name(i, h->name, sizeof h->name);
    h->candidate = i < c->o.candidates;
    h->wake_at_us = INT64_MAX;
    h->cache = calloc(c->o.hosts, sizeof *h->cache);
    if (!h->cache)
        return -1;
    sim_clock_boot(&h->clock, c->now_us, rate_ppm, wall_ms);
    return 0;
}

void sim_agent_free(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    if (!h)
        return;
    sim_agent_stop(c, i);
    free(h->cache);
    free(h->q);
    free(h);
    c->h[i] = NULL;
}

/* ---- what the rest of the simulator asks of a host ---- */

int sim_wake(struct sim_cluster *c, uint32_t i, int64_t t_us) {
    struct sim_host *h = c->h[i];
    if (t_us < c->now_us)
        t_us = c->now_us;
    if (t_us >= h->wake_at_us)
        return 0; /* the wake-up queued fires first; the loop then looks again */
    h->wake_at_us = t_us;
    struct sim_event ev = {.t_us = t_us, .kind = EV_WAKE, .node = i, .gen = ++h->wake_gen};
    return sim_heap_push(&c->net.heap, &ev);
}

int sim_agent_timer(struct sim_cluster *c, const struct sim_event *ev) {
    struct sim_host *h = c->h[ev->node];
    if (ev->gen != h->wake_gen)
        return 0;
    h->wake_at_us = INT64_MAX;
    return sim_agent_run(c, ev->node);
}

bool sim_agent_up(const struct sim_cluster *c, uint32_t i) { return c->h[i]->up; }

void sim_agent_sample_soon(struct sim_cluster *c, uint32_t i) {
    struct sim_host *h = c->h[i];
    if (!h->up)
        return;
    h->next_sample_ms = simh_mono(c, h);
    if (sim_wake(c, i, c->now_us) != 0)
        c->violations++;
}

uint32_t sim_agent_life(const struct sim_cluster *c, uint32_t i) {
    return c->h[i]->disk.incarnation;
}

bool sim_agent_lease_end(const struct sim_cluster *c, uint32_t i, uint64_t *term, int64_t *end_us) {
    const struct sim_host *h = c->h[i];
    if (!h->up || !h->e || !election_has_lease(h->e, simh_mono(c, h)))
        return false;
    *term = election_term(h->e);
    *end_us = sim_clock_real_at(&h->clock, c->now_us, election_lease_until(h->e));
    return true;
}

void sim_agent_set_rate(struct sim_cluster *c, uint32_t i, int64_t rate_ppm) {
    sim_clock_set_rate(&c->h[i]->clock, c->now_us, rate_ppm);
}

void sim_agent_jump_wall(struct sim_cluster *c, uint32_t i, int64_t delta_ms) {
    sim_clock_jump_wall(&c->h[i]->clock, delta_ms);
}

bool sim_agent_frozen(const struct sim_cluster *c, uint32_t i) {
    return c->now_us < c->h[i]->frozen_until_us;
}

/* Freezes host i now for us: a stop-the-world pause wherever its loop is. */
int sim_agent_pause(struct sim_cluster *c, uint32_t i, int64_t us) {
    struct sim_host *h = c->h[i];
    if (!h->up || c->now_us < h->frozen_until_us)
        return 0;
    h->frozen_until_us = c->now_us + us;
    c->pauses++;
    sim_trace(c, "%s: paused %.3f s", h->name, (double)us / 1e6);
    return sim_wake(c, i, h->frozen_until_us);
}

const char *sim_agent_name(const struct sim_cluster *c, uint32_t i) { return c->h[i]->name; }
