/*
 * test_chunk.c - the head chunk codec: bit-exact round trips of every kind of
 * series and double, limits, ordering errors, seek, resume, and damaged input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "store/tsdb/chunk.h"
#include "telltale.h"
#include "unit.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* roundtrip appends n samples into one chunk (limits large enough), decodes
 * them and compares bit for bit; returns the chunk's size in bytes. */
static size_t roundtrip(const int64_t *ts, const double *vs, size_t n)
{
    struct wbuf b;
    struct chunk_app a;
    wbuf_init(&b, 0);
    assert_int_equal(chunk_app_init(&a, &b, CHUNK_MAX_COUNT, 1u << 24), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(chunk_append(&a, ts[i], vs[i]), 0);
    size_t len;
    const uint8_t *p = chunk_app_bytes(&a, &len);
    assert_int_equal(len, b.len);
    struct chunk_info ci;
    assert_int_equal(chunk_info_read(p, len, &ci), 0);
    assert_int_equal(ci.count, n);
    assert_int_equal(ci.len, len);
    if (n) {
        assert_int_equal(ci.min_t, ts[0]);
        assert_int_equal(ci.max_t, ts[n - 1]);
    }
    int64_t *t2 = malloc((n + 1) * sizeof *t2);
    double *v2 = malloc((n + 1) * sizeof *v2);
    assert_non_null(t2);
    assert_non_null(v2);
    assert_int_equal(chunk_decode_all(p, len, t2, v2, n), (int)n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t2[i], ts[i]);
        assert_int_equal(f64_bits(v2[i]), f64_bits(vs[i]));
    }
    /* Resuming from the bytes and appending one more gives the same bytes as
     * appending it straight away. */
    if (n) {
        struct wbuf c;
        struct chunk_app r;
        wbuf_init(&c, 0);
        wbuf_put(&c, p, len);
        assert_int_equal(chunk_app_resume(&r, &c, 0, CHUNK_MAX_COUNT, 1u << 24), 0);
        assert_int_equal(r.count, n);
        if (ts[n - 1] < INT64_MAX && n < CHUNK_MAX_COUNT) {
            assert_int_equal(chunk_append(&r, ts[n - 1] + 1, 42.5), 0);
            assert_int_equal(chunk_append(&a, ts[n - 1] + 1, 42.5), 0);
            size_t l1, l2;
            const uint8_t *p1 = chunk_app_bytes(&a, &l1);
            const uint8_t *p2 = chunk_app_bytes(&r, &l2);
            assert_int_equal(l1, l2);
            assert_memory_equal(p1, p2, l1);
        }
        wbuf_release(&c);
    }
    free(t2);
    free(v2);
    wbuf_release(&b);
    return len;
}

static void test_chunk_random(void **state)
{
    (void)state;
    enum { N = 5000 };
    static int64_t ts[N];
    static double vs[N];
    uint64_t s = 1;
    for (int round = 0; round < 4; round++) {
        int64_t t = (int64_t)(rng_next(&s) >> 20) - (INT64_C(1) << 42);
        for (int i = 0; i < N; i++) {
            uint64_t r = rng_next(&s);
            /* Steps from 1 ms to hours, with occasional giant jumps. */
            t += 1 + (int64_t)(r % 4 == 0 ? (r >> 8) % 100000000 : (r >> 8) % 20000);
            ts[i] = t;
            vs[i] = f64_from_bits(rng_next(&s));
        }
        roundtrip(ts, vs, N);
    }
}

static void test_chunk_constant_and_regular(void **state)
{
    (void)state;
    enum { N = 120 };
    int64_t ts[N];
    double vs[N];
    for (int i = 0; i < N; i++) {
        ts[i] = INT64_C(1700000000000) + i * 15000;
        vs[i] = 1.0;
    }
    size_t len = roundtrip(ts, vs, N);
    /* Header, first value, 17+2 bits for the second sample, 2 bits after. */
    assert_int_equal(len, CHUNK_HDR_BYTES + (64 + 25 + 1 + 118 * 2 + 7) / 8);
}

static void test_chunk_counters_and_gauges(void **state)
{
    (void)state;
    enum { N = 1000 };
    static int64_t ts[N];
    static double vs[N];
    uint64_t s = 7;
    double c = 123456;
    for (int i = 0; i < N; i++) {
        /* 10 s scrapes with a few ms of jitter. */
        ts[i] = INT64_C(1704067200000) + i * 10000 + (int64_t)(rng_next(&s) % 7) - 3;
        c += (double)(rng_next(&s) % 5000);
        vs[i] = c;
    }
    size_t counter = roundtrip(ts, vs, N);
    for (int i = 0; i < N; i++)
        vs[i] = (double)(int)(rng_next(&s) % 10000) / 100.0; /* 2 decimals */
    size_t gauge = roundtrip(ts, vs, N);
    /* Counters compress well; random decimals stay near raw size. */
    assert_true(counter < N * 4);
    assert_true(gauge < N * 9); /* random decimals: XOR cannot do much */
}

