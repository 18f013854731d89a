/* The membership as bytes for the agent's state directory, so that a
 * restart, even of the whole cluster, remembers the hosts that are off and
 * how to wake them. */
#include <stdlib.h>
#include <string.h>

#include "gossip_internal.h"

int gossip_snapshot_build(uint64_t self_id, const struct gossip_member_info *members, size_t n,
                          uint8_t **out, size_t *len) {
    if ((!members && n) || !out || !len)
        return -1;
    Nodectl__GossipMember *mem = calloc(n ? n : 1, sizeof *mem);
    Nodectl__GossipMember **mp = calloc(n ? n : 1, sizeof *mp);
    Nodectl__GossipRecord *rec = calloc(n ? n : 1, sizeof *rec);
    Nodectl__GossipRecord **rp = calloc(n ? n : 1, sizeof *rp);
    int rc = -1;
    if (!mem || !mp || !rec || !rp)
        goto out;
    Nodectl__GossipSnapshot s = NODECTL__GOSSIP_SNAPSHOT__INIT;
    s.self_id = self_id;
    s.members = mp;
    s.records = rp;
    for (size_t k = 0; k < n; k++) {
        const struct gossip_member_info *m = &members[k];
        Nodectl__GossipMember *u = &mem[k];
        nodectl__gossip_member__init(u);
        u->id = m->id;
        u->incarnation = m->incarnation;
        u->state = (Nodectl__GossipState)m->state;
        addr_to_wire(&m->addr, &u->ip, &u->port);
        u->wake.data = (uint8_t *)m->wake;
        u->wake.len = m->wake_len;
        u->record_version = m->record_version;
        mp[s.n_members++] = u;
        if (m->record_version == 0)
            continue;
        Nodectl__GossipRecord *r = &rec[s.n_records];
        nodectl__gossip_record__init(r);
        r->id = m->id;
        r->version = m->record_version;
        r->total_len = (uint32_t)m->record_len;
        r->data.data = (uint8_t *)m->record;
        r->data.len = m->record_len;
        rp[s.n_records++] = r;
    }
    *len = nodectl__gossip_snapshot__get_packed_size(&s);
    *out = malloc(*len ? *len : 1);
    if (!*out)
        goto out;
    nodectl__gossip_snapshot__pack(&s, *out);
    rc = 0;
out:
    free(mem);
    free(mp);
    free(rec);
    free(rp);
    return rc;
}

int gossip_snapshot_encode(const struct gossip *g, uint8_t **out, size_t *len) {
    if (!g)
        return -1;
    struct gossip_member_info *info = malloc(g->n * sizeof *info);
    if (!info)
        return -1;
    for (uint32_t i = 0; i < g->n; i++)
        gossip_member_at(g, i, &info[i]);
    int rc = gossip_snapshot_build(g->m[g->self].id, info, g->n, out, len);
    free(info);
    return rc;
}

int gossip_add_members(struct gossip *g, int64_t now_ms, const struct gossip_member_info *members,
                       size_t n) {
    if (!g || (!members && n))
        return -1;
    if (g->now_ms < now_ms)
        g->now_ms = now_ms;
    if (n > GOSSIP_MEMBERS_MAX - g->n || members_reserve(g, g->n + (uint32_t)n) != 0)
        return -1;
    struct member *self = &g->m[g->self];
    for (size_t k = 0; k < n; k++) {
        const struct gossip_member_info *u = &members[k];
        if ((unsigned)u->state > GOSSIP_OFF || u->wake_len > GOSSIP_WAKE_MAX ||
            u->record_len > GOSSIP_RECORD_MAX)
            return -1;
        if (u->id == self->id) {
            if (u->incarnation > self->incarnation)
                self->incarnation = u->incarnation;
            if (u->record_version > self->record_version)
                self->record_version = u->record_version;
            continue;
        }
        if (member_find(g, u->id) != GOSSIP_NONE)
            continue;
        /* A suspicion cannot be resumed fairly: probe the member afresh. */
        enum gossip_state st = u->state == GOSSIP_SUSPECT ? GOSSIP_ALIVE : u->state;
        uint32_t i = member_add(g, u->id, &u->addr, st, u->incarnation);
        if (i == GOSSIP_NONE || member_set_wake(g, i, u->wake, u->wake_len) != 0)
            return -1;
        if (u->record_version &&
            record_apply(g, u->id, u->record_version, u->record, u->record_len, false) != 0)
            return -1;
    }
    /* The interval grows with the cluster just learned of. */
    push_pull_rephase(g);
    return 0;
}

int gossip_snapshot_load(struct gossip *g, int64_t now_ms, const uint8_t *data, size_t len,
                         const char **err) {
    const char *dummy;
    if (!err)
        err = &dummy;
    if (!g || (!data && len)) {
        *err = "no instance or no data";
        return -1;
    }
    Nodectl__GossipSnapshot *s = nodectl__gossip_snapshot__unpack(NULL, len, data);
    if (!s) {
        *err = "not a gossip snapshot (protobuf decoding failed)";
        return -1;
    }
    int rc = -1;
    struct gossip_member_info *info = calloc(s->n_members ? s->n_members : 1, sizeof *info);
    if (!info) {
        *err = "out of memory";
        goto done;
    }
    if (s->self_id != g->m[g->self].id) {
        *err = "snapshot belongs to another node id";
        goto done;
    }
    for (size_t k = 0; k < s->n_members; k++) {
        const Nodectl__GossipMember *u = s->members[k];
        struct gossip_member_info *m = &info[k];
        if ((unsigned)u->state > GOSSIP_OFF || !addr_from_wire(u->ip, u->port, &m->addr) ||
            u->wake.len > GOSSIP_WAKE_MAX) {
            *err = "snapshot member with a bad state, address or wake information";
            goto done;
        }
        m->id = u->id;
        m->state = (enum gossip_state)u->state;
        m->incarnation = u->incarnation;
        m->wake = u->wake.data;
        m->wake_len = u->wake.len;
    }
    /* Records are matched to their members by id and version. */
    for (size_t r = 0; r < s->n_records; r++) {
        const Nodectl__GossipRecord *rec = s->records[r];
        if (rec->data.len != rec->total_len || rec->total_len > GOSSIP_RECORD_MAX) {
            *err = "snapshot record with a bad length";
            goto done;
        }
        for (size_t k = 0; k < s->n_members; k++) {
            if (info[k].id == rec->id && s->members[k]->record_version == rec->version) {
                info[k].record_version = rec->version;
                info[k].record = rec->data.data;
                info[k].record_len = rec->data.len;
                break;
            }
        }
    }
    rc = gossip_add_members(g, now_ms, info, s->n_members);
    if (rc != 0)
        *err = "out of memory";
done:
    free(info);
    nodectl__gossip_snapshot__free_unpacked(s, NULL);
    return rc;
}
