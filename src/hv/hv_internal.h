/* What the files of src/hv share; not part of the interface. */
#ifndef NODECTL_HV_INTERNAL_H
#define NODECTL_HV_INTERNAL_H

#include <libvirt/libvirt.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common/backoff.h"
#include "common/prng.h"
#include <libvirt/virterror.h>

#include "hv.h"

/* A migration and the thread that runs its (blocking) libvirt call. The
 * agent's loop owns pub; the sampling thread reads dom and writes the
 * progress and abort fields, all under hv.lock. */
struct hv_mig_slot {
    struct hv_migration pub;
    bool used;
    virDomainPtr dom; /* set by the migration's thread once it found the domain */
    hv_migrate_check check;
    void *check_ctx;
    bool refused;     /* the thread did not start it: the domain or the check said no */
    char migrate_uri[HV_URI_MAX];
    bool has_migrate_uri;
    uint64_t deadline_ms;
    uint64_t start_by_ms; /* the thread does not call libvirt at or after it */
    bool abort_requested;
    uint64_t data_total, data_processed; /* from the job info, for pub */
    pthread_t thread;
    atomic_bool done; /* the thread's call returned */
    int rc;           /* its result */
    struct hv *hv;
};

/* A definition and the thread that runs its (blocking) libvirt calls
 * (hv_define.c). The agent's loop owns pub; the thread writes rc, refused
 * and pub.error before it sets done, and nothing after. */
struct hv_def_slot {
    struct hv_definition pub;
    bool used;
    char *xml; /* the slot's, until the thread is joined */
    bool start;
    uint64_t start_by_ms;
    bool refused;
    pthread_t thread;
    atomic_bool done;
    int rc;
    struct hv *hv;
};

struct hv {
    char *uri;
    /* Written only by whoever samples (the sampling thread, or a test's
     * thread), under lock; other threads take a reference (hv_conn_ref). */
    virConnectPtr conn;
    struct backoff backoff;
    struct prng rng;
    uint64_t next_connect_ms;
    /* Previous node CPU counters, for the host CPU % delta. */
    uint64_t prev_busy_ns, prev_total_ns;
    struct hv_sample cur, prev;
    /* Written by libvirt's event thread, read by the agent's loop. */
    int event_fd;               /* eventfd: events, or a sample handed over */
    int poll_fd;                /* epoll of event_fd and watch_fd: the caller's one fd */
    /* hv_watch.c: inotify on a local daemon's socket directory; the
     * caller's thread reads it, the sampling thread takes the flag. */
    int watch_fd, watch_dir_wd, watch_parent_wd;
    char watch_dir[PATH_MAX];
    char watch_name[NAME_MAX + 1]; /* "": any *sock file */
    atomic_bool socket_appeared;
    uint64_t fast_until_ms;     /* retry quickly until then (sampling thread) */
    uint64_t retry_at_ms;       /* the sampling thread samples again by itself then; 0: no */
    atomic_uint_fast64_t events; /* domain events and ended migrations */
    int lifecycle_cb;           /* callback id, -1 when none */
    atomic_bool conn_closed;    /* the close callback fired */
    struct hv_mig_slot migs[HV_MIGRATIONS_MAX];
    struct hv_def_slot defs[HV_DEFINES_MAX];
    /* hv_sampler.c: the sampling thread and what it hands over. */
    pthread_mutex_t lock; /* conn, migs' shared fields, the fields below */
    pthread_cond_t cond;  /* a request, a stop, or a sample handed over */
    pthread_t sampler;
    bool sampler_started, sampler_stop, sample_requested, sample_handed;
    struct hv_sample handed; /* complete, not yet taken */
    struct hv_sample latest; /* the caller's, from hv_sample_latest */
    /* Fresh views: tokens handed out, the newest answered, the answer. */
    uint64_t fresh_asked, fresh_answered;
    bool fresh_handed_ready;
    struct hv_fresh fresh_handed, fresh_latest;
};

/* hv_events.c: libvirt's event loop runs in a thread of its own; callbacks
 * only signal the eventfd. */
int hv_events_start(void);
void hv_events_attach(struct hv *hv);
void hv_events_detach(struct hv *hv);

