/* The migration that brought a domain here (hv.h, HV_ARRIVAL_NS), and the
 * removal of a copy that a failed migration left running at its
 * destination. libvirt's peer-to-peer migration (protocol v3: Begin,
 * Prepare, Perform, Finish, Confirm) resumes the destination's copy in
 * Finish and the source's in Confirm when Finish did not answer; a Finish
 * that ran but whose answer was lost (the destination's libvirtd stopped
 * meanwhile) leaves both running. libvirt leaves that case to a lock
 * manager ("ddomain could in fact be running on the dest", qemu_migration.c,
 * qemuMigrationSrcPerformPeer2Peer3); the id lets the destination tell its
 * leftover copy from one a later migration brought. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hv_internal.h"

int hv_arrival_mark(virDomainPtr dom, const char *id) {
    char xml[128 + HV_ARRIVAL_MAX];
    if (!hv_arrival_id_valid(id))
        return -1;
    snprintf(xml, sizeof xml, "<arrival id='%s'/>", id);
    return virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, HV_ARRIVAL_PREFIX,
                                HV_ARRIVAL_NS, VIR_DOMAIN_AFFECT_LIVE);
}

int hv_arrival_restore(virDomainPtr dom, const char *id) {
    if (id[0])
        return hv_arrival_mark(dom, id);
    return virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, NULL, NULL, HV_ARRIVAL_NS,
                                VIR_DOMAIN_AFFECT_LIVE);
}

int hv_arrival_parse(const char *xml, char out[HV_ARRIVAL_MAX]) {
    out[0] = '\0';
    size_t len = strlen(xml);
    if (len > 1024)
        return -1;
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "arrival.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    int rc = -1;
    if (root && strcmp((const char *)root->name, "arrival") == 0) {
        xmlChar *id = xmlGetProp(root, (const xmlChar *)"id");
        if (id && hv_arrival_id_valid((const char *)id)) {
            snprintf(out, HV_ARRIVAL_MAX, "%s", (const char *)id);
            rc = 0;
        }
        xmlFree(id);
    }
    xmlFreeDoc(doc);
    return rc;
}

void hv_arrival_read(virDomainPtr dom, char out[HV_ARRIVAL_MAX]) {
    out[0] = '\0';
    char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, HV_ARRIVAL_NS,
                                     VIR_DOMAIN_AFFECT_LIVE);
    if (!xml)
        return; /* none (VIR_ERR_NO_DOMAIN_METADATA), or not running: none known */
    if (hv_arrival_parse(xml, out) != 0)
        out[0] = '\0';
    free(xml);
}

int hv_destroy_leftover(struct hv *hv, const char *vm, hv_migrate_check check, void *ctx,
                        char *err, size_t errlen) {
    virDomainPtr dom = hv_domain_lookup(hv, vm, err, errlen);
    if (!dom)
        return -1;
    struct hv_domain_now now;
    char why[HV_REASON_MAX] = "";
    int rc = -1;
    /* The last look: the domain as libvirt has it now, its job and the
     * migration it came by, judged by the caller's pure check. */
    if (hv_domain_now_read(dom, &now) != 0)
        snprintf(err, errlen, "VM '%s': %s", vm, virGetLastErrorMessage());
    else if (check(&now, vm, ctx, why, sizeof why) != 0)
        snprintf(err, errlen, "VM '%s' kept: %s", vm, why[0] ? why : "refused");
    else if (virDomainDestroy(dom) != 0)
        snprintf(err, errlen, "VM '%s': destroy failed: %s", vm, virGetLastErrorMessage());
    else
        rc = 0;
    /* The source keeps the definition; this host's would be a second one. */
    if (rc == 0 && now.persistent && virDomainUndefine(dom) != 0)
        log_warn("VM %s: destroyed, but its definition here stays: %s", vm,
                 virGetLastErrorMessage());
    virDomainFree(dom);
    return rc;
}
