/* The migrations a host started that failed or were aborted, and those
 * still running, kept in its state directory so that its record still
 * reports them after its agent restarts (docs/safety.md, "A migration that
 * failed at its destination"). A destination judges the copy such a
 * migration may have left running there only from that report
 * (host_arrival.h): without it, it keeps the copy for good, next to the
 * source's. A migration that was running when the agent stopped goes on or
 * ends in libvirtd without it: the next start settles it from libvirt
 * (host_failed_settle). Pure: entries in, text out, and back; the agent and
 * nodesim write and read the text. */
#ifndef NODECTL_HOST_FAILED_H
#define NODECTL_HOST_FAILED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command/command.h"
#include "hv/hv.h"
#include "leader/leader_view.h"

#define HOST_FAILED_FILE "migrations"
/* As many as a host's record reports actions. */
#define HOST_FAILED_MAX 32
/* One line per entry: "ID STATE STARTED ENDED TERM DESTINATION VM\n". */
#define HOST_FAILED_LINE_MAX (COMMAND_ID_MAX + COMMAND_NAME_MAX + COMMAND_VM_MAX + 96)
#define HOST_FAILED_TEXT_MAX (HOST_FAILED_MAX * HOST_FAILED_LINE_MAX)

struct host_failed {
    char id[COMMAND_ID_MAX]; /* the command's id, the migration's arrival id */
    enum report_state state; /* REPORT_RUNNING, REPORT_FAILED or REPORT_ABORTED */
    uint64_t started_ms, ended_ms; /* this host's stamp clock, as reported */
    uint64_t term;
    char destination[COMMAND_NAME_MAX];
    char vm[COMMAND_VM_MAX];
};

/* The text of f[0..n) (n at most HOST_FAILED_MAX) into out: its length, or
 * -1 when an entry is not one (another state, a field empty, too long or
 * holding a space or a control character where the format cannot keep it)
 * or out is too small. */
int host_failed_format(const struct host_failed *f, size_t n, char *out, size_t len);

/* The entries of a file's text, at most max into out: how many. A line
 * that is not one is skipped and counted in *bad. */
size_t host_failed_parse(const char *text, struct host_failed *out, size_t max, size_t *bad);

/* How migration f, running when this host's agent last stopped, ended,
 * from libvirt's view of its VM now (dom: NULL when the host has no such
 * domain; available: libvirt answered): REPORT_RUNNING while libvirt does
 * not answer or the domain has a job (the migration may still run);
 * REPORT_SUCCEEDED when the domain is gone (a migration that succeeded
 * undefines the source's; no copy is then ever judged a leftover on this
 * report); REPORT_FAILED when it is here with no job (a migration that
 * succeeded leaves none: what runs here is the VM, and a copy the migration
 * left at its destination is the leftover). why says which. */
enum report_state host_failed_settle(const struct host_failed *f, bool available,
                                     const struct hv_domain_now *dom, char *why, size_t len);

#endif
