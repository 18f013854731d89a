/* `nodesim gossip`: N instances of src/gossip on the simulated clock and
 * network of sim_net.c, with crashes and restarts, record updates and an
 * optional partition, measuring what the gossip targets ask for.
 *
 * Measurements (all in simulated time):
 * - detection: from a crash until every live node marks the node dead;
 * - false positives: live nodes marked dead (about their current life) by
 *   any node, counted once per node; every such mark is also counted;
 * - update: from a record update until every live node holds that version;
 * - bytes: gossip payload bytes each node sends per second after the
 *   warm-up (transport headers and MAC not included).
 * The cluster starts warm (every node knows every other, as after loading a
 * snapshot); a restarted node starts empty and joins through three random
 * live seeds, with its old incarnation + 1 as the agent restores it from
 * its snapshot. The last --quiet seconds have no crashes, updates or loss,
 * so that the final views can be checked: every live node should see every
 * other live node alive and every crashed one dead. With --signed, records
 * are sealed and checked as the agent's are (sim_sign.c), and the report
 * says what that cost. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/gossip.h"
#include "nodesim.h"
#include "sim_net.h"
#include "sim_sign.h"

enum { EV_TIMER, EV_DELIVER, EV_CRASH, EV_RESTART, EV_UPDATE, EV_PART_START, EV_PART_END, EV_QUIET };
enum { TRACK_CRASH, TRACK_UPDATE };

struct opts {
    uint32_t nodes;
    double loss;
    uint64_t seed;
    double duration_s, warmup_s, quiet_s;
    double latency_ms;
    double crash_every_s, down_for_s;
    double update_every_s;
    uint32_t record_bytes;
    double partition_at_s, partition_for_s;
    bool json;
    bool signed_records;
    const char *config_name;
    struct gossip_config cfg;
};

struct tracker {
    uint32_t subject;
    uint32_t kind;
    uint32_t slot; /* in sim.open */
    uint64_t threshold;
    int64_t t0_us;
    uint32_t count;
    uint8_t *bits;
};

struct node {
    struct gossip *g;
    bool up;
    bool fp_counted;
    uint32_t gen;
    int64_t timer_us;
    uint32_t life_inc; /* incarnation this life started with */
    uint64_t bytes;
    struct tracker *crash_t, *update_t;
    struct gossip_blob *store_blob; /* the store's copy of this node's newest record */
    uint64_t store_version;
};

struct samples {
    double *v;
    size_t n, cap;
};

struct sim {
    struct opts o;
    struct node *nodes;
    struct sim_net net;
    struct prng rng; /* scenario choices and per-node seeds */
    int64_t now_us, end_us, warm_us, quiet_us;
    uint32_t up_count;
    struct tracker **open;
    size_t n_open, cap_open;
    struct samples detect, update;
    uint64_t detect_aborted, update_aborted;
    uint64_t fp_nodes, fp_events, false_suspicions, refutations, crashes, updates, bad_addr;
    uint64_t events;
    double setup_wall_s, run_wall_s, run_cpu_s;
    struct sim_signer *signer; /* --signed */
};

static int samples_add(struct samples *s, double v) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *a = realloc(s->v, cap * sizeof *a);
        if (!a)
            return -1;
        s->v = a;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

/* One copy of each (node, version) for the whole simulated cluster. */
static struct gossip_blob *store_get(void *ctx, uint64_t id, uint64_t version,
                                     const uint8_t *data, size_t len) {
    struct sim *s = ctx;
    struct node *n = id >= 1 && id <= s->o.nodes ? &s->nodes[id - 1] : NULL;
    if (n && n->store_blob && n->store_version == version && n->store_blob->len == len &&
        (len == 0 || memcmp(n->store_blob->data, data, len) == 0)) {
        n->store_blob->refs++;
        return n->store_blob;
    }
    struct gossip_blob *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = (uint32_t)len;
    if (len)
        memcpy(b->data, data, len);
    if (n) {
        gossip_blob_unref(n->store_blob);
        b->refs++;
        n->store_blob = b;
        n->store_version = version;
    }
    return b;
}

/* ---- trackers ---- */

