/*
 * lexer.c - the PromQL lexer (see lexer.h). It follows the states and the
 * character-level decisions of Prometheus's lexer (promql/parser/lex.go) so
 * that malformed input fails with the same message at the same offset; the
 * code is a plain byte loop (multi-byte UTF-8 only matters inside strings and
 * in error messages).
 *
 * Invariants: lx->pos never exceeds lx->len; tokens are byte ranges of the
 * input; an ERROR token ends the stream (state PL_DONE).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "query/promql/lexer.h"

#define LEX_EOF (-1)

void promql_lexer_init(struct promql_lexer *lx, const char *in, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->in = in;
    lx->len = len;
    lx->state = PL_STATEMENTS;
}

int promql_tok_is_operator(enum promql_tok t)
{
    return t > PT_OPS_START && t < PT_OPS_END;
}

int promql_tok_is_aggregator(enum promql_tok t)
{
    return t > PT_AGGS_START && t < PT_AGGS_END;
}

int promql_tok_is_keyword(enum promql_tok t)
{
    return t > PT_KEYWORDS_START && t < PT_KEYWORDS_END;
}

/* ---- characters ------------------------------------------------------------ */

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* utf8_decode: the rune at s[0..n) and its width, or -1 (width 1) when the
 * bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF, truncated). */
static int32_t utf8_decode(const unsigned char *s, size_t n, size_t *w)
{
    *w = 1;
    if (n == 0)
        return -1;
    unsigned c = s[0];
    if (c < 0x80)
        return (int32_t)c;
    size_t need;
    uint32_t r, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, r = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, r = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, r = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (n < need + 1)
        return -1;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        return -1;
    *w = need + 1;
    return (int32_t)r;
}

/* quote_rune writes the rune at p the way Go's %q prints a rune ('x', '\n',
 * '\'', 'é'); returns bytes written (buf of 16 bytes suffices). */
static size_t quote_rune(const struct promql_lexer *lx, size_t p, char *buf, size_t n)
{
    if (p >= lx->len)
        return (size_t)snprintf(buf, n, "'\xef\xbf\xbd'"); /* Go's QuoteRune(-1) */
    size_t w;
    int32_t r = utf8_decode((const unsigned char *)lx->in + p, lx->len - p, &w);
    if (r < 0)
        return (size_t)snprintf(buf, n, "'\xef\xbf\xbd'");
    if (r >= 0x80)
        return (size_t)snprintf(buf, n, "'%.*s'", (int)w, lx->in + p);
    switch (r) {
    case '\a':
        return (size_t)snprintf(buf, n, "'\\a'");
    case '\b':
        return (size_t)snprintf(buf, n, "'\\b'");
    case '\f':
        return (size_t)snprintf(buf, n, "'\\f'");
    case '\n':
        return (size_t)snprintf(buf, n, "'\\n'");
    case '\r':
        return (size_t)snprintf(buf, n, "'\\r'");
    case '\t':
        return (size_t)snprintf(buf, n, "'\\t'");
    case '\v':
        return (size_t)snprintf(buf, n, "'\\v'");
    case '\'':
        return (size_t)snprintf(buf, n, "'\\''");
    case '\\':
        return (size_t)snprintf(buf, n, "'\\\\'");
    default:
        break;
    }
    if (r < 0x20 || r == 0x7f)
        return (size_t)snprintf(buf, n, "'\\x%02x'", (unsigned)r);
    return (size_t)snprintf(buf, n, "'%c'", (char)r);
}

/* unicode_name writes the rune at p as Go's %#U does ("U+0063 'c'"). */
static void unicode_name(const struct promql_lexer *lx, size_t p, char *buf, size_t n)
{
    if (p >= lx->len) {
        snprintf(buf, n, "U+FFFFFFFFFFFFFFFF");
        return;
    }
    size_t w;
    int32_t r = utf8_decode((const unsigned char *)lx->in + p, lx->len - p, &w);
    if (r < 0)
        snprintf(buf, n, "U+FFFD '\xef\xbf\xbd'");
    else if (r >= 0x80)
        snprintf(buf, n, "U+%04X '%.*s'", (unsigned)r, (int)w, lx->in + p);
    else if (r < 0x20 || r == 0x7f)
        snprintf(buf, n, "U+%04X", (unsigned)r);
    else
        snprintf(buf, n, "U+%04X '%c'", (unsigned)r, (char)r);
}

