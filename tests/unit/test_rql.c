/* test_rql.c - the RQL front end and evaluator (src/query/rql): canonical
 * printing and its round trip, precedence, every error with its position,
 * each function with its conversion failures, binding semantics on
 * hand-made cuts of 2-3 nodes, LINK SAME_NODE / EACH_NODE, NODE($k),
 * count/sum, the combination limit and incremental re-evaluation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/buf.h"
#include "query/rql/eval.h"
#include "query/rql/memcut.h"
#include "query/rql/rql.h"

/* ---- helpers ---------------------------------------------------------------------- */

static struct rql_query *parse_ok(const char *text)
{
    struct rql_query *q = NULL;
    struct rql_error err;
    int rc = rql_parse(text, strlen(text), &q, &err);
    if (rc != 0)
        fprintf(stderr, "parse of [%s] failed: %s\n", text, err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(q);
    return q;
}

/* printed: the canonical text of q (static buffer). */
static const char *printed(const struct rql_query *q)
{
    static char out[4096];
    struct wbuf b;
    wbuf_init(&b, 0);
    assert_int_equal(rql_print(q, &b), 0);
    assert_true(b.len < sizeof out);
    memcpy(out, b.data, b.len);
    out[b.len] = 0;
    wbuf_release(&b);
    return out;
}

/* check_print: text parses, prints as want, and want parses and prints the same. */
static void check_print(const char *text, const char *want)
{
    struct rql_query *q = parse_ok(text);
    assert_string_equal(printed(q), want);
    rql_query_free(q);
    q = parse_ok(want);
    assert_string_equal(printed(q), want);
    rql_query_free(q);
}

static void check_error(const char *text, int code, const char *msg)
{
    struct rql_query *q = NULL;
    struct rql_error err;
    int rc = rql_parse(text, strlen(text), &q, &err);
    assert_int_equal(rc, code);
    assert_null(q);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, msg);
}

/* const_eval: evaluate SELECT's first expression with no cut. */
static int const_eval(const char *expr, struct rql_value *v, char *buf, size_t buflen, char *err)
{
    char text[512];
    snprintf(text, sizeof text, "SELECT %s FROM x", expr);
    struct rql_query *q = parse_ok(text);
    int rc = rql_value_eval(q, q->select[0], v, buf, buflen, err, 256);
    rql_query_free(q);
    return rc;
}

static void check_int(const char *expr, int64_t want)
{
    struct rql_value v;
    char buf[256], err[256];
    assert_int_equal(const_eval(expr, &v, buf, sizeof buf, err), 0);
    assert_int_equal(v.type, RQL_V_INT);
    assert_int_equal(v.u.i, want);
}

static void check_float(const char *expr, double want)
{
    struct rql_value v;
    char buf[256], err[256];
    assert_int_equal(const_eval(expr, &v, buf, sizeof buf, err), 0);
    assert_int_equal(v.type, RQL_V_FLOAT);
    assert_true(v.u.f == want);
}

static void check_str(const char *expr, const char *want)
{
    struct rql_value v;
    char buf[256], err[256];
    assert_int_equal(const_eval(expr, &v, buf, sizeof buf, err), 0);
    assert_int_equal(v.type, RQL_V_STR);
    assert_strn_equal(v.u.s.p, v.u.s.len, want);
}

static void check_bool(const char *expr, int want)
{
    struct rql_value v;
    char buf[256], err[256];
    assert_int_equal(const_eval(expr, &v, buf, sizeof buf, err), 0);
    assert_int_equal(v.type, RQL_V_BOOL);
    assert_int_equal(v.u.b, want);
}

static void check_rt_error(const char *expr, const char *msg)
{
    struct rql_value v;
    char buf[256], err[256];
    assert_int_equal(const_eval(expr, &v, buf, sizeof buf, err), TT_EINVAL);
    assert_string_equal(err, msg);
}

static struct rql_value sval(const char *s)
{
    struct rql_value v;
    v.type = RQL_V_STR;
    v.u.s.p = s;
    v.u.s.len = strlen(s);
    return v;
}

static struct rql_value ival(int64_t i)
{
    struct rql_value v;
    v.type = RQL_V_INT;
    v.u.i = i;
    return v;
}

static struct rql_value bval(int b)
{
    struct rql_value v;
    v.type = RQL_V_BOOL;
    v.u.b = b;
    return v;
}

