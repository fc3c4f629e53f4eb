/*
 * file_check.c - the file sanity collector (file_check.h): stat every
 * round, read/hash/parse/scan only when the stat key changed, metrics every
 * round, events on transitions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/digest.h"
#include "agent/file_check.h"
#include "telltale.h"

struct fstate {
    char *path;
    enum fileparse_type type;
    int exists; /* -1 before the first round */
    int have;   /* the fields below describe a read of the file */
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    uint8_t sha[32];
    int valid;
    size_t nctrl;
    int warned;
};

struct file_check {
    struct fstate *f;
    size_t n;
};

int file_check_new(struct file_check **out, const struct file_spec *specs, size_t n, char *err,
                   size_t errlen)
{
    struct file_check *fc = calloc(1, sizeof(*fc));
    *out = NULL;
    if (fc == NULL)
        return TT_ENOMEM;
    fc->f = calloc(n ? n : 1, sizeof(*fc->f));
    if (fc->f == NULL) {
        free(fc);
        return TT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = specs[i].path;
        if (p == NULL || p[0] != '/') {
            snprintf(err, errlen, "file path '%s': must be absolute", p ? p : "");
            file_check_free(fc);
            return TT_EINVAL;
        }
        struct fstate *s = &fc->f[fc->n];
        s->path = strdup(p);
        if (s->path == NULL) {
            file_check_free(fc);
            return TT_ENOMEM;
        }
        s->type = specs[i].type == FILEPARSE_AUTO ? fileparse_type_for_path(p) : specs[i].type;
        s->exists = -1;
        s->valid = 1;
        fc->n++;
    }
    *out = fc;
    return 0;
}

void file_check_free(struct file_check *fc)
{
    if (fc == NULL)
        return;
    for (size_t i = 0; i < fc->n; i++)
        free(fc->f[i].path);
    free(fc->f);
    free(fc);
}

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int emit_event(const struct agent_emit *e, uint8_t sev, const char *name, const char *msg,
                      const struct agent_label *attrs, size_t n, int64_t now_ms)
{
    if (e->event == NULL)
        return 0;
    struct agent_event ev = { sev, "file", name, msg, attrs, n, now_ms };
    return e->event(e->ctx, &ev);
}

static void warn(const struct agent_emit *e, struct fstate *s, const char *msg)
{
    if (e->warn != NULL && !s->warned) {
        char line[900];
        snprintf(line, sizeof line, "%.300s: %.500s", s->path, msg);
        e->warn(e->ctx, line);
    }
    s->warned = 1;
}

/* read_all reads the whole file (at most max bytes) into *out (malloc'd).
 * Returns 0 or -1 (errno set). */
static int read_all(int fd, size_t max, uint8_t **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    if (b == NULL)
        return -1;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                errno = EFBIG;
                free(b);
                return -1;
            }
            size_t nc = cap * 2 > max ? max : cap * 2;
            uint8_t *nb = realloc(b, nc);
            if (nb == NULL) {
                free(b);
                return -1;
            }
            b = nb;
            cap = nc;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(b);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = b;
    *len = n;
    return 0;
}

