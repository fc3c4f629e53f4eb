/*
 * block_read.c - opening blocks (block.h): meta.json, the mmap'd index and
 * its check, series records and chunk reference cursors (block_int.h).
 * Selection and listings are block_select.c, iterators block_iter.c.
 *
 * The index is checked whole when the block is opened: TOC and section
 * checksums, then every symbol, series record, chunk and rollup reference,
 * postings list and page table entry is decoded and bounds-checked against
 * the section, the page tables and the files' sizes, so no later read can
 * leave the mapping. Memory kept per block: 8 bytes per symbol and per
 * series, 16 per label pair, 24 per label name, 16 per page.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/crc32c.h"
#include "store/tsdb/block.h"
#include "store/tsdb/block_int.h"
#include "store/tsdb/page_cache.h"
#include "store/tsdb/sealed_codec.h"
#include "telltale.h"

/* ---- series records ------------------------------------------------------------------ */

int block_series_labels(const struct block *b, uint32_t id, struct labels *ls)
{
    struct rbuf r;
    rbuf_init(&r, b->ix + b->seroff[id], b->ixlen - b->seroff[id]);
    uint64_t n = rbuf_uvarint(&r);
    labels_reset(ls);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t nm = (uint32_t)rbuf_uvarint(&r);
        uint32_t vl = (uint32_t)rbuf_uvarint(&r);
        if (labels_push(ls, block_sym(b, nm), block_sym(b, vl)) != 0)
            return TT_ENOMEM;
    }
    return 0;
}

/* ref_read decodes one chunk (rollup 0) or segment reference. */
static void ref_read(struct rbuf *r, int rollup, int64_t *prev_t, uint32_t *prev_page,
                     struct bchunk *ch, uint64_t *dmint, uint64_t *span)
{
    *dmint = rbuf_uvarint(r);
    *span = rbuf_uvarint(r);
    ch->mint = (int64_t)((uint64_t)*prev_t + *dmint);
    ch->maxt = (int64_t)((uint64_t)ch->mint + *span);
    uint64_t n = rbuf_uvarint(r) + 1;
    ch->n = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    uint64_t tcol = rollup ? 0 : rbuf_uvarint(r);
    ch->tcol = tcol > UINT32_MAX ? UINT32_MAX : (uint32_t)tcol;
    ch->tpage = ch->toff = ch->tlen = 0;
    ch->page = *prev_page + (uint32_t)rbuf_uvarint(r);
    ch->off = (uint32_t)rbuf_uvarint(r);
    ch->len = (uint32_t)rbuf_uvarint(r);
    *prev_t = ch->maxt;
    *prev_page = ch->page;
}

static void skip_labels(struct rbuf *r)
{
    uint64_t n = rbuf_uvarint(r);
    for (uint64_t i = 0; i < 2 * n && !r->err; i++)
        (void)rbuf_uvarint(r);
}

static void skip_refs(struct rbuf *r, int rollup)
{
    uint64_t n = rbuf_uvarint(r);
    int64_t t = 0;
    uint32_t p = 0;
    struct bchunk ch;
    uint64_t d, s;
    for (uint64_t i = 0; i < n && !r->err; i++)
        ref_read(r, rollup, &t, &p, &ch, &d, &s);
}

void block_cursor_init(const struct block *b, uint32_t id, struct bcursor *c)
{
    c->b = b;
    rbuf_init(&c->r, b->ix + b->seroff[id], b->ixlen - b->seroff[id]);
    skip_labels(&c->r);
    c->rollup = 0;
    c->prev_t = b->mint;
    c->prev_page = 0;
    c->left = (uint32_t)rbuf_uvarint(&c->r);
}

void block_series_rollups(const struct block *b, uint32_t id, uint32_t *page, uint32_t *off,
                          uint32_t *len)
{
    struct rbuf r;
    rbuf_init(&r, b->ix + b->seroff[id], b->ixlen - b->seroff[id]);
    skip_labels(&r);
    skip_refs(&r, 0);
    *page = (uint32_t)rbuf_uvarint(&r);
    *off = (uint32_t)rbuf_uvarint(&r);
    *len = (uint32_t)rbuf_uvarint(&r);
}