static void set(struct memcut *mc, const char *node, const char *log, const char *var,
                struct rql_value v)
{
    assert_int_equal(memcut_set(mc, node, log, var, &v, NULL, NULL), 0);
}

static struct rql_query *run_q; /* the query of the evaluator run() handed out */

static void done(struct rql_eval *ev)
{
    rql_eval_free(ev);
    rql_query_free(run_q);
    run_q = NULL;
}

/* run: parse text, evaluate over mc; returns match (or the error code). */
static int run(struct memcut *mc, const char *text, struct rql_eval **evp)
{
    struct rql_query *q = parse_ok(text);
    struct rql_eval *ev = NULL;
    char err[512];
    assert_int_equal(rql_eval_new(q, NULL, &memcut_ops, mc, &ev, err, sizeof err), 0);
    int match = -1;
    int rc = rql_eval_cut(ev, &match, err, sizeof err);
    if (evp) {
        *evp = ev; /* the caller ends with done(ev) */
        run_q = q;
    } else {
        rql_eval_free(ev);
        rql_query_free(q);
    }
    return rc ? rc : match;
}

/* rows_text: "node1,node2|v1;..." for every row of the current cut. */
static void rows_text(struct rql_eval *ev, struct memcut *mc, const struct rql_query *q, char *out,
                      size_t n)
{
    const struct rql_row *rows;
    uint32_t nr;
    char err[512];
    assert_int_equal(rql_eval_rows(ev, &rows, &nr, err, sizeof err), 0);
    size_t o = 0;
    out[0] = 0;
    for (uint32_t r = 0; r < nr; r++) {
        for (uint32_t k = 0; k < q->nocc; k++)
            o += (size_t)snprintf(out + o, n - o, "%s%s", k ? "," : "",
                                  memcut_ops.node_name(mc, rows[r].nodes[k]));
        o += (size_t)snprintf(out + o, n - o, "|");
        for (uint32_t k = 0; k < q->nselect; k++) {
            const struct rql_value *v = &rows[r].values[k];
            if (k)
                o += (size_t)snprintf(out + o, n - o, " ");
            if (v->type == RQL_V_STR)
                o += (size_t)snprintf(out + o, n - o, "%.*s", (int)v->u.s.len, v->u.s.p);
            else if (v->type == RQL_V_INT)
                o += (size_t)snprintf(out + o, n - o, "%lld", (long long)v->u.i);
            else if (v->type == RQL_V_BOOL)
                o += (size_t)snprintf(out + o, n - o, "%s", v->u.b ? "T" : "F");
            else
                o += (size_t)snprintf(out + o, n - o, "?");
        }
        o += (size_t)snprintf(out + o, n - o, ";");
    }
}

/* ---- parsing ---------------------------------------------------------------------- */

static void test_rql_print_roundtrip(void **state)
{
    (void)state;
    check_print("select r1 from kv", "SELECT kv.r1 FROM kv");
    check_print("SELECT NODE($1), NODE($2), r1 FROM kv WHEN Int(StrReplace(r1, \"tst\", \"\")) - "
                "Int(StrReplace(r1, 'tst', '')) > 1",
                "SELECT NODE($1), NODE($2), kv.r1 FROM kv WHEN ((Int(StrReplace(kv.r1, \"tst\", "
                "\"\")) - Int(StrReplace(kv.r1, \"tst\", \"\"))) > 1)");
    check_print(
        "SELECT a.x, b.y FROM a, b WHEN a.x = b.y LINK SAME_NODE BETWEEN 10 AND 20 LIMIT 5;",
        "SELECT a.x, b.y FROM a, b WHEN (a.x = b.y) LINK SAME_NODE BETWEEN 10 AND 20 "
        "LIMIT 5");
    check_print("SELECT count(db.compacting = true) FROM db WHEN count(compacting = TRUE) >= 2",
                "SELECT count((db.compacting = TRUE)) FROM db WHEN (count((db.compacting = "
                "TRUE)) >= 2)");
    check_print("SELECT 1.5, 2e3, 1.0, \"a\\\"b\\\\c\\n\\t\", false FROM x LINK each_node",
                "SELECT 1.5, 2000.0, 1.0, \"a\\\"b\\\\c\\n\\t\", FALSE FROM x LINK EACH_NODE");
    check_print("SELECT x.select FROM x -- a comment\n WHEN x.select <> 1",
                "SELECT x.select FROM x WHEN (x.select != 1)");
    check_print("SELECT $1, min(1, 2, 3), max(a), abs(-a), Float(a), Str(a), sum(a) FROM x "
                "WHEN a == 1",
                "SELECT $1, min(1, 2, 3), max(x.a), abs((-x.a)), Float(x.a), Str(x.a), "
                "sum(x.a) FROM x WHEN (x.a = 1)");
}

