/*
 * remote_write.h - POST /api/v1/write: Prometheus remote write 1.0, so that a
 * Prometheus (or any remote-write sender) can write to Telltale.
 *
 * The body is a snappy block (not framed) holding a protobuf
 * prometheus.WriteRequest:
 *   WriteRequest { repeated TimeSeries timeseries = 1; ... }
 *   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; ... }
 *   Label        { string name = 1; string value = 2; }
 *   Sample       { double value = 1; int64 timestamp = 2; }  (milliseconds)
 * Every other field (metadata, exemplars, histograms, later additions) is
 * skipped by the protobuf wire rules (wire types 0, 1, 2 and 5); groups
 * (3, 4), field number 0 and a known field with the wrong wire type are
 * errors. The decoder is hand-written for exactly this schema.
 *
 * The rule for bad input (nothing half-applied): the whole request is
 * decompressed (its announced size checked against RW_MAX_DECOMPRESSED
 * first), decoded and validated before anything is appended. A malformed
 * body is answered 400 naming what was wrong and the byte offset in the
 * decompressed message; a bad label set (empty or invalid UTF-8 name, labels
 * not sorted by name or a name twice, no labels) 400 naming the series
 * index. Then every sample goes into one head appender batch that is
 * committed at once. Samples the head refuses one by one (older than the
 * out-of-order window, another value at a stored timestamp) are skipped and
 * the rest is committed; the answer is then 400 with their counts, as
 * Prometheus's own receiver does, so that the sender drops them instead of
 * retrying the batch forever. Exact duplicates (a resent batch) are fine.
 * Success is 204 with no body; 503 while the head opens (WAL replay) or when
 * the commit fails (the sender retries); 415 for another Content-Type or
 * Content-Encoding (remote write 2.0 is not supported); 413 for bodies over
 * RW_MAX_BODY, decompressed sizes over RW_MAX_DECOMPRESSED or more than
 * HEAD_APPENDER_MAX_SAMPLES samples in one request.
 *
 * Labels are stored as sent; an empty value is the same as no label.
 */
#ifndef TT_REMOTE_WRITE_H
#define TT_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct server_store;

#define RW_MAX_BODY         ((size_t)64 << 20)  /* compressed request body */
#define RW_MAX_DECOMPRESSED ((size_t)256 << 20) /* the protobuf message */

struct rw_label {
    const char *name; /* NUL-terminated; may hold a NUL byte sent inside */
    const char *value;
    uint32_t name_len, value_len;
};

struct rw_sample {
    double value;
    int64_t timestamp_ms;
};

struct rw_series {
    struct rw_label *labels; /* in the order sent */
    size_t nlabels;
    struct rw_sample *samples;
    size_t nsamples;
};

/* A decoded WriteRequest. Owns every array and string (one allocation each
 * for series, labels, samples and string bytes). */
struct rw_request {
    struct rw_series *series;
    size_t nseries;
    size_t nlabels;  /* over all series */
    size_t nsamples; /* over all series */
    /* private */
    struct rw_label *label_store;
    struct rw_sample *sample_store;
    char *strs;
};

/* Where and why decoding or validation failed. */
struct rw_error {
    size_t offset; /* byte offset in the decoded input (decode errors) */
    size_t series; /* series index (validation errors) */
    char msg[256]; /* a full sentence for people, offset or series included */
};

/* remote_write_decompress decodes a snappy block into a new buffer (*out,
 * the caller frees it; *out_len bytes, followed by one NUL). Returns 0;
 * TT_ETOOBIG when the announced size exceeds max_out (checked before any
 * allocation); TT_ECORRUPT for bytes that are not valid snappy; TT_ENOMEM.
 * err (may be NULL) gets a message. */
int remote_write_decompress(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                            size_t *out_len, struct rw_error *err);

/* remote_write_decode decodes a protobuf WriteRequest from buf[0..len) into
 * *req (initialised here; release it with remote_write_release whatever the
 * result). Returns 0; TT_ESYNTAX for malformed protobuf (truncated varint,
 * length past the end, wrong wire type for a known field, group or field 0),
 * with the byte offset and what was wrong in err (may be NULL); TT_ENOMEM. */
int remote_write_decode(const uint8_t *buf, size_t len, struct rw_request *req,
                        struct rw_error *err);

/* remote_write_validate checks every series' label set: at least one label,
 * names non-empty, names and values valid UTF-8 of at most LABELS_STR_MAX
 * bytes, names strictly ascending in byte order (so no name twice). Returns 0
 * or TT_EINVAL with the series index and the problem in err (may be NULL). */
int remote_write_validate(const struct rw_request *req, struct rw_error *err);

/* remote_write_release frees what req holds and empties it (safe twice). */
void remote_write_release(struct rw_request *req);

/* remote_write_register adds POST /api/v1/write to srv, appending to the head
 * of store (borrowed: it must outlive the server). Returns 0 or
 * TT_ENOMEM/TT_EINVAL. */
int remote_write_register(struct server *srv, struct server_store *store);

#endif
