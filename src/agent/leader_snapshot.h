/* The leader's view of the cluster for the planner: the gossiped host
 * records turned into a placement_snapshot (issue [6]). Pure: no I/O; the
 * agent passes in the records, each member's liveness and the time. */
#ifndef NODECTL_LEADER_SNAPSHOT_H
#define NODECTL_LEADER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.pb-c.h"
#include "placement/placement.h"

/* How gossip sees a member. */
enum leader_liveness { LEADER_HOST_UP, LEADER_HOST_OFF, LEADER_HOST_DOWN };

struct leader_member {
    const Nodectl__HostRecord *rec; /* borrowed; must outlive the snapshot */
    enum leader_liveness liveness;
    bool failed;         /* the leader woke it and it did not come back */
    bool keep_on;        /* its last power-off failed lately: not again soon */
    uint64_t woken_at_ms; /* wall clock when the leader woke it; 0: never */
};

struct leader_snapshot {
    struct placement_snapshot snap;
    struct placement_host *hosts;
    struct placement_vm *vms;
    double *history;                      /* one sample per VM */
    const Nodectl__HostRecord **host_rec; /* per host */
    const Nodectl__Vm **vm_rec;           /* per VM */
    struct placement_power_model power;   /* every host's, for now */
};

/* Builds the snapshot. Hosts are the members with a record and an available
 * hypervisor; a member that is down or whose hypervisor is unavailable is
 * FAILED, and so is one that is off and cannot be woken (no wake MAC nor BMC) or did
 * not come back when woken; one with no migration_uri is NO_INBOUND; one
 * with no off command (power.can_power_off false) or keep_on is KEEP_ON. A host woken
 * by the leader counts as powered on at woken_at_ms (the planner's wake
 * cool-down); others as long ago. VMs are the running ones
 * of the hosts that are up; a VM whose migration runs in any record is
 * in_migration, and one whose migration ended (in any way) carries that
 * time as last_migrated_at. now_ms is the wall clock
 * (the planner's clock is now_ms / 1000). Returns 0, or -1 when out of
 * memory (the snapshot is then empty and may be freed). */
int leader_snapshot_build(struct leader_snapshot *s, const struct leader_member *members,
                          size_t n, double idle_watts, double max_watts);
void leader_snapshot_free(struct leader_snapshot *s);

/* Takeover (agent_leader.c): the first migration still running in a live
 * record whose command id is none of `own` (the n_own ids this leader
 * sent), and in *count how many there are; NULL if none. */
const Nodectl__Migration *leader_foreign_migration(const struct leader_member *members, size_t n,
                                                   const char *const *own, size_t n_own,
                                                   size_t *count);

/* The planner names hosts and VMs by id ("host 3", "VM 12"); this writes
 * text with the names an operator knows ("host n2", "VM web-1"). */
void leader_snapshot_explain(const struct leader_snapshot *s, const char *reason, char *out,
                             size_t len);

#endif