static void test_rql_precedence(void **state)
{
    (void)state;
    check_print("SELECT 1 + 2 * 3 - 4 / 5 % 6 FROM x",
                "SELECT ((1 + (2 * 3)) - ((4 / 5) % 6)) FROM x");
    check_print("SELECT - -1 FROM x WHEN NOT a = 1 AND b < 2 OR c >= 3 AND NOT NOT d",
                "SELECT (-(-1)) FROM x WHEN (((NOT (x.a = 1)) AND (x.b < 2)) OR ((x.c >= 3) AND "
                "(NOT (NOT x.d))))");
}

static void test_rql_occurrences(void **state)
{
    (void)state;
    /* WHEN occurrences first, in text order; SELECT reuses them, or adds its own. */
    struct rql_query *q =
        parse_ok("SELECT x.c, x.a, x.c FROM x WHEN x.a > x.b AND x.a < 5 LINK SAME_NODE");
    assert_int_equal(q->nocc, 4);
    assert_int_equal(q->nwhen_occ, 3);
    assert_int_equal(q->nvars, 3);
    assert_string_equal(q->vars[q->occs[0].var].name, "a");
    assert_string_equal(q->vars[q->occs[1].var].name, "b");
    assert_string_equal(q->vars[q->occs[2].var].name, "a");
    assert_string_equal(q->vars[q->occs[3].var].name, "c");
    assert_int_equal(q->select[0]->occ, 4);
    assert_int_equal(q->select[1]->occ, 1);
    assert_int_equal(q->select[2]->occ, 4);
    assert_int_equal(q->link, RQL_LINK_SAME_NODE);
    assert_int_equal(rql_query_uses(q, "x", "b"), 1);
    assert_int_equal(rql_query_uses(q, "x", "d"), 0);
    assert_int_equal(rql_query_uses(q, "y", "a"), 0);
    rql_query_free(q);
    /* variables inside count() are not occurrences */
    q = parse_ok("SELECT 1 FROM x WHEN count(x.a = 1) > 0");
    assert_int_equal(q->nocc, 0);
    assert_int_equal(q->nvars, 1);
    rql_query_free(q);
}

