/*
 * spanstats.c - span analytics (spanstats.h) over the span store's blocks
 * and their summaries, read through the store's block access functions
 * with the store's read lock held for the whole query (retention waits).
 */
#include "store/spans/spanstats.h"

#include <stdlib.h>
#include <string.h>
#include "store/spans/spansum.h"
#include "telltale.h"

#define DEFAULT_LIMIT 20

/* --- result rows by name ------------------------------------------------- */

void spanstats_result_init(struct spanstats_result *res)
{
    memset(res, 0, sizeof *res);
}

void spanstats_result_release(struct spanstats_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        free(res->rows[i].service);
        free(res->rows[i].operation);
        free(res->rows[i].dense);
        sketch_release(&res->rows[i].sk);
    }
    free(res->rows);
    free(res->slots);
    spanstats_result_init(res);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t name_hash(struct rec_str s, const struct rec_str *o)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, s.p, s.len);
    h = hash_bytes(h, "", 1);
    if (o != NULL)
        h = hash_bytes(h, o->p, o->len);
    return h ^ (h >> 31);
}

static int str_is(const char *c, struct rec_str s)
{
    return c != NULL && strlen(c) == s.len && memcmp(c, s.p, s.len) == 0;
}

static char *dupn(const char *p, size_t n)
{
    char *c = malloc(n + 1);
    if (c != NULL) {
        if (n > 0)
            memcpy(c, p, n);
        c[n] = '\0';
    }
    return c;
}

static int rehash(struct spanstats_result *res, size_t nslots)
{
    uint32_t *a = calloc(nslots, sizeof *a);
    if (a == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < res->n; i++) {
        const struct spanstats_row *r = &res->rows[i];
        struct rec_str s = { r->service, (uint32_t)strlen(r->service) };
        struct rec_str o = { r->operation, r->operation ? (uint32_t)strlen(r->operation) : 0 };
        size_t j = name_hash(s, r->operation ? &o : NULL) & (nslots - 1);
        while (a[j] != 0)
            j = (j + 1) & (nslots - 1);
        a[j] = (uint32_t)i + 1;
    }
    free(res->slots);
    res->slots = a;
    res->nslots = nslots;
    return 0;
}

/* row_for finds or adds the row of (service, op); op NULL for a row per
 * service. Returns the row or NULL (out of memory). */
static struct spanstats_row *row_for(struct spanstats_result *res, struct rec_str s,
                                     const struct rec_str *op)
{
    if ((res->n + 1) * 2 > res->nslots && rehash(res, res->nslots ? res->nslots * 2 : 64) != 0)
        return NULL;
    size_t j = name_hash(s, op) & (res->nslots - 1);
    while (res->slots[j] != 0) {
        struct spanstats_row *r = &res->rows[res->slots[j] - 1];
        if (str_is(r->service, s) &&
            (op == NULL ? r->operation == NULL : str_is(r->operation, *op)))
            return r;
        j = (j + 1) & (res->nslots - 1);
    }
    if (res->n == res->cap) {
        size_t nc = res->cap ? res->cap * 2 : 32;
        struct spanstats_row *a = realloc(res->rows, nc * sizeof *a);
        if (a == NULL)
            return NULL;
        res->rows = a;
        res->cap = nc;
    }
    struct spanstats_row *r = &res->rows[res->n];
    memset(r, 0, sizeof *r);
    r->service = dupn(s.p, s.len);
    r->operation = op != NULL ? dupn(op->p, op->len) : NULL;
    if (r->service == NULL || (op != NULL && r->operation == NULL)) {
        free(r->service);
        free(r->operation);
        return NULL;
    }
    sketch_init(&r->sk);
    res->slots[j] = (uint32_t)++res->n;
    return r;
}

static int cmp_rows(const void *a, const void *b)
{
    const struct spanstats_row *x = a, *y = b;
    int c = strcmp(x->service, y->service);
    if (c != 0)
        return c;
    if (x->operation == NULL || y->operation == NULL)
        return (x->operation != NULL) - (y->operation != NULL);
    return strcmp(x->operation, y->operation);
}

/* --- latency stats -------------------------------------------------------- */

