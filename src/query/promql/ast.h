/*
 * ast.h - the PromQL syntax tree: node kinds, the arena they live in, and the
 * printer that turns a tree back into PromQL text the way Prometheus's
 * String() methods do (so a printed tree parses back to the same tree).
 *
 * Invariants:
 *  - Every node, string and array of one parse lives in one arena and is
 *    freed at once by promql_ast_free; nothing in a tree is freed alone.
 *  - Every node carries its result type (scalar, instant vector, range vector,
 *    string), filled in by the parser, and its byte range in the input.
 *  - Durations (ranges, steps, offsets) are int64 milliseconds; @ timestamps
 *    are int64 milliseconds since the epoch.
 *  - Strings (label names and values, string literals) are unquoted, NUL
 *    terminated, and carry their length (a value may contain a NUL byte).
 *  - A vector selector's matchers include the metric name as a __name__
 *    equality matcher (first in the list) when the selector names one, so the
 *    engine only ever looks at matchers; `name` is kept for printing.
 *  - The offset and @ modifiers of a range vector selector are stored on its
 *    inner vector selector, as Prometheus does.
 */
#ifndef TT_PROMQL_AST_H
#define TT_PROMQL_AST_H

#include <stddef.h>
#include <stdint.h>

struct wbuf;

/* ---- arena ---------------------------------------------------------------- */

struct promql_arena_chunk;

/* promql_arena: a bump allocator; allocations are zeroed and 16-byte aligned. */
struct promql_arena {
    struct promql_arena_chunk *head;
};

/* promql_arena_alloc returns n zeroed bytes owned by the arena, or NULL when
 * out of memory (or n is absurdly large). */
void *promql_arena_alloc(struct promql_arena *a, size_t n);
/* promql_arena_alloc_raw is promql_arena_alloc without the zeroing, for
 * memory the caller fills completely. */
void *promql_arena_alloc_raw(struct promql_arena *a, size_t n);
/* promql_arena_reset invalidates every allocation but keeps (up to 64 MiB
 * of) the memory for the next ones: for arenas refilled in rounds, like the
 * engine's per-step arena. */
void promql_arena_reset(struct promql_arena *a);
/* promql_arena_release frees every allocation; the arena may be reused. */
void promql_arena_release(struct promql_arena *a);

/* ---- types ------------------------------------------------------------------ */

/* The value types of PromQL expressions. */
enum promql_type {
    PROMQL_TYPE_NONE = 0,
    PROMQL_TYPE_SCALAR,
    PROMQL_TYPE_VECTOR, /* instant vector */
    PROMQL_TYPE_MATRIX, /* range vector */
    PROMQL_TYPE_STRING,
};

/* promql_type_name: "scalar", "instant vector", "range vector", "string" or
 * "none" (Prometheus's DocumentedType; static string). */
const char *promql_type_name(enum promql_type t);
/* promql_type_short_name: "scalar", "vector", "matrix", "string", "none"
 * (Prometheus's ValueType strings; static string). */
const char *promql_type_short_name(enum promql_type t);

struct promql_str {
    char *ptr; /* NUL terminated, in the arena; never NULL in a parsed tree */
    size_t len;
};

enum promql_match_op {
    PROMQL_MATCH_EQ = 0, /* =  */
    PROMQL_MATCH_NEQ,    /* != */
    PROMQL_MATCH_RE,     /* =~ (fully anchored, as in Prometheus) */
    PROMQL_MATCH_NRE,    /* !~ */
};

struct promql_matcher {
    enum promql_match_op op;
    struct promql_str name;
    struct promql_str value;
    /* 1 when the matcher matches the empty string, i.e. also selects series
     * without the label (filled by the parser; regexes fully anchored). */
    int8_t matches_empty;
};

/* Binary operators, in no particular order. */
enum promql_binop {
    PROMQL_ADD = 0,
    PROMQL_SUB,
    PROMQL_MUL,
    PROMQL_DIV,
    PROMQL_MOD,
    PROMQL_POW,
    PROMQL_ATAN2,
    PROMQL_EQLC, /* == */
    PROMQL_NEQ,  /* != */
    PROMQL_GTR,  /* >  */
    PROMQL_LSS,  /* <  */
    PROMQL_GTE,  /* >= */
    PROMQL_LTE,  /* <= */
    PROMQL_AND,
    PROMQL_OR,
    PROMQL_UNLESS,
};

/* promql_binop_str: the operator as written ("+", "==", "and", "atan2"). */
const char *promql_binop_str(enum promql_binop op);
/* 1 for == != > < >= <=. */
int promql_binop_is_comparison(enum promql_binop op);
/* 1 for and, or, unless. */
int promql_binop_is_set(enum promql_binop op);

