#include "control_access.h"

#include <stdio.h>
#include <string.h>

enum control_right control_request_right(const Nodectl__Request *req) {
    switch (req->body_case) {
    case NODECTL__REQUEST__BODY_STATUS:
    case NODECTL__REQUEST__BODY_VMS:
    case NODECTL__REQUEST__BODY_MEMBERS:
    case NODECTL__REQUEST__BODY_PLAN:
    case NODECTL__REQUEST__BODY_EVENTS:
    case NODECTL__REQUEST__BODY_CAPACITY: return CONTROL_READ;
    case NODECTL__REQUEST__BODY_CREATE: /* a dry run only asks */
        return req->create->dry_run ? CONTROL_READ : CONTROL_CHANGE;
    case NODECTL__REQUEST__BODY_KEYS: /* key ids and who has them, never a key */
        return req->keys->op == NODECTL__KEYS_OP__KEYS_LIST ? CONTROL_READ : CONTROL_CHANGE;
    default: return CONTROL_CHANGE;
    }
}

void control_request_describe(const Nodectl__Request *req, char *out, size_t len) {
    switch (req->body_case) {
    case NODECTL__REQUEST__BODY_MIGRATE:
        snprintf(out, len, "migrate %s to %s", req->migrate->vm, req->migrate->destination);
        return;
    case NODECTL__REQUEST__BODY_DRAIN:
        snprintf(out, len, "%s %s", req->drain->drain ? "drain" : "undrain", req->drain->host);
        return;
    case NODECTL__REQUEST__BODY_KEYS: {
        static const char *const ops[] = {"list", "install", "use", "remove"};
        unsigned op = (unsigned)req->keys->op;
        snprintf(out, len, "keys %s%s%s", op < 4 ? ops[op] : "(unknown operation)",
                 req->keys->key_id[0] ? " " : "", req->keys->key_id);
        return;
    }
    case NODECTL__REQUEST__BODY_CREATE:
        snprintf(out, len, "create (a domain of %zu bytes of deflated XML%s)",
                 req->create->xml_deflated.len,
                 req->create->start ? ", started" : "");
        return;
    case NODECTL__REQUEST__BODY_LEADER_TRANSFER:
        if (req->leader_transfer->destination[0])
            snprintf(out, len, "leader transfer to %s", req->leader_transfer->destination);
        else
            snprintf(out, len, "leader transfer");
        return;
    /* Per-VM placement rules. */
    case NODECTL__REQUEST__BODY_VM_SET: {
        const Nodectl__VmSetRequest *v = req->vm_set;
        snprintf(out, len, "vm set %s%s%s%s", v->vm,
                 v->set_pinned ? v->pinned ? " pinned=yes" : " pinned=no" : "",
                 v->set_group ? " group=" : "", v->set_group ? v->group : "");
        return;
    }
    default: break;
    }
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&nodectl__request__descriptor,
                                                (unsigned)req->body_case);
    snprintf(out, len, "%s", f ? f->name : "unknown request");
}

bool control_access_allows(const struct control_policy *pol, enum control_right right, uid_t uid,
                           gid_t gid, const gid_t *groups, size_t n_groups) {
    if (right == CONTROL_READ || uid == 0)
        return true;
    if (!pol->admin)
        return false;
    if (gid == pol->admin_gid)
        return true;
    for (size_t i = 0; i < n_groups; i++)
        if (groups[i] == pol->admin_gid)
            return true;
    return false;
}
