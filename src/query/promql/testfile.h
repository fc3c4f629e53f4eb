/*
 * testfile.h - parser of PromQL test files, Prometheus's promqltest format
 * (load / clear / eval with expected results; see
 * shared/data/promql-testdata/README.upstream.md). `telltale promqltest`
 * runs these against Telltale's engine; users write their own in the format.
 *
 * What the parser does: splits a file into commands with their line numbers,
 * expands the series notation of load and expected results ("1+2x3", "_x2",
 * "stale", "NaN", ...) into points, parses label sets and the time arguments
 * (durations in milliseconds), and collects the expect lines, including the
 * deprecated forms (eval_fail, eval_ordered, eval_warn, eval_info,
 * expected_fail_message, expected_fail_regexp). Native histogram points
 * ({{...}}) are recognised but not decoded, and start-timestamp series
 * ("metric{...}@st ...") are recognised but their points not parsed: such
 * series and commands are marked so a runner can skip them and count them as
 * skipped.
 *
 * Ownership: everything hangs off struct ptf_file and is freed by ptf_free.
 */
#ifndef TT_PROMQL_TESTFILE_H
#define TT_PROMQL_TESTFILE_H

#include <stddef.h>
#include <stdint.h>

enum ptf_point_kind {
    PTF_VALUE = 0,     /* a float sample */
    PTF_MISSING = 1,   /* "_": no sample at this step */
    PTF_STALE = 2,     /* "stale": a staleness marker */
    PTF_HISTOGRAM = 3, /* a native histogram, not decoded */
};

struct ptf_point {
    double v;
    uint8_t kind; /* ptf_point_kind */
};

struct ptf_label {
    char *name;
    char *value;
};

/* A series line: labels (the metric name, if written, is label __name__) and
 * its points, the i-th at i * interval (load) or at the i-th step (range
 * results). */
struct ptf_series {
    struct ptf_label *labels;
    size_t nlabels;
    struct ptf_point *points;
    size_t npoints;
    int has_histogram;
    int start_timestamps; /* "metric{...}@st": start timestamps, points not parsed */
};

enum ptf_expect_kind {
    PTF_EXPECT_FAIL,
    PTF_EXPECT_WARN,
    PTF_EXPECT_INFO,
    PTF_EXPECT_NO_WARN,
    PTF_EXPECT_NO_INFO,
    PTF_EXPECT_ORDERED,
    PTF_EXPECT_STRING,       /* text: the expected string result */
    PTF_EXPECT_RANGE_VECTOR, /* start/end/step of an expected range vector */
};

enum ptf_match {
    PTF_MATCH_ANY = 0, /* no message given */
    PTF_MATCH_MSG = 1, /* exact message */
    PTF_MATCH_REGEX = 2,
};

struct ptf_expect {
    enum ptf_expect_kind kind;
    enum ptf_match match;
    char *text; /* NULL when not given */
    int64_t start_ms, end_ms, step_ms;
};

enum ptf_cmd_kind {
    PTF_LOAD,
    PTF_CLEAR,
    PTF_EVAL,
};

struct ptf_cmd {
    enum ptf_cmd_kind kind;
    int line; /* of the command, 1-based */
    /* load */
    int64_t interval_ms;
    int with_nhcb; /* load_with_nhcb */
    /* eval */
    int range;     /* eval range (else instant) */
    int64_t at_ms; /* instant */
    int64_t start_ms, end_ms, step_ms;
    char *query;
    struct ptf_expect *expects;
    size_t nexpects;
    int has_scalar; /* the expected result is a scalar */
    double scalar;
    /* load: the series to add; eval: the expected series */
    struct ptf_series *series;
    size_t nseries;
    int has_histogram;    /* some series has a native histogram point */
    int start_timestamps; /* some series gives start timestamps (@st) */
};

struct ptf_file {
    struct ptf_cmd *cmds;
    size_t ncmds;
};

/* ptf_parse parses len bytes of a test file (name is used in messages).
 * Returns 0, TT_ESYNTAX with "NAME:LINE: what" in err (the file is freed),
 * or TT_ENOMEM. */
int ptf_parse(const char *text, size_t len, const char *name, struct ptf_file *out, char *err,
              size_t errlen);

/* ptf_free frees everything of f (safe on a zeroed or already freed f). */
void ptf_free(struct ptf_file *f);

/* ptf_parse_duration parses a Prometheus duration ("5m", "1h30m", "10s53ms",
 * "0"; a plain integer is seconds, a leading '-' negates) into milliseconds.
 * Returns 0 or TT_ESYNTAX. */
int ptf_parse_duration(const char *s, size_t n, int64_t *ms);

/* ptf_eval_count counts a file's eval commands: all, and those that involve
 * native histograms or start timestamps (in the data loaded before them or in
 * their results), which a float-only engine skips. */
void ptf_eval_count(const struct ptf_file *f, size_t *evals, size_t *histogram_evals);

#endif
