/* Anti-entropy (SWIM's dissemination is probabilistic; memberlist's
 * push-pull makes it certain): every push-pull interval a node sends its
 * whole member list to one random member, which merges it and answers with
 * its own. Records are not sent in full: each entry carries the version of
 * the member's record, and the receiver asks for the ones it lacks
 * (digest then fetch, as in van Renesse et al., "Efficient Reconciliation
 * and Flow Control for Anti-Entropy Protocols", 2008). A record travels in
 * GOSSIP_CHUNK pieces, so no packet exceeds packet_max however large the
 * record. The same fetch serves records announced by gossip that were too
 * big to piggyback.
 *
 * The state is sent as a stream of packets; losing one loses only its
 * members until the next exchange. The interval grows with the cluster as
 * in memberlist (pushPullScale): times ceil(log2(N) - log2(32)) + 1 above
 * 32 members, so the load per node stays near constant. Each round also
 * probes one random dead member, as Serf's reconnect does, so that two
 * sides of a healed partition find each other again, until it is reaped
 * (Serf's reconnect_timeout; gossip_members.c). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gossip_internal.h"

static uint32_t interval_ms(const struct gossip *g) {
    uint32_t n = g->n_alive;
    if (n <= 32)
        return g->cfg.push_pull_interval_ms;
    uint32_t mult = (uint32_t)ceil(log2((double)n) - 5.0) + 1;
    return g->cfg.push_pull_interval_ms * mult;
}

int push_pull_send(struct gossip *g, const struct gossip_addr *to, bool reply) {
    struct pkt p;
    uint32_t piece = 0;
    pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL);
    p.msg.reply = reply;
    for (uint32_t i = 0; i < g->n; i++) {
        const struct member *m = &g->m[i];
        uint64_t from = 0;
        if (m->state == GOSSIP_SUSPECT && m->aux)
            from = ((const struct suspicion *)m->aux)->from[0];
        if (pkt_add_member(&p, m, from, true))
            continue;
        if (pkt_send(g, &p, to) != 0)
            return -1;
        pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL);
        p.msg.reply = reply;
        p.msg.piece = ++piece;
        pkt_add_member(&p, m, from, true);
    }
    return pkt_send(g, &p, to);
}

static bool is_dead(const struct member *m) {
    return m->state == GOSSIP_DEAD;
}

/* The reconnect probe is the first piece of a push-pull with just two
 * entries, ours and the member's as we see it: if it is alive after all
 * (a partition healed), it learns it is thought dead, refutes straight back
 * to us and answers with its full state. A dead member costs one packet. */
static int reconnect(struct gossip *g, uint32_t i) {
    struct pkt p;
    pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL);
    pkt_add_member(&p, &g->m[g->self], 0, true);
    pkt_add_member(&p, &g->m[i], g->m[g->self].id, true);
    return pkt_send(g, &p, &g->m[i].addr);
}

static void reassembly_drop(struct gossip *g, uint32_t r) {
    free(g->reasm[r].data);
    free(g->reasm[r].have);
    g->reasm[r] = g->reasm[--g->n_reasm];
}

void reassembly_free_all(struct gossip *g) {
    while (g->n_reasm)
        reassembly_drop(g, 0);
}

static uint32_t reassembly_find(const struct gossip *g, uint64_t id);

void reassembly_forget(struct gossip *g, uint64_t id) {
    uint32_t r = reassembly_find(g, id);
    if (r != GOSSIP_NONE)
        reassembly_drop(g, r);
}

static int send_want(struct gossip *g, const uint64_t *ids, size_t n, const struct gossip_addr *to);
static int want_tick(struct gossip *g);

/* A record request or its pieces may be lost: ask again, a few times,
 * each after a longer wait (reask_at), the owner and the latest announcer
 * in turn. The first ask goes to whoever announced or listed the record,
 * which spreads a new record's fetches over the members that relay it; an
 * ask it left unanswered goes next to the owner, which has the newest
 * record and is asked by no more than the fetches that failed once: a
 * relay that paused or crashed after it announced would otherwise be
 * asked again until its asks were spent (their waits sum to seconds). A
 * fetch whose asks are spent is dropped one wait after the last, and
 * want_tick asks the owner instead (GOSSIP_RECORD_ASKS more times, a probe
 * interval apart): kept, it would wait for its deadline, a push-pull
 * interval, before anyone was asked again. At 10 % loss a request and its answer both arrive 81 % of
 * the time, so 8 asks all fail once in 600,000 fetches: about twice in the
 * 10 simulated minutes at N = 1,000 of bench/gossip.sh (a million fetches),
 * and each such update then took 30 s. */
