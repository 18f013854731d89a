/* Working state shared by the planner's files; not part of the public API.
 * The planner never touches the snapshot: it moves VMs tentatively in this
 * state (CloudSim's vmCreate/vmDestroy during optimizeAllocation) and throws
 * the state away at the end (CloudSim's restoreAllocation). */
#ifndef NODECTL_PLACEMENT_INTERNAL_H
#define NODECTL_PLACEMENT_INTERNAL_H

#include "placement/placement.h"

struct pl_host {
    uint32_t *vms; /* VM indices in host order, tentative moves applied */
    uint32_t n_vms;
    uint32_t cap_vms;
    double avail;     /* MIPS still grantable (CloudSim VmScheduler.getAvailableMips) */
    double alloc_sum; /* sum of vm_alloc in host order (CloudSim getUtilizationOfCpuMips) */
    double power_before; /* PABFD's "power before the move" (placement_pabfd.c) */
    double req_sum;   /* sum of current requests in host order */
    uint64_t mem_max; /* largest VM memory (LR's migration time) */
    double req_measured; /* requested MIPS of the snapshot's VMs (loadavg rule) */
    uint64_t mem_used;
    uint32_t migrations; /* in flight + planned, in or out */
    int power_on_action; /* index of this round's POWER_ON action, or -1 */
    bool over;           /* found overloaded this round */
    bool excl_target;
    bool excl_source;
    bool evacuated;
};

/* LR's prediction is linear in the history (OLS on x = 1..10), so a host's
 * part and a VM's part can be summed (placement_overload.c). */
struct pl_trend {
    double mean;  /* of the newest 10 samples */
    double slope; /* OLS slope over them */
    double mag;   /* sum of their magnitudes, for the rounding allowance */
};

/* PABFD's host index (placement_index.c): hosts filed by type (power model
 * and MIPS), power state and utilisation bin, and within a bin by band of
 * their lowest possible LR prediction (pl_state.lr_low). Each (bin, band) is
 * a linked list through the per-host next/prev arrays, so refiling a host
 * never allocates. */
enum { PL_INDEX_TYPES = 32, PL_INDEX_BINS = 50, PL_INDEX_BANDS = 26 };
struct pl_index {
    size_t n_types;
    const struct placement_power_model *power[PL_INDEX_TYPES];
    double mips[PL_INDEX_TYPES];
    double slack[PL_INDEX_TYPES]; /* rounding allowance of a bound, watts */
    uint32_t band_cut[PL_INDEX_TYPES]; /* for one VM: bands from here on are skipped */
    size_t n_bins;                /* n_types * 2 * PL_INDEX_BINS, then one bin always visited */
    uint32_t *head;               /* per bin and band: first host, or PL_INDEX_NONE */
    uint32_t *count;              /* per bin */
    double *power_max;            /* per bin: largest power_before filed there this round */
    double *bound;                /* per bin: lower bound of the power increase, for one VM */
    uint32_t *heap;               /* bins not yet visited for this VM, a min-heap on bound */
    size_t heap_n;
    uint32_t *type;               /* per host: its type, or PL_INDEX_TYPES */
    uint32_t *list;               /* per host: bin * PL_INDEX_BANDS + band, or PL_INDEX_NONE */
    uint32_t *next, *prev;        /* per host */
};
#define PL_INDEX_NONE UINT32_MAX

struct pl_state {
    const struct placement_snapshot *snap;
    const struct placement_policy *pol;
    double now;
    struct prng *rng;
    struct placement_plan *plan;
    struct pl_host *hosts;
    uint32_t *vm_host;  /* tentative host of each VM */
    double *vm_alloc;   /* granted MIPS of each VM where it tentatively is */
    int *vm_action;     /* last MIGRATE action of each VM this round, or -1 */
    /* Per host, PLACEMENT_HISTORY_MAX values: CloudSim's host history,
     * untrimmed (kept apart from pl_host so the PABFD scan stays in cache). */
    double *hist_sum;
    uint32_t *scratch; /* n_vms entries, for VM selection */
    struct pl_trend *trend; /* per host, kept when the policy is LR (pl_trend_update) */
    /* Per host: its LR prediction can be no lower than this whatever VM is
     * added (rounding allowance taken off), or NAN when that is not known. */
    double *lr_low;
    double lr_x_max; /* latest x LR can predict at this round (pl_trend_init) */
    struct pl_index index;
};

/* Which hosts PABFD considers: all, only running ones, only switched-off ones. */
enum pl_pass { PL_PASS_ALL, PL_PASS_ON, PL_PASS_OFF };

/* What an overload test saw, for the operator-readable reason. */
struct pl_overload {
    bool over;
    bool predicted; /* value is a prediction (LR/LRR), compared with >= */
    double value;   /* CPU utilisation (or loadavg per core, or prediction) */
    double threshold;
    const char *rule; /* "THR", "MAD", ..., "THR fallback" */
    const char *what; /* "CPU" or "load" */
};

/* A VM picked to move: where from/to, its grant before the move, and its
 * position in the order it was picked (for a stable sort). */
struct pl_pick {
    uint32_t vm;
    uint32_t from;
    uint32_t to;
    double alloc;
    size_t order;
};

/* placement_state.c */
/* CloudSim PowerVmList.sortByCpuUtilization: by current demand, descending,
 * stable. */
