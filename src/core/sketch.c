/*
 * sketch.c - the mergeable quantile sketch (sketch.h).
 *
 * Buckets are kept sparse: two parallel arrays sorted by index, so a span
 * store block's summary of a few thousand durations costs a few hundred
 * buckets, and a merge is one pass over both lists. Encoding (all uvarints
 * after two bytes):
 *
 *   u8 format (1), u8 p (SKETCH_P), count,
 *   and when count > 0: min, max - min, sum, nb,
 *   nb x (index gap, count - 1)
 *
 * where the first gap is the first index itself and the others are
 * index - previous index - 1 (indexes are >= 0: values are unsigned).
 */
#include "core/sketch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"

void sketch_init(struct sketch *s)
{
    memset(s, 0, sizeof *s);
}

void sketch_release(struct sketch *s)
{
    free(s->idx);
    free(s->cnt);
    sketch_init(s);
}

void sketch_reset(struct sketch *s)
{
    s->count = s->sum = s->min = s->max = 0;
    s->nb = 0;
}

static int grow(struct sketch *s, uint32_t want)
{
    if (want <= s->cap)
        return 0;
    uint32_t nc = s->cap ? s->cap : 16;
    while (nc < want)
        nc *= 2;
    int32_t *ni = realloc(s->idx, (size_t)nc * sizeof *ni);
    if (ni == NULL)
        return TT_ENOMEM;
    s->idx = ni;
    uint64_t *nn = realloc(s->cnt, (size_t)nc * sizeof *nn);
    if (nn == NULL)
        return TT_ENOMEM;
    s->cnt = nn;
    s->cap = nc;
    return 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int32_t index_of(uint64_t v)
{
    return loglin_index((double)v, SKETCH_P);
}

int32_t sketch_index(uint64_t v)
{
    return index_of(v);
}

int sketch_set_buckets(struct sketch *s, int32_t lo, const uint64_t *cnt, uint32_t n,
                       uint64_t count, uint64_t sum, uint64_t min, uint64_t max)
{
    uint32_t nz = 0;
    uint64_t total = 0;
    sketch_reset(s);
    if (lo < 0 || (int64_t)lo + n > (int64_t)LOGLIN_MAX_INDEX(SKETCH_P) + 1)
        return TT_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        nz += cnt[i] != 0;
    if (grow(s, nz) != 0)
        return TT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        if (cnt[i] == 0)
            continue;
        s->idx[s->nb] = lo + (int32_t)i;
        s->cnt[s->nb++] = cnt[i];
        total += cnt[i];
    }
    if (total != count) {
        sketch_reset(s);
        return TT_EINVAL;
    }
    s->count = count;
    s->sum = sum;
    s->min = min;
    s->max = max;
    return 0;
}

int sketch_add(struct sketch *s, uint64_t v)
{
    int32_t k = index_of(v);
    /* Durations usually land near the last bucket touched: look there first. */
    uint32_t lo = 0, hi = s->nb;
    if (s->nb > 0 && s->idx[s->nb - 1] < k) {
        lo = hi = s->nb;
    } else {
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (s->idx[mid] < k)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    if (lo == s->nb || s->idx[lo] != k) {
        if (grow(s, s->nb + 1) != 0)
            return TT_ENOMEM;
        memmove(s->idx + lo + 1, s->idx + lo, (size_t)(s->nb - lo) * sizeof *s->idx);
        memmove(s->cnt + lo + 1, s->cnt + lo, (size_t)(s->nb - lo) * sizeof *s->cnt);
        s->idx[lo] = k;
        s->cnt[lo] = 0;
        s->nb++;
    }
    s->cnt[lo]++;
    if (s->count == 0 || v < s->min)
        s->min = v;
    if (s->count == 0 || v > s->max)
        s->max = v;
    s->count++;
    s->sum = add_sat(s->sum, v);
    return 0;
}

int sketch_merge(struct sketch *dst, const struct sketch *src)
{
    if (src->count == 0)
        return 0;
    /* Count the union first, then merge from the back in place. */
    uint32_t i = 0, j = 0, n = 0;
    while (i < dst->nb || j < src->nb) {
        if (j == src->nb || (i < dst->nb && dst->idx[i] < src->idx[j]))
            i++;
        else if (i == dst->nb || src->idx[j] < dst->idx[i])
            j++;
        else
            i++, j++;
        n++;
    }
    if (grow(dst, n) != 0)
        return TT_ENOMEM;
    int64_t a = (int64_t)dst->nb - 1, b = (int64_t)src->nb - 1, o = (int64_t)n - 1;
    while (b >= 0) {
        if (a >= 0 && dst->idx[a] > src->idx[b]) {
            dst->idx[o] = dst->idx[a];
            dst->cnt[o] = dst->cnt[a];
            a--;
        } else if (a >= 0 && dst->idx[a] == src->idx[b]) {
            dst->idx[o] = dst->idx[a];
            dst->cnt[o] = dst->cnt[a] + src->cnt[b];
            a--, b--;
        } else {
            dst->idx[o] = src->idx[b];
            dst->cnt[o] = src->cnt[b];
            b--;
        }
        o--;
    }
    dst->nb = n;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum = add_sat(dst->sum, src->sum);
    return 0;
}

uint64_t sketch_quantile(const struct sketch *s, double q)
{
    if (s->count == 0)
        return 0;
    if (!(q > 0)) /* also NaN */
        return s->min;
    if (q >= 1)
        return s->max;
    uint64_t rank = (uint64_t)(q * (double)(s->count - 1));
    if (rank == 0)
        return s->min;
    if (rank >= s->count - 1)
        return s->max;
    uint64_t cum = 0;
    for (uint32_t i = 0; i < s->nb; i++) {
        cum += s->cnt[i];
        if (cum > rank) {
            double mid = loglin_mid(s->idx[i], SKETCH_P);
            if (mid <= (double)s->min)
                return s->min;
            if (mid >= (double)s->max)
                return s->max;
            return (uint64_t)(mid + 0.5);
        }
    }
    return s->max;
}

double sketch_mean(const struct sketch *s)
{
    return s->count ? (double)s->sum / (double)s->count : 0.0;
}

void sketch_encode(const struct sketch *s, struct wbuf *out)
{
    wbuf_put_u8(out, SKETCH_FORMAT);
    wbuf_put_u8(out, SKETCH_P);
    wbuf_put_uvarint(out, s->count);
    if (s->count == 0)
        return;
    wbuf_put_uvarint(out, s->min);
    wbuf_put_uvarint(out, s->max - s->min);
    wbuf_put_uvarint(out, s->sum);
    wbuf_put_uvarint(out, s->nb);
    int32_t prev = -1;
    for (uint32_t i = 0; i < s->nb; i++) {
        wbuf_put_uvarint(out, (uint64_t)(s->idx[i] - prev - 1));
        wbuf_put_uvarint(out, s->cnt[i] - 1);
        prev = s->idx[i];
    }
}

static int bad(struct sketch *s, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "sketch: %s", what);
    sketch_reset(s);
    return TT_ECORRUPT;
}

