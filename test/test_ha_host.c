/* The return of a fenced host, with real agents on libvirt's test driver
 * (docs/safety.md, "The protected gate"): b comes back with stale definitions of
 * protected VMs. Before its agent has reconciled, the qemu hook refuses to
 * start a protected guest (its XML on stdin, as libvirtd hands it); once b
 * has compared its domains with the cluster it undefines the protected copy
 * that runs on a, keeps what runs nowhere else and every unprotected
 * domain, and its gate lets protected starts in while its agent runs; when
 * that agent dies, they are refused again. */
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
#include <unistd.h>

#include "agent_process.h"
#include "common/atomic_file.h"
#include "test_helpers.h"

static char out[65536], err[8192];
static pid_t agents[2];

#define NS "https://nodectl.example/xmlns/placement/1"

/* A test-driver domain; runstate 5 is shut off. */
static void domain(char *buf, size_t len, const char *name, int id, const char *ha, bool running) {
    size_t n = strlen(buf);
    snprintf(buf + n, len - n,
             "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
             "<name>%s</name><uuid>7b000000-0000-4000-8000-0000000000%02d</uuid>"
             "<memory>524288</memory><currentMemory>524288</currentMemory><vcpu>1</vcpu>"
             "<os><type>hvm</type></os>"
             "<metadata><nodectl:placement xmlns:nodectl='" NS "' pinned='no' ha='%s'/>"
             "</metadata>%s</domain>\n",
             name, id, ha, running ? "" : "<test:runstate>5</test:runstate>");
}

static void write_host(const char *name, bool is_a, char *xml_path) {
    char text[8192] = "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active>"
                      "<nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>"
                      "</cpu><memory>8388608</memory>\n";
    if (is_a) {
        /* p1 comes later, defined and started here by the leader. */
        domain(text, sizeof text, "u1", 4, "no", true);
    } else {
        /* p1 moved to a while b was gone; p2 runs nowhere; u1 is not
         * protected: only the leader or the operator decides for it. */
        domain(text, sizeof text, "p1", 1, "yes", false);
        domain(text, sizeof text, "p2", 2, "yes", false);
        domain(text, sizeof text, "u1", 4, "no", false);
    }
    snprintf(text + strlen(text), sizeof text - strlen(text), "</node>\n");
    char file[64];
    snprintf(file, sizeof file, "host-%s.xml", name);
    test_write_file(test_dir, file, text, xml_path, PATH_MAX);
}

static void write_conf(const char *name, int i, char *path) {
    char text[4096], sub[PATH_MAX + 64], xml[PATH_MAX];
    unsigned base = test_port_base();
    write_host(name, i == 0, xml);
    snprintf(text, sizeof text,
             "[cluster]\nname = ha\ncandidates = a\ninsecure = true\ndiscovery = false\n"
             "seeds = 127.0.0.1:%u\n"
             "[node]\nname = %s\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/%s/state\ncontrol_socket = %s/%s/ctl.sock\n"
             "[hypervisor]\nuri = test://%s\nsample_interval = 300ms\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\n",
             base, name, base + (unsigned)i, test_dir, name, test_dir, name, xml);
    snprintf(sub, sizeof sub, "%s/%s", test_dir, name);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/%s/state", test_dir, name);
    mkdir(sub, 0700);
    snprintf(sub, sizeof sub, "%s/%s", test_dir, name);
    test_write_file(sub, "nodectl.conf", text, path, PATH_MAX);
}

/* libvirt's call at a start: the hook, the domain's XML on stdin. */
static int hook_start(const char *conf, const char *name, const char *ha) {
    char cmd[PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd,
             "printf \"%%s\" \"<domain type='kvm'><name>%s</name><metadata><nodectl:placement "
             "xmlns:nodectl='" NS "' ha='%s'/></metadata></domain>\" | \"$NODECTL\" -c '%s' "
             "hook qemu %s prepare begin -",
             name, ha, conf, name);
    return run_capture(cmd, out, sizeof out, err, sizeof err);
}

static bool gate_says(const char *name, const char *prefix, int timeout_s) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/state/protected", test_dir, name);
    for (int t = 0; t < timeout_s * 10; t++) {
        size_t len;
        char *text = read_small_file(path, 512, &len);
        bool yes = text && strncmp(text, prefix, strlen(prefix)) == 0;
        free(text);
        if (yes)
            return true;
        usleep(100000);
    }
    size_t len;
    char *text = read_small_file(path, 512, &len);
    fprintf(stderr, "the protected gate of %s never began with '%s'; it says: %s\n", name, prefix,
            text ? text : "(cannot read it)");
    free(text);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/%s/agent.log", test_dir, name);
    agent_log_tail(log, 25);
    return false;
}

