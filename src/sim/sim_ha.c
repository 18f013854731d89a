/* nodesim ha: protected VMs, the run lease and the leader's HA logic
 * (docs/ha.md) on simulated hosts, with the code the agent runs: every host
 * keeps its run lease with src/host/host_fence.c, the leader answers,
 * fences, waits and chooses restarts with src/leader/ha.c. Around them the
 * world: per-host monotonic clocks drifting within 4 % (under rho = 10 %),
 * renewals and answers with latency, long delays and duplicates, hosts
 * losing power (with or without a working BMC), hosts cut from the network
 * while powered, agents crashing (restarting with the lease kept on disk),
 * leaders dying (the next one elected only after the old lease ended, as
 * the election guarantees), stale deaths (a healed partition's gossip
 * shows a healthy host dead until its refutation comes back, within
 * REFUTE_MS), restarts that take effect only within the
 * leader's grant and only on a host that holds its run lease (the gate).
 * Every guest here is protected. The watchdog is modelled: a host whose
 * agent is down when its lease ends is reset. An operator stops a running
 * VM on its host now and then and starts it there again a moment later
 * (virsh define then virsh start: the host shows it stopped in between),
 * which the qemu hook's gate lets through while the host holds its lease.
 *
 * Invariants: vm_duplicated (a VM running on two powered hosts at once,
 * checked every step), vm_left_down (after the faults stop and every
 * host is back, each VM runs on exactly one host by the end) and
 * healthy_fenced (a host fenced while only a stale death showed it down).
 * A run is a function of its seed. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/prng.h"
#include "host/host_fence.h"
#include "leader/ha.h"
#include "nodesim.h"

#define HOSTS_MAX 16
#define VMS_MAX 64
#define MSGS_MAX 8192
#define STEP_MS 50
#define CANDIDATES 3
#define DETECT_MS 4000   /* gossip declares an unreachable host down after this */
#define UP_MS 1000       /* and up again after this */
#define ELECT_MS 1500    /* a new leader, after the old lease ended */
#define LEASE_MS 500     /* the leader's lease, renewed while it can */
/* A healthy host shown dead refutes it within this: the leader's
 * refutation window by default (--refute; the agent's is gossip's,
 * ha_refute_ms: 3.6 s with the defaults at 10 hosts or fewer). */
#define REFUTE_MS 2000
#define REFUSED_MAX 32

enum msg_kind { MSG_RENEW, MSG_RENEWED };
struct msg {
    bool used;
    uint64_t at;
    int from, to;
    enum msg_kind kind;
    struct fence_renew renew;
    struct fence_renewed renewed;
};

struct simhost {
    char name[16];
    bool powered, agent, cut, bmc_works, has_bmc;
    uint64_t back_at;       /* power or agent back; 0: not pending */
    uint64_t boot_real;     /* when the clock last started */
    double rate;
    uint64_t saved_until;   /* the lease kept on disk (this boot's clock) */
    struct host_fence *f;
    uint64_t stop_at;       /* protected guests stop then; 0: none pending */
    uint64_t chassis_off_at; /* a BMC power off takes effect then; 0: none */
    uint64_t term;          /* the highest term it knows */
    uint64_t shown_term;    /* the term its record shows: the one it knew when the leader
                             * last asked (agent_election.c's show_view) */
    uint64_t unreach_since, reach_since;
    bool down;              /* the leader's gossip view */
    uint64_t stale_until;   /* shown down by a stale death until then; 0: none */
    bool stale_down;        /* shown down by that alone */
    uint32_t incarnation;   /* gossip's: raised each time it is shown up again */
    /* Its last record, as the leader sees it. */
    Nodectl__HostRecord rec;
    Nodectl__Power power;
    Nodectl__Vm vm[VMS_MAX], *vms[VMS_MAX];
    Nodectl__Migration mig[REFUSED_MAX], *migs[REFUSED_MAX];
    char mig_id[REFUSED_MAX][COMMAND_ID_MAX];
    size_t n_refused;
};

/* How long VMs stayed down, in ms: [1] those whose host had lost its
 * power, [0] the others (a self-fence, an operator's stop). */
struct outages {
    uint32_t *ms[2];
    size_t n[2], cap[2];
    bool out_of_memory;
};

