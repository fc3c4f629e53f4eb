/* test_matcher.c - label matchers: each type, regex anchoring, the empty-value
 * rule, syntax errors, and the fast paths against plain PCRE2 on random
 * strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "store/tsdb/matcher.h"

static struct matcher *mk(enum matcher_type t, const char *v, unsigned flags)
{
    struct matcher *m = NULL;
    char err[128];
    int rc = matcher_new(&m, t, "l", v, flags, err, sizeof err);
    if (rc != 0)
        fail_msg("matcher_new(%s): %d %s", v, rc, err);
    return m;
}

static int match1(enum matcher_type t, const char *v, const char *s)
{
    struct matcher *m = mk(t, v, 0);
    struct matcher *p = mk(t, v, MATCHER_PLAIN);
    int r = matcher_matches(m, s, strlen(s));
    assert_int_equal(r, matcher_matches(p, s, strlen(s)));
    matcher_free(m);
    matcher_free(p);
    return r;
}

static void test_matcher_types(void **state)
{
    (void)state;
    assert_true(match1(MATCH_EQ, "foo", "foo"));
    assert_false(match1(MATCH_EQ, "foo", "foobar"));
    assert_false(match1(MATCH_NEQ, "foo", "foo"));
    assert_true(match1(MATCH_NEQ, "foo", "fo"));
    /* anchoring: the whole value must match */
    assert_true(match1(MATCH_RE, "foo", "foo"));
    assert_false(match1(MATCH_RE, "foo", "foobar"));
    assert_false(match1(MATCH_RE, "foo", "xfoo"));
    assert_false(match1(MATCH_RE, "a|b", "ab"));
    assert_true(match1(MATCH_RE, "a|b", "b"));
    assert_false(match1(MATCH_RE, "fo+", "fooo\n"));
    assert_true(match1(MATCH_RE, "fo+", "fooo"));
    assert_false(match1(MATCH_RE, "foo$", "foo\n")); /* $ is the very end */
    assert_true(match1(MATCH_RE, "a.b", "a\nb"));    /* . matches newline */
    assert_true(match1(MATCH_RE, "f.o", "f\xc3\xa9o"));
    assert_true(match1(MATCH_RE, "(?i)FOO", "foo"));
    assert_false(match1(MATCH_RE, "(?i)FOO", "foox"));
    assert_true(match1(MATCH_RE, "foo\\.bar", "foo.bar"));
    assert_false(match1(MATCH_RE, "foo\\.bar", "fooxbar"));
    assert_true(match1(MATCH_RE, "api-.*", "api-server"));
    assert_false(match1(MATCH_RE, "api-.*", "xapi-server"));
    assert_true(match1(MATCH_RE, ".*-server", "api-server"));
    assert_true(match1(MATCH_RE, ".*pi-s.*", "api-server"));
    assert_true(match1(MATCH_RE, "(?:a|bc|d)", "bc"));
    assert_false(match1(MATCH_RE, "(a|bc|d)", "abc"));
    assert_true(match1(MATCH_RE, "sd[a-z]+[0-9]", "sdab7"));
    assert_false(match1(MATCH_RE, "sd[a-z]+[0-9]", "sdab7x"));
    assert_false(match1(MATCH_NRE, "foo", "foo"));
    assert_true(match1(MATCH_NRE, "foo", "foobar"));
    assert_true(match1(MATCH_NRE, "a|b", "ab"));
}

