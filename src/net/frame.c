#include "frame.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.pb-c.h"

_Static_assert(crypto_auth_BYTES == FRAME_MAC_BYTES, "MAC size");
_Static_assert(crypto_auth_KEYBYTES == FRAME_KEY_BYTES, "key size");

int frame_init(void) { return sodium_init() < 0 ? -1 : 0; }

static void envelope(Nodectl__Envelope *env, const char *cluster, const char *from,
                     uint32_t channel, const void *payload, size_t len) {
    nodectl__envelope__init(env);
    env->cluster = (char *)cluster;
    env->from = (char *)from;
    env->channel = channel;
    env->payload.data = (uint8_t *)payload;
    env->payload.len = len;
}

size_t frame_size(const char *cluster, const char *from, uint32_t channel, size_t len) {
    Nodectl__Envelope env;
    envelope(&env, cluster, from, channel, NULL, len);
    return FRAME_MAC_BYTES + nodectl__envelope__get_packed_size(&env);
}

void frame_seal(uint8_t *out, const char *cluster, const char *from, uint32_t channel,
                const void *payload, size_t len, const uint8_t *key) {
    Nodectl__Envelope env;
    envelope(&env, cluster, from, channel, payload, len);
    size_t body = nodectl__envelope__pack(&env, out + FRAME_MAC_BYTES);
    if (key)
        crypto_auth(out, out + FRAME_MAC_BYTES, body, key);
    else
        memset(out, 0, FRAME_MAC_BYTES);
}

enum frame_result frame_open(const uint8_t *frame, size_t len, const char *cluster,
                             const uint8_t *key, struct frame_msg *msg) {
    if (len < FRAME_MAC_BYTES)
        return FRAME_MALFORMED;
    const uint8_t *body = frame + FRAME_MAC_BYTES;
    size_t body_len = len - FRAME_MAC_BYTES;
    if (key) {
        if (crypto_auth_verify(frame, body, body_len, key) != 0)
            return FRAME_BAD_AUTH;
    } else {
        static const uint8_t zero[FRAME_MAC_BYTES];
        if (memcmp(frame, zero, sizeof zero) != 0)
            return FRAME_BAD_AUTH; /* a keyed cluster's frame */
    }
    Nodectl__Envelope *env = nodectl__envelope__unpack(NULL, body_len, body);
    if (!env)
        return FRAME_MALFORMED;
    enum frame_result rc = FRAME_OK;
    if (strcmp(env->cluster, cluster) != 0)
        rc = FRAME_BAD_AUTH;
    else if (strlen(env->from) >= FRAME_ADDR_MAX || !env->from[0])
        rc = FRAME_MALFORMED;
    else if (!(msg->payload = malloc(env->payload.len ? env->payload.len : 1)))
        rc = FRAME_NO_MEMORY;
    if (rc == FRAME_OK) {
        if (env->payload.len)
            memcpy(msg->payload, env->payload.data, env->payload.len);
        msg->len = env->payload.len;
        msg->channel = env->channel;
        snprintf(msg->from, sizeof msg->from, "%s", env->from);
    }
    nodectl__envelope__free_unpacked(env, NULL);
    return rc;
}
