/* Answers to `nodectl` on the control socket: status, members and VMs, all
 * from the membership gossip keeps (this host's own record fresh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"

/* A record standing in for a member whose record has not arrived yet. */
static Nodectl__HostRecord *placeholder(const struct gossip_member_info *m) {
    Nodectl__HostRecord *rec = malloc(sizeof *rec);
    char name[32], addr[TRANSPORT_ADDR_MAX];
    if (!rec)
        return NULL;
    nodectl__host_record__init(rec);
    snprintf(name, sizeof name, "%016llx", (unsigned long long)m->id);
    cluster_format_addr(&m->addr, addr, sizeof addr);
    rec->name = strdup(name);
    rec->address = strdup(addr);
    if (!rec->name || !rec->address) {
        protobuf_c_message_free_unpacked(&rec->base, NULL);
        return NULL;
    }
    return rec;
}

/* Why the leader cannot power an off host on (leader_host_unusable), so
 * that an operator sees it rather than a host that is silently never
 * chosen; NULL when it can, or when the host is not off. */
static char *off_note(const Nodectl__HostRecord *rec, const struct gossip_member_info *m) {
    char why[LEADER_UNUSABLE_MAX], note[LEADER_UNUSABLE_MAX + 40];
    if (m->state != GOSSIP_OFF || !leader_host_unusable(rec, LEADER_HOST_OFF, false, why,
                                                        sizeof why))
        return NULL;
    snprintf(note, sizeof note, "not a power-on candidate: %s", why);
    return strdup(note);
}

static Nodectl__Member *member(struct agent *a, const struct gossip_member_info *m, uint64_t now) {
    Nodectl__Member *mb = malloc(sizeof *mb);
    if (!mb)
        return NULL;
    nodectl__member__init(mb);
    Nodectl__HostRecord *rec = agent_member_record(a, m);
    char *note = rec ? off_note(rec, m) : NULL;
    mb->host = rec ? rec : placeholder(m);
    if (note)
        mb->note = note;
    mb->state = strdup(gossip_state_name(m->state));
    bool leads = mb->host && a->lead.leader[0] && strcmp(mb->host->name, a->lead.leader) == 0;
    mb->role = strdup(leads ? "leader" : mb->host && mb->host->candidate ? "candidate" : "member");
    mb->incarnation = m->incarnation;
    mb->record_version = m->record_version;
    mb->age_ms = now > (uint64_t)m->changed_ms ? now - (uint64_t)m->changed_ms : 0;
    if (!mb->host || !mb->state || !mb->role) {
        protobuf_c_message_free_unpacked(&mb->base, NULL);
        return NULL;
    }
    return mb;
}

static int by_name(const void *x, const void *y) {
    const Nodectl__Member *a = *(Nodectl__Member *const *)x, *b = *(Nodectl__Member *const *)y;
    return strcmp(a->host->name, b->host->name);
}

/* Every member, sorted by name; NULL when out of memory. */
static Nodectl__Member **members(struct agent *a, size_t *n) {
    const struct gossip *g = a->cluster.gossip;
    size_t count = gossip_member_count(g);
    Nodectl__Member **list = calloc(count ? count : 1, sizeof *list);
    uint64_t now = agent_clock_ms();
    *n = 0;
    for (size_t i = 0; list && i < count; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (!(list[*n] = member(a, &m, now))) {
            while (*n)
                protobuf_c_message_free_unpacked(&list[--*n]->base, NULL);
            free(list);
            return NULL;
        }
        (*n)++;
    }
    if (list) {
        qsort(list, *n, sizeof *list, by_name);
        agent_offcheck_mark(list, *n);
        agent_ha_fenced_mark(list, *n);
    }
    return list;
}

Nodectl__Response *agent_response(Nodectl__Response__BodyCase body_case, void *body) {
    Nodectl__Response *resp = malloc(sizeof *resp);
    if (!resp)
        return NULL;
    nodectl__response__init(resp);
    resp->body_case = body_case;
    resp->status = body; /* the oneof members share one pointer */
    return resp;
}

/* Frees a reply under construction: the response with its body, or the
 * body alone if the response could not be made. */
