#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_find(const struct cli_ctx *ctx, int argc, char **argv) {
    bool json = false;
    const char *vm = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] != '-' && !vm) {
            vm = argv[i];
        } else {
            fprintf(stderr, "nodectl find: unexpected argument '%s' (see: nodectl help find)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!vm) {
        fprintf(stderr, "nodectl find: expected a VM name (see: nodectl help find)\n");
        return 2;
    }
    Nodectl__Response *resp = cli_call_vms(ctx, "find");
    if (!resp)
        return 1;
    int found = 0;
    json_t *hosts = json_array();
    for (size_t i = 0; i < resp->vms->n_hosts; i++) {
        const Nodectl__HostRecord *h = resp->vms->hosts[i];
        for (size_t k = 0; k < h->n_vms; k++) {
            if (strcmp(h->vms[k]->name, vm) != 0)
                continue;
            const char *state = cli_vm_state_name(h->vms[k]->state);
            found++;
            if (json)
                json_array_append_new(hosts, json_pack("{s:s, s:s}", "host", h->name, "state",
                                                       state));
            else
                printf("%s\t%s\n", h->name, state);
        }
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:o}", "vm", vm, "hosts", hosts);
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        json_decref(hosts);
    }
    if (!found)
        fprintf(stderr, "nodectl find: VM '%s' is on no live host\n", vm);
    nodectl__response__free_unpacked(resp, NULL);
    return found ? 0 : 1;
}
