/* The agent's window on its own hypervisor, through libvirt. Any libvirt URI
 * works; the default, test:///default, is libvirt's built-in test driver,
 * which needs no daemon. A hypervisor that cannot be reached is a state to
 * report ("unavailable: reason"), not a reason to stop: the agent retries
 * with backoff and keeps serving. */
#ifndef NODECTL_HV_H
#define NODECTL_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HV_NAME_MAX 128
#define HV_REASON_MAX 256

enum hv_vm_state {
    HV_VM_UNKNOWN, HV_VM_RUNNING, HV_VM_BLOCKED, HV_VM_PAUSED, HV_VM_SHUTDOWN,
    HV_VM_SHUTOFF, HV_VM_CRASHED, HV_VM_SUSPENDED
};

/* A VM's placement rules, kept by libvirt in the domain's <metadata> as
 *   <nodectl:placement xmlns:nodectl="https://nodectl.example/xmlns/placement/1"
 *                      pinned="yes" group="db" ha="yes" ha_priority="500"/>
 * (docs/placement.md, "Rules per VM"; docs/ha.md for ha). A group name is 1
 * to HV_GROUP_MAX - 1 letters, digits, '.', '_' or '-'. A protected (ha) VM
 * is restarted elsewhere when its host fails and is fenced, higher
 * ha_priority (0 to HV_HA_PRIORITY_MAX) first. */
#define HV_RULES_NS "https://nodectl.example/xmlns/placement/1"
#define HV_RULES_PREFIX "nodectl"
#define HV_GROUP_MAX 64
#define HV_HA_PRIORITY_MAX 1000
struct hv_rules {
    bool pinned;
    char group[HV_GROUP_MAX]; /* "": in no anti-affinity group */
    bool ha;                  /* protected: restarted elsewhere when its host is fenced */
    uint32_t ha_priority;     /* 0..HV_HA_PRIORITY_MAX; higher restarts first */
};
/* What `nodectl vm set` changes: each set_ field says its value is meant;
 * group "" leaves the group. */
struct hv_rules_change {
    bool set_pinned, pinned;
    bool set_group;
    char group[HV_GROUP_MAX];
    bool set_ha, ha;
    bool set_ha_priority;
    uint32_t ha_priority;
};
/* Whether g is a group name ("" is not one). */
bool hv_group_valid(const char *g);
/* ha_priority's text: decimal, 0 to HV_HA_PRIORITY_MAX. 0, or -1. */
int hv_ha_priority_parse(const char *text, uint32_t *out);

/* The migration that brought a domain here, kept by libvirt in its live
 * <metadata> as
 *   <nodectl-arrival:arrival xmlns:nodectl-arrival="https://nodectl.example/xmlns/arrival/1"
 *                            id="COMMAND-ID"/>
 * The source writes it just before it migrates the domain (live only), so
 * the destination's copy carries the id of the migration it came by: a
 * copy left running by a migration its source saw fail is told apart from
 * one a later migration brought (docs/safety.md, "A migration that failed
 * at its destination"). An id is 1 to HV_ARRIVAL_MAX - 1 letters, digits,
 * '.', '_', ':' or '-'. */
#define HV_ARRIVAL_NS "https://nodectl.example/xmlns/arrival/1"
#define HV_ARRIVAL_PREFIX "nodectl-arrival"
#define HV_ARRIVAL_MAX 64
/* Whether id can be stored as an arrival id. */
bool hv_arrival_id_valid(const char *id);

struct hv_vm {
    char name[HV_NAME_MAX];
    unsigned char uuid[16];
    enum hv_vm_state state;
    char arrival[HV_ARRIVAL_MAX]; /* the migration that brought it ("": none known) */
    uint32_t vcpus;
    uint64_t memory_kib;     /* current (balloon) allocation */
    uint64_t max_memory_kib;
    uint64_t guest_used_kib; /* what the guest says it uses (balloon stats); 0: unknown */
    double cpu_percent;      /* of its own vCPUs, over the last sample interval */
    double disk_read_bps, disk_write_bps, net_rx_bps, net_tx_bps; /* bytes/s, idem */
    struct hv_rules rules;
    bool rules_bad;          /* its metadata holds rules that do not parse: none apply */
    /* Cumulative counters, for the next deltas. */
    uint64_t cpu_time_ns;
    uint64_t disk_read_bytes, disk_write_bytes, net_rx_bytes, net_tx_bytes;
};

