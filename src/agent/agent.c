/* `nodectl agent`: start-up, the event loop and shutdown. The loop waits in
 * poll() on the signals, the control socket, libvirt's events and the
 * cluster's sockets, with the earliest protocol or sampling deadline as its
 * timeout, so nothing in it ever blocks on a peer. */
#include "agent.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"
#include "common/identity.h"
#include "common/log.h"
#include "net/control.h"
#include "net/ipmi.h"
#include "net/wol.h"

/* SIGHUP: re-read the file and apply what can change at run time. A file
 * that no longer parses changes nothing. */
static void reload(struct agent *a) {
    struct config fresh;
    struct config_error err;
    if (config_load(a->cfg.path, &fresh, &err) != 0) {
        log_err("reload refused, keeping the running configuration: %s", err.text);
        return;
    }
    a->cfg.log_level = fresh.log_level;
    log_set_level(fresh.log_level);
    a->cfg.log_format = fresh.log_format;
    log_set_format(fresh.log_format);
    a->cfg.sample_interval_ms = fresh.sample_interval_ms;
    a->next_sample_ms = agent_clock_ms();
    if (strcmp(fresh.hypervisor_uri, a->cfg.hypervisor_uri) != 0 ||
        strcmp(fresh.control_socket, a->cfg.control_socket) != 0 ||
        strcmp(fresh.control_group, a->cfg.control_group) != 0 ||
        strcmp(fresh.control_admin_group, a->cfg.control_admin_group) != 0 ||
        strcmp(fresh.state_dir, a->cfg.state_dir) != 0 ||
        strcmp(fresh.node_name, a->cfg.node_name) != 0 || fresh.port != a->cfg.port ||
        strcmp(fresh.bind_address, a->cfg.bind_address) != 0)
        log_warn("reload: node name, address, state directory, control socket and its groups, "
                 "and hypervisor URI take effect at the next restart");
    log_info("configuration reloaded from %s (log_level, log_format, sample_interval; the "
             "cluster policy below)",
             a->cfg.path);
    agent_policy_reload(a, &fresh);
    char why[CONFIG_PATH_MAX + 600];
    if (security_reload(a, why, sizeof why) != 0)
        log_err("reload: keeping the running keyring and identity: %s", why);
}

/* Every connection costs a descriptor: take as many as the kernel allows
 * this process (systemd starts services with 1024, and a hard limit of
 * 524288), so that the transport's connection limits, sized from the
 * result (transport.c), decide what is refused, not a full descriptor
 * table that would refuse everything, the control socket's clients too. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    unsigned long long was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("cannot raise the descriptor limit from %llu to %llu: %s", was,
                 (unsigned long long)rl.rlim_max, strerror(errno));
    else
        log_info("descriptor limit raised from %llu to %llu", was,
                 (unsigned long long)rl.rlim_cur);
}

static int signal_fd(void) {
    /* A write to a libvirtd that just closed its end (a restart, a crash)
     * must fail with EPIPE, not end the agent: libvirt's RPC client writes
     * without MSG_NOSIGNAL. Children get SIGPIPE back before exec. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* How long the agent waits for its first hypervisor sample at start. */
#define FIRST_SAMPLE_WAIT_MS 5000u

/* One turn of the loop does the work due and takes what arrived; a turn
 * that takes long delays heartbeats and probes. */
static const double loop_bounds[] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025,
                                     0.05,   0.1,    0.25,  0.5,   1,    2.5};

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

void agent_loop_metrics(const struct agent *a, struct metrics *m) {
    metrics_histogram(m, "nodectl_agent_loop_seconds",
                      "Time one turn of the agent's event loop spent working (not waiting).",
                      &a->loop_seconds);
    metrics_counter(m, "nodectl_http_requests_total", "HTTP requests this agent answered.",
                    a->http ? (double)http_server_requests(a->http) : 0);
    metrics_counter(m, "nodectl_http_connections_total", "HTTP connections this agent accepted.",
                    a->http ? (double)http_server_connections(a->http) : 0);
}

/* The loop's sources (Redis ae.c's time and file events). The timed ones
 * run at every turn, in this order, each doing what is due, and say when
 * they are next due; the loop sleeps until the earliest of those, or
 * until one of the descriptors below is readable. */
struct timed_source {
    void (*run)(struct agent *a, uint64_t now_ms);
    uint64_t (*deadline)(const struct agent *a); /* NULL: none of its own */
};

