/* Dissemination by piggybacking (SWIM section 4.1, "infection-style"):
 * every update is queued and rides on the next outgoing packets until it
 * has been sent retransmit_mult * ceil(log10(N + 1)) times, least-sent
 * first; a newer update about the same member replaces the queued one
 * (memberlist's TransmitLimitedQueue). Besides riding on pings and acks,
 * the queue is pushed every gossip_interval to gossip_nodes random members,
 * as memberlist does, which spreads news in O(log N) intervals. */
#include <stdlib.h>
#include <string.h>

#include "gossip_internal.h"

uint32_t bcast_limit(const struct gossip *g) {
    uint32_t d = log10_ceil(g->n_alive + 1);
    return g->cfg.retransmit_mult * (d ? d : 1);
}

static int enqueue(struct gossip *g, enum bcast_kind kind, uint32_t i, uint64_t from) {
    for (uint32_t j = 0; j < g->n_bq; j++) {
        if (g->bq[j].kind == kind && g->bq[j].member == i) {
            memmove(&g->bq[j], &g->bq[j + 1], (g->n_bq - j - 1) * sizeof g->bq[0]);
            g->n_bq--;
            break;
        }
    }
    if (g->n_bq == g->cap_bq) {
        uint32_t cap = g->cap_bq ? g->cap_bq * 2 : 16;
        struct bcast *q = realloc(g->bq, cap * sizeof *q);
        if (!q)
            return -1;
        g->bq = q;
        g->cap_bq = cap;
    }
    /* Kept in ascending order of transmissions: new news goes first. */
    memmove(&g->bq[1], &g->bq[0], g->n_bq * sizeof g->bq[0]);
    g->bq[0] = (struct bcast){.kind = (uint8_t)kind, .member = i, .from = from};
    g->n_bq++;
    return 0;
}

void bcast_renumber(struct gossip *g, uint32_t removed, uint32_t moved) {
    uint32_t kept = 0;
    for (uint32_t j = 0; j < g->n_bq; j++) {
        struct bcast b = g->bq[j];
        if (b.member == removed)
            continue;
        if (b.member == moved)
            b.member = removed;
        g->bq[kept++] = b;
    }
    g->n_bq = kept;
}

int bcast_member(struct gossip *g, uint32_t i, uint64_t from) {
    return enqueue(g, BCAST_MEMBER, i, from);
}

int bcast_record(struct gossip *g, uint32_t i) {
    return enqueue(g, BCAST_RECORD, i, 0);
}

static uint64_t first_suspector(const struct member *m) {
    const struct suspicion *s = m->aux;
    return m->state == GOSSIP_SUSPECT && s ? s->from[0] : 0;
}

static bool add_item(struct gossip *g, struct pkt *p, const struct bcast *b) {
    const struct member *m = &g->m[b->member];
    if (b->kind == BCAST_MEMBER)
        return pkt_add_member(p, m, b->from, false);
    /* Records are only announced (id, version, size); each receiver
     * fetches a version once, in pieces, from the first announcer, asking
     * later announcers and then the owner when answers are lost
     * (gossip_pushpull.c). Piggybacking the bytes would send every record
     * retransmit_mult * log10(N) times to every node. */
    return pkt_add_record(p, m->id, m->record_version, m->record ? m->record->len : 0, 0, NULL, 0);
}

void bcast_fill(struct gossip *g, struct pkt *p, uint32_t priority_member) {
    /* Lifeguard's buddy system (section 4.3): a ping to a suspect carries
     * the suspicion, so the suspect learns of it and refutes at once. */
    if (priority_member != GOSSIP_NONE && g->m[priority_member].state == GOSSIP_SUSPECT)
        pkt_add_member(p, &g->m[priority_member], first_suspector(&g->m[priority_member]), false);
    if (g->n_bq == 0)
        return;
    uint32_t limit = bcast_limit(g);
    uint32_t sent = 0;
    /* Membership news first: failure detection must not wait behind
     * record announcements. */
    for (int kind = BCAST_MEMBER; kind <= BCAST_RECORD; kind++) {
        for (uint32_t j = 0; j < g->n_bq; j++) {
            struct bcast *b = &g->bq[j];
            if (b->kind != kind || (kind == BCAST_MEMBER && b->member == priority_member &&
                                    g->m[priority_member].state == GOSSIP_SUSPECT))
                continue;
            if (add_item(g, p, b)) {
                b->transmits++;
                sent++;
            } else if (p->size + 40 > p->limit) {
                break; /* full: nothing more fits */
            }
        }
    }
    if (sent == 0)
        return;
    /* Drop what has been sent often enough, then restore the order with
     * an insertion sort: the array is nearly sorted. */
    uint32_t w = 0;
    for (uint32_t j = 0; j < g->n_bq; j++)
        if (g->bq[j].transmits < limit)
            g->bq[w++] = g->bq[j];
    g->n_bq = w;
    for (uint32_t j = 1; j < g->n_bq; j++) {
        struct bcast x = g->bq[j];
        uint32_t k = j;
        while (k > 0 && g->bq[k - 1].transmits > x.transmits) {
            g->bq[k] = g->bq[k - 1];
            k--;
        }
        g->bq[k] = x;
    }
}

int gossip_round(struct gossip *g) {
    if (g->n_bq == 0)
        return 0;
    for (uint32_t t = 0; t < g->cfg.gossip_nodes && g->n_bq > 0; t++) {
        uint32_t i = member_random(g, member_probeable);
        if (i == GOSSIP_NONE)
            return 0;
        struct pkt p;
        pkt_init(g, &p, NODECTL__GOSSIP_KIND__GOSSIP_KIND_GOSSIP);
        bcast_fill(g, &p, GOSSIP_NONE);
        if (p.msg.n_members == 0 && p.msg.n_records == 0)
            return 0;
        if (pkt_send(g, &p, &g->m[i].addr) != 0)
            return -1;
    }
    return 0;
}
