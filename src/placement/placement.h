/* The leader's planner: a pure function from a cluster snapshot to an
 * explained plan. No I/O: time and randomness are inputs.
 *
 * Overload detection, VM selection and power-aware best fit decreasing
 * (PABFD) follow Beloglazov & Buyya, "Optimal online deterministic
 * algorithms and adaptive heuristics for energy and performance efficient
 * dynamic consolidation of virtual machines in Cloud data centers", CCPE
 * 24(13), 2012, as implemented in CloudSim's power package.
 * PLACEMENT_MODEL_CLOUDSIM reproduces CloudSim 5.0 decision for decision
 * (see docs/placement.md); PLACEMENT_MODEL_NODECTL is the stricter model the
 * agent runs (memory, constraints, anti-thrash rules, real power states). */
#ifndef NODECTL_PLACEMENT_H
#define NODECTL_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prng.h"

#define PLACEMENT_HISTORY_MAX 30
#define PLACEMENT_REASON_MAX 192

/* Watts at 0 %, 10 %, ..., 100 % CPU (SPECpower style table). */
struct placement_power_model {
    double watts[11];
};

/* A linear idle-to-max model, for hosts whose config gives only two numbers. */
void placement_power_linear(struct placement_power_model *m, double idle_w, double max_w);
/* CloudSim's PowerModelSpecPower.getPower: exact table value on a 10 % step,
 * linear interpolation between steps. u is clamped to [0, 1]. */
double placement_power_watts(const struct placement_power_model *m, double u);

enum placement_power_state { PLACEMENT_HOST_ON, PLACEMENT_HOST_OFF };

enum {
    PLACEMENT_HOST_CANDIDATE = 1u << 0, /* may become leader: never powered off */
    PLACEMENT_HOST_DRAIN = 1u << 1,     /* maintenance: evacuated, never a target */
    PLACEMENT_HOST_FAILED = 1u << 2,    /* neither source nor target */
    PLACEMENT_HOST_NO_INBOUND = 1u << 3, /* takes no migrations: never a target */
    PLACEMENT_HOST_KEEP_ON = 1u << 4,   /* cannot be powered off: like a candidate, never
                                         * powered off nor emptied to be */
};

struct placement_host {
    uint32_t id;
    uint32_t cores;
    double core_mips; /* one core; a VM's per-vCPU demand must fit in one */
    uint64_t mem_mb;
    const struct placement_power_model *power;
    enum placement_power_state power_state;
    unsigned flags;
    double cpu_measured;  /* utilisation 0..1 at the last measurement */
    double loadavg15;     /* for the load-average overload rule */
    double powered_on_at; /* when the host last came up (same clock as now) */
    uint32_t migrations_in_flight;
};

/* The VMs of one host are considered in the order they appear in the
 * snapshot array (the host's own VM order: MMT breaks ties by it). */
struct placement_vm {
    uint32_t id;
    uint32_t host; /* index into placement_snapshot.hosts */
    uint32_t vcpus;
    double mips; /* configured capacity, all vCPUs */
    uint64_t mem_mb;
    double cpu_mips;          /* requested now */
    double alloc_mips;        /* granted by the host at the last measurement */
    const double *history;    /* newest first, fraction of the VM's own MIPS */
    uint32_t history_len;     /* at most PLACEMENT_HISTORY_MAX are used */
    uint32_t anti_affinity;   /* 0 = none; VMs sharing a group never share a host */
    double last_migrated_at;  /* same clock as now; -1e300 if never */
    bool pinned;
    bool in_migration;
};

struct placement_snapshot {
    const struct placement_host *hosts;
    size_t n_hosts;
    const struct placement_vm *vms;
    size_t n_vms;
};

enum placement_model {
    PLACEMENT_MODEL_NODECTL, /* what the agent runs */
    PLACEMENT_MODEL_CLOUDSIM /* CloudSim 5.0, quirks included (replay only) */
};

enum placement_overload {
    PLACEMENT_OVERLOAD_THR,
    PLACEMENT_OVERLOAD_MAD,
    PLACEMENT_OVERLOAD_IQR,
    PLACEMENT_OVERLOAD_LR,
    PLACEMENT_OVERLOAD_LRR,
    PLACEMENT_OVERLOAD_LOADAVG
};

enum placement_select {
    PLACEMENT_SELECT_MMT,       /* minimum migration time: least memory */
    PLACEMENT_SELECT_MC,        /* maximum correlation */
    PLACEMENT_SELECT_RS,        /* random */
    PLACEMENT_SELECT_LOWEST_CPU /* lightest VM first (Bologna manager) */
};

enum placement_window_mode {
    PLACEMENT_WINDOW_NORMAL,      /* relieve overload only */
    PLACEMENT_WINDOW_CONSOLIDATE, /* relieve overload and consolidate */
    PLACEMENT_WINDOW_SPREAD       /* power hosts on and spread the load */
};

