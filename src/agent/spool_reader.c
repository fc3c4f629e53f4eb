/*
 * spool_reader.c - reading, acknowledging and deleting libtelltale spool
 * segments for the agent (see spool_reader.h for the invariants).
 */
#include "agent/spool_reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/errmsg.h"

#define SEG_NAME_LEN 37 /* 16 hex, '-', 16 hex, ".tts" */
#define PATH_LEN     4096
#define NO_EOF       UINT64_MAX

struct seg {
    uint64_t id;
    char name[SEG_NAME_LEN + 1];
    uint64_t origin, first_seq;
    uint64_t sent;     /* next byte to hand out */
    uint64_t acked;    /* end of the last acknowledged batch */
    uint64_t good_end; /* end of the last good batch handed out (or acked) */
    uint64_t eof;      /* finished: where its good data ends; NO_EOF until known */
    uint64_t reported; /* problems before this offset were reported */
    uint64_t size;     /* at the last look */
    long pid;          /* of the writer, from the batch origin; 0 unknown */
    int present;
};

struct saved {
    char name[SEG_NAME_LEN + 1];
    uint64_t off;
};

struct spool_reader {
    char dir[PATH_LEN];
    char state_path[PATH_LEN], state_tmp[PATH_LEN + 8], state_dir[PATH_LEN];
    struct log *log;
    struct seg *segs; /* sorted by (origin, first_seq) */
    size_t nsegs, cap;
    struct saved *saved; /* offsets from the state file, for segments not seen yet */
    size_t nsaved;
    uint64_t next_id;
    size_t rr; /* where the next look starts: the origin after the last served */
    int64_t last_scan_ns;
    struct wbuf buf;
    struct spool_reader_stats st;
};

static uint64_t fnv1a(const char *p)
{
    uint64_t h = 1469598103934665603ull;
    for (; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 1099511628211ull;
    }
    return h;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* parse_name accepts exactly "<16 hex>-<16 hex>.tts". */
static int parse_name(const char *n, uint64_t *origin, uint64_t *first)
{
    if (strlen(n) != SEG_NAME_LEN || n[16] != '-' || strcmp(n + 33, ".tts") != 0)
        return 0;
    uint64_t v[2] = { 0, 0 };
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 16; i++) {
            int d = hexval(n[k * 17 + i]);
            if (d < 0)
                return 0;
            v[k] = v[k] << 4 | (uint64_t)d;
        }
    *origin = v[0];
    *first = v[1];
    return 1;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    if (x->origin != y->origin)
        return x->origin < y->origin ? -1 : 1;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

static void problem(struct spool_reader *r, struct seg *s, uint64_t off, uint64_t bytes,
                    const char *what)
{
    char o[24], b[24];
    r->st.problems++;
    r->st.bytes_skipped += bytes;
    if (off < s->reported)
        return; /* seen before a rewind */
    s->reported = off + 1;
    snprintf(o, sizeof o, "%llu", (unsigned long long)off);
    snprintf(b, sizeof b, "%llu", (unsigned long long)bytes);
    log_warn(r->log, "spool segment damaged; skipped", "dir", r->dir, "file", s->name, "offset", o,
             "bytes", b, "problem", what);
}

static int load_state(struct spool_reader *r, char *err, size_t errlen)
{
    FILE *f = fopen(r->state_path, "r");
    char line[128];
    int lineno = 0;
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        tt_set_err(err, errlen, "%s: %s", r->state_path, strerror(errno));
        return TT_EIO;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char name[64];
        unsigned long long off;
        uint64_t o, s;
        lineno++;
        if (sscanf(line, "%63s %llu", name, &off) != 2 || !parse_name(name, &o, &s)) {
            log_warn(r->log, "spool state: bad line ignored", "file", r->state_path);
            continue;
        }
        struct saved *n = realloc(r->saved, (r->nsaved + 1) * sizeof *n);
        if (n == NULL) {
            fclose(f);
            return TT_ENOMEM;
        }
        r->saved = n;
        memcpy(r->saved[r->nsaved].name, name, SEG_NAME_LEN + 1);
        r->saved[r->nsaved++].off = off;
    }
    (void)lineno;
    fclose(f);
    return 0;
}

