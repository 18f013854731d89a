#include "reject.h"

#include <assert.h>

#include "log.h"

void reject_count(struct rejects *r, unsigned reason) {
    assert(reason < REJECT_REASONS_MAX);
    r->n[reason]++;
    r->total++;
}

/* FNV-1a (Fowler, Noll, Vo) of the reason and the sender. */
static uint64_t pair_hash(unsigned reason, const char *from) {
    uint64_t h = 0xcbf29ce484222325ULL ^ reason;
    for (const unsigned char *p = (const unsigned char *)from; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static bool first_time(struct reject_log *l, unsigned reason, const char *from) {
    uint64_t h = pair_hash(reason, from);
    for (unsigned i = 0; i < l->n_logged; i++)
        if (l->logged[i] == h)
            return false;
    if (l->n_logged == REJECT_LOG_PAIRS) {
        if (!l->full)
            log_warn("%s: refused input from %u senders and reasons so far; further refusals "
                     "are only counted (`nodectl status`)", l->component, REJECT_LOG_PAIRS);
        l->full = true;
        return false;
    }
    l->logged[l->n_logged++] = h;
    return true;
}

void reject_log_new(struct reject_log *l, const struct rejects *now, const char *from,
                    const char *detail) {
    if (now->total == l->seen.total)
        return;
    for (unsigned i = 0; i < REJECT_REASONS_MAX; i++) {
        if (now->n[i] == l->seen.n[i] || !first_time(l, i, from))
            continue;
        log_warn("%s: refused input from %s: %s%s%s%s (logged once per sender; counted in "
                 "`nodectl status`)", l->component, from, l->reason_name(i), detail ? " (" : "",
                 detail ? detail : "", detail ? ")" : "");
    }
    l->seen = *now;
}
