/*
 * host_int.h - what the host collectors (host_*.c) share: opening a file
 * below the procfs root, reading it line by line, splitting fields,
 * warnings with file and line, and emitting samples. Private to
 * src/agent/host*.c.
 */
#ifndef TT_AGENT_HOST_INT_H
#define TT_AGENT_HOST_INT_H

#include <stdio.h>
#include "agent/host.h"

/* One file being read, one line at a time. */
struct host_file {
    const struct agent_emit *e;
    FILE *f;
    char path[1024]; /* root + "/" + rel, for warnings */
    char *line;      /* the current line, without its newline; owned */
    size_t cap;
    unsigned lineno; /* 1-based number of the current line */
    int quiet;       /* read errors end the file silently (sysfs attributes
                      * answer EINVAL when they have no value now) */
};

/* host_root returns the procfs (which = 'p') or sysfs ('s') root of o. */
const char *host_root(const struct host_opts *o, char which);

/* host_open opens root/rel for reading. Returns 1 when open, 0 when the
 * file does not exist or cannot be read (a missing file is silent; any other
 * failure, e.g. EACCES, is a warning), so the caller just skips it. Close
 * with host_close even after 0. */
int host_open(struct host_file *hf, const struct agent_emit *e, const char *root, const char *rel);

/* host_next reads the next line into hf->line (newline stripped); returns 1,
 * or 0 at the end of the file (a read error is a warning, then 0). */
int host_next(struct host_file *hf);

/* host_close closes the file and frees the line buffer. */
void host_close(struct host_file *hf);

/* host_warn reports "PATH:LINE: msg" (line 0: "PATH: msg") through e->warn. */
void host_warn(const struct host_file *hf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* host_fields splits s in place at runs of spaces and tabs into at most max
 * fields; returns the number of fields found (which may exceed max: the
 * rest are not stored). */
size_t host_fields(char *s, char **f, size_t max);

/* host_u64 / host_f64 parse a whole field as an unsigned decimal integer or
 * a float. Return 0, or -1 when the field is not one. */
int host_u64(const char *s, uint64_t *v);
int host_f64(const char *s, double *v);

/* host_meta emits TYPE and HELP of a family (nothing when e->meta is NULL). */
int host_meta(const struct agent_emit *e, const char *family, enum agent_metric_type type,
              const char *help);

/* host_sample emits one sample; labels as name, value pairs (n pairs). */
int host_sample(const struct agent_emit *e, const char *name, const struct agent_label *labels,
                size_t n, int64_t t_ms, double v);

#endif