/* Whether `nodectl vms` (every host's VMs, from the records) shows vm on
 * host, waiting up to timeout_s for the answer `want`. */
static bool vm_on(const char *conf, const char *vm, const char *host, bool want, int timeout_s) {
    bool on = !want;
    for (int t = 0; t < timeout_s * 5 && on != want; t++) {
        if (t)
            usleep(200000);
        if (nodectl_run(conf, "vms", out, sizeof out, err, sizeof err) != 0)
            continue;
        on = false;
        for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            char name[64], where[64];
            if (sscanf(p, "%63s %63s", name, where) == 2 && strcmp(name, vm) == 0 &&
                strcmp(where, host) == 0)
                on = true;
        }
    }
    return on == want;
}

static int stop_agents(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++)
        if (agents[i] > 0) {
            agent_stop(agents[i], SIGTERM, 10000);
            agents[i] = 0;
        }
    return 0;
}

static void returning_host_reconciles_before_protected_starts(void **state) {
    (void)state;
    char conf_a[PATH_MAX], conf_b[PATH_MAX], log_a[PATH_MAX + 16], log_b[PATH_MAX + 16];
    write_conf("a", 0, conf_a);
    write_conf("b", 1, conf_b);
    snprintf(log_a, sizeof log_a, "%s/a/agent.log", test_dir);
    snprintf(log_b, sizeof log_b, "%s/b/agent.log", test_dir);

    /* b is set up, its agent has never run: a protected start is refused,
     * an unprotected one let in. */
    assert_int_equal(hook_start(conf_b, "p1", "yes"), 1);
    assert_non_null(strstr(err, "has not run yet"));
    assert_int_equal(hook_start(conf_b, "u1", "no"), 0);

    agents[0] = agent_start(conf_a, log_a);
    assert_int_equal(agent_wait_ready(agents[0], conf_a, 10000), 0);
    assert_true(gate_says("a", "ready pid=", 15));
    /* The leader (a, the only host) defines and starts p1 on a. */
    char xml[PATH_MAX];
    test_write_file(test_dir, "p1.xml",
                    "<domain type='test'><name>p1</name>"
                    "<uuid>7b000000-0000-4000-8000-000000000001</uuid>"
                    "<memory>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
                    "<metadata><nodectl:placement xmlns:nodectl='" NS "' ha='yes'/>"
                    "</metadata></domain>\n",
                    xml, sizeof xml);
    char args[PATH_MAX + 32];
    snprintf(args, sizeof args, "create %s --start", xml);
    assert_int_equal(nodectl_run(conf_a, args, out, sizeof out, err, sizeof err), 0);
    assert_true(vm_on(conf_a, "p1", "a", true, 10));
    agents[1] = agent_start(conf_b, log_b);
    assert_int_equal(agent_wait_ready(agents[1], conf_b, 10000), 0);
    char ready[64];
    snprintf(ready, sizeof ready, "ready pid=%ld ", (long)agents[1]);
    assert_true(gate_says("b", ready, 15));

    /* p1 runs on a: its stale copy on b is undefined; p2 (kept by the
     * reconcile, then the leader's to restart wherever it chooses) and u1
     * stay. b's agent has not seen p1 run since it started, and p1 may
     * have run on b until then: only a record of a sampled after b's agent
     * started proves p1 runs on a (host_ha_reconcile): b's reconcile
     * undefines p1 if a republished its record since, else keeps it and
     * the ready host's stale pass undefines it once a republishes its
     * record, which does not change: within PUBLISH_EVERY_MS (30 s). */
    assert_true(vm_on(conf_b, "p1", "b", false, 40));
    assert_true(vm_on(conf_b, "u1", "b", true, 5));
    assert_int_equal(count_lines_with(log_b, "VM p1 undefined here (its disks kept): "
                                             "it runs on a (running)"), 1);
    assert_int_equal(count_lines_with(log_b, "2 protected VM(s) kept, 0 undefined") +
                         count_lines_with(log_b, "1 protected VM(s) kept, 1 undefined"),
                     1);
    /* a keeps its own: nothing else runs it. */
    assert_true(vm_on(conf_a, "p1", "a", true, 5));
    assert_int_equal(count_lines_with(log_a, "undefined here"), 0);

    /* Reconciled, its agent running: protected starts are let in. */
    assert_int_equal(hook_start(conf_b, "p2", "yes"), 0);
    /* The agent gone (a crash): refused again, though the gate says ready. */
    assert_int_equal(agent_stop(agents[1], SIGKILL, 10000), 128 + SIGKILL);
    agents[1] = 0;
    assert_int_equal(hook_start(conf_b, "p2", "yes"), 1);
    assert_non_null(strstr(err, "is gone"));
    assert_int_equal(hook_start(conf_b, "u1", "no"), 0);
}

