/* This host's power: how it can be woken, the leader's
 * power-off, and the Wake-on-LAN packets it sends for other hosts.
 *
 * Powering off, in the order VMware DPM and oVirt's power saving use, with
 * the guards of docs/safety.md: the host closes its inbound gate (libvirt's
 * qemu hook then refuses incoming migrations and domain starts) and asks
 * libvirt, at that moment, for every domain and job (a fresh view, never
 * the last sample); it must be empty. Then, if the command's grant still
 * holds, it commits: it tells the cluster it is going "off" (gossip's OFF
 * state, which carries its wake information and is not a failure) and
 * accepts no further command, lets that spread for a second, asks libvirt
 * once more, and runs the configured command detached (systemctl poweroff,
 * or ipmitool through its BMC). If a domain appeared, the command fails, or
 * the host is still running a minute after it succeeded (a suspend that
 * was resumed), the host announces itself alive again and reopens the
 * gate.
 *
 * Waking: the leader asks a live host on the sleeper's network to broadcast
 * the magic packet (a broadcast does not cross routers), or, for a host that
 * declared its BMC, any live host holding the IPMI credentials to power it
 * on through the BMC (agent_ipmi.c); then it watches gossip for the sleeper
 * to come back. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_internal.h"
#include "common/log.h"
#include "host/host_checks.h"
#include "net/wol.h"

/* Time for the OFF announcement to spread before the command may stop us:
 * a few gossip rounds. */
#define OFF_SPREAD_MS 1000
/* A host still running this long after its off command succeeded was not
 * powered off (or was woken from suspend): it is back. */
#define OFF_GRACE_MS 60000
/* How long a fresh view of libvirt may take before the power-off is given
 * up: at the end of a live migration the QEMU driver holds a domain for
 * seconds (hv_sampler.c). */
#define OFF_FRESH_WAIT_MS 30000

static int prefix_len(struct in_addr mask) {
    uint32_t m = ntohl(mask.s_addr);
    int n = 0;
    while (m & 0x80000000u) {
        n++;
        m <<= 1;
    }
    return n;
}

/* The NIC that holds `ip`: its MAC, broadcast address and network. */
static void detect_nic(struct power *p, const char *ip) {
    struct in_addr want;
    struct ifaddrs *list;
    if (inet_pton(AF_INET, ip, &want) != 1 || want.s_addr == htonl(INADDR_ANY) ||
        getifaddrs(&list) != 0)
        return;
    const char *ifname = NULL;
    char mac[18] = "";
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
            ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr != want.s_addr)
            continue;
        ifname = i->ifa_name;
        struct in_addr mask = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
        struct in_addr net = {want.s_addr & mask.s_addr};
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &net, text, sizeof text);
        snprintf(p->network, sizeof p->network, "%s/%d", text, prefix_len(mask));
        /* The directed broadcast of the NIC's network, computed rather than
         * read from ifa_broadaddr: an address added without "brd" has none. */
        if ((i->ifa_flags & IFF_BROADCAST) && !p->wake_broadcast[0]) {
            struct in_addr brd = {want.s_addr | ~mask.s_addr};
            inet_ntop(AF_INET, &brd, text, sizeof text);
            snprintf(p->wake_broadcast, sizeof p->wake_broadcast, "%s:%d", text,
                     WOL_DEFAULT_PORT);
        }
        break;
    }
    for (struct ifaddrs *i = list; ifname && i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_PACKET || strcmp(i->ifa_name, ifname))
            continue;
        const struct sockaddr_ll *ll = (const struct sockaddr_ll *)i->ifa_addr;
        static const uint8_t zero[6];
        if (ll->sll_halen == 6 && memcmp(ll->sll_addr, zero, 6) != 0)
            wol_format_mac(ll->sll_addr, mac);
    }
    if (!p->wake_mac[0])
        snprintf(p->wake_mac, sizeof p->wake_mac, "%s", mac);
    freeifaddrs(list);
}

void agent_power_open(struct agent *a) {
    struct power *p = &a->power;
    memset(p, 0, sizeof *p);
    p->booted_at_ms = agent_stamp_ms(a);
    /* Checked at start (check_config): a MAC and an IPv4 target. */
    snprintf(p->wake_mac, sizeof p->wake_mac, "%s", a->cfg.wake_mac);
    snprintf(p->wake_broadcast, sizeof p->wake_broadcast, "%s", a->cfg.wake_broadcast);
    char ip[TRANSPORT_ADDR_MAX];
    snprintf(ip, sizeof ip, "%s", a->cluster.advertise);
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = '\0';
    detect_nic(p, ip);
    /* Checked at start (check_config): host[:port]. */
    snprintf(p->ipmi_address, sizeof p->ipmi_address, "%s", a->cfg.ipmi_address);
    if (p->ipmi_address[0])
        log_info("wake: IPMI power on through the BMC at %s", p->ipmi_address);
    if (agent_ipmi_can_wake(a))
        log_info("wake: can power other hosts on through their BMCs as IPMI user %s",
                 a->cfg.ipmi_user);
    if (p->wake_mac[0])
        log_info("wake: Wake-on-LAN to %s via %s (network %s)", p->wake_mac,
                 p->wake_broadcast[0] ? p->wake_broadcast : "?", p->network[0] ? p->network : "?");
    else
        log_info("wake: no MAC for %s: no Wake-on-LAN for this host (set [power] wake_mac)",
                 ip);
}

