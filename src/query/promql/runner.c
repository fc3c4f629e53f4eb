/*
 * runner.c - the promqltest runner (see runner.h): loads series into a
 * memstore, evaluates eval commands with the engine and compares results
 * with the expectations the way Prometheus's promqltest does.
 *
 * Series the engine cannot represent (native histograms, start-timestamp
 * series, load_with_nhcb conversions) go into a second "unsupported" store
 * with dummy points; an eval whose selectors match anything there is
 * skipped, so only evals that actually touch such data are skipped.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/runner.h"
#include "query/promql/memstore.h"
#include "query/promql/parser.h"
#include "query/promql/testfile.h"

#define EPSILON 0.000001

struct run {
    struct promql_memstore *data, *unsupported;
    struct promql_storage st, ust;
    const struct promql_engine_opts *opts;
    struct promqltest_report *rep;
    /* metric names of unsupported series (borrowed from the parsed file) */
    const char **unames;
    size_t nunames;
};

static int note_unsupported_name(struct run *r, const struct ptf_series *s)
{
    const char *name = NULL;
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, "__name__") == 0)
            name = s->labels[i].value;
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < r->nunames; i++)
        if (strcmp(r->unames[i], name) == 0)
            return 0;
    const char **n = realloc(r->unames, (r->nunames + 1) * sizeof *n);
    if (n == NULL)
        return TT_ENOMEM;
    r->unames = n;
    r->unames[r->nunames++] = name;
    return 0;
}

/* mentions_unsupported: the query text names a metric of unsupported data
 * (used when the query does not parse, so its selectors are unknown). */
static int mentions_unsupported(const struct run *r, const char *q)
{
    for (size_t i = 0; i < r->nunames; i++)
        if (strstr(q, r->unames[i]) != NULL)
            return 1;
    return 0;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

static int add_item(struct run *r, enum promqltest_outcome o, const struct ptf_cmd *c,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int add_item(struct run *r, enum promqltest_outcome o, const struct ptf_cmd *c,
                    const char *fmt, ...)
{
    struct promqltest_report *rep = r->rep;
    char why[2048];
    va_list ap;

    if (o == PROMQLTEST_PASSED) {
        rep->passed++;
        return 0;
    }
    if (o == PROMQLTEST_FAILED)
        rep->failed++;
    else
        rep->skipped++;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    struct promqltest_item *items = realloc(rep->items, (rep->nitems + 1) * sizeof *items);
    if (items == NULL)
        return TT_ENOMEM;
    rep->items = items;
    struct promqltest_item *it = &items[rep->nitems];
    it->outcome = o;
    it->line = c->line;
    it->query = dupstr(c->query ? c->query : "");
    it->why = dupstr(why);
    if (it->query == NULL || it->why == NULL) {
        free(it->query);
        free(it->why);
        return TT_ENOMEM;
    }
    rep->nitems++;
    return 0;
}

void promqltest_report_release(struct promqltest_report *rep)
{
    for (size_t i = 0; i < rep->nitems; i++) {
        free(rep->items[i].query);
        free(rep->items[i].why);
    }
    free(rep->items);
    rep->items = NULL;
    rep->nitems = 0;
}

/* ---- load ------------------------------------------------------------------------ */

static int to_labels(const struct ptf_series *s, struct promql_label *out, size_t max)
{
    if (s->nlabels > max)
        return TT_ETOOBIG;
    for (size_t i = 0; i < s->nlabels; i++) {
        out[i].name = s->labels[i].name;
        out[i].value = s->labels[i].value;
    }
    return 0;
}

/* nhcb_labels: the series a load_with_nhcb classic series becomes: the
 * name without _bucket/_count/_sum, without le. */
static size_t nhcb_labels(const struct ptf_series *s, struct promql_label *out, char *name,
                          size_t namelen)
{
    size_t m = 0;
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, "le") == 0)
            continue;
        out[m] = (struct promql_label){ s->labels[i].name, s->labels[i].value };
        if (strcmp(s->labels[i].name, "__name__") == 0) {
            const char *v = s->labels[i].value;
            size_t n = strlen(v);
            static const char *suffixes[] = { "_bucket", "_count", "_sum" };
            for (size_t k = 0; k < 3; k++) {
                size_t sl = strlen(suffixes[k]);
                if (n > sl && strcmp(v + n - sl, suffixes[k]) == 0) {
                    n -= sl;
                    break;
                }
            }
            if (n >= namelen)
                n = namelen - 1;
            memcpy(name, v, n);
            name[n] = '\0';
            out[m].value = name;
        }
        m++;
    }
    return m;
}

