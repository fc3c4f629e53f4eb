/*
 * daemon.h - what the long-running subcommands (`telltale server`,
 * `telltale agent`) share: log lines to stderr, and SIGINT/SIGTERM read
 * from a signalfd so that every thread leaves them alone.
 */
#ifndef TT_CLI_DAEMON_H
#define TT_CLI_DAEMON_H

#include <signal.h>
#include <stddef.h>
#include "core/log.h"

/* daemon_stderr_sink is a log sink (log.h) writing each line with one
 * write(2), so lines from different threads stay whole. */
void daemon_stderr_sink(void *ctx, enum log_level level, const char *line, size_t len);

/* daemon_signals_begin blocks SIGINT and SIGTERM in the calling thread (call
 * it before starting any thread: they inherit the mask), ignores SIGPIPE and
 * returns a signalfd for the two in *sfd; *old gets the previous mask for
 * daemon_signals_end. who names the command in the error printed to stderr.
 * Returns 0 or -1 (nothing to undo then). */
int daemon_signals_begin(const char *who, sigset_t *old, int *sfd);

/* daemon_signals_end closes sfd (if >= 0) and restores the mask old. */
void daemon_signals_end(int sfd, const sigset_t *old);

/* daemon_wait_signal waits up to timeout_ms (-1: for ever) for SIGINT or
 * SIGTERM on sfd: returns the signal number, 0 on timeout, -1 if the
 * signalfd failed (errno set). */
int daemon_wait_signal(int sfd, int timeout_ms);

#endif