/* While a query runs, a row's bucket counts are added into a dense array
 * (indexes dlo .. dlo + dn - 1), which merging many per-block sketches
 * needs no more than a pass over each; its sketch holds the exact count,
 * sum, min and max only, and row_finish makes the sparse buckets. */
static int row_cover(struct spanstats_result *res, struct spanstats_row *r, int32_t lo, int32_t hi)
{
    if (r->dn > 0 && lo >= r->dlo && hi < r->dlo + (int32_t)r->dn)
        return 0;
    int32_t nlo = r->dn > 0 && r->dlo < lo ? r->dlo : lo;
    int32_t nhi = r->dn > 0 && r->dlo + (int32_t)r->dn - 1 > hi ? r->dlo + (int32_t)r->dn - 1 : hi;
    uint32_t nn = (uint32_t)(nhi - nlo + 1);
    size_t more = (size_t)(nn - r->dn) * sizeof *r->dense;
    if (res->dense_bytes + more > (res->dense_max ? res->dense_max : SPANSTATS_DENSE_MAX_BYTES))
        return TT_EFULL;
    uint64_t *a = calloc(nn, sizeof *a);
    if (a == NULL)
        return TT_ENOMEM;
    if (r->dn > 0)
        memcpy(a + (r->dlo - nlo), r->dense, r->dn * sizeof *a);
    free(r->dense);
    r->dense = a;
    r->dlo = nlo;
    r->dn = nn;
    res->dense_bytes += more;
    return 0;
}

static void row_totals(struct spanstats_row *r, uint64_t count, uint64_t sum, uint64_t min,
                       uint64_t max)
{
    if (r->dcount == 0 || min < r->dmin)
        r->dmin = min;
    if (r->dcount == 0 || max > r->dmax)
        r->dmax = max;
    r->dcount += count;
    r->dsum = r->dsum > UINT64_MAX - sum ? UINT64_MAX : r->dsum + sum;
}

static int row_add_sketch(struct spanstats_result *res, struct spanstats_row *r,
                          const struct sketch *s)
{
    if (s->count == 0)
        return 0;
    int rc = row_cover(res, r, s->idx[0], s->idx[s->nb - 1]);
    if (rc == TT_EFULL)
        return sketch_merge(&r->sk, s);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < s->nb; i++)
        r->dense[s->idx[i] - r->dlo] += s->cnt[i];
    row_totals(r, s->count, s->sum, s->min, s->max);
    return 0;
}

static int row_add_value(struct spanstats_result *res, struct spanstats_row *r, uint64_t v)
{
    int32_t k = sketch_index(v);
    int rc = row_cover(res, r, k, k);
    if (rc == TT_EFULL)
        return sketch_add(&r->sk, v);
    if (rc != 0)
        return rc;
    r->dense[k - r->dlo]++;
    row_totals(r, 1, v, v, v);
    return 0;
}

/* row_finish makes r->sk hold everything the row counted. */
static int row_finish(struct spanstats_row *r)
{
    struct sketch t;
    int rc = 0;
    sketch_init(&t);
    if (r->dn > 0) {
        rc = sketch_set_buckets(&t, r->dlo, r->dense, r->dn, r->dcount, r->dsum, r->dmin, r->dmax);
        if (rc == 0)
            rc = sketch_merge(&r->sk, &t);
    }
    sketch_release(&t);
    free(r->dense);
    r->dense = NULL;
    r->dn = 0;
    return rc;
}

static int wanted(const struct spanstats_query *q, struct rec_str s, struct rec_str o)
{
    return (q->service == NULL || str_is(q->service, s)) &&
           (q->operation == NULL || str_is(q->operation, o));
}

/* merge_summary merges block i's summary into res. Returns 0, 1 when the
 * block must be decoded instead (no usable summary), or TT_ENOMEM. */