static int tracker_open(struct sim *s, uint32_t kind, uint32_t subject, uint64_t threshold,
                        struct tracker **out) {
    struct tracker *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->bits = calloc((s->o.nodes + 7) / 8, 1);
    if (!t->bits) {
        free(t);
        return -1;
    }
    if (s->n_open == s->cap_open) {
        size_t cap = s->cap_open ? s->cap_open * 2 : 64;
        struct tracker **a = realloc(s->open, cap * sizeof *a);
        if (!a) {
            free(t->bits);
            free(t);
            return -1;
        }
        s->open = a;
        s->cap_open = cap;
    }
    *t = (struct tracker){.subject = subject, .kind = kind, .slot = (uint32_t)s->n_open,
                          .threshold = threshold, .t0_us = s->now_us, .bits = t->bits};
    s->open[s->n_open++] = t;
    *out = t;
    return 0;
}

/* Closes t; done = it completed (its time is a sample). */
static int tracker_close(struct sim *s, struct tracker *t, bool done) {
    struct tracker *last = s->open[--s->n_open];
    s->open[t->slot] = last;
    last->slot = t->slot;
    struct node *n = &s->nodes[t->subject];
    if (n->crash_t == t)
        n->crash_t = NULL;
    if (n->update_t == t)
        n->update_t = NULL;
    int rc = 0;
    double secs = (double)(s->now_us - t->t0_us) / 1e6;
    if (t->kind == TRACK_CRASH)
        rc = done ? samples_add(&s->detect, secs) : (s->detect_aborted++, 0);
    else
        rc = done ? samples_add(&s->update, secs) : (s->update_aborted++, 0);
    free(t->bits);
    free(t);
    return rc;
}

static int tracker_mark(struct sim *s, struct tracker *t, uint32_t observer) {
    uint8_t bit = (uint8_t)(1u << (observer & 7));
    if (t->bits[observer / 8] & bit)
        return 0;
    t->bits[observer / 8] |= bit;
    t->count++;
    return t->count >= s->up_count ? tracker_close(s, t, true) : 0;
}

/* ---- driving one node ---- */

static int on_event(struct sim *s, uint32_t y, const struct gossip_event *e) {
    if (e->id < 1 || e->id > s->o.nodes)
        return 0;
    uint32_t x = (uint32_t)(e->id - 1);
    struct node *nx = &s->nodes[x];
    if (x == y) {
        if (e->kind == GOSSIP_EV_STATE && e->state == GOSSIP_ALIVE &&
            e->old_state == GOSSIP_ALIVE && e->incarnation > nx->life_inc)
            s->refutations++;
        return 0;
    }
    if (e->kind == GOSSIP_EV_RECORD) {
        if (nx->update_t && e->record_version >= nx->update_t->threshold)
            return tracker_mark(s, nx->update_t, y);
        return 0;
    }
    if (!nx->up) {
        if (e->state == GOSSIP_DEAD && nx->crash_t)
            return tracker_mark(s, nx->crash_t, y);
        return 0;
    }
    if (e->incarnation < nx->life_inc)
        return 0; /* news about a previous life */
    if (e->state == GOSSIP_SUSPECT)
        s->false_suspicions++;
    if (e->state == GOSSIP_DEAD) {
        s->fp_events++;
        if (!nx->fp_counted) {
            nx->fp_counted = true;
            s->fp_nodes++;
        }
    }
    return 0;
}

static int schedule(struct sim *s, uint32_t i) {
    struct node *n = &s->nodes[i];
    int64_t d = gossip_next_deadline(n->g);
    int64_t t = d >= INT64_MAX / 1000 ? INT64_MAX : d * 1000;
    if (t < s->now_us)
        t = s->now_us;
    if (t >= n->timer_us)
        return 0; /* the timer already queued fires first; it reschedules */
    n->timer_us = t;
    struct sim_event ev = {.t_us = t, .kind = EV_TIMER, .node = i, .gen = ++n->gen};
    return sim_heap_push(&s->net.heap, &ev);
}

static int drain(struct sim *s, uint32_t i) {
    struct node *n = &s->nodes[i];
    struct gossip_msg m;
    while (gossip_next_msg(n->g, &m)) {
        uint32_t to = sim_addr_node(&m.to);
        if (m.to.port != SIM_PORT || to >= s->o.nodes) {
            s->bad_addr++;
            free(m.data);
            continue;
        }
        if (s->now_us >= s->warm_us)
            n->bytes += m.len;
        if (sim_net_send(&s->net, s->now_us, EV_DELIVER, i, to, m.data, m.len) != 0)
            return -1;
    }
    struct gossip_event e;
    while (gossip_next_event(n->g, &e))
        if (on_event(s, i, &e) != 0)
            return -1;
    return schedule(s, i);
}