/* A daily window [start, end) in minutes after midnight of the planner's
 * clock (now mod 86400); end < start wraps past midnight. */
struct placement_window {
    uint32_t start_min;
    uint32_t end_min;
    enum placement_window_mode mode;
};

struct placement_policy {
    enum placement_model model;
    bool migrate; /* false: no optimisation at all (CloudSim NPA, DVFS) */
    enum placement_overload overload;
    double overload_param;     /* THR threshold; MAD/IQR/LR/LRR safety parameter */
    double fallback_threshold; /* THR used while history is short (CloudSim: 0.7) */
    double loadavg_min;        /* loadavg15 per core: below = underloaded */
    double loadavg_max;        /* above = overloaded */
    enum placement_select select;
    bool consolidate;           /* outside windows (or with no windows) */
    double underload_threshold; /* only hosts below it are evacuated; 1 = any */
    double cpu_overcommit;      /* requested MIPS per host MIPS allowed */
    bool respect_memory;
    uint32_t max_migrations_per_host; /* 0 = unlimited */
    uint32_t spare_hosts;             /* idle hosts kept powered on */
    uint32_t max_evacuations;         /* hosts tried for consolidation per round; 0 = all */
    double vm_cooldown_s;             /* a VM is not moved again sooner */
    double host_wake_cooldown_s;      /* a woken host is not powered off sooner */
    double migration_mb_per_s;        /* migration cost = memory / this */
    bool benefit_rule;                /* TR > O + lambda */
    double benefit_margin_s;          /* lambda */
    double interval_s;                /* spacing of history samples */
    const struct placement_window *windows;
    size_t n_windows;
};

/* Policy names: thr-mmt, iqr-mmt, mad-mmt, lr-mmt, lrr-mmt, npa, dvfs (the
 * CloudSim policies, cloudsim model), and nodectl's own: default, lr-mc,
 * thr-lowest, loadavg-lowest ... (see placement_policy.c). param < 0 keeps
 * the policy's own parameter. Returns 0, or -1 for an unknown name. */
int placement_policy_by_name(const char *name, double param, struct placement_policy *out);
/* Comma-separated list of the names above, for usage messages. */
const char *placement_policy_names(void);

enum placement_action_kind { PLACEMENT_MIGRATE, PLACEMENT_POWER_ON, PLACEMENT_POWER_OFF };

struct placement_action {
    enum placement_action_kind kind;
    uint32_t vm;   /* MIGRATE: VM index */
    uint32_t from; /* MIGRATE: source host index */
    uint32_t host; /* MIGRATE: target; POWER_*: the host */
    size_t dep_off; /* this action may start only after plan.deps[dep_off .. +n_deps] */
    size_t n_deps;
    char reason[PLACEMENT_REASON_MAX];
};

struct placement_plan {
    struct placement_action *actions;
    size_t n_actions;
    size_t cap_actions;
    size_t *deps; /* indices into actions, always of earlier actions */
    size_t n_deps;
    size_t cap_deps;
    char error[160]; /* set when placement_plan() fails */
};

void placement_plan_init(struct placement_plan *p);
void placement_plan_free(struct placement_plan *p);

/* Plans one round. Actions come in execution order; every action's
 * dependencies precede it. Returns 0, or -1 with plan->error naming the bad
 * input (or "out of memory"). rng is used by the RS selection policy. */
int placement_plan(const struct placement_snapshot *snap, const struct placement_policy *pol,
                   double now, struct prng *rng, struct placement_plan *plan);

/* Initial placement of a new VM (the strategies compared in the UNESP 2014
 * study the planner follows): returns a host index, or -1 if no host can take it. */
enum placement_initial_kind {
    PLACEMENT_INITIAL_FIRST_FIT,
    PLACEMENT_INITIAL_ROUND_ROBIN,
    PLACEMENT_INITIAL_RANDOM,
    PLACEMENT_INITIAL_MOST_FREE, /* weighted free CPU, memory, disk, network */
    PLACEMENT_INITIAL_POWER_AWARE /* PABFD: least power increase */
};

struct placement_initial_weights {
    double cpu, mem, disk, net;
};

/* Per-host free disk and network, fractions 0..1 (NULL: treated as fully free). */
struct placement_initial_extra {
    const double *disk_free;
    const double *net_free;
};

/* The new VM is `vm` (its host field is ignored; it requests its full mips
 * and memory). cursor is the round-robin position, updated. */
int placement_initial(const struct placement_snapshot *snap, const struct placement_policy *pol,
                      const struct placement_vm *vm, enum placement_initial_kind kind,
                      const struct placement_initial_weights *w,
                      const struct placement_initial_extra *extra, uint32_t *cursor,
                      struct prng *rng);

#endif
