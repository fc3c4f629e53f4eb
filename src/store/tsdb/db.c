/*
 * db.c - the head and the blocks as one store: opening, cutting blocks from
 * the head, compaction, retention, and merged reads (db.h).
 */
#include "store/tsdb/db.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "telltale.h"
#include "core/buf.h"
#include "core/tvpair.h"
#include "store/tsdb/chunk.h"
#include "store/tsdb/page_cache.h"
#include "core/errmsg.h"

#define DB_DEF_RETENTION_MS    (INT64_C(15) * 24 * 3600 * 1000)
#define DB_DEF_COMPACT_MS      (INT64_C(24) * 3600 * 1000)
#define DB_DEF_ROLLUP_AFTER_MS (INT64_C(40) * 3600 * 1000)
/* Compacted blocks: chunks as long as the window, up to this many samples. */
#define DB_COMPACT_CHUNK_SAMPLES 16384

/* A block in the store's list. refs: one for the list, one per reader. */
struct dbblock {
    struct block *b;
    const struct block_meta *m;
    atomic_int refs;
    atomic_int doomed; /* delete from disk when the last reference goes */
};

struct db {
    struct db_options o;
    char *dir;
    char *blocks_dir;
    struct head *head;
    db_log_fn log;
    void *log_arg;

    pthread_mutex_t mu; /* blocks, nblocks */
    struct dbblock **blocks;
    size_t nblocks, capblocks;

    pthread_mutex_t maint_mu; /* one maintenance at a time */
    /* Reads hold it shared for their whole walk; dropping a range from the
     * head takes it exclusively, so a read never misses samples that move
     * from the head into a block while it runs (it sees the block or the
     * head's copy, or both, which the merge deduplicates). */
    pthread_rwlock_t move_rw;

    pthread_mutex_t thr_mu;
    pthread_cond_t thr_cv;
    pthread_t thr;
    int thr_on, stop;

    atomic_uint_fast64_t cuts, compactions, expired, failures, bad_blocks;
    atomic_uint_fast64_t rollup_selects, rollup_fallback;

    /* Decompressed block pages shared by all reads (every listed block
     * uses it); freed after the blocks. */
    struct page_cache *pages;
};

/* What the shared page cache may hold by default. */
#define DB_PAGE_CACHE_BYTES ((size_t)64 << 20)

/* ---- small helpers ------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static void logf_db(struct db *d, const char *fmt, ...)
{
    if (d->log == NULL)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->log(d->log_arg, msg);
}

/* window_start: the start of the aligned window of length len holding t. */
static int64_t window_start(int64_t t, int64_t len)
{
    return tt_floor_div(t, len) * len;
}

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* remove_flat_dir deletes a directory holding only files (a block or its
 * leftovers). */
static int remove_flat_dir(const char *path)
{
    DIR *dh = opendir(path);
    if (dh == NULL)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *f = path_join(path, de->d_name);
        if (f != NULL) {
            unlink(f);
            free(f);
        }
    }
    closedir(dh);
    return rmdir(path);
}

/* ---- points: a (time, value) run buffer --------------------------------------- */

struct points {
    int64_t *ts;
    double *vs;
    size_t n, cap;
};

static int points_reserve(struct points *p, size_t extra)
{
    return tvpair_grow(&p->ts, &p->vs, &p->cap, p->n + extra, 256);
}

static void points_release(struct points *p)
{
    free(p->ts);
    free(p->vs);
    memset(p, 0, sizeof *p);
}

/* merge_run merges the strictly increasing run acc[from..n) into acc[0..from)
 * (also strictly increasing): the result is strictly increasing; at equal
 * timestamps the earlier sample (acc[0..from)) wins. tmp is scratch. */
static int merge_run(struct points *acc, size_t from, struct points *tmp)
{
    if (from == 0 || from == acc->n || acc->ts[from - 1] < acc->ts[from])
        return 0;
    size_t na = from, nb = acc->n - from;
    tmp->n = 0;
    if (points_reserve(tmp, na + nb) != 0)
        return TT_ENOMEM;
    size_t i = 0, j = from, k = 0;
    while (i < na && j < from + nb) {
        if (acc->ts[i] < acc->ts[j]) {
            tmp->ts[k] = acc->ts[i];
            tmp->vs[k++] = acc->vs[i++];
        } else if (acc->ts[i] > acc->ts[j]) {
            tmp->ts[k] = acc->ts[j];
            tmp->vs[k++] = acc->vs[j++];
        } else {
            tmp->ts[k] = acc->ts[i];
            tmp->vs[k++] = acc->vs[i++];
            j++;
        }
    }
    while (i < na) {
        tmp->ts[k] = acc->ts[i];
        tmp->vs[k++] = acc->vs[i++];
    }
    while (j < from + nb) {
        tmp->ts[k] = acc->ts[j];
        tmp->vs[k++] = acc->vs[j++];
    }
    memcpy(acc->ts, tmp->ts, k * sizeof *acc->ts);
    memcpy(acc->vs, tmp->vs, k * sizeof *acc->vs);
    acc->n = k;
    return 0;
}

/* ---- the block list ----------------------------------------------------------- */

static void dbblock_unref(struct dbblock *x)
{
    if (atomic_fetch_sub(&x->refs, 1) != 1)
        return;
    char *dir = NULL;
    if (atomic_load(&x->doomed)) {
        const char *bd = block_dir(x->b);
        size_t n = strlen(bd);
        dir = malloc(n + 1);
        if (dir != NULL)
            memcpy(dir, bd, n + 1);
    }
    block_close(x->b);
    if (dir != NULL) {
        char e[256];
        block_remove(dir, e, sizeof e);
        free(dir);
    }
    free(x);
}

static int cmp_dbblock(const void *a, const void *b)
{
    const struct dbblock *x = *(struct dbblock *const *)a, *y = *(struct dbblock *const *)b;
    if (x->m->mint != y->m->mint)
        return x->m->mint < y->m->mint ? -1 : 1;
    return strcmp(x->m->id, y->m->id);
}

/* list_add inserts b (opened) into the list: 0 or TT_ENOMEM (b is then closed
 * by the caller). Caller holds d->mu. */