static uint64_t sample_deadline(const struct agent *a) { return a->next_sample_ms; }

/* libvirt is sampled in hv's own thread: its calls can block for seconds
 * (src/hv/hv_sampler.c), gossip probes must not. A fresh sample is shown
 * and acted on at once. */
static void sample_run(struct agent *a, uint64_t now) {
    if (now >= a->next_sample_ms) {
        if (hv_sample_request(a->hv) != 0) {
            log_err("hypervisor: cannot start the sampling thread");
            a->loop_failed = true;
            return;
        }
        a->next_sample_ms = now + a->cfg.sample_interval_ms;
    }
    bool fresh;
    a->sample = hv_sample_latest(a->hv, &fresh);
    hv_migrations_poll(a->hv, now);
    hv_defines_poll(a->hv);
    if (fresh) {
        if (a->fresh_samples < 2)
            a->fresh_samples++;
        agent_ha_sampled(a);
        agent_leftovers(a);
        agent_actions_refresh(a);
        agent_rebalance(a, now);
        cluster_publish(a, now);
    }
}

static const struct timed_source timed[] = {
    {sample_run, sample_deadline},
    {cluster_run, cluster_deadline},
    {leadership_run, leadership_deadline},
    {security_run, NULL},
    {agent_leader_run, agent_leader_deadline},
    {agent_actions_run, agent_actions_deadline},
    {agent_power_run, agent_power_deadline},
    {agent_offcheck_run, agent_offcheck_deadline},
    {agent_history_run, agent_history_deadline},
    {agent_forward_run, agent_forward_deadline},
    {agent_ha_run, agent_ha_deadline},
    {agent_fence_run, agent_fence_deadline},
    {agent_hadefs_run, agent_hadefs_deadline},
    {agent_ha_leader_run, agent_ha_leader_deadline},
};

/* Descriptors and what reads them. A negative fd (no plan running, no
 * [http] listen) is ignored by poll. */
struct io_source {
    int (*fd)(const struct agent *a);
    void (*readable)(struct agent *a);
    bool always; /* readable is called after every wait, with input or not */
    uint64_t (*deadline)(const struct agent *a); /* NULL: none of its own */
};

static int control_fd(const struct agent *a) { return control_server_fd(a->ctl); }
static void control_readable(struct agent *a) {
    control_server_serve(a->ctl, agent_check_request, agent_handle_request, a);
}
static int plan_fd(const struct agent *a) { return agent_leader_fd(a); }
static int hv_fd(const struct agent *a) { return hv_event_fd(a->hv); }
/* A domain started, stopped or moved: show it now, not at the next
 * sample. */
static void hv_readable(struct agent *a) {
    if (hv_events_take(a->hv))
        a->next_sample_ms = agent_clock_ms();
}
static int http_fd(const struct agent *a) { return http_server_fd(a->http); }
static void http_run(struct agent *a) { http_server_run(a->http); }
/* Its timeouts (idle connections) come due without input. */
static uint64_t http_deadline(const struct agent *a) {
    int64_t ms = http_server_timeout_ms(a->http);
    return ms >= 0 ? agent_clock_ms() + (uint64_t)ms : UINT64_MAX;
}

static const struct io_source io[] = {
    {http_fd, http_run, true, http_deadline},
    {control_fd, control_readable, false, NULL},
    {plan_fd, agent_leader_plan_done, false, NULL},
    {hv_fd, hv_readable, false, NULL},
};

/* A set of sources one loop turns: all of them while the agent runs, the
 * cluster's alone while it leaves. The cluster's descriptors are polled
 * in both: cluster_run takes their input at its next run. */
struct sources {
    const struct timed_source *timed;
    size_t n_timed;
    const struct io_source *io;
    size_t n_io;
    int sigfd; /* -1: signals are not read */
};

#define POLL_MAX (1 + sizeof io / sizeof *io + CLUSTER_FDS_MAX)

static void run_timed(struct agent *a, const struct sources *s) {
    for (size_t i = 0; i < s->n_timed && !a->loop_failed; i++)
        s->timed[i].run(a, agent_clock_ms());
}

/* Waits for input or until the earliest deadline of s (or until, if
 * sooner), then hands what is readable to its source and reads the
 * signals. Returns true when a stop signal came; *failed on an error of
 * poll itself. */