static int node_start(struct sim *s, uint32_t i, uint32_t incarnation) {
    struct node *n = &s->nodes[i];
    struct gossip_addr a = sim_addr(i);
    struct gossip_config cfg = s->o.cfg;
    if (s->signer)
        sim_signer_configure(s->signer, i, &cfg);
    n->g = gossip_new(&cfg, i + 1, &a, incarnation, prng_next(&s->rng), s->now_us / 1000);
    if (!n->g)
        return -1;
    n->up = true;
    n->fp_counted = false;
    n->life_inc = incarnation;
    n->timer_us = INT64_MAX;
    s->up_count++;
    return 0;
}

/* ---- scenario ---- */

static uint32_t random_up(struct sim *s) {
    for (int t = 0; t < 64; t++) {
        uint32_t i = (uint32_t)prng_below(&s->rng, s->o.nodes);
        if (s->nodes[i].up)
            return i;
    }
    return UINT32_MAX;
}

static int push_at(struct sim *s, int64_t t_us, uint32_t kind, uint32_t node) {
    struct sim_event ev = {.t_us = t_us, .kind = kind, .node = node};
    return sim_heap_push(&s->net.heap, &ev);
}

static int do_crash(struct sim *s) {
    int64_t next = s->now_us + (int64_t)(s->o.crash_every_s * 1e6);
    if (next < s->quiet_us && push_at(s, next, EV_CRASH, 0) != 0)
        return -1;
    uint32_t x = random_up(s);
    if (x == UINT32_MAX || s->up_count < 3)
        return 0;
    struct node *n = &s->nodes[x];
    uint32_t last_inc = gossip_incarnation(n->g);
    gossip_free(n->g);
    n->g = NULL;
    n->up = false;
    n->gen++;
    n->timer_us = INT64_MAX;
    n->life_inc = last_inc;
    s->up_count--;
    s->crashes++;
    if (n->update_t && tracker_close(s, n->update_t, false) != 0)
        return -1;
    /* The crashed node no longer counts as an observer. */
    for (size_t k = 0; k < s->n_open; k++) {
        struct tracker *t = s->open[k];
        uint8_t bit = (uint8_t)(1u << (x & 7));
        if (t->bits[x / 8] & bit) {
            t->bits[x / 8] &= (uint8_t)~bit;
            t->count--;
        }
    }
    for (size_t k = 0; k < s->n_open;) {
        struct tracker *t = s->open[k];
        if (t->count >= s->up_count) {
            if (tracker_close(s, t, true) != 0)
                return -1;
        } else {
            k++;
        }
    }
    if (tracker_open(s, TRACK_CRASH, x, 0, &n->crash_t) != 0)
        return -1;
    return push_at(s, s->now_us + (int64_t)(s->o.down_for_s * 1e6), EV_RESTART, x);
}

static int do_restart(struct sim *s, uint32_t x) {
    struct node *n = &s->nodes[x];
    if (n->crash_t && tracker_close(s, n->crash_t, false) != 0)
        return -1;
    if (node_start(s, x, n->life_inc + 1) != 0)
        return -1;
    struct gossip_addr seeds[3];
    size_t k = 0;
    for (int t = 0; t < 3; t++) {
        uint32_t y = random_up(s);
        if (y != UINT32_MAX && y != x)
            seeds[k++] = sim_addr(y);
    }
    if (gossip_join(n->g, s->now_us / 1000, seeds, k) != 0)
        return -1;
    return drain(s, x);
}

