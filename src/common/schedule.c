#include "schedule.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const mode_names[] = {"relieve", "consolidate", "spread"};

const char *schedule_mode_name(enum schedule_mode m) {
    return (unsigned)m < sizeof mode_names / sizeof *mode_names ? mode_names[m] : "unknown";
}

static int day_of(const char *s, size_t n) {
    for (int d = 0; d < 7; d++)
        if (n == 3 && strncmp(s, day_names[d], 3) == 0)
            return d;
    return -1;
}

/* "mon-fri,sun": a set of days; 0 when malformed. */
static uint8_t parse_days(const char *s, size_t n) {
    uint8_t days = 0;
    while (n) {
        const char *comma = memchr(s, ',', n);
        size_t item = comma ? (size_t)(comma - s) : n;
        const char *dash = memchr(s, '-', item);
        int from = day_of(s, dash ? (size_t)(dash - s) : item);
        int to = dash ? day_of(dash + 1, item - (size_t)(dash - s) - 1) : from;
        if (from < 0 || to < 0)
            return 0;
        for (int d = from;; d = (d + 1) % 7) {
            days |= (uint8_t)(1u << d);
            if (d == to)
                break;
        }
        if (!comma)
            break;
        if (item + 1 >= n)
            return 0; /* a trailing comma */
        s += item + 1;
        n -= item + 1;
    }
    return days;
}

/* "HH:MM", 00:00 to 23:59, or 24:00 when allowed. */
static int parse_clock(const char *s, bool allow_24) {
    if (strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m || !allow_24)))
        return -1;
    return h * 60 + m;
}

int schedule_parse_window(const char *text, struct schedule_window *out, char *err, size_t len) {
    char buf[SCHEDULE_TEXT_MAX * 2], *word[4];
    size_t n = 0;
    if (strlen(text) >= sizeof buf) {
        snprintf(err, len, "a window is at most %zu characters", sizeof buf - 1);
        return -1;
    }
    strcpy(buf, text);
    for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n == 3) {
            n = 4;
            break;
        }
        word[n++] = w;
    }
    if (n < 2 || n > 3) {
        snprintf(err, len, "expected [DAYS] HH:MM-HH:MM MODE, e.g. 'mon-fri 07:30-19:00 spread'");
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->days = n == 3 ? parse_days(word[0], strlen(word[0])) : 0x7f;
    if (!out->days) {
        snprintf(err, len, "days '%.40s': expected days (mon, tue, wed, thu, fri, sat, sun), "
                 "ranges such as mon-fri, separated by commas", word[0]);
        return -1;
    }
    char *times = word[n - 2], *dash = strchr(times, '-');
    int start = -1, end = -1;
    if (dash) {
        *dash = '\0';
        start = parse_clock(times, false);
        end = parse_clock(dash + 1, true);
    }
    if (start < 0 || end < 0) {
        snprintf(err, len, "times: expected HH:MM-HH:MM from 00:00 to 24:00, got '%.40s%s%.40s'",
                 times, dash ? "-" : "", dash ? dash + 1 : "");
        return -1;
    }
    if (start == end) {
        snprintf(err, len, "times %s-%s: an empty window (00:00-24:00 is a whole day)", times,
                 dash + 1);
        return -1;
    }
    out->start_min = (uint16_t)start;
    out->end_min = (uint16_t)(end == 0 ? 1440 : end);
    const char *mode = word[n - 1];
    for (size_t m = 0; m < sizeof mode_names / sizeof *mode_names; m++)
        if (strcmp(mode, mode_names[m]) == 0) {
            out->mode = (enum schedule_mode)m;
            return 0;
        }
    snprintf(err, len, "mode '%.40s': expected relieve, consolidate or spread", mode);
    return -1;
}

int schedule_add(struct schedule *s, const struct schedule_window *w, char *err, size_t len) {
    if (s->n == SCHEDULE_WINDOWS_MAX) {
        snprintf(err, len, "at most %d windows", SCHEDULE_WINDOWS_MAX);
        return -1;
    }
    s->w[s->n++] = *w;
    return 0;
}

static bool opens_on(const struct schedule_window *w, int wday) {
    return (w->days >> ((wday % 7 + 7) % 7)) & 1u;
}

int schedule_at(const struct schedule *s, const struct schedule_time *t) {
    for (size_t i = 0; i < s->n; i++) {
        const struct schedule_window *w = &s->w[i];
        bool in;
        if (w->start_min < w->end_min)
            in = opens_on(w, t->wday) && t->minute >= w->start_min && t->minute < w->end_min;
        else /* past midnight: the evening of its day, or the morning after */
            in = (opens_on(w, t->wday) && t->minute >= w->start_min) ||
                 (opens_on(w, t->wday - 1) && t->minute < w->end_min);
        if (in)
            return (int)i;
    }
    return -1;
}

void schedule_window_text(const struct schedule_window *w, char *out, size_t len) {
    /* Runs of consecutive days as ranges, Monday first; none: every day. */
    char days[40] = "";
    size_t o = 0;
    for (int d = 0; w->days != 0x7f && d < 7 && o < sizeof days; d++) {
        if (!opens_on(w, d) || (d > 0 && opens_on(w, d - 1)))
            continue;
        int e = d;
        while (e + 1 < 7 && opens_on(w, e + 1))
            e++;
        int k = snprintf(days + o, sizeof days - o, "%s%s%s%s", o ? "," : "", day_names[d],
                         e > d ? "-" : "", e > d ? day_names[e] : "");
        o += k > 0 ? (size_t)k : 0;
    }
    snprintf(out, len, "%s%s%02u:%02u-%02u:%02u %s", days, o ? " " : "", w->start_min / 60,
             w->start_min % 60, w->end_min / 60, w->end_min % 60, schedule_mode_name(w->mode));
}
