/* test_batch.c - batches: round trips with every compression, header checks,
 * detection of every single-byte flip, torn tails at every length, and the
 * scanner's resynchronisation and problem reports. Also writes the fuzz seed
 * corpora when TT_WRITE_SEEDS names a directory (tests/fuzz/corpus). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "unit.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/batch_scan.h"
#include "core/compress.h"
#include "core/crc32c.h"
#include "core/record.h"

static const char ORIGIN[] = "node-1\0api-server";

static struct rec_str rs(const char *s)
{
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

/* put_samples appends one record of every type (and one of an unknown type)
 * to w, with HLCs hlc, hlc+1, ... */
static void put_samples(struct wbuf *w, tt_hlc hlc)
{
    struct wbuf attrs, events, links, buckets;
    wbuf_init(&attrs, 0);
    wbuf_init(&events, 0);
    wbuf_init(&links, 0);
    wbuf_init(&buckets, 0);
    struct rec_value v = { .type = TT_VAL_STR };
    v.u.s = rs("GET");
    rec_kv_put(&attrs, "http.method", 11, &v);
    v.type = TT_VAL_INT;
    v.u.i = -42;
    rec_kv_put(&attrs, "retries", 7, &v);
    v.type = TT_VAL_DOUBLE;
    v.u.d = 0.25;
    rec_kv_put(&attrs, "ratio", 5, &v);
    v.type = TT_VAL_BOOL;
    v.u.b = 1;
    rec_kv_put(&attrs, "ok", 2, &v);
    struct rec_list al = { 4, attrs.data, (uint32_t)attrs.len };
    rec_span_event_put(&events, 1000, "retry", 5, &al);
    struct rec_list el = { 1, events.data, (uint32_t)events.len };
    static const uint8_t tid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    rec_span_link_put(&links, tid, 77, TT_FLAG_SAMPLED, NULL);
    struct rec_list ll = { 1, links.data, (uint32_t)links.len };
    rec_bucket_put(&buckets, 0, -20, 3);
    rec_bucket_put(&buckets, -20, 0, 1);
    rec_bucket_put(&buckets, 0, 35, 12);
    struct rec_list bl = { 3, buckets.data, (uint32_t)buckets.len };

    struct rec_span s = { .span_id = 5,
                          .parent_id = 4,
                          .duration_ns = 1500000,
                          .kind = TT_SPAN_SERVER,
                          .status = TT_STATUS_OK,
                          .flags = TT_FLAG_SAMPLED,
                          .name = rs("GET /users/{id}"),
                          .status_message = rs(""),
                          .attrs = al,
                          .events = el,
                          .links = ll };
    memcpy(s.trace_id, tid, 16);
    assert_int_equal(rec_put_span(w, hlc, 1700000000000000000, &s), 0);
    struct rec_metric m = { .kind = REC_METRIC_HISTOGRAM,
                            .name = rs("latency_seconds"),
                            .help = rs("Request latency."),
                            .labels = al,
                            .precision_bits = 4,
                            .count = 16,
                            .sum = 3.5,
                            .min = 0.001,
                            .max = 2.0,
                            .buckets = bl };
    assert_int_equal(rec_put_metric(w, hlc + 1, 1700000000000000001, &m), 0);
    struct rec_metric c = {
        .kind = REC_METRIC_COUNTER, .name = rs("requests_total"), .labels = al, .value = 12345
    };
    assert_int_equal(rec_put_metric(w, hlc + 2, 1700000000000000002, &c), 0);
    struct rec_event e = { .severity = TT_SEV_WARNING,
                           .component = rs("disk/sda"),
                           .name = rs("disk.slow"),
                           .message = rs("latency above 50ms"),
                           .attrs = al };
    assert_int_equal(rec_put_event(w, hlc + 3, 1700000000000000003, &e), 0);
    struct rec_state st = { .log = rs("raft"), .var = rs("leader") };
    st.value.type = TT_VAL_STR;
    st.value.u.s = rs("node-2");
    st.prev.type = TT_VAL_INT;
    st.prev.u.i = 7;
    assert_int_equal(rec_put_state(w, hlc + 4, 1700000000000000004, &st), 0);
    assert_int_equal(rec_put_raw(w, 42, hlc + 5, 1700000000000000005, "later", 5), 0);
    wbuf_release(&attrs);
    wbuf_release(&events);
    wbuf_release(&links);
    wbuf_release(&buckets);
}

