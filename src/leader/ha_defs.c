#include "ha_defs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    bool used;
    uint64_t received; /* the caller's clock, for eviction */
    struct definition_put def;
};

struct ha_defs {
    struct slot slots[HA_DEFS_MAX];
};

struct ha_defs *ha_defs_new(void) { return calloc(1, sizeof(struct ha_defs)); }

void ha_defs_free(struct ha_defs *d) { free(d); }

static struct slot *find(const struct ha_defs *d, const char *vm, const char *host) {
    for (size_t i = 0; i < HA_DEFS_MAX; i++) {
        const struct slot *s = &d->slots[i];
        if (s->used && strcmp(s->def.vm, vm) == 0 && strcmp(s->def.host, host) == 0)
            return (struct slot *)s;
    }
    return NULL;
}

/* A free slot, else the one received longest ago. */
static struct slot *room(struct ha_defs *d) {
    struct slot *oldest = &d->slots[0];
    for (size_t i = 0; i < HA_DEFS_MAX; i++) {
        if (!d->slots[i].used)
            return &d->slots[i];
        if (d->slots[i].received < oldest->received)
            oldest = &d->slots[i];
    }
    return oldest;
}

bool ha_defs_put(struct ha_defs *d, const struct definition_put *p, const char *from,
                 uint64_t now, enum ha_defs_put *out) {
    if (strcmp(p->host, from) != 0 || !p->vm[0] || !p->xml[0])
        return false;
    struct slot *s = find(d, p->vm, p->host);
    if (s) {
        bool newer = p->epoch > s->def.epoch || (p->epoch == s->def.epoch && p->seq > s->def.seq);
        bool same = p->epoch == s->def.epoch && p->seq == s->def.seq;
        *out = newer ? HA_DEFS_NEWER : same ? HA_DEFS_SAME : HA_DEFS_OLDER;
        if (same)
            s->received = now;
        if (!newer)
            return true;
    } else {
        s = room(d);
        *out = HA_DEFS_NEW;
    }
    s->used = true;
    s->received = now;
    s->def = *p;
    return true;
}

bool ha_defs_seed(struct ha_defs *d, const struct definition_put *p, const char *host,
                  uint64_t now) {
    if (!p->vm[0] || !p->xml[0] || find(d, p->vm, host))
        return false;
    struct slot *s = room(d);
    if (&s->def == p) /* the oldest copy, the one it is made from: kept */
        return false;
    s->used = true;
    s->received = now;
    s->def = *p;
    snprintf(s->def.host, sizeof s->def.host, "%s", host);
    s->def.epoch = 0;
    s->def.seq = 0;
    s->def.xmlz_len = 0;
    return true;
}

const struct definition_put *ha_defs_get(const struct ha_defs *d, const char *vm,
                                         const char *host) {
    const struct slot *s = find(d, vm, host);
    return s ? &s->def : NULL;
}

size_t ha_defs_count(const struct ha_defs *d) {
    size_t n = 0;
    for (size_t i = 0; i < HA_DEFS_MAX; i++)
        n += d->slots[i].used;
    return n;
}
