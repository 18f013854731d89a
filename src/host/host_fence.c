#include "host_fence.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ask {
    bool used;
    uint64_t nonce;
    uint64_t asked_at;
};

struct host_fence {
    struct host_fence_config cfg;
    struct ask asks[HOST_FENCE_ASKS_MAX];
    size_t next_ask;         /* the slot the next renewal takes */
    uint64_t until;          /* 0: never held */
    uint64_t next_ask_at;
    uint64_t last_answer_at; /* the last extension; the retry waits for none after it */
    bool revoked;            /* the leader said it fences this host */
    bool told;               /* the caller knows of the current lapse */
};

const char *host_fence_answer_name(enum host_fence_answer a) {
    switch (a) {
    case HOST_FENCE_EXTENDED: return "extended";
    case HOST_FENCE_REVOKED: return "revoked";
    case HOST_FENCE_REFUSED: return "refused";
    case HOST_FENCE_IGNORED: return "ignored";
    }
    return "unknown";
}

struct host_fence *host_fence_new(const struct host_fence_config *cfg, uint64_t restored_until,
                                  uint64_t now) {
    assert(cfg->timeout_ms > 0 && cfg->rho >= 0 && cfg->rho < 1);
    struct host_fence *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->cfg = *cfg;
    if (!f->cfg.renew_ms)
        f->cfg.renew_ms = cfg->timeout_ms / 6 < 2000 ? cfg->timeout_ms / 6 : 2000;
    if (!f->cfg.renew_ms)
        f->cfg.renew_ms = 1;
    f->until = restored_until > now ? restored_until : 0;
    f->next_ask_at = now;
    return f;
}

void host_fence_free(struct host_fence *f) { free(f); }

bool host_fence_holds(const struct host_fence *f, uint64_t now) {
    return !f->revoked && now < f->until;
}

uint64_t host_fence_until(const struct host_fence *f) { return f->until; }

bool host_fence_ask_due(const struct host_fence *f, uint64_t now) {
    return now >= f->next_ask_at;
}

void host_fence_asked(struct host_fence *f, uint64_t nonce, uint64_t now,
                      struct fence_renew *out) {
    f->asks[f->next_ask] = (struct ask){.used = true, .nonce = nonce, .asked_at = now};
    f->next_ask = (f->next_ask + 1) % HOST_FENCE_ASKS_MAX;
    /* Unanswered, it is asked again soon; answered, at the next period. */
    f->next_ask_at = now + (f->cfg.renew_ms < HOST_FENCE_RETRY_MS ? f->cfg.renew_ms
                                                                  : HOST_FENCE_RETRY_MS);
    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "%s", f->cfg.self);
    out->nonce = nonce;
}

uint64_t host_fence_deadline(const struct host_fence *f, uint64_t now) {
    uint64_t d = f->next_ask_at;
    if (!f->told && host_fence_holds(f, now) && f->until < d)
        d = f->until;
    if (!f->told && !host_fence_holds(f, now))
        d = now;
    return d;
}

enum host_fence_answer host_fence_on_renewed(struct host_fence *f, const struct fence_renewed *r,
                                             const char *from, const char *leader,
                                             uint64_t known_term, uint64_t now) {
    if (strcmp(r->host, f->cfg.self) != 0 || !leader[0] || strcmp(from, leader) != 0 ||
        r->term < known_term)
        return HOST_FENCE_IGNORED;
    struct ask *a = NULL;
    for (size_t i = 0; i < HOST_FENCE_ASKS_MAX && !a; i++)
        if (f->asks[i].used && f->asks[i].nonce == r->nonce)
            a = &f->asks[i];
    if (!a)
        return HOST_FENCE_IGNORED;
    uint64_t asked_at = a->asked_at;
    /* Each renewal counts once: a duplicate of the answer finds no ask. */
    a->used = false;
    if (!r->granted) {
        if (!r->fenced)
            return HOST_FENCE_REFUSED;
        f->revoked = true;
        return HOST_FENCE_REVOKED;
    }
    /* A grant, even one asked before a revocation, bounds the lease as any
     * does: the leader counts from its last answer (host_fence_self_fenced_at). */
    uint64_t until = asked_at + (uint64_t)((double)r->valid_ms * (1.0 - f->cfg.rho));
    if (until > f->until)
        f->until = until;
    f->revoked = false;
    if (host_fence_holds(f, now))
        f->told = false;
    f->last_answer_at = now;
    /* The next renewal comes a period after this one was asked. */
    if (asked_at + f->cfg.renew_ms > now)
        f->next_ask_at = asked_at + f->cfg.renew_ms;
    return HOST_FENCE_EXTENDED;
}

bool host_fence_lapse_due(struct host_fence *f, uint64_t now, char *why, size_t len) {
    if (f->told || host_fence_holds(f, now))
        return false;
    f->told = true;
    if (f->revoked)
        snprintf(why, len, "the leader fences this host: it no longer renews its run lease");
    else if (!f->until)
        snprintf(why, len, "no run lease since the agent started: no leader renewed it yet");
    else
        snprintf(why, len, "the run lease lapsed %llu ms ago: no leader renewed it within %u ms",
                 (unsigned long long)(now - f->until), f->cfg.timeout_ms);
    return true;
}

void host_fence_answer(const struct fence_renew *req, const char *from, uint64_t term,
                       uint64_t lease_until, uint64_t now, bool fencing, uint32_t timeout_ms,
                       struct fence_renewed *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "%s", req->host);
    out->term = term;
    out->nonce = req->nonce;
    if (strcmp(req->host, from) != 0)
        snprintf(out->reason, sizeof out->reason, "a renewal for another host than its sender");
    else if (lease_until < now + HOST_FENCE_ANSWER_ROOM_MS)
        snprintf(out->reason, sizeof out->reason, "not leading with a lease");
    else if (fencing) {
        out->fenced = true;
        snprintf(out->reason, sizeof out->reason,
                 "fenced: the leader restarts this host's protected guests elsewhere");
    } else {
        out->granted = true;
        out->valid_ms = timeout_ms;
    }
}

uint64_t host_fence_self_fenced_at(uint64_t last_answer, uint64_t leading_since,
                                   uint32_t timeout_ms, double rho, uint32_t margin_ms) {
    uint64_t from = last_answer > leading_since ? last_answer : leading_since;
    return from + (uint64_t)((double)timeout_ms * (1.0 + rho)) + margin_ms;
}