int block_cursor_next(struct bcursor *c, struct bchunk *ch)
{
    if (c->left == 0 || c->r.err)
        return 0;
    uint64_t d, s;
    ref_read(&c->r, c->rollup, &c->prev_t, &c->prev_page, ch, &d, &s);
    c->left--;
    if (ch->tcol < c->b->ntscols) { /* checked when opened */
        const struct btscol *tc = &c->b->tscols[ch->tcol];
        ch->tpage = tc->page;
        ch->toff = tc->off;
        ch->tlen = tc->len;
    }
    return c->r.err ? 0 : 1;
}

/* ---- meta.json ------------------------------------------------------------------------ */

static int valid_id(const char *s)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if (strlen(s) != BLOCK_ID_LEN)
        return 0;
    for (size_t i = 0; i < BLOCK_ID_LEN; i++) {
        if (strchr(b32, s[i]) == NULL)
            return 0;
    }
    return 1;
}

static int get_int(json_t *o, const char *key, json_int_t lo, json_int_t *v)
{
    json_t *x = json_object_get(o, key);
    if (!json_is_integer(x))
        return 0;
    *v = json_integer_value(x);
    return *v >= lo;
}

static int parse_meta(struct block *b, const void *buf, size_t len, uint64_t files[3], char *err,
                      size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return block_set_err(err, errlen, TT_ECORRUPT, "%s/meta.json: offset %d: %s", b->dir,
                             je.position, je.text);
    struct block_meta *m = &b->meta;
    const char *what = NULL;
    json_int_t v, mint = 0, maxt = 0;
    json_t *id = json_object_get(root, "id");
    json_t *src = json_object_get(root, "sources");
    json_t *fl = json_object_get(root, "files");
    json_t *ru = json_object_get(root, "rollups");
    if (!get_int(root, "version", 0, &v) || v != BLOCK_FORMAT_VERSION)
        what = "version missing or not 1";
    else if (!json_is_string(id) || !valid_id(json_string_value(id)))
        what = "bad id";
    else if (!get_int(root, "mint", INT64_MIN, &mint) || !get_int(root, "maxt", INT64_MIN, &maxt) ||
             mint > maxt)
        what = "bad mint/maxt";
    else if (!json_is_boolean(ru))
        what = "bad rollups";
    else if (!json_is_array(src) || json_array_size(src) == 0 || json_array_size(src) > (1u << 20))
        what = "bad sources";
    else if (!json_is_object(fl))
        what = "bad files";
    if (what == NULL) {
        memcpy(m->id, json_string_value(id), BLOCK_ID_LEN + 1);
        m->mint = mint;
        m->maxt = maxt;
        /* The samples' bounds; blocks without them: the declared range. */
        json_int_t dmin = mint, dmax = maxt;
        if ((json_object_get(root, "minTime") && !get_int(root, "minTime", INT64_MIN, &dmin)) ||
            (json_object_get(root, "maxTime") && !get_int(root, "maxTime", INT64_MIN, &dmax)) ||
            dmin < mint || dmax > maxt || dmin > dmax)
            what = "bad minTime/maxTime";
        m->min_time = dmin;
        m->max_time = dmax;
        m->has_rollups = json_is_true(ru);
        static const char *const counts[] = { "series", "samples", "chunks", "level" };
        for (int i = 0; i < 4 && what == NULL; i++) {
            if (!get_int(root, counts[i], i == 3 ? 1 : 0, &v) || (i == 3 && v > UINT32_MAX))
                what = counts[i];
            else if (i == 0)
                m->series = (uint64_t)v;
            else if (i == 1)
                m->samples = (uint64_t)v;
            else if (i == 2)
                m->chunks = (uint64_t)v;
            else
                m->level = (uint32_t)v;
        }
        static const char *const fnames[] = { "index", "chunks", "rollups" };
        for (int i = 0; i < 3 && what == NULL; i++) {
            if (!get_int(fl, fnames[i], 0, &v))
                what = "bad files";
            else
                files[i] = (uint64_t)v;
        }
    }
    if (what == NULL) {
        size_t n = json_array_size(src);
        m->sources = malloc(n * sizeof *m->sources);
        if (m->sources == NULL) {
            json_decref(root);
            return TT_ENOMEM;
        }
        for (size_t i = 0; i < n && what == NULL; i++) {
            json_t *s = json_array_get(src, i);
            if (!json_is_string(s) || !valid_id(json_string_value(s)))
                what = "bad source id";
            else
                memcpy(m->sources[i], json_string_value(s), BLOCK_ID_LEN + 1);
        }
        m->nsources = n;
    }
    json_decref(root);
    if (what != NULL)
        return block_set_err(err, errlen, TT_ECORRUPT, "%s/meta.json: %s", b->dir, what);
    return 0;
}

