/* nodesim replay --workload DIR --policy NAME [--param X] [--json]
 * Replays one day of traces on the CloudSim model (sim_cloudsim.c) and
 * prints the benchmark's figures. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/nodesim.h"
#include "sim/sim_cloudsim.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: nodesim replay --workload DIR --policy NAME [--param X] [--json]\n"
            "                      [--hosts N] [--seed N] [--memory model|strict] [--set KEY=VALUE]...\n"
            "policies: %s\n"
            "--memory model (default): memory constrains only creation, as in CloudSim's\n"
            "  published runs; strict: every placement respects the hosts' 4 GB.\n"
            "--set keys: underload, overcommit, vm_cooldown, wake_cooldown, benefit_margin\n"
            "  (negative: rule off), max_migrations_per_host, max_evacuations, spare_hosts,\n"
            "  fallback\n",
            placement_policy_names());
}

/* --set KEY=VALUE: one policy field, for exploring variants of a policy. */
static int set_field(struct placement_policy *p, const char *kv) {
    const char *eq = strchr(kv, '=');
    char *end;
    if (!eq)
        return -1;
    double v = strtod(eq + 1, &end);
    if (*end || eq[1] == '\0')
        return -1;
    size_t n = (size_t)(eq - kv);
#define KEY(k) (n == strlen(k) && strncmp(kv, k, n) == 0)
    if (KEY("underload"))
        p->underload_threshold = v;
    else if (KEY("overcommit"))
        p->cpu_overcommit = v;
    else if (KEY("vm_cooldown"))
        p->vm_cooldown_s = v;
    else if (KEY("wake_cooldown"))
        p->host_wake_cooldown_s = v;
    else if (KEY("benefit_margin")) {
        p->benefit_rule = v >= 0;
        p->benefit_margin_s = v;
    } else if (KEY("max_migrations_per_host") && v >= 0)
        p->max_migrations_per_host = (uint32_t)v;
    else if (KEY("max_evacuations") && v >= 0)
        p->max_evacuations = (uint32_t)v;
    else if (KEY("spare_hosts") && v >= 0)
        p->spare_hosts = (uint32_t)v;
    else if (KEY("fallback"))
        p->fallback_threshold = v;
    else
        return -1;
#undef KEY
    return 0;
}

static int print_json(const struct sim_result *r, const char *policy, double param) {
    json_t *o = json_pack("{s:s, s:f, s:I, s:I, s:f, s:I, s:f, s:f, s:f, s:f, s:I, s:f, s:f, s:f}",
                          "policy", policy, "param", param, "vms", (json_int_t)r->vms, "hosts",
                          (json_int_t)r->hosts, "energy_kwh", r->energy_kwh, "migrations",
                          (json_int_t)r->migrations, "slatah", r->slatah, "pdm", r->pdm, "slav",
                          r->slav, "esv", r->esv, "host_shutdowns", (json_int_t)r->host_shutdowns,
                          "overall_sla", r->overall_sla, "plan_seconds_max", r->plan_seconds_max,
                          "wall_seconds", r->wall_seconds);
    if (!o) {
        fprintf(stderr, "nodesim replay: cannot build JSON output\n");
        return 1;
    }
    int rc = json_dumpf(o, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
    fputc('\n', stdout);
    json_decref(o);
    return rc;
}

static void print_text(const struct sim_result *r) {
    printf("vms %zu\nhosts %zu\nenergy_kwh %.2f\nmigrations %llu\nslatah %.5f\npdm %.6f\n"
           "slav %.4e\nesv %.4e\nhost_shutdowns %llu\noverall_sla %.6f\nplan_seconds_max %.4f\n"
           "wall_seconds %.3f\n",
           r->vms, r->hosts, r->energy_kwh, (unsigned long long)r->migrations, r->slatah, r->pdm,
           r->slav, r->esv, (unsigned long long)r->host_shutdowns, r->overall_sla,
           r->plan_seconds_max, r->wall_seconds);
}

int nodesim_replay(int argc, char **argv) {
    static const struct option opts[] = {
        {"workload", required_argument, NULL, 'w'}, {"policy", required_argument, NULL, 'p'},
        {"param", required_argument, NULL, 'x'},    {"json", no_argument, NULL, 'j'},
        {"hosts", required_argument, NULL, 'n'},    {"seed", required_argument, NULL, 's'},
        {"memory", required_argument, NULL, 'm'},   {"set", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *workload = NULL, *policy = "default";
    double param = -1;
    bool json = false;
    unsigned long hosts = 800;
    unsigned long long seed = 1;
    const char *memory = "model";
    const char *sets[32];
    size_t n_sets = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'w':
            workload = optarg;
            break;
        case 'p':
            policy = optarg;
            break;
        case 'x':
            param = strtod(optarg, &end);
            if (*end || param < 0) {
                fprintf(stderr, "nodesim replay: --param wants a number >= 0, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'j':
            json = true;
            break;
        case 'n':
            hosts = strtoul(optarg, &end, 10);
            if (*end || hosts == 0) {
                fprintf(stderr, "nodesim replay: --hosts wants a positive count, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            seed = strtoull(optarg, &end, 10);
            if (*end) {
                fprintf(stderr, "nodesim replay: --seed wants an integer, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'm':
            memory = optarg;
            if (strcmp(memory, "model") != 0 && strcmp(memory, "strict") != 0) {
                fprintf(stderr, "nodesim replay: --memory wants model or strict, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'S':
            if (n_sets == sizeof sets / sizeof *sets) {
                fprintf(stderr, "nodesim replay: too many --set options\n");
                return 2;
            }
            sets[n_sets++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!workload) {
        fprintf(stderr, "nodesim replay: --workload DIR is required\n");
        usage(stderr);
        return 2;
    }
    struct placement_policy pol;
    if (placement_policy_by_name(policy, param, &pol) != 0) {
        fprintf(stderr, "nodesim replay: unknown policy '%s'\n", policy);
        usage(stderr);
        return 2;
    }
    /* The model's memory rule (benchmark note, 2): RAM stops constraining
     * placement after creation. Respecting it is stricter, never looser. */
    pol.respect_memory = strcmp(memory, "strict") == 0;
    for (size_t i = 0; i < n_sets; i++)
        if (set_field(&pol, sets[i]) != 0) {
            fprintf(stderr, "nodesim replay: bad --set '%s'\n", sets[i]);
            usage(stderr);
            return 2;
        }
    bool first_fit = strcmp(policy, "npa") == 0 || strcmp(policy, "dvfs") == 0;
    struct sim_options o = {
        .policy = &pol,
        .initial = first_fit ? PLACEMENT_INITIAL_FIRST_FIT : PLACEMENT_INITIAL_POWER_AWARE,
        .non_power_aware = strcmp(policy, "npa") == 0,
        .n_hosts = hosts,
        .seed = seed,
    };
    char err[256];
    struct sim_workload w;
    if (sim_workload_load(workload, &w, err, sizeof err) != 0) {
        fprintf(stderr, "nodesim replay: %s\n", err);
        return 1;
    }
    struct sim_result r;
    int rc = sim_cloudsim_run(&w, &o, &r, err, sizeof err);
    sim_workload_free(&w);
    if (rc != 0) {
        fprintf(stderr, "nodesim replay: %s\n", err);
        return 1;
    }
    if (json)
        return print_json(&r, policy, pol.overload_param);
    print_text(&r);
    return 0;
}
