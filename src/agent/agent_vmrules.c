/* nodectl vm set: a VM's placement rules (pinned, anti-affinity group),
 * written into its domain's <metadata> by the agent of the host that runs
 * it (hv_set_rules), live and persistent. libvirt keeps them: they survive
 * an agent restart and a redefinition of the domain, and every sample
 * reads them back into this host's record, from where the leader's
 * snapshot takes them (leader_snapshot.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"

/* Where VM `vm` is: the host that runs it, else one that has it defined;
 * its record (the caller frees it) and whether that host is this one.
 * NULL when no live host has it. */
static Nodectl__HostRecord *host_of(struct agent *a, const char *vm) {
    const struct gossip *g = a->cluster.gossip;
    Nodectl__HostRecord *best = NULL;
    bool best_runs = false;
    for (size_t i = 0; i < gossip_member_count(g); i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (m.state != GOSSIP_ALIVE && m.state != GOSSIP_SUSPECT)
            continue;
        Nodectl__HostRecord *rec = agent_member_record(a, &m);
        bool has = false, runs = false;
        for (size_t k = 0; rec && k < rec->n_vms; k++)
            if (strcmp(rec->vms[k]->name, vm) == 0) {
                has = true;
                runs = rec->vms[k]->state == NODECTL__VM_STATE__VM_STATE_RUNNING ||
                       rec->vms[k]->state == NODECTL__VM_STATE__VM_STATE_BLOCKED ||
                       rec->vms[k]->state == NODECTL__VM_STATE__VM_STATE_PAUSED;
            }
        if (has && (!best || (runs && !best_runs))) {
            if (best)
                nodectl__host_record__free_unpacked(best, NULL);
            best = rec;
            best_runs = runs;
        } else if (rec) {
            nodectl__host_record__free_unpacked(rec, NULL);
        }
    }
    return best;
}

int agent_vm_rules_write(struct agent *a, const struct command_vm_rules *r, char *err,
                         size_t errlen) {
    struct hv_rules_change ch = {.set_pinned = r->set_pinned,
                                 .pinned = r->pinned,
                                 .set_group = r->set_group,
                                 .set_ha = r->set_ha,
                                 .ha = r->ha,
                                 .set_ha_priority = r->set_ha_priority,
                                 .ha_priority = r->ha_priority};
    snprintf(ch.group, sizeof ch.group, "%s", r->group);
    if (hv_set_rules(a->hv, r->vm, &ch, err, errlen) != 0)
        return -1;
    struct command c = {.kind = COMMAND_VM_RULES, .vm_rules = *r};
    char what[COMMAND_VM_MAX + COMMAND_GROUP_MAX + 96];
    command_describe(&c, what, sizeof what);
    log_info("VM %s: placement rules written (%s)", r->vm, what);
    /* The record shows them after a sample: take one now. */
    a->next_sample_ms = agent_clock_ms();
    return 0;
}

Nodectl__Response *agent_vm_set(struct agent *a, const Nodectl__VmSetRequest *req) {
    char why[HV_REASON_MAX + 64] = "out of memory";
    struct command cmd = {.kind = COMMAND_VM_RULES};
    struct command_vm_rules *r = &cmd.vm_rules;
    if (strlen(req->vm) >= sizeof r->vm || strlen(req->group) >= sizeof r->group)
        return control_error_response(NODECTL__ERROR_CODE__ERROR_FAILED,
                                      "the VM's or the group's name is too long");
    snprintf(r->vm, sizeof r->vm, "%s", req->vm);
    snprintf(r->group, sizeof r->group, "%s", req->group);
    r->set_pinned = req->set_pinned;
    r->pinned = req->pinned;
    r->set_group = req->set_group;
    r->set_ha = req->set_ha;
    r->ha = req->ha;
    r->set_ha_priority = req->set_ha_priority;
    r->ha_priority = req->ha_priority;
    Nodectl__HostRecord *host = host_of(a, req->vm);
    if (!host)
        return control_error_response(NODECTL__ERROR_CODE__ERROR_FAILED,
                                      "no live host has a VM of that name");
    bool local = strcmp(host->name, a->cfg.node_name) == 0;
    int rc;
    if (local) {
        rc = agent_vm_rules_write(a, r, why, sizeof why);
    } else {
        agent_operator_command(a, &cmd, host->name);
        rc = agent_command_issue(a, &cmd, host->address, false);
        if (rc != 0)
            snprintf(why, sizeof why, "cannot reach %s at %s", host->name, host->address);
    }
    Nodectl__VmSetReply *body = rc == 0 ? malloc(sizeof *body) : NULL;
    Nodectl__Response *resp = body ? malloc(sizeof *resp) : NULL;
    if (resp) {
        nodectl__vm_set_reply__init(body);
        nodectl__response__init(resp);
        resp->body_case = NODECTL__RESPONSE__BODY_VM_SET;
        resp->vm_set = body;
        body->vm = strdup(req->vm);
        body->host = strdup(host->name);
        body->command_id = strdup(local ? "" : cmd.id);
        if (!body->vm || !body->host || !body->command_id) {
            nodectl__response__free_unpacked(resp, NULL);
            resp = NULL;
        }
    } else {
        free(body);
    }
    nodectl__host_record__free_unpacked(host, NULL);
    return resp ? resp
                : control_error_response(rc == 0 ? NODECTL__ERROR_CODE__ERROR_INTERNAL
                                                 : NODECTL__ERROR_CODE__ERROR_FAILED,
                                         why);
}
