/* The probes of hosts that announced "off" (src/host/host_offcheck.h says
 * why and what the results mean). Every agent follows the OFF members it
 * sees, from the moment it sees them, so that a new leader knows how long
 * each has been off; only the leader probes: one TCP connect to the host's
 * agent port (non-blocking, polled from the loop) and, for a host with a
 * BMC when this host holds the IPMI credentials, `ipmitool ... chassis
 * power status` (forked, reaped like agent_ipmi.c's). The leader publishes
 * the hosts its probes found on in its record; `nodectl status` on any
 * host shows them failed (agent_offcheck_mark), and the leader's planner
 * treats them as down. */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_internal.h"
#include "common/log.h"
#include "net/ipmi.h"

/* A connect that has no answer by then went to a machine without power
 * (ARP finds nobody, or the SYN is dropped). */
#define TCP_PROBE_MS 3000
/* ipmitool retries an unanswered request for about 20 s. */
#define BMC_PROBE_MS 30000
/* After the grace, how often each probe runs again. */
#define TCP_EVERY_MS 10000
#define BMC_EVERY_MS 30000
/* While a probe runs, the loop looks at it this often. */
#define PROBE_POLL_MS 100
/* Probes at once: sockets for the connects, ipmitool processes (a BMC
 * answers a few sessions at a time). */
#define TCP_PROBES_MAX 32
#define BMC_PROBES_MAX 4

static struct host_off_policy policy(const struct agent *a) {
    return (struct host_off_policy){a->cfg.off_check_after_ms, TCP_EVERY_MS, BMC_EVERY_MS};
}

static bool can_probe_bmc(const struct agent *a, const struct offcheck_host *h) {
    return h->bmc[0] && agent_ipmi_can_wake(a);
}

static void stop_probes(struct offcheck_host *h) {
    if (h->tcp_fd >= 0)
        close(h->tcp_fd);
    h->tcp_fd = -1;
    if (h->bmc_pid > 0) {
        kill(h->bmc_pid, SIGKILL);
        waitpid(h->bmc_pid, NULL, 0);
        close(h->bmc_fd);
    }
    h->bmc_pid = 0;
}

/* The TCP probe: a non-blocking connect to the agent's port. */
static void tcp_start(struct offcheck_host *h, uint64_t now) {
    static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (memcmp(h->addr.ip, v4_prefix, 12) == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(h->addr.port);
        memcpy(&in->sin_addr, h->addr.ip + 12, 4);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(h->addr.port);
        memcpy(&in6->sin6_addr, h->addr.ip, 16);
        len = sizeof *in6;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        host_off_note(&h->watch, HOST_PROBE_TCP, HOST_PROBE_ERROR, now);
        return;
    }
    if (connect(fd, (struct sockaddr *)&ss, len) == 0 || errno == EINPROGRESS) {
        h->tcp_fd = fd;
        h->tcp_started_ms = now;
        return;
    }
    close(fd);
    host_off_note(&h->watch, HOST_PROBE_TCP,
                  errno == ECONNREFUSED                            ? HOST_PROBE_REFUSED
                  : errno == EHOSTUNREACH || errno == ENETUNREACH ? HOST_PROBE_SILENT
                                                                  : HOST_PROBE_ERROR,
                  now);
}

