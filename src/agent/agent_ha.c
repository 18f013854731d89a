/* This host's side of HA restart (docs/safety.md, "The protected gate"; the
 * decisions are src/host/host_ha.c's).
 *
 * The protected gate: written "reconciling" before anything else at start,
 * so that from the agent's first instant libvirt's qemu hook refuses to
 * start a protected guest (libvirtd's autostart at boot included); "ready"
 * once the agent has compared the protected domains defined here with the
 * cluster and undefined (or stopped) the copies that now run elsewhere;
 * "fenced" when its self-fence lease lapsed and it destroyed its protected
 * guests, until it reconciles again. Restarting is the leader's job: this
 * host never starts a protected guest by itself. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

/* How often a reconcile that cannot run yet, or failed, is tried again. */
#define HA_RETRY_MS 500u
/* How often a host reconciled but without a run lease looks again. */
#define HA_LEASE_WAIT_MS 2000u
/* How often a ready host looks for stale definitions of protected VMs. */
#define HA_STALE_MS 2000u

static int gate_write(struct agent *a) {
    struct ha_host *h = &a->ha;
    struct host_ha_gate g = {.state = h->state, .pid = (long)getpid(), .start = h->start_ticks};
    snprintf(g.reason, sizeof g.reason, "%s", h->reason);
    char path[CONFIG_PATH_MAX + 16], text[HOST_HA_TEXT_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", a->cfg.state_dir, HOST_HA_GATE_FILE);
    host_ha_gate_format(&g, text, sizeof text);
    if (h->written && strcmp(text, h->written_text) == 0)
        return 0;
    if (atomic_write_file(path, text, strlen(text), 0644) != 0) {
        log_err("cannot write the protected gate %s: %s", path, strerror(errno));
        return -1;
    }
    log_info("protected gate %s: %.*s", path, (int)strcspn(text, "\n"), text);
    snprintf(h->written_text, sizeof h->written_text, "%s", text);
    h->written = true;
    return 0;
}

static void set_state(struct agent *a, enum host_ha_state s, const char *reason) {
    if (s != a->ha.state) {
        a->ha.since_ms = agent_clock_ms();
        a->ha.summary_told = false;
    }
    a->ha.state = s;
    snprintf(a->ha.reason, sizeof a->ha.reason, "%s", reason);
    gate_write(a);
}

/* The watchdog device, armed by opening it (the kernel's watchdog API,
 * Documentation/watchdog/watchdog-api.rst): its timeout set, then petted by
 * agent_ha_run. A file that is not a watchdog device (a test's) takes the
 * writes and refuses the ioctl: said once. */
static int watchdog_open(struct agent *a, char *err, size_t errlen) {
    struct ha_host *h = &a->ha;
    if (!a->cfg.ha_watchdog[0])
        return 0;
    h->wd_fd = open(a->cfg.ha_watchdog, O_WRONLY | O_CLOEXEC);
    if (h->wd_fd < 0) {
        snprintf(err, errlen, "[ha] watchdog: cannot open %s: %s", a->cfg.ha_watchdog,
                 strerror(errno));
        return -1;
    }
    h->wd_armed = true;
    int secs = (int)(a->cfg.ha_watchdog_timeout_ms / 1000);
    if (ioctl(h->wd_fd, WDIOC_SETTIMEOUT, &secs) != 0)
        log_warn("watchdog %s: cannot set its timeout to %d s (%s): it keeps its own",
                 a->cfg.ha_watchdog, secs, strerror(errno));
    log_info("watchdog %s armed: the machine resets %d s after this agent stops petting it, "
             "which it does only while its run lease outlasts that or no protected VM runs "
             "here", a->cfg.ha_watchdog, secs);
    return 0;
}

/* Whether a protected guest may run here now: the last sample shows one
 * active, and no self-fence stopped them all since. */
static bool protected_running(const struct agent *a) {
    if (a->ha.state == HOST_HA_FENCED && a->ha.fence_clean)
        return false;
    for (size_t i = 0; a->sample && i < a->sample->n_vms; i++) {
        const struct hv_vm *vm = &a->sample->vms[i];
        if (vm->rules.ha && !vm->rules_bad && vm->state != HV_VM_SHUTOFF)
            return true;
    }
    return false;
}

/* How often the watchdog is petted: well within any timeout it can have. */
#define WATCHDOG_PET_MS 500u

static void watchdog_run(struct agent *a, uint64_t now) {
    struct ha_host *h = &a->ha;
    if (!h->wd_armed || now < h->wd_next_ms)
        return;
    h->wd_next_ms = now + WATCHDOG_PET_MS;
    uint64_t until = a->fence.lease ? host_fence_until(a->fence.lease) : 0;
    bool pet = host_ha_watchdog_pet(now, until, a->cfg.ha_watchdog_timeout_ms, h->state,
                                    protected_running(a));
    if (pet != h->wd_petting)
        log_warn(pet ? "watchdog %s petted again" :
                       "watchdog %s no longer petted: protected VMs may run here and the run "
                       "lease does not outlast its timeout; the machine resets unless the "
                       "lease is renewed",
                 a->cfg.ha_watchdog);
    h->wd_petting = pet;
    if (pet && write(h->wd_fd, "k", 1) != 1)
        log_err("watchdog %s: %s", a->cfg.ha_watchdog, strerror(errno));
}

void agent_ha_close(struct agent *a) {
    struct ha_host *h = &a->ha;
    if (!h->wd_armed)
        return;
    /* The magic close ('V') disarms it, unless protected guests run
     * here: then the machine resets unless an agent comes back and pets
     * it in time (Proxmox's watchdog-mux keeps it armed the same way).
     * None running, none can start: the hook refuses them once this
     * agent is gone. */
    if (!protected_running(a)) {
        if (write(h->wd_fd, "V", 1) != 1)
            log_err("watchdog %s: the magic close failed: %s", a->cfg.ha_watchdog,
                    strerror(errno));
        else
            log_info("watchdog %s disarmed", a->cfg.ha_watchdog);
    } else {
        log_warn("watchdog %s left armed: protected VMs may run here; the machine resets "
                 "unless an agent pets it within %u s", a->cfg.ha_watchdog,
                 a->cfg.ha_watchdog_timeout_ms / 1000);
    }
    close(h->wd_fd);
    h->wd_armed = false;
}

/* Where libvirt's QEMU driver keeps its domains' status files: [ha]
 * qemu_state_dir, else the system driver's own for qemu:///system; NULL
 * for any other hypervisor (the test driver's guests are no processes). */
static const char *qemu_state_dir(const struct agent *a) {
    if (a->cfg.ha_qemu_state_dir[0])
        return a->cfg.ha_qemu_state_dir;
    return strcmp(a->cfg.hypervisor_uri, "qemu:///system") == 0 ? "/run/libvirt/qemu" : NULL;
}

/* Destroys every protected guest running here; fence_clean says whether
 * it is confirmed (by libvirt, or without it: qemu_state_dir). A retry (`again`) is logged only when it ends the
 * matter, not at each attempt. */
static void fence_destroy(struct agent *a, const char *reason, bool again) {
    struct ha_host *h = &a->ha;
    struct hv_stopped st;
    char err[HV_REASON_MAX + 400];
    int rc = hv_destroy_protected(a->hv, reason, &st, err, sizeof err);
    /* libvirt did not confirm: the QEMU processes are killed without it.
     * Waiting for libvirtd alone is not enough: once the leader's wait is
     * over it restarts these guests elsewhere, running or not here. */
    const char *dir = qemu_state_dir(a);
    size_t killed = 0;
    char kerr[HV_REASON_MAX + 300];
    if (rc != 0 && dir) {
        if (agent_ha_kill_protected(dir, &killed, kerr, sizeof kerr) == 0)
            rc = 0;
        else
            snprintf(err + strlen(err), sizeof err - strlen(err), "; without libvirt: %s", kerr);
    }
    h->fence_clean = rc == 0;
    h->destroyed += st.n + killed;
    if (again) {
        if (rc == 0)
            log_warn("self-fence: every protected VM stopped now: %zu more destroyed by "
                     "libvirt, %zu killed without it", st.n, killed);
        return;
    }
    h->fences++;
    if (rc != 0) {
        h->failures++;
        log_err("self-fence: %s; %s", reason, err);
    }
    log_warn("self-fence: %s: %zu protected VM(s) destroyed, %zu killed without libvirt%s",
             reason, st.n, killed,
             rc != 0 ? ", and some not confirmed: tried again every 0.5 s until confirmed" : "");
}

void agent_ha_fence(struct agent *a, const char *reason) {
    /* The gate first: from now on no protected guest starts here. */
    set_state(a, HOST_HA_FENCED, reason);
    a->ha.next_try_ms = agent_clock_ms() + HA_RETRY_MS;
    fence_destroy(a, reason, false);
}

/* The run lease's news (agent_fence.c): lapsed, or held again. */
static void on_lease(struct agent *a, bool holds, const char *why) {
    /* Not held while nothing protected runs nor can start here (the
     * agent's start, a host not reconciled yet): nothing to fence; the
     * reconcile waits for the lease. */
    if (!holds && (a->ha.state == HOST_HA_READY || protected_running(a))) {
        agent_ha_fence(a, why);
        return;
    }
    if (!holds)
        return;
    if (a->ha.state != HOST_HA_FENCED)
        return;
    a->ha.next_try_ms = 0;
    a->ha.fresh_token = 0;
    set_state(a, HOST_HA_RECONCILING, "the run lease is held again");
}

int agent_ha_open(struct agent *a, char *err, size_t errlen) {
    struct ha_host *h = &a->ha;
    memset(h, 0, sizeof *h);
    size_t len;
    char *stat = read_small_file("/proc/self/stat", 4096, &len);
    int rc = stat ? host_ha_proc_start(stat, &h->start_ticks) : -1;
    free(stat);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read this process's start time from /proc/self/stat");
        return -1;
    }
    h->state = HOST_HA_RECONCILING;
    h->since_ms = agent_clock_ms();
    host_ha_ran_init(&h->ran, agent_stamp_ms(a));
    snprintf(h->reason, sizeof h->reason, "the agent is starting");
    a->fence.on_change = on_lease;
    if (gate_write(a) != 0) {
        snprintf(err, errlen, "cannot write the protected gate in %s", a->cfg.state_dir);
        return -1;
    }
    return watchdog_open(a, err, errlen);
}