static int list_add_locked(struct db *d, struct block *b)
{
    if (d->nblocks == d->capblocks) {
        size_t nc = d->capblocks ? d->capblocks * 2 : 16;
        struct dbblock **nb = realloc(d->blocks, nc * sizeof *nb);
        if (nb == NULL)
            return TT_ENOMEM;
        d->blocks = nb;
        d->capblocks = nc;
    }
    struct dbblock *x = calloc(1, sizeof *x);
    if (x == NULL)
        return TT_ENOMEM;
    x->b = b;
    x->m = block_get_meta(b);
    block_set_page_cache(b, d->pages);
    atomic_init(&x->refs, 1);
    atomic_init(&x->doomed, 0);
    d->blocks[d->nblocks++] = x;
    qsort(d->blocks, d->nblocks, sizeof *d->blocks, cmp_dbblock);
    return 0;
}

/* list_remove_locked takes x out of the list and dooms it (deleted from disk
 * once unreferenced). Caller holds d->mu and unrefs x afterwards. */
static void list_remove_locked(struct db *d, struct dbblock *x)
{
    for (size_t i = 0; i < d->nblocks; i++) {
        if (d->blocks[i] == x) {
            memmove(d->blocks + i, d->blocks + i + 1, (d->nblocks - i - 1) * sizeof *d->blocks);
            d->nblocks--;
            break;
        }
    }
    atomic_store(&x->doomed, 1);
}

/* A referenced snapshot of the blocks overlapping [mint, maxt]. */
struct snap {
    struct dbblock **v;
    size_t n;
};

