/*
 * test_evseg.c - the events store's block codec (src/store/events/evseg.c):
 * a block round-trips every field; its Bloom filter has each added term and
 * is sized by the distinct terms; any flipped byte of a block is caught by
 * a CRC; text tokens and value texts are what the API filters on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/record.h"
#include "store/events/evseg.h"

static void build(struct wbuf *out, int n, int distinct_words)
{
    struct evseg_builder b;
    struct wbuf kv;
    char msg[64];
    evseg_builder_init(&b);
    wbuf_init(&kv, 0);
    evseg_builder_reset(&b, 100);
    evseg_builder_key(&b, 7, 70);
    for (int i = 0; i < n; i++) {
        wbuf_reset(&kv);
        struct rec_value v = { .type = TT_VAL_DOUBLE, .u.d = 0.1 * i };
        rec_kv_put(&kv, "ratio", 5, &v);
        snprintf(msg, sizeof msg, "Disk w%d is FULL", distinct_words ? i : 0);
        struct evseg_event e = { .time_ns = -5 + i,
                                 .hlc = 1000 + (uint64_t)i,
                                 .severity = (uint8_t)(1 + i % 6),
                                 .node = { "node", 4 },
                                 .process = { "svc/1", 5 },
                                 .component = { "disk", 4 },
                                 .name = { "disk.full", 9 },
                                 .message = { msg, (uint32_t)strlen(msg) },
                                 .attrs = { 1, kv.data, (uint32_t)kv.len, 0 } };
        assert_int_equal(evseg_builder_add(&b, &e), 0);
    }
    assert_int_equal(evseg_builder_finish(&b, out), 0);
    evseg_builder_release(&b);
    wbuf_release(&kv);
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct wbuf out, raw;
    char err[256];
    wbuf_init(&out, 0);
    wbuf_init(&raw, 0);
    build(&out, 50, 0);
    struct evseg_hdr h;
    assert_int_equal(evseg_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_int_equal(evseg_total_len(&h), out.len);
    assert_int_equal(h.count, 50);
    assert_int_equal(h.first_id, 100);
    assert_int_equal(h.tmin, -5);
    assert_int_equal(h.tmax, 44);
    assert_int_equal(h.sevmask, 0x7e);
    assert_int_equal(h.bloom_len, 128); /* 57 distinct terms: 570 bits, a power of two up */
    assert_true(evseg_bloom_maybe(h.bloom, h.bloom_len, evseg_term_hash('n', "node", 4)));
    assert_true(evseg_bloom_maybe(h.bloom, h.bloom_len, evseg_term_hash('t', "full", 4)));
    assert_true(evseg_bloom_maybe(h.bloom, h.bloom_len, evseg_term_hash('k', "ratio=0.5", 9)));
    assert_false(evseg_bloom_maybe(h.bloom, h.bloom_len, evseg_term_hash('n', "other", 5)));
    assert_int_equal(evseg_open_body(out.data, &h, &raw, err, sizeof err), 0);
    struct evseg_iter it;
    const uint8_t *keys;
    assert_int_equal(evseg_iter_init(&it, &h, raw.data, raw.len, &keys), 0);
    assert_int_equal(get_le64(keys), 7);
    assert_int_equal(get_le64(keys + 8), 70);
    struct evseg_event e;
    int i = 0, r;
    while ((r = evseg_iter_next(&it, &e, err, sizeof err)) == 1) {
        assert_int_equal(e.id, 100 + (uint64_t)i);
        assert_int_equal(e.time_ns, -5 + i);
        assert_int_equal(e.severity, 1 + i % 6);
        assert_int_equal(e.process.len, 5);
        assert_memory_equal(e.name.p, "disk.full", 9);
        struct rec_str k;
        struct rec_value v;
        assert_int_equal(rec_kv_next(&e.attrs, &k, &v), 1);
        assert_true(v.u.d == 0.1 * i);
        i++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(i, 50);
    wbuf_release(&out);
    wbuf_release(&raw);
}

