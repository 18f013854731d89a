/* The leader's executor: what a leader does with its plans, as a pure state
 * machine in the manner of etcd raft's Step and canonical raft's injected
 * I/O. The agent (src/agent/agent_leader.c) and the simulator (src/sim/)
 * feed it the election's view, the gossiped records and the time, and take
 * out the commands to send and the events to show; both run this same code.
 *
 * Time is an input everywhere: `now` is the caller's monotonic clock in ms
 * (CLOCK_BOOTTIME in the agent), the clock of the lease and of every
 * deadline; `wall` is the caller's stamp clock in ms since the epoch (a
 * wall clock that does not step, src/common/stamp_clock.h), used only for
 * display and for the cool-downs that compare with the stamps hosts put in
 * their records.
 *
 * A command leaves only while the lease covers it: executor_step dispatches
 * only while the lease observed last holds past now + EXECUTOR_SEND_ROOM_MS,
 * and the caller checks again with a fresh clock immediately before each
 * send (executor_may_send). A command takes effect only under a grant
 * (executor_grant), given once per command, to its target, while a fresh
 * reading shows the lease held (docs/safety.md). */
#ifndef NODECTL_EXECUTOR_H
#define NODECTL_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command/command.h"
#include "common/config.h"
#include "leader/leader_events.h"
#include "leader/leader_snapshot.h"
#include "leader/leader_view.h"
#include "placement/placement.h"

/* Room left for the send itself when a fresh check decides to send. */
#define EXECUTOR_SEND_ROOM_MS 20
/* A grant is valid for what remains of the lease less this room... */
#define EXECUTOR_GRANT_ROOM_MS 20
/* ...and is refused when less than this would remain: too short to act. */
#define EXECUTOR_GRANT_MIN_MS 50

struct executor_config {
    char self[COMMAND_NAME_MAX];
    enum config_automation automation; /* off: no plan; advise: plans only; auto: acts */
    char policy[COMMAND_NAME_MAX];     /* the planner's policy name, for events */
    uint32_t max_migrations;           /* in flight at once, cluster-wide */
    uint32_t migration_timeout_ms;
    uint32_t power_on_timeout_ms;      /* a woken host not back by then is failed */
    uint32_t plan_interval_ms;
    uint64_t wake_cooldown_ms;         /* a failed power-off is not retried sooner */
    double idle_watts, max_watts;      /* the snapshot's power model */
    uint64_t seed;                     /* command ids */
};

/* How the election sees things at one instant (executor_observe). */
struct executor_lease {
    uint64_t term;
    const char *leader;   /* its name, "" none known */
    uint64_t lease_until; /* monotonic ms; 0: this host holds no lease */
};

/* A member as gossip shows it; the record is borrowed for the call. */
struct executor_member {
    const Nodectl__HostRecord *rec;
    enum leader_liveness liveness;
    /* Gossip's incarnation of the member as shown: only the member raises
     * it, when it refutes news of its failure or comes back (SWIM section
     * 4.2), so one that moved between two looks was up in between. */
    uint32_t incarnation;
};

enum executor_action_state {
    EXECUTOR_PROPOSED, EXECUTOR_DISPATCHED, EXECUTOR_DONE, EXECUTOR_FAILED,
    EXECUTOR_NOT_EXECUTED
};
const char *executor_action_state_name(enum executor_action_state s);
const char *executor_action_kind_name(enum placement_action_kind k);

/* One action of the current plan, as `nodectl plan` shows it. */
struct executor_action {
    enum placement_action_kind kind;
    char vm[COMMAND_VM_MAX];
    char source[COMMAND_NAME_MAX];
    char host[COMMAND_NAME_MAX]; /* target of a migration, or the host powered */
    char reason[PLACEMENT_REASON_MAX + 64];
    enum executor_action_state state;
    char note[COMMAND_REASON_MAX];
    char command_id[COMMAND_ID_MAX];
    char waker[COMMAND_NAME_MAX]; /* power-on: the host asked to wake it */
    bool by_ipmi;                 /* power-on: through its BMC, not Wake-on-LAN */
    const size_t *deps;           /* indices of the actions it waits for */
    size_t n_deps;
};

/* A command to send: to the target's agent at `address`, or, when local,
 * to this host's own guard. */
struct executor_send {
    struct command cmd;
    char address[COMMAND_URI_MAX];
    bool local;
};

struct executor;

