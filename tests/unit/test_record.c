/* test_record.c - the record codec: round trips of every type and field,
 * forward compatibility (unknown types, trailing bytes), and rejection of
 * truncated and corrupt input with messages naming the field. */
#include <float.h>
#include <math.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/record.h"

/* A list being built: entries go into w, count counts them. */
struct lb {
    struct wbuf w;
    uint32_t count;
};

static void lb_init(struct lb *l)
{
    wbuf_init(&l->w, 0);
    l->count = 0;
}

static struct rec_list lb_list(const struct lb *l)
{
    struct rec_list list = { l->count, l->w.data, (uint32_t)l->w.len };
    return list;
}

static struct rec_str rs(const char *s)
{
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

static void kv_str(struct lb *l, const char *k, const char *v)
{
    struct rec_value val = { .type = TT_VAL_STR };
    val.u.s = rs(v);
    rec_kv_put(&l->w, k, strlen(k), &val);
    l->count++;
}

static void kv_int(struct lb *l, const char *k, int64_t v)
{
    struct rec_value val = { .type = TT_VAL_INT, .u.i = v };
    rec_kv_put(&l->w, k, strlen(k), &val);
    l->count++;
}

static void kv_double(struct lb *l, const char *k, double v)
{
    struct rec_value val = { .type = TT_VAL_DOUBLE, .u.d = v };
    rec_kv_put(&l->w, k, strlen(k), &val);
    l->count++;
}

static void kv_bool(struct lb *l, const char *k, int v)
{
    struct rec_value val = { .type = TT_VAL_BOOL, .u.b = v };
    rec_kv_put(&l->w, k, strlen(k), &val);
    l->count++;
}

static void kv_none(struct lb *l, const char *k)
{
    struct rec_value val = { .type = TT_VAL_NONE };
    rec_kv_put(&l->w, k, strlen(k), &val);
    l->count++;
}

#define UNI_KEY "ünïcødé ключ 🎉"

/* The attribute list used everywhere: every value type and the extremes. */
static void build_attrs(struct lb *l)
{
    lb_init(l);
    kv_str(l, "http.method", "GET");
    kv_int(l, "min", INT64_MIN);
    kv_int(l, "max", INT64_MAX);
    kv_int(l, "minus1", -1);
    kv_double(l, "nan", NAN);
    kv_double(l, "-inf", -INFINITY);
    kv_double(l, "tiny", DBL_TRUE_MIN);
    kv_bool(l, "ok", 1);
    kv_bool(l, "no", 0);
    kv_none(l, "nothing");
    kv_str(l, UNI_KEY, "値");
    kv_str(l, "", "");
    assert_int_equal(l->w.err, 0);
}

static void check_attrs(struct rec_list list)
{
    struct rec_list it = list;
    struct rec_str k;
    struct rec_value v;
    assert_int_equal(it.count, 12);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_strn_equal(k.p, k.len, "http.method");
    assert_int_equal(v.type, TT_VAL_STR);
    assert_strn_equal(v.u.s.p, v.u.s.len, "GET");
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(v.type, TT_VAL_INT);
    assert_true(v.u.i == INT64_MIN);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_true(v.u.i == INT64_MAX);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_true(v.u.i == -1);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(v.type, TT_VAL_DOUBLE);
    assert_true(isnan(v.u.d));
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_true(isinf(v.u.d) && v.u.d < 0);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_true(v.u.d == DBL_TRUE_MIN);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(v.type, TT_VAL_BOOL);
    assert_int_equal(v.u.b, 1);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(v.u.b, 0);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_strn_equal(k.p, k.len, "nothing");
    assert_int_equal(v.type, TT_VAL_NONE);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_strn_equal(k.p, k.len, UNI_KEY);
    assert_strn_equal(v.u.s.p, v.u.s.len, "値");
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(k.len, 0);
    assert_int_equal(v.u.s.len, 0);
    assert_int_equal(rec_kv_next(&it, &k, &v), 0);
    assert_int_equal(rec_kv_next(&it, &k, &v), 0);
}

/* next_record frames the next record of r and checks there is one. */
static void next_record(struct rbuf *r, const uint8_t *base, struct rec *rec)
{
    char err[200] = "";
    int rc = rec_next(r, base, rec, err, sizeof err);
    if (rc != 1)
        fail_msg("rec_next: %d %s", rc, err);
}

/* A span with every field set; the buffers stay owned by the caller. */
struct span_fixture {
    struct lb attrs, events, ev_attrs, links;
    struct rec_span s;
};

static void span_fixture_init(struct span_fixture *f)
{
    build_attrs(&f->attrs);
    lb_init(&f->ev_attrs);
    kv_str(&f->ev_attrs, "exception.type", "E");
    lb_init(&f->events);
    struct rec_list ea = lb_list(&f->ev_attrs);
    rec_span_event_put(&f->events.w, INT64_MIN, "exception", 9, &ea);
    rec_span_event_put(&f->events.w, 1700000000123456789, "", 0, NULL);
    f->events.count = 2;
    lb_init(&f->links);
    uint8_t tid[16];
    for (int i = 0; i < 16; i++)
        tid[i] = (uint8_t)(0xf0 + i);
    rec_span_link_put(&f->links.w, tid, UINT64_MAX, TT_FLAG_SAMPLED, &ea);
    f->links.count = 1;

    memset(&f->s, 0, sizeof f->s);
    for (int i = 0; i < 16; i++)
        f->s.trace_id[i] = (uint8_t)(i + 1);
    f->s.span_id = 0x0102030405060708ull;
    f->s.parent_id = UINT64_MAX;
    f->s.duration_ns = UINT64_MAX;
    f->s.kind = TT_SPAN_CLIENT;
    f->s.status = TT_STATUS_ERROR;
    f->s.flags = TT_FLAG_SAMPLED;
    f->s.name = rs("GET /users/{id} — ünïcødé");
    f->s.status_message = rs("");
    f->s.attrs = lb_list(&f->attrs);
    f->s.events = lb_list(&f->events);
    f->s.links = lb_list(&f->links);
}

static void span_fixture_release(struct span_fixture *f)
{
    wbuf_release(&f->attrs.w);
    wbuf_release(&f->events.w);
    wbuf_release(&f->ev_attrs.w);
    wbuf_release(&f->links.w);
}

static void test_span_round_trip(void **state)
{
    (void)state;
    struct span_fixture f;
    span_fixture_init(&f);
    struct wbuf b;
    wbuf_init(&b, 0);
    assert_int_equal(rec_put_span(&b, 0xabcdef0123456789ull, -5, &f.s), 0);

    struct rbuf r;
    struct rec rec;
    struct rec_span out;
    char err[200] = "";
    rbuf_init(&r, b.data, b.len);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec.type, REC_SPAN);
    assert_int_equal(rec.flags, 0);
    assert_true(rec.hlc == 0xabcdef0123456789ull);
    assert_true(rec.time_ns == -5);
    assert_int_equal(rec_decode_span(&rec, &out, err, sizeof err), 0);
    assert_memory_equal(out.trace_id, f.s.trace_id, 16);
    assert_true(out.span_id == f.s.span_id);
    assert_true(out.parent_id == UINT64_MAX);
    assert_true(out.duration_ns == UINT64_MAX);
    assert_int_equal(out.kind, TT_SPAN_CLIENT);
    assert_int_equal(out.status, TT_STATUS_ERROR);
    assert_int_equal(out.flags, TT_FLAG_SAMPLED);
    assert_strn_equal(out.name.p, out.name.len, "GET /users/{id} — ünïcødé");
    assert_int_equal(out.status_message.len, 0);
    check_attrs(out.attrs);

