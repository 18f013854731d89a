/* Whether a host may carry out a wake request (docs/security.md, "Sane
 * values"). Waking presents the cluster's IPMI credentials to a BMC, or
 * broadcasts a magic packet: only at the addresses that the host to wake
 * published in its own record, which it signed, never at addresses the
 * request brings. Pure: the caller passes the record as gossip holds it. */
#ifndef NODECTL_WAKE_CHECK_H
#define NODECTL_WAKE_CHECK_H

#include <stddef.h>

#include "command/command.h"
#include "host.pb-c.h"

/* NULL if w may be carried out, given `target`, the record of the host it
 * wakes (NULL: none known); else why not, in why. */
const char *wake_check(const struct command_wake *w, const Nodectl__HostRecord *target,
                       char *why, size_t len);

#endif
