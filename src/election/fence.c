#include "fence.h"

bool fence_see(struct fence *f, uint64_t term) {
    if (term <= f->highest)
        return false;
    f->highest = term;
    return true;
}

enum fence_verdict fence_check(const struct fence *f, uint64_t term) {
    if (term < f->highest)
        return FENCE_STALE;
    if (term - f->highest > FENCE_AHEAD)
        return FENCE_AHEAD_OF_QUORUM;
    return FENCE_ADMIT;
}

bool fence_admit(const struct fence *f, uint64_t term) {
    return fence_check(f, term) == FENCE_ADMIT;
}

uint64_t fence_quorum_term(uint64_t *terms, size_t n) {
    if (n == 0)
        return 0;
    /* Insertion sort, descending: at most ELECTION_VOTERS_MAX entries. */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && terms[k] > terms[k - 1]; k--) {
            uint64_t t = terms[k];
            terms[k] = terms[k - 1];
            terms[k - 1] = t;
        }
    return terms[n / 2];
}
