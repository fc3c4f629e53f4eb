/*
 * fuzz_rec_check.h - what the record and batch fuzz targets do with every
 * record they frame: run every decoder and iterator over it, and when it
 * decodes, encode it again and check that the copy decodes to the same
 * fields (bit for bit: doubles are compared as bits, so NaN round-trips).
 * Included by fuzz_record.c and fuzz_batch.c only; aborts on a mismatch.
 */
#ifndef TT_FUZZ_REC_CHECK_H
#define TT_FUZZ_REC_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/record.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static int str_eq(struct rec_str a, struct rec_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int list_eq(struct rec_list a, struct rec_list b)
{
    return a.count == b.count && a.len == b.len &&
           (a.len == 0 || memcmp(a.bytes, b.bytes, a.len) == 0);
}

static int f64_eq(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static int value_eq(const struct rec_value *a, const struct rec_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case TT_VAL_STR:
        return str_eq(a->u.s, b->u.s);
    case TT_VAL_INT:
        return a->u.i == b->u.i;
    case TT_VAL_DOUBLE:
        return f64_eq(a->u.d, b->u.d);
    case TT_VAL_BOOL:
        return a->u.b == b->u.b;
    default:
        return 1;
    }
}

/* walk_kv iterates a kv list to its end or first error; a list that walks
 * cleanly is rebuilt with rec_kv_put and must come out byte for byte. */
static void walk_kv(struct rec_list list)
{
    struct rec_list it = list;
    struct rec_str k;
    struct rec_value v;
    struct wbuf w;
    uint32_t n = 0;
    int rc;
    wbuf_init(&w, 0);
    while ((rc = rec_kv_next(&it, &k, &v)) == 1) {
        CHECK(k.len <= list.len);
        CHECK(v.type <= TT_VAL_BOOL);
        if (v.type == TT_VAL_BOOL)
            CHECK(v.u.b == 0 || v.u.b == 1);
        rec_kv_put(&w, k.p, k.len, &v);
        n++;
    }
    CHECK(rc <= 0);
    if (rc == 0) {
        CHECK(n == list.count);
        CHECK(w.err == 0);
        /* Canonical re-encoding may be shorter (varints), never longer. */
        CHECK(w.len <= list.len);
    }
    wbuf_release(&w);
}

static void walk_events(struct rec_list list)
{
    struct rec_list it = list;
    struct rec_span_event ev;
    int rc;
    while ((rc = rec_span_event_next(&it, &ev)) == 1)
        walk_kv(ev.attrs);
    CHECK(rc <= 0);
}

static void walk_links(struct rec_list list)
{
    struct rec_list it = list;
    struct rec_span_link link;
    int rc;
    while ((rc = rec_span_link_next(&it, &link)) == 1)
        walk_kv(link.attrs);
    CHECK(rc <= 0);
}

static void walk_buckets(struct rec_list list)
{
    struct rec_list it = list;
    int32_t index, prev = 0;
    uint64_t count;
    struct wbuf w;
    int rc;
    wbuf_init(&w, 0);
    while ((rc = rec_bucket_next(&it, &index, &count)) == 1) {
        rec_bucket_put(&w, prev, index, count);
        prev = index;
    }
    CHECK(rc <= 0);
    if (rc == 0) {
        struct rec_list again = { list.count, w.data, (uint32_t)w.len };
        struct rec_list a = list, b = again;
        int32_t ia, ib;
        uint64_t ca, cb;
        int ra, rb;
        do {
            ra = rec_bucket_next(&a, &ia, &ca);
            rb = rec_bucket_next(&b, &ib, &cb);
            CHECK(ra == rb);
            if (ra == 1)
                CHECK(ia == ib && ca == cb);
        } while (ra == 1);
    }
    wbuf_release(&w);
}

/* reframe encodes with put (already done into w) and frames the copy. */
static void reframe(const struct wbuf *w, const struct rec *orig, struct rec *copy)
{
    struct rbuf r;
    char err[160];
    rbuf_init(&r, w->data, w->len);
    CHECK(rec_next(&r, w->data, copy, err, sizeof err) == 1);
    CHECK(copy->type == orig->type && copy->hlc == orig->hlc && copy->time_ns == orig->time_ns);
    CHECK(rbuf_left(&r) == 0);
}

static void check_span(const struct rec *r, struct wbuf *w)
{
    struct rec_span a, b;
    struct rec copy;
    char err[160] = "";
    if (rec_decode_span(r, &a, err, sizeof err) != 0) {
        CHECK(err[0] != 0);
        return;
    }
    walk_kv(a.attrs);
    walk_events(a.events);
    walk_links(a.links);
    wbuf_reset(w);
    CHECK(rec_put_span(w, r->hlc, r->time_ns, &a) == 0);
    reframe(w, r, &copy);
    CHECK(rec_decode_span(&copy, &b, err, sizeof err) == 0);
    CHECK(memcmp(a.trace_id, b.trace_id, 16) == 0);
    CHECK(a.span_id == b.span_id && a.parent_id == b.parent_id);
    CHECK(a.duration_ns == b.duration_ns);
    CHECK(a.kind == b.kind && a.status == b.status && a.flags == b.flags);
    CHECK(str_eq(a.name, b.name) && str_eq(a.status_message, b.status_message));
    CHECK(list_eq(a.attrs, b.attrs) && list_eq(a.events, b.events) && list_eq(a.links, b.links));
}

