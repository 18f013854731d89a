/* Real `nodectl` processes for integration tests: agents started from a
 * config file, and CLI runs with their output and exit code. */
#ifndef NODECTL_AGENT_PROCESS_H
#define NODECTL_AGENT_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* Starts `nodectl agent -c conf` with stderr (and stdout) appended to log.
 * Returns the pid; aborts the test program if fork fails. */
pid_t agent_start(const char *conf, const char *log);
/* Writes config_text to dir/nodectl.conf (its path into conf), starts an
 * agent on it logging to dir/agent.log and waits until it answers. Returns
 * its pid, or -1 if it did not come up within 10 s. */
pid_t agent_start_in(const char *dir, const char *config_text, char *conf, size_t len);
/* Waits until `nodectl -c conf status` succeeds; 0, or -1 after timeout_ms
 * or if the agent exited. */
int agent_wait_ready(pid_t pid, const char *conf, int timeout_ms);
/* Sends sig and waits for the exit; returns the exit code, 128+signal if it
 * was killed, or -1 if it did not exit within timeout_ms (it is then
 * killed with SIGKILL). */
int agent_stop(pid_t pid, int sig, int timeout_ms);
/* Waits for an agent that should exit on its own; same return values. */
int agent_wait_exit(pid_t pid, int timeout_ms);

/* Runs the shell command line cmd (the nodectl binary is $NODECTL), puts
 * its stdout in out (NUL-terminated, truncated to len) and its stderr in
 * err if err is not NULL; returns the exit code. */
int run_capture(const char *cmd, char *out, size_t len, char *err, size_t errlen);

/* Runs `nodectl -c conf ARGS` (args as the shell splits them); as
 * run_capture. */
int nodectl_run(const char *conf, const char *args, char *out, size_t len, char *err,
                size_t errlen);
/* Runs it every 200 ms until it exits 0 with needle in its stdout; 0, or -1
 * after timeout_s (out and err then hold the last run's). */
int nodectl_run_until(const char *conf, const char *args, const char *needle, int timeout_s,
                      char *out, size_t len, char *err, size_t errlen);

/* Prints the last `lines` lines of an agent's log on stderr, for a
 * failure message. */
void agent_log_tail(const char *log, int lines);
/* nodectl_run_until that, when it gives up, shows on stderr what the last
 * run printed and the tail of the agent's log. */
int nodectl_expect(const char *conf, const char *args, const char *needle, int timeout_s,
                   const char *log, char *out, size_t len, char *err, size_t errlen);

/* Counts the lines of the file that contain needle. */
int count_lines_with(const char *path, const char *needle);

/* Counts the times needle occurs in hay, without overlaps. */
size_t count_occurrences(const char *hay, const char *needle);

#endif
