/* The leader's HA round (docs/ha.md), once a second while this host leads:
 * src/leader/ha.c decides which hosts are fenced, which evidence holds and
 * which protected VMs are to be restarted; this file does the I/O: the
 * members from gossip, the BMC power-off and status read back (ipmitool,
 * one host at a time), the host chosen for each restart as nodectl create
 * chooses it, and the define-and-start command, issued under the leader's
 * term and granted once like every command (executor_issue). The events
 * say what was fenced, with which evidence, what was restarted where, and
 * why nothing was. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_internal.h"
#include "command/domain_xml.h"
#include "common/log.h"
#include "net/ipmi.h"

#define HA_ROUND_MS 1000
#define HA_BMC_POLL_MS 100
#define HA_BMC_TIMEOUT_MS 30000
#define HA_ROUND_RESTARTS 16
#define HA_ROUND_HOSTS_MAX 1024

static void event(struct agent *a, const char *text) {
    log_info("%s", text);
    executor_event(a->leader.ex, agent_stamp_ms(a), text);
}

/* The BMC child: `chassis power off` (when off is not NULL), then `chassis
 * power status` with its stdout to the pipe; nothing else is inherited. */
static void bmc_child(const struct ipmi_command *off, const struct ipmi_command *status,
                      int out_fd) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 2);
    }
    if (off) {
        pid_t p = fork();
        if (p == 0) {
            if (null >= 0)
                dup2(null, 1);
            execvp(off->argv[0], off->argv);
            _exit(127);
        }
        int st = 0;
        if (p < 0 || waitpid(p, &st, 0) < 0)
            _exit(126);
    }
    if (dup2(out_fd, 1) < 0)
        _exit(126);
    execvp(status->argv[0], status->argv);
    _exit(127);
}

static void bmc_start(struct agent *a, const char *host, const char *bmc, enum ha_bmc_step step) {
    struct agent_ha_leader *l = &a->ha_lead;
    struct ipmi_command off, status;
    int fds[2];
    char text[256];
    if (ipmi_power_off_command(&off, bmc, a->cfg.ipmi_user, a->cfg.ipmi_password_file,
                               a->cfg.ipmi_cipher_suite) != 0 ||
        ipmi_power_status_command(&status, bmc, a->cfg.ipmi_user, a->cfg.ipmi_password_file,
                                  a->cfg.ipmi_cipher_suite) != 0) {
        snprintf(text, sizeof text, "HA: %.63s's BMC address '%.64s' is not a valid host[:port]",
                 host, bmc);
        event(a, text);
        ha_bmc_result(a->fence.ha, host, HA_BMC_READ_NO_ANSWER, agent_clock_ms());
        return;
    }
    if (pipe2(fds, O_CLOEXEC) != 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        ha_bmc_result(a->fence.ha, host, HA_BMC_READ_NO_ANSWER, agent_clock_ms());
        return;
    }
    pid_t pid = fork();
    if (pid == 0)
        bmc_child(step == HA_BMC_POWER_OFF ? &off : NULL, &status, fds[1]);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        ha_bmc_result(a->fence.ha, host, HA_BMC_READ_NO_ANSWER, agent_clock_ms());
        return;
    }
    l->bmc_pid = pid;
    l->bmc_fd = fds[0];
    l->bmc_len = 0;
    l->bmc_started_ms = agent_clock_ms();
    l->bmc_step = step;
    snprintf(l->bmc_host, sizeof l->bmc_host, "%s", host);
    /* The status reads of the power-wait are not events each. */
    if (step == HA_BMC_POWER_OFF) {
        snprintf(text, sizeof text,
                 "HA: fencing %.63s through its BMC %.64s: power off, then status", host, bmc);
        event(a, text);
    }
}

