/* The member table and SWIM's update rules.
 *
 * An update (state, incarnation) about a member overrides the one held if
 * its incarnation is higher, or equal with a state of higher precedence
 * (ALIVE < SUSPECT < DEAD < LEFT = OFF): SWIM section 4.2, as memberlist's
 * aliveNode/suspectNode/deadNode. Only the member itself raises its
 * incarnation, to refute a suspicion or to announce LEFT/OFF. DEAD and
 * LEFT members are forgotten after a while, as Serf's reaper does
 * (reconnect_timeout, tombstone_timeout). */
#include <stdlib.h>
#include <string.h>

#include "gossip_internal.h"

const char *gossip_state_name(enum gossip_state s) {
    switch (s) {
    case GOSSIP_ALIVE: return "alive";
    case GOSSIP_SUSPECT: return "suspect";
    case GOSSIP_DEAD: return "dead";
    case GOSSIP_LEFT: return "left";
    case GOSSIP_OFF: return "off";
    }
    return "unknown";
}

static int precedence(enum gossip_state s) {
    return s == GOSSIP_OFF ? GOSSIP_LEFT : (int)s;
}

static uint32_t slot_of(uint64_t id, uint32_t mask) {
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

uint32_t member_find(const struct gossip *g, uint64_t id) {
    for (uint32_t s = slot_of(id, g->index_mask);; s = (s + 1) & g->index_mask) {
        uint32_t v = g->index[s];
        if (v == 0)
            return GOSSIP_NONE;
        if (g->m[v - 1].id == id)
            return v - 1;
    }
}

static int index_grow(struct gossip *g) {
    uint32_t cap = (g->index_mask + 1) * 2;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    free(g->index);
    g->index = idx;
    g->index_mask = cap - 1;
    for (uint32_t i = 0; i < g->n; i++) {
        uint32_t s = slot_of(g->m[i].id, g->index_mask);
        while (idx[s])
            s = (s + 1) & g->index_mask;
        idx[s] = i + 1;
    }
    return 0;
}

static bool counts_alive(uint8_t state) {
    return state == GOSSIP_ALIVE || state == GOSSIP_SUSPECT;
}

static int emit_state(struct gossip *g, uint32_t i, enum gossip_state old) {
    const struct member *m = &g->m[i];
    return event_push(g, &(struct gossip_event){.kind = GOSSIP_EV_STATE,
                                                .id = m->id,
                                                .state = m->state,
                                                .old_state = old,
                                                .incarnation = m->incarnation,
                                                .record_version = m->record_version});
}

/* Backward-shift deletion (linear probing keeps no tombstones): later
 * entries of the cluster move up into the hole unless their home slot lies
 * after it. */
static void index_remove(struct gossip *g, uint64_t id) {
    uint32_t mask = g->index_mask, hole = slot_of(id, mask);
    while (g->m[g->index[hole] - 1].id != id)
        hole = (hole + 1) & mask;
    for (uint32_t t = (hole + 1) & mask; g->index[t]; t = (t + 1) & mask) {
        uint32_t home = slot_of(g->m[g->index[t] - 1].id, mask);
        if (((t - home) & mask) >= ((t - hole) & mask)) {
            g->index[hole] = g->index[t];
            hole = t;
        }
    }
    g->index[hole] = 0;
}

static void index_set(struct gossip *g, uint64_t id, uint32_t i) {
    uint32_t s = slot_of(id, g->index_mask);
    while (g->m[g->index[s] - 1].id != id)
        s = (s + 1) & g->index_mask;
    g->index[s] = i + 1;
}

/* Removes member i (never ourselves, never SUSPECT or OFF: nothing hangs
 * off aux); the last member takes its index, and everything that names
 * members by index follows. */
static void member_remove(struct gossip *g, uint32_t i) {
    struct member *m = &g->m[i];
    uint32_t last = g->n - 1;
    gossip_blob_unref(m->record);
    if (m->wanted)
        g->n_wanted--;
    reassembly_forget(g, m->id);
    bcast_renumber(g, i, last);
    probe_renumber(g, i, last);
    index_remove(g, m->id);
    if (i != last) {
        g->m[i] = g->m[last];
        index_set(g, g->m[i].id, i);
        if (g->self == last)
            g->self = i;
        if (g->m[i].state == GOSSIP_SUSPECT && g->m[i].aux)
            ((struct suspicion *)g->m[i].aux)->member = i;
    }
    g->n--;
}

static int64_t reap_after_ms(const struct gossip *g, uint8_t state) {
    if (state == GOSSIP_DEAD)
        return g->cfg.reap_dead_ms;
    if (state == GOSSIP_LEFT)
        return g->cfg.reap_left_ms;
    return INT64_MAX;
}

int members_reap(struct gossip *g) {
    for (uint32_t i = 0; i < g->n;) {
        const struct member *m = &g->m[i];
        if (i == g->self || g->now_ms - m->changed_ms < reap_after_ms(g, m->state)) {
            i++;
            continue;
        }
        if (event_push(g, &(struct gossip_event){.kind = GOSSIP_EV_REMOVED,
                                                 .id = m->id,
                                                 .state = m->state,
                                                 .old_state = m->state,
                                                 .incarnation = m->incarnation,
                                                 .record_version = m->record_version}) != 0)
            return -1;
        member_remove(g, i); /* the last member now sits at i */
    }
    return 0;
}

int members_reserve(struct gossip *g, uint32_t cap) {
    if (cap > g->cap) {
        struct member *m = realloc(g->m, cap * sizeof *m);
        if (!m)
            return -1;
        g->m = m;
        uint32_t *o = realloc(g->order, cap * sizeof *o);
        if (!o)
            return -1;
        g->order = o;
        g->cap = cap;
    }
    while (cap * 2 > g->index_mask + 1)
        if (index_grow(g) != 0)
            return -1;
    return 0;
}

uint32_t member_add(struct gossip *g, uint64_t id, const struct gossip_addr *addr,
                    enum gossip_state state, uint32_t incarnation) {
    if (g->n == g->cap && members_reserve(g, g->cap ? g->cap * 2 : 16) != 0)
        return GOSSIP_NONE;
    uint32_t i = g->n++;
    g->m[i] = (struct member){.id = id, .addr = *addr, .state = (uint8_t)state,
                              .incarnation = incarnation, .changed_ms = g->now_ms};
    uint32_t s = slot_of(id, g->index_mask);
    while (g->index[s])
        s = (s + 1) & g->index_mask;
    g->index[s] = i + 1;
    if (counts_alive(state))
        g->n_alive++;
    order_insert(g, i);
    if (emit_state(g, i, state) != 0)
        return GOSSIP_NONE;
    return i;
}

static void aux_free(struct member *m) {
    if (m->state == GOSSIP_OFF && m->aux)
        gossip_blob_unref(m->aux);
    m->aux = NULL;
}

int member_set_state(struct gossip *g, uint32_t i, enum gossip_state state, uint32_t incarnation) {
    struct member *m = &g->m[i];
    enum gossip_state old = m->state;
    if (old == GOSSIP_SUSPECT)
        suspicion_drop(g, i);
    else
        aux_free(m);
    g->n_alive += (uint32_t)counts_alive((uint8_t)state) - (uint32_t)counts_alive(m->state);
    m->state = (uint8_t)state;
    m->incarnation = incarnation;
    m->changed_ms = g->now_ms;
    return emit_state(g, i, old);
}

int member_set_wake(struct gossip *g, uint32_t i, const uint8_t *wake, size_t len) {
    struct member *m = &g->m[i];
    if (m->state != GOSSIP_OFF || len == 0 || len > GOSSIP_WAKE_MAX)
        return 0;
    struct gossip_blob *b = malloc(sizeof *b + len);
    if (!b)
        return -1;
    b->refs = 1;
    b->len = (uint32_t)len;
    memcpy(b->data, wake, len);
    aux_free(m);
    m->aux = b;
    return 0;
}

int refute(struct gossip *g, uint32_t over_incarnation, const struct gossip_addr *tell) {
    struct member *self = &g->m[g->self];
    if (self->state == GOSSIP_LEFT || self->state == GOSSIP_OFF)
        return 0; /* we are going away: the news is true */
    if (member_set_state(g, g->self, GOSSIP_ALIVE, over_incarnation + 1) != 0)
        return -1;
    /* Lifeguard section 4.1: being suspected hints that we are the slow one. */
    awareness_add(g, 1);
    if (bcast_member(g, g->self, 0) != 0)
        return -1;
    if (!tell)
        return 0;
    /* Tell whoever said it directly, so the refutation also reaches a side
     * of a healed partition that no longer gossips with us. */
    struct pkt p;
    pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_GOSSIP);
    pkt_add_member(&p, self, 0, false);
    return pkt_send(g, &p, tell);
}

