/* `nodectl host fenced HOST`: an operator confirms that HOST runs none of
 * its guests (powered off by hand, or checked at its console), the third
 * kind of fence evidence (docs/ha.md). Answered by the leader. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/config.h"

static int usage_error(const char *what) {
    fprintf(stderr, "nodectl host: %s (see: nodectl help host)\n", what);
    return 2;
}

int cmd_host(const struct cli_ctx *ctx, int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "fenced") != 0)
        return usage_error("expected: host fenced HOST");
    if (!argv[2][0] || strlen(argv[2]) >= CONFIG_NAME_MAX)
        return usage_error("expected a host name after 'host fenced'");
    Nodectl__HostFencedRequest body = NODECTL__HOST_FENCED_REQUEST__INIT;
    body.host = argv[2];
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_HOST_FENCED;
    req.host_fenced = &body;
    Nodectl__Response *resp =
        cli_call(ctx, "host fenced", &req, NODECTL__RESPONSE__BODY_HOST_FENCED);
    if (!resp)
        return 1;
    printf("%s: %s taken for fenced; its protected VMs may restart (nodectl events)\n",
           resp->host_fenced->leader, resp->host_fenced->host);
    nodectl__response__free_unpacked(resp, NULL);
    return 0;
}