bool agent_power_can_off(const struct agent *a) {
    return a->cfg.off_command[0] && !leadership_is_candidate(a, a->cfg.node_name);
}

int agent_power_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    const struct power *p = &a->power;
    Nodectl__Power *pw = malloc(sizeof *pw);
    if (!pw)
        return -1;
    nodectl__power__init(pw);
    rec->power = pw;
    pw->can_power_off = agent_power_can_off(a);
    pw->booted_at_ms = p->booted_at_ms;
    pw->ipmi_waker = agent_ipmi_can_wake(a);
    if ((p->ipmi_address[0] && !(pw->ipmi_address = strdup(p->ipmi_address))) ||
        (p->wake_mac[0] && !(pw->wake_mac = strdup(p->wake_mac))) ||
        (p->wake_broadcast[0] && !(pw->wake_broadcast = strdup(p->wake_broadcast))) ||
        (p->network[0] && !(pw->network = strdup(p->network))))
        return -1;
    return 0;
}

/* The wake information gossip carries while this host is off: the Power
 * message without the flags, which fits GOSSIP_WAKE_MAX: at most 19 bytes
 * of MAC, 23 of broadcast, 20 of network and 65 of IPMI address (each
 * field's tag and length, then its text; CONFIG_IPMI_ADDRESS_MAX bounds the
 * last). */
static size_t wake_bytes(const struct power *p, uint8_t *out, size_t cap) {
    Nodectl__Power w = NODECTL__POWER__INIT;
    w.wake_mac = (char *)p->wake_mac;
    w.wake_broadcast = (char *)p->wake_broadcast;
    w.network = (char *)p->network;
    w.ipmi_address = (char *)p->ipmi_address;
    size_t n = nodectl__power__get_packed_size(&w);
    if (n > cap)
        return 0;
    return nodectl__power__pack(&w, out);
}

/* Why this host may not begin a power-off, from what it knows without
 * asking libvirt; NULL if it may. */
static const char *off_refusal(const struct agent *a) {
    if (!a->cfg.off_command[0])
        return "no [power] off_command is configured on this host";
    if (leadership_is_candidate(a, a->cfg.node_name))
        return "this host is a leader candidate: it stays on";
    if (a->power.off_phase != OFF_IDLE)
        return "already powering off";
    /* A migration this host was asked for may not have reached libvirt
     * yet, where the fresh view would see its job. */
    for (size_t i = 0; i < ACTIONS_MAX; i++)
        if (a->actions[i].used && a->actions[i].state == ACTION_RUNNING &&
            a->actions[i].kind == COMMAND_MIGRATE)
            return "a migration from this host is running";
    return NULL;
}

static void refuse(struct agent *a, struct action *x, const char *why) {
    x->state = ACTION_REFUSED;
    x->ended_ms = agent_stamp_ms(a);
    snprintf(x->error, sizeof x->error, "%s", why);
    log_warn("command %s refused: power off: %s", x->id, why);
}

static struct action *off_action(struct agent *a) {
    for (size_t i = 0; i < ACTIONS_MAX; i++)
        if (a->actions[i].used && strcmp(a->actions[i].id, a->power.off_action) == 0)
            return &a->actions[i];
    return NULL;
}

/* Asks libvirt for a fresh view for the phase's check; false if the
 * sampling thread cannot run. */
static bool ask_fresh(struct power *p, struct hv *hv, enum off_phase phase, uint64_t now) {
    p->off_token = hv_fresh_request(hv);
    p->off_phase = phase;
    p->off_at_ms = now + OFF_FRESH_WAIT_MS;
    return p->off_token != 0;
}

/* The power-off that has not committed ends: the gate reopens (or stays
 * drained) and the action is refused with why. */
static void not_committed(struct agent *a, struct action *x, const char *why) {
    struct power *p = &a->power;
    p->off_phase = OFF_IDLE;
    p->off_action[0] = '\0';
    agent_gate_settle(a);
    if (x)
        refuse(a, x, why);
    cluster_publish(a, agent_clock_ms());
}