/* The view host_ha_view_ready judges, and the copies of VMs the other live
 * hosts show (their records kept in *recs until the caller frees them). */
struct ha_cluster {
    struct host_ha_view view;
    Nodectl__HostRecord **recs;
    size_t n_recs;
    struct host_ha_copy *copies;
    size_t n_copies;
};

static void cluster_free(struct ha_cluster *c) {
    for (size_t i = 0; i < c->n_recs; i++)
        nodectl__host_record__free_unpacked(c->recs[i], NULL);
    free(c->recs);
    free(c->copies);
}

static bool leader_holds_lease(struct agent *a) {
    if (!a->lead.leader[0])
        return false;
    if (strcmp(a->lead.leader, a->cfg.node_name) == 0)
        return a->lead.lease;
    Nodectl__HostRecord *rec = agent_record_named(a, a->lead.leader);
    bool lease = rec && rec->lease;
    if (rec)
        nodectl__host_record__free_unpacked(rec, NULL);
    return lease;
}

static int cluster_collect(struct agent *a, struct ha_cluster *c) {
    memset(c, 0, sizeof *c);
    c->view.leader_known = leader_holds_lease(a);
    size_t n = gossip_member_count(a->cluster.gossip), n_copies = 0;
    c->recs = calloc(n ? n : 1, sizeof *c->recs);
    if (!c->recs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(a->cluster.gossip, i, &m);
        if (m.id == a->cluster.self_id ||
            (m.state != GOSSIP_ALIVE && m.state != GOSSIP_SUSPECT))
            continue;
        c->view.alive++;
        Nodectl__HostRecord *rec = agent_member_record(a, &m);
        if (!rec)
            continue;
        c->view.alive_with_record++;
        c->recs[c->n_recs++] = rec;
        n_copies += rec->n_vms;
    }
    c->copies = calloc(n_copies ? n_copies : 1, sizeof *c->copies);
    /* What this host reports of its own migrations: a copy a failed one
     * may have left elsewhere is not a reason to destroy the one here. */
    Nodectl__HostRecord *self = agent_self_record(a);
    if (!c->copies || !self) {
        if (self)
            nodectl__host_record__free_unpacked(self, NULL);
        return -1;
    }
    for (size_t i = 0; i < c->n_recs; i++) {
        for (size_t k = 0; k < c->recs[i]->n_vms; k++) {
            const Nodectl__Vm *vm = c->recs[i]->vms[k];
            struct host_ha_copy *cp = &c->copies[c->n_copies];
            /* Records are checked at the edge: a uuid is 16 bytes. */
            if (vm->uuid.len != sizeof cp->uuid)
                continue;
            cp->host = c->recs[i]->name;
            memcpy(cp->uuid, vm->uuid.data, sizeof cp->uuid);
            cp->state = host_record_vm_state(vm->state);
            cp->sampled_at_ms = c->recs[i]->sampled_at_ms;
            cp->leaving = host_ha_record_migrates(c->recs[i], vm->name);
            cp->leftover = host_ha_record_failed_to(self, vm->name, cp->host);
            c->n_copies++;
        }
    }
    nodectl__host_record__free_unpacked(self, NULL);
    return 0;
}

