/* `nodesim cluster`: what its files share (sim_cluster.c, sim_agent.c,
 * sim_faults.c, sim_check.c). Not a public interface.
 *
 * The world: a simulated hypervisor per host (sim_hv.h), per-host clocks
 * (sim_clock.h) and the network (sim_net.h). On every host runs the I/O
 * shell of the agent (sim_agent.c) around the pure code the agent ships:
 * gossip, the election, the leader's executor with the planner, and the
 * host's guard and checks. The shell's loop is a queue of explicit steps
 * (struct sim_step), each one piece of the agent's loop between two points
 * where a stop-the-world pause can fall; faults (sim_faults.c) arm pauses
 * at chosen kinds of step, crash and restart agents, cut and degrade the
 * network, and move clocks. The invariants (sim_check.c) are checked on
 * the hypervisors and the clocks, never on messages. */
#ifndef NODECTL_SIM_CLUSTER_H
#define NODECTL_SIM_CLUSTER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/boot_file.h"
#include "common/prng.h"
#include "common/stamp_clock.h"
#include "election/election.h"
#include "election/fence.h"
#include "gossip/gossip.h"
#include "host/host_failed.h"
#include "host.pb-c.h"
#include "placement/placement.h"
#include "sim_clock.h"
#include "sim_hv.h"
#include "sim_net.h"

enum sim_fault {
    SIM_F_CRASH = 1u << 0,     /* an agent dies and restarts with its disk */
    SIM_F_PARTITION = 1u << 1, /* two sides, or links cut one way */
    SIM_F_LOSS = 1u << 2,      /* loss on every link for a while */
    SIM_F_DELAY = 1u << 3,     /* delay spikes that reorder, and duplicates */
    SIM_F_PAUSE = 1u << 4,     /* stop-the-world pauses at chosen steps */
    SIM_F_SKEW = 1u << 5,      /* wall clocks jump, monotonic rates change within rho */
    SIM_F_REPLAY = 1u << 6,    /* captured messages sent again, and misdelivered */
    SIM_F_OPERATOR = 1u << 7,  /* VMs started and stopped by hand, on idle hosts too */
    SIM_F_LIBVIRT = 1u << 8,   /* libvirtd stops for a while, in a migration too */
    SIM_F_ALL = (1u << 9) - 1,
    /* --ha only (not in "all" without it): a host loses its power, back
     * 20-90 s later plus its boot. */
    SIM_F_POWER = 1u << 9,
};

/* The monotonic clocks' rates stay within this of real time, inside the
 * bound the agent's code assumes (the election's margin, the guard's rho). */
#define SIM_DRIFT_PPM 40000
/* The leader's cool-downs: short enough that the load's swing within a run
 * both consolidates and spreads (the policy's own are 10 min and 1 h). */
#define SIM_VM_COOLDOWN_S 60
#define SIM_WAKE_COOLDOWN_S 120

struct sim_opts {
    uint32_t hosts, candidates, vms;
    uint64_t seed, seeds;
    double duration_s;
    unsigned faults;
    double fault_every_s;
    uint32_t priority; /* of the first candidate (0: none); the others have none */
    bool json, trace;
    /* HA in the cluster (sim_ha_cluster.c): every VM protected, run leases,
     * self-fencing, BMCs, the leader's HA round and restarts. */
    bool ha;
};

/* The agent's loop, one piece at a time; a pause can fall before any. */
enum sim_step_kind {
    STEP_RECEIVE,    /* one message taken from the socket */
    STEP_TICK,       /* gossip's, the election's and the guard's timers */
    STEP_SAMPLE,     /* the hypervisor's sample, into the record */
    STEP_LEAD,       /* the executor: observe the election, follow, dispatch */
    STEP_PLAN,       /* the planner's snapshot, handed to the worker thread */
    STEP_PLAN_DONE,  /* the worker's plan, back to the executor */
    STEP_SEND_CHECK, /* the fresh lease check before one command leaves */
    STEP_SEND,       /* ... and its send */
    STEP_GRANT,      /* the executor's grant decision, on a fresh reading */
    STEP_GRANT_SEND, /* ... and its send */
    STEP_ACT_CHECK,  /* the target's last check: deadline, fresh hypervisor view */
    STEP_ACT,        /* ... and the action */
    STEP_OFF_CHECK,  /* before the off command: libvirt asked again */
    STEP_OFF,        /* ... and the off command */
    STEP_HA,         /* --ha: run lease, reconcile, the leader's HA round, starts due */
    STEP_KINDS
};
const char *sim_step_name(enum sim_step_kind k);

