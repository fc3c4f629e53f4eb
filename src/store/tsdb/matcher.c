/*
 * matcher.c - label matchers with PCRE2 and the fast paths that stand in for
 * it (see matcher.h for the semantics).
 *
 * Invariants: every regex matcher holds compiled PCRE2 code (so a pattern is
 * valid exactly when PCRE2 accepts it, fast path or not); kind says which
 * check decides a match; for K_SET the set is sorted by (length, bytes) and
 * holds unescaped literals; prefix/suffix of K_REGEX are literals every
 * matching value must start/end with (a necessary condition, never a
 * sufficient one). The pattern analysis below is deliberately conservative:
 * whatever it does not fully understand leaves the regex to PCRE2.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "store/tsdb/matcher.h"

enum kind {
    K_EQ,       /* value == lit (= and != ; the negation is applied after) */
    K_SET,      /* value in set */
    K_ANY,      /* ".*" */
    K_NONEMPTY, /* ".+" */
    K_PREFIX,   /* "lit.*" */
    K_SUFFIX,   /* ".*lit" */
    K_CONTAINS, /* ".*lit.*" */
    K_REGEX,    /* PCRE2, after the prefix/suffix checks */
};

struct matcher {
    enum matcher_type type;
    enum kind kind;
    int negate; /* != and !~ */
    int matches_empty;
    char *name;
    char *value;
    size_t value_len;
    /* K_EQ uses value; K_PREFIX/K_SUFFIX/K_CONTAINS use lit */
    char *lit;
    size_t lit_len;
    /* K_SET */
    const char **set;
    size_t *set_len;
    size_t nset;
    char *set_buf;
    /* K_REGEX necessary conditions */
    char *prefix, *suffix;
    size_t prefix_len, suffix_len;
    pcre2_code *re;
    pcre2_match_data *md;
    int jit;
};

void matcher_free(struct matcher *m)
{
    if (m == NULL)
        return;
    free(m->name);
    free(m->value);
    free(m->lit);
    free(m->set);
    free(m->set_len);
    free(m->set_buf);
    free(m->prefix);
    free(m->suffix);
    if (m->md)
        pcre2_match_data_free(m->md);
    if (m->re)
        pcre2_code_free(m->re);
    free(m);
}

static char *dupmem(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static int is_meta(unsigned char c)
{
    return c != 0 && strchr("\\^$.|?*+()[]{}", c) != NULL;
}

static int is_quant(unsigned char c)
{
    return c == '*' || c == '+' || c == '?' || c == '{';
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* utf8_unit: length of the UTF-8 character starting at p (1 for a stray
 * byte), at most left. */
static size_t utf8_unit(const unsigned char *p, size_t left)
{
    size_t n = 1;
    if (p[0] >= 0xf0)
        n = 4;
    else if (p[0] >= 0xe0)
        n = 3;
    else if (p[0] >= 0xc0)
        n = 2;
    return n < left ? n : left;
}

/* unescape_literal: when p[0..n) is a plain literal (characters that are not
 * metacharacters, and backslash-escaped ASCII punctuation), writes the
 * string it matches into out (room for n bytes) and returns its length; else
 * returns -1. */
static long unescape_literal(const char *p, size_t n, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') {
            if (i + 1 >= n)
                return -1;
            unsigned char e = (unsigned char)p[i + 1];
            if (e >= 0x80 || is_alnum(e) || e < 0x20)
                return -1;
            out[w++] = (char)e;
            i++;
            continue;
        }
        if (is_meta(c))
            return -1;
        out[w++] = (char)c;
    }
    return (long)w;
}

/* skip_class: p[i] is '['; returns the index just after the closing ']', or
 * 0 when the class is not understood (then the caller gives up). */
static size_t skip_class(const char *p, size_t n, size_t i)
{
    i++;
    if (i < n && p[i] == '^')
        i++;
    if (i < n && p[i] == ']')
        i++;
    while (i < n) {
        if (p[i] == '\\') {
            if (i + 1 < n && p[i + 1] == 'Q')
                return 0;
            i += 2;
            continue;
        }
        if (p[i] == '[' && i + 1 < n && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n; j++) {
                if (p[j] == p[i + 1] && p[j + 1] == ']') {
                    end = p + j;
                    break;
                }
            }
            if (end == NULL)
                return 0;
            i = (size_t)(end - p) + 2;
            continue;
        }
        if (p[i] == ']')
            return i + 1;
        i++;
    }
    return 0;
}

