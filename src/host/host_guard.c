/* A host's acceptance of commands; the rules and why they are safe are in
 * host_guard.h and docs/safety.md. A request that gets no answer is asked
 * again with a new nonce (a frame can be lost); every nonce of a request
 * stays good until the request is settled, each with its own asked_at, so
 * a grant that answers an earlier ask after a retry is still used: the
 * issuer grants an id only once, and a retry must not waste it. For the
 * same reason a refusal settles the request only once every ask sent has
 * been refused: the issuer refuses a retry of an id it granted, while its
 * grant of the first ask may still be on its way. */
#include "host_guard.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/prng.h"

#define ASKS_MAX 8 /* nonces per request: its first ask and the retries */

struct pending {
    bool used;
    struct command cmd;
    char reply_to[HOST_GUARD_ADDR_MAX];
    uint64_t nonce[ASKS_MAX];
    uint64_t asked_at[ASKS_MAX];
    size_t n_asks;
    size_t n_refused;                  /* asks answered with a refusal */
    char refused[160];                 /* the last refusal's reason, as the give-up's
                                        * why holds it with the issuer's name */
    uint64_t next_ask_ms;
    uint64_t give_up_ms;
};

struct host_guard {
    struct host_guard_config cfg;
    struct prng rng;
    struct pending p[HOST_GUARD_OUTSTANDING_MAX];
    char seen[HOST_GUARD_SEEN_MAX][COMMAND_ID_MAX];
    uint64_t n_seen; /* ever; seen[n_seen % MAX] is the next */
    bool off;
    struct host_guard_out *out;
    size_t out_head, n_out, cap_out;
};

const char *host_guard_verdict_name(enum host_guard_verdict v) {
    switch (v) {
    case HOST_GUARD_ASK: return "asking its issuer for a grant";
    case HOST_GUARD_DUPLICATE: return "already received";
    case HOST_GUARD_NOT_TARGET: return "addressed to another host";
    case HOST_GUARD_STALE: return "its term is older than one this host knows";
    case HOST_GUARD_AHEAD: return "its term is ahead of what a quorum of candidates shows";
    case HOST_GUARD_OFF: return "this host is powering off";
    case HOST_GUARD_BUSY: return "too many commands wait for a grant";
    }
    return "unknown";
}

struct host_guard *host_guard_new(const struct host_guard_config *cfg, uint64_t seed) {
    assert(cfg->rho >= 0 && cfg->rho < 1);
    struct host_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = *cfg;
    if (!g->cfg.ask_retry_ms)
        g->cfg.ask_retry_ms = HOST_GUARD_ASK_RETRY_MS;
    if (!g->cfg.ask_timeout_ms)
        g->cfg.ask_timeout_ms = HOST_GUARD_ASK_TIMEOUT_MS;
    prng_seed(&g->rng, seed);
    return g;
}

void host_guard_free(struct host_guard *g) {
    if (!g)
        return;
    free(g->out);
    free(g);
}

static bool seen(const struct host_guard *g, const char *id) {
    size_t n = g->n_seen < HOST_GUARD_SEEN_MAX ? (size_t)g->n_seen : HOST_GUARD_SEEN_MAX;
    for (size_t i = 0; i < n; i++)
        if (strcmp(g->seen[i], id) == 0)
            return true;
    return false;
}