/* Whether the sample shows the domain of that UUID protected. */
static bool sample_protected(const struct hv_sample *s, const unsigned char uuid[16]) {
    for (size_t i = 0; s && i < s->n_vms; i++)
        if (memcmp(s->vms[i].uuid, uuid, 16) == 0)
            return s->vms[i].rules.ha && !s->vms[i].rules_bad;
    return false;
}

void agent_ha_sampled(struct agent *a) {
    struct ha_host *h = &a->ha;
    const struct hv_sample *s = a->sample;
    if (!s || !s->available)
        return;
    uint64_t now = agent_stamp_ms(a);
    host_ha_ran_begin(&h->ran);
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct hv_vm *v = &s->vms[i];
        if (v->rules.ha && v->state != HV_VM_SHUTOFF && v->state != HV_VM_CRASHED)
            host_ha_ran_seen(&h->ran, v->uuid, now);
    }
    host_ha_ran_end(&h->ran, now);
}

/* One pass over the fresh view: 0 when every protected domain here is
 * settled, -1 when an action failed (tried again later). */
static int reconcile(struct agent *a, const struct hv_fresh *f, const struct ha_cluster *c) {
    struct ha_host *h = &a->ha;
    size_t kept = 0, undefined = 0, destroyed = 0;
    int rc = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct hv_domain_now *d = &f->doms[i];
        if (!sample_protected(a->sample, d->uuid))
            continue;
        char why[HV_REASON_MAX + 64], err[HV_REASON_MAX + 64];
        enum host_ha_verdict v =
            host_ha_reconcile(d, &h->ran, c->copies, c->n_copies, why, sizeof why);
        if (v == HOST_HA_KEEP) {
            kept++;
            continue;
        }
        if (v == HOST_HA_DESTROY) {
            if (hv_destroy_stale(a->hv, d->name, d->uuid, err, sizeof err) != 0) {
                log_err("reconcile: VM %s: %s; %s", d->name, why, err);
                h->failures++;
                rc = -1;
                continue;
            }
            log_warn("reconcile: VM %s destroyed here: %s", d->name, why);
            destroyed++;
            h->destroyed++;
        }
        if (hv_undefine_stale(a->hv, d->name, d->uuid, err, sizeof err) != 0) {
            log_err("reconcile: VM %s: %s; %s", d->name, why, err);
            h->failures++;
            rc = -1;
            continue;
        }
        /* Its disks stay: they are on shared storage, used by the copy
         * that runs elsewhere. */
        log_warn("reconcile: VM %s undefined here (its disks kept): %s", d->name, why);
        undefined++;
        h->undefined++;
    }
    /* Said once per reconcile, and again only when it changed something. */
    if (rc == 0 && (!h->summary_told || undefined || destroyed))
        log_info("reconciled with the cluster: %zu protected VM(s) kept, %zu undefined, %zu "
                 "destroyed first", kept, undefined, destroyed);
    h->summary_told = rc == 0;
    return rc;
}

