/* nodectl capacity and create, answered by the leader from the planner's
 * own snapshot (executor_snapshot: the gossiped records with the hosts it
 * woke and those that failed), and the define command on the host it
 * chose (docs/leader.md). The choice is placement_initial's: most free
 * CPU, memory, disk and network (the UNESP rule), power-aware (PABFD), or
 * first fit in name order; running hosts first, then the hosts that are
 * off. The define travels as a command of this leader's term and acts only
 * under its grant (docs/safety.md), like a migration of its plan. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "command/domain_xml.h"
#include "common/log.h"
#include "leader/leader_snapshot.h"
#include "placement/placement_capacity.h"

/* A new VM asks 1 vCPU and 1 GiB when nodectl capacity names no size. */
#define CAPACITY_DEFAULT_KIB (1024ull * 1024)

/* The planner's number of anti-affinity group `name` in snapshot s (the
 * one its VMs carry), or one no VM carries when the group has none yet;
 * 0 for no group. */
static uint32_t group_id(const struct leader_snapshot *s, const char *name) {
    if (!name[0])
        return 0;
    for (size_t v = 0; v < s->snap.n_vms; v++)
        if (s->vms[v].anti_affinity && strcmp(s->vm_rec[v]->group, name) == 0)
            return s->vms[v].anti_affinity;
    return UINT32_MAX;
}

static int by_name(const void *x, const void *y) {
    const struct executor_member *a = x, *b = y;
    return strcmp(a->rec->name, b->rec->name);
}

/* The planner's snapshot now, hosts in name order; -1 when out of memory. */
int agent_create_snapshot(struct agent *a, struct agent_members *mb, struct leader_snapshot *s) {
    if (agent_members_collect(a, mb) != 0)
        return -1;
    qsort(mb->m, mb->n, sizeof *mb->m, by_name);
    if (executor_snapshot(a->leader.ex, mb->m, mb->n, agent_stamp_ms(a), s) != 0) {
        agent_members_free(mb);
        return -1;
    }
    return 0;
}

static Nodectl__CapacityPart *part(const struct placement_capacity_part *p) {
    Nodectl__CapacityPart *out = malloc(sizeof *out);
    if (!out)
        return NULL;
    nodectl__capacity_part__init(out);
    out->vms = p->vms;
    out->hosts = p->hosts;
    out->stopped = calloc(PLACEMENT_RESOURCES, sizeof *out->stopped);
    if (!out->stopped || !(out->tightest = strdup(placement_resource_name(p->tightest)))) {
        protobuf_c_message_free_unpacked(&out->base, NULL);
        return NULL;
    }
    for (int r = PLACEMENT_RES_CPU; r < PLACEMENT_RESOURCES; r++) {
        if (!p->stopped[r])
            continue;
        Nodectl__Counter *c = malloc(sizeof *c);
        if (!c) {
            protobuf_c_message_free_unpacked(&out->base, NULL);
            return NULL;
        }
        nodectl__counter__init(c);
        out->stopped[out->n_stopped++] = c;
        c->value = p->stopped[r];
        if (!(c->name = strdup(placement_resource_name((enum placement_resource)r)))) {
            protobuf_c_message_free_unpacked(&out->base, NULL);
            return NULL;
        }
    }
    return out;
}

static uint64_t mb_of(uint64_t kib) { return (kib + 1023) / 1024; }

Nodectl__Response *agent_capacity_reply(struct agent *a, const Nodectl__CapacityRequest *req,
                                        char *why, size_t len) {
    struct placement_capacity_ask ask = {
        .vcpus = req->vcpus ? req->vcpus : 1,
        .mem_mb = mb_of(req->memory_kib ? req->memory_kib : CAPACITY_DEFAULT_KIB)};
    struct agent_members mb;
    struct leader_snapshot s;
    struct placement_capacity c;
    if (agent_create_snapshot(a, &mb, &s) != 0)
        return NULL;
    ask.group = group_id(&s, req->group);
    int rc = placement_capacity(&s.snap, &a->leader.policy, &ask, &c);
    leader_snapshot_free(&s);
    agent_members_free(&mb);
    if (rc != 0) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    Nodectl__CapacityReply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    nodectl__capacity_reply__init(r);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_CAPACITY, r);
    r->vcpus = ask.vcpus;
    r->memory_kib = ask.mem_mb * 1024;
    r->spare_held = c.spare_held;
    r->cpu_overcommit = a->leader.policy.cpu_overcommit;
    r->leader = strdup(a->cfg.node_name);
    r->on = part(&c.on);
    r->off = part(&c.off);
    if (!resp || !r->leader || !r->on || !r->off) {
        protobuf_c_message_free_unpacked(resp ? &resp->base : &r->base, NULL);
        return NULL;
    }
    return resp;
}