/* hv_events.c: counts an event and wakes the agent's loop; hv_wake only
 * wakes it. Safe from any thread. */
void hv_events_signal(struct hv *hv);
void hv_wake(struct hv *hv);

/* hv_conn.c: a reference to the current connection (virConnectClose it
 * after use), or NULL when there is none. */
virConnectPtr hv_conn_ref(struct hv *hv);
/* The agent's monotonic clock (common/clock.h), which its deadlines use. */
uint64_t hv_clock_ms(void);

/* hv_watch.c: watches the URI's local socket directory, if it has one;
 * hv_watch_take reads what happened and says whether the socket appeared. */
void hv_watch_open(struct hv *hv);
void hv_watch_close(struct hv *hv);
bool hv_watch_take(struct hv *hv);

/* hv_sampler.c: stops and joins the sampling thread. */
void hv_sampler_stop(struct hv *hv);

/* hv_define.c: joins every running definition. */
void hv_defines_stop(struct hv *hv);
/* hv_migrate.c: aborts and joins every running migration. */
void hv_migrations_stop(struct hv *hv);
/* hv_migrate.c, in the sampling thread: reads the running migrations' job
 * info (progress) and aborts those past their deadline. These calls can
 * block for as long as libvirt holds the domain. */
void hv_migrations_progress(struct hv *hv, uint64_t now_ms);

/* hv_domains.c: fills hv->cur.vms from the bulk stats API. */
int hv_sample_domains(struct hv *hv, uint64_t now_ms);
bool hv_vm_active(enum hv_vm_state s);
enum hv_vm_state hv_map_state(int virDomainState);

/* Retries of a lost connection: jittered backoff up to HV_RETRY_CAP_MS;
 * every HV_FAST_RETRY_MS for HV_FAST_WINDOW_MS after the local daemon's
 * socket appeared (it may not accept at the very first moment). */
#define HV_RETRY_CAP_MS 5000
#define HV_FAST_RETRY_MS 200
#define HV_FAST_WINDOW_MS 10000

/* hv_conn.c, in the sampling thread: connects if there is no connection
 * and the backoff allows; 0 when connected, else -1 with the reason in
 * hv->cur. */
int hv_connect(struct hv *hv, uint64_t now_ms);

/* hv_fresh.c: a domain as libvirt shows it now (-1: it vanished), and the
 * whole fresh view, in the sampling thread. */
int hv_domain_now_read(virDomainPtr dom, struct hv_domain_now *out);
void hv_fresh_query(struct hv *hv, struct hv_fresh *out);

/* hv_node.c: host counters, when the driver has them; -1 when it has not. */
int hv_node_cpu_percent(struct hv *hv, double *pct);
int hv_node_memory_used(struct hv *hv, uint64_t *used_kib);

/* hv_tune.c: domain vm on this connection, or NULL with err. */
virDomainPtr hv_domain_lookup(struct hv *hv, const char *vm, char *err, size_t errlen);
/* hv_rules.c: the sample's rules of a domain (none, logged when they turn
 * bad, when its metadata's do not parse); prev is its previous sample. */
int hv_sample_rules(virDomainPtr dom, struct hv_vm *vm, const struct hv_vm *prev);
/* The placement rules libvirt holds for dom now (none without the
 * element): 0, or -1 with err. */
int hv_rules_of(virDomainPtr dom, struct hv_rules *out, char *err, size_t errlen);
/* hv_ha.c: a protected domain's autostart turned off (and logged) when a
 * sample finds it on. */
void hv_sample_autostart(virDomainPtr dom, const struct hv_vm *vm);
/* hv_arrival.c: writes the id of the migration about to carry dom into
 * its live metadata (0, or -1); reads it back ("" when none or not
 * readable); parses the element libvirt returns (0, or -1). */
int hv_arrival_mark(virDomainPtr dom, const char *id);
/* Puts back the arrival id a domain had before a mark ("": none, the
 * element removed). 0, or -1 with libvirt's error. */
int hv_arrival_restore(virDomainPtr dom, const char *id);
void hv_arrival_read(virDomainPtr dom, char out[HV_ARRIVAL_MAX]);
int hv_arrival_parse(const char *xml, char out[HV_ARRIVAL_MAX]);

#endif