/* A ready host's protected domain, shut off here, that a live host's
 * record sampled after it last ran here shows running: the leader
 * restarted it elsewhere while this host was cut off, and the reconcile on
 * its return saw only its peers' older records. Its definition here is
 * stale: undefined, its disks kept (libvirt refuses if it runs by then). */
static void stale_pass(struct agent *a, uint64_t now_ms) {
    struct ha_host *h = &a->ha;
    const struct hv_sample *s = a->sample;
    if (now_ms < h->next_stale_ms || !s)
        return;
    h->next_stale_ms = now_ms + HA_STALE_MS;
    bool any = false;
    for (size_t i = 0; i < s->n_vms && !any; i++)
        any = s->vms[i].rules.ha && !s->vms[i].rules_bad && s->vms[i].state == HV_VM_SHUTOFF;
    struct ha_cluster c;
    if (!any || cluster_collect(a, &c) != 0) {
        if (any)
            cluster_free(&c);
        return;
    }
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct hv_vm *v = &s->vms[i];
        if (!v->rules.ha || v->rules_bad || v->state != HV_VM_SHUTOFF)
            continue;
        struct hv_domain_now d = {.state = HV_VM_SHUTOFF, .job = HV_JOB_NONE};
        snprintf(d.name, sizeof d.name, "%s", v->name);
        memcpy(d.uuid, v->uuid, sizeof d.uuid);
        char why[HV_REASON_MAX + 64], err[HV_REASON_MAX + 64];
        if (host_ha_reconcile(&d, &h->ran, c.copies, c.n_copies, why, sizeof why) !=
            HOST_HA_UNDEFINE)
            continue;
        if (hv_undefine_stale(a->hv, d.name, d.uuid, err, sizeof err) != 0) {
            log_err("VM %s: %s; %s", d.name, why, err);
            h->failures++;
            continue;
        }
        log_warn("VM %s undefined here (its disks kept): %s", d.name, why);
        h->undefined++;
    }
    cluster_free(&c);
}

