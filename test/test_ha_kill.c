/* The self-fence without libvirt (src/agent/agent_ha_kill.c) on real
 * processes: a status file of libvirt's QEMU driver names a protected
 * guest's process, which is killed and then confirmed gone; an unprotected
 * guest's and a reused pid's process are left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent_internal.h"

/* A process whose arguments are those libvirt gives the QEMU of `guest`
 * (a shell blocked on its builtin read: no child of its own). */
static pid_t fake_qemu(const char *guest, int *hold) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        dup2(fds[0], 0);
        close(fds[1]);
        char name[128];
        snprintf(name, sizeof name, "guest=%s,debug-threads=on", guest);
        execl("/bin/sh", "qemu-system-x86_64", "-c", "read x", "-name", name, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    *hold = fds[1];
    /* Until the exec shows in /proc. */
    for (int i = 0; i < 500; i++) {
        char path[64], buf[256];
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)p);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        if (n > 0 && memmem(buf, n, "guest=", 6))
            break;
        usleep(10000);
    }
    return p;
}

static void status_file(const char *dir, const char *name, long pid, const char *ha) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.xml", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "<domstatus state='running' reason='booted' pid='%ld'>\n"
            "  <domain type='kvm' id='3'>\n    <name>%s</name>\n    <metadata>\n"
            "      <nodectl:placement xmlns:nodectl='https://nodectl.example/xmlns/placement/1'"
            " ha='%s'/>\n    </metadata>\n  </domain>\n</domstatus>\n",
            pid, name, ha);
    fclose(f);
}

static bool alive(pid_t p) {
    int st;
    return waitpid(p, &st, WNOHANG) == 0;
}

static void protected_qemu_killed_others_left(void **state) {
    (void)state;
    char dir[] = "/tmp/nodectl-test-qemu-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int h1, h2, h3;
    pid_t db = fake_qemu("db", &h1), web = fake_qemu("web", &h2), other = fake_qemu("cache", &h3);
    status_file(dir, "db", db, "yes");
    status_file(dir, "web", web, "no");
    /* Its pid reused by another guest's process: not killed. */
    status_file(dir, "old", other, "yes");
    size_t killed;
    char err[512] = "";
    assert_int_equal(agent_ha_kill_protected(dir, &killed, err, sizeof err), -1);
    assert_int_equal(killed, 1);
    assert_non_null(strstr(err, "confirmed at the next look"));
    int st;
    assert_int_equal(waitpid(db, &st, 0), db);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_true(alive(web));
    assert_true(alive(other));
    /* The next look confirms it: nothing protected runs any more. */
    assert_int_equal(agent_ha_kill_protected(dir, &killed, err, sizeof err), 0);
    assert_int_equal(killed, 0);
    assert_true(alive(web));

    /* A status file that names no process: cannot tell. */
    char path[512];
    snprintf(path, sizeof path, "%s/bad.xml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("<domstatus state='running'/>", f);
    fclose(f);
    assert_int_equal(agent_ha_kill_protected(dir, &killed, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad.xml"));

    kill(web, SIGKILL);
    kill(other, SIGKILL);
    waitpid(web, &st, 0);
    waitpid(other, &st, 0);
    close(h1);
    close(h2);
    close(h3);
    const char *names[] = {"db", "web", "old", "bad"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s.xml", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    /* No such directory: nothing is confirmed. */
    assert_int_equal(agent_ha_kill_protected(dir, &killed, err, sizeof err), -1);
    assert_non_null(strstr(err, dir));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(protected_qemu_killed_others_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
