/* The simulated hypervisors: domain tables, live migrations, power. */
#include "sim_hv.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_CORES 8
#define HOST_MHZ 2000
#define HOST_MEM_MB 32768

/* splitmix64's finaliser: a well-mixed hash of a few integers, so a VM's
 * noise at a sample time needs no draw from a shared generator. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double unit(uint64_t h) { return (double)(h >> 11) / 9007199254740992.0; }

static int add_dom(struct sim_hv_host *h, uint32_t vm, enum sim_dom_state st, uint32_t mig,
                   const char *arrival) {
    if (h->n_doms == h->cap_doms) {
        size_t cap = h->cap_doms ? 2 * h->cap_doms : 8;
        struct sim_dom *d = realloc(h->doms, cap * sizeof *d);
        if (!d)
            return -1;
        h->doms = d;
        h->cap_doms = cap;
    }
    h->doms[h->n_doms++] = (struct sim_dom){.vm = vm, .state = st, .mig = mig};
    snprintf(h->doms[h->n_doms - 1].arrival, sizeof h->doms[0].arrival, "%s", arrival);
    return 0;
}

static void drop_dom(struct sim_hv_host *h, size_t i) { h->doms[i] = h->doms[--h->n_doms]; }

static struct sim_dom *find_dom(struct sim_hv_host *h, uint32_t vm, size_t *at) {
    for (size_t i = 0; i < h->n_doms; i++)
        if (h->doms[i].vm == vm) {
            if (at)
                *at = i;
            return &h->doms[i];
        }
    return NULL;
}

static bool vm_named(const struct sim_hv *hv, const char *name, uint32_t *vm);

/* libvirtd answers: the host is on and libvirtd runs. */
static bool libvirt_up(const struct sim_hv_host *h) {
    return h->power == SIM_POWER_ON && !h->libvirtd_down;
}

static uint64_t mem_used(const struct sim_hv *hv, const struct sim_hv_host *h) {
    uint64_t m = 0;
    for (size_t i = 0; i < h->n_doms; i++)
        if (h->doms[i].state != SIM_DOM_SHUTOFF)
            m += hv->vm[h->doms[i].vm].mem_mb;
    return m;
}

int sim_hv_init(struct sim_hv *hv, uint32_t n_hosts, uint32_t n_vms, uint32_t placed,
                uint64_t seed) {
    memset(hv, 0, sizeof *hv);
    prng_seed(&hv->rng, seed);
    hv->n_hosts = n_hosts;
    hv->n_vms = n_vms;
    hv->h = calloc(n_hosts ? n_hosts : 1, sizeof *hv->h);
    hv->vm = calloc(n_vms ? n_vms : 1, sizeof *hv->vm);
    hv->scratch = calloc(2 * (size_t)n_vms + 1, sizeof *hv->scratch);
    if (!hv->h || !hv->vm || !hv->scratch)
        return -1;
    /* A 10 Gbit/s migration network, give or take what the guests dirty. */
    hv->mb_per_s = 300 + (double)prng_below(&hv->rng, 700);
    hv->fail_prob = 0.05;
    hv->stop_us = 5000000 + (int64_t)prng_below(&hv->rng, 10000000);
    hv->boot_us_min = 20000000;
    hv->boot_us_max = 90000000;
    hv->period_s = 200 + (double)prng_below(&hv->rng, 200);
    for (uint32_t i = 0; i < n_hosts; i++)
        hv->h[i] = (struct sim_hv_host){.power = SIM_POWER_ON,
                                        .cores = HOST_CORES,
                                        .mhz = HOST_MHZ,
                                        .mem_mb = HOST_MEM_MB,
                                        .boots = 1};
    if (!placed || placed > n_hosts)
        placed = n_hosts;
    for (uint32_t v = 0; v < n_vms; v++) {
        struct sim_vm *vm = &hv->vm[v];
        snprintf(vm->name, sizeof vm->name, "vm%u", v);
        vm->vcpus = 1 + (uint32_t)prng_below(&hv->rng, 4);
        vm->mem_mb = 1024 * (1 + prng_below(&hv->rng, 4));
        vm->base = 0.1 + 0.5 * prng_unit(&hv->rng);
        vm->swing = 0.5 + prng_unit(&hv->rng);
        vm->phase = prng_unit(&hv->rng);
        /* Round-robin over the hosts with room. */
        for (uint32_t k = 0; k < placed; k++) {
            struct sim_hv_host *h = &hv->h[(v + k) % placed];
            if (mem_used(hv, h) + vm->mem_mb <= h->mem_mb) {
                if (add_dom(h, v, SIM_DOM_RUNNING, 0, "") != 0)
                    return -1;
                break;
            }
            if (k + 1 == placed)
                vm->stopped = true; /* no room: the operator may start it later */
        }
    }
    return 0;
}