static void test_rql_syntax_errors(void **state)
{
    (void)state;
    check_error("", TT_ESYNTAX, "1:1: unexpected end of input, expected SELECT");
    check_error("SELEC x FROM y", TT_ESYNTAX, "1:1: unexpected 'SELEC', expected SELECT");
    check_error("SELECT FROM y", TT_ESYNTAX, "1:8: unexpected 'FROM', expected an expression");
    check_error("SELECT a b FROM y", TT_ESYNTAX, "1:10: unexpected 'b', expected ',' or FROM");
    check_error("SELECT a FROM", TT_ESYNTAX, "1:14: unexpected end of input, expected a log name");
    check_error("SELECT a FROM y WHEN", TT_ESYNTAX,
                "1:21: unexpected end of input, expected an expression");
    check_error("SELECT a\nFROM y\nWHEN (a > 1", TT_ESYNTAX,
                "3:12: unexpected end of input, expected ')' or an operator");
    check_error("SELECT a FROM y LINK ALL", TT_ESYNTAX,
                "1:22: unexpected 'ALL', expected SAME_NODE or EACH_NODE");
    check_error("SELECT a FROM y BETWEEN 1 2", TT_ESYNTAX, "1:27: unexpected '2', expected AND");
    check_error("SELECT a FROM y BETWEEN x AND 2", TT_ESYNTAX,
                "1:25: unexpected 'x', expected an integer (HLC milliseconds)");
    check_error("SELECT a FROM y LIMIT 1.5", TT_ESYNTAX,
                "1:23: unexpected '1.5', expected an integer (the number of cuts)");
    check_error("SELECT a FROM y WHEN a > 1 x", TT_ESYNTAX,
                "1:28: unexpected 'x', expected an operator, LINK, BETWEEN, LIMIT or end of input");
    check_error("SELECT a FROM y z", TT_ESYNTAX,
                "1:17: unexpected 'z', expected WHEN, LINK, BETWEEN, LIMIT or end of input");
    check_error("SELECT a FROM y LIMIT 2 LIMIT 3", TT_ESYNTAX,
                "1:25: unexpected 'LIMIT', expected end of input");
    check_error("SELECT 'abc FROM y", TT_ESYNTAX, "1:8: unterminated string, expected '");
    check_error("SELECT \"a\\qb\" FROM y", TT_ESYNTAX,
                "1:10: unknown escape '\\q' in string, expected one of \\\" \\' \\\\ \\n \\t");
    check_error("SELECT a # b FROM y", TT_ESYNTAX, "1:10: unexpected character '#'");
    check_error("SELECT 12ab FROM y", TT_ESYNTAX, "1:8: malformed number '12a'");
    check_error("SELECT 99999999999999999999 FROM y", TT_ESYNTAX,
                "1:8: integer '99999999999999999999' out of range (max 9223372036854775807)");
    check_error("SELECT 1e999 FROM y", TT_ESYNTAX, "1:8: number '1e999' out of range");
    check_error("SELECT a FROM y WHEN a < b < c", TT_ESYNTAX,
                "1:28: comparisons do not chain: write (a < b) AND (b < c)");
    check_error("SELECT x.1 FROM y", TT_ESYNTAX,
                "1:10: unexpected '1', expected a variable name after '.'");
    check_error("SELECT $ FROM y", TT_ESYNTAX,
                "1:8: '$' must be followed by an occurrence number (1..999999999)");
    check_error("SELECT NODE(a) FROM y", TT_ESYNTAX,
                "1:13: unexpected 'a', expected '$k' (NODE takes the number of a variable "
                "occurrence)");
    check_error("SELECT Int(1 FROM y", TT_ESYNTAX, "1:14: unexpected 'FROM', expected ',' or ')'");
    check_error("SELECT a\x01 FROM y", TT_ESYNTAX, "1:9: unexpected byte 0x01");
    /* deep nesting is refused, not recursed into */
    char deep[2000];
    size_t o = (size_t)snprintf(deep, sizeof deep, "SELECT ");
    for (int k = 0; k < 300; k++)
        deep[o++] = '(';
    snprintf(deep + o, sizeof deep - o, "1 FROM x");
    struct rql_query *q = NULL;
    struct rql_error err;
    assert_int_equal(rql_parse(deep, strlen(deep), &q, &err), TT_ESYNTAX);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    o = (size_t)snprintf(deep, sizeof deep, "SELECT 1");
    for (int k = 0; k < 300; k++)
        o += (size_t)snprintf(deep + o, sizeof deep - o, "+1");
    snprintf(deep + o, sizeof deep - o, " FROM x");
    assert_int_equal(rql_parse(deep, strlen(deep), &q, &err), TT_ESYNTAX);
    assert_non_null(strstr(err.msg, "nested too deeply"));
}

static void test_rql_name_errors(void **state)
{
    (void)state;
    check_error("SELECT foo(1) FROM y", TT_ENOTFOUND,
                "1:8: unknown function 'foo' (known: Int, Float, Str, StrReplace, abs, min, "
                "max, count, sum, NODE)");
    check_error("SELECT StrReplace(a, 'x') FROM y", TT_EINVAL,
                "1:8: StrReplace takes 3 arguments, got 2");
    check_error("SELECT Int() FROM y", TT_EINVAL, "1:8: Int takes 1 argument, got 0");
    check_error("SELECT min() FROM y", TT_EINVAL, "1:8: min takes at least 1 argument, got 0");
    check_error("SELECT z.a FROM y", TT_ENOTFOUND,
                "1:8: unknown log 'z' in z.a: it is not in the FROM list");
    check_error("SELECT a FROM y, z", TT_EINVAL,
                "1:8: variable 'a' is ambiguous: FROM names 2 logs; write log.a");
    check_error("SELECT a FROM y, y", TT_EINVAL, "1:18: log 'y' named twice in FROM");
    check_error("SELECT NODE($3) FROM y WHEN a > b", TT_EINVAL,
                "1:13: $3 names no variable occurrence: the query has 2 ($1..$2, WHEN first)");
    check_error("SELECT y.b FROM y WHEN y.a > $2", TT_EINVAL,
                "1:30: $2 is a SELECT occurrence: WHEN may only name its own ($1..$1)");
    check_error("SELECT $0 FROM y", TT_EINVAL,
                "1:8: $0 names no variable occurrence: the query has 0 ($1..$0, WHEN first)");
    check_error("SELECT sum(count(a)) FROM y", TT_EINVAL,
                "1:12: count() inside count()/sum(): aggregates do not nest");
    check_error("SELECT a FROM y LIMIT 0", TT_EINVAL, "1:17: LIMIT 0: must be at least 1");
    check_error("SELECT a FROM y BETWEEN 5 AND 4", TT_EINVAL,
                "1:17: BETWEEN 5 AND 4: the start is after the end");
}