static void bmc_poll(struct agent *a) {
    struct agent_ha_leader *l = &a->ha_lead;
    if (l->bmc_pid <= 0)
        return;
    ssize_t n;
    while (l->bmc_len + 1 < sizeof l->bmc_out &&
           (n = read(l->bmc_fd, l->bmc_out + l->bmc_len, sizeof l->bmc_out - 1 - l->bmc_len)) > 0)
        l->bmc_len += (size_t)n;
    l->bmc_out[l->bmc_len] = '\0';
    int st;
    pid_t r = waitpid(l->bmc_pid, &st, WNOHANG);
    bool late = agent_clock_ms() > l->bmc_started_ms + HA_BMC_TIMEOUT_MS;
    if (r == 0 && !late)
        return;
    if (r == 0) {
        kill(-l->bmc_pid, SIGKILL);
        kill(l->bmc_pid, SIGKILL);
        waitpid(l->bmc_pid, &st, 0);
    }
    close(l->bmc_fd);
    l->bmc_pid = 0;
    int p = late ? -1 : ipmi_parse_power_status(l->bmc_out);
    enum ha_bmc_read read = p == 0 ? HA_BMC_READ_OFF : p == 1 ? HA_BMC_READ_ON
                                                               : HA_BMC_READ_NO_ANSWER;
    uint64_t now = agent_clock_ms();
    ha_bmc_result(a->fence.ha, l->bmc_host, read, now);
    /* A step, due now or later: the round runs it. */
    char text[256];
    if (read == HA_BMC_READ_OFF) {
        snprintf(text, sizeof text, "HA: %s's BMC confirmed it off: fenced", l->bmc_host);
        event(a, text);
        l->next_ms = now;
    } else if (l->bmc_step == HA_BMC_POWER_OFF || l->bmc_reads++ % 10 == 9) {
        /* Said once per power off, and every tenth read after it. */
        snprintf(text, sizeof text, "HA: %s's BMC %s; its status is read again",
                 l->bmc_host, late ? "did not answer in 30 s" : read == HA_BMC_READ_ON
                                       ? "says it is still on" : "did not answer");
        event(a, text);
    }
    if (l->bmc_step == HA_BMC_POWER_OFF)
        l->bmc_reads = 0;
}

/* The restart in place of r on its host, which is up, not fenced and
 * shows it stopped (ha.c): a define in place, which starts the protected
 * domain defined there, issued and granted like any command. No other
 * host: a start there by someone else would make the VM run twice. */
static bool restart_in_place(struct agent *a, struct leader_snapshot *s,
                             const struct ha_restart *r, char *not, size_t notlen) {
    const Nodectl__HostRecord *host = NULL;
    for (size_t i = 0; i < s->snap.n_hosts && !host; i++)
        if (strcmp(s->host_rec[i]->name, r->from) == 0)
            host = s->host_rec[i];
    if (!host) {
        snprintf(not, notlen, "%.100s (on %.63s): its host is not in the leader's view", r->vm,
                 r->from);
        return false;
    }
    struct command cmd = {.kind = COMMAND_DEFINE};
    snprintf(cmd.define.name, sizeof cmd.define.name, "%.127s", r->vm);
    cmd.define.start = cmd.define.in_place = true;
    bool local = strcmp(host->name, a->cfg.node_name) == 0;
    if (!executor_issue(a->leader.ex, &cmd, host->name, host->address, local, agent_clock_ms())) {
        snprintf(not, notlen, "%.100s (on %.63s): no lease to send the command under", r->vm,
                 r->from);
        return false;
    }
    ha_restart_sent(a->fence.ha, r, host->name, cmd.id, agent_clock_ms());
    char text[512];
    snprintf(text, sizeof text,
             "HA: restarting %.100s (priority %u) in place on %.63s (command %.63s): %.100s",
             r->vm, (unsigned)r->priority, host->name, cmd.id, ha_evidence_name(r->evidence));
    event(a, text);
    return true;
}

