/* Crash-safe replacement of a small file: after a crash at any point the
 * path holds either the old or the new content, never a mix. */
#ifndef NODECTL_ATOMIC_FILE_H
#define NODECTL_ATOMIC_FILE_H

#include <stddef.h>

/* Writes data to "path.tmp", fsyncs it, renames it over path and fsyncs the
 * directory, so that the rename itself is durable (rename(2) is atomic but
 * not durable until the directory entry reaches the disk). Returns 0, or -1
 * with errno set. */
int atomic_write_file(const char *path, const void *data, size_t len, unsigned mode);

/* Reads at most max bytes of path into a new buffer (NUL-terminated for
 * convenience; *len excludes the NUL). Returns NULL with errno set; EFBIG if
 * the file is larger than max. The caller frees the buffer. */
char *read_small_file(const char *path, size_t max, size_t *len);

/* mkdir -p with the given mode for the directories it creates. */
int make_dirs(const char *path, unsigned mode);

#endif
