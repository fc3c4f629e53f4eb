/*
 * test_otlp.c - the OTLP/JSON, OTLP/protobuf and Zipkin v2 decoders
 * (otlp_json.h, otlp_pb.h, zipkin.h) and the records they make (otlp_out.h):
 * ids, 64-bit times as strings and numbers beyond 2^53, snake_case keys,
 * unknown fields, every AnyValue, resource -> origin, events, links,
 * status, kinds; rejected items (zero or short ids) against malformed
 * requests (wrong types: TT_ESYNTAX with the field's path); the same request
 * in protobuf (encoded here) gives the same records as in JSON; logs ->
 * events with the severity mapping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/buf.h"
#include "core/record.h"
#include "server/otlp_json.h"
#include "server/otlp_out.h"
#include "core/hex.h"
#include "server/otlp_pb.h"
#include "server/zipkin.h"

static tt_hlc fixed_hlc(void *ctx)
{
    (void)ctx;
    return 42;
}

static void out_init(struct otlp_out *o)
{
    otlp_out_init(o);
    o->default_node = "10.1.1.1";
    o->hlc = fixed_hlc;
    o->now_ns = 5;
}

/* nth_record decodes record i of group g. */
static void nth_record(const struct otlp_out *o, size_t g, uint32_t i, struct rec *out)
{
    struct rbuf r;
    char err[128];
    assert_true(g < o->ngroups);
    rbuf_init(&r, o->groups[g].body.data, o->groups[g].body.len);
    for (uint32_t k = 0; k <= i; k++)
        assert_int_equal(rec_next(&r, o->groups[g].body.data, out, err, sizeof err), 1);
}

/* kv_find: attribute key of list l; 1 found. */
static int kv_find(struct rec_list l, const char *key, struct rec_value *v)
{
    struct rec_str k;
    while (rec_kv_next(&l, &k, v) == 1)
        if (k.len == strlen(key) && memcmp(k.p, key, k.len) == 0)
            return 1;
    return 0;
}

