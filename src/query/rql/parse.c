/*
 * parse.c - RQL lexer, recursive-descent parser, name resolution and the
 * canonical printer (rql.h). The lexer hands out one token at a time; the
 * parser keeps the first error only (later calls see p->failed and unwind).
 * Names are resolved after the whole text is read, since SELECT comes before
 * the FROM list that it refers to.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "query/rql/rql.h"

enum tok_type {
    T_EOF,
    T_IDENT,
    T_INT,
    T_FLOAT,
    T_STRING,
    T_DOLLAR,
    T_COMMA,
    T_DOT,
    T_LPAREN,
    T_RPAREN,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PERCENT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_SEMI,
    /* keywords (identifiers matched case-insensitively) */
    T_SELECT,
    T_FROM,
    T_WHEN,
    T_LINK,
    T_SAME_NODE,
    T_EACH_NODE,
    T_BETWEEN,
    T_AND,
    T_OR,
    T_NOT,
    T_LIMIT,
    T_TRUE,
    T_FALSE,
};

static const struct {
    const char *word;
    enum tok_type type;
} keywords[] = {
    { "SELECT", T_SELECT },
    { "FROM", T_FROM },
    { "WHEN", T_WHEN },
    { "LINK", T_LINK },
    { "SAME_NODE", T_SAME_NODE },
    { "EACH_NODE", T_EACH_NODE },
    { "BETWEEN", T_BETWEEN },
    { "AND", T_AND },
    { "OR", T_OR },
    { "NOT", T_NOT },
    { "LIMIT", T_LIMIT },
    { "TRUE", T_TRUE },
    { "FALSE", T_FALSE },
};

static const struct {
    const char *name;
    enum rql_fn fn;
    int min_args, max_args; /* max -1: any number */
} functions[] = {
    { "Int", RQL_FN_INT, 1, 1 },
    { "Float", RQL_FN_FLOAT, 1, 1 },
    { "Str", RQL_FN_STR, 1, 1 },
    { "StrReplace", RQL_FN_STRREPLACE, 3, 3 },
    { "abs", RQL_FN_ABS, 1, 1 },
    { "min", RQL_FN_MIN, 1, RQL_MAX_ARGS },
    { "max", RQL_FN_MAX, 1, RQL_MAX_ARGS },
    { "count", RQL_FN_COUNT, 1, 1 },
    { "sum", RQL_FN_SUM, 1, 1 },
    { "NODE", RQL_FN_NODE, 1, 1 },
};

struct tok {
    enum tok_type type;
    size_t start, len;
    int64_t i;
    double f;
    char *str; /* T_STRING: decoded bytes (owned by the parser until taken) */
    size_t slen;
};

struct parser {
    const char *s;
    size_t len, pos;
    struct tok tok;
    struct rql_query *q;
    struct rql_error *err;
    int failed;
    int depth;
    int in_agg;
};