/* Whether `nodectl vms` shows a line for vm that holds `text`, waiting up
 * to timeout_s for it. */
static bool vm_line_has(const char *conf, const char *vm, const char *text, int timeout_s) {
    for (int t = 0; t < timeout_s * 5; t++) {
        if (t)
            usleep(200000);
        if (nodectl_run(conf, "vms", out, sizeof out, err, sizeof err) != 0)
            continue;
        for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            char line[256];
            snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\n"), p);
            if (strncmp(line, vm, strlen(vm)) == 0 && line[strlen(vm)] == ' ' &&
                strstr(line, text))
                return true;
        }
    }
    return false;
}

/* A host whose agent starts with a protected guest running and no run
 * lease to cover it (none kept from before: a new boot, or one that ran
 * out while the agent was down) destroys it at once, with the reason, and
 * leaves the unprotected one alone; once it holds its lease and is ready,
 * the leader restarts the protected one in place; its watchdog (a plain
 * file here) is petted, and disarmed at a clean stop once nothing
 * protected runs (p9 set ha=no). */
static void protected_guest_without_a_run_lease_is_stopped(void **state) {
    (void)state;
    char text[8192] = "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active>"
                      "<nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>"
                      "</cpu><memory>8388608</memory>\n";
    domain(text, sizeof text, "p9", 9, "yes", true);
    domain(text, sizeof text, "u9", 10, "no", true);
    snprintf(text + strlen(text), sizeof text - strlen(text), "</node>\n");
    char xml[PATH_MAX], wd[PATH_MAX], conf[PATH_MAX], sub[PATH_MAX + 16], cfg[4096];
    test_write_file(test_dir, "host-c.xml", text, xml, sizeof xml);
    test_write_file(test_dir, "watchdog", "", wd, sizeof wd);
    unsigned port = test_port_base() + 2;
    snprintf(cfg, sizeof cfg,
             "[cluster]\nname = ha2\ncandidates = c\ninsecure = true\ndiscovery = false\n"
             "[node]\nname = c\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/c/state\ncontrol_socket = %s/c/ctl.sock\n"
             "[hypervisor]\nuri = test://%s\nsample_interval = 300ms\n"
             "[ha]\nwatchdog = %s\nwatchdog_timeout = 5s\n",
             port, test_dir, test_dir, xml, wd);
    snprintf(sub, sizeof sub, "%s/c", test_dir);
    mkdir(sub, 0755);
    test_write_file(sub, "nodectl.conf", cfg, conf, sizeof conf);
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/c/agent.log", test_dir);
    agents[0] = agent_start(conf, log);
    assert_int_equal(agent_wait_ready(agents[0], conf, 10000), 0);
    assert_true(gate_says("c", "ready pid=", 15));
    assert_int_equal(count_lines_with(log, "VM p9 destroyed: no run lease"), 1);
    assert_int_equal(count_lines_with(log, "self-fence: no run lease"), 1);
    assert_int_equal(count_lines_with(log, "destroyed: "), 1);
    /* Then, up, holding its lease and ready, the leader (this host)
     * restarts p9 in place: the only host that has it. */
    for (int t = 0; t < 50 && !count_lines_with(log, "restarting p9 (priority 0) in place on c");
         t++)
        usleep(200000);
    /* (Refused while the lease is not held yet: asked again.) */
    assert_true(count_lines_with(log, "restarting p9 (priority 0) in place on c") >= 1);
    assert_true(vm_line_has(conf, "p9", "running", 10));
    assert_true(vm_line_has(conf, "u9", "running", 1));
    /* Set ha=no, it no longer keeps the watchdog armed at a stop. */
    assert_int_equal(nodectl_run(conf, "vm set p9 ha=no", out, sizeof out, err, sizeof err), 0);
    assert_true(vm_line_has(conf, "p9", " no", 10));
    /* Petted, then disarmed by the magic close at a clean stop. */
    size_t len = 0;
    char *pets = NULL;
    for (int t = 0; t < 30 && len < 3; t++) {
        free(pets);
        usleep(100000);
        pets = read_small_file(wd, 1 << 20, &len);
    }
    assert_true(len >= 3);
    free(pets);
    assert_int_equal(agent_stop(agents[0], SIGTERM, 10000), 0);
    agents[0] = 0;
    pets = read_small_file(wd, 1 << 20, &len);
    assert_non_null(pets);
    assert_true(len >= 1 && pets[len - 1] == 'V');
    free(pets);
    assert_int_equal(count_lines_with(log, "disarmed"), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(returning_host_reconciles_before_protected_starts,
                                  stop_agents),
        cmocka_unit_test_teardown(protected_guest_without_a_run_lease_is_stopped, stop_agents),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