/* ---- the index check ------------------------------------------------------------------ */

struct ck {
    struct block *b;
    char *err;
    size_t errlen;
};

#define CORRUPT(c, off, ...) corrupt(c, (size_t)(off), __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static int corrupt(struct ck *c, size_t off, const char *fmt,
                                                         ...)
{
    if (c->err != NULL && c->errlen > 0) {
        int n = snprintf(c->err, c->errlen, "%s/index: offset %zu: ", c->b->dir, off);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return TT_ECORRUPT;
}

static size_t roff(const struct block *b, const struct rbuf *r)
{
    return (size_t)(r->p - b->ix);
}

static int check_symbols(struct ck *c, const uint8_t *p, size_t len)
{
    struct block *b = c->b;
    struct rbuf r;
    rbuf_init(&r, p, len);
    uint64_t n = rbuf_uvarint(&r);
    if (r.err || n > len / 2 || n > UINT32_MAX - 1)
        return CORRUPT(c, roff(b, &r), "bad symbol count");
    b->nsyms = (uint32_t)n;
    b->symoff = malloc((n + 1) * sizeof *b->symoff);
    b->symlen = malloc((n + 1) * sizeof *b->symlen);
    if (b->symoff == NULL || b->symlen == NULL)
        return TT_ENOMEM;
    for (uint32_t i = 0; i < b->nsyms; i++) {
        size_t at = roff(b, &r);
        uint64_t l = rbuf_uvarint(&r);
        const uint8_t *s = r.err || l > rbuf_left(&r) ? NULL : rbuf_bytes(&r, (size_t)l + 1);
        if (s == NULL || s[l] != 0 || memchr(s, 0, (size_t)l) != NULL)
            return CORRUPT(c, at, "symbol %u: bad string", i);
        b->symoff[i] = (uint32_t)(s - b->ix);
        b->symlen[i] = (uint32_t)l;
        if (i > 0) {
            const uint8_t *q = b->ix + b->symoff[i - 1];
            size_t ql = b->symlen[i - 1];
            int cmp = memcmp(q, s, ql < l ? ql : (size_t)l);
            if (cmp > 0 || (cmp == 0 && ql >= l))
                return CORRUPT(c, at, "symbol %u out of order", i);
        }
    }
    if (rbuf_left(&r) != 0)
        return CORRUPT(c, roff(b, &r), "trailing bytes after the symbols");
    return 0;
}

static int check_pages(struct ck *c, const uint8_t *p, size_t len, int f)
{
    struct block *b = c->b;
    struct bpages *pg = &b->pages[f];
    struct rbuf r;
    rbuf_init(&r, p, len);
    uint64_t n = rbuf_uvarint(&r);
    if (r.err || n > len / 2 || n > UINT32_MAX - 1)
        return CORRUPT(c, roff(b, &r), "bad %s page count", block_file_name(1 + f));
    pg->n = (uint32_t)n;
    pg->off = malloc((n + 1) * sizeof *pg->off);
    pg->bytes = malloc((n + 1) * sizeof *pg->bytes);
    pg->raw = malloc((n + 1) * sizeof *pg->raw);
    if (pg->off == NULL || pg->bytes == NULL || pg->raw == NULL)
        return TT_ENOMEM;
    uint64_t off = BLOCK_FILE_HDR;
    size_t flen = b->filelen[f];
    for (uint32_t i = 0; i < pg->n; i++) {
        size_t at = roff(b, &r);
        uint64_t st = rbuf_uvarint(&r), raw = rbuf_uvarint(&r);
        if (r.err || st == 0 || raw == 0 || raw > BLOCK_PAGE_RAW_MAX || st > flen ||
            off + BLOCK_PAGE_HDR + st > flen)
            return CORRUPT(c, at, "%s page %u: bad size (%llu stored, %llu raw)",
                           block_file_name(1 + f), i, (unsigned long long)st,
                           (unsigned long long)raw);
        pg->off[i] = off;
        pg->bytes[i] = (uint32_t)st;
        pg->raw[i] = (uint32_t)raw;
        off += BLOCK_PAGE_HDR + st;
    }
    if (rbuf_left(&r) != 0)
        return CORRUPT(c, roff(b, &r), "trailing bytes after the %s pages", block_file_name(1 + f));
    if ((f == BFILE_CHUNKS || b->has_rollups) && off != flen)
        return CORRUPT(c, (size_t)(p - b->ix), "%s pages end at %llu, the file at %zu",
                       block_file_name(1 + f), (unsigned long long)off, flen);
    return 0;
}

static int check_tscols(struct ck *c, const uint8_t *p, size_t len)
{
    struct block *b = c->b;
    const struct bpages *pg = &b->pages[BFILE_CHUNKS];
    struct rbuf r;
    rbuf_init(&r, p, len);
    uint64_t n = rbuf_uvarint(&r);
    if (r.err || n > len / 3 || n > UINT32_MAX - 1)
        return CORRUPT(c, roff(b, &r), "bad timestamp column count");
    b->ntscols = (uint32_t)n;
    b->tscols = malloc((n + 1) * sizeof *b->tscols);
    if (b->tscols == NULL)
        return TT_ENOMEM;
    uint64_t page = 0;
    for (uint32_t i = 0; i < b->ntscols; i++) {
        size_t at = roff(b, &r);
        page += rbuf_uvarint(&r);
        uint64_t off = rbuf_uvarint(&r), l = rbuf_uvarint(&r);
        if (r.err || page >= pg->n || l == 0 || off > pg->raw[page] || l > pg->raw[page] - off)
            return CORRUPT(c, at, "timestamp column %u outside its page", i);
        b->tscols[i] = (struct btscol){ (uint32_t)page, (uint32_t)off, (uint32_t)l };
    }
    if (rbuf_left(&r) != 0)
        return CORRUPT(c, roff(b, &r), "trailing bytes after the timestamp columns");
    return 0;
}

/* check_ref checks one decoded chunk or segment reference. */
static int check_ref(struct ck *c, size_t at, uint32_t s, int rollup, const struct bchunk *ch,
                     uint64_t dmint, uint64_t span, int first, int64_t prev_t)
{
    struct block *b = c->b;
    const struct bpages *pg = &b->pages[BFILE_CHUNKS];
    const char *what = NULL;
    if ((!first && dmint == 0) || dmint > (uint64_t)b->maxt - (uint64_t)prev_t ||
        span > (uint64_t)b->maxt - (uint64_t)ch->mint)
        what = "time range outside the block or out of order";
    else if (ch->n > SEALED_MAX_SAMPLES || (uint64_t)ch->n - 1 > span || (ch->n == 1 && span))
        what = "bad sample count";
    else if (!rollup && ch->tcol >= b->ntscols)
        what = "no such timestamp column";
    else if (ch->page >= pg->n || ch->len == 0 || (uint64_t)ch->off + ch->len > pg->raw[ch->page])
        what = rollup ? "rollup record outside its page" : "value column outside its page";
    if (what)
        return CORRUPT(c, at, "series %u: %s %s", s, rollup ? "rollup segment:" : "chunk:", what);
    return 0;
}

static int check_series(struct ck *c, const uint8_t *p, size_t len, uint64_t *samples,
                        uint64_t *chunks)
{
    struct block *b = c->b;
    struct rbuf r;
    rbuf_init(&r, p, len);
    uint64_t n = rbuf_uvarint(&r);
    if (r.err || n > len / 4 || n > UINT32_MAX - 1)
        return CORRUPT(c, roff(b, &r), "bad series count");
    b->nseries = (uint32_t)n;
    b->seroff = malloc((n + 1) * sizeof *b->seroff);
    uint32_t *prev = NULL, *cur = NULL;
    size_t nprev = 0, cap = 0;
    int rc = 0;
    if (b->seroff == NULL)
        return TT_ENOMEM;
    for (uint32_t s = 0; s < b->nseries && rc == 0; s++) {
        size_t at = roff(b, &r);
        b->seroff[s] = at;
        uint64_t nl = rbuf_uvarint(&r);
        if (r.err || nl == 0 || nl > INDEX_LABELS_MAX) {
            rc = CORRUPT(c, at, "series %u: bad label count", s);
            break;
        }
        if (nl * 2 > cap) {
            size_t nc = (size_t)nl * 2;
            uint32_t *np = realloc(prev, nc * sizeof *np);
            if (np != NULL)
                prev = np;
            uint32_t *ncur = np ? realloc(cur, nc * sizeof *ncur) : NULL;
            if (np == NULL || ncur == NULL) {
                rc = TT_ENOMEM;
                break;
            }
            cur = ncur;
            cap = nc;
        }
        for (uint64_t i = 0; i < nl * 2; i++) {
            uint64_t sym = rbuf_uvarint(&r);
            if (r.err || sym >= b->nsyms || b->symlen[sym] == 0 ||
                (i % 2 == 0 && i > 0 && sym <= cur[i - 2])) {
                rc = CORRUPT(c, at, "series %u: bad label %llu", s, (unsigned long long)i / 2);
                break;
            }
            cur[i] = (uint32_t)sym;
        }
        if (rc)
            break;
        if (s > 0 && nprev > 0) {
            size_t k = 0, m = nl * 2 < nprev ? (size_t)nl * 2 : nprev;
            while (k < m && cur[k] == prev[k])
                k++;
            if (k < m ? cur[k] < prev[k] : nl * 2 <= nprev) {
                rc = CORRUPT(c, at, "series %u: labels not greater than the previous series", s);
                break;
            }
        }
        memcpy(prev, cur, (size_t)nl * 2 * sizeof *cur);
        nprev = (size_t)nl * 2;
        uint64_t nc = rbuf_uvarint(&r);
        if (r.err || nc > rbuf_left(&r) || nc == 0) {
            rc = CORRUPT(c, roff(b, &r), "series %u: bad chunk count", s);
            break;
        }
        int64_t prev_t = b->mint;
        uint32_t prev_page = 0;
        for (uint64_t i = 0; i < nc; i++) {
            size_t cat = roff(b, &r);
            int64_t pt = prev_t;
            struct bchunk ch;
            uint64_t dmint, span;
            ref_read(&r, 0, &prev_t, &prev_page, &ch, &dmint, &span);
            if (r.err) {
                rc = CORRUPT(c, cat, "series %u: truncated chunk reference", s);
                break;
            }
            if ((rc = check_ref(c, cat, s, 0, &ch, dmint, span, i == 0, pt)) != 0)
                break;
            *samples += ch.n;
            *chunks += 1;
        }
        if (rc == 0 && b->has_rollups) {
            size_t rat = roff(b, &r);
            uint64_t pg = rbuf_uvarint(&r), off = rbuf_uvarint(&r), rl = rbuf_uvarint(&r);
            const struct bpages *rp = &b->pages[BFILE_ROLLUPS];
            if (r.err || pg >= rp->n || rl == 0 || off > rp->raw[pg] || rl > rp->raw[pg] - off)
                rc = CORRUPT(c, rat, "series %u: rollup record outside its page", s);
        }
    }
    free(prev);
    free(cur);
    if (rc == 0 && rbuf_left(&r) != 0)
        rc = CORRUPT(c, roff(b, &r), "trailing bytes after the series");
    return rc;
}

/* check_postings checks one list (ids strictly increasing, < nseries). */
static int check_postings(struct ck *c, struct rbuf *r, uint32_t *n, size_t *at)
{
    struct block *b = c->b;
    *at = roff(b, r);
    uint64_t cnt = rbuf_uvarint(r);
    if (r->err || cnt == 0 || cnt > b->nseries)
        return CORRUPT(c, *at, "bad postings count");
    uint64_t id = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t d = rbuf_uvarint(r);
        id = i == 0 ? d : id + d + 1;
        if (r->err || d >= b->nseries || id >= b->nseries)
            return CORRUPT(c, *at, "bad postings entry %llu", (unsigned long long)i);
    }
    *n = (uint32_t)cnt;
    return 0;
}

