#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "cli.h"
#include "net/control.h"

int cli_load_config(const struct cli_ctx *ctx, struct config *cfg) {
    struct config_error err;
    const char *path = ctx->config_path ? ctx->config_path : CONFIG_DEFAULT_PATH;
    if (config_load(path, cfg, &err) == 0)
        return 0;
    if (!ctx->config_path && access(CONFIG_DEFAULT_PATH, F_OK) != 0) {
        config_defaults(cfg);
        return 0;
    }
    fprintf(stderr, "nodectl: bad configuration: %s\n", err.text);
    return -1;
}

Nodectl__Response *cli_call(const struct cli_ctx *ctx, const char *cmd, const Nodectl__Request *req,
                            Nodectl__Response__BodyCase expected) {
    char err[512];
    Nodectl__Response *resp = control_call(ctx->socket_path, req, ctx->timeout_ms, err, sizeof err);
    if (!resp) {
        fprintf(stderr, "nodectl %s: %s\n", cmd, err);
        return NULL;
    }
    if (resp->error && resp->error->code == NODECTL__ERROR_CODE__ERROR_PERMISSION_DENIED) {
        fprintf(stderr, "nodectl %s: %s\n", cmd, resp->error->message);
        nodectl__response__free_unpacked(resp, NULL);
        return NULL;
    }
    if (resp->error || resp->body_case != expected) {
        fprintf(stderr, "nodectl %s: the agent refused: %s\n", cmd,
                resp->error ? resp->error->message : "it answered another request");
        nodectl__response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

Nodectl__Response *cli_call_vms(const struct cli_ctx *ctx, const char *cmd) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__VmsRequest body = NODECTL__VMS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_VMS;
    req.vms = &body;
    return cli_call(ctx, cmd, &req, NODECTL__RESPONSE__BODY_VMS);
}

bool cli_parse_json_flag(const char *cmd, int argc, char **argv, bool *json) {
    *json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else {
            fprintf(stderr, "nodectl %s: unknown argument '%s' (see: nodectl help %s)\n", cmd,
                    argv[i], cmd);
            return false;
        }
    }
    return true;
}

void cli_format_kib(unsigned long long kib, char *buf, unsigned len) {
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)kib;
    int u = 0;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cli_uuid_text(const unsigned char *data, unsigned long len, char out[37]) {
    if (len == 16)
        uuid_unparse_lower(data, out);
    else
        snprintf(out, 37, "-");
}

const char *cli_vm_state_name(Nodectl__VmState s) {
    switch (s) {
    case NODECTL__VM_STATE__VM_STATE_RUNNING: return "running";
    case NODECTL__VM_STATE__VM_STATE_BLOCKED: return "blocked";
    case NODECTL__VM_STATE__VM_STATE_PAUSED: return "paused";
    case NODECTL__VM_STATE__VM_STATE_SHUTDOWN: return "shutdown";
    case NODECTL__VM_STATE__VM_STATE_SHUTOFF: return "shutoff";
    case NODECTL__VM_STATE__VM_STATE_CRASHED: return "crashed";
    case NODECTL__VM_STATE__VM_STATE_SUSPENDED: return "suspended";
    default: return "unknown";
    }
}

int cli_parse_size_kib(const char *s, unsigned long long *kib) {
    static const struct { const char *unit; unsigned long long kib; } units[] = {
        {"", 1024}, {"K", 1}, {"KiB", 1}, {"M", 1024}, {"MiB", 1024},
        {"G", 1024ull * 1024}, {"GiB", 1024ull * 1024}, {"T", 1024ull * 1024 * 1024},
        {"TiB", 1024ull * 1024 * 1024}};
    char *end;
    if (!s[0] || s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            if (v == 0 || v > (1ull << 44) / units[i].kib)
                return -1;
            *kib = v * units[i].kib;
            return 0;
        }
    return -1;
}
