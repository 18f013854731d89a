/* GET /api/state: what the dashboard shows, as JSON. The status, plan and
 * events are the control socket's answers (agent_control.c), the same as
 * `nodectl status`, `plan` and `events` print, turned into JSON field by
 * field from their protobuf descriptors; the history is agent_history.c's
 * ring. A host that does not lead has no plan: "plan" is null and
 * "plan_note" says whom to ask. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"

static json_t *message_json(const ProtobufCMessage *msg);

static json_t *bytes_json(const ProtobufCBinaryData *b) {
    char hex[2 * 64 + 1];
    size_t n = b->len < 64 ? b->len : 64;
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", b->data[i]);
    hex[2 * n] = '\0';
    return json_string(hex);
}

/* One value of field f at p. */
static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT: return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        return v ? json_string(v->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        /* Text from the network was checked for control characters, not
         * for UTF-8: what jansson refuses shows as null. */
        json_t *j = s ? json_string(s) : NULL;
        return j ? j : json_null();
    }
    case PROTOBUF_C_TYPE_BYTES: return bytes_json(p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        return sub ? message_json(sub) : json_null();
    }
    }
    return json_null();
}

static size_t element_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return sizeof(uint32_t);
    }
}

/* Every field by its name; repeated ones as arrays; of a oneof, the one
 * set. */
static json_t *message_json(const ProtobufCMessage *msg) {
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    const char *base = (const char *)msg;
    json_t *o = json_object();
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            v = json_array();
            for (size_t k = 0; v && k < n; k++)
                json_array_append_new(v, value_json(f, arr + k * element_size(f)));
        } else {
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                *(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
            if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
                !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                continue;
            v = value_json(f, base + f->offset);
        }
        json_object_set_new(o, f->name, v ? v : json_null());
    }
    return o;
}

/* The body of a control answer (agent_control.c) as JSON, freeing it; an
 * error's message in *note and null otherwise. The page is answered from
 * this host's own knowledge: its status, its plan if it leads, and its event
 * log (a candidate's holds its copy of the leader's); it never waits for
 * another host. */
static json_t *body(Nodectl__Response *resp, const char *why, json_t **note) {
    json_t *j = json_null();
    if (!resp) {
        if (note && why)
            *note = json_string(why);
        return j;
    }
    if (resp->error) {
        if (note && resp->error->message)
            *note = json_string(resp->error->message);
    } else if (resp->body_case != NODECTL__RESPONSE__BODY__NOT_SET && resp->status) {
        json_decref(j);
        /* The oneof members share one pointer (agent_control.c). */
        j = message_json(&resp->status->base);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return j;
}

static json_t *history_json(const struct history *h) {
    json_t *arr = json_array();
    size_t first = (h->next + HISTORY_POINTS - h->n) % HISTORY_POINTS;
    for (size_t k = 0; arr && k < h->n; k++) {
        const struct history_point *p = &h->ring[(first + k) % HISTORY_POINTS];
        json_array_append_new(arr, json_pack("{s:I, s:f, s:i, s:i, s:i}", "at_ms",
                                             (json_int_t)p->at_ms, "watts", p->watts, "on",
                                             (int)p->on, "off", (int)p->off, "failed",
                                             (int)p->failed));
    }
    return arr;
}

char *agent_state_json(struct agent *a, size_t *len) {
    Nodectl__StatusRequest sreq = NODECTL__STATUS_REQUEST__INIT;
    Nodectl__EventsRequest ereq = NODECTL__EVENTS_REQUEST__INIT;
    Nodectl__Request status = NODECTL__REQUEST__INIT;
    status.body_case = NODECTL__REQUEST__BODY_STATUS;
    status.status = &sreq;
    char why[256] = "out of memory";
    json_t *plan_note = NULL;
    struct history_point now = agent_history_now(a);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "node", json_string(a->cfg.node_name));
    json_object_set_new(o, "now_ms", json_integer((json_int_t)agent_stamp_ms(a)));
    json_object_set_new(o, "power_idle_watts", json_integer(a->cfg.power_idle_watts));
    json_object_set_new(o, "power_max_watts", json_integer(a->cfg.power_max_watts));
    json_object_set_new(o, "cluster_watts", json_real(now.watts));
    json_object_set_new(o, "status", body(agent_handle_request(a, &status), NULL, NULL));
    json_object_set_new(o, "plan", body(agent_plan_reply(a, why, sizeof why), why, &plan_note));
    json_object_set_new(o, "plan_note", plan_note ? plan_note : json_null());
    json_object_set_new(o, "events", body(agent_events_reply(a, &ereq), NULL, NULL));
    json_object_set_new(o, "history", history_json(&a->history));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        *len = strlen(text);
    return text;
}
