/* A host's side of HA restart (docs/safety.md, "The protected gate"): when may its
 * hypervisor start a protected guest, and what does it do with the
 * protected domains it finds defined when its agent starts.
 *
 * The protected gate is a one-line file in the state directory that the
 * agent writes and libvirt's qemu hook (`nodectl hook qemu`) reads at
 * "prepare begin" (any start, restore or arrival), like the inbound gate
 * (host_gate.h):
 *   reconciling: reason          the agent has not yet compared its
 *                                protected domains with the cluster;
 *   ready pid=P start=S          it has, and runs as process P whose
 *                                start time (/proc/P/stat, field 22) is S;
 *   fenced: reason               its self-fence lease lapsed: its
 *                                protected guests were destroyed and none
 *                                starts until it has reconciled again.
 * A protected guest (ha=yes in its placement metadata) starts only when the
 * gate says ready and process P still runs with start time S: a host that
 * comes back after it was fenced (power loss, partition) never starts a
 * stale copy, neither by libvirt's autostart nor by hand, before its agent
 * runs and has reconciled. Unprotected guests are never refused here.
 *
 * Pure: text in, decisions out. */
#ifndef NODECTL_HOST_HA_H
#define NODECTL_HOST_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.pb-c.h"
#include "hv/hv.h"

#define HOST_HA_GATE_FILE "protected"
#define HOST_HA_TEXT_MAX 512
/* The hook reads at most this much of the domain XML on its stdin; a longer
 * one counts as protected (it cannot tell). */
#define HOST_HA_XML_MAX (1024 * 1024)

enum host_ha_state { HOST_HA_RECONCILING, HOST_HA_READY, HOST_HA_FENCED };

struct host_ha_gate {
    enum host_ha_state state;
    long pid;                  /* READY: the agent's process */
    unsigned long long start;  /* READY: its start time, clock ticks after boot */
    char reason[HOST_HA_TEXT_MAX];
};

const char *host_ha_state_name(enum host_ha_state s);
void host_ha_gate_format(const struct host_ha_gate *g, char *out, size_t len);
/* 0, or -1 when the text is not a protected gate. */
int host_ha_gate_parse(const char *text, struct host_ha_gate *g);

/* The start time (field 22) in the text of /proc/PID/stat: 0, or -1. The
 * command name (field 2) may hold spaces and parentheses: fields are
 * counted after its last ')'. */
int host_ha_proc_start(const char *stat_text, unsigned long long *start);

/* Whether the domain XML libvirt hands the hook is protected: its
 * <metadata> holds the placement element (HV_RULES_NS) with ha='yes'.
 * 1 protected, 0 not, -1 cannot tell (not a domain's XML). */
int host_ha_xml_protected(const char *xml, size_t len);

/* What libvirt's QEMU driver keeps for a running domain in its status
 * file (/run/libvirt/qemu/NAME.xml: <domstatus pid=...> around the live
 * <domain>): the QEMU process and whether the domain is protected. Read
 * by the self-fence when libvirtd does not answer. */
struct host_ha_status {
    char name[HV_NAME_MAX];
    long pid;
    int protected; /* as host_ha_xml_protected */
};
/* 0, or -1 when the text is not such a status (no pid, no name). */
int host_ha_status_parse(const char *xml, size_t len, struct host_ha_status *out);
/* Whether the NUL-separated arguments of a process (/proc/PID/cmdline)
 * are those of the QEMU libvirt started for domain `name` ("-name
 * guest=NAME,..."): a pid in a status file may have been reused. */
bool host_ha_cmdline_runs(const char *cmdline, size_t len, const char *name);

/* The hook's decision for `op subop` of a domain whose protection is
 * `protected` (as host_ha_xml_protected says; -1 counts as protected),
 * with the gate read (NULL: no gate file) and whether the process it names
 * runs with the start time it names. Only "prepare begin" is ever refused.
 * True with the reason in why when refused. */
bool host_ha_refuses(const char *op, const char *subop, int protected,
                     const struct host_ha_gate *g, bool agent_running, char *why, size_t len);

/* ---- Reconcile: the protected domains defined here against the cluster ---- */

/* A copy of a protected VM that another live host's record shows. */
struct host_ha_copy {
    const char *host;
    unsigned char uuid[16];
    enum hv_vm_state state;
    uint64_t sampled_at_ms; /* the record's sample, on its host's stamp clock */
    bool leaving;           /* its record reports a live migration of it under way */
    bool leftover;          /* this host's record reports its last migration of it, to
                               that host, failed (host_ha_record_failed_to) */
};

/* Whether the record reports a live migration of the VM of that name
 * under way (its copy there is leaving, perhaps to this host). */
bool host_ha_record_migrates(const Nodectl__HostRecord *rec, const char *vm);
/* Whether the record (this host's own) reports that its last live
 * migration of the VM of that name, to `dest`, failed or was aborted: a
 * copy running there may be what that migration left (one that failed in
 * its Finish resumes the guest at the destination too), which `dest`
 * destroys once this host's record shows the VM running here
 * (host_arrival_check). */
bool host_ha_record_failed_to(const Nodectl__HostRecord *rec, const char *vm, const char *dest);

