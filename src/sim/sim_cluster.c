/* `nodesim cluster`: N hosts, C of them leader candidates, M VMs, each
 * host running the agent's code on a simulated hypervisor, clock and
 * network, under faults, for a simulated duration; the invariants of
 * docs/safety.md checked all along (sim_check.c, sim_hv.c). A run is a
 * function of its seed. With --seeds K it runs seeds S .. S+K-1, sums the
 * counts, and prints the trace of the first run that broke an invariant;
 * it exits 1 if any did. */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nodesim.h"
#include "sim_cluster.h"

/* The trace printed for the first violation: the lines before it that
 * name a host or VM the violation names, with the last few lines whatever
 * they name, at most TRACE_KEEP; then TRACE_AFTER lines after it. */
#define TRACE_KEEP 60
#define TRACE_LAST 15
#define TRACE_AFTER 8
/* Wall clocks start near this (2023), give or take what NTP leaves. */
#define WALL_EPOCH_MS 1700000000000LL

void sim_trace(struct sim_cluster *c, const char *fmt, ...) {
    if (!c->trace)
        return;
    char *line = c->trace[c->n_trace++ % SIM_TRACE_LINES];
    int n = snprintf(line, SIM_TRACE_TEXT, "%9.3f ", (double)c->now_us / 1e6);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, SIM_TRACE_TEXT - (size_t)n, fmt, ap);
    va_end(ap);
    if (c->o.trace)
        puts(line);
    if (c->n_kept && c->kept_after < TRACE_AFTER) {
        memcpy(c->kept[c->n_kept++], line, SIM_TRACE_TEXT);
        c->kept_after++;
    }
}

/* Whether line names `word` as a whole word ("n1" is not in "n12"). */
static bool names(const char *line, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(line, word); p; p = strstr(p + 1, word)) {
        bool start = p == line || !isalnum((unsigned char)p[-1]);
        if (start && !isalnum((unsigned char)p[n]))
            return true;
    }
    return false;
}

void sim_trace_keep(struct sim_cluster *c, const char *violation) {
    if (c->n_kept || !c->trace)
        return;
    /* The hosts and VMs the violation names: "n<k>" and "vm<k>". */
    char words[8][16];
    int n_words = 0;
    for (const char *p = violation; *p && n_words < 8; p++) {
        if (p > violation && isalnum((unsigned char)p[-1]))
            continue;
        size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789");
        bool host = p[0] == 'n' && len > 1 && strspn(p + 1, "0123456789") == len - 1;
        bool vm = strncmp(p, "vm", 2) == 0 && len > 2 && strspn(p + 2, "0123456789") == len - 2;
        if ((host || vm) && len < sizeof words[0])
            snprintf(words[n_words++], sizeof words[0], "%.*s", (int)len, p);
    }
    uint64_t first = c->n_trace > SIM_TRACE_LINES ? c->n_trace - SIM_TRACE_LINES : 0;
    uint64_t pick[TRACE_KEEP];
    uint32_t n_pick = 0;
    for (uint64_t k = c->n_trace; k-- > first && n_pick < TRACE_KEEP;) {
        const char *line = c->trace[k % SIM_TRACE_LINES];
        bool keep = c->n_trace - k <= TRACE_LAST;
        for (int w = 0; w < n_words && !keep; w++)
            keep = names(line, words[w]);
        if (keep)
            pick[n_pick++] = k;
    }
    while (n_pick)
        memcpy(c->kept[c->n_kept++], c->trace[pick[--n_pick] % SIM_TRACE_LINES], SIM_TRACE_TEXT);
}

#define VIOLATED_SEEDS_MAX 256