struct sim_step {
    enum sim_step_kind kind;
    uint32_t channel; /* STEP_RECEIVE: EV_GOSSIP, EV_ELECTION or EV_COMMAND */
    uint32_t from;    /* STEP_RECEIVE: the sender's index */
    void *p;          /* owned by the step: the message, or a struct of the step */
    size_t len;
    bool paused; /* a pause fell just before this step */
};

/* Network channels (event kinds of sim_net) and the simulator's own events. */
enum sim_event_kind {
    EV_GOSSIP,
    EV_ELECTION,
    EV_COMMAND,  /* deliveries */
    EV_WAKE,     /* a host's loop is due (gen must match) */
    EV_HV,       /* the hypervisors have something to finish */
    EV_FAULT,    /* the next fault */
    EV_HEAL,     /* a network fault ends */
    EV_RESTART,  /* a crashed agent starts again */
    EV_OPERATOR, /* an operator starts or stops a VM, on host `node` if it is a host */
    EV_LIBVIRTD, /* libvirtd starts again on host `node` */
    EV_POWER_ON, /* --ha: host `node`, off after a power loss or its BMC, is switched on */
    EV_CHASSIS,  /* --ha: a BMC's power off takes host `node`'s power */
    EV_HA_TICK,  /* --ha: the watchdogs are looked at */
    EV_KILL,     /* --ha: host `node`'s agent is killed (a leader during its restarts) */
};

/* What a host keeps on disk: all that survives its agent's restart. */
struct sim_disk {
    struct election_hard_state hs;
    struct fence fence;
    uint32_t incarnation;
    bool drain;
    char failed[HOST_FAILED_TEXT_MAX]; /* the agent's HOST_FAILED_FILE */
    /* The agent's files bound to a boot (src/common/boot_file.h), as their
     * text ("": none), under the boot id simh_bootfile_keep gives: the
     * stamp clock's anchor (agent_stamp.c's stamp-anchor) and, with --ha,
     * the run lease's end on the monotonic clock (agent_fence.c's
     * run-lease). */
    char stamp_anchor[BOOT_FILE_TEXT_MAX];
    char run_lease[BOOT_FILE_TEXT_MAX];
};

struct sim_host;
struct sim_cluster;

/* A pause armed at host's next step of a kind (sim_faults.c). */
struct sim_arm {
    uint32_t host;
    enum sim_step_kind kind;
    int64_t us;
    int64_t until_us; /* dropped when not reached by then */
};
#define SIM_ARMS_MAX 8

/* sim_agent.c: the agent on host i. */
/* Host i's state, its clock running at rate_ppm with its wall clock at
 * wall_ms; its agent not started. */
int sim_agent_new(struct sim_cluster *c, uint32_t i, int64_t rate_ppm, int64_t wall_ms);
void sim_agent_free(struct sim_cluster *c, uint32_t i);
/* The agent starts (with what its disk holds) or stops (memory lost). */
int sim_agent_start(struct sim_cluster *c, uint32_t i);
void sim_agent_stop(struct sim_cluster *c, uint32_t i);
bool sim_agent_up(const struct sim_cluster *c, uint32_t i);
/* A libvirt lifecycle event on host i: its agent samples at once. */
void sim_agent_sample_soon(struct sim_cluster *c, uint32_t i);
/* How many times host i's agent started: a life. */
uint32_t sim_agent_life(const struct sim_cluster *c, uint32_t i);
const char *sim_agent_name(const struct sim_cluster *c, uint32_t i);
/* The operator types `nodectl drain` (or undrain) of host `target` on host
 * i: a command issued and granted by i's agent, as agent_actions.c does. */
