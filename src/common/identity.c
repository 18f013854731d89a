#include "identity.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

int identity_load_or_create(const char *state_dir, uuid_t id, char *err, size_t errlen) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", state_dir, IDENTITY_FILE) >= (int)sizeof path) {
        snprintf(err, errlen, "%s: path too long", state_dir);
        return -1;
    }
    size_t len;
    char *text = read_small_file(path, 64, &len);
    if (text) {
        /* Exactly "<36-char uuid>\n"; anything else is damage. */
        int ok = len == 37 && text[36] == '\n';
        if (ok) {
            text[36] = '\0';
            ok = uuid_parse(text, id) == 0;
        }
        free(text);
        if (!ok) {
            snprintf(err, errlen, "%s: corrupt identity file (expected one UUID line); "
                     "restore it or remove it to make this a new node", path);
            return -1;
        }
        return 0;
    }
    if (errno == EFBIG) {
        snprintf(err, errlen, "%s: corrupt identity file (too large)", path);
        return -1;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    if (make_dirs(state_dir, 0755) != 0) {
        snprintf(err, errlen, "%s: cannot create state directory: %s", state_dir, strerror(errno));
        return -1;
    }
    char line[38];
    uuid_generate(id);
    uuid_unparse_lower(id, line);
    line[36] = '\n';
    line[37] = '\0';
    if (atomic_write_file(path, line, 37, 0644) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
