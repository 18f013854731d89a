/* What the files of src/agent share: the agent's state. */
#ifndef NODECTL_AGENT_INTERNAL_H
#define NODECTL_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uuid/uuid.h>

#include "command/command.h"
#include "command/issued.h"
#include "common/backoff.h"
#include "common/boot_file.h"
#include "common/metrics.h"
#include "common/config.h"
#include "common/prng.h"
#include "common/reject.h"
#include "common/stamp_clock.h"
#include "common/tz.h"
#include "election/election.h"
#include "election/fence.h"
#include "gossip/gossip.h"
#include "host_record.h"
#include "host/host_checks.h"
#include "host/host_gate.h"
#include "host/host_guard.h"
#include "host/host_ha.h"
#include "host/host_fence.h"
#include "host/host_offcheck.h"
#include "hv/hv.h"
#include "leader/executor.h"
#include "leader/ha.h"
#include "leader/ha_defs.h"
#include "message_check.h"
#include "placement/placement.h"
#include "rebalance/rebalance.h"
#include "net/control.h"
#include "net/discovery.h"
#include "net/http_server.h"
#include "net/cert.h"
#include "net/frame.h"
#include "net/transport.h"

/* Messages refused above the frame layer: a payload that claims another
 * sender than its frame's certificate, or an election message from a host
 * that may not send one (agent_security.c); a value no sender may set
 * (docs/security.md, "Sane values"): a record not sealed by its owner, a
 * command's term ahead of what a quorum of candidates shows, a wake or a
 * migration to other addresses than its host published (published.h). Gossip and the
 * election count theirs (gossip_refused, election_refused_terms). */
enum security_refusal {
    REFUSED_ELECTION_NOT_CANDIDATE,
    REFUSED_ELECTION_SENDER,
    REFUSED_COMMAND_ISSUER,
    REFUSED_RECORD_NOT_OWNERS,
    REFUSED_COMMAND_TERM_AHEAD,
    REFUSED_WAKE_ADDRESS,
    REFUSED_MIGRATION_ADDRESS,
    REFUSED_REASONS
};

/* This host's identity, keyring and boot epoch, and the frame layer that
 * uses them (agent_security.c). */
struct security {
    struct frame_ctx *frames;
    uint64_t epoch;
    bool from_key_file;        /* the keyring is [cluster] key_file's one key */
    bool candidate_cert;       /* this host's certificate says candidate */
    uint64_t cert_not_after;   /* seconds; 0: insecure */
    uint64_t next_expiry_check_ms;
    char warning[CONFIG_PATH_MAX + 300]; /* for nodectl status: "" when none */
    uint64_t refused[REFUSED_REASONS];
    uint32_t reported;         /* refusals already logged, by reason */
    /* This host's identity, which seals its record, and the CA's key,
     * which checks the others' through the frames' certificate cache
     * (frame_ctx_cert_cache; agent_record.c). Unused when insecure. */
    uint8_t ca_pk[CERT_PK_BYTES];
    uint8_t sk[CERT_SK_BYTES];
    uint8_t cert[CERT_MAX];
    size_t cert_len;
};

/* Gossip, its transport and discovery, and the membership snapshot. */
struct cluster {
    struct gossip *gossip;
    struct transport *transport;
    struct discovery *discovery; /* NULL when disabled */
    char advertise[TRANSPORT_ADDR_MAX];
    uint64_t self_id;
    struct prng rng;
    struct backoff join_backoff;
    uint64_t next_join_ms;
    uint32_t join_turn; /* the seed the next join attempt asks, modulo their number */
    uint64_t next_announce_ms;
    /* The membership snapshot: written (by its own thread) soon after a
     * member's state changed, and after record changes only now and then. */
    int snapshot_file; /* in a->writer (agent_writer.c) */
    bool snapshot_dirty;         /* a state changed */
    bool snapshot_records_dirty; /* only records changed */
    uint64_t next_snapshot_ms;
    uint64_t next_snapshot_records_ms;
    uint64_t state_changes; /* gossip events other than records, counted */
    /* What was last published, to skip versions nobody needs. */
    uint64_t published_ms;
    double published_cpu;
    uint64_t published_mem;
    uint8_t *published;
    size_t published_len;
    /* Gossip's refusals logged so far, by reason (once each). */
    uint32_t refusals_reported;
    uint64_t refusals_seen[GOSSIP_REFUSALS];
    struct reject_log gossip_log;
    /* Records and commands refused by message_check.c, by reason; the
     * field at fault in the last record refused. */
    struct rejects record_rejects, command_rejects;
    const char *record_field;
    struct reject_log record_log, command_log;
};

/* The election as this host takes part in it or follows it
 * (agent_election.c). */
/* What the agent reads in a member's record (agent_views.c), decoded once
 * per version. */
struct member_view {
    uint64_t id; /* 0: an empty slot */
    uint64_t version; /* the record version these fields come from */
    bool has_record;  /* the record decoded */
    bool up;          /* ALIVE or SUSPECT */
    bool counted;     /* in agree or disagree */
    bool same_candidates; /* its [cluster] candidates are ours */
    bool candidate;   /* a candidate's record (agent_record_of_candidate) */
    uint64_t term;
    double cpu_percent; /* its usage, 0 when the record has none */
    char name[CONFIG_NAME_MAX];
    char address[TRANSPORT_ADDR_MAX];
    char leader[CONFIG_NAME_MAX];
};
struct member_views {
    struct member_view *v;
    size_t cap, n;
    /* Members up with a record whose candidate lists agree with ours or
     * not, and the last one found to disagree. */
    size_t agree, disagree;
    char other[CONFIG_NAME_MAX];
};