    struct rec_list it = out.events;
    struct rec_span_event ev;
    assert_int_equal(rec_span_event_next(&it, &ev), 1);
    assert_true(ev.time_ns == INT64_MIN);
    assert_strn_equal(ev.name.p, ev.name.len, "exception");
    struct rec_str k;
    struct rec_value v;
    assert_int_equal(rec_kv_next(&ev.attrs, &k, &v), 1);
    assert_strn_equal(k.p, k.len, "exception.type");
    assert_int_equal(rec_kv_next(&ev.attrs, &k, &v), 0);
    assert_int_equal(rec_span_event_next(&it, &ev), 1);
    assert_true(ev.time_ns == 1700000000123456789);
    assert_int_equal(ev.name.len, 0);
    assert_int_equal(ev.attrs.count, 0);
    assert_int_equal(rec_span_event_next(&it, &ev), 0);

    it = out.links;
    struct rec_span_link link;
    assert_int_equal(rec_span_link_next(&it, &link), 1);
    assert_int_equal(link.trace_id[15], 0xff);
    assert_true(link.span_id == UINT64_MAX);
    assert_int_equal(link.flags, TT_FLAG_SAMPLED);
    assert_int_equal(link.attrs.count, 1);
    assert_int_equal(rec_span_link_next(&it, &link), 0);

    assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 0);
    wbuf_release(&b);
    span_fixture_release(&f);
}

static void test_metric_round_trip(void **state)
{
    (void)state;
    struct lb labels;
    lb_init(&labels);
    kv_str(&labels, "job", "api");
    kv_str(&labels, "instance", "10.0.0.1:9100");
    struct lb buckets;
    lb_init(&buckets);
    static const int32_t idx[] = { INT32_MIN, -300, -1, 0, 5, 1000000, INT32_MAX };
    static const uint64_t cnt[] = { 1, 2, 3, 0, UINT64_MAX, 7, 1 };
    int32_t prev = 0;
    for (size_t i = 0; i < 7; i++) {
        rec_bucket_put(&buckets.w, prev, idx[i], cnt[i]);
        prev = idx[i];
    }
    buckets.count = 7;

    struct wbuf b;
    wbuf_init(&b, 0);
    struct rec_metric m = { .kind = REC_METRIC_COUNTER,
                            .name = rs("http_requests_total"),
                            .help = rs("Requests."),
                            .labels = lb_list(&labels),
                            .value = 1e300 };
    assert_int_equal(rec_put_metric(&b, 1, 2, &m), 0);
    m.kind = REC_METRIC_GAUGE;
    m.help = rs("");
    m.labels.count = 0;
    m.labels.len = 0;
    m.value = -0.0;
    assert_int_equal(rec_put_metric(&b, 3, 4, &m), 0);
    struct rec_metric h = { .kind = REC_METRIC_HISTOGRAM,
                            .name = rs("latency_seconds"),
                            .help = rs("h"),
                            .labels = lb_list(&labels),
                            .precision_bits = 7,
                            .count = UINT64_MAX,
                            .sum = NAN,
                            .min = -DBL_MAX,
                            .max = INFINITY,
                            .buckets = lb_list(&buckets) };
    assert_int_equal(rec_put_metric(&b, 5, 6, &h), 0);

    struct rbuf r;
    struct rec rec;
    struct rec_metric out;
    char err[200] = "";
    rbuf_init(&r, b.data, b.len);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec_decode_metric(&rec, &out, err, sizeof err), 0);
    assert_int_equal(out.kind, REC_METRIC_COUNTER);
    assert_strn_equal(out.name.p, out.name.len, "http_requests_total");
    assert_strn_equal(out.help.p, out.help.len, "Requests.");
    assert_true(out.value == 1e300);
    assert_int_equal(out.labels.count, 2);
    struct rec_list it = out.labels;
    struct rec_str k;
    struct rec_value v;
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_strn_equal(v.u.s.p, v.u.s.len, "10.0.0.1:9100");
    assert_int_equal(rec_kv_next(&it, &k, &v), 0);

    next_record(&r, b.data, &rec);
    assert_int_equal(rec_decode_metric(&rec, &out, err, sizeof err), 0);
    assert_int_equal(out.kind, REC_METRIC_GAUGE);
    assert_true(out.value == 0 && signbit(out.value));
    assert_int_equal(out.labels.count, 0);
    assert_true(rec.time_ns == 4);

    next_record(&r, b.data, &rec);
    assert_int_equal(rec_decode_metric(&rec, &out, err, sizeof err), 0);
    assert_int_equal(out.kind, REC_METRIC_HISTOGRAM);
    assert_int_equal(out.precision_bits, 7);
    assert_true(out.count == UINT64_MAX);
    assert_true(isnan(out.sum));
    assert_true(out.min == -DBL_MAX);
    assert_true(isinf(out.max));
    it = out.buckets;
    for (size_t i = 0; i < 7; i++) {
        int32_t index;
        uint64_t count;
        assert_int_equal(rec_bucket_next(&it, &index, &count), 1);
        assert_int_equal(index, idx[i]);
        assert_true(count == cnt[i]);
    }
    int32_t index;
    uint64_t count;
    assert_int_equal(rec_bucket_next(&it, &index, &count), 0);
    assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 0);

    wbuf_release(&b);
    wbuf_release(&labels.w);
    wbuf_release(&buckets.w);
}