static int64_t reask_at(const struct gossip *g, const struct reassembly *ra) {
    /* Each ask waits longer (a probe timeout more each time), and longer
     * still while our local health is poor or round trips are long
     * (probe_wait_ms): a peer whose loop runs late answers late, and asking
     * it again every 100 ms would send it (and bring back) up to
     * GOSSIP_RECORD_ASKS copies of the record exactly when it is busiest,
     * the feedback of a metastable failure. */
    return ra->asked_ms + (int64_t)probe_wait_ms(g) * (1 + ra->asks);
}

int push_pull_tick(struct gossip *g) {
    for (uint32_t r = 0; r < g->n_reasm;) {
        struct reassembly *ra = &g->reasm[r];
        bool spent = ra->asks >= GOSSIP_RECORD_ASKS && reask_at(g, ra) <= g->now_ms;
        if (spent || ra->deadline_ms <= g->now_ms) {
            reassembly_drop(g, r);
            continue;
        }
        if (reask_at(g, ra) <= g->now_ms) {
            uint32_t owner = member_find(g, ra->id);
            bool to_owner = !ra->asked_owner && owner != GOSSIP_NONE && owner != g->self &&
                            member_probeable(&g->m[owner]);
            ra->asks++;
            ra->asked_ms = g->now_ms;
            ra->asked_owner = to_owner;
            if (send_want(g, &ra->id, 1, to_owner ? &g->m[owner].addr : &ra->peer) != 0)
                return -1;
        }
        r++;
    }
    if (want_tick(g) != 0)
        return -1;
    if (g->now_ms < g->next_push_pull_ms)
        return 0;
    g->next_push_pull_ms = g->now_ms + interval_ms(g);
    /* Once per exchange: the scan costs as much as the state sent. */
    if (members_reap(g) != 0)
        return -1;
    uint32_t i = member_random(g, member_probeable);
    if (i != GOSSIP_NONE && push_pull_send(g, &g->m[i].addr, false) != 0)
        return -1;
    i = member_random(g, is_dead);
    return i == GOSSIP_NONE ? 0 : reconnect(g, i);
}

/* The fetches in flight are at most GOSSIP_REASSEMBLY_MAX; a node that
 * (re)joins may lack hundreds of records. Every probe interval a slice of
 * the member table is scanned for records still wanted and not in flight,
 * and each is asked of its owner (which has its newest record), or of a
 * random member if the owner is down, a few times before the next
 * push-pull takes over. */
static int want_tick(struct gossip *g) {
    if (g->n_wanted == 0 || g->now_ms < g->next_want_ms)
        return 0;
    g->next_want_ms = g->now_ms + scaled_ms(g, g->cfg.probe_interval_ms);
    uint32_t asked = 0;
    for (uint32_t k = 0; k < GOSSIP_WANT_SCAN && k < g->n && asked < GOSSIP_WANT_PER_TICK; k++) {
        uint32_t i = g->want_cursor++ % g->n;
        struct member *m = &g->m[i];
        if (!m->wanted || reassembly_find(g, m->id) != GOSSIP_NONE)
            continue;
        uint32_t peer = member_probeable(m) ? i : member_random(g, member_probeable);
        if (--m->wanted == 0)
            g->n_wanted--;
        if (peer == GOSSIP_NONE)
            continue;
        asked++;
        if (send_want(g, &m->id, 1, &g->m[peer].addr) != 0)
            return -1;
    }
    return 0;
}

void push_pull_rephase(struct gossip *g) {
    g->next_push_pull_ms = g->now_ms + (int64_t)prng_below(&g->rng, interval_ms(g));
}

int64_t push_pull_next_deadline(const struct gossip *g) {
    int64_t d = g->next_push_pull_ms;
    if (g->n_wanted > 0 && g->next_want_ms < d)
        d = g->next_want_ms;
    for (uint32_t r = 0; r < g->n_reasm; r++) {
        int64_t t = reask_at(g, &g->reasm[r]);
        if (t < d)
            d = t;
    }
    return d;
}

