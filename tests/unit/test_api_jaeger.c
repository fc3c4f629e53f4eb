/*
 * test_api_jaeger.c - the Jaeger API's parameter parsers (durations, trace
 * ids) and the trace JSON it writes from the span store.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/api_jaeger.h"
#include "store/spans/spanstore.h"
#include "telltale.h"
#include "tmpdir.h"
#include "unit.h"

static void test_jaeger_parse_duration(void **state)
{
    (void)state;
    uint64_t ns;
    assert_int_equal(jaeger_parse_duration("1.5s", &ns), 0);
    assert_int_equal(ns, 1500000000);
    assert_int_equal(jaeger_parse_duration("100ms", &ns), 0);
    assert_int_equal(ns, 100000000);
    assert_int_equal(jaeger_parse_duration("250us", &ns), 0);
    assert_int_equal(ns, 250000);
    assert_int_equal(jaeger_parse_duration("250\xc2\xb5s", &ns), 0);
    assert_int_equal(ns, 250000);
    assert_int_equal(jaeger_parse_duration("1m30s", &ns), 0);
    assert_int_equal(ns, 90000000000ull);
    assert_int_equal(jaeger_parse_duration("2h", &ns), 0);
    assert_int_equal(ns, 7200000000000ull);
    assert_int_equal(jaeger_parse_duration("7ns", &ns), 0);
    assert_int_equal(ns, 7);
    assert_int_equal(jaeger_parse_duration("5", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("-1s", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("1x", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("1e400s", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration(NULL, &ns), TT_ESYNTAX);
    /* Go's syntax: no exponent, hex, sign or second dot; both micro signs */
    assert_int_equal(jaeger_parse_duration(".5s", &ns), 0);
    assert_int_equal(ns, 500000000);
    assert_int_equal(jaeger_parse_duration("2.h", &ns), 0);
    assert_int_equal(ns, 7200000000000ull);
    assert_int_equal(jaeger_parse_duration("3\xce\xbcs", &ns), 0);
    assert_int_equal(ns, 3000);
    assert_int_equal(jaeger_parse_duration("1e3ms", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("0x10s", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("1.2.3s", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration(".s", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("1s+2s", &ns), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_duration("18000000000s", &ns), 0);
    assert_int_equal(jaeger_parse_duration("19000000000s", &ns), TT_ESYNTAX);
}

/* A query string's parameters, for jaeger_parse_search. */
struct params {
    const char *kv[16][2];
    size_t n;
};

static const char *param_of(void *arg, const char *name, size_t *pos)
{
    struct params *ps = arg;
    for (size_t i = *pos; i < ps->n; i++)
        if (strcmp(ps->kv[i][0], name) == 0) {
            *pos = i + 1;
            return ps->kv[i][1];
        }
    *pos = ps->n;
    return NULL;
}

/* search parses ps and returns the result; msg gets the message. */
static int search(struct params ps, struct jaeger_search *js, char *msg)
{
    msg[0] = '\0';
    return jaeger_parse_search(param_of, &ps, js, msg, 256);
}

static void test_jaeger_parse_search(void **state)
{
    (void)state;
    struct jaeger_search js;
    char msg[256];
    struct params ok = { { { "service", "cart" },
                           { "operation", "GET /x" },
                           { "minDuration", "1ms" },
                           { "maxDuration", "2s" },
                           { "start", "1700000000000000" },
                           { "end", "1700000001000000" },
                           { "limit", "5" },
                           { "tags", "{\"a\":\"1\",\"n\":7,\"b\":true}" },
                           { "tag", "http.url:https://x/y?z=1" },
                           { "tag", "error:true" } },
                         10 };
    assert_int_equal(search(ok, &js, msg), 0);
    assert_string_equal(js.q.service, "cart");
    assert_string_equal(js.q.operation, "GET /x");
    assert_int_equal(js.q.min_duration_ns, 1000000);
    assert_int_equal(js.q.max_duration_ns, 2000000000);
    assert_int_equal(js.q.start_ns, 1700000000000000000);
    assert_int_equal(js.q.end_ns, 1700000001000000999);
    assert_int_equal(js.q.limit, 5);
    assert_int_equal(js.q.ntags, 5);
    assert_string_equal(js.q.tags[1].key, "n");
    assert_string_equal(js.q.tags[1].value, "7");
    assert_string_equal(js.q.tags[2].value, "true");
    assert_string_equal(js.q.tags[3].key, "http.url");
    assert_string_equal(js.q.tags[3].value, "https://x/y?z=1");
    jaeger_search_free(&js);

    struct params dflt = { { { "service", "cart" }, { "operation", "all" }, { "limit", "0" } }, 3 };
    assert_int_equal(search(dflt, &js, msg), 0);
    assert_null(js.q.operation);
    assert_int_equal(js.q.limit, 20);
    assert_int_equal(js.q.end_ns, INT64_MAX);
    jaeger_search_free(&js);
    struct params big = { { { "service", "cart" }, { "limit", "99999999999999999999" } }, 2 };
    assert_int_equal(search(big, &js, msg), TT_ESYNTAX);
    assert_non_null(strstr(msg, "'limit'"));
    jaeger_search_free(&js);
    struct params many = { { { "service", "cart" }, { "limit", "100000" } }, 2 };
    assert_int_equal(search(many, &js, msg), 0);
    assert_int_equal(js.q.limit, 1500);
    jaeger_search_free(&js);
    /* the largest end that fits: v * 1000 + 999 <= INT64_MAX */
    struct params last = { { { "service", "cart" }, { "end", "9223372036854774" } }, 2 };
    assert_int_equal(search(last, &js, msg), 0);
    assert_int_equal(js.q.end_ns, 9223372036854774999);
    jaeger_search_free(&js);

    static const char *const bad[][3] = {
        { "operation", "x", "'service' is required" },
        { "minDuration", "5", "'minDuration'" },
        { "maxDuration", "1e3s", "'maxDuration'" },
        { "start", "-1", "'start'" },
        { "start", " 5", "'start'" },
        { "start", "+5", "'start'" },
        { "end", "9223372036854775", "'end'" }, /* * 1000 + 999 overflows */
        { "end", "9223372036854775807", "'end'" },
        { "limit", "-3", "'limit'" },
        { "tags", "{nope", "'tags'" },
        { "tags", "[1]", "'tags'" },
        { "tags", "{\"k\":1.5}", "value of 'k'" },
        { "tag", ":v", "'tag'" },
        { "tag", "novalue", "'tag'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct params ps = { { { "service", strcmp(bad[i][0], "operation") == 0 ? "" : "cart" },
                               { bad[i][0], bad[i][1] } },
                             2 };
        assert_int_equal(search(ps, &js, msg), TT_ESYNTAX);
        if (strstr(msg, bad[i][2]) == NULL)
            fail_msg("%s=%s: %s", bad[i][0], bad[i][1], msg);
        jaeger_search_free(&js);
    }
    struct params inv = { { { "service", "s" }, { "minDuration", "2s" }, { "maxDuration", "1s" } },
                          3 };
    assert_int_equal(search(inv, &js, msg), TT_ESYNTAX);
    assert_non_null(strstr(msg, "below"));
    jaeger_search_free(&js);
    struct params back = { { { "service", "s" }, { "start", "20" }, { "end", "10" } }, 3 };
    assert_int_equal(search(back, &js, msg), TT_ESYNTAX);
    assert_non_null(strstr(msg, "before"));
    jaeger_search_free(&js);

    /* at most JAEGER_MAX_TAGS tags, whichever form */
    struct params lots = { { { "service", "s" } }, 1 };
    char tj[2048];
    size_t o = (size_t)snprintf(tj, sizeof tj, "{");
    for (int i = 0; i < JAEGER_MAX_TAGS; i++)
        o += (size_t)snprintf(tj + o, sizeof tj - o, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(tj + o, sizeof tj - o, "}");
    lots.kv[1][0] = "tags";
    lots.kv[1][1] = tj;
    lots.n = 2;
    assert_int_equal(search(lots, &js, msg), 0);
    assert_int_equal(js.q.ntags, JAEGER_MAX_TAGS);
    jaeger_search_free(&js);
    lots.kv[2][0] = "tag";
    lots.kv[2][1] = "one:more";
    lots.n = 3;
    assert_int_equal(search(lots, &js, msg), TT_ESYNTAX);
    assert_non_null(strstr(msg, "more than 32 tags"));
    jaeger_search_free(&js);
}

static void test_jaeger_trace_ids(void **state)
{
    (void)state;
    uint8_t id[16];
    char txt[33];
    assert_int_equal(jaeger_parse_trace_id("0123456789abcdef0123456789ABCDEF", id), 0);
    assert_int_equal(id[0], 0x01);
    assert_int_equal(id[15], 0xef);
    jaeger_trace_id_text(id, txt);
    assert_string_equal(txt, "0123456789abcdef0123456789abcdef");
    assert_int_equal(jaeger_parse_trace_id("abc", id), 0);
    assert_int_equal(id[14], 0x0a);
    assert_int_equal(id[15], 0xbc);
    jaeger_trace_id_text(id, txt);
    assert_string_equal(txt, "0000000000000abc"); /* high half zero: 16 digits */
    assert_int_equal(jaeger_parse_trace_id("", id), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_trace_id("0123456789abcdef0123456789abcdef0", id), TT_ESYNTAX);
    assert_int_equal(jaeger_parse_trace_id("xyz", id), TT_ESYNTAX);
}

static void test_jaeger_write_trace(void **state)
{
    (void)state;
    char dir[256], err[512];
    struct spanstore *ss;
    struct wbuf b;
    struct span_row r;
    struct span_attr a[2];
    uint8_t tid[16];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "jaeger"), 0);
    assert_int_equal(spanstore_open(&ss, dir, NULL, err, sizeof err), 0);
    memset(tid, 0, 16);
    tid[15] = 0x42;
    memset(&r, 0, sizeof r);
    memcpy(r.trace_id, tid, 16);
    r.span_id = 0x10;
    r.start_ns = 1700000000123456789;
    r.duration_ns = 2500000;
    r.kind = TT_SPAN_SERVER;
    r.status = TT_STATUS_ERROR;
    r.service = (struct rec_str){ "api", 3 };
    r.node = (struct rec_str){ "n1", 2 };
    r.name = (struct rec_str){ "GET \"/x\"", 8 };
    a[0].key = (struct rec_str){ "n", 1 };
    a[0].v = (struct rec_value){ .type = TT_VAL_DOUBLE, .u.d = 0.25 };
    a[1].key = (struct rec_str){ "ok", 2 };
    a[1].v = (struct rec_value){ .type = TT_VAL_BOOL, .u.b = 1 };
    r.attrs = a;
    r.nattrs = 2;
    assert_int_equal(spanstore_add(ss, &r, err, sizeof err), 0);
    r.span_id = 0x11;
    r.parent_id = 0x10;
    r.status = 0;
    r.service = (struct rec_str){ "db", 2 };
    r.nattrs = 0;
    assert_int_equal(spanstore_add(ss, &r, err, sizeof err), 0);
    assert_int_equal(spanstore_commit(ss, 1, 1, err, sizeof err), 0);

    wbuf_init(&b, 0);
    assert_int_equal(jaeger_write_trace(ss, tid, &b), 2);
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "traceID")), "0000000000000042");
    json_t *spans = json_object_get(j, "spans");
    assert_int_equal(json_array_size(spans), 2);
    json_t *s0 = json_array_get(spans, 0), *s1 = json_array_get(spans, 1);
    assert_string_equal(json_string_value(json_object_get(s0, "spanID")), "0000000000000010");
    assert_string_equal(json_string_value(json_object_get(s0, "operationName")), "GET \"/x\"");
    assert_int_equal(json_integer_value(json_object_get(s0, "startTime")), 1700000000123456);
    assert_int_equal(json_integer_value(json_object_get(s0, "duration")), 2500);
    assert_int_equal(json_array_size(json_object_get(s0, "references")), 0);
    json_t *ref = json_array_get(json_object_get(s1, "references"), 0);
    assert_string_equal(json_string_value(json_object_get(ref, "refType")), "CHILD_OF");
    assert_string_equal(json_string_value(json_object_get(ref, "spanID")), "0000000000000010");
    json_t *tags = json_object_get(s0, "tags");
    int saw_double = 0, saw_error = 0;
    for (size_t i = 0; i < json_array_size(tags); i++) {
        json_t *t = json_array_get(tags, i);
        const char *k = json_string_value(json_object_get(t, "key"));
        if (strcmp(k, "n") == 0) {
            assert_string_equal(json_string_value(json_object_get(t, "type")), "float64");
            assert_true(json_real_value(json_object_get(t, "value")) == 0.25);
            saw_double = 1;
        }
        if (strcmp(k, "error") == 0)
            saw_error = json_is_true(json_object_get(t, "value"));
    }
    assert_true(saw_double);
    assert_true(saw_error);
    const char *p0 = json_string_value(json_object_get(s0, "processID"));
    const char *p1 = json_string_value(json_object_get(s1, "processID"));
    assert_string_not_equal(p0, p1);
    json_t *procs = json_object_get(j, "processes");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(procs, p1), "serviceName")), "db");
    json_decref(j);

    /* unknown trace: nothing written */
    tid[0] = 1;
    size_t len = b.len;
    assert_int_equal(jaeger_write_trace(ss, tid, &b), 0);
    assert_int_equal(b.len, len);
    wbuf_release(&b);
    spanstore_close(ss);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_jaeger_parse_duration), cmocka_unit_test(test_jaeger_trace_ids),
           cmocka_unit_test(test_jaeger_parse_search), cmocka_unit_test(test_jaeger_write_trace))
