/*
 * parser_duration.c - the duration side of the PromQL parser: number and
 * duration literals, the ranges and steps inside [...], offsets, and
 * Prometheus's experimental duration expressions (promql-duration-expr:
 * `[step() * 2]`, `offset min_of(5m, range())`), which only parse when
 * experimental mode is on; otherwise they fail with Prometheus's "not
 * enabled" message.
 *
 * Invariants: as parser.c (first error wins, arena memory only); a
 * constant range or step is always > 0 and within int64 milliseconds.
 */
#include <math.h>
#include <stdio.h>
#include "telltale.h"
#include "query/promql/lexer.h"
#include "query/promql/parser.h"
#include "query/promql/parser_int.h"

int parser_number_value(struct parser *p, const struct promql_token *t, double *v)
{
    char msg[400];
    if (t->type == PT_DURATION) {
        int64_t ms;
        if (promql_parse_duration(p->in + t->pos, t->len, &ms, msg, sizeof(msg)) != 0) {
            parser_fail(p, t->pos, "%s", msg);
            return -1;
        }
        *v = (double)ms / 1000.0;
        return 0;
    }
    if (promql_parse_number(p->in + t->pos, t->len, v, msg, sizeof(msg)) != 0) {
        parser_fail(p, t->pos, "error parsing number: %s", msg);
        return -1;
    }
    return 0;
}

static int duration_out_of_range(double s)
{
    return s > 9223372036.854775808 || s < -9223372036.854775808;
}

static int is_duration_arith(enum promql_tok t)
{
    return t == PT_ADD || t == PT_SUB || t == PT_MUL || t == PT_DIV || t == PT_MOD || t == PT_POW;
}

/* is_duration_expr_start: '(' or step( range( min_of( max_of( begin a duration
 * expression (Prometheus's experimental promql-duration-expr); the keyword
 * is consumed, so a bare "step" is reported at the token after it. */
static int is_duration_expr_start(struct parser *p, enum promql_tok t)
{
    if (t == PT_LEFT_PAREN)
        return 1;
    if (t != PT_STEP && t != PT_RANGE && t != PT_MIN_OF && t != PT_MAX_OF)
        return 0;
    parser_advance(p);
    return parser_peek(p) == PT_LEFT_PAREN;
}

/* ---- duration expressions (experimental) ------------------------------------------- */

static struct promql_dur_expr *dur_node(struct parser *p, enum promql_dur_op op)
{
    struct promql_dur_expr *d = parser_alloc(p, sizeof(*d));
    if (d)
        d->op = op;
    return d;
}

static struct promql_dur_expr *dur_unary(struct parser *p, enum promql_dur_op op,
                                         struct promql_dur_expr *lhs)
{
    if (!lhs)
        return NULL;
    struct promql_dur_expr *d = dur_node(p, op);
    if (d) {
        d->lhs = lhs;
        d->dynamic = lhs->dynamic;
    }
    return d;
}

static int dur_binop(enum promql_tok t, enum promql_binop *op, int *prec)
{
    switch (t) {
    case PT_ADD:
        *op = PROMQL_ADD;
        *prec = 1;
        return 1;
    case PT_SUB:
        *op = PROMQL_SUB;
        *prec = 1;
        return 1;
    case PT_MUL:
        *op = PROMQL_MUL;
        *prec = 2;
        return 1;
    case PT_DIV:
        *op = PROMQL_DIV;
        *prec = 2;
        return 1;
    case PT_MOD:
        *op = PROMQL_MOD;
        *prec = 2;
        return 1;
    case PT_POW:
        *op = PROMQL_POW;
        *prec = 3;
        return 1;
    default:
        return 0;
    }
}

static struct promql_dur_expr *parse_dur(struct parser *p, int min_prec, const char *context,
                                         const char *expected);

static int expect_tok(struct parser *p, enum promql_tok t, const char *context,
                      const char *expected)
{
    if (parser_peek(p) != t) {
        parser_unexpected(p, context, expected);
        return -1;
    }
    parser_advance(p);
    return p->failed ? -1 : 0;
}

/* parse_dur_atom: a number or duration, (expr), step(), range(), min_of(a, b)
 * or max_of(a, b). */