/* Totals over the seeds. */
struct totals {
    uint64_t runs, vm_lost, vm_duplicated, host_off_with_vm, stale_effects, stale_target_paused,
        lease_overlaps, churn, migrations, migrations_failed, leftovers, leftovers_destroyed,
        leftover_refusals, power_offs, wakes, power_ons, vm_left_down, vm_down_no_room, vm_down_off_host,
        ha_restarts,
        ha_self_fences, ha_destroyed, ha_killed, ha_reconcile_undefined, ha_bmc_offs, ha_bmc_reads,
        watchdog_resets, power_losses, leader_kills_in_restart,
        elections, commands, grants, effects, operator_effects, pauses, crashes, partitions,
        faults, violated_runs;
    uint64_t first_violation_seed;
    /* Every violating seed, up to VIOLATED_SEEDS_MAX, for a sweep's report. */
    uint64_t violated_seeds[VIOLATED_SEEDS_MAX];
    size_t n_violated_seeds;
    bool violated;
    double sim_seconds, wall_seconds, cpu_seconds;
    char first_violation[256];
};

static int push_event(struct sim_cluster *c, int64_t t_us, uint32_t kind, uint32_t node) {
    struct sim_event ev = {.t_us = t_us, .kind = kind, .node = node};
    return sim_heap_push(&c->net.heap, &ev);
}

static int hv_schedule(struct sim_cluster *c) {
    if (!c->hv.changed)
        return 0;
    c->hv.changed = false;
    int64_t d = sim_hv_deadline(&c->hv);
    if (d >= c->hv_at_us)
        return 0;
    c->hv_at_us = d;
    return push_event(c, d, EV_HV, 0);
}

static int hv_run(struct sim_cluster *c) {
    c->hv_at_us = INT64_MAX;
    c->hv.changed = true;
    struct sim_hv_note notes[16];
    size_t n;
    while ((n = sim_hv_run(&c->hv, c->now_us, notes, 16)) > 0)
        for (size_t k = 0; k < n; k++) {
            if (notes[k].kind == SIM_HV_OFF)
                sim_trace(c, "%s is off", sim_agent_name(c, notes[k].host));
            else if (notes[k].kind == SIM_HV_BOOTED)
                sim_trace(c, "%s booted", sim_agent_name(c, notes[k].host));
            sim_agent_hv_note(c, &notes[k]);
        }
    return 0;
}

static int handle(struct sim_cluster *c, struct sim_event *ev) {
    switch (ev->kind) {
    case EV_GOSSIP:
    case EV_ELECTION:
    case EV_COMMAND: sim_agent_deliver(c, ev); return 0;
    case EV_WAKE: return sim_agent_timer(c, ev);
    case EV_HV: return hv_run(c);
    case EV_FAULT: return sim_faults_next(c);
    case EV_HEAL: return sim_faults_heal(c);
    case EV_OPERATOR: return sim_faults_operator(c, ev->node);
    case EV_LIBVIRTD:
        c->last_fault_us = c->now_us;
        sim_hv_libvirtd(&c->hv, c->now_us, ev->node, true);
        sim_trace(c, "libvirtd runs again on %s", sim_agent_name(c, ev->node));
        return 0;
    case EV_RESTART:
        c->last_fault_us = c->now_us;
        /* An agent restarts on a host that is still on; a host that went
         * off meanwhile starts it when it boots. */
        if (sim_agent_up(c, ev->node) || c->hv.h[ev->node].power != SIM_POWER_ON)
            return 0;
        sim_trace(c, "%s restarts", sim_agent_name(c, ev->node));
        return sim_agent_start(c, ev->node);
    case EV_POWER_ON:
        c->last_fault_us = c->now_us;
        if (c->hv.h[ev->node].power == SIM_POWER_OFF) {
            sim_trace(c, "%s is switched on", sim_agent_name(c, ev->node));
            sim_hv_wake(&c->hv, c->now_us, ev->node);
        }
        return 0;
    case EV_CHASSIS:
        /* A BMC's power off takes the power (the leader fences the host). */
        if (c->hv.h[ev->node].power == SIM_POWER_OFF)
            return 0;
        c->last_fault_us = c->now_us;
        c->ha_bmc_offs++;
        sim_trace(c, "%s: its BMC powers it off", sim_agent_name(c, ev->node));
        sim_hv_power_loss(&c->hv, c->now_us, ev->node);
        /* Switched on again by an operator 30-90 s later. */
        return sim_ha_power_lost(c, ev->node, 30000000 + (int64_t)prng_below(&c->rng, 60000001));
    case EV_HA_TICK: return sim_ha_tick(c);
    case EV_KILL: return sim_faults_kill(c, ev->node);
    }
    return 0;
}

