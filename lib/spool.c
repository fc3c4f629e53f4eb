/*
 * spool.c - libtelltale's spool: appends whole batches to segment files named
 * "<origin_id:016x>-<first_seq:016x>.tts" in the spool directory, rotates them
 * at segment_bytes and keeps this process's segments under max_bytes by
 * deleting the oldest (counting their records as lost).
 *
 * Invariants:
 *  - A segment only ever holds whole batches written by this process: a
 *    failed or short write is truncated back to the batch start before
 *    spool_append returns (only a crash can leave a torn tail, which readers
 *    detect by CRC and cut off).
 *  - s->segs lists our closed segments oldest first; s->cur is the open one
 *    (s->fd >= 0) and is never deleted by the cap unless it alone is left.
 *  - Segments the agent already shipped and deleted (unlink gives ENOENT, or
 *    they are gone when the cap looks) are forgotten, not counted as lost.
 *  - Every descriptor is opened O_CLOEXEC so exec'd children never hold a
 *    segment open; a forked child drops its copies with spool_forget.
 *
 * Permissions: missing directories are created 0755 and segments 0644 (both
 * minus the umask). We deliberately do not create a world-writable 01777
 * directory: any local user could then fill or squat the spool, and with the
 * sticky bit an unprivileged agent could not delete other users' segments.
 * Deployments where several users share one spool create the directory
 * themselves (say group-writable 02775 with the agent in the group); an
 * existing directory's mode is never changed. Segments are created with
 * O_EXCL|O_NOFOLLOW so a planted file or symlink is never written through.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "lib/spool.h"

/* Room for "<dir>/<16 hex>-<16 hex>.tts" with any dir that fits TT_PATH_MAX. */
#define SEG_PATH_MAX (TT_PATH_MAX + 48)

static void seg_path(const struct spool *s, uint64_t first_seq, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%016" PRIx64 "-%016" PRIx64 ".tts", s->dir, s->origin_id, first_seq);
}

static const char *errstr(int e, char *buf, size_t len)
{
    /* GNU strerror_r (we build with _GNU_SOURCE) returns the message pointer. */
    return strerror_r(e, buf, len);
}

/* mkdir_p creates path and its missing parents with mode 0755. */
static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char tmp[TT_PATH_MAX];
    char eb[128];
    size_t n = strlen(path);

    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "cannot create spool directory %s: %s", tmp,
                     errstr(e, eb, sizeof(eb)));
            return TT_ESYS;
        }
        tmp[i] = saved;
    }
    return 0;
}

int spool_open(struct spool *s, const char *dir, uint64_t origin_id, uint64_t max_bytes,
               uint64_t segment_bytes, int fsync, char *err, size_t errlen)
{
    char eb[128];
    struct stat st;
    size_t n;
    int rc;

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    if (errlen > 0)
        err[0] = '\0';
    if (dir == NULL || dir[0] == '\0') {
        snprintf(err, errlen, "spool directory not set");
        return TT_EINVAL;
    }
    n = strlen(dir);
    if (n >= sizeof(s->dir)) {
        snprintf(err, errlen, "spool directory path too long (%zu bytes, max %d): %.64s...", n,
                 TT_PATH_MAX - 1, dir);
        return TT_EINVAL;
    }
    /* Drop trailing slashes (but keep "/") so segment paths read cleanly. */
    while (n > 1 && dir[n - 1] == '/')
        n--;
    memcpy(s->dir, dir, n);
    s->dir[n] = '\0';
    s->origin_id = origin_id;
    s->max_bytes = max_bytes;
    s->segment_bytes = segment_bytes;
    s->fsync = fsync;

    rc = mkdir_p(s->dir, err, errlen);
    if (rc != 0)
        return rc;
    if (stat(s->dir, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "spool directory %s: %s", s->dir, errstr(e, eb, sizeof(eb)));
        return TT_ESYS;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "spool directory %s: not a directory", s->dir);
        return TT_ESYS;
    }
    /* AT_EACCESS checks the effective ids, the ones open(2) will use. */
    if (faccessat(AT_FDCWD, s->dir, W_OK | X_OK, AT_EACCESS) != 0) {
        int e = errno;
        snprintf(err, errlen, "spool directory %s is not writable: %s", s->dir,
                 errstr(e, eb, sizeof(eb)));
        return TT_EIO;
    }
    return 0;
}

/* sync_dir makes a new segment's name durable (only when fsync is set). */
static void sync_dir(const struct spool *s)
{
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0)
        return;
    (void)fsync(dfd);
    close(dfd);
}

/* reserve_closed makes room for one more closed segment in s->segs. */
static int reserve_closed(struct spool *s)
{
    if (s->nsegs < s->cap)
        return 0;
    size_t ncap = s->cap ? s->cap * 2 : 16;
    struct spool_seg *p = realloc(s->segs, ncap * sizeof(*p));

    if (p == NULL)
        return TT_ENOMEM;
    s->segs = p;
    s->cap = ncap;
    return 0;
}

/* rotate closes the open segment and moves it to the closed list. On
 * TT_ENOMEM nothing changes. */
static int rotate(struct spool *s)
{
    int rc;

    if (s->fd < 0)
        return 0;
    rc = reserve_closed(s);
    if (rc != 0)
        return rc;
    if (s->fsync)
        (void)fdatasync(s->fd);
    close(s->fd);
    s->fd = -1;
    s->segs[s->nsegs++] = s->cur;
    memset(&s->cur, 0, sizeof(s->cur));
    return 0;
}

