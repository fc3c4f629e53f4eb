/*
 * backlog.c - the agent's bounded on-disk FIFO of unacknowledged batches:
 * segment files of whole batches, a per-origin acknowledged sequence kept in
 * an atomically replaced state file, drop-oldest at a byte limit, and a
 * cursor for the shipper (docs/design/agent-backlog.md).
 *
 * Invariants:
 *  - b->segs is sorted by number; only the last may be open (b->fd >= 0).
 *  - Each segment's summary (bytes, per-origin batches, records and highest
 *    last sequence) describes exactly the good batches in its file, so a
 *    segment is done when every origin's highest sequence is acknowledged.
 *  - The open segment is never deleted for being done (that would create
 *    and delete a file per append while the link is up); it is once closed.
 *  - Batches are handed out without decompression: the shipper sends them
 *    as stored, so only the header and body CRCs are checked here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "agent/backlog.h"
#include "core/fileio.h"
#include "core/batch.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crc32c.h"
#include "core/hlc.h"
#include "telltale.h"
#include "core/errmsg.h"

#define DIR_MAX        (TT_PATH_MAX + 16)
#define PATH_MAX_BL    (DIR_MAX + 40)
#define SEG_SUFFIX     ".seg"
#define STATE_NAME     "acked"
#define STATE_TMP      "acked.tmp"
#define STATE_MAGIC    0x4b425454u /* "TTBK" as bytes */
#define STATE_VER      2
#define STATE_HDR      16
#define STATE_ENTRY_V1 40
#define STATE_ENTRY    80
#define STATE_MAX_N    (1u << 20)
#define DEFAULT_ACK_MS 1000

struct origin_sum {
    uint64_t id;
    uint64_t max_last; /* highest last sequence of its batches here */
    uint64_t batches;
    uint64_t records;
};

struct seg {
    uint64_t num;
    uint64_t bytes;
    int64_t first_ns; /* wall time of its first batch */
    int from_open;    /* found at open: its problems were reported then */
    struct origin_sum *o;
    size_t no, cap;
};

struct origin_state {
    uint64_t id;
    uint64_t acked;
    int has_acked;
    uint64_t drop_batches, drop_records;
    /* What the dropped batches covered (first_seq UINT64_MAX: unknown). */
    uint64_t drop_bytes, drop_first_seq, drop_last_seq;
    tt_hlc drop_hlc_min, drop_hlc_max;
};

struct backlog {
    char dir[DIR_MAX];
    struct backlog_options o;
    struct seg *segs;
    size_t nsegs, capsegs;
    int fd; /* the last segment, open for appending; -1 if none */
    int unsynced;
    int dir_dirty; /* a segment was created since the last directory fsync */
    int64_t last_sync_mono;
    uint64_t next_num;
    struct origin_state *org;
    size_t norg, caporg;
    int state_dirty;
    int64_t state_written_mono;
    /* the cursor, and the high-water mark of what it handed out */
    struct backlog_pos cur, hw;
    int hw_valid;
    uint8_t *buf; /* bytes [buf_off, buf_off + buf_len) of segment buf_seg */
    size_t buf_len, buf_cap;
    uint64_t buf_seg, buf_off;
    int buf_valid;
    struct backlog_stats st; /* counters; the rest is computed */
};

/* ---- small helpers ------------------------------------------------------------ */

static void seg_name(uint64_t n, char *out, size_t len)
{
    snprintf(out, len, "%016" PRIx64 SEG_SUFFIX, n);
}

static void file_path(const struct backlog *b, const char *name, char *out, size_t len)
{
    if (snprintf(out, len, "%s/%s", b->dir, name) >= (int)len)
        out[len - 1] = 0;
}

static void seg_path(const struct backlog *b, uint64_t n, char *out, size_t len)
{
    char name[32];
    seg_name(n, name, sizeof name);
    file_path(b, name, out, len);
}

/* parse_seg_name accepts exactly 16 lowercase hex digits and ".seg". */
static int parse_seg_name(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (n != 16 + strlen(SEG_SUFFIX) || strcmp(s + 16, SEG_SUFFIX) != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 1;
}

static int read_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO; /* the file is shorter than we know it to be */
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* read_file reads the whole file at path into a malloc'd *out (*len bytes). */
static int read_file(const char *path, uint8_t **out, size_t *len, int64_t *mtime_ns)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *out = NULL;
    *len = 0;
    if (fd < 0)
        return errno == ENOENT ? TT_ENOTFOUND : TT_EIO;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        close(fd);
        return TT_EIO;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL) {
        close(fd);
        return TT_ENOMEM;
    }
    if (read_all(fd, p, n, 0) != 0) {
        free(p);
        close(fd);
        return TT_EIO;
    }
    close(fd);
    if (mtime_ns != NULL)
        *mtime_ns = (int64_t)st.st_mtim.tv_sec * TT_NS_PER_S + st.st_mtim.tv_nsec;
    *out = p;
    *len = n;
    return 0;
}

