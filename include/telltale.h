/*
 * telltale.h - libtelltale, the client library an application links to emit
 * spans, metrics, events and state changes into a local spool that the node's
 * telltale agent ships to the server.
 *
 * Invariants the library keeps:
 *  - The hot path (span start/end, counter add, histogram observe, event, state
 *    set) never blocks, never takes a lock shared with other threads, never
 *    allocates after a thread's first use, and never crashes the application:
 *    every failure is counted and visible through tt_stats().
 *  - Every record carries a Hybrid Logical Clock timestamp (48 bits of
 *    milliseconds, 16 bits of logical counter).
 *  - One library instance per process (tt_init/tt_shutdown). This is the one
 *    place Telltale keeps process-wide state: per-thread buffers must be found
 *    from any application thread without threading a context through it.
 *
 * Depends on libc and pthreads only. All strings are UTF-8 and copied by the
 * library unless a comment says otherwise.
 */
#ifndef TELLTALE_H
#define TELLTALE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: only what this header declares
 * is exported, so its internals never clash with the application's symbols. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define TT_VERSION_MAJOR 0
#define TT_VERSION_MINOR 1
#define TT_VERSION_PATCH 0

/* ---- errors ----------------------------------------------------------------
 * One table generates the codes, their names and their messages. Functions that
 * can fail return 0 or one of these (negative) codes.
 */
#define TT_ERRNO_MAP(XX)                                                 \
    XX(EINVAL, -1, "invalid argument")                                   \
    XX(ENOMEM, -2, "out of memory")                                      \
    XX(EIO, -3, "input/output error")                                    \
    XX(ECORRUPT, -4, "data corrupt (checksum mismatch)")                 \
    XX(ETRUNC, -5, "data truncated (torn write or short input)")         \
    XX(EVERSION, -6, "unsupported format version")                       \
    XX(ERANGE, -7, "value out of range")                                 \
    XX(ECLOCK, -8, "remote clock too far ahead (beyond HLC max offset)") \
    XX(EOVERFLOW, -9, "counter overflow")                                \
    XX(EFULL, -10, "buffer full")                                        \
    XX(ENOTFOUND, -11, "not found")                                      \
    XX(ESYNTAX, -12, "syntax error")                                     \
    XX(EUNSUPPORTED, -13, "not supported")                               \
    XX(ESTATE, -14, "invalid state (not initialised, or already)")       \
    XX(ETOOBIG, -15, "too big")                                          \
    XX(EEXIST, -16, "already exists")                                    \
    XX(ESYS, -17, "system call failed")

typedef enum tt_errno {
    TT_OK = 0,
#define TT_ERRNO_ENUM(name, val, msg) TT_##name = (val),
    TT_ERRNO_MAP(TT_ERRNO_ENUM)
#undef TT_ERRNO_ENUM
} tt_errno;

/* tt_strerror returns a static message for an error code (never NULL). */
const char *tt_strerror(int err);
/* tt_err_name returns the code's name, e.g. "TT_EINVAL" (static, never NULL). */
const char *tt_err_name(int err);

/* ---- configuration ------------------------------------------------------ */

#define TT_NAME_MAX 128 /* service and node names, bytes including NUL */
#define TT_PATH_MAX 512
#define TT_LIST_MAX 512 /* comma-separated allow/deny lists */

/* tt_config: everything tt_init needs. Fill with tt_config_default(), then
 * override fields, or read TELLTALE_* variables with tt_config_from_env(). */
