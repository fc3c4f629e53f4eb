/*
 * proc_watch.h - the process collector: configured process groups, each
 * found every round by name (a process's comm, or its exe's basename), by
 * a pid file, or by a cgroup v2 directory (every pid in its cgroup.procs,
 * and in its sub-cgroups').
 *
 * Metrics (label process = the group's name; names after process-exporter's
 * namedprocess_namegroup_*):
 *   telltale_process_up                      1 when the group has a process
 *   telltale_process_count                   processes in the group
 *   telltale_process_cpu_seconds_total{mode} user / system CPU, a counter:
 *                                            the sum of the deltas of every
 *                                            process seen, so it never goes
 *                                            down when a process exits
 *   telltale_process_resident_memory_bytes   sum of RSS
 *   telltale_process_threads                 sum of threads
 *   telltale_process_open_fds                sum of open fds (of the
 *                                            processes whose fd dir we may read)
 *   telltale_process_start_time_seconds      start of the main process
 *   telltale_process_restarts_total          main pid changes seen
 * The main process is the oldest one of the group (the pid file's pid for
 * a pid file). When it changes (a restart, also after the group was down)
 * the collector emits the event "telltale.process.restarted" (warning;
 * attrs process, old_pid, new_pid, name).
 */
#ifndef TT_AGENT_PROC_WATCH_H
#define TT_AGENT_PROC_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include "agent/collector.h"

enum proc_match {
    PROC_BY_NAME = 0,
    PROC_BY_PIDFILE,
    PROC_BY_CGROUP,
};

struct proc_spec {
    const char *label; /* the group's name: the process label */
    enum proc_match match;
    const char *arg; /* comm or exe basename / pid file path / cgroup directory */
};

struct proc_watch;

/* proc_watch_new copies the specs; proc_root is /proc (NULL) or a test's
 * tree. Returns 0 with *out (proc_watch_free), TT_EINVAL (empty label or
 * argument, relative pid file or cgroup path, a label twice: message in
 * err), TT_ENOMEM. */
int proc_watch_new(struct proc_watch **out, const struct proc_spec *specs, size_t n,
                   const char *proc_root, char *err, size_t errlen);

/* proc_watch_collect finds every group's processes and emits their metrics
 * (and restart events) at now_ms through e. Returns 0, TT_ENOMEM, or the
 * first error e returned. */
int proc_watch_collect(struct proc_watch *w, const struct agent_emit *e, int64_t now_ms);

/* proc_watch_free frees w (NULL is fine). */
void proc_watch_free(struct proc_watch *w);

#endif