/* A slot for the next output; NULL when out of memory. */
static struct host_guard_out *emit(struct host_guard *g, enum host_guard_out_kind kind,
                                   const struct pending *p) {
    if (g->out_head == g->n_out)
        g->out_head = g->n_out = 0;
    if (g->n_out == g->cap_out) {
        size_t cap = g->cap_out ? 2 * g->cap_out : 8;
        struct host_guard_out *o = realloc(g->out, cap * sizeof *o);
        if (!o)
            return NULL;
        g->out = o;
        g->cap_out = cap;
    }
    struct host_guard_out *o = &g->out[g->n_out++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->cmd = p->cmd;
    snprintf(o->reply_to, sizeof o->reply_to, "%s", p->reply_to);
    return o;
}

/* Queues an ask with a fresh nonce, noting asked_at = now: the request
 * leaves after this, so the issuer's clock reading comes later still. */
static void ask(struct host_guard *g, struct pending *p, uint64_t now) {
    p->next_ask_ms = now + g->cfg.ask_retry_ms;
    if (p->n_asks == ASKS_MAX)
        return;
    struct host_guard_out *o = emit(g, HOST_GUARD_OUT_ASK, p);
    if (!o)
        return; /* asked again at the next retry */
    uint64_t nonce;
    do
        nonce = prng_next(&g->rng);
    while (!nonce);
    p->nonce[p->n_asks] = nonce;
    p->asked_at[p->n_asks++] = now;
    snprintf(o->ask.id, sizeof o->ask.id, "%s", p->cmd.id);
    snprintf(o->ask.target, sizeof o->ask.target, "%s", g->cfg.self);
    o->ask.term = p->cmd.term;
    o->ask.nonce = nonce;
}

enum host_guard_verdict host_guard_receive(struct host_guard *g, const struct fence *fence,
                                           const struct command *cmd, const char *reply_to,
                                           uint64_t now) {
    if (g->off)
        return HOST_GUARD_OFF;
    if (strcmp(cmd->target, g->cfg.self) != 0)
        return HOST_GUARD_NOT_TARGET;
    if (seen(g, cmd->id))
        return HOST_GUARD_DUPLICATE;
    switch (fence_check(fence, cmd->term)) {
    case FENCE_ADMIT: break;
    case FENCE_STALE: return HOST_GUARD_STALE;
    case FENCE_AHEAD_OF_QUORUM: return HOST_GUARD_AHEAD;
    }
    struct pending *p = NULL;
    for (size_t i = 0; i < HOST_GUARD_OUTSTANDING_MAX && !p; i++)
        if (!g->p[i].used)
            p = &g->p[i];
    if (!p)
        return HOST_GUARD_BUSY;
    /* Remembered before anything runs: a second delivery of this id is
     * ignored, whatever became of the first. */
    snprintf(g->seen[g->n_seen++ % HOST_GUARD_SEEN_MAX], COMMAND_ID_MAX, "%s", cmd->id);
    memset(p, 0, sizeof *p);
    p->used = true;
    p->cmd = *cmd;
    snprintf(p->reply_to, sizeof p->reply_to, "%s", reply_to);
    p->give_up_ms = now + g->cfg.ask_timeout_ms;
    ask(g, p, now);
    return HOST_GUARD_ASK;
}

enum host_guard_answer host_guard_on_grant(struct host_guard *g, const struct fence *fence,
                                           const struct grant *gr, const char *from,
                                           uint64_t now, struct command *cmd, uint64_t *deadline,
                                           char *why, size_t whylen) {
    struct pending *p = NULL;
    size_t k = 0;
    for (size_t i = 0; i < HOST_GUARD_OUTSTANDING_MAX && !p; i++) {
        struct pending *q = &g->p[i];
        if (!q->used || strcmp(q->cmd.id, gr->id) != 0)
            continue;
        for (k = 0; k < q->n_asks && q->nonce[k] != gr->nonce; k++)
            ;
        if (k < q->n_asks)
            p = q;
    }
    /* Nonce 0 is never asked: it marks an ask already refused. */
    if (!p || !gr->nonce || strcmp(gr->target, g->cfg.self) != 0 || gr->term != p->cmd.term ||
        strcmp(from, p->cmd.issuer) != 0)
        return HOST_GUARD_IGNORED;
    why[0] = '\0';
    if (!gr->granted) {
        p->nonce[k] = 0;
        p->next_ask_ms = UINT64_MAX; /* the issuer has answered: no more asks */
        snprintf(p->refused, sizeof p->refused, "%.*s", (int)sizeof p->refused - 1, gr->reason);
        if (++p->n_refused < p->n_asks)
            return HOST_GUARD_IGNORED; /* an earlier ask's grant may still come */
        *cmd = p->cmd;
        p->used = false;
        snprintf(why, whylen, "not granted by %s: %s", cmd->issuer, gr->reason);
        return HOST_GUARD_REFUSED;
    }
    *cmd = p->cmd;
    p->used = false;
    if (cmd->term < fence->highest) {
        snprintf(why, whylen, "term %" PRIu64 " is known, newer than the command's %" PRIu64,
                 fence->highest, cmd->term);
        return HOST_GUARD_REFUSED;
    }
    *deadline = p->asked_at[k] + (uint64_t)((double)gr->valid_ms * (1 - g->cfg.rho));
    if (now >= *deadline) {
        snprintf(why, whylen, "the grant came too late: asked %" PRIu64 " ms ago, valid for %u ms",
                 now - p->asked_at[k], gr->valid_ms);
        return HOST_GUARD_REFUSED;
    }
    return HOST_GUARD_ACT;
}

bool host_guard_may_act(const struct fence *fence, uint64_t term, uint64_t deadline,
                        uint64_t now) {
    return now < deadline && term >= fence->highest;
}

void host_guard_tick(struct host_guard *g, uint64_t now) {
    for (size_t i = 0; i < HOST_GUARD_OUTSTANDING_MAX; i++) {
        struct pending *p = &g->p[i];
        if (!p->used)
            continue;
        if (now >= p->give_up_ms) {
            struct host_guard_out *o = emit(g, HOST_GUARD_OUT_GIVE_UP, p);
            if (!o)
                continue; /* told at the next tick */
            if (p->n_refused)
                snprintf(o->why, sizeof o->why, "not granted by %s: %s", p->cmd.issuer,
                         p->refused);
            else
                snprintf(o->why, sizeof o->why, "no grant from %s within %u ms",
                         p->cmd.issuer, g->cfg.ask_timeout_ms);
            p->used = false;
        } else if (now >= p->next_ask_ms) {
            ask(g, p, now);
        }
    }
}

uint64_t host_guard_deadline(const struct host_guard *g) {
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < HOST_GUARD_OUTSTANDING_MAX; i++) {
        const struct pending *p = &g->p[i];
        if (!p->used)
            continue;
        if (p->give_up_ms < d)
            d = p->give_up_ms;
        if (p->n_asks < ASKS_MAX && p->next_ask_ms < d)
            d = p->next_ask_ms;
    }
    return d;
}

bool host_guard_next(struct host_guard *g, struct host_guard_out *out) {
    if (g->out_head == g->n_out)
        return false;
    *out = g->out[g->out_head++];
    return true;
}

void host_guard_set_off(struct host_guard *g, bool off) {
    g->off = off;
    for (size_t i = 0; off && i < HOST_GUARD_OUTSTANDING_MAX; i++) {
        struct pending *p = &g->p[i];
        if (!p->used)
            continue;
        struct host_guard_out *o = emit(g, HOST_GUARD_OUT_GIVE_UP, p);
        if (o)
            snprintf(o->why, sizeof o->why, "this host is powering off");
        p->used = false;
    }
}
