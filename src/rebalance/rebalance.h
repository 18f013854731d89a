/* Local rebalancing on one host (optional, off by default): from
 * the demand each VM shows, the host's CPU is shared in proportion to it
 * (libvirt's cpu_shares, the cgroup weight) and each VM's balloon follows
 * what its guest uses, within configured bounds. This is the "dynamic
 * resource allocation" of the Xen/KVM cluster managers nodectl grew from,
 * done per host, below the leader's migrations.
 *
 * Hysteresis: a reallocation is applied only when the time since the last
 * one exceeds its measured cost (how long applying it took) plus a
 * configured margin, and only when a VM's allocation would change by more
 * than a threshold, so the controller never thrashes. Pure: no I/O. */
#ifndef NODECTL_REBALANCE_H
#define NODECTL_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rebalance_config {
    uint32_t shares_min, shares_max; /* cpu_shares bounds; 1024 is the cgroup default */
    double memory_min_fraction;      /* never balloon below this share of the maximum */
    double memory_headroom;          /* target = guest use * (1 + headroom) */
    double shares_threshold;         /* relative change that is worth applying */
    double memory_threshold;
    uint32_t margin_ms;              /* added to the measured cost */
};

void rebalance_config_defaults(struct rebalance_config *c);

struct rebalance_vm {
    /* In. */
    uint32_t vcpus;
    double cpu_percent;       /* of its vCPUs */
    uint64_t memory_kib;      /* current balloon */
    uint64_t max_memory_kib;
    uint64_t guest_used_kib;  /* 0: the guest does not report it */
    uint32_t shares;          /* current cpu_shares; 0: unknown */
    /* Out: what to set; equal to the current value when unchanged. */
    uint32_t new_shares;
    uint64_t new_memory_kib;
};

struct rebalance_state {
    int64_t last_apply_ms; /* 0: never */
    uint32_t last_cost_ms;
};

/* Decides. Returns true when the new allocation should be applied now; the
 * caller applies it, measures how long that took and calls
 * rebalance_applied. */
bool rebalance_plan(const struct rebalance_config *c, const struct rebalance_state *st,
                    int64_t now_ms, struct rebalance_vm *vms, size_t n);
void rebalance_applied(struct rebalance_state *st, int64_t now_ms, uint32_t cost_ms);

#endif
