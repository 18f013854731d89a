/* The source's refusals of a migration (src/host/host_checks.h) fed from
 * what this agent knows: the destination as its gossip shows it, the
 * highest term it has seen, and, in the migration's own thread just before
 * libvirt's call, the domain as libvirt shows it then. */
#include <stdio.h>
#include <string.h>

#include "agent_internal.h"

static enum host_peer_state peer_state(enum gossip_state s) {
    switch (s) {
    case GOSSIP_ALIVE: return HOST_PEER_ALIVE;
    case GOSSIP_SUSPECT: return HOST_PEER_SUSPECT;
    case GOSSIP_DEAD: return HOST_PEER_DEAD;
    case GOSSIP_LEFT: return HOST_PEER_LEFT;
    case GOSSIP_OFF: return HOST_PEER_OFF;
    }
    return HOST_PEER_UNKNOWN;
}

bool agent_record_powering_off(const Nodectl__HostRecord *rec) {
    for (size_t i = 0; i < rec->n_migrations; i++)
        if (report_kind_parse(rec->migrations[i]->kind) == REPORT_POWER_OFF &&
            report_state_parse(rec->migrations[i]->state) == REPORT_RUNNING)
            return true;
    return false;
}

enum host_refusal agent_migrate_refusal(struct agent *a, const struct command *c, char *why,
                                        size_t len) {
    const struct command_migrate *m = &c->migrate;
    const struct gossip *g = a->cluster.gossip;
    struct host_peer dest = {.state = HOST_PEER_UNKNOWN, .name = m->destination,
                             .self = a->cfg.node_name};
    Nodectl__HostRecord *found = NULL;
    size_t count = gossip_member_count(g);
    for (size_t i = 0; i < count && !found; i++) {
        struct gossip_member_info info;
        gossip_member_at(g, i, &info);
        Nodectl__HostRecord *rec = agent_member_record(a, &info);
        if (rec && strcmp(rec->name, m->destination) == 0) {
            found = rec;
            dest.state = peer_state(info.state);
        } else if (rec) {
            protobuf_c_message_free_unpacked(&rec->base, NULL);
        }
    }
    if (found) {
        dest.migration_uri = found->migration_uri;
        dest.drain = found->drain;
        dest.powering_off = agent_record_powering_off(found);
    }
    enum host_refusal r = host_migrate_peer_check(c->term, a->lead.fence.highest, &dest,
                                                  m->destination_uri, why, len);
    if (found)
        protobuf_c_message_free_unpacked(&found->base, NULL);
    return r;
}

int agent_migrate_vm_check(const struct hv_domain_now *dom, const char *vm, void *ctx, char *why,
                           size_t len) {
    return host_migrate_vm_check(dom, vm, why, len) == HOST_OK ? 0 : -1;
}