static int snap_take(struct db *d, int64_t mint, int64_t maxt, struct snap *s)
{
    s->v = NULL;
    s->n = 0;
    pthread_mutex_lock(&d->mu);
    if (d->nblocks > 0 && (s->v = malloc(d->nblocks * sizeof *s->v)) == NULL) {
        pthread_mutex_unlock(&d->mu);
        return TT_ENOMEM;
    }
    for (size_t i = 0; i < d->nblocks; i++) {
        struct dbblock *x = d->blocks[i];
        if (x->m->maxt < mint || x->m->mint > maxt)
            continue;
        atomic_fetch_add(&x->refs, 1);
        s->v[s->n++] = x;
    }
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static void snap_release(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        dbblock_unref(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* ---- opening and closing ------------------------------------------------------- */

void db_options_default(struct db_options *o)
{
    memset(o, 0, sizeof *o);
    head_options_default(&o->head);
    o->block_range_ms = HEAD_DEF_CHUNK_RANGE_MS;
    o->compact_range_ms = DB_DEF_COMPACT_MS;
    o->retention_ms = DB_DEF_RETENTION_MS;
    o->retention_bytes = 0;
    o->zstd_level = 3;
    o->compact_zstd_level = 9;
    o->rollups = 1;
    o->rollup_after_ms = DB_DEF_ROLLUP_AFTER_MS;
    o->maintenance_ms = 60000;
    o->page_cache_bytes = DB_PAGE_CACHE_BYTES;
}

static int is_block_id(const char *s)
{
    if (strlen(s) != BLOCK_ID_LEN)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int meta_has_source(const struct block_meta *m, const char *id)
{
    for (size_t i = 0; i < m->nsources; i++)
        if (strcmp(m->sources[i], id) == 0)
            return 1;
    return 0;
}

/* covered: every source of a is a source of b, and b is of a higher level: a
 * was compacted into b and its deletion was interrupted. */
static int covered(const struct block_meta *a, const struct block_meta *b)
{
    if (b->level <= a->level || a->nsources == 0)
        return 0;
    for (size_t i = 0; i < a->nsources; i++)
        if (!meta_has_source(b, a->sources[i]))
            return 0;
    return 1;
}

static int open_blocks(struct db *d, struct db_open_stats *st, char *err, size_t errlen)
{
    DIR *dh = opendir(d->blocks_dir);
    if (dh == NULL) {
        tt_set_err(err, errlen, "%s: %s", d->blocks_dir, strerror(errno));
        return TT_ESYS;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = path_join(d->blocks_dir, de->d_name);
        if (p == NULL) {
            rc = TT_ENOMEM;
            break;
        }
        if (has_suffix(de->d_name, ".tmp") || has_suffix(de->d_name, ".deleted")) {
            if (remove_flat_dir(p) == 0)
                st->blocks_removed++;
            else
                logf_db(d, "cannot remove leftover %s: %s", p, strerror(errno));
        } else if (is_block_id(de->d_name)) {
            struct block *b = NULL;
            char e[512];
            int brc = block_open(&b, p, e, sizeof e);
            if (brc == 0) {
                pthread_mutex_lock(&d->mu);
                rc = list_add_locked(d, b);
                pthread_mutex_unlock(&d->mu);
                if (rc != 0)
                    block_close(b);
                else
                    st->blocks++;
            } else if (brc == TT_ENOMEM) {
                rc = brc;
            } else {
                st->blocks_bad++;
                atomic_fetch_add(&d->bad_blocks, 1);
                logf_db(d, "block %s skipped: %s", p, e);
            }
        }
        free(p);
    }
    closedir(dh);
    if (rc != 0)
        return rc;
    /* Blocks a finished compaction replaced but could not delete. */
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->nblocks;) {
        int gone = 0;
        for (size_t j = 0; j < d->nblocks && !gone; j++)
            gone = i != j && covered(d->blocks[i]->m, d->blocks[j]->m);
        if (gone) {
            struct dbblock *x = d->blocks[i];
            list_remove_locked(d, x);
            dbblock_unref(x);
            st->blocks_removed++;
            st->blocks--;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static void *maint_main(void *arg);

int db_open(struct db **out, const char *dir, const struct db_options *o, db_log_fn log,
            void *log_arg, struct db_open_stats *st, char *err, size_t errlen)
{
    struct db_open_stats st0;
    struct db_options def;
    if (st == NULL)
        st = &st0;
    memset(st, 0, sizeof *st);
    if (o == NULL) {
        db_options_default(&def);
        o = &def;
    }
    *out = NULL;
    if (o->block_range_ms <= 0 || o->block_range_ms > HEAD_MAX_CHUNK_RANGE_MS ||
        o->compact_range_ms < 0 ||
        (o->compact_range_ms > 0 && o->compact_range_ms % o->block_range_ms != 0) ||
        o->retention_ms < 0 || o->maintenance_ms < 0) {
        tt_set_err(err, errlen,
                   "bad store options: block range must be in (0, 2^31) ms and divide the "
                   "compaction range; retention and maintenance period must be >= 0");
        return TT_EINVAL;
    }
    struct db *d = calloc(1, sizeof *d);
    if (d == NULL)
        return TT_ENOMEM;
    d->o = *o;
    d->log = log;
    d->log_arg = log_arg;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->maint_mu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&d->move_rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&d->thr_mu, NULL);
    pthread_cond_init(&d->thr_cv, NULL);
    int rc = TT_ENOMEM;
    size_t dl = strlen(dir);
    if ((d->dir = malloc(dl + 1)) == NULL)
        goto fail;
    memcpy(d->dir, dir, dl + 1);
    if ((d->blocks_dir = path_join(dir, "blocks")) == NULL)
        goto fail;
    if (o->page_cache_bytes > 0 && (rc = page_cache_new(&d->pages, o->page_cache_bytes)) != 0)
        goto fail;
    if (mkdir_p(dir) != 0 || mkdir_p(d->blocks_dir) != 0) {
        tt_set_err(err, errlen, "%s: %s", d->blocks_dir, strerror(errno));
        rc = TT_ESYS;
        goto fail;
    }
    if ((rc = open_blocks(d, st, err, errlen)) != 0)
        goto fail;
    struct head_options ho = o->head;
    ho.chunk_range_ms = o->block_range_ms;
    for (size_t i = 0; i < d->nblocks; i++)
        if (d->blocks[i]->m->max_time != INT64_MAX &&
            d->blocks[i]->m->max_time + 1 > ho.min_valid_t)
            ho.min_valid_t = d->blocks[i]->m->max_time + 1;
    if ((rc = head_open(&d->head, dir, &ho, &st->head, err, errlen)) != 0)
        goto fail;
    if (o->maintenance_ms > 0) {
        if (pthread_create(&d->thr, NULL, maint_main, d) != 0) {
            tt_set_err(err, errlen, "cannot start the store's maintenance thread");
            rc = TT_ESYS;
            goto fail;
        }
        d->thr_on = 1;
    }
    *out = d;
    return 0;
fail:
    db_close(d);
    return rc;
}

int db_close(struct db *d)
{
    if (d == NULL)
        return 0;
    if (d->thr_on) {
        pthread_mutex_lock(&d->thr_mu);
        d->stop = 1;
        pthread_cond_signal(&d->thr_cv);
        pthread_mutex_unlock(&d->thr_mu);
        pthread_join(d->thr, NULL);
    }
    int rc = head_close(d->head);
    for (size_t i = 0; i < d->nblocks; i++)
        dbblock_unref(d->blocks[i]);
    free(d->blocks);
    page_cache_free(d->pages);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->maint_mu);
    pthread_rwlock_destroy(&d->move_rw);
    pthread_mutex_destroy(&d->thr_mu);
    pthread_cond_destroy(&d->thr_cv);
    free(d->dir);
    free(d->blocks_dir);
    free(d);
    return rc;
}

struct head *db_head(struct db *d)
{
    return d->head;
}

/* ---- maintenance ------------------------------------------------------------------ */

/* block_opts: how blocks cut from the head are written (fast, no rollups:
 * they are recent). */
static void block_opts(struct db *d, struct block_writer_options *bo)
{
    block_writer_options_default(bo);
    bo->zstd_level = d->o.zstd_level;
    bo->rollups = 0;
    bo->chunk_range_ms = d->o.block_range_ms;
}

/* newest_time: the newest sample of the store (INT64_MIN: none). */
static int64_t newest_time(struct db *d)
{
    struct head_stats hs;
    head_stats(d->head, &hs);
    int64_t newest = hs.max_t;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->nblocks; i++)
        if (d->blocks[i]->m->max_time > newest)
            newest = d->blocks[i]->m->max_time;
    pthread_mutex_unlock(&d->mu);
    return newest;
}

/* wants_rollups: data ending at max_time is old enough for rollups. */
static int wants_rollups(struct db *d, int64_t max_time, int64_t newest)
{
    return d->o.rollups && newest != INT64_MIN && max_time < newest - d->o.rollup_after_ms;
}

/* publish_block opens the block just written at id and adds it to the list. */
static int publish_block(struct db *d, const char *id, char *err, size_t errlen)
{
    char *p = path_join(d->blocks_dir, id);
    if (p == NULL)
        return TT_ENOMEM;
    struct block *b = NULL;
    int rc = block_open(&b, p, err, errlen);
    free(p);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&d->mu);
    rc = list_add_locked(d, b);
    pthread_mutex_unlock(&d->mu);
    if (rc != 0)
        block_close(b);
    return rc;
}

/* cut_range writes the head's samples in [ws, we) as a level-1 block. */
static int cut_range(struct db *d, int64_t ws, int64_t we, struct db_maint_stats *st, char *err,
                     size_t errlen)
{
    struct block_writer_options bo;
    block_opts(d, &bo);
    struct block_writer *w = NULL;
    struct head_querier *q = NULL;
    struct head_series_set *ss = NULL;
    struct points pts = { 0 };
    int rc = block_writer_new(&w, d->blocks_dir, ws, we - 1, &bo, err, errlen);
    if (rc != 0)
        return rc;
    uint64_t samples = 0;
    if ((rc = head_querier_new(d->head, ws, we - 1, &q)) != 0 ||
        (rc = head_querier_select(q, NULL, 0, &ss)) != 0)
        goto out;
    size_t count = head_series_set_count(ss);
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct head_iter it;
        if ((rc = head_iter_init(&it, ss, i)) != 0)
            break;
        pts.n = 0;
        long r;
        const int64_t *rts;
        const double *rvs;
        while ((r = head_iter_next_run(&it, &rts, &rvs)) > 0) {
            if ((rc = points_reserve(&pts, (size_t)r)) != 0)
                break;
            memcpy(pts.ts + pts.n, rts, (size_t)r * sizeof *rts);
            memcpy(pts.vs + pts.n, rvs, (size_t)r * sizeof *rvs);
            pts.n += (size_t)r;
        }
        head_iter_release(&it);
        if (rc == 0 && r < 0) {
            tt_set_err(err, errlen, "reading the head for a block: %s", tt_strerror((int)r));
            rc = (int)r;
        }
        if (rc == 0 && pts.n > 0) {
            rc = block_writer_add_series(w, head_series_set_labels(ss, i), pts.ts, pts.vs, pts.n,
                                         err, errlen);
            samples += pts.n;
        }
    }
out:
    head_series_set_free(ss);
    head_querier_free(q);
    points_release(&pts);
    if (rc != 0) {
        block_writer_abort(w);
        return rc;
    }
    struct block_meta m;
    rc = block_writer_finish(w, &m, err, errlen);
    if (rc == TT_ENOTFOUND)
        return 0; /* nothing in the range */
    if (rc != 0)
        return rc;
    rc = publish_block(d, m.id, err, errlen);
    block_meta_release(&m);
    if (rc != 0)
        return rc;
    atomic_fetch_add(&d->cuts, 1);
    if (st != NULL) {
        st->blocks_written++;
        st->samples_written += samples;
    }
    return 0;
}

/* cut writes head ranges into blocks: with force every range up to the
 * newest sample, else the oldest ranges while the head spans more than 1.5
 * block ranges. */
static int cut(struct db *d, int force, struct db_maint_stats *st, char *err, size_t errlen)
{
    const int64_t range = d->o.block_range_ms;
    for (;;) {
        struct head_stats hs;
        head_stats(d->head, &hs);
        if (hs.min_t == INT64_MAX || hs.max_t == INT64_MIN)
            return 0;
        int64_t ws = window_start(hs.min_t, range), upto;
        if (force) {
            if (hs.max_t == INT64_MAX)
                return 0;
            upto = hs.max_t + 1;
        } else {
            if (hs.max_t - hs.min_t <= range / 2 * 3)
                return 0;
            upto = ws + range;
        }
        head_set_min_valid(d->head, upto);
        for (int64_t w = ws; w < upto; w += range) {
            int rc = cut_range(d, w, w + range, st, err, errlen);
            if (rc != 0)
                return rc;
        }
        struct head_truncate_stats ts;
        char e[256];
        pthread_rwlock_wrlock(&d->move_rw);
        int rc = head_truncate(d->head, upto, &ts, e, sizeof e);
        pthread_rwlock_unlock(&d->move_rw);
        if (rc != 0 && rc != TT_ESTATE)
            logf_db(d, "head truncation after a block cut: %s", e);
        if (force)
            return 0;
    }
}

/* merge_write writes the union of the blocks g[0..n) into one block of the
 * given range and level. */
static int merge_write(struct db *d, struct dbblock **g, size_t n, int64_t mint, int64_t maxt,
                       char id[BLOCK_ID_LEN + 1], char *err, size_t errlen)
{
    struct block_writer_options bo;
    block_opts(d, &bo);
    uint32_t level = 0;
    size_t nsrc = 0;
    for (size_t i = 0; i < n; i++) {
        if (g[i]->m->level > level)
            level = g[i]->m->level;
        nsrc += g[i]->m->nsources;
    }
    char(*src)[BLOCK_ID_LEN + 1] = nsrc ? calloc(nsrc, sizeof *src) : NULL;
    struct block_series_set **sets = calloc(n, sizeof *sets);
    size_t *cur = calloc(n, sizeof *cur);
    int *hold = calloc(n, sizeof *hold);
    struct points acc = { 0 }, tmp = { 0 };
    struct block_writer *w = NULL;
    int rc = TT_ENOMEM;
    if ((nsrc && src == NULL) || sets == NULL || cur == NULL || hold == NULL)
        goto out;
    nsrc = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < g[i]->m->nsources; k++)
            memcpy(src[nsrc++], g[i]->m->sources[k], BLOCK_ID_LEN + 1);
    bo.level = level + 1;
    bo.sources = (const char(*)[BLOCK_ID_LEN + 1]) src;
    bo.nsources = nsrc;
    bo.zstd_level = d->o.compact_zstd_level;
    if (d->o.compact_range_ms > 0)
        bo.chunk_range_ms = d->o.compact_range_ms;
    bo.chunk_max_samples = DB_COMPACT_CHUNK_SAMPLES;
    int64_t max_time = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (g[i]->m->max_time > max_time)
            max_time = g[i]->m->max_time;
    bo.rollups = wants_rollups(d, max_time, newest_time(d));
    for (size_t i = 0; i < n; i++) {
        if ((rc = block_select(g[i]->b, NULL, 0, mint, maxt, &sets[i])) != 0) {
            tt_set_err(err, errlen, "compaction: reading block %s: %s", g[i]->m->id,
                       tt_strerror(rc));
            goto out;
        }
    }
    if ((rc = block_writer_new(&w, d->blocks_dir, mint, maxt, &bo, err, errlen)) != 0)
        goto out;
    for (;;) {
        const struct labels *min = NULL;
        for (size_t i = 0; i < n; i++) {
            if (cur[i] >= block_series_set_count(sets[i]))
                continue;
            const struct labels *ls = block_series_set_labels(sets[i], cur[i]);
            if (min == NULL || labels_cmp(ls, min) < 0)
                min = ls;
        }
        if (min == NULL)
            break;
        const struct labels *at = min;
        for (size_t i = 0; i < n; i++)
            hold[i] = cur[i] < block_series_set_count(sets[i]) &&
                      labels_cmp(block_series_set_labels(sets[i], cur[i]), at) == 0;
        acc.n = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!hold[i])
                continue;
            struct block_iter it;
            size_t from = acc.n;
            if ((rc = block_iter_init(&it, sets[i], cur[i], mint, maxt, BLOCK_RAW, 0)) != 0)
                break;
            int r;
            while ((r = block_iter_next(&it)) == 1) {
                if ((rc = points_reserve(&acc, 1)) != 0)
                    break;
                acc.ts[acc.n] = it.t;
                acc.vs[acc.n++] = it.v;
            }
            if (rc == 0 && r < 0) {
                tt_set_err(err, errlen, "compaction: block %s: %s", g[i]->m->id,
                           block_iter_error(&it));
                rc = r;
            }
            block_iter_release(&it);
            if (rc == 0)
                rc = merge_run(&acc, from, &tmp);
        }
        if (rc == 0 && acc.n > 0)
            rc = block_writer_add_series(w, at, acc.ts, acc.vs, acc.n, err, errlen);
        if (rc != 0)
            goto out;
        for (size_t i = 0; i < n; i++)
            cur[i] += (size_t)hold[i];
    }
    {
        struct block_meta m;
        rc = block_writer_finish(w, &m, err, errlen);
        w = NULL;
        if (rc == 0) {
            memcpy(id, m.id, BLOCK_ID_LEN + 1);
            block_meta_release(&m);
        }
    }
