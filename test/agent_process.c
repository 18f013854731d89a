#include "agent_process.h"
#include "test_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

pid_t agent_start(const char *conf, const char *log) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(NODECTL_BIN, "nodectl", "agent", "-c", conf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int decode_status(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int agent_wait_exit(pid_t pid, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return decode_status(status);
        if (r < 0)
            return -1;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int agent_stop(pid_t pid, int sig, int timeout_ms) {
    kill(pid, sig);
    return agent_wait_exit(pid, timeout_ms);
}

int agent_wait_ready(pid_t pid, const char *conf, int timeout_ms) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' -t 500 status >/dev/null 2>&1", conf);
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        if (waitpid(pid, NULL, WNOHANG) != 0)
            return -1;
        if (run_capture(cmd, NULL, 0, NULL, 0) == 0)
            return 0;
        sleep_ms(50);
    }
    return -1;
}

static void slurp(int fd, char *buf, size_t len) {
    size_t got = 0;
    for (;;) {
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && buf && got + 1 < len; i++)
            buf[got++] = tmp[i];
    }
    if (buf && len)
        buf[got] = '\0';
}

int run_capture(const char *cmd, char *out, size_t len, char *err, size_t errlen) {
    setenv("NODECTL", NODECTL_BIN, 1);
    char errpath[] = "/tmp/nodectl-stderr-XXXXXX";
    int errfd = mkstemp(errpath);
    if (errfd < 0) {
        perror("mkstemp");
        abort();
    }
    unlink(errpath);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        perror("pipe");
        abort();
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(errfd, 2);
        close(pipefd[0]);
        close(pipefd[1]);
        close(errfd);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    slurp(pipefd[0], out, len);
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    lseek(errfd, 0, SEEK_SET);
    slurp(errfd, err, errlen);
    close(errfd);
    return decode_status(status);
}

int nodectl_run(const char *conf, const char *args, char *out, size_t len, char *err,
                size_t errlen) {
    char cmd[PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd, "\"$NODECTL\" -c '%s' %s", conf, args);
    return run_capture(cmd, out, len, err, errlen);
}

int nodectl_run_until(const char *conf, const char *args, const char *needle, int timeout_s,
                      char *out, size_t len, char *err, size_t errlen) {
    for (int t = 0; t < timeout_s * 5; t++) {
        if (nodectl_run(conf, args, out, len, err, errlen) == 0 && strstr(out, needle))
            return 0;
        usleep(200000);
    }
    return -1;
}

int nodectl_expect(const char *conf, const char *args, const char *needle, int timeout_s,
                   const char *log, char *out, size_t len, char *err, size_t errlen) {
    if (nodectl_run_until(conf, args, needle, timeout_s, out, len, err, errlen) == 0)
        return 0;
    fprintf(stderr, "%s: `%s` never printed '%s'; last: %s%s\n", conf, args, needle, out, err);
    agent_log_tail(log, 25);
    return -1;
}

void agent_log_tail(const char *log, int lines) {
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "tail -%d '%s' >&2", lines, log);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot show %s\n", log);
}

int count_lines_with(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

pid_t agent_start_in(const char *dir, const char *config_text, char *conf, size_t len) {
    char log[4200];
    test_write_file(dir, "nodectl.conf", config_text, conf, len);
    snprintf(log, sizeof log, "%s/agent.log", dir);
    pid_t pid = agent_start(conf, log);
    return agent_wait_ready(pid, conf, 10000) == 0 ? pid : -1;
}

size_t count_occurrences(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}