typedef struct tt_config {
    char service[TT_NAME_MAX];      /* TELLTALE_SERVICE; default: program name */
    char node[TT_NAME_MAX];         /* TELLTALE_NODE; default: hostname */
    char spool_dir[TT_PATH_MAX];    /* TELLTALE_SPOOL_DIR; default /var/spool/telltale
                                       for root, else ${TMPDIR:-/tmp}/telltale-spool-<uid> */
    uint64_t spool_max_bytes;       /* TELLTALE_SPOOL_MAX (e.g. "256MiB"); default 256 MiB */
    uint64_t segment_bytes;         /* TELLTALE_SEGMENT_SIZE; default 8 MiB */
    uint32_t flush_interval_ms;     /* TELLTALE_FLUSH_INTERVAL ("1s", "250ms"); default 1000 */
    uint32_t thread_buffer_bytes;   /* TELLTALE_THREAD_BUFFER; default 1 MiB per thread */
    double sample_ratio;            /* TELLTALE_SAMPLE_RATIO in [0,1]; default 1 */
    int sample_parent_based;        /* TELLTALE_SAMPLE_PARENT_BASED (bool); default 1 */
    double sample_max_traces_per_s; /* TELLTALE_SAMPLE_RATE_LIMIT; 0 = no limit */
    uint64_t min_span_duration_ns;  /* TELLTALE_MIN_SPAN_DURATION ("2ms"); default 0 */
    char span_allow[TT_LIST_MAX];   /* TELLTALE_SPAN_ALLOW: name patterns, "a*,b" */
    char span_deny[TT_LIST_MAX];    /* TELLTALE_SPAN_DENY */
    uint32_t hlc_max_offset_ms;     /* TELLTALE_HLC_MAX_OFFSET; default 500 */
    int fsync_segments;             /* TELLTALE_FSYNC (bool): fdatasync each flush; default 0 */
    int enabled;                    /* TELLTALE_ENABLED (bool); 0 = tracing compiled in but off */
} tt_config;

/* tt_config_default fills cfg with the defaults above. Never fails. */
void tt_config_default(tt_config *cfg);

/* tt_config_set parses one setting by its environment name without the
 * TELLTALE_ prefix, case-insensitive ("SERVICE", "SPOOL_MAX", ...), from text.
 * Returns 0, TT_ENOTFOUND for an unknown key, or TT_ESYNTAX/TT_ERANGE for a bad
 * value; on failure writes a message naming the key and the problem into
 * errbuf (errlen bytes, may be 0) and leaves cfg unchanged. */
int tt_config_set(tt_config *cfg, const char *key, const char *value, char *errbuf, size_t errlen);

/* tt_config_from_env applies every TELLTALE_* variable of the environment that
 * the library knows on top of cfg (other TELLTALE_* names belong to the agent,
 * server and CLI and are skipped). A bad value is an error, the first one
 * reported in errbuf as "TELLTALE_X: ..."; settings applied before it stay. */
int tt_config_from_env(tt_config *cfg, char *errbuf, size_t errlen);

/* ---- lifecycle ----------------------------------------------------------- */

/* tt_init starts the library: creates the spool directory if needed and starts
 * the background flusher. cfg may be NULL (defaults plus environment). Returns
 * 0, TT_ESTATE if already initialised, TT_EIO/TT_ESYS if the spool cannot be
 * created, or a config error. The library keeps its own copy of cfg. */
int tt_init(const tt_config *cfg);

/* tt_shutdown flushes every thread's buffer and the metrics to the spool,
 * stops the flusher and frees everything. Records made concurrently with or
 * after shutdown are dropped and counted. Safe to call when not initialised. */
void tt_shutdown(void);

/* tt_flush writes everything buffered so far to the spool and returns once it
 * is written (for tests and before an intentional exit). Returns 0 or an
 * error; TT_ESTATE if not initialised. */
int tt_flush(void);

/* ---- values and key/values ------------------------------------------------ */

typedef enum tt_value_type {
    TT_VAL_NONE = 0,
    TT_VAL_STR = 1,
    TT_VAL_INT = 2,
    TT_VAL_DOUBLE = 3,
    TT_VAL_BOOL = 4,
} tt_value_type;

/* tt_value: a typed value; strings are borrowed for the duration of the call. */
typedef struct tt_value {
    tt_value_type type;
    union {
        const char *s;
        int64_t i;
        double d;
        int b;
    } u;
} tt_value;

