#include "election_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "election.pb-c.h"

static uint64_t id_of(int i) { return 0x1000 + (uint64_t)i; }

void h_init(struct harness *h, int n, uint64_t seed, uint32_t heartbeat, uint32_t timeout) {
    memset(h, 0, sizeof *h);
    h->n = n;
    h->delay_max_ms = 2;
    prng_seed(&h->rng, seed);
    for (int i = 0; i < n; i++) {
        struct election_config *c = &h->cfg[i];
        c->self_id = id_of(i);
        c->n_voters = (size_t)n;
        for (int k = 0; k < n; k++)
            c->voters[k] = (struct election_voter){.id = id_of(k)};
        c->heartbeat_ms = heartbeat;
        c->election_timeout_ms = timeout;
        c->lease_margin_ms = timeout / 5;
        h->e[i] = election_new(c, &h->disk[i], seed * 31 + (uint64_t)i, 0);
        h->up[i] = h->e[i] != NULL;
    }
}

void h_free(struct harness *h) {
    for (int i = 0; i < h->n; i++)
        election_free(h->e[i]);
    for (size_t k = 0; k < h->nq; k++)
        free(h->q[k].data);
    free(h->q);
    for (size_t k = 0; k < h->n_sent; k++)
        free(h->sent[k].data);
    free(h->sent);
}

static void remember(struct harness *h, int from, int to, const struct election_msg *m) {
    if (h->n_sent == h->cap_sent) {
        h->cap_sent = h->cap_sent ? 2 * h->cap_sent : 64;
        h->sent = realloc(h->sent, h->cap_sent * sizeof *h->sent);
    }
    uint8_t *copy = malloc(m->len ? m->len : 1);
    memcpy(copy, m->data, m->len);
    h->sent[h->n_sent++] = (struct h_sent){from, to, copy, m->len};
}

void h_crash(struct harness *h, int i) {
    election_free(h->e[i]);
    h->e[i] = NULL;
    h->up[i] = false;
}

void h_restart(struct harness *h, int i) {
    h->e[i] = election_new(&h->cfg[i], &h->disk[i], prng_next(&h->rng), h->now);
    h->up[i] = true;
}

static void enqueue(struct harness *h, int from, const struct election_msg *m) {
    int to = (int)(m->to - id_of(0));
    if (h->record)
        remember(h, from, to, m);
    if (to < 0 || to >= h->n || h->cut[from][to] || prng_unit(&h->rng) < h->loss) {
        free(m->data);
        return;
    }
    if (h->nq == h->capq) {
        h->capq = h->capq ? 2 * h->capq : 64;
        h->q = realloc(h->q, h->capq * sizeof *h->q);
    }
    int64_t delay = 1 + (int64_t)prng_below(&h->rng, (uint64_t)h->delay_max_ms);
    h->q[h->nq++] = (struct h_msg){from, to, h->now + delay, m->data, m->len};
}

/* Saves (or fails to save) the hard state, then takes the messages. */
static void drain(struct harness *h, int i) {
    struct election_hard_state hs;
    if (election_unsaved(h->e[i], &hs)) {
        if (h->disk_fails[i]) {
            election_save_failed(h->e[i]);
        } else {
            h->disk[i] = hs;
            election_saved(h->e[i]);
        }
    }
    struct election_msg m;
    while (election_next_msg(h->e[i], &m))
        enqueue(h, i, &m);
}

int h_sent_kind(const struct harness *h, size_t k) {
    Nodectl__ElectionMsg *m = nodectl__election_msg__unpack(NULL, h->sent[k].len, h->sent[k].data);
    int kind = m ? (int)m->kind : -1;
    if (m)
        nodectl__election_msg__free_unpacked(m, NULL);
    return kind;
}

long h_find_sent(const struct harness *h, int kind, int from, int to) {
    for (size_t k = h->n_sent; k-- > 0;) {
        const struct h_sent *s = &h->sent[k];
        if (s->from == from && (to < 0 || s->to == to) && h_sent_kind(h, k) == kind)
            return (long)k;
    }
    return -1;
}

int h_lease_holder(const struct harness *h) {
    int holder = -1;
    for (int i = 0; i < h->n; i++)
        if (h->up[i] && election_has_lease(h->e[i], h->now))
            holder = i;
    return holder;
}

int h_leader(const struct harness *h) {
    for (int i = 0; i < h->n; i++)
        if (h->up[i] && !h->frozen[i] && election_role(h->e[i]) == ELECTION_LEADER)
            return i;
    return -1;
}

static void check(struct harness *h) {
    int leases = 0;
    for (int i = 0; i < h->n; i++) {
        if (!h->up[i])
            continue;
        /* A frozen node cannot act; it is judged when it wakes up. */
        leases += !h->frozen[i] && election_has_lease(h->e[i], h->now);
        if (election_role(h->e[i]) != ELECTION_LEADER)
            continue;
        uint64_t t = election_term(h->e[i]);
        if (t < 4096) {
            if (h->leader_of_term[t] && h->leader_of_term[t] != id_of(i)) {
                fprintf(stderr, "two leaders in term %llu\n", (unsigned long long)t);
                h->violations++;
            }
            h->leader_of_term[t] = id_of(i);
        }
    }
    if (leases > 1) {
        fprintf(stderr, "%d leases at once at %lld ms\n", leases, (long long)h->now);
        h->violations++;
    }
}

void h_replay(struct harness *h, size_t k, int to) {
    const struct h_sent *s = &h->sent[k];
    if (!h->up[to])
        return;
    election_receive(h->e[to], h->now, id_of(s->from), s->data, s->len);
    drain(h, to);
    check(h);
}

void h_run(struct harness *h, int ms) {
    for (int step = 0; step < ms; step++) {
        h->now++;
        for (size_t k = 0; k < h->nq;) {
            struct h_msg m = h->q[k];
            if (m.at > h->now || h->frozen[m.to]) {
                k++;
                continue;
            }
            h->q[k] = h->q[--h->nq];
            if (h->up[m.to])
                election_receive(h->e[m.to], h->now, id_of(m.from), m.data, m.len);
            free(m.data);
            if (h->up[m.to])
                drain(h, m.to);
        }
        for (int i = 0; i < h->n; i++) {
            if (!h->up[i] || h->frozen[i])
                continue;
            if (h->now >= election_next_deadline(h->e[i]))
                election_tick(h->e[i], h->now);
            drain(h, i);
        }
        check(h);
    }
}
