/* The host's record in wire form (proto/host.proto): what the agent sampled
 * from its hypervisor, plus who and where it is. */
#ifndef NODECTL_HOST_RECORD_H
#define NODECTL_HOST_RECORD_H

#include <uuid/uuid.h>

#include "common/config.h"
#include "host.pb-c.h"
#include "hv/hv.h"

/* What the hypervisor last said the host has. */
struct host_capacity {
    uint32_t cpus, cpu_mhz;
    uint64_t memory_kib;
};

/* A new heap-allocated record (free with protobuf_c_message_free_unpacked),
 * or NULL when out of memory. loadavg: the host's 1, 5 and 15 minute load.
 * While the hypervisor is unavailable the record keeps `last` (NULL or 0
 * CPUs: none known) as its capacity: a host that goes off in that state is
 * still planned with what it had (src/leader/leader_snapshot.c). */
Nodectl__HostRecord *host_record_build(const struct config *cfg, const uuid_t id,
                                       const char *uri, const struct hv_sample *s,
                                       const struct host_capacity *last,
                                       const double loadavg[3], uint64_t wall_ms);

/* A record's VM state as hv.h names it (HV_VM_UNKNOWN for any other). */
enum hv_vm_state host_record_vm_state(Nodectl__VmState s);

/* An action this host runs or ran, as its record reports it. */
struct host_record_action {
    const char *id, *vm, *destination;
    const char *state; /* report_state_name */
    const char *error;
    const char *kind; /* "" (a migration), "power-off", "wake"... */
    double progress;
    uint64_t started_ms, ended_ms; /* stamp clock (agent_stamp_ms) */
    uint64_t term;
};
/* rec->migrations from the n actions (none when n is 0); -1 when out of
 * memory, what was added then freed with rec. */
int host_record_actions(Nodectl__HostRecord *rec, const struct host_record_action *x, size_t n);

#endif
