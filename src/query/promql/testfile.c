/*
 * testfile.c - parser of PromQL test files (promqltest format). See
 * testfile.h for what is accepted. A command's block is its line and the
 * non-blank lines after it, up to a blank line or the next command; comments
 * (# ...) are skipped anywhere.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "query/promql/testfile.h"
#include "telltale.h"

#define STALE_NAN_BITS UINT64_C(0x7ff0000000000002) /* Prometheus's stale marker */

struct parser {
    const char *name;
    int line;
    char *err;
    size_t errlen;
    int failed;
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
    if (!ps->failed && ps->err && ps->errlen) {
        int n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->name, ps->line);
        if (n >= 0 && (size_t)n < ps->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    ps->failed = 1;
    return TT_ESYNTAX;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* Grow *arr (of *n elements of size sz) by one zeroed element; NULL on ENOMEM. */
static void *push(void **arr, size_t *n, size_t sz)
{
    char *p = realloc(*arr, (*n + 1) * sz);
    if (!p)
        return NULL;
    *arr = p;
    memset(p + *n * sz, 0, sz);
    return p + (*n)++ * sz;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* ---- durations and numbers --------------------------------------------- */

int ptf_parse_duration(const char *s, size_t n, int64_t *ms)
{
    const char *p = s, *end = s + n;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == end)
        return TT_ESYNTAX;
    int64_t total = 0;
    int any_unit = 0;
    while (p < end) {
        if (!isdigit((unsigned char)*p))
            return TT_ESYNTAX;
        int64_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (v > INT64_MAX / 10 - 10)
                return TT_ESYNTAX;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (p == end) {
            if (any_unit)
                return TT_ESYNTAX; /* "1m5" */
            unit = 1000;           /* a plain number is seconds */
        } else if (end - p >= 2 && p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else {
            switch (*p++) {
            case 's':
                unit = 1000;
                break;
            case 'm':
                unit = 60 * 1000;
                break;
            case 'h':
                unit = 3600 * 1000;
                break;
            case 'd':
                unit = 86400 * 1000;
                break;
            case 'w':
                unit = 7 * 86400 * 1000LL;
                break;
            case 'y':
                unit = 365 * 86400 * 1000LL;
                break;
            default:
                return TT_ESYNTAX;
            }
            any_unit = 1;
        }
        if (v > (INT64_MAX - total) / unit)
            return TT_ESYNTAX;
        total += v * unit;
    }
    *ms = neg ? -total : total;
    return 0;
}

/* A whole token as a float (Go ParseFloat-like: decimal, exponent, Inf, NaN). */
static int parse_float(const char *s, size_t n, double *out)
{
    char buf[128];
    if (n == 0 || n >= sizeof buf)
        return TT_ESYNTAX;
    /* No hex in series notation (as Prometheus): "0x59" is 0 repeated 59 times. */
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (n > i + 1 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        return TT_ESYNTAX;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *e = NULL;
    errno = 0;
    double v = strtod(buf, &e);
    if (e != buf + n)
        return TT_ESYNTAX;
    *out = v;
    return 0;
}

static double stale_nan(void)
{
    uint64_t b = STALE_NAN_BITS;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* ---- series notation -------------------------------------------------------- */

static int add_point(struct ptf_series *s, double v, uint8_t kind)
{
    struct ptf_point *pt = push((void **)&s->points, &s->npoints, sizeof *pt);
    if (!pt)
        return TT_ENOMEM;
    pt->v = v;
    pt->kind = kind;
    if (kind == PTF_HISTOGRAM)
        s->has_histogram = 1;
    return 0;
}

#define MAX_EXPANSION 1000000 /* points one token may expand to */

static int parse_count(const char *s, size_t n, long *out)
{
    if (n == 0 || n > 9)
        return TT_ESYNTAX;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return TT_ESYNTAX;
        v = v * 10 + (s[i] - '0');
    }
    if (v > MAX_EXPANSION)
        return TT_ESYNTAX;
    *out = v;
    return 0;
}

/* One token of points: "_", "_xN", "stale", a number, "a+bxN", "a-bxN", "axN",
 * or a native histogram "{{...}}" (with "xN" or "+{{...}}xN"). */
static int expand_token(struct parser *ps, struct ptf_series *s, const char *t, size_t n)
{
    int rc = 0;
    if (n >= 2 && t[0] == '{' && t[1] == '{') {
        /* Histograms: one point, or 1 + N with an xN suffix. */
        long count = 0;
        const char *x = NULL;
        for (size_t i = n; i > 0; i--) {
            if (t[i - 1] == '}')
                break;
            if (t[i - 1] == 'x') {
                x = t + i - 1;
                break;
            }
        }
        if (x && parse_count(x + 1, (size_t)(t + n - x - 1), &count) != 0)
            return fail(ps, "bad histogram repetition \"%.*s\"", (int)n, t);
        for (long i = 0; i <= count && rc == 0; i++)
            rc = add_point(s, 0, PTF_HISTOGRAM);
        return rc;
    }
    if (n == 1 && t[0] == '_')
        return add_point(s, 0, PTF_MISSING);
    if (n == 5 && memcmp(t, "stale", 5) == 0)
        return add_point(s, stale_nan(), PTF_STALE);
    double v;
    if (parse_float(t, n, &v) == 0)
        return add_point(s, v, PTF_VALUE);
    /* Expansions: the repetition count follows the last 'x'. */
    const char *x = NULL;
    for (size_t i = n; i > 1; i--) {
        if (t[i - 1] == 'x') {
            x = t + i - 1;
            break;
        }
    }
    long count;
    if (!x || parse_count(x + 1, (size_t)(t + n - x - 1), &count) != 0)
        return fail(ps, "bad value \"%.*s\"", (int)n, t);
    size_t left = (size_t)(x - t);
    if (left == 1 && t[0] == '_') {
        for (long i = 0; i < count && rc == 0; i++)
            rc = add_point(s, 0, PTF_MISSING);
        return rc;
    }
    /* a, a+b or a-b: the sign that splits them is not the first character and
     * not an exponent's sign. */
    size_t split = 0;
    for (size_t i = 1; i < left; i++) {
        if ((t[i] == '+' || t[i] == '-') && t[i - 1] != 'e' && t[i - 1] != 'E') {
            split = i;
            break;
        }
    }
    double a, b = 0;
    if (split == 0) {
        if (parse_float(t, left, &a) != 0)
            return fail(ps, "bad value \"%.*s\"", (int)n, t);
    } else {
        if (parse_float(t, split, &a) != 0 || parse_float(t + split + 1, left - split - 1, &b) != 0)
            return fail(ps, "bad value \"%.*s\"", (int)n, t);
        if (t[split] == '-')
            b = -b;
    }
    for (long i = 0; i <= count && rc == 0; i++)
        rc = add_point(s, a + (double)i * b, PTF_VALUE);
    return rc;
}

/* Points: whitespace-separated tokens; a token inside {{ }} may hold spaces. */
static int parse_points(struct parser *ps, struct ptf_series *s, const char *p, const char *end)
{
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end)
            return 0;
        const char *t = p;
        int depth = 0;
        while (p < end) {
            if (p + 1 < end && p[0] == '{' && p[1] == '{') {
                depth++;
                p += 2;
                continue;
            }
            if (p + 1 < end && p[0] == '}' && p[1] == '}' && depth > 0) {
                depth--;
                p += 2;
                continue;
            }
            if (depth == 0 && (*p == ' ' || *p == '\t'))
                break;
            p++;
        }
        if (depth)
            return fail(ps, "unterminated {{ in \"%.*s\"", (int)(p - t), t);
        int rc = expand_token(ps, s, t, (size_t)(p - t));
        if (rc)
            return rc;
    }
}

/* A quoted label value ("...", '...' or `...`) at *pp: unescaped into a new
 * string. */
static int parse_quoted(struct parser *ps, const char **pp, const char *end, char **out)
{
    const char *p = *pp;
    char q = *p++;
    size_t cap = 16, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return TT_ENOMEM;
    while (p < end && *p != q) {
        char c = *p++;
        if (c == '\\' && q != '`') {
            if (p >= end)
                break;
            c = *p++;
            switch (c) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case '\\':
            case '"':
            case '\'':
                break;
            default:
                free(buf);
                return fail(ps, "unknown escape \\%c in label value", c);
            }
        }
        if (n + 2 > cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return TT_ENOMEM;
            }
            buf = nb;
        }
        buf[n++] = c;
    }
    if (p >= end) {
        free(buf);
        return fail(ps, "unterminated label value");
    }
    buf[n] = 0;
    *pp = p + 1;
    *out = buf;
    return 0;
}

