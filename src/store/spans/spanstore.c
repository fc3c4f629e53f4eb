/*
 * spanstore.c - the span store (spanstore.h; layout in docs/design/spans.md).
 *
 * Files in the store's directory:
 *   NNNNNNNN.seg  span blocks back to back (spanblock.h), append-only;
 *   names         "service\toperation\n" lines, appended as new pairs come;
 *   state         the commit point: end of the span data, record-log cursor
 *                 and dedup map, replaced atomically after an fdatasync.
 * Everything else is in memory and rebuilt from the block headers at open.
 */
#include "store/spans/spanstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/crc32c.h"
#include "telltale.h"
#include "core/fileio.h"
#include "store/spans/spansum.h"

#define STATE_MAGIC   0x54535053u /* "SPST" */
#define STATE_VERSION 1
#define MAX_SEGS      1000000

struct seg {
    uint32_t num;
    int fd;
    uint64_t len;
    int64_t max_start;
    int sum_fd;       /* NNNNNNNN.sum: the blocks' summaries (spansum.h) */
    uint64_t sum_len; /* end of the last good summary record */
};

struct blk {
    uint32_t seg;
    uint64_t off;
    uint32_t len;
    uint32_t count;
    int64_t min_start, max_start;
    uint64_t max_dur;
    uint32_t bloom_bytes;
    uint8_t *bloom;
    uint64_t sum_off; /* its summary record in the .sum file */
    uint32_t sum_len; /* 0: none (the block is decoded instead) */
};

struct tnode {
    uint64_t gid;
    uint32_t next; /* index + 1, 0: end */
};

struct svc {
    char *name;
    char **ops;
    size_t nops, cap;
};

struct origin {
    uint64_t id, end;
};

struct spanstore {
    char *dir;
    struct spanstore_options opt;
    pthread_rwlock_t lock;

    struct seg *segs;
    size_t nsegs, cap_segs;
    int unsynced;

    struct blk *blks;
    size_t nblks, cap_blks;
    uint64_t base_gid; /* gid of blks[0] */

    /* trace key -> chain of tnodes */
    uint64_t *tkeys;
    uint32_t *theads; /* 0: empty slot */
    uint32_t tcap, tn;
    struct tnode *nodes;
    uint32_t nnodes, cap_nodes;

    struct svc *svcs;
    size_t nsvcs, cap_svcs;
    struct wbuf new_names; /* lines not yet in the names file */

    struct origin *origins;
    size_t norigins, cap_origins;

    struct spanblock_writer *w;
    struct spansum sum; /* the pending block's summary */
    struct wbuf sumbuf;
    int sum_unsynced;
    struct wbuf blockbuf;
    uint32_t cur_rl_seg;
    uint64_t cur_rl_off;
    uint64_t spans, problems;
};

static void problem(struct spanstore *ss, uint32_t seg, uint64_t off, const char *what)
{
    char name[32];
    snprintf(name, sizeof name, "%08" PRIu32 ".seg", seg);
    __atomic_fetch_add(&ss->problems, 1, __ATOMIC_RELAXED);
    if (ss->opt.problem != NULL)
        ss->opt.problem(ss->opt.problem_arg, name, off, what);
}

/* problem_sum reports trouble with a segment's summary file. */
static void problem_sum(struct spanstore *ss, uint32_t seg, uint64_t off, const char *what)
{
    char name[32];
    snprintf(name, sizeof name, "%08" PRIu32 ".sum", seg);
    __atomic_fetch_add(&ss->problems, 1, __ATOMIC_RELAXED);
    if (ss->opt.problem != NULL)
        ss->opt.problem(ss->opt.problem_arg, name, off, what);
}

static uint64_t trace_key(const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    a ^= b * 0x9e3779b97f4a7c15ull;
    a ^= a >> 29;
    a *= 0xbf58476d1ce4e5b9ull;
    a ^= a >> 32;
    return a;
}

