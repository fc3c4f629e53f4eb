/*
 * wal.c - the TSDB's write-ahead log: segment files of batches, group
 * commit, replay with torn-tail cutting, and checkpoints
 * (docs/design/tsdb.md, "## WAL", has the crash-safety argument).
 *
 * Invariants:
 *  - w->mu guards everything below it in struct wal. Batches are written
 *    under w->mu, so file order is LSN order; fdatasync runs outside it,
 *    by one thread at a time (w->syncing), on the fd it read under the lock.
 *  - A segment is closed (rotate) only when no fdatasync is running, and is
 *    fdatasync'd first, so durable_lsn may jump to written_lsn there.
 *  - A failed write is truncated back before wal_append returns; if the
 *    truncation fails too, the segment is closed (need_rotate) so nothing is
 *    ever appended after a torn batch.
 *  - A checkpoint is visible under its final name only once its content is
 *    durable; segments it covers are deleted only after that name is durable.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "core/batch_scan.h"
#include "core/clock.h"
#include "core/compress.h"
#include "core/crc32c.h"
#include "store/tsdb/wal.h"
#include "core/errmsg.h"
#include "core/fileio.h"

#define WAL_DIR_MAX        (TT_PATH_MAX + 8)
#define WAL_PATH_MAX       (WAL_DIR_MAX + 40)
#define SAMPLES_PER_RECORD 8192       /* keeps a samples record far below 16 MiB */
#define CKPT_BATCH_RAW     (1u << 20) /* checkpoint batches: about 1 MiB raw */
#define REPLAY_CHUNK       4096       /* samples per replay callback */
#define PROGRESS_EVERY     (1u << 20)
#define POOL_MAX           8
#define POOL_KEEP_BYTES    (4u << 20) /* bigger buffers are freed, not pooled */
#define CKPT_PREFIX        "checkpoint."
#define OFF_FIRST_SEQ      24 /* batch header layout, docs/design/records.md */
#define OFF_HEADER_CRC     8
#define OFF_HEADER_LEN     6

/* Encoding buffers, pooled so appenders encode and compress in parallel
 * without allocating each time. */
struct wal_buf {
    struct wbuf raw; /* records */
    struct wbuf out; /* the finished batch */
};

struct wal {
    char dir[WAL_DIR_MAX]; /* DIR/wal */
    struct wal_options o;
    pthread_t thread; /* the interval syncer, when has_thread */
    int has_thread;

    pthread_mutex_t pool_mu;
    struct wal_buf *pool[POOL_MAX];
    int npool;

    pthread_mutex_t mu;
    pthread_cond_t cv_sync; /* an fdatasync finished (syncing went 0) */
    pthread_cond_t cv_wake; /* close: windows and the interval thread end */
    int fd;                 /* open segment, -1 if none */
    uint32_t seg;           /* its number */
    uint64_t seg_bytes;     /* its length */
    uint32_t next_seg;      /* number of the next segment (or checkpoint cut) */
    uint32_t first_seg;     /* lowest segment on disk, 0 if none */
    uint32_t last_seg;      /* highest segment on disk, 0 if none */
    uint32_t prev_last_seg; /* last_seg before the open segment was made */
    uint32_t ckpt;          /* newest checkpoint, if has_ckpt */
    int has_ckpt;
    uint64_t disk_bytes;
    uint64_t written_lsn;
    uint64_t durable_lsn;
    uint64_t fail_lo, fail_hi; /* LSNs in (fail_lo, fail_hi] lost to a failed fdatasync */
    char fail_msg[160];
    int syncing;
    int waiters;              /* threads in wal_wait: a lone one does not wait for the window */
    int pending;              /* written_lsn > durable_lsn */
    int64_t pending_since_ns; /* monotonic time of the oldest unsynced write */
    int need_rotate;
    int stopping;
    int started; /* an append or a replay happened: no replay any more */
    int ckpt_running;
    /* origin map: largest durable_end per origin, sorted by origin_id */
    struct wal_origin *origins;
    size_t norigins, cap_origins;
    uint64_t appends, bytes_written, syncs, write_errors, sync_errors;
};

/* ---- small helpers ----------------------------------------------------------- */

static const char *errstr(int e, char *buf, size_t len)
{
    /* GNU strerror_r (we build with _GNU_SOURCE) returns the message pointer. */
    return strerror_r(e, buf, len);
}

static void seg_name(uint32_t n, char *out, size_t len)
{
    snprintf(out, len, "%08" PRIu32, n);
}

static void ckpt_name(uint32_t n, char *out, size_t len)
{
    snprintf(out, len, CKPT_PREFIX "%08" PRIu32, n);
}

static void file_path(const struct wal *w, const char *name, char *out, size_t len)
{
    /* Names are ours (at most 32 bytes) and the directory was checked to fit
     * at open, so this never truncates; a truncated path would only fail to
     * open. */
    if (snprintf(out, len, "%s/%s", w->dir, name) >= (int)len)
        out[len - 1] = 0;
}

/* parse_num reads a name made only of 1..10 digits that fits in u32. */
static int parse_num(const char *s, size_t n, uint32_t *out)
{
    if (n == 0 || n > 10)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

enum file_kind { F_OTHER, F_SEGMENT, F_CKPT, F_CKPT_TMP };

static enum file_kind classify(const char *name, uint32_t *num)
{
    size_t n = strlen(name);
    size_t pl = strlen(CKPT_PREFIX);
    if (parse_num(name, n, num))
        return F_SEGMENT;
    if (n > pl && memcmp(name, CKPT_PREFIX, pl) == 0) {
        const char *d = name + pl;
        size_t dn = n - pl;
        if (parse_num(d, dn, num))
            return F_CKPT;
        if (dn > 4 && memcmp(d + dn - 4, ".tmp", 4) == 0 && parse_num(d, dn - 4, num))
            return F_CKPT_TMP;
    }
    return F_OTHER;
}

static int64_t now_mono(void)
{
    return clock_monotonic_ns();
}

static void abs_deadline(int64_t mono_ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ns / TT_NS_PER_S);
    ts->tv_nsec = (long)(mono_ns % TT_NS_PER_S);
}

/* write_all writes p[0..len) at off, looping over short writes and EINTR;
 * on failure *e gets the errno. */
