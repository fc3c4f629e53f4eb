/* test_sketch.c - the mergeable quantile sketch: quantiles within the
 * stated relative error of exact ones on several distributions, merge equal
 * to the sketch of the union, serialization round trip, bad bytes refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "core/sketch.h"
#include "telltale.h"

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s)
{
    return ((double)(next_rand(s) >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
}

enum dist { UNIFORM, LOGNORMAL, PARETO, BIMODAL, CONSTANT, SMALL, NDIST };

static uint64_t draw(enum dist d, uint64_t *s)
{
    switch (d) {
    case UNIFORM:
        return 1000 + next_rand(s) % 100000000;
    case LOGNORMAL: {
        double z = sqrt(-2 * log(unif(s))) * cos(2 * M_PI * unif(s));
        return (uint64_t)exp(15.0 + 1.5 * z); /* median ~3.3 ms */
    }
    case PARETO:
        return (uint64_t)(50000.0 / pow(unif(s), 1.0 / 1.2)); /* heavy tail */
    case BIMODAL:
        return next_rand(s) % 10 == 0 ? 2000000000 + next_rand(s) % 1000000
                                      : 300000 + next_rand(s) % 20000;
    case CONSTANT:
        return 123456789;
    case SMALL:
        return next_rand(s) % 40; /* includes 0 */
    default:
        return 0;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void check_quantiles(const struct sketch *sk, uint64_t *vals, size_t n)
{
    static const double qs[] = { 0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1 };
    qsort(vals, n, sizeof *vals, cmp_u64);
    assert_int_equal(sk->count, n);
    assert_int_equal(sk->min, vals[0]);
    assert_int_equal(sk->max, vals[n - 1]);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        uint64_t exact = vals[(size_t)(qs[i] * (double)(n - 1))];
        uint64_t got = sketch_quantile(sk, qs[i]);
        double diff = fabs((double)got - (double)exact);
        /* the bound, plus half a unit for rounding to an integer */
        if (diff > (double)exact * SKETCH_REL_ERR + 0.5)
            fail_msg("q=%g: got %llu, exact %llu (rel err %g > %g)", qs[i], (unsigned long long)got,
                     (unsigned long long)exact, diff / (double)exact, SKETCH_REL_ERR);
    }
}

static void test_sketch_quantile_error_bound(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int d = 0; d < NDIST; d++) {
        size_t sizes[] = { 1, 2, 7, 1000, 100000 };
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            uint64_t *vals = malloc(n * sizeof *vals);
            struct sketch sk;
            long double sum = 0;
            assert_non_null(vals);
            sketch_init(&sk);
            for (size_t i = 0; i < n; i++) {
                vals[i] = draw((enum dist)d, &seed);
                sum += vals[i];
                assert_int_equal(sketch_add(&sk, vals[i]), 0);
            }
            assert_true(sk.sum == (uint64_t)sum);
            check_quantiles(&sk, vals, n);
            sketch_release(&sk);
            free(vals);
        }
    }
}

static void assert_same(const struct sketch *a, const struct sketch *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->sum, b->sum);
    assert_int_equal(a->min, b->min);
    assert_int_equal(a->max, b->max);
    assert_int_equal(a->nb, b->nb);
    for (uint32_t i = 0; i < a->nb; i++) {
        assert_int_equal(a->idx[i], b->idx[i]);
        assert_int_equal(a->cnt[i], b->cnt[i]);
    }
}

static void test_sketch_merge_is_union(void **state)
{
    (void)state;
    uint64_t seed = 7;
    struct sketch all, parts[5], merged;
    sketch_init(&all);
    sketch_init(&merged);
    for (int p = 0; p < 5; p++)
        sketch_init(&parts[p]);
    /* parts of different distributions and sizes (one empty) */
    for (int i = 0; i < 50000; i++) {
        int p = (int)(next_rand(&seed) % 4);
        uint64_t v = draw((enum dist)(p + 1), &seed);
        assert_int_equal(sketch_add(&parts[p], v), 0);
        assert_int_equal(sketch_add(&all, v), 0);
    }
    for (int p = 4; p >= 0; p--) /* an order unlike the adds */
        assert_int_equal(sketch_merge(&merged, &parts[p]), 0);
    assert_same(&merged, &all);
    /* merging into a non-empty sketch with interleaved buckets */
    struct sketch a, b;
    sketch_init(&a);
    sketch_init(&b);
    for (uint64_t v = 1; v < 100000; v = v * 3 / 2 + 1) {
        assert_int_equal(sketch_add(v % 2 ? &a : &b, v), 0);
        assert_int_equal(sketch_add(&b, v + 5), 0);
    }
    struct sketch u;
    sketch_init(&u);
    assert_int_equal(sketch_merge(&u, &a), 0);
    assert_int_equal(sketch_merge(&u, &b), 0);
    assert_int_equal(sketch_merge(&a, &b), 0);
    assert_same(&a, &u);
    for (int p = 0; p < 5; p++)
        sketch_release(&parts[p]);
    sketch_release(&all);
    sketch_release(&merged);
    sketch_release(&a);
    sketch_release(&b);
    sketch_release(&u);
}

