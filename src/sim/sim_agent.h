/* The agent's shell on a simulated host (sim_agent.c, sim_record.c,
 * sim_leader.c, sim_target.c): what those files share. Not an interface
 * for the rest of the simulator, which uses sim_cluster.h. */
#ifndef NODECTL_SIM_AGENT_H
#define NODECTL_SIM_AGENT_H

#include "agent/host_record.h"
#include "command/command.h"
#include "command/issued.h"
#include "host/host_gate.h"
#include "host/host_guard.h"
#include "leader/executor.h"
#include "leader/leader_view.h"
#include "sim_cluster.h"

/* The agent's sample interval ([hypervisor] sample_interval's default). */
#define SAMPLE_MS 5000
/* The agent announces "off" this long before its off command runs
 * (agent_power.c), for the news to spread. */
#define OFF_SPREAD_MS 1000
/* The agent's timings for the cluster the simulator runs: the election's
 * defaults, a plan every 10 s and cool-downs short enough that the load's
 * swing within a run both consolidates and spreads. */
#define HEARTBEAT_MS 100
#define ELECTION_TIMEOUT_MS 500
#define LEASE_MARGIN_MS 100
#define PLAN_INTERVAL_MS 10000
#define MIGRATION_TIMEOUT_MS 120000
#define POWER_ON_TIMEOUT_MS 180000
#define MAX_MIGRATIONS 4
/* The bound on clock rates the host guard assumes, as the agent derives it
 * (agent_actions.c): the election's margin covers clocks drifting by rho
 * each way. The simulated clocks stay within it (sim_faults.c). */
#define RHO ((double)LEASE_MARGIN_MS / ELECTION_TIMEOUT_MS / 2)
#define ACTIONS_MAX 32
/* Room for a grant's trip back, on the issuer's clock (agent_actions.c). */
#define GRANT_ROOM_MS 20

enum action_kind { ACT_MIGRATION, ACT_POWER_OFF, ACT_WAKE, ACT_DEFINE };

/* A command this host carries out, as its record reports it (the agent's
 * agent_actions.c). */
struct action {
    bool used;
    char id[COMMAND_ID_MAX];
    enum action_kind kind;
    char vm[COMMAND_VM_MAX];
    char destination[COMMAND_NAME_MAX];
    enum report_state state;
    char error[COMMAND_REASON_MAX];
    uint64_t started_ms, ended_ms; /* wall */
    uint64_t term;
    uint32_t mig; /* the hypervisor's migration */
    bool orphan;  /* running when the agent last stopped: settled from libvirt */
};

/* A plan being computed in the worker thread. */
struct plan_job {
    bool busy;
    uint64_t ticket;
    struct executor_member *m;
    size_t n;
    struct leader_snapshot snap;
    struct placement_plan pp;
    int rc;
    int64_t done_us;
};

/* The payload of a STEP_SEND_CHECK / STEP_SEND. */
struct send_step {
    struct executor_send s;
};
/* STEP_GRANT / STEP_GRANT_SEND. */
struct grant_step {
    struct grant_request req;
    struct grant grant;
    uint32_t to;
};
/* STEP_ACT_CHECK / STEP_ACT. */
struct act_step {
    struct command cmd;
    uint64_t deadline;
};

struct member_cache {
    uint64_t version;
    Nodectl__HostRecord *rec;
};