static struct promql_dur_expr *parse_dur_atom(struct parser *p, const char *context,
                                              const char *expected)
{
    enum promql_tok t = parser_peek(p);
    if (p->failed)
        return NULL;
    struct promql_dur_expr *d;
    switch (t) {
    case PT_NUMBER:
    case PT_DURATION: {
        struct promql_token nt = parser_advance(p);
        if (!(d = dur_node(p, PROMQL_DUR_NUMBER)))
            return NULL;
        d->is_duration = t == PT_DURATION;
        if (parser_number_value(p, &nt, &d->value) < 0)
            return NULL;
        return d;
    }
    case PT_LEFT_PAREN: {
        parser_advance(p);
        d = dur_unary(p, PROMQL_DUR_PAREN, parse_dur(p, 0, context, expected));
        if (!d || expect_tok(p, PT_RIGHT_PAREN, context, "\")\"") < 0)
            return NULL;
        return d;
    }
    case PT_STEP:
    case PT_RANGE:
        parser_advance(p);
        if (expect_tok(p, PT_LEFT_PAREN, context, "\"(\"") < 0 ||
            expect_tok(p, PT_RIGHT_PAREN, context, "\")\"") < 0)
            return NULL;
        if ((d = dur_node(p, t == PT_STEP ? PROMQL_DUR_STEP : PROMQL_DUR_RANGE)))
            d->dynamic = 1;
        return d;
    case PT_MIN_OF:
    case PT_MAX_OF:
        parser_advance(p);
        if (!(d = dur_node(p, t == PT_MIN_OF ? PROMQL_DUR_MIN_OF : PROMQL_DUR_MAX_OF)))
            return NULL;
        if (expect_tok(p, PT_LEFT_PAREN, context, "\"(\"") < 0 ||
            !(d->lhs = parse_dur(p, 0, context, expected)) ||
            expect_tok(p, PT_COMMA, context, "\",\"") < 0 ||
            !(d->rhs = parse_dur(p, 0, context, expected)) ||
            expect_tok(p, PT_RIGHT_PAREN, context, "\")\"") < 0)
            return NULL;
        d->dynamic = d->lhs->dynamic || d->rhs->dynamic;
        return d;
    default:
        return parser_unexpected(p, context, expected);
    }
}

/* parse_dur_unary: [+-]* atom, a sign binding looser than ^ only. */
static struct promql_dur_expr *parse_dur_unary(struct parser *p, const char *context,
                                               const char *expected)
{
    enum promql_tok t = parser_peek(p);
    if (t == PT_ADD || t == PT_SUB) {
        parser_advance(p);
        return dur_unary(p, t == PT_SUB ? PROMQL_DUR_NEG : PROMQL_DUR_POS,
                         parse_dur(p, 3, context, expected));
    }
    return parse_dur_atom(p, context, expected);
}

/* parse_dur: precedence climbing over + - (1), * / % (2), ^ (3, right). */
static struct promql_dur_expr *parse_dur(struct parser *p, int min_prec, const char *context,
                                         const char *expected)
{
    if (parser_enter(p, parser_peek_tok(p)->pos) < 0)
        return NULL;
    struct promql_dur_expr *lhs = parse_dur_unary(p, context, expected);
    enum promql_binop op;
    int prec;
    while (lhs && dur_binop(parser_peek(p), &op, &prec) && prec >= min_prec) {
        parser_advance(p);
        struct promql_dur_expr *rhs =
            parse_dur(p, op == PROMQL_POW ? prec : prec + 1, context, expected);
        struct promql_dur_expr *d = rhs ? dur_node(p, PROMQL_DUR_BINARY) : NULL;
        if (!d)
            return NULL;
        d->binop = op;
        d->lhs = lhs;
        d->rhs = rhs;
        d->dynamic = lhs->dynamic || rhs->dynamic;
        lhs = d;
    }
    p->depth--;
    return p->failed ? NULL : lhs;
}

/* dur_is_plain: a (signed) number, printed and stored as before. */
static int dur_is_plain(const struct promql_dur_expr *d)
{
    while (d->op == PROMQL_DUR_NEG || d->op == PROMQL_DUR_POS)
        d = d->lhs;
    return d->op == PROMQL_DUR_NUMBER;
}

/* dur_const evaluates a non-dynamic duration expression at parse time. */
static int dur_const(struct parser *p, size_t pos, const struct promql_dur_expr *d, double *v)
{
    if (promql_dur_eval(d, 0, 0, v) != 0) {
        parser_fail(p, pos, "division by zero");
        return -1;
    }
    if (isnan(*v) || *v > 9223372036.854775808 || *v < -9223372036.854775808) {
        parser_fail(p, pos, "duration out of range");
        return -1;
    }
    return 0;
}

/* parse_range_expr: the range or step inside [...] as a duration expression
 * (experimental mode); a constant one must be > 0. */
static int parse_range_expr(struct parser *p, const char *context, const char *expected,
                            int64_t *ms, struct promql_dur_expr **expr)
{
    size_t pos = parser_peek_tok(p)->pos;
    struct promql_dur_expr *d = parse_dur(p, 0, context, expected);
    if (!d)
        return -1;
    *expr = dur_is_plain(d) ? NULL : d;
    *ms = 0;
    if (d->dynamic)
        return 0;
    double v;
    if (dur_const(p, pos, d, &v) < 0)
        return -1;
    if (!(v > 0)) {
        parser_fail(p, pos, "duration must be greater than 0");
        return -1;
    }
    *ms = (int64_t)llround(v * 1000.0);
    return 0;
}

