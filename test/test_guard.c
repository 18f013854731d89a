/* Guards at the resource with real processes (docs/safety.md): libvirt's
 * qemu hook (`nodectl hook qemu`) against the gate files it may meet, a
 * real agent keeping its gate as its drain flag changes, an "off" host
 * found up, and a source refusing a migration its gossip view forbids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_process.h"
#include "common/atomic_file.h"
#include "test_helpers.h"

static char out[65536], err[8192];

static void write_conf(const char *name, char *path) {
    char text[2048], sub[PATH_MAX + 64];
    snprintf(text, sizeof text,
             "[cluster]\nname = guard\ncandidates = %s\ninsecure = true\ndiscovery = false\n"
             "[node]\nname = %s\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/%s/state\ncontrol_socket = %s/%s/ctl.sock\n"
             "[hypervisor]\nuri = test:///default\nsample_interval = 200ms\n",
             name, name, test_port_base(), test_dir, name, test_dir, name);
    snprintf(sub, sizeof sub, "%s/%s", test_dir, name);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/%s/state", test_dir, name);
    mkdir(sub, 0700);
    snprintf(sub, sizeof sub, "%s/%s", test_dir, name);
    test_write_file(sub, "nodectl.conf", text, path, PATH_MAX);
}

static void write_gate(const char *name, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/state/inbound", test_dir, name);
    if (text)
        assert_int_equal(atomic_write_file(path, text, strlen(text), 0644), 0);
    else
        unlink(path);
}

/* libvirt's call: the hook with its four arguments, the XML on stdin. */
static int hook(const char *conf, const char *op, const char *subop) {
    char cmd[PATH_MAX + 256];
    snprintf(cmd, sizeof cmd,
             "printf '<domain><name>vm1</name></domain>' | \"$NODECTL\" -c '%s' hook qemu vm1 "
             "%s %s -", conf, op, subop);
    return run_capture(cmd, out, sizeof out, err, sizeof err);
}

static void hook_follows_the_gate(void **state) {
    char conf[PATH_MAX];
    write_conf("h1", conf);
    /* No gate (no agent ran here yet): everything is let in. */
    write_gate("h1", NULL);
    assert_int_equal(hook(conf, "migrate", "begin"), 0);
    assert_int_equal(hook(conf, "prepare", "begin"), 0);
    write_gate("h1", "open\n");
    assert_int_equal(hook(conf, "migrate", "begin"), 0);
    assert_int_equal(hook(conf, "prepare", "begin"), 0);
    /* Drained: no incoming migration, starts are the operator's. */
    write_gate("h1", "drained: in maintenance\n");
    assert_int_equal(hook(conf, "migrate", "begin"), 1);
    assert_non_null(strstr(err, "nodectl: host h1 refuses the incoming migration of 'vm1': "
                                "drained: in maintenance"));
    /* For "migrate begin" stdout would be taken as the new domain XML. */
    assert_string_equal(out, "");
    assert_int_equal(hook(conf, "prepare", "begin"), 0);
    /* Committed to power off: neither comes in. */
    write_gate("h1", "closed: powering off (command c1, term 4)\n");
    assert_int_equal(hook(conf, "migrate", "begin"), 1);
    assert_non_null(strstr(err, "closed: powering off (command c1, term 4)"));
    assert_int_equal(hook(conf, "prepare", "begin"), 1);
    assert_non_null(strstr(err, "refuses the start of 'vm1'"));
    assert_string_equal(out, "");
    /* Never a call whose failure would kill a running domain, nor one that
     * comes too late to refuse. */
    static const char *calls[][2] = {{"reconnect", "begin"}, {"start", "begin"},
                                     {"started", "begin"},   {"stopped", "end"},
                                     {"release", "end"},     {"attach", "begin"}};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (hook(conf, calls[i][0], calls[i][1]) != 0)
            fail_msg("%s %s refused: %s", calls[i][0], calls[i][1], err);
    /* A gate that is not one refuses, naming the file. */
    write_gate("h1", "shut\n");
    assert_int_equal(hook(conf, "migrate", "begin"), 1);
    assert_non_null(strstr(err, "state/inbound is not 'open'"));
    /* Bad usage is told, not taken for a refusal of a real call. */
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' hook xen vm1 migrate begin - </dev/null",
             conf);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "usage: nodectl [-c FILE] hook qemu"));
}