/* save_state replaces the state file with the acknowledged offsets. */
static int save_state(struct spool_reader *r, char *err, size_t errlen)
{
    struct wbuf w;
    int fd = -1, rc = TT_EIO;
    wbuf_init(&w, 0);
    for (size_t i = 0; i < r->nsegs; i++) {
        char line[80];
        if (r->segs[i].acked == 0)
            continue;
        int n = snprintf(line, sizeof line, "%s %llu\n", r->segs[i].name,
                         (unsigned long long)r->segs[i].acked);
        wbuf_put(&w, line, (size_t)n);
    }
    if (w.err) {
        rc = w.err;
        goto out;
    }
    fd = open(r->state_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (w.len > 0 && write(fd, w.data, w.len) != (ssize_t)w.len) || fsync(fd) != 0)
        goto fail;
    close(fd);
    fd = -1;
    if (rename(r->state_tmp, r->state_path) != 0)
        goto fail;
    fd = open(r->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && fsync(fd) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    tt_set_err(err, errlen, "%s: %s", r->state_tmp, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    wbuf_release(&w);
    return rc;
}

int spool_reader_open(struct spool_reader **out, const char *dir, const char *state_dir,
                      struct log *log, char *err, size_t errlen)
{
    *out = NULL;
    if (dir == NULL || dir[0] == '\0' || strlen(dir) >= PATH_LEN - SEG_NAME_LEN - 2 ||
        strlen(state_dir) >= PATH_LEN - 40) {
        tt_set_err(err, errlen, "spool directory '%s': empty or too long", dir ? dir : "");
        return TT_EINVAL;
    }
    struct spool_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return TT_ENOMEM;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    snprintf(r->state_dir, sizeof r->state_dir, "%s", state_dir);
    snprintf(r->state_path, sizeof r->state_path, "%s/spool-%016llx", state_dir,
             (unsigned long long)fnv1a(dir));
    snprintf(r->state_tmp, sizeof r->state_tmp, "%s.tmp", r->state_path);
    r->log = log;
    r->next_id = 1;
    r->last_scan_ns = INT64_MIN;
    wbuf_init(&r->buf, BATCH_MAX_STORED + 8192);
    int rc = load_state(r, err, errlen);
    if (rc < 0) {
        spool_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* scan lists the directory: new segments are added (with their saved
 * offset), vanished ones forgotten. */
static int scan(struct spool_reader *r, char *err, size_t errlen)
{
    DIR *d = opendir(r->dir);
    struct dirent *e;
    if (d == NULL) {
        if (errno == ENOENT)
            return 0; /* no process has written yet */
        tt_set_err(err, errlen, "spool %s: %s", r->dir, strerror(errno));
        return TT_EIO;
    }
    for (size_t i = 0; i < r->nsegs; i++)
        r->segs[i].present = 0;
    while ((e = readdir(d)) != NULL) {
        uint64_t o, f;
        if (!parse_name(e->d_name, &o, &f))
            continue;
        size_t i;
        for (i = 0; i < r->nsegs; i++)
            if (r->segs[i].origin == o && r->segs[i].first_seq == f)
                break;
        if (i < r->nsegs) {
            r->segs[i].present = 1;
            continue;
        }
        if (r->nsegs == r->cap) {
            size_t nc = r->cap ? r->cap * 2 : 16;
            struct seg *n = realloc(r->segs, nc * sizeof *n);
            if (n == NULL) {
                closedir(d);
                return TT_ENOMEM;
            }
            r->segs = n;
            r->cap = nc;
        }
        struct seg *s = &r->segs[r->nsegs++];
        memset(s, 0, sizeof *s);
        s->id = r->next_id++;
        memcpy(s->name, e->d_name, SEG_NAME_LEN + 1);
        s->origin = o;
        s->first_seq = f;
        s->eof = NO_EOF;
        s->present = 1;
        for (size_t k = 0; k < r->nsaved; k++)
            if (strcmp(r->saved[k].name, s->name) == 0)
                s->acked = r->saved[k].off;
        s->sent = s->good_end = s->reported = s->acked;
    }
    closedir(d);
    size_t k = 0;
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].present)
            r->segs[k++] = r->segs[i];
    r->nsegs = k;
    if (r->nsegs > 1)
        qsort(r->segs, r->nsegs, sizeof *r->segs, seg_cmp);
    r->st.segments = r->nsegs;
    return 0;
}

/* finished: the writer will not append to s any more. */
static int finished(const struct spool_reader *r, size_t i)
{
    const struct seg *s = &r->segs[i];
    if (i + 1 < r->nsegs && r->segs[i + 1].origin == s->origin)
        return 1;
    return s->pid > 0 && kill((pid_t)s->pid, 0) != 0 && errno == ESRCH;
}

/* origin_pid reads the pid at the end of a batch origin "node\0service/pid". */
static long origin_pid(const char *o, size_t n)
{
    size_t i = n;
    long pid = 0, mul = 1;
    while (i > 0 && o[i - 1] >= '0' && o[i - 1] <= '9' && mul < 1000000000L) {
        pid += (o[i - 1] - '0') * mul;
        mul *= 10;
        i--;
    }
    return i > 0 && i < n && o[i - 1] == '/' && pid < (1L << 30) ? pid : 0;
}

/* resync finds the next batch start after a damaged one at off in fd's file
 * (size bytes): returns its offset, or size. */
static uint64_t resync(struct spool_reader *r, int fd, uint64_t off, uint64_t size)
{
    uint64_t from = off + 1;
    while (from < size) {
        size_t want = size - from > (1u << 20) ? (1u << 20) : (size_t)(size - from);
        wbuf_reset(&r->buf);
        if (wbuf_reserve(&r->buf, want) < 0)
            return size;
        ssize_t n = pread(fd, r->buf.data, want, (off_t)from);
        if (n <= 0)
            return size;
        size_t at = batch_find_magic(r->buf.data, (size_t)n, 0);
        if (at < (size_t)n)
            return from + at;
        from += (size_t)n > 3 ? (size_t)n - 3 : (size_t)n; /* a magic across the edge */
    }
    return size;
}

/* read_seg hands out the next batch of segment i: 1, 0 (none now), < 0. */
static int read_seg(struct spool_reader *r, size_t i, const uint8_t **batch, size_t *len,
                    struct spool_token *tok, char *err, size_t errlen)
{
    struct seg *s = &r->segs[i];
    char path[PATH_LEN + 64], msg[200];
    struct stat stt;
    int fd, rc = 0;

    if (s->eof != NO_EOF && s->sent >= s->eof)
        return 0;
    snprintf(path, sizeof path, "%s/%s", r->dir, s->name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) { /* deleted by its writer's cap */
            s->eof = s->sent;
            return 0;
        }
        tt_set_err(err, errlen, "%s: %s", path, strerror(errno));
        return TT_EIO;
    }
    if (fstat(fd, &stt) != 0) {
        tt_set_err(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return TT_EIO;
    }
    s->size = (uint64_t)stt.st_size;
    if (s->acked > s->size) {
        /* The state says more than the file holds: trust the file. */
        problem(r, s, s->size, 0, "saved offset past the end; read from 0");
        s->acked = s->sent = s->good_end = s->reported = 0;
        s->eof = NO_EOF;
    }
    while (s->sent < s->size) {
        uint8_t hb[BATCH_FIXED_LEN + BATCH_ORIGIN_MAX];
        struct batch_hdr h;
        size_t want = s->size - s->sent < sizeof hb ? (size_t)(s->size - s->sent) : sizeof hb;
        ssize_t n = pread(fd, hb, want, (off_t)s->sent);
        if (n < 0) {
            tt_set_err(err, errlen, "%s: %s", path, strerror(errno));
            rc = TT_EIO;
            goto out;
        }
        rc = batch_parse_header(hb, (size_t)n, &h, msg, sizeof msg);
        if (rc == 0 && s->sent + batch_total_len(&h) > s->size)
            rc = TT_ETRUNC;
        if (rc == TT_ETRUNC) {
            rc = 0;
            if (!finished(r, i))
                goto out; /* being written: wait */
            problem(r, s, s->sent, s->size - s->sent, "torn tail (the writer moved on)");
            s->sent = s->size;
            break;
        }
        if (rc == TT_EVERSION) {
            problem(r, s, s->sent, batch_total_len(&h), msg);
            s->sent += batch_total_len(&h);
            continue;
        }
        if (rc == 0) {
            size_t total = batch_total_len(&h);
            wbuf_reset(&r->buf);
            if (wbuf_reserve(&r->buf, total) < 0) {
                rc = TT_ENOMEM;
                goto out;
            }
            n = pread(fd, r->buf.data, total, (off_t)s->sent);
            if (n != (ssize_t)total) {
                tt_set_err(err, errlen, "%s: short read at %llu", path,
                           (unsigned long long)s->sent);
                rc = TT_EIO;
                goto out;
            }
            rc = batch_check_body(r->buf.data, &h, msg, sizeof msg);
            if (rc == 0) {
                r->buf.len = total;
                if (s->pid == 0)
                    s->pid = origin_pid(h.origin, h.origin_len);
                *batch = r->buf.data;
                *len = total;
                s->sent += total;
                s->good_end = s->sent;
                tok->seg_id = s->id;
                tok->end_off = s->sent;
                r->st.batches_read++;
                rc = 1;
                goto out;
            }
        }
        /* Damaged: skip to the next batch header. */
        uint64_t next = resync(r, fd, s->sent, s->size);
        problem(r, s, s->sent, next - s->sent, msg);
        s->sent = next;
    }
    rc = 0;
    if (finished(r, i))
        s->eof = s->good_end;
out:
    close(fd);
    return rc;
}

/* maybe_delete removes segment i if it is wholly acknowledged and finished. */
static int maybe_delete(struct spool_reader *r, size_t i, char *err, size_t errlen)
{
    struct seg *s = &r->segs[i];
    char path[PATH_LEN + 64];
    if (s->eof == NO_EOF && finished(r, i)) {
        /* Learn where it ends: everything read up to its end. */
        if (s->sent < s->size || s->size == 0)
            return 0;
        s->eof = s->good_end;
    }
    if (s->eof == NO_EOF || s->acked < s->eof)
        return 0;
    snprintf(path, sizeof path, "%s/%s", r->dir, s->name);
    if (unlink(path) != 0 && errno != ENOENT) {
        tt_set_err(err, errlen, "%s: cannot delete: %s", path, strerror(errno));
        return TT_EIO;
    }
    r->st.segments_deleted++;
    memmove(&r->segs[i], &r->segs[i + 1], (r->nsegs - i - 1) * sizeof *r->segs);
    r->nsegs--;
    r->st.segments = r->nsegs;
    return 1;
}

int spool_reader_next(struct spool_reader *r, int64_t rescan_ms, const uint8_t **batch, size_t *len,
                      struct spool_token *tok, char *err, size_t errlen)
{
    int64_t now = clock_monotonic_ns();
    int rescanned = 0;
    for (;;) {
        /* Origins take turns (a busy writer does not starve the others),
         * each read from its oldest segment on (its batches in order). */
        size_t n = r->nsegs, start = r->rr < n ? r->rr : 0;
        while (start > 0 && r->segs[start - 1].origin == r->segs[start].origin)
            start--;
        for (size_t k = 0; k < n; k++) {
            size_t i = (start + k) % n;
            int rc = read_seg(r, i, batch, len, tok, err, errlen);
            if (rc != 0) {
                if (rc == 1) {
                    size_t j = i;
                    while (j < n && r->segs[j].origin == r->segs[i].origin)
                        j++;
                    r->rr = j;
                }
                return rc;
            }
        }
        if (rescanned || (r->last_scan_ns != INT64_MIN &&
                          now - r->last_scan_ns < rescan_ms * (int64_t)TT_NS_PER_MS))
            break;
        int rc = scan(r, err, errlen);
        if (rc < 0)
            return rc;
        r->last_scan_ns = now;
        rescanned = 1;
        /* Finished segments already acknowledged (a restart after the last
         * ack, or an empty one): delete them now. */
        int changed = 0;
        for (size_t i = 0; i < r->nsegs;) {
            if (r->segs[i].acked > 0 || r->segs[i].eof != NO_EOF) {
                rc = maybe_delete(r, i, err, errlen);
                if (rc < 0)
                    return rc;
                if (rc == 1) {
                    changed = 1;
                    continue;
                }
            }
            i++;
        }
        if (changed && (rc = save_state(r, err, errlen)) < 0)
            return rc;
    }
    return 0;
}

int spool_reader_ack(struct spool_reader *r, const struct spool_token *tok, char *err,
                     size_t errlen)
{
    for (size_t i = 0; i < r->nsegs; i++) {
        struct seg *s = &r->segs[i];
        if (s->id != tok->seg_id)
            continue;
        if (tok->end_off > s->acked)
            s->acked = tok->end_off;
        r->st.batches_acked++;
        int rc = maybe_delete(r, i, err, errlen);
        if (rc < 0)
            return rc;
        return save_state(r, err, errlen);
    }
    return 0;
}

void spool_reader_rewind(struct spool_reader *r)
{
    for (size_t i = 0; i < r->nsegs; i++) {
        struct seg *s = &r->segs[i];
        s->sent = s->good_end = s->acked;
    }
}

void spool_reader_get_stats(const struct spool_reader *r, struct spool_reader_stats *st)
{
    *st = r->st;
    st->pending_bytes = 0;
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].size > r->segs[i].acked)
            st->pending_bytes += r->segs[i].size - r->segs[i].acked;
}

const char *spool_reader_dir(const struct spool_reader *r)
{
    return r->dir;
}

void spool_reader_close(struct spool_reader *r)
{
    if (r == NULL)
        return;
    wbuf_release(&r->buf);
    free(r->segs);
    free(r->saved);
    free(r);
}
