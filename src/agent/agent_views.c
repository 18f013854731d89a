/* What the agent reads in every member's record, decoded once per record
 * version: names, addresses, candidate lists, the terms and leaders
 * candidates show, and CPU use. Gossip's events say which member changed,
 * so each change costs one decode and the readers (the election's observe,
 * log lines, the history's samples) look members up instead of decoding
 * every record again: the
 * agent's work per membership or record change stays O(1) as the cluster
 * grows. The table is open addressing on the member id (linear probing),
 * grown at half load; a forgotten member keeps its slot, emptied. */
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"

static uint32_t slot_of(uint64_t id, size_t mask) {
    /* Member ids are hashes of names already; mixing spreads them anyway. */
    uint64_t h = id * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)((h >> 32) & mask);
}

static struct member_view *lookup(const struct member_views *t, uint64_t id) {
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t s = slot_of(id, mask);; s = (s + 1) & mask) {
        if (t->v[s].id == id)
            return &t->v[s];
        if (t->v[s].id == 0)
            return NULL;
    }
}

static int grow(struct member_views *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    struct member_view *v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->v[i].id)
            continue;
        size_t s = slot_of(t->v[i].id, cap - 1);
        while (v[s].id)
            s = (s + 1) & (cap - 1);
        v[s] = t->v[i];
    }
    free(t->v);
    t->v = v;
    t->cap = cap;
    return 0;
}

static struct member_view *insert(struct member_views *t, uint64_t id) {
    struct member_view *mv = lookup(t, id);
    if (mv)
        return mv;
    if ((t->n + 1) * 2 > t->cap && grow(t) != 0)
        return NULL;
    size_t mask = t->cap - 1, s = slot_of(id, mask);
    while (t->v[s].id)
        s = (s + 1) & mask;
    t->n++;
    t->v[s].id = id;
    return &t->v[s];
}

static void uncount(struct member_views *t, struct member_view *mv) {
    if (!mv->counted)
        return;
    if (mv->same_candidates)
        t->agree--;
    else
        t->disagree--;
    mv->counted = false;
}

/* Fields of a new record version. */
static void decode(struct agent *a, struct member_view *mv, const struct gossip_member_info *m) {
    mv->version = m->record_version;
    mv->has_record = false;
    Nodectl__HostRecord *rec = agent_member_record(a, m);
    if (!rec)
        return;
    mv->has_record = true;
    snprintf(mv->name, sizeof mv->name, "%s", rec->name);
    snprintf(mv->address, sizeof mv->address, "%s", rec->address);
    bool same = rec->n_candidates == a->cfg.candidates.n;
    for (size_t k = 0; same && k < rec->n_candidates; k++)
        same = strcmp(rec->candidates[k], a->cfg.candidates.item[k]) == 0;
    mv->same_candidates = same;
    mv->candidate = agent_record_of_candidate(a, m, rec);
    mv->term = rec->term;
    mv->cpu_percent = rec->usage ? rec->usage->cpu_percent : 0;
    snprintf(mv->leader, sizeof mv->leader, "%s", rec->leader);
    nodectl__host_record__free_unpacked(rec, NULL);
}

void member_views_update(struct agent *a, uint64_t id) {
    struct member_views *t = &a->views;
    if (id == a->cluster.self_id)
        return;
    struct gossip_member_info m;
    bool known = gossip_member_find(a->cluster.gossip, id, &m);
    struct member_view *mv = known ? insert(t, id) : lookup(t, id);
    if (!mv) {
        if (known)
            log_err("member views: out of memory");
        return;
    }
    uncount(t, mv);
    if (!known) {
        *mv = (struct member_view){.id = id};
        return;
    }
    if (m.record_version != mv->version)
        decode(a, mv, &m);
    mv->up = m.state == GOSSIP_ALIVE || m.state == GOSSIP_SUSPECT;
    if (mv->up && mv->has_record) {
        mv->counted = true;
        if (mv->same_candidates) {
            t->agree++;
        } else {
            t->disagree++;
            snprintf(t->other, sizeof t->other, "%s", mv->name);
        }
    }
}

void member_views_rebuild(struct agent *a) {
    size_t n = gossip_member_count(a->cluster.gossip);
    for (size_t i = 0; i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(a->cluster.gossip, i, &m);
        member_views_update(a, m.id);
    }
}

const struct member_view *member_views_find(const struct agent *a, uint64_t id) {
    const struct member_view *mv = lookup(&a->views, id);
    return mv && mv->has_record ? mv : NULL;
}

void member_views_free(struct agent *a) {
    free(a->views.v);
    memset(&a->views, 0, sizeof a->views);
}
