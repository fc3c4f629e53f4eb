/*
 * log.h - structured logging in logfmt, one line per event:
 *
 *   ts=2024-05-01T12:00:00.123Z level=warn msg="wal replay slow" segment=12 took=3.2s
 *
 * A struct log is a level threshold plus a sink. Modules never print: they
 * format a whole line here and hand it to the sink, which the program layers
 * (src/cli, src/server) configure, typically a write(2) to stderr. With no
 * sink, lines are dropped. The default threshold is warn: quiet unless
 * something is wrong.
 *
 * Invariants: a line is formatted into a bounded stack buffer (LOG_LINE_MAX,
 * longer lines are cut and end in "..."), always ends in '\n', and reaches
 * the sink in one call, so a sink that does one write(2) keeps lines whole
 * across threads. Values are quoted when they hold a space, '=', '"', a
 * control character or are empty; inside quotes '"' and '\\' are escaped
 * and control characters become \n, \t or \xHH. Every function is
 * thread-safe once log_init has run (the level is atomic; the sink must be
 * thread-safe itself).
 */
#ifndef TT_LOG_H
#define TT_LOG_H

#include <stddef.h>
#include <stdint.h>
#include "core/clock.h"

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_OFF = 4, /* as a threshold: nothing is logged */
};

#define LOG_LINE_MAX 2048

/* log_sink_fn receives one complete line (with its '\n', not NUL-terminated
 * in the length; line[len] is a NUL for convenience). Called concurrently
 * from any thread that logs. */
typedef void (*log_sink_fn)(void *ctx, enum log_level level, const char *line, size_t len);

struct log {
    _Atomic int level; /* lines below this level are dropped */
    log_sink_fn sink;  /* NULL: every line dropped */
    void *sink_ctx;
    const struct tt_clock *clock; /* for ts=; NULL = the system clock */
};

/* log_init sets up a caller-owned logger with threshold level and sink (NULL
 * drops everything). Must run before the logger is shared between threads. */
void log_init(struct log *lg, enum log_level level, log_sink_fn sink, void *sink_ctx);

/* log_set_level changes the threshold (atomic; any thread). */
void log_set_level(struct log *lg, enum log_level level);

/* log_enabled reports whether a line at level would be written; NULL lg is
 * never enabled. Check it before formatting anything costly. */
int log_enabled(const struct log *lg, enum log_level level);

/* log_level_parse reads "debug", "info", "warn" (or "warning"), "error" or
 * "off" (case-insensitive) into *out. Returns 0 or TT_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* log_level_name returns "debug", "info", "warn", "error" or "off". */
const char *log_level_name(enum log_level level);

/* log_kv writes one line: ts, level, msg, then key/value string pairs given
 * as varargs and ended by a NULL key. A NULL value is written as "". lg may
 * be NULL (nothing happens). Use the log_debug..log_error macros, which add
 * the terminating NULL:
 *   log_warn(lg, "cannot open block", "dir", path, "err", tt_strerror(rc));
 */
void log_kv(struct log *lg, enum log_level level, const char *msg, ...);

#define log_debug(lg, ...) log_kv((lg), LOG_LEVEL_DEBUG, __VA_ARGS__, (const char *)NULL)
#define log_info(lg, ...)  log_kv((lg), LOG_LEVEL_INFO, __VA_ARGS__, (const char *)NULL)
#define log_warn(lg, ...)  log_kv((lg), LOG_LEVEL_WARN, __VA_ARGS__, (const char *)NULL)
#define log_error(lg, ...) log_kv((lg), LOG_LEVEL_ERROR, __VA_ARGS__, (const char *)NULL)

/* A line built field by field, for numbers and many fields:
 *   struct log_line l;
 *   if (log_begin(lg, LOG_LEVEL_INFO, "request", &l)) {
 *       log_str(&l, "path", path);
 *       log_i64(&l, "code", 200);
 *       log_f64(&l, "seconds", 0.012);
 *       log_end(&l);
 *   }
 * log_begin returns 0 (and nothing else needs to be called) when the level
 * is disabled. The struct lives on the caller's stack; nothing is allocated. */
struct log_line {
    struct log *lg;
    enum log_level level;
    size_t len;
    int cut; /* the line was longer than LOG_LINE_MAX */
    char buf[LOG_LINE_MAX];
};

int log_begin(struct log *lg, enum log_level level, const char *msg, struct log_line *l);
void log_str(struct log_line *l, const char *key, const char *value);
void log_strn(struct log_line *l, const char *key, const char *value, size_t n);
void log_i64(struct log_line *l, const char *key, int64_t value);
void log_f64(struct log_line *l, const char *key, double value);
/* log_end terminates the line and hands it to the sink. */
void log_end(struct log_line *l);

#endif
