/* Local time in the cluster's time zone ([cluster] timezone), for the
 * schedule. GLib's GTimeZone reads the system's tz database (tzdata) and,
 * unlike setting TZ for localtime_r, touches no process-wide state, so the
 * agent's threads (the planner's, libvirt's) are never affected. */
#ifndef NODECTL_TZ_H
#define NODECTL_TZ_H

#include <stdint.h>

#include "schedule.h"

struct tz;

/* A zone of the tz database ("Europe/Berlin", "UTC"); NULL when unknown. */
struct tz *tz_open(const char *name);
void tz_free(struct tz *z);
/* The local day and minute at unix_s (seconds since the epoch), and the
 * zone's abbreviation then ("CET", "CEST") when abbrev is not NULL. */
void tz_local(const struct tz *z, int64_t unix_s, struct schedule_time *out, char *abbrev,
              size_t len);

#endif
