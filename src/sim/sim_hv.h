/* The simulated hypervisors of `nodesim cluster`: the ground truth of where
 * every VM runs, which the invariants are checked against.
 *
 * Each host has its own table of domains, as each libvirtd has: a VM
 * running, leaving in a live migration, or arriving in one. Nothing keeps
 * the tables consistent but what the hosts are told to do, so a VM lost
 * (no host runs it) or duplicated (two do) is a fact these tables show, not
 * an assumption. A live migration takes time in proportion to the VM's
 * memory and may fail; the destination lets it in, and an operator's start
 * of a domain, only as its inbound gate allows (libvirt's qemu hook reading
 * the file the agent writes: host_gate_refuses, the hook's own code). Powering
 * a host off destroys whatever runs on it; waking it takes a boot. An
 * operator starts and stops VMs outside nodectl.
 *
 * The simulator calls these functions where the agent calls libvirt (or
 * /bin/sh, or sends a magic packet); sim_hv_run moves time forward and
 * reports what finished. */
#ifndef NODECTL_SIM_HV_H
#define NODECTL_SIM_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prng.h"
#include "host/host_gate.h"
#include "hv/hv.h"

#define SIM_VM_NAME_MAX 16

enum sim_power {
    SIM_POWER_ON,
    SIM_POWER_STOPPING, /* the off command runs: libvirtd is going, the power goes next */
    SIM_POWER_OFF,
    SIM_POWER_BOOTING,
};

enum sim_dom_state {
    SIM_DOM_RUNNING,
    SIM_DOM_OUTGOING, /* running here, being migrated away */
    SIM_DOM_INCOMING, /* the destination's paused copy, filling */
    SIM_DOM_SHUTOFF,  /* defined, not running (--ha only: a restart's define before
                       * its start, a protected guest destroyed or powered off) */
};

struct sim_dom {
    uint32_t vm;
    enum sim_dom_state state;
    uint32_t mig; /* OUTGOING / INCOMING: its migration */
    char arrival[64]; /* the tag of the migration that brought it ("": none) */
    /* The copy a migration that failed in its Finish left running here
     * (sim_hv_libvirtd): since when it counts (its libvirtd back), and
     * whether it outlived SIM_LEFTOVER_BOUND_US (then it is a duplicate). */
    bool leftover, leftover_judged;
    int64_t leftover_since_us;
};

/* How long nodectl has to destroy a leftover copy once the destination's
 * libvirtd answers again: a sample or two, with the source's record
 * gossiped, and room for the faults that delay both. */
#define SIM_LEFTOVER_BOUND_US 60000000

struct sim_vm {
    char name[SIM_VM_NAME_MAX];
    uint32_t vcpus;
    uint64_t mem_mb;
    double base, swing, phase; /* CPU demand, see sim_hv_demand */
    bool stopped;              /* by the operator: not running, by intent */
    bool lost;                 /* counted lost once */
    bool duplicated;           /* counted once per time it runs twice */
    bool ha;                   /* protected (--ha): ha=yes in its metadata */
    uint32_t ha_priority;
};

struct sim_migration {
    uint32_t vm, src, dst;
    int64_t start_us, end_us;
    bool fail;
    bool leftover; /* fails in its Finish: the destination's copy runs on */
    bool active;
    char tag[64]; /* the command id */
};

struct sim_hv_host {
    enum sim_power power;
    int64_t power_until_us; /* STOPPING, BOOTING: when the next state comes */
    uint32_t cores, mhz;
    uint64_t mem_mb;
    enum host_gate gate; /* the file the qemu hook reads; it outlives the agent */
    bool libvirtd_down;  /* stopped: no answers, its migrations fail, guests run on */
    struct sim_dom *doms;
    size_t n_doms, cap_doms;
    uint64_t boots; /* how many times it came up */
    /* --ha: the protected gate (the agent's "protected" file, host_ha.c)
     * says ready and names a running agent: protected domains may start. */
    bool ha_ready;
};