void sim_hv_free(struct sim_hv *hv) {
    for (uint32_t i = 0; hv->h && i < hv->n_hosts; i++)
        free(hv->h[i].doms);
    free(hv->h);
    free(hv->vm);
    free(hv->mig);
    free(hv->scratch);
    memset(hv, 0, sizeof *hv);
}

double sim_hv_demand(const struct sim_hv *hv, uint32_t v, double t_s) {
    const struct sim_vm *vm = &hv->vm[v];
    double wave = 0.5 + 0.5 * sin(2 * M_PI * (t_s / hv->period_s));
    double own = 0.5 + 0.5 * sin(2 * M_PI * (t_s / (hv->period_s * 0.37) + vm->phase));
    /* Noise that changes every 5 s, the agent's sample interval. */
    double noise = 0.1 * (unit(mix(((uint64_t)v << 32) ^ (uint64_t)(t_s / 5))) - 0.5);
    double d = vm->base * (0.2 + 1.3 * wave * vm->swing) + 0.15 * own + noise;
    return d < 0.01 ? 0.01 : d > 1 ? 1 : d;
}

bool sim_hv_sample(const struct sim_hv *hv, uint32_t host, double t_s, struct hv_sample *out,
                   struct hv_vm *vms) {
    const struct sim_hv_host *h = &hv->h[host];
    memset(out, 0, sizeof *out);
    out->vms = vms;
    if (!libvirt_up(h)) {
        snprintf(out->reason, sizeof out->reason, "libvirtd is not running");
        return false;
    }
    out->available = true;
    out->cpus = h->cores;
    out->cpu_mhz = h->mhz;
    out->memory_kib = h->mem_mb * 1024;
    double busy = 0;
    for (size_t i = 0; i < h->n_doms; i++) {
        const struct sim_dom *d = &h->doms[i];
        const struct sim_vm *vm = &hv->vm[d->vm];
        struct hv_vm *x = &vms[out->n_vms++];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "%s", vm->name);
        x->uuid[0] = (unsigned char)d->vm;
        x->uuid[1] = (unsigned char)(d->vm >> 8);
        x->state = d->state == SIM_DOM_INCOMING  ? HV_VM_PAUSED
                   : d->state == SIM_DOM_SHUTOFF ? HV_VM_SHUTOFF
                                                 : HV_VM_RUNNING;
        snprintf(x->arrival, sizeof x->arrival, "%s", d->arrival);
        x->vcpus = vm->vcpus;
        x->memory_kib = x->max_memory_kib = vm->mem_mb * 1024;
        x->rules.ha = vm->ha;
        x->rules.ha_priority = vm->ha_priority;
        if (d->state == SIM_DOM_SHUTOFF)
            continue;
        x->cpu_percent = d->state == SIM_DOM_INCOMING ? 0 : 100 * sim_hv_demand(hv, d->vm, t_s);
        busy += x->cpu_percent / 100 * vm->vcpus;
        out->memory_used_kib += x->memory_kib;
    }
    out->cpu_percent = 100 * busy / h->cores;
    if (out->cpu_percent > 100)
        out->cpu_percent = 100;
    return true;
}