struct world {
    struct prng rng;
    int n_hosts, n_vms;
    uint64_t now, duration, quiet_at;
    struct simhost h[HOSTS_MAX];
    bool run[HOSTS_MAX][VMS_MAX];
    bool def[HOSTS_MAX][VMS_MAX]; /* defined there (running or not) */
    char vm_name[VMS_MAX][16];
    uint32_t prio[VMS_MAX];
    struct msg msgs[MSGS_MAX];
    int leader;             /* -1: none */
    uint64_t term, lease_end, elect_at;
    struct ha *ha;
    uint64_t next_round;
    int bmc_host;           /* a BMC step under way; -1: none */
    uint64_t bmc_done_at;
    uint64_t defines_at[VMS_MAX]; /* a define under way; 0: none */
    int define_to[VMS_MAX];
    char define_id[VMS_MAX][COMMAND_ID_MAX];
    uint64_t define_lease_end[VMS_MAX];
    bool define_in_place[VMS_MAX]; /* start the definition there */
    /* An operator's start of a VM on a host (virsh start); 0: none. */
    uint64_t op_start_at[HOSTS_MAX][VMS_MAX];
    uint64_t operator_every_ms; /* mean time between an operator's stop-then-start; 0: never */
    /* A defined VM being started (libvirt's define, then its create: the
     * samples in between show it defined and shut off); 0: none. */
    uint64_t starts_at[HOSTS_MAX][VMS_MAX];
    char start_id[HOSTS_MAX][VMS_MAX][COMMAND_ID_MAX];
    uint64_t ids;
    uint32_t timeout_ms, margin_ms;
    bool dup_seen[VMS_MAX];
    /* When each VM last stopped running on every host (0: it runs), where
     * it ran last, whether that host had lost its power then, and how long
     * each such outage lasted, in every run (the caller's). */
    uint64_t down_at[VMS_MAX];
    int ran_on[VMS_MAX];
    bool down_unpowered[VMS_MAX];
    struct outages *outages;
    /* Counts. */
    uint64_t duplicated, left_down, healthy_fenced, restarts, fenced, bmc_fences, self_fences,
        lapses, power_losses, cuts, agent_crashes, leader_deaths, operator_stops, stale_deaths;
};

static uint64_t mono(const struct world *w, const struct simhost *h) {
    return 1000 + (uint64_t)((double)(w->now - h->boot_real) * h->rate);
}

static bool alive(const struct simhost *h) { return h->powered && h->agent; }

/* Whether a and b can talk now. */
static bool linked(const struct world *w, int a, int b) {
    return a >= 0 && b >= 0 && alive(&w->h[a]) && alive(&w->h[b]) &&
           (a == b || (!w->h[a].cut && !w->h[b].cut));
}

static void send(struct world *w, const struct msg *m) {
    uint64_t r = prng_below(&w->rng, 100);
    uint64_t lat = r < 88 ? 1 + prng_below(&w->rng, 50) : r < 98 ? 50 + prng_below(&w->rng, 2000)
                                                                 : 2000 + prng_below(&w->rng, 8000);
    int copies = prng_below(&w->rng, 50) == 0 ? 2 : 1;
    for (int c = 0; c < copies; c++)
        for (size_t i = 0; i < MSGS_MAX; i++)
            if (!w->msgs[i].used) {
                w->msgs[i] = *m;
                w->msgs[i].used = true;
                w->msgs[i].at = w->now + lat + (uint64_t)c * prng_below(&w->rng, 3000);
                break;
            }
}

static void host_fence_start(struct world *w, struct simhost *h) {
    struct host_fence_config c = {.timeout_ms = w->timeout_ms, .rho = 0.1};
    snprintf(c.self, sizeof c.self, "%s", h->name);
    host_fence_free(h->f);
    h->f = host_fence_new(&c, h->saved_until, mono(w, h));
    h->stop_at = 0;
    h->shown_term = 0; /* in the agent's memory */
}

/* Builds host i's record from what it has now. A stopped definition of a
 * VM that runs on another host is undefined first: hahost's reconciliation
 * of a returning host. */
static void publish(struct world *w, int i) {
    struct simhost *h = &w->h[i];
    h->rec.n_vms = 0;
    for (int v = 0; v < w->n_vms; v++) {
        for (int o = 0; w->def[i][v] && !w->run[i][v] && o < w->n_hosts; o++)
            if (o != i && w->run[o][v] && w->h[o].powered)
                w->def[i][v] = false;
        if (!w->def[i][v])
            continue;
        Nodectl__Vm *x = &h->vm[h->rec.n_vms];
        nodectl__vm__init(x);
        x->name = w->vm_name[v];
        x->ha = true;
        x->ha_priority = w->prio[v];
        x->state = w->run[i][v] ? NODECTL__VM_STATE__VM_STATE_RUNNING
                                : NODECTL__VM_STATE__VM_STATE_SHUTOFF;
        h->vms[h->rec.n_vms++] = x;
    }
    h->rec.term = h->shown_term;
    h->rec.sampled_at_ms = w->now;
    h->rec.n_migrations = h->n_refused;
}