/* The power-off begins (docs/safety.md, "Guards at the resource"): the
 * inbound gate closes first, so that no migration arrives and no domain
 * starts after libvirt has been asked; then the fresh view decides
 * (agent_power_run). Nothing is announced yet: the grant's deadline bounds
 * the commit, which comes once libvirt has answered. */
void agent_power_off(struct agent *a, struct action *x, uint64_t deadline) {
    const char *why = off_refusal(a);
    if (why) {
        refuse(a, x, why);
        return;
    }
    char reason[160], err[HV_REASON_MAX];
    snprintf(reason, sizeof reason, "powering off (command %s, term %llu)", x->id,
             (unsigned long long)x->term);
    if (agent_gate_set(a, HOST_GATE_CLOSED, reason, err, sizeof err) != 0) {
        refuse(a, x, err);
        return;
    }
    struct power *p = &a->power;
    snprintf(p->off_action, sizeof p->off_action, "%s", x->id);
    p->off_deadline_ms = deadline;
    x->state = ACTION_RUNNING;
    if (!ask_fresh(p, a->hv, OFF_CHECKING, agent_clock_ms())) {
        not_committed(a, x, "cannot ask the hypervisor: its thread does not start");
        return;
    }
    log_info("power off: inbound gate closed; asking libvirt what runs here");
}

/* The host commits: it announces "off" with its wake information, and
 * from here refuses every further command; the command runs once the
 * announcement spread and libvirt was asked once more. The commit is when
 * the power-off takes effect, so the grant must still hold then, on a
 * fresh reading of the clock (docs/safety.md): libvirt may have taken up
 * to OFF_FRESH_WAIT_MS to answer. */
static void commit(struct agent *a, struct action *x) {
    struct power *p = &a->power;
    uint8_t wake[GOSSIP_WAKE_MAX];
    size_t n = wake_bytes(p, wake, sizeof wake);
    /* The record with the running action goes out before the OFF state. */
    cluster_publish(a, agent_clock_ms());
    uint64_t now = agent_clock_ms();
    if (!host_guard_may_act(&a->lead.fence, x->term, p->off_deadline_ms, now)) {
        not_committed(a, x, now >= p->off_deadline_ms
                                ? "the grant expired while libvirt was asked"
                                : "a term newer than the command's became known while libvirt "
                                  "was asked");
        return;
    }
    if (gossip_power_off(a->cluster.gossip, (int64_t)now, n ? wake : NULL, n) != 0) {
        x->state = ACTION_FAILED;
        x->ended_ms = agent_stamp_ms(a);
        snprintf(x->error, sizeof x->error, "cannot announce the power-off (out of memory)");
        log_err("command %s: %s", x->id, x->error);
        not_committed(a, NULL, "");
        return;
    }
    /* Committed: no further command is accepted here until it is back. */
    host_guard_set_off(a->guard, true);
    p->off_phase = OFF_SPREADING;
    p->off_at_ms = agent_clock_ms() + OFF_SPREAD_MS;
    log_info("powering off: announced 'off' (wake %s via %s); running '%s' in %d ms",
             p->wake_mac[0] ? p->wake_mac : "none", p->wake_broadcast[0] ? p->wake_broadcast : "-",
             a->cfg.off_command, OFF_SPREAD_MS);
}

/* The power-off did not happen: alive again, with a higher incarnation. */
static void back_on(struct agent *a, const char *why) {
    struct power *p = &a->power;
    struct action *x = off_action(a);
    if (x) {
        x->state = ACTION_FAILED;
        x->ended_ms = agent_stamp_ms(a);
        snprintf(x->error, sizeof x->error, "%s", why);
    }
    p->off_phase = OFF_IDLE;
    p->off_child = 0;
    p->off_action[0] = '\0';
    log_warn("power off did not happen: %s; this host is alive again", why);
    host_guard_set_off(a->guard, false);
    if (gossip_resume(a->cluster.gossip, (int64_t)agent_clock_ms()) != 0)
        log_err("cannot announce this host alive again (out of memory)");
    agent_gate_settle(a);
    cluster_publish(a, agent_clock_ms());
}

/* Runs the off command in its own session, so that stopping the agent
 * (which the command itself may do) does not stop it. */
static pid_t spawn_off_command(const char *command) {
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    closefrom(3);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
}

/* The phase's fresh view, when it is in: whether it refuses (why says
 * so). -1: not in yet. */
static int fresh_verdict(struct agent *a, uint64_t now, char *why, size_t len) {
    struct power *p = &a->power;
    const struct hv_fresh *f = hv_fresh_latest(a->hv);
    if (f->token >= p->off_token)
        return host_power_off_check(f, why, len) != HOST_OK;
    if (now < p->off_at_ms)
        return -1;
    snprintf(why, len, "libvirt did not answer within %d s: cannot tell whether VMs run here",
             OFF_FRESH_WAIT_MS / 1000);
    return 1;
}

