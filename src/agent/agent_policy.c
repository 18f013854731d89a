/* The cluster policy at work: the planner's parameters from the
 * configuration, the [schedule] window in force for each plan (the local
 * time of [cluster] timezone, from the clock or, in tests, from
 * [leader] schedule_clock_file), and a digest of the policy in this host's
 * record, so that status shows a host whose policy is not the leader's. */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/config_policy.h"
#include "common/log.h"

/* The policy cfg names, its time zone, canonical text and digest: 0, or
 * -1 with err (nothing then to free). */
static int policy_build(const struct config *cfg, struct placement_policy *pol, struct tz **tz,
                        char *text, size_t textlen, char digest[17], char *err, size_t errlen) {
    if (placement_policy_by_name(cfg->policy, cfg->policy_parameter, pol) != 0) {
        snprintf(err, errlen, "[leader] policy '%s' is unknown; known: %s", cfg->policy,
                 placement_policy_names());
        return -1;
    }
    if (cfg->vm_cooldown_ms)
        pol->vm_cooldown_s = (double)cfg->vm_cooldown_ms / 1000;
    if (cfg->wake_cooldown_ms)
        pol->host_wake_cooldown_s = (double)cfg->wake_cooldown_ms / 1000;
    if (cfg->cpu_overcommit > 0)
        pol->cpu_overcommit = cfg->cpu_overcommit;
    if (cfg->underload_pct)
        pol->underload_threshold = (double)cfg->underload_pct / 100;
    pol->spare_hosts = cfg->spare_hosts;
    if (!(*tz = tz_open(cfg->timezone))) {
        snprintf(err, errlen, "[cluster] timezone '%s' is not in this host's tz database",
                 cfg->timezone);
        return -1;
    }
    unsigned char hash[crypto_generichash_BYTES_MIN];
    config_policy_text(cfg, text, textlen);
    crypto_generichash(hash, sizeof hash, (const unsigned char *)text, strlen(text), NULL, 0);
    for (size_t i = 0; i < 8; i++)
        snprintf(digest + 2 * i, 3, "%02x", hash[i]);
    return 0;
}

int agent_policy_open(struct agent *a, char *err, size_t errlen) {
    struct leader_state *L = &a->leader;
    char text[2048];
    if (policy_build(&a->cfg, &L->policy, &L->tz, text, sizeof text, L->policy_digest, err,
                     errlen) != 0)
        return -1;
    log_info("cluster policy %s: %s", L->policy_digest, text);
    return 0;
}

/* Keys of config_policy_text, in its order: each value runs to the next
 * key (the schedule, last, to the end). What differs, "key: 'a' -> 'b'". */
static void policy_changes(const char *was, const char *now, char *out, size_t len) {
    static const char *const keys[] = {"policy=", " policy_parameter=", " cpu_overcommit=",
                                       " spare_hosts=", " underload_threshold=", " vm_cooldown=",
                                       " wake_cooldown=", " timezone=", " schedule="};
    enum { KEYS = sizeof keys / sizeof *keys };
    size_t o = 0;
    out[0] = '\0';
    for (size_t k = 0; k < KEYS && o < len; k++) {
        const char *a = strstr(was, keys[k]), *b = strstr(now, keys[k]);
        if (!a || !b)
            continue;
        a += strlen(keys[k]);
        b += strlen(keys[k]);
        const char *ae = k + 1 < KEYS ? strstr(a, keys[k + 1]) : NULL;
        const char *be = k + 1 < KEYS ? strstr(b, keys[k + 1]) : NULL;
        int al = (int)(ae ? (size_t)(ae - a) : strlen(a));
        int bl = (int)(be ? (size_t)(be - b) : strlen(b));
        if (al == bl && memcmp(a, b, (size_t)al) == 0)
            continue;
        int w = snprintf(out + o, len - o, "%s%.*s: '%.*s' -> '%.*s'", o ? ", " : "",
                         (int)strcspn(keys[k] + (k > 0), "="), keys[k] + (k > 0), al, a, bl, b);
        o += w > 0 ? (size_t)w : 0;
    }
}

void agent_policy_reload(struct agent *a, const struct config *fresh) {
    struct leader_state *L = &a->leader;
    char was[2048], now[2048], digest[17], err[600];
    struct placement_policy pol;
    struct tz *tz;
    config_policy_text(&a->cfg, was, sizeof was);
    if (policy_build(fresh, &pol, &tz, now, sizeof now, digest, err, sizeof err) != 0) {
        log_err("reload: %s; keeping the running cluster policy %s", err, L->policy_digest);
        return;
    }
    if (strcmp(was, now) == 0) {
        tz_free(tz);
        log_info("reload: cluster policy %s unchanged", L->policy_digest);
        return;
    }
    char changes[3 * sizeof now];
    policy_changes(was, now, changes, sizeof changes);
    log_info("cluster policy reloaded: %s -> %s: %s", L->policy_digest, digest, changes);
    /* The planner's thread works on its own copy of the policy (plan_start),
     * so the next plan takes this one. */
    tz_free(L->tz);
    L->tz = tz;
    L->policy = pol;
    memcpy(L->policy_digest, digest, sizeof digest);
    config_policy_copy(&a->cfg, fresh);
    executor_policy(L->ex, a->cfg.policy, (uint64_t)(pol.host_wake_cooldown_s * 1000));
}