static int is_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static int is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':';
}

static int add_label(struct ptf_series *s, char *name, char *value)
{
    struct ptf_label *l = push((void **)&s->labels, &s->nlabels, sizeof *l);
    if (!l) {
        free(name);
        free(value);
        return TT_ENOMEM;
    }
    l->name = name;
    l->value = value;
    return 0;
}

/* "metric{a="b",...} points" or "{a="b"} points". */
static int parse_series(struct parser *ps, struct ptf_series *s, const char *p, const char *end)
{
    int rc;
    const char *q = p;
    while (q < end && is_name_char(*q))
        q++;
    if (q > p) {
        if (!is_name_start(*p))
            return fail(ps, "bad metric name \"%.*s\"", (int)(q - p), p);
        char *name = dup_n("__name__", 8), *val = dup_n(p, (size_t)(q - p));
        if (!name || !val) {
            free(name);
            free(val);
            return TT_ENOMEM;
        }
        if ((rc = add_label(s, name, val)) != 0)
            return rc;
        p = q;
    }
    if (p < end && *p == '{') {
        p++;
        for (;;) {
            p = skip_ws(p, end);
            if (p < end && *p == '}') {
                p++;
                break;
            }
            const char *n0 = p;
            while (p < end && is_name_char(*p))
                p++;
            if (p == n0)
                return fail(ps, "expected a label name at \"%.*s\"", (int)(end - n0), n0);
            const char *n1 = p;
            p = skip_ws(p, end);
            if (p >= end || *p != '=')
                return fail(ps, "expected '=' after label name \"%.*s\"", (int)(n1 - n0), n0);
            p = skip_ws(p + 1, end);
            if (p >= end || (*p != '"' && *p != '\'' && *p != '`'))
                return fail(ps, "expected a quoted value for label \"%.*s\"", (int)(n1 - n0), n0);
            char *val = NULL;
            if ((rc = parse_quoted(ps, &p, end, &val)) != 0)
                return rc;
            char *name = dup_n(n0, (size_t)(n1 - n0));
            if (!name) {
                free(val);
                return TT_ENOMEM;
            }
            if ((rc = add_label(s, name, val)) != 0)
                return rc;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return fail(ps, "expected ',' or '}' in label set");
        }
    }
    if (end - p >= 3 && memcmp(p, "@st", 3) == 0) {
        s->start_timestamps = 1; /* start timestamps: not parsed (see header) */
        return 0;
    }
    if (s->nlabels == 0 && (p >= end || *p != ' '))
        return fail(ps, "expected a series \"metric{labels} values\"");
    return parse_points(ps, s, p, end);
}

