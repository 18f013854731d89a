/* The drain flag: a host in maintenance. Its own agent sets it (nodectl
 * drain / undrain, forwarded here like a migration) and publishes it in its
 * record; the leader's planner evacuates a drained host and never moves a VM
 * onto it. It is kept on disk so that a reboot during maintenance does not
 * end the drain by surprise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

static void drain_path(const struct agent *a, char *out, size_t len) {
    snprintf(out, len, "%s/drain", a->cfg.state_dir);
}

int agent_drain_load(struct agent *a, char *err, size_t errlen) {
    char path[CONFIG_PATH_MAX + 8];
    size_t len;
    drain_path(a, path, sizeof path);
    char *text = read_small_file(path, 16, &len);
    if (!text) {
        if (errno == ENOENT) {
            a->drain = false;
            return 0;
        }
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (strcmp(text, "1\n") == 0 || strcmp(text, "0\n") == 0) {
        a->drain = text[0] == '1';
        if (a->drain)
            log_info("this host is drained (%s): the leader keeps it empty", path);
    } else {
        snprintf(err, errlen, "%s: expected 0 or 1", path);
        rc = -1;
    }
    free(text);
    return rc;
}

int agent_drain_set(struct agent *a, bool drain, char *err, size_t errlen) {
    char path[CONFIG_PATH_MAX + 8];
    drain_path(a, path, sizeof path);
    if (atomic_write_file(path, drain ? "1\n" : "0\n", 2, 0644) != 0) {
        snprintf(err, errlen, "cannot record the drain flag in %s: %s", path, strerror(errno));
        return -1;
    }
    if (a->drain != drain)
        log_info("%s", drain ? "drained: the leader evacuates this host and keeps it empty"
                             : "undrained: this host takes VMs again");
    a->drain = drain;
    agent_gate_settle(a);
    cluster_publish(a, agent_clock_ms());
    return 0;
}
