/* The CloudSim 5.0 power data-centre model (benchmark note, sections 1-7),
 * event by event. Class and method names in comments are CloudSim's, so each
 * rule can be checked against its source. Placement decisions all come from
 * the planner (src/placement/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_cloudsim.h"

#define HIST_LEN PLACEMENT_HISTORY_MAX /* PowerVm.HISTORY_LENGTH */
#define INTERVAL 300.0                 /* scheduling interval, s */
#define TERMINATE_AT 86400.0           /* CloudSim.terminateSimulation */
#define HOST_RAM_MB 4096
#define MIGRATION_MB_PER_S 62.5 /* BW 1e6 / (2 * 8000) */

/* PowerModelSpecPowerHpProLiantMl110G4Xeon3040 / ...G5Xeon3075. */
static const struct placement_power_model power_g4 = {
    {86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117}};
static const struct placement_power_model power_g5 = {
    {93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135}};

/* PlanetLab Constants.VM_MIPS / VM_RAM. */
static const struct {
    double mips;
    int ram;
} vm_types[4] = {{2500, 870}, {2000, 1740}, {1000, 1740}, {500, 613}};

/* One state-history entry; an entry with the same time replaces it. */
struct state_entry {
    double t, alloc, req;
    bool flag; /* host: active; VM: in migration */
    bool has;
};

struct slot {
    uint32_t vm;
    bool mig_in; /* in the host's vmsMigratingIn */
    double alloc;
};

struct host {
    double total, pe;
    const struct placement_power_model *power;
    struct slot *s; /* the host's vmList, in order */
    uint32_t n, cap;
    double util_mips, prev_util_mips;
    struct state_entry cur;
    bool prev_active; /* of the last settled history entry (starts true) */
    double on_since;
};

struct vm {
    double mips;
    int ram;
    const double *d;
    int32_t host; /* the allocation policy's vmTable entry, -1 if none */
    bool in_mig;
    double req, req_time;
    double hist[HIST_LEN];
    uint32_t hist_len;
    double hist_time;
    struct state_entry cur;
    double last_migrated_at;
};

struct event {
    double t;
    uint32_t vm, target;
    size_t seq;
};

struct dc {
    const struct sim_options *o;
    struct host *hosts;
    size_t nh;
    struct vm *vms;
    size_t nv;
    double energy_ws, last_process;
    uint64_t migrations, shutdowns;
    double active_time, viol_time, req_dt, alloc_dt, mig_under_dt;
    struct event *ev;
    size_t n_ev, cap_ev;
    /* planner snapshot buffers */
    struct placement_host *sh;
    struct placement_vm *sv;
    uint32_t *sv_id;
};

/* UtilizationModelPlanetLabInMemory.getUtilization. */
static double trace_u(const double *d, double t) {
    if (fmod(t, INTERVAL) == 0)
        return d[(int)t / (int)INTERVAL];
    int t1 = (int)floor(t / INTERVAL), t2 = (int)ceil(t / INTERVAL);
    double delta = (d[t2] - d[t1]) / ((t2 - t1) * INTERVAL);
    return d[t1] + delta * (t - t1 * INTERVAL);
}

static double clamp_util(double u) { return u > 1 && u < 1.01 ? 1 : u; }
static double host_util(const struct host *h) { return clamp_util(h->util_mips / h->total); }
static double host_prev_util(const struct host *h) { return clamp_util(h->prev_util_mips / h->total); }

static void vm_state(struct dc *dc, struct vm *v, double t, double alloc, double req, bool mig) {
    struct state_entry *c = &v->cur;
    if (c->has && c->t != t) {
        double dt = t - c->t;
        dc->req_dt += c->req * dt;
        dc->alloc_dt += c->alloc * dt;
        if (c->alloc < c->req && c->flag)
            dc->mig_under_dt += (c->req - c->alloc) * dt;
    }
    *c = (struct state_entry){t, alloc, req, mig, true};
}