static const char traces_json[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"web-1\"}},"
    "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"4242\"}}]},"
    "\"schemaUrl\":\"x\",\"unknownField\":{\"a\":[1,2]},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1.2\"},\"spans\":["
    "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"parentSpanId\":\"eee19b7ec3c1b173\",\"name\":\"GET /cart\",\"kind\":2,"
    "\"startTimeUnixNano\":\"9223372036854775000\",\"endTimeUnixNano\":9223372036854775807,"
    "\"flags\":257,"
    "\"attributes\":[{\"key\":\"i\",\"value\":{\"intValue\":-9007199254740993}},"
    "{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"d\",\"value\":{\"doubleValue\":0.5}},"
    "{\"key\":\"s\",\"value\":{\"stringValue\":\"x\"}},"
    "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},"
    "{\"intValue\":\"3\"}]}}},"
    "{\"key\":\"kvl\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":"
    "{\"boolValue\":false}}]}}},"
    "{\"key\":\"by\",\"value\":{\"bytesValue\":\"AQID\"}}],"
    "\"events\":[{\"timeUnixNano\":\"9223372036854775001\",\"name\":\"ev\",\"attributes\":["
    "{\"key\":\"k\",\"value\":{\"stringValue\":\"v\"}}]}],"
    "\"links\":[{\"traceId\":\"5b8efff798038103d269b633813fc60d\","
    "\"spanId\":\"eee19b7ec3c1b175\",\"flags\":1}],"
    "\"status\":{\"code\":2,\"message\":\"boom\"}},"
    /* rejected: all-zero trace id, short span id, bad hex */
    "{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"startTimeUnixNano\":\"1\"},"
    "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7e\","
    "\"startTimeUnixNano\":\"1\"},"
    "{\"traceId\":\"5b8efff798038103d269b633813fc6zz\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"startTimeUnixNano\":\"1\"}"
    "]}]},"
    /* a second resource: no service, no host; snake_case keys, enum names */
    "{\"scope_spans\":[{\"spans\":[{\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\","
    "\"span_id\":\"0102030405060708\",\"kind\":\"SPAN_KIND_CONSUMER\","
    "\"start_time_unix_nano\":1000,\"end_time_unix_nano\":\"2000\","
    "\"status\":{\"code\":\"STATUS_CODE_OK\"}}]}]}]}";

static void check_first_span(const struct otlp_out *o)
{
    struct rec r;
    struct rec_span s;
    struct rec_value v;
    struct rec_list it;
    struct rec_span_event ev;
    struct rec_span_link ln;
    char err[128];
    static const uint8_t tid[16] = { 0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                     0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c };

    assert_int_equal(o->ngroups, 2);
    assert_int_equal(o->groups[0].origin_len, 14);
    assert_memory_equal(o->groups[0].origin, "web-1\0checkout", 14);
    assert_int_equal(o->groups[0].origin_id, otlp_origin_id("web-1\0checkout", 14));
    assert_int_equal(o->groups[0].count, 1);
    nth_record(o, 0, 0, &r);
    assert_int_equal(r.type, REC_SPAN);
    assert_int_equal(r.hlc, 42);
    assert_int_equal(r.time_ns, INT64_C(9223372036854775000));
    assert_int_equal(rec_decode_span(&r, &s, err, sizeof err), 0);
    assert_memory_equal(s.trace_id, tid, 16);
    assert_int_equal(s.span_id, UINT64_C(0xeee19b7ec3c1b174));
    assert_int_equal(s.parent_id, UINT64_C(0xeee19b7ec3c1b173));
    assert_int_equal(s.duration_ns, 807);
    assert_int_equal(s.kind, TT_SPAN_SERVER);
    assert_int_equal(s.status, TT_STATUS_ERROR);
    assert_int_equal(s.flags, TT_FLAG_SAMPLED);
    assert_strn_equal(s.name.p, s.name.len, "GET /cart");
    assert_strn_equal(s.status_message.p, s.status_message.len, "boom");
    assert_true(kv_find(s.attrs, "i", &v));
    assert_int_equal(v.type, TT_VAL_INT);
    assert_int_equal(v.u.i, INT64_C(-9007199254740993));
    assert_true(kv_find(s.attrs, "b", &v) && v.type == TT_VAL_BOOL && v.u.b == 1);
    assert_true(kv_find(s.attrs, "d", &v) && v.type == TT_VAL_DOUBLE && v.u.d == 0.5);
    assert_true(kv_find(s.attrs, "arr", &v) && v.type == TT_VAL_STR);
    assert_strn_equal(v.u.s.p, v.u.s.len, "[\"a\",3]");
    assert_true(kv_find(s.attrs, "kvl", &v) && v.type == TT_VAL_STR);
    assert_strn_equal(v.u.s.p, v.u.s.len, "{\"k\":false}");
    assert_true(kv_find(s.attrs, "by", &v) && v.type == TT_VAL_STR);
    assert_strn_equal(v.u.s.p, v.u.s.len, "AQID");
    assert_true(kv_find(s.attrs, "process.pid", &v) && v.type == TT_VAL_INT && v.u.i == 4242);
    assert_true(kv_find(s.attrs, "otel.scope.name", &v));
    assert_strn_equal(v.u.s.p, v.u.s.len, "lib");
    assert_false(kv_find(s.attrs, "service.name", &v));
    assert_false(kv_find(s.attrs, "host.name", &v));
    assert_int_equal(s.events.count, 1);
    it = s.events;
    assert_int_equal(rec_span_event_next(&it, &ev), 1);
    assert_int_equal(ev.time_ns, INT64_C(9223372036854775001));
    assert_strn_equal(ev.name.p, ev.name.len, "ev");
    assert_true(kv_find(ev.attrs, "k", &v));
    assert_int_equal(s.links.count, 1);
    it = s.links;
    assert_int_equal(rec_span_link_next(&it, &ln), 1);
    assert_int_equal(ln.span_id, UINT64_C(0xeee19b7ec3c1b175));
    assert_int_equal(ln.flags, 1);
    assert_int_equal(ln.trace_id[15], 0x0d);

    /* The second resource: the default node and unknown_service. */
    assert_int_equal(o->groups[1].origin_len, 8 + 1 + strlen(OTLP_UNKNOWN_SERVICE));
    assert_memory_equal(o->groups[1].origin, "10.1.1.1\0unknown_service", 24);
    nth_record(o, 1, 0, &r);
    assert_int_equal(rec_decode_span(&r, &s, err, sizeof err), 0);
    assert_int_equal(r.time_ns, 1000);
    assert_int_equal(s.duration_ns, 1000);
    assert_int_equal(s.kind, TT_SPAN_CONSUMER);
    assert_int_equal(s.status, TT_STATUS_OK);
    assert_int_equal(s.parent_id, 0);
}

static void test_json_traces(void **state)
{
    (void)state;
    struct otlp_out o;
    char err[256] = "";
    out_init(&o);
    int rc =
        otlp_json_traces(&o, (const uint8_t *)traces_json, strlen(traces_json), err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(o.accepted, 2);
    assert_int_equal(o.rejected, 3);
    assert_string_equal(o.reject_msg,
                        "resourceSpans[0].scopeSpans[0].spans[1]: traceId is all zero");
    check_first_span(&o);
    otlp_out_release(&o);
}

/* A span's traceState with Telltale's entry gives its record that HLC and
 * REC_FLAG_OWN_HLC; without one (or with a malformed one) the record has
 * the receive stamp and no flag. */
static void test_tracestate_hlc(void **state)
{
    (void)state;
    assert_int_equal(otlp_tracestate_hlc("tt=0001960e2b6c0003", 19), UINT64_C(0x0001960e2b6c0003));
    assert_int_equal(otlp_tracestate_hlc("a=1, tt=00000000000000ff ,b=2", 29), 0xff);
    assert_int_equal(otlp_tracestate_hlc("tt=0001960E2B6C0003", 19), 0);
    assert_int_equal(otlp_tracestate_hlc("tt=0001960e2b6c000", 18), 0);
    assert_int_equal(otlp_tracestate_hlc("xtt=0001960e2b6c0003", 20), 0);
    assert_int_equal(otlp_tracestate_hlc("", 0), 0);
    assert_int_equal(otlp_tracestate_hlc(NULL, 0), 0);

    static const char doc[] =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"s\"}}]},\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
        "\"name\":\"a\",\"traceState\":\"v=1,tt=0001960e2b6c0003\","
        "\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":\"2000\"},"
        "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b175\","
        "\"name\":\"b\",\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":\"2000\"}]}]}]}";
    struct otlp_out o;
    struct rec r;
    char err[256] = "";
    out_init(&o);
    assert_int_equal(otlp_json_traces(&o, (const uint8_t *)doc, strlen(doc), err, sizeof err), 0);
    assert_int_equal(o.accepted, 2);
    nth_record(&o, 0, 0, &r);
    assert_int_equal(r.hlc, UINT64_C(0x0001960e2b6c0003));
    assert_int_equal(r.flags & REC_FLAG_OWN_HLC, REC_FLAG_OWN_HLC);
    nth_record(&o, 0, 1, &r);
    assert_int_equal(r.hlc, 42);
    assert_int_equal(r.flags & REC_FLAG_OWN_HLC, 0);
    otlp_out_release(&o);
}

/* Malformed requests: TT_ESYNTAX naming the place. */
static void test_json_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *body, *msg;
    } cases[] = {
        { "{\"resourceSpans\":[", "line 1 column 18" },
        { "[]", "(request): expected an object" },
        { "{\"resourceSpans\":{}}", "(request).resourceSpans: expected an array" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":3}]}]}]}",
          "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":1.5}]}]}]}",
          "spans[0].startTimeUnixNano: expected an integer" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":"
          "\"18446744073709551616\"}]}]}]}",
          "startTimeUnixNano: expected an unsigned 64-bit integer" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":\"SERVER\"}]}]}]}",
          "spans[0].kind: expected an integer" },
        { "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"a\",\"value\":"
          "{\"intValue\":\"x\"}}]}}]}",
          "resourceSpans[0].resource.attributes[0]: intValue" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct otlp_out o;
        char err[256] = "";
        out_init(&o);
        assert_int_equal(otlp_json_traces(&o, (const uint8_t *)cases[i].body, strlen(cases[i].body),
                                          err, sizeof err),
                         TT_ESYNTAX);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' does not hold '%s'", i, err, cases[i].msg);
        otlp_out_release(&o);
    }
}