static int check_labels(struct ck *c, const uint8_t *p, size_t len)
{
    struct block *b = c->b;
    struct rbuf r;
    rbuf_init(&r, p, len);
    uint64_t n = rbuf_uvarint(&r);
    if (r.err || n > len / 4 || n > b->nsyms)
        return CORRUPT(c, roff(b, &r), "bad label name count");
    b->nnames = (uint32_t)n;
    b->names = calloc(n + 1, sizeof *b->names);
    if (b->names == NULL)
        return TT_ENOMEM;
    size_t cap = 0;
    uint64_t name = 0;
    for (uint32_t i = 0; i < b->nnames; i++) {
        size_t at = roff(b, &r);
        uint64_t d = rbuf_uvarint(&r);
        name = i == 0 ? d : name + d + 1;
        uint64_t nv = rbuf_uvarint(&r);
        if (r.err || d >= b->nsyms || name >= b->nsyms || b->symlen[name] == 0 || nv == 0 ||
            nv > rbuf_left(&r))
            return CORRUPT(c, at, "label name %u: bad entry", i);
        struct bname *nm = &b->names[i];
        nm->sym = (uint32_t)name;
        nm->first_pair = b->npairs;
        nm->npairs = (uint32_t)nv;
        int rc = check_postings(c, &r, &nm->npost, &nm->post);
        if (rc)
            return rc;
        if (b->npairs + nv > UINT32_MAX - 1)
            return CORRUPT(c, at, "too many label values");
        if (b->npairs + nv > cap) {
            size_t nc = cap ? cap * 2 : 256;
            while (nc < b->npairs + nv)
                nc *= 2;
            struct bpair *np = realloc(b->pairs, nc * sizeof *np);
            if (np == NULL)
                return TT_ENOMEM;
            b->pairs = np;
            cap = nc;
        }
        uint64_t val = 0, total = 0;
        for (uint64_t k = 0; k < nv; k++) {
            size_t vat = roff(b, &r);
            uint64_t dv = rbuf_uvarint(&r);
            val = k == 0 ? dv : val + dv + 1;
            if (r.err || dv >= b->nsyms || val >= b->nsyms || b->symlen[val] == 0)
                return CORRUPT(c, vat, "label name %u: bad value %llu", i, (unsigned long long)k);
            struct bpair *pr = &b->pairs[b->npairs++];
            pr->sym = (uint32_t)val;
            if ((rc = check_postings(c, &r, &pr->npost, &pr->post)) != 0)
                return rc;
            total += pr->npost;
        }
        if (total != nm->npost)
            return CORRUPT(c, at, "label name %u: postings of its values do not add up", i);
    }
    if (rbuf_left(&r) != 0)
        return CORRUPT(c, roff(b, &r), "trailing bytes after the label index");
    return 0;
}

