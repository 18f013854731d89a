#include "test_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void test_mkdtemp(char *out, size_t len) {
    const char *base = getenv("TMPDIR");
    snprintf(out, len, "%s/nodectl-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        abort();
    }
}

void test_rmtree(const char *dir) {
    char cmd[1200];
    if (strncmp(dir, "/tmp/", 5) != 0 && !getenv("TMPDIR"))
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

void test_write_file(const char *dir, const char *name, const char *text, char *out, size_t len) {
    snprintf(out, len, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(out);
        abort();
    }
}

char test_dir[4096];

int test_dir_setup(void **state) {
    test_mkdtemp(test_dir, sizeof test_dir);
    return 0;
}

int test_dir_teardown(void **state) {
    test_rmtree(test_dir);
    return 0;
}

/* Below Linux's ephemeral range (32768-60999), where the outgoing
 * connections of other tests would take ports from under us. */
unsigned test_port_base(void) { return 20000 + (unsigned)(getpid() % 600) * 20; }
