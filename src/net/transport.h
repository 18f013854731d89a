/* Agent-to-agent messages over nng TCP: one pull socket listening on the
 * node's address, and a push socket per peer, dialed once and reused
 * (nng reconnects it by itself). Sends never block: a message that cannot be
 * queued is dropped and counted, as UDP would drop it; the protocols on top
 * (SWIM, Raft) are built for loss. Every frame is sealed and opened by the
 * frame layer (frame.h); frames it refuses are dropped, counted by reason
 * there, and logged once per reason and sender. */
#ifndef NODECTL_TRANSPORT_H
#define NODECTL_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define TRANSPORT_ADDR_MAX FRAME_ADDR_MAX
/* The largest payload accepted, before the frame around it. */
#define TRANSPORT_PAYLOAD_MAX (256 * 1024)

struct transport_stats {
    uint64_t sent;
    uint64_t received;
    uint64_t dropped_auth;      /* refused by the frame layer, but malformed */
    uint64_t dropped_malformed; /* did not decode */
    uint64_t dropped_send;      /* could not be queued to the peer */
};


struct transport;

/* Listens on tcp://bind:port; frames are sealed and opened with frames
 * (the caller's, shared with discovery; it outlives the transport). */
struct transport *transport_open(const char *bind, uint16_t port, struct frame_ctx *frames,
                                 char *err, size_t errlen);
void transport_close(struct transport *t);
/* Polls readable when a frame is waiting. */
int transport_fd(struct transport *t);
/* Queues payload for the peer at "host:port"; 0, or -1 if it was dropped. */
int transport_send(struct transport *t, const char *to, uint32_t channel, const void *payload,
                   size_t len);
/* Takes one authenticated message; 1 if one was taken, 0 if none waits. */
int transport_recv(struct transport *t, struct frame_msg *msg);
struct transport_stats transport_stats(const struct transport *t);

#endif
