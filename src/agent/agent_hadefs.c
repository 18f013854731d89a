/* Replication of protected VMs' definitions (docs/ha.md): every
 * HADEFS_PERIOD_MS this host reads the persistent XML of each protected VM
 * it has and sends it to every candidate (to itself without the network
 * when it is one), with a new seq when the XML changed; the candidates keep
 * the newest copy per (VM, host) (src/leader/ha_defs.c). The XML travels
 * deflated, as nodectl create's does (a real guest's, 4-8 KiB, does not
 * fit a frame as it is); one that does not fit even deflated is not
 * replicated, and the log says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "command/domain_xml.h"
#include "common/log.h"

#define HADEFS_PERIOD_MS 30000
#define HADEFS_RETRY_MS 1000

/* FNV-1a: tells a changed definition from the same one. */
static uint64_t digest(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static struct agent_hadef *pushed(struct agent *a, const char *vm) {
    struct agent_hadefs *d = &a->hadefs;
    struct agent_hadef *free_slot = NULL;
    for (size_t i = 0; i < AGENT_HADEFS_MAX; i++) {
        if (d->vm[i].name[0] && strcmp(d->vm[i].name, vm) == 0)
            return &d->vm[i];
        if (!d->vm[i].name[0] && !free_slot)
            free_slot = &d->vm[i];
    }
    if (free_slot)
        snprintf(free_slot->name, sizeof free_slot->name, "%s", vm);
    return free_slot;
}

void agent_hadefs_frame(struct agent *a, const struct definition_put *in, const char *sender) {
    enum ha_defs_put r;
    const struct definition_put *p = in;
    struct definition_put *copy = NULL;
    if (!a->hadefs.store)
        return;
    if (in->xmlz_len && !in->xml[0]) {
        char why[128];
        size_t len;
        if (!(copy = malloc(sizeof *copy)))
            return;
        *copy = *in;
        if (domain_xml_inflate(in->xmlz, in->xmlz_len, copy->xml, &len, why, sizeof why) != 0) {
            log_warn("definition of %s from %s: refused: %s", in->vm, sender, why);
            free(copy);
            return;
        }
        p = copy;
    }
    if (!a->hadefs.store || !ha_defs_put(a->hadefs.store, p, sender, agent_clock_ms(), &r))
        log_debug("definition of %s from %s: not kept (not a candidate, or not its own)",
                  p->vm, sender);
    else if (r == HA_DEFS_NEW || r == HA_DEFS_NEWER)
        log_info("definition of %s from %s: version %llu.%llu kept", p->vm, sender,
                  (unsigned long long)p->epoch, (unsigned long long)p->seq);
    free(copy);
}

/* Sends m to every candidate; false when one could not be reached (its
 * address not known yet, or its queue full). */
static bool send_all(struct agent *a, const struct command_msg *m) {
    const struct leadership *l = &a->lead;
    bool all = true;
    for (size_t v = 0; v < l->n_voters; v++) {
        if (strcmp(l->voter_name[v], a->cfg.node_name) == 0) {
            agent_hadefs_frame(a, &m->definition, a->cfg.node_name);
        } else if (!l->voter_addr[v][0] || cluster_send_command(a, l->voter_addr[v], m) != 0) {
            log_debug("definition of %s: cannot reach %s", m->definition.vm, l->voter_name[v]);
            all = false;
        }
    }
    return all;
}

void agent_hadefs_run(struct agent *a, uint64_t now) {
    struct agent_hadefs *d = &a->hadefs;
    if (now < d->next_ms)
        return;
    /* Until the hypervisor answers, and while a candidate is unreachable,
     * it is tried again every second. */
    d->next_ms = now + HADEFS_RETRY_MS;
    if (!a->sample || !a->sample->available)
        return;
    bool all = true;
    struct command_msg m = {.kind = COMMAND_MSG_DEFINITION};
    struct definition_put *p = &m.definition;
    for (size_t i = 0; i < a->sample->n_vms; i++) {
        const struct hv_vm *vm = &a->sample->vms[i];
        if (!vm->rules.ha)
            continue;
        struct agent_hadef *x = pushed(a, vm->name);
        char err[HV_REASON_MAX + 64];
        if (!x) {
            log_warn("definition of %s: more than %d protected VMs here; not replicated",
                     vm->name, AGENT_HADEFS_MAX);
            continue;
        }
        if (hv_domain_xml(a->hv, vm->name, p->xml, sizeof p->xml, err, sizeof err) != 0) {
            if (!x->failed)
                log_warn("definition of %s not replicated (it cannot be restarted "
                         "elsewhere): %s", vm->name, err);
            x->failed = true;
            continue;
        }
        size_t len = strlen(p->xml);
        if (domain_xml_deflate(p->xml, len, p->xmlz, &p->xmlz_len, err, sizeof err) != 0) {
            /* Said once per version of it; tried again with the next. */
            if (!x->failed || digest(p->xml) != x->digest)
                log_warn("definition of %s not replicated (it cannot be restarted "
                         "elsewhere): its XML, %zu bytes, does not fit a frame: %s",
                         vm->name, len, err);
            x->failed = true;
            x->digest = digest(p->xml);
            continue;
        }
        x->failed = false;
        uint64_t h = digest(p->xml);
        if (h != x->digest || !x->seq) {
            x->digest = h;
            x->seq++;
        }
        snprintf(p->vm, sizeof p->vm, "%s", vm->name);
        snprintf(p->host, sizeof p->host, "%s", a->cfg.node_name);
        p->epoch = a->sec.epoch;
        p->seq = x->seq;
        all = send_all(a, &m) && all;
    }
    if (all)
        d->next_ms = now + HADEFS_PERIOD_MS;
}

uint64_t agent_hadefs_deadline(const struct agent *a) { return a->hadefs.next_ms; }

int agent_hadefs_open(struct agent *a, char *err, size_t errlen) {
    if (!leadership_is_candidate(a, a->cfg.node_name))
        return 0;
    a->hadefs.store = ha_defs_new();
    if (!a->hadefs.store) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void agent_hadefs_close(struct agent *a) {
    ha_defs_free(a->hadefs.store);
    a->hadefs.store = NULL;
}