static int merge_summary(struct spanstore *ss, size_t i, const struct spanstats_query *q,
                         struct spanstats_result *res, struct wbuf *buf, struct sketch *scratch,
                         struct spansum_scratch *sc)
{
    struct spansum_rec rec;
    struct spansum_iter it;
    struct rec_str s, o;
    uint64_t errors;
    const uint8_t *skb;
    size_t skn;
    char err[256];
    int rc = spanstore_block_summary(ss, i, buf, &rec);
    if (rc == TT_ENOMEM)
        return rc;
    if (rc != 0)
        return 1;
    rc = spansum_open_groups(&rec, sc, err, sizeof err);
    if (rc == TT_ENOMEM)
        return rc;
    if (rc != 0) {
        spanstore_block_problem(ss, i, err);
        return 1;
    }
    /* Walk the groups once to check their framing, so a bad record is
     * decoded from the block instead of half merged. */
    spansum_iter_init(&it, &rec);
    while ((rc = spansum_next(&it, &s, &o, &errors, &skb, &skn, err, sizeof err)) == 1)
        ;
    if (rc != 0) {
        spanstore_block_problem(ss, i, err);
        return 1;
    }
    spansum_iter_init(&it, &rec);
    while (spansum_next(&it, &s, &o, &errors, &skb, &skn, err, sizeof err) == 1) {
        if (!wanted(q, s, o))
            continue;
        struct rbuf r;
        rbuf_init(&r, skb, skn);
        rc = sketch_decode(scratch, &r, err, sizeof err);
        if (rc == TT_ENOMEM)
            return rc;
        if (rc != 0) {
            spanstore_block_problem(ss, i, err);
            continue;
        }
        struct spanstats_row *row = row_for(res, s, q->by_operation ? &o : NULL);
        if (row == NULL || row_add_sketch(res, row, scratch) != 0)
            return TT_ENOMEM;
        row->errors += errors;
    }
    return 0;
}

static int decode_block(struct spanstore *ss, size_t i, const struct spanstats_query *q,
                        struct spanstats_result *res, struct spanstore_reader *rd)
{
    struct span_row s;
    char err[256];
    int rc = spanstore_block_open(ss, i, rd);
    if (rc != 0)
        return rc == TT_ENOMEM ? rc : 0;
    while ((rc = spanblock_next(&rd->rd, &s, err, sizeof err)) == 1) {
        if (s.start_ns < q->start_ns || s.start_ns > q->end_ns || !wanted(q, s.service, s.name))
            continue;
        struct spanstats_row *row = row_for(res, s.service, q->by_operation ? &s.name : NULL);
        if (row == NULL || row_add_value(res, row, s.duration_ns) != 0)
            return TT_ENOMEM;
        if (s.status == TT_STATUS_ERROR)
            row->errors++;
    }
    if (rc < 0)
        spanstore_block_problem(ss, i, err);
    return 0;
}

int spanstats_latency(struct spanstore *ss, const struct spanstats_query *q,
                      struct spanstats_result *res)
{
    struct spanstore_reader rd;
    struct wbuf buf;
    struct sketch scratch;
    struct spansum_scratch sc;
    int rc = 0;

    spansum_scratch_init(&sc);
    spanstore_reader_init(&rd);
    wbuf_init(&buf, 0);
    sketch_init(&scratch);
    spanstore_rdlock(ss);
    size_t nb = spanstore_nblocks(ss);
    for (size_t i = 0; i < nb && rc == 0; i++) {
        struct spanstore_block b;
        spanstore_block_info(ss, i, &b);
        if (b.max_start_ns < q->start_ns || b.min_start_ns > q->end_ns)
            continue;
        if (!spanstore_block_may_have(ss, i, q->service, q->operation))
            continue;
        if (b.has_summary && b.min_start_ns >= q->start_ns && b.max_start_ns <= q->end_ns) {
            rc = merge_summary(ss, i, q, res, &buf, &scratch, &sc);
            if (rc == 0) {
                res->blocks_summarised++;
                continue;
            }
            if (rc < 0)
                break;
            rc = 0;
        }
        rc = decode_block(ss, i, q, res, &rd);
        res->blocks_decoded++;
    }
    spanstore_rdunlock(ss);
    spanstore_reader_release(&rd);
    wbuf_release(&buf);
    sketch_release(&scratch);
    spansum_scratch_release(&sc);
    for (size_t i = 0; i < res->n; i++) {
        int frc = row_finish(&res->rows[i]);
        if (rc == 0)
            rc = frc;
    }
    /* The slots index rows by position: sorting makes them stale. */
    free(res->slots);
    res->slots = NULL;
    res->nslots = 0;
    if (res->n > 1)
        qsort(res->rows, res->n, sizeof *res->rows, cmp_rows);
    return rc;
}

/* --- slowest spans -------------------------------------------------------- */