static void test_json_logs(void **state)
{
    (void)state;
    static const char body[] =
        "{\"resource_logs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"api\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"app.log\"},"
        "\"logRecords\":["
        "{\"timeUnixNano\":\"1700000000000000001\",\"severityNumber\":17,\"body\":{\"stringValue\":"
        "\"failed\"},\"attributes\":[{\"key\":\"user\",\"value\":{\"stringValue\":\"u1\"}}],"
        "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
        "\"eventName\":\"payment\"},"
        "{\"observedTimeUnixNano\":7,\"severityText\":\"WARN\",\"body\":{\"kvlistValue\":"
        "{\"values\":[{\"key\":\"a\",\"value\":{\"intValue\":\"1\"}}]}}},"
        "{\"severityNumber\":3},"
        "{\"severityNumber\":23,\"traceId\":\"abcd\"}]}]}]}";
    struct otlp_out o;
    struct rec r;
    struct rec_event e;
    struct rec_value v;
    char err[256] = "";
    out_init(&o);
    assert_int_equal(otlp_json_logs(&o, (const uint8_t *)body, strlen(body), err, sizeof err), 0);
    assert_int_equal(o.accepted, 3);
    assert_int_equal(o.rejected, 1);
    assert_int_equal(o.ngroups, 1);
    assert_memory_equal(o.groups[0].origin, "10.1.1.1\0api", 12);
    nth_record(&o, 0, 0, &r);
    assert_int_equal(r.type, REC_EVENT);
    assert_int_equal(r.time_ns, INT64_C(1700000000000000001));
    assert_int_equal(rec_decode_event(&r, &e, err, sizeof err), 0);
    assert_int_equal(e.severity, TT_SEV_ERROR);
    assert_strn_equal(e.component.p, e.component.len, "app.log");
    assert_strn_equal(e.name.p, e.name.len, "payment");
    assert_strn_equal(e.message.p, e.message.len, "failed");
    assert_true(kv_find(e.attrs, "user", &v));
    assert_true(kv_find(e.attrs, "trace_id", &v));
    assert_strn_equal(v.u.s.p, v.u.s.len, "5b8efff798038103d269b633813fc60c");
    assert_true(kv_find(e.attrs, "span_id", &v));
    nth_record(&o, 0, 1, &r);
    assert_int_equal(r.time_ns, 7);
    assert_int_equal(rec_decode_event(&r, &e, err, sizeof err), 0);
    assert_int_equal(e.severity, TT_SEV_WARNING);
    assert_strn_equal(e.name.p, e.name.len, "log");
    assert_strn_equal(e.message.p, e.message.len, "{\"a\":1}");
    nth_record(&o, 0, 2, &r);
    assert_int_equal(r.time_ns, 5); /* no time: now */
    assert_int_equal(rec_decode_event(&r, &e, err, sizeof err), 0);
    assert_int_equal(e.severity, TT_SEV_DEBUG);
    otlp_out_release(&o);

    assert_int_equal(otlp_severity(9, NULL, 0), TT_SEV_INFO);
    assert_int_equal(otlp_severity(24, NULL, 0), TT_SEV_CRITICAL);
    assert_int_equal(otlp_severity(0, "Error", 5), TT_SEV_ERROR);
    assert_int_equal(otlp_severity(0, "whatever", 8), TT_SEV_INFO);
}

/* ---- a protobuf encoder for the test ---------------------------------------- */

