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

/* `nodectl drain HOST` and `nodectl undrain HOST`: sets or clears HOST's
 * drain flag through HOST's own agent, and returns once the flag shows in
 * HOST's gossiped record. Agent-to-agent commands are fire-and-forget (a
 * frame can be lost while a connection is re-established), and setting the
 * flag is idempotent, so the request is repeated every second until it
 * shows, for at most 10 s. */
int cmd_drain(const struct cli_ctx *ctx, int argc, char **argv) {
    bool drain = strcmp(argv[0], "drain") == 0;
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "nodectl %s: expected HOST (see: nodectl help %s)\n", argv[0], argv[0]);
        return 2;
    }
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__DrainRequest body = NODECTL__DRAIN_REQUEST__INIT;
    body.host = argv[1];
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
            int flag = flag_of(ctx, argv[0], argv[1]);
            if (flag == (int)drain) {
                printf(drain ? "%s is drained: the leader evacuates it and keeps it empty\n"
                             : "%s is no longer drained: it takes VMs again\n",
                       argv[1]);
                return 0;
            }
            nanosleep(&tick, NULL);
        }
    }
    fprintf(stderr, "nodectl %s: %s did not confirm within 10 s\n", argv[0], argv[1]);
    return 1;
}
