/*
 * parser.c - PromQL parser (see parser.h): recursive descent with precedence
 * climbing for binary operators, followed by a type-checking pass that
 * mirrors Prometheus's checkAST (promql/parser/parse.go) in order, so the
 * first error reported is the one Prometheus reports.
 *
 * Grammar decisions taken from Prometheus's yacc grammar:
 *  - precedence, low to high: or; and unless; == != <= < >= >; + -;
 *    * / % atan2; ^ (right associative); unary + - bind like * (so -2^2 is
 *    -(2^2) and -a*b is (-a)*b); offset, @ and [..] bind tightest;
 *  - unary minus on a number literal folds into the literal;
 *  - aggregation and function names, and keywords such as by, offset, and,
 *    are metric names where an expression starts and no '(' (or by/without
 *    for aggregations) follows;
 *  - "unexpected X in <context>, expected Y" messages come from the grammar's
 *    error productions (grouping opts, label matching, offset, @, subquery).
 *
 * Numbers, durations, ranges, offsets and duration expressions are parsed in
 * parser_duration.c; the two files share struct parser via parser_int.h.
 *
 * Invariants: the first error wins (parser_fail() ignores later ones) and every
 * parse function returns NULL once an error is recorded; all memory comes
 * from the arena, so an error path frees everything with one release.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/functions.h"
#include "query/promql/lexer.h"
#include "query/promql/parser.h"
#include "query/promql/parser_int.h"

enum {
    PREC_OR = 1,
    PREC_AND = 2,
    PREC_CMP = 3,
    PREC_ADD = 4,
    PREC_MUL = 5,
    PREC_POW = 6,
};

/* ---- errors -------------------------------------------------------------------- */

static void set_error(struct parser *p, int code, size_t pos, const char *detail)
{
    if (p->failed)
        return;
    p->failed = code;
    struct promql_error *e = p->err;
    if (!e)
        return;
    e->code = code;
    e->offset = pos;
    unsigned line = 1;
    size_t last_nl = (size_t)-1;
    for (size_t i = 0; i < pos && i < p->len; i++) {
        if (p->in[i] == '\n') {
            line++;
            last_nl = i;
        }
    }
    e->line = line;
    e->col = (unsigned)(pos - last_nl);
    snprintf(e->detail, sizeof(e->detail), "%s", detail);
    if (code == TT_ENOMEM || code == TT_ETOOBIG)
        snprintf(e->msg, sizeof(e->msg), "%s", detail);
    else if (p->len == 0)
        snprintf(e->msg, sizeof(e->msg), "unknown position: parse error: %s", detail);
    else
        snprintf(e->msg, sizeof(e->msg), "%u:%u: parse error: %s", e->line, e->col, detail);
}

void *parser_fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    char buf[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    set_error(p, TT_ESYNTAX, pos, buf);
    return NULL;
}

static void *oom(struct parser *p)
{
    set_error(p, TT_ENOMEM, 0, "out of memory");
    return NULL;
}

void *parser_alloc(struct parser *p, size_t n)
{
    void *m = promql_arena_alloc(p->arena, n);
    if (!m)
        oom(p);
    return m;
}

/* goq writes s[0..n) Go-quoted into buf (truncated to fit). */
static const char *goq(const char *s, size_t n, char *buf, size_t bufn)
{
    struct wbuf b;
    wbuf_init(&b, bufn > 1 ? bufn - 1 : 1);
    promql_quote(&b, s, n);
    size_t c = b.err ? 0 : b.len;
    if (c > bufn - 1)
        c = bufn - 1;
    if (c)
        memcpy(buf, b.data, c);
    buf[c] = 0;
    if (b.err && bufn > 3)
        snprintf(buf, bufn, "\"...\"");
    wbuf_release(&b);
    return buf;
}

/* ---- tokens ---------------------------------------------------------------------- */

struct promql_token *parser_peek_tok(struct parser *p)
{
    if (!p->have_tok) {
        promql_lexer_next(&p->lx, &p->tok);
        p->have_tok = 1;
        if (p->tok.type == PT_ERROR)
            parser_fail(p, p->tok.pos, "%s", p->lx.errmsg);
    }
    return &p->tok;
}

enum promql_tok parser_peek(struct parser *p)
{
    return parser_peek_tok(p)->type;
}

struct promql_token parser_advance(struct parser *p)
{
    struct promql_token t = *parser_peek_tok(p);
    if (t.type != PT_EOF && t.type != PT_ERROR)
        p->have_tok = 0;
    p->last_end = t.pos + t.len;
    return t;
}

/* tok_desc describes a token as Prometheus's Item.desc() does. */
static void tok_desc(struct parser *p, const struct promql_token *t, char *buf, size_t n)
{
    char q[160];
    const char *text = p->in + t->pos;
    size_t len = t->len;
    if (t->type == PT_EOF) {
        snprintf(buf, n, "end of input");
        return;
    }
    if (t->type == PT_IDENTIFIER || t->type == PT_METRIC_IDENTIFIER) {
        snprintf(buf, n, "%s %s", t->type == PT_IDENTIFIER ? "identifier" : "metric identifier",
                 goq(text, len, q, sizeof(q)));
        return;
    }
    if (promql_tok_is_keyword(t->type)) {
        snprintf(buf, n, "<%.*s>", (int)len, text);
        return;
    }
    if (promql_tok_is_operator(t->type)) {
        snprintf(buf, n, "<op:%.*s>", (int)len, text);
        return;
    }
    if (promql_tok_is_aggregator(t->type)) {
        snprintf(buf, n, "<aggr:%.*s>", (int)len, text);
        return;
    }
    /* Go's "%.10q...": at most 10 runes, then an ellipsis. */
    size_t cut = len, runes = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (runes == 10) {
                cut = i;
                break;
            }
            runes++;
        }
    }
    const char *kind = NULL;
    if (t->type == PT_NUMBER)
        kind = "number";
    else if (t->type == PT_DURATION)
        kind = "duration";
    else if (t->type == PT_STRING)
        kind = "string";
    goq(text, cut, q, sizeof(q));
    snprintf(buf, n, "%s%s%s%s", kind ? kind : "", kind ? " " : "", q, len > 10 ? "..." : "");
}

/* unexpected reports the lookahead as unexpected (Prometheus's parser_unexpected()). */
void *parser_unexpected(struct parser *p, const char *context, const char *expected)
{
    struct promql_token *t = parser_peek_tok(p);
    if (p->failed)
        return NULL;
    char d[200];
    tok_desc(p, t, d, sizeof(d));
    return parser_fail(p, t->pos, "unexpected %s%s%s%s%s", d, context ? " in " : "",
                       context ? context : "", expected ? ", expected " : "",
                       expected ? expected : "");
}

/* ---- node helpers ------------------------------------------------------------------- */

