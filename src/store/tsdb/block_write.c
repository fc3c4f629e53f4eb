/*
 * block_write.c - the block writer (block.h; byte layouts in
 * docs/design/tsdb.md, "## Blocks").
 *
 * Series arrive in label order. Each is cut into chunks; every chunk's
 * timestamp column is looked up by content among the columns already written
 * (all series scraped together share one), its value column is appended to
 * the open page of the chunks file, and a page is zstd-compressed and written
 * out once it holds about 64 KiB. The series' record (labels as provisional
 * symbol ids, chunk references) is kept in memory; block_writer_finish sorts
 * the symbols, rewrites the records with the final ids, builds the postings
 * and writes the index and meta.json, then syncs and renames the directory.
 *
 * Invariants: nothing outside BLOCKS_DIR/<id>.tmp is touched before the final
 * rename; a failed writer removes that directory; a column never straddles
 * two pages; a value column of a series always lies in the same or a later
 * page than the previous one (series records delta-code the page).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "core/crc32c.h"
#include "core/json.h"
#include "store/tsdb/block.h"
#include "store/tsdb/block_int.h"
#include "store/tsdb/sealed_codec.h"
#include "telltale.h"
#include "core/errmsg.h"

/* Timestamp columns kept in memory for deduplication stop growing here
 * (columns seen after that are simply not shared). */
#define DEDUP_ARENA_MAX ((size_t)64 << 20)

/* An output file made of pages. */
struct pwriter {
    int fd;
    char *path;
    uint64_t off;      /* bytes written so far */
    struct wbuf page;  /* raw bytes of the open page */
    struct wbuf z;     /* its compressed form */
    struct wbuf table; /* per page: uvarint stored bytes, uvarint raw bytes */
    uint32_t npages;
    ZSTD_CCtx *cctx;
    int level; /* 0: stored raw */
};

struct tsent {
    uint64_t hash;
    size_t arena_off;
    uint32_t len, col;
};

struct block_writer {
    char *dir, *tmp, *final;
    char id[BLOCK_ID_LEN + 1];
    int64_t mint, maxt;
    int64_t dmin, dmax; /* the samples' bounds (INT64_MAX/MIN: none yet) */
    struct block_writer_options o;
    char (*sources)[BLOCK_ID_LEN + 1];
    size_t nsources;
    struct pwriter ck, ru;
    struct sealed_ctx sc;
    struct symtab syms; /* provisional ids */
    struct wbuf recs;   /* per series: uvarint length, record with provisional ids */
    struct wbuf rec, chunks, col, seg;
    struct labels prev; /* the last series' labels (interned strings) */
    uint32_t *lsyms;    /* scratch: provisional ids of one series' labels */
    size_t lsyms_cap;
    uint32_t nseries;
    uint64_t nsamples, nchunks;
    int broken; /* an earlier write failed */
    /* timestamp column deduplication */
    struct tsent *ts;
    size_t nts, capts;
    uint32_t *slot; /* index + 1, 0 empty; power of two */
    size_t nslot;
    struct wbuf arena;
    uint64_t seed;
    struct wbuf tscols; /* the timestamp column table (section TSCOLS) */
    uint32_t ntscols, tscol_page;
    /* rollup scratch */
    int64_t *rt;
    double *rv[BLOCK_ROLLUP_COLS - 1];
    size_t rcap;
};

static char *path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

static int write_all(int fd, const void *buf, size_t len, const char *path, char *err,
                     size_t errlen)
{
    const uint8_t *p = buf;
    char eb[96];
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            return block_set_err(err, errlen, TT_EIO, "%s: write failed: %s", path,
                                 block_errstr(e, eb, sizeof eb));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sync_close(int *fd, const char *path, char *err, size_t errlen)
{
    char eb[96];
    int rc = 0;
    if (fsync(*fd) != 0) {
        int e = errno;
        rc = block_set_err(err, errlen, TT_EIO, "%s: fsync failed: %s", path,
                           block_errstr(e, eb, sizeof eb));
    }
    if (close(*fd) != 0 && rc == 0) {
        int e = errno;
        rc = block_set_err(err, errlen, TT_EIO, "%s: close failed: %s", path,
                           block_errstr(e, eb, sizeof eb));
    }
    *fd = -1;
    return rc;
}

static int sync_dir(const char *path, char *err, size_t errlen)
{
    char eb[96];
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return block_set_err(err, errlen, TT_EIO, "%s: directory fsync failed: %s", path,
                             block_errstr(e, eb, sizeof eb));
    }
    close(fd);
    return 0;
}

static int create_file(const char *path, int *fd, char *err, size_t errlen)
{
    char eb[96];
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (*fd < 0) {
        int e = errno;
        return block_set_err(err, errlen, e == ENOSPC ? TT_EIO : TT_ESYS, "%s: cannot create: %s",
                             path, block_errstr(e, eb, sizeof eb));
    }
    return 0;
}

/* ---- paged files -------------------------------------------------------------- */

static void file_header(uint8_t *h, const char *magic)
{
    memcpy(h, magic, 4);
    h[4] = BLOCK_FORMAT_VERSION;
    h[5] = h[6] = h[7] = 0;
}

