/* A host's acceptance of commands (docs/safety.md, "Lease-bound
 * execution"), pure: no I/O, the time and the randomness are inputs. A
 * command may take effect here only if
 *   - it names this host as its target,
 *   - its term is not older than the highest this host knows (the fence),
 *   - its id is new (a host runs one id once),
 *   - its issuer granted it in answer to a request this host has
 *     outstanding (same id, same fresh random nonce), and
 *   - this host's clock is still before asked_at + valid_ms * (1 - rho),
 *     checked with a fresh reading immediately before the action
 *     (host_guard_may_act).
 * asked_at is this host's clock when the request was queued, before it left:
 * the issuer read its clock later, so its lease outlives that deadline
 * however long the issuer was paused or the grant delayed. A grant that
 * matches no outstanding request (a replay, a duplicate, one that came after
 * the request was given up) is ignored.
 *
 * Once this host committed to power off (host_guard_set_off), it accepts no
 * command until it is back. */
#ifndef NODECTL_HOST_GUARD_H
#define NODECTL_HOST_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command/command.h"
#include "election/fence.h"

#define HOST_GUARD_OUTSTANDING_MAX 32 /* requests waiting for a grant */
#define HOST_GUARD_SEEN_MAX 1024      /* ids remembered as run or refused */
#define HOST_GUARD_ASK_RETRY_MS 1000  /* no answer: ask again with a new nonce */
#define HOST_GUARD_ASK_TIMEOUT_MS 5000 /* no grant by then: refused */
#define HOST_GUARD_ADDR_MAX 128

struct host_guard_config {
    char self[COMMAND_NAME_MAX];
    /* How much slower than real time a clock may run: the bound the
     * election's lease_drift_margin assumes of every clock. */
    double rho;
    uint32_t ask_retry_ms;   /* 0: HOST_GUARD_ASK_RETRY_MS */
    uint32_t ask_timeout_ms; /* 0: HOST_GUARD_ASK_TIMEOUT_MS */
};

enum host_guard_verdict {
    HOST_GUARD_ASK,        /* a grant request is queued for the issuer */
    HOST_GUARD_DUPLICATE,  /* an id seen before: ignored */
    HOST_GUARD_NOT_TARGET, /* it names another host */
    HOST_GUARD_STALE,      /* its term is older than the fence */
    HOST_GUARD_OFF,        /* this host committed to power off */
    HOST_GUARD_BUSY,       /* HOST_GUARD_OUTSTANDING_MAX requests wait already */
};
const char *host_guard_verdict_name(enum host_guard_verdict v);

enum host_guard_answer {
    HOST_GUARD_ACT,     /* act on *cmd, only before *deadline (host_guard_may_act) */
    HOST_GUARD_REFUSED, /* the issuer refused, or the grant came too late: *cmd, why */
    HOST_GUARD_IGNORED, /* no outstanding request matches it, or not from its issuer */
};

/* What the guard asks the caller to do. */
enum host_guard_out_kind {
    HOST_GUARD_OUT_ASK,     /* send `ask` to the issuer at reply_to ("": this host) */
    HOST_GUARD_OUT_GIVE_UP, /* no grant in time: report `cmd` refused with `why` */
};
struct host_guard_out {
    enum host_guard_out_kind kind;
    char reply_to[HOST_GUARD_ADDR_MAX];
    struct grant_request ask;
    struct command cmd;
    char why[COMMAND_REASON_MAX];
};

struct host_guard;

struct host_guard *host_guard_new(const struct host_guard_config *cfg, uint64_t seed);
void host_guard_free(struct host_guard *g);

/* A command arrived from the agent at reply_to ("": issued on this host).
 * The fence is raised when the command's term is newer (the caller persists
 * it: compare fence->highest before and after). On HOST_GUARD_ASK a request
 * is queued (host_guard_next). */
enum host_guard_verdict host_guard_receive(struct host_guard *g, struct fence *fence,
                                           const struct command *cmd, const char *reply_to,
                                           uint64_t now);
/* A grant arrived from host `from` (its frame's certified sender; this
 * host's own name for a local grant): only the command's issuer can answer
 * for it. On HOST_GUARD_ACT, *cmd is the command and *deadline this host's
 * clock by which it must have taken effect; on HOST_GUARD_REFUSED, *cmd and
 * `why`. The request is settled either way. */
enum host_guard_answer host_guard_on_grant(struct host_guard *g, const struct fence *fence,
                                           const struct grant *gr, const char *from,
                                           uint64_t now, struct command *cmd, uint64_t *deadline,
                                           char *why, size_t whylen);
/* "May I act now": the final check, with a fresh clock reading,
 * immediately before the action: before the deadline, and the command's
 * term still not older than the fence. */
bool host_guard_may_act(const struct fence *fence, uint64_t term, uint64_t deadline,
                        uint64_t now);

/* Timers: asks again for requests without an answer, gives up on those
 * past their timeout. */
void host_guard_tick(struct host_guard *g, uint64_t now);
/* The earliest time host_guard_tick has work; UINT64_MAX: none. */
uint64_t host_guard_deadline(const struct host_guard *g);
/* The next thing to do; false when none. */
bool host_guard_next(struct host_guard *g, struct host_guard_out *out);

/* This host committed to power off (true), or is back (false). Committing
 * drops every outstanding request. */
void host_guard_set_off(struct host_guard *g, bool off);

#endif
