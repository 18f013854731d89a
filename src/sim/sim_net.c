/* Binary min-heap of events and the lossy, partitionable network. */
#include "sim_net.h"

#include <math.h>
#include <stdlib.h>

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
}

int sim_net_send(struct sim_net *net, int64_t now_us, uint32_t kind, uint32_t from, uint32_t to,
                 uint8_t *data, size_t len) {
    net->sent++;
    if (to >= net->n_nodes || net->side[from] != net->side[to] ||
        (net->loss > 0 && prng_unit(&net->rng) < net->loss)) {
        net->dropped++;
        free(data);
        return 0;
    }
    int64_t lat = net->latency_min_us;
    if (net->latency_tail_us > 0)
        lat += (int64_t)(-log(1.0 - prng_unit(&net->rng)) * (double)net->latency_tail_us);
    struct sim_event ev = {.t_us = now_us + lat, .kind = kind, .node = to, .from = from,
                           .data = data, .len = len};
    if (sim_heap_push(&net->heap, &ev) != 0) {
        free(data);
        return -1;
    }
    return 0;
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