/* Starts the off command, the last look at libvirt having found nothing. */
static void run_off_command(struct agent *a, uint64_t now) {
    struct power *p = &a->power;
    pid_t pid = spawn_off_command(a->cfg.off_command);
    if (pid < 0) {
        char why[128];
        snprintf(why, sizeof why, "cannot start the off command: %s", strerror(errno));
        back_on(a, why);
        return;
    }
    p->off_phase = OFF_COMMAND;
    p->off_child = pid;
    p->off_at_ms = now;
    log_info("off command started (pid %d): %s", (int)pid, a->cfg.off_command);
}

/* Reaps the off command; a failure, or a host still up long after it
 * succeeded, brings the host back on. */
static void follow_off_command(struct agent *a, uint64_t now) {
    struct power *p = &a->power;
    if (p->off_child > 0) {
        int status;
        pid_t r = waitpid(p->off_child, &status, WNOHANG);
        if (r == p->off_child) {
            p->off_child = -1; /* finished; the power should go now */
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                char why[128];
                if (WIFEXITED(status))
                    snprintf(why, sizeof why, "the off command exited with status %d",
                             WEXITSTATUS(status));
                else
                    snprintf(why, sizeof why, "the off command died of signal %d",
                             WTERMSIG(status));
                back_on(a, why);
                return;
            }
            log_info("off command finished; waiting for the power to go");
        }
    }
    if (p->off_child && now >= p->off_at_ms + OFF_GRACE_MS)
        back_on(a, "still running a minute after the off command");
}

void agent_power_run(struct agent *a, uint64_t now) {
    struct power *p = &a->power;
    agent_ipmi_run(a, now);
    char why[HV_REASON_MAX];
    int refused;
    switch (p->off_phase) {
    case OFF_IDLE: return;
    case OFF_CHECKING: {
        if ((refused = fresh_verdict(a, now, why, sizeof why)) < 0)
            return;
        struct action *x = off_action(a);
        if (!x || refused)
            not_committed(a, x, why);
        else
            commit(a, x);
        return;
    }
    case OFF_SPREADING:
        if (now >= p->off_at_ms && !ask_fresh(p, a->hv, OFF_FINAL_CHECK, now))
            back_on(a, "cannot ask the hypervisor: its thread does not start");
        return;
    case OFF_FINAL_CHECK:
        /* Asked just now, a second after the first look: a domain that
         * started meanwhile (before the gate closed, or on a host whose
         * libvirtd has not loaded the hook) keeps the host on. */
        if ((refused = fresh_verdict(a, now, why, sizeof why)) < 0)
            return;
        if (refused)
            back_on(a, why);
        else
            run_off_command(a, now);
        return;
    case OFF_COMMAND: follow_off_command(a, now); return;
    }
}

/* How often a running ipmitool is polled: it takes tens of milliseconds
 * against a BMC that answers. */
#define IPMI_POLL_MS 100

static uint64_t off_deadline(const struct power *p) {
    if (p->off_phase == OFF_IDLE)
        return UINT64_MAX;
    /* A fresh view's answer wakes the loop through hv's event fd. */
    if (p->off_phase != OFF_COMMAND)
        return p->off_at_ms;
    /* Poll the child and the grace period once a second. */
    return agent_clock_ms() + 1000;
}

uint64_t agent_power_deadline(const struct agent *a) {
    uint64_t d = off_deadline(&a->power);
    if (agent_ipmi_busy(a) && agent_clock_ms() + IPMI_POLL_MS < d)
        d = agent_clock_ms() + IPMI_POLL_MS;
    return d;
}

bool agent_powering_off(const struct agent *a) { return a->power.off_phase >= OFF_SPREADING; }

void agent_wake(struct agent *a, const struct command_wake *w, struct action *x) {
    if (w->ipmi_address[0]) {
        agent_ipmi_power_on(a, w, x);
        return;
    }
    char err[HV_REASON_MAX];
    x->ended_ms = agent_stamp_ms(a);
    if (wol_send(w->mac, w->broadcast, err, sizeof err) != 0) {
        x->state = ACTION_FAILED;
        snprintf(x->error, sizeof x->error, "%s", err);
        log_warn("command %s: wake %s: %s", x->id, w->host, err);
        return;
    }
    x->state = ACTION_SUCCEEDED;
    x->progress = 1;
    log_info("command %s: sent a Wake-on-LAN magic packet for %s (%s) to %s", x->id, w->host,
             w->mac, w->broadcast);
}

