/*
 * test_api_query.c - /api/v1/query and /api/v1/query_range over real HTTP
 * against an in-memory store: Prometheus's JSON shapes for every result
 * type, GET and POST forms, time formats, and the errors Prometheus gives for
 * bad parameters and queries.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "http_client.h"
#include "telltale.h"
#include "query/promql/memstore.h"
#include "server/api_query.h"
#include "server/server.h"

struct fixture {
    struct server *srv;
    struct promql_memstore *ms;
    struct promql_storage st;
    struct api_query_ctx q;
    char dir[128];
    uint16_t port;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/tt-apiq-%d", (int)getpid());
    if (promql_memstore_new(&fx.ms) != 0)
        return -1;
    /* up{job="api",instance="a"} = 1 and {instance="b"} = 0 every 15 s from
     * t = 0 to 10 min; http_requests_total counts up by 10 per 15 s. */
    for (int64_t t = 0; t <= 600000; t += 15000) {
        struct promql_label a[] = { { "__name__", "up" }, { "job", "api" }, { "instance", "a" } };
        struct promql_label b[] = { { "__name__", "up" }, { "job", "api" }, { "instance", "b" } };
        struct promql_label c[] = { { "__name__", "http_requests_total" }, { "job", "api" } };
        struct promql_label d[] = { { "__name__", "other" }, { "job", "api" } };
        if (promql_memstore_add(fx.ms, a, 3, t, 1) || promql_memstore_add(fx.ms, b, 3, t, 0) ||
            promql_memstore_add(fx.ms, c, 2, t, (double)(t / 15000) * 10) ||
            promql_memstore_add(fx.ms, d, 2, t, 5))
            return -1;
    }
    promql_memstore_storage(fx.ms, &fx.st);
    struct server_config cfg;
    server_config_defaults(&cfg);
    cfg.data_dir = fx.dir;
    cfg.http_addr = "127.0.0.1:0";
    fx.q.st = &fx.st;
    if (server_new(&cfg, &fx.srv) != 0 || api_query_register(fx.srv, &fx.q) != 0)
        return -1;
    char err[256];
    if (server_start(fx.srv, err, sizeof err) != 0) {
        fprintf(stderr, "server_start: %s\n", err);
        return -1;
    }
    fx.port = server_port(fx.srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_stop(fx.srv);
    server_free(fx.srv);
    promql_memstore_free(fx.ms);
    char p[256];
    snprintf(p, sizeof p, "%s/lock", fx.dir);
    unlink(p);
    rmdir(fx.dir);
    return 0;
}

static json_t *get_json(const char *method, const char *target, const char *form, int want_status)
{
    struct resp r;
    int rc = http_do(fx.port, method, target, "application/x-www-form-urlencoded", form, &r);
    assert_int_equal(rc, 0);
    if (r.status != want_status)
        fail_msg("%s %s: status %d, want %d: %s", method, target, r.status, want_status, r.body);
    json_error_t jerr;
    json_t *j = json_loads(r.body, 0, &jerr);
    if (!j)
        fail_msg("not JSON: %s", r.body);
    resp_free(&r);
    return j;
}

static const char *jstr(json_t *o, const char *path)
{
    json_t *cur = o;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)strtol(k, NULL, 10))
                                 : json_object_get(cur, k);
    return json_is_string(cur) ? json_string_value(cur) : NULL;
}

static void test_api_instant_vector(void **state)
{
    (void)state;
    json_t *j =
        get_json("GET", "/api/v1/query?query=up%7Binstance%3D%22a%22%7D&time=300", NULL, 200);
    assert_string_equal(jstr(j, "status"), "success");
    assert_string_equal(jstr(j, "data.resultType"), "vector");
    json_t *res = json_object_get(json_object_get(j, "data"), "result");
    assert_int_equal(json_array_size(res), 1);
    assert_string_equal(jstr(res, "0.metric.__name__"), "up");
    assert_string_equal(jstr(res, "0.metric.instance"), "a");
    json_t *val = json_object_get(json_array_get(res, 0), "value");
    assert_true(json_number_value(json_array_get(val, 0)) == 300);
    assert_string_equal(json_string_value(json_array_get(val, 1)), "1");
    json_decref(j);
}

static void test_api_post_form_and_rfc3339(void **state)
{
    (void)state;
    /* rate over 5 m of a counter that grows 10 per 15 s: 2/3 per second. */
    json_t *j =
        get_json("POST", "/api/v1/query",
                 "query=sum(rate(http_requests_total%5B5m%5D))&time=1970-01-01T00:08:00Z", 200);
    assert_string_equal(jstr(j, "data.resultType"), "vector");
    json_t *res = json_object_get(json_object_get(j, "data"), "result");
    assert_int_equal(json_array_size(res), 1);
    double v = strtod(
        json_string_value(json_array_get(json_object_get(json_array_get(res, 0), "value"), 1)),
        NULL);
    assert_true(v > 0.66 && v < 0.67);
    json_decref(j);
}

