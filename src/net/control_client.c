#include <grp.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "control.h"

/* "group G", the group that owns the socket at path. */
static void socket_group(const char *path, char *out, size_t len) {
    struct stat st;
    struct group gr, *found = NULL;
    char buf[16384];
    if (stat(path, &st) != 0)
        snprintf(out, len, "its group");
    else if (getgrgid_r(st.st_gid, &gr, buf, sizeof buf, &found) == 0 && found)
        snprintf(out, len, "group %s", gr.gr_name);
    else
        snprintf(out, len, "group %u", (unsigned)st.st_gid);
}

Nodectl__Response *control_call(const char *path, const Nodectl__Request *req, int timeout_ms,
                                char *err, size_t errlen) {
    char url[PATH_MAX + 8];
    if (snprintf(url, sizeof url, "ipc://%s", path) >= (int)sizeof url) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return NULL;
    }
    nng_socket sock;
    int rv = nng_req0_open(&sock);
    if (rv != 0) {
        snprintf(err, errlen, "cannot open a socket: %s", nng_strerror(rv));
        return NULL;
    }
    Nodectl__Response *resp = NULL;
    size_t len = nodectl__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    char *reply = NULL;
    size_t reply_len = 0;
    if (!buf) {
        snprintf(err, errlen, "out of memory");
    } else if ((rv = nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, timeout_ms)) != 0 ||
               (rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, timeout_ms)) != 0 ||
               (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 64 * 1024 * 1024)) != 0) {
        snprintf(err, errlen, "cannot configure the socket: %s", nng_strerror(rv));
    } else if ((rv = nng_dial(sock, url, NULL, 0)) == NNG_EPERM) {
        char group[96];
        socket_group(path, group, sizeof group);
        snprintf(err, errlen, "cannot reach the agent at %s: permission denied (root and the "
                 "members of %s may use it)", path, group);
    } else if (rv != 0) {
        snprintf(err, errlen, "cannot reach the agent at %s: %s (is `nodectl agent` running?)",
                 path, nng_strerror(rv));
    } else {
        nodectl__request__pack(req, buf);
        if ((rv = nng_send(sock, buf, len, 0)) != 0 ||
            (rv = nng_recv(sock, &reply, &reply_len, NNG_FLAG_ALLOC)) != 0) {
            snprintf(err, errlen, "no answer from the agent at %s: %s", path, nng_strerror(rv));
        } else {
            resp = nodectl__response__unpack(NULL, reply_len, (const uint8_t *)reply);
            if (!resp)
                snprintf(err, errlen, "the agent at %s sent a reply that does not decode", path);
            nng_free(reply, reply_len);
        }
    }
    free(buf);
    nng_close(sock);
    return resp;
}
