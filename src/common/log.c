#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;
static bool to_journal;

static const struct {
    const char *name;
    enum log_level level;
} level_names[] = {
    {"error", LOG_ERR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};

void log_set_level(enum log_level level) { current_level = level; }

/* $JOURNAL_STREAM is "device:inode" of the stream journald gave the
 * service; stderr is that stream when they match (systemd.exec(5)). */
static bool stderr_is_journal(void) {
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_format(enum log_format format) {
    current_format = format;
    to_journal = stderr_is_journal();
}

int log_level_parse(const char *s, enum log_level *out) {
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return 0;
        }
    }
    return -1;
}

int log_format_parse(const char *s, enum log_format *out) {
    if (strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

/* text as a JSON string's contents (RFC 8259 section 7) into out. */
static void json_escape(const char *text, char *out, size_t len) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && o + 7 < len; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20) {
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
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
    if (current_format == LOG_FORMAT_TEXT) {
        fprintf(stderr, "<%d>%s: %s\n", (int)level, word, line);
        return;
    }
    char msg[6 * sizeof line + 1], stamp[40];
    json_escape(line, msg, sizeof msg);
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
    char prefix[8] = "";
    if (to_journal)
        snprintf(prefix, sizeof prefix, "<%d>", (int)level);
    fprintf(stderr, "%s{\"time\":\"%s\",\"level\":\"%s\",\"priority\":%d,\"message\":\"%s\"}\n",
            prefix, stamp, word, (int)level, msg);
}