void agent_ha_run(struct agent *a, uint64_t now_ms) {
    struct ha_host *h = &a->ha;
    watchdog_run(a, now_ms);
    /* A self-fence libvirt did not confirm (libvirtd down or stuck) is
     * done again until it is: the leader restarts this host's protected
     * guests elsewhere once its lease has surely lapsed, trusting that
     * they stopped here (docs/ha.md, "Self-fence"). */
    if (h->state == HOST_HA_FENCED && !h->fence_clean && now_ms >= h->next_try_ms) {
        h->next_try_ms = now_ms + HA_RETRY_MS;
        fence_destroy(a, h->reason, true);
    }
    if (h->state == HOST_HA_READY)
        stale_pass(a, now_ms);
    if (h->state != HOST_HA_RECONCILING || now_ms < h->next_try_ms)
        return;
    struct ha_cluster c;
    char why[256];
    if (cluster_collect(a, &c) != 0) {
        cluster_free(&c);
        h->next_try_ms = now_ms + HA_RETRY_MS;
        return;
    }
    const struct hv_fresh *f = h->fresh_token ? hv_fresh_latest(a->hv) : NULL;
    c.view.hv_fresh = f && f->token >= h->fresh_token && f->available;
    if (!c.view.leader_known || c.view.alive_with_record < c.view.alive || !c.view.hv_fresh) {
        if (!host_ha_view_ready(&c.view, why, sizeof why) && strcmp(why, h->reason) != 0)
            set_state(a, HOST_HA_RECONCILING, why);
        /* A view asked for and answered unavailable is asked again. */
        if (!h->fresh_token || (f && f->token >= h->fresh_token && !f->available))
            h->fresh_token = hv_fresh_request(a->hv);
        cluster_free(&c);
        h->next_try_ms = now_ms + HA_RETRY_MS;
        return;
    }
    int rc = reconcile(a, f, &c);
    cluster_free(&c);
    /* The next pass looks at libvirt again, after what this one did. */
    h->fresh_token = 0;
    if (rc != 0) {
        h->next_try_ms = now_ms + HA_RETRY_MS;
        return;
    }
    h->reconciles++;
    /* Stale copies are gone; protected guests may start here only under a
     * run lease. A leader that counts this host fenced refuses it until
     * the host's protected VMs show elsewhere (docs/ha.md): reconcile
     * again meanwhile, what the leader restarts elsewhere goes here. */
    if (!a->fence.lease || !agent_fence_holds(a)) {
        set_state(a, HOST_HA_RECONCILING,
                  "reconciled; waiting for the leader to renew this host's run lease");
        h->next_try_ms = now_ms + HA_LEASE_WAIT_MS;
        return;
    }
    set_state(a, HOST_HA_READY, "");
}

