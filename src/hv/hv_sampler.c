/* Samples are taken in a thread of their own and handed over complete; so
 * are the fresh views a guard asks for (hv_fresh.c), which go first.
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

/* The condition variable's deadline (CLOCK_REALTIME) ms from now. */
static struct timespec after_ms(uint64_t ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

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

/* Answers the fresh views asked so far with one query made after all of
 * them; called and returns with the lock held. */
static void answer_fresh(struct hv *hv) {
    uint64_t token = hv->fresh_asked;
    pthread_mutex_unlock(&hv->lock);
    struct hv_fresh answer;
    hv_fresh_query(hv, &answer);
    answer.token = token;
    pthread_mutex_lock(&hv->lock);
    free(hv->fresh_handed.doms);
    hv->fresh_handed = answer;
    hv->fresh_handed_ready = true;
    hv->fresh_answered = token;
    hv_wake(hv);
}

static void *run_sampler(void *arg) {
    struct hv *hv = arg;
    pthread_mutex_lock(&hv->lock);
    for (;;) {
        while (!hv->sample_requested && hv->fresh_answered == hv->fresh_asked &&
               !hv->sampler_stop) {
            if (!hv->retry_at_ms) {
                pthread_cond_wait(&hv->cond, &hv->lock);
                continue;
            }
            /* A daemon whose socket just appeared is retried by this thread
             * itself, not at the caller's next sample. */
            uint64_t now = hv_clock_ms();
            struct timespec until = after_ms(hv->retry_at_ms > now ? hv->retry_at_ms - now : 0);
            if (pthread_cond_timedwait(&hv->cond, &hv->lock, &until) == ETIMEDOUT) {
                hv->retry_at_ms = 0;
                hv->sample_requested = true;
            }
        }
        if (hv->sampler_stop)
            break;
        /* A guard waits for a fresh view: it goes before the sample. */
        if (hv->fresh_answered != hv->fresh_asked) {
            answer_fresh(hv);
            continue;
        }
        /* A request made while this sample is taken asks for one more: it
         * may follow an event this sample missed. */
        hv->sample_requested = false;
        pthread_mutex_unlock(&hv->lock);
        uint64_t now = hv_clock_ms();
        struct hv_sample copy;
        int rc = copy_sample(hv_sample(hv, now), &copy);
        hv_migrations_progress(hv, now);
        pthread_mutex_lock(&hv->lock);
        hv->retry_at_ms = !copy.available && now < hv->fast_until_ms ? hv->next_connect_ms : 0;
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

/* With the lock held: 0 once the thread runs. */
static int start_locked(struct hv *hv) {
    if (hv->sampler_started)
        return 0;
    int rc = pthread_create(&hv->sampler, NULL, run_sampler, hv);
    hv->sampler_started = rc == 0;
    return rc == 0 ? 0 : -1;
}

int hv_sample_request(struct hv *hv) {
    pthread_mutex_lock(&hv->lock);
    int rc = start_locked(hv);
    if (rc == 0) {
        hv->sample_requested = true;
        pthread_cond_broadcast(&hv->cond);
    }
    pthread_mutex_unlock(&hv->lock);
    return rc;
}

uint64_t hv_fresh_request(struct hv *hv) {
    uint64_t token = 0;
    pthread_mutex_lock(&hv->lock);
    if (start_locked(hv) == 0) {
        token = ++hv->fresh_asked;
        pthread_cond_broadcast(&hv->cond);
    }
    pthread_mutex_unlock(&hv->lock);
    return token;
}

const struct hv_fresh *hv_fresh_latest(struct hv *hv) {
    pthread_mutex_lock(&hv->lock);
    if (hv->fresh_handed_ready) {
        free(hv->fresh_latest.doms);
        hv->fresh_latest = hv->fresh_handed;
        hv->fresh_handed.doms = NULL;
        hv->fresh_handed_ready = false;
    }
    pthread_mutex_unlock(&hv->lock);
    return &hv->fresh_latest;
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
    struct timespec until = after_ms(timeout_ms);
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