/* Issues the restart of r; false when it could not, with `not` saying why. */
static bool restart(struct agent *a, struct leader_snapshot *s, const struct ha_restart *r,
                    char *not, size_t notlen) {
    if (r->in_place)
        return restart_in_place(a, s, r, not, notlen);
    char text[512], why[256];
    const struct definition_put *def = a->hadefs.store ? ha_defs_get(a->hadefs.store, r->vm,
                                                                     r->from)
                                                       : NULL;
    struct domain_spec d;
    if (!def) {
        snprintf(not, notlen,
                 "%.100s (from %.63s): no definition of it was replicated to this leader", r->vm,
                 r->from);
        return false;
    }
    if (domain_xml_parse(def->xml, strlen(def->xml), &d, why, sizeof why) != 0) {
        snprintf(not, notlen, "%.100s (from %.63s): its definition: %.120s", r->vm,
                 r->from, why);
        return false;
    }
    /* Not where the VM is defined already (libvirt would refuse the
     * definition): a host that stopped it keeps its stale copy until its
     * reconciliation sees it run elsewhere. */
    unsigned saved[HA_ROUND_HOSTS_MAX];
    size_t nh = s->snap.n_hosts < HA_ROUND_HOSTS_MAX ? s->snap.n_hosts : HA_ROUND_HOSTS_MAX;
    for (size_t i = 0; i < nh; i++) {
        saved[i] = s->hosts[i].flags;
        for (size_t k = 0; k < s->host_rec[i]->n_vms; k++)
            if (strcmp(s->host_rec[i]->vms[k]->name, r->vm) == 0)
                s->hosts[i].flags |= PLACEMENT_HOST_FAILED;
    }
    int h = agent_create_choose(a, s, &d, why, sizeof why);
    for (size_t i = 0; i < nh; i++)
        s->hosts[i].flags = saved[i];
    const Nodectl__HostRecord *host = h >= 0 ? s->host_rec[h] : NULL;
    if (host && ha_fencing(a->fence.ha, host->name)) {
        snprintf(why, sizeof why, "the only host with room, %.63s, is fenced", host->name);
        host = NULL;
    }
    /* The planner picks a host that is off (standby after a consolidation)
     * only when no running one has room: it is woken for the restart, as
     * nodectl create wakes one (VMware HA takes DPM's standby hosts out of
     * standby the same way), and the define follows once it is alive. */
    bool wake = host && s->snap.hosts[h].power_state == PLACEMENT_HOST_OFF;
    if (!host) {
        snprintf(not, notlen, "%.100s (from %.63s): %.140s", r->vm, r->from, why);
        return false;
    }
    /* The HA state may have started afresh (leading anew) while a create of
     * this VM still waits for its host to wake: ended if its define has
     * not left, else the restart waits for it. */
    if (!executor_create_clear(a->leader.ex, r->vm, agent_stamp_ms(a), why, sizeof why)) {
        snprintf(not, notlen, "%.100s (from %.63s): %.140s", r->vm, r->from, why);
        return false;
    }
    struct command cmd = {.kind = COMMAND_DEFINE};
    snprintf(cmd.define.name, sizeof cmd.define.name, "%.127s", r->vm);
    if (domain_xml_deflate(def->xml, strlen(def->xml), cmd.define.xmlz, &cmd.define.xmlz_len,
                           why, sizeof why) != 0) {
        snprintf(not, notlen, "%.100s (from %.63s): %.140s", r->vm, r->from, why);
        return false;
    }
    cmd.define.start = true;
    bool local = strcmp(host->name, a->cfg.node_name) == 0;
    if (wake && !executor_ha_after_wake(a->leader.ex, &cmd, host->name, agent_clock_ms(),
                                        agent_stamp_ms(a), why, sizeof why)) {
        snprintf(not, notlen, "%.100s (from %.63s): the only host with room, %.63s, is off and "
                 "not woken: %.100s", r->vm, r->from, host->name, why);
        return false;
    }
    if (!wake &&
        !executor_issue(a->leader.ex, &cmd, host->name, host->address, local, agent_clock_ms())) {
        snprintf(not, notlen, "%.100s (from %.63s): no lease to send the command under", r->vm,
                 r->from);
        return false;
    }
    bool kept = wake ? ha_restart_waking(a->fence.ha, r, host->name, cmd.id, agent_clock_ms(),
                                         a->cfg.power_on_timeout_ms)
                     : ha_restart_sent(a->fence.ha, r, host->name, cmd.id, agent_clock_ms());
    if (!kept) {
        /* Not followed, it could be restarted twice: given up at once. */
        executor_revoke(a->leader.ex, cmd.id, agent_stamp_ms(a));
        snprintf(not, notlen, "%.100s (from %.63s): %d restarts are in flight already", r->vm,
                 r->from, HA_RESTARTS_MAX);
        return false;
    }
    /* Should the target die before it replicates the definition itself,
     * the VM can still be restarted from there. */
    ha_defs_seed(a->hadefs.store, def, host->name, agent_clock_ms());
    /* What the snapshot counts on that host, so that the next restart of
     * this round sees it fuller. */
    uint64_t mb = (d.memory_kib + 1023) / 1024;
    s->hosts[h].mem_mb = s->hosts[h].mem_mb > mb ? s->hosts[h].mem_mb - mb : 0;
    snprintf(text, sizeof text,
             "HA: restarting %.100s (priority %u) from %.63s on %.63s%s (command %.63s): %.100s",
             r->vm, (unsigned)r->priority, r->from, host->name,
             wake ? ", which is off: waking it for the restart" : "", cmd.id,
             ha_evidence_name(r->evidence));
    event(a, text);
    return true;
}