/* ---- functions -------------------------------------------------------------------- */

static void test_rql_functions(void **state)
{
    (void)state;
    check_int("Int(\"42\")", 42);
    check_int("Int(\"-7\")", -7);
    check_int("Int(3.9)", 3);
    check_int("Int(-3.9)", -3);
    check_int("Int(TRUE)", 1);
    check_rt_error("Int(\"x1\")", "Int: cannot convert string \"x1\" to an integer");
    check_rt_error("Int(\"12 \")", "Int: cannot convert string \"12 \" to an integer");
    check_rt_error("Int(\"\")", "Int: cannot convert string \"\" to an integer");
    check_rt_error("Int(\"99999999999999999999\")",
                   "Int: cannot convert string \"99999999999999999999\" to an integer");
    check_rt_error("Int(1e300)", "Int: 1.0000000000000001e+300 is out of the integer range");
    check_float("Float(\"1.5\")", 1.5);
    check_float("Float(2)", 2.0);
    check_rt_error("Float(\"1.5x\")", "Float: cannot convert string \"1.5x\" to a number");
    check_str("Str(12)", "12");
    check_str("Str(1.5)", "1.5");
    check_str("Str(FALSE)", "false");
    check_str("StrReplace(\"tst12\", \"tst\", \"\")", "12");
    check_str("StrReplace(\"aaa\", \"a\", \"bb\")", "bbbbbb");
    check_str("StrReplace(\"abc\", \"\", \"x\")", "abc");
    check_rt_error("StrReplace(1, \"a\", \"b\")",
                   "StrReplace takes three strings, got int, string, string (use Str())");
    check_int("abs(-3)", 3);
    check_float("abs(-2.5)", 2.5);
    check_rt_error("abs(\"x\")", "abs needs a number, got string");
    check_int("min(3, 1, 2)", 1);
    check_int("max(3, 1, 2)", 3);
    check_float("max(1, 2.5)", 2.5);
    check_str("min(\"b\", \"a\")", "a");
    check_rt_error("min(1, \"a\")", "min() needs all numbers or all strings, got int and string");
    check_int("7 / 2", 3);
    check_int("-7 % 3", -1);
    check_float("7 / 2.0", 3.5);
    check_rt_error("1 / 0", "integer division by zero");
    check_rt_error("9223372036854775807 + 1", "integer overflow in 9223372036854775807 + 1");
    check_rt_error("\"1\" + 1",
                   "operator + needs numbers, got string and int (convert with Int() or Float())");
    check_bool("1 < 1.5", 1);
    check_bool("\"abc\" < \"abd\"", 1);
    check_bool("TRUE = TRUE", 1);
    check_bool("TRUE AND FALSE OR TRUE", 1);
    check_bool("FALSE AND 1", 0); /* short circuit: the int is never tested */
    check_rt_error("1 AND TRUE", "AND needs a condition (TRUE/FALSE), got 1");
    check_rt_error("\"1\" = 1",
                   "cannot compare string with int (convert with Int(), Float(), Str())");
    check_rt_error("TRUE < FALSE", "cannot compare bool with bool");
    check_rt_error("NOT 1", "NOT needs a condition (TRUE/FALSE), got 1");
}

/* ---- evaluation ------------------------------------------------------------------- */

static const char *VCLASH =
    "SELECT NODE($1), NODE($2), $1, $2 FROM kv "
    "WHEN Int(StrReplace(r1, \"tst\", \"\")) - Int(StrReplace(r1, \"tst\", \"\")) > 1";

