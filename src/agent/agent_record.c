#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/clock.h"
#include "common/log.h"
#include "host_record.h"

uint64_t agent_clock_ms(void) { return clock_mono_ms(); }

uint64_t agent_wall_clock_ms(void) { return clock_wall_ms(); }

Nodectl__HostRecord *agent_self_record(struct agent *a) {
    /* The agent runs on the host it reports, so its own load is the host's. */
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        log_debug("getloadavg failed; load reported as 0");
    if (a->sample->available && a->sample->cpus)
        a->capacity = (struct host_capacity){a->sample->cpus, a->sample->cpu_mhz,
                                             a->sample->memory_kib};
    Nodectl__HostRecord *rec = host_record_build(&a->cfg, a->id, hv_uri(a->hv), a->sample,
                                                 &a->capacity, load, agent_wall_clock_ms());
    if (rec && (agent_actions_to_record(a, rec) != 0 || leadership_to_record(a, rec) != 0 ||
                agent_power_to_record(a, rec) != 0 || security_to_record(a, rec) != 0 ||
                agent_offcheck_to_record(a, rec) != 0 ||
                (a->cfg.migration_uri[0] && !(rec->migration_uri = strdup(a->cfg.migration_uri))) ||
                (a->cfg.migration_address[0] &&
                 !(rec->migration_address = strdup(a->cfg.migration_address))))) {
        protobuf_c_message_free_unpacked(&rec->base, NULL);
        return NULL;
    }
    if (rec) {
        rec->drain = a->drain;
        agent_synthetic_load(a, rec);
    }
    if (rec && a->cluster.advertise[0]) {
        char *addr = strdup(a->cluster.advertise);
        if (!addr) {
            protobuf_c_message_free_unpacked(&rec->base, NULL);
            return NULL;
        }
        if (rec->address != protobuf_c_empty_string)
            free(rec->address);
        rec->address = addr;
    }
    return rec;
}

Nodectl__HostRecord *agent_member_record(struct agent *a, const struct gossip_member_info *m) {
    if (m->id == a->cluster.self_id)
        return agent_self_record(a);
    if (!m->record_len)
        return NULL;
    return nodectl__host_record__unpack(NULL, m->record_len, m->record);
}
