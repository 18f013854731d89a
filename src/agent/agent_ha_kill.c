/* The self-fence without libvirt (docs/ha.md, "The run lease"): when
 * libvirtd does not answer (stopped, restarting, hung) its QEMU guests run
 * on, and a self-fence that waits for it would let the leader restart them
 * elsewhere while they still run. libvirt's QEMU driver keeps, for each
 * domain it runs, a status file (STATE_DIR/NAME.xml: the QEMU process's
 * pid and the live domain XML), written before the guest's CPUs start;
 * a protected one's QEMU is killed from it, as virDomainDestroy would
 * (SIGKILL), and as Proxmox's own stop does from its pid file without any
 * daemon. A pid there may have been reused after QEMU ended: only a
 * process whose arguments name that guest is killed. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

/* QEMU's arguments for a guest with many devices run to tens of KiB. */
#define CMDLINE_MAX (256 * 1024)

/* 1: the QEMU of `name` runs as pid; 0: it does not (gone, a zombie, or
 * another process); -1: cannot tell. */
static int qemu_runs(long pid, const char *name) {
    char path[64];
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    char *args = read_small_file(path, CMDLINE_MAX, &len);
    if (!args)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    int runs = host_ha_cmdline_runs(args, len, name);
    free(args);
    return runs;
}

int agent_ha_kill_protected(const char *dir, size_t *killed, char *err, size_t errlen) {
    *killed = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "libvirt's QEMU state directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".xml") != 0)
            continue;
        char path[CONFIG_PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *xml = read_small_file(path, HOST_HA_XML_MAX, &len);
        struct host_ha_status st;
        /* Gone since the listing: that domain ended. */
        if (!xml && errno == ENOENT)
            continue;
        if (!xml || host_ha_status_parse(xml, len, &st) != 0) {
            free(xml);
            snprintf(err, errlen, "%s: not a status file that names a QEMU process", path);
            rc = -1;
            continue;
        }
        free(xml);
        /* Rules that do not parse protect nothing, as in
         * hv_destroy_protected and for the leader. */
        if (st.protected != 1)
            continue;
        int runs = qemu_runs(st.pid, st.name);
        if (runs == 0)
            continue;
        /* Sent now, confirmed by the next pass (the caller's retry): a
         * killed process leaves /proc, or is a zombie, once it is gone. */
        rc = -1;
        if (runs < 0) {
            snprintf(err, errlen, "VM '%s': cannot read /proc/%ld/cmdline", st.name, st.pid);
        } else if (kill((pid_t)st.pid, SIGKILL) != 0 && errno != ESRCH) {
            snprintf(err, errlen, "VM '%s': kill of its QEMU (pid %ld): %s", st.name, st.pid,
                     strerror(errno));
        } else {
            log_warn("VM %s: its QEMU (pid %ld) killed: libvirt did not answer the self-fence",
                     st.name, st.pid);
            (*killed)++;
            snprintf(err, errlen, "VM '%s': its QEMU (pid %ld) was killed; its end is confirmed "
                     "at the next look", st.name, st.pid);
        }
    }
    closedir(d);
    return rc;
}