/* ---- commands ----------------------------------------------------------------- */

static int word_is(const char *p, const char *end, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(end - p) >= n && memcmp(p, w, n) == 0 &&
           ((size_t)(end - p) == n || p[n] == ' ' || p[n] == '\t');
}

static int is_command(const char *p, const char *end)
{
    return word_is(p, end, "load") || word_is(p, end, "load_with_nhcb") ||
           word_is(p, end, "clear") || word_is(p, end, "eval") || word_is(p, end, "eval_fail") ||
           word_is(p, end, "eval_ordered") || word_is(p, end, "eval_warn") ||
           word_is(p, end, "eval_info");
}

/* Next whitespace-delimited word at *pp. */
static size_t next_word(const char **pp, const char *end, const char **w)
{
    const char *p = skip_ws(*pp, end);
    *w = p;
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    *pp = p;
    return (size_t)(p - *w);
}

static int parse_time_word(struct parser *ps, const char **pp, const char *end, const char *what,
                           int64_t *ms)
{
    const char *w;
    size_t n = next_word(pp, end, &w);
    if (n == 0 || ptf_parse_duration(w, n, ms) != 0)
        return fail(ps, "bad %s time \"%.*s\"", what, (int)n, w);
    return 0;
}

static int expect_word(struct parser *ps, const char **pp, const char *end, const char *want)
{
    const char *w;
    size_t n = next_word(pp, end, &w);
    if (n != strlen(want) || memcmp(w, want, n) != 0)
        return fail(ps, "expected \"%s\", got \"%.*s\"", want, (int)n, w);
    return 0;
}

