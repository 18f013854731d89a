/* The agent's HTTP server (metrics and the dashboard), on libmicrohttpd in
 * its external-loop mode: no thread of its own. Its one epoll descriptor
 * joins the agent's poll(); http_server_run serves what is ready and calls
 * the handler in the agent's own thread, so the handler may read the
 * agent's state directly.
 *
 * Every input is bounded: connections in all and per address, the memory
 * of one connection (which bounds the request line and headers), an idle
 * timeout; only GET and HEAD without a body are answered.
 *
 * A request must name this server in its Host header: the listen address,
 * loopback's forms (an SSH tunnel's) or a name the operator configured.
 * DNS rebinding, where a page of evil.example has its name resolve to the
 * agent's address and reads the dashboard as its own origin, sends the
 * attacker's name and is refused (the Host check of Syncthing, Jupyter and
 * webpack's dev server). No route sends CORS headers: another origin's
 * page cannot read an answer. */
#ifndef NODECTL_HTTP_SERVER_H
#define NODECTL_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/reject.h"

#define HTTP_CONNECTIONS_MAX 32
#define HTTP_CONNECTIONS_PER_ADDRESS 16
#define HTTP_CONNECTION_MEMORY 16384 /* request line and headers fit in it */
#define HTTP_IDLE_TIMEOUT_S 15
#define HTTP_LISTEN_MAX 64           /* "a.b.c.d:port", "[v6]:port" */
#define HTTP_NAME_MAX 254            /* a DNS name, a trailing dot included */

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
    HTTP_REJECT_HOST,     /* Host names another server (DNS rebinding) */
    HTTP_REJECTS
};
const char *http_reject_name(unsigned r);

struct http_server;

/* Checks "host:port" (numeric IPv4, or [IPv6]); NULL, or what is wrong. */
const char *http_listen_check(const char *listen);
/* Checks a name a request's Host may give ([http] names): a DNS name;
 * NULL, or what is wrong. */
const char *http_name_check(const char *name);
/* Whether a Host header (NULL: none, HTTP/1.0) names the server on listen:
 * its address (any address when listen's is 0.0.0.0 or ::, as an address
 * in Host cannot come from rebinding a name), a loopback address,
 * "localhost", or one of names (case-insensitive; a trailing dot allowed);
 * with any port, or none. */
bool http_host_allowed(const char *host, const char *listen, const char *const *names,
                       size_t n_names);
/* Listens on listen, answering requests whose Host http_host_allowed with
 * names (copied); NULL with err. */
struct http_server *http_server_open(const char *listen, const char *const *names,
                                     size_t n_names, http_handler h, void *ctx, char *err,
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
