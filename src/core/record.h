/*
 * record.h - the typed records every Telltale process exchanges (span, metric
 * sample, event, state change, TSDB WAL series and samples; more types
 * later), and their one codec.
 *
 * Wire form of a record (docs/design/records.md has the full byte layout):
 *   u8 type | u8 flags | u32 len | u64 hlc | i64 time_ns | payload (len - 16 bytes)
 * A reader skips a record of an unknown type by len, and ignores payload bytes
 * after the fields it knows, so new types and new trailing fields never break
 * old readers.
 *
 * Decoding is zero-copy: strings and nested lists in the decoded structs point
 * into the caller's buffer and are valid as long as it is. Key/value lists
 * (attributes, labels) stay encoded and are walked with rec_kv_next(); the
 * encoder takes lists in the same encoded form, built with rec_kv_put().
 */
#ifndef TT_RECORD_H
#define TT_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "telltale.h"
#include "core/buf.h"

enum rec_type {
    REC_SPAN = 1,
    REC_METRIC = 2,
    REC_EVENT = 3,
    REC_STATE = 4,
    /* 5..15 reserved: digest, file check, ... (agent issue) */
    REC_SERIES = 16,  /* TSDB WAL: a series' ref and label set */
    REC_SAMPLES = 17, /* TSDB WAL: a run of (series ref, ms, value) samples */
    REC_ORIGIN = 18,  /* TSDB WAL: an agent origin's durable_end */
    /* 19.. free */
};

/* Record flags (the u8 after the type). REC_FLAG_OWN_HLC: in a batch the
 * server made from OTLP or Zipkin input, the hlc is the item's own (a
 * span's, from its tracestate) rather than the server's receive stamp.
 * Batches from agents always carry the item's own HLC. */
#define REC_FLAG_OWN_HLC 0x01

#define REC_HDR_LEN   6           /* type, flags, len */
#define REC_FIXED_LEN 16          /* hlc, time_ns */
#define REC_MAX_LEN   (16u << 20) /* one record is at most 16 MiB */

/* A string inside a buffer: not NUL-terminated. */
struct rec_str {
    const char *p;
    uint32_t len;
};

struct rec_value {
    uint8_t type; /* tt_value_type */
    union {
        struct rec_str s;
        int64_t i;
        double d;
        int b;
    } u;
};

/* An encoded list: count entries in bytes[0..len). prev is iterator state for
 * rec_bucket_next (the index of the last bucket returned, 0 before the first):
 * decoders set it to 0, and so does any initialiser that leaves it out. */
struct rec_list {
    uint32_t count;
    const uint8_t *bytes;
    uint32_t len;
    int32_t prev;
};

struct rec_span {
    uint8_t trace_id[16];
    uint64_t span_id;
    uint64_t parent_id;   /* 0 for a root span */
    uint64_t duration_ns; /* start is the record's time_ns */
    uint8_t kind;         /* tt_span_kind */
    uint8_t status;       /* tt_status */
    uint8_t flags;        /* TT_FLAG_SAMPLED */
    struct rec_str name;
    struct rec_str status_message;
    struct rec_list attrs;  /* kv list */
    struct rec_list events; /* span event list (rec_span_event_next) */
    struct rec_list links;  /* link list (rec_span_link_next) */
};

struct rec_span_event {
    int64_t time_ns; /* absolute */
    struct rec_str name;
    struct rec_list attrs;
};

struct rec_span_link {
    uint8_t trace_id[16];
    uint64_t span_id;
    uint8_t flags;
    struct rec_list attrs;
};

enum rec_metric_kind {
    REC_METRIC_COUNTER = 1,
    REC_METRIC_GAUGE = 2,
    REC_METRIC_HISTOGRAM = 3,
};

