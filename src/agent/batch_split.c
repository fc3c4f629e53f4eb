/*
 * batch_split.c - cutting an oversized core batch into self-contained pieces
 * that keep its seq range (see batch_split.h for the invariant).
 */
#include "agent/batch_split.h"

#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/compress.h"
#include "core/errmsg.h"
#include "core/record.h"

struct rinfo {
    size_t off, len; /* the record's bytes in the raw body */
    tt_hlc hlc;
    size_t need; /* samples: the smallest index of a series record it uses;
                  * else SIZE_MAX */
};

struct refidx {
    uint64_t ref;
    size_t idx;
};

struct split {
    const struct batch_hdr *h;
    const uint8_t *raw;
    struct rinfo *r;
    size_t *sufmin; /* sufmin[i]: min need over records i.. (SIZE_MAX past the end) */
    size_t max_bytes;
    struct wbuf *out;
    size_t npieces;
    struct wbuf tmp;
    char *err;
    size_t errlen;
};

static int cmp_refidx(const void *a, const void *b)
{
    const struct refidx *x = a, *y = b;
    if (x->ref != y->ref)
        return x->ref < y->ref ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* find_ref returns the smallest index of a series record declaring ref, or
 * SIZE_MAX (an undeclared ref constrains nothing: the server rejects it). */
static size_t find_ref(const struct refidx *m, size_t n, uint64_t ref)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m[mid].ref < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && m[lo].ref == ref ? m[lo].idx : SIZE_MAX;
}

/* encode_piece appends records [lo, hi) as one batch to s->tmp (reset first). */
static int encode_piece(struct split *s, size_t lo, size_t hi)
{
    struct batch_hdr h = *s->h;
    h.count = (uint32_t)(hi - lo);
    h.first_seq = s->h->first_seq + lo;
    h.hlc_min = h.hlc_max = s->r[lo].hlc;
    for (size_t i = lo; i < hi; i++) {
        if (s->r[i].hlc < h.hlc_min)
            h.hlc_min = s->r[i].hlc;
        if (s->r[i].hlc > h.hlc_max)
            h.hlc_max = s->r[i].hlc;
    }
    size_t a = s->r[lo].off, b = s->r[hi - 1].off + s->r[hi - 1].len;
    wbuf_reset(&s->tmp);
    return batch_encode_compressed(&s->tmp, &h, s->raw + a, b - a, BATCH_COMP_ZSTD);
}

static int cut(struct split *s, size_t lo, size_t hi)
{
    int rc = encode_piece(s, lo, hi);
    if (rc == 0 && s->tmp.len <= s->max_bytes) {
        wbuf_put(s->out, s->tmp.data, s->tmp.len);
        s->npieces++;
        return s->out->err;
    }
    if (rc < 0 && rc != TT_EINVAL) /* TT_EINVAL: the body is over BATCH_MAX_RAW */
        return rc;
    /* The allowed cut nearest the middle. */
    size_t mid = lo + (hi - lo) / 2, best = 0;
    for (size_t d = 0; d < hi - lo; d++) {
        if (mid + d < hi && mid + d > lo && s->sufmin[mid + d] >= mid + d) {
            best = mid + d;
            break;
        }
        if (mid >= d && mid - d > lo && s->sufmin[mid - d] >= mid - d) {
            best = mid - d;
            break;
        }
    }
    if (best == 0) {
        tt_set_err(s->err, s->errlen,
                   "records %zu..%zu of the batch (seq %llu..) are over %zu bytes and cannot be "
                   "cut further",
                   lo, hi - 1, (unsigned long long)(s->h->first_seq + lo), s->max_bytes);
        return TT_ETOOBIG;
    }
    rc = cut(s, lo, best);
    return rc < 0 ? rc : cut(s, best, hi);
}