static bool wait_turn(struct agent *a, const struct sources *s, uint64_t until, bool *failed) {
    struct pollfd fds[POLL_MAX];
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = s->sigfd, .events = POLLIN};
    assert(1 + s->n_io + CLUSTER_FDS_MAX <= POLL_MAX);
    for (size_t i = 0; i < s->n_io; i++)
        fds[n++] = (struct pollfd){.fd = s->io[i].fd(a), .events = POLLIN};
    int cfds[CLUSTER_FDS_MAX], nc = cluster_fds(a, cfds);
    assert(nc >= 0 && nc <= CLUSTER_FDS_MAX);
    for (int i = 0; i < nc; i++)
        fds[n++] = (struct pollfd){.fd = cfds[i], .events = POLLIN};
    uint64_t deadline = until;
    for (size_t i = 0; i < s->n_timed; i++)
        if (s->timed[i].deadline && s->timed[i].deadline(a) < deadline)
            deadline = s->timed[i].deadline(a);
    for (size_t i = 0; i < s->n_io; i++)
        if (s->io[i].deadline && s->io[i].deadline(a) < deadline)
            deadline = s->io[i].deadline(a);
    uint64_t now = agent_clock_ms();
    int timeout = deadline > now ? (int)(deadline - now < INT_MAX ? deadline - now : INT_MAX) : 0;
    *failed = false;
    if (poll(fds, n, timeout) < 0) {
        if (errno != EINTR) {
            log_err("poll: %s", strerror(errno));
            *failed = true;
        }
        return false;
    }
    for (size_t i = 0; i < s->n_io; i++)
        if (s->io[i].always || (fds[1 + i].revents & POLLIN))
            s->io[i].readable(a);
    bool stop = false;
    struct signalfd_siginfo si;
    while (s->sigfd >= 0 && read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            reload(a);
        } else {
            log_info("signal %d: stopping", (int)si.ssi_signo);
            stop = true;
        }
    }
    return stop;
}

/* Returns 0 on SIGTERM/SIGINT, -1 if the loop itself failed. */
static int run(struct agent *a, int sigfd) {
    const struct sources all = {timed, sizeof timed / sizeof *timed, io,
                                sizeof io / sizeof *io, sigfd};
    struct timespec turn;
    clock_gettime(CLOCK_MONOTONIC, &turn);
    for (;;) {
        run_timed(a, &all);
        if (a->loop_failed)
            return -1;
        metrics_observe(&a->loop_seconds, seconds_since(&turn));
        bool failed;
        bool stop = wait_turn(a, &all, UINT64_MAX, &failed);
        clock_gettime(CLOCK_MONOTONIC, &turn);
        if (failed)
            return -1;
        if (stop)
            return 0;
    }
}

/* Graceful stop: gossip's "left" goes out piggybacked on a few rounds, as
 * memberlist's Leave does, the loop turning for the cluster alone. */
#define LEAVE_MS 500u

static const struct timed_source leaving[] = {{cluster_run, cluster_deadline}};

static void leave(struct agent *a) {
    const struct sources cluster = {leaving, 1, NULL, 0, -1};
    if (cluster_leave(a) != 0)
        return;
    uint64_t until = agent_clock_ms() + LEAVE_MS;
    bool failed = false;
    while (!failed && agent_clock_ms() < until) {
        wait_turn(a, &cluster, until, &failed);
        run_timed(a, &cluster);
    }
    log_info("left the cluster");
}

