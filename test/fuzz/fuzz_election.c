/* Election messages on a network of 3 to 5 real election instances
 * (src/election/) that the fuzzer schedules: its bytes choose which message
 * is delivered, dropped or delivered twice, which of the last 512 messages
 * is replayed to which voter (also one it was not addressed to), how far
 * time moves, which voter crashes and restarts with the hard state it had
 * saved, whose disk fails, and when the leader hands over. Each voter's
 * clock has its own offset and runs up to 2 % fast or slow (the lease
 * margin covers 20 %). After every step the harness asserts:
 *   - no two voters are ever leader of the same term (over the whole run,
 *     crashes included);
 *   - no two voters hold a lease at the same real instant. A lease only
 *     starts on an input and then ends with time, so checking after every
 *     input at its instant covers every instant.
 * A violation aborts, which libFuzzer reports as a crash with the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "election/election.h"
#include "fuzz_input.h"

#define NODES_MAX 5
#define INFLIGHT_MAX 64
#define HISTORY_MAX 512
#define TERMS_MAX 4096 /* terms tracked; a run of 512 input bytes reaches a few hundred */
#define MSG_MAX 128    /* bytes of an election message (about 60 packed) */
#define HEARTBEAT_MS 50
#define TIMEOUT_MS 500
#define MARGIN_MS 100
#define DRIFT_PPM 20000

/* Messages live in fixed slots: the run allocates only what the election
 * itself does. */
struct msg {
    int from, to;
    size_t len;
    uint8_t data[MSG_MAX];
};

struct node {
    struct election *e; /* NULL while crashed */
    struct election_hard_state disk;
    bool disk_fails;
    int64_t offset_ms;
    int32_t ppm;
};

struct world {
    int n;
    struct election_config cfg[NODES_MAX];
    struct node node[NODES_MAX];
    int64_t now; /* real time, ms */
    struct msg inflight[INFLIGHT_MAX];
    size_t n_inflight;
    /* Copies of the last HISTORY_MAX messages sent, a ring: history[(n_sent
     * - 1 - k) % HISTORY_MAX] is the k-th newest. */
    struct msg history[HISTORY_MAX];
    size_t n_sent;
    int8_t leader_of[TERMS_MAX]; /* voter + 1 that led each term, 0: none seen */
};

static uint64_t id_of(int i) { return 0x100 + (uint64_t)i; }

/* Voter i's clock at real time t. */
static int64_t clock_of(const struct world *w, int i, int64_t t) {
    const struct node *n = &w->node[i];
    return n->offset_ms + t + t * n->ppm / 1000000;
}

static void violation(const struct world *w, const char *what) {
    fprintf(stderr, "fuzz_election: %s at %lld ms\n", what, (long long)w->now);
    for (int i = 0; i < w->n; i++) {
        const struct election *e = w->node[i].e;
        if (e)
            fprintf(stderr, "  voter %d: %s, term %llu, lease until %lld (clock %lld)\n", i,
                    election_role_name(election_role(e)), (unsigned long long)election_term(e),
                    (long long)election_lease_until(e), (long long)clock_of(w, i, w->now));
        else
            fprintf(stderr, "  voter %d: down\n", i);
    }
    abort();
}

static void check(struct world *w) {
    int leases = 0;
    for (int i = 0; i < w->n; i++) {
        const struct election *e = w->node[i].e;
        if (!e)
            continue;
        leases += election_has_lease(e, clock_of(w, i, w->now));
        if (election_role(e) != ELECTION_LEADER)
            continue;
        uint64_t term = election_term(e);
        if (term >= TERMS_MAX)
            continue;
        if (w->leader_of[term] && w->leader_of[term] != i + 1)
            violation(w, "two leaders in one term");
        w->leader_of[term] = (int8_t)(i + 1);
    }
    if (leases > 1)
        violation(w, "two leases at once");
}

/* Saves (or fails to save) voter i's hard state, then puts what it sends on
 * the network. */
static void drain(struct world *w, int i) {
    struct node *n = &w->node[i];
    struct election_hard_state hs;
    if (election_unsaved(n->e, &hs)) {
        if (n->disk_fails) {
            election_save_failed(n->e);
        } else {
            n->disk = hs;
            election_saved(n->e);
        }
    }
    struct election_msg m;
    while (election_next_msg(n->e, &m)) {
        int to = (int)(m.to - id_of(0));
        if (to < 0 || to >= w->n || to == i)
            abort(); /* the election addressed a message to no other voter */
        if (m.len > MSG_MAX)
            abort();
        struct msg *h = &w->history[w->n_sent++ % HISTORY_MAX];
        *h = (struct msg){.from = i, .to = to, .len = m.len};
        memcpy(h->data, m.data, m.len);
        if (w->n_inflight < INFLIGHT_MAX) /* else the network is full: lost */
            w->inflight[w->n_inflight++] = *h;
        free(m.data);
    }
}

