#include "leader_view.h"

#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    [REPORT_RUNNING] = "running",   [REPORT_SUCCEEDED] = "succeeded", [REPORT_FAILED] = "failed",
    [REPORT_ABORTED] = "aborted",   [REPORT_REFUSED] = "refused",     [REPORT_UNKNOWN] = "unknown",
};

const char *report_state_name(enum report_state s) {
    return s <= REPORT_UNKNOWN ? state_names[s] : "unknown";
}

enum report_state report_state_parse(const char *s) {
    for (int i = REPORT_RUNNING; i < REPORT_UNKNOWN; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (enum report_state)i;
    return REPORT_UNKNOWN;
}

/* proto/host.proto, Migration.kind: "" a live migration. */
enum report_kind report_kind_parse(const char *s) {
    return !s[0]                         ? REPORT_MIGRATION
           : strcmp(s, "power-off") == 0 ? REPORT_POWER_OFF
           : strcmp(s, "wake") == 0      ? REPORT_WAKE
                                         : REPORT_OTHER;
}

int leader_view_decode(struct leader_member *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *r = m[i].rec;
        m[i].reports = NULL;
        m[i].n_reports = 0;
        if (!r->n_migrations)
            continue;
        m[i].reports = calloc(r->n_migrations, sizeof *m[i].reports);
        if (!m[i].reports) {
            leader_view_release(m, i);
            return -1;
        }
        for (size_t k = 0; k < r->n_migrations; k++)
            m[i].reports[k] = (struct report){r->migrations[k],
                                              report_kind_parse(r->migrations[k]->kind),
                                              report_state_parse(r->migrations[k]->state)};
        m[i].n_reports = r->n_migrations;
    }
    return 0;
}

void leader_view_release(struct leader_member *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(m[i].reports);
        m[i].reports = NULL;
        m[i].n_reports = 0;
    }
}

const struct leader_member *leader_view_named(const struct leader_member *m, size_t n,
                                              const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].rec->name, name) == 0)
            return &m[i];
    return NULL;
}

size_t leader_view_hosts_running(const struct leader_member *m, size_t n, const char *vm,
                                 const char **out, size_t max) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].liveness != LEADER_HOST_UP)
            continue;
        for (size_t k = 0; k < m[i].rec->n_vms; k++) {
            const Nodectl__Vm *v = m[i].rec->vms[k];
            if (strcmp(v->name, vm) != 0 || (v->state != NODECTL__VM_STATE__VM_STATE_RUNNING &&
                                             v->state != NODECTL__VM_STATE__VM_STATE_BLOCKED))
                continue;
            if (count < max)
                out[count] = m[i].rec->name;
            count++;
            break;
        }
    }
    return count;
}

const struct report *leader_view_report(const struct leader_member *h, const char *id) {
    for (size_t i = 0; h && i < h->n_reports; i++)
        if (strcmp(h->reports[i].m->id, id) == 0)
            return &h->reports[i];
    return NULL;
}

const struct report *leader_view_foreign_migration(const struct leader_member *m, size_t n,
                                                   const char *const *own, size_t n_own,
                                                   size_t *count) {
    const struct report *first = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; m[i].liveness == LEADER_HOST_UP && k < m[i].n_reports; k++) {
            const struct report *r = &m[i].reports[k];
            if (r->kind != REPORT_MIGRATION || r->state != REPORT_RUNNING)
                continue;
            bool mine = false;
            for (size_t o = 0; o < n_own && !mine; o++)
                mine = strcmp(own[o], r->m->id) == 0;
            if (!mine) {
                first = first ? first : r;
                (*count)++;
            }
        }
    }
    return first;
}
