/* Powering another host on through its BMC, when the leader
 * asks this host to: `ipmitool ... chassis power on` (src/net/ipmi.c),
 * run without a shell and without blocking the agent's loop. The child's
 * stderr comes back through a pipe, of which the first line is kept: it
 * says why a power-on failed ("Unable to establish IPMI v2 / RMCP+
 * session"). The loop reaps the child with waitpid(WNOHANG), as it does
 * the off command (agent_power.c), and the outcome goes into this host's
 * record as a "wake" action, where the leader follows it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_internal.h"
#include "common/log.h"
#include "net/ipmi.h"

/* ipmitool retries an unanswered request a few times, about 20 s for an
 * unreachable BMC; one still running after this is stuck. */
#define IPMI_TIMEOUT_MS 60000

bool agent_ipmi_can_wake(const struct agent *a) {
    return a->cfg.ipmi_user[0] && a->cfg.ipmi_password_file[0];
}

bool agent_ipmi_busy(const struct agent *a) {
    for (size_t i = 0; i < IPMI_CHILDREN_MAX; i++)
        if (a->power.ipmi[i].pid > 0)
            return true;
    return false;
}

static void fail(struct agent *a, struct action *x, const char *host, const char *why) {
    x->state = ACTION_FAILED;
    x->ended_ms = agent_stamp_ms(a);
    snprintf(x->error, sizeof x->error, "%s", why);
    log_warn("command %s: IPMI power on of %s: %s", x->id, host, why);
}

/* The child: stdin on /dev/null, stdout and stderr into out_fd and err_fd
 * (-1: /dev/null), the signals the agent blocks (for its signalfd)
 * unblocked. The agent has threads (the hypervisor sampler), so only
 * async-signal-safe calls here: no stdio, no strerror. */
static void exec_ipmitool(const struct ipmi_command *c, int out_fd, int err_fd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd >= 0 ? out_fd : null, 1) < 0 ||
        dup2(err_fd >= 0 ? err_fd : null, 2) < 0)
        _exit(126);
    closefrom(3);
    execvp(c->argv[0], c->argv);
    static const char msg[] = "cannot run ipmitool (is it installed and on PATH?)\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(127);
    _exit(127);
}

void agent_ipmi_power_on(struct agent *a, const struct command_wake *w, struct action *x) {
    if (!agent_ipmi_can_wake(a)) {
        fail(a, x, w->host, "no IPMI credentials on this host ([power] ipmi_user, "
                            "ipmi_password_file)");
        return;
    }
    struct ipmi_command c;
    /* The address comes from another host's record: checked again here
     * before it becomes an argument. */
    if (ipmi_power_on_command(&c, w->ipmi_address, a->cfg.ipmi_user, a->cfg.ipmi_password_file,
                              a->cfg.ipmi_cipher_suite) != 0) {
        fail(a, x, w->host, "the BMC address is not a valid host[:port]");
        return;
    }
    struct ipmi_child *ch = NULL;
    for (size_t i = 0; i < IPMI_CHILDREN_MAX && !ch; i++)
        if (a->power.ipmi[i].pid == 0)
            ch = &a->power.ipmi[i];
    if (!ch) {
        fail(a, x, w->host, "too many IPMI commands running on this host");
        return;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        char why[128];
        snprintf(why, sizeof why, "cannot make a pipe for ipmitool: %s", strerror(errno));
        fail(a, x, w->host, why);
        return;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_ipmitool(&c, -1, fds[1]);
    close(fds[1]);
    if (pid < 0) {
        char why[128];
        snprintf(why, sizeof why, "cannot start ipmitool: %s", strerror(errno));
        close(fds[0]);
        fail(a, x, w->host, why);
        return;
    }
    memset(ch, 0, sizeof *ch);
    ch->pid = pid;
    ch->err_fd = fds[0];
    ch->started_ms = agent_clock_ms();
    snprintf(ch->action, sizeof ch->action, "%s", x->id);
    snprintf(ch->host, sizeof ch->host, "%s", w->host);
    x->state = ACTION_RUNNING;
    log_info("command %s: IPMI power on of %s through its BMC %s (ipmitool pid %d)", x->id,
             w->host, w->ipmi_address, (int)pid);
}

pid_t agent_ipmi_status_start(const struct agent *a, const char *bmc, int *out_fd) {
    struct ipmi_command c;
    int fds[2];
    if (!agent_ipmi_can_wake(a) ||
        ipmi_power_status_command(&c, bmc, a->cfg.ipmi_user, a->cfg.ipmi_password_file,
                                  a->cfg.ipmi_cipher_suite) != 0 ||
        pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_ipmitool(&c, fds[1], -1);
    close(fds[1]);
    if (pid < 0)
        close(fds[0]);
    else
        *out_fd = fds[0];
    return pid;
}

/* Keeps the first line of what the child wrote to stderr; reads the rest
 * only to keep the pipe from filling. */
static void drain(struct ipmi_child *ch) {
    char buf[512];
    ssize_t n;
    while ((n = read(ch->err_fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n && !ch->err_line_done; i++) {
            if (buf[i] == '\n') {
                ch->err_line_done = ch->err_len > 0;
                continue;
            }
            if (ch->err_len + 1 < sizeof ch->err)
                ch->err[ch->err_len++] = buf[i] >= ' ' && buf[i] != 0x7f ? buf[i] : '?';
        }
    }
}

static struct action *action_named(struct agent *a, const char *id) {
    for (size_t i = 0; i < ACTIONS_MAX; i++)
        if (a->actions[i].used && strcmp(a->actions[i].id, id) == 0)
            return &a->actions[i];
    return NULL;
}

static void finish(struct agent *a, struct ipmi_child *ch, int status) {
    drain(ch);
    close(ch->err_fd);
    struct action *x = action_named(a, ch->action);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    char why[HV_REASON_MAX];
    if (ok)
        why[0] = '\0';
    else if (WIFEXITED(status))
        snprintf(why, sizeof why, "ipmitool exited with status %d: %.200s", WEXITSTATUS(status),
                 ch->err_len ? ch->err : "(no message)");
    else if (ch->killed)
        snprintf(why, sizeof why, "ipmitool did not finish within %d s", IPMI_TIMEOUT_MS / 1000);
    else
        snprintf(why, sizeof why, "ipmitool died of signal %d", WTERMSIG(status));
    if (x && ok) {
        x->state = ACTION_SUCCEEDED;
        x->progress = 1;
        x->ended_ms = agent_stamp_ms(a);
        log_info("command %s: %s powered on through its BMC", x->id, ch->host);
    } else if (x) {
        fail(a, x, ch->host, why);
    }
    ch->pid = 0;
}

void agent_ipmi_run(struct agent *a, uint64_t now) {
    bool changed = false;
    for (size_t i = 0; i < IPMI_CHILDREN_MAX; i++) {
        struct ipmi_child *ch = &a->power.ipmi[i];
        if (ch->pid <= 0)
            continue;
        drain(ch);
        int status;
        pid_t r = waitpid(ch->pid, &status, WNOHANG);
        if (r == ch->pid) {
            finish(a, ch, status);
            changed = true;
        } else if (!ch->killed && now >= ch->started_ms + IPMI_TIMEOUT_MS) {
            ch->killed = true;
            kill(ch->pid, SIGKILL);
        }
    }
    /* The leader follows the outcome in this host's record. */
    if (changed)
        cluster_publish(a, now);
}