static uint32_t reassembly_find(const struct gossip *g, uint64_t id) {
    for (uint32_t r = 0; r < g->n_reasm; r++)
        if (g->reasm[r].id == id)
            return r;
    return GOSSIP_NONE;
}

/* Starts collecting (id, version); returns its slot, or GOSSIP_NONE if it
 * is already being collected and asked for recently, or (with *oom)
 * memory ran out. A fetch of a higher version goes on, unless the owner
 * itself says which is its newest (owner): a version that another member
 * announced may be one the owner never made, and only its record, which
 * the owner sealed, proves it (gossip_members.c). */
static uint32_t reassembly_start(struct gossip *g, uint64_t id, uint64_t version, uint32_t total,
                                 const struct gossip_addr *peer, bool owner, bool *oom) {
    *oom = false;
    uint32_t r = reassembly_find(g, id);
    if (r != GOSSIP_NONE) {
        struct reassembly *old = &g->reasm[r];
        if (old->version > version && !owner)
            return GOSSIP_NONE;
        /* Ask again (another peer, usually) once an answer is overdue:
         * the request or the pieces may have been lost. */
        if (old->version == version) {
            /* The latest announcer is asked next: the first may have
             * crashed since. */
            old->peer = *peer;
            if (g->now_ms - old->asked_ms < (int64_t)probe_wait_ms(g))
                return GOSSIP_NONE;
            old->asked_ms = g->now_ms;
            old->asked_owner = owner;
            return r;
        }
        reassembly_drop(g, r);
    }
    if (g->n_reasm == GOSSIP_REASSEMBLY_MAX) {
        uint32_t oldest = 0;
        for (uint32_t k = 1; k < g->n_reasm; k++)
            if (g->reasm[k].deadline_ms < g->reasm[oldest].deadline_ms)
                oldest = k;
        reassembly_drop(g, oldest);
    }
    uint32_t chunks = (total + GOSSIP_CHUNK - 1) / GOSSIP_CHUNK;
    struct reassembly *ra = &g->reasm[g->n_reasm];
    *ra = (struct reassembly){.id = id, .version = version, .total = total,
                              .chunks_left = chunks, .asks = 1, .peer = *peer,
                              .asked_owner = owner,
                              .asked_ms = g->now_ms,
                              .deadline_ms = g->now_ms + g->cfg.push_pull_interval_ms};
    ra->data = malloc(total ? total : 1);
    ra->have = calloc(chunks ? chunks : 1, 1);
    if (!ra->data || !ra->have) {
        free(ra->data);
        free(ra->have);
        *oom = true;
        return GOSSIP_NONE;
    }
    return g->n_reasm++;
}

static int send_want(struct gossip *g, const uint64_t *ids, size_t n, const struct gossip_addr *to) {
    struct pkt p;
    pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_WANT);
    for (size_t k = 0; k < n; k++) {
        if (pkt_add_want(&p, ids[k]))
            continue;
        if (pkt_send(g, &p, to) != 0)
            return -1;
        pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_WANT);
        pkt_add_want(&p, ids[k]);
    }
    return p.msg.n_want ? pkt_send(g, &p, to) : 0;
}

/* Marks (id, version) as being fetched; true if the caller should ask. Our
 * own record is fetched too when a peer holds a higher version than ours:
 * if we sealed it in a previous life, we outnumber it (record_apply). */
static bool want_record(struct gossip *g, uint64_t id, uint64_t version, uint32_t total,
                        const struct gossip_addr *peer, bool owner, bool *oom) {
    *oom = false;
    if (total == 0)
        return false;
    uint32_t i = member_find(g, id);
    if (i != GOSSIP_NONE && i != g->self) {
        if (!g->m[i].wanted)
            g->n_wanted++;
        g->m[i].wanted = GOSSIP_RECORD_ASKS;
    }
    return reassembly_start(g, id, version, total, peer, owner, oom) != GOSSIP_NONE;
}

/* p has at most GOSSIP_PKT_MEMBERS members (gossip_receive refuses more),
 * so want[] holds one per member; the loop bound says so again. */
