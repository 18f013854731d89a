#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "net/control.h"

static json_t *host_json(const Nodectl__HostRecord *h) {
    char id[37];
    cli_uuid_text(h->node_id.data, h->node_id.len, id);
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b}", "name", h->name, "node_id", id,
                          "address", h->address, "candidate", h->candidate, "drain", h->drain);
    if (h->hypervisor)
        json_object_set_new(o, "hypervisor",
                            json_pack("{s:s, s:b, s:s}", "uri", h->hypervisor->uri, "available",
                                      h->hypervisor->available, "reason", h->hypervisor->reason));
    if (h->capacity)
        json_object_set_new(o, "capacity",
                            json_pack("{s:i, s:i, s:I}", "cpus", (int)h->capacity->cpus, "cpu_mhz",
                                      (int)h->capacity->cpu_mhz, "memory_kib",
                                      (json_int_t)h->capacity->memory_kib));
    if (h->usage)
        json_object_set_new(o, "usage",
                            json_pack("{s:f, s:I}", "cpu_percent", h->usage->cpu_percent,
                                      "memory_used_kib", (json_int_t)h->usage->memory_used_kib));
    size_t running = 0;
    for (size_t i = 0; i < h->n_vms; i++)
        running += h->vms[i]->state == NODECTL__VM_STATE__VM_STATE_RUNNING;
    json_object_set_new(o, "vms_running", json_integer((json_int_t)running));
    json_object_set_new(o, "sampled_at_ms", json_integer((json_int_t)h->sampled_at_ms));
    return o;
}

/* {"name": value, ...} of a counter set. */
static json_t *counters_json(Nodectl__Counter *const *c, size_t n) {
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, c[i]->name, json_integer((json_int_t)c[i]->value));
    return o;
}

static int print_json(const Nodectl__StatusReply *st) {
    char id[37];
    cli_uuid_text(st->node_id.data, st->node_id.len, id);
    json_t *members = json_array();
    for (size_t i = 0; i < st->n_members; i++) {
        const Nodectl__Member *m = st->members[i];
        json_t *o = m->host ? host_json(m->host) : json_object();
        json_object_set_new(o, "state", json_string(m->state));
        if (m->state_reason[0])
            json_object_set_new(o, "state_reason", json_string(m->state_reason));
        json_object_set_new(o, "role", json_string(m->role));
        json_object_set_new(o, "incarnation", json_integer((json_int_t)m->incarnation));
        if (m->note[0])
            json_object_set_new(o, "note", json_string(m->note));
        if (m->fenced[0])
            json_object_set_new(o, "fenced", json_string(m->fenced));
        json_array_append_new(members, o);
    }
    json_t *warnings = json_array();
    for (size_t i = 0; i < st->n_warnings; i++)
        json_array_append_new(warnings, json_string(st->warnings[i]));
    json_t *rejected = json_array();
    for (size_t i = 0; i < st->n_rejected; i++)
        json_array_append_new(rejected,
                              json_pack("{s:s, s:s, s:I}", "component", st->rejected[i]->component,
                                        "reason", st->rejected[i]->reason, "count",
                                        (json_int_t)st->rejected[i]->count));
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:I, s:I, s:o, s:o, s:o}",
                             "cluster", st->cluster, "node", st->node, "node_id", id, "role",
                             st->role, "disabled", st->disabled, "lease", st->lease, "leader",
                             st->leader[0] ? json_string(st->leader) : json_null(), "term",
                             (json_int_t)st->term, "stale_commands_refused",
                             (json_int_t)st->stale_commands_refused, "warnings", warnings,
                             "rejected", rejected, "members", members);
    if (root) {
        json_object_set_new(root, "boot_epoch", json_integer((json_int_t)st->boot_epoch));
        json_object_set_new(root, "frames", counters_json(st->frames, st->n_frames));
        json_object_set_new(root, "messages_refused", counters_json(st->refused, st->n_refused));
        json_object_set_new(root, "traffic", counters_json(st->traffic, st->n_traffic));
    }
    int rc = root && json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
    putchar('\n');
    json_decref(root);
    return rc;
}

/* "replay 3, misaddressed 1": the non-zero refusals. */
static void print_refusals(const char *what, Nodectl__Counter *const *c, size_t n) {
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!c[i]->value || strcmp(c[i]->name, "accepted") == 0 || strcmp(c[i]->name, "self") == 0)
            continue;
        printf("%s%s %llu", any ? ", " : what, c[i]->name, (unsigned long long)c[i]->value);
        any = true;
    }
    if (any)
        putchar('\n');
}

