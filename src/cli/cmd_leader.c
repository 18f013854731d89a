#include <stdio.h>
#include <string.h>

#include "cli.h"

/* `nodectl leader transfer [HOST]`: hands leadership to HOST, or to the
 * preferred reachable candidate, e.g. before maintenance of the leader. */
int cmd_leader(const struct cli_ctx *ctx, int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "transfer") != 0 || argc > 3) {
        fprintf(stderr, "nodectl leader: expected: transfer [HOST] (see: nodectl help leader)\n");
        return 2;
    }
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__LeaderTransferRequest body = NODECTL__LEADER_TRANSFER_REQUEST__INIT;
    body.destination = argc == 3 ? argv[2] : "";
    req.body_case = NODECTL__REQUEST__BODY_LEADER_TRANSFER;
    req.leader_transfer = &body;
    Nodectl__Response *resp =
        cli_call(ctx, "leader", &req, NODECTL__RESPONSE__BODY_LEADER_TRANSFER);
    if (!resp)
        return 1;
    printf("leadership transfer from %s to %s requested\n", resp->leader_transfer->from,
           resp->leader_transfer->to[0] ? resp->leader_transfer->to : "the preferred candidate");
    nodectl__response__free_unpacked(resp, NULL);
    return 0;
}
