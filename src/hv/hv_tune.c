/* Per-domain CPU weight and balloon, for local rebalancing. KVM (QEMU)
 * domains have a cgroup "cpu_shares" (default 1024); Xen's credit scheduler,
 * and libvirt's test driver, have a "weight" (Xen's default is 256, a
 * quarter of the cgroup scale). Both are exposed here on the cgroup scale. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_internal.h"

/* Scale from the cgroup's 1024 to Xen's 256. */
#define WEIGHT_PER_SHARE 4

/* Which weight the domain's scheduler has: "cpu_shares", "weight" or NULL. */
static const char *weight_param(virDomainPtr dom, unsigned long long *value) {
    int n = 0;
    char *sched = virDomainGetSchedulerType(dom, &n);
    if (!sched)
        return NULL;
    free(sched);
    if (n <= 0)
        return NULL;
    virTypedParameter params[16];
    if (n > 16)
        n = 16;
    if (virDomainGetSchedulerParameters(dom, params, &n) != 0)
        return NULL;
    const char *which = NULL;
    for (int i = 0; i < n && !which; i++) {
        if (strcmp(params[i].field, VIR_DOMAIN_SCHEDULER_CPU_SHARES) == 0) {
            which = VIR_DOMAIN_SCHEDULER_CPU_SHARES;
            *value = params[i].value.ul;
        } else if (strcmp(params[i].field, VIR_DOMAIN_SCHEDULER_WEIGHT) == 0) {
            which = VIR_DOMAIN_SCHEDULER_WEIGHT;
            *value = (unsigned long long)params[i].value.ui * WEIGHT_PER_SHARE;
        }
    }
    return which;
}

virDomainPtr hv_domain_lookup(struct hv *hv, const char *vm, char *err, size_t errlen) {
    virConnectPtr conn = hv_conn_ref(hv);
    if (!conn) {
        snprintf(err, errlen, "the hypervisor is unavailable");
        return NULL;
    }
    virDomainPtr dom = virDomainLookupByName(conn, vm);
    virConnectClose(conn);
    if (!dom)
        snprintf(err, errlen, "VM '%s' is not on this host", vm);
    return dom;
}

int hv_get_shares(struct hv *hv, const char *vm, uint32_t *shares, char *err, size_t errlen) {
    virDomainPtr dom = hv_domain_lookup(hv, vm, err, errlen);
    if (!dom)
        return -1;
    unsigned long long v = 0;
    const char *which = weight_param(dom, &v);
    virDomainFree(dom);
    if (!which) {
        snprintf(err, errlen, "VM '%s': no CPU weight: %s", vm, virGetLastErrorMessage());
        return -1;
    }
    *shares = (uint32_t)v;
    return 0;
}

int hv_tune(struct hv *hv, const char *vm, uint32_t shares, uint64_t memory_kib, char *err,
            size_t errlen) {
    virDomainPtr dom = hv_domain_lookup(hv, vm, err, errlen);
    if (!dom)
        return -1;
    int rc = 0;
    unsigned long long cur = 0;
    const char *which = shares ? weight_param(dom, &cur) : NULL;
    if (shares && !which) {
        snprintf(err, errlen, "VM '%s': no CPU weight to set: %s", vm, virGetLastErrorMessage());
        rc = -1;
    } else if (shares && cur != shares) {
        virTypedParameter p;
        memset(&p, 0, sizeof p);
        snprintf(p.field, sizeof p.field, "%s", which);
        if (strcmp(which, VIR_DOMAIN_SCHEDULER_CPU_SHARES) == 0) {
            p.type = VIR_TYPED_PARAM_ULLONG;
            p.value.ul = shares;
        } else {
            p.type = VIR_TYPED_PARAM_UINT;
            p.value.ui = shares / WEIGHT_PER_SHARE ? shares / WEIGHT_PER_SHARE : 1;
        }
        if (virDomainSetSchedulerParameters(dom, &p, 1) != 0) {
            snprintf(err, errlen, "VM '%s': setting %s: %s", vm, which, virGetLastErrorMessage());
            rc = -1;
        }
    }
    if (rc == 0 && memory_kib &&
        virDomainSetMemoryFlags(dom, memory_kib, VIR_DOMAIN_AFFECT_LIVE) != 0) {
        snprintf(err, errlen, "VM '%s': setting the balloon to %llu KiB: %s", vm,
                 (unsigned long long)memory_kib, virGetLastErrorMessage());
        rc = -1;
    }
    virDomainFree(dom);
    return rc;
}
