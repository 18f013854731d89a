/* The Prometheus text writer: families with their samples, label values
 * escaped, histograms cumulative with +Inf, the page bounded; and the HTTP
 * server's bounds (methods, bodies, the size of a request's headers),
 * served from a loop like the agent's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/metrics.h"
#include "net/http_server.h"

static void families_and_escapes(void **state) {
    struct metrics m;
    metrics_init(&m);
    metrics_family(&m, "nodectl_x_total", "counter", "Things.");
    metrics_sample(&m, "nodectl_x_total", (const char *[]){"a", "q\"b\\c\nd", "k", "v", NULL}, 3);
    metrics_gauge(&m, "nodectl_y", "A ratio.", 0.005);
    assert_false(m.failed);
    assert_string_equal(m.buf, "# HELP nodectl_x_total Things.\n# TYPE nodectl_x_total counter\n"
                               "nodectl_x_total{a=\"q\\\"b\\\\c\\nd\",k=\"v\"} 3\n"
                               "# HELP nodectl_y A ratio.\n# TYPE nodectl_y gauge\n"
                               "nodectl_y 0.005\n");
    metrics_free(&m);
}

static void histogram_is_cumulative(void **state) {
    static const double bounds[] = {0.1, 1};
    struct metrics_histogram h;
    metrics_histogram_init(&h, bounds, 2);
    metrics_observe(&h, 0.05);
    metrics_observe(&h, 0.1); /* le: the bound itself is in */
    metrics_observe(&h, 0.5);
    metrics_observe(&h, 7);
    struct metrics m;
    metrics_init(&m);
    metrics_histogram(&m, "nodectl_h_seconds", "H.", &h);
    assert_non_null(strstr(m.buf, "nodectl_h_seconds_bucket{le=\"0.1\"} 2\n"
                                  "nodectl_h_seconds_bucket{le=\"1\"} 3\n"
                                  "nodectl_h_seconds_bucket{le=\"+Inf\"} 4\n"
                                  "nodectl_h_seconds_sum 7.65\n"
                                  "nodectl_h_seconds_count 4\n"));
    metrics_free(&m);
}

static void page_is_bounded(void **state) {
    struct metrics m;
    metrics_init(&m);
    for (int i = 0; i < 1000000 && !m.failed; i++)
        metrics_gauge(&m, "nodectl_filler_with_a_long_name", "Filler to reach the bound.", i);
    assert_true(m.failed);
    assert_true(m.len <= METRICS_MAX);
    metrics_free(&m);
}

static void handler(void *ctx, const char *path, struct http_reply *out) {
    (*(int *)ctx)++;
    if (strcmp(path, "/ok") == 0) {
        out->status = 200;
        out->body = strdup("fine\n");
        out->len = 5;
    }
}

/* Sends req on a new connection to port and serves s until the answer is
 * complete (the peer closes, or 2 s pass); the status line's code, or 0;
 * the answer's start in head (NULL: not kept). */
static int exchange_head(struct http_server *s, uint16_t port, const char *req, size_t len,
                         char head[4096]) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    size_t sent = 0;
    char buf[4096];
    size_t got = 0;
    for (int round = 0; round < 400; round++) {
        if (sent < len) {
            ssize_t n = send(fd, req + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
        }
        struct pollfd p = {.fd = http_server_fd(s), .events = POLLIN};
        poll(&p, 1, 5);
        http_server_run(s);
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        buf[got] = '\0';
        if (n == 0 || (got && strstr(buf, "\r\n\r\n") && strstr(buf, "fine")) ||
            (got && strstr(buf, "Connection: close")))
            break;
    }
    close(fd);
    int code = 0;
    sscanf(buf, "HTTP/1.%*d %d", &code);
    if (head)
        memcpy(head, buf, got + 1);
    return code;
}

static int exchange(struct http_server *s, uint16_t port, const char *req, size_t len) {
    return exchange_head(s, port, req, len, NULL);
}

static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t sl = sizeof sin;
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    close(fd);
    return ntohs(sin.sin_port);
}

/* A server on loopback at a free port (in *port, its "127.0.0.1:port" in
 * listen) answering with handler, which counts its calls in *calls. */
static struct http_server *serve(uint16_t *port, char listen[32], const char *const *names,
                                 size_t n_names, int *calls) {
    char err[256];
    *port = free_port();
    snprintf(listen, 32, "127.0.0.1:%u", *port);
    struct http_server *s =
        http_server_open(listen, names, n_names, handler, calls, err, sizeof err);
    assert_non_null(s);
    return s;
}

