/* Per-VM placement rules and the cluster policy with real agents (4 on
 * loopback). n1's hypervisor is libvirt's test driver served by a private
 * libvirtd (run as nobody, in this test's directory), so that what libvirt
 * keeps outlives n1's agent, and this test, holding its own connection,
 * can redefine a domain the way an operator would; n2 (the only
 * candidate, so the leader) and n3, n4 are empty test-driver hosts that
 * take migrations, n3 and n4 with an off command. Every host has the same
 * policy: advise, 2 spare hosts, Europe/Berlin, two [schedule] windows and
 * a clock file this test writes.
 *   nodectl vm set, asked on any host, writes the rules into the domain's
 *   metadata on n1, live and persistent; bad arguments exit 2.
 *   The rules survive a restart of n1's agent and a redefinition of the
 *   domain (destroy, undefine, define from the saved XML, start).
 *   The leader's plan honours them: a pinned VM is not moved off a drained
 *   host, two VMs of one group go to two hosts, the spare hosts stay on.
 *   The schedule's window follows the clock file.
 *   A host with another policy is named in a warning of status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "test_helpers.h"

#define N 4
#define NS "https://nodectl.example/xmlns/placement/1"
/* Local times in Europe/Berlin (CET, UTC+1) of the week of 7 December 2026. */
#define MON_2300 1796680800 /* Monday 23:00: the night window */
#define MON_0800 1796626800 /* Monday 08:00: the working-day window */
#define SAT_1200 1797073200 /* Saturday 12:00: no window */
#define SUN_2330 1797201000 /* Sunday 23:30: the night window */

static pid_t pids[N + 1], libvirtd = -1;
static char conf[N + 1][PATH_MAX], sock[PATH_MAX], uri[PATH_MAX + 64], clock_file[PATH_MAX];
static char out[1 << 16], err[4096];
static virConnectPtr conn;

static void quiet(void *opaque, virErrorPtr e) {
    (void)opaque;
    (void)e;
}

/* A private libvirtd, as nobody: a session daemon whose state is in dir. */
static pid_t start_libvirtd(const char *dir) {
    char run[PATH_MAX], log[PATH_MAX];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(log, sizeof log, "%s/libvirtd.log", dir);
    mkdir(dir, 0777);
    mkdir(run, 0777);
    chmod(dir, 0777);
    chmod(run, 0777);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("HOME", dir, 1);
        setenv("XDG_RUNTIME_DIR", run, 1);
        setenv("XDG_CONFIG_HOME", dir, 1);
        setenv("XDG_CACHE_HOME", dir, 1);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(126);
        execlp("libvirtd", "libvirtd", (char *)NULL);
        _exit(127);
    }
    snprintf(sock, sizeof sock, "%s/libvirt/libvirt-sock", run);
    snprintf(uri, sizeof uri, "test+unix:///default?socket=%s", sock);
    /* A daemon's first start on a fresh machine beside a busy suite has
     * taken over 10 s. */
    for (int i = 0; i < 300 && !conn; i++, usleep(100000))
        conn = access(sock, F_OK) == 0 ? virConnectOpen(uri) : NULL;
    if (!conn) {
        int status;
        pid_t gone = waitpid(pid, &status, WNOHANG);
        fprintf(stderr, "test_vm_rules: no connection to the private libvirtd at %s after 30 s "
                        "(%s); its log:\n", uri, gone == pid ? "it exited" : "still running");
        agent_log_tail(log, 20);
    }
    return pid;
}

static void define_vm(const char *name) {
    char xml[512];
    snprintf(xml, sizeof xml,
             "<domain type='test'><name>%s</name><memory unit='MiB'>256</memory>"
             "<vcpu>1</vcpu><os><type>hvm</type></os></domain>",
             name);
    virDomainPtr d = virDomainDefineXML(conn, xml);
    assert_non_null(d);
    assert_int_equal(virDomainCreate(d), 0);
    virDomainFree(d);
}

static void write_clock(long long s) {
    char text[32], path[PATH_MAX];
    snprintf(text, sizeof text, "%lld\n", s);
    test_write_file(test_dir, "clock", text, path, sizeof path);
}

