/*
 * api_query.c - /api/v1/query and /api/v1/query_range: parameters and errors
 * as Prometheus's web API gives them (web/api/v1), evaluation by the PromQL
 * engine, results in Prometheus's JSON shapes.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "server/api_query.h"
#include "core/buf.h"
#include "core/clock.h"
#include "query/promql/lexer.h"
#include "query/promql/parser.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"
#include "telltale.h"

/* ---- times and durations ------------------------------------------------ */

static int parse_seconds(const char *s, int64_t *ms)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != 0 || errno == ERANGE || !isfinite(v))
        return TT_ESYNTAX;
    double m = round(v * 1000.0);
    if (m > 9.2e18 || m < -9.2e18)
        return TT_ESYNTAX;
    *ms = (int64_t)m;
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return TT_ESYNTAX;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static int parse_rfc3339(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec;
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return TT_ESYNTAX;
    if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
        return TT_ESYNTAX;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return TT_ESYNTAX;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        int64_t scale = 100;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3) {
                frac_ms += (*p - '0') * scale;
                scale /= 10;
            }
            nd++;
            p++;
        }
        if (nd == 0)
            return TT_ESYNTAX;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &oh) || digits(p + 4, 2, &om))
            return TT_ESYNTAX;
        off_s = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return TT_ESYNTAX;
    }
    if (*p != 0)
        return TT_ESYNTAX;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - off_s) * 1000 + frac_ms;
    return 0;
}

int api_parse_time(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return TT_ESYNTAX;
    if (parse_seconds(s, ms) == 0)
        return 0;
    return parse_rfc3339(s, ms);
}

int api_parse_duration(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return TT_ESYNTAX;
    if (parse_seconds(s, ms) == 0)
        return 0;
    return promql_parse_duration(s, strlen(s), ms, NULL, 0) == 0 ? 0 : TT_ESYNTAX;
}

/* ---- results ---------------------------------------------------------------- */

static void write_metric(struct json_out *j, const struct promql_labels *ls)
{
    json_out_key(j, "metric");
    json_out_object_begin(j);
    for (size_t i = 0; i < ls->n; i++) {
        json_out_key(j, ls->v[i].name);
        json_out_str(j, ls->v[i].value);
    }
    json_out_object_end(j);
}

static void write_result(struct json_out *j, const struct promql_result *r)
{
    json_out_success_begin(j);
    json_out_object_begin(j);
    json_out_key(j, "resultType");
    json_out_str(j, promql_type_short_name(r->type));
    json_out_key(j, "result");
    switch (r->type) {
    case PROMQL_TYPE_SCALAR:
        json_out_prom_sample(j, r->t, r->scalar);
        break;
    case PROMQL_TYPE_STRING:
        json_out_array_begin(j);
        json_out_prom_time(j, r->t);
        json_out_str(j, r->str ? r->str : "");
        json_out_array_end(j);
        break;
    case PROMQL_TYPE_VECTOR:
        json_out_array_begin(j);
        for (size_t i = 0; i < r->nsamples; i++) {
            json_out_object_begin(j);
            write_metric(j, &r->samples[i].labels);
            json_out_key(j, "value");
            json_out_prom_sample(j, r->samples[i].t, r->samples[i].v);
            json_out_object_end(j);
        }
        json_out_array_end(j);
        break;
    default: /* MATRIX */
        json_out_array_begin(j);
        for (size_t i = 0; i < r->nseries; i++) {
            const struct promql_series *s = &r->series[i];
            json_out_object_begin(j);
            write_metric(j, &s->labels);
            json_out_key(j, "values");
            json_out_array_begin(j);
            json_out_prom_points(j, s->points, s->npoints);
            json_out_array_end(j);
            json_out_object_end(j);
        }
        json_out_array_end(j);
        break;
    }
    json_out_object_end(j);
    /* Annotations, as Prometheus adds them beside "data". */
    if (r->nwarnings > 0) {
        json_out_key(j, "warnings");
        json_out_array_begin(j);
        for (size_t i = 0; i < r->nwarnings; i++)
            json_out_str(j, r->warnings[i]);
        json_out_array_end(j);
    }
    if (r->ninfos > 0) {
        json_out_key(j, "infos");
        json_out_array_begin(j);
        for (size_t i = 0; i < r->ninfos; i++)
            json_out_str(j, r->infos[i]);
        json_out_array_end(j);
    }
    json_out_success_end(j);
}

/* ---- handlers --------------------------------------------------------------- */

int api_param_time(struct http_req *req, const char *name, int required, int64_t dflt, int64_t *ms)
{
    const char *v = http_req_param(req, name);
    if (!required && (!v || !*v)) {
        *ms = dflt;
        return 0;
    }
    if (!v || !*v || api_parse_time(v, ms) != 0) {
        http_respond_error(req, 400, "bad_data",
                           "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp",
                           name, v ? v : "");
        return TT_ESYNTAX;
    }
    return 0;
}

int api_param_range(struct http_req *req, int required, int64_t dmin, int64_t dmax, int64_t *start,
                    int64_t *end)
{
    if (api_param_time(req, "start", required, dmin, start) != 0 ||
        api_param_time(req, "end", required, dmax, end) != 0)
        return TT_ESYNTAX;
    if (*end < *start) {
        http_respond_error(req, 400, "bad_data", "end timestamp must not be before start time");
        return TT_ESYNTAX;
    }
    return 0;
}

