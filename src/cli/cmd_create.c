#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "net/control.h"
#include "command/domain_xml.h"

/* How long `create` waits for the chosen host to report the define. */
#define CREATE_WAIT_MS 30000

/* Reads the file whole into buf (at most cap - 1 bytes and a NUL); -1 with
 * a message when it cannot, or is larger. */
static int read_xml(const char *path, char *buf, size_t cap, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "nodectl create: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    *len = fread(buf, 1, cap, f);
    bool error = ferror(f);
    if (f != stdin)
        fclose(f);
    if (error) {
        fprintf(stderr, "nodectl create: cannot read %s\n", path);
        return -1;
    }
    if (*len >= cap) {
        fprintf(stderr, "nodectl create: %s: the domain XML is larger than %zu bytes, the most "
                        "a command carries (leave out what libvirt fills in itself)\n", path,
                cap - 1);
        return -1;
    }
    buf[*len] = '\0';
    return 0;
}

static const Nodectl__Migration *report(const Nodectl__VmsReply *r, const char *host,
                                        const char *id) {
    for (size_t i = 0; i < r->n_hosts; i++)
        for (size_t k = 0; strcmp(r->hosts[i]->name, host) == 0 && k < r->hosts[i]->n_migrations;
             k++)
            if (strcmp(r->hosts[i]->migrations[k]->id, id) == 0)
                return r->hosts[i]->migrations[k];
    return NULL;
}

/* While the leader wakes the chosen host: 1 (printed) once the leader's
 * log says it gave the create up ("create: VM not placed on HOST (command
 * ID): why"), else 0 (also when the agent did not answer this time).
 * *after: the last event read. */
static int given_up(const struct cli_ctx *ctx, const Nodectl__CreateReply *c, uint64_t *after) {
    char needle[COMMAND_ID_MAX + 16];
    snprintf(needle, sizeof needle, "(command %s): ", c->command_id);
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__EventsRequest body = NODECTL__EVENTS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_EVENTS;
    req.events = &body;
    int rc = 0;
    for (bool more = true; more && rc == 0;) {
        body.after = *after;
        /* Quiet: a leader changing meanwhile is no reason to stop waiting. */
        char err[256];
        Nodectl__Response *resp =
            control_call(ctx->socket_path, &req, ctx->timeout_ms, err, sizeof err);
        if (!resp || resp->error || resp->body_case != NODECTL__RESPONSE__BODY_EVENTS) {
            if (resp)
                nodectl__response__free_unpacked(resp, NULL);
            return 0;
        }
        more = resp->events->more;
        for (size_t i = 0; i < resp->events->n_events; i++) {
            const Nodectl__Event *e = resp->events->events[i];
            *after = e->seq;
            if (strstr(e->text, needle) && strstr(e->text, " not placed on ") && rc == 0) {
                fprintf(stderr, "nodectl create: %s\n", e->text);
                rc = 1;
            }
        }
        nodectl__response__free_unpacked(resp, NULL);
    }
    return rc;
}

/* Follows the define in the chosen host's record (its own agent fresh;
 * another host's by gossip, a little later) until it is reported; when the
 * host must be woken first, for as long as the leader waits for it too,
 * reading the leader's log for its giving up. */
static int wait_define(const struct cli_ctx *ctx, const Nodectl__CreateReply *c, bool start) {
    const struct timespec tick = {0, 100 * 1000000L};
    uint64_t bound = CREATE_WAIT_MS + (c->wake ? (uint64_t)c->wake_wait_ms : 0), after = 0;
    for (uint64_t waited = 0; waited < bound; waited += 100) {
        if (c->wake && waited % 1000 == 0 && given_up(ctx, c, &after) != 0)
            return 1;
        Nodectl__Response *resp = cli_call_vms(ctx, "create");
        if (!resp)
            return 1;
        const Nodectl__Migration *m = report(resp->vms, c->host, c->command_id);
        int rc = -1;
        if (m && strcmp(m->state, "succeeded") == 0) {
            printf("%s %s on %s\n", c->vm, start ? "defined and started" : "defined", c->host);
            rc = 0;
        } else if (m && strcmp(m->state, "running") != 0) {
            fprintf(stderr, "nodectl create: %s on %s: %s: %s\n", c->vm, c->host, m->state,
                    m->error);
            rc = 1;
        }
        nodectl__response__free_unpacked(resp, NULL);
        if (rc >= 0)
            return rc;
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "nodectl create: %s reported nothing of command %s within %" PRIu64 " s; "
                    "see nodectl vms and nodectl events\n", c->host, c->command_id,
            bound / 1000);
    return 1;
}

/* `nodectl create DOMAIN.xml [--start] [--policy P] [--dry-run]`: the
 * leader chooses a host and defines the domain there. */
int cmd_create(const struct cli_ctx *ctx, int argc, char **argv) {
    Nodectl__CreateRequest body = NODECTL__CREATE_REQUEST__INIT;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--start") == 0) {
            body.start = true;
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            body.dry_run = true;
        } else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
            body.policy = argv[++i];
            if (strcmp(body.policy, "most-free") != 0 && strcmp(body.policy, "power-aware") != 0 &&
                strcmp(body.policy, "first-fit") != 0) {
                fprintf(stderr, "nodectl create: --policy: expected most-free, power-aware or "
                                "first-fit, got '%s'\n", body.policy);
                return 2;
            }
        } else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "nodectl create: %s '%s' (see: nodectl help create)\n",
                    strcmp(argv[i], "--policy") == 0 ? "missing value after"
                                                     : "unexpected argument",
                    argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "nodectl create: expected DOMAIN.xml (see: nodectl help create)\n");
        return 2;
    }
    static char xml[COMMAND_XML_MAX];
    static uint8_t xmlz[COMMAND_XMLZ_MAX];
    size_t len;
    struct domain_spec d;
    char why[256];
    if (read_xml(path, xml, sizeof xml, &len) != 0)
        return 2;
    if (domain_xml_parse(xml, len, &d, why, sizeof why) != 0 ||
        domain_xml_deflate(xml, len, xmlz, &body.xml_deflated.len, why, sizeof why) != 0) {
        fprintf(stderr, "nodectl create: %s: %s\n", path, why);
        return 2;
    }
    body.xml_deflated.data = xmlz;
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_CREATE;
    req.create = &body;
    Nodectl__Response *resp = cli_call(ctx, "create", &req, NODECTL__RESPONSE__BODY_CREATE);
    if (!resp)
        return 1;
    const Nodectl__CreateReply *c = resp->create;
    printf("%s: %s%s", c->vm, body.dry_run ? "would go to " : "host ", c->host);
    if (c->wake && body.dry_run)
        printf(", which is off and would be woken first");
    else if (c->wake)
        printf(", which is off: the leader wakes it first (up to %u s)", c->wake_wait_ms / 1000);
    printf(" (leader %s): %s\n", c->leader, c->reason);
    fflush(stdout);
    int rc = body.dry_run ? 0 : wait_define(ctx, c, body.start);
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
