/* test_buf.c - the codec buffers: writer growth, maximum and sticky errors;
 * reader bounds, varints and sticky errors. */
#include <math.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/buf.h"

static void test_writer_layout(void **state)
{
    (void)state;
    struct wbuf b;
    wbuf_init(&b, 0);
    assert_null(b.data);
    wbuf_put_u8(&b, 0x01);
    wbuf_put_u16(&b, 0x0302);
    wbuf_put_u32(&b, 0x07060504);
    wbuf_put_u64(&b, 0x0f0e0d0c0b0a0908ull);
    wbuf_put(&b, "xy", 2);
    wbuf_put(&b, NULL, 0);
    wbuf_put_str(&b, "abc", 3);
    wbuf_put_str(&b, NULL, 0);
    static const uint8_t want[] = { 1,  2,  3,  4,  5,   6,   7, 8,   9,   10,  11,
                                    12, 13, 14, 15, 'x', 'y', 3, 'a', 'b', 'c', 0 };
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    wbuf_set_u32(&b, 3, 0xa1a2a3a4);
    assert_int_equal(b.data[3], 0xa4);
    assert_int_equal(b.data[6], 0xa1);
    wbuf_set_u32(&b, b.len - 3, 0); /* out of range: ignored */
    assert_int_equal(b.data[b.len - 1], 0);
    assert_int_equal(b.data[b.len - 3], 'b');
    wbuf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data);
    wbuf_release(&b);
    assert_null(b.data);
}

static void test_writer_growth(void **state)
{
    (void)state;
    struct wbuf b;
    wbuf_init(&b, 0);
    for (uint32_t i = 0; i < 100000; i++)
        wbuf_put_u32(&b, i);
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 400000);
    assert_true(b.cap >= b.len && b.cap < 2 * b.len + 64);
    for (uint32_t i = 0; i < 100000; i += 997)
        assert_int_equal(get_le32(b.data + 4 * i), i);
    assert_int_equal(wbuf_reserve(&b, 1u << 20), 0);
    assert_true(b.cap - b.len >= 1u << 20);
    wbuf_release(&b);
}

static void test_writer_max_is_sticky(void **state)
{
    (void)state;
    struct wbuf b;
    wbuf_init(&b, 10);
    wbuf_put(&b, "0123456789", 10); /* exactly fits */
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 10);
    wbuf_put_u8(&b, 1);
    assert_int_equal(b.err, TT_ETOOBIG);
    assert_int_equal(b.len, 10);
    wbuf_put_u64(&b, 1); /* no-op */
    wbuf_put_uvarint(&b, 1);
    assert_int_equal(b.len, 10);
    assert_int_equal(wbuf_reserve(&b, 0), TT_ETOOBIG);
    wbuf_reset(&b);
    assert_int_equal(b.err, 0);
    /* A varint near the maximum takes only the bytes it needs. */
    for (int i = 0; i < 10; i++)
        wbuf_put_uvarint(&b, 5);
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 10);
    wbuf_put_uvarint(&b, 300);
    assert_int_equal(b.err, TT_ETOOBIG);
    assert_int_equal(wbuf_reserve(&b, SIZE_MAX), TT_ETOOBIG);
    wbuf_release(&b);

    wbuf_init(&b, 0);
    assert_int_equal(wbuf_reserve(&b, SIZE_MAX - 1), TT_ETOOBIG);
    wbuf_release(&b);
}

static void test_varint_round_trip(void **state)
{
    (void)state;
    static const uint64_t u[] = { 0,
                                  1,
                                  127,
                                  128,
                                  255,
                                  16383,
                                  16384,
                                  1u << 21,
                                  0xffffffffu,
                                  1ull << 56,
                                  UINT64_MAX - 1,
                                  UINT64_MAX };
    static const size_t ulen[] = { 1, 1, 1, 2, 2, 2, 3, 4, 5, 9, 10, 10 };
    static const int64_t s[] = { 0, -1, 1, -64, 64, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX };
    struct wbuf b;
    wbuf_init(&b, 0);
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        size_t before = b.len;
        wbuf_put_uvarint(&b, u[i]);
        assert_int_equal(b.len - before, ulen[i]);
    }
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        wbuf_put_svarint(&b, s[i]);
    wbuf_put_f64(&b, -0.0);
    wbuf_put_f64(&b, INFINITY);
    wbuf_put_f64(&b, NAN);
    assert_int_equal(b.err, 0);
    /* zigzag keeps small negatives short */
    struct wbuf z;
    wbuf_init(&z, 0);
    wbuf_put_svarint(&z, -64);
    assert_int_equal(z.len, 1);
    wbuf_release(&z);

    struct rbuf r;
    rbuf_init(&r, b.data, b.len);
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        assert_true(rbuf_uvarint(&r) == u[i]);
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        assert_true(rbuf_svarint(&r) == s[i]);
    double d = rbuf_f64(&r);
    assert_true(d == 0 && signbit(d));
    assert_true(isinf(rbuf_f64(&r)));
    assert_true(isnan(rbuf_f64(&r)));
    assert_int_equal(r.err, 0);
    assert_int_equal(rbuf_left(&r), 0);
    wbuf_release(&b);
}

