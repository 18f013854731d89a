/* libmicrohttpd (Debian's libmicrohttpd12) rather than nng's HTTP server:
 * it runs from the caller's own loop (MHD_USE_EPOLL without an internal
 * thread), so a handler runs in the agent's thread and needs no lock or
 * copy of the agent's state; nng's server always answers from its own
 * worker threads. */
#include "http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

struct http_server {
    struct MHD_Daemon *d;
    int fd;
    http_handler handler;
    void *ctx;
    char listen[HTTP_LISTEN_MAX];
    char **names; /* what Host may name besides the address and localhost */
    size_t n_names;
    struct rejects rejects;
    unsigned logged; /* reasons already logged: bit r */
    uint64_t requests;
    uint64_t connections;
};

static const char *const reject_names[HTTP_REJECTS] = {"method", "body", "not_found", "host"};

const char *http_reject_name(unsigned r) { return r < HTTP_REJECTS ? reject_names[r] : "unknown"; }

/* The address in listen: 0, or -1. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6) {
    char host[HTTP_LISTEN_MAX];
    size_t len = strlen(listen);
    if (len >= sizeof host)
        return -1;
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return -1;
    size_t hlen = (size_t)(colon - listen);
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || port == 0 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        host[hlen - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return -1;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -1;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *v6 = false;
    return 0;
}

const char *http_listen_check(const char *listen) {
    struct sockaddr_storage ss;
    bool v6;
    return parse_listen(listen, &ss, &v6) == 0
               ? NULL
               : "expected a.b.c.d:port or [v6]:port (a numeric address, port 1 to 65535)";
}

const char *http_name_check(const char *name) {
    static const char bad[] = "expected a DNS name (letters, digits, '-' and '.', at most 253)";
    size_t len = strlen(name), label = 0;
    if (len == 0 || len > HTTP_NAME_MAX - 1)
        return bad;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return bad;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && label > 0)) {
            if (++label > 63)
                return bad;
        } else {
            return bad;
        }
    }
    return name[len - 1] == '-' ? bad : NULL;
}

static bool port_ok(const char *p) {
    size_t n = strspn(p, "0123456789");
    return n > 0 && n <= 5 && !p[n] && strtoul(p, NULL, 10) <= 65535;
}

/* host, without a trailing dot, equals name (without one) ignoring case. */
static bool same_name(const char *host, size_t hlen, const char *name) {
    size_t nlen = strlen(name);
    if (nlen && name[nlen - 1] == '.')
        nlen--;
    return hlen == nlen && strncasecmp(host, name, nlen) == 0;
}

