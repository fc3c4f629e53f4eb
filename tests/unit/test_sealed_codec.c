/*
 * test_sealed_codec.c - the sealed chunk codec: bit-exact round trips of the
 * shapes the study found (constants, decimal counters and gauges, noisy
 * doubles, special values), with and without zstd, the mode each shape gets
 * (by size), argument errors and damaged input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "store/tsdb/chunk.h"
#include "store/tsdb/sealed_codec.h"
#include "telltale.h"
#include "unit.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* roundtrip encodes ts/vs as a chunk at zstd level 0 and 3, decodes and
 * compares bit for bit; returns the size at level 3. */
static size_t roundtrip(const int64_t *ts, const double *vs, size_t n)
{
    size_t size3 = 0;
    int64_t *t2 = malloc(n * sizeof *t2);
    double *v2 = malloc(n * sizeof *v2);
    assert_non_null(t2);
    assert_non_null(v2);
    for (int level = 0; level <= 3; level += 3) {
        struct sealed_ctx c;
        struct wbuf b;
        assert_int_equal(sealed_ctx_init(&c, level), 0);
        wbuf_init(&b, 0);
        assert_int_equal(sealed_chunk_encode(&c, &b, ts, vs, n), 0);
        assert_int_equal(sealed_chunk_count(b.data, b.len), n);
        memset(t2, 0, n * sizeof *t2);
        assert_int_equal(sealed_chunk_decode(&c, b.data, b.len, t2, v2, n), (int)n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(t2[i], ts[i]);
            assert_int_equal(f64_bits(v2[i]), f64_bits(vs[i]));
        }
        if (n > 1)
            assert_int_equal(sealed_chunk_decode(&c, b.data, b.len, t2, v2, n - 1), TT_ETOOBIG);
        if (level == 3)
            size3 = b.len;
        wbuf_release(&b);
        sealed_ctx_release(&c);
    }
    free(t2);
    free(v2);
    return size3;
}

enum { N = 720 }; /* 2 h at 10 s */

static void regular_ts(int64_t *ts, size_t n, int64_t step)
{
    for (size_t i = 0; i < n; i++)
        ts[i] = INT64_C(1704067200000) + (int64_t)i * step;
}

static void test_sealed_constant(void **state)
{
    (void)state;
    int64_t ts[N];
    double vs[N];
    regular_ts(ts, N, 10000);
    for (int i = 0; i < N; i++)
        vs[i] = 67688684544.0;
    /* n, ts length, regular column (mode, t0, step), constant column. */
    assert_true(roundtrip(ts, vs, N) <= 2 + 2 + 1 + 7 + 3 + 9);
    double one = f64_from_bits(UINT64_C(0x7ff8000000000123)); /* NaN payload */
    assert_true(roundtrip(ts, &one, 1) < 20);
}

static void test_sealed_decimal_counters(void **state)
{
    (void)state;
    int64_t ts[N];
    double vs[N];
    uint64_t s = 5;
    regular_ts(ts, N, 10000);
    /* A CPU counter in hundredths, a byte counter, an io_time counter in
     * thousandths: all far smaller than their XOR chunk. */
    long long cents = 537308443;
    for (int i = 0; i < N; i++) {
        cents += 790 + (long long)(rng_next(&s) % 20);
        vs[i] = (double)cents / 100.0;
    }
    size_t cpu = roundtrip(ts, vs, N);
    assert_true(cpu < N * 2);
    double b = 134327149302.0;
    for (int i = 0; i < N; i++) {
        b += (double)(rng_next(&s) % 300000);
        vs[i] = b;
    }
    size_t bytes = roundtrip(ts, vs, N);
    assert_true(bytes < N * 3);
    long long ms = 1000;
    for (int i = 0; i < N; i++) {
        ms += (long long)(rng_next(&s) % 50);
        vs[i] = (double)ms / 1000.0;
    }
    roundtrip(ts, vs, N);
    /* Multiples of 4096 (memory gauges): the common factor is divided out. */
    double m = 8589934592.0;
    for (int i = 0; i < N; i++) {
        m += 4096.0 * (double)((int)(rng_next(&s) % 2001) - 1000);
        vs[i] = m;
    }
    size_t mem = roundtrip(ts, vs, N);
    assert_true(mem < N * 2 + 64);
    /* Negative decimals and a gauge that crosses zero. */
    for (int i = 0; i < N; i++)
        vs[i] = (double)((int)(rng_next(&s) % 2001) - 1000) / 10.0;
    roundtrip(ts, vs, N);
}

