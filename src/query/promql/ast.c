/*
 * ast.c - the PromQL tree's arena, names and printer (see ast.h). The printer
 * reproduces Prometheus's String() methods (promql/parser/printer.go) so that
 * printing is stable: print(parse(print(parse(q)))) == print(parse(q)).
 *
 * Invariant: printing never modifies the tree and allocates only temporary
 * buffers (freed before returning) besides the output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/ast.h"
#include "query/promql/functions.h"

/* ---- arena ------------------------------------------------------------------ */

#define ARENA_CHUNK 4096

struct promql_arena_chunk {
    struct promql_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

/* Largest chunk promql_arena_reset keeps: a bigger step's memory is given
 * back instead of being held for the rest of the query. */
#define ARENA_KEEP_MAX ((size_t)64 << 20)

void *promql_arena_alloc(struct promql_arena *a, size_t n)
{
    void *p = promql_arena_alloc_raw(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void *promql_arena_alloc_raw(struct promql_arena *a, size_t n)
{
    if (n > ((size_t)1 << 40))
        return NULL;
    n = (n + 15) & ~(size_t)15;
    struct promql_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        /* A big one-off block goes behind the current chunk so the current
         * chunk's free space stays in use. */
        if (a->head && n > ARENA_CHUNK) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void promql_arena_reset(struct promql_arena *a)
{
    struct promql_arena_chunk *c = a->head;
    if (c == NULL)
        return;
    if (c->next == NULL) {
        c->used = 0;
        return;
    }
    size_t total = 0;
    for (; c != NULL; c = c->next)
        total += c->cap;
    promql_arena_release(a);
    if (total > ARENA_KEEP_MAX)
        return;
    /* One chunk as large as everything the last round used: the next round
     * of similar allocations fits in it without calling malloc. */
    c = malloc(sizeof(*c) + total);
    if (c == NULL)
        return; /* not an error: the next allocation tries again */
    c->next = NULL;
    c->used = 0;
    c->cap = total;
    a->head = c;
}

void promql_arena_release(struct promql_arena *a)
{
    struct promql_arena_chunk *c = a->head;
    while (c) {
        struct promql_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void promql_ast_free(struct promql_ast *ast)
{
    if (!ast)
        return;
    struct promql_arena arena = ast->arena; /* ast itself lives in the arena */
    promql_arena_release(&arena);
}

/* ---- names ---------------------------------------------------------------------- */

const char *promql_type_name(enum promql_type t)
{
    switch (t) {
    case PROMQL_TYPE_SCALAR:
        return "scalar";
    case PROMQL_TYPE_VECTOR:
        return "instant vector";
    case PROMQL_TYPE_MATRIX:
        return "range vector";
    case PROMQL_TYPE_STRING:
        return "string";
    default:
        return "none";
    }
}

const char *promql_type_short_name(enum promql_type t)
{
    switch (t) {
    case PROMQL_TYPE_SCALAR:
        return "scalar";
    case PROMQL_TYPE_VECTOR:
        return "vector";
    case PROMQL_TYPE_MATRIX:
        return "matrix";
    case PROMQL_TYPE_STRING:
        return "string";
    default:
        return "none";
    }
}

const char *promql_binop_str(enum promql_binop op)
{
    static const char *const names[] = {
        [PROMQL_ADD] = "+",         [PROMQL_SUB] = "-",   [PROMQL_MUL] = "*",
        [PROMQL_DIV] = "/",         [PROMQL_MOD] = "%",   [PROMQL_POW] = "^",
        [PROMQL_ATAN2] = "atan2",   [PROMQL_EQLC] = "==", [PROMQL_NEQ] = "!=",
        [PROMQL_GTR] = ">",         [PROMQL_LSS] = "<",   [PROMQL_GTE] = ">=",
        [PROMQL_LTE] = "<=",        [PROMQL_AND] = "and", [PROMQL_OR] = "or",
        [PROMQL_UNLESS] = "unless",
    };
    if ((unsigned)op < sizeof(names) / sizeof(names[0]) && names[op])
        return names[op];
    return "?";
}

int promql_binop_is_comparison(enum promql_binop op)
{
    return op == PROMQL_EQLC || op == PROMQL_NEQ || op == PROMQL_GTR || op == PROMQL_LSS ||
           op == PROMQL_GTE || op == PROMQL_LTE;
}

int promql_binop_is_set(enum promql_binop op)
{
    return op == PROMQL_AND || op == PROMQL_OR || op == PROMQL_UNLESS;
}

const char *promql_aggop_str(enum promql_aggop op)
{
    static const char *const names[] = {
        [PROMQL_AGG_SUM] = "sum",           [PROMQL_AGG_AVG] = "avg",
        [PROMQL_AGG_COUNT] = "count",       [PROMQL_AGG_MIN] = "min",
        [PROMQL_AGG_MAX] = "max",           [PROMQL_AGG_GROUP] = "group",
        [PROMQL_AGG_STDDEV] = "stddev",     [PROMQL_AGG_STDVAR] = "stdvar",
        [PROMQL_AGG_TOPK] = "topk",         [PROMQL_AGG_BOTTOMK] = "bottomk",
        [PROMQL_AGG_QUANTILE] = "quantile", [PROMQL_AGG_COUNT_VALUES] = "count_values",
        [PROMQL_AGG_LIMITK] = "limitk",     [PROMQL_AGG_LIMIT_RATIO] = "limit_ratio",
    };
    if ((unsigned)op < sizeof(names) / sizeof(names[0]) && names[op])
        return names[op];
    return "?";
}

int promql_aggop_has_param(enum promql_aggop op)
{
    return op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_QUANTILE ||
           op == PROMQL_AGG_COUNT_VALUES || op == PROMQL_AGG_LIMITK || op == PROMQL_AGG_LIMIT_RATIO;
}

/* ---- formatting helpers ----------------------------------------------------------- */

size_t promql_format_duration(int64_t ms, char *buf, size_t n)
{
    char tmp[64];
    size_t len = 0;
    uint64_t u;
    if (ms == 0) {
        len = (size_t)snprintf(tmp, sizeof(tmp), "0s");
    } else {
        if (ms < 0) {
            tmp[len++] = '-';
            u = (uint64_t)0 - (uint64_t)ms;
        } else {
            u = (uint64_t)ms;
        }
        static const struct {
            const char *unit;
            uint64_t mult;
        } units[] = {
            { "y", 365ULL * 24 * 3600 * 1000 },
            { "w", 7ULL * 24 * 3600 * 1000 },
            { "d", 24ULL * 3600 * 1000 },
            { "h", 3600ULL * 1000 },
            { "m", 60ULL * 1000 },
            { "s", 1000 },
            { "ms", 1 },
        };
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            uint64_t v = u / units[i].mult;
            if (v > 0) {
                len += (size_t)snprintf(tmp + len, sizeof(tmp) - len, "%llu%s",
                                        (unsigned long long)v, units[i].unit);
                u -= v * units[i].mult;
            }
        }
    }
    if (n > 0) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(buf, tmp, c);
        buf[c] = 0;
    }
    return len;
}

size_t promql_format_float(double v, char *buf, size_t n)
{
    char out[400];
    size_t len = 0;
    if (isnan(v)) {
        len = (size_t)snprintf(out, sizeof(out), "NaN");
    } else if (isinf(v)) {
        len = (size_t)snprintf(out, sizeof(out), v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        len = (size_t)snprintf(out, sizeof(out), signbit(v) ? "-0" : "0");
    } else {
        char e[48];
        for (int p = 1; p <= 17; p++) {
            snprintf(e, sizeof(e), "%.*e", p - 1, v);
            if (strtod(e, NULL) == v)
                break;
        }
        /* e: [-]d[.ddd]e(+|-)XX */
        const char *s = e;
        if (*s == '-')
            out[len++] = *s++;
        char digits[24];
        size_t nd = 0;
        while (*s && *s != 'e') {
            if (*s != '.' && nd < sizeof(digits))
                digits[nd++] = *s;
            s++;
        }
        while (nd > 1 && digits[nd - 1] == '0')
            nd--;
        long x = *s == 'e' ? strtol(s + 1, NULL, 10) : 0;
        if (x >= 0) {
            for (long i = 0; i <= x; i++)
                out[len++] = (size_t)i < nd ? digits[i] : '0';
            if ((long)nd > x + 1) {
                out[len++] = '.';
                for (size_t i = (size_t)x + 1; i < nd; i++)
                    out[len++] = digits[i];
            }
        } else {
            out[len++] = '0';
            out[len++] = '.';
            for (long i = 0; i < -x - 1; i++)
                out[len++] = '0';
            for (size_t i = 0; i < nd; i++)
                out[len++] = digits[i];
        }
        out[len] = 0;
    }
    if (n > 0) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(buf, out, c);
        buf[c] = 0;
    }
    return len;
}

static void put_str(struct wbuf *b, const char *s)
{
    wbuf_put(b, s, strlen(s));
}

int promql_label_name_is_legacy(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (i > 0 && c >= '0' && c <= '9'))
            continue;
        return 0;
    }
    return 1;
}

/* utf8_len: width of a valid UTF-8 sequence at s, or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *r)
{
    unsigned c = s[0];
    size_t need;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < need + 1)
        return 0;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *r = v;
    return need + 1;
}

int promql_quote(struct wbuf *b, const char *s, size_t n)
{
    char tmp[16];
    wbuf_put_u8(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            uint32_t r;
            size_t w = utf8_len((const unsigned char *)s + i, n - i, &r);
            if (w == 0) {
                snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                put_str(b, tmp);
                i++;
                continue;
            }
            /* Go's IsPrint is false for C1 controls, NBSP, soft hyphen,
             * line/paragraph separators and the BOM: escape those. */
            if (r <= 0xA0 || r == 0xAD || r == 0x2028 || r == 0x2029 || r == 0xFEFF) {
                snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned)r);
                put_str(b, tmp);
            } else {
                wbuf_put(b, s + i, w);
            }
            i += w;
            continue;
        }
        i++;
        switch (c) {
        case '"':
            put_str(b, "\\\"");
            continue;
        case '\\':
            put_str(b, "\\\\");
            continue;
        case '\a':
            put_str(b, "\\a");
            continue;
        case '\b':
            put_str(b, "\\b");
            continue;
        case '\f':
            put_str(b, "\\f");
            continue;
        case '\n':
            put_str(b, "\\n");
            continue;
        case '\r':
            put_str(b, "\\r");
            continue;
        case '\t':
            put_str(b, "\\t");
            continue;
        case '\v':
            put_str(b, "\\v");
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", c);
            put_str(b, tmp);
        } else {
            wbuf_put_u8(b, c);
        }
    }
    wbuf_put_u8(b, '"');
    return b->err;
}