static struct ptf_expect *add_expect(struct ptf_cmd *c, enum ptf_expect_kind kind)
{
    struct ptf_expect *e = push((void **)&c->expects, &c->nexpects, sizeof *e);
    if (e)
        e->kind = kind;
    return e;
}

/* A message after "msg:" or "regex:", quotes around it optional. */
static char *message_text(const char *p, const char *end)
{
    p = skip_ws(p, end);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end - p >= 2 && ((*p == '"' && end[-1] == '"') || (*p == '`' && end[-1] == '`'))) {
        p++;
        end--;
    }
    return dup_n(p, (size_t)(end - p));
}

static int parse_eval_head(struct parser *ps, struct ptf_cmd *c, const char *p, const char *end)
{
    const char *w;
    size_t n = next_word(&p, end, &w);
    /* Deprecated variants carry an expectation in the command name. */
    if (n == 9 && memcmp(w, "eval_fail", 9) == 0 && !add_expect(c, PTF_EXPECT_FAIL))
        return TT_ENOMEM;
    if (n == 12 && memcmp(w, "eval_ordered", 12) == 0 && !add_expect(c, PTF_EXPECT_ORDERED))
        return TT_ENOMEM;
    if (n == 9 && memcmp(w, "eval_warn", 9) == 0 && !add_expect(c, PTF_EXPECT_WARN))
        return TT_ENOMEM;
    if (n == 9 && memcmp(w, "eval_info", 9) == 0 && !add_expect(c, PTF_EXPECT_INFO))
        return TT_ENOMEM;
    n = next_word(&p, end, &w);
    int rc;
    if (n == 7 && memcmp(w, "instant", 7) == 0) {
        if ((rc = expect_word(ps, &p, end, "at")) ||
            (rc = parse_time_word(ps, &p, end, "eval", &c->at_ms)))
            return rc;
    } else if (n == 5 && memcmp(w, "range", 5) == 0) {
        c->range = 1;
        if ((rc = expect_word(ps, &p, end, "from")) ||
            (rc = parse_time_word(ps, &p, end, "start", &c->start_ms)) ||
            (rc = expect_word(ps, &p, end, "to")) ||
            (rc = parse_time_word(ps, &p, end, "end", &c->end_ms)) ||
            (rc = expect_word(ps, &p, end, "step")) ||
            (rc = parse_time_word(ps, &p, end, "step", &c->step_ms)))
            return rc;
        if (c->step_ms <= 0)
            return fail(ps, "range step must be positive");
    } else {
        return fail(ps, "expected \"instant\" or \"range\" after eval, got \"%.*s\"", (int)n, w);
    }
    p = skip_ws(p, end);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    if (p == end)
        return fail(ps, "eval without a query");
    c->query = dup_n(p, (size_t)(end - p));
    return c->query ? 0 : TT_ENOMEM;
}

