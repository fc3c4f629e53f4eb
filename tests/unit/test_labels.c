/* test_labels.c - label sets (normalizing, ordering, hashing, the canonical and
 * metric-name-first forms) and the symbol table. */
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "store/tsdb/labels.h"

static void format_into(const struct labels *ls, int metric, char *out, size_t n)
{
    struct wbuf b;
    wbuf_init(&b, 0);
    if (metric)
        labels_format_metric(ls, &b);
    else
        labels_format(ls, &b);
    assert_int_equal(b.err, 0);
    assert_true(b.len < n);
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    wbuf_release(&b);
}

static void test_labels_normalize_and_format(void **state)
{
    (void)state;
    struct labels ls;
    char s[256];
    labels_init(&ls);
    assert_int_equal(labels_push(&ls, "job", "node"), 0);
    assert_int_equal(labels_push(&ls, "__name__", "up"), 0);
    assert_int_equal(labels_push(&ls, "empty", ""), 0);
    assert_int_equal(labels_push(&ls, "a", "x\"y\\z\nw"), 0);
    assert_false(labels_is_normalized(&ls));
    assert_int_equal(labels_normalize(&ls), 0);
    assert_true(labels_is_normalized(&ls));
    assert_int_equal(ls.n, 3); /* the empty value is gone */
    assert_string_equal(ls.v[0].name, "__name__");
    assert_string_equal(ls.v[1].name, "a");
    assert_string_equal(ls.v[2].name, "job");
    assert_null(labels_get(&ls, "empty"));
    assert_string_equal(labels_get(&ls, "job"), "node");
    format_into(&ls, 0, s, sizeof s);
    assert_string_equal(s, "{__name__=\"up\",a=\"x\\\"y\\\\z\\nw\",job=\"node\"}");
    format_into(&ls, 1, s, sizeof s);
    assert_string_equal(s, "up{a=\"x\\\"y\\\\z\\nw\",job=\"node\"}");

    labels_reset(&ls);
    assert_int_equal(labels_push(&ls, "__name__", "up"), 0);
    format_into(&ls, 1, s, sizeof s);
    assert_string_equal(s, "up");
    format_into(&ls, 0, s, sizeof s);
    assert_string_equal(s, "{__name__=\"up\"}");

    labels_reset(&ls);
    format_into(&ls, 0, s, sizeof s);
    assert_string_equal(s, "{}");
    format_into(&ls, 1, s, sizeof s);
    assert_string_equal(s, "{}");

    /* names that are not legacy identifiers are quoted, as Prometheus 3 does */
    labels_reset(&ls);
    assert_int_equal(labels_push(&ls, "__name__", "my.metric"), 0);
    assert_int_equal(labels_push(&ls, "b.c", "1"), 0);
    assert_int_equal(labels_push(&ls, "d", "2"), 0);
    assert_int_equal(labels_normalize(&ls), 0);
    format_into(&ls, 1, s, sizeof s);
    assert_string_equal(s, "{\"my.metric\",\"b.c\"=\"1\",d=\"2\"}");
    format_into(&ls, 0, s, sizeof s);
    assert_string_equal(s, "{__name__=\"my.metric\",\"b.c\"=\"1\",d=\"2\"}");
    labels_reset(&ls);
    assert_int_equal(labels_push(&ls, "__name__", "ns:rate5m"), 0);
    assert_int_equal(labels_push(&ls, "x", "1"), 0);
    format_into(&ls, 1, s, sizeof s);
    assert_string_equal(s, "ns:rate5m{x=\"1\"}");

    /* duplicates and empty names are refused */
    labels_reset(&ls);
    assert_int_equal(labels_push(&ls, "a", "1"), 0);
    assert_int_equal(labels_push(&ls, "a", "2"), 0);
    assert_int_equal(labels_normalize(&ls), TT_EINVAL);
    labels_reset(&ls);
    assert_int_equal(labels_push(&ls, "", "1"), 0);
    assert_int_equal(labels_normalize(&ls), TT_EINVAL);
    labels_release(&ls);
}

