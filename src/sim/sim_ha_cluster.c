/* `nodesim cluster --ha`: HA restart with fencing on the simulated hosts,
 * around the shipped pure code as the agent runs it:
 *   - the run lease (src/host/host_fence.c) renewed with the leader over the
 *     simulated network, kept on disk across an agent's restart on the same
 *     boot, and its lapse stopping the protected guests (agent_fence.c,
 *     agent_ha.c's on_lease and agent_ha_fence);
 *   - the protected gate and the reconcile of a returning host
 *     (src/host/host_ha.c: host_ha_reconcile, host_ha_view_ready), and the
 *     ready host's look for stale definitions (agent_ha.c's stale_pass);
 *   - the leader's HA round (src/leader/ha.c: ha_observe, ha_answer,
 *     ha_update, ha_bmc_due, ha_bmc_result, ha_restarts, ha_restart_sent),
 *     each restart a COMMAND_DEFINE with start issued through the shipped
 *     executor (executor_issue), so the lease check before the send, the
 *     grant, the host guard and the target's last check apply as to every
 *     command (agent_ha_leader.c);
 *   - the BMC: ipmitool's power off then status, the chassis going off
 *     0.5-3.5 s after the power off (so the power-wait's reads matter), a
 *     quarter of the BMCs broken (no answer);
 *   - the watchdog (agent_ha.c's watchdog_run, host_ha_watchdog_pet) on half
 *     the hosts: a host whose agent stops petting it for its timeout resets.
 * What is not the agent's: the definitions are not replicated (the leader
 * builds a VM's XML from the simulation's table, as if ha_defs held the
 * latest copy), and libvirt's define and start are the simulated
 * hypervisor's (sim_hv.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/domain_xml.h"
#include "host/host_fence.h"
#include "host/host_ha.h"
#include "leader/ha.h"
#include "leader/leader_snapshot.h"
#include "sim_agent.h"

#define SELF_FENCE_MS 30000 /* [ha] self_fence_timeout's default */
#define FENCE_MARGIN_MS 5000 /* [ha] fence_margin's default */
#define WATCHDOG_MS 10000    /* [ha] watchdog_timeout's default */
#define HA_ROUND_MS 1000
#define HA_ROUND_RESTARTS 16
#define HA_RETRY_MS 500u
#define HA_LEASE_WAIT_MS 2000u
#define HA_STALE_MS 2000u
#define STARTS_MAX 8
#define TICK_US 500000

struct pending_start {
    bool used;
    char vm[COMMAND_VM_MAX];
    char id[COMMAND_ID_MAX];
    int64_t at_ms;
};

struct simha {
    /* agent_fence.c */
    struct host_fence *lease;
    struct ha *ha;
    struct prng rng;
    bool told_holds;
    uint64_t saved_until;
    /* The leader as this host knows it (the election's, or followed from
     * the voters' records by a host that does not vote). */
    char leader[COMMAND_NAME_MAX];
    uint64_t leader_term;
    /* agent_ha.c */
    enum host_ha_state state;
    bool fence_clean;
    int64_t next_try_ms, next_stale_ms;
    struct host_ha_ran ran;
    /* agent_ha_leader.c */
    int64_t next_round_ms;
    char last_why[400];
    bool bmc_busy;
    char bmc_host[COMMAND_NAME_MAX];
    enum ha_bmc_step bmc_step;
    int64_t bmc_done_ms;
    /* The definitions' thread: starts due (hv_define_start). */
    struct pending_start starts[STARTS_MAX];
};

/* Per host, beyond any agent's life: the watchdog device. */
struct wd {
    bool present, armed;
    int64_t pet_us;
};
static struct wd *wds(struct sim_cluster *c) { return (struct wd *)c->ha_wd; }

static void set_ready(struct sim_cluster *c, struct sim_host *h, enum host_ha_state s) {
    h->ha->state = s;
    sim_hv_set_ha_ready(&c->hv, h->i, s == HOST_HA_READY);
}

/* ---- the leader as this host knows it ---- */

static void follow(struct sim_cluster *c, struct sim_host *h) {
    struct simha *x = h->ha;
    if (h->e) {
        char leader[COMMAND_NAME_MAX];
        struct executor_lease l = simh_lease_now(c, h, leader, sizeof leader);
        snprintf(x->leader, sizeof x->leader, "%s", leader);
        x->leader_term = l.term;
        return;
    }
    /* agent_election.c's follow_records: the leader a quorum of the voters'
     * records name at the highest term they agree on. */
    uint64_t term[ELECTION_VOTERS_MAX] = {0};
    const char *name[ELECTION_VOTERS_MAX] = {0};
    for (uint32_t v = 0; v < c->o.candidates; v++) {
        struct gossip_member_info m;
        const Nodectl__HostRecord *r =
            gossip_member_find(h->g, v + 1, &m) ? simh_cached(h, &m) : NULL;
        if (r && r->leader && r->leader[0]) {
            term[v] = r->term;
            name[v] = r->leader;
        }
    }
    size_t quorum = c->o.candidates / 2 + 1, best = SIZE_MAX;
    for (size_t i = 0; i < c->o.candidates; i++) {
        if (!name[i] || (best != SIZE_MAX && term[i] <= term[best]))
            continue;
        size_t agree = 0;
        for (size_t k = 0; k < c->o.candidates; k++)
            agree += name[k] && term[k] == term[i] && strcmp(name[k], name[i]) == 0;
        if (agree >= quorum)
            best = i;
    }
    if (best == SIZE_MAX || term[best] < x->leader_term)
        return;
    x->leader_term = term[best];
    snprintf(x->leader, sizeof x->leader, "%s", name[best]);
}

/* ---- the host's side: agent_ha.c ---- */

static bool protected_running(struct sim_cluster *c, const struct sim_host *h) {
    if (h->ha->state == HOST_HA_FENCED && h->ha->fence_clean)
        return false;
    return sim_hv_protected_active(&c->hv, h->i);
}