/* ---- printer ------------------------------------------------------------------------ */

static void put_duration(struct wbuf *b, int64_t ms)
{
    char tmp[64];
    size_t n = promql_format_duration(ms, tmp, sizeof(tmp));
    wbuf_put(b, tmp, n);
}

static void put_labels(struct wbuf *b, const struct promql_str *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            put_str(b, ", ");
        if (promql_label_name_is_legacy(l[i].ptr, l[i].len))
            wbuf_put(b, l[i].ptr, l[i].len);
        else
            promql_quote(b, l[i].ptr, l[i].len);
    }
}

static void put_at(struct wbuf *b, const struct promql_time_mods *m)
{
    char tmp[64];
    switch (m->at) {
    case PROMQL_AT_TIMESTAMP:
        snprintf(tmp, sizeof(tmp), " @ %.3f", (double)m->at_ms / 1000.0);
        put_str(b, tmp);
        break;
    case PROMQL_AT_START:
        put_str(b, " @ start()");
        break;
    case PROMQL_AT_END:
        put_str(b, " @ end()");
        break;
    default:
        break;
    }
}

static void put_dur_expr(struct wbuf *b, const struct promql_dur_expr *d)
{
    char num[400];
    switch (d->op) {
    case PROMQL_DUR_NUMBER:
        if (d->is_duration)
            put_duration(b, (int64_t)llround(d->value * 1000.0));
        else {
            promql_format_float(d->value, num, sizeof(num));
            put_str(b, num);
        }
        break;
    case PROMQL_DUR_STEP:
        put_str(b, "step()");
        break;
    case PROMQL_DUR_RANGE:
        put_str(b, "range()");
        break;
    case PROMQL_DUR_MIN_OF:
    case PROMQL_DUR_MAX_OF:
        put_str(b, d->op == PROMQL_DUR_MIN_OF ? "min_of(" : "max_of(");
        put_dur_expr(b, d->lhs);
        put_str(b, ", ");
        put_dur_expr(b, d->rhs);
        wbuf_put_u8(b, ')');
        break;
    case PROMQL_DUR_NEG:
    case PROMQL_DUR_POS:
        wbuf_put_u8(b, d->op == PROMQL_DUR_NEG ? '-' : '+');
        put_dur_expr(b, d->lhs);
        break;
    case PROMQL_DUR_PAREN:
        wbuf_put_u8(b, '(');
        put_dur_expr(b, d->lhs);
        wbuf_put_u8(b, ')');
        break;
    case PROMQL_DUR_BINARY:
        put_dur_expr(b, d->lhs);
        wbuf_put_u8(b, ' ');
        put_str(b, promql_binop_str(d->binop));
        wbuf_put_u8(b, ' ');
        put_dur_expr(b, d->rhs);
        break;
    }
}