struct leadership {
    struct election *election; /* NULL: not a candidate */
    size_t n_voters;
    char voter_name[ELECTION_VOTERS_MAX][CONFIG_NAME_MAX];
    uint64_t voter_id[ELECTION_VOTERS_MAX];
    char voter_addr[ELECTION_VOTERS_MAX][TRANSPORT_ADDR_MAX]; /* from gossip; "" unknown */
    struct fence fence;    /* on disk: commands from older terms are refused */
    int term_file;         /* the fence's file in a->writer (agent_writer.c) */
    uint64_t term;         /* the current view */
    char leader[CONFIG_NAME_MAX];
    /* A host that does not vote: the view its record shows, which follows
     * the current one at most once per hold (agent_election.c). */
    uint64_t shown_term;
    char shown_leader[CONFIG_NAME_MAX];
    uint64_t shown_next_ms;
    bool show_asked; /* the leader asked the record to show the view */
    bool lease;
    bool mismatch;         /* our candidate list differs from the cluster's */
    char warning[300];
    uint64_t stale_refused;
    uint64_t next_observe_ms;
    uint64_t election_refused_seen; /* election_refused_terms already logged */
    struct reject_log election_log;
};

/* A command this host carried out or refused, and its outcome, as its
 * record shows it (agent_actions.c). */
enum action_state { ACTION_RUNNING, ACTION_SUCCEEDED, ACTION_FAILED, ACTION_ABORTED, ACTION_REFUSED };
#define ACTIONS_MAX 32
_Static_assert(ACTIONS_MAX <= MSG_RECORD_ACTIONS_MAX, "every action fits a record");
struct action {
    bool used;
    char id[COMMAND_ID_MAX];
    enum command_kind kind; /* COMMAND_MIGRATE, _POWER_OFF, _WAKE or _DEFINE */
    char vm[HV_NAME_MAX];
    char destination[CONFIG_NAME_MAX];
    enum action_state state;
    double progress;
    char error[HV_REASON_MAX];
    uint64_t started_ms, ended_ms; /* stamp clock */
    uint64_t term;
    /* A migration: the arrival id its acceptance judged, read by its
     * thread (agent_migrate_vm_check); written only before it starts. */
    char arrival[HV_ARRIVAL_MAX];
    bool orphan; /* running when the agent last stopped: settled from libvirt */
};

/* An ipmitool this host runs to power another host on (agent_ipmi.c). */
#define IPMI_CHILDREN_MAX 8
struct ipmi_child {
    pid_t pid;             /* 0: slot free */
    int err_fd;            /* read end of its stderr */
    char action[64];       /* the wake command's id */
    char host[CONFIG_NAME_MAX];
    char err[HV_REASON_MAX]; /* the first line of its stderr */
    size_t err_len;
    bool err_line_done;    /* that line is complete: the rest is discarded */
    bool killed;           /* it outlived IPMI_TIMEOUT_MS */
    uint64_t started_ms;   /* monotonic */
};

/* This host's power-off, in order (agent_power.c): the inbound gate is
 * closed and libvirt asked for a fresh view; committed (announced "off");
 * libvirt asked again once the announcement spread; the off command runs. */
enum off_phase { OFF_IDLE, OFF_CHECKING, OFF_SPREADING, OFF_FINAL_CHECK, OFF_COMMAND };

/* This host's power (agent_power.c). */
struct power {
    char wake_mac[18];                  /* "": cannot be woken */
    char wake_broadcast[CONFIG_NAME_MAX]; /* a.b.c.d:port */
    char network[CONFIG_NAME_MAX];      /* a.b.c.d/len of the wake NIC */
    char ipmi_address[CONFIG_IPMI_ADDRESS_MAX]; /* "": no BMC declared */
    uint64_t booted_at_ms;              /* stamp clock of the agent's start */
    enum off_phase off_phase;
    uint64_t off_token;                 /* the fresh view asked for the phase's check */
    uint64_t off_at_ms;                 /* monotonic: the phase's deadline, or when the
                                           command started */
    pid_t off_child;                    /* 0: not started; -1: finished */
    char off_action[64];                /* the power-off command's id */
    uint64_t off_deadline_ms;           /* monotonic: its grant's; the commit comes before */
    struct ipmi_child ipmi[IPMI_CHILDREN_MAX];
};

/* The leader's side (agent_leader.c): the executor, fed from this loop, and
 * the planner, run in a worker thread on a snapshot it owns. */
struct plan_job;
struct leader_state {
    struct executor *ex;
    struct placement_policy policy;
    struct prng rng;
    struct plan_job *job; /* NULL: no plan is being computed */
    uint64_t logged_seq;  /* events up to here are in the log */
    /* The cluster policy (agent_policy.c). */
    struct tz *tz;                 /* [cluster] timezone */
    char policy_digest[17];        /* of config_policy_text, in the record */
    char window[256];              /* the schedule's window of the last plan */
    int window_index;              /* -1: outside every window */
    bool clock_file_bad;           /* schedule_clock_file's problem was logged */
    uint64_t plans;       /* plans computed while leading */
    struct metrics_histogram plan_seconds;
};

/* The cluster's estimated power and hosts on over the last hour, for the
 * dashboard's graph (agent_history.c): a bounded ring, one point per
 * HISTORY_STEP_MS, computed from gossip on every host. */
