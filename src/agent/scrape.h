/*
 * scrape.h - the agent's Prometheus scraper: one configured target (an
 * http(s) URL serving the text exposition format 0.0.4) fetched with
 * libcurl, parsed with core/promtext, and emitted through struct agent_emit
 * the way Prometheus stores a scrape:
 *
 *  - every sample with the target labels (job, instance, the configured
 *    extra labels) added; with honor_labels=false semantics: a target label
 *    wins over an exported label of the same name, which is kept as
 *    exported_<name> (exported_exported_<name> when that is taken too);
 *    labels with empty values are dropped; histogram and summary series as
 *    written (_bucket{le}, _sum, _count, {quantile}); a timestamp in the
 *    exposition is honoured unless cfg->ignore_timestamps;
 *  - then staleness markers (SCRAPE_STALE_NAN) at the scrape time for the
 *    series of the previous scrape that are absent now (series with an
 *    explicit timestamp are not tracked, as in Prometheus); a failed scrape
 *    counts as an empty one, so every series goes stale once when the target
 *    goes down;
 *  - then the five series Prometheus records per scrape, with the target
 *    labels only: up, scrape_duration_seconds, scrape_samples_scraped,
 *    scrape_samples_post_metric_relabeling, scrape_series_added (all five
 *    also on failure: up 0 and the counts so far).
 *
 * A scrape either succeeds as a whole or fails as a whole: the body is read
 * completely (bounded by the body limit) and checked before anything is
 * emitted, so a malformed line yields only the synthetic series (and the
 * staleness markers), with the parser's message ("line 3, column 5: ...")
 * passed to warn().
 *
 * Not thread-safe: one target is run by one thread at a time.
 */
#ifndef TT_AGENT_SCRAPE_H
#define TT_AGENT_SCRAPE_H

#include <stddef.h>
#include <stdint.h>
#include "agent/collector.h"

/* The staleness marker Prometheus writes (a NaN with this bit pattern). */
#define SCRAPE_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

#define SCRAPE_DEFAULT_TIMEOUT_MS 10000              /* Prometheus's scrape_timeout default */
#define SCRAPE_DEFAULT_BODY_LIMIT ((size_t)64 << 20) /* decoded bytes */

/* What to scrape. Strings and the label array are copied by
 * scrape_target_new; the caller keeps ownership of cfg. */
struct scrape_config {
    const char *url;      /* http:// or https://, required */
    const char *job;      /* the job label, required, non-empty */
    const char *instance; /* NULL or "": host:port of the URL (default port by scheme) */
    const struct agent_label *labels; /* extra target labels (may be NULL when nlabels is 0) */
    size_t nlabels;
    int64_t timeout_ms;      /* whole request; 0: SCRAPE_DEFAULT_TIMEOUT_MS */
    size_t body_limit_bytes; /* decoded body; 0: SCRAPE_DEFAULT_BODY_LIMIT */
    int ignore_timestamps;   /* 1: use the scrape time even when a sample has one */
    const char *user_agent;  /* NULL: "telltale-agent" */
};

struct scrape_target;

/* scrape_target_new checks cfg and makes a target with a copy of it. Errors:
 * TT_EINVAL for a bad config (no URL or not http(s), empty job, a bad or
 * reserved ("__" prefix, job, instance) or repeated label name, a negative
 * timeout), described in err (errlen bytes, may be 0); TT_ENOMEM. On
 * success *out is owned by the caller (scrape_target_free); on failure *out
 * is NULL. */
int scrape_target_new(struct scrape_target **out, const struct scrape_config *cfg, char *err,
                      size_t errlen);

/* scrape_target_run scrapes the target once, now_ms being the scrape's
 * timestamp (ms since the epoch; samples without their own timestamp get
 * it), and emits what the top of this file says through emit (whose
 * strings are borrowed for each call only). A failed scrape (connection,
 * timeout, HTTP status other than 200, body over the limit, malformed
 * exposition) is not an error of this function: it is emitted as up 0,
 * reported through emit->warn, and readable with scrape_target_health.
 * Returns 0 once everything was emitted, or the first non-zero code of an
 * emit callback (emission stops there; the next run compares with the last
 * scrape that was emitted completely), TT_ENOMEM, or TT_EINVAL for a NULL
 * argument. */
int scrape_target_run(struct scrape_target *t, const struct agent_emit *emit, int64_t now_ms);

/* scrape_target_stop emits the staleness markers Prometheus writes when a
 * target goes away: every series of the last scrape and the five synthetic
 * series, at now_ms; the target then starts over as new. Returns like
 * scrape_target_run. */
int scrape_target_stop(struct scrape_target *t, const struct agent_emit *emit, int64_t now_ms);

/* scrape_target_health tells how the last run went: 1 up, 0 down, -1 not
 * run yet. *why (may be NULL) receives the reason of the last failure or ""
 * (valid until the next run or free). */
int scrape_target_health(const struct scrape_target *t, const char **why);

/* scrape_target_free frees t (NULL is fine). */
void scrape_target_free(struct scrape_target *t);

/* scrape_is_stale_nan reports whether v is the staleness marker. */
int scrape_is_stale_nan(double v);

#endif
