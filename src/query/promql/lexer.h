/*
 * lexer.h - the PromQL lexer: turns query text into tokens on demand, with
 * the states Prometheus's lexer has (inside braces, inside a [range] or
 * [range:step], paren depth) so the same inputs give the same tokens and the
 * same lexical errors ("unclosed left parenthesis", "unexpected character
 * inside braces: ':'", "bad number or duration syntax: \"5mm\"", ...).
 *
 * Invariants: the lexer never allocates and never reads past the input; a
 * token is a byte range of the input; after an ERROR or EOF token every
 * later call returns EOF. Keywords are case-insensitive; "inf" and "nan" (any
 * case) are NUMBER tokens; comments (# to end of line) are skipped.
 */
#ifndef TT_PROMQL_LEXER_H
#define TT_PROMQL_LEXER_H

#include <stddef.h>
#include <stdint.h>

enum promql_tok {
    PT_EOF = 0,
    PT_ERROR, /* lexical error: message in lexer->errmsg, position tok.pos */
    PT_IDENTIFIER,
    PT_METRIC_IDENTIFIER, /* an identifier with a ':' */
    PT_NUMBER,
    PT_DURATION,
    PT_STRING, /* text includes the quotes; see promql_unquote */
    PT_LEFT_PAREN,
    PT_RIGHT_PAREN,
    PT_LEFT_BRACE,
    PT_RIGHT_BRACE,
    PT_LEFT_BRACKET,
    PT_RIGHT_BRACKET,
    PT_COMMA,
    PT_EQL, /* = */
    PT_COLON,
    /* operators */
    PT_OPS_START,
    PT_ADD,
    PT_SUB,
    PT_MUL,
    PT_DIV,
    PT_MOD,
    PT_POW,
    PT_EQLC,
    PT_NEQ,
    PT_LSS,
    PT_LTE,
    PT_GTR,
    PT_GTE,
    PT_EQL_REGEX,
    PT_NEQ_REGEX,
    PT_AT,
    PT_LAND,
    PT_LOR,
    PT_LUNLESS,
    PT_ATAN2,
    PT_OPS_END,
    /* aggregators */
    PT_AGGS_START,
    PT_SUM,
    PT_AVG,
    PT_COUNT,
    PT_MIN,
    PT_MAX,
    PT_GROUP,
    PT_STDDEV,
    PT_STDVAR,
    PT_TOPK,
    PT_BOTTOMK,
    PT_QUANTILE,
    PT_COUNT_VALUES,
    PT_LIMITK,
    PT_LIMIT_RATIO,
    PT_AGGS_END,
    /* keywords */
    PT_KEYWORDS_START,
    PT_BOOL,
    PT_BY,
    PT_GROUP_LEFT,
    PT_GROUP_RIGHT,
    PT_IGNORING,
    PT_OFFSET,
    PT_ON,
    PT_WITHOUT,
    PT_ANCHORED,
    PT_SMOOTHED,
    PT_FILL, /* fill, fill_left, fill_right: keywords only before '(' */
    PT_FILL_LEFT,
    PT_FILL_RIGHT,
    PT_KEYWORDS_END,
    /* words that are special only in some places */
    PT_START,
    PT_END,
    PT_STEP,
    PT_RANGE,
    PT_MAX_OF,
    PT_MIN_OF,
};

struct promql_token {
    enum promql_tok type;
    uint32_t pos; /* byte offset in the input */
    uint32_t len; /* bytes of text */
};

enum promql_lex_state {
    PL_STATEMENTS = 0,
    PL_BRACES,
    PL_DURATION,
    PL_DONE,
};

struct promql_lexer {
    const char *in;
    size_t len;
    size_t pos;
    int paren_depth;
    int bracket_open, got_colon, got_duration;
    enum promql_lex_state state;
    char errmsg[160]; /* message of the last PT_ERROR token */
};

/* promql_lexer_init starts lexing in[0..len); in must outlive the lexer.
 * Inputs longer than UINT32_MAX bytes are the caller's to refuse. */
void promql_lexer_init(struct promql_lexer *lx, const char *in, size_t len);

/* promql_lexer_next scans the next token into *tok (comments skipped). */
void promql_lexer_next(struct promql_lexer *lx, struct promql_token *tok);

/* promql_tok_is_keyword / _operator / _aggregator: Prometheus's token classes. */
int promql_tok_is_operator(enum promql_tok t);
int promql_tok_is_aggregator(enum promql_tok t);
int promql_tok_is_keyword(enum promql_tok t);

/* promql_unquote decodes a STRING token's text s[0..n) (with its quotes:
 * "...", '...' with Go escapes, or `...` raw) into out, which must hold n
 * bytes; *outlen gets the length (out is not NUL terminated). Returns 0, or
 * TT_ESYNTAX for a malformed string (the lexer never lets one through). */
int promql_unquote(const char *s, size_t n, char *out, size_t *outlen);

/* promql_parse_duration parses a Prometheus duration ("5m", "1h30m", "2d",
 * "1y2w", "250ms", "0") as model.ParseDuration does: units y w d h m s ms,
 * each at most once, largest first. On success stores milliseconds in *ms and
 * returns 0; otherwise returns TT_ESYNTAX ("not a valid duration string:
 * \"x\"", "unknown unit \"u\" in duration \"x\"", "empty duration string") or
 * TT_ERANGE ("duration out of range") with the message in err (errlen bytes,
 * may be 0). */
int promql_parse_duration(const char *s, size_t n, int64_t *ms, char *err, size_t errlen);

/* promql_parse_number converts a NUMBER token's text as Prometheus does
 * (integers in Go's base-0 syntax: 0x1F, 0755, 0b101, 0o17, with _ between
 * digits; otherwise a float: 1.5e3, .5, Inf, NaN). Returns 0 or TT_ESYNTAX /
 * TT_ERANGE with Go's strconv message in err. */
int promql_parse_number(const char *s, size_t n, double *v, char *err, size_t errlen);

#endif