static void test_api_scalar_and_string(void **state)
{
    (void)state;
    json_t *j = get_json("GET", "/api/v1/query?query=1%2B1&time=10.5", NULL, 200);
    assert_string_equal(jstr(j, "data.resultType"), "scalar");
    json_t *res = json_object_get(json_object_get(j, "data"), "result");
    assert_true(json_number_value(json_array_get(res, 0)) == 10.5);
    assert_string_equal(json_string_value(json_array_get(res, 1)), "2");
    json_decref(j);
    j = get_json("GET", "/api/v1/query?query=%22hi%22&time=1", NULL, 200);
    assert_string_equal(jstr(j, "data.resultType"), "string");
    json_decref(j);
}

static void test_api_range_matrix(void **state)
{
    (void)state;
    json_t *j = get_json("GET", "/api/v1/query_range?query=up&start=0&end=120&step=60s", NULL, 200);
    assert_string_equal(jstr(j, "data.resultType"), "matrix");
    json_t *res = json_object_get(json_object_get(j, "data"), "result");
    assert_int_equal(json_array_size(res), 2);
    assert_string_equal(jstr(res, "0.metric.instance"), "a");
    json_t *vals = json_object_get(json_array_get(res, 0), "values");
    assert_int_equal(json_array_size(vals), 3);
    assert_true(json_number_value(json_array_get(json_array_get(vals, 2), 0)) == 120);
    json_decref(j);
}

static void check_error(const char *target, int status, const char *errtype, const char *msg)
{
    json_t *j = get_json("GET", target, NULL, status);
    assert_string_equal(jstr(j, "status"), "error");
    assert_string_equal(jstr(j, "errorType"), errtype);
    const char *e = jstr(j, "error");
    if (!e || !strstr(e, msg))
        fail_msg("%s: error %s, want it to contain %s", target, e ? e : "(none)", msg);
    json_decref(j);
}

static void test_api_errors(void **state)
{
    (void)state;
    check_error("/api/v1/query?query=sum(", 400, "bad_data",
                "invalid parameter \"query\": 1:5: parse error");
    check_error("/api/v1/query?query=up&time=yesterday", 400, "bad_data",
                "invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp");
    check_error("/api/v1/query_range?query=up&start=100&end=10&step=1", 400, "bad_data",
                "end timestamp must not be before start time");
    check_error("/api/v1/query_range?query=up&start=0&end=10&step=0", 400, "bad_data",
                "zero or negative query resolution step widths are not accepted");
    check_error("/api/v1/query_range?query=up&start=0&end=100000&step=1", 400, "bad_data",
                "exceeded maximum resolution of 11,000 points per timeseries");
    /* end - start does not fit in int64 (UBSan aborted here) */
    check_error("/api/v1/query_range?query=up&start=-9e15&end=9e15&step=1e9", 400, "bad_data",
                "exceeded maximum resolution of 11,000 points per timeseries");
    check_error("/api/v1/query_range?query=up%5B5m%5D&start=0&end=10&step=1", 400, "bad_data",
                "invalid expression type \"range vector\" for range query");
    check_error("/api/v1/query_range?query=up&start=0&end=10&step=fast", 400, "bad_data",
                "invalid parameter \"step\": cannot parse \"fast\" to a valid duration");
    /* http_requests_total{job="api"} and other{job="api"} have the same
     * labels once ceil drops the names: an execution error. */
    check_error("/api/v1/query?query=ceil(%7Bjob%3D%22api%22%2Cinstance%3D%22%22%7D)&time=60", 422,
                "execution", "vector cannot contain metrics with the same labelset");
}

/* Experimental functions are refused as Prometheus refuses them, until the
 * server's setting turns them on. */
static void test_api_experimental_functions(void **state)
{
    (void)state;
    check_error("/api/v1/query?query=limitk(1%2C%20up)&time=300", 400, "bad_data",
                "limitk() is experimental and must be enabled");
    fx.q.experimental_functions = 1;
    json_t *j = get_json("GET", "/api/v1/query?query=limitk(1%2C%20up)&time=300", NULL, 200);
    assert_string_equal(jstr(j, "status"), "success");
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "data"), "result")), 1);
    json_decref(j);
    fx.q.experimental_functions = 0;
}

static void test_api_time_parsing(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(api_parse_time("1435781451.781", &ms), 0);
    assert_int_equal(ms, INT64_C(1435781451781));
    assert_int_equal(api_parse_time("2015-07-01T20:10:51.781Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1435781451781));
    assert_int_equal(api_parse_time("2015-07-01T22:10:51+02:00", &ms), 0);
    assert_int_equal(ms, INT64_C(1435781451000));
    assert_int_equal(api_parse_time("2015-07-01 20:10:51", &ms), TT_ESYNTAX);
    assert_int_equal(api_parse_duration("15s", &ms), 0);
    assert_int_equal(ms, 15000);
    assert_int_equal(api_parse_duration("0.5", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(api_parse_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(api_parse_duration("5x", &ms), TT_ESYNTAX);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
UNIT_TESTS(T(test_api_instant_vector), T(test_api_post_form_and_rfc3339),
           T(test_api_scalar_and_string), T(test_api_range_matrix), T(test_api_errors),
           T(test_api_experimental_functions), cmocka_unit_test(test_api_time_parsing))