static int parse_expect(struct parser *ps, struct ptf_cmd *c, const char *p, const char *end)
{
    const char *w;
    next_word(&p, end, &w); /* "expect" */
    size_t n = next_word(&p, end, &w);
    static const struct {
        const char *word;
        enum ptf_expect_kind kind;
    } kinds[] = {
        { "fail", PTF_EXPECT_FAIL },       { "warn", PTF_EXPECT_WARN },
        { "info", PTF_EXPECT_INFO },       { "no_warn", PTF_EXPECT_NO_WARN },
        { "no_info", PTF_EXPECT_NO_INFO }, { "ordered", PTF_EXPECT_ORDERED },
        { "string", PTF_EXPECT_STRING },   { "range", PTF_EXPECT_RANGE_VECTOR },
    };
    size_t k;
    for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strlen(kinds[k].word) == n && memcmp(kinds[k].word, w, n) == 0)
            break;
    if (k == sizeof kinds / sizeof kinds[0])
        return fail(ps, "unknown expectation \"%.*s\"", (int)n, w);
    struct ptf_expect *e = add_expect(c, kinds[k].kind);
    if (!e)
        return TT_ENOMEM;
    int rc;
    if (e->kind == PTF_EXPECT_RANGE_VECTOR) {
        if ((rc = expect_word(ps, &p, end, "vector")) || (rc = expect_word(ps, &p, end, "from")) ||
            (rc = parse_time_word(ps, &p, end, "start", &e->start_ms)) ||
            (rc = expect_word(ps, &p, end, "to")) ||
            (rc = parse_time_word(ps, &p, end, "end", &e->end_ms)) ||
            (rc = expect_word(ps, &p, end, "step")) ||
            (rc = parse_time_word(ps, &p, end, "step", &e->step_ms)))
            return rc;
        return 0;
    }
    if (e->kind == PTF_EXPECT_STRING) {
        e->text = message_text(p, end);
        return e->text ? 0 : TT_ENOMEM;
    }
    p = skip_ws(p, end);
    if (p == end)
        return 0;
    if (end - p >= 4 && memcmp(p, "msg:", 4) == 0) {
        e->match = PTF_MATCH_MSG;
        p += 4;
    } else if (end - p >= 6 && memcmp(p, "regex:", 6) == 0) {
        e->match = PTF_MATCH_REGEX;
        p += 6;
    } else {
        return fail(ps, "expected \"msg:\" or \"regex:\" after expect %s", kinds[k].word);
    }
    e->text = message_text(p, end);
    return e->text ? 0 : TT_ENOMEM;
}

static int parse_eval_line(struct parser *ps, struct ptf_cmd *c, const char *p, const char *end)
{
    if (word_is(p, end, "expect"))
        return parse_expect(ps, c, p, end);
    if (word_is(p, end, "expected_fail_message") || word_is(p, end, "expected_fail_regexp")) {
        int regex = p[15] == 'r';
        struct ptf_expect *e = add_expect(c, PTF_EXPECT_FAIL);
        if (!e)
            return TT_ENOMEM;
        e->match = regex ? PTF_MATCH_REGEX : PTF_MATCH_MSG;
        e->text = message_text(p + 21, end);
        return e->text ? 0 : TT_ENOMEM;
    }
    double v;
    const char *q = end;
    while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    if (parse_float(p, (size_t)(q - p), &v) == 0) {
        c->has_scalar = 1;
        c->scalar = v;
        return 0;
    }
    struct ptf_series *s = push((void **)&c->series, &c->nseries, sizeof *s);
    if (!s)
        return TT_ENOMEM;
    int rc = parse_series(ps, s, p, end);
    c->has_histogram |= s->has_histogram;
    c->start_timestamps |= s->start_timestamps;
    return rc;
}

static int parse_load_head(struct parser *ps, struct ptf_cmd *c, const char *p, const char *end)
{
    const char *w;
    size_t n = next_word(&p, end, &w);
    c->with_nhcb = n == 14; /* load_with_nhcb */
    if (c->with_nhcb)
        c->has_histogram = 1;
    int rc = parse_time_word(ps, &p, end, "load interval", &c->interval_ms);
    if (rc == 0 && c->interval_ms <= 0)
        return fail(ps, "load interval must be positive");
    if (rc == 0 && skip_ws(p, end) != end)
        return fail(ps, "unexpected text after the load interval");
    return rc;
}

static void free_series(struct ptf_series *s)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    free(s->labels);
    free(s->points);
}

void ptf_free(struct ptf_file *f)
{
    for (size_t i = 0; i < f->ncmds; i++) {
        struct ptf_cmd *c = &f->cmds[i];
        for (size_t j = 0; j < c->nseries; j++)
            free_series(&c->series[j]);
        free(c->series);
        for (size_t j = 0; j < c->nexpects; j++)
            free(c->expects[j].text);
        free(c->expects);
        free(c->query);
    }
    free(f->cmds);
    f->cmds = NULL;
    f->ncmds = 0;
}

