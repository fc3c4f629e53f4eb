/*
 * spansum.c - per-block span summaries (spansum.h). Building keeps the
 * groups in first-seen order in a plain array: a block holds a few dozen
 * (service, operation) pairs, and consecutive spans mostly share one, which
 * the "last" shortcut catches before the linear search.
 */
#include "store/spans/spansum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "core/crc32c.h"
#include "telltale.h"

void spansum_init(struct spansum *s)
{
    memset(s, 0, sizeof *s);
}

static void group_free(struct spansum_group *g)
{
    free(g->service);
    free(g->operation);
    sketch_release(&g->sk);
}

void spansum_release(struct spansum *s)
{
    for (size_t i = 0; i < s->n; i++)
        group_free(&s->g[i]);
    free(s->g);
    spansum_init(s);
}

void spansum_reset(struct spansum *s)
{
    for (size_t i = 0; i < s->n; i++)
        group_free(&s->g[i]);
    s->n = 0;
    s->last = 0;
}

static int same(const struct spansum_group *g, const struct span_row *r)
{
    return g->slen == r->service.len && g->olen == r->name.len &&
           memcmp(g->service, r->service.p, g->slen) == 0 &&
           memcmp(g->operation, r->name.p, g->olen) == 0;
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

int spansum_add(struct spansum *s, const struct span_row *r)
{
    struct spansum_group *g = NULL;
    if (s->last < s->n && same(&s->g[s->last], r)) {
        g = &s->g[s->last];
    } else {
        for (size_t i = 0; i < s->n; i++) {
            if (same(&s->g[i], r)) {
                g = &s->g[i];
                s->last = i;
                break;
            }
        }
    }
    if (g == NULL) {
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 16;
            struct spansum_group *a = realloc(s->g, nc * sizeof *a);
            if (a == NULL)
                return TT_ENOMEM;
            s->g = a;
            s->cap = nc;
        }
        g = &s->g[s->n];
        memset(g, 0, sizeof *g);
        g->service = dupn(r->service.p, r->service.len);
        g->operation = dupn(r->name.p, r->name.len);
        if (g->service == NULL || g->operation == NULL) {
            group_free(g);
            return TT_ENOMEM;
        }
        g->slen = r->service.len;
        g->olen = r->name.len;
        sketch_init(&g->sk);
        s->last = s->n++;
    }
    if (sketch_add(&g->sk, r->duration_ns) != 0)
        return TT_ENOMEM;
    if (r->status == TT_STATUS_ERROR)
        g->errors++;
    return 0;
}

void spansum_encode(const struct spansum *s, uint64_t block_off, uint32_t block_len,
                    struct wbuf *out, int level)
{
    size_t start = out->len;
    struct wbuf sk, raw;
    wbuf_init(&sk, 0);
    wbuf_init(&raw, 0);
    for (size_t i = 0; i < s->n; i++) {
        const struct spansum_group *g = &s->g[i];
        wbuf_reset(&sk);
        sketch_encode(&g->sk, &sk);
        if (sk.err && !raw.err)
            raw.err = sk.err;
        wbuf_put_str(&raw, g->service, g->slen);
        wbuf_put_str(&raw, g->operation, g->olen);
        wbuf_put_uvarint(&raw, g->errors);
        wbuf_put_uvarint(&raw, sk.len);
        wbuf_put(&raw, sk.data, sk.len);
    }
    wbuf_release(&sk);
    if (raw.err || raw.len > SPANSUM_MAX_LEN) {
        if (!out->err)
            out->err = raw.err ? raw.err : TT_ETOOBIG;
        goto out;
    }
    wbuf_put_u32(out, SPANSUM_MAGIC);
    wbuf_put_u32(out, 0); /* rec_len, set below */
    wbuf_put_u64(out, block_off);
    wbuf_put_u32(out, block_len);
    wbuf_put_u32(out, (uint32_t)s->n);
    size_t comp_at = out->len;
    wbuf_put_u8(out, 0);
    wbuf_put_u32(out, (uint32_t)raw.len);
    /* Compressed when that is smaller, else as it is. */
    size_t bound = ZSTD_compressBound(raw.len), zn = 0;
    if (raw.len > 64 && wbuf_reserve(out, bound) == 0) {
        zn = ZSTD_compress(out->data + out->len, bound, raw.data, raw.len, level > 0 ? level : 3);
        if (ZSTD_isError(zn) || zn >= raw.len)
            zn = 0;
    }
    if (zn > 0) {
        out->data[comp_at] = 1;
        out->len += zn;
    } else {
        wbuf_put(out, raw.data, raw.len);
    }
    if (out->err)
        goto out;
    wbuf_set_u32(out, start + 4, (uint32_t)(out->len - start + 4));
    wbuf_put_u32(out, crc32c(0, out->data + start, out->len - start));
out:
    wbuf_release(&raw);
}

