/* Agent-to-agent messages over nng TCP: one pull socket listening on the
 * node's address, and a push socket per peer, dialed once and reused
 * (nng reconnects it by itself) and closed after a minute unused. Sends
 * never block: a message that cannot be queued is dropped and counted, as
 * UDP would drop it; the protocols on top (SWIM, Raft) are built for loss.
 * Every frame is sealed and opened by the frame layer (frame.h); frames it
 * refuses are dropped, counted by reason there, and logged once per reason
 * and sender.
 *
 * Inbound connections are bounded before anything on them is believed
 * (docs/security.md, layer 1): no frame above TRANSPORT_FRAME_MAX is read,
 * and connections are limited per source address and in all and cut when
 * idle (admission.h, inbound.h), the limits sized from the descriptor
 * limit. */
#ifndef NODECTL_TRANSPORT_H
#define NODECTL_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "admission.h"
#include "frame.h"

#define TRANSPORT_ADDR_MAX FRAME_ADDR_MAX
/* The largest frame on the wire: nng reads no longer one
 * (NNG_OPT_RECVMAXSZ), and nothing longer is ever sent. Payloads: a gossip
 * packet is at most the agent's packet_max (1400 bytes;
 * cluster_gossip_config refuses one above TRANSPORT_PAYLOAD_MAX), an
 * election message under 100 bytes, a command or a grant under 1.5 KiB
 * (ids, host names under 64 bytes, URIs under 256, a VM name); the frame
 * around one adds at most FRAME_OVERHEAD_MAX (921 bytes: box, key id and
 * nonce, epoch and sequence, cluster, both addresses, name, certificate,
 * signature). One page in all: the most a connection can make the agent
 * allocate before its first frame is checked. */
#define TRANSPORT_FRAME_MAX 4096
/* The largest payload accepted for sending. */
#define TRANSPORT_PAYLOAD_MAX (TRANSPORT_FRAME_MAX - FRAME_OVERHEAD_MAX)
_Static_assert(TRANSPORT_PAYLOAD_MAX >= 3 * 1024, "room for a gossip packet and a command");

struct transport_stats {
    uint64_t sent;
    uint64_t received;
    uint64_t bytes_sent;        /* of the frames queued */
    uint64_t bytes_received;    /* of every frame taken, refused ones too */
    uint64_t dropped_auth;      /* refused by the frame layer, but malformed */
    uint64_t dropped_malformed; /* did not decode */
    uint64_t dropped_send;      /* could not be queued to the peer, or too large */
    uint64_t peers_down;        /* connections given up: no peer answered (PEER_DOWN_IDLE_MS) */
    struct admission_counts conns; /* inbound connections, and those cut by reason */
    /* sent and received by channel (frame_channel; 0 counts any other) */
    uint64_t sent_on[CHANNELS];
    uint64_t received_on[CHANNELS];
};


struct transport;

/* Listens on tcp://bind:port; frames are sealed and opened with frames
 * (the caller's, shared with discovery; it outlives the transport). */
struct transport *transport_open(const char *bind, uint16_t port, struct frame_ctx *frames,
                                 char *err, size_t errlen);
void transport_close(struct transport *t);
/* Polls readable when a frame is waiting. */
int transport_fd(struct transport *t);
/* Polls readable when transport_run has connections to cut. */
int transport_wake_fd(struct transport *t);
/* Queues payload for the peer at "host:port"; 0, or -1 if it was dropped. */
int transport_send(struct transport *t, const char *to, uint32_t channel, const void *payload,
                   size_t len);
/* Takes one authenticated message; 1 if one was taken, 0 if none waits. */
int transport_recv(struct transport *t, struct frame_msg *msg);
/* Keeps the inbound connections within their limits and closes the ones
 * idle too long, inbound and outbound; call it when transport_deadline has
 * come or transport_wake_fd polls readable. */
void transport_run(struct transport *t);
/* When transport_run has work next, in CLOCK_MONOTONIC milliseconds;
 * UINT64_MAX if never. */
uint64_t transport_deadline(struct transport *t);
struct transport_stats transport_stats(struct transport *t);

#endif