#define SAMPLES 6 /* records put_samples writes */

/* make_batch appends a batch of n sample groups, compressed with comp (which
 * falls back to none when that is not smaller), to out. */
static void make_batch(struct wbuf *out, int comp, int groups, uint64_t seq)
{
    struct wbuf raw;
    wbuf_init(&raw, 0);
    for (int i = 0; i < groups; i++)
        put_samples(&raw, 1000 + (tt_hlc)i * 10);
    struct batch_hdr h = { .count = (uint32_t)(groups * SAMPLES),
                           .origin_id = 0xfeedu,
                           .first_seq = seq,
                           .hlc_min = 1000,
                           .hlc_max = 1000 + (tt_hlc)(groups - 1) * 10 + SAMPLES - 1,
                           .origin = ORIGIN,
                           .origin_len = sizeof ORIGIN - 1 };
    assert_int_equal(batch_encode_compressed(out, &h, raw.data, raw.len, comp), 0);
    assert_int_equal(h.raw_len, raw.len);
    wbuf_release(&raw);
}

/* reseal recomputes the header CRC after a test edited the header. */
static void reseal(uint8_t *p)
{
    put_le32(p + 8, 0);
    put_le32(p + 8, crc32c(0, p, get_le16(p + 6)));
}

/* count_records frames every record of a body and returns how many. */
static int count_records(const uint8_t *body, size_t len)
{
    struct rbuf r;
    struct rec rec;
    char err[160];
    int n = 0, rc;
    rbuf_init(&r, body, len);
    while ((rc = rec_next(&r, body, &rec, err, sizeof err)) == 1)
        n++;
    assert_int_equal(rc, 0);
    return n;
}

static void test_round_trip_all_compressions(void **state)
{
    (void)state;
    static const int comps[] = { BATCH_COMP_NONE, BATCH_COMP_ZSTD, BATCH_COMP_LZ4 };
    for (size_t i = 0; i < 3; i++) {
        struct wbuf out;
        wbuf_init(&out, 0);
        assert_int_equal(wbuf_reserve(&out, 1), 0);
        out.len = 0;
        make_batch(&out, comps[i], 50, 100 + i);
        struct batch_hdr h;
        char err[160] = "";
        assert_int_equal(batch_parse_header(out.data, out.len, &h, err, sizeof err), 0);
        assert_int_equal(h.version, BATCH_VERSION);
        assert_int_equal(h.compression, comps[i]); /* 50 groups compress well */
        assert_int_equal(h.header_len, BATCH_FIXED_LEN + sizeof ORIGIN - 1);
        assert_int_equal(batch_total_len(&h), out.len);
        assert_int_equal(h.count, 50 * SAMPLES);
        assert_true(h.origin_id == 0xfeedu);
        assert_true(h.first_seq == 100 + i);
        assert_true(h.hlc_min == 1000 && h.hlc_max == 1000 + 49 * 10 + 5);
        assert_int_equal(h.origin_len, sizeof ORIGIN - 1);
        assert_memory_equal(h.origin, ORIGIN, sizeof ORIGIN - 1);
        if (comps[i] != BATCH_COMP_NONE)
            assert_true(h.stored_len < h.raw_len / 4);

        struct wbuf scratch;
        wbuf_init(&scratch, 0);
        const uint8_t *body;
        size_t body_len;
        assert_int_equal(batch_open(out.data, &h, &scratch, &body, &body_len, err, sizeof err), 0);
        assert_int_equal(body_len, h.raw_len);
        assert_int_equal(count_records(body, body_len), 50 * SAMPLES);
        struct wbuf raw;
        wbuf_init(&raw, 0);
        for (int g = 0; g < 50; g++)
            put_samples(&raw, 1000 + (tt_hlc)g * 10);
        assert_int_equal(raw.len, body_len);
        assert_memory_equal(raw.data, body, body_len);
        wbuf_release(&raw);
        wbuf_release(&scratch);
        wbuf_release(&out);
    }
}

