/*
 * test_promql_lexer.c - the PromQL lexer and its value conversions: token
 * streams in each lexer state, lexical errors, durations, numbers, string
 * unquoting.
 */
#include <math.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "query/promql/lexer.h"

/* lex_all lexes q into types[] (up to max, EOF/ERROR included); returns count. */
static size_t lex_all(struct promql_lexer *lx, const char *q, enum promql_tok *types, size_t max)
{
    promql_lexer_init(lx, q, strlen(q));
    size_t n = 0;
    while (n < max) {
        struct promql_token t;
        promql_lexer_next(lx, &t);
        types[n++] = t.type;
        if (t.type == PT_EOF || t.type == PT_ERROR)
            break;
    }
    return n;
}

static void test_token_streams(void **state)
{
    (void)state;
    struct promql_lexer lx;
    enum promql_tok t[32];
    size_t n = lex_all(&lx, "sum BY (a) (rate(x:y{a=~\"b\",c!=`d`}[5m:1h]) offset -1d) # c", t, 32);
    static const enum promql_tok want[] = {
        PT_SUM,
        PT_BY,
        PT_LEFT_PAREN,
        PT_IDENTIFIER,
        PT_RIGHT_PAREN,
        PT_LEFT_PAREN,
        PT_IDENTIFIER,
        PT_LEFT_PAREN,
        PT_METRIC_IDENTIFIER,
        PT_LEFT_BRACE,
        PT_IDENTIFIER,
        PT_EQL_REGEX,
        PT_STRING,
        PT_COMMA,
        PT_IDENTIFIER,
        PT_NEQ,
        PT_STRING,
        PT_RIGHT_BRACE,
        PT_LEFT_BRACKET,
        PT_DURATION,
        PT_COLON,
        PT_DURATION,
        PT_RIGHT_BRACKET,
        PT_RIGHT_PAREN,
        PT_OFFSET,
        PT_SUB,
        PT_DURATION,
        PT_RIGHT_PAREN,
        PT_EOF,
    };
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(t[i], want[i]);

    n = lex_all(&lx, "1 == bool 2 != 3 <= 4 >= 5 < 6 > 7 ^ 8 % 9 and or unless atan2 @ Inf nan", t,
                32);
    static const enum promql_tok want2[] = {
        PT_NUMBER, PT_EQLC,   PT_BOOL,   PT_NUMBER, PT_NEQ,    PT_NUMBER, PT_LTE,
        PT_NUMBER, PT_GTE,    PT_NUMBER, PT_LSS,    PT_NUMBER, PT_GTR,    PT_NUMBER,
        PT_POW,    PT_NUMBER, PT_MOD,    PT_NUMBER, PT_LAND,   PT_LOR,    PT_LUNLESS,
        PT_ATAN2,  PT_AT,     PT_NUMBER, PT_NUMBER, PT_EOF,
    };
    assert_int_equal(n, sizeof(want2) / sizeof(want2[0]));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(t[i], want2[i]);

    /* fill is a keyword only before '('; keywords are plain names in braces. */
    n = lex_all(&lx, "fill fill(", t, 32);
    assert_int_equal(t[0], PT_IDENTIFIER);
    assert_int_equal(t[1], PT_FILL);
    n = lex_all(&lx, "{by=\"x\"}", t, 32);
    assert_int_equal(t[1], PT_IDENTIFIER);
    (void)n;
}

static void expect_lex_error(const char *q, const char *msg, uint32_t pos)
{
    struct promql_lexer lx;
    promql_lexer_init(&lx, q, strlen(q));
    struct promql_token t;
    do {
        promql_lexer_next(&lx, &t);
    } while (t.type != PT_ERROR && t.type != PT_EOF);
    assert_int_equal(t.type, PT_ERROR);
    assert_string_equal(lx.errmsg, msg);
    assert_int_equal(t.pos, pos);
    /* The stream ends after an error. */
    promql_lexer_next(&lx, &t);
    assert_int_equal(t.type, PT_EOF);
}

static void test_lex_errors(void **state)
{
    (void)state;
    expect_lex_error("x{a=\"\xff\"}", "invalid UTF-8 rune", 4);
    expect_lex_error("`\xc3`", "invalid UTF-8 rune", 0);
    expect_lex_error("\"\\u12\"", "illegal character U+0022 '\"' in escape sequence", 0);
    expect_lex_error("\"\\uD800\"", "escape sequence is an invalid Unicode code point", 0);
    expect_lex_error("\"\\400\"", "escape sequence is an invalid Unicode code point", 0);
    expect_lex_error("'\\\"'", "unknown escape sequence U+0022 '\"'", 0);
    expect_lex_error("x[5m", "unclosed left bracket", 4);
    expect_lex_error("x[", "unexpected end of input in duration expression", 2);
    expect_lex_error("x[:5m]", "unexpected colon before duration in duration expression", 3);
    expect_lex_error("x[5m::]", "unexpected colon ':'", 5);
    expect_lex_error("x[5m[", "unexpected left bracket '['", 4);
    expect_lex_error("0x1.5", "bad number or duration syntax: \"0x1.\"", 0);
    expect_lex_error("1e", "bad number or duration syntax: \"1e\"", 0);
    expect_lex_error("1__0", "bad number or duration syntax: \"1__\"", 0);
    expect_lex_error("x\x01", "unexpected character: '\\x01'", 1);
    expect_lex_error("!", "unexpected character after '!': '\xef\xbf\xbd'", 0);
}