#define HISTORY_POINTS 360
#define HISTORY_STEP_MS 10000
struct history_point {
    uint64_t at_ms; /* stamp clock */
    double watts;
    uint32_t on, off, failed;
};
struct history {
    struct history_point ring[HISTORY_POINTS];
    size_t n, next;
    uint64_t next_ms; /* monotonic */
};

/* A host this agent sees OFF, and the leader's probes of it
 * (agent_offcheck.c; the decisions are src/host/host_offcheck.c's). */
#define OFFCHECK_MAX 1024
struct offcheck_host {
    bool seen;
    uint64_t id; /* gossip member id */
    char name[CONFIG_NAME_MAX];
    struct gossip_addr addr;                 /* its agent's address */
    char bmc[CONFIG_IPMI_ADDRESS_MAX];       /* from its last record; "": none */
    struct host_off_watch watch;
    enum host_off_verdict verdict;
    char reason[160];
    int tcp_fd;                              /* -1: no connect running */
    uint64_t tcp_started_ms;
    pid_t bmc_pid;                           /* 0: no ipmitool running */
    int bmc_fd;                              /* its stdout */
    char bmc_out[128];
    size_t bmc_len;
    uint64_t bmc_started_ms;
};

/* ---- The leader's view from any host (agent_forward.c, docs/leader.md) ---- */
#define FORWARD_PENDING_MAX 64
#define FORWARD_WOKEN_MAX 16 /* woken hosts a replica pull carries */
struct forward_pending {
    bool used;
    uint64_t id;       /* in ForwardAsk and its answer */
    uint64_t token;    /* the control socket's deferred request; 0: a replica pull */
    uint64_t deadline; /* monotonic: no answer by then is an error */
    char to[CONFIG_NAME_MAX]; /* the leader asked: only it may answer */
};
struct forward_state {
    struct forward_pending pending[FORWARD_PENDING_MAX];
    uint64_t next_id;
    uint64_t next_pull_ms;
    /* The copy of the leader's log and soft state a candidate keeps, so
     * that it can take over without losing them. */
    struct leader_events mirror;
    char mirror_leader[CONFIG_NAME_MAX];
    uint64_t mirror_after; /* the leader's seq of the last event copied */
    struct executor_woken woken[FORWARD_WOKEN_MAX];
    size_t n_woken;
    bool leading; /* this host led at the last look (a takeover is the change) */
};
/* ---- end ---- */

/* This host's side of HA restart (agent_ha.c): the protected gate libvirt's
 * hook reads, the reconcile with the cluster, the self-fence. */
struct ha_host {
    enum host_ha_state state;
    uint64_t since_ms;              /* monotonic: when it entered that state */
    bool summary_told;              /* this reconcile's outcome was logged */
    char reason[256];               /* why reconciling or fenced */
    unsigned long long start_ticks; /* this process's start time (/proc/self/stat) */
    uint64_t fresh_token;           /* the fresh view a reconcile waits for; 0: none asked */
    uint64_t next_try_ms;           /* monotonic */
    bool written;
    char written_text[HOST_HA_TEXT_MAX + 64]; /* the gate file as last written */
    uint64_t fences, destroyed, undefined, failures, reconciles;
    /* When this host saw each protected domain run (host_ha_reconcile's
     * bounds). */
    struct host_ha_ran ran;
    uint64_t next_stale_ms; /* monotonic: the next look for stale definitions */
    bool fence_clean;               /* the last self-fence stopped every protected VM */
    bool wd_armed;                  /* [ha] watchdog opened: wd_fd */
    int wd_fd;
    uint64_t wd_next_ms;
    bool wd_petting;
};

/* A state file of the state directory bound to this boot
 * (agent_bootfile.c, src/common/boot_file.h). */
struct agent_bootfile {
    char path[CONFIG_PATH_MAX + 16];
    char boot[BOOT_FILE_ID_MAX]; /* this boot's id; "": the kernel does not say */
    const char *what;            /* what it keeps, for the log */
    int read_errno;              /* why the file was BOOT_FILE_UNREADABLE */
    struct file_writer *writer;  /* the agent's, which writes it (agent_writer.c) */
    int file;                    /* its id there */
};

/* The stamp clock (agent_stamp.c): the times this host publishes and
 * compares. */
struct agent_stamp {
    struct stamp_clock clock;
    uint64_t saved_ms; /* monotonic: when its anchor was last kept */
    struct agent_bootfile file;
};

/* The run lease (agent_fence.c): this host's, and, while it leads, the
 * leader's HA state that answers everyone's. */
struct agent;
struct agent_fence {
    struct host_fence *lease;
    struct ha *ha;
    struct prng rng;      /* renewal nonces */
    uint64_t saved_until; /* the lease's end as the state directory keeps it */
    struct agent_bootfile file;
    bool told_holds;      /* on_change was last told the lease holds */
    /* Called when the lease lapses (holds false: stop the protected guests
     * now) or holds again; NULL: nobody listens. */
    void (*on_change)(struct agent *a, bool holds, const char *why);
};

/* Protected VMs' definitions (agent_hadefs.c): what this host sent, and,
 * on a candidate, the copies every host sent. */
#define AGENT_HADEFS_MAX 256
struct agent_hadef {
    char name[HV_NAME_MAX]; /* "": a free slot */
    uint64_t digest, seq;
    bool failed; /* its last read failed, logged */
};
struct agent_hadefs {
    struct agent_hadef vm[AGENT_HADEFS_MAX];
    uint64_t next_ms;
    struct ha_defs *store; /* NULL: not a candidate */
};