static void start_node(int i, const char *policy) {
    char dir[PATH_MAX], text[6 * PATH_MAX], pki[3 * PATH_MAX], name[8];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    snprintf(name, sizeof name, "n%d", i);
    test_pki_host(test_dir, name, i == 2, pki, sizeof pki);
    unsigned base = test_port_base();
    snprintf(text, sizeof text,
             "[cluster]\nname = rules\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n2\ntimezone = Europe/Berlin\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 300ms\n%s"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 2\n"
             "[leader]\nautomation = advise\nplan_interval = 500ms\nschedule_clock_file = %s\n%s"
             "[schedule]\nmon-fri 07:30-19:00 spread\n22:00-06:00 consolidate\n%s",
             pki, base, i, base + i - 1, dir, dir,
             i == 1 ? uri : "test://" NODECTL_TEST_DATA "/host-empty.xml",
             i == 1 ? "" : "migration_uri = test:///default\n", clock_file, policy,
             i >= 3 ? "[power]\noff_command = exit 3\n" : "");
    pids[i] = agent_start_in(dir, text, conf[i], sizeof conf[i]);
    assert_true(pids[i] > 0);
}

static int cli(int i, const char *args) {
    return nodectl_run(conf[i], args, out, sizeof out, err, sizeof err);
}

static int eventually(int i, const char *args, const char *needle, int timeout_s) {
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
    return nodectl_expect(conf[i], args, needle, timeout_s, log, out, sizeof out, err, sizeof err);
}

static const char *const same_policy = "spare_hosts = 2\n";

static int setup(void **state) {
    if (geteuid() != 0) {
        fprintf(stderr, "test_vm_rules: needs root (a libvirtd run as nobody)\n");
        return -1;
    }
    test_dir_setup(state);
    chmod(test_dir, 0755);
    virSetErrorFunc(NULL, quiet);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/libvirt", test_dir);
    libvirtd = start_libvirtd(dir);
    if (!conn)
        return -1;
    define_vm("db-a");
    define_vm("db-b");
    define_vm("pin-1");
    snprintf(clock_file, sizeof clock_file, "%s/clock", test_dir);
    write_clock(MON_2300);
    test_pki_cluster(test_dir);
    for (int i = 1; i <= N; i++)
        start_node(i, same_policy);
    for (int i = 1; i <= N; i++)
        if (eventually(i, "vms", "pin-1", 20) != 0 || eventually(i, "status", "leader:  n2", 20))
            return -1;
    return 0;
}

static int teardown(void **state) {
    for (int i = 1; i <= N; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    if (conn)
        virConnectClose(conn);
    if (libvirtd > 0) {
        kill(libvirtd, SIGTERM);
        waitpid(libvirtd, NULL, 0);
    }
    return test_dir_teardown(state);
}

/* VM `vm`'s rules as agent i's `vms --json` shows them: "pinned/group",
 * or "" when it lists no such VM. */
static const char *rules_of(int i, const char *vm) {
    static char rules[128];
    rules[0] = '\0';
    if (cli(i, "vms --json") != 0)
        return rules;
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr), *v;
    size_t k;
    json_array_foreach(root, k, v)
        if (strcmp(json_string_value(json_object_get(v, "name")), vm) == 0)
            snprintf(rules, sizeof rules, "%s/%s",
                     json_is_true(json_object_get(v, "pinned")) ? "pinned" : "free",
                     json_string_value(json_object_get(v, "group")));
    json_decref(root);
    return rules;
}

static int rules_everywhere(const char *vm, const char *want, int timeout_s) {
    for (int t = 0; t < timeout_s * 5; t++, usleep(200000)) {
        int ok = 1;
        for (int i = 1; i <= N; i++)
            ok &= strcmp(rules_of(i, vm), want) == 0;
        if (ok)
            return 0;
    }
    fprintf(stderr, "%s: '%s' on n1, not '%s'\n", vm, rules_of(1, vm), want);
    return -1;
}

/* The persistent definition's rules element, as libvirt keeps it. */
static char *config_rules(const char *vm) {
    virDomainPtr d = virDomainLookupByName(conn, vm);
    assert_non_null(d);
    char *xml = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, NS, VIR_DOMAIN_AFFECT_CONFIG);
    virDomainFree(d);
    return xml;
}