int push_pull_on_packet(struct gossip *g, const Nodectl__GossipPacket *p,
                        const struct gossip_addr *from) {
    uint64_t want[GOSSIP_PKT_MEMBERS];
    size_t n_want = 0;
    uint32_t known = g->n;
    bool joining = p->reply && !g->joined;
    assert(p->n_members <= GOSSIP_PKT_MEMBERS);
    for (size_t k = 0; k < p->n_members && n_want < GOSSIP_PKT_MEMBERS; k++) {
        Nodectl__GossipMember u = *p->members[k];
        uint32_t i = member_find(g, u.id);
        /* memberlist's mergeState: a peer's "dead" becomes our suspicion,
         * so stale state from one peer cannot kill a member outright. */
        if (i != GOSSIP_NONE && i != g->self && u.state == NODECTL__GOSSIP_STATE__GOSSIP_STATE_DEAD)
            u.state = NODECTL__GOSSIP_STATE__GOSSIP_STATE_SUSPECT;
        /* memberlist's mergeState applies remote state through aliveNode,
         * suspectNode and deadNode, which broadcast what changed: news that
         * reached us only by push-pull (our gossip missed it, so others'
         * may have too) is gossiped on. Not from the answer to our join:
         * the whole table is new to us and none of it to the others, except
         * the sender's own entry. */
        if (member_apply(g, &u, u.id == p->sender || !joining, from, p->sender) < 0)
            return -1;
        i = member_find(g, u.id);
        if (i == GOSSIP_NONE || u.record_version <= g->m[i].record_version)
            continue;
        /* The size is unknown until the first piece comes: hold a one-byte
         * placeholder, resized by records_on_piece. */
        bool oom;
        if (want_record(g, u.id, u.record_version, 1, from, u.id == p->sender, &oom))
            want[n_want++] = u.id;
        else if (oom)
            return -1;
    }
    if (n_want && send_want(g, want, n_want, from) != 0)
        return -1;
    /* An answer that taught us members means we (re)joined or missed a
     * lot: exchange again soon, with someone else, to fill what the loss
     * of some of its packets left out. */
    if (p->reply && g->n > known) {
        int64_t soon = g->now_ms + 5 * (int64_t)g->cfg.probe_interval_ms;
        if (soon < g->next_push_pull_ms)
            g->next_push_pull_ms = soon;
    }
    if (p->reply)
        g->joined = true;
    else if (p->piece == 0 && push_pull_send(g, from, true) != 0)
        return -1;
    return 0;
}

/* Appends member m's record to q in pieces, sending q to `to` whenever it
 * is full. */
static int pieces_add(struct gossip *g, struct pkt *q, const struct member *m,
                      const struct gossip_addr *to) {
    const struct gossip_blob *r = m->record;
    uint32_t off = 0;
    do {
        uint32_t len = r->len - off < GOSSIP_CHUNK ? r->len - off : GOSSIP_CHUNK;
        if (!pkt_add_record(q, m->id, m->record_version, r->len, off, r->data + off, len)) {
            if (pkt_send(g, q, to) != 0)
                return -1;
            pkt_init(g, q, NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES);
            pkt_add_record(q, m->id, m->record_version, r->len, off, r->data + off, len);
        }
        off += len;
    } while (off < r->len);
    return 0;
}

int records_on_want(struct gossip *g, const Nodectl__GossipPacket *p,
                    const struct gossip_addr *from) {
    struct pkt q;
    pkt_init(g, &q, NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES);
    for (size_t k = 0; k < p->n_want; k++) {
        uint32_t i = member_find(g, p->want[k]);
        if (i == GOSSIP_NONE || !g->m[i].record)
            continue;
        /* One answer per record, however often the packet names it: a
         * small want must not draw many copies of a large record. */
        bool again = false;
        for (size_t j = 0; j < k && !again; j++)
            again = p->want[j] == p->want[k];
        if (!again && pieces_add(g, &q, &g->m[i], from) != 0)
            return -1;
    }
    return q.msg.n_records ? pkt_send(g, &q, from) : 0;
}

