#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "net/control.h"

static int print_json(const Nodectl__VmsReply *r) {
    json_t *vms = json_array();
    for (size_t i = 0; i < r->n_hosts; i++) {
        const Nodectl__HostRecord *h = r->hosts[i];
        for (size_t k = 0; k < h->n_vms; k++) {
            const Nodectl__Vm *v = h->vms[k];
            char id[37];
            cli_uuid_text(v->uuid.data, v->uuid.len, id);
            json_array_append_new(
                vms, json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:f, s:b, s:s, s:b, s:i}", "name",
                               v->name, "uuid", id, "host", h->name, "state",
                               cli_vm_state_name(v->state), "vcpus", (int)v->vcpus, "memory_kib",
                               (json_int_t)v->memory_kib, "cpu_percent", v->cpu_percent, "pinned",
                               v->pinned, "group", v->group, "ha", v->ha, "ha_priority",
                               (int)v->ha_priority));
        }
    }
    int rc = json_dumpf(vms, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
    putchar('\n');
    json_decref(vms);
    return rc;
}

static void print_table(const Nodectl__VmsReply *r) {
    printf("%-24s %-16s %-9s %5s %10s %6s %-6s %-16s %-8s %s\n", "NAME", "HOST", "STATE",
           "VCPUS", "MEMORY", "CPU%", "PINNED", "GROUP", "HA", "UUID");
    for (size_t i = 0; i < r->n_hosts; i++) {
        const Nodectl__HostRecord *h = r->hosts[i];
        for (size_t k = 0; k < h->n_vms; k++) {
            const Nodectl__Vm *v = h->vms[k];
            char id[37], mem[24], ha[16] = "-";
            cli_uuid_text(v->uuid.data, v->uuid.len, id);
            cli_format_kib(v->memory_kib, mem, sizeof mem);
            /* A protected VM shows its restart priority: yes/500. */
            if (v->ha)
                snprintf(ha, sizeof ha, "yes/%u", (unsigned)v->ha_priority);
            printf("%-24s %-16s %-9s %5u %10s %6.1f %-6s %-16s %-8s %s\n", v->name, h->name,
                   cli_vm_state_name(v->state), v->vcpus, mem, v->cpu_percent,
                   v->pinned ? "yes" : "no", v->group[0] ? v->group : "-", ha, id);
        }
    }
}

int cmd_vms(const struct cli_ctx *ctx, int argc, char **argv) {
    bool json;
    if (!cli_parse_json_flag("vms", argc, argv, &json))
        return 2;
    Nodectl__Response *resp = cli_call_vms(ctx, "vms");
    if (!resp)
        return 1;
    int rc = 0;
    if (json)
        rc = print_json(resp->vms);
    else
        print_table(resp->vms);
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
