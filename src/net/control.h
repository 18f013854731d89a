/* The local control socket: nng req/rep over IPC, one protobuf Request and
 * one Response per exchange (proto/control.proto). The agent serves it; every
 * `nodectl` subcommand other than `agent` is a client. */
#ifndef NODECTL_CONTROL_H
#define NODECTL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/reject.h"
#include "control.pb-c.h"

/* Requests larger than this are answered with ERROR_TOO_LARGE; the transport
 * drops anything above CONTROL_TRANSPORT_MAX without reading it. */
#define CONTROL_REQUEST_MAX (64 * 1024)
#define CONTROL_TRANSPORT_MAX (1024 * 1024)

struct control_server;

/* Answers one decoded request. Returns a Response the server packs, sends
 * and then frees with protobuf_c_message_free_unpacked (so every field must
 * be heap-allocated with malloc), or NULL when out of memory. */
typedef Nodectl__Response *(*control_handler)(void *ctx, const Nodectl__Request *req);
/* The caller's bounds on a decoded request's fields, checked before the
 * request is logged, authorized or handled: NULL when it is within them,
 * else the field at fault, with what is wrong in *reason. */
typedef const char *(*control_check)(const Nodectl__Request *req, const char **reason);

/* Who may use the socket (control_access.h): group names from the
 * configuration's [control] section. */
struct control_access {
    const char *group;       /* owns the socket: may connect and read; "": the agent's */
    bool group_optional;     /* a missing group is warned about, not refused (the default) */
    const char *admin_group; /* may also change the cluster; "": root only */
};

/* The id of group `name`; 0, or -1 with a message naming it in err. */
int control_group_id(const char *name, gid_t *gid, char *err, size_t errlen);

/* Listens on ipc://path, creating the parent directory (0755) and the socket
 * with mode 0660, owned by acc's group. Every request that changes the
 * cluster is checked against the peer's credentials (SO_PEERCRED) and
 * logged with its uid. Returns NULL with a message in err. */
struct control_server *control_server_open(const char *path, const struct control_access *acc,
                                           char *err, size_t errlen);
void control_server_close(struct control_server *srv);
/* A descriptor that polls readable when a request is waiting. */
int control_server_fd(struct control_server *srv);
/* A handler that cannot answer at once (the request is forwarded to the
 * leader) calls control_server_defer while it runs and returns
 * CONTROL_DEFERRED; it answers later with control_server_reply(token).
 * At most CONTROL_DEFERRED_MAX wait at once (defer returns 0 beyond). */
#define CONTROL_DEFERRED_MAX 64
extern Nodectl__Response control_deferred_marker;
#define CONTROL_DEFERRED (&control_deferred_marker)
uint64_t control_server_defer(struct control_server *srv);
/* Sends resp (then freed) as the answer to a deferred request; resp NULL
 * answers "out of memory". An unknown or answered token is ignored. */
void control_server_reply(struct control_server *srv, uint64_t token, Nodectl__Response *resp);
/* Serves every request waiting now, without blocking. */
void control_server_serve(struct control_server *srv, control_check check,
                          control_handler handler, void *ctx);
/* Why a request was refused before the handler saw it. */
enum control_reject {
    CONTROL_REJECT_TOO_LARGE, /* more than CONTROL_REQUEST_MAX bytes */
    CONTROL_REJECT_MALFORMED, /* does not decode as a Request */
    CONTROL_REJECT_UNKNOWN,   /* no body, or one this agent does not know */
    CONTROL_REJECT_FIELD,     /* a field out of the caller's bounds (control_check) */
    CONTROL_REJECT_REASONS,
};
const char *control_reject_name(unsigned r);
/* The server's decoding of one request, without a socket (the fuzzer's
 * entry): the request, or NULL with *why. */
Nodectl__Request *control_request_decode(const uint8_t *data, size_t len,
                                         enum control_reject *why);
/* Requests refused by reason since start (logged once per reason). */
const struct rejects *control_server_rejects(const struct control_server *srv);

/* Sends req to the agent at path and waits up to timeout_ms for the reply.
 * Returns the unpacked Response (free with nodectl__response__free_unpacked),
 * or NULL with a message in err. */
Nodectl__Response *control_call(const char *path, const Nodectl__Request *req, int timeout_ms,
                                char *err, size_t errlen);

/* A Response carrying only an error; NULL if out of memory. */
Nodectl__Response *control_error_response(Nodectl__ErrorCode code, const char *message);

#endif