enum promql_aggop {
    PROMQL_AGG_SUM = 0,
    PROMQL_AGG_AVG,
    PROMQL_AGG_COUNT,
    PROMQL_AGG_MIN,
    PROMQL_AGG_MAX,
    PROMQL_AGG_GROUP,
    PROMQL_AGG_STDDEV,
    PROMQL_AGG_STDVAR,
    PROMQL_AGG_TOPK,         /* param: scalar k */
    PROMQL_AGG_BOTTOMK,      /* param: scalar k */
    PROMQL_AGG_QUANTILE,     /* param: scalar phi */
    PROMQL_AGG_COUNT_VALUES, /* param: string, the output label name */
    PROMQL_AGG_LIMITK,       /* param: scalar k (experimental) */
    PROMQL_AGG_LIMIT_RATIO,  /* param: scalar ratio in [-1, 1] (experimental) */
};

/* promql_aggop_str: "sum", "count_values", ... */
const char *promql_aggop_str(enum promql_aggop op);
/* 1 when the aggregation takes a parameter before its expression. */
int promql_aggop_has_param(enum promql_aggop op);

/* How the two sides of a vector/vector binary expression are matched. */
enum promql_card {
    PROMQL_CARD_ONE_TO_ONE = 0,
    PROMQL_CARD_MANY_TO_ONE,  /* group_left */
    PROMQL_CARD_ONE_TO_MANY,  /* group_right */
    PROMQL_CARD_MANY_TO_MANY, /* set operators */
};

struct promql_vector_matching {
    enum promql_card card;
    int on;                    /* 1: on(labels); 0: ignoring(labels) */
    struct promql_str *labels; /* the on/ignoring list */
    size_t nlabels;
    struct promql_str *include; /* group_left/group_right extra labels */
    size_t ninclude;
    /* Experimental fill modifiers: fill(v) sets both, fill_left(v) and
     * fill_right(v) one side each. A side with no match on the other side
     * is paired with a synthetic series of that value. With group_right the
     * evaluator swaps the sides and the fill values stay with their
     * positions after the swap, as Prometheus does. */
    int has_fill_left, has_fill_right;
    double fill_left, fill_right;
};

/* The @ modifier. */
enum promql_at {
    PROMQL_AT_NONE = 0,
    PROMQL_AT_TIMESTAMP, /* @ <at_ms> */
    PROMQL_AT_START,     /* @ start() */
    PROMQL_AT_END,       /* @ end() */
};

/* Duration expressions (Prometheus's experimental promql-duration-expr):
 * `[5m+1m]`, `[step()*2]`, `offset min_of(range(), 1h)`. Values are float
 * seconds; a plain number is seconds. Kept for printing and, when dynamic
 * (step() or range() inside), evaluated by the engine per query. */
enum promql_dur_op {
    PROMQL_DUR_NUMBER = 0, /* value */
    PROMQL_DUR_STEP,       /* step(): the query's step (0 for an instant query) */
    PROMQL_DUR_RANGE,      /* range(): end - start of the query */
    PROMQL_DUR_MIN_OF,     /* min_of(lhs, rhs) */
    PROMQL_DUR_MAX_OF,     /* max_of(lhs, rhs) */
    PROMQL_DUR_NEG,        /* -lhs */
    PROMQL_DUR_POS,        /* +lhs */
    PROMQL_DUR_PAREN,      /* (lhs) as written */
    PROMQL_DUR_BINARY,     /* lhs binop rhs: + - * / % ^ */
};

struct promql_dur_expr {
    enum promql_dur_op op;
    enum promql_binop binop; /* PROMQL_DUR_BINARY */
    double value;            /* PROMQL_DUR_NUMBER, in seconds */
    int is_duration;         /* NUMBER written as a duration: printed as one */
    int dynamic;             /* 1 when step() or range() occurs in the subtree */
    struct promql_dur_expr *lhs, *rhs;
};

/* promql_dur_eval evaluates d with the query's step and range (ms) into
 * *seconds. Returns 0, or TT_EINVAL for a division or modulo by zero. */
int promql_dur_eval(const struct promql_dur_expr *d, int64_t step_ms, int64_t range_ms,
                    double *seconds);

/* promql_dur_ms evaluates d (as promql_dur_eval) and rounds to milliseconds,
 * saturating at the int64 range. Returns 0 or TT_EINVAL. */
int promql_dur_ms(const struct promql_dur_expr *d, int64_t step_ms, int64_t range_ms, int64_t *ms);

/* Time modifiers of a vector selector or subquery. */
struct promql_time_mods {
    int64_t offset_ms; /* may be negative; 0 = none */
    /* The offset as a duration expression, or NULL when written as a plain
     * (signed) number. When offset_expr->dynamic, offset_ms is 0 and the
     * engine evaluates the expression. */
    struct promql_dur_expr *offset_expr;
    enum promql_at at;
    int64_t at_ms; /* when at == PROMQL_AT_TIMESTAMP */
};

enum promql_kind {
    PROMQL_NUMBER = 0,
    PROMQL_STRING,
    PROMQL_VECTOR_SELECTOR,
    PROMQL_MATRIX_SELECTOR,
    PROMQL_SUBQUERY,
    PROMQL_CALL,
    PROMQL_AGGREGATE,
    PROMQL_BINARY,
    PROMQL_UNARY,
    PROMQL_PAREN,
};

