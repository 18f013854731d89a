/* The leader's view from any host, with real agent processes on libvirt's
 * test driver: 4 agents on loopback, n1-n3 candidates, n4 not (its
 * requests are always forwarded). Hosts (2400 MHz cores, 1 MIPS per MHz,
 * CPU overcommit 1, no spare hosts: the `default` policy):
 *   n1 host-a.xml: 4 CPUs, 8 GiB; web-1 (2 vCPUs, 1 GiB) at 50 % (synthetic
 *      load), db-1 (1 vCPU, 2 GiB) at 0 %: CPU left 9600 - 2400 = 7200 MIPS
 *   n2, n4 host-empty.xml: 4 CPUs, 8 GiB, empty
 *   n3 host-small.xml: 2 CPUs, 2 GiB, empty
 * capacity, 1 vCPU (2400 MIPS) and 1 GiB: n1 min(7200/2400 = 3, 5 GiB) = 3
 *   (cpu), n2 4 (cpu), n3 2 (memory, as many as CPU: memory named), n4 4
 *   (cpu): 13, cpu stopping 3 hosts.
 * 1 vCPU and 3 GiB: n1 5/3 = 1, n2 8/3 = 2, n3 0, n4 2, all memory: 5.
 * create, most-free: n1 has 75 % CPU and 62 % memory free, n2, n3, n4 all
 *   free: the first of those by name, n2; first-fit: n1 (first by name
 *   with room). 64 GiB fits nowhere: memory short on all 4 hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "test_helpers.h"

#define N 4

static pid_t pids[N + 1];
static char conf[N + 1][PATH_MAX];
static char out[1 << 16], err[4096];

static void start_node(int i) {
    char dir[PATH_MAX], text[4 * PATH_MAX], pki[3 * PATH_MAX], name[8], load[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    snprintf(name, sizeof name, "n%d", i);
    test_pki_host(test_dir, name, i <= 3, pki, sizeof pki);
    snprintf(load, sizeof load, "%s/load", dir);
    FILE *f = fopen(load, "w");
    assert_non_null(f);
    fprintf(f, "web-1 50\ndb-1 0\n");
    fclose(f);
    unsigned base = test_port_base();
    snprintf(text, sizeof text,
             "[cluster]\nname = view\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1, n2, n3\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test://%s\nsample_interval = 300ms\n"
             "synthetic_load_file = %s\n"
             "[gossip]\nprobe_interval = 200ms\nprobe_timeout = 100ms\nsuspicion_mult = 2\n"
             "[leader]\nautomation = advise\nplan_interval = 500ms\n",
             pki, base, i, base + i - 1, dir, dir,
             i == 1   ? NODECTL_TEST_DATA "/host-a.xml"
             : i == 3 ? NODECTL_TEST_DATA "/host-small.xml"
                      : NODECTL_TEST_DATA "/host-empty.xml",
             load);
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

/* The leader every running agent names; its index, or -1. */
static int leader(int timeout_s) {
    for (int t = 0; t < timeout_s * 5; t++, usleep(200000)) {
        int agreed = -1;
        bool ok = true;
        for (int i = 1; i <= N && ok; i++) {
            if (pids[i] <= 0)
                continue;
            char *l;
            ok = cli(i, "status") == 0 && (l = strstr(out, "leader:  n")) != NULL;
            int who = ok ? atoi(l + strlen("leader:  n")) : -1;
            ok = ok && who >= 1 && who <= N && pids[who] > 0 && (agreed < 0 || who == agreed);
            agreed = who;
        }
        if (ok && agreed > 0)
            return agreed;
    }
    return -1;
}

static void write_domain(const char *name, const char *memory) {
    char text[512], path[PATH_MAX];
    snprintf(text, sizeof text,
             "<domain type='test'>\n  <name>%s</name>\n  <memory unit='%s'>%s</memory>\n"
             "  <vcpu>1</vcpu>\n  <os><type>hvm</type></os>\n</domain>\n",
             name, strchr(memory, 'G') ? "GiB" : "MiB", memory[0] == '6' ? "64" : "1");
    char file[64];
    snprintf(file, sizeof file, "%s.xml", name);
    test_write_file(test_dir, file, text, path, sizeof path);
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    for (int i = 1; i <= N; i++)
        start_node(i);
    for (int i = 1; i <= N; i++)
        if (eventually(i, "vms", "web-1", 20) != 0 || eventually(i, "members", "n4", 20) != 0)
            return -1;
    if (leader(30) < 0)
        return -1;
    /* Every host's record with its synthetic load at the leader. */
    sleep(2);
    return 0;
}

