/* Local rebalancing, when [hypervisor] local_rebalance is on: after each
 * sample, the policy in src/rebalance/ decides new CPU weights and balloons
 * for the running VMs, and the agent applies them, timing how long that
 * takes: the cost the policy's hysteresis waits out. */
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"

void agent_rebalance(struct agent *a, uint64_t now) {
    const struct hv_sample *s = a->sample;
    if (!a->cfg.local_rebalance || !s || !s->available || !s->n_vms)
        return;
    struct rebalance_config rc;
    rebalance_config_defaults(&rc);
    const struct config *c = &a->cfg;
    if (c->rebalance_shares_min)
        rc.shares_min = c->rebalance_shares_min;
    if (c->rebalance_shares_max)
        rc.shares_max = c->rebalance_shares_max;
    if (c->rebalance_memory_floor_pct)
        rc.memory_min_fraction = c->rebalance_memory_floor_pct / 100.0;
    if (c->rebalance_memory_headroom_pct)
        rc.memory_headroom = c->rebalance_memory_headroom_pct / 100.0;
    if (c->rebalance_margin_ms)
        rc.margin_ms = c->rebalance_margin_ms;
    struct rebalance_vm *vms = calloc(s->n_vms, sizeof *vms);
    const char **names = calloc(s->n_vms, sizeof *names);
    if (!vms || !names) {
        log_err("local rebalancing: out of memory");
        free(vms);
        free(names);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct hv_vm *v = &s->vms[i];
        char err[256];
        if (v->state != HV_VM_RUNNING ||
            hv_get_shares(a->hv, v->name, &vms[n].shares, err, sizeof err) != 0)
            continue;
        vms[n] = (struct rebalance_vm){.vcpus = v->vcpus, .cpu_percent = v->cpu_percent,
                                       .memory_kib = v->memory_kib,
                                       .max_memory_kib = v->max_memory_kib,
                                       .guest_used_kib = v->guest_used_kib,
                                       .shares = vms[n].shares};
        names[n++] = v->name;
    }
    if (rebalance_plan(&rc, &a->rebalance, (int64_t)now, vms, n)) {
        uint64_t start = agent_clock_ms();
        size_t changed = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t shares = vms[i].new_shares != vms[i].shares ? vms[i].new_shares : 0;
            uint64_t mem = vms[i].new_memory_kib != vms[i].memory_kib ? vms[i].new_memory_kib : 0;
            char err[256];
            if (!shares && !mem)
                continue;
            if (hv_tune(a->hv, names[i], shares, mem, err, sizeof err) != 0)
                log_warn("local rebalancing: %s", err);
            else
                changed++;
        }
        uint64_t end = agent_clock_ms();
        rebalance_applied(&a->rebalance, (int64_t)end, (uint32_t)(end - start));
        log_info("local rebalancing: %zu of %zu VMs re-weighted or re-ballooned in %llu ms", changed,
                 n, (unsigned long long)(end - start));
    }
    free(vms);
    free(names);
}
