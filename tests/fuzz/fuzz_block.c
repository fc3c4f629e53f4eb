/*
 * fuzz_block.c - fuzz target for block reading (src/store/tsdb/block_read.c,
 * block_select.c, block_iter.c). The input is one block as a blob:
 *
 *   u32 meta length, u32 index length, u32 chunks length (little-endian),
 *   meta.json, index, chunks, rollups (the rest)
 *
 * (lengths beyond the input are clipped). The block is opened with
 * block_open_mem and read whole: every series' raw samples and rollups, with
 * seeks, selections by matchers, label names and values. It must end in 0 or
 * TT_ECORRUPT, never crash. The input is tried twice: as it is, and with the
 * index and page checksums and the file sizes in meta.json fixed up, so
 * mutations reach the decoders behind the checksums.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/buf.h"
#include "core/crc32c.h"
#include "store/tsdb/block.h"
#include "store/tsdb/block_int.h"
#include "telltale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static int ok_code(int rc)
{
    return rc == 0 || rc == TT_ECORRUPT || rc == TT_ENOMEM;
}

static void read_set(struct block *b, struct block_series_set *ss)
{
    const struct block_meta *m = block_get_meta(b);
    for (size_t i = 0; i < block_series_set_count(ss); i++) {
        const struct labels *ls = block_series_set_labels(ss, i);
        CHECK(ls->n > 0);
        for (size_t k = 0; k < ls->n; k++)
            CHECK(ls->v[k].name[0] != 0 && ls->v[k].value[0] != 0);
        for (int kind = BLOCK_RAW; kind <= BLOCK_ROLLUP_LAST; kind++) {
            for (int r = 0; r < (kind == BLOCK_RAW ? 1 : 2); r++) {
                struct block_iter it;
                int rc =
                    block_iter_init(&it, ss, i, INT64_MIN, INT64_MAX, (enum block_series_kind)kind,
                                    r ? BLOCK_ROLLUP_1H_MS : BLOCK_ROLLUP_5M_MS);
                CHECK(rc == 0 || rc == TT_ENOTFOUND || rc == TT_ENOMEM);
                if (rc)
                    continue;
                int64_t prev = INT64_MIN;
                int first = 1, n = 0;
                while ((rc = block_iter_next(&it)) == 1) {
                    CHECK(it.t >= m->mint && it.t <= m->maxt);
                    CHECK(first || it.t > prev);
                    prev = it.t;
                    first = 0;
                    if (++n % 7 == 0) {
                        rc =
                            block_iter_seek(&it, it.t > INT64_MAX - 1000 ? INT64_MAX : it.t + 1000);
                        if (rc != 1)
                            break;
                        CHECK(it.t > prev);
                        prev = it.t;
                    }
                }
                CHECK(ok_code(rc));
                if (rc < 0)
                    CHECK(block_iter_error(&it)[0] != 0);
                block_iter_release(&it);
            }
        }
        /* Runs over a range cut inside the block: increasing, inside it. */
        struct block_iter it;
        int64_t lo = m->mint / 2 + m->maxt / 2, hi = m->maxt;
        if (block_iter_init(&it, ss, i, lo, hi, BLOCK_RAW, 0) != 0)
            continue;
        long k;
        const int64_t *ts;
        const double *vs;
        int64_t prev = INT64_MIN;
        while ((k = block_iter_next_run(&it, &ts, &vs)) > 0) {
            for (long j = 0; j < k; j++) {
                CHECK(ts[j] >= lo && ts[j] <= hi && (prev == INT64_MIN || ts[j] > prev));
                prev = ts[j];
            }
            CHECK(it.t == prev);
        }
        CHECK(k == 0 || ok_code((int)k));
        if (k < 0)
            CHECK(block_iter_error(&it)[0] != 0);
        block_iter_release(&it);
    }
}