struct hv_sample {
    bool available;
    char reason[HV_REASON_MAX]; /* why not available */
    uint32_t cpus;
    uint32_t cpu_mhz;
    uint64_t memory_kib;
    double cpu_percent; /* whole host */
    uint64_t memory_used_kib;
    size_t n_vms;
    struct hv_vm *vms;
    uint64_t taken_at_ms; /* monotonic */
};

struct hv;

/* Does not connect yet: the first hv_sample does. NULL only if out of memory
 * or if libvirt's event loop cannot be started. */
struct hv *hv_new(const char *uri);
void hv_free(struct hv *hv);
const char *hv_uri(const struct hv *hv);

/* Connects if needed (no sooner than the backoff allows), then samples the
 * host and its domains. now_ms is the caller's monotonic clock. The result is
 * owned by hv and valid until the next call. Blocks for as long as libvirt
 * does, seconds at times: a loop with other duties uses the sampling thread
 * below instead, never both. */
const struct hv_sample *hv_sample(struct hv *hv, uint64_t now_ms);

/* The sampling thread (hv_sampler.c): hv_sample and the migrations' job
 * info, off the caller's thread. hv_sample_request asks for a sample
 * (starting the thread on first use; a request made while one is taken
 * asks for one more); -1 if the thread cannot start. The event fd becomes
 * readable when it is handed over. */
int hv_sample_request(struct hv *hv);
/* The newest sample handed over; *fresh tells whether it is newer than at
 * the previous call. Before the first one, an unavailable sample ("not
 * sampled yet"). Valid until the next call. */
const struct hv_sample *hv_sample_latest(struct hv *hv, bool *fresh);
/* Waits up to timeout_ms for a sample to be handed over; true if one is. */
bool hv_sample_wait(struct hv *hv, uint32_t timeout_ms);

/* A fresh view (hv_fresh.c): every domain libvirt has at the moment it is
 * asked, active and inactive, transient included, with its state and its
 * job, for the guards that must not trust a sample (docs/safety.md, "Guards
 * at the resource"). Asked in the sampling thread, so the caller never
 * waits for libvirt. */
enum hv_job {
    HV_JOB_NONE,
    HV_JOB_MIGRATION_OUT, /* this host sends the domain away */
    HV_JOB_MIGRATION_IN,  /* the domain is arriving: paused, its QEMU receiving */
    HV_JOB_OTHER,         /* save, dump, snapshot, backup... */
    HV_JOB_UNKNOWN        /* libvirt did not say */
};

struct hv_domain_now {
    char name[HV_NAME_MAX];
    unsigned char uuid[16];
    enum hv_vm_state state;
    bool active;     /* it has a running process (virDomainIsActive): any state but shut off */
    bool persistent;
    enum hv_job job;
    char arrival[HV_ARRIVAL_MAX]; /* the migration that brought it ("": none known) */
};

struct hv_fresh {
    uint64_t token;  /* answers every request whose token is at most this; 0: none yet */
    bool available;
    char reason[HV_REASON_MAX]; /* why not available */
    size_t n;
    struct hv_domain_now *doms;
    uint64_t answered_ms; /* monotonic */
};

/* Asks for a fresh view; returns the request's token (> 0), or 0 if the
 * sampling thread cannot start. The event fd becomes readable when the
 * answer is in. */
uint64_t hv_fresh_request(struct hv *hv);
/* The newest answer (token 0 before the first). It answers request `t`
 * when its token >= t: it was asked of libvirt after that request was
 * made. Valid until the next call. */
const struct hv_fresh *hv_fresh_latest(struct hv *hv);
/* The domain named `name` in a view, or NULL. */
const struct hv_domain_now *hv_fresh_find(const struct hv_fresh *f, const char *name);
const char *hv_job_name(enum hv_job j);

/* Live migrations this host started. */
enum hv_mig_state { HV_MIG_RUNNING, HV_MIG_SUCCEEDED, HV_MIG_FAILED, HV_MIG_ABORTED,
                    HV_MIG_REFUSED };
#define HV_MIGRATIONS_MAX 8
#define HV_URI_MAX 256

struct hv_migration {
    char tag[64];                 /* the caller's id for it */
    char vm[HV_NAME_MAX];
    unsigned char uuid[16];
    char dest_uri[HV_URI_MAX];    /* the destination's libvirt URI */
    enum hv_mig_state state;
    char error[HV_REASON_MAX];    /* libvirt's message, when it failed */
    uint64_t started_ms, ended_ms; /* monotonic */
    uint64_t data_total, data_processed; /* bytes, from the job info */
};