static void server_bounds_its_input(void **state) {
    assert_null(http_listen_check("127.0.0.1:9750"));
    assert_null(http_listen_check("[::1]:1"));
    assert_non_null(http_listen_check("localhost:9750"));
    assert_non_null(http_listen_check("127.0.0.1:0"));
    assert_non_null(http_listen_check("127.0.0.1"));
    uint16_t port = free_port();
    char listen[32], err[256];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
    int calls = 0;
    struct http_server *s =
        http_server_open(listen, NULL, 0, handler, &calls, err, sizeof err);
    assert_non_null(s);
    static const char ok[] = "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(exchange(s, port, ok, strlen(ok)), 200);
    static const char missing[] =
        "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(exchange(s, port, missing, strlen(missing)), 404);
    static const char post[] =
        "POST /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_int_equal(exchange(s, port, post, strlen(post)), 405);
    static const char body[] =
        "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_int_equal(exchange(s, port, body, strlen(body)), 413);
    /* Headers beyond the connection's memory: refused before the handler. */
    size_t big = 2 * HTTP_CONNECTION_MEMORY;
    char *huge = malloc(big + 64);
    int n = snprintf(huge, big + 64, "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ");
    memset(huge + n, 'a', big);
    memcpy(huge + n + big, "\r\n\r\n", 5);
    int before = calls;
    int code = exchange(s, port, huge, strlen(huge));
    assert_true(code == 431 || code == 413 || code == 0);
    assert_int_equal(calls, before);
    /* So is a request line (a path) beyond it. */
    n = snprintf(huge, big + 64, "GET /");
    memset(huge + n, 'a', big);
    snprintf(huge + n + big, 64, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    code = exchange(s, port, huge, strlen(huge));
    assert_true(code == 414 || code == 431 || code == 0);
    assert_int_equal(calls, before);
    free(huge);
    const struct rejects *r = http_server_rejects(s);
    assert_int_equal(r->n[HTTP_REJECT_METHOD], 1);
    assert_int_equal(r->n[HTTP_REJECT_BODY], 1);
    assert_int_equal(r->n[HTTP_REJECT_NOT_FOUND], 1);
    /* A second server on the same address cannot listen. */
    assert_null(http_server_open(listen, NULL, 0, handler, &calls, err, sizeof err));
    assert_non_null(strstr(err, "cannot listen"));
    http_server_close(s);
}

/* GET /ok with Host: host (none when NULL) over HTTP/1.1 (1.0 without a
 * Host); the status code. */
static int get_with_host(struct http_server *s, uint16_t port, const char *host) {
    char req[512];
    if (host)
        snprintf(req, sizeof req, "GET /ok HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 host);
    else
        snprintf(req, sizeof req, "GET /ok HTTP/1.0\r\n\r\n");
    return exchange(s, port, req, strlen(req));
}

/* DNS rebinding: a page of evil.example whose name comes to resolve to
 * the agent's address reads the dashboard as its own origin, with its own
 * name in Host. Only the listen address, loopback's forms and the names
 * configured are answered. */
static void host_header_is_checked(void **state) {
    uint16_t port;
    char listen[32], err[256], h[64];
    int calls = 0;
    struct http_server *s = serve(&port, listen, NULL, 0, &calls);
    snprintf(h, sizeof h, "127.0.0.1:%u", port);
    assert_int_equal(get_with_host(s, port, h), 200);
    assert_int_equal(get_with_host(s, port, "127.0.0.1"), 200);
    snprintf(h, sizeof h, "localhost:%u", port);
    assert_int_equal(get_with_host(s, port, h), 200);
    assert_int_equal(get_with_host(s, port, "LocalHost."), 200);
    assert_int_equal(get_with_host(s, port, "[::1]:8080"), 200); /* a tunnel's port */
    assert_int_equal(get_with_host(s, port, NULL), 200);
    int before = calls;
    snprintf(h, sizeof h, "evil.example:%u", port);
    assert_int_equal(get_with_host(s, port, h), 403);
    assert_int_equal(get_with_host(s, port, "evil.example"), 403);
    assert_int_equal(get_with_host(s, port, "127.0.0.1.evil.example"), 403);
    assert_int_equal(get_with_host(s, port, "localhost.evil.example"), 403);
    assert_int_equal(get_with_host(s, port, "10.1.2.3"), 403);
    assert_int_equal(get_with_host(s, port, "127.0.0.1:80:80"), 403);
    assert_int_equal(get_with_host(s, port, "127.0.0.1:http"), 403);
    assert_int_equal(get_with_host(s, port, "user@127.0.0.1"), 403);
    assert_int_equal(get_with_host(s, port, "[::1"), 403);
    assert_int_equal(calls, before);
    assert_int_equal(http_server_rejects(s)->n[HTTP_REJECT_HOST], 9);
    http_server_close(s);

    /* The names the operator gives, and only well-formed ones. */
    const char *names[] = {"dash.example.org", "host1"};
    s = serve(&port, listen, names, 2, &calls);
    assert_int_equal(get_with_host(s, port, "dash.example.org:9750"), 200);
    assert_int_equal(get_with_host(s, port, "DASH.Example.org."), 200);
    assert_int_equal(get_with_host(s, port, "host1"), 200);
    assert_int_equal(get_with_host(s, port, "host2"), 403);
    assert_int_equal(get_with_host(s, port, "example.org"), 403);
    http_server_close(s);
    const char *bad[] = {"dash.example.org", "evil host"};
    assert_null(http_server_open(listen, bad, 2, handler, &calls, err, sizeof err));
    assert_non_null(strstr(err, "evil host"));
    assert_null(http_name_check("a-b.example"));
    assert_non_null(http_name_check(""));
    assert_non_null(http_name_check("-a.example"));
    assert_non_null(http_name_check("a..example"));
    assert_non_null(http_name_check("a_b.example"));
    assert_non_null(http_name_check("127.0.0.1:80"));
}

/* The rule itself, for addresses a test may not listen on. */
static void host_rule(void **state) {
    const char *names[] = {"dash.example.org"};
    /* A wildcard listen answers any address (rebinding sends a name). */
    assert_true(http_host_allowed("192.0.2.7:9750", "0.0.0.0:9750", NULL, 0));
    assert_false(http_host_allowed("evil.example:9750", "0.0.0.0:9750", NULL, 0));
    assert_true(http_host_allowed("[2001:db8::1]", "[::]:9750", NULL, 0));
    assert_false(http_host_allowed("192.0.2.7", "[::]:9750", NULL, 0));
    /* A given address answers itself and loopback, not another address. */
    assert_true(http_host_allowed("10.77.0.1:9750", "10.77.0.1:9750", NULL, 0));
    assert_true(http_host_allowed("127.0.0.1:19750", "10.77.0.1:9750", NULL, 0));
    assert_true(http_host_allowed("localhost:19750", "10.77.0.1:9750", NULL, 0));
    assert_false(http_host_allowed("10.77.0.2:9750", "10.77.0.1:9750", NULL, 0));
    assert_true(http_host_allowed("[2001:db8::1]:9750", "[2001:db8::1]:9750", NULL, 0));
    assert_false(http_host_allowed("[2001:db8::2]:9750", "[2001:db8::1]:9750", NULL, 0));
    assert_false(http_host_allowed("2001:db8::1", "[2001:db8::1]:9750", NULL, 0));
    assert_true(http_host_allowed("dash.example.org", "10.77.0.1:9750", names, 1));
    assert_false(http_host_allowed("dash.example.org.evil.example", "10.77.0.1:9750", names, 1));
    assert_false(http_host_allowed("", "10.77.0.1:9750", names, 1));
    assert_false(http_host_allowed(":9750", "10.77.0.1:9750", names, 1));
    assert_false(http_host_allowed("[]:9750", "10.77.0.1:9750", names, 1));
    assert_false(http_host_allowed("localhost:99999", "10.77.0.1:9750", names, 1));
    assert_false(http_host_allowed("localhost:", "10.77.0.1:9750", names, 1));
}

/* Read-only and closed to other origins: no CORS header on any answer, a
 * preflight (OPTIONS) refused, and the page may not be framed. */
static void no_cross_origin(void **state) {
    uint16_t port;
    char listen[32], head[4096];
    int calls = 0;
    struct http_server *s = serve(&port, listen, NULL, 0, &calls);
    static const char cross[] = "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Origin: http://evil.example\r\nConnection: close\r\n\r\n";
    assert_int_equal(exchange_head(s, port, cross, strlen(cross), head), 200);
    assert_null(strcasestr(head, "Access-Control-"));
    assert_non_null(strcasestr(head, "frame-ancestors 'none'"));
    assert_non_null(strcasestr(head, "X-Content-Type-Options: nosniff"));
    assert_non_null(strcasestr(head, "Cross-Origin-Resource-Policy: same-origin"));
    assert_non_null(strcasestr(head, "Referrer-Policy: no-referrer"));
    static const char preflight[] =
        "OPTIONS /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n"
        "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n";
    assert_int_equal(exchange_head(s, port, preflight, strlen(preflight), head), 405);
    assert_null(strcasestr(head, "Access-Control-"));
    http_server_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(families_and_escapes),
        cmocka_unit_test(histogram_is_cumulative),
        cmocka_unit_test(page_is_bounded),
        cmocka_unit_test(server_bounds_its_input),
        cmocka_unit_test(host_header_is_checked),
        cmocka_unit_test(host_rule),
        cmocka_unit_test(no_cross_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