static struct promql_expr *new_node(struct parser *p, enum promql_kind kind, uint32_t pos)
{
    struct promql_expr *e = parser_alloc(p, sizeof(*e));
    if (!e)
        return NULL;
    e->kind = kind;
    e->pos = pos;
    e->height = 1;
    return e;
}

/* set_height updates e's height from a child; fails past the depth cap. */
static int add_child_height(struct parser *p, struct promql_expr *e, const struct promql_expr *c)
{
    if (c && c->height + 1 > e->height)
        e->height = c->height + 1;
    if (e->height > PROMQL_MAX_DEPTH) {
        parser_fail(p, e->pos, "expression nested too deeply (more than %d levels)",
                    PROMQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static int copy_str(struct parser *p, const char *s, size_t n, struct promql_str *out)
{
    char *m = parser_alloc(p, n + 1);
    if (!m)
        return -1;
    memcpy(m, s, n);
    m[n] = 0;
    out->ptr = m;
    out->len = n;
    return 0;
}

/* unquote_tok decodes a STRING token into the arena. */
static int unquote_tok(struct parser *p, const struct promql_token *t, struct promql_str *out)
{
    char *m = parser_alloc(p, (size_t)t->len + 1);
    if (!m)
        return -1;
    size_t n = 0;
    if (promql_unquote(p->in + t->pos, t->len, m, &n) != 0) {
        char q[160];
        parser_fail(p, t->pos, "error unquoting string %s: invalid syntax",
                    goq(p->in + t->pos, t->len, q, sizeof(q)));
        return -1;
    }
    m[n] = 0;
    out->ptr = m;
    out->len = n;
    return 0;
}

/* grow doubles an arena array when full (old storage stays in the arena). */
static void *grow(struct parser *p, void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *m = parser_alloc(p, ncap * elem);
    if (!m)
        return NULL;
    if (n)
        memcpy(m, arr, n * elem);
    *cap = ncap;
    return m;
}

static int valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t need;
        uint32_t r, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            need = 1, r = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 2, r = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 3, r = c & 0x07, min = 0x10000;
        else
            return 0;
        if (n - i < need + 1)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return 0;
            r = (r << 6) | ((unsigned char)s[i + k] & 0x3F);
        }
        if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* ---- regex matchers --------------------------------------------------------------- */

/* compile_anchored compiles a matcher regex the way Prometheus anchors it
 * (^(?s:re)$); returns NULL and a message on error. */
static pcre2_code *compile_anchored(const struct promql_matcher *m, char *msg, size_t msglen)
{
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)m->value.ptr, m->value.len,
                                   PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL | PCRE2_UTF,
                                   &errcode, &erroff, NULL);
    if (!re && msg) {
        PCRE2_UCHAR buf[160];
        if (pcre2_get_error_message(errcode, buf, sizeof(buf)) < 0)
            snprintf((char *)buf, sizeof(buf), "invalid regular expression");
        snprintf(msg, msglen, "%s", (const char *)buf);
    }
    return re;
}

static int regex_matches_empty(pcre2_code *re)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md)
        return TT_ENOMEM;
    int rc = pcre2_match(re, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return TT_ESYNTAX;
}

int promql_matcher_matches_empty(const struct promql_matcher *m)
{
    switch (m->op) {
    case PROMQL_MATCH_EQ:
        return m->value.len == 0;
    case PROMQL_MATCH_NEQ:
        return m->value.len != 0;
    default:
        break;
    }
    pcre2_code *re = compile_anchored(m, NULL, 0);
    if (!re)
        return TT_ESYNTAX;
    int r = regex_matches_empty(re);
    pcre2_code_free(re);
    if (r < 0)
        return r;
    return m->op == PROMQL_MATCH_RE ? r : !r;
}

/* ---- parse functions ---------------------------------------------------------------- */

static struct promql_expr *parse_expr(struct parser *p, int min_prec);