/* agent_ha.c's fence_destroy: every protected guest running here
 * destroyed; a retry (`again`) is traced only when libvirt answered. */
static void fence_destroy(struct sim_cluster *c, struct sim_host *h, const char *why,
                          bool again) {
    struct hv_fresh view;
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    bool clean = view.available;
    size_t n = 0;
    for (size_t k = 0; view.available && k < view.n; k++) {
        const struct hv_domain_now *d = &view.doms[k];
        uint32_t v = (uint32_t)d->uuid[0] | (uint32_t)d->uuid[1] << 8;
        if (!d->active || v >= c->hv.n_vms || !c->hv.vm[v].ha)
            continue;
        char name[HV_NAME_MAX];
        snprintf(name, sizeof name, "%s", d->name);
        if (sim_hv_stop(&c->hv, c->now_us, h->i, name))
            n++;
        else
            clean = false;
    }
    /* libvirt did not confirm: the QEMU processes of the protected
     * domains are killed from its status files, their end confirmed by
     * the next look, 0.5 s later (agent_ha.c's fence_destroy,
     * agent_ha_kill_protected). */
    if (!clean) {
        size_t k = sim_hv_kill_protected(&c->hv, c->now_us, h->i);
        clean = k == 0;
        n += k;
        c->ha_killed += k;
    }
    h->ha->fence_clean = clean;
    c->ha_destroyed += n;
    if (again) {
        if (clean)
            sim_trace(c, "%s: self-fence: every protected VM stopped now (%zu more)", h->name,
                      n);
    } else {
        c->ha_self_fences++;
        sim_trace(c, "%s: self-fence: %s: %zu protected VM(s) destroyed%s", h->name, why, n,
                  view.available ? "" : ", their QEMU killed: libvirt did not answer");
    }
    if (!again || n)
        simh_publish(c, h); /* libvirt's lifecycle events: the agent samples */
}

/* agent_ha_fence: the gate first, then every protected guest destroyed. */
static void self_fence(struct sim_cluster *c, struct sim_host *h, const char *why) {
    set_ready(c, h, HOST_HA_FENCED);
    h->ha->next_try_ms = simh_mono(c, h) + (int64_t)HA_RETRY_MS;
    fence_destroy(c, h, why, false);
}

static void on_lease(struct sim_cluster *c, struct sim_host *h, bool holds, const char *why) {
    struct simha *x = h->ha;
    if (!holds && (x->state == HOST_HA_READY || protected_running(c, h))) {
        self_fence(c, h, why);
        return;
    }
    if (!holds || x->state != HOST_HA_FENCED)
        return;
    x->next_try_ms = 0;
    set_ready(c, h, HOST_HA_RECONCILING);
}

void simha_sampled(struct sim_cluster *c, struct sim_host *h) {
    struct simha *x = h->ha;
    if (!x)
        return;
    struct hv_fresh view;
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    if (!view.available)
        return;
    uint64_t now = simh_stamp(c, h);
    host_ha_ran_begin(&x->ran);
    for (size_t i = 0; i < view.n; i++) {
        uint32_t v = (uint32_t)view.doms[i].uuid[0] | (uint32_t)view.doms[i].uuid[1] << 8;
        if (v < c->hv.n_vms && c->hv.vm[v].ha && view.doms[i].active)
            host_ha_ran_seen(&x->ran, view.doms[i].uuid, now);
    }
    host_ha_ran_end(&x->ran, now);
}

struct cluster_view {
    struct host_ha_view view;
    struct host_ha_copy *copies;
    size_t n_copies;
};

/* agent_ha.c's cluster_collect: the live hosts' records and the copies of
 * VMs they show (borrowed from the cache: valid within this step). */
static int cluster_collect(struct sim_cluster *c, struct sim_host *h, struct cluster_view *cv) {
    memset(cv, 0, sizeof *cv);
    struct simha *x = h->ha;
    if (strcmp(x->leader, h->name) == 0) {
        char l[COMMAND_NAME_MAX];
        cv->view.leader_known = simh_lease_now(c, h, l, sizeof l).lease_until > 0;
    } else if (x->leader[0]) {
        uint32_t j = sim_host_index(c, x->leader);
        struct gossip_member_info m;
        const Nodectl__HostRecord *r =
            j != UINT32_MAX && gossip_member_find(h->g, j + 1, &m) ? simh_cached(h, &m) : NULL;
        cv->view.leader_known = r && r->lease;
    }
    size_t n = gossip_member_count(h->g), total = 0;
    const Nodectl__HostRecord **recs = calloc(n ? n : 1, sizeof *recs);
    if (!recs)
        return -1;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(h->g, i, &m);
        if (m.id == h->i + 1U || (m.state != GOSSIP_ALIVE && m.state != GOSSIP_SUSPECT))
            continue;
        cv->view.alive++;
        const Nodectl__HostRecord *r = simh_cached(h, &m);
        if (!r)
            continue;
        cv->view.alive_with_record++;
        recs[nr++] = r;
        total += r->n_vms;
    }
    cv->copies = calloc(total ? total : 1, sizeof *cv->copies);
    Nodectl__HostRecord *self = simh_self_record(c, h);
    if (!cv->copies || !self) {
        free(cv->copies);
        free(recs);
        if (self)
            protobuf_c_message_free_unpacked(&self->base, NULL);
        return -1;
    }
    for (size_t i = 0; i < nr; i++)
        for (size_t k = 0; k < recs[i]->n_vms; k++) {
            const Nodectl__Vm *vm = recs[i]->vms[k];
            struct host_ha_copy *cp = &cv->copies[cv->n_copies];
            if (vm->uuid.len != sizeof cp->uuid)
                continue;
            cp->host = recs[i]->name;
            memcpy(cp->uuid, vm->uuid.data, sizeof cp->uuid);
            cp->state = host_record_vm_state(vm->state);
            cp->sampled_at_ms = recs[i]->sampled_at_ms;
            cp->leaving = host_ha_record_migrates(recs[i], vm->name);
            cp->leftover = host_ha_record_failed_to(self, vm->name, cp->host);
            cv->n_copies++;
        }
    protobuf_c_message_free_unpacked(&self->base, NULL);
    free(recs);
    return 0;
}