int ptf_parse(const char *text, size_t len, const char *name, struct ptf_file *out, char *err,
              size_t errlen)
{
    struct parser ps = { name ? name : "<input>", 0, err, errlen, 0 };
    memset(out, 0, sizeof *out);
    const char *p = text, *end = text + len;
    struct ptf_cmd *cur = NULL;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        ps.line++;
        if (le > p && le[-1] == '\r')
            le--;
        const char *s = skip_ws(p, le);
        p = next;
        if (s == le) { /* blank line: ends the block */
            cur = NULL;
            continue;
        }
        if (*s == '#')
            continue;
        if (is_command(s, le)) {
            cur = push((void **)&out->cmds, &out->ncmds, sizeof *cur);
            if (!cur) {
                rc = TT_ENOMEM;
                break;
            }
            cur->line = ps.line;
            if (word_is(s, le, "clear")) {
                cur->kind = PTF_CLEAR;
                cur = NULL;
            } else if (word_is(s, le, "load") || word_is(s, le, "load_with_nhcb")) {
                cur->kind = PTF_LOAD;
                rc = parse_load_head(&ps, cur, s, le);
            } else {
                cur->kind = PTF_EVAL;
                rc = parse_eval_head(&ps, cur, s, le);
            }
            continue;
        }
        if (!cur) {
            rc = fail(&ps, "expected a command (load, clear, eval), got \"%.*s\"",
                      (int)(le - s > 40 ? 40 : le - s), s);
            break;
        }
        if (cur->kind == PTF_LOAD) {
            struct ptf_series *ser = push((void **)&cur->series, &cur->nseries, sizeof *ser);
            if (!ser) {
                rc = TT_ENOMEM;
                break;
            }
            rc = parse_series(&ps, ser, s, le);
            cur->has_histogram |= ser->has_histogram;
            cur->start_timestamps |= ser->start_timestamps;
        } else {
            rc = parse_eval_line(&ps, cur, s, le);
        }
    }
    if (rc != 0) {
        if (rc == TT_ENOMEM && err && errlen)
            snprintf(err, errlen, "%s:%d: out of memory", ps.name, ps.line);
        ptf_free(out);
    }
    return rc;
}

/* Does query mention name as a whole word (a metric name in a selector)? */
static int mentions(const char *query, const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return 0;
    for (const char *q = strstr(query, name); q; q = strstr(q + 1, name)) {
        int before = q > query && is_name_char(q[-1]);
        int after = is_name_char(q[n]);
        if (!before && !after)
            return 1;
    }
    return 0;
}

static const char *metric_name(const struct ptf_series *s)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, "__name__") == 0)
            return s->labels[i].value;
    return "";
}

/* The name a load_with_nhcb histogram gets from its classic series. */
static void nhcb_base(const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    static const char *suffixes[] = { "_bucket", "_count", "_sum" };
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            n -= k;
            break;
        }
    }
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, name, n);
    out[n] = 0;
}

void ptf_eval_count(const struct ptf_file *f, size_t *evals, size_t *histogram_evals)
{
    size_t n = 0, h = 0;
    for (size_t i = 0; i < f->ncmds; i++) {
        const struct ptf_cmd *c = &f->cmds[i];
        if (c->kind != PTF_EVAL)
            continue;
        n++;
        int skip = c->has_histogram || c->start_timestamps;
        /* Loads since the last clear whose unsupported series it names. */
        for (size_t j = i; j-- > 0 && !skip;) {
            const struct ptf_cmd *l = &f->cmds[j];
            if (l->kind == PTF_CLEAR)
                break;
            if (l->kind != PTF_LOAD)
                continue;
            for (size_t k = 0; k < l->nseries && !skip; k++) {
                const struct ptf_series *s = &l->series[k];
                char base[256];
                nhcb_base(metric_name(s), base, sizeof base);
                if (s->has_histogram || s->start_timestamps)
                    skip = mentions(c->query, metric_name(s)) || strstr(c->query, "__name__");
                else if (l->with_nhcb)
                    skip = mentions(c->query, base);
            }
        }
        h += skip != 0;
    }
    *evals = n;
    *histogram_evals = h;
}
