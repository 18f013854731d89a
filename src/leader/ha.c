#include "ha.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/gossip.h"
#include "host/host_fence.h"

/* IDLE: nothing asked yet (or confirmed off); ASKED: a step under way;
 * NEXT: bmc_next is the next step, due at bmc_at. */
enum bmc_state { BMC_IDLE, BMC_ASKED, BMC_NEXT };

struct ha_host {
    char name[COMMAND_NAME_MAX];
    uint64_t last_answer; /* 0: not answered by this leader */
    /* The last ha_update that showed it down (0: none), the first of
     * those in a row up to that one, and the incarnation they showed. */
    uint64_t down_round, down_since;
    uint32_t down_incarnation;
    bool fencing;
    uint64_t fencing_since;
    enum ha_evidence evidence; /* BMC or operator; self is computed */
    enum bmc_state bmc;
    enum ha_bmc_step bmc_next;
    uint64_t bmc_at;     /* NEXT: when bmc_next is due */
    uint64_t bmc_off_at; /* when this leader last sent it a power off */
    bool bmc_off_sent;   /* one was sent while it is fenced */
};

struct flight {
    char vm[COMMAND_VM_MAX];
    char from[COMMAND_NAME_MAX]; /* the host it is restarted from */
    char target[COMMAND_NAME_MAX];
    char id[COMMAND_ID_MAX];
    uint32_t priority;
    enum ha_evidence evidence; /* why it was restarted */
    uint64_t sent_at;
    /* In flight until then: HA_FLIGHT_TIMEOUT_MS after it was sent, or,
     * for a target that was off and is being woken (ha_restart_waking),
     * after the wake's bound as well; once the woken target is seen up,
     * HA_FLIGHT_TIMEOUT_MS from then at most. */
    uint64_t expires_at;
    /* Its target was off when it was sent: the leader wakes it, then
     * sends the define (executor_ha_after_wake). Off, it is not settled:
     * it is waking. */
    bool waking;
    /* The target went down before its record showed the VM: it may run
     * it, unseen. Restarted again once the target is fenced with
     * evidence, like a VM its record shows. */
    bool lost;
    /* The restart ended without the VM (refused, or expired and revoked)
     * and no record shows it any more (its old host undefined it when it
     * ran on a target since gone): this flight is all that knows it.
     * Offered again, like a lost one, until a restart is sent. */
    bool orphan;
    /* Started in place, on `from` (== target). */
    bool in_place;
    /* A tally, not a restart (never in flight): how the restarts in place
     * of vm on target ended while the target stayed up and the VM stopped.
     * Refused (nothing was tried: the grant ran out, the run lease did
     * not hold...), the VM is restarted in place again; refused_since is
     * when the first of those refused in a row settled (0: none).
     * `relocate`: one failed (libvirt could not start it, or nothing
     * showed in HA_FLIGHT_TIMEOUT_MS), or they were refused for
     * HA_IN_PLACE_REFUSED_MS: restarted elsewhere from then on. Kept
     * while the target shows the VM stopped and no other host runs it. */
    bool tally;
    uint64_t refused_since;
    bool relocate;
};

struct ha {
    struct ha_config cfg;
    uint64_t term;
    bool leading;
    uint64_t led_term; /* the term the tables below were built in; 0: none */
    uint64_t leading_since;
    struct ha_host hosts[HA_HOSTS_MAX];
    size_t n;
    /* ha_updates while leading (the current one included), and lapses of
     * the lead between them: a row of rounds is consecutive numbers. */
    uint64_t rounds;
    struct flight flights[HA_RESTARTS_MAX];
    /* Where this leader last saw each protected VM run (the oldest entry
     * goes when full): of two up hosts that show it stopped, the other
     * holds a stale copy. */
    struct ran {
        char vm[COMMAND_VM_MAX];
        char host[COMMAND_NAME_MAX];
    } ran[HA_HOSTS_MAX];
    size_t n_ran, next_ran;
    size_t n_flights;
    /* A restart waits for a running host's record to show this term: the
     * answers to renewals ask the hosts to show it (ha_answer). */
    bool show_terms;
};

const char *ha_evidence_name(enum ha_evidence e) {
    switch (e) {
    case HA_EVIDENCE_NONE: return "none";
    case HA_EVIDENCE_BMC: return "its BMC confirmed it off";
    case HA_EVIDENCE_SELF: return "it fenced itself (its run lease ran out)";
    case HA_EVIDENCE_OPERATOR: return "an operator confirmed it fenced";
    case HA_EVIDENCE_UP: return "its host is up and reports it stopped";
    }
    return "unknown";
}

const char *ha_evidence_word(enum ha_evidence e) {
    switch (e) {
    case HA_EVIDENCE_NONE: return "";
    case HA_EVIDENCE_BMC: return "bmc";
    case HA_EVIDENCE_SELF: return "self";
    case HA_EVIDENCE_OPERATOR: return "operator";
    case HA_EVIDENCE_UP: return "up";
    }
    return "";
}