static void make(struct labels *ls, const char *const *kv)
{
    labels_init(ls);
    for (size_t i = 0; kv[i]; i += 2)
        assert_int_equal(labels_push(ls, kv[i], kv[i + 1]), 0);
    assert_int_equal(labels_normalize(ls), 0);
}

static void test_labels_compare_and_hash(void **state)
{
    (void)state;
    struct labels a, b, c, d, e, f;
    make(&a, (const char *const[]){ "a", "1", "b", "2", NULL });
    make(&b, (const char *const[]){ "b", "2", "a", "1", NULL });
    make(&c, (const char *const[]){ "a", "1", NULL });
    make(&d, (const char *const[]){ "a", "2", NULL });
    make(&e, (const char *const[]){ "a", "bc", NULL });
    make(&f, (const char *const[]){ "ab", "c", NULL });
    assert_int_equal(labels_cmp(&a, &b), 0);
    assert_true(labels_equal(&a, &b));
    assert_true(labels_cmp(&c, &a) < 0); /* prefix sorts first */
    assert_true(labels_cmp(&a, &c) > 0);
    assert_true(labels_cmp(&a, &d) < 0); /* by value */
    assert_true(labels_cmp(&e, &f) < 0); /* by name: "a" < "ab" */
    assert_false(labels_equal(&c, &d));
    assert_int_equal(labels_hash(&a, 7), labels_hash(&b, 7));
    assert_true(labels_hash(&a, 7) != labels_hash(&a, 8));
    assert_true(labels_hash(&e, 0) != labels_hash(&f, 0));
    assert_true(labels_hash(&c, 0) != labels_hash(&d, 0));
    labels_release(&a);
    labels_release(&b);
    labels_release(&c);
    labels_release(&d);
    labels_release(&e);
    labels_release(&f);
}

static void test_symtab_intern(void **state)
{
    (void)state;
    struct symtab st;
    symtab_init(&st, 42);
    uint32_t id, id2;
    assert_int_equal(symtab_find(&st, "x", 1, &id), TT_ENOTFOUND);
    enum { N = 20000 };
    const char *first = NULL;
    char buf[64];
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "value-%d", i);
        assert_int_equal(symtab_intern(&st, buf, (size_t)n, &id), 0);
        assert_int_equal(id, (uint32_t)i); /* dense, in order */
        if (i == 0)
            first = symtab_str(&st, 0);
    }
    assert_int_equal(symtab_count(&st), N);
    /* strings never move */
    assert_ptr_equal(symtab_str(&st, 0), first);
    assert_string_equal(first, "value-0");
    for (int i = 0; i < N; i += 997) {
        int n = snprintf(buf, sizeof buf, "value-%d", i);
        assert_int_equal(symtab_intern(&st, buf, (size_t)n, &id2), 0);
        assert_int_equal(id2, (uint32_t)i);
        assert_int_equal(symtab_find(&st, buf, (size_t)n, &id2), 0);
        assert_int_equal(id2, (uint32_t)i);
        assert_string_equal(symtab_str(&st, id2), buf);
        assert_int_equal(symtab_len(&st, id2), (size_t)n);
    }
    /* a long string gets its own block; the empty string is a symbol too */
    size_t big = 100000;
    char *s = malloc(big);
    assert_non_null(s);
    memset(s, 'z', big);
    assert_int_equal(symtab_intern(&st, s, big, &id), 0);
    assert_int_equal(symtab_len(&st, id), big);
    assert_int_equal(memcmp(symtab_str(&st, id), s, big), 0);
    assert_int_equal(symtab_intern(&st, "after", 5, &id2), 0);
    assert_string_equal(symtab_str(&st, id2), "after");
    assert_int_equal(symtab_intern(&st, "", 0, &id), 0);
    assert_string_equal(symtab_str(&st, id), "");
    assert_int_equal(symtab_intern(&st, "a\0b", 3, &id), TT_EINVAL);
    free(s);
    assert_true(symtab_bytes(&st) > (size_t)N * 8);
    symtab_release(&st);
}

UNIT_TESTS(cmocka_unit_test(test_labels_normalize_and_format),
           cmocka_unit_test(test_labels_compare_and_hash), cmocka_unit_test(test_symtab_intern))
