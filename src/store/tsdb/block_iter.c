/*
 * block_iter.c - iterators over a block's raw samples and rollups (block.h)
 * and the page cache they share.
 *
 * An iterator walks its series' chunk references (the series record in the
 * mapped index), skips by each chunk's mint/maxt without reading pages, and
 * decodes one chunk at a time into its own arrays. Pages come through the
 * cache of the series set: a small LRU of decompressed pages shared by the
 * set's iterators (one thread), backed by the block's page cache shared by
 * every query (page_cache.h), so a page is checked and decompressed once
 * while it stays there. The set also remembers the last timestamp column it
 * decoded: series of one scrape target share theirs. Each iterator also pins
 * the last page it took for timestamps and for values, so a page that
 * several of its chunks point into is decompressed once per iterator even
 * when other iterators push it out of the LRU. A page is checked (header
 * against the page table, CRC32C, decompressed size) when it is loaded;
 * decoded timestamps must fall
 * exactly on the chunk's mint and maxt and increase, so damage the CRC cannot
 * see still cannot make an iterator return samples out of order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "core/crc32c.h"
#include "store/tsdb/block.h"
#include "store/tsdb/block_int.h"
#include "store/tsdb/page_cache.h"
#include "store/tsdb/sealed_codec.h"
#include "telltale.h"

#define BCACHE_SLOTS 8

struct bcache {
    uint32_t refs;
    const struct block *b;
    struct page *slot[BCACHE_SLOTS];
    uint64_t used[BCACHE_SLOTS];
    uint64_t tick;
    ZSTD_DCtx *dctx;
    struct sealed_ctx sc;
    /* The last timestamp column decoded (and checked) for the set: series
     * of one scrape target share theirs, so the next series usually needs
     * the same one. tcol_n == 0: none. */
    uint32_t tcol;
    size_t tcol_n, tcol_cap;
    int64_t *tcol_ts;
};

struct bcache *bcache_new(const struct block *b)
{
    struct bcache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->refs = 1;
    c->b = b;
    sealed_ctx_init(&c->sc, 0);
    return c;
}

void bcache_unref(struct bcache *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    for (int i = 0; i < BCACHE_SLOTS; i++)
        page_unref(c->slot[i]);
    if (c->dctx)
        ZSTD_freeDCtx(c->dctx);
    sealed_ctx_release(&c->sc);
    free(c->tcol_ts);
    free(c);
}