static void power_loss(struct world *w, int i, uint64_t back_after) {
    struct simhost *h = &w->h[i];
    h->powered = h->agent = false;
    h->saved_until = 0; /* a new boot: the kept lease is of another clock */
    for (int v = 0; v < w->n_vms; v++) {
        w->run[i][v] = false;
        w->starts_at[i][v] = 0;
        w->op_start_at[i][v] = 0;
    }
    h->back_at = w->now + back_after;
}

static void agent_crash(struct world *w, int i, uint64_t back_after) {
    struct simhost *h = &w->h[i];
    h->agent = false;
    /* What agent_fence.c keeps on disk: the lease's end on this boot. */
    h->saved_until = host_fence_until(h->f);
    h->back_at = w->now + back_after;
}

/* An operator stops a VM running on an up host and starts it there again
 * 0.2-3.2 s later; the start goes through libvirt's qemu hook, whose gate
 * lets a protected guest start only while the host's agent runs and holds
 * its run lease. Nothing else is checked: virsh does not know whether
 * the cluster runs the VM elsewhere. */
static void operator_acts(struct world *w) {
    for (int i = 0; i < w->n_hosts; i++)
        for (int v = 0; v < w->n_vms; v++) {
            struct simhost *h = &w->h[i];
            if (!w->op_start_at[i][v] || w->now < w->op_start_at[i][v])
                continue;
            w->op_start_at[i][v] = 0;
            if (alive(h) && w->def[i][v] && host_fence_holds(h->f, mono(w, h)))
                w->run[i][v] = true;
        }
    if (!w->operator_every_ms || w->now < 20000 || w->now >= w->quiet_at ||
        prng_below(&w->rng, w->operator_every_ms / STEP_MS) != 0)
        return;
    int v = (int)prng_below(&w->rng, (uint64_t)w->n_vms), i = 0;
    while (i < w->n_hosts && !(alive(&w->h[i]) && w->run[i][v]))
        i++;
    if (i == w->n_hosts || w->op_start_at[i][v])
        return;
    w->run[i][v] = false;
    w->op_start_at[i][v] = w->now + 200 + prng_below(&w->rng, 3000);
    w->operator_stops++;
}

static void faults(struct world *w) {
    if (w->now < 20000 || w->now >= w->quiet_at || prng_below(&w->rng, 10000 / STEP_MS) != 0)
        return;
    int i = (int)prng_below(&w->rng, (uint64_t)w->n_hosts);
    if (prng_below(&w->rng, 4) == 0 && w->leader >= 0)
        i = w->leader;
    struct simhost *h = &w->h[i];
    if (!h->powered || h->back_at)
        return;
    switch (prng_below(&w->rng, 5)) {
    case 0:
        power_loss(w, i, 20000 + prng_below(&w->rng, 70000));
        w->power_losses++;
        break;
    case 1:
        h->cut = true;
        h->back_at = w->now + 5000 + prng_below(&w->rng, 60000);
        w->cuts++;
        break;
    case 2:
        /* A partition heals and its side's news that this host died
         * arrives (SWIM takes another member's "dead" as final for that
         * incarnation); the host refutes it. Not the leader: it
         * refutes news of its own death before it acts on any. */
        if (alive(h) && !h->cut && !h->down && i != w->leader) {
            h->stale_until = w->now + 50 + prng_below(&w->rng, REFUTE_MS - 50);
            w->stale_deaths++;
        }
        break;
    default:
        agent_crash(w, i, 500 + prng_below(&w->rng, 10000));
        w->agent_crashes++;
        break;
    }
}

static void heal(struct world *w) {
    for (int i = 0; i < w->n_hosts; i++) {
        struct simhost *h = &w->h[i];
        if (!h->back_at || w->now < h->back_at)
            continue;
        h->back_at = 0;
        /* A host cut from the network may lose its power too (its BMC,
         * the watchdog): power first, or it would stay off for good. */
        if (!h->powered) {
            h->powered = h->agent = true;
            h->cut = false;
            h->boot_real = w->now;
            host_fence_start(w, h);
        } else if (h->cut) {
            h->cut = false;
        } else if (!h->agent) {
            h->agent = true;
            host_fence_start(w, h);
        }
    }
}

/* The election, abstracted: a leader's lease runs while it can reach a
 * majority (here: it is alive and not cut); the next is elected only after
 * the old lease ended, among the candidates alive and not cut. */
