/*
 * reclog.c - the record log (reclog.h): segments of whole agent batches,
 * appended under one mutex, made durable by group fdatasync, scanned at open.
 */
#include "server/reclog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/errmsg.h"

#define DIR_MAX      4000
#define PATH_MAX_LEN (DIR_MAX + 32)

struct reclog {
    char dir[DIR_MAX];
    uint64_t segment_bytes;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* an fdatasync finished */
    pthread_cond_t cv_work; /* the syncer has work (or must stop) */
    pthread_t syncer;
    int has_syncer, stopping;
    uint64_t fail_lo, fail_hi; /* tickets in (fail_lo, fail_hi] lost to a failed fdatasync */
    char fail_msg[160];
    int fd;           /* open segment, -1 before the first append */
    uint32_t seg;     /* its number (the last on disk when fd < 0; 0: none) */
    uint64_t seg_len; /* its length */
    uint64_t written; /* bytes appended since open: tickets */
    uint64_t synced;  /* every ticket <= this is durable */
    /* the durable end as a place: everything before (dur_seg, dur_off) in
     * segment order is durable (readers stop there) */
    uint32_t dur_seg;
    uint64_t dur_off;
    int syncing;
    uint64_t appends, syncs, nsegs;
};

static void seg_path(const struct reclog *rl, uint32_t n, char *out, size_t len)
{
    snprintf(out, len, "%s/%08u.log", rl->dir, (unsigned)n);
}

/* seg_num parses "NNNNNNNN.log": 1 with *n, 0 for any other name. */
static int seg_num(const char *name, uint32_t *n)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < 8; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    if (strcmp(name + 8, ".log") != 0 || v == 0 || v > UINT32_MAX)
        return 0;
    *n = (uint32_t)v;
    return 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* list_segs returns the segment numbers in dir, sorted. */
static int list_segs(const char *dir, uint32_t **out, size_t *n, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    uint32_t *v = NULL;
    size_t nv = 0, cap = 0;
    struct dirent *de;
    *out = NULL;
    *n = 0;
    if (d == NULL) {
        tt_set_err(err, errlen, "record log: cannot list %s: %s", dir, strerror(errno));
        return TT_EIO;
    }
    while ((de = readdir(d)) != NULL) {
        uint32_t k;
        if (!seg_num(de->d_name, &k))
            continue;
        if (nv == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint32_t *p = realloc(v, nc * sizeof *p);
            if (p == NULL) {
                closedir(d);
                free(v);
                return TT_ENOMEM;
            }
            v = p;
            cap = nc;
        }
        v[nv++] = k;
    }
    closedir(d);
    if (nv > 1)
        qsort(v, nv, sizeof *v, cmp_u32);
    *out = v;
    *n = nv;
    return 0;
}

/* read_file reads a whole segment into a new buffer. */
static int read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    struct stat sb;
    uint8_t *p = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *out = NULL;
    *len = 0;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        tt_set_err(err, errlen, "record log: cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return TT_EIO;
    }
    p = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1);
    if (p == NULL) {
        close(fd);
        return TT_ENOMEM;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, p + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            tt_set_err(err, errlen, "record log: reading %s: %s", path,
                       r < 0 ? strerror(errno) : "file shrank");
            close(fd);
            free(p);
            return TT_EIO;
        }
        got += (size_t)r;
    }
    close(fd);
    *out = p;
    *len = got;
    return 0;
}

/* scan_seg walks one segment; for the last one a damaged tail is cut. */
static int scan_seg(struct reclog *rl, uint32_t n, int last, const struct reclog_scan_cb *cb,
                    void *arg, char *err, size_t errlen)
{
    char path[PATH_MAX_LEN], name[16];
    uint8_t *data = NULL;
    size_t len = 0, body_len, cut_at = SIZE_MAX;
    const uint8_t *body;
    struct batch_scan s;
    struct batch_hdr h;
    struct batch_problem prob;
    int rc, got;

    seg_path(rl, n, path, sizeof path);
    snprintf(name, sizeof name, "%08u.log", (unsigned)n);
    rc = read_file(path, &data, &len, err, errlen);
    if (rc != 0)
        return rc;
    batch_scan_init(&s, data, len);
    while ((got = batch_scan_next(&s, &h, &body, &body_len, NULL, &prob)) != 0) {
        if (got < 0) {
            int cut = last && prob.offset + prob.skipped == len;
            if (cut)
                cut_at = prob.offset;
            if (cb != NULL && cb->problem != NULL)
                cb->problem(arg, name, &prob, cut);
            continue;
        }
        if (cb != NULL && cb->batch != NULL && (rc = cb->batch(arg, &h, body, body_len)) != 0)
            break;
    }
    batch_scan_release(&s);
    free(data);
    if (rc == 0 && cut_at != SIZE_MAX) {
        if (truncate(path, (off_t)cut_at) != 0) {
            tt_set_err(err, errlen, "record log: cannot cut the torn tail of %s at %zu: %s", path,
                       cut_at, strerror(errno));
            return TT_EIO;
        }
        len = cut_at;
    }
    if (last)
        rl->seg_len = len;
    return rc;
}

