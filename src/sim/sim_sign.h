/* Signed records in `nodesim gossip --signed`: every simulated node seals
 * its record with a key that a CA of the simulation's own certified, and
 * checks every record it receives, as the agent does
 * (src/agent/agent_record.c, src/net/signed_record.h); the time both take
 * is measured in CPU time, for the cost of signed records per node. */
#ifndef NODECTL_SIM_SIGN_H
#define NODECTL_SIM_SIGN_H

#include <stdint.h>

#include "gossip/gossip.h"

struct sim_sign_stats {
    uint64_t seals, verifies, refused;
    double seal_s, verify_s; /* CPU seconds */
    uint64_t overhead;       /* bytes sealing adds to a record (node 0's) */
};

struct sim_signer;

/* Keys and certificates for nodes 0 .. nodes - 1 (member ids 1 .. nodes,
 * named n0 ..); NULL when out of memory or libsodium fails. */
struct sim_signer *sim_signer_new(uint32_t nodes);
void sim_signer_free(struct sim_signer *s);
/* Sets cfg's record hooks for node i. */
void sim_signer_configure(struct sim_signer *s, uint32_t i, struct gossip_config *cfg);
const struct sim_sign_stats *sim_signer_stats(const struct sim_signer *s);

#endif
