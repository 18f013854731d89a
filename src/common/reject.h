/* Input refused, counted by reason (docs/security.md: every rejection is
 * counted, and logged once per reason). Each component that decodes what
 * the network or an operator sends keeps a struct rejects and names its
 * reasons; the pure ones (gossip, election) only count, and the agent logs
 * the first of each reason with reject_log_new, naming the sender. */
#ifndef NODECTL_REJECT_H
#define NODECTL_REJECT_H

#include <stdint.h>

#define REJECT_REASONS_MAX 32

struct rejects {
    uint64_t n[REJECT_REASONS_MAX];
    uint64_t total;
};

void reject_count(struct rejects *r, unsigned reason);

/* The agent's log of one component's rejections: each reason is logged
 * the first time it is counted, then only counted (a flood of one bad
 * packet logs one line). */
struct reject_log {
    const char *component;                 /* "gossip", "election", ... */
    const char *(*reason_name)(unsigned r); /* the component's names */
    uint32_t logged;                       /* reasons already logged */
};

/* Logs the reasons counted in now that were never logged, as refused
 * input from `from`. */
void reject_log_new(struct reject_log *l, const struct rejects *now, const char *from);

#endif
