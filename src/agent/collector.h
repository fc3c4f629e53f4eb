/*
 * collector.h - what every collector of `telltale agent` produces: samples
 * of named metrics with labels, in the node_exporter / Prometheus naming
 * convention, handed to an emitter the agent owns (it turns them into batch
 * records and ships them). Collectors: host (src/agent/host_*.c, reading
 * /proc and /sys), Prometheus scraping (scrape.c), processes, files, the
 * agent's own figures.
 *
 * Invariants: a collector never blocks on the network or a slow file for
 * longer than its timeout; it reads its sources fresh on every call; a
 * source that is missing (no PSI in this kernel, no such device) is skipped
 * silently, one that is malformed is reported through warn() with the file
 * and line and skipped; the emitted strings are borrowed for the call only.
 */
#ifndef TT_AGENT_COLLECTOR_H
#define TT_AGENT_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

/* One label: name and value, NUL-terminated, borrowed. */
struct agent_label {
    const char *name;
    const char *value;
};

/* Metric types, as the text exposition's TYPE line names them. */
enum agent_metric_type {
    AGENT_UNTYPED = 0,
    AGENT_COUNTER,
    AGENT_GAUGE,
    AGENT_HISTOGRAM,
    AGENT_SUMMARY,
};

/* Where samples go. sample() receives one sample of metric name (the
 * series name as stored: "node_cpu_seconds_total", "http_request_duration_seconds_bucket")
 * with labels (any order, no __name__, no duplicates), at t_ms (ms since
 * the epoch), value v (stale markers allowed: 0x7ff0000000000002). It
 * returns 0 or a TT_E* code, which the collector passes back and stops on.
 * meta() (may be NULL) receives the TYPE and HELP of a metric family once
 * per collection, before its samples; help may be NULL. warn() (may be
 * NULL) receives a one-line problem ("/proc/diskstats:3: 9 fields, expected
 * at least 14"). */
/* One event: a notification of a state change a collector saw (a process
 * restarted, a file changed or stopped parsing, the backlog dropped data).
 * severity is a tt_severity; component says which collector ("process",
 * "file", "digest", "agent"); name is dotted ("telltale.file.changed");
 * message is one line for people; attrs are string key/values for
 * machines (old/new digest, path, pid). All strings borrowed for the call. */
struct agent_event {
    uint8_t severity;
    const char *component;
    const char *name;
    const char *message;
    const struct agent_label *attrs;
    size_t nattrs;
    int64_t t_ms;
};

struct agent_emit {
    void *ctx;
    int (*sample)(void *ctx, const char *name, const struct agent_label *labels, size_t nlabels,
                  int64_t t_ms, double v);
    int (*meta)(void *ctx, const char *family, enum agent_metric_type type, const char *help);
    void (*warn)(void *ctx, const char *msg);
    int (*event)(void *ctx, const struct agent_event *ev);
};

#endif
