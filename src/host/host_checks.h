/* A host's own refusals, as pure functions (docs/safety.md, "Guards at the
 * resource"): whether this host, as the source, may start a migration it
 * was asked for, and whether it may power itself off. They read only their
 * arguments: what gossip shows of the destination, the terms, and a fresh
 * view of the hypervisor (hv.h's struct hv_fresh, asked at that moment,
 * never a cached sample). The agent calls them where it acts; nodesim calls
 * them on its simulated hosts. Each returns HOST_OK or the refusal, with a
 * sentence for the operator in `why`. */
#ifndef NODECTL_HOST_CHECKS_H
#define NODECTL_HOST_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"

enum host_refusal {
    HOST_OK,
    HOST_REFUSE_STALE_TERM,       /* this host knows a newer term than the command's */
    HOST_REFUSE_DEST_UNKNOWN,     /* no such member in this host's gossip view */
    HOST_REFUSE_DEST_SELF,        /* the destination is this host */
    HOST_REFUSE_DEST_NOT_ALIVE,   /* suspect, dead or left */
    HOST_REFUSE_DEST_OFF,         /* announced off */
    HOST_REFUSE_DEST_POWERING_OFF, /* its record shows its power-off under way */
    HOST_REFUSE_DEST_DRAINING,    /* in maintenance */
    HOST_REFUSE_DEST_URI,         /* the command's URI is not the one it advertises */
    HOST_REFUSE_HV_UNAVAILABLE,   /* no fresh view: nothing can be told */
    HOST_REFUSE_VM_ABSENT,        /* the domain is not on this host */
    HOST_REFUSE_VM_NOT_RUNNING,   /* it has no running process */
    HOST_REFUSE_VM_MIGRATING,     /* a migration job runs on it already */
    HOST_REFUSE_VM_BUSY,          /* another job runs on it, or libvirt did not say */
    HOST_REFUSE_VM_LEFTOVER,      /* a failed migration's copy, maybe run at its source */
    HOST_REFUSE_DOMAINS_ACTIVE,   /* power-off: a domain has a running process */
    HOST_REFUSE_MIGRATION_JOB,    /* power-off: a migration runs from or to this host */
};

/* A member as this host's gossip shows it. */
enum host_peer_state {
    HOST_PEER_UNKNOWN, HOST_PEER_ALIVE, HOST_PEER_SUSPECT, HOST_PEER_DEAD, HOST_PEER_LEFT,
    HOST_PEER_OFF
};

struct host_peer {
    enum host_peer_state state;
    const char *name;
    const char *self;          /* this host's name */
    const char *migration_uri; /* the libvirt URI its record advertises ("" or NULL: none) */
    bool drain;                /* its record's drain flag */
    bool powering_off;         /* its record shows a power-off action running */
};

/* A migration command against what this host knows when it accepts it:
 * the command's term and the highest term this host has seen (Raft's
 * fencing: a leader of an older term is deposed, Ongaro 2014, 3.3), and
 * the destination in this host's gossip view, which must be alive, not in
 * maintenance, not on its way off, and reached at the URI it advertises
 * (a command naming another URI was made from a record that no longer
 * holds, or sends the VM somewhere else than the name says). */
enum host_refusal host_migrate_peer_check(uint64_t cmd_term, uint64_t known_term,
                                          const struct host_peer *dest, const char *cmd_dest_uri,
                                          char *why, size_t len);

/* The domain as a fresh view shows it just before the migration starts
 * (NULL: not on this host): it must have a running process and no job. */
enum host_refusal host_migrate_vm_check(const struct hv_domain_now *dom, const char *vm,
                                        char *why, size_t len);

/* Power-off against a fresh view: refused while it is not available, while
 * any domain is active (running, paused, blocked, shutting down, crashed
 * but not cleaned up: a process holds it), or while any migration job
 * runs, outgoing or incoming. */
enum host_refusal host_power_off_check(const struct hv_fresh *view, char *why, size_t len);

const char *host_refusal_name(enum host_refusal r);

#endif