static int teardown(void **state) {
    for (int i = 1; i <= N; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    return test_dir_teardown(state);
}

static json_t *capacity_json(int i, const char *args) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "capacity --json %s", args);
    if (cli(i, cmd) != 0) {
        fprintf(stderr, "capacity on n%d: %s\n", i, err);
        return NULL;
    }
    json_error_t jerr;
    return json_loads(out, 0, &jerr);
}

static void capacity_matches_the_hand_computed_case(void **state) {
    for (int i = 1; i <= N; i++) {
        json_t *root = capacity_json(i, "");
        assert_non_null(root);
        json_t *on = json_object_get(root, "running");
        assert_int_equal(json_integer_value(json_object_get(on, "vms")), 13);
        assert_int_equal(json_integer_value(json_object_get(on, "hosts")), 4);
        assert_string_equal(json_string_value(json_object_get(on, "tightest")), "cpu");
        json_t *stopped = json_object_get(on, "stopped");
        assert_int_equal(json_integer_value(json_object_get(stopped, "cpu")), 3);
        assert_int_equal(json_integer_value(json_object_get(stopped, "memory")), 1);
        assert_int_equal(json_integer_value(json_object_get(
                             json_object_get(root, "with_off_hosts"), "vms")), 0);
        json_decref(root);
    }
    json_t *root = capacity_json(4, "--vcpus 1 --memory 3G");
    assert_non_null(root);
    json_t *on = json_object_get(root, "running");
    assert_int_equal(json_integer_value(json_object_get(on, "vms")), 5);
    assert_string_equal(json_string_value(json_object_get(on, "tightest")), "memory");
    json_decref(root);
    assert_int_equal(cli(4, "capacity --memory 3G"), 0);
    assert_non_null(strstr(out, "5 VMs on 4 host(s); tightest: memory"));
    assert_int_equal(cli(4, "capacity --vcpus 0"), 2);
    assert_non_null(strstr(err, "--vcpus: expected 1 to 4096"));
    assert_int_equal(cli(4, "capacity --memory lots"), 2);
    assert_non_null(strstr(err, "--memory: expected a size"));
    assert_int_equal(cli(4, "capacity --vcpus"), 2);
}

static void create_places_by_policy_and_refuses_what_cannot_fit(void **state) {
    char args[PATH_MAX + 64];
    write_domain("new-1", "1G");
    write_domain("new-2", "1G");
    write_domain("big-1", "64G");
    snprintf(args, sizeof args, "create %s/new-1.xml --start", test_dir);
    assert_int_equal(cli(4, args), 0);
    assert_non_null(strstr(out, "new-1: host n2"));
    assert_non_null(strstr(out, "most free resources"));
    assert_non_null(strstr(out, "new-1 defined and started on n2"));
    assert_int_equal(eventually(4, "find new-1", "n2", 10), 0);
    assert_non_null(strstr(out, "running"));
    /* A dry run only answers. */
    snprintf(args, sizeof args, "create %s/new-2.xml --policy first-fit --dry-run", test_dir);
    assert_int_equal(cli(3, args), 0);
    assert_non_null(strstr(out, "new-2: would go to n1"));
    assert_int_equal(cli(3, "find new-2"), 1);
    snprintf(args, sizeof args, "create %s/new-2.xml --policy first-fit", test_dir);
    assert_int_equal(cli(3, args), 0);
    assert_non_null(strstr(out, "new-2 defined on n1"));
    assert_int_equal(eventually(1, "find new-2", "n1", 10), 0);
    /* Refused, naming what is short; nothing defined. */
    snprintf(args, sizeof args, "create %s/big-1.xml", test_dir);
    assert_int_equal(cli(2, args), 1);
    assert_non_null(strstr(err, "no host can take big-1 (1 vCPU, 65536 MiB)"));
    assert_non_null(strstr(err, "memory short on 4"));
    /* A name already in the cluster. */
    snprintf(args, sizeof args, "create %s/new-1.xml", test_dir);
    assert_int_equal(cli(1, args), 1);
    if (!strstr(err, "a domain named 'new-1' is already on n2"))
        fprintf(stderr, "create new-1 again: %s\n", err);
    assert_non_null(strstr(err, "a domain named 'new-1' is already on n2"));
    /* Bad input at the edge: exit 2, nothing asked. */
    char path[PATH_MAX];
    test_write_file(test_dir, "bad.xml", "<domain><name>x</name>", path, sizeof path);
    snprintf(args, sizeof args, "create %s", path);
    assert_int_equal(cli(4, args), 2);
    assert_non_null(strstr(err, "not well formed"));
    snprintf(args, sizeof args, "create %s/new-2.xml --policy fastest", test_dir);
    assert_int_equal(cli(4, args), 2);
    assert_non_null(strstr(err, "--policy: expected most-free, power-aware or first-fit"));
    assert_int_equal(cli(4, "create"), 2);
}