int gossip_push_record(struct gossip *g, int64_t now_ms) {
    if (!g)
        return -1;
    if (now_ms > g->now_ms)
        g->now_ms = now_ms;
    const struct member *self = &g->m[g->self];
    if (!self->record)
        return 0;
    for (uint32_t i = 0; i < g->n; i++) {
        if (i == g->self || !member_probeable(&g->m[i]))
            continue;
        struct pkt q;
        pkt_init(g, &q, NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES);
        if (pieces_add(g, &q, self, &g->m[i].addr) != 0 ||
            (q.msg.n_records && pkt_send(g, &q, &g->m[i].addr) != 0))
            return -1;
    }
    return 0;
}

/* A record of a member we do not know: our member list has a gap, which
 * gossip will not fill (a member's alive news went out when it joined, and
 * record announcements carry no address). It happens to a node that
 * (re)joined when the pieces of the answers that listed that member were
 * lost, and the exchange that follows (push_pull_on_packet) was lost too:
 * until the next push-pull, a push-pull interval later (180 s at
 * N = 1,000), it ignored every record of that member, and each update of
 * one waited for it (the slowest updates in nodesim at 10 % loss). The
 * sender knows the member: exchange with it now, at most once per probe
 * interval, so that the announcements of one update, which all come within
 * a second or so, give a few tries in case that exchange loses the entry
 * too (five probe intervals apart, one try often was all: an update of
 * seed 1 still took 22 s). Once the gap is filled, no more come. */
static int gap_pull(struct gossip *g, const struct gossip_addr *from) {
    if (g->now_ms < g->next_gap_pull_ms)
        return 0;
    g->next_gap_pull_ms = g->now_ms + g->cfg.probe_interval_ms;
    return push_pull_send(g, from, false);
}

int records_on_piece(struct gossip *g, const Nodectl__GossipRecord *r,
                     const struct gossip_addr *from, uint64_t sender) {
    uint32_t i = member_find(g, r->id);
    if (i == GOSSIP_NONE)
        return gap_pull(g, from);
    if (r->version <= g->m[i].record_version)
        return 0;
    if (r->total_len > GOSSIP_RECORD_MAX || r->offset > r->total_len ||
        r->data.len > r->total_len - r->offset) {
        reject_count(&g->rejects, GOSSIP_REJECT_RECORD_SIZE);
        return 0;
    }
    bool owner = sender == r->id;
    uint32_t s = reassembly_find(g, r->id);
    if (r->offset == 0 && r->data.len == r->total_len) {
        int rc = record_apply(g, r->id, r->version, r->data.data, r->data.len, true);
        /* Only a record believed ends a fetch of an older version. */
        if (rc == 0 && s != GOSSIP_NONE && g->reasm[s].version <= g->m[i].record_version)
            reassembly_drop(g, s);
        return rc;
    }
    bool oom;
    if (r->data.len == 0) {
        /* An announcement of a record too big to piggyback. */
        if (want_record(g, r->id, r->version, r->total_len, from, owner, &oom))
            return send_want(g, &r->id, 1, from);
        return oom ? -1 : 0;
    }
    uint32_t chunk = r->offset / GOSSIP_CHUNK;
    uint32_t expect = r->total_len - r->offset < GOSSIP_CHUNK ? r->total_len - r->offset
                                                              : GOSSIP_CHUNK;
    if (r->offset % GOSSIP_CHUNK != 0 || r->data.len != expect) {
        reject_count(&g->rejects, GOSSIP_REJECT_PIECE);
        return 0;
    }
    if (s != GOSSIP_NONE && (g->reasm[s].version != r->version || g->reasm[s].total != r->total_len)) {
        if (g->reasm[s].version > r->version && !owner)
            return 0;
        reassembly_drop(g, s);
        s = GOSSIP_NONE;
    }
    if (s == GOSSIP_NONE) {
        s = reassembly_start(g, r->id, r->version, r->total_len, from, owner, &oom);
        if (s == GOSSIP_NONE)
            return oom ? -1 : 0;
    }
    struct reassembly *ra = &g->reasm[s];
    if (ra->have[chunk])
        return 0;
    ra->have[chunk] = 1;
    memcpy(ra->data + r->offset, r->data.data, r->data.len);
    if (--ra->chunks_left > 0)
        return 0;
    /* Verified whole, by record_apply: a forged one is dropped like a lost
     * one, and the member stays wanted, so its owner is asked (want_tick). */
    int rc = record_apply(g, ra->id, ra->version, ra->data, ra->total, true);
    reassembly_drop(g, s);
    return rc;
}