/* Delivers m to voter `to` (its addressee or not), from its real sender:
 * the transport authenticates who sent a frame, not where it goes. */
static void deliver(struct world *w, const struct msg *m, int to) {
    struct node *n = &w->node[to];
    if (!n->e)
        return;
    election_receive(n->e, clock_of(w, to, w->now), id_of(m->from), m->data, m->len);
    drain(w, to);
}

static void take(struct world *w, size_t k, bool keep) {
    struct msg m = w->inflight[k];
    if (!keep)
        w->inflight[k] = w->inflight[--w->n_inflight];
    deliver(w, &m, m.to);
}

static void start(struct world *w, int i, uint64_t seed) {
    struct node *n = &w->node[i];
    n->e = election_new(&w->cfg[i], &n->disk, seed, clock_of(w, i, w->now));
    if (!n->e)
        abort();
}

static void tick(struct world *w, int i, bool always) {
    struct node *n = &w->node[i];
    if (!n->e)
        return;
    int64_t now = clock_of(w, i, w->now);
    if (always || now >= election_next_deadline(n->e)) {
        election_tick(n->e, now);
        drain(w, i);
    }
}

static void advance(struct world *w, int64_t ms) {
    w->now += ms;
    for (int i = 0; i < w->n; i++)
        tick(w, i, false);
}

static void step(struct world *w, struct fuzz_input *in) {
    uint8_t op = fuzz_u8(in);
    int v = fuzz_u8(in) % w->n;
    switch (op % 11) {
    case 0: /* deliver */
    case 1: /* drop */
    case 2: /* deliver and keep a copy in flight (a duplicate) */
        if (w->n_inflight) {
            size_t k = fuzz_u8(in) % w->n_inflight;
            if (op % 11 == 1) {
                w->inflight[k] = w->inflight[--w->n_inflight];
            } else {
                take(w, k, op % 11 == 2);
            }
        }
        break;
    case 3: /* replay one of the last messages, to any voter */
        if (w->n_sent) {
            size_t kept = w->n_sent < HISTORY_MAX ? w->n_sent : HISTORY_MAX;
            size_t k = fuzz_u16(in) % kept;
            struct msg m = w->history[(w->n_sent - 1 - k) % HISTORY_MAX];
            deliver(w, &m, v);
        }
        break;
    case 4: advance(w, 1 + 4 * (int64_t)fuzz_u8(in)); break;
    case 5:
        if (w->node[v].e) {
            election_free(w->node[v].e); /* a crash: only the disk remains */
            w->node[v].e = NULL;
        } else {
            start(w, v, fuzz_u64(in));
        }
        break;
    case 6:
        while (w->n_inflight)
            take(w, 0, false);
        break;
    case 7: /* leadership transfer, to v or (v == self) the preferred voter */
        for (int i = 0; i < w->n; i++) {
            struct election *e = w->node[i].e;
            if (e && election_role(e) == ELECTION_LEADER) {
                election_transfer(e, clock_of(w, i, w->now), v == i ? 0 : id_of(v));
                drain(w, i);
            }
        }
        break;
    case 8: w->node[v].disk_fails = !w->node[v].disk_fails; break;
    case 9: advance(w, 1 + fuzz_u8(in) % 16); break;
    default: tick(w, v, true); break;
    }
    check(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fuzz_input in = {data, size};
    /* One world for every run, reset here: the message slots hold nothing
     * a run reads before it writes them (n_inflight, n_sent). */
    static struct world world;
    struct world *w = &world;
    memset(w->cfg, 0, sizeof w->cfg);
    memset(w->node, 0, sizeof w->node);
    memset(w->leader_of, 0, sizeof w->leader_of);
    w->now = 0;
    w->n_inflight = w->n_sent = 0;
    w->n = 3 + fuzz_u8(&in) % 3;
    int preferred = fuzz_u8(&in) % (w->n + 1); /* n: no preference */
    for (int i = 0; i < w->n; i++) {
        struct election_config *c = &w->cfg[i];
        c->self_id = id_of(i);
        c->n_voters = (size_t)w->n;
        for (int k = 0; k < w->n; k++)
            c->voters[k] = (struct election_voter){.id = id_of(k)};
        if (preferred < w->n)
            c->voters[preferred].priority = 1;
        c->heartbeat_ms = HEARTBEAT_MS;
        c->election_timeout_ms = TIMEOUT_MS;
        c->lease_margin_ms = MARGIN_MS;
        w->node[i].offset_ms = 16 * (int64_t)fuzz_u16(&in);
        w->node[i].ppm = (int32_t)(fuzz_u16(&in) % (2 * DRIFT_PPM + 1)) - DRIFT_PPM;
    }
    for (int i = 0; i < w->n; i++)
        start(w, i, 1000 + (uint64_t)i);
    while (fuzz_more(&in))
        step(w, &in);
    for (int i = 0; i < w->n; i++)
        election_free(w->node[i].e);
    return 0;
}