static void test_matcher_empty_value_rule(void **state)
{
    (void)state;
    static const struct {
        enum matcher_type t;
        const char *v;
        int empty, all_nonempty;
    } cases[] = {
        { MATCH_EQ, "", 1, 0 },    { MATCH_EQ, "x", 0, 0 },   { MATCH_NEQ, "", 0, 1 },
        { MATCH_NEQ, "x", 1, 0 },  { MATCH_RE, ".*", 1, 1 },  { MATCH_RE, ".+", 0, 1 },
        { MATCH_RE, "x|", 1, 0 },  { MATCH_RE, "x*", 1, 0 },  { MATCH_RE, "x", 0, 0 },
        { MATCH_RE, "", 1, 0 },    { MATCH_NRE, ".+", 1, 0 }, { MATCH_NRE, "", 0, 1 },
        { MATCH_NRE, ".*", 0, 0 }, { MATCH_NRE, "x", 1, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct matcher *m = mk(cases[i].t, cases[i].v, 0);
        assert_int_equal(matcher_matches_empty(m), cases[i].empty);
        assert_int_equal(matcher_matches_all_nonempty(m), cases[i].all_nonempty);
        assert_int_equal(matcher_type(m), cases[i].t);
        assert_string_equal(matcher_value(m), cases[i].v);
        assert_string_equal(matcher_name(m), "l");
        matcher_free(m);
    }
}

static void test_matcher_sets(void **state)
{
    (void)state;
    const char *const *vals;
    const size_t *lens;
    struct matcher *m = mk(MATCH_RE, "b|a|c\\.d|a", 0);
    long n = matcher_set(m, &vals, &lens);
    assert_int_equal(n, 3);
    int seen = 0;
    for (long i = 0; i < n; i++) {
        if (lens[i] == 3 && memcmp(vals[i], "c.d", 3) == 0)
            seen++;
    }
    assert_int_equal(seen, 1);
    matcher_free(m);
    m = mk(MATCH_NEQ, "x", 0);
    assert_int_equal(matcher_set(m, &vals, &lens), 1);
    assert_int_equal(lens[0], 1);
    matcher_free(m);
    m = mk(MATCH_RE, "a+", 0);
    assert_int_equal(matcher_set(m, &vals, &lens), -1);
    matcher_free(m);
    m = mk(MATCH_RE, "a+", MATCHER_PLAIN);
    assert_int_equal(matcher_set(m, &vals, &lens), -1);
    matcher_free(m);
}

static void test_matcher_syntax_error(void **state)
{
    (void)state;
    struct matcher *m = NULL;
    char err[128];
    assert_int_equal(matcher_new(&m, MATCH_RE, "l", "(foo", 0, err, sizeof err), TT_ESYNTAX);
    assert_null(m);
    assert_non_null(strstr(err, "missing closing parenthesis"));
    assert_non_null(strstr(err, "at offset 4"));
    /* an unbalanced pattern is an error, never an unanchored match */
    assert_int_equal(matcher_new(&m, MATCH_NRE, "l", "a)|(b", 0, err, sizeof err), TT_ESYNTAX);
    assert_non_null(strstr(err, "at offset 1"));
    assert_int_equal(matcher_new(&m, MATCH_RE, "l", "x**", 0, err, sizeof err), TT_ESYNTAX);
    assert_int_equal(matcher_new(&m, MATCH_RE, "l", "[a-", 0, NULL, 0), TT_ESYNTAX);
    assert_int_equal(matcher_new(&m, MATCH_RE, "", "x", 0, err, sizeof err), TT_EINVAL);
    assert_int_equal(matcher_new(&m, MATCH_EQ, "l", NULL, 0, err, sizeof err), TT_EINVAL);
    /* = and != take any text: no regex syntax there */
    assert_int_equal(matcher_new(&m, MATCH_EQ, "l", "(foo", 0, err, sizeof err), 0);
    assert_true(matcher_matches(m, "(foo", 4));
    matcher_free(m);
}

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random valid UTF-8 strings over a small alphabet, so patterns hit. */
static size_t rand_str(uint64_t *rng, char *out, size_t cap)
{
    static const char *const atoms[] = { "a",        "b",  "c", ".",  "-", "\n",
                                         "\xc3\xa9", "ab", "|", "\\", "x", "1" };
    size_t n = 0, k = rng_next(rng) % 7;
    for (size_t i = 0; i < k; i++) {
        const char *a = atoms[rng_next(rng) % (sizeof atoms / sizeof atoms[0])];
        size_t l = strlen(a);
        if (n + l >= cap)
            break;
        memcpy(out + n, a, l);
        n += l;
    }
    out[n] = 0;
    return n;
}

static void test_matcher_fast_paths_agree_with_pcre2(void **state)
{
    (void)state;
    static const char *const fixed[] = {
        "",
        ".*",
        ".+",
        "a",
        "ab",
        "a|b",
        "a|",
        "|a",
        "(a|b)",
        "(?:a|ab|c)",
        "a\\.b",
        "a\\|b",
        "a.*",
        ".*a",
        ".*a.*",
        "ab.*",
        "\\..*",
        "a\\\\.*",
        "a+",
        "ab+",
        "ab?c",
        "ab{2}",
        "ab{2}c",
        "a.b",
        "[ab]c",
        "[ab]+c",
        "a[^]b]c",
        "x(?i)ab",
        "(?i)ab",
        "a(?=b)b",
        "a\\d",
        "a\\x62",
        "\\x61b",
        "ab$",
        "^ab",
        "a*b*",
        "(ab)+",
        "ab|ab.*",
        "\xc3\xa9+",
        "a\xc3\xa9*",
        ".*\xc3\xa9",
        "a\\Qb|\\E",
        "a[[:alpha:]]b",
        "(?s:a.b)",
        "c\\-",
        "ab\\.+",
        ".*.*",
        "a(?:)b",
        "(a)|(b)",
    };
    static const char *const tokens[] = { "a", "b",   ".",    "*",    "+",        "?",   "|",   "(",
                                          ")", "\\.", "[ab]", "ab",   "\xc3\xa9", "{2}", "(?:", "$",
                                          "^", "\\d", "-",    "\\\\", ".*",       ".+",  "c" };
    uint64_t rng = 12345;
    char pat[64], s[64];
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    int compiled = 0;
    for (size_t iter = 0; iter < nfixed + 3000; iter++) {
        const char *p = NULL;
        if (iter < nfixed) {
            p = fixed[iter];
        } else {
            size_t n = 0, k = 1 + rng_next(&rng) % 6;
            for (size_t i = 0; i < k; i++) {
                const char *t = tokens[rng_next(&rng) % (sizeof tokens / sizeof tokens[0])];
                size_t l = strlen(t);
                if (n + l >= sizeof pat)
                    break;
                memcpy(pat + n, t, l);
                n += l;
            }
            pat[n] = 0;
            p = pat;
        }
        for (int t = MATCH_RE; t <= MATCH_NRE; t++) {
            struct matcher *fast = NULL, *plain = NULL;
            int rc1 = matcher_new(&fast, (enum matcher_type)t, "l", p, 0, NULL, 0);
            int rc2 = matcher_new(&plain, (enum matcher_type)t, "l", p, MATCHER_PLAIN, NULL, 0);
            assert_int_equal(rc1, rc2);
            if (rc1 != 0) {
                assert_int_equal(rc1, TT_ESYNTAX);
                continue;
            }
            compiled++;
            assert_int_equal(matcher_matches_empty(fast), matcher_matches_empty(plain));
            for (int j = 0; j < 200; j++) {
                size_t n = rand_str(&rng, s, sizeof s);
                int a = matcher_matches(fast, s, n), b = matcher_matches(plain, s, n);
                if (a != b)
                    fail_msg("pattern /%s/ type %d on \"%s\": fast %d, pcre2 %d", p, t, s, a, b);
            }
            /* the pattern's own literal text, a frequent near miss */
            int a = matcher_matches(fast, p, strlen(p)), b = matcher_matches(plain, p, strlen(p));
            if (a != b)
                fail_msg("pattern /%s/ on itself: fast %d, pcre2 %d", p, a, b);
            matcher_free(fast);
            matcher_free(plain);
        }
    }
    assert_true(compiled > 1000);
}

UNIT_TESTS(cmocka_unit_test(test_matcher_types), cmocka_unit_test(test_matcher_empty_value_rule),
           cmocka_unit_test(test_matcher_sets), cmocka_unit_test(test_matcher_syntax_error),
           cmocka_unit_test(test_matcher_fast_paths_agree_with_pcre2))