static int setup(struct sim_cluster *c) {
    c->end_us = (int64_t)(c->o.duration_s * 1e6);
    c->hv_at_us = INT64_MAX;
    c->slow_plan_host = UINT32_MAX;
    prng_seed(&c->rng, c->o.seed);
    if (placement_policy_by_name("default", -1, &c->policy) != 0)
        return -1;
    c->policy.vm_cooldown_s = SIM_VM_COOLDOWN_S;
    c->policy.host_wake_cooldown_s = SIM_WAKE_COOLDOWN_S;
    c->h = calloc(c->o.hosts, sizeof *c->h);
    c->vms_scratch = calloc(c->o.vms + 1, sizeof *c->vms_scratch);
    c->doms_scratch = calloc(c->o.vms + 1, sizeof *c->doms_scratch);
    c->trace = calloc(SIM_TRACE_LINES, sizeof *c->trace);
    c->kept = calloc(TRACE_KEEP + TRACE_AFTER, sizeof *c->kept);
    if (!c->h || !c->vms_scratch || !c->doms_scratch || !c->trace || !c->kept ||
        sim_check_init(c) != 0 ||
        sim_hv_init(&c->hv, c->o.hosts, c->o.vms, c->o.hosts, prng_next(&c->rng)) != 0 ||
        sim_net_init(&c->net, c->o.hosts, prng_next(&c->rng), 0, 0.5) != 0 ||
        sim_net_fifo(&c->net) != 0 ||
        ((c->o.faults & SIM_F_REPLAY) && sim_net_capture(&c->net, 4, 512) != 0))
        return -1;
    for (uint32_t i = 0; i < c->o.hosts; i++) {
        int64_t rate = sim_clock_random_rate(&c->rng, SIM_DRIFT_PPM);
        int64_t wall = WALL_EPOCH_MS + (int64_t)prng_below(&c->rng, 10000) - 5000;
        if (sim_agent_new(c, i, rate, wall) != 0)
            return -1;
    }
    c->ha_quiet_us = c->end_us - SIM_HA_QUIET_US;
    if (c->o.ha && sim_ha_setup(c) != 0)
        return -1;
    for (uint32_t i = 0; i < c->o.hosts; i++)
        if (sim_agent_start(c, i) != 0)
            return -1;
    return sim_faults_next(c);
}

static void teardown(struct sim_cluster *c) {
    for (uint32_t i = 0; c->h && i < c->o.hosts; i++)
        sim_agent_free(c, i);
    free(c->h);
    sim_net_free(&c->net);
    sim_hv_free(&c->hv);
    sim_check_free(c);
    free(c->bmc);
    free(c->ha_wd);
    free(c->ha_no_room);
    free(c->ha_parked);
    free(c->vms_scratch);
    free(c->doms_scratch);
    free(c->trace);
    free(c->kept);
}

static int run(struct sim_cluster *c) {
    if (setup(c) != 0)
        return -1;
    struct sim_event ev;
    while (sim_heap_pop(&c->net.heap, &ev)) {
        if (ev.t_us > c->end_us) {
            free(ev.data);
            break;
        }
        c->now_us = ev.t_us;
        uint64_t off = c->hv.host_off_with_vm, lost = c->hv.vm_lost, dup = c->hv.vm_duplicated;
        int rc = handle(c, &ev);
        free(ev.data);
        if (rc != 0 || hv_schedule(c) != 0)
            return -1;
        if (c->hv.host_off_with_vm != off)
            sim_violation(c, "%s", c->hv.why_off);
        if (c->hv.vm_lost != lost)
            sim_violation(c, "%s", c->hv.why_lost);
        if (c->hv.vm_duplicated != dup)
            sim_violation(c, "%s", c->hv.why_duplicated);
    }
    if (c->o.ha)
        sim_ha_end(c);
    return 0;
}