static void elect(struct world *w) {
    if (w->leader >= 0) {
        struct simhost *l = &w->h[w->leader];
        if (alive(l) && !l->cut) {
            w->lease_end = w->now + LEASE_MS;
            return;
        }
        if (w->now < w->lease_end)
            return;
        w->leader = -1;
        w->leader_deaths++;
        w->elect_at = w->now + ELECT_MS;
    }
    if (w->now < w->elect_at)
        return;
    int c = (int)prng_below(&w->rng, CANDIDATES);
    for (int k = 0; k < CANDIDATES; k++, c = (c + 1) % CANDIDATES)
        if (alive(&w->h[c]) && !w->h[c].cut) {
            w->leader = c;
            w->term++;
            w->lease_end = w->now + LEASE_MS;
            ha_observe(w->ha, w->term, true, mono(w, &w->h[c]));
            w->bmc_host = -1;
            return;
        }
}

static void deliver(struct world *w) {
    for (size_t i = 0; i < MSGS_MAX; i++) {
        struct msg *m = &w->msgs[i];
        if (!m->used || m->at > w->now)
            continue;
        m->used = false;
        if (!linked(w, m->from, m->to))
            continue;
        struct simhost *to = &w->h[m->to];
        if (m->kind == MSG_RENEW) {
            if (m->to != w->leader)
                continue;
            uint64_t now = mono(w, to);
            ha_observe(w->ha, w->term, true, now);
            struct msg a = {.kind = MSG_RENEWED, .from = m->to, .to = m->from};
            uint64_t until = w->lease_end > w->now ? mono(w, to) + (w->lease_end - w->now) : 0;
            ha_answer(w->ha, &m->renew, w->h[m->from].name, until, now, &a.renewed);
            send(w, &a);
        } else {
            const char *leader = w->leader >= 0 && linked(w, w->leader, m->to)
                                     ? w->h[w->leader].name
                                     : "";
            if (host_fence_on_renewed(to->f, &m->renewed, w->h[m->from].name, leader,
                                      to->term, mono(w, to)) == HOST_FENCE_EXTENDED &&
                m->renewed.show_term)
                to->shown_term = to->term;
        }
    }
}

static void hosts_step(struct world *w) {
    for (int i = 0; i < w->n_hosts; i++) {
        struct simhost *h = &w->h[i];
        if (!h->powered)
            continue;
        if (!h->agent) {
            /* The watchdog: nobody pets it once the lease is over. */
            if (mono(w, h) >= host_fence_until(h->f)) {
                bool any = false;
                for (int v = 0; v < w->n_vms; v++)
                    any = any || w->run[i][v];
                if (any)
                    power_loss(w, i, 30000);
            }
            continue;
        }
        if (w->leader >= 0 && linked(w, i, w->leader) && h->term < w->term)
            h->term = w->term;
        uint64_t now = mono(w, h);
        if (host_fence_ask_due(h->f, now)) {
            struct msg m = {.kind = MSG_RENEW, .from = i, .to = w->leader};
            host_fence_asked(h->f, prng_next(&w->rng), now, &m.renew);
            if (w->leader >= 0)
                send(w, &m);
        }
        char why[COMMAND_REASON_MAX];
        if (host_fence_lapse_due(h->f, mono(w, h), why, sizeof why)) {
            w->lapses++;
            /* hahost's part: destroy every protected guest, at once. */
            h->stop_at = w->now + prng_below(&w->rng, 1000);
        }
        if (h->stop_at && w->now >= h->stop_at) {
            h->stop_at = 0;
            if (!host_fence_holds(h->f, mono(w, h)))
                for (int v = 0; v < w->n_vms; v++)
                    w->run[i][v] = false;
        }
        if (w->now % 1000 == 0 && (w->leader < 0 || linked(w, i, w->leader)))
            publish(w, i);
    }
}

/* Gossip's view of each host, which every leader shares: down once its
 * agent is silent to the others for DETECT_MS, up again after UP_MS. */
static void view(struct world *w) {
    for (int i = 0; i < w->n_hosts; i++) {
        struct simhost *h = &w->h[i];
        bool reach = alive(h) && !h->cut;
        if (reach && w->now < h->stale_until) {
            h->stale_down = h->stale_down || !h->down;
            h->down = true;
        } else if (reach) {
            /* Refuted: up again at once, at a higher incarnation. */
            if (h->stale_down) {
                h->down = h->stale_down = false;
                h->incarnation++;
            }
            h->unreach_since = 0;
            if (!h->reach_since)
                h->reach_since = w->now;
            if (h->down && w->now - h->reach_since >= UP_MS) {
                h->down = false;
                h->incarnation++;
            }
        } else {
            h->stale_until = 0;
            h->stale_down = false;
            h->reach_since = 0;
            if (!h->unreach_since)
                h->unreach_since = w->now;
            if (!h->down && w->now - h->unreach_since >= DETECT_MS)
                h->down = true;
        }
    }
}

/* The command's end, as the agent's record reports it (its actions): a
 * full table gives up the one that ended longest ago, as agent_actions.c's
 * slot() does. */