static int read_gate(const char *name, char *text, size_t len) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/state/inbound", test_dir, name);
    size_t n;
    char *t = read_small_file(path, 512, &n);
    if (!t)
        return -1;
    snprintf(text, len, "%s", t);
    free(t);
    return 0;
}

/* Polls the gate file until it holds want. */
static bool gate_becomes(const char *name, const char *want) {
    char text[512] = "";
    for (int i = 0; i < 100; i++) {
        if (read_gate(name, text, sizeof text) == 0 && strcmp(text, want) == 0)
            return true;
        usleep(100000);
    }
    fprintf(stderr, "gate of %s: '%s', want '%s'\n", name, text, want);
    return false;
}

/* A real agent opens its gate when it starts (whatever a previous run left
 * there), keeps incoming migrations out while drained and lets them in
 * again when undrained. */
static void agent_keeps_the_gate(void **state) {
    char conf[PATH_MAX], log[PATH_MAX];
    write_conf("n1", conf);
    write_gate("n1", "closed: powering off (command old, term 1)\n");
    snprintf(log, sizeof log, "%s/n1/agent.log", test_dir);
    pid_t pid = agent_start(conf, log);
    assert_int_equal(agent_wait_ready(pid, conf, 10000), 0);
    assert_true(gate_becomes("n1", "open\n"));
    assert_int_equal(hook(conf, "migrate", "begin"), 0);
    assert_int_equal(nodectl_run(conf, "drain n1", out, sizeof out, err, sizeof err), 0);
    assert_true(gate_becomes("n1", "drained: in maintenance (nodectl undrain to end it)\n"));
    assert_int_equal(hook(conf, "migrate", "begin"), 1);
    assert_non_null(strstr(err, "refuses the incoming migration of 'vm1': drained"));
    assert_int_equal(hook(conf, "prepare", "begin"), 0);
    /* Restarted while drained: it stays so. */
    assert_int_equal(agent_stop(pid, SIGTERM, 10000), 0);
    pid = agent_start(conf, log);
    assert_int_equal(agent_wait_ready(pid, conf, 10000), 0);
    assert_int_equal(hook(conf, "migrate", "begin"), 1);
    assert_int_equal(nodectl_run(conf, "undrain n1", out, sizeof out, err, sizeof err), 0);
    assert_true(gate_becomes("n1", "open\n"));
    assert_int_equal(hook(conf, "migrate", "begin"), 0);
    assert_int_equal(agent_stop(pid, SIGTERM, 10000), 0);
}

/* The agents of the tests with several agents, stopped by their teardown whatever
 * became of the test (0: none). */
static pid_t agents[4];

static int stop_agents(void **state) {
    (void)state;
    for (int i = 3; i >= 1; i--)
        if (agents[i] > 0) {
            kill(agents[i], SIGCONT);
            agent_stop(agents[i], SIGTERM, 10000);
            agents[i] = 0;
        }
    return 0;
}

/* A two-host cluster on loopback for the off-check: n1 leads and runs
 * host-a.xml's VMs under a synthetic load; n2 is an empty host that takes
 * migrations, can be woken, and whose off command kills its own agent
 * after it announced "off" (the agent dies; the machine, loopback, stays
 * up). */
static void write_off_conf(int i, bool off_command, char *path) {
    char text[2048], sub[PATH_MAX + 64], load[PATH_MAX + 64];
    unsigned base = test_port_base();
    snprintf(load, sizeof load, "%s/offload", test_dir);
    snprintf(text, sizeof text,
             "[cluster]\nname = offcheck\ncandidates = n1\ninsecure = true\ndiscovery = false\n"
             "seeds = 127.0.0.1:%u\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/off%d/state\ncontrol_socket = %s/off%d/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 300ms\n%s%s\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 2\n"
             "[leader]\nautomation = auto\nplan_interval = 500ms\noff_check_after = 2s\n%s",
             base, i, base + (unsigned)i - 1, test_dir, i, test_dir, i,
             i == 1 ? "test://" NODECTL_TEST_DATA "/host-a.xml"
                    : "test://" NODECTL_TEST_DATA "/host-empty.xml",
             i == 1 ? "synthetic_load_file = " : "migration_uri = test:///default",
             i == 1 ? load : "",
             /* n2 can be woken: its magic packets go where nothing listens. */
             i == 1 ? ""
             : off_command
                 ? "[power]\noff_command = kill -KILL $PPID\nwake_mac = 02:00:00:00:00:02\n"
                   "wake_broadcast = 127.0.0.1:9\n"
                 : "[power]\nwake_mac = 02:00:00:00:00:02\nwake_broadcast = 127.0.0.1:9\n");
    snprintf(sub, sizeof sub, "%s/off%d", test_dir, i);
    mkdir(sub, 0755);
    test_write_file(sub, "nodectl.conf", text, path, PATH_MAX);
}