/* syncer_main fdatasyncs the open segment whenever something was written
 * since the last fdatasync, and wakes the waiters. */
static void *syncer_main(void *arg)
{
    struct reclog *rl = arg;
    pthread_mutex_lock(&rl->mu);
    for (;;) {
        while (!rl->stopping && (rl->synced >= rl->written || rl->fd < 0 || rl->syncing))
            pthread_cond_wait(&rl->cv_work, &rl->mu);
        if (rl->stopping)
            break;
        uint64_t target = rl->written;
        uint32_t tseg = rl->seg;
        uint64_t toff = rl->seg_len;
        int fd = rl->fd;
        rl->syncing = 1;
        rl->syncs++;
        pthread_mutex_unlock(&rl->mu);
        int ok = fdatasync(fd) == 0;
        int e = errno;
        pthread_mutex_lock(&rl->mu);
        rl->syncing = 0;
        if (ok) {
            if (target > rl->synced)
                rl->synced = target;
            if (tseg > rl->dur_seg || (tseg == rl->dur_seg && toff > rl->dur_off)) {
                rl->dur_seg = tseg;
                rl->dur_off = toff;
            }
        } else {
            /* The appends it covered fail; later ones get a new try. */
            rl->fail_lo = rl->synced;
            rl->fail_hi = target;
            rl->synced = target;
            snprintf(rl->fail_msg, sizeof rl->fail_msg, "record log: fdatasync of segment %08u: %s",
                     (unsigned)rl->seg, strerror(e));
        }
        pthread_cond_broadcast(&rl->cv);
    }
    pthread_mutex_unlock(&rl->mu);
    return NULL;
}

int reclog_open(struct reclog **out, const char *dir, uint64_t segment_bytes,
                const struct reclog_scan_cb *cb, void *arg, char *err, size_t errlen)
{
    struct reclog *rl = NULL;
    uint32_t *segs = NULL;
    size_t nsegs = 0;
    int rc;

    *out = NULL;
    if (strlen(dir) >= DIR_MAX) {
        tt_set_err(err, errlen, "record log: directory path too long");
        return TT_EINVAL;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        tt_set_err(err, errlen, "record log: cannot create %s: %s", dir, strerror(errno));
        return TT_EIO;
    }
    rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return TT_ENOMEM;
    snprintf(rl->dir, sizeof rl->dir, "%s", dir);
    rl->segment_bytes = segment_bytes ? segment_bytes : RECLOG_DEFAULT_SEGMENT_BYTES;
    rl->fd = -1;
    pthread_mutex_init(&rl->mu, NULL);
    pthread_cond_init(&rl->cv, NULL);
    pthread_cond_init(&rl->cv_work, NULL);
    rc = list_segs(dir, &segs, &nsegs, err, errlen);
    for (size_t i = 0; rc == 0 && i < nsegs; i++) {
        int last = i + 1 == nsegs;
        if (cb == NULL && !last)
            continue;
        rc = scan_seg(rl, segs[i], last, cb, arg, err, errlen);
    }
    if (rc == 0 && nsegs > 0) {
        rl->seg = segs[nsegs - 1];
        rl->nsegs = nsegs;
        rl->dur_seg = rl->seg; /* what a restart finds is what there is */
        rl->dur_off = rl->seg_len;
    }
    free(segs);
    if (rc == 0) {
        if (pthread_create(&rl->syncer, NULL, syncer_main, rl) == 0) {
            rl->has_syncer = 1;
        } else {
            tt_set_err(err, errlen, "record log: cannot start the syncer thread");
            rc = TT_ESYS;
        }
    }
    if (rc != 0) {
        reclog_close(rl);
        return rc;
    }
    *out = rl;
    return 0;
}

