/* Who may use the control socket: the rights of each request
 * (control_access.c), then a real agent whose socket belongs to a group,
 * with `nodectl` run as other users (setpriv, from root): the group reads,
 * a change needs root or the admin group (by the caller's primary group or
 * its user's groups), anyone else cannot connect, and each change is logged
 * with the uid that asked. The groups are Debian's own "users" and
 * "nogroup" (base-passwd), so the test adds no account to the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_process.h"
#include "net/control_access.h"
#include "test_helpers.h"

static void reads_and_changes(void **state) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    static const Nodectl__Request__BodyCase reads[] = {
        NODECTL__REQUEST__BODY_STATUS, NODECTL__REQUEST__BODY_VMS,
        NODECTL__REQUEST__BODY_MEMBERS, NODECTL__REQUEST__BODY_PLAN,
        NODECTL__REQUEST__BODY_EVENTS};
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        req.body_case = reads[i];
        assert_int_equal(control_request_right(&req), CONTROL_READ);
    }
    static const Nodectl__Request__BodyCase changes[] = {
        NODECTL__REQUEST__BODY_MIGRATE, NODECTL__REQUEST__BODY_DRAIN,
        NODECTL__REQUEST__BODY_LEADER_TRANSFER, 99 /* a request added later */};
    for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
        req.body_case = changes[i];
        assert_int_equal(control_request_right(&req), CONTROL_CHANGE);
    }
    Nodectl__KeysRequest keys = NODECTL__KEYS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_KEYS;
    req.keys = &keys;
    keys.op = NODECTL__KEYS_OP__KEYS_LIST;
    assert_int_equal(control_request_right(&req), CONTROL_READ);
    for (int op = NODECTL__KEYS_OP__KEYS_INSTALL; op <= NODECTL__KEYS_OP__KEYS_REMOVE; op++) {
        keys.op = (Nodectl__KeysOp)op;
        assert_int_equal(control_request_right(&req), CONTROL_CHANGE);
    }
}

static void requests_are_described(void **state) {
    char text[128];
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__DrainRequest drain = NODECTL__DRAIN_REQUEST__INIT;
    drain.host = "host-b";
    req.body_case = NODECTL__REQUEST__BODY_DRAIN;
    req.drain = &drain;
    control_request_describe(&req, text, sizeof text);
    assert_string_equal(text, "undrain host-b");
    Nodectl__MigrateRequest mig = NODECTL__MIGRATE_REQUEST__INIT;
    mig.vm = "vm1";
    mig.destination = "host-c";
    req.body_case = NODECTL__REQUEST__BODY_MIGRATE;
    req.migrate = &mig;
    control_request_describe(&req, text, sizeof text);
    assert_string_equal(text, "migrate vm1 to host-c");
    req.body_case = NODECTL__REQUEST__BODY_EVENTS;
    control_request_describe(&req, text, sizeof text);
    assert_string_equal(text, "events");
    Nodectl__KeysRequest keys = NODECTL__KEYS_REQUEST__INIT;
    keys.op = NODECTL__KEYS_OP__KEYS_REMOVE;
    keys.key_id = "0a1b2c3d";
    req.body_case = NODECTL__REQUEST__BODY_KEYS;
    req.keys = &keys;
    control_request_describe(&req, text, sizeof text);
    assert_string_equal(text, "keys remove 0a1b2c3d");
}

static void root_and_the_admin_group_may_change(void **state) {
    const struct control_policy none = {0}, admins = {.admin = true, .admin_gid = 50};
    const gid_t groups[] = {100, 50};
    assert_true(control_access_allows(&none, CONTROL_READ, 1000, 100, NULL, 0));
    assert_true(control_access_allows(&none, CONTROL_CHANGE, 0, 0, NULL, 0));
    assert_false(control_access_allows(&none, CONTROL_CHANGE, 1000, 50, groups, 2));
    assert_true(control_access_allows(&admins, CONTROL_CHANGE, 1000, 50, NULL, 0));
    assert_true(control_access_allows(&admins, CONTROL_CHANGE, 1000, 100, groups, 2));
    assert_false(control_access_allows(&admins, CONTROL_CHANGE, 1000, 100, groups, 1));
}

static char conf[PATH_MAX], log_path[PATH_MAX], sock[PATH_MAX];
static char out[65536], err[8192];
static gid_t users, nogroup;

/* Runs `nodectl -c conf ARGS` as uid with primary group gid and the
 * supplementary groups `groups` ("": none). */
static int nodectl_as(unsigned uid, unsigned gid, const char *groups, const char *args) {
    char cmd[PATH_MAX + 512];
    snprintf(cmd, sizeof cmd, "setpriv --reuid=%u --regid=%u %s%s \"$NODECTL\" -c '%s' %s", uid,
             gid, groups[0] ? "--groups=" : "--clear-groups", groups, conf, args);
    return run_capture(cmd, out, sizeof out, err, sizeof err);
}