static void report(struct world *w, int t, const char *id, const char *state) {
    struct simhost *h = &w->h[t];
    size_t k = h->n_refused < REFUSED_MAX ? h->n_refused++ : 0;
    for (size_t o = 1; h->n_refused == REFUSED_MAX && o < REFUSED_MAX; o++)
        if (h->mig[o].ended_at_ms < h->mig[k].ended_at_ms)
            k = o;
    snprintf(h->mig_id[k], sizeof h->mig_id[k], "%s", id);
    nodectl__migration__init(&h->mig[k]);
    h->mig[k].id = h->mig_id[k];
    h->mig[k].state = (char *)state;
    h->mig[k].ended_at_ms = w->now;
    h->migs[k] = &h->mig[k];
}

static int vm_index(const struct world *w, const char *name) {
    for (int v = 0; v < w->n_vms; v++)
        if (strcmp(w->vm_name[v], name) == 0)
            return v;
    return -1;
}

/* The hosts as the leader sees them: their records and gossip's view. */
static void leader_view(const struct world *w, struct executor_member *m) {
    for (int i = 0; i < w->n_hosts; i++)
        m[i] = (struct executor_member){&w->h[i].rec,
                                        w->h[i].down ? LEADER_HOST_DOWN : LEADER_HOST_UP,
                                        w->h[i].incarnation};
}

static void leader_round(struct world *w) {
    if (w->leader < 0 || w->now < w->next_round)
        return;
    w->next_round = w->now + 1000;
    struct simhost *l = &w->h[w->leader];
    uint64_t now = mono(w, l);
    ha_observe(w->ha, w->term, true, now);
    struct executor_member m[HOSTS_MAX];
    leader_view(w, m);
    struct ha_change ch[HOSTS_MAX];
    size_t nc = ha_update(w->ha, m, (size_t)w->n_hosts, now, ch, HOSTS_MAX);
    /* An expired restart: its define can no longer take effect here (it
     * was bounded by the lease it was sent under). */
    for (size_t k = 0; k < nc; k++) {
        w->fenced += ch[k].kind == HA_FENCED;
        w->healthy_fenced += ch[k].kind == HA_FENCED && w->h[atoi(ch[k].host + 1) - 1].stale_down;
    }
    char host[COMMAND_NAME_MAX];
    enum ha_bmc_step step;
    if (w->bmc_host < 0 &&
        ha_bmc_due(w->ha, m, (size_t)w->n_hosts, now, host, sizeof host, &step)) {
        w->bmc_host = atoi(host + 1) - 1;
        /* The chassis goes off up to 3.5 s after the power off, often
         * after the status read that follows it (as on the rig). */
        struct simhost *b = &w->h[w->bmc_host];
        if (step == HA_BMC_POWER_OFF && !b->chassis_off_at)
            b->chassis_off_at = w->now + 500 + prng_below(&w->rng, 3000);
        w->bmc_done_at = w->now + 200 + prng_below(&w->rng, step == HA_BMC_POWER_OFF ? 2000 : 800);
    }
    struct ha_restart rs[VMS_MAX];
    char why[400];
    size_t k = ha_restarts(w->ha, m, (size_t)w->n_hosts, now, rs, VMS_MAX, why, sizeof why);
    for (size_t r = 0; r < k; r++) {
        int v = vm_index(w, rs[r].vm);
        int t = (int)prng_below(&w->rng, (uint64_t)w->n_hosts);
        /* As agent_ha_leader.c's choice: in place, the host it is
         * restarted from (up, not fenced: ha.c says so); else an up host
         * that is not fenced and whose record does not define the VM
         * already (libvirt would refuse the definition). */
        bool ok = false;
        if (rs[r].in_place) {
            t = atoi(rs[r].from + 1) - 1;
            ok = !w->h[t].down && !ha_fencing(w->ha, w->h[t].name);
        }
        for (int tries = 0; tries < w->n_hosts && !ok && !rs[r].in_place;
             tries++, t = (t + 1) % w->n_hosts) {
            ok = !w->h[t].down && !ha_fencing(w->ha, w->h[t].name);
            for (size_t x = 0; ok && x < w->h[t].rec.n_vms; x++)
                ok = strcmp(w->h[t].rec.vms[x]->name, rs[r].vm) != 0;
            if (ok)
                break;
        }
        if (v < 0 || !ok)
            continue;
        char id[COMMAND_ID_MAX];
        snprintf(id, sizeof id, "r%" PRIu64, ++w->ids);
        ha_restart_sent(w->ha, &rs[r], w->h[t].name, id, now);
        w->restarts++;
        /* The define, granted under the lease, takes effect before it
         * ends or not at all. */
        w->defines_at[v] = w->now + 20 + prng_below(&w->rng, 600);
        w->define_to[v] = t;
        w->define_lease_end[v] = w->lease_end;
        w->define_in_place[v] = rs[r].in_place;
        snprintf(w->define_id[v], sizeof w->define_id[v], "%s", id);
    }
}

