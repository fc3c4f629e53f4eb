/*
 * link.h - the agent-to-server link protocol codec (docs/design/agent-link.md).
 * Pure: no I/O, no clock; the listener and the shipper own the sockets.
 *
 * The link is a persistent byte stream of frames:
 *   header (16 bytes): u32 magic "TTL1" | u8 type | u8 flags | u16 reserved 0 |
 *                      u32 payload_len | u32 header_crc (CRC32C of the 12 bytes before)
 *   payload (payload_len bytes, by type)
 *   u32 frame_crc (CRC32C of header and payload)
 * The header has its own CRC so a corrupt length is caught after 16 bytes,
 * before a reader waits for (or buffers) bytes that will never make a frame.
 *
 * Invariants: decoders never read outside their input; struct link_reader
 * holds only bytes that arrived (plus at most the rest of the frame whose
 * header it has checked, which is bounded by its limit); a stream error is
 * final (there is no resynchronising a TCP stream: drop the connection).
 */
#ifndef TT_LINK_H
#define TT_LINK_H

#include <stddef.h>
#include <stdint.h>
#include "telltale.h"
#include "core/batch.h"
#include "core/buf.h"

#define LINK_MAGIC          0x314c5454u /* "TTL1" as bytes */
#define LINK_VERSION        1
#define LINK_HEADER_LEN     16
#define LINK_TRAILER_LEN    4
#define LINK_FRAME_OVERHEAD (LINK_HEADER_LEN + LINK_TRAILER_LEN)
/* A BATCH payload is a u64 link sequence number and one core batch at its
 * largest (header with the longest origin, 64 MiB body, body CRC); the margin
 * rounds that up. Every other frame is small: LINK_MAX_CONTROL. */
#define LINK_MAX_PAYLOAD (BATCH_MAX_STORED + 4096u)
#define LINK_MAX_CONTROL (256u << 10)
#define LINK_MAX_STR     1024u /* node, role, release, messages, reasons */
#define LINK_MAX_ORIGINS 8192u /* entries of a WELCOME */
#define LINK_MSG_MAX     192   /* error messages, bytes with the NUL */

enum link_type {
    LINK_HELLO = 1,   /* agent -> server: who I am */
    LINK_WELCOME = 2, /* server -> agent: accepted, and what I already hold */
    LINK_BATCH = 3,   /* agent -> server: one core batch */
    LINK_ACK = 4,     /* server -> agent: that batch is durable */
    LINK_NACK = 5,    /* server -> agent: that batch was refused */
    LINK_PING = 6,    /* either way */
    LINK_PONG = 7,    /* the answer to a PING */
    LINK_BYE = 8,     /* either way: closing, and why */
};
#define LINK_TYPE_MAX LINK_BYE

/* NACK reasons. link_nack_retryable says which mean "send it again later". */
enum link_nack_reason {
    LINK_NACK_BAD_BATCH = 1,  /* corrupt or unreadable batch: do not resend */
    LINK_NACK_TOO_BIG = 2,    /* over the server's max batch bytes: split it */
    LINK_NACK_OVERLOADED = 3, /* back-pressure: resend after retry_after_ms */
    LINK_NACK_STORE = 4,      /* the store failed to make it durable: resend */
    LINK_NACK_ORIGIN = 5,     /* origin not this node's or out of order: do not resend */
    LINK_NACK_SHUTDOWN = 6,   /* server stopping: resend after reconnecting */
};

/* BYE codes (0 is a normal close). */
enum link_bye_code {
    LINK_BYE_NORMAL = 0,
    LINK_BYE_VERSION = 1,  /* protocol version not spoken */
    LINK_BYE_PROTOCOL = 2, /* the peer broke the protocol (bad frame, wrong type) */
    LINK_BYE_REFUSED = 3,  /* HELLO refused (unknown node, duplicate connection) */
    LINK_BYE_SHUTDOWN = 4, /* going away */
    LINK_BYE_IDLE = 5,     /* no traffic for too long */
};

/* A string borrowed from the frame (decoders) or the caller (encoders); not
 * NUL-terminated, at most LINK_MAX_STR bytes. */
struct link_str {
    const char *p;
    uint32_t len;
};

struct link_hello {
    uint16_t version; /* LINK_VERSION */
    struct link_str node, role, release, agent_version;
    uint64_t origin_id;   /* the agent's own origin (its own metrics, events) */
    tt_hlc hlc;           /* the agent's HLC when it sent this */
    uint64_t physical_ms; /* the agent's physical clock, ms since the epoch */
};

/* One (origin, durable_end) pair of a WELCOME: the server holds every record
 * of origin_id with a sequence number below durable_end (0: none). */
struct link_origin {
    uint64_t origin_id;
    uint64_t durable_end;
};