enum ha_evidence ha_evidence_parse(const char *word) {
    for (enum ha_evidence e = HA_EVIDENCE_BMC; e <= HA_EVIDENCE_UP; e++)
        if (strcmp(word, ha_evidence_word(e)) == 0)
            return e;
    return HA_EVIDENCE_NONE;
}

uint32_t ha_refute_ms(const struct gossip_config *g) {
    return g->suspicion_max_timeout_mult * g->suspicion_mult * g->probe_interval_ms;
}

struct ha *ha_new(const struct ha_config *cfg) {
    assert(cfg->timeout_ms > 0);
    struct ha *h = calloc(1, sizeof *h);
    if (h)
        h->cfg = *cfg;
    return h;
}

void ha_free(struct ha *h) { free(h); }

void ha_observe(struct ha *h, uint64_t term, bool leading, uint64_t now) {
    /* A new term starts afresh: what an older leader sent is unknown here
     * (held_back waits for every record to show the term). A lease that
     * lapsed and holds again in the same term changes nothing: a term has
     * one leader (Raft, section 5.2), so the restarts in flight are this
     * leader's own, their commands may still take effect, and forgetting
     * them would restart those VMs a second time elsewhere. */
    if (leading && term != h->led_term) {
        h->led_term = term;
        h->n = 0;
        h->n_flights = 0;
        h->n_ran = h->next_ran = 0;
        h->leading_since = now;
        h->show_terms = false;
    }
    /* Leading again after a lapse: what gossip showed meanwhile went
     * unseen, so no host has been shown down in a row across it. */
    if (leading && !h->leading)
        h->rounds++;
    h->term = term;
    h->leading = leading;
}

static struct ha_host *find(const struct ha *h, const char *name) {
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->hosts[i].name, name) == 0)
            return (struct ha_host *)&h->hosts[i];
    return NULL;
}