struct executor *executor_new(const struct executor_config *cfg);
void executor_free(struct executor *ex);

/* The election's view; call it with every fresh reading, before the calls
 * below. Leading starts afresh in every term (a new plan from gossip, not
 * an old one); the events tell terms, leaders and the lease. */
void executor_observe(struct executor *ex, const struct executor_lease *l, uint64_t now,
                      uint64_t wall);
bool executor_leading(const struct executor *ex);

/* "May I send now": the lease ends after now + EXECUTOR_SEND_ROOM_MS. The
 * caller asks with a fresh lease_until and clock immediately before each
 * send. */
bool executor_may_send(uint64_t lease_until, uint64_t now);

/* One round: follows dispatched actions in the records, asks again for
 * wakes not answered, and dispatches what is ready in dependency order (in
 * auto, while the lease holds), queueing commands for executor_next. 0, or
 * -1 when out of memory (nothing then changed). */
int executor_step(struct executor *ex, const struct executor_member *m, size_t n, uint64_t now,
                  uint64_t wall);
/* The next command to send; false when none is queued. */
bool executor_next(struct executor *ex, struct executor_send *out);
/* A command taken from executor_next was not sent (no lease at the fresh
 * check, or the transport refused it): its action fails with `why`. */
void executor_not_sent(struct executor *ex, const char *id, const char *why, uint64_t wall);
/* When executor_step is due next (monotonic ms); UINT64_MAX: not leading. */
uint64_t executor_deadline(const struct executor *ex);

/* Planning, which the agent runs off its loop (the planner may take
 * seconds; heartbeats may not wait for it). A plan is due when this host
 * leads with automation on, the interval passed and, in auto, the last
 * plan's actions have all ended. */
bool executor_plan_due(const struct executor *ex, uint64_t now);
enum executor_plan_start {
    EXECUTOR_PLAN_STARTED, /* *out is the planner's snapshot, *ticket names the term and
                            * the lease it was begun under */
    EXECUTOR_PLAN_WAIT,    /* auto, takeover: a migration this leader did not send still
                            * runs; due again at the next step */
    EXECUTOR_PLAN_ERROR,   /* out of memory */
};
/* Builds the snapshot of members m (records must outlive it) with what
 * this leader knows beyond them: the hosts it woke, those that did not
 * come back, the power-offs that failed lately. */
enum executor_plan_start executor_plan_begin(struct executor *ex, const struct executor_member *m,
                                             size_t n, uint64_t now, uint64_t wall,
                                             struct leader_snapshot *out, uint64_t *ticket);
/* The planner's result (rc and pp, from placement_plan) for the snapshot s
 * begun with `ticket`. Kept only if this host still leads in that term
 * under the same lease: a plan that outlived its term or lease is
 * discarded (an event says so). True when kept. */
bool executor_plan_end(struct executor *ex, uint64_t ticket, const struct leader_snapshot *s,
                       int rc, const struct placement_plan *pp, uint64_t now, uint64_t wall);

/* A target asks whether it may act on command req->id. `term` and
 * `lease_until` come from a fresh reading of the election, `now` from a
 * fresh clock. Granted only when this host leads in that term, the lease
 * covers at least EXECUTOR_GRANT_ROOM_MS + EXECUTOR_GRANT_MIN_MS, and the
 * command was dispatched by this executor in this term to req->target and
 * never granted before; valid_ms = lease_until - now - room. */
void executor_grant(struct executor *ex, const struct grant_request *req, uint64_t term,
                    uint64_t lease_until, uint64_t now, struct grant *out);

/* The current plan: its actions, planned at (wall; 0: none yet), term, and
 * why the last round did not plan ("" if it did). */
/* Actions of this kind that reached this state (DISPATCHED, DONE, FAILED,
 * NOT_EXECUTED) while this host led, for metrics. */
uint64_t executor_action_count(const struct executor *ex, enum placement_action_kind kind,
                               enum executor_action_state state);
#define EXECUTOR_STATES (EXECUTOR_NOT_EXECUTED + 1)
#define EXECUTOR_KINDS (PLACEMENT_POWER_OFF + 1)
size_t executor_plan_size(const struct executor *ex);
const struct executor_action *executor_plan_action(const struct executor *ex, size_t i);
uint64_t executor_plan_at(const struct executor *ex);
uint64_t executor_plan_term(const struct executor *ex);
const char *executor_note(const struct executor *ex);
const struct leader_events *executor_events(const struct executor *ex);

