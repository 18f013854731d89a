/* The agent's shell, the target's side (agent_actions.c, agent_guard.c,
 * agent_power.c): commands through the host guard, grant requests and
 * grants, the last check before an action (the grant's deadline, the
 * source's refusals, a fresh view of the hypervisor) and the action; the
 * power-off's commitment and, a second later, the off command after one
 * more fresh look; as a destination, the copies failed migrations left. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_arrival.h"
#include "host/host_checks.h"
#include "sim_agent.h"

void simh_guard_flush(struct sim_cluster *c, struct sim_host *h) {
    struct host_guard_out out;
    while (host_guard_next(h->guard, &out)) {
        if (out.kind == HOST_GUARD_OUT_GIVE_UP) {
            simh_refused(c, h, &out.cmd, out.why);
            continue;
        }
        struct command_msg m = {.kind = COMMAND_MSG_ASK, .ask = out.ask};
        if (!out.reply_to[0]) {
            simh_deliver_local(c, h, &m);
            continue;
        }
        uint32_t to = sim_host_index(c, out.reply_to);
        if (to != UINT32_MAX)
            simh_send_command(c, h->i, to, &m);
    }
}

static void on_command(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                       const char *reply_to) {
    enum host_guard_verdict v =
        host_guard_receive(h->guard, &h->disk.fence, cmd, reply_to, (uint64_t)simh_mono(c, h));
    /* As agent_actions.c records them: a command this host will not take
     * now (powering off, too many waiting) is reported refused; a stale,
     * repeated or misaddressed one is not its to report. */
    if (v == HOST_GUARD_OFF || v == HOST_GUARD_BUSY)
        simh_refused(c, h, cmd, host_guard_verdict_name(v));
    simh_guard_flush(c, h);
}

static void on_grant(struct sim_cluster *c, struct sim_host *h, const struct grant *g,
                     const char *sender) {
    struct act_step st;
    char why[COMMAND_REASON_MAX];
    enum host_guard_answer a =
        host_guard_on_grant(h->guard, &h->disk.fence, g, sender, (uint64_t)simh_mono(c, h), &st.cmd,
                            &st.deadline, why, sizeof why);
    if (a == HOST_GUARD_REFUSED)
        simh_refused(c, h, &st.cmd, why);
    else if (a == HOST_GUARD_ACT &&
             simh_push(h, STEP_ACT_CHECK, simh_copy(&st, sizeof st), sizeof st, true) != 0)
        c->violations++;
}

/* A command channel message taken on host h from host `from`, the frame's
 * certified sender (the network never forges one; replayed and misdelivered
 * frames keep theirs). As agent_command_frame: a command must name its
 * sender as issuer and a grant request as target; a grant is the guard's to
 * match with its issuer. */
void simh_command_msg(struct sim_cluster *c, struct sim_host *h, uint32_t from,
                      const struct command_msg *m) {
    char sender[COMMAND_NAME_MAX], reply_to[COMMAND_NAME_MAX] = "";
    simh_name(from, sender, sizeof sender);
    if (from != h->i)
        snprintf(reply_to, sizeof reply_to, "%s", sender);
    switch (m->kind) {
    case COMMAND_MSG_COMMAND:
        if (strcmp(m->command.issuer, sender) == 0)
            on_command(c, h, &m->command, reply_to);
        break;
    case COMMAND_MSG_ASK:
        if (strcmp(m->ask.target, sender) == 0) {
            struct grant_step st = {.req = m->ask, .to = from};
            if (simh_push(h, STEP_GRANT, simh_copy(&st, sizeof st), sizeof st, true) != 0)
                c->violations++;
        }
        break;
    case COMMAND_MSG_GRANT: on_grant(c, h, &m->grant, sender); break;
    case COMMAND_MSG_RENEW:
    case COMMAND_MSG_RENEWED:
        /* --ha: the run lease (without it no host sends them). */
        simha_frame(c, h, from, m);
        break;
    case COMMAND_MSG_DEFINITION:
        /* Definitions are not replicated in the simulation. */
        break;
    }
}

/* Ourselves: handed over without the network, as the agent does. */
void simh_deliver_local(struct sim_cluster *c, struct sim_host *h, const struct command_msg *m) {
    simh_command_msg(c, h, h->i, m);
}

