/* What the files of src/agent share: the agent's state. */
#ifndef NODECTL_AGENT_INTERNAL_H
#define NODECTL_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "common/backoff.h"
#include "common/config.h"
#include "common/prng.h"
#include "gossip/gossip.h"
#include "hv/hv.h"
#include "net/control.h"
#include "net/discovery.h"
#include "net/transport.h"

/* Gossip, its transport and discovery, and the membership snapshot. */
struct cluster {
    struct gossip *gossip;
    struct transport *transport;
    struct discovery *discovery; /* NULL when disabled */
    char advertise[TRANSPORT_ADDR_MAX];
    uint64_t self_id;
    struct prng rng;
    struct backoff join_backoff;
    uint64_t next_join_ms;
    uint64_t next_announce_ms;
    bool snapshot_dirty;
    uint64_t next_snapshot_ms;
    /* What was last published, to skip versions nobody needs. */
    uint64_t published_ms;
    double published_cpu;
    uint64_t published_mem;
    uint8_t *published;
    size_t published_len;
};

struct agent {
    struct config cfg;
    uuid_t id;
    struct hv *hv;
    const struct hv_sample *sample;
    struct control_server *ctl;
    uint64_t next_sample_ms;
    struct cluster cluster;
};

uint64_t agent_clock_ms(void);      /* monotonic */
uint64_t agent_wall_clock_ms(void); /* since the epoch */

/* agent_record.c: this host's record now. */
Nodectl__HostRecord *agent_self_record(struct agent *a);

/* agent_control.c */
Nodectl__Response *agent_handle_request(void *ctx, const Nodectl__Request *req);

/* agent_cluster.c. cluster_open returns 0, or -1 with a message in err and
 * *usage set when the configuration (key, addresses, timing) is at fault. */
int cluster_open(struct agent *a, char *err, size_t errlen, bool *usage);
void cluster_close(struct agent *a);
/* The earliest time the cluster needs the loop back. */
uint64_t cluster_deadline(const struct agent *a);
/* Does what is due now and takes what arrived; fds from cluster_fds. */
void cluster_run(struct agent *a, uint64_t now_ms);
/* Descriptors to poll for input; returns how many were written (<= 2). */
int cluster_fds(const struct agent *a, int fds[2]);
/* After a new hypervisor sample: publishes the record if it moved. */
void cluster_publish(struct agent *a, uint64_t now_ms);
/* Graceful stop: announces "left" and gives it time to spread. */
void cluster_leave(struct agent *a);
/* "a.b.c.d:port" or "[v6]:port". */
void cluster_format_addr(const struct gossip_addr *a, char *out, size_t len);
/* Gossip's configuration from the agent's. NULL, or what is wrong. */
const char *cluster_gossip_config(const struct config *cfg, struct gossip_config *out);

#endif
