#include <stdio.h>
#include <string.h>

#include "cli.h"

/* `nodectl drain HOST` and `nodectl undrain HOST`: sets or clears HOST's
 * drain flag, through HOST's own agent. */
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
    Nodectl__Response *resp = cli_call(ctx, argv[0], &req, NODECTL__RESPONSE__BODY_DRAIN);
    if (!resp)
        return 1;
    printf(drain ? "%s: drain requested; the leader evacuates it and keeps it empty\n"
                 : "%s: undrain requested; it takes VMs again\n",
           resp->drain->host);
    nodectl__response__free_unpacked(resp, NULL);
    return 0;
}
