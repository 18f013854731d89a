/* Lifecycle, configuration, the input dispatch and the timers. */
#include <stdlib.h>
#include <string.h>

#include "gossip_internal.h"

_Static_assert(GOSSIP_REJECT_REASONS <= REJECT_REASONS_MAX, "struct rejects holds every reason");

void gossip_config_memberlist_lan(struct gossip_config *c) {
    *c = (struct gossip_config){
        .probe_interval_ms = 1000,
        .probe_timeout_ms = 500,
        .indirect_checks = 3,
        .suspicion_mult = 4,
        .suspicion_max_timeout_mult = 6,
        .retransmit_mult = 4,
        .push_pull_interval_ms = 30000,
        .gossip_interval_ms = 200,
        .gossip_nodes = 3,
        .awareness_max_multiplier = 8,
        .packet_max = 1400,
        .reap_dead_ms = 24u * 3600 * 1000,
        .reap_left_ms = 24u * 3600 * 1000,
    };
}

/* The agent's defaults: memberlist's LAN values, changed where the
 * targets require (measured with bench/gossip.sh against those values):
 * - probe every 200 ms, timeout 100 ms: the first probe of a crashed node
 *   comes after about one interval on average but 4.6 intervals at p99, so
 *   detection within 4 s needs a short interval (memberlist's 1 s gives a
 *   p99 near 20 s);
 * - suspicion_mult 3: the unconfirmed timeout (max) stays 6 * 3 * log10(N)
 *   intervals, ample for a refutation; one confirmation (k = 1) brings it
 *   down to the minimum;
 * - 5 indirect checks: at 10 % loss a probe fails in all of 1 + 5 paths
 *   (plus the second direct ping) far less often, so refutations are rare;
 * - retransmit_mult 8: with 4, a node misses a given broadcast with
 *   probability about e^-(4 log10 N * 0.9), which at 10 % loss left a few
 *   nodes without a refutation until the next push-pull: false positives.
 * A host is then declared dead after about a second without answers in a
 * small cluster, so the agent's loop must never wait that long: libvirt is
 * sampled in a thread of its own (src/hv/hv_sampler.c); a migration's end
 * held its bulk stats for up to 2.8 s on the rig. */
void gossip_config_defaults(struct gossip_config *c) {
    gossip_config_memberlist_lan(c);
    c->probe_interval_ms = 200;
    c->probe_timeout_ms = 100;
    c->indirect_checks = 5;
    c->suspicion_mult = 3;
    c->retransmit_mult = 8;
}

const char *gossip_config_check(const struct gossip_config *c) {
    if (c->probe_interval_ms == 0)
        return "probe_interval must be positive";
    if (c->probe_timeout_ms == 0 || c->probe_timeout_ms >= c->probe_interval_ms)
        return "probe_timeout must be positive and shorter than probe_interval";
    if (c->suspicion_mult == 0 || c->suspicion_max_timeout_mult == 0)
        return "suspicion_mult and suspicion_max_timeout_mult must be positive";
    if (c->retransmit_mult == 0)
        return "retransmit_mult must be positive";
    if (c->push_pull_interval_ms == 0 || c->gossip_interval_ms == 0)
        return "push_pull_interval and gossip_interval must be positive";
    if (c->awareness_max_multiplier == 0)
        return "awareness_max_multiplier must be positive";
    if (c->packet_max < 512 || c->packet_max > GOSSIP_PACKET_LIMIT)
        return "packet_max must be between 512 and 65000 bytes";
    if (c->reap_dead_ms == 0 || c->reap_left_ms == 0)
        return "reconnect_timeout and tombstone_timeout must be positive";
    return NULL;
}

struct gossip *gossip_new(const struct gossip_config *cfg, uint64_t self_id,
                          const struct gossip_addr *self_addr, uint32_t incarnation,
                          uint64_t seed, int64_t now_ms) {
    if (!cfg || !self_addr || gossip_config_check(cfg))
        return NULL;
    struct gossip *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = *cfg;
    prng_seed(&g->rng, seed);
    g->now_ms = now_ms;
    g->index_mask = 15;
    g->susp_next_ms = INT64_MAX;
    g->late_counted_ms = now_ms - (int64_t)cfg->probe_interval_ms;
    g->index = calloc(g->index_mask + 1, sizeof *g->index);
    if (!g->index) {
        gossip_free(g);
        return NULL;
    }
    g->self = member_add(g, self_id, self_addr, GOSSIP_ALIVE, incarnation);
    if (g->self == GOSSIP_NONE || bcast_member(g, g->self, 0) != 0) {
        gossip_free(g);
        return NULL;
    }
    /* Random phases, so that nodes started together do not probe, gossip
     * and push-pull in lock step. */
    g->next_probe_ms = now_ms + (int64_t)prng_below(&g->rng, cfg->probe_interval_ms);
    g->next_gossip_ms = now_ms + (int64_t)prng_below(&g->rng, cfg->gossip_interval_ms);
    g->next_push_pull_ms = now_ms + (int64_t)prng_below(&g->rng, cfg->push_pull_interval_ms);
    return g;
}

