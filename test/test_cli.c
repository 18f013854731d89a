/* The `nodectl` CLI against a real agent process over its real control
 * socket, on libvirt's test driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "test_helpers.h"

static char out[65536], err[8192];


/* A config for node `name` in its own subdirectory, with extra lines
 * appended to [node] and a [hypervisor] uri. */
static void write_conf(const char *name, const char *uri, const char *extra, char *path) {
    static bool cluster_made;
    if (!cluster_made)
        test_pki_cluster(test_dir);
    cluster_made = true;
    char text[4 * PATH_MAX], pki[3 * PATH_MAX];
    test_pki_host(test_dir, name, strcmp(name, "n1") == 0, pki, sizeof pki);
    snprintf(text, sizeof text,
             "[cluster]\nname = testcluster\ncandidates = n1\n%s"
             "discovery = false\n"
             "[node]\nname = %s\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/%s/state\ncontrol_socket = %s/%s/ctl.sock\n%s"
             "[hypervisor]\nuri = %s\nsample_interval = 200ms\n",
             pki, name, test_port_base(), test_dir, name, test_dir, name, extra, uri);
    char sub[PATH_MAX + 64];
    snprintf(sub, sizeof sub, "%s/%s", test_dir, name);
    mkdir(sub, 0755);
    test_write_file(sub, "nodectl.conf", text, path, PATH_MAX);
}

static pid_t start(const char *conf, const char *name, char *log) {
    snprintf(log, PATH_MAX, "%s/%s/agent.log", test_dir, name);
    pid_t pid = agent_start(conf, log);
    assert_int_equal(agent_wait_ready(pid, conf, 10000), 0);
    return pid;
}

static int cli(const char *conf, const char *args) {
    char cmd[PATH_MAX + 256];
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' %s", conf, args);
    return run_capture(cmd, out, sizeof out, err, sizeof err);
}

static void status_and_vms_on_default_test_host(void **state) {
    char conf[PATH_MAX], log[PATH_MAX];
    write_conf("n1", "test:///default", "", conf);
    pid_t pid = start(conf, "n1", log);

    assert_int_equal(cli(conf, "status"), 0);
    assert_non_null(strstr(out, "cluster: testcluster"));
    assert_non_null(strstr(out, "leader:  none"));
    assert_non_null(strstr(out, "NAME"));
    /* The member row: name, address, state, role, ... 1 running VM, ok. */
    char *row = strstr(out, "\nn1 ");
    assert_non_null(row);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", test_port_base());
    assert_non_null(strstr(row, addr));
    assert_non_null(strstr(row, "alive"));
    assert_non_null(strstr(row, "candidate"));
    assert_non_null(strstr(row, "3.0 GiB"));
    assert_non_null(strstr(row, "   1  ok"));

    assert_int_equal(cli(conf, "status --json"), 0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "cluster")), "testcluster");
    assert_string_equal(json_string_value(json_object_get(root, "node")), "n1");
    assert_true(json_is_null(json_object_get(root, "leader")));
    json_t *members = json_object_get(root, "members");
    assert_int_equal(json_array_size(members), 1);
    json_t *m = json_array_get(members, 0);
    assert_string_equal(json_string_value(json_object_get(m, "state")), "alive");
    assert_string_equal(json_string_value(json_object_get(m, "role")), "candidate");
    assert_int_equal(json_integer_value(json_object_get(m, "vms_running")), 1);
    json_t *cap = json_object_get(m, "capacity");
    assert_int_equal(json_integer_value(json_object_get(cap, "cpus")), 16);
    assert_true(json_is_true(json_object_get(json_object_get(m, "hypervisor"), "available")));
    const char *id = json_string_value(json_object_get(root, "node_id"));
    assert_non_null(id);
    char node_id[64];
    snprintf(node_id, sizeof node_id, "%s", id);
    json_decref(root);

    assert_int_equal(cli(conf, "vms"), 0);
    assert_non_null(strstr(out, "test "));
    assert_non_null(strstr(out, "running"));
    assert_non_null(strstr(out, "6695eb01-f6a4-8304-79aa-97f2502e193f"));
    assert_int_equal(cli(conf, "vms --json"), 0);
    root = json_loads(out, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(root), 1);
    json_t *vm = json_array_get(root, 0);
    assert_string_equal(json_string_value(json_object_get(vm, "name")), "test");
    assert_string_equal(json_string_value(json_object_get(vm, "host")), "n1");
    assert_string_equal(json_string_value(json_object_get(vm, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(vm, "vcpus")), 2);
    json_decref(root);

    /* The control socket is group-accessible, no more. */
    char sock[PATH_MAX + 32];
    snprintf(sock, sizeof sock, "%s/n1/ctl.sock", test_dir);
    struct stat st;
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);

    /* SIGTERM stops it cleanly; a restart keeps the identity. */
    assert_int_equal(agent_stop(pid, SIGTERM, 5000), 0);
    pid = start(conf, "n1", log);
    assert_int_equal(cli(conf, "status --json"), 0);
    root = json_loads(out, 0, &jerr);
    assert_string_equal(json_string_value(json_object_get(root, "node_id")), node_id);
    json_decref(root);
    assert_int_equal(agent_stop(pid, SIGINT, 5000), 0);
}

