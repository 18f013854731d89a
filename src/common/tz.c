#include "tz.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

struct tz {
    GTimeZone *zone;
};

struct tz *tz_open(const char *name) {
    /* A path would make any file a zone: names of the database only. */
    if (!name[0] || name[0] == '/' || strstr(name, ".."))
        return NULL;
    GTimeZone *zone = g_time_zone_new_identifier(name);
    if (!zone)
        return NULL;
    struct tz *z = g_malloc(sizeof *z);
    z->zone = zone;
    return z;
}

void tz_free(struct tz *z) {
    if (!z)
        return;
    g_time_zone_unref(z->zone);
    g_free(z);
}

void tz_local(const struct tz *z, int64_t unix_s, struct schedule_time *out, char *abbrev,
              size_t len) {
    GDateTime *utc = g_date_time_new_from_unix_utc(unix_s);
    GDateTime *local = utc ? g_date_time_to_timezone(utc, z->zone) : NULL;
    if (!local) { /* outside years 1 to 9999 */
        out->wday = 0;
        out->minute = 0;
        if (abbrev && len)
            abbrev[0] = '\0';
    } else {
        out->wday = g_date_time_get_day_of_week(local) - 1; /* GLib: 1 = Monday */
        out->minute = g_date_time_get_hour(local) * 60 + g_date_time_get_minute(local);
        if (abbrev && len)
            snprintf(abbrev, len, "%s", g_date_time_get_timezone_abbreviation(local));
    }
    if (local)
        g_date_time_unref(local);
    if (utc)
        g_date_time_unref(utc);
}