/* ---- scanning primitives (lex.go's next/peek/backup/accept) ---------------- */

static int peek(const struct promql_lexer *lx)
{
    return lx->pos < lx->len ? (unsigned char)lx->in[lx->pos] : LEX_EOF;
}

static int next(struct promql_lexer *lx)
{
    if (lx->pos >= lx->len)
        return LEX_EOF;
    return (unsigned char)lx->in[lx->pos++];
}

static int in_set(int c, const char *set)
{
    return c != LEX_EOF && c != 0 && strchr(set, c) != NULL;
}

static int accept(struct promql_lexer *lx, const char *set)
{
    if (in_set(peek(lx), set)) {
        lx->pos++;
        return 1;
    }
    return 0;
}

static void accept_run(struct promql_lexer *lx, const char *set)
{
    while (accept(lx, set))
        ;
}

static void emit(struct promql_lexer *lx, struct promql_token *tok, enum promql_tok t, size_t start)
{
    tok->type = t;
    tok->pos = (uint32_t)start;
    tok->len = (uint32_t)(lx->pos - start);
}

/* lex_error emits an ERROR token at errpos and ends the stream. */
static void lex_error(struct promql_lexer *lx, struct promql_token *tok, size_t errpos,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void lex_error(struct promql_lexer *lx, struct promql_token *tok, size_t errpos,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->errmsg, sizeof(lx->errmsg), fmt, ap);
    va_end(ap);
    tok->type = PT_ERROR;
    tok->pos = (uint32_t)errpos;
    tok->len = 0;
    lx->state = PL_DONE;
}

/* ---- numbers and durations ------------------------------------------------------- */

/* scan_number: lex.go's scanNumber (a number not followed by a letter). */
static int scan_number(struct promql_lexer *lx)
{
    size_t initial = lx->pos;
    const char *digits = "0123456789";
    int hex = 0;
    if (accept(lx, "0")) {
        if (accept(lx, "xX")) {
            accept(lx, "_");
            digits = "0123456789abcdefABCDEF";
            hex = 1;
        }
    }
    accept(lx, ".");
    accept(lx, digits);
    int dot = 0, expo = 0;
    for (;;) {
        int c = peek(lx);
        if (!(in_set(c, digits) || c == '.' || c == '_' || c == 'e' || c == 'E'))
            break;
        if (c == '.' && dot) {
            lx->pos++;
            return 0;
        }
        if ((c == 'e' || c == 'E') && expo) {
            lx->pos++;
            return 0;
        }
        if (accept(lx, ".")) {
            dot = 1;
            if (accept(lx, "_."))
                return 0;
            if (hex)
                return 0;
            continue;
        }
        if (accept(lx, "eE")) {
            expo = 1;
            accept(lx, "+-");
            if (accept(lx, "._eE") || peek(lx) == LEX_EOF)
                return 0;
            continue;
        }
        if (accept(lx, "_")) {
            if (accept(lx, "._eE") || peek(lx) == LEX_EOF)
                return 0;
            continue;
        }
        accept_run(lx, digits);
    }
    if (lx->pos == initial)
        return 0;
    return !is_alnum(peek(lx));
}

/* accept_remaining_duration: lex.go's acceptRemainingDuration; on success the
 * position is just past the duration. */
static int accept_remaining_duration(struct promql_lexer *lx)
{
    if (!accept(lx, "smhdwy"))
        return 0;
    accept(lx, "s");
    while (accept(lx, "0123456789")) {
        accept_run(lx, "0123456789");
        if (!accept(lx, "smhdw"))
            return 0;
        accept(lx, "s");
    }
    int c = next(lx);
    if (is_alnum(c))
        return 0;
    if (c != LEX_EOF)
        lx->pos--;
    return 1;
}

static void lex_number_or_duration(struct promql_lexer *lx, struct promql_token *tok, size_t start)
{
    if (scan_number(lx)) {
        emit(lx, tok, PT_NUMBER, start);
        return;
    }
    if (accept_remaining_duration(lx)) {
        emit(lx, tok, PT_DURATION, start);
        return;
    }
    lex_error(lx, tok, start, "bad number or duration syntax: \"%.*s\"", (int)(lx->pos - start),
              lx->in + start);
}

/* ---- strings ----------------------------------------------------------------- */

static int digit_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 16;
}