/* What sim_hv_run reports: a host whose agent must start (booted), one that
 * went off, a migration that ended at its source. */
enum sim_hv_note_kind { SIM_HV_BOOTED, SIM_HV_OFF, SIM_HV_MIGRATION_ENDED };
struct sim_hv_note {
    enum sim_hv_note_kind kind;
    uint32_t host;
    uint32_t mig;
};

struct sim_hv {
    uint32_t n_hosts, n_vms;
    struct sim_hv_host *h;
    struct sim_vm *vm;
    struct sim_migration *mig;
    size_t n_mig, cap_mig;
    double mb_per_s;  /* migration bandwidth */
    double fail_prob; /* a migration fails (network, qemu) */
    int64_t stop_us;  /* off command to power gone */
    int64_t boot_us_min, boot_us_max;
    double period_s; /* of the cluster-wide load swing */
    struct prng rng;
    uint32_t *scratch; /* 2 x n_vms counters for sim_hv_check */
    /* The invariants, counted as they are broken. */
    uint64_t vm_lost, vm_duplicated, host_off_with_vm;
    /* Copies a migration that failed at its destination left running
     * (libvirt's, not a violation), and those nodectl destroyed. */
    uint64_t leftovers, leftovers_destroyed;
    uint64_t migrations_started, migrations_ok, migrations_failed, migrations_refused;
    uint64_t power_offs, wakes, power_ons;
    bool changed; /* sim_hv_deadline may have moved */
    /* --ha: a VM that runs nowhere is not lost at once (its host may be
     * fenced and it restarted); the run's end checks it (vm_left_down). */
    bool ha;
    uint64_t power_losses, protected_destroyed, undefined;
    /* What the last of each violation was. */
    char why_lost[128], why_duplicated[128], why_off[160];
};

/* n_hosts hosts of cores x mhz and mem_mb; n_vms VMs of 1-4 vCPUs and
 * 1-8 GB placed round-robin on the first `placed` hosts. -1 on out of
 * memory. */
int sim_hv_init(struct sim_hv *hv, uint32_t n_hosts, uint32_t n_vms, uint32_t placed,
                uint64_t seed);
void sim_hv_free(struct sim_hv *hv);

/* A VM's CPU demand at real time t_s, a fraction of its vCPUs: a swing
 * shared by the cluster (so the planner consolidates and powers hosts off,
 * then spreads and wakes them) and a part of its own. */
double sim_hv_demand(const struct sim_hv *hv, uint32_t vm, double t_s);

/* libvirt as the agent sees it. Each returns false (with why) when
 * libvirtd cannot be reached: the host is not ON. */
/* The sample the agent publishes (hv_sample form, for host_record_build):
 * vms is the caller's array of at least n_vms entries. */
bool sim_hv_sample(const struct sim_hv *hv, uint32_t host, double t_s, struct hv_sample *out,
                   struct hv_vm *vms);
/* libvirt asked now for every domain and its job: the fresh view the
 * guards judge (doms: the caller's array of at least n_vms entries). */
void sim_hv_fresh(const struct sim_hv *hv, uint32_t host, struct hv_fresh *out,
                  struct hv_domain_now *doms);
/* Starts a live migration of `name` from src to dst under tag: 0 and its
 * number in *mig, or -1 with err (not here, already migrating, destination
 * down, full or refusing). */
int sim_hv_migrate(struct sim_hv *hv, int64_t now_us, uint32_t src, const char *name, uint32_t dst,
                   const char *tag, uint32_t *mig, char *err, size_t errlen);
/* The migrations a host started: the tag's state, once ended. */
const struct sim_migration *sim_hv_migration(const struct sim_hv *hv, uint32_t mig);

/* libvirtd stops or starts again on host. A destination's libvirtd that
 * stops in the last quarter of an incoming migration stops it in
 * libvirt's Finish: the migration fails at its source, which resumes its
 * copy, and the destination's copy, already resumed, runs on (libvirt's
 * peer-to-peer protocol v3, reproduced on the rig). */