struct link_welcome {
    uint16_t version; /* the version the server will speak */
    tt_hlc hlc;
    uint64_t physical_ms;
    uint32_t max_batch_bytes; /* largest whole batch the server takes */
    uint32_t n_origins;       /* at most LINK_MAX_ORIGINS */
    /* Encoders: an array of n_origins. Decoders: NULL; read the entries with
     * link_welcome_origin (they are not aligned in the frame). */
    const struct link_origin *origins;
    const uint8_t *raw_origins; /* decoders: n_origins * 16 bytes in the frame */
};

struct link_batch {
    uint64_t seq;         /* link sequence number, per connection */
    const uint8_t *batch; /* the whole core batch, borrowed */
    size_t batch_len;     /* batch_total_len(&hdr) */
    struct batch_hdr hdr; /* decoders: its checked header (origin points into batch) */
};

struct link_ack {
    uint64_t seq; /* the BATCH acknowledged */
    uint64_t origin_id;
    uint64_t durable_end; /* of that origin, after this batch */
    tt_hlc hlc;           /* the server's HLC: merge it (hlc_recv) */
};

struct link_nack {
    uint64_t seq;
    uint16_t reason;         /* link_nack_reason; unknown values are passed through */
    uint8_t retry;           /* 1: the agent may send the batch again; 0: drop it */
    uint32_t retry_after_ms; /* a hint for retry 1; 0 = at once */
    struct link_str message;
};

struct link_ping {
    tt_hlc hlc;
    uint64_t physical_ms;
};

struct link_pong {
    uint64_t echo_ms; /* the PING's physical_ms, for the round-trip time */
    tt_hlc hlc;
    uint64_t physical_ms;
};

struct link_bye {
    uint16_t code; /* link_bye_code; unknown values are passed through */
    struct link_str reason;
};

/* ---- encoders ------------------------------------------------------------
 * Each appends one complete frame to out and returns 0; TT_EINVAL for a
 * field the decoder would refuse (string over LINK_MAX_STR, too many origins,
 * a batch that does not parse); or out's sticky error (TT_ENOMEM,
 * TT_ETOOBIG). On failure out is left as it was (an earlier sticky error is
 * returned as is). The structs are only read; nothing is kept. */
int link_put_hello(struct wbuf *out, const struct link_hello *h);
int link_put_welcome(struct wbuf *out, const struct link_welcome *w);
/* link_put_batch copies batch (batch_len bytes, one whole core batch whose
 * header parses and whose length is exactly batch_total_len) into a frame.
 * The body CRC is not recomputed: the receiver checks it. batch must not
 * point into out. */
int link_put_batch(struct wbuf *out, uint64_t seq, const void *batch, size_t batch_len);
int link_put_ack(struct wbuf *out, const struct link_ack *a);
int link_put_nack(struct wbuf *out, const struct link_nack *n);
int link_put_ping(struct wbuf *out, const struct link_ping *p);
int link_put_pong(struct wbuf *out, const struct link_pong *p);
int link_put_bye(struct wbuf *out, const struct link_bye *b);

/* link_batch_wrap frames a batch without copying it, for a writer that sends
 * head, the batch and tail with one writev: head gets the frame header and
 * the sequence number, tail the frame CRC (computed over the batch, so this
 * reads it once). Same checks and errors as link_put_batch. */
#define LINK_BATCH_HEAD_LEN (LINK_HEADER_LEN + 8)
int link_batch_wrap(uint8_t head[LINK_BATCH_HEAD_LEN], uint8_t tail[LINK_TRAILER_LEN], uint64_t seq,
                    const void *batch, size_t batch_len);

/* ---- the stream reader --------------------------------------------------- */

/* A frame from link_reader_next. payload is borrowed from the reader and
 * stays valid until the next link_reader_feed or link_reader_release (more
 * link_reader_next calls do not move it). offset is the stream offset of the
 * frame's first byte (bytes fed before it since link_reader_init). */
struct link_frame {
    uint8_t type;  /* link_type, checked */
    uint8_t flags; /* none defined: readers ignore them */
    uint32_t len;  /* payload bytes */
    const uint8_t *payload;
    uint64_t offset;
};

struct link_reader {
    uint8_t *data; /* owned; bytes fed and not yet consumed start at pos */
    size_t len, cap, pos;
    uint64_t base; /* stream offset of data[0] */
    uint32_t max_payload;
    int have_header; /* the header at pos is checked; frame_total is its size */
    size_t frame_total;
    int err; /* sticky: the first stream error */
    char msg[LINK_MSG_MAX];
};

/* link_reader_init prepares r for a new stream. max_payload bounds a BATCH
 * payload (0 = LINK_MAX_PAYLOAD; larger values are clamped to it); other
 * types are bounded by LINK_MAX_CONTROL. Allocates nothing. */