static int check_file_header(struct block *b, int f, const char *magic, char *err, size_t errlen)
{
    const uint8_t *p = b->file[f];
    if (b->filelen[f] < BLOCK_FILE_HDR || memcmp(p, magic, 4) != 0 ||
        p[4] != BLOCK_FORMAT_VERSION || p[5] != 0 || p[6] != 0 || p[7] != 0)
        return block_set_err(err, errlen, TT_ECORRUPT, "%s/%s: offset 0: bad file header", b->dir,
                             block_file_name(1 + f));
    return 0;
}

/* block_load checks the index and builds the tables. */
static int block_load(struct block *b, char *err, size_t errlen)
{
    struct ck c = { b, err, errlen };
    const uint8_t *ix = b->ix;
    if (b->ixlen < BLOCK_INDEX_HDR + BLOCK_TOC_BYTES)
        return CORRUPT(&c, 0, "file of %zu bytes is too short", b->ixlen);
    if (memcmp(ix, BLOCK_MAGIC_INDEX, 4) != 0 || ix[4] != BLOCK_FORMAT_VERSION)
        return CORRUPT(&c, 0, "bad magic or version");
    const uint8_t *toc = ix + b->ixlen - BLOCK_TOC_BYTES;
    uint32_t want = crc32c(crc32c(0, ix, BLOCK_INDEX_HDR), toc, (size_t)SEC_COUNT * 20);
    if (get_le32(toc + SEC_COUNT * 20) != want)
        return CORRUPT(&c, b->ixlen - BLOCK_TOC_BYTES, "header or TOC checksum mismatch");
    b->has_rollups = (ix[5] & BLOCK_FLAG_ROLLUPS) != 0;
    b->mint = (int64_t)get_le64(ix + 8);
    b->maxt = (int64_t)get_le64(ix + 16);
    if (b->has_rollups != b->meta.has_rollups || b->mint != b->meta.mint || b->maxt != b->meta.maxt)
        return CORRUPT(&c, 0, "header does not agree with meta.json");
    const uint8_t *sp[SEC_COUNT];
    size_t sl[SEC_COUNT];
    size_t end = b->ixlen - BLOCK_TOC_BYTES;
    for (int s = 0; s < SEC_COUNT; s++) {
        uint64_t off = get_le64(toc + 20 * s), len = get_le64(toc + 20 * s + 8);
        if (off < BLOCK_INDEX_HDR || off > end || len > end - off)
            return CORRUPT(&c, end + 20 * (size_t)s, "section %d outside the file", s);
        sp[s] = ix + off;
        sl[s] = (size_t)len;
        if (crc32c(0, sp[s], sl[s]) != get_le32(toc + 20 * s + 16))
            return CORRUPT(&c, off, "section %d checksum mismatch", s);
    }
    int rc = check_file_header(b, BFILE_CHUNKS, BLOCK_MAGIC_CHUNKS, err, errlen);
    if (rc == 0 && b->has_rollups)
        rc = check_file_header(b, BFILE_ROLLUPS, BLOCK_MAGIC_ROLLUPS, err, errlen);
    if (rc == 0)
        rc = check_symbols(&c, sp[SEC_SYMBOLS], sl[SEC_SYMBOLS]);
    if (rc == 0)
        rc = check_pages(&c, sp[SEC_PAGES], sl[SEC_PAGES], BFILE_CHUNKS);
    if (rc == 0)
        rc = check_pages(&c, sp[SEC_RPAGES], sl[SEC_RPAGES], BFILE_ROLLUPS);
    if (rc == 0 && !b->has_rollups && b->pages[BFILE_ROLLUPS].n != 0)
        rc = CORRUPT(&c, sp[SEC_RPAGES] - ix, "rollup pages in a block without rollups");
    uint64_t samples = 0, chunks = 0;
    if (rc == 0)
        rc = check_tscols(&c, sp[SEC_TSCOLS], sl[SEC_TSCOLS]);
    if (rc == 0)
        rc = check_series(&c, sp[SEC_SERIES], sl[SEC_SERIES], &samples, &chunks);
    if (rc == 0)
        rc = check_labels(&c, sp[SEC_LABELS], sl[SEC_LABELS]);
    if (rc == 0 &&
        (b->nseries != b->meta.series || samples != b->meta.samples || chunks != b->meta.chunks))
        rc = CORRUPT(&c, sp[SEC_SERIES] - ix,
                     "%u series, %llu samples, %llu chunks; meta.json says %llu, %llu, %llu",
                     b->nseries, (unsigned long long)samples, (unsigned long long)chunks,
                     (unsigned long long)b->meta.series, (unsigned long long)b->meta.samples,
                     (unsigned long long)b->meta.chunks);
    return rc;
}