/* The last look before a migration starts: called in the migration's
 * thread, before libvirt is asked to change anything, with the domain as
 * libvirt shows it then (NULL: not on this host). Returns 0 to go on, or -1 with the reason
 * in why; the migration then ends HV_MIG_REFUSED. ctx must outlive the
 * migration; the function may read only what no other thread writes. */
typedef int (*hv_migrate_check)(const struct hv_domain_now *dom, const char *vm, void *ctx,
                                char *why, size_t len);

/* Starts a live, peer-to-peer migration of the running domain vm to the
 * host at dest_uri (its libvirt URI, e.g. qemu+tcp://10.0.0.2/system), the
 * data going to migrate_uri (e.g. tcp://10.0.0.2; NULL: libvirt's choice).
 * The domain becomes persistent on the destination and is undefined here.
 * After timeout_ms the job is aborted. Never waits for libvirt: the domain
 * is looked up in the migration's thread, which runs `check`, if given, on
 * the domain as it found it, writes the migration's id into the domain's
 * live metadata (HV_ARRIVAL_NS), then reads the clock (the agent's
 * monotonic clock, like now_ms) and refuses the migration, putting the
 * former id back, when that is at or after start_by_ms (a grant that
 * expired, docs/safety.md; UINT64_MAX: no bound), and only then starts it:
 * nothing that waits lies between the clock's reading and libvirt's call,
 * and a refused migration leaves the domain as it was. Refused
 * at once, with a message in err, when the hypervisor is not connected,
 * this host already migrates it, or too many migrations run. 0 when
 * started. */
int hv_migrate_start(struct hv *hv, const char *tag, const char *vm, const char *dest_uri,
                     const char *migrate_uri, uint32_t timeout_ms, uint64_t now_ms,
                     uint64_t start_by_ms, hv_migrate_check check, void *check_ctx, char *err,
                     size_t errlen);
/* Collects the migrations' results, and the progress and timeouts the
 * sampling thread found. Never waits for libvirt: call it from the loop
 * whenever the event fd fires. */
void hv_migrations_poll(struct hv *hv, uint64_t now_ms);
/* The running and recently finished migrations (at most HV_MIGRATIONS_MAX),
 * valid until the next call into hv. */
size_t hv_migrations(const struct hv *hv, const struct hv_migration **out);

/* Local rebalancing: a domain's CPU weight on the cgroup scale
 * (1024 = default; Xen's credit weight is scaled by 4) and its balloon. A
 * zero shares or memory_kib leaves that one alone. 0, or -1 with err. */
int hv_get_shares(struct hv *hv, const char *vm, uint32_t *shares, char *err, size_t errlen);
int hv_tune(struct hv *hv, const char *vm, uint32_t shares, uint64_t memory_kib, char *err,
            size_t errlen);

/* Placement rules (hv_rules.c). hv_rules_parse reads the metadata
 * element libvirt returns (the element alone, namespace bound to its own
 * prefix): 0, or -1 with err naming what is wrong (a bad value is an
 * error, not a default). hv_rules_xml writes the element to store; NULL
 * when there is nothing to keep (not pinned, no group). */
int hv_rules_parse(const char *xml, struct hv_rules *out, char *err, size_t errlen);
const char *hv_rules_xml(const struct hv_rules *r, char *out, size_t len);
/* The rules of domain vm as libvirt holds them now; then changed, live
 * (when it runs) and in its persistent definition (when it has one): the
 * fields `change` sets. hv_rules_apply is the pure part: -1 with err when a
 * value is out of range. 0, or -1 with err. */
int hv_get_rules(struct hv *hv, const char *vm, struct hv_rules *out, char *err, size_t errlen);
int hv_rules_apply(struct hv_rules *r, const struct hv_rules_change *change, char *err,
                   size_t errlen);
int hv_set_rules(struct hv *hv, const char *vm, const struct hv_rules_change *change, char *err,
                 size_t errlen);

