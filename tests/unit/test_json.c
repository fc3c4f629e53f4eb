/* test_json.c - JSON writers: escaping of quotes, control characters, U+2028,
 * invalid UTF-8 (replaced) and valid UTF-8 (kept); numbers and non-finite doubles. */
#include <math.h>
#include <string.h>
#include "unit.h"
#include "core/json.h"

/* str runs json_put_str on n bytes and compares the result with want. */
static void check_str(const char *in, size_t n, const char *want)
{
    struct wbuf b;

    wbuf_init(&b, 0);
    json_put_str(&b, in, n);
    assert_int_equal(b.err, 0);
    assert_strn_equal(b.data, b.len, want);
    wbuf_release(&b);
}

#define CHECK(lit, want) check_str(lit, sizeof(lit) - 1, want)

static void test_escape(void **state)
{
    (void)state;
    CHECK("", "\"\"");
    CHECK("plain text", "\"plain text\"");
    CHECK("q\"b\\s/", "\"q\\\"b\\\\s/\"");
    CHECK("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    CHECK("a\x01z\x1f\x7f", "\"a\\u0001z\\u001f\\u007f\"");
    CHECK("nul\0in", "\"nul\\u0000in\"");
    /* Valid UTF-8, 2, 3 and 4 bytes, is kept as is. */
    CHECK("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* Line and paragraph separators are escaped for JavaScript. */
    CHECK("a\xe2\x80\xa8"
          "b\xe2\x80\xa9",
          "\"a\\u2028b\\u2029\"");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    CHECK("\xff", "\"\\ufffd\"");
    CHECK("a\x80z", "\"a\\ufffdz\"");
    /* Overlong "/", a surrogate, beyond U+10FFFF, and a truncated sequence. */
    CHECK("\xc0\xaf", "\"\\ufffd\\ufffd\"");
    CHECK("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    CHECK("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    CHECK("x\xe2\x82", "\"x\\ufffd\\ufffd\"");
    CHECK("\xe2\x82z", "\"\\ufffd\\ufffdz\"");
    /* The largest valid code point stays. */
    CHECK("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
}

static void check_double(double v, const char *want)
{
    struct wbuf b;

    wbuf_init(&b, 0);
    json_put_double(&b, v);
    assert_int_equal(b.err, 0);
    assert_strn_equal(b.data, b.len, want);
    wbuf_release(&b);
}

static void test_numbers(void **state)
{
    struct wbuf b;
    char tmp[40];

    (void)state;
    check_double(0.1, "0.1");
    check_double(42, "42");
    check_double(-1.5, "-1.5");
    check_double(1e300, "1e+300");
    check_double(0.1 + 0.2, "0.30000000000000004");
    check_double(NAN, "\"NaN\"");
    check_double(INFINITY, "\"Infinity\"");
    check_double(-INFINITY, "\"-Infinity\"");
    assert_int_equal(json_format_double(2.5, tmp, sizeof(tmp)), 3);
    assert_string_equal(tmp, "2.5");

    wbuf_init(&b, 0);
    json_put_i64(&b, INT64_MIN);
    wbuf_put_u8(&b, ' ');
    json_put_u64(&b, UINT64_MAX);
    wbuf_put_u8(&b, ' ');
    json_put_cstr(&b, NULL);
    assert_strn_equal(b.data, b.len, "-9223372036854775808 18446744073709551615 null");
    wbuf_release(&b);
}

UNIT_TESTS(cmocka_unit_test(test_escape), cmocka_unit_test(test_invalid_utf8),
           cmocka_unit_test(test_numbers))