/* ---- open and close ------------------------------------------------------------------- */

static struct block *block_alloc(const char *dir)
{
    struct block *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    size_t n = strlen(dir);
    b->dir = malloc(n + 1);
    if (b->dir == NULL) {
        free(b);
        return NULL;
    }
    memcpy(b->dir, dir, n + 1);
    return b;
}

void block_close(struct block *b)
{
    if (b == NULL)
        return;
    for (int i = 0; i < 3; i++) {
        if (b->map[i] != NULL)
            munmap(b->map[i], b->maplen[i]);
    }
    block_meta_release(&b->meta);
    free(b->symoff);
    free(b->symlen);
    for (int f = 0; f < 2; f++) {
        free(b->pages[f].off);
        free(b->pages[f].bytes);
        free(b->pages[f].raw);
    }
    free(b->tscols);
    free(b->seroff);
    free(b->names);
    free(b->pairs);
    free(b->dir);
    free(b);
}

void block_set_page_cache(struct block *b, struct page_cache *pc)
{
    b->pc = pc;
    b->pc_serial = pc != NULL ? page_cache_serial(pc) : 0;
}

static int check_sizes(struct block *b, const size_t got[3], const uint64_t want[3], char *err,
                       size_t errlen)
{
    for (int f = 0; f < 3; f++) {
        if (got[f] != want[f])
            return block_set_err(err, errlen, TT_ECORRUPT,
                                 "%s/%s: %zu bytes, meta.json says %llu (truncated?)", b->dir,
                                 block_file_name(f), got[f], (unsigned long long)want[f]);
    }
    return 0;
}

