/*
 * test_urlform.c - urlencoded decoding: escapes, '+', malformed escapes left
 * as they are, parts without '=', empty parts, a callback that stops.
 */
#include <stdio.h>
#include <string.h>
#include "server/urlform.h"
#include "telltale.h"
#include "unit.h"

struct got {
    char text[512];
    size_t len;
    int calls, stop_at;
};

/* collect appends "name=value;" (bytes as they are, NUL as "\0") to text. */
static int collect(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    struct got *g = arg;
    const char *parts[2] = { name, val };
    size_t lens[2] = { nlen, vlen };
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < lens[p]; i++)
            g->len += (size_t)snprintf(g->text + g->len, sizeof g->text - g->len, "%s",
                                       parts[p][i] == '\0' ? "\\0" : (char[2]){ parts[p][i], 0 });
        g->len += (size_t)snprintf(g->text + g->len, sizeof g->text - g->len, p ? ";" : "=");
    }
    g->calls++;
    return g->calls == g->stop_at ? TT_ESYNTAX : 0;
}

static const char *parse(const char *in, struct got *g, int stop_at, int *rc)
{
    static char buf[512];
    memset(g, 0, sizeof *g);
    g->stop_at = stop_at;
    snprintf(buf, sizeof buf, "%s", in);
    *rc = urlform_parse(buf, strlen(in), collect, g);
    return g->text;
}

static void test_urlform_parse(void **state)
{
    (void)state;
    struct got g;
    int rc;
    assert_string_equal(parse("a=1&b=x+y&c=%41%42%2b", &g, 0, &rc), "a=1;b=x y;c=AB+;");
    assert_int_equal(rc, 0);
    assert_string_equal(parse("tags=%7B%22k%22%3A%22v%22%7D", &g, 0, &rc), "tags={\"k\":\"v\"};");
    /* malformed escapes stay; a part without '=' has an empty value */
    assert_string_equal(parse("x=%&y=%4&z=%zz%4", &g, 0, &rc), "x=%;y=%4;z=%zz%4;");
    assert_string_equal(parse("flag&&=v&k==", &g, 0, &rc), "flag=;=v;k==;");
    assert_int_equal(g.calls, 3);
    assert_string_equal(parse("n=%00a", &g, 0, &rc), "n=\\0a;");
    assert_string_equal(parse("", &g, 0, &rc), "");
    assert_int_equal(g.calls, 0);
    assert_string_equal(parse("%61%3D=%26", &g, 0, &rc),
                        "a==&;"); /* an escaped = is part of the name */
    parse("a=1&b=2&c=3", &g, 2, &rc);
    assert_int_equal(rc, TT_ESYNTAX);
    assert_int_equal(g.calls, 2);
}

static void test_urlform_decode(void **state)
{
    (void)state;
    char s[] = "%e2%82%ac+%7e%";
    assert_int_equal(urlform_decode(s, strlen(s)), 6);
    assert_memory_equal(s, "\xe2\x82\xac ~%", 6);
    char t[] = "%4";
    assert_int_equal(urlform_decode(t, 1), 1); /* only n bytes are read */
    assert_int_equal(t[0], '%');
}

UNIT_TESTS(cmocka_unit_test(test_urlform_parse), cmocka_unit_test(test_urlform_decode))