static double seconds(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void add(struct totals *t, const struct sim_cluster *c) {
    t->runs++;
    t->vm_lost += c->hv.vm_lost;
    t->vm_duplicated += c->hv.vm_duplicated;
    t->host_off_with_vm += c->hv.host_off_with_vm;
    t->stale_effects += c->stale_effects;
    t->stale_target_paused += c->stale_target_paused;
    t->lease_overlaps += c->lease_overlaps;
    t->churn += c->churn;
    t->migrations += c->hv.migrations_started;
    t->migrations_failed += c->hv.migrations_failed;
    t->leftovers += c->hv.leftovers;
    t->leftovers_destroyed += c->hv.leftovers_destroyed;
    t->leftover_refusals += c->leftover_refusals;
    t->power_offs += c->hv.power_offs;
    t->wakes += c->hv.wakes;
    t->power_ons += c->hv.power_ons;
    t->vm_left_down += c->vm_left_down;
    t->vm_down_no_room += c->vm_down_no_room;
    t->vm_down_off_host += c->vm_down_off_host;
    t->ha_restarts += c->ha_restarts;
    t->ha_self_fences += c->ha_self_fences;
    t->ha_destroyed += c->ha_destroyed;
    t->ha_killed += c->ha_killed;
    t->ha_reconcile_undefined += c->ha_reconcile_undefined;
    t->ha_bmc_offs += c->ha_bmc_offs;
    t->ha_bmc_reads += c->ha_bmc_reads;
    t->watchdog_resets += c->watchdog_resets;
    t->power_losses += c->power_losses;
    t->leader_kills_in_restart += c->leader_kills_in_restart;
    t->elections += c->elections;
    t->commands += c->commands_sent;
    t->grants += c->grants;
    t->effects += c->effects;
    t->operator_effects += c->operator_effects;
    t->pauses += c->pauses;
    t->crashes += c->crashes;
    t->partitions += c->partitions;
    t->faults += c->faults;
    t->sim_seconds += c->o.duration_s;
    if (sim_violations(c) || c->violations) {
        t->violated_runs++;
        if (t->n_violated_seeds < VIOLATED_SEEDS_MAX)
            t->violated_seeds[t->n_violated_seeds++] = c->o.seed;
        if (!t->violated) {
            t->violated = true;
            t->first_violation_seed = c->o.seed;
            snprintf(t->first_violation, sizeof t->first_violation, "%s",
                     c->first_violation[0] ? c->first_violation : "the run was not trustworthy");
        }
    }
}

static const struct {
    const char *name;
    unsigned bit;
} fault_names[] = {
    {"crash", SIM_F_CRASH},   {"partition", SIM_F_PARTITION}, {"loss", SIM_F_LOSS},
    {"delay", SIM_F_DELAY},   {"pause", SIM_F_PAUSE},         {"skew", SIM_F_SKEW},
    {"replay", SIM_F_REPLAY}, {"operator", SIM_F_OPERATOR},   {"libvirt", SIM_F_LIBVIRT},
    {"power", SIM_F_POWER},   {"all", SIM_F_ALL},
};
#define N_FAULT_NAMES (sizeof fault_names / sizeof fault_names[0])

static void format_faults(unsigned faults, char *out, size_t len) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; k + 1 < N_FAULT_NAMES; k++)
        if (faults & fault_names[k].bit)
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "",
                                     fault_names[k].name);
    if (!used)
        snprintf(out, len, "none");
}

