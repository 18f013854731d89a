/* Fencing (issue [3]): every host keeps the highest election term it has
 * seen, from any source (its own vote, heartbeats, gossip, commands), and
 * refuses a command that carries an older term: a deposed leader's command,
 * however late it arrives, is never carried out. Pure; the agent persists
 * `highest` whenever fence_see raises it. */
#ifndef NODECTL_FENCE_H
#define NODECTL_FENCE_H

#include <stdbool.h>
#include <stdint.h>

struct fence {
    uint64_t highest;
};

/* Records a term seen; true if it raised the fence (persist it). */
bool fence_see(struct fence *f, uint64_t term);
/* Whether a command of `term` may run; raises the fence when it is newer. */
bool fence_admit(struct fence *f, uint64_t term);

#endif
