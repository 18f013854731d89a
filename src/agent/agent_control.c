/* Answers to `nodectl` on the control socket: status, members and VMs, all
 * from the membership gossip keeps (this host's own record fresh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"

/* A record standing in for a member whose record has not arrived yet. */
static Nodectl__HostRecord *placeholder(const struct gossip_member_info *m) {
    Nodectl__HostRecord *rec = malloc(sizeof *rec);
    char name[32], addr[TRANSPORT_ADDR_MAX];
    if (!rec)
        return NULL;
    nodectl__host_record__init(rec);
    snprintf(name, sizeof name, "%016llx", (unsigned long long)m->id);
    cluster_format_addr(&m->addr, addr, sizeof addr);
    rec->name = strdup(name);
    rec->address = strdup(addr);
    if (!rec->name || !rec->address) {
        protobuf_c_message_free_unpacked(&rec->base, NULL);
        return NULL;
    }
    return rec;
}

static Nodectl__HostRecord *record_of(struct agent *a, const struct gossip_member_info *m) {
    if (m->id == a->cluster.self_id)
        return agent_self_record(a);
    if (m->record_len) {
        Nodectl__HostRecord *rec = nodectl__host_record__unpack(NULL, m->record_len, m->record);
        if (rec)
            return rec;
    }
    return placeholder(m);
}

static Nodectl__Member *member(struct agent *a, const struct gossip_member_info *m, uint64_t now) {
    Nodectl__Member *mb = malloc(sizeof *mb);
    if (!mb)
        return NULL;
    nodectl__member__init(mb);
    mb->host = record_of(a, m);
    mb->state = strdup(gossip_state_name(m->state));
    /* Leadership comes with the election (issue [3]). */
    mb->role = strdup(mb->host && mb->host->candidate ? "candidate" : "member");
    mb->incarnation = m->incarnation;
    mb->record_version = m->record_version;
    mb->age_ms = now > (uint64_t)m->changed_ms ? now - (uint64_t)m->changed_ms : 0;
    if (!mb->host || !mb->state || !mb->role) {
        protobuf_c_message_free_unpacked(&mb->base, NULL);
        return NULL;
    }
    return mb;
}

static int by_name(const void *x, const void *y) {
    const Nodectl__Member *a = *(Nodectl__Member *const *)x, *b = *(Nodectl__Member *const *)y;
    return strcmp(a->host->name, b->host->name);
}

/* Every member, sorted by name; NULL when out of memory. */
static Nodectl__Member **members(struct agent *a, size_t *n) {
    const struct gossip *g = a->cluster.gossip;
    size_t count = gossip_member_count(g);
    Nodectl__Member **list = calloc(count ? count : 1, sizeof *list);
    uint64_t now = agent_clock_ms();
    *n = 0;
    for (size_t i = 0; list && i < count; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (!(list[*n] = member(a, &m, now))) {
            while (*n)
                protobuf_c_message_free_unpacked(&list[--*n]->base, NULL);
            free(list);
            return NULL;
        }
        (*n)++;
    }
    if (list)
        qsort(list, *n, sizeof *list, by_name);
    return list;
}

static Nodectl__Response *response(Nodectl__Response__BodyCase body_case, void *body) {
    Nodectl__Response *resp = malloc(sizeof *resp);
    if (!resp)
        return NULL;
    nodectl__response__init(resp);
    resp->body_case = body_case;
    resp->status = body; /* the oneof members share one pointer */
    return resp;
}

static Nodectl__Response *status_reply(struct agent *a) {
    Nodectl__StatusReply *st = malloc(sizeof *st);
    if (!st)
        return NULL;
    nodectl__status_reply__init(st);
    Nodectl__Response *resp = response(NODECTL__RESPONSE__BODY_STATUS, st);
    if (!resp) {
        free(st);
        return NULL;
    }
    st->members = members(a, &st->n_members);
    st->cluster = strdup(a->cfg.cluster_name);
    st->node = strdup(a->cfg.node_name);
    st->node_id.data = malloc(16);
    if (!st->members || !st->cluster || !st->node || !st->node_id.data) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    memcpy(st->node_id.data, a->id, 16);
    st->node_id.len = 16;
    return resp;
}

static Nodectl__Response *members_reply(struct agent *a) {
    Nodectl__MembersReply *mr = malloc(sizeof *mr);
    if (!mr)
        return NULL;
    nodectl__members_reply__init(mr);
    Nodectl__Response *resp = response(NODECTL__RESPONSE__BODY_MEMBERS, mr);
    if (!resp) {
        free(mr);
        return NULL;
    }
    if (!(mr->members = members(a, &mr->n_members))) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    return resp;
}

/* The VMs of every host that is up: alive, or suspected but not yet dead. */
static Nodectl__Response *vms_reply(struct agent *a) {
    Nodectl__VmsReply *vms = malloc(sizeof *vms);
    if (!vms)
        return NULL;
    nodectl__vms_reply__init(vms);
    Nodectl__Response *resp = response(NODECTL__RESPONSE__BODY_VMS, vms);
    if (!resp) {
        free(vms);
        return NULL;
    }
    size_t n;
    Nodectl__Member **list = members(a, &n);
    vms->hosts = calloc(n ? n : 1, sizeof *vms->hosts);
    if (!list || !vms->hosts) {
        for (size_t i = 0; list && i < n; i++)
            protobuf_c_message_free_unpacked(&list[i]->base, NULL);
        free(list);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        bool up = strcmp(list[i]->state, "alive") == 0 || strcmp(list[i]->state, "suspect") == 0;
        if (up) {
            vms->hosts[vms->n_hosts++] = list[i]->host;
            list[i]->host = NULL;
        }
        protobuf_c_message_free_unpacked(&list[i]->base, NULL);
    }
    free(list);
    return resp;
}

Nodectl__Response *agent_handle_request(void *ctx, const Nodectl__Request *req) {
    struct agent *a = ctx;
    switch (req->body_case) {
    case NODECTL__REQUEST__BODY_STATUS: return status_reply(a);
    case NODECTL__REQUEST__BODY_VMS: return vms_reply(a);
    case NODECTL__REQUEST__BODY_MEMBERS: return members_reply(a);
    default: break;
    }
    return control_error_response(NODECTL__ERROR_CODE__ERROR_UNKNOWN_REQUEST,
                                  "unknown request type");
}