/* The leader's HA round (agent_ha_leader.c): one BMC fence at a time. */
struct agent_ha_leader {
    uint64_t next_ms;
    pid_t bmc_pid; /* 0: none running */
    int bmc_fd;    /* its stdout: the power status */
    char bmc_host[CONFIG_NAME_MAX];
    char bmc_out[128];
    size_t bmc_len;
    uint64_t bmc_started_ms;
    enum ha_bmc_step bmc_step; /* the one running */
    unsigned bmc_reads;        /* status reads since its last power off */
    char last_why[400]; /* what held restarts back at the last event */
};

struct agent {
    struct config cfg;
    uuid_t id;
    struct hv *hv;
    const struct hv_sample *sample;
    unsigned fresh_samples; /* counted up to 2: the first record waits for the second */
    struct host_capacity capacity; /* the last the hypervisor reported */
    struct control_server *ctl;
    struct file_writer *writer; /* the files the loop does not wait for */
    bool loop_failed;           /* a source of the loop cannot go on (agent.c) */
    uint64_t next_sample_ms;
    struct cluster cluster;
    struct member_views views;
    struct action actions[ACTIONS_MAX];
    uint64_t orphans_token; /* the fresh view asked for to settle orphans; 0: none */
    struct host_guard *guard;  /* which commands may act here (agent_actions.c) */
    struct issued operators;   /* operator's commands issued here, to grant */
    struct leadership lead;
    struct rebalance_state rebalance;
    struct leader_state leader;
    bool drain; /* in maintenance (agent_drain.c); in the record */
    struct power power;
    struct security sec;
    /* The inbound gate libvirt's hook reads (agent_gate.c). */
    enum host_gate gate;
    bool gate_written;
    struct offcheck_host offcheck[OFFCHECK_MAX];
    size_t offcheck_n; /* entries in use: offcheck[0..offcheck_n) */
    uint64_t offcheck_changes_seen; /* cluster.state_changes at the last scan */
    bool offcheck_full_told;
    struct http_server *http;          /* NULL: [http] listen is empty */
    struct history history;
    struct metrics_histogram loop_seconds; /* the work of one turn of the loop (agent.c) */
    struct forward_state forward; /* agent_forward.c */
    struct ha_host ha;            /* agent_ha.c */
    struct agent_stamp stamp;     /* agent_stamp.c */
    struct agent_fence fence;     /* agent_fence.c */
    struct agent_hadefs hadefs;   /* agent_hadefs.c */
    struct agent_ha_leader ha_lead; /* agent_ha_leader.c */
};

uint64_t agent_clock_ms(void);      /* monotonic */
/* The wall clock, as it reads: for what is checked against real dates
 * (certificates) and seeds. The times this host publishes and compares
 * come from agent_stamp_ms. */
uint64_t agent_wall_clock_ms(void);

/* agent_stamp.c: the stamp clock (src/common/stamp_clock.h), resumed from
 * the anchor kept in the state directory on this boot, else anchored on the
 * wall clock; agent_stamp_ms is a stamp now (ms since the epoch). */
void agent_stamp_open(struct agent *a);
uint64_t agent_stamp_ms(struct agent *a);
/* The stamp of something read at the earlier monotonic time mono_ms (no
 * later than the stamp then). */
uint64_t agent_stamp_before(struct agent *a, uint64_t mono_ms);

/* agent_bootfile.c: the state files bound to this boot. open names the
 * file (state_dir/name), what it keeps and what a restart loses when it
 * cannot be kept, both for the log, and reads this boot's id. */
void agent_bootfile_open(const struct agent *a, struct agent_bootfile *f, const char *name,
                         const char *what, const char *lost);
/* The values kept on this boot into v[0..n) (BOOT_FILE_THIS_BOOT), else why
 * there are none. The caller checks their range. */
enum boot_file_kept agent_bootfile_read(struct agent_bootfile *f, int64_t *v, size_t n);
/* Logs, once at a start, why nothing was resumed from the file: info when
 * that is normal (boot_file_kept_normal), else a warning. */
void agent_bootfile_not_resumed(const struct agent_bootfile *f, enum boot_file_kept why);
/* Hands v[0..n) for this boot to the agent's writer: 0, or -1 when there
 * is no boot id to bind them to (the start said so) or no memory. A write
 * that fails is logged by the writer, once until one succeeds. */
int agent_bootfile_write(struct agent_bootfile *f, const int64_t *v, size_t n);

/* agent_record.c: this host's record now. */
Nodectl__HostRecord *agent_self_record(struct agent *a);
/* A member's record: ours fresh, else the gossiped one decoded; NULL when
 * none arrived yet (or out of memory). */
Nodectl__HostRecord *agent_member_record(struct agent *a, const struct gossip_member_info *m);
/* The record of the host named `name`, as gossip holds it (NULL if none). */
Nodectl__HostRecord *agent_record_named(struct agent *a, const char *name);
/* Whether member m's record (rec, decoded) is a candidate's: its
 * certificate says candidate (insecure: its claim) and [cluster] candidates
 * lists it. */
bool agent_record_of_candidate(struct agent *a, const struct gossip_member_info *m,
                               const Nodectl__HostRecord *rec);
/* Gossip's record hooks: this host's record sealed with its certificate,
 * and every other one checked to be sealed by the host it names
 * (docs/security.md, layer 3). ctx: the agent. */
int agent_record_seal(void *ctx, uint64_t version, const uint8_t *data, size_t len,
                      uint8_t **out, size_t *out_len);