int sim_agent_operator_drain(struct sim_cluster *c, uint32_t i, uint32_t target, bool drain);
/* A message arrived (ev->data taken). */
void sim_agent_deliver(struct sim_cluster *c, struct sim_event *ev);
/* An EV_WAKE. */
int sim_agent_timer(struct sim_cluster *c, const struct sim_event *ev);
/* Schedules host i's loop at t_us (the earliest of those asked). */
int sim_wake(struct sim_cluster *c, uint32_t i, int64_t t_us);
/* Runs host i's loop now until it waits. -1 on out of memory. */
int sim_agent_run(struct sim_cluster *c, uint32_t i);
/* The hypervisor finished something of host i's. */
void sim_agent_hv_note(struct sim_cluster *c, const struct sim_hv_note *n);
/* Whether host i's election holds a lease now: its term, and the real time
 * its lease ends if its clock keeps its rate. */
bool sim_agent_lease_end(const struct sim_cluster *c, uint32_t i, uint64_t *term, int64_t *end_us);
/* Faults on host i's clocks and process. */
void sim_agent_set_rate(struct sim_cluster *c, uint32_t i, int64_t rate_ppm);
void sim_agent_jump_wall(struct sim_cluster *c, uint32_t i, int64_t delta_ms);
int sim_agent_pause(struct sim_cluster *c, uint32_t i, int64_t us);
bool sim_agent_frozen(const struct sim_cluster *c, uint32_t i);

/* sim_faults.c */
int sim_faults_next(struct sim_cluster *c);
int sim_faults_heal(struct sim_cluster *c);
/* An operator's action now (on host, or UINT32_MAX: anywhere). */
int sim_faults_operator(struct sim_cluster *c, uint32_t host);
/* A leader sent a power-off to host: the operator may be about to start a
 * VM there. */
int sim_faults_power_off_sent(struct sim_cluster *c, uint32_t host);
/* Whether a pause is armed for host i before a step of this kind; if so it
 * is taken (disarmed) and *us is its length. */
bool sim_faults_pause_at(struct sim_cluster *c, uint32_t i, enum sim_step_kind k, int64_t *us);

/* sim_ha_cluster.c: --ha. */
int sim_ha_setup(struct sim_cluster *c);
/* A global tick: the watchdogs (a host whose agent stopped petting it for
 * its timeout is reset). */
int sim_ha_tick(struct sim_cluster *c);
/* A power loss or BMC power-off took host i's power: back later. */
int sim_ha_power_lost(struct sim_cluster *c, uint32_t i, int64_t back_after_us);
/* The run's end: each protected VM must run on exactly one host. */
void sim_ha_end(struct sim_cluster *c);
/* A leader sent a restart: it may be killed now (faults). */
int sim_faults_restart_sent(struct sim_cluster *c, uint32_t leader);
/* EV_KILL: host i's agent is killed now, and restarts later. */
int sim_faults_kill(struct sim_cluster *c, uint32_t i);
/* Faults stop this long before the end of an --ha run, for every host to
 * come back and every restart to settle. */
#define SIM_HA_QUIET_US 300000000

/* sim_check.c: the invariants that are not the hypervisors' own. */
int sim_check_init(struct sim_cluster *c);
void sim_check_free(struct sim_cluster *c);
/* After every change of host i's election state, and of its clock's rate. */
void sim_check_lease(struct sim_cluster *c, uint32_t i);
/* A leader of `term` acted (sent a command or a grant) about host and VM
 * indices (UINT32_MAX: none). */
void sim_check_acted(struct sim_cluster *c, uint64_t term, uint32_t host, uint32_t host2,
                     uint32_t vm);
/* A command of `term` took effect on host i about host and VM indices;
 * paused: the target was paused between its last check and the action. */
void sim_check_effect(struct sim_cluster *c, const char *what, uint64_t term, uint32_t host,
                      uint32_t host2, uint32_t vm, bool paused);
