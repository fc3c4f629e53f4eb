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
                    struct wbuf *out)
{
    size_t start = out->len;
    struct wbuf sk;
    wbuf_init(&sk, 0);
    wbuf_put_u32(out, SPANSUM_MAGIC);
    wbuf_put_u32(out, 0); /* rec_len, set below */
    wbuf_put_u64(out, block_off);
    wbuf_put_u32(out, block_len);
    wbuf_put_u32(out, (uint32_t)s->n);
    for (size_t i = 0; i < s->n; i++) {
        const struct spansum_group *g = &s->g[i];
        wbuf_reset(&sk);
        sketch_encode(&g->sk, &sk);
        if (sk.err && !out->err)
            out->err = sk.err;
        wbuf_put_str(out, g->service, g->slen);
        wbuf_put_str(out, g->operation, g->olen);
        wbuf_put_uvarint(out, g->errors);
        wbuf_put_uvarint(out, sk.len);
        wbuf_put(out, sk.data, sk.len);
    }
    wbuf_release(&sk);
    if (out->err)
        return;
    wbuf_set_u32(out, start + 4, (uint32_t)(out->len - start + 4));
    wbuf_put_u32(out, crc32c(0, out->data + start, out->len - start));
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
    rec->groups = p + SPANSUM_FIXED_LEN;
    rec->groups_len = len - SPANSUM_FIXED_LEN - 4;
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
