#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum log_level current_level = LOG_INFO;

static const struct {
    const char *name;
    enum log_level level;
} level_names[] = {
    {"error", LOG_ERR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};

void log_set_level(enum log_level level) { current_level = level; }

int log_level_parse(const char *s, enum log_level *out) {
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return 0;
        }
    }
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...) {
    if (level > current_level)
        return;
    const char *word = level == LOG_ERR ? "error" : level == LOG_WARN ? "warn"
                     : level == LOG_INFO ? "info" : "debug";
    /* One fprintf per line so concurrent writers do not interleave mid-line. */
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "<%d>%s: %s\n", (int)level, word, line);
}
