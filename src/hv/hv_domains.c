/* Per-domain metrics through libvirt's bulk stats API
 * (virConnectGetAllDomainStats): one call for every domain, as oVirt's VDSM
 * and virt-top do, instead of a round of calls per domain. Drivers that fill
 * only some groups (the test driver reports just the state) are completed
 * from virDomainGetInfo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_internal.h"

enum hv_vm_state hv_map_state(int st) {
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
bool hv_vm_active(enum hv_vm_state s) {
    return s == HV_VM_RUNNING || s == HV_VM_BLOCKED || s == HV_VM_PAUSED;
}

static const struct hv_vm *find_prev(const struct hv *hv, const unsigned char uuid[16]) {
    for (size_t i = 0; i < hv->prev.n_vms; i++)
        if (memcmp(hv->prev.vms[i].uuid, uuid, 16) == 0)
            return &hv->prev.vms[i];
    return NULL;
}

/* Sum of "<group>.<i>.<field>" over "<group>.count" devices. */
static uint64_t sum_devices(virTypedParameterPtr p, int n, const char *group, const char *field) {
    char name[VIR_TYPED_PARAM_FIELD_LENGTH];
    unsigned int count = 0;
    snprintf(name, sizeof name, "%s.count", group);
    if (virTypedParamsGetUInt(p, n, name, &count) != 1)
        return 0;
    uint64_t total = 0;
    for (unsigned int i = 0; i < count; i++) {
        unsigned long long v;
        snprintf(name, sizeof name, "%s.%u.%s", group, i, field);
        if (virTypedParamsGetULLong(p, n, name, &v) == 1)
            total += v;
    }
    return total;
}

/* Fills what the bulk stats did not carry; -1 if the domain vanished. */
static int complete_from_info(virDomainPtr dom, struct hv_vm *vm, int have_state, int have_cpu,
                              int have_mem, int have_vcpus) {
    if (have_state && have_cpu && have_mem && have_vcpus)
        return 0;
    virDomainInfo info;
    if (virDomainGetInfo(dom, &info) != 0)
        return -1;
    if (!have_state)
        vm->state = hv_map_state(info.state);
    if (!have_cpu)
        vm->cpu_time_ns = info.cpuTime;
    if (!have_mem) {
        vm->memory_kib = info.memory;
        vm->max_memory_kib = info.maxMem;
    }
    if (!have_vcpus)
        vm->vcpus = info.nrVirtCpu;
    return 0;
}

static int read_record(virDomainStatsRecordPtr rec, struct hv_vm *vm) {
    virTypedParameterPtr p = rec->params;
    int n = rec->nparams;
    const char *name = virDomainGetName(rec->dom);
    if (!name || virDomainGetUUID(rec->dom, vm->uuid) != 0)
        return -1;
    snprintf(vm->name, sizeof vm->name, "%s", name);
    int state;
    unsigned long long cpu, cur, max;
    unsigned int vcpus;
    int have_state = virTypedParamsGetInt(p, n, "state.state", &state) == 1;
    int have_cpu = virTypedParamsGetULLong(p, n, "cpu.time", &cpu) == 1;
    int have_mem = virTypedParamsGetULLong(p, n, "balloon.current", &cur) == 1 &&
                   virTypedParamsGetULLong(p, n, "balloon.maximum", &max) == 1;
    int have_vcpus = virTypedParamsGetUInt(p, n, "vcpu.current", &vcpus) == 1;
    if (have_state)
        vm->state = hv_map_state(state);
    if (have_cpu)
        vm->cpu_time_ns = cpu;
    if (have_mem) {
        vm->memory_kib = cur;
        vm->max_memory_kib = max;
    }
    if (have_vcpus)
        vm->vcpus = vcpus;
    /* The guest's own view, when its balloon driver reports statistics. */
    unsigned long long avail, unused;
    if (virTypedParamsGetULLong(p, n, "balloon.available", &avail) == 1 &&
        virTypedParamsGetULLong(p, n, "balloon.unused", &unused) == 1 && avail >= unused)
        vm->guest_used_kib = avail - unused;
    vm->disk_read_bytes = sum_devices(p, n, "block", "rd.bytes");
    vm->disk_write_bytes = sum_devices(p, n, "block", "wr.bytes");
    vm->net_rx_bytes = sum_devices(p, n, "net", "rx.bytes");
    vm->net_tx_bytes = sum_devices(p, n, "net", "tx.bytes");
    return complete_from_info(rec->dom, vm, have_state, have_cpu, have_mem, have_vcpus);
}

