/* Small helpers shared by the tests: temporary directories and files. */
#ifndef NODECTL_TEST_HELPERS_H
#define NODECTL_TEST_HELPERS_H

#include <stddef.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with
 * test_rmtree. Aborts the test program if it cannot be made. */
void test_mkdtemp(char *out, size_t len);
void test_rmtree(const char *dir);
/* cmocka group fixtures: a fresh test_dir for the group, removed after. */
extern char test_dir[4096];
int test_dir_setup(void **state);
int test_dir_teardown(void **state);
/* A block of 20 TCP ports for this test process: from its pid, so tests
 * that ctest runs in parallel, or two runs on one machine, do not collide. */
unsigned test_port_base(void);
/* Writes text to dir/name and puts the path in out. */
void test_write_file(const char *dir, const char *name, const char *text, char *out, size_t len);

#endif