/* The destination as this host's gossip shows it, for the source's check. */
static void peer_view(struct sim_cluster *c, struct sim_host *h, const char *name,
                      struct host_peer *p) {
    memset(p, 0, sizeof *p);
    p->name = name;
    p->self = h->name;
    uint32_t j = sim_host_index(c, name);
    struct gossip_member_info m;
    if (j == UINT32_MAX || !gossip_member_find(h->g, j + 1, &m))
        return;
    static const enum host_peer_state map[] = {[GOSSIP_ALIVE] = HOST_PEER_ALIVE,
                                               [GOSSIP_SUSPECT] = HOST_PEER_SUSPECT,
                                               [GOSSIP_DEAD] = HOST_PEER_DEAD,
                                               [GOSSIP_LEFT] = HOST_PEER_LEFT,
                                               [GOSSIP_OFF] = HOST_PEER_OFF};
    p->state = map[m.state];
    const Nodectl__HostRecord *r = j == h->i ? NULL : simh_cached(h, &m);
    if (!r)
        return;
    p->migration_uri = r->migration_uri;
    p->drain = r->drain;
    for (size_t k = 0; k < r->n_migrations; k++)
        p->powering_off |= report_kind_parse(r->migrations[k]->kind) == REPORT_POWER_OFF &&
                           report_state_parse(r->migrations[k]->state) == REPORT_RUNNING;
}

/* The members' records as h's gossip holds them, its own left out
 * (host_arrival_check's peers, as agent_guard.c gathers them); the caller
 * frees the array, NULL when out of memory. */
static struct host_arrival_peer *arrival_peers(struct sim_host *h, size_t *n) {
    size_t count = gossip_member_count(h->g);
    struct host_arrival_peer *peers = calloc(count ? count : 1, sizeof *peers);
    *n = 0;
    for (size_t i = 0; peers && i < count; i++) {
        struct gossip_member_info m;
        gossip_member_at(h->g, i, &m);
        const Nodectl__HostRecord *r = m.id - 1 != h->i ? simh_cached(h, &m) : NULL;
        if (r)
            peers[(*n)++] = (struct host_arrival_peer){r, m.state == GOSSIP_ALIVE};
    }
    return peers;
}

/* The copy a failed migration brought here, while its source may still run
 * its own, does not leave (host_arrival_migrate_check, as the agent's
 * acceptance and its migration thread judge it). */
static enum host_refusal leftover_refusal(struct sim_cluster *c, struct sim_host *h,
                                          const struct hv_domain_now *dom, char *why,
                                          size_t len) {
    if (!dom || !dom->arrival[0])
        return HOST_OK;
    size_t n;
    struct host_arrival_peer *peers = arrival_peers(h, &n);
    if (!peers) {
        snprintf(why, len, "out of memory");
        return HOST_REFUSE_VM_BUSY;
    }
    enum host_refusal r = host_arrival_migrate_check(h->name, dom, peers, n, why, len);
    free(peers);
    c->leftover_refusals += r != HOST_OK;
    return r;
}

/* The target's last check before the action: the grant's deadline on a
 * fresh clock, and for a migration the destination as gossip shows it and
 * the domain as a fresh view of libvirt shows it (agent_guard.c, and the
 * hypervisor thread's check just before virDomainMigrate). A power-off is
 * judged on its fresh view after its gate closed (step_act). */
int simh_step_act_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct act_step *st = s->p;
    const struct command *cmd = &st->cmd;
    char why[COMMAND_REASON_MAX] = "";
    if (!host_guard_may_act(&h->disk.fence, cmd->term, st->deadline, (uint64_t)simh_mono(c, h))) {
        simh_refused(c, h, cmd, "the grant's deadline passed");
        return 0;
    }
    if (cmd->kind == COMMAND_MIGRATE) {
        struct host_peer dest;
        peer_view(c, h, cmd->migrate.destination, &dest);
        struct hv_fresh view;
        sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
        if (host_migrate_peer_check(cmd->term, h->disk.fence.highest, &dest,
                                    cmd->migrate.destination_uri, why, sizeof why) != HOST_OK ||
            host_migrate_vm_check(hv_fresh_find(&view, cmd->migrate.vm), cmd->migrate.vm, why,
                                  sizeof why) != HOST_OK ||
            leftover_refusal(c, h, hv_fresh_find(&view, cmd->migrate.vm), why, sizeof why) !=
                HOST_OK) {
            simh_refused(c, h, cmd, why);
            return 0;
        }
    } else if (cmd->kind == COMMAND_POWER_OFF && (h->candidate || h->off_pending)) {
        simh_refused(c, h, cmd,
                     h->candidate ? "this host is a leader candidate: it stays on"
                                  : "already powering off");
        return 0;
    }
    s->p = NULL;
    return simh_push(h, STEP_ACT, st, sizeof *st, true);
}