/* Whether a and b differ only in their digits. */
static bool same_but_numbers(const char *a, const char *b) {
    for (;;) {
        while (*a >= '0' && *a <= '9')
            a++;
        while (*b >= '0' && *b <= '9')
            b++;
        if (*a != *b)
            return false;
        if (!*a)
            return true;
        a++;
        b++;
    }
}

static void round_(struct agent *a, uint64_t now) {
    struct agent_ha_leader *l = &a->ha_lead;
    struct agent_members mb;
    if (agent_members_collect(a, &mb) != 0)
        return;
    /* A restart waiting for its host to wake whose create ended before its
     * define left (no host could wake it, it did not come back) is over:
     * nothing of it can run, and the VM may go elsewhere now rather than
     * after the wake's bound. */
    const char *id;
    for (size_t i = 0; (id = ha_waking_at(a->fence.ha, i)); i++)
        if (executor_create_unsent(a->leader.ex, id))
            ha_restart_gave_up(a->fence.ha, id, now);
    struct ha_change ch[16];
    size_t n = ha_update(a->fence.ha, mb.m, mb.n, now, ch, 16);
    char text[512];
    for (size_t i = 0; i < n; i++) {
        if (ch[i].kind == HA_EXPIRED) {
            executor_revoke(a->leader.ex, ch[i].id, agent_stamp_ms(a));
            snprintf(text, sizeof text, "HA: the restart of %.100s on %.63s (command %.63s) showed "
                     "nothing in time: revoked; it may be restarted again", ch[i].vm,
                     ch[i].host, ch[i].id);
        } else if (ch[i].kind == HA_LOST) {
            executor_revoke(a->leader.ex, ch[i].id, agent_stamp_ms(a));
            snprintf(text, sizeof text, "HA: %.63s went down before it showed %.100s running "
                     "(command %.63s): revoked; restarted again once %.63s is fenced or back "
                     "without it", ch[i].host, ch[i].vm, ch[i].id, ch[i].host);
        } else {
            snprintf(text, sizeof text, ch[i].kind == HA_FENCED
                         ? "HA: %s is down: fenced (its run lease is renewed no more); its "
                           "protected VMs restart once it is known to run none"
                         : "HA: %s is back with no protected VM running and known fenced: "
                           "released (its run lease is renewed again)", ch[i].host);
        }
        event(a, text);
    }
    char host[COMMAND_NAME_MAX];
    enum ha_bmc_step step;
    if (l->bmc_pid <= 0 && agent_ipmi_can_wake(a) &&
        ha_bmc_due(a->fence.ha, mb.m, mb.n, now, host, sizeof host, &step)) {
        const Nodectl__HostRecord *r = NULL;
        for (size_t i = 0; i < mb.n && !r; i++)
            if (strcmp(mb.m[i].rec->name, host) == 0)
                r = mb.m[i].rec;
        bmc_start(a, host, r->power->ipmi_address, step);
    }
    struct ha_restart rs[HA_ROUND_RESTARTS];
    char why[400], not[400] = "";
    size_t k = ha_restarts(a->fence.ha, mb.m, mb.n, now, rs, HA_ROUND_RESTARTS, why,
                           sizeof why);
    size_t done = 0;
    if (k) {
        struct agent_members smb;
        struct leader_snapshot s;
        if (agent_create_snapshot(a, &smb, &s) == 0) {
            for (size_t i = 0; i < k; i++)
                done += restart(a, &s, &rs[i], not, sizeof not);
            leader_snapshot_free(&s);
            agent_members_free(&smb);
            agent_leader_send(a);
        }
    }
    /* What holds restarts back, said once per change (numbers aside: a
     * countdown is not a change), not every second. */
    if (!why[0] && not[0])
        snprintf(why, sizeof why, "%s", not);
    if (!same_but_numbers(why, l->last_why)) {
        if (why[0]) {
            snprintf(text, sizeof text, "HA: %s: %s", done ? "some restarts wait"
                                                           : "nothing restarted", why);
            event(a, text);
        }
    }
    snprintf(l->last_why, sizeof l->last_why, "%s", why);
    agent_members_free(&mb);
}

void agent_ha_leader_run(struct agent *a, uint64_t now) {
    struct agent_ha_leader *l = &a->ha_lead;
    bmc_poll(a);
    if (now < l->next_ms || !executor_leading(a->leader.ex))
        return;
    l->next_ms = now + HA_ROUND_MS;
    round_(a, now);
}

uint64_t agent_ha_leader_deadline(const struct agent *a) {
    const struct agent_ha_leader *l = &a->ha_lead;
    if (l->bmc_pid > 0)
        return agent_clock_ms() + HA_BMC_POLL_MS;
    return executor_leading(a->leader.ex) ? l->next_ms : UINT64_MAX;
}