/* check_one reads s's file again and emits the events of what changed. */
static int check_one(struct fstate *s, const struct stat *st, const struct agent_emit *e,
                     int64_t now_ms)
{
    uint8_t sha[32], *buf = NULL;
    size_t len = 0;
    int valid = 1, rc = 0;
    size_t nctrl = 0;
    struct fileparse_error perr;
    struct fileparse_finding first;
    char err[512];

    memset(&perr, 0, sizeof perr);
    memset(&first, 0, sizeof first);
    if ((uint64_t)st->st_size > FILE_CHECK_MAX_BYTES) {
        uint64_t size;
        rc = digest_sha256_file(s->path, sha, &size, err, sizeof err);
        if (rc < 0) {
            warn(e, s, rc == TT_ENOTFOUND ? "disappeared while being read" : err);
            return 0;
        }
        warn(e, s, "larger than 16 MiB: hashed, not parsed");
    } else {
        int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || read_all(fd, FILE_CHECK_MAX_BYTES + 1, &buf, &len) < 0) {
            int en = errno;
            if (fd >= 0)
                close(fd);
            if (en == ENOMEM)
                return TT_ENOMEM;
            warn(e, s, strerror(en));
            return 0;
        }
        close(fd);
        digest_sha256_buf(buf, len, sha);
        int pr = fileparse_check(s->type, buf, len, &perr);
        if (pr < 0) {
            free(buf);
            return TT_ENOMEM;
        }
        valid = pr;
        nctrl = fileparse_scan_controls(buf, len, &first, 1);
        free(buf);
    }
    s->warned = 0;

    char path_hex_old[65], path_hex_new[65], osz[24], nsz[24], msg[700];
    digest_hex(sha, path_hex_new);
    if (s->have && memcmp(sha, s->sha, 32) != 0) {
        digest_hex(s->sha, path_hex_old);
        snprintf(osz, sizeof osz, "%llu", (unsigned long long)s->size);
        snprintf(nsz, sizeof nsz, "%llu", (unsigned long long)st->st_size);
        struct agent_label a[] = { { "path", s->path },
                                   { "old_sha256", path_hex_old },
                                   { "new_sha256", path_hex_new },
                                   { "old_size", osz },
                                   { "new_size", nsz } };
        snprintf(msg, sizeof msg, "%.300s changed: sha256 %.12s -> %.12s, %s -> %s bytes", s->path,
                 path_hex_old, path_hex_new, osz, nsz);
        rc = emit_event(e, TT_SEV_NOTICE, "telltale.file.changed", msg, a, 5, now_ms);
        if (rc < 0)
            return rc;
    }
    if (!valid && (!s->have || s->valid)) {
        char ln[16], col[16];
        snprintf(ln, sizeof ln, "%u", perr.line);
        snprintf(col, sizeof col, "%u", perr.col);
        struct agent_label a[] = { { "path", s->path },
                                   { "type", fileparse_type_name(s->type) },
                                   { "line", ln },
                                   { "col", col },
                                   { "error", perr.msg } };
        snprintf(msg, sizeof msg, "%.300s:%u:%u: %s", s->path, perr.line, perr.col, perr.msg);
        rc = emit_event(e, TT_SEV_ERROR, "telltale.file.invalid", msg, a, 5, now_ms);
        if (rc < 0)
            return rc;
    } else if (valid && s->have && !s->valid) {
        struct agent_label a[] = { { "path", s->path }, { "type", fileparse_type_name(s->type) } };
        snprintf(msg, sizeof msg, "%.300s parses again", s->path);
        rc = emit_event(e, TT_SEV_INFO, "telltale.file.valid", msg, a, 2, now_ms);
        if (rc < 0)
            return rc;
    }
    if (nctrl > 0 && (!s->have || s->nctrl == 0)) {
        char cnt[24], where[96];
        snprintf(cnt, sizeof cnt, "%zu", nctrl);
        snprintf(where, sizeof where, "%u:%u %s U+%04X", first.line, first.col, first.what,
                 (unsigned)first.cp);
        struct agent_label a[] = { { "path", s->path }, { "count", cnt }, { "first", where } };
        snprintf(msg, sizeof msg, "%.300s:%s: %s invisible character(s)", s->path, where, cnt);
        rc = emit_event(e, TT_SEV_WARNING, "telltale.file.controls", msg, a, 3, now_ms);
        if (rc < 0)
            return rc;
    }
    memcpy(s->sha, sha, 32);
    s->valid = valid;
    s->nctrl = nctrl;
    s->dev = (uint64_t)st->st_dev;
    s->ino = (uint64_t)st->st_ino;
    s->size = (uint64_t)st->st_size;
    s->mtime_ns = ts_ns(&st->st_mtim);
    s->ctime_ns = ts_ns(&st->st_ctim);
    s->have = 1;
    return 0;
}

int file_check_collect(struct file_check *fc, const struct agent_emit *e, int64_t now_ms)
{
    for (size_t i = 0; i < fc->n; i++) {
        struct fstate *s = &fc->f[i];
        struct stat st;
        struct agent_label lp[] = { { "path", s->path } };
        int rc;
        int src = stat(s->path, &st);
        if (src != 0 || S_ISDIR(st.st_mode)) {
            if (src == 0)
                warn(e, s, "is a directory");
            else if (errno != ENOENT && errno != ENOTDIR)
                warn(e, s, strerror(errno));
            if (s->exists == 1) {
                char msg[400];
                snprintf(msg, sizeof msg, "%.300s disappeared", s->path);
                rc = emit_event(e, TT_SEV_WARNING, "telltale.file.missing", msg, lp, 1, now_ms);
                if (rc < 0)
                    return rc;
            }
            s->exists = 0;
            rc = e->sample(e->ctx, "telltale_file_exists", lp, 1, now_ms, 0);
            if (rc < 0)
                return rc;
            continue;
        }
        s->exists = 1;
        if (!s->have || s->dev != (uint64_t)st.st_dev || s->ino != (uint64_t)st.st_ino ||
            s->size != (uint64_t)st.st_size || s->mtime_ns != ts_ns(&st.st_mtim) ||
            s->ctime_ns != ts_ns(&st.st_ctim)) {
            rc = check_one(s, &st, e, now_ms);
            if (rc < 0)
                return rc;
        }
        struct agent_label lt[] = { { "path", s->path }, { "type", fileparse_type_name(s->type) } };
        if ((rc = e->sample(e->ctx, "telltale_file_exists", lp, 1, now_ms, 1)) < 0 ||
            (rc = e->sample(e->ctx, "telltale_file_size_bytes", lp, 1, now_ms,
                            (double)st.st_size)) < 0 ||
            (rc = e->sample(e->ctx, "telltale_file_mtime_seconds", lp, 1, now_ms,
                            (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9)) < 0)
            return rc;
        if (!s->have)
            continue; /* unreadable: no validity to report */
        if ((rc = e->sample(e->ctx, "telltale_file_valid", lt, 2, now_ms, s->valid)) < 0 ||
            (rc = e->sample(e->ctx, "telltale_file_control_chars", lp, 1, now_ms,
                            (double)s->nctrl)) < 0)
            return rc;
    }
    return 0;
}
