#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/log.h"
#include "control.h"

struct control_server {
    nng_socket sock;
    nng_listener listener;
    int fd;
    uint64_t bad_requests;
};

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

struct control_server *control_server_open(const char *path, char *err, size_t errlen) {
    char url[PATH_MAX + 8], dir[PATH_MAX];
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
    int rv;
    if ((rv = nng_rep0_open(&srv->sock)) != 0 ||
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
    return srv;
}

void control_server_close(struct control_server *srv) {
    if (!srv)
        return;
    nng_close(srv->sock);
    free(srv);
}

int control_server_fd(struct control_server *srv) { return srv->fd; }

uint64_t control_server_bad_requests(const struct control_server *srv) { return srv->bad_requests; }

static Nodectl__Response *answer(struct control_server *srv, const nng_msg *msg,
                                 control_handler handler, void *ctx) {
    size_t len = nng_msg_len(msg);
    char why[160];
    Nodectl__ErrorCode code;
    if (len > CONTROL_REQUEST_MAX) {
        code = NODECTL__ERROR_CODE__ERROR_TOO_LARGE;
        snprintf(why, sizeof why, "request of %zu bytes exceeds the limit of %d bytes", len,
                 CONTROL_REQUEST_MAX);
    } else {
        Nodectl__Request *req =
            nodectl__request__unpack(NULL, len, (const uint8_t *)nng_msg_body((nng_msg *)msg));
        if (req && req->body_case != NODECTL__REQUEST__BODY__NOT_SET) {
            Nodectl__Response *resp = handler(ctx, req);
            nodectl__request__free_unpacked(req, NULL);
            return resp ? resp : control_error_response(NODECTL__ERROR_CODE__ERROR_INTERNAL,
                                                        "out of memory");
        }
        if (req) {
            code = NODECTL__ERROR_CODE__ERROR_UNKNOWN_REQUEST;
            snprintf(why, sizeof why, "unknown or empty request type (this agent is %s)",
                     NODECTL_VERSION);
            nodectl__request__free_unpacked(req, NULL);
        } else {
            code = NODECTL__ERROR_CODE__ERROR_MALFORMED;
            snprintf(why, sizeof why, "malformed request: %zu bytes that do not decode as "
                     "nodectl.Request", len);
        }
    }
    srv->bad_requests++;
    log_warn("control socket: %s", why);
    return control_error_response(code, why);
}

void control_server_serve(struct control_server *srv, control_handler handler, void *ctx) {
    for (;;) {
        nng_msg *msg;
        int rv = nng_recvmsg(srv->sock, &msg, NNG_FLAG_NONBLOCK);
        if (rv == NNG_EAGAIN)
            return;
        if (rv != 0) {
            log_err("control socket: receive failed: %s", nng_strerror(rv));
            return;
        }
        Nodectl__Response *resp = answer(srv, msg, handler, ctx);
        nng_msg_clear(msg);
        if (!resp) {
            log_err("control socket: out of memory; request dropped");
            nng_msg_free(msg);
            continue;
        }
        size_t out_len = nodectl__response__get_packed_size(resp);
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
}