static void test_bloom_sized(void **state)
{
    (void)state;
    struct wbuf out;
    char err[256], w[16];
    wbuf_init(&out, 0);
    build(&out, 2000, 1); /* 2000 distinct words and ratios */
    struct evseg_hdr h;
    assert_int_equal(evseg_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_true(h.bloom_len * 8 >= 4000 * 10);
    int fp = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(w, sizeof w, "w%d", i);
        assert_true(evseg_bloom_maybe(h.bloom, h.bloom_len, evseg_term_hash('t', w, strlen(w))));
        snprintf(w, sizeof w, "x%d", i);
        fp += evseg_bloom_maybe(h.bloom, h.bloom_len, evseg_term_hash('t', w, strlen(w)));
    }
    assert_true(fp < 40); /* under 2% false positives */
    wbuf_release(&out);
}

static void test_every_flip_caught(void **state)
{
    (void)state;
    struct wbuf out, raw;
    char err[256];
    wbuf_init(&out, 0);
    wbuf_init(&raw, 0);
    build(&out, 5, 0);
    for (size_t i = 0; i < out.len; i++) {
        out.data[i] ^= 0x10;
        struct evseg_hdr h;
        int r = evseg_parse_header(out.data, out.len, &h, err, sizeof err);
        if (r == 0 && evseg_total_len(&h) <= out.len)
            r = evseg_open_body(out.data, &h, &raw, err, sizeof err);
        else if (r == 0)
            r = TT_ETRUNC;
        assert_true(r < 0);
        out.data[i] ^= 0x10;
    }
    struct evseg_hdr h;
    assert_int_equal(evseg_parse_header(out.data, 40, &h, err, sizeof err), TT_ETRUNC);
    wbuf_release(&out);
    wbuf_release(&raw);
}

static void test_tokens_values(void **state)
{
    (void)state;
    const char *s = "  Disk /dev/sda1: 97%full—ok ";
    size_t pos = 0, st, len;
    const char *want[] = { "Disk", "dev", "sda1", "97", "full\xe2\x80\x94ok" };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(evseg_next_token(s, strlen(s), &pos, &st, &len), 1);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(s + st, want[i], len);
    }
    assert_int_equal(evseg_next_token(s, strlen(s), &pos, &st, &len), 0);
    assert_true(evseg_term_hash('t', "DISK", 4) == evseg_term_hash('t', "disk", 4));
    assert_true(evseg_term_hash('n', "DISK", 4) != evseg_term_hash('n', "disk", 4));
    char buf[64];
    const char *direct;
    struct rec_value v = { .type = TT_VAL_DOUBLE, .u.d = 0.1 };
    size_t n = evseg_value_text(&v, buf, sizeof buf, &direct);
    assert_null(direct);
    assert_string_equal(buf, "0.1");
    assert_int_equal(n, 3);
    v.u.d = 1.0 / 3;
    evseg_value_text(&v, buf, sizeof buf, &direct);
    assert_true(strtod(buf, NULL) == 1.0 / 3);
    v = (struct rec_value){ .type = TT_VAL_INT, .u.i = -42 };
    evseg_value_text(&v, buf, sizeof buf, &direct);
    assert_string_equal(buf, "-42");
    v = (struct rec_value){ .type = TT_VAL_BOOL, .u.b = 0 };
    evseg_value_text(&v, buf, sizeof buf, &direct);
    assert_string_equal(buf, "false");
    v = (struct rec_value){ .type = TT_VAL_STR, .u.s = { "abc", 3 } };
    assert_int_equal(evseg_value_text(&v, buf, sizeof buf, &direct), 3);
    assert_ptr_equal(direct, v.u.s.p);
}

UNIT_TESTS(cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_bloom_sized),
           cmocka_unit_test(test_every_flip_caught), cmocka_unit_test(test_tokens_values))