typedef struct tt_kv {
    const char *key;
    tt_value value;
} tt_kv;

#define TT_STR(k, v)     \
    (tt_kv)              \
    {                    \
        (k),             \
        {                \
            TT_VAL_STR,  \
            {            \
                .s = (v) \
            }            \
        }                \
    }
#define TT_INT(k, v)     \
    (tt_kv)              \
    {                    \
        (k),             \
        {                \
            TT_VAL_INT,  \
            {            \
                .i = (v) \
            }            \
        }                \
    }
#define TT_DOUBLE(k, v)    \
    (tt_kv)                \
    {                      \
        (k),               \
        {                  \
            TT_VAL_DOUBLE, \
            {              \
                .d = (v)   \
            }              \
        }                  \
    }
#define TT_BOOL(k, v)    \
    (tt_kv)              \
    {                    \
        (k),             \
        {                \
            TT_VAL_BOOL, \
            {            \
                .b = (v) \
            }            \
        }                \
    }

/* ---- HLC --------------------------------------------------------------------- */

/* An HLC timestamp: (l << 16) | c, l in milliseconds since the Unix epoch. */
typedef uint64_t tt_hlc;
#define TT_HLC_L(h) ((h) >> 16)
#define TT_HLC_C(h) ((h)&0xffffu)

/* tt_hlc_now ticks the process's HLC as a local event and returns the stamp
 * (0 if not initialised). */
tt_hlc tt_hlc_now(void);

/* ---- spans ------------------------------------------------------------------- */

typedef enum tt_span_kind {
    TT_SPAN_INTERNAL = 0,
    TT_SPAN_SERVER = 1,
    TT_SPAN_CLIENT = 2,
    TT_SPAN_PRODUCER = 3,
    TT_SPAN_CONSUMER = 4,
} tt_span_kind;

typedef enum tt_status {
    TT_STATUS_UNSET = 0,
    TT_STATUS_OK = 1,
    TT_STATUS_ERROR = 2,
} tt_status;

#define TT_FLAG_SAMPLED 0x01 /* W3C trace-flags bit */

/* tt_span_context: what crosses a process boundary. */
typedef struct tt_span_context {
    uint8_t trace_id[16];
    uint64_t span_id; /* 0 = invalid */
    uint8_t flags;    /* TT_FLAG_SAMPLED */
    uint8_t remote;   /* extracted from headers */
    tt_hlc hlc;       /* the sender's HLC at send (remote) or the span's start HLC */
} tt_span_context;

/* tt_span: a span in progress, owned by the caller (usually on its stack). Its
 * fields are private to the library; read them through the functions below. */
typedef struct tt_span {
    tt_span_context ctx;
    uint64_t parent_id;
    int64_t start_ns;
    uint32_t name_len;
    uint32_t extras; /* attributes, events, links, status message recorded */
    uint8_t kind;
    uint8_t status;
    uint8_t recording; /* 0: not sampled or filtered; every call on it is a no-op */
    uint8_t has_extras;
    char name[96]; /* truncated copy of the name */
} tt_span;

/* tt_span_start begins a span named name (copied, truncated to 95 bytes) of the
 * given kind, child of parent (NULL: a new trace). The sampling decision is
 * made here: probability, parent-based and rate limit per tt_config, then the
 * name allow/deny filters. span is filled in all cases; when not sampled,
 * span->recording is 0 and it still carries ids so its context propagates. */
void tt_span_start(tt_span *span, const char *name, tt_span_kind kind,
                   const tt_span_context *parent);

/* tt_span_end ends the span and records it (unless not recording, or shorter
 * than the configured minimum duration). The span must not be used after. */
void tt_span_end(tt_span *span);

