/* The leader's view from any host (docs/leader.md): `nodectl plan`,
 * `events`, `capacity` and `create` asked on a host that does not lead are
 * forwarded to the leader over the cluster transport (channel
 * CHANNEL_FORWARD, proto/forward.proto) and answered when its answer comes;
 * the control socket's reply waits meanwhile (control_server_defer), the
 * agent's loop never does. Every candidate also copies the leader's event
 * log and soft state (the hosts it woke) once a second, with the same
 * request, so that whichever candidate leads next takes them over
 * (executor_takeover) and `nodectl events` after a failover still shows
 * what happened before it.
 *
 * Bounds: one request and one answer per frame (TRANSPORT_PAYLOAD_MAX);
 * the leader cuts a long answer (events, plan actions) and says so, and
 * the asker asks again for the rest. At most FORWARD_PENDING_MAX requests
 * wait at once, each at most FORWARD_TIMEOUT_MS. Who may ask: any member
 * whose frame authenticated; a change (create) was authorized by the
 * control socket of the host it was typed on, as the operator's commands
 * are (docs/security.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"
#include "forward.pb-c.h"

/* How long an asker waits for the leader's answer. */
#define FORWARD_TIMEOUT_MS 3000
/* How often a candidate copies the leader's log when it has it all. */
#define REPLICA_INTERVAL_MS 1000
/* The most a request or an answer carries inside its frame. */
#define FORWARD_BODY_MAX (TRANSPORT_PAYLOAD_MAX - 32)

static Nodectl__Response *failed(const char *why) {
    return control_error_response(NODECTL__ERROR_CODE__ERROR_FAILED, why);
}

/* The leader's answer to req, as this host leads. */
static Nodectl__Response *answer_here(struct agent *a, const Nodectl__Request *req) {
    char why[512] = "out of memory";
    Nodectl__Response *resp = NULL;
    switch (req->body_case) {
    case NODECTL__REQUEST__BODY_PLAN: resp = agent_plan_reply(a, why, sizeof why); break;
    case NODECTL__REQUEST__BODY_EVENTS: resp = agent_events_reply(a, req->events); break;
    case NODECTL__REQUEST__BODY_CAPACITY:
        resp = agent_capacity_reply(a, req->capacity, why, sizeof why);
        break;
    case NODECTL__REQUEST__BODY_CREATE:
        resp = agent_create_reply(a, req->create, why, sizeof why);
        break;
    case NODECTL__REQUEST__BODY_HOST_FENCED:
        resp = agent_host_fenced_reply(a, req->host_fenced, why, sizeof why);
        break;
    default: snprintf(why, sizeof why, "this request is not forwarded to the leader"); break;
    }
    return resp ? resp : failed(why);
}

/* Cuts an answer to what one frame carries: the newest events (asked for
 * again after the last one sent), the last plan actions (the reply says
 * how many there are); anything else that does not fit is an error. */
static Nodectl__Response *fit(Nodectl__Response *resp) {
    while (nodectl__response__get_packed_size(resp) > FORWARD_BODY_MAX) {
        if (resp->body_case == NODECTL__RESPONSE__BODY_EVENTS && resp->events->n_events) {
            Nodectl__EventsReply *r = resp->events;
            size_t drop = r->n_events > 8 ? r->n_events / 4 : 1;
            while (drop--)
                protobuf_c_message_free_unpacked(&r->events[--r->n_events]->base, NULL);
            r->more = true;
        } else if (resp->body_case == NODECTL__RESPONSE__BODY_PLAN && resp->plan->n_actions) {
            Nodectl__PlanReply *r = resp->plan;
            protobuf_c_message_free_unpacked(&r->actions[--r->n_actions]->base, NULL);
        } else {
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            return control_error_response(NODECTL__ERROR_CODE__ERROR_TOO_LARGE,
                                          "the leader's answer does not fit one frame");
        }
    }
    return resp;
}

static int send_msg(struct agent *a, const char *to, const Nodectl__ForwardMsg *m) {
    size_t len = nodectl__forward_msg__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    nodectl__forward_msg__pack(m, buf);
    int rc = transport_send(a->cluster.transport, to, CHANNEL_FORWARD, buf, len);
    free(buf);
    return rc;
}

