/*
 * test_json_out.c - the nesting JSON writer and Prometheus's value rules:
 * sample values as strings in Go's shortest form, timestamps in seconds
 * with three decimals, misuse turned into a sticky error.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "server/json_out.h"
#include "query/promql/value.h"

static void check_float(double v, const char *want)
{
    char out[64];
    size_t n = json_format_prom_float(v, out, sizeof(out));

    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_json_out_prom_floats(void **state)
{
    (void)state;
    check_float(1.5, "1.5");
    check_float(0, "0");
    check_float(-0.0, "-0");
    check_float(42, "42");
    check_float(-3.25, "-3.25");
    check_float(0.1, "0.1");
    check_float(1.0 / 3, "0.3333333333333333");
    check_float(123456789, "123456789");
    check_float(1e20, "100000000000000000000");
    check_float(1e21, "1e+21");
    check_float(1.5e300, "1.5e+300");
    check_float(0.000001, "0.000001");
    check_float(1e-7, "1e-07");
    check_float(2.5e-10, "2.5e-10");
    check_float(5e-324, "5e-324");
    check_float(1.7976931348623157e308, "1.7976931348623157e+308");
    check_float(NAN, "NaN");
    check_float(INFINITY, "+Inf");
    check_float(-INFINITY, "-Inf");
    /* Every output reads back as the same double. */
    for (int i = 0; i < 2000; i++) {
        char out[64];
        double v = ((double)rand() / RAND_MAX - 0.5) * pow(10, (i % 60) - 30);
        json_format_prom_float(v, out, sizeof(out));
        assert_true(strtod(out, NULL) == v);
    }
}

static void test_json_out_nesting(void **state)
{
    struct wbuf b;
    struct json_out j;

    (void)state;
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "resultType");
    json_out_str(&j, "matrix");
    json_out_key(&j, "result");
    json_out_array_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "metric");
    json_out_object_begin(&j);
    json_out_key(&j, "__name__");
    json_out_str(&j, "up\"\n");
    json_out_object_end(&j);
    json_out_key(&j, "values");
    json_out_array_begin(&j);
    json_out_prom_sample(&j, 1700000000123, 1);
    json_out_prom_sample(&j, 1700000001000, NAN);
    json_out_prom_sample(&j, -1500, -INFINITY);
    json_out_prom_sample(&j, 5, 0.5);
    json_out_array_end(&j);
    json_out_object_end(&j);
    json_out_array_end(&j);
    json_out_key(&j, "n");
    json_out_i64(&j, -7);
    json_out_key(&j, "f");
    json_out_f64(&j, 2.5);
    json_out_key(&j, "t");
    json_out_bool(&j, 1);
    json_out_key(&j, "z");
    json_out_null(&j);
    json_out_key(&j, "s");
    json_out_str(&j, NULL);
    json_out_object_end(&j);
    json_out_success_end(&j);
    assert_int_equal(b.err, 0);
    assert_strn_equal(b.data, b.len,
                      "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{"
                      "\"metric\":{\"__name__\":\"up\\\"\\n\"},\"values\":[[1700000000.123,\"1\"],"
                      "[1700000001,\"NaN\"],[-1.500,\"-Inf\"],[0.005,\"0.5\"]]}],\"n\":-7,"
                      "\"f\":2.5,\"t\":true,\"z\":null,\"s\":null}}");
    wbuf_release(&b);
}

static void test_json_out_misuse(void **state)
{
    struct wbuf b;
    struct json_out j;

    (void)state;
    /* A value without a key inside an object. */
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_str(&j, "x");
    assert_int_equal(b.err, TT_EINVAL);
    wbuf_release(&b);

    /* A key in an array. */
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_array_begin(&j);
    json_out_key(&j, "k");
    assert_int_equal(b.err, TT_EINVAL);
    wbuf_release(&b);

    /* Closing the wrong container. */
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_array_begin(&j);
    json_out_object_end(&j);
    assert_int_equal(b.err, TT_EINVAL);
    wbuf_release(&b);

    /* Too deep. */
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    for (int i = 0; i < JSON_OUT_MAX_DEPTH + 2; i++)
        json_out_array_begin(&j);
    assert_int_equal(b.err, TT_EINVAL);
    wbuf_release(&b);

    /* A small limit: the wbuf's own error. */
    wbuf_init(&b, 8);
    json_out_init(&j, &b);
    json_out_str(&j, "a long string past the limit");
    assert_int_equal(b.err, TT_ETOOBIG);
    wbuf_release(&b);
}

