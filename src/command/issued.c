#include "issued.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void issued_clear(struct issued *t) { memset(t, 0, sizeof *t); }

void issued_add(struct issued *t, const struct command *c, uint64_t now_ms, uint64_t tag) {
    assert(c->id[0]);
    struct issued_entry *e = &t->e[t->added++ % ISSUED_MAX];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", c->id);
    snprintf(e->target, sizeof e->target, "%s", c->target);
    e->term = c->term;
    e->at_ms = now_ms;
    e->tag = tag;
}

void issued_revoke(struct issued *t, uint64_t tag) {
    size_t n = t->added < ISSUED_MAX ? (size_t)t->added : ISSUED_MAX;
    for (size_t i = 0; i < n; i++)
        t->e[i].revoked |= t->e[i].tag == tag;
}

static struct issued_entry *find(struct issued *t, const char *id) {
    size_t n = t->added < ISSUED_MAX ? (size_t)t->added : ISSUED_MAX;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t->e[i].id, id) == 0)
            return &t->e[i];
    return NULL;
}

const struct issued_entry *issued_find(const struct issued *t, const char *id) {
    return find((struct issued *)t, id);
}

void issued_answer(const struct grant_request *req, struct grant *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", req->id);
    snprintf(out->target, sizeof out->target, "%s", req->target);
    out->term = req->term;
    out->nonce = req->nonce;
}

bool issued_grant_once(struct issued *t, const struct grant_request *req, struct grant *out) {
    issued_answer(req, out);
    struct issued_entry *e = req->id[0] ? find(t, req->id) : NULL;
    if (!e)
        snprintf(out->reason, sizeof out->reason, "not a command issued here (or long ago)");
    else if (strcmp(e->target, req->target) != 0)
        snprintf(out->reason, sizeof out->reason, "issued to %s, not to %s", e->target,
                 req->target);
    else if (e->term != req->term)
        snprintf(out->reason, sizeof out->reason, "issued in term %llu, not %llu",
                 (unsigned long long)e->term, (unsigned long long)req->term);
    else if (e->granted)
        snprintf(out->reason, sizeof out->reason, "granted once already");
    else if (e->revoked)
        snprintf(out->reason, sizeof out->reason, "no longer wanted: its action ended");
    else
        return e->granted = out->granted = true;
    return false;
}

void issued_grant_operator(struct issued *t, const struct grant_request *req, uint64_t now_ms,
                           uint32_t window_ms, uint32_t room_ms, struct grant *out) {
    const struct issued_entry *e = issued_find(t, req->id);
    uint64_t end = e ? e->at_ms + window_ms : 0;
    if (e && !e->granted && now_ms + room_ms >= end) {
        issued_answer(req, out);
        snprintf(out->reason, sizeof out->reason,
                 "the operator's command is older than %u s: type it again", window_ms / 1000);
        return;
    }
    if (issued_grant_once(t, req, out))
        out->valid_ms = (uint32_t)(end - now_ms - room_ms);
}
