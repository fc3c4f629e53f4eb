/*
 * parser_int.h - state and helpers shared by the PromQL parser's files
 * (parser.c: tokens, errors, expressions, type check; parser_duration.c:
 * numbers, durations, duration expressions, ranges and offsets). Not a
 * public interface: only those two files include it.
 *
 * Invariants (kept by every helper): the first error wins (parser_fail
 * ignores later ones) and a helper that fails returns NULL or -1 with
 * p->failed set; all memory comes from p->arena.
 */
#ifndef TT_PROMQL_PARSER_INT_H
#define TT_PROMQL_PARSER_INT_H

#include <stddef.h>
#include <stdint.h>
#include "query/promql/ast.h"
#include "query/promql/lexer.h"

struct parser {
    struct promql_lexer lx;
    const char *in;
    size_t len;
    struct promql_token tok; /* lookahead, valid when have_tok */
    int have_tok;
    uint32_t last_end; /* end offset of the last consumed token */
    struct promql_arena *arena;
    struct promql_error *err;
    int failed; /* 0 or the TT_E* code of the first error */
    int depth;  /* recursion depth of the parse functions */
    int experimental;
};

/* ---- parser.c ---- */

/* parser_fail records a syntax error at byte pos (first error wins);
 * always returns NULL so callers can `return parser_fail(...)`. */
void *parser_fail(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* parser_alloc: n zeroed bytes from the arena, or NULL (TT_ENOMEM recorded). */
void *parser_alloc(struct parser *p, size_t n);
/* parser_peek_tok / parser_peek: the lookahead token (not consumed); a lexer
 * error is recorded and shows as PT_ERROR. */
struct promql_token *parser_peek_tok(struct parser *p);
enum promql_tok parser_peek(struct parser *p);
/* parser_advance consumes and returns the lookahead (EOF/ERROR stay). */
struct promql_token parser_advance(struct parser *p);
/* parser_unexpected reports the lookahead as Prometheus's "unexpected X in
 * <context>, expected <expected>" (either may be NULL); returns NULL. */
void *parser_unexpected(struct parser *p, const char *context, const char *expected);
/* parser_enter counts one level of recursion (caller decrements p->depth
 * when done); -1 past PROMQL_MAX_DEPTH, with the error recorded. */
int parser_enter(struct parser *p, size_t pos);

/* ---- parser_duration.c ---- */

/* parser_number_value: the value of a PT_NUMBER or PT_DURATION token (a
 * duration in seconds); -1 with the error recorded. */
int parser_number_value(struct parser *p, const struct promql_token *t, double *v);
/* parser_range parses the range or step inside [...] up to (not including)
 * ':' or ']'. Without experimental mode only a signed number or duration is
 * accepted (> 0); with it, a duration expression, stored in *expr unless it
 * is a plain number (*expr NULL), and *ms is 0 for a dynamic one. */
int parser_range(struct parser *p, const char *context, const char *expected, int64_t *ms,
                 struct promql_dur_expr **expr);
/* parser_mods_of: the offset/@ modifiers of a selector or subquery, NULL for
 * any other node. */
struct promql_time_mods *parser_mods_of(struct promql_expr *e);
/* parser_offset parses `offset <duration>` (lookahead is the keyword) onto e;
 * returns e or NULL on error. */
struct promql_expr *parser_offset(struct parser *p, struct promql_expr *e);

#endif
