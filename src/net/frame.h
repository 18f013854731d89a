/* The authenticated frame every agent-to-agent message travels in, over TCP
 * (transport.c) and in multicast discovery beacons (discovery.c):
 * MAC(32 bytes) || packed nodectl.Envelope (proto/envelope.proto). The MAC is
 * libsodium's crypto_auth (HMAC-SHA-512-256) under the cluster key; an
 * insecure cluster (no key) sends a zero MAC, which no keyed node accepts. */
#ifndef NODECTL_FRAME_H
#define NODECTL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_KEY_BYTES 32
#define FRAME_MAC_BYTES 32
#define FRAME_ADDR_MAX 128

/* What a frame's payload is for. */
enum frame_channel {
    CHANNEL_GOSSIP = 1,
    CHANNEL_ELECTION = 2,
    CHANNEL_DISCOVERY = 3,
    CHANNEL_COMMAND = 4,
};

enum frame_result { FRAME_OK, FRAME_BAD_AUTH, FRAME_MALFORMED, FRAME_NO_MEMORY };

struct frame_msg {
    char from[FRAME_ADDR_MAX];
    uint32_t channel;
    uint8_t *payload; /* owned by the receiver: free() it */
    size_t len;
};

/* Initialises libsodium; 0, or -1 if it cannot be used. */
int frame_init(void);
/* The size of the frame that frame_seal writes. */
size_t frame_size(const char *cluster, const char *from, uint32_t channel, size_t len);
/* Writes the frame into out (frame_size bytes). key NULL: insecure. */
void frame_seal(uint8_t *out, const char *cluster, const char *from, uint32_t channel,
                const void *payload, size_t len, const uint8_t *key);
/* Checks the MAC and the cluster name, then decodes into msg. */
enum frame_result frame_open(const uint8_t *frame, size_t len, const char *cluster,
                             const uint8_t *key, struct frame_msg *msg);

#endif
