#include "replay.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define WORDS (REPLAY_WINDOW / 64)

/* FNV-1a (Fowler, Noll, Vo). */
static uint64_t hash(const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

int replay_init(struct replay_table *t, size_t max) {
    assert(max >= 1 && max < NONE);
    memset(t, 0, sizeof *t);
    t->max = max;
    t->n_buckets = 16;
    while (t->n_buckets < 2 * max && t->n_buckets < (1u << 20))
        t->n_buckets *= 2;
    t->bucket = malloc(t->n_buckets * sizeof *t->bucket);
    if (!t->bucket)
        return -1;
    for (size_t i = 0; i < t->n_buckets; i++)
        t->bucket[i] = NONE;
    return 0;
}

void replay_free(struct replay_table *t) {
    free(t->s);
    free(t->bucket);
    memset(t, 0, sizeof *t);
}

static uint32_t *head(const struct replay_table *t, const char *name) {
    return &t->bucket[hash(name) & (t->n_buckets - 1)];
}

struct replay_sender *replay_find(const struct replay_table *t, const char *name) {
    for (uint32_t i = *head(t, name); i != NONE; i = t->s[i].next)
        if (strcmp(t->s[i].name, name) == 0)
            return &t->s[i];
    return NULL;
}

static bool bit(const struct replay_sender *s, uint64_t k) {
    return s->bits[k / 64] >> (k % 64) & 1;
}

enum replay_verdict replay_check(const struct replay_table *t, const char *name, uint64_t epoch,
                                 uint64_t seq) {
    const struct replay_sender *s = replay_find(t, name);
    if (!s || epoch > s->epoch)
        return REPLAY_FRESH;
    if (epoch < s->epoch)
        return REPLAY_OLD_EPOCH;
    if (seq > s->top)
        return REPLAY_FRESH;
    uint64_t k = s->top - seq;
    if (k >= REPLAY_WINDOW)
        return REPLAY_STALE;
    return bit(s, k) ? REPLAY_SEEN : REPLAY_FRESH;
}

/* Moves the window up by d: bit k becomes bit k + d. */
static void shift(struct replay_sender *s, uint64_t d) {
    if (d >= REPLAY_WINDOW) {
        memset(s->bits, 0, sizeof s->bits);
        return;
    }
    size_t words = (size_t)(d / 64), bits = (size_t)(d % 64);
    for (size_t i = WORDS; i-- > 0;) {
        uint64_t v = i >= words ? s->bits[i - words] << bits : 0;
        if (bits && i > words)
            v |= s->bits[i - words - 1] >> (64 - bits);
        s->bits[i] = v;
    }
}

static void unlink_entry(struct replay_table *t, uint32_t idx) {
    for (uint32_t *p = head(t, t->s[idx].name); *p != NONE; p = &t->s[*p].next)
        if (*p == idx) {
            *p = t->s[idx].next;
            return;
        }
}

/* A slot for a new sender: a fresh one, or the least recently used. */
static struct replay_sender *new_entry(struct replay_table *t, const char *name) {
    uint32_t idx;
    if (t->n < t->max) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            if (cap > t->max)
                cap = t->max;
            struct replay_sender *s = realloc(t->s, cap * sizeof *s);
            if (!s)
                return NULL;
            t->s = s;
            t->cap = cap;
        }
        idx = (uint32_t)t->n++;
    } else {
        idx = 0;
        for (uint32_t i = 1; i < t->n; i++)
            if (t->s[i].last_use < t->s[idx].last_use)
                idx = i;
        unlink_entry(t, idx);
    }
    struct replay_sender *s = &t->s[idx];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, strlen(name));
    uint32_t *h = head(t, s->name);
    s->next = *h;
    *h = idx;
    return s;
}

struct replay_sender *replay_commit(struct replay_table *t, const char *name, uint64_t epoch,
                                    uint64_t seq) {
    assert(strlen(name) < REPLAY_NAME_MAX);
    assert(replay_check(t, name, epoch, seq) == REPLAY_FRESH);
    struct replay_sender *s = replay_find(t, name);
    if (!s) {
        if (!(s = new_entry(t, name)))
            return NULL;
        s->epoch = epoch;
        s->top = seq;
    } else if (epoch > s->epoch) {
        s->epoch = epoch;
        s->top = seq;
        memset(s->bits, 0, sizeof s->bits);
    } else if (seq > s->top) {
        shift(s, seq - s->top);
        s->top = seq;
    }
    uint64_t k = s->top - seq;
    s->bits[k / 64] |= (uint64_t)1 << (k % 64);
    s->last_use = ++t->clock;
    return s;
}
