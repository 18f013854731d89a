#include "gossip_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct gossip_addr harness_addr(size_t i) {
    struct gossip_addr a = {.port = (uint16_t)(7000 + i)};
    a.ip[10] = a.ip[11] = 0xff;
    a.ip[12] = 127;
    a.ip[15] = 1;
    return a;
}

uint64_t harness_id(size_t i) {
    return 0x1000 + i;
}

static size_t node_of(const struct harness *h, const struct gossip_addr *a) {
    for (size_t i = 0; i < h->n; i++) {
        struct gossip_addr b = harness_addr(i);
        if (memcmp(&a->ip, &b.ip, sizeof b.ip) == 0 && a->port == b.port)
            return i;
    }
    return SIZE_MAX;
}

void harness_start(struct harness *h, size_t n, const struct gossip_config *cfg) {
    harness_start_each(h, n, cfg, NULL);
}

void harness_start_each(struct harness *h, size_t n, const struct gossip_config *cfg,
                        void (*each)(size_t i, struct gossip_config *c)) {
    memset(h, 0, sizeof *h);
    assert_true(n <= HARNESS_MAX);
    if (cfg)
        h->cfg = *cfg;
    else
        gossip_config_defaults(&h->cfg);
    h->n = n;
    for (size_t i = 0; i < n; i++) {
        struct gossip_addr a = harness_addr(i);
        struct gossip_config c = h->cfg;
        if (each)
            each(i, &c);
        h->g[i] = gossip_new(&c, harness_id(i), &a, 0, 100 + i, 0);
        assert_non_null(h->g[i]);
        if (i > 0) {
            struct gossip_addr seed = harness_addr(0);
            assert_int_equal(gossip_join(h->g[i], 0, &seed, 1), 0);
        }
    }
}

void harness_stop(struct harness *h) {
    for (size_t i = 0; i < h->n; i++)
        gossip_free(h->g[i]);
    for (size_t k = 0; k < h->n_held; k++)
        free(h->held[k].data);
}

static bool deliver_all(struct harness *h) {
    bool any = false;
    for (size_t i = 0; i < h->n; i++) {
        struct gossip_msg m;
        struct gossip_event e;
        while (gossip_next_event(h->g[i], &e))
            h->suspicions[i] += e.kind == GOSSIP_EV_STATE && e.state == GOSSIP_SUSPECT &&
                                e.old_state != GOSSIP_SUSPECT;
        while (gossip_next_msg(h->g[i], &m)) {
            any = true;
            assert_true(m.len <= h->cfg.packet_max);
            if (m.len > h->largest_packet)
                h->largest_packet = m.len;
            size_t to = node_of(h, &m.to);
            bool passes = to != SIZE_MAX && !h->down[i] && !h->down[to] && !h->cut[i][to] &&
                          (h->drop_longer[to] == 0 || m.len <= h->drop_longer[to]);
            if (passes && (h->paused[to] || h->latency_ms > 0)) {
                assert_true(h->n_held < HARNESS_HELD_MAX);
                h->held[h->n_held++] = (struct held){.from = i, .to = to, .data = m.data,
                                                     .len = m.len,
                                                     .due = h->now + h->latency_ms};
                continue;
            }
            if (passes) {
                struct gossip_addr from = harness_addr(i);
                assert_int_equal(
                    gossip_receive(h->g[to], h->now, harness_id(i), &from, m.data, m.len), 0);
                h->delivered++;
            }
            free(m.data);
        }
    }
    return any;
}

/* Delivers the held packets that may go now: every one for node `woken`
 * (back from a pause), and those due (latency_ms) for nodes not paused.
 * Returns the earliest due time of those left for nodes not paused. */
static int64_t deliver_held(struct harness *h, size_t woken) {
    int64_t next = INT64_MAX;
    size_t kept = 0;
    for (size_t k = 0; k < h->n_held; k++) {
        struct held *p = &h->held[k];
        if (p->to != woken && (h->paused[p->to] || p->due > h->now)) {
            if (!h->paused[p->to] && p->due < next)
                next = p->due;
            h->held[kept++] = *p;
            continue;
        }
        struct gossip_addr from = harness_addr(p->from);
        assert_int_equal(
            gossip_receive(h->g[p->to], h->now, harness_id(p->from), &from, p->data, p->len), 0);
        h->delivered++;
        free(p->data);
    }
    h->n_held = kept;
    return next;
}

void harness_run(struct harness *h, int64_t until) {
    for (;;) {
        int64_t next;
        do {
            while (deliver_all(h))
                ;
            next = deliver_held(h, SIZE_MAX);
        } while (deliver_all(h));
        for (size_t i = 0; i < h->n; i++) {
            int64_t d = h->paused[i] ? INT64_MAX : gossip_next_deadline(h->g[i]);
            if (d < next)
                next = d;
        }
        if (next > until) {
            h->now = until;
            return;
        }
        if (next > h->now)
            h->now = next;
        for (size_t i = 0; i < h->n; i++)
            if (!h->paused[i] && gossip_next_deadline(h->g[i]) <= h->now)
                assert_int_equal(gossip_tick(h->g[i], h->now), 0);
    }
}

void harness_resume(struct harness *h, size_t i) {
    h->paused[i] = false;
    if (gossip_next_deadline(h->g[i]) <= h->now)
        assert_int_equal(gossip_tick(h->g[i], h->now), 0);
    deliver_held(h, i);
}

int harness_state(const struct harness *h, size_t observer, size_t member) {
    struct gossip_member_info m;
    if (!gossip_member_find(h->g[observer], harness_id(member), &m))
        return GOSSIP_OFF + 1;
    return (int)m.state;
}

void harness_inject(struct harness *h, size_t i, size_t from, const uint8_t *data, size_t len) {
    struct gossip_addr a = harness_addr(from);
    assert_int_equal(gossip_receive(h->g[i], h->now, harness_id(from), &a, data, len), 0);
}

size_t harness_craft(uint8_t *buf, Nodectl__GossipKind kind, uint64_t sender, uint64_t id,
                     uint32_t inc, Nodectl__GossipState st, uint64_t from, uint32_t age_ms) {
    Nodectl__GossipMember u = NODECTL__GOSSIP_MEMBER__INIT;
    struct gossip_addr a = harness_addr((size_t)(id - harness_id(0)));
    u.id = id;
    u.incarnation = inc;
    u.state = st;
    u.ip.data = a.ip;
    u.ip.len = sizeof a.ip;
    u.port = a.port;
    u.from = from;
    u.state_age_ms = age_ms;
    Nodectl__GossipMember *mp[] = {&u};
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.kind = kind;
    p.reply = kind == NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL;
    p.sender = sender;
    p.n_members = 1;
    p.members = mp;
    return nodectl__gossip_packet__pack(&p, buf);
}