/* lex_escape checks one escape after a backslash; 0 or an error emitted. */
static int lex_escape(struct promql_lexer *lx, struct promql_token *tok, size_t start, int quote)
{
    char u[48];
    size_t cpos = lx->pos;
    int ch = next(lx);
    int n;
    uint32_t base, max;
    switch (ch) {
    case 'a':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
    case '\\':
        return 0;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        n = 3, base = 8, max = 255;
        break;
    case 'x':
        cpos = lx->pos, ch = next(lx);
        n = 2, base = 16, max = 255;
        break;
    case 'u':
        cpos = lx->pos, ch = next(lx);
        n = 4, base = 16, max = 0x10FFFF;
        break;
    case 'U':
        cpos = lx->pos, ch = next(lx);
        n = 8, base = 16, max = 0x10FFFF;
        break;
    case LEX_EOF:
        lex_error(lx, tok, start, "escape sequence not terminated");
        return -1;
    default:
        if (ch == quote)
            return 0;
        unicode_name(lx, cpos, u, sizeof(u));
        lex_error(lx, tok, start, "unknown escape sequence %s", u);
        return -1;
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = (uint32_t)digit_val(ch);
        if (d >= base) {
            if (ch == LEX_EOF) {
                lex_error(lx, tok, start, "escape sequence not terminated");
                return -1;
            }
            unicode_name(lx, cpos, u, sizeof(u));
            lex_error(lx, tok, start, "illegal character %s in escape sequence", u);
            return -1;
        }
        x = x * base + d;
        n--;
        if (n > 0)
            cpos = lx->pos, ch = next(lx);
    }
    if (x > max || (x >= 0xD800 && x < 0xE000)) {
        lex_error(lx, tok, start, "escape sequence is an invalid Unicode code point");
        return -1;
    }
    return 0;
}

static void lex_string(struct promql_lexer *lx, struct promql_token *tok, size_t start, int quote)
{
    for (;;) {
        int c = peek(lx);
        if (c == LEX_EOF || c == '\n') {
            lex_error(lx, tok, start, "unterminated quoted string");
            return;
        }
        if (c >= 0x80) {
            size_t w;
            if (utf8_decode((const unsigned char *)lx->in + lx->pos, lx->len - lx->pos, &w) < 0) {
                lex_error(lx, tok, start, "invalid UTF-8 rune");
                return;
            }
            lx->pos += w;
            continue;
        }
        lx->pos++;
        if (c == '\\') {
            if (lex_escape(lx, tok, start, quote) < 0)
                return;
            continue;
        }
        if (c == quote)
            break;
    }
    emit(lx, tok, PT_STRING, start);
}

static void lex_raw_string(struct promql_lexer *lx, struct promql_token *tok, size_t start)
{
    for (;;) {
        int c = peek(lx);
        if (c == LEX_EOF) {
            lex_error(lx, tok, start, "unterminated raw string");
            return;
        }
        if (c >= 0x80) {
            size_t w;
            if (utf8_decode((const unsigned char *)lx->in + lx->pos, lx->len - lx->pos, &w) < 0) {
                lex_error(lx, tok, start, "invalid UTF-8 rune");
                return;
            }
            lx->pos += w;
            continue;
        }
        lx->pos++;
        if (c == '`')
            break;
    }
    emit(lx, tok, PT_STRING, start);
}

/* ---- words ------------------------------------------------------------------ */

struct kw {
    const char *word;
    enum promql_tok tok;
};

static const struct kw keywords[] = {
    { "and", PT_LAND },
    { "or", PT_LOR },
    { "unless", PT_LUNLESS },
    { "atan2", PT_ATAN2 },
    { "sum", PT_SUM },
    { "avg", PT_AVG },
    { "count", PT_COUNT },
    { "min", PT_MIN },
    { "max", PT_MAX },
    { "group", PT_GROUP },
    { "stddev", PT_STDDEV },
    { "stdvar", PT_STDVAR },
    { "topk", PT_TOPK },
    { "bottomk", PT_BOTTOMK },
    { "count_values", PT_COUNT_VALUES },
    { "quantile", PT_QUANTILE },
    { "limitk", PT_LIMITK },
    { "limit_ratio", PT_LIMIT_RATIO },
    { "offset", PT_OFFSET },
    { "smoothed", PT_SMOOTHED },
    { "anchored", PT_ANCHORED },
    { "by", PT_BY },
    { "without", PT_WITHOUT },
    { "on", PT_ON },
    { "ignoring", PT_IGNORING },
    { "group_left", PT_GROUP_LEFT },
    { "group_right", PT_GROUP_RIGHT },
    { "fill", PT_FILL },
    { "fill_left", PT_FILL_LEFT },
    { "fill_right", PT_FILL_RIGHT },
    { "bool", PT_BOOL },
    { "start", PT_START },
    { "end", PT_END },
    { "step", PT_STEP },
    { "range", PT_RANGE },
    { "max_of", PT_MAX_OF },
    { "min_of", PT_MIN_OF },
    { "inf", PT_NUMBER },
    { "nan", PT_NUMBER },
};