static void test_event_and_state_round_trip(void **state)
{
    (void)state;
    struct lb attrs;
    build_attrs(&attrs);
    struct wbuf b;
    wbuf_init(&b, 0);
    struct rec_event e = { .severity = TT_SEV_CRITICAL,
                           .component = rs("disk/sda"),
                           .name = rs("smart.failing"),
                           .message = rs("Reallocated: 42 ✗"),
                           .attrs = lb_list(&attrs) };
    assert_int_equal(rec_put_event(&b, 0, INT64_MAX, &e), 0);
    struct rec_state st = { .log = rs("raft"), .var = rs("leader") };
    st.value.type = TT_VAL_STR;
    st.value.u.s = rs("node-3");
    st.prev.type = TT_VAL_NONE;
    assert_int_equal(rec_put_state(&b, UINT64_MAX, INT64_MIN, &st), 0);
    st.value.type = TT_VAL_DOUBLE;
    st.value.u.d = NAN;
    st.prev.type = TT_VAL_INT;
    st.prev.u.i = INT64_MIN;
    assert_int_equal(rec_put_state(&b, 7, 8, &st), 0);
    st.value.type = TT_VAL_BOOL;
    st.value.u.b = 5; /* any non-zero is true */
    st.prev.type = TT_VAL_STR;
    st.prev.u.s = rs("");
    assert_int_equal(rec_put_state(&b, 9, 10, &st), 0);

    struct rbuf r;
    struct rec rec;
    char err[200] = "";
    rbuf_init(&r, b.data, b.len);
    next_record(&r, b.data, &rec);
    struct rec_event eo;
    assert_int_equal(rec_decode_event(&rec, &eo, err, sizeof err), 0);
    assert_true(rec.time_ns == INT64_MAX);
    assert_int_equal(eo.severity, TT_SEV_CRITICAL);
    assert_strn_equal(eo.component.p, eo.component.len, "disk/sda");
    assert_strn_equal(eo.name.p, eo.name.len, "smart.failing");
    assert_strn_equal(eo.message.p, eo.message.len, "Reallocated: 42 ✗");
    check_attrs(eo.attrs);

    struct rec_state so;
    next_record(&r, b.data, &rec);
    assert_true(rec.hlc == UINT64_MAX);
    assert_true(rec.time_ns == INT64_MIN);
    assert_int_equal(rec_decode_state(&rec, &so, err, sizeof err), 0);
    assert_strn_equal(so.log.p, so.log.len, "raft");
    assert_strn_equal(so.var.p, so.var.len, "leader");
    assert_int_equal(so.value.type, TT_VAL_STR);
    assert_strn_equal(so.value.u.s.p, so.value.u.s.len, "node-3");
    assert_int_equal(so.prev.type, TT_VAL_NONE);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec_decode_state(&rec, &so, err, sizeof err), 0);
    assert_true(isnan(so.value.u.d));
    assert_int_equal(so.prev.type, TT_VAL_INT);
    assert_true(so.prev.u.i == INT64_MIN);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec_decode_state(&rec, &so, err, sizeof err), 0);
    assert_int_equal(so.value.type, TT_VAL_BOOL);
    assert_int_equal(so.value.u.b, 1);
    assert_int_equal(so.prev.type, TT_VAL_STR);
    assert_int_equal(so.prev.u.s.len, 0);

    /* Decoding as the wrong type is refused. */
    struct rec_span sp;
    assert_int_equal(rec_decode_span(&rec, &sp, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "is not span"));

    wbuf_release(&b);
    wbuf_release(&attrs.w);
}

static void test_unknown_type_skipped(void **state)
{
    (void)state;
    struct wbuf b;
    wbuf_init(&b, 0);
    assert_int_equal(rec_put_raw(&b, 200, 1, 2, "future payload", 14), 0);
    assert_int_equal(rec_put_raw(&b, 0, 1, 2, NULL, 0), 0);
    struct rec_event e = { .severity = TT_SEV_INFO, .name = rs("after") };
    assert_int_equal(rec_put_event(&b, 3, 4, &e), 0);

    struct rbuf r;
    struct rec rec;
    struct rec_event eo;
    char err[200] = "";
    rbuf_init(&r, b.data, b.len);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec.type, 200);
    assert_string_equal(rec_type_name(rec.type), "unknown");
    assert_int_equal(rec.payload_len, 14);
    assert_memory_equal(rec.payload, "future payload", 14);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec.type, 0);
    assert_int_equal(rec.payload_len, 0);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec_decode_event(&rec, &eo, err, sizeof err), 0);
    assert_strn_equal(eo.name.p, eo.name.len, "after");
    assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 0);
    assert_string_equal(rec_type_name(REC_SPAN), "span");
    assert_string_equal(rec_type_name(REC_METRIC), "metric");
    assert_string_equal(rec_type_name(REC_EVENT), "event");
    assert_string_equal(rec_type_name(REC_STATE), "state");
    wbuf_release(&b);
}