struct sim_host {
    uint32_t i;
    char name[COMMAND_NAME_MAX];
    bool candidate;
    bool up;
    int64_t frozen_until_us;
    int64_t wake_at_us;
    uint32_t wake_gen;
    struct sim_clock clock;
    struct stamp_clock stamp; /* the agent's, while it runs */
    uint64_t stamp_saved_ms;  /* monotonic: when its anchor went to disk */
    struct sim_disk disk;
    struct gossip *g;
    struct election *e;
    struct executor *ex;
    struct host_guard *guard;
    struct prng rng; /* the planner's */
    /* The loop's queue of steps. */
    struct sim_step *q;
    size_t q_head, q_n, q_cap;
    int64_t next_sample_ms;
    bool lead_due;
    uint64_t seen_term;
    bool seen_lease;
    /* The term a host that does not vote shows in its record: the one it
     * knows when the leader last asked (agent_election.c's show_view). */
    uint64_t shown_term;
    struct plan_job plan;
    struct member_cache *cache; /* per host index */
    struct action actions[ACTIONS_MAX];
    struct issued *operators; /* the operator's commands typed here (agent_actions.c) */
    uint64_t typed;           /* how many: their ids */
    /* The power-off under way: committed, the off command at off_at_ms. */
    bool off_pending;
    int64_t off_at_ms;
    char off_id[COMMAND_ID_MAX];
    uint64_t off_term;
    struct host_capacity capacity; /* the last the hypervisor said (agent_record.c) */
    struct simha *ha;              /* --ha: the agent's HA state (sim_ha_cluster.c) */
};

static inline uint64_t simh_voter_id(uint32_t i) { return 0x100 + i; }

/* The host's clocks now. */
static inline int64_t simh_mono(const struct sim_cluster *c, const struct sim_host *h) {
    return sim_clock_mono_ms(&h->clock, c->now_us);
}
/* The stamp clock now (the agent's agent_stamp_ms): the times the host
 * publishes and compares. */
uint64_t simh_stamp(const struct sim_cluster *c, struct sim_host *h);

/* The agent's files bound to a boot on host h's disk (agent_bootfile.c),
 * under a boot id of the host's index and boot count. keep writes v[0..n)
 * into text (BOOT_FILE_TEXT_MAX); read is boot_file_parse's answer;
 * not_resumed counts a reason to resume nothing that is not normal
 * (boot_file_kept_normal) a violation: the disk holds only what the host
 * kept, on the boot it kept it. */
void simh_bootfile_keep(const struct sim_cluster *c, const struct sim_host *h, char *text,
                        const int64_t *v, size_t n);
enum boot_file_kept simh_bootfile_read(const struct sim_cluster *c, const struct sim_host *h,
                                       const char *text, int64_t *v, size_t n);
void simh_bootfile_not_resumed(struct sim_cluster *c, const struct sim_host *h, const char *what,
                               enum boot_file_kept why);

/* sim_agent.c: the loop, the network, gossip and the election. */
/* Queues a step at the back, or at the front (the continuation of the step
 * that runs now, before anything else). p is taken. -1 on out of memory. */
int simh_push(struct sim_host *h, enum sim_step_kind kind, void *p, size_t len, bool front);
void *simh_copy(const void *p, size_t len);
/* Host i's name, "n<i+1>". */
void simh_name(uint32_t i, char *out, size_t len);
void simh_send_command(struct sim_cluster *c, uint32_t from, uint32_t to,
                       const struct command_msg *m);
/* A member's record, decoded once per version; NULL when it has none. */
const Nodectl__HostRecord *simh_cached(struct sim_host *h, const struct gossip_member_info *m);
/* Sends what gossip and the election queued, and learns what they changed. */
void simh_flush_gossip(struct sim_cluster *c, struct sim_host *h);
void simh_flush_election(struct sim_cluster *c, struct sim_host *h);
/* The election as one fresh reading shows it (leader: a buffer for its name). */
struct executor_lease simh_lease_now(const struct sim_cluster *c, const struct sim_host *h,
                                     char *leader, size_t len);

/* sim_record.c: what this host carried out, and its record. */
uint32_t simh_host_of_mac(const struct sim_cluster *c, const char *mac);
struct action *simh_action_find(struct sim_host *h, const char *id);
struct action *simh_action_new(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                               enum action_kind kind);
/* The actions an agent starts with: the migrations its disk kept (failed,
 * aborted, or running when it stopped: orphans). */
void simh_actions_restore(struct sim_cluster *c, struct sim_host *h);
/* Onto the disk, as the agent's HOST_FAILED_FILE: the migrations running,
 * failed or aborted. */