static void pb_key(struct wbuf *b, uint32_t num, int wt)
{
    wbuf_put_uvarint(b, (uint64_t)num << 3 | (uint64_t)wt);
}
static void pb_varint(struct wbuf *b, uint32_t num, uint64_t v)
{
    pb_key(b, num, 0);
    wbuf_put_uvarint(b, v);
}
static void pb_fixed64(struct wbuf *b, uint32_t num, uint64_t v)
{
    pb_key(b, num, 1);
    wbuf_put_u64(b, v);
}
static void pb_fixed32(struct wbuf *b, uint32_t num, uint32_t v)
{
    pb_key(b, num, 5);
    wbuf_put_u32(b, v);
}
static void pb_bytes(struct wbuf *b, uint32_t num, const void *p, size_t n)
{
    pb_key(b, num, 2);
    wbuf_put_uvarint(b, n);
    wbuf_put(b, p, n);
}
static void pb_str(struct wbuf *b, uint32_t num, const char *s)
{
    pb_bytes(b, num, s, strlen(s));
}
static void pb_msg(struct wbuf *b, uint32_t num, struct wbuf *m)
{
    pb_bytes(b, num, m->data, m->len);
    wbuf_release(m);
    wbuf_init(m, 0);
}
/* kv_any: KeyValue{key, AnyValue{any}} appended as field num of b. */
static void pb_kv(struct wbuf *b, uint32_t num, const char *key, struct wbuf *any)
{
    struct wbuf kv;
    wbuf_init(&kv, 0);
    pb_str(&kv, 1, key);
    pb_msg(&kv, 2, any);
    pb_msg(b, num, &kv);
}
static void pb_kv_str(struct wbuf *b, uint32_t num, const char *key, const char *v)
{
    struct wbuf a;
    wbuf_init(&a, 0);
    pb_str(&a, 1, v);
    pb_kv(b, num, key, &a);
}

static void hex(const char *h, uint8_t *out)
{
    assert_int_equal(tt_hex_decode(h, strlen(h), out, strlen(h) / 2), 0);
}

/* traces_pb: traces_json's first resource in protobuf, fields in an
 * unusual order, with unknown fields. */
static void traces_pb(struct wbuf *req)
{
    struct wbuf rs, res, ss, sc, sp, a, arr, kvl, ev, ln, st;
    uint8_t id[16];
    wbuf_init(&rs, 0), wbuf_init(&res, 0), wbuf_init(&ss, 0), wbuf_init(&sc, 0);
    wbuf_init(&sp, 0), wbuf_init(&a, 0), wbuf_init(&arr, 0), wbuf_init(&kvl, 0);
    wbuf_init(&ev, 0), wbuf_init(&ln, 0), wbuf_init(&st, 0);

    pb_str(&sp, 5, "GET /cart");
    hex("5b8efff798038103d269b633813fc60c", id);
    pb_bytes(&sp, 1, id, 16);
    hex("eee19b7ec3c1b174", id);
    pb_bytes(&sp, 2, id, 8);
    hex("eee19b7ec3c1b173", id);
    pb_bytes(&sp, 4, id, 8);
    pb_varint(&sp, 6, 2);
    pb_fixed64(&sp, 7, UINT64_C(9223372036854775000));
    pb_fixed64(&sp, 8, UINT64_C(9223372036854775807));
    pb_fixed32(&sp, 16, 257);
    pb_varint(&sp, 99, 7); /* unknown */
    pb_varint(&a, 3, (uint64_t)INT64_C(-9007199254740993));
    pb_kv(&sp, 9, "i", &a);
    pb_varint(&a, 2, 1);
    pb_kv(&sp, 9, "b", &a);
    pb_fixed64(&a, 4, f64_bits(0.5));
    pb_kv(&sp, 9, "d", &a);
    pb_kv_str(&sp, 9, "s", "x");
    pb_str(&arr, 1, "a"); /* AnyValue{string a} */
    struct wbuf arrv;
    wbuf_init(&arrv, 0);
    pb_msg(&arrv, 1, &arr);
    pb_varint(&arr, 3, 3);
    pb_msg(&arrv, 1, &arr);
    pb_msg(&a, 5, &arrv);
    pb_kv(&sp, 9, "arr", &a);
    pb_varint(&a, 2, 0);
    pb_kv(&kvl, 1, "k", &a);
    pb_msg(&a, 6, &kvl);
    pb_kv(&sp, 9, "kvl", &a);
    pb_bytes(&a, 7, "\x01\x02\x03", 3);
    pb_kv(&sp, 9, "by", &a);
    pb_fixed64(&ev, 1, UINT64_C(9223372036854775001));
    pb_str(&ev, 2, "ev");
    pb_kv_str(&ev, 3, "k", "v");
    pb_msg(&sp, 11, &ev);
    hex("5b8efff798038103d269b633813fc60d", id);
    pb_bytes(&ln, 1, id, 16);
    hex("eee19b7ec3c1b175", id);
    pb_bytes(&ln, 2, id, 8);
    pb_fixed32(&ln, 6, 1);
    pb_msg(&sp, 13, &ln);
    pb_varint(&st, 3, 2);
    pb_str(&st, 2, "boom");
    pb_msg(&sp, 15, &st);
    pb_msg(&ss, 2, &sp); /* spans before scope */
    /* a rejected span: all-zero trace id */
    memset(id, 0, sizeof id);
    pb_bytes(&sp, 1, id, 16);
    hex("eee19b7ec3c1b174", id);
    pb_bytes(&sp, 2, id, 8);
    pb_fixed64(&sp, 7, 1);
    pb_msg(&ss, 2, &sp);
    pb_str(&sc, 1, "lib");
    pb_str(&sc, 2, "1.2");
    pb_msg(&ss, 1, &sc);

    pb_msg(&rs, 2, &ss); /* scope spans before the resource */
    pb_kv_str(&res, 1, "service.name", "checkout");
    pb_kv_str(&res, 1, "host.name", "web-1");
    pb_str(&a, 1, "4242");
    wbuf_reset(&a);
    pb_varint(&a, 3, 4242);
    pb_kv(&res, 1, "process.pid", &a);
    pb_msg(&rs, 1, &res);
    pb_str(&rs, 3, "schema");
    pb_msg(req, 1, &rs);

    /* The second resource: a consumer span. */
    hex("0102030405060708090a0b0c0d0e0f10", id);
    pb_bytes(&sp, 1, id, 16);
    hex("0102030405060708", id);
    pb_bytes(&sp, 2, id, 8);
    pb_varint(&sp, 6, 5);
    pb_str(&sp, 3, "tt=0001960e2b6c0003"); /* traceState with Telltale's HLC */
    pb_fixed64(&sp, 7, 1000);
    pb_fixed64(&sp, 8, 2000);
    pb_varint(&st, 3, 1);
    pb_msg(&sp, 15, &st);
    pb_msg(&ss, 2, &sp);
    pb_msg(&rs, 2, &ss);
    pb_msg(req, 1, &rs);
    wbuf_release(&a), wbuf_release(&arrv), wbuf_release(&rs), wbuf_release(&res);
    wbuf_release(&ss), wbuf_release(&sc), wbuf_release(&sp), wbuf_release(&arr);
    wbuf_release(&kvl), wbuf_release(&ev), wbuf_release(&ln), wbuf_release(&st);
}

