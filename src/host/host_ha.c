#include "host_ha.h"

#include "leader/leader_view.h"

#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *host_ha_state_name(enum host_ha_state s) {
    switch (s) {
    case HOST_HA_RECONCILING: return "reconciling";
    case HOST_HA_READY: return "ready";
    case HOST_HA_FENCED: return "fenced";
    }
    return "fenced";
}

void host_ha_gate_format(const struct host_ha_gate *g, char *out, size_t len) {
    if (g->state == HOST_HA_READY)
        snprintf(out, len, "ready pid=%ld start=%llu\n", g->pid, g->start);
    else if (g->reason[0])
        snprintf(out, len, "%s: %s\n", host_ha_state_name(g->state), g->reason);
    else
        snprintf(out, len, "%s\n", host_ha_state_name(g->state));
}

/* "STATE" then ": reason" or "\n" or the end; the rest in *rest. */
static bool starts_state(const char *text, enum host_ha_state s, const char **rest) {
    const char *name = host_ha_state_name(s);
    size_t n = strlen(name);
    if (strncmp(text, name, n) != 0)
        return false;
    *rest = text + n;
    return true;
}

int host_ha_gate_parse(const char *text, struct host_ha_gate *g) {
    memset(g, 0, sizeof *g);
    size_t k = strcspn(text, "\n");
    /* One line: anything after it is not ours. */
    if (text[k] == '\n' && text[k + 1] != '\0')
        return -1;
    const char *rest;
    if (starts_state(text, HOST_HA_READY, &rest)) {
        char *end;
        if (strncmp(rest, " pid=", 5) != 0)
            return -1;
        long pid = strtol(rest + 5, &end, 10);
        if (end == rest + 5 || pid <= 0 || strncmp(end, " start=", 7) != 0)
            return -1;
        const char *s = end + 7;
        if (*s < '0' || *s > '9')
            return -1;
        unsigned long long start = strtoull(s, &end, 10);
        if (*end != '\n' && *end != '\0')
            return -1;
        g->state = HOST_HA_READY;
        g->pid = pid;
        g->start = start;
        return 0;
    }
    static const enum host_ha_state others[] = {HOST_HA_RECONCILING, HOST_HA_FENCED};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        if (!starts_state(text, others[i], &rest))
            continue;
        if (rest[0] == ':' && rest[1] == ' ')
            rest += 2;
        else if (rest[0] != '\n' && rest[0] != '\0')
            return -1;
        size_t m = strcspn(rest, "\n");
        if (m >= sizeof g->reason)
            m = sizeof g->reason - 1;
        memcpy(g->reason, rest, m);
        g->reason[m] = '\0';
        g->state = others[i];
        return 0;
    }
    return -1;
}

int host_ha_proc_start(const char *stat_text, unsigned long long *start) {
    const char *p = strrchr(stat_text, ')');
    if (!p)
        return -1;
    /* After the name: field 3 (state) ... field 22 (starttime). */
    p++;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        if (field == 22) {
            char *end;
            if (*p < '0' || *p > '9')
                return -1;
            *start = strtoull(p, &end, 10);
            return *end == ' ' || *end == '\n' || *end == '\0' ? 0 : -1;
        }
        while (*p && *p != ' ')
            p++;
    }
    return -1;
}