/* A new term's leader, seen by the checks (elections, churn). */
void sim_check_leader(struct sim_cluster *c, uint32_t i, uint64_t term);
/* Notes a violation for the report and the trace. */
__attribute__((format(printf, 2, 3))) void sim_violation(struct sim_cluster *c, const char *fmt,
                                                         ...);

/* sim_cluster.c: the short trace of a run, printed when it fails. */
__attribute__((format(printf, 2, 3))) void sim_trace(struct sim_cluster *c, const char *fmt, ...);
/* The first violation: keeps the lines that led to it. */
void sim_trace_keep(struct sim_cluster *c, const char *violation);
/* Host index of a host name ("n<k>", or "n<k>:port"), or UINT32_MAX. */
uint32_t sim_host_index(const struct sim_cluster *c, const char *name);

#define SIM_TRACE_LINES 2000
#define SIM_TRACE_TEXT 200

struct sim_cluster {
    struct sim_opts o;
    struct sim_net net;
    struct sim_hv hv;
    struct prng rng; /* the scenario: faults, victims, seeds of instances */
    struct sim_host **h;
    int64_t now_us, end_us;
    struct placement_policy policy;
    struct hv_vm *vms_scratch;          /* n_vms entries: a sample's */
    struct hv_domain_now *doms_scratch; /* n_vms entries: a fresh view's */
    /* The network fault under way, and when it ends. */
    int64_t heal_us;
    unsigned network_fault;
    int64_t last_fault_us; /* the last start or end of a fault */
    struct sim_arm arms[SIM_ARMS_MAX];
    uint32_t n_arms;
    uint32_t slow_plan_host; /* its next plan takes slow_plan_us (UINT32_MAX: none) */
    int64_t slow_plan_us;
    int64_t hv_at_us; /* the EV_HV queued, INT64_MAX: none */
    /* Checks (sim_check.c). */
    int64_t *lease_end_us; /* per host: real time its current lease ends */
    uint64_t *lease_term;
    uint32_t *lease_life;            /* the agent's life (starts) that holds it */
    uint64_t *acted_host, *acted_vm; /* highest term that acted on each */
    uint64_t max_leader_term;
    int64_t quiet_us[4]; /* the last few elections while nothing failed */
    uint32_t n_quiet;
    /* Counters. */
    uint64_t lease_overlaps, stale_effects, stale_target_paused, churn;
    /* Migrations a source refused because the copy may be a failed
     * migration's leftover (host_arrival_migrate_check). */
    uint64_t leftover_refusals;
    uint64_t elections, commands_sent, grants, effects, operator_effects, pauses, crashes,
        partitions, faults;
    uint64_t violations;
    /* --ha. */
    uint64_t vm_left_down, ha_restarts, ha_self_fences, ha_destroyed, ha_killed, ha_reconcile_undefined,
        ha_bmc_offs, ha_bmc_reads, watchdog_resets, power_losses, leader_kills_in_restart;
    uint8_t *bmc;     /* per host: 0 none, 1 works, 2 broken */
    /* Per VM: the leader's last try to restart it found no running host
     * with room (a host is not woken for a restart yet: not a violation,
     * counted apart in vm_down_no_room). */
    bool *ha_no_room;
    /* Per VM: shut off on a host the planner powered off since it last
     * ran (the leader does not restart what only an off host shows). */
    bool *ha_parked;
    uint64_t vm_down_no_room, vm_down_off_host;
    void *ha_wd;      /* per host: its watchdog (sim_ha_cluster.c) */
    int64_t ha_quiet_us; /* faults stop here */
    char first_violation[256];
    /* The trace ring, and the lines kept around the first violation. */
    char (*trace)[SIM_TRACE_TEXT];
    uint64_t n_trace;
    char (*kept)[SIM_TRACE_TEXT];
    uint32_t n_kept, kept_after;
};

/* The invariants' counters, summed by sim_cluster.c over seeds. */
static inline uint64_t sim_violations(const struct sim_cluster *c) {
    return c->hv.vm_lost + c->hv.vm_duplicated + c->hv.host_off_with_vm + c->stale_effects +
           c->lease_overlaps + c->churn + c->vm_left_down;
}

#endif
