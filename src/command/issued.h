/* The issuer's side of grants: the commands a host issued, to whom, and
 * whether each was granted already. A grant goes only to the command's
 * target, for the term it was issued in, and only once per id, so a
 * replayed command (or a target that lost its memory of running it) never
 * gets a second grant (docs/safety.md). The leader's executor keeps one
 * table per term; an agent keeps one for the operator's commands typed on
 * it. Pure: no I/O; time is an input. Bounded: the oldest entry goes when
 * the table is full, and a command forgotten so is never granted. */
#ifndef NODECTL_ISSUED_H
#define NODECTL_ISSUED_H

#include <stdbool.h>
#include <stdint.h>

#include "command.h"

#define ISSUED_MAX 256

struct issued_entry {
    char id[COMMAND_ID_MAX];
    char target[COMMAND_NAME_MAX];
    uint64_t term;
    uint64_t at_ms; /* the issuer's monotonic clock when it issued the command */
    uint64_t tag;   /* the caller's, for issued_revoke (the executor's action) */
    bool granted;
    bool revoked;   /* the issuer no longer wants it done */
};

struct issued {
    struct issued_entry e[ISSUED_MAX];
    uint64_t added; /* entries ever added; e[added % ISSUED_MAX] is the next */
};

void issued_clear(struct issued *t);
void issued_add(struct issued *t, const struct command *c, uint64_t now_ms, uint64_t tag);
/* Every command added with `tag` is never granted from now on (the action
 * it served ended, or was given up). */
void issued_revoke(struct issued *t, uint64_t tag);
/* The entry of command `id`, or NULL. */
const struct issued_entry *issued_find(const struct issued *t, const char *id);

/* Starts the answer to req: echoes id, target, term and nonce; refused
 * with an empty reason. */
void issued_answer(const struct grant_request *req, struct grant *out);

/* Checks req against the table and, when it names a command issued here to
 * req->target in req->term, neither granted nor revoked, marks it
 * granted: true.
 * Otherwise false with out->reason set. In both cases out echoes req (id,
 * target, term, nonce); the caller sets valid_ms. */
bool issued_grant_once(struct issued *t, const struct grant_request *req, struct grant *out);

/* An operator's command: granted once, while the issuer's clock is before
 * issued at + window_ms - room_ms; valid_ms is what remains of that. */
#define OPERATOR_VALID_MS 30000
void issued_grant_operator(struct issued *t, const struct grant_request *req, uint64_t now_ms,
                           uint32_t window_ms, uint32_t room_ms, struct grant *out);

#endif