static void test_chunk_special_doubles(void **state)
{
    (void)state;
    const uint64_t special[] = {
        0,                            /* +0.0 */
        UINT64_C(0x8000000000000000), /* -0.0 */
        UINT64_C(0x7ff0000000000000), /* +inf */
        UINT64_C(0xfff0000000000000), /* -inf */
        UINT64_C(0x7ff8000000000000), /* quiet NaN */
        UINT64_C(0x7ff8000000000001), /* NaN payload */
        UINT64_C(0xfff4000000abcdef), /* negative signalling NaN */
        CHUNK_STALE_NAN_BITS,         /* Prometheus stale marker */
        UINT64_C(0x0000000000000001), /* smallest subnormal */
        UINT64_C(0x7fefffffffffffff), /* DBL_MAX */
        UINT64_C(0x3ff0000000000000), /* 1.0 */
    };
    enum { K = sizeof special / sizeof special[0], N = 4 * K * K };
    int64_t ts[N];
    double vs[N];
    int n = 0;
    /* Every ordered pair, each twice (window reuse and "same" paths). */
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            for (int r = 0; r < 2; r++) {
                ts[n] = n * 1000;
                vs[n++] = f64_from_bits(special[i]);
                ts[n] = n * 1000;
                vs[n++] = f64_from_bits(special[j]);
            }
    roundtrip(ts, vs, (size_t)n);
    /* A stale marker costs 3 bits and keeps the reference: 1, stale, 1. */
    int64_t t3[3] = { 0, 1000, 2000 };
    double v3[3] = { 1.0, f64_from_bits(CHUNK_STALE_NAN_BITS), 1.0 };
    size_t len = roundtrip(t3, v3, 3);
    assert_int_equal(len, CHUNK_HDR_BYTES + (64 + 17 + 3 + 1 + 1 + 7) / 8);
    /* A chunk that starts stale. */
    double v4[3] = { f64_from_bits(CHUNK_STALE_NAN_BITS), 2.0,
                     f64_from_bits(CHUNK_STALE_NAN_BITS) };
    roundtrip(t3, v4, 3);
}

static void test_chunk_extreme_timestamps(void **state)
{
    (void)state;
    int64_t ts[6] = { INT64_MIN, INT64_MIN + 1, -1, 0, INT64_MAX - 1, INT64_MAX };
    double vs[6] = { 1, 2, 3, 4, 5, 6 };
    roundtrip(ts, vs, 6);
    int64_t t2[2] = { INT64_MIN, INT64_MAX };
    roundtrip(t2, vs, 2);
    int64_t t1[1] = { -5 };
    roundtrip(t1, vs, 1);
    roundtrip(t1, vs, 0);
}

static void test_chunk_order_and_limits(void **state)
{
    (void)state;
    struct wbuf b;
    struct chunk_app a;
    wbuf_init(&b, 0);
    assert_int_equal(chunk_app_init(&a, &b, 0, 0), 0);
    assert_int_equal(a.max_samples, CHUNK_DEF_SAMPLES);
    assert_int_equal(chunk_append(&a, 1000, 1.0), 0);
    size_t len0 = b.len;
    assert_int_equal(chunk_append(&a, 1000, 2.0), TT_ERANGE);
    assert_int_equal(chunk_append(&a, 999, 2.0), TT_ERANGE);
    assert_int_equal(b.len, len0);
    assert_int_equal(a.count, 1);
    for (int i = 1; i < CHUNK_DEF_SAMPLES; i++)
        assert_int_equal(chunk_append(&a, 1000 + i, 1.0), 0);
    assert_int_equal(chunk_append(&a, 5000, 1.0), TT_EFULL);
    wbuf_release(&b);

    /* Byte limit: random doubles fill 100 bytes quickly; the failed append
     * leaves the chunk exactly as it was. */
    wbuf_init(&b, 0);
    assert_int_equal(chunk_app_init(&a, &b, 1000, 100), 0);
    uint64_t s = 3;
    int i = 0, rc;
    while ((rc = chunk_append(&a, i * 1000, f64_from_bits(rng_next(&s)))) == 0)
        i++;
    assert_int_equal(rc, TT_EFULL);
    assert_true(b.len <= 100);
    assert_true(i > 2);
    struct chunk_iter it;
    assert_int_equal(chunk_iter_init(&it, b.data, b.len), 0);
    int k = 0;
    while ((rc = chunk_iter_next(&it)) == 1)
        k++;
    assert_int_equal(rc, 0);
    assert_int_equal(k, i);
    /* A small sample still fits after a big one was refused. */
    size_t before = b.len;
    rc = chunk_append(&a, i * 1000, f64_from_bits(rng_next(&s) & 0x8000000000000000u));
    assert_true(rc == 0 || rc == TT_EFULL);
    assert_true(b.len <= 100 && b.len >= before);
    wbuf_release(&b);

    assert_int_equal(chunk_app_init(&a, &b, CHUNK_MAX_COUNT + 1, 0), TT_EINVAL);
    assert_int_equal(chunk_app_init(&a, &b, 10, 20), TT_EINVAL);

    /* A buffer that may not grow reports its error. */
    wbuf_init(&b, 30);
    assert_int_equal(chunk_app_init(&a, &b, 0, 0), TT_ETOOBIG);
    wbuf_release(&b);
}

