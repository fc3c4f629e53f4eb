/*
 * host_filefd.c - /proc/sys/fs/file-nr ("allocated unused maximum"):
 * node_filefd_allocated and node_filefd_maximum, gauges, as node_exporter's
 * filefd collector names them.
 */
#include <stdio.h>
#include "agent/host.h"
#include "agent/host_int.h"

int host_filefd_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    struct host_file hf;
    char *f[3];
    uint64_t alloc, max;
    size_t n;
    int rc = 0;

    if (!host_open(&hf, e, host_root(o, 'p'), "sys/fs/file-nr"))
        goto out;
    if (!host_next(&hf)) {
        host_warn(&hf, "empty file");
        goto out;
    }
    n = host_fields(hf.line, f, 3);
    if (n != 3) {
        host_warn(&hf, "%zu fields, expected 3", n);
        goto out;
    }
    if (host_u64(f[0], &alloc) != 0 || host_u64(f[2], &max) != 0) {
        host_warn(&hf, "expected three numbers");
        goto out;
    }
    rc = host_meta(e, "node_filefd_allocated", AGENT_GAUGE,
                   "File descriptor statistics: allocated.");
    if (rc == 0)
        rc = host_sample(e, "node_filefd_allocated", NULL, 0, now_ms, (double)alloc);
    if (rc == 0)
        rc = host_meta(e, "node_filefd_maximum", AGENT_GAUGE,
                       "File descriptor statistics: maximum.");
    if (rc == 0)
        rc = host_sample(e, "node_filefd_maximum", NULL, 0, now_ms, (double)max);
out:
    host_close(&hf);
    return rc;
}