static int word_eq(const char *w, size_t n, const char *kw)
{
    size_t i = 0;
    for (; i < n; i++)
        if (kw[i] == 0 || lower((unsigned char)w[i]) != kw[i])
            return 0;
    return kw[i] == 0;
}

static int keyword_lookup(const char *w, size_t n, enum promql_tok *t)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (word_eq(w, n, keywords[i].word)) {
            *t = keywords[i].tok;
            return 1;
        }
    }
    return 0;
}

static int followed_by_left_paren(const struct promql_lexer *lx)
{
    for (size_t p = lx->pos; p < lx->len; p++) {
        if (!is_space((unsigned char)lx->in[p]))
            return lx->in[p] == '(';
    }
    return 0;
}

static void lex_keyword_or_identifier(struct promql_lexer *lx, struct promql_token *tok,
                                      size_t start)
{
    while (is_alnum(peek(lx)) || peek(lx) == ':')
        lx->pos++;
    const char *w = lx->in + start;
    size_t n = lx->pos - start;
    enum promql_tok t;
    if (keyword_lookup(w, n, &t)) {
        if ((t == PT_FILL || t == PT_FILL_LEFT || t == PT_FILL_RIGHT) &&
            !followed_by_left_paren(lx))
            t = PT_IDENTIFIER;
        emit(lx, tok, t, start);
        return;
    }
    emit(lx, tok, memchr(w, ':', n) ? PT_METRIC_IDENTIFIER : PT_IDENTIFIER, start);
}

static int is_duration_keyword_start(int c)
{
    c = lower(c);
    return c == 's' || c == 'r' || c == 'm';
}

/* scan_duration_keyword: step, range, max_of, min_of (any case). */
static int scan_duration_keyword(struct promql_lexer *lx, struct promql_token *tok, size_t start)
{
    while (is_alpha(peek(lx)))
        lx->pos++;
    const char *w = lx->in + start;
    size_t n = lx->pos - start;
    static const struct kw dk[] = {
        { "step", PT_STEP },
        { "range", PT_RANGE },
        { "max_of", PT_MAX_OF },
        { "min_of", PT_MIN_OF },
    };
    for (size_t i = 0; i < sizeof(dk) / sizeof(dk[0]); i++) {
        if (word_eq(w, n, dk[i].word)) {
            emit(lx, tok, dk[i].tok, start);
            return 1;
        }
    }
    return 0;
}

static void skip_comment(struct promql_lexer *lx)
{
    while (lx->pos < lx->len && lx->in[lx->pos] != '\n' && lx->in[lx->pos] != '\r')
        lx->pos++;
}

/* ---- states ------------------------------------------------------------------- */

/* Each returns 1 when it emitted a token, 0 to be called again. */

static int lex_inside_braces(struct promql_lexer *lx, struct promql_token *tok)
{
    char q[16];
    size_t start = lx->pos;
    int c = next(lx);
    switch (c) {
    case LEX_EOF:
        lex_error(lx, tok, start, "unexpected end of input inside braces");
        return 1;
    case '#':
        skip_comment(lx);
        return 0;
    case ',':
        emit(lx, tok, PT_COMMA, start);
        return 1;
    case '"':
    case '\'':
        lex_string(lx, tok, start, c);
        return 1;
    case '`':
        lex_raw_string(lx, tok, start);
        return 1;
    case '=':
        emit(lx, tok, accept(lx, "~") ? PT_EQL_REGEX : PT_EQL, start);
        return 1;
    case '!': {
        int d = next(lx);
        if (d == '~') {
            emit(lx, tok, PT_NEQ_REGEX, start);
        } else if (d == '=') {
            emit(lx, tok, PT_NEQ, start);
        } else {
            quote_rune(lx, d == LEX_EOF ? lx->len : lx->pos - 1, q, sizeof(q));
            lex_error(lx, tok, start, "unexpected character after '!' inside braces: %s", q);
        }
        return 1;
    }
    case '{':
        lex_error(lx, tok, start, "unexpected left brace '{'");
        return 1;
    case '}':
        emit(lx, tok, PT_RIGHT_BRACE, start);
        lx->state = PL_STATEMENTS;
        return 1;
    default:
        break;
    }
    if (is_space(c))
        return 0;
    if (is_alpha(c)) {
        while (is_alnum(peek(lx)))
            lx->pos++;
        emit(lx, tok, PT_IDENTIFIER, start);
        return 1;
    }
    quote_rune(lx, start, q, sizeof(q));
    lex_error(lx, tok, start, "unexpected character inside braces: %s", q);
    return 1;
}

