/* Requests on the control socket: the server's framing of one message into
 * a request (control_request_decode: size limit, decoding, the request
 * type) and the agent's bounds on its fields (message_check_request), as
 * control_server_serve applies them before the request is logged,
 * authorized or handled; the handler needs a running agent
 * (test_control_input drives that). What passes must fit the buffers the
 * agent copies it into. */
#include <stdlib.h>
#include <string.h>

#include "agent/message_check.h"
#include "fuzz_input.h"
#include "net/control.h"

static void fits(const char *s, size_t max) {
    if (strnlen(s, max) >= max)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    enum control_reject reason = CONTROL_REJECT_REASONS;
    Nodectl__Request *req = control_request_decode(data, size, &reason);
    if (!req) {
        if (reason >= CONTROL_REJECT_REASONS || (size > CONTROL_REQUEST_MAX) !=
                                                    (reason == CONTROL_REJECT_TOO_LARGE))
            abort();
        return 0;
    }
    if (req->body_case == NODECTL__REQUEST__BODY__NOT_SET)
        abort();
    enum message_reject why;
    if (!message_check_request(req, &why)) {
        switch (req->body_case) {
        case NODECTL__REQUEST__BODY_MIGRATE:
            fits(req->migrate->vm, MSG_VM_NAME_MAX);
            fits(req->migrate->destination, MSG_NAME_MAX);
            break;
        case NODECTL__REQUEST__BODY_LEADER_TRANSFER:
            fits(req->leader_transfer->destination, MSG_NAME_MAX);
            break;
        case NODECTL__REQUEST__BODY_DRAIN:
            fits(req->drain->host, MSG_NAME_MAX);
            break;
        default:
            break;
        }
    }
    nodectl__request__free_unpacked(req, NULL);
    return 0;
}
