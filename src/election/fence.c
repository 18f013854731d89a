#include "fence.h"

bool fence_see(struct fence *f, uint64_t term) {
    if (term <= f->highest)
        return false;
    f->highest = term;
    return true;
}

bool fence_admit(struct fence *f, uint64_t term) {
    if (term < f->highest)
        return false;
    fence_see(f, term);
    return true;
}