static void vm_set_writes_the_domains_metadata_from_any_host(void **state) {
    (void)state;
    /* From another host: a command to n1. */
    assert_int_equal(cli(3, "vm set db-a group=db"), 0);
    assert_string_equal(out, "db-a on n1: pinned=no group=db ha=no ha_priority=0\n");
    assert_int_equal(cli(4, "vm set db-b group=db pinned=no"), 0);
    /* On n1 itself: written at once. */
    assert_int_equal(cli(1, "vm set pin-1 pinned=yes"), 0);
    assert_string_equal(out, "pin-1 on n1: pinned=yes group=(none) ha=no ha_priority=0\n");
    /* Protection, from another host: both keys, then the priority alone. */
    assert_int_equal(cli(2, "vm set pin-1 ha=yes ha_priority=700"), 0);
    assert_string_equal(out, "pin-1 on n1: pinned=yes group=(none) ha=yes ha_priority=700\n");
    assert_int_equal(cli(3, "vm set pin-1 ha_priority=800"), 0);
    assert_string_equal(out, "pin-1 on n1: pinned=yes group=(none) ha=yes ha_priority=800\n");
    assert_int_equal(rules_everywhere("db-a", "free/db", 10), 0);
    assert_int_equal(rules_everywhere("db-b", "free/db", 10), 0);
    assert_int_equal(rules_everywhere("pin-1", "pinned/", 10), 0);
    char *xml = config_rules("db-a");
    assert_non_null(xml);
    assert_non_null(strstr(xml, "group=\"db\""));
    free(xml);
    xml = config_rules("pin-1");
    assert_non_null(xml);
    assert_non_null(strstr(xml, "ha=\"yes\" ha_priority=\"800\""));
    free(xml);
    assert_int_equal(cli(2, "vms"), 0);
    assert_non_null(strstr(out, "PINNED"));
    assert_non_null(strstr(out, "yes/800"));
    /* Unprotected again: the next steps restart n1's agent, and a host
     * stops its protected VMs when it holds no run lease (docs/safety.md,
     * "The protected gate"). */
    assert_int_equal(cli(2, "vm set pin-1 ha=no"), 0);
    assert_string_equal(out, "pin-1 on n1: pinned=yes group=(none) ha=no ha_priority=800\n");
    /* Bad arguments: usage errors, nothing sent. */
    static const char *const bad[] = {"vm set db-a pinned=maybe", "vm set db-a group=a/b",
                                      "vm set db-a", "vm set db-a color=red", "vm db-a",
                                      "vm set db-a group=x group=y", "vm set db-a ha=1",
                                      "vm set db-a ha_priority=1001",
                                      "vm set db-a ha_priority=high"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(cli(2, bad[i]), 2);
        assert_true(strstr(err, "nodectl vm: ") != NULL);
    }
    assert_int_equal(cli(2, "vm set no-such-vm pinned=yes"), 1);
    assert_non_null(strstr(err, "no live host has a VM of that name"));
    /* A group can be left, and joined again. */
    assert_int_equal(cli(2, "vm set db-b group="), 0);
    assert_int_equal(rules_everywhere("db-b", "free/", 10), 0);
    assert_int_equal(cli(2, "vm set db-b group=db"), 0);
    assert_int_equal(rules_everywhere("db-b", "free/db", 10), 0);
}

static void rules_survive_an_agent_restart_and_a_redefinition(void **state) {
    (void)state;
    assert_int_equal(agent_stop(pids[1], SIGTERM, 5000), 0);
    start_node(1, same_policy);
    assert_int_equal(eventually(2, "vms", "pin-1", 20), 0);
    assert_int_equal(rules_everywhere("pin-1", "pinned/", 10), 0);
    assert_int_equal(rules_everywhere("db-a", "free/db", 10), 0);
    /* The operator's redefinition: stopped, undefined, defined again from
     * its saved XML, started. */
    virDomainPtr d = virDomainLookupByName(conn, "pin-1");
    assert_non_null(d);
    char *xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
    assert_non_null(xml);
    assert_int_equal(virDomainDestroy(d), 0);
    assert_int_equal(virDomainUndefine(d), 0);
    virDomainFree(d);
    d = virDomainDefineXML(conn, xml);
    free(xml);
    assert_non_null(d);
    assert_int_equal(virDomainCreate(d), 0);
    virDomainFree(d);
    assert_int_equal(rules_everywhere("pin-1", "pinned/", 10), 0);
}

/* The migrations of the leader's plan, "vm>host" each, in plan order; and
 * how many power-offs it has. */
