/* The leader's view of the members: each gossiped host record with how
 * gossip sees the host, and the actions the host reports (its record's
 * Migration entries) decoded once into enums, so that no decision compares
 * state strings. Pure: no I/O. */
#ifndef NODECTL_LEADER_VIEW_H
#define NODECTL_LEADER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.pb-c.h"

/* How gossip sees a member: alive or suspect, announced off, dead or left. */
enum leader_liveness { LEADER_HOST_UP, LEADER_HOST_OFF, LEADER_HOST_DOWN };

/* What a host reports it runs or ran (Migration.kind). */
enum report_kind { REPORT_MIGRATION, REPORT_POWER_OFF, REPORT_WAKE, REPORT_OTHER };
/* Its state (Migration.state); REPORT_UNKNOWN for a word this version does
 * not know, which counts as ended (never as running). */
enum report_state {
    REPORT_RUNNING, REPORT_SUCCEEDED, REPORT_FAILED, REPORT_ABORTED, REPORT_REFUSED,
    REPORT_UNKNOWN
};
const char *report_state_name(enum report_state s);
enum report_state report_state_parse(const char *s);
enum report_kind report_kind_parse(const char *s);

struct report {
    const Nodectl__Migration *m; /* borrowed from the record */
    enum report_kind kind;
    enum report_state state;
};

struct leader_member {
    const Nodectl__HostRecord *rec; /* borrowed; must outlive the member */
    enum leader_liveness liveness;
    struct report *reports;          /* one per rec->migrations, decoded */
    size_t n_reports;
    /* What the leader knows beyond the record (the executor sets these). */
    bool failed;          /* the leader woke it and it did not come back */
    bool keep_on;         /* its last power-off failed lately: not again soon */
    uint64_t woken_at_ms; /* stamp clock when the leader woke it; 0: never */
};

/* Decodes every member's reports from m[i].rec. 0, or -1 when out of
 * memory (nothing is then held). */
int leader_view_decode(struct leader_member *m, size_t n);
void leader_view_release(struct leader_member *m, size_t n);

const struct leader_member *leader_view_named(const struct leader_member *m, size_t n,
                                              const char *name);
/* The hosts gossip shows up whose records show VM `vm` running (running
 * or blocked), in member order: how many, and the first max names in out.
 * More than one: the VM runs twice (a migration that failed at its
 * destination left a copy there, docs/safety.md). */
size_t leader_view_hosts_running(const struct leader_member *m, size_t n, const char *vm,
                                 const char **out, size_t max);
/* The report of command `id` in a member's record, or NULL. */
const struct report *leader_view_report(const struct leader_member *h, const char *id);

/* Takeover: the first migration still running in a live record whose
 * command id is none of `own` (the n_own ids this leader sent), and in
 * *count how many there are; NULL if none. */
const struct report *leader_view_foreign_migration(const struct leader_member *m, size_t n,
                                                   const char *const *own, size_t n_own,
                                                   size_t *count);

#endif
