/* The agent's HTTP server (metrics and the dashboard), on libmicrohttpd in
 * its external-loop mode: no thread of its own. Its one epoll descriptor
 * joins the agent's poll(); http_server_run serves what is ready and calls
 * the handler in the agent's own thread, so the handler may read the
 * agent's state directly.
 *
 * Every input is bounded: connections in all and per address, the memory
 * of one connection (which bounds the request line and headers), an idle
 * timeout; only GET and HEAD without a body are answered. */
#ifndef NODECTL_HTTP_SERVER_H
#define NODECTL_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/reject.h"

#define HTTP_CONNECTIONS_MAX 32
#define HTTP_CONNECTIONS_PER_ADDRESS 16
#define HTTP_CONNECTION_MEMORY 16384 /* request line and headers fit in it */
#define HTTP_IDLE_TIMEOUT_S 15
#define HTTP_LISTEN_MAX 64           /* "a.b.c.d:port", "[v6]:port" */

/* A reply: status, content type, and a malloc'd body the server frees. */
struct http_reply {
    unsigned status;
    const char *type;
    char *body;
    size_t len;
};

/* Fills *out for a GET of path (the query string stripped). */
typedef void (*http_handler)(void *ctx, const char *path, struct http_reply *out);

/* Why a request was refused. */
enum http_reject {
    HTTP_REJECT_METHOD,   /* not GET or HEAD */
    HTTP_REJECT_BODY,     /* a request body */
    HTTP_REJECT_NOT_FOUND,
    HTTP_REJECTS
};
const char *http_reject_name(unsigned r);

struct http_server;

/* Checks "host:port" (numeric IPv4, or [IPv6]); NULL, or what is wrong. */
const char *http_listen_check(const char *listen);
/* Listens on listen; NULL with err. */
struct http_server *http_server_open(const char *listen, http_handler h, void *ctx, char *err,
                                     size_t errlen);
void http_server_close(struct http_server *s);
int http_server_fd(const struct http_server *s);
/* Milliseconds until the server must run even without input; -1: none. */
int64_t http_server_timeout_ms(const struct http_server *s);
void http_server_run(struct http_server *s);
const struct rejects *http_server_rejects(const struct http_server *s);
uint64_t http_server_requests(const struct http_server *s);
uint64_t http_server_connections(const struct http_server *s);

#endif
