/* Packets on the wire (proto/gossip.proto) and the two output queues.
 * Sizes are counted as entries are added, so a packet never exceeds
 * cfg.packet_max: the exact protobuf size of each entry plus its tag and
 * length prefix. */
#include <stdlib.h>
#include <string.h>

#include "gossip_internal.h"

/* Bytes of a length-delimited field: tag (1 byte, field < 16) + varint length + body. */
static size_t field_size(size_t body) {
    size_t v = 1;
    for (size_t b = body; b >= 0x80; b >>= 7)
        v++;
    return 1 + v + body;
}

void addr_to_wire(const struct gossip_addr *a, ProtobufCBinaryData *ip, uint32_t *port) {
    ip->data = (uint8_t *)a->ip;
    ip->len = sizeof a->ip;
    *port = a->port;
}

bool addr_from_wire(ProtobufCBinaryData ip, uint32_t port, struct gossip_addr *a) {
    if (ip.len != sizeof a->ip || port > UINT16_MAX)
        return false;
    memcpy(a->ip, ip.data, sizeof a->ip);
    a->port = (uint16_t)port;
    return true;
}

void pkt_init(struct gossip *g, struct pkt *p, Nodectl__GossipKind kind) {
    nodectl__gossip_packet__init(&p->msg);
    p->msg.kind = kind;
    p->msg.sender = g->m[g->self].id;
    p->msg.members = p->mp;
    p->msg.records = p->rp;
    p->msg.want = p->want;
    p->limit = g->cfg.packet_max;
    p->now_ms = g->now_ms;
    /* Header fields are filled in by the caller after init; reserve room for
     * all of them (kind, sender, seq, target, 16-byte ip, port, reply,
     * piece, want's length prefix) rather than recomputing. */
    p->size = 2 + 11 + 6 + 11 + 18 + 4 + 2 + 6 + 4;
}

bool pkt_add_member(struct pkt *p, const struct member *m, uint64_t from, bool with_record_version) {
    if (p->msg.n_members == GOSSIP_PKT_MEMBERS)
        return false;
    Nodectl__GossipMember *u = &p->mem[p->msg.n_members];
    nodectl__gossip_member__init(u);
    u->id = m->id;
    u->incarnation = m->incarnation;
    u->state = (Nodectl__GossipState)m->state;
    addr_to_wire(&m->addr, &u->ip, &u->port);
    if (m->state == GOSSIP_SUSPECT || m->state == GOSSIP_DEAD)
        u->from = from;
    if (m->state == GOSSIP_OFF && m->aux) {
        const struct gossip_blob *w = m->aux;
        u->wake.data = (uint8_t *)w->data;
        u->wake.len = w->len;
    }
    if (with_record_version)
        u->record_version = m->record_version;
    /* Gossiped or pushed, the age goes along, so that every node forgets
     * the member at about the same time (gossip_members.c). */
    int64_t age = p->now_ms - m->changed_ms;
    if ((m->state == GOSSIP_DEAD || m->state == GOSSIP_LEFT) && age > 0)
        u->state_age_ms = age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
    size_t sz = field_size(nodectl__gossip_member__get_packed_size(u));
    if (p->size + sz > p->limit)
        return false;
    p->size += sz;
    p->mp[p->msg.n_members++] = u;
    return true;
}

bool pkt_add_record(struct pkt *p, uint64_t id, uint64_t version, uint32_t total, uint32_t offset,
                    const uint8_t *data, size_t len) {
    if (p->msg.n_records == GOSSIP_PKT_RECORDS)
        return false;
    Nodectl__GossipRecord *r = &p->rec[p->msg.n_records];
    nodectl__gossip_record__init(r);
    r->id = id;
    r->version = version;
    r->total_len = total;
    r->offset = offset;
    r->data.data = (uint8_t *)data;
    r->data.len = len;
    size_t sz = field_size(nodectl__gossip_record__get_packed_size(r));
    if (p->size + sz > p->limit)
        return false;
    p->size += sz;
    p->rp[p->msg.n_records++] = r;
    return true;
}

bool pkt_add_want(struct pkt *p, uint64_t id) {
    if (p->msg.n_want == GOSSIP_PKT_WANT || p->size + 10 > p->limit)
        return false;
    p->size += 10;
    p->want[p->msg.n_want++] = id;
    return true;
}

int pkt_send(struct gossip *g, struct pkt *p, const struct gossip_addr *to) {
    size_t len = nodectl__gossip_packet__get_packed_size(&p->msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    nodectl__gossip_packet__pack(&p->msg, buf);
    g->counts.sent[p->msg.kind]++;
    return out_push(g, to, buf, len);
}

int out_push(struct gossip *g, const struct gossip_addr *to, uint8_t *data, size_t len) {
    if (g->out_head == g->n_out) {
        g->out_head = g->n_out = 0;
    }
    if (g->n_out == g->cap_out) {
        size_t cap = g->cap_out ? g->cap_out * 2 : 16;
        struct outmsg *o = realloc(g->out, cap * sizeof *o);
        if (!o) {
            free(data);
            return -1;
        }
        g->out = o;
        g->cap_out = cap;
    }
    g->out[g->n_out++] = (struct outmsg){.to = *to, .data = data, .len = len};
    return 0;
}

bool gossip_next_msg(struct gossip *g, struct gossip_msg *out) {
    if (g->out_head == g->n_out)
        return false;
    struct outmsg *o = &g->out[g->out_head++];
    *out = (struct gossip_msg){.to = o->to, .data = o->data, .len = o->len};
    return true;
}

int event_push(struct gossip *g, const struct gossip_event *ev) {
    if (g->ev_head == g->n_ev)
        g->ev_head = g->n_ev = 0;
    if (g->n_ev == g->cap_ev) {
        size_t cap = g->cap_ev ? g->cap_ev * 2 : 16;
        struct gossip_event *e = realloc(g->ev, cap * sizeof *e);
        if (!e)
            return -1;
        g->ev = e;
        g->cap_ev = cap;
    }
    g->ev[g->n_ev++] = *ev;
    return 0;
}

bool gossip_next_event(struct gossip *g, struct gossip_event *out) {
    if (g->ev_head == g->n_ev)
        return false;
    *out = g->ev[g->ev_head++];
    return true;
}