bool agent_record_verify(void *ctx, uint64_t id, uint64_t version, const uint8_t *data,
                         size_t len);

/* agent_writer.c: a thread that writes the files the loop must not wait
 * for (atomic_file.h), at most FILE_WRITER_FILES of them. add names one
 * (its id, or -1 when there is no room; what and lost are kept, and
 * named when a write fails); put hands over malloc'd bytes,
 * replacing any not yet written; put_copy copies them first (-1: out of
 * memory); stop writes what is pending and ends the thread. */
#define FILE_WRITER_FILES 4
struct file_writer;
struct file_writer *file_writer_start(void);
int file_writer_add(struct file_writer *w, const char *path, unsigned mode, const char *what,
                    const char *lost);
void file_writer_put(struct file_writer *w, int file, uint8_t *data, size_t len);
int file_writer_put_copy(struct file_writer *w, int file, const void *data, size_t len);
void file_writer_stop(struct file_writer *w);

/* agent_views.c: members' records as the agent reads them. update after
 * a gossip event about id (a new record version is decoded, once); rebuild
 * after members were made known without events (a snapshot). find: NULL
 * when id has no record. */
void member_views_update(struct agent *a, uint64_t id);
void member_views_rebuild(struct agent *a);
const struct member_view *member_views_find(const struct agent *a, uint64_t id);
void member_views_free(struct agent *a);

/* agent_leader.c: the leader's executor and planner, and the event log. */
int agent_leader_open(struct agent *a, char *err, size_t errlen);
void agent_leader_close(struct agent *a);
void agent_leader_run(struct agent *a, uint64_t now_ms);
uint64_t agent_leader_deadline(const struct agent *a);
/* The planner thread's completion: poll it (-1: no plan running), then
 * call agent_leader_plan_done. */
int agent_leader_fd(const struct agent *a);
void agent_leader_plan_done(struct agent *a);
/* Sends what the executor queued, each after a fresh lease check. */
void agent_leader_send(struct agent *a);
/* Answers a grant request for a command of this host's executor. */
void agent_leader_grant(struct agent *a, const struct grant_request *req, struct grant *out);

/* agent_policy.c: the cluster policy. agent_policy_open sets the
 * leader's policy from the configuration and opens the time zone (0, or -1
 * with err); agent_policy_window gives pol the [schedule] window in force at
 * wall_ms (win holds it while pol is used) and keeps its description for
 * nodectl plan; agent_policy_warnings adds a status warning per live host
 * whose policy is not the leader's. */
int agent_policy_open(struct agent *a, char *err, size_t errlen);
/* SIGHUP: the policy of the re-read file, when it is good (logged with what
 * changed), else the running one kept (logged with why). */
void agent_policy_reload(struct agent *a, const struct config *fresh);
void agent_policy_close(struct agent *a);
void agent_policy_window(struct agent *a, uint64_t wall_ms, struct placement_policy *pol,
                         struct placement_window *win);
int agent_policy_to_record(const struct agent *a, Nodectl__HostRecord *rec);
int agent_policy_warnings(const struct agent *a, Nodectl__StatusReply *st);

/* The gossiped members with their records, decoded (owned here), and how
 * gossip sees them: what the executor and the planner take. */
struct agent_members {
    struct executor_member *m;
    size_t n;
};
int agent_members_collect(struct agent *a, struct agent_members *mb);
void agent_members_free(struct agent_members *mb);

/* ---- The leader's view from any host (docs/leader.md) ---- */
/* agent_forward.c. A request only the leader answers (plan, events,
 * capacity, create): answered here when this host leads, else forwarded to
 * the leader and answered when its answer comes (the control socket's
 * reply is deferred), or refused when no leader is known. */
Nodectl__Response *agent_forward_request(struct agent *a, const Nodectl__Request *req);
/* A frame of the forward channel. */
void agent_forward_frame(struct agent *a, const struct frame_msg *msg);
/* Answers that did not come in time; a candidate's pull of the leader's log
 * and soft state (every second, at once while there is more). */
void agent_forward_run(struct agent *a, uint64_t now_ms);
uint64_t agent_forward_deadline(const struct agent *a);
/* Called after the election's view reached the executor: when this host
 * has just begun to lead, it takes over what it copied (executor_takeover). */
void agent_forward_takeover(struct agent *a);
/* The leader's own answers (agent_control.c): `forwarded` cuts a long one
 * to what one frame carries. */
Nodectl__Response *agent_plan_reply(struct agent *a, char *why, size_t len);
Nodectl__Response *agent_events_reply(struct agent *a, const Nodectl__EventsRequest *req);
/* agent_create.c: nodectl capacity and create on the leader, and the define
 * command on the host it chose. */
Nodectl__Response *agent_capacity_reply(struct agent *a, const Nodectl__CapacityRequest *req,
                                        char *why, size_t len);
Nodectl__Response *agent_create_reply(struct agent *a, const Nodectl__CreateRequest *req,
                                      char *why, size_t len);
/* Starts the definition a granted define command asks for (x RUNNING,
 * ended by agent_actions_refresh), or refuses it (x says why); libvirt is
 * not asked at or after deadline, the grant's bound. */
void agent_define(struct agent *a, const struct command *c, struct action *x,
                  uint64_t deadline);
/* The planner's snapshot now, hosts in name order (0, or -1 when out of
 * memory), and the host a new VM goes to in it, as nodectl create chooses
 * with most-free: its index, or -1 with why. */
