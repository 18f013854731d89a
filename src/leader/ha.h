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
    /* How long a member gossip shows down may still refute it, at 10
     * members or fewer (ha_refute_ms); scaled by log10 of the members
     * above that, as gossip's suspicion timeout is. ha_update fences a
     * member only once it has been shown down that long. */
    uint32_t refute_ms;
};

/* The time gossip gives a member to refute a suspicion that no other
 * member confirms, at 10 members or fewer: Lifeguard's maximum suspicion
 * timeout, suspicion_max_timeout_mult * suspicion_mult * probe_interval
 * (Dadgar et al. 2018, section 4.2; src/gossip/gossip_suspicion.c). The
 * refutation of a "dead" makes the same round trip as that of a suspicion
 * (the news reaches the member, its alive at a higher incarnation comes
 * back, SWIM section 4.2), so gossip's own budget for it bounds how long
 * a healthy member may be shown dead. */
struct gossip_config;
uint32_t ha_refute_ms(const struct gossip_config *g);

enum ha_evidence {
    HA_EVIDENCE_NONE, HA_EVIDENCE_BMC, HA_EVIDENCE_SELF, HA_EVIDENCE_OPERATOR,
    HA_EVIDENCE_UP /* not fenced: its host is up and its record shows the VM stopped */
};
const char *ha_evidence_name(enum ha_evidence e);
/* One word: "" (none), bmc, self, operator, up; ha_evidence_parse reads it
 * back (HA_EVIDENCE_NONE for anything else). */
const char *ha_evidence_word(enum ha_evidence e);
enum ha_evidence ha_evidence_parse(const char *word);

struct ha;

struct ha *ha_new(const struct ha_config *cfg);
void ha_free(struct ha *h);

/* The election's view at `now`: a new term, or leading anew, starts with
 * an empty table and leading_since = now. */
void ha_observe(struct ha *h, uint64_t term, bool leading, uint64_t now);

/* A renewal from `from`; lease_until and now read fresh. Granted ones are
 * remembered as this leader's last answer to that host, and ask it to
 * show this term in its record while the last ha_restarts found a restart
 * waiting for a record that does not. */
void ha_answer(struct ha *h, const struct fence_renew *req, const char *from,
               uint64_t lease_until, uint64_t now, struct fence_renewed *out);

/* Every member gossip shows down (neither up nor announced off) is fenced
 * once every ha_update for the refutation window (ha_config.refute_ms)
 * has shown it down: it may run protected guests no record of it shows
 * (one started just before it went silent), so no restart waits for less
 * than every down host's evidence. Not at the first "dead": SWIM takes
 * another member's "dead" as final for that incarnation (memberlist does
 * too), so a partition that heals delivers the deaths its side declared,
 * and a healthy member refutes them a moment later; fenced on the first,
 * it would lose its run lease and destroy its protected guests for
 * nothing. Until it is fenced its renewals are answered, and the
 * self-fence wait counts from the last answer, so the window delays a
 * dead host's self evidence only when detection and the window outlast
 * that wait; its BMC is asked that much later. Its renewals are refused
 * with `fenced` from then on.
 * A fenced member that is up again with no protected VM running is
 * released (answered again) once it has evidence, or once every protected
 * VM it shows runs elsewhere: it runs none of its old copies, its
 * reconciliation undefines those that moved, and those it shows stopped
 * are restarted as an up host's. The changes, at most max, go to out. */
enum ha_change_kind {
    HA_FENCED,   /* host: fenced from now on */
    HA_RELEASED, /* host: answered again */
    HA_EXPIRED,  /* vm's restart on host (command id) showed nothing within
                  * HA_FLIGHT_TIMEOUT_MS (after the wake's bound too, for a
                  * host being woken): the caller revokes the command
                  * (executor_revoke) and the VM may be restarted again */
    HA_LOST,     /* vm's restart target host went down before it showed vm
                  * running: the caller revokes command id, so that a
                  * target that comes back (or a woken one) never defines
                  * it after; the VM is restarted again once host has
                  * evidence (it may have started it unseen) */
};
#define HA_FLIGHT_TIMEOUT_MS 120000
struct ha_change {
    enum ha_change_kind kind;
    char host[COMMAND_NAME_MAX];
    char vm[COMMAND_VM_MAX];
    char id[COMMAND_ID_MAX];
};
size_t ha_update(struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                 struct ha_change *out, size_t max);
bool ha_fencing(const struct ha *h, const char *host);
/* An operator's confirmation (nodectl host fenced HOST): the host is
 * fenced with that evidence. False when the table is full. */
bool ha_confirm(struct ha *h, const char *host, uint64_t now);
/* BMC fencing, as fence_ipmilan does it (power off, then the status read
 * back every second for a while, the power-wait): a fenced host, down,
 * whose last record shows a protected VM, with a BMC (its last record's
 * power.ipmi_address) whose next BMC step is due gives its name and that
 * step, marked asked; the caller runs it and reports the status it read
 * with ha_bmc_result. The steps:
 *   - power off, then status: first, and again when the chassis still
 *     answered on HA_BMC_POWER_WAIT_MS after a power off, or
 *     HA_BMC_RETRY_MS after a read that got no answer then;
 *   - status alone: HA_BMC_STATUS_EVERY_MS after a read that did not say
 *     off (answered on, or no answer), until HA_BMC_POWER_WAIT_MS after
 *     the last power off (a chassis takes seconds to go off).
 * Only a read that says off, after this leader sent a power off to that
 * host while fencing it, is evidence (a new term starts afresh). */
