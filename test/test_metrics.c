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
 * complete (the peer closes, or 2 s pass); the status line's code, or 0. */
static int exchange(struct http_server *s, uint16_t port, const char *req, size_t len) {
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
    return code;
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
    struct http_server *s = http_server_open(listen, handler, &calls, err, sizeof err);
    assert_non_null(s);
    static const char ok[] = "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(exchange(s, port, ok, strlen(ok)), 200);
    static const char missing[] = "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(exchange(s, port, missing, strlen(missing)), 404);
    static const char post[] =
        "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_int_equal(exchange(s, port, post, strlen(post)), 405);
    static const char body[] =
        "GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_int_equal(exchange(s, port, body, strlen(body)), 413);
    /* Headers beyond the connection's memory: refused before the handler. */
    size_t big = 2 * HTTP_CONNECTION_MEMORY;
    char *huge = malloc(big + 64);
    int n = snprintf(huge, big + 64, "GET /ok HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(huge + n, 'a', big);
    memcpy(huge + n + big, "\r\n\r\n", 5);
    int before = calls;
    int code = exchange(s, port, huge, strlen(huge));
    assert_true(code == 431 || code == 413 || code == 0);
    assert_int_equal(calls, before);
    free(huge);
    const struct rejects *r = http_server_rejects(s);
    assert_int_equal(r->n[HTTP_REJECT_METHOD], 1);
    assert_int_equal(r->n[HTTP_REJECT_BODY], 1);
    assert_int_equal(r->n[HTTP_REJECT_NOT_FOUND], 1);
    /* A second server on the same address cannot listen. */
    assert_null(http_server_open(listen, handler, &calls, err, sizeof err));
    assert_non_null(strstr(err, "cannot listen"));
    http_server_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(families_and_escapes),
        cmocka_unit_test(histogram_is_cumulative),
        cmocka_unit_test(page_is_bounded),
        cmocka_unit_test(server_bounds_its_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
