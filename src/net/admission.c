#include "admission.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum conn_state { CONN_HALF, CONN_UNAUTH, CONN_AUTH };

struct conn {
    struct admission_conn c;
    uint8_t key[16]; /* what the per-address limit counts by */
    uint32_t pipe;   /* 0 while half-open */
    enum conn_state state;
    uint64_t since;  /* connected (half-open, unauthenticated), or its last authenticated frame */
    uint64_t order;  /* arrival order: the oldest unauthenticated one goes first */
    bool seen;       /* in the look under way */
    unsigned missed; /* looks in a row its pipe was not seen in */
};

/* Connections cut lately: nng may still report one (its SP handshake
 * ended while the cut was under way), which must not count as a newcomer. */
#define RECENT_CUTS 1024

struct admission {
    struct admission_limits lim;
    struct conn *c; /* lim.total slots, the first n in use, unordered */
    size_t n;
    uint64_t arrivals;
    uint64_t cut[ADMISSION_REASONS];
    struct admission_cut recent[RECENT_CUTS]; /* a ring */
    size_t n_recent;
};

static const uint8_t v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

struct admission_conn admission_conn_v4(const uint8_t ip[4], uint16_t port) {
    struct admission_conn c = {.port = port};
    memcpy(c.ip, v4_mapped, sizeof v4_mapped);
    memcpy(&c.ip[12], ip, 4);
    return c;
}

struct admission_conn admission_conn_v6(const uint8_t ip[16], uint16_t port) {
    struct admission_conn c = {.port = port};
    memcpy(c.ip, ip, 16);
    return c;
}

void admission_conn_text(const struct admission_conn *c, char *out, size_t len) {
    char text[INET6_ADDRSTRLEN];
    if (memcmp(c->ip, v4_mapped, sizeof v4_mapped) == 0) {
        inet_ntop(AF_INET, &c->ip[12], text, sizeof text);
        snprintf(out, len, "%s:%u", text, c->port);
    } else {
        inet_ntop(AF_INET6, c->ip, text, sizeof text);
        snprintf(out, len, "[%s]:%u", text, c->port);
    }
}

const char *admission_reason_text(enum admission_reason why) {
    switch (why) {
    case ADMISSION_PER_ADDRESS: return "too many unauthenticated connections from its address";
    case ADMISSION_UNAUTH_TOTAL: return "too many unauthenticated connections";
    case ADMISSION_TOTAL: return "too many connections";
    case ADMISSION_UNAUTH_IDLE: return "no authenticated frame soon enough after connecting";
    case ADMISSION_IDLE: return "idle";
    case ADMISSION_REASONS: break;
    }
    return "?";
}

const char *admission_reason_name(enum admission_reason why) {
    switch (why) {
    case ADMISSION_PER_ADDRESS: return "per_address";
    case ADMISSION_UNAUTH_TOTAL: return "unauthenticated_total";
    case ADMISSION_TOTAL: return "total";
    case ADMISSION_UNAUTH_IDLE: return "unauthenticated_idle";
    case ADMISSION_IDLE: return "idle";
    case ADMISSION_REASONS: break;
    }
    return "?";
}

struct admission *admission_new(const struct admission_limits *lim) {
    assert(lim->unauth_per_addr > 0 && lim->unauth_per_addr <= lim->unauth_total &&
           lim->unauth_total <= lim->total && lim->unauth_idle_ms > 0 && lim->auth_idle_ms > 0);
    struct admission *a = calloc(1, sizeof *a);
    if (!a || !(a->c = calloc(lim->total, sizeof *a->c))) {
        free(a);
        return NULL;
    }
    a->lim = *lim;
    return a;
}

void admission_free(struct admission *a) {
    if (!a)
        return;
    free(a->c);
    free(a);
}

static struct conn *by_conn(struct admission *a, const struct admission_conn *c) {
    for (size_t i = 0; i < a->n; i++)
        if (a->c[i].c.port == c->port && memcmp(a->c[i].c.ip, c->ip, sizeof c->ip) == 0)
            return &a->c[i];
    return NULL;
}

static struct conn *by_pipe(struct admission *a, uint32_t pipe) {
    for (size_t i = 0; pipe && i < a->n; i++)
        if (a->c[i].pipe == pipe)
            return &a->c[i];
    return NULL;
}

static void forget_at(struct admission *a, struct conn *c) { *c = a->c[--a->n]; }

/* Forgets c, counting why, and names it to the caller for cutting. */
static struct admission_cut cut(struct admission *a, struct conn *c, enum admission_reason why) {
    struct admission_cut out = {.conn = c->c, .pipe = c->pipe, .why = why};
    a->cut[why]++;
    a->recent[a->n_recent++ % RECENT_CUTS] = out;
    forget_at(a, c);
    return out;
}

static const struct admission_cut *cut_lately(const struct admission *a,
                                              const struct admission_conn *c) {
    size_t n = a->n_recent < RECENT_CUTS ? a->n_recent : RECENT_CUTS;
    for (size_t i = 0; i < n; i++)
        if (a->recent[i].conn.port == c->port && memcmp(a->recent[i].conn.ip, c->ip, 16) == 0)
            return &a->recent[i];
    return NULL;
}

static void limit_key(const struct admission_conn *c, uint8_t key[16]) {
    memset(key, 0, 16);
    memcpy(key, c->ip, memcmp(c->ip, v4_mapped, sizeof v4_mapped) == 0 ? 16 : 8);
}

