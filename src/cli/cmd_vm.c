/* `nodectl vm set VM pinned=yes|no group=NAME|group= ha=yes|no
 * ha_priority=N`: a VM's placement and HA rules, written by the agent of the
 * host that runs it into the domain's <metadata> (docs/placement.md, "Rules
 * per VM"; docs/ha.md). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "hv/hv.h"

/* The record of `vm` on `host` now; NULL when not found. */
static const Nodectl__Vm *shows(const Nodectl__VmsReply *r, const char *host, const char *vm) {
    for (size_t i = 0; i < r->n_hosts; i++)
        for (size_t k = 0; strcmp(r->hosts[i]->name, host) == 0 && k < r->hosts[i]->n_vms; k++)
            if (strcmp(r->hosts[i]->vms[k]->name, vm) == 0)
                return r->hosts[i]->vms[k];
    return NULL;
}

/* Whether v shows every rule q sets. */
static bool has_rules(const Nodectl__Vm *v, const Nodectl__VmSetRequest *q) {
    return v && (!q->set_pinned || v->pinned == q->pinned) &&
           (!q->set_group || strcmp(v->group, q->group) == 0) && (!q->set_ha || v->ha == q->ha) &&
           (!q->set_ha_priority || v->ha_priority == q->ha_priority);
}

/* The outcome of command `id` on `host`, when its record shows it ended
 * badly: its error; NULL otherwise. */
static const char *failed(const Nodectl__VmsReply *r, const char *host, const char *id) {
    for (size_t i = 0; id[0] && i < r->n_hosts; i++)
        for (size_t k = 0; strcmp(r->hosts[i]->name, host) == 0 && k < r->hosts[i]->n_migrations;
             k++) {
            const Nodectl__Migration *m = r->hosts[i]->migrations[k];
            if (strcmp(m->id, id) == 0 &&
                (strcmp(m->state, "failed") == 0 || strcmp(m->state, "refused") == 0))
                return m->error;
        }
    return NULL;
}

static int usage_error(const char *what) {
    fprintf(stderr, "nodectl vm: %s (see: nodectl help vm)\n", what);
    return 2;
}

/* Parses KEY=VALUE arguments into the request; 0, or 2 after saying why. */
static int parse_rules(int argc, char **argv, Nodectl__VmSetRequest *q) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        char msg[HV_GROUP_MAX + 160];
        if (strncmp(a, "pinned=", 7) == 0 && !q->set_pinned) {
            if (strcmp(a + 7, "yes") != 0 && strcmp(a + 7, "no") != 0) {
                snprintf(msg, sizeof msg, "pinned: expected yes or no, got '%.40s'", a + 7);
                return usage_error(msg);
            }
            q->set_pinned = true;
            q->pinned = strcmp(a + 7, "yes") == 0;
        } else if (strncmp(a, "group=", 6) == 0 && !q->set_group) {
            if (a[6] && !hv_group_valid(a + 6)) {
                snprintf(msg, sizeof msg,
                         "group: expected 1 to %d letters, digits, '.', '_' or '-' (or nothing "
                         "to leave the group), got '%.80s'",
                         HV_GROUP_MAX - 1, a + 6);
                return usage_error(msg);
            }
            q->set_group = true;
            q->group = (char *)a + 6;
        } else if (strncmp(a, "ha=", 3) == 0 && !q->set_ha) {
            if (strcmp(a + 3, "yes") != 0 && strcmp(a + 3, "no") != 0) {
                snprintf(msg, sizeof msg, "ha: expected yes or no, got '%.40s'", a + 3);
                return usage_error(msg);
            }
            q->set_ha = true;
            q->ha = strcmp(a + 3, "yes") == 0;
        } else if (strncmp(a, "ha_priority=", 12) == 0 && !q->set_ha_priority) {
            if (hv_ha_priority_parse(a + 12, &q->ha_priority) != 0) {
                snprintf(msg, sizeof msg, "ha_priority: expected 0 to %d, got '%.40s'",
                         HV_HA_PRIORITY_MAX, a + 12);
                return usage_error(msg);
            }
            q->set_ha_priority = true;
        } else {
            snprintf(msg, sizeof msg, "unexpected argument '%.80s': expected pinned=yes|no, "
                     "group=NAME, ha=yes|no or ha_priority=N (each once)", a);
            return usage_error(msg);
        }
    }
    return q->set_pinned || q->set_group || q->set_ha || q->set_ha_priority
               ? 0
               : usage_error("expected pinned=yes|no, group=NAME, ha=yes|no or ha_priority=N");
}

/* Sends the request, then follows the VM's host's record until the VM shows
 * the rules; an agent-to-agent command may be lost (cmd_drain.c), and
 * writing the same rules twice is harmless, so it is sent again every
 * second, for at most 10 s. */
int cmd_vm(const struct cli_ctx *ctx, int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "set") != 0)
        return usage_error("expected: vm set VM [pinned=yes|no] [group=NAME] [ha=yes|no] "
                           "[ha_priority=N]");
    if (argc < 3 || argv[2][0] == '\0' || strlen(argv[2]) >= HV_NAME_MAX)
        return usage_error("expected a VM name after 'vm set'");
    Nodectl__VmSetRequest body = NODECTL__VM_SET_REQUEST__INIT;
    body.vm = argv[2];
    int rc = parse_rules(argc - 3, argv + 3, &body);
    if (rc != 0)
        return rc;
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_VM_SET;
    req.vm_set = &body;
    const struct timespec tick = {0, 100 * 1000000L};
    for (int attempt = 0; attempt < 10; attempt++) {
        Nodectl__Response *resp = cli_call(ctx, "vm set", &req, NODECTL__RESPONSE__BODY_VM_SET);
        if (!resp)
            return 1;
        for (int poll = 0; poll < 10; poll++) {
            Nodectl__Response *vms = cli_call_vms(ctx, "vm set");
            const Nodectl__Vm *v = NULL;
            const char *err = NULL;
            if (vms) {
                v = shows(vms->vms, resp->vm_set->host, body.vm);
                err = failed(vms->vms, resp->vm_set->host, resp->vm_set->command_id);
            }
            if (err) {
                fprintf(stderr, "nodectl vm set: %s refused: %s\n", resp->vm_set->host, err);
                rc = 1;
            } else if (has_rules(v, &body)) {
                printf("%s on %s: pinned=%s group=%s ha=%s ha_priority=%u\n", body.vm,
                       resp->vm_set->host, v->pinned ? "yes" : "no",
                       v->group[0] ? v->group : "(none)", v->ha ? "yes" : "no",
                       (unsigned)v->ha_priority);
                rc = -1;
            }
            if (vms)
                nodectl__response__free_unpacked(vms, NULL);
            if (rc != 0) {
                nodectl__response__free_unpacked(resp, NULL);
                return rc < 0 ? 0 : rc;
            }
            nanosleep(&tick, NULL);
        }
        nodectl__response__free_unpacked(resp, NULL);
    }
    fprintf(stderr, "nodectl vm set: the VM's host did not confirm within 10 s\n");
    return 1;
}