enum host_ha_verdict {
    HOST_HA_KEEP,     /* nothing shows it elsewhere: the leader decides where it runs */
    HOST_HA_UNDEFINE, /* shut off here and running elsewhere: this definition is stale */
    HOST_HA_DESTROY   /* running here and elsewhere: this host was fenced, its copy is the
                         stale one; destroyed, then undefined */
};

/* When this host saw each protected domain run, from its samples since the
 * agent started (in memory: a restart forgets it), on this host's stamp
 * clock (src/common/stamp_clock.h), the clock of the peers' `sampled_at_ms`
 * it is compared with. The
 * oldest forgotten first when full. */
#define HOST_HA_RAN_MAX 256
struct host_ha_ran {
    uint64_t started_ms; /* the agent's start */
    uint32_t gen;        /* the sample being noted */
    size_t n;
    struct host_ha_ran_entry {
        unsigned char uuid[16];
        uint64_t last_ms;  /* the last sample that showed it active here */
        uint64_t since_ms; /* running: the first sample of its current run here;
                              not: the first sample that showed it stopped */
        uint32_t gen;      /* the last sample that showed it active */
        bool running;      /* the last sample showed it active */
    } e[HOST_HA_RAN_MAX];
};

void host_ha_ran_init(struct host_ha_ran *t, uint64_t started_ms);
/* One sample of the hypervisor (only one that answered: a hypervisor that
 * did not says nothing of what runs): begin, then each protected domain it
 * shows active (any state but shut off or crashed), then end. */
void host_ha_ran_begin(struct host_ha_ran *t);
void host_ha_ran_seen(struct host_ha_ran *t, const unsigned char uuid[16], uint64_t now_ms);
void host_ha_ran_end(struct host_ha_ran *t, uint64_t now_ms);

/* The verdict for the local protected domain `local` (from a fresh view)
 * given the copies other live hosts show, and what `ran` says of it here.
 * A copy counts as running elsewhere when it is active (any state but
 * shut off); a local domain in a job (a migration under way) is always
 * kept: during a live migration source and destination both show it.
 *
 * A peer's record proves the VM runs there only if it was sampled after
 * this host's copy ran here: a record sampled before is a picture of a
 * time the copy here may have been the only one (a migration's source of
 * before the migration, a host back from a partition holding its peers'
 * records of before the cut, a dead host's last record). So a copy counts
 * only when sampled after
 *  - shut off here: the last sample that showed it running here;
 *  - active here: the first sample of its current run here (or, when the
 *    last sample showed it stopped, that sample), so that a migration's
 *    arrival is not destroyed on its source's record of before it left
 *    (nodesim cluster --ha seed 138);
 * and, for a domain `ran` has not seen run since the agent started, after
 * the agent's start (it may have run here until then: seed 204). `ran`
 * NULL: no bound. Either verdict takes only a copy that runs for sure
 * elsewhere: running or blocked, not leaving by a migration (its
 * destination may be this host: nodesim cluster --ha seed 620, an arrival
 * destroyed on its source's record sampled a second before the migration
 * ended; seed 9097, the arrival, stopped here since, undefined on such a
 * record); nor is it destroyed for a copy that may be the leftover of
 * its failed migration from here (`leftover`): that copy's host destroys
 * it on this host's record, and both destroyed the VM's two copies at
 * once (nodesim cluster --ha seed 8309). Sample times are stamp clocks:
 * the peer's against this host's (docs/ha.md, "Restart", 1). The host
 * named in why. */
enum host_ha_verdict host_ha_reconcile(const struct hv_domain_now *local,
                                       const struct host_ha_ran *ran,
                                       const struct host_ha_copy *copies, size_t n, char *why,
                                       size_t len);

/* Whether the cluster view lets this host reconcile now: its hypervisor
 * answered a fresh view, a leader holding its lease is known (so the
 * cluster has decided what runs where), and every member gossip shows
 * alive has a record. Otherwise false, with what is missing in why. A
 * reconcile only takes stale copies away, so it needs no run lease; the
 * gate opens to protected starts only once the lease is held too. */
struct host_ha_view {
    bool hv_fresh;
    bool leader_known;
    size_t alive, alive_with_record;
};
bool host_ha_view_ready(const struct host_ha_view *v, char *why, size_t len);

/* Whether this host may start a protected domain defined here for the
 * leader (an HA restart in place, docs/ha.md): only while it holds its run
 * lease and has reconciled (the gate is ready), as the qemu hook's gate
 * lets protected guests start. False with the reason in why. */
bool host_ha_may_start(enum host_ha_state state, bool lease_holds, char *why, size_t len);

/* ---- The watchdog (optional: [ha] watchdog) ---- */

/* Whether the agent may pet the watchdog now. A machine whose agent stops
 * petting is reset timeout_ms later, so it pets only while that reset
 * would come before its run lease ends (now + timeout_ms <= lease_until,
 * this host's clock): an agent that dies, hangs or is paused with
 * protected guests running has them stopped, with the machine, before any
 * leader counts this host self-fenced. It also pets while no protected
 * guest can run here: none runs and the gate refuses their starts (any
 * state but ready). */
bool host_ha_watchdog_pet(uint64_t now, uint64_t lease_until, uint32_t timeout_ms,
                          enum host_ha_state state, bool protected_running);

#endif