static void test_rql_unlinked_binding(void **state)
{
    (void)state;
    struct memcut *mc = memcut_new();
    set(mc, "n1", "kv", "r1", sval("tst1"));
    set(mc, "n2", "kv", "r1", sval("tst2"));
    assert_int_equal(run(mc, VCLASH, NULL), 0); /* versions differ by one only */
    set(mc, "n3", "kv", "r1", sval("tst3"));
    struct rql_eval *ev = NULL;
    assert_int_equal(run(mc, VCLASH, &ev), 1);
    struct rql_query *q = parse_ok(VCLASH);
    char rows[512];
    rows_text(ev, mc, q, rows, sizeof rows);
    /* one binding: $1 on n3 (version 3), $2 on n1 (version 1) */
    assert_string_equal(rows, "n3,n1|n3 n1 tst3 tst1;");
    rql_query_free(q);
    done(ev);
    /* a variable's two occurrences never take one node: with one node, no pair */
    struct memcut *one = memcut_new();
    set(one, "n1", "kv", "r1", sval("tst1"));
    assert_int_equal(run(one, "SELECT 1 FROM kv WHEN r1 = r1", NULL), 0);
    set(one, "n2", "kv", "r1", sval("tst1"));
    assert_int_equal(run(one, "SELECT 1 FROM kv WHEN r1 = r1", NULL), 1);
    /* different variables may share a node */
    set(one, "n1", "kv", "r2", sval("tst1"));
    assert_int_equal(run(one, "SELECT 1 FROM kv WHEN r1 = r2 AND r1 != r1", NULL), 0);
    memcut_free(one);
    memcut_free(mc);
}

static void test_rql_rows_and_node_k(void **state)
{
    (void)state;
    struct memcut *mc = memcut_new();
    set(mc, "a", "app", "x", ival(1));
    set(mc, "b", "app", "x", ival(5));
    set(mc, "c", "app", "x", ival(9));
    set(mc, "a", "app", "y", ival(100));
    /* x occurs twice ($1, $2); $2 > 4 constrains the second occurrence (a
     * third "x > 4" would be a binding of its own) */
    const char *text = "SELECT NODE($2), x + 0, y FROM app WHEN x < x AND $2 > 4";
    struct rql_query *q = parse_ok(text);
    struct rql_eval *ev = NULL;
    char err[512];
    assert_int_equal(rql_eval_new(q, NULL, &memcut_ops, mc, &ev, err, sizeof err), 0);
    int match = 0;
    assert_int_equal(rql_eval_cut(ev, &match, err, sizeof err), 0);
    assert_int_equal(match, 1);
    char rows[512];
    rows_text(ev, mc, q, rows, sizeof rows);
    /* $1 < $2, $2 > 4: (a,b) (a,c) (b,c); y ($3) only on a */
    assert_string_equal(rows, "a,b,a|b 1 100;a,c,a|c 1 100;b,c,a|c 5 100;");
    rql_eval_free(ev);
    rql_query_free(q);
    memcut_free(mc);
}

static void test_rql_link_same_node(void **state)
{
    (void)state;
    /* staleness: a replica whose applied index trails its commit index by more than 10 */
    const char *text = "SELECT NODE($1), raft.commit - raft.applied FROM raft "
                       "WHEN raft.commit - raft.applied > 10 LINK SAME_NODE";
    struct memcut *mc = memcut_new();
    set(mc, "n1", "raft", "commit", ival(100));
    set(mc, "n1", "raft", "applied", ival(95));
    set(mc, "n2", "raft", "commit", ival(120));
    set(mc, "n2", "raft", "applied", ival(100));
    set(mc, "n3", "raft", "commit", ival(130)); /* no applied: not a candidate */
    struct rql_eval *ev = NULL;
    assert_int_equal(run(mc, text, &ev), 1);
    struct rql_query *q = parse_ok(text);
    char rows[256];
    rows_text(ev, mc, q, rows, sizeof rows);
    assert_string_equal(rows, "n2,n2|n2 20;");
    done(ev);
    rql_query_free(q);
    /* unlinked, the same condition pairs n3's commit with n1's applied */
    assert_int_equal(run(mc, "SELECT 1 FROM raft WHEN commit - applied > 30", NULL), 1);
    assert_int_equal(run(mc, "SELECT 1 FROM raft WHEN commit - applied > 30 LINK SAME_NODE", NULL),
                     0);
    memcut_free(mc);
}

static void test_rql_link_each_node(void **state)
{
    (void)state;
    const char *text = "SELECT NODE($1) FROM kv WHEN kv.up = TRUE LINK EACH_NODE";
    struct memcut *mc = memcut_new();
    assert_int_equal(
        memcut_set(mc, "n1", "kv", "other", &(struct rql_value){ .type = RQL_V_INT }, NULL, NULL),
        0);
    set(mc, "n1", "kv", "up", bval(1));
    set(mc, "n2", "kv", "up", bval(1));
    struct rql_eval *ev = NULL;
    assert_int_equal(run(mc, text, &ev), 1);
    struct rql_query *q = parse_ok(text);
    char rows[256];
    rows_text(ev, mc, q, rows, sizeof rows);
    assert_string_equal(rows, "n1|n1;n2|n2;"); /* one row per node */
    done(ev);
    rql_query_free(q);
    set(mc, "n3", "kv", "up", bval(0));
    assert_int_equal(run(mc, text, NULL), 0);
    memcut_free(mc);
}

