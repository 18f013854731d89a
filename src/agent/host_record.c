#include "host_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Nodectl__VmState vm_state(enum hv_vm_state s) {
    switch (s) {
    case HV_VM_RUNNING: return NODECTL__VM_STATE__VM_STATE_RUNNING;
    case HV_VM_BLOCKED: return NODECTL__VM_STATE__VM_STATE_BLOCKED;
    case HV_VM_PAUSED: return NODECTL__VM_STATE__VM_STATE_PAUSED;
    case HV_VM_SHUTDOWN: return NODECTL__VM_STATE__VM_STATE_SHUTDOWN;
    case HV_VM_SHUTOFF: return NODECTL__VM_STATE__VM_STATE_SHUTOFF;
    case HV_VM_CRASHED: return NODECTL__VM_STATE__VM_STATE_CRASHED;
    case HV_VM_SUSPENDED: return NODECTL__VM_STATE__VM_STATE_SUSPENDED;
    case HV_VM_UNKNOWN: break;
    }
    return NODECTL__VM_STATE__VM_STATE_UNKNOWN;
}

static int set_bytes(ProtobufCBinaryData *b, const void *data, size_t len) {
    b->data = malloc(len);
    if (!b->data)
        return -1;
    memcpy(b->data, data, len);
    b->len = len;
    return 0;
}

static int set_string(char **field, const char *value) {
    char *copy = strdup(value);
    if (!copy)
        return -1;
    *field = copy;
    return 0;
}

static int add_vms(Nodectl__HostRecord *rec, const struct hv_sample *s) {
    if (!s->n_vms)
        return 0;
    rec->vms = calloc(s->n_vms, sizeof *rec->vms);
    if (!rec->vms)
        return -1;
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct hv_vm *v = &s->vms[i];
        Nodectl__Vm *vm = malloc(sizeof *vm);
        if (!vm)
            return -1;
        nodectl__vm__init(vm);
        rec->vms[rec->n_vms++] = vm;
        if (set_string(&vm->name, v->name) != 0 || set_bytes(&vm->uuid, v->uuid, 16) != 0)
            return -1;
        vm->state = vm_state(v->state);
        vm->vcpus = v->vcpus;
        vm->memory_kib = v->memory_kib;
        vm->cpu_percent = v->cpu_percent;
        vm->max_memory_kib = v->max_memory_kib;
        vm->disk_read_bps = v->disk_read_bps;
        vm->disk_write_bps = v->disk_write_bps;
        vm->net_rx_bps = v->net_rx_bps;
        vm->net_tx_bps = v->net_tx_bps;
        vm->pinned = v->rules.pinned;
        vm->ha = v->rules.ha;
        vm->ha_priority = v->rules.ha_priority;
        if (v->rules.group[0] && set_string(&vm->group, v->rules.group) != 0)
            return -1;
        rec->usage->disk_read_bps += v->disk_read_bps;
        rec->usage->disk_write_bps += v->disk_write_bps;
        rec->usage->net_rx_bps += v->net_rx_bps;
        rec->usage->net_tx_bps += v->net_tx_bps;
    }
    return 0;
}

Nodectl__HostRecord *host_record_build(const struct config *cfg, const uuid_t id,
                                       const char *uri, const struct hv_sample *s,
                                       const struct host_capacity *last,
                                       const double loadavg[3], uint64_t wall_ms) {
    Nodectl__HostRecord *rec = malloc(sizeof *rec);
    if (!rec)
        return NULL;
    nodectl__host_record__init(rec);
    char address[CONFIG_ADDR_MAX + 8];
    snprintf(address, sizeof address, "%s:%u", cfg->bind_address, cfg->port);
    rec->candidate = cfg->candidate;
    rec->sampled_at_ms = wall_ms;
    int failed = set_string(&rec->name, cfg->node_name) || set_bytes(&rec->node_id, id, 16) ||
                 set_string(&rec->address, address);
    /* Each sub-message is initialised as soon as it exists, so that a
     * partly built record can always be freed as a whole. */
    if (!failed && (rec->hypervisor = malloc(sizeof *rec->hypervisor)))
        nodectl__hypervisor__init(rec->hypervisor);
    if (!failed && (rec->capacity = malloc(sizeof *rec->capacity)))
        nodectl__capacity__init(rec->capacity);
    if (!failed && (rec->usage = malloc(sizeof *rec->usage)))
        nodectl__usage__init(rec->usage);
    failed = failed || !rec->hypervisor || !rec->capacity || !rec->usage;
    if (!failed) {
        rec->hypervisor->available = s->available;
        failed = set_string(&rec->hypervisor->uri, uri) ||
                 set_string(&rec->hypervisor->reason, s->reason);
    }
    if (!failed && s->available) {
        rec->capacity->cpus = s->cpus;
        rec->capacity->cpu_mhz = s->cpu_mhz;
        rec->capacity->memory_kib = s->memory_kib;
        rec->usage->cpu_percent = s->cpu_percent;
        rec->usage->memory_used_kib = s->memory_used_kib;
        rec->usage->load1 = loadavg[0];
        rec->usage->load5 = loadavg[1];
        rec->usage->load15 = loadavg[2];
        failed = add_vms(rec, s);
    } else if (!failed && last && last->cpus) {
        rec->capacity->cpus = last->cpus;
        rec->capacity->cpu_mhz = last->cpu_mhz;
        rec->capacity->memory_kib = last->memory_kib;
    }
    if (failed) {
        protobuf_c_message_free_unpacked(&rec->base, NULL);
        return NULL;
    }
    return rec;
}

int host_record_actions(Nodectl__HostRecord *rec, const struct host_record_action *x, size_t n) {
    if (!n)
        return 0;
    rec->migrations = calloc(n, sizeof *rec->migrations);
    if (!rec->migrations)
        return -1;
    for (size_t k = 0; k < n; k++) {
        Nodectl__Migration *m = malloc(sizeof *m);
        if (!m)
            return -1;
        nodectl__migration__init(m);
        rec->migrations[rec->n_migrations++] = m;
        if (set_string(&m->id, x[k].id) != 0 || set_string(&m->vm, x[k].vm) != 0 ||
            set_string(&m->destination, x[k].destination) != 0 ||
            set_string(&m->state, x[k].state) != 0 || set_string(&m->error, x[k].error) != 0 ||
            set_string(&m->kind, x[k].kind) != 0)
            return -1;
        m->progress = x[k].progress;
        m->started_at_ms = x[k].started_ms;
        m->ended_at_ms = x[k].ended_ms;
        m->term = x[k].term;
    }
    return 0;
}