struct cand {
    uint64_t max_dur;
    size_t blk;
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->max_dur != y->max_dur)
        return x->max_dur < y->max_dur ? 1 : -1;
    return x->blk < y->blk ? 1 : x->blk > y->blk ? -1 : 0; /* newer first */
}

/* better: a ranks before b (longer, then smaller trace id, then span id). */
static int better(const struct spanstats_span *a, const struct spanstats_span *b)
{
    if (a->duration_ns != b->duration_ns)
        return a->duration_ns > b->duration_ns;
    int c = memcmp(a->trace_id, b->trace_id, 16);
    if (c != 0)
        return c < 0;
    return a->span_id < b->span_id;
}

static void sift_down(struct spanstats_span *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l]))
            w = l;
        if (r < n && better(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        struct spanstats_span t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void sift_up(struct spanstats_span *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!better(&h[p], &h[i]))
            return;
        struct spanstats_span t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static int fill_span(struct spanstats_span *d, const struct span_row *s)
{
    memcpy(d->trace_id, s->trace_id, 16);
    d->span_id = s->span_id;
    d->parent_id = s->parent_id;
    d->start_ns = s->start_ns;
    d->duration_ns = s->duration_ns;
    d->status = s->status;
    d->service = dupn(s->service.p, s->service.len);
    d->operation = dupn(s->name.p, s->name.len);
    return d->service != NULL && d->operation != NULL ? 0 : TT_ENOMEM;
}

static int cmp_span_rank(const void *a, const void *b)
{
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

void spanstats_spans_free(struct spanstats_span *s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        free(s[i].service);
        free(s[i].operation);
    }
    free(s);
}

/* window_cands lists the blocks that overlap the window and may hold the
 * service and operation (filter NULL: every block in the window). */
static int window_cands(struct spanstore *ss, const struct spanstats_slow_query *q, int bloom,
                        struct cand **out, size_t *n)
{
    size_t nb = spanstore_nblocks(ss), k = 0;
    struct cand *c = malloc((nb ? nb : 1) * sizeof *c);
    if (c == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < nb; i++) {
        struct spanstore_block b;
        spanstore_block_info(ss, i, &b);
        if (b.max_start_ns < q->start_ns || b.min_start_ns > q->end_ns)
            continue;
        if (bloom && !spanstore_block_may_have(ss, i, q->service, q->operation))
            continue;
        c[k].max_dur = b.max_duration_ns;
        c[k].blk = i;
        k++;
    }
    *out = c;
    *n = k;
    return 0;
}

static int slow_match(const struct spanstats_slow_query *q, const struct span_row *s)
{
    return s->start_ns >= q->start_ns && s->start_ns <= q->end_ns &&
           (q->service == NULL || str_is(q->service, s->service)) &&
           (q->operation == NULL || str_is(q->operation, s->name));
}

int spanstats_slowest_spans(struct spanstore *ss, const struct spanstats_slow_query *q,
                            struct spanstats_span **out, size_t *n, uint64_t *visited)
{
    size_t limit = q->limit ? q->limit : DEFAULT_LIMIT, hn = 0, nc = 0;
    struct spanstats_span *heap = calloc(limit, sizeof *heap);
    struct cand *c = NULL;
    struct spanstore_reader rd;
    char err[256];
    uint64_t dec = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (heap == NULL)
        return TT_ENOMEM;
    spanstore_reader_init(&rd);
    spanstore_rdlock(ss);
    rc = window_cands(ss, q, 1, &c, &nc);
    if (rc != 0)
        goto out;
    qsort(c, nc, sizeof *c, cmp_cand);
    for (size_t k = 0; k < nc && rc == 0; k++) {
        /* No span of this block or any later one can beat the N-th found. */
        if (hn == limit && heap[0].duration_ns >= c[k].max_dur)
            break;
        int orc = spanstore_block_open(ss, c[k].blk, &rd);
        if (orc == TT_ENOMEM) {
            rc = orc;
            break;
        }
        if (orc != 0)
            continue;
        dec++;
        struct span_row s;
        int r;
        while ((r = spanblock_next(&rd.rd, &s, err, sizeof err)) == 1) {
            if (!slow_match(q, &s))
                continue;
            if (hn == limit && s.duration_ns < heap[0].duration_ns)
                continue;
            struct spanstats_span cand;
            memset(&cand, 0, sizeof cand);
            if (fill_span(&cand, &s) != 0) {
                free(cand.service);
                free(cand.operation);
                rc = TT_ENOMEM;
                break;
            }
            if (hn < limit) {
                heap[hn] = cand;
                sift_up(heap, hn++);
            } else if (better(&cand, &heap[0])) {
                free(heap[0].service);
                free(heap[0].operation);
                heap[0] = cand;
                sift_down(heap, hn, 0);
            } else {
                free(cand.service);
                free(cand.operation);
            }
        }
        if (r < 0)
            spanstore_block_problem(ss, c[k].blk, err);
    }
out:
    spanstore_rdunlock(ss);
    spanstore_reader_release(&rd);
    free(c);
    if (rc != 0) {
        spanstats_spans_free(heap, hn);
        return rc;
    }
    qsort(heap, hn, sizeof *heap, cmp_span_rank);
    *out = heap;
    *n = hn;
    if (visited != NULL)
        *visited = dec;
    return 0;
}

/* --- slowest traces ------------------------------------------------------- */

struct tent {
    uint8_t id[16];
    int64_t first_start, last_end;
    int64_t root_start;
    uint64_t root_dur;
    uint32_t spans, errors;
    uint32_t name; /* row of names: the root's, or the earliest span's, + 1 */
    uint8_t has_root, matches;
};

struct tmap {
    struct tent *e;
    size_t n, cap;
    uint32_t *slots;
    size_t nslots;
};

static size_t tid_hash(const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    a ^= b * 0x9e3779b97f4a7c15ull;
    a ^= a >> 29;
    a *= 0xbf58476d1ce4e5b9ull;
    return (size_t)(a ^ (a >> 32));
}

static int tmap_grow(struct tmap *m)
{
    size_t ns = m->nslots ? m->nslots * 2 : 4096;
    uint32_t *a = calloc(ns, sizeof *a);
    if (a == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = tid_hash(m->e[i].id) & (ns - 1);
        while (a[j] != 0)
            j = (j + 1) & (ns - 1);
        a[j] = (uint32_t)i + 1;
    }
    free(m->slots);
    m->slots = a;
    m->nslots = ns;
    return 0;
}

/* tmap_get finds or adds the trace's entry; NULL with *rc set. */
static struct tent *tmap_get(struct tmap *m, const uint8_t id[16], int *rc)
{
    if ((m->n + 1) * 2 > m->nslots && (*rc = tmap_grow(m)) != 0)
        return NULL;
    size_t j = tid_hash(id) & (m->nslots - 1);
    while (m->slots[j] != 0) {
        struct tent *e = &m->e[m->slots[j] - 1];
        if (memcmp(e->id, id, 16) == 0)
            return e;
        j = (j + 1) & (m->nslots - 1);
    }
    if (m->n >= SPANSTATS_MAX_TRACES) {
        *rc = TT_EFULL;
        return NULL;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 4096;
        struct tent *a = realloc(m->e, nc * sizeof *a);
        if (a == NULL) {
            *rc = TT_ENOMEM;
            return NULL;
        }
        m->e = a;
        m->cap = nc;
    }
    struct tent *e = &m->e[m->n];
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, 16);
    e->first_start = INT64_MAX;
    e->last_end = INT64_MIN;
    m->slots[j] = (uint32_t)++m->n;
    return e;
}

static uint64_t tent_dur(const struct tent *e)
{
    return e->has_root ? e->root_dur : (uint64_t)(e->last_end - e->first_start);
}

static int cmp_tent(const void *a, const void *b)
{
    const struct tent *x = *(const struct tent *const *)a, *y = *(const struct tent *const *)b;
    uint64_t dx = tent_dur(x), dy = tent_dur(y);
    if (dx != dy)
        return dx < dy ? 1 : -1;
    return memcmp(x->id, y->id, 16);
}

void spanstats_traces_free(struct spanstats_trace *t, size_t n)
{
    for (size_t i = 0; t != NULL && i < n; i++) {
        free(t[i].service);
        free(t[i].operation);
    }
    free(t);
}

static int trace_span(struct tmap *m, struct spanstats_result *names,
                      const struct spanstats_slow_query *q, const struct span_row *s)
{
    int rc = 0;
    struct tent *e = tmap_get(m, s->trace_id, &rc);
    if (e == NULL)
        return rc;
    int64_t end =
        s->start_ns + (int64_t)(s->duration_ns > INT64_MAX / 2 ? INT64_MAX / 2 : s->duration_ns);
    e->spans++;
    if (s->status == TT_STATUS_ERROR)
        e->errors++;
    if ((q->service == NULL || str_is(q->service, s->service)) &&
        (q->operation == NULL || str_is(q->operation, s->name)))
        e->matches = 1;
    int earliest = e->spans == 1 || s->start_ns < e->first_start;
    if (earliest)
        e->first_start = s->start_ns;
    if (end > e->last_end)
        e->last_end = end;
    if (s->parent_id == 0 && !e->has_root) {
        e->has_root = 1;
        e->root_dur = s->duration_ns;
        e->root_start = s->start_ns;
    } else if (!(earliest && !e->has_root)) {
        return 0; /* the names stay the root's or the earliest span's */
    }
    struct spanstats_row *row = row_for(names, s->service, &s->name);
    if (row == NULL)
        return TT_ENOMEM;
    e->name = (uint32_t)(row - names->rows) + 1;
    return 0;
}

int spanstats_slowest_traces(struct spanstore *ss, const struct spanstats_slow_query *q,
                             struct spanstats_trace **out, size_t *n)
{
    size_t limit = q->limit ? q->limit : DEFAULT_LIMIT, nc = 0, nm = 0;
    struct tmap m;
    struct spanstats_result names;
    struct spanstore_reader rd;
    struct cand *c = NULL;
    struct tent **sel = NULL;
    struct spanstats_trace *res = NULL;
    char err[256];
    int rc;

    *out = NULL;
    *n = 0;
    memset(&m, 0, sizeof m);
    spanstats_result_init(&names);
    spanstore_reader_init(&rd);
    spanstore_rdlock(ss);
    rc = window_cands(ss, q, 0, &c, &nc);
    for (size_t k = 0; k < nc && rc == 0; k++) {
        int orc = spanstore_block_open(ss, c[k].blk, &rd);
        if (orc == TT_ENOMEM) {
            rc = orc;
            break;
        }
        if (orc != 0)
            continue;
        struct span_row s;
        int r = 0;
        while (rc == 0 && (r = spanblock_next(&rd.rd, &s, err, sizeof err)) == 1) {
            if (s.start_ns >= q->start_ns && s.start_ns <= q->end_ns)
                rc = trace_span(&m, &names, q, &s);
        }
        if (rc == 0 && r < 0)
            spanstore_block_problem(ss, c[k].blk, err);
    }
    spanstore_rdunlock(ss);
    if (rc != 0)
        goto out;
    sel = malloc((m.n ? m.n : 1) * sizeof *sel);
    if (sel == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m.n; i++)
        if (m.e[i].matches)
            sel[nm++] = &m.e[i];
    qsort(sel, nm, sizeof *sel, cmp_tent);
    if (nm > limit)
        nm = limit;
    res = calloc(nm ? nm : 1, sizeof *res);
    if (res == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nm; i++) {
        const struct tent *e = sel[i];
        struct spanstats_trace *t = &res[i];
        memcpy(t->trace_id, e->id, 16);
        t->by_root = e->has_root;
        t->start_ns = e->has_root ? e->root_start : e->first_start;
        t->duration_ns = tent_dur(e);
        t->spans = e->spans;
        t->errors = e->errors;
        const struct spanstats_row *row = e->name ? &names.rows[e->name - 1] : NULL;
        t->service = row ? dupn(row->service, strlen(row->service)) : dupn("", 0);
        t->operation = row ? dupn(row->operation, strlen(row->operation)) : dupn("", 0);
        if (t->service == NULL || t->operation == NULL) {
            spanstats_traces_free(res, i + 1);
            res = NULL;
            rc = TT_ENOMEM;
            goto out;
        }
    }
    *out = res;
    *n = nm;
out:
    spanstore_reader_release(&rd);
    spanstats_result_release(&names);
    free(c);
    free(sel);
    free(m.e);
    free(m.slots);
    return rc;
}