struct promql_function;
struct promql_expr;

struct promql_number {
    double value;
    int is_duration; /* written as a duration ("5m" = 300): printed as one */
};

struct promql_vector_selector {
    struct promql_str name; /* metric name as written before '{', or empty */
    struct promql_matcher *matchers;
    size_t nmatchers;
    struct promql_time_mods mods;
    /* Experimental extended range selectors (Prometheus 3.x `anchored` /
     * `smoothed`, at most one set): the window's edges take the last
     * sample at or before them (anchored) or interpolate (smoothed). */
    uint8_t anchored;
    uint8_t smoothed;
};

struct promql_matrix_selector {
    struct promql_expr *vs; /* kind PROMQL_VECTOR_SELECTOR; holds offset/@ */
    int64_t range_ms;       /* > 0, except 0 when range_expr->dynamic */
    /* The range as a duration expression, or NULL when a plain number. */
    struct promql_dur_expr *range_expr;
};

struct promql_subquery {
    struct promql_expr *expr; /* an instant vector expression */
    int64_t range_ms;         /* > 0, except 0 when range_expr->dynamic */
    int64_t step_ms;          /* 0 = the query's default resolution */
    /* Range and step as duration expressions, or NULL when plain numbers
     * (or no step); a dynamic one leaves its _ms field 0 for the engine. */
    struct promql_dur_expr *range_expr, *step_expr;
    struct promql_time_mods mods;
};

struct promql_call {
    const struct promql_function *func;
    struct promql_expr **args;
    size_t nargs;
};

struct promql_aggregate {
    enum promql_aggop op;
    struct promql_expr *expr;
    struct promql_expr *param; /* NULL unless promql_aggop_has_param */
    struct promql_str *grouping;
    size_t ngrouping;
    int without; /* 1: without(grouping); 0: by(grouping) (empty: no grouping) */
};

struct promql_binary {
    enum promql_binop op;
    struct promql_expr *lhs, *rhs;
    int return_bool; /* the bool modifier of comparisons */
    /* NULL unless both sides are instant vectors (then never NULL). */
    struct promql_vector_matching *matching;
};

struct promql_unary {
    int negate; /* 1: unary minus; 0: unary plus */
    struct promql_expr *expr;
};

struct promql_expr {
    enum promql_kind kind;
    enum promql_type type; /* the value type this expression evaluates to */
    uint32_t pos, end;     /* byte range [pos, end) in the parsed input */
    uint32_t height;       /* 1 + height of the tallest child (<= PROMQL_MAX_DEPTH) */
    union {
        struct promql_number number;
        struct promql_str string; /* PROMQL_STRING */
        struct promql_vector_selector vs;
        struct promql_matrix_selector ms;
        struct promql_subquery sq;
        struct promql_call call;
        struct promql_aggregate agg;
        struct promql_binary bin;
        struct promql_unary unary;
        struct promql_expr *paren; /* PROMQL_PAREN: the inner expression */
    } u;
};

/* A parsed expression and the arena that owns it. */
struct promql_ast {
    struct promql_expr *root;
    struct promql_arena arena;
};

/* promql_ast_free frees the tree and everything it points to; NULL is fine. */
void promql_ast_free(struct promql_ast *ast);

/* ---- printing ---------------------------------------------------------------- */

/* promql_print appends e as PromQL text to out, formatted as Prometheus prints
 * it: `sum by (job) (rate(x{a="b"}[5m] offset 1m))`, `a + on (b) group_left () c`,
 * matchers sorted, numbers in shortest form, durations as "1h30m". Returns 0
 * or out's sticky error (TT_ENOMEM, TT_ETOOBIG). Recursion depth is that of
 * the tree, which the parser caps. */
int promql_print(const struct promql_expr *e, struct wbuf *out);

/* promql_format_duration writes ms as a Prometheus duration ("0s", "1h30m",
 * "1y2w", "15ms"; negative values get a leading '-') into buf (size n,
 * always NUL terminated when n > 0) and returns the length it needed. */
size_t promql_format_duration(int64_t ms, char *buf, size_t n);

/* promql_quote appends s[0..n) as Go's strconv.Quote would: double quotes,
 * \" \\ \n \t ... escapes, \xNN for bytes that are not valid UTF-8 or are
 * control characters, valid UTF-8 kept as is. Returns out's sticky error. */
int promql_quote(struct wbuf *out, const char *s, size_t n);

/* promql_label_name_is_legacy: 1 when s matches [a-zA-Z_][a-zA-Z0-9_]*
 * (printed bare; anything else is printed quoted). */
int promql_label_name_is_legacy(const char *s, size_t n);

/* promql_format_float writes v the way Go's strconv.FormatFloat(v, 'f', -1,
 * 64) does (shortest round-trip digits, never an exponent; "+Inf", "-Inf",
 * "NaN") and returns the length it needed; buf of 400 bytes always suffices. */
size_t promql_format_float(double v, char *buf, size_t n);

#endif