int agent_create_snapshot(struct agent *a, struct agent_members *mb, struct leader_snapshot *s);
struct domain_spec;
int agent_create_choose(struct agent *a, struct leader_snapshot *s, const struct domain_spec *d,
                        char *why, size_t len);
/* ---- end ---- */

/* agent_drain.c: the drain flag, kept in the state directory so that a
 * host in maintenance stays drained across restarts. */
int agent_drain_load(struct agent *a, char *err, size_t errlen);
int agent_drain_set(struct agent *a, bool drain, char *err, size_t errlen);

/* agent_gate.c: the inbound gate (src/host/host_gate.h) in the state
 * directory. agent_gate_set writes it (when it changes; 0, or -1 with err);
 * agent_gate_settle opens it, or keeps incoming migrations out while the
 * host is drained, unless a power-off holds it closed. */
int agent_gate_set(struct agent *a, enum host_gate g, const char *reason, char *err,
                   size_t errlen);
void agent_gate_settle(struct agent *a);

/* agent_ha.c: this host's side of HA restart (docs/safety.md, "The
 * protected gate"). open writes the protected gate "reconciling" and arms
 * the watchdog when configured (0, or -1 with err: the agent must not run
 * without them); run reconciles once the cluster view allows it, then
 * opens the gate to protected starts, and pets the watchdog; fence (the
 * run lease lapsed: open makes agent_fence.c call it) closes the gate and
 * destroys every protected guest here at once; held again after a fence,
 * the host reconciles again before it is ready; close disarms the watchdog
 * when no protected guest runs here. */
int agent_ha_open(struct agent *a, char *err, size_t errlen);
/* Notes, from a new sample, which protected domains run here now. */
void agent_ha_sampled(struct agent *a);
void agent_ha_run(struct agent *a, uint64_t now_ms);
uint64_t agent_ha_deadline(const struct agent *a);
void agent_ha_fence(struct agent *a, const char *reason);
void agent_ha_close(struct agent *a);
/* agent_ha_kill.c: the self-fence without libvirt. Kills (SIGKILL) the
 * QEMU process of every protected domain that libvirt's QEMU driver's
 * status files in dir name and that still runs; 0 when none runs (any
 * killed now is confirmed by a later call), -1 with err otherwise. */
int agent_ha_kill_protected(const char *dir, size_t *killed, char *err, size_t errlen);
/* agent_control.c: one more warning in a status reply (-1 when out of
 * memory). */
int agent_status_warn(Nodectl__StatusReply *st, const char *text);
/* A status warning while this host is fenced, or has waited long to
 * reconcile (-1 when out of memory). */
int agent_ha_warnings(const struct agent *a, Nodectl__StatusReply *st);
void agent_ha_metrics(const struct agent *a, struct metrics *m);

/* agent_offcheck.c: hosts that announced "off" and are not. Every agent
 * follows the OFF members; the leader probes them, publishes those found on
 * in its record, and plans with them down. agent_offcheck_mark shows, in a
 * member list, the OFF members a live record disproves as "failed". */
void agent_offcheck_run(struct agent *a, uint64_t now_ms);
uint64_t agent_offcheck_deadline(const struct agent *a);
void agent_offcheck_close(struct agent *a);
bool agent_offcheck_disproved(const struct agent *a, const char *name);
int agent_offcheck_to_record(const struct agent *a, Nodectl__HostRecord *rec);
void agent_offcheck_mark(Nodectl__Member **list, size_t n);

/* agent_synthetic_load.c: the test and demo knob's CPU demand, applied to
 * this host's record. */
void agent_synthetic_load(const struct agent *a, Nodectl__HostRecord *rec);

/* agent_power.c: wake information, the power-off of this host and the
 * Wake-on-LAN packets it sends for others. */
void agent_power_open(struct agent *a);
bool agent_power_can_off(const struct agent *a);
int agent_power_to_record(const struct agent *a, Nodectl__HostRecord *rec);
/* Begins this host's power-off under a grant that holds until `deadline`
 * (monotonic): the commit, after a fresh view of libvirt, must come before
 * it. */
void agent_power_off(struct agent *a, struct action *x, uint64_t deadline);
void agent_wake(struct agent *a, const struct command_wake *w, struct action *x);
/* agent_ipmi.c: powering other hosts on through their BMCs. */
bool agent_ipmi_can_wake(const struct agent *a);
void agent_ipmi_power_on(struct agent *a, const struct command_wake *w, struct action *x);
/* Starts `ipmitool ... chassis power status` against the BMC at bmc, its
 * stdout in *out_fd (non-blocking); the child's pid, or -1 (no credentials,
 * a bad address, no fork). */
pid_t agent_ipmi_status_start(const struct agent *a, const char *bmc, int *out_fd);
void agent_ipmi_run(struct agent *a, uint64_t now);
bool agent_ipmi_busy(const struct agent *a);
void agent_power_run(struct agent *a, uint64_t now_ms);
uint64_t agent_power_deadline(const struct agent *a);
bool agent_powering_off(const struct agent *a);

/* agent_guard.c: a migration command against this host's gossip view and
 * terms, and the VM against the failed migration that may have brought it
 * (HOST_OK, or the refusal with why; the VM's arrival id judged in
 * `arrival`), and the check its thread makes against libvirt just before
 * the call (an hv_migrate_check; its ctx: that arrival id, which must
 * outlive the migration). */
enum host_refusal agent_migrate_refusal(struct agent *a, const struct command *c,
                                        char arrival[HV_ARRIVAL_MAX], char *why, size_t len);
int agent_migrate_vm_check(const struct hv_domain_now *dom, const char *vm, void *ctx, char *why,
                           size_t len);
