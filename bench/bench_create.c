/* Initial placement through `nodectl create` with real agents, against the
 * baseline strategies on the same arrivals (docs/leader.md). A loopback
 * cluster of HOSTS agents on libvirt's test driver (2 cores of 1860 or 2660
 * MHz and 8 GiB each, alternately; n1-n3 candidates; automation off, so
 * no migration moves a VM afterwards). VMs of 1 vCPU and the memory of
 * CloudSim's four types arrive one by one (seeded), each with a mean CPU
 * demand its host reports through the synthetic load file; every arrival
 * is a CreateRequest to the agent of n1 (forwarded to the leader unless n1
 * leads), started, and the next arrival waits until the leader's own view
 * shows it at its load. First fit, round robin and random place the same sequence on
 * the same hosts in-process (placement_initial, the leader's own snapshot
 * of the same numbers). Then STEPS five-minute steps of noisy demand (the
 * same draws for every strategy) are charged to where the VMs are: VMs
 * refused, host-steps overloaded (demand above the host's MIPS), energy
 * (kWh of the linear 100-250 W model the leader plans with; hosts without
 * VMs counted off). The agents use no leases beyond the defaults.
 *
 *   bench_create DIR [ARRIVALS [SEED]]
 *
 * bench/initial.sh runs it after the in-process comparison. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "command/domain_xml.h"
#include "net/control.h"
#include "placement/placement.h"

#define HOSTS 6
#define MAX_ARRIVALS 400
#define STEPS 288

static char conf[HOSTS + 1][PATH_MAX], sock[HOSTS + 1][PATH_MAX], load[HOSTS + 1][PATH_MAX];
static pid_t pids[HOSTS + 1];
static char pki[HOSTS + 1][3 * PATH_MAX];
static const uint64_t mem_types[4] = {870, 1740, 1740, 613};

struct arrival {
    uint64_t mem_mb;
    double mean;
};
static struct arrival arrivals[MAX_ARRIVALS];

static double core_mips(int h) { return h % 2 ? 1860 : 2660; } /* h from 0: n1 is 1860 */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void write_file(const char *path, const char *text, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void start(const char *dir, int i, unsigned base) {
    char d[512], text[8 * PATH_MAX], log[PATH_MAX], node[PATH_MAX + 16], xml[512];
    if (snprintf(d, sizeof d, "%s/n%d", dir, i) >= (int)sizeof d) {
        fprintf(stderr, "%s: path too long\n", dir);
        exit(2);
    }
    mkdir(d, 0755);
    snprintf(node, sizeof node, "%s/node.xml", d);
    snprintf(xml, sizeof xml,
             "<node><cpu><mhz>%.0f</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>"
             "<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>"
             "<memory>8388608</memory></node>\n", core_mips(i - 1));
    write_file(node, xml, "w");
    snprintf(load[i], sizeof load[i], "%s/load", d);
    write_file(load[i], "", "w");
    snprintf(text, sizeof text,
             "[cluster]\nname = bench\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1, n2, n3\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test://%s\nsample_interval = 250ms\nsynthetic_load_file = %s\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\n"
             "[leader]\nautomation = off\n",
             pki[i], base, i, base + (unsigned)i - 1, d, d, node, load[i]);
    snprintf(conf[i], sizeof conf[i], "%s/nodectl.conf", d);
    snprintf(sock[i], sizeof sock[i], "%s/ctl.sock", d);
    write_file(conf[i], text, "w");
    snprintf(log, sizeof log, "%s/agent.log", d);
    pids[i] = agent_start(conf[i], log);
    if (agent_wait_ready(pids[i], conf[i], 10000) != 0) {
        fprintf(stderr, "agent %d did not start; see %s\n", i, log);
        exit(1);
    }
}

/* The leader's index as n1 names it; 1 when none is named. */
static int leader_index(void) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__StatusRequest body = NODECTL__STATUS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_STATUS;
    req.status = &body;
    char err[256];
    Nodectl__Response *r = control_call(sock[1], &req, 2000, err, sizeof err);
    int l = r && r->status && r->status->leader[0] == 'n' ? atoi(r->status->leader + 1) : 1;
    if (r)
        nodectl__response__free_unpacked(r, NULL);
    return l >= 1 && l <= HOSTS ? l : 1;
}

/* Whether the leader sees vm on host `name` at its synthetic load: the
 * view the next placement is made on. */