uint64_t agent_ha_deadline(const struct agent *a) {
    bool retry = a->ha.state == HOST_HA_RECONCILING ||
                 (a->ha.state == HOST_HA_FENCED && !a->ha.fence_clean);
    uint64_t d = retry ? a->ha.next_try_ms : UINT64_MAX;
    return a->ha.wd_armed && a->ha.wd_next_ms < d ? a->ha.wd_next_ms : d;
}

/* How long a reconcile may wait before nodectl status says so. */
#define HA_RECONCILE_WARN_MS 30000u

int agent_ha_warnings(const struct agent *a, Nodectl__StatusReply *st) {
    const struct ha_host *h = &a->ha;
    char text[HOST_HA_TEXT_MAX + 256];
    if (h->state == HOST_HA_FENCED)
        snprintf(text, sizeof text,
                 "this host fenced itself (%s): its protected VMs were destroyed, and none starts "
                 "here until its run lease is renewed and it has reconciled with the cluster",
                 h->reason);
    else if (h->state == HOST_HA_RECONCILING &&
             agent_clock_ms() - h->since_ms > HA_RECONCILE_WARN_MS)
        snprintf(text, sizeof text,
                 "no protected VM may start here yet: this host has not reconciled with the "
                 "cluster (%s)", h->reason);
    else
        return 0;
    return agent_status_warn(st, text);
}

void agent_ha_metrics(const struct agent *a, struct metrics *m) {
    const struct ha_host *h = &a->ha;
    metrics_gauge(m, "nodectl_ha_ready",
                  "1 when this host may start protected VMs: its agent reconciled with the "
                  "cluster and is not self-fenced.",
                  h->state == HOST_HA_READY);
    metrics_counter(m, "nodectl_ha_self_fences_total",
                    "Times this host's self-fence lease lapsed.", (double)h->fences);
    metrics_counter(m, "nodectl_ha_destroyed_total",
                    "Protected VMs this host destroyed: at a self-fence, or a copy found "
                    "running elsewhere when it reconciled.",
                    (double)h->destroyed);
    metrics_counter(m, "nodectl_ha_undefined_total",
                    "Protected VMs this host undefined when it reconciled: they run elsewhere.",
                    (double)h->undefined);
    metrics_counter(m, "nodectl_ha_failures_total",
                    "Destroys and undefines of protected VMs that libvirt refused.",
                    (double)h->failures);
    metrics_counter(m, "nodectl_ha_reconciles_total",
                    "Reconciles of this host's protected VMs with the cluster that completed.",
                    (double)h->reconciles);
}
