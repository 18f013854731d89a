/* The member table and SWIM's update rules.
 *
 * An update (state, incarnation) about a member overrides the one held if
 * its incarnation is higher, or equal with a state of higher precedence
 * (ALIVE < SUSPECT < DEAD < LEFT = OFF): SWIM section 4.2, as memberlist's
 * aliveNode/suspectNode/deadNode. Only the member itself raises its
 * incarnation, to refute a suspicion or to announce LEFT/OFF. DEAD and
 * LEFT members are forgotten after a while, as Serf's reaper does
 * (reconnect_timeout, tombstone_timeout).
 *
 * What one member says about another is bounded (docs/security.md, "Sane
 * values"); the sender of a packet is authenticated (gossip_receive).
 * - Only a member raises its incarnation, but its refutations and
 *   announcements reach most members through others. So each member's
 *   incarnation has an anchor: the last one the member told us itself (its
 *   own entry in a packet it sent: a push-pull, its gossip, its acks), or
 *   the first one we learned. Others may raise the incarnation up to
 *   GOSSIP_INCARNATION_STEP above the anchor, no further, however many
 *   times they try; beyond, the claim is refused and counted, and the
 *   member is asked for its own word (a ping: its ack carries its entry).
 *   A claim at UINT32_MAX, which a refutation would wrap to 0 and lose to,
 *   is refused by everyone who knows the member.
 * - The member's own word is taken at any value above ours, and below ours
 *   when ours is more than a step above it (what others told us was not
 *   the member's: a lie, or a previous life that lost its state); an older
 *   word of its own within a step below is a reordered packet, ignored.
 * - The member refutes claims about itself up to a step above its own
 *   incarnation: no anchor of anyone's is above it, except a previous life
 *   whose snapshot lagged (written within seconds). It refutes at most
 *   once per probe interval and never past UINT32_MAX, so a liar who
 *   claimed a step above every time would need 2^32 / (STEP + 1)
 *   refutations: 1.6 years at 200 ms.
 * - A record version is believed only with the record, sealed by its owner
 *   (cfg.record_verify, in record_apply): an announced version only makes
 *   us fetch it.  */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "gossip_internal.h"

_Static_assert(GOSSIP_INCARNATION_STEP <= UINT8_MAX, "member.above_anchor holds a step");

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

