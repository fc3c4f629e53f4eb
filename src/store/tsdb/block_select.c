/*
 * block_select.c - selecting a block's series by matchers and listing label
 * names and values (block.h), over the postings of the mapped index.
 *
 * The rules are index_select's (index.h, docs/design/tsdb.md "Index"): a
 * missing label has the empty value; each matcher becomes a set of series
 * that it accepts (positive) or rejects (negative); positive sets are
 * intersected smallest first, negative ones subtracted; with no positive set
 * the start is every series. Finite-set matchers look their values up by
 * binary search (symbols are sorted, so a name's values are too); others scan
 * the name's values. Postings are delta-coded in the index and decoded into
 * arrays here.
 */
#include <stdlib.h>
#include <string.h>
#include "store/tsdb/block.h"
#include "store/tsdb/block_int.h"
#include "telltale.h"

static int cmp_bytes(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c)
        return c;
    return (na > nb) - (na < nb);
}

/* find_name: the index of name s in b->names, or -1. */
static long find_name(const struct block *b, const char *s)
{
    size_t n = strlen(s);
    size_t lo = 0, hi = b->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t sym = b->names[mid].sym;
        int c = cmp_bytes(block_sym(b, sym), b->symlen[sym], s, n);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* find_pair: the pair of value s[0..n) of name nm, or -1. */
static long find_pair(const struct block *b, const struct bname *nm, const char *s, size_t n)
{
    size_t lo = nm->first_pair, hi = (size_t)nm->first_pair + nm->npairs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t sym = b->pairs[mid].sym;
        int c = cmp_bytes(block_sym(b, sym), b->symlen[sym], s, n);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* append_postings decodes a checked list onto the end of out. */
static int append_postings(const struct block *b, size_t off, struct postings *out)
{
    struct rbuf r;
    rbuf_init(&r, b->ix + off, b->ixlen - off);
    uint64_t n = rbuf_uvarint(&r);
    if (postings_reserve(out, out->n + (size_t)n) != 0)
        return TT_ENOMEM;
    uint32_t id = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t d = (uint32_t)rbuf_uvarint(&r);
        id = i == 0 ? d : id + d + 1;
        out->ids[out->n++] = id;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* sort_disjoint sorts the concatenation of disjoint lists: through a bitmap
 * when dense, qsort otherwise. */
static int sort_disjoint(struct postings *p, uint32_t nseries)
{
    if (p->n < 2)
        return 0;
    if (p->n < nseries / 32) {
        qsort(p->ids, p->n, sizeof *p->ids, cmp_u32);
        return 0;
    }
    uint64_t *bits = calloc((size_t)nseries / 64 + 1, sizeof *bits);
    if (bits == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < p->n; i++)
        bits[p->ids[i] >> 6] |= UINT64_C(1) << (p->ids[i] & 63);
    size_t k = 0;
    for (size_t w = 0; w <= (size_t)nseries / 64; w++) {
        uint64_t x = bits[w];
        while (x) {
            p->ids[k++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(x));
            x &= x - 1;
        }
    }
    p->n = k;
    free(bits);
    return 0;
}

enum plan_state { PLAN_GO, PLAN_SKIP, PLAN_EMPTY };

struct plan {
    enum plan_state state;
    int neg;
    struct postings set;
};

/* plan_make computes the set matcher m accepts (neg 0) or rejects (neg 1). */
static int plan_make(const struct block *b, struct matcher *m, struct plan *pl)
{
    long ni = find_name(b, matcher_name(m));
    int empty = matcher_matches_empty(m);
    if (ni < 0) {
        pl->state = empty ? PLAN_SKIP : PLAN_EMPTY;
        return 0;
    }
    const struct bname *nm = &b->names[ni];
    int use_np = 0;
    int rc = 0;
    if (matcher_matches_all_nonempty(m)) {
        if (empty) {
            pl->state = PLAN_SKIP;
            return 0;
        }
        use_np = 1;
    } else {
        const char *const *vals;
        const size_t *lens;
        long k = matcher_set(m, &vals, &lens);
        if (k >= 0) {
            int positive = matcher_type(m) == MATCH_EQ || matcher_type(m) == MATCH_RE;
            for (long i = 0; i < k && rc == 0; i++) {
                if (lens[i] == 0)
                    continue;
                long p = find_pair(b, nm, vals[i], lens[i]);
                if (p >= 0)
                    rc = append_postings(b, b->pairs[p].post, &pl->set);
            }
            /* positive: accepts S (plus the label-less when "" is in the set);
             * negative: accepts all but S (minus the label-less when "" is). */
            use_np = positive ? empty : !empty;
        } else {
            for (uint32_t i = 0; i < nm->npairs && rc == 0; i++) {
                const struct bpair *pr = &b->pairs[nm->first_pair + i];
                int hit = matcher_matches(m, block_sym(b, pr->sym), b->symlen[pr->sym]);
                if (hit != empty)
                    rc = append_postings(b, pr->post, &pl->set);
            }
        }
        if (rc == 0)
            rc = sort_disjoint(&pl->set, b->nseries);
    }
    pl->neg = empty;
    pl->state = PLAN_GO;
    if (rc == 0 && use_np) {
        struct postings np, d;
        postings_init(&np);
        postings_init(&d);
        rc = append_postings(b, nm->post, &np);
        if (rc == 0)
            rc = postings_difference(&d, np.ids, np.n, pl->set.ids, pl->set.n);
        postings_release(&np);
        postings_release(&pl->set);
        pl->set = d;
    }
    return rc;
}

/* select_ids: the sorted ids of the series every matcher accepts. */
static int select_ids(const struct block *b, struct matcher *const *ms, size_t nms,
                      struct postings *out)
{
    int rc = 0;
    struct plan *plans = calloc(nms + 1, sizeof *plans);
    out->n = 0;
    if (plans == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < nms; i++)
        postings_init(&plans[i].set);
    for (size_t i = 0; i < nms && rc == 0; i++) {
        rc = plan_make(b, ms[i], &plans[i]);
        if (rc == 0 && plans[i].state == PLAN_EMPTY)
            goto out;
    }
    if (rc)
        goto out;
    struct postings_term *t = calloc(nms + 1, sizeof *t);
    if (t == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nms; i++)
        t[i] = (struct postings_term){ &plans[i].set, plans[i].neg, plans[i].state != PLAN_GO };
    rc = postings_combine(out, t, nms, b->nseries);
    free(t);
out:
    for (size_t i = 0; i < nms; i++)
        postings_release(&plans[i].set);
    free(plans);
    if (rc)
        out->n = 0;
    return rc;
}

/* overlaps: 1 when series id has a chunk overlapping [mint, maxt]. */
static int overlaps(const struct block *b, uint32_t id, int64_t mint, int64_t maxt)
{
    struct bcursor c;
    struct bchunk ch;
    block_cursor_init(b, id, &c);
    while (block_cursor_next(&c, &ch)) {
        if (ch.mint > maxt)
            return 0;
        if (ch.maxt >= mint)
            return 1;
    }
    return 0;
}

static size_t label_count(const struct block *b, uint32_t id)
{
    struct rbuf r;
    rbuf_init(&r, b->ix + b->seroff[id], b->ixlen - b->seroff[id]);
    return (size_t)rbuf_uvarint(&r);
}

int block_select(struct block *b, struct matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
                 struct block_series_set **out)
{
    *out = NULL;
    struct postings sel;
    postings_init(&sel);
    struct block_series_set *ss = calloc(1, sizeof *ss);
    int rc = ss ? 0 : TT_ENOMEM;
    if (rc == 0 && mint <= maxt && mint <= b->maxt && maxt >= b->mint)
        rc = select_ids(b, ms, nms, &sel);
    if (rc)
        goto fail;
    ss->b = b;
    if (mint > b->mint || maxt < b->maxt) {
        size_t k = 0;
        for (size_t i = 0; i < sel.n; i++) {
            if (overlaps(b, sel.ids[i], mint, maxt))
                sel.ids[k++] = sel.ids[i];
        }
        sel.n = k;
    }
    size_t nl = 0;
    for (size_t i = 0; i < sel.n; i++)
        nl += label_count(b, sel.ids[i]);
    ss->ids = malloc((sel.n + 1) * sizeof *ss->ids);
    ss->ls = calloc(sel.n + 1, sizeof *ss->ls);
    ss->lab = malloc((nl + 1) * sizeof *ss->lab);
    ss->cache = bcache_new(b);
    if (ss->ids == NULL || ss->ls == NULL || ss->lab == NULL || ss->cache == NULL) {
        rc = TT_ENOMEM;
        goto fail;
    }
    ss->n = sel.n;
    size_t at = 0;
    for (size_t i = 0; i < sel.n; i++) {
        uint32_t id = sel.ids[i];
        ss->ids[i] = id;
        struct rbuf r;
        rbuf_init(&r, b->ix + b->seroff[id], b->ixlen - b->seroff[id]);
        size_t n = (size_t)rbuf_uvarint(&r);
        ss->ls[i].v = ss->lab + at;
        ss->ls[i].n = ss->ls[i].cap = n;
        for (size_t k = 0; k < n; k++) {
            ss->lab[at].name = block_sym(b, (uint32_t)rbuf_uvarint(&r));
            ss->lab[at].value = block_sym(b, (uint32_t)rbuf_uvarint(&r));
            at++;
        }
    }
    postings_release(&sel);
    *out = ss;
    return 0;
fail:
    postings_release(&sel);
    block_series_set_free(ss);
    return rc;
}

size_t block_series_set_count(const struct block_series_set *ss)
{
    return ss->n;
}

const struct labels *block_series_set_labels(const struct block_series_set *ss, size_t i)
{
    return &ss->ls[i];
}

void block_series_set_free(struct block_series_set *ss)
{
    if (ss == NULL)
        return;
    free(ss->ids);
    free(ss->ls);
    free(ss->lab);
    bcache_unref(ss->cache);
    free(ss);
}

/* ---- listings --------------------------------------------------------------------------- */

/* strs_alloc makes room for n strings in out. */
static int strs_alloc(struct index_strs *out, size_t n)
{
    out->n = 0;
    out->v = malloc((n + 1) * sizeof *out->v);
    return out->v ? 0 : TT_ENOMEM;
}

int block_label_names(struct block *b, struct matcher *const *ms, size_t nms,
                      struct index_strs *out)
{
    out->v = NULL;
    out->n = 0;
    if (strs_alloc(out, b->nnames) != 0)
        return TT_ENOMEM;
    if (nms == 0) {
        for (uint32_t i = 0; i < b->nnames; i++)
            out->v[out->n++] = block_sym(b, b->names[i].sym);
        return 0;
    }
    struct postings sel;
    postings_init(&sel);
    uint8_t *mark = calloc((size_t)b->nsyms + 1, 1);
    int rc = mark ? select_ids(b, ms, nms, &sel) : TT_ENOMEM;
    for (size_t i = 0; i < sel.n && rc == 0; i++) {
        struct rbuf r;
        rbuf_init(&r, b->ix + b->seroff[sel.ids[i]], b->ixlen - b->seroff[sel.ids[i]]);
        uint64_t n = rbuf_uvarint(&r);
        for (uint64_t k = 0; k < n; k++) {
            mark[rbuf_uvarint(&r)] = 1;
            (void)rbuf_uvarint(&r);
        }
    }
    for (uint32_t i = 0; i < b->nnames && rc == 0; i++) {
        if (mark[b->names[i].sym])
            out->v[out->n++] = block_sym(b, b->names[i].sym);
    }
    free(mark);
    postings_release(&sel);
    if (rc)
        index_strs_release(out);
    return rc;
}

int block_label_values(struct block *b, const char *name, struct matcher *const *ms, size_t nms,
                       struct index_strs *out)
{
    out->v = NULL;
    out->n = 0;
    long ni = find_name(b, name);
    const struct bname *nm = ni >= 0 ? &b->names[ni] : NULL;
    if (strs_alloc(out, nm ? nm->npairs : 0) != 0)
        return TT_ENOMEM;
    if (nm == NULL)
        return 0;
    if (nms == 0) {
        for (uint32_t i = 0; i < nm->npairs; i++)
            out->v[out->n++] = block_sym(b, b->pairs[nm->first_pair + i].sym);
        return 0;
    }
    struct postings sel;
    postings_init(&sel);
    uint8_t *mark = calloc((size_t)b->nsyms + 1, 1);
    int rc = mark ? select_ids(b, ms, nms, &sel) : TT_ENOMEM;
    for (size_t i = 0; i < sel.n && rc == 0; i++) {
        struct rbuf r;
        rbuf_init(&r, b->ix + b->seroff[sel.ids[i]], b->ixlen - b->seroff[sel.ids[i]]);
        uint64_t n = rbuf_uvarint(&r);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t s = rbuf_uvarint(&r), v = rbuf_uvarint(&r);
            if (s == nm->sym) {
                mark[v] = 1;
                break;
            }
        }
    }
    for (uint32_t i = 0; i < nm->npairs && rc == 0; i++) {
        uint32_t v = b->pairs[nm->first_pair + i].sym;
        if (mark[v])
            out->v[out->n++] = block_sym(b, v);
    }
    free(mark);
    postings_release(&sel);
    if (rc)
        index_strs_release(out);
    return rc;
}