/* The member line of host `name` in `nodectl status`, or "". */
static const char *status_line(const char *status, const char *name, char *line, size_t len) {
    line[0] = '\0';
    for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, strlen(name)) == 0 && p[strlen(name)] == ' ') {
            snprintf(line, len, "%.*s", (int)strcspn(p, "\n"), p);
            break;
        }
    return line;
}

static bool shows(const char *conf, const char *name, const char *what, int timeout_s) {
    char line[1024] = "";
    for (int i = 0; i < timeout_s * 5; i++) {
        if (nodectl_run(conf, "status", out, sizeof out, err, sizeof err) == 0 &&
            strstr(status_line(out, name, line, sizeof line), what))
            return true;
        usleep(200000);
    }
    fprintf(stderr, "status never showed '%s' for %s; last: '%s'\n", what, name, line);
    return false;
}

/* An "off" host whose agent died after announcing it, and whose machine is
 * still up, is shown failed with the reason once the leader's probe finds
 * its port refusing (its BMC would say on), and the leader plans with it
 * down: an overload does not wake it (a leader that counted it off would
 * send it a magic packet); its return ends that. */
static void off_host_that_stays_up_is_shown_failed(void **state) {
    char conf1[PATH_MAX], conf2[PATH_MAX], log[PATH_MAX + 16];
    write_off_conf(1, false, conf1);
    write_off_conf(2, true, conf2);
    snprintf(log, sizeof log, "%s/off1/agent.log", test_dir);
    pid_t *n1 = &agents[1], *n2 = &agents[2];
    *n1 = agent_start(conf1, log);
    assert_int_equal(agent_wait_ready(*n1, conf1, 10000), 0);
    snprintf(log, sizeof log, "%s/off2/agent.log", test_dir);
    *n2 = agent_start(conf2, log);
    assert_int_equal(agent_wait_ready(*n2, conf2, 10000), 0);
    /* The leader powers the empty n2 off; its off command kills its agent. */
    assert_int_equal(agent_wait_exit(*n2, 30000), 128 + SIGKILL);
    *n2 = 0;
    assert_true(shows(conf1, "n2", " off ", 10));
    /* Within the grace (2 s) it is off; then the probe finds it up. */
    assert_true(shows(conf1, "n2", " failed ", 20));
    char line[1024];
    assert_non_null(strstr(status_line(out, "n2", line, sizeof line),
                           "announced off, but its agent's port refuses connections (the "
                           "machine is up, no agent)"));
    assert_int_equal(nodectl_run(conf1, "status --json", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "\"state_reason\": \"announced off, but its agent's port refuses"));
    /* n1 overloaded, n2 the only other host: the leader plans with n2
     * down and does not wake it. */
    char path[PATH_MAX];
    test_write_file(test_dir, "offload", "web-1 100\ndb-1 100\n", path, sizeof path);
    sleep(5);
    assert_int_equal(nodectl_run(conf1, "events", out, sizeof out, err, sizeof err), 0);
    if (strstr(out, "power-on n2"))
        fail_msg("the leader woke n2, which its probes found on");
    test_write_file(test_dir, "offload", "web-1 1\ndb-1 1\n", path, sizeof path);
    /* Back (and no longer to be powered off): alive, nothing failed. */
    write_off_conf(2, false, conf2);
    *n2 = agent_start(conf2, log);
    assert_int_equal(agent_wait_ready(*n2, conf2, 10000), 0);
    assert_true(shows(conf1, "n2", " alive ", 20));
    assert_null(strstr(out, "failed"));
}

