#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* The record of host `name` in a VmsReply (hosts that are up), or NULL. */
static const Nodectl__HostRecord *host_named(const Nodectl__VmsReply *r, const char *name) {
    for (size_t i = 0; i < r->n_hosts; i++)
        if (strcmp(r->hosts[i]->name, name) == 0)
            return r->hosts[i];
    return NULL;
}

static const Nodectl__Migration *migration(const Nodectl__HostRecord *h, const char *id) {
    for (size_t i = 0; h && i < h->n_migrations; i++)
        if (strcmp(h->migrations[i]->id, id) == 0)
            return h->migrations[i];
    return NULL;
}

static bool runs_on(const Nodectl__HostRecord *h, const char *vm) {
    for (size_t i = 0; h && i < h->n_vms; i++)
        if (strcmp(h->vms[i]->name, vm) == 0 &&
            h->vms[i]->state == NODECTL__VM_STATE__VM_STATE_RUNNING)
            return true;
    return false;
}

/* Follows the migration in the source's gossiped record until it ends, then
 * until the destination reports the VM running. */
static int wait_for(const struct cli_ctx *ctx, const char *vm, const Nodectl__MigrateReply *mr) {
    int last_pct = -1, rc = -1;
    bool ended = false;
    const struct timespec tick = {0, 200 * 1000000L};
    /* Long enough for the destination's next record after the move; the
     * migration itself is bounded by its timeout on the source. */
    int settle_ticks = 150;
    while (rc < 0) {
        Nodectl__Response *resp = cli_call_vms(ctx, "migrate");
        if (!resp)
            return 1;
        const Nodectl__HostRecord *src = host_named(resp->vms, mr->source);
        const Nodectl__Migration *m = migration(src, mr->id);
        if (!ended && !src) {
            fprintf(stderr, "nodectl migrate: %s is no longer alive; outcome unknown\n",
                    mr->source);
            rc = 1;
        } else if (!ended && m && strcmp(m->state, "running") != 0) {
            ended = true;
            if (strcmp(m->state, "succeeded") != 0) {
                fprintf(stderr, "nodectl migrate: %s: %s\n", m->state, m->error);
                rc = 1;
            } else {
                printf("migrated in %.1f s\n", (double)(m->ended_at_ms - m->started_at_ms) / 1000);
            }
        } else if (!ended && m && (int)(m->progress * 100) != last_pct) {
            last_pct = (int)(m->progress * 100);
            printf("running: %d%%\n", last_pct);
            fflush(stdout);
        }
        if (rc < 0 && ended) {
            if (runs_on(host_named(resp->vms, mr->destination), vm)) {
                printf("%s runs on %s\n", vm, mr->destination);
                rc = 0;
            } else if (--settle_ticks == 0) {
                fprintf(stderr, "nodectl migrate: %s does not report %s running yet\n",
                        mr->destination, vm);
                rc = 1;
            }
        }
        nodectl__response__free_unpacked(resp, NULL);
        if (rc < 0)
            nanosleep(&tick, NULL);
    }
    return rc;
}

int cmd_migrate(const struct cli_ctx *ctx, int argc, char **argv) {
    const char *args[2];
    int nargs = 0;
    bool wait = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--wait") == 0) {
            wait = true;
        } else if (argv[i][0] != '-' && nargs < 2) {
            args[nargs++] = argv[i];
        } else {
            fprintf(stderr, "nodectl migrate: unexpected argument '%s' (see: nodectl help "
                            "migrate)\n", argv[i]);
            return 2;
        }
    }
    if (nargs != 2) {
        fprintf(stderr, "nodectl migrate: expected VM and HOST (see: nodectl help migrate)\n");
        return 2;
    }
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__MigrateRequest body = NODECTL__MIGRATE_REQUEST__INIT;
    body.vm = (char *)args[0];
    body.destination = (char *)args[1];
    req.body_case = NODECTL__REQUEST__BODY_MIGRATE;
    req.migrate = &body;
    Nodectl__Response *resp = cli_call(ctx, "migrate", &req, NODECTL__RESPONSE__BODY_MIGRATE);
    if (!resp)
        return 1;
    printf("migrating %s from %s to %s (command %s)\n", args[0], resp->migrate->source,
           resp->migrate->destination, resp->migrate->id);
    int rc = wait ? wait_for(ctx, args[0], resp->migrate) : 0;
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
