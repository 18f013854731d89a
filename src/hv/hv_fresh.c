/* A fresh view of the hypervisor: what libvirt has at the moment it is
 * asked, not what the last sample said. The guards that decide whether a
 * host may power off, or a domain may leave, read it (docs/safety.md,
 * "Guards at the resource").
 *
 * Every domain is listed (virConnectListAllDomains without filter: active
 * and inactive, persistent and transient), with its state and whether it
 * has a running process (virDomainIsActive: a domain being started or
 * arriving by migration is active before it is "running"). Its job comes
 * from virDomainGetJobStats's "operation" field (VIR_DOMAIN_JOB_OPERATION,
 * libvirt >= 3.3). On the destination of a migration the QEMU driver
 * refuses job statistics with VIR_ERR_OPERATION_UNSUPPORTED ("migration
 * statistics are available only on the source host", qemu_driver.c,
 * qemuDomainGetJobStatsInternal): that refusal, for an active domain paused
 * for migration, is the incoming migration. Drivers without job statistics
 * (VIR_ERR_NO_SUPPORT: the test driver) run no jobs that matter here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_internal.h"

static enum hv_job job_of(virDomainPtr dom, int state, int reason) {
    int type = VIR_DOMAIN_JOB_NONE, nparams = 0;
    virTypedParameterPtr params = NULL;
    if (virDomainGetJobStats(dom, &type, &params, &nparams, 0) != 0) {
        int code = virGetLastErrorCode();
        if (code == VIR_ERR_NO_SUPPORT)
            return HV_JOB_NONE;
        if (code == VIR_ERR_OPERATION_UNSUPPORTED && state == VIR_DOMAIN_PAUSED &&
            reason == VIR_DOMAIN_PAUSED_MIGRATION)
            return HV_JOB_MIGRATION_IN;
        return HV_JOB_UNKNOWN;
    }
    int op = VIR_DOMAIN_JOB_OPERATION_UNKNOWN;
    bool have_op = virTypedParamsGetInt(params, nparams, VIR_DOMAIN_JOB_OPERATION, &op) == 1;
    virTypedParamsFree(params, nparams);
    if (type == VIR_DOMAIN_JOB_NONE || type == VIR_DOMAIN_JOB_COMPLETED ||
        type == VIR_DOMAIN_JOB_FAILED || type == VIR_DOMAIN_JOB_CANCELLED)
        return HV_JOB_NONE;
    if (!have_op)
        return HV_JOB_UNKNOWN;
    return op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT  ? HV_JOB_MIGRATION_OUT
           : op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN ? HV_JOB_MIGRATION_IN
                                                         : HV_JOB_OTHER;
}

int hv_domain_now_read(virDomainPtr dom, struct hv_domain_now *out) {
    memset(out, 0, sizeof *out);
    const char *name = virDomainGetName(dom);
    int state, reason;
    if (!name || virDomainGetUUID(dom, out->uuid) != 0 ||
        virDomainGetState(dom, &state, &reason, 0) != 0)
        return -1;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->state = hv_map_state(state);
    int active = virDomainIsActive(dom);
    if (active < 0)
        return -1;
    out->active = active == 1;
    out->persistent = virDomainIsPersistent(dom) == 1;
    out->job = out->active ? job_of(dom, state, reason) : HV_JOB_NONE;
    if (out->active)
        hv_arrival_read(dom, out->arrival);
    return 0;
}

/* In the sampling thread, which owns the connection. */
void hv_fresh_query(struct hv *hv, struct hv_fresh *out) {
    memset(out, 0, sizeof *out);
    uint64_t now = hv_clock_ms();
    if (hv_connect(hv, now) != 0) {
        snprintf(out->reason, sizeof out->reason, "%s", hv->cur.reason);
        out->answered_ms = hv_clock_ms();
        return;
    }
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(hv->conn, &doms, 0);
    if (n < 0) {
        const char *why = virGetLastErrorMessage();
        snprintf(out->reason, sizeof out->reason, "listing domains: %s",
                 why ? why : "unknown error");
        out->answered_ms = hv_clock_ms();
        return;
    }
    out->doms = calloc(n ? (size_t)n : 1, sizeof *out->doms);
    for (int i = 0; i < n; i++) {
        /* A domain that vanished between the list and its query is gone. */
        if (out->doms && hv_domain_now_read(doms[i], &out->doms[out->n]) == 0)
            out->n++;
        virDomainFree(doms[i]);
    }
    free(doms);
    if (!out->doms) {
        snprintf(out->reason, sizeof out->reason, "out of memory");
        out->n = 0;
    } else {
        out->available = true;
    }
    out->answered_ms = hv_clock_ms();
}