/* Defines the domain of `xml`, which names `name`, on this host, and
 * starts it when asked (nodectl create, an HA restart). Never waits for
 * libvirt: the definition runs in a thread of its own, as a migration
 * does (virDomainCreate waits for the guest's process, a second or more
 * under TCG, which would stall the agent's loop and cost a leader its
 * lease). The thread reads the clock after looking the name up and calls
 * libvirt only before start_by_ms (the grant's bound, docs/safety.md;
 * UINT64_MAX: none). A domain of that name already here is never replaced
 * (virDomainDefineXML would redefine it). Refused at once, with err, when
 * the hypervisor is not connected, a definition of that name runs, or
 * HV_DEFINES_MAX run. 0 when started; the event fd fires when it ends. */
enum hv_def_state { HV_DEF_RUNNING, HV_DEF_SUCCEEDED, HV_DEF_FAILED, HV_DEF_REFUSED };
#define HV_DEFINES_MAX 8
struct hv_definition {
    char tag[64]; /* the caller's id for it */
    char name[HV_NAME_MAX];
    enum hv_def_state state;
    char error[HV_REASON_MAX]; /* why it failed or was refused */
};
int hv_define_start(struct hv *hv, const char *tag, const char *name, const char *xml,
                    bool start, uint64_t start_by_ms, char *err, size_t errlen);
/* An HA restart in place (docs/ha.md): starts the domain `name` already
 * defined here, in a slot of the same kind (hv_defines reports it), only
 * when libvirt says, in the thread, that it is here and protected (ha=yes
 * in its metadata), and calls virDomainCreate only before start_by_ms.
 * Running already, or started meanwhile by someone else: succeeded. */
int hv_start_defined(struct hv *hv, const char *tag, const char *name, uint64_t start_by_ms,
                     char *err, size_t errlen);
/* Collects the definitions that ended; never waits for libvirt. */
void hv_defines_poll(struct hv *hv);
/* The running and recently ended definitions (at most HV_DEFINES_MAX),
 * valid until the next call into hv. */
size_t hv_defines(const struct hv *hv, const struct hv_definition **out);
/* The persistent definition (domain XML) of domain `name` here, for its
 * replication to the candidates (docs/ha.md): 0, or -1 with err (no such
 * domain, or longer than len - 1). Blocks for libvirt's answer. */
int hv_domain_xml(struct hv *hv, const char *name, char *out, size_t len, char *err,
                  size_t errlen);

/* HA on this host (hv_ha.c, docs/safety.md "The protected gate"). Blocking, as hv_tune is.
 * hv_destroy_protected destroys every running protected domain (ha=yes in
 * its placement metadata) at once, the reason logged with each: this
 * host's self-fence lease lapsed. 0 when none runs any more, -1 with err
 * when one could not be stopped (or the domains not listed); *out names
 * those destroyed. hv_undefine_stale undefines the shut-off domain of that
 * UUID (refused while it runs), hv_destroy_stale destroys it: a copy that
 * runs elsewhere. None of them ever removes storage. */
#define HV_STOPPED_MAX 64
struct hv_stopped {
    size_t n, failed;
    char names[HV_STOPPED_MAX][HV_NAME_MAX];
};
int hv_destroy_protected(struct hv *hv, const char *reason, struct hv_stopped *out, char *err,
                         size_t errlen);
int hv_undefine_stale(struct hv *hv, const char *name, const unsigned char uuid[16], char *err,
                      size_t errlen);
int hv_destroy_stale(struct hv *hv, const char *name, const unsigned char uuid[16], char *err,
                     size_t errlen);

/* Polls readable when a domain started, stopped, migrated or crashed, or the
 * connection dropped (the caller then drains it with hv_events_take and
 * samples at once instead of waiting for the next interval), or when the
 * sampling thread handed a sample over. */
int hv_event_fd(const struct hv *hv);
/* Destroys domain vm, the leftover copy of a migration that failed at its
 * destination, if `check` agrees (0) on the domain as libvirt shows it at
 * that moment (hv_domain_now with its job and arrival id, read just
 * before the destroy); then undefines it when it is persistent (the
 * source keeps the definition). Blocks for libvirt's answer, as hv_tune
 * does. 0 when destroyed; -1 with err (refused by check, gone, or libvirt
 * refused). */
int hv_destroy_leftover(struct hv *hv, const char *vm, hv_migrate_check check, void *ctx,
                        char *err, size_t errlen);

/* Domain lifecycle events and connection losses since the last call. */
uint64_t hv_events_take(struct hv *hv);

const char *hv_vm_state_name(enum hv_vm_state s);

#endif