static void test_trailing_bytes_ignored(void **state)
{
    (void)state;
    struct span_fixture f;
    span_fixture_init(&f);
    struct wbuf b, b2;
    wbuf_init(&b, 0);
    wbuf_init(&b2, 0);
    assert_int_equal(rec_put_span(&b, 1, 2, &f.s), 0);
    /* The same payload with fields a newer writer appended. */
    wbuf_put(&b2, b.data + REC_HDR_LEN + REC_FIXED_LEN, b.len - REC_HDR_LEN - REC_FIXED_LEN);
    wbuf_put(&b2, "\x07new-field\xff\x00", 12);
    struct wbuf b3;
    wbuf_init(&b3, 0);
    assert_int_equal(rec_put_raw(&b3, REC_SPAN, 1, 2, b2.data, b2.len), 0);

    struct rbuf r;
    struct rec rec;
    struct rec_span a, c;
    char err[200] = "";
    rbuf_init(&r, b3.data, b3.len);
    next_record(&r, b3.data, &rec);
    assert_int_equal(rec_decode_span(&rec, &c, err, sizeof err), 0);
    rbuf_init(&r, b.data, b.len);
    next_record(&r, b.data, &rec);
    assert_int_equal(rec_decode_span(&rec, &a, err, sizeof err), 0);
    assert_true(a.span_id == c.span_id);
    assert_int_equal(a.name.len, c.name.len);
    assert_memory_equal(a.name.p, c.name.p, a.name.len);
    assert_int_equal(a.links.len, c.links.len);
    assert_memory_equal(a.links.bytes, c.links.bytes, a.links.len);
    check_attrs(c.attrs);
    wbuf_release(&b);
    wbuf_release(&b2);
    wbuf_release(&b3);
    span_fixture_release(&f);
}

typedef int (*decode_fn)(const struct rec *, void *, char *, size_t);

static int dec_span(const struct rec *r, void *o, char *e, size_t n)
{
    return rec_decode_span(r, o, e, n);
}
static int dec_metric(const struct rec *r, void *o, char *e, size_t n)
{
    return rec_decode_metric(r, o, e, n);
}
static int dec_event(const struct rec *r, void *o, char *e, size_t n)
{
    return rec_decode_event(r, o, e, n);
}
static int dec_state(const struct rec *r, void *o, char *e, size_t n)
{
    return rec_decode_state(r, o, e, n);
}

static decode_fn decoder_for(uint8_t type)
{
    switch (type) {
    case REC_SPAN:
        return dec_span;
    case REC_METRIC:
        return dec_metric;
    case REC_EVENT:
        return dec_event;
    default:
        return dec_state;
    }
}

/* Every prefix of every valid record: the framer reports a torn record, and
 * a payload cut anywhere fails to decode, cleanly and with a message. */