static void check_metric(const struct rec *r, struct wbuf *w)
{
    struct rec_metric a, b;
    struct rec copy;
    char err[160] = "";
    if (rec_decode_metric(r, &a, err, sizeof err) != 0) {
        CHECK(err[0] != 0);
        return;
    }
    walk_kv(a.labels);
    walk_buckets(a.buckets);
    wbuf_reset(w);
    CHECK(rec_put_metric(w, r->hlc, r->time_ns, &a) == 0);
    reframe(w, r, &copy);
    CHECK(rec_decode_metric(&copy, &b, err, sizeof err) == 0);
    CHECK(a.kind == b.kind && str_eq(a.name, b.name) && str_eq(a.help, b.help));
    CHECK(list_eq(a.labels, b.labels) && list_eq(a.buckets, b.buckets));
    CHECK(f64_eq(a.value, b.value) && f64_eq(a.sum, b.sum) && f64_eq(a.min, b.min));
    CHECK(f64_eq(a.max, b.max) && a.count == b.count && a.precision_bits == b.precision_bits);
}

static void check_event(const struct rec *r, struct wbuf *w)
{
    struct rec_event a, b;
    struct rec copy;
    char err[160] = "";
    if (rec_decode_event(r, &a, err, sizeof err) != 0) {
        CHECK(err[0] != 0);
        return;
    }
    walk_kv(a.attrs);
    wbuf_reset(w);
    CHECK(rec_put_event(w, r->hlc, r->time_ns, &a) == 0);
    reframe(w, r, &copy);
    CHECK(rec_decode_event(&copy, &b, err, sizeof err) == 0);
    CHECK(a.severity == b.severity && str_eq(a.component, b.component));
    CHECK(str_eq(a.name, b.name) && str_eq(a.message, b.message) && list_eq(a.attrs, b.attrs));
}

static void check_state(const struct rec *r, struct wbuf *w)
{
    struct rec_state a, b;
    struct rec copy;
    char err[160] = "";
    if (rec_decode_state(r, &a, err, sizeof err) != 0) {
        CHECK(err[0] != 0);
        return;
    }
    wbuf_reset(w);
    CHECK(rec_put_state(w, r->hlc, r->time_ns, &a) == 0);
    reframe(w, r, &copy);
    CHECK(rec_decode_state(&copy, &b, err, sizeof err) == 0);
    CHECK(str_eq(a.log, b.log) && str_eq(a.var, b.var));
    CHECK(value_eq(&a.value, &b.value) && value_eq(&a.prev, &b.prev));
}

/* fuzz_check_record runs every decoder on r (the wrong ones must refuse it
 * with TT_EINVAL) and round-trips what decodes. w is scratch. */
static void fuzz_check_record(const struct rec *r, struct wbuf *w)
{
    union {
        struct rec_span s;
        struct rec_metric m;
        struct rec_event e;
        struct rec_state st;
    } out;
    char err[160];
    if (r->type != REC_SPAN)
        CHECK(rec_decode_span(r, &out.s, err, sizeof err) == TT_EINVAL);
    if (r->type != REC_METRIC)
        CHECK(rec_decode_metric(r, &out.m, err, sizeof err) == TT_EINVAL);
    if (r->type != REC_EVENT)
        CHECK(rec_decode_event(r, &out.e, err, sizeof err) == TT_EINVAL);
    if (r->type != REC_STATE)
        CHECK(rec_decode_state(r, &out.st, err, sizeof err) == TT_EINVAL);
    CHECK(rec_type_name(r->type) != NULL);
    switch (r->type) {
    case REC_SPAN:
        check_span(r, w);
        break;
    case REC_METRIC:
        check_metric(r, w);
        break;
    case REC_EVENT:
        check_event(r, w);
        break;
    case REC_STATE:
        check_state(r, w);
        break;
    default:
        break;
    }
}

/* fuzz_check_stream frames every record of data and checks each. */
static void fuzz_check_stream(const uint8_t *data, size_t size, struct wbuf *w)
{
    struct rbuf r;
    struct rec rec;
    char err[160] = "";
    int rc;
    rbuf_init(&r, data, size);
    while ((rc = rec_next(&r, data, &rec, err, sizeof err)) == 1) {
        CHECK(rec.payload >= data && rec.payload + rec.payload_len <= data + size);
        fuzz_check_record(&rec, w);
    }
    CHECK(rc == 0 || ((rc == TT_ETRUNC || rc == TT_ECORRUPT) && err[0] != 0));
}

#endif
