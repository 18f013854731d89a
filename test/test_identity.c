/* The node identity file and the atomic write under it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/identity.h"
#include "test_helpers.h"



static void created_once_then_stable(void **state) {
    char sd[PATH_MAX + 16], err[256];
    snprintf(sd, sizeof sd, "%s/a/b", test_dir); /* does not exist yet */
    uuid_t first, again;
    assert_int_equal(identity_load_or_create(sd, first, err, sizeof err), 0);
    assert_false(uuid_is_null(first));
    assert_int_equal(identity_load_or_create(sd, again, err, sizeof err), 0);
    assert_memory_equal(first, again, sizeof(uuid_t));

    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/node-id", sd);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* the temporary was renamed away */
    size_t len;
    char *text = read_small_file(path, 100, &len);
    assert_non_null(text);
    char want[37];
    uuid_unparse_lower(first, want);
    assert_int_equal(len, 37);
    assert_memory_equal(text, want, 36);
    free(text);
}

static void expect_corrupt(const char *content) {
    char sd[PATH_MAX + 16], path[PATH_MAX + 32], err[512];
    snprintf(sd, sizeof sd, "%s/c", test_dir);
    assert_int_equal(make_dirs(sd, 0755), 0);
    snprintf(path, sizeof path, "%s/node-id", sd);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    uuid_t id;
    assert_int_equal(identity_load_or_create(sd, id, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt identity file"));
    /* The damaged file is left for the operator, not replaced. */
    size_t len;
    char *text = read_small_file(path, 1 << 20, &len);
    assert_non_null(text);
    assert_string_equal(text, content);
    free(text);
}

static void corrupt_file_is_an_error_not_a_new_identity(void **state) {
    expect_corrupt("");
    expect_corrupt("not-a-uuid-at-all-but-36-chars-long!\n");
    expect_corrupt("1b4e28ba-2fa1-11d2-883f-0016d3cca427"); /* no newline: truncated write */
    expect_corrupt("1b4e28ba-2fa1-11d2-883f-0016d3cca427\n1b4e28ba-2fa1-11d2-883f-0016d3cca428\n");
}

static void unreadable_state_dir_is_an_error(void **state) {
    char sd[PATH_MAX + 16], err[512];
    /* A regular file where the directory should be. */
    snprintf(sd, sizeof sd, "%s/file", test_dir);
    FILE *f = fopen(sd, "w");
    assert_non_null(f);
    fclose(f);
    uuid_t id;
    assert_int_equal(identity_load_or_create(sd, id, err, sizeof err), -1);
    assert_non_null(strstr(err, sd));
}

static void atomic_write_replaces_content(void **state) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/f", test_dir);
    assert_int_equal(atomic_write_file(path, "one", 3, 0600), 0);
    assert_int_equal(atomic_write_file(path, "second", 6, 0600), 0);
    size_t len;
    char *text = read_small_file(path, 100, &len);
    assert_non_null(text);
    assert_string_equal(text, "second");
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_null(read_small_file(path, 3, &len)); /* larger than the limit */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(created_once_then_stable),
        cmocka_unit_test(corrupt_file_is_an_error_not_a_new_identity),
        cmocka_unit_test(unreadable_state_dir_is_an_error),
        cmocka_unit_test(atomic_write_replaces_content),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
