/* Freshness of frames: per sender (a certificate's host name), the boot
 * epoch it last used and a sliding window over its sequence numbers, as
 * IPsec's anti-replay window (RFC 4303, section 3.4.3) and WireGuard's.
 * Pure: no I/O, no clock.
 *
 * A frame is fresh if its epoch is newer than the one known for its sender
 * (the sender restarted: the window starts again), or if it is the same
 * epoch and its sequence number is above the window or inside it and not
 * seen yet. Older epochs, sequence numbers seen, and those below the window
 * are refused.
 *
 * The table is bounded: past `max` senders, the one heard from least
 * recently is forgotten. Only senders whose certificate verified are ever
 * entered, so its size is the number of certified hosts that talk to this
 * one. */
#ifndef NODECTL_REPLAY_H
#define NODECTL_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_WINDOW 1024
#define REPLAY_NAME_MAX 64

enum replay_verdict {
    REPLAY_FRESH,
    REPLAY_OLD_EPOCH, /* the sender has restarted since */
    REPLAY_SEEN,      /* this (epoch, seq) was accepted before */
    REPLAY_STALE,     /* below the window: too old to tell, so refused */
};

struct replay_sender {
    char name[REPLAY_NAME_MAX];
    uint64_t epoch;
    uint64_t top; /* the highest sequence number accepted in epoch */
    uint64_t bits[REPLAY_WINDOW / 64]; /* bit k: top - k was accepted */
    uint64_t last_use;
    uint32_t logged; /* caller's bits: refusals already reported for it */
    uint32_t next;   /* hash chain; UINT32_MAX ends it */
};

struct replay_table {
    struct replay_sender *s;
    size_t n, cap, max;
    uint32_t *bucket; /* heads of chains, n_buckets a power of two */
    size_t n_buckets;
    uint64_t clock;
};

/* max: the most senders remembered (at least 1). 0, or -1 when out of
 * memory. */
int replay_init(struct replay_table *t, size_t max);
void replay_free(struct replay_table *t);

/* What accepting (epoch, seq) from name would be; changes nothing. */
enum replay_verdict replay_check(const struct replay_table *t, const char *name, uint64_t epoch,
                                 uint64_t seq);
/* Accepts a frame that replay_check called fresh: the window moves. Returns
 * the sender's entry, or NULL when out of memory. */
struct replay_sender *replay_commit(struct replay_table *t, const char *name, uint64_t epoch,
                                    uint64_t seq);
/* The sender's entry, or NULL. */
struct replay_sender *replay_find(const struct replay_table *t, const char *name);

#endif
