#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Prints the events after *after and moves *after to the last; -1 if the
 * agent did not answer. */
static int print_new(const struct cli_ctx *ctx, uint64_t *after) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__EventsRequest body = NODECTL__EVENTS_REQUEST__INIT;
    body.after = *after;
    req.body_case = NODECTL__REQUEST__BODY_EVENTS;
    req.events = &body;
    Nodectl__Response *resp = cli_call(ctx, "events", &req, NODECTL__RESPONSE__BODY_EVENTS);
    if (!resp)
        return -1;
    for (size_t i = 0; i < resp->events->n_events; i++) {
        const Nodectl__Event *e = resp->events->events[i];
        char when[32];
        time_t t = (time_t)(e->at_ms / 1000);
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
        printf("%s.%03u  %s\n", when, (unsigned)(e->at_ms % 1000), e->text);
        *after = e->seq;
    }
    fflush(stdout);
    nodectl__response__free_unpacked(resp, NULL);
    return 0;
}

/* `nodectl events [--follow]`: what this host's agent saw and, on the
 * leader, what it planned and did, newest last; --follow keeps printing. */
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
    uint64_t after = 0;
    if (print_new(ctx, &after) != 0)
        return 1;
    const struct timespec tick = {0, 250 * 1000000L};
    while (follow) {
        nanosleep(&tick, NULL);
        if (print_new(ctx, &after) != 0)
            return 1;
    }
    return 0;
}