/* Rate of a cumulative counter; a counter that went backwards (the domain
 * restarted, a device was unplugged) gives no rate rather than a huge one. */
static double rate(uint64_t now, uint64_t before, uint64_t d_ms) {
    return now >= before && d_ms ? (double)(now - before) * 1000.0 / (double)d_ms : 0;
}

/* CPU % of a domain over the interval: CPU time consumed divided by the
 * wall time its vCPUs had, as virt-top and oVirt compute it. */
static void derive_rates(const struct hv *hv, struct hv_vm *vm, uint64_t now_ms) {
    const struct hv_vm *old = find_prev(hv, vm->uuid);
    if (!old || !hv->prev.available || !hv_vm_active(vm->state))
        return;
    uint64_t d_ms = now_ms - hv->prev.taken_at_ms;
    if (d_ms && vm->vcpus && vm->cpu_time_ns >= old->cpu_time_ns) {
        double pct = 100.0 * (double)(vm->cpu_time_ns - old->cpu_time_ns) /
                     ((double)d_ms * 1e6 * vm->vcpus);
        vm->cpu_percent = pct > 100 ? 100 : pct;
    }
    vm->disk_read_bps = rate(vm->disk_read_bytes, old->disk_read_bytes, d_ms);
    vm->disk_write_bps = rate(vm->disk_write_bytes, old->disk_write_bytes, d_ms);
    vm->net_rx_bps = rate(vm->net_rx_bytes, old->net_rx_bytes, d_ms);
    vm->net_tx_bps = rate(vm->net_tx_bytes, old->net_tx_bytes, d_ms);
}

int hv_sample_domains(struct hv *hv, uint64_t now_ms) {
    virDomainStatsRecordPtr *recs = NULL;
    unsigned int groups = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                          VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU |
                          VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
    /* NOWAIT: a domain busy in a job (a migration above all) answers with
     * what it has at once instead of blocking the agent's loop until the
     * job lets go; a blocked loop would miss gossip probes and get its host
     * suspected of being dead. */
    int n = virConnectGetAllDomainStats(hv->conn, groups, &recs,
                                        VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
    if (n < 0)
        return -1;
    struct hv_vm *vms = calloc(n ? (size_t)n : 1, sizeof *vms);
    if (!vms) {
        virDomainStatsRecordListFree(recs);
        return -1;
    }
    size_t kept = 0;
    for (int i = 0; i < n; i++) {
        /* A domain that vanished between the list and a query is skipped:
         * it is simply gone at the next sample. */
        if (read_record(recs[i], &vms[kept]) == 0) {
            derive_rates(hv, &vms[kept], now_ms);
            hv_sample_rules(recs[i]->dom, &vms[kept], find_prev(hv, vms[kept].uuid));
            hv_sample_autostart(recs[i]->dom, &vms[kept]);
            if (vms[kept].state != HV_VM_SHUTOFF)
                hv_arrival_read(recs[i]->dom, vms[kept].arrival);
            kept++;
        } else {
            memset(&vms[kept], 0, sizeof vms[kept]);
        }
    }
    virDomainStatsRecordListFree(recs);
    free(hv->cur.vms);
    hv->cur.vms = vms;
    hv->cur.n_vms = kept;
    return 0;
}
