/* `nodesim election`: the real election code (src/election) with the real
 * gossip code (src/gossip) on the simulated clock and network of sim_net.c,
 * under crashes, pauses, partitions and loss, checking on every step of one
 * simulated millisecond:
 *   - at most one leader per term (leaders_per_term_max must stay 1);
 *   - at most one node holds a lease at any instant (lease_overlaps);
 *   - no command of a deposed leader is carried out: a command counts as
 *     stale when a leader of a higher term had been elected before it was
 *     sent; hosts refuse commands below the highest term they have seen
 *     (src/election/fence.h), learned from their vote, heartbeats, gossip
 *     and commands (stale_commands_accepted must stay 0).
 * Voters are nodes 0..V-1; every node gossips a small record with the
 * (term, leader) it knows, which is how the other nodes learn the leader.
 * The leader, while it holds its lease, sends a command to a random node
 * every 100 ms. Failover is timed from the fault that took the lease holder
 * away (crash, pause, cut off) until another node holds a lease. A run is a
 * function of its seed; a violation prints the seed and exits 1. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "election/election.h"
#include "election/fence.h"
#include "gossip/gossip.h"
#include "nodesim.h"
#include "sim_net.h"

enum { EV_GOSSIP, EV_ELECTION, EV_COMMAND };
enum fault { F_CRASH = 1, F_PARTITION = 2, F_LOSS = 4, F_PAUSE = 8 };
#define MAX_TERMS 65536
#define COMMAND_EVERY_US 100000

struct opts {
    uint32_t voters, nodes;
    uint64_t seed, seeds;
    double duration_s, fault_every_s;
    unsigned faults;
    uint32_t heartbeat_ms, timeout_ms;
    bool json;
};

struct node {
    bool up, frozen;
    struct gossip *g;
    struct election *e;
    struct election_hard_state disk;
    struct fence fence;
    uint32_t incarnation;
    uint64_t published_term;
    int64_t next_command_us;
    int64_t thaw_us, restart_us;
};

struct sim {
    struct opts o;
    struct sim_net net;
    struct prng rng;
    struct node *n;
    int64_t now_us;
    uint32_t *leader_of_term; /* node + 1 of the first leader seen per term */
    int64_t *elected_us;      /* when the first leader of the term appeared */
    uint32_t leaders_per_term_max;
    uint64_t lease_overlaps, stale_accepted, commands_sent, commands_refused, elections;
    int64_t heal_us;          /* partition or loss ends */
    int64_t next_fault_us;
    int64_t failover_from_us; /* -1: not timing */
    int failover_holder;
    double *failovers;
    size_t n_failovers, cap_failovers;
    uint64_t violations;
};

static uint64_t voter_id(uint32_t i) { return 0x100 + i; }

static int64_t now_ms(const struct sim *s) { return s->now_us / 1000; }

/* The gossiped record: the term this node knows and its leader. */
static void publish(struct sim *s, uint32_t i) {
    struct node *n = &s->n[i];
    uint64_t rec[2] = {n->fence.highest, 0};
    if (n->e) {
        rec[0] = election_term(n->e);
        rec[1] = election_leader(n->e);
    }
    if (rec[0] == n->published_term)
        return;
    n->published_term = rec[0];
    if (gossip_set_record(n->g, now_ms(s), (const uint8_t *)rec, sizeof rec) != 0)
        s->violations++; /* out of memory: the run is not trustworthy */
}

static void drain(struct sim *s, uint32_t i) {
    struct node *n = &s->n[i];
    struct gossip_msg gm;
    while (gossip_next_msg(n->g, &gm)) {
        uint32_t to = sim_addr_node(&gm.to);
        if (to < s->o.nodes)
            sim_net_send(&s->net, s->now_us, EV_GOSSIP, i, to, gm.data, gm.len);
        else
            free(gm.data);
    }
    struct gossip_event ev;
    while (gossip_next_event(n->g, &ev)) {
        struct gossip_member_info m;
        if (ev.kind == GOSSIP_EV_RECORD && gossip_member_find(n->g, ev.id, &m) &&
            m.record_len == 16) {
            uint64_t term;
            memcpy(&term, m.record, 8);
            fence_see(&n->fence, term);
        }
    }
    if (!n->e)
        return;
    struct election_hard_state hs;
    if (election_unsaved(n->e, &hs)) {
        n->disk = hs;
        election_saved(n->e);
    }
    fence_see(&n->fence, election_term(n->e));
    struct election_msg em;
    while (election_next_msg(n->e, &em)) {
        uint32_t to = (uint32_t)(em.to - voter_id(0));
        sim_net_send(&s->net, s->now_us, EV_ELECTION, i, to, em.data, em.len);
    }
    publish(s, i);
}

