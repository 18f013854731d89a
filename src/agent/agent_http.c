/* The agent's HTTP server ([http] listen): GET /metrics for Prometheus,
 * GET / the dashboard, GET /api/state the JSON it polls. Read-only: no
 * route changes anything, so the server needs no authentication of its
 * own; it listens on loopback unless the operator says otherwise. The
 * server runs from the agent's loop (src/net/http_server.h), so the
 * handlers read the agent's state in its own thread. */
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"

extern const char dashboard_html[];
extern const size_t dashboard_html_len;

static void reply_text(struct http_reply *out, unsigned status, const char *type, char *body,
                       size_t len) {
    if (!body) {
        static const char oom[] = "out of memory\n";
        out->status = 503;
        out->type = "text/plain; charset=utf-8";
        out->body = strdup(oom);
        out->len = out->body ? strlen(oom) : 0;
        return;
    }
    out->status = status;
    out->type = type;
    out->body = body;
    out->len = len;
}

static void route(void *ctx, const char *path, struct http_reply *out) {
    struct agent *a = ctx;
    size_t len = 0;
    if (strcmp(path, "/metrics") == 0) {
        char *text = agent_metrics_text(a, &len);
        reply_text(out, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    } else if (strcmp(path, "/api/state") == 0) {
        char *json = agent_state_json(a, &len);
        reply_text(out, 200, "application/json", json, len);
    } else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        char *page = malloc(dashboard_html_len);
        if (page)
            memcpy(page, dashboard_html, dashboard_html_len);
        reply_text(out, 200, "text/html; charset=utf-8", page, dashboard_html_len);
    } else {
        static const char missing[] = "not found: try /, /metrics or /api/state\n";
        reply_text(out, 404, "text/plain; charset=utf-8", strdup(missing), strlen(missing));
    }
}

int agent_http_open(struct agent *a, char *err, size_t errlen) {
    if (!a->cfg.http_listen[0])
        return 0;
    const char *names[CONFIG_LIST_MAX];
    for (size_t i = 0; i < a->cfg.http_names.n; i++)
        names[i] = a->cfg.http_names.item[i];
    if (!(a->http = http_server_open(a->cfg.http_listen, names, a->cfg.http_names.n, route, a,
                                     err, errlen)))
        return -1;
    log_info("http: metrics at http://%s/metrics, dashboard at http://%s/", a->cfg.http_listen,
             a->cfg.http_listen);
    return 0;
}

void agent_http_close(struct agent *a) {
    http_server_close(a->http);
    a->http = NULL;
}