static int tmap_add(struct spanstore *ss, const uint8_t id[16], uint64_t gid)
{
    uint64_t k = trace_key(id);
    if ((ss->tn + 1) * 2 > ss->tcap) {
        uint32_t nc = ss->tcap ? ss->tcap * 2 : 1024;
        uint64_t *nk = malloc((size_t)nc * sizeof *nk);
        uint32_t *nh = calloc(nc, sizeof *nh);
        if (nk == NULL || nh == NULL) {
            free(nk);
            free(nh);
            return TT_ENOMEM;
        }
        for (uint32_t i = 0; i < ss->tcap; i++) {
            if (ss->theads[i] == 0)
                continue;
            uint32_t j = (uint32_t)ss->tkeys[i] & (nc - 1);
            while (nh[j] != 0)
                j = (j + 1) & (nc - 1);
            nk[j] = ss->tkeys[i];
            nh[j] = ss->theads[i];
        }
        free(ss->tkeys);
        free(ss->theads);
        ss->tkeys = nk;
        ss->theads = nh;
        ss->tcap = nc;
    }
    uint32_t j = (uint32_t)k & (ss->tcap - 1);
    while (ss->theads[j] != 0 && ss->tkeys[j] != k)
        j = (j + 1) & (ss->tcap - 1);
    if (ss->theads[j] != 0 && ss->nodes[ss->theads[j] - 1].gid == gid)
        return 0; /* this block is listed already */
    if (ss->nnodes == ss->cap_nodes) {
        uint32_t nc = ss->cap_nodes ? ss->cap_nodes * 2 : 4096;
        struct tnode *a = realloc(ss->nodes, (size_t)nc * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        ss->nodes = a;
        ss->cap_nodes = nc;
    }
    if (ss->theads[j] == 0) {
        ss->tkeys[j] = k;
        ss->tn++;
    }
    ss->nodes[ss->nnodes].gid = gid;
    ss->nodes[ss->nnodes].next = ss->theads[j];
    ss->theads[j] = ++ss->nnodes;
    return 0;
}

static void tmap_clear(struct spanstore *ss)
{
    if (ss->theads != NULL)
        memset(ss->theads, 0, (size_t)ss->tcap * sizeof *ss->theads);
    ss->tn = 0;
    ss->nnodes = 0;
}

/* index_block adds a block's header (trace ids, bloom, ranges) to memory. */
static int index_block(struct spanstore *ss, uint32_t seg, uint64_t off,
                       const struct spanblock_hdr *h, int add_blk)
{
    uint64_t gid;
    if (add_blk) {
        if (ss->nblks == ss->cap_blks) {
            size_t nc = ss->cap_blks ? ss->cap_blks * 2 : 256;
            struct blk *a = realloc(ss->blks, nc * sizeof *a);
            if (a == NULL)
                return TT_ENOMEM;
            ss->blks = a;
            ss->cap_blks = nc;
        }
        struct blk *b = &ss->blks[ss->nblks];
        b->bloom = malloc(h->bloom_bytes ? h->bloom_bytes : 1);
        if (b->bloom == NULL)
            return TT_ENOMEM;
        memcpy(b->bloom, h->bloom, h->bloom_bytes);
        b->seg = seg;
        b->off = off;
        b->len = (uint32_t)spanblock_total_len(h);
        b->count = h->count;
        b->min_start = h->min_start_ns;
        b->max_start = h->max_start_ns;
        b->max_dur = h->max_duration_ns;
        b->bloom_bytes = h->bloom_bytes;
        b->sum_off = 0;
        b->sum_len = 0;
        gid = ss->base_gid + ss->nblks;
        ss->nblks++;
        ss->spans += h->count;
    } else {
        gid = ss->base_gid + ss->nblks - 1;
    }
    for (uint32_t i = 0; i < h->ntraces; i++) {
        int rc = tmap_add(ss, h->trace_ids + (size_t)i * 16, gid);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* --- names ---------------------------------------------------------------- */

static struct svc *find_svc(struct spanstore *ss, const char *p, size_t n)
{
    for (size_t i = 0; i < ss->nsvcs; i++)
        if (strlen(ss->svcs[i].name) == n && memcmp(ss->svcs[i].name, p, n) == 0)
            return &ss->svcs[i];
    return NULL;
}

/* add_name records (service, op); returns 1 if it was new, 0, or TT_ENOMEM. */
static int add_name(struct spanstore *ss, const char *sp, size_t sn, const char *op, size_t on)
{
    struct svc *s = find_svc(ss, sp, sn);
    if (s == NULL) {
        if (ss->nsvcs == ss->cap_svcs) {
            size_t nc = ss->cap_svcs ? ss->cap_svcs * 2 : 16;
            struct svc *a = realloc(ss->svcs, nc * sizeof *a);
            if (a == NULL)
                return TT_ENOMEM;
            ss->svcs = a;
            ss->cap_svcs = nc;
        }
        s = &ss->svcs[ss->nsvcs];
        memset(s, 0, sizeof *s);
        s->name = strndup(sp, sn);
        if (s->name == NULL)
            return TT_ENOMEM;
        ss->nsvcs++;
    }
    for (size_t i = 0; i < s->nops; i++)
        if (strlen(s->ops[i]) == on && memcmp(s->ops[i], op, on) == 0)
            return 0;
    if (s->nops == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        char **a = realloc(s->ops, nc * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        s->ops = a;
        s->cap = nc;
    }
    s->ops[s->nops] = strndup(op, on);
    if (s->ops[s->nops] == NULL)
        return TT_ENOMEM;
    s->nops++;
    return 1;
}

static int has_ctl(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\t' || p[i] == '\n' || p[i] == '\0')
            return 1;
    return 0;
}

static int load_names(struct spanstore *ss)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    snprintf(path, sizeof path, "%s/names", ss->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT ? 0 : TT_EIO;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* a torn last line */
        char *tab = memchr(line, '\t', (size_t)n);
        if (tab == NULL)
            continue;
        if (add_name(ss, line, (size_t)(tab - line), tab + 1, (size_t)(line + n - 1 - tab - 1)) <
            0) {
            free(line);
            fclose(f);
            return TT_ENOMEM;
        }
    }
    free(line);
    fclose(f);
    return 0;
}

/* --- files ---------------------------------------------------------------- */

struct state {
    uint32_t seg;
    uint64_t seg_len;
    uint32_t rl_seg;
    uint64_t rl_off;
};

static int write_state(struct spanstore *ss, char *err, size_t errlen)
{
    char path[4096], tmp[4096];
    struct wbuf b;
    int fd = -1, rc = TT_EIO;
    const struct seg *last = ss->nsegs ? &ss->segs[ss->nsegs - 1] : NULL;

    wbuf_init(&b, 0);
    wbuf_put_u32(&b, STATE_MAGIC);
    wbuf_put_u32(&b, STATE_VERSION);
    wbuf_put_u32(&b, last ? last->num : 0);
    wbuf_put_u64(&b, last ? last->len : 0);
    wbuf_put_u32(&b, ss->cur_rl_seg);
    wbuf_put_u64(&b, ss->cur_rl_off);
    wbuf_put_u32(&b, (uint32_t)ss->norigins);
    for (size_t i = 0; i < ss->norigins; i++) {
        wbuf_put_u64(&b, ss->origins[i].id);
        wbuf_put_u64(&b, ss->origins[i].end);
    }
    wbuf_put_u32(&b, crc32c(0, b.data, b.len));
    if (b.err) {
        rc = b.err;
        goto out;
    }
    snprintf(path, sizeof path, "%s/state", ss->dir);
    snprintf(tmp, sizeof tmp, "%s/state.tmp", ss->dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || tt_pwrite_all(fd, b.data, b.len, 0) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "span store: writing %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0 || tt_fsync_dir(ss->dir) != 0) {
        snprintf(err, errlen, "span store: replacing %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    wbuf_release(&b);
    return rc;
}

/* read_state: 0 with *st (zeroes and no origins when there is no state
 * file: *fresh = 1), TT_ECORRUPT, TT_EIO, TT_ENOMEM. */
static int read_state(struct spanstore *ss, struct state *st, int *fresh, char *err, size_t errlen)
{
    char path[4096];
    struct stat sb;
    uint8_t *p = NULL;
    int fd, rc = TT_ECORRUPT;
    struct rbuf r;

    memset(st, 0, sizeof *st);
    *fresh = 0;
    snprintf(path, sizeof path, "%s/state", ss->dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *fresh = 1;
            return 0;
        }
        snprintf(err, errlen, "span store: %s: %s", path, strerror(errno));
        return TT_EIO;
    }
    if (fstat(fd, &sb) != 0 || sb.st_size < 36 || sb.st_size > (16 << 20)) {
        snprintf(err, errlen, "span store: %s: bad size (remove it to rebuild from the record log)",
                 path);
        goto out;
    }
    p = malloc((size_t)sb.st_size);
    if (p == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    if (tt_pread_all(fd, p, (size_t)sb.st_size, 0) != 0) {
        snprintf(err, errlen, "span store: reading %s failed", path);
        rc = TT_EIO;
        goto out;
    }
    size_t n = (size_t)sb.st_size;
    if (crc32c(0, p, n - 4) != get_le32(p + n - 4) || get_le32(p) != STATE_MAGIC ||
        get_le32(p + 4) != STATE_VERSION) {
        snprintf(err, errlen,
                 "span store: %s: bad magic, version or CRC (remove it to rebuild from the record "
                 "log)",
                 path);
        goto out;
    }
    rbuf_init(&r, p + 8, n - 12);
    st->seg = rbuf_u32(&r);
    st->seg_len = rbuf_u64(&r);
    st->rl_seg = rbuf_u32(&r);
    st->rl_off = rbuf_u64(&r);
    uint32_t no = rbuf_u32(&r);
    if (r.err || no > SPANSTORE_MAX_ORIGINS || rbuf_left(&r) != (size_t)no * 16) {
        snprintf(err, errlen, "span store: %s: bad origin list", path);
        goto out;
    }
    ss->origins = malloc(((size_t)no + 1) * sizeof *ss->origins);
    if (ss->origins == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    ss->cap_origins = (size_t)no + 1;
    for (uint32_t i = 0; i < no; i++) {
        ss->origins[i].id = rbuf_u64(&r);
        ss->origins[i].end = rbuf_u64(&r);
    }
    ss->norigins = no;
    rc = 0;
out:
    free(p);
    close(fd);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* list_segs returns the sorted segment numbers in dir (*nums malloc'd). */
static int list_segs(const char *dir, uint32_t **nums, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    *nums = NULL;
    *n = 0;
    if (d == NULL)
        return TT_EIO;
    while ((e = readdir(d)) != NULL) {
        char *end;
        if (strlen(e->d_name) != 12 || strcmp(e->d_name + 8, ".seg") != 0)
            continue;
        unsigned long v = strtoul(e->d_name, &end, 10);
        if (end != e->d_name + 8 || v == 0 || v > UINT32_MAX)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *a = realloc(*nums, cap * sizeof *a);
            if (a == NULL) {
                closedir(d);
                return TT_ENOMEM;
            }
            *nums = a;
        }
        (*nums)[(*n)++] = (uint32_t)v;
    }
    closedir(d);
    if (*n > 1)
        qsort(*nums, *n, sizeof **nums, cmp_u32);
    return 0;
}

static void seg_path(const struct spanstore *ss, uint32_t num, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%08" PRIu32 ".seg", ss->dir, num);
}

static void sum_path(const struct spanstore *ss, uint32_t num, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%08" PRIu32 ".sum", ss->dir, num);
}

static int add_seg(struct spanstore *ss, uint32_t num, int fd, uint64_t len)
{
    if (ss->nsegs == ss->cap_segs) {
        size_t nc = ss->cap_segs ? ss->cap_segs * 2 : 16;
        struct seg *a = realloc(ss->segs, nc * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        ss->segs = a;
        ss->cap_segs = nc;
    }
    ss->segs[ss->nsegs].num = num;
    ss->segs[ss->nsegs].fd = fd;
    ss->segs[ss->nsegs].len = len;
    ss->segs[ss->nsegs].max_start = INT64_MIN;
    ss->segs[ss->nsegs].sum_fd = -1;
    ss->segs[ss->nsegs].sum_len = 0;
    ss->nsegs++;
    return 0;
}

static int new_seg(struct spanstore *ss, char *err, size_t errlen)
{
    char path[4096];
    uint32_t num = ss->nsegs ? ss->segs[ss->nsegs - 1].num + 1 : 1;
    seg_path(ss, num, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || tt_fsync_dir(ss->dir) != 0) {
        snprintf(err, errlen, "span store: creating %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return TT_EIO;
    }
    int rc = add_seg(ss, num, fd, 0);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    sum_path(ss, num, path, sizeof path);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "span store: creating %s: %s", path, strerror(errno));
        return TT_EIO; /* the segment stays listed; free_all closes it */
    }
    ss->segs[ss->nsegs - 1].sum_fd = fd;
    return 0;
}

/* scan_seg indexes the blocks of a segment; returns 0 (a damaged stretch is
 * reported and the rest of the segment ignored: *damaged = 1). */
static int scan_seg(struct spanstore *ss, struct seg *sg, int *damaged)
{
    struct wbuf b;
    uint64_t off = 0;
    int rc = 0;
    char err[256];
    wbuf_init(&b, 0);
    *damaged = 0;
    while (off < sg->len) {
        struct spanblock_hdr h;
        uint8_t head[8];
        size_t want = sg->len - off < 8 ? (size_t)(sg->len - off) : 8;
        if (tt_pread_all(sg->fd, head, want, off) != 0) {
            problem(ss, sg->num, off, "read error");
            *damaged = 1;
            break;
        }
        rc = spanblock_parse_header(head, want, &h, err, sizeof err);
        if (rc == TT_ETRUNC && want == 8) {
            uint32_t hl = get_le32(head + 4);
            if (hl > sg->len - off)
                hl = (uint32_t)(sg->len - off);
            wbuf_reset(&b);
            if (wbuf_reserve(&b, hl) != 0) {
                rc = TT_ENOMEM;
                goto out;
            }
            if (tt_pread_all(sg->fd, b.data, hl, off) != 0) {
                problem(ss, sg->num, off, "read error");
                *damaged = 1;
                break;
            }
            rc = spanblock_parse_header(b.data, hl, &h, err, sizeof err);
        }
        if (rc == 0 && spanblock_total_len(&h) > sg->len - off) {
            snprintf(err, sizeof err, "block runs past the end of the segment");
            rc = TT_ETRUNC;
        }
        if (rc != 0) {
            problem(ss, sg->num, off, err);
            *damaged = 1;
            rc = 0;
            break;
        }
        rc = index_block(ss, sg->num, off, &h, 1);
        if (rc != 0)
            goto out;
        if (h.max_start_ns > sg->max_start)
            sg->max_start = h.max_start_ns;
        off += spanblock_total_len(&h);
    }
out:
    wbuf_release(&b);
    return rc;
}

/* build_sum decodes block b of segment sg and encodes its summary record
 * into ss->sumbuf. Returns 0, TT_ENOMEM, or another error when the block is
 * damaged (reported). */
static int build_sum(struct spanstore *ss, const struct seg *sg, const struct blk *b,
                     struct wbuf *buf, struct spanblock_reader *rd, struct spansum *sum)
{
    struct spanblock_hdr h;
    struct span_row row;
    char err[256];
    int rc;
    wbuf_reset(buf);
    if (wbuf_reserve(buf, b->len) != 0)
        return TT_ENOMEM;
    if (tt_pread_all(sg->fd, buf->data, b->len, b->off) != 0) {
        problem(ss, b->seg, b->off, "read error");
        return TT_EIO;
    }
    rc = spanblock_parse_header(buf->data, b->len, &h, err, sizeof err);
    if (rc == 0)
        rc = spanblock_read(rd, buf->data, &h, err, sizeof err);
    if (rc == TT_ENOMEM)
        return rc;
    spansum_reset(sum);
    while (rc == 0 && (rc = spanblock_next(rd, &row, err, sizeof err)) == 1) {
        rc = spansum_add(sum, &row);
        if (rc != 0)
            return rc;
    }
    if (rc != 0) {
        problem(ss, b->seg, b->off, err);
        return rc;
    }
    wbuf_reset(&ss->sumbuf);
    spansum_encode(sum, b->off, b->len, &ss->sumbuf, ss->opt.zstd_level);
    return ss->sumbuf.err;
}

/* load_sums matches segment sg's summary records with its blocks
 * (ss->blks[first..]) and records where each is. A missing or damaged
 * file, or records that do not match the blocks, are reported and the
 * summaries rebuilt from the blocks from there on (damaged blocks get
 * none: queries decode them, and report them, instead). Records past the
 * last block (written after the last commit) are cut. */
static int load_sums(struct spanstore *ss, struct seg *sg, size_t first, char *err, size_t errlen)
{
    char path[4096], perr[256];
    uint8_t *data = NULL;
    size_t flen = 0;
    uint64_t pos = 0;
    int rc = 0, missing = 0, rebuilding = 0, fd;
    struct stat sb;
    struct wbuf buf;
    struct spanblock_reader rd;
    struct spansum sum;

    wbuf_init(&buf, 0);
    spanblock_reader_init(&rd);
    spansum_init(&sum);
    sum_path(ss, sg->num, path, sizeof path);
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        missing = 1;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "span store: open %s: %s", path, strerror(errno));
        rc = TT_EIO;
        goto out;
    }
    sg->sum_fd = fd;
    flen = (size_t)sb.st_size;
    if (flen > 0) {
        data = malloc(flen);
        if (data == NULL) {
            rc = TT_ENOMEM;
            goto out;
        }
        if (tt_pread_all(fd, data, flen, 0) != 0)
            flen = 0; /* unreadable: rebuilt below */
    }
    for (size_t i = first; i < ss->nblks; i++) {
        struct blk *b = &ss->blks[i];
        struct spansum_rec rec;
        int prc =
            pos < flen ? spansum_parse(data + pos, flen - pos, &rec, perr, sizeof perr) : TT_ETRUNC;
        if (!rebuilding && prc == 0 && rec.block_off == b->off && rec.block_len == b->len) {
            b->sum_off = pos;
            b->sum_len = rec.rec_len;
            pos += rec.rec_len;
            continue;
        }
        int brc = build_sum(ss, sg, b, &buf, &rd, &sum);
        if (brc == TT_ENOMEM) {
            rc = brc;
            goto out;
        }
        if (!rebuilding) {
            /* A damaged block that never had a summary: the next record is
             * the next block's, and all is well. */
            if (brc != 0 && prc == 0 && rec.block_off > b->off)
                continue;
            rebuilding = 1;
            problem_sum(ss, sg->num, pos,
                        missing ? "summary file missing: rebuilding it from the blocks"
                                : "summaries missing or damaged from here: rebuilding them from "
                                  "the blocks");
            if (ftruncate(fd, (off_t)pos) != 0) {
                snprintf(err, errlen, "span store: truncating %s: %s", path, strerror(errno));
                rc = TT_EIO;
                goto out;
            }
        }
        if (brc != 0)
            continue;
        if (tt_pwrite_all(fd, ss->sumbuf.data, ss->sumbuf.len, pos) != 0) {
            snprintf(err, errlen, "span store: writing %s: %s", path, strerror(errno));
            rc = TT_EIO;
            goto out;
        }
        b->sum_off = pos;
        b->sum_len = (uint32_t)ss->sumbuf.len;
        pos += ss->sumbuf.len;
    }
    if (!rebuilding && pos < flen && ftruncate(fd, (off_t)pos) != 0) {
        snprintf(err, errlen, "span store: truncating %s: %s", path, strerror(errno));
        rc = TT_EIO;
        goto out;
    }
    if ((rebuilding || missing) && fdatasync(fd) != 0) {
        snprintf(err, errlen, "span store: fdatasync %s: %s", path, strerror(errno));
        rc = TT_EIO;
        goto out;
    }
    sg->sum_len = pos;
out:
    free(data);
    wbuf_release(&buf);
    spanblock_reader_release(&rd);
    spansum_release(&sum);
    return rc;
}

static void remove_segs(struct spanstore *ss, const uint32_t *nums, size_t n)
{
    char path[4096];
    for (size_t i = 0; i < n; i++) {
        seg_path(ss, nums[i], path, sizeof path);
        unlink(path);
        sum_path(ss, nums[i], path, sizeof path);
        unlink(path);
    }
}

int spanstore_open(struct spanstore **out, const char *dir, const struct spanstore_options *opt,
                   char *err, size_t errlen)
{
    struct spanstore *ss = calloc(1, sizeof *ss);
    struct state st;
    uint32_t *nums = NULL;
    size_t n = 0;
    int fresh, rc;
    char path[4096], names[4096];

    err[0] = '\0';
    if (ss == NULL)
        return TT_ENOMEM;
    pthread_rwlock_init(&ss->lock, NULL);
    wbuf_init(&ss->new_names, 0);
    wbuf_init(&ss->blockbuf, 0);
    wbuf_init(&ss->sumbuf, 0);
    spansum_init(&ss->sum);
    if (opt != NULL)
        ss->opt = *opt;
    if (ss->opt.segment_bytes == 0)
        ss->opt.segment_bytes = SPANSTORE_DEFAULT_SEGMENT_BYTES;
    if (ss->opt.block_spans == 0 || ss->opt.block_spans > SPANBLOCK_MAX_SPANS)
        ss->opt.block_spans = SPANSTORE_DEFAULT_BLOCK_SPANS;
    ss->dir = strdup(dir);
    if (ss->dir == NULL || spanblock_writer_new(&ss->w) != 0) {
        rc = TT_ENOMEM;
        goto fail;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "span store: mkdir %s: %s", dir, strerror(errno));
        rc = TT_EIO;
        goto fail;
    }
    rc = read_state(ss, &st, &fresh, err, errlen);
    if (rc != 0)
        goto fail;
    rc = list_segs(dir, &nums, &n);
    if (rc != 0) {
        snprintf(err, errlen, "span store: cannot list %s", dir);
        goto fail;
    }
    /* A lost segment (the last committed one, or a gap) means lost spans:
     * start over and re-index the whole record log. */
    int lost = 0;
    if (!fresh && st.seg != 0) {
        int found = 0;
        for (size_t i = 0; i < n; i++) {
            if (nums[i] == st.seg)
                found = 1;
            if (i > 0 && nums[i] != nums[i - 1] + 1 && nums[i] <= st.seg)
                lost = 1;
        }
        if (!found)
            lost = 1;
    }
    if (lost) {
        problem(ss, st.seg, 0, "segment missing: rebuilding the span store from the record log");
        fresh = 1;
    }
    snprintf(names, sizeof names, "%s/names", dir);
    if (fresh) {
        remove_segs(ss, nums, n);
        n = 0;
        unlink(names);
        memset(&st, 0, sizeof st);
        ss->norigins = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (nums[i] > st.seg) {
            remove_segs(ss, &nums[i], 1); /* written after the last commit */
            continue;
        }
        seg_path(ss, nums[i], path, sizeof path);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            snprintf(err, errlen, "span store: open %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = TT_EIO;
            goto fail;
        }
        uint64_t len = (uint64_t)sb.st_size;
        if (nums[i] == st.seg && len != st.seg_len) {
            if (len < st.seg_len) {
                problem(ss, nums[i], len, "segment shorter than committed");
            } else if (ftruncate(fd, (off_t)st.seg_len) != 0) {
                snprintf(err, errlen, "span store: truncating %s: %s", path, strerror(errno));
                close(fd);
                rc = TT_EIO;
                goto fail;
            } else {
                len = st.seg_len;
            }
        }
        rc = add_seg(ss, nums[i], fd, len);
        if (rc != 0) {
            close(fd);
            goto fail;
        }
        int damaged;
        size_t first = ss->nblks;
        rc = scan_seg(ss, &ss->segs[ss->nsegs - 1], &damaged);
        if (rc == 0)
            rc = load_sums(ss, &ss->segs[ss->nsegs - 1], first, err, errlen);
        if (rc != 0)
            goto fail;
        if (damaged && i + 1 == n) {
            /* appends must not land behind damage the next open stops at */
            rc = new_seg(ss, err, errlen);
            if (rc != 0)
                goto fail;
        }
    }
    rc = load_names(ss);
    if (rc != 0) {
        snprintf(err, errlen, "span store: reading %s failed", names);
        goto fail;
    }
    ss->cur_rl_seg = st.rl_seg;
    ss->cur_rl_off = st.rl_off;
    if (fresh) {
        rc = write_state(ss, err, errlen);
        if (rc != 0)
            goto fail;
    }
    free(nums);
    *out = ss;
    return 0;
fail:
    free(nums);
    spanstore_close(ss);
    return rc;
}

static void free_all(struct spanstore *ss)
{
    for (size_t i = 0; i < ss->nsegs; i++) {
        close(ss->segs[i].fd);
        if (ss->segs[i].sum_fd >= 0)
            close(ss->segs[i].sum_fd);
    }
    for (size_t i = 0; i < ss->nblks; i++)
        free(ss->blks[i].bloom);
    for (size_t i = 0; i < ss->nsvcs; i++) {
        for (size_t k = 0; k < ss->svcs[i].nops; k++)
            free(ss->svcs[i].ops[k]);
        free(ss->svcs[i].ops);
        free(ss->svcs[i].name);
    }
    free(ss->svcs);
    free(ss->segs);
    free(ss->blks);
    free(ss->tkeys);
    free(ss->theads);
    free(ss->nodes);
    free(ss->origins);
    free(ss->dir);
    wbuf_release(&ss->new_names);
    wbuf_release(&ss->blockbuf);
    wbuf_release(&ss->sumbuf);
    spansum_release(&ss->sum);
    spanblock_writer_free(ss->w);
    pthread_rwlock_destroy(&ss->lock);
    free(ss);
}

void spanstore_close(struct spanstore *ss)
{
    if (ss == NULL)
        return;
    free_all(ss);
}

void spanstore_cursor(struct spanstore *ss, uint32_t *seg, uint64_t *off)
{
    *seg = ss->cur_rl_seg;
    *off = ss->cur_rl_off;
}

int spanstore_batch_seen(struct spanstore *ss, uint64_t origin_id, uint64_t first_seq,
                         uint32_t count)
{
    for (size_t i = 0; i < ss->norigins; i++) {
        if (ss->origins[i].id != origin_id)
            continue;
        if (first_seq < ss->origins[i].end)
            return 1;
        ss->origins[i].end = first_seq + count;
        return 0;
    }
    if (ss->norigins >= SPANSTORE_MAX_ORIGINS)
        return TT_EFULL;
    if (ss->norigins == ss->cap_origins) {
        size_t nc = ss->cap_origins ? ss->cap_origins * 2 : 64;
        struct origin *a = realloc(ss->origins, nc * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        ss->origins = a;
        ss->cap_origins = nc;
    }
    ss->origins[ss->norigins].id = origin_id;
    ss->origins[ss->norigins].end = first_seq + count;
    ss->norigins++;
    return 0;
}

/* sync_sum fdatasyncs the open segment's summary file if it has unsynced
 * records. */
static int sync_sum(struct spanstore *ss, char *err, size_t errlen)
{
    if (!ss->sum_unsynced || ss->nsegs == 0 || ss->segs[ss->nsegs - 1].sum_fd < 0)
        return 0;
    if (fdatasync(ss->segs[ss->nsegs - 1].sum_fd) != 0) {
        snprintf(err, errlen, "span store: fdatasync of a summary file: %s", strerror(errno));
        return TT_EIO;
    }
    ss->sum_unsynced = 0;
    return 0;
}

/* write_sum appends the pending summary as block b's record to sg's
 * summary file. A failure is reported, not returned: summaries can be
 * rebuilt from the blocks (the next open does), and until then queries
 * decode the block instead. */
static void write_sum(struct spanstore *ss, struct seg *sg, struct blk *b)
{
    wbuf_reset(&ss->sumbuf);
    spansum_encode(&ss->sum, b->off, b->len, &ss->sumbuf, ss->opt.zstd_level);
    if (ss->sumbuf.err != 0 || sg->sum_fd < 0 ||
        tt_pwrite_all(sg->sum_fd, ss->sumbuf.data, ss->sumbuf.len, sg->sum_len) != 0) {
        problem_sum(ss, sg->num, sg->sum_len, "writing a summary failed");
        return;
    }
    b->sum_off = sg->sum_len;
    b->sum_len = (uint32_t)ss->sumbuf.len;
    sg->sum_len += ss->sumbuf.len;
    ss->sum_unsynced = 1;
}

/* flush_block writes the pending spans as one block at the end of the open
 * segment (a new one when it is full) and indexes it. */
static int flush_block(struct spanstore *ss, char *err, size_t errlen)
{
    int rc;
    if (spanblock_count(ss->w) == 0)
        return 0;
    wbuf_reset(&ss->blockbuf);
    rc = spanblock_finish(ss->w, &ss->blockbuf, ss->opt.zstd_level);
    if (rc != 0) {
        snprintf(err, errlen, "span store: encoding a block: %s", tt_strerror(rc));
        return rc;
    }
    pthread_rwlock_wrlock(&ss->lock);
    if (ss->nsegs == 0 ||
        (ss->segs[ss->nsegs - 1].len > 0 &&
         ss->segs[ss->nsegs - 1].len + ss->blockbuf.len > ss->opt.segment_bytes)) {
        if (ss->nsegs > 0 && ss->unsynced) {
            if (fdatasync(ss->segs[ss->nsegs - 1].fd) != 0) {
                snprintf(err, errlen, "span store: fdatasync: %s", strerror(errno));
                rc = TT_EIO;
                goto out;
            }
            ss->unsynced = 0;
        }
        rc = sync_sum(ss, err, errlen);
        if (rc != 0)
            goto out;
        rc = new_seg(ss, err, errlen);
        if (rc != 0)
            goto out;
    }
    struct seg *sg = &ss->segs[ss->nsegs - 1];
    if (tt_pwrite_all(sg->fd, ss->blockbuf.data, ss->blockbuf.len, sg->len) != 0) {
        snprintf(err, errlen, "span store: writing %08" PRIu32 ".seg: %s", sg->num,
                 strerror(errno));
        if (ftruncate(sg->fd, (off_t)sg->len) != 0) {
            /* the next open cuts it at the committed length anyway */
        }
        rc = TT_EIO;
        goto out;
    }
    struct spanblock_hdr h;
    char perr[128];
    rc = spanblock_parse_header(ss->blockbuf.data, ss->blockbuf.len, &h, perr, sizeof perr);
    if (rc == 0)
        rc = index_block(ss, sg->num, sg->len, &h, 1);
    if (rc != 0) {
        snprintf(err, errlen, "span store: indexing a block: %s", tt_strerror(rc));
        goto out;
    }
    if (h.max_start_ns > sg->max_start)
        sg->max_start = h.max_start_ns;
    sg->len += ss->blockbuf.len;
    ss->unsynced = 1;
    write_sum(ss, sg, &ss->blks[ss->nblks - 1]);
out:
    spansum_reset(&ss->sum);
    pthread_rwlock_unlock(&ss->lock);
    return rc;
}

int spanstore_add(struct spanstore *ss, const struct span_row *s, char *err, size_t errlen)
{
    int rc = spanblock_add(ss->w, s);
    if (rc == TT_EFULL) {
        rc = flush_block(ss, err, errlen);
        if (rc != 0)
            return rc;
        rc = spanblock_add(ss->w, s);
    }
    if (rc == 0)
        rc = spansum_add(&ss->sum, s);
    if (rc != 0) {
        snprintf(err, errlen, "span store: adding a span: %s", tt_strerror(rc));
        return rc;
    }
    if (!has_ctl(s->service.p, s->service.len) && !has_ctl(s->name.p, s->name.len)) {
        pthread_rwlock_wrlock(&ss->lock);
        rc = add_name(ss, s->service.p, s->service.len, s->name.p, s->name.len);
        pthread_rwlock_unlock(&ss->lock);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            wbuf_put(&ss->new_names, s->service.p, s->service.len);
            wbuf_put_u8(&ss->new_names, '\t');
            wbuf_put(&ss->new_names, s->name.p, s->name.len);
            wbuf_put_u8(&ss->new_names, '\n');
            if (ss->new_names.err)
                return ss->new_names.err;
        }
    }
    if (spanblock_count(ss->w) >= ss->opt.block_spans)
        return flush_block(ss, err, errlen);
    return 0;
}

uint32_t spanstore_pending(struct spanstore *ss)
{
    return spanblock_count(ss->w);
}

int spanstore_commit(struct spanstore *ss, uint32_t seg, uint64_t off, char *err, size_t errlen)
{
    int rc = flush_block(ss, err, errlen);
    if (rc != 0)
        return rc;
    if (ss->unsynced && ss->nsegs > 0) {
        if (fdatasync(ss->segs[ss->nsegs - 1].fd) != 0) {
            snprintf(err, errlen, "span store: fdatasync: %s", strerror(errno));
            return TT_EIO;
        }
        ss->unsynced = 0;
    }
    rc = sync_sum(ss, err, errlen);
    if (rc != 0)
        return rc;
    if (ss->new_names.len > 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/names", ss->dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0 ||
            tt_pwrite_all(fd, ss->new_names.data, ss->new_names.len, (uint64_t)sb.st_size) != 0 ||
            fdatasync(fd) != 0) {
            snprintf(err, errlen, "span store: appending to %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return TT_EIO;
        }
        close(fd);
        wbuf_reset(&ss->new_names);
    }
    uint32_t oseg = ss->cur_rl_seg;
    uint64_t ooff = ss->cur_rl_off;
    ss->cur_rl_seg = seg;
    ss->cur_rl_off = off;
    rc = write_state(ss, err, errlen);
    if (rc != 0) {
        ss->cur_rl_seg = oseg;
        ss->cur_rl_off = ooff;
    }
    return rc;
}

/* rebuild_tmap re-reads the trace ids of every block left (after retention). */
static int rebuild_tmap(struct spanstore *ss)
{
    struct wbuf b;
    char err[128];
    int rc = 0;
    wbuf_init(&b, 0);
    tmap_clear(ss);
    for (size_t i = 0; i < ss->nblks; i++) {
        struct blk *bk = &ss->blks[i];
        int fd = -1;
        for (size_t k = 0; k < ss->nsegs; k++)
            if (ss->segs[k].num == bk->seg)
                fd = ss->segs[k].fd;
        uint8_t head[8];
        struct spanblock_hdr h;
        if (fd < 0 || tt_pread_all(fd, head, 8, bk->off) != 0)
            continue;
        uint32_t hl = get_le32(head + 4);
        if (hl > bk->len)
            continue;
        wbuf_reset(&b);
        if (wbuf_reserve(&b, hl) != 0) {
            rc = TT_ENOMEM;
            break;
        }
        if (tt_pread_all(fd, b.data, hl, bk->off) != 0 ||
            spanblock_parse_header(b.data, hl, &h, err, sizeof err) != 0) {
            problem(ss, bk->seg, bk->off, "block header unreadable");
            continue;
        }
        for (uint32_t t = 0; t < h.ntraces && rc == 0; t++)
            rc = tmap_add(ss, h.trace_ids + (size_t)t * 16, ss->base_gid + i);
        if (rc != 0)
            break;
    }
    wbuf_release(&b);
    return rc;
}

int spanstore_retain(struct spanstore *ss, int64_t now_ns, char *err, size_t errlen)
{
    int removed = 0, rc = 0;
    char path[4096];
    pthread_rwlock_wrlock(&ss->lock);
    for (;;) {
        uint64_t total = 0;
        if (ss->nsegs < 2)
            break;
        for (size_t i = 0; i < ss->nsegs; i++)
            total += ss->segs[i].len;
        struct seg *old = &ss->segs[0];
        int too_old =
            ss->opt.retention_ms > 0 && old->max_start < now_ns - ss->opt.retention_ms * 1000000;
        int too_big = ss->opt.retention_bytes > 0 && total > ss->opt.retention_bytes;
        if (!too_old && !too_big)
            break;
        seg_path(ss, old->num, path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "span store: removing %s: %s", path, strerror(errno));
            rc = TT_EIO;
            break;
        }
        close(old->fd);
        if (old->sum_fd >= 0)
            close(old->sum_fd);
        sum_path(ss, old->num, path, sizeof path);
        unlink(path);
        size_t nb = 0;
        while (nb < ss->nblks && ss->blks[nb].seg == old->num) {
            ss->spans -= ss->blks[nb].count;
            free(ss->blks[nb].bloom);
            nb++;
        }
        memmove(ss->blks, ss->blks + nb, (ss->nblks - nb) * sizeof *ss->blks);
        ss->nblks -= nb;
        ss->base_gid += nb;
        memmove(ss->segs, ss->segs + 1, (ss->nsegs - 1) * sizeof *ss->segs);
        ss->nsegs--;
        removed++;
    }
    if (removed > 0 && rc == 0)
        rc = rebuild_tmap(ss);
    pthread_rwlock_unlock(&ss->lock);
    return rc != 0 ? rc : removed;
}

/* --- queries ---------------------------------------------------------------- */

struct qctx {
    struct wbuf buf;
    struct spanblock_reader rd;
    struct spanblock_hdr h;
};

static int seg_fd(struct spanstore *ss, uint32_t num)
{
    size_t lo = 0, hi = ss->nsegs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ss->segs[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ss->nsegs && ss->segs[lo].num == num ? ss->segs[lo].fd : -1;
}

/* load_block reads and opens block b; 0, or nonzero when it is damaged
 * (reported) or unreadable. */
static int load_block(struct spanstore *ss, const struct blk *b, struct qctx *q)
{
    char err[256];
    int fd = seg_fd(ss, b->seg), rc;
    wbuf_reset(&q->buf);
    if (fd < 0 || wbuf_reserve(&q->buf, b->len) != 0)
        return TT_ENOMEM;
    if (tt_pread_all(fd, q->buf.data, b->len, b->off) != 0) {
        problem(ss, b->seg, b->off, "read error");
        return TT_EIO;
    }
    rc = spanblock_parse_header(q->buf.data, b->len, &q->h, err, sizeof err);
    if (rc == 0)
        rc = spanblock_read(&q->rd, q->buf.data, &q->h, err, sizeof err);
    if (rc != 0)
        problem(ss, b->seg, b->off, err);
    return rc;
}

static void qctx_init(struct qctx *q)
{
    wbuf_init(&q->buf, 0);
    spanblock_reader_init(&q->rd);
}

static void qctx_release(struct qctx *q)
{
    wbuf_release(&q->buf);
    spanblock_reader_release(&q->rd);
}

int spanstore_trace(struct spanstore *ss, const uint8_t trace_id[16], spanstore_span_fn fn,
                    void *arg)
{
    struct qctx q;
    uint64_t k = trace_key(trace_id), *seen = NULL, *gids = NULL;
    size_t nseen = 0, capseen = 0, ngids = 0, capg = 0;
    int rc = 0, total = 0;
    char err[256];

    qctx_init(&q);
    pthread_rwlock_rdlock(&ss->lock);
    if (ss->tcap > 0) {
        uint32_t j = (uint32_t)k & (ss->tcap - 1);
        while (ss->theads[j] != 0 && ss->tkeys[j] != k)
            j = (j + 1) & (ss->tcap - 1);
        for (uint32_t n = ss->theads[j]; n != 0; n = ss->nodes[n - 1].next) {
            if (ngids == capg) {
                capg = capg ? capg * 2 : 16;
                uint64_t *a = realloc(gids, capg * sizeof *a);
                if (a == NULL) {
                    rc = TT_ENOMEM;
                    goto out;
                }
                gids = a;
            }
            gids[ngids++] = ss->nodes[n - 1].gid;
        }
    }
    /* the chain is newest first: read the blocks in the order written */
    for (size_t g = ngids; g-- > 0;) {
        if (gids[g] < ss->base_gid || gids[g] - ss->base_gid >= ss->nblks)
            continue;
        const struct blk *b = &ss->blks[gids[g] - ss->base_gid];
        if (load_block(ss, b, &q) != 0)
            continue;
        struct span_row s;
        int r;
        while ((r = spanblock_next(&q.rd, &s, err, sizeof err)) == 1) {
            if (memcmp(s.trace_id, trace_id, 16) != 0)
                continue;
            size_t i;
            for (i = 0; i < nseen; i++)
                if (seen[i] == s.span_id)
                    break;
            if (i < nseen)
                continue;
            if (nseen == capseen) {
                capseen = capseen ? capseen * 2 : 64;
                uint64_t *a = realloc(seen, capseen * sizeof *a);
                if (a == NULL) {
                    rc = TT_ENOMEM;
                    goto out;
                }
                seen = a;
            }
            seen[nseen++] = s.span_id;
            total++;
            rc = fn(arg, &s);
            if (rc != 0)
                goto out;
        }
        if (r < 0)
            problem(ss, b->seg, b->off, err);
    }
out:
    pthread_rwlock_unlock(&ss->lock);
    qctx_release(&q);
    free(seen);
    free(gids);
    return rc != 0 ? rc : total;
}

void spanstore_services(struct spanstore *ss, spanstore_name_fn fn, void *arg)
{
    pthread_rwlock_rdlock(&ss->lock);
    for (size_t i = 0; i < ss->nsvcs; i++)
        fn(arg, ss->svcs[i].name, strlen(ss->svcs[i].name));
    pthread_rwlock_unlock(&ss->lock);
}

void spanstore_operations(struct spanstore *ss, const char *service, spanstore_name_fn fn,
                          void *arg)
{
    pthread_rwlock_rdlock(&ss->lock);
    struct svc *s = find_svc(ss, service, strlen(service));
    for (size_t i = 0; s != NULL && i < s->nops; i++)
        fn(arg, s->ops[i], strlen(s->ops[i]));
    pthread_rwlock_unlock(&ss->lock);
}

static int streq(struct rec_str s, const char *c)
{
    return strlen(c) == s.len && memcmp(s.p, c, s.len) == 0;
}

/* derived_tag: the text of the tags the Jaeger API derives from a span's
 * kind and status rather than its attributes (api_jaeger.c writes them), so
 * that a search for error=true or span.kind=server finds what a trace shows.
 * Returns 1 with the text in txt, 0 when the span has no such tag. */
static int derived_tag(const struct span_row *s, const char *key, char *txt, size_t n)
{
    static const char *const kinds[] = { "internal", "server", "client", "producer", "consumer" };
    if (strcmp(key, "span.kind") == 0) {
        snprintf(txt, n, "%s", s->kind < 5 ? kinds[s->kind] : "internal");
        return 1;
    }
    if (strcmp(key, "error") == 0 && s->status == TT_STATUS_ERROR) {
        snprintf(txt, n, "true");
        return 1;
    }
    if (strcmp(key, "otel.status_code") == 0 &&
        (s->status == TT_STATUS_ERROR || s->status == TT_STATUS_OK)) {
        snprintf(txt, n, "%s", s->status == TT_STATUS_ERROR ? "ERROR" : "OK");
        return 1;
    }
    if (strcmp(key, "otel.status_description") == 0 && s->status_message.len > 0) {
        snprintf(txt, n, "%.*s", (int)s->status_message.len, s->status_message.p);
        return 1;
    }
    return 0;
}

static int is_derived_key(const char *key)
{
    return strcmp(key, "span.kind") == 0 || strcmp(key, "error") == 0 ||
           strcmp(key, "otel.status_code") == 0 || strcmp(key, "otel.status_description") == 0;
}

static int row_matches(const struct span_row *s, const struct spanstore_query *q)
{
    char txt[512];
    if (!streq(s->service, q->service))
        return 0;
    if (q->operation != NULL && !streq(s->name, q->operation))
        return 0;
    if (s->duration_ns < q->min_duration_ns ||
        (q->max_duration_ns > 0 && s->duration_ns > q->max_duration_ns))
        return 0;
    if (s->start_ns < q->start_ns || s->start_ns > q->end_ns)
        return 0;
    for (size_t t = 0; t < q->ntags; t++) {
        int found = 0;
        for (uint32_t i = 0; i < s->nattrs && !found; i++) {
            if (!streq(s->attrs[i].key, q->tags[t].key))
                continue;
            spanblock_value_text(&s->attrs[i].v, txt, sizeof txt);
            found = strcmp(txt, q->tags[t].value) == 0;
        }
        if (!found && derived_tag(s, q->tags[t].key, txt, sizeof txt))
            found = strcmp(txt, q->tags[t].value) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static int block_may_match(const struct blk *b, const struct spanstore_query *q, char *item,
                           size_t itemlen)
{
    struct spanblock_hdr h;
    size_t n;
    if (b->max_start < q->start_ns || b->min_start > q->end_ns || b->max_dur < q->min_duration_ns)
        return 0;
    memset(&h, 0, sizeof h);
    h.bloom = b->bloom;
    h.bloom_bytes = b->bloom_bytes;
    n = spanblock_bloom_service(item, itemlen, q->service, strlen(q->service));
    if (n > 0 && !spanblock_bloom_may_contain(&h, item, n))
        return 0;
    if (q->operation != NULL) {
        n = spanblock_bloom_op(item, itemlen, q->service, strlen(q->service), q->operation,
                               strlen(q->operation));
        if (n > 0 && !spanblock_bloom_may_contain(&h, item, n))
            return 0;
    }
    for (size_t t = 0; t < q->ntags; t++) {
        if (is_derived_key(q->tags[t].key))
            continue; /* not in the filter: the span's kind or status */
        n = spanblock_bloom_tag(item, itemlen, q->tags[t].key, strlen(q->tags[t].key),
                                q->tags[t].value, strlen(q->tags[t].value));
        if (n > 0 && !spanblock_bloom_may_contain(&h, item, n))
            return 0;
    }
    return 1;
}

int spanstore_search(struct spanstore *ss, const struct spanstore_query *q, uint8_t *ids)
{
    struct qctx q2;
    size_t limit = q->limit ? q->limit : 20, found = 0;
    char item[2048], err[256];
    int rc = 0;

    qctx_init(&q2);
    pthread_rwlock_rdlock(&ss->lock);
    for (size_t i = ss->nblks; i-- > 0 && found < limit;) {
        const struct blk *b = &ss->blks[i];
        if (!block_may_match(b, q, item, sizeof item))
            continue;
        if (load_block(ss, b, &q2) != 0)
            continue;
        struct span_row s;
        int r = 0;
        while (found < limit && (r = spanblock_next(&q2.rd, &s, err, sizeof err)) == 1) {
            if (!row_matches(&s, q))
                continue;
            size_t k;
            for (k = 0; k < found; k++)
                if (memcmp(ids + k * 16, s.trace_id, 16) == 0)
                    break;
            if (k == found)
                memcpy(ids + 16 * found++, s.trace_id, 16);
        }
        if (found < limit && r < 0)
            problem(ss, b->seg, b->off, err);
    }
    pthread_rwlock_unlock(&ss->lock);
    qctx_release(&q2);
    return rc != 0 ? rc : (int)found;
}

void spanstore_get_stats(struct spanstore *ss, struct spanstore_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_rwlock_rdlock(&ss->lock);
    st->spans = ss->spans;
    st->blocks = ss->nblks;
    st->segments = ss->nsegs;
    for (size_t i = 0; i < ss->nsegs; i++) {
        st->summary_bytes += ss->segs[i].sum_len;
        st->bytes += ss->segs[i].len + ss->segs[i].sum_len;
    }
    st->traces = ss->tn;
    st->problems = ss->problems;
    pthread_rwlock_unlock(&ss->lock);
}

/* --- block access for the analytics ------------------------------------- */

void spanstore_reader_init(struct spanstore_reader *r)
{
    wbuf_init(&r->buf, 0);
    memset(&r->h, 0, sizeof r->h);
    spanblock_reader_init(&r->rd);
}

void spanstore_reader_release(struct spanstore_reader *r)
{
    wbuf_release(&r->buf);
    spanblock_reader_release(&r->rd);
}

void spanstore_rdlock(struct spanstore *ss)
{
    pthread_rwlock_rdlock(&ss->lock);
}

void spanstore_rdunlock(struct spanstore *ss)
{
    pthread_rwlock_unlock(&ss->lock);
}

size_t spanstore_nblocks(struct spanstore *ss)
{
    return ss->nblks;
}

void spanstore_block_info(struct spanstore *ss, size_t i, struct spanstore_block *out)
{
    const struct blk *b = &ss->blks[i];
    out->min_start_ns = b->min_start;
    out->max_start_ns = b->max_start;
    out->max_duration_ns = b->max_dur;
    out->count = b->count;
    out->has_summary = b->sum_len > 0;
}

int spanstore_block_may_have(struct spanstore *ss, size_t i, const char *service,
                             const char *operation)
{
    const struct blk *b = &ss->blks[i];
    struct spanblock_hdr h;
    char item[2048];
    size_t n;
    if (service == NULL)
        return 1;
    memset(&h, 0, sizeof h);
    h.bloom = b->bloom;
    h.bloom_bytes = b->bloom_bytes;
    n = spanblock_bloom_service(item, sizeof item, service, strlen(service));
    if (n > 0 && !spanblock_bloom_may_contain(&h, item, n))
        return 0;
    if (operation != NULL) {
        n = spanblock_bloom_op(item, sizeof item, service, strlen(service), operation,
                               strlen(operation));
        if (n > 0 && !spanblock_bloom_may_contain(&h, item, n))
            return 0;
    }
    return 1;
}

int spanstore_block_open(struct spanstore *ss, size_t i, struct spanstore_reader *r)
{
    const struct blk *b = &ss->blks[i];
    char err[256];
    int fd = seg_fd(ss, b->seg), rc;
    wbuf_reset(&r->buf);
    if (fd < 0)
        return TT_EIO;
    if (wbuf_reserve(&r->buf, b->len) != 0)
        return TT_ENOMEM;
    if (tt_pread_all(fd, r->buf.data, b->len, b->off) != 0) {
        problem(ss, b->seg, b->off, "read error");
        return TT_EIO;
    }
    rc = spanblock_parse_header(r->buf.data, b->len, &r->h, err, sizeof err);
    if (rc == 0)
        rc = spanblock_read(&r->rd, r->buf.data, &r->h, err, sizeof err);
    if (rc != 0 && rc != TT_ENOMEM)
        problem(ss, b->seg, b->off, err);
    return rc;
}

int spanstore_block_summary(struct spanstore *ss, size_t i, struct wbuf *buf,
                            struct spansum_rec *rec)
{
    const struct blk *b = &ss->blks[i];
    char err[256];
    int fd = -1;
    if (b->sum_len == 0)
        return TT_ENOTFOUND;
    for (size_t k = 0; k < ss->nsegs && fd < 0; k++)
        if (ss->segs[k].num == b->seg)
            fd = ss->segs[k].sum_fd;
    if (fd < 0)
        return TT_ENOTFOUND;
    wbuf_reset(buf);
    if (wbuf_reserve(buf, b->sum_len) != 0)
        return TT_ENOMEM;
    if (tt_pread_all(fd, buf->data, b->sum_len, b->sum_off) != 0) {
        problem_sum(ss, b->seg, b->sum_off, "read error");
        return TT_EIO;
    }
    int rc = spansum_parse(buf->data, b->sum_len, rec, err, sizeof err);
    if (rc == 0 && (rec->block_off != b->off || rec->block_len != b->len)) {
        snprintf(err, sizeof err, "summary names another block");
        rc = TT_ECORRUPT;
    }
    if (rc != 0) {
        problem_sum(ss, b->seg, b->sum_off, err);
        return TT_ECORRUPT;
    }
    return 0;
}

void spanstore_block_problem(struct spanstore *ss, size_t i, const char *what)
{
    problem(ss, ss->blks[i].seg, ss->blks[i].off, what);
}
