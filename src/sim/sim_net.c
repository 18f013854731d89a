/* Binary min-heap of events and the lossy, partitionable network. */
#include "sim_net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* nng redials a lost peer within this (the transport's reconnect time is
 * 50 to 400 ms). */
#define REDIAL_US 400000
/* TCP's first retransmission after a lost segment (Linux: 200 ms minimum
 * RTO on a LAN). */
#define RETRANSMIT_US 200000

struct sim_net_capture {
    uint32_t kind, from, to;
    uint8_t *data;
    size_t len;
};

static bool before(const struct sim_event *a, const struct sim_event *b) {
    return a->t_us < b->t_us || (a->t_us == b->t_us && a->seq < b->seq);
}

int sim_heap_push(struct sim_heap *h, struct sim_event *ev) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        struct sim_event *e = realloc(h->e, cap * sizeof *e);
        if (!e)
            return -1;
        h->e = e;
        h->cap = cap;
    }
    ev->seq = h->next_seq++;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(ev, &h->e[parent]))
            break;
        h->e[i] = h->e[parent];
        i = parent;
    }
    h->e[i] = *ev;
    return 0;
}

bool sim_heap_pop(struct sim_heap *h, struct sim_event *out) {
    if (h->n == 0)
        return false;
    *out = h->e[0];
    struct sim_event last = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->e[c + 1], &h->e[c]))
            c++;
        if (!before(&h->e[c], &last))
            break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n > 0)
        h->e[i] = last;
    return true;
}

void sim_heap_free(struct sim_heap *h) {
    for (size_t i = 0; i < h->n; i++)
        free(h->e[i].data);
    free(h->e);
    *h = (struct sim_heap){0};
}

int sim_net_init(struct sim_net *net, uint32_t n_nodes, uint64_t seed, double loss,
                 double latency_mean_ms) {
    *net = (struct sim_net){.loss = loss, .n_nodes = n_nodes};
    prng_seed(&net->rng, seed);
    /* A quarter of the mean is the floor, the rest an exponential tail. */
    int64_t mean_us = (int64_t)(latency_mean_ms * 1000.0);
    net->latency_min_us = mean_us / 4;
    net->latency_tail_us = mean_us - net->latency_min_us;
    net->side = calloc(n_nodes ? n_nodes : 1, 1);
    return net->side ? 0 : -1;
}

void sim_net_free(struct sim_net *net) {
    sim_heap_free(&net->heap);
    free(net->side);
    net->side = NULL;
    free(net->cut);
    net->cut = NULL;
    for (uint32_t i = 0; i < net->n_captured; i++)
        free(net->captured[i].data);
    free(net->captured);
    net->captured = NULL;
    net->n_captured = 0;
    for (size_t i = 0; i < net->n_held; i++)
        free(net->held[i].data);
    free(net->held);
    net->held = NULL;
    net->n_held = 0;
    free(net->held_per_link);
    net->held_per_link = NULL;
    free(net->link_last_us);
    net->link_last_us = NULL;
}

bool sim_net_open(const struct sim_net *net, uint32_t from, uint32_t to) {
    return net->side[from] == net->side[to] &&
           !(net->cut && net->cut[(size_t)from * net->n_nodes + to]);
}

int sim_net_set_cut(struct sim_net *net, uint32_t from, uint32_t to, bool cut) {
    if (!net->cut) {
        if (!cut)
            return 0;
        net->cut = calloc((size_t)net->n_nodes * net->n_nodes, 1);
        if (!net->cut)
            return -1;
    }
    net->cut[(size_t)from * net->n_nodes + to] = cut;
    return 0;
}

void sim_net_heal_cuts(struct sim_net *net) {
    if (net->cut)
        memset(net->cut, 0, (size_t)net->n_nodes * net->n_nodes);
}

int sim_net_fifo(struct sim_net *net) {
    net->link_last_us = calloc((size_t)net->n_nodes * net->n_nodes, sizeof *net->link_last_us);
    return net->link_last_us ? 0 : -1;
}

