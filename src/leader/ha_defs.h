/* The protected VMs' definitions a candidate keeps (docs/ha.md), pure: each
 * host sends the domain XML of every protected VM it has to every
 * candidate; a copy is kept per (VM, host), the newest by the host's
 * (epoch, seq), so the leader restarts a VM of a fenced host from what
 * that host last had, and a new leader has the same copies. Bounded: when
 * full, the copy received longest ago goes. */
#ifndef NODECTL_LEADER_HA_DEFS_H
#define NODECTL_LEADER_HA_DEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command/command.h"

#define HA_DEFS_MAX 512

enum ha_defs_put { HA_DEFS_NEW, HA_DEFS_NEWER, HA_DEFS_SAME, HA_DEFS_OLDER };

struct ha_defs;

struct ha_defs *ha_defs_new(void);
void ha_defs_free(struct ha_defs *d);
/* A copy from `from` (its frame's certified sender): only a host's own
 * definitions are taken; false when it is not (nothing kept). */
bool ha_defs_put(struct ha_defs *d, const struct definition_put *p, const char *from,
                 uint64_t now, enum ha_defs_put *out);
/* The leader restarted p's VM on `host` with p's XML: until that host's
 * own copy arrives (any of its versions is newer: this one is kept as
 * version 0.0), the leader knows what it defined there, so a restart from
 * that host, should it die first, is possible. False when host has a copy
 * already (nothing changed). */
bool ha_defs_seed(struct ha_defs *d, const struct definition_put *p, const char *host,
                  uint64_t now);
/* The newest copy of vm from host; NULL when none. */
const struct definition_put *ha_defs_get(const struct ha_defs *d, const char *vm,
                                         const char *host);
size_t ha_defs_count(const struct ha_defs *d);

#endif