static int lex_duration_expr(struct promql_lexer *lx, struct promql_token *tok)
{
    char q[16];
    size_t start = lx->pos;
    int c = next(lx);
    switch (c) {
    case LEX_EOF:
        lex_error(lx, tok, start, "unexpected end of input in duration expression");
        return 1;
    case ']':
        emit(lx, tok, PT_RIGHT_BRACKET, start);
        lx->bracket_open = 0;
        lx->got_colon = 0;
        lx->state = PL_STATEMENTS;
        return 1;
    case ':':
        emit(lx, tok, PT_COLON, start);
        if (!lx->got_duration) {
            lex_error(lx, tok, lx->pos, "unexpected colon before duration in duration expression");
        } else if (lx->got_colon) {
            lex_error(lx, tok, lx->pos, "unexpected repeated colon in duration expression");
        }
        lx->got_colon = 1;
        return 1;
    case '(':
        emit(lx, tok, PT_LEFT_PAREN, start);
        lx->paren_depth++;
        return 1;
    case ')':
        emit(lx, tok, PT_RIGHT_PAREN, start);
        if (--lx->paren_depth < 0)
            lex_error(lx, tok, lx->pos, "unexpected right parenthesis ')'");
        return 1;
    case '+':
        emit(lx, tok, PT_ADD, start);
        return 1;
    case '-':
        emit(lx, tok, PT_SUB, start);
        return 1;
    case '*':
        emit(lx, tok, PT_MUL, start);
        return 1;
    case '/':
        emit(lx, tok, PT_DIV, start);
        return 1;
    case '%':
        emit(lx, tok, PT_MOD, start);
        return 1;
    case '^':
        emit(lx, tok, PT_POW, start);
        return 1;
    case ',':
        emit(lx, tok, PT_COMMA, start);
        return 1;
    default:
        break;
    }
    if (is_space(c))
        return 0;
    if (is_duration_keyword_start(c)) {
        if (scan_duration_keyword(lx, tok, start))
            return 1;
        quote_rune(lx, start, q, sizeof(q));
        lex_error(lx, tok, start, "unexpected character in duration expression: %s", q);
        return 1;
    }
    if (is_digit(c) || (c == '.' && is_digit(peek(lx)))) {
        lx->pos = start;
        lx->got_duration = 1;
        lex_number_or_duration(lx, tok, start);
        if (tok->type != PT_ERROR)
            lx->state = PL_STATEMENTS;
        return 1;
    }
    quote_rune(lx, start, q, sizeof(q));
    lex_error(lx, tok, start, "unexpected character in duration expression: %s", q);
    return 1;
}