static int plan_moves(char *moves, size_t len, int *power_offs) {
    if (cli(2, "plan --json") != 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr), *a;
    size_t k, o = 0;
    moves[0] = '\0';
    *power_offs = 0;
    json_array_foreach(json_object_get(root, "actions"), k, a) {
        const char *kind = json_string_value(json_object_get(a, "kind"));
        if (strcmp(kind, "power-off") == 0)
            (*power_offs)++;
        if (strcmp(kind, "migrate") == 0 && o < len)
            o += (size_t)snprintf(moves + o, len - o, "%s>%s ",
                                  json_string_value(json_object_get(a, "vm")),
                                  json_string_value(json_object_get(a, "host")));
    }
    int planned = json_integer_value(json_object_get(root, "planned_at_ms")) > 0;
    json_decref(root);
    return planned ? 0 : -1;
}

static void the_plan_honours_pins_groups_and_spare_hosts(void **state) {
    (void)state;
    char moves[1024];
    int offs = -1;
    /* n2 (a candidate) and one of n3, n4 stay on: 2 spare hosts. */
    assert_int_equal(eventually(2, "plan", "window: 22:00-06:00 consolidate", 20), 0);
    for (int t = 0; t < 50 && (plan_moves(moves, sizeof moves, &offs) != 0 || offs != 1); t++)
        usleep(200000);
    assert_int_equal(offs, 1);
    assert_string_equal(moves, "");
    assert_int_equal(cli(1, "drain n1"), 0);
    /* The evacuation: every VM but the pinned one moves, db-a and db-b to
     * two hosts. */
    bool seen = false;
    for (int t = 0; t < 50 && !seen; t++, usleep(200000))
        seen = plan_moves(moves, sizeof moves, &offs) == 0 && strstr(moves, "db-a>") &&
               strstr(moves, "db-b>");
    if (!seen)
        fail_msg("no plan moves db-a and db-b: '%s'\n%s", moves, out);
    assert_null(strstr(moves, "pin-1"));
    assert_non_null(strstr(moves, "test>"));
    char a[16] = "", b[16] = "";
    sscanf(strstr(moves, "db-a>") + 5, "%15s", a);
    sscanf(strstr(moves, "db-b>") + 5, "%15s", b);
    if (strcmp(a, b) == 0)
        fail_msg("db-a and db-b, of one group, both go to %s: %s", a, moves);
    assert_int_equal(cli(1, "undrain n1"), 0);
}

/* drain --wait on a host whose VMs left are all pinned ends (exit 1),
 * naming them, rather than waiting for a move no leader makes. */
static void drain_wait_names_the_pinned_vms_it_cannot_move(void **state) {
    (void)state;
    static const char *const others[] = {"test", "db-a", "db-b"};
    char args[64];
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "vm set %s pinned=yes", others[i]);
        assert_int_equal(cli(1, args), 0);
    }
    assert_int_equal(rules_everywhere("test", "pinned/", 10), 0);
    assert_int_equal(rules_everywhere("db-a", "pinned/db", 10), 0);
    assert_int_equal(rules_everywhere("db-b", "pinned/db", 10), 0);
    /* Bounded: a drain that waits forever shows as timeout's 124. */
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "timeout 30 \"$NODECTL\" -c '%s' drain n1 --wait", conf[3]);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(out, "n1 is drained"));
    assert_non_null(strstr(err, "n1 stays drained but keeps 4 pinned VMs, which the leader "
                                "never moves: "));
    for (size_t i = 0; i < 3; i++)
        assert_non_null(strstr(err, others[i]));
    assert_non_null(strstr(err, "pin-1"));
    assert_int_equal(cli(1, "undrain n1"), 0);
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "vm set %s pinned=no", others[i]);
        assert_int_equal(cli(1, args), 0);
    }
    assert_int_equal(rules_everywhere("test", "free/", 10), 0);
}

static void the_schedule_follows_the_clock(void **state) {
    (void)state;
    write_clock(MON_0800);
    assert_int_equal(eventually(2, "plan", "window: mon-fri 07:30-19:00 spread (Europe/Berlin, "
                                           "08:00 CET)", 10), 0);
    /* A spread window powers nothing off. */
    char moves[1024];
    int offs = -1;
    assert_int_equal(plan_moves(moves, sizeof moves, &offs), 0);
    assert_int_equal(offs, 0);
    write_clock(SAT_1200);
    assert_int_equal(eventually(2, "plan", "window: consolidate (outside every [schedule] "
                                           "window: Europe/Berlin, 12:00 CET)", 10), 0);
    write_clock(SUN_2330);
    assert_int_equal(eventually(2, "plan", "window: 22:00-06:00 consolidate (Europe/Berlin, "
                                           "23:30 CET)", 10), 0);
}