static struct ha_host *find_or_add(struct ha *h, const char *name) {
    struct ha_host *x = find(h, name);
    if (x || h->n == HA_HOSTS_MAX)
        return x;
    x = &h->hosts[h->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

void ha_answer(struct ha *h, const struct fence_renew *req, const char *from,
               uint64_t lease_until, uint64_t now, struct fence_renewed *out) {
    struct ha_host *x = find(h, req->host);
    host_fence_answer(req, from, h->term, h->leading ? lease_until : 0, now, x && x->fencing,
                      h->cfg.timeout_ms, out);
    if (!out->granted)
        return;
    /* A host that cannot be remembered is refused: the wait before a
     * restart counts from the last answer. */
    x = find_or_add(h, req->host);
    if (!x) {
        out->granted = false;
        out->valid_ms = 0;
        snprintf(out->reason, sizeof out->reason, "the leader's table of hosts is full");
        return;
    }
    x->last_answer = now;
    out->show_term = h->show_terms;
}

static bool fence(struct ha *h, const char *host, uint64_t now) {
    struct ha_host *x = find_or_add(h, host);
    if (!x)
        return false;
    if (!x->fencing) {
        x->fencing = true;
        x->fencing_since = now;
        x->evidence = HA_EVIDENCE_NONE;
        x->bmc = BMC_IDLE;
        x->bmc_off_sent = false;
    }
    return true;
}

bool ha_fencing(const struct ha *h, const char *host) {
    const struct ha_host *x = find(h, host);
    return x && x->fencing;
}

bool ha_confirm(struct ha *h, const char *host, uint64_t now) {
    if (!fence(h, host, now))
        return false;
    find(h, host)->evidence = HA_EVIDENCE_OPERATOR;
    return true;
}

static bool runs_protected(const Nodectl__HostRecord *r) {
    for (size_t k = 0; r && k < r->n_vms; k++)
        if (r->vms[k]->ha && (r->vms[k]->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
                              r->vms[k]->state == NODECTL__VM_STATE__VM_STATE_BLOCKED ||
                              r->vms[k]->state == NODECTL__VM_STATE__VM_STATE_PAUSED))
            return true;
    return false;
}

static const struct executor_member *member(const struct executor_member *m, size_t n,
                                            const char *name) {
    for (size_t i = 0; i < n; i++)
        if (m[i].rec && strcmp(m[i].rec->name, name) == 0)
            return &m[i];
    return NULL;
}

/* Whether a record shows vm, running or defined. */
static bool shows(const Nodectl__HostRecord *r, const char *vm) {
    for (size_t k = 0; r && k < r->n_vms; k++)
        if (strcmp(r->vms[k]->name, vm) == 0)
            return true;
    return false;
}

static bool running(const Nodectl__Vm *v);

/* Whether the record shows vm in a running state (any but shut off or
 * crashed). */
static bool shows_running(const Nodectl__HostRecord *r, const char *vm) {
    for (size_t k = 0; r && k < r->n_vms; k++)
        if (strcmp(r->vms[k]->name, vm) == 0 && running(r->vms[k]))
            return true;
    return false;
}

/* Whether any member's record (up, down or off) shows vm. */
static bool shown_anywhere(const struct executor_member *m, size_t n, const char *vm) {
    for (size_t i = 0; i < n; i++)
        if (shows(m[i].rec, vm))
            return true;
    return false;
}

/* Whether the record reports command id ended (not running). */
static bool ended(const Nodectl__HostRecord *r, const char *id) {
    for (size_t k = 0; r && k < r->n_migrations; k++)
        if (strcmp(r->migrations[k]->id, id) == 0)
            return report_state_parse(r->migrations[k]->state) != REPORT_RUNNING;
    return false;
}

/* Whether the record's report of command id settles its restart: ended
 * without success (refused, failed, aborted), or succeeded with a sample
 * taken after it ended (both on the target's clock). A success alone is
 * not enough: the record that first says it may carry a sample taken
 * between libvirt's define and its create, which shows the VM shut off;
 * a later sample that shows it stopped shows it stopped for good (the
 * target is then an up host that shows it stopped). */
static bool report_settles(const Nodectl__HostRecord *r, const char *id) {
    for (size_t k = 0; r && k < r->n_migrations; k++)
        if (strcmp(r->migrations[k]->id, id) == 0) {
            enum report_state s = report_state_parse(r->migrations[k]->state);
            return s != REPORT_RUNNING &&
                   (s != REPORT_SUCCEEDED || r->sampled_at_ms > r->migrations[k]->ended_at_ms);
        }
    return false;
}

static bool running(const Nodectl__Vm *v) {
    return v->state != NODECTL__VM_STATE__VM_STATE_SHUTOFF &&
           v->state != NODECTL__VM_STATE__VM_STATE_CRASHED;
}

/* Whether an up host other than `except` runs vm (any state but shut off
 * or crashed: starting, paused, arriving in a migration count). A host
 * gossip shows off counts too: an off host's last record shows nothing
 * running (it looked before its off command), so one that does is not off
 * (nodesim cluster --ha seed 16: a restarted leader's gossip still showed
 * a host off 34 s after it had booted and started a restart). But the
 * record this leader holds may not be the host's last: only one sampled
 * after `off_after` counts (0: any). */
static const Nodectl__HostRecord *shown_elsewhere_after(const struct executor_member *m, size_t n,
                                                        const char *vm, const char *except,
                                                        uint64_t off_after) {
    const Nodectl__HostRecord *off = NULL; /* an up host's is named first */
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = m[i].rec;
        if (m[i].liveness == LEADER_HOST_DOWN || !r || strcmp(r->name, except) == 0 ||
            (m[i].liveness == LEADER_HOST_OFF && (r->sampled_at_ms <= off_after || off)))
            continue;
        for (size_t k = 0; k < r->n_vms; k++)
            if (strcmp(r->vms[k]->name, vm) == 0 && running(r->vms[k])) {
                if (m[i].liveness != LEADER_HOST_OFF)
                    return r;
                off = r;
            }
    }
    return off;
}

static bool member_off(const struct executor_member *m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (m[i].rec && strcmp(m[i].rec->name, name) == 0)
            return m[i].liveness == LEADER_HOST_OFF;
    return false;
}

static bool shown_elsewhere(const struct executor_member *m, size_t n, const char *vm,
                            const char *except) {
    return shown_elsewhere_after(m, n, vm, except, 0) != NULL;
}

/* Whether every protected VM r shows is shown by another up host: none is
 * left for a restart. */
static bool all_moved(const Nodectl__HostRecord *r, const struct executor_member *m, size_t n) {
    for (size_t k = 0; k < r->n_vms; k++)
        if (r->vms[k]->ha && !shown_elsewhere(m, n, r->vms[k]->name, r->name))
            return false;
    return true;
}

/* The state command id's report in the record says; REPORT_UNKNOWN when
 * it has none. */
static enum report_state report_of(const Nodectl__HostRecord *r, const char *id) {
    for (size_t k = 0; r && k < r->n_migrations; k++)
        if (strcmp(r->migrations[k]->id, id) == 0)
            return report_state_parse(r->migrations[k]->state);
    return REPORT_UNKNOWN;
}

static struct flight *tally_of(struct ha *h, const char *vm, const char *host) {
    for (size_t f = 0; f < h->n_flights; f++)
        if (h->flights[f].tally && strcmp(h->flights[f].vm, vm) == 0 &&
            strcmp(h->flights[f].target, host) == 0)
            return &h->flights[f];
    return NULL;
}

/* Flight f, a restart in place, ended with its target up and the VM
 * stopped (refused or not): counted in the tally of that VM on that host,
 * which it becomes when there is none (true: f stays, as the tally) or
 * into which it goes (false: f is removed). */
static bool tally_in_place(struct ha *h, size_t f, bool refused, uint64_t now) {
    struct flight *x = &h->flights[f];
    assert(x->in_place && !x->tally);
    struct flight *y = tally_of(h, x->vm, x->target);
    bool becomes = !y;
    if (becomes) {
        y = x;
        y->tally = true;
        y->refused_since = 0;
        y->relocate = false;
    }
    if (refused && !y->refused_since)
        y->refused_since = now;
    y->relocate = y->relocate || !refused || now >= y->refused_since + HA_IN_PLACE_REFUSED_MS;
    if (!becomes)
        h->flights[f] = h->flights[--h->n_flights];
    return becomes;
}

/* Whether a fenced host has evidence that it runs none of the copies it
 * had: up again, it may be answered again (its guests were stopped or
 * powered off; its reconciliation undefines those that moved, and those
 * that did not are restarted like any an up host shows stopped). */
static bool fenced_for_sure(const struct ha *h, const char *host, uint64_t now) {
    uint64_t until;
    return ha_evidence_now(h, host, now, &until) != HA_EVIDENCE_NONE;
}

static void change(struct ha_change *c, enum ha_change_kind kind, const struct flight *x) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    snprintf(c->host, sizeof c->host, "%s", x->target);
    snprintf(c->vm, sizeof c->vm, "%s", x->vm);
    snprintf(c->id, sizeof c->id, "%s", x->id);
}

