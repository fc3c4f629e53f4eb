/*
 * runner.h - runs a PromQL test file (Prometheus's promqltest format, parsed
 * by testfile.h) against Telltale's engine over an in-memory store, and
 * reports each eval statement as passed, failed or skipped.
 *
 * Rules, as Prometheus's promqltest applies them: floats compare with a
 * relative tolerance of 1e-6 (NaN equals NaN); label sets compare exactly;
 * order matters only under `expect ordered`; an expected failure passes on
 * any error, or on one whose message equals (msg:) or matches (regex:,
 * unanchored) the expectation. Evals that involve native histograms or
 * start timestamps (in their expected results or in data their selectors
 * match), warn/info annotation expectations, and syntax the parser does not
 * enable are skipped, each with a reason.
 *
 * The runner never prints: it fills a report that the caller formats.
 */
#ifndef TT_PROMQL_RUNNER_H
#define TT_PROMQL_RUNNER_H

#include <stddef.h>
#include "query/promql/engine.h"

enum promqltest_outcome {
    PROMQLTEST_PASSED = 0,
    PROMQLTEST_FAILED,
    PROMQLTEST_SKIPPED,
};

/* One failed or skipped eval statement. */
struct promqltest_item {
    enum promqltest_outcome outcome;
    int line;    /* of the eval command */
    char *query; /* owned */
    char *why;   /* owned: expected vs got, the error, or the skip reason */
};

struct promqltest_report {
    size_t passed, failed, skipped;
    size_t skipped_histogram;      /* of skipped: native histograms / start timestamps */
    struct promqltest_item *items; /* failed and skipped evals, in file order */
    size_t nitems;
};

/* promqltest_run parses text (len bytes; name is used in messages) and runs
 * its commands, adding to *rep (which must be zeroed or hold an earlier
 * file's counts). opts may be NULL (the engine's defaults, as Prometheus's
 * test engine: 5 m lookback, 1 m subquery step). Returns 0 when the file
 * ran (whatever its evals' outcomes), TT_ESYNTAX when it does not parse
 * (err: "NAME:LINE: what"), TT_EINVAL for a load the store refuses, or
 * TT_ENOMEM. */
int promqltest_run(const char *text, size_t len, const char *name,
                   const struct promql_engine_opts *opts, struct promqltest_report *rep, char *err,
                   size_t errlen);

/* promqltest_report_release frees the items (counts are kept; items reset). */
void promqltest_report_release(struct promqltest_report *rep);

#endif