static bool shown(const char *vm, const char *name, double pct) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__VmsRequest body = NODECTL__VMS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_VMS;
    req.vms = &body;
    char err[256];
    Nodectl__Response *r = control_call(sock[leader_index()], &req, 2000, err, sizeof err);
    bool found = false;
    for (size_t i = 0; r && r->vms && i < r->vms->n_hosts; i++)
        for (size_t k = 0; strcmp(r->vms->hosts[i]->name, name) == 0 && k < r->vms->hosts[i]->n_vms;
             k++)
            found |= strcmp(r->vms->hosts[i]->vms[k]->name, vm) == 0 &&
                     r->vms->hosts[i]->vms[k]->cpu_percent > pct - 0.5 &&
                     r->vms->hosts[i]->vms[k]->cpu_percent < pct + 0.5;
    if (r)
        nodectl__response__free_unpacked(r, NULL);
    return found;
}

/* One arrival through nodectl create: the host's index (0-based), or -1. */
static int create(int k, const char *policy) {
    char xml[512], vm[32];
    snprintf(vm, sizeof vm, "vm-%d", k);
    snprintf(xml, sizeof xml,
             "<domain type='test'><name>%s</name><memory unit='MiB'>%llu</memory><vcpu>1</vcpu>"
             "<os><type>hvm</type></os></domain>", vm, (unsigned long long)arrivals[k].mem_mb);
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__CreateRequest body = NODECTL__CREATE_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_CREATE;
    req.create = &body;
    static uint8_t xmlz[COMMAND_XMLZ_MAX];
    char why[256];
    if (domain_xml_deflate(xml, strlen(xml), xmlz, &body.xml_deflated.len, why, sizeof why)) {
        fprintf(stderr, "%s: %s\n", vm, why);
        return -1;
    }
    body.xml_deflated.data = xmlz;
    body.start = true;
    body.policy = (char *)policy;
    char err[256];
    Nodectl__Response *r = control_call(sock[1], &req, 10000, err, sizeof err);
    int h = -1;
    if (r && !r->error && r->create)
        h = atoi(r->create->host + 1) - 1;
    else if (r && r->error && !strstr(r->error->message, "no host can take"))
        fprintf(stderr, "%s, %s: %s\n", vm, policy, r->error->message);
    if (r)
        nodectl__response__free_unpacked(r, NULL);
    if (h < 0)
        return -1;
    char line[64], name[16];
    snprintf(line, sizeof line, "%s %.1f\n", vm, arrivals[k].mean * 100);
    write_file(load[h + 1], line, "a");
    snprintf(name, sizeof name, "n%d", h + 1);
    for (int waited = 0; waited < 10000 && !shown(vm, name, arrivals[k].mean * 100); waited += 100)
        sleep_ms(100);
    return h;
}

/* The strategies in-process, on the leader's numbers for the same VMs. */
static int baseline(enum placement_initial_kind kind, int n, int *host, struct prng *rng) {
    static struct placement_power_model power;
    placement_power_linear(&power, 100, 250);
    struct placement_host hosts[HOSTS];
    static struct placement_vm vms[MAX_ARRIVALS];
    static const double full = 1;
    for (int h = 0; h < HOSTS; h++)
        hosts[h] = (struct placement_host){.id = (uint32_t)h, .cores = 2, .core_mips = core_mips(h),
                                           .mem_mb = 8192, .power = &power,
                                           .power_state = PLACEMENT_HOST_ON,
                                           .powered_on_at = -1e300};
    struct placement_policy pol;
    placement_policy_by_name("default", -1, &pol);
    struct placement_initial_weights w = {0.25, 0.25, 0.25, 0.25};
    uint32_t cursor = 0;
    size_t n_vms = 0;
    int refused = 0;
    for (int k = 0; k < n; k++) {
        struct placement_vm v = {.vcpus = 1, .mips = 1860, .cpu_mips = 1860,
                                 .mem_mb = arrivals[k].mem_mb, .history = &full,
                                 .history_len = 1, .last_migrated_at = -1e300};
        struct placement_snapshot s = {hosts, HOSTS, vms, n_vms};
        host[k] = placement_initial(&s, &pol, &v, kind, &w, NULL, &cursor, rng);
        if (host[k] < 0) {
            refused++;
            continue;
        }
        v.host = (uint32_t)host[k];
        v.id = (uint32_t)n_vms;
        v.mips = core_mips(host[k]);
        v.cpu_mips = v.alloc_mips = arrivals[k].mean * v.mips;
        vms[n_vms++] = v;
    }
    return refused;
}

