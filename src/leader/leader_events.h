/* The event log every host keeps of the elections it saw and, while it
 * leads, of its plans and their actions (`nodectl events`): a bounded ring,
 * the oldest overwritten. Pure: the time is an input. */
#ifndef NODECTL_LEADER_EVENTS_H
#define NODECTL_LEADER_EVENTS_H

#include <stdint.h>

#define LEADER_EVENTS_MAX 256
#define LEADER_EVENT_TEXT_MAX 256

struct leader_event {
    uint64_t seq;   /* from 1, one more per event */
    uint64_t at_ms; /* the leader's stamp clock, for display */
    char text[LEADER_EVENT_TEXT_MAX];
};

struct leader_events {
    struct leader_event ring[LEADER_EVENTS_MAX];
    uint64_t next_seq;
};

void leader_events_init(struct leader_events *ev);
__attribute__((format(printf, 3, 4))) void leader_events_add(struct leader_events *ev,
                                                             uint64_t wall_ms, const char *fmt,
                                                             ...);
/* The oldest seq still held (next_seq when empty). */
uint64_t leader_events_first(const struct leader_events *ev);
/* Event `seq`, or NULL when it is not (or no longer) held. */
const struct leader_event *leader_events_get(const struct leader_events *ev, uint64_t seq);

#endif
