#include "ha.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_fence.h"

struct ha_host {
    char name[COMMAND_NAME_MAX];
    uint64_t last_answer; /* 0: not answered by this leader */
    bool fencing;
    uint64_t fencing_since;
    enum ha_evidence evidence; /* BMC or operator; self is computed */
};

struct ha {
    struct ha_config cfg;
    uint64_t term;
    bool leading;
    uint64_t leading_since;
    struct ha_host hosts[HA_HOSTS_MAX];
    size_t n;
};

const char *ha_evidence_name(enum ha_evidence e) {
    switch (e) {
    case HA_EVIDENCE_NONE: return "none";
    case HA_EVIDENCE_BMC: return "its BMC confirmed it off";
    case HA_EVIDENCE_SELF: return "it fenced itself (its run lease ran out)";
    case HA_EVIDENCE_OPERATOR: return "an operator confirmed it fenced";
    }
    return "unknown";
}

struct ha *ha_new(const struct ha_config *cfg) {
    assert(cfg->timeout_ms > 0);
    struct ha *h = calloc(1, sizeof *h);
    if (h)
        h->cfg = *cfg;
    return h;
}

void ha_free(struct ha *h) { free(h); }

void ha_observe(struct ha *h, uint64_t term, bool leading, uint64_t now) {
    if (leading && (!h->leading || term != h->term)) {
        h->n = 0;
        h->leading_since = now;
    }
    h->term = term;
    h->leading = leading;
}

static struct ha_host *find(const struct ha *h, const char *name) {
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->hosts[i].name, name) == 0)
            return (struct ha_host *)&h->hosts[i];
    return NULL;
}

static struct ha_host *find_or_add(struct ha *h, const char *name) {
    struct ha_host *x = find(h, name);
    if (x || h->n == HA_HOSTS_MAX)
        return x;
    x = &h->hosts[h->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

void ha_answer(struct ha *h, const struct fence_renew *req, const char *from,
               uint64_t lease_until, uint64_t now, struct fence_renewed *out) {
    struct ha_host *x = find(h, req->host);
    host_fence_answer(req, from, h->term, h->leading ? lease_until : 0, now, x && x->fencing,
                      h->cfg.timeout_ms, out);
    if (!out->granted)
        return;
    /* A host that cannot be remembered is refused: the wait before a
     * restart counts from the last answer. */
    x = find_or_add(h, req->host);
    if (!x) {
        out->granted = false;
        out->valid_ms = 0;
        snprintf(out->reason, sizeof out->reason, "the leader's table of hosts is full");
        return;
    }
    x->last_answer = now;
}

bool ha_fence(struct ha *h, const char *host, uint64_t now) {
    struct ha_host *x = find_or_add(h, host);
    if (!x)
        return false;
    if (!x->fencing) {
        x->fencing = true;
        x->fencing_since = now;
        x->evidence = HA_EVIDENCE_NONE;
    }
    return true;
}

bool ha_fencing(const struct ha *h, const char *host) {
    const struct ha_host *x = find(h, host);
    return x && x->fencing;
}

void ha_evidence_set(struct ha *h, const char *host, enum ha_evidence e) {
    struct ha_host *x = find(h, host);
    if (x && x->fencing && x->evidence == HA_EVIDENCE_NONE)
        x->evidence = e;
}

enum ha_evidence ha_evidence_now(const struct ha *h, const char *host, uint64_t now,
                                 uint64_t *wait_until) {
    const struct ha_host *x = find(h, host);
    *wait_until = 0;
    if (!x || !x->fencing)
        return HA_EVIDENCE_NONE;
    if (x->evidence != HA_EVIDENCE_NONE)
        return x->evidence;
    *wait_until = host_fence_self_fenced_at(x->last_answer, h->leading_since, h->cfg.timeout_ms,
                                            h->cfg.rho, h->cfg.margin_ms);
    return now >= *wait_until ? HA_EVIDENCE_SELF : HA_EVIDENCE_NONE;
}

void ha_release(struct ha *h, const char *host) {
    struct ha_host *x = find(h, host);
    if (x)
        x->fencing = false;
}

size_t ha_fenced_count(const struct ha *h) {
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        k += h->hosts[i].fencing;
    return k;
}

const char *ha_fenced_at(const struct ha *h, size_t i) {
    for (size_t k = 0; k < h->n; k++)
        if (h->hosts[k].fencing && i-- == 0)
            return h->hosts[k].name;
    return NULL;
}

/* Whether an up host's record shows vm, running or defined. */
static bool shown_up(const struct executor_member *m, size_t n, const char *vm) {
    for (size_t i = 0; i < n; i++) {
        if (m[i].liveness != LEADER_HOST_UP || !m[i].rec)
            continue;
        for (size_t k = 0; k < m[i].rec->n_vms; k++)
            if (strcmp(m[i].rec->vms[k]->name, vm) == 0)
                return true;
    }
    return false;
}

static int by_priority(const void *pa, const void *pb) {
    const struct ha_restart *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    return strcmp(a->vm, b->vm);
}

size_t ha_restarts(const struct ha *h, const struct executor_member *m, size_t n, uint64_t now,
                   struct ha_restart *out, size_t max, size_t *waiting) {
    size_t k = 0;
    *waiting = 0;
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = m[i].rec;
        if (!r || m[i].liveness == LEADER_HOST_UP || !ha_fencing(h, r->name))
            continue;
        uint64_t until;
        enum ha_evidence e = ha_evidence_now(h, r->name, now, &until);
        for (size_t v = 0; v < r->n_vms; v++) {
            const Nodectl__Vm *vm = r->vms[v];
            if (!vm->ha || shown_up(m, n, vm->name))
                continue;
            if (e == HA_EVIDENCE_NONE) {
                ++*waiting;
                continue;
            }
            if (k == max)
                continue;
            struct ha_restart *x = &out[k++];
            memset(x, 0, sizeof *x);
            snprintf(x->vm, sizeof x->vm, "%s", vm->name);
            snprintf(x->from, sizeof x->from, "%s", r->name);
            x->priority = vm->ha_priority;
            x->evidence = e;
        }
    }
    qsort(out, k, sizeof *out, by_priority);
    return k;
}
