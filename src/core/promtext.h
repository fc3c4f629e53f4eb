/*
 * promtext.h - a streaming parser for the Prometheus text exposition format
 * 0.0.4, shared by the server's POST /api/v1/import/prometheus and the
 * agent's Prometheus scraper. Syntax and error rules: docs/design/promtext.md.
 *
 * The caller feeds the body in chunks of any size (an HTTP upload arrives in
 * pieces; lines may straddle chunk boundaries) and gets one callback per
 * sample with the metric name, the labels with escapes resolved, the value,
 * the optional millisecond timestamp and the HELP/TYPE of its family.
 *
 * Invariants the parser keeps:
 *  - No allocation per sample: complete lines are parsed in place in the
 *    caller's chunk; only a line cut by a chunk boundary is copied (into a
 *    carry buffer that grows to the longest such line, at most
 *    max_line_bytes), and label values with escapes are unescaped into a
 *    scratch buffer that grows to the longest such line.
 *  - A line is delivered whole or not at all: callbacks for a line run only
 *    after the whole line has been checked, so a bad line never yields a
 *    sample, HELP or TYPE.
 *  - Values are exactly what a correctly rounded strtod gives (a fast exact
 *    path for short decimals, glibc's strtod_l in the "C" locale otherwise),
 *    whatever the process's locale.
 *  - Everything is bounded: line length, labels per sample, name and label
 *    value lengths (struct promtext_opts); exceeding a limit is an error
 *    naming the limit.
 *
 * Error handling, chosen with opts.flags:
 *  - default (stop at the first error): the first malformed line makes
 *    promtext_feed/promtext_finish return TT_ESYNTAX (or TT_ETOOBIG for a
 *    limit) and every later call returns the same code; p->err holds e.g.
 *    "line 42, column 17: expected '=' after label name \"job\", found ':'".
 *    Samples of the lines before it have been delivered: a caller that must
 *    not apply half a body (the import endpoint) buffers what the callbacks
 *    give it and applies it only when promtext_finish returns 0.
 *  - PROMTEXT_SKIP_BAD_LINES: a malformed line is skipped and counted in
 *    p->stats.bad_lines, p->err keeps the first one, the on_error callback
 *    (if set) sees each one, and parsing goes on; feed and finish return 0
 *    unless a callback stops them or memory runs out.
 * Either way on_error, if set, is called once per bad line; returning a
 * negative code from it stops parsing with that code.
 *
 * Not thread-safe: one parser per stream. Depends on libc only.
 */
#ifndef TT_PROMTEXT_H
#define TT_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Defaults used for zero fields of struct promtext_opts. */
#define PROMTEXT_DEFAULT_MAX_LINE   (1u << 20) /* bytes per line, without the '\n' */
#define PROMTEXT_DEFAULT_MAX_LABELS 128        /* labels per sample */
#define PROMTEXT_DEFAULT_MAX_NAME   1024       /* bytes of a metric or label name */
#define PROMTEXT_DEFAULT_MAX_VALUE  65536      /* bytes of a label value, unescaped */

/* opts.flags */
#define PROMTEXT_SKIP_BAD_LINES 1u /* skip and count malformed lines instead of stopping */

/* The metric types of "# TYPE name type". */
enum promtext_type {
    PROMTEXT_UNTYPED = 0, /* "untyped" (and OpenMetrics' "unknown"), or no TYPE line */
    PROMTEXT_COUNTER,
    PROMTEXT_GAUGE,
    PROMTEXT_HISTOGRAM,
    PROMTEXT_SUMMARY,
};

/* A label of a sample; name and value point into the parser's input or
 * scratch memory and are valid only during the callback. Not NUL-terminated;
 * values may hold NUL bytes (escaped or not) and are valid UTF-8. */