/* One seed; -1 when out of memory. */
static int run_seed(const struct sim_opts *o, struct totals *t) {
    struct sim_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->o = *o;
    struct timespec w0, w1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    int rc = run(c);
    /* A run stopped by a broken simulation (a loop that never waits) is a
     * violated run, reported as such, not a lack of memory. */
    if (rc != 0 && c->violations && c->first_violation[0])
        rc = 0;
    clock_gettime(CLOCK_MONOTONIC, &w1);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    t->wall_seconds += seconds(&w0, &w1);
    t->cpu_seconds += seconds(&c0, &c1);
    if (rc == 0) {
        bool first = !t->violated;
        add(t, c);
        if (first && t->violated) {
            char faults[128];
            format_faults(o->faults, faults, sizeof faults);
            fprintf(stderr,
                    "nodesim cluster: INVARIANT VIOLATED with seed %" PRIu64 ": %s\n"
                    "  rerun: nodesim cluster --hosts %u --candidates %u --vms %u --seed %" PRIu64
                    " --duration %g --faults %s --fault-every %g --priority %u%s --trace\n",
                    o->seed, t->first_violation, o->hosts, o->candidates, o->vms, o->seed,
                    o->duration_s, faults, o->fault_every_s, o->priority, o->ha ? " --ha" : "");
            for (uint32_t k = 0; k < c->n_kept; k++)
                fprintf(stderr, "  %s\n", c->kept[k]);
        }
    }
    teardown(c);
    free(c);
    return rc;
}

