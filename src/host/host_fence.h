/* The run lease: the self-fence lease a host's protected (ha) guests run
 * under (docs/ha.md), pure: no I/O, time and nonces are inputs.
 *
 * The host asks the leader to renew it (FenceRenew) every renew_ms, noting
 * asked_at, its own monotonic clock just before the request leaves; the
 * leader answers only while a fresh reading shows its own lease, valid_ms =
 * T (host_fence_answer). The host's lease then runs until
 *     asked_at + valid_ms * (1 - rho)
 * on its own clock: the same bound a grant has (docs/safety.md), so a late,
 * duplicated or replayed answer extends nothing it should not (an answer
 * counts only for a renewal outstanding, by nonce, and from the leader the
 * host knows). When the lease lapses, the host stops its protected guests
 * at once (the agent's part) and starts none until it holds one again.
 *
 * The leader that decides to restart a silent host's guests stops answering
 * it and counts it self-fenced once
 *     max(its last answer to it, the moment it became leader) + T * (1 + rho) + margin
 * has passed on its own clock (host_fence_self_fenced_at): the host's lease
 * ended at most T of real time after the last answer of any leader, and a
 * previous leader answered only while its lease held, which ended before
 * this leader's election. So no leader needs to persist anything.
 *
 * The wait assumes the host's agent runs to stop its guests when the lease
 * lapses; a host whose agent may die with guests running needs the
 * watchdog (docs/ha.md), which resets the machine when the agent stops
 * petting it. */
#ifndef NODECTL_HOST_FENCE_H
#define NODECTL_HOST_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command/command.h"

#define HOST_FENCE_ASKS_MAX 8        /* renewals outstanding, by nonce */
#define HOST_FENCE_RETRY_MS 1000     /* no answer to a renewal: ask again after this */
#define HOST_FENCE_ANSWER_ROOM_MS 20 /* a leader answers only with this much lease left */

struct host_fence_config {
    char self[COMMAND_NAME_MAX];
    uint32_t timeout_ms; /* T: [ha] self_fence_timeout */
    double rho;          /* how much a clock's rate may differ from real time */
    uint32_t renew_ms;   /* 0: T / 6, at most 2 s */
};

enum host_fence_answer {
    HOST_FENCE_EXTENDED, /* the lease runs longer */
    HOST_FENCE_REVOKED,  /* the leader is fencing this host: the lease ends now */
    HOST_FENCE_REFUSED,  /* the leader refused for another reason: nothing changes */
    HOST_FENCE_IGNORED,  /* not an answer to a renewal outstanding, or not from the leader */
};
const char *host_fence_answer_name(enum host_fence_answer a);

struct host_fence;

/* A lease restored from before the agent's restart on the same boot
 * (restored_until, this host's monotonic clock; 0: none): until then the
 * host holds it. Without one the host holds none until the first answer. */
struct host_fence *host_fence_new(const struct host_fence_config *cfg, uint64_t restored_until,
                                  uint64_t now);
void host_fence_free(struct host_fence *f);

/* Whether protected guests may run here now (a fresh reading of the clock). */
bool host_fence_holds(const struct host_fence *f, uint64_t now);
/* When the lease ends (this host's clock); 0: never held. */
uint64_t host_fence_until(const struct host_fence *f);

/* Whether a renewal is due now; then host_fence_asked with a fresh random
 * nonce fills the message to send to the leader. */
bool host_fence_ask_due(const struct host_fence *f, uint64_t now);
void host_fence_asked(struct host_fence *f, uint64_t nonce, uint64_t now,
                      struct fence_renew *out);
/* The next time host_fence_ask_due or host_fence_lapse_due can change. */
uint64_t host_fence_deadline(const struct host_fence *f, uint64_t now);

/* An answer from `from` (its frame's certified sender), while this host
 * knows `leader` ("": none) as the leader of known_term. */
enum host_fence_answer host_fence_on_renewed(struct host_fence *f, const struct fence_renewed *r,
                                             const char *from, const char *leader,
                                             uint64_t known_term, uint64_t now);

/* True once per lapse: the lease has ended (or was revoked, or never
 * held) and the caller has not been told since; `why` says how. The
 * caller stops its protected guests. */
bool host_fence_lapse_due(struct host_fence *f, uint64_t now, char *why, size_t len);

/* The leader's side. The answer to `req` from `from`, by the leader of
 * `term` whose lease runs until lease_until, read fresh at `now`: granted
 * for timeout_ms while the lease has HOST_FENCE_ANSWER_ROOM_MS left and the
 * leader is not fencing that host (fencing: refused with `fenced`). */
void host_fence_answer(const struct fence_renew *req, const char *from, uint64_t term,
                       uint64_t lease_until, uint64_t now, bool fencing, uint32_t timeout_ms,
                       struct fence_renewed *out);
/* When a leader may count a silent host as self-fenced. */
uint64_t host_fence_self_fenced_at(uint64_t last_answer, uint64_t leading_since,
                                   uint32_t timeout_ms, double rho, uint32_t margin_ms);

#endif
