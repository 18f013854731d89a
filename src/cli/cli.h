/* `nodectl` subcommands that are clients of the local agent. */
#ifndef NODECTL_CLI_H
#define NODECTL_CLI_H

#include <stdbool.h>

#include "common/config.h"
#include "control.pb-c.h"

/* What every client subcommand gets from the global options. */
struct cli_ctx {
    const char *config_path; /* -c, or NULL: the default */
    const char *socket_path;
    int timeout_ms;
};

/* Each returns the process exit code: 0 success, 1 failed, 2 bad usage. */
int cmd_status(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_vms(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_members(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_find(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_migrate(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_leader(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_plan(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_events(const struct cli_ctx *ctx, int argc, char **argv);
/* drain and undrain: argv[0] says which. */
int cmd_drain(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_host(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_keys(const struct cli_ctx *ctx, int argc, char **argv);
/* vm set: a VM's placement rules (cmd_vm.c). */
int cmd_vm(const struct cli_ctx *ctx, int argc, char **argv);
/* The leader's view, answered on any host (the agent forwards to the
 * leader): capacity and create (cmd_capacity.c, cmd_create.c). */
int cmd_capacity(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_create(const struct cli_ctx *ctx, int argc, char **argv);
/* Need no agent. */
int cmd_keygen(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_ca(const struct cli_ctx *ctx, int argc, char **argv);
int cmd_identity(const struct cli_ctx *ctx, int argc, char **argv);
/* libvirt's qemu hook: reads the gate the agent keeps (cmd_hook.c). */
int cmd_hook(const struct cli_ctx *ctx, int argc, char **argv);

/* Shared by the subcommands. */
/* The configuration: -c FILE must load; the default file may be absent (a
 * host that runs only the CLI), and then the defaults apply. 0, or -1 after
 * printing why. */
int cli_load_config(const struct cli_ctx *ctx, struct config *cfg);
/* Sends req to the agent; returns its Response (free with
 * nodectl__response__free_unpacked) if it answered with the expected body,
 * else prints why, prefixed by "nodectl CMD: ", and returns NULL. */
Nodectl__Response *cli_call(const struct cli_ctx *ctx, const char *cmd, const Nodectl__Request *req,
                            Nodectl__Response__BodyCase expected);
bool cli_parse_json_flag(const char *cmd, int argc, char **argv, bool *json);
/* "2G", "512M", "2048" (MiB), "1GiB": a size in KiB; -1 when it is not
 * one (0, or above 16 TiB). */
int cli_parse_size_kib(const char *s, unsigned long long *kib);
/* "1.5 GiB" from KiB. */
void cli_format_kib(unsigned long long kib, char *buf, unsigned len);
/* cli_call with a VmsRequest: every host that is up, with its VMs. */
Nodectl__Response *cli_call_vms(const struct cli_ctx *ctx, const char *cmd);
const char *cli_vm_state_name(Nodectl__VmState s);
void cli_uuid_text(const unsigned char *data, unsigned long len, char out[37]);

#endif