/* put_range prints a range or step: its expression when it has one. */
static void put_range(struct wbuf *b, int64_t ms, const struct promql_dur_expr *d)
{
    if (d)
        put_dur_expr(b, d);
    else
        put_duration(b, ms);
}

static void put_offset(struct wbuf *b, const struct promql_time_mods *m)
{
    if (m->offset_ms == 0 && m->offset_expr == NULL)
        return;
    put_str(b, " offset ");
    put_range(b, m->offset_ms, m->offset_expr);
}

int promql_dur_eval(const struct promql_dur_expr *d, int64_t step_ms, int64_t range_ms,
                    double *seconds)
{
    double l = 0, r = 0;
    int rc;
    if (d->lhs && (rc = promql_dur_eval(d->lhs, step_ms, range_ms, &l)) != 0)
        return rc;
    if (d->rhs && (rc = promql_dur_eval(d->rhs, step_ms, range_ms, &r)) != 0)
        return rc;
    switch (d->op) {
    case PROMQL_DUR_NUMBER:
        *seconds = d->value;
        return 0;
    case PROMQL_DUR_STEP:
        *seconds = (double)step_ms / 1000.0;
        return 0;
    case PROMQL_DUR_RANGE:
        *seconds = (double)range_ms / 1000.0;
        return 0;
    case PROMQL_DUR_MIN_OF:
        *seconds = fmin(l, r);
        return 0;
    case PROMQL_DUR_MAX_OF:
        *seconds = fmax(l, r);
        return 0;
    case PROMQL_DUR_NEG:
        *seconds = -l;
        return 0;
    case PROMQL_DUR_POS:
    case PROMQL_DUR_PAREN:
        *seconds = l;
        return 0;
    case PROMQL_DUR_BINARY:
        break;
    }
    switch (d->binop) {
    case PROMQL_ADD:
        *seconds = l + r;
        return 0;
    case PROMQL_SUB:
        *seconds = l - r;
        return 0;
    case PROMQL_MUL:
        *seconds = l * r;
        return 0;
    case PROMQL_DIV:
        if (r == 0)
            return TT_EINVAL;
        *seconds = l / r;
        return 0;
    case PROMQL_MOD:
        if (r == 0)
            return TT_EINVAL;
        *seconds = fmod(l, r);
        return 0;
    case PROMQL_POW:
        *seconds = pow(l, r);
        return 0;
    default:
        return TT_EINVAL;
    }
}