static void test_rql_count_sum(void **state)
{
    (void)state;
    const char *text = "SELECT count(db.compacting = TRUE), sum(db.load) FROM db "
                       "WHEN count(db.compacting = TRUE) >= 2";
    struct memcut *mc = memcut_new();
    set(mc, "n1", "db", "compacting", bval(1));
    set(mc, "n2", "db", "compacting", bval(0));
    set(mc, "n3", "db", "compacting", bval(0));
    set(mc, "n1", "db", "load", ival(3));
    set(mc, "n2", "db", "load", ival(4));
    assert_int_equal(run(mc, text, NULL), 0);
    set(mc, "n3", "db", "compacting", bval(1));
    struct rql_eval *ev = NULL;
    assert_int_equal(run(mc, text, &ev), 1);
    struct rql_query *q = parse_ok(text);
    char rows[256];
    rows_text(ev, mc, q, rows, sizeof rows);
    assert_string_equal(rows, "|2 7;");
    done(ev);
    rql_query_free(q);
    /* sum of a string is a run-time error: counted, and the cut does not match */
    set(mc, "n3", "db", "load", sval("x"));
    assert_int_equal(run(mc, "SELECT 1 FROM db WHEN sum(load) > 0", &ev), 0);
    assert_int_equal(rql_eval_stats(ev)->runtime_errors, 1);
    assert_string_equal(rql_eval_stats(ev)->first_error,
                        "sum() needs numbers, got string \"x\" on node n3");
    done(ev);
    memcut_free(mc);
}

static void test_rql_combination_limit(void **state)
{
    (void)state;
    struct memcut *mc = memcut_new();
    char name[16];
    for (int k = 0; k < 50; k++) {
        snprintf(name, sizeof name, "n%d", k);
        set(mc, name, "kv", "v", ival(k));
    }
    struct rql_query *q = parse_ok("SELECT 1 FROM kv WHEN v + v + v > 1000");
    struct rql_eval *ev = NULL;
    struct rql_eval_opts o = { 1000, 0 };
    char err[512];
    assert_int_equal(rql_eval_new(q, &o, &memcut_ops, mc, &ev, err, sizeof err), 0);
    int match = 0;
    assert_int_equal(rql_eval_cut(ev, &match, err, sizeof err), TT_ETOOBIG);
    assert_string_equal(err, "the query would examine 117600 combinations in one cut (50 x 49 x "
                             "48 nodes for its 3 variable occurrences), more than the limit of "
                             "1000; narrow it: LINK SAME_NODE or LINK EACH_NODE, fewer "
                             "occurrences of a variable, count()/sum() over nodes, fewer "
                             "nodes, or a higher limit");
    rql_eval_free(ev);
    /* within the limit it runs */
    o.max_combinations = 200000;
    assert_int_equal(rql_eval_new(q, &o, &memcut_ops, mc, &ev, err, sizeof err), 0);
    assert_int_equal(rql_eval_cut(ev, &match, err, sizeof err), 0);
    assert_int_equal(match, 0); /* 49+48+47 = 144 at most */
    rql_eval_free(ev);
    rql_query_free(q);
    memcut_free(mc);
}

static void test_rql_unknown_variable(void **state)
{
    (void)state;
    struct memcut *mc = memcut_new();
    set(mc, "n1", "kv", "v", ival(1));
    struct rql_query *q = parse_ok("SELECT 1 FROM kv WHEN kv.w > 1");
    struct rql_eval *ev = NULL;
    char err[512];
    assert_int_equal(rql_eval_new(q, NULL, &memcut_ops, mc, &ev, err, sizeof err), TT_ENOTFOUND);
    assert_null(ev);
    assert_string_equal(err, "unknown variable kv.w: no node has reported it");
    rql_query_free(q);
    memcut_free(mc);
}

/* incremental evaluation agrees with full evaluation over a random walk of
 * changes, for each LINK; changes of unused variables are skipped. */