/* Acts on a verdict for a domain here; false when libvirt refused. */
static bool settle(struct sim_cluster *c, struct sim_host *h, const struct hv_domain_now *d,
                   enum host_ha_verdict v, const char *why) {
    char name[HV_NAME_MAX];
    snprintf(name, sizeof name, "%s", d->name);
    if (v == HOST_HA_KEEP)
        return true;
    if (v == HOST_HA_DESTROY) {
        if (!sim_hv_stop(&c->hv, c->now_us, h->i, name))
            return false;
        c->ha_destroyed++;
        sim_trace(c, "%s: reconcile: %s destroyed here: %s", h->name, name, why);
    }
    if (!sim_hv_undefine(&c->hv, h->i, name))
        return false;
    c->ha_reconcile_undefined++;
    sim_trace(c, "%s: %s undefined here: %s", h->name, name, why);
    simh_publish(c, h);
    return true;
}

static bool sample_protected(const struct sim_cluster *c, const struct hv_domain_now *d) {
    uint32_t v = (uint32_t)d->uuid[0] | (uint32_t)d->uuid[1] << 8;
    return v < c->hv.n_vms && c->hv.vm[v].ha;
}

static void stale_pass(struct sim_cluster *c, struct sim_host *h, int64_t now) {
    struct simha *x = h->ha;
    if (now < x->next_stale_ms)
        return;
    x->next_stale_ms = now + HA_STALE_MS;
    struct hv_fresh view;
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    bool any = false;
    for (size_t i = 0; view.available && i < view.n && !any; i++)
        any = sample_protected(c, &view.doms[i]) && view.doms[i].state == HV_VM_SHUTOFF;
    struct cluster_view cv;
    if (!any || cluster_collect(c, h, &cv) != 0)
        return;
    for (size_t i = 0; i < view.n; i++) {
        struct hv_domain_now d = view.doms[i];
        if (!sample_protected(c, &d) || d.state != HV_VM_SHUTOFF)
            continue;
        char why[HV_REASON_MAX + 64];
        if (host_ha_reconcile(&d, &x->ran, cv.copies, cv.n_copies, why, sizeof why) ==
            HOST_HA_UNDEFINE)
            settle(c, h, &d, HOST_HA_UNDEFINE, why);
    }
    free(cv.copies);
}

static void reconcile_run(struct sim_cluster *c, struct sim_host *h, int64_t now) {
    struct simha *x = h->ha;
    if (x->state == HOST_HA_FENCED && !x->fence_clean && now >= x->next_try_ms) {
        x->next_try_ms = now + (int64_t)HA_RETRY_MS;
        fence_destroy(c, h, "", true);
    }
    if (x->state == HOST_HA_READY)
        stale_pass(c, h, now);
    if (x->state != HOST_HA_RECONCILING || now < x->next_try_ms)
        return;
    struct cluster_view cv;
    if (cluster_collect(c, h, &cv) != 0) {
        c->violations++;
        return;
    }
    struct hv_fresh view;
    sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
    cv.view.hv_fresh = view.available;
    char why[256];
    if (!host_ha_view_ready(&cv.view, why, sizeof why)) {
        free(cv.copies);
        x->next_try_ms = now + HA_RETRY_MS;
        return;
    }
    bool ok = true;
    for (size_t i = 0; i < view.n; i++) {
        struct hv_domain_now d = view.doms[i];
        if (!sample_protected(c, &d))
            continue;
        char vwhy[HV_REASON_MAX + 64];
        enum host_ha_verdict v =
            host_ha_reconcile(&d, &x->ran, cv.copies, cv.n_copies, vwhy, sizeof vwhy);
        ok &= settle(c, h, &d, v, vwhy);
        /* The table may have changed under the view: read it again. */
        if (v != HOST_HA_KEEP) {
            sim_hv_fresh(&c->hv, h->i, &view, c->doms_scratch);
            i = (size_t)-1;
        }
    }
    free(cv.copies);
    if (!ok) {
        x->next_try_ms = now + HA_RETRY_MS;
        return;
    }
    if (!host_fence_holds(x->lease, (uint64_t)now)) {
        x->next_try_ms = now + HA_LEASE_WAIT_MS;
        return;
    }
    set_ready(c, h, HOST_HA_READY);
    sim_trace(c, "%s: reconciled: protected gate ready", h->name);
}

/* ---- the run lease: agent_fence.c ---- */

static void observe(struct sim_cluster *c, struct sim_host *h, uint64_t *until) {
    char leader[COMMAND_NAME_MAX];
    struct executor_lease l = simh_lease_now(c, h, leader, sizeof leader);
    uint64_t now = (uint64_t)simh_mono(c, h);
    bool leading = strcmp(leader, h->name) == 0 && l.lease_until > now;
    ha_observe(h->ha->ha, l.term, leading, now);
    *until = l.lease_until;
}

static void persist(const struct sim_cluster *c, struct sim_host *h) {
    struct simha *x = h->ha;
    uint64_t until = host_fence_until(x->lease);
    if (until < x->saved_until + SELF_FENCE_MS / 4)
        return;
    int64_t v = (int64_t)until;
    simh_bootfile_keep(c, h, h->disk.run_lease, &v, 1);
    x->saved_until = until;
}

