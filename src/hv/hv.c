#include "hv.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/prng.h"

struct hv {
    char *uri;
    virConnectPtr conn;
    struct backoff backoff;
    struct prng rng;
    uint64_t next_connect_ms;
    /* Previous node CPU counters, for the host CPU % delta. */
    uint64_t prev_busy_ns, prev_total_ns;
    struct hv_sample cur, prev;
};

/* libvirt prints every error to stderr by default; the agent reports them
 * itself, once, with context. */
static void quiet_errors(void *opaque, virErrorPtr err) {}

struct hv *hv_new(const char *uri) {
    struct hv *hv = calloc(1, sizeof *hv);
    if (!hv)
        return NULL;
    hv->uri = strdup(uri);
    if (!hv->uri) {
        free(hv);
        return NULL;
    }
    virSetErrorFunc(NULL, quiet_errors);
    hv->backoff = (struct backoff){.base_ms = 500, .cap_ms = 30000};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    prng_seed(&hv->rng, (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20);
    snprintf(hv->cur.reason, sizeof hv->cur.reason, "not connected yet");
    return hv;
}

void hv_free(struct hv *hv) {
    if (!hv)
        return;
    if (hv->conn)
        virConnectClose(hv->conn);
    free(hv->cur.vms);
    free(hv->prev.vms);
    free(hv->uri);
    free(hv);
}

const char *hv_uri(const struct hv *hv) { return hv->uri; }

const char *hv_vm_state_name(enum hv_vm_state s) {
    static const char *names[] = {"unknown", "running",  "blocked", "paused",
                                  "shutdown", "shut off", "crashed", "suspended"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

static enum hv_vm_state map_state(unsigned char st) {
    switch (st) {
    case VIR_DOMAIN_RUNNING: return HV_VM_RUNNING;
    case VIR_DOMAIN_BLOCKED: return HV_VM_BLOCKED;
    case VIR_DOMAIN_PAUSED: return HV_VM_PAUSED;
    case VIR_DOMAIN_SHUTDOWN: return HV_VM_SHUTDOWN;
    case VIR_DOMAIN_SHUTOFF: return HV_VM_SHUTOFF;
    case VIR_DOMAIN_CRASHED: return HV_VM_CRASHED;
    case VIR_DOMAIN_PMSUSPENDED: return HV_VM_SUSPENDED;
    default: return HV_VM_UNKNOWN;
    }
}

/* A domain that holds host resources: it has a running QEMU/Xen process. */
static bool is_active(enum hv_vm_state s) {
    return s == HV_VM_RUNNING || s == HV_VM_BLOCKED || s == HV_VM_PAUSED;
}

static void set_unavailable(struct hv *hv, uint64_t now_ms, const char *what) {
    const char *why = virGetLastErrorMessage();
    snprintf(hv->cur.reason, sizeof hv->cur.reason, "%s: %s", what, why ? why : "unknown error");
    if (hv->cur.available || hv->backoff.attempt == 0)
        log_warn("hypervisor %s unavailable: %s", hv->uri, hv->cur.reason);
    hv->cur.available = false;
    hv->cur.n_vms = 0;
    if (hv->conn) {
        virConnectClose(hv->conn);
        hv->conn = NULL;
    }
    hv->next_connect_ms = now_ms + backoff_next_ms(&hv->backoff, &hv->rng);
}

static const struct hv_vm *find_prev(const struct hv *hv, const unsigned char uuid[16]) {
    for (size_t i = 0; i < hv->prev.n_vms; i++)
        if (memcmp(hv->prev.vms[i].uuid, uuid, 16) == 0)
            return &hv->prev.vms[i];
    return NULL;
}

/* CPU % of a domain over the interval: CPU time consumed divided by the
 * wall time its vCPUs had, as virt-top and oVirt compute it. */
static double cpu_percent(uint64_t d_cpu_ns, uint64_t d_wall_ms, uint32_t vcpus) {
    if (d_wall_ms == 0 || vcpus == 0)
        return 0;
    double pct = 100.0 * (double)d_cpu_ns / ((double)d_wall_ms * 1e6 * vcpus);
    return pct < 0 ? 0 : pct > 100 ? 100 : pct;
}

static int sample_domains(struct hv *hv, uint64_t now_ms) {
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(hv->conn, &doms, 0);
    if (n < 0)
        return -1;
    struct hv_vm *vms = calloc(n ? (size_t)n : 1, sizeof *vms);
    if (!vms) {
        for (int i = 0; i < n; i++)
            virDomainFree(doms[i]);
        free(doms);
        return -1;
    }
    size_t kept = 0;
    for (int i = 0; i < n; i++) {
        virDomainInfo info;
        struct hv_vm *vm = &vms[kept];
        const char *name = virDomainGetName(doms[i]);
        /* A domain that vanished between the list and the query is skipped:
         * it is simply gone at the next sample. */
        if (name && virDomainGetUUID(doms[i], vm->uuid) == 0 &&
            virDomainGetInfo(doms[i], &info) == 0) {
            snprintf(vm->name, sizeof vm->name, "%s", name);
            vm->state = map_state(info.state);
            vm->vcpus = info.nrVirtCpu;
            vm->memory_kib = info.memory;
            vm->cpu_time_ns = info.cpuTime;
            const struct hv_vm *old = find_prev(hv, vm->uuid);
            if (old && hv->prev.available && is_active(vm->state) &&
                vm->cpu_time_ns >= old->cpu_time_ns)
                vm->cpu_percent = cpu_percent(vm->cpu_time_ns - old->cpu_time_ns,
                                              now_ms - hv->prev.taken_at_ms, vm->vcpus);
            kept++;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    free(hv->cur.vms);
    hv->cur.vms = vms;
    hv->cur.n_vms = kept;
    return 0;
}

/* Host CPU % from the node's cumulative counters, when the driver has them. */
static int node_cpu_percent(struct hv *hv, double *pct) {
    int nparams = 0;
    if (virNodeGetCPUStats(hv->conn, VIR_NODE_CPU_STATS_ALL_CPUS, NULL, &nparams, 0) != 0 ||
        nparams <= 0)
        return -1;
    virNodeCPUStatsPtr params = calloc((size_t)nparams, sizeof *params);
    if (!params)
        return -1;
    int rc = virNodeGetCPUStats(hv->conn, VIR_NODE_CPU_STATS_ALL_CPUS, params, &nparams, 0);
    uint64_t total = 0, idle = 0;
    for (int i = 0; rc == 0 && i < nparams; i++) {
        total += params[i].value;
        if (strcmp(params[i].field, VIR_NODE_CPU_STATS_IDLE) == 0 ||
            strcmp(params[i].field, VIR_NODE_CPU_STATS_IOWAIT) == 0)
            idle += params[i].value;
    }
    free(params);
    if (rc != 0 || total == 0)
        return -1;
    uint64_t busy = total - idle;
    uint64_t prev_busy = hv->prev_busy_ns, prev_total = hv->prev_total_ns;
    hv->prev_busy_ns = busy;
    hv->prev_total_ns = total;
    /* Counters that do not advance (the test driver returns constants) say
     * nothing about load. */
    if (!prev_total || total <= prev_total || busy < prev_busy)
        return -1;
    *pct = 100.0 * (double)(busy - prev_busy) / (double)(total - prev_total);
    return 0;
}

static int node_memory_used(struct hv *hv, uint64_t *used_kib) {
    int nparams = 0;
    if (virNodeGetMemoryStats(hv->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &nparams, 0) != 0 ||
        nparams <= 0)
        return -1;
    virNodeMemoryStatsPtr params = calloc((size_t)nparams, sizeof *params);
    if (!params)
        return -1;
    int rc = virNodeGetMemoryStats(hv->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, params, &nparams, 0);
    uint64_t total = 0, avail = 0;
    for (int i = 0; rc == 0 && i < nparams; i++) {
        const char *f = params[i].field;
        if (strcmp(f, VIR_NODE_MEMORY_STATS_TOTAL) == 0)
            total = params[i].value;
        else if (strcmp(f, VIR_NODE_MEMORY_STATS_FREE) == 0 ||
                 strcmp(f, VIR_NODE_MEMORY_STATS_BUFFERS) == 0 ||
                 strcmp(f, VIR_NODE_MEMORY_STATS_CACHED) == 0)
            avail += params[i].value;
    }
    free(params);
    if (rc != 0 || total == 0)
        return -1;
    *used_kib = total > avail ? total - avail : 0;
    return 0;
}

static void swap_samples(struct hv *hv) {
    struct hv_vm *old_prev = hv->prev.vms;
    hv->prev = hv->cur;
    hv->cur.vms = old_prev;
    hv->cur.n_vms = 0;
}

const struct hv_sample *hv_sample(struct hv *hv, uint64_t now_ms) {
    if (!hv->conn) {
        if (now_ms < hv->next_connect_ms)
            return &hv->cur;
        hv->conn = virConnectOpen(hv->uri);
        if (!hv->conn) {
            set_unavailable(hv, now_ms, "cannot connect");
            return &hv->cur;
        }
        if (hv->backoff.attempt)
            log_info("hypervisor %s reconnected", hv->uri);
        backoff_reset(&hv->backoff);
        hv->prev.available = false;
        hv->prev_total_ns = 0;
    }
    virNodeInfo info;
    if (virNodeGetInfo(hv->conn, &info) != 0) {
        set_unavailable(hv, now_ms, "node info");
        return &hv->cur;
    }
    swap_samples(hv);
    if (sample_domains(hv, now_ms) != 0) {
        set_unavailable(hv, now_ms, "listing domains");
        return &hv->cur;
    }
    struct hv_sample *s = &hv->cur;
    s->available = true;
    s->reason[0] = '\0';
    s->taken_at_ms = now_ms;
    s->cpus = info.cpus;
    s->cpu_mhz = info.mhz;
    s->memory_kib = info.memory;
    /* Drivers without node counters (the test driver, some remote ones):
     * account what the domains use, which is what a consolidation planner
     * needs anyway. */
    double vcpu_load = 0;
    uint64_t vm_mem = 0;
    for (size_t i = 0; i < s->n_vms; i++) {
        if (is_active(s->vms[i].state)) {
            vcpu_load += s->vms[i].cpu_percent * s->vms[i].vcpus;
            vm_mem += s->vms[i].memory_kib;
        }
    }
    if (node_cpu_percent(hv, &s->cpu_percent) != 0)
        s->cpu_percent = s->cpus ? vcpu_load / s->cpus : 0;
    if (s->cpu_percent > 100)
        s->cpu_percent = 100;
    if (node_memory_used(hv, &s->memory_used_kib) != 0)
        s->memory_used_kib = vm_mem < s->memory_kib ? vm_mem : s->memory_kib;
    return s;
}
