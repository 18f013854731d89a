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
#include "host/host_ha.h"

/* libvirt writes the domain XML to the hook's stdin whatever it decides; a
 * hook that exits before reading it would make that write fail. The first
 * HOST_HA_XML_MAX bytes are kept (malloc'd, NUL-terminated, *len; NULL when
 * out of memory), the rest read and dropped. */
static char *read_stdin(size_t *len) {
    char *xml = malloc(HOST_HA_XML_MAX + 2);
    size_t n = 0;
    char buf[4096];
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t room = xml && n <= HOST_HA_XML_MAX ? HOST_HA_XML_MAX + 1 - n : 0;
        size_t take = (size_t)r < room ? (size_t)r : room;
        if (take)
            memcpy(xml + n, buf, take);
        n += take;
    }
    if (xml)
        xml[n] = '\0';
    *len = n;
    return xml;
}

/* Whether process pid runs with start time `start` (/proc/PID/stat). */
static bool process_runs(long pid, unsigned long long start) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    size_t len;
    char *text = read_small_file(path, 4096, &len);
    unsigned long long now;
    bool same = text && host_ha_proc_start(text, &now) == 0 && now == start;
    free(text);
    return same;
}

/* The protected gate's refusal of a protected domain's start (true, with
 * the message written to stderr). */
static bool protected_refused(const struct config *cfg, const char *domain, const char *op,
                              const char *subop, int protected) {
    char path[CONFIG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", cfg->state_dir, HOST_HA_GATE_FILE);
    size_t len;
    char *text = read_small_file(path, HOST_HA_TEXT_MAX, &len);
    if (!text && errno != ENOENT) {
        fprintf(stderr, "nodectl: host %s refuses the start of '%s': cannot read its "
                        "protected gate %s: %s\n", cfg->node_name, domain, path,
                strerror(errno));
        return true;
    }
    struct host_ha_gate g;
    if (text && host_ha_gate_parse(text, &g) != 0) {
        fprintf(stderr, "nodectl: host %s refuses the start of '%s': its protected gate %s "
                        "is not 'reconciling: ...', 'ready pid=P start=S' or 'fenced: ...'\n",
                cfg->node_name, domain, path);
        free(text);
        return true;
    }
    char why[HOST_HA_TEXT_MAX + 256];
    bool refused = host_ha_refuses(op, subop, protected, text ? &g : NULL,
                                   text && g.state == HOST_HA_READY &&
                                       process_runs(g.pid, g.start),
                                   why, sizeof why);
    if (refused)
        fprintf(stderr, "nodectl: host %s refuses the start of '%s': %s (gate %s, kept by the "
                        "nodectl agent)\n", cfg->node_name, domain, why, path);
    free(text);
    return refused;
}

int cmd_hook(const struct cli_ctx *ctx, int argc, char **argv) {
    if (argc < 5 || argc > 6 || strcmp(argv[1], "qemu") != 0) {
        fprintf(stderr, "usage: nodectl [-c FILE] hook qemu OBJECT OPERATION SUB-OPERATION "
                        "[EXTRA]\n  (run by libvirtd; see: nodectl help hook)\n");
        return 2;
    }
    const char *domain = argv[2], *op = argv[3], *subop = argv[4];
    size_t xml_len;
    char *xml = read_stdin(&xml_len);
    /* Only the calls a gate can refuse need the gate. */
    if (!host_gate_refuses(HOST_GATE_CLOSED, op, subop)) {
        free(xml);
        return 0;
    }
    /* Out of memory or cut at the bound: cannot tell, counted protected. */
    int protected = xml && xml_len <= HOST_HA_XML_MAX ? host_ha_xml_protected(xml, xml_len) : -1;
    free(xml);
    /* No configuration file: the defaults, whose state directory has no
     * gate unless an agent ran. A bad one: the agent cannot run either. */
    struct config cfg;
    if (cli_load_config(ctx, &cfg) != 0) {
        fprintf(stderr, "nodectl hook: letting '%s' in\n", domain);
        return 0;
    }
    if (protected_refused(&cfg, domain, op, subop, protected))
        return 1;
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