/* top_level_scan: 1 when the pattern has no alternation at depth 0 and no
 * construct this scanner does not follow (\Q..\E, unterminated classes,
 * unbalanced parentheses); *flags_or_verbs is set when the pattern holds
 * "(?" option settings or "(*" verbs, which may change how later literals
 * match. Returns 0 otherwise. */
static int top_level_scan(const char *p, size_t n, int *flags_or_verbs)
{
    int depth = 0;
    *flags_or_verbs = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 >= n || p[i + 1] == 'Q')
                return 0;
            if (p[i + 1] == 'c')
                i++; /* \cX: X is taken literally, whatever it is */
            i++;
            continue;
        }
        if (c == '[') {
            size_t j = skip_class(p, n, i);
            if (j == 0)
                return 0;
            i = j - 1;
            continue;
        }
        if (c == '(') {
            if (i + 1 < n && p[i + 1] == '*')
                *flags_or_verbs = 1;
            if (i + 1 < n && p[i + 1] == '?') {
                char d = i + 2 < n ? p[i + 2] : 0;
                int harmless = d == ':' || d == '=' || d == '!' ||
                               (d == '<' && i + 3 < n && (p[i + 3] == '=' || p[i + 3] == '!'));
                if (!harmless)
                    *flags_or_verbs = 1;
            }
            depth++;
            continue;
        }
        if (c == ')') {
            if (--depth < 0)
                return 0;
            continue;
        }
        if (c == '|' && depth == 0)
            return 0;
    }
    return depth == 0;
}

/* literal_prefix: the literal characters the pattern starts with, minus the
 * last one when a quantifier follows it. Writes into out, returns length. */
static size_t literal_prefix(const char *p, size_t n, char *out)
{
    size_t w = 0, last = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') {
            if (i + 1 >= n)
                break;
            unsigned char e = (unsigned char)p[i + 1];
            if (e >= 0x80 || e < 0x20 || is_alnum(e))
                break;
            last = w;
            out[w++] = (char)e;
            i += 2;
            continue;
        }
        if (is_meta(c)) {
            if (is_quant(c))
                w = last;
            return w;
        }
        size_t u = utf8_unit((const unsigned char *)p + i, n - i);
        last = w;
        memcpy(out + w, p + i, u);
        w += u;
        i += u;
    }
    return w;
}

/* literal_suffix: the literal characters the pattern ends with (none when
 * any escape with a letter or digit is present, since those may span several
 * pattern characters). Writes into out, returns length. */
static size_t literal_suffix(const char *p, size_t n, char *out)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\\') {
            if (is_alnum((unsigned char)p[i + 1]) || (unsigned char)p[i + 1] >= 0x80)
                return 0;
            i++;
        }
    }
    /* Walk forward, keeping the current run of literal units. */
    size_t run = 0; /* bytes of out in the current run */
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') {
            if (i + 1 >= n)
                return 0;
            if (i + 2 < n && is_quant((unsigned char)p[i + 2])) {
                run = 0;
                i += 2;
                continue;
            }
            out[run++] = p[i + 1];
            i += 2;
            continue;
        }
        if (c == '[') {
            size_t j = skip_class(p, n, i);
            if (j == 0)
                return 0;
            run = 0;
            i = j;
            continue;
        }
        if (is_meta(c)) {
            run = 0;
            i++;
            continue;
        }
        size_t u = utf8_unit((const unsigned char *)p + i, n - i);
        if (i + u < n && is_quant((unsigned char)p[i + u])) {
            run = 0;
            i += u;
            continue;
        }
        memcpy(out + run, p + i, u);
        run += u;
        i += u;
    }
    return run;
}

static int set_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return an < bn ? -1 : 1;
    return memcmp(a, b, an);
}

/* try_set: the pattern is an alternation of literals, maybe inside one outer
 * group: fill m's set. Returns 1 on success, 0 when not such a pattern, or
 * TT_ENOMEM. */