void agent_ha_leader_close(struct agent *a) {
    struct agent_ha_leader *l = &a->ha_lead;
    if (l->bmc_pid > 0) {
        int st;
        kill(l->bmc_pid, SIGKILL);
        waitpid(l->bmc_pid, &st, 0);
        close(l->bmc_fd);
        l->bmc_pid = 0;
    }
}

int agent_ha_fenced_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    if (!a->fence.ha || !executor_leading(a->leader.ex))
        return 0;
    size_t n = ha_fenced_count(a->fence.ha);
    if (n > MSG_RECORD_FENCED_MAX)
        n = MSG_RECORD_FENCED_MAX;
    if (!n)
        return 0;
    if (!(rec->ha_fenced = calloc(n, sizeof *rec->ha_fenced)))
        return -1;
    uint64_t now = agent_clock_ms();
    for (size_t i = 0; i < n; i++) {
        enum ha_evidence e;
        const char *host = ha_fenced_at(a->fence.ha, i, now, &e);
        Nodectl__HaFenced *f = malloc(sizeof *f);
        if (!host || !f) {
            free(f);
            return host ? -1 : 0;
        }
        nodectl__ha_fenced__init(f);
        rec->ha_fenced[rec->n_ha_fenced++] = f;
        if (!(f->host = strdup(host)))
            return -1;
        if (ha_evidence_word(e)[0] && !(f->evidence = strdup(ha_evidence_word(e))))
            return -1;
    }
    return 0;
}

static bool alive(const Nodectl__Member *m) {
    return strcmp(m->state, "alive") == 0 || strcmp(m->state, "suspect") == 0;
}

void agent_ha_fenced_mark(Nodectl__Member **list, size_t n) {
    const Nodectl__HostRecord *l = NULL;
    for (size_t i = 0; i < n; i++)
        if (alive(list[i]) && list[i]->host->lease && (!l || list[i]->host->term > l->term))
            l = list[i]->host;
    for (size_t k = 0; l && k < l->n_ha_fenced; k++) {
        const Nodectl__HaFenced *f = l->ha_fenced[k];
        for (size_t i = 0; i < n; i++) {
            if (strcmp(list[i]->host->name, f->host) != 0)
                continue;
            char *w = strdup(f->evidence[0] ? f->evidence : "none");
            if (!w)
                break;
            if (list[i]->fenced != protobuf_c_empty_string)
                free(list[i]->fenced);
            list[i]->fenced = w;
            break;
        }
    }
}

Nodectl__Response *agent_host_fenced_reply(struct agent *a, const Nodectl__HostFencedRequest *req,
                                           char *why, size_t len) {
    struct agent_members mb;
    if (agent_members_collect(a, &mb) != 0) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    const struct executor_member *m = NULL;
    for (size_t i = 0; i < mb.n && !m; i++)
        if (strcmp(mb.m[i].rec->name, req->host) == 0)
            m = &mb.m[i];
    bool known = m != NULL, up = m && m->liveness == LEADER_HOST_UP;
    agent_members_free(&mb);
    if (!known) {
        snprintf(why, len, "no member named '%.63s'", req->host);
        return NULL;
    }
    /* A host that answers is fenced by its own lease, not by hand. */
    if (up && !ha_fencing(a->fence.ha, req->host)) {
        snprintf(why, len, "%.63s is up: the leader does not take it for fenced while it answers",
                 req->host);
        return NULL;
    }
    if (!ha_confirm(a->fence.ha, req->host, agent_clock_ms())) {
        snprintf(why, len, "the leader's table of hosts is full");
        return NULL;
    }
    char text[256];
    snprintf(text, sizeof text, "HA: an operator confirmed %.63s fenced: its protected VMs may "
             "restart", req->host);
    event(a, text);
    a->ha_lead.next_ms = agent_clock_ms();
    Nodectl__HostFencedReply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    nodectl__host_fenced_reply__init(r);
    Nodectl__Response *resp = agent_response(NODECTL__RESPONSE__BODY_HOST_FENCED, r);
    r->leader = strdup(a->cfg.node_name);
    r->host = strdup(req->host);
    if (!resp || !r->leader || !r->host) {
        protobuf_c_message_free_unpacked(resp ? &resp->base : &r->base, NULL);
        snprintf(why, len, "out of memory");
        return NULL;
    }
    return resp;
}