static int pw_open(struct pwriter *pw, const char *dir, const char *name, const char *magic,
                   int level, char *err, size_t errlen)
{
    pw->level = level;
    pw->path = path_join(dir, name);
    if (pw->path == NULL)
        return TT_ENOMEM;
    int rc = create_file(pw->path, &pw->fd, err, errlen);
    if (rc)
        return rc;
    uint8_t h[BLOCK_FILE_HDR];
    file_header(h, magic);
    if ((rc = write_all(pw->fd, h, sizeof h, pw->path, err, errlen)) != 0)
        return rc;
    pw->off = sizeof h;
    return 0;
}

static void pw_release(struct pwriter *pw)
{
    if (pw->fd >= 0)
        close(pw->fd);
    pw->fd = -1;
    free(pw->path);
    pw->path = NULL;
    wbuf_release(&pw->page);
    wbuf_release(&pw->z);
    wbuf_release(&pw->table);
    if (pw->cctx)
        ZSTD_freeCCtx(pw->cctx);
    pw->cctx = NULL;
}

static int pw_flush(struct pwriter *pw, char *err, size_t errlen)
{
    if (pw->page.len == 0)
        return 0;
    const uint8_t *payload = pw->page.data;
    size_t stored = pw->page.len;
    uint8_t method = BLOCK_PAGE_RAW;
    if (pw->level > 0) {
        if (pw->cctx == NULL && (pw->cctx = ZSTD_createCCtx()) == NULL)
            return TT_ENOMEM;
        size_t bound = ZSTD_compressBound(pw->page.len);
        wbuf_reset(&pw->z);
        if (wbuf_reserve(&pw->z, bound) != 0)
            return pw->z.err;
        size_t zn =
            ZSTD_compressCCtx(pw->cctx, pw->z.data, bound, pw->page.data, pw->page.len, pw->level);
        if (ZSTD_isError(zn))
            return block_set_err(err, errlen, TT_EIO, "%s: zstd: %s", pw->path,
                                 ZSTD_getErrorName(zn));
        if (zn < pw->page.len) {
            payload = pw->z.data;
            stored = zn;
            method = BLOCK_PAGE_ZSTD;
        }
    }
    uint8_t h[BLOCK_PAGE_HDR];
    put_le32(h + 4, (uint32_t)stored);
    put_le32(h + 8, (uint32_t)pw->page.len);
    h[12] = method;
    h[13] = h[14] = h[15] = 0;
    put_le32(h, crc32c(crc32c(0, h + 4, BLOCK_PAGE_HDR - 4), payload, stored));
    int rc = write_all(pw->fd, h, sizeof h, pw->path, err, errlen);
    if (rc == 0)
        rc = write_all(pw->fd, payload, stored, pw->path, err, errlen);
    if (rc)
        return rc;
    pw->off += sizeof h + stored;
    wbuf_put_uvarint(&pw->table, stored);
    wbuf_put_uvarint(&pw->table, pw->page.len);
    if (pw->table.err)
        return pw->table.err;
    pw->npages++;
    wbuf_reset(&pw->page);
    return 0;
}

/* pw_add appends one column (or rollup record) to the open page, cutting the
 * page first when it would pass the target size. */
static int pw_add(struct pwriter *pw, const void *p, size_t len, uint32_t *page, uint32_t *off,
                  char *err, size_t errlen)
{
    if (len > BLOCK_PAGE_RAW_MAX)
        return block_set_err(err, errlen, TT_ETOOBIG, "%s: column of %zu bytes", pw->path, len);
    int rc;
    if (pw->page.len > 0 && pw->page.len + len > BLOCK_PAGE_TARGET &&
        (rc = pw_flush(pw, err, errlen)) != 0)
        return rc;
    *page = pw->npages;
    *off = (uint32_t)pw->page.len;
    wbuf_put(&pw->page, p, len);
    return pw->page.err;
}

/* ---- timestamp column deduplication --------------------------------------------- */

static struct tsent *dedup_find(struct block_writer *w, const uint8_t *p, size_t len, uint64_t h,
                                size_t *slot)
{
    if (w->nslot == 0)
        return NULL;
    size_t mask = w->nslot - 1;
    size_t i = (size_t)h & mask;
    while (w->slot[i]) {
        struct tsent *e = &w->ts[w->slot[i] - 1];
        if (e->hash == h && e->len == len && memcmp(w->arena.data + e->arena_off, p, len) == 0)
            return e;
        i = (i + 1) & mask;
    }
    *slot = i;
    return NULL;
}

static int dedup_add(struct block_writer *w, const uint8_t *p, size_t len, uint64_t h, uint32_t col)
{
    if (w->arena.len + len > DEDUP_ARENA_MAX || w->nts >= UINT32_MAX / 4)
        return 0;
    if ((w->nts + 1) * 2 > w->nslot) {
        size_t nn = w->nslot ? w->nslot * 2 : 1024;
        uint32_t *ns = calloc(nn, sizeof *ns);
        if (ns == NULL)
            return TT_ENOMEM;
        for (size_t k = 0; k < w->nts; k++) {
            size_t i = (size_t)w->ts[k].hash & (nn - 1);
            while (ns[i])
                i = (i + 1) & (nn - 1);
            ns[i] = (uint32_t)k + 1;
        }
        free(w->slot);
        w->slot = ns;
        w->nslot = nn;
    }
    if (w->nts == w->capts) {
        size_t nc = w->capts ? w->capts * 2 : 256;
        struct tsent *ne = realloc(w->ts, nc * sizeof *ne);
        if (ne == NULL)
            return TT_ENOMEM;
        w->ts = ne;
        w->capts = nc;
    }
    size_t i = (size_t)h & (w->nslot - 1);
    while (w->slot[i])
        i = (i + 1) & (w->nslot - 1);
    struct tsent *e = &w->ts[w->nts];
    e->hash = h;
    e->arena_off = w->arena.len;
    e->len = (uint32_t)len;
    e->col = col;
    wbuf_put(&w->arena, p, len);
    if (w->arena.err)
        return w->arena.err;
    w->slot[i] = (uint32_t)++w->nts;
    return 0;
}