int spansum_parse(const uint8_t *p, size_t avail, struct spansum_rec *rec, char *err, size_t errlen)
{
    if (avail < 8)
        return TT_ETRUNC;
    if (get_le32(p) != SPANSUM_MAGIC) {
        snprintf(err, errlen, "summary: bad magic");
        return TT_ECORRUPT;
    }
    uint32_t len = get_le32(p + 4);
    if (len < SPANSUM_FIXED_LEN + 4 || len > SPANSUM_MAX_LEN) {
        snprintf(err, errlen, "summary: bad record length %u", (unsigned)len);
        return TT_ECORRUPT;
    }
    if (len > avail)
        return TT_ETRUNC;
    if (crc32c(0, p, len - 4) != get_le32(p + len - 4)) {
        snprintf(err, errlen, "summary: CRC mismatch");
        return TT_ECORRUPT;
    }
    rec->rec_len = len;
    rec->block_off = get_le64(p + 8);
    rec->block_len = get_le32(p + 16);
    rec->ngroups = get_le32(p + 20);
    rec->comp = p[24];
    rec->raw_len = get_le32(p + 25);
    rec->stored = p + SPANSUM_FIXED_LEN;
    rec->stored_len = len - SPANSUM_FIXED_LEN - 4;
    rec->groups = NULL;
    rec->groups_len = 0;
    if (rec->comp > 1 || rec->raw_len > SPANSUM_MAX_LEN ||
        (rec->comp == 0 && rec->raw_len != rec->stored_len)) {
        snprintf(err, errlen, "summary: bad compression or raw length");
        return TT_ECORRUPT;
    }
    return 0;
}

void spansum_scratch_init(struct spansum_scratch *sc)
{
    wbuf_init(&sc->raw, 0);
    sc->dctx = NULL;
}

void spansum_scratch_release(struct spansum_scratch *sc)
{
    wbuf_release(&sc->raw);
    ZSTD_freeDCtx(sc->dctx);
    sc->dctx = NULL;
}

int spansum_open_groups(struct spansum_rec *rec, struct spansum_scratch *sc, char *err,
                        size_t errlen)
{
    if (rec->comp == 0) {
        rec->groups = rec->stored;
        rec->groups_len = rec->stored_len;
        return 0;
    }
    if (sc->dctx == NULL && (sc->dctx = ZSTD_createDCtx()) == NULL)
        return TT_ENOMEM;
    wbuf_reset(&sc->raw);
    if (wbuf_reserve(&sc->raw, rec->raw_len ? rec->raw_len : 1) != 0)
        return TT_ENOMEM;
    size_t n =
        ZSTD_decompressDCtx(sc->dctx, sc->raw.data, rec->raw_len, rec->stored, rec->stored_len);
    if (ZSTD_isError(n) || n != rec->raw_len) {
        snprintf(err, errlen, "summary: groups do not decompress");
        return TT_ECORRUPT;
    }
    rec->groups = sc->raw.data;
    rec->groups_len = rec->raw_len;
    return 0;
}

void spansum_iter_init(struct spansum_iter *it, const struct spansum_rec *rec)
{
    rbuf_init(&it->r, rec->groups, rec->groups_len);
    it->left = rec->ngroups;
}

int spansum_next(struct spansum_iter *it, struct rec_str *service, struct rec_str *operation,
                 uint64_t *errors, const uint8_t **sk_bytes, size_t *sk_len, char *err,
                 size_t errlen)
{
    size_t sn, on;
    if (it->left == 0) {
        if (rbuf_left(&it->r) != 0) {
            snprintf(err, errlen, "summary: bytes after the last group");
            return TT_ECORRUPT;
        }
        return 0;
    }
    const char *s = rbuf_str(&it->r, &sn);
    const char *o = rbuf_str(&it->r, &on);
    *errors = rbuf_uvarint(&it->r);
    uint64_t n = rbuf_uvarint(&it->r);
    if (it->r.err || n > rbuf_left(&it->r) || sn > UINT32_MAX || on > UINT32_MAX) {
        snprintf(err, errlen, "summary: truncated group");
        return TT_ECORRUPT;
    }
    *sk_bytes = rbuf_bytes(&it->r, (size_t)n);
    *sk_len = (size_t)n;
    service->p = s;
    service->len = (uint32_t)sn;
    operation->p = o;
    operation->len = (uint32_t)on;
    it->left--;
    return 1;
}
