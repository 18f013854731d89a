/* Input refused, counted by reason (docs/security.md: every rejection is
 * counted, and logged once per reason and sender). Each component that
 * decodes what the network or an operator sends keeps a struct rejects
 * and names its reasons; the pure ones (gossip, election) only count, and
 * the agent logs with reject_log_new. */
#ifndef NODECTL_REJECT_H
#define NODECTL_REJECT_H

#include <stdbool.h>
#include <stdint.h>

#define REJECT_REASONS_MAX 32
/* (reason, sender) pairs a component logs before it only counts: a flood
 * from many senders costs at most this many log lines. */
#define REJECT_LOG_PAIRS 64

struct rejects {
    uint64_t n[REJECT_REASONS_MAX];
    uint64_t total;
};

void reject_count(struct rejects *r, unsigned reason);

/* The agent's log of one component's rejections. */
struct reject_log {
    const char *component;                  /* "gossip", "election", ... */
    const char *(*reason_name)(unsigned r);  /* the component's names */
    struct rejects seen;                    /* the counts at the last call */
    uint64_t logged[REJECT_LOG_PAIRS];      /* hashes of the (reason, sender) logged */
    unsigned n_logged;
    bool full;                              /* said that it only counts from now on */
};

/* Logs the refusals counted in now since the last call, each (reason,
 * sender) once, as input from `from`; detail (NULL: none) says more about
 * the input just refused, e.g. which field was at fault. */
void reject_log_new(struct reject_log *l, const struct rejects *now, const char *from,
                    const char *detail);

#endif