static bool named(xmlNodePtr n, const char *name) {
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* A <domain> element's protection: 1, 0, or -1 (cannot tell). */
static int domain_protected(xmlNodePtr root) {
    int rc = -1;
    if (root && named(root, "domain")) {
        rc = 0;
        for (xmlNodePtr md = root->children; md; md = md->next) {
            if (!named(md, "metadata"))
                continue;
            for (xmlNodePtr e = md->children; e; e = e->next) {
                if (!named(e, "placement") || !e->ns || !e->ns->href ||
                    strcmp((const char *)e->ns->href, HV_RULES_NS) != 0)
                    continue;
                xmlChar *ha = xmlGetProp(e, (const xmlChar *)"ha");
                /* A value that is neither yes nor no: cannot tell. */
                if (ha && strcmp((const char *)ha, "yes") == 0)
                    rc = 1;
                else if (ha && strcmp((const char *)ha, "no") != 0)
                    rc = -1;
                xmlFree(ha);
            }
        }
    }
    return rc;
}

static xmlDocPtr read_xml(const char *xml, size_t len) {
    if (len == 0 || len > HOST_HA_XML_MAX)
        return NULL;
    return xmlReadMemory(xml, (int)len, "domain.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

int host_ha_xml_protected(const char *xml, size_t len) {
    xmlDocPtr doc = read_xml(xml, len);
    int rc = domain_protected(doc ? xmlDocGetRootElement(doc) : NULL);
    xmlFreeDoc(doc);
    return rc;
}

int host_ha_status_parse(const char *xml, size_t len, struct host_ha_status *out) {
    memset(out, 0, sizeof *out);
    xmlDocPtr doc = read_xml(xml, len);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    int rc = -1;
    xmlChar *pid = root && named(root, "domstatus") ? xmlGetProp(root, (const xmlChar *)"pid")
                                                    : NULL;
    char *end = NULL;
    long p = pid ? strtol((const char *)pid, &end, 10) : 0;
    for (xmlNodePtr d = root && pid && *end == '\0' && p > 0 ? root->children : NULL; d;
         d = d->next) {
        if (!named(d, "domain"))
            continue;
        for (xmlNodePtr e = d->children; e; e = e->next) {
            if (!named(e, "name"))
                continue;
            xmlChar *name = xmlNodeGetContent(e);
            size_t n = name ? strlen((const char *)name) : 0;
            if (n > 0 && n < sizeof out->name) {
                memcpy(out->name, name, n + 1);
                out->pid = p;
                out->protected = domain_protected(d);
                rc = 0;
            }
            xmlFree(name);
            break;
        }
        break;
    }
    xmlFree(pid);
    xmlFreeDoc(doc);
    return rc;
}

bool host_ha_cmdline_runs(const char *cmdline, size_t len, const char *name) {
    /* NUL-separated arguments; libvirt gives QEMU "-name guest=NAME,..."
     * with each ',' of the name doubled (QEMU's option syntax). */
    for (size_t i = 0; i < len;) {
        const char *arg = cmdline + i;
        size_t n = strnlen(arg, len - i);
        i += n + 1;
        if (n != 5 || memcmp(arg, "-name", 5) != 0 || i >= len)
            continue;
        const char *v = cmdline + i;
        size_t vn = strnlen(v, len - i);
        if (vn < 6 || strncmp(v, "guest=", 6) != 0)
            return false;
        size_t k = 6;
        for (const char *c = name; *c; c++) {
            if (k >= vn || v[k] != *c || (*c == ',' && (k + 1 >= vn || v[k + 1] != ',')))
                return false;
            k += *c == ',' ? 2 : 1;
        }
        return k == vn || (v[k] == ',' && (k + 1 >= vn || v[k + 1] != ','));
    }
    return false;
}

bool host_ha_refuses(const char *op, const char *subop, int protected,
                     const struct host_ha_gate *g, bool agent_running, char *why, size_t len) {
    if (strcmp(op, "prepare") != 0 || strcmp(subop, "begin") != 0 || protected == 0)
        return false;
    const char *what = protected < 0 ? "a guest whose protection cannot be read"
                                     : "a protected guest (ha=yes)";
    if (!g) {
        snprintf(why, len, "%s starts only once this host's nodectl agent has reconciled "
                           "with the cluster; it has not run yet", what);
        return true;
    }
    switch (g->state) {
    case HOST_HA_READY:
        if (agent_running)
            return false;
        snprintf(why, len, "%s starts only under a running nodectl agent; the one that "
                           "reconciled (pid %ld) is gone", what, g->pid);
        return true;
    case HOST_HA_RECONCILING:
        snprintf(why, len, "%s starts only once this host's nodectl agent has reconciled "
                           "with the cluster%s%s", what, g->reason[0] ? ": " : "", g->reason);
        return true;
    case HOST_HA_FENCED:
        snprintf(why, len, "this host fenced itself%s%s; %s starts only once its agent has "
                           "reconciled again", g->reason[0] ? ": " : "", g->reason, what);
        return true;
    }
    return true;
}

bool host_ha_record_migrates(const Nodectl__HostRecord *rec, const char *vm) {
    for (size_t k = 0; k < rec->n_migrations; k++) {
        const Nodectl__Migration *m = rec->migrations[k];
        if (strcmp(m->vm, vm) == 0 && report_kind_parse(m->kind) == REPORT_MIGRATION &&
            report_state_parse(m->state) == REPORT_RUNNING)
            return true;
    }
    return false;
}

bool host_ha_record_failed_to(const Nodectl__HostRecord *rec, const char *vm, const char *dest) {
    const Nodectl__Migration *last = NULL;
    for (size_t k = 0; rec && k < rec->n_migrations; k++) {
        const Nodectl__Migration *m = rec->migrations[k];
        if (strcmp(m->vm, vm) == 0 && report_kind_parse(m->kind) == REPORT_MIGRATION &&
            (!last || m->started_at_ms >= last->started_at_ms))
            last = m;
    }
    if (!last || strcmp(last->destination, dest) != 0)
        return false;
    enum report_state st = report_state_parse(last->state);
    return st == REPORT_FAILED || st == REPORT_ABORTED;
}

void host_ha_ran_init(struct host_ha_ran *t, uint64_t started_ms) {
    memset(t, 0, sizeof *t);
    t->started_ms = started_ms;
}

void host_ha_ran_begin(struct host_ha_ran *t) { t->gen++; }

void host_ha_ran_seen(struct host_ha_ran *t, const unsigned char uuid[16], uint64_t now_ms) {
    size_t k = 0, oldest = 0;
    while (k < t->n && memcmp(t->e[k].uuid, uuid, 16) != 0) {
        if (t->e[k].last_ms < t->e[oldest].last_ms)
            oldest = k;
        k++;
    }
    struct host_ha_ran_entry *e = &t->e[k];
    if (k == t->n) {
        if (t->n < HOST_HA_RAN_MAX)
            t->n++;
        else
            e = &t->e[oldest];
        memcpy(e->uuid, uuid, 16);
        e->running = false;
    }
    if (!e->running)
        e->since_ms = now_ms;
    e->running = true;
    e->last_ms = now_ms;
    e->gen = t->gen;
}

void host_ha_ran_end(struct host_ha_ran *t, uint64_t now_ms) {
    for (size_t k = 0; k < t->n; k++) {
        struct host_ha_ran_entry *e = &t->e[k];
        if (e->gen == t->gen || !e->running)
            continue;
        /* Stopped: a run here that a view shows before the next sample
         * began after this one. */
        e->running = false;
        e->since_ms = now_ms;
    }
}

/* The sample time after which a peer's record must be taken to show that
 * the domain runs there (host_ha.h). */
static uint64_t runs_elsewhere_after(const struct host_ha_ran *t, const struct hv_domain_now *d) {
    for (size_t k = 0; k < t->n; k++) {
        const struct host_ha_ran_entry *e = &t->e[k];
        if (memcmp(e->uuid, d->uuid, 16) != 0)
            continue;
        return d->active ? e->since_ms : e->last_ms;
    }
    return t->started_ms;
}

enum host_ha_verdict host_ha_reconcile(const struct hv_domain_now *local,
                                       const struct host_ha_ran *ran,
                                       const struct host_ha_copy *copies, size_t n, char *why,
                                       size_t len) {
    if (local->job != HV_JOB_NONE)
        return HOST_HA_KEEP;
    uint64_t after = ran ? runs_elsewhere_after(ran, local) : 0;
    for (size_t i = 0; i < n; i++) {
        const struct host_ha_copy *c = &copies[i];
        if (memcmp(c->uuid, local->uuid, sizeof c->uuid) != 0 || c->state == HV_VM_SHUTOFF ||
            (ran && c->sampled_at_ms <= after))
            continue;
        /* Shut off here: undefined only for a copy that runs elsewhere,
         * not one paused there: a migration's arrival that may fail yet
         * (nodesim cluster --ha seed 34: this host's own copy, leaving,
         * was destroyed by its self-fence, and the arrival it left in a
         * peer's record undefined the last definition of the VM); nor one
         * leaving by a migration, perhaps to here: the arrival may have
         * run here since, on a record the sample bound does not order
         * when the source's wall clock runs ahead of this host's (seed
         * 9097: the arrival, stopped by this host's self-fence, undefined
         * on its source's record of the migration under way). The ready
         * host's stale pass undefines it once the copy runs for sure. */
        if (!local->active) {
            if ((c->state != HV_VM_RUNNING && c->state != HV_VM_BLOCKED) || c->leaving)
                continue;
            snprintf(why, len,
                     "it runs on %s (%s): its record was sampled at %" PRIu64
                     ", after %" PRIu64 " here",
                     c->host, hv_vm_state_name(c->state), c->sampled_at_ms, after);
            return HOST_HA_UNDEFINE;
        }
        /* Both run: only a copy that runs for sure elsewhere, not one
         * arriving by migration (paused), leaving by one (perhaps to
         * here), left by a migration from here that failed (its host
         * destroys it: seed 8309, where this host, its agent just
         * restarted, destroyed the source's copy on the record of the
         * destination, which destroyed its leftover the same second), or
         * in an unknown state. */
        if ((c->state == HV_VM_RUNNING || c->state == HV_VM_BLOCKED) && !c->leaving &&
            !c->leftover) {
            snprintf(why, len, "it also runs on %s, where the leader restarted it after "
                               "this host was fenced", c->host);
            return HOST_HA_DESTROY;
        }
    }
    return HOST_HA_KEEP;
}

bool host_ha_view_ready(const struct host_ha_view *v, char *why, size_t len) {
    if (!v->hv_fresh)
        snprintf(why, len, "waiting for a fresh view of the hypervisor");
    else if (!v->leader_known)
        snprintf(why, len, "waiting for a leader that holds its lease");
    else if (v->alive_with_record < v->alive)
        snprintf(why, len, "waiting for the records of %zu of the %zu live members",
                 v->alive - v->alive_with_record, v->alive);
    else
        return true;
    return false;
}

bool host_ha_may_start(enum host_ha_state state, bool lease_holds, char *why, size_t len) {
    if (!lease_holds)
        snprintf(why, len, "this host's run lease does not hold: no protected guest starts here");
    else if (state != HOST_HA_READY)
        snprintf(why, len, "this host is %s: no protected guest starts here yet",
                 host_ha_state_name(state));
    return lease_holds && state == HOST_HA_READY;
}

bool host_ha_watchdog_pet(uint64_t now, uint64_t lease_until, uint32_t timeout_ms,
                          enum host_ha_state state, bool protected_running) {
    if (state != HOST_HA_READY && !protected_running)
        return true;
    return lease_until >= timeout_ms && now <= lease_until - timeout_ms;
}
