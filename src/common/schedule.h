/* The cluster's daily windows ([schedule] in the configuration): when the
 * leader only relieves overload, consolidates, or spreads the load out
 * (docs/placement.md, "Windows"). Pure: the local time is an input
 * (tz.h turns the clock into it), so tests choose the moment. */
#ifndef NODECTL_SCHEDULE_H
#define NODECTL_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define SCHEDULE_WINDOWS_MAX 32
#define SCHEDULE_TEXT_MAX 64 /* "mon,wed,fri-sun 07:30-19:00 consolidate" and more */

enum schedule_mode {
    SCHEDULE_RELIEVE,     /* relieve overload only */
    SCHEDULE_CONSOLIDATE, /* relieve overload and consolidate, power idle hosts off */
    SCHEDULE_SPREAD       /* power hosts on and even the load out (normalize before hours) */
};

/* A window opens at start_min on each day in `days` and closes at end_min
 * the same day, or the next day when end_min <= start_min. Local wall-clock
 * minutes: across a DST change the window still opens and closes at the
 * times written (a time that does not exist that day is passed over). */
struct schedule_window {
    uint8_t days; /* bit d: opens on day d, 0 = Monday ... 6 = Sunday */
    uint16_t start_min, end_min; /* 0..1439; end 1..1440 */
    enum schedule_mode mode;
};

struct schedule {
    size_t n;
    struct schedule_window w[SCHEDULE_WINDOWS_MAX];
};

/* A local time: day of the week (0 = Monday) and minute of the day. */
struct schedule_time {
    int wday;
    int minute;
};

/* Parses "[DAYS] HH:MM-HH:MM MODE": DAYS a comma-separated list of days
 * (mon ... sun) and ranges (mon-fri, fri-mon), every day when omitted;
 * 24:00 ends a window at midnight; MODE relieve, consolidate or spread.
 * 0, or -1 with err saying what is wrong. */
int schedule_parse_window(const char *text, struct schedule_window *out, char *err, size_t len);
/* Appends a window; -1 with err when the schedule is full. */
int schedule_add(struct schedule *s, const struct schedule_window *w, char *err, size_t len);
/* The window in force at t: the first listed that covers it; -1: none. */
int schedule_at(const struct schedule *s, const struct schedule_time *t);
/* The window as it is written back: "mon-fri 07:30-19:00 spread". */
void schedule_window_text(const struct schedule_window *w, char *out, size_t len);
const char *schedule_mode_name(enum schedule_mode m);

#endif