static int do_load(struct run *r, const struct ptf_cmd *c)
{
    struct promql_label ls[128];
    int rc;

    for (size_t i = 0; i < c->nseries; i++) {
        const struct ptf_series *s = &c->series[i];
        int unsupported = s->has_histogram || s->start_timestamps;
        if ((rc = to_labels(s, ls, 128)) != 0)
            return rc;
        if (unsupported && (rc = note_unsupported_name(r, s)) != 0)
            return rc;
        for (size_t k = 0; k < s->npoints; k++) {
            const struct ptf_point *p = &s->points[k];
            int64_t t = (int64_t)k * c->interval_ms;
            if (p->kind == PTF_MISSING)
                continue;
            if (unsupported || p->kind == PTF_HISTOGRAM)
                rc = promql_memstore_add(r->unsupported, ls, s->nlabels, t, 0);
            else
                rc = promql_memstore_add(r->data, ls, s->nlabels, t,
                                         p->kind == PTF_STALE ? promql_stale_nan() : p->v);
            if (rc != 0)
                return rc;
        }
        if (s->start_timestamps && s->npoints == 0)
            rc = promql_memstore_add(r->unsupported, ls, s->nlabels, 0, 0);
        if (c->with_nhcb && !unsupported) {
            char name[256];
            struct promql_label nl[128];
            size_t m = nhcb_labels(s, nl, name, sizeof name);
            for (size_t k = 0; k < s->npoints; k++)
                if (s->points[k].kind != PTF_MISSING &&
                    (rc = promql_memstore_add(r->unsupported, nl, m, (int64_t)k * c->interval_ms,
                                              0)) != 0)
                    return rc;
        }
    }
    return 0;
}

/* ---- does a query touch unsupported data? ------------------------------------------- */

static int count_emit(void *arg, const struct promql_labels *labels, const int64_t *ts,
                      const double *vs, size_t n)
{
    (void)labels;
    (void)ts;
    (void)vs;
    *(size_t *)arg += n > 0;
    return 0;
}

static int touches_unsupported(struct run *r, const struct promql_expr *e)
{
    if (promql_memstore_series_count(r->unsupported) == 0)
        return 0;
    switch (e->kind) {
    case PROMQL_VECTOR_SELECTOR: {
        size_t n = 0;
        char err[128];
        r->ust.select(r->ust.ctx, e->u.vs.matchers, e->u.vs.nmatchers, INT64_MIN, INT64_MAX,
                      count_emit, &n, err, sizeof err);
        return n > 0;
    }
    case PROMQL_MATRIX_SELECTOR:
        return touches_unsupported(r, e->u.ms.vs);
    case PROMQL_SUBQUERY:
        return touches_unsupported(r, e->u.sq.expr);
    case PROMQL_CALL:
        for (size_t i = 0; i < e->u.call.nargs; i++)
            if (touches_unsupported(r, e->u.call.args[i]))
                return 1;
        return 0;
    case PROMQL_AGGREGATE:
        return touches_unsupported(r, e->u.agg.expr) ||
               (e->u.agg.param && touches_unsupported(r, e->u.agg.param));
    case PROMQL_BINARY:
        return touches_unsupported(r, e->u.bin.lhs) || touches_unsupported(r, e->u.bin.rhs);
    case PROMQL_UNARY:
        return touches_unsupported(r, e->u.unary.expr);
    case PROMQL_PAREN:
        return touches_unsupported(r, e->u.paren);
    default:
        return 0;
    }
}

/* ---- comparison ------------------------------------------------------------------- */