static struct ran *ran_of(struct ha *h, const char *vm) {
    for (size_t i = 0; i < h->n_ran; i++)
        if (strcmp(h->ran[i].vm, vm) == 0)
            return &h->ran[i];
    return NULL;
}

/* Notes where each protected VM an up record shows running runs. */
static void note_ran(struct ha *h, const struct executor_member *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t v = 0; m[i].liveness == LEADER_HOST_UP && m[i].rec && v < m[i].rec->n_vms;
             v++) {
            const Nodectl__Vm *vm = m[i].rec->vms[v];
            if (!vm->ha || !running(vm))
                continue;
            struct ran *r = ran_of(h, vm->name);
            if (!r) {
                r = h->n_ran < HA_HOSTS_MAX ? &h->ran[h->n_ran++]
                                            : &h->ran[h->next_ran++ % HA_HOSTS_MAX];
                snprintf(r->vm, sizeof r->vm, "%s", vm->name);
            }
            snprintf(r->host, sizeof r->host, "%s", m[i].rec->name);
        }
}

/* Whether this leader last saw vm run on host. */
static bool ran_last_on(struct ha *h, const char *vm, const char *host) {
    const struct ran *r = ran_of(h, vm);
    return r && strcmp(r->host, host) == 0;
}

/* The refutation window among n members: gossip's suspicion timeout grows
 * with log10 of the members (gossip_suspicion.c), and so does the time its
 * news takes to go round. */
static uint64_t refute_window(const struct ha *h, size_t n) {
    return (uint64_t)(h->cfg.refute_ms * gossip_size_scale(n));
}

/* How long host, shown down by this ha_update, has been shown down by
 * every ha_update in a row; 0 when it cannot be remembered (it is not
 * fenced then, as fence() would not). A member missing from a round (no
 * record) breaks the row as one shown up does, and so does a new
 * incarnation: the host was up between two rounds that did not see it
 * (it came back, then a stale death arrived), and the window starts again
 * from the death the round shows. */
static uint64_t shown_down_for(struct ha *h, const char *host, uint32_t incarnation,
                               uint64_t now) {
    struct ha_host *x = find_or_add(h, host);
    if (!x)
        return 0;
    if (x->down_round == 0 || x->down_round + 1 < h->rounds ||
        x->down_incarnation != incarnation)
        x->down_since = now;
    x->down_round = h->rounds;
    x->down_incarnation = incarnation;
    assert(now >= x->down_since);
    return now - x->down_since;
}