void sim_hv_libvirtd(struct sim_hv *hv, int64_t now_us, uint32_t host, bool up);
/* libvirt's destroy of domain `name` on host (the agent's
 * hv_destroy_leftover, after its check on a fresh view): false when
 * libvirtd does not answer or the domain is not there. */
bool sim_hv_destroy(struct sim_hv *hv, int64_t now_us, uint32_t host, const char *name);
/* The agent writes its inbound gate. */
void sim_hv_set_gate(struct sim_hv *hv, uint32_t host, enum host_gate g);
/* The off command: the power goes after stop_us; whatever runs or arrives
 * now is lost with it. */
void sim_hv_power_off(struct sim_hv *hv, int64_t now_us, uint32_t host);
/* A magic packet or an IPMI power on reaches host: it boots if it is off;
 * a machine on its way down ignores it, as a real one does. */
void sim_hv_wake(struct sim_hv *hv, int64_t now_us, uint32_t host);

/* The operator, outside nodectl: stops a running VM, or starts a stopped
 * one on host. False when it cannot (libvirtd down, not enough memory). */
bool sim_hv_operator_stop(struct sim_hv *hv, uint32_t vm);
bool sim_hv_operator_start(struct sim_hv *hv, uint32_t vm, uint32_t host);

/* --ha (sim_ha_cluster.c calls these where the agent calls libvirt). A
 * persistent definition of `name`, shut off, on host: false with err when
 * libvirtd does not answer or a domain of that VM is there already. */
bool sim_hv_define(struct sim_hv *hv, uint32_t host, const char *name, char *err, size_t errlen);
/* libvirt's create of that shut-off domain: refused by the qemu hook for a
 * protected VM unless the host's protected gate is ready, and when there
 * is no room. */
bool sim_hv_start(struct sim_hv *hv, int64_t now_us, uint32_t host, const char *name, char *err,
                  size_t errlen);
/* Destroys a running (or leaving) domain: shut off, still defined. */
bool sim_hv_stop(struct sim_hv *hv, int64_t now_us, uint32_t host, const char *name);
/* Kills the QEMU process of every protected domain active on host, as
 * the agent does from libvirt's status files when libvirtd does not
 * answer (libvirtd down or not: the processes are its children no more);
 * how many. */
size_t sim_hv_kill_protected(struct sim_hv *hv, int64_t now_us, uint32_t host);
/* Undefines a shut-off domain (its disks are on shared storage, kept). */
bool sim_hv_undefine(struct sim_hv *hv, uint32_t host, const char *name);
/* The power goes at once (a power loss, a BMC's power off, a watchdog's
 * reset): what ran is shut off, definitions stay, migrations fail. */
void sim_hv_power_loss(struct sim_hv *hv, int64_t now_us, uint32_t host);
/* The protected gate of host (the agent writes it; false once its agent
 * is gone). */
void sim_hv_set_ha_ready(struct sim_hv *hv, uint32_t host, bool ready);
/* Whether a protected domain is active on host now. */
bool sim_hv_protected_active(const struct sim_hv *hv, uint32_t host);
/* How many powered hosts run vm (a shut-off definition does not count). */
uint32_t sim_hv_copies(const struct sim_hv *hv, uint32_t vm);

/* Moves the hypervisors to now; reports what happened into notes (at most
 * cap; the rest on the next call at the same time). Returns how many. */
size_t sim_hv_run(struct sim_hv *hv, int64_t now_us, struct sim_hv_note *notes, size_t cap);
/* When sim_hv_run has something to do next; INT64_MAX: nothing. */
int64_t sim_hv_deadline(const struct sim_hv *hv);

/* Checks the invariants over every VM and counts what is broken; called
 * after every change. */
void sim_hv_check(struct sim_hv *hv, int64_t now_us);

#endif