/* almost_equal: Prometheus's util/almost.Equal. */
static int almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b))
        return 1;
    if (a == b)
        return 1;
    double diff = fabs(a - b), sum = fabs(a) + fabs(b);
    if (a == 0 || b == 0 || sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(sum, 1.7976931348623157e308) < eps;
}

static void fmt_labels_of(const struct ptf_series *s, char *buf, size_t n)
{
    struct promql_label ls[128];
    struct promql_labels pl;
    struct wbuf w;
    size_t m = s->nlabels < 128 ? s->nlabels : 128;
    for (size_t i = 0; i < m; i++)
        ls[i] = (struct promql_label){ s->labels[i].name, s->labels[i].value };
    /* ptf labels are in file order: sort by name as label sets are. */
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && strcmp(ls[j - 1].name, ls[j].name) > 0; j--) {
            struct promql_label t = ls[j];
            ls[j] = ls[j - 1];
            ls[j - 1] = t;
        }
    pl.v = ls;
    pl.n = m;
    wbuf_init(&w, 0);
    promql_labels_format(&pl, &w);
    snprintf(buf, n, "%.*s", w.err ? 0 : (int)w.len, w.data ? (const char *)w.data : "");
    wbuf_release(&w);
}

static void fmt_labels(const struct promql_labels *ls, char *buf, size_t n)
{
    struct wbuf w;
    wbuf_init(&w, 0);
    promql_labels_format(ls, &w);
    snprintf(buf, n, "%.*s", w.err ? 0 : (int)w.len, w.data ? (const char *)w.data : "");
    wbuf_release(&w);
}

/* series_is: 1 when expected series s has exactly the labels ls. */
static int series_is(const struct ptf_series *s, const struct promql_labels *ls)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nlabels; i++) {
        if (s->labels[i].value[0] == '\0')
            continue;
        const char *v = promql_labels_get(ls, s->labels[i].name);
        if (v == NULL || strcmp(v, s->labels[i].value) != 0)
            return 0;
        n++;
    }
    return n == ls->n;
}

static const struct ptf_series *find_expected(const struct ptf_cmd *c,
                                              const struct promql_labels *ls, size_t *pos)
{
    for (size_t i = 0; i < c->nseries; i++)
        if (series_is(&c->series[i], ls)) {
            *pos = i;
            return &c->series[i];
        }
    return NULL;
}

static const struct ptf_expect *find_expect(const struct ptf_cmd *c, enum ptf_expect_kind k)
{
    for (size_t i = 0; i < c->nexpects; i++)
        if (c->expects[i].kind == k)
            return &c->expects[i];
    return NULL;
}

static int compare_vector(const struct ptf_cmd *c, const struct promql_result *res, char *why,
                          size_t n)
{
    int ordered = find_expect(c, PTF_EXPECT_ORDERED) != NULL;
    char lb[512];
    size_t matched = 0;

    if (c->has_scalar) {
        snprintf(why, n, "expected scalar result, but got vector of %zu samples", res->nsamples);
        return 0;
    }
    for (size_t i = 0; i < res->nsamples; i++) {
        const struct promql_sample *s = &res->samples[i];
        size_t pos;
        const struct ptf_series *e = find_expected(c, &s->labels, &pos);
        if (e == NULL) {
            fmt_labels(&s->labels, lb, sizeof lb);
            snprintf(why, n, "unexpected metric %s in result, has value %.17g", lb, s->v);
            return 0;
        }
        if (ordered && pos != i) {
            fmt_labels(&s->labels, lb, sizeof lb);
            snprintf(why, n, "expected metric %s at position %zu but was at %zu", lb, pos + 1,
                     i + 1);
            return 0;
        }
        if (e->npoints < 1 || (e->points[0].kind != PTF_VALUE && e->points[0].kind != PTF_STALE)) {
            fmt_labels(&s->labels, lb, sizeof lb);
            snprintf(why, n, "expected no value for %s but got %.17g", lb, s->v);
            return 0;
        }
        if (!almost_equal(e->points[0].v, s->v, EPSILON)) {
            fmt_labels(&s->labels, lb, sizeof lb);
            snprintf(why, n, "expected %.17g for %s but got %.17g", e->points[0].v, lb, s->v);
            return 0;
        }
        matched++;
    }
    if (matched != c->nseries) {
        for (size_t i = 0; i < c->nseries; i++) {
            int seen = 0;
            for (size_t j = 0; j < res->nsamples && !seen; j++)
                seen = series_is(&c->series[i], &res->samples[j].labels);
            if (!seen) {
                fmt_labels_of(&c->series[i], lb, sizeof lb);
                snprintf(why, n, "expected metric %s not found", lb);
                return 0;
            }
        }
        snprintf(why, n, "expected %zu series, got %zu", c->nseries, matched);
        return 0;
    }
    return 1;
}