size_t ha_update(struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                 struct ha_change *out, size_t max) {
    size_t k = 0;
    if (!h->leading)
        return 0;
    h->rounds++;
    note_ran(h, m, n);
    uint64_t window = refute_window(h, n);
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = m[i].rec;
        if (!r)
            continue;
        bool was = ha_fencing(h, r->name);
        enum ha_change_kind kind;
        if (m[i].liveness == LEADER_HOST_DOWN && !was &&
            shown_down_for(h, r->name, m[i].incarnation, now) >= window &&
            fence(h, r->name, now))
            kind = HA_FENCED;
        else if (m[i].liveness == LEADER_HOST_UP && was && !runs_protected(r) &&
                 (all_moved(r, m, n) || fenced_for_sure(h, r->name, now))) {
            find(h, r->name)->fencing = false;
            kind = HA_RELEASED;
        } else {
            continue;
        }
        if (k < max) {
            memset(&out[k], 0, sizeof out[k]);
            out[k].kind = kind;
            snprintf(out[k].host, sizeof out[k].host, "%s", r->name);
            k++;
        }
    }
    /* Restarts settle: shown by the target, ended there without it, or
     * the target gone (it is fenced, and its evidence awaited, in turn). */
    for (size_t f = 0; f < h->n_flights;) {
        struct flight *x = &h->flights[f];
        const struct executor_member *t = member(m, n, x->target);
        assert(x->expires_at > x->sent_at);
        /* A woken target seen up has the define sent at once: from then
         * on it gets the time any restart gets, no more. */
        if (x->waking && t && t->liveness == LEADER_HOST_UP &&
            x->expires_at > now + HA_FLIGHT_TIMEOUT_MS)
            x->expires_at = now + HA_FLIGHT_TIMEOUT_MS;
        bool expired = now >= x->expires_at;
        if (x->tally) {
            /* Kept while the target still has it stopped and nothing
             * runs it; a restart elsewhere is a flight of its own. */
            if (t && t->liveness == LEADER_HOST_UP && shows(t->rec, x->vm) &&
                !shows_running(t->rec, x->vm) && !shown_elsewhere(m, n, x->vm, x->target))
                f++;
            else
                h->flights[f] = h->flights[--h->n_flights];
            continue;
        }
        if (x->orphan) {
            /* Until a restart is sent (ha_restart_sent replaces it), or
             * a record shows the VM again. */
            if (shown_anywhere(m, n, x->vm))
                h->flights[f] = h->flights[--h->n_flights];
            else
                f++;
            continue;
        }
        /* Down before it showed the VM running: it may be starting it,
         * unseen (defined, its create under way). */
        if (t && t->liveness == LEADER_HOST_DOWN && !shows_running(t->rec, x->vm)) {
            /* Its command is revoked (never granted after, and a define
             * still waiting for its host to wake is dropped): should the
             * target come back, nothing of it runs there unseen while the
             * VM is restarted elsewhere. */
            if (!x->lost && k < max) {
                change(&out[k++], HA_LOST, x);
                x->lost = true;
            }
            f++; /* not told yet (out is full): lost next round */
            continue;
        }
        /* Being woken: off is what its target is until it is back. */
        if (x->waking && !x->lost && t && t->liveness == LEADER_HOST_OFF && !expired) {
            f++;
            continue;
        }
        if (x->lost && t && t->liveness == LEADER_HOST_DOWN) {
            f++;
            continue;
        }
        /* Back without it while another host runs it: nothing to restart
         * (kept, it would hold that VM's later restarts back for good). */
        if (x->lost && t && t->liveness == LEADER_HOST_UP && !shows(t->rec, x->vm) &&
            shown_elsewhere(m, n, x->vm, x->target)) {
            h->flights[f] = h->flights[--h->n_flights];
            continue;
        }
        /* Shown running, not merely defined: libvirt defines, then
         * starts, and a sample between the two shows it shut off while
         * the command still runs; taken for settled, that restart would
         * be sent again to another host. A lost one whose target is back
         * and shows it stopped waits the same way: its agent may have
         * restarted while libvirt started it; a command it forgot ends
         * at the timeout. */
        if (!t || t->liveness != LEADER_HOST_UP || shows_running(t->rec, x->vm) ||
            report_settles(t->rec, x->id) || expired) {
            /* A command lost on its way (the target's agent restarted)
             * would keep the VM down: given up, and never granted. */
            if (expired && k < max && (!t || !shows_running(t->rec, x->vm)))
                change(&out[k++], HA_EXPIRED, x);
            /* Ended without it (refused, or revoked: never granted after)
             * and shown by no record: the target does not run it, and
             * dropped, the VM would be known to no one. */
            if ((!t || !shows(t->rec, x->vm)) && !shown_anywhere(m, n, x->vm) &&
                (ended(t ? t->rec : NULL, x->id) || expired)) {
                h->flights[f++].orphan = true;
                continue;
            }
            /* In place, ended with its host up and without the VM
             * running: tallied, unless it started (and stopped since: a
             * new stop, restarted in place again); once it failed, not
             * in place again (Proxmox relocates then). */
            enum report_state rs = report_of(t ? t->rec : NULL, x->id);
            if (x->in_place && t && t->liveness == LEADER_HOST_UP &&
                !shows_running(t->rec, x->vm) && rs != REPORT_SUCCEEDED) {
                if (tally_in_place(h, f, !expired && rs == REPORT_REFUSED, now))
                    f++;
                continue;
            }
            h->flights[f] = h->flights[--h->n_flights];
        } else {
            f++;
        }
    }
    return k;
}

/* Whether a record shows a protected VM, in any state. */
static bool shows_protected(const Nodectl__HostRecord *r) {
    for (size_t k = 0; r && k < r->n_vms; k++)
        if (r->vms[k]->ha)
            return true;
    return false;
}

/* Only a host whose record shows a protected VM is powered off through its
 * BMC: fencing is what restarting its guests elsewhere needs (Proxmox VE
 * fences only nodes with HA services), and powering off a host whose agent
 * died, or whose "off" was disproved, would kill its unprotected guests for
 * nothing. Any other down host is fenced by the wait alone. */