/* open_seg opens segment rl->seg for appending (creating it). rl->mu held. */
static int open_seg(struct reclog *rl, int create, char *err, size_t errlen)
{
    char path[PATH_MAX_LEN];
    seg_path(rl, rl->seg, path, sizeof path);
    rl->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (rl->fd < 0) {
        tt_set_err(err, errlen, "record log: cannot open %s: %s", path, strerror(errno));
        return TT_EIO;
    }
    if (create) {
        rl->seg_len = 0;
        rl->nsegs++;
        (void)tt_fsync_dir(rl->dir); /* the name must be durable with the data */
    }
    return 0;
}

/* rotate makes the open segment durable and closes it. rl->mu held. */
static int rotate(struct reclog *rl, char *err, size_t errlen)
{
    while (rl->syncing)
        pthread_cond_wait(&rl->cv, &rl->mu);
    int rc = 0;
    if (rl->synced < rl->written) {
        rl->syncs++;
        if (fdatasync(rl->fd) != 0) {
            tt_set_err(err, errlen, "record log: fdatasync of segment %08u: %s", (unsigned)rl->seg,
                       strerror(errno));
            rc = TT_EIO;
        } else {
            rl->synced = rl->written;
        }
    }
    if (rc == 0) {
        rl->dur_seg = rl->seg;
        rl->dur_off = rl->seg_len;
        close(rl->fd);
        rl->fd = -1;
    }
    return rc;
}

int reclog_append(struct reclog *rl, const uint8_t *data, size_t len, struct reclog_pos *pos,
                  char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&rl->mu);
    if (rl->fd >= 0 && rl->seg_len > 0 && rl->seg_len + len > rl->segment_bytes) {
        rc = rotate(rl, err, errlen);
        if (rc == 0) {
            rl->seg++;
            rc = open_seg(rl, 1, err, errlen);
        }
    } else if (rl->fd < 0) {
        int create = rl->seg == 0 || (rl->seg_len > 0 && rl->seg_len + len > rl->segment_bytes);
        if (create)
            rl->seg++;
        rc = open_seg(rl, create, err, errlen);
    }
    for (size_t off = 0; rc == 0 && off < len;) {
        ssize_t w = pwrite(rl->fd, data + off, len - off, (off_t)(rl->seg_len + off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            tt_set_err(err, errlen, "record log: writing %zu bytes to segment %08u: %s", len,
                       (unsigned)rl->seg, w < 0 ? strerror(errno) : "nothing written");
            if (ftruncate(rl->fd, (off_t)rl->seg_len) != 0)
                (void)0; /* a torn tail stays; the next open cuts it */
            rc = TT_EIO;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0) {
        rl->seg_len += len;
        rl->written += len;
        rl->appends++;
        pos->seg = rl->seg;
        pos->end = rl->seg_len;
        pos->ticket = rl->written;
        pthread_cond_signal(&rl->cv_work);
    }
    pthread_mutex_unlock(&rl->mu);
    return rc;
}

int reclog_sync(struct reclog *rl, uint64_t ticket, char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&rl->mu);
    while (rl->synced < ticket) {
        pthread_cond_signal(&rl->cv_work);
        pthread_cond_wait(&rl->cv, &rl->mu);
    }
    if (ticket > rl->fail_lo && ticket <= rl->fail_hi) {
        tt_set_err(err, errlen, "%s", rl->fail_msg);
        rc = TT_EIO;
    }
    pthread_mutex_unlock(&rl->mu);
    return rc;
}

void reclog_get_stats(struct reclog *rl, struct reclog_stats *st)
{
    pthread_mutex_lock(&rl->mu);
    st->segment = rl->seg;
    st->segment_len = rl->seg_len;
    st->appends = rl->appends;
    st->bytes = rl->written;
    st->syncs = rl->syncs;
    st->segments = rl->nsegs;
    pthread_mutex_unlock(&rl->mu);
}

