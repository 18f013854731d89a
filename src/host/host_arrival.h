/* A migration that failed at its destination (docs/safety.md): whether a
 * domain on this host is the copy that a migration its source saw fail
 * left running here. libvirt's peer-to-peer migration resumes the
 * destination's copy in Finish and, when Finish does not answer (the
 * destination's libvirtd stopped meanwhile), the source's in Confirm: both
 * run. The source never destroys its copy, the one every record and the
 * leader count on; the destination destroys its own once the source's
 * record shows that the migration failed and, in a sample taken after,
 * that the source runs the VM. Pure: the agent calls it on its samples and
 * again on the domain as libvirt shows it just before the destroy;
 * nodesim calls it on its simulated hosts. */
#ifndef NODECTL_HOST_ARRIVAL_H
#define NODECTL_HOST_ARRIVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "host.pb-c.h"
#include "host/host_checks.h"
#include "hv/hv.h"

enum host_arrival {
    HOST_ARRIVAL_KEEP,     /* nothing says this copy is a leftover */
    HOST_ARRIVAL_LEFTOVER, /* destroy it: the source runs the VM, the migration failed */
    /* Its source reports the migration failed, and nothing yet tells
     * whether the source's copy runs on: keep it, and never move it (the
     * copy moved would run on at its new host next to the source's). */
    HOST_ARRIVAL_DOUBT,
};

/* A member's record as gossip holds it, and whether gossip shows it alive
 * (an "off" host's last record stays). */
struct host_arrival_peer {
    const Nodectl__HostRecord *rec;
    bool alive;
};

/* dom: a domain of this host (`self`) with its job and the id of the
 * migration it came by (hv_domain_now.arrival). peers: the members' records
 * (this host's own is skipped). LEFTOVER only when dom is active with no
 * job, one peer's record reports the migration of that id, of that VM, to
 * this host, as failed or aborted, and either the peer is alive and the
 * same record, sampled after that migration ended (both times the source's
 * own clock), shows the VM (same UUID) running there with no migration of
 * it under way, or the record reports a later migration of it (started
 * after the failure ended) to another host as succeeded: that host runs
 * it, whether the source is still up or not. DOUBT when the migration is
 * reported failed or aborted but neither holds yet: the source is not alive
 * (an agent that died or a host cut off may still run its copy), has not
 * sampled since, or migrates its own copy again. why says what decided. */
enum host_arrival host_arrival_check(const char *self, const struct hv_domain_now *dom,
                                     const struct host_arrival_peer *peers, size_t n, char *why,
                                     size_t len);

/* Whether this host, as the source, may migrate dom away: only a copy that
 * host_arrival_check keeps (HOST_OK); a leftover or a doubtful copy is
 * refused (HOST_REFUSE_VM_LEFTOVER), why saying what the check found. */
enum host_refusal host_arrival_migrate_check(const char *self, const struct hv_domain_now *dom,
                                             const struct host_arrival_peer *peers, size_t n,
                                             char *why, size_t len);

#endif