static void on_renewed(struct sim_cluster *c, struct sim_host *h, const struct fence_renewed *r,
                       const char *from) {
    struct simha *x = h->ha;
    follow(c, h);
    enum host_fence_answer a = host_fence_on_renewed(x->lease, r, from, x->leader, x->leader_term,
                                                     (uint64_t)simh_mono(c, h));
    if (r->show_term && a == HOST_FENCE_EXTENDED && !h->e &&
        h->shown_term != h->disk.fence.highest) {
        h->shown_term = h->disk.fence.highest;
        simh_publish(c, h);
    }
    if (a == HOST_FENCE_EXTENDED)
        persist(c, h);
    else if (a == HOST_FENCE_REVOKED)
        sim_trace(c, "%s: run lease revoked by %s: %s", h->name, from, r->reason);
}

static void answer(struct sim_cluster *c, struct sim_host *h, const struct fence_renew *req,
                   const char *from, uint32_t reply_to) {
    uint64_t until;
    observe(c, h, &until);
    struct command_msg m = {.kind = COMMAND_MSG_RENEWED};
    ha_answer(h->ha->ha, req, from, until, (uint64_t)simh_mono(c, h), &m.renewed);
    if (reply_to == h->i)
        on_renewed(c, h, &m.renewed, h->name);
    else
        simh_send_command(c, h->i, reply_to, &m);
}

void simha_frame(struct sim_cluster *c, struct sim_host *h, uint32_t from,
                 const struct command_msg *m) {
    if (!h->ha)
        return;
    char sender[COMMAND_NAME_MAX];
    simh_name(from, sender, sizeof sender);
    if (m->kind == COMMAND_MSG_RENEW)
        answer(c, h, &m->renew, sender, from);
    else if (m->kind == COMMAND_MSG_RENEWED)
        on_renewed(c, h, &m->renewed, sender);
}

static void fence_run(struct sim_cluster *c, struct sim_host *h) {
    struct simha *x = h->ha;
    uint64_t until, now = (uint64_t)simh_mono(c, h);
    observe(c, h, &until);
    follow(c, h);
    if (host_fence_ask_due(x->lease, now)) {
        struct command_msg m = {.kind = COMMAND_MSG_RENEW};
        host_fence_asked(x->lease, prng_next(&x->rng), now, &m.renew);
        uint32_t to = x->leader[0] ? sim_host_index(c, x->leader) : UINT32_MAX;
        if (to == h->i)
            answer(c, h, &m.renew, h->name, h->i);
        else if (to != UINT32_MAX)
            simh_send_command(c, h->i, to, &m);
    }
    char why[COMMAND_REASON_MAX];
    if (host_fence_lapse_due(x->lease, (uint64_t)simh_mono(c, h), why, sizeof why)) {
        x->told_holds = false;
        sim_trace(c, "%s: run lease: %s", h->name, why);
        on_lease(c, h, false, why);
    } else if (!x->told_holds && host_fence_holds(x->lease, (uint64_t)simh_mono(c, h))) {
        x->told_holds = true;
        on_lease(c, h, true, "the leader renewed the run lease");
    }
}

/* ---- the target's define and start (agent_define, hv_define_start) ---- */

static void define_end(struct sim_cluster *c, struct sim_host *h, const char *id,
                       enum report_state st, const char *why) {
    struct action *a = simh_action_find(h, id);
    if (a && a->state == REPORT_RUNNING)
        simh_action_end(c, h, a, st, why);
    simh_publish(c, h);
}

void simha_define(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                  uint64_t deadline) {
    struct action *a = simh_action_new(c, h, cmd, ACT_DEFINE);
    if (!a)
        return;
    char err[COMMAND_REASON_MAX] = "";
    char *xml = malloc(COMMAND_XML_MAX);
    size_t len;
    struct domain_spec d;
    if (!xml) {
        snprintf(err, sizeof err, "out of memory");
    } else if (cmd->define.in_place) {
        /* A restart in place: the domain defined here is started. */
        if ((uint64_t)simh_mono(c, h) >= deadline)
            snprintf(err, sizeof err, "the grant's deadline passed");
        else if (h->off_pending)
            snprintf(err, sizeof err, "this host is powering off");
    } else if (h->disk.drain) {
        snprintf(err, sizeof err, "this host is drained: it takes no new VM");
    } else if (h->off_pending) {
        snprintf(err, sizeof err, "this host is powering off");
    } else if (domain_xml_inflate(cmd->define.xmlz, cmd->define.xmlz_len, xml, &len, err,
                                  sizeof err) != 0 ||
               domain_xml_parse(xml, len, &d, err, sizeof err) != 0) {
    } else if (strcmp(d.name, cmd->define.name) != 0) {
        snprintf(err, sizeof err, "the XML names another VM");
    } else if ((uint64_t)simh_mono(c, h) >= deadline) {
        snprintf(err, sizeof err, "the grant's deadline passed");
    } else if (sim_hv_define(&c->hv, h->i, d.name, err, sizeof err)) {
        err[0] = '\0';
    }
    free(xml);
    if (err[0]) {
        define_end(c, h, cmd->id, REPORT_REFUSED, err);
        return;
    }
    if (!cmd->define.in_place)
        sim_trace(c, "%s: %s defined (command %s)", h->name, cmd->define.name, cmd->id);
    if (!cmd->define.start) {
        define_end(c, h, cmd->id, REPORT_SUCCEEDED, NULL);
        return;
    }
    /* libvirt's create follows its define in the thread, 50-1550 ms later:
     * records in between show the VM defined and shut off. */
    for (size_t k = 0; k < STARTS_MAX; k++) {
        struct pending_start *p = &h->ha->starts[k];
        if (p->used)
            continue;
        *p = (struct pending_start){.used = true,
                                    .at_ms = simh_mono(c, h) + 50 +
                                             (int64_t)prng_below(&h->ha->rng, 1500)};
        snprintf(p->vm, sizeof p->vm, "%s", cmd->define.name);
        snprintf(p->id, sizeof p->id, "%s", cmd->id);
        simh_publish(c, h);
        return;
    }
    define_end(c, h, cmd->id, REPORT_FAILED, "too many definitions run");
}