static int start(struct sim *s, uint32_t i) {
    struct node *n = &s->n[i];
    struct gossip_config gc;
    gossip_config_defaults(&gc);
    struct gossip_addr a = sim_addr(i);
    n->g = gossip_new(&gc, i + 1, &a, n->incarnation, prng_next(&s->rng), now_ms(s));
    if (!n->g)
        return -1;
    /* Every node knows every other one, as after loading its snapshot. */
    for (uint32_t k = 0; k < s->o.nodes; k++) {
        if (k == i)
            continue;
        struct gossip_member_info m = {.id = k + 1, .addr = sim_addr(k), .state = GOSSIP_ALIVE};
        if (gossip_add_members(n->g, now_ms(s), &m, 1) != 0)
            return -1;
    }
    if (i < s->o.voters) {
        struct election_config c = {.self_id = voter_id(i), .n_voters = s->o.voters,
                                    .heartbeat_ms = s->o.heartbeat_ms,
                                    .election_timeout_ms = s->o.timeout_ms,
                                    .lease_margin_ms = s->o.timeout_ms / 5};
        for (uint32_t k = 0; k < s->o.voters; k++)
            c.voters[k].id = voter_id(k);
        n->e = election_new(&c, &n->disk, prng_next(&s->rng), now_ms(s));
        if (!n->e)
            return -1;
    }
    n->up = true;
    n->published_term = UINT64_MAX;
    n->next_command_us = s->now_us;
    publish(s, i);
    return 0;
}

static void crash(struct sim *s, uint32_t i) {
    struct node *n = &s->n[i];
    gossip_free(n->g);
    election_free(n->e);
    n->g = NULL;
    n->e = NULL;
    n->up = false;
    n->frozen = false;
    n->incarnation++;
    /* Memory is lost; the election's hard state is on disk, the fence is
     * re-learned from it and from gossip (the agent persists it too). */
    n->fence.highest = n->disk.term;
}

static int lease_holder(struct sim *s) {
    int holder = -1, count = 0;
    for (uint32_t i = 0; i < s->o.voters; i++) {
        struct node *n = &s->n[i];
        if (n->up && !n->frozen && election_has_lease(n->e, now_ms(s))) {
            holder = (int)i;
            count++;
        }
    }
    if (count > 1) {
        s->lease_overlaps++;
        s->violations++;
    }
    return holder;
}

static void check_leaders(struct sim *s) {
    for (uint32_t i = 0; i < s->o.voters; i++) {
        struct node *n = &s->n[i];
        if (!n->up || election_role(n->e) != ELECTION_LEADER)
            continue;
        uint64_t t = election_term(n->e);
        if (t >= MAX_TERMS)
            continue;
        if (!s->leader_of_term[t]) {
            s->leader_of_term[t] = i + 1;
            s->elected_us[t] = s->now_us;
            s->elections++;
        } else if (s->leader_of_term[t] != i + 1 && s->leaders_per_term_max < 2) {
            s->leaders_per_term_max = 2;
            s->violations++;
        }
    }
}

/* A command of `term` sent at sent_us: stale if a higher term had a leader
 * before it was sent. */
static bool stale(const struct sim *s, uint64_t term, int64_t sent_us) {
    for (uint64_t t = term + 1; t < MAX_TERMS && t <= term + 64; t++)
        if (s->leader_of_term[t] && s->elected_us[t] <= sent_us)
            return true;
    return false;
}