void sim_hv_fresh(const struct sim_hv *hv, uint32_t host, struct hv_fresh *out,
                  struct hv_domain_now *doms) {
    const struct sim_hv_host *h = &hv->h[host];
    memset(out, 0, sizeof *out);
    out->token = 1;
    out->doms = doms;
    if (!libvirt_up(h)) {
        snprintf(out->reason, sizeof out->reason, "libvirtd is not running");
        return;
    }
    out->available = true;
    for (size_t i = 0; i < h->n_doms; i++) {
        const struct sim_dom *d = &h->doms[i];
        struct hv_domain_now *x = &doms[out->n++];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "%s", hv->vm[d->vm].name);
        x->uuid[0] = (unsigned char)d->vm;
        x->uuid[1] = (unsigned char)(d->vm >> 8);
        x->state = d->state == SIM_DOM_INCOMING  ? HV_VM_PAUSED
                   : d->state == SIM_DOM_SHUTOFF ? HV_VM_SHUTOFF
                                                 : HV_VM_RUNNING;
        x->active = d->state != SIM_DOM_SHUTOFF;
        x->persistent = d->state != SIM_DOM_INCOMING;
        x->job = d->state == SIM_DOM_OUTGOING   ? HV_JOB_MIGRATION_OUT
                 : d->state == SIM_DOM_INCOMING ? HV_JOB_MIGRATION_IN
                                                : HV_JOB_NONE;
        snprintf(x->arrival, sizeof x->arrival, "%s", d->arrival);
    }
}

static bool vm_named(const struct sim_hv *hv, const char *name, uint32_t *vm) {
    /* Names are "vm<index>". */
    if (strncmp(name, "vm", 2) != 0)
        return false;
    char *end;
    unsigned long v = strtoul(name + 2, &end, 10);
    if (*end || !name[2] || v >= hv->n_vms)
        return false;
    *vm = (uint32_t)v;
    return true;
}

/* Why libvirt refuses to start migrating `name` from src to dst, or NULL. */
static const char *migrate_refusal(const struct sim_hv *hv, uint32_t src, const char *name,
                                   uint32_t dst, uint32_t *v) {
    const struct sim_hv_host *s = &hv->h[src], *d = &hv->h[dst];
    if (!libvirt_up(s))
        return "libvirtd is not running";
    const struct sim_dom *dom = NULL;
    for (size_t i = 0; vm_named(hv, name, v) && i < s->n_doms && !dom; i++)
        if (s->doms[i].vm == *v)
            dom = &s->doms[i];
    if (!dom)
        return "the domain is not here";
    if (dom->state == SIM_DOM_SHUTOFF)
        return "the domain is not running";
    if (dom->state != SIM_DOM_RUNNING)
        return "the domain is already migrating";
    if (src == dst)
        return "the destination is this host";
    if (!libvirt_up(d))
        return "the destination's libvirtd is not running";
    if (host_gate_refuses(d->gate, "migrate", "begin") ||
        host_gate_refuses(d->gate, "prepare", "begin"))
        return "the destination's qemu hook refused it (inbound gate)";
    if (hv->vm[*v].ha && !d->ha_ready)
        return "the destination's qemu hook refused it (protected gate not ready)";
    for (size_t i = 0; i < d->n_doms; i++)
        if (d->doms[i].vm == *v)
            return "a domain of that VM is defined at the destination";
    if (mem_used(hv, d) + hv->vm[*v].mem_mb > d->mem_mb)
        return "the destination has not enough memory";
    return NULL;
}