static int emit_state(struct gossip *g, uint32_t i, enum gossip_state old, bool learned) {
    const struct member *m = &g->m[i];
    return event_push(g, &(struct gossip_event){.kind = GOSSIP_EV_STATE,
                                                .learned = learned,
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
    if (emit_state(g, i, state, true) != 0)
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
    return emit_state(g, i, old, false);
}

int member_set_wake(struct gossip *g, uint32_t i, const uint8_t *wake, size_t len) {
    struct member *m = &g->m[i];
    if (len > GOSSIP_WAKE_MAX)
        reject_count(&g->rejects, GOSSIP_REJECT_WAKE);
    if (m->state != GOSSIP_OFF || len == 0 || len > GOSSIP_WAKE_MAX)
        return 0;
    struct gossip_blob *b = blob_copy(wake, len);
    if (!b)
        return -1;
    aux_free(m);
    m->aux = b;
    return 0;
}

int refute(struct gossip *g, uint32_t over_incarnation, const struct gossip_addr *tell) {
    struct member *self = &g->m[g->self];
    if (self->state == GOSSIP_LEFT || self->state == GOSSIP_OFF)
        return 0; /* we are going away: the news is true */
    if (over_incarnation < self->incarnation)
        return 0; /* refuted already */
    assert(over_incarnation < UINT32_MAX);
    if (g->now_ms < g->next_refute_ms) {
        if (!g->refute_pending || over_incarnation > g->refute_over)
            g->refute_over = over_incarnation;
        g->refute_pending = true;
        return 0;
    }
    g->refute_pending = false;
    g->next_refute_ms = g->now_ms + g->cfg.probe_interval_ms;
    g->counts.refutations++;
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

int refute_tick(struct gossip *g) {
    if (!g->refute_pending || g->now_ms < g->next_refute_ms)
        return 0;
    g->refute_pending = false;
    return refute(g, g->refute_over, NULL);
}

/* A claim about us: refuted if it is plausible (see the top of the file). */
static int self_apply(struct gossip *g, const Nodectl__GossipMember *u, enum gossip_state st,
                      const struct gossip_addr *sender_addr) {
    const struct member *self = &g->m[g->self];
    if (st == GOSSIP_ALIVE || u->incarnation < self->incarnation)
        return 0;
    if (st == self->state && u->incarnation == self->incarnation)
        return 0;
    if (u->incarnation - self->incarnation > GOSSIP_INCARNATION_STEP ||
        u->incarnation == UINT32_MAX) {
        refuse(g, GOSSIP_REFUSED_INCARNATION);
        return 0;
    }
    return refute(g, u->incarnation, sender_addr) == 0 ? 0 : -1;
}

/* Others claim more about member i than its anchor allows: ask i itself,
 * within a budget per probe interval (any member can make us ask). */
static int ask_member(struct gossip *g, uint32_t i) {
    if (g->now_ms >= g->asks_reset_ms) {
        g->asks_reset_ms = g->now_ms + g->cfg.probe_interval_ms;
        g->asks_left = GOSSIP_ASKS_PER_INTERVAL;
    }
    if (g->asks_left == 0)
        return 0;
    g->asks_left--;
    return probe_ask(g, i);
}

/* How an update about known member i weighs, by who says it (see the top
 * of the file): UPDATE_OLD, nothing to do; UPDATE_NEW, newer by SWIM's
 * rules; UPDATE_OVERRIDE, the member's own word overrides what others told
 * us; UPDATE_REFUSED, beyond the step others may move it. */
enum update_weight { UPDATE_OLD, UPDATE_NEW, UPDATE_OVERRIDE, UPDATE_REFUSED };

/* The member's own word moves the anchor even when it changes nothing
 * else. */
static enum update_weight weigh(struct member *m, const Nodectl__GossipMember *u,
                                enum gossip_state st, bool own) {
    uint32_t held = m->incarnation, anchor = held - m->above_anchor;
    if (own && u->incarnation < held) {
        if (held - u->incarnation > GOSSIP_INCARNATION_STEP)
            return UPDATE_OVERRIDE;
        if (u->incarnation > anchor)
            m->above_anchor = (uint8_t)(held - u->incarnation);
        return UPDATE_OLD;
    }
    if (!own && u->incarnation > held && u->incarnation - anchor > GOSSIP_INCARNATION_STEP)
        return UPDATE_REFUSED;
    if (u->incarnation < held)
        return UPDATE_OLD;
    if (u->incarnation == held && precedence(st) <= precedence(m->state)) {
        if (own)
            m->above_anchor = 0;
        return UPDATE_OLD;
    }
    return UPDATE_NEW;
}

int member_apply(struct gossip *g, const Nodectl__GossipMember *u, bool rebroadcast,
                 const struct gossip_addr *sender_addr, uint64_t sender) {
    if ((unsigned)u->state > GOSSIP_OFF) {
        reject_count(&g->rejects, GOSSIP_REJECT_STATE);
        return 0;
    }
    enum gossip_state st = (enum gossip_state)u->state;
    uint32_t i = member_find(g, u->id);
    if (i == g->self)
        return self_apply(g, u, st, sender_addr);
    struct gossip_addr addr;
    if (i == GOSSIP_NONE) {
        /* A suspicion of a stranger is ignored, as memberlist does: we
         * could not time it out fairly. Dead, left and off strangers are
         * learned, so a newcomer knows the hosts that are down or off. */
        if (st == GOSSIP_SUSPECT)
            return 0;
        if (!addr_from_wire(u->ip, u->port, &addr)) {
            reject_count(&g->rejects, GOSSIP_REJECT_ADDRESS);
            return 0;
        }
        if (g->n >= GOSSIP_MEMBERS_MAX) {
            reject_count(&g->rejects, GOSSIP_REJECT_TABLE_FULL);
            return 0;
        }
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
    bool own = sender == u->id;
    if (!own && u->incarnation == m->incarnation && st == GOSSIP_SUSPECT &&
        m->state == GOSSIP_SUSPECT) {
        /* An independent suspicion confirms ours (Lifeguard section 4.2);
         * pass on only the confirmations that are new to us. */
        if (suspicion_confirm(g, i, u->from) && rebroadcast)
            return bcast_member(g, i, u->from) == 0 ? 1 : -1;
        return 0;
    }
    uint32_t anchor = m->incarnation - m->above_anchor;
    switch (weigh(m, u, st, own)) {
    case UPDATE_OLD: return 0;
    case UPDATE_REFUSED:
        refuse(g, GOSSIP_REFUSED_INCARNATION);
        return ask_member(g, i) == 0 ? 0 : -1;
    case UPDATE_NEW:
    case UPDATE_OVERRIDE: break;
    }
    /* The anchor stays, unless the member said it. */
    m->above_anchor = own ? 0 : (uint8_t)(u->incarnation - anchor);
    if (st == GOSSIP_ALIVE) {
        /* A restarted member may have moved. */
        if (addr_from_wire(u->ip, u->port, &addr))
            m->addr = addr;
        else
            reject_count(&g->rejects, GOSSIP_REJECT_ADDRESS);
    }
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

struct gossip_blob *blob_copy(const uint8_t *data, size_t len) {
    struct gossip_blob *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = (uint32_t)len;
    if (len)
        memcpy(b->data, data, len);
    return b;
}

int own_record_seal(struct gossip *g, uint64_t version) {
    uint8_t *sealed;
    size_t len;
    if (g->cfg.record_seal(g->cfg.record_ctx, version, g->own_record->data, g->own_record->len,
                           &sealed, &len) != 0)
        return -1;
    struct gossip_blob *b = len <= GOSSIP_RECORD_MAX ? blob_copy(sealed, len) : NULL;
    free(sealed);
    if (!b)
        return -1;
    struct member *self = &g->m[g->self];
    gossip_blob_unref(self->record);
    self->record = b;
    self->record_version = version;
    return bcast_record(g, g->self);
}

/* A copy of our record from a previous life, sealed by us, is newer than
 * what we publish now: outnumber it, as with incarnations. */
static int outnumber(struct gossip *g, uint64_t version) {
    struct member *self = &g->m[g->self];
    if (version == UINT64_MAX)
        return 0; /* sealed by us, yet never reached: versions move by one */
    if (!g->cfg.record_seal) {
        self->record_version = version + 1;
        return bcast_record(g, g->self);
    }
    if (!g->own_record) {
        self->record_version = version; /* the first record goes above it */
        return 0;
    }
    return own_record_seal(g, version + 1);
}

int record_apply(struct gossip *g, uint64_t id, uint64_t version, const uint8_t *data, size_t len,
                 bool rebroadcast) {
    uint32_t i = member_find(g, id);
    if (i == GOSSIP_NONE || version <= g->m[i].record_version)
        return 0;
    if (g->cfg.record_verify &&
        !g->cfg.record_verify(g->cfg.record_ctx, id, version, data, len)) {
        refuse(g, GOSSIP_REFUSED_RECORD);
        return 0;
    }
    if (i == g->self)
        return outnumber(g, version);
    struct member *m = &g->m[i];
    struct gossip_blob *b = g->cfg.store.get
                                ? g->cfg.store.get(g->cfg.store.ctx, id, version, data, len)
                                : blob_copy(data, len);
    if (!b)
        return -1;
    if (m->record)
        gossip_blob_unref(m->record);
    m->record = b;
    m->record_version = version;
    g->counts.records++;
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