int batch_split(const uint8_t *batch, size_t len, size_t max_bytes, struct wbuf *out,
                size_t *npieces, char *err, size_t errlen)
{
    struct batch_hdr h;
    struct wbuf scratch;
    struct split s;
    struct refidx *refs = NULL;
    size_t nrefs = 0, nrec = 0;
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    int rc;

    *npieces = 0;
    memset(&s, 0, sizeof s);
    wbuf_init(&scratch, BATCH_MAX_RAW);
    wbuf_init(&s.tmp, 0);
    rc = batch_parse_header(batch, len, &h, err, errlen);
    if (rc < 0)
        goto out;
    if (batch_total_len(&h) != len) {
        tt_set_err(err, errlen, "batch_split: %zu bytes given, the batch has %zu", len,
                   batch_total_len(&h));
        rc = TT_ECORRUPT;
        goto out;
    }
    if (len <= max_bytes) {
        wbuf_put(out, batch, len);
        *npieces = 1;
        rc = out->err;
        goto out;
    }
    rc = batch_open(batch, &h, &scratch, &raw, &raw_len, err, errlen);
    if (rc < 0)
        goto out;
    s.r = calloc(h.count ? h.count : 1, sizeof *s.r);
    s.sufmin = calloc((size_t)h.count + 1, sizeof *s.sufmin);
    refs = calloc(h.count ? h.count : 1, sizeof *refs);
    if (s.r == NULL || s.sufmin == NULL || refs == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    struct rbuf rb;
    rbuf_init(&rb, raw, raw_len);
    for (;;) {
        struct rec r;
        size_t at = raw_len - rbuf_left(&rb);
        rc = rec_next(&rb, raw, &r, err, errlen);
        if (rc < 0)
            goto out;
        if (rc == 0)
            break;
        if (nrec == h.count) {
            tt_set_err(err, errlen, "batch_split: more records than the header's %u", h.count);
            rc = TT_ECORRUPT;
            goto out;
        }
        s.r[nrec] = (struct rinfo){ at, raw_len - rbuf_left(&rb) - at, r.hlc, SIZE_MAX };
        if (r.type == REC_SERIES) {
            struct rec_series se;
            rc = rec_decode_series(&r, &se, err, errlen);
            if (rc < 0)
                goto out;
            refs[nrefs++] = (struct refidx){ se.ref, nrec };
        } else if (r.type == REC_SAMPLES) {
            struct rec_samples sa;
            struct rec_sample_iter it;
            struct rec_sample x;
            rc = rec_decode_samples(&r, &sa, err, errlen);
            if (rc < 0)
                goto out;
            qsort(refs, nrefs, sizeof *refs, cmp_refidx);
            rec_sample_iter_init(&it, &sa);
            while ((rc = rec_sample_next(&it, &x)) == 1) {
                size_t i = find_ref(refs, nrefs, x.ref);
                if (i < s.r[nrec].need)
                    s.r[nrec].need = i;
            }
            if (rc < 0) {
                tt_set_err(err, errlen, "batch_split: record %zu: malformed samples", nrec);
                goto out;
            }
        }
        nrec++;
    }
    if (nrec != h.count) {
        tt_set_err(err, errlen, "batch_split: %zu records, the header says %u", nrec, h.count);
        rc = TT_ECORRUPT;
        goto out;
    }
    s.sufmin[nrec] = SIZE_MAX;
    for (size_t i = nrec; i-- > 0;)
        s.sufmin[i] = s.r[i].need < s.sufmin[i + 1] ? s.r[i].need : s.sufmin[i + 1];
    s.h = &h;
    s.raw = raw;
    s.max_bytes = max_bytes;
    s.out = out;
    s.err = err;
    s.errlen = errlen;
    if (nrec == 0) {
        tt_set_err(err, errlen, "batch_split: an empty batch of %zu bytes is over %zu", len,
                   max_bytes);
        rc = TT_ETOOBIG;
        goto out;
    }
    rc = cut(&s, 0, nrec);
    *npieces = s.npieces;
out:
    free(s.r);
    free(s.sufmin);
    free(refs);
    wbuf_release(&s.tmp);
    wbuf_release(&scratch);
    return rc;
}