static void fail_at(struct parser *p, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail_at(struct parser *p, int code, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = code;
    if (p->err == NULL)
        return;
    unsigned line = 1, col = 1;
    for (size_t k = 0; k < off && k < p->len; k++) {
        if (p->s[k] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char detail[440];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    p->err->code = code;
    p->err->offset = off;
    p->err->line = line;
    p->err->col = col;
    snprintf(p->err->msg, sizeof p->err->msg, "%u:%u: %s", line, col, detail);
}

/* describe the current token for "unexpected X" (quoted text, clipped). */
static void tok_text(const struct parser *p, char *out, size_t n)
{
    const struct tok *t = &p->tok;
    if (t->type == T_EOF) {
        snprintf(out, n, "end of input");
        return;
    }
    size_t l = t->len > 32 ? 32 : t->len;
    char clip[40];
    size_t o = 0;
    for (size_t k = 0; k < l; k++) {
        unsigned char c = (unsigned char)p->s[t->start + k];
        clip[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    clip[o] = 0;
    snprintf(out, n, "'%s%s'", clip, t->len > l ? "..." : "");
}

static void expected(struct parser *p, const char *what)
{
    char t[64];
    tok_text(p, t, sizeof t);
    fail_at(p, TT_ESYNTAX, p->tok.start, "unexpected %s, expected %s", t, what);
}

/* ---- lexer ---------------------------------------------------------------------- */

static int is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int ieq(const char *a, size_t n, const char *word)
{
    size_t k = 0;
    for (; k < n && word[k]; k++) {
        char x = a[k], y = word[k];
        if (x >= 'a' && x <= 'z')
            x = (char)(x - 32);
        if (y >= 'a' && y <= 'z')
            y = (char)(y - 32);
        if (x != y)
            return 0;
    }
    return k == n && word[k] == 0;
}

static void lex_string(struct parser *p, size_t start)
{
    char q = p->s[p->pos++];
    char *buf = malloc(p->len - p->pos + 1);
    size_t n = 0;
    if (buf == NULL) {
        fail_at(p, TT_ENOMEM, start, "out of memory");
        return;
    }
    for (;;) {
        if (p->pos >= p->len) {
            free(buf);
            fail_at(p, TT_ESYNTAX, start, "unterminated string, expected %c", q);
            return;
        }
        char c = p->s[p->pos++];
        if (c == q)
            break;
        if (c == '\\') {
            if (p->pos >= p->len)
                continue; /* reported as unterminated above */
            char e = p->s[p->pos++];
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case '\\':
            case '"':
            case '\'':
                c = e;
                break;
            default:
                free(buf);
                fail_at(p, TT_ESYNTAX, p->pos - 2,
                        "unknown escape '\\%c' in string, expected one of \\\" \\' \\\\ \\n \\t",
                        (e >= 0x20 && e < 0x7f) ? e : '?');
                return;
            }
        }
        buf[n++] = c;
    }
    p->tok.type = T_STRING;
    p->tok.str = buf;
    p->tok.slen = n;
}

static void lex_number(struct parser *p, size_t start)
{
    int is_float = 0;
    while (p->pos < p->len && is_digit(p->s[p->pos]))
        p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        is_float = 1;
        p->pos++;
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        size_t e = p->pos + 1;
        if (e < p->len && (p->s[e] == '+' || p->s[e] == '-'))
            e++;
        if (e < p->len && is_digit(p->s[e])) {
            is_float = 1;
            p->pos = e;
            while (p->pos < p->len && is_digit(p->s[p->pos]))
                p->pos++;
        }
    }
    if (p->pos < p->len && (is_ident_start(p->s[p->pos]) || is_digit(p->s[p->pos]))) {
        fail_at(p, TT_ESYNTAX, start, "malformed number '%.*s'",
                (int)(p->pos - start + 1 > 32 ? 32 : p->pos - start + 1), p->s + start);
        return;
    }
    char tmp[64];
    size_t n = p->pos - start;
    if (n >= sizeof tmp) {
        fail_at(p, TT_ESYNTAX, start, "number too long (%zu digits)", n);
        return;
    }
    memcpy(tmp, p->s + start, n);
    tmp[n] = 0;
    errno = 0;
    char *end = NULL;
    if (is_float) {
        p->tok.type = T_FLOAT;
        p->tok.f = strtod(tmp, &end);
        if (errno == ERANGE && !isfinite(p->tok.f)) {
            fail_at(p, TT_ESYNTAX, start, "number '%s' out of range", tmp);
            return;
        }
    } else {
        p->tok.type = T_INT;
        long long v = strtoll(tmp, &end, 10);
        if (errno == ERANGE) {
            fail_at(p, TT_ESYNTAX, start, "integer '%s' out of range (max %" PRId64 ")", tmp,
                    INT64_MAX);
            return;
        }
        p->tok.i = v;
    }
}

static void next(struct parser *p)
{
    free(p->tok.str);
    p->tok.str = NULL;
    if (p->failed) {
        p->tok.type = T_EOF;
        return;
    }
    for (;;) {
        while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                                   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
            p->pos++;
        /* -- comments run to the end of the line */
        if (p->pos + 1 < p->len && p->s[p->pos] == '-' && p->s[p->pos + 1] == '-') {
            while (p->pos < p->len && p->s[p->pos] != '\n')
                p->pos++;
            continue;
        }
        break;
    }
    size_t start = p->pos;
    p->tok.start = start;
    p->tok.type = T_EOF;
    if (p->pos >= p->len) {
        p->tok.len = 0;
        return;
    }
    char c = p->s[p->pos];
    char d = p->pos + 1 < p->len ? p->s[p->pos + 1] : 0;
    if (is_ident_start(c)) {
        while (p->pos < p->len && (is_ident_start(p->s[p->pos]) || is_digit(p->s[p->pos])))
            p->pos++;
        p->tok.type = T_IDENT;
        for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
            if (ieq(p->s + start, p->pos - start, keywords[k].word))
                p->tok.type = keywords[k].type;
    } else if (is_digit(c)) {
        lex_number(p, start);
    } else if (c == '"' || c == '\'') {
        lex_string(p, start);
    } else if (c == '$') {
        p->pos++;
        size_t ds = p->pos;
        while (p->pos < p->len && is_digit(p->s[p->pos]) && p->pos - ds < 10)
            p->pos++;
        if (p->pos == ds || (p->pos < p->len && is_digit(p->s[p->pos]))) {
            fail_at(p, TT_ESYNTAX, start, "'$' must be followed by an occurrence number (1..%u)",
                    999999999u);
        } else {
            int64_t v = 0;
            for (size_t k = ds; k < p->pos; k++)
                v = v * 10 + (p->s[k] - '0');
            p->tok.type = T_DOLLAR;
            p->tok.i = v;
        }
    } else {
        enum tok_type t = T_EOF;
        size_t n = 1;
        switch (c) {
        case ',':
            t = T_COMMA;
            break;
        case '.':
            t = T_DOT;
            break;
        case '(':
            t = T_LPAREN;
            break;
        case ')':
            t = T_RPAREN;
            break;
        case '+':
            t = T_PLUS;
            break;
        case '-':
            t = T_MINUS;
            break;
        case '*':
            t = T_STAR;
            break;
        case '/':
            t = T_SLASH;
            break;
        case '%':
            t = T_PERCENT;
            break;
        case ';':
            t = T_SEMI;
            break;
        case '=':
            t = T_EQ;
            n = d == '=' ? 2 : 1;
            break;
        case '!':
            if (d == '=') {
                t = T_NE;
                n = 2;
            }
            break;
        case '<':
            t = T_LT;
            if (d == '=') {
                t = T_LE;
                n = 2;
            } else if (d == '>') {
                t = T_NE;
                n = 2;
            }
            break;
        case '>':
            t = T_GT;
            if (d == '=') {
                t = T_GE;
                n = 2;
            }
            break;
        default:
            break;
        }
        if (t == T_EOF) {
            unsigned char u = (unsigned char)c;
            if (u >= 0x20 && u < 0x7f)
                fail_at(p, TT_ESYNTAX, start, "unexpected character '%c'", c);
            else
                fail_at(p, TT_ESYNTAX, start, "unexpected byte 0x%02x", u);
            p->pos = p->len;
            return;
        }
        p->tok.type = t;
        p->pos += n;
    }
    p->tok.len = p->pos - start;
    if (p->failed)
        p->tok.type = T_EOF;
}

/* ---- tree ----------------------------------------------------------------------- */

static void node_free(struct rql_node *n)
{
    if (n == NULL)
        return;
    for (uint32_t k = 0; k < n->nkids; k++)
        node_free(n->kids[k]);
    free(n->kids);
    if (n->type == RQL_LIT && n->lit.type == RQL_V_STR)
        free((char *)n->lit.u.s.p);
    free(n->vlog);
    free(n->vname);
    free(n);
}

void rql_query_free(struct rql_query *q)
{
    if (q == NULL)
        return;
    for (uint32_t k = 0; k < q->nselect; k++)
        node_free(q->select[k]);
    free(q->select);
    for (uint32_t k = 0; k < q->nfrom; k++)
        free(q->from[k]);
    free(q->from);
    node_free(q->when);
    for (uint32_t k = 0; k < q->nvars; k++) {
        free(q->vars[k].log);
        free(q->vars[k].name);
    }
    free(q->vars);
    free(q->occs);
    free(q);
}

static struct rql_node *mk(struct parser *p, uint8_t type, size_t off)
{
    struct rql_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        fail_at(p, TT_ENOMEM, off, "out of memory");
        return NULL;
    }
    n->type = type;
    n->offset = off;
    n->depth = 1;
    n->in_agg = (uint8_t)(p->in_agg > 0);
    return n;
}

/* add_kid appends k to n (taking it; on failure k is freed). */
static int add_kid(struct parser *p, struct rql_node *n, struct rql_node *k)
{
    if (k == NULL)
        return -1;
    struct rql_node **nk = realloc(n->kids, (n->nkids + 1) * sizeof *nk);
    if (nk == NULL) {
        node_free(k);
        fail_at(p, TT_ENOMEM, n->offset, "out of memory");
        return -1;
    }
    n->kids = nk;
    n->kids[n->nkids++] = k;
    if (k->depth + 1 > n->depth)
        n->depth = k->depth + 1;
    if (n->depth > RQL_MAX_DEPTH) {
        fail_at(p, TT_ESYNTAX, n->offset, "expression nested too deeply (more than %d levels)",
                RQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static char *dup_n(struct parser *p, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL) {
        fail_at(p, TT_ENOMEM, p->tok.start, "out of memory");
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---- parser --------------------------------------------------------------------- */

static struct rql_node *parse_expr(struct parser *p);

static int is_name_tok(enum tok_type t)
{
    return t == T_IDENT || t >= T_SELECT;
}

static struct rql_node *parse_call(struct parser *p, size_t off, const char *name, size_t nlen)
{
    int fi = -1;
    for (size_t k = 0; k < sizeof functions / sizeof functions[0]; k++)
        if (ieq(name, nlen, functions[k].name))
            fi = (int)k;
    if (fi < 0) {
        fail_at(p, TT_ENOTFOUND, off,
                "unknown function '%.*s' (known: Int, Float, Str, StrReplace, abs, min, max, "
                "count, sum, NODE)",
                (int)(nlen > 64 ? 64 : nlen), name);
        return NULL;
    }
    struct rql_node *n = mk(p, RQL_CALL, off);
    if (n == NULL)
        return NULL;
    n->fn = (uint8_t)functions[fi].fn;
    int agg = n->fn == RQL_FN_COUNT || n->fn == RQL_FN_SUM;
    if (agg && p->in_agg) {
        fail_at(p, TT_EINVAL, off, "%s() inside count()/sum(): aggregates do not nest",
                functions[fi].name);
        node_free(n);
        return NULL;
    }
    next(p); /* '(' */
    if (agg)
        p->in_agg++;
    if (p->tok.type != T_RPAREN) {
        for (;;) {
            if (n->nkids >= RQL_MAX_ARGS) {
                fail_at(p, TT_EINVAL, p->tok.start, "%s: more than %d arguments",
                        functions[fi].name, RQL_MAX_ARGS);
                break;
            }
            if (n->fn == RQL_FN_NODE) {
                if (p->tok.type != T_DOLLAR) {
                    expected(p, "'$k' (NODE takes the number of a variable occurrence)");
                    break;
                }
                struct rql_node *o = mk(p, RQL_OCC, p->tok.start);
                if (o)
                    o->occ = (uint32_t)p->tok.i;
                next(p);
                if (add_kid(p, n, o) != 0)
                    break;
            } else if (add_kid(p, n, parse_expr(p)) != 0) {
                break;
            }
            if (p->tok.type != T_COMMA)
                break;
            next(p);
        }
    }
    if (agg)
        p->in_agg--;
    if (!p->failed && p->tok.type != T_RPAREN)
        expected(p, n->nkids ? "',' or ')'" : "an expression or ')'");
    if (!p->failed &&
        ((int)n->nkids < functions[fi].min_args || (int)n->nkids > functions[fi].max_args)) {
        if (functions[fi].min_args == functions[fi].max_args)
            fail_at(p, TT_EINVAL, off, "%s takes %d argument%s, got %u", functions[fi].name,
                    functions[fi].min_args, functions[fi].min_args == 1 ? "" : "s", n->nkids);
        else
            fail_at(p, TT_EINVAL, off, "%s takes at least %d argument, got %u", functions[fi].name,
                    functions[fi].min_args, n->nkids);
    }
    if (p->failed) {
        node_free(n);
        return NULL;
    }
    next(p); /* ')' */
    return n;
}

static struct rql_node *parse_primary(struct parser *p)
{
    size_t off = p->tok.start;
    struct rql_node *n = NULL;
    switch (p->tok.type) {
    case T_INT:
        if ((n = mk(p, RQL_LIT, off)) != NULL) {
            n->lit.type = RQL_V_INT;
            n->lit.u.i = p->tok.i;
        }
        next(p);
        return n;
    case T_FLOAT:
        if ((n = mk(p, RQL_LIT, off)) != NULL) {
            n->lit.type = RQL_V_FLOAT;
            n->lit.u.f = p->tok.f;
        }
        next(p);
        return n;
    case T_STRING:
        if ((n = mk(p, RQL_LIT, off)) != NULL) {
            n->lit.type = RQL_V_STR;
            n->lit.u.s.p = p->tok.str;
            n->lit.u.s.len = p->tok.slen;
            p->tok.str = NULL;
        }
        next(p);
        return n;
    case T_TRUE:
    case T_FALSE:
        if ((n = mk(p, RQL_LIT, off)) != NULL) {
            n->lit.type = RQL_V_BOOL;
            n->lit.u.b = p->tok.type == T_TRUE;
        }
        next(p);
        return n;
    case T_DOLLAR:
        if ((n = mk(p, RQL_OCC, off)) != NULL)
            n->occ = (uint32_t)p->tok.i;
        next(p);
        return n;
    case T_LPAREN:
        next(p);
        n = parse_expr(p);
        if (n == NULL)
            return NULL;
        if (p->tok.type != T_RPAREN) {
            expected(p, "')' or an operator");
            node_free(n);
            return NULL;
        }
        next(p);
        return n;
    case T_IDENT: {
        const char *name = p->s + p->tok.start;
        size_t nlen = p->tok.len;
        next(p);
        if (p->tok.type == T_LPAREN)
            return parse_call(p, off, name, nlen);
        if ((n = mk(p, RQL_VAR, off)) == NULL)
            return NULL;
        if (p->tok.type == T_DOT) {
            next(p);
            if (!is_name_tok(p->tok.type)) {
                expected(p, "a variable name after '.'");
                node_free(n);
                return NULL;
            }
            n->vlog = dup_n(p, name, nlen);
            n->vname = dup_n(p, p->s + p->tok.start, p->tok.len);
            next(p);
        } else {
            n->vname = dup_n(p, name, nlen);
        }
        if (p->failed) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    default:
        expected(p, "an expression");
        return NULL;
    }
}

static int enter(struct parser *p)
{
    /* Two levels of recursion per tree level at most (a parenthesis and a
     * NOT or -), so the printed form of any tree the depth cap allows
     * parses again. */
    if (++p->depth > 2 * RQL_MAX_DEPTH + 4) {
        fail_at(p, TT_ESYNTAX, p->tok.start, "expression nested too deeply (more than %d levels)",
                RQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

/* unary minus binds tighter than * and /. */
static struct rql_node *parse_neg(struct parser *p)
{
    if (p->tok.type != T_MINUS)
        return parse_primary(p);
    if (enter(p) != 0)
        return NULL;
    struct rql_node *n = mk(p, RQL_UNARY, p->tok.start);
    if (n != NULL) {
        n->op = RQL_OP_NEG;
        next(p);
        if (add_kid(p, n, parse_neg(p)) != 0) {
            node_free(n);
            n = NULL;
        }
    }
    p->depth--;
    return n;
}

static struct rql_node *binary(struct parser *p, uint8_t op, size_t off, struct rql_node *l,
                               struct rql_node *r)
{
    struct rql_node *n = l ? mk(p, RQL_BINARY, off) : NULL;
    if (n == NULL || r == NULL) {
        node_free(l);
        node_free(r);
        node_free(n);
        return NULL;
    }
    n->op = op;
    if (add_kid(p, n, l) != 0) {
        node_free(r);
        node_free(n);
        return NULL;
    }
    if (add_kid(p, n, r) != 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

static struct rql_node *parse_mul(struct parser *p)
{
    struct rql_node *l = parse_neg(p);
    while (l && (p->tok.type == T_STAR || p->tok.type == T_SLASH || p->tok.type == T_PERCENT)) {
        uint8_t op = p->tok.type == T_STAR    ? RQL_OP_MUL
                     : p->tok.type == T_SLASH ? RQL_OP_DIV
                                              : RQL_OP_MOD;
        size_t off = p->tok.start;
        next(p);
        l = binary(p, op, off, l, parse_neg(p));
    }
    return l;
}

static struct rql_node *parse_add(struct parser *p)
{
    struct rql_node *l = parse_mul(p);
    while (l && (p->tok.type == T_PLUS || p->tok.type == T_MINUS)) {
        uint8_t op = p->tok.type == T_PLUS ? RQL_OP_ADD : RQL_OP_SUB;
        size_t off = p->tok.start;
        next(p);
        l = binary(p, op, off, l, parse_mul(p));
    }
    return l;
}

static int cmp_op(enum tok_type t)
{
    switch (t) {
    case T_EQ:
        return RQL_OP_EQ;
    case T_NE:
        return RQL_OP_NE;
    case T_LT:
        return RQL_OP_LT;
    case T_LE:
        return RQL_OP_LE;
    case T_GT:
        return RQL_OP_GT;
    case T_GE:
        return RQL_OP_GE;
    default:
        return -1;
    }
}

/* comparisons do not chain: a < b < c is a syntax error. */
static struct rql_node *parse_cmp(struct parser *p)
{
    struct rql_node *l = parse_add(p);
    int op = cmp_op(p->tok.type);
    if (l == NULL || op < 0)
        return l;
    size_t off = p->tok.start;
    next(p);
    l = binary(p, (uint8_t)op, off, l, parse_add(p));
    if (l && cmp_op(p->tok.type) >= 0) {
        fail_at(p, TT_ESYNTAX, p->tok.start, "comparisons do not chain: write (a < b) AND (b < c)");
        node_free(l);
        return NULL;
    }
    return l;
}

static struct rql_node *parse_not(struct parser *p)
{
    if (p->tok.type != T_NOT)
        return parse_cmp(p);
    if (enter(p) != 0)
        return NULL;
    struct rql_node *n = mk(p, RQL_UNARY, p->tok.start);
    if (n != NULL) {
        n->op = RQL_OP_NOT;
        next(p);
        if (add_kid(p, n, parse_not(p)) != 0) {
            node_free(n);
            n = NULL;
        }
    }
    p->depth--;
    return n;
}

static struct rql_node *parse_and(struct parser *p)
{
    struct rql_node *l = parse_not(p);
    while (l && p->tok.type == T_AND) {
        size_t off = p->tok.start;
        next(p);
        l = binary(p, RQL_OP_AND, off, l, parse_not(p));
    }
    return l;
}

static struct rql_node *parse_expr(struct parser *p)
{
    if (enter(p) != 0)
        return NULL;
    struct rql_node *l = parse_and(p);
    while (l && p->tok.type == T_OR) {
        size_t off = p->tok.start;
        next(p);
        l = binary(p, RQL_OP_OR, off, l, parse_and(p));
    }
    p->depth--;
    return l;
}

/* ---- names ---------------------------------------------------------------------- */

static int find_var(struct parser *p, const char *log, const char *name, uint32_t *idx)
{
    struct rql_query *q = p->q;
    for (uint32_t k = 0; k < q->nvars; k++) {
        if (strcmp(q->vars[k].log, log) == 0 && strcmp(q->vars[k].name, name) == 0) {
            *idx = k;
            return 0;
        }
    }
    struct rql_var *nv = realloc(q->vars, (q->nvars + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    q->vars = nv;
    nv[q->nvars].log = dup_n(p, log, strlen(log));
    nv[q->nvars].name = dup_n(p, name, strlen(name));
    nv[q->nvars].key = 0;
    if (nv[q->nvars].log == NULL || nv[q->nvars].name == NULL) {
        free(nv[q->nvars].log);
        free(nv[q->nvars].name);
        return -1;
    }
    *idx = q->nvars++;
    return 0;
}

static int add_occ(struct parser *p, uint32_t var, size_t off)
{
    struct rql_query *q = p->q;
    struct rql_occ *no = realloc(q->occs, (q->nocc + 1) * sizeof *no);
    if (no == NULL) {
        fail_at(p, TT_ENOMEM, off, "out of memory");
        return -1;
    }
    q->occs = no;
    no[q->nocc].var = var;
    no[q->nocc].offset = off;
    return (int)++q->nocc;
}

/* resolve gives every variable its log and index, and numbers occurrences:
 * in_select 0 for the WHEN pass (each one new), 1 for the SELECT pass (a
 * variable the WHEN uses takes its first WHEN occurrence; one it does not
 * use gets one new occurrence shared by its SELECT mentions). */
static void resolve(struct parser *p, struct rql_node *n, int in_select)
{
    if (p->failed || n == NULL)
        return;
    struct rql_query *q = p->q;
    if (n->type == RQL_VAR) {
        const char *log = n->vlog;
        if (log == NULL) {
            if (q->nfrom != 1) {
                fail_at(p, TT_EINVAL, n->offset,
                        "variable '%s' is ambiguous: FROM names %u logs; write log.%s", n->vname,
                        q->nfrom, n->vname);
                return;
            }
            log = q->from[0];
        } else {
            uint32_t k = 0;
            while (k < q->nfrom && strcmp(q->from[k], log) != 0)
                k++;
            if (k == q->nfrom) {
                fail_at(p, TT_ENOTFOUND, n->offset,
                        "unknown log '%s' in %s.%s: it is not in the FROM list", log, log,
                        n->vname);
                return;
            }
        }
        if (find_var(p, log, n->vname, &n->var) != 0) {
            fail_at(p, TT_ENOMEM, n->offset, "out of memory");
            return;
        }
        if (n->in_agg)
            return;
        if (in_select) {
            for (uint32_t k = 0; k < q->nocc; k++) {
                if (q->occs[k].var == n->var) {
                    n->occ = k + 1;
                    return;
                }
            }
        }
        int o = add_occ(p, n->var, n->offset);
        if (o > 0)
            n->occ = (uint32_t)o;
        return;
    }
    for (uint32_t k = 0; k < n->nkids; k++)
        resolve(p, n->kids[k], in_select);
}

/* check_occ: every $k names an occurrence; in WHEN (in_when) one of WHEN's,
 * since the WHEN is decided before SELECT's own occurrences are bound. */
static void check_occ(struct parser *p, const struct rql_node *n, int in_when)
{
    if (p->failed || n == NULL)
        return;
    if (in_when && n->type == RQL_OCC && n->occ > p->q->nwhen_occ && n->occ <= p->q->nocc) {
        fail_at(p, TT_EINVAL, n->offset,
                "$%u is a SELECT occurrence: WHEN may only name its own ($1..$%u)", n->occ,
                p->q->nwhen_occ);
        return;
    }
    if (n->type == RQL_OCC && (n->occ == 0 || n->occ > p->q->nocc)) {
        fail_at(p, TT_EINVAL, n->offset,
                "$%u names no variable occurrence: the query has %u ($1..$%u, WHEN first)", n->occ,
                p->q->nocc, p->q->nocc);
        return;
    }
    for (uint32_t k = 0; k < n->nkids; k++)
        check_occ(p, n->kids[k], in_when);
}

/* ---- query ---------------------------------------------------------------------- */

static int parse_int_clause(struct parser *p, const char *what, int64_t *v)
{
    int neg = 0;
    if (p->tok.type == T_MINUS) {
        neg = 1;
        next(p);
    }
    if (p->tok.type != T_INT) {
        char buf[96];
        snprintf(buf, sizeof buf, "an integer (%s)", what);
        expected(p, buf);
        return -1;
    }
    *v = neg ? -p->tok.i : p->tok.i;
    next(p);
    return 0;
}

static void parse_query(struct parser *p)
{
    struct rql_query *q = p->q;
    if (p->tok.type != T_SELECT) {
        expected(p, "SELECT");
        return;
    }
    next(p);
    for (;;) {
        struct rql_node *e = parse_expr(p);
        if (e == NULL)
            return;
        struct rql_node **ns = realloc(q->select, (q->nselect + 1) * sizeof *ns);
        if (ns == NULL) {
            node_free(e);
            fail_at(p, TT_ENOMEM, p->tok.start, "out of memory");
            return;
        }
        q->select = ns;
        q->select[q->nselect++] = e;
        if (p->tok.type != T_COMMA)
            break;
        next(p);
    }
    if (p->tok.type != T_FROM) {
        expected(p, "',' or FROM");
        return;
    }
    next(p);
    for (;;) {
        if (p->tok.type != T_IDENT) {
            expected(p, "a log name");
            return;
        }
        for (uint32_t k = 0; k < q->nfrom; k++) {
            if (strlen(q->from[k]) == p->tok.len &&
                memcmp(q->from[k], p->s + p->tok.start, p->tok.len) == 0) {
                fail_at(p, TT_EINVAL, p->tok.start, "log '%s' named twice in FROM", q->from[k]);
                return;
            }
        }
        char **nf = realloc(q->from, (q->nfrom + 1) * sizeof *nf);
        if (nf == NULL) {
            fail_at(p, TT_ENOMEM, p->tok.start, "out of memory");
            return;
        }
        q->from = nf;
        if ((q->from[q->nfrom] = dup_n(p, p->s + p->tok.start, p->tok.len)) == NULL)
            return;
        q->nfrom++;
        next(p);
        if (p->tok.type != T_COMMA)
            break;
        next(p);
    }
    if (p->tok.type == T_WHEN) {
        next(p);
        if ((q->when = parse_expr(p)) == NULL)
            return;
    }
    if (p->tok.type == T_LINK) {
        next(p);
        if (p->tok.type == T_SAME_NODE) {
            q->link = RQL_LINK_SAME_NODE;
        } else if (p->tok.type == T_EACH_NODE) {
            q->link = RQL_LINK_EACH_NODE;
        } else {
            expected(p, "SAME_NODE or EACH_NODE");
            return;
        }
        next(p);
    }
    if (p->tok.type == T_BETWEEN) {
        size_t off = p->tok.start;
        next(p);
        if (parse_int_clause(p, "HLC milliseconds", &q->between_lo) != 0)
            return;
        if (p->tok.type != T_AND) {
            expected(p, "AND");
            return;
        }
        next(p);
        if (parse_int_clause(p, "HLC milliseconds", &q->between_hi) != 0)
            return;
        if (q->between_lo > q->between_hi) {
            fail_at(p, TT_EINVAL, off,
                    "BETWEEN %" PRId64 " AND %" PRId64 ": the start is after the end",
                    q->between_lo, q->between_hi);
            return;
        }
        q->has_between = 1;
    }
    if (p->tok.type == T_LIMIT) {
        size_t off = p->tok.start;
        next(p);
        if (parse_int_clause(p, "the number of cuts", &q->limit) != 0)
            return;
        if (q->limit < 1) {
            fail_at(p, TT_EINVAL, off, "LIMIT %" PRId64 ": must be at least 1", q->limit);
            return;
        }
        q->has_limit = 1;
    }
    if (p->tok.type == T_SEMI)
        next(p);
    if (p->tok.type != T_EOF) {
        const char *exp = "end of input";
        if (!q->has_limit && !q->has_between && !q->link && !q->when)
            exp = "WHEN, LINK, BETWEEN, LIMIT or end of input";
        else if (!q->has_limit && !q->has_between && !q->link)
            exp = "an operator, LINK, BETWEEN, LIMIT or end of input";
        else if (!q->has_limit && !q->has_between)
            exp = "BETWEEN, LIMIT or end of input";
        else if (!q->has_limit)
            exp = "LIMIT or end of input";
        expected(p, exp);
        return;
    }
    resolve(p, q->when, 0);
    q->nwhen_occ = q->nocc;
    for (uint32_t k = 0; k < q->nselect; k++)
        resolve(p, q->select[k], 1);
    check_occ(p, q->when, 1);
    for (uint32_t k = 0; k < q->nselect; k++)
        check_occ(p, q->select[k], 0);
}

int rql_parse(const char *text, size_t len, struct rql_query **out, struct rql_error *err)
{
    struct parser p;
    memset(&p, 0, sizeof p);
    p.s = text;
    p.len = len;
    p.err = err;
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (len > RQL_MAX_QUERY_BYTES) {
        fail_at(&p, TT_ETOOBIG, 0, "query of %zu bytes is longer than the %u allowed", len,
                RQL_MAX_QUERY_BYTES);
        return p.failed;
    }
    p.q = calloc(1, sizeof *p.q);
    if (p.q == NULL) {
        fail_at(&p, TT_ENOMEM, 0, "out of memory");
        return p.failed;
    }
    next(&p);
    parse_query(&p);
    free(p.tok.str);
    if (p.failed) {
        rql_query_free(p.q);
        return p.failed;
    }
    *out = p.q;
    return 0;
}

/* ---- printer -------------------------------------------------------------------- */

const char *rql_fn_name(enum rql_fn fn)
{
    for (size_t k = 0; k < sizeof functions / sizeof functions[0]; k++)
        if (functions[k].fn == fn)
            return functions[k].name;
    return "?";
}

static const char *op_text(uint8_t op)
{
    static const char *const t[] = { "OR", "AND", "=", "!=", "<", "<=", ">",   ">=",
                                     "+",  "-",   "*", "/",  "%", "-",  "NOT " };
    return op < sizeof t / sizeof t[0] ? t[op] : "?";
}

static void put_s(struct wbuf *b, const char *s)
{
    wbuf_put(b, s, strlen(s));
}

static void print_str(struct wbuf *b, const char *s, size_t n)
{
    wbuf_put_u8(b, '"');
    for (size_t k = 0; k < n; k++) {
        switch (s[k]) {
        case '"':
            put_s(b, "\\\"");
            break;
        case '\\':
            put_s(b, "\\\\");
            break;
        case '\n':
            put_s(b, "\\n");
            break;
        case '\t':
            put_s(b, "\\t");
            break;
        default:
            wbuf_put_u8(b, (uint8_t)s[k]);
            break;
        }
    }
    wbuf_put_u8(b, '"');
}

int rql_print_expr(const struct rql_query *q, const struct rql_node *n, struct wbuf *b)
{
    char tmp[64];
    switch (n->type) {
    case RQL_LIT:
        switch (n->lit.type) {
        case RQL_V_INT:
            snprintf(tmp, sizeof tmp, "%" PRId64, n->lit.u.i);
            put_s(b, tmp);
            break;
        case RQL_V_FLOAT:
            snprintf(tmp, sizeof tmp, "%.17g", n->lit.u.f);
            if (strpbrk(tmp, ".e") == NULL)
                snprintf(tmp + strlen(tmp), sizeof tmp - strlen(tmp), ".0");
            put_s(b, tmp);
            break;
        case RQL_V_STR:
            print_str(b, n->lit.u.s.p, n->lit.u.s.len);
            break;
        case RQL_V_BOOL:
            put_s(b, n->lit.u.b ? "TRUE" : "FALSE");
            break;
        default:
            put_s(b, "NULL");
            break;
        }
        break;
    case RQL_VAR:
        if (n->var < q->nvars) {
            put_s(b, q->vars[n->var].log);
            wbuf_put_u8(b, '.');
            put_s(b, q->vars[n->var].name);
        } else {
            put_s(b, n->vname);
        }
        break;
    case RQL_OCC:
        snprintf(tmp, sizeof tmp, "$%u", n->occ);
        put_s(b, tmp);
        break;
    case RQL_UNARY:
        wbuf_put_u8(b, '(');
        put_s(b, op_text(n->op));
        rql_print_expr(q, n->kids[0], b);
        wbuf_put_u8(b, ')');
        break;
    case RQL_BINARY:
        wbuf_put_u8(b, '(');
        rql_print_expr(q, n->kids[0], b);
        wbuf_put_u8(b, ' ');
        put_s(b, op_text(n->op));
        wbuf_put_u8(b, ' ');
        rql_print_expr(q, n->kids[1], b);
        wbuf_put_u8(b, ')');
        break;
    case RQL_CALL:
        put_s(b, rql_fn_name((enum rql_fn)n->fn));
        wbuf_put_u8(b, '(');
        for (uint32_t k = 0; k < n->nkids; k++) {
            if (k)
                put_s(b, ", ");
            rql_print_expr(q, n->kids[k], b);
        }
        wbuf_put_u8(b, ')');
        break;
    default:
        break;
    }
    return b->err;
}

int rql_print(const struct rql_query *q, struct wbuf *b)
{
    char tmp[96];
    put_s(b, "SELECT ");
    for (uint32_t k = 0; k < q->nselect; k++) {
        if (k)
            put_s(b, ", ");
        rql_print_expr(q, q->select[k], b);
    }
    put_s(b, " FROM ");
    for (uint32_t k = 0; k < q->nfrom; k++) {
        if (k)
            put_s(b, ", ");
        put_s(b, q->from[k]);
    }
    if (q->when) {
        put_s(b, " WHEN ");
        rql_print_expr(q, q->when, b);
    }
    if (q->link == RQL_LINK_SAME_NODE)
        put_s(b, " LINK SAME_NODE");
    else if (q->link == RQL_LINK_EACH_NODE)
        put_s(b, " LINK EACH_NODE");
    if (q->has_between) {
        snprintf(tmp, sizeof tmp, " BETWEEN %" PRId64 " AND %" PRId64, q->between_lo,
                 q->between_hi);
        put_s(b, tmp);
    }
    if (q->has_limit) {
        snprintf(tmp, sizeof tmp, " LIMIT %" PRId64, q->limit);
        put_s(b, tmp);
    }
    return b->err;
}

int rql_query_uses(const struct rql_query *q, const char *log, const char *var)
{
    for (uint32_t k = 0; k < q->nvars; k++)
        if (strcmp(q->vars[k].log, log) == 0 && strcmp(q->vars[k].name, var) == 0)
            return 1;
    return 0;
}