static uint64_t last_seq(const struct batch_hdr *h)
{
    return h->count ? h->first_seq + h->count - 1 : h->first_seq;
}

/* ---- scanning a segment ---------------------------------------------------------- */

/* resync returns the first offset >= from where a batch header parses, or len. */
static size_t resync(const uint8_t *d, size_t len, size_t from)
{
    for (size_t i = from;; i++) {
        i = batch_find_magic(d, len, i);
        if (i >= len)
            return len;
        struct batch_hdr h;
        int rc = batch_parse_header(d + i, len - i, &h, NULL, 0);
        if (rc == 0 || rc == TT_EVERSION)
            return i;
    }
}

static int scan_problem(struct backlog_problem *p, size_t *off, size_t at, size_t next, int code,
                        const char *why)
{
    p->offset = at;
    p->bytes = next - at;
    p->code = code;
    p->cut = 0;
    snprintf(p->msg, sizeof p->msg, "%s", why);
    *off = next;
    return -1;
}

/* scan_step: like batch_scan_next (docs/design/records.md) but without
 * opening the body. Returns 1 with the batch at *bat (header in *h), 0 at the
 * end, -1 with *p filled (file name left to the caller) after skipping
 * bytes. *off moves forward by at least one byte unless 0 is returned. */
static int scan_step(const uint8_t *d, size_t len, size_t *off, struct batch_hdr *h, size_t *bat,
                     struct backlog_problem *p)
{
    char why[160], msg[200];
    size_t at = *off;
    if (at >= len)
        return 0;
    size_t left = len - at;
    int rc = batch_parse_header(d + at, left, h, why, sizeof why);
    if ((rc == 0 || rc == TT_EVERSION) && batch_total_len(h) > left) {
        snprintf(why, sizeof why, "batch of %zu bytes runs past the end (%zu bytes left)",
                 batch_total_len(h), left);
        rc = TT_ETRUNC;
    }
    if (rc == TT_EVERSION)
        return scan_problem(p, off, at, at + batch_total_len(h), rc, why);
    if (rc == TT_ETRUNC) {
        size_t next = resync(d, len, at + 1);
        if (next < len) {
            snprintf(msg, sizeof msg, "%.120s; a batch follows at offset %zu", why, next);
            return scan_problem(p, off, at, next, TT_ECORRUPT, msg);
        }
        snprintf(msg, sizeof msg, "torn tail: %.160s", why);
        return scan_problem(p, off, at, len, TT_ETRUNC, msg);
    }
    if (rc != 0)
        return scan_problem(p, off, at, resync(d, len, at + 1), rc, why);
    rc = batch_check_body(d + at, h, why, sizeof why);
    if (rc != 0)
        return scan_problem(p, off, at, resync(d, len, at + 1), rc, why);
    *bat = at;
    *off = at + batch_total_len(h);
    return 1;
}

uint64_t backlog_scan_buffer(const uint8_t *data, size_t len, const char *name,
                             void (*problem)(void *arg, const struct backlog_problem *p), void *arg)
{
    uint64_t good = 0;
    size_t off = 0, bat;
    struct batch_hdr h;
    struct backlog_problem p;
    int rc;
    while ((rc = scan_step(data, len, &off, &h, &bat, &p)) != 0) {
        if (rc == 1) {
            good++;
            continue;
        }
        snprintf(p.file, sizeof p.file, "%s", name);
        if (problem != NULL)
            problem(arg, &p);
    }
    return good;
}

/* ---- origins and segment summaries --------------------------------------------------- */

