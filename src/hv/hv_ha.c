/* What a host does to its protected domains (docs/safety.md, "The
 * protected gate"): stop them all when its run lease lapses, stop or
 * undefine a stale copy when it reconciles, and keep libvirt's autostart
 * off on them so that its daemon never starts one before the agent has
 * reconciled.
 * Each acts on the domain found by UUID, so a domain of the same name
 * defined since the caller looked is never touched. No call here removes
 * storage: a protected guest's disks are on shared storage, where the copy
 * that runs elsewhere uses them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv_internal.h"

static virDomainPtr by_uuid(struct hv *hv, const unsigned char uuid[16], const char *name,
                            char *err, size_t errlen) {
    virConnectPtr conn = hv_conn_ref(hv);
    if (!conn) {
        snprintf(err, errlen, "the hypervisor is unavailable");
        return NULL;
    }
    virDomainPtr dom = virDomainLookupByUUID(conn, uuid);
    virConnectClose(conn);
    if (!dom)
        snprintf(err, errlen, "VM '%s' is no longer on this host", name);
    return dom;
}

int hv_undefine_stale(struct hv *hv, const char *name, const unsigned char uuid[16], char *err,
                      size_t errlen) {
    virDomainPtr dom = by_uuid(hv, uuid, name, err, errlen);
    if (!dom)
        return -1;
    int rc = -1, active = virDomainIsActive(dom);
    if (active != 0) {
        snprintf(err, errlen, "VM '%s' %s", name,
                 active > 0 ? "runs: not undefined" : virGetLastErrorMessage());
    } else if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_KEEP_NVRAM) != 0 &&
               virDomainUndefine(dom) != 0) {
        /* A driver without the flag (the test driver) takes the plain call;
         * neither removes storage. */
        snprintf(err, errlen, "VM '%s': libvirt did not undefine it: %s", name,
                 virGetLastErrorMessage());
    } else {
        rc = 0;
    }
    virDomainFree(dom);
    return rc;
}

int hv_destroy_stale(struct hv *hv, const char *name, const unsigned char uuid[16], char *err,
                     size_t errlen) {
    virDomainPtr dom = by_uuid(hv, uuid, name, err, errlen);
    if (!dom)
        return -1;
    int rc = virDomainDestroy(dom);
    if (rc != 0)
        snprintf(err, errlen, "VM '%s': libvirt did not destroy it: %s", name,
                 virGetLastErrorMessage());
    virDomainFree(dom);
    return rc;
}

int hv_destroy_protected(struct hv *hv, const char *reason, struct hv_stopped *out, char *err,
                         size_t errlen) {
    memset(out, 0, sizeof *out);
    virConnectPtr conn = hv_conn_ref(hv);
    if (!conn) {
        snprintf(err, errlen, "the hypervisor is unavailable");
        return -1;
    }
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    virConnectClose(conn);
    if (n < 0) {
        snprintf(err, errlen, "listing the running domains: %s", virGetLastErrorMessage());
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);
        struct hv_rules r;
        char why[HV_REASON_MAX];
        /* Rules that do not parse protect nothing, here as for the leader,
         * which restarts only what a record shows protected. */
        if (hv_rules_of(doms[i], &r, why, sizeof why) == 0 && r.ha) {
            if (virDomainDestroy(doms[i]) == 0) {
                log_warn("VM %s destroyed: %s", name ? name : "?", reason);
                if (out->n < HV_STOPPED_MAX)
                    snprintf(out->names[out->n], sizeof out->names[0], "%s", name ? name : "?");
                out->n++;
            } else {
                /* A domain that ended on its own since the list is not an
                 * error: what matters is that it does not run. */
                int active = virDomainIsActive(doms[i]);
                if (active != 0) {
                    out->failed++;
                    snprintf(err, errlen, "VM '%s': libvirt did not destroy it: %s",
                             name ? name : "?", virGetLastErrorMessage());
                    rc = -1;
                }
            }
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return rc;
}

void hv_sample_autostart(virDomainPtr dom, const struct hv_vm *vm) {
    int on = 0;
    if (!vm->rules.ha || virDomainGetAutostart(dom, &on) != 0 || !on)
        return;
    if (virDomainSetAutostart(dom, 0) == 0)
        log_warn("VM %s: libvirt's autostart turned off: a protected VM starts when its "
                 "host's agent has reconciled with the cluster, never by itself at boot",
                 vm->name);
    else
        log_err("VM %s: protected, but its autostart could not be turned off: %s", vm->name,
                virGetLastErrorMessage());
}
