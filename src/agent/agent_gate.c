/* The inbound gate (src/host/host_gate.h): a one-line file in the state
 * directory that libvirt's qemu hook reads before it lets a migration in or
 * a domain start. Written atomically (temp file, fsync, rename), so the
 * hook reads the old line or the new one. Open in normal life; "drained"
 * while the host is in maintenance; "closed" from the moment the host
 * begins its power-off until it is back on. It outlives the agent: a host
 * whose agent died while closed stays closed until the agent runs again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

int agent_gate_set(struct agent *a, enum host_gate g, const char *reason, char *err,
                   size_t errlen) {
    char path[CONFIG_PATH_MAX + 16], text[HOST_GATE_TEXT_MAX];
    snprintf(path, sizeof path, "%s/%s", a->cfg.state_dir, HOST_GATE_FILE);
    host_gate_format(g, reason, text, sizeof text);
    if (atomic_write_file(path, text, strlen(text), 0644) != 0) {
        snprintf(err, errlen, "cannot write the inbound gate %s: %s", path, strerror(errno));
        return -1;
    }
    if (!a->gate_written || a->gate != g)
        log_info("inbound gate %s: %.*s", path, (int)strcspn(text, "\n"), text);
    a->gate = g;
    a->gate_written = true;
    return 0;
}

void agent_gate_settle(struct agent *a) {
    if (a->power.off_phase != OFF_IDLE)
        return;
    enum host_gate g = a->drain ? HOST_GATE_DRAINED : HOST_GATE_OPEN;
    if (a->gate_written && a->gate == g)
        return;
    char err[CONFIG_PATH_MAX + 128];
    if (agent_gate_set(a, g, a->drain ? "in maintenance (nodectl undrain to end it)" : "", err,
                       sizeof err) != 0)
        log_err("%s", err);
}
