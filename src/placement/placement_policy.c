/* Named policies: CloudSim's (Beloglazov & Buyya 2012, with their published
 * parameters: THR 0.8, IQR 1.5, MAD 2.5, LR/LRR 1.2) in the cloudsim model,
 * the same combinations in the nodectl model ("nc-" prefix), and `default`,
 * what the agent runs when its config names no policy. */
#include <string.h>

#include "placement/placement.h"

static void cloudsim_base(struct placement_policy *p) {
    memset(p, 0, sizeof *p);
    p->model = PLACEMENT_MODEL_CLOUDSIM;
    p->migrate = true;
    p->overload = PLACEMENT_OVERLOAD_THR;
    p->overload_param = 0.8;
    p->fallback_threshold = 0.7;
    p->loadavg_min = 0.2;
    p->loadavg_max = 1.0;
    p->select = PLACEMENT_SELECT_MMT;
    p->consolidate = true;
    p->underload_threshold = 1.0;
    p->cpu_overcommit = 1.0;
    p->migration_mb_per_s = 62.5; /* CloudSim: half of 1 Gbit/s, in MB/s */
    p->interval_s = 300;
}

/* nodectl's stricter model: memory is respected, a VM is not moved again
 * within two intervals, a woken host stays up for an hour, migrations must
 * pay off (TR > O + lambda), at most 4 migrations per host and 64 hosts
 * tried for consolidation per round (the cluster converges over rounds and a
 * round stays fast at 10,000 hosts). */
static void nodectl_base(struct placement_policy *p) {
    cloudsim_base(p);
    p->model = PLACEMENT_MODEL_NODECTL;
    p->respect_memory = true;
    p->underload_threshold = 0.5;
    p->max_migrations_per_host = 4;
    p->vm_cooldown_s = 600;
    p->host_wake_cooldown_s = 3600;
    p->benefit_rule = true;
    p->benefit_margin_s = 60;
    p->max_evacuations = 64;
}

struct named {
    const char *name;
    enum placement_overload overload;
    double param;
};

static const struct named overloads[] = {
    {"thr", PLACEMENT_OVERLOAD_THR, 0.8},  {"iqr", PLACEMENT_OVERLOAD_IQR, 1.5},
    {"mad", PLACEMENT_OVERLOAD_MAD, 2.5},  {"lr", PLACEMENT_OVERLOAD_LR, 1.2},
    {"lrr", PLACEMENT_OVERLOAD_LRR, 1.2},  {"loadavg", PLACEMENT_OVERLOAD_LOADAVG, 1.0},
};

static const struct {
    const char *name;
    enum placement_select select;
} selects[] = {
    {"mmt", PLACEMENT_SELECT_MMT},
    {"mc", PLACEMENT_SELECT_MC},
    {"rs", PLACEMENT_SELECT_RS},
    {"lowest", PLACEMENT_SELECT_LOWEST_CPU},
};

const char *placement_policy_names(void) {
    return "npa, dvfs, thr-mmt, iqr-mmt, mad-mmt, lr-mmt, lrr-mmt, default, "
           "[nc-]{thr,iqr,mad,lr,lrr,loadavg}-{mmt,mc,rs,lowest}";
}

int placement_policy_by_name(const char *name, double param, struct placement_policy *out) {
    if (strcmp(name, "npa") == 0 || strcmp(name, "dvfs") == 0) {
        cloudsim_base(out);
        out->migrate = false;
        return 0;
    }
    if (strcmp(name, "default") == 0) {
        nodectl_base(out);
        out->overload = PLACEMENT_OVERLOAD_LR;
        out->overload_param = param >= 0 ? param : 1.15;
        return 0;
    }
    bool nodectl = strncmp(name, "nc-", 3) == 0;
    const char *rest = nodectl ? name + 3 : name;
    const char *dash = strchr(rest, '-');
    if (!dash)
        return -1;
    size_t len = (size_t)(dash - rest);
    for (size_t i = 0; i < sizeof overloads / sizeof *overloads; i++) {
        if (strlen(overloads[i].name) != len || strncmp(rest, overloads[i].name, len) != 0)
            continue;
        for (size_t j = 0; j < sizeof selects / sizeof *selects; j++) {
            if (strcmp(dash + 1, selects[j].name) != 0)
                continue;
            if (nodectl)
                nodectl_base(out);
            else
                cloudsim_base(out);
            out->overload = overloads[i].overload;
            out->select = selects[j].select;
            double p = param >= 0 ? param : overloads[i].param;
            if (out->overload == PLACEMENT_OVERLOAD_LOADAVG)
                out->loadavg_max = p;
            else
                out->overload_param = p;
            return 0;
        }
    }
    return -1;
}