static void reply_free(Nodectl__Response *resp, ProtobufCMessage *body) {
    protobuf_c_message_free_unpacked(resp ? &resp->base : body, NULL);
}

static void members_free(Nodectl__Member **list, size_t n) {
    for (size_t i = 0; list && i < n; i++)
        protobuf_c_message_free_unpacked(&list[i]->base, NULL);
    free(list);
}

/* Appends a component's reasons counted at least once; -1 when out of
 * memory. */
static int add_rejections(void *ctx, const char *component, const struct rejects *r,
                          const char *(*name)(unsigned)) {
    Nodectl__StatusReply *st = ctx;
    for (unsigned i = 0; i < REJECT_REASONS_MAX; i++) {
        if (!r->n[i])
            continue;
        Nodectl__Rejection **grown = realloc(st->rejected, (st->n_rejected + 1) * sizeof *grown);
        if (!grown)
            return -1;
        st->rejected = grown;
        Nodectl__Rejection *x = malloc(sizeof *x);
        if (!x)
            return -1;
        nodectl__rejection__init(x);
        st->rejected[st->n_rejected++] = x;
        x->count = r->n[i];
        if (!(x->component = strdup(component)) || !(x->reason = strdup(name(i))))
            return -1;
    }
    return 0;
}

int agent_status_warn(Nodectl__StatusReply *st, const char *text) {
    char **grown = realloc(st->warnings, (st->n_warnings + 1) * sizeof *grown);
    if (!grown)
        return -1;
    st->warnings = grown;
    if (!(st->warnings[st->n_warnings] = strdup(text)))
        return -1;
    st->n_warnings++;
    return 0;
}

static Nodectl__Response *status_reply(struct agent *a) {
    Nodectl__StatusReply *st = malloc(sizeof *st);
    if (!st)
        return NULL;
    nodectl__status_reply__init(st);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_STATUS, st);
    if (!resp) {
        free(st);
        return NULL;
    }
    st->members = members(a, &st->n_members);
    st->cluster = strdup(a->cfg.cluster_name);
    st->node = strdup(a->cfg.node_name);
    st->node_id.data = malloc(16);
    st->term = a->lead.term;
    st->stale_commands_refused = a->lead.stale_refused;
    const struct election *e = a->lead.election;
    st->role = strdup(!e ? "member (not a candidate)"
                      : a->lead.mismatch ? "not voting (candidate list mismatch)"
                                         : election_role_name(election_role(e)));
    st->disabled = e && election_disabled(e);
    st->lease = a->lead.lease;
    if (a->lead.leader[0])
        st->leader = strdup(a->lead.leader);
    if (a->lead.warning[0] && (st->warnings = calloc(1, sizeof *st->warnings)) &&
        (st->warnings[0] = strdup(a->lead.warning)))
        st->n_warnings = 1;
    if (!st->members || !st->cluster || !st->node || !st->node_id.data || !st->role ||
        !st->leader || (a->lead.warning[0] && !st->n_warnings) ||
        security_to_status(a, st) != 0 || cluster_to_status(a, st) != 0 ||
        agent_rejects_each(a, add_rejections, st) != 0 ||
        agent_policy_warnings(a, st) != 0 || agent_ha_warnings(a, st) != 0) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    memcpy(st->node_id.data, a->id, 16);
    st->node_id.len = 16;
    return resp;
}

static Nodectl__Response *members_reply(struct agent *a) {
    Nodectl__MembersReply *mr = malloc(sizeof *mr);
    if (!mr)
        return NULL;
    nodectl__members_reply__init(mr);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_MEMBERS, mr);
    if (!resp) {
        free(mr);
        return NULL;
    }
    if (!(mr->members = members(a, &mr->n_members)) || !(mr->self = strdup(a->cfg.node_name))) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    struct gossip_config gc;
    cluster_gossip_config(&a->cfg, &gc);
    mr->local_health = gossip_health_score(a->cluster.gossip);
    mr->local_health_max = gc.awareness_max_multiplier - 1;
    mr->loop_late_ms = gossip_late_ms(a->cluster.gossip);
    return resp;
}

