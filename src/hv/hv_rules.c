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

/* A yes/no attribute: 0 (absent is no), or -1 with err. */
static int yes_no(xmlNodePtr root, const char *name, bool *out, char *err, size_t errlen) {
    xmlChar *v = xmlGetProp(root, (const xmlChar *)name);
    int rc = 0;
    if (v && strcmp((const char *)v, "yes") != 0 && strcmp((const char *)v, "no") != 0) {
        snprintf(err, errlen, "%s='%.32s': expected yes or no", name, (const char *)v);
        rc = -1;
    }
    *out = v && strcmp((const char *)v, "yes") == 0;
    xmlFree(v);
    return rc;
}

/* ha_priority: decimal 0..HV_HA_PRIORITY_MAX (absent is 0). */
static int priority(xmlNodePtr root, uint32_t *out, char *err, size_t errlen) {
    xmlChar *v = xmlGetProp(root, (const xmlChar *)"ha_priority");
    *out = 0;
    if (!v)
        return 0;
    int rc = hv_ha_priority_parse((const char *)v, out);
    if (rc != 0)
        snprintf(err, errlen, "ha_priority='%.32s': expected 0 to %d", (const char *)v,
                 HV_HA_PRIORITY_MAX);
    xmlFree(v);
    return rc;
}

int hv_ha_priority_parse(const char *text, uint32_t *out) {
    uint32_t v = 0;
    if (!text[0] || strlen(text) > 4)
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint32_t)(*p - '0');
    }
    if (v > HV_HA_PRIORITY_MAX)
        return -1;
    *out = v;
    return 0;
}

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
    struct hv_rules r = {0};
    if (yes_no(root, "pinned", &r.pinned, err, errlen) != 0 ||
        yes_no(root, "ha", &r.ha, err, errlen) != 0 ||
        priority(root, &r.ha_priority, err, errlen) != 0)
        goto out;
    xmlChar *group = xmlGetProp(root, (const xmlChar *)"group");
    if (group && group[0] && !hv_group_valid((const char *)group)) {
        snprintf(err, errlen,
                 "group='%.80s': expected at most %d letters, digits, '.', '_' or '-'",
                 (const char *)group, HV_GROUP_MAX - 1);
    } else {
        if (group)
            snprintf(r.group, sizeof r.group, "%s", (const char *)group);
        *out = r;
        rc = 0;
    }
    xmlFree(group);
out:
    xmlFreeDoc(doc);
    return rc;
}

const char *hv_rules_xml(const struct hv_rules *r, char *out, size_t len) {
    if (!r->pinned && !r->group[0] && !r->ha && !r->ha_priority)
        return NULL;
    /* A group name has no character XML would need escaped (hv_group_valid). */
    char group[HV_GROUP_MAX + 16] = "", ha[64] = "";
    if (r->group[0])
        snprintf(group, sizeof group, " group='%s'", r->group);
    if (r->ha || r->ha_priority)
        snprintf(ha, sizeof ha, " ha='%s' ha_priority='%u'", r->ha ? "yes" : "no",
                 (unsigned)r->ha_priority);
    int n = snprintf(out, len, "<placement pinned='%s'%s%s/>", r->pinned ? "yes" : "no", group,
                     ha);
    return n > 0 && (size_t)n < len ? out : NULL;
}

int hv_rules_apply(struct hv_rules *r, const struct hv_rules_change *c, char *err,
                   size_t errlen) {
    if (c->set_group && c->group[0] && !hv_group_valid(c->group)) {
        snprintf(err, errlen, "group '%.80s' is not a group name", c->group);
        return -1;
    }
    if (c->set_ha_priority && c->ha_priority > HV_HA_PRIORITY_MAX) {
        snprintf(err, errlen, "ha_priority %u is above %d", (unsigned)c->ha_priority,
                 HV_HA_PRIORITY_MAX);
        return -1;
    }
    if (c->set_pinned)
        r->pinned = c->pinned;
    if (c->set_group)
        snprintf(r->group, sizeof r->group, "%s", c->group);
    if (c->set_ha)
        r->ha = c->ha;
    if (c->set_ha_priority)
        r->ha_priority = c->ha_priority;
    return 0;
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

int hv_set_rules(struct hv *hv, const char *vm, const struct hv_rules_change *change, char *err,
                 size_t errlen) {
    struct hv_rules check = {0};
    if (hv_rules_apply(&check, change, err, errlen) != 0)
        return -1;
    virDomainPtr dom = hv_domain_lookup(hv, vm, err, errlen);
    if (!dom)
        return -1;
    struct hv_rules r;
    char why[HV_REASON_MAX];
    /* A rules element that does not parse is replaced, not kept. */
    if (rules_of(dom, &r, why, sizeof why) != 0)
        memset(&r, 0, sizeof r);
    hv_rules_apply(&r, change, why, sizeof why);
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