void link_reader_init(struct link_reader *r, uint32_t max_payload);
/* link_reader_release frees r's memory; r may be reused after link_reader_init. */
void link_reader_release(struct link_reader *r);

/* link_reader_feed copies n bytes that arrived (any split) into r. Memory
 * grows with the bytes fed, never ahead of them by more than the checked
 * frame being completed. Returns 0, TT_ENOMEM (r unchanged: the caller may
 * drop the connection), or r's stream error (nothing is buffered after one).
 * Invalidates the payload of frames returned so far. */
int link_reader_feed(struct link_reader *r, const void *p, size_t n);

/* link_reader_next looks for the next complete frame. Returns 1 and fills *f;
 * 0 when more bytes are needed; or a stream error, which is final (every
 * later call returns it, and r->msg or the err copy names the stream byte
 * offset and the fault): TT_ECORRUPT bad magic, header CRC or frame CRC;
 * TT_EUNSUPPORTED unknown frame type; TT_ETOOBIG payload length over the
 * limit (refused from the header, before its payload is buffered). err may
 * be NULL when errlen is 0. A bad magic is reported as soon as its first
 * wrong byte arrives. */
int link_reader_next(struct link_reader *r, struct link_frame *f, char *err, size_t errlen);

/* What link_reader_skip_frame dropped: an oversized frame whose header was
 * good. head holds the first head_have (<= 8) payload bytes the reader had
 * (a BATCH's seq); remaining is how many more stream bytes belong to the
 * frame (rest of the payload and its trailer), which the caller must discard
 * before feeding the reader again. */
struct link_skipped {
    uint8_t type;
    uint32_t len; /* the announced payload length */
    uint64_t offset;
    uint8_t head[8];
    uint32_t head_have;
    uint64_t remaining;
};

/* link_reader_skip_frame resynchronises r after link_reader_next returned
 * TT_ETOOBIG: that frame's header passed its CRC, so its length is the one
 * sent and the stream can continue after it. Drops the frame's bytes r holds
 * (keeping any that follow it), clears the error and fills *s. Returns 0, or
 * TT_EINVAL (r unchanged) when r is not stopped at TT_ETOOBIG. Skipping a
 * frame means reading what it announced, up to 4 GiB: the caller bounds it
 * (s->len) and the time it takes. */
int link_reader_skip_frame(struct link_reader *r, struct link_skipped *s);

/* link_reader_buffered: bytes held and not yet returned as frames (for
 * per-connection memory accounting). */
static inline size_t link_reader_buffered(const struct link_reader *r)
{
    return r->len - r->pos;
}

/* link_reader_pending: 1 if the reader holds a partial frame (a stream that
 * ends now is truncated), 0 if it stopped at a frame boundary. */
static inline int link_reader_pending(const struct link_reader *r)
{
    return r->len > r->pos;
}

/* ---- typed payload decoders ----------------------------------------------
 * Each decodes f's payload into *out, with strings and byte ranges borrowed
 * from the payload (valid as long as f->payload). Returns 0; TT_EINVAL if f
 * is of another type; TT_ETRUNC for a field cut short; TT_ECORRUPT for bytes
 * after the last field, a string over LINK_MAX_STR, a bad count or (BATCH) a
 * batch whose header, length or body CRC is wrong; TT_EVERSION (BATCH) for a
 * batch of a newer version, (HELLO) for a protocol version other than
 * LINK_VERSION, in which case out->version alone is filled so the server can
 * answer BYE LINK_BYE_VERSION. Messages name the stream offset of the field. */
int link_decode_hello(const struct link_frame *f, struct link_hello *out, char *err, size_t errlen);
int link_decode_welcome(const struct link_frame *f, struct link_welcome *out, char *err,
                        size_t errlen);
int link_decode_batch(const struct link_frame *f, struct link_batch *out, char *err, size_t errlen);
int link_decode_ack(const struct link_frame *f, struct link_ack *out, char *err, size_t errlen);
int link_decode_nack(const struct link_frame *f, struct link_nack *out, char *err, size_t errlen);
int link_decode_ping(const struct link_frame *f, struct link_ping *out, char *err, size_t errlen);
int link_decode_pong(const struct link_frame *f, struct link_pong *out, char *err, size_t errlen);
int link_decode_bye(const struct link_frame *f, struct link_bye *out, char *err, size_t errlen);

/* link_welcome_origin returns entry i (< w->n_origins) of a decoded or
 * encoder-side WELCOME. */
struct link_origin link_welcome_origin(const struct link_welcome *w, uint32_t i);

/* link_type_name: "HELLO", ... or "unknown" (static). */
const char *link_type_name(uint8_t type);
/* link_nack_retryable: 1 for the reasons a sender should retry by default. */
int link_nack_retryable(uint16_t reason);

#endif