out:
    if (w != NULL)
        block_writer_abort(w);
    for (size_t i = 0; sets != NULL && i < n; i++)
        block_series_set_free(sets[i]);
    free(sets);
    free(cur);
    free(hold);
    free(src);
    points_release(&acc);
    points_release(&tmp);
    return rc;
}

/* compact merges the blocks of each compaction window holding more than one
 * block: windows the head has moved past, or every one with force. */
static int compact(struct db *d, int force, struct db_maint_stats *st, char *err, size_t errlen)
{
    const int64_t C = d->o.compact_range_ms;
    if (C <= 0)
        return 0;
    int64_t valid = head_min_valid(d->head);
    int64_t newest = newest_time(d);
    for (;;) {
        struct snap s;
        int rc = snap_take(d, INT64_MIN, INT64_MAX, &s);
        if (rc != 0)
            return rc;
        /* The first window (in time order) to compact: closed (the head can
         * add nothing to it; every window with force) with several blocks
         * or one cut from the head (rewritten with long chunks and stronger
         * compression), or a block old enough for rollups without them. */
        size_t lo = 0, hi = 0;
        int found = 0;
        for (size_t i = 0; i < s.n && !found;) {
            int64_t w = window_start(s.v[i]->m->mint, C);
            size_t j = i;
            while (j < s.n && window_start(s.v[j]->m->mint, C) == w)
                j++;
            int closed = force || (valid != INT64_MIN && w + C <= valid);
            const struct block_meta *m0 = s.v[i]->m;
            int single =
                j - i == 1 && ((closed && m0->level == 1) ||
                               (!m0->has_rollups && wants_rollups(d, m0->max_time, newest)));
            if ((j - i >= 2 && closed) || single) {
                lo = i;
                hi = j;
                found = 1;
            }
            i = j;
        }
        if (!found) {
            snap_release(&s);
            return 0;
        }
        int64_t w = window_start(s.v[lo]->m->mint, C);
        int64_t mint = INT64_MAX, maxt = INT64_MIN;
        for (size_t i = lo; i < hi; i++) {
            if (s.v[i]->m->mint < mint)
                mint = s.v[i]->m->mint;
            if (s.v[i]->m->maxt > maxt)
                maxt = s.v[i]->m->maxt;
        }
        if (mint < w)
            mint = w;
        if (maxt > w + C - 1)
            maxt = w + C - 1;
        char id[BLOCK_ID_LEN + 1];
        rc = merge_write(d, s.v + lo, hi - lo, mint, maxt, id, err, errlen);
        if (rc == 0)
            rc = publish_block(d, id, err, errlen);
        if (rc == 0) {
            pthread_mutex_lock(&d->mu);
            for (size_t i = lo; i < hi; i++) {
                list_remove_locked(d, s.v[i]);
                dbblock_unref(s.v[i]); /* the list's reference */
            }
            pthread_mutex_unlock(&d->mu);
            atomic_fetch_add(&d->compactions, 1);
            if (st != NULL) {
                st->blocks_compacted += hi - lo;
                pthread_mutex_lock(&d->mu);
                for (size_t i = 0; i < d->nblocks; i++)
                    if (strcmp(d->blocks[i]->m->id, id) == 0 && d->blocks[i]->m->has_rollups &&
                        !s.v[lo]->m->has_rollups)
                        st->blocks_rolled_up++;
                pthread_mutex_unlock(&d->mu);
            }
        }
        snap_release(&s);
        if (rc != 0)
            return rc;
    }
}

