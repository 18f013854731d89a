/* Domain lifecycle events (started, stopped, migrated, crashed) and
 * connection loss, through libvirt's event API. libvirt needs an event loop
 * for both, and for keepalive probes on remote connections; its default
 * implementation runs here in a thread of its own. The callbacks do nothing
 * but count and signal an eventfd: the queries are the sampling thread's
 * (hv_sampler.c). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "hv_internal.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loop_ok;

static void *run_loop(void *arg) {
    for (;;)
        if (virEventRunDefaultImpl() < 0)
            log_err("libvirt event loop: %s", virGetLastErrorMessage());
    return NULL;
}

static void start_loop(void) {
    pthread_t thread;
    if (virEventRegisterDefaultImpl() != 0)
        return;
    /* The loop lives as long as the process: libvirt offers no way to stop
     * virEventRunDefaultImpl, and every connection relies on it. */
    if (pthread_create(&thread, NULL, run_loop, NULL) != 0)
        return;
    pthread_detach(thread);
    loop_ok = 1;
}

int hv_events_start(void) {
    pthread_once(&once, start_loop);
    return loop_ok ? 0 : -1;
}

void hv_wake(struct hv *hv) {
    uint64_t one = 1;
    /* Only fails if the counter would overflow, when it is readable anyway. */
    if (write(hv->event_fd, &one, sizeof one) != (ssize_t)sizeof one)
        return;
}

void hv_events_signal(struct hv *hv) {
    atomic_fetch_add(&hv->events, 1);
    hv_wake(hv);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                        void *opaque) {
    hv_events_signal(opaque);
    return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque) {
    struct hv *hv = opaque;
    atomic_store(&hv->conn_closed, true);
    hv_events_signal(hv);
}

void hv_events_attach(struct hv *hv) {
    atomic_store(&hv->conn_closed, false);
    hv->lifecycle_cb = virConnectDomainEventRegisterAny(
        hv->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), hv,
        NULL);
    if (hv->lifecycle_cb < 0)
        log_warn("hypervisor %s: no lifecycle events (%s); changes show at the next sample",
                 hv->uri, virGetLastErrorMessage());
    /* Drivers without a close callback or keepalive (local ones) say so;
     * sampling errors still catch a lost connection there. */
    if (virConnectRegisterCloseCallback(hv->conn, on_close, hv, NULL) != 0)
        log_debug("hypervisor %s: no close callback", hv->uri);
    if (virConnectSetKeepAlive(hv->conn, 5, 3) < 0)
        log_debug("hypervisor %s: no keepalive", hv->uri);
}

void hv_events_detach(struct hv *hv) {
    if (hv->lifecycle_cb >= 0)
        virConnectDomainEventDeregisterAny(hv->conn, hv->lifecycle_cb);
    hv->lifecycle_cb = -1;
    virConnectUnregisterCloseCallback(hv->conn, on_close);
}

int hv_event_fd(const struct hv *hv) { return hv->poll_fd; }

uint64_t hv_events_take(struct hv *hv) {
    uint64_t wakes;
    /* Drains what woke the loop (events, or a sample handed over); only
     * events count. EAGAIN: nothing was pending. */
    if (read(hv->event_fd, &wakes, sizeof wakes) < 0 && errno != EAGAIN)
        log_debug("hypervisor %s: reading the event fd: %s", hv->uri, strerror(errno));
    uint64_t n = atomic_exchange(&hv->events, 0);
    /* The daemon's socket is back: an event, so that the caller samples,
     * and the sampling thread connects, now. */
    if (hv_watch_take(hv)) {
        log_info("hypervisor %s: its socket appeared in %s; connecting", hv->uri, hv->watch_dir);
        atomic_store(&hv->socket_appeared, true);
        n++;
    }
    return n;
}