int promql_dur_ms(const struct promql_dur_expr *d, int64_t step_ms, int64_t range_ms, int64_t *ms)
{
    double s;
    int rc = promql_dur_eval(d, step_ms, range_ms, &s);
    if (rc != 0)
        return rc;
    if (isnan(s))
        return TT_EINVAL;
    double v = round(s * 1000.0);
    *ms = v >= 9223372036854775807.0    ? INT64_MAX
          : v <= -9223372036854775808.0 ? INT64_MIN
                                        : (int64_t)v;
    return 0;
}

struct fmt_matcher {
    char *s;
    size_t len;
};

static int cmp_fmt_matcher(const void *a, const void *b)
{
    const struct fmt_matcher *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : (x->len > y->len ? 1 : 0);
}

static void put_matcher(struct wbuf *b, const struct promql_matcher *m)
{
    static const char *const ops[] = { "=", "!=", "=~", "!~" };
    if (promql_label_name_is_legacy(m->name.ptr, m->name.len))
        wbuf_put(b, m->name.ptr, m->name.len);
    else
        promql_quote(b, m->name.ptr, m->name.len);
    put_str(b, ops[m->op & 3]);
    promql_quote(b, m->value.ptr, m->value.len);
}

/* put_vector_selector prints name{matchers}; with_mods adds @ and offset. */
static void put_vector_selector(struct wbuf *b, const struct promql_vector_selector *vs,
                                int with_mods)
{
    wbuf_put(b, vs->name.ptr, vs->name.len);
    struct fmt_matcher *fm = NULL;
    struct wbuf tmp;
    wbuf_init(&tmp, 0);
    size_t nf = 0;
    if (vs->nmatchers > 0) {
        fm = calloc(vs->nmatchers, sizeof(*fm));
        size_t *offs = calloc(vs->nmatchers + 1, sizeof(*offs));
        if (!fm || !offs) {
            free(offs);
            b->err = b->err ? b->err : TT_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < vs->nmatchers; i++) {
            const struct promql_matcher *m = &vs->matchers[i];
            if (m->op == PROMQL_MATCH_EQ && vs->name.len > 0 && m->name.len == 8 &&
                memcmp(m->name.ptr, "__name__", 8) == 0 && m->value.len == vs->name.len &&
                memcmp(m->value.ptr, vs->name.ptr, vs->name.len) == 0)
                continue;
            offs[nf] = tmp.len;
            put_matcher(&tmp, m);
            fm[nf].len = tmp.len - offs[nf];
            nf++;
        }
        if (tmp.err) {
            free(offs);
            b->err = b->err ? b->err : tmp.err;
            goto out;
        }
        for (size_t i = 0; i < nf; i++)
            fm[i].s = (char *)tmp.data + offs[i];
        free(offs);
        qsort(fm, nf, sizeof(*fm), cmp_fmt_matcher);
    }
    if (nf > 0) {
        wbuf_put_u8(b, '{');
        for (size_t i = 0; i < nf; i++) {
            if (i > 0)
                wbuf_put_u8(b, ',');
            wbuf_put(b, fm[i].s, fm[i].len);
        }
        wbuf_put_u8(b, '}');
    } else if (vs->name.len == 0) {
        /* Only info()'s data-label selector can be empty; Prometheus prints
         * nothing there, which would not parse back. */
        wbuf_put(b, "{}", 2);
    }
    if (with_mods) {
        put_at(b, &vs->mods);
        put_offset(b, &vs->mods);
    }
out:
    free(fm);
    wbuf_release(&tmp);
}