static void test_every_truncation_rejected(void **state)
{
    (void)state;
    struct span_fixture f;
    span_fixture_init(&f);
    struct lb buckets;
    lb_init(&buckets);
    rec_bucket_put(&buckets.w, 0, -3, 9);
    buckets.count = 1;
    struct wbuf b;
    wbuf_init(&b, 0);
    assert_int_equal(rec_put_span(&b, 1, 2, &f.s), 0);
    struct rec_metric m = { .kind = REC_METRIC_HISTOGRAM,
                            .name = rs("h"),
                            .labels = f.s.attrs,
                            .precision_bits = 4,
                            .count = 9,
                            .buckets = lb_list(&buckets) };
    assert_int_equal(rec_put_metric(&b, 1, 2, &m), 0);
    m.kind = REC_METRIC_GAUGE;
    assert_int_equal(rec_put_metric(&b, 1, 2, &m), 0);
    struct rec_event e = { .severity = 1, .name = rs("e"), .attrs = f.s.attrs };
    assert_int_equal(rec_put_event(&b, 1, 2, &e), 0);
    struct rec_state st = { .log = rs("l"), .var = rs("v") };
    st.value.type = TT_VAL_INT;
    st.value.u.i = 1;
    assert_int_equal(rec_put_state(&b, 1, 2, &st), 0);

    union {
        struct rec_span s;
        struct rec_metric m;
        struct rec_event e;
        struct rec_state st;
    } out;
    char err[200];
    struct rbuf r;
    struct rec rec;
    rbuf_init(&r, b.data, b.len);
    int records = 0;
    while (rbuf_left(&r) > 0) {
        const uint8_t *start = r.p;
        next_record(&r, b.data, &rec);
        size_t whole = (size_t)(r.p - start);
        decode_fn dec = decoder_for(rec.type);
        assert_int_equal(dec(&rec, &out, err, sizeof err), 0);
        for (size_t cut = 0; cut < whole; cut++) {
            struct rbuf t;
            struct rec tr;
            rbuf_init(&t, start, cut);
            err[0] = 0;
            int rc = rec_next(&t, b.data, &tr, err, sizeof err);
            assert_int_equal(rc, cut == 0 ? 0 : TT_ETRUNC);
            if (cut > 0) {
                assert_non_null(strstr(err, "offset"));
                /* sticky: asking again gives the same answer */
                assert_int_equal(rec_next(&t, b.data, &tr, err, sizeof err), TT_ETRUNC);
            }
        }
        for (uint32_t plen = 0; plen < rec.payload_len; plen++) {
            struct rec tr = rec;
            tr.payload_len = plen;
            err[0] = 0;
            assert_int_equal(dec(&tr, &out, err, sizeof err), TT_ECORRUPT);
            assert_non_null(strstr(err, rec_type_name(rec.type)));
        }
        records++;
    }
    assert_int_equal(records, 5);
    wbuf_release(&b);
    wbuf_release(&buckets.w);
    span_fixture_release(&f);
}

/* A span payload by hand up to (not including) the name. */
static void span_prefix(struct wbuf *b)
{
    static const uint8_t zero[34];
    wbuf_put(b, zero, 16 + 8 + 8); /* trace, span, parent */
    wbuf_put_uvarint(b, 1);        /* duration */
    wbuf_put(b, zero, 3);          /* kind, status, flags */
}

static int decode_span_payload(const struct wbuf *p, char *err, size_t errlen)
{
    struct rec rec = { .type = REC_SPAN, .payload = p->data, .payload_len = (uint32_t)p->len };
    struct rec_span s;
    return rec_decode_span(&rec, &s, err, errlen);
}

static void test_corrupt_lengths(void **state)
{
    (void)state;
    char err[200];
    struct wbuf p;
    wbuf_init(&p, 0);

    /* string longer than the payload */
    span_prefix(&p);
    wbuf_put_uvarint(&p, 4000);
    wbuf_put(&p, "abcdefghijkl", 12);
    assert_int_equal(decode_span_payload(&p, err, sizeof err), TT_ECORRUPT);
    assert_string_equal(err, "span.name: length 4000 exceeds payload (12 bytes left)");

    /* a varint of eleven bytes */
    wbuf_reset(&p);
    wbuf_put(&p, (const uint8_t[32]){ 0 }, 32);
    wbuf_put(&p, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11);
    assert_int_equal(decode_span_payload(&p, err, sizeof err), TT_ECORRUPT);
    assert_string_equal(err, "span.duration_ns: varint longer than 10 bytes");

    /* list count impossible for its byte length */
    wbuf_reset(&p);
    span_prefix(&p);
    wbuf_put_str(&p, "n", 1);
    wbuf_put_str(&p, "", 0);
    wbuf_put_u32(&p, 5);
    wbuf_put_u32(&p, 3);
    wbuf_put(&p, "abc", 3);
    assert_int_equal(decode_span_payload(&p, err, sizeof err), TT_ECORRUPT);
    assert_string_equal(err, "span.attrs: 5 entries cannot fit in 3 bytes");

    /* list byte length past the payload */
    wbuf_reset(&p);
    span_prefix(&p);
    wbuf_put_str(&p, "n", 1);
    wbuf_put_str(&p, "", 0);
    wbuf_put_u32(&p, 1);
    wbuf_put_u32(&p, 0xffffffffu);
    assert_int_equal(decode_span_payload(&p, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "span.attrs: byte length 4294967295 exceeds payload"));

    /* no entries but bytes */
    wbuf_reset(&p);
    span_prefix(&p);
    wbuf_put_str(&p, "n", 1);
    wbuf_put_str(&p, "", 0);
    wbuf_put_u32(&p, 0);
    wbuf_put_u32(&p, 0);
    wbuf_put_u32(&p, 0);
    wbuf_put_u32(&p, 2);
    wbuf_put(&p, "xx", 2);
    assert_int_equal(decode_span_payload(&p, err, sizeof err), TT_ECORRUPT);
    assert_string_equal(err, "span.events: no entries but 2 bytes");

    /* frame lengths: too short for the fixed fields, and over the maximum */
    uint8_t frame[64] = { REC_SPAN, 0 };
    struct rbuf r;
    struct rec rec;
    put_le32(frame + 2, 15);
    rbuf_init(&r, frame, sizeof frame);
    assert_int_equal(rec_next(&r, frame, &rec, err, sizeof err), TT_ECORRUPT);
    assert_string_equal(err, "record at offset 0: impossible length 15");
    put_le32(frame + 2, REC_MAX_LEN + 1);
    rbuf_init(&r, frame, sizeof frame);
    assert_int_equal(rec_next(&r, frame, &rec, err, sizeof err), TT_ECORRUPT);
    put_le32(frame + 2, 16);
    put_le32(frame + 24, 59); /* second record at 22: runs past the end */
    rbuf_init(&r, frame, sizeof frame);
    assert_int_equal(rec_next(&r, frame, &rec, err, sizeof err), 1);
    assert_int_equal(rec_next(&r, frame, &rec, err, sizeof err), TT_ETRUNC);
    assert_string_equal(err, "record at offset 22: length 59 runs past the end (36 bytes left)");
    wbuf_release(&p);
}