void gossip_free(struct gossip *g) {
    if (!g)
        return;
    for (uint32_t i = 0; i < g->n; i++) {
        struct member *m = &g->m[i];
        if (m->state == GOSSIP_SUSPECT)
            suspicion_drop(g, i);
        else if (m->state == GOSSIP_OFF)
            gossip_blob_unref(m->aux);
        gossip_blob_unref(m->record);
    }
    gossip_blob_unref(g->own_record);
    reassembly_free_all(g);
    for (size_t k = g->out_head; k < g->n_out; k++)
        free(g->out[k].data);
    free(g->out);
    free(g->ev);
    free(g->bq);
    free(g->susp);
    free(g->order);
    free(g->index);
    free(g->m);
    free(g);
}

/* Decoding a packet allocates every entry separately; a bump allocator in
 * a stack buffer (falling back to malloc past its end) makes that nearly
 * free, which matters when one process simulates thousands of nodes. */
struct arena {
    uint8_t *buf;
    size_t used, cap;
};

static void *arena_alloc(void *data, size_t size) {
    struct arena *a = data;
    size_t need = (size + 15) & ~(size_t)15;
    if (need <= a->cap - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *data, void *p) {
    struct arena *a = data;
    if ((uint8_t *)p < a->buf || (uint8_t *)p >= a->buf + a->cap)
        free(p);
}

static void advance(struct gossip *g, int64_t now_ms) {
    if (now_ms > g->now_ms)
        g->now_ms = now_ms;
}

int gossip_receive(struct gossip *g, int64_t now_ms, uint64_t sender,
                   const struct gossip_addr *from, const uint8_t *data, size_t len) {
    if (!g || !from || (!data && len))
        return -1;
    advance(g, now_ms);
    if (len > GOSSIP_PACKET_LIMIT) {
        reject_count(&g->rejects, GOSSIP_REJECT_TOO_LARGE);
        return 0;
    }
    _Alignas(16) uint8_t buf[32768];
    struct arena arena = {.buf = buf, .cap = sizeof buf};
    ProtobufCAllocator alloc = {.alloc = arena_alloc, .free = arena_free, .allocator_data = &arena};
    Nodectl__GossipPacket *p = nodectl__gossip_packet__unpack(&alloc, len, data);
    if (!p) {
        reject_count(&g->rejects, GOSSIP_REJECT_MALFORMED);
        return 0;
    }
    int rc = 0;
    enum gossip_reject why = GOSSIP_REJECT_REASONS;
    if (p->n_members > GOSSIP_PKT_MEMBERS)
        why = GOSSIP_REJECT_MEMBERS;
    else if (p->n_records > GOSSIP_PKT_RECORDS)
        why = GOSSIP_REJECT_RECORDS;
    else if (p->n_want > GOSSIP_PKT_WANT)
        why = GOSSIP_REJECT_WANTS;
    else if ((unsigned)p->kind > NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES)
        why = GOSSIP_REJECT_KIND;
    if (why != GOSSIP_REJECT_REASONS) {
        reject_count(&g->rejects, why);
        goto done;
    }
    if (p->sender == g->m[g->self].id)
        goto done; /* our own packet, looped back */
    g->counts.received[p->kind]++;
    /* From here on p->sender is who sent it: its own entry, its acks and
     * its records are the member's own word. */
    if (p->sender != sender) {
        refuse(g, GOSSIP_REFUSED_SENDER);
        goto done;
    }
    if (p->kind == NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL) {
        rc = push_pull_on_packet(g, p, from);
        goto done;
    }
    for (size_t k = 0; k < p->n_members && rc == 0; k++)
        rc = member_apply(g, p->members[k], true, from, p->sender) < 0 ? -1 : 0;
    for (size_t k = 0; k < p->n_records && rc == 0; k++)
        rc = records_on_piece(g, p->records[k], from, p->sender);
    if (rc != 0)
        goto done;
    switch (p->kind) {
    case NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING: rc = probe_on_ping(g, p, from); break;
    case NODECTL__GOSSIP_KIND__GOSSIP_KIND_ACK: rc = probe_on_ack(g, p); break;
    case NODECTL__GOSSIP_KIND__GOSSIP_KIND_PING_REQ: rc = probe_on_ping_req(g, p, from); break;
    case NODECTL__GOSSIP_KIND__GOSSIP_KIND_NACK: probe_on_nack(g, p); break;
    case NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_WANT: rc = records_on_want(g, p, from); break;
    default: break; /* GOSSIP and RECORD_PIECES carry only what was handled above */
    }
done:
    nodectl__gossip_packet__free_unpacked(p, &alloc);
    return rc;
}

int gossip_tick(struct gossip *g, int64_t now_ms) {
    if (!g)
        return -1;
    int64_t due = gossip_next_deadline(g);
    advance(g, now_ms);
    loop_late(g, due != INT64_MAX && g->now_ms > due ? g->now_ms - due : 0);
    if (probe_tick(g) != 0 || suspicion_tick(g) != 0 || push_pull_tick(g) != 0 ||
        refute_tick(g) != 0)
        return -1;
    if (g->now_ms >= g->next_gossip_ms) {
        g->next_gossip_ms = g->now_ms + g->cfg.gossip_interval_ms;
        if (gossip_round(g) != 0)
            return -1;
    }
    return 0;
}

int64_t gossip_next_deadline(const struct gossip *g) {
    int64_t d = probe_next_deadline(g);
    int64_t s = suspicion_next_deadline(g);
    int64_t p = push_pull_next_deadline(g);
    if (s < d)
        d = s;
    if (p < d)
        d = p;
    if (g->refute_pending && g->next_refute_ms < d)
        d = g->next_refute_ms;
    /* The gossip timer matters only while there is news to send. */
    if (g->n_bq > 0 && g->next_gossip_ms < d)
        d = g->next_gossip_ms;
    return d;
}

int gossip_join(struct gossip *g, int64_t now_ms, const struct gossip_addr *seeds, size_t n) {
    if (!g || (!seeds && n))
        return -1;
    advance(g, now_ms);
    for (size_t k = 0; k < n; k++)
        if (push_pull_send(g, &seeds[k], false) != 0)
            return -1;
    return 0;
}

bool gossip_joined(const struct gossip *g) {
    return g->joined;
}

int gossip_set_record(struct gossip *g, int64_t now_ms, const uint8_t *data, size_t len) {
    if (!g || (!data && len) || len > GOSSIP_RECORD_MAX)
        return -1;
    advance(g, now_ms);
    struct member *self = &g->m[g->self];
    if (self->record_version == UINT64_MAX)
        return -1; /* never reached: versions move by one per record */
    struct gossip_blob *b = blob_copy(data, len);
    if (!b)
        return -1;
    if (!g->cfg.record_seal) {
        gossip_blob_unref(self->record);
        self->record = b;
        self->record_version++;
        return bcast_record(g, g->self);
    }
    gossip_blob_unref(g->own_record);
    g->own_record = b;
    return own_record_seal(g, self->record_version + 1);
}

/* Incarnations never wrap (docs/security.md, "Sane values"): at the last
 * one the announcement goes out at the same incarnation, which LEFT and OFF
 * still override ALIVE at. */
static int announce_self(struct gossip *g, enum gossip_state st) {
    struct member *self = &g->m[g->self];
    uint32_t inc = self->incarnation == UINT32_MAX ? UINT32_MAX : self->incarnation + 1;
    if (member_set_state(g, g->self, st, inc) != 0)
        return -1;
    return bcast_member(g, g->self, 0);
}

int gossip_leave(struct gossip *g, int64_t now_ms) {
    if (!g)
        return -1;
    advance(g, now_ms);
    return announce_self(g, GOSSIP_LEFT);
}

int gossip_power_off(struct gossip *g, int64_t now_ms, const uint8_t *wake, size_t wake_len) {
    if (!g || (!wake && wake_len) || wake_len > GOSSIP_WAKE_MAX)
        return -1;
    advance(g, now_ms);
    if (announce_self(g, GOSSIP_OFF) != 0)
        return -1;
    return member_set_wake(g, g->self, wake, wake_len);
}

int gossip_resume(struct gossip *g, int64_t now_ms) {
    if (!g)
        return -1;
    advance(g, now_ms);
    return announce_self(g, GOSSIP_ALIVE);
}

size_t gossip_member_count(const struct gossip *g) {
    return g->n;
}

void gossip_member_at(const struct gossip *g, size_t i, struct gossip_member_info *out) {
    const struct member *m = &g->m[i];
    *out = (struct gossip_member_info){
        .id = m->id,
        .addr = m->addr,
        .state = (enum gossip_state)m->state,
        .incarnation = m->incarnation,
        .changed_ms = m->changed_ms,
        .record_version = m->record_version,
    };
    if (m->record) {
        out->record = m->record->data;
        out->record_len = m->record->len;
    }
    if (m->state == GOSSIP_OFF && m->aux) {
        const struct gossip_blob *w = m->aux;
        out->wake = w->data;
        out->wake_len = w->len;
    }
}

bool gossip_member_find(const struct gossip *g, uint64_t id, struct gossip_member_info *out) {
    uint32_t i = member_find(g, id);
    if (i == GOSSIP_NONE)
        return false;
    gossip_member_at(g, i, out);
    return true;
}

uint32_t gossip_incarnation(const struct gossip *g) {
    return g->m[g->self].incarnation;
}

uint32_t gossip_health_score(const struct gossip *g) {
    return g->awareness;
}

uint32_t gossip_late_ms(const struct gossip *g) {
    return g->late_ms;
}

const char *gossip_reject_name(unsigned r) {
    switch ((enum gossip_reject)r) {
    case GOSSIP_REJECT_MALFORMED: return "a packet that does not decode";
    case GOSSIP_REJECT_TOO_LARGE: return "a packet larger than GOSSIP_PACKET_LIMIT";
    case GOSSIP_REJECT_MEMBERS: return "a packet with more than GOSSIP_PKT_MEMBERS members";
    case GOSSIP_REJECT_RECORDS: return "a packet with more than GOSSIP_PKT_RECORDS records";
    case GOSSIP_REJECT_WANTS: return "a packet asking for more than GOSSIP_PKT_WANT records";
    case GOSSIP_REJECT_KIND: return "a packet of an unknown kind";
    case GOSSIP_REJECT_STATE: return "a member state out of range";
    case GOSSIP_REJECT_ADDRESS: return "a member address that is not an address";
    case GOSSIP_REJECT_WAKE: return "wake information longer than GOSSIP_WAKE_MAX";
    case GOSSIP_REJECT_RECORD_SIZE: return "a record larger than GOSSIP_RECORD_MAX or a piece past "
                                           "its end";
    case GOSSIP_REJECT_PIECE: return "a record piece off a chunk boundary or of the wrong length";
    case GOSSIP_REJECT_TABLE_FULL: return "a new member while GOSSIP_MEMBERS_MAX are known";
    case GOSSIP_REJECT_REASONS: break;
    }
    return "unknown";
}

struct gossip_counts gossip_counts(const struct gossip *g) { return g->counts; }

_Static_assert(NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES == GOSSIP_KINDS - 1,
               "GOSSIP_KINDS counts every kind");

const char *gossip_kind_name(unsigned k) {
    static const char *const names[GOSSIP_KINDS] = {
        "gossip", "ping", "ack", "ping_req", "nack", "push_pull", "record_want", "record_pieces",
    };
    return k < GOSSIP_KINDS ? names[k] : "unknown";
}

const struct rejects *gossip_rejects(const struct gossip *g) {
    return &g->rejects;
}

uint64_t gossip_bad_packets(const struct gossip *g) {
    return g->rejects.total;
}

const char *gossip_refusal_name(enum gossip_refusal r) {
    switch (r) {
    case GOSSIP_REFUSED_SENDER: return "gossip_sender_mismatch";
    case GOSSIP_REFUSED_ACK: return "gossip_ack_not_asked";
    case GOSSIP_REFUSED_INCARNATION: return "gossip_incarnation_implausible";
    case GOSSIP_REFUSED_RECORD: return "gossip_record_not_owners";
    case GOSSIP_REFUSALS: break;
    }
    return "unknown";
}

uint64_t gossip_refused(const struct gossip *g, enum gossip_refusal r) {
    return (unsigned)r < GOSSIP_REFUSALS ? g->refused[r] : 0;
}

void refuse(struct gossip *g, enum gossip_refusal r) {
    g->refused[r]++;
}
