/*
 * log.c - logfmt lines into a sink (see log.h). Nothing here prints: the line
 * is built in a stack buffer and handed to the sink the program configured.
 * Invariant: l->len < LOG_LINE_MAX - 5, leaving room for "...\n" and a NUL.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include "telltale.h"
#include "core/log.h"

/* Room kept at the end of the buffer for "...", '\n' and NUL. */
#define LOG_RESERVE 5

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };

void log_init(struct log *lg, enum log_level level, log_sink_fn sink, void *sink_ctx)
{
    atomic_init(&lg->level, (int)level);
    lg->sink = sink;
    lg->sink_ctx = sink_ctx;
    lg->clock = NULL;
}

void log_set_level(struct log *lg, enum log_level level)
{
    atomic_store_explicit(&lg->level, (int)level, memory_order_relaxed);
}

int log_enabled(const struct log *lg, enum log_level level)
{
    if (lg == NULL || lg->sink == NULL || level >= LOG_LEVEL_OFF)
        return 0;
    return (int)level >= atomic_load_explicit(&lg->level, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *out)
{
    if (s == NULL)
        return TT_EINVAL;
    for (int i = 0; i <= LOG_LEVEL_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return TT_EINVAL;
}

const char *log_level_name(enum log_level level)
{
    if ((int)level < 0 || level > LOG_LEVEL_OFF)
        return "unknown";
    return level_names[level];
}

static void put(struct log_line *l, const char *s, size_t n)
{
    size_t room = LOG_LINE_MAX - LOG_RESERVE - l->len;

    if (n > room) {
        n = room;
        l->cut = 1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void putc1(struct log_line *l, char c)
{
    put(l, &c, 1);
}

static int needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            return 1;
    }
    return 0;
}

static void put_value(struct log_line *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    if (!needs_quotes(s, n)) {
        put(l, s, n);
        return;
    }
    putc1(l, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            put(l, e, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c == '\t') {
            put(l, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
            put(l, e, 4);
        } else {
            putc1(l, (char)c);
        }
    }
    putc1(l, '"');
}

static void put_key(struct log_line *l, const char *key)
{
    putc1(l, ' ');
    put(l, key, strlen(key));
    putc1(l, '=');
}

int log_begin(struct log *lg, enum log_level level, const char *msg, struct log_line *l)
{
    const struct tt_clock *clock;
    int64_t now;
    time_t secs;
    struct tm tm;
    char ts[40];
    int n;

    if (!log_enabled(lg, level))
        return 0;
    l->lg = lg;
    l->level = level;
    l->len = 0;
    l->cut = 0;
    clock = lg->clock != NULL ? lg->clock : &clock_system;
    now = clock_now_ns(clock);
    secs = (time_t)(now / TT_NS_PER_S);
    if (gmtime_r(&secs, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    n = snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)((now % TT_NS_PER_S) / TT_NS_PER_MS));
    put(l, "ts=", 3);
    put(l, ts, n > 0 ? (size_t)n : 0);
    put(l, " level=", 7);
    put(l, level_names[level], strlen(level_names[level]));
    log_str(l, "msg", msg);
    return 1;
}

void log_strn(struct log_line *l, const char *key, const char *value, size_t n)
{
    put_key(l, key);
    put_value(l, value != NULL ? value : "", value != NULL ? n : 0);
}

void log_str(struct log_line *l, const char *key, const char *value)
{
    log_strn(l, key, value, value != NULL ? strlen(value) : 0);
}

void log_i64(struct log_line *l, const char *key, int64_t value)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)value);

    put_key(l, key);
    put(l, tmp, (size_t)n);
}

void log_f64(struct log_line *l, const char *key, double value)
{
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.6g", value);

    put_key(l, key);
    put(l, tmp, n > 0 ? (size_t)n : 0);
}

void log_end(struct log_line *l)
{
    if (l->cut) {
        memcpy(l->buf + l->len, "...", 3);
        l->len += 3;
    }
    l->buf[l->len++] = '\n';
    l->buf[l->len] = '\0';
    l->lg->sink(l->lg->sink_ctx, l->level, l->buf, l->len);
}

void log_kv(struct log *lg, enum log_level level, const char *msg, ...)
{
    struct log_line l;
    va_list ap;
    const char *key;

    if (!log_begin(lg, level, msg, &l))
        return;
    va_start(ap, msg);
    while ((key = va_arg(ap, const char *)) != NULL)
        log_str(&l, key, va_arg(ap, const char *));
    va_end(ap);
    log_end(&l);
}
