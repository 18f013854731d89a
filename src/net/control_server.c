#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/log.h"
#include "control.h"
#include "control_access.h"

/* Supplementary groups looked at per user; more are ignored. */
#define GROUPS_MAX 256

struct control_server {
    nng_socket sock;
    nng_listener listener;
    int fd;
    struct rejects rejects;
    struct reject_log log;
    struct control_policy policy;
    char admin_group[64]; /* its name, for errors; "" when there is none */
    /* Raw rep0: a request's header routes its reply, so a reply may come
     * later than the next request (a deferred one). */
    nng_msg *current;                        /* the request being handled */
    nng_msg *deferred[CONTROL_DEFERRED_MAX]; /* held with their headers */
    uint64_t deferred_token[CONTROL_DEFERRED_MAX];
    uint64_t next_token;
};

Nodectl__Response control_deferred_marker;

_Static_assert(CONTROL_REJECT_REASONS <= REJECT_REASONS_MAX, "struct rejects holds every reason");

const char *control_reject_name(unsigned r) {
    switch ((enum control_reject)r) {
    case CONTROL_REJECT_TOO_LARGE: return "a request larger than CONTROL_REQUEST_MAX";
    case CONTROL_REJECT_MALFORMED: return "a request that does not decode";
    case CONTROL_REJECT_UNKNOWN: return "a request of an unknown type, or none";
    case CONTROL_REJECT_FIELD: return "a request with a field out of bounds";
    case CONTROL_REJECT_REASONS: break;
    }
    return "unknown";
}

Nodectl__Request *control_request_decode(const uint8_t *data, size_t len,
                                         enum control_reject *why) {
    if (len > CONTROL_REQUEST_MAX) {
        *why = CONTROL_REJECT_TOO_LARGE;
        return NULL;
    }
    Nodectl__Request *req = nodectl__request__unpack(NULL, len, data);
    if (req && req->body_case == NODECTL__REQUEST__BODY__NOT_SET) {
        nodectl__request__free_unpacked(req, NULL);
        *why = CONTROL_REJECT_UNKNOWN;
        return NULL;
    }
    if (!req)
        *why = CONTROL_REJECT_MALFORMED;
    return req;
}

int control_group_id(const char *name, gid_t *gid, char *err, size_t errlen) {
    char buf[16384];
    struct group gr, *found = NULL;
    int rc = getgrnam_r(name, &gr, buf, sizeof buf, &found);
    if (!found) {
        snprintf(err, errlen, "no group named '%s'%s%s (create it with `addgroup --system %s`)",
                 name, rc ? ": " : "", rc ? strerror(rc) : "", name);
        return -1;
    }
    *gid = gr.gr_gid;
    return 0;
}

Nodectl__Response *control_error_response(Nodectl__ErrorCode code, const char *message) {
    Nodectl__Response *resp = malloc(sizeof *resp);
    Nodectl__Error *e = malloc(sizeof *e);
    char *text = strdup(message);
    if (!resp || !e || !text) {
        free(resp);
        free(e);
        free(text);
        return NULL;
    }
    nodectl__response__init(resp);
    nodectl__error__init(e);
    e->code = code;
    e->message = text;
    resp->error = e;
    return resp;
}

struct control_server *control_server_open(const char *path, const struct control_access *acc,
                                           char *err, size_t errlen) {
    char url[PATH_MAX + 8], dir[PATH_MAX];
    gid_t group = 0, admin = 0;
    bool chgrp = acc->group[0] != '\0';
    if (chgrp && control_group_id(acc->group, &group, err, errlen) != 0) {
        if (!acc->group_optional)
            return NULL;
        log_warn("[control] group: %s; the control socket is root's alone", err);
        chgrp = false;
    }
    if (acc->admin_group[0] && control_group_id(acc->admin_group, &admin, err, errlen) != 0)
        return NULL;
    if (snprintf(url, sizeof url, "ipc://%s", path) >= (int)sizeof url) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return NULL;
    }
    snprintf(dir, sizeof dir, "%s", path);
    if (make_dirs(dirname(dir), 0755) != 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(errno));
        return NULL;
    }
    struct control_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->log = (struct reject_log){.component = "control socket",
                                   .reason_name = control_reject_name};
    srv->policy = (struct control_policy){.admin = acc->admin_group[0] != '\0',
                                          .admin_gid = admin};
    snprintf(srv->admin_group, sizeof srv->admin_group, "%s", acc->admin_group);
    int rv;
    if ((rv = nng_rep0_open_raw(&srv->sock)) != 0 ||
        (rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, CONTROL_TRANSPORT_MAX)) != 0 ||
        (rv = nng_listener_create(&srv->listener, srv->sock, url)) != 0 ||
        (rv = nng_listener_set_int(srv->listener, NNG_OPT_IPC_PERMISSIONS, 0660)) != 0 ||
        (rv = nng_listener_start(srv->listener, 0)) != 0 ||
        (rv = nng_socket_get_int(srv->sock, NNG_OPT_RECVFD, &srv->fd)) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
        nng_close(srv->sock);
        free(srv);
        return NULL;
    }
    /* The socket is root's, mode 0660: the group may connect. Changing the
     * group of our own file to one we are not in takes CAP_CHOWN (the
     * systemd unit keeps it). */
    if (chgrp && chown(path, (uid_t)-1, group) != 0) {
        snprintf(err, errlen, "cannot give %s to group %s: %s", path, acc->group, strerror(errno));
        nng_close(srv->sock);
        free(srv);
        return NULL;
    }
    return srv;
}