int member_apply(struct gossip *g, const Nodectl__GossipMember *u, bool rebroadcast,
                 const struct gossip_addr *sender_addr) {
    if ((unsigned)u->state > GOSSIP_OFF)
        return 0;
    enum gossip_state st = (enum gossip_state)u->state;
    uint32_t i = member_find(g, u->id);
    if (i == g->self) {
        struct member *self = &g->m[i];
        if (st == GOSSIP_ALIVE || u->incarnation < self->incarnation)
            return 0;
        if (st == self->state && u->incarnation == self->incarnation)
            return 0;
        return refute(g, u->incarnation, sender_addr) == 0 ? 0 : -1;
    }
    struct gossip_addr addr;
    if (i == GOSSIP_NONE) {
        /* A suspicion of a stranger is ignored, as memberlist does: we
         * could not time it out fairly. Dead, left and off strangers are
         * learned, so a newcomer knows the hosts that are down or off. */
        if (st == GOSSIP_SUSPECT || !addr_from_wire(u->ip, u->port, &addr))
            return 0;
        /* One that has been dead or gone longer than we keep such members
         * was forgotten here, or is about to be by the peer: learning it
         * again would keep it for another whole period. One younger is
         * forgotten when the others forget it. */
        int64_t age_ms = u->state_age_ms;
        if (age_ms >= reap_after_ms(g, st))
            return 0;
        i = member_add(g, u->id, &addr, st, u->incarnation);
        if (i == GOSSIP_NONE)
            return -1;
        g->m[i].changed_ms = g->now_ms - age_ms;
        if (member_set_wake(g, i, u->wake.data, u->wake.len) != 0)
            return -1;
        if (rebroadcast && bcast_member(g, i, u->from) != 0)
            return -1;
        return 1;
    }
    struct member *m = &g->m[i];
    if (u->incarnation < m->incarnation)
        return 0;
    if (u->incarnation == m->incarnation && st == GOSSIP_SUSPECT && m->state == GOSSIP_SUSPECT) {
        /* An independent suspicion confirms ours (Lifeguard section 4.2);
         * pass on only the confirmations that are new to us. */
        if (suspicion_confirm(g, i, u->from) && rebroadcast)
            return bcast_member(g, i, u->from) == 0 ? 1 : -1;
        return 0;
    }
    if (u->incarnation == m->incarnation && precedence(st) <= precedence(m->state))
        return 0;
    if (st == GOSSIP_ALIVE && addr_from_wire(u->ip, u->port, &addr))
        m->addr = addr; /* a restarted member may have moved */
    if (member_set_state(g, i, st, u->incarnation) != 0)
        return -1;
    if (st == GOSSIP_DEAD || st == GOSSIP_LEFT)
        m->changed_ms = g->now_ms - u->state_age_ms;
    if (st == GOSSIP_SUSPECT && suspicion_start(g, i, u->from) != 0)
        return -1;
    if (member_set_wake(g, i, u->wake.data, u->wake.len) != 0)
        return -1;
    if (rebroadcast && bcast_member(g, i, u->from) != 0)
        return -1;
    return 1;
}