static void deliver(struct sim *s, const struct sim_event *ev) {
    struct node *n = &s->n[ev->node];
    if (ev->kind == EV_GOSSIP) {
        struct gossip_addr from = sim_addr(ev->from);
        gossip_receive(n->g, now_ms(s), ev->from + 1, &from, ev->data, ev->len);
    } else if (ev->kind == EV_ELECTION && n->e) {
        election_receive(n->e, now_ms(s), voter_id(ev->from), ev->data, ev->len);
    } else if (ev->kind == EV_COMMAND && ev->len == 16) {
        uint64_t term;
        int64_t sent;
        memcpy(&term, ev->data, 8);
        memcpy(&sent, ev->data + 8, 8);
        if (fence_admit(&n->fence, term)) {
            if (stale(s, term, sent)) {
                s->stale_accepted++;
                s->violations++;
            }
        } else {
            s->commands_refused++;
        }
    }
    drain(s, ev->node);
}

static void send_commands(struct sim *s, int holder) {
    if (holder < 0)
        return;
    struct node *n = &s->n[holder];
    if (s->now_us < n->next_command_us)
        return;
    n->next_command_us = s->now_us + COMMAND_EVERY_US;
    uint8_t *cmd = malloc(16);
    if (!cmd)
        return;
    uint64_t term = election_term(n->e);
    memcpy(cmd, &term, 8);
    memcpy(cmd + 8, &s->now_us, 8);
    uint32_t to = (uint32_t)prng_below(&s->rng, s->o.nodes);
    s->commands_sent++;
    sim_net_send(&s->net, s->now_us, EV_COMMAND, (uint32_t)holder, to, cmd, 16);
}

/* One fault every fault_every seconds, from those enabled; half of the
 * node faults hit the leader, the case failover is about. */
static void inject(struct sim *s, int holder) {
    if (s->now_us < s->next_fault_us || !s->o.faults)
        return;
    s->next_fault_us = s->now_us + (int64_t)(s->o.fault_every_s * 1e6);
    unsigned kinds[4], nk = 0;
    for (unsigned f = 1; f <= F_PAUSE; f <<= 1)
        if (s->o.faults & f)
            kinds[nk++] = f;
    unsigned f = kinds[prng_below(&s->rng, nk)];
    uint32_t victim = holder >= 0 && prng_below(&s->rng, 2)
                          ? (uint32_t)holder
                          : (uint32_t)prng_below(&s->rng, s->o.nodes);
    struct node *n = &s->n[victim];
    int64_t span = 500000 + (int64_t)prng_below(&s->rng, 4500000); /* 0.5-5 s */
    if (f == F_CRASH && n->up) {
        crash(s, victim);
        n->restart_us = s->now_us + span;
    } else if (f == F_PAUSE && n->up && !n->frozen) {
        n->frozen = true;
        n->thaw_us = s->now_us + span;
    } else if (f == F_PARTITION && !s->heal_us) {
        for (uint32_t i = 0; i < s->o.nodes; i++)
            s->net.side[i] = (uint8_t)prng_below(&s->rng, 2);
        s->net.side[victim] = 1;
        s->heal_us = s->now_us + span;
    } else if (f == F_LOSS && !s->heal_us) {
        s->net.loss = 0.05 + 0.2 * prng_unit(&s->rng);
        s->heal_us = s->now_us + span;
    } else {
        return;
    }
    if (holder >= 0 && s->failover_from_us < 0 &&
        ((uint32_t)holder == victim || f == F_PARTITION)) {
        s->failover_from_us = s->now_us;
        s->failover_holder = holder;
    }
}

static int heal(struct sim *s) {
    if (s->heal_us && s->now_us >= s->heal_us) {
        memset(s->net.side, 0, s->o.nodes);
        s->net.loss = 0;
        s->heal_us = 0;
    }
    for (uint32_t i = 0; i < s->o.nodes; i++) {
        struct node *n = &s->n[i];
        if (n->frozen && s->now_us >= n->thaw_us)
            n->frozen = false;
        if (!n->up && n->restart_us && s->now_us >= n->restart_us) {
            n->restart_us = 0;
            if (start(s, i) != 0)
                return -1;
        }
    }
    return 0;
}

static void time_failover(struct sim *s, int holder) {
    if (s->failover_from_us < 0)
        return;
    if (holder >= 0 && holder != s->failover_holder) {
        if (s->n_failovers == s->cap_failovers) {
            s->cap_failovers = s->cap_failovers ? 2 * s->cap_failovers : 64;
            double *grown = realloc(s->failovers, s->cap_failovers * sizeof *grown);
            if (!grown)
                return;
            s->failovers = grown;
        }
        s->failovers[s->n_failovers++] = (double)(s->now_us - s->failover_from_us) / 1e6;
        s->failover_from_us = -1;
    } else if (holder == s->failover_holder && s->n[holder].up && !s->n[holder].frozen &&
               !s->heal_us) {
        s->failover_from_us = -1; /* it came back before anyone replaced it */
    }
}