static int compare_matrix(const struct ptf_cmd *c, const struct promql_result *res, int64_t start,
                          int64_t end, int64_t step, char *why, size_t n)
{
    char lb[512];

    if (find_expect(c, PTF_EXPECT_ORDERED) != NULL) {
        snprintf(why, n, "expected ordered result, but query returned a matrix");
        return 0;
    }
    if (c->has_scalar) {
        snprintf(why, n, "expected scalar result, but got matrix");
        return 0;
    }
    for (size_t i = 0; i < res->nseries; i++) {
        const struct promql_series *s = &res->series[i];
        size_t pos, k = 0;
        const struct ptf_series *e = find_expected(c, &s->labels, &pos);
        fmt_labels(&s->labels, lb, sizeof lb);
        if (e == NULL) {
            snprintf(why, n, "unexpected metric %s in result, has %zu points", lb, s->npoints);
            return 0;
        }
        for (size_t j = 0; j < e->npoints; j++) {
            int64_t t = start + (int64_t)j * step;
            const struct ptf_point *p = &e->points[j];
            if (t > end) {
                snprintf(why, n,
                         "expected %zu points for %s, but query time range cannot return this "
                         "many points",
                         e->npoints, lb);
                return 0;
            }
            if (p->kind == PTF_MISSING)
                continue;
            if (k >= s->npoints) {
                snprintf(why, n, "expected more points for %s: got %zu", lb, s->npoints);
                return 0;
            }
            if (s->points[k].t != t) {
                snprintf(why, n,
                         "expected float value at index %zu for %s to have timestamp %lld, but "
                         "it had timestamp %lld",
                         k, lb, (long long)t, (long long)s->points[k].t);
                return 0;
            }
            if (!almost_equal(p->v, s->points[k].v, EPSILON)) {
                snprintf(why, n,
                         "expected float value at index %zu (t=%lld) for %s to be %.17g, "
                         "but got %.17g",
                         k, (long long)t, lb, p->v, s->points[k].v);
                return 0;
            }
            k++;
        }
        if (k != s->npoints) {
            snprintf(why, n, "expected %zu float points for %s, but got %zu", k, lb, s->npoints);
            return 0;
        }
    }
    for (size_t i = 0; i < c->nseries; i++) {
        int seen = 0;
        for (size_t j = 0; j < res->nseries && !seen; j++)
            seen = series_is(&c->series[i], &res->series[j].labels);
        if (!seen) {
            fmt_labels_of(&c->series[i], lb, sizeof lb);
            snprintf(why, n, "expected metric %s not found", lb);
            return 0;
        }
    }
    return 1;
}