/* The VMs of every host that is up: alive, or suspected but not yet dead. */
static Nodectl__Response *vms_reply(struct agent *a) {
    Nodectl__VmsReply *vms = malloc(sizeof *vms);
    if (!vms)
        return NULL;
    nodectl__vms_reply__init(vms);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_VMS, vms);
    if (!resp) {
        free(vms);
        return NULL;
    }
    size_t n;
    Nodectl__Member **list = members(a, &n);
    vms->hosts = calloc(n ? n : 1, sizeof *vms->hosts);
    if (!list || !vms->hosts) {
        members_free(list, n);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        bool up = strcmp(list[i]->state, "alive") == 0 || strcmp(list[i]->state, "suspect") == 0;
        if (up) {
            vms->hosts[vms->n_hosts++] = list[i]->host;
            list[i]->host = NULL;
        }
        protobuf_c_message_free_unpacked(&list[i]->base, NULL);
    }
    free(list);
    return resp;
}

static bool is_up(const Nodectl__Member *m) {
    return strcmp(m->state, "alive") == 0 || strcmp(m->state, "suspect") == 0;
}

/* Checks a migration against what gossip knows, then hands the command to
 * the source host's agent (or runs it here). Fails with a message naming
 * what is wrong: an unknown or stopped VM, a VM already moving, a
 * destination that is unknown, not alive, takes no migrations, is drained
 * or powering off. The source checks again when the command arrives
 * (agent_guard.c), and the destination's hypervisor once more (its gate). */
static Nodectl__Response *migrate(struct agent *a, const Nodectl__MigrateRequest *req,
                                  char *why, size_t len) {
    size_t n;
    Nodectl__Member **list = members(a, &n);
    if (!list)
        return NULL;
    const Nodectl__Member *src = NULL, *dst = NULL;
    const Nodectl__Vm *vm = NULL;
    const Nodectl__Migration *moving = NULL;
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *h = list[i]->host;
        if (strcmp(h->name, req->destination) == 0)
            dst = list[i];
        for (size_t k = 0; is_up(list[i]) && k < h->n_vms; k++)
            if (strcmp(h->vms[k]->name, req->vm) == 0 && (!vm || h->vms[k]->state ==
                                                          NODECTL__VM_STATE__VM_STATE_RUNNING)) {
                vm = h->vms[k];
                src = list[i];
            }
        for (size_t k = 0; is_up(list[i]) && k < h->n_migrations; k++)
            if (strcmp(h->migrations[k]->vm, req->vm) == 0 &&
                report_kind_parse(h->migrations[k]->kind) == REPORT_MIGRATION &&
                report_state_parse(h->migrations[k]->state) == REPORT_RUNNING)
                moving = h->migrations[k];
    }
    Nodectl__Response *resp = NULL;
    if (!vm)
        snprintf(why, len, "VM '%s' is on no live host", req->vm);
    else if (vm->state != NODECTL__VM_STATE__VM_STATE_RUNNING)
        snprintf(why, len, "VM '%s' is not running on %s; only running VMs migrate live", req->vm,
                 src->host->name);
    else if (moving)
        snprintf(why, len, "VM '%s' is already migrating to %s (command %s)", req->vm,
                 moving->destination, moving->id);
    else if (!dst)
        snprintf(why, len, "no host named '%s' in the cluster", req->destination);
    else if (strcmp(dst->state, "alive") != 0)
        snprintf(why, len, "host '%s' is %s, not alive", req->destination, dst->state);
    else if (dst == src)
        snprintf(why, len, "VM '%s' already runs on %s", req->vm, req->destination);
    else if (!dst->host->migration_uri[0])
        snprintf(why, len, "host '%s' takes no migrations: it has no [hypervisor] migration_uri",
                 req->destination);
    else if (dst->host->drain)
        snprintf(why, len, "host '%s' is drained (in maintenance): it takes no VMs until "
                 "'nodectl undrain %s'", req->destination, req->destination);
    else if (agent_record_powering_off(dst->host))
        snprintf(why, len, "host '%s' is powering off", req->destination);
    else if (strlen(req->vm) >= COMMAND_VM_MAX ||
             strlen(dst->host->migration_uri) >= COMMAND_URI_MAX ||
             strlen(dst->host->migration_address) >= COMMAND_URI_MAX)
        snprintf(why, len, "the VM's name or %s's migration URI is too long for a command",
                 req->destination);
    else {
        struct command cmd = {.kind = COMMAND_MIGRATE};
        snprintf(cmd.migrate.vm, sizeof cmd.migrate.vm, "%s", req->vm);
        snprintf(cmd.migrate.destination, sizeof cmd.migrate.destination, "%s",
                 dst->host->name);
        snprintf(cmd.migrate.destination_uri, sizeof cmd.migrate.destination_uri, "%s",
                 dst->host->migration_uri);
        snprintf(cmd.migrate.migration_address, sizeof cmd.migrate.migration_address, "%s",
                 dst->host->migration_address);
        agent_operator_command(a, &cmd, src->host->name);
        bool local = strcmp(src->host->name, a->cfg.node_name) == 0;
        if (agent_command_issue(a, &cmd, src->host->address, local) != 0) {
            snprintf(why, len, "cannot reach %s at %s", src->host->name, src->host->address);
        } else {
            Nodectl__MigrateReply *r = malloc(sizeof *r);
            if (r) {
                nodectl__migrate_reply__init(r);
                resp = agent_response(NODECTL__RESPONSE__BODY_MIGRATE, r);
                r->id = strdup(cmd.id);
                r->source = strdup(src->host->name);
                r->destination = strdup(dst->host->name);
                if (!resp || !r->id || !r->source || !r->destination) {
                    reply_free(resp, &r->base);
                    resp = NULL;
                    snprintf(why, len, "out of memory");
                }
            }
        }
    }
    members_free(list, n);
    return resp;
}

