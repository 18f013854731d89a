#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
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

/* Follows the define in the chosen host's record (its own agent fresh;
 * another host's by gossip, a little later) until it is reported. */
static int wait_define(const struct cli_ctx *ctx, const Nodectl__CreateReply *c, bool start) {
    const struct timespec tick = {0, 100 * 1000000L};
    for (int waited = 0; waited < CREATE_WAIT_MS; waited += 100) {
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
    fprintf(stderr, "nodectl create: %s reported nothing of command %s within %d s; see "
                    "nodectl vms and nodectl events\n", c->host, c->command_id,
            CREATE_WAIT_MS / 1000);
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
    size_t len;
    struct domain_spec d;
    char why[256];
    if (read_xml(path, xml, sizeof xml, &len) != 0)
        return 2;
    if (domain_xml_parse(xml, len, &d, why, sizeof why) != 0) {
        fprintf(stderr, "nodectl create: %s: %s\n", path, why);
        return 2;
    }
    body.xml = xml;
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_CREATE;
    req.create = &body;
    Nodectl__Response *resp = cli_call(ctx, "create", &req, NODECTL__RESPONSE__BODY_CREATE);
    if (!resp)
        return 1;
    const Nodectl__CreateReply *c = resp->create;
    printf("%s: %s%s%s (leader %s): %s\n", c->vm, body.dry_run ? "would go to " : "host ", c->host,
           c->wake ? ", which is off and must be woken first" : "", c->leader, c->reason);
    fflush(stdout);
    int rc = body.dry_run ? 0 : wait_define(ctx, c, body.start);
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