static int compare(const struct ptf_cmd *c, const struct promql_result *res, char *why, size_t n)
{
    const struct ptf_expect *str = find_expect(c, PTF_EXPECT_STRING);
    const struct ptf_expect *rv = find_expect(c, PTF_EXPECT_RANGE_VECTOR);

    switch (res->type) {
    case PROMQL_TYPE_SCALAR:
        if (!c->has_scalar) {
            snprintf(why, n, "expected vector or matrix result, but got scalar %.17g", res->scalar);
            return 0;
        }
        if (!almost_equal(c->scalar, res->scalar, EPSILON)) {
            snprintf(why, n, "expected scalar %.17g but got %.17g", c->scalar, res->scalar);
            return 0;
        }
        return 1;
    case PROMQL_TYPE_STRING:
        if (str == NULL || str->text == NULL || strcmp(str->text, res->str) != 0) {
            snprintf(why, n, "expected string \"%s\" but got \"%s\"",
                     str && str->text ? str->text : "", res->str);
            return 0;
        }
        return 1;
    case PROMQL_TYPE_VECTOR:
        return compare_vector(c, res, why, n);
    case PROMQL_TYPE_MATRIX:
        if (!c->range) {
            if (rv == NULL)
                return compare_matrix(c, res, c->at_ms, c->at_ms - 1, 1, why, n);
            return compare_matrix(c, res, rv->start_ms, rv->end_ms, rv->step_ms, why, n);
        }
        return compare_matrix(c, res, c->start_ms, c->end_ms, c->step_ms, why, n);
    default:
        snprintf(why, n, "unexpected result type");
        return 0;
    }
}

/* error_matches: the expected-failure rules (any error, exact message, or
 * an unanchored regex). */
static int error_matches(const struct ptf_expect *x, const char *msg)
{
    if (x == NULL || x->match == PTF_MATCH_ANY || x->text == NULL)
        return 1;
    if (x->match == PTF_MATCH_MSG)
        return strcmp(x->text, msg) == 0;
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)x->text, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &errcode,
                                   &erroff, NULL);
    if (re == NULL)
        return 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int ok = md != NULL && pcre2_match(re, (PCRE2_SPTR)msg, strlen(msg), 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return ok;
}

/* annotations_ok checks the expect warn/info/no_warn/no_info lines of c
 * against res's annotations: a line with a message (exact or regex) needs
 * one annotation of its kind to match, one without needs any. Returns 1, or
 * 0 with the reason in why. */
static int annotations_ok(const struct ptf_cmd *c, const struct promql_result *res, char *why,
                          size_t n)
{
    for (size_t i = 0; i < c->nexpects; i++) {
        const struct ptf_expect *e = &c->expects[i];
        int info = e->kind == PTF_EXPECT_INFO || e->kind == PTF_EXPECT_NO_INFO;
        const char *const *v = info ? res->infos : res->warnings;
        size_t nv = info ? res->ninfos : res->nwarnings;
        const char *what = info ? "info" : "warning";
        switch (e->kind) {
        case PTF_EXPECT_WARN:
        case PTF_EXPECT_INFO: {
            int hit = e->text == NULL && nv > 0;
            for (size_t k = 0; k < nv && !hit && e->text != NULL; k++)
                hit = error_matches(e, v[k]);
            if (!hit) {
                snprintf(why, n, "expected %s annotation%s%s%s, got %zu%s%s", what,
                         e->text ? " \"" : "", e->text ? e->text : "", e->text ? "\"" : "", nv,
                         nv ? ", first: " : "", nv ? v[0] : "");
                return 0;
            }
            break;
        }
        case PTF_EXPECT_NO_WARN:
        case PTF_EXPECT_NO_INFO:
            if (nv > 0) {
                snprintf(why, n, "expected no %s annotation, got: %s", what, v[0]);
                return 0;
            }
            break;
        default:
            break;
        }
    }
    return 1;
}

/* ---- eval --------------------------------------------------------------------------- */