static int lex_statements(struct promql_lexer *lx, struct promql_token *tok)
{
    char q[16];
    size_t start = lx->pos;
    int c = next(lx);
    switch (c) {
    case LEX_EOF:
        if (lx->paren_depth != 0) {
            lex_error(lx, tok, start, "unclosed left parenthesis");
        } else if (lx->bracket_open) {
            lex_error(lx, tok, start, "unclosed left bracket");
        } else {
            emit(lx, tok, PT_EOF, start);
            lx->state = PL_DONE;
        }
        return 1;
    case '#':
        skip_comment(lx);
        return 0;
    case ',':
        emit(lx, tok, PT_COMMA, start);
        return 1;
    case '*':
        emit(lx, tok, PT_MUL, start);
        return 1;
    case '/':
        emit(lx, tok, PT_DIV, start);
        return 1;
    case '%':
        emit(lx, tok, PT_MOD, start);
        return 1;
    case '+':
        emit(lx, tok, PT_ADD, start);
        return 1;
    case '-':
        emit(lx, tok, PT_SUB, start);
        return 1;
    case '^':
        emit(lx, tok, PT_POW, start);
        return 1;
    case '@':
        emit(lx, tok, PT_AT, start);
        return 1;
    case '=':
        if (peek(lx) == '=') {
            lx->pos++;
            emit(lx, tok, PT_EQLC, start);
        } else if (peek(lx) == '~') {
            lex_error(lx, tok, start, "unexpected character after '=': '~'");
        } else {
            emit(lx, tok, PT_EQL, start);
        }
        return 1;
    case '!':
        if (peek(lx) == '=') {
            lx->pos++;
            emit(lx, tok, PT_NEQ, start);
        } else {
            quote_rune(lx, lx->pos, q, sizeof(q));
            lex_error(lx, tok, start, "unexpected character after '!': %s", q);
        }
        return 1;
    case '<':
        emit(lx, tok, accept(lx, "=") ? PT_LTE : PT_LSS, start);
        return 1;
    case '>':
        emit(lx, tok, accept(lx, "=") ? PT_GTE : PT_GTR, start);
        return 1;
    case '"':
    case '\'':
        lex_string(lx, tok, start, c);
        return 1;
    case '`':
        lex_raw_string(lx, tok, start);
        return 1;
    case '(':
        emit(lx, tok, PT_LEFT_PAREN, start);
        lx->paren_depth++;
        return 1;
    case ')':
        emit(lx, tok, PT_RIGHT_PAREN, start);
        if (--lx->paren_depth < 0)
            lex_error(lx, tok, lx->pos, "unexpected right parenthesis ')'");
        return 1;
    case '{':
        emit(lx, tok, PT_LEFT_BRACE, start);
        lx->state = PL_BRACES;
        return 1;
    case '[':
        if (lx->bracket_open) {
            lex_error(lx, tok, start, "unexpected left bracket '['");
            return 1;
        }
        lx->got_colon = 0;
        emit(lx, tok, PT_LEFT_BRACKET, start);
        lx->bracket_open = 1;
        lx->state = PL_DURATION;
        return 1;
    case ']':
        if (!lx->bracket_open) {
            lex_error(lx, tok, start, "unexpected right bracket ']'");
            return 1;
        }
        emit(lx, tok, PT_RIGHT_BRACKET, start);
        lx->bracket_open = 0;
        return 1;
    default:
        break;
    }
    if (is_space(c))
        return 0;
    if (is_digit(c) || (c == '.' && is_digit(peek(lx)))) {
        lx->pos = start;
        lex_number_or_duration(lx, tok, start);
        return 1;
    }
    if (is_alpha(c) || c == ':') {
        if (!lx->bracket_open) {
            lex_keyword_or_identifier(lx, tok, start);
            return 1;
        }
        if (c == ':') {
            if (lx->got_colon) {
                lex_error(lx, tok, start, "unexpected colon ':'");
                return 1;
            }
            emit(lx, tok, PT_COLON, start);
            lx->got_colon = 1;
            return 1;
        }
        if (is_duration_keyword_start(c) && scan_duration_keyword(lx, tok, start))
            return 1;
        quote_rune(lx, start, q, sizeof(q));
        lex_error(lx, tok, start, "unexpected character: %s, expected ':'", q);
        return 1;
    }
    quote_rune(lx, start, q, sizeof(q));
    lex_error(lx, tok, start, "unexpected character: %s", q);
    return 1;
}

void promql_lexer_next(struct promql_lexer *lx, struct promql_token *tok)
{
    for (;;) {
        int done;
        switch (lx->state) {
        case PL_STATEMENTS:
            done = lex_statements(lx, tok);
            break;
        case PL_BRACES:
            done = lex_inside_braces(lx, tok);
            break;
        case PL_DURATION:
            done = lex_duration_expr(lx, tok);
            break;
        default:
            tok->type = PT_EOF;
            tok->pos = (uint32_t)lx->len;
            tok->len = 0;
            return;
        }
        if (done)
            return;
    }
}

/* ---- value conversions ------------------------------------------------------------ */