static void test_incompressible_stored_raw(void **state)
{
    (void)state;
    /* one record of an unknown type, with bytes that do not compress */
    uint8_t raw[22] = { 42,   0,    16,   0,    0,    0,    0x9c, 0x31, 0xe7, 0x02, 0x5b,
                        0xd4, 0x8f, 0x76, 0x13, 0xaa, 0x4e, 0xc1, 0x38, 0xf5, 0x60, 0x2d };
    struct batch_hdr h = { .count = 1 };
    struct wbuf out;
    wbuf_init(&out, 0);
    assert_int_equal(batch_encode_compressed(&out, &h, raw, sizeof raw, BATCH_COMP_ZSTD), 0);
    assert_int_equal(h.compression, BATCH_COMP_NONE);
    assert_int_equal(out.len, BATCH_FIXED_LEN + sizeof raw + BATCH_TRAILER_LEN);
    struct batch_hdr p;
    assert_int_equal(batch_parse_header(out.data, out.len, &p, NULL, 0), 0);
    assert_int_equal(p.raw_len, sizeof raw);
    assert_int_equal(p.stored_len, sizeof raw);
    assert_int_equal(p.origin_len, 0);
    assert_int_equal(batch_encode_compressed(&out, &h, raw, sizeof raw, 9), TT_EUNSUPPORTED);
    wbuf_release(&out);

    /* an empty batch is fine too */
    wbuf_init(&out, 0);
    struct batch_hdr e = { 0 };
    assert_int_equal(batch_encode(&out, &e, NULL, 0), 0);
    assert_int_equal(out.len, BATCH_FIXED_LEN + BATCH_TRAILER_LEN);
    struct batch_scan s;
    struct batch_problem prob;
    const uint8_t *body;
    size_t body_len, off;
    batch_scan_init(&s, out.data, out.len);
    assert_int_equal(batch_scan_next(&s, &p, &body, &body_len, &off, &prob), 1);
    assert_int_equal(body_len, 0);
    assert_int_equal(batch_scan_next(&s, &p, &body, &body_len, &off, &prob), 0);
    batch_scan_release(&s);
    wbuf_release(&out);
}

static void test_encode_rejects_bad_fields(void **state)
{
    (void)state;
    static char origin[BATCH_ORIGIN_MAX + 1];
    uint8_t body[44] = { 0 };
    struct wbuf out;
    wbuf_init(&out, 0);
    wbuf_put(&out, "keep", 4);
    struct batch_hdr h = { .count = 2, .origin = origin, .origin_len = BATCH_ORIGIN_MAX + 1 };
    assert_int_equal(batch_encode(&out, &h, body, sizeof body), TT_EINVAL);
    h.origin_len = BATCH_ORIGIN_MAX;
    assert_int_equal(batch_encode(&out, &h, body, sizeof body), 0);
    size_t len = out.len;
    h.count = 3; /* 3 records cannot fit 44 bytes */
    assert_int_equal(batch_encode(&out, &h, body, sizeof body), TT_EINVAL);
    h.count = 2;
    h.hlc_min = 2;
    h.hlc_max = 1;
    assert_int_equal(batch_encode(&out, &h, body, sizeof body), TT_EINVAL);
    h.hlc_max = 2;
    h.compression = 3;
    assert_int_equal(batch_encode(&out, &h, body, sizeof body), TT_EINVAL);
    h.compression = BATCH_COMP_ZSTD;
    h.raw_len = BATCH_MAX_RAW + 1;
    assert_int_equal(batch_encode(&out, &h, body, sizeof body), TT_EINVAL);
    h.origin = NULL;
    h.raw_len = 100;
    assert_int_equal(batch_encode(&out, &h, body, sizeof body), TT_EINVAL);
    assert_int_equal(batch_encode(&out, &h, body, BATCH_MAX_STORED + 1), TT_EINVAL);
    assert_int_equal(out.len, len);
    assert_int_equal(out.err, 0);
    assert_memory_equal(out.data, "keep", 4);
    wbuf_release(&out);
}