static void report(const struct sim_opts *o, const struct totals *t) {
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
        json_object_set_new(j, "seeds", json_integer((json_int_t)t->runs));
        json_object_set_new(j, "hosts", json_integer(o->hosts));
        json_object_set_new(j, "candidates", json_integer(o->candidates));
        json_object_set_new(j, "vms", json_integer(o->vms));
        struct {
            const char *k;
            uint64_t v;
        } counts[] = {
            {"vm_lost", t->vm_lost},
            {"vm_duplicated", t->vm_duplicated},
            {"host_off_with_vm", t->host_off_with_vm},
            {"stale_effects", t->stale_effects},
            {"lease_overlaps", t->lease_overlaps},
            {"leader_churn", t->churn},
            {"stale_effects_after_target_pause", t->stale_target_paused},
            {"violated_runs", t->violated_runs},
            {"migrations", t->migrations},
            {"migrations_failed", t->migrations_failed},
            {"leftovers", t->leftovers},
            {"leftovers_destroyed", t->leftovers_destroyed},
            {"leftover_refusals", t->leftover_refusals},
            {"power_offs", t->power_offs},
            {"wake_requests", t->wakes},
            {"power_ons", t->power_ons},
            {"elections", t->elections},
            {"commands", t->commands},
            {"grants", t->grants},
            {"effects", t->effects},
            {"operator_effects", t->operator_effects},
            {"pauses", t->pauses},
            {"crashes", t->crashes},
            {"partitions", t->partitions},
            {"faults", t->faults},
            {"vm_left_down", t->vm_left_down},
            {"vm_down_no_room", t->vm_down_no_room},
            {"vm_down_off_host", t->vm_down_off_host},
            {"ha_restarts", t->ha_restarts},
            {"ha_self_fences", t->ha_self_fences},
            {"ha_destroyed", t->ha_destroyed},
            {"ha_qemu_killed", t->ha_killed},
            {"ha_reconcile_undefined", t->ha_reconcile_undefined},
            {"ha_bmc_power_offs", t->ha_bmc_offs},
            {"ha_bmc_reads", t->ha_bmc_reads},
            {"watchdog_resets", t->watchdog_resets},
            {"power_losses", t->power_losses},
            {"leader_kills_in_restart", t->leader_kills_in_restart},
        };
        for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
            json_object_set_new(j, counts[k].k, json_integer((json_int_t)counts[k].v));
        json_object_set_new(j, "first_violation_seed",
                            t->violated ? json_integer((json_int_t)t->first_violation_seed)
                                        : json_null());
        json_t *seeds = json_array();
        for (size_t i = 0; i < t->n_violated_seeds; i++)
            json_array_append_new(seeds, json_integer((json_int_t)t->violated_seeds[i]));
        json_object_set_new(j, "violated_seeds", seeds);
        json_object_set_new(j, "first_violation",
                            t->violated ? json_string(t->first_violation) : json_null());
        json_object_set_new(j, "sim_seconds", json_real(t->sim_seconds));
        json_object_set_new(j, "wall_seconds", json_real(t->wall_seconds));
        json_object_set_new(j, "cpu_seconds", json_real(t->cpu_seconds));
        json_object_set_new(j, "cpu_seconds_per_run",
                            json_real(t->runs ? t->cpu_seconds / (double)t->runs : 0));
        json_dumpf(j, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(j);
        return;
    }
    printf("%" PRIu64 " run(s) of %u hosts (%u candidates), %u VMs, %.0f s each, from seed %" PRIu64
           "\n"
           "invariants: %" PRIu64 " VMs lost, %" PRIu64 " duplicated, %" PRIu64
           " hosts off with a VM, %" PRIu64 " stale effects, %" PRIu64 " lease overlaps, %" PRIu64
           " leader churns\n"
           "  (and %" PRIu64 " stale effects after a pause of the target between its last check "
           "and its action: not a violation; the guards at the resource must make them "
           "harmless)\n"
           "work: %" PRIu64 " elections, %" PRIu64 " commands, %" PRIu64 " grants, %" PRIu64
           " migrations (%" PRIu64 " failed; %" PRIu64 " left a copy at the destination, %" PRIu64
           " destroyed, %" PRIu64 " moves of a doubtful copy refused), %" PRIu64
           " power-offs, %" PRIu64 " power-ons\n"
           "faults: %" PRIu64 " in all: %" PRIu64 " pauses, %" PRIu64 " crashes, %" PRIu64
           " partitions\n"
           "%.0f s simulated in %.2f s (%.3f CPU s per run)\n",
           t->runs, o->hosts, o->candidates, o->vms, o->duration_s, o->seed, t->vm_lost,
           t->vm_duplicated, t->host_off_with_vm, t->stale_effects, t->lease_overlaps, t->churn,
           t->stale_target_paused, t->elections, t->commands, t->grants, t->migrations,
           t->migrations_failed, t->leftovers, t->leftovers_destroyed, t->leftover_refusals,
           t->power_offs, t->power_ons, t->faults, t->pauses, t->crashes, t->partitions,
           t->sim_seconds, t->wall_seconds, t->runs ? t->cpu_seconds / (double)t->runs : 0);
    if (o->ha)
        printf("ha: %" PRIu64 " protected VMs left down (and %" PRIu64
               " down for want of a running host with room, %" PRIu64
               " parked on hosts the planner powered off: not violations, see docs/ha.md); %" PRIu64
               " restarts, %" PRIu64
               " power losses, %" PRIu64 " self-fences (%" PRIu64 " VMs destroyed), %" PRIu64
               " BMC power-offs (%" PRIu64 " reads), %" PRIu64 " watchdog resets, %" PRIu64
               " stale copies undefined, %" PRIu64 " leaders killed during their restarts\n",
               t->vm_left_down, t->vm_down_no_room, t->vm_down_off_host, t->ha_restarts, t->power_losses, t->ha_self_fences,
               t->ha_destroyed, t->ha_bmc_offs, t->ha_bmc_reads, t->watchdog_resets,
               t->ha_reconcile_undefined, t->leader_kills_in_restart);
    if (t->violated)
        printf("first violation: seed %" PRIu64 ": %s\n", t->first_violation_seed,
               t->first_violation);
}

static int parse_faults(const char *arg, unsigned *out) {
    char buf[256];
    if (strlen(arg) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", arg);
    *out = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t k = 0;
        while (k < N_FAULT_NAMES && strcmp(tok, fault_names[k].name))
            k++;
        if (k == N_FAULT_NAMES) {
            if (strcmp(tok, "none") != 0)
                return -1;
            continue;
        }
        *out |= fault_names[k].bit;
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: nodesim cluster [--hosts N] [--candidates C] [--vms M] [--seed S]\n"
            "         [--seeds K] [--duration SECONDS] [--faults LIST] [--fault-every SECONDS]\n"
            "         [--priority P] [--ha] [--json] [--trace]\n"
            "  LIST: crash,partition,loss,delay,pause,skew,replay,operator,libvirt,power, all or "
            "none\n"
            "  --priority P: the first candidate is preferred as leader (n1:P)\n"
            "  --ha: every VM protected (ha=yes): run leases, self-fencing, BMCs, watchdogs and\n"
            "        the leader's restarts; power losses among the faults, no operator's; faults\n"
            "        stop 300 s before the end, when each VM must run on exactly one host\n");
}