/* page_load reads, checks and decompresses page no of file f. */
static int page_load(struct bcache *c, int f, uint32_t no, struct page **out, char *msg,
                     size_t msglen)
{
    const struct block *b = c->b;
    const struct bpages *pg = &b->pages[f];
    const char *fname = block_file_name(1 + f);
    uint64_t off = pg->off[no];
    const uint8_t *h = b->file[f] + off;
    uint32_t stored = pg->bytes[no], raw = pg->raw[no];
    const uint8_t *payload = h + BLOCK_PAGE_HDR;
    const char *what = NULL;
    if (get_le32(h + 4) != stored || get_le32(h + 8) != raw)
        what = "header does not match the index";
    else if (get_le32(h) != crc32c(crc32c(0, h + 4, BLOCK_PAGE_HDR - 4), payload, stored))
        what = "checksum mismatch";
    else if (h[12] != BLOCK_PAGE_RAW && h[12] != BLOCK_PAGE_ZSTD)
        what = "unknown compression";
    else if (h[12] == BLOCK_PAGE_RAW && stored != raw)
        what = "stored size differs from raw size";
    if (what != NULL)
        return block_set_err(msg, msglen, TT_ECORRUPT, "%s/%s: page %u at offset %llu: %s", b->dir,
                             fname, no, (unsigned long long)off, what);
    struct page *p = page_new(f, no, raw);
    if (p == NULL)
        return block_set_err(msg, msglen, TT_ENOMEM, "%s/%s: out of memory", b->dir, fname);
    if (h[12] == BLOCK_PAGE_RAW) {
        memcpy(p->data, payload, raw);
    } else {
        if (c->dctx == NULL && (c->dctx = ZSTD_createDCtx()) == NULL) {
            page_unref(p);
            return block_set_err(msg, msglen, TT_ENOMEM, "%s/%s: out of memory", b->dir, fname);
        }
        size_t got = ZSTD_decompressDCtx(c->dctx, p->data, raw, payload, stored);
        if (ZSTD_isError(got) || got != raw) {
            page_unref(p);
            return block_set_err(msg, msglen, TT_ECORRUPT,
                                 "%s/%s: page %u at offset %llu: bad zstd data (%s)", b->dir, fname,
                                 no, (unsigned long long)off,
                                 ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
        }
    }
    *out = p;
    return 0;
}

/* shared_get: page no of file f from the block's shared cache, loading (and
 * offering) it on a miss; a reference for the caller. */
static int shared_get(struct bcache *c, int f, uint32_t no, struct page **out, char *msg,
                      size_t msglen)
{
    struct page_cache *pc = c->b->pc;
    if (pc != NULL && (*out = page_cache_get(pc, c->b->pc_serial, f, no)) != NULL)
        return 0;
    struct page *p = NULL;
    int rc = page_load(c, f, no, &p, msg, msglen);
    if (rc)
        return rc;
    if (pc != NULL) {
        struct page *kept = page_cache_put(pc, c->b->pc_serial, p);
        page_unref(p);
        p = kept;
    }
    *out = p;
    return 0;
}

/* bcache_get returns page no of file f with a reference for the caller. */
static int bcache_get(struct bcache *c, int f, uint32_t no, struct page **out, char *msg,
                      size_t msglen)
{
    int victim = 0;
    for (int i = 0; i < BCACHE_SLOTS; i++) {
        struct page *p = c->slot[i];
        if (p != NULL && p->file == f && p->no == no) {
            c->used[i] = ++c->tick;
            page_ref(p);
            *out = p;
            return 0;
        }
        if (p == NULL || (c->slot[victim] != NULL && c->used[i] < c->used[victim]))
            victim = i;
    }
    struct page *p = NULL;
    int rc = shared_get(c, f, no, &p, msg, msglen);
    if (rc)
        return rc;
    page_unref(c->slot[victim]);
    c->slot[victim] = p;
    c->used[victim] = ++c->tick;
    page_ref(p);
    *out = p;
    return 0;
}

/* ---- iterators --------------------------------------------------------------------------- */

struct iter {
    struct bcache *c;
    const struct block *b;
    uint32_t id;
    struct bcursor cur;
    int field; /* rollups: the value column, 1..5; 0 for raw samples */
    int64_t mint, maxt;
    int64_t *ts;
    double *vs;
    size_t cap, n, pos;
    int started, done, err;
    struct page *pin[2]; /* last timestamp (or rollup record) page, last value page */
    /* rollups: the series' record (in pin[0]) and the current segment */
    int res, ropen, rfirst;
    struct rbuf rec;
    uint32_t roff;
    uint64_t rleft;
    int64_t rprev;
    const uint8_t *rts, *rval;
    size_t rts_len, rval_len;
    char msg[320];
};

static int fail(struct iter *s, int code)
{
    s->err = code;
    return code;
}

static int get_page(struct iter *s, int which, int f, uint32_t no, struct page **out)
{
    struct page *p = s->pin[which];
    if (p != NULL && p->file == f && p->no == no) {
        *out = p;
        return 0;
    }
    int rc = bcache_get(s->c, f, no, &p, s->msg, sizeof s->msg);
    if (rc)
        return fail(s, rc);
    page_unref(s->pin[which]);
    s->pin[which] = p;
    *out = p;
    return 0;
}

static int damaged(struct iter *s, int f, const struct page *p, uint32_t off, const char *what,
                   int rc)
{
    if (rc == TT_ENOMEM) {
        snprintf(s->msg, sizeof s->msg, "%s: out of memory", s->b->dir);
        return fail(s, rc);
    }
    snprintf(s->msg, sizeof s->msg,
             "%s/%s: page %u at offset %llu, byte %u of the page: %s damaged (%s)", s->b->dir,
             block_file_name(1 + f), p->no, (unsigned long long)s->b->pages[f].off[p->no], off,
             what, tt_strerror(rc));
    return fail(s, TT_ECORRUPT);
}

static int check_times(struct iter *s, int f, const struct page *p, uint32_t off,
                       const struct bchunk *ch)
{
    int ok = s->ts[0] == ch->mint && s->ts[ch->n - 1] == ch->maxt;
    for (size_t i = 1; i < ch->n && ok; i++)
        ok = s->ts[i] > s->ts[i - 1];
    return ok ? 0 : damaged(s, f, p, off, "timestamp column", TT_ECORRUPT);
}

static int load_chunk(struct iter *s, const struct bchunk *ch)
{
    if (ch->n > s->cap) {
        int64_t *t = realloc(s->ts, ch->n * sizeof *t);
        if (t != NULL)
            s->ts = t;
        double *v = t ? realloc(s->vs, ch->n * sizeof *v) : NULL;
        if (t == NULL || v == NULL)
            return damaged(s, 0, NULL, 0, "", TT_ENOMEM);
        s->vs = v;
        s->cap = ch->n;
    }
    struct sealed_ctx *sc = &s->c->sc;
    struct page *p;
    int rc;
    if (s->field == 0) {
        struct bcache *c = s->c;
        if (c->tcol_n == ch->n && c->tcol == ch->tcol) {
            /* Decoded and checked for another series: only its edges can
             * differ from this reference's (when the index lies). */
            memcpy(s->ts, c->tcol_ts, ch->n * sizeof *s->ts);
            if (s->ts[0] != ch->mint || s->ts[ch->n - 1] != ch->maxt) {
                snprintf(s->msg, sizeof s->msg,
                         "%s/%s: timestamp column %u: chunk reference [%lld, %lld] does not match "
                         "its times",
                         s->b->dir, block_file_name(1 + BFILE_CHUNKS), ch->tcol,
                         (long long)ch->mint, (long long)ch->maxt);
                return fail(s, TT_ECORRUPT);
            }
        } else {
            if ((rc = get_page(s, 0, BFILE_CHUNKS, ch->tpage, &p)) != 0)
                return rc;
            rc = sealed_ts_decode(sc, p->data + ch->toff, ch->tlen, s->ts, ch->n);
            if (rc)
                return damaged(s, BFILE_CHUNKS, p, ch->toff, "timestamp column", rc);
            if ((rc = check_times(s, BFILE_CHUNKS, p, ch->toff, ch)) != 0)
                return rc;
            c->tcol_n = 0;
            if (ch->n > c->tcol_cap) {
                int64_t *t = realloc(c->tcol_ts, ch->n * sizeof *t);
                if (t != NULL) {
                    c->tcol_ts = t;
                    c->tcol_cap = ch->n;
                }
            }
            if (ch->n <= c->tcol_cap) { /* else: not remembered, no harm */
                memcpy(c->tcol_ts, s->ts, ch->n * sizeof *s->ts);
                c->tcol = ch->tcol;
                c->tcol_n = ch->n;
            }
        }
        if ((rc = get_page(s, 1, BFILE_CHUNKS, ch->page, &p)) != 0)
            return rc;
        rc = sealed_values_decode(sc, p->data + ch->off, ch->len, s->vs, ch->n);
        if (rc)
            return damaged(s, BFILE_CHUNKS, p, ch->off, "value column", rc);
    } else {
        p = s->pin[0];
        rc = sealed_ts_decode(sc, s->rts, s->rts_len, s->ts, ch->n);
        if (rc)
            return damaged(s, BFILE_ROLLUPS, p, s->roff, "rollup timestamp column", rc);
        if ((rc = check_times(s, BFILE_ROLLUPS, p, s->roff, ch)) != 0)
            return rc;
        rc = sealed_values_decode(sc, s->rval, s->rval_len, s->vs, ch->n);
        if (rc)
            return damaged(s, BFILE_ROLLUPS, p, s->roff, "rollup value column", rc);
    }
    s->n = ch->n;
    return 0;
}

/* rollup_seg reads the next segment header of the record and points at its
 * timestamp column and the wanted value column: 1, 0 at the end, or an
 * error. Checked like chunk references are when the index is opened. */
static int rollup_seg(struct iter *s, int want, struct bchunk *ch)
{
    struct rbuf *r = &s->rec;
    const struct block *b = s->b;
    uint64_t dmint = rbuf_uvarint(r), span = rbuf_uvarint(r), n = rbuf_uvarint(r) + 1;
    uint64_t lens[BLOCK_ROLLUP_COLS], total = 0;
    for (int c = 0; c < BLOCK_ROLLUP_COLS; c++) {
        lens[c] = rbuf_uvarint(r);
        total += lens[c] > rbuf_left(r) ? rbuf_left(r) + 1 : lens[c];
    }
    const uint8_t *cols = r->err || total > rbuf_left(r) ? NULL : rbuf_bytes(r, (size_t)total);
    if (cols == NULL || (!s->rfirst && dmint == 0) ||
        dmint > (uint64_t)b->maxt - (uint64_t)s->rprev || n > SEALED_MAX_SAMPLES || n - 1 > span ||
        span > (uint64_t)b->maxt - ((uint64_t)s->rprev + dmint))
        return damaged(s, BFILE_ROLLUPS, s->pin[0], s->roff, "rollup record", TT_ECORRUPT);
    s->rfirst = 0;
    ch->mint = (int64_t)((uint64_t)s->rprev + dmint);
    ch->maxt = (int64_t)((uint64_t)ch->mint + span);
    ch->n = (uint32_t)n;
    s->rprev = ch->maxt;
    if (want) {
        s->rts = cols;
        s->rts_len = (size_t)lens[0];
        s->rval = cols;
        for (int c = 0; c < s->field; c++)
            s->rval += lens[c];
        s->rval_len = (size_t)lens[s->field];
    }
    return 1;
}

/* rollup_open finds the segments of the iterator's resolution. */
static int rollup_open(struct iter *s)
{
    uint32_t page, off, len;
    struct page *p;
    block_series_rollups(s->b, s->id, &page, &off, &len);
    int rc = get_page(s, 0, BFILE_ROLLUPS, page, &p);
    if (rc)
        return rc;
    s->roff = off;
    rbuf_init(&s->rec, p->data + off, len);
    s->ropen = 1;
    for (int r = 0; r <= s->res; r++) {
        s->rleft = rbuf_uvarint(&s->rec);
        s->rprev = s->b->mint;
        s->rfirst = 1;
        if (s->rec.err || s->rleft > rbuf_left(&s->rec))
            return damaged(s, BFILE_ROLLUPS, p, off, "rollup record", TT_ECORRUPT);
        for (; r < s->res && s->rleft > 0; s->rleft--) {
            struct bchunk ch;
            if ((rc = rollup_seg(s, 0, &ch)) != 1)
                return rc;
        }
    }
    return 0;
}

/* next_ref: the next chunk (or rollup segment) reference: 1, 0 or an error. */
static int next_ref(struct iter *s, struct bchunk *ch)
{
    if (s->field == 0)
        return block_cursor_next(&s->cur, ch);
    int rc;
    if (!s->ropen && (rc = rollup_open(s)) != 0)
        return rc;
    if (s->rleft == 0)
        return 0;
    s->rleft--;
    return rollup_seg(s, 1, ch);
}

static size_t lower_bound(const int64_t *ts, size_t lo, size_t n, int64_t t)
{
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* advance loads the next chunk that reaches target (skipping the others
 * unread) and positions on its first sample >= target: 1, 0 or an error. */
static int advance(struct iter *s, int64_t target)
{
    struct bchunk ch;
    int rc;
    s->n = s->pos = 0;
    while ((rc = next_ref(s, &ch)) == 1) {
        if (ch.maxt < target)
            continue;
        if (ch.mint > s->maxt)
            break;
        if ((rc = load_chunk(s, &ch)) != 0)
            return rc;
        s->pos = lower_bound(s->ts, 0, s->n, target);
        return 1;
    }
    if (rc < 0)
        return rc;
    s->done = 1;
    return 0;
}

static int emit(struct iter *s, struct block_iter *it)
{
    if (s->ts[s->pos] > s->maxt) {
        s->done = 1;
        return 0;
    }
    it->t = s->ts[s->pos];
    it->v = s->vs[s->pos];
    return 1;
}

int block_iter_init(struct block_iter *it, const struct block_series_set *ss, size_t i,
                    int64_t mint, int64_t maxt, enum block_series_kind kind, int64_t resolution_ms)
{
    memset(it, 0, sizeof *it);
    if (i >= ss->n || kind < BLOCK_RAW || kind > BLOCK_ROLLUP_LAST)
        return TT_EINVAL;
    int res = 0;
    if (kind != BLOCK_RAW) {
        if ((res = block_res_index(resolution_ms)) < 0)
            return TT_EINVAL;
        if (!ss->b->has_rollups)
            return TT_ENOTFOUND;
    }
    struct iter *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TT_ENOMEM;
    s->c = ss->cache;
    s->c->refs++;
    s->b = ss->b;
    s->id = ss->ids[i];
    s->field = (int)kind; /* BLOCK_ROLLUP_MIN..LAST are columns 1..5 */
    s->mint = mint;
    s->maxt = maxt;
    s->done = mint > maxt;
    s->res = res;
    block_cursor_init(s->b, s->id, &s->cur);
    it->priv = s;
    return 0;
}

/* step moves s to its next sample, loading the next chunk when the current
 * one is done: 1 (s->pos is it), 0 at the end, or the sticky error. */
static int step(struct iter *s)
{
    if (s == NULL)
        return TT_EINVAL;
    if (s->err)
        return s->err;
    if (s->done)
        return 0;
    if (s->started)
        s->pos++;
    s->started = 1;
    if (s->pos >= s->n) {
        int rc = advance(s, s->mint);
        if (rc <= 0)
            return rc;
    }
    return 1;
}

int block_iter_next(struct block_iter *it)
{
    struct iter *s = it->priv;
    int rc = step(s);
    return rc <= 0 ? rc : emit(s, it);
}

long block_iter_next_run(struct block_iter *it, const int64_t **ts, const double **vs)
{
    struct iter *s = it->priv;
    int rc = step(s);
    if (rc <= 0)
        return rc;
    if (s->ts[s->pos] > s->maxt) {
        s->done = 1;
        return 0;
    }
    /* The run ends at the chunk's end or before its first sample past maxt
     * (the first sample, at pos, is inside: it is the upper bound's lower
     * limit). */
    size_t end = s->n;
    if (s->ts[end - 1] > s->maxt)
        end = lower_bound(s->ts, s->pos, s->n, s->maxt + 1);
    *ts = s->ts + s->pos;
    *vs = s->vs + s->pos;
    long k = (long)(end - s->pos);
    s->pos = end - 1;
    it->t = s->ts[s->pos];
    it->v = s->vs[s->pos];
    return k;
}

int block_iter_seek(struct block_iter *it, int64_t ts)
{
    struct iter *s = it->priv;
    if (s == NULL)
        return TT_EINVAL;
    if (s->err)
        return s->err;
    if (s->done)
        return 0;
    if (s->started && s->pos < s->n && s->ts[s->pos] >= ts)
        return emit(s, it);
    if (ts < s->mint)
        ts = s->mint;
    s->started = 1;
    if (s->n > 0 && s->ts[s->n - 1] >= ts) {
        s->pos = lower_bound(s->ts, s->pos, s->n, ts);
        return emit(s, it);
    }
    int rc = advance(s, ts);
    if (rc <= 0)
        return rc;
    return emit(s, it);
}

const char *block_iter_error(const struct block_iter *it)
{
    const struct iter *s = it->priv;
    return s != NULL && s->err ? s->msg : "";
}

void block_iter_release(struct block_iter *it)
{
    struct iter *s = it->priv;
    if (s == NULL)
        return;
    page_unref(s->pin[0]);
    page_unref(s->pin[1]);
    bcache_unref(s->c);
    free(s->ts);
    free(s->vs);
    free(s);
    it->priv = NULL;
}