/* Free disk and network of every host, relative to the busiest (records
 * carry throughput, not capacity): 1 for an idle host, 0 for the busiest. */
static void io_free(const struct leader_snapshot *s, double *disk, double *net) {
    double dmax = 0, nmax = 0;
    for (size_t h = 0; h < s->snap.n_hosts; h++) {
        const Nodectl__Usage *u = s->host_rec[h]->usage;
        disk[h] = u ? u->disk_read_bps + u->disk_write_bps : 0;
        net[h] = u ? u->net_rx_bps + u->net_tx_bps : 0;
        dmax = disk[h] > dmax ? disk[h] : dmax;
        nmax = net[h] > nmax ? net[h] : nmax;
    }
    for (size_t h = 0; h < s->snap.n_hosts; h++) {
        disk[h] = dmax > 0 ? 1 - disk[h] / dmax : 1;
        net[h] = nmax > 0 ? 1 - net[h] / nmax : 1;
    }
}

static int policy_kind(const char *name, enum placement_initial_kind *k) {
    if (!name[0] || strcmp(name, "most-free") == 0)
        *k = PLACEMENT_INITIAL_MOST_FREE;
    else if (strcmp(name, "power-aware") == 0)
        *k = PLACEMENT_INITIAL_POWER_AWARE;
    else if (strcmp(name, "first-fit") == 0)
        *k = PLACEMENT_INITIAL_FIRST_FIT;
    else
        return -1;
    return 0;
}

/* Why no host can take the VM: what stops each host, running and off. */
static void explain_refusal(struct agent *a, const struct leader_snapshot *s,
                            const struct domain_spec *d, const char *policy, char *why,
                            size_t len) {
    struct placement_capacity_ask ask = {d->vcpus, mb_of(d->memory_kib), 0};
    struct placement_capacity c;
    int o = snprintf(why, len, "no host can take %s (%u vCPU%s, %" PRIu64 " MiB)", d->name,
                     d->vcpus, d->vcpus == 1 ? "" : "s", ask.mem_mb);
    if (o < 0 || (size_t)o >= len || placement_capacity(&s->snap, &a->leader.policy, &ask, &c))
        return;
    if (c.on.vms || c.off.vms) {
        snprintf(why + o, len - (size_t)o, ": %u running host(s) have room, but %s placement "
                 "would overload each", c.on.hosts, policy);
        return;
    }
    const struct placement_capacity_part *parts[2] = {&c.on, &c.off};
    const char *label[2] = {"running hosts", "hosts off"};
    for (int p = 0; p < 2; p++) {
        if (!parts[p]->hosts)
            continue;
        o += snprintf(why + o, len - (size_t)o, "%s %s:", p ? ";" : ":", label[p]);
        bool first = true;
        for (int r = PLACEMENT_RES_CPU; r < PLACEMENT_RESOURCES && (size_t)o < len; r++) {
            if (!parts[p]->stopped[r])
                continue;
            o += snprintf(why + o, len - (size_t)o, "%s %s short on %u", first ? "" : ",",
                          placement_resource_name((enum placement_resource)r),
                          parts[p]->stopped[r]);
            first = false;
        }
        if ((size_t)o >= len)
            return;
    }
    if (c.spare_held && (size_t)o < len)
        snprintf(why + o, len - (size_t)o, " (%u idle spare host(s) held back)", c.spare_held);
}

/* Why the chosen host, in words an operator checks against nodectl status. */
static void explain_choice(const struct leader_snapshot *s, uint32_t h,
                           enum placement_initial_kind kind, char *out, size_t len) {
    const Nodectl__HostRecord *r = s->host_rec[h];
    const struct placement_host *ph = &s->snap.hosts[h];
    double cpu_free = r->usage ? 100 - r->usage->cpu_percent : 100;
    double mem_free = r->capacity && r->capacity->memory_kib && r->usage
                          ? 100.0 * (double)(r->capacity->memory_kib - r->usage->memory_used_kib) /
                                (double)r->capacity->memory_kib
                          : 100;
    const char *rule = kind == PLACEMENT_INITIAL_MOST_FREE ? "most free resources (CPU, memory, "
                                                             "disk, network weighed equally)"
                       : kind == PLACEMENT_INITIAL_POWER_AWARE ? "least increase of power draw "
                                                                 "(PABFD)"
                                                               : "first host by name with room";
    snprintf(out, len, "%s%s: %u CPUs, %.0f%% CPU free, %.0f%% memory free", rule,
             ph->power_state == PLACEMENT_HOST_OFF ? "; no running host has room, and this one "
                                                     "is off"
                                                   : "",
             ph->cores, cpu_free, mem_free);
}