static void test_reader_fixed_and_trunc(void **state)
{
    (void)state;
    static const uint8_t in[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    struct rbuf r;
    rbuf_init(&r, in, sizeof in);
    assert_int_equal(rbuf_u8(&r), 1);
    assert_int_equal(rbuf_u16(&r), 0x0302);
    assert_int_equal(rbuf_u32(&r), 0x07060504);
    assert_true(rbuf_u64(&r) == 0x0f0e0d0c0b0a0908ull);
    assert_int_equal(rbuf_left(&r), 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(rbuf_u8(&r), 0);
    assert_int_equal(r.err, TT_ETRUNC);

    rbuf_init(&r, in, 3);
    assert_int_equal(rbuf_u32(&r), 0);
    assert_int_equal(r.err, TT_ETRUNC);
    assert_int_equal(rbuf_left(&r), 3); /* did not move */
    assert_int_equal(rbuf_u8(&r), 0);   /* sticky */
    assert_null(rbuf_bytes(&r, 1));

    rbuf_init(&r, in, 5);
    const uint8_t *p = rbuf_bytes(&r, 4);
    assert_ptr_equal(p, in);
    assert_null(rbuf_bytes(&r, 2));
    assert_int_equal(r.err, TT_ETRUNC);
}

static void test_reader_bad_varints(void **state)
{
    (void)state;
    struct rbuf r;
    static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                      0x80, 0x80, 0x80, 0x80, 0x01 };
    rbuf_init(&r, eleven, sizeof eleven);
    assert_true(rbuf_uvarint(&r) == 0);
    assert_int_equal(r.err, TT_ECORRUPT);

    static const uint8_t overflow[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02
    };
    rbuf_init(&r, overflow, sizeof overflow);
    rbuf_uvarint(&r);
    assert_int_equal(r.err, TT_ECORRUPT);

    static const uint8_t cut[] = { 0x80, 0x80 };
    rbuf_init(&r, cut, sizeof cut);
    rbuf_uvarint(&r);
    assert_int_equal(r.err, TT_ETRUNC);
    rbuf_init(&r, cut, 1);
    rbuf_uvarint(&r);
    assert_int_equal(r.err, TT_ETRUNC);
    rbuf_init(&r, cut, 0);
    rbuf_svarint(&r);
    assert_int_equal(r.err, TT_ETRUNC);

    /* one byte at the very end takes the slow path and still works */
    static const uint8_t last[] = { 0x05 };
    rbuf_init(&r, last, 1);
    assert_true(rbuf_uvarint(&r) == 5);
    assert_int_equal(r.err, 0);
    /* non-minimal encodings are accepted */
    static const uint8_t padded[] = { 0x81, 0x80, 0x00 };
    rbuf_init(&r, padded, 3);
    assert_true(rbuf_uvarint(&r) == 1);
    assert_int_equal(rbuf_left(&r), 0);
}

static void test_reader_strings(void **state)
{
    (void)state;
    struct wbuf b;
    wbuf_init(&b, 0);
    wbuf_put_str(&b, "héllo", strlen("héllo"));
    wbuf_put_str(&b, "", 0);
    wbuf_put_uvarint(&b, 100); /* claims 100 bytes, has 2 */
    wbuf_put(&b, "ab", 2);
    struct rbuf r;
    size_t n;
    rbuf_init(&r, b.data, b.len);
    const char *s = rbuf_str(&r, &n);
    assert_int_equal(n, strlen("héllo"));
    assert_memory_equal(s, "héllo", n);
    s = rbuf_str(&r, &n);
    assert_non_null(s);
    assert_int_equal(n, 0);
    assert_null(rbuf_str(&r, &n));
    assert_int_equal(n, 0);
    assert_int_equal(r.err, TT_ETRUNC);
    assert_int_equal(rbuf_left(&r), 3);
    wbuf_release(&b);
}

UNIT_TESTS(cmocka_unit_test(test_writer_layout), cmocka_unit_test(test_writer_growth),
           cmocka_unit_test(test_writer_max_is_sticky), cmocka_unit_test(test_varint_round_trip),
           cmocka_unit_test(test_reader_fixed_and_trunc), cmocka_unit_test(test_reader_bad_varints),
           cmocka_unit_test(test_reader_strings))