static void host_settle(struct dc *dc, struct host *h, double dt) {
    struct state_entry *c = &h->cur;
    if (c->flag) {
        dc->active_time += dt;
        if (c->alloc < c->req)
            dc->viol_time += dt;
    }
    if (h->prev_active && !c->flag)
        dc->shutdowns++;
    h->prev_active = c->flag;
}

static void host_state(struct dc *dc, struct host *h, double t, double alloc, double req, bool active) {
    if (h->cur.has && h->cur.t != t)
        host_settle(dc, h, t - h->cur.t);
    if (active && !(h->cur.has && h->cur.flag))
        h->on_since = t;
    h->cur = (struct state_entry){t, alloc, req, active, true};
}

/* PowerVm.updateVmProcessing + CloudletSchedulerDynamicWorkload: the request
 * follows the trace; at a tick the utilisation joins the history. */
static void vm_update(struct vm *v, double t, bool tick) {
    if (v->req_time != t) {
        v->req = trace_u(v->d, t) * v->mips;
        v->req_time = t;
    }
    if (tick && t > v->hist_time) {
        memmove(&v->hist[1], &v->hist[0], (HIST_LEN - 1) * sizeof v->hist[0]);
        v->hist[0] = trace_u(v->d, t);
        if (v->hist_len < HIST_LEN)
            v->hist_len++;
        v->hist_time = t;
    }
}

/* VmSchedulerTimeSharedOverSubscription.redistributeMipsDueToOverSubscription
 * over the VMs granted so far (slots 0..last). */
static void redistribute(struct dc *dc, struct host *h, uint32_t last) {
    double required = 0;
    for (uint32_t j = 0; j <= last; j++) {
        double c = fmin(dc->vms[h->s[j].vm].req, h->pe);
        required += h->s[j].mig_in ? c * 0.1 : c;
    }
    double scale = h->total / required;
    for (uint32_t j = 0; j <= last; j++) {
        const struct vm *v = &dc->vms[h->s[j].vm];
        double c = fmin(v->req, h->pe);
        if (h->s[j].mig_in)
            c = c * 0.1 * scale;
        else if (v->in_mig)
            c = c * scale * 0.9;
        else
            c = c * scale;
        h->s[j].alloc = floor(c);
    }
}

/* HostDynamicWorkload.updateVmsProcessing. */
static void host_update(struct dc *dc, struct host *h, double t, bool tick) {
    for (uint32_t i = 0; i < h->n; i++)
        vm_update(&dc->vms[h->s[i].vm], t, tick);
    h->prev_util_mips = h->util_mips;
    double avail = h->total;
    for (uint32_t i = 0; i < h->n; i++) {
        const struct vm *v = &dc->vms[h->s[i].vm];
        double c = fmin(v->req, h->pe);
        double need = h->s[i].mig_in ? c * 0.1 : c;
        if (avail >= need) {
            h->s[i].alloc = h->s[i].mig_in ? c * 0.1 : v->in_mig ? c * 0.9 : c;
            avail -= need;
        } else {
            redistribute(dc, h, i);
            avail = 0;
        }
    }
    double util = 0, req = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        struct vm *v = &dc->vms[h->s[i].vm];
        double a = h->s[i].alloc;
        if (!h->s[i].mig_in) {
            vm_state(dc, v, t, a, v->req, v->in_mig);
            if (v->in_mig)
                a /= 0.9;
        }
        util += a;
        req += v->req;
    }
    h->util_mips = util;
    host_state(dc, h, t, util, req, util > 0);
}

static int slot_push(struct host *h, uint32_t vm, bool mig_in) {
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 8;
        struct slot *s = realloc(h->s, cap * sizeof *s);
        if (!s)
            return -1;
        h->s = s;
        h->cap = cap;
    }
    h->s[h->n++] = (struct slot){vm, mig_in, 0};
    return 0;
}

/* List.remove(vm): the first occurrence. */
static void slot_remove(struct host *h, uint32_t vm) {
    for (uint32_t i = 0; i < h->n; i++)
        if (h->s[i].vm == vm) {
            memmove(&h->s[i], &h->s[i + 1], (h->n - i - 1) * sizeof *h->s);
            h->n--;
            return;
        }
}

