/* Election messages as protobuf, queued for the driver. */
#include <assert.h>
#include <stdlib.h>

#include "election_internal.h"

void election_send(struct election *e, uint64_t to, Nodectl__ElectionKind kind, uint64_t term,
                   bool granted, bool transfer) {
    int v = election_voter_index(e, to);
    assert(v >= 0);
    election_send_echo(e, to, kind, term, granted, transfer, e->v[v].echo_boot, e->v[v].echo_ms);
}

void election_send_echo(struct election *e, uint64_t to, Nodectl__ElectionKind kind,
                        uint64_t term, bool granted, bool transfer, uint64_t echo_boot,
                        int64_t echo_ms) {
    Nodectl__ElectionMsg m = NODECTL__ELECTION_MSG__INIT;
    m.kind = kind;
    m.term = term;
    m.from = e->cfg.self_id;
    m.to = to;
    m.granted = granted;
    m.sent_ms = e->now;
    m.boot = e->boot;
    m.echo_boot = echo_boot;
    m.echo_ms = echo_ms;
    m.transfer = transfer;
    if (e->n_out == e->cap_out) {
        size_t cap = e->cap_out ? 2 * e->cap_out : 16;
        struct election_msg *grown = realloc(e->out, cap * sizeof *grown);
        if (!grown) {
            e->oom = true;
            return;
        }
        e->out = grown;
        e->cap_out = cap;
    }
    size_t len = nodectl__election_msg__get_packed_size(&m);
    uint8_t *data = malloc(len ? len : 1);
    if (!data) {
        e->oom = true;
        return;
    }
    nodectl__election_msg__pack(&m, data);
    e->out[e->n_out++] = (struct election_msg){.to = to, .data = data, .len = len};
}

void election_broadcast(struct election *e, Nodectl__ElectionKind kind, uint64_t term,
                        bool transfer) {
    for (size_t i = 0; i < e->cfg.n_voters; i++)
        if (i != e->self)
            election_send(e, e->v[i].id, kind, term, false, transfer);
}