void simh_set_gate(struct sim_cluster *c, struct sim_host *h, enum host_gate g) {
    sim_hv_set_gate(&c->hv, h->i, g);
}

static void back_on(struct sim_cluster *c, struct sim_host *h, const char *why);

/* The power-off's commitment: the gate closes (no migration arrives, no
 * domain starts), no command is accepted, then libvirt is asked, and only
 * an empty host announces "off" (agent_power.c). */
static void commit_off(struct sim_cluster *c, struct sim_host *h, const struct command *cmd) {
    struct action *x = simh_action_new(c, h, cmd, ACT_POWER_OFF);
    if (!x)
        return;
    simh_set_gate(c, h, HOST_GATE_CLOSED);
    host_guard_set_off(h->guard, true);
    h->off_pending = true;
    h->off_term = cmd->term;
    snprintf(h->off_id, sizeof h->off_id, "%s", cmd->id);
    struct hv_fresh view;
    char why[COMMAND_REASON_MAX];
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    if (host_power_off_check(&view, why, sizeof why) != HOST_OK) {
        back_on(c, h, why);
        return;
    }
    simh_publish(c, h); /* the running action goes out before the OFF state */
    if (gossip_power_off(h->g, simh_mono(c, h), NULL, 0) != 0)
        c->violations++;
    simh_flush_gossip(c, h);
    h->off_at_ms = simh_mono(c, h) + OFF_SPREAD_MS;
}

int simh_step_act(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct act_step *st = s->p;
    const struct command *cmd = &st->cmd;
    uint32_t a, b, v;
    simh_command_objects(c, cmd, &a, &b, &v);
    char what[160];
    command_describe(cmd, what, sizeof what);
    char where[COMMAND_NAME_MAX + 170];
    snprintf(where, sizeof where, "%s: %s", h->name, what);
    if (cmd->by_operator) {
        /* Not a leader's: bounded by its issuer's window, not by a lease. */
        c->operator_effects++;
        sim_trace(c, "effect: %s (the operator's, from %s)", where, cmd->issuer);
    } else {
        sim_check_effect(c, where, cmd->term, a, b, v, s->paused);
        c->effects++;
    }
    switch (cmd->kind) {
    case COMMAND_MIGRATE: {
        struct action *x = simh_action_new(c, h, cmd, ACT_MIGRATION);
        if (!x)
            return 0;
        char err[COMMAND_REASON_MAX];
        uint32_t dst = sim_host_index(c, cmd->migrate.destination);
        /* Kept before libvirt is asked, as the agent does. */
        simh_actions_keep(c, h);
        if (dst == UINT32_MAX || sim_hv_migrate(&c->hv, c->now_us, h->i, cmd->migrate.vm, dst,
                                                cmd->id, &x->mig, err, sizeof err) != 0)
            simh_action_end(c, h, x, REPORT_REFUSED, dst == UINT32_MAX ? "no such host" : err);
        else if (c->o.ha)
            sim_agent_sample_soon(c, dst); /* libvirt's event at the destination */
        break;
    }
    case COMMAND_POWER_OFF: commit_off(c, h, cmd); break;
    case COMMAND_WAKE: {
        struct action *x = simh_action_new(c, h, cmd, ACT_WAKE);
        if (!x)
            return 0;
        uint32_t w = simh_host_of_mac(c, cmd->wake.mac);
        if (w != UINT32_MAX)
            sim_hv_wake(&c->hv, c->now_us, w);
        simh_action_end(c, h, x, REPORT_SUCCEEDED, NULL);
        break;
    }
    case COMMAND_DRAIN:
        h->disk.drain = cmd->drain;
        if (!h->off_pending)
            simh_set_gate(c, h, cmd->drain ? HOST_GATE_DRAINED : HOST_GATE_OPEN);
        break;
    case COMMAND_TRANSFER:
        if (h->e && election_transfer(h->e, simh_mono(c, h), 0) == 0)
            simh_flush_election(c, h);
        break;
    case COMMAND_DEFINE:
        /* --ha: a leader's restart (define and start). */
        if (h->ha && !cmd->by_operator)
            simha_define(c, h, cmd, st->deadline);
        break;
    case COMMAND_VM_RULES:
        /* An operator's `nodectl vm set`: the simulated domains carry no
         * rules, and no simulated operator types it. */
        break;
    }
    simh_publish(c, h);
    return 0;
}