/* The leader's address from its record; NULL when gossip has none. */
static Nodectl__HostRecord *leader_record(struct agent *a) {
    return a->lead.leader[0] ? agent_record_named(a, a->lead.leader) : NULL;
}

/* Sends req to the leader; the pending entry's id, or 0 with why. */
static uint64_t ask_leader(struct agent *a, const Nodectl__Request *req, uint64_t token,
                           char *why, size_t len) {
    struct forward_state *f = &a->forward;
    struct forward_pending *p = NULL;
    for (size_t i = 0; i < FORWARD_PENDING_MAX && !p; i++)
        if (!f->pending[i].used)
            p = &f->pending[i];
    if (!p) {
        snprintf(why, len, "%d requests already wait for the leader; try again",
                 FORWARD_PENDING_MAX);
        return 0;
    }
    size_t n = nodectl__request__get_packed_size(req);
    if (n > FORWARD_BODY_MAX) {
        snprintf(why, len, "the request is %zu bytes; at most %d are forwarded", n,
                 FORWARD_BODY_MAX);
        return 0;
    }
    Nodectl__HostRecord *rec = leader_record(a);
    if (!rec) {
        snprintf(why, len, "the leader %s has no record here yet", a->lead.leader);
        return 0;
    }
    uint8_t *body = malloc(n ? n : 1);
    int rc = -1;
    Nodectl__ForwardMsg m = NODECTL__FORWARD_MSG__INIT;
    Nodectl__ForwardAsk ask = NODECTL__FORWARD_ASK__INIT;
    if (body) {
        nodectl__request__pack(req, body);
        m.body_case = NODECTL__FORWARD_MSG__BODY_ASK;
        m.ask = &ask;
        ask.id = ++f->next_id;
        ask.request = (ProtobufCBinaryData){n, body};
        rc = send_msg(a, rec->address, &m);
    }
    if (rc != 0) {
        snprintf(why, len, "cannot reach the leader %s at %s", rec->name, rec->address);
    } else {
        *p = (struct forward_pending){.used = true, .id = ask.id, .token = token,
                                      .deadline = agent_clock_ms() + FORWARD_TIMEOUT_MS};
        snprintf(p->to, sizeof p->to, "%s", rec->name);
    }
    free(body);
    nodectl__host_record__free_unpacked(rec, NULL);
    return rc == 0 ? ask.id : 0;
}

Nodectl__Response *agent_forward_request(struct agent *a, const Nodectl__Request *req) {
    if (executor_leading(a->leader.ex))
        return answer_here(a, req);
    bool leader = a->lead.leader[0] && strcmp(a->lead.leader, a->cfg.node_name) != 0;
    if (!leader) {
        /* The events this host saw itself are better than nothing. */
        if (req->body_case == NODECTL__REQUEST__BODY_EVENTS)
            return agent_events_reply(a, req->events);
        return failed(a->lead.leader[0] ? "this host is the leader but holds no lease at the "
                                          "moment; try again"
                                        : "no leader is known yet; try again once one is elected");
    }
    uint64_t token = control_server_defer(a->ctl);
    char why[256];
    if (!token)
        return failed("too many requests wait for the leader; try again");
    if (!ask_leader(a, req, token, why, sizeof why)) {
        control_server_reply(a->ctl, token, failed(why));
        return CONTROL_DEFERRED;
    }
    return CONTROL_DEFERRED;
}

static void refuse_frame(struct agent *a, const struct frame_msg *msg, const char *what) {
    struct cluster *c = &a->cluster;
    reject_count(&c->command_rejects, MESSAGE_REJECT_MALFORMED);
    reject_log_new(&c->command_log, &c->command_rejects, msg->sender, what);
}