static void effects(struct world *w) {
    for (int i = 0; i < w->n_hosts; i++) {
        struct simhost *h = &w->h[i];
        if (h->chassis_off_at && w->now >= h->chassis_off_at) {
            if (h->bmc_works && h->powered)
                power_loss(w, i, 30000 + prng_below(&w->rng, 30000));
            h->chassis_off_at = 0;
        }
    }
    if (w->bmc_host >= 0 && w->now >= w->bmc_done_at) {
        struct simhost *h = &w->h[w->bmc_host];
        enum ha_bmc_read read = !h->bmc_works ? HA_BMC_READ_NO_ANSWER
                                : h->powered  ? HA_BMC_READ_ON
                                              : HA_BMC_READ_OFF;
        if (w->leader >= 0) {
            ha_bmc_result(w->ha, h->name, read, mono(w, &w->h[w->leader]));
            w->bmc_fences += read == HA_BMC_READ_OFF;
        }
        w->bmc_host = -1;
    }
    for (int v = 0; v < w->n_vms; v++) {
        if (!w->defines_at[v] || w->now < w->defines_at[v])
            continue;
        w->defines_at[v] = 0;
        int t = w->define_to[v];
        struct simhost *h = &w->h[t];
        /* The grant bounds it; the gate refuses a host without a lease;
         * libvirt refuses a name already defined there, and a start in
         * place one that is not. */
        bool ok = w->now < w->define_lease_end[v] && alive(h) &&
                  host_fence_holds(h->f, mono(w, h)) && w->def[t][v] == w->define_in_place[v];
        if (ok) {
            w->def[t][v] = true;
            w->starts_at[t][v] = w->now + 50 + prng_below(&w->rng, 1500);
            snprintf(w->start_id[t][v], sizeof w->start_id[t][v], "%s", w->define_id[v]);
        } else if (alive(h)) {
            report(w, t, w->define_id[v], "refused");
        }
    }
    for (int t = 0; t < w->n_hosts; t++)
        for (int v = 0; v < w->n_vms; v++) {
            if (!w->starts_at[t][v] || w->now < w->starts_at[t][v])
                continue;
            w->starts_at[t][v] = 0;
            struct simhost *h = &w->h[t];
            /* The qemu hook asks the gate again at the start. */
            if (alive(h) && w->def[t][v] && host_fence_holds(h->f, mono(w, h))) {
                w->run[t][v] = true;
                report(w, t, w->start_id[t][v], "succeeded");
            } else if (alive(h)) {
                report(w, t, w->start_id[t][v], "failed");
            }
        }
}

static void note_outage(struct world *w, int v) {
    struct outages *o = w->outages;
    int k = w->down_unpowered[v];
    uint32_t ms = (uint32_t)(w->now - w->down_at[v]);
    w->down_at[v] = 0;
    if (o->n[k] == o->cap[k]) {
        size_t cap = o->cap[k] ? o->cap[k] * 2 : 1024;
        uint32_t *x = realloc(o->ms[k], cap * sizeof *x);
        if (!x) {
            o->out_of_memory = true;
            return;
        }
        o->ms[k] = x;
        o->cap[k] = cap;
    }
    o->ms[k][o->n[k]++] = ms;
}

static void check(struct world *w) {
    for (int v = 0; v < w->n_vms; v++) {
        int n = 0;
        for (int i = 0; i < w->n_hosts; i++)
            n += w->h[i].powered && w->run[i][v];
        if (n > 1 && !w->dup_seen[v]) {
            w->dup_seen[v] = true;
            w->duplicated++;
        }
        if (n <= 1)
            w->dup_seen[v] = false;
        if (n == 0 && !w->down_at[v]) {
            w->down_at[v] = w->now;
            w->down_unpowered[v] = !w->h[w->ran_on[v]].powered;
        } else if (n > 0 && w->down_at[v]) {
            note_outage(w, v);
        }
        for (int i = 0; i < w->n_hosts; i++)
            if (w->h[i].powered && w->run[i][v])
                w->ran_on[v] = i;
    }
}