static void starts_run(struct sim_cluster *c, struct sim_host *h, int64_t now) {
    for (size_t k = 0; k < STARTS_MAX; k++) {
        struct pending_start *p = &h->ha->starts[k];
        if (!p->used || now < p->at_ms)
            continue;
        p->used = false;
        char err[COMMAND_REASON_MAX];
        if (sim_hv_start(&c->hv, c->now_us, h->i, p->vm, err, sizeof err)) {
            sim_trace(c, "%s: %s started (command %s)", h->name, p->vm, p->id);
            define_end(c, h, p->id, REPORT_SUCCEEDED, NULL);
        } else {
            sim_trace(c, "%s: %s not started (command %s): %s", h->name, p->vm, p->id, err);
            define_end(c, h, p->id, REPORT_FAILED, err);
        }
    }
}

/* ---- the leader's round: agent_ha_leader.c ---- */

static int by_name(const void *pa, const void *pb) {
    const struct executor_member *a = pa, *b = pb;
    return strcmp(a->rec->name, b->rec->name);
}

/* The VM's definition as the leader would hold it (not replicated here:
 * built from the simulation's table). */
static int vm_xml(const struct sim_cluster *c, uint32_t v, char *out, size_t len) {
    const struct sim_vm *vm = &c->hv.vm[v];
    int n = snprintf(out, len,
                     "<domain type='kvm'><name>%s</name>"
                     "<uuid>%02x%02x0000-0000-0000-0000-000000000000</uuid>"
                     "<memory unit='KiB'>%" PRIu64 "</memory><vcpu>%u</vcpu><metadata>"
                     "<nodectl:placement xmlns:nodectl=\"https://nodectl.example/xmlns/placement/1\""
                     " ha=\"yes\" ha_priority=\"%u\"/></metadata></domain>",
                     vm->name, v & 0xff, (v >> 8) & 0xff, vm->mem_mb * 1024, vm->vcpus,
                     vm->ha_priority);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static uint32_t vm_index(const struct sim_cluster *c, const char *name) {
    if (strncmp(name, "vm", 2) != 0)
        return UINT32_MAX;
    uint32_t v = (uint32_t)strtoul(name + 2, NULL, 10);
    return v < c->hv.n_vms ? v : UINT32_MAX;
}

/* agent_ha_leader.c's restart(): placed as nodectl create places (most
 * free, never where the VM is defined, never a fenced or off host), then a
 * define-and-start command of this term through the executor. */
static bool restart(struct sim_cluster *c, struct sim_host *h, struct leader_snapshot *s,
                    const struct ha_restart *r) {
    uint32_t v = vm_index(c, r->vm);
    if (r->in_place && v != UINT32_MAX) {
        /* agent_ha_leader.c's restart_in_place: a define in place on its
         * host, which shows it stopped. */
        struct command cmd = {.kind = COMMAND_DEFINE};
        snprintf(cmd.define.name, sizeof cmd.define.name, "%s", r->vm);
        cmd.define.start = cmd.define.in_place = true;
        uint64_t now = (uint64_t)simh_mono(c, h);
        if (!executor_issue(h->ex, &cmd, r->from, r->from, strcmp(r->from, h->name) == 0, now))
            return false;
        ha_restart_sent(h->ha->ha, r, r->from, cmd.id, now);
        c->ha_no_room[v] = c->ha_parked[v] = false;
        c->ha_restarts++;
        sim_trace(c, "%s: HA: restarting %s in place on %s (command %s, term %" PRIu64 "): %s",
                  h->name, r->vm, r->from, cmd.id, cmd.term, ha_evidence_name(r->evidence));
        return true;
    }
    char xml[1024], why[256];
    struct domain_spec d;
    if (v == UINT32_MAX || vm_xml(c, v, xml, sizeof xml) != 0 ||
        domain_xml_parse(xml, strlen(xml), &d, why, sizeof why) != 0) {
        c->violations++;
        return false;
    }
    unsigned saved[1024];
    size_t nh = s->snap.n_hosts < 1024 ? s->snap.n_hosts : 1024;
    double core_mips = 0;
    for (size_t i = 0; i < nh; i++) {
        saved[i] = s->hosts[i].flags;
        for (size_t k = 0; k < s->host_rec[i]->n_vms; k++)
            if (strcmp(s->host_rec[i]->vms[k]->name, r->vm) == 0)
                s->hosts[i].flags |= PLACEMENT_HOST_FAILED;
        s->hosts[i].flags &= ~(unsigned)PLACEMENT_HOST_NO_INBOUND;
        if (!(s->hosts[i].flags & PLACEMENT_HOST_FAILED) &&
            (!core_mips || s->hosts[i].core_mips < core_mips))
            core_mips = s->hosts[i].core_mips;
    }
    static const double full = 1;
    struct placement_vm pv = {.vcpus = d.vcpus,
                              .mips = d.vcpus * (core_mips ? core_mips : 1000),
                              .mem_mb = (d.memory_kib + 1023) / 1024,
                              .history = &full,
                              .history_len = 1,
                              .last_migrated_at = -1e300};
    pv.cpu_mips = pv.mips;
    struct placement_initial_weights w = {0.25, 0.25, 0.25, 0.25};
    uint32_t cursor = 0;
    int t = placement_initial(&s->snap, &c->policy, &pv, PLACEMENT_INITIAL_MOST_FREE, &w, NULL,
                              &cursor, &h->rng);
    for (size_t i = 0; i < nh; i++)
        s->hosts[i].flags = saved[i];
    const Nodectl__HostRecord *host = t >= 0 ? s->host_rec[t] : NULL;
    if (host && ha_fencing(h->ha->ha, host->name))
        host = NULL;
    /* An off host is picked only when no running one has room: woken for
     * the restart, the define follows once it is alive. */
    bool wake = host && s->snap.hosts[t].power_state == PLACEMENT_HOST_OFF;
    if (!host) {
        if (!c->ha_no_room[v])
            sim_trace(c, "%s: HA: %s (from %s) not restarted: no running host can take it",
                      h->name, r->vm, r->from);
        c->ha_no_room[v] = true;
        return false;
    }
    c->ha_no_room[v] = false;
    if (!executor_create_clear(h->ex, r->vm, simh_stamp(c, h), why, sizeof why)) {
        sim_trace(c, "%s: HA: %s (from %s) not restarted: %s", h->name, r->vm, r->from, why);
        return false;
    }
    struct command cmd = {.kind = COMMAND_DEFINE};
    snprintf(cmd.define.name, sizeof cmd.define.name, "%s", r->vm);
    if (domain_xml_deflate(xml, strlen(xml), cmd.define.xmlz, &cmd.define.xmlz_len, why,
                           sizeof why) != 0) {
        c->violations++;
        return false;
    }
    cmd.define.start = true;
    uint64_t now = (uint64_t)simh_mono(c, h);
    bool local = strcmp(host->name, h->name) == 0;
    if (wake && !executor_ha_after_wake(h->ex, &cmd, host->name, now, simh_stamp(c, h), why,
                                        sizeof why)) {
        sim_trace(c, "%s: HA: %s (from %s) not restarted: the only host with room, %s, is off "
                  "and not woken: %s", h->name, r->vm, r->from, host->name, why);
        return false;
    }
    if (!wake && !executor_issue(h->ex, &cmd, host->name, host->name, local, now)) {
        sim_trace(c, "%s: HA: %s (from %s) not restarted: no lease to send the command under",
                  h->name, r->vm, r->from);
        return false;
    }
    bool kept = wake ? ha_restart_waking(h->ha->ha, r, host->name, cmd.id, now,
                                         POWER_ON_TIMEOUT_MS)
                     : ha_restart_sent(h->ha->ha, r, host->name, cmd.id, now);
    if (!kept) {
        executor_revoke(h->ex, cmd.id, simh_stamp(c, h));
        return false;
    }
    c->ha_parked[v] = false;
    uint64_t mb = (d.memory_kib + 1023) / 1024;
    s->hosts[t].mem_mb = s->hosts[t].mem_mb > mb ? s->hosts[t].mem_mb - mb : 0;
    c->ha_restarts++;
    sim_trace(c, "%s: HA: restarting %s from %s on %s%s (command %s, term %" PRIu64 "): %s",
              h->name, r->vm, r->from, host->name, wake ? ", woken for it" : "", cmd.id, cmd.term,
              ha_evidence_name(r->evidence));
    return true;
}

static void bmc_poll(struct sim_cluster *c, struct sim_host *h, int64_t now) {
    struct simha *x = h->ha;
    if (!x->bmc_busy || now < x->bmc_done_ms)
        return;
    x->bmc_busy = false;
    uint32_t j = sim_host_index(c, x->bmc_host);
    enum ha_bmc_read read = HA_BMC_READ_NO_ANSWER;
    if (j != UINT32_MAX && c->bmc[j] == 1)
        read = c->hv.h[j].power == SIM_POWER_OFF ? HA_BMC_READ_OFF : HA_BMC_READ_ON;
    c->ha_bmc_reads++;
    ha_bmc_result(x->ha, x->bmc_host, read, (uint64_t)simh_mono(c, h));
    if (read == HA_BMC_READ_OFF) {
        sim_trace(c, "%s: HA: %s's BMC confirmed it off: fenced", h->name, x->bmc_host);
        x->next_round_ms = now;
    }
}

static void bmc_start(struct sim_cluster *c, struct sim_host *h, const char *host,
                      enum ha_bmc_step step) {
    struct simha *x = h->ha;
    uint32_t j = sim_host_index(c, host);
    x->bmc_busy = true;
    x->bmc_step = step;
    snprintf(x->bmc_host, sizeof x->bmc_host, "%s", host);
    /* ipmitool: 0.2-1.5 s for the power off and the status read. */
    x->bmc_done_ms = simh_mono(c, h) + 200 + (int64_t)prng_below(&x->rng, 1300);
    if (step != HA_BMC_POWER_OFF)
        return;
    sim_trace(c, "%s: HA: fencing %s through its BMC (%s)", h->name, host,
              j != UINT32_MAX && c->bmc[j] == 1 ? "works" : "broken");
    if (j == UINT32_MAX || c->bmc[j] != 1 || c->hv.h[j].power == SIM_POWER_OFF)
        return;
    /* The chassis goes off 0.5-3.5 s after the power off, often after the
     * status read that follows it. */
    struct sim_event ev = {.t_us = c->now_us + 500000 + (int64_t)prng_below(&x->rng, 3000000),
                           .kind = EV_CHASSIS,
                           .node = j};
    if (sim_heap_push(&c->net.heap, &ev) != 0)
        c->violations++;
}

/* Whether a and b differ only in their digits. */
static bool same_but_numbers(const char *a, const char *b) {
    for (;; a++, b++) {
        a += strspn(a, "0123456789");
        b += strspn(b, "0123456789");
        if (*a != *b)
            return false;
        if (!*a)
            return true;
    }
}

static int round_(struct sim_cluster *c, struct sim_host *h, uint64_t now) {
    struct simha *x = h->ha;
    struct executor_member *m;
    size_t n, self_at;
    if (simh_members_collect(c, h, false, &m, &n, &self_at) != 0)
        return -1;
    /* A restart waiting for its host to wake whose create ended before
     * its define left is over (agent_ha_leader.c). */
    const char *wid;
    for (size_t i = 0; (wid = ha_waking_at(x->ha, i)); i++)
        if (executor_create_unsent(h->ex, wid))
            ha_restart_gave_up(x->ha, wid, now);
    struct ha_change ch[16];
    size_t k = ha_update(x->ha, m, n, now, ch, 16);
    for (size_t i = 0; i < k; i++) {
        if (ch[i].kind == HA_EXPIRED || ch[i].kind == HA_LOST)
            executor_revoke(h->ex, ch[i].id, simh_stamp(c, h));
        sim_trace(c, "%s: HA: %s %s%s%s", h->name,
                  ch[i].kind == HA_FENCED     ? "fenced"
                  : ch[i].kind == HA_RELEASED ? "released"
                  : ch[i].kind == HA_LOST     ? "restart lost with"
                                              : "restart expired on",
                  ch[i].host, ch[i].vm[0] ? " of " : "", ch[i].vm);
    }
    char host[COMMAND_NAME_MAX];
    enum ha_bmc_step step;
    if (!x->bmc_busy && ha_bmc_due(x->ha, m, n, now, host, sizeof host, &step))
        bmc_start(c, h, host, step);
    struct ha_restart rs[HA_ROUND_RESTARTS];
    char why[400];
    size_t nr = ha_restarts(x->ha, m, n, now, rs, HA_ROUND_RESTARTS, why, sizeof why);
    /* What holds restarts back, said once per change (numbers aside, as
     * agent_ha_leader.c says it). */
    if (!same_but_numbers(why, x->last_why)) {
        if (why[0])
            sim_trace(c, "%s: HA: nothing restarted: %s", h->name, why);
        snprintf(x->last_why, sizeof x->last_why, "%s", why);
    }
    size_t done = 0;
    if (nr) {
        /* agent_create_snapshot: the members by name, the planner's view. */
        qsort(m, n, sizeof *m, by_name);
        struct leader_snapshot s;
        if (executor_snapshot(h->ex, m, n, simh_stamp(c, h), &s) != 0) {
            simh_members_free(m, n, false, SIZE_MAX);
            return -1;
        }
        for (size_t i = 0; i < nr; i++)
            done += restart(c, h, &s, &rs[i]);
        leader_snapshot_free(&s);
    }
    /* After the sort self_at is stale: free the one record we own by name. */
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].rec->name, h->name) == 0)
            self_at = i;
    simh_members_free(m, n, false, self_at);
    if (done) {
        if (simh_dispatch(c, h) != 0)
            return -1;
        return sim_faults_restart_sent(c, h->i);
    }
    return 0;
}