bool ha_bmc_due(struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                char *host, size_t len, enum ha_bmc_step *step) {
    for (size_t i = 0; i < h->n; i++) {
        struct ha_host *x = &h->hosts[i];
        const struct executor_member *mm = member(m, n, x->name);
        if (!x->fencing || x->evidence != HA_EVIDENCE_NONE || x->bmc == BMC_ASKED || !mm ||
            mm->liveness != LEADER_HOST_DOWN || !shows_protected(mm->rec) ||
            !mm->rec->power || !mm->rec->power->ipmi_address[0] ||
            (x->bmc == BMC_NEXT && now < x->bmc_at))
            continue;
        /* A status alone only follows a power off of this fencing. */
        enum ha_bmc_step s = x->bmc == BMC_NEXT && x->bmc_off_sent ? x->bmc_next
                                                                   : HA_BMC_POWER_OFF;
        x->bmc = BMC_ASKED;
        if (s == HA_BMC_POWER_OFF) {
            x->bmc_off_sent = true;
            x->bmc_off_at = now;
        }
        snprintf(host, len, "%s", x->name);
        *step = s;
        return true;
    }
    return false;
}

void ha_bmc_result(struct ha *h, const char *host, enum ha_bmc_read read, uint64_t now) {
    struct ha_host *x = find(h, host);
    if (!x || !x->fencing || x->bmc != BMC_ASKED)
        return;
    if (read == HA_BMC_READ_OFF && x->bmc_off_sent) {
        x->bmc = BMC_IDLE;
        if (x->evidence == HA_EVIDENCE_NONE)
            x->evidence = HA_EVIDENCE_BMC;
        return;
    }
    x->bmc = BMC_NEXT;
    if (now < x->bmc_off_at + HA_BMC_POWER_WAIT_MS) {
        /* The power-wait: the chassis may take seconds to go off. */
        x->bmc_next = HA_BMC_STATUS;
        x->bmc_at = now + HA_BMC_STATUS_EVERY_MS;
    } else {
        /* Still on after the wait: the power off did not take, send it
         * again now; a BMC that does not answer is asked again later. */
        x->bmc_next = HA_BMC_POWER_OFF;
        x->bmc_at = read == HA_BMC_READ_ON ? now : now + HA_BMC_RETRY_MS;
    }
}

enum ha_evidence ha_evidence_now(const struct ha *h, const char *host, uint64_t now,
                                 uint64_t *wait_until) {
    const struct ha_host *x = find(h, host);
    *wait_until = 0;
    if (!x || !x->fencing)
        return HA_EVIDENCE_NONE;
    if (x->evidence != HA_EVIDENCE_NONE)
        return x->evidence;
    *wait_until = host_fence_self_fenced_at(x->last_answer, h->leading_since, h->cfg.timeout_ms,
                                            h->cfg.rho, h->cfg.margin_ms);
    return now >= *wait_until ? HA_EVIDENCE_SELF : HA_EVIDENCE_NONE;
}

size_t ha_fenced_count(const struct ha *h) {
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        k += h->hosts[i].fencing;
    return k;
}

const char *ha_fenced_at(const struct ha *h, size_t i, uint64_t now, enum ha_evidence *e) {
    for (size_t k = 0; k < h->n; k++)
        if (h->hosts[k].fencing && i-- == 0) {
            uint64_t until;
            *e = ha_evidence_now(h, h->hosts[k].name, now, &until);
            return h->hosts[k].name;
        }
    return NULL;
}


static bool in_flight(const struct ha *h, const char *vm) {
    for (size_t f = 0; f < h->n_flights; f++)
        if (strcmp(h->flights[f].vm, vm) == 0 && !h->flights[f].tally)
            return true;
    return false;
}

/* Whether vm, stopped on host, is to be restarted elsewhere: restarting
 * it in place there failed (or was refused too often). */
static bool relocate(struct ha *h, const char *vm, const char *host) {
    const struct flight *y = tally_of(h, vm, host);
    return y && y->relocate;
}

/* Restarts lost with their target, once it has evidence: to restart again
 * (the flight ends; a new one starts with ha_restart_sent). */
static size_t lost_restarts(struct ha *h, const struct executor_member *m, size_t n,
                            uint64_t now, struct ha_restart *out, size_t k, size_t max,
                            size_t *waiting) {
    for (size_t f = 0; f < h->n_flights;) {
        const struct flight *x = &h->flights[f];
        const struct executor_member *t = member(m, n, x->target);
        uint64_t until;
        /* Back up without it, its record says it has it not; an orphan's
         * target ended its restart without it. */
        enum ha_evidence e = x->orphan ? x->evidence
                             : !x->lost ? HA_EVIDENCE_NONE
                             : t && t->liveness == LEADER_HOST_UP && !shows(t->rec, x->vm)
                                 ? HA_EVIDENCE_UP
                                 : ha_evidence_now(h, x->target, now, &until);
        if (!(x->lost || x->orphan) || shown_elsewhere(m, n, x->vm, x->target)) {
            f++;
            continue;
        }
        if (e == HA_EVIDENCE_NONE || k == max) {
            *waiting += e == HA_EVIDENCE_NONE;
            f++;
            continue;
        }
        struct ha_restart *r = &out[k++];
        memset(r, 0, sizeof *r);
        snprintf(r->vm, sizeof r->vm, "%s", x->vm);
        snprintf(r->from, sizeof r->from, "%s", x->from);
        r->priority = x->priority;
        r->evidence = e;
        /* Kept until a restart of it is sent (ha_restart_sent replaces
         * it): one the caller cannot place is offered again. */
        f++;
    }
    return k;
}