/* Parse the query; on a syntax error answer 400 and return NULL. */
static struct promql_ast *parse_query(struct http_req *req, const struct api_query_ctx *qc)
{
    const char *q = http_req_param(req, "query");
    if (!q)
        q = "";
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    memset(&perr, 0, sizeof perr);
    struct promql_parse_opts po = { .experimental_functions = qc->experimental_functions };
    int rc = promql_parse(q, strlen(q), &po, &ast, &perr);
    if (rc != 0) {
        if (rc == TT_ENOMEM)
            http_respond_error(req, 500, "internal", "out of memory");
        else
            http_respond_error(req, 400, "bad_data", "invalid parameter \"query\": %s", perr.msg);
        return NULL;
    }
    return ast;
}

static void respond_eval_error(struct http_req *req, int rc, const struct promql_eval_error *err)
{
    if (rc == TT_ENOMEM)
        http_respond_error(req, 500, "internal", "out of memory");
    else if (rc == TT_ERANGE)
        http_respond_error(req, 422, "execution", "%s", err->msg);
    else if (rc == TT_ESYNTAX)
        http_respond_error(req, 400, "bad_data", "%s", err->msg);
    else if (rc == TT_ESTATE)
        http_respond_error(req, 503, "unavailable", "%s", err->msg);
    else
        http_respond_error(req, 422, "execution", "%s", err->msg);
}

static void respond_result(struct http_req *req, const struct promql_result *r)
{
    struct wbuf b;
    wbuf_init(&b, 0);
    struct json_out j;
    json_out_init(&j, &b);
    write_result(&j, r);
    http_respond_json(req, 200, &b);
    wbuf_release(&b);
}

static int handle_query(struct http_req *req, void *ctx)
{
    const struct api_query_ctx *qc = ctx;
    const struct promql_storage *st = qc->st;
    int64_t t;
    if (api_param_time(req, "time", 0, clock_realtime_ns() / TT_NS_PER_MS, &t) != 0)
        return 0;
    struct promql_ast *ast = parse_query(req, qc);
    if (!ast)
        return 0;
    struct promql_result *res = NULL;
    struct promql_eval_error err;
    memset(&err, 0, sizeof err);
    struct promql_engine_opts opts = { 0 };
    opts.query = http_req_param(req, "query");
    int rc = promql_eval_instant(&opts, st, ast->root, t, &res, &err);
    if (rc != 0)
        respond_eval_error(req, rc, &err);
    else
        respond_result(req, res);
    promql_result_free(res);
    promql_ast_free(ast);
    return 0;
}

/* Range queries stream rate() and friends series by series while fetching;
 * one helper thread computes them while the request's thread reads and
 * decodes the next series (decoding and computing cost about the same, so
 * more helpers would mostly wait). */
#define API_QUERY_STREAM_WORKERS 1

static int handle_query_range(struct http_req *req, void *ctx)
{
    const struct api_query_ctx *qc = ctx;
    const struct promql_storage *st = qc->st;
    int64_t start, end, step;
    const char *p = http_req_param(req, "step");
    if (api_param_range(req, 1, 0, 0, &start, &end) != 0)
        return 0;
    if (!p || !*p || api_parse_duration(p, &step) != 0)
        return http_respond_error(req, 400, "bad_data",
                                  "invalid parameter \"step\": cannot parse \"%s\" to a valid "
                                  "duration",
                                  p ? p : ""),
               0;
    if (step <= 0)
        return http_respond_error(req, 400, "bad_data",
                                  "zero or negative query resolution step widths are not "
                                  "accepted. Try a positive integer"),
               0;
    /* end >= start (api_param_range), but end - start may not fit in int64 */
    if (((uint64_t)end - (uint64_t)start) / (uint64_t)step > API_QUERY_MAX_POINTS)
        return http_respond_error(req, 400, "bad_data",
                                  "exceeded maximum resolution of 11,000 points per timeseries. "
                                  "Try decreasing the query resolution (?step=XX)"),
               0;
    struct promql_ast *ast = parse_query(req, qc);
    if (!ast)
        return 0;
    const struct promql_expr *root = ast->root;
    enum promql_type type = root->type;
    if (type != PROMQL_TYPE_SCALAR && type != PROMQL_TYPE_VECTOR) {
        http_respond_error(req, 400, "bad_data",
                           "invalid expression type \"%s\" for range query, must be Scalar or "
                           "instant Vector",
                           promql_type_name(type));
        promql_ast_free(ast);
        return 0;
    }
    struct promql_result *res = NULL;
    struct promql_eval_error err;
    memset(&err, 0, sizeof err);
    struct promql_engine_opts opts = { 0 };
    opts.stream_workers = API_QUERY_STREAM_WORKERS;
    opts.query = http_req_param(req, "query");
    int rc = promql_eval_range(&opts, st, root, start, end, step, &res, &err);
    if (rc != 0)
        respond_eval_error(req, rc, &err);
    else
        respond_result(req, res);
    promql_result_free(res);
    promql_ast_free(ast);
    return 0;
}

int api_query_register(struct server *srv, const struct api_query_ctx *qc)
{
    static const char *const methods[] = { "GET", "POST" };
    int rc = 0;
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        struct http_route q = { .method = methods[i],
                                .pattern = "/api/v1/query",
                                .handler = handle_query,
                                .max_body_bytes = API_QUERY_BODY_BYTES,
                                .flags = HTTP_ROUTE_FORM,
                                .ctx = (void *)qc };
        struct http_route r = q;
        r.pattern = "/api/v1/query_range";
        r.handler = handle_query_range;
        rc = server_add_route(srv, &q);
        if (rc == 0)
            rc = server_add_route(srv, &r);
    }
    return rc;
}