static uint64_t total_bytes(const struct spool *s)
{
    uint64_t t = s->fd >= 0 ? s->cur.bytes : 0;

    for (size_t i = 0; i < s->nsegs; i++)
        t += s->segs[i].bytes;
    return t;
}

/* forget_gone drops closed segments the agent has already deleted. */
static void forget_gone(struct spool *s)
{
    char path[SEG_PATH_MAX];
    struct stat st;
    size_t j = 0;

    for (size_t i = 0; i < s->nsegs; i++) {
        seg_path(s, s->segs[i].first_seq, path, sizeof(path));
        if (lstat(path, &st) != 0 && errno == ENOENT)
            continue;
        s->segs[j++] = s->segs[i];
    }
    s->nsegs = j;
}

/* drop_oldest deletes the oldest closed segment, counting it as lost unless
 * the agent got to it first. */
static void drop_oldest(struct spool *s)
{
    char path[SEG_PATH_MAX];

    seg_path(s, s->segs[0].first_seq, path, sizeof(path));
    /* ENOENT: the agent shipped it meanwhile. Any other failure (the
     * directory's permissions changed under us?): stop tracking it anyway so
     * the cap does not retry forever; its records are still on disk, so
     * neither case is a loss. */
    if (unlink(path) == 0) {
        s->lost_records += s->segs[0].records;
        s->lost_segments++;
    }
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(s->segs[0]));
    s->nsegs--;
}

/* enforce_cap makes room for len more bytes under max_bytes. */
static int enforce_cap(struct spool *s, size_t len)
{
    uint64_t total = total_bytes(s);

    if (s->max_bytes == 0 || total + len <= s->max_bytes)
        return 0;
    forget_gone(s);
    while (s->nsegs > 0 && total_bytes(s) + len > s->max_bytes)
        drop_oldest(s);
    /* Still too big with only the open segment left (max_bytes smaller than
     * a segment): close it and drop it too, the new batch starts afresh. */
    if (s->fd >= 0 && s->cur.bytes > 0 && s->cur.bytes + len > s->max_bytes) {
        int rc = rotate(s);
        if (rc != 0)
            return rc;
        drop_oldest(s);
    }
    return 0;
}

static int open_segment(struct spool *s, uint64_t first_seq)
{
    char path[SEG_PATH_MAX];
    int fd;

    seg_path(s, first_seq, path, sizeof(path));
    do {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return TT_EIO;
    if (s->fsync)
        sync_dir(s);
    s->fd = fd;
    s->cur.first_seq = first_seq;
    s->cur.bytes = 0;
    s->cur.records = 0;
    return 0;
}

/* write_all writes p[0..len) at off, looping over short writes and EINTR. */
static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return TT_EIO;
        }
        if (w == 0)
            return TT_EIO;
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* abandon_segment handles a segment whose batch could not be written: an
 * empty one is removed (it will be recreated under the next batch's name);
 * one whose torn tail could not be truncated is closed so nothing more is
 * appended after the tear. */
static void abandon_segment(struct spool *s, int truncated)
{
    char path[SEG_PATH_MAX];

    if (s->cur.bytes == 0) {
        seg_path(s, s->cur.first_seq, path, sizeof(path));
        close(s->fd);
        s->fd = -1;
        (void)unlink(path);
        memset(&s->cur, 0, sizeof(s->cur));
        return;
    }
    if (!truncated)
        (void)rotate(s);
}

int spool_append(struct spool *s, const void *batch, size_t len, uint64_t first_seq, uint32_t count)
{
    int rc;

    if (len == 0)
        return 0;
    /* Rotate first: a batch that would push the open segment past
     * segment_bytes starts a new one; a batch bigger than segment_bytes goes
     * alone into a fresh segment. */
    if (s->fd >= 0 && s->cur.bytes > 0 && s->cur.bytes + len > s->segment_bytes) {
        rc = rotate(s);
        if (rc != 0)
            return rc;
    }
    rc = enforce_cap(s, len);
    if (rc != 0)
        return rc;
    if (s->fd < 0) {
        rc = open_segment(s, first_seq);
        if (rc != 0)
            return rc;
    }
    rc = write_all(s->fd, batch, len, s->cur.bytes);
    if (rc != 0) {
        int truncated;
        do {
            truncated = ftruncate(s->fd, (off_t)s->cur.bytes) == 0;
        } while (!truncated && errno == EINTR);
        abandon_segment(s, truncated);
        return TT_EIO;
    }
    s->cur.bytes += len;
    s->cur.records += count;
    return 0;
}

int spool_sync(struct spool *s)
{
    if (s->fd < 0)
        return 0;
    if (fdatasync(s->fd) != 0)
        return TT_EIO;
    return 0;
}

void spool_take_losses(struct spool *s, uint64_t *records, uint64_t *segments)
{
    if (records != NULL)
        *records = s->lost_records;
    if (segments != NULL)
        *segments = s->lost_segments;
    s->lost_records = 0;
    s->lost_segments = 0;
}

static void release(struct spool *s)
{
    free(s->segs);
    s->segs = NULL;
    s->nsegs = 0;
    s->cap = 0;
    memset(&s->cur, 0, sizeof(s->cur));
}

void spool_close(struct spool *s)
{
    if (s->fd >= 0) {
        if (s->fsync)
            (void)fdatasync(s->fd);
        close(s->fd);
        s->fd = -1;
    }
    release(s);
}

void spool_forget(struct spool *s)
{
    /* Closing our copy of the descriptor leaves the parent's open file and
     * every segment on disk untouched; no sync, truncate or unlink here. */
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    release(s);
}
