#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Where the reader is: the log it reads (a new leader's log holds its
 * predecessor's, renumbered), the last event read, and after a change of
 * log, up to when events were printed from the one before. */
struct cursor {
    char leader[64];
    uint64_t after;
    uint64_t last_at_ms, skip_to_ms;
};

static void print_page(const Nodectl__EventsReply *r, struct cursor *c) {
    for (size_t i = 0; i < r->n_events; i++) {
        const Nodectl__Event *e = r->events[i];
        c->after = e->seq;
        if (e->at_ms <= c->skip_to_ms)
            continue; /* printed from the log before */
        c->skip_to_ms = 0;
        c->last_at_ms = e->at_ms;
        char when[32];
        time_t t = (time_t)(e->at_ms / 1000);
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
        printf("%s.%03u  %s\n", when, (unsigned)(e->at_ms % 1000), e->text);
    }
    fflush(stdout);
}

/* Prints the events after the cursor and moves it to the last; asks again
 * while the answer was cut to a frame (more). -1 if the agent did not
 * answer. */
static int print_new(const struct cli_ctx *ctx, struct cursor *c) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__EventsRequest body = NODECTL__EVENTS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_EVENTS;
    req.events = &body;
    bool more = true;
    while (more) {
        body.after = c->after;
        Nodectl__Response *resp = cli_call(ctx, "events", &req, NODECTL__RESPONSE__BODY_EVENTS);
        if (!resp)
            return -1;
        more = resp->events->more;
        if (c->leader[0] && strcmp(c->leader, resp->events->leader) != 0) {
            /* Another log: read it from its start, printing only what is
             * newer than what was printed. */
            c->after = 0;
            c->skip_to_ms = c->last_at_ms;
            more = true;
        } else {
            print_page(resp->events, c);
        }
        snprintf(c->leader, sizeof c->leader, "%s", resp->events->leader);
        nodectl__response__free_unpacked(resp, NULL);
    }
    return 0;
}

/* `nodectl events [--follow]`: the leader's log, asked on any host (with
 * no leader, this agent's own), newest last; --follow keeps printing. */
int cmd_events(const struct cli_ctx *ctx, int argc, char **argv) {
    bool follow = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0) {
            follow = true;
        } else {
            fprintf(stderr, "nodectl events: unknown argument '%s' (see: nodectl help events)\n",
                    argv[i]);
            return 2;
        }
    }
    struct cursor c = {.leader = ""};
    if (print_new(ctx, &c) != 0)
        return 1;
    const struct timespec tick = {0, 250 * 1000000L};
    while (follow) {
        nanosleep(&tick, NULL);
        if (print_new(ctx, &c) != 0)
            return 1;
    }
    return 0;
}