static int do_update(struct sim *s) {
    int64_t next = s->now_us + (int64_t)(s->o.update_every_s * 1e6);
    if (next < s->quiet_us && push_at(s, next, EV_UPDATE, 0) != 0)
        return -1;
    uint32_t x = random_up(s);
    if (x == UINT32_MAX)
        return 0;
    struct node *n = &s->nodes[x];
    uint8_t *rec = malloc(s->o.record_bytes ? s->o.record_bytes : 1);
    if (!rec)
        return -1;
    for (uint32_t b = 0; b < s->o.record_bytes; b++)
        rec[b] = (uint8_t)prng_next(&s->rng);
    int rc = gossip_set_record(n->g, s->now_us / 1000, rec, s->o.record_bytes);
    free(rec);
    if (rc != 0)
        return -1;
    struct gossip_member_info me;
    gossip_member_find(n->g, x + 1, &me);
    if (n->update_t && tracker_close(s, n->update_t, false) != 0)
        return -1;
    s->updates++;
    if (tracker_open(s, TRACK_UPDATE, x, me.record_version, &n->update_t) != 0 ||
        tracker_mark(s, n->update_t, x) != 0)
        return -1;
    return drain(s, x);
}

static int handle(struct sim *s, struct sim_event *ev) {
    struct node *n = &s->nodes[ev->node];
    int rc = 0;
    switch (ev->kind) {
    case EV_TIMER:
        if (!n->up || ev->gen != n->gen)
            return 0;
        n->timer_us = INT64_MAX;
        /* The deadline may have moved later since this timer was queued
         * (an ack arrived before the probe timeout): just requeue. */
        if (gossip_next_deadline(n->g) > s->now_us / 1000)
            return schedule(s, ev->node);
        rc = gossip_tick(n->g, s->now_us / 1000);
        return rc ? rc : drain(s, ev->node);
    case EV_DELIVER:
        if (n->up) {
            struct gossip_addr from = sim_addr(ev->from);
            rc = gossip_receive(n->g, s->now_us / 1000, ev->from + 1, &from, ev->data, ev->len);
            if (rc == 0)
                rc = drain(s, ev->node);
        }
        free(ev->data);
        return rc;
    case EV_CRASH: return do_crash(s);
    case EV_RESTART: return do_restart(s, ev->node);
    case EV_UPDATE: return do_update(s);
    case EV_PART_START:
        for (uint32_t i = 0; i < s->o.nodes; i++)
            s->net.side[i] = (uint8_t)(i % 2);
        return 0;
    case EV_PART_END: memset(s->net.side, 0, s->o.nodes); return 0;
    case EV_QUIET: s->net.loss = 0; return 0;
    }
    return 0;
}

/* ---- final views ---- */

struct views {
    uint64_t alive_wrong; /* (live observer, live member) pairs not seen ALIVE */
    uint64_t dead_wrong;  /* (live observer, down member) pairs not seen DEAD */
};

static struct views final_views(const struct sim *s) {
    struct views v = {0};
    for (uint32_t y = 0; y < s->o.nodes; y++) {
        if (!s->nodes[y].up)
            continue;
        for (uint32_t x = 0; x < s->o.nodes; x++) {
            if (x == y)
                continue;
            struct gossip_member_info m;
            bool known = gossip_member_find(s->nodes[y].g, x + 1, &m);
            if (s->nodes[x].up)
                v.alive_wrong += !known || m.state != GOSSIP_ALIVE;
            else
                v.dead_wrong += !known || m.state != GOSSIP_DEAD;
        }
    }
    return v;
}

/* ---- options ---- */