/* Hands leadership over: here if this host leads, else through the leader's
 * agent. */
static Nodectl__Response *leader_transfer(struct agent *a, const char *to, char *why,
                                          size_t len) {
    if (to[0] && !leadership_is_candidate(a, to)) {
        snprintf(why, len, "'%s' is not a candidate", to);
        return NULL;
    } else if (leadership_is_leader(a)) {
        if (leadership_transfer(a, to, why, len) != 0)
            return NULL;
    } else if (!a->lead.leader[0]) {
        snprintf(why, len, "there is no leader to hand over from");
        return NULL;
    } else {
        size_t n;
        Nodectl__Member **list = members(a, &n);
        const char *addr = NULL;
        for (size_t i = 0; list && i < n; i++)
            if (strcmp(list[i]->host->name, a->lead.leader) == 0)
                addr = list[i]->host->address;
        struct command cmd = {.kind = COMMAND_TRANSFER};
        snprintf(cmd.transfer_to, sizeof cmd.transfer_to, "%s", to);
        agent_operator_command(a, &cmd, a->lead.leader);
        int rc = addr ? agent_command_issue(a, &cmd, addr, false) : -1;
        if (rc != 0)
            snprintf(why, len, "cannot reach the leader %s", a->lead.leader);
        members_free(list, n);
        if (rc != 0)
            return NULL;
    }
    Nodectl__LeaderTransferReply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    nodectl__leader_transfer_reply__init(r);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_LEADER_TRANSFER, r);
    r->from = strdup(a->lead.leader[0] ? a->lead.leader : a->cfg.node_name);
    r->to = strdup(to);
    if (!resp || !r->from || !r->to) {
        reply_free(resp, &r->base);
        snprintf(why, len, "out of memory");
        return NULL;
    }
    return resp;
}

/* The last plan: this host's executor's (the caller made sure it leads,
 * agent_forward_request). */