/* Three hosts for the source's refusal: n1 leads (automation off: only the
 * operator moves VMs) and is where the operator types; n2 runs the VM
 * "test"; n3 is empty and takes migrations. */
static void write_source_conf(int i, char *path) {
    char text[2048], sub[PATH_MAX + 64];
    unsigned base = test_port_base();
    snprintf(text, sizeof text,
             "[cluster]\nname = source\ncandidates = n1\ninsecure = true\ndiscovery = false\n"
             "seeds = 127.0.0.1:%u\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/src%d/state\ncontrol_socket = %s/src%d/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 300ms\n%s"
             /* n1 and n2 stay "suspect", not dead, for the seconds each is
              * stopped. */
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 20\n"
             "[leader]\nautomation = off\n",
             base, i, base + (unsigned)i - 1, test_dir, i, test_dir, i,
             i == 2 ? "test:///default" : "test://" NODECTL_TEST_DATA "/host-empty.xml",
             i == 3 ? "migration_uri = test:///default\n" : "");
    snprintf(sub, sizeof sub, "%s/src%d", test_dir, i);
    mkdir(sub, 0755);
    test_write_file(sub, "nodectl.conf", text, path, PATH_MAX);
}

/* The source checks the destination in its own gossip view when it acts,
 * after the grant: n3 is drained after the operator's command left n1 and
 * before n2 acts on it, so n2 refuses it (a source that trusted the
 * issuer's view would start the migration). To make "after" certain, n2 is
 * stopped while the command is sent and the drain made, and n1, whose
 * grant n2 needs, is stopped until n2's gossip shows n3 drained. */
static void a_source_refuses_a_migration_to_a_host_drained_since(void **state) {
    char conf[4][PATH_MAX], log[4][PATH_MAX + 16], line[1024];
    pid_t *pid = agents;
    for (int i = 1; i <= 3; i++) {
        write_source_conf(i, conf[i]);
        snprintf(log[i], sizeof log[i], "%s/src%d/agent.log", test_dir, i);
        pid[i] = agent_start(conf[i], log[i]);
        assert_int_equal(agent_wait_ready(pid[i], conf[i], 10000), 0);
    }
    assert_int_equal(nodectl_expect(conf[1], "vms", "test", 30, log[1], out, sizeof out, err,
                                     sizeof err), 0);
    assert_true(shows(conf[2], "n3", " alive ", 20));
    /* Elected: the operator's command carries the leader's term. */
    assert_int_equal(nodectl_expect(conf[1], "status", "leader:  n1", 20, log[1], out,
                                    sizeof out, err, sizeof err), 0);
    kill(pid[2], SIGSTOP);
    assert_int_equal(nodectl_run(conf[1], "migrate test n3", out, sizeof out, err, sizeof err),
                     0);
    assert_int_equal(nodectl_run(conf[3], "drain n3", out, sizeof out, err, sizeof err), 0);
    /* The command is in n2's socket by now; n1 stops, n2 continues and
     * asks n1 for its grant, again every second, for 5 s. */
    usleep(300000);
    kill(pid[1], SIGSTOP);
    kill(pid[2], SIGCONT);
    bool drained = false;
    int reads = 0;
    for (; reads < 40 && !drained; reads++, usleep(100000))
        drained = nodectl_run(conf[2], "status", out, sizeof out, err, sizeof err) == 0 &&
                  strstr(status_line(out, "n3", line, sizeof line), "drained");
    kill(pid[1], SIGCONT);
    print_message("n2 showed n3 drained after %d status reads\n", reads);
    if (!drained) {
        for (int i = 1; i <= 3; i++)
            agent_log_tail(log[i], 30);
        fail_msg("n2 did not show n3 drained within 4 s; its status:\n%s", out);
    }
    const char *needle = "refused: destination 'n3' is drained (in maintenance)";
    for (int t = 0; t < 100 && count_lines_with(log[2], needle) == 0; t++)
        usleep(100000);
    if (count_lines_with(log[2], needle) != 1) {
        agent_log_tail(log[2], 20);
        fail_msg("n2 did not refuse the migration to the drained n3");
    }
    assert_int_equal(count_lines_with(log[2], "migration of test to"), 0);
}

/* Three hosts for the commitment: n1 leads in auto; n2 is empty, starts
 * drained (kept on) and its off command holds it committed for a while
 * before it kills its agent; n3 runs a VM (kept on) and is where the
 * operator types. */