static void test_parse_header_checks(void **state)
{
    (void)state;
    struct wbuf out;
    wbuf_init(&out, 0);
    make_batch(&out, BATCH_COMP_NONE, 1, 1);
    uint8_t *p = out.data;
    struct batch_hdr h;
    char err[160];

    assert_int_equal(batch_parse_header(p, 59, &h, err, sizeof err), TT_ETRUNC);
    assert_string_equal(err, "batch header needs 60 bytes, 59 available");
    assert_int_equal(batch_parse_header(p, 70, &h, err, sizeof err), TT_ETRUNC);
    assert_int_equal(batch_parse_header(p, out.len, &h, err, sizeof err), 0);

    p[0] ^= 1;
    assert_int_equal(batch_parse_header(p, out.len, &h, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "magic"));
    p[0] ^= 1;
    p[20] ^= 0x40;
    assert_int_equal(batch_parse_header(p, out.len, &h, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "header CRC"));
    p[20] ^= 0x40;

    /* Resealed headers with impossible fields are still refused. */
    struct {
        size_t off;
        uint32_t v;
        int width;
        int code;
        const char *msg;
    } cases[] = {
        { 4, 0, 1, TT_ECORRUPT, "version 0" },
        { 4, 2, 1, TT_EVERSION, "newer" },
        { 56, 3, 2, TT_ECORRUPT, "origin length" },
        { 52, BATCH_MAX_STORED + 1, 4, TT_ECORRUPT, "stored body too long" },
        { 52, 7, 4, TT_ECORRUPT, "raw_len != stored_len" },
        { 48, BATCH_MAX_RAW + 1, 4, TT_ECORRUPT, "raw body too long" },
        { 32, 0xffffffffu, 4, TT_ECORRUPT, "hlc_min > hlc_max" },
        { 12, 1000, 4, TT_ECORRUPT, "more records" },
        { 6, 59, 2, TT_ECORRUPT, "impossible batch header length" },
    };
    uint8_t save[BATCH_FIXED_LEN];
    memcpy(save, p, sizeof save);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(p, save, sizeof save);
        if (cases[i].width == 1)
            p[cases[i].off] = (uint8_t)cases[i].v;
        else if (cases[i].width == 2)
            put_le16(p + cases[i].off, (uint16_t)cases[i].v);
        else
            put_le32(p + cases[i].off, cases[i].v);
        reseal(p);
        err[0] = 0;
        assert_int_equal(batch_parse_header(p, out.len, &h, err, sizeof err), cases[i].code);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
    memcpy(p, save, sizeof save);
    /* stored_len past the maximum in a future version is corrupt, not skippable */
    p[4] = 9;
    put_le32(p + 52, BATCH_MAX_STORED + 1);
    reseal(p);
    assert_int_equal(batch_parse_header(p, out.len, &h, err, sizeof err), TT_ECORRUPT);
    wbuf_release(&out);
}

/* scan_all scans data and counts good batches and problems; the first
 * problem is copied to *first (code 0 if none). */