/* Whether a host's record shows its power-off under way. */
bool agent_record_powering_off(const Nodectl__HostRecord *rec);
/* After a fresh sample: destroys every domain here that a migration its
 * source saw fail left running (host_arrival_check on the sample, then on
 * libvirt's view just before the destroy, hv_destroy_leftover). */
void agent_leftovers(struct agent *a);

/* agent_actions.c: the command channel. A command is accepted through the
 * host guard, runs under its issuer's grant (once per id), is followed, and
 * is listed in the record (-1 when out of memory). */
int agent_actions_open(struct agent *a, char *err, size_t errlen);
/* The migrations that failed before this start, or were running when the
 * agent stopped (HOST_FAILED_FILE), back into the actions the record
 * reports: before the first record. agent_actions_refresh settles the
 * running ones from a fresh view of libvirt. */
void agent_actions_restore(struct agent *a);
void agent_actions_close(struct agent *a);
/* A frame of the command channel. */
void agent_command_frame(struct agent *a, const struct frame_msg *msg);
/* Issues a command from this host: to the agent at `address`, or to this
 * host's own guard when `local`. 0, or -1 if it could not be queued. */
int agent_command_issue(struct agent *a, const struct command *c, const char *address, bool local);
/* An operator's command typed on this host: a fresh id, this host's
 * highest known term, this host as issuer, remembered for its grant. */
void agent_operator_command(struct agent *a, struct command *c, const char *target);
void agent_actions_run(struct agent *a, uint64_t now_ms);
uint64_t agent_actions_deadline(const struct agent *a);
void agent_actions_refresh(struct agent *a);
int agent_actions_to_record(const struct agent *a, Nodectl__HostRecord *rec);

/* agent_vmrules.c: nodectl vm set. agent_vm_set answers the request:
 * written here when the VM is on this host, else sent as a command to the
 * host that runs it; agent_vm_rules_write writes (0, or -1 with err). */
int agent_fence_open(struct agent *a, char *err, size_t errlen);
void agent_fence_close(struct agent *a);
void agent_fence_run(struct agent *a, uint64_t now_ms);
uint64_t agent_fence_deadline(const struct agent *a);
/* A renewal (leader side) or its answer (host side) from `sender`, whose
 * agent listens at reply_to. */
void agent_fence_frame(struct agent *a, const struct command_msg *m, const char *sender,
                       const char *reply_to);
/* Whether protected guests may run here now. */
bool agent_fence_holds(const struct agent *a);
int agent_hadefs_open(struct agent *a, char *err, size_t errlen);
void agent_hadefs_close(struct agent *a);
void agent_hadefs_run(struct agent *a, uint64_t now_ms);
uint64_t agent_hadefs_deadline(const struct agent *a);
void agent_hadefs_frame(struct agent *a, const struct definition_put *p, const char *sender);
void agent_ha_leader_run(struct agent *a, uint64_t now_ms);
uint64_t agent_ha_leader_deadline(const struct agent *a);
void agent_ha_leader_close(struct agent *a);
/* The hosts this leader fences, with their evidence, in its record
 * (ha_fenced): what `nodectl status` shows on any host. */
int agent_ha_fenced_to_record(const struct agent *a, Nodectl__HostRecord *rec);
/* Marks the members the leader's record (alive, lease held, highest term)
 * shows fenced. */
void agent_ha_fenced_mark(Nodectl__Member **list, size_t n);
/* nodectl host fenced HOST, as this host leads: NULL with why when refused. */
Nodectl__Response *agent_host_fenced_reply(struct agent *a, const Nodectl__HostFencedRequest *req,
                                           char *why, size_t len);

Nodectl__Response *agent_vm_set(struct agent *a, const Nodectl__VmSetRequest *req);
int agent_vm_rules_write(struct agent *a, const struct command_vm_rules *r, char *err,
                         size_t errlen);

/* agent_election.c */
int leadership_open(struct agent *a, char *err, size_t errlen);
void leadership_close(struct agent *a);
uint64_t leadership_deadline(const struct agent *a);
void leadership_run(struct agent *a, uint64_t now_ms);
/* An election message in an authenticated frame: refused unless its sender
 * is a candidate by its certificate and by [cluster] candidates, and names
 * itself. */
void leadership_receive(struct agent *a, uint64_t now_ms, const struct frame_msg *msg);
/* Counts and logs a command refused for its old term, or for a term ahead
 * of what a quorum of candidates shows. */
void leadership_refused_stale(struct agent *a, uint64_t term, const char *what,
                              const char *issuer);
void leadership_refused_ahead(struct agent *a, uint64_t term, const char *what,
                              const char *issuer);
/* This host's lease now, read fresh: until when (monotonic ms) and in which
 * term; 0 when it holds none. */
uint64_t leadership_lease_until(const struct agent *a, uint64_t *term);
/* Leader: hand over to `to` ("": the preferred candidate). -1 with err. */
int leadership_transfer(struct agent *a, const char *to, char *err, size_t errlen);
int leadership_to_record(const struct agent *a, Nodectl__HostRecord *rec);
/* Stops leading before the agent stops: transfer, and wait a little for a
 * successor. */
void leadership_handover(struct agent *a);
bool leadership_is_leader(const struct agent *a);
/* The leader asks this host (one that does not vote) to show the leader and
 * term it follows in its record. */
void leadership_show_asked(struct agent *a);
bool leadership_is_candidate(const struct agent *a, const char *name);