void control_server_close(struct control_server *srv) {
    if (!srv)
        return;
    for (size_t i = 0; i < CONTROL_DEFERRED_MAX; i++)
        if (srv->deferred[i])
            nng_msg_free(srv->deferred[i]);
    nng_close(srv->sock);
    free(srv);
}

int control_server_fd(struct control_server *srv) { return srv->fd; }

const struct rejects *control_server_rejects(const struct control_server *srv) {
    return &srv->rejects;
}

/* Who sent msg: the credentials the kernel recorded when the client
 * connected (SO_PEERCRED), never anything the client says. */
struct peer {
    bool known;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    char user[64]; /* "" if the uid has no user */
    gid_t groups[GROUPS_MAX];
    int n_groups;
};

static void peer_of(nng_msg *msg, struct peer *p) {
    nng_pipe pipe = nng_msg_get_pipe(msg);
    uint64_t uid, gid, pid = 0;
    memset(p, 0, sizeof *p);
    p->known = nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) == 0 &&
               nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_GID, &gid) == 0;
    if (!p->known)
        return;
    nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &pid);
    p->uid = (uid_t)uid;
    p->gid = (gid_t)gid;
    p->pid = (pid_t)pid;
}

/* The user's name and groups (getgrouplist, as login gives them), looked
 * up only for requests that need them. */
static void peer_groups(struct peer *p) {
    char buf[16384];
    struct passwd pw, *found = NULL;
    if (getpwuid_r(p->uid, &pw, buf, sizeof buf, &found) != 0 || !found)
        return;
    snprintf(p->user, sizeof p->user, "%s", pw.pw_name);
    p->n_groups = GROUPS_MAX;
    if (getgrouplist(pw.pw_name, pw.pw_gid, p->groups, &p->n_groups) < 0)
        p->n_groups = GROUPS_MAX; /* the first GROUPS_MAX */
}

/* Whether the peer may make req; if not, why (for the client), logged. */
static bool allowed(const struct control_server *srv, const Nodectl__Request *req,
                    struct peer *p, char *why, size_t len) {
    if (control_request_right(req) == CONTROL_READ)
        return true;
    char what[256], who[128];
    control_request_describe(req, what, sizeof what);
    if (p->known) {
        peer_groups(p);
        snprintf(who, sizeof who, "uid %u (%s), pid %d", (unsigned)p->uid,
                 p->user[0] ? p->user : "no such user", (int)p->pid);
        if (control_access_allows(&srv->policy, CONTROL_CHANGE, p->uid, p->gid, p->groups,
                                  (size_t)p->n_groups)) {
            log_info("control socket: %s, asked by %s", what, who);
            return true;
        }
    } else {
        snprintf(who, sizeof who, "a client whose credentials are unknown");
    }
    if (srv->admin_group[0])
        snprintf(why, len, "permission denied: %s changes the cluster and needs root or group %s",
                 what, srv->admin_group);
    else
        snprintf(why, len, "permission denied: %s changes the cluster and needs root (or a group "
                 "named by [control] admin_group)", what);
    log_warn("control socket: %s refused to %s", what, who);
    return false;
}

