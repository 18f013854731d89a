/* Names of hv.h's states, for messages, and the lookup in a fresh view. No
 * libvirt here: the pure modules that judge a fresh view (src/host) and
 * nodesim, which makes its own views, link this alone. */
#include <string.h>

#include "hv.h"

const struct hv_domain_now *hv_fresh_find(const struct hv_fresh *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->doms[i].name, name) == 0)
            return &f->doms[i];
    return NULL;
}

const char *hv_vm_state_name(enum hv_vm_state s) {
    static const char *names[] = {"unknown", "running",  "blocked", "paused",
                                  "shutdown", "shut off", "crashed", "suspended"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

const char *hv_job_name(enum hv_job j) {
    switch (j) {
    case HV_JOB_NONE: return "none";
    case HV_JOB_MIGRATION_OUT: return "outgoing migration";
    case HV_JOB_MIGRATION_IN: return "incoming migration";
    case HV_JOB_OTHER: return "job";
    case HV_JOB_UNKNOWN: return "unknown job";
    }
    return "unknown job";
}

/* Whether s is 1 to max - 1 letters, digits, '.', '_', '-' or one of
 * `extra`. */
static bool word_valid(const char *s, size_t max, const char *extra) {
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n + 1 >= max || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                              strchr(extra, c)))
            return false;
    }
    return n > 0;
}

bool hv_group_valid(const char *g) { return word_valid(g, HV_GROUP_MAX, ""); }

bool hv_arrival_id_valid(const char *id) { return word_valid(id, HV_ARRIVAL_MAX, ":"); }
