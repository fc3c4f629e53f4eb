/*
 * head_storage.c - struct promql_storage over the TSDB head: each engine
 * select is one head querier over [mint, maxt]; every selected series'
 * samples are decoded once into growable arrays and handed to the engine
 * with its labels. Samples are copied a decoded chunk at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/head_storage.h"
#include "server/store.h"
#include "telltale.h"

static enum matcher_type match_type(enum promql_match_op op)
{
    switch (op) {
    case PROMQL_MATCH_NEQ:
        return MATCH_NEQ;
    case PROMQL_MATCH_RE:
        return MATCH_RE;
    case PROMQL_MATCH_NRE:
        return MATCH_NRE;
    default:
        return MATCH_EQ;
    }
}

int head_matchers_compile(const struct promql_matcher *m, size_t n, struct matcher **out, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = matcher_new(&out[i], match_type(m[i].op), m[i].name.ptr, m[i].value.ptr, 0, err,
                             errlen);
        if (rc != 0) {
            head_matchers_free(out, i);
            return rc;
        }
    }
    return 0;
}

void head_matchers_free(struct matcher **ms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        matcher_free(ms[i]);
}

struct points {
    int64_t *ts;
    double *vs;
    size_t n, cap;
};

/* points_append adds n samples (one run of the head iterator). */
static int points_append(struct points *p, const int64_t *ts, const double *vs, size_t n)
{
    if (p->cap - p->n < n) {
        size_t ncap = p->cap ? p->cap : 256;
        while (ncap - p->n < n)
            ncap *= 2;
        int64_t *nt = realloc(p->ts, ncap * sizeof *nt);
        if (!nt)
            return TT_ENOMEM;
        p->ts = nt;
        double *nv = realloc(p->vs, ncap * sizeof *nv);
        if (!nv)
            return TT_ENOMEM;
        p->vs = nv;
        p->cap = ncap;
    }
    memcpy(p->ts + p->n, ts, n * sizeof *ts);
    memcpy(p->vs + p->n, vs, n * sizeof *vs);
    p->n += n;
    return 0;
}

static int head_select(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint_ms,
                       int64_t maxt_ms, promql_series_fn emit, void *arg, char *err, size_t errlen)
{
    struct head *h = server_store_head(ctx);
    if (!h) {
        snprintf(err, errlen, "the store is opening (WAL replay): try again shortly");
        return TT_ESTATE;
    }
    struct matcher *stack[16], **ms = stack;
    if (nm > 16 && !(ms = calloc(nm, sizeof *ms)))
        return TT_ENOMEM;
    struct head_querier *q = NULL;
    struct head_series_set *ss = NULL;
    struct promql_label *pl = NULL;
    size_t plcap = 0;
    struct points pts = { 0 };
    int rc = head_matchers_compile(m, nm, ms, err, errlen);
    if (rc != 0)
        goto out_ms;
    if (mint_ms > maxt_ms)
        goto out;
    if ((rc = head_querier_new(h, mint_ms, maxt_ms, &q)) != 0 ||
        (rc = head_querier_select(q, ms, nm, &ss)) != 0)
        goto out;
    size_t count = head_series_set_count(ss);
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct head_iter it;
        if ((rc = head_iter_init(&it, ss, i)) != 0)
            break;
        pts.n = 0;
        long r;
        const int64_t *rts;
        const double *rvs;
        while ((r = head_iter_next_run(&it, &rts, &rvs)) > 0 && rc == 0)
            rc = points_append(&pts, rts, rvs, (size_t)r);
        head_iter_release(&it);
        if (rc == 0 && r < 0)
            rc = (int)r;
        if (rc != 0 || pts.n == 0)
            continue;
        const struct labels *ls = head_series_set_labels(ss, i);
        if (ls->n > plcap) {
            struct promql_label *np = realloc(pl, ls->n * sizeof *np);
            if (!np) {
                rc = TT_ENOMEM;
                break;
            }
            pl = np;
            plcap = ls->n;
        }
        for (size_t k = 0; k < ls->n; k++) {
            pl[k].name = ls->v[k].name;
            pl[k].value = ls->v[k].value;
        }
        struct promql_labels pls = { pl, ls->n };
        rc = emit(arg, &pls, pts.ts, pts.vs, pts.n);
    }
out:
    head_series_set_free(ss);
    head_querier_free(q);
    head_matchers_free(ms, nm);
out_ms:
    if (ms != stack)
        free(ms);
    free(pl);
    free(pts.ts);
    free(pts.vs);
    return rc;
}

void head_storage_init(struct promql_storage *st, struct server_store *store)
{
    st->ctx = store;
    st->select = head_select;
}