/* retention deletes blocks older than the retention period and the oldest
 * while the store is over its size limit. */
static void retention(struct db *d, struct db_maint_stats *st)
{
    struct head_stats hs;
    head_stats(d->head, &hs);
    pthread_mutex_lock(&d->mu);
    int64_t newest = hs.max_t;
    uint64_t total = hs.wal.disk_bytes;
    for (size_t i = 0; i < d->nblocks; i++) {
        if (d->blocks[i]->m->max_time > newest)
            newest = d->blocks[i]->m->max_time;
        total += d->blocks[i]->m->bytes;
    }
    for (size_t i = 0; i < d->nblocks;) {
        struct dbblock *x = d->blocks[i];
        int expire =
            d->o.retention_ms > 0 && newest != INT64_MIN && x->m->maxt < newest - d->o.retention_ms;
        /* Blocks are sorted by mint: the oldest go first when over size. */
        int over = d->o.retention_bytes > 0 && total > d->o.retention_bytes;
        if (!expire && !over) {
            i++;
            continue;
        }
        total -= x->m->bytes;
        logf_db(d, "block %s (%lld..%lld ms) deleted by retention (%s)", x->m->id,
                (long long)x->m->mint, (long long)x->m->maxt, expire ? "age" : "size");
        list_remove_locked(d, x);
        dbblock_unref(x);
        atomic_fetch_add(&d->expired, 1);
        if (st != NULL)
            st->blocks_expired++;
    }
    pthread_mutex_unlock(&d->mu);
}

static int maintain(struct db *d, int force, struct db_maint_stats *st, char *err, size_t errlen)
{
    struct db_maint_stats st0;
    if (st == NULL)
        st = &st0;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&d->maint_mu);
    int rc = cut(d, force, st, err, errlen);
    if (rc == 0)
        rc = compact(d, force, st, err, errlen);
    retention(d, st);
    pthread_mutex_unlock(&d->maint_mu);
    if (rc != 0)
        atomic_fetch_add(&d->failures, 1);
    return rc;
}

int db_maintain(struct db *d, struct db_maint_stats *st, char *err, size_t errlen)
{
    return maintain(d, 0, st, err, errlen);
}

int db_flush(struct db *d, struct db_maint_stats *st, char *err, size_t errlen)
{
    return maintain(d, 1, st, err, errlen);
}