static int try_set(struct matcher *m, const char *p, size_t n)
{
    /* Strip one outer group that spans the whole pattern. */
    if (n >= 2 && p[0] == '(' && p[n - 1] == ')') {
        size_t skip = (n >= 4 && p[1] == '?' && p[2] == ':') ? 3 : 1;
        if (skip == 1 && n >= 2 && p[1] == '?')
            return 0;
        /* the group must close at the end: no other parenthesis inside */
        for (size_t i = skip; i + 1 < n; i++) {
            if ((p[i] == '(' || p[i] == ')') && (i == 0 || p[i - 1] != '\\'))
                return 0;
        }
        p += skip;
        n -= skip + 1;
    }
    size_t nalt = 1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '|')
            nalt++;
    }
    char *buf = malloc(n + 1);
    const char **set = calloc(nalt, sizeof *set);
    size_t *lens = calloc(nalt, sizeof *lens);
    if (buf == NULL || set == NULL || lens == NULL) {
        free(buf);
        free(set);
        free(lens);
        return TT_ENOMEM;
    }
    size_t w = 0, k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] == '\\') {
            i++;
            continue;
        }
        if (i < n && p[i] != '|')
            continue;
        long len = unescape_literal(p + start, i - start, buf + w);
        if (len < 0) {
            free(buf);
            free(set);
            free(lens);
            return 0;
        }
        set[k] = buf + w;
        lens[k] = (size_t)len;
        k++;
        w += (size_t)len;
        start = i + 1;
    }
    /* sort by (length, bytes) and drop duplicates: small sets, insertion sort */
    for (size_t i = 1; i < k; i++) {
        const char *s = set[i];
        size_t l = lens[i], j = i;
        while (j > 0 && set_cmp(set[j - 1], lens[j - 1], s, l) > 0) {
            set[j] = set[j - 1];
            lens[j] = lens[j - 1];
            j--;
        }
        set[j] = s;
        lens[j] = l;
    }
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u > 0 && set_cmp(set[u - 1], lens[u - 1], set[i], lens[i]) == 0)
            continue;
        set[u] = set[i];
        lens[u] = lens[i];
        u++;
    }
    m->set_buf = buf;
    m->set = set;
    m->set_len = lens;
    m->nset = u;
    m->kind = K_SET;
    return 1;
}

/* try_dotstar: "lit.*", ".*lit", ".*lit.*" with lit a plain literal. */
static int try_dotstar(struct matcher *m, const char *p, size_t n)
{
    int head = n >= 2 && p[0] == '.' && p[1] == '*';
    /* trailing ".*" must not be an escaped dot: the part before it has to be
     * a complete literal, which unescape_literal checks */
    int tail = n >= 2 && p[n - 2] == '.' && p[n - 1] == '*';
    if (head && n == 2)
        return 0;
    if (!head && !tail)
        return 0;
    const char *q = p + (head ? 2 : 0);
    size_t qn = n - (head ? 2 : 0) - (tail ? 2 : 0);
    if (head && tail && n < 4)
        return 0;
    char *buf = malloc(qn + 1);
    if (buf == NULL)
        return TT_ENOMEM;
    long len = unescape_literal(q, qn, buf);
    if (len < 0) {
        free(buf);
        return 0;
    }
    m->lit = buf;
    m->lit_len = (size_t)len;
    m->kind = head && tail ? K_CONTAINS : head ? K_SUFFIX : K_PREFIX;
    return 1;
}

/* analyse picks the fast path of a regex matcher. Returns 0 or TT_ENOMEM. */
static int analyse(struct matcher *m)
{
    const char *p = m->value;
    size_t n = m->value_len;
    if (n == 2 && p[0] == '.' && (p[1] == '*' || p[1] == '+')) {
        m->kind = p[1] == '*' ? K_ANY : K_NONEMPTY;
        return 0;
    }
    int rc = try_set(m, p, n);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = try_dotstar(m, p, n);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int flags;
    if (!top_level_scan(p, n, &flags))
        return 0;
    char *buf = malloc(n + 1);
    if (buf == NULL)
        return TT_ENOMEM;
    size_t pl = literal_prefix(p, n, buf);
    if (pl > 0) {
        m->prefix = dupmem(buf, pl);
        if (m->prefix == NULL)
            goto nomem;
        m->prefix_len = pl;
    }
    if (!flags) {
        size_t sl = literal_suffix(p, n, buf);
        if (sl > 0) {
            m->suffix = dupmem(buf, sl);
            if (m->suffix == NULL)
                goto nomem;
            m->suffix_len = sl;
        }
    }
    free(buf);
    return 0;
nomem:
    free(buf);
    return TT_ENOMEM;
}

