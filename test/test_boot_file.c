/* The state files bound to a boot (src/common/boot_file.c): what is
 * written is read back on the same boot and only there, and a text the
 * format does not make is refused whole, with the reason a start logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/boot_file.h"

#define BOOT "2f0b7e4c-8a43-4d55-9b2e-0c7a51d3e9f1"

static enum boot_file_kept parse(const char *text, const char *boot, int64_t *v, size_t n) {
    return boot_file_parse(text, text ? strlen(text) : 0, boot, v, n);
}

static void written_and_read_back_on_the_same_boot(void **state) {
    (void)state;
    char text[BOOT_FILE_TEXT_MAX];
    int64_t in[2] = {INT64_MIN, INT64_MAX}, out[2] = {0, 0};
    int len = boot_file_format(BOOT, in, 2, text, sizeof text);
    assert_int_equal(len, (int)strlen(text));
    assert_string_equal(text, BOOT " -9223372036854775808 9223372036854775807\n");
    assert_int_equal(parse(text, BOOT, out, 2), BOOT_FILE_THIS_BOOT);
    assert_memory_equal(out, in, sizeof in);
    /* The longest id and values fit BOOT_FILE_TEXT_MAX. */
    char id[BOOT_FILE_ID_MAX];
    memset(id, 'b', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    int64_t low[2] = {INT64_MIN, INT64_MIN};
    assert_true(boot_file_format(id, low, 2, text, sizeof text) > 0);
    assert_int_equal(parse(text, id, out, 2), BOOT_FILE_THIS_BOOT);
    /* One value; the newline optional. */
    int64_t until = 0;
    assert_int_equal(parse(BOOT " 0", BOOT, &until, 1), BOOT_FILE_THIS_BOOT);
    assert_int_equal(until, 0);
    assert_int_equal(parse(BOOT " 12345\n", BOOT, &until, 1), BOOT_FILE_THIS_BOOT);
    assert_int_equal(until, 12345);
}

static void another_boot_none_or_no_boot_id(void **state) {
    (void)state;
    int64_t v[2] = {7, 8};
    assert_int_equal(parse("other-boot 1 2\n", BOOT, v, 2), BOOT_FILE_OTHER_BOOT);
    /* An id that begins as this one's is another. */
    assert_int_equal(parse(BOOT "0 1 2\n", BOOT, v, 2), BOOT_FILE_OTHER_BOOT);
    assert_int_equal(parse("2f0b7e4c 1 2\n", BOOT, v, 2), BOOT_FILE_OTHER_BOOT);
    assert_int_equal(parse(NULL, BOOT, v, 2), BOOT_FILE_NONE);
    /* Without this boot's id nothing can be matched, whatever is kept. */
    assert_int_equal(parse(BOOT " 1 2\n", "", v, 2), BOOT_FILE_NO_BOOT_ID);
    assert_int_equal(parse(NULL, "", v, 2), BOOT_FILE_NO_BOOT_ID);
    assert_int_equal(parse(BOOT " 1 2\n", "an id", v, 2), BOOT_FILE_NO_BOOT_ID);
    /* Untouched unless of this boot. */
    assert_int_equal(v[0], 7);
    assert_int_equal(v[1], 8);
}

static void what_the_format_does_not_make_is_malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "\n",
        BOOT,
        BOOT "\n",
        BOOT " 1\n",                        /* a value short */
        BOOT " 1 2 3\n",                    /* one too many */
        BOOT " 1 2\n\n",
        BOOT " 1 2 \n",
        BOOT "  1 2\n",
        " " BOOT " 1 2\n",
        BOOT " +1 2\n",
        BOOT " 01 2\n",
        BOOT " -0 2\n",
        BOOT " - 2\n",
        BOOT " 1x 2\n",
        BOOT " 1 2x\n",
        BOOT " 9223372036854775808 2\n",   /* past INT64_MAX */
        BOOT " -9223372036854775809 2\n",  /* before INT64_MIN */
        BOOT " 99999999999999999999 2\n",  /* 20 digits */
        BOOT "\t1 2\n",
        "boot\x01id 1 2\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t v[2] = {7, 8};
        if (parse(bad[i], BOOT, v, 2) != BOOT_FILE_MALFORMED)
            fail_msg("not refused as malformed: '%s'", bad[i]);
        assert_int_equal(v[0], 7);
    }
    /* An id as long as the format refuses. */
    char text[BOOT_FILE_ID_MAX + 8];
    memset(text, 'b', BOOT_FILE_ID_MAX);
    memcpy(text + BOOT_FILE_ID_MAX, " 1 2\n", 6);
    int64_t v[2];
    assert_int_equal(parse(text, BOOT, v, 2), BOOT_FILE_MALFORMED);
    /* A NUL inside the file. */
    assert_int_equal(boot_file_parse(BOOT " 1 2\n\0x", sizeof BOOT + 6, BOOT, v, 2),
                     BOOT_FILE_MALFORMED);
}

static void what_the_format_cannot_keep_is_refused(void **state) {
    (void)state;
    char text[BOOT_FILE_TEXT_MAX], id[BOOT_FILE_ID_MAX + 1];
    int64_t v[2] = {1, 2};
    assert_int_equal(boot_file_format("", v, 2, text, sizeof text), -1);
    assert_int_equal(boot_file_format("a b", v, 2, text, sizeof text), -1);
    assert_int_equal(boot_file_format("a\n", v, 2, text, sizeof text), -1);
    memset(id, 'b', BOOT_FILE_ID_MAX);
    id[BOOT_FILE_ID_MAX] = '\0';
    assert_int_equal(boot_file_format(id, v, 2, text, sizeof text), -1);
    /* Too small a buffer, by one. */
    assert_int_equal(boot_file_format("b", v, 2, text, strlen("b 1 2\n")), -1);
    assert_int_equal(boot_file_format("b", v, 2, text, strlen("b 1 2\n") + 1), 6);
}

static void reasons_have_names_and_only_a_first_start_or_a_reboot_is_normal(void **state) {
    (void)state;
    assert_string_equal(boot_file_kept_name(BOOT_FILE_NONE), "none kept yet");
    assert_string_equal(boot_file_kept_name(BOOT_FILE_OTHER_BOOT), "another boot's");
    assert_true(boot_file_kept_normal(BOOT_FILE_NONE));
    assert_true(boot_file_kept_normal(BOOT_FILE_OTHER_BOOT));
    assert_false(boot_file_kept_normal(BOOT_FILE_NO_BOOT_ID));
    assert_false(boot_file_kept_normal(BOOT_FILE_UNREADABLE));
    assert_false(boot_file_kept_normal(BOOT_FILE_MALFORMED));
    assert_false(boot_file_kept_normal(BOOT_FILE_OUT_OF_RANGE));
    for (int k = BOOT_FILE_THIS_BOOT; k <= BOOT_FILE_OUT_OF_RANGE; k++)
        assert_string_not_equal(boot_file_kept_name((enum boot_file_kept)k), "?");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(written_and_read_back_on_the_same_boot),
        cmocka_unit_test(another_boot_none_or_no_boot_id),
        cmocka_unit_test(what_the_format_does_not_make_is_malformed),
        cmocka_unit_test(what_the_format_cannot_keep_is_refused),
        cmocka_unit_test(reasons_have_names_and_only_a_first_start_or_a_reboot_is_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
