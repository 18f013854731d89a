/* The inbound connections of the transport's pull socket, kept within the
 * limits of admission.h: nng's pipe events and a periodic look at this
 * process's descriptors feed admission, and the connections it gives up
 * are cut.
 *
 * A connection is cut with shutdown(2) on its descriptor, found by its
 * addresses, never with nng_pipe_close: on nng 1.5.2 (Debian 12) closing a
 * pipe from the application while frames arrive on it can leave nng's
 * reaper waiting forever (no pipe is freed again, nng_close hangs), where a
 * connection that nng sees end takes nng's own, well-trodden path. The one
 * exception is refusing a new pipe inside its ADD_PRE notice, before any
 * frame is read on it, which nng documents. The look at the descriptors
 * also finds what nng does not report: connections that have not completed
 * the SP handshake (nng would hold them 10 s, a fixed timeout in its TCP
 * transport). */
#ifndef NODECTL_INBOUND_H
#define NODECTL_INBOUND_H

#include <nng/nng.h>
#include <stdint.h>

#include "admission.h"

struct inbound;

/* Watches the pipes of pull, whose listener is (to be) on TCP port `port`;
 * call before nng_listen. limits: admission's. NULL with a message in err. */
struct inbound *inbound_open(nng_socket pull, uint16_t port, const struct admission_limits *lim,
                             char *err, size_t errlen);
/* After nng_close(pull): no pipe notice comes any more. */
void inbound_close(struct inbound *in);
/* A frame that came in m authenticated. */
void inbound_authenticated(struct inbound *in, const nng_msg *m);
/* Looks at the connections and cuts what is due; call when inbound_deadline
 * has come or inbound_fd polls readable. */
void inbound_run(struct inbound *in);
/* CLOCK_MONOTONIC milliseconds. */
uint64_t inbound_deadline(struct inbound *in);
/* Polls readable when connections wait to be cut. */
int inbound_fd(const struct inbound *in);
struct admission_counts inbound_counts(struct inbound *in);

#endif
