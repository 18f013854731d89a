/* The frame layer (src/net/frame.c): what every agent-to-agent message and
 * every discovery beacon is opened with. The first byte chooses how the
 * rest is presented: as a whole frame to a keyed node (the MAC must fail);
 * as an envelope behind the zero MAC of an insecure cluster, or behind a
 * valid MAC (so the envelope decoder is reached as a key holder would
 * reach it); or as the fields of a frame that is sealed and opened again,
 * which must give the same fields back. An opened frame must name a
 * sender that fits FRAME_ADDR_MAX. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "net/frame.h"

#define CLUSTER "fuzz"

static const uint8_t key[FRAME_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};

static void opened(enum frame_result rc, struct frame_msg *msg) {
    if (rc != FRAME_OK)
        return;
    if (strnlen(msg->from, sizeof msg->from) >= sizeof msg->from || !msg->from[0])
        abort();
    free(msg->payload);
}

/* body behind a MAC: zero (insecure) or computed with the key. */
static void behind_mac(const uint8_t *body, size_t len, bool keyed) {
    uint8_t *frame = malloc(FRAME_MAC_BYTES + len);
    if (!frame)
        abort();
    memcpy(frame + FRAME_MAC_BYTES, body, len);
    if (keyed)
        crypto_auth(frame, body, len, key);
    else
        memset(frame, 0, FRAME_MAC_BYTES);
    struct frame_msg msg;
    opened(frame_open(frame, FRAME_MAC_BYTES + len, CLUSTER, keyed ? key : NULL, &msg), &msg);
    free(frame);
}

static void round_trip(struct fuzz_input *in, bool keyed) {
    char cluster[64], from[FRAME_ADDR_MAX + 8];
    fuzz_string(in, cluster, sizeof cluster);
    fuzz_string(in, from, sizeof from);
    uint32_t channel = fuzz_u32(in);
    size_t len;
    const uint8_t *payload = fuzz_bytes(in, 255, &len);
    size_t size = frame_size(cluster, from, channel, len);
    uint8_t *frame = malloc(size);
    if (!frame)
        abort();
    frame_seal(frame, cluster, from, channel, payload, len, keyed ? key : NULL);
    struct frame_msg msg;
    enum frame_result rc = frame_open(frame, size, cluster, keyed ? key : NULL, &msg);
    bool valid = from[0] && strlen(from) < FRAME_ADDR_MAX;
    if ((rc == FRAME_OK) != valid)
        abort();
    if (rc == FRAME_OK && (strcmp(msg.from, from) != 0 || msg.channel != channel ||
                           msg.len != len || (len && memcmp(msg.payload, payload, len) != 0)))
        abort();
    opened(rc, &msg);
    /* A keyed node refuses an insecure frame and the other way round. */
    rc = frame_open(frame, size, cluster, keyed ? NULL : key, &msg);
    if (rc == FRAME_OK)
        abort();
    free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (frame_init() != 0)
        abort();
    struct fuzz_input in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    struct frame_msg msg;
    switch (mode % 5) {
    case 0: opened(frame_open(in.p, in.n, CLUSTER, key, &msg), &msg); break;
    case 1: behind_mac(in.p, in.n, false); break;
    case 2: behind_mac(in.p, in.n, true); break;
    case 3: round_trip(&in, false); break;
    default: round_trip(&in, true); break;
    }
    return 0;
}