static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off, int *e)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *e = errno;
            return TT_EIO;
        }
        if (n == 0) {
            *e = ENOSPC;
            return TT_EIO;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int mkdir_one(const char *path, char *err, size_t errlen)
{
    char eb[128];
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    int e = errno;
    tt_set_err(err, errlen, "wal: cannot create directory %s: %s", path, errstr(e, eb, sizeof eb));
    return TT_EIO;
}

/* ---- options, open ------------------------------------------------------------- */

void wal_options_default(struct wal_options *o)
{
    memset(o, 0, sizeof *o);
    o->compression = BATCH_COMP_LZ4;
    o->segment_bytes = WAL_DEFAULT_SEGMENT_BYTES;
    o->sync = WAL_SYNC_BATCH;
    o->batch_window_ms = WAL_DEFAULT_WINDOW_MS;
    o->interval_ms = 1000;
    o->value_enc = REC_SAMPLES_XOR;
}

static int check_options(struct wal_options *o, char *err, size_t errlen)
{
    if (o->compression != BATCH_COMP_NONE && o->compression != BATCH_COMP_ZSTD &&
        o->compression != BATCH_COMP_LZ4) {
        tt_set_err(err, errlen, "wal: unknown compression %d", o->compression);
        return TT_EINVAL;
    }
    if (o->sync != WAL_SYNC_ALWAYS && o->sync != WAL_SYNC_BATCH && o->sync != WAL_SYNC_INTERVAL) {
        tt_set_err(err, errlen, "wal: unknown fsync policy %d", o->sync);
        return TT_EINVAL;
    }
    if (o->value_enc != REC_SAMPLES_RAW && o->value_enc != REC_SAMPLES_XOR) {
        tt_set_err(err, errlen, "wal: unknown value encoding %u", o->value_enc);
        return TT_EINVAL;
    }
    if (o->batch_window_ms > 10000 || o->interval_ms > 3600000) {
        tt_set_err(err, errlen, "wal: batch window or sync interval too long");
        return TT_EINVAL;
    }
    if (o->segment_bytes < WAL_SEGMENT_MIN_BYTES)
        o->segment_bytes = WAL_SEGMENT_MIN_BYTES;
    return 0;
}

/* A listing of DIR/wal. */
struct listing {
    uint32_t *segs; /* sorted ascending */
    size_t nsegs;
    uint64_t seg_bytes; /* their total size */
    int has_ckpt;
    uint32_t ckpt; /* the newest checkpoint */
    uint64_t ckpt_bytes;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t file_size(const struct wal *w, const char *name)
{
    char path[WAL_PATH_MAX];
    struct stat st;
    file_path(w, name, path, sizeof path);
    if (stat(path, &st) != 0 || st.st_size < 0)
        return 0;
    return (uint64_t)st.st_size;
}

/* list_dir lists the WAL directory. With clean set, it first deletes what a
 * crash may have left: checkpoint temporaries, checkpoints older than the
 * newest, and segments the newest checkpoint covers. Returns 0, TT_ENOMEM or
 * TT_EIO (message in err). */
static int list_dir(const struct wal *w, int clean, struct listing *l, char *err, size_t errlen)
{
    char eb[128], path[WAL_PATH_MAX];
    size_t cap = 0;
    int rc = 0, removed = 0;
    struct dirent *de;
    memset(l, 0, sizeof *l);
    DIR *d = opendir(w->dir);
    if (d == NULL) {
        int e = errno;
        tt_set_err(err, errlen, "wal: cannot read directory %s: %s", w->dir,
                   errstr(e, eb, sizeof eb));
        return TT_EIO;
    }
    /* First pass: the newest checkpoint. */
    while ((de = readdir(d)) != NULL) {
        uint32_t n;
        if (classify(de->d_name, &n) == F_CKPT && (!l->has_ckpt || n > l->ckpt)) {
            l->has_ckpt = 1;
            l->ckpt = n;
        }
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        uint32_t n;
        enum file_kind k = classify(de->d_name, &n);
        int stale = k == F_CKPT_TMP || (k == F_CKPT && n < l->ckpt) ||
                    (k == F_SEGMENT && l->has_ckpt && n <= l->ckpt);
        if (stale && clean) {
            file_path(w, de->d_name, path, sizeof path);
            if (unlink(path) == 0)
                removed = 1;
            continue;
        }
        if (k != F_SEGMENT || stale)
            continue;
        if (l->nsegs == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint32_t *p = realloc(l->segs, ncap * sizeof *p);
            if (p == NULL) {
                tt_set_err(err, errlen, "wal: out of memory listing %s", w->dir);
                rc = TT_ENOMEM;
                goto out;
            }
            l->segs = p;
            cap = ncap;
        }
        l->segs[l->nsegs++] = n;
        l->seg_bytes += file_size(w, de->d_name);
    }
    if (l->nsegs > 1)
        qsort(l->segs, l->nsegs, sizeof l->segs[0], cmp_u32);
    if (l->has_ckpt) {
        char name[32];
        ckpt_name(l->ckpt, name, sizeof name);
        l->ckpt_bytes = file_size(w, name);
    }
    if (removed)
        (void)tt_fsync_dir(w->dir);
out:
    closedir(d);
    if (rc != 0) {
        free(l->segs);
        l->segs = NULL;
        l->nsegs = 0;
    }
    return rc;
}

static void *interval_main(void *arg);

int wal_open(struct wal **out, const char *data_dir, const struct wal_options *o, char *err,
             size_t errlen)
{
    struct wal *w = NULL;
    struct listing l = { 0 };
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (errlen > 0 && err != NULL)
        err[0] = '\0';
    if (data_dir == NULL || data_dir[0] == '\0') {
        tt_set_err(err, errlen, "wal: data directory not set");
        return TT_EINVAL;
    }
    if (strlen(data_dir) >= TT_PATH_MAX) {
        tt_set_err(err, errlen, "wal: data directory path too long (max %d bytes)",
                   TT_PATH_MAX - 1);
        return TT_EINVAL;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        tt_set_err(err, errlen, "wal: out of memory");
        return TT_ENOMEM;
    }
    if (o != NULL)
        w->o = *o;
    else
        wal_options_default(&w->o);
    rc = check_options(&w->o, err, errlen);
    if (rc != 0)
        goto fail;
    snprintf(w->dir, sizeof w->dir, "%s/wal", data_dir);
    rc = mkdir_one(data_dir, err, errlen);
    if (rc == 0)
        rc = mkdir_one(w->dir, err, errlen);
    if (rc != 0)
        goto fail;
    rc = list_dir(w, 1, &l, err, errlen);
    if (rc != 0)
        goto fail;
    w->fd = -1;
    w->has_ckpt = l.has_ckpt;
    w->ckpt = l.ckpt;
    w->first_seg = l.nsegs ? l.segs[0] : 0;
    w->last_seg = l.nsegs ? l.segs[l.nsegs - 1] : 0;
    w->next_seg = w->last_seg + 1;
    if (l.has_ckpt && l.ckpt >= w->next_seg)
        w->next_seg = l.ckpt + 1;
    if (w->next_seg == 0) { /* 2^32 segments: refuse rather than wrap */
        tt_set_err(err, errlen, "wal: segment numbers exhausted in %s", w->dir);
        rc = TT_ERANGE;
        goto fail;
    }
    w->disk_bytes = l.seg_bytes + l.ckpt_bytes;
    free(l.segs);
    l.segs = NULL;

    pthread_mutex_init(&w->pool_mu, NULL);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv_sync, &ca);
    pthread_cond_init(&w->cv_wake, &ca);
    pthread_condattr_destroy(&ca);
    if (w->o.sync == WAL_SYNC_INTERVAL && w->o.interval_ms > 0) {
        if (pthread_create(&w->thread, NULL, interval_main, w) != 0) {
            tt_set_err(err, errlen, "wal: cannot start the sync thread");
            pthread_cond_destroy(&w->cv_sync);
            pthread_cond_destroy(&w->cv_wake);
            pthread_mutex_destroy(&w->mu);
            pthread_mutex_destroy(&w->pool_mu);
            rc = TT_ESYS;
            goto fail;
        }
        w->has_thread = 1;
    }
    *out = w;
    return 0;
fail:
    free(l.segs);
    free(w);
    return rc;
}

/* ---- syncing -------------------------------------------------------------------- */

static void sync_failed(struct wal *w, uint64_t target, int e)
{
    char eb[128];
    w->sync_errors++;
    w->fail_lo = w->durable_lsn;
    w->fail_hi = target;
    /* The pages that failed may be marked clean by the kernel: what follows
     * goes to a fresh segment rather than behind a hole. */
    w->need_rotate = 1;
    snprintf(w->fail_msg, sizeof w->fail_msg, "wal: fdatasync of segment %08" PRIu32 ": %s", w->seg,
             errstr(e, eb, sizeof eb));
}

/* sync_upto makes LSN lsn durable: returns at once if it is, waits for a
 * running fdatasync, or leads one (after gathering appends for window_ms
 * from the oldest unsynced write). Called and returns with w->mu held. */
static int sync_upto(struct wal *w, uint64_t lsn, uint32_t window_ms, char *err, size_t errlen)
{
    for (;;) {
        if (lsn > w->fail_lo && lsn <= w->fail_hi) {
            tt_set_err(err, errlen, "%s", w->fail_msg);
            return TT_EIO;
        }
        if (w->durable_lsn >= lsn)
            return 0;
        if (w->syncing) {
            pthread_cond_wait(&w->cv_sync, &w->mu);
            continue;
        }
        w->syncing = 1;
        /* Group commit: with other commits waiting too, gather what arrives
         * within the window into one fdatasync; a lone commit is synced at
         * once (what arrives during its fdatasync is gathered by the next). */
        if (window_ms > 0 && w->pending && w->waiters > 1) {
            int64_t deadline = w->pending_since_ns + (int64_t)window_ms * TT_NS_PER_MS;
            struct timespec ts;
            abs_deadline(deadline, &ts);
            while (!w->stopping && now_mono() < deadline)
                pthread_cond_timedwait(&w->cv_wake, &w->mu, &ts);
        }
        uint64_t target = w->written_lsn;
        int fd = w->fd;
        int64_t t0 = now_mono();
        int r = 0, e = 0;
        if (fd >= 0 && target > w->durable_lsn) {
            pthread_mutex_unlock(&w->mu);
            r = fdatasync(fd);
            e = errno;
            pthread_mutex_lock(&w->mu);
            w->syncs++;
        }
        /* fd < 0 with target > durable cannot happen: closing a segment
         * syncs it first. */
        if (r == 0) {
            if (target > w->durable_lsn)
                w->durable_lsn = target;
        } else {
            sync_failed(w, target, e);
        }
        w->pending = w->written_lsn > w->durable_lsn && w->written_lsn > target;
        if (w->pending)
            w->pending_since_ns = t0;
        w->syncing = 0;
        pthread_cond_broadcast(&w->cv_sync);
    }
}

static void *interval_main(void *arg)
{
    struct wal *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        int64_t deadline = now_mono() + (int64_t)w->o.interval_ms * TT_NS_PER_MS;
        struct timespec ts;
        abs_deadline(deadline, &ts);
        while (!w->stopping && now_mono() < deadline)
            pthread_cond_timedwait(&w->cv_wake, &w->mu, &ts);
        if (!w->stopping && w->written_lsn > w->durable_lsn)
            (void)sync_upto(w, w->written_lsn, 0, NULL, 0);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int wal_wait(struct wal *w, uint64_t lsn, char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    if (lsn > w->written_lsn) {
        tt_set_err(err, errlen, "wal: LSN %" PRIu64 " not written yet (last %" PRIu64 ")", lsn,
                   w->written_lsn);
        rc = TT_EINVAL;
    } else if (w->o.sync != WAL_SYNC_INTERVAL) {
        w->waiters++;
        rc = sync_upto(w, lsn, w->o.sync == WAL_SYNC_BATCH ? w->o.batch_window_ms : 0, err, errlen);
        w->waiters--;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int wal_sync(struct wal *w, char *err, size_t errlen)
{
    pthread_mutex_lock(&w->mu);
    int rc = sync_upto(w, w->written_lsn, 0, err, errlen);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ---- origin map ----------------------------------------------------------------- */

/* to_rec converts a map entry to its record. */
static struct rec_origin to_rec(const struct wal_origin *o)
{
    struct rec_origin r = { o->origin_id, o->durable_end, o->prev_end, o->reclog_seg,
                            o->reclog_end };
    return r;
}

/* origin_raise puts o in the sorted map, replacing the origin's entry when
 * o's durable_end is not lower. w->mu held, or no other thread yet. */
static int origin_raise(struct wal *w, const struct wal_origin *o)
{
    size_t lo = 0, hi = w->norigins;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->origins[mid].origin_id < o->origin_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < w->norigins && w->origins[lo].origin_id == o->origin_id) {
        if (o->durable_end >= w->origins[lo].durable_end)
            w->origins[lo] = *o;
        return 0;
    }
    if (w->norigins == w->cap_origins) {
        size_t nc = w->cap_origins ? w->cap_origins * 2 : 16;
        struct wal_origin *n = realloc(w->origins, nc * sizeof *n);
        if (n == NULL)
            return TT_ENOMEM;
        w->origins = n;
        w->cap_origins = nc;
    }
    memmove(w->origins + lo + 1, w->origins + lo, (w->norigins - lo) * sizeof *w->origins);
    w->origins[lo] = *o;
    w->norigins++;
    return 0;
}

/* origins_copy copies the map. w->mu held. */
static int origins_copy(const struct wal *w, struct wal_origin **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (w->norigins == 0)
        return 0;
    *out = malloc(w->norigins * sizeof **out);
    if (*out == NULL)
        return TT_ENOMEM;
    memcpy(*out, w->origins, w->norigins * sizeof **out);
    *n = w->norigins;
    return 0;
}

int wal_origins(struct wal *w, struct wal_origin **out, size_t *n)
{
    pthread_mutex_lock(&w->mu);
    int rc = origins_copy(w, out, n);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ---- segments ------------------------------------------------------------------- */

/* rotate closes the open segment after making it durable. w->mu held. */
static void rotate(struct wal *w)
{
    while (w->syncing)
        pthread_cond_wait(&w->cv_sync, &w->mu);
    if (w->fd < 0)
        return;
    if (w->written_lsn > w->durable_lsn) {
        w->syncs++;
        if (fdatasync(w->fd) == 0)
            w->durable_lsn = w->written_lsn;
        else
            sync_failed(w, w->written_lsn, errno);
        w->pending = 0;
    }
    close(w->fd);
    w->fd = -1;
    w->need_rotate = 0;
}

/* open_segment creates the next segment. w->mu held. */
static int open_segment(struct wal *w, char *err, size_t errlen)
{
    char name[32], path[WAL_PATH_MAX], eb[128];
    if (w->next_seg == 0) {
        tt_set_err(err, errlen, "wal: segment numbers exhausted in %s", w->dir);
        return TT_ERANGE;
    }
    seg_name(w->next_seg, name, sizeof name);
    file_path(w, name, path, sizeof path);
    int fd;
    do {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        tt_set_err(err, errlen, "wal: cannot create segment %s: %s", path,
                   errstr(e, eb, sizeof eb));
        return TT_EIO;
    }
    /* The new name must be durable before any batch in it is called durable. */
    if (w->o.sync != WAL_SYNC_INTERVAL || w->o.interval_ms > 0)
        (void)tt_fsync_dir(w->dir);
    w->fd = fd;
    w->seg = w->next_seg++;
    w->seg_bytes = 0;
    if (w->first_seg == 0)
        w->first_seg = w->seg;
    w->prev_last_seg = w->last_seg;
    w->last_seg = w->seg;
    return 0;
}

/* undo_write cuts a failed batch off the open segment; a segment left empty
 * is removed (its number is used again). w->mu held. */
static void undo_write(struct wal *w)
{
    char name[32], path[WAL_PATH_MAX];
    int ok;
    do {
        ok = ftruncate(w->fd, (off_t)w->seg_bytes) == 0;
    } while (!ok && errno == EINTR);
    if (ok && w->seg_bytes == 0) {
        close(w->fd);
        w->fd = -1;
        seg_name(w->seg, name, sizeof name);
        file_path(w, name, path, sizeof path);
        (void)unlink(path);
        w->next_seg = w->seg;
        if (w->first_seg == w->seg)
            w->first_seg = 0;
        w->last_seg = w->prev_last_seg;
        return;
    }
    if (!ok)
        w->need_rotate = 1; /* never append behind a torn batch */
}

/* ---- appending ------------------------------------------------------------------ */

static struct wal_buf *pool_get(struct wal *w)
{
    struct wal_buf *b = NULL;
    pthread_mutex_lock(&w->pool_mu);
    if (w->npool > 0)
        b = w->pool[--w->npool];
    pthread_mutex_unlock(&w->pool_mu);
    if (b == NULL) {
        b = malloc(sizeof *b);
        if (b == NULL)
            return NULL;
        wbuf_init(&b->raw, BATCH_MAX_RAW);
        wbuf_init(&b->out, 0);
    }
    wbuf_reset(&b->raw);
    wbuf_reset(&b->out);
    return b;
}

static void buf_free(struct wal_buf *b)
{
    wbuf_release(&b->raw);
    wbuf_release(&b->out);
    free(b);
}

static void pool_put(struct wal *w, struct wal_buf *b)
{
    if (b == NULL)
        return;
    if (b->raw.cap <= POOL_KEEP_BYTES && b->out.cap <= POOL_KEEP_BYTES) {
        pthread_mutex_lock(&w->pool_mu);
        if (w->npool < POOL_MAX) {
            w->pool[w->npool++] = b;
            b = NULL;
        }
        pthread_mutex_unlock(&w->pool_mu);
    }
    if (b != NULL)
        buf_free(b);
}

/* encode_records appends the series and samples records to raw and returns
 * the record count in *nrec. */
static int encode_records(const struct wal *w, struct wbuf *raw, const struct wal_series *series,
                          size_t nseries, const struct rec_sample *samples, size_t nsamples,
                          const struct wal_origin *origins, size_t norigins, uint32_t *nrec)
{
    uint64_t n = 0;
    for (size_t i = 0; i < nseries; i++, n++) {
        const struct wal_series *s = &series[i];
        if (s->nlabels > 0 && s->labels == NULL)
            return TT_EINVAL;
        int rc = rec_put_series(raw, 0, 0, s->ref, s->labels, s->nlabels);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < nsamples; i += SAMPLES_PER_RECORD, n++) {
        size_t k = nsamples - i < SAMPLES_PER_RECORD ? nsamples - i : SAMPLES_PER_RECORD;
        int rc = rec_put_samples(raw, 0, 0, samples + i, k, w->o.value_enc);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < norigins; i++, n++) {
        struct rec_origin ro = to_rec(&origins[i]);
        int rc = rec_put_origin(raw, 0, 0, &ro);
        if (rc != 0)
            return rc;
    }
    if (n > UINT32_MAX)
        return TT_ETOOBIG;
    *nrec = (uint32_t)n;
    return 0;
}

/* set_first_seq stamps the LSN into a finished batch and re-seals its
 * header CRC (first_seq sits at offset 24 of the header, the CRC at 8; both
 * fixed in docs/design/records.md). Done under w->mu, after compression,
 * so appenders compress in parallel and still write in LSN order. */
static void set_first_seq(uint8_t *batch, uint64_t seq)
{
    uint16_t hl = get_le16(batch + OFF_HEADER_LEN);
    put_le64(batch + OFF_FIRST_SEQ, seq);
    put_le32(batch + OFF_HEADER_CRC, 0);
    put_le32(batch + OFF_HEADER_CRC, crc32c(0, batch, hl));
}

static int encode_batch(const struct wal *w, struct wal_buf *b, const struct wal_series *series,
                        size_t nseries, const struct rec_sample *samples, size_t nsamples,
                        const struct wal_origin *origins, size_t norigins, uint32_t *nrec,
                        char *err, size_t errlen)
{
    struct batch_hdr h;
    int rc =
        encode_records(w, &b->raw, series, nseries, samples, nsamples, origins, norigins, nrec);
    if (rc == 0) {
        memset(&h, 0, sizeof h);
        h.count = *nrec;
        rc = batch_encode_compressed(&b->out, &h, b->raw.data, b->raw.len, w->o.compression);
        if (rc == TT_EINVAL)
            rc = TT_ETOOBIG; /* the fields are ours: only the size can be wrong */
    }
    if (rc == TT_ETOOBIG)
        tt_set_err(err, errlen, "wal: append too big for one batch (%zu series, %zu samples)",
                   nseries, nsamples);
    else if (rc == TT_EINVAL)
        tt_set_err(err, errlen, "wal: series with labels but a NULL label array");
    else if (rc != 0)
        tt_set_err(err, errlen, "wal: encoding a batch: %s", tt_strerror(rc));
    return rc;
}

int wal_append(struct wal *w, const struct wal_series *series, size_t nseries,
               const struct rec_sample *samples, size_t nsamples, uint64_t *lsn, char *err,
               size_t errlen)
{
    return wal_append_origins(w, series, nseries, samples, nsamples, NULL, 0, lsn, err, errlen);
}

int wal_append_origins(struct wal *w, const struct wal_series *series, size_t nseries,
                       const struct rec_sample *samples, size_t nsamples,
                       const struct wal_origin *origins, size_t norigins, uint64_t *lsn, char *err,
                       size_t errlen)
{
    char eb[128], name[32];
    struct wal_buf *b = NULL;
    uint32_t nrec = 0;
    int rc = 0;

    if ((nseries > 0 && series == NULL) || (nsamples > 0 && samples == NULL) ||
        (norigins > 0 && origins == NULL)) {
        tt_set_err(err, errlen, "wal: NULL array with a count");
        return TT_EINVAL;
    }
    if (nseries == 0 && nsamples == 0 && norigins == 0) {
        pthread_mutex_lock(&w->mu);
        if (lsn != NULL)
            *lsn = w->written_lsn;
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    b = pool_get(w);
    if (b == NULL) {
        tt_set_err(err, errlen, "wal: out of memory");
        return TT_ENOMEM;
    }
    rc = encode_batch(w, b, series, nseries, samples, nsamples, origins, norigins, &nrec, err,
                      errlen);
    if (rc != 0)
        goto out;

    pthread_mutex_lock(&w->mu);
    w->started = 1;
    if (w->fd >= 0 &&
        (w->need_rotate || (w->seg_bytes > 0 && w->seg_bytes + b->out.len > w->o.segment_bytes)))
        rotate(w);
    if (w->fd < 0)
        rc = open_segment(w, err, errlen);
    if (rc == 0) {
        uint64_t first = w->written_lsn + 1;
        int e = 0;
        set_first_seq(b->out.data, first);
        rc = write_all(w->fd, b->out.data, b->out.len, w->seg_bytes, &e);
        if (rc != 0) {
            w->write_errors++;
            seg_name(w->seg, name, sizeof name);
            tt_set_err(err, errlen,
                       "wal: writing %zu bytes to segment %s at offset %" PRIu64 ": %s", b->out.len,
                       name, w->seg_bytes, errstr(e, eb, sizeof eb));
            undo_write(w);
        } else {
            w->seg_bytes += b->out.len;
            w->disk_bytes += b->out.len;
            w->written_lsn = first + nrec - 1;
            w->appends++;
            w->bytes_written += b->out.len;
            if (!w->pending) {
                w->pending = 1;
                w->pending_since_ns = now_mono();
            }
            if (lsn != NULL)
                *lsn = w->written_lsn;
            for (size_t i = 0; i < norigins && rc == 0; i++)
                rc = origin_raise(w, &origins[i]);
            if (rc != 0)
                tt_set_err(err, errlen, "wal: out of memory for the origin map");
            if (rc == 0 && w->o.sync == WAL_SYNC_ALWAYS)
                rc = sync_upto(w, w->written_lsn, 0, err, errlen);
        }
    }
    pthread_mutex_unlock(&w->mu);
out:
    pool_put(w, b);
    return rc;
}

/* ---- replay --------------------------------------------------------------------- */

struct replay {
    struct wal *w; /* NULL for wal_replay_buffer */
    const struct wal_replay_cb *cb;
    void *arg;
    struct wal_replay_stats *st;
    const char *name; /* file being read */
    int is_ckpt;
    struct rec_label *labels; /* scratch for a series' labels */
    size_t labels_cap;
    struct rec_sample chunk[REPLAY_CHUNK];
    uint64_t done_base; /* bytes of the files before this one */
    uint64_t total;
    uint64_t reported;
    /* A problem reaching the end of the data, held back when the caller may
     * cut it (the last segment). */
    int hold_tail;
    int has_tail;
    struct wal_problem tail;
};

static void report(struct replay *r, const struct wal_problem *p)
{
    r->st->problems++;
    r->st->bytes_skipped += p->bytes;
    if (r->cb->problem != NULL)
        r->cb->problem(r->arg, p);
}

static void make_problem(struct wal_problem *p, const char *file, uint64_t off, uint64_t bytes,
                         int code, const char *msg)
{
    memset(p, 0, sizeof *p);
    snprintf(p->file, sizeof p->file, "%s", file);
    p->offset = off;
    p->bytes = bytes;
    p->code = code;
    snprintf(p->msg, sizeof p->msg, "%s", msg);
}

static void record_problem(struct replay *r, size_t batch_off, uint32_t idx, uint64_t bytes,
                           int code, const char *what)
{
    struct wal_problem p;
    char msg[sizeof p.msg];
    snprintf(msg, sizeof msg, "batch at offset %zu, record %" PRIu32 ": %.150s", batch_off, idx,
             what);
    make_problem(&p, r->name, batch_off, bytes, code, msg);
    report(r, &p);
}

static int replay_series(struct replay *r, const struct rec *rec, size_t off, uint32_t idx)
{
    char msg[160];
    struct rec_series s;
    int rc = rec_decode_series(rec, &s, msg, sizeof msg);
    if (rc != 0) {
        record_problem(r, off, idx, rec->payload_len, rc, msg);
        return 0;
    }
    if (s.labels.count > r->labels_cap) {
        /* count is backed by bytes (2 at least each), so this is bounded
         * by the record's size. */
        struct rec_label *p = realloc(r->labels, s.labels.count * sizeof *p);
        if (p == NULL)
            return TT_ENOMEM;
        r->labels = p;
        r->labels_cap = s.labels.count;
    }
    struct rec_list it = s.labels;
    size_t n = 0;
    while ((rc = rec_label_next(&it, &r->labels[n])) == 1)
        n++;
    if (rc != 0) {
        record_problem(r, off, idx, rec->payload_len, rc, "series: malformed label list");
        return 0;
    }
    r->st->series++;
    if (r->cb->series != NULL)
        return r->cb->series(r->arg, s.ref, r->labels, n);
    return 0;
}

static int replay_samples(struct replay *r, const struct rec *rec, size_t off, uint32_t idx)
{
    char msg[160];
    struct rec_samples s;
    struct rec_sample_iter it;
    int rc = rec_decode_samples(rec, &s, msg, sizeof msg);
    if (rc != 0) {
        record_problem(r, off, idx, rec->payload_len, rc, msg);
        return 0;
    }
    rec_sample_iter_init(&it, &s);
    size_t n = 0;
    for (;;) {
        rc = rec_sample_next(&it, &r->chunk[n]);
        if (rc == 1 && ++n < REPLAY_CHUNK)
            continue;
        if (n > 0) {
            r->st->samples += n;
            if (r->cb->samples != NULL) {
                int crc = r->cb->samples(r->arg, r->chunk, n);
                if (crc != 0)
                    return crc;
            }
            n = 0;
        }
        if (rc != 1)
            break;
    }
    if (rc != 0)
        record_problem(r, off, idx, rec->payload_len, rc, "samples: malformed sample list");
    return 0;
}

static int replay_origin(struct replay *r, const struct rec *rec, size_t off, uint32_t idx)
{
    char msg[160];
    struct rec_origin o;
    int rc = rec_decode_origin(rec, &o, msg, sizeof msg);
    if (rc != 0) {
        record_problem(r, off, idx, rec->payload_len, rc, msg);
        return 0;
    }
    r->st->origins++;
    if (r->w != NULL) {
        pthread_mutex_lock(&r->w->mu);
        struct wal_origin wo = { o.origin_id, o.durable_end, o.prev_end, o.reclog_seg,
                                 o.reclog_end };
        rc = origin_raise(r->w, &wo);
        pthread_mutex_unlock(&r->w->mu);
        if (rc != 0)
            return rc;
    }
    if (r->cb->origin != NULL)
        return r->cb->origin(r->arg, o.origin_id, o.durable_end);
    return 0;
}

static int replay_batch(struct replay *r, const struct batch_hdr *h, const uint8_t *body,
                        size_t len, size_t off)
{
    char msg[160];
    struct rbuf rb;
    struct rec rec;
    uint32_t idx = 0;
    int rc;

    r->st->batches++;
    uint64_t last = r->is_ckpt || h->count == 0 ? h->first_seq : h->first_seq + h->count - 1;
    if (last > r->st->last_lsn)
        r->st->last_lsn = last;
    rbuf_init(&rb, body, len);
    while ((rc = rec_next(&rb, body, &rec, msg, sizeof msg)) == 1) {
        int crc = 0;
        if (rec.type == REC_SERIES)
            crc = replay_series(r, &rec, off, idx);
        else if (rec.type == REC_SAMPLES)
            crc = replay_samples(r, &rec, off, idx);
        else if (rec.type == REC_ORIGIN)
            crc = replay_origin(r, &rec, off, idx);
        else
            r->st->unknown++; /* a newer writer's type: skipped by design */
        if (crc != 0)
            return crc;
        idx++;
    }
    if (rc < 0)
        record_problem(r, off, idx, rbuf_left(&rb), rc, msg);
    return 0;
}

static void progress(struct replay *r, uint64_t done, int force)
{
    if (r->cb->progress == NULL)
        return;
    if (!force && done - r->reported < PROGRESS_EVERY)
        return;
    r->reported = done;
    r->cb->progress(r->arg, done, r->total);
}

/* replay_data walks one file's bytes. */
static int replay_data(struct replay *r, const uint8_t *data, size_t len)
{
    struct batch_scan s;
    struct batch_hdr h;
    struct batch_problem prob;
    const uint8_t *body;
    size_t body_len, off;
    int rc = 0, got;

    r->st->files++;
    r->st->bytes += len;
    batch_scan_init(&s, data, len);
    while ((got = batch_scan_next(&s, &h, &body, &body_len, &off, &prob)) != 0) {
        if (got < 0) {
            struct wal_problem p;
            make_problem(&p, r->name, prob.offset, prob.skipped, prob.code, prob.msg);
            if (r->hold_tail && prob.offset + prob.skipped == len) {
                r->tail = p;
                r->has_tail = 1;
            } else {
                report(r, &p);
            }
            continue;
        }
        rc = replay_batch(r, &h, body, body_len, off);
        if (rc != 0)
            break;
        progress(r, r->done_base + s.off, 0);
    }
    batch_scan_release(&s);
    return rc;
}

static void replay_init(struct replay *r, const struct wal_replay_cb *cb, void *arg,
                        struct wal_replay_stats *st)
{
    static const struct wal_replay_cb none;
    memset(r, 0, offsetof(struct replay, chunk));
    r->cb = cb != NULL ? cb : &none;
    r->arg = arg;
    r->st = st;
    memset(st, 0, sizeof *st);
    r->has_tail = 0;
    r->hold_tail = 0;
    r->done_base = r->total = r->reported = 0;
}

int wal_replay_buffer(const uint8_t *data, size_t len, const char *name,
                      const struct wal_replay_cb *cb, void *arg, struct wal_replay_stats *st)
{
    struct wal_replay_stats local;
    struct replay *r = malloc(sizeof *r);
    if (r == NULL)
        return TT_ENOMEM;
    replay_init(r, cb, arg, st != NULL ? st : &local);
    r->name = name != NULL ? name : "segment";
    r->total = len;
    static const uint8_t empty[1];
    int rc = replay_data(r, data != NULL ? data : empty, data != NULL ? len : 0);
    progress(r, len, 1);
    free(r->labels);
    free(r);
    return rc;
}

/* cut_tail truncates the last segment at off and makes that durable. */
static int cut_tail(const struct wal *w, const char *name, uint64_t off, char *err, size_t errlen)
{
    char path[WAL_PATH_MAX], eb[128];
    file_path(w, name, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = 0;
    if (fd < 0 || ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0) {
        int e = errno;
        tt_set_err(err, errlen, "wal: cannot cut the torn tail of %s at offset %" PRIu64 ": %s",
                   path, off, errstr(e, eb, sizeof eb));
        rc = TT_EIO;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* replay_file maps and replays one file of the WAL directory. */
static int replay_file(struct wal *w, struct replay *r, const char *name, int is_last, char *err,
                       size_t errlen)
{
    char path[WAL_PATH_MAX], eb[128];
    struct stat st;
    void *map = NULL;
    size_t len = 0;
    int rc = 0;

    file_path(w, name, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        tt_set_err(err, errlen, "wal: cannot read %s: %s", path, errstr(e, eb, sizeof eb));
        rc = TT_EIO;
        goto out;
    }
    len = (size_t)st.st_size;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            map = NULL;
            tt_set_err(err, errlen, "wal: cannot map %s: %s", path, errstr(e, eb, sizeof eb));
            rc = TT_EIO;
            goto out;
        }
        (void)madvise(map, len, MADV_SEQUENTIAL);
    }
    r->name = name;
    r->hold_tail = is_last;
    r->has_tail = 0;
    static const uint8_t empty[1];
    rc = replay_data(r, map != NULL ? map : empty, len);
    if (map != NULL)
        munmap(map, len);
    map = NULL;
    if (rc == 0 && r->has_tail) {
        rc = cut_tail(w, name, r->tail.offset, err, errlen);
        if (rc == 0) {
            r->tail.cut = 1;
            r->st->bytes_cut += r->tail.bytes;
            w->disk_bytes -= r->tail.bytes < w->disk_bytes ? r->tail.bytes : w->disk_bytes;
        }
        report(r, &r->tail);
    }
    r->done_base += len;
    progress(r, r->done_base, 1);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void report_gap(struct replay *r, uint32_t from, uint32_t to)
{
    struct wal_problem p;
    char name[32], msg[sizeof p.msg];
    seg_name(from, name, sizeof name);
    if (from == to)
        snprintf(msg, sizeof msg, "segment %08" PRIu32 " is missing", from);
    else
        snprintf(msg, sizeof msg, "segments %08" PRIu32 " to %08" PRIu32 " are missing", from, to);
    make_problem(&p, name, 0, 0, TT_ENOTFOUND, msg);
    report(r, &p);
}

int wal_replay(struct wal *w, const struct wal_replay_cb *cb, void *arg,
               struct wal_replay_stats *st, char *err, size_t errlen)
{
    struct wal_replay_stats local;
    struct listing l = { 0 };
    struct replay *r = NULL;
    char name[32];
    int rc;

    pthread_mutex_lock(&w->mu);
    rc = w->started ? TT_ESTATE : 0;
    w->started = 1;
    pthread_mutex_unlock(&w->mu);
    if (rc != 0) {
        tt_set_err(err, errlen, "wal: replay after an append or a replay");
        return rc;
    }
    r = malloc(sizeof *r);
    if (r == NULL) {
        tt_set_err(err, errlen, "wal: out of memory");
        return TT_ENOMEM;
    }
    replay_init(r, cb, arg, st != NULL ? st : &local);
    r->w = w;
    rc = list_dir(w, 0, &l, err, errlen);
    if (rc != 0)
        goto out;
    r->total = l.seg_bytes + l.ckpt_bytes;
    if (l.has_ckpt) {
        ckpt_name(l.ckpt, name, sizeof name);
        r->is_ckpt = 1;
        rc = replay_file(w, r, name, 0, err, errlen);
        r->is_ckpt = 0;
        if (rc != 0)
            goto out;
    }
    for (size_t i = 0; i < l.nsegs; i++) {
        uint32_t n = l.segs[i];
        uint32_t expect = i > 0 ? l.segs[i - 1] + 1 : l.has_ckpt ? l.ckpt + 1 : n;
        if (n > expect)
            report_gap(r, expect, n - 1);
        seg_name(n, name, sizeof name);
        rc = replay_file(w, r, name, i + 1 == l.nsegs, err, errlen);
        if (rc != 0)
            goto out;
    }
    pthread_mutex_lock(&w->mu);
    if (r->st->last_lsn > w->written_lsn) {
        w->written_lsn = r->st->last_lsn;
        w->durable_lsn = r->st->last_lsn;
    }
    pthread_mutex_unlock(&w->mu);
out:
    free(l.segs);
    free(r->labels);
    free(r);
    return rc;
}

/* ---- checkpoints ---------------------------------------------------------------- */

struct ckpt_writer {
    int fd;
    uint64_t off;
    uint64_t seq;
    int comp;
    uint8_t value_enc;
    uint32_t nrec;
    struct wbuf raw;
    struct wbuf out;
    int e; /* errno of a failed write */
};

static int ckpt_flush(struct ckpt_writer *c)
{
    if (c->nrec == 0)
        return 0;
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = c->nrec;
    h.first_seq = c->seq;
    wbuf_reset(&c->out);
    int rc = batch_encode_compressed(&c->out, &h, c->raw.data, c->raw.len, c->comp);
    if (rc != 0)
        return rc == TT_EINVAL ? TT_ETOOBIG : rc;
    rc = write_all(c->fd, c->out.data, c->out.len, c->off, &c->e);
    if (rc != 0)
        return rc;
    c->off += c->out.len;
    c->nrec = 0;
    wbuf_reset(&c->raw);
    return 0;
}

static int ckpt_item(struct ckpt_writer *c, const struct wal_item *it, struct wal_ckpt_stats *st)
{
    int rc = 0;
    if (it->kind == WAL_ITEM_SERIES) {
        const struct wal_series *s = &it->series;
        if (s->nlabels > 0 && s->labels == NULL)
            return TT_EINVAL;
        rc = rec_put_series(&c->raw, 0, 0, s->ref, s->labels, s->nlabels);
        if (rc != 0)
            return rc;
        c->nrec++;
        st->series++;
    } else if (it->kind == WAL_ITEM_SAMPLES) {
        if (it->nsamples > 0 && it->samples == NULL)
            return TT_EINVAL;
        for (size_t i = 0; i < it->nsamples; i += SAMPLES_PER_RECORD) {
            size_t k =
                it->nsamples - i < SAMPLES_PER_RECORD ? it->nsamples - i : SAMPLES_PER_RECORD;
            rc = rec_put_samples(&c->raw, 0, 0, it->samples + i, k, c->value_enc);
            if (rc != 0)
                return rc;
            c->nrec++;
            if (c->raw.len >= CKPT_BATCH_RAW && (rc = ckpt_flush(c)) != 0)
                return rc;
        }
        st->samples += it->nsamples;
    } else {
        return TT_EINVAL;
    }
    if (c->raw.len >= CKPT_BATCH_RAW)
        rc = ckpt_flush(c);
    return rc;
}

/* drop_covered deletes the segments <= n and checkpoints < n, returning the
 * bytes freed and segments deleted. */
static void drop_covered(struct wal *w, uint32_t n, uint64_t *freed, uint64_t *deleted)
{
    char path[WAL_PATH_MAX];
    struct dirent *de;
    DIR *d = opendir(w->dir);
    *freed = *deleted = 0;
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        uint32_t k;
        enum file_kind kind = classify(de->d_name, &k);
        if (!((kind == F_SEGMENT && k <= n) || (kind == F_CKPT && k < n)))
            continue;
        uint64_t size = file_size(w, de->d_name);
        file_path(w, de->d_name, path, sizeof path);
        if (unlink(path) == 0) {
            *freed += size;
            *deleted += kind == F_SEGMENT;
        }
    }
    closedir(d);
    (void)tt_fsync_dir(w->dir);
}

int wal_checkpoint(struct wal *w, wal_ckpt_next_fn next, void *arg, struct wal_ckpt_stats *st,
                   char *err, size_t errlen)
{
    struct wal_ckpt_stats local;
    struct ckpt_writer c;
    struct wal_item item;
    struct wal_origin *origins = NULL;
    size_t norigins = 0;
    char name[32], tmp[WAL_PATH_MAX + 8], final[WAL_PATH_MAX], eb[128];
    uint32_t n;
    int rc = 0, tmp_made = 0;

    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof *st);
    memset(&c, 0, sizeof c);
    c.fd = -1;
    wbuf_init(&c.raw, BATCH_MAX_RAW);
    wbuf_init(&c.out, 0);

    pthread_mutex_lock(&w->mu);
    if (w->ckpt_running || w->next_seg == 0) {
        pthread_mutex_unlock(&w->mu);
        tt_set_err(err, errlen,
                   w->next_seg == 0 ? "wal: segment numbers exhausted"
                                    : "wal: a checkpoint is already running");
        rc = w->next_seg == 0 ? TT_ERANGE : TT_ESTATE;
        goto done;
    }
    w->ckpt_running = 1;
    w->started = 1;
    /* Cut: the open segment is closed (and synced); the checkpoint takes the
     * number of the last segment so far (0 if there never was one; an
     * existing checkpoint of that number is replaced, atomically, by the
     * rename) and appends go on in the next segment. */
    rotate(w);
    n = w->next_seg - 1;
    c.seq = w->written_lsn;
    c.comp = w->o.compression;
    c.value_enc = w->o.value_enc;
    /* The origin map as of the cut: every append it reflects is in a
     * segment <= n, made durable by rotate(), so the checkpoint never
     * carries a durable_end ahead of its samples. */
    rc = origins_copy(w, &origins, &norigins);
    pthread_mutex_unlock(&w->mu);
    st->segment = n;
    if (rc != 0) {
        tt_set_err(err, errlen, "wal: out of memory copying the origin map");
        pthread_mutex_lock(&w->mu);
        w->ckpt_running = 0;
        pthread_mutex_unlock(&w->mu);
        goto done;
    }

    ckpt_name(n, name, sizeof name);
    file_path(w, name, final, sizeof final);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    c.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (c.fd < 0) {
        int e = errno;
        tt_set_err(err, errlen, "wal: cannot create %s: %s", tmp, errstr(e, eb, sizeof eb));
        rc = TT_EIO;
        goto out;
    }
    tmp_made = 1;
    for (size_t i = 0; i < norigins && rc == 0; i++) {
        struct rec_origin ro = to_rec(&origins[i]);
        rc = rec_put_origin(&c.raw, 0, 0, &ro);
        if (rc == 0) {
            c.nrec++;
            st->origins++;
            if (c.raw.len >= CKPT_BATCH_RAW)
                rc = ckpt_flush(&c);
        }
    }
    for (; rc == 0;) {
        memset(&item, 0, sizeof item);
        int got = next(arg, &item);
        if (got < 0) {
            tt_set_err(err, errlen, "wal: checkpoint iterator failed: %s", tt_strerror(got));
            rc = got;
            goto out;
        }
        if (got == 0)
            break;
        rc = ckpt_item(&c, &item, st);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = ckpt_flush(&c);
    if (rc == 0 && fsync(c.fd) != 0) {
        c.e = errno;
        rc = TT_EIO;
    }
    if (rc != 0) {
        if (rc == TT_EIO)
            tt_set_err(err, errlen, "wal: writing checkpoint %s: %s", tmp,
                       errstr(c.e, eb, sizeof eb));
        else
            tt_set_err(err, errlen, "wal: encoding checkpoint %s: %s", tmp, tt_strerror(rc));
        goto out;
    }
    close(c.fd);
    c.fd = -1;
    if (rename(tmp, final) != 0 || tt_fsync_dir(w->dir) != 0) {
        int e = errno;
        tt_set_err(err, errlen, "wal: cannot install checkpoint %s: %s", final,
                   errstr(e, eb, sizeof eb));
        rc = TT_EIO;
        goto out;
    }
    tmp_made = 0;
    st->bytes = c.off;

    /* The checkpoint is durable under its name: what it covers can go. */
    uint64_t freed, deleted;
    drop_covered(w, n, &freed, &deleted);
    st->segments_deleted = deleted;
    pthread_mutex_lock(&w->mu);
    w->has_ckpt = 1;
    w->ckpt = n;
    w->disk_bytes += c.off;
    w->disk_bytes = freed < w->disk_bytes ? w->disk_bytes - freed : 0;
    /* Segments after n are n+1 .. last_seg, contiguous. */
    if (w->last_seg > n) {
        w->first_seg = n + 1;
    } else {
        w->first_seg = 0;
        w->last_seg = 0;
    }
    if (w->prev_last_seg <= n)
        w->prev_last_seg = 0;
    pthread_mutex_unlock(&w->mu);
out:
    if (c.fd >= 0)
        close(c.fd);
    if (tmp_made)
        (void)unlink(tmp);
    pthread_mutex_lock(&w->mu);
    w->ckpt_running = 0;
    pthread_mutex_unlock(&w->mu);
done:
    free(origins);
    wbuf_release(&c.raw);
    wbuf_release(&c.out);
    return rc;
}

/* ---- state, close --------------------------------------------------------------- */

void wal_get_stats(struct wal *w, struct wal_stats *st)
{
    pthread_mutex_lock(&w->mu);
    st->first_segment = w->first_seg;
    st->last_segment = w->last_seg;
    st->checkpoint = w->has_ckpt ? w->ckpt : 0;
    st->disk_bytes = w->disk_bytes;
    st->written_lsn = w->written_lsn;
    st->durable_lsn = w->durable_lsn;
    st->appends = w->appends;
    st->bytes_written = w->bytes_written;
    st->syncs = w->syncs;
    st->write_errors = w->write_errors;
    st->sync_errors = w->sync_errors;
    pthread_mutex_unlock(&w->mu);
}

int wal_close(struct wal *w)
{
    int rc = 0;
    if (w == NULL)
        return 0;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv_wake);
    pthread_mutex_unlock(&w->mu);
    if (w->has_thread)
        pthread_join(w->thread, NULL);
    pthread_mutex_lock(&w->mu);
    while (w->syncing)
        pthread_cond_wait(&w->cv_sync, &w->mu);
    if (w->fd >= 0) {
        if (w->written_lsn > w->durable_lsn && fdatasync(w->fd) != 0)
            rc = TT_EIO;
        close(w->fd);
        w->fd = -1;
    }
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->npool; i++)
        buf_free(w->pool[i]);
    pthread_cond_destroy(&w->cv_sync);
    pthread_cond_destroy(&w->cv_wake);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->pool_mu);
    free(w->origins);
    free(w);
    return rc;
}