/* A domain of `size` bytes of XML: a guest with disks (as libvirt writes
 * them, each its own path and address) until it is that large. */
static void write_wide_domain(const char *name, size_t size) {
    static char text[48 * 1024];
    int n = snprintf(text, sizeof text, "<domain type='test'>\n  <name>%s</name>\n"
                     "  <memory unit='MiB'>256</memory>\n  <vcpu>1</vcpu>\n"
                     "  <os><type>hvm</type></os>\n  <devices>\n", name);
    for (int i = 0; (size_t)n + 200 < size; i++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "    <disk type='file' device='disk'>\n      <driver name='qemu' "
                      "type='qcow2'/>\n      <source file='/var/lib/libvirt/images/%s-%d.qcow2'/>"
                      "\n      <target dev='vd%c%c' bus='virtio'/>\n    </disk>\n",
                      name, i, 'a' + i / 26, 'a' + i % 26);
    snprintf(text + n, sizeof text - (size_t)n, "  </devices>\n</domain>\n");
    char file[64], path[PATH_MAX];
    snprintf(file, sizeof file, "%s.xml", name);
    test_write_file(test_dir, file, text, path, sizeof path);
}

/* Real guests' XML (4-8 KiB) is larger than one frame: it travels deflated,
 * asked on n4 (forwarded to the leader) and sent to the host chosen; above
 * COMMAND_XML_MAX - 1 bytes the CLI refuses it, naming the bound. */
static void create_takes_a_guest_xml_larger_than_a_frame(void **state) {
    char args[PATH_MAX + 64];
    write_wide_domain("wide-1", 7500);
    snprintf(args, sizeof args, "create %s/wide-1.xml --policy first-fit", test_dir);
    int rc = cli(4, args);
    if (rc != 0)
        fprintf(stderr, "create wide-1: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "wide-1 defined on n1"));
    assert_int_equal(eventually(1, "find wide-1", "n1", 10), 0);
    write_wide_domain("wide-2", 40000);
    snprintf(args, sizeof args, "create %s/wide-2.xml", test_dir);
    assert_int_equal(cli(4, args), 2);
    assert_non_null(strstr(err, "the domain XML is larger than 32767 bytes"));
}

static void plan_and_events_everywhere_and_after_a_leader_kill(void **state) {
    int l = leader(10);
    assert_true(l > 0);
    char needle[64];
    snprintf(needle, sizeof needle, "leader n%d, term ", l);
    for (int i = 1; i <= N; i++) {
        assert_int_equal(eventually(i, "plan", needle, 10), 0);
        assert_int_equal(eventually(i, "events", "create: new-1 on n2", 10), 0);
    }
    /* The candidates copy the log every second. */
    sleep(3);
    assert_int_equal(agent_stop(pids[l], SIGKILL, 5000), 128 + SIGKILL);
    pids[l] = 0;
    int next = leader(30);
    assert_true(next > 0 && next != l);
    char took[64];
    snprintf(took, sizeof took, "took over from n%d", l);
    for (int i = 1; i <= N; i++) {
        if (!pids[i])
            continue;
        assert_int_equal(eventually(i, "events", took, 20), 0);
        assert_non_null(strstr(out, "create: new-1 on n2"));
        assert_non_null(strstr(out, "create: new-2 on n1"));
        snprintf(needle, sizeof needle, "leader n%d, term ", next);
        assert_int_equal(eventually(i, "plan", needle, 10), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capacity_matches_the_hand_computed_case),
        cmocka_unit_test(create_places_by_policy_and_refuses_what_cannot_fit),
        cmocka_unit_test(create_takes_a_guest_xml_larger_than_a_frame),
        cmocka_unit_test(plan_and_events_everywhere_and_after_a_leader_kill),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