struct promtext_label {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* The metadata family a sample belongs to: the name of the last "# HELP" or
 * "# TYPE" line, and what those lines said. Pointers are valid only during
 * the callback. */
struct promtext_family {
    const char *name;
    size_t name_len;
    const char *help; /* escapes resolved; "" when has_help is 0 */
    size_t help_len;
    int has_help;
    enum promtext_type type; /* PROMTEXT_UNTYPED when has_type is 0 */
    int has_type;
};

/* One sample line. */
struct promtext_sample {
    const char *name; /* metric name as written, e.g. "http_requests_total" */
    size_t name_len;
    const struct promtext_label *labels; /* in input order, no two with one name */
    size_t nlabels;
    /* The series as written: from the first byte of the name to the end of
     * the label set ('}' included; just the name without one), escapes and
     * blanks as in the input. Equal texts are the same series (the converse
     * need not hold: label order and blanks may differ), so a caller may
     * key a cache of its own series lookups on it. */
    const char *series;
    size_t series_len;
    double value;
    int has_timestamp;
    int64_t timestamp_ms; /* 0 when has_timestamp is 0 */
    uint64_t line;        /* 1-based line number in the stream */
    /* The family of the last HELP/TYPE line when this sample belongs to it:
     * same name, or name plus "_bucket", "_sum" or "_count" for a histogram,
     * "_sum" or "_count" for a summary. NULL otherwise (no metadata). */
    const struct promtext_family *family;
};

/* A malformed line. */
struct promtext_error {
    uint64_t line; /* 1-based */
    size_t column; /* 1-based byte offset in the line of the offending byte */
    int code;      /* TT_ESYNTAX, or TT_ETOOBIG for an exceeded limit */
    char msg[256]; /* "line L, column C: what was wrong", NUL-terminated */
};

/* Callbacks; any may be NULL. Each returns 0 to go on or a negative TT_E*
 * code to stop: promtext_feed/promtext_finish then return that code, now and
 * on every later call. ctx is passed back unchanged. */
struct promtext_callbacks {
    int (*on_sample)(void *ctx, const struct promtext_sample *s);
    /* After a "# HELP" / "# TYPE" line, with the family as it now stands (a
     * HELP or TYPE for a new name starts a new family; one for the current
     * family's name updates it). */
    int (*on_help)(void *ctx, const struct promtext_family *f);
    int (*on_type)(void *ctx, const struct promtext_family *f);
    /* For every malformed line, in both error modes (see the top). */
    int (*on_error)(void *ctx, const struct promtext_error *e);
    void *ctx;
};

/* Limits and mode; zero fields mean the defaults above, SIZE_MAX means no
 * limit. */
struct promtext_opts {
    size_t max_line_bytes;
    size_t max_labels;
    size_t max_name_bytes;
    size_t max_value_bytes;
    unsigned flags; /* PROMTEXT_SKIP_BAD_LINES */
};

/* Counters, readable at any time (p->stats). */
struct promtext_stats {
    uint64_t lines;     /* lines seen so far, complete or ended by finish */
    uint64_t samples;   /* samples delivered to on_sample */
    uint64_t metadata;  /* HELP and TYPE lines accepted */
    uint64_t comments;  /* other '#' lines, "# EOF" included */
    uint64_t bad_lines; /* malformed lines (skipped in skip mode) */
    uint64_t bytes;     /* bytes fed */
    int eof_marker;     /* 1 once an OpenMetrics "# EOF" line has been seen */
};

/* The parser. Caller-owned; fields other than stats and err are private. */
struct promtext {
    struct promtext_stats stats;
    struct promtext_error err; /* the first malformed line (err.line 0: none) */

    struct promtext_opts opts;
    struct promtext_callbacks cb;
    void *c_locale; /* locale_t of "C", for strtod_l */
    int status;     /* sticky: 0, or the code that stopped parsing */
    int discarding; /* skip mode: dropping the rest of an over-long line */
    int finished;
    uint64_t line; /* number of the line being parsed */

