/* Samples are taken in a thread of their own and handed over complete.
 *
 * libvirt's calls can block for seconds: at the end of a live migration
 * the QEMU driver holds the domain's lock while it confirms the migration
 * and stops the source's QEMU, and virConnectGetAllDomainStats waits for
 * that lock even with VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT (which skips
 * only domains busy in a job). Measured on the rig (libvirt 9.0, a 64 MiB
 * KVM guest): 1.4 to 2.8 s per sample while the migration ran, on the
 * migrating connection or on a second one alike. The agent's loop also
 * answers gossip probes; blocked that long it got its host declared dead by
 * the others (probe timeout 100 ms, suspicion 0.6 s in a 3-host cluster).
 * So the loop only asks for a sample and takes it when the event fd says
 * it is ready, and nothing it does waits for libvirtd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "hv_internal.h"

/* A copy the caller may keep while the thread takes the next sample. */
static int copy_sample(const struct hv_sample *s, struct hv_sample *out) {
    *out = *s;
    out->vms = NULL;
    if (s->n_vms == 0)
        return 0;
    out->vms = malloc(s->n_vms * sizeof *out->vms);
    if (!out->vms)
        return -1;
    memcpy(out->vms, s->vms, s->n_vms * sizeof *out->vms);
    return 0;
}

static void *run_sampler(void *arg) {
    struct hv *hv = arg;
    pthread_mutex_lock(&hv->lock);
    for (;;) {
        while (!hv->sample_requested && !hv->sampler_stop)
            pthread_cond_wait(&hv->cond, &hv->lock);
        if (hv->sampler_stop)
            break;
        /* A request made while this sample is taken asks for one more: it
         * may follow an event this sample missed. */
        hv->sample_requested = false;
        pthread_mutex_unlock(&hv->lock);
        uint64_t now = hv_clock_ms();
        struct hv_sample copy;
        int rc = copy_sample(hv_sample(hv, now), &copy);
        hv_migrations_progress(hv, now);
        pthread_mutex_lock(&hv->lock);
        if (rc != 0) {
            log_err("hypervisor %s: out of memory handing a sample over", hv->uri);
            continue;
        }
        free(hv->handed.vms);
        hv->handed = copy;
        hv->sample_handed = true;
        pthread_cond_broadcast(&hv->cond);
        hv_wake(hv);
    }
    pthread_mutex_unlock(&hv->lock);
    return NULL;
}

int hv_sample_request(struct hv *hv) {
    int rc = 0;
    pthread_mutex_lock(&hv->lock);
    if (!hv->sampler_started) {
        rc = pthread_create(&hv->sampler, NULL, run_sampler, hv);
        hv->sampler_started = rc == 0;
    }
    if (rc == 0) {
        hv->sample_requested = true;
        pthread_cond_broadcast(&hv->cond);
    }
    pthread_mutex_unlock(&hv->lock);
    return rc == 0 ? 0 : -1;
}

const struct hv_sample *hv_sample_latest(struct hv *hv, bool *fresh) {
    pthread_mutex_lock(&hv->lock);
    *fresh = hv->sample_handed;
    if (hv->sample_handed) {
        free(hv->latest.vms);
        hv->latest = hv->handed;
        hv->handed.vms = NULL;
        hv->sample_handed = false;
    }
    pthread_mutex_unlock(&hv->lock);
    return &hv->latest;
}

bool hv_sample_wait(struct hv *hv, uint32_t timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&hv->lock);
    int rc = 0;
    while (!hv->sample_handed && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&hv->cond, &hv->lock, &until);
    bool handed = hv->sample_handed;
    pthread_mutex_unlock(&hv->lock);
    return handed;
}

void hv_sampler_stop(struct hv *hv) {
    pthread_mutex_lock(&hv->lock);
    bool started = hv->sampler_started;
    hv->sampler_stop = true;
    pthread_cond_broadcast(&hv->cond);
    pthread_mutex_unlock(&hv->lock);
    if (started)
        pthread_join(hv->sampler, NULL);
}