Nodectl__Response *agent_plan_reply(struct agent *a, char *why, size_t len) {
    const struct executor *ex = a->leader.ex;
    if (!executor_leading(ex)) {
        snprintf(why, len, "%s does not lead%s%s", a->cfg.node_name,
                 a->lead.leader[0] ? "; the leader is " : ", and no leader is known yet",
                 a->lead.leader);
        return NULL;
    }
    Nodectl__PlanReply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    nodectl__plan_reply__init(r);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_PLAN, r);
    if (!resp) {
        free(r);
        return NULL;
    }
    size_t n = executor_plan_size(ex);
    r->term = a->lead.term;
    r->actions_total = (uint32_t)n;
    r->planned_at_ms = executor_plan_at(ex);
    r->leader = strdup(a->cfg.node_name);
    r->automation = strdup(config_automation_name(a->cfg.automation));
    r->policy = strdup(a->cfg.policy);
    r->window = strdup(a->leader.window);
    r->note = strdup(a->cfg.automation == CONFIG_AUTOMATION_OFF
                         ? "automation is off: the leader does not plan"
                         : executor_note(ex));
    r->actions = calloc(n ? n : 1, sizeof *r->actions);
    bool failed = !r->leader || !r->automation || !r->policy || !r->note || !r->actions ||
                  !r->window;
    for (size_t i = 0; !failed && i < n; i++) {
        const struct executor_action *x = executor_plan_action(ex, i);
        Nodectl__PlanAction *pa = malloc(sizeof *pa);
        if (!pa) {
            failed = true;
            break;
        }
        nodectl__plan_action__init(pa);
        r->actions[r->n_actions++] = pa;
        pa->index = (uint32_t)i + 1;
        pa->kind = strdup(executor_action_kind_name(x->kind));
        pa->vm = strdup(x->vm);
        pa->source = strdup(x->source);
        pa->host = strdup(x->host);
        pa->reason = strdup(x->reason);
        pa->state = strdup(executor_action_state_name(x->state));
        pa->note = strdup(x->note);
        pa->command_id = strdup(x->command_id);
        pa->after = calloc(x->n_deps ? x->n_deps : 1, sizeof *pa->after);
        failed = !pa->kind || !pa->vm || !pa->source || !pa->host || !pa->reason || !pa->state ||
                 !pa->note || !pa->command_id || !pa->after;
        for (size_t d = 0; !failed && d < x->n_deps; d++)
            pa->after[pa->n_after++] = (uint32_t)x->deps[d] + 1;
    }
    if (failed) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    return resp;
}

/* A replica pull's soft state: the hosts this leader woke lately. */
static int woken_to_reply(struct agent *a, Nodectl__EventsReply *r) {
    struct executor_woken w[FORWARD_WOKEN_MAX];
    size_t n = executor_woken_list(a->leader.ex, w, FORWARD_WOKEN_MAX);
    if (!n)
        return 0;
    if (!(r->woken = calloc(n, sizeof *r->woken)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        Nodectl__WokenHost *h = malloc(sizeof *h);
        if (!h)
            return -1;
        nodectl__woken_host__init(h);
        r->woken[r->n_woken++] = h;
        h->at_ms = w[i].at_wall;
        h->failed = w[i].failed;
        if (!(h->host = strdup(w[i].name)))
            return -1;
    }
    return 0;
}

/* This host's event log after seq req->after, oldest first: the leader's
 * when it leads (with its soft state for a replica pull). */
Nodectl__Response *agent_events_reply(struct agent *a, const Nodectl__EventsRequest *req) {
    const struct leader_events *ev = executor_events(a->leader.ex);
    uint64_t after = req->after;
    Nodectl__EventsReply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    nodectl__events_reply__init(r);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_EVENTS, r);
    r->leader = strdup(a->cfg.node_name);
    if (!r->leader || (req->replica && woken_to_reply(a, r) != 0)) {
        reply_free(resp, &r->base);
        return NULL;
    }
    uint64_t first = leader_events_first(ev);
    if (after + 1 > first)
        first = after + 1;
    size_t n = ev->next_seq > first ? (size_t)(ev->next_seq - first) : 0;
    r->events = calloc(n ? n : 1, sizeof *r->events);
    bool failed = !resp || !r->events;
    for (uint64_t seq = first; !failed && seq < ev->next_seq; seq++) {
        const struct leader_event *e = leader_events_get(ev, seq);
        Nodectl__Event *out = malloc(sizeof *out);
        if (!out) {
            failed = true;
            break;
        }
        nodectl__event__init(out);
        r->events[r->n_events++] = out;
        out->seq = e->seq;
        out->at_ms = e->at_ms;
        failed = !(out->text = strdup(e->text));
    }
    if (failed) {
        reply_free(resp, &r->base);
        return NULL;
    }
    return resp;
}