/* ---- the step ---- */

int simha_step(struct sim_cluster *c, struct sim_host *h) {
    struct simha *x = h->ha;
    int64_t now = simh_mono(c, h);
    fence_run(c, h);
    reconcile_run(c, h, now);
    starts_run(c, h, now);
    bmc_poll(c, h, now);
    if (!executor_leading(h->ex) || now < x->next_round_ms)
        return 0;
    x->next_round_ms = now + HA_ROUND_MS;
    return round_(c, h, (uint64_t)now);
}

int64_t simha_deadline(const struct sim_cluster *c, const struct sim_host *h) {
    const struct simha *x = h->ha;
    if (!x)
        return INT64_MAX;
    int64_t now = simh_mono(c, h);
    int64_t d = (int64_t)host_fence_deadline(x->lease, (uint64_t)now);
    bool retry = x->state == HOST_HA_RECONCILING ||
                 (x->state == HOST_HA_FENCED && !x->fence_clean);
    if (retry && x->next_try_ms < d)
        d = x->next_try_ms;
    if (x->state == HOST_HA_READY && x->next_stale_ms < d)
        d = x->next_stale_ms;
    if (!x->told_holds && host_fence_holds(x->lease, (uint64_t)now))
        d = now;
    for (size_t k = 0; k < STARTS_MAX; k++)
        if (x->starts[k].used && x->starts[k].at_ms < d)
            d = x->starts[k].at_ms;
    if (x->bmc_busy && x->bmc_done_ms < d)
        d = x->bmc_done_ms;
    if (executor_leading(h->ex) && x->next_round_ms < d)
        d = x->next_round_ms;
    return d;
}

