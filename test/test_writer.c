/* The agent's file writer (src/agent/agent_writer.c): the loop hands files
 * over and goes on; the thread writes the latest bytes of each, makes a
 * directory that went, writes what is pending when stopped, and logs a
 * file it cannot keep once until it is kept again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_internal.h"
#include "common/atomic_file.h"
#include "test_helpers.h"

static char *read_text(const char *path) {
    size_t len;
    return read_small_file(path, 4096, &len);
}

static bool has_text(const char *path, const char *want) {
    char *text = read_text(path);
    bool yes = text && strcmp(text, want) == 0;
    free(text);
    return yes;
}

static void put_text(struct file_writer *w, int file, const char *text) {
    assert_int_equal(file_writer_put_copy(w, file, text, strlen(text)), 0);
}

/* Many versions handed over at once: the file ends with the last, and stop
 * writes what is still pending. Two files, both written. */
static void the_latest_of_each_file_is_written(void **state) {
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof a, "%s/one/a", test_dir);
    snprintf(b, sizeof b, "%s/b", test_dir);
    struct file_writer *w = file_writer_start();
    assert_non_null(w);
    int fa = file_writer_add(w, a, 0600, "first", NULL);
    int fb = file_writer_add(w, b, 0644, "second", "nothing");
    assert_true(fa >= 0 && fb >= 0 && fa != fb);
    char text[32];
    for (int i = 0; i <= 200; i++) {
        snprintf(text, sizeof text, "a %d\n", i);
        put_text(w, fa, text);
        snprintf(text, sizeof text, "b %d\n", i);
        put_text(w, fb, text);
    }
    file_writer_stop(w);
    assert_true(has_text(a, "a 200\n"));
    assert_true(has_text(b, "b 200\n"));
    struct stat st;
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void no_room_past_the_limit(void **state) {
    struct file_writer *w = file_writer_start();
    assert_non_null(w);
    char p[PATH_MAX];
    for (int i = 0; i < FILE_WRITER_FILES; i++) {
        snprintf(p, sizeof p, "%s/f%d", test_dir, i);
        assert_int_equal(file_writer_add(w, p, 0600, "a file", NULL), i);
    }
    assert_int_equal(file_writer_add(w, p, 0600, "one too many", NULL), -1);
    file_writer_stop(w);
}

static size_t count_in(const char *path, const char *what) {
    char *text = read_text(path);
    size_t n = 0;
    for (const char *p = text; p && (p = strstr(p, what)); p += strlen(what))
        n++;
    free(text);
    return n;
}

/* Waits (up to 5 s) until the log at path has `count` lines with what. */
static bool wait_log(const char *path, const char *what, size_t count) {
    for (int t = 0; t < 500; t++, usleep(10000))
        if (count_in(path, what) >= count)
            return true;
    return false;
}

/* A file whose directory cannot be made (a plain file has its name): each
 * write fails, and it is logged once; once the way is clear the next write
 * succeeds and says so. */
static void a_failing_file_is_logged_once_until_kept(void **state) {
    char blocker[PATH_MAX], path[PATH_MAX], log_path[PATH_MAX];
    snprintf(blocker, sizeof blocker, "%s/blocked", test_dir);
    snprintf(path, sizeof path, "%s/inside", blocker);
    snprintf(log_path, sizeof log_path, "%s/log", test_dir);
    int fd = open(blocker, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    fflush(stderr);
    int saved = dup(2);
    int logfd = open(log_path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(saved >= 0 && logfd >= 0);
    dup2(logfd, 2);
    struct file_writer *w = file_writer_start();
    assert_non_null(w);
    int f = file_writer_add(w, path, 0600, "test value", "a restart forgets it");
    put_text(w, f, "1\n");
    bool first = wait_log(log_path, "cannot keep the test value", 1);
    put_text(w, f, "2\n");
    put_text(w, f, "3\n");
    usleep(200000);
    size_t logged = count_in(log_path, "cannot keep the test value");
    unlink(blocker);
    put_text(w, f, "4\n");
    bool again = wait_log(log_path, "test value written again", 1);
    file_writer_stop(w);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(logfd);
    assert_true(first);
    assert_int_equal(logged, 1);
    assert_true(count_in(log_path, "(a restart forgets it)") == 1);
    assert_true(again);
    assert_true(has_text(path, "4\n"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_latest_of_each_file_is_written),
        cmocka_unit_test(no_room_past_the_limit),
        cmocka_unit_test(a_failing_file_is_logged_once_until_kept),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