/* parse_range_duration: the duration inside [...] (signs allowed, must be > 0). */
static int parse_range_duration(struct parser *p, const char *context, const char *expected,
                                int64_t *ms)
{
    struct promql_token first = *parser_peek_tok(p);
    if (p->failed)
        return -1;
    int neg = 0;
    while (parser_peek(p) == PT_ADD || parser_peek(p) == PT_SUB) {
        if (parser_advance(p).type == PT_SUB)
            neg = !neg;
    }
    enum promql_tok t = parser_peek(p);
    if (p->failed)
        return -1;
    if (is_duration_expr_start(p, t)) {
        parser_fail(p, first.pos, "experimental duration expression is not enabled");
        return -1;
    }
    if (t != PT_NUMBER && t != PT_DURATION) {
        parser_unexpected(p, context, expected);
        return -1;
    }
    struct promql_token nt = parser_advance(p);
    double v;
    if (parser_number_value(p, &nt, &v) < 0)
        return -1;
    if (is_duration_arith(parser_peek(p))) {
        parser_fail(p, first.pos, "experimental duration expression is not enabled");
        return -1;
    }
    if (p->failed)
        return -1;
    if (neg)
        v = -v;
    if (duration_out_of_range(v)) {
        parser_fail(p, first.pos, "duration out of range");
        return -1;
    }
    if (!(v > 0)) {
        parser_fail(p, first.pos, "duration must be greater than 0");
        return -1;
    }
    *ms = (int64_t)llround(v * 1000.0);
    return 0;
}

struct promql_time_mods *parser_mods_of(struct promql_expr *e)
{
    switch (e->kind) {
    case PROMQL_VECTOR_SELECTOR:
        return &e->u.vs.mods;
    case PROMQL_MATRIX_SELECTOR:
        return &e->u.ms.vs->u.vs.mods;
    case PROMQL_SUBQUERY:
        return &e->u.sq.mods;
    default:
        return NULL;
    }
}

/* parse_offset_expr: the offset (after its optional sign) as one duration
 * atom: `offset -step() * 2` is (x offset -step()) * 2, as in Prometheus. */
static struct promql_expr *parse_offset_expr(struct parser *p, struct promql_expr *e, size_t pos,
                                             int neg, const char *expected)
{
    struct promql_dur_expr *d = parse_dur_atom(p, "offset", expected);
    if (d && neg)
        d = dur_unary(p, PROMQL_DUR_NEG, d);
    if (!d)
        return NULL;
    struct promql_time_mods *m = parser_mods_of(e);
    if (!m)
        return parser_fail(
            p, e->pos,
            "offset modifier must be preceded by an instant vector selector or range "
            "vector selector or a subquery");
    if (m->offset_ms != 0 || m->offset_expr != NULL)
        return parser_fail(p, e->pos, "offset may not be set multiple times");
    if (!d->dynamic) {
        double v;
        if (dur_const(p, pos, d, &v) < 0)
            return NULL;
        m->offset_ms = (int64_t)llround(v * 1000.0);
    }
    if (!dur_is_plain(d))
        m->offset_expr = d;
    e->end = p->last_end;
    return e;
}

struct promql_expr *parser_offset(struct parser *p, struct promql_expr *e)
{
    parser_advance(p); /* offset */
    const char *expected = "number, duration, step(), or range()";
    struct promql_token first = *parser_peek_tok(p);
    if (p->failed)
        return NULL;
    int neg = 0;
    if (first.type == PT_ADD || first.type == PT_SUB) {
        parser_advance(p);
        neg = first.type == PT_SUB;
    }
    enum promql_tok t = parser_peek(p);
    if (p->failed)
        return NULL;
    if (p->experimental)
        return parse_offset_expr(p, e, first.pos, neg, expected);
    if (is_duration_expr_start(p, t))
        return parser_fail(p, first.pos, "experimental duration expression is not enabled");
    if (t != PT_NUMBER && t != PT_DURATION)
        return parser_unexpected(p, "offset", expected);
    struct promql_token nt = parser_advance(p);
    double v;
    if (parser_number_value(p, &nt, &v) < 0)
        return NULL;
    if (neg)
        v = -v;
    if (duration_out_of_range(v))
        return parser_fail(p, first.pos, "duration out of range");
    struct promql_time_mods *m = parser_mods_of(e);
    if (!m)
        return parser_fail(
            p, e->pos,
            "offset modifier must be preceded by an instant vector selector or range "
            "vector selector or a subquery");
    if (m->offset_ms != 0)
        return parser_fail(p, e->pos, "offset may not be set multiple times");
    m->offset_ms = (int64_t)llround(v * 1000.0);
    e->end = p->last_end;
    return e;
}

int parser_range(struct parser *p, const char *context, const char *expected, int64_t *ms,
                 struct promql_dur_expr **expr)
{
    *expr = NULL;
    if (p->experimental)
        return parse_range_expr(p, context, expected, ms, expr);
    return parse_range_duration(p, context, expected, ms);
}
