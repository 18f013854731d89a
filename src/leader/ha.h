/* The leader's HA state (docs/ha.md), pure: no I/O, time is an input. It
 * answers hosts' run lease renewals (src/host/host_fence.h) and remembers
 * when it last answered each; it fences a host that is down with protected
 * VMs (answers it no more) and says which evidence that the host runs none
 * of them holds:
 *   - BMC: its BMC powered it off and a power status read back said off;
 *   - self: this leader has not answered it for T * (1 + rho) + margin,
 *     counted from the later of its last answer and its own election;
 *   - operator: `nodectl host fenced HOST`.
 * Then, and only then, its protected VMs that no live host runs are to be
 * restarted, higher ha_priority first (ha_restarts). Everything here is
 * soft state: a new leader starts afresh, and its wait from its own
 * election covers what its predecessor answered. */
#ifndef NODECTL_LEADER_HA_H
#define NODECTL_LEADER_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command/command.h"
#include "leader/executor.h"

#define HA_HOSTS_MAX 1024
#define HA_RESTARTS_MAX 256

struct ha_config {
    uint32_t timeout_ms; /* T: [ha] self_fence_timeout */
    uint32_t margin_ms;  /* [ha] fence_margin */
    double rho;
};

enum ha_evidence { HA_EVIDENCE_NONE, HA_EVIDENCE_BMC, HA_EVIDENCE_SELF, HA_EVIDENCE_OPERATOR };
const char *ha_evidence_name(enum ha_evidence e);

struct ha;

struct ha *ha_new(const struct ha_config *cfg);
void ha_free(struct ha *h);

/* The election's view at `now`: a new term, or leading anew, starts with
 * an empty table and leading_since = now. */
void ha_observe(struct ha *h, uint64_t term, bool leading, uint64_t now);

/* A renewal from `from`; lease_until and now read fresh. Granted ones are
 * remembered as this leader's last answer to that host. */
void ha_answer(struct ha *h, const struct fence_renew *req, const char *from,
               uint64_t lease_until, uint64_t now, struct fence_renewed *out);

/* A host whose last record shows protected VMs and that gossip shows down
 * is fenced from now on: its renewals are refused with `fenced`. A host
 * already fenced is left as it is. False when the table is full. */
bool ha_fence(struct ha *h, const char *host, uint64_t now);
bool ha_fencing(const struct ha *h, const char *host);
/* Evidence that arrived: the BMC said off (after a power off), or the
 * operator confirmed. */
void ha_evidence_set(struct ha *h, const char *host, enum ha_evidence e);
/* The evidence that holds now for a fenced host (self once the wait is
 * over); HA_EVIDENCE_NONE while none does, with *wait_until the moment
 * the self-fence wait ends. */
enum ha_evidence ha_evidence_now(const struct ha *h, const char *host, uint64_t now,
                                 uint64_t *wait_until);
/* A fenced host is released (answered again) once it is up and its record
 * shows no protected VM running: it stopped them, and its reconciliation
 * undefines those that moved. */
void ha_release(struct ha *h, const char *host);
size_t ha_fenced_count(const struct ha *h);
const char *ha_fenced_at(const struct ha *h, size_t i);

/* A protected VM to restart: which, from where, and its priority. */
struct ha_restart {
    char vm[COMMAND_VM_MAX];
    char from[COMMAND_NAME_MAX];
    uint32_t priority;
    enum ha_evidence evidence;
};
/* The protected VMs of fenced hosts with evidence, that no up host's record
 * shows (running or defined), in restart order: higher priority first,
 * then by name. *waiting counts those whose host has no evidence yet. */
size_t ha_restarts(const struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                   struct ha_restart *out, size_t max, size_t *waiting);

#endif
