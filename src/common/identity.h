/* The node's identity: a UUID made on first start and kept in the state
 * directory, so a host keeps its identity across restarts and renames. */
#ifndef NODECTL_IDENTITY_H
#define NODECTL_IDENTITY_H

#include <uuid/uuid.h>

#define IDENTITY_FILE "node-id"

/* Loads state_dir/node-id, or creates it (atomically) if it does not exist.
 * A file that exists but does not hold exactly one UUID is an error, never a
 * reason to make a new identity: a host that silently changed identity would
 * look like a new member while its old self lingers as failed.
 * Returns 0, or -1 with a message in err. */
int identity_load_or_create(const char *state_dir, uuid_t id, char *err, size_t errlen);

#endif