static void vms_of_a_host_defined_by_xml(void **state) {
    char conf[PATH_MAX], log[PATH_MAX];
    write_conf("n2", "test://" NODECTL_TEST_DATA "/host-a.xml", "", conf);
    pid_t pid = start(conf, "n2", log);
    assert_int_equal(cli(conf, "vms --json"), 0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(root), 3);
    int running = 0, shutoff = 0;
    for (size_t i = 0; i < json_array_size(root); i++) {
        const char *st = json_string_value(json_object_get(json_array_get(root, i), "state"));
        running += strcmp(st, "running") == 0;
        shutoff += strcmp(st, "shutoff") == 0;
    }
    assert_int_equal(running, 2);
    assert_int_equal(shutoff, 1);
    json_decref(root);
    assert_int_equal(cli(conf, "status"), 0);
    assert_non_null(strstr(out, "member")); /* n2 is not in the candidate list */
    assert_int_equal(agent_stop(pid, SIGTERM, 5000), 0);
}

static void unreachable_hypervisor_keeps_the_agent_serving(void **state) {
    char conf[PATH_MAX], log[PATH_MAX];
    write_conf("n3", "qemu+unix:///system?socket=/nonexistent/sock", "", conf);
    pid_t pid = start(conf, "n3", log);
    assert_int_equal(cli(conf, "status"), 0);
    assert_non_null(strstr(out, "unavailable: cannot connect"));
    assert_int_equal(cli(conf, "vms --json"), 0);
    assert_string_equal(out, "[]\n");
    assert_true(count_lines_with(log, "unavailable") >= 1);
    assert_int_equal(agent_stop(pid, SIGTERM, 5000), 0);
}

