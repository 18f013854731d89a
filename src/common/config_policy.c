#include "config_policy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tz.h"

void config_policy_defaults(struct config *cfg) {
    cfg->policy_parameter = -1;
    snprintf(cfg->timezone, sizeof cfg->timezone, "UTC");
    cfg->schedule.n = 0;
}

/* A decimal number in [min, max]. */
static int decimal(const char *s, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (s[0] < '0' || s[0] > '9' || errno || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* A whole number in [min, max]. */
static int whole(const char *s, unsigned long min, unsigned long max, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || errno || *end || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int leader_key(struct config *cfg, const char *name, const char *value, char *err,
                      size_t len) {
    if (strcmp(name, "policy_parameter") == 0) {
        if (decimal(value, 0, 1000, &cfg->policy_parameter) == 0)
            return 1;
        snprintf(err, len, "key '%s' in [leader]: expected a number from 0 to 1000 (the "
                 "policy's threshold or safety parameter), got '%.80s'", name, value);
    } else if (strcmp(name, "cpu_overcommit") == 0) {
        if (decimal(value, 0.1, 20, &cfg->cpu_overcommit) == 0)
            return 1;
        snprintf(err, len, "key '%s' in [leader]: expected a number from 0.1 to 20 (vCPU "
                 "demand per physical CPU), got '%.80s'", name, value);
    } else if (strcmp(name, "spare_hosts") == 0) {
        if (whole(value, 0, 10000, &cfg->spare_hosts) == 0)
            return 1;
        snprintf(err, len, "key '%s' in [leader]: expected a whole number between 0 and 10000, "
                 "got '%.80s'", name, value);
    } else if (strcmp(name, "underload_threshold") == 0) {
        size_t n = strlen(value);
        char num[16];
        if (n >= 2 && n < sizeof num && value[n - 1] == '%') {
            memcpy(num, value, n - 1);
            num[n - 1] = '\0';
            if (whole(num, 1, 100, &cfg->underload_pct) == 0)
                return 1;
        }
        snprintf(err, len, "key '%s' in [leader]: expected a percentage between 1%% and 100%%, "
                 "got '%.80s'", name, value);
    } else if (strcmp(name, "schedule_clock_file") == 0) {
        if (value[0] == '/' && strlen(value) < sizeof cfg->schedule_clock_file) {
            snprintf(cfg->schedule_clock_file, sizeof cfg->schedule_clock_file, "%s", value);
            return 1;
        }
        snprintf(err, len, "key '%s' in [leader]: expected an absolute path of at most %zu "
                 "characters, got '%.80s'", name, sizeof cfg->schedule_clock_file - 1, value);
    } else {
        return 0;
    }
    return -1;
}

int config_policy_key(struct config *cfg, const char *section, const char *name,
                      const char *value, char *err, size_t len) {
    if (strcmp(section, "leader") == 0)
        return leader_key(cfg, name, value, err, len);
    if (strcmp(section, "cluster") == 0 && strcmp(name, "timezone") == 0) {
        struct tz *z = strlen(value) < sizeof cfg->timezone ? tz_open(value) : NULL;
        if (z) {
            tz_free(z);
            snprintf(cfg->timezone, sizeof cfg->timezone, "%s", value);
            return 1;
        }
        snprintf(err, len, "key 'timezone' in [cluster]: expected a zone of the tz database "
                 "such as Europe/Berlin or UTC, got '%.80s'", value);
        return -1;
    }
    if (strcmp(section, "schedule") != 0)
        return 0;
    /* inih split the line at its first ':' (the one in the first time) or
     * '='; put back together, it is the line as written (spaces around the
     * ':' aside, which no window has). */
    char line[SCHEDULE_TEXT_MAX * 2], why[200];
    struct schedule_window w;
    int n = snprintf(line, sizeof line, "%s:%s", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        snprintf(why, sizeof why, "a window is at most %zu characters", sizeof line - 1);
    else if (schedule_parse_window(line, &w, why, sizeof why) == 0 &&
             schedule_add(&cfg->schedule, &w, why, sizeof why) == 0)
        return 1;
    snprintf(err, len, "window '%.80s' in [schedule]: %s", line, why);
    return -1;
}

void config_policy_text(const struct config *cfg, char *out, size_t len) {
    size_t o = 0;
    int k = snprintf(out, len,
                     "policy=%s policy_parameter=%.6g cpu_overcommit=%.6g spare_hosts=%u "
                     "underload_threshold=%u vm_cooldown=%u wake_cooldown=%u timezone=%s "
                     "schedule=",
                     cfg->policy, cfg->policy_parameter, cfg->cpu_overcommit, cfg->spare_hosts,
                     cfg->underload_pct, cfg->vm_cooldown_ms, cfg->wake_cooldown_ms,
                     cfg->timezone);
    o = k > 0 ? (size_t)k : 0;
    for (size_t i = 0; i < cfg->schedule.n && o < len; i++) {
        char w[SCHEDULE_TEXT_MAX * 2];
        schedule_window_text(&cfg->schedule.w[i], w, sizeof w);
        k = snprintf(out + o, len - o, "%s%s", i ? ";" : "", w);
        o += k > 0 ? (size_t)k : 0;
    }
}

void config_policy_copy(struct config *dst, const struct config *src) {
    memcpy(dst->policy, src->policy, sizeof dst->policy);
    dst->policy_parameter = src->policy_parameter;
    dst->cpu_overcommit = src->cpu_overcommit;
    dst->spare_hosts = src->spare_hosts;
    dst->underload_pct = src->underload_pct;
    dst->vm_cooldown_ms = src->vm_cooldown_ms;
    dst->wake_cooldown_ms = src->wake_cooldown_ms;
    memcpy(dst->timezone, src->timezone, sizeof dst->timezone);
    dst->schedule = src->schedule;
}
