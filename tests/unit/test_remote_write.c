/*
 * test_remote_write.c - Prometheus remote write: requests are encoded here
 * with a tiny protobuf writer and snappy_compress, then decompressed,
 * decoded and validated (round trips, unknown fields skipped, every
 * malformed shape), and POSTed to /api/v1/write of a real server on
 * 127.0.0.1 with a head on a temporary directory (204, 400, 415, 413, 503).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "http_client.h"
#include "telltale.h"
#include "server/remote_write.h"
#include "server/server.h"
#include "server/store.h"
#include "store/tsdb/head.h"

/* ---- a tiny protobuf writer --------------------------------------------------- */

struct pbw {
    uint8_t b[4096];
    size_t n;
};

static void pb_byte(struct pbw *w, uint8_t c)
{
    assert_true(w->n < sizeof w->b);
    w->b[w->n++] = c;
}

static void pb_varint(struct pbw *w, uint64_t v)
{
    while (v >= 0x80) {
        pb_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    pb_byte(w, (uint8_t)v);
}

static void pb_key(struct pbw *w, unsigned field, unsigned wt)
{
    pb_varint(w, ((uint64_t)field << 3) | wt);
}

static void pb_bytes(struct pbw *w, unsigned field, const void *p, size_t n)
{
    pb_key(w, field, 2);
    pb_varint(w, n);
    assert_true(w->n + n <= sizeof w->b);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void pb_msg(struct pbw *w, unsigned field, const struct pbw *sub)
{
    pb_bytes(w, field, sub->b, sub->n);
}

static void pb_fixed64(struct pbw *w, unsigned field, uint64_t v)
{
    pb_key(w, field, 1);
    for (unsigned i = 0; i < 8; i++)
        pb_byte(w, (uint8_t)(v >> (8 * i)));
}

static void pb_label(struct pbw *ts, const char *name, const char *value)
{
    struct pbw l = { .n = 0 };
    pb_bytes(&l, 1, name, strlen(name));
    pb_bytes(&l, 2, value, strlen(value));
    pb_msg(ts, 1, &l);
}

static void pb_sample(struct pbw *ts, double v, int64_t t)
{
    struct pbw s = { .n = 0 };
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    pb_fixed64(&s, 1, bits);
    pb_key(&s, 2, 0);
    pb_varint(&s, (uint64_t)t);
    pb_msg(ts, 2, &s);
}

/* snappy-compress w into a new buffer. */
static char *compress(const struct pbw *w, size_t *n)
{
    *n = snappy_max_compressed_length(w->n);
    char *out = malloc(*n);
    assert_non_null(out);
    assert_int_equal(snappy_compress((const char *)w->b, w->n, out, n), SNAPPY_OK);
    return out;
}

static int decode_bytes(const void *p, size_t n, struct rw_request *req, struct rw_error *e)
{
    memset(e, 0, sizeof *e);
    return remote_write_decode(p, n, req, e);
}

/* ---- decoding ------------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
    (void)state;
    struct pbw wr = { .n = 0 }, ts = { .n = 0 };
    pb_label(&ts, "__name__", "up");
    pb_label(&ts, "job", "prometheus");
    pb_sample(&ts, 1.5, 1700000000000);
    pb_sample(&ts, -2, -5);
    /* unknown fields: an exemplar (3), a varint and a fixed32 */
    struct pbw ex = { .n = 0 };
    pb_label(&ex, "trace_id", "abc");
    pb_msg(&ts, 3, &ex);
    pb_key(&ts, 9, 0);
    pb_varint(&ts, 300);
    pb_key(&ts, 10, 5);
    for (int i = 0; i < 4; i++)
        pb_byte(&ts, 0xff);
    pb_msg(&wr, 1, &ts);
    struct pbw md = { .n = 0 }; /* metadata */
    pb_bytes(&md, 2, "x", 1);
    pb_msg(&wr, 3, &md);
    struct pbw ts2 = { .n = 0 };
    pb_label(&ts2, "a", "");
    pb_sample(&ts2, NAN, 7);
    pb_msg(&wr, 1, &ts2);

    size_t clen;
    char *c = compress(&wr, &clen);
    uint8_t *raw;
    size_t raw_len;
    struct rw_error e;
    assert_int_equal(remote_write_decompress((uint8_t *)c, clen, 1 << 20, &raw, &raw_len, &e), 0);
    assert_int_equal(raw_len, wr.n);
    assert_memory_equal(raw, wr.b, wr.n);
    free(c);

    struct rw_request req;
    assert_int_equal(decode_bytes(raw, raw_len, &req, &e), 0);
    free(raw);
    assert_int_equal(req.nseries, 2);
    assert_int_equal(req.nlabels, 3);
    assert_int_equal(req.nsamples, 3);
    const struct rw_series *s = &req.series[0];
    assert_int_equal(s->nlabels, 2);
    assert_string_equal(s->labels[0].name, "__name__");
    assert_string_equal(s->labels[0].value, "up");
    assert_string_equal(s->labels[1].name, "job");
    assert_string_equal(s->labels[1].value, "prometheus");
    assert_int_equal(s->labels[1].value_len, 10);
    assert_int_equal(s->nsamples, 2);
    assert_true(s->samples[0].value == 1.5);
    assert_true(s->samples[0].timestamp_ms == 1700000000000);
    assert_true(s->samples[1].value == -2);
    assert_true(s->samples[1].timestamp_ms == -5);
    s = &req.series[1];
    assert_int_equal(s->nlabels, 1);
    assert_string_equal(s->labels[0].value, "");
    assert_int_equal(s->nsamples, 1);
    assert_true(isnan(s->samples[0].value));
    assert_int_equal(remote_write_validate(&req, &e), 0);
    remote_write_release(&req);
    remote_write_release(&req); /* twice is fine */

    /* an empty message is an empty request */
    assert_int_equal(decode_bytes("", 0, &req, &e), 0);
    assert_int_equal(req.nseries, 0);
    remote_write_release(&req);
}

/* expect_bad decodes p[0..n) and checks the error's offset and message. */
static void expect_bad(const void *p, size_t n, size_t offset, const char *needle)
{
    struct rw_request req;
    struct rw_error e;
    int rc = decode_bytes(p, n, &req, &e);
    if (rc != TT_ESYNTAX || e.offset != offset || !strstr(e.msg, needle))
        fail_msg("rc %d offset %zu msg \"%s\"; want offset %zu and \"%s\"", rc, e.offset, e.msg,
                 offset, needle);
    assert_null(req.series);
    remote_write_release(&req);
}

static void test_malformed(void **state)
{
    (void)state;
    /* truncated varints: a key, a length, a timestamp */
    expect_bad("\x80", 1, 0, "truncated varint");
    expect_bad("\x0a\x80", 2, 1, "truncated varint");
    expect_bad("\x0a\x04\x12\x02\x10\x80", 6, 5, "truncated varint");
    /* lengths past the end, at each level */
    expect_bad("\x0a\x05\x00", 3, 1, "past the end");
    expect_bad("\x0a\x04\x0a\x05\x0a\x00", 6, 3, "past the end");
    expect_bad("\x0a\x02\x12\x01", 4, 3, "past the end");
    /* a huge length, and a varint that is too long */
    expect_bad("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, 1, "past the end");
    expect_bad("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11, 1, "longer than 64 bits");
    expect_bad("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, 1, "longer than");
    /* wrong wire types for known fields */
    expect_bad("\x08\x01", 2, 0, "field 1 of WriteRequest has wire type 0");
    expect_bad("\x0a\x02\x08\x01", 4, 2, "field 1 of TimeSeries has wire type 0");
    expect_bad("\x0a\x04\x12\x02\x08\x01", 6, 4, "field 1 of Sample has wire type 0");
    expect_bad("\x0a\x04\x12\x02\x12\x00", 6, 4, "field 2 of Sample has wire type 2");
    expect_bad("\x0a\x04\x0a\x02\x08\x01", 6, 4, "field 1 of Label has wire type 0");
    /* groups, reserved wire types, field 0 */
    expect_bad("\x1b", 1, 0, "wire type 3");
    expect_bad("\x1e", 1, 0, "wire type 6");
    expect_bad("\x02\x00", 2, 0, "field number 0");
    /* truncated fixed-size fields */
    expect_bad("\x0a\x05\x12\x03\x09\x00\x00", 7, 4, "truncated");
    expect_bad("\x1d\x00\x00", 3, 0, "truncated");
    expect_bad("\x19\x00", 2, 0, "truncated");
}

static void test_bad_snappy(void **state)
{
    (void)state;
    uint8_t *out = (uint8_t *)"x";
    size_t n = 7;
    struct rw_error e;
    /* not snappy: a length preamble that never ends */
    assert_int_equal(remote_write_decompress((const uint8_t *)"\xff\xff\xff\xff\xff\xff", 6,
                                             1 << 20, &out, &n, &e),
                     TT_ECORRUPT);
    assert_null(out);
    assert_int_equal(n, 0);
    /* a claimed size over the limit is refused before allocating */
    assert_int_equal(
        remote_write_decompress((const uint8_t *)"\xff\xff\xff\x7f", 4, 1 << 20, &out, &n, &e),
        TT_ETOOBIG);
    assert_non_null(strstr(e.msg, "limit"));
    /* a claimed size with no data behind it */
    assert_int_equal(remote_write_decompress((const uint8_t *)"\x10", 1, 1 << 20, &out, &n, &e),
                     TT_ECORRUPT);
    /* a valid block, truncated */
    struct pbw w = { .n = 0 };
    for (int i = 0; i < 50; i++)
        pb_label(&w, "name", "value-value-value");
    size_t clen;
    char *c = compress(&w, &clen);
    assert_int_equal(remote_write_decompress((uint8_t *)c, clen, 1 << 20, &out, &n, &e), 0);
    free(out);
    assert_int_equal(remote_write_decompress((uint8_t *)c, clen - 3, 1 << 20, &out, &n, &e),
                     TT_ECORRUPT);
    assert_int_equal(remote_write_decompress((uint8_t *)c, clen, w.n - 1, &out, &n, &e),
                     TT_ETOOBIG);
    free(c);
}

/* expect_invalid validates one series with labels names[i]=values[i]. */
static void expect_invalid(const char *const *kv, size_t npairs, const char *needle)
{
    struct pbw wr = { .n = 0 }, ok = { .n = 0 }, ts = { .n = 0 };
    pb_label(&ok, "a", "b");
    pb_msg(&wr, 1, &ok); /* series 0 is fine */
    for (size_t i = 0; i < npairs; i++)
        pb_label(&ts, kv[2 * i], kv[2 * i + 1]);
    pb_msg(&wr, 1, &ts);
    struct rw_request req;
    struct rw_error e;
    assert_int_equal(decode_bytes(wr.b, wr.n, &req, &e), 0);
    int rc = remote_write_validate(&req, &e);
    remote_write_release(&req);
    if (rc != TT_EINVAL || e.series != 1 || !strstr(e.msg, "series 1") || !strstr(e.msg, needle))
        fail_msg("rc %d series %zu msg \"%s\"; want \"%s\"", rc, e.series, e.msg, needle);
}

static void test_validate(void **state)
{
    (void)state;
    expect_invalid(NULL, 0, "no labels");
    expect_invalid((const char *const[]){ "b", "1", "a", "2" }, 2, "not sorted");
    expect_invalid((const char *const[]){ "a", "1", "a", "2" }, 2, "duplicate label name a");
    expect_invalid((const char *const[]){ "", "1" }, 1, "empty name");
    expect_invalid((const char *const[]){ "a\xff", "1" }, 1, "not valid UTF-8");
    expect_invalid((const char *const[]){ "a", "\xc0\x80" }, 1, "value is not valid UTF-8");
    expect_invalid((const char *const[]){ "a", "\xed\xa0\x80" }, 1, "value is not valid UTF-8");
    /* a NUL inside a value */
    struct pbw wr = { .n = 0 }, ts = { .n = 0 }, l = { .n = 0 };
    pb_bytes(&l, 1, "a", 1);
    pb_bytes(&l, 2, "x\0y", 3);
    pb_msg(&ts, 1, &l);
    pb_msg(&wr, 1, &ts);
    struct rw_request req;
    struct rw_error e;
    assert_int_equal(decode_bytes(wr.b, wr.n, &req, &e), 0);
    assert_int_equal(req.series[0].labels[0].value_len, 3);
    assert_int_equal(remote_write_validate(&req, &e), TT_EINVAL);
    remote_write_release(&req);
    /* UTF-8 names, sorted by bytes, are fine */
    struct pbw wr2 = { .n = 0 }, ts2 = { .n = 0 };
    pb_label(&ts2, "__name__", "x");
    pb_label(&ts2, "Z", "1");
    pb_label(&ts2, "z", "2");
    pb_label(&ts2, "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac");
    pb_msg(&wr2, 1, &ts2);
    assert_int_equal(decode_bytes(wr2.b, wr2.n, &req, &e), 0);
    assert_int_equal(remote_write_validate(&req, &e), TT_EINVAL); /* "Z" < "__name__" */
    remote_write_release(&req);
    struct pbw wr3 = { .n = 0 }, ts3 = { .n = 0 };
    pb_label(&ts3, "Z", "1");
    pb_label(&ts3, "__name__", "x");
    pb_label(&ts3, "z", "2");
    pb_label(&ts3, "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac");
    pb_msg(&wr3, 1, &ts3);
    assert_int_equal(decode_bytes(wr3.b, wr3.n, &req, &e), 0);
    assert_int_equal(remote_write_validate(&req, &e), 0);
    remote_write_release(&req);
}

/* ---- the endpoint ----------------------------------------------------------------- */

struct fixture {
    struct server *srv;
    struct server_store st;
    char dir[128];
    uint16_t port;
};

static struct fixture fx;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/tt-rw-%d", (int)getpid());
    struct server_config cfg;
    server_config_defaults(&cfg);
    cfg.data_dir = fx.dir;
    cfg.http_addr = "127.0.0.1:0";
    if (server_new(&cfg, &fx.srv) != 0 || server_store_init(&fx.st, fx.srv) != 0)
        return -1;
    char err[256];
    if (server_start(fx.srv, err, sizeof err) != 0) {
        fprintf(stderr, "server_start: %s\n", err);
        return -1;
    }
    fx.port = server_port(fx.srv);
    return 0;
}

static int open_store(void)
{
    char err[256];
    return server_store_open(&fx.st, fx.dir, NULL, NULL, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    server_stop(fx.srv);
    server_store_close(&fx.st);
    server_free(fx.srv);
    nftw(fx.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* post sends body with the given headers (a "Name: value\r\n" list). */
static int post(const void *body, size_t n, const char *headers, struct resp *r)
{
    size_t cap = n + 1024;
    char *req = malloc(cap);
    assert_non_null(req);
    int h = snprintf(req, cap,
                     "POST /api/v1/write HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     "%sContent-Length: %zu\r\n\r\n",
                     headers, n);
    assert_true(h > 0 && (size_t)h < 1024);
    memcpy(req + h, body, n);
    int rc = http_raw(fx.port, req, (size_t)h + n, r);
    free(req);
    assert_int_equal(rc, 0);
    return r->status;
}

#define RW_HEADERS                                                         \
    "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n" \
    "X-Prometheus-Remote-Write-Version: 0.1.0\r\n"

static int post_pb(const struct pbw *w, const char *headers, struct resp *r)
{
    size_t clen;
    char *c = compress(w, &clen);
    int st = post(c, clen, headers, r);
    free(c);
    return st;
}

/* count_samples returns how many samples the head holds for series
 * __name__=name in [0, 1e13]. */
static size_t count_samples(const char *name, double *last)
{
    struct head *h = server_store_head(&fx.st);
    struct head_querier *q;
    assert_int_equal(head_querier_new(h, 0, INT64_C(10000000000000), &q), 0);
    struct matcher *m;
    assert_int_equal(matcher_new(&m, MATCH_EQ, "__name__", name, 0, NULL, 0), 0);
    struct head_series_set *ss;
    assert_int_equal(head_querier_select(q, &m, 1, &ss), 0);
    size_t n = 0;
    for (size_t i = 0; i < head_series_set_count(ss); i++) {
        struct head_iter it;
        assert_int_equal(head_iter_init(&it, ss, i), 0);
        while (head_iter_next(&it) == 1) {
            n++;
            *last = it.v;
        }
        head_iter_release(&it);
    }
    head_series_set_free(ss);
    matcher_free(m);
    head_querier_free(q);
    return n;
}

static void test_http_write(void **state)
{
    (void)state;
    struct pbw wr = { .n = 0 }, ts = { .n = 0 };
    pb_label(&ts, "__name__", "rw_test");
    pb_label(&ts, "job", "t");
    for (int i = 1; i <= 5; i++)
        pb_sample(&ts, i, 1700000000000 + i * 1000);
    pb_msg(&wr, 1, &ts);
    struct resp r;

    /* 503 while the head opens */
    assert_int_equal(post_pb(&wr, RW_HEADERS, &r), 503);
    resp_free(&r);
    assert_int_equal(open_store(), 0);

    assert_int_equal(post_pb(&wr, RW_HEADERS, &r), 204);
    resp_free(&r);
    double last = 0;
    assert_int_equal(count_samples("rw_test", &last), 5);
    assert_true(last == 5);
    /* a resent batch (exact duplicates) is fine; no headers means 1.0 */
    assert_int_equal(post_pb(&wr, "", &r), 204);
    resp_free(&r);
    assert_int_equal(count_samples("rw_test", &last), 5);

    /* too old and conflicting samples: 400 with counts, the rest stored */
    struct pbw wr2 = { .n = 0 }, ts2 = { .n = 0 };
    pb_label(&ts2, "__name__", "rw_test");
    pb_label(&ts2, "job", "t");
    pb_sample(&ts2, 9, 1700000000000 - 3600000); /* an hour older: out of the window */
    pb_sample(&ts2, 42, 1700000000000 + 1000);   /* another value at a stored time */
    pb_sample(&ts2, 6, 1700000000000 + 6000);    /* new */
    pb_msg(&wr2, 1, &ts2);
    assert_int_equal(post_pb(&wr2, RW_HEADERS, &r), 400);
    assert_non_null(strstr(r.body, "2 of 3 samples refused (1 older"));
    assert_non_null(strstr(r.body, "1 with another value"));
    assert_non_null(strstr(r.body, "the other 1 were stored"));
    resp_free(&r);
    assert_int_equal(count_samples("rw_test", &last), 6);
    assert_true(last == 6);

    /* a bad series after a good one: 400 naming it, nothing stored */
    struct pbw wr3 = { .n = 0 }, ok = { .n = 0 }, bad = { .n = 0 };
    pb_label(&ok, "__name__", "rw_other");
    pb_sample(&ok, 1, 1700000000000);
    pb_msg(&wr3, 1, &ok);
    pb_label(&bad, "b", "1");
    pb_label(&bad, "a", "1");
    pb_sample(&bad, 1, 1700000000000);
    pb_msg(&wr3, 1, &bad);
    assert_int_equal(post_pb(&wr3, RW_HEADERS, &r), 400);
    assert_non_null(strstr(r.body, "series 1: labels not sorted"));
    resp_free(&r);
    assert_int_equal(count_samples("rw_other", &last), 0);

    /* malformed protobuf: 400 with the offset */
    struct pbw trunc = { .n = 0 };
    memcpy(trunc.b, wr.b, wr.n);
    trunc.n = wr.n - 1;
    assert_int_equal(post_pb(&trunc, RW_HEADERS, &r), 400);
    assert_non_null(strstr(r.body, "malformed protobuf at byte 1"));
    resp_free(&r);
    /* not snappy */
    assert_int_equal(post("\xff\xff\xff\xff\xff\xff", 6, RW_HEADERS, &r), 400);
    assert_non_null(strstr(r.body, "snappy"));
    resp_free(&r);
    /* other encodings and types */
    assert_int_equal(post_pb(&wr, "Content-Encoding: gzip\r\n", &r), 415);
    resp_free(&r);
    assert_int_equal(post_pb(&wr, "Content-Type: application/json\r\n", &r), 415);
    resp_free(&r);
    assert_int_equal(
        post_pb(&wr,
                "Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request\r\n",
                &r),
        415);
    resp_free(&r);
    assert_int_equal(
        post_pb(&wr, "Content-Type: application/x-protobuf;proto=prometheus.WriteRequest\r\n", &r),
        204);
    resp_free(&r);
    /* a decompressed size over the limit: 413 */
    assert_int_equal(post("\xff\xff\xff\xff\x0f", 5, RW_HEADERS, &r), 413);
    resp_free(&r);
}

UNIT_TESTS(cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_malformed),
           cmocka_unit_test(test_bad_snappy), cmocka_unit_test(test_validate),
           cmocka_unit_test_setup_teardown(test_http_write, setup, teardown))