/* Significant digits in a formatted float ("0.0125" -> 3, "1.5e-07" -> 2). */
static int sig_digits(const char *s)
{
    int n = 0, started = 0, trailing = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (*s != '0' || started) {
            started = 1;
            n++;
            trailing = *s == '0' ? trailing + 1 : 0;
        }
    }
    return n - trailing;
}

/* Every value comes back exactly, with the fewest significant digits that
 * do (checked against a brute-force search), over decimals of the kind
 * monitoring data holds and random doubles. */
static void test_json_out_prom_floats_shortest(void **state)
{
    (void)state;
    srand(7);
    char out[64], tmp[64];
    for (int i = 0; i < 200000; i++) {
        double v;
        if (i % 2) {
            double m = (double)(rand() % 100000000);
            v = m / pow(10, rand() % 10) * (rand() % 2 ? 1 : -1);
        } else {
            uint64_t b = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
            if (i % 10 == 0)
                b &= UINT64_C(0x800fffffffffffff); /* a subnormal */
            memcpy(&v, &b, sizeof v);
            if (!isfinite(v))
                continue;
        }
        json_format_prom_float(v, out, sizeof out);
        if (strtod(out, NULL) != v)
            fail_msg("%.17g formatted as %s does not come back", v, out);
        if (v == 0)
            continue;
        int p = 0;
        for (; p < 17; p++) {
            snprintf(tmp, sizeof tmp, "%.*e", p, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        if (sig_digits(out) > p + 1)
            fail_msg("%.17g formatted as %s: %d digits, %d would do", v, out, sig_digits(out),
                     p + 1);
    }
}

/* sig_string: the significant digits of s, without sign, point, exponent,
 * leading or trailing zeros ("0.0125" -> "125", "1.5e-07" -> "15"). */
static void sig_string(const char *s, char *out)
{
    size_t n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && (*s != '0' || n > 0))
            out[n++] = *s;
    while (n > 1 && out[n - 1] == '0')
        n--;
    out[n] = '\0';
}

/* Values of 16 and 17 digits, in the range of the exact integer path:
 * every value comes back, with no more digits than the correctly rounded
 * form needs, and the same digits when the counts agree (both are then the
 * decimal nearest to v). Powers of two have a narrower interval below, so
 * their shortest form may not be the nearest one: checked against what Go
 * (and Python's repr) print. */
static void test_json_out_prom_floats_exact(void **state)
{
    static const struct {
        double v;
        const char *want;
    } fixed[] = {
        { 0x1p-24, "5.960464477539063e-08" },
        { 0x1p-20, "9.5367431640625e-07" },
        { 0.1 + 0.2, "0.30000000000000004" },
        { 1.0 / 3, "0.3333333333333333" },
        { 2.0 / 3, "0.6666666666666666" },
        { 123456.789e-3, "123.456789" },
        { 0x1.fffffffffffffp+49, "1125899906842623.9" },
        { 1e-11, "1e-11" },
    };
    char out[64], tmp[64], a[40], b[40];

    (void)state;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        json_format_prom_float(fixed[i].v, out, sizeof out);
        assert_string_equal(out, fixed[i].want);
    }
    srand(11);
    for (int i = 0; i < 100000; i++) {
        double v = exp((double)rand() / RAND_MAX * 59.8 - 25.3); /* ~1e-11 .. 1e15 */
        if (i % 4 == 0)
            v = ldexp(1.0, rand() % 84 - 36) / 3;
        json_format_prom_float(v, out, sizeof out);
        if (strtod(out, NULL) != v)
            fail_msg("%.17g formatted as %s does not come back", v, out);
        int p = 0;
        for (; p < 17; p++) {
            snprintf(tmp, sizeof tmp, "%.*e", p, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        snprintf(tmp, sizeof tmp, "%.*e", p, v);
        sig_string(out, a);
        sig_string(tmp, b);
        if (strlen(a) > strlen(b) || (strlen(a) == strlen(b) && strcmp(a, b) != 0))
            fail_msg("%.17g formatted as %s, nearest shortest is %s", v, out, tmp);
    }
}

/* write_pairs writes pre, then p[0..n) by json_out_prom_points (bulk) or
 * json_out_prom_sample one by one, into b (released by the caller). */
static void write_pairs(struct wbuf *b, int bulk, int pre, const struct promql_point *p, size_t n)
{
    struct json_out j;

    wbuf_init(b, 0);
    json_out_init(&j, b);
    if (pre == 2) {
        json_out_object_begin(&j); /* pairs after a key: invalid past the first */
        json_out_key(&j, "k");
    } else {
        json_out_array_begin(&j);
        if (pre == 1)
            json_out_i64(&j, 7); /* pairs after a sibling: a comma first */
    }
    if (bulk)
        json_out_prom_points(&j, p, n);
    else
        for (size_t i = 0; i < n; i++)
            json_out_prom_sample(&j, p[i].t, p[i].v);
    json_out_prom_sample(&j, 1, 2); /* the writer's state goes on right */
    if (pre == 2)
        json_out_object_end(&j);
    else
        json_out_array_end(&j);
}

/* json_out_prom_points writes the very bytes (and errors) of
 * json_out_prom_sample called for each pair. */
static void test_json_out_prom_points(void **state)
{
    static const int64_t ts[] = { 0,
                                  1,
                                  999,
                                  1000,
                                  1001,
                                  -1,
                                  -999,
                                  -1000,
                                  -1500,
                                  10,
                                  100,
                                  1704067200000,
                                  123456789012345,
                                  INT64_MAX,
                                  INT64_MIN + 1 };
    static const double special[] = { 0,         -0.0,     NAN,    NAN,    INFINITY, INFINITY,
                                      -INFINITY, 1e21,     1e-7,   0.75,   0.75,     0.1234,
                                      1e300,     -2.5e-10, 5e-324, 1.0 / 3 };
    struct promql_point p[600];
    struct wbuf a, b;
    size_t n = 0;

    (void)state;
    srand(5);
    for (; n < sizeof p / sizeof p[0]; n++) {
        p[n].t = n < sizeof ts / sizeof ts[0] ? ts[n] : (int64_t)rand() * 1000 + rand() % 3 * 7;
        if (n < sizeof special / sizeof special[0]) {
            p[n].v = special[n];
        } else if (n % 5 == 0) {
            p[n].v = p[n - 1].v; /* repeats write the same text again */
        } else if (n % 2) {
            p[n].v = (double)(rand() % 100000) / pow(10, rand() % 6);
        } else {
            uint64_t bits = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
            memcpy(&p[n].v, &bits, sizeof bits);
        }
    }
    for (int pre = 0; pre < 3; pre++) {
        for (size_t k = 0; k <= 3; k++) {
            size_t cnt = k == 3 ? n : k;
            write_pairs(&a, 1, pre, p, cnt);
            write_pairs(&b, 0, pre, p, cnt);
            assert_int_equal(a.err, b.err);
            assert_int_equal(a.len, b.len);
            if (a.len > 0)
                assert_memory_equal(a.data, b.data, a.len);
            if (pre < 2)
                assert_int_equal(a.err, 0);
            else if (cnt > 1)
                assert_int_not_equal(a.err, 0);
            wbuf_release(&a);
            wbuf_release(&b);
        }
    }
}

UNIT_TESTS(cmocka_unit_test(test_json_out_prom_floats), cmocka_unit_test(test_json_out_prom_points),
           cmocka_unit_test(test_json_out_prom_floats_exact),
           cmocka_unit_test(test_json_out_prom_floats_shortest),
           cmocka_unit_test(test_json_out_nesting), cmocka_unit_test(test_json_out_misuse))