static void tcp_follow(struct offcheck_host *h, uint64_t now) {
    struct pollfd p = {.fd = h->tcp_fd, .events = POLLOUT};
    enum host_probe_result r;
    if (poll(&p, 1, 0) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(h->tcp_fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        r = err == 0                                           ? HOST_PROBE_ANSWERED
            : err == ECONNREFUSED                              ? HOST_PROBE_REFUSED
            : err == EHOSTUNREACH || err == ENETUNREACH ||
                      err == ETIMEDOUT                         ? HOST_PROBE_SILENT
                                                               : HOST_PROBE_ERROR;
    } else if (now >= h->tcp_started_ms + TCP_PROBE_MS) {
        r = HOST_PROBE_SILENT;
    } else {
        return;
    }
    close(h->tcp_fd);
    h->tcp_fd = -1;
    host_off_note(&h->watch, HOST_PROBE_TCP, r, now);
}

static void bmc_start(struct agent *a, struct offcheck_host *h, uint64_t now) {
    pid_t pid = agent_ipmi_status_start(a, h->bmc, &h->bmc_fd);
    if (pid < 0) {
        host_off_note(&h->watch, HOST_PROBE_BMC, HOST_PROBE_ERROR, now);
        return;
    }
    h->bmc_pid = pid;
    h->bmc_started_ms = now;
    h->bmc_len = 0;
    h->bmc_out[0] = '\0';
}

static void bmc_follow(struct offcheck_host *h, uint64_t now) {
    ssize_t n;
    while (h->bmc_len + 1 < sizeof h->bmc_out &&
           (n = read(h->bmc_fd, h->bmc_out + h->bmc_len,
                     sizeof h->bmc_out - 1 - h->bmc_len)) > 0)
        h->bmc_len += (size_t)n;
    h->bmc_out[h->bmc_len] = '\0';
    int status;
    pid_t r = waitpid(h->bmc_pid, &status, WNOHANG);
    if (r != h->bmc_pid) {
        if (now >= h->bmc_started_ms + BMC_PROBE_MS)
            kill(h->bmc_pid, SIGKILL);
        return;
    }
    close(h->bmc_fd);
    h->bmc_pid = 0;
    int on = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ipmi_parse_power_status(h->bmc_out)
                                                           : -1;
    host_off_note(&h->watch, HOST_PROBE_BMC,
                  on == 1 ? HOST_PROBE_BMC_ON : on == 0 ? HOST_PROBE_BMC_OFF : HOST_PROBE_ERROR,
                  now);
}

/* The hosts followed are kept packed at the front of the table, so that
 * every pass of the loop costs what is followed, not the table's size. */
static struct offcheck_host *find(struct agent *a, uint64_t id) {
    for (size_t i = 0; i < a->offcheck_n; i++)
        if (a->offcheck[i].id == id)
            return &a->offcheck[i];
    return NULL;
}

/* Stops following h (its probes stopped): the last entry takes its place. */
static void unfollow(struct agent *a, struct offcheck_host *h) {
    assert(a->offcheck_n > 0 && h >= a->offcheck && h < a->offcheck + a->offcheck_n);
    *h = a->offcheck[--a->offcheck_n];
}

/* Starts following member m, seen OFF at now; NULL if the table is full. */
static struct offcheck_host *follow(struct agent *a, const struct gossip_member_info *m,
                                    uint64_t now) {
    if (a->offcheck_n == OFFCHECK_MAX)
        return NULL;
    struct offcheck_host *h = &a->offcheck[a->offcheck_n++];
    memset(h, 0, sizeof *h);
    h->id = m->id;
    h->addr = m->addr;
    h->tcp_fd = -1;
    snprintf(h->name, sizeof h->name, "%016llx", (unsigned long long)m->id);
    Nodectl__HostRecord *rec = agent_member_record(a, m);
    if (rec) {
        snprintf(h->name, sizeof h->name, "%s", rec->name);
        if (rec->power && rec->power->ipmi_address[0] &&
            ipmi_address_valid(rec->power->ipmi_address))
            snprintf(h->bmc, sizeof h->bmc, "%s", rec->power->ipmi_address);
        protobuf_c_message_free_unpacked(&rec->base, NULL);
    }
    host_off_watch_start(&h->watch, m->incarnation, now);
    return h;
}

/* The verdict now; true if it changed between disproved and not. */
static bool judge(struct offcheck_host *h) {
    char why[sizeof h->reason];
    enum host_off_verdict v = host_off_verdict(&h->watch, why, sizeof why);
    bool changed = (v == HOST_OFF_DISPROVED) != (h->verdict == HOST_OFF_DISPROVED);
    if (changed && v == HOST_OFF_DISPROVED)
        log_warn("host %s: %s; shown failed, not off", h->name, why);
    else if (changed)
        log_info("host %s: %s: off after all", h->name, why);
    h->verdict = v;
    snprintf(h->reason, sizeof h->reason, "%s", why);
    return changed;
}

void agent_offcheck_run(struct agent *a, uint64_t now) {
    const struct gossip *g = a->cluster.gossip;
    bool changed = false;
    /* Who is OFF changes only with a member's state: the members are
     * scanned again only then, not at every turn of the loop. */
    bool rescan = a->cluster.state_changes != a->offcheck_changes_seen;
    a->offcheck_changes_seen = a->cluster.state_changes;
    for (size_t i = 0; rescan && i < a->offcheck_n; i++)
        a->offcheck[i].seen = false;
    size_t count = rescan ? gossip_member_count(g) : 0;
    for (size_t i = 0; i < count; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (m.state != GOSSIP_OFF || m.id == a->cluster.self_id)
            continue;
        struct offcheck_host *h = find(a, m.id);
        if (h && h->watch.incarnation != m.incarnation) {
            /* Off again after a return: a new announcement. */
            changed |= h->verdict == HOST_OFF_DISPROVED;
            stop_probes(h);
            unfollow(a, h);
            h = NULL;
        }
        if (!h && !(h = follow(a, &m, now))) {
            if (!a->offcheck_full_told)
                log_warn("more than %d hosts are off: those beyond are not probed", OFFCHECK_MAX);
            a->offcheck_full_told = true;
            continue;
        }
        h->seen = true;
    }
    int tcp_running = 0, bmc_running = 0;
    for (size_t i = 0; i < a->offcheck_n; i++) {
        tcp_running += a->offcheck[i].tcp_fd >= 0;
        bmc_running += a->offcheck[i].bmc_pid > 0;
    }
    bool leader = leadership_is_leader(a);
    struct host_off_policy pol = policy(a);
    for (size_t i = 0; i < a->offcheck_n;) {
        struct offcheck_host *h = &a->offcheck[i];
        if (!h->seen || !leader) {
            /* Back, or gone: nothing to say. Not leading: the leader
             * probes; the watch stays, with how long it has been off. */
            stop_probes(h);
            changed |= h->verdict == HOST_OFF_DISPROVED;
            h->verdict = HOST_OFF_UNCHECKED;
            if (h->seen) {
                host_off_watch_start(&h->watch, h->watch.incarnation, h->watch.since_ms);
                i++;
            } else {
                unfollow(a, h); /* entry i now holds another: look at it too */
            }
            continue;
        }
        if (h->tcp_fd >= 0) {
            tcp_follow(h, now);
            tcp_running -= h->tcp_fd < 0;
        }
        if (h->bmc_pid > 0) {
            bmc_follow(h, now);
            bmc_running -= h->bmc_pid <= 0;
        }
        unsigned due = host_off_due(&h->watch, &pol, now, can_probe_bmc(a, h));
        if ((due & HOST_PROBE_TCP) && h->tcp_fd < 0 && tcp_running < TCP_PROBES_MAX) {
            tcp_start(h, now);
            tcp_running += h->tcp_fd >= 0;
        }
        if ((due & HOST_PROBE_BMC) && h->bmc_pid <= 0 && bmc_running < BMC_PROBES_MAX) {
            bmc_start(a, h, now);
            bmc_running += h->bmc_pid > 0;
        }
        changed |= judge(h);
        i++;
    }
    if (changed)
        cluster_publish(a, now);
}

uint64_t agent_offcheck_deadline(const struct agent *a) {
    if (!leadership_is_leader(a))
        return UINT64_MAX;
    uint64_t d = UINT64_MAX, now = agent_clock_ms();
    struct host_off_policy pol = policy(a);
    for (size_t i = 0; i < a->offcheck_n; i++) {
        const struct offcheck_host *h = &a->offcheck[i];
        uint64_t t = h->tcp_fd >= 0 || h->bmc_pid > 0
                         ? now + PROBE_POLL_MS
                         : host_off_next_ms(&h->watch, &pol, can_probe_bmc(a, h));
        /* A probe due but held back by the limits waits for a running one. */
        if (t < now + PROBE_POLL_MS)
            t = now + PROBE_POLL_MS;
        if (t < d)
            d = t;
    }
    return d;
}

void agent_offcheck_close(struct agent *a) {
    for (size_t i = 0; i < a->offcheck_n; i++)
        stop_probes(&a->offcheck[i]);
}

bool agent_offcheck_disproved(const struct agent *a, const char *name) {
    for (size_t i = 0; i < a->offcheck_n; i++)
        if (a->offcheck[i].verdict == HOST_OFF_DISPROVED &&
            strcmp(a->offcheck[i].name, name) == 0)
            return true;
    return false;
}

int agent_offcheck_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    size_t n = 0;
    for (size_t i = 0; i < a->offcheck_n; i++)
        n += a->offcheck[i].verdict == HOST_OFF_DISPROVED;
    if (!n)
        return 0;
    if (!(rec->off_checks = calloc(n, sizeof *rec->off_checks)))
        return -1;
    for (size_t i = 0; i < a->offcheck_n; i++) {
        const struct offcheck_host *h = &a->offcheck[i];
        if (h->verdict != HOST_OFF_DISPROVED)
            continue;
        Nodectl__OffCheck *c = malloc(sizeof *c);
        if (!c)
            return -1;
        nodectl__off_check__init(c);
        rec->off_checks[rec->n_off_checks++] = c;
        c->incarnation = h->watch.incarnation;
        if (!(c->host = strdup(h->name)) || !(c->reason = strdup(h->reason)))
            return -1;
    }
    return 0;
}

