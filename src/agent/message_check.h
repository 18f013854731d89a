/* The bounds of message_limits.h applied to decoded messages: a host
 * record from gossip, a command from another agent, a request on the
 * control socket. Pure: the fuzzers (test/fuzz) call them as the agent
 * does. Each returns NULL when the message is within bounds, else the
 * field at fault, with the reason in *why. */
#ifndef NODECTL_MESSAGE_CHECK_H
#define NODECTL_MESSAGE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "command/command.h"
#include "common/reject.h"
#include "control.pb-c.h"
#include "host.pb-c.h"
#include "message_limits.h"

enum message_reject {
    MESSAGE_REJECT_MALFORMED, /* does not decode (commands: or a field is too long) */
    MESSAGE_REJECT_TEXT,      /* text too long, empty where a value is needed, or a name with
                                 control characters */
    MESSAGE_REJECT_BYTES,     /* a UUID or key of the wrong size */
    MESSAGE_REJECT_COUNT,     /* more VMs, actions or candidates than a host has */
    MESSAGE_REJECT_BODY,      /* no body, or one of an unknown kind */
    MESSAGE_REJECT_VALUE,     /* a number out of range */
    MESSAGE_REJECT_REASONS,
};
const char *message_reject_name(unsigned r);

const char *message_check_record(const Nodectl__HostRecord *r, enum message_reject *why);
/* A command command_msg_decode took (it bounds every length): names
 * without control characters, the fields its action needs, a plausible
 * migration timeout. */
const char *message_check_command(const struct command *c, enum message_reject *why);
const char *message_check_request(const Nodectl__Request *q, enum message_reject *why);

/* Decodes a record and checks it: NULL (counted in *rejects, with the
 * field in *field) if it does not decode or is out of bounds. */
Nodectl__HostRecord *message_record_decode(const uint8_t *data, size_t len,
                                           struct rejects *rejects, const char **field);

#endif