static void world_init(struct world *w, uint64_t seed, int hosts, int vms, uint64_t duration,
                       uint32_t timeout_ms, uint32_t margin_ms, uint32_t refute_ms,
                       uint64_t operator_every_ms) {
    memset(w, 0, sizeof *w);
    prng_seed(&w->rng, seed);
    w->n_hosts = hosts;
    w->n_vms = vms;
    w->duration = duration;
    w->quiet_at = duration > 200000 ? duration - 150000 : duration / 2;
    w->timeout_ms = timeout_ms;
    w->margin_ms = margin_ms;
    w->operator_every_ms = operator_every_ms;
    w->leader = -1;
    w->bmc_host = -1;
    struct ha_config c = {
        .timeout_ms = timeout_ms, .margin_ms = margin_ms, .rho = 0.1, .refute_ms = refute_ms};
    w->ha = ha_new(&c);
    for (int i = 0; i < hosts; i++) {
        struct simhost *h = &w->h[i];
        snprintf(h->name, sizeof h->name, "n%d", i + 1);
        h->powered = h->agent = true;
        h->rate = 0.96 + 0.08 * prng_unit(&w->rng);
        h->has_bmc = prng_below(&w->rng, 2) == 0;
        h->bmc_works = h->has_bmc && prng_below(&w->rng, 4) != 0;
        nodectl__host_record__init(&h->rec);
        nodectl__power__init(&h->power);
        h->rec.name = h->name;
        h->rec.power = &h->power;
        h->power.ipmi_address = h->has_bmc ? "10.0.0.9" : "";
        h->rec.vms = h->vms;
        h->rec.migrations = h->migs;
        host_fence_start(w, h);
    }
    for (int v = 0; v < vms; v++) {
        snprintf(w->vm_name[v], sizeof w->vm_name[v], "vm%d", v + 1);
        w->prio[v] = (uint32_t)prng_below(&w->rng, 1001);
        int i = CANDIDATES + v % (hosts - CANDIDATES);
        w->run[i][v] = w->def[i][v] = true;
    }
}

static void world_free(struct world *w) {
    for (int i = 0; i < w->n_hosts; i++)
        host_fence_free(w->h[i].f);
    ha_free(w->ha);
}

static void run_one(struct world *w) {
    for (w->now = 0; w->now < w->duration; w->now += STEP_MS) {
        heal(w);
        if (w->now >= w->quiet_at)
            for (int i = 0; i < w->n_hosts; i++)
                if (w->h[i].back_at > w->now + 1000)
                    w->h[i].back_at = w->now + 1000;
        faults(w);
        operator_acts(w);
        elect(w);
        deliver(w);
        hosts_step(w);
        view(w);
        leader_round(w);
        effects(w);
        check(w);
    }
    for (int v = 0; v < w->n_vms; v++) {
        int n = 0;
        for (int i = 0; i < w->n_hosts; i++)
            n += w->h[i].powered && w->run[i][v];
        w->left_down += n == 0;
        if (n == 0 && getenv("NODESIM_HA_TRACE")) {
            struct executor_member m[HOSTS_MAX];
            leader_view(w, m);
            struct ha_restart rs[VMS_MAX];
            char why[400];
            size_t k = w->leader >= 0 ? ha_restarts(w->ha, m, (size_t)w->n_hosts,
                                                    mono(w, &w->h[w->leader]), rs, VMS_MAX, why,
                                                    sizeof why)
                                      : 0;
            fprintf(stderr, "leader %d term %" PRIu64 " restarts %zu in flight %zu (%s); %s down:",
                    w->leader, w->term, k, ha_in_flight(w->ha), w->leader >= 0 ? why : "",
                    w->vm_name[v]);
            for (int i = 0; i < w->n_hosts; i++)
                fprintf(stderr, " %s%s%s%s%s%s%s", w->h[i].name, w->def[i][v] ? "(def)" : "",
                    w->h[i].powered ? "" : "(unpowered)", w->h[i].agent ? "" : "(noagent)",
                    host_fence_holds(w->h[i].f, mono(w, &w->h[i])) ? "(lease)" : "",
                        ha_fencing(w->ha, w->h[i].name) ? "(fenced)" : "",
                        w->h[i].down ? "(down)" : "");
            fprintf(stderr, "\n");
        }
    }
}

