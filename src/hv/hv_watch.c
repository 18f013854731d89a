/* Knowing at once that a local libvirt daemon is back. When libvirtd (or
 * virtqemud) stops, its clients learn it from the connection's close
 * callback (hv_events.c); when it starts again it creates its socket, and
 * inotify on the socket's directory (inotify(7): IN_CREATE, IN_MOVED_TO)
 * says so at that moment, so the agent reconnects then instead of at the
 * next retry of its backoff, which has grown meanwhile. The daemon accepts
 * clients only once its drivers are up (it enables its services at the end
 * of daemonRunStateInit), so a connection made as soon as the socket
 * appears waits in the sampling thread until libvirt answers.
 *
 * Which directory: the URI's socket= parameter names the socket; otherwise
 * a local system URI (driver:///system, transport none or unix) uses
 * /run/libvirt (libvirtd's libvirt-sock, a modular daemon's
 * virtqemud-sock...), a session URI $XDG_RUNTIME_DIR/libvirt. Remote URIs
 * (a host, or a tcp/tls/ssh transport) and the test driver have no socket
 * here: for them the backoff alone retries. A directory that does not
 * exist yet (the daemon never ran) is waited for in its parent. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/log.h"
#include "hv_internal.h"

/* The socket directory for uri and, if the URI names it, the socket's file
 * name ("" otherwise: any *sock file counts). -1: no local socket. */
static int socket_dir(const char *uri, char *dir, size_t dlen, char *name, size_t nlen) {
    const char *sep = strstr(uri, "://");
    if (!sep)
        return -1;
    size_t slen = (size_t)(sep - uri);
    const char *plus = memchr(uri, '+', slen);
    size_t drv_len = plus ? (size_t)(plus - uri) : slen;
    if (drv_len == 4 && strncmp(uri, "test", 4) == 0)
        return -1;
    if (plus && !(slen - drv_len - 1 == 4 && strncmp(plus + 1, "unix", 4) == 0))
        return -1;
    const char *auth = sep + 3, *path = auth + strcspn(auth, "/?");
    if (path != auth)
        return -1;
    const char *query = strchr(path, '?');
    size_t path_len = query ? (size_t)(query - path) : strlen(path);
    name[0] = '\0';
    for (const char *q = query; q; q = strchr(q + 1, '&')) {
        if (strncmp(q + 1, "socket=", 7) != 0)
            continue;
        char sock[PATH_MAX];
        snprintf(sock, sizeof sock, "%.*s", (int)strcspn(q + 8, "&"), q + 8);
        char copy[PATH_MAX];
        snprintf(copy, sizeof copy, "%s", sock);
        snprintf(dir, dlen, "%s", dirname(copy));
        snprintf(copy, sizeof copy, "%s", sock);
        snprintf(name, nlen, "%s", basename(copy));
        return 0;
    }
    if (path_len == 7 && strncmp(path, "/system", 7) == 0) {
        snprintf(dir, dlen, "/run/libvirt");
        return 0;
    }
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (path_len == 8 && strncmp(path, "/session", 8) == 0 && runtime && runtime[0]) {
        snprintf(dir, dlen, "%s/libvirt", runtime);
        return 0;
    }
    return -1;
}

static void add_watch(struct hv *hv) {
    hv->watch_dir_wd = inotify_add_watch(hv->watch_fd, hv->watch_dir, IN_CREATE | IN_MOVED_TO);
    if (hv->watch_dir_wd >= 0 || errno != ENOENT)
        return;
    /* Not there yet: its creation is waited for in the parent. */
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", hv->watch_dir);
    if (hv->watch_parent_wd < 0)
        hv->watch_parent_wd = inotify_add_watch(hv->watch_fd, dirname(copy), IN_CREATE);
}

void hv_watch_open(struct hv *hv) {
    hv->watch_fd = hv->watch_dir_wd = hv->watch_parent_wd = -1;
    if (socket_dir(hv->uri, hv->watch_dir, sizeof hv->watch_dir, hv->watch_name,
                   sizeof hv->watch_name) != 0)
        return;
    hv->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (hv->watch_fd < 0) {
        log_warn("hypervisor %s: no inotify (%s): a restarted daemon is found by retries only",
                 hv->uri, strerror(errno));
        return;
    }
    add_watch(hv);
    if (hv->watch_dir_wd < 0 && hv->watch_parent_wd < 0)
        log_warn("hypervisor %s: cannot watch %s (%s): a restarted daemon is found by retries "
                 "only", hv->uri, hv->watch_dir, strerror(errno));
}

void hv_watch_close(struct hv *hv) {
    if (hv->watch_fd >= 0)
        close(hv->watch_fd);
    hv->watch_fd = -1;
}

static bool is_socket_name(const struct hv *hv, const char *name) {
    if (hv->watch_name[0])
        return strcmp(name, hv->watch_name) == 0;
    size_t n = strlen(name);
    return n >= 4 && strcmp(name + n - 4, "sock") == 0;
}

bool hv_watch_take(struct hv *hv) {
    if (hv->watch_fd < 0)
        return false;
    /* inotify(7): a buffer aligned for struct inotify_event. */
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool appeared = false;
    ssize_t n;
    while ((n = read(hv->watch_fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->len && ev->wd == hv->watch_dir_wd && is_socket_name(hv, ev->name))
                appeared = true;
            if (ev->mask & IN_IGNORED && ev->wd == hv->watch_dir_wd)
                hv->watch_dir_wd = -1; /* the directory went away */
            p += sizeof *ev + ev->len;
        }
    }
    if (hv->watch_dir_wd < 0) {
        add_watch(hv);
        /* Made with its socket already in it: try at once. */
        appeared = appeared || hv->watch_dir_wd >= 0;
    }
    return appeared;
}
