/* Live migration of a domain to a peer host. libvirt's migration call blocks
 * for the whole transfer, so each runs in a thread of its own; the sampling
 * thread reads its job info (progress) and aborts it past its deadline, as
 * those calls wait while libvirt holds the domain; the agent's loop starts it
 * and collects the result. Peer-to-peer: the source libvirtd talks
 * to the destination's directly, as `virsh migrate --p2p` does, so the agent
 * needs no connection to the destination. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "hv_internal.h"

/* The last look before the migration starts: the domain as libvirt shows
 * it now, then the grant's bound and the caller's check. 0 to go on (the
 * slot holds the domain), else -1 with the reason in the slot's error (the
 * migration is refused). After the clock's reading nothing waits: the
 * check is pure and the migration call follows at once (docs/safety.md). */
static int look_before(struct hv_mig_slot *m) {
    virConnectPtr conn = hv_conn_ref(m->hv);
    if (!conn) {
        snprintf(m->pub.error, sizeof m->pub.error, "the hypervisor is unavailable");
        return -1;
    }
    virDomainPtr dom = virDomainLookupByName(conn, m->pub.vm);
    virConnectClose(conn);
    struct hv_domain_now now;
    const struct hv_domain_now *d = dom && hv_domain_now_read(dom, &now) == 0 ? &now : NULL;
    pthread_mutex_lock(&m->hv->lock);
    if (d)
        memcpy(m->pub.uuid, d->uuid, 16);
    m->dom = dom; /* the slot's from here: finish() frees it */
    /* Stopped (hv_free) while it looked: it must not start now. */
    bool stopped = m->abort_requested;
    pthread_mutex_unlock(&m->hv->lock);
    if (stopped) {
        snprintf(m->pub.error, sizeof m->pub.error, "the agent is stopping");
        return -1;
    }
    /* The caller's check on the domain as read, before anything changes
     * it: a refused migration leaves the domain's arrival id as it was
     * (the copy of a failed migration stays known by its id). */
    char why[HV_REASON_MAX] = "";
    if (m->check && m->check(d, m->pub.vm, m->check_ctx, why, sizeof why) != 0) {
        snprintf(m->pub.error, sizeof m->pub.error, "%s", why[0] ? why : "refused");
        return -1;
    }
    if (!d) {
        snprintf(m->pub.error, sizeof m->pub.error, "VM '%s' is not on this host", m->pub.vm);
        return -1;
    }
    /* The id travels with the live definition: a copy this migration
     * leaves at the destination when it fails there is known by it
     * (hv_arrival.c). Written before the clock's reading, so nothing that
     * waits comes after it; not written (an id libvirt cannot store): such
     * a copy cannot be told apart, the migration goes on. */
    bool marked = d->active && hv_arrival_mark(dom, m->pub.tag) == 0;
    if (d->active && !marked)
        log_warn("migration of %s: its id %s not written to its metadata: %s", m->pub.vm,
                 m->pub.tag, virGetLastErrorMessage());
    /* The libvirt calls above may have taken seconds: the clock is read
     * after them, and its grant must still hold on this host's clock. */
    if (hv_clock_ms() >= m->start_by_ms) {
        snprintf(m->pub.error, sizeof m->pub.error,
                 "not started: its grant expired before the migration could start");
        if (marked && hv_arrival_restore(dom, d->arrival) != 0)
            log_warn("migration of %s refused: its arrival id %s not put back: %s", m->pub.vm,
                     d->arrival[0] ? d->arrival : "(none)", virGetLastErrorMessage());
        return -1;
    }
    return 0;
}

static void *run_migration(void *arg) {
    struct hv_mig_slot *m = arg;
    virTypedParameterPtr params = NULL;
    int nparams = 0, maxparams = 0;
    unsigned int flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST |
                         VIR_MIGRATE_UNDEFINE_SOURCE;
    m->rc = -1;
    /* The parameters first: nothing may come between the last look and
     * the call. */
    if (m->has_migrate_uri &&
        virTypedParamsAddString(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_URI,
                                m->migrate_uri) != 0) {
        snprintf(m->pub.error, sizeof m->pub.error, "out of memory");
    } else if (look_before(m) != 0) {
        m->refused = true;
    } else {
        m->rc = virDomainMigrateToURI3(m->dom, m->pub.dest_uri, params, (unsigned)nparams, flags);
        if (m->rc != 0) {
            /* libvirt's last error is per thread: read it here. */
            const char *why = virGetLastErrorMessage();
            snprintf(m->pub.error, sizeof m->pub.error, "%s", why ? why : "unknown error");
        }
    }
    virTypedParamsFree(params, nparams);
    atomic_store(&m->done, true);
    hv_events_signal(m->hv);
    return NULL;
}

