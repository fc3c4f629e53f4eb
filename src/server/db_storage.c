/*
 * db_storage.c - struct promql_storage over the metric store (db.h): each
 * engine select is one db_select over [mint, maxt], which merges the head
 * and the blocks; every selected series' samples are handed to the engine
 * with its labels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/db_storage.h"
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

int store_matchers_compile(const struct promql_matcher *m, size_t n, struct matcher **out,
                           char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = matcher_new(&out[i], match_type(m[i].op), m[i].name.ptr, m[i].value.ptr, 0, err,
                             errlen);
        if (rc != 0) {
            store_matchers_free(out, i);
            return rc;
        }
    }
    return 0;
}

void store_matchers_free(struct matcher **ms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        matcher_free(ms[i]);
}

/* The engine's labels for one series: a view of the store's. */
struct emit_ctx {
    promql_series_fn emit;
    void *arg;
    struct promql_label *pl;
    size_t plcap;
};

/* engine_labels points c->pl at ls's pairs (borrowed) and fills out. */
static int engine_labels(struct emit_ctx *c, const struct labels *ls, struct promql_labels *out)
{
    if (ls->n > c->plcap) {
        struct promql_label *np = realloc(c->pl, ls->n * sizeof *np);
        if (!np)
            return TT_ENOMEM;
        c->pl = np;
        c->plcap = ls->n;
    }
    for (size_t k = 0; k < ls->n; k++) {
        c->pl[k].name = ls->v[k].name;
        c->pl[k].value = ls->v[k].value;
    }
    out->v = c->pl;
    out->n = ls->n;
    return 0;
}

static int emit_series(void *arg, const struct labels *ls, const int64_t *ts, const double *vs,
                       size_t n)
{
    struct emit_ctx *c = arg;
    struct promql_labels pls;
    if (engine_labels(c, ls, &pls) != 0)
        return TT_ENOMEM;
    return c->emit(c->arg, &pls, ts, vs, n);
}

#define STACK_MATCHERS 16

/* select_begin finds the store (TT_ESTATE while it opens) and compiles m
 * into *ms (stack, when it holds them, or an allocation); release with
 * select_end. */
static int select_begin(void *ctx, const struct promql_matcher *m, size_t nm,
                        struct matcher *stack[STACK_MATCHERS], struct matcher ***ms, struct db **d,
                        char *err, size_t errlen)
{
    *ms = NULL;
    if (!(*d = server_store_db(ctx))) {
        snprintf(err, errlen, "the store is opening (WAL replay): try again shortly");
        return TT_ESTATE;
    }
    struct matcher **v = nm > STACK_MATCHERS ? calloc(nm, sizeof *v) : stack;
    if (v == NULL)
        return TT_ENOMEM;
    int rc = store_matchers_compile(m, nm, v, err, errlen);
    if (rc != 0) {
        if (v != stack)
            free(v);
        return rc;
    }
    *ms = v;
    return 0;
}

static void select_end(struct matcher *stack[STACK_MATCHERS], struct matcher **ms, size_t nm)
{
    if (ms == NULL)
        return;
    store_matchers_free(ms, nm);
    if (ms != stack)
        free(ms);
}

static int db_storage_select(void *ctx, const struct promql_matcher *m, size_t nm, int64_t mint_ms,
                             int64_t maxt_ms, promql_series_fn emit, void *arg, char *err,
                             size_t errlen)
{
    struct matcher *stack[STACK_MATCHERS], **ms;
    struct db *d;
    int rc = select_begin(ctx, m, nm, stack, &ms, &d, err, errlen);
    if (rc != 0)
        return rc;
    struct emit_ctx c = { emit, arg, NULL, 0 };
    rc = db_select(d, ms, nm, mint_ms, maxt_ms, 0, emit_series, &c, err, errlen);
    select_end(stack, ms, nm);
    free(c.pl);
    return rc;
}

/* Rollups: the store's points in the engine's type (same fields). */
struct rollup_ctx {
    struct emit_ctx e;
    promql_rollup_fn emit;
    struct promql_rollup_point *p;
    size_t cap;
};

static int emit_rollup(void *arg, const struct labels *ls, const struct db_rollup_point *p,
                       size_t n)
{
    struct rollup_ctx *c = arg;
    if (n > c->cap) {
        struct promql_rollup_point *np = realloc(c->p, n * sizeof *np);
        if (!np)
            return TT_ENOMEM;
        c->p = np;
        c->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        c->p[i].t = p[i].t;
        c->p[i].last_t = p[i].last_t;
        c->p[i].min = p[i].min;
        c->p[i].max = p[i].max;
        c->p[i].sum = p[i].sum;
        c->p[i].count = p[i].count;
        c->p[i].last = p[i].last;
    }
    struct promql_labels pls;
    if (engine_labels(&c->e, ls, &pls) != 0)
        return TT_ENOMEM;
    return c->emit(c->e.arg, &pls, c->p, n);
}

static int db_storage_select_rollup(void *ctx, const struct promql_matcher *m, size_t nm,
                                    int64_t mint_ms, int64_t maxt_ms, int64_t res_ms,
                                    promql_rollup_fn emit, void *arg, char *err, size_t errlen)
{
    struct matcher *stack[STACK_MATCHERS], **ms;
    struct db *d;
    int rc = select_begin(ctx, m, nm, stack, &ms, &d, err, errlen);
    if (rc != 0)
        return rc;
    struct rollup_ctx c = { { NULL, arg, NULL, 0 }, emit, NULL, 0 };
    rc = db_select_rollup(d, ms, nm, mint_ms, maxt_ms, res_ms, emit_rollup, &c, err, errlen);
    select_end(stack, ms, nm);
    free(c.e.pl);
    free(c.p);
    return rc;
}

void db_storage_init(struct promql_storage *st, struct server_store *store)
{
    st->ctx = store;
    st->select = db_storage_select;
    st->select_rollup = db_storage_select_rollup;
}