void simh_actions_keep(struct sim_cluster *c, struct sim_host *h);
/* After a sample: the orphans settled from a fresh view (host_failed_settle). */
void simh_orphans_settle(struct sim_cluster *c, struct sim_host *h);
void simh_action_end(struct sim_cluster *c, struct sim_host *h, struct action *x,
                     enum report_state st, const char *why);
/* A command refused before it ran: reported, so its issuer stops waiting. */
void simh_refused(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                  const char *why);
Nodectl__HostRecord *simh_self_record(struct sim_cluster *c, struct sim_host *h);
void simh_publish(struct sim_cluster *c, struct sim_host *h);

/* sim_leader.c: the executor, the planner and grants. */
int simh_step_lead(struct sim_cluster *c, struct sim_host *h);
int simh_step_plan(struct sim_cluster *c, struct sim_host *h);
int simh_step_plan_done(struct sim_cluster *c, struct sim_host *h);
int simh_step_send_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s);
int simh_step_send(struct sim_cluster *c, struct sim_host *h, struct sim_step *s);
int simh_step_grant(struct sim_cluster *c, struct sim_host *h, struct sim_step *s);
int simh_step_grant_send(struct sim_cluster *c, struct sim_host *h, struct sim_step *s);
void simh_plan_release(struct plan_job *p);
/* The hosts and VM a command is about (UINT32_MAX: none), for the checks. */
void simh_command_objects(const struct sim_cluster *c, const struct command *cmd, uint32_t *host,
                          uint32_t *host2, uint32_t *vm);

/* The members with a record, as the leader's round collects them (own:
 * copies for the worker thread; else borrowed from the cache). */
int simh_members_collect(struct sim_cluster *c, struct sim_host *h, bool own,
                         struct executor_member **out, size_t *n, size_t *self_at);
void simh_members_free(struct executor_member *m, size_t n, bool own, size_t self_at);
/* What the executor has to send, queued as send steps at the front. */
int simh_dispatch(struct sim_cluster *c, struct sim_host *h);

/* sim_ha_cluster.c: --ha on a host (agent_fence.c, agent_ha.c,
 * agent_ha_leader.c). */
int simha_start(struct sim_cluster *c, struct sim_host *h);
void simha_stop(struct sim_cluster *c, struct sim_host *h);
/* When the HA step is next due (monotonic ms); INT64_MAX: never. */
int64_t simha_deadline(const struct sim_cluster *c, const struct sim_host *h);
int simha_step(struct sim_cluster *c, struct sim_host *h);
/* A FenceRenew or FenceRenewed from `from`. */
void simha_frame(struct sim_cluster *c, struct sim_host *h, uint32_t from,
                 const struct command_msg *m);
/* After a sample: the protected VMs seen running here (agent_ha_sampled). */
void simha_sampled(struct sim_cluster *c, struct sim_host *h);
/* A leader's define-and-start took effect here (agent_define). */
void simha_define(struct sim_cluster *c, struct sim_host *h, const struct command *cmd,
                  uint64_t deadline);

/* sim_target.c: the host's acceptance of commands and its actions. */
/* A command channel message taken on host h from host `from`. */
void simh_command_msg(struct sim_cluster *c, struct sim_host *h, uint32_t from,
                      const struct command_msg *m);
/* Ourselves: handed over without the network, as the agent does. */
void simh_deliver_local(struct sim_cluster *c, struct sim_host *h, const struct command_msg *m);
void simh_guard_flush(struct sim_cluster *c, struct sim_host *h);
void simh_set_gate(struct sim_cluster *c, struct sim_host *h, enum host_gate g);
int simh_step_act_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s);
int simh_step_act(struct sim_cluster *c, struct sim_host *h, struct sim_step *s);
int simh_step_off_check(struct sim_cluster *c, struct sim_host *h, struct sim_step *s);
int simh_step_off(struct sim_cluster *c, struct sim_host *h);
/* A migration this host started ended (libvirt's event). */
void simh_migration_ended(struct sim_cluster *c, struct sim_host *h, uint32_t mig);
/* After a sample: destroys the copies failed migrations left here. */
void simh_leftovers(struct sim_cluster *c, struct sim_host *h);

#endif