static void the_socket_belongs_to_its_group_and_changes_need_the_admin_group(void **state) {
    if (geteuid() != 0)
        skip(); /* setpriv and chown need root; CI runs the suite as root */
    struct group *g = getgrnam("users");
    assert_non_null(g);
    users = g->gr_gid;
    assert_non_null(g = getgrnam("nogroup"));
    nogroup = g->gr_gid;
    struct passwd *nobody = getpwnam("nobody");
    assert_non_null(nobody);
    assert_int_equal(nobody->pw_gid, nogroup);
    /* Other users must reach the socket (mkdtemp made the directory 0700). */
    assert_int_equal(chmod(test_dir, 0755), 0);
    char text[2048];
    snprintf(text, sizeof text,
             "[cluster]\ninsecure = true\ndiscovery = false\ncandidates = n1\n"
             "[node]\nname = n1\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[control]\ngroup = users\nadmin_group = nogroup\n",
             test_port_base(), test_dir, test_dir);
    pid_t agent = agent_start_in(test_dir, text, conf, sizeof conf);
    assert_true(agent > 0);
    snprintf(log_path, sizeof log_path, "%s/agent.log", test_dir);
    snprintf(sock, sizeof sock, "%s/ctl.sock", test_dir);
    chmod(conf, 0644);

    struct stat st;
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_gid, users);
    assert_int_equal(st.st_mode & 0777, 0660);

    /* A member of the group reads... */
    assert_int_equal(nodectl_as(4242, users, "", "status"), 0);
    assert_non_null(strstr(out, "n1"));
    assert_int_equal(nodectl_as(4242, users, "", "members"), 0);
    /* ...and may change nothing. */
    assert_int_equal(nodectl_as(4242, users, "", "drain n1"), 1);
    assert_non_null(strstr(err, "nodectl drain: permission denied: drain n1 changes the "
                                "cluster and needs root or group nogroup"));
    assert_int_equal(nodectl_as(4242, users, "", "leader transfer"), 1);
    assert_non_null(strstr(err, "permission denied: leader transfer"));
    assert_int_equal(nodectl_as(4242, users, "", "migrate vm1 n1"), 1);
    assert_non_null(strstr(err, "permission denied: migrate"));
    assert_int_equal(count_lines_with(log_path, "drain n1 refused to uid 4242 (no such user)"),
                     1);

    /* The admin group as the caller's primary group... */
    char groups[32];
    snprintf(groups, sizeof groups, "%u", (unsigned)users);
    assert_int_equal(nodectl_as(4243, nogroup, groups, "drain n1"), 0);
    /* ...or as a group of the caller's user (nobody is in nogroup). */
    assert_int_equal(nodectl_as(nobody->pw_uid, users, "", "undrain n1"), 0);
    assert_int_equal(count_lines_with(log_path, "drain n1, asked by uid 4243"), 1);
    char line[128];
    snprintf(line, sizeof line, "undrain n1, asked by uid %u (nobody)", (unsigned)nobody->pw_uid);
    assert_int_equal(count_lines_with(log_path, line), 1);
    /* Root may; and is logged too. */
    assert_int_equal(nodectl_run(conf, "drain n1", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(count_lines_with(log_path, "drain n1, asked by uid 0 (root)"), 1);

    /* Outside the group: no connection at all. */
    assert_int_equal(nodectl_as(4244, 4244, "", "status"), 1);
    assert_non_null(strstr(err, "permission denied (root and the members of group users may "
                                "use it)"));
    assert_int_equal(agent_stop(agent, SIGTERM, 10000), 0);
}

static void a_group_that_does_not_exist_is_a_configuration_error(void **state) {
    char dir[PATH_MAX], text[1024], path[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/bad", test_dir);
    mkdir(dir, 0755);
    for (int admin = 0; admin < 2; admin++) {
        snprintf(text, sizeof text, "[cluster]\ninsecure = true\n[node]\nname = n1\n"
                 "[control]\n%s = no-such-group-xyz\n", admin ? "admin_group" : "group");
        test_write_file(dir, "nodectl.conf", text, path, sizeof path);
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "\"$NODECTL\" agent -c '%s' --check", path);
        assert_int_equal(run_capture(cmd, out, sizeof out, err, sizeof err), 2);
        char want[256];
        snprintf(want, sizeof want, "key '%s' in [control]: no group named 'no-such-group-xyz' "
                 "(create it with `addgroup --system no-such-group-xyz`)",
                 admin ? "admin_group" : "group");
        assert_non_null(strstr(err, want));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_and_changes),
        cmocka_unit_test(requests_are_described),
        cmocka_unit_test(root_and_the_admin_group_may_change),
        cmocka_unit_test(the_socket_belongs_to_its_group_and_changes_need_the_admin_group),
        cmocka_unit_test(a_group_that_does_not_exist_is_a_configuration_error),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
