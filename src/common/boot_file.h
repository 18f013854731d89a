/* A small state file bound to the boot that wrote it: "BOOT V1 .. Vn\n",
 * the kernel's boot id, then n decimal integers. What an agent keeps across
 * its own restart but not across a reboot, after which the monotonic clock
 * its values are read on starts again: the stamp clock's anchor
 * (agent_stamp.c) and the run lease's end (agent_fence.c).
 *
 * Pure: values and a boot id in, text out, and back. The agent reads and
 * writes the files (agent_bootfile.c); nodesim keeps the same text on its
 * simulated disk and reads it with the same parser. */
#ifndef NODECTL_BOOT_FILE_H
#define NODECTL_BOOT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A boot id and its NUL: the kernel's is a UUID, 36 characters. */
#define BOOT_FILE_ID_MAX 64
#define BOOT_FILE_VALUES_MAX 2
/* The longest text: the id, a space and up to 20 characters ("-" and 19
 * digits) a value, the newline and the NUL. */
#define BOOT_FILE_TEXT_MAX (BOOT_FILE_ID_MAX + BOOT_FILE_VALUES_MAX * 21 + 1)

/* What a start finds kept: values of this boot, or why none. */
enum boot_file_kept {
    BOOT_FILE_THIS_BOOT,    /* the values, kept on this boot */
    BOOT_FILE_NONE,         /* none kept yet */
    BOOT_FILE_OTHER_BOOT,   /* kept on another boot */
    BOOT_FILE_NO_BOOT_ID,   /* this boot's id is unknown, so nothing can be matched */
    BOOT_FILE_UNREADABLE,   /* the file is there but cannot be read */
    BOOT_FILE_MALFORMED,    /* not "BOOT V1 .. Vn\n" */
    BOOT_FILE_OUT_OF_RANGE, /* of this boot, with values its user refuses */
};

/* "none kept yet", "another boot's", ...: for a log line. */
const char *boot_file_kept_name(enum boot_file_kept k);
/* Whether a start that resumes nothing for this reason is normal (a first
 * start, a start after a reboot), rather than a sign of something wrong. */
bool boot_file_kept_normal(enum boot_file_kept k);

/* The text of v[0..n) kept on boot into out: its length, or -1 when boot
 * is not one ("", BOOT_FILE_ID_MAX or longer, holding a space or a control
 * character) or out is too small. n is at most BOOT_FILE_VALUES_MAX. */
int boot_file_format(const char *boot, const int64_t *v, size_t n, char *out, size_t len);

/* Reads text[0..len) (NULL: no file) against this boot's id (""
 * unknown, like one boot_file_format refuses). BOOT_FILE_THIS_BOOT with the values in v[0..n); any other
 * answer leaves v untouched. The text is malformed unless it is exactly a
 * boot id and n values, each written as boot_file_format writes them, with
 * the newline optional. */
enum boot_file_kept boot_file_parse(const char *text, size_t len, const char *boot, int64_t *v,
                                    size_t n);

#endif
