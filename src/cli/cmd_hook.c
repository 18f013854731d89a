/* `nodectl hook qemu OBJECT OP SUBOP EXTRA`: libvirt's qemu hook
 * (libvirt's hooks.rst), installed as /etc/libvirt/hooks/qemu.d/nodectl
 * (deploy/libvirt-hook-qemu). libvirtd runs it at every step of a domain's
 * life, the domain XML on stdin; for "migrate begin" (an incoming
 * migration) and "prepare begin" (any start) a non-zero exit makes libvirt
 * refuse the operation and report what the hook wrote to stderr. It reads
 * the gate the agent keeps in its state directory (src/host/host_gate.h)
 * and refuses what the gate does not let in. It never writes to stdout: for
 * "migrate begin" libvirt would take that as a new domain XML.
 *
 * What it cannot read fails open when nodectl is not set up here (no
 * configuration: the agent does not run, so nothing is powering off) and
 * closed otherwise (a gate file that cannot be read or parsed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/atomic_file.h"
#include "common/config.h"
#include "host/host_gate.h"

/* libvirt writes the domain XML to the hook's stdin whatever it decides; a
 * hook that exits before reading it would make that write fail. */
static void discard_stdin(void) {
    char buf[4096];
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
}

int cmd_hook(const struct cli_ctx *ctx, int argc, char **argv) {
    if (argc < 5 || argc > 6 || strcmp(argv[1], "qemu") != 0) {
        fprintf(stderr, "usage: nodectl [-c FILE] hook qemu OBJECT OPERATION SUB-OPERATION "
                        "[EXTRA]\n  (run by libvirtd; see: nodectl help hook)\n");
        return 2;
    }
    const char *domain = argv[2], *op = argv[3], *subop = argv[4];
    discard_stdin();
    /* Only the calls a gate can refuse need the gate. */
    if (!host_gate_refuses(HOST_GATE_CLOSED, op, subop))
        return 0;
    /* No configuration file: the defaults, whose state directory has no
     * gate unless an agent ran. A bad one: the agent cannot run either. */
    struct config cfg;
    if (cli_load_config(ctx, &cfg) != 0) {
        fprintf(stderr, "nodectl hook: letting '%s' in\n", domain);
        return 0;
    }
    char gate_path[CONFIG_PATH_MAX + 16];
    snprintf(gate_path, sizeof gate_path, "%s/%s", cfg.state_dir, HOST_GATE_FILE);
    size_t len;
    char *text = read_small_file(gate_path, HOST_GATE_TEXT_MAX, &len);
    if (!text && errno == ENOENT)
        return 0;
    if (!text) {
        fprintf(stderr, "nodectl: host %s refuses %s of '%s': cannot read its gate %s: %s\n",
                cfg.node_name, op, domain, gate_path, strerror(errno));
        return 1;
    }
    enum host_gate g;
    char reason[HOST_GATE_TEXT_MAX];
    int rc = 0;
    if (host_gate_parse(text, &g, reason, sizeof reason) != 0) {
        fprintf(stderr, "nodectl: host %s refuses %s of '%s': its gate %s is not 'open', "
                        "'drained: ...' or 'closed: ...'\n", cfg.node_name, op, domain,
                gate_path);
        rc = 1;
    } else if (host_gate_refuses(g, op, subop)) {
        fprintf(stderr, "nodectl: host %s refuses %s of '%s': %s%s%s (gate %s, kept by the "
                        "nodectl agent)\n", cfg.node_name,
                strcmp(op, "migrate") == 0 ? "the incoming migration" : "the start", domain,
                host_gate_name(g), reason[0] ? ": " : "", reason, gate_path);
        rc = 1;
    }
    free(text);
    return rc;
}
