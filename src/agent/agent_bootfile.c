/* The state files bound to this boot (src/common/boot_file.h): the stamp
 * clock's anchor and the run lease, which an agent restarted on the same
 * boot resumes. The boot id is the kernel's (random(4): a new one at each
 * boot), read once when a file is opened: no agent outlives its boot. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"

/* This boot's id; "" when the kernel does not say. */
static void boot_id(char *out, size_t len) {
    size_t n;
    char *text = read_small_file(BOOT_ID_FILE, BOOT_FILE_ID_MAX, &n);
    out[0] = '\0';
    if (text) {
        text[strcspn(text, "\n")] = '\0';
        snprintf(out, len, "%s", text);
        free(text);
    }
}

void agent_bootfile_open(const struct agent *a, struct agent_bootfile *f, const char *name,
                         const char *what, const char *lost) {
    snprintf(f->path, sizeof f->path, "%s/%s", a->cfg.state_dir, name);
    boot_id(f->boot, sizeof f->boot);
    f->what = what;
    f->read_errno = 0;
    f->writer = a->writer;
    f->file = file_writer_add(a->writer, f->path, 0644, what, lost);
    assert(f->file >= 0); /* FILE_WRITER_FILES has room for every file written so */
}

enum boot_file_kept agent_bootfile_read(struct agent_bootfile *f, int64_t *v, size_t n) {
    size_t len = 0;
    char *text = read_small_file(f->path, BOOT_FILE_TEXT_MAX, &len);
    int err = errno;
    enum boot_file_kept k = boot_file_parse(text, len, f->boot, v, n);
    free(text);
    /* No text: none kept only when there is no file. */
    if (k == BOOT_FILE_NONE && err != ENOENT) {
        f->read_errno = err;
        k = BOOT_FILE_UNREADABLE;
    }
    return k;
}

void agent_bootfile_not_resumed(const struct agent_bootfile *f, enum boot_file_kept why) {
    assert(why != BOOT_FILE_THIS_BOOT);
    if (boot_file_kept_normal(why))
        log_info("no %s resumed from %s: %s", f->what, f->path, boot_file_kept_name(why));
    else
        log_warn("no %s resumed from %s: %s%s%s", f->what, f->path, boot_file_kept_name(why),
                 why == BOOT_FILE_UNREADABLE ? ": " : "",
                 why == BOOT_FILE_UNREADABLE ? strerror(f->read_errno) : "");
}

int agent_bootfile_write(struct agent_bootfile *f, const int64_t *v, size_t n) {
    char text[BOOT_FILE_TEXT_MAX];
    int len = boot_file_format(f->boot, v, n, text, sizeof text);
    if (len < 0)
        return -1;
    return file_writer_put_copy(f->writer, f->file, text, (size_t)len);
}