/* Attributes, span events and links: copied into the thread's buffer at once. */
void tt_span_set_attr(tt_span *span, const char *key, tt_value value);
void tt_span_set_str(tt_span *span, const char *key, const char *value);
void tt_span_set_int(tt_span *span, const char *key, int64_t value);
void tt_span_set_double(tt_span *span, const char *key, double value);
void tt_span_set_bool(tt_span *span, const char *key, int value);
void tt_span_add_event(tt_span *span, const char *name, const tt_kv *kvs, size_t nkv);
void tt_span_add_link(tt_span *span, const tt_span_context *linked, const tt_kv *kvs, size_t nkv);
/* tt_span_set_status sets the status; message (may be NULL) is kept for errors. */
void tt_span_set_status(tt_span *span, tt_status status, const char *message);

/* ---- context propagation (W3C trace context + HLC) -------------------------- */

#define TT_TRACEPARENT_LEN 55  /* "00-<32 hex>-<16 hex>-<2 hex>" */
#define TT_TRACESTATE_MAX  512 /* W3C: 32 list members, 512 bytes is what we emit */

/* tt_traceparent_format writes the traceparent of ctx into out (at least
 * TT_TRACEPARENT_LEN + 1 bytes) with a NUL. Returns 0 or TT_EINVAL (invalid ids). */
int tt_traceparent_format(const tt_span_context *ctx, char *out, size_t outlen);

/* tt_traceparent_parse parses a traceparent header value strictly per W3C
 * Trace Context level 1: lowercase hex only, all-zero trace or span id invalid,
 * version ff invalid, version 00 exactly 55 characters, higher versions accept
 * and ignore a "-"-separated tail. Fills ctx (remote = 1, hlc = 0). Returns 0 or
 * TT_ESYNTAX; on failure writes the reason and byte position into errbuf. */
int tt_traceparent_parse(const char *value, size_t len, tt_span_context *ctx, char *errbuf,
                         size_t errlen);

/* tt_tracestate_get_hlc finds Telltale's entry ("tt=<16 hex of the HLC>") in a
 * tracestate header value. Returns 0 and sets *hlc, TT_ENOTFOUND if absent, or
 * TT_ESYNTAX if the header or our entry is malformed (reason in errbuf). */
int tt_tracestate_get_hlc(const char *value, size_t len, tt_hlc *hlc, char *errbuf, size_t errlen);

/* tt_tracestate_put_hlc writes a tracestate value into out: our entry first
 * (per the spec, the updated entry moves to the front), then the members of
 * incoming (may be NULL) minus any old "tt" entry, dropping trailing members to
 * stay within 32 members and outlen. Returns 0, TT_ETOOBIG if even our entry
 * does not fit, or TT_ESYNTAX if incoming is malformed (then only ours is written). */
int tt_tracestate_put_hlc(const char *incoming, size_t inlen, tt_hlc hlc, char *out, size_t outlen);

/* Headers for a call: a caller-owned pair of buffers. */
typedef struct tt_headers {
    char traceparent[TT_TRACEPARENT_LEN + 1];
    char tracestate[TT_TRACESTATE_MAX];
} tt_headers;

/* tt_inject is the client side of a call: ticks the HLC as a send event and
 * writes span's context (traceparent) and the HLC (tracestate) into out.
 * span is usually the CLIENT span of the call. Returns 0 or TT_EINVAL. */
int tt_inject(const tt_span *span, tt_headers *out);

/* tt_extract is the server side: parses the incoming headers (tracestate may be
 * NULL), merges the sender's HLC into the local one as a receive event (a stamp
 * beyond the max offset is rejected, counted and ignored: TT_ECLOCK is returned
 * but ctx is still filled from traceparent). Returns 0, TT_ESYNTAX for a bad
 * traceparent (ctx untouched), or TT_ECLOCK. */
int tt_extract(const char *traceparent, const char *tracestate, tt_span_context *ctx);

/* tt_server_span_start: tt_extract then tt_span_start(kind SERVER) as a child of
 * the incoming context, or a new trace when the headers are absent or bad. */
void tt_server_span_start(tt_span *span, const char *name, const char *traceparent,
                          const char *tracestate);