struct rec_metric {
    uint8_t kind; /* rec_metric_kind */
    struct rec_str name;
    struct rec_str help;
    struct rec_list labels; /* kv list, string values */
    double value;           /* counter (cumulative) and gauge */
    /* histogram (log-linear, core/loglin.h): */
    uint8_t precision_bits;
    uint64_t count;
    double sum, min, max;
    struct rec_list buckets; /* bucket list (rec_bucket_next): sorted by index */
};

struct rec_event {
    uint8_t severity; /* tt_severity */
    struct rec_str component;
    struct rec_str name;
    struct rec_str message;
    struct rec_list attrs;
};

struct rec_state {
    struct rec_str log;
    struct rec_str var;
    struct rec_value value;
    struct rec_value prev; /* type TT_VAL_NONE for the first change */
};

/* One label of a series: a name and a value, both strings. */
struct rec_label {
    struct rec_str name;
    struct rec_str value;
};

/* Series (type 16): the WAL's declaration of a series ref and its labels. */
struct rec_series {
    uint64_t ref;
    struct rec_list labels; /* label list (rec_label_next) */
};

/* Origin (type 18): the WAL's note that every record an agent origin sent
 * below sequence number durable_end is stored (docs/design/agent-link.md),
 * and, for the batch that raised it from prev_end, where its copy in the
 * server's record log ends (reclog_seg 0: it has none). The last three
 * fields are optional on the wire (0 when absent). */
struct rec_origin {
    uint64_t origin_id;
    uint64_t durable_end;
    uint64_t prev_end;
    uint32_t reclog_seg;
    uint64_t reclog_end;
};

/* How a samples record stores values: raw f64 bits, or each value's bits
 * XOR the previous value's (0 before the first) with its zero bytes at both
 * ends left out (docs/design/records.md). */
enum rec_samples_enc {
    REC_SAMPLES_RAW = 0,
    REC_SAMPLES_XOR = 1,
};

/* One sample: series ref, timestamp in milliseconds since the epoch, value. */
struct rec_sample {
    uint64_t ref;
    int64_t t_ms;
    double v;
};

/* Samples (type 17): a run of samples of any series, in any order. */
struct rec_samples {
    uint8_t value_enc;       /* rec_samples_enc */
    struct rec_list samples; /* sample list (rec_sample_next) */
};

/* Walks a sample list: refs and timestamps are deltas from the previous
 * entry and values may be XOR'd with the previous one, so the iterator
 * carries the running values. */
struct rec_sample_iter {
    struct rec_list list;
    uint8_t value_enc;
    uint64_t ref;
    int64_t t_ms;
    uint64_t bits;
};

/* A record as framed, with its common header decoded. */
struct rec {
    uint8_t type;
    uint8_t flags;
    tt_hlc hlc;
    int64_t time_ns;
    const uint8_t *payload;
    uint32_t payload_len;
};

/* rec_next reads the next record frame from r. Returns 1 with *out filled, 0
 * at the end of r, or TT_ETRUNC/TT_ECORRUPT (message in err, with the offset
 * relative to base) when the frame does not fit or its len is impossible. */
int rec_next(struct rbuf *r, const uint8_t *base, struct rec *out, char *err, size_t errlen);

/* rec_decode_* decode a record's payload. Return 0 or TT_ECORRUPT (a field
 * runs past the payload or is impossible) with a message naming the field in
 * err; TT_EINVAL if the type differs; rec_decode_metric returns
 * TT_EUNSUPPORTED for a metric kind it does not know. Payload bytes after the
 * known fields are ignored. Lists are checked for a plausible count and byte
 * length only; their entries are checked by the iterators. */
int rec_decode_span(const struct rec *r, struct rec_span *out, char *err, size_t errlen);
int rec_decode_metric(const struct rec *r, struct rec_metric *out, char *err, size_t errlen);
int rec_decode_event(const struct rec *r, struct rec_event *out, char *err, size_t errlen);
int rec_decode_state(const struct rec *r, struct rec_state *out, char *err, size_t errlen);
/* rec_decode_series and rec_decode_samples decode the TSDB WAL records;
 * rec_decode_samples returns TT_EUNSUPPORTED for an unknown value encoding. */