/* PowerDatacenter.updateCloudetProcessingWithoutSchedulingFutureEventsForce:
 * update every host, add the interval's energy, drop finished VMs. */
static void dc_update(struct dc *dc, double t, bool tick) {
    for (size_t i = 0; i < dc->nh; i++)
        host_update(dc, &dc->hosts[i], t, tick);
    double dt = t - dc->last_process;
    if (dt > 0) {
        for (size_t i = 0; i < dc->nh; i++) {
            const struct host *h = &dc->hosts[i];
            if (dc->o->non_power_aware) {
                dc->energy_ws += h->power->watts[10] * dt;
                continue;
            }
            /* PowerHost.getEnergyLinearInterpolation. */
            double from = host_prev_util(h), to = host_util(h);
            if (from == 0)
                continue;
            double pf = placement_power_watts(h->power, from), pt = placement_power_watts(h->power, to);
            dc->energy_ws += (pf + (pt - pf) / 2) * dt;
        }
    }
    /* HostDynamicWorkload.getCompletedVms: requested MIPS exactly 0. */
    for (size_t i = 0; i < dc->nh; i++) {
        struct host *h = &dc->hosts[i];
        for (uint32_t k = 0; k < h->n;) {
            struct vm *v = &dc->vms[h->s[k].vm];
            if (!v->in_mig && v->req == 0 && v->host == (int32_t)i) {
                slot_remove(h, h->s[k].vm);
                v->host = -1;
            } else {
                k++;
            }
        }
    }
    dc->last_process = t;
}

static int dc_init(struct dc *dc, const struct sim_workload *w, const struct sim_options *o) {
    memset(dc, 0, sizeof *dc);
    dc->o = o;
    dc->nh = o->n_hosts;
    dc->nv = w->n_vms;
    dc->hosts = calloc(dc->nh, sizeof *dc->hosts);
    dc->vms = calloc(dc->nv, sizeof *dc->vms);
    dc->sh = calloc(dc->nh, sizeof *dc->sh);
    dc->sv = calloc(dc->nv, sizeof *dc->sv);
    dc->sv_id = calloc(dc->nv, sizeof *dc->sv_id);
    if (!dc->hosts || !dc->vms || !dc->sh || !dc->sv || !dc->sv_id)
        return -1;
    for (size_t i = 0; i < dc->nh; i++) {
        struct host *h = &dc->hosts[i];
        /* Helper.createHostList: type i % 2. */
        h->pe = i % 2 ? 2660 : 1860;
        h->total = 2 * h->pe;
        h->power = i % 2 ? &power_g5 : &power_g4;
        h->prev_active = true;
        h->on_since = -1e300;
    }
    size_t block = (size_t)ceil((double)dc->nv / 4.0); /* Helper.createVmList */
    for (size_t i = 0; i < dc->nv; i++) {
        struct vm *v = &dc->vms[i];
        size_t type = i / block;
        v->mips = vm_types[type].mips;
        v->ram = vm_types[type].ram;
        v->d = sim_workload_trace(w, i);
        v->host = -1;
        v->req_time = -1;
        v->last_migrated_at = -1e300;
    }
    return 0;
}

static void dc_free(struct dc *dc) {
    if (dc->hosts)
        for (size_t i = 0; i < dc->nh; i++)
            free(dc->hosts[i].s);
    free(dc->hosts);
    free(dc->vms);
    free(dc->ev);
    free(dc->sh);
    free(dc->sv);
    free(dc->sv_id);
}