static void test_sealed_noisy_and_special(void **state)
{
    (void)state;
    int64_t ts[N];
    double vs[N];
    uint64_t s = 9;
    regular_ts(ts, N, 15000);
    /* Full-precision sums: the XOR fallback. */
    double sum = 0;
    for (int i = 0; i < N; i++) {
        sum += (double)(rng_next(&s) >> 11) / 9007199254740992.0 * 3.0;
        vs[i] = sum;
    }
    size_t noisy = roundtrip(ts, vs, N);
    assert_true(noisy < N * 8);
    /* Random bit patterns (NaNs and all). */
    for (int i = 0; i < N; i++)
        vs[i] = f64_from_bits(rng_next(&s));
    roundtrip(ts, vs, N);
    /* Decimals with a few exceptions: stale markers, -0.0, inf, NaN. */
    for (int i = 0; i < N; i++)
        vs[i] = (double)(i % 100) / 4.0;
    vs[0] = f64_from_bits(CHUNK_STALE_NAN_BITS);
    vs[17] = -0.0;
    vs[18] = INFINITY;
    vs[300] = f64_from_bits(UINT64_C(0x7ff8000000000001));
    vs[N - 1] = f64_from_bits(CHUNK_STALE_NAN_BITS);
    size_t exc = roundtrip(ts, vs, N);
    assert_true(exc < N * 2);
    /* Values beyond 2^53 and tiny ones. */
    for (int i = 0; i < N; i++)
        vs[i] = i % 2 ? 1e300 * i : 1e-300 * i;
    roundtrip(ts, vs, N);
}

static void test_sealed_timestamps(void **state)
{
    (void)state;
    int64_t ts[N];
    double vs[N];
    uint64_t s = 13;
    for (int i = 0; i < N; i++)
        vs[i] = 1.5;
    /* Jittered 1 s scrapes. */
    for (int i = 0; i < N; i++)
        ts[i] = INT64_C(1795427374350) + i * 1000 + (int64_t)(rng_next(&s) % 9);
    roundtrip(ts, vs, N);
    /* Extremes: the whole int64 range, one sample, two samples. */
    int64_t ext[5] = { INT64_MIN, INT64_MIN + 1, 0, INT64_MAX - 1, INT64_MAX };
    roundtrip(ext, vs, 5);
    int64_t two[2] = { INT64_MIN, INT64_MAX };
    roundtrip(two, vs, 2);
    roundtrip(two + 1, vs, 1);
    /* A regular column is a few bytes whatever its length. */
    struct sealed_ctx c;
    struct wbuf b;
    sealed_ctx_init(&c, 0);
    wbuf_init(&b, 0);
    regular_ts(ts, N, 10000);
    assert_int_equal(sealed_ts_encode(&c, &b, ts, N), 0);
    assert_true(b.len <= 10);
    /* Errors: order, count. */
    ts[5] = ts[4];
    assert_int_equal(sealed_ts_encode(&c, &b, ts, N), TT_ERANGE);
    assert_int_equal(sealed_ts_encode(&c, &b, ts, 0), TT_EINVAL);
    assert_int_equal(sealed_values_encode(&c, &b, vs, SEALED_MAX_SAMPLES + 1), TT_EINVAL);
    wbuf_release(&b);
    sealed_ctx_release(&c);
    assert_int_equal(sealed_ctx_init(&c, 20), TT_EINVAL);
    sealed_ctx_release(&c);
}

/* Damaged chunks: every truncation fails, every bit flip is survived. */
static void test_sealed_corrupt(void **state)
{
    (void)state;
    enum { M = 200 };
    int64_t ts[M], t2[M];
    double vs[M], v2[M];
    uint64_t s = 21;
    for (int level = 0; level <= 3; level += 3) {
        for (int shape = 0; shape < 3; shape++) {
            int64_t t = 1000;
            for (int i = 0; i < M; i++) {
                t += 1000 + (int64_t)(rng_next(&s) % 5);
                ts[i] = t;
                vs[i] = shape == 0   ? (double)(i * 3) / 100.0
                        : shape == 1 ? f64_from_bits(rng_next(&s))
                                     : (double)(i % 7);
            }
            struct sealed_ctx c;
            struct wbuf b;
            sealed_ctx_init(&c, level);
            wbuf_init(&b, 0);
            assert_int_equal(sealed_chunk_encode(&c, &b, ts, vs, M), 0);
            uint8_t *copy = malloc(b.len);
            assert_non_null(copy);
            for (size_t n = 0; n < b.len; n++) {
                memcpy(copy, b.data, n);
                assert_true(sealed_chunk_decode(&c, copy, n, t2, v2, M) < 0);
            }
            for (size_t bit = 0; bit < b.len * 8; bit++) {
                memcpy(copy, b.data, b.len);
                copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                int rc = sealed_chunk_decode(&c, copy, b.len, t2, v2, M);
                assert_true(rc < 0 || rc <= M);
                for (int i = 1; i < rc; i++)
                    assert_true(t2[i] > t2[i - 1]);
            }
            free(copy);
            wbuf_release(&b);
            sealed_ctx_release(&c);
        }
    }
}

UNIT_TESTS(cmocka_unit_test(test_sealed_constant), cmocka_unit_test(test_sealed_decimal_counters),
           cmocka_unit_test(test_sealed_noisy_and_special),
           cmocka_unit_test(test_sealed_timestamps), cmocka_unit_test(test_sealed_corrupt))
