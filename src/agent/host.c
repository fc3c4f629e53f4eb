/*
 * host.c - the table of host collectors, host_collect_all, and the helpers
 * they share (host_int.h): files below the procfs root read line by line,
 * fields split in place, numbers parsed whole, warnings with file and line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

const struct host_collector host_collectors[] = {
    { "cpu", host_cpu_collect },           { "stat", host_stat_collect },
    { "meminfo", host_mem_collect },       { "loadavg", host_load_collect },
    { "pressure", host_pressure_collect }, { "diskstats", host_disk_collect },
    { "filesystem", host_fs_collect },     { "netdev", host_net_collect },
    { "netclass", host_netclass_collect }, { "tcpstat", host_tcp_collect },
    { "filefd", host_filefd_collect },
};
const size_t host_ncollectors = sizeof(host_collectors) / sizeof(host_collectors[0]);

int host_collect_all(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    static const struct host_opts defaults = { "/proc", "/sys" };
    if (o == NULL)
        o = &defaults;
    for (size_t i = 0; i < host_ncollectors; i++) {
        int rc = host_collectors[i].collect(o, e, now_ms);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const char *host_root(const struct host_opts *o, char which)
{
    if (which == 's')
        return o != NULL && o->sys != NULL ? o->sys : "/sys";
    return o != NULL && o->proc != NULL ? o->proc : "/proc";
}

void host_warn(const struct host_file *hf, const char *fmt, ...)
{
    char msg[512];
    char line[1600];
    va_list ap;

    if (hf->e->warn == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (hf->lineno > 0)
        snprintf(line, sizeof line, "%s:%u: %s", hf->path, hf->lineno, msg);
    else
        snprintf(line, sizeof line, "%s: %s", hf->path, msg);
    hf->e->warn(hf->e->ctx, line);
}

int host_open(struct host_file *hf, const struct agent_emit *e, const char *root, const char *rel)
{
    memset(hf, 0, sizeof *hf);
    hf->e = e;
    if ((size_t)snprintf(hf->path, sizeof hf->path, "%s/%s", root, rel) >= sizeof hf->path) {
        host_warn(hf, "path too long");
        return 0;
    }
    hf->f = fopen(hf->path, "re");
    if (hf->f == NULL) {
        /* Missing sources are normal (no PSI, no IPv6, a fixture without
         * the file): skipped silently, as collector.h requires. */
        if (errno != ENOENT && errno != ENOTDIR)
            host_warn(hf, "cannot open: %s", strerror(errno));
        return 0;
    }
    return 1;
}

int host_next(struct host_file *hf)
{
    ssize_t n;

    if (hf->f == NULL)
        return 0;
    errno = 0;
    n = getline(&hf->line, &hf->cap, hf->f);
    if (n < 0) {
        if (ferror(hf->f) && !hf->quiet) {
            int err = errno;
            hf->lineno++;
            host_warn(hf, "read error: %s", strerror(err));
        }
        return 0;
    }
    hf->lineno++;
    if (n > 0 && hf->line[n - 1] == '\n')
        hf->line[--n] = 0;
    return 1;
}

void host_close(struct host_file *hf)
{
    if (hf->f != NULL)
        fclose(hf->f);
    hf->f = NULL;
    free(hf->line);
    hf->line = NULL;
    hf->cap = 0;
}

size_t host_fields(char *s, char **f, size_t max)
{
    size_t n = 0;

    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == 0)
            return n;
        if (n < max)
            f[n] = s;
        n++;
        while (*s != 0 && *s != ' ' && *s != '\t')
            s++;
        if (*s == 0)
            return n;
        *s++ = 0;
    }
}

int host_u64(const char *s, uint64_t *v)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno != 0 || *end != 0)
        return -1;
    return 0;
}

int host_f64(const char *s, double *v)
{
    char *end;

    if (*s == 0)
        return -1;
    errno = 0;
    *v = strtod(s, &end);
    if (errno != 0 || *end != 0)
        return -1;
    return 0;
}

int host_meta(const struct agent_emit *e, const char *family, enum agent_metric_type type,
              const char *help)
{
    if (e->meta == NULL)
        return 0;
    return e->meta(e->ctx, family, type, help);
}

int host_sample(const struct agent_emit *e, const char *name, const struct agent_label *labels,
                size_t n, int64_t t_ms, double v)
{
    return e->sample(e->ctx, name, labels, n, t_ms, v);
}