static void *maint_main(void *arg)
{
    struct db *d = arg;
    pthread_mutex_lock(&d->thr_mu);
    while (!d->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (d->o.maintenance_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(d->o.maintenance_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&d->thr_cv, &d->thr_mu, &ts);
        if (d->stop)
            break;
        pthread_mutex_unlock(&d->thr_mu);
        char e[512];
        if (db_maintain(d, NULL, e, sizeof e) != 0)
            logf_db(d, "store maintenance failed: %s", e);
        pthread_mutex_lock(&d->thr_mu);
    }
    pthread_mutex_unlock(&d->thr_mu);
    return NULL;
}

/* ---- reading ----------------------------------------------------------------------- */

/* A walk over the series a selection matches in every source (the blocks
 * overlapping the range in time order, then the head), in label order. */
struct walk {
    struct db *d; /* holds d->move_rw shared while open */
    struct snap s;
    size_t n; /* sources: s.n blocks + the head */
    struct block_series_set **sets;
    size_t *cur, *cnt;
    int *hold; /* sources holding the current series */
    struct head_querier *q;
    struct head_series_set *hss;
};

static void walk_close(struct walk *w)
{
    if (w->d != NULL)
        pthread_rwlock_unlock(&w->d->move_rw);
    for (size_t i = 0; w->sets != NULL && i < w->s.n; i++)
        block_series_set_free(w->sets[i]);
    head_series_set_free(w->hss);
    head_querier_free(w->q);
    free(w->sets);
    free(w->cur);
    free(w->cnt);
    free(w->hold);
    snap_release(&w->s);
    memset(w, 0, sizeof *w);
}

static int walk_open(struct walk *w, struct db *d, struct matcher *const *ms, size_t nms,
                     int64_t mint, int64_t maxt, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    pthread_rwlock_rdlock(&d->move_rw);
    w->d = d;
    int rc = snap_take(d, mint, maxt, &w->s);
    if (rc != 0) {
        walk_close(w);
        return rc;
    }
    w->n = w->s.n + 1;
    w->sets = calloc(w->n, sizeof *w->sets);
    w->cur = calloc(w->n, sizeof *w->cur);
    w->cnt = calloc(w->n, sizeof *w->cnt);
    w->hold = calloc(w->n, sizeof *w->hold);
    if (w->sets == NULL || w->cur == NULL || w->cnt == NULL || w->hold == NULL) {
        walk_close(w);
        return TT_ENOMEM;
    }
    for (size_t i = 0; i < w->s.n; i++) {
        if ((rc = block_select(w->s.v[i]->b, ms, nms, mint, maxt, &w->sets[i])) != 0) {
            tt_set_err(err, errlen, "block %s: %s", w->s.v[i]->m->id, tt_strerror(rc));
            walk_close(w);
            return rc;
        }
        w->cnt[i] = block_series_set_count(w->sets[i]);
    }
    if ((rc = head_querier_new(d->head, mint, maxt, &w->q)) != 0 ||
        (rc = head_querier_select(w->q, ms, nms, &w->hss)) != 0) {
        walk_close(w);
        return rc;
    }
    w->cnt[w->s.n] = head_series_set_count(w->hss);
    return 0;
}

static const struct labels *walk_labels(const struct walk *w, size_t i)
{
    return i == w->s.n ? head_series_set_labels(w->hss, w->cur[i])
                       : block_series_set_labels(w->sets[i], w->cur[i]);
}

/* walk_next returns the labels of the next series (valid until walk_close)
 * and marks the sources holding it, or NULL at the end. */
static const struct labels *walk_next(struct walk *w)
{
    const struct labels *at = NULL;
    for (size_t i = 0; i < w->n; i++) {
        if (w->cur[i] >= w->cnt[i])
            continue;
        const struct labels *ls = walk_labels(w, i);
        if (at == NULL || labels_cmp(ls, at) < 0)
            at = ls;
    }
    for (size_t i = 0; at != NULL && i < w->n; i++)
        w->hold[i] = w->cur[i] < w->cnt[i] && labels_cmp(walk_labels(w, i), at) == 0;
    return at;
}

/* walk_advance moves past the current series. */
static void walk_advance(struct walk *w)
{
    for (size_t i = 0; i < w->n; i++)
        w->cur[i] += (size_t)w->hold[i];
}

/* walk_read_raw appends source i's samples of the current series in [mint,
 * maxt] to acc. */
static int walk_read_raw(struct walk *w, size_t i, int64_t mint, int64_t maxt, struct points *acc,
                         char *err, size_t errlen)
{
    int rc = 0;
    if (i == w->s.n) {
        struct head_iter it;
        if ((rc = head_iter_init(&it, w->hss, w->cur[i])) != 0)
            return rc;
        long k;
        const int64_t *rts;
        const double *rvs;
        while ((k = head_iter_next_run(&it, &rts, &rvs)) > 0) {
            if ((rc = points_reserve(acc, (size_t)k)) != 0)
                break;
            memcpy(acc->ts + acc->n, rts, (size_t)k * sizeof *rts);
            memcpy(acc->vs + acc->n, rvs, (size_t)k * sizeof *rvs);
            acc->n += (size_t)k;
        }
        head_iter_release(&it);
        if (rc == 0 && k < 0) {
            tt_set_err(err, errlen, "head: %s", tt_strerror((int)k));
            rc = (int)k;
        }
        return rc;
    }
    struct block_iter it;
    if ((rc = block_iter_init(&it, w->sets[i], w->cur[i], mint, maxt, BLOCK_RAW, 0)) != 0)
        return rc;
    long k;
    const int64_t *rts;
    const double *rvs;
    while ((k = block_iter_next_run(&it, &rts, &rvs)) > 0) {
        if ((rc = points_reserve(acc, (size_t)k)) != 0)
            break;
        memcpy(acc->ts + acc->n, rts, (size_t)k * sizeof *rts);
        memcpy(acc->vs + acc->n, rvs, (size_t)k * sizeof *rvs);
        acc->n += (size_t)k;
    }
    if (rc == 0 && k < 0) {
        tt_set_err(err, errlen, "block %s: %s", w->s.v[i]->m->id, block_iter_error(&it));
        rc = (int)k;
    }
    block_iter_release(&it);
    return rc;
}

/* walk_read_merged reads every source of the current series into acc (each
 * timestamp once). */
static int walk_read_merged(struct walk *w, int64_t mint, int64_t maxt, struct points *acc,
                            struct points *tmp, char *err, size_t errlen)
{
    acc->n = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (!w->hold[i])
            continue;
        size_t from = acc->n;
        int rc = walk_read_raw(w, i, mint, maxt, acc, err, errlen);
        if (rc == 0)
            rc = merge_run(acc, from, tmp);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int db_select(struct db *d, struct matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
              int labels_only, db_series_fn emit, void *arg, char *err, size_t errlen)
{
    if (mint > maxt)
        return 0;
    struct walk w;
    int rc = walk_open(&w, d, ms, nms, mint, maxt, err, errlen);
    if (rc != 0)
        return rc;
    struct points acc = { 0 }, tmp = { 0 };
    const struct labels *at;
    while (rc == 0 && (at = walk_next(&w)) != NULL) {
        if (labels_only) {
            rc = emit(arg, at, NULL, NULL, 0);
        } else {
            rc = walk_read_merged(&w, mint, maxt, &acc, &tmp, err, errlen);
            if (rc == 0 && acc.n > 0)
                rc = emit(arg, at, acc.ts, acc.vs, acc.n);
        }
        walk_advance(&w);
    }
    points_release(&acc);
    points_release(&tmp);
    walk_close(&w);
    return rc;
}

/* ---- rollups ------------------------------------------------------------------------ */

struct rollup_rows {
    struct db_rollup_point *p;
    size_t n, cap;
};

static void nan_min(double *a, double v)
{
    if (v < *a || (*a != *a && v == v))
        *a = v;
}

static void nan_max(double *a, double v)
{
    if (v > *a || (*a != *a && v == v))
        *a = v;
}

/* rows_add appends r, or combines it into the last row when it is the same
 * interval (r is later in time). */
static int rows_add(struct rollup_rows *rr, const struct db_rollup_point *r)
{
    if (rr->n > 0 && rr->p[rr->n - 1].t == r->t) {
        struct db_rollup_point *a = &rr->p[rr->n - 1];
        nan_min(&a->min, r->min);
        nan_max(&a->max, r->max);
        a->sum += r->sum;
        a->count += r->count;
        if (r->last_t >= a->last_t) {
            a->last = r->last;
            a->last_t = r->last_t;
        }
        return 0;
    }
    if (rr->n == rr->cap) {
        size_t nc = rr->cap ? rr->cap * 2 : 64;
        struct db_rollup_point *np = realloc(rr->p, nc * sizeof *np);
        if (np == NULL)
            return TT_ENOMEM;
        rr->p = np;
        rr->cap = nc;
    }
    rr->p[rr->n++] = *r;
    return 0;
}

/* rows_from_raw rolls up samples (time order) with t in (mint, maxt]. */
static int rows_from_raw(struct rollup_rows *rr, const int64_t *ts, const double *vs, size_t n,
                         int64_t mint, int64_t maxt, int64_t res)
{
    for (size_t i = 0; i < n; i++) {
        if (ts[i] <= mint || ts[i] > maxt || f64_bits(vs[i]) == CHUNK_STALE_NAN_BITS)
            continue;
        struct db_rollup_point r = {
            (tt_floor_div(ts[i] - 1, res) + 1) * res, ts[i], vs[i], vs[i], vs[i], 1, vs[i]
        };
        int rc = rows_add(rr, &r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* rows_from_block appends block source i's stored rollup rows in (mint, maxt]. */
static int rows_from_block(struct walk *w, size_t i, int64_t mint, int64_t maxt, int64_t res,
                           struct rollup_rows *rr, char *err, size_t errlen)
{
    static const enum block_series_kind kinds[5] = { BLOCK_ROLLUP_MIN, BLOCK_ROLLUP_MAX,
                                                     BLOCK_ROLLUP_SUM, BLOCK_ROLLUP_COUNT,
                                                     BLOCK_ROLLUP_LAST };
    struct block_iter it[5];
    int rc = 0, k;
    for (k = 0; k < 5 && rc == 0; k++)
        rc = block_iter_init(&it[k], w->sets[i], w->cur[i], mint + 1, maxt, kinds[k], res);
    if (rc != 0) {
        for (int j = 0; j < k - 1; j++)
            block_iter_release(&it[j]);
        return rc;
    }
    for (;;) {
        int r[5];
        for (k = 0; k < 5; k++)
            r[k] = block_iter_next(&it[k]);
        if (r[0] == 0)
            break;
        for (k = 0; k < 5 && rc == 0; k++)
            if (r[k] != 1 || it[k].t != it[0].t) {
                rc = r[k] < 0 ? r[k] : TT_ECORRUPT;
                tt_set_err(err, errlen, "block %s: rollup columns disagree: %s", w->s.v[i]->m->id,
                           block_iter_error(&it[k]));
            }
        if (rc != 0)
            break;
        struct db_rollup_point p = { (tt_floor_div(it[0].t - 1, res) + 1) * res,
                                     it[0].t,
                                     it[0].v,
                                     it[1].v,
                                     it[2].v,
                                     it[3].v,
                                     it[4].v };
        if ((rc = rows_add(rr, &p)) != 0)
            break;
    }
    for (k = 0; k < 5; k++)
        block_iter_release(&it[k]);
    return rc;
}

/* disjoint: the walk's sources hold samples in disjoint time ranges (in
 * source order) and every block has rollups. */
static int sources_disjoint(struct db *d, const struct walk *w)
{
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < w->s.n; i++) {
        const struct block_meta *m = w->s.v[i]->m;
        if (!m->has_rollups || m->min_time <= prev)
            return 0;
        prev = m->max_time;
    }
    struct head_stats hs;
    head_stats(d->head, &hs);
    return hs.min_t == INT64_MAX || hs.min_t > prev;
}

int db_select_rollup(struct db *d, struct matcher *const *ms, size_t nms, int64_t mint,
                     int64_t maxt, int64_t res_ms, db_rollup_fn emit, void *arg, char *err,
                     size_t errlen)
{
    if ((res_ms != BLOCK_ROLLUP_5M_MS && res_ms != BLOCK_ROLLUP_1H_MS) || mint % res_ms != 0 ||
        maxt % res_ms != 0) {
        tt_set_err(err, errlen, "rollup range (%lld, %lld] not aligned to %lld ms", (long long)mint,
                   (long long)maxt, (long long)res_ms);
        return TT_EINVAL;
    }
    if (mint >= maxt)
        return 0;
    struct walk w;
    int rc = walk_open(&w, d, ms, nms, mint + 1, maxt, err, errlen);
    if (rc != 0)
        return rc;
    int fast = sources_disjoint(d, &w);
    atomic_fetch_add(fast ? &d->rollup_selects : &d->rollup_fallback, 1);
    struct points acc = { 0 }, tmp = { 0 };
    struct rollup_rows rr = { 0 };
    const struct labels *at;
    while (rc == 0 && (at = walk_next(&w)) != NULL) {
        rr.n = 0;
        if (fast) {
            for (size_t i = 0; i < w.n && rc == 0; i++) {
                if (!w.hold[i])
                    continue;
                if (i < w.s.n) {
                    rc = rows_from_block(&w, i, mint, maxt, res_ms, &rr, err, errlen);
                } else {
                    acc.n = 0;
                    rc = walk_read_raw(&w, i, mint + 1, maxt, &acc, err, errlen);
                    if (rc == 0)
                        rc = rows_from_raw(&rr, acc.ts, acc.vs, acc.n, mint, maxt, res_ms);
                }
            }
        } else {
            rc = walk_read_merged(&w, mint + 1, maxt, &acc, &tmp, err, errlen);
            if (rc == 0)
                rc = rows_from_raw(&rr, acc.ts, acc.vs, acc.n, mint, maxt, res_ms);
        }
        if (rc == 0 && rr.n > 0)
            rc = emit(arg, at, rr.p, rr.n);
        walk_advance(&w);
    }
    free(rr.p);
    points_release(&acc);
    points_release(&tmp);
    walk_close(&w);
    return rc;
}

/* strs_merge: the sorted union of a and b into a fresh array (pointers
 * borrowed). */
static int strs_add(const char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        const char **nv = realloc(*v, nc * sizeof *nv);
        if (nv == NULL)
            return TT_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = s;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* labels_list gathers names (name == NULL) or values of name from the head
 * and the blocks, sorted and unique, copied into out. */
static int labels_list(struct db *d, const char *name, struct matcher *const *ms, size_t nms,
                       int64_t mint, int64_t maxt, struct db_strs *out)
{
    memset(out, 0, sizeof *out);
    struct snap s;
    pthread_rwlock_rdlock(&d->move_rw);
    int rc = snap_take(d, mint, maxt, &s);
    if (rc != 0) {
        pthread_rwlock_unlock(&d->move_rw);
        return rc;
    }
    const char **all = NULL;
    size_t n = 0, cap = 0;
    struct index_strs *parts = calloc(s.n + 1, sizeof *parts);
    struct head_querier *q = NULL;
    if (parts == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s.n && rc == 0; i++)
        rc = name ? block_label_values(s.v[i]->b, name, ms, nms, &parts[i])
                  : block_label_names(s.v[i]->b, ms, nms, &parts[i]);
    if (rc == 0 && (rc = head_querier_new(d->head, mint, maxt, &q)) == 0)
        rc = name ? head_querier_label_values(q, name, ms, nms, &parts[s.n])
                  : head_querier_label_names(q, ms, nms, &parts[s.n]);
    for (size_t i = 0; i <= s.n && rc == 0; i++)
        for (size_t k = 0; k < parts[i].n && rc == 0; k++)
            rc = strs_add(&all, &n, &cap, parts[i].v[k]);
    if (rc != 0)
        goto out;
    if (n > 0)
        qsort(all, n, sizeof *all, cmp_str);
    size_t u = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (u > 0 && strcmp(all[u - 1], all[i]) == 0)
            continue;
        all[u++] = all[i];
        bytes += strlen(all[i]) + 1;
    }
    out->v = malloc((u ? u : 1) * sizeof *out->v);
    out->owned = malloc(bytes ? bytes : 1);
    if (out->v == NULL || out->owned == NULL) {
        db_strs_release(out);
        rc = TT_ENOMEM;
        goto out;
    }
    char *p = out->owned;
    for (size_t i = 0; i < u; i++) {
        size_t l = strlen(all[i]) + 1;
        memcpy(p, all[i], l);
        out->v[i] = p;
        p += l;
    }
    out->n = u;
out:
    for (size_t i = 0; parts != NULL && i <= s.n; i++)
        index_strs_release(&parts[i]);
    free(parts);
    free(all);
    head_querier_free(q);
    snap_release(&s);
    pthread_rwlock_unlock(&d->move_rw);
    return rc;
}

int db_label_names(struct db *d, struct matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
                   struct db_strs *out)
{
    return labels_list(d, NULL, ms, nms, mint, maxt, out);
}

int db_label_values(struct db *d, const char *name, struct matcher *const *ms, size_t nms,
                    int64_t mint, int64_t maxt, struct db_strs *out)
{
    return labels_list(d, name, ms, nms, mint, maxt, out);
}

void db_strs_release(struct db_strs *s)
{
    free(s->v);
    free(s->owned);
    memset(s, 0, sizeof *s);
}

void db_stats(struct db *d, struct db_stats *st)
{
    memset(st, 0, sizeof *st);
    st->min_t = INT64_MAX;
    st->max_t = INT64_MIN;
    pthread_mutex_lock(&d->mu);
    st->blocks = d->nblocks;
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct block_meta *m = d->blocks[i]->m;
        st->block_bytes += m->bytes;
        st->block_series += m->series;
        st->block_samples += m->samples;
        if (m->min_time < st->min_t)
            st->min_t = m->min_time;
        if (m->max_time > st->max_t)
            st->max_t = m->max_time;
    }
    pthread_mutex_unlock(&d->mu);
    st->cuts = atomic_load(&d->cuts);
    st->compactions = atomic_load(&d->compactions);
    st->expired = atomic_load(&d->expired);
    st->failures = atomic_load(&d->failures);
    st->bad_blocks = atomic_load(&d->bad_blocks);
    st->rollup_selects = atomic_load(&d->rollup_selects);
    st->rollup_fallback = atomic_load(&d->rollup_fallback);
}