static void test_pb_traces(void **state)
{
    (void)state;
    struct otlp_out o;
    struct wbuf req;
    char err[256] = "";
    wbuf_init(&req, 0);
    traces_pb(&req);
    assert_int_equal(req.err, 0);
    out_init(&o);
    int rc = otlp_pb_traces(&o, req.data, req.len, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(o.accepted, 2);
    assert_int_equal(o.rejected, 1);
    check_first_span(&o);
    struct rec r;
    nth_record(&o, 1, 0, &r);
    assert_int_equal(r.hlc, UINT64_C(0x0001960e2b6c0003));
    assert_int_equal(r.flags & REC_FLAG_OWN_HLC, REC_FLAG_OWN_HLC);
    nth_record(&o, 0, 0, &r);
    assert_int_equal(r.flags & REC_FLAG_OWN_HLC, 0);
    otlp_out_release(&o);

    /* Every truncation of the request is refused or decodes a prefix, and
     * never reads past the end (ASan watches). */
    for (size_t n = 0; n < req.len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, req.data, n);
        out_init(&o);
        rc = otlp_pb_traces(&o, cut, n, err, sizeof err);
        assert_true(rc == 0 || rc == TT_ESYNTAX);
        otlp_out_release(&o);
        free(cut);
    }
    wbuf_release(&req);
}

static void test_pb_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *p;
        size_t n;
        const char *msg;
    } cases[] = {
        { "\x0a\x05\x01", 3, "byte 0: (request): length runs past" },
        { "\x0a", 1, "truncated length" },
        { "\x08\xff", 2, "truncated varint" },
        { "\x0b", 1, "unsupported wire type" },
        { "\x00", 1, "field number 0" },
        { "\x08\x01", 2, "(request).resourceSpans: wrong wire type" },
        /* ResourceSpans{ScopeSpans{Span{name: varint}}} */
        { "\x0a\x06\x12\x04\x12\x02\x28\x01", 8,
          "resourceSpans[0].scopeSpans[0].spans[0].name: wrong wire type" },
        { "\x0a\x08\x12\x06\x12\x04\x39\x01\x02\x03", 10, "truncated fixed64" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct otlp_out o;
        char err[256] = "";
        out_init(&o);
        assert_int_equal(
            otlp_pb_traces(&o, (const uint8_t *)cases[i].p, cases[i].n, err, sizeof err),
            TT_ESYNTAX);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' does not hold '%s'", i, err, cases[i].msg);
        otlp_out_release(&o);
    }
}

static void test_pb_logs(void **state)
{
    (void)state;
    struct wbuf req, rl, res, sl, lr, a;
    struct otlp_out o;
    struct rec r;
    struct rec_event e;
    struct rec_value v;
    uint8_t id[16];
    char err[256] = "";
    wbuf_init(&req, 0), wbuf_init(&rl, 0), wbuf_init(&res, 0), wbuf_init(&sl, 0);
    wbuf_init(&lr, 0), wbuf_init(&a, 0);
    pb_fixed64(&lr, 1, UINT64_C(1700000000000000001));
    pb_varint(&lr, 2, 13);
    pb_str(&a, 1, "disk low");
    pb_msg(&lr, 5, &a);
    pb_kv_str(&lr, 6, "disk", "sda");
    hex("5b8efff798038103d269b633813fc60c", id);
    pb_bytes(&lr, 9, id, 16);
    pb_msg(&sl, 2, &lr);
    pb_kv_str(&res, 1, "service.name", "stor");
    pb_kv_str(&res, 1, "host.name", "db-2");
    pb_msg(&rl, 1, &res);
    pb_msg(&rl, 2, &sl);
    pb_msg(&req, 1, &rl);
    out_init(&o);
    assert_int_equal(otlp_pb_logs(&o, req.data, req.len, err, sizeof err), 0);
    assert_int_equal(o.accepted, 1);
    assert_memory_equal(o.groups[0].origin, "db-2\0stor", 9);
    nth_record(&o, 0, 0, &r);
    assert_int_equal(rec_decode_event(&r, &e, err, sizeof err), 0);
    assert_int_equal(r.time_ns, INT64_C(1700000000000000001));
    assert_int_equal(e.severity, TT_SEV_WARNING);
    assert_strn_equal(e.message.p, e.message.len, "disk low");
    assert_true(kv_find(e.attrs, "disk", &v));
    assert_true(kv_find(e.attrs, "trace_id", &v));
    otlp_out_release(&o);
    wbuf_release(&req), wbuf_release(&rl), wbuf_release(&res), wbuf_release(&sl);
    wbuf_release(&lr), wbuf_release(&a);
}