static struct origin_state *origin_get(struct backlog *b, uint64_t id, int add)
{
    for (size_t i = 0; i < b->norg; i++)
        if (b->org[i].id == id)
            return &b->org[i];
    if (!add)
        return NULL;
    if (b->norg == b->caporg) {
        size_t cap = b->caporg ? b->caporg * 2 : 8;
        struct origin_state *n = realloc(b->org, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        b->org = n;
        b->caporg = cap;
    }
    struct origin_state *o = &b->org[b->norg++];
    memset(o, 0, sizeof *o);
    o->id = id;
    return o;
}

static int is_done(const struct backlog *b, uint64_t origin, uint64_t last)
{
    for (size_t i = 0; i < b->norg; i++)
        if (b->org[i].id == origin)
            return b->org[i].has_acked && last <= b->org[i].acked;
    return 0;
}

static int seg_add_batch(struct seg *s, const struct batch_hdr *h)
{
    struct origin_sum *o = NULL;
    for (size_t i = 0; i < s->no; i++)
        if (s->o[i].id == h->origin_id)
            o = &s->o[i];
    if (o == NULL) {
        if (s->no == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 4;
            struct origin_sum *n = realloc(s->o, cap * sizeof *n);
            if (n == NULL)
                return TT_ENOMEM;
            s->o = n;
            s->cap = cap;
        }
        o = &s->o[s->no++];
        memset(o, 0, sizeof *o);
        o->id = h->origin_id;
        o->max_last = last_seq(h);
    }
    if (last_seq(h) > o->max_last)
        o->max_last = last_seq(h);
    o->batches++;
    o->records += h->count;
    return 0;
}

static int seg_done(const struct backlog *b, const struct seg *s)
{
    for (size_t i = 0; i < s->no; i++)
        if (!is_done(b, s->o[i].id, s->o[i].max_last))
            return 0;
    return 1;
}

static struct seg *seg_push(struct backlog *b, uint64_t num)
{
    if (b->nsegs == b->capsegs) {
        size_t cap = b->capsegs ? b->capsegs * 2 : 16;
        struct seg *n = realloc(b->segs, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        b->segs = n;
        b->capsegs = cap;
    }
    struct seg *s = &b->segs[b->nsegs++];
    memset(s, 0, sizeof *s);
    s->num = num;
    return s;
}

/* seg_remove forgets segment i (its file already gone or to be unlinked). */
static void seg_remove(struct backlog *b, size_t i)
{
    if (b->buf_valid && b->buf_seg == b->segs[i].num)
        b->buf_valid = 0;
    free(b->segs[i].o);
    memmove(&b->segs[i], &b->segs[i + 1], (b->nsegs - i - 1) * sizeof b->segs[0]);
    b->nsegs--;
}

static void report(struct backlog *b, struct backlog_problem *p)
{
    b->st.problems++;
    b->st.bytes_skipped += p->bytes;
    if (b->o.problem != NULL)
        b->o.problem(b->o.problem_arg, p);
}

/* ---- the state file ----------------------------------------------------------------- */

/* origin_live: the origin has batches on disk or drops to report; others
 * are left out of the state file (an ack only matters for batches kept). */
static int origin_live(const struct backlog *b, const struct origin_state *o)
{
    if (o->drop_batches || o->drop_records)
        return 1;
    for (size_t i = 0; i < b->nsegs; i++)
        for (size_t k = 0; k < b->segs[i].no; k++)
            if (b->segs[i].o[k].id == o->id)
                return 1;
    return 0;
}

static int state_write(struct backlog *b, char *err, size_t errlen)
{
    char tmp[PATH_MAX_BL], path[PATH_MAX_BL];
    size_t n = 0;
    for (size_t i = 0; i < b->norg; i++)
        n += (size_t)origin_live(b, &b->org[i]);
    size_t len = STATE_HDR + n * STATE_ENTRY + 4;
    uint8_t *d = calloc(1, len);
    int fd = -1, rc = TT_EIO;
    if (d == NULL)
        return TT_ENOMEM;
    put_le32(d, STATE_MAGIC);
    put_le16(d + 4, STATE_VER);
    put_le32(d + 8, (uint32_t)n);
    uint8_t *e = d + STATE_HDR;
    for (size_t i = 0; i < b->norg; i++) {
        const struct origin_state *o = &b->org[i];
        if (!origin_live(b, o))
            continue;
        put_le64(e, o->id);
        put_le64(e + 8, o->acked);
        put_le64(e + 16, (uint64_t)o->has_acked);
        put_le64(e + 24, o->drop_batches);
        put_le64(e + 32, o->drop_records);
        put_le64(e + 40, o->drop_bytes);
        put_le64(e + 48, o->drop_first_seq);
        put_le64(e + 56, o->drop_last_seq);
        put_le64(e + 64, o->drop_hlc_min);
        put_le64(e + 72, o->drop_hlc_max);
        e += STATE_ENTRY;
    }
    put_le32(e, crc32c(0, d, len - 4));
    file_path(b, STATE_TMP, tmp, sizeof tmp);
    file_path(b, STATE_NAME, path, sizeof path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || tt_pwrite_all(fd, d, len, 0) != 0 || fsync(fd) != 0) {
        tt_set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0 || tt_fsync_dir(b->dir) != 0) {
        tt_set_err(err, errlen, "%s: cannot replace: %s", path, strerror(errno));
        goto out;
    }
    b->state_dirty = 0;
    b->state_written_mono = clock_monotonic_ns();
    b->st.state_writes++;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(d);
    return rc;
}

/* state_read loads the state file; a missing or garbled one is reported and
 * leaves nothing acknowledged. Only TT_ENOMEM fails. */
static int state_read(struct backlog *b, int segments_exist)
{
    char path[PATH_MAX_BL];
    uint8_t *d = NULL;
    size_t len = 0;
    struct backlog_problem p;
    memset(&p, 0, sizeof p);
    snprintf(p.file, sizeof p.file, STATE_NAME);
    file_path(b, STATE_NAME, path, sizeof path);
    int rc = read_file(path, &d, &len, NULL);
    if (rc == TT_ENOMEM)
        return rc;
    if (rc != 0) {
        b->state_dirty = 1; /* written at the end of open */
        if (rc == TT_ENOTFOUND && !segments_exist)
            return 0; /* a fresh backlog */
        p.code = rc;
        snprintf(p.msg, sizeof p.msg, "state file %s: nothing counts as acknowledged",
                 rc == TT_ENOTFOUND ? "missing" : "unreadable");
        report(b, &p);
        return 0;
    }
    const char *why = NULL;
    uint32_t n = len >= STATE_HDR ? get_le32(d + 8) : 0;
    if (len < STATE_HDR + 4 || get_le32(d) != STATE_MAGIC)
        why = "bad magic or too short";
    else if (get_le16(d + 4) != STATE_VER && get_le16(d + 4) != 1)
        why = "unknown version";
    else if (n > STATE_MAX_N ||
             len !=
                 STATE_HDR + (size_t)n * (get_le16(d + 4) == 1 ? STATE_ENTRY_V1 : STATE_ENTRY) + 4)
        why = "length does not match the origin count";
    else if (crc32c(0, d, len - 4) != get_le32(d + len - 4))
        why = "checksum mismatch";
    if (why != NULL) {
        p.code = TT_ECORRUPT;
        p.bytes = len;
        b->state_dirty = 1;
        snprintf(p.msg, sizeof p.msg, "state file garbled (%s): nothing counts as acknowledged",
                 why);
        free(d);
        report(b, &p);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t esz = get_le16(d + 4) == 1 ? STATE_ENTRY_V1 : STATE_ENTRY;
        const uint8_t *e = d + STATE_HDR + (size_t)i * esz;
        struct origin_state *o = origin_get(b, get_le64(e), 1);
        if (o == NULL) {
            free(d);
            return TT_ENOMEM;
        }
        o->acked = get_le64(e + 8);
        o->has_acked = get_le64(e + 16) & 1;
        o->drop_batches = get_le64(e + 24);
        o->drop_records = get_le64(e + 32);
        o->drop_first_seq = UINT64_MAX;
        if (esz == STATE_ENTRY) {
            o->drop_bytes = get_le64(e + 40);
            o->drop_first_seq = get_le64(e + 48);
            o->drop_last_seq = get_le64(e + 56);
            o->drop_hlc_min = get_le64(e + 64);
            o->drop_hlc_max = get_le64(e + 72);
        }
    }
    free(d);
    return 0;
}

/* ---- open ----------------------------------------------------------------------------- */

void backlog_options_default(struct backlog_options *o)
{
    memset(o, 0, sizeof *o);
    o->segment_bytes = BACKLOG_DEFAULT_SEGMENT_BYTES;
    o->limit_bytes = BACKLOG_DEFAULT_LIMIT_BYTES;
    o->sync = BACKLOG_SYNC_ALWAYS;
    o->interval_ms = 1000;
    o->ack_interval_ms = DEFAULT_ACK_MS;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* list_segments returns the sorted segment numbers in b->dir, and removes a
 * leftover state temporary. */
static int list_segments(struct backlog *b, uint64_t **nums, size_t *n, char *err, size_t errlen)
{
    DIR *d = opendir(b->dir);
    struct dirent *e;
    size_t cap = 0;
    *nums = NULL;
    *n = 0;
    if (d == NULL) {
        tt_set_err(err, errlen, "%s: cannot list: %s", b->dir, strerror(errno));
        return TT_EIO;
    }
    while ((e = readdir(d)) != NULL) {
        uint64_t v;
        if (strcmp(e->d_name, STATE_TMP) == 0) {
            char p[PATH_MAX_BL];
            file_path(b, STATE_TMP, p, sizeof p);
            unlink(p);
            continue;
        }
        if (!parse_seg_name(e->d_name, &v))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *m = realloc(*nums, cap * sizeof *m);
            if (m == NULL) {
                closedir(d);
                return TT_ENOMEM;
            }
            *nums = m;
        }
        (*nums)[(*n)++] = v;
    }
    closedir(d);
    if (*n > 1)
        qsort(*nums, *n, sizeof **nums, cmp_u64);
    return 0;
}

/* load_segment scans segment num (the last one when last): builds its
 * summary, reports damage, cuts damage reaching the end of the last one. */
static int load_segment(struct backlog *b, uint64_t num, int last, char *err, size_t errlen)
{
    char path[PATH_MAX_BL], name[32];
    uint8_t *d = NULL;
    size_t len = 0, off = 0, bat, cut_at = SIZE_MAX;
    int64_t mtime = 0;
    struct batch_hdr h;
    struct backlog_problem p;
    seg_path(b, num, path, sizeof path);
    seg_name(num, name, sizeof name);
    int rc = read_file(path, &d, &len, &mtime);
    if (rc != 0) {
        tt_set_err(err, errlen, "%s: cannot read: %s", path, tt_strerror(rc));
        return rc == TT_ENOTFOUND ? TT_EIO : rc;
    }
    struct seg *s = seg_push(b, num);
    if (s == NULL) {
        free(d);
        return TT_ENOMEM;
    }
    s->from_open = 1;
    s->bytes = len;
    while ((rc = scan_step(d, len, &off, &h, &bat, &p)) != 0) {
        if (rc == -1) {
            snprintf(p.file, sizeof p.file, "%s", name);
            if (last && p.offset + p.bytes == len) {
                cut_at = p.offset; /* damage up to the end: a torn tail */
                p.cut = 1;
            }
            report(b, &p);
            continue;
        }
        if (s->no == 0 && h.hlc_min != 0 && hlc_l(h.hlc_min) < (uint64_t)(INT64_MAX / TT_NS_PER_MS))
            s->first_ns = (int64_t)hlc_l(h.hlc_min) * TT_NS_PER_MS;
        rc = seg_add_batch(s, &h);
        if (rc != 0) {
            free(d);
            return rc;
        }
        if (!is_done(b, h.origin_id, last_seq(&h)))
            b->st.unacked_at_open++;
    }
    free(d);
    if (s->first_ns == 0)
        s->first_ns = mtime;
    if (cut_at != SIZE_MAX) {
        if (truncate(path, (off_t)cut_at) != 0) {
            tt_set_err(err, errlen, "%s: cannot cut the torn tail at %zu: %s", path, cut_at,
                       strerror(errno));
            return TT_EIO;
        }
        s->bytes = cut_at;
    }
    return 0;
}

/* delete_done removes closed segments whose batches are all acknowledged. */
static void delete_done(struct backlog *b)
{
    for (size_t i = 0; i < b->nsegs;) {
        int open_one = b->fd >= 0 && i == b->nsegs - 1;
        if (open_one || !seg_done(b, &b->segs[i])) {
            i++;
            continue;
        }
        char path[PATH_MAX_BL];
        seg_path(b, b->segs[i].num, path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            i++; /* kept; tried again at the next ack */
            continue;
        }
        b->st.segments_deleted++;
        seg_remove(b, i);
    }
}

static int mkdir_p1(const char *p)
{
    return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int backlog_open(struct backlog **out, const char *state_dir, const struct backlog_options *o,
                 char *err, size_t errlen)
{
    struct backlog *b = NULL;
    uint64_t *nums = NULL;
    size_t n = 0;
    int rc;
    *out = NULL;
    if (state_dir == NULL || strlen(state_dir) + 9 >= TT_PATH_MAX) {
        tt_set_err(err, errlen, "backlog: state directory missing or too long");
        return TT_EINVAL;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return TT_ENOMEM;
    b->fd = -1;
    if (o != NULL)
        b->o = *o;
    else
        backlog_options_default(&b->o);
    if (b->o.sync != BACKLOG_SYNC_ALWAYS && b->o.sync != BACKLOG_SYNC_INTERVAL) {
        tt_set_err(err, errlen, "backlog: unknown sync policy %d", b->o.sync);
        rc = TT_EINVAL;
        goto fail;
    }
    if (b->o.segment_bytes < BACKLOG_SEGMENT_MIN_BYTES)
        b->o.segment_bytes = BACKLOG_SEGMENT_MIN_BYTES;
    if (b->o.limit_bytes < b->o.segment_bytes) {
        tt_set_err(err, errlen, "backlog: limit %" PRIu64 " below the segment size %" PRIu64,
                   b->o.limit_bytes, b->o.segment_bytes);
        rc = TT_EINVAL;
        goto fail;
    }
    snprintf(b->dir, sizeof b->dir, "%s/backlog", state_dir);
    if (mkdir_p1(state_dir) != 0 || mkdir_p1(b->dir) != 0) {
        tt_set_err(err, errlen, "%s: cannot create: %s", b->dir, strerror(errno));
        rc = TT_EIO;
        goto fail;
    }
    rc = list_segments(b, &nums, &n, err, errlen);
    if (rc != 0)
        goto fail;
    rc = state_read(b, n > 0);
    if (rc != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        rc = load_segment(b, nums[i], i == n - 1, err, errlen);
        if (rc != 0)
            goto fail;
    }
    b->next_num = n > 0 ? nums[n - 1] + 1 : 1;
    delete_done(b);
    /* A fresh or replaced state file, so that a missing one later means
     * something went wrong. */
    if (b->state_dirty) {
        rc = state_write(b, err, errlen);
        if (rc != 0)
            goto fail;
    }
    if (b->nsegs > 0) {
        b->cur.seg = b->segs[0].num;
        b->cur.off = 0;
    } else {
        b->cur.seg = b->next_num;
    }
    free(nums);
    *out = b;
    return 0;
fail:
    free(nums);
    b->fd = -1;
    backlog_close(b);
    return rc;
}

/* ---- appending -------------------------------------------------------------------------- */

static int seg_sync(struct backlog *b, char *err, size_t errlen)
{
    if (b->fd >= 0 && b->unsynced) {
        if (fdatasync(b->fd) != 0) {
            tt_set_err(err, errlen, "%s: fdatasync: %s", b->dir, strerror(errno));
            return TT_EIO;
        }
        b->st.syncs++;
        b->unsynced = 0;
    }
    if (b->dir_dirty) {
        if (tt_fsync_dir(b->dir) != 0) {
            tt_set_err(err, errlen, "%s: fsync of the directory failed", b->dir);
            return TT_EIO;
        }
        b->dir_dirty = 0;
    }
    b->last_sync_mono = clock_monotonic_ns();
    return 0;
}

static int seg_close(struct backlog *b, char *err, size_t errlen)
{
    int rc = seg_sync(b, err, errlen);
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    b->unsynced = 0;
    return rc;
}

/* drop_oldest deletes the oldest segment for the byte limit, counting its
 * undone batches per origin (written to the state file before the delete). */
static int drop_oldest(struct backlog *b, char *err, size_t errlen)
{
    char path[PATH_MAX_BL];
    struct seg *s = &b->segs[0];
    uint8_t *d = NULL;
    size_t len = 0, off = 0, bat;
    struct batch_hdr h;
    struct backlog_problem p;
    int rc;
    if (b->fd >= 0 && b->nsegs == 1)
        seg_close(b, NULL, 0); /* it goes anyway: a failed sync does not matter */
    seg_path(b, s->num, path, sizeof path);
    rc = read_file(path, &d, &len, NULL);
    if (rc == 0) {
        while ((rc = scan_step(d, len, &off, &h, &bat, &p)) != 0) {
            if (rc != 1 || is_done(b, h.origin_id, last_seq(&h)))
                continue;
            struct origin_state *o = origin_get(b, h.origin_id, 1);
            if (o == NULL) {
                free(d);
                return TT_ENOMEM;
            }
            if (!o->drop_batches && !o->drop_records) {
                o->drop_first_seq = UINT64_MAX;
                o->drop_last_seq = 0;
                o->drop_hlc_min = o->drop_hlc_max = 0;
            }
            o->drop_batches++;
            o->drop_records += h.count;
            o->drop_bytes += batch_total_len(&h);
            if (h.first_seq < o->drop_first_seq)
                o->drop_first_seq = h.first_seq;
            if (last_seq(&h) > o->drop_last_seq)
                o->drop_last_seq = last_seq(&h);
            if (h.hlc_min != 0 && (o->drop_hlc_min == 0 || h.hlc_min < o->drop_hlc_min))
                o->drop_hlc_min = h.hlc_min;
            if (h.hlc_max > o->drop_hlc_max)
                o->drop_hlc_max = h.hlc_max;
            b->st.dropped_batches++;
            b->st.dropped_records += h.count;
        }
        free(d);
    } else {
        /* Unreadable: count from the summary (acked batches included). */
        for (size_t i = 0; i < s->no; i++) {
            struct origin_state *o = origin_get(b, s->o[i].id, 1);
            if (o == NULL)
                return TT_ENOMEM;
            if (!o->drop_batches && !o->drop_records) {
                o->drop_first_seq = UINT64_MAX; /* unknown: the segment is unreadable */
                o->drop_last_seq = 0;
                o->drop_hlc_min = o->drop_hlc_max = 0;
            }
            o->drop_batches += s->o[i].batches;
            o->drop_records += s->o[i].records;
            b->st.dropped_batches += s->o[i].batches;
            b->st.dropped_records += s->o[i].records;
        }
    }
    /* If the state cannot be written (a full disk, most likely), the segment
     * goes anyway: freeing space matters more, and the counts stay in memory
     * (state_dirty) for the next write. */
    b->state_dirty = 1;
    state_write(b, NULL, 0);
    if (unlink(path) != 0 && errno != ENOENT) {
        tt_set_err(err, errlen, "%s: cannot delete: %s", path, strerror(errno));
        return TT_EIO;
    }
    b->st.dropped_segments++;
    seg_remove(b, 0);
    return 0;
}

static uint64_t total_bytes(const struct backlog *b)
{
    uint64_t t = 0;
    for (size_t i = 0; i < b->nsegs; i++)
        t += b->segs[i].bytes;
    return t;
}

int backlog_append(struct backlog *b, const void *batch, size_t len, struct backlog_pos *pos,
                   char *err, size_t errlen)
{
    struct batch_hdr h;
    char why[160];
    int rc = batch_parse_header(batch, len, &h, why, sizeof why);
    if (rc != 0) {
        tt_set_err(err, errlen, "backlog: not a batch: %s", why);
        return rc == TT_ENOMEM ? rc : TT_EINVAL;
    }
    if (batch_total_len(&h) != len) {
        tt_set_err(err, errlen, "backlog: %zu bytes given for a batch of %zu", len,
                   batch_total_len(&h));
        return TT_EINVAL;
    }
    rc = batch_check_body(batch, &h, why, sizeof why);
    if (rc != 0) {
        tt_set_err(err, errlen, "backlog: %s", why);
        return TT_ECORRUPT;
    }
    if (len > b->o.limit_bytes) {
        tt_set_err(err, errlen, "backlog: batch of %zu bytes over the limit of %" PRIu64, len,
                   b->o.limit_bytes);
        return TT_ETOOBIG;
    }
    if (b->fd >= 0 && b->segs[b->nsegs - 1].bytes > 0 &&
        b->segs[b->nsegs - 1].bytes + len > b->o.segment_bytes) {
        rc = seg_close(b, err, errlen);
        if (rc != 0)
            return rc;
        delete_done(b);
    }
    while (b->nsegs > 0 && total_bytes(b) + len > b->o.limit_bytes) {
        rc = drop_oldest(b, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (b->fd < 0) {
        char path[PATH_MAX_BL];
        uint64_t num = b->next_num;
        seg_path(b, num, path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            tt_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
            return TT_EIO;
        }
        if (seg_push(b, num) == NULL) {
            close(fd);
            unlink(path);
            return TT_ENOMEM;
        }
        b->next_num++;
        b->fd = fd;
        b->dir_dirty = 1;
    }
    struct seg *s = &b->segs[b->nsegs - 1];
    if (tt_pwrite_all(b->fd, batch, len, s->bytes) != 0) {
        int e = errno;
        tt_set_err(err, errlen, "backlog: segment %016" PRIx64 ": write: %s", s->num, strerror(e));
        if (ftruncate(b->fd, (off_t)s->bytes) != 0)
            seg_close(b, NULL, 0); /* never append after a torn batch */
        return TT_EIO;
    }
    rc = seg_add_batch(s, &h);
    if (rc != 0) {
        if (ftruncate(b->fd, (off_t)s->bytes) != 0)
            seg_close(b, NULL, 0);
        return rc;
    }
    if (pos != NULL) {
        pos->seg = s->num;
        pos->off = s->bytes;
    }
    if (s->first_ns == 0)
        s->first_ns = clock_realtime_ns();
    s->bytes += len;
    b->unsynced = 1;
    b->st.appends++;
    if (b->o.sync == BACKLOG_SYNC_ALWAYS ||
        clock_monotonic_ns() - b->last_sync_mono >= (int64_t)b->o.interval_ms * TT_NS_PER_MS) {
        rc = seg_sync(b, err, errlen);
        if (rc != 0) {
            /* The page cache may have dropped the pages: close the segment
             * so later appends go to a fresh one. */
            seg_close(b, NULL, 0);
            return rc;
        }
    }
    return 0;
}

int backlog_sync(struct backlog *b, char *err, size_t errlen)
{
    int rc = seg_sync(b, err, errlen);
    if (b->state_dirty) {
        int r2 = state_write(b, rc == 0 ? err : NULL, errlen);
        if (rc == 0)
            rc = r2;
    }
    return rc;
}

/* ---- acknowledgements ----------------------------------------------------------------- */

int backlog_ack(struct backlog *b, uint64_t origin_id, uint64_t seq, char *err, size_t errlen)
{
    struct origin_state *o = origin_get(b, origin_id, 1);
    if (o == NULL)
        return TT_ENOMEM;
    if (o->has_acked && seq <= o->acked)
        return 0;
    o->acked = seq;
    o->has_acked = 1;
    b->state_dirty = 1;
    /* The state first, then the deletes: a crash between them must not
     * leave a state file behind the segments deleted (the reopened cursor
     * would then skip batches the file does not count as acknowledged). */
    int rc = 0;
    if (b->o.ack_interval_ms == 0 || clock_monotonic_ns() - b->state_written_mono >=
                                         (int64_t)b->o.ack_interval_ms * TT_NS_PER_MS)
        rc = state_write(b, err, errlen);
    delete_done(b);
    return rc;
}

int backlog_acked(const struct backlog *b, uint64_t origin_id, uint64_t *seq)
{
    for (size_t i = 0; i < b->norg; i++)
        if (b->org[i].id == origin_id && b->org[i].has_acked) {
            *seq = b->org[i].acked;
            return 1;
        }
    return 0;
}

int backlog_take_drops(struct backlog *b, struct backlog_drop **out, size_t *n)
{
    size_t k = 0;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < b->norg; i++)
        k += b->org[i].drop_batches || b->org[i].drop_records;
    if (k == 0)
        return 0;
    struct backlog_drop *d = malloc(k * sizeof *d);
    if (d == NULL)
        return TT_ENOMEM;
    k = 0;
    for (size_t i = 0; i < b->norg; i++) {
        struct origin_state *o = &b->org[i];
        if (!o->drop_batches && !o->drop_records)
            continue;
        d[k].origin_id = o->id;
        d[k].batches = o->drop_batches;
        d[k].records = o->drop_records;
        d[k].bytes = o->drop_bytes;
        d[k].first_seq = o->drop_first_seq;
        d[k].last_seq = o->drop_last_seq;
        d[k].hlc_min = o->drop_hlc_min;
        d[k].hlc_max = o->drop_hlc_max;
        o->drop_batches = o->drop_records = o->drop_bytes = 0;
        o->drop_first_seq = UINT64_MAX;
        o->drop_last_seq = o->drop_hlc_min = o->drop_hlc_max = 0;
        k++;
    }
    b->state_dirty = 1;
    *out = d;
    *n = k;
    return 0;
}

/* ---- the cursor ------------------------------------------------------------------------ */

void backlog_rewind(struct backlog *b)
{
    b->cur.seg = b->nsegs > 0 ? b->segs[0].num : b->next_num;
    b->cur.off = 0;
}

static int pos_before(const struct backlog_pos *a, const struct backlog_pos *c)
{
    return a->seg < c->seg || (a->seg == c->seg && a->off < c->off);
}

/* load reads [off, s->bytes) of segment s into the cursor's buffer. */
static int load(struct backlog *b, const struct seg *s, uint64_t off, char *err, size_t errlen)
{
    char path[PATH_MAX_BL];
    size_t n = (size_t)(s->bytes - off);
    int fd = -1;
    if (n > b->buf_cap) {
        uint8_t *p = realloc(b->buf, n);
        if (p == NULL)
            return TT_ENOMEM;
        b->buf = p;
        b->buf_cap = n;
    }
    b->buf_valid = 0;
    seg_path(b, s->num, path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read_all(fd, b->buf, n, off) != 0) {
        tt_set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return TT_EIO;
    }
    close(fd);
    b->buf_seg = s->num;
    b->buf_off = off;
    b->buf_len = n;
    b->buf_valid = 1;
    return 0;
}

int backlog_next(struct backlog *b, const uint8_t **batch, size_t *len, struct backlog_pos *pos,
                 char *err, size_t errlen)
{
    for (;;) {
        size_t i = 0;
        while (i < b->nsegs && b->segs[i].num < b->cur.seg)
            i++;
        if (i == b->nsegs)
            return 0;
        const struct seg *s = &b->segs[i];
        if (s->num != b->cur.seg) { /* the cursor's segment was deleted or dropped */
            b->cur.seg = s->num;
            b->cur.off = 0;
        }
        if (b->cur.off >= s->bytes) {
            if (i + 1 == b->nsegs)
                return 0;
            b->cur.seg = b->segs[i + 1].num;
            b->cur.off = 0;
            continue;
        }
        if (!b->buf_valid || b->buf_seg != s->num || b->cur.off < b->buf_off ||
            b->cur.off >= b->buf_off + b->buf_len) {
            int rc = load(b, s, b->cur.off, err, errlen);
            if (rc != 0)
                return rc;
        }
        size_t off = (size_t)(b->cur.off - b->buf_off), bat;
        struct batch_hdr h;
        struct backlog_problem p;
        int rc = scan_step(b->buf, b->buf_len, &off, &h, &bat, &p);
        if (rc == -1 && p.code == TT_ETRUNC && b->buf_off + b->buf_len < s->bytes) {
            b->buf_valid = 0; /* the segment grew since it was read */
            continue;
        }
        if (rc == 0) { /* cannot happen: the buffer covered cur.off */
            b->buf_valid = 0;
            continue;
        }
        b->cur.off = b->buf_off + off;
        if (rc == -1) {
            p.offset += b->buf_off;
            seg_name(s->num, p.file, sizeof p.file);
            if (s->from_open) { /* reported at open already: only counted */
                b->st.problems++;
                b->st.bytes_skipped += p.bytes;
            } else {
                report(b, &p);
            }
            continue;
        }
        if (is_done(b, h.origin_id, last_seq(&h)))
            continue;
        struct backlog_pos at = { s->num, b->buf_off + bat };
        if (b->hw_valid && !pos_before(&b->hw, &at)) {
            b->st.resent++;
        } else {
            b->hw = at;
            b->hw_valid = 1;
        }
        *batch = b->buf + bat;
        *len = batch_total_len(&h);
        if (pos != NULL)
            *pos = at;
        return 1;
    }
}

/* ---- state and close -------------------------------------------------------------------- */

void backlog_get_stats(const struct backlog *b, struct backlog_stats *st)
{
    *st = b->st;
    st->bytes = 0;
    st->batches = 0;
    st->records = 0;
    st->oldest_ns = 0;
    st->segments = b->nsegs;
    for (size_t i = 0; i < b->nsegs; i++) {
        const struct seg *s = &b->segs[i];
        st->bytes += s->bytes;
        for (size_t k = 0; k < s->no; k++) {
            st->batches += s->o[k].batches;
            st->records += s->o[k].records;
        }
        if (st->oldest_ns == 0 && s->no > 0 && !seg_done(b, s))
            st->oldest_ns = s->first_ns;
    }
}

int backlog_close(struct backlog *b)
{
    int rc = 0;
    if (b == NULL)
        return 0;
    if (b->fd >= 0)
        rc = seg_close(b, NULL, 0);
    if (b->state_dirty && b->dir[0] != 0 && state_write(b, NULL, 0) != 0)
        rc = TT_EIO;
    for (size_t i = 0; i < b->nsegs; i++)
        free(b->segs[i].o);
    free(b->segs);
    free(b->org);
    free(b->buf);
    free(b);
    return rc;
}
