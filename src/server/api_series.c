/*
 * api_series.c - the Prometheus metadata API over the TSDB head:
 * /api/v1/series, /api/v1/labels and /api/v1/label/<name>/values (GET and
 * POST form), with Prometheus's JSON shapes and errors. Several match[]
 * selectors give the union of what each selects.
 */
#include <stdlib.h>
#include <string.h>
#include "server/api_series.h"
#include "core/buf.h"
#include "query/promql/parser.h"
#include "server/api_query.h"
#include "server/db_storage.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"
#include "server/store.h"
#include "telltale.h"

#define MAX_MATCH_PARAMS 64

/* The match[] selectors of a request, parsed and compiled. */
struct selectors {
    struct promql_ast *ast[MAX_MATCH_PARAMS];
    struct matcher **ms[MAX_MATCH_PARAMS];
    size_t nms[MAX_MATCH_PARAMS];
    size_t n;
};

static void selectors_free(struct selectors *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->ms[i]) {
            store_matchers_free(s->ms[i], s->nms[i]);
            free(s->ms[i]);
        }
        promql_ast_free(s->ast[i]);
    }
    s->n = 0;
}

/* Parses every match[]; on error answers 400 and returns non-zero. */
static int selectors_parse(struct http_req *req, struct selectors *s)
{
    memset(s, 0, sizeof *s);
    size_t pos = 0;
    const char *v;
    while ((v = http_req_param_next(req, "match[]", &pos)) != NULL) {
        if (s->n == MAX_MATCH_PARAMS) {
            http_respond_error(req, 400, "bad_data", "too many match[] parameters (at most %d)",
                               MAX_MATCH_PARAMS);
            return TT_ETOOBIG;
        }
        struct promql_error perr;
        memset(&perr, 0, sizeof perr);
        size_t i = s->n;
        int rc = promql_parse_selector(v, strlen(v), &s->ast[i], &perr);
        if (rc != 0) {
            http_respond_error(req, 400, "bad_data", "invalid parameter \"match[]\": %s", perr.msg);
            return rc;
        }
        s->n++;
        const struct promql_vector_selector *vs = &s->ast[i]->root->u.vs;
        int any_nonempty = 0;
        for (size_t k = 0; k < vs->nmatchers; k++)
            any_nonempty |= !promql_matcher_matches_empty(&vs->matchers[k]);
        if (!any_nonempty) {
            http_respond_error(req, 400, "bad_data",
                               "invalid parameter \"match[]\": 1:1: parse error: vector selector "
                               "must contain at least one non-empty matcher");
            return TT_ESYNTAX;
        }
        s->ms[i] = calloc(vs->nmatchers ? vs->nmatchers : 1, sizeof *s->ms[i]);
        if (!s->ms[i]) {
            http_respond_error(req, 500, NULL, "out of memory");
            return TT_ENOMEM;
        }
        char err[256] = "";
        rc = store_matchers_compile(vs->matchers, vs->nmatchers, s->ms[i], err, sizeof err);
        if (rc != 0) {
            free(s->ms[i]);
            s->ms[i] = NULL;
            http_respond_error(req, 400, "bad_data", "invalid parameter \"match[]\": %s", err);
            return rc;
        }
        s->nms[i] = vs->nmatchers;
    }
    return 0;
}

static int time_range(struct http_req *req, int64_t *mint, int64_t *maxt)
{
    return api_param_range(req, 0, INT64_MIN / 2, INT64_MAX / 2, mint, maxt);
}

static int cmp_labels_ptr(const void *a, const void *b)
{
    return labels_cmp(*(const struct labels *const *)a, *(const struct labels *const *)b);
}

/* The series a request lists: owned copies (labels and strings in one
 * allocation each). */
struct series_list {
    struct labels **v;
    size_t n, cap;
};

static int collect_series(void *arg, const struct labels *ls, const int64_t *ts, const double *vs,
                          size_t n)
{
    (void)ts;
    (void)vs;
    (void)n;
    struct series_list *sl = arg;
    if (sl->n == sl->cap) {
        size_t ncap = sl->cap ? sl->cap * 2 : 256;
        struct labels **nv = realloc(sl->v, ncap * sizeof *nv);
        if (!nv)
            return TT_ENOMEM;
        sl->v = nv;
        sl->cap = ncap;
    }
    size_t bytes = sizeof(struct labels) + ls->n * sizeof(struct label);
    for (size_t k = 0; k < ls->n; k++)
        bytes += strlen(ls->v[k].name) + strlen(ls->v[k].value) + 2;
    struct labels *c = malloc(bytes);
    if (!c)
        return TT_ENOMEM;
    c->v = (struct label *)(c + 1);
    c->n = c->cap = ls->n;
    char *p = (char *)(c->v + ls->n);
    for (size_t k = 0; k < ls->n; k++) {
        size_t a = strlen(ls->v[k].name) + 1, b = strlen(ls->v[k].value) + 1;
        memcpy(p, ls->v[k].name, a);
        c->v[k].name = p;
        p += a;
        memcpy(p, ls->v[k].value, b);
        c->v[k].value = p;
        p += b;
    }
    sl->v[sl->n++] = c;
    return 0;
}