static void test_durations(void **state)
{
    (void)state;
    char err[128];
    int64_t ms = -1;
    assert_int_equal(promql_parse_duration("0", 1, &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(promql_parse_duration("1h30m", 5, &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(promql_parse_duration("1y2w3d4h5m6s7ms", 15, &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 31536000000 + 2 * 604800000 + 3 * 86400000 + 4 * 3600000 + 5 * 60000 +
                             6 * 1000 + 7);
    assert_int_equal(promql_parse_duration("1m1h", 4, &ms, err, sizeof(err)), TT_ESYNTAX);
    assert_string_equal(err, "not a valid duration string: \"1m1h\"");
    assert_int_equal(promql_parse_duration("5hs", 3, &ms, err, sizeof(err)), TT_ESYNTAX);
    assert_string_equal(err, "unknown unit \"hs\" in duration \"5hs\"");
    assert_int_equal(promql_parse_duration("", 0, &ms, err, sizeof(err)), TT_ESYNTAX);
    assert_string_equal(err, "empty duration string");
    assert_int_equal(promql_parse_duration("300y", 4, &ms, err, sizeof(err)), TT_ERANGE);
    assert_string_equal(err, "duration out of range");
    assert_int_equal(promql_parse_duration("99999999999999999999s", 21, &ms, NULL, 0), TT_ESYNTAX);
}

static void test_numbers(void **state)
{
    (void)state;
    char err[200];
    double v;
    assert_int_equal(promql_parse_number("0x1F", 4, &v, err, sizeof(err)), 0);
    assert_true(v == 31);
    assert_int_equal(promql_parse_number("0755", 4, &v, err, sizeof(err)), 0);
    assert_true(v == 493);
    assert_int_equal(promql_parse_number("089", 3, &v, err, sizeof(err)), 0);
    assert_true(v == 89);
    assert_int_equal(promql_parse_number("1_000.5", 7, &v, err, sizeof(err)), 0);
    assert_true(v == 1000.5);
    assert_int_equal(promql_parse_number("Inf", 3, &v, err, sizeof(err)), 0);
    assert_true(isinf(v) && v > 0);
    assert_int_equal(promql_parse_number("NaN", 3, &v, err, sizeof(err)), 0);
    assert_true(isnan(v));
    assert_int_equal(promql_parse_number("1e400", 5, &v, err, sizeof(err)), TT_ERANGE);
    assert_string_equal(err, "strconv.ParseFloat: parsing \"1e400\": value out of range");
    assert_int_equal(promql_parse_number("1e-400", 6, &v, err, sizeof(err)), 0);
    assert_true(v == 0);
    assert_int_equal(promql_parse_number("18446744073709551616", 20, &v, err, sizeof(err)), 0);
    assert_true(v == 18446744073709551616.0);
    assert_int_equal(promql_parse_number("0xFFFFFFFFFFFFFFFFFF", 20, &v, err, sizeof(err)),
                     TT_ESYNTAX);
}

static void test_unquote(void **state)
{
    (void)state;
    char out[64];
    size_t n;
    const char *s = "\"a\\tb\\x41\\101\\u00e9\\U0001F600\\\"\"";
    assert_int_equal(promql_unquote(s, strlen(s), out, &n), 0);
    assert_int_equal(n, 12);
    assert_memory_equal(out, "a\tbAA\xc3\xa9\xf0\x9f\x98\x80\"", 12);
    s = "'it\\'s'";
    assert_int_equal(promql_unquote(s, strlen(s), out, &n), 0);
    assert_memory_equal(out, "it's", 4);
    s = "`a\\nb`";
    assert_int_equal(promql_unquote(s, strlen(s), out, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "a\\nb", 4);
    assert_int_equal(promql_unquote("\"a", 2, out, &n), TT_ESYNTAX);
    assert_int_equal(promql_unquote("\"\\q\"", 4, out, &n), TT_ESYNTAX);
}

UNIT_TESTS(cmocka_unit_test(test_token_streams), cmocka_unit_test(test_lex_errors),
           cmocka_unit_test(test_durations), cmocka_unit_test(test_numbers),
           cmocka_unit_test(test_unquote))