int block_open_mem(struct block **out, const char *name, const void *meta, size_t meta_len,
                   const void *index, size_t index_len, const void *chunks, size_t chunks_len,
                   const void *rollups, size_t rollups_len, char *err, size_t errlen)
{
    *out = NULL;
    struct block *b = block_alloc(name);
    if (b == NULL)
        return block_set_err(err, errlen, TT_ENOMEM, "block: out of memory");
    uint64_t want[3] = { 0, 0, 0 };
    size_t got[3] = { index_len, chunks_len, rollups_len };
    int rc = parse_meta(b, meta, meta_len, want, err, errlen);
    if (rc == 0)
        rc = check_sizes(b, got, want, err, errlen);
    if (rc == 0) {
        b->ix = index;
        b->ixlen = index_len;
        b->file[0] = chunks;
        b->filelen[0] = chunks_len;
        b->file[1] = rollups_len > 0 ? rollups : NULL;
        b->filelen[1] = rollups_len;
        rc = block_load(b, err, errlen);
    }
    if (rc) {
        if (rc == TT_ENOMEM)
            block_set_err(err, errlen, rc, "%s: out of memory", name);
        block_close(b);
        return rc;
    }
    b->meta.bytes = meta_len + index_len + chunks_len + rollups_len;
    *out = b;
    return 0;
}

