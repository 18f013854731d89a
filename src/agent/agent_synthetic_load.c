/* The synthetic load knob ([hypervisor] synthetic_load_file), for tests and
 * demos: the rig's guests idle in their firmware, so "load rises" is said
 * in a file of "VM percent" lines. Listed VMs report that CPU % instead of
 * the measured one, and the host's CPU % becomes the sum of its VMs' demand
 * over its CPUs (on the rig every host would otherwise report the whole
 * machine's). The file is read at every record, so editing it is enough;
 * a missing file means no override. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

#define SYNTHETIC_FILE_MAX 65536

void agent_synthetic_load(const struct agent *a, Nodectl__HostRecord *rec) {
    if (!a->cfg.synthetic_load_file[0])
        return;
    size_t len;
    char *text = read_small_file(a->cfg.synthetic_load_file, SYNTHETIC_FILE_MAX, &len);
    if (!text) {
        if (errno != ENOENT)
            log_warn("synthetic load: %s: %s", a->cfg.synthetic_load_file, strerror(errno));
        return;
    }
    unsigned line_no = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char name[HV_NAME_MAX];
        double pct;
        char extra;
        line_no++;
        if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
            continue;
        if (sscanf(line, "%127s %lf %c", name, &pct, &extra) != 2 || pct < 0 || pct > 100) {
            log_debug("synthetic load: %s:%u: expected 'VM percent' (0..100); line ignored",
                      a->cfg.synthetic_load_file, line_no);
            continue;
        }
        for (size_t k = 0; k < rec->n_vms; k++)
            if (strcmp(rec->vms[k]->name, name) == 0)
                rec->vms[k]->cpu_percent = pct;
    }
    free(text);
    if (rec->usage && rec->capacity && rec->capacity->cpus) {
        double demand = 0;
        for (size_t k = 0; k < rec->n_vms; k++)
            if (rec->vms[k]->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
                rec->vms[k]->state == NODECTL__VM_STATE__VM_STATE_BLOCKED)
                demand += rec->vms[k]->cpu_percent * (rec->vms[k]->vcpus ? rec->vms[k]->vcpus : 1);
        double host = demand / rec->capacity->cpus;
        rec->usage->cpu_percent = host > 100 ? 100 : host;
    }
}