static void test_corrupt_entries(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w, 0);
    struct rec_str k;
    struct rec_value v;

    /* bytes left over after the last entry */
    wbuf_put_str(&w, "k", 1);
    wbuf_put_u8(&w, TT_VAL_NONE);
    wbuf_put_u8(&w, 0);
    struct rec_list it = { 1, w.data, (uint32_t)w.len };
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(rec_kv_next(&it, &k, &v), TT_ECORRUPT);

    /* unknown value type, bool out of range, string past the list */
    static const uint8_t bad_type[] = { 1, 'k', 9 };
    it = (struct rec_list){ 1, bad_type, sizeof bad_type };
    assert_int_equal(rec_kv_next(&it, &k, &v), TT_ECORRUPT);
    static const uint8_t bad_bool[] = { 1, 'k', TT_VAL_BOOL, 2 };
    it = (struct rec_list){ 1, bad_bool, sizeof bad_bool };
    assert_int_equal(rec_kv_next(&it, &k, &v), TT_ECORRUPT);
    static const uint8_t long_str[] = { 1, 'k', TT_VAL_STR, 5, 'a' };
    it = (struct rec_list){ 1, long_str, sizeof long_str };
    assert_int_equal(rec_kv_next(&it, &k, &v), TT_ECORRUPT);
    /* count says more entries than there are */
    static const uint8_t one[] = { 1, 'k', TT_VAL_NONE };
    it = (struct rec_list){ 2, one, sizeof one };
    assert_int_equal(rec_kv_next(&it, &k, &v), 1);
    assert_int_equal(rec_kv_next(&it, &k, &v), TT_ECORRUPT);

    /* bucket indexes leaving int32 */
    wbuf_reset(&w);
    rec_bucket_put(&w, 0, INT32_MAX, 1);
    wbuf_put_svarint(&w, 1);
    wbuf_put_uvarint(&w, 1);
    it = (struct rec_list){ 2, w.data, (uint32_t)w.len };
    int32_t index;
    uint64_t count;
    assert_int_equal(rec_bucket_next(&it, &index, &count), 1);
    assert_int_equal(index, INT32_MAX);
    assert_int_equal(rec_bucket_next(&it, &index, &count), TT_ECORRUPT);
    wbuf_reset(&w);
    wbuf_put_svarint(&w, INT64_MIN);
    wbuf_put_uvarint(&w, 1);
    it = (struct rec_list){ 1, w.data, (uint32_t)w.len };
    assert_int_equal(rec_bucket_next(&it, &index, &count), TT_ECORRUPT);

    /* truncated span event and link entries */
    static const uint8_t short_ev[20] = { 0 };
    it = (struct rec_list){ 1, short_ev, 12 };
    struct rec_span_event ev;
    assert_int_equal(rec_span_event_next(&it, &ev), TT_ECORRUPT);
    it = (struct rec_list){ 1, short_ev, 20 };
    struct rec_span_link link;
    assert_int_equal(rec_span_link_next(&it, &link), TT_ECORRUPT);

    /* metric: unknown kind, precision out of range */
    char err[200];
    wbuf_reset(&w);
    wbuf_put_u8(&w, 9);
    wbuf_put_str(&w, "m", 1);
    wbuf_put_str(&w, "", 0);
    wbuf_put_u32(&w, 0);
    wbuf_put_u32(&w, 0);
    struct rec rec = { .type = REC_METRIC, .payload = w.data, .payload_len = (uint32_t)w.len };
    struct rec_metric m;
    assert_int_equal(rec_decode_metric(&rec, &m, err, sizeof err), TT_EUNSUPPORTED);
    assert_string_equal(err, "metric.kind: unknown metric kind 9");
    w.data[0] = REC_METRIC_HISTOGRAM;
    wbuf_put_u8(&w, 0);
    rec.payload = w.data;
    rec.payload_len = (uint32_t)w.len;
    assert_int_equal(rec_decode_metric(&rec, &m, err, sizeof err), TT_ECORRUPT);
    assert_string_equal(err, "metric.precision: 0 is outside [1, 7]");

    /* state with a bad value type names the field */
    wbuf_reset(&w);
    wbuf_put_str(&w, "l", 1);
    wbuf_put_str(&w, "v", 1);
    wbuf_put_u8(&w, TT_VAL_NONE);
    wbuf_put_u8(&w, 77);
    rec = (struct rec){ .type = REC_STATE, .payload = w.data, .payload_len = (uint32_t)w.len };
    struct rec_state st;
    assert_int_equal(rec_decode_state(&rec, &st, err, sizeof err), TT_ECORRUPT);
    assert_string_equal(err, "state.prev: unknown value type 77");
    wbuf_release(&w);
}

