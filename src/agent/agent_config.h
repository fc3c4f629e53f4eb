/*
 * agent_config.h - the agent's configuration file (`telltale agent --config
 * FILE`, docs/configuration.md "The agent"): lines of key = value, '#'
 * starts a comment line, unknown keys are errors, the same syntax as the
 * server's file. Keys: server, node, role, release, interval, state, host,
 * log_level, scrape, process, file, digest, digest_interval (the last five
 * repeatable except digest_interval). Every value is checked as it is read;
 * a bad one is reported as "FILE:LINE: problem". A scrape target's spec is
 * parsed again by agent_new (agent_scrape_spec_parse), which also checks it
 * against the collection interval, known only once every key is read.
 *
 * The command line sets the same keys (--server, --scrape, --process, ...)
 * into a second struct agent_file_config, merged over the file's with
 * agent_config_merge: a flag's scalar replaces the file's, and a repeatable
 * key given on the command line replaces the file's whole list.
 */
#ifndef TT_AGENT_AGENT_CONFIG_H
#define TT_AGENT_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "agent/agent.h"
#include "agent/watch.h"

#define AGENT_MAX_WATCH         256 /* processes, files, digests: each at most this many */
#define AGENT_SCRAPE_MAX_LABELS 32  /* extra target labels per scrape spec */

/* One scrape spec "[JOB=]URL [interval=D] [timeout=D] [LABEL=VALUE]...",
 * split: the strings point into buf. */
struct agent_scrape_spec {
    char *buf;           /* owned: the spec's copy, cut into the strings below */
    const char *job;     /* JOB, or "scrape" when the spec has none */
    const char *url;     /* http:// or https:// */
    int64_t interval_ms; /* 0: not given (the collection interval) */
    int64_t timeout_ms;  /* 0: not given (10s, or the interval when shorter) */
    struct agent_label labels[AGENT_SCRAPE_MAX_LABELS];
    size_t nlabels;
};

/* Settings as read; NULL / -1 / 0 mean "not set". Strings are owned. */
struct agent_file_config {
    char *server, *node, *role, *release, *state, *log_level;
    int64_t interval_ms;      /* 0: not set */
    int64_t digest_resend_ms; /* 0: not set */
    int host;                 /* -1: not set */
    int self_metrics;         /* -1: not set */
    char *scrapes[AGENT_MAX_SCRAPES];
    size_t nscrapes;
    char *spools[AGENT_MAX_SPOOLS];
    size_t nspools;
    struct proc_spec procs[AGENT_MAX_WATCH];
    size_t nprocs;
    struct file_spec files[AGENT_MAX_WATCH];
    size_t nfiles;
    struct digest_spec digests[AGENT_MAX_WATCH];
    size_t ndigests;
};

/* agent_config_init empties c (nothing set). */
void agent_config_init(struct agent_file_config *c);

/* agent_config_release frees c's strings. */
void agent_config_release(struct agent_file_config *c);

/* agent_config_set applies one setting (key without "--"). Values:
 * interval and digest_interval durations ("10s", "500ms", "1h30m", at least
 * 100ms); host yes/no/true/false/1/0; scrape as agent_scrape_spec_parse
 * (without the collection interval's checks); process "NAME",
 * "NAME name=COMM", "NAME pidfile=/PATH" or "NAME cgroup=/PATH"; file
 * "/PATH [json|yaml|ini|kv|text|auto]"; digest "/PATH [libs] [as=/NAME]".
 * Returns 0,
 * TT_EINVAL (message in err: what is wrong with the value), TT_ENOTFOUND
 * (unknown key), TT_ETOOBIG (too many entries), TT_ENOMEM. */
int agent_config_set(struct agent_file_config *c, const char *key, const char *value, char *err,
                     size_t errlen);

/* agent_config_read reads the file at path into c. Returns 0, or a negative
 * code with "PATH:LINE: problem" (or "PATH: problem") in err. */
int agent_config_read(struct agent_file_config *c, const char *path, char *err, size_t errlen);

/* agent_config_merge moves over's settings into base (over's set scalars
 * replace base's; over's non-empty lists replace base's lists), leaving over
 * empty. */
void agent_config_merge(struct agent_file_config *base, struct agent_file_config *over);

/* agent_config_apply fills the agent's and the watchers' configurations
 * from c (pointers into c: valid while c is), the collection interval
 * included. Unset values keep what ac and wc held (the caller's defaults). */
void agent_config_apply(const struct agent_file_config *c, struct agent_config *ac,
                        struct agent_watch_config *wc);

/* agent_scrape_spec_parse splits spec ("[JOB=]URL [interval=D]
 * [timeout=D] [LABEL=VALUE]...", options separated by blanks, in any order)
 * into *s and checks it: the URL's scheme, durations (like 15s, 500ms, 1m),
 * label names (Prometheus's [a-zA-Z_][a-zA-Z0-9_]*, not job, instance or
 * "__..."), values non-empty, nothing given twice, timeout at most the
 * interval. With collection_ms > 0 (the agent's collection interval) the
 * defaults are filled in too (interval: collection_ms; timeout: 10s or the
 * interval when that is shorter) and an interval below collection_ms is
 * refused; with 0 they stay 0 and only what the spec gives is checked.
 * Returns 0 (release *s with agent_scrape_spec_release), TT_EINVAL with
 * "scrape 'SPEC': problem" in err (*s then holds nothing), TT_ENOMEM. */
int agent_scrape_spec_parse(struct agent_scrape_spec *s, const char *spec, int64_t collection_ms,
                            char *err, size_t errlen);

/* agent_scrape_spec_release frees s's copy (its strings become invalid). */
void agent_scrape_spec_release(struct agent_scrape_spec *s);

/* agent_config_parse_duration reads "1h30m", "10s", "250ms" (units ms, s,
 * m, h, d) into *ms. Returns 0 or -1. */
int agent_config_parse_duration(const char *s, int64_t *ms);

#endif
