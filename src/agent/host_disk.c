/*
 * host_disk.c - I/O per block device from /proc/diskstats, as
 * node_exporter's diskstats collector names it (node_disk_*{device}):
 * sectors are 512 bytes whatever the device's sector size, times are
 * milliseconds turned into seconds, and the discard (kernel >= 4.18) and
 * flush (>= 5.5) families appear when the kernel has those fields.
 *
 * Devices node_exporter ignores by default are left out: its default
 * --collector.diskstats.device-exclude is
 *   ^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$
 * (RAM disks, loop devices, floppies, and partitions of sd/hd/vd/xvd/nvme
 * disks, whose I/O the whole disk already counts).
 */
#include <stdio.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

/* The fields after major, minor and name, in the kernel's order. */
static const struct {
    const char *name, *help;
    double scale;
    enum agent_metric_type type;
} stats[] = {
    { "node_disk_reads_completed_total", "The total number of reads completed successfully.", 1,
      AGENT_COUNTER },
    { "node_disk_reads_merged_total", "The total number of reads merged.", 1, AGENT_COUNTER },
    { "node_disk_read_bytes_total", "The total number of bytes read successfully.", 512,
      AGENT_COUNTER },
    { "node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.", 0.001,
      AGENT_COUNTER },
    { "node_disk_writes_completed_total", "The total number of writes completed successfully.", 1,
      AGENT_COUNTER },
    { "node_disk_writes_merged_total", "The number of writes merged.", 1, AGENT_COUNTER },
    { "node_disk_written_bytes_total", "The total number of bytes written successfully.", 512,
      AGENT_COUNTER },
    { "node_disk_write_time_seconds_total",
      "This is the total number of seconds spent by all writes.", 0.001, AGENT_COUNTER },
    { "node_disk_io_now", "The number of I/Os currently in progress.", 1, AGENT_GAUGE },
    { "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", 0.001, AGENT_COUNTER },
    { "node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
      0.001, AGENT_COUNTER },
    { "node_disk_discards_completed_total", "The total number of discards completed successfully.",
      1, AGENT_COUNTER },
    { "node_disk_discards_merged_total", "The total number of discards merged.", 1, AGENT_COUNTER },
    { "node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.", 1,
      AGENT_COUNTER },
    { "node_disk_discard_time_seconds_total",
      "This is the total number of seconds spent by all discards.", 0.001, AGENT_COUNTER },
    { "node_disk_flush_requests_total", "The total number of flush requests completed successfully",
      1, AGENT_COUNTER },
    { "node_disk_flush_requests_time_seconds_total",
      "This is the total number of seconds spent by all flush requests.", 0.001, AGENT_COUNTER },
};
#define NSTATS   (sizeof(stats) / sizeof(stats[0]))
#define MINSTATS 11 /* fields every kernel since 2.6 has */

/* digits skips one or more decimal digits; NULL when there is none. */
static const char *digits(const char *s)
{
    if (*s < '0' || *s > '9')
        return NULL;
    while (*s >= '0' && *s <= '9')
        s++;
    return s;
}

/* ignored tells whether node_exporter's default exclude pattern matches
 * the whole device name (see the file comment). */
static int ignored(const char *d)
{
    const char *p = NULL;

    if (strncmp(d, "ram", 3) == 0 || strncmp(d, "fd", 2) == 0)
        p = d + (d[0] == 'r' ? 3 : 2);
    else if (strncmp(d, "loop", 4) == 0)
        p = d + 4;
    else if ((d[0] == 'h' || d[0] == 's' || d[0] == 'v') && d[1] == 'd' && d[2] >= 'a' &&
             d[2] <= 'z')
        p = d + 3;
    else if (strncmp(d, "xvd", 3) == 0 && d[3] >= 'a' && d[3] <= 'z')
        p = d + 4;
    else if (strncmp(d, "nvme", 4) == 0) {
        p = digits(d + 4);
        if (p == NULL || *p != 'n')
            return 0;
        p = digits(p + 1);
        if (p == NULL || *p != 'p')
            return 0;
        p++;
    }
    if (p == NULL)
        return 0;
    p = digits(p);
    return p != NULL && *p == 0;
}

int host_disk_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    struct host_file hf;
    int rc = 0;

    if (!host_open(&hf, e, host_root(o, 'p'), "diskstats"))
        goto out;
    for (size_t i = 0; i < NSTATS && rc == 0; i++)
        rc = host_meta(e, stats[i].name, stats[i].type, stats[i].help);
    while (rc == 0 && host_next(&hf)) {
        char *f[3 + NSTATS];
        uint64_t v[NSTATS];
        struct agent_label l;
        size_t n, i;

        n = host_fields(hf.line, f, 3 + NSTATS);
        if (n == 0)
            continue;
        if (n < 3 + MINSTATS) {
            host_warn(&hf, "%zu fields, expected at least %d", n, 3 + MINSTATS);
            continue;
        }
        if (n > 3 + NSTATS)
            n = 3 + NSTATS;
        for (i = 3; i < n; i++)
            if (host_u64(f[i], &v[i - 3]) != 0)
                break;
        if (i < n) {
            host_warn(&hf, "field %zu \"%s\" is not a number", i + 1, f[i]);
            continue;
        }
        if (ignored(f[2]))
            continue;
        l.name = "device";
        l.value = f[2];
        for (i = 0; i < n - 3 && rc == 0; i++)
            rc = host_sample(e, stats[i].name, &l, 1, now_ms, (double)v[i] * stats[i].scale);
    }
out:
    host_close(&hf);
    return rc;
}