/* put_ts_column writes (or finds) the timestamp column in w->col and
 * returns its number. */
static int put_ts_column(struct block_writer *w, uint32_t *col, char *err, size_t errlen)
{
    uint64_t h = labels_hash_bytes(w->col.data, w->col.len, w->seed);
    size_t slot = 0;
    struct tsent *e = dedup_find(w, w->col.data, w->col.len, h, &slot);
    if (e != NULL) {
        *col = e->col;
        return 0;
    }
    if (w->ntscols == UINT32_MAX - 1)
        return block_set_err(err, errlen, TT_EFULL, "block: too many timestamp columns");
    uint32_t page, off;
    int rc = pw_add(&w->ck, w->col.data, w->col.len, &page, &off, err, errlen);
    if (rc)
        return rc;
    wbuf_put_uvarint(&w->tscols, page - w->tscol_page);
    wbuf_put_uvarint(&w->tscols, off);
    wbuf_put_uvarint(&w->tscols, w->col.len);
    if (w->tscols.err)
        return w->tscols.err;
    w->tscol_page = page;
    *col = w->ntscols++;
    return dedup_add(w, w->col.data, w->col.len, h, *col);
}

/* ---- writer lifecycle -------------------------------------------------------------- */

static int valid_id(const char *s)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (size_t i = 0; i < BLOCK_ID_LEN; i++) {
        if (s[i] == 0 || strchr(b32, s[i]) == NULL)
            return 0;
    }
    return s[BLOCK_ID_LEN] == 0;
}

static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char eb[96];
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (p == NULL)
        return TT_ENOMEM;
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            int rc =
                block_set_err(err, errlen, e == ENOSPC ? TT_EIO : TT_ESYS,
                              "%s: cannot create directory: %s", p, block_errstr(e, eb, sizeof eb));
            free(p);
            return rc;
        }
        p[i] = c;
    }
    free(p);
    return 0;
}

static void remove_tmp(struct block_writer *w)
{
    if (w->tmp == NULL)
        return;
    for (int f = 0; f < 4; f++) {
        char *p = path_join(w->tmp, block_file_name(f));
        if (p != NULL)
            unlink(p);
        free(p);
    }
    rmdir(w->tmp);
}

static void writer_free(struct block_writer *w)
{
    pw_release(&w->ck);
    pw_release(&w->ru);
    sealed_ctx_release(&w->sc);
    symtab_release(&w->syms);
    wbuf_release(&w->recs);
    wbuf_release(&w->rec);
    wbuf_release(&w->chunks);
    wbuf_release(&w->col);
    wbuf_release(&w->seg);
    wbuf_release(&w->arena);
    wbuf_release(&w->tscols);
    labels_release(&w->prev);
    free(w->lsyms);
    free(w->ts);
    free(w->slot);
    free(w->rt);
    for (int i = 0; i < BLOCK_ROLLUP_COLS - 1; i++)
        free(w->rv[i]);
    free(w->sources);
    free(w->dir);
    free(w->tmp);
    free(w->final);
    free(w);
}

void block_writer_abort(struct block_writer *w)
{
    if (w == NULL)
        return;
    pw_release(&w->ck);
    pw_release(&w->ru);
    remove_tmp(w);
    writer_free(w);
}

