/* A new domain defined on this host (nodectl create, an HA restart), and
 * started, in a thread of its own: libvirt's calls wait (virDomainCreate
 * for the guest's process), the agent's loop must not. Asked of libvirt at
 * the moment the command acts: a domain of that name already here is never
 * replaced (virDomainDefineXML would redefine it). Or, for an HA restart
 * in place, the protected domain already defined here started: libvirt
 * says, at that moment, that it is here and protected. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_internal.h"

/* A reference to the connection; NULL with the slot refused and its
 * error set when the hypervisor is unavailable. */
static virConnectPtr slot_conn(struct hv_def_slot *d) {
    virConnectPtr conn = hv_conn_ref(d->hv);
    if (!conn) {
        snprintf(d->pub.error, sizeof d->pub.error, "the hypervisor is unavailable");
        d->refused = true;
    }
    return conn;
}

/* The definition's libvirt calls; 0, or -1 with d->pub.error (d->refused
 * when libvirt was never asked to change anything). */
static int define(struct hv_def_slot *d) {
    const char *name = d->pub.name;
    char *err = d->pub.error;
    size_t errlen = sizeof d->pub.error;
    virConnectPtr conn = slot_conn(d);
    if (!conn)
        return -1;
    int rc = -1;
    virDomainPtr dom = virDomainLookupByName(conn, name);
    if (dom) {
        snprintf(err, errlen, "a domain named '%s' is already on this host", name);
        d->refused = true;
        virDomainFree(dom);
        dom = NULL;
    } else if (hv_clock_ms() >= d->start_by_ms) {
        /* The lookup may have waited: the grant must still hold now, and
         * nothing that waits lies between this reading and the call. */
        snprintf(err, errlen, "not defined: its grant expired before libvirt could be asked");
        d->refused = true;
    } else if (!(dom = virDomainDefineXML(conn, d->xml))) {
        const char *msg = virGetLastErrorMessage();
        snprintf(err, errlen, "libvirt refused the definition: %s", msg ? msg : "no reason");
    } else if (strcmp(virDomainGetName(dom), name) != 0) {
        /* The XML was checked to name `name`: libvirt read another. */
        snprintf(err, errlen, "libvirt defined '%s', not '%s'; undefined again",
                 virDomainGetName(dom), name);
        virDomainUndefine(dom);
    } else if (d->start && virDomainCreate(dom) != 0) {
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

/* The restart in place's libvirt calls; 0 (started, or running already),
 * or -1 with d->pub.error (d->refused when libvirt was never asked to
 * start it). */
static int start_defined(struct hv_def_slot *d) {
    const char *name = d->pub.name;
    char *err = d->pub.error;
    size_t errlen = sizeof d->pub.error;
    virConnectPtr conn = slot_conn(d);
    if (!conn)
        return -1;
    int rc = -1;
    struct hv_rules rules;
    char why[HV_REASON_MAX];
    virDomainPtr dom = virDomainLookupByName(conn, name);
    int active;
    d->refused = true;
    if (!dom) {
        snprintf(err, errlen, "no domain named '%s' on this host", name);
    } else if (hv_rules_of(dom, &rules, why, sizeof why) != 0) {
        snprintf(err, errlen, "its placement rules: %.200s", why);
    } else if (!rules.ha) {
        /* Only a protected VM is the leader's to start (ha=no: stopped
         * for good, as the operator wants). */
        snprintf(err, errlen, "'%s' is not protected (ha=no): not started", name);
    } else if ((active = virDomainIsActive(dom)) == 1) {
        rc = 0;
    } else if (active != 0) {
        snprintf(err, errlen, "libvirt cannot say whether '%s' runs: %s", name,
                 virGetLastErrorMessage());
    } else if (hv_clock_ms() >= d->start_by_ms) {
        /* As for a define: nothing that waits lies between this reading
         * and the call. */
        snprintf(err, errlen, "not started: its grant expired before libvirt could be asked");
    } else {
        d->refused = false;
        if (virDomainCreate(dom) == 0) {
            rc = 0;
        } else {
            snprintf(err, errlen, "libvirt did not start it: %s", virGetLastErrorMessage());
            /* Started meanwhile by someone else (virsh start): it runs
             * once, here. */
            if (virDomainIsActive(dom) == 1) {
                err[0] = '\0';
                rc = 0;
            }
        }
    }
    if (dom)
        virDomainFree(dom);
    virConnectClose(conn);
    return rc;
}

static void *run_define(void *arg) {
    struct hv_def_slot *d = arg;
    d->rc = d->xml ? define(d) : start_defined(d);
    atomic_store(&d->done, true);
    hv_events_signal(d->hv);
    return NULL;
}

static struct hv_def_slot *free_def_slot(struct hv *hv) {
    for (size_t i = 0; i < HV_DEFINES_MAX; i++)
        if (!hv->defs[i].used || hv->defs[i].pub.state != HV_DEF_RUNNING)
            return &hv->defs[i];
    return NULL;
}

/* A slot and its thread: define xml (and start it), or, xml NULL, start
 * the domain defined here. */
static int slot_start(struct hv *hv, const char *tag, const char *name, const char *xml,
                      bool start, uint64_t start_by_ms, char *err, size_t errlen) {
    if (strlen(name) >= HV_NAME_MAX || strlen(tag) >= sizeof hv->defs[0].pub.tag) {
        snprintf(err, errlen, "VM name or command id too long");
        return -1;
    }
    virConnectPtr conn = hv_conn_ref(hv);
    if (!conn) {
        snprintf(err, errlen, "the hypervisor is unavailable");
        return -1;
    }
    virConnectClose(conn);
    for (size_t i = 0; i < HV_DEFINES_MAX; i++) {
        const struct hv_def_slot *d = &hv->defs[i];
        if (d->used && d->pub.state == HV_DEF_RUNNING && strcmp(d->pub.name, name) == 0) {
            snprintf(err, errlen, "VM '%s' is being defined here already", name);
            return -1;
        }
    }
    struct hv_def_slot *d = free_def_slot(hv);
    if (!d) {
        snprintf(err, errlen, "%d definitions already run on this host", HV_DEFINES_MAX);
        return -1;
    }
    char *copy = xml ? strdup(xml) : NULL;
    if (xml && !copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(d, 0, sizeof *d);
    d->used = true;
    d->hv = hv;
    d->xml = copy;
    d->start = start;
    d->start_by_ms = start_by_ms;
    snprintf(d->pub.tag, sizeof d->pub.tag, "%s", tag);
    snprintf(d->pub.name, sizeof d->pub.name, "%s", name);
    d->pub.state = HV_DEF_RUNNING;
    atomic_store(&d->done, false);
    if (pthread_create(&d->thread, NULL, run_define, d) != 0) {
        snprintf(err, errlen, "cannot start a thread for the definition");
        free(d->xml);
        memset(d, 0, sizeof *d);
        return -1;
    }
    return 0;
}

int hv_define_start(struct hv *hv, const char *tag, const char *name, const char *xml,
                    bool start, uint64_t start_by_ms, char *err, size_t errlen) {
    return slot_start(hv, tag, name, xml, start, start_by_ms, err, errlen);
}

int hv_start_defined(struct hv *hv, const char *tag, const char *name, uint64_t start_by_ms,
                     char *err, size_t errlen) {
    return slot_start(hv, tag, name, NULL, true, start_by_ms, err, errlen);
}

static void def_finish(struct hv_def_slot *d) {
    pthread_join(d->thread, NULL);
    free(d->xml);
    d->xml = NULL;
    d->pub.state = d->rc == 0 ? HV_DEF_SUCCEEDED : d->refused ? HV_DEF_REFUSED : HV_DEF_FAILED;
}

void hv_defines_poll(struct hv *hv) {
    for (size_t i = 0; i < HV_DEFINES_MAX; i++) {
        struct hv_def_slot *d = &hv->defs[i];
        if (d->used && d->pub.state == HV_DEF_RUNNING && atomic_load(&d->done))
            def_finish(d);
    }
}

size_t hv_defines(const struct hv *hv, const struct hv_definition **out) {
    size_t n = 0;
    for (size_t i = 0; i < HV_DEFINES_MAX; i++)
        if (hv->defs[i].used)
            out[n++] = &hv->defs[i].pub;
    return n;
}

void hv_defines_stop(struct hv *hv) {
    for (size_t i = 0; i < HV_DEFINES_MAX; i++) {
        struct hv_def_slot *d = &hv->defs[i];
        if (d->used && d->pub.state == HV_DEF_RUNNING)
            def_finish(d);
    }
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