/* Host i's configuration file replaced by `text` (as an editor saves it),
 * then SIGHUP. */
static void rewrite_and_hup(int i, const char *text) {
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.new", conf[i]);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, conf[i]), 0);
    assert_int_equal(kill(pids[i], SIGHUP), 0);
}

static int log_has(int i, const char *needle, int timeout_s) {
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
    for (int t = 0; t < timeout_s * 5; t++, usleep(200000))
        if (count_lines_with(log, needle) > 0)
            return 0;
    return -1;
}

/* SIGHUP reloads the cluster policy without a restart: a new [schedule]
 * window is in force at the next plan, logged with what changed; a file
 * naming an unknown policy is refused, the running policy kept. */
static void sighup_reloads_the_policy(void **state) {
    (void)state;
    static char orig[8192], text[8192 + 128];
    FILE *f = fopen(conf[2], "r");
    assert_non_null(f);
    orig[fread(orig, 1, sizeof orig - 1, f)] = '\0';
    fclose(f);
    write_clock(SAT_1200);
    assert_int_equal(eventually(2, "plan", "window: consolidate (outside every [schedule] "
                                           "window: Europe/Berlin, 12:00 CET)", 10), 0);
    snprintf(text, sizeof text, "%ssat-sun 10:00-14:00 spread\n", orig);
    rewrite_and_hup(2, text);
    assert_int_equal(eventually(2, "plan", "window: sat-sun 10:00-14:00 spread (Europe/Berlin, "
                                           "12:00 CET)", 10), 0);
    assert_int_equal(log_has(2, "cluster policy reloaded: ", 5), 0);
    assert_int_equal(log_has(2, "schedule: 'mon-fri 07:30-19:00 spread;22:00-06:00 consolidate' "
                                "-> 'mon-fri 07:30-19:00 spread;22:00-06:00 consolidate;"
                                "sat-sun 10:00-14:00 spread'", 1), 0);
    assert_int_equal(eventually(1, "status", "differs from the leader n2's", 20), 0);
    /* An unknown policy: refused, the window above kept. */
    char *leader = strstr(text, "[leader]\n");
    assert_non_null(leader);
    char bad[sizeof text + 64];
    snprintf(bad, sizeof bad, "%.*s[leader]\npolicy = nonsense\n%s", (int)(leader - text), text,
             leader + strlen("[leader]\n"));
    rewrite_and_hup(2, bad);
    assert_int_equal(log_has(2, "reload: [leader] policy 'nonsense' is unknown", 10), 0);
    assert_int_equal(log_has(2, "keeping the running cluster policy", 1), 0);
    assert_int_equal(cli(2, "plan"), 0);
    assert_non_null(strstr(out, "window: sat-sun 10:00-14:00 spread"));
    /* Back as every other host has it. */
    rewrite_and_hup(2, orig);
    assert_int_equal(eventually(2, "plan", "window: consolidate (outside every [schedule] "
                                           "window", 10), 0);
    for (int t = 0; t < 50 && (cli(1, "status"), strstr(out, "cluster policy")); t++)
        usleep(200000);
    assert_null(strstr(out, "cluster policy"));
}

static void a_host_with_another_policy_is_warned_about(void **state) {
    (void)state;
    assert_int_equal(agent_stop(pids[4], SIGTERM, 5000), 0);
    start_node(4, "spare_hosts = 1\n");
    assert_int_equal(eventually(1, "status", "host n4's cluster policy", 20), 0);
    assert_non_null(strstr(out, "differs from the leader n2's"));
    assert_null(strstr(out, "host n3's cluster policy"));
    assert_int_equal(agent_stop(pids[4], SIGTERM, 5000), 0);
    start_node(4, same_policy);
    assert_int_equal(eventually(1, "status", "n4", 20), 0);
    for (int t = 0; t < 50 && strstr(out, "cluster policy"); t++, usleep(200000))
        cli(1, "status");
    assert_null(strstr(out, "cluster policy"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vm_set_writes_the_domains_metadata_from_any_host),
        cmocka_unit_test(rules_survive_an_agent_restart_and_a_redefinition),
        cmocka_unit_test(the_plan_honours_pins_groups_and_spare_hosts),
        cmocka_unit_test(drain_wait_names_the_pinned_vms_it_cannot_move),
        cmocka_unit_test(the_schedule_follows_the_clock),
        cmocka_unit_test(sighup_reloads_the_policy),
        cmocka_unit_test(a_host_with_another_policy_is_warned_about),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
