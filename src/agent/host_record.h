/* The host's record in wire form (proto/host.proto): what the agent sampled
 * from its hypervisor, plus who and where it is. */
#ifndef NODECTL_HOST_RECORD_H
#define NODECTL_HOST_RECORD_H

#include <uuid/uuid.h>

#include "common/config.h"
#include "host.pb-c.h"
#include "hv/hv.h"

/* A new heap-allocated record (free with protobuf_c_message_free_unpacked),
 * or NULL when out of memory. loadavg: the host's 1, 5 and 15 minute load. */
Nodectl__HostRecord *host_record_build(const struct config *cfg, const uuid_t id,
                                       const char *uri, const struct hv_sample *s,
                                       const double loadavg[3], uint64_t wall_ms);

#endif
