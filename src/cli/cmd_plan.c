#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void print_text(const Nodectl__PlanReply *p) {
    printf("leader %s, term %llu, automation %s, policy %s\n", p->leader,
           (unsigned long long)p->term, p->automation, p->policy);
    if (p->window[0])
        printf("window: %s\n", p->window);
    if (p->note[0])
        printf("%s\n", p->note);
    if (!p->planned_at_ms) {
        printf("no plan yet\n");
        return;
    }
    char when[32];
    time_t t = (time_t)(p->planned_at_ms / 1000);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
    printf("planned at %s: %u action(s)%s\n", when, p->actions_total,
           p->actions_total > p->n_actions ? ", the first shown (one frame from the leader)" : "");
    for (size_t i = 0; i < p->n_actions; i++) {
        const Nodectl__PlanAction *a = p->actions[i];
        if (strcmp(a->kind, "migrate") == 0)
            printf("%3u. migrate %s from %s to %s", a->index, a->vm, a->source, a->host);
        else
            printf("%3u. %s %s", a->index, a->kind, a->host);
        for (size_t d = 0; d < a->n_after; d++)
            printf("%s%u", d ? "," : " (after ", a->after[d]);
        printf("%s  [%s]%s%s\n      why: %s\n", a->n_after ? ")" : "", a->state,
               a->note[0] ? " " : "", a->note, a->reason);
    }
}

static int print_json(const Nodectl__PlanReply *p) {
    json_t *actions = json_array();
    for (size_t i = 0; i < p->n_actions; i++) {
        const Nodectl__PlanAction *a = p->actions[i];
        json_t *after = json_array();
        for (size_t d = 0; d < a->n_after; d++)
            json_array_append_new(after, json_integer(a->after[d]));
        json_array_append_new(
            actions, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "index",
                               (int)a->index, "kind", a->kind, "vm", a->vm, "source", a->source,
                               "host", a->host, "reason", a->reason, "state", a->state, "note",
                               a->note, "command_id", a->command_id, "after", after));
    }
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:o}", "leader", p->leader, "term",
                          (json_int_t)p->term, "automation", p->automation, "policy", p->policy,
                          "planned_at_ms", (json_int_t)p->planned_at_ms, "note", p->note,
                          "actions", actions);
    if (o)
        json_object_set_new(o, "window", json_string(p->window));
    if (!o || json_dumpf(o, stdout, JSON_INDENT(2)) != 0) {
        json_decref(o);
        fprintf(stderr, "nodectl plan: cannot write JSON\n");
        return 1;
    }
    putchar('\n');
    json_decref(o);
    return 0;
}

/* `nodectl plan [--json]`: the leader's last plan, each action with its
 * reason and state, asked on any host (the agent asks the leader). */
int cmd_plan(const struct cli_ctx *ctx, int argc, char **argv) {
    bool json;
    if (!cli_parse_json_flag("plan", argc, argv, &json))
        return 2;
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__PlanRequest body = NODECTL__PLAN_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_PLAN;
    req.plan = &body;
    Nodectl__Response *resp = cli_call(ctx, "plan", &req, NODECTL__RESPONSE__BODY_PLAN);
    if (!resp)
        return 1;
    int rc = 0;
    if (json)
        rc = print_json(resp->plan);
    else
        print_text(resp->plan);
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
