/* The connection to the hypervisor: opened lazily, watched through events
 * (its close callback says at once that it dropped), and re-opened as soon
 * as a local daemon's socket reappears (hv_watch.c), else with jittered
 * backoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "common/clock.h"
#include "common/log.h"
#include "hv_internal.h"

/* libvirt prints every error to stderr by default; the agent reports them
 * itself, once, with context. */
static void quiet_errors(void *opaque, virErrorPtr err) {}

struct hv *hv_new(const char *uri) {
    virSetErrorFunc(NULL, quiet_errors);
    if (hv_events_start() != 0) {
        log_err("libvirt event loop: %s", virGetLastErrorMessage());
        return NULL;
    }
    struct hv *hv = calloc(1, sizeof *hv);
    if (!hv)
        return NULL;
    hv->uri = strdup(uri);
    hv->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    hv->poll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (!hv->uri || hv->event_fd < 0 || hv->poll_fd < 0 ||
        epoll_ctl(hv->poll_fd, EPOLL_CTL_ADD, hv->event_fd, &ev) != 0) {
        free(hv->uri);
        if (hv->event_fd >= 0)
            close(hv->event_fd);
        if (hv->poll_fd >= 0)
            close(hv->poll_fd);
        free(hv);
        return NULL;
    }
    hv_watch_open(hv);
    if (hv->watch_fd >= 0 && epoll_ctl(hv->poll_fd, EPOLL_CTL_ADD, hv->watch_fd, &ev) != 0) {
        log_warn("hypervisor %s: cannot poll its socket watch: %s", uri, strerror(errno));
        hv_watch_close(hv);
    }
    hv->lifecycle_cb = -1;
    pthread_mutex_init(&hv->lock, NULL);
    pthread_cond_init(&hv->cond, NULL);
    snprintf(hv->latest.reason, sizeof hv->latest.reason, "not sampled yet");
    /* Remote daemons are found back by retries alone: at most HV_RETRY_CAP_MS
     * after they answer. */
    hv->backoff = (struct backoff){.base_ms = 500, .cap_ms = HV_RETRY_CAP_MS};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    prng_seed(&hv->rng, (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20);
    snprintf(hv->cur.reason, sizeof hv->cur.reason, "not connected yet");
    return hv;
}

static void disconnect(struct hv *hv) {
    if (!hv->conn)
        return;
    hv_events_detach(hv);
    pthread_mutex_lock(&hv->lock);
    virConnectPtr c = hv->conn;
    hv->conn = NULL;
    pthread_mutex_unlock(&hv->lock);
    virConnectClose(c);
}

virConnectPtr hv_conn_ref(struct hv *hv) {
    pthread_mutex_lock(&hv->lock);
    virConnectPtr c = hv->conn;
    if (c && virConnectRef(c) != 0)
        c = NULL;
    pthread_mutex_unlock(&hv->lock);
    return c;
}

uint64_t hv_clock_ms(void) { return clock_mono_ms(); }

void hv_free(struct hv *hv) {
    if (!hv)
        return;
    hv_sampler_stop(hv);
    hv_migrations_stop(hv);
    hv_defines_stop(hv);
    disconnect(hv);
    hv_watch_close(hv);
    close(hv->poll_fd);
    close(hv->event_fd);
    free(hv->cur.vms);
    free(hv->prev.vms);
    free(hv->handed.vms);
    free(hv->latest.vms);
    free(hv->fresh_handed.doms);
    free(hv->fresh_latest.doms);
    pthread_mutex_destroy(&hv->lock);
    pthread_cond_destroy(&hv->cond);
    free(hv->uri);
    free(hv);
}

const char *hv_uri(const struct hv *hv) { return hv->uri; }

static void set_unavailable(struct hv *hv, uint64_t now_ms, const char *what) {
    const char *why = virGetLastErrorMessage();
    snprintf(hv->cur.reason, sizeof hv->cur.reason, "%s: %s", what, why ? why : "unknown error");
    if (hv->cur.available || hv->backoff.attempt == 0)
        log_warn("hypervisor %s unavailable: %s", hv->uri, hv->cur.reason);
    hv->cur.available = false;
    hv->cur.n_vms = 0;
    disconnect(hv);
    hv->next_connect_ms = now_ms < hv->fast_until_ms
                              ? now_ms + HV_FAST_RETRY_MS
                              : now_ms + backoff_next_ms(&hv->backoff, &hv->rng);
}

static void swap_samples(struct hv *hv) {
    struct hv_vm *old_prev = hv->prev.vms;
    hv->prev = hv->cur;
    hv->cur.vms = old_prev;
    hv->cur.n_vms = 0;
}

/* Drivers without node counters (the test driver, some remote ones):
 * account what the domains use, which is what a consolidation planner needs
 * anyway. */
static void host_usage(struct hv *hv) {
    struct hv_sample *s = &hv->cur;
    double vcpu_load = 0;
    uint64_t vm_mem = 0;
    for (size_t i = 0; i < s->n_vms; i++) {
        if (hv_vm_active(s->vms[i].state)) {
            vcpu_load += s->vms[i].cpu_percent * s->vms[i].vcpus;
            vm_mem += s->vms[i].memory_kib;
        }
    }
    if (hv_node_cpu_percent(hv, &s->cpu_percent) != 0)
        s->cpu_percent = s->cpus ? vcpu_load / s->cpus : 0;
    if (s->cpu_percent > 100)
        s->cpu_percent = 100;
    if (hv_node_memory_used(hv, &s->memory_used_kib) != 0)
        s->memory_used_kib = vm_mem < s->memory_kib ? vm_mem : s->memory_kib;
}

int hv_connect(struct hv *hv, uint64_t now_ms) {
    if (hv->conn && atomic_load(&hv->conn_closed))
        set_unavailable(hv, now_ms, "connection closed");
    if (hv->conn)
        return 0;
    /* The daemon's socket appeared (hv_watch.c): now, not at the backoff's
     * next retry; and again soon if it does not answer yet. */
    if (atomic_exchange(&hv->socket_appeared, false)) {
        hv->next_connect_ms = now_ms;
        hv->fast_until_ms = now_ms + HV_FAST_WINDOW_MS;
        backoff_reset(&hv->backoff);
    }
    if (now_ms < hv->next_connect_ms)
        return -1;
    virConnectPtr c = virConnectOpen(hv->uri);
    if (!c) {
        set_unavailable(hv, now_ms, "cannot connect");
        return -1;
    }
    pthread_mutex_lock(&hv->lock);
    hv->conn = c;
    pthread_mutex_unlock(&hv->lock);
    if (hv->backoff.attempt || hv->fast_until_ms)
        log_info("hypervisor %s reconnected", hv->uri);
    backoff_reset(&hv->backoff);
    hv->fast_until_ms = 0;
    hv->prev.available = false;
    hv->prev_total_ns = 0;
    hv_events_attach(hv);
    return 0;
}

const struct hv_sample *hv_sample(struct hv *hv, uint64_t now_ms) {
    if (hv_connect(hv, now_ms) != 0)
        return &hv->cur;
    virNodeInfo info;
    if (virNodeGetInfo(hv->conn, &info) != 0) {
        set_unavailable(hv, now_ms, "node info");
        return &hv->cur;
    }
    swap_samples(hv);
    if (hv_sample_domains(hv, now_ms) != 0) {
        set_unavailable(hv, now_ms, "listing domains");
        return &hv->cur;
    }
    struct hv_sample *s = &hv->cur;
    s->available = true;
    s->reason[0] = '\0';
    s->taken_at_ms = now_ms;
    s->cpus = info.cpus;
    s->cpu_mhz = info.mhz;
    s->memory_kib = info.memory;
    host_usage(hv);
    return s;
}