void agent_policy_close(struct agent *a) {
    tz_free(a->leader.tz);
    a->leader.tz = NULL;
}

/* The schedule's clock: the wall clock, or the test's file (seconds since
 * the epoch) when one is configured and readable. */
static int64_t schedule_now(struct agent *a, uint64_t wall_ms) {
    const char *path = a->cfg.schedule_clock_file;
    if (!path[0])
        return (int64_t)(wall_ms / 1000);
    FILE *f = fopen(path, "r");
    long long s = 0;
    bool ok = f && fscanf(f, "%lld", &s) == 1 && s >= 0;
    if (f)
        fclose(f);
    if (!ok) {
        if (!a->leader.clock_file_bad)
            log_warn("[leader] schedule_clock_file %s holds no time; the clock is used", path);
        a->leader.clock_file_bad = true;
        return (int64_t)(wall_ms / 1000);
    }
    a->leader.clock_file_bad = false;
    return s;
}

void agent_policy_window(struct agent *a, uint64_t wall_ms, struct placement_policy *pol,
                         struct placement_window *win) {
    struct leader_state *L = &a->leader;
    const struct schedule *s = &a->cfg.schedule;
    struct schedule_time t;
    char abbr[16];
    tz_local(L->tz, schedule_now(a, wall_ms), &t, abbr, sizeof abbr);
    int i = schedule_at(s, &t);
    static const enum placement_window_mode modes[] = {
        [SCHEDULE_RELIEVE] = PLACEMENT_WINDOW_NORMAL,
        [SCHEDULE_CONSOLIDATE] = PLACEMENT_WINDOW_CONSOLIDATE,
        [SCHEDULE_SPREAD] = PLACEMENT_WINDOW_SPREAD,
    };
    char text[sizeof L->window];
    if (i >= 0) {
        /* The planner is given the window in force for the whole day: the
         * schedule, not the planner's UTC minutes, decides. */
        *win = (struct placement_window){0, 1440, modes[s->w[i].mode]};
        pol->windows = win;
        pol->n_windows = 1;
        char w[SCHEDULE_TEXT_MAX * 2];
        schedule_window_text(&s->w[i], w, sizeof w);
        snprintf(text, sizeof text, "%s (%s, %02d:%02d %s)", w, a->cfg.timezone, t.minute / 60,
                 t.minute % 60, abbr);
    } else {
        pol->windows = NULL;
        pol->n_windows = 0;
        snprintf(text, sizeof text, "%s (%s: %s, %02d:%02d %s)",
                 pol->consolidate ? "consolidate" : "relieve",
                 s->n ? "outside every [schedule] window" : "no [schedule]", a->cfg.timezone,
                 t.minute / 60, t.minute % 60, abbr);
    }
    if (i != L->window_index || !L->window[0])
        log_info("schedule: %s", text);
    L->window_index = i;
    snprintf(L->window, sizeof L->window, "%s", text);
}

int agent_policy_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    return (rec->policy_digest = strdup(a->leader.policy_digest)) ? 0 : -1;
}

/* A warning per live host whose policy digest is not the leader's. */
int agent_policy_warnings(const struct agent *a, Nodectl__StatusReply *st) {
    const char *lead = NULL;
    for (size_t i = 0; a->lead.leader[0] && i < st->n_members; i++)
        if (strcmp(st->members[i]->host->name, a->lead.leader) == 0)
            lead = st->members[i]->host->policy_digest;
    if (!lead || !lead[0])
        return 0;
    for (size_t i = 0; i < st->n_members; i++) {
        const Nodectl__Member *m = st->members[i];
        if ((strcmp(m->state, "alive") != 0 && strcmp(m->state, "suspect") != 0) ||
            strcmp(m->host->policy_digest, lead) == 0)
            continue;
        char text[CONFIG_NAME_MAX * 2 + 300];
        snprintf(text, sizeof text,
                 "host %s's cluster policy (%s) differs from the leader %s's (%s): compare "
                 "[leader] policy keys, [schedule] and [cluster] timezone (the agent logs its "
                 "policy at start)",
                 m->host->name, m->host->policy_digest[0] ? m->host->policy_digest : "none",
                 a->lead.leader, lead);
        if (agent_status_warn(st, text) != 0)
            return -1;
    }
    return 0;
}