bool http_host_allowed(const char *host, const char *listen, const char *const *names,
                       size_t n_names) {
    if (!host)
        return true; /* HTTP/1.0 without Host: no browser sends that */
    char addr[HTTP_NAME_MAX];
    size_t len = strlen(host);
    const char *port = NULL;
    bool bracketed = host[0] == '[';
    if (bracketed) {
        const char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        len = (size_t)(close - host - 1);
        host++;
        port = close[1] ? close + 2 : NULL;
    } else {
        const char *colon = strchr(host, ':');
        if (colon) {
            len = (size_t)(colon - host);
            port = colon + 1;
        }
    }
    if (len == 0 || len >= sizeof addr || (port && !port_ok(port)))
        return false;
    memcpy(addr, host, len);
    addr[len] = '\0';
    struct in6_addr a6;
    struct in_addr a4;
    bool is6 = bracketed && inet_pton(AF_INET6, addr, &a6) == 1;
    bool is4 = !bracketed && inet_pton(AF_INET, addr, &a4) == 1;
    if (bracketed && !is6)
        return false;
    if (is4 || is6) {
        if ((is4 && (ntohl(a4.s_addr) >> 24) == 127) || (is6 && IN6_IS_ADDR_LOOPBACK(&a6)))
            return true;
        struct sockaddr_storage ss;
        bool v6;
        if (parse_listen(listen, &ss, &v6) != 0 || v6 != is6)
            return false;
        if (v6) {
            const struct in6_addr *l = &((struct sockaddr_in6 *)&ss)->sin6_addr;
            return IN6_IS_ADDR_UNSPECIFIED(l) || memcmp(l, &a6, sizeof a6) == 0;
        }
        in_addr_t l = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
        return l == htonl(INADDR_ANY) || l == a4.s_addr;
    }
    if (addr[len - 1] == '.')
        len--;
    if (same_name(addr, len, "localhost"))
        return true;
    for (size_t i = 0; i < n_names; i++)
        if (same_name(addr, len, names[i]))
            return true;
    return false;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, body ? MHD_RESPMEM_MUST_FREE
                                                        : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* Another origin's page may not load an answer even blind (a script
     * or an image of /api/state), nor learn the page's address. */
    MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    /* The dashboard loads nothing from elsewhere and may not be framed. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src "
                            "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                            "frame-ancestors 'none'");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result refuse(struct http_server *s, struct MHD_Connection *c,
                              enum http_reject why, unsigned status) {
    reject_count(&s->rejects, why);
    if (!(s->logged & 1u << why)) {
        s->logged |= 1u << why;
        log_warn("http: refused a request (%s); such refusals are only counted from now on "
                 "(nodectl_rejected_total)",
                 why == HTTP_REJECT_HOST ? "its Host is not this server's address or a name in "
                                           "[http] names: DNS rebinding?"
                                         : http_reject_name(why));
    }
    static const char text[] = "refused\n";
    char *body = strdup(text);
    return queue(c, status, "text/plain; charset=utf-8", body, body ? strlen(body) : 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    struct http_server *s = cls;
    s->requests++;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return refuse(s, c, HTTP_REJECT_METHOD, MHD_HTTP_METHOD_NOT_ALLOWED);
    const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    if ((clen && strcmp(clen, "0") != 0) || te || *upload_data_size)
        return refuse(s, c, HTTP_REJECT_BODY, MHD_HTTP_CONTENT_TOO_LARGE);
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!http_host_allowed(host, s->listen, (const char *const *)s->names, s->n_names))
        return refuse(s, c, HTTP_REJECT_HOST, MHD_HTTP_FORBIDDEN);
    struct http_reply r = {.status = 404, .type = "text/plain; charset=utf-8"};
    s->handler(s->ctx, url, &r);
    if (r.status == 404)
        reject_count(&s->rejects, HTTP_REJECT_NOT_FOUND);
    return queue(c, r.status, r.type, r.body, r.len);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        s->connections++;
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt,
                                                        va_list ap) {
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("http: %s", line);
}

struct http_server *http_server_open(const char *listen, const char *const *names,
                                     size_t n_names, http_handler h, void *ctx, char *err,
                                     size_t errlen) {
    struct sockaddr_storage ss;
    bool v6;
    if (parse_listen(listen, &ss, &v6) != 0) {
        snprintf(err, errlen, "'%s': %s", listen, http_listen_check(listen));
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->handler = h;
    s->ctx = ctx;
    snprintf(s->listen, sizeof s->listen, "%s", listen);
    if (n_names && !(s->names = calloc(n_names, sizeof *s->names))) {
        snprintf(err, errlen, "out of memory");
        http_server_close(s);
        return NULL;
    }
    for (size_t i = 0; i < n_names; i++) {
        const char *bad = http_name_check(names[i]);
        if (bad || !(s->names[s->n_names++] = strdup(names[i]))) {
            snprintf(err, errlen, "name '%s': %s", names[i], bad ? bad : "out of memory");
            http_server_close(s);
            return NULL;
        }
    }
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_PER_ADDRESS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)HTTP_CONNECTIONS_MAX,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        s->d ? MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not this host's?)",
                 listen);
        http_server_close(s);
        return NULL;
    }
    s->fd = info->epoll_fd;
    return s;
}

void http_server_close(struct http_server *s) {
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    for (size_t i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    free(s);
}

int http_server_fd(const struct http_server *s) { return s ? s->fd : -1; }

int64_t http_server_timeout_ms(const struct http_server *s) {
    MHD_UNSIGNED_LONG_LONG ms;
    if (!s || MHD_get_timeout(s->d, &ms) != MHD_YES)
        return -1;
    return ms > INT64_MAX ? INT64_MAX : (int64_t)ms;
}

void http_server_run(struct http_server *s) {
    if (s)
        MHD_run(s->d);
}

const struct rejects *http_server_rejects(const struct http_server *s) { return &s->rejects; }
uint64_t http_server_requests(const struct http_server *s) { return s->requests; }
uint64_t http_server_connections(const struct http_server *s) { return s->connections; }