#define HA_BMC_STATUS_EVERY_MS 1000
#define HA_BMC_POWER_WAIT_MS 10000
#define HA_BMC_RETRY_MS 10000
enum ha_bmc_step { HA_BMC_POWER_OFF, HA_BMC_STATUS };
enum ha_bmc_read {
    HA_BMC_READ_OFF,       /* "Chassis Power is off" */
    HA_BMC_READ_ON,        /* "Chassis Power is on" */
    HA_BMC_READ_NO_ANSWER, /* anything else: failed, timed out, unreadable */
};
bool ha_bmc_due(struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                char *host, size_t len, enum ha_bmc_step *step);
void ha_bmc_result(struct ha *h, const char *host, enum ha_bmc_read read, uint64_t now);
/* The evidence that holds now for a fenced host (self once the wait is
 * over); HA_EVIDENCE_NONE while none does, with *wait_until the moment
 * the self-fence wait ends. */
enum ha_evidence ha_evidence_now(const struct ha *h, const char *host, uint64_t now,
                                 uint64_t *wait_until);
size_t ha_fenced_count(const struct ha *h);
/* The i-th fenced host, and its evidence now. */
const char *ha_fenced_at(const struct ha *h, size_t i, uint64_t now, enum ha_evidence *e);

/* How long restarts in place of one VM on one host are refused in a row
 * before it is restarted elsewhere: a host that refuses without trying
 * (its run lease does not hold yet, the grant ran out) is asked again, not
 * bypassed (elsewhere, a start there by someone else would make the VM run
 * twice), but not for ever: as long as a restart may take. */
#define HA_IN_PLACE_REFUSED_MS HA_FLIGHT_TIMEOUT_MS
/* A protected VM to restart: which, from where, and its priority. In
 * place: its host is up, not fenced, and shows it stopped; it is started
 * there, on `from` (the definition it has), never elsewhere: a start there
 * by someone else (an operator's `virsh start`) would make it run twice.
 * Proxmox VE HA does the same for a "started" resource that stopped on a
 * healthy node: restart in place, relocate only once that failed. */
struct ha_restart {
    char vm[COMMAND_VM_MAX];
    char from[COMMAND_NAME_MAX];
    uint32_t priority;
    enum ha_evidence evidence;
    bool in_place;
};
/* The protected VMs of fenced hosts, and those an up host shows stopped,
 * that no other up host's record shows running and that are not being
 * restarted, in restart order. Those an up host that is not fenced shows
 * stopped are restarted in place, unless a restart in place of that VM on
 * that host failed (libvirt could not start it, it stopped again, or
 * nothing showed in HA_FLIGHT_TIMEOUT_MS), or they were refused in a row
 * for HA_IN_PLACE_REFUSED_MS, since this leader's election: then elsewhere, as a
 * fenced host's. In restart order:
 * higher priority first, then by name. None while this host does not
 * lead, while a down host has no evidence yet, or while an up host's
 * record does not show this leader's term (a define of an older term may
 * still be under way there: a record that shows the new term was built
 * after any such define ended). `why` says what holds them back ("" when
 * nothing does). */
size_t ha_restarts(struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                   struct ha_restart *out, size_t max, char *why, size_t whylen);
/* A restart of vm was sent to `target` as command `id` (its `from` when in
 * place): it is in flight
 * until the target's record shows vm, or reports the command ended without
 * it, or the target is no longer up, or HA_FLIGHT_TIMEOUT_MS passed
 * (ha_update settles it). One in place that settles with the target up
 * and not showing the VM running is tallied (above), until a record shows
 * the VM running or that host no longer shows it. A restart that ended without the VM (refused,
 * or expired) while no record shows the VM any more, and one lost with its
 * target, are offered again by ha_restarts until a restart of that VM is
 * sent (which replaces them): this leader alone knows the VM then. */
bool ha_restart_sent(struct ha *h, const struct ha_restart *r, const char *target,
                     const char *id, uint64_t now);
/* The same for a target that is off (standby after a consolidation) and
 * that the leader wakes for the restart (executor_ha_after_wake): while
 * the target is off the restart stays in flight (it is being woken), for
 * at most wake_ms (the wake's bound, power_on_timeout) and then
 * HA_FLIGHT_TIMEOUT_MS; once the target is up, HA_FLIGHT_TIMEOUT_MS from
 * then at most. Down before it showed the VM running, it is lost as any
 * restart (HA_LOST). */
bool ha_restart_waking(struct ha *h, const struct ha_restart *r, const char *target,
                       const char *id, uint64_t now, uint64_t wake_ms);
/* The command id of the i-th restart in flight that waits for its target
 * to wake, NULL past the last. */
const char *ha_waking_at(const struct ha *h, size_t i);
/* Restart `id`, waiting for its target to wake, was given up before its
 * define was ever sent (the executor says so: executor_create_unsent): it
 * expires now (the next ha_update tells HA_EXPIRED) rather than after the
 * wake's bound, and the VM may be restarted again. False when no such
 * restart waits. */
bool ha_restart_gave_up(struct ha *h, const char *id, uint64_t now);
size_t ha_in_flight(const struct ha *h);

#endif