static int parse_double(const char *name, const char *arg, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "nodesim gossip: --%s: '%s' is not a number in [%g, %g]\n", name, arg, lo,
                hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u32(const char *name, const char *arg, uint32_t lo, uint32_t hi, uint32_t *out) {
    double v;
    if (parse_double(name, arg, lo, hi, &v) != 0)
        return -1;
    if (v != floor(v)) {
        fprintf(stderr, "nodesim gossip: --%s: '%s' is not a whole number\n", name, arg);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: nodesim gossip [--nodes N] [--loss P] [--seed S] [--duration SECONDS] [--json]\n"
            "  scenario: --warmup S (5) --quiet S (20: no crashes, updates or loss at the end)\n"
            "            --crash-every S (2; 0 = none) --down-for S (30)\n"
            "            --update-every S (0.5; 0 = none) --record-bytes B (512)\n"
            "            --partition-at S --partition-for S (none) --latency-ms MEAN (1)\n"
            "  timing:   --config default|memberlist (default), then overrides: --probe-interval-ms\n"
            "            --probe-timeout-ms --indirect-checks --suspicion-mult\n"
            "            --suspicion-max-mult --retransmit-mult --gossip-interval-ms\n"
            "            --gossip-nodes --push-pull-ms\n"
            "  records:  --signed (sealed and checked as the agent's: docs/security.md)\n");
}

enum {
    O_NODES = 1, O_LOSS, O_SEED, O_DURATION, O_JSON, O_WARMUP, O_QUIET, O_CRASH, O_DOWN, O_UPDATE,
    O_RECORD, O_PART_AT, O_PART_FOR, O_LATENCY, O_CONFIG, O_PROBE, O_PROBE_TO, O_INDIRECT,
    O_SUSP, O_SUSP_MAX, O_RETRANS, O_GOSSIP_INT, O_GOSSIP_NODES, O_PUSH_PULL, O_SIGNED, O_HELP
};

static int parse(int argc, char **argv, struct opts *o) {
    static const struct option longopts[] = {
        {"nodes", 1, 0, O_NODES}, {"loss", 1, 0, O_LOSS}, {"seed", 1, 0, O_SEED},
        {"duration", 1, 0, O_DURATION}, {"json", 0, 0, O_JSON}, {"warmup", 1, 0, O_WARMUP},
        {"quiet", 1, 0, O_QUIET}, {"crash-every", 1, 0, O_CRASH}, {"down-for", 1, 0, O_DOWN},
        {"update-every", 1, 0, O_UPDATE}, {"record-bytes", 1, 0, O_RECORD},
        {"partition-at", 1, 0, O_PART_AT}, {"partition-for", 1, 0, O_PART_FOR},
        {"latency-ms", 1, 0, O_LATENCY}, {"config", 1, 0, O_CONFIG},
        {"probe-interval-ms", 1, 0, O_PROBE}, {"probe-timeout-ms", 1, 0, O_PROBE_TO},
        {"indirect-checks", 1, 0, O_INDIRECT}, {"suspicion-mult", 1, 0, O_SUSP},
        {"suspicion-max-mult", 1, 0, O_SUSP_MAX}, {"retransmit-mult", 1, 0, O_RETRANS},
        {"gossip-interval-ms", 1, 0, O_GOSSIP_INT}, {"gossip-nodes", 1, 0, O_GOSSIP_NODES},
        {"push-pull-ms", 1, 0, O_PUSH_PULL}, {"signed", 0, 0, O_SIGNED},
        {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    *o = (struct opts){.nodes = 100, .seed = 1, .duration_s = 60, .warmup_s = 5, .quiet_s = 20,
                       .latency_ms = 1, .crash_every_s = 2, .down_for_s = 30,
                       .update_every_s = 0.5, .record_bytes = 512, .partition_at_s = -1,
                       .config_name = "default"};
    gossip_config_defaults(&o->cfg);
    /* --config first, so that the overrides apply to the chosen base. */
    for (int k = 1; k + 1 < argc; k++) {
        if (strcmp(argv[k], "--config") != 0)
            continue;
        o->config_name = argv[k + 1];
        if (strcmp(o->config_name, "memberlist") == 0) {
            gossip_config_memberlist_lan(&o->cfg);
        } else if (strcmp(o->config_name, "default") != 0) {
            fprintf(stderr, "nodesim gossip: --config: '%s' is neither default nor memberlist\n",
                    o->config_name);
            return -1;
        }
    }
    optind = 1;
    int c;
    double d;
    int rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_NODES: rc = parse_u32("nodes", optarg, 2, 1u << 24, &o->nodes); break;
        case O_LOSS: rc = parse_double("loss", optarg, 0, 0.99, &o->loss); break;
        case O_SEED:
            rc = parse_double("seed", optarg, 0, 1e15, &d);
            o->seed = (uint64_t)d;
            break;
        case O_DURATION: rc = parse_double("duration", optarg, 1, 1e6, &o->duration_s); break;
        case O_JSON: o->json = true; break;
        case O_WARMUP: rc = parse_double("warmup", optarg, 0, 1e6, &o->warmup_s); break;
        case O_QUIET: rc = parse_double("quiet", optarg, 0, 1e6, &o->quiet_s); break;
        case O_CRASH: rc = parse_double("crash-every", optarg, 0, 1e6, &o->crash_every_s); break;
        case O_DOWN: rc = parse_double("down-for", optarg, 0.001, 1e6, &o->down_for_s); break;
        case O_UPDATE: rc = parse_double("update-every", optarg, 0, 1e6, &o->update_every_s); break;
        case O_RECORD:
            rc = parse_u32("record-bytes", optarg, 0, GOSSIP_RECORD_MAX, &o->record_bytes);
            break;
        case O_PART_AT: rc = parse_double("partition-at", optarg, 0, 1e6, &o->partition_at_s); break;
        case O_PART_FOR:
            rc = parse_double("partition-for", optarg, 0, 1e6, &o->partition_for_s);
            break;
        case O_LATENCY: rc = parse_double("latency-ms", optarg, 0, 1e4, &o->latency_ms); break;
        case O_CONFIG: break;
        case O_PROBE: rc = parse_u32("probe-interval-ms", optarg, 1, 1e7, &o->cfg.probe_interval_ms); break;
        case O_PROBE_TO: rc = parse_u32("probe-timeout-ms", optarg, 1, 1e7, &o->cfg.probe_timeout_ms); break;
        case O_INDIRECT: rc = parse_u32("indirect-checks", optarg, 0, 16, &o->cfg.indirect_checks); break;
        case O_SUSP: rc = parse_u32("suspicion-mult", optarg, 1, 100, &o->cfg.suspicion_mult); break;
        case O_SUSP_MAX:
            rc = parse_u32("suspicion-max-mult", optarg, 1, 100, &o->cfg.suspicion_max_timeout_mult);
            break;
        case O_RETRANS: rc = parse_u32("retransmit-mult", optarg, 1, 100, &o->cfg.retransmit_mult); break;
        case O_GOSSIP_INT:
            rc = parse_u32("gossip-interval-ms", optarg, 1, 1e7, &o->cfg.gossip_interval_ms);
            break;
        case O_GOSSIP_NODES: rc = parse_u32("gossip-nodes", optarg, 1, 64, &o->cfg.gossip_nodes); break;
        case O_PUSH_PULL: rc = parse_u32("push-pull-ms", optarg, 1, 1e8, &o->cfg.push_pull_interval_ms); break;
        case O_SIGNED: o->signed_records = true; break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (rc != 0)
        return -1;
    if (optind < argc) {
        fprintf(stderr, "nodesim gossip: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    const char *bad = gossip_config_check(&o->cfg);
    if (bad) {
        fprintf(stderr, "nodesim gossip: bad timing: %s\n", bad);
        return -1;
    }
    return 0;
}

/* ---- report ---- */

static json_t *num_or_null(const struct samples *s, double pct) {
    if (s->n == 0)
        return json_null();
    return json_real(sim_percentile(s->v, s->n, pct));
}

static json_t *report(struct sim *s, double wall_s, const struct views *v) {
    double window = (double)(s->end_us - s->warm_us) / 1e6;
    double sum = 0, max = 0;
    for (uint32_t i = 0; i < s->o.nodes; i++) {
        double r = (double)s->nodes[i].bytes / window;
        sum += r;
        if (r > max)
            max = r;
    }
    const struct gossip_config *c = &s->o.cfg;
    json_t *cfg = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name", s->o.config_name,
        "probe_interval_ms", (json_int_t)c->probe_interval_ms, "probe_timeout_ms",
        (json_int_t)c->probe_timeout_ms, "indirect_checks", (json_int_t)c->indirect_checks,
        "suspicion_mult", (json_int_t)c->suspicion_mult, "suspicion_max_timeout_mult",
        (json_int_t)c->suspicion_max_timeout_mult, "retransmit_mult",
        (json_int_t)c->retransmit_mult, "push_pull_interval_ms",
        (json_int_t)c->push_pull_interval_ms, "gossip_interval_ms",
        (json_int_t)c->gossip_interval_ms, "gossip_nodes", (json_int_t)c->gossip_nodes,
        "packet_max", (json_int_t)c->packet_max);
    json_t *o = json_object();
    if (!o || !cfg)
        return NULL;
    json_object_set_new(o, "nodes", json_integer(s->o.nodes));
    json_object_set_new(o, "loss", json_real(s->o.loss));
    json_object_set_new(o, "seed", json_integer((json_int_t)s->o.seed));
    json_object_set_new(o, "config", cfg);
    json_object_set_new(o, "detect_all_p50_s", num_or_null(&s->detect, 50));
    json_object_set_new(o, "detect_all_p99_s", num_or_null(&s->detect, 99));
    json_object_set_new(o, "detect_all_max_s", num_or_null(&s->detect, 100));
    json_object_set_new(o, "detections", json_integer((json_int_t)s->detect.n));
    json_object_set_new(o, "detections_unfinished", json_integer((json_int_t)s->detect_aborted));
    json_object_set_new(o, "crashes", json_integer((json_int_t)s->crashes));
    json_object_set_new(o, "false_positives", json_integer((json_int_t)s->fp_nodes));
    json_object_set_new(o, "false_positive_marks", json_integer((json_int_t)s->fp_events));
    json_object_set_new(o, "false_suspicions", json_integer((json_int_t)s->false_suspicions));
    json_object_set_new(o, "refutations", json_integer((json_int_t)s->refutations));
    json_object_set_new(o, "update_all_p50_s", num_or_null(&s->update, 50));
    json_object_set_new(o, "update_all_p99_s", num_or_null(&s->update, 99));
    json_object_set_new(o, "update_all_max_s", num_or_null(&s->update, 100));
    json_object_set_new(o, "updates", json_integer((json_int_t)s->update.n));
    json_object_set_new(o, "updates_unfinished", json_integer((json_int_t)s->update_aborted));
    json_object_set_new(o, "bytes_per_node_s_mean", json_real(sum / s->o.nodes));
    json_object_set_new(o, "bytes_per_node_s_max", json_real(max));
    json_object_set_new(o, "packets_sent", json_integer((json_int_t)s->net.sent));
    if (s->signer) {
        /* What sealing and checking records cost each node, in CPU time
         * per simulated second and per record. */
        const struct sim_sign_stats *st = sim_signer_stats(s->signer);
        double secs = (double)s->end_us / 1e6;
        json_object_set_new(o, "record_overhead_bytes", json_integer((json_int_t)st->overhead));
        json_object_set_new(o, "record_seals", json_integer((json_int_t)st->seals));
        json_object_set_new(o, "record_verifies", json_integer((json_int_t)st->verifies));
        json_object_set_new(o, "records_refused", json_integer((json_int_t)st->refused));
        json_object_set_new(o, "seal_us_each", json_real(st->seals ? st->seal_s * 1e6 / (double)st->seals : 0));
        json_object_set_new(o, "verify_us_each",
                            json_real(st->verifies ? st->verify_s * 1e6 / (double)st->verifies : 0));
        json_object_set_new(o, "verifies_per_node_s", json_real((double)st->verifies / s->o.nodes / secs));
        json_object_set_new(o, "sign_cpu_share_per_node",
                            json_real((st->seal_s + st->verify_s) / s->o.nodes / secs));
    }
    json_object_set_new(o, "packets_dropped", json_integer((json_int_t)s->net.dropped));
    json_object_set_new(o, "final_live_not_alive", json_integer((json_int_t)v->alive_wrong));
    json_object_set_new(o, "final_down_not_dead", json_integer((json_int_t)v->dead_wrong));
    json_object_set_new(o, "sim_events", json_integer((json_int_t)s->events));
    json_object_set_new(o, "sim_seconds", json_real((double)s->end_us / 1e6));
    json_object_set_new(o, "wall_seconds", json_real(wall_s));
    /* Parts of wall_seconds: building the warm cluster, and the simulation
     * proper (the rest is the final check of every view). */
    json_object_set_new(o, "setup_wall_seconds", json_real(s->setup_wall_s));
    json_object_set_new(o, "run_wall_seconds", json_real(s->run_wall_s));
    /* The simulation proper in CPU time of this process: on a shared
     * machine the wall time also counts the other processes' turns. */
    json_object_set_new(o, "run_cpu_seconds", json_real(s->run_cpu_s));
    return o;
}

static void print_summary(json_t *o) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_object(v)) {
            const char *k2;
            json_t *v2;
            printf("%-24s", k);
            json_object_foreach(v, k2, v2) {
                if (json_is_string(v2))
                    printf(" %s", json_string_value(v2));
                else
                    printf(" %s=%lld", k2, (long long)json_integer_value(v2));
            }
            printf("\n");
        } else if (json_is_real(v)) {
            printf("%-24s %.3f\n", k, json_real_value(v));
        } else if (json_is_integer(v)) {
            printf("%-24s %lld\n", k, (long long)json_integer_value(v));
        } else {
            printf("%-24s -\n", k);
        }
    }
}

static double clock_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void) {
    return clock_s(CLOCK_MONOTONIC);
}