static void test_rql_incremental(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "SELECT 1 FROM s WHEN s.a + s.b > s.c + 12 LINK SAME_NODE",
        "SELECT 1 FROM s WHEN s.a + s.b > s.c LINK EACH_NODE",
        "SELECT 1 FROM s WHEN s.a - s.a > 5 AND s.b < 3",
        "SELECT 1 FROM s WHEN s.a + s.b > s.c + 12",
        "SELECT 1 FROM s WHEN count(s.a > 5) >= 2 LINK SAME_NODE",
    };
    static const char *const vars[] = { "a", "b", "c", "unused" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        struct memcut *mc = memcut_new();
        struct rql_query *q = parse_ok(texts[t]);
        char node[8];
        /* n3 and n4 appear (and gain their variables) during the walk */
        for (int n = 0; n < 3; n++) {
            snprintf(node, sizeof node, "n%d", n);
            for (int v = 0; v < 4; v++)
                set(mc, node, "s", vars[v], ival(0));
        }
        struct rql_eval *inc = NULL, *ful = NULL;
        char err[512];
        assert_int_equal(rql_eval_new(q, NULL, &memcut_ops, mc, &inc, err, sizeof err), 0);
        assert_int_equal(rql_eval_new(q, NULL, &memcut_ops, mc, &ful, err, sizeof err), 0);
        int m1 = 0, m2 = 0, matches = 0;
        assert_int_equal(rql_eval_cut(inc, &m1, err, sizeof err), 0);
        uint32_t seed = 12345;
        for (int step = 0; step < 3000; step++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t nd = (seed >> 16) % 5, v = (seed >> 20) % 4;
            struct rql_value val = ival((int64_t)((seed >> 8) % 10));
            uint32_t key, nid;
            snprintf(node, sizeof node, "n%u", nd);
            assert_int_equal(memcut_set(mc, node, "s", vars[v], &val, &key, &nid), 0);
            assert_int_equal(rql_eval_change(inc, key, nid, &m1, err, sizeof err), 0);
            assert_int_equal(rql_eval_cut(ful, &m2, err, sizeof err), 0);
            assert_int_equal(m1, m2);
            matches += m1;
        }
        if (matches == 0 || matches == 3000)
            fprintf(stderr, "query %zu: %d matches of 3000\n", t, matches);
        assert_true(matches > 0 && matches < 3000); /* both outcomes were exercised */
        assert_true(rql_eval_stats(inc)->skipped > 500);
        if (t < 2) /* linked: one node per change */
            assert_true(rql_eval_stats(inc)->bindings < rql_eval_stats(ful)->bindings / 2);
        rql_eval_free(inc);
        rql_eval_free(ful);
        rql_query_free(q);
        memcut_free(mc);
    }
}

/* every ```sql example of docs/rql.md parses */
static void test_rql_doc_examples(void **state)
{
    (void)state;
    FILE *f = fopen(TT_SOURCE_DIR "/docs/rql.md", "r");
    assert_non_null(f);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    int examples = 0;
    for (char *p = strstr(doc, "```sql\n"); p; p = strstr(p, "```sql\n")) {
        p += 7;
        char *end = strstr(p, "```");
        assert_non_null(end);
        struct rql_query *q = NULL;
        struct rql_error err;
        int rc = rql_parse(p, (size_t)(end - p), &q, &err);
        if (rc != 0)
            fprintf(stderr, "docs/rql.md example %d: %s\n", examples + 1, err.msg);
        assert_int_equal(rc, 0);
        rql_query_free(q);
        examples++;
        p = end + 3;
    }
    assert_true(examples >= 5);
}

UNIT_TESTS(cmocka_unit_test(test_rql_print_roundtrip), cmocka_unit_test(test_rql_precedence),
           cmocka_unit_test(test_rql_occurrences), cmocka_unit_test(test_rql_syntax_errors),
           cmocka_unit_test(test_rql_name_errors), cmocka_unit_test(test_rql_functions),
           cmocka_unit_test(test_rql_unlinked_binding), cmocka_unit_test(test_rql_rows_and_node_k),
           cmocka_unit_test(test_rql_link_same_node), cmocka_unit_test(test_rql_link_each_node),
           cmocka_unit_test(test_rql_count_sum), cmocka_unit_test(test_rql_combination_limit),
           cmocka_unit_test(test_rql_unknown_variable), cmocka_unit_test(test_rql_incremental),
           cmocka_unit_test(test_rql_doc_examples))