static void test_sketch_roundtrip(void **state)
{
    (void)state;
    uint64_t seed = 99;
    for (int d = 0; d < NDIST; d++) {
        struct sketch sk, back;
        struct wbuf b;
        struct rbuf r;
        char err[128];
        sketch_init(&sk);
        sketch_init(&back);
        wbuf_init(&b, 0);
        for (int i = 0; i < 3000; i++)
            assert_int_equal(sketch_add(&sk, draw((enum dist)d, &seed)), 0);
        sketch_encode(&sk, &b);
        assert_int_equal(b.err, 0);
        rbuf_init(&r, b.data, b.len);
        assert_int_equal(sketch_decode(&back, &r, err, sizeof err), 0);
        assert_int_equal(rbuf_left(&r), 0);
        assert_same(&sk, &back);
        /* an empty sketch too */
        sketch_reset(&sk);
        wbuf_reset(&b);
        sketch_encode(&sk, &b);
        rbuf_init(&r, b.data, b.len);
        assert_int_equal(sketch_decode(&back, &r, err, sizeof err), 0);
        assert_int_equal(back.count, 0);
        assert_int_equal(sketch_quantile(&back, 0.5), 0);
        sketch_release(&sk);
        sketch_release(&back);
        wbuf_release(&b);
    }
}

static int decodes(const uint8_t *p, size_t n)
{
    struct sketch s;
    struct rbuf r;
    char err[128];
    sketch_init(&s);
    rbuf_init(&r, p, n);
    int rc = sketch_decode(&s, &r, err, sizeof err);
    if (rc != 0)
        assert_int_equal(s.count, 0);
    sketch_release(&s);
    return rc;
}

static void test_sketch_bad_bytes(void **state)
{
    (void)state;
    struct sketch sk;
    struct wbuf b;
    sketch_init(&sk);
    wbuf_init(&b, 0);
    for (uint64_t v = 100; v < 1000000; v = v * 5 / 4)
        assert_int_equal(sketch_add(&sk, v), 0);
    sketch_encode(&sk, &b);
    assert_int_equal(decodes(b.data, b.len), 0);
    /* every truncation fails */
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(decodes(b.data, n), TT_ECORRUPT);
    /* a wrong format or precision byte */
    uint8_t *c = malloc(b.len);
    assert_non_null(c);
    memcpy(c, b.data, b.len);
    c[0] = 9;
    assert_int_equal(decodes(c, b.len), TT_ECORRUPT);
    memcpy(c, b.data, b.len);
    c[1] = SKETCH_P - 1;
    assert_int_equal(decodes(c, b.len), TT_ECORRUPT);
    /* a count that the buckets do not add up to */
    memcpy(c, b.data, b.len);
    c[2] ^= 1;
    assert_int_equal(decodes(c, b.len), TT_ECORRUPT);
    /* every single-byte change either fails or decodes to a consistent sketch */
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(c, b.data, b.len);
            c[i] ^= (uint8_t)(1 << bit);
            struct sketch s;
            struct rbuf r;
            char err[128];
            sketch_init(&s);
            rbuf_init(&r, c, b.len);
            if (sketch_decode(&s, &r, err, sizeof err) == 0) {
                uint64_t t = 0;
                for (uint32_t k = 0; k < s.nb; k++)
                    t += s.cnt[k];
                assert_int_equal(t, s.count);
                assert_true(s.min <= s.max);
            }
            sketch_release(&s);
        }
    }
    /* a hand-made encoding: min outside its bucket */
    const uint8_t bad_min[] = { SKETCH_FORMAT, SKETCH_P, 1, 5, 0, 5, 1, 0x80, 0x20, 0 };
    assert_int_equal(decodes(bad_min, sizeof bad_min), TT_ECORRUPT);
    /* a bucket count that would need more bytes than there are */
    const uint8_t huge[] = { SKETCH_FORMAT, SKETCH_P, 0xff, 0xff, 0x03, 1, 0, 1, 0xff, 0x7f, 0, 0 };
    assert_int_equal(decodes(huge, sizeof huge), TT_ECORRUPT);
    free(c);
    sketch_release(&sk);
    wbuf_release(&b);
}

UNIT_TESTS(cmocka_unit_test(test_sketch_quantile_error_bound),
           cmocka_unit_test(test_sketch_merge_is_union), cmocka_unit_test(test_sketch_roundtrip),
           cmocka_unit_test(test_sketch_bad_bytes))