static void test_zipkin(void **state)
{
    (void)state;
    static const char body[] =
        "[{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\",\"parentId\":"
        "\"0020000000000001\",\"name\":\"get /api\",\"kind\":\"CLIENT\",\"timestamp\":"
        "1700000000000001,\"duration\":207000,\"localEndpoint\":{\"serviceName\":\"frontend\","
        "\"ipv4\":\"10.0.0.1\"},\"remoteEndpoint\":{\"serviceName\":\"backend\",\"port\":8080},"
        "\"tags\":{\"http.method\":\"GET\",\"error\":\"timeout\"},\"annotations\":[{"
        "\"timestamp\":1700000000000100,\"value\":\"ws\"}],\"debug\":true},"
        "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"id\":\"a2fb4a1d1a96d313\","
        "\"timestamp\":\"1700000000000002\",\"localEndpoint\":{\"serviceName\":\"frontend\","
        "\"ipv4\":\"10.0.0.1\"}},"
        "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"id\":\"a2fb4a1d1a96d314\"},"
        "{\"traceId\":\"5b8e\",\"id\":\"a2fb4a1d1a96d315\",\"timestamp\":1}]";
    struct otlp_out o;
    struct rec r;
    struct rec_span s;
    struct rec_value v;
    struct rec_list it;
    struct rec_span_event ev;
    char err[256] = "";
    out_init(&o);
    assert_int_equal(zipkin_json_spans(&o, (const uint8_t *)body, strlen(body), err, sizeof err),
                     0);
    assert_int_equal(o.accepted, 2);
    assert_int_equal(o.rejected, 2);
    assert_string_equal(o.reject_msg, "[2]: no timestamp");
    assert_int_equal(o.ngroups, 1);
    assert_memory_equal(o.groups[0].origin, "10.0.0.1\0frontend", 17);
    nth_record(&o, 0, 0, &r);
    assert_int_equal(rec_decode_span(&r, &s, err, sizeof err), 0);
    assert_int_equal(r.time_ns, INT64_C(1700000000000001000));
    assert_int_equal(s.duration_ns, 207000000);
    assert_int_equal(s.kind, TT_SPAN_CLIENT);
    assert_int_equal(s.status, TT_STATUS_ERROR);
    assert_int_equal(s.trace_id[0], 0);
    assert_int_equal(s.trace_id[8], 0x46);
    assert_int_equal(s.span_id, UINT64_C(0xa2fb4a1d1a96d312));
    assert_int_equal(s.parent_id, UINT64_C(0x0020000000000001));
    assert_true(kv_find(s.attrs, "peer.service", &v));
    assert_true(kv_find(s.attrs, "net.peer.port", &v) && v.u.i == 8080);
    assert_true(kv_find(s.attrs, "http.method", &v));
    /* the error tag is the status and its message, not an attribute too */
    assert_false(kv_find(s.attrs, "error", &v));
    assert_strn_equal(s.status_message.p, s.status_message.len, "timeout");
    it = s.events;
    assert_int_equal(rec_span_event_next(&it, &ev), 1);
    assert_int_equal(ev.time_ns, INT64_C(1700000000000100000));
    assert_strn_equal(ev.name.p, ev.name.len, "ws");
    nth_record(&o, 0, 1, &r);
    assert_int_equal(rec_decode_span(&r, &s, err, sizeof err), 0);
    assert_int_equal(s.trace_id[0], 0x5b);
    assert_int_equal(s.kind, TT_SPAN_INTERNAL);
    otlp_out_release(&o);

    static const struct {
        const char *body, *msg;
    } bad[] = {
        { "{}", "expected a JSON array" },
        { "[1]", "[0]: expected a span object" },
        { "[{\"kind\":\"SIDEWAYS\"}]", "[0].kind: expected CLIENT" },
        { "[{},{\"duration\":-1}]", "[1].duration" },
        { "[{\"tags\":{\"a\":1}}]", "[0].tags: values must be strings" },
        { "[{\"id\":", "line 1" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out_init(&o);
        assert_int_equal(zipkin_json_spans(&o, (const uint8_t *)bad[i].body, strlen(bad[i].body),
                                           err, sizeof err),
                         TT_ESYNTAX);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("case %zu: '%s' does not hold '%s'", i, err, bad[i].msg);
        otlp_out_release(&o);
    }
}

/* metric_at: record i of group 0 decoded as a metric. */
static void metric_at(const struct otlp_out *o, uint32_t i, struct rec_metric *m, int64_t *t)
{
    struct rec r;
    char err[128];
    nth_record(o, 0, i, &r);
    assert_int_equal(r.type, REC_METRIC);
    assert_int_equal(rec_decode_metric(&r, m, err, sizeof err), 0);
    *t = r.time_ns;
}

/* check_metrics: what metrics_json and metrics_pb both hold. */
static void check_metrics(const struct otlp_out *o)
{
    struct rec_metric m;
    struct rec_value v;
    int64_t t;
    if (o->accepted != 8) {
        fprintf(stderr, "rejected %llu: %s\n", (unsigned long long)o->rejected, o->reject_msg);
        for (uint32_t i = 0; i < o->groups[0].count; i++) {
            metric_at(o, i, &m, &t);
            fprintf(stderr, "%.*s\n", (int)m.name.len, m.name.p);
        }
    }
    assert_int_equal(o->accepted, 8);
    assert_int_equal(o->rejected, 2);
    assert_non_null(strstr(o->reject_msg, "delta temporality"));
    metric_at(o, 0, &m, &t);
    assert_strn_equal(m.name.p, m.name.len, "queue_depth");
    assert_int_equal(m.kind, REC_METRIC_GAUGE);
    assert_true(m.value == 7.5);
    assert_int_equal(t, INT64_C(1700000000000000000));
    assert_true(kv_find(m.labels, "queue_name", &v));
    assert_true(kv_find(m.labels, "key__x", &v));
    metric_at(o, 1, &m, &t);
    assert_strn_equal(m.name.p, m.name.len, "http_requests_total");
    assert_int_equal(m.kind, REC_METRIC_COUNTER);
    assert_true(m.value == 42);
    /* histogram: bounds 0.1, 1 -> le 0.1, 1, +Inf cumulative; sum; count */
    static const char *const les[3] = { "0.1", "1", "+Inf" };
    static const double cums[3] = { 2, 5, 6 };
    for (uint32_t i = 0; i < 3; i++) {
        metric_at(o, 2 + i, &m, &t);
        assert_strn_equal(m.name.p, m.name.len, "rpc_duration_bucket");
        assert_true(kv_find(m.labels, "le", &v));
        assert_strn_equal(v.u.s.p, v.u.s.len, les[i]);
        assert_true(m.value == cums[i]);
    }
    metric_at(o, 5, &m, &t);
    assert_strn_equal(m.name.p, m.name.len, "rpc_duration_sum");
    assert_true(m.value == 3.25);
    metric_at(o, 6, &m, &t);
    assert_strn_equal(m.name.p, m.name.len, "rpc_duration_count");
    assert_true(m.value == 6);
    metric_at(o, 7, &m, &t);
    assert_strn_equal(m.name.p, m.name.len, "temp");
    assert_int_equal(m.kind, REC_METRIC_GAUGE); /* a non-monotonic sum */
    assert_true(m.value == -3);
}

/* B3 join: the server half of a shared span ("shared": true, the client's
 * span id) gets an id of its own and the client span as its parent. */
static void test_zipkin_shared(void **state)
{
    (void)state;
    static const char body[] =
        "[{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"00000000000000a2\",\"parentId\":"
        "\"00000000000000a1\",\"kind\":\"CLIENT\",\"timestamp\":1700000000000001,"
        "\"localEndpoint\":{\"serviceName\":\"web\"}},"
        "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"00000000000000a2\",\"parentId\":"
        "\"00000000000000a1\",\"kind\":\"SERVER\",\"shared\":true,\"timestamp\":"
        "1700000000000002,\"localEndpoint\":{\"serviceName\":\"web\"}},"
        "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"00000000000000a3\",\"kind\":\"SERVER\","
        "\"shared\":false,\"timestamp\":1700000000000003,\"localEndpoint\":{\"serviceName\":"
        "\"web\"}}]";
    struct otlp_out o;
    struct rec r;
    struct rec_span c, sv, other;
    char err[256] = "";
    out_init(&o);
    assert_int_equal(zipkin_json_spans(&o, (const uint8_t *)body, strlen(body), err, sizeof err),
                     0);
    assert_int_equal(o.accepted, 3);
    nth_record(&o, 0, 0, &r);
    assert_int_equal(rec_decode_span(&r, &c, err, sizeof err), 0);
    nth_record(&o, 0, 1, &r);
    assert_int_equal(rec_decode_span(&r, &sv, err, sizeof err), 0);
    nth_record(&o, 0, 2, &r);
    assert_int_equal(rec_decode_span(&r, &other, err, sizeof err), 0);
    assert_int_equal(c.span_id, 0xa2);
    assert_int_equal(c.parent_id, 0xa1);
    assert_int_equal(sv.parent_id, 0xa2);
    assert_true(sv.span_id != 0 && sv.span_id != 0xa2 && sv.span_id != 0xa1);
    assert_int_equal(sv.kind, TT_SPAN_SERVER);
    assert_int_equal(other.span_id, 0xa3); /* not shared: as it came */
    assert_int_equal(other.parent_id, 0);
    otlp_out_release(&o);
    /* the same id every time (a retried request maps to the same span) */
    uint64_t first = sv.span_id;
    out_init(&o);
    assert_int_equal(zipkin_json_spans(&o, (const uint8_t *)body, strlen(body), err, sizeof err),
                     0);
    nth_record(&o, 0, 1, &r);
    assert_int_equal(rec_decode_span(&r, &sv, err, sizeof err), 0);
    assert_int_equal(sv.span_id, first);
    otlp_out_release(&o);
}

static void test_json_metrics(void **state)
{
    (void)state;
    static const char body[] =
        "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"q\"}}]},\"scopeMetrics\":[{\"metrics\":["
        "{\"name\":\"queue.depth\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":"
        "\"1700000000000000000\",\"asDouble\":7.5,\"attributes\":[{\"key\":\"queue.name\","
        "\"value\":{\"stringValue\":\"a\"}},{\"key\":\"__x\",\"value\":{\"intValue\":1}}]}]}},"
        "{\"name\":\"http.requests\",\"sum\":{\"isMonotonic\":true,"
        "\"aggregationTemporality\":2,\"dataPoints\":[{\"timeUnixNano\":1,\"asInt\":\"42\"}]}},"
        "{\"name\":\"rpc.duration\",\"histogram\":{\"aggregationTemporality\":"
        "\"AGGREGATION_TEMPORALITY_CUMULATIVE\",\"dataPoints\":[{\"timeUnixNano\":1,\"count\":"
        "\"6\",\"sum\":3.25,\"bucketCounts\":[\"2\",3,1],\"explicitBounds\":[0.1,1]}]}},"
        "{\"name\":\"temp\",\"sum\":{\"aggregationTemporality\":2,\"dataPoints\":["
        "{\"timeUnixNano\":1,\"asInt\":-3}]}},"
        "{\"name\":\"d\",\"sum\":{\"aggregationTemporality\":1,\"dataPoints\":["
        "{\"timeUnixNano\":1,\"asInt\":1}]}},"
        "{\"name\":\"s\",\"summary\":{}}]}]}]}";
    struct otlp_out o;
    char err[256] = "";
    out_init(&o);
    int rc = otlp_json_metrics(&o, (const uint8_t *)body, strlen(body), err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    check_metrics(&o);
    otlp_out_release(&o);
}

static void test_pb_metrics(void **state)
{
    (void)state;
    struct wbuf req, rm, res, sm, m, g, dp, a;
    struct otlp_out o;
    char err[256] = "";
    wbuf_init(&req, 0), wbuf_init(&rm, 0), wbuf_init(&res, 0), wbuf_init(&sm, 0);
    wbuf_init(&m, 0), wbuf_init(&g, 0), wbuf_init(&dp, 0), wbuf_init(&a, 0);
    /* gauge */
    pb_fixed64(&dp, 3, UINT64_C(1700000000000000000));
    pb_fixed64(&dp, 4, f64_bits(7.5));
    pb_kv_str(&dp, 7, "queue.name", "a");
    pb_varint(&a, 3, 1);
    pb_kv(&dp, 7, "__x", &a);
    pb_msg(&g, 1, &dp);
    pb_str(&m, 1, "queue.depth");
    pb_msg(&m, 5, &g);
    pb_msg(&sm, 2, &m);
    /* monotonic cumulative sum, as_int */
    pb_fixed64(&dp, 3, 1);
    pb_fixed64(&dp, 6, 42);
    pb_msg(&g, 1, &dp);
    pb_varint(&g, 2, 2);
    pb_varint(&g, 3, 1);
    pb_str(&m, 1, "http.requests");
    pb_msg(&m, 7, &g);
    pb_msg(&sm, 2, &m);
    /* histogram: counts packed, bounds unpacked */
    pb_fixed64(&dp, 3, 1);
    pb_fixed64(&dp, 4, 6);
    pb_fixed64(&dp, 5, f64_bits(3.25));
    {
        struct wbuf packed;
        wbuf_init(&packed, 0);
        wbuf_put_u64(&packed, 2), wbuf_put_u64(&packed, 3), wbuf_put_u64(&packed, 1);
        pb_msg(&dp, 6, &packed);
        wbuf_release(&packed);
    }
    pb_fixed64(&dp, 7, f64_bits(0.1));
    pb_fixed64(&dp, 7, f64_bits(1));
    pb_msg(&g, 1, &dp);
    pb_varint(&g, 2, 2);
    pb_str(&m, 1, "rpc.duration");
    pb_msg(&m, 9, &g);
    pb_msg(&sm, 2, &m);
    /* non-monotonic sum */
    pb_fixed64(&dp, 3, 1);
    pb_fixed64(&dp, 6, (uint64_t)INT64_C(-3));
    pb_msg(&g, 1, &dp);
    pb_varint(&g, 2, 2);
    pb_str(&m, 1, "temp");
    pb_msg(&m, 7, &g);
    pb_msg(&sm, 2, &m);
    /* delta sum: rejected; summary: rejected */
    pb_fixed64(&dp, 3, 1);
    pb_fixed64(&dp, 6, 1);
    pb_msg(&g, 1, &dp);
    pb_varint(&g, 2, 1);
    pb_str(&m, 1, "d");
    pb_msg(&m, 7, &g);
    pb_msg(&sm, 2, &m);
    pb_str(&m, 1, "s");
    pb_msg(&m, 11, &g);
    pb_msg(&sm, 2, &m);
    pb_kv_str(&res, 1, "service.name", "q");
    pb_msg(&rm, 1, &res);
    pb_msg(&rm, 2, &sm);
    pb_msg(&req, 1, &rm);
    assert_int_equal(req.err, 0);
    out_init(&o);
    int rc = otlp_pb_metrics(&o, req.data, req.len, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    check_metrics(&o);
    otlp_out_release(&o);
    wbuf_release(&req), wbuf_release(&rm), wbuf_release(&res), wbuf_release(&sm);
    wbuf_release(&m), wbuf_release(&g), wbuf_release(&dp), wbuf_release(&a);
}

UNIT_TESTS(cmocka_unit_test(test_json_traces), cmocka_unit_test(test_tracestate_hlc),
           cmocka_unit_test(test_json_malformed), cmocka_unit_test(test_zipkin_shared),
           cmocka_unit_test(test_json_logs), cmocka_unit_test(test_pb_traces),
           cmocka_unit_test(test_pb_malformed), cmocka_unit_test(test_pb_logs),
           cmocka_unit_test(test_zipkin), cmocka_unit_test(test_json_metrics),
           cmocka_unit_test(test_pb_metrics))
