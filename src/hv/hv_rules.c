/* Placement rules in the domain's <metadata>, where libvirt keeps what
 * applications attach to a domain: they travel with the definition (a
 * redefinition from `virsh dumpxml`, a migration, a backup of the XML) and
 * every libvirt tool shows them. The element is read with libxml2, which
 * libvirt itself uses, rather than by hand. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "hv_internal.h"

int hv_rules_parse(const char *xml, struct hv_rules *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    size_t len = strlen(xml);
    if (len > 4096) {
        snprintf(err, errlen, "the placement element is longer than 4096 bytes");
        return -1;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "placement.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    int rc = -1;
    if (!root || strcmp((const char *)root->name, "placement") != 0) {
        snprintf(err, errlen, "not a <placement> element");
        goto out;
    }
    xmlChar *pinned = xmlGetProp(root, (const xmlChar *)"pinned");
    xmlChar *group = xmlGetProp(root, (const xmlChar *)"group");
    if (pinned && strcmp((const char *)pinned, "yes") != 0 &&
        strcmp((const char *)pinned, "no") != 0)
        snprintf(err, errlen, "pinned='%.32s': expected yes or no", (const char *)pinned);
    else if (group && group[0] && !hv_group_valid((const char *)group))
        snprintf(err, errlen,
                 "group='%.80s': expected at most %d letters, digits, '.', '_' or '-'",
                 (const char *)group, HV_GROUP_MAX - 1);
    else {
        out->pinned = pinned && strcmp((const char *)pinned, "yes") == 0;
        if (group)
            snprintf(out->group, sizeof out->group, "%s", (const char *)group);
        rc = 0;
    }
    xmlFree(pinned);
    xmlFree(group);
out:
    xmlFreeDoc(doc);
    return rc;
}

const char *hv_rules_xml(const struct hv_rules *r, char *out, size_t len) {
    if (!r->pinned && !r->group[0])
        return NULL;
    /* A group name has no character XML would need escaped (hv_group_valid). */
    int n = r->group[0] ? snprintf(out, len, "<placement pinned='%s' group='%s'/>",
                                   r->pinned ? "yes" : "no", r->group)
                        : snprintf(out, len, "<placement pinned='%s'/>", r->pinned ? "yes" : "no");
    return n > 0 && (size_t)n < len ? out : NULL;
}

/* The rules of dom, as libvirt holds them for its current state (live when
 * it runs). A domain without the element has none. */
static int rules_of(virDomainPtr dom, struct hv_rules *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, HV_RULES_NS,
                                     VIR_DOMAIN_AFFECT_CURRENT);
    if (!xml) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA)
            return 0;
        snprintf(err, errlen, "cannot read its metadata: %s", virGetLastErrorMessage());
        return -1;
    }
    int rc = hv_rules_parse(xml, out, err, errlen);
    free(xml);
    return rc;
}

int hv_sample_rules(virDomainPtr dom, struct hv_vm *vm, const struct hv_vm *prev) {
    char err[HV_REASON_MAX];
    if (rules_of(dom, &vm->rules, err, sizeof err) == 0)
        return 0;
    /* Logged when it turns bad, not at every sample. */
    vm->rules_bad = true;
    if (!prev || !prev->rules_bad)
        log_warn("VM %s: placement rules in its metadata (%s) ignored: %s", vm->name,
                 HV_RULES_NS, err);
    return -1;
}

int hv_get_rules(struct hv *hv, const char *vm, struct hv_rules *out, char *err, size_t errlen) {
    virDomainPtr dom = hv_domain_lookup(hv, vm, err, errlen);
    if (!dom)
        return -1;
    int rc = rules_of(dom, out, err, errlen);
    virDomainFree(dom);
    return rc;
}

int hv_set_rules(struct hv *hv, const char *vm, bool set_pinned, bool pinned, const char *group,
                 char *err, size_t errlen) {
    if (group && group[0] && !hv_group_valid(group)) {
        snprintf(err, errlen, "group '%.80s' is not a group name", group);
        return -1;
    }
    virDomainPtr dom = hv_domain_lookup(hv, vm, err, errlen);
    if (!dom)
        return -1;
    struct hv_rules r;
    char why[HV_REASON_MAX];
    /* A rules element that does not parse is replaced, not kept. */
    if (rules_of(dom, &r, why, sizeof why) != 0)
        memset(&r, 0, sizeof r);
    if (set_pinned)
        r.pinned = pinned;
    if (group)
        snprintf(r.group, sizeof r.group, "%s", group);
    /* Live for a running domain, and in the definition a restart or a
     * redefinition starts from, when it has one. */
    int active = virDomainIsActive(dom), persistent = virDomainIsPersistent(dom);
    unsigned flags = (active == 1 ? VIR_DOMAIN_AFFECT_LIVE : 0u) |
                     (persistent == 1 ? VIR_DOMAIN_AFFECT_CONFIG : 0u);
    char xml[256];
    int rc = -1;
    if (active < 0 || persistent < 0 || !flags)
        snprintf(err, errlen, "VM '%s': %s", vm,
                 active < 0 || persistent < 0 ? virGetLastErrorMessage()
                                              : "neither running nor defined");
    else if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                  hv_rules_xml(&r, xml, sizeof xml), HV_RULES_PREFIX, HV_RULES_NS,
                                  flags) != 0)
        snprintf(err, errlen, "VM '%s': cannot write its metadata: %s", vm,
                 virGetLastErrorMessage());
    else
        rc = 0;
    virDomainFree(dom);
    return rc;
}