/* The power-off did not happen: alive again. */
static void back_on(struct sim_cluster *c, struct sim_host *h, const char *why) {
    struct action *x = simh_action_find(h, h->off_id);
    if (x)
        simh_action_end(c, h, x, REPORT_FAILED, why);
    h->off_pending = false;
    host_guard_set_off(h->guard, false);
    simh_set_gate(c, h, h->disk.drain ? HOST_GATE_DRAINED : HOST_GATE_OPEN);
    if (gossip_resume(h->g, simh_mono(c, h)) != 0)
        c->violations++;
    simh_publish(c, h);
}

int simh_step_off_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s) {
    struct hv_fresh view;
    char why[COMMAND_REASON_MAX];
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    if (host_power_off_check(&view, why, sizeof why) != HOST_OK) {
        back_on(c, h, why);
        return 0;
    }
    (void)s;
    return simh_push(h, STEP_OFF, NULL, 0, true);
}

int simh_step_off(struct sim_cluster *c, struct sim_host *h) {
    sim_trace(c, "%s: off command runs (%s, term %" PRIu64 ")", h->name, h->off_id, h->off_term);
    h->off_pending = false;
    for (size_t k = 0; c->o.ha && k < c->hv.h[h->i].n_doms; k++)
        if (c->hv.h[h->i].doms[k].state == SIM_DOM_SHUTOFF)
            c->ha_parked[c->hv.h[h->i].doms[k].vm] = true;
    sim_hv_power_off(&c->hv, c->now_us, h->i);
    /* The shutdown stops the agent with everything else. */
    sim_agent_stop(c, h->i);
    return 0;
}

void simh_migration_ended(struct sim_cluster *c, struct sim_host *h, uint32_t mig) {
    const struct sim_migration *m = sim_hv_migration(&c->hv, mig);
    for (size_t k = 0; k < ACTIONS_MAX; k++) {
        struct action *x = &h->actions[k];
        if (x->used && x->kind == ACT_MIGRATION && x->state == REPORT_RUNNING && !x->orphan &&
            x->mig == mig)
            simh_action_end(c, h, x, m->fail ? REPORT_FAILED : REPORT_SUCCEEDED,
                            m->fail ? "migration failed" : NULL);
    }
}

int sim_agent_operator_drain(struct sim_cluster *c, uint32_t i, uint32_t target, bool drain) {
    struct sim_host *h = c->h[i];
    if (!h->up)
        return 0;
    if (!h->operators && !(h->operators = calloc(1, sizeof *h->operators)))
        return -1;
    /* agent_operator_command: a fresh id, this host's highest known term,
     * this host as issuer, remembered for its grant. */
    struct command cmd = {
        .term = h->disk.fence.highest, .by_operator = true, .kind = COMMAND_DRAIN, .drain = drain};
    snprintf(cmd.id, sizeof cmd.id, "operator-%u-%" PRIu64, h->i + 1, ++h->typed);
    snprintf(cmd.issuer, sizeof cmd.issuer, "%s", h->name);
    simh_name(target, cmd.target, sizeof cmd.target);
    issued_add(h->operators, &cmd, (uint64_t)simh_mono(c, h), 0);
    sim_trace(c, "operator: %s %s on %s (%s)", drain ? "drain" : "undrain", cmd.target, h->name,
              cmd.id);
    struct command_msg m = {.kind = COMMAND_MSG_COMMAND, .command = cmd};
    if (target == i)
        simh_deliver_local(c, h, &m);
    else
        simh_send_command(c, i, target, &m);
    return sim_agent_run(c, i);
}

/* After a sample, as agent_leftovers does: a domain here that a migration
 * its source saw fail left running (host_arrival_check on the sample's
 * view, then on a fresh one just before the destroy; here both are the
 * simulated libvirt at this instant). */
void simh_leftovers(struct sim_cluster *c, struct sim_host *h) {
    struct hv_fresh view;
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    bool any = false;
    for (size_t k = 0; view.available && k < view.n && !any; k++)
        any = view.doms[k].arrival[0] != '\0';
    if (!any)
        return;
    size_t n;
    struct host_arrival_peer *peers = arrival_peers(h, &n);
    if (!peers)
        return;
    for (size_t k = 0; k < view.n; k++) {
        char why[512];
        const struct hv_domain_now *d = &view.doms[k];
        if (host_arrival_check(h->name, d, peers, n, why, sizeof why) != HOST_ARRIVAL_LEFTOVER)
            continue;
        char name[HV_NAME_MAX];
        snprintf(name, sizeof name, "%s", d->name);
        if (sim_hv_destroy(&c->hv, c->now_us, h->i, name))
            sim_trace(c, "%s: %s destroyed: %s", h->name, name, why);
        /* The table changed: the view is read again. */
        sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
        k = (size_t)-1;
    }
    free(peers);
}