static void test_encoder_failures_leave_buffer(void **state)
{
    (void)state;
    struct wbuf b;
    wbuf_init(&b, 0);
    struct rec_event e = { .severity = 1, .name = rs("keep") };
    assert_int_equal(rec_put_event(&b, 1, 1, &e), 0);
    size_t len = b.len;

    struct rec_state st = { .log = rs("l"), .var = rs("v") };
    st.value.type = 42;
    assert_int_equal(rec_put_state(&b, 1, 1, &st), TT_EINVAL);
    assert_int_equal(b.len, len);
    assert_int_equal(b.err, 0);
    struct rec_metric m = { .kind = 0, .name = rs("m") };
    assert_int_equal(rec_put_metric(&b, 1, 1, &m), TT_EINVAL);
    assert_int_equal(b.len, len);
    assert_int_equal(rec_put_raw(&b, 9, 1, 1, b.data, REC_MAX_LEN), TT_ETOOBIG);
    assert_int_equal(b.len, len);
    assert_int_equal(b.err, 0);

    /* a list entry with a bad value poisons the list being built */
    struct wbuf l;
    wbuf_init(&l, 0);
    struct rec_value bad = { .type = 99 };
    rec_kv_put(&l, "k", 1, &bad);
    assert_int_equal(l.err, TT_EINVAL);
    assert_int_equal(l.len, 0);
    wbuf_release(&l);

    /* a bounded buffer that fills up: the record is taken back out */
    struct wbuf small;
    wbuf_init(&small, 40);
    assert_int_equal(rec_put_event(&small, 1, 1, &e), 0);
    size_t one = small.len;
    assert_int_equal(rec_put_event(&small, 1, 1, &e), TT_ETOOBIG);
    assert_int_equal(small.len, one);
    struct rbuf r;
    struct rec rec;
    struct rec_event eo;
    char err[200];
    rbuf_init(&r, small.data, small.len);
    next_record(&r, small.data, &rec);
    assert_int_equal(rec_decode_event(&rec, &eo, err, sizeof err), 0);
    assert_int_equal(rec_next(&r, small.data, &rec, err, sizeof err), 0);
    wbuf_release(&small);
    wbuf_release(&b);
}

UNIT_TESTS(cmocka_unit_test(test_span_round_trip), cmocka_unit_test(test_metric_round_trip),
           cmocka_unit_test(test_event_and_state_round_trip),
           cmocka_unit_test(test_unknown_type_skipped),
           cmocka_unit_test(test_trailing_bytes_ignored),
           cmocka_unit_test(test_every_truncation_rejected), cmocka_unit_test(test_corrupt_lengths),
           cmocka_unit_test(test_corrupt_entries),
           cmocka_unit_test(test_encoder_failures_leave_buffer))