/* "; fenced: its BMC confirmed it off" for a host the leader fences (HA). */
static void fenced_text(const char *evidence, char *out, size_t len) {
    const char *why = strcmp(evidence, "bmc") == 0        ? "its BMC confirmed it off"
                      : strcmp(evidence, "self") == 0     ? "it fenced itself (the self-fence wait "
                                                            "is over)"
                      : strcmp(evidence, "operator") == 0 ? "an operator confirmed it"
                                                          : "no evidence yet: its protected VMs "
                                                            "wait";
    if (evidence[0])
        snprintf(out, len, "; FENCED: %s", why);
    else
        out[0] = '\0';
}

static void print_table(const Nodectl__StatusReply *st) {
    char id[37];
    cli_uuid_text(st->node_id.data, st->node_id.len, id);
    printf("cluster: %s\nnode:    %s (%s), %s%s\nleader:  %s\nterm:    %llu\n", st->cluster,
           st->node, id, st->role, st->disabled ? ", DISABLED: cannot persist its vote" : "",
           st->leader[0] ? st->leader : "none", (unsigned long long)st->term);
    if (st->stale_commands_refused)
        printf("refused: %llu commands from deposed leaders\n",
               (unsigned long long)st->stale_commands_refused);
    print_refusals("frames refused: ", st->frames, st->n_frames);
    print_refusals("messages refused: ", st->refused, st->n_refused);
    for (size_t i = 0; i < st->n_warnings; i++)
        printf("WARNING: %s\n", st->warnings[i]);
    for (size_t i = 0; i < st->n_rejected; i++)
        printf("refused: %llu x %s: %s\n", (unsigned long long)st->rejected[i]->count,
               st->rejected[i]->component, st->rejected[i]->reason);
    putchar('\n');
    printf("%-16s %-22s %-7s %-10s %6s %-21s %4s  %s\n", "NAME", "ADDRESS", "STATE", "ROLE",
           "CPU%", "MEMORY USED/TOTAL", "VMS", "HYPERVISOR");
    for (size_t i = 0; i < st->n_members; i++) {
        const Nodectl__Member *m = st->members[i];
        const Nodectl__HostRecord *h = m->host;
        if (!h)
            continue;
        char used[24] = "-", total[24] = "-", mem[64], cpu[16] = "-";
        const char *hv = "?";
        char hvbuf[300];
        if (h->hypervisor) {
            snprintf(hvbuf, sizeof hvbuf, "%s", h->hypervisor->available ? "ok" : "unavailable: ");
            if (!h->hypervisor->available)
                strncat(hvbuf, h->hypervisor->reason, sizeof hvbuf - strlen(hvbuf) - 1);
            hv = hvbuf;
        }
        size_t running = 0;
        if (h->hypervisor && h->hypervisor->available && h->capacity && h->usage) {
            cli_format_kib(h->usage->memory_used_kib, used, sizeof used);
            cli_format_kib(h->capacity->memory_kib, total, sizeof total);
            snprintf(cpu, sizeof cpu, "%.1f", h->usage->cpu_percent);
        }
        for (size_t k = 0; k < h->n_vms; k++)
            running += h->vms[k]->state == NODECTL__VM_STATE__VM_STATE_RUNNING;
        snprintf(mem, sizeof mem, "%s / %s", used, total);
        char fenced[128];
        fenced_text(m->fenced, fenced, sizeof fenced);
        printf("%-16s %-22s %-7s %-10s %6s %-21s %4zu  %s%s%s%s%s%s%s\n", h->name, h->address,
               m->state, m->role, cpu, mem, running, hv, h->drain ? ", drained" : "",
               m->state_reason[0] ? "; " : "", m->state_reason, m->note[0] ? "; " : "",
               m->note, fenced);
    }
}

int cmd_status(const struct cli_ctx *ctx, int argc, char **argv) {
    bool json;
    if (!cli_parse_json_flag("status", argc, argv, &json))
        return 2;
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__StatusRequest body = NODECTL__STATUS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_STATUS;
    req.status = &body;
    Nodectl__Response *resp = cli_call(ctx, "status", &req, NODECTL__RESPONSE__BODY_STATUS);
    if (!resp)
        return 1;
    int rc = 0;
    if (json)
        rc = print_json(resp->status);
    else
        print_table(resp->status);
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