static int run(struct sim *s) {
    double t0 = wall_now();
    uint32_t n = s->o.nodes;
    s->end_us = (int64_t)(s->o.duration_s * 1e6);
    s->warm_us = (int64_t)(s->o.warmup_s * 1e6);
    s->quiet_us = s->end_us - (int64_t)(s->o.quiet_s * 1e6);
    s->o.cfg.store = (struct gossip_blob_store){.get = store_get, .ctx = s};
    if (s->o.signed_records && !(s->signer = sim_signer_new(n)))
        return -1;
    prng_seed(&s->rng, s->o.seed);
    s->nodes = calloc(n, sizeof *s->nodes);
    if (!s->nodes || sim_net_init(&s->net, n, prng_next(&s->rng), s->o.loss, s->o.latency_ms) != 0)
        return -1;
    /* Warm start: every node knows the whole cluster alive. */
    struct gossip_member_info *all = calloc(n, sizeof *all);
    if (!all)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        all[i] = (struct gossip_member_info){.id = i + 1, .addr = sim_addr(i),
                                             .state = GOSSIP_ALIVE};
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = node_start(s, i, 0);
        if (rc == 0)
            rc = gossip_add_members(s->nodes[i].g, 0, all, n);
        if (rc == 0)
            rc = drain(s, i);
    }
    free(all);
    if (rc != 0)
        return -1;
    if (s->o.crash_every_s > 0 && s->warm_us < s->quiet_us && push_at(s, s->warm_us, EV_CRASH, 0))
        return -1;
    if (s->o.update_every_s > 0 && s->warm_us < s->quiet_us && push_at(s, s->warm_us, EV_UPDATE, 0))
        return -1;
    if (s->quiet_us > 0 && push_at(s, s->quiet_us, EV_QUIET, 0))
        return -1;
    if (s->o.partition_at_s >= 0) {
        int64_t a = (int64_t)(s->o.partition_at_s * 1e6);
        if (push_at(s, a, EV_PART_START, 0) ||
            push_at(s, a + (int64_t)(s->o.partition_for_s * 1e6), EV_PART_END, 0))
            return -1;
    }
    s->setup_wall_s = wall_now() - t0;
    double cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    struct sim_event ev;
    while (sim_heap_pop(&s->net.heap, &ev)) {
        if (ev.t_us > s->end_us) {
            free(ev.data);
            break;
        }
        s->now_us = ev.t_us;
        s->events++;
        if (handle(s, &ev) != 0)
            return -1;
    }
    s->now_us = s->end_us;
    s->run_wall_s = wall_now() - t0 - s->setup_wall_s;
    s->run_cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    return 0;
}

