#include "agent.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "common/config.h"
#include "common/identity.h"
#include "common/log.h"
#include "host_record.h"
#include "hv/hv.h"
#include "net/control.h"

struct agent {
    struct config cfg;
    uuid_t id;
    struct hv *hv;
    const struct hv_sample *sample;
    struct control_server *ctl;
    uint64_t next_sample_ms;
};

static uint64_t clock_ms(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static Nodectl__HostRecord *self_record(struct agent *a) {
    /* The agent runs on the host it reports, so its own load is the host's. */
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        log_debug("getloadavg failed; load reported as 0");
    return host_record_build(&a->cfg, a->id, hv_uri(a->hv), a->sample, load,
                             clock_ms(CLOCK_REALTIME));
}

static Nodectl__Response *status_reply(struct agent *a) {
    Nodectl__Response *resp = calloc(1, sizeof *resp);
    Nodectl__StatusReply *st = calloc(1, sizeof *st);
    Nodectl__Member **members = calloc(1, sizeof *members);
    Nodectl__Member *self = calloc(1, sizeof *self);
    if (!resp || !st || !members || !self) {
        free(resp), free(st), free(members), free(self);
        return NULL;
    }
    nodectl__response__init(resp);
    nodectl__status_reply__init(st);
    nodectl__member__init(self);
    resp->body_case = NODECTL__RESPONSE__BODY_STATUS;
    resp->status = st;
    st->members = members;
    st->members[st->n_members++] = self;
    /* Membership comes with gossip (issue [2]) and leadership with the
     * election (issue [3]); until then the cluster this agent knows is
     * itself, and there is no leader. */
    self->state = strdup("alive");
    self->role = strdup(a->cfg.candidate ? "candidate" : "member");
    self->host = self_record(a);
    st->cluster = strdup(a->cfg.cluster_name);
    st->node = strdup(a->cfg.node_name);
    st->node_id.data = malloc(16);
    if (!self->state || !self->role || !self->host || !st->cluster || !st->node ||
        !st->node_id.data) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    memcpy(st->node_id.data, a->id, 16);
    st->node_id.len = 16;
    return resp;
}

static Nodectl__Response *vms_reply(struct agent *a) {
    Nodectl__Response *resp = calloc(1, sizeof *resp);
    Nodectl__VmsReply *vms = calloc(1, sizeof *vms);
    Nodectl__HostRecord **hosts = calloc(1, sizeof *hosts);
    if (!resp || !vms || !hosts) {
        free(resp), free(vms), free(hosts);
        return NULL;
    }
    nodectl__response__init(resp);
    nodectl__vms_reply__init(vms);
    resp->body_case = NODECTL__RESPONSE__BODY_VMS;
    resp->vms = vms;
    vms->hosts = hosts;
    if (!(vms->hosts[0] = self_record(a))) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    vms->n_hosts = 1;
    return resp;
}

static Nodectl__Response *handle(void *ctx, const Nodectl__Request *req) {
    struct agent *a = ctx;
    switch (req->body_case) {
    case NODECTL__REQUEST__BODY_STATUS: return status_reply(a);
    case NODECTL__REQUEST__BODY_VMS: return vms_reply(a);
    default: break;
    }
    return control_error_response(NODECTL__ERROR_CODE__ERROR_UNKNOWN_REQUEST,
                                  "unknown request type");
}

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
    a->cfg.sample_interval_ms = fresh.sample_interval_ms;
    a->next_sample_ms = clock_ms(CLOCK_MONOTONIC);
    if (strcmp(fresh.hypervisor_uri, a->cfg.hypervisor_uri) != 0 ||
        strcmp(fresh.control_socket, a->cfg.control_socket) != 0 ||
        strcmp(fresh.state_dir, a->cfg.state_dir) != 0 ||
        strcmp(fresh.node_name, a->cfg.node_name) != 0 || fresh.port != a->cfg.port ||
        strcmp(fresh.bind_address, a->cfg.bind_address) != 0)
        log_warn("reload: node name, address, state directory, control socket and hypervisor "
                 "URI take effect at the next restart");
    log_info("configuration reloaded from %s (log_level, sample_interval)", a->cfg.path);
}

static int signal_fd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Returns 0 on SIGTERM/SIGINT, -1 if the loop itself failed. */
static int run(struct agent *a, int sigfd) {
    for (;;) {
        uint64_t now = clock_ms(CLOCK_MONOTONIC);
        if (now >= a->next_sample_ms) {
            a->sample = hv_sample(a->hv, now);
            a->next_sample_ms = now + a->cfg.sample_interval_ms;
        }
        struct pollfd fds[3] = {{.fd = sigfd, .events = POLLIN},
                                {.fd = control_server_fd(a->ctl), .events = POLLIN},
                                {.fd = hv_event_fd(a->hv), .events = POLLIN}};
        int timeout = (int)(a->next_sample_ms - now);
        if (poll(fds, 3, timeout) < 0 && errno != EINTR) {
            log_err("poll: %s", strerror(errno));
            return -1;
        }
        if (fds[1].revents & POLLIN)
            control_server_serve(a->ctl, handle, a);
        /* A domain started, stopped or moved: show it now, not at the next
         * sample. */
        if ((fds[2].revents & POLLIN) && hv_events_take(a->hv))
            a->next_sample_ms = clock_ms(CLOCK_MONOTONIC);
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGHUP) {
                reload(a);
            } else {
                log_info("signal %d: stopping", (int)si.ssi_signo);
                return 0;
            }
        }
    }
}

static void usage(FILE *out) {
    fprintf(out, "usage: nodectl agent [-c FILE] [--check]\n"
                 "  -c, --config FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                 "  --check            validate the configuration and exit\n");
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
    struct agent a = {0};
    struct config_error cerr;
    if (config_load(path, &a.cfg, &cerr) != 0) {
        fprintf(stderr, "nodectl agent: bad configuration: %s\n", cerr.text);
        return 2;
    }
    if (check) {
        printf("%s: configuration OK\n", path);
        return 0;
    }
    log_set_level(a.cfg.log_level);
    char err[512];
    if (identity_load_or_create(a.cfg.state_dir, a.id, err, sizeof err) != 0) {
        log_err("identity: %s", err);
        return 1;
    }
    int sigfd = signal_fd();
    if (sigfd < 0) {
        log_err("signals: %s", strerror(errno));
        return 1;
    }
    a.hv = hv_new(a.cfg.hypervisor_uri);
    a.ctl = control_server_open(a.cfg.control_socket, err, sizeof err);
    if (!a.hv || !a.ctl) {
        log_err("control socket: %s", a.ctl ? "out of memory" : err);
        hv_free(a.hv);
        control_server_close(a.ctl);
        close(sigfd);
        return 1;
    }
    char id_text[37];
    uuid_unparse_lower(a.id, id_text);
    log_info("nodectl %s agent: node %s (%s), cluster %s, hypervisor %s, control socket %s",
             NODECTL_VERSION, a.cfg.node_name, id_text, a.cfg.cluster_name,
             a.cfg.hypervisor_uri, a.cfg.control_socket);
    int rc = run(&a, sigfd);
    control_server_close(a.ctl);
    hv_free(a.hv);
    close(sigfd);
    log_info("stopped");
    return rc == 0 ? 0 : 1;
}
