/* Leveled logging to stderr, systemd style: journald adds the time stamp,
 * so a line is "<level prefix>message". The "<N>" prefix is the sd-daemon(3)
 * priority, which journald strips and turns into the entry's priority.
 *
 * In the json format a line is one JSON object (time, level, priority,
 * message), for log shippers; it keeps the "<N>" prefix only when stderr
 * is journald's stream ($JOURNAL_STREAM, systemd.exec(5)), so that the
 * priority still reaches the journal and a file holds plain JSON lines. */
#ifndef NODECTL_LOG_H
#define NODECTL_LOG_H

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_INFO = 6, LOG_DEBUG = 7 };

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* Parses "text", "json"; returns -1 on anything else. */
int log_format_parse(const char *s, enum log_format *out);
/* Parses "error", "warn", "info", "debug"; returns -1 on anything else. */
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