static int run(struct sim *s) {
    int64_t end = (int64_t)(s->o.duration_s * 1e6);
    for (uint32_t i = 0; i < s->o.nodes; i++)
        if (start(s, i) != 0)
            return -1;
    s->next_fault_us = 5000000; /* a first leader, then faults */
    for (s->now_us = 0; s->now_us < end; s->now_us += 1000) {
        struct sim_event ev;
        int64_t requeue = 0;
        while (sim_heap_pop(&s->net.heap, &ev)) {
            if (ev.t_us > s->now_us) {
                sim_heap_push(&s->net.heap, &ev);
                break;
            }
            struct node *n = &s->n[ev.node];
            if (n->up && n->frozen) {
                /* A frozen process's kernel keeps its TCP data for later. */
                ev.t_us = n->thaw_us;
                sim_heap_push(&s->net.heap, &ev);
                if (++requeue > 100000)
                    break;
                continue;
            }
            if (n->up)
                deliver(s, &ev);
            free(ev.data);
        }
        for (uint32_t i = 0; i < s->o.nodes; i++) {
            struct node *n = &s->n[i];
            if (!n->up || n->frozen)
                continue;
            if (now_ms(s) >= gossip_next_deadline(n->g))
                gossip_tick(n->g, now_ms(s));
            if (n->e && now_ms(s) >= election_next_deadline(n->e))
                election_tick(n->e, now_ms(s));
            drain(s, i);
        }
        check_leaders(s);
        int holder = lease_holder(s);
        time_failover(s, holder);
        send_commands(s, holder);
        inject(s, holder);
        if (heal(s) != 0)
            return -1;
    }
    return 0;
}

static int parse_faults(const char *arg, unsigned *out) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", arg);
    *out = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "crash") == 0)
            *out |= F_CRASH;
        else if (strcmp(t, "partition") == 0)
            *out |= F_PARTITION;
        else if (strcmp(t, "loss") == 0)
            *out |= F_LOSS;
        else if (strcmp(t, "pause") == 0)
            *out |= F_PAUSE;
        else
            return -1;
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: nodesim election [--voters V] [--nodes N] [--seed S] [--seeds COUNT]\n"
               "         [--duration SECONDS]\n"
               "         [--faults crash,partition,loss,pause] [--fault-every SECONDS]\n"
               "         [--heartbeat-ms MS] [--election-timeout-ms MS] [--json]\n");
}

static void report(const struct sim *s, double wall) {
    double *f = s->failovers;
    size_t n = s->n_failovers;
    double p50 = n ? sim_percentile(f, n, 50) : 0, p99 = n ? sim_percentile(f, n, 99) : 0;
    if (s->o.json) {
        json_t *o = json_pack(
            "{s:I, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:f, s:f}", "seed",
            (json_int_t)s->o.seed, "voters", (int)s->o.voters, "nodes", (int)s->o.nodes,
            "leaders_per_term_max", (int)s->leaders_per_term_max, "lease_overlaps",
            (json_int_t)s->lease_overlaps, "stale_commands_accepted",
            (json_int_t)s->stale_accepted, "stale_commands_refused",
            (json_int_t)s->commands_refused, "commands_sent", (json_int_t)s->commands_sent,
            "elections", (json_int_t)s->elections, "failover_p50_s", p50, "failover_p99_s", p99,
            "failovers", (json_int_t)n, "sim_seconds", s->o.duration_s, "wall_seconds", wall);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        printf("seed %llu: %u voters of %u nodes, %.0f s simulated in %.2f s\n"
               "leaders per term (max) %u, lease overlaps %llu, stale commands accepted %llu "
               "(refused %llu of %llu sent)\n"
               "elections %llu, failovers %zu: p50 %.3f s, p99 %.3f s\n",
               (unsigned long long)s->o.seed, s->o.voters, s->o.nodes, s->o.duration_s, wall,
               s->leaders_per_term_max, (unsigned long long)s->lease_overlaps,
               (unsigned long long)s->stale_accepted, (unsigned long long)s->commands_refused,
               (unsigned long long)s->commands_sent, (unsigned long long)s->elections, n, p50,
               p99);
    }
}

