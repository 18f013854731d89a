#include "host_offcheck.h"

#include <stdio.h>
#include <string.h>

void host_off_watch_start(struct host_off_watch *w, uint32_t incarnation, uint64_t now_ms) {
    memset(w, 0, sizeof *w);
    w->incarnation = incarnation;
    w->since_ms = now_ms;
}

/* When a probe last run at `at` (0: never) is due again. */
static uint64_t due_at(const struct host_off_watch *w, const struct host_off_policy *p,
                       uint64_t at, uint64_t every) {
    uint64_t first = w->since_ms + p->grace_ms;
    if (!at || at < first)
        return first;
    return at + every;
}

unsigned host_off_due(const struct host_off_watch *w, const struct host_off_policy *p,
                      uint64_t now_ms, bool bmc) {
    unsigned due = 0;
    if (now_ms >= due_at(w, p, w->tcp_at_ms, p->tcp_every_ms))
        due |= HOST_PROBE_TCP;
    if (bmc && now_ms >= due_at(w, p, w->bmc_at_ms, p->bmc_every_ms))
        due |= HOST_PROBE_BMC;
    return due;
}

uint64_t host_off_next_ms(const struct host_off_watch *w, const struct host_off_policy *p,
                          bool bmc) {
    uint64_t t = due_at(w, p, w->tcp_at_ms, p->tcp_every_ms);
    uint64_t b = bmc ? due_at(w, p, w->bmc_at_ms, p->bmc_every_ms) : UINT64_MAX;
    return b < t ? b : t;
}

void host_off_note(struct host_off_watch *w, enum host_probe_kind kind,
                   enum host_probe_result r, uint64_t now_ms) {
    /* A result of 0 ms would read as "never": the watch began later. */
    uint64_t at = now_ms ? now_ms : 1;
    if (kind == HOST_PROBE_TCP) {
        w->tcp = r;
        w->tcp_at_ms = at;
    } else {
        w->bmc = r;
        w->bmc_at_ms = at;
    }
}

enum host_off_verdict host_off_verdict(const struct host_off_watch *w, char *why, size_t len) {
    const char *port = w->tcp == HOST_PROBE_REFUSED
                           ? "its agent's port refuses connections (the machine is up, no agent)"
                       : w->tcp == HOST_PROBE_ANSWERED ? "its agent's port accepts connections"
                                                       : NULL;
    const char *bmc = w->bmc == HOST_PROBE_BMC_ON ? "its BMC says the power is on" : NULL;
    if (port || bmc) {
        snprintf(why, len, "announced off, but %s%s%s", port ? port : bmc,
                 port && bmc ? " and " : "", port && bmc ? bmc : "");
        return HOST_OFF_DISPROVED;
    }
    if (w->bmc == HOST_PROBE_BMC_OFF || w->tcp == HOST_PROBE_SILENT) {
        snprintf(why, len, "%s", w->bmc == HOST_PROBE_BMC_OFF ? "its BMC says the power is off"
                                                               : "its machine does not answer");
        return HOST_OFF_CONFIRMED;
    }
    snprintf(why, len, "not probed yet");
    return HOST_OFF_UNCHECKED;
}

const struct host_off_report *host_off_disproved(const struct host_off_report *reports, size_t n,
                                                 const char *host, uint32_t incarnation) {
    for (size_t i = 0; i < n; i++)
        if (reports[i].incarnation == incarnation && strcmp(reports[i].host, host) == 0)
            return &reports[i];
    return NULL;
}