static void run(const uint8_t *meta, size_t ml, const uint8_t *ix, size_t il, const uint8_t *ck,
                size_t cl, const uint8_t *ru, size_t rl)
{
    struct block *b;
    char err[512];
    int rc = block_open_mem(&b, "fuzz", meta, ml, ix, il, ck, cl, ru, rl, err, sizeof err);
    CHECK(rc == 0 || rc == TT_ECORRUPT || rc == TT_ENOMEM);
    if (rc) {
        CHECK(strstr(err, "fuzz") != NULL);
        return;
    }
    struct block_series_set *ss;
    if (block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ss) == 0) {
        read_set(b, ss);
        block_series_set_free(ss);
    }
    const struct block_meta *m = block_get_meta(b);
    int64_t mid = m->mint / 2 + m->maxt / 2;
    if (block_select(b, NULL, 0, mid, mid + 600000, &ss) == 0) {
        read_set(b, ss);
        block_series_set_free(ss);
    }
    struct index_strs names, vals;
    if (block_label_names(b, NULL, 0, &names) == 0) {
        for (size_t i = 0; i < names.n && i < 8; i++) {
            if (block_label_values(b, names.v[i], NULL, 0, &vals) != 0)
                continue;
            for (size_t k = 0; k < vals.n && k < 4; k++) {
                struct matcher *ms[2] = { NULL, NULL };
                char e[128];
                if (matcher_new(&ms[0], MATCH_EQ, names.v[i], vals.v[k], 0, e, sizeof e) != 0)
                    continue;
                if (matcher_new(&ms[1], MATCH_NRE, names.v[i], "a.*", 0, e, sizeof e) == 0) {
                    if (block_select(b, ms, 2, INT64_MIN, INT64_MAX, &ss) == 0)
                        block_series_set_free(ss);
                    struct index_strs x;
                    if (block_label_names(b, ms, 1, &x) == 0)
                        index_strs_release(&x);
                    if (block_label_values(b, names.v[0], ms, 2, &x) == 0)
                        index_strs_release(&x);
                }
                matcher_free(ms[0]);
                matcher_free(ms[1]);
            }
            index_strs_release(&vals);
        }
        index_strs_release(&names);
    }
    block_close(b);
}

static void seal_index(uint8_t *ix, size_t len)
{
    if (len < BLOCK_INDEX_HDR + BLOCK_TOC_BYTES)
        return;
    uint8_t *toc = ix + len - BLOCK_TOC_BYTES;
    for (int s = 0; s < SEC_COUNT; s++) {
        uint64_t off = get_le64(toc + 20 * s), l = get_le64(toc + 20 * s + 8);
        if (off <= len && l <= len - off)
            put_le32(toc + 20 * s + 16, crc32c(0, ix + off, (size_t)l));
    }
    put_le32(toc + SEC_COUNT * 20,
             crc32c(crc32c(0, ix, BLOCK_INDEX_HDR), toc, (size_t)SEC_COUNT * 20));
}

static void seal_pages(uint8_t *p, size_t len)
{
    size_t off = BLOCK_FILE_HDR;
    while (len >= BLOCK_PAGE_HDR && off <= len - BLOCK_PAGE_HDR) {
        uint32_t st = get_le32(p + off + 4);
        if (st > len - off - BLOCK_PAGE_HDR)
            return;
        put_le32(p + off,
                 crc32c(crc32c(0, p + off + 4, BLOCK_PAGE_HDR - 4), p + off + BLOCK_PAGE_HDR, st));
        off += BLOCK_PAGE_HDR + st;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    size_t len[4], off = 12;
    for (int i = 0; i < 3; i++) {
        len[i] = get_le32(data + 4 * i);
        if (len[i] > size - off)
            len[i] = size - off;
        off += len[i];
    }
    len[3] = size - off;
    const uint8_t *p[4];
    off = 12;
    for (int i = 0; i < 4; i++) {
        p[i] = data + off;
        off += len[i];
    }
    run(p[0], len[0], p[1], len[1], p[2], len[2], p[3], len[3]);
    /* Sealed: checksums and meta.json's file sizes fixed up. */
    uint8_t *c = malloc(size + 128);
    if (c == NULL)
        return 0;
    memcpy(c, data + 12, size - 12);
    uint8_t *q[4];
    off = 0;
    for (int i = 0; i < 4; i++) {
        q[i] = c + off;
        off += len[i];
    }
    seal_index(q[1], len[1]);
    seal_pages(q[2], len[2]);
    seal_pages(q[3], len[3]);
    char *meta = malloc(len[0] + 128);
    if (meta != NULL) {
        memcpy(meta, q[0], len[0]);
        size_t ml = len[0];
        char *f = memmem(meta, ml, "\"files\"", 7);
        if (f != NULL) {
            size_t at = (size_t)(f - meta);
            int n =
                snprintf(f, 128, "\"files\": {\"index\": %zu, \"chunks\": %zu, \"rollups\": %zu}}",
                         len[1], len[2], len[3]);
            ml = at + (size_t)n;
        }
        run((const uint8_t *)meta, ml, q[1], len[1], q[2], len[2], q[3], len[3]);
        free(meta);
    }
    free(c);
    return 0;
}