int sim_net_capture(struct sim_net *net, uint32_t every, uint32_t cap) {
    net->captured = calloc(cap ? cap : 1, sizeof *net->captured);
    if (!net->captured)
        return -1;
    net->capture_every = every;
    net->capture_cap = cap;
    return 0;
}

static void capture(struct sim_net *net, uint32_t kind, uint32_t from, uint32_t to,
                    const uint8_t *data, size_t len) {
    if (!net->capture_every || !net->capture_cap || net->capture_count++ % net->capture_every)
        return;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return; /* a replay fewer: nothing else depends on it */
    memcpy(copy, data, len);
    struct sim_net_capture *c;
    if (net->n_captured < net->capture_cap) {
        c = &net->captured[net->n_captured++];
    } else {
        c = &net->captured[net->capture_next];
        net->capture_next = (net->capture_next + 1) % net->capture_cap;
        free(c->data);
    }
    *c = (struct sim_net_capture){kind, from, to, copy, len};
}

static int64_t latency(struct sim_net *net) {
    int64_t lat = net->latency_min_us;
    if (net->latency_tail_us > 0)
        lat += (int64_t)(-log(1.0 - prng_unit(&net->rng)) * (double)net->latency_tail_us);
    return lat;
}

static int push(struct sim_net *net, struct sim_event *ev) {
    if (sim_heap_push(&net->heap, ev) != 0) {
        free(ev->data);
        return -1;
    }
    return 0;
}

/* One delivery of data from -> to after `extra` plus a latency, with the
 * optional faults: a delay spike, delivery elsewhere, a second copy. */
static int deliver_later(struct sim_net *net, int64_t now_us, int64_t extra, uint32_t kind,
                         uint32_t from, uint32_t to, uint8_t *data, size_t len) {
    int64_t t = now_us + extra + latency(net);
    if (net->spike > 0 && prng_unit(&net->rng) < net->spike) {
        t += (int64_t)prng_below(&net->rng, (uint64_t)net->spike_us + 1);
    } else if (net->link_last_us) {
        int64_t *last = &net->link_last_us[(size_t)from * net->n_nodes + to];
        if (t < *last)
            t = *last;
        *last = t;
    }
    if (net->misdeliver > 0 && net->n_nodes > 1 && prng_unit(&net->rng) < net->misdeliver) {
        to = (to + 1 + (uint32_t)prng_below(&net->rng, net->n_nodes - 1)) % net->n_nodes;
        net->misdelivered++;
    }
    if (net->dup > 0 && prng_unit(&net->rng) < net->dup) {
        uint8_t *copy = malloc(len ? len : 1);
        if (copy) {
            memcpy(copy, data, len);
            struct sim_event twin = {.t_us = t + latency(net), .kind = kind, .node = to,
                                     .from = from, .data = copy, .len = len};
            if (push(net, &twin) == 0)
                net->duplicated++;
        }
    }
    struct sim_event ev = {.t_us = t, .kind = kind, .node = to, .from = from, .data = data,
                           .len = len};
    return push(net, &ev);
}

int sim_net_hold(struct sim_net *net, struct sim_event *ev) {
    size_t link = (size_t)ev->from * net->n_nodes + ev->node;
    if (!net->held_per_link) {
        net->held_per_link = calloc((size_t)net->n_nodes * net->n_nodes, 1);
        if (!net->held_per_link)
            goto drop;
    }
    if (net->held_per_link[link] >= SIM_NET_QUEUE)
        goto drop;
    if (net->n_held == net->cap_held) {
        size_t cap = net->cap_held ? 2 * net->cap_held : 256;
        struct sim_event *h = realloc(net->held, cap * sizeof *h);
        if (!h)
            goto drop;
        net->held = h;
        net->cap_held = cap;
    }
    net->held_per_link[link]++;
    net->held[net->n_held++] = *ev;
    net->held_total++;
    ev->data = NULL;
    return 0;
drop:
    net->dropped++;
    free(ev->data);
    ev->data = NULL;
    return 0;
}

