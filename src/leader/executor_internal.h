/* Shared between the files of the executor only (executor.c: the election's
 * view, follow-up, dispatch and grants; executor_plan.c: planning). */
#ifndef NODECTL_EXECUTOR_INTERNAL_H
#define NODECTL_EXECUTOR_INTERNAL_H

#include "command/issued.h"
#include "common/prng.h"
#include "executor.h"

/* How often a leader follows dispatched actions and starts the next. */
#define EXECUTOR_TICK_MS 250

struct exec_action {
    struct executor_action pub;
    char prev_id[COMMAND_ID_MAX]; /* power-on: the request before a repeat, "" none */
    uint64_t sent_ms;             /* monotonic: dispatched */
    uint64_t repeat_ms;           /* monotonic: power-on, last asked */
    uint64_t deadline_ms;         /* monotonic: no outcome by then is a failure */
    uint64_t tag;                 /* its commands' in `issued` */
};

/* Hosts this leader woke (struct executor_woken): soft state, which
 * candidates copy from the leader and a successor takes over
 * (executor_takeover, docs/leader.md). */
#define EXECUTOR_WOKEN_MAX 256

#define EXECUTOR_REPORTED_MAX 16

/* nodectl create onto a host that is off (executor_create.c): its wake, as
 * a plan's power-on, then its define, sent once the host is alive. */
#define EXECUTOR_CREATES_MAX 8
#define EXECUTOR_UNSENT_MAX 16
struct exec_create {
    struct exec_action wake;
    struct exec_action define;
    struct command cmd; /* the define, its id assigned when asked */
    bool ha;            /* an HA restart's (executor_ha_after_wake): dropped when
                         * the lease is lost or the term changes */
};

struct executor {
    struct executor_config cfg;
    struct prng rng; /* command ids */
    /* The election's view. */
    uint64_t term;
    uint64_t lease_until; /* 0: no lease */
    bool leading;
    uint64_t epoch; /* one more at every term change and every lease regained: a plan
                     * begun in one epoch is kept only in the same */
    uint64_t seen_term;
    char seen_leader[COMMAND_NAME_MAX];
    /* The plan. */
    struct exec_action *actions;
    size_t n_actions;
    size_t *deps;
    size_t n_deps;
    uint64_t plan_at;   /* wall; 0: none yet */
    uint64_t plan_term;
    uint64_t next_tag;   /* of the next action */
    bool planning;       /* a plan was begun and has not ended */
    uint64_t next_plan_ms, next_tick_ms;
    char note[256];
    char twice[256]; /* the VMs running twice last told, "" none */
    /* What this leader knows beyond the records. */
    struct executor_woken woken[EXECUTOR_WOKEN_MAX];
    size_t n_woken;
    char reported[EXECUTOR_REPORTED_MAX][COMMAND_ID_MAX]; /* power-off failures told */
    size_t next_reported;
    struct issued issued; /* commands sent this term: granted once */
    struct exec_create creates[EXECUTOR_CREATES_MAX];
    size_t n_creates;
    /* Creates that ended before their define was sent, newest last. */
    char unsent[EXECUTOR_UNSENT_MAX][COMMAND_ID_MAX];
    uint64_t next_unsent;
    /* Output. */
    struct executor_send *out;
    size_t out_head, n_out, cap_out;
    struct leader_events events;
    uint64_t entered[EXECUTOR_KINDS][EXECUTOR_STATES]; /* executor_action_count */
};

/* The members decoded, with what this leader knows beyond their records;
 * events for news in them (a failed power-off, a failed host back). 0, or
 * -1 when out of memory. Release with leader_view_release and free. */
int executor_view(struct executor *ex, const struct executor_member *m, size_t n, uint64_t wall,
                  struct leader_member **out);
void executor_view_free(struct leader_member *v, size_t n);
/* Forgets the plan (its commands are no longer granted). */
void executor_plan_clear(struct executor *ex);
/* Whether the plan still has work under way or waiting. */
bool executor_plan_busy(const struct executor *ex);
/* Between the executor's files: an action enters state s (counted); a
 * fresh command id; queues cmd to `to` (a fresh id unless it has one) for
 * action x; asks a live host to wake x's host; follows a dispatched wake
 * (true once it ended); asks again for a wake not answered. */
void executor_enter(struct executor *ex, struct executor_action *p, enum executor_action_state s);
void executor_new_id(struct executor *ex, char out[COMMAND_ID_MAX]);
bool executor_send(struct executor *ex, const struct leader_member *to, struct command *cmd,
                   struct exec_action *x, uint64_t now);
/* Queues cmd, sent before in this term, once more: the frame may have been
 * lost on a connection being set up. Its target runs one id once, and its
 * grant is still given once (no second entry in `issued`). */
bool executor_resend(struct executor *ex, const struct leader_member *to,
                     const struct command *cmd);
bool executor_send_wake(struct executor *ex, const struct leader_member *v, size_t n,
                        struct exec_action *x, uint64_t now);
bool executor_follow_power_on(struct executor *ex, const struct leader_member *v, size_t n,
                              struct exec_action *x, uint64_t now, uint64_t wall);
void executor_repeat_wake(struct executor *ex, const struct leader_member *v, size_t n,
                          struct exec_action *x, uint64_t now);
/* The creates waiting for a host to wake: wakes sent, followed, defines
 * sent once the host is alive, given up with an event when it is not. */
void executor_creates_step(struct executor *ex, const struct leader_member *v, size_t n,
                           uint64_t now, uint64_t wall);
/* The create of command id ends (with an event saying why) and its define
 * is granted no more; false when none waits. */
bool executor_create_cancel(struct executor *ex, const char *id, uint64_t wall,
                            const char *why);
/* Every HA restart's create ends so (the lease lost, or a new term). */
void executor_creates_drop_ha(struct executor *ex, uint64_t wall, const char *why);
/* The host of every create still under way is kept on: no plan powers it
 * off before its define is reported. */
void executor_creates_keep_on(const struct executor *ex, struct leader_member *v, size_t n);

/* "migrate web-1 from n1 to n2", "power-on n4". */
void executor_describe(const struct exec_action *x, char *out, size_t len);

#endif
