/* Addresses a command carries, against what their host published in its
 * own record, which it signed (docs/security.md, "Sane values"). A host
 * acts only at those: it presents the cluster's IPMI credentials to the
 * BMC the host to wake published, broadcasts to its MAC and network, and
 * sends a VM's memory to the URI and data address the destination
 * advertises, never to addresses a command brings. Pure: the caller passes
 * the record as gossip holds it. */
#ifndef NODECTL_PUBLISHED_H
#define NODECTL_PUBLISHED_H

#include <stddef.h>

#include "command/command.h"
#include "host.pb-c.h"

/* NULL if w may be carried out, given `target`, the record of the host it
 * wakes (NULL: none known); else why not, in why. */
const char *published_wake(const struct command_wake *w, const Nodectl__HostRecord *target,
                           char *why, size_t len);
/* The same for a migration to `dest`, the destination's record. */
const char *published_migration(const struct command_migrate *m,
                                 const Nodectl__HostRecord *dest, char *why, size_t len);

#endif
