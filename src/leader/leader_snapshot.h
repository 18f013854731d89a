/* The leader's view of the cluster for the planner: the gossiped host
 * records turned into a placement_snapshot. Pure: no I/O; the executor
 * passes in the decoded members (leader_view.h). */
#ifndef NODECTL_LEADER_SNAPSHOT_H
#define NODECTL_LEADER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.pb-c.h"
#include "leader/leader_view.h"
#include "placement/placement.h"

struct leader_snapshot {
    struct placement_snapshot snap;
    struct placement_host *hosts;
    struct placement_vm *vms;
    double *history;                      /* one sample per VM */
    const Nodectl__HostRecord **host_rec; /* per host */
    const Nodectl__Vm **vm_rec;           /* per VM */
    struct placement_power_model power;   /* every host's, for now */
    /* The VMs that run on more than one host (every copy, grouped by
     * name): pinned in the snapshot, so that no plan moves one copy and
     * leaves the other. */
    uint32_t *twice;
    size_t n_twice;
};

/* Why the planner cannot use a member, or NULL when it can (then `why` is
 * ""): it is down; it is up but its hypervisor is unavailable; it is off
 * and cannot be woken (no wake MAC nor BMC), or did not come back when
 * woken (`failed`), or no capacity of it is known (its last record had
 * none). An off host is planned with the capacity its last record gave,
 * even one whose hypervisor was unavailable just before it went off. */
#define LEADER_UNUSABLE_MAX 320 /* room for a hypervisor's reason and the words around it */
const char *leader_host_unusable(const Nodectl__HostRecord *r, enum leader_liveness l,
                                 bool failed, char *why, size_t len);

/* Builds the snapshot. Every member is a host; one the planner cannot use
 * (leader_host_unusable) is FAILED; one with no migration_uri is
 * NO_INBOUND; one with no off command (power.can_power_off false) or
 * keep_on is KEEP_ON. A host woken by the leader counts as powered on at
 * woken_at_ms (the planner's wake cool-down); others as long ago. VMs are
 * the running ones of the hosts that are up; a VM whose migration runs in
 * any record is in_migration, and one whose migration ended (in any way)
 * carries that time as last_migrated_at (stamp ms; the planner's clock is in
 * seconds). A VM's pinned flag and anti-affinity group are its record's
 * (the domain's metadata, hv_rules_parse); groups are numbered from 1 in
 * the order they appear. A VM that two hosts' records show running is
 * pinned, every copy, and listed in `twice`. Returns 0, or -1 when out of memory (the snapshot is then empty
 * and may be freed). */
int leader_snapshot_build(struct leader_snapshot *s, const struct leader_member *members,
                          size_t n, double idle_watts, double max_watts);
void leader_snapshot_free(struct leader_snapshot *s);

/* The planner names hosts and VMs by id ("host 3", "VM 12"); this writes
 * text with the names an operator knows ("host n2", "VM web-1"). */
void leader_snapshot_explain(const struct leader_snapshot *s, const char *reason, char *out,
                             size_t len);

#endif