int block_writer_new(struct block_writer **out, const char *blocks_dir, int64_t mint, int64_t maxt,
                     const struct block_writer_options *o, char *err, size_t errlen)
{
    *out = NULL;
    struct block_writer_options def;
    block_writer_options_default(&def);
    if (o == NULL)
        o = &def;
    if (blocks_dir == NULL || blocks_dir[0] == 0 || mint > maxt)
        return block_set_err(err, errlen, TT_EINVAL, "block: bad directory or time range");
    if (o->zstd_level < 0 || o->zstd_level > ZSTD_maxCLevel() || o->level < 1 ||
        o->chunk_range_ms <= 0 || o->chunk_max_samples < 1 ||
        o->chunk_max_samples > SEALED_MAX_SAMPLES || (o->nsources > 0 && o->sources == NULL))
        return block_set_err(err, errlen, TT_EINVAL, "block: bad writer options");
    for (size_t i = 0; i < o->nsources; i++) {
        if (!valid_id(o->sources[i]))
            return block_set_err(err, errlen, TT_EINVAL, "block: bad source id %zu", i);
    }
    struct block_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return TT_ENOMEM;
    w->ck.fd = w->ru.fd = -1;
    w->o = *o;
    w->o.sources = NULL;
    w->mint = mint;
    w->maxt = maxt;
    w->dmin = INT64_MAX;
    w->dmax = INT64_MIN;
    symtab_init(&w->syms, 0x9e3779b97f4a7c15u);
    wbuf_init(&w->recs, 0);
    wbuf_init(&w->rec, 0);
    wbuf_init(&w->chunks, 0);
    wbuf_init(&w->col, 0);
    wbuf_init(&w->seg, 0);
    wbuf_init(&w->arena, 0);
    wbuf_init(&w->tscols, 0);
    wbuf_init(&w->ck.page, 0);
    wbuf_init(&w->ck.z, 0);
    wbuf_init(&w->ck.table, 0);
    wbuf_init(&w->ru.page, 0);
    wbuf_init(&w->ru.z, 0);
    wbuf_init(&w->ru.table, 0);
    labels_init(&w->prev);
    int rc = sealed_ctx_init(&w->sc, 0);
    if (rc)
        goto fail;
    block_new_id(w->id);
    /* The dedup hash seed comes from the id's random part: columns cannot be
     * crafted to collide (and collisions are compared byte for byte anyway). */
    w->seed = labels_hash_bytes(w->id, BLOCK_ID_LEN, 0x5eed);
    size_t ns = o->nsources;
    w->sources = malloc((ns ? ns : 1) * sizeof *w->sources);
    w->dir = malloc(strlen(blocks_dir) + 1);
    char tmpname[BLOCK_ID_LEN + 8];
    snprintf(tmpname, sizeof tmpname, "%s.tmp", w->id);
    w->tmp = path_join(blocks_dir, tmpname);
    w->final = path_join(blocks_dir, w->id);
    if (w->sources == NULL || w->dir == NULL || w->tmp == NULL || w->final == NULL) {
        rc = TT_ENOMEM;
        goto fail;
    }
    memcpy(w->dir, blocks_dir, strlen(blocks_dir) + 1);
    if (ns > 0) {
        memcpy(w->sources, o->sources, ns * sizeof *w->sources);
        w->nsources = ns;
    } else {
        memcpy(w->sources[0], w->id, sizeof w->sources[0]);
        w->nsources = 1;
    }
    if ((rc = mkdir_p(blocks_dir, err, errlen)) != 0)
        goto fail;
    if (mkdir(w->tmp, 0755) != 0) {
        char eb[96];
        int e = errno;
        rc = block_set_err(err, errlen, e == ENOSPC ? TT_EIO : TT_ESYS,
                           "%s: cannot create directory: %s", w->tmp,
                           block_errstr(e, eb, sizeof eb));
        free(w->tmp);
        w->tmp = NULL; /* not ours to remove */
        goto fail;
    }
    rc = pw_open(&w->ck, w->tmp, "chunks", BLOCK_MAGIC_CHUNKS, o->zstd_level, err, errlen);
    if (rc == 0 && o->rollups)
        rc = pw_open(&w->ru, w->tmp, "rollups", BLOCK_MAGIC_ROLLUPS, o->zstd_level, err, errlen);
    if (rc)
        goto fail;
    *out = w;
    return 0;
fail:
    if (rc == TT_ENOMEM)
        block_set_err(err, errlen, rc, "block: out of memory");
    block_writer_abort(w);
    return rc;
}

/* ---- adding series ------------------------------------------------------------------- */

static int check_series(struct block_writer *w, const struct labels *ls, const int64_t *ts,
                        size_t n, char *err, size_t errlen)
{
    if (n == 0 || ts == NULL)
        return block_set_err(err, errlen, TT_EINVAL, "block: series without samples");
    if (ls == NULL || ls->n == 0 || !labels_is_normalized(ls))
        return block_set_err(err, errlen, TT_EINVAL, "block: labels empty or not normalized");
    if (w->nseries > 0 && labels_cmp(ls, &w->prev) <= 0)
        return block_set_err(err, errlen, TT_EINVAL,
                             "block: series %u out of order (labels not greater than the last)",
                             w->nseries);
    if (w->nseries == UINT32_MAX)
        return block_set_err(err, errlen, TT_EFULL, "block: too many series");
    if (ts[0] < w->mint || ts[n - 1] > w->maxt)
        return block_set_err(err, errlen, TT_EINVAL,
                             "block: sample time outside [%lld, %lld] in series %u",
                             (long long)w->mint, (long long)w->maxt, w->nseries);
    if (ts[0] < w->dmin)
        w->dmin = ts[0];
    if (ts[n - 1] > w->dmax)
        w->dmax = ts[n - 1];
    for (size_t i = 1; i < n; i++) {
        if (ts[i] <= ts[i - 1])
            return block_set_err(err, errlen, TT_EINVAL,
                                 "block: timestamps not increasing at sample %zu of series %u", i,
                                 w->nseries);
    }
    return 0;
}

static int grow_rollup(struct block_writer *w, size_t n)
{
    if (n <= w->rcap)
        return 0;
    int64_t *t = realloc(w->rt, n * sizeof *t);
    if (t == NULL)
        return TT_ENOMEM;
    w->rt = t;
    for (int i = 0; i < BLOCK_ROLLUP_COLS - 1; i++) {
        double *v = realloc(w->rv[i], n * sizeof *v);
        if (v == NULL)
            return TT_ENOMEM;
        w->rv[i] = v;
    }
    w->rcap = n;
    return 0;
}

/* rollup_compute fills w->rt / w->rv with one row per interval of res_ms
 * that holds a sample other than a stale marker; returns the row count.
 * min and max ignore NaNs unless every value of the interval is NaN; sum
 * adds in time order (NaN propagates); t is the last counted sample's time. */