static int handle_series(struct http_req *req, void *ctx)
{
    struct db *d = server_store_db(ctx);
    if (!d)
        return http_respond_error(req, 503, NULL, "the store is opening (WAL replay)");
    struct selectors sel;
    int64_t mint, maxt;
    if (time_range(req, &mint, &maxt) != 0)
        return 0;
    if (selectors_parse(req, &sel) != 0) {
        selectors_free(&sel);
        return 0;
    }
    if (sel.n == 0) {
        selectors_free(&sel);
        return http_respond_error(req, 400, "bad_data", "no match[] parameter provided");
    }
    struct series_list sl = { 0 };
    char err[256] = "";
    int rc = 0;
    for (size_t i = 0; i < sel.n && rc == 0; i++)
        rc = db_select(d, sel.ms[i], sel.nms[i], mint, maxt, 1, collect_series, &sl, err,
                       sizeof err);
    if (rc == 0) {
        if (sel.n > 1)
            qsort(sl.v, sl.n, sizeof *sl.v, cmp_labels_ptr);
        struct wbuf b;
        wbuf_init(&b, 0);
        struct json_out j;
        json_out_init(&j, &b);
        json_out_success_begin(&j);
        json_out_array_begin(&j);
        for (size_t i = 0; i < sl.n; i++) {
            if (i > 0 && labels_equal(sl.v[i], sl.v[i - 1]))
                continue;
            json_out_object_begin(&j);
            for (size_t k = 0; k < sl.v[i]->n; k++) {
                json_out_key(&j, sl.v[i]->v[k].name);
                json_out_str(&j, sl.v[i]->v[k].value);
            }
            json_out_object_end(&j);
        }
        json_out_array_end(&j);
        json_out_success_end(&j);
        http_respond_json(req, 200, &b);
        wbuf_release(&b);
    } else {
        http_respond_error(req, 500, NULL, "series: %s", err[0] ? err : tt_strerror(rc));
    }
    for (size_t i = 0; i < sl.n; i++)
        free(sl.v[i]);
    free(sl.v);
    selectors_free(&sel);
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names (name == NULL) or the values of label name, for the union of the
 * match[] selectors (all series without any). */
static int list_strings(struct http_req *req, struct db *d, const char *name)
{
    struct selectors sel;
    int64_t mint, maxt;
    if (time_range(req, &mint, &maxt) != 0)
        return 0;
    if (selectors_parse(req, &sel) != 0) {
        selectors_free(&sel);
        return 0;
    }
    struct db_strs lists[MAX_MATCH_PARAMS];
    memset(lists, 0, sizeof lists);
    size_t nlists = sel.n ? sel.n : 1;
    int rc = 0;
    for (size_t i = 0; i < nlists && rc == 0; i++) {
        struct matcher **ms = sel.n ? sel.ms[i] : NULL;
        size_t nms = sel.n ? sel.nms[i] : 0;
        rc = name ? db_label_values(d, name, ms, nms, mint, maxt, &lists[i])
                  : db_label_names(d, ms, nms, mint, maxt, &lists[i]);
    }
    const char **all = NULL;
    size_t nall = 0;
    if (rc == 0) {
        size_t total = 0;
        for (size_t i = 0; i < nlists; i++)
            total += lists[i].n;
        all = malloc((total ? total : 1) * sizeof *all);
        if (!all)
            rc = TT_ENOMEM;
        for (size_t i = 0; rc == 0 && i < nlists; i++)
            for (size_t k = 0; k < lists[i].n; k++)
                all[nall++] = lists[i].v[k];
        if (rc == 0 && nlists > 1)
            qsort(all, nall, sizeof *all, cmp_str_ptr);
    }
    if (rc == 0) {
        struct wbuf b;
        wbuf_init(&b, 0);
        struct json_out j;
        json_out_init(&j, &b);
        json_out_success_begin(&j);
        json_out_array_begin(&j);
        for (size_t i = 0; i < nall; i++)
            if (i == 0 || strcmp(all[i], all[i - 1]) != 0)
                json_out_str(&j, all[i]);
        json_out_array_end(&j);
        json_out_success_end(&j);
        http_respond_json(req, 200, &b);
        wbuf_release(&b);
    } else {
        http_respond_error(req, 500, NULL, "labels: %s", tt_strerror(rc));
    }
    free(all);
    for (size_t i = 0; i < nlists; i++)
        db_strs_release(&lists[i]);
    selectors_free(&sel);
    return 0;
}

static int handle_labels(struct http_req *req, void *ctx)
{
    struct db *d = server_store_db(ctx);
    if (!d)
        return http_respond_error(req, 503, NULL, "the store is opening (WAL replay)");
    return list_strings(req, d, NULL);
}

static int handle_label_values(struct http_req *req, void *ctx)
{
    struct db *d = server_store_db(ctx);
    if (!d)
        return http_respond_error(req, 503, NULL, "the store is opening (WAL replay)");
    const char *name = http_req_path_param(req, "name");
    if (!name || !*name)
        return http_respond_error(req, 400, "bad_data", "invalid label name \"\"");
    return list_strings(req, d, name);
}

int api_series_register(struct server *srv, struct server_store *store)
{
    static const char *const methods[] = { "GET", "POST" };
    int rc = 0;
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        struct http_route r = {
            .method = methods[i], .handler = handle_series, .flags = HTTP_ROUTE_FORM, .ctx = store
        };
        r.pattern = "/api/v1/series";
        rc = server_add_route(srv, &r);
        r.pattern = "/api/v1/labels";
        r.handler = handle_labels;
        if (rc == 0)
            rc = server_add_route(srv, &r);
        r.pattern = "/api/v1/label/{name}/values";
        r.handler = handle_label_values;
        if (rc == 0 && i == 0) /* Prometheus: GET only */
            rc = server_add_route(srv, &r);
    }
    return rc;
}