static struct hv_mig_slot *free_slot(struct hv *hv) {
    struct hv_mig_slot *best = NULL;
    for (size_t i = 0; i < HV_MIGRATIONS_MAX; i++) {
        struct hv_mig_slot *m = &hv->migs[i];
        if (!m->used)
            return m;
        /* Reuse the slot of the oldest finished migration. */
        if (m->pub.state != HV_MIG_RUNNING && (!best || m->pub.ended_ms < best->pub.ended_ms))
            best = m;
    }
    return best;
}

int hv_migrate_start(struct hv *hv, const char *tag, const char *vm, const char *dest_uri,
                     const char *migrate_uri, uint32_t timeout_ms, uint64_t now_ms,
                     uint64_t start_by_ms, hv_migrate_check check, void *check_ctx, char *err,
                     size_t errlen) {
    if (strlen(dest_uri) >= HV_URI_MAX || (migrate_uri && strlen(migrate_uri) >= HV_URI_MAX)) {
        snprintf(err, errlen, "destination URI too long");
        return -1;
    }
    if (strlen(vm) >= HV_NAME_MAX) {
        snprintf(err, errlen, "VM name too long");
        return -1;
    }
    virConnectPtr conn = hv_conn_ref(hv);
    if (!conn) {
        snprintf(err, errlen, "the hypervisor is unavailable: %s", hv->latest.reason);
        return -1;
    }
    virConnectClose(conn);
    for (size_t i = 0; i < HV_MIGRATIONS_MAX; i++) {
        const struct hv_mig_slot *m = &hv->migs[i];
        if (m->used && m->pub.state == HV_MIG_RUNNING && strcmp(m->pub.vm, vm) == 0) {
            snprintf(err, errlen, "VM '%s' is already migrating to %s", vm, m->pub.dest_uri);
            return -1;
        }
    }
    struct hv_mig_slot *m = free_slot(hv);
    if (!m) {
        snprintf(err, errlen, "%d migrations already run on this host", HV_MIGRATIONS_MAX);
        return -1;
    }
    pthread_mutex_lock(&hv->lock);
    memset(m, 0, sizeof *m);
    m->used = true;
    m->hv = hv;
    m->check = check;
    m->check_ctx = check_ctx;
    snprintf(m->pub.tag, sizeof m->pub.tag, "%s", tag);
    snprintf(m->pub.vm, sizeof m->pub.vm, "%s", vm);
    snprintf(m->pub.dest_uri, sizeof m->pub.dest_uri, "%s", dest_uri);
    m->has_migrate_uri = migrate_uri != NULL;
    if (migrate_uri)
        snprintf(m->migrate_uri, sizeof m->migrate_uri, "%s", migrate_uri);
    m->pub.state = HV_MIG_RUNNING;
    m->pub.started_ms = now_ms;
    m->deadline_ms = now_ms + timeout_ms;
    m->start_by_ms = start_by_ms;
    atomic_store(&m->done, false);
    if (pthread_create(&m->thread, NULL, run_migration, m) != 0) {
        snprintf(err, errlen, "cannot start a migration thread");
        m->used = false;
        pthread_mutex_unlock(&hv->lock);
        return -1;
    }
    pthread_mutex_unlock(&hv->lock);
    log_info("migration of %s to %s asked (timeout %u ms)", vm, dest_uri, timeout_ms);
    return 0;
}