static void scan_all(const uint8_t *data, size_t len, int *good, int *bad,
                     struct batch_problem *first)
{
    struct batch_scan s;
    struct batch_hdr h;
    struct batch_problem prob;
    const uint8_t *body;
    size_t body_len, off;
    int rc, calls = 0;
    *good = *bad = 0;
    first->code = 0;
    batch_scan_init(&s, data, len);
    while ((rc = batch_scan_next(&s, &h, &body, &body_len, &off, &prob)) != 0) {
        assert_true(++calls < 1000000);
        if (rc == 1) {
            (*good)++;
            continue;
        }
        assert_int_equal(rc, -1);
        assert_true(prob.code < 0);
        assert_true(prob.skipped > 0);
        assert_true(prob.offset + prob.skipped <= len);
        if ((*bad)++ == 0)
            *first = prob;
    }
    batch_scan_release(&s);
}

static void test_every_byte_flip_detected(void **state)
{
    (void)state;
    static const int comps[] = { BATCH_COMP_NONE, BATCH_COMP_ZSTD, BATCH_COMP_LZ4 };
    for (size_t c = 0; c < 3; c++) {
        struct wbuf out;
        wbuf_init(&out, 0);
        make_batch(&out, comps[c], c == 0 ? 1 : 8, 1);
        int good, bad;
        struct batch_problem first;
        scan_all(out.data, out.len, &good, &bad, &first);
        assert_int_equal(good, 1);
        assert_int_equal(bad, 0);
        static const uint8_t masks[] = { 0x01, 0x80, 0xff };
        for (size_t i = 0; i < out.len; i++) {
            for (size_t m = 0; m < 3; m++) {
                out.data[i] ^= masks[m];
                scan_all(out.data, out.len, &good, &bad, &first);
                if (good != 0 || bad == 0)
                    fail_msg("comp %d: flip 0x%02x at byte %zu not detected", comps[c], masks[m],
                             i);
                assert_int_equal(first.offset, 0);
                out.data[i] ^= masks[m];
            }
        }
        wbuf_release(&out);
    }
}

static void test_torn_tail_every_length(void **state)
{
    (void)state;
    struct wbuf out;
    wbuf_init(&out, 0);
    make_batch(&out, BATCH_COMP_NONE, 1, 1);
    size_t first_len = out.len;
    make_batch(&out, BATCH_COMP_LZ4, 4, 7);
    for (size_t cut = 0; cut <= out.len; cut++) {
        /* an exact-size copy so a sanitizer sees any over-read */
        uint8_t *data = malloc(cut ? cut : 1);
        assert_non_null(data);
        memcpy(data, out.data, cut);
        struct batch_scan s;
        struct batch_hdr h;
        struct batch_problem prob;
        const uint8_t *body;
        size_t body_len, off;
        batch_scan_init(&s, data, cut);
        size_t whole = cut == out.len ? 2 : cut >= first_len ? 1 : 0;
        for (size_t b = 0; b < whole; b++) {
            assert_int_equal(batch_scan_next(&s, &h, &body, &body_len, &off, &prob), 1);
            assert_int_equal(off, b == 0 ? 0 : first_len);
        }
        size_t torn_at = whole == 1 ? first_len : 0;
        if (cut != out.len && cut != first_len && cut != 0) {
            assert_int_equal(batch_scan_next(&s, &h, &body, &body_len, &off, &prob), -1);
            assert_int_equal(prob.code, TT_ETRUNC);
            assert_int_equal(prob.offset, torn_at);
            assert_int_equal(prob.skipped, cut - torn_at);
            assert_non_null(strstr(prob.msg, "torn tail"));
        }
        assert_int_equal(batch_scan_next(&s, &h, &body, &body_len, &off, &prob), 0);
        assert_int_equal(batch_scan_next(&s, &h, &body, &body_len, &off, &prob), 0);
        batch_scan_release(&s);
        free(data);
    }
    wbuf_release(&out);
}

/* expect_scan checks the scan of data against a script: for each step, 1 and
 * the batch offset, or -1 with code, offset and skipped. */