static size_t utf8_encode(uint32_t r, char *out)
{
    if (r < 0x80) {
        out[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        out[0] = (char)(0xC0 | (r >> 6));
        out[1] = (char)(0x80 | (r & 0x3F));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = (char)(0xE0 | (r >> 12));
        out[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        out[2] = (char)(0x80 | (r & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (r >> 18));
    out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((r >> 6) & 0x3F));
    out[3] = (char)(0x80 | (r & 0x3F));
    return 4;
}

int promql_unquote(const char *s, size_t n, char *out, size_t *outlen)
{
    if (n < 2 || s[0] != s[n - 1])
        return TT_ESYNTAX;
    char quote = s[0];
    s++;
    n -= 2;
    if (quote == '`') {
        if (memchr(s, '`', n))
            return TT_ESYNTAX;
        memcpy(out, s, n);
        *outlen = n;
        return 0;
    }
    if (quote != '"' && quote != '\'')
        return TT_ESYNTAX;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '\n' || c == quote)
            return TT_ESYNTAX;
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        if (++i >= n)
            return TT_ESYNTAX;
        c = s[i++];
        int digits = 0, base = 16;
        int byte_value = 0;
        switch (c) {
        case 'a':
            out[o++] = '\a';
            continue;
        case 'b':
            out[o++] = '\b';
            continue;
        case 'f':
            out[o++] = '\f';
            continue;
        case 'n':
            out[o++] = '\n';
            continue;
        case 'r':
            out[o++] = '\r';
            continue;
        case 't':
            out[o++] = '\t';
            continue;
        case 'v':
            out[o++] = '\v';
            continue;
        case '\\':
            out[o++] = '\\';
            continue;
        case 'x':
            digits = 2, byte_value = 1;
            break;
        case 'u':
            digits = 4;
            break;
        case 'U':
            digits = 8;
            break;
        default:
            if (c == quote) {
                out[o++] = c;
                continue;
            }
            if (c >= '0' && c <= '7') {
                i--;
                digits = 3, base = 8, byte_value = 1;
                break;
            }
            return TT_ESYNTAX;
        }
        uint32_t x = 0;
        for (int k = 0; k < digits; k++, i++) {
            if (i >= n)
                return TT_ESYNTAX;
            int d = digit_val((unsigned char)s[i]);
            if (d >= base)
                return TT_ESYNTAX;
            x = x * (uint32_t)base + (uint32_t)d;
        }
        if (byte_value) {
            if (x > 255)
                return TT_ESYNTAX;
            out[o++] = (char)x;
        } else {
            if (x > 0x10FFFF || (x >= 0xD800 && x < 0xE000))
                return TT_ESYNTAX;
            o += utf8_encode(x, out + o);
        }
    }
    *outlen = o;
    return 0;
}

int promql_parse_duration(const char *s, size_t n, int64_t *ms, char *err, size_t errlen)
{
    static const struct {
        const char *unit;
        uint64_t mult_ns;
    } units[] = {
        { "y", 365ULL * 24 * 3600 * 1000000000ULL },
        { "w", 7ULL * 24 * 3600 * 1000000000ULL },
        { "d", 24ULL * 3600 * 1000000000ULL },
        { "h", 3600ULL * 1000000000ULL },
        { "m", 60ULL * 1000000000ULL },
        { "s", 1000000000ULL },
        { "ms", 1000000ULL },
    };
    if (errlen)
        err[0] = 0;
    if (n == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    if (n == 0) {
        if (errlen)
            snprintf(err, errlen, "empty duration string");
        return TT_ESYNTAX;
    }
    uint64_t dur = 0;
    size_t last = 0; /* 1 + index of the last unit used */
    size_t i = 0;
    while (i < n) {
        if (!is_digit((unsigned char)s[i]))
            goto invalid;
        uint64_t v = 0;
        int overflow = 0;
        for (; i < n && is_digit((unsigned char)s[i]); i++) {
            uint64_t d = (uint64_t)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                overflow = 1;
            else
                v = v * 10 + d;
        }
        if (overflow)
            goto invalid;
        size_t u0 = i;
        for (; i < n && !is_digit((unsigned char)s[i]); i++)
            ;
        if (i == u0)
            goto invalid;
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
            if (strlen(units[k].unit) == i - u0 && memcmp(units[k].unit, s + u0, i - u0) == 0)
                break;
        if (k == sizeof(units) / sizeof(units[0])) {
            if (errlen)
                snprintf(err, errlen, "unknown unit \"%.*s\" in duration \"%.*s\"", (int)(i - u0),
                         s + u0, (int)n, s);
            return TT_ESYNTAX;
        }
        if (k + 1 <= last)
            goto invalid;
        last = k + 1;
        if (v > (UINT64_MAX >> 1) / units[k].mult_ns)
            goto range;
        dur += v * units[k].mult_ns;
        if (dur > (uint64_t)INT64_MAX)
            goto range;
    }
    *ms = (int64_t)(dur / 1000000ULL);
    return 0;
invalid:
    if (errlen)
        snprintf(err, errlen, "not a valid duration string: \"%.*s\"", (int)n, s);
    return TT_ESYNTAX;
range:
    if (errlen)
        snprintf(err, errlen, "duration out of range");
    return TT_ERANGE;
}

/* underscore_ok: Go's rule for '_' in number literals (only between digits,
 * or between a base prefix and a digit). */
static int underscore_ok(const char *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    int hex = 0;
    if (n >= 2 && s[0] == '0' &&
        (lower((unsigned char)s[1]) == 'x' || lower((unsigned char)s[1]) == 'b' ||
         lower((unsigned char)s[1]) == 'o')) {
        i = 2;
        saw = '0';
        hex = lower((unsigned char)s[1]) == 'x';
    }
    for (; i < n; i++) {
        int c = (unsigned char)s[i];
        if (is_digit(c) || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0')
                return 0;
            saw = '_';
            continue;
        }
        if (saw == '_')
            return 0;
        saw = '!';
    }
    return saw != '_';
}

int promql_parse_number(const char *s, size_t n, double *v, char *err, size_t errlen)
{
    char buf[128];
    const char *why = "invalid syntax";
    int rc = TT_ESYNTAX;
    if (errlen)
        err[0] = 0;
    if (n == 0)
        goto fail;
    int has_us = memchr(s, '_', n) != NULL;
    if (has_us && !underscore_ok(s, n))
        goto fail;
    /* Copy without underscores (they only separate digits). */
    char *big = NULL;
    char *d = n < sizeof(buf) ? buf : (big = malloc(n + 1));
    if (!d)
        return TT_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            d[m++] = s[i];
    d[m] = 0;

    /* Integers first, as ParseInt(s, 0, 64) would: 0x.., 0.. (octal), decimal. */
    int base = 10;
    size_t off = 0;
    if (m >= 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))
        base = 16, off = 2;
    else if (m >= 2 && d[0] == '0')
        base = 8, off = 1;
    if (m > off) {
        int all = 1;
        for (size_t i = off; i < m; i++)
            if (digit_val((unsigned char)d[i]) >= base)
                all = 0;
        if (all) {
            errno = 0;
            char *end = NULL;
            unsigned long long u = strtoull(d + off, &end, base);
            if (errno == 0 && end == d + m && u <= (unsigned long long)INT64_MAX) {
                *v = (double)(int64_t)u;
                free(big);
                return 0;
            }
        }
    }
    if (base == 16) {
        /* Go's ParseFloat wants a 'p' exponent in a hex mantissa. */
        free(big);
        goto fail;
    }
    for (size_t i = 0; i < m; i++) {
        char c = d[i];
        if (!(is_digit((unsigned char)c) || c == '.' || c == 'e' || c == 'E' || c == '+' ||
              c == '-' || is_alpha((unsigned char)c))) {
            free(big);
            goto fail;
        }
    }
    if (word_eq(d, m, "inf") || word_eq(d, m, "infinity")) {
        *v = INFINITY;
        free(big);
        return 0;
    }
    if (word_eq(d, m, "nan")) {
        *v = NAN;
        free(big);
        return 0;
    }
    for (size_t i = 0; i < m; i++) {
        if (is_alpha((unsigned char)d[i]) && d[i] != 'e' && d[i] != 'E') {
            free(big);
            goto fail;
        }
    }
    errno = 0;
    char *end = NULL;
    double f = strtod(d, &end);
    int ok = end == d + m;
    int erange = errno == ERANGE && isinf(f);
    free(big);
    if (!ok)
        goto fail;
    if (erange) {
        why = "value out of range";
        rc = TT_ERANGE;
        goto fail;
    }
    *v = f;
    return 0;
fail:
    if (errlen)
        snprintf(err, errlen, "strconv.ParseFloat: parsing \"%.*s\": %s", (int)n, s, why);
    return rc;
}