int sketch_decode(struct sketch *s, struct rbuf *r, char *err, size_t errlen)
{
    sketch_reset(s);
    uint8_t fmt = rbuf_u8(r), p = rbuf_u8(r);
    uint64_t count = rbuf_uvarint(r);
    if (r->err)
        return bad(s, err, errlen, "truncated header");
    if (fmt != SKETCH_FORMAT || p != SKETCH_P)
        return bad(s, err, errlen, "unknown format or precision");
    if (count == 0)
        return 0;
    uint64_t min = rbuf_uvarint(r), span = rbuf_uvarint(r), sum = rbuf_uvarint(r);
    uint64_t nb = rbuf_uvarint(r);
    if (r->err)
        return bad(s, err, errlen, "truncated header");
    if (span > UINT64_MAX - min)
        return bad(s, err, errlen, "max out of range");
    if (nb == 0 || nb > SKETCH_MAX_BUCKETS || nb > count)
        return bad(s, err, errlen, "bad bucket count");
    /* Each bucket takes at least two bytes: refuse counts the input cannot
     * hold before allocating for them. */
    if (nb > rbuf_left(r) / 2)
        return bad(s, err, errlen, "truncated buckets");
    if (grow(s, (uint32_t)nb) != 0)
        return TT_ENOMEM;
    int64_t prev = -1;
    uint64_t total = 0;
    for (uint64_t i = 0; i < nb; i++) {
        uint64_t gap = rbuf_uvarint(r), c = rbuf_uvarint(r);
        if (r->err)
            return bad(s, err, errlen, "truncated buckets");
        if (gap > (uint64_t)LOGLIN_MAX_INDEX(SKETCH_P) ||
            prev + 1 + (int64_t)gap > LOGLIN_MAX_INDEX(SKETCH_P))
            return bad(s, err, errlen, "bucket index out of range");
        if (c >= count || total > count - 1 - c)
            return bad(s, err, errlen, "bucket counts exceed the count");
        prev = prev + 1 + (int64_t)gap;
        s->idx[i] = (int32_t)prev;
        s->cnt[i] = c + 1;
        total += c + 1;
    }
    if (total != count)
        return bad(s, err, errlen, "bucket counts do not add up to the count");
    uint64_t max = min + span;
    if (index_of(min) != s->idx[0] || index_of(max) != s->idx[nb - 1])
        return bad(s, err, errlen, "min or max outside the outer buckets");
    if (sum < min || (sum != UINT64_MAX && (double)sum > (double)max * (double)count * 1.000001))
        return bad(s, err, errlen, "sum inconsistent with min, max and count");
    s->nb = (uint32_t)nb;
    s->count = count;
    s->min = min;
    s->max = max;
    s->sum = sum;
    return 0;
}