/* The planner's view: hosts in id order, VMs host by host in vmList order. */
static size_t snapshot(struct dc *dc, bool at_creation) {
    size_t nv = 0;
    for (size_t i = 0; i < dc->nh; i++) {
        const struct host *h = &dc->hosts[i];
        double u = host_util(h);
        dc->sh[i] = (struct placement_host){
            .id = (uint32_t)i,
            .cores = 2,
            .core_mips = h->pe,
            .mem_mb = HOST_RAM_MB,
            .power = h->power,
            .power_state = u == 0 && h->n == 0 ? PLACEMENT_HOST_OFF : PLACEMENT_HOST_ON,
            .cpu_measured = u,
            .powered_on_at = h->on_since,
        };
        if (!at_creation)
            dc->sh[i].power_state = u == 0 ? PLACEMENT_HOST_OFF : PLACEMENT_HOST_ON;
        for (uint32_t k = 0; k < h->n; k++) {
            if (h->s[k].mig_in)
                continue;
            const struct vm *v = &dc->vms[h->s[k].vm];
            dc->sv[nv] = (struct placement_vm){
                .id = h->s[k].vm,
                .host = (uint32_t)i,
                .vcpus = 1,
                .mips = v->mips,
                .mem_mb = (uint64_t)v->ram,
                /* At creation a placed VM requests nothing yet but holds
                 * its full size (Vm.isBeingInstantiated). */
                .cpu_mips = at_creation ? 0 : v->req,
                .alloc_mips = h->s[k].alloc,
                .history = v->hist,
                .history_len = v->hist_len,
                .last_migrated_at = v->last_migrated_at,
                .in_migration = v->in_mig,
            };
            dc->sv_id[nv] = h->s[k].vm;
            nv++;
        }
    }
    return nv;
}

/* t = 0: the broker creates VMs in id order (allocateHostForVm with the full
 * request); every placement is the planner's initial placement. */
