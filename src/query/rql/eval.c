/*
 * eval.c - the RQL evaluator (eval.h). Expressions are walked as parsed
 * (the tree depth is capped by the parser); strings made while evaluating
 * (Str, StrReplace) live in a scratch arena reset for every binding, the
 * strings of rows in a row arena reset for every rql_eval_rows call.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "query/rql/eval.h"

/* A chunked arena: pointers handed out stay put until the reset. */
struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
};

struct arena {
    struct chunk *head;
};

static void arena_reset(struct arena *a)
{
    /* keep the first chunk (the usual case needs one), drop the rest */
    if (a->head == NULL)
        return;
    while (a->head->next) {
        struct chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
    a->head->used = 0;
}

static void arena_free(struct arena *a)
{
    while (a->head) {
        struct chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
}

static char *arena_alloc(struct arena *a, size_t n)
{
    if (a->head == NULL || a->head->cap - a->head->used < n) {
        size_t cap = n + 8 > 4096 ? n + 8 : 4096;
        struct chunk *c = malloc(sizeof *c + cap);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    char *p = a->head->data + a->head->used;
    /* keep every allocation 8-byte aligned: rows hold values in the arena */
    a->head->used += (n + 7) & ~(size_t)7;
    if (a->head->used > a->head->cap)
        a->head->used = a->head->cap;
    return p;
}

enum node_state { NS_ABSENT, NS_PASS, NS_FAIL };

struct rql_eval {
    const struct rql_query *q;
    const struct rql_cut_ops *ops;
    void *cut;
    uint64_t max_comb;
    uint32_t max_rows;
    uint32_t *keys;    /* per query variable */
    uint8_t *used_key; /* per cut key < nused_key: 1 if the query reads it */
    uint32_t nused_key;
    uint32_t *bind;                 /* per occurrence: the node it took */
    uint32_t *witness;              /* unlinked: the binding that made the last cut match */
    uint32_t fixed_occ, fixed_node; /* enumerate: occurrence held on one node */
    int has_agg_when;
    int valid; /* last result can be reused */
    int match;
    /* per-node state (LINK SAME_NODE / EACH_NODE) */
    uint8_t *state;
    uint32_t nstate, npass, nfail;
    struct arena scratch, rowmem;
    struct rql_row *rows;
    uint32_t nrows, caprows;
    struct rql_eval_stats st;
    /* run-time error of the binding being evaluated */
    char rterr[256];
    int full_rows; /* enumerate SELECT-only occurrences too */
};

static void rt_error(struct rql_eval *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void rt_error(struct rql_eval *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->rterr, sizeof ev->rterr, fmt, ap);
    va_end(ap);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *type_name(uint8_t t)
{
    switch (t) {
    case RQL_V_INT:
        return "int";
    case RQL_V_FLOAT:
        return "float";
    case RQL_V_STR:
        return "string";
    case RQL_V_BOOL:
        return "bool";
    default:
        return "null";
    }
}

static void set_int(struct rql_value *v, int64_t i)
{
    v->type = RQL_V_INT;
    v->u.i = i;
}

static void set_float(struct rql_value *v, double f)
{
    v->type = RQL_V_FLOAT;
    v->u.f = f;
}

static void set_bool(struct rql_value *v, int b)
{
    v->type = RQL_V_BOOL;
    v->u.b = b != 0;
}

static int is_num(const struct rql_value *v)
{
    return v->type == RQL_V_INT || v->type == RQL_V_FLOAT;
}

static double as_f(const struct rql_value *v)
{
    return v->type == RQL_V_INT ? (double)v->u.i : v->u.f;
}

/* quote a value for messages: string clipped at 40 bytes. */
static void show(const struct rql_value *v, char *out, size_t n)
{
    switch (v->type) {
    case RQL_V_INT:
        snprintf(out, n, "%" PRId64, v->u.i);
        break;
    case RQL_V_FLOAT:
        snprintf(out, n, "%.17g", v->u.f);
        break;
    case RQL_V_BOOL:
        snprintf(out, n, "%s", v->u.b ? "TRUE" : "FALSE");
        break;
    case RQL_V_STR:
        snprintf(out, n, "string \"%.*s%s\"", (int)(v->u.s.len > 40 ? 40 : v->u.s.len), v->u.s.p,
                 v->u.s.len > 40 ? "..." : "");
        break;
    default:
        snprintf(out, n, "null");
        break;
    }
}

static int make_str(struct rql_eval *ev, struct rql_value *v, const char *s, size_t n)
{
    char *p = arena_alloc(&ev->scratch, n ? n : 1);
    if (p == NULL) {
        rt_error(ev, "out of memory");
        return TT_ENOMEM;
    }
    if (n)
        memcpy(p, s, n);
    v->type = RQL_V_STR;
    v->u.s.p = p;
    v->u.s.len = n;
    return 0;
}

static int eval_node(struct rql_eval *ev, const struct rql_node *n, uint32_t agg_node,
                     struct rql_value *out);

static int fn_int(struct rql_eval *ev, const struct rql_value *a, struct rql_value *out)
{
    char buf[80];
    switch (a->type) {
    case RQL_V_INT:
        *out = *a;
        return 0;
    case RQL_V_BOOL:
        set_int(out, a->u.b);
        return 0;
    case RQL_V_FLOAT:
        if (!isfinite(a->u.f) || a->u.f >= 9223372036854775808.0 ||
            a->u.f < -9223372036854775808.0) {
            show(a, buf, sizeof buf);
            rt_error(ev, "Int: %s is out of the integer range", buf);
            return TT_EINVAL;
        }
        set_int(out, (int64_t)a->u.f);
        return 0;
    case RQL_V_STR: {
        char tmp[32];
        size_t len = a->u.s.len;
        if (len == 0 || len >= sizeof tmp)
            goto bad;
        memcpy(tmp, a->u.s.p, len);
        tmp[len] = 0;
        if (!(tmp[0] == '-' || tmp[0] == '+' || (tmp[0] >= '0' && tmp[0] <= '9')))
            goto bad;
        errno = 0;
        char *end = NULL;
        long long v = strtoll(tmp, &end, 10);
        if (errno != 0 || end != tmp + len)
            goto bad;
        set_int(out, v);
        return 0;
    }
    default:
        break;
    }
bad:
    show(a, buf, sizeof buf);
    rt_error(ev, "Int: cannot convert %s to an integer", buf);
    return TT_EINVAL;
}

static int fn_float(struct rql_eval *ev, const struct rql_value *a, struct rql_value *out)
{
    char buf[80];
    switch (a->type) {
    case RQL_V_INT:
        set_float(out, (double)a->u.i);
        return 0;
    case RQL_V_FLOAT:
        *out = *a;
        return 0;
    case RQL_V_BOOL:
        set_float(out, a->u.b);
        return 0;
    case RQL_V_STR: {
        char tmp[64];
        size_t len = a->u.s.len;
        if (len == 0 || len >= sizeof tmp || a->u.s.p[0] == ' ' || a->u.s.p[0] == '\t')
            break;
        memcpy(tmp, a->u.s.p, len);
        tmp[len] = 0;
        char *end = NULL;
        double v = strtod(tmp, &end);
        if (end != tmp + len)
            break;
        set_float(out, v);
        return 0;
    }
    default:
        break;
    }
    show(a, buf, sizeof buf);
    rt_error(ev, "Float: cannot convert %s to a number", buf);
    return TT_EINVAL;
}

static int fn_str(struct rql_eval *ev, const struct rql_value *a, struct rql_value *out)
{
    char tmp[64];
    switch (a->type) {
    case RQL_V_STR:
        *out = *a;
        return 0;
    case RQL_V_INT:
        snprintf(tmp, sizeof tmp, "%" PRId64, a->u.i);
        break;
    case RQL_V_FLOAT:
        snprintf(tmp, sizeof tmp, "%.17g", a->u.f);
        break;
    case RQL_V_BOOL:
        snprintf(tmp, sizeof tmp, "%s", a->u.b ? "true" : "false");
        break;
    default:
        snprintf(tmp, sizeof tmp, "null");
        break;
    }
    return make_str(ev, out, tmp, strlen(tmp));
}

static int fn_replace(struct rql_eval *ev, const struct rql_value *s, const struct rql_value *from,
                      const struct rql_value *to, struct rql_value *out)
{
    if (s->type != RQL_V_STR || from->type != RQL_V_STR || to->type != RQL_V_STR) {
        rt_error(ev, "StrReplace takes three strings, got %s, %s, %s (use Str())",
                 type_name(s->type), type_name(from->type), type_name(to->type));
        return TT_EINVAL;
    }
    size_t fl = from->u.s.len, tl = to->u.s.len, sl = s->u.s.len;
    if (fl == 0 || fl > sl) {
        *out = *s;
        return 0;
    }
    /* count first, so the result is allocated once */
    size_t hits = 0;
    for (size_t k = 0; k + fl <= sl;) {
        if (memcmp(s->u.s.p + k, from->u.s.p, fl) == 0) {
            hits++;
            k += fl;
        } else {
            k++;
        }
    }
    if (hits == 0) {
        *out = *s;
        return 0;
    }
    size_t outlen = sl - hits * fl + hits * tl;
    if (outlen > RQL_MAX_STRING_BYTES) {
        rt_error(ev, "StrReplace: the result (%zu bytes) is longer than the %u allowed", outlen,
                 RQL_MAX_STRING_BYTES);
        return TT_EINVAL;
    }
    char *p = arena_alloc(&ev->scratch, outlen ? outlen : 1);
    if (p == NULL) {
        rt_error(ev, "out of memory");
        return TT_ENOMEM;
    }
    size_t o = 0;
    for (size_t k = 0; k < sl;) {
        if (k + fl <= sl && memcmp(s->u.s.p + k, from->u.s.p, fl) == 0) {
            memcpy(p + o, to->u.s.p, tl);
            o += tl;
            k += fl;
        } else {
            p[o++] = s->u.s.p[k++];
        }
    }
    out->type = RQL_V_STR;
    out->u.s.p = p;
    out->u.s.len = o;
    return 0;
}

/* compare: returns 0 and *c (<0, 0, >0), or TT_EINVAL for values of kinds
 * that do not compare (eq_only: bools compare for = and != only). */
static int compare(struct rql_eval *ev, const struct rql_value *a, const struct rql_value *b,
                   int eq_only, int *c)
{
    if (is_num(a) && is_num(b)) {
        if (a->type == RQL_V_INT && b->type == RQL_V_INT)
            *c = (a->u.i > b->u.i) - (a->u.i < b->u.i);
        else
            *c = (as_f(a) > as_f(b)) - (as_f(a) < as_f(b));
        return 0;
    }
    if (a->type == RQL_V_STR && b->type == RQL_V_STR) {
        size_t m = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        int r = m ? memcmp(a->u.s.p, b->u.s.p, m) : 0;
        *c = r ? r : (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
        return 0;
    }
    if (a->type == RQL_V_BOOL && b->type == RQL_V_BOOL && eq_only) {
        *c = a->u.b != b->u.b;
        return 0;
    }
    rt_error(ev, "cannot compare %s with %s%s", type_name(a->type), type_name(b->type),
             a->type == RQL_V_STR || b->type == RQL_V_STR ? " (convert with Int(), Float(), Str())"
                                                          : "");
    return TT_EINVAL;
}

static int arith(struct rql_eval *ev, uint8_t op, const struct rql_value *a,
                 const struct rql_value *b, struct rql_value *out)
{
    static const char *const sym[] = { [RQL_OP_ADD] = "+",
                                       [RQL_OP_SUB] = "-",
                                       [RQL_OP_MUL] = "*",
                                       [RQL_OP_DIV] = "/",
                                       [RQL_OP_MOD] = "%" };
    if (!is_num(a) || !is_num(b)) {
        rt_error(ev, "operator %s needs numbers, got %s and %s%s", sym[op], type_name(a->type),
                 type_name(b->type),
                 a->type == RQL_V_STR || b->type == RQL_V_STR ? " (convert with Int() or Float())"
                                                              : "");
        return TT_EINVAL;
    }
    if (a->type == RQL_V_INT && b->type == RQL_V_INT) {
        int64_t x = a->u.i, y = b->u.i, r = 0;
        int ovf = 0;
        switch (op) {
        case RQL_OP_ADD:
            ovf = __builtin_add_overflow(x, y, &r);
            break;
        case RQL_OP_SUB:
            ovf = __builtin_sub_overflow(x, y, &r);
            break;
        case RQL_OP_MUL:
            ovf = __builtin_mul_overflow(x, y, &r);
            break;
        case RQL_OP_DIV:
        case RQL_OP_MOD:
            if (y == 0) {
                rt_error(ev, "integer %s by zero", op == RQL_OP_DIV ? "division" : "modulo");
                return TT_EINVAL;
            }
            if (x == INT64_MIN && y == -1) {
                ovf = 1;
                break;
            }
            r = op == RQL_OP_DIV ? x / y : x % y;
            break;
        default:
            break;
        }
        if (ovf) {
            rt_error(ev, "integer overflow in %" PRId64 " %s %" PRId64, x, sym[op], y);
            return TT_EINVAL;
        }
        set_int(out, r);
        return 0;
    }
    double x = as_f(a), y = as_f(b), r = 0;
    switch (op) {
    case RQL_OP_ADD:
        r = x + y;
        break;
    case RQL_OP_SUB:
        r = x - y;
        break;
    case RQL_OP_MUL:
        r = x * y;
        break;
    case RQL_OP_DIV:
        r = x / y;
        break;
    case RQL_OP_MOD:
        r = fmod(x, y);
        break;
    default:
        break;
    }
    set_float(out, r);
    return 0;
}

static int want_bool(struct rql_eval *ev, const struct rql_value *v, const char *what)
{
    if (v->type == RQL_V_BOOL)
        return 0;
    char buf[80];
    show(v, buf, sizeof buf);
    rt_error(ev, "%s needs a condition (TRUE/FALSE), got %s", what, buf);
    return TT_EINVAL;
}

/* nodes_of_agg: the nodes an aggregate ranges over are those having every
 * variable inside it; collect its variables' keys. */
static void agg_keys(const struct rql_eval *ev, const struct rql_node *n, uint32_t *keys,
                     uint32_t *nk, uint32_t cap)
{
    if (n->type == RQL_VAR && n->in_agg) {
        uint32_t key = ev->keys[n->var];
        for (uint32_t k = 0; k < *nk; k++)
            if (keys[k] == key)
                return;
        if (*nk < cap)
            keys[(*nk)++] = key;
    }
    for (uint32_t k = 0; k < n->nkids; k++)
        agg_keys(ev, n->kids[k], keys, nk, cap);
}

static int node_has_all(struct rql_eval *ev, uint32_t node, const uint32_t *keys, uint32_t nk)
{
    struct rql_value v;
    for (uint32_t k = 0; k < nk; k++)
        if (!ev->ops->value(ev->cut, node, keys[k], &v))
            return 0;
    return 1;
}

static int eval_agg(struct rql_eval *ev, const struct rql_node *n, struct rql_value *out)
{
    uint32_t keys[64], nk = 0;
    if (ev->ops == NULL) {
        rt_error(ev, "%s() needs a cut", rql_fn_name(n->fn));
        return TT_EINVAL;
    }
    agg_keys(ev, n->kids[0], keys, &nk, 64);
    uint32_t nn = ev->ops ? ev->ops->node_count(ev->cut) : 0;
    int64_t cnt = 0, isum = 0;
    double fsum = 0;
    int is_float = 0;
    for (uint32_t node = 0; node < nn; node++) {
        if (!node_has_all(ev, node, keys, nk))
            continue;
        struct rql_value v;
        int rc = eval_node(ev, n->kids[0], node, &v);
        if (rc != 0)
            return rc;
        if (n->fn == RQL_FN_COUNT) {
            if ((rc = want_bool(ev, &v, "count()")) != 0)
                return rc;
            cnt += v.u.b;
        } else if (v.type == RQL_V_INT && !is_float) {
            if (__builtin_add_overflow(isum, v.u.i, &isum)) {
                rt_error(ev, "sum(): integer overflow");
                return TT_EINVAL;
            }
        } else if (is_num(&v)) {
            if (!is_float) {
                fsum = (double)isum;
                is_float = 1;
            }
            fsum += as_f(&v);
        } else {
            char buf[80];
            show(&v, buf, sizeof buf);
            rt_error(ev, "sum() needs numbers, got %s on node %s", buf,
                     ev->ops->node_name(ev->cut, node));
            return TT_EINVAL;
        }
    }
    if (n->fn == RQL_FN_COUNT)
        set_int(out, cnt);
    else if (is_float)
        set_float(out, fsum);
    else
        set_int(out, isum);
    return 0;
}

static int eval_call(struct rql_eval *ev, const struct rql_node *n, uint32_t agg_node,
                     struct rql_value *out)
{
    struct rql_value a[3];
    int rc;
    switch (n->fn) {
    case RQL_FN_COUNT:
    case RQL_FN_SUM:
        return eval_agg(ev, n, out);
    case RQL_FN_NODE: {
        if (ev->ops == NULL) {
            rt_error(ev, "NODE() needs a cut");
            return TT_EINVAL;
        }
        uint32_t node = ev->bind[n->kids[0]->occ - 1];
        const char *name = ev->ops ? ev->ops->node_name(ev->cut, node) : "";
        out->type = RQL_V_STR;
        out->u.s.p = name;
        out->u.s.len = strlen(name);
        return 0;
    }
    case RQL_FN_MIN:
    case RQL_FN_MAX: {
        if ((rc = eval_node(ev, n->kids[0], agg_node, out)) != 0)
            return rc;
        for (uint32_t k = 1; k < n->nkids; k++) {
            if ((rc = eval_node(ev, n->kids[k], agg_node, &a[0])) != 0)
                return rc;
            int c = 0;
            if ((!is_num(out) && out->type != RQL_V_STR) || compare(ev, &a[0], out, 0, &c) != 0) {
                rt_error(ev, "%s() needs all numbers or all strings, got %s and %s",
                         rql_fn_name(n->fn), type_name(out->type), type_name(a[0].type));
                return TT_EINVAL;
            }
            if ((n->fn == RQL_FN_MIN && c < 0) || (n->fn == RQL_FN_MAX && c > 0))
                *out = a[0];
        }
        if (!is_num(out) && out->type != RQL_V_STR) {
            rt_error(ev, "%s() needs numbers or strings, got %s", rql_fn_name(n->fn),
                     type_name(out->type));
            return TT_EINVAL;
        }
        return 0;
    }
    default:
        break;
    }
    for (uint32_t k = 0; k < n->nkids && k < 3; k++)
        if ((rc = eval_node(ev, n->kids[k], agg_node, &a[k])) != 0)
            return rc;
    switch (n->fn) {
    case RQL_FN_INT:
        return fn_int(ev, &a[0], out);
    case RQL_FN_FLOAT:
        return fn_float(ev, &a[0], out);
    case RQL_FN_STR:
        return fn_str(ev, &a[0], out);
    case RQL_FN_STRREPLACE:
        return fn_replace(ev, &a[0], &a[1], &a[2], out);
    case RQL_FN_ABS:
        if (a[0].type == RQL_V_INT) {
            if (a[0].u.i == INT64_MIN) {
                rt_error(ev, "abs: integer overflow");
                return TT_EINVAL;
            }
            set_int(out, a[0].u.i < 0 ? -a[0].u.i : a[0].u.i);
            return 0;
        }
        if (a[0].type == RQL_V_FLOAT) {
            set_float(out, fabs(a[0].u.f));
            return 0;
        }
        rt_error(ev, "abs needs a number, got %s", type_name(a[0].type));
        return TT_EINVAL;
    default:
        break;
    }
    rt_error(ev, "unknown function");
    return TT_EINVAL;
}

static int eval_node(struct rql_eval *ev, const struct rql_node *n, uint32_t agg_node,
                     struct rql_value *out)
{
    int rc;
    switch (n->type) {
    case RQL_LIT:
        *out = n->lit;
        return 0;
    case RQL_OCC:
    case RQL_VAR: {
        uint32_t var = n->type == RQL_VAR ? n->var : ev->q->occs[n->occ - 1].var;
        if (ev->ops == NULL) {
            rt_error(ev, "%s.%s needs a cut", ev->q->vars[var].log, ev->q->vars[var].name);
            return TT_EINVAL;
        }
        uint32_t node = (n->type == RQL_VAR && n->in_agg) ? agg_node : ev->bind[n->occ - 1];
        if (!ev->ops->value(ev->cut, node, ev->keys[var], out)) {
            rt_error(ev, "%s.%s has no value on node %s", ev->q->vars[var].log,
                     ev->q->vars[var].name, ev->ops->node_name(ev->cut, node));
            return TT_EINVAL;
        }
        return 0;
    }
    case RQL_UNARY: {
        if ((rc = eval_node(ev, n->kids[0], agg_node, out)) != 0)
            return rc;
        if (n->op == RQL_OP_NOT) {
            if ((rc = want_bool(ev, out, "NOT")) != 0)
                return rc;
            out->u.b = !out->u.b;
            return 0;
        }
        if (out->type == RQL_V_INT && out->u.i != INT64_MIN) {
            out->u.i = -out->u.i;
            return 0;
        }
        if (out->type == RQL_V_FLOAT) {
            out->u.f = -out->u.f;
            return 0;
        }
        rt_error(ev, "unary - needs a number, got %s", type_name(out->type));
        return TT_EINVAL;
    }
    case RQL_BINARY: {
        struct rql_value b;
        if ((rc = eval_node(ev, n->kids[0], agg_node, out)) != 0)
            return rc;
        if (n->op == RQL_OP_AND || n->op == RQL_OP_OR) {
            const char *w = n->op == RQL_OP_AND ? "AND" : "OR";
            if ((rc = want_bool(ev, out, w)) != 0)
                return rc;
            if (out->u.b == (n->op == RQL_OP_OR))
                return 0; /* short circuit */
            if ((rc = eval_node(ev, n->kids[1], agg_node, out)) != 0)
                return rc;
            return want_bool(ev, out, w);
        }
        if ((rc = eval_node(ev, n->kids[1], agg_node, &b)) != 0)
            return rc;
        if (n->op >= RQL_OP_EQ && n->op <= RQL_OP_GE) {
            int c = 0;
            int eq_only = n->op == RQL_OP_EQ || n->op == RQL_OP_NE;
            if ((rc = compare(ev, out, &b, eq_only, &c)) != 0)
                return rc;
            int r = 0;
            switch (n->op) {
            case RQL_OP_EQ:
                r = c == 0;
                break;
            case RQL_OP_NE:
                r = c != 0;
                break;
            case RQL_OP_LT:
                r = c < 0;
                break;
            case RQL_OP_LE:
                r = c <= 0;
                break;
            case RQL_OP_GT:
                r = c > 0;
                break;
            default:
                r = c >= 0;
                break;
            }
            set_bool(out, r);
            return 0;
        }
        struct rql_value a = *out;
        return arith(ev, n->op, &a, &b, out);
    }
    case RQL_CALL:
        return eval_call(ev, n, agg_node, out);
    default:
        break;
    }
    rt_error(ev, "bad node");
    return TT_EINVAL;
}

/* ---- bindings ------------------------------------------------------------------- */

static int has_agg(const struct rql_node *n)
{
    if (n == NULL)
        return 0;
    if (n->type == RQL_CALL && (n->fn == RQL_FN_COUNT || n->fn == RQL_FN_SUM))
        return 1;
    for (uint32_t k = 0; k < n->nkids; k++)
        if (has_agg(n->kids[k]))
            return 1;
    return 0;
}

static void count_error(struct rql_eval *ev)
{
    ev->st.runtime_errors++;
    if (ev->st.first_error[0] == 0)
        snprintf(ev->st.first_error, sizeof ev->st.first_error, "%s", ev->rterr);
}

/* eval_when: 1 if the WHEN holds for the current binding, 0 if not (or on
 * a run-time error, counted), TT_ENOMEM. */
static int eval_when(struct rql_eval *ev)
{
    ev->st.bindings++;
    if (ev->q->when == NULL)
        return 1;
    struct rql_value v;
    arena_reset(&ev->scratch);
    int rc = eval_node(ev, ev->q->when, 0, &v);
    if (rc == 0)
        rc = want_bool(ev, &v, "WHEN");
    if (rc == TT_ENOMEM)
        return rc;
    if (rc != 0) {
        count_error(ev);
        return 0;
    }
    return v.u.b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* combinations: how many bindings occurrences 1..nocc have in this cut
 * (occurrences of one variable on distinct nodes). */
static uint64_t combinations(struct rql_eval *ev, uint32_t nocc, char *desc, size_t desclen)
{
    uint64_t total = 1;
    size_t o = 0;
    if (desclen)
        desc[0] = 0;
    for (uint32_t k = 0; k < nocc; k++) {
        uint32_t var = ev->q->occs[k].var, before = 0;
        for (uint32_t j = 0; j < k; j++)
            before += ev->q->occs[j].var == var;
        const uint32_t *nodes;
        uint32_t n = ev->ops->nodes(ev->cut, ev->keys[var], &nodes);
        uint64_t choices = n > before ? n - before : 0;
        total = sat_mul(total, choices);
        if (o < desclen)
            o += (size_t)snprintf(desc + o, desclen - o, "%s%" PRIu64, k ? " x " : "", choices);
    }
    return total;
}

typedef int (*binding_fn)(struct rql_eval *ev, void *arg);

/* enumerate calls fn for every binding of occurrences k..nocc-1 (fn returns
 * 1 to stop, 0 to go on, <0 error). */
static int enumerate(struct rql_eval *ev, uint32_t k, uint32_t nocc, binding_fn fn, void *arg)
{
    if (k == nocc)
        return fn(ev, arg);
    uint32_t var = ev->q->occs[k].var;
    const uint32_t *nodes;
    uint32_t n = ev->ops->nodes(ev->cut, ev->keys[var], &nodes);
    for (uint32_t i = 0; i < n; i++) {
        if (k == ev->fixed_occ && nodes[i] != ev->fixed_node)
            continue;
        int taken = 0;
        for (uint32_t j = 0; j < k && !taken; j++)
            taken = ev->q->occs[j].var == var && ev->bind[j] == nodes[i];
        if (taken)
            continue;
        ev->bind[k] = nodes[i];
        int rc = enumerate(ev, k + 1, nocc, fn, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int stop_on_match(struct rql_eval *ev, void *arg)
{
    int *match = arg;
    int r = eval_when(ev);
    if (r < 0)
        return r;
    if (r) {
        *match = 1;
        memcpy(ev->witness, ev->bind, ev->q->nwhen_occ * sizeof *ev->bind);
        return 1;
    }
    return 0;
}

static int check_limit(struct rql_eval *ev, uint32_t nocc, char *err, size_t errlen)
{
    char desc[200];
    uint64_t c = combinations(ev, nocc, desc, sizeof desc);
    if (c <= ev->max_comb)
        return 0;
    seterr(err, errlen,
           "the query would examine %" PRIu64 " combinations in one cut (%s nodes for its %u "
           "variable occurrences), more than the limit of %" PRIu64
           "; narrow it: LINK SAME_NODE or LINK EACH_NODE, fewer occurrences of a variable, "
           "count()/sum() over nodes, fewer nodes, or a higher limit",
           c == UINT64_MAX ? (uint64_t)UINT64_MAX : c, desc, nocc, ev->max_comb);
    return TT_ETOOBIG;
}

/* linked: every occurrence on one node. */
static void bind_all(struct rql_eval *ev, uint32_t node)
{
    for (uint32_t k = 0; k < ev->q->nocc; k++)
        ev->bind[k] = node;
}

static int node_has_query(struct rql_eval *ev, uint32_t node)
{
    struct rql_value v;
    for (uint32_t k = 0; k < ev->q->nocc; k++)
        if (!ev->ops->value(ev->cut, node, ev->keys[ev->q->occs[k].var], &v))
            return 0;
    return 1;
}

static int grow_state(struct rql_eval *ev, uint32_t n)
{
    if (n <= ev->nstate)
        return 0;
    uint8_t *s = realloc(ev->state, n);
    if (s == NULL)
        return TT_ENOMEM;
    memset(s + ev->nstate, NS_ABSENT, n - ev->nstate);
    ev->state = s;
    ev->nstate = n;
    return 0;
}

static int update_node(struct rql_eval *ev, uint32_t node)
{
    uint8_t ns = NS_ABSENT;
    if (node_has_query(ev, node)) {
        bind_all(ev, node);
        int r = eval_when(ev);
        if (r < 0)
            return r;
        ns = r ? NS_PASS : NS_FAIL;
    }
    uint8_t old = ev->state[node];
    ev->npass -= old == NS_PASS;
    ev->nfail -= old == NS_FAIL;
    ev->npass += ns == NS_PASS;
    ev->nfail += ns == NS_FAIL;
    ev->state[node] = ns;
    return 0;
}

static int linked_result(const struct rql_eval *ev)
{
    if (ev->q->link == RQL_LINK_SAME_NODE)
        return ev->npass > 0;
    return ev->npass > 0 && ev->nfail == 0;
}

static int full(struct rql_eval *ev, int *match, char *err, size_t errlen)
{
    int rc;
    *match = 0;
    ev->valid = 0;
    if (ev->q->link != RQL_LINK_NONE) {
        uint32_t nn = ev->ops->node_count(ev->cut);
        if ((rc = grow_state(ev, nn)) != 0)
            return rc;
        memset(ev->state, NS_ABSENT, ev->nstate);
        ev->npass = ev->nfail = 0;
        for (uint32_t node = 0; node < nn; node++)
            if ((rc = update_node(ev, node)) != 0)
                return rc;
        *match = linked_result(ev);
    } else {
        if ((rc = check_limit(ev, ev->q->nwhen_occ, err, errlen)) != 0)
            return rc;
        rc = enumerate(ev, 0, ev->q->nwhen_occ, stop_on_match, match);
        if (rc < 0)
            return rc;
    }
    ev->match = *match;
    ev->valid = 1;
    return 0;
}

/* unlinked_change: after a change of key on node, only bindings that put
 * node on an occurrence of key can differ. A match stands while its witness
 * does not use the changed value; no match can only turn into one through
 * such a binding. Returns 0 (decided, *match set), 1 (evaluate in full) or
 * an error. */
static int unlinked_change(struct rql_eval *ev, uint32_t key, uint32_t node, int *match, char *err,
                           size_t errlen)
{
    const struct rql_query *q = ev->q;
    int touched = 0;
    for (uint32_t k = 0; k < q->nwhen_occ; k++) {
        if (ev->keys[q->occs[k].var] != key)
            continue;
        touched = 1;
        if (ev->match && ev->witness[k] == node)
            return 1; /* the witness read the old value */
    }
    if (!touched || ev->match) {
        *match = ev->match;
        return 0;
    }
    int rc = check_limit(ev, q->nwhen_occ, err, errlen);
    if (rc != 0) {
        ev->valid = 0;
        return rc;
    }
    int m = 0;
    for (uint32_t k = 0; k < q->nwhen_occ && !m; k++) {
        if (ev->keys[q->occs[k].var] != key)
            continue;
        ev->fixed_occ = k;
        ev->fixed_node = node;
        rc = enumerate(ev, 0, q->nwhen_occ, stop_on_match, &m);
        ev->fixed_occ = UINT32_MAX;
        if (rc < 0) {
            ev->valid = 0;
            return rc;
        }
    }
    *match = ev->match = m;
    return 0;
}

int rql_eval_cut(struct rql_eval *ev, int *match, char *err, size_t errlen)
{
    ev->st.cuts++;
    return full(ev, match, err, errlen);
}

int rql_eval_change(struct rql_eval *ev, uint32_t key, uint32_t node, int *match, char *err,
                    size_t errlen)
{
    ev->st.cuts++;
    if (ev->valid && (key >= ev->nused_key || !ev->used_key[key])) {
        ev->st.skipped++;
        *match = ev->match;
        return 0;
    }
    if (ev->valid && ev->q->link != RQL_LINK_NONE && !ev->has_agg_when) {
        int rc = grow_state(ev, ev->ops->node_count(ev->cut));
        if (rc == 0 && node < ev->nstate)
            rc = update_node(ev, node);
        if (rc != 0) {
            ev->valid = 0;
            return rc;
        }
        if (node < ev->nstate) {
            *match = ev->match = linked_result(ev);
            return 0;
        }
    }
    if (ev->valid && ev->q->link == RQL_LINK_NONE && !ev->has_agg_when) {
        int rc = unlinked_change(ev, key, node, match, err, errlen);
        if (rc != 1)
            return rc;
    }
    return full(ev, match, err, errlen);
}

/* ---- rows ----------------------------------------------------------------------- */

static int copy_value(struct rql_eval *ev, struct rql_value *v)
{
    if (v->type != RQL_V_STR)
        return 0;
    char *p = arena_alloc(&ev->rowmem, v->u.s.len ? v->u.s.len : 1);
    if (p == NULL)
        return TT_ENOMEM;
    if (v->u.s.len)
        memcpy(p, v->u.s.p, v->u.s.len);
    v->u.s.p = p;
    return 0;
}

/* add_row: the SELECT values of the current binding (a run-time error in
 * a SELECT expression gives a null value and is counted). */
static int add_row(struct rql_eval *ev)
{
    const struct rql_query *q = ev->q;
    if (ev->nrows == ev->caprows) {
        uint32_t cap = ev->caprows ? ev->caprows * 2 : 8;
        struct rql_row *r = realloc(ev->rows, cap * sizeof *r);
        if (r == NULL)
            return TT_ENOMEM;
        ev->rows = r;
        ev->caprows = cap;
    }
    struct rql_row *row = &ev->rows[ev->nrows];
    row->values = (struct rql_value *)(void *)arena_alloc(
        &ev->rowmem, q->nselect * sizeof(struct rql_value) + sizeof(struct rql_value));
    row->nodes = (uint32_t *)(void *)arena_alloc(&ev->rowmem, (q->nocc + 1) * sizeof(uint32_t));
    if (row->values == NULL || row->nodes == NULL)
        return TT_ENOMEM;
    /* values are aligned: the arena hands out 8-byte multiples first */
    memcpy(row->nodes, ev->bind, q->nocc * sizeof(uint32_t));
    for (uint32_t k = 0; k < q->nselect; k++) {
        arena_reset(&ev->scratch);
        int rc = eval_node(ev, q->select[k], 0, &row->values[k]);
        if (rc == TT_ENOMEM)
            return rc;
        if (rc != 0) {
            count_error(ev);
            row->values[k].type = RQL_V_NULL;
        } else if (copy_value(ev, &row->values[k]) != 0) {
            return TT_ENOMEM;
        }
    }
    ev->nrows++;
    return 0;
}

static int row_if_match(struct rql_eval *ev, void *arg)
{
    (void)arg;
    int r = eval_when(ev);
    if (r <= 0)
        return r;
    int rc = add_row(ev);
    if (rc != 0)
        return rc;
    return ev->nrows >= ev->max_rows;
}

static int row_select_only(struct rql_eval *ev, void *arg)
{
    (void)arg;
    int rc = add_row(ev);
    if (rc != 0)
        return rc;
    return ev->nrows >= ev->max_rows;
}

static int row_when_then_select(struct rql_eval *ev, void *arg)
{
    (void)arg;
    int r = eval_when(ev);
    if (r <= 0)
        return r;
    int rc = enumerate(ev, ev->q->nwhen_occ, ev->q->nocc, row_select_only, NULL);
    return rc < 0 ? rc : ev->nrows >= ev->max_rows;
}

int rql_eval_rows(struct rql_eval *ev, const struct rql_row **rows, uint32_t *n, char *err,
                  size_t errlen)
{
    int rc = 0;
    ev->nrows = 0;
    arena_reset(&ev->rowmem);
    *rows = NULL;
    *n = 0;
    if (ev->q->link != RQL_LINK_NONE) {
        uint32_t nn = ev->ops->node_count(ev->cut);
        for (uint32_t node = 0; node < nn && ev->nrows < ev->max_rows; node++) {
            if (!node_has_query(ev, node))
                continue;
            bind_all(ev, node);
            int r = eval_when(ev);
            if (r < 0)
                return r;
            if (r && (rc = add_row(ev)) != 0)
                return rc;
        }
    } else {
        if ((rc = check_limit(ev, ev->q->nocc, err, errlen)) != 0)
            return rc;
        if (ev->q->nocc == ev->q->nwhen_occ)
            rc = enumerate(ev, 0, ev->q->nocc, row_if_match, NULL);
        else
            rc = enumerate(ev, 0, ev->q->nwhen_occ, row_when_then_select, NULL);
        if (rc < 0)
            return rc;
    }
    *rows = ev->rows;
    *n = ev->nrows;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int rql_eval_new(const struct rql_query *q, const struct rql_eval_opts *opts,
                 const struct rql_cut_ops *ops, void *cut, struct rql_eval **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    struct rql_eval *ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return TT_ENOMEM;
    ev->q = q;
    ev->ops = ops;
    ev->cut = cut;
    ev->max_comb =
        opts && opts->max_combinations ? opts->max_combinations : RQL_DEFAULT_MAX_COMBINATIONS;
    ev->max_rows = opts && opts->max_rows ? opts->max_rows : RQL_DEFAULT_MAX_ROWS;
    ev->keys = calloc(q->nvars + 1, sizeof *ev->keys);
    ev->bind = calloc(q->nocc + 1, sizeof *ev->bind);
    ev->witness = calloc(q->nocc + 1, sizeof *ev->witness);
    ev->fixed_occ = UINT32_MAX;
    if (ev->keys == NULL || ev->bind == NULL || ev->witness == NULL) {
        rql_eval_free(ev);
        return TT_ENOMEM;
    }
    ev->has_agg_when = has_agg(q->when);
    for (uint32_t k = 0; k < q->nvars; k++) {
        if (ops->resolve(cut, q->vars[k].log, q->vars[k].name, &ev->keys[k]) != 0) {
            seterr(err, errlen, "unknown variable %s.%s: no node has reported it", q->vars[k].log,
                   q->vars[k].name);
            rql_eval_free(ev);
            return TT_ENOTFOUND;
        }
        if (ev->keys[k] >= ev->nused_key) {
            uint32_t n = ev->keys[k] + 1;
            uint8_t *u = realloc(ev->used_key, n);
            if (u == NULL) {
                rql_eval_free(ev);
                return TT_ENOMEM;
            }
            memset(u + ev->nused_key, 0, n - ev->nused_key);
            ev->used_key = u;
            ev->nused_key = n;
        }
        ev->used_key[ev->keys[k]] = 1;
    }
    *out = ev;
    return 0;
}

void rql_eval_free(struct rql_eval *ev)
{
    if (ev == NULL)
        return;
    free(ev->keys);
    free(ev->used_key);
    free(ev->bind);
    free(ev->witness);
    free(ev->state);
    free(ev->rows);
    arena_free(&ev->scratch);
    arena_free(&ev->rowmem);
    free(ev);
}

const struct rql_eval_stats *rql_eval_stats(const struct rql_eval *ev)
{
    return &ev->st;
}

uint32_t rql_eval_key(const struct rql_eval *ev, uint32_t var)
{
    return ev->keys[var];
}

int rql_value_eval(const struct rql_query *q, const struct rql_node *n, struct rql_value *out,
                   char *buf, size_t buflen, char *err, size_t errlen)
{
    struct rql_eval ev;
    uint32_t bind[1] = { 0 };
    memset(&ev, 0, sizeof ev);
    ev.q = q;
    ev.bind = bind;
    ev.fixed_occ = UINT32_MAX;
    int rc = eval_node(&ev, n, 0, out);
    if (rc == 0 && out->type == RQL_V_STR) {
        if (out->u.s.len > buflen) {
            rt_error(&ev, "string of %zu bytes does not fit in %zu", out->u.s.len, buflen);
            rc = TT_EINVAL;
        } else {
            if (out->u.s.len)
                memcpy(buf, out->u.s.p, out->u.s.len);
            out->u.s.p = buf;
        }
    }
    if (rc != 0)
        seterr(err, errlen, "%s", ev.rterr);
    arena_free(&ev.scratch);
    return rc;
}