static void write_commit_conf(int i, char *path) {
    char text[2048], sub[PATH_MAX + 64];
    unsigned base = test_port_base();
    snprintf(text, sizeof text,
             "[cluster]\nname = commit\ncandidates = n1\ninsecure = true\ndiscovery = false\n"
             "seeds = 127.0.0.1:%u\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/cm%d/state\ncontrol_socket = %s/cm%d/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 300ms\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 20\n"
             "[leader]\nautomation = auto\nplan_interval = 500ms\n%s",
             base, i, base + (unsigned)i - 1, test_dir, i, test_dir, i,
             i == 3 ? "test:///default" : "test://" NODECTL_TEST_DATA "/host-empty.xml",
             i == 2 ? "[power]\noff_command = sleep 3; kill -KILL $PPID\n" : "");
    snprintf(sub, sizeof sub, "%s/cm%d/state", test_dir, i);
    mkdir(sub, 0700);
    if (i == 2) {
        char drain[PATH_MAX];
        test_write_file(sub, "drain", "1\n", drain, sizeof drain);
    }
    snprintf(sub, sizeof sub, "%s/cm%d", test_dir, i);
    test_write_file(sub, "nodectl.conf", text, path, PATH_MAX);
}

/* A host that commits to power off gives up the commands still waiting
 * for their grant: n3's drain of n2 waits (n3 is stopped and cannot
 * grant it) when n2 is undrained and the leader powers it off; n2 refuses
 * the drain at its commit, and it never runs when n3 continues and
 * grants it. A host that committed only after it had acted on them would
 * run them while it is going off. */
static void a_commitment_to_power_off_refuses_waiting_commands(void **state) {
    char conf[4][PATH_MAX], log[4][PATH_MAX + 16];
    pid_t *pid = agents;
    for (int i = 1; i <= 3; i++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/cm%d", test_dir, i);
        mkdir(dir, 0755);
        write_commit_conf(i, conf[i]);
        snprintf(log[i], sizeof log[i], "%s/cm%d/agent.log", test_dir, i);
        pid[i] = agent_start(conf[i], log[i]);
        assert_int_equal(agent_wait_ready(pid[i], conf[i], 10000), 0);
    }
    assert_true(shows(conf[3], "n2", " alive ", 20));
    assert_int_equal(nodectl_expect(conf[3], "status", "leader:  n1", 20, log[3], out,
                                    sizeof out, err, sizeof err), 0);
    /* n2 stopped, the drain waits in its socket; n3 stopped, its grant
     * cannot come; n2 continues and asks n3 for it, again every second,
     * for 5 s. */
    kill(pid[2], SIGSTOP);
    assert_int_equal(nodectl_run(conf[3], "drain n2", out, sizeof out, err, sizeof err), 0);
    usleep(300000);
    kill(pid[3], SIGSTOP);
    kill(pid[2], SIGCONT);
    assert_int_equal(nodectl_run(conf[2], "undrain n2", out, sizeof out, err, sizeof err), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *needle = ", drain): this host is powering off";
    for (int t = 0; t < 100 && count_lines_with(log[2], "announced 'off'") == 0; t++)
        usleep(100000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("n2 committed %.1f s after its undrain\n",
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    for (int t = 0; t < 20 && count_lines_with(log[2], needle) == 0; t++)
        usleep(100000);
    kill(pid[3], SIGCONT);
    if (count_lines_with(log[2], needle) != 1) {
        agent_log_tail(log[2], 20);
        fail_msg("n2 did not refuse the drain waiting for its grant when it committed");
    }
    assert_int_equal(agent_wait_exit(pid[2], 30000), 128 + SIGKILL);
    pid[2] = 0;
    assert_int_equal(count_lines_with(log[2], "): drain"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hook_follows_the_gate),
        cmocka_unit_test(agent_keeps_the_gate),
        cmocka_unit_test_teardown(off_host_that_stays_up_is_shown_failed, stop_agents),
        cmocka_unit_test_teardown(a_source_refuses_a_migration_to_a_host_drained_since,
                                  stop_agents),
        cmocka_unit_test_teardown(a_commitment_to_power_off_refuses_waiting_commands,
                                  stop_agents),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
