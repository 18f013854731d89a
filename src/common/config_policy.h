/* The cluster policy's part of the configuration (config_policy.c): the
 * planner's parameters in [leader], the time zone in [cluster] and the
 * daily windows of [schedule]. The same on every host: each publishes a
 * digest of policy_text in its record, and status warns of a host whose
 * digest is not the leader's. */
#ifndef NODECTL_CONFIG_POLICY_H
#define NODECTL_CONFIG_POLICY_H

#include <stddef.h>

struct config;

void config_policy_defaults(struct config *cfg);
/* One key of the file: 1 when it is a policy key and its value is good, 0
 * when it is none of the policy's, -1 when it is and its value is bad
 * (err: "key 'k' in [s]: expected ..."). A [schedule] line reaches here as
 * inih splits it at its first ':' or '=': name and value. */
int config_policy_key(struct config *cfg, const char *section, const char *name,
                      const char *value, char *err, size_t len);
/* The policy in a canonical form (keys in a fixed order, numbers and
 * windows as they are written back), for its digest and for messages. */
void config_policy_text(const struct config *cfg, char *out, size_t len);
/* The policy's keys of src into dst (a reload), the rest of dst kept. */
void config_policy_copy(struct config *dst, const struct config *src);

#endif