int nodesim_cluster(int argc, char **argv) {
    struct sim_opts o = {.hosts = 20,
                         .candidates = 3,
                         .vms = 60,
                         .seed = 1,
                         .seeds = 1,
                         .duration_s = 600,
                         .faults = SIM_F_ALL,
                         .fault_every_s = 5};
    static const struct option opts[] = {
        {"hosts", 1, 0, 'n'},  {"candidates", 1, 0, 'c'},  {"vms", 1, 0, 'm'},
        {"seed", 1, 0, 's'},   {"seeds", 1, 0, 'S'},       {"duration", 1, 0, 'd'},
        {"faults", 1, 0, 'f'}, {"fault-every", 1, 0, 'e'}, {"priority", 1, 0, 'p'},
        {"json", 0, 0, 'j'},   {"trace", 0, 0, 't'},       {"help", 0, 0, 'h'},
        {"ha", 0, 0, 'H'},
        {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'n': o.hosts = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'c': o.candidates = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'm': o.vms = (uint32_t)strtoul(optarg, &end, 10); break;
        case 's': o.seed = strtoull(optarg, &end, 10); break;
        case 'S': o.seeds = strtoull(optarg, &end, 10); break;
        case 'd': o.duration_s = strtod(optarg, &end); break;
        case 'e': o.fault_every_s = strtod(optarg, &end); break;
        case 'p': o.priority = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'f':
            if (parse_faults(optarg, &o.faults) != 0) {
                fprintf(stderr,
                        "nodesim cluster: --faults takes a comma-separated list of "
                        "crash, partition, loss, delay, pause, skew, replay, operator, "
                        "libvirt, all or none; got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'j': o.json = true; break;
        case 't': o.trace = true; break;
        case 'H': o.ha = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && (*end || end == optarg)) {
            fprintf(stderr, "nodesim cluster: bad number '%s'\n", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nodesim cluster: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o.candidates < 1 || o.candidates > ELECTION_VOTERS_MAX || o.hosts < o.candidates ||
        o.hosts > 1000 || o.vms < 1 || o.vms > 100000 || o.seeds < 1 || o.duration_s <= 0 ||
        o.fault_every_s <= 0) {
        fprintf(stderr,
                "nodesim cluster: need 1 <= candidates <= %d, candidates <= hosts <= "
                "1000, 1 <= vms <= 100000, seeds >= 1, a positive duration and fault "
                "interval\n",
                ELECTION_VOTERS_MAX);
        return 2;
    }
    if (o.ha) {
        /* The operator's starts and stops of VMs are not modelled with
         * protected VMs; power losses are. */
        o.faults &= ~(unsigned)SIM_F_OPERATOR;
        if (o.faults)
            o.faults |= SIM_F_POWER;
        if (o.duration_s * 1e6 <= SIM_HA_QUIET_US + 30e6) {
            fprintf(stderr, "nodesim cluster: --ha needs a duration over %d s\n",
                    SIM_HA_QUIET_US / 1000000 + 30);
            return 2;
        }
    }
    struct totals t = {0};
    for (uint64_t k = 0; k < o.seeds; k++) {
        struct sim_opts one = o;
        one.seed = o.seed + k;
        if (run_seed(&one, &t) != 0) {
            fprintf(stderr, "nodesim cluster: out of memory (seed %" PRIu64 ")\n", one.seed);
            return 1;
        }
    }
    report(&o, &t);
    return t.violated ? 1 : 0;
}
