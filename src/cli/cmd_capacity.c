#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_part(const char *label, const Nodectl__CapacityPart *p) {
    printf("%-28s %6u VMs on %u host(s); tightest: %s", label, p->vms, p->hosts, p->tightest);
    for (size_t i = 0; i < p->n_stopped; i++)
        printf("%s%s %llu", i ? ", " : " (stopped by ", p->stopped[i]->name,
               (unsigned long long)p->stopped[i]->value);
    printf("%s\n", p->n_stopped ? ")" : "");
}

static json_t *part_json(const Nodectl__CapacityPart *p) {
    json_t *stopped = json_object();
    for (size_t i = 0; i < p->n_stopped; i++)
        json_object_set_new(stopped, p->stopped[i]->name,
                            json_integer((json_int_t)p->stopped[i]->value));
    return json_pack("{s:i, s:i, s:s, s:o}", "vms", (int)p->vms, "hosts", (int)p->hosts,
                     "tightest", p->tightest, "stopped", stopped);
}

/* `nodectl capacity [--vcpus N] [--memory SIZE] [--group NAME] [--json]`:
 * how many more VMs of that size fit, answered by the leader (any host
 * forwards the question). */
int cmd_capacity(const struct cli_ctx *ctx, int argc, char **argv) {
    Nodectl__CapacityRequest body = NODECTL__CAPACITY_REQUEST__INIT;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--vcpus") == 0 && v) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (!v[0] || *end || n == 0 || n > 4096) {
                fprintf(stderr, "nodectl capacity: --vcpus: expected 1 to 4096, got '%s'\n", v);
                return 2;
            }
            body.vcpus = (uint32_t)n;
            i++;
        } else if (strcmp(argv[i], "--memory") == 0 && v) {
            unsigned long long kib;
            if (cli_parse_size_kib(v, &kib) != 0) {
                fprintf(stderr, "nodectl capacity: --memory: expected a size such as 2G, 512M "
                                "or 2048 (MiB), got '%s'\n", v);
                return 2;
            }
            body.memory_kib = kib;
            i++;
        } else if (strcmp(argv[i], "--group") == 0 && v) {
            body.group = argv[++i];
        } else {
            fprintf(stderr, "nodectl capacity: %s '%s' (see: nodectl help capacity)\n",
                    v || argv[i][0] != '-' ? "unknown argument" : "missing value after",
                    argv[i]);
            return 2;
        }
    }
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_CAPACITY;
    req.capacity = &body;
    Nodectl__Response *resp = cli_call(ctx, "capacity", &req, NODECTL__RESPONSE__BODY_CAPACITY);
    if (!resp)
        return 1;
    const Nodectl__CapacityReply *r = resp->capacity;
    int rc = 0;
    if (!r->on || !r->off) {
        fprintf(stderr, "nodectl capacity: the leader's answer is incomplete\n");
        rc = 1;
    } else if (json) {
        json_t *o = json_pack("{s:s, s:i, s:I, s:f, s:i, s:o, s:o}", "leader", r->leader, "vcpus",
                              (int)r->vcpus, "memory_kib", (json_int_t)r->memory_kib,
                              "cpu_overcommit", r->cpu_overcommit, "spare_hosts_held",
                              (int)r->spare_held, "running", part_json(r->on), "with_off_hosts",
                              part_json(r->off));
        if (!o || json_dumpf(o, stdout, JSON_INDENT(2)) != 0)
            rc = 1;
        else
            putchar('\n');
        json_decref(o);
    } else {
        char mem[32];
        cli_format_kib(r->memory_kib, mem, sizeof mem);
        printf("VMs of %u vCPU%s and %s (leader %s, CPU overcommit %.2f):\n", r->vcpus,
               r->vcpus == 1 ? "" : "s", mem, r->leader, r->cpu_overcommit);
        print_part("on the running hosts:", r->on);
        print_part("more with the off hosts woken:", r->off);
        printf("in all: %u\n", r->on->vms + r->off->vms);
        if (r->spare_held)
            printf("%u idle host(s) held back as spares ([leader] policy)\n", r->spare_held);
    }
    nodectl__response__free_unpacked(resp, NULL);
    return rc;
}
