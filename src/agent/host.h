/*
 * host.h - the agent's host collectors: what the node's kernel reports in
 * /proc (and, for collectors that need it, /sys), turned into samples with
 * node_exporter's metric names, label names and units, so dashboards and
 * queries written for node_exporter work unchanged. One file per collector
 * (host_cpu.c, host_mem.c, ...); this header lists them.
 *
 * Invariants (those of collector.h): every call reads its files fresh; a
 * missing file or directory is skipped silently (no PSI in this kernel, no
 * IPv6); a malformed line is reported through e->warn as "PATH:LINE: what"
 * and skipped, the rest of the file is still read. Every sample of one
 * host_collect_all call carries the same timestamp. Each collector calls
 * e->meta once per family it knows, before that family's samples (families
 * whose names come from the data, like node_memory_*, get it just before
 * their one sample).
 */
#ifndef TT_AGENT_HOST_H
#define TT_AGENT_HOST_H

#include <stddef.h>
#include <stdint.h>
#include "agent/collector.h"

/* Where the kernel's files are: procfs and sysfs roots ("/proc" and "/sys"
 * when NULL). Tests point them at fixture trees. Borrowed. */
struct host_opts {
    const char *proc;
    const char *sys;
};

/* One collector: its name (the node_exporter collector it mirrors) and its
 * function, which returns 0, or the TT_E* code e->sample or e->meta
 * returned (it stops there). Problems with the files are warnings, never
 * errors. */
struct host_collector {
    const char *name;
    int (*collect)(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
};

/* host_cpu.c: node_cpu_seconds_total{cpu,mode}, node_cpu_guest_seconds_total{cpu,mode}
 * from /proc/stat, in seconds (USER_HZ from sysconf). */
int host_cpu_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_stat.c: node_context_switches_total, node_intr_total, node_forks_total,
 * node_boot_time_seconds, node_procs_running, node_procs_blocked from /proc/stat. */
int host_stat_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_mem.c: node_memory_<Field>[_bytes] from /proc/meminfo, swap included
 * (SwapTotal, SwapFree, SwapCached), named as node_exporter names them. */
int host_mem_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_load.c: node_load1, node_load5, node_load15 from /proc/loadavg. */
int host_load_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_pressure.c: node_pressure_{cpu,io,memory}_waiting_seconds_total and
 * node_pressure_{io,memory}_stalled_seconds_total from /proc/pressure/. */
int host_pressure_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_disk.c: node_disk_*{device} from /proc/diskstats, without the
 * devices node_exporter ignores by default (ram, loop, fd, partitions). */
int host_disk_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_fs.c: node_filesystem_*{device,fstype,mountpoint} through statvfs()
 * of the mounts in /proc/self/mounts, without pseudo filesystems and the
 * mount points node_exporter excludes by default. */
int host_fs_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_net.c: node_network_{receive,transmit}_*_total{device} from /proc/net/dev. */
int host_net_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_netclass.c: node_network_{up,mtu_bytes,carrier,speed_bytes,transmit_queue_length}{device}
 * from the interfaces in /sys/class/net (the sysfs root). */
int host_netclass_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_tcp.c: node_tcp_connection_states{state} from /proc/net/tcp and tcp6. */
int host_tcp_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);
/* host_tcp_diag_count counts this network namespace's TCP sockets by state
 * (n[1] established .. n[11] closing, the kernel's numbers; n[0] unused)
 * through sock_diag, as host_tcp_collect does on the real /proc: with
 * one_dump, one TCPDIAG_GETSOCK dump of every family, else one
 * SOCK_DIAG_BY_FAMILY dump per family. Returns 0, or TT_EIO (n untouched)
 * when netlink cannot be used or refused the request. */
int host_tcp_diag_count(int one_dump, uint64_t n[12]);
/* host_filefd.c: node_filefd_allocated, node_filefd_maximum from /proc/sys/fs/file-nr. */
int host_filefd_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);

/* The collectors above, in the order host_collect_all runs them. */
extern const struct host_collector host_collectors[];
extern const size_t host_ncollectors;

/* host_collect_all runs every collector in host_collectors with samples at
 * now_ms (ms since the epoch). o may be NULL (the real /proc and /sys).
 * Returns 0, or the first TT_E* code an emitter callback returned (the
 * remaining collectors are not run). */
int host_collect_all(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms);

#endif
