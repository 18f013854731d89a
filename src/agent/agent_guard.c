/* The source's refusals of a migration (src/host/host_checks.h) fed from
 * what this agent knows: the destination as its gossip shows it, the
 * highest term it has seen, and, in the migration's own thread just before
 * libvirt's call, the domain as libvirt shows it then. As a destination,
 * the copies that failed migrations left here (src/host/host_arrival.h),
 * judged from the sources' records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "host/host_arrival.h"

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

/* The members' records as gossip holds them, this host's own left out
 * (host_arrival_check's peers); freed with free_peers. */
static size_t arrival_peers(struct agent *a, struct host_arrival_peer **out) {
    const struct gossip *g = a->cluster.gossip;
    size_t count = gossip_member_count(g), n = 0;
    *out = calloc(count ? count : 1, sizeof **out);
    for (size_t i = 0; *out && i < count; i++) {
        struct gossip_member_info info;
        gossip_member_at(g, i, &info);
        Nodectl__HostRecord *rec = agent_member_record(a, &info);
        if (rec && strcmp(rec->name, a->cfg.node_name) != 0)
            (*out)[n++] = (struct host_arrival_peer){rec, info.state == GOSSIP_ALIVE};
        else if (rec)
            protobuf_c_message_free_unpacked(&rec->base, NULL);
    }
    return n;
}

static void free_peers(struct host_arrival_peer *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked((ProtobufCMessage *)&p[i].rec->base, NULL);
    free(p);
}

/* The sample's domain vm as host_arrival_check reads it (no job known:
 * none); false when the sample does not show it. */
static bool sampled_domain(const struct hv_sample *s, const char *vm, struct hv_domain_now *d) {
    for (size_t i = 0; s && s->available && i < s->n_vms; i++) {
        const struct hv_vm *v = &s->vms[i];
        if (strcmp(v->name, vm) != 0 || v->state == HV_VM_SHUTOFF)
            continue;
        *d = (struct hv_domain_now){.state = v->state, .active = true, .job = HV_JOB_NONE};
        snprintf(d->name, sizeof d->name, "%s", v->name);
        memcpy(d->uuid, v->uuid, sizeof d->uuid);
        snprintf(d->arrival, sizeof d->arrival, "%s", v->arrival);
        return true;
    }
    return false;
}

/* A copy that a failed migration brought here while its source may still
 * run its own does not leave (host_arrival_migrate_check), judged on the
 * last sample; `arrival` gets the arrival id judged, which the migration's
 * thread finds again on the domain just before libvirt's call. */
static enum host_refusal leftover_refusal(struct agent *a, const char *vm,
                                          char arrival[HV_ARRIVAL_MAX], char *why, size_t len) {
    struct hv_domain_now d;
    arrival[0] = '\0';
    if (!sampled_domain(a->sample, vm, &d) || !d.arrival[0])
        return HOST_OK;
    snprintf(arrival, HV_ARRIVAL_MAX, "%s", d.arrival);
    struct host_arrival_peer *peers;
    size_t n = arrival_peers(a, &peers);
    if (!peers) {
        snprintf(why, len, "out of memory");
        return HOST_REFUSE_VM_BUSY;
    }
    enum host_refusal r = host_arrival_migrate_check(a->cfg.node_name, &d, peers, n, why, len);
    free_peers(peers, n);
    return r;
}

enum host_refusal agent_migrate_refusal(struct agent *a, const struct command *c,
                                        char arrival[HV_ARRIVAL_MAX], char *why, size_t len) {
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
    return r == HOST_OK ? leftover_refusal(a, m->vm, arrival, why, len) : r;
}

int agent_migrate_vm_check(const struct hv_domain_now *dom, const char *vm, void *ctx, char *why,
                           size_t len) {
    const char *judged = ctx;
    if (host_migrate_vm_check(dom, vm, why, len) != HOST_OK)
        return -1;
    /* Another migration brought it since its arrival was judged. */
    if (strcmp(dom->arrival, judged) != 0) {
        snprintf(why, len, "VM '%s' arrived by migration '%s' since it was checked (then '%s')",
                 vm, dom->arrival, judged);
        return -1;
    }
    return 0;
}

struct leftover_ctx {
    const char *self;
    const struct host_arrival_peer *peers;
    size_t n;
};

/* The last look before hv_destroy_leftover destroys: the same pure check
 * on the domain as libvirt shows it then. */
static int leftover_check(const struct hv_domain_now *dom, const char *vm, void *ctx, char *why,
                          size_t len) {
    (void)vm;
    const struct leftover_ctx *c = ctx;
    return host_arrival_check(c->self, dom, c->peers, c->n, why, len) == HOST_ARRIVAL_LEFTOVER
               ? 0
               : -1;
}

void agent_leftovers(struct agent *a) {
    const struct hv_sample *s = a->sample;
    bool any = false;
    for (size_t i = 0; s && s->available && i < s->n_vms && !any; i++)
        any = s->vms[i].arrival[0] && s->vms[i].state != HV_VM_SHUTOFF;
    if (!any)
        return;
    struct host_arrival_peer *peers;
    size_t n = arrival_peers(a, &peers);
    if (!peers)
        return;
    struct leftover_ctx ctx = {a->cfg.node_name, peers, n};
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct hv_vm *v = &s->vms[i];
        if (!v->arrival[0] || v->state == HV_VM_SHUTOFF)
            continue;
        /* From the sample first, then from libvirt at the moment of the
         * destroy. */
        struct hv_domain_now d;
        if (!sampled_domain(s, v->name, &d))
            continue;
        char why[HV_REASON_MAX * 2], err[HV_REASON_MAX * 3];
        if (host_arrival_check(ctx.self, &d, ctx.peers, n, why, sizeof why) !=
            HOST_ARRIVAL_LEFTOVER)
            continue;
        if (hv_destroy_leftover(a->hv, v->name, leftover_check, &ctx, err, sizeof err) == 0)
            log_warn("VM %s destroyed here: the copy a failed migration left running (%s)",
                     v->name, why);
        else
            log_warn("VM %s looked like a failed migration's leftover (%s), not destroyed: %s",
                     v->name, why, err);
    }
    free_peers(peers, n);
}
