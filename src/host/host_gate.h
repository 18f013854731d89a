/* The inbound gate (docs/safety.md, "Guards at the resource"): what this
 * host's hypervisor lets in, written by the agent to a file in its state
 * directory and read by libvirt's qemu hook (`nodectl hook qemu`, run by
 * libvirtd from /etc/libvirt/hooks/qemu.d/) at the start of every incoming
 * migration and domain start. The hook's non-zero exit makes libvirt
 * refuse the operation, on the destination, whatever sent it: the last
 * line behind a command that slipped through.
 *
 * The file is one line, "STATE" or "STATE: reason":
 *   open      everything is let in;
 *   drained   the host is in maintenance: incoming migrations are refused;
 *   closed    the host is committed to power off: incoming migrations and
 *             every domain start (start, restore, the arrival of a
 *             migration) are refused.
 * Pure: text in, decisions out. */
#ifndef NODECTL_HOST_GATE_H
#define NODECTL_HOST_GATE_H

#include <stdbool.h>
#include <stddef.h>

#define HOST_GATE_FILE "inbound"
#define HOST_GATE_TEXT_MAX 512

enum host_gate { HOST_GATE_OPEN, HOST_GATE_DRAINED, HOST_GATE_CLOSED };

/* The file's text for a state and its reason ("" for none). */
void host_gate_format(enum host_gate g, const char *reason, char *out, size_t len);
/* The state and reason in a file's text; -1 when it is not a gate. */
int host_gate_parse(const char *text, enum host_gate *g, char *reason, size_t len);

/* Whether the gate refuses the qemu hook call `op subop` (hooks.rst):
 * "migrate begin" when drained or closed, "prepare begin" when closed.
 * Never "reconnect" (a refusal there would make libvirtd kill a running
 * domain) nor any "stopped"/"release" (too late to refuse). */
bool host_gate_refuses(enum host_gate g, const char *op, const char *subop);

const char *host_gate_name(enum host_gate g);

#endif