static int by_value(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

int nodesim_ha(int argc, char **argv) {
    uint64_t seed = 1, seeds = 1, duration_s = 600;
    int hosts = 8, vms = 16;
    unsigned timeout_s = 30, margin_s = 5, operator_s = 20, refute_ms = REFUTE_MS;
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'},  {"seeds", required_argument, NULL, 'S'},
        {"hosts", required_argument, NULL, 'h'}, {"vms", required_argument, NULL, 'v'},
        {"duration", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"margin", required_argument, NULL, 'm'},  {"help", no_argument, NULL, 'H'},
        {"operator", required_argument, NULL, 'o'},
        {"refute", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'S': seeds = strtoull(optarg, NULL, 10); break;
        case 'h': hosts = atoi(optarg); break;
        case 'v': vms = atoi(optarg); break;
        case 'd': duration_s = strtoull(optarg, NULL, 10); break;
        case 't': timeout_s = (unsigned)atoi(optarg); break;
        case 'm': margin_s = (unsigned)atoi(optarg); break;
        case 'o': operator_s = (unsigned)atoi(optarg); break;
        case 'r': refute_ms = (unsigned)atoi(optarg); break;
        case 'H':
            printf("usage: nodesim ha [--seed S] [--seeds K] [--hosts N (4-%d)] [--vms M (1-%d)]\n"
                   "                  [--duration SECONDS] [--timeout T_SECONDS] [--margin S]\n"
                   "                  [--operator S (mean time between an operator's stop and\n"
                   "                   start of a VM on its host; 0: never; default 20)]\n"
                   "                  [--refute MS (the leader's refutation window; default\n"
                   "                   %d, the longest a stale death lasts here)]\n",
                   HOSTS_MAX, VMS_MAX, REFUTE_MS);
            return 0;
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nodesim ha: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (hosts < CANDIDATES + 1 || hosts > HOSTS_MAX || vms < 1 || vms > VMS_MAX ||
        duration_s < 60 || timeout_s < 1) {
        fprintf(stderr, "nodesim ha: --hosts 4-%d, --vms 1-%d, --duration >= 60, --timeout >= 1\n",
                HOSTS_MAX, VMS_MAX);
        return 2;
    }
    struct world *w = malloc(sizeof *w);
    if (!w)
        return 1;
    uint64_t tot[14] = {0}, failed = 0;
    struct outages outages = {0};
    for (uint64_t s = seed; s < seed + seeds; s++) {
        world_init(w, s, hosts, vms, duration_s * 1000, timeout_s * 1000, margin_s * 1000,
                   refute_ms, (uint64_t)operator_s * 1000);
        w->outages = &outages;
        run_one(w);
        uint64_t c[14] = {w->duplicated, w->left_down, w->restarts, w->fenced, w->bmc_fences,
                          w->lapses, w->power_losses, w->cuts, w->agent_crashes,
                          w->leader_deaths, w->term, w->operator_stops, w->healthy_fenced,
                          w->stale_deaths};
        for (int k = 0; k < 14; k++)
            tot[k] += c[k];
        if (w->duplicated || w->left_down || w->healthy_fenced) {
            failed++;
            printf("seed %" PRIu64 ": FAIL vm_duplicated=%" PRIu64 " vm_left_down=%" PRIu64
                   " healthy_fenced=%" PRIu64 " (rerun: nodesim ha --seed %" PRIu64
                   " --hosts %d --vms %d --duration %" PRIu64
                   " --timeout %u --margin %u --operator %u --refute %u)\n",
                   s, w->duplicated, w->left_down, w->healthy_fenced, s, hosts, vms, duration_s,
                   timeout_s, margin_s, operator_s, refute_ms);
        }
        world_free(w);
    }
    free(w);
    printf("seeds %" PRIu64 " failed %" PRIu64 ": vm_duplicated=%" PRIu64 " vm_left_down=%" PRIu64
           " healthy_fenced=%" PRIu64 " restarts=%" PRIu64 " hosts_fenced=%" PRIu64 " bmc_fences=%" PRIu64
           " lease_lapses=%" PRIu64 " power_losses=%" PRIu64 " cuts=%" PRIu64
           " agent_crashes=%" PRIu64 " leader_deaths=%" PRIu64 " terms=%" PRIu64
           " operator_stops=%" PRIu64 " stale_deaths=%" PRIu64 "\n",
           seeds, failed, tot[0], tot[1], tot[12], tot[2], tot[3], tot[4], tot[5], tot[6], tot[7],
           tot[8], tot[9], tot[10], tot[11], tot[13]);
    /* How long a VM stayed down each time it stopped everywhere until it
     * ran again: after its host lost its power, and otherwise. */
    for (int k = 1; k >= 0; k--) {
        size_t n = outages.n[k];
        uint32_t *o = outages.ms[k];
        qsort(o, n, sizeof *o, by_value);
        printf("%s: %zu, down ms p50=%u p90=%u p99=%u max=%u\n",
               k ? "outages after a power loss" : "other outages", n, n ? o[n / 2] : 0,
               n ? o[n * 9 / 10] : 0, n ? o[n * 99 / 100] : 0, n ? o[n - 1] : 0);
        free(o);
    }
    if (outages.out_of_memory) {
        fprintf(stderr, "nodesim ha: out of memory for the outages\n");
        return 1;
    }
    return failed ? 1 : 0;
}