/* tt_client_span_start starts a CLIENT span child of parent and injects its
 * headers into out, ready for the outgoing call. */
void tt_client_span_start(tt_span *span, const char *name, const tt_span_context *parent,
                          tt_headers *out);

/* ---- metrics ----------------------------------------------------------------
 * A metric handle is one name with one fixed label set (like Prometheus's
 * WithLabelValues child). labels is a NULL-terminated list of key, value,
 * key, value, ... (may be NULL). Handles live until tt_shutdown; creating the
 * same name and labels twice returns the same handle. Values are aggregated in
 * the process and flushed as samples every flush interval. NULL is returned
 * when not initialised or on a bad name (counted); every call accepts NULL.
 */
typedef struct tt_counter tt_counter;
typedef struct tt_gauge tt_gauge;
typedef struct tt_histogram tt_histogram;

tt_counter *tt_counter_new(const char *name, const char *help, const char *const *labels);
/* tt_counter_add adds v (must be >= 0; negative values are counted and ignored). */
void tt_counter_add(tt_counter *c, double v);
void tt_counter_inc(tt_counter *c);

tt_gauge *tt_gauge_new(const char *name, const char *help, const char *const *labels);
void tt_gauge_set(tt_gauge *g, double v);
void tt_gauge_add(tt_gauge *g, double v);

/* tt_histogram_new: log-linear buckets with 2^precision_bits linear sub-buckets
 * per power of two (relative error <= 2^-(precision_bits+1)); precision_bits in
 * [1, 7], 0 means the default 4 (error <= 3.2%). Mergeable across processes. */
tt_histogram *tt_histogram_new(const char *name, const char *help, const char *const *labels,
                               int precision_bits);
void tt_histogram_observe(tt_histogram *h, double v);

/* ---- events ------------------------------------------------------------------ */

typedef enum tt_severity {
    TT_SEV_DEBUG = 1,
    TT_SEV_INFO = 2,
    TT_SEV_NOTICE = 3,
    TT_SEV_WARNING = 4,
    TT_SEV_ERROR = 5,
    TT_SEV_CRITICAL = 6,
} tt_severity;

/* tt_event records a notification: severity, name, message (may be NULL) and
 * nkv key/values, all copied. Component is the service name of tt_config. */
void tt_event(tt_severity sev, const char *name, const char *message, const tt_kv *kvs, size_t nkv);

/* ---- state variables ----------------------------------------------------------
 * tt_state_set_* records that variable var of state log log changed to value,
 * with the HLC of the change and the previous value (resolved in HLC order by
 * the library). These window-logs are what consistent snapshots are cut from.
 */
void tt_state_set(const char *log, const char *var, tt_value value);
void tt_state_set_int(const char *log, const char *var, int64_t value);
void tt_state_set_double(const char *log, const char *var, double value);
void tt_state_set_str(const char *log, const char *var, const char *value);

/* ---- statistics ----------------------------------------------------------------- */

typedef struct tt_stats {
    uint64_t spans_recorded;        /* ended and buffered */
    uint64_t spans_unsampled;       /* not sampled at start */
    uint64_t spans_filtered;        /* dropped by name filter or minimum duration */
    uint64_t records_buffered;      /* all record kinds written to thread buffers */
    uint64_t records_dropped_full;  /* a thread buffer was full */
    uint64_t records_flushed;       /* written to the spool */
    uint64_t records_dropped_spool; /* in segments deleted by the size cap */
    uint64_t batches_written;
    uint64_t bytes_written;
    uint64_t segments_dropped;
    uint64_t write_errors;
    uint64_t hlc_rejected;  /* remote stamps beyond the max offset */
    uint64_t hlc_overflows; /* logical counter saturations */
    uint64_t bad_input;     /* bad headers, names, values, metric misuse */
    uint64_t threads;       /* threads that have recorded */
    uint64_t flushes;
} tt_stats;

/* tt_stats_get copies the counters into out (all zero if not initialised). */
void tt_stats_get(tt_stats *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