int sim_net_send_queued(struct sim_net *net, int64_t now_us, uint32_t kind, uint32_t from,
                        uint32_t to, uint8_t *data, size_t len) {
    net->sent++;
    if (to >= net->n_nodes) {
        net->dropped++;
        free(data);
        return 0;
    }
    if (!sim_net_open(net, from, to)) {
        struct sim_event ev = {.kind = kind, .node = to, .from = from, .data = data, .len = len};
        return sim_net_hold(net, &ev);
    }
    int64_t extra = 0;
    while (net->loss > 0 && prng_unit(&net->rng) < net->loss && extra < 60 * REDIAL_US)
        extra += RETRANSMIT_US + extra; /* exponential backoff */
    capture(net, kind, from, to, data, len);
    return deliver_later(net, now_us, extra, kind, from, to, data, len);
}

int sim_net_release(struct sim_net *net, int64_t now_us, uint32_t to) {
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < net->n_held; i++) {
        struct sim_event *ev = &net->held[i];
        if ((to != UINT32_MAX && ev->node != to) || !sim_net_open(net, ev->from, ev->node)) {
            net->held[kept++] = *ev;
            continue;
        }
        net->held_per_link[(size_t)ev->from * net->n_nodes + ev->node]--;
        /* In queue order: the held events keep their sending order. */
        int64_t redial = REDIAL_US / 4 + (int64_t)prng_below(&net->rng, REDIAL_US / 2);
        if (deliver_later(net, now_us, redial + (int64_t)i, ev->kind, ev->from, ev->node,
                          ev->data, ev->len) != 0)
            rc = -1;
    }
    net->n_held = kept;
    return rc;
}

void sim_net_forget_from(struct sim_net *net, uint32_t from) {
    size_t kept = 0;
    for (size_t i = 0; i < net->n_held; i++) {
        struct sim_event *ev = &net->held[i];
        if (ev->from != from) {
            net->held[kept++] = *ev;
            continue;
        }
        net->held_per_link[(size_t)ev->from * net->n_nodes + ev->node]--;
        net->dropped++;
        free(ev->data);
    }
    net->n_held = kept;
}

int sim_net_replay(struct sim_net *net, int64_t now_us, uint32_t count) {
    for (uint32_t i = 0; i < count && net->n_captured; i++) {
        const struct sim_net_capture *c = &net->captured[prng_below(&net->rng, net->n_captured)];
        uint8_t *copy = malloc(c->len ? c->len : 1);
        if (!copy)
            return -1;
        memcpy(copy, c->data, c->len);
        net->replayed++;
        if (deliver_later(net, now_us, 0, c->kind, c->from, c->to, copy, c->len) != 0)
            return -1;
    }
    return 0;
}

int sim_net_send(struct sim_net *net, int64_t now_us, uint32_t kind, uint32_t from, uint32_t to,
                 uint8_t *data, size_t len) {
    net->sent++;
    if (to >= net->n_nodes || !sim_net_open(net, from, to) ||
        (net->loss > 0 && prng_unit(&net->rng) < net->loss)) {
        net->dropped++;
        free(data);
        return 0;
    }
    capture(net, kind, from, to, data, len);
    return deliver_later(net, now_us, 0, kind, from, to, data, len);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sim_percentile(double *v, size_t n, double pct) {
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t rank = (size_t)ceil(pct / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return v[rank - 1];
}

struct gossip_addr sim_addr(uint32_t node) {
    struct gossip_addr a = {.port = SIM_PORT};
    a.ip[10] = a.ip[11] = 0xff;
    a.ip[12] = 10;
    a.ip[13] = (uint8_t)(node >> 16);
    a.ip[14] = (uint8_t)(node >> 8);
    a.ip[15] = (uint8_t)node;
    return a;
}

uint32_t sim_addr_node(const struct gossip_addr *a) {
    return ((uint32_t)a->ip[13] << 16) | ((uint32_t)a->ip[14] << 8) | a->ip[15];
}