static size_t rollup_compute(struct block_writer *w, const int64_t *ts, const double *vs, size_t n,
                             int64_t res_ms)
{
    size_t rows = 0;
    int64_t cur = 0;
    int open = 0;
    for (size_t i = 0; i < n; i++) {
        if (f64_bits(vs[i]) == BLOCK_STALE_BITS)
            continue;
        int64_t k = tt_floor_div(ts[i] - 1, res_ms); /* (k res, (k + 1) res] */
        double v = vs[i];
        if (!open || k != cur) {
            w->rt[rows] = ts[i];
            w->rv[0][rows] = v;
            w->rv[1][rows] = v;
            w->rv[2][rows] = v;
            w->rv[3][rows] = 1;
            w->rv[4][rows] = v;
            rows++;
            cur = k;
            open = 1;
            continue;
        }
        size_t r = rows - 1;
        w->rt[r] = ts[i];
        if (v < w->rv[0][r] || (w->rv[0][r] != w->rv[0][r] && v == v))
            w->rv[0][r] = v;
        if (v > w->rv[1][r] || (w->rv[1][r] != w->rv[1][r] && v == v))
            w->rv[1][r] = v;
        w->rv[2][r] += v;
        w->rv[3][r] += 1;
        w->rv[4][r] = v;
    }
    return rows;
}

/* put_ref appends a chunk or segment reference to w->chunks. */
static void put_ref(struct wbuf *b, int64_t mint, int64_t maxt, size_t n, int64_t *prev_t)
{
    wbuf_put_uvarint(b, (uint64_t)mint - (uint64_t)*prev_t);
    wbuf_put_uvarint(b, (uint64_t)maxt - (uint64_t)mint);
    wbuf_put_uvarint(b, n - 1);
    *prev_t = maxt;
}

static int add_raw_chunks(struct block_writer *w, const int64_t *ts, const double *vs, size_t n,
                          char *err, size_t errlen)
{
    struct wbuf *cb = &w->chunks;
    uint32_t nchunks = 0;
    int64_t prev_t = w->mint;
    uint32_t prev_vpage = 0;
    size_t i = 0;
    int rc;
    while (i < n) {
        int64_t win = tt_floor_div(ts[i], w->o.chunk_range_ms);
        size_t j = i + 1;
        while (j < n && j - i < w->o.chunk_max_samples &&
               tt_floor_div(ts[j], w->o.chunk_range_ms) == win)
            j++;
        size_t k = j - i;
        uint32_t tcol = 0, vpage = 0, voff = 0, vlen;
        wbuf_reset(&w->col);
        if ((rc = sealed_ts_encode(&w->sc, &w->col, ts + i, k)) != 0)
            return rc;
        if ((rc = put_ts_column(w, &tcol, err, errlen)) != 0)
            return rc;
        wbuf_reset(&w->col);
        if ((rc = sealed_values_encode(&w->sc, &w->col, vs + i, k)) != 0)
            return rc;
        vlen = (uint32_t)w->col.len;
        if ((rc = pw_add(&w->ck, w->col.data, w->col.len, &vpage, &voff, err, errlen)) != 0)
            return rc;
        put_ref(cb, ts[i], ts[j - 1], k, &prev_t);
        wbuf_put_uvarint(cb, tcol);
        wbuf_put_uvarint(cb, vpage - prev_vpage);
        wbuf_put_uvarint(cb, voff);
        wbuf_put_uvarint(cb, vlen);
        prev_vpage = vpage;
        nchunks++;
        w->nchunks++;
        i = j;
    }
    wbuf_put_uvarint(&w->rec, nchunks);
    wbuf_put(&w->rec, cb->data, cb->len);
    return cb->err ? cb->err : w->rec.err;
}

/* add_rollups writes the series' rollup record (both resolutions, one
 * record, so the index holds one reference per series) and appends that
 * reference to the series record. */
static int add_rollups(struct block_writer *w, const int64_t *ts, const double *vs, size_t n,
                       char *err, size_t errlen)
{
    static const int64_t res[BLOCK_NRES] = { BLOCK_ROLLUP_5M_MS, BLOCK_ROLLUP_1H_MS };
    int rc = grow_rollup(w, n);
    if (rc)
        return rc;
    struct wbuf *rec = &w->col;
    wbuf_reset(rec);
    for (int r = 0; r < BLOCK_NRES; r++) {
        size_t rows = rollup_compute(w, ts, vs, n, res[r]);
        size_t max = w->o.chunk_max_samples;
        wbuf_put_uvarint(rec, (rows + max - 1) / max);
        int64_t prev_t = w->mint;
        for (size_t i = 0; i < rows; i += max) {
            size_t k = rows - i < max ? rows - i : max;
            wbuf_reset(&w->seg);
            size_t lens[BLOCK_ROLLUP_COLS];
            for (int c = 0; c < BLOCK_ROLLUP_COLS; c++) {
                size_t before = w->seg.len;
                rc = c == 0 ? sealed_ts_encode(&w->sc, &w->seg, w->rt + i, k)
                            : sealed_values_encode(&w->sc, &w->seg, w->rv[c - 1] + i, k);
                if (rc)
                    return rc;
                lens[c] = w->seg.len - before;
            }
            put_ref(rec, w->rt[i], w->rt[i + k - 1], k, &prev_t);
            for (int c = 0; c < BLOCK_ROLLUP_COLS; c++)
                wbuf_put_uvarint(rec, lens[c]);
            wbuf_put(rec, w->seg.data, w->seg.len);
        }
    }
    if (rec->err)
        return rec->err;
    uint32_t page, off;
    if ((rc = pw_add(&w->ru, rec->data, rec->len, &page, &off, err, errlen)) != 0)
        return rc;
    wbuf_put_uvarint(&w->rec, page);
    wbuf_put_uvarint(&w->rec, off);
    wbuf_put_uvarint(&w->rec, rec->len);
    return w->rec.err;
}