int simha_start(struct sim_cluster *c, struct sim_host *h) {
    if (!c->o.ha)
        return 0;
    struct simha *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    h->ha = x;
    host_ha_ran_init(&x->ran, simh_stamp(c, h));
    uint64_t now = (uint64_t)simh_mono(c, h);
    struct host_fence_config fc = {.timeout_ms = SELF_FENCE_MS, .rho = RHO};
    snprintf(fc.self, sizeof fc.self, "%s", h->name);
    /* The run-lease file counts only on the boot that wrote it. */
    int64_t until;
    enum boot_file_kept kept = simh_bootfile_read(c, h, h->disk.run_lease, &until, 1);
    if (kept == BOOT_FILE_THIS_BOOT && until < 0)
        kept = BOOT_FILE_OUT_OF_RANGE;
    x->saved_until = kept == BOOT_FILE_THIS_BOOT ? (uint64_t)until : 0;
    if (kept != BOOT_FILE_THIS_BOOT)
        simh_bootfile_not_resumed(c, h, "run lease", kept);
    x->lease = host_fence_new(&fc, x->saved_until, now);
    /* The gossip every simulated host runs (sim_agent_start). */
    struct gossip_config gc;
    gossip_config_defaults(&gc);
    struct ha_config hc = {.timeout_ms = SELF_FENCE_MS,
                           .margin_ms = FENCE_MARGIN_MS,
                           .rho = RHO,
                           .refute_ms = ha_refute_ms(&gc)};
    x->ha = ha_new(&hc);
    if (!x->lease || !x->ha)
        return -1;
    prng_seed(&x->rng, prng_next(&c->rng));
    set_ready(c, h, HOST_HA_RECONCILING);
    /* The watchdog armed at the agent's start (agent_ha.c). */
    struct wd *w = &wds(c)[h->i];
    if (w->present) {
        w->armed = true;
        w->pet_us = c->now_us;
    }
    return 0;
}