static void usage(FILE *out) {
    fprintf(out, "usage: nodectl agent [-c FILE] [--check]\n"
                 "  -c, --config FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                 "  --check            validate the configuration and exit\n");
}

/* The [control] section. The default group is the package's, which a host
 * without the package may lack: the socket then stays root's. */
static struct control_access control_access_of(const struct config *cfg) {
    return (struct control_access){
        .group = cfg->control_group,
        .group_optional = strcmp(cfg->control_group, CONFIG_DEFAULT_CONTROL_GROUP) == 0,
        .admin_group = cfg->control_admin_group};
}

/* A group named in [control] that does not exist is a configuration error
 * (but for the default group, control_access_of). */
static int check_group(const struct config *cfg, const char *key, const char *name) {
    gid_t gid;
    char why[256];
    if (control_group_id(name, &gid, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "nodectl agent: bad configuration: %s: key '%s' in [control]: %s\n",
            cfg->path, key, why);
    return -1;
}

/* Every check that needs no I/O beyond reading the file (and the group
 * database). */
static int check_config(const struct config *cfg) {
    struct gossip_config g;
    const char *bad = cluster_gossip_config(cfg, &g);
    if (bad) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: [gossip] %s\n", cfg->path, bad);
        return -1;
    }
    if (cfg->wake_broadcast[0] && !wol_target_valid(cfg->wake_broadcast)) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: key 'wake_broadcast' in [power]: "
                        "expected a.b.c.d or a.b.c.d:port, got '%s'\n", cfg->path,
                cfg->wake_broadcast);
        return -1;
    }
    if (cfg->ipmi_address[0] && !ipmi_address_valid(cfg->ipmi_address)) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: key 'ipmi_address' in [power]: "
                        "expected host or host:port (letters, digits, '.', '-'; port 1 to "
                        "65535), got '%s'\n", cfg->path, cfg->ipmi_address);
        return -1;
    }
    /* Both credentials or neither; the password file is read by ipmitool
     * when a power-on runs, so a missing one is told now, not at the first
     * wake. Its contents are never read here. */
    if (!cfg->ipmi_user[0] != !cfg->ipmi_password_file[0]) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: key '%s' in [power]: needed "
                        "with '%s'\n", cfg->path,
                cfg->ipmi_user[0] ? "ipmi_password_file" : "ipmi_user",
                cfg->ipmi_user[0] ? "ipmi_user" : "ipmi_password_file");
        return -1;
    }
    if (cfg->ipmi_password_file[0] && access(cfg->ipmi_password_file, R_OK) != 0) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: key 'ipmi_password_file' in "
                        "[power]: cannot read %s: %s\n", cfg->path, cfg->ipmi_password_file,
                strerror(errno));
        return -1;
    }
    /* Petted only while the run lease outlasts the watchdog's timeout
     * (agent_ha.c): a lease renewed every T/6 keeps at least about 2T/3,
     * so a timeout above T/2 would reset a healthy machine. */
    if (cfg->ha_watchdog[0] && cfg->ha_watchdog_timeout_ms > cfg->self_fence_timeout_ms / 2) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: key 'watchdog_timeout' in [ha]: "
                        "%u ms is more than half of self_fence_timeout (%u ms)\n", cfg->path,
                cfg->ha_watchdog_timeout_ms, cfg->self_fence_timeout_ms);
        return -1;
    }
    const struct control_access acc = control_access_of(cfg);
    if ((!acc.group_optional && check_group(cfg, "group", acc.group) != 0) ||
        (acc.admin_group[0] && check_group(cfg, "admin_group", acc.admin_group) != 0))
        return -1;
    const char *bad_listen = cfg->http_listen[0] ? http_listen_check(cfg->http_listen) : NULL;
    if (bad_listen) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: key 'listen' in [http]: %s, got "
                        "'%s' (empty: no HTTP server)\n", cfg->path, bad_listen, cfg->http_listen);
        return -1;
    }
    for (size_t i = 0; i < cfg->http_names.n; i++) {
        const char *bad_name = http_name_check(cfg->http_names.item[i]);
        if (bad_name) {
            fprintf(stderr, "nodectl agent: bad configuration: %s: key 'names' in [http]: %s, got "
                            "'%s'\n", cfg->path, bad_name, cfg->http_names.item[i]);
            return -1;
        }
    }
    struct placement_policy pol;
    if (placement_policy_by_name(cfg->policy, -1, &pol) != 0) {
        fprintf(stderr, "nodectl agent: bad configuration: %s: [leader] policy '%s' is unknown; "
                        "known: %s\n", cfg->path, cfg->policy, placement_policy_names());
        return -1;
    }
    return 0;
}