static int do_eval(struct run *r, const struct ptf_cmd *c)
{
    const struct ptf_expect *fail = find_expect(c, PTF_EXPECT_FAIL);
    struct promql_parse_opts popts = { .experimental_functions = 1 };
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    struct promql_eval_error eerr;
    struct promql_result *res = NULL;
    char why[1536];
    int rc;

    if (c->has_histogram || c->start_timestamps) {
        r->rep->skipped_histogram++;
        return add_item(r, PROMQLTEST_SKIPPED, c, "skipped: native histograms or start timestamps");
    }
    rc = promql_parse(c->query, strlen(c->query), &popts, &ast, &perr);
    if (rc == TT_ENOMEM)
        return rc;
    if (rc != 0) {
        if (strstr(perr.msg, "not enabled") != NULL ||
            strstr(perr.msg, "must be enabled") != NULL ||
            strstr(perr.msg, "unknown function with name") != NULL)
            return add_item(r, PROMQLTEST_SKIPPED, c, "skipped: not supported by the parser: %s",
                            perr.detail);
        if (fail != NULL) {
            if (error_matches(fail, perr.msg))
                return add_item(r, PROMQLTEST_PASSED, c, "-");
            return add_item(r, PROMQLTEST_FAILED, c, "expected error matching \"%s\", got: %s",
                            fail->text ? fail->text : "", perr.msg);
        }
        if (mentions_unsupported(r, c->query)) {
            r->rep->skipped_histogram++;
            return add_item(r, PROMQLTEST_SKIPPED, c,
                            "skipped: does not parse and names native histograms: %s", perr.detail);
        }
        return add_item(r, PROMQLTEST_FAILED, c, "parse error: %s", perr.msg);
    }
    if (touches_unsupported(r, ast->root)) {
        promql_ast_free(ast);
        r->rep->skipped_histogram++;
        return add_item(r, PROMQLTEST_SKIPPED, c,
                        "skipped: selects native histograms or start timestamps");
    }
    struct promql_engine_opts eo = { 0 };
    if (r->opts != NULL)
        eo = *r->opts;
    eo.query = c->query; /* positions in annotations */
    if (c->range)
        rc = promql_eval_range(&eo, &r->st, ast->root, c->start_ms, c->end_ms, c->step_ms, &res,
                               &eerr);
    else
        rc = promql_eval_instant(&eo, &r->st, ast->root, c->at_ms, &res, &eerr);
    promql_ast_free(ast);
    if (rc == TT_ENOMEM)
        return rc;
    if (rc != 0) {
        if (fail == NULL)
            return add_item(r, PROMQLTEST_FAILED, c, "error evaluating query: %s", eerr.msg);
        if (error_matches(fail, eerr.msg))
            return add_item(r, PROMQLTEST_PASSED, c, "-");
        return add_item(r, PROMQLTEST_FAILED, c, "expected error matching \"%s\", got: %s",
                        fail->text ? fail->text : "", eerr.msg);
    }
    if (fail != NULL) {
        promql_result_free(res);
        return add_item(r, PROMQLTEST_FAILED, c, "expected error evaluating query but got none");
    }
    int ok = compare(c, res, why, sizeof why) && annotations_ok(c, res, why, sizeof why);
    promql_result_free(res);
    if (ok)
        return add_item(r, PROMQLTEST_PASSED, c, "-");
    return add_item(r, PROMQLTEST_FAILED, c, "%s", why);
}

int promqltest_run(const char *text, size_t len, const char *name,
                   const struct promql_engine_opts *opts, struct promqltest_report *rep, char *err,
                   size_t errlen)
{
    struct ptf_file f = { 0 };
    struct run r = { 0 };
    int rc = ptf_parse(text, len, name, &f, err, errlen);

    if (rc != 0)
        return rc;
    r.opts = opts;
    r.rep = rep;
    if (promql_memstore_new(&r.data) != 0 || promql_memstore_new(&r.unsupported) != 0) {
        rc = TT_ENOMEM;
        goto out;
    }
    promql_memstore_storage(r.data, &r.st);
    promql_memstore_storage(r.unsupported, &r.ust);
    for (size_t i = 0; i < f.ncmds && rc == 0; i++) {
        const struct ptf_cmd *c = &f.cmds[i];
        switch (c->kind) {
        case PTF_LOAD:
            rc = do_load(&r, c);
            if (rc != 0 && err != NULL && errlen > 0)
                snprintf(err, errlen, "%s:%d: load: %s", name, c->line, tt_strerror(rc));
            break;
        case PTF_CLEAR:
            r.nunames = 0;
            promql_memstore_clear(r.data);
            promql_memstore_clear(r.unsupported);
            break;
        case PTF_EVAL:
            rc = do_eval(&r, c);
            break;
        }
    }
out:
    promql_memstore_free(r.data);
    promql_memstore_free(r.unsupported);
    free(r.unames);
    ptf_free(&f);
    return rc;
}
