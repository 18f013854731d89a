/* How many more VMs of one size the cluster can take (Ganeti's hspace):
 * on the hosts that run now, and with the hosts that are off woken too,
 * under the planner's hard constraints, and which resource runs out
 * first. Pure: no I/O. */
#ifndef NODECTL_PLACEMENT_CAPACITY_H
#define NODECTL_PLACEMENT_CAPACITY_H

#include <stddef.h>
#include <stdint.h>

#include "placement/placement.h"

/* What stops a host from taking one more VM of the size asked. */
enum placement_resource {
    PLACEMENT_RES_NONE,   /* nothing: no host was counted */
    PLACEMENT_RES_CPU,    /* its MIPS within the overcommit limit */
    PLACEMENT_RES_MEMORY,
    PLACEMENT_RES_GROUP,  /* the anti-affinity group already has a VM there */
    PLACEMENT_RES_HOST,   /* drained or failed: takes no VM at all */
    PLACEMENT_RESOURCES
};
const char *placement_resource_name(enum placement_resource r);

/* The VM size asked: vCPUs (each wants a whole core of the host it lands
 * on, as a new VM is placed at its full size) and memory; group 0 is
 * none, else VMs of that anti-affinity group never share a host. */
struct placement_capacity_ask {
    uint32_t vcpus;
    uint64_t mem_mb;
    uint32_t group;
};

struct placement_capacity_part {
    uint32_t vms;    /* more VMs of the size asked */
    uint32_t hosts;  /* hosts counted (spare hosts held back are not) */
    enum placement_resource tightest; /* what stops the most hosts of this part */
    uint32_t stopped[PLACEMENT_RESOURCES]; /* hosts stopped by each resource */
};

struct placement_capacity {
    struct placement_capacity_part on;  /* the hosts powered on now */
    struct placement_capacity_part off; /* the hosts that are off, if woken */
    uint32_t spare_held;                /* idle running hosts held back as spares */
};

/* Per host, the VMs of the size asked it can take one after another: its
 * CPU left within pol->cpu_overcommit (a VM asks vcpus x the host's core
 * MIPS; the VMs there count what they were granted, as the planner counts
 * them), its memory left, at most one VM of a group and none where the
 * group has one, none on a drained or failed host. The pol->spare_hosts
 * idle running hosts that could take the most are held back, as the
 * planner keeps that many idle hosts on for sudden load. Hosts taking no
 * migrations still count: a new VM is defined there, not migrated. 0, or
 * -1 when out of memory or when the ask is empty (no vCPU or no memory). */
int placement_capacity(const struct placement_snapshot *snap, const struct placement_policy *pol,
                       const struct placement_capacity_ask *ask, struct placement_capacity *out);

#endif