/* read_meta reads dir/meta.json into *buf (caller frees). */
static int read_meta(struct block *b, char **buf, size_t *len, char *err, size_t errlen)
{
    char path[4096];
    char eb[96];
    if (snprintf(path, sizeof path, "%s/meta.json", b->dir) >= (int)sizeof path)
        return block_set_err(err, errlen, TT_EINVAL, "%s: path too long", b->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return block_set_err(err, errlen, e == ENOENT || e == ENOTDIR ? TT_ENOTFOUND : TT_ESYS,
                             "%s: cannot open: %s", path, block_errstr(e, eb, sizeof eb));
    }
    struct stat st;
    int rc = 0;
    *buf = NULL;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > BLOCK_META_MAX) {
        rc = block_set_err(err, errlen, TT_ECORRUPT, "%s: bad size", path);
        goto out;
    }
    *len = (size_t)st.st_size;
    if ((*buf = malloc(*len + 1)) == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < *len) {
        ssize_t n = read(fd, *buf + got, *len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            rc = block_set_err(err, errlen, TT_ESYS, "%s: read failed: %s", path,
                               n < 0 ? block_errstr(e, eb, sizeof eb) : "file shrank");
            goto out;
        }
        got += (size_t)n;
    }
out:
    close(fd);
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

static int map_file(struct block *b, int f, char *err, size_t errlen)
{
    char path[4096];
    char eb[96];
    snprintf(path, sizeof path, "%s/%s", b->dir, block_file_name(f));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return block_set_err(err, errlen, e == ENOENT ? TT_ECORRUPT : TT_ESYS,
                             "%s: cannot open: %s", path, block_errstr(e, eb, sizeof eb));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        rc = block_set_err(err, errlen, TT_ESYS, "%s: fstat: %s", path,
                           block_errstr(e, eb, sizeof eb));
        goto out;
    }
    b->maplen[f] = (size_t)st.st_size;
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            rc = block_set_err(err, errlen, TT_ESYS, "%s: mmap: %s", path,
                               block_errstr(e, eb, sizeof eb));
            goto out;
        }
        b->map[f] = m;
    }
out:
    close(fd);
    return rc;
}

int block_open(struct block **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    struct block *b = block_alloc(dir);
    if (b == NULL)
        return block_set_err(err, errlen, TT_ENOMEM, "block: out of memory");
    char *meta = NULL;
    size_t mlen = 0;
    uint64_t want[3] = { 0, 0, 0 };
    int rc = read_meta(b, &meta, &mlen, err, errlen);
    if (rc == 0)
        rc = parse_meta(b, meta, mlen, want, err, errlen);
    free(meta);
    for (int f = 0; f < 3 && rc == 0; f++) {
        if (f < 2 || b->meta.has_rollups)
            rc = map_file(b, f, err, errlen);
    }
    if (rc == 0)
        rc = check_sizes(b, b->maplen, want, err, errlen);
    if (rc == 0) {
        b->ix = b->map[0];
        b->ixlen = b->maplen[0];
        b->file[0] = b->map[1];
        b->filelen[0] = b->maplen[1];
        b->file[1] = b->map[2];
        b->filelen[1] = b->maplen[2];
        rc = block_load(b, err, errlen);
    }
    if (rc) {
        if (rc == TT_ENOMEM)
            block_set_err(err, errlen, rc, "%s: out of memory", dir);
        block_close(b);
        return rc;
    }
    b->meta.bytes = mlen + b->maplen[0] + b->maplen[1] + b->maplen[2];
    *out = b;
    return 0;
}

const struct block_meta *block_get_meta(const struct block *b)
{
    return &b->meta;
}

const char *block_dir(const struct block *b)
{
    return b->dir;
}