static void finish(struct hv_mig_slot *m, uint64_t now_ms) {
    pthread_join(m->thread, NULL);
    pthread_mutex_lock(&m->hv->lock);
    m->pub.state = m->rc == 0         ? HV_MIG_SUCCEEDED
                   : m->refused         ? HV_MIG_REFUSED
                   : m->abort_requested ? HV_MIG_ABORTED
                                        : HV_MIG_FAILED;
    m->pub.ended_ms = now_ms;
    if (m->dom)
        virDomainFree(m->dom);
    m->dom = NULL;
    pthread_mutex_unlock(&m->hv->lock);
    if (m->pub.state == HV_MIG_SUCCEEDED)
        log_info("migration of %s to %s succeeded in %llu ms", m->pub.vm, m->pub.dest_uri,
                 (unsigned long long)(now_ms - m->pub.started_ms));
    else if (m->pub.state == HV_MIG_REFUSED)
        log_warn("migration of %s to %s refused: %s", m->pub.vm, m->pub.dest_uri, m->pub.error);
    else
        log_warn("migration of %s to %s %s: %s", m->pub.vm, m->pub.dest_uri,
                 m->pub.state == HV_MIG_ABORTED ? "aborted at its deadline" : "failed",
                 m->pub.error);
}

void hv_migrations_poll(struct hv *hv, uint64_t now_ms) {
    for (size_t i = 0; i < HV_MIGRATIONS_MAX; i++) {
        struct hv_mig_slot *m = &hv->migs[i];
        if (!m->used || m->pub.state != HV_MIG_RUNNING)
            continue;
        pthread_mutex_lock(&hv->lock);
        m->pub.data_total = m->data_total;
        m->pub.data_processed = m->data_processed;
        pthread_mutex_unlock(&hv->lock);
        if (atomic_load(&m->done))
            finish(m, now_ms);
    }
}

void hv_migrations_progress(struct hv *hv, uint64_t now_ms) {
    virDomainPtr doms[HV_MIGRATIONS_MAX];
    bool abort[HV_MIGRATIONS_MAX];
    size_t n = 0;
    /* References taken under the lock, calls made without it: the agent's
     * loop may collect a migration meanwhile, never wait for these. */
    pthread_mutex_lock(&hv->lock);
    for (size_t i = 0; i < HV_MIGRATIONS_MAX; i++) {
        struct hv_mig_slot *m = &hv->migs[i];
        if (!m->used || !m->dom || atomic_load(&m->done) || virDomainRef(m->dom) != 0)
            continue;
        doms[n] = m->dom;
        abort[n] = now_ms >= m->deadline_ms && !m->abort_requested;
        if (abort[n])
            m->abort_requested = true;
        n++;
    }
    pthread_mutex_unlock(&hv->lock);
    for (size_t k = 0; k < n; k++) {
        virDomainJobInfo job;
        bool have = virDomainGetJobInfo(doms[k], &job) == 0 && job.dataTotal;
        if (abort[k] && virDomainAbortJob(doms[k]) != 0)
            log_warn("migration of %s: abort failed: %s", virDomainGetName(doms[k]),
                     virGetLastErrorMessage());
        pthread_mutex_lock(&hv->lock);
        for (size_t i = 0; have && i < HV_MIGRATIONS_MAX; i++) {
            struct hv_mig_slot *m = &hv->migs[i];
            if (m->used && m->dom == doms[k]) {
                m->data_total = job.dataTotal;
                m->data_processed = job.dataProcessed;
            }
        }
        pthread_mutex_unlock(&hv->lock);
        virDomainFree(doms[k]);
    }
}

size_t hv_migrations(const struct hv *hv, const struct hv_migration **out) {
    size_t n = 0;
    for (size_t i = 0; i < HV_MIGRATIONS_MAX; i++)
        if (hv->migs[i].used)
            out[n++] = &hv->migs[i].pub;
    return n;
}

void hv_migrations_stop(struct hv *hv) {
    for (size_t i = 0; i < HV_MIGRATIONS_MAX; i++) {
        struct hv_mig_slot *m = &hv->migs[i];
        if (!m->used || m->pub.state != HV_MIG_RUNNING)
            continue;
        pthread_mutex_lock(&hv->lock);
        m->abort_requested = true;
        virDomainPtr dom = m->dom && virDomainRef(m->dom) == 0 ? m->dom : NULL;
        pthread_mutex_unlock(&hv->lock);
        if (dom && !atomic_load(&m->done) && virDomainAbortJob(dom) != 0)
            log_warn("migration of %s: abort failed: %s", m->pub.vm, virGetLastErrorMessage());
        if (dom)
            virDomainFree(dom);
        finish(m, m->pub.started_ms);
    }
}