struct step {
    int rc;
    int code;
    size_t offset;
    size_t skipped;
};

static void expect_scan(const uint8_t *data, size_t len, const struct step *steps, size_t n)
{
    struct batch_scan s;
    struct batch_hdr h;
    struct batch_problem prob;
    const uint8_t *body;
    size_t body_len, off;
    batch_scan_init(&s, data, len);
    for (size_t i = 0; i < n; i++) {
        int rc = batch_scan_next(&s, &h, &body, &body_len, &off, &prob);
        if (rc != steps[i].rc)
            fail_msg("step %zu: rc %d, want %d (%s at %zu)", i, rc, steps[i].rc,
                     rc < 0 ? prob.msg : "", rc < 0 ? prob.offset : off);
        if (rc == 1) {
            assert_int_equal(off, steps[i].offset);
            assert_int_equal(count_records(body, body_len), h.count);
        } else {
            assert_int_equal(prob.code, steps[i].code);
            assert_int_equal(prob.offset, steps[i].offset);
            assert_int_equal(prob.skipped, steps[i].skipped);
            assert_true(strlen(prob.msg) > 0);
        }
    }
    assert_int_equal(batch_scan_next(&s, &h, &body, &body_len, &off, &prob), 0);
    batch_scan_release(&s);
}

static void test_scan_resyncs(void **state)
{
    (void)state;
    struct wbuf out;
    wbuf_init(&out, 0);
    make_batch(&out, BATCH_COMP_NONE, 1, 1);
    size_t a = out.len;
    make_batch(&out, BATCH_COMP_ZSTD, 10, 2);
    size_t b = out.len - a;
    make_batch(&out, BATCH_COMP_LZ4, 10, 3);
    size_t c = out.len - a - b;
    uint8_t *d = out.data;

    /* a byte of B's body */
    d[a + b / 2] ^= 0x10;
    struct step body_bad[] = { { 1, 0, 0, 0 }, { -1, TT_ECORRUPT, a, b }, { 1, 0, a + b, 0 } };
    expect_scan(d, out.len, body_bad, 3);
    d[a + b / 2] ^= 0x10;

    /* B's magic */
    d[a + 1] = 'X';
    expect_scan(d, out.len, body_bad, 3);
    d[a + 1] = 'T';

    /* B's stored_len made larger than the data, header resealed: the batch
     * claims to run past the end, but C's header follows, so it is corrupt. */
    uint32_t stored = get_le32(d + a + 52), raw = get_le32(d + a + 48);
    put_le32(d + a + 52, 1u << 20);
    put_le32(d + a + 48, 1u << 20);
    reseal(d + a);
    expect_scan(d, out.len, body_bad, 3);
    put_le32(d + a + 52, stored);
    put_le32(d + a + 48, raw);
    reseal(d + a);
    struct step all_good[] = { { 1, 0, 0, 0 }, { 1, 0, a, 0 }, { 1, 0, a + b, 0 } };
    expect_scan(d, out.len, all_good, 3);

    /* garbage between A and B, including a lone magic */
    struct wbuf g;
    wbuf_init(&g, 0);
    make_batch(&g, BATCH_COMP_NONE, 1, 1);
    wbuf_put(&g, "garbage TTB1 more garbage", 25);
    make_batch(&g, BATCH_COMP_NONE, 1, 2);
    struct step garbage[] = { { 1, 0, 0, 0 }, { -1, TT_ECORRUPT, a, 25 }, { 1, 0, a + 25, 0 } };
    expect_scan(g.data, g.len, garbage, 3);

    /* garbage only, and an empty buffer */
    expect_scan((const uint8_t *)"no batches here", 15,
                (struct step[]){ { -1, TT_ECORRUPT, 0, 15 } }, 1);
    expect_scan(NULL, 0, NULL, 0);
    wbuf_release(&g);
    (void)c;
    wbuf_release(&out);
}