static int by_priority(const void *pa, const void *pb) {
    const struct ha_restart *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    return strcmp(a->vm, b->vm);
}

/* Whether x is a running host whose record does not show this leader's
 * term yet: a restart waits for it (held_back). */
static bool term_unshown(const struct ha *h, const struct executor_member *x) {
    return x->rec && x->liveness == LEADER_HOST_UP && x->rec->term < h->term;
}

/* Whether any running host's record does not show this leader's term yet.
 * Hosts that do not vote show the term only when the leader asks
 * (ha_answer), and it asks only while a restart waits: every host showing
 * each new term at once would make every host fetch every record after
 * each election, work that grows with the cluster and, on busy hosts,
 * delays heartbeats into the next election (a metastable loop). */
static bool terms_lag(const struct ha *h, const struct executor_member *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (term_unshown(h, &m[i]))
            return true;
    return false;
}

/* What holds every restart back now: "" when nothing does. */
static void held_back(const struct ha *h, const struct executor_member *m, size_t n,
                      uint64_t now, char *why, size_t len) {
    why[0] = '\0';
    for (size_t i = 0; i < n && !why[0]; i++) {
        const Nodectl__HostRecord *r = m[i].rec;
        uint64_t until;
        if (!r)
            continue;
        if (m[i].liveness == LEADER_HOST_DOWN && !ha_fencing(h, r->name)) {
            snprintf(why, len, "%s is down: fenced once shown down for %.1f s in a row (a "
                     "healthy host refutes a false death within that)", r->name,
                     (double)refute_window(h, n) / 1000);
        } else if (m[i].liveness == LEADER_HOST_DOWN &&
                   ha_evidence_now(h, r->name, now, &until) == HA_EVIDENCE_NONE) {
            if (until > now)
                snprintf(why, len, "no evidence yet that %s is fenced: its self-fence wait "
                         "ends in %llu s", r->name,
                         (unsigned long long)((until - now + 999) / 1000));
            else
                snprintf(why, len, "no evidence yet that %s is fenced", r->name);
        } else if (term_unshown(h, &m[i])) {
            snprintf(why, len, "%s's record does not show term %llu yet", r->name,
                     (unsigned long long)h->term);
        } else if (m[i].liveness == LEADER_HOST_UP && r->hypervisor &&
                   !r->hypervisor->available) {
            /* Its record lists no VM while libvirt does not answer, yet its
             * guests run on: any VM may run there (nodesim cluster --ha
             * restarted one that did). */
            snprintf(why, len, "%s's hypervisor does not answer: its record does not show "
                     "what runs there", r->name);
        }
    }
}

