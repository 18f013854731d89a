#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* HOST's drain flag as this agent sees it: 1, 0, or -1 if unknown. */
static int flag_of(const struct cli_ctx *ctx, const char *cmd, const char *host) {
    Nodectl__Response *resp = cli_call_vms(ctx, cmd);
    int flag = -1;
    for (size_t i = 0; resp && i < resp->vms->n_hosts; i++)
        if (strcmp(resp->vms->hosts[i]->name, host) == 0)
            flag = resp->vms->hosts[i]->drain;
    if (resp)
        nodectl__response__free_unpacked(resp, NULL);
    return flag;
}

/* What is still on HOST: running VMs, the pinned ones among them (their
 * names in `pinned`, cut to its size), and migrations away from it
 * running; -1 if HOST is not up (or the agent cannot be asked). */
static int left_on(const struct cli_ctx *ctx, const char *host, int *moving, int *n_pinned,
                   char *pinned, size_t len) {
    Nodectl__Response *resp = cli_call_vms(ctx, "drain");
    int vms = -1;
    *moving = *n_pinned = 0;
    pinned[0] = '\0';
    for (size_t i = 0; resp && i < resp->vms->n_hosts; i++) {
        const Nodectl__HostRecord *h = resp->vms->hosts[i];
        if (strcmp(h->name, host) != 0)
            continue;
        vms = 0;
        for (size_t k = 0; k < h->n_vms; k++) {
            const Nodectl__Vm *v = h->vms[k];
            bool runs = v->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
                        v->state == NODECTL__VM_STATE__VM_STATE_BLOCKED ||
                        v->state == NODECTL__VM_STATE__VM_STATE_PAUSED;
            vms += runs;
            if (runs && v->pinned) {
                size_t o = strlen(pinned);
                snprintf(pinned + o, len - o, "%s%s", (*n_pinned)++ ? ", " : "", v->name);
            }
        }
        for (size_t k = 0; k < h->n_migrations; k++)
            *moving += !h->migrations[k]->kind[0] &&
                       strcmp(h->migrations[k]->state, "running") == 0;
    }
    if (resp)
        nodectl__response__free_unpacked(resp, NULL);
    return vms;
}

/* --wait: until no VM runs on HOST any more, whichever leader moves them
 * (the evacuation survives a change of leader: the flag is HOST's own);
 * or until only pinned VMs are left, which no leader moves (a drained
 * host keeps them): then it ends, naming them. */
static int wait_empty(const struct cli_ctx *ctx, const char *host) {
    const struct timespec tick = {0, 250 * 1000000L};
    int last = -2, last_moving = -1, gone = 0;
    for (;;) {
        char pinned[1024];
        int moving, n_pinned, vms = left_on(ctx, host, &moving, &n_pinned, pinned, sizeof pinned);
        if (vms == 0) {
            printf("%s is empty\n", host);
            return 0;
        }
        if (vms > 0 && vms == n_pinned && !moving) {
            fprintf(stderr, "nodectl drain: %s stays drained but keeps %d pinned VM%s, which the "
                            "leader never moves: %s (unpin with nodectl vm set VM pinned=no, or "
                            "stop them)\n", host, n_pinned, n_pinned == 1 ? "" : "s", pinned);
            return 1;
        }
        /* A host briefly missing (a record in flight, a suspicion) is not
         * yet a reason to give up; ten seconds of absence is. */
        if (vms < 0 && ++gone > 40) {
            fprintf(stderr, "nodectl drain: %s is no longer alive; its VMs' fate is unknown\n",
                    host);
            return 1;
        }
        if (vms >= 0) {
            gone = 0;
            if (vms != last || moving != last_moving) {
                printf("%s: %d VM%s left, %d moving\n", host, vms, vms == 1 ? "" : "s", moving);
                fflush(stdout);
                last = vms;
                last_moving = moving;
            }
        }
        nanosleep(&tick, NULL);
    }
}

/* `nodectl drain HOST [--wait]` and `nodectl undrain HOST`: sets or clears
 * HOST's drain flag through HOST's own agent, and returns once the flag
 * shows in HOST's gossiped record (with --wait: once HOST is empty).
 * Agent-to-agent commands are fire-and-forget (a frame can be lost while a
 * connection is re-established), and setting the flag is idempotent, so the
 * request is repeated every second until it shows, for at most 10 s. */
int cmd_drain(const struct cli_ctx *ctx, int argc, char **argv) {
    bool drain = strcmp(argv[0], "drain") == 0, wait = false;
    const char *host = NULL;
    for (int i = 1; i < argc; i++) {
        if (drain && strcmp(argv[i], "--wait") == 0) {
            wait = true;
        } else if (argv[i][0] != '-' && !host) {
            host = argv[i];
        } else {
            fprintf(stderr, "nodectl %s: unexpected argument '%s' (see: nodectl help %s)\n",
                    argv[0], argv[i], argv[0]);
            return 2;
        }
    }
    if (!host) {
        fprintf(stderr, "nodectl %s: expected HOST (see: nodectl help %s)\n", argv[0], argv[0]);
        return 2;
    }
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__DrainRequest body = NODECTL__DRAIN_REQUEST__INIT;
    body.host = (char *)host;
    body.drain = drain;
    req.body_case = NODECTL__REQUEST__BODY_DRAIN;
    req.drain = &body;
    const struct timespec tick = {0, 100 * 1000000L};
    for (int attempt = 0; attempt < 10; attempt++) {
        Nodectl__Response *resp = cli_call(ctx, argv[0], &req, NODECTL__RESPONSE__BODY_DRAIN);
        if (!resp)
            return 1;
        nodectl__response__free_unpacked(resp, NULL);
        for (int poll = 0; poll < 10; poll++) {
            int flag = flag_of(ctx, argv[0], host);
            if (flag == (int)drain) {
                printf(drain ? "%s is drained: the leader evacuates it and keeps it empty\n"
                             : "%s is no longer drained: it takes VMs again\n",
                       host);
                fflush(stdout);
                return wait ? wait_empty(ctx, host) : 0;
            }
            nanosleep(&tick, NULL);
        }
    }
    fprintf(stderr, "nodectl %s: %s did not confirm within 10 s\n", argv[0], host);
    return 1;
}