    char *carry; /* a line cut by a chunk boundary */
    size_t carry_len, carry_cap;
    char *scratch; /* unescaped label values of the current line */
    size_t scratch_cap, scratch_len;
    char *numbuf; /* NUL-terminated copy of a value for strtod_l */
    size_t numbuf_cap;
    struct promtext_label *labels; /* max_labels entries (allocated lazily) */
    size_t labels_cap;
    /* The last sample's series text when it had a label set without
     * escapes, and where its labels were in it: a line that starts with the
     * same text has the same labels, which are not parsed again. */
    char *prev;
    size_t prev_len, prev_cap, prev_name_len, prev_nlabels;
    size_t *prev_offs; /* name and value offsets of each label */
    size_t prev_offs_cap;

    struct promtext_family fam; /* the current family (fam.name_len 0: none) */
    char *fam_name;
    size_t fam_name_cap;
    char *fam_help;
    size_t fam_help_cap;
};

/* promtext_init prepares p for one stream with opts (NULL: all defaults) and
 * callbacks cb (copied; NULL: none, useful for validating or counting).
 * Returns 0, TT_EINVAL for a NULL p, or TT_ENOMEM. On success p must be
 * released with promtext_release; on failure it needs no release. */
int promtext_init(struct promtext *p, const struct promtext_opts *opts,
                  const struct promtext_callbacks *cb);

/* promtext_feed parses the next len bytes of the stream (any split of the
 * stream into chunks gives the same callbacks in the same order). data is
 * only read during the call and need not stay valid afterwards. Complete
 * lines are delivered during this call; a trailing incomplete line waits for
 * more data or promtext_finish. Returns 0, the sticky code that stopped
 * parsing (TT_ESYNTAX/TT_ETOOBIG in stop mode, a callback's code, TT_ENOMEM),
 * or TT_ESTATE after promtext_finish. */
int promtext_feed(struct promtext *p, const void *data, size_t len);

/* promtext_finish ends the stream: a last line without '\n' is parsed as a
 * line. Returns like promtext_feed; 0 means the whole stream was accepted (in
 * skip mode: apart from p->stats.bad_lines skipped lines). Later feeds return
 * TT_ESTATE; finish again returns the same result. */
int promtext_finish(struct promtext *p);

/* promtext_release frees what p holds; p may then be initialised again. Safe
 * on a zeroed struct. */
void promtext_release(struct promtext *p);

/* promtext_parse parses a whole buffer with a temporary parser (init, one
 * feed, finish, release) and copies its counters and first error into stats
 * and err (each may be NULL). Returns like promtext_finish, or TT_ENOMEM. */
int promtext_parse(const void *buf, size_t len, const struct promtext_opts *opts,
                   const struct promtext_callbacks *cb, struct promtext_stats *stats,
                   struct promtext_error *err);

/* promtext_type_name returns "untyped", "counter", ... (static, never NULL). */
const char *promtext_type_name(enum promtext_type t);

/* promtext_parse_value parses s[0..n) as a sample value the way Prometheus
 * does (Go's strconv.ParseFloat without hex floats and '_' separators):
 * decimal with optional sign, fraction and exponent ("-1.5e+06", ".5", "7."),
 * or case-insensitive "NaN", [+-]"Inf", [+-]"Infinity". Returns 0 and sets
 * *out, TT_ESYNTAX for anything else, TT_ERANGE when the value overflows a
 * double (underflow gives 0 or a subnormal, as in Go), or TT_ENOMEM. The
 * parser uses the same code; exposed for tests and other text inputs. */
int promtext_parse_value(const char *s, size_t n, double *out);

/* promtext_parse_timestamp parses s[0..n) as [+-]digits into an int64
 * (Go's strconv.ParseInt base 10). Returns 0, TT_ESYNTAX or TT_ERANGE. */
int promtext_parse_timestamp(const char *s, size_t n, int64_t *out);

#endif
