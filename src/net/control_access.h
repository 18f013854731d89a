/* Who may do what on the control socket (docs/security.md, "The control
 * socket"). Whoever can connect (root and the socket's group) may read:
 * status, VMs, members, the plan, events, the list of keys (ids, never a
 * key). Everything else changes the cluster (migrate, drain, undrain,
 * leader transfer, keys install, use and remove, and any request type
 * added later: the list of reads is closed, so a new request is a change
 * until it is added to it) and needs root or the admin group. Pure: the
 * caller looks the peer's credentials and groups up. */
#ifndef NODECTL_CONTROL_ACCESS_H
#define NODECTL_CONTROL_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "control.pb-c.h"

enum control_right { CONTROL_READ, CONTROL_CHANGE };

enum control_right control_request_right(const Nodectl__Request *req);
/* What the request is, for log lines and errors: "status", "drain host-b",
 * "migrate vm1 to host-b", "leader transfer to host-c"; a request type this
 * file does not know by its field name in control.proto. */
void control_request_describe(const Nodectl__Request *req, char *out, size_t len);

/* The admin group, if any. */
struct control_policy {
    bool admin;
    gid_t admin_gid;
};

/* Whether a peer running as uid with primary group gid, whose user belongs
 * to groups (may be empty: a uid with no user), may make a request of that
 * right. */
bool control_access_allows(const struct control_policy *pol, enum control_right right, uid_t uid,
                           gid_t gid, const gid_t *groups, size_t n_groups);

#endif