int parser_enter(struct parser *p, size_t pos)
{
    if (++p->depth > PROMQL_MAX_DEPTH) {
        parser_fail(p, pos, "expression nested too deeply (more than %d levels)", PROMQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static int is_label_token(enum promql_tok t)
{
    /* Prometheus's maybe_label: identifiers and every keyword-like word. */
    if (t == PT_IDENTIFIER || t == PT_METRIC_IDENTIFIER)
        return 1;
    if (promql_tok_is_aggregator(t) || promql_tok_is_keyword(t))
        return 1;
    switch (t) {
    case PT_LAND:
    case PT_LOR:
    case PT_LUNLESS:
    case PT_ATAN2:
    case PT_START:
    case PT_END:
    case PT_STEP:
    case PT_RANGE:
    case PT_MAX_OF:
    case PT_MIN_OF:
        return 1;
    default:
        return 0;
    }
}

/* is_metric_word: tokens that Prometheus accepts as a metric name
 * (metric_identifier): identifiers, aggregators and most keywords, but not
 * bool, on, ignoring, group_left, group_right or atan2. */
static int is_metric_word(enum promql_tok t)
{
    switch (t) {
    case PT_IDENTIFIER:
    case PT_METRIC_IDENTIFIER:
    case PT_BY:
    case PT_WITHOUT:
    case PT_OFFSET:
    case PT_LAND:
    case PT_LOR:
    case PT_LUNLESS:
    case PT_FILL:
    case PT_FILL_LEFT:
    case PT_FILL_RIGHT:
    case PT_START:
    case PT_END:
    case PT_STEP:
    case PT_RANGE:
    case PT_ANCHORED:
    case PT_SMOOTHED:
    case PT_MAX_OF:
    case PT_MIN_OF:
        return 1;
    default:
        return promql_tok_is_aggregator(t);
    }
}

/* parse_grouping parses "(a, b, ...)" (trailing comma allowed) into *out. */
static int parse_grouping(struct parser *p, struct promql_str **out, size_t *nout)
{
    if (parser_peek(p) != PT_LEFT_PAREN) {
        parser_unexpected(p, "grouping opts", "\"(\"");
        return -1;
    }
    parser_advance(p);
    struct promql_str *labels = NULL;
    size_t n = 0, cap = 0;
    if (parser_peek(p) == PT_RIGHT_PAREN) {
        parser_advance(p);
        *out = NULL;
        *nout = 0;
        return p->failed ? -1 : 0;
    }
    for (;;) {
        enum promql_tok t = parser_peek(p);
        if (p->failed)
            return -1;
        struct promql_str s;
        if (t == PT_STRING) {
            struct promql_token st = parser_advance(p);
            if (unquote_tok(p, &st, &s) < 0)
                return -1;
            if (!valid_utf8(s.ptr, s.len)) {
                char q[160];
                parser_fail(p, st.pos, "invalid label name for grouping: %s",
                            goq(s.ptr, s.len, q, sizeof(q)));
                return -1;
            }
        } else if (is_label_token(t)) {
            struct promql_token lt = parser_advance(p);
            if (copy_str(p, p->in + lt.pos, lt.len, &s) < 0)
                return -1;
        } else {
            parser_unexpected(p, "grouping opts", "label");
            return -1;
        }
        labels = grow(p, labels, n, &cap, sizeof(*labels));
        if (!labels)
            return -1;
        labels[n++] = s;
        t = parser_peek(p);
        if (t == PT_COMMA) {
            parser_advance(p);
            if (parser_peek(p) == PT_RIGHT_PAREN) {
                parser_advance(p);
                break;
            }
            continue;
        }
        if (t == PT_RIGHT_PAREN) {
            parser_advance(p);
            break;
        }
        parser_unexpected(p, "grouping opts", "\",\" or \")\"");
        return -1;
    }
    *out = labels;
    *nout = n;
    return p->failed ? -1 : 0;
}

/* parse_matchers parses "{...}" after the brace was seen (not consumed). */
static int parse_matchers(struct parser *p, struct promql_matcher **out, size_t *nout, size_t *cap)
{
    parser_advance(p); /* { */
    struct promql_matcher *ms = *out;
    size_t n = *nout;
    if (parser_peek(p) == PT_RIGHT_BRACE) {
        parser_advance(p);
        return p->failed ? -1 : 0;
    }
    for (;;) {
        enum promql_tok t = parser_peek(p);
        if (p->failed)
            return -1;
        struct promql_matcher m;
        memset(&m, 0, sizeof(m));
        struct promql_token nt;
        if (t == PT_IDENTIFIER || t == PT_STRING) {
            nt = parser_advance(p);
            if (t == PT_IDENTIFIER) {
                if (copy_str(p, p->in + nt.pos, nt.len, &m.name) < 0)
                    return -1;
            } else if (unquote_tok(p, &nt, &m.name) < 0) {
                return -1;
            }
            enum promql_tok op = parser_peek(p);
            if (op == PT_EQL || op == PT_NEQ || op == PT_EQL_REGEX || op == PT_NEQ_REGEX) {
                parser_advance(p);
                m.op = op == PT_EQL         ? PROMQL_MATCH_EQ
                       : op == PT_NEQ       ? PROMQL_MATCH_NEQ
                       : op == PT_EQL_REGEX ? PROMQL_MATCH_RE
                                            : PROMQL_MATCH_NRE;
                if (parser_peek(p) != PT_STRING) {
                    parser_unexpected(p, "label matching", "string");
                    return -1;
                }
                struct promql_token vt = parser_advance(p);
                if (unquote_tok(p, &vt, &m.value) < 0)
                    return -1;
            } else if (t == PT_STRING) {
                /* {"metric"}: a quoted metric name. */
                m.value = m.name;
                if (copy_str(p, "__name__", 8, &m.name) < 0)
                    return -1;
                m.op = PROMQL_MATCH_EQ;
            } else {
                parser_unexpected(p, "label matching", "label matching operator");
                return -1;
            }
        } else {
            parser_unexpected(p, "label matching", "identifier or \"}\"");
            return -1;
        }
        if (m.op == PROMQL_MATCH_RE || m.op == PROMQL_MATCH_NRE) {
            char msg[200];
            pcre2_code *re = compile_anchored(&m, msg, sizeof(msg));
            if (!re) {
                parser_fail(p, nt.pos, "error parsing regexp: %s", msg);
                return -1;
            }
            int r = regex_matches_empty(re);
            pcre2_code_free(re);
            if (r < 0) {
                parser_fail(p, nt.pos, "error parsing regexp: cannot match");
                return -1;
            }
            m.matches_empty = (int8_t)(m.op == PROMQL_MATCH_RE ? r : !r);
        } else {
            m.matches_empty = (int8_t)promql_matcher_matches_empty(&m);
        }
        ms = grow(p, ms, n, cap, sizeof(*ms));
        if (!ms)
            return -1;
        ms[n++] = m;
        *out = ms;
        *nout = n;
        t = parser_peek(p);
        if (t == PT_COMMA) {
            parser_advance(p);
            if (parser_peek(p) == PT_RIGHT_BRACE) {
                parser_advance(p);
                break;
            }
            continue;
        }
        if (t == PT_RIGHT_BRACE) {
            parser_advance(p);
            break;
        }
        parser_unexpected(p, "label matching", "\",\" or \"}\"");
        return -1;
    }
    return p->failed ? -1 : 0;
}

/* parse_vector_selector: [name] [{matchers}]; name_tok NULL when it starts
 * with '{'. */
static struct promql_expr *parse_vector_selector(struct parser *p,
                                                 const struct promql_token *name_tok)
{
    uint32_t pos = name_tok ? name_tok->pos : parser_peek_tok(p)->pos;
    struct promql_expr *e = new_node(p, PROMQL_VECTOR_SELECTOR, pos);
    if (!e)
        return NULL;
    e->type = PROMQL_TYPE_VECTOR;
    struct promql_vector_selector *vs = &e->u.vs;
    struct promql_matcher *ms = NULL;
    size_t n = 0, cap = 0;
    if (name_tok) {
        if (copy_str(p, p->in + name_tok->pos, name_tok->len, &vs->name) < 0)
            return NULL;
        ms = grow(p, ms, n, &cap, sizeof(*ms));
        if (!ms)
            return NULL;
        ms[0].op = PROMQL_MATCH_EQ;
        if (copy_str(p, "__name__", 8, &ms[0].name) < 0)
            return NULL;
        ms[0].value = vs->name;
        ms[0].matches_empty = 0;
        n = 1;
    } else {
        if (copy_str(p, "", 0, &vs->name) < 0)
            return NULL;
    }
    if (parser_peek(p) == PT_LEFT_BRACE) {
        if (parse_matchers(p, &ms, &n, &cap) < 0)
            return NULL;
    }
    if (p->failed)
        return NULL;
    vs->matchers = ms;
    vs->nmatchers = n;
    e->end = p->last_end;
    return e;
}

/* parse_call_args parses "(a, b, ...)" with the '(' as lookahead. */
static int parse_call_args(struct parser *p, struct promql_expr ***out, size_t *nout)
{
    parser_advance(p); /* ( */
    struct promql_expr **args = NULL;
    size_t n = 0, cap = 0;
    if (parser_peek(p) == PT_RIGHT_PAREN) {
        parser_advance(p);
        *out = NULL;
        *nout = 0;
        return p->failed ? -1 : 0;
    }
    for (;;) {
        struct promql_expr *a = parse_expr(p, 0);
        if (!a)
            return -1;
        args = grow(p, args, n, &cap, sizeof(*args));
        if (!args)
            return -1;
        args[n++] = a;
        enum promql_tok t = parser_peek(p);
        if (t == PT_COMMA) {
            struct promql_token c = parser_advance(p);
            if (parser_peek(p) == PT_RIGHT_PAREN) {
                parser_fail(p, c.pos, "trailing commas not allowed in function call args");
                return -1;
            }
            continue;
        }
        if (t == PT_RIGHT_PAREN) {
            parser_advance(p);
            break;
        }
        parser_unexpected(p, NULL, NULL);
        return -1;
    }
    *out = args;
    *nout = n;
    return p->failed ? -1 : 0;
}

static struct promql_expr *parse_call(struct parser *p, const struct promql_token *name)
{
    struct promql_expr *e = new_node(p, PROMQL_CALL, name->pos);
    if (!e)
        return NULL;
    if (parse_call_args(p, &e->u.call.args, &e->u.call.nargs) < 0)
        return NULL;
    e->end = p->last_end;
    const struct promql_function *f = promql_function_lookup(p->in + name->pos, name->len);
    if (!f) {
        char q[160];
        return parser_fail(p, name->pos, "unknown function with name %s",
                           goq(p->in + name->pos, name->len, q, sizeof(q)));
    }
    if (f->experimental && !p->experimental) {
        char q[160];
        return parser_fail(p, name->pos, "function %s is not enabled",
                           goq(p->in + name->pos, name->len, q, sizeof(q)));
    }
    e->u.call.func = f;
    e->type = f->return_type;
    for (size_t i = 0; i < e->u.call.nargs; i++)
        if (add_child_height(p, e, e->u.call.args[i]) < 0)
            return NULL;
    return e;
}

static enum promql_aggop agg_of(enum promql_tok t)
{
    switch (t) {
    case PT_AVG:
        return PROMQL_AGG_AVG;
    case PT_COUNT:
        return PROMQL_AGG_COUNT;
    case PT_MIN:
        return PROMQL_AGG_MIN;
    case PT_MAX:
        return PROMQL_AGG_MAX;
    case PT_GROUP:
        return PROMQL_AGG_GROUP;
    case PT_STDDEV:
        return PROMQL_AGG_STDDEV;
    case PT_STDVAR:
        return PROMQL_AGG_STDVAR;
    case PT_TOPK:
        return PROMQL_AGG_TOPK;
    case PT_BOTTOMK:
        return PROMQL_AGG_BOTTOMK;
    case PT_QUANTILE:
        return PROMQL_AGG_QUANTILE;
    case PT_COUNT_VALUES:
        return PROMQL_AGG_COUNT_VALUES;
    case PT_LIMITK:
        return PROMQL_AGG_LIMITK;
    case PT_LIMIT_RATIO:
        return PROMQL_AGG_LIMIT_RATIO;
    default:
        return PROMQL_AGG_SUM;
    }
}

static struct promql_expr *parse_aggregate(struct parser *p, const struct promql_token *op)
{
    struct promql_expr *e = new_node(p, PROMQL_AGGREGATE, op->pos);
    if (!e)
        return NULL;
    e->type = PROMQL_TYPE_VECTOR;
    struct promql_aggregate *a = &e->u.agg;
    a->op = agg_of(op->type);
    int have_grouping = 0;
    enum promql_tok t = parser_peek(p);
    if (t == PT_BY || t == PT_WITHOUT) {
        parser_advance(p);
        a->without = t == PT_WITHOUT;
        if (parse_grouping(p, &a->grouping, &a->ngrouping) < 0)
            return NULL;
        have_grouping = 1;
        if (parser_peek(p) != PT_LEFT_PAREN)
            return parser_unexpected(p, "aggregation", NULL);
    }
    struct promql_expr **args = NULL;
    size_t nargs = 0;
    if (parse_call_args(p, &args, &nargs) < 0)
        return NULL;
    if (!have_grouping) {
        t = parser_peek(p);
        if (t == PT_BY || t == PT_WITHOUT) {
            parser_advance(p);
            a->without = t == PT_WITHOUT;
            if (parse_grouping(p, &a->grouping, &a->ngrouping) < 0)
                return NULL;
        }
    }
    if (p->failed)
        return NULL;
    e->end = p->last_end;
    if (nargs == 0)
        return parser_fail(p, e->pos, "no arguments for aggregate expression provided");
    if ((op->type == PT_LIMITK || op->type == PT_LIMIT_RATIO) && !p->experimental)
        return parser_fail(p, e->pos,
                           "%.*s() is experimental and must be enabled with "
                           "--enable-feature=promql-experimental-functions",
                           (int)op->len, p->in + op->pos);
    size_t want = promql_aggop_has_param(a->op) ? 2 : 1;
    if (nargs != want)
        return parser_fail(
            p, e->pos,
            "wrong number of arguments for aggregate expression provided, expected %zu, "
            "got %zu",
            want, nargs);
    if (want == 2)
        a->param = args[0];
    a->expr = args[want - 1];
    if (add_child_height(p, e, a->expr) < 0 || add_child_height(p, e, a->param) < 0)
        return NULL;
    return e;
}

static void format_go_float(double v, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(buf, n, "%f", v);
}

static struct promql_expr *parse_at(struct parser *p, struct promql_expr *e)
{
    parser_advance(p); /* @ */
    enum promql_tok t = parser_peek(p);
    if (p->failed)
        return NULL;
    enum promql_at at = PROMQL_AT_TIMESTAMP;
    double ts = 0;
    if (t == PT_START || t == PT_END) {
        parser_advance(p);
        if (parser_peek(p) != PT_LEFT_PAREN)
            return parser_unexpected(p, "@", "timestamp");
        parser_advance(p);
        if (parser_peek(p) != PT_RIGHT_PAREN)
            return parser_unexpected(p, "@", "timestamp");
        parser_advance(p);
        at = t == PT_START ? PROMQL_AT_START : PROMQL_AT_END;
    } else {
        int neg = 0;
        if (t == PT_ADD || t == PT_SUB) {
            parser_advance(p);
            neg = t == PT_SUB;
            t = parser_peek(p);
        }
        if (t != PT_NUMBER && t != PT_DURATION)
            return parser_unexpected(p, "@", "timestamp");
        struct promql_token nt = parser_advance(p);
        if (parser_number_value(p, &nt, &ts) < 0)
            return NULL;
        if (neg)
            ts = -ts;
        if (isnan(ts) || isinf(ts) || ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0) {
            char f[400];
            format_go_float(ts, f, sizeof(f));
            return parser_fail(p, e->pos, "timestamp out of bounds for @ modifier: %s", f);
        }
    }
    if (p->failed)
        return NULL;
    struct promql_time_mods *m = parser_mods_of(e);
    if (!m)
        return parser_fail(
            p, e->pos,
            "@ modifier must be preceded by an instant vector selector or range vector "
            "selector or a subquery");
    if (m->at != PROMQL_AT_NONE)
        return parser_fail(p, e->pos, "@ <timestamp> may not be set multiple times");
    m->at = at;
    if (at == PROMQL_AT_TIMESTAMP) {
        double ms = round(ts * 1000.0);
        m->at_ms = ms >= 9223372036854775807.0    ? INT64_MAX
                   : ms <= -9223372036854775808.0 ? INT64_MIN
                                                  : (int64_t)ms;
    }
    e->end = p->last_end;
    return e;
}

static struct promql_expr *parse_brackets(struct parser *p, struct promql_expr *e)
{
    struct promql_token lb = parser_advance(p); /* [ */
    int64_t range_ms;
    struct promql_dur_expr *range_expr = NULL, *step_expr = NULL;
    if (parser_range(p, "subquery or range selector", "number, duration, step(), or range()",
                     &range_ms, &range_expr) < 0)
        return NULL;
    enum promql_tok t = parser_peek(p);
    if (p->failed)
        return NULL;
    if (t == PT_RIGHT_BRACKET) {
        parser_advance(p);
        if (e->kind != PROMQL_VECTOR_SELECTOR)
            return parser_fail(p, lb.pos, "ranges only allowed for vector selectors");
        if (e->u.vs.mods.offset_ms != 0 || e->u.vs.mods.offset_expr != NULL)
            return parser_fail(p, lb.pos, "no offset modifiers allowed before range");
        if (e->u.vs.mods.at != PROMQL_AT_NONE)
            return parser_fail(p, lb.pos, "no @ modifiers allowed before range");
        struct promql_expr *m = new_node(p, PROMQL_MATRIX_SELECTOR, e->pos);
        if (!m)
            return NULL;
        m->type = PROMQL_TYPE_MATRIX;
        m->u.ms.vs = e;
        m->u.ms.range_ms = range_ms;
        m->u.ms.range_expr = range_expr;
        m->end = p->last_end;
        if (add_child_height(p, m, e) < 0)
            return NULL;
        return m;
    }
    if (t != PT_COLON)
        return parser_unexpected(p, "subquery or range", "\":\" or \"]\"");
    parser_advance(p);
    int64_t step_ms = 0;
    if (parser_peek(p) != PT_RIGHT_BRACKET) {
        if (parser_range(p, "subquery selector", "number, duration, step(), range(), or \"]\"",
                         &step_ms, &step_expr) < 0)
            return NULL;
        if (parser_peek(p) != PT_RIGHT_BRACKET)
            return parser_unexpected(p, "subquery selector", "\"]\"");
    }
    parser_advance(p);
    if (p->failed)
        return NULL;
    struct promql_expr *s = new_node(p, PROMQL_SUBQUERY, e->pos);
    if (!s)
        return NULL;
    s->type = PROMQL_TYPE_MATRIX;
    s->u.sq.expr = e;
    s->u.sq.range_ms = range_ms;
    s->u.sq.step_ms = step_ms;
    s->u.sq.range_expr = range_expr;
    s->u.sq.step_expr = step_expr;
    s->end = p->last_end;
    if (add_child_height(p, s, e) < 0)
        return NULL;
    return s;
}

static struct promql_expr *parse_primary(struct parser *p)
{
    struct promql_token t = *parser_peek_tok(p);
    if (p->failed)
        return NULL;
    switch (t.type) {
    case PT_NUMBER:
    case PT_DURATION: {
        parser_advance(p);
        struct promql_expr *e = new_node(p, PROMQL_NUMBER, t.pos);
        if (!e)
            return NULL;
        e->type = PROMQL_TYPE_SCALAR;
        e->end = t.pos + t.len;
        e->u.number.is_duration = t.type == PT_DURATION;
        if (parser_number_value(p, &t, &e->u.number.value) < 0)
            return NULL;
        return e;
    }
    case PT_STRING: {
        parser_advance(p);
        struct promql_expr *e = new_node(p, PROMQL_STRING, t.pos);
        if (!e)
            return NULL;
        e->type = PROMQL_TYPE_STRING;
        e->end = t.pos + t.len;
        if (unquote_tok(p, &t, &e->u.string) < 0)
            return NULL;
        return e;
    }
    case PT_LEFT_PAREN: {
        parser_advance(p);
        struct promql_expr *e = new_node(p, PROMQL_PAREN, t.pos);
        if (!e)
            return NULL;
        struct promql_expr *in = parse_expr(p, 0);
        if (!in)
            return NULL;
        if (parser_peek(p) != PT_RIGHT_PAREN)
            return parser_unexpected(p, NULL, NULL);
        parser_advance(p);
        e->u.paren = in;
        e->type = in->type;
        e->end = p->last_end;
        if (add_child_height(p, e, in) < 0)
            return NULL;
        return e;
    }
    case PT_LEFT_BRACE:
        return parse_vector_selector(p, NULL);
    default:
        break;
    }
    if (t.type == PT_IDENTIFIER || t.type == PT_START || t.type == PT_END || t.type == PT_STEP ||
        t.type == PT_RANGE || t.type == PT_MAX_OF || t.type == PT_MIN_OF) {
        parser_advance(p);
        if (parser_peek(p) == PT_LEFT_PAREN)
            return parse_call(p, &t);
        return parse_vector_selector(p, &t);
    }
    if (promql_tok_is_aggregator(t.type)) {
        parser_advance(p);
        enum promql_tok n = parser_peek(p);
        if (n == PT_LEFT_PAREN || n == PT_BY || n == PT_WITHOUT)
            return parse_aggregate(p, &t);
        return parse_vector_selector(p, &t);
    }
    if (is_metric_word(t.type)) {
        parser_advance(p);
        return parse_vector_selector(p, &t);
    }
    return parser_unexpected(p, NULL, NULL);
}

/* parse_ext_modifier: `anchored` or `smoothed` after a selector (Prometheus's
 * setAnchored/setSmoothed: experimental, on vector and range selectors only,
 * never both). */
static struct promql_expr *parse_ext_modifier(struct parser *p, struct promql_expr *e)
{
    int anchored = parser_advance(p).type == PT_ANCHORED;
    const char *name = anchored ? "anchored" : "smoothed";
    if (!p->experimental)
        return parser_fail(p, e->pos, "%s modifier is experimental and not enabled", name);
    struct promql_vector_selector *vs = NULL;
    if (e->kind == PROMQL_VECTOR_SELECTOR)
        vs = &e->u.vs;
    else if (e->kind == PROMQL_MATRIX_SELECTOR)
        vs = &e->u.ms.vs->u.vs;
    else if (e->kind == PROMQL_SUBQUERY)
        return parser_fail(p, e->pos, "%s modifier is not supported for subqueries", name);
    else
        return parser_fail(p, e->pos, "%s modifier not implemented", name);
    if (anchored ? vs->smoothed : vs->anchored)
        return parser_fail(p, e->pos, "anchored and smoothed modifiers cannot be used together");
    if (anchored)
        vs->anchored = 1;
    else
        vs->smoothed = 1;
    return e; /* as Prometheus, the expression's end stays before the keyword */
}

static struct promql_expr *parse_postfix(struct parser *p)
{
    struct promql_expr *e = parse_primary(p);
    while (e) {
        enum promql_tok t = parser_peek(p);
        if (p->failed)
            return NULL;
        if (t == PT_OFFSET)
            e = parser_offset(p, e);
        else if (t == PT_AT)
            e = parse_at(p, e);
        else if (t == PT_LEFT_BRACKET)
            e = parse_brackets(p, e);
        else if (t == PT_ANCHORED || t == PT_SMOOTHED)
            e = parse_ext_modifier(p, e);
        else
            break;
    }
    return e;
}

static struct promql_expr *parse_unary(struct parser *p)
{
    struct promql_token t = *parser_peek_tok(p);
    if (p->failed)
        return NULL;
    if (t.type != PT_ADD && t.type != PT_SUB)
        return parse_postfix(p);
    parser_advance(p);
    /* unary_op expr %prec MUL: the operand takes only ^ (and postfix). */
    struct promql_expr *in = parse_expr(p, PREC_POW);
    if (!in)
        return NULL;
    if (in->kind == PROMQL_NUMBER) {
        if (t.type == PT_SUB)
            in->u.number.value = -in->u.number.value;
        in->pos = t.pos;
        return in;
    }
    struct promql_expr *e = new_node(p, PROMQL_UNARY, t.pos);
    if (!e)
        return NULL;
    e->u.unary.negate = t.type == PT_SUB;
    e->u.unary.expr = in;
    e->type = in->type;
    e->end = in->end;
    if (add_child_height(p, e, in) < 0)
        return NULL;
    return e;
}

static int binop_of(enum promql_tok t, enum promql_binop *op, int *prec)
{
    switch (t) {
    case PT_LOR:
        *op = PROMQL_OR, *prec = PREC_OR;
        return 1;
    case PT_LAND:
        *op = PROMQL_AND, *prec = PREC_AND;
        return 1;
    case PT_LUNLESS:
        *op = PROMQL_UNLESS, *prec = PREC_AND;
        return 1;
    case PT_EQLC:
        *op = PROMQL_EQLC, *prec = PREC_CMP;
        return 1;
    case PT_NEQ:
        *op = PROMQL_NEQ, *prec = PREC_CMP;
        return 1;
    case PT_GTR:
        *op = PROMQL_GTR, *prec = PREC_CMP;
        return 1;
    case PT_LSS:
        *op = PROMQL_LSS, *prec = PREC_CMP;
        return 1;
    case PT_GTE:
        *op = PROMQL_GTE, *prec = PREC_CMP;
        return 1;
    case PT_LTE:
        *op = PROMQL_LTE, *prec = PREC_CMP;
        return 1;
    case PT_ADD:
        *op = PROMQL_ADD, *prec = PREC_ADD;
        return 1;
    case PT_SUB:
        *op = PROMQL_SUB, *prec = PREC_ADD;
        return 1;
    case PT_MUL:
        *op = PROMQL_MUL, *prec = PREC_MUL;
        return 1;
    case PT_DIV:
        *op = PROMQL_DIV, *prec = PREC_MUL;
        return 1;
    case PT_MOD:
        *op = PROMQL_MOD, *prec = PREC_MUL;
        return 1;
    case PT_ATAN2:
        *op = PROMQL_ATAN2, *prec = PREC_MUL;
        return 1;
    case PT_POW:
        *op = PROMQL_POW, *prec = PREC_POW;
        return 1;
    default:
        return 0;
    }
}

/* parse_bin_modifiers: bool, on/ignoring(...), group_left/right(...). */
/* parse_fill parses fill(v), fill_left(v) or fill_right(v) (the keyword is
 * next) into vm; v is a number, optionally signed. */
static int parse_fill(struct parser *p, struct promql_vector_matching *vm, enum promql_tok kw)
{
    parser_advance(p); /* fill keyword */
    if (parser_peek(p) != PT_LEFT_PAREN) {
        parser_unexpected(p, "fill modifier", "\"(\"");
        return -1;
    }
    parser_advance(p);
    int neg = 0;
    if (parser_peek(p) == PT_ADD || parser_peek(p) == PT_SUB)
        neg = parser_advance(p).type == PT_SUB;
    if (parser_peek(p) != PT_NUMBER) {
        parser_unexpected(p, "fill modifier", "number");
        return -1;
    }
    struct promql_token nt = parser_advance(p);
    double v;
    if (parser_number_value(p, &nt, &v) < 0)
        return -1;
    if (neg)
        v = -v;
    if (parser_peek(p) != PT_RIGHT_PAREN) {
        parser_unexpected(p, "fill modifier", "\")\"");
        return -1;
    }
    parser_advance(p);
    if (kw != PT_FILL_RIGHT) {
        vm->has_fill_left = 1;
        vm->fill_left = v;
    }
    if (kw != PT_FILL_LEFT) {
        vm->has_fill_right = 1;
        vm->fill_right = v;
    }
    return p->failed ? -1 : 0;
}

static int parse_bin_modifiers(struct parser *p, struct promql_expr *e)
{
    struct promql_binary *b = &e->u.bin;
    struct promql_vector_matching *vm = parser_alloc(p, sizeof(*vm));
    if (!vm)
        return -1;
    b->matching = vm;
    if (parser_peek(p) == PT_BOOL) {
        parser_advance(p);
        b->return_bool = 1;
    }
    enum promql_tok t = parser_peek(p);
    if (t == PT_ON || t == PT_IGNORING) {
        parser_advance(p);
        vm->on = t == PT_ON;
        if (parse_grouping(p, &vm->labels, &vm->nlabels) < 0)
            return -1;
        t = parser_peek(p);
        if (t == PT_GROUP_LEFT || t == PT_GROUP_RIGHT) {
            parser_advance(p);
            vm->card = t == PT_GROUP_LEFT ? PROMQL_CARD_MANY_TO_ONE : PROMQL_CARD_ONE_TO_MANY;
            if (parser_peek(p) == PT_LEFT_PAREN &&
                parse_grouping(p, &vm->include, &vm->ninclude) < 0)
                return -1;
        }
    }
    t = parser_peek(p);
    while (t == PT_FILL || t == PT_FILL_LEFT || t == PT_FILL_RIGHT) {
        if (!p->experimental) {
            parser_fail(p, e->pos, "binop fill modifiers are experimental and not enabled");
            return -1;
        }
        if (parse_fill(p, vm, t) < 0)
            return -1;
        t = parser_peek(p);
    }
    return p->failed ? -1 : 0;
}

static struct promql_expr *parse_expr(struct parser *p, int min_prec)
{
    if (parser_enter(p, parser_peek_tok(p)->pos) < 0)
        return NULL;
    struct promql_expr *lhs = parse_unary(p);
    while (lhs) {
        enum promql_binop op;
        int prec;
        if (!binop_of(parser_peek(p), &op, &prec) || prec < min_prec)
            break;
        parser_advance(p);
        struct promql_expr *e = new_node(p, PROMQL_BINARY, lhs->pos);
        if (!e)
            return NULL;
        e->u.bin.op = op;
        e->u.bin.lhs = lhs;
        if (parse_bin_modifiers(p, e) < 0)
            return NULL;
        struct promql_expr *rhs = parse_expr(p, op == PROMQL_POW ? prec : prec + 1);
        if (!rhs)
            return NULL;
        e->u.bin.rhs = rhs;
        e->end = rhs->end;
        e->type = lhs->type == PROMQL_TYPE_SCALAR && rhs->type == PROMQL_TYPE_SCALAR
                      ? PROMQL_TYPE_SCALAR
                      : PROMQL_TYPE_VECTOR;
        if (add_child_height(p, e, lhs) < 0 || add_child_height(p, e, rhs) < 0)
            return NULL;
        lhs = e;
    }
    p->depth--;
    return p->failed ? NULL : lhs;
}

/* ---- type checking (Prometheus's checkAST, in its order) ------------------------------ */

static enum promql_type check(struct parser *p, struct promql_expr *e);

static int expect_type(struct parser *p, struct promql_expr *e, enum promql_type want,
                       const char *context)
{
    enum promql_type t = check(p, e);
    if (p->failed)
        return -1;
    if (t != want) {
        parser_fail(p, e->pos, "expected type %s in %s, got %s", promql_type_name(want), context,
                    promql_type_name(t));
        return -1;
    }
    return 0;
}

static size_t op_pos(struct parser *p, const struct promql_expr *e)
{
    size_t i = e->u.bin.lhs->end;
    while (i < p->len &&
           (p->in[i] == ' ' || p->in[i] == '\t' || p->in[i] == '\n' || p->in[i] == '\r'))
        i++;
    return i;
}

static void check_binary(struct parser *p, struct promql_expr *e)
{
    struct promql_binary *b = &e->u.bin;
    enum promql_type lt = check(p, b->lhs);
    if (p->failed)
        return;
    enum promql_type rt = check(p, b->rhs);
    if (p->failed)
        return;
    int cmp = promql_binop_is_comparison(b->op), set = promql_binop_is_set(b->op);
    struct promql_vector_matching *vm = b->matching;
    if (b->return_bool && !cmp) {
        parser_fail(p, op_pos(p, e), "bool modifier can only be used on comparison operators");
        return;
    }
    if (cmp && !b->return_bool && lt == PROMQL_TYPE_SCALAR && rt == PROMQL_TYPE_SCALAR) {
        parser_fail(p, op_pos(p, e), "comparisons between scalars must use BOOL modifier");
        return;
    }
    if (set && vm->card == PROMQL_CARD_ONE_TO_ONE)
        vm->card = PROMQL_CARD_MANY_TO_MANY;
    if (vm->on) {
        for (size_t i = 0; i < vm->nlabels; i++) {
            for (size_t j = 0; j < vm->ninclude; j++) {
                if (vm->labels[i].len == vm->include[j].len &&
                    memcmp(vm->labels[i].ptr, vm->include[j].ptr, vm->labels[i].len) == 0) {
                    char q[160];
                    parser_fail(p, op_pos(p, e),
                                "label %s must not occur in ON and GROUP clause at once",
                                goq(vm->labels[i].ptr, vm->labels[i].len, q, sizeof(q)));
                    return;
                }
            }
        }
    }
    if (lt != PROMQL_TYPE_SCALAR && lt != PROMQL_TYPE_VECTOR) {
        parser_fail(p, b->lhs->pos,
                    "binary expression must contain only scalar and instant vector types");
        return;
    }
    if (rt != PROMQL_TYPE_SCALAR && rt != PROMQL_TYPE_VECTOR) {
        parser_fail(p, b->rhs->pos,
                    "binary expression must contain only scalar and instant vector types");
        return;
    }
    if (lt != PROMQL_TYPE_VECTOR || rt != PROMQL_TYPE_VECTOR) {
        if (vm->nlabels > 0) {
            parser_fail(p, e->pos, "vector matching only allowed between instant vectors");
            return;
        }
        b->matching = NULL;
    } else if (set) {
        if (vm->card == PROMQL_CARD_ONE_TO_MANY || vm->card == PROMQL_CARD_MANY_TO_ONE) {
            parser_fail(p, e->pos, "no grouping allowed for \"%s\" operation",
                        promql_binop_str(b->op));
            return;
        }
    }
    if ((lt == PROMQL_TYPE_SCALAR || rt == PROMQL_TYPE_SCALAR) && set) {
        parser_fail(p, e->pos, "set operator \"%s\" not allowed in binary scalar expression",
                    promql_binop_str(b->op));
        return;
    }
}

static void check_call(struct parser *p, struct promql_expr *e)
{
    const struct promql_function *f = e->u.call.func;
    size_t nargs = e->u.call.nargs;
    size_t declared = (size_t)f->nargs;
    if (f->variadic == 0) {
        if (declared != nargs) {
            parser_fail(p, e->pos, "expected %zu argument(s) in call to \"%s\", got %zu", declared,
                        f->name, nargs);
            return;
        }
    } else {
        size_t na = declared - 1;
        if (na > nargs) {
            parser_fail(p, e->pos, "expected at least %zu argument(s) in call to \"%s\", got %zu",
                        na, f->name, nargs);
            return;
        }
        if (f->variadic > 0 && na + (size_t)f->variadic < nargs) {
            parser_fail(p, e->pos, "expected at most %zu argument(s) in call to \"%s\", got %zu",
                        na + (size_t)f->variadic, f->name, nargs);
            return;
        }
    }
    /* info()'s second argument is a data-label selector: braces with label
     * matchers only, which may all match the empty string (Prometheus's
     * BypassEmptyMatcherCheck), so it is not checked as a selector. */
    int info_sel = 0;
    if (strcmp(f->name, "info") == 0 && nargs > 1) {
        const struct promql_expr *a = e->u.call.args[1];
        if (a->type != PROMQL_TYPE_VECTOR) {
            parser_fail(p, e->pos, "expected type %s in call to function \"%s\", got %s",
                        promql_type_name(PROMQL_TYPE_VECTOR), f->name, promql_type_name(a->type));
            return;
        }
        if (a->kind != PROMQL_VECTOR_SELECTOR) {
            parser_fail(p, a->pos, "expected label selectors only");
            return;
        }
        if (a->u.vs.name.len > 0) {
            parser_fail(p, a->pos, "expected label selectors only, got vector selector instead");
            return;
        }
        info_sel = 1;
    }
    for (size_t i = 0; i < nargs; i++) {
        size_t k = i;
        if (k >= declared) {
            if (f->variadic == 0)
                break;
            k = declared - 1;
        }
        if (info_sel && i == 1)
            continue; /* a nameless vector selector: nothing else to check */
        enum promql_type t = check(p, e->u.call.args[i]);
        if (p->failed)
            return;
        if (t != f->arg_types[k]) {
            parser_fail(p, e->u.call.args[i]->pos,
                        "expected type %s in call to function \"%s\", got %s",
                        promql_type_name(f->arg_types[k]), f->name, promql_type_name(t));
            return;
        }
    }
}

static void check_vector_selector(struct parser *p, struct promql_expr *e)
{
    const struct promql_vector_selector *vs = &e->u.vs;
    if (vs->name.len > 0) {
        /* matchers[0] is the name's own matcher. */
        for (size_t i = 1; i < vs->nmatchers; i++) {
            const struct promql_matcher *m = &vs->matchers[i];
            if (m->name.len == 8 && memcmp(m->name.ptr, "__name__", 8) == 0) {
                char q1[160], q2[160];
                parser_fail(p, e->pos, "metric name must not be set twice: %s or %s",
                            goq(vs->name.ptr, vs->name.len, q1, sizeof(q1)),
                            goq(m->value.ptr, m->value.len, q2, sizeof(q2)));
                return;
            }
        }
        return;
    }
    for (size_t i = 0; i < vs->nmatchers; i++)
        if (!vs->matchers[i].matches_empty)
            return;
    parser_fail(p, e->pos, "vector selector must contain at least one non-empty matcher");
}

static enum promql_type check(struct parser *p, struct promql_expr *e)
{
    if (p->failed)
        return e->type;
    switch (e->kind) {
    case PROMQL_AGGREGATE:
        if (expect_type(p, e->u.agg.expr, PROMQL_TYPE_VECTOR, "aggregation expression") < 0)
            break;
        if (e->u.agg.op == PROMQL_AGG_COUNT_VALUES)
            expect_type(p, e->u.agg.param, PROMQL_TYPE_STRING, "aggregation parameter");
        else if (e->u.agg.param)
            expect_type(p, e->u.agg.param, PROMQL_TYPE_SCALAR, "aggregation parameter");
        break;
    case PROMQL_BINARY:
        check_binary(p, e);
        break;
    case PROMQL_CALL:
        check_call(p, e);
        break;
    case PROMQL_PAREN:
        check(p, e->u.paren);
        break;
    case PROMQL_UNARY: {
        enum promql_type t = check(p, e->u.unary.expr);
        if (!p->failed && t != PROMQL_TYPE_SCALAR && t != PROMQL_TYPE_VECTOR)
            parser_fail(
                p, e->pos,
                "unary expression only allowed on expressions of type scalar or instant vector, "
                "got \"%s\"",
                promql_type_name(t));
        break;
    }
    case PROMQL_SUBQUERY: {
        enum promql_type t = check(p, e->u.sq.expr);
        if (!p->failed && t != PROMQL_TYPE_VECTOR)
            parser_fail(p, e->pos, "subquery is only allowed on instant vector, got %s instead",
                        promql_type_short_name(t));
        break;
    }
    case PROMQL_MATRIX_SELECTOR:
        check(p, e->u.ms.vs);
        break;
    case PROMQL_VECTOR_SELECTOR:
        check_vector_selector(p, e);
        break;
    case PROMQL_NUMBER:
    case PROMQL_STRING:
        break;
    }
    return e->type;
}

/* ---- entry points ------------------------------------------------------------------------ */

static int begin(struct parser *p, const char *q, size_t len, struct promql_arena *arena,
                 struct promql_error *err)
{
    memset(p, 0, sizeof(*p));
    p->in = q;
    p->len = len;
    p->arena = arena;
    p->err = err;
    if (err)
        memset(err, 0, sizeof(*err));
    if (len > PROMQL_MAX_QUERY_BYTES) {
        set_error(p, TT_ETOOBIG, 0, "query too long");
        return TT_ETOOBIG;
    }
    promql_lexer_init(&p->lx, q, len);
    return 0;
}

static int finish(struct parser *p, struct promql_arena *arena, struct promql_expr *root,
                  struct promql_ast **out)
{
    if (!p->failed) {
        struct promql_ast *ast = promql_arena_alloc(arena, sizeof(*ast));
        if (!ast) {
            oom(p);
        } else {
            ast->root = root;
            ast->arena = *arena;
            *out = ast;
            return 0;
        }
    }
    promql_arena_release(arena);
    return p->failed;
}

int promql_parse(const char *query, size_t len, const struct promql_parse_opts *opts,
                 struct promql_ast **out, struct promql_error *err)
{
    struct parser p;
    struct promql_arena arena = { NULL };
    struct promql_expr *root = NULL;
    *out = NULL;
    int rc = begin(&p, query, len, &arena, err);
    if (rc)
        return rc;
    p.experimental = opts && opts->experimental_functions;
    if (parser_peek(&p) == PT_EOF) {
        parser_fail(&p, 0, "no expression found in input");
        goto out;
    }
    root = parse_expr(&p, 0);
    if (!root)
        goto out;
    if (parser_peek(&p) != PT_EOF) {
        parser_unexpected(&p, NULL, NULL);
        goto out;
    }
    check(&p, root);
out:
    return finish(&p, &arena, root, out);
}

int promql_parse_selector(const char *sel, size_t len, struct promql_ast **out,
                          struct promql_error *err)
{
    struct parser p;
    struct promql_arena arena = { NULL };
    struct promql_expr *root = NULL;
    *out = NULL;
    int rc = begin(&p, sel, len, &arena, err);
    if (rc)
        return rc;
    struct promql_token t = *parser_peek_tok(&p);
    if (p.failed)
        goto out;
    if (t.type == PT_LEFT_BRACE) {
        root = parse_vector_selector(&p, NULL);
    } else if (is_metric_word(t.type)) {
        parser_advance(&p);
        root = parse_vector_selector(&p, &t);
    } else {
        parser_unexpected(&p, NULL, NULL);
        goto out;
    }
    if (!root)
        goto out;
    if (parser_peek(&p) != PT_EOF) {
        parser_unexpected(&p, NULL, NULL);
        goto out;
    }
out:
    return finish(&p, &arena, root, out);
}