int reclog_close(struct reclog *rl)
{
    int rc = 0;
    if (rl == NULL)
        return 0;
    if (rl->has_syncer) {
        pthread_mutex_lock(&rl->mu);
        rl->stopping = 1;
        pthread_cond_broadcast(&rl->cv_work);
        pthread_mutex_unlock(&rl->mu);
        pthread_join(rl->syncer, NULL);
    }
    if (rl->fd >= 0) {
        if (rl->synced < rl->written && fdatasync(rl->fd) != 0)
            rc = TT_EIO;
        close(rl->fd);
    }
    pthread_cond_destroy(&rl->cv);
    pthread_cond_destroy(&rl->cv_work);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
    return rc;
}

void reclog_durable(struct reclog *rl, struct reclog_cursor *out)
{
    pthread_mutex_lock(&rl->mu);
    out->seg = rl->dur_seg;
    out->off = rl->dur_off;
    pthread_mutex_unlock(&rl->mu);
}

/* first_seg_after: the smallest segment number on disk above n, 0: none. */
static uint32_t first_seg_after(const char *dir, uint32_t n)
{
    uint32_t *segs = NULL, best = 0;
    size_t nsegs = 0;
    char err[64];
    if (list_segs(dir, &segs, &nsegs, err, sizeof err) != 0)
        return 0;
    for (size_t i = 0; i < nsegs && best == 0; i++)
        if (segs[i] > n)
            best = segs[i];
    free(segs);
    return best;
}

int reclog_read(struct reclog *rl, struct reclog_cursor *cur, struct wbuf *out, char *err,
                size_t errlen)
{
    struct reclog_cursor dur;
    char path[PATH_MAX_LEN];
    reclog_durable(rl, &dur);
    for (;;) {
        if (dur.seg == 0 || (cur->seg == dur.seg && cur->off >= dur.off) || cur->seg > dur.seg)
            return 0;
        if (cur->seg == 0) {
            cur->seg = first_seg_after(rl->dir, 0);
            cur->off = 0;
            if (cur->seg == 0)
                return 0;
            continue;
        }
        seg_path(rl, cur->seg, path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0)
                close(fd);
            if (errno == ENOENT && cur->seg < dur.seg) { /* removed: go on with the next */
                cur->seg = first_seg_after(rl->dir, cur->seg);
                cur->off = 0;
                if (cur->seg == 0)
                    return 0;
                continue;
            }
            tt_set_err(err, errlen, "record log: cannot read %s: %s", path, strerror(errno));
            return TT_EIO;
        }
        uint64_t limit = cur->seg == dur.seg ? dur.off : (uint64_t)st.st_size;
        if (cur->off >= limit) {
            close(fd);
            uint32_t next = first_seg_after(rl->dir, cur->seg);
            if (next == 0 || next > dur.seg)
                return 0;
            cur->seg = next;
            cur->off = 0;
            continue;
        }
        uint8_t head[BATCH_FIXED_LEN + BATCH_ORIGIN_MAX];
        size_t hn =
            (size_t)(limit - cur->off) < sizeof head ? (size_t)(limit - cur->off) : sizeof head;
        struct batch_hdr h;
        int rc = tt_pread_all(fd, head, hn, cur->off) != 0
                     ? TT_EIO
                     : batch_parse_header(head, hn, &h, err, errlen);
        size_t total = rc == 0 ? batch_total_len(&h) : 0;
        if (rc == 0 && cur->off + total > limit)
            rc = TT_ECORRUPT;
        if (rc == 0) {
            wbuf_reset(out);
            if (wbuf_reserve(out, total) != 0)
                rc = TT_ENOMEM;
            else if (tt_pread_all(fd, out->data, total, cur->off) != 0)
                rc = TT_EIO;
            else if ((rc = batch_check_body(out->data, &h, err, errlen)) == 0)
                out->len = total;
        }
        close(fd);
        if (rc == 0) {
            cur->off += total;
            return 1;
        }
        if (rc == TT_ENOMEM)
            return rc;
        /* A damaged stretch (only a crash or a disk leaves one: appends are
         * whole): the rest of this segment is skipped, named in err. */
        tt_set_err(err, errlen,
                   "record log: %08u.log at byte %llu: damaged batch (%s); the rest "
                   "of the segment skipped",
                   (unsigned)cur->seg, (unsigned long long)cur->off,
                   rc == TT_EIO ? strerror(errno) : "bad header or CRC");
        cur->off = limit;
        return TT_ECORRUPT;
    }
}
