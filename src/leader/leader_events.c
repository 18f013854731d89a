#include "leader_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void leader_events_init(struct leader_events *ev) {
    memset(ev, 0, sizeof *ev);
    ev->next_seq = 1;
}

void leader_events_add(struct leader_events *ev, uint64_t wall_ms, const char *fmt, ...) {
    struct leader_event *e = &ev->ring[ev->next_seq % LEADER_EVENTS_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->seq = ev->next_seq++;
    e->at_ms = wall_ms;
}

uint64_t leader_events_first(const struct leader_events *ev) {
    return ev->next_seq > LEADER_EVENTS_MAX ? ev->next_seq - LEADER_EVENTS_MAX : 1;
}

const struct leader_event *leader_events_get(const struct leader_events *ev, uint64_t seq) {
    if (seq < leader_events_first(ev) || seq >= ev->next_seq)
        return NULL;
    return &ev->ring[seq % LEADER_EVENTS_MAX];
}