static void test_future_version_and_unknown_compression(void **state)
{
    (void)state;
    struct wbuf out;
    wbuf_init(&out, 0);
    make_batch(&out, BATCH_COMP_NONE, 1, 1);
    size_t a = out.len;
    make_batch(&out, BATCH_COMP_NONE, 2, 2);
    size_t b = out.len - a;
    make_batch(&out, BATCH_COMP_NONE, 1, 3);
    uint8_t *d = out.data;

    d[a + 4] = BATCH_VERSION + 1;
    reseal(d + a);
    struct batch_hdr h;
    char err[160];
    assert_int_equal(batch_parse_header(d + a, out.len - a, &h, err, sizeof err), TT_EVERSION);
    assert_int_equal(batch_total_len(&h), b);
    struct step future[] = { { 1, 0, 0, 0 }, { -1, TT_EVERSION, a, b }, { 1, 0, a + b, 0 } };
    expect_scan(d, out.len, future, 3);

    /* unknown compression with a valid header: skipped exactly, reported */
    d[a + 4] = BATCH_VERSION;
    d[a + 5] = 9;
    reseal(d + a);
    struct step unknown[] = { { 1, 0, 0, 0 }, { -1, TT_EUNSUPPORTED, a, b }, { 1, 0, a + b, 0 } };
    expect_scan(d, out.len, unknown, 3);
    wbuf_release(&out);
}

static void test_decompression_mismatch(void **state)
{
    (void)state;
    static const int comps[] = { BATCH_COMP_ZSTD, BATCH_COMP_LZ4 };
    for (size_t c = 0; c < 2; c++) {
        struct wbuf out;
        wbuf_init(&out, 0);
        make_batch(&out, comps[c], 10, 1);
        uint8_t *d = out.data;
        uint32_t raw = get_le32(d + 48);
        static const int32_t deltas[] = { -1, 1, -100 };
        for (size_t i = 0; i < 3; i++) {
            put_le32(d + 48, (uint32_t)((int32_t)raw + deltas[i]));
            reseal(d);
            struct batch_hdr h;
            char err[160];
            assert_int_equal(batch_parse_header(d, out.len, &h, err, sizeof err), 0);
            struct wbuf scratch;
            wbuf_init(&scratch, 0);
            const uint8_t *body;
            size_t body_len;
            assert_int_equal(batch_open(d, &h, &scratch, &body, &body_len, err, sizeof err),
                             TT_ECORRUPT);
            wbuf_release(&scratch);
            struct step steps[] = { { -1, TT_ECORRUPT, 0, out.len } };
            expect_scan(d, out.len, steps, 1);
        }
        wbuf_release(&out);
    }
}

static void test_find_magic(void **state)
{
    (void)state;
    static const uint8_t d[] = "xxTTB1yyTTTB1TTB";
    size_t n = sizeof d - 1;
    assert_int_equal(batch_find_magic(d, n, 0), 2);
    assert_int_equal(batch_find_magic(d, n, 2), 2);
    assert_int_equal(batch_find_magic(d, n, 3), 9);
    assert_int_equal(batch_find_magic(d, n, 10), n);
    assert_int_equal(batch_find_magic(d, n, n + 5), n);
    assert_int_equal(batch_find_magic(d, 3, 0), 3);
    assert_int_equal(batch_find_magic(d, 0, 0), 0);
}

static void test_in_place_build(void **state)
{
    (void)state;
    struct wbuf out;
    wbuf_init(&out, 0);
    size_t start = batch_begin(&out, 4);
    put_samples(&out, 50);
    struct batch_hdr h = {
        .count = SAMPLES, .hlc_min = 50, .hlc_max = 55, .origin = "n\0p1", .origin_len = 4
    };
    assert_int_equal(batch_finish(&out, start, &h), 0);
    struct step one[] = { { 1, 0, 0, 0 } };
    expect_scan(out.data, out.len, one, 1);
    /* a failed finish takes the batch back out */
    size_t len = out.len;
    start = batch_begin(&out, 4);
    wbuf_put(&out, "x", 1);
    assert_int_equal(batch_finish(&out, start, &h), TT_EINVAL); /* 6 records in 1 byte */
    assert_int_equal(out.len, len);
    wbuf_release(&out);
}