int rec_decode_series(const struct rec *r, struct rec_series *out, char *err, size_t errlen);
int rec_decode_samples(const struct rec *r, struct rec_samples *out, char *err, size_t errlen);
/* rec_decode_origin decodes an origin record (type 18). */
int rec_decode_origin(const struct rec *r, struct rec_origin *out, char *err, size_t errlen);

/* List iterators: start with it = list (a copy); each call returns 1 with the
 * next entry, 0 at the end, or TT_ECORRUPT on a malformed entry (including
 * bytes left over after the last entry). rec_bucket_next returns absolute
 * indexes, carrying the previous one in it->prev. */
int rec_kv_next(struct rec_list *it, struct rec_str *key, struct rec_value *value);
int rec_span_event_next(struct rec_list *it, struct rec_span_event *out);
int rec_span_link_next(struct rec_list *it, struct rec_span_link *out);
int rec_bucket_next(struct rec_list *it, int32_t *index, uint64_t *count);
int rec_label_next(struct rec_list *it, struct rec_label *out);
/* rec_sample_iter_init starts a walk over s's samples; rec_sample_next then
 * returns 1 with the next sample (absolute ref, time and value), 0 at the
 * end, or TT_ECORRUPT (a malformed entry, or bytes left after the last). */
void rec_sample_iter_init(struct rec_sample_iter *it, const struct rec_samples *s);
int rec_sample_next(struct rec_sample_iter *it, struct rec_sample *out);

/* Encoding. Each rec_put_* appends one whole record to b and returns 0 or the
 * buffer's sticky error; TT_ETOOBIG (not sticky) for a record over
 * REC_MAX_LEN; TT_EINVAL for an unknown value type or metric kind. On any
 * failure b->len is what it was before the call. Lists are passed encoded
 * (count + bytes); a rec_str or list with len 0 may have a NULL pointer. */
int rec_put_span(struct wbuf *b, tt_hlc hlc, int64_t start_ns, const struct rec_span *s);
int rec_put_metric(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_metric *m);
int rec_put_event(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_event *e);
int rec_put_state(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_state *s);
/* rec_put_series appends a series record: ref and n labels (their names and
 * values are copied). rec_put_samples appends n samples (n <= UINT32_MAX)
 * with value_enc (rec_samples_enc; TT_EINVAL for another). Errors as above. */
int rec_put_series(struct wbuf *b, tt_hlc hlc, int64_t time_ns, uint64_t ref,
                   const struct rec_label *labels, size_t n);
int rec_put_samples(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_sample *s,
                    size_t n, uint8_t value_enc);
/* rec_put_origin appends an origin record (every field of o). */
int rec_put_origin(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_origin *o);
/* rec_put_raw appends a record of any type with a pre-encoded payload. */
int rec_put_raw(struct wbuf *b, uint8_t type, tt_hlc hlc, int64_t time_ns, const void *payload,
                size_t len);

/* List builders: append one entry to the list being built in b (the caller
 * counts entries and passes count, b->data, b->len as a struct rec_list).
 * A value of unknown type sets b->err to TT_EINVAL. rec_bucket_put writes
 * index - prev_index (prev_index 0 for the first bucket); buckets must be put
 * in increasing index order. */
void rec_kv_put(struct wbuf *b, const char *key, size_t keylen, const struct rec_value *v);
void rec_span_event_put(struct wbuf *b, int64_t time_ns, const char *name, size_t namelen,
                        const struct rec_list *attrs);
void rec_span_link_put(struct wbuf *b, const uint8_t trace_id[16], uint64_t span_id, uint8_t flags,
                       const struct rec_list *attrs);
void rec_bucket_put(struct wbuf *b, int32_t prev_index, int32_t index, uint64_t count);

/* rec_type_name: "span", "metric", "event", "state", "series", "samples",
 * "origin" or "unknown". */
const char *rec_type_name(uint8_t type);

#endif
