/*
 * fuzz_chunk.c - fuzz target for the TSDB chunk codecs. The first input byte
 * picks what the rest is decoded as: a head chunk (chunk.h), a sealed chunk,
 * or a lone sealed timestamp or value column of n samples (n from the next two
 * bytes). Decoding must stay inside the input (ASan), yield no more samples
 * than announced, keep timestamps strictly increasing, and whatever decodes
 * must encode again and decode back to the same samples bit for bit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/tsdb/chunk.h"
#include "store/tsdb/sealed_codec.h"
#include "telltale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                              \
        }                                                                         \
    } while (0)

static void same(const int64_t *t1, const double *v1, const int64_t *t2, const double *v2, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(t1 == NULL || t1[i] == t2[i]);
        CHECK(v1 == NULL || f64_bits(v1[i]) == f64_bits(v2[i]));
    }
}

static void increasing(const int64_t *ts, size_t n)
{
    for (size_t i = 1; i < n; i++)
        CHECK(ts[i] > ts[i - 1]);
}

static void head(const uint8_t *p, size_t n)
{
    struct chunk_iter it;
    if (chunk_iter_init(&it, p, n) != 0)
        return;
    int64_t *ts = malloc((it.count + 1) * sizeof *ts);
    double *vs = malloc((it.count + 1) * sizeof *vs);
    CHECK(ts && vs);
    size_t k = 0;
    int rc;
    while ((rc = chunk_iter_next(&it)) == 1) {
        CHECK(k < it.count);
        ts[k] = it.t;
        vs[k++] = it.v;
    }
    increasing(ts, k);
    if (rc == 0) {
        CHECK(k == it.count);
        struct wbuf b;
        struct chunk_app a;
        wbuf_init(&b, 0);
        CHECK(chunk_app_init(&a, &b, CHUNK_MAX_COUNT, UINT32_MAX >> 3) == 0);
        for (size_t i = 0; i < k; i++)
            CHECK(chunk_append(&a, ts[i], vs[i]) == 0);
        int64_t *t2 = malloc((k + 1) * sizeof *t2);
        double *v2 = malloc((k + 1) * sizeof *v2);
        CHECK(t2 && v2);
        CHECK(chunk_decode_all(b.data, b.len, t2, v2, k) == (int)k);
        same(ts, vs, t2, v2, k);
        free(t2);
        free(v2);
        wbuf_release(&b);
    }
    free(ts);
    free(vs);
}

static void sealed(const uint8_t *p, size_t len, int what, size_t n)
{
    struct sealed_ctx c;
    CHECK(sealed_ctx_init(&c, what & 1 ? 3 : 0) == 0);
    if (what >= 4)
        n = sealed_chunk_count(p, len);
    if (n < 1 || n > SEALED_MAX_SAMPLES) {
        sealed_ctx_release(&c);
        return;
    }
    int64_t *ts = calloc(n, sizeof *ts), *t2 = calloc(n, sizeof *t2);
    double *vs = calloc(n, sizeof *vs), *v2 = calloc(n, sizeof *v2);
    CHECK(ts && t2 && vs && v2);
    struct wbuf b;
    wbuf_init(&b, 0);
    if (what >= 4) {
        if (sealed_chunk_decode(&c, p, len, ts, vs, n) == (int)n) {
            increasing(ts, n);
            CHECK(sealed_chunk_encode(&c, &b, ts, vs, n) == 0);
            CHECK(sealed_chunk_decode(&c, b.data, b.len, t2, v2, n) == (int)n);
            same(ts, vs, t2, v2, n);
        }
    } else if (what >= 2) {
        if (sealed_ts_decode(&c, p, len, ts, n) == 0) {
            increasing(ts, n);
            CHECK(sealed_ts_encode(&c, &b, ts, n) == 0);
            CHECK(sealed_ts_decode(&c, b.data, b.len, t2, n) == 0);
            same(ts, NULL, t2, NULL, n);
        }
    } else {
        if (sealed_values_decode(&c, p, len, vs, n) == 0) {
            CHECK(sealed_values_encode(&c, &b, vs, n) == 0);
            CHECK(sealed_values_decode(&c, b.data, b.len, v2, n) == 0);
            same(NULL, vs, NULL, v2, n);
        }
    }
    wbuf_release(&b);
    free(ts);
    free(t2);
    free(vs);
    free(v2);
    sealed_ctx_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned sel = data[0] % 7;
    size_t n = (size_t)data[1] | (size_t)data[2] << 8;
    if (sel == 6)
        head(data + 1, size - 1);
    else
        sealed(data + 3, size - 3, (int)sel, n);
    return 0;
}