int agent_main(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = CONFIG_DEFAULT_PATH;
    int check = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'k': check = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nodectl agent: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    struct agent *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "nodectl agent: out of memory\n");
        return 1;
    }
    struct config_error cerr;
    int rc = 0;
    if (config_load(path, &a->cfg, &cerr) != 0) {
        fprintf(stderr, "nodectl agent: bad configuration: %s\n", cerr.text);
        rc = 2;
    } else if (check_config(&a->cfg) != 0) {
        rc = 2;
    } else if (check) {
        printf("%s: configuration OK\n", path);
    }
    if (rc || check) {
        free(a);
        return rc;
    }
    log_set_level(a->cfg.log_level);
    log_set_format(a->cfg.log_format);
    metrics_histogram_init(&a->loop_seconds, loop_bounds, sizeof loop_bounds / sizeof *loop_bounds);
    /* Before any file it writes is named (the stamp clock's first). */
    if (!(a->writer = file_writer_start())) {
        log_err("cannot start the thread that writes the state files");
        free(a);
        return 1;
    }
    agent_history_init(a);
    agent_stamp_open(a);
    raise_fd_limit();
    const struct control_access access = control_access_of(&a->cfg);
    char err[512];
    int sigfd = -1;
    bool usage_error = false;
    /* Before the first record: the migrations that failed before a restart
     * are reported in it again. */
    agent_actions_restore(a);
    if (identity_load_or_create(a->cfg.state_dir, a->id, err, sizeof err) != 0) {
        log_err("identity: %s", err);
        rc = 1;
    } else if (agent_ha_open(a, err, sizeof err) != 0) {
        /* Before libvirt is even asked (the state directory exists now):
         * no protected guest starts here until this agent has reconciled
         * with the cluster. */
        log_err("ha: %s", err);
        rc = 1;
    } else if ((sigfd = signal_fd()) < 0) {
        log_err("signals: %s", strerror(errno));
        rc = 1;
    } else if (!(a->hv = hv_new(a->cfg.hypervisor_uri))) {
        log_err("hypervisor: cannot start libvirt's event loop");
        rc = 1;
    } else if (hv_sample_request(a->hv) != 0) {
        log_err("hypervisor: cannot start the sampling thread");
        rc = 1;
    } else if (!(a->ctl = control_server_open(a->cfg.control_socket, &access, err, sizeof err))) {
        log_err("control socket: %s", err);
        rc = 1;
    } else if (cluster_open(a, err, sizeof err, &usage_error) != 0) {
        log_err("cluster: %s", err);
        rc = usage_error ? 2 : 1;
    } else if (leadership_open(a, err, sizeof err) != 0) {
        log_err("election: %s", err);
        rc = 1;
    } else if (agent_actions_open(a, err, sizeof err) != 0) {
        log_err("commands: %s", err);
        rc = 1;
    } else if (agent_drain_load(a, err, sizeof err) != 0) {
        log_err("drain: %s", err);
        rc = 1;
    } else if (agent_leader_open(a, err, sizeof err) != 0) {
        log_err("leader: %s", err);
        rc = 2;
    } else if (agent_fence_open(a, err, sizeof err) != 0) {
        log_err("run lease: %s", err);
        rc = 1;
    } else if (agent_hadefs_open(a, err, sizeof err) != 0) {
        log_err("definitions: %s", err);
        rc = 1;
    }
    /* Metrics and the dashboard are not the agent's job: a port taken
     * costs them, not the host's place in the cluster. */
    if (rc == 0 && agent_http_open(a, err, sizeof err) != 0)
        log_warn("http: [http] listen: %s; no metrics or dashboard on this host", err);
    if (rc == 0) {
        agent_power_open(a);
        agent_gate_settle(a);
    }
    /* The first record carries a real sample, as long as libvirt answers
     * soon; otherwise it says "not sampled yet" until one comes. */
    if (rc == 0 && !hv_sample_wait(a->hv, FIRST_SAMPLE_WAIT_MS))
        log_warn("hypervisor %s: no sample within %u ms; starting without one",
                 a->cfg.hypervisor_uri, FIRST_SAMPLE_WAIT_MS);
    if (rc == 0) {
        char id_text[37];
        uuid_unparse_lower(a->id, id_text);
        log_info("nodectl %s agent: node %s (%s), cluster %s, hypervisor %s, control socket %s",
                 NODECTL_VERSION, a->cfg.node_name, id_text, a->cfg.cluster_name,
                 a->cfg.hypervisor_uri, a->cfg.control_socket);
        rc = run(a, sigfd) == 0 ? 0 : 1;
        leadership_handover(a);
        /* Stopped by our own power-off: the cluster already knows this
         * host as "off" (with its wake information), not "left". */
        if (!agent_powering_off(a))
            leave(a);
        log_info("stopped");
    }
    agent_http_close(a);
    agent_ha_close(a);
    agent_ha_leader_close(a);
    agent_hadefs_close(a);
    agent_fence_close(a);
    agent_offcheck_close(a);
    agent_leader_close(a);
    agent_actions_close(a);
    leadership_close(a);
    cluster_close(a);
    file_writer_stop(a->writer); /* after the last file handed to it */
    control_server_close(a->ctl);
    hv_free(a->hv);
    if (sigfd >= 0)
        close(sigfd);
    free(a);
    return rc;
}
