#include "host_checks.h"

#include <stdio.h>
#include <string.h>

const char *host_refusal_name(enum host_refusal r) {
    switch (r) {
    case HOST_OK: return "ok";
    case HOST_REFUSE_STALE_TERM: return "stale-term";
    case HOST_REFUSE_DEST_UNKNOWN: return "destination-unknown";
    case HOST_REFUSE_DEST_SELF: return "destination-self";
    case HOST_REFUSE_DEST_NOT_ALIVE: return "destination-not-alive";
    case HOST_REFUSE_DEST_OFF: return "destination-off";
    case HOST_REFUSE_DEST_POWERING_OFF: return "destination-powering-off";
    case HOST_REFUSE_DEST_DRAINING: return "destination-draining";
    case HOST_REFUSE_DEST_URI: return "destination-uri";
    case HOST_REFUSE_HV_UNAVAILABLE: return "hypervisor-unavailable";
    case HOST_REFUSE_VM_ABSENT: return "vm-absent";
    case HOST_REFUSE_VM_NOT_RUNNING: return "vm-not-running";
    case HOST_REFUSE_VM_MIGRATING: return "vm-migrating";
    case HOST_REFUSE_VM_BUSY: return "vm-busy";
    case HOST_REFUSE_VM_LEFTOVER: return "vm-leftover";
    case HOST_REFUSE_DOMAINS_ACTIVE: return "domains-active";
    case HOST_REFUSE_MIGRATION_JOB: return "migration-job";
    }
    return "unknown";
}

static const char *peer_state_name(enum host_peer_state s) {
    switch (s) {
    case HOST_PEER_UNKNOWN: return "unknown";
    case HOST_PEER_ALIVE: return "alive";
    case HOST_PEER_SUSPECT: return "suspect";
    case HOST_PEER_DEAD: return "dead";
    case HOST_PEER_LEFT: return "left";
    case HOST_PEER_OFF: return "off";
    }
    return "unknown";
}

static const char *text(const char *s) { return s ? s : ""; }

enum host_refusal host_migrate_peer_check(uint64_t cmd_term, uint64_t known_term,
                                          const struct host_peer *dest, const char *cmd_dest_uri,
                                          char *why, size_t len) {
    const char *name = text(dest->name);
    if (cmd_term < known_term) {
        snprintf(why, len, "the command's term %llu is older than term %llu known here",
                 (unsigned long long)cmd_term, (unsigned long long)known_term);
        return HOST_REFUSE_STALE_TERM;
    }
    if (dest->state == HOST_PEER_UNKNOWN) {
        snprintf(why, len, "destination '%s' is not a member this host knows", name);
        return HOST_REFUSE_DEST_UNKNOWN;
    }
    if (dest->self && strcmp(dest->self, name) == 0) {
        snprintf(why, len, "destination '%s' is this host", name);
        return HOST_REFUSE_DEST_SELF;
    }
    if (dest->state == HOST_PEER_OFF) {
        snprintf(why, len, "destination '%s' is off", name);
        return HOST_REFUSE_DEST_OFF;
    }
    if (dest->state != HOST_PEER_ALIVE) {
        snprintf(why, len, "destination '%s' is %s, not alive", name,
                 peer_state_name(dest->state));
        return HOST_REFUSE_DEST_NOT_ALIVE;
    }
    if (dest->powering_off) {
        snprintf(why, len, "destination '%s' is powering off", name);
        return HOST_REFUSE_DEST_POWERING_OFF;
    }
    if (dest->drain) {
        snprintf(why, len, "destination '%s' is drained (in maintenance)", name);
        return HOST_REFUSE_DEST_DRAINING;
    }
    const char *uri = text(dest->migration_uri);
    if (!uri[0] || strcmp(uri, text(cmd_dest_uri)) != 0) {
        if (uri[0])
            snprintf(why, len, "destination '%s' takes migrations at %s, not at %s", name, uri,
                     text(cmd_dest_uri));
        else
            snprintf(why, len, "destination '%s' takes no migrations", name);
        return HOST_REFUSE_DEST_URI;
    }
    return HOST_OK;
}

enum host_refusal host_migrate_vm_check(const struct hv_domain_now *dom, const char *vm,
                                        char *why, size_t len) {
    if (!dom) {
        snprintf(why, len, "VM '%s' is not on this host", vm);
        return HOST_REFUSE_VM_ABSENT;
    }
    if (!dom->active || (dom->state != HV_VM_RUNNING && dom->state != HV_VM_BLOCKED &&
                         dom->state != HV_VM_PAUSED)) {
        snprintf(why, len, "VM '%s' is not running (%s); only running VMs migrate live", vm,
                 hv_vm_state_name(dom->state));
        return HOST_REFUSE_VM_NOT_RUNNING;
    }
    if (dom->job == HV_JOB_MIGRATION_OUT || dom->job == HV_JOB_MIGRATION_IN) {
        snprintf(why, len, "VM '%s' is already migrating (%s)", vm, hv_job_name(dom->job));
        return HOST_REFUSE_VM_MIGRATING;
    }
    if (dom->job != HV_JOB_NONE) {
        snprintf(why, len, "VM '%s' is busy: %s", vm, hv_job_name(dom->job));
        return HOST_REFUSE_VM_BUSY;
    }
    return HOST_OK;
}

/* "a, b, c" (and "and N more") of the domains `pick` selects. */
static void list_names(const struct hv_fresh *v, int (*pick)(const struct hv_domain_now *),
                       char *out, size_t len) {
    size_t used = 0, shown = 0, more = 0;
    out[0] = '\0';
    for (size_t i = 0; i < v->n; i++) {
        if (!pick(&v->doms[i]))
            continue;
        size_t need = strlen(v->doms[i].name) + (shown ? 2 : 0);
        if (used + need + 1 > len || shown == 8) {
            more++;
            continue;
        }
        used += (size_t)snprintf(out + used, len - used, "%s%s", shown ? ", " : "",
                                 v->doms[i].name);
        shown++;
    }
    if (more && used < len)
        snprintf(out + used, len - used, " and %zu more", more);
}

static int is_active(const struct hv_domain_now *d) { return d->active; }
static int is_migrating(const struct hv_domain_now *d) {
    return d->job == HV_JOB_MIGRATION_OUT || d->job == HV_JOB_MIGRATION_IN;
}

enum host_refusal host_power_off_check(const struct hv_fresh *view, char *why, size_t len) {
    char names[160];
    if (!view->available) {
        snprintf(why, len, "the hypervisor is unavailable (%s): cannot tell whether VMs run here",
                 view->reason);
        return HOST_REFUSE_HV_UNAVAILABLE;
    }
    list_names(view, is_migrating, names, sizeof names);
    if (names[0]) {
        snprintf(why, len, "a migration runs from or to this host: %s", names);
        return HOST_REFUSE_MIGRATION_JOB;
    }
    list_names(view, is_active, names, sizeof names);
    if (names[0]) {
        snprintf(why, len, "VMs run here: %s", names);
        return HOST_REFUSE_DOMAINS_ACTIVE;
    }
    return HOST_OK;
}