static void sim_free(struct sim *s) {
    if (s->nodes) {
        for (uint32_t i = 0; i < s->o.nodes; i++) {
            gossip_free(s->nodes[i].g);
            gossip_blob_unref(s->nodes[i].store_blob);
        }
    }
    while (s->n_open)
        tracker_close(s, s->open[0], false);
    free(s->open);
    free(s->nodes);
    free(s->detect.v);
    free(s->update.v);
    sim_net_free(&s->net);
    sim_signer_free(s->signer);
}

int nodesim_gossip(int argc, char **argv) {
    struct sim s = {0};
    if (parse(argc, argv, &s.o) != 0)
        return 2;
    double t0 = wall_now();
    int rc = run(&s);
    if (rc != 0) {
        fprintf(stderr, "nodesim gossip: out of memory or internal error at %.3f s\n",
                (double)s.now_us / 1e6);
        sim_free(&s);
        return 1;
    }
    struct views v = final_views(&s);
    json_t *o = report(&s, wall_now() - t0, &v);
    sim_free(&s);
    if (!o) {
        fprintf(stderr, "nodesim gossip: out of memory\n");
        return 1;
    }
    if (s.o.json) {
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        printf("\n");
    } else {
        print_summary(o);
    }
    json_decref(o);
    return 0;
}