void simha_stop(struct sim_cluster *c, struct sim_host *h) {
    struct simha *x = h->ha;
    if (!x)
        return;
    /* The gate names a dead agent: no protected start gets in. */
    sim_hv_set_ha_ready(&c->hv, h->i, false);
    host_fence_free(x->lease);
    ha_free(x->ha);
    free(x);
    h->ha = NULL;
}

/* ---- the world ---- */

int sim_ha_setup(struct sim_cluster *c) {
    c->hv.ha = true;
    c->bmc = calloc(c->o.hosts, sizeof *c->bmc);
    c->ha_wd = calloc(c->o.hosts, sizeof(struct wd));
    c->ha_no_room = calloc(c->hv.n_vms, sizeof *c->ha_no_room);
    c->ha_parked = calloc(c->hv.n_vms, sizeof *c->ha_parked);
    if (!c->bmc || !c->ha_wd || !c->ha_no_room || !c->ha_parked)
        return -1;
    for (uint32_t v = 0; v < c->hv.n_vms; v++) {
        c->hv.vm[v].ha = true;
        c->hv.vm[v].ha_priority = (uint32_t)prng_below(&c->rng, 4) * 300;
    }
    for (uint32_t i = 0; i < c->o.hosts; i++) {
        /* Half the hosts have a BMC, a quarter of those broken; half have
         * the watchdog. */
        c->bmc[i] = prng_below(&c->rng, 2) ? 0 : prng_below(&c->rng, 4) ? 1 : 2;
        wds(c)[i].present = prng_below(&c->rng, 2);
        /* The cluster ran before the simulation starts: each host kept the
         * run lease its last leader granted (else every agent would start
         * by destroying its guests). */
        int64_t until = simh_mono(c, c->h[i]) + (int64_t)(SELF_FENCE_MS * (1 - RHO));
        simh_bootfile_keep(c, c->h[i], c->h[i]->disk.run_lease, &until, 1);
    }
    struct sim_event ev = {.t_us = TICK_US, .kind = EV_HA_TICK};
    return sim_heap_push(&c->net.heap, &ev);
}

int sim_ha_power_lost(struct sim_cluster *c, uint32_t i, int64_t back_after_us) {
    sim_agent_stop(c, i);
    wds(c)[i].armed = false;
    struct sim_event ev = {.t_us = c->now_us + back_after_us, .kind = EV_POWER_ON, .node = i};
    return sim_heap_push(&c->net.heap, &ev);
}

int sim_ha_tick(struct sim_cluster *c) {
    for (uint32_t i = 0; i < c->o.hosts; i++) {
        struct wd *w = &wds(c)[i];
        if (!w->armed || c->hv.h[i].power != SIM_POWER_ON)
            continue;
        struct sim_host *h = c->h[i];
        if (sim_agent_up(c, i) && !sim_agent_frozen(c, i) && h->ha) {
            uint64_t now = (uint64_t)simh_mono(c, h);
            if (host_ha_watchdog_pet(now, host_fence_until(h->ha->lease), WATCHDOG_MS,
                                     h->ha->state, protected_running(c, h)))
                w->pet_us = c->now_us;
        }
        if (c->now_us - w->pet_us <= (int64_t)WATCHDOG_MS * 1000)
            continue;
        /* The reset: the guests go with the machine, which boots again. */
        c->watchdog_resets++;
        sim_trace(c, "%s: the watchdog resets it", sim_agent_name(c, i));
        sim_hv_power_loss(&c->hv, c->now_us, i);
        if (sim_ha_power_lost(c, i, 0) != 0)
            return -1;
    }
    struct sim_event ev = {.t_us = c->now_us + TICK_US, .kind = EV_HA_TICK};
    return c->now_us + TICK_US <= c->end_us ? sim_heap_push(&c->net.heap, &ev) : 0;
}

void sim_ha_end(struct sim_cluster *c) {
    /* A round places at most HA_ROUND_RESTARTS (agent_ha_leader.c's 16),
     * higher priority first: behind 16 that no running host can take, the
     * others wait too. */
    bool short_of_room = false;
    for (uint32_t v = 0; v < c->hv.n_vms; v++)
        short_of_room |= c->ha_no_room[v] && sim_hv_copies(&c->hv, v) == 0;
    for (uint32_t v = 0; v < c->hv.n_vms; v++) {
        const struct sim_vm *vm = &c->hv.vm[v];
        if (!vm->ha || vm->stopped || sim_hv_copies(&c->hv, v) > 0)
            continue;
        if (c->ha_no_room[v] || short_of_room) {
            c->vm_down_no_room++;
            sim_trace(c, "%s down at the end: no running host had room for it (no host is woken "
                      "for a restart yet)", vm->name);
            continue;
        }
        char where[160] = "";
        size_t o = 0, on = 0;
        for (uint32_t i = 0; i < c->o.hosts && o < sizeof where - 40; i++)
            for (size_t k = 0; k < c->hv.h[i].n_doms; k++)
                if (c->hv.h[i].doms[k].vm == v) {
                    on += c->hv.h[i].power == SIM_POWER_ON;
                    o += (size_t)snprintf(where + o, sizeof where - o, " %s (%s, %s)",
                                          sim_agent_name(c, i),
                                          c->hv.h[i].doms[k].state == SIM_DOM_SHUTOFF ? "shut off"
                                                                                      : "active",
                                          c->hv.h[i].power == SIM_POWER_ON ? "on" : "off");
                }
        if (c->ha_parked[v]) {
            /* Shut off on a host the planner then powered off, not
             * restarted since: the leader restarts only what up hosts
             * show stopped, and a leader elected since may hold no record
             * of an off host (docs/ha.md, "Not done"). */
            c->vm_down_off_host++;
            sim_trace(c, "%s down at the end: parked on a host the planner powered off; defined "
                      "on:%s", vm->name, o ? where : " none");
            continue;
        }
        c->vm_left_down++;
        sim_violation(c, "%s left down: no host runs it at the end; defined on:%s", vm->name,
                      o ? where : " none");
    }
}