/* One run; 0 clean, 1 violated, -1 out of memory. */
static int run_seed(const struct opts *o, bool quiet) {
    struct sim s;
    memset(&s, 0, sizeof s);
    s.o = *o;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    prng_seed(&s.rng, s.o.seed);
    s.n = calloc(s.o.nodes, sizeof *s.n);
    s.leader_of_term = calloc(MAX_TERMS, sizeof *s.leader_of_term);
    s.elected_us = calloc(MAX_TERMS, sizeof *s.elected_us);
    s.failover_from_us = -1;
    s.leaders_per_term_max = 1;
    int rc = !s.n || !s.leader_of_term || !s.elected_us ||
                     sim_net_init(&s.net, s.o.nodes, s.o.seed ^ 0x5eed, 0, 0.5) != 0 ||
                     run(&s) != 0
                 ? -1
                 : 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 0 && (!quiet || s.violations))
        report(&s, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (rc == 0 && s.violations) {
        fprintf(stderr, "nodesim election: INVARIANT VIOLATED with seed %llu\n",
                (unsigned long long)s.o.seed);
        rc = 1;
    }
    for (uint32_t i = 0; s.n && i < s.o.nodes; i++) {
        gossip_free(s.n[i].g);
        election_free(s.n[i].e);
    }
    sim_net_free(&s.net);
    free(s.n);
    free(s.leader_of_term);
    free(s.elected_us);
    free(s.failovers);
    return rc;
}

int nodesim_election(int argc, char **argv) {
    struct opts o = {.voters = 3, .nodes = 5, .seed = 1, .seeds = 1, .duration_s = 60,
                        .fault_every_s = 5, .heartbeat_ms = 100, .timeout_ms = 500};
    static const struct option opts[] = {
        {"voters", 1, 0, 'v'},       {"nodes", 1, 0, 'n'},        {"seed", 1, 0, 's'},
        {"seeds", 1, 0, 'S'},
        {"duration", 1, 0, 'd'},     {"faults", 1, 0, 'f'},       {"fault-every", 1, 0, 'e'},
        {"heartbeat-ms", 1, 0, 'H'}, {"election-timeout-ms", 1, 0, 'T'},
        {"json", 0, 0, 'j'},         {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'v': o.voters = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'n': o.nodes = (uint32_t)strtoul(optarg, &end, 10); break;
        case 's': o.seed = strtoull(optarg, &end, 10); break;
        case 'S': o.seeds = strtoull(optarg, &end, 10); break;
        case 'd': o.duration_s = strtod(optarg, &end); break;
        case 'e': o.fault_every_s = strtod(optarg, &end); break;
        case 'H': o.heartbeat_ms = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'T': o.timeout_ms = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'f':
            if (parse_faults(optarg, &o.faults) != 0) {
                fprintf(stderr, "nodesim election: --faults takes crash,partition,loss,pause; "
                                "got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "nodesim election: bad number '%s'\n", optarg);
            return 2;
        }
    }
    if (o.seeds < 1 || o.voters < 1 || o.voters > ELECTION_VOTERS_MAX || o.nodes < o.voters ||
        o.nodes > 100000 || o.duration_s <= 0 || o.fault_every_s <= 0 ||
        o.heartbeat_ms == 0 || 2 * o.heartbeat_ms > o.timeout_ms) {
        fprintf(stderr, "nodesim election: need 1 <= voters <= 9, voters <= nodes, a positive "
                        "duration, and election timeout >= 2 x heartbeat\n");
        return 2;
    }
    /* --seeds K sweeps seed .. seed+K-1, prints only violations, and stops
     * at the first one. */
    for (uint64_t k = 0; k < o.seeds; k++) {
        struct opts one = o;
        one.seed = o.seed + k;
        int rc = run_seed(&one, o.seeds > 1);
        if (rc < 0) {
            fprintf(stderr, "nodesim election: out of memory\n");
            return 1;
        }
        if (rc > 0)
            return 1;
    }
    if (o.seeds > 1)
        printf("%llu seeds from %llu: no invariant violated\n", (unsigned long long)o.seeds,
               (unsigned long long)o.seed);
    return 0;
}