/* print_fill appends the fill modifiers: fill(v) when both sides are set
 * to the same value (bitwise, so NaN pairs too), else fill_left/fill_right. */
static void print_fill(struct wbuf *b, const struct promql_vector_matching *vm)
{
    char num[400];
    if (vm->has_fill_left && vm->has_fill_right &&
        memcmp(&vm->fill_left, &vm->fill_right, sizeof(double)) == 0) {
        promql_format_float(vm->fill_left, num, sizeof(num));
        put_str(b, " fill(");
        put_str(b, num);
        wbuf_put_u8(b, ')');
        return;
    }
    if (vm->has_fill_left) {
        promql_format_float(vm->fill_left, num, sizeof(num));
        put_str(b, " fill_left(");
        put_str(b, num);
        wbuf_put_u8(b, ')');
    }
    if (vm->has_fill_right) {
        promql_format_float(vm->fill_right, num, sizeof(num));
        put_str(b, " fill_right(");
        put_str(b, num);
        wbuf_put_u8(b, ')');
    }
}

/* put_ext: the anchored/smoothed modifier, last as Prometheus prints it. */
static void put_ext(struct wbuf *b, const struct promql_vector_selector *vs)
{
    if (vs->anchored)
        put_str(b, " anchored");
    if (vs->smoothed)
        put_str(b, " smoothed");
}