size_t ha_restarts(struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                   struct ha_restart *out, size_t max, char *why, size_t whylen) {
    why[0] = '\0';
    h->show_terms = false;
    if (!h->leading)
        return 0;
    size_t k = 0, waiting = 0;
    char off_note[256] = "";
    /* A fenced host is down, or up again with its protected guests stopped
     * (its lease lapsed): it has them defined, not running. An up host
     * that is not fenced may have stopped them too (its lease lapsed while
     * no leader answered): a protected VM is kept running, as Proxmox's
     * "started" state is, until `ha=no`. */
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = m[i].rec;
        bool fenced = r && ha_fencing(h, r->name);
        if (!r || m[i].liveness == LEADER_HOST_OFF || (!fenced && m[i].liveness != LEADER_HOST_UP))
            continue;
        uint64_t until;
        enum ha_evidence e = fenced ? ha_evidence_now(h, r->name, now, &until) : HA_EVIDENCE_UP;
        for (size_t v = 0; v < r->n_vms; v++) {
            const Nodectl__Vm *vm = r->vms[v];
            size_t j = 0;
            while (j < k && strcmp(out[j].vm, vm->name) != 0)
                j++;
            bool stopped = m[i].liveness != LEADER_HOST_UP || !running(vm);
            /* Its host is up and not fenced: started there, where it is
             * defined, unless that failed. */
            bool in_place = !fenced && !relocate(h, vm->name, r->name);
            /* From a host that is down, a host shown off counts only on
             * a record sampled after the down host's last: a leader that
             * missed the off host's last records holds one of before the
             * VM left it (nodesim cluster --ha seed 8231: n19's record of
             * 96 s showed vm38, which migrated to n2 at 124 s before the
             * planner powered n19 off; vm38, stopped on n2 by its
             * self-fence, was never restarted). An off host that booted
             * and runs the VM (its "off" stale) shows it on records
             * newer than that last one. An up host's records are renewed
             * all the time: against them, a host that runs the VM would
             * count only on the rounds its sample is the newer, so any
             * record counts. */
            uint64_t off_after = m[i].liveness == LEADER_HOST_UP ? 0 : r->sampled_at_ms;
            const Nodectl__HostRecord *by =
                vm->ha && stopped ? shown_elsewhere_after(m, n, vm->name, r->name, off_after)
                                  : NULL;
            if (!vm->ha || !stopped || by || in_flight(h, vm->name)) {
                /* Said when nothing else is: a host shown off holding a
                 * VM back is what a trace could not show (seed 8231). */
                if (by && !off_note[0] && member_off(m, n, by->name) &&
                    !in_flight(h, vm->name))
                    snprintf(off_note, sizeof off_note,
                             "%s, stopped on %s, is not restarted: %s, shown off, shows it "
                             "running (its record sampled at %llu)",
                             vm->name, r->name, by->name,
                             (unsigned long long)by->sampled_at_ms);
                continue;
            }
            /* Listed already: from a fenced host's stale copy, it is
             * restarted in place here instead (elsewhere, a start here by
             * someone else would make it run twice); from another up
             * host's, here if it last ran here. */
            if (j < k && (!in_place || (out[j].in_place &&
                                        (!ran_last_on(h, vm->name, r->name) ||
                                         ran_last_on(h, vm->name, out[j].from)))))
                continue;
            if (e == HA_EVIDENCE_NONE) {
                waiting++;
                continue;
            }
            if (j == max)
                continue;
            struct ha_restart *x = &out[j];
            k += j == k;
            memset(x, 0, sizeof *x);
            snprintf(x->vm, sizeof x->vm, "%s", vm->name);
            snprintf(x->from, sizeof x->from, "%s", r->name);
            x->priority = vm->ha_priority;
            x->evidence = e;
            x->in_place = in_place;
        }
    }
    k = lost_restarts(h, m, n, now, out, k, max, &waiting);
    if (!waiting && !k) {
        snprintf(why, whylen, "%s", off_note);
        return 0;
    }
    h->show_terms = terms_lag(h, m, n);
    held_back(h, m, n, now, why, whylen);
    if (why[0])
        return 0;
    if (waiting)
        snprintf(why, whylen, "%zu protected VM(s) wait for evidence that their host is fenced",
                 waiting);
    qsort(out, k, sizeof *out, by_priority);
    return k;
}

static bool flight_start(struct ha *h, const struct ha_restart *r, const char *target,
                         const char *id, uint64_t now, bool waking, uint64_t wake_ms) {
    assert(!r->in_place || strcmp(target, r->from) == 0);
    /* A lost or orphan restart of it, offered again, is replaced. */
    for (size_t i = 0; i < h->n_flights;)
        if (strcmp(h->flights[i].vm, r->vm) == 0 && (h->flights[i].lost || h->flights[i].orphan))
            h->flights[i] = h->flights[--h->n_flights];
        else
            i++;
    if (h->n_flights == HA_RESTARTS_MAX)
        return false;
    struct flight *f = &h->flights[h->n_flights++];
    memset(f, 0, sizeof *f);
    snprintf(f->vm, sizeof f->vm, "%s", r->vm);
    snprintf(f->from, sizeof f->from, "%s", r->from);
    f->priority = r->priority;
    f->evidence = r->evidence;
    f->in_place = r->in_place;
    snprintf(f->target, sizeof f->target, "%s", target);
    snprintf(f->id, sizeof f->id, "%s", id);
    f->sent_at = now;
    f->waking = waking;
    f->expires_at = now + wake_ms + HA_FLIGHT_TIMEOUT_MS;
    return true;
}

bool ha_restart_sent(struct ha *h, const struct ha_restart *r, const char *target,
                     const char *id, uint64_t now) {
    return flight_start(h, r, target, id, now, false, 0);
}

bool ha_restart_waking(struct ha *h, const struct ha_restart *r, const char *target,
                       const char *id, uint64_t now, uint64_t wake_ms) {
    return flight_start(h, r, target, id, now, true, wake_ms);
}

static bool waiting_for_wake(const struct flight *x) {
    return x->waking && !x->lost && !x->orphan;
}

const char *ha_waking_at(const struct ha *h, size_t i) {
    for (size_t f = 0; f < h->n_flights; f++)
        if (waiting_for_wake(&h->flights[f]) && i-- == 0)
            return h->flights[f].id;
    return NULL;
}

bool ha_restart_gave_up(struct ha *h, const char *id, uint64_t now) {
    for (size_t f = 0; f < h->n_flights; f++) {
        struct flight *x = &h->flights[f];
        if (!waiting_for_wake(x) || strcmp(x->id, id) != 0)
            continue;
        uint64_t at = now > x->sent_at ? now : x->sent_at + 1;
        if (at < x->expires_at)
            x->expires_at = at;
        return true;
    }
    return false;
}

size_t ha_in_flight(const struct ha *h) {
    size_t k = 0;
    for (size_t f = 0; f < h->n_flights; f++)
        k += !h->flights[f].tally;
    return k;
}
