/* Commands from other agents (proto/command.proto): the decoder, the
 * agent's bounds (message_check_command) and what the agent decides
 * before it acts on main today: the term fence (election/fence.c). The
 * input is a Command or a CommandMsg, as the first byte says, with the
 * fence's highest term in front. Whatever passes the check must fit every
 * buffer the agent copies it into (struct action, log lines). Command
 * acceptance is being rewritten (src/host/host_guard.c, docs/safety.md);
 * this harness grows with it. */
#include <stdlib.h>
#include <string.h>

#include "agent/message_check.h"
#include "election/fence.h"
#include "fuzz_input.h"

static void fits(const char *s, size_t max) {
    if (strnlen(s, max) >= max)
        abort();
}

static void accepted(const Nodectl__Command *c) {
    fits(c->id, MSG_ID_MAX);
    fits(c->issuer, MSG_NAME_MAX);
    fits(c->target, MSG_NAME_MAX);
    switch (c->body_case) {
    case NODECTL__COMMAND__BODY_MIGRATE:
        fits(c->migrate->vm, MSG_VM_NAME_MAX);
        fits(c->migrate->destination, MSG_NAME_MAX);
        fits(c->migrate->destination_uri, MSG_URI_MAX);
        fits(c->migrate->migration_address, MSG_URI_MAX);
        if (!c->migrate->vm[0] || !c->migrate->destination_uri[0])
            abort();
        break;
    case NODECTL__COMMAND__BODY_WAKE:
        fits(c->wake->host, MSG_NAME_MAX);
        fits(c->wake->mac, MSG_MAC_MAX);
        fits(c->wake->broadcast, MSG_NAME_MAX);
        fits(c->wake->ipmi_address, MSG_IPMI_MAX);
        break;
    case NODECTL__COMMAND__BODY_TRANSFER:
        fits(c->transfer->destination, MSG_NAME_MAX);
        break;
    case NODECTL__COMMAND__BODY_DRAIN:
    case NODECTL__COMMAND__BODY_POWER_OFF:
        break;
    default:
        abort(); /* no body must not pass */
    }
}

static void command(const Nodectl__Command *c, uint64_t highest) {
    enum message_reject why = MESSAGE_REJECT_REASONS;
    const char *field = message_check_command(c, &why);
    if (field) {
        if (why >= MESSAGE_REJECT_REASONS || !message_reject_name(why)[0])
            abort();
        return;
    }
    accepted(c);
    /* The fence: never admits an older term, and only moves up. */
    struct fence f = {.highest = highest};
    bool admitted = fence_admit(&f, c->term);
    if (admitted != (c->term >= highest) || f.highest < highest ||
        (admitted && f.highest != c->term))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fuzz_input in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    uint64_t highest = fuzz_u8(&in);
    if (mode & 1) {
        Nodectl__CommandMsg *m = nodectl__command_msg__unpack(NULL, in.n, in.p);
        if (!m)
            return 0;
        if (m->body_case == NODECTL__COMMAND_MSG__BODY_COMMAND)
            command(m->command, highest);
        nodectl__command_msg__free_unpacked(m, NULL);
    } else {
        Nodectl__Command *c = nodectl__command__unpack(NULL, in.n, in.p);
        if (!c)
            return 0;
        command(c, highest);
        nodectl__command__free_unpacked(c, NULL);
    }
    return 0;
}