void pl_sort_by_demand(const struct pl_state *st, struct pl_pick *p, size_t n);
int pl_state_init(struct pl_state *st, const struct placement_snapshot *snap,
                  const struct placement_policy *pol, double now, struct prng *rng,
                  struct placement_plan *plan);
void pl_state_free(struct pl_state *st);
int pl_host_add(struct pl_state *st, uint32_t h, uint32_t vm);
void pl_host_remove(struct pl_state *st, uint32_t h, uint32_t vm);
/* Recomputes host h's grantable and granted MIPS after vm_alloc changed. */
void pl_host_refresh(struct pl_state *st, uint32_t h);
double pl_host_alloc_mips(const struct pl_state *st, uint32_t h);
double pl_host_requested_mips(const struct pl_state *st, uint32_t h, int extra_vm);
/* Inline: PABFD calls these for every host it visits. */
static inline double pl_host_mips(const struct placement_host *h) { return h->core_mips * h->cores; }
double pl_vm_capped(const struct placement_host *h, const struct placement_vm *v);
bool pl_vm_movable(const struct pl_state *st, uint32_t vm);
/* Off and not being powered on this round. */
static inline bool pl_host_off(const struct pl_state *st, uint32_t h) {
    return st->snap->hosts[h].power_state == PLACEMENT_HOST_OFF && st->hosts[h].power_on_action < 0;
}
/* Host h takes no VM for the rest of the round. */
void pl_host_exclude_target(struct pl_state *st, uint32_t h);
/* Recomputes host h's power_before (after a move or a power-on) and refiles
 * it in PABFD's index. */
void pl_host_power_before(struct pl_state *st, uint32_t h);

/* placement_overload.c: is host h overloaded with extra_vm (-1: none) added? */
void pl_overload_eval(const struct pl_state *st, uint32_t h, int extra_vm, struct pl_overload *out);
/* Trimmed utilisation history of host h (CloudSim getUtilizationHistory),
 * extra_vm included; returns its length (>= 1). */
size_t pl_host_history(const struct pl_state *st, uint32_t h, int extra_vm,
                       double out[PLACEMENT_HISTORY_MAX]);

/* placement_overload.c: LR's test with a VM added, decided from the kept
 * trends when they settle it beyond rounding (the exact test otherwise):
 * always the same verdict as pl_overload_eval(st, h, vm, .).over. vt is
 * pl_trend_of_vm(st, vm). */
void pl_trend_init(struct pl_state *st);
void pl_trend_update(struct pl_state *st, uint32_t h);
/* The least vm can add to the LR prediction of a host of host_mips (rounding
 * allowance taken off), or NAN when that is not known. */
double pl_trend_vm_low(const struct pl_state *st, uint32_t vm, const struct pl_trend *vt, double host_mips);
struct pl_trend pl_trend_of_vm(const struct pl_state *st, uint32_t vm);
bool pl_overloaded_with(const struct pl_state *st, uint32_t h, uint32_t vm, const struct pl_trend *vt);

/* placement_index.c */
int pl_index_init(struct pl_state *st);
void pl_index_free(struct pl_state *st);
/* Files host h where its type, power state and utilisation put it (or
 * leaves it out once it can take no VM). */
void pl_index_file(struct pl_state *st, uint32_t h);
/* Lower bounds, per bin, of the power increase PABFD computes for vm (only
 * bins `pass` visits), and the bands where LR certainly rejects it. */
void pl_index_bound(struct pl_state *st, uint32_t vm, const struct pl_trend *vt, enum pl_pass pass);
/* First host of bin b, band k (PL_INDEX_NONE if empty or skipped for this VM). */
uint32_t pl_index_first(const struct pl_state *st, uint32_t b, uint32_t k);
/* The unvisited bin of lowest bound if that bound is <= limit (it is then
 * visited), else PL_INDEX_NONE. */
uint32_t pl_index_next(struct pl_state *st, double limit);

/* placement_select.c: next VM to move off overloaded host h, or -1. */
int pl_select_vm(struct pl_state *st, uint32_t h);

/* placement_pabfd.c */
/* Best host for vm (least power increase), or -1. Honours every hard
 * constraint and the hosts' excl_target flags. */
int pl_pabfd_find(struct pl_state *st, uint32_t vm, enum pl_pass pass);
bool pl_host_suitable(const struct pl_state *st, uint32_t h, uint32_t vm);

/* placement_plan.c: append actions. Return the action index or -1 (ENOMEM). */
int pl_emit(struct pl_state *st, enum placement_action_kind kind, uint32_t vm, uint32_t from,
            uint32_t host, const char *reason);
int pl_depend(struct pl_state *st, int action, int on);

/* placement_power.c */
int pl_power_off_idle(struct pl_state *st);

/* placement_consolidate.c */
int pl_consolidate(struct pl_state *st);
int pl_evacuate_drained(struct pl_state *st);
int pl_spread(struct pl_state *st);

/* placement_plan.c: move vm to host h in the state and emit the MIGRATE
 * (and POWER_ON) actions with `reason`; returns the MIGRATE index or -1. */
int pl_plan_move(struct pl_state *st, uint32_t vm, uint32_t h, const char *reason);
/* Emits the actions of a move already applied to the state (and counted). */
int pl_record_move(struct pl_state *st, uint32_t vm, uint32_t from, uint32_t h, const char *reason);

#endif