static void print_expr(const struct promql_expr *e, struct wbuf *b)
{
    char tmp[400];
    switch (e->kind) {
    case PROMQL_NUMBER:
        if (e->u.number.is_duration && isfinite(e->u.number.value)) {
            double ms = e->u.number.value * 1000.0;
            if (ms < -9.2e18 || ms > 9.2e18) {
                wbuf_put(b, tmp, promql_format_float(e->u.number.value, tmp, sizeof(tmp)));
            } else {
                put_duration(b, (int64_t)llround(ms));
            }
        } else {
            wbuf_put(b, tmp, promql_format_float(e->u.number.value, tmp, sizeof(tmp)));
        }
        break;
    case PROMQL_STRING:
        promql_quote(b, e->u.string.ptr, e->u.string.len);
        break;
    case PROMQL_VECTOR_SELECTOR:
        put_vector_selector(b, &e->u.vs, 1);
        put_ext(b, &e->u.vs);
        break;
    case PROMQL_MATRIX_SELECTOR: {
        const struct promql_vector_selector *vs = &e->u.ms.vs->u.vs;
        put_vector_selector(b, vs, 0);
        wbuf_put_u8(b, '[');
        put_range(b, e->u.ms.range_ms, e->u.ms.range_expr);
        wbuf_put_u8(b, ']');
        put_at(b, &vs->mods);
        put_offset(b, &vs->mods);
        put_ext(b, vs);
        break;
    }
    case PROMQL_SUBQUERY:
        print_expr(e->u.sq.expr, b);
        wbuf_put_u8(b, '[');
        put_range(b, e->u.sq.range_ms, e->u.sq.range_expr);
        wbuf_put_u8(b, ':');
        if (e->u.sq.step_ms != 0 || e->u.sq.step_expr != NULL)
            put_range(b, e->u.sq.step_ms, e->u.sq.step_expr);
        wbuf_put_u8(b, ']');
        put_at(b, &e->u.sq.mods);
        put_offset(b, &e->u.sq.mods);
        break;
    case PROMQL_CALL:
        put_str(b, e->u.call.func->name);
        wbuf_put_u8(b, '(');
        for (size_t i = 0; i < e->u.call.nargs; i++) {
            if (i > 0)
                put_str(b, ", ");
            print_expr(e->u.call.args[i], b);
        }
        wbuf_put_u8(b, ')');
        break;
    case PROMQL_AGGREGATE: {
        const struct promql_aggregate *a = &e->u.agg;
        put_str(b, promql_aggop_str(a->op));
        if (a->without) {
            put_str(b, " without (");
            put_labels(b, a->grouping, a->ngrouping);
            put_str(b, ") ");
        } else if (a->ngrouping > 0) {
            put_str(b, " by (");
            put_labels(b, a->grouping, a->ngrouping);
            put_str(b, ") ");
        }
        wbuf_put_u8(b, '(');
        if (a->param) {
            print_expr(a->param, b);
            put_str(b, ", ");
        }
        print_expr(a->expr, b);
        wbuf_put_u8(b, ')');
        break;
    }
    case PROMQL_BINARY: {
        const struct promql_binary *bin = &e->u.bin;
        /* Prometheus prints +Inf with its sign, but "+Inf ^ 2" parses as
         * +(Inf ^ 2): print a +Inf base of ^ bare so printing stays stable. */
        if (bin->op == PROMQL_POW && bin->lhs->kind == PROMQL_NUMBER &&
            isinf(bin->lhs->u.number.value) && bin->lhs->u.number.value > 0)
            put_str(b, "Inf");
        else
            print_expr(bin->lhs, b);
        wbuf_put_u8(b, ' ');
        put_str(b, promql_binop_str(bin->op));
        if (bin->return_bool)
            put_str(b, " bool");
        const struct promql_vector_matching *vm = bin->matching;
        if (vm) {
            int grouped =
                vm->card == PROMQL_CARD_MANY_TO_ONE || vm->card == PROMQL_CARD_ONE_TO_MANY;
            if (vm->nlabels > 0 || vm->on || grouped) {
                put_str(b, vm->on ? " on (" : " ignoring (");
                put_labels(b, vm->labels, vm->nlabels);
                wbuf_put_u8(b, ')');
            }
            if (grouped) {
                put_str(b,
                        vm->card == PROMQL_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
                put_labels(b, vm->include, vm->ninclude);
                wbuf_put_u8(b, ')');
            }
            print_fill(b, vm);
        }
        wbuf_put_u8(b, ' ');
        print_expr(bin->rhs, b);
        break;
    }
    case PROMQL_UNARY:
        wbuf_put_u8(b, e->u.unary.negate ? '-' : '+');
        print_expr(e->u.unary.expr, b);
        break;
    case PROMQL_PAREN:
        wbuf_put_u8(b, '(');
        print_expr(e->u.paren, b);
        wbuf_put_u8(b, ')');
        break;
    }
}

int promql_print(const struct promql_expr *e, struct wbuf *out)
{
    print_expr(e, out);
    return out->err;
}