/* A member asks this host, as the leader. */
static void on_ask(struct agent *a, const struct frame_msg *msg, const Nodectl__ForwardAsk *ask) {
    enum control_reject why;
    const char *reason, *field;
    Nodectl__Response *resp;
    Nodectl__Request *req = control_request_decode(ask->request.data, ask->request.len, &why);
    if (!req) {
        refuse_frame(a, msg, "a forwarded request that does not decode");
        resp = control_error_response(NODECTL__ERROR_CODE__ERROR_MALFORMED,
                                      control_reject_name(why));
    } else if ((field = agent_check_request(req, &reason))) {
        refuse_frame(a, msg, "a forwarded request with a field out of bounds");
        char text[160];
        snprintf(text, sizeof text, "request field %s: %s", field, reason);
        resp = control_error_response(NODECTL__ERROR_CODE__ERROR_MALFORMED, text);
    } else if (!executor_leading(a->leader.ex)) {
        char text[256];
        snprintf(text, sizeof text, "%s does not lead any more%s%s", a->cfg.node_name,
                 a->lead.leader[0] ? "; the leader is " : "", a->lead.leader);
        resp = failed(text);
    } else {
        if (req->body_case == NODECTL__REQUEST__BODY_CREATE && !req->create->dry_run)
            log_info("create asked by %s (forwarded)", msg->sender);
        if (req->body_case == NODECTL__REQUEST__BODY_HOST_FENCED)
            log_info("host fenced %s asked by %s (forwarded)", req->host_fenced->host,
                     msg->sender);
        resp = answer_here(a, req);
    }
    if (req)
        nodectl__request__free_unpacked(req, NULL);
    if (!resp)
        return;
    resp = fit(resp);
    if (!resp)
        return;
    size_t n = nodectl__response__get_packed_size(resp);
    uint8_t *body = malloc(n ? n : 1);
    if (body) {
        nodectl__response__pack(resp, body);
        Nodectl__ForwardMsg m = NODECTL__FORWARD_MSG__INIT;
        Nodectl__ForwardAnswer ans = NODECTL__FORWARD_ANSWER__INIT;
        m.body_case = NODECTL__FORWARD_MSG__BODY_ANSWER;
        m.answer = &ans;
        ans.id = ask->id;
        ans.response = (ProtobufCBinaryData){n, body};
        if (send_msg(a, msg->from, &m) != 0)
            log_warn("forward: cannot answer %s at %s", msg->sender, msg->from);
    }
    free(body);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* A candidate's copy: the leader's log after what it has, and the hosts it
 * woke. A leader other than the one copied starts the copy afresh (its log
 * holds its predecessor's, executor_takeover). */
static void replica(struct agent *a, const char *sender, const Nodectl__EventsReply *r) {
    struct forward_state *f = &a->forward;
    if (strcmp(f->mirror_leader, sender) != 0) {
        leader_events_init(&f->mirror);
        snprintf(f->mirror_leader, sizeof f->mirror_leader, "%s", sender);
        f->mirror_after = 0;
        f->n_woken = 0;
    }
    for (size_t i = 0; i < r->n_events; i++) {
        const Nodectl__Event *e = r->events[i];
        if (e->seq <= f->mirror_after)
            continue;
        leader_events_add(&f->mirror, e->at_ms, "%s", e->text);
        f->mirror_after = e->seq;
    }
    f->n_woken = 0;
    for (size_t i = 0; i < r->n_woken && f->n_woken < FORWARD_WOKEN_MAX; i++) {
        struct executor_woken *w = &f->woken[f->n_woken++];
        snprintf(w->name, sizeof w->name, "%s", r->woken[i]->host);
        w->at_wall = r->woken[i]->at_ms;
        w->failed = r->woken[i]->failed;
    }
    /* More than one frame held: the rest at once. */
    f->next_pull_ms = r->more ? agent_clock_ms() : agent_clock_ms() + REPLICA_INTERVAL_MS;
}

static void on_answer(struct agent *a, const struct frame_msg *msg,
                      const Nodectl__ForwardAnswer *ans) {
    struct forward_state *f = &a->forward;
    struct forward_pending *p = NULL;
    for (size_t i = 0; i < FORWARD_PENDING_MAX && !p; i++)
        if (f->pending[i].used && f->pending[i].id == ans->id)
            p = &f->pending[i];
    /* Only the leader asked may answer; a late or foreign answer is
     * dropped. */
    if (!p || strcmp(p->to, msg->sender) != 0) {
        log_debug("forward: an answer from %s that matches no request; dropped", msg->sender);
        return;
    }
    p->used = false;
    Nodectl__Response *resp = nodectl__response__unpack(NULL, ans->response.len,
                                                        ans->response.data);
    if (!resp) {
        refuse_frame(a, msg, "a forwarded answer that does not decode");
        resp = failed("the leader's answer does not decode");
    }
    if (!p->token) {
        if (resp->body_case == NODECTL__RESPONSE__BODY_EVENTS)
            replica(a, msg->sender, resp->events);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return;
    }
    control_server_reply(a->ctl, p->token, resp);
}

void agent_forward_frame(struct agent *a, const struct frame_msg *msg) {
    Nodectl__ForwardMsg *m = nodectl__forward_msg__unpack(NULL, msg->len, msg->payload);
    if (!m || m->body_case == NODECTL__FORWARD_MSG__BODY__NOT_SET) {
        refuse_frame(a, msg, "a forward frame that does not decode");
    } else if (m->body_case == NODECTL__FORWARD_MSG__BODY_ASK) {
        on_ask(a, msg, m->ask);
    } else {
        on_answer(a, msg, m->answer);
    }
    if (m)
        nodectl__forward_msg__free_unpacked(m, NULL);
}

/* A candidate that follows a leader copies its log and soft state. */
static void pull(struct agent *a, uint64_t now) {
    struct forward_state *f = &a->forward;
    if (now < f->next_pull_ms)
        return;
    f->next_pull_ms = now + REPLICA_INTERVAL_MS;
    if (!a->lead.election || executor_leading(a->leader.ex) || !a->lead.leader[0] ||
        strcmp(a->lead.leader, a->cfg.node_name) == 0)
        return;
    for (size_t i = 0; i < FORWARD_PENDING_MAX; i++)
        if (f->pending[i].used && !f->pending[i].token)
            return; /* one pull at a time */
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__EventsRequest ev = NODECTL__EVENTS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_EVENTS;
    req.events = &ev;
    ev.replica = true;
    ev.after = strcmp(f->mirror_leader, a->lead.leader) == 0 ? f->mirror_after : 0;
    char why[256];
    if (!ask_leader(a, &req, 0, why, sizeof why))
        log_debug("forward: no copy of the leader's log this time: %s", why);
}

void agent_forward_run(struct agent *a, uint64_t now) {
    struct forward_state *f = &a->forward;
    for (size_t i = 0; i < FORWARD_PENDING_MAX; i++) {
        struct forward_pending *p = &f->pending[i];
        if (!p->used || now < p->deadline)
            continue;
        p->used = false;
        if (p->token) {
            char why[128];
            snprintf(why, sizeof why, "the leader %s did not answer within %d ms", p->to,
                     FORWARD_TIMEOUT_MS);
            control_server_reply(a->ctl, p->token, failed(why));
        }
    }
    pull(a, now);
}

uint64_t agent_forward_deadline(const struct agent *a) {
    const struct forward_state *f = &a->forward;
    uint64_t d = a->lead.election ? f->next_pull_ms : UINT64_MAX;
    for (size_t i = 0; i < FORWARD_PENDING_MAX; i++)
        if (f->pending[i].used && f->pending[i].deadline < d)
            d = f->pending[i].deadline;
    return d;
}

void agent_forward_takeover(struct agent *a) {
    struct forward_state *f = &a->forward;
    bool leading = executor_leading(a->leader.ex);
    if (leading && !f->leading && f->mirror_leader[0] &&
        strcmp(f->mirror_leader, a->cfg.node_name) != 0) {
        struct executor_takeover_from from = {.leader = f->mirror_leader,
                                              .events = &f->mirror,
                                              .woken = f->woken,
                                              .n_woken = f->n_woken};
        executor_takeover(a->leader.ex, &from, agent_stamp_ms(a));
        const struct leader_events *ev = executor_events(a->leader.ex);
        /* The carried-over events are in the predecessor's log already;
         * only the note of the takeover goes to this one's. */
        a->leader.logged_seq = ev->next_seq >= 2 ? ev->next_seq - 2 : 0;
        log_info("took over from %s: its log and soft state", f->mirror_leader);
        /* A later leader starts a fresh copy. */
        f->mirror_leader[0] = '\0';
        f->n_woken = 0;
    }
    f->leading = leading;
}
