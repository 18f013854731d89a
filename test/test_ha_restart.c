/* HA restart with real agents on loopback (docs/ha.md): n1 is the only
 * candidate, so the leader; n2 runs three VMs on libvirt's test driver and
 * n3 is empty. Once the cluster runs, two of n2's VMs are protected with
 * nodectl vm set (db-ha priority 900, web-ha priority 100): protected
 * guests found running by an agent that starts without a run lease are
 * stopped (docs/safety.md, the protected gate), so they are protected only
 * after n2's agent is up. [ha] self_fence_timeout = 6s, fence_margin = 1s:
 * the self-fence wait (7.6 s from the last answer) outlasts the death's
 * detection (about 1 s), the leader's round and its refutation window
 * (2.4 s with this gossip: ha_refute_ms), so the leader fences n2 while
 * its evidence is still to come.
 *   n2's definitions reach the leader (replication), its VMs show ha in
 *   nodectl vms.
 *   n2 is killed (its test-driver guests vanish with it, as with a power
 *   loss): the leader fences it, says why nothing is restarted until the
 *   self-fence wait is over, then restarts db-ha before web-ha on n1 or n3
 *   (a define and start under its grant), and not batch; nodectl vms shows
 *   both protected VMs, each once.
 *   nodectl status on n3 (not the leader) shows n2 fenced and why.
 *   nodectl host fenced (forwarded to the leader) is refused for a host
 *   that answers or that no one knows, and taken for n2; n3's status then
 *   says an operator confirmed it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "test_helpers.h"

#define N 3

static pid_t pids[N + 1];
static char conf[N + 1][PATH_MAX];
static char out[1 << 16], err[4096];

static void start_node(int i) {
    char dir[PATH_MAX], text[4 * PATH_MAX], pki[3 * PATH_MAX], name[8];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    snprintf(name, sizeof name, "n%d", i);
    test_pki_host(test_dir, name, i == 1, pki, sizeof pki);
    unsigned base = test_port_base();
    const char *uri = i == 2 ? "test://" NODECTL_TEST_DATA "/host-protected.xml"
                             : "test://" NODECTL_TEST_DATA "/host-empty.xml";
    snprintf(text, sizeof text,
             "[cluster]\nname = harestart\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = %s\nsample_interval = 300ms\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 2\n"
             "[leader]\nautomation = advise\n"
             "[ha]\nself_fence_timeout = 6s\nfence_margin = 1s\n",
             pki, base, i, base + i - 1, dir, dir, uri);
    pids[i] = agent_start_in(dir, text, conf[i], sizeof conf[i]);
    assert_true(pids[i] > 0);
}

static int eventually(int i, const char *args, const char *needle, int timeout_s) {
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/n%d/agent.log", test_dir, i);
    return nodectl_expect(conf[i], args, needle, timeout_s, log, out, sizeof out, err, sizeof err);
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    for (int i = 1; i <= N; i++)
        start_node(i);
    return 0;
}

static int teardown(void **state) {
    for (int i = 1; i <= N; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    return test_dir_teardown(state);
}

static void a_dead_hosts_protected_vms_restart_elsewhere_in_priority_order(void **state) {
    (void)state;
    assert_int_equal(eventually(1, "status", "leader:  n1", 30), 0);
    assert_int_equal(eventually(1, "vms", "web-ha", 30), 0);
    assert_int_equal(nodectl_run(conf[2], "vm set db-ha ha=yes ha_priority=900", out, sizeof out,
                                 err, sizeof err), 0);
    assert_int_equal(nodectl_run(conf[2], "vm set web-ha ha=yes ha_priority=100", out, sizeof out,
                                 err, sizeof err), 0);
    assert_int_equal(eventually(1, "vms", "yes/900", 30), 0);
    assert_int_equal(eventually(1, "vms", "yes/100", 30), 0);
    assert_int_equal(eventually(1, "members", "n3", 30), 0);
    /* The definitions are sent as soon as n2 has sampled its VMs and knows
     * where n1 is. */
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/n1/agent.log", test_dir);
    for (int t = 0; t < 300 && (count_lines_with(log, "definition of db-ha from n2") < 1 ||
                                count_lines_with(log, "definition of web-ha from n2") < 1);
         t++)
        usleep(100000);
    assert_int_equal(count_lines_with(log, "definition of web-ha from n2"), 1);
    assert_int_equal(kill(pids[2], SIGKILL), 0);
    agent_wait_exit(pids[2], 5000);
    pids[2] = -1;
    assert_int_equal(eventually(1, "events", "HA: n2 is down: fenced", 30), 0);
    assert_int_equal(eventually(1, "events", "HA: nothing restarted: no evidence yet that n2 "
                                             "is fenced", 10), 0);
    assert_int_equal(eventually(1, "events", "HA: restarting web-ha", 30), 0);
    const char *db = strstr(out, "HA: restarting db-ha (priority 900) from n2 on ");
    const char *web = strstr(out, "HA: restarting web-ha (priority 100) from n2 on ");
    if (!db || !web)
        fprintf(stderr, "events:\n%s\n", out);
    assert_non_null(db);
    assert_non_null(web);
    assert_true(db < web);
    assert_non_null(strstr(out, "it fenced itself"));
    assert_null(strstr(out, "restarting batch"));
    assert_int_equal(eventually(1, "vms", "web-ha", 30), 0);
    assert_int_equal(eventually(1, "vms", "db-ha", 30), 0);
    assert_int_equal(count_occurrences(out, "db-ha"), 1);
    assert_int_equal(count_occurrences(out, "web-ha"), 1);
    /* nodectl status on a host that does not lead shows n2 fenced, and
     * why, from the leader's gossiped record; no other host. */
    assert_int_equal(eventually(3, "status", "FENCED: it fenced itself", 15), 0);
    const char *n2 = strstr(out, "\nn2 ");
    assert_non_null(n2);
    assert_true(strstr(n2, "FENCED") < strchr(n2 + 1, '\n'));
    assert_int_equal(count_occurrences(out, "FENCED"), 1);
    /* The operator's evidence, from a host that does not lead (forwarded):
     * refused for a host that answers or is unknown, taken for n2. */
    assert_int_equal(nodectl_run(conf[3], "host fenced n3", out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "n3 is up"));
    assert_int_equal(nodectl_run(conf[3], "host fenced n9", out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "no member named 'n9'"));
    assert_int_equal(nodectl_run(conf[3], "host fenced", out, sizeof out, err, sizeof err), 2);
    assert_int_equal(nodectl_run(conf[3], "host fenced n2", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "n1: n2 taken for fenced; its protected VMs may restart "
                             "(nodectl events)\n");
    assert_int_equal(eventually(1, "events", "HA: an operator confirmed n2 fenced", 10), 0);
    assert_int_equal(eventually(3, "status", "FENCED: an operator confirmed it", 15), 0);
    assert_int_equal(eventually(3, "status --json", "\"fenced\": \"operator\"", 15), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_dead_hosts_protected_vms_restart_elsewhere_in_priority_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