int sim_hv_migrate(struct sim_hv *hv, int64_t now_us, uint32_t src, const char *name, uint32_t dst,
                   const char *tag, uint32_t *mig, char *err, size_t errlen) {
    uint32_t v = 0;
    const char *why = migrate_refusal(hv, src, name, dst, &v);
    if (!why && hv->n_mig == hv->cap_mig) {
        size_t cap = hv->cap_mig ? 2 * hv->cap_mig : 64;
        struct sim_migration *m = realloc(hv->mig, cap * sizeof *m);
        if (m) {
            hv->mig = m;
            hv->cap_mig = cap;
        } else {
            why = "out of memory";
        }
    }
    uint32_t id = (uint32_t)hv->n_mig;
    if (!why && add_dom(&hv->h[dst], v, SIM_DOM_INCOMING, id, tag) != 0)
        why = "out of memory";
    if (why) {
        hv->migrations_refused++;
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    hv->migrations_started++;
    struct sim_migration *m = &hv->mig[hv->n_mig++];
    double secs = (double)hv->vm[v].mem_mb / hv->mb_per_s * (1 + prng_unit(&hv->rng));
    *m = (struct sim_migration){.vm = v,
                                .src = src,
                                .dst = dst,
                                .active = true,
                                .start_us = now_us,
                                .end_us = now_us + (int64_t)(secs * 1e6),
                                .fail = prng_unit(&hv->rng) < hv->fail_prob};
    snprintf(m->tag, sizeof m->tag, "%s", tag);
    struct sim_dom *dom = find_dom(&hv->h[src], v, NULL);
    dom->state = SIM_DOM_OUTGOING;
    dom->mig = id;
    *mig = id;
    hv->changed = true;
    sim_hv_check(hv, now_us);
    return 0;
}

const struct sim_migration *sim_hv_migration(const struct sim_hv *hv, uint32_t mig) {
    return mig < hv->n_mig ? &hv->mig[mig] : NULL;
}

void sim_hv_libvirtd(struct sim_hv *hv, int64_t now_us, uint32_t host, bool up) {
    struct sim_hv_host *h = &hv->h[host];
    h->libvirtd_down = !up;
    if (up) {
        /* Its leftovers are seen from now on: nodectl's time starts. */
        for (size_t k = 0; k < h->n_doms; k++)
            if (h->doms[k].leftover && !h->doms[k].leftover_judged)
                h->doms[k].leftover_since_us = now_us;
        hv->changed = true;
        return;
    }
    /* The peer-to-peer migrations it drives or receives fail; the guests'
     * QEMU processes keep running without it. One it receives that is in
     * its Finish leaves the destination's copy running. */
    for (size_t i = 0; i < hv->n_mig; i++) {
        struct sim_migration *m = &hv->mig[i];
        if (!m->active || (m->src != host && m->dst != host))
            continue;
        m->fail = true;
        m->leftover |= m->dst == host && 4 * (m->end_us - now_us) <= m->end_us - m->start_us;
    }
}

bool sim_hv_destroy(struct sim_hv *hv, int64_t now_us, uint32_t host, const char *name) {
    struct sim_hv_host *h = &hv->h[host];
    uint32_t v;
    size_t at;
    if (!libvirt_up(h) || !vm_named(hv, name, &v) || !find_dom(h, v, &at))
        return false;
    if (h->doms[at].leftover)
        hv->leftovers_destroyed++;
    drop_dom(h, at);
    hv->changed = true;
    sim_hv_check(hv, now_us);
    return true;
}

void sim_hv_set_gate(struct sim_hv *hv, uint32_t host, enum host_gate g) { hv->h[host].gate = g; }

/* Ends migration id: the VM runs at the destination (ok) or stays at the
 * source. */
static void end_migration(struct sim_hv *hv, uint32_t id, bool ok) {
    struct sim_migration *m = &hv->mig[id];
    if (!m->active)
        return;
    m->active = false;
    m->fail = !ok;
    struct sim_hv_host *s = &hv->h[m->src], *d = &hv->h[m->dst];
    size_t at;
    struct sim_dom *sd = find_dom(s, m->vm, &at);
    if (sd && sd->state == SIM_DOM_OUTGOING && sd->mig == id) {
        if (ok)
            drop_dom(s, at);
        else
            sd->state = SIM_DOM_RUNNING;
    }
    struct sim_dom *dd = find_dom(d, m->vm, &at);
    if (dd && dd->state == SIM_DOM_INCOMING && dd->mig == id) {
        if (ok) {
            dd->state = SIM_DOM_RUNNING;
        } else if (m->leftover && d->power == SIM_POWER_ON) {
            /* Finish resumed it; its answer never reached the source. */
            dd->state = SIM_DOM_RUNNING;
            dd->leftover = true;
            dd->leftover_since_us = m->end_us;
            hv->leftovers++;
        } else {
            drop_dom(d, at);
        }
    }
    if (ok)
        hv->migrations_ok++;
    else
        hv->migrations_failed++;
}

/* Host h goes down: every migration to or from it fails at both ends. */
static void fail_migrations(struct sim_hv *hv, struct sim_hv_host *h) {
    for (;;) {
        size_t i = 0;
        while (i < h->n_doms &&
               (h->doms[i].state == SIM_DOM_RUNNING || h->doms[i].state == SIM_DOM_SHUTOFF))
            i++;
        if (i == h->n_doms)
            break;
        /* A domain leaving or arriving belongs to a running migration, whose
         * end changes it: the loop ends. */
        assert(hv->mig[h->doms[i].mig].active);
        end_migration(hv, h->doms[i].mig, false);
    }
}

void sim_hv_power_off(struct sim_hv *hv, int64_t now_us, uint32_t host) {
    struct sim_hv_host *h = &hv->h[host];
    if (h->power != SIM_POWER_ON)
        return;
    hv->power_offs++;
    size_t active = 0;
    const struct sim_dom *d = NULL;
    for (size_t i = 0; i < h->n_doms; i++)
        if (h->doms[i].state != SIM_DOM_SHUTOFF && !active++)
            d = &h->doms[i];
    if (active) {
        hv->host_off_with_vm++;
        snprintf(hv->why_off, sizeof hv->why_off,
                 "n%u powered off with %zu domain(s) on it, e.g. %s %s", host + 1, active,
                 hv->vm[d->vm].name, d->state == SIM_DOM_INCOMING ? "arriving" : "running");
    }
    /* The machine goes down: what ran here is gone (the invariant check
     * counts the losses). */
    fail_migrations(hv, h);
    /* Definitions (--ha's shut-off domains) outlive the power. */
    for (size_t i = h->n_doms; i-- > 0;)
        if (h->doms[i].state != SIM_DOM_SHUTOFF)
            drop_dom(h, i);
    h->power = SIM_POWER_STOPPING;
    h->power_until_us = now_us + hv->stop_us;
    hv->changed = true;
    sim_hv_check(hv, now_us);
}

void sim_hv_wake(struct sim_hv *hv, int64_t now_us, uint32_t host) {
    struct sim_hv_host *h = &hv->h[host];
    hv->wakes++;
    if (h->power != SIM_POWER_OFF)
        return;
    h->power = SIM_POWER_BOOTING;
    hv->changed = true;
    h->power_until_us =
        now_us + hv->boot_us_min +
        (int64_t)prng_below(&hv->rng, (uint64_t)(hv->boot_us_max - hv->boot_us_min) + 1);
}

bool sim_hv_operator_stop(struct sim_hv *hv, uint32_t v) {
    for (uint32_t i = 0; i < hv->n_hosts; i++) {
        struct sim_hv_host *h = &hv->h[i];
        size_t at;
        struct sim_dom *d = find_dom(h, v, &at);
        if (h->power == SIM_POWER_ON && d && d->state == SIM_DOM_RUNNING) {
            drop_dom(h, at);
            hv->vm[v].stopped = true;
            return true;
        }
    }
    return false;
}

bool sim_hv_operator_start(struct sim_hv *hv, uint32_t v, uint32_t host) {
    struct sim_hv_host *h = &hv->h[host];
    struct sim_vm *vm = &hv->vm[v];
    if (!vm->stopped || !libvirt_up(h) || mem_used(hv, h) + vm->mem_mb > h->mem_mb ||
        host_gate_refuses(h->gate, "prepare", "begin"))
        return false;
    if (add_dom(h, v, SIM_DOM_RUNNING, 0, "") != 0)
        return false;
    vm->stopped = false;
    vm->lost = false;
    return true;
}

/* Whether a leftover copy is still libvirt's doing, not nodectl's: its
 * destination's libvirtd is down, or it has been back less than
 * SIM_LEFTOVER_BOUND_US. */
static bool leftover_excused(const struct sim_hv_host *h, const struct sim_dom *d, int64_t now_us) {
    return d->leftover && !d->leftover_judged &&
           (h->libvirtd_down || now_us - d->leftover_since_us < SIM_LEFTOVER_BOUND_US);
}

int64_t sim_hv_deadline(const struct sim_hv *hv) {
    int64_t d = INT64_MAX;
    for (uint32_t i = 0; i < hv->n_hosts; i++) {
        const struct sim_hv_host *h = &hv->h[i];
        for (size_t k = 0; !h->libvirtd_down && k < h->n_doms; k++)
            if (h->doms[k].leftover && !h->doms[k].leftover_judged &&
                h->doms[k].leftover_since_us + SIM_LEFTOVER_BOUND_US < d)
                d = h->doms[k].leftover_since_us + SIM_LEFTOVER_BOUND_US;
    }
    for (size_t i = 0; i < hv->n_mig; i++)
        if (hv->mig[i].active && hv->mig[i].end_us < d)
            d = hv->mig[i].end_us;
    for (uint32_t i = 0; i < hv->n_hosts; i++) {
        const struct sim_hv_host *h = &hv->h[i];
        if ((h->power == SIM_POWER_STOPPING || h->power == SIM_POWER_BOOTING) &&
            h->power_until_us < d)
            d = h->power_until_us;
    }
    return d;
}

size_t sim_hv_run(struct sim_hv *hv, int64_t now_us, struct sim_hv_note *notes, size_t cap) {
    size_t n = 0;
    /* A leftover nodectl did not destroy in time counts as a copy. */
    bool judged = false;
    for (uint32_t i = 0; i < hv->n_hosts; i++) {
        struct sim_hv_host *h = &hv->h[i];
        for (size_t k = 0; k < h->n_doms; k++) {
            struct sim_dom *d = &h->doms[k];
            if (d->leftover && !d->leftover_judged && !leftover_excused(h, d, now_us)) {
                d->leftover_judged = true;
                judged = true;
            }
        }
    }
    if (judged) {
        hv->changed = true;
        sim_hv_check(hv, now_us);
    }
    for (size_t i = 0; i < hv->n_mig && n < cap; i++) {
        struct sim_migration *m = &hv->mig[i];
        if (!m->active || m->end_us > now_us)
            continue;
        end_migration(hv, (uint32_t)i, !m->fail);
        notes[n++] = (struct sim_hv_note){SIM_HV_MIGRATION_ENDED, m->src, (uint32_t)i};
    }
    for (uint32_t i = 0; i < hv->n_hosts && n < cap; i++) {
        struct sim_hv_host *h = &hv->h[i];
        if (h->power == SIM_POWER_STOPPING && h->power_until_us <= now_us) {
            h->power = SIM_POWER_OFF;
            notes[n++] = (struct sim_hv_note){SIM_HV_OFF, i, 0};
        } else if (h->power == SIM_POWER_BOOTING && h->power_until_us <= now_us) {
            h->power = SIM_POWER_ON;
            h->libvirtd_down = false;
            h->boots++;
            hv->power_ons++;
            notes[n++] = (struct sim_hv_note){SIM_HV_BOOTED, i, 0};
        }
    }
    if (n)
        sim_hv_check(hv, now_us);
    return n;
}

void sim_hv_check(struct sim_hv *hv, int64_t now_us) {
    uint32_t *copies = hv->scratch, *moving = hv->scratch + hv->n_vms;
    memset(hv->scratch, 0, 2 * hv->n_vms * sizeof *hv->scratch);
    for (uint32_t i = 0; i < hv->n_hosts; i++) {
        const struct sim_hv_host *h = &hv->h[i];
        if (h->power != SIM_POWER_ON)
            continue;
        for (size_t k = 0; k < h->n_doms; k++) {
            copies[h->doms[k].vm] += h->doms[k].state != SIM_DOM_INCOMING &&
                                     h->doms[k].state != SIM_DOM_SHUTOFF &&
                                     !leftover_excused(h, &h->doms[k], now_us);
            moving[h->doms[k].vm] += h->doms[k].state == SIM_DOM_OUTGOING;
        }
    }
    for (uint32_t v = 0; v < hv->n_vms; v++) {
        struct sim_vm *vm = &hv->vm[v];
        if (vm->stopped || vm->lost)
            continue;
        if (copies[v] == 0 && !hv->ha) {
            vm->lost = true;
            hv->vm_lost++;
            snprintf(hv->why_lost, sizeof hv->why_lost, "%s runs nowhere", vm->name);
        }
        bool dup = copies[v] > 1 || moving[v] > 1;
        if (dup && !vm->duplicated) {
            hv->vm_duplicated++;
            snprintf(hv->why_duplicated, sizeof hv->why_duplicated,
                     "%s runs on %u hosts (%u of them migrating it)", vm->name, copies[v],
                     moving[v]);
        }
        vm->duplicated = dup;
    }
}

/* ---- --ha ---- */

bool sim_hv_define(struct sim_hv *hv, uint32_t host, const char *name, char *err, size_t errlen) {
    struct sim_hv_host *h = &hv->h[host];
    uint32_t v;
    if (!libvirt_up(h)) {
        snprintf(err, errlen, "libvirtd is not running");
        return false;
    }
    if (!vm_named(hv, name, &v)) {
        snprintf(err, errlen, "no such VM in the simulation");
        return false;
    }
    if (find_dom(h, v, NULL)) {
        snprintf(err, errlen, "a domain named '%s' is already defined here", name);
        return false;
    }
    if (add_dom(h, v, SIM_DOM_SHUTOFF, 0, "") != 0) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    hv->changed = true;
    return true;
}

bool sim_hv_start(struct sim_hv *hv, int64_t now_us, uint32_t host, const char *name, char *err,
                  size_t errlen) {
    struct sim_hv_host *h = &hv->h[host];
    uint32_t v;
    struct sim_dom *d;
    if (!libvirt_up(h) || !vm_named(hv, name, &v) || !(d = find_dom(h, v, NULL)) ||
        d->state != SIM_DOM_SHUTOFF) {
        snprintf(err, errlen, "%s", !libvirt_up(h) ? "libvirtd is not running"
                                                   : "the domain is not defined and shut off");
        return false;
    }
    if (host_gate_refuses(h->gate, "prepare", "begin")) {
        snprintf(err, errlen, "the qemu hook refused it (inbound gate)");
        return false;
    }
    if (hv->vm[v].ha && !h->ha_ready) {
        snprintf(err, errlen, "the qemu hook refused it (protected gate not ready)");
        return false;
    }
    if (mem_used(hv, h) + hv->vm[v].mem_mb > h->mem_mb) {
        snprintf(err, errlen, "not enough memory");
        return false;
    }
    d->state = SIM_DOM_RUNNING;
    hv->changed = true;
    sim_hv_check(hv, now_us);
    return true;
}

/* A domain that stops loses its live XML, and with it the arrival id
 * (hv_arrival_mark writes it there only, VIR_DOMAIN_AFFECT_LIVE): started
 * again (a restart in place), it is a copy nodectl started, not the one a
 * migration brought or left behind. */
static void shut_off(struct sim_dom *d) {
    d->state = SIM_DOM_SHUTOFF;
    d->arrival[0] = '\0';
    d->leftover = false;
}

/* The domain's QEMU process ends: shut off, still defined; a migration it
 * was in fails. */
static void stop_dom(struct sim_hv *hv, int64_t now_us, struct sim_hv_host *h, uint32_t v,
                     struct sim_dom *d) {
    size_t at;
    if (d->state == SIM_DOM_INCOMING) {
        end_migration(hv, d->mig, false);
    } else {
        if (d->state == SIM_DOM_OUTGOING)
            end_migration(hv, d->mig, false);
        d = find_dom(h, v, &at);
        if (d)
            shut_off(d);
    }
    hv->changed = true;
    sim_hv_check(hv, now_us);
}

bool sim_hv_stop(struct sim_hv *hv, int64_t now_us, uint32_t host, const char *name) {
    struct sim_hv_host *h = &hv->h[host];
    uint32_t v;
    struct sim_dom *d;
    if (!libvirt_up(h) || !vm_named(hv, name, &v) || !(d = find_dom(h, v, NULL)) ||
        d->state == SIM_DOM_SHUTOFF)
        return false;
    stop_dom(hv, now_us, h, v, d);
    return true;
}

size_t sim_hv_kill_protected(struct sim_hv *hv, int64_t now_us, uint32_t host) {
    struct sim_hv_host *h = &hv->h[host];
    size_t n = 0;
    if (h->power != SIM_POWER_ON)
        return 0;
    for (size_t i = 0; i < h->n_doms; i++) {
        struct sim_dom *d = &h->doms[i];
        if (!hv->vm[d->vm].ha || d->state == SIM_DOM_SHUTOFF)
            continue;
        stop_dom(hv, now_us, h, d->vm, d);
        n++;
        i = (size_t)-1; /* a failed migration may have changed the table */
    }
    return n;
}

bool sim_hv_undefine(struct sim_hv *hv, uint32_t host, const char *name) {
    struct sim_hv_host *h = &hv->h[host];
    uint32_t v;
    size_t at;
    struct sim_dom *d;
    if (!libvirt_up(h) || !vm_named(hv, name, &v) || !(d = find_dom(h, v, &at)) ||
        d->state != SIM_DOM_SHUTOFF)
        return false;
    drop_dom(h, at);
    hv->undefined++;
    hv->changed = true;
    return true;
}

void sim_hv_power_loss(struct sim_hv *hv, int64_t now_us, uint32_t host) {
    struct sim_hv_host *h = &hv->h[host];
    if (h->power == SIM_POWER_OFF)
        return;
    hv->power_losses++;
    fail_migrations(hv, h);
    for (size_t i = 0; i < h->n_doms; i++)
        shut_off(&h->doms[i]);
    h->power = SIM_POWER_OFF;
    h->ha_ready = false;
    hv->changed = true;
    sim_hv_check(hv, now_us);
}

void sim_hv_set_ha_ready(struct sim_hv *hv, uint32_t host, bool ready) {
    hv->h[host].ha_ready = ready;
}

bool sim_hv_protected_active(const struct sim_hv *hv, uint32_t host) {
    const struct sim_hv_host *h = &hv->h[host];
    for (size_t i = 0; h->power == SIM_POWER_ON && i < h->n_doms; i++)
        if (hv->vm[h->doms[i].vm].ha && h->doms[i].state != SIM_DOM_SHUTOFF)
            return true;
    return false;
}

uint32_t sim_hv_copies(const struct sim_hv *hv, uint32_t vm) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < hv->n_hosts; i++) {
        const struct sim_hv_host *h = &hv->h[i];
        for (size_t k = 0; h->power == SIM_POWER_ON && k < h->n_doms; k++)
            n += h->doms[k].vm == vm && h->doms[k].state != SIM_DOM_SHUTOFF &&
                 h->doms[k].state != SIM_DOM_INCOMING;
    }
    return n;
}