int block_writer_add_series(struct block_writer *w, const struct labels *ls, const int64_t *ts,
                            const double *vs, size_t n, char *err, size_t errlen)
{
    if (w->broken)
        return block_set_err(err, errlen, TT_EIO, "block: writer unusable after an earlier error");
    int rc = check_series(w, ls, ts, n, err, errlen);
    if (rc)
        return rc;
    if (vs == NULL)
        return block_set_err(err, errlen, TT_EINVAL, "block: no values");
    /* Intern the labels first: a failure here changes nothing on disk. */
    if (w->lsyms_cap < ls->n * 2) {
        uint32_t *p = realloc(w->lsyms, ls->n * 2 * sizeof *p);
        if (p == NULL)
            return block_set_err(err, errlen, TT_ENOMEM, "block: out of memory");
        w->lsyms = p;
        w->lsyms_cap = ls->n * 2;
    }
    for (size_t i = 0; i < ls->n; i++) {
        rc = symtab_intern(&w->syms, ls->v[i].name, strlen(ls->v[i].name), &w->lsyms[2 * i]);
        if (rc == 0)
            rc = symtab_intern(&w->syms, ls->v[i].value, strlen(ls->v[i].value),
                               &w->lsyms[2 * i + 1]);
        if (rc)
            return block_set_err(err, errlen, rc, "block: cannot intern label %zu: %s", i,
                                 tt_strerror(rc));
    }
    wbuf_reset(&w->rec);
    wbuf_reset(&w->chunks);
    wbuf_put_uvarint(&w->rec, ls->n);
    for (size_t i = 0; i < ls->n * 2; i++)
        wbuf_put_uvarint(&w->rec, w->lsyms[i]);
    rc = add_raw_chunks(w, ts, vs, n, err, errlen);
    if (rc == 0 && w->o.rollups)
        rc = add_rollups(w, ts, vs, n, err, errlen);
    if (rc == 0) {
        wbuf_put_uvarint(&w->recs, w->rec.len);
        wbuf_put(&w->recs, w->rec.data, w->rec.len);
        rc = w->recs.err;
    }
    if (rc == 0) {
        labels_reset(&w->prev);
        for (size_t i = 0; i < ls->n && rc == 0; i++)
            rc = labels_push(&w->prev, symtab_str(&w->syms, w->lsyms[2 * i]),
                             symtab_str(&w->syms, w->lsyms[2 * i + 1]));
    }
    if (rc) {
        /* Columns may be half written: the writer cannot go on. */
        w->broken = 1;
        if (rc == TT_ENOMEM || rc == TT_ETOOBIG)
            block_set_err(err, errlen, rc, "block: %s while writing series %u", tt_strerror(rc),
                          w->nseries);
        return rc;
    }
    w->nseries++;
    w->nsamples += n;
    return 0;
}

/* ---- finishing: symbols, series, postings, TOC -------------------------------------- */

struct symsort {
    const char *s;
    uint32_t len, id;
};