/* A domain of that name anywhere the records show; its host, or NULL. */
static const char *domain_host(const struct agent_members *mb, const char *name) {
    for (size_t i = 0; i < mb->n; i++)
        for (size_t k = 0; k < mb->m[i].rec->n_vms; k++)
            if (strcmp(mb->m[i].rec->vms[k]->name, name) == 0)
                return mb->m[i].rec->name;
    return NULL;
}

/* Chooses the host: its index, or -1 with why. */
static int choose(struct agent *a, struct leader_snapshot *s, const struct domain_spec *d,
                  enum placement_initial_kind kind, const char *policy, char *why, size_t len) {
    double core_mips = 0;
    for (size_t h = 0; h < s->snap.n_hosts; h++) {
        /* A new VM is defined, not migrated: taking no migrations is no
         * reason to refuse it. */
        s->hosts[h].flags &= ~(unsigned)PLACEMENT_HOST_NO_INBOUND;
        if (!(s->hosts[h].flags & PLACEMENT_HOST_FAILED) &&
            (!core_mips || s->hosts[h].core_mips < core_mips))
            core_mips = s->hosts[h].core_mips;
    }
    static const double full = 1; /* a new VM is counted at its full size */
    struct placement_vm vm = {
        .vcpus = d->vcpus,
        .mips = d->vcpus * (core_mips ? core_mips : 1000),
        .mem_mb = mb_of(d->memory_kib),
        .history = &full,
        .history_len = 1,
        .last_migrated_at = -1e300,
    };
    vm.cpu_mips = vm.mips;
    size_t n = s->snap.n_hosts ? s->snap.n_hosts : 1;
    double *disk = malloc(n * sizeof *disk), *net = malloc(n * sizeof *net);
    if (!disk || !net) {
        free(disk);
        free(net);
        snprintf(why, len, "out of memory");
        return -1;
    }
    io_free(s, disk, net);
    struct placement_initial_weights w = {0.25, 0.25, 0.25, 0.25};
    struct placement_initial_extra x = {disk, net};
    uint32_t cursor = 0;
    int h = placement_initial(&s->snap, &a->leader.policy, &vm, kind, &w, &x, &cursor,
                              &a->leader.rng);
    free(disk);
    free(net);
    if (h < 0)
        explain_refusal(a, s, d, policy, why, len);
    return h;
}

int agent_create_choose(struct agent *a, struct leader_snapshot *s, const struct domain_spec *d,
                        char *why, size_t len) {
    return choose(a, s, d, PLACEMENT_INITIAL_MOST_FREE, "most-free", why, len);
}