/* ---- The leader's soft state, for a successor (docs/leader.md) ---- */
/* A host this leader woke: when (wall; the planner's wake cool-down), and
 * whether it failed to come back (the planner routes around it). */
struct executor_woken {
    char name[COMMAND_NAME_MAX];
    uint64_t at_wall;
    bool failed;
};
/* The hosts this leader woke, newest first, at most max. */
size_t executor_woken_list(const struct executor *ex, struct executor_woken *out, size_t max);
/* What a candidate copied from the leader it followed. */
struct executor_takeover_from {
    const char *leader;                 /* its name */
    const struct leader_events *events; /* its log as copied (NULL: none) */
    const struct executor_woken *woken; /* newest first */
    size_t n_woken;
};
/* Called once when this host starts to lead, before it plans: the
 * predecessor's woken hosts join this executor's (its own kept where both
 * know a host), and the log becomes the predecessor's followed by what
 * this host logged since the last copied event (renumbered from 1). */
void executor_takeover(struct executor *ex, const struct executor_takeover_from *from,
                       uint64_t wall);
/* A command of this leader outside its plan (nodectl create's define):
 * queued for executor_next with a fresh id, this term and this host as
 * issuer, and granted once like the plan's. False when this host does not
 * lead, the lease would not cover the send, or out of memory. */
bool executor_issue(struct executor *ex, struct command *cmd, const char *target,
                    const char *address, bool local, uint64_t now);
/* nodectl create onto a host that is off: cmd (a define) gets its id now,
 * so the caller can follow it in the target's record. The executor wakes
 * `target` as a plan's power-on does (IPMI or Wake-on-LAN, asked again
 * until it is back) and sends the define once the host is alive, under
 * the lease like every command; no plan powers the host off before the
 * define is reported. It gives up, with the event "create: VM not placed
 * on HOST (command ID): why", when no live host can wake the target or
 * the target is not back within power_on_timeout of the asking. False
 * with why when this host does not lead, a create of that VM already
 * waits, or EXECUTOR_CREATES_MAX (8) creates wait. */
bool executor_create_after_wake(struct executor *ex, struct command *cmd, const char *target,
                                uint64_t now, uint64_t wall, char *why, size_t len);
/* The same for the HA round's restart of a protected VM onto a host that
 * is off (docs/ha.md): events say "HA restart", and unlike an operator's
 * create it is dropped (its define never granted) when this host loses its
 * lease or the term changes, since the HA round that asked for it starts
 * afresh then and a successor decides again. */
bool executor_ha_after_wake(struct executor *ex, struct command *cmd, const char *target,
                            uint64_t now, uint64_t wall, char *why, size_t len);
/* Before the HA round restarts VM vm afresh (it keeps no restart of it in
 * flight, e.g. after it started to lead anew): an HA restart's create of
 * vm whose define has not left yet ends (with an event); true when no
 * create of vm is left, false with why when one whose define left (it may
 * be defining the VM), or an operator's create of that name, waits. */
bool executor_create_clear(struct executor *ex, const char *vm, uint64_t wall, char *why,
                           size_t len);
/* Whether a create (either kind) of command id still waits. */
bool executor_create_waits(const struct executor *ex, const char *id);
/* Whether the create of command id ended before its define was ever sent
 * (the host could not be woken or did not come back, the lease was lost,
 * or it was revoked first): nothing of it can take effect. Remembered for
 * the last EXECUTOR_UNSENT_MAX (16) such creates. */
bool executor_create_unsent(const struct executor *ex, const char *id);
/* A reloaded cluster policy: its name (for events) and wake cool-down. */
void executor_policy(struct executor *ex, const char *policy, uint64_t wake_cooldown_ms);
/* Command `id` of executor_issue is never granted from now on (the
 * leader gave up on it), and a create of that id still waiting for its
 * host to wake ends (with an event); false when neither is in the tables
 * any more. */
bool executor_revoke(struct executor *ex, const char *id, uint64_t wall);
/* An event of the leader's own beyond its plans (a create it sent). */
void executor_event(struct executor *ex, uint64_t wall, const char *text);
/* The planner's snapshot now (executor_plan_begin's, without starting a
 * plan): for nodectl capacity and create. 0, or -1 when out of memory. */
int executor_snapshot(struct executor *ex, const struct executor_member *m, size_t n,
                      uint64_t wall, struct leader_snapshot *out);

#endif