/* agent_security.c. security_open makes the frame layer for the addresses
 * this host is reached at (advertised first): boot epoch, keyring and
 * identity; 0, or -1 with a message naming the key and file. */
int security_open(struct agent *a, const char *const *addrs, size_t n_addrs, char *err,
                  size_t errlen);
void security_close(struct agent *a);
/* Reads the keyring and identity files again (SIGHUP, nodectl keys); a
 * file that fails keeps what runs. 0, or -1 with a message. */
int security_reload(struct agent *a, char *err, size_t errlen);
/* The keyring on disk, and its replacement: written to [cluster]
 * keyring_file, then used at once. 0, or -1 with a message. */
int security_keyring_read(struct agent *a, struct keyring *ring, char *err, size_t errlen);
int security_keyring_write(struct agent *a, const struct keyring *ring, char *err,
                           size_t errlen);
/* The file the keyring came from. */
const char *security_keyring_path(const struct agent *a);
/* Counts a refusal and logs the first of its reason. */
void security_refuse(struct agent *a, enum security_refusal r, const char *sender,
                     const char *what);
void security_run(struct agent *a, uint64_t now_ms);
int security_to_record(const struct agent *a, Nodectl__HostRecord *rec);
int security_to_status(const struct agent *a, Nodectl__StatusReply *st);
/* A counter of a status reply (NULL when out of memory). */
Nodectl__Counter *status_counter(const char *name, uint64_t value);
/* agent_keys.c: nodectl keys. */
Nodectl__Response *agent_keys_request(struct agent *a, const Nodectl__KeysRequest *req);

/* agent_rebalance.c: local rebalancing after a sample, when enabled. */
void agent_rebalance(struct agent *a, uint64_t now_ms);

/* agent_metrics.c: GET /metrics, the Prometheus text, from the functions
 * below, each of the file that owns the numbers; NULL when out of memory. */
char *agent_metrics_text(struct agent *a, size_t *len);
/* Every component's refusals of input, as `nodectl status` lists them. */
typedef int (*agent_rejects_fn)(void *ctx, const char *component, const struct rejects *r,
                                const char *(*name)(unsigned));
int agent_rejects_each(const struct agent *a, agent_rejects_fn fn, void *ctx);
void cluster_metrics(const struct agent *a, struct metrics *m);
/* The traffic counters of a status reply: frames by channel, gossip
 * packets by kind, each way. */
int cluster_to_status(const struct agent *a, Nodectl__StatusReply *st);
void leadership_metrics(const struct agent *a, struct metrics *m);
void agent_leader_metrics(const struct agent *a, struct metrics *m);
void agent_host_metrics(struct agent *a, struct metrics *m);
void security_metrics(const struct agent *a, struct metrics *m);
void agent_loop_metrics(const struct agent *a, struct metrics *m);

/* agent_history.c */
void agent_history_init(struct agent *a);
void agent_history_run(struct agent *a, uint64_t now_ms);
uint64_t agent_history_deadline(const struct agent *a);
/* The hosts on, off and failed, and their estimated power now. */
struct history_point agent_history_now(struct agent *a);
void agent_history_metrics(struct agent *a, struct metrics *m);

/* agent_http.c: the HTTP server of [http] listen; the routes. */
int agent_http_open(struct agent *a, char *err, size_t errlen);
void agent_http_close(struct agent *a);
/* agent_state.c: GET /api/state, the dashboard's JSON; NULL when out of
 * memory. */
char *agent_state_json(struct agent *a, size_t *len);

/* agent_control.c */
Nodectl__Response *agent_handle_request(void *ctx, const Nodectl__Request *req);
/* A response with body (of the kind body_case); NULL when out of memory. */
Nodectl__Response *agent_response(Nodectl__Response__BodyCase body_case, void *body);
/* control_check: a request's fields within message_limits.h. */
const char *agent_check_request(const Nodectl__Request *req, const char **reason);

/* agent_cluster.c. cluster_open returns 0, or -1 with a message in err and
 * *usage set when the configuration (key, addresses, timing) is at fault. */
int cluster_open(struct agent *a, char *err, size_t errlen, bool *usage);
void cluster_close(struct agent *a);
/* The earliest time the cluster needs the loop back. */
uint64_t cluster_deadline(const struct agent *a);
/* Does what is due now and takes what arrived; fds from cluster_fds. */
void cluster_run(struct agent *a, uint64_t now_ms);
/* Descriptors to poll for input; returns how many were written. */
#define CLUSTER_FDS_MAX 3
int cluster_fds(const struct agent *a, int fds[CLUSTER_FDS_MAX]);
/* After a new hypervisor sample: publishes the record if it moved. */
void cluster_publish(struct agent *a, uint64_t now_ms);
/* Sends this host's record to every member at once (gossip_push_record),
 * for a change of leader or term that hosts must not learn seconds late. */
void cluster_push_record(struct agent *a, uint64_t now_ms);
/* Sends a frame of the command channel to the agent at "host:port"; 0, or
 * -1 if it could not be queued. */
int cluster_send_command(struct agent *a, const char *to, const struct command_msg *m);
/* Graceful stop: announces "left" (agent.c then turns the loop for the
 * cluster alone while it spreads); -1 when there is nothing to announce. */
int cluster_leave(struct agent *a);
/* "a.b.c.d:port" or "[v6]:port". */
void cluster_format_addr(const struct gossip_addr *a, char *out, size_t len);
/* Gossip's configuration from the agent's. NULL, or what is wrong. */
const char *cluster_gossip_config(const struct config *cfg, struct gossip_config *out);

#endif
