/* The run lease in the agent (docs/ha.md): every host renews it with the
 * leader it knows (src/host/host_fence.c decides when, and what an answer
 * is worth); the leader answers from its HA state (src/leader/ha.c) after a
 * fresh reading of its lease. When the lease lapses or holds again, the
 * agent calls a->fence.on_change, which stops the protected guests
 * (agent_ha.c sets it).
 *
 * The lease's end is kept in the state directory with the boot's id, so
 * that an agent restarted on the same boot still holds what it held: its
 * protected guests need not stop for an upgrade. A value written is never
 * later than the lease it comes from, so what a restart restores is never
 * more than was granted. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"

static void persist(struct agent *a) {
    struct agent_fence *f = &a->fence;
    uint64_t until = host_fence_until(f->lease);
    /* Often enough that a restart loses little of the lease; never later
     * than the lease itself. */
    if (until < f->saved_until + a->cfg.self_fence_timeout_ms / 4)
        return;
    /* The monotonic clock's milliseconds stay far below INT64_MAX. */
    int64_t v = (int64_t)until;
    if (agent_bootfile_write(&f->file, &v, 1) == 0)
        f->saved_until = until;
}

int agent_fence_open(struct agent *a, char *err, size_t errlen) {
    struct agent_fence *f = &a->fence;
    uint64_t now = agent_clock_ms();
    struct host_fence_config hc = {
        .timeout_ms = a->cfg.self_fence_timeout_ms,
        .rho = (double)a->cfg.lease_drift_margin_ms / a->cfg.election_timeout_ms / 2};
    snprintf(hc.self, sizeof hc.self, "%s", a->cfg.node_name);
    agent_bootfile_open(a, &f->file, "run-lease", "run lease",
                        "a restart will stop the protected guests");
    int64_t v;
    enum boot_file_kept kept = agent_bootfile_read(&f->file, &v, 1);
    if (kept == BOOT_FILE_THIS_BOOT && v < 0)
        kept = BOOT_FILE_OUT_OF_RANGE;
    f->saved_until = kept == BOOT_FILE_THIS_BOOT ? (uint64_t)v : 0;
    f->lease = host_fence_new(&hc, f->saved_until, now);
    /* Checked at the agent's start (agent.c). */
    struct gossip_config gc;
    cluster_gossip_config(&a->cfg, &gc);
    struct ha_config c = {.timeout_ms = a->cfg.self_fence_timeout_ms,
                          .margin_ms = a->cfg.fence_margin_ms,
                          .rho = hc.rho,
                          .refute_ms = ha_refute_ms(&gc)};
    f->ha = ha_new(&c);
    prng_seed(&f->rng, now ^ a->cluster.self_id);
    if (!f->lease || !f->ha) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (host_fence_holds(f->lease, now))
        log_info("run lease kept from before the restart: %" PRIu64 " ms left",
                 host_fence_until(f->lease) - now);
    else if (kept == BOOT_FILE_THIS_BOOT)
        log_info("no run lease resumed from %s: the one kept lapsed %" PRIu64
                 " ms before this start", f->file.path, now - f->saved_until);
    else
        agent_bootfile_not_resumed(&f->file, kept);
    return 0;
}

void agent_fence_close(struct agent *a) {
    host_fence_free(a->fence.lease);
    ha_free(a->fence.ha);
    a->fence.lease = NULL;
    a->fence.ha = NULL;
}

bool agent_fence_holds(const struct agent *a) {
    return host_fence_holds(a->fence.lease, agent_clock_ms());
}

/* The leader's HA state follows the election, read fresh. */
static uint64_t observe(struct agent *a, uint64_t now) {
    uint64_t term = 0;
    uint64_t until = leadership_lease_until(a, &term);
    ha_observe(a->fence.ha, term, leadership_is_leader(a) && until > now, now);
    return until;
}

static void on_renewed(struct agent *a, const struct fence_renewed *r, const char *from) {
    struct agent_fence *f = &a->fence;
    enum host_fence_answer ans = host_fence_on_renewed(f->lease, r, from, a->lead.leader,
                                                       a->lead.term, agent_clock_ms());
    if (ans == HOST_FENCE_EXTENDED) {
        /* Only the leader this host follows asks for its term (the
         * renewal's nonce and sender are checked by host_fence_on_renewed). */
        if (r->show_term)
            leadership_show_asked(a);
        persist(a);
    } else if (ans == HOST_FENCE_REVOKED)
        log_warn("run lease revoked by %s: %s", from, r->reason);
    else
        log_debug("run lease answer from %s: %s%s%s", from, host_fence_answer_name(ans),
                  r->reason[0] ? ": " : "", r->reason);
}

/* The leader's answer to `req` from `from`, sent back to reply_to ("":
 * this host asked itself). */
static void answer(struct agent *a, const struct fence_renew *req, const char *from,
                   const char *reply_to) {
    uint64_t until = observe(a, agent_clock_ms());
    struct command_msg m = {.kind = COMMAND_MSG_RENEWED};
    ha_answer(a->fence.ha, req, from, until, agent_clock_ms(), &m.renewed);
    if (!reply_to[0])
        on_renewed(a, &m.renewed, a->cfg.node_name);
    else if (cluster_send_command(a, reply_to, &m) != 0)
        log_debug("run lease of %s: cannot answer at %s", req->host, reply_to);
}

void agent_fence_frame(struct agent *a, const struct command_msg *m, const char *sender,
                       const char *reply_to) {
    if (m->kind == COMMAND_MSG_RENEW)
        answer(a, &m->renew, sender, reply_to);
    else if (m->kind == COMMAND_MSG_RENEWED)
        on_renewed(a, &m->renewed, sender);
}

/* The leader's address, from the election's voters; "" unknown. */
static const char *leader_address(const struct agent *a) {
    const struct leadership *l = &a->lead;
    for (size_t v = 0; l->leader[0] && v < l->n_voters; v++)
        if (strcmp(l->voter_name[v], l->leader) == 0)
            return l->voter_addr[v];
    return "";
}

void agent_fence_run(struct agent *a, uint64_t now) {
    struct agent_fence *f = &a->fence;
    observe(a, now);
    if (host_fence_ask_due(f->lease, now)) {
        struct command_msg m = {.kind = COMMAND_MSG_RENEW};
        /* Asked even with no leader known: the next ask then waits its
         * retry, and the lease simply runs out. */
        host_fence_asked(f->lease, prng_next(&f->rng), agent_clock_ms(), &m.renew);
        const char *to = leader_address(a);
        if (a->lead.leader[0] && strcmp(a->lead.leader, a->cfg.node_name) == 0)
            answer(a, &m.renew, a->cfg.node_name, "");
        else if (to[0] && cluster_send_command(a, to, &m) != 0)
            log_debug("run lease: cannot reach the leader %s at %s", a->lead.leader, to);
    }
    char why[COMMAND_REASON_MAX];
    if (host_fence_lapse_due(f->lease, agent_clock_ms(), why, sizeof why)) {
        f->told_holds = false;
        log_warn("run lease: %s", why);
        if (f->on_change)
            f->on_change(a, false, why);
    } else if (!f->told_holds && agent_fence_holds(a)) {
        f->told_holds = true;
        log_info("run lease held: protected guests may run here");
        if (f->on_change)
            f->on_change(a, true, "the leader renewed the run lease");
    }
}

uint64_t agent_fence_deadline(const struct agent *a) {
    return host_fence_deadline(a->fence.lease, agent_clock_ms());
}