static int cmp_symsort(const void *a, const void *b)
{
    const struct symsort *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

struct triple {
    uint32_t name, value, series;
};

static int cmp_triple(const void *a, const void *b)
{
    const struct triple *x = a, *y = b;
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return (x->series > y->series) - (x->series < y->series);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void put_postings(struct wbuf *b, const uint32_t *ids, size_t n)
{
    wbuf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++)
        wbuf_put_uvarint(b, i == 0 ? ids[0] : ids[i] - ids[i - 1] - 1);
}

/* build_index fills the sections of the index from the writer's state. */
static int build_index(struct block_writer *w, struct wbuf *sec)
{
    int rc = 0;
    uint32_t nsyms = symtab_count(&w->syms);
    struct symsort *ss = malloc(((size_t)nsyms + 1) * sizeof *ss);
    uint32_t *map = malloc(((size_t)nsyms + 1) * sizeof *map);
    struct triple *tr = NULL;
    uint32_t *ids = NULL;
    size_t ntr = 0, captr = 0;
    if (ss == NULL || map == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < nsyms; i++) {
        ss[i].s = symtab_str(&w->syms, i);
        ss[i].len = (uint32_t)symtab_len(&w->syms, i);
        ss[i].id = i;
    }
    qsort(ss, nsyms, sizeof *ss, cmp_symsort);
    struct wbuf *b = &sec[SEC_SYMBOLS];
    wbuf_put_uvarint(b, nsyms);
    for (uint32_t i = 0; i < nsyms; i++) {
        map[ss[i].id] = i;
        wbuf_put_uvarint(b, ss[i].len);
        wbuf_put(b, ss[i].s, ss[i].len);
        wbuf_put_u8(b, 0);
    }
    wbuf_put_uvarint(&sec[SEC_PAGES], w->ck.npages);
    wbuf_put(&sec[SEC_PAGES], w->ck.table.data, w->ck.table.len);
    wbuf_put_uvarint(&sec[SEC_RPAGES], w->ru.npages);
    wbuf_put(&sec[SEC_RPAGES], w->ru.table.data, w->ru.table.len);
    wbuf_put_uvarint(&sec[SEC_TSCOLS], w->ntscols);
    wbuf_put(&sec[SEC_TSCOLS], w->tscols.data, w->tscols.len);
    /* Series: rewrite the labels with the final symbol ids. */
    b = &sec[SEC_SERIES];
    wbuf_put_uvarint(b, w->nseries);
    struct rbuf r;
    rbuf_init(&r, w->recs.data, w->recs.len);
    for (uint32_t s = 0; s < w->nseries; s++) {
        uint64_t len = rbuf_uvarint(&r);
        const uint8_t *rec = rbuf_bytes(&r, (size_t)len);
        if (rec == NULL) {
            rc = TT_EIO; /* cannot happen: we wrote it */
            goto out;
        }
        struct rbuf rr;
        rbuf_init(&rr, rec, (size_t)len);
        uint64_t nl = rbuf_uvarint(&rr);
        wbuf_put_uvarint(b, nl);
        if (ntr + nl > captr) {
            size_t nc = captr ? captr * 2 : 1024;
            while (nc < ntr + nl)
                nc *= 2;
            struct triple *nt = realloc(tr, nc * sizeof *nt);
            if (nt == NULL) {
                rc = TT_ENOMEM;
                goto out;
            }
            tr = nt;
            captr = nc;
        }
        for (uint64_t i = 0; i < nl; i++) {
            uint32_t nm = map[(uint32_t)rbuf_uvarint(&rr)];
            uint32_t vl = map[(uint32_t)rbuf_uvarint(&rr)];
            wbuf_put_uvarint(b, nm);
            wbuf_put_uvarint(b, vl);
            tr[ntr++] = (struct triple){ nm, vl, s };
        }
        wbuf_put(b, rr.p, rbuf_left(&rr));
    }
    /* Labels: per name its postings and its values with theirs. */
    qsort(tr, ntr, sizeof *tr, cmp_triple);
    ids = malloc(((size_t)w->nseries + 1) * sizeof *ids);
    if (ids == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    b = &sec[SEC_LABELS];
    size_t nnames = 0;
    for (size_t i = 0; i < ntr; i++)
        nnames += i == 0 || tr[i].name != tr[i - 1].name;
    wbuf_put_uvarint(b, nnames);
    uint32_t prev_name = 0;
    for (size_t i = 0; i < ntr;) {
        size_t j = i;
        size_t nvals = 0, nids = 0;
        while (j < ntr && tr[j].name == tr[i].name) {
            nvals += j == i || tr[j].value != tr[j - 1].value;
            ids[nids++] = tr[j].series;
            j++;
        }
        qsort(ids, nids, sizeof *ids, cmp_u32);
        wbuf_put_uvarint(b, i == 0 ? tr[i].name : tr[i].name - prev_name - 1);
        prev_name = tr[i].name;
        wbuf_put_uvarint(b, nvals);
        put_postings(b, ids, nids);
        uint32_t prev_val = 0;
        for (size_t k = i; k < j;) {
            size_t m = k;
            nids = 0;
            while (m < j && tr[m].value == tr[k].value)
                ids[nids++] = tr[m++].series;
            wbuf_put_uvarint(b, k == i ? tr[k].value : tr[k].value - prev_val - 1);
            prev_val = tr[k].value;
            put_postings(b, ids, nids);
            k = m;
        }
        i = j;
    }
    for (int s = 0; s < SEC_COUNT; s++) {
        if (sec[s].err) {
            rc = sec[s].err;
            goto out;
        }
    }
out:
    free(ss);
    free(map);
    free(tr);
    free(ids);
    return rc;
}

static int write_index(struct block_writer *w, uint64_t *size, char *err, size_t errlen)
{
    struct wbuf sec[SEC_COUNT];
    for (int s = 0; s < SEC_COUNT; s++)
        wbuf_init(&sec[s], 0);
    char *path = path_join(w->tmp, "index");
    int fd = -1;
    int rc = path ? build_index(w, sec) : TT_ENOMEM;
    if (rc) {
        block_set_err(err, errlen, rc, "%s: cannot build the index: %s", w->tmp, tt_strerror(rc));
        goto out;
    }
    if ((rc = create_file(path, &fd, err, errlen)) != 0)
        goto out;
    uint8_t hdr[BLOCK_INDEX_HDR];
    file_header(hdr, BLOCK_MAGIC_INDEX);
    hdr[5] = w->o.rollups ? BLOCK_FLAG_ROLLUPS : 0;
    put_le64(hdr + 8, (uint64_t)w->mint);
    put_le64(hdr + 16, (uint64_t)w->maxt);
    if ((rc = write_all(fd, hdr, sizeof hdr, path, err, errlen)) != 0)
        goto out;
    uint8_t toc[BLOCK_TOC_BYTES];
    uint64_t off = sizeof hdr;
    for (int s = 0; s < SEC_COUNT; s++) {
        put_le64(toc + 20 * s, off);
        put_le64(toc + 20 * s + 8, sec[s].len);
        put_le32(toc + 20 * s + 16, crc32c(0, sec[s].data, sec[s].len));
        if ((rc = write_all(fd, sec[s].data, sec[s].len, path, err, errlen)) != 0)
            goto out;
        off += sec[s].len;
    }
    put_le32(toc + SEC_COUNT * 20, crc32c(crc32c(0, hdr, sizeof hdr), toc, (size_t)SEC_COUNT * 20));
    if ((rc = write_all(fd, toc, sizeof toc, path, err, errlen)) != 0)
        goto out;
    *size = off + sizeof toc;
    rc = sync_close(&fd, path, err, errlen);
out:
    if (fd >= 0)
        close(fd);
    free(path);
    for (int s = 0; s < SEC_COUNT; s++)
        wbuf_release(&sec[s]);
    return rc;
}

static int write_meta(struct block_writer *w, const uint64_t sizes[3], uint64_t *size, char *err,
                      size_t errlen)
{
    struct wbuf b;
    wbuf_init(&b, 0);
    wbuf_put(&b, "{\n  \"version\": 1,\n  \"id\": ", 26);
    json_put_cstr(&b, w->id);
    wbuf_put(&b, ",\n  \"mint\": ", 12);
    json_put_i64(&b, w->mint);
    wbuf_put(&b, ",\n  \"maxt\": ", 12);
    json_put_i64(&b, w->maxt);
    wbuf_put(&b, ",\n  \"minTime\": ", 15);
    json_put_i64(&b, w->dmin);
    wbuf_put(&b, ",\n  \"maxTime\": ", 15);
    json_put_i64(&b, w->dmax);
    wbuf_put(&b, ",\n  \"series\": ", 14);
    json_put_u64(&b, w->nseries);
    wbuf_put(&b, ",\n  \"samples\": ", 15);
    json_put_u64(&b, w->nsamples);
    wbuf_put(&b, ",\n  \"chunks\": ", 14);
    json_put_u64(&b, w->nchunks);
    wbuf_put(&b, ",\n  \"level\": ", 13);
    json_put_u64(&b, w->o.level);
    wbuf_put(&b, ",\n  \"rollups\": ", 15);
    wbuf_put(&b, w->o.rollups ? "true" : "false", w->o.rollups ? 4 : 5);
    wbuf_put(&b, ",\n  \"sources\": [", 16);
    for (size_t i = 0; i < w->nsources; i++) {
        if (i)
            wbuf_put(&b, ", ", 2);
        json_put_cstr(&b, w->sources[i]);
    }
    wbuf_put(&b, "],\n  \"files\": {\"index\": ", 24);
    json_put_u64(&b, sizes[0]);
    wbuf_put(&b, ", \"chunks\": ", 12);
    json_put_u64(&b, sizes[1]);
    wbuf_put(&b, ", \"rollups\": ", 13);
    json_put_u64(&b, sizes[2]);
    wbuf_put(&b, "}\n}\n", 4);
    char *path = path_join(w->tmp, "meta.json");
    int fd = -1;
    int rc = b.err ? b.err : path ? 0 : TT_ENOMEM;
    if (rc == 0)
        rc = create_file(path, &fd, err, errlen);
    if (rc == 0)
        rc = write_all(fd, b.data, b.len, path, err, errlen);
    if (rc == 0)
        rc = sync_close(&fd, path, err, errlen);
    if (fd >= 0)
        close(fd);
    *size = b.len;
    free(path);
    wbuf_release(&b);
    return rc;
}

int block_writer_finish(struct block_writer *w, struct block_meta *meta, char *err, size_t errlen)
{
    if (meta != NULL)
        memset(meta, 0, sizeof *meta);
    int rc = 0;
    uint64_t sizes[3] = { 0, 0, 0 }, msize = 0;
    if (w->broken) {
        rc = block_set_err(err, errlen, TT_EIO, "block: writer unusable after an earlier error");
        goto fail;
    }
    if (w->nseries == 0) {
        rc = block_set_err(err, errlen, TT_ENOTFOUND, "block: no series, no block written");
        goto fail;
    }
    rc = pw_flush(&w->ck, err, errlen);
    if (rc == 0)
        rc = sync_close(&w->ck.fd, w->ck.path, err, errlen);
    if (rc == 0 && w->o.rollups) {
        rc = pw_flush(&w->ru, err, errlen);
        if (rc == 0)
            rc = sync_close(&w->ru.fd, w->ru.path, err, errlen);
    }
    sizes[1] = w->ck.off;
    sizes[2] = w->o.rollups ? w->ru.off : 0;
    if (rc == 0)
        rc = write_index(w, &sizes[0], err, errlen);
    if (rc == 0)
        rc = write_meta(w, sizes, &msize, err, errlen);
    if (rc == 0)
        rc = sync_dir(w->tmp, err, errlen);
    if (rc == 0 && rename(w->tmp, w->final) != 0) {
        char eb[96];
        int e = errno;
        rc = block_set_err(err, errlen, TT_ESYS, "%s: cannot rename to %s: %s", w->tmp, w->final,
                           block_errstr(e, eb, sizeof eb));
    }
    if (rc)
        goto fail;
    free(w->tmp);
    w->tmp = NULL;
    /* A failure to make the rename durable is reported, and the block taken
     * back, so the caller never counts on a block that may vanish. */
    if ((rc = sync_dir(w->dir, err, errlen)) != 0)
        (void)block_remove(w->final, NULL, 0);
    if (rc == 0 && meta != NULL) {
        memcpy(meta->id, w->id, sizeof meta->id);
        meta->mint = w->mint;
        meta->maxt = w->maxt;
        meta->min_time = w->dmin;
        meta->max_time = w->dmax;
        meta->series = w->nseries;
        meta->samples = w->nsamples;
        meta->chunks = w->nchunks;
        meta->level = w->o.level;
        meta->has_rollups = w->o.rollups != 0;
        meta->bytes = sizes[0] + sizes[1] + sizes[2] + msize;
        meta->sources = w->sources;
        meta->nsources = w->nsources;
        w->sources = NULL;
    }
    writer_free(w);
    return rc;
fail:
    if (rc == TT_ENOMEM)
        block_set_err(err, errlen, rc, "block: out of memory");
    block_writer_abort(w);
    return rc;
}