static void sighup_reloads_and_survives_a_bad_file(void **state) {
    char conf[PATH_MAX], log[PATH_MAX];
    write_conf("n4", "test:///default", "", conf);
    pid_t pid = start(conf, "n4", log);
    write_conf("n4", "test:///default", "log_level = debug\n", conf);
    kill(pid, SIGHUP);
    for (int i = 0; i < 100 && !count_lines_with(log, "configuration reloaded"); i++)
        usleep(20000);
    assert_int_equal(count_lines_with(log, "configuration reloaded"), 1);
    write_conf("n4", "test:///default", "bogus = 1\n", conf);
    kill(pid, SIGHUP);
    for (int i = 0; i < 100 && !count_lines_with(log, "reload refused"); i++)
        usleep(20000);
    assert_int_equal(count_lines_with(log, "reload refused"), 1);
    assert_int_equal(cli(conf, "-t 2000 status"), 2); /* the CLI too refuses the bad file */
    char sockarg[PATH_MAX + 64];
    snprintf(sockarg, sizeof sockarg, "\"$NODECTL\" -s '%s/n4/ctl.sock' status", test_dir);
    assert_int_equal(run_capture(sockarg, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(agent_stop(pid, SIGTERM, 5000), 0);
}

static void usage_errors_exit_2_and_failures_exit_1(void **state) {
    char conf[PATH_MAX];
    write_conf("n5", "test:///default", "", conf);
    assert_int_equal(run_capture("\"$NODECTL\"", out, sizeof out, err, sizeof err), 2);
    assert_int_equal(run_capture("\"$NODECTL\" frobnicate", out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
    assert_int_equal(cli(conf, "status --bogus"), 2);
    assert_non_null(strstr(err, "unknown argument '--bogus'"));
    assert_int_equal(run_capture("\"$NODECTL\" -t abc status", out, sizeof out, err, sizeof err), 2);
    assert_int_equal(run_capture("\"$NODECTL\" --version", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "nodectl 0."));
    assert_int_equal(run_capture("\"$NODECTL\" --help", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "status"));
    assert_int_equal(run_capture("\"$NODECTL\" help vms", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "nodectl vms [--json]"));
    assert_int_equal(run_capture("\"$NODECTL\" help nope", out, sizeof out, err, sizeof err), 2);
    /* No agent behind the socket: a failed operation. */
    assert_int_equal(cli(conf, "status"), 1);
    assert_non_null(strstr(err, "cannot reach the agent"));
}

static void agent_refuses_bad_config_and_corrupt_identity(void **state) {
    char conf[PATH_MAX], cmd[PATH_MAX + 64];
    write_conf("n6", "test:///default", "port = 99999\n", conf);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s'", conf);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "nodectl.conf:16: key 'port' in [node]: expected a port number"));
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s' --check", conf);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s/absent.conf'", test_dir);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "absent.conf: cannot open"));
    /* A policy the planner does not know. */
    write_conf("n6", "test:///default", "[leader]\npolicy = fastest\n", conf);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s' --check", conf);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "[leader] policy 'fastest' is unknown; known: "));

    /* IPMI power-on: a BMC address that is not host[:port] (it becomes an
     * argument of ipmitool), half the credentials, a password file that is
     * not there; each named by its key. */
    static const struct {
        const char *conf, *error;
    } bad_ipmi[] = {
        {"[power]\nipmi_address = bmc;reboot\n", "key 'ipmi_address' in [power]: expected host"},
        {"[power]\nipmi_address = -obmc\n", "key 'ipmi_address' in [power]: expected host"},
        {"[power]\nipmi_address = 10.0.0.9:70000\n", "got '10.0.0.9:70000'"},
        {"[power]\nipmi_user = admin\n",
         "key 'ipmi_password_file' in [power]: needed with 'ipmi_user'"},
        {"[power]\nipmi_user = admin\nipmi_password_file = /nonexistent/ipmi-password\n",
         "key 'ipmi_password_file' in [power]: cannot read /nonexistent/ipmi-password"},
    };
    for (size_t i = 0; i < sizeof bad_ipmi / sizeof *bad_ipmi; i++) {
        write_conf("n6", "test:///default", bad_ipmi[i].conf, conf);
        snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s' --check", conf);
        assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
        if (!strstr(err, bad_ipmi[i].error))
            fail_msg("%s: got '%s'", bad_ipmi[i].conf, err);
    }
    char pw[PATH_MAX], ipmi[2 * PATH_MAX];
    test_write_file(test_dir, "ipmi-password", "s3cret-pw\n", pw, sizeof pw);
    snprintf(ipmi, sizeof ipmi, "[power]\nipmi_address = bmc-6.rig:6236\nipmi_user = admin\n"
                                "ipmi_password_file = %s\nipmi_cipher_suite = 3\n", pw);
    write_conf("n6", "test:///default", ipmi, conf);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s' --check", conf);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    assert_null(strstr(out, "s3cret"));
    assert_null(strstr(err, "s3cret"));

    write_conf("n6", "test:///default", "", conf);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s' --check", conf);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "configuration OK"));

    char sd[PATH_MAX + 32], idpath[PATH_MAX];
    snprintf(sd, sizeof sd, "%s/n6/state", test_dir);
    mkdir(sd, 0755);
    test_write_file(sd, "node-id", "garbage\n", idpath, sizeof idpath);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s'", conf);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "corrupt identity file"));
}

static void local_rebalancing_applies_once_then_waits(void **state) {
    char conf[PATH_MAX], log[PATH_MAX];
    write_conf("n7", "test://" NODECTL_TEST_DATA "/host-a.xml",
               "", conf);
    /* [hypervisor] is the last section: append to it. */
    FILE *f = fopen(conf, "a");
    assert_non_null(f);
    fputs("local_rebalance = true\nrebalance_margin = 30s\n", f);
    fclose(f);
    pid_t pid = start(conf, "n7", log);
    sleep(2); /* about ten samples */
    assert_int_equal(agent_stop(pid, SIGTERM, 5000), 0);
    /* web-1 and db-1 each use one core: equal weights, 1024 each, applied
     * once; the test driver keeps its own weight, so the policy would
     * apply again at every sample, but the hysteresis holds it for the
     * margin. */
    assert_int_equal(count_lines_with(log, "local rebalancing: 2 of 2 VMs"), 1);
}

static void keygen_makes_a_private_key_and_never_overwrites(void **state) {
    char cmd[PATH_MAX + 64], path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/cluster.key", test_dir);
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" keygen '%s'", path);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "exists"));
    assert_int_equal(run_capture("\"$NODECTL\" keygen", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(strspn(out, "0123456789abcdef"), 64);
    char first[65];
    snprintf(first, sizeof first, "%s", out);
    assert_int_equal(run_capture("\"$NODECTL\" keygen", out, sizeof out, err, sizeof err), 0);
    assert_memory_not_equal(first, out, 64);
}

/* The identity, keyring and CA commands on a running agent and without
 * one: what an operator types, and every refusal with its reason. */
static void keys_ca_and_identity(void **state) {
    char conf[PATH_MAX], log[PATH_MAX], path[PATH_MAX], cmd[4 * PATH_MAX];
    write_conf("n8", "test:///default", "", conf);
    assert_int_equal(cli(conf, "identity show"), 0);
    assert_non_null(strstr(out, "certificate: n8, not a candidate, valid from"));
    snprintf(path, sizeof path, "%s/pki/n8/host.key", test_dir);
    snprintf(cmd, sizeof cmd, "identity init --key '%s'", path);
    assert_int_equal(cli(conf, cmd), 0); /* kept, and its public key printed again */
    assert_non_null(strstr(err, "exists; kept"));
    assert_int_equal(strspn(out, "0123456789abcdef"), 64);
    char pk[65];
    snprintf(pk, sizeof pk, "%s", out);

    snprintf(cmd, sizeof cmd, "\"$NODECTL\" ca init '%s/pki/ca'", test_dir);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "exists; it is never overwritten"));
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" ca sign --ca '%s/pki/ca' n9 not-a-key", test_dir);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "PUBKEY 'not-a-key' is neither 64 hexadecimal digits"));
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" ca sign n9 %s", pk);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "expected --ca DIR HOST PUBKEY"));
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" ca sign --ca '%s/nowhere' n9 %s", test_dir, pk);
    assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "nowhere/ca.key: cannot read"));

    pid_t pid = start(conf, "n8", log);
    assert_int_equal(cli(conf, "keys list"), 0);
    assert_non_null(strstr(out, "primary  1/1"));
    assert_int_equal(cli(conf, "keys list --json"), 0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    char old_id[16];
    snprintf(old_id, sizeof old_id, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(root, "keys"), 0),
                                               "id")));
    json_decref(root);
    /* A keyring written by hand takes effect on SIGHUP. */
    char key[128];
    snprintf(path, sizeof path, "%s/pki/cluster.key", test_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(fgets(key, sizeof key, f));
    fclose(f);
    key[64] = '\0';
    char ring[512], sub[PATH_MAX];
    snprintf(ring, sizeof ring,
             "%s primary\n00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
             key);
    snprintf(sub, sizeof sub, "%s/pki/n8", test_dir);
    test_write_file(sub, "keyring", ring, path, sizeof path);
    kill(pid, SIGHUP);
    assert_int_equal(nodectl_run_until(conf, "keys list", "yes      1/1", 10, out, sizeof out, err,
                                       sizeof err), 0);
    /* A broken file is refused; the running keyring stays. */
    test_write_file(sub, "keyring", "not a key\n", path, sizeof path);
    kill(pid, SIGHUP);
    for (int t = 0; t < 50 && !count_lines_with(log, "keeping the running keyring"); t++)
        usleep(100000);
    assert_int_equal(count_lines_with(log, "keyring: line 1: a key is 64 hexadecimal digits"), 1);
    assert_int_equal(cli(conf, "keys list"), 0);
    assert_non_null(strstr(out, "yes      1/1"));
    test_write_file(sub, "keyring", ring, path, sizeof path);

    char args[128];
    snprintf(args, sizeof args, "keys remove %s --force", old_id);
    assert_int_equal(cli(conf, args), 1);
    assert_non_null(strstr(err, "is the primary key; make another key primary first"));
    snprintf(args, sizeof args, "keys remove %s", old_id);
    assert_int_equal(cli(conf, args), 1);
    assert_non_null(strstr(err, "still the primary key of 1 live member(s) (by their records): n8"));
    assert_int_equal(cli(conf, "keys use 123"), 2);
    assert_non_null(strstr(err, "a key id is 8 hexadecimal digits"));
    assert_int_equal(cli(conf, "keys use 0badc0de"), 1);
    assert_non_null(strstr(err, "key 0badc0de is not installed"));
    assert_int_equal(cli(conf, "keys install /nonexistent/new.key"), 1);
    assert_non_null(strstr(err, "cannot read /nonexistent/new.key"));
    assert_int_equal(cli(conf, "keys rotate"), 2);
    assert_int_equal(agent_stop(pid, SIGTERM, 5000), 0);

    /* A certificate of another host: identity show and the agent say so. */
    char extra[PATH_MAX + 64];
    snprintf(extra, sizeof extra, "[cluster]\ncert_file = %s/pki/n8/host.cert\n"
             "host_key_file = %s/pki/n8/host.key\n[node]\n", test_dir, test_dir);
    write_conf("n9", "test:///default", extra, conf);
    assert_int_equal(cli(conf, "identity show"), 1);
    assert_non_null(strstr(out, "certifies host 'n8', but this host is 'n9' ([node] name)"));
    snprintf(log, sizeof log, "%s/n9/agent.log", test_dir);
    assert_int_equal(agent_wait_exit(agent_start(conf, log), 10000), 2);
    assert_int_equal(count_lines_with(log, "key 'cert_file' in [cluster]"), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_and_vms_on_default_test_host),
        cmocka_unit_test(vms_of_a_host_defined_by_xml),
        cmocka_unit_test(unreachable_hypervisor_keeps_the_agent_serving),
        cmocka_unit_test(sighup_reloads_and_survives_a_bad_file),
        cmocka_unit_test(usage_errors_exit_2_and_failures_exit_1),
        cmocka_unit_test(agent_refuses_bad_config_and_corrupt_identity),
        cmocka_unit_test(keygen_makes_a_private_key_and_never_overwrites),
        cmocka_unit_test(keys_ca_and_identity),
        cmocka_unit_test(local_rebalancing_applies_once_then_waits),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
