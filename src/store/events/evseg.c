/*
 * evseg.c - the events store's block codec (see evseg.h and
 * docs/design/events.md). Header: fixed little-endian fields, then the Bloom
 * filter; the header CRC covers all of it with its own field read as 0.
 */
#include "store/events/evseg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>
#include "core/compress.h"
#include "core/crc32c.h"

#define BLOOM_HASHES 4
#define ZSTD_LEVEL   3

uint64_t evseg_term_hash(char kind, const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    h ^= (uint8_t)kind;
    h *= 1099511628211ull;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (kind == 't' && c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a'); /* text tokens are case-insensitive */
        h ^= c;
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static void bloom_set(uint8_t *bloom, uint32_t bloom_len, uint64_t h)
{
    uint32_t mask = bloom_len * 8 - 1, h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
    for (uint32_t i = 0; i < BLOOM_HASHES; i++) {
        uint32_t bit = (h1 + i * h2) & mask;
        bloom[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

int evseg_bloom_maybe(const uint8_t *bloom, uint32_t bloom_len, uint64_t h)
{
    uint32_t mask = bloom_len * 8 - 1, h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
    for (uint32_t i = 0; i < BLOOM_HASHES; i++) {
        uint32_t bit = (h1 + i * h2) & mask;
        if (!(bloom[bit / 8] & (1u << (bit % 8))))
            return 0;
    }
    return 1;
}

static void add_term(struct evseg_builder *b, char kind, const char *p, size_t n)
{
    wbuf_put_u64(&b->terms, evseg_term_hash(kind, p, n));
}

size_t evseg_value_text(const struct rec_value *v, char *out, size_t outlen, const char **direct)
{
    int n = 0;
    *direct = NULL;
    switch (v->type) {
    case TT_VAL_STR:
        *direct = v->u.s.p;
        return v->u.s.len;
    case TT_VAL_INT:
        n = snprintf(out, outlen, "%" PRId64, v->u.i);
        break;
    case TT_VAL_DOUBLE:
        n = snprintf(out, outlen, "%.15g", v->u.d);
        if (n > 0 && (size_t)n < outlen) {
            double back = 0;
            if (sscanf(out, "%lf", &back) != 1 || back != v->u.d)
                n = snprintf(out, outlen, "%.17g", v->u.d);
        }
        break;
    case TT_VAL_BOOL:
        n = snprintf(out, outlen, "%s", v->u.b ? "true" : "false");
        break;
    default:
        n = snprintf(out, outlen, "%s", "");
        break;
    }
    if (n < 0)
        return 0;
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

static int tok_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

int evseg_next_token(const char *p, size_t n, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    while (i < n && !tok_byte((uint8_t)p[i]))
        i++;
    if (i >= n) {
        *pos = n;
        return 0;
    }
    size_t s = i;
    while (i < n && tok_byte((uint8_t)p[i]))
        i++;
    *start = s;
    *len = i - s;
    *pos = i;
    return 1;
}

void evseg_builder_init(struct evseg_builder *b)
{
    wbuf_init(&b->raw, EVSEG_MAX_RAW);
    wbuf_init(&b->keys, EVSEG_MAX_RAW);
    wbuf_init(&b->terms, 0);
    memset(&b->h, 0, sizeof b->h);
}

void evseg_builder_release(struct evseg_builder *b)
{
    wbuf_release(&b->raw);
    wbuf_release(&b->keys);
    wbuf_release(&b->terms);
}

void evseg_builder_reset(struct evseg_builder *b, uint64_t first_id)
{
    wbuf_reset(&b->raw);
    wbuf_reset(&b->keys);
    wbuf_reset(&b->terms);
    memset(&b->h, 0, sizeof b->h);
    b->h.first_id = first_id;
}

void evseg_builder_key(struct evseg_builder *b, uint64_t origin_id, uint64_t first_seq)
{
    if (b->h.nkeys == UINT16_MAX) {
        b->keys.err = TT_ETOOBIG;
        return;
    }
    wbuf_put_u64(&b->keys, origin_id);
    wbuf_put_u64(&b->keys, first_seq);
    b->h.nkeys++;
}

static void bloom_text(struct evseg_builder *b, const char *p, size_t n)
{
    size_t pos = 0, s, l;
    while (evseg_next_token(p, n, &pos, &s, &l))
        add_term(b, 't', p + s, l);
}

int evseg_builder_add(struct evseg_builder *b, const struct evseg_event *e)
{
    struct evseg_hdr *h = &b->h;
    if (h->count == UINT32_MAX)
        return TT_ETOOBIG;
    wbuf_put_svarint(&b->raw, e->time_ns);
    wbuf_put_uvarint(&b->raw, e->hlc);
    wbuf_put_u8(&b->raw, e->severity);
    wbuf_put_str(&b->raw, e->node.p, e->node.len);
    wbuf_put_str(&b->raw, e->process.p, e->process.len);
    wbuf_put_str(&b->raw, e->component.p, e->component.len);
    wbuf_put_str(&b->raw, e->name.p, e->name.len);
    wbuf_put_str(&b->raw, e->message.p, e->message.len);
    wbuf_put_u32(&b->raw, e->attrs.count);
    wbuf_put_u32(&b->raw, e->attrs.len);
    wbuf_put(&b->raw, e->attrs.bytes, e->attrs.len);
    if (b->raw.err)
        return b->raw.err;
    if (h->count == 0) {
        h->tmin = h->tmax = e->time_ns;
        h->hlc_min = h->hlc_max = e->hlc;
    } else {
        h->tmin = e->time_ns < h->tmin ? e->time_ns : h->tmin;
        h->tmax = e->time_ns > h->tmax ? e->time_ns : h->tmax;
        h->hlc_min = e->hlc < h->hlc_min ? e->hlc : h->hlc_min;
        h->hlc_max = e->hlc > h->hlc_max ? e->hlc : h->hlc_max;
    }
    h->sevmask |= (uint8_t)(1u << (e->severity & 7));
    h->count++;
    add_term(b, 'n', e->node.p, e->node.len);
    add_term(b, 'c', e->component.p, e->component.len);
    add_term(b, 'N', e->name.p, e->name.len);
    bloom_text(b, e->message.p, e->message.len);
    struct rec_list it = e->attrs;
    struct rec_str k;
    struct rec_value v;
    char num[64], kv[512];
    while (rec_kv_next(&it, &k, &v) == 1) {
        const char *direct;
        size_t vl = evseg_value_text(&v, num, sizeof num, &direct);
        const char *vp = direct ? direct : num;
        if (direct)
            bloom_text(b, vp, vl);
        if ((size_t)k.len + 1 + vl <= sizeof kv) {
            memcpy(kv, k.p, k.len);
            kv[k.len] = '=';
            memcpy(kv + k.len + 1, vp, vl);
            add_term(b, 'k', kv, (size_t)k.len + 1 + vl);
        }
    }
    return b->terms.err;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int evseg_builder_finish(struct evseg_builder *b, struct wbuf *out)
{
    struct evseg_hdr *h = &b->h;
    if (h->count == 0 && h->nkeys == 0)
        return 0;
    if (b->raw.err || b->keys.err || b->terms.err)
        return b->raw.err ? b->raw.err : b->keys.err ? b->keys.err : b->terms.err;
    /* The Bloom filter: about 10 bits per distinct term. */
    uint64_t *terms = (uint64_t *)(void *)b->terms.data;
    size_t nterms = b->terms.len / 8, distinct = 0;
    if (nterms > 0) {
        qsort(terms, nterms, sizeof *terms, cmp_u64);
        for (size_t i = 0; i < nterms; i++)
            if (i == 0 || terms[i] != terms[i - 1])
                terms[distinct++] = terms[i];
    }
    uint32_t bloom_len = EVSEG_BLOOM_MIN;
    while (bloom_len < EVSEG_BLOOM_MAX && (uint64_t)bloom_len * 8 < (uint64_t)distinct * 10)
        bloom_len *= 2;
    size_t raw_len = b->keys.len + b->raw.len;
    if (raw_len > EVSEG_MAX_RAW)
        return TT_ETOOBIG;
    size_t start = out->len;
    uint8_t *hp;
    uint32_t header_len = EVSEG_FIXED_LEN + bloom_len;
    if (wbuf_reserve(out, header_len) != 0)
        return out->err;
    out->len += header_len;
    /* Keys and entries are compressed as one frame. */
    struct wbuf tmp;
    wbuf_init(&tmp, EVSEG_MAX_RAW);
    wbuf_put(&tmp, b->keys.data, b->keys.len);
    wbuf_put(&tmp, b->raw.data, b->raw.len);
    int rc = tmp.err;
    if (rc == 0)
        rc = compress_body(out, BATCH_COMP_ZSTD, tmp.data, tmp.len, ZSTD_LEVEL);
    wbuf_release(&tmp);
    if (rc == 0 && out->err)
        rc = out->err;
    if (rc == 0 && out->len - start - header_len > EVSEG_MAX_STORED)
        rc = TT_ETOOBIG;
    if (rc != 0) {
        out->len = start;
        out->err = 0;
        return rc;
    }
    h->raw_len = (uint32_t)raw_len;
    h->stored_len = (uint32_t)(out->len - start - header_len);
    h->header_len = header_len;
    h->bloom_len = bloom_len;
    hp = out->data + start;
    memset(hp, 0, header_len);
    put_le32(hp + 0, EVSEG_MAGIC);
    put_le32(hp + 8, h->stored_len);
    put_le32(hp + 12, h->raw_len);
    hp[16] = 1; /* version */
    hp[17] = h->sevmask;
    put_le16(hp + 18, h->nkeys);
    put_le32(hp + 20, h->count);
    put_le64(hp + 24, h->first_id);
    put_le64(hp + 32, (uint64_t)h->tmin);
    put_le64(hp + 40, (uint64_t)h->tmax);
    put_le64(hp + 48, h->hlc_min);
    put_le64(hp + 56, h->hlc_max);
    put_le32(hp + 64, bloom_len);
    for (size_t i = 0; i < distinct; i++)
        bloom_set(hp + EVSEG_FIXED_LEN, bloom_len, terms[i]);
    h->bloom = NULL; /* the bytes are in out, which may move */
    put_le32(hp + 4, crc32c(0, hp, header_len));
    uint32_t bcrc = crc32c(0, hp + header_len, h->stored_len);
    wbuf_put_u32(out, bcrc);
    if (out->err) {
        out->len = start;
        out->err = 0;
        return TT_ENOMEM;
    }
    return 0;
}

int evseg_parse_header(const uint8_t *p, size_t avail, struct evseg_hdr *h, char *err,
                       size_t errlen)
{
    if (avail < EVSEG_FIXED_LEN) {
        snprintf(err, errlen, "block header: %zu bytes, need %d", avail, EVSEG_FIXED_LEN);
        return TT_ETRUNC;
    }
    if (get_le32(p) != EVSEG_MAGIC) {
        snprintf(err, errlen, "block header: bad magic 0x%08" PRIx32, get_le32(p));
        return TT_ECORRUPT;
    }
    uint32_t bloom_len = get_le32(p + 64);
    if (bloom_len < EVSEG_BLOOM_MIN || bloom_len > EVSEG_BLOOM_MAX ||
        (bloom_len & (bloom_len - 1)) != 0) {
        snprintf(err, errlen, "block header: bad Bloom filter length %" PRIu32, bloom_len);
        return TT_ECORRUPT;
    }
    uint32_t header_len = EVSEG_FIXED_LEN + bloom_len;
    if (avail < header_len) {
        snprintf(err, errlen, "block header: %zu bytes, need %" PRIu32, avail, header_len);
        return TT_ETRUNC;
    }
    uint8_t tmp[EVSEG_FIXED_LEN];
    memcpy(tmp, p, EVSEG_FIXED_LEN);
    memset(tmp + 4, 0, 4);
    uint32_t crc = crc32c(0, tmp, EVSEG_FIXED_LEN);
    crc = crc32c(crc, p + EVSEG_FIXED_LEN, bloom_len);
    if (crc != get_le32(p + 4)) {
        snprintf(err, errlen, "block header: CRC mismatch");
        return TT_ECORRUPT;
    }
    if (p[16] != 1) {
        snprintf(err, errlen, "block header: unknown version %u", p[16]);
        return TT_ECORRUPT;
    }
    memset(h, 0, sizeof *h);
    h->stored_len = get_le32(p + 8);
    h->raw_len = get_le32(p + 12);
    h->sevmask = p[17];
    h->nkeys = get_le16(p + 18);
    h->count = get_le32(p + 20);
    h->first_id = get_le64(p + 24);
    h->tmin = (int64_t)get_le64(p + 32);
    h->tmax = (int64_t)get_le64(p + 40);
    h->hlc_min = get_le64(p + 48);
    h->hlc_max = get_le64(p + 56);
    h->header_len = header_len;
    h->bloom_len = bloom_len;
    h->bloom = p + EVSEG_FIXED_LEN;
    if (h->stored_len > EVSEG_MAX_STORED || h->raw_len > EVSEG_MAX_RAW) {
        snprintf(err, errlen, "block header: body of %" PRIu32 " bytes (%" PRIu32 " raw) too big",
                 h->stored_len, h->raw_len);
        return TT_ECORRUPT;
    }
    /* An event takes 17 bytes at least (times, severity, 5 empty strings,
     * attrs header), a key 16. */
    if ((uint64_t)h->nkeys * 16 + (uint64_t)h->count * 17 > h->raw_len || h->tmin > h->tmax ||
        h->hlc_min > h->hlc_max) {
        snprintf(err, errlen, "block header: impossible counts or ranges");
        return TT_ECORRUPT;
    }
    return 0;
}

int evseg_open_body(const uint8_t *p, const struct evseg_hdr *h, struct wbuf *raw, char *err,
                    size_t errlen)
{
    const uint8_t *body = p + h->header_len;
    if (crc32c(0, body, h->stored_len) != get_le32(body + h->stored_len)) {
        snprintf(err, errlen, "block body: CRC mismatch");
        return TT_ECORRUPT;
    }
    wbuf_reset(raw);
    if (wbuf_reserve(raw, h->raw_len ? h->raw_len : 1) != 0) {
        snprintf(err, errlen, "block body: no memory for %" PRIu32 " bytes", h->raw_len);
        return TT_ENOMEM;
    }
    unsigned long long fcs = ZSTD_getFrameContentSize(body, h->stored_len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != h->raw_len)) {
        snprintf(err, errlen, "block body: not a zstd frame of %" PRIu32 " bytes", h->raw_len);
        return TT_ECORRUPT;
    }
    size_t n = ZSTD_decompress(raw->data, h->raw_len, body, h->stored_len);
    if (ZSTD_isError(n) || n != h->raw_len) {
        snprintf(err, errlen, "block body: decompression failed (%s)",
                 ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
        return TT_ECORRUPT;
    }
    raw->len = n;
    return 0;
}

int evseg_iter_init(struct evseg_iter *it, const struct evseg_hdr *h, const uint8_t *raw,
                    size_t raw_len, const uint8_t **keys)
{
    size_t kl = (size_t)h->nkeys * 16;
    if (kl > raw_len)
        return TT_ECORRUPT;
    if (keys)
        *keys = raw;
    rbuf_init(&it->r, raw + kl, raw_len - kl);
    it->h = h;
    it->i = 0;
    return 0;
}

static int get_str(struct rbuf *r, struct rec_str *s)
{
    size_t n = 0;
    const char *p = rbuf_str(r, &n);
    if (r->err || (p == NULL && n > 0))
        return -1;
    s->p = p ? p : "";
    s->len = (uint32_t)n;
    return 0;
}

int evseg_iter_next(struct evseg_iter *it, struct evseg_event *e, char *err, size_t errlen)
{
    struct rbuf *r = &it->r;
    if (it->i >= it->h->count) {
        if (rbuf_left(r) != 0) {
            snprintf(err, errlen, "block body: %zu bytes after the last event", rbuf_left(r));
            return TT_ECORRUPT;
        }
        return 0;
    }
    memset(e, 0, sizeof *e);
    e->id = it->h->first_id + it->i;
    e->time_ns = rbuf_svarint(r);
    e->hlc = rbuf_uvarint(r);
    e->severity = rbuf_u8(r);
    if (r->err || get_str(r, &e->node) || get_str(r, &e->process) || get_str(r, &e->component) ||
        get_str(r, &e->name) || get_str(r, &e->message))
        goto bad;
    e->attrs.count = rbuf_u32(r);
    e->attrs.len = rbuf_u32(r);
    if (r->err)
        goto bad;
    e->attrs.bytes = rbuf_bytes(r, e->attrs.len);
    e->attrs.prev = 0;
    /* A kv takes 2 bytes at least (an empty key, a NONE value). */
    if (r->err || (uint64_t)e->attrs.count * 2 > e->attrs.len ||
        (e->attrs.count == 0 && e->attrs.len != 0))
        goto bad;
    if (e->time_ns < it->h->tmin || e->time_ns > it->h->tmax || e->hlc < it->h->hlc_min ||
        e->hlc > it->h->hlc_max)
        goto bad;
    it->i++;
    return 1;
bad:
    snprintf(err, errlen, "block body: event %" PRIu32 " does not decode", it->i);
    return TT_ECORRUPT;
}