static int place_initial(struct dc *dc, char *err, size_t errlen) {
    struct prng rng;
    prng_seed(&rng, dc->o->seed);
    uint32_t cursor = 0;
    for (size_t i = 0; i < dc->nv; i++) {
        struct vm *v = &dc->vms[i];
        size_t nv = snapshot(dc, true);
        struct placement_snapshot snap = {dc->sh, dc->nh, dc->sv, nv};
        struct placement_vm nvm = {.id = (uint32_t)i, .vcpus = 1, .mips = v->mips,
                                   .mem_mb = (uint64_t)v->ram, .last_migrated_at = -1e300};
        int h = placement_initial(&snap, dc->o->policy, &nvm, dc->o->initial, NULL, NULL, &cursor, &rng);
        if (h < 0) {
            snprintf(err, errlen, "VM %zu (%.0f MIPS, %d MB) fits no host at creation", i, v->mips, v->ram);
            return -1;
        }
        if (slot_push(&dc->hosts[h], (uint32_t)i, false) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        dc->hosts[h].s[dc->hosts[h].n - 1].alloc = v->mips;
        v->host = h;
    }
    return 0;
}

static int push_event(struct dc *dc, double t, uint32_t vm, uint32_t target) {
    if (dc->n_ev == dc->cap_ev) {
        size_t cap = dc->cap_ev ? dc->cap_ev * 2 : 256;
        struct event *e = realloc(dc->ev, cap * sizeof *e);
        if (!e)
            return -1;
        dc->ev = e;
        dc->cap_ev = cap;
    }
    dc->ev[dc->n_ev] = (struct event){t, vm, target, dc->n_ev};
    dc->n_ev++;
    return 0;
}

/* PowerHost.addMigratingInVm, then the VM_MIGRATE event RAM / 62.5 s later. */
static int start_migration(struct dc *dc, uint32_t vm, uint32_t target, double t) {
    struct vm *v = &dc->vms[vm];
    struct host *th = &dc->hosts[target];
    v->in_mig = true;
    bool already = false;
    for (uint32_t k = 0; k < th->n; k++)
        if (th->s[k].vm == vm && th->s[k].mig_in)
            already = true;
    if (!already) {
        if (slot_push(th, vm, true) != 0)
            return -1;
        host_update(dc, th, t, false);
        if (v->host >= 0)
            host_update(dc, &dc->hosts[v->host], t, false);
    }
    dc->migrations++;
    return push_event(dc, t + v->ram / MIGRATION_MB_PER_S, vm, target);
}

/* Datacenter.processVmMigrate. */
static int finish_migration(struct dc *dc, const struct event *e) {
    struct vm *v = &dc->vms[e->vm];
    struct host *th = &dc->hosts[e->target];
    if (v->host >= 0)
        slot_remove(&dc->hosts[v->host], e->vm);
    slot_remove(th, e->vm);
    if (slot_push(th, e->vm, false) != 0)
        return -1;
    v->host = (int32_t)e->target;
    v->in_mig = false;
    v->last_migrated_at = e->t;
    return 0;
}

static int by_time(const void *a, const void *b) {
    const struct event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* PowerVmAllocationPolicyMigrationAbstract.optimizeAllocation via the planner. */
static int optimise(struct dc *dc, double t, struct prng *rng, struct placement_plan *plan,
                    char *err, size_t errlen) {
    size_t nv = snapshot(dc, false);
    struct placement_snapshot snap = {dc->sh, dc->nh, dc->sv, nv};
    if (placement_plan(&snap, dc->o->policy, t, rng, plan) != 0) {
        snprintf(err, errlen, "planner at t=%.1f: %s", t, plan->error);
        return -1;
    }
    dc->n_ev = 0;
    for (size_t i = 0; i < plan->n_actions; i++) {
        const struct placement_action *a = &plan->actions[i];
        if (a->kind != PLACEMENT_MIGRATE)
            continue; /* power states are implicit in this model (note, 6) */
        if (start_migration(dc, dc->sv_id[a->vm], a->host, t) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (dc->n_ev > 1)
        qsort(dc->ev, dc->n_ev, sizeof *dc->ev, by_time);
    for (size_t i = 0; i < dc->n_ev;) {
        double tm = dc->ev[i].t;
        if (tm >= TERMINATE_AT)
            break;
        if (tm > dc->last_process)
            dc_update(dc, tm, false);
        for (; i < dc->n_ev && dc->ev[i].t == tm; i++)
            if (finish_migration(dc, &dc->ev[i]) != 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        dc_update(dc, tm, false);
    }
    return 0;
}

int sim_cloudsim_run(const struct sim_workload *w, const struct sim_options *o, struct sim_result *r,
                     char *err, size_t errlen) {
    double t0 = now_s();
    struct dc dc;
    struct placement_plan plan;
    placement_plan_init(&plan);
    memset(r, 0, sizeof *r);
    int rc = -1;
    if (dc_init(&dc, w, o) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (place_initial(&dc, err, errlen) != 0)
        goto out;
    struct prng rng;
    prng_seed(&rng, o->seed);
    /* Ticks at 0.1 + 300 k (cloudlets are submitted at 0.1). */
    for (double t = 0.1 + INTERVAL; t < TERMINATE_AT; t += INTERVAL) {
        dc_update(&dc, t, true);
        if (!o->policy->migrate)
            continue;
        double p0 = now_s();
        if (optimise(&dc, t, &rng, &plan, err, errlen) != 0)
            goto out;
        double p = now_s() - p0;
        if (p > r->plan_seconds_max)
            r->plan_seconds_max = p;
    }
    for (size_t i = 0; i < dc.nh; i++)
        if (dc.hosts[i].cur.has)
            host_settle(&dc, &dc.hosts[i], 0);
    r->vms = dc.nv;
    r->hosts = dc.nh;
    r->energy_kwh = dc.energy_ws / 3.6e6;
    r->migrations = dc.migrations;
    r->slatah = dc.active_time > 0 ? dc.viol_time / dc.active_time : 0;
    r->pdm = dc.req_dt > 0 ? dc.mig_under_dt / dc.req_dt : 0;
    r->slav = r->slatah * r->pdm;
    r->esv = r->energy_kwh * r->slav;
    r->host_shutdowns = dc.shutdowns;
    r->overall_sla = dc.req_dt > 0 ? (dc.req_dt - dc.alloc_dt) / dc.req_dt : 0;
    rc = 0;
out:
    placement_plan_free(&plan);
    dc_free(&dc);
    r->wall_seconds = now_s() - t0;
    return rc;
}