/* Overloaded host-steps and kWh of a placement over STEPS noisy steps. */
static void charge(const int *host, int n, unsigned long long seed, int *overloaded,
                   double *kwh) {
    struct placement_power_model power;
    placement_power_linear(&power, 100, 250);
    struct prng demand;
    prng_seed(&demand, seed + 2);
    double ws = 0;
    *overloaded = 0;
    for (int t = 0; t < STEPS; t++) {
        double used[HOSTS] = {0};
        bool any[HOSTS] = {false};
        for (int k = 0; k < n; k++) {
            double u = arrivals[k].mean + (prng_unit(&demand) - 0.5) * 0.4;
            u = u < 0 ? 0 : u > 1 ? 1 : u;
            if (host[k] < 0)
                continue;
            used[host[k]] += u * core_mips(host[k]);
            any[host[k]] = true;
        }
        for (int h = 0; h < HOSTS; h++) {
            double cap = 2 * core_mips(h);
            if (!any[h])
                continue;
            *overloaded += used[h] > cap;
            ws += placement_power_watts(&power, used[h] / cap) * 300;
        }
    }
    *kwh = ws / 3.6e6;
}

static void report(const char *name, const int *host, int n, unsigned long long seed,
                   double seconds) {
    int refused = 0, overloaded;
    double kwh;
    for (int k = 0; k < n; k++)
        refused += host[k] < 0;
    charge(host, n, seed, &overloaded, &kwh);
    printf("%-24s %8d %8d %12d %10.2f %8.1f\n", name, n, refused, overloaded, kwh, seconds);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_create DIR [ARRIVALS [SEED]]\n");
        return 2;
    }
    const char *dir = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 48;
    unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    if (n <= 0 || n > MAX_ARRIVALS) {
        fprintf(stderr, "bench_create: ARRIVALS must be 1 to %d\n", MAX_ARRIVALS);
        return 2;
    }
    struct prng rng;
    prng_seed(&rng, seed);
    for (int k = 0; k < n; k++) {
        arrivals[k].mem_mb = mem_types[prng_below(&rng, 4)];
        arrivals[k].mean = 0.1 + 0.6 * prng_unit(&rng);
    }
    printf("%d hosts (2 cores of 1860/2660 MHz, 8 GiB), %d arrivals of 1 vCPU (seed %llu), "
           "%d steps of demand\n", HOSTS, n, seed, STEPS);
    printf("%-24s %8s %8s %12s %10s %8s\n", "strategy", "arrived", "refused", "overloaded",
           "energy_kwh", "wall_s");
    static int host[MAX_ARRIVALS];
    static const struct {
        const char *name;
        enum placement_initial_kind kind;
    } base[] = {{"first-fit (in-process)", PLACEMENT_INITIAL_FIRST_FIT},
                {"round-robin (in-process)", PLACEMENT_INITIAL_ROUND_ROBIN},
                {"random (in-process)", PLACEMENT_INITIAL_RANDOM}};
    for (size_t b = 0; b < sizeof base / sizeof base[0]; b++) {
        struct prng r;
        prng_seed(&r, seed + 1);
        baseline(base[b].kind, n, host, &r);
        report(base[b].name, host, n, seed, 0);
    }
    static const char *policies[] = {"first-fit", "most-free", "power-aware"};
    test_pki_cluster(dir);
    for (int i = 1; i <= HOSTS; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        test_pki_host(dir, name, i <= 3, pki[i], sizeof pki[i]);
    }
    for (size_t p = 0; p < sizeof policies / sizeof policies[0]; p++) {
        char run[400];
        if (snprintf(run, sizeof run, "%s/%s", dir, policies[p]) >= (int)sizeof run) {
            fprintf(stderr, "%s: path too long\n", dir);
            return 2;
        }
        mkdir(run, 0755);
        unsigned base_port = 20000 + (unsigned)(getpid() % 2000) * 10;
        for (int i = 1; i <= HOSTS; i++)
            start(run, i, base_port);
        /* A leader, every member and every record known to n1. */
        sleep_ms(5000);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int k = 0; k < n; k++)
            host[k] = create(k, policies[p]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        char name[40];
        snprintf(name, sizeof name, "nodectl create %s", policies[p]);
        report(name, host, n, seed,
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        for (int i = 1; i <= HOSTS; i++)
            agent_stop(pids[i], SIGTERM, 5000);
    }
    return 0;
}