Nodectl__Response *agent_create_reply(struct agent *a, const Nodectl__CreateRequest *req,
                                      char *why, size_t len) {
    struct domain_spec d;
    enum placement_initial_kind kind;
    size_t xml_len;
    char *xml = malloc(COMMAND_XML_MAX);
    if (!xml) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    int bad = domain_xml_inflate(req->xml_deflated.data, req->xml_deflated.len, xml, &xml_len,
                                 why, len) != 0 ||
              domain_xml_parse(xml, xml_len, &d, why, len) != 0;
    free(xml);
    if (bad)
        return NULL;
    if (policy_kind(req->policy, &kind) != 0) {
        snprintf(why, len, "unknown placement policy '%s' (most-free, power-aware, first-fit)",
                 req->policy);
        return NULL;
    }
    const char *policy = req->policy[0] ? req->policy : "most-free";
    struct agent_members mb;
    struct leader_snapshot s;
    if (agent_create_snapshot(a, &mb, &s) != 0)
        return NULL;
    Nodectl__Response *resp = NULL;
    const char *there = domain_host(&mb, d.name);
    int h = there ? -1 : choose(a, &s, &d, kind, policy, why, len);
    if (there)
        snprintf(why, len, "a domain named '%s' is already on %s", d.name, there);
    Nodectl__CreateReply *r = h < 0 ? NULL : malloc(sizeof *r);
    if (r) {
        nodectl__create_reply__init(r);
        resp = agent_response(NODECTL__RESPONSE__BODY_CREATE, r);
        const Nodectl__HostRecord *host = s.host_rec[h];
        char reason[PLACEMENT_REASON_MAX + 160];
        explain_choice(&s, (uint32_t)h, kind, reason, sizeof reason);
        r->wake = s.snap.hosts[h].power_state == PLACEMENT_HOST_OFF;
        struct command cmd = {.kind = COMMAND_DEFINE};
        bool issue = !req->dry_run;
        if (issue) {
            snprintf(cmd.define.name, sizeof cmd.define.name, "%s", d.name);
            /* message_check_request bounds it by the command's room. */
            memcpy(cmd.define.xmlz, req->xml_deflated.data, req->xml_deflated.len);
            cmd.define.xmlz_len = req->xml_deflated.len;
            cmd.define.start = req->start;
            bool local = strcmp(host->name, a->cfg.node_name) == 0;
            /* A host that is off is woken first, as the planner wakes one
             * for load; the define follows once it is alive. */
            bool ok = r->wake ? executor_create_after_wake(a->leader.ex, &cmd, host->name,
                                                           agent_clock_ms(),
                                                           agent_stamp_ms(a), why, len)
                              : executor_issue(a->leader.ex, &cmd, host->name, host->address,
                                               local, agent_clock_ms());
            if (!ok) {
                if (!r->wake)
                    snprintf(why, len, "%s cannot issue commands now (no lease); try again",
                             a->cfg.node_name);
                protobuf_c_message_free_unpacked(resp ? &resp->base : &r->base, NULL);
                resp = NULL;
                r = NULL;
            } else if (r->wake) {
                r->wake_wait_ms = a->cfg.power_on_timeout_ms;
            } else {
                agent_leader_send(a);
                char text[COMMAND_VM_MAX + COMMAND_NAME_MAX + COMMAND_ID_MAX + sizeof reason + 32];
                snprintf(text, sizeof text, "create: %s on %s (command %s): %s", d.name,
                         host->name, cmd.id, reason);
                executor_event(a->leader.ex, agent_stamp_ms(a), text);
            }
        }
        if (r) {
            r->leader = strdup(a->cfg.node_name);
            r->vm = strdup(d.name);
            r->host = strdup(host->name);
            r->reason = strdup(reason);
            r->command_id = strdup(issue ? cmd.id : "");
            if (!resp || !r->leader || !r->vm || !r->host || !r->reason || !r->command_id) {
                protobuf_c_message_free_unpacked(resp ? &resp->base : &r->base, NULL);
                resp = NULL;
                snprintf(why, len, "out of memory");
            }
        }
    }
    leader_snapshot_free(&s);
    agent_members_free(&mb);
    return resp;
}

void agent_define(struct agent *a, const struct command *c, struct action *x,
                  uint64_t deadline) {
    struct domain_spec d;
    size_t xml_len;
    char *xml = malloc(COMMAND_XML_MAX);
    x->state = ACTION_REFUSED;
    x->ended_ms = x->started_ms;
    if (!xml) {
        snprintf(x->error, sizeof x->error, "out of memory");
    } else if (a->drain && !c->define.in_place) {
        /* A VM defined here is not new: started in place, the drain then
         * moves it like the others (elsewhere at once, a start here by
         * someone else would make it run twice). */
        snprintf(x->error, sizeof x->error, "this host is drained: it takes no new VM");
    } else if (agent_powering_off(a) || a->gate == HOST_GATE_CLOSED) {
        snprintf(x->error, sizeof x->error, "this host is powering off");
    } else if (c->define.in_place) {
        /* A protected guest starts only under this host's run lease, once
         * it has reconciled (the qemu hook's gate says the same); libvirt
         * says in the thread whether it is here and protected. */
        if (host_ha_may_start(a->ha.state, a->fence.lease && agent_fence_holds(a), x->error,
                              sizeof x->error) &&
            hv_start_defined(a->hv, x->id, c->define.name, deadline, x->error,
                             sizeof x->error) == 0) {
            x->state = ACTION_RUNNING;
            x->ended_ms = 0;
        }
    } else if (domain_xml_inflate(c->define.xmlz, c->define.xmlz_len, xml, &xml_len, x->error,
                                  sizeof x->error) != 0 ||
               domain_xml_parse(xml, xml_len, &d, x->error, sizeof x->error) != 0) {
        /* checked by the leader too; this host believes no one */
    } else if (strcmp(d.name, c->define.name) != 0) {
        snprintf(x->error, sizeof x->error, "the XML names '%.100s', the command '%.100s'", d.name,
                 c->define.name);
    } else if (hv_define_start(a->hv, x->id, d.name, xml, c->define.start, deadline, x->error,
                               sizeof x->error) == 0) {
        /* agent_actions_refresh ends it when the thread has. */
        x->state = ACTION_RUNNING;
        x->ended_ms = 0;
    }
    free(xml);
    if (x->state != ACTION_RUNNING)
        log_warn("command %s: define %s refused: %s", c->id, c->define.name, x->error);
}
