/* Fencing: every host keeps the highest election term it knows
 * and refuses a command that carries an older term: a deposed leader's
 * command, however late it arrives, is never carried out. Pure; the agent
 * persists `highest` whenever fence_see raises it.
 *
 * A term is known when this host's own election holds it, or when a quorum
 * of the candidates show it (their signed records): never on one host's
 * word (docs/security.md, "Sane values"). A single host could otherwise
 * raise every fence past the real leader's term, and every real command
 * would be refused as stale. A command may carry a term one above the
 * highest known: a leader elected a moment ago, before the records that
 * show its term have spread; such a command runs, but does not raise the
 * fence. */
#ifndef NODECTL_FENCE_H
#define NODECTL_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far above the highest known term a command's term may be. */
#define FENCE_AHEAD 1

struct fence {
    uint64_t highest;
};

/* Records a term known; true if it raised the fence (persist it). */
bool fence_see(struct fence *f, uint64_t term);

enum fence_verdict {
    FENCE_ADMIT,
    FENCE_STALE, /* older than the highest known: a deposed leader's */
    FENCE_AHEAD_OF_QUORUM, /* more than FENCE_AHEAD above it: no quorum shows it */
};
enum fence_verdict fence_check(const struct fence *f, uint64_t term);
/* Whether a command of `term` may run (fence_check admits it). */
bool fence_admit(const struct fence *f, uint64_t term);

/* The highest term that a quorum (n / 2 + 1) of the n voters' terms reach:
 * terms[i] is what voter i shows (0 if nothing). Reorders terms. */
uint64_t fence_quorum_term(uint64_t *terms, size_t n);

#endif