static void test_chunk_seek(void **state)
{
    (void)state;
    struct wbuf b;
    struct chunk_app a;
    wbuf_init(&b, 0);
    wbuf_put(&b, "prefix", 6); /* chunks may follow other bytes */
    assert_int_equal(chunk_app_init(&a, &b, 0, 0), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(chunk_append(&a, 10000 + i * 10, (double)i), 0);
    struct chunk_iter it;
    assert_int_equal(chunk_iter_init(&it, b.data + 6, b.len - 6), 0);
    assert_int_equal(chunk_iter_seek(&it, 0), 1);
    assert_int_equal(it.t, 10000);
    assert_int_equal(chunk_iter_seek(&it, 10000), 1); /* stays */
    assert_int_equal(it.t, 10000);
    assert_int_equal(chunk_iter_seek(&it, 10055), 1);
    assert_int_equal(it.t, 10060);
    assert_true(it.v == 6.0);
    assert_int_equal(chunk_iter_seek(&it, 10030), 1); /* never backwards */
    assert_int_equal(it.t, 10060);
    assert_int_equal(chunk_iter_next(&it), 1);
    assert_int_equal(it.t, 10070);
    assert_int_equal(chunk_iter_seek(&it, 10990), 1);
    assert_true(it.v == 99.0);
    assert_int_equal(chunk_iter_seek(&it, 10991), 0);
    assert_int_equal(chunk_iter_next(&it), 0);
    wbuf_release(&b);
}

/* Decoding damaged chunks never reads outside them (ASan checks) and either
 * fails or yields at most count samples. */
static void test_chunk_corrupt(void **state)
{
    (void)state;
    struct wbuf b;
    struct chunk_app a;
    wbuf_init(&b, 0);
    assert_int_equal(chunk_app_init(&a, &b, 0, 0), 0);
    uint64_t s = 11;
    for (int i = 0; i < 60; i++)
        assert_int_equal(
            chunk_append(&a, i * 997 + (int64_t)(rng_next(&s) % 300), (double)(rng_next(&s) % 50)),
            0);
    size_t len = b.len;
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    /* Every truncation is refused up front. */
    for (size_t n = 0; n < len; n++) {
        memcpy(copy, b.data, n);
        struct chunk_iter it;
        assert_true(chunk_iter_init(&it, copy, n) < 0);
    }
    /* Every single bit flip: no crash; header flips mostly refused. */
    int failed = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        memcpy(copy, b.data, len);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        struct chunk_iter it;
        if (chunk_iter_init(&it, copy, len) != 0) {
            failed++;
            continue;
        }
        int rc, k = 0;
        while ((rc = chunk_iter_next(&it)) == 1)
            k++;
        assert_true(k <= 60);
        if (rc < 0) {
            failed++;
            assert_int_equal(chunk_iter_next(&it), TT_ECORRUPT); /* sticky */
        }
    }
    assert_true(failed > 0);
    /* Wrong encoding byte. */
    memcpy(copy, b.data, len);
    copy[0] = 9;
    struct chunk_iter it;
    assert_int_equal(chunk_iter_init(&it, copy, len), TT_EVERSION);
    /* Resume refuses damage. */
    struct wbuf c;
    struct chunk_app r;
    wbuf_init(&c, 0);
    wbuf_put(&c, b.data, len - 1);
    assert_int_equal(chunk_app_resume(&r, &c, 0, 0, 0), TT_ECORRUPT);
    wbuf_release(&c);
    free(copy);
    wbuf_release(&b);
}

UNIT_TESTS(cmocka_unit_test(test_chunk_random), cmocka_unit_test(test_chunk_constant_and_regular),
           cmocka_unit_test(test_chunk_counters_and_gauges),
           cmocka_unit_test(test_chunk_special_doubles),
           cmocka_unit_test(test_chunk_extreme_timestamps),
           cmocka_unit_test(test_chunk_order_and_limits), cmocka_unit_test(test_chunk_seek),
           cmocka_unit_test(test_chunk_corrupt))
