/*
 * fuzz_rql.c - fuzz target for the RQL parser and evaluator
 * (src/query/rql). Any input is parsed; a failure must come with a known
 * code, a message and a position inside the input. A query that parses is
 * printed, the printed text must parse and print identically (the
 * printer's round-trip promise), and it is evaluated over a small fixed cut
 * of three nodes (with a low combination limit) with its rows: evaluation
 * must end without crashing, whatever the query asks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/rql/eval.h"
#include "query/rql/memcut.h"
#include "query/rql/rql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rql_value sv(const char *s)
{
    struct rql_value v = { .type = RQL_V_STR };
    v.u.s.p = s;
    v.u.s.len = strlen(s);
    return v;
}

static struct memcut *make_cut(void)
{
    static const char *const nodes[] = { "n1", "n2", "n3" };
    static const char *const vers[] = { "tst1", "tst2", "tst4" };
    struct memcut *mc = memcut_new();
    if (mc == NULL)
        abort();
    for (int k = 0; k < 3; k++) {
        struct rql_value i = { .type = RQL_V_INT, .u.i = k * 7 - 3 };
        struct rql_value f = { .type = RQL_V_FLOAT, .u.f = k * 0.5 };
        struct rql_value b = { .type = RQL_V_BOOL, .u.b = k != 1 };
        struct rql_value v = sv(vers[k]);
        if (memcut_set(mc, nodes[k], "kv", "r1", &v, NULL, NULL) != 0 ||
            memcut_set(mc, nodes[k], "kv", "v", &i, NULL, NULL) != 0 ||
            memcut_set(mc, nodes[k], "db", "compacting", &b, NULL, NULL) != 0 ||
            memcut_set(mc, nodes[k], "db", "load", &f, NULL, NULL) != 0 ||
            (k < 2 && memcut_set(mc, nodes[k], "x", "a", &i, NULL, NULL) != 0))
            abort();
    }
    return mc;
}

static void evaluate(const struct rql_query *q)
{
    struct memcut *mc = make_cut();
    struct rql_eval *ev = NULL;
    struct rql_eval_opts o = { 2000, 16 };
    char err[512];
    int rc = rql_eval_new(q, &o, &memcut_ops, mc, &ev, err, sizeof err);
    if (rc == 0) {
        int match = 0;
        rc = rql_eval_cut(ev, &match, err, sizeof err);
        if (rc != 0 && rc != TT_ETOOBIG && rc != TT_ENOMEM)
            abort();
        if (rc == 0 && match) {
            const struct rql_row *rows;
            uint32_t n;
            rc = rql_eval_rows(ev, &rows, &n, err, sizeof err);
            if (rc != 0 && rc != TT_ETOOBIG && rc != TT_ENOMEM)
                abort();
            for (uint32_t r = 0; rc == 0 && r < n; r++)
                for (uint32_t k = 0; k < q->nocc; k++)
                    if (rows[r].nodes[k] >= 3)
                        abort();
        }
        /* a change on n2 of kv.v, re-evaluated incrementally */
        struct rql_value nv = { .type = RQL_V_INT, .u.i = 100 };
        uint32_t key, node;
        if (memcut_set(mc, "n2", "kv", "v", &nv, &key, &node) == 0 && rc == 0)
            (void)rql_eval_change(ev, key, node, &match, err, sizeof err);
    } else if (rc != TT_ENOTFOUND && rc != TT_ENOMEM) {
        abort();
    }
    rql_eval_free(ev);
    memcut_free(mc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rql_query *q = NULL, *q2 = NULL;
    struct rql_error err;
    if (size > 1 << 16)
        return 0;
    int rc = rql_parse((const char *)data, size, &q, &err);
    if (rc != 0) {
        if ((rc != TT_ESYNTAX && rc != TT_EINVAL && rc != TT_ENOTFOUND && rc != TT_ENOMEM) ||
            err.msg[0] == 0 || err.offset > size || err.line == 0 || err.col == 0 || q)
            abort();
        return 0;
    }
    struct wbuf a, b;
    wbuf_init(&a, 0);
    wbuf_init(&b, 0);
    if (rql_print(q, &a) != 0)
        abort();
    rc = rql_parse((const char *)a.data, a.len, &q2, &err);
    if (rc != 0)
        abort(); /* the printed form of a valid query must parse */
    if (rql_print(q2, &b) != 0)
        abort();
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort(); /* and print the same */
    if (q2->nocc != q->nocc || q2->nvars != q->nvars || q2->link != q->link)
        abort();
    evaluate(q);
    wbuf_release(&a);
    wbuf_release(&b);
    rql_query_free(q);
    rql_query_free(q2);
    return 0;
}