static int compile(struct matcher *m, char *errbuf, size_t errlen)
{
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    uint32_t opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY |
                    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
    m->re = pcre2_compile((PCRE2_SPTR)m->value, m->value_len, opts, &errcode, &erroff, NULL);
    if (m->re == NULL) {
        if (errcode == PCRE2_ERROR_NOMEMORY)
            return TT_ENOMEM;
        if (errlen > 0) {
            PCRE2_UCHAR msg[256];
            if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
                snprintf((char *)msg, sizeof msg, "error %d", errcode);
            snprintf(errbuf, errlen, "%s at offset %zu", (const char *)msg, (size_t)erroff);
        }
        return TT_ESYNTAX;
    }
    m->md = pcre2_match_data_create(1, NULL);
    if (m->md == NULL)
        return TT_ENOMEM;
    m->jit = pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

int matcher_new(struct matcher **out, enum matcher_type type, const char *name, const char *value,
                unsigned flags, char *errbuf, size_t errlen)
{
    int rc = 0;
    struct matcher *m = NULL;
    *out = NULL;
    if (errlen > 0)
        errbuf[0] = 0;
    if (name == NULL || name[0] == 0 || value == NULL || (unsigned)type > MATCH_NRE)
        return TT_EINVAL;
    m = calloc(1, sizeof *m);
    if (m == NULL)
        return TT_ENOMEM;
    m->type = type;
    m->negate = type == MATCH_NEQ || type == MATCH_NRE;
    m->value_len = strlen(value);
    m->name = dupmem(name, strlen(name));
    m->value = dupmem(value, m->value_len);
    if (m->name == NULL || m->value == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    m->kind = K_EQ;
    if (type == MATCH_RE || type == MATCH_NRE) {
        rc = compile(m, errbuf, errlen);
        if (rc)
            goto out;
        m->kind = K_REGEX;
        if (!(flags & MATCHER_PLAIN)) {
            rc = analyse(m);
            if (rc)
                goto out;
        }
    }
    m->matches_empty = matcher_matches(m, "", 0);
out:
    if (rc) {
        matcher_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int in_set(const struct matcher *m, const char *s, size_t n)
{
    size_t lo = 0, hi = m->nset;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = set_cmp(m->set[mid], m->set_len[mid], s, n);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int run_regex(struct matcher *m, const char *s, size_t n)
{
    if (m->prefix_len && (n < m->prefix_len || memcmp(s, m->prefix, m->prefix_len) != 0))
        return 0;
    if (m->suffix_len &&
        (n < m->suffix_len || memcmp(s + n - m->suffix_len, m->suffix, m->suffix_len) != 0))
        return 0;
    int rc;
    if (m->jit)
        rc = pcre2_jit_match(m->re, (PCRE2_SPTR)s, n, 0, 0, m->md, NULL);
    else
        rc = pcre2_match(m->re, (PCRE2_SPTR)s, n, 0, 0, m->md, NULL);
    return rc >= 0;
}

int matcher_matches(struct matcher *m, const char *s, size_t n)
{
    int r;
    switch (m->kind) {
    case K_EQ:
        r = n == m->value_len && memcmp(s, m->value, n) == 0;
        break;
    case K_SET:
        r = in_set(m, s, n);
        break;
    case K_ANY:
        r = 1;
        break;
    case K_NONEMPTY:
        r = n > 0;
        break;
    case K_PREFIX:
        r = n >= m->lit_len && memcmp(s, m->lit, m->lit_len) == 0;
        break;
    case K_SUFFIX:
        r = n >= m->lit_len && memcmp(s + n - m->lit_len, m->lit, m->lit_len) == 0;
        break;
    case K_CONTAINS:
        r = m->lit_len == 0 || memmem(s, n, m->lit, m->lit_len) != NULL;
        break;
    default:
        r = run_regex(m, s, n);
        break;
    }
    return r ^ m->negate;
}

int matcher_matches_empty(const struct matcher *m)
{
    return m->matches_empty;
}

int matcher_matches_all_nonempty(const struct matcher *m)
{
    switch (m->type) {
    case MATCH_NEQ:
        return m->value_len == 0;
    case MATCH_RE:
        return m->kind == K_ANY || m->kind == K_NONEMPTY;
    case MATCH_NRE:
        return m->kind == K_SET && m->nset == 1 && m->set_len[0] == 0;
    default:
        return 0;
    }
}

long matcher_set(const struct matcher *m, const char *const **vals, const size_t **lens)
{
    if (m->kind == K_EQ) {
        *vals = (const char *const *)&m->value;
        *lens = &m->value_len;
        return 1;
    }
    if (m->kind == K_SET) {
        *vals = m->set;
        *lens = m->set_len;
        return (long)m->nset;
    }
    return -1;
}

enum matcher_type matcher_type(const struct matcher *m)
{
    return m->type;
}

const char *matcher_name(const struct matcher *m)
{
    return m->name;
}

const char *matcher_value(const struct matcher *m)
{
    return m->value;
}

int matcher_is_jit(const struct matcher *m)
{
    return m->jit;
}
