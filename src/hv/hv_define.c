/* A new domain defined on this host (nodectl create), and started. Asked
 * of libvirt at the moment the command acts: a domain of that name already
 * here is never replaced (virDomainDefineXML would redefine it). */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_internal.h"

int hv_define(struct hv *hv, const char *name, const char *xml, bool start, char *err,
              size_t errlen) {
    virConnectPtr conn = hv_conn_ref(hv);
    if (!conn) {
        snprintf(err, errlen, "the hypervisor is unavailable");
        return -1;
    }
    int rc = -1;
    virDomainPtr dom = virDomainLookupByName(conn, name);
    if (dom) {
        snprintf(err, errlen, "a domain named '%s' is already on this host", name);
        virDomainFree(dom);
    } else if (!(dom = virDomainDefineXML(conn, xml))) {
        const char *msg = virGetLastErrorMessage();
        snprintf(err, errlen, "libvirt refused the definition: %s", msg ? msg : "no reason");
    } else if (strcmp(virDomainGetName(dom), name) != 0) {
        /* The XML was checked to name `name`: libvirt read another. */
        snprintf(err, errlen, "libvirt defined '%s', not '%s'; undefined again",
                 virDomainGetName(dom), name);
        virDomainUndefine(dom);
    } else if (start && virDomainCreate(dom) != 0) {
        const char *msg = virGetLastErrorMessage();
        snprintf(err, errlen, "defined, but libvirt did not start it: %s",
                 msg ? msg : "no reason");
    } else {
        rc = 0;
    }
    if (dom)
        virDomainFree(dom);
    virConnectClose(conn);
    return rc;
}

int hv_domain_xml(struct hv *hv, const char *name, char *out, size_t len, char *err,
                  size_t errlen) {
    virDomainPtr dom = hv_domain_lookup(hv, name, err, errlen);
    if (!dom)
        return -1;
    /* The persistent definition, the one a restart elsewhere starts from;
     * without secrets (no VIR_DOMAIN_XML_SECURE): it travels. */
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    int rc = -1;
    if (!xml)
        snprintf(err, errlen, "VM '%s': libvirt gives no definition: %s", name,
                 virGetLastErrorMessage());
    else if (strlen(xml) >= len)
        snprintf(err, errlen, "VM '%s': its definition (%zu bytes) is longer than %zu", name,
                 strlen(xml), len - 1);
    else {
        snprintf(out, len, "%s", xml);
        rc = 0;
    }
    free(xml);
    virDomainFree(dom);
    return rc;
}