void agent_offcheck_mark(Nodectl__Member **list, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i]->state, "alive") == 0 || strcmp(list[i]->state, "suspect") == 0)
            count += list[i]->host->n_off_checks;
    if (!count)
        return;
    struct host_off_report *reports = calloc(count, sizeof *reports);
    if (!reports)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const Nodectl__HostRecord *h = list[i]->host;
        if (strcmp(list[i]->state, "alive") != 0 && strcmp(list[i]->state, "suspect") != 0)
            continue;
        for (size_t c = 0; c < h->n_off_checks; c++)
            reports[k++] = (struct host_off_report){h->off_checks[c]->host,
                                                    h->off_checks[c]->incarnation,
                                                    h->off_checks[c]->reason};
    }
    for (size_t i = 0; i < n; i++) {
        Nodectl__Member *m = list[i];
        if (strcmp(m->state, "off") != 0)
            continue;
        const struct host_off_report *r =
            host_off_disproved(reports, k, m->host->name, m->incarnation);
        char *state = r ? strdup("failed") : NULL, *reason = r ? strdup(r->reason) : NULL;
        if (!state || !reason) {
            free(state);
            free(reason);
            continue;
        }
        free(m->state);
        m->state = state;
        if (m->state_reason != protobuf_c_empty_string)
            free(m->state_reason);
        m->state_reason = reason;
    }
    free(reports);
}