/* write_seed writes one seed file when dir is set. */
static void write_seed(const char *dir, const char *target, const char *name, const void *p,
                       size_t n)
{
    if (dir == NULL)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir %s", path);
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The fuzz seeds: valid batches of every kind and a few damaged streams for
 * fuzz_batch, record streams for fuzz_record. They are always built and
 * checked; TT_WRITE_SEEDS=tests/fuzz/corpus writes them out. */
static void test_fuzz_seeds(void **state)
{
    (void)state;
    const char *dir = getenv("TT_WRITE_SEEDS");
    static const int comps[] = { BATCH_COMP_NONE, BATCH_COMP_ZSTD, BATCH_COMP_LZ4 };
    static const char *names[] = { "batch-none", "batch-zstd", "batch-lz4" };
    int good, bad;
    struct batch_problem first;
    for (size_t c = 0; c < 3; c++) {
        struct wbuf out;
        wbuf_init(&out, 0);
        make_batch(&out, comps[c], 2, 1);
        scan_all(out.data, out.len, &good, &bad, &first);
        assert_int_equal(good, 1);
        assert_int_equal(bad, 0);
        write_seed(dir, "fuzz_batch", names[c], out.data, out.len);
        wbuf_release(&out);
    }
    struct wbuf s;
    wbuf_init(&s, 0);
    make_batch(&s, BATCH_COMP_NONE, 1, 1);
    wbuf_put(&s, "junk", 4);
    make_batch(&s, BATCH_COMP_LZ4, 1, 2);
    size_t before_torn = s.len;
    make_batch(&s, BATCH_COMP_NONE, 1, 3);
    s.len -= 10;
    scan_all(s.data, s.len, &good, &bad, &first);
    assert_int_equal(good, 2);
    assert_int_equal(bad, 2);
    assert_true(before_torn < s.len);
    write_seed(dir, "fuzz_batch", "stream-junk-torn", s.data, s.len);
    wbuf_release(&s);

    struct wbuf r;
    wbuf_init(&r, 0);
    put_samples(&r, 1);
    assert_int_equal(count_records(r.data, r.len), SAMPLES);
    write_seed(dir, "fuzz_record", "all-types", r.data, r.len);
    /* each record alone */
    struct rbuf rb;
    struct rec rec;
    char err[160];
    rbuf_init(&rb, r.data, r.len);
    const uint8_t *p = rb.p;
    for (int i = 0; rec_next(&rb, r.data, &rec, err, sizeof err) == 1; i++) {
        char name[32];
        snprintf(name, sizeof name, "one-%d-%s", i, rec_type_name(rec.type));
        write_seed(dir, "fuzz_record", name, p, (size_t)(rb.p - p));
        p = rb.p;
    }
    wbuf_release(&r);
}

UNIT_TESTS(cmocka_unit_test(test_round_trip_all_compressions),
           cmocka_unit_test(test_incompressible_stored_raw),
           cmocka_unit_test(test_encode_rejects_bad_fields),
           cmocka_unit_test(test_parse_header_checks),
           cmocka_unit_test(test_every_byte_flip_detected),
           cmocka_unit_test(test_torn_tail_every_length), cmocka_unit_test(test_scan_resyncs),
           cmocka_unit_test(test_future_version_and_unknown_compression),
           cmocka_unit_test(test_decompression_mismatch), cmocka_unit_test(test_find_magic),
           cmocka_unit_test(test_in_place_build), cmocka_unit_test(test_fuzz_seeds))