/* Sets a host's drain flag: here if it is this host, else through that
 * host's agent, which keeps it on disk and publishes it. */
static Nodectl__Response *drain(struct agent *a, const Nodectl__DrainRequest *req, char *why,
                                size_t len) {
    if (strcmp(req->host, a->cfg.node_name) == 0) {
        if (agent_drain_set(a, req->drain, why, len) != 0)
            return NULL;
    } else {
        size_t n;
        Nodectl__Member **list = members(a, &n);
        if (!list)
            return NULL;
        const Nodectl__Member *target = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i]->host->name, req->host) == 0)
                target = list[i];
        int rc = -1;
        if (!target) {
            snprintf(why, len, "no host named '%s' in the cluster", req->host);
        } else if (!is_up(target)) {
            snprintf(why, len, "host '%s' is %s; its agent must run to change its drain flag",
                     req->host, target->state);
        } else {
            struct command cmd = {.kind = COMMAND_DRAIN, .drain = req->drain};
            agent_operator_command(a, &cmd, target->host->name);
            rc = agent_command_issue(a, &cmd, target->host->address, false);
            if (rc != 0)
                snprintf(why, len, "cannot reach %s at %s", req->host, target->host->address);
        }
        members_free(list, n);
        if (rc != 0)
            return NULL;
    }
    Nodectl__DrainReply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    nodectl__drain_reply__init(r);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_DRAIN, r);
    r->drain = req->drain;
    if (!resp || !(r->host = strdup(req->host))) {
        reply_free(resp, &r->base);
        return NULL;
    }
    return resp;
}

const char *agent_check_request(const Nodectl__Request *req, const char **reason) {
    enum message_reject why;
    const char *field = message_check_request(req, &why);
    if (field)
        *reason = message_reject_name(why);
    return field;
}

Nodectl__Response *agent_handle_request(void *ctx, const Nodectl__Request *req) {
    struct agent *a = ctx;
    switch (req->body_case) {
    case NODECTL__REQUEST__BODY_STATUS: return status_reply(a);
    case NODECTL__REQUEST__BODY_VMS: return vms_reply(a);
    case NODECTL__REQUEST__BODY_MEMBERS: return members_reply(a);
    case NODECTL__REQUEST__BODY_MIGRATE: {
        char why[300] = "out of memory";
        Nodectl__Response *resp = migrate(a, req->migrate, why, sizeof why);
        return resp ? resp : control_error_response(NODECTL__ERROR_CODE__ERROR_FAILED, why);
    }
    case NODECTL__REQUEST__BODY_LEADER_TRANSFER: {
        char why[300] = "out of memory";
        Nodectl__Response *resp =
            leader_transfer(a, req->leader_transfer->destination, why, sizeof why);
        return resp ? resp : control_error_response(NODECTL__ERROR_CODE__ERROR_FAILED, why);
    }
    case NODECTL__REQUEST__BODY_PLAN:
    case NODECTL__REQUEST__BODY_EVENTS:
    case NODECTL__REQUEST__BODY_CAPACITY:
    case NODECTL__REQUEST__BODY_CREATE:
    case NODECTL__REQUEST__BODY_HOST_FENCED: return agent_forward_request(a, req);
    case NODECTL__REQUEST__BODY_DRAIN: {
        char why[CONFIG_PATH_MAX + 64] = "out of memory";
        Nodectl__Response *resp = drain(a, req->drain, why, sizeof why);
        return resp ? resp : control_error_response(NODECTL__ERROR_CODE__ERROR_FAILED, why);
    }
    case NODECTL__REQUEST__BODY_KEYS: return agent_keys_request(a, req->keys);
    /* Per-VM placement rules. */
    case NODECTL__REQUEST__BODY_VM_SET: return agent_vm_set(a, req->vm_set);
    default: break;
    }
    return control_error_response(NODECTL__ERROR_CODE__ERROR_UNKNOWN_REQUEST,
                                  "unknown request type");
}