static Nodectl__Response *answer(struct control_server *srv, nng_msg *msg, control_check check,
                                 control_handler handler, void *ctx) {
    size_t len = nng_msg_len(msg);
    enum control_reject reason;
    char why[160];
    Nodectl__Request *req =
        control_request_decode((const uint8_t *)nng_msg_body(msg), len, &reason);
    const char *field, *what;
    if (req && (field = check(req, &what))) {
        /* Refused before anything logs the request: its fields may be
         * anything, newlines included. */
        nodectl__request__free_unpacked(req, NULL);
        snprintf(why, sizeof why, "request field %s: %s", field, what);
        reject_count(&srv->rejects, CONTROL_REJECT_FIELD);
        reject_log_new(&srv->log, &srv->rejects, "a local client", why);
        return control_error_response(NODECTL__ERROR_CODE__ERROR_MALFORMED, why);
    }
    if (req) {
        struct peer p;
        char denied[512];
        peer_of(msg, &p);
        Nodectl__Response *resp =
            allowed(srv, req, &p, denied, sizeof denied)
                ? handler(ctx, req)
                : control_error_response(NODECTL__ERROR_CODE__ERROR_PERMISSION_DENIED, denied);
        nodectl__request__free_unpacked(req, NULL);
        return resp ? resp
                    : control_error_response(NODECTL__ERROR_CODE__ERROR_INTERNAL, "out of memory");
    }
    Nodectl__ErrorCode code;
    switch (reason) {
    case CONTROL_REJECT_TOO_LARGE:
        code = NODECTL__ERROR_CODE__ERROR_TOO_LARGE;
        snprintf(why, sizeof why, "request of %zu bytes exceeds the limit of %d bytes", len,
                 CONTROL_REQUEST_MAX);
        break;
    case CONTROL_REJECT_UNKNOWN:
        code = NODECTL__ERROR_CODE__ERROR_UNKNOWN_REQUEST;
        snprintf(why, sizeof why, "unknown or empty request type (this agent is %s)",
                 NODECTL_VERSION);
        break;
    default:
        code = NODECTL__ERROR_CODE__ERROR_MALFORMED;
        snprintf(why, sizeof why, "malformed request: %zu bytes that do not decode as "
                 "nodectl.Request", len);
        break;
    }
    reject_count(&srv->rejects, reason);
    reject_log_new(&srv->log, &srv->rejects, "a local client", why);
    return control_error_response(code, why);
}

/* Packs resp into msg (its header kept: it routes the reply) and sends
 * it; frees resp, and msg unless the socket took it. */
static void send_reply(struct control_server *srv, nng_msg *msg, Nodectl__Response *resp) {
    nng_msg_clear(msg);
    if (!resp) {
        log_err("control socket: out of memory; request dropped");
        nng_msg_free(msg);
        return;
    }
    size_t out_len = nodectl__response__get_packed_size(resp);
    int rv;
    if (nng_msg_realloc(msg, out_len) != 0) {
        log_err("control socket: out of memory; request dropped");
        nng_msg_free(msg);
    } else {
        nodectl__response__pack(resp, nng_msg_body(msg));
        /* The rep socket owns msg once the send succeeds. */
        if ((rv = nng_sendmsg(srv->sock, msg, NNG_FLAG_NONBLOCK)) != 0) {
            log_warn("control socket: reply not sent: %s", nng_strerror(rv));
            nng_msg_free(msg);
        }
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

uint64_t control_server_defer(struct control_server *srv) {
    if (!srv->current)
        return 0;
    for (size_t i = 0; i < CONTROL_DEFERRED_MAX; i++) {
        if (srv->deferred[i])
            continue;
        srv->deferred[i] = srv->current;
        srv->deferred_token[i] = ++srv->next_token;
        srv->current = NULL;
        return srv->next_token;
    }
    return 0;
}

void control_server_reply(struct control_server *srv, uint64_t token, Nodectl__Response *resp) {
    for (size_t i = 0; token && i < CONTROL_DEFERRED_MAX; i++) {
        if (!srv->deferred[i] || srv->deferred_token[i] != token)
            continue;
        nng_msg *msg = srv->deferred[i];
        srv->deferred[i] = NULL;
        if (!resp)
            resp = control_error_response(NODECTL__ERROR_CODE__ERROR_INTERNAL, "out of memory");
        send_reply(srv, msg, resp);
        return;
    }
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
}

void control_server_serve(struct control_server *srv, control_check check,
                          control_handler handler, void *ctx) {
    for (;;) {
        nng_msg *msg;
        int rv = nng_recvmsg(srv->sock, &msg, NNG_FLAG_NONBLOCK);
        if (rv == NNG_EAGAIN)
            return;
        if (rv != 0) {
            log_err("control socket: receive failed: %s", nng_strerror(rv));
            return;
        }
        srv->current = msg;
        Nodectl__Response *resp = answer(srv, msg, check, handler, ctx);
        if (resp == CONTROL_DEFERRED) {
            /* Held by control_server_defer, unless the handler did not
             * call it: then nothing will ever answer. */
            if (srv->current)
                send_reply(srv, msg, control_error_response(NODECTL__ERROR_CODE__ERROR_INTERNAL,
                                                            "the request could not be held"));
        } else {
            send_reply(srv, msg, resp);
        }
        srv->current = NULL;
    }
}