int record_apply(struct gossip *g, uint64_t id, uint64_t version, const uint8_t *data, size_t len,
                 bool rebroadcast) {
    uint32_t i = member_find(g, id);
    if (i == GOSSIP_NONE || version <= g->m[i].record_version)
        return 0;
    struct member *m = &g->m[i];
    if (i == g->self) {
        /* A copy from a previous life of ours is newer than what we
         * publish now: outnumber it, as with incarnations. */
        m->record_version = version + 1;
        return bcast_record(g, i);
    }
    struct gossip_blob *b;
    if (g->cfg.store.get) {
        b = g->cfg.store.get(g->cfg.store.ctx, id, version, data, len);
    } else {
        b = malloc(sizeof *b + len);
        if (b) {
            b->refs = 1;
            b->len = (uint32_t)len;
            memcpy(b->data, data, len);
        }
    }
    if (!b)
        return -1;
    if (m->record)
        gossip_blob_unref(m->record);
    m->record = b;
    m->record_version = version;
    if (m->wanted) {
        m->wanted = 0;
        g->n_wanted--;
    }
    if (event_push(g, &(struct gossip_event){.kind = GOSSIP_EV_RECORD,
                                             .id = id,
                                             .state = m->state,
                                             .old_state = m->state,
                                             .incarnation = m->incarnation,
                                             .record_version = version}) != 0)
        return -1;
    return rebroadcast ? bcast_record(g, i) : 0;
}

void gossip_blob_unref(struct gossip_blob *b) {
    if (b && --b->refs == 0)
        free(b);
}

bool member_probeable(const struct member *m) {
    return counts_alive(m->state);
}

/* Rejection sampling: cheap while most members qualify, which is the normal
 * case; gives up after a bounded number of tries. */
uint32_t member_random(struct gossip *g, bool (*ok)(const struct member *m)) {
    if (g->n < 2)
        return GOSSIP_NONE;
    for (int t = 0; t < 32; t++) {
        uint32_t i = (uint32_t)prng_below(&g->rng, g->n);
        if (i != g->self && ok(&g->m[i]))
            return i;
    }
    return GOSSIP_NONE;
}

uint32_t log10_ceil(uint32_t n) {
    uint32_t d = 0;
    for (uint64_t p = 1; p < n; p *= 10)
        d++;
    return d;
}
