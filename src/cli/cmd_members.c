#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void age_text(unsigned long long ms, char *out, size_t len) {
    if (ms < 60000)
        snprintf(out, len, "%.1fs", (double)ms / 1000);
    else if (ms < 3600000)
        snprintf(out, len, "%llum", ms / 60000);
    else
        snprintf(out, len, "%lluh", ms / 3600000);
}

int cmd_members(const struct cli_ctx *ctx, int argc, char **argv) {
    bool json;
    if (!cli_parse_json_flag("members", argc, argv, &json))
        return 2;
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__MembersRequest body = NODECTL__MEMBERS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_MEMBERS;
    req.members = &body;
    Nodectl__Response *resp = cli_call(ctx, "members", &req, NODECTL__RESPONSE__BODY_MEMBERS);
    if (!resp)
        return 1;
    const Nodectl__MembersReply *r = resp->members;
    int rc = 0;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < r->n_members; i++) {
            const Nodectl__Member *m = r->members[i];
            char id[37];
            cli_uuid_text(m->host->node_id.data, m->host->node_id.len, id);
            json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "name", m->host->name,
                                  "node_id", id, "address", m->host->address, "state", m->state,
                                  "incarnation", (json_int_t)m->incarnation, "age_ms",
                                  (json_int_t)m->age_ms, "record_version",
                                  (json_int_t)m->record_version);
            /* The member answering adds its own failure detector's health. */
            if (o && strcmp(m->host->name, r->self) == 0) {
                json_object_set_new(o, "local_health", json_integer(r->local_health));
                json_object_set_new(o, "local_health_max", json_integer(r->local_health_max));
                json_object_set_new(o, "loop_late_ms", json_integer(r->loop_late_ms));
            }
            json_array_append_new(arr, o);
        }
        rc = json_dumpf(arr, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
        putchar('\n');
        json_decref(arr);
    } else {
        printf("%-16s %-22s %-8s %11s %8s\n", "NAME", "ADDRESS", "STATE", "INCARNATION", "AGE");
        for (size_t i = 0; i < r->n_members; i++) {
            const Nodectl__Member *m = r->members[i];
            char age[16];
            age_text(m->age_ms, age, sizeof age);
            printf("%-16s %-22s %-8s %11u %8s\n", m->host->name, m->host->address, m->state,
                   m->incarnation, age);
        }
        printf("local health of %s: %u of %u (probe timeouts x%u)", r->self, r->local_health,
               r->local_health_max, r->local_health + 1);
        if (r->loop_late_ms)
            printf("; its loop ran %u ms late", r->loop_late_ms);
        putchar('\n');
    }
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