/* The oldest connection not yet authenticated, of key if not NULL; with the
 * count of those considered. */
static struct conn *oldest_unauth(struct admission *a, const uint8_t *key, size_t *count) {
    struct conn *old = NULL;
    *count = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct conn *c = &a->c[i];
        if (c->state == CONN_AUTH || (key && memcmp(c->key, key, 16) != 0))
            continue;
        (*count)++;
        if (!old || c->order < old->order)
            old = c;
    }
    return old;
}

/* A connection not known yet: makes room for it under the limits, or
 * refuses it. */
static struct admission_cut arrive(struct admission *a, const struct admission_conn *c,
                                   uint32_t pipe, uint64_t now) {
    struct admission_cut out = {0};
    uint8_t key[16];
    limit_key(c, key);
    size_t same, all;
    struct conn *mine = oldest_unauth(a, key, &same);
    struct conn *any = oldest_unauth(a, NULL, &all);
    if (same >= a->lim.unauth_per_addr) {
        out = cut(a, mine, ADMISSION_PER_ADDRESS);
    } else if (all >= a->lim.unauth_total) {
        out = cut(a, any, ADMISSION_UNAUTH_TOTAL);
    } else if (a->n == a->lim.total && any) {
        out = cut(a, any, ADMISSION_TOTAL);
    } else if (a->n == a->lim.total) {
        a->cut[ADMISSION_TOTAL]++;
        return (struct admission_cut){.conn = *c, .pipe = pipe, .why = ADMISSION_TOTAL};
    }
    assert(a->n < a->lim.total);
    struct conn *slot = &a->c[a->n++];
    *slot = (struct conn){.c = *c, .pipe = pipe, .state = pipe ? CONN_UNAUTH : CONN_HALF,
                          .since = now, .order = ++a->arrivals, .seen = true};
    memcpy(slot->key, key, sizeof key);
    return out;
}

struct admission_cut admission_pipe(struct admission *a, uint32_t pipe,
                                    const struct admission_conn *c, uint64_t now) {
    assert(pipe != 0 && !by_pipe(a, pipe));
    const struct admission_cut *gone = cut_lately(a, c);
    if (gone) /* refused again, not counted again */
        return (struct admission_cut){.conn = *c, .pipe = pipe, .why = gone->why};
    struct conn *known = by_conn(a, c);
    if (known && known->state == CONN_HALF) {
        /* The half-open connection a look found: its grace runs on. */
        known->pipe = pipe;
        known->state = CONN_UNAUTH;
        return (struct admission_cut){0};
    }
    if (known) /* the peer's port again: the connection that had it is gone */
        forget_at(a, known);
    return arrive(a, c, pipe, now);
}

void admission_pipe_gone(struct admission *a, uint32_t pipe) {
    struct conn *c = by_pipe(a, pipe);
    if (c)
        forget_at(a, c);
}

void admission_authenticated(struct admission *a, uint32_t pipe, uint64_t now) {
    struct conn *c = by_pipe(a, pipe);
    if (c) {
        c->state = CONN_AUTH;
        c->since = now;
    }
}

void admission_scan_begin(struct admission *a) {
    for (size_t i = 0; i < a->n; i++)
        a->c[i].seen = false;
}

struct admission_cut admission_seen(struct admission *a, const struct admission_conn *c,
                                    uint64_t now) {
    struct conn *known = by_conn(a, c);
    if (known)
        known->seen = true;
    if (known || cut_lately(a, c)) /* the latter: its cut is under way */
        return (struct admission_cut){0};
    return arrive(a, c, 0, now);
}

void admission_scan_end(struct admission *a) {
    for (size_t i = 0; i < a->n;) {
        struct conn *c = &a->c[i];
        bool gone = !c->seen && (c->state == CONN_HALF || ++c->missed >= 2);
        if (c->seen)
            c->missed = 0;
        if (gone)
            forget_at(a, c); /* slot i now holds another: look at it too */
        else
            i++;
    }
}

static uint64_t due(const struct admission *a, const struct conn *c) {
    return c->since + (c->state == CONN_AUTH ? a->lim.auth_idle_ms : a->lim.unauth_idle_ms);
}

size_t admission_expired(struct admission *a, uint64_t now, struct admission_cut *out,
                         size_t max) {
    size_t k = 0;
    for (size_t i = 0; i < a->n && k < max;) {
        struct conn *c = &a->c[i];
        if (now >= due(a, c))
            out[k++] = cut(a, c, c->state == CONN_AUTH ? ADMISSION_IDLE : ADMISSION_UNAUTH_IDLE);
        else
            i++; /* cut() moved the last one into slot i: look at it again */
    }
    return k;
}

uint64_t admission_deadline(const struct admission *a) {
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < a->n; i++)
        if (due(a, &a->c[i]) < d)
            d = due(a, &a->c[i]);
    return d;
}

struct admission_counts admission_counts(const struct admission *a) {
    struct admission_counts k = {.open = a->n};
    for (size_t i = 0; i < a->n; i++) {
        k.half_open += a->c[i].state == CONN_HALF;
        k.unauth += a->c[i].state == CONN_UNAUTH;
    }
    memcpy(k.cut, a->cut, sizeof k.cut);
    return k;
}
