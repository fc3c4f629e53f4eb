/*
 * record.c - the record codec: framing (rec_next), the typed payload decoders
 * and encoders, and the list iterators and builders. docs/design/records.md
 * has the byte layouts.
 *
 * Invariants: a decoder never reads outside [payload, payload + payload_len)
 * and never allocates; what it returns points into the caller's buffer. Every
 * length is checked against the bytes actually left before it is used, so a
 * malformed record is reported (TT_ECORRUPT, naming the field), never
 * half-read. Unknown trailing payload bytes are ignored (newer writers may
 * add fields at the end). Encoders leave b as it was when they fail.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "core/loglin.h"
#include "core/record.h"

#define LIST_HDR_LEN 8 /* u32 count, u32 byte_len */

/* The smallest encoded entry of each list, so a list's count can be checked
 * against its byte length before anything walks it. */
#define KV_MIN         2  /* empty key (1) + NONE value (1) */
#define EVENT_MIN      17 /* time (8) + empty name (1) + empty attrs (8) */
#define LINK_MIN       33 /* trace id (16) + span id (8) + flags (1) + attrs (8) */
#define BUCKET_MIN     2  /* index delta (1) + count (1) */
#define LABEL_MIN      2  /* empty name (1) + empty value (1) */
#define SAMPLE_RAW_MIN 10 /* ref delta (1) + time delta (1) + f64 (8) */
#define SAMPLE_XOR_MIN 3  /* ref delta (1) + time delta (1) + xor control byte (1) */

#define TRY(x)          \
    do {                \
        int rc_ = (x);  \
        if (rc_ != 0)   \
            return rc_; \
    } while (0)

/* A payload (or list) being decoded, and where to say what went wrong. */
struct dec {
    struct rbuf r;
    const char *what; /* "span", "metric", ...: prefix of messages */
    char *err;
    size_t errlen; /* 0: no message wanted (iterators) */
};

/* An address for empty inputs given as NULL, so no arithmetic is ever done
 * on a null pointer. */
static const uint8_t empty_input[1];

static void dec_init(struct dec *d, const void *p, size_t n, const char *what, char *err,
                     size_t errlen)
{
    rbuf_init(&d->r, p != NULL ? p : empty_input, n);
    d->what = what;
    d->err = err;
    d->errlen = errlen;
}

__attribute__((format(printf, 4, 5))) static int fail(struct dec *d, int code, const char *field,
                                                      const char *fmt, ...)
{
    if (d->errlen == 0 || d->err == NULL)
        return code;
    int n = snprintf(d->err, d->errlen, "%s.%s: ", d->what, field);
    if (n >= 0 && (size_t)n < d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int need(struct dec *d, const char *field, size_t n)
{
    size_t left = rbuf_left(&d->r);
    if (left < n)
        return fail(d, TT_ECORRUPT, field, "needs %zu bytes, payload has %zu left", n, left);
    return 0;
}

static int get_u8(struct dec *d, const char *field, uint8_t *v)
{
    TRY(need(d, field, 1));
    *v = *d->r.p++;
    return 0;
}

static int get_u64(struct dec *d, const char *field, uint64_t *v)
{
    TRY(need(d, field, 8));
    *v = get_le64(d->r.p);
    d->r.p += 8;
    return 0;
}

static int get_u32(struct dec *d, const char *field, uint32_t *v)
{
    TRY(need(d, field, 4));
    *v = get_le32(d->r.p);
    d->r.p += 4;
    return 0;
}

static int get_f64(struct dec *d, const char *field, double *v)
{
    uint64_t u;
    TRY(get_u64(d, field, &u));
    memcpy(v, &u, sizeof *v);
    return 0;
}

static int get_uvarint(struct dec *d, const char *field, uint64_t *v)
{
    *v = rbuf_uvarint(&d->r);
    if (d->r.err == 0)
        return 0;
    if (d->r.err == TT_ETRUNC)
        return fail(d, TT_ECORRUPT, field, "varint runs past the payload end");
    return fail(d, TT_ECORRUPT, field, "varint longer than 10 bytes");
}

static int get_svarint(struct dec *d, const char *field, int64_t *v)
{
    uint64_t u;
    TRY(get_uvarint(d, field, &u));
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

static int get_str(struct dec *d, const char *field, struct rec_str *s)
{
    uint64_t n;
    TRY(get_uvarint(d, field, &n));
    size_t left = rbuf_left(&d->r);
    if (n > left)
        return fail(d, TT_ECORRUPT, field, "length %" PRIu64 " exceeds payload (%zu bytes left)", n,
                    left);
    s->p = (const char *)d->r.p;
    s->len = (uint32_t)n;
    d->r.p += n;
    return 0;
}

/* get_list reads a list header and takes its bytes, checking that count
 * entries of at least min_entry bytes each can fit them. */
static int get_list(struct dec *d, const char *field, uint32_t min_entry, struct rec_list *l)
{
    TRY(need(d, field, LIST_HDR_LEN));
    uint32_t count = get_le32(d->r.p);
    uint32_t len = get_le32(d->r.p + 4);
    d->r.p += LIST_HDR_LEN;
    size_t left = rbuf_left(&d->r);
    if (len > left)
        return fail(d, TT_ECORRUPT, field,
                    "byte length %" PRIu32 " exceeds payload (%zu bytes left)", len, left);
    if ((uint64_t)count * min_entry > len)
        return fail(d, TT_ECORRUPT, field, "%" PRIu32 " entries cannot fit in %" PRIu32 " bytes",
                    count, len);
    if (count == 0 && len != 0)
        return fail(d, TT_ECORRUPT, field, "no entries but %" PRIu32 " bytes", len);
    l->count = count;
    l->bytes = d->r.p;
    l->len = len;
    l->prev = 0;
    d->r.p += len;
    return 0;
}

static int get_value(struct dec *d, const char *field, struct rec_value *v)
{
    uint8_t t;
    TRY(get_u8(d, field, &t));
    v->type = t;
    switch (t) {
    case TT_VAL_NONE:
        v->u.i = 0;
        return 0;
    case TT_VAL_STR:
        return get_str(d, field, &v->u.s);
    case TT_VAL_INT:
        return get_svarint(d, field, &v->u.i);
    case TT_VAL_DOUBLE:
        return get_f64(d, field, &v->u.d);
    case TT_VAL_BOOL: {
        uint8_t b;
        TRY(get_u8(d, field, &b));
        if (b > 1)
            return fail(d, TT_ECORRUPT, field, "bool value %u is not 0 or 1", b);
        v->u.b = b;
        return 0;
    }
    default:
        return fail(d, TT_ECORRUPT, field, "unknown value type %u", t);
    }
}

/* ---- framing ------------------------------------------------------------ */

int rec_next(struct rbuf *r, const uint8_t *base, struct rec *out, char *err, size_t errlen)
{
    if (r->err) {
        if (errlen > 0)
            snprintf(err, errlen, "record reader already failed: %s", tt_strerror(r->err));
        return r->err;
    }
    size_t left = rbuf_left(r);
    if (left == 0)
        return 0;
    size_t off = base != NULL ? (size_t)(r->p - base) : 0;
    const uint8_t *p = r->p;
    int code = 0;
    if (left < REC_HDR_LEN) {
        code = TT_ETRUNC;
        if (errlen > 0)
            snprintf(err, errlen, "record at offset %zu: header needs %d bytes, %zu left", off,
                     REC_HDR_LEN, left);
        goto out;
    }
    uint32_t len = get_le32(p + 2);
    if (len < REC_FIXED_LEN || len > REC_MAX_LEN) {
        code = TT_ECORRUPT;
        if (errlen > 0)
            snprintf(err, errlen, "record at offset %zu: impossible length %" PRIu32, off, len);
        goto out;
    }
    if (len > left - REC_HDR_LEN) {
        code = TT_ETRUNC;
        if (errlen > 0)
            snprintf(err, errlen,
                     "record at offset %zu: length %" PRIu32 " runs past the end (%zu bytes left)",
                     off, len, left - REC_HDR_LEN);
        goto out;
    }
    out->type = p[0];
    out->flags = p[1];
    out->hlc = get_le64(p + REC_HDR_LEN);
    out->time_ns = (int64_t)get_le64(p + REC_HDR_LEN + 8);
    out->payload = p + REC_HDR_LEN + REC_FIXED_LEN;
    out->payload_len = len - REC_FIXED_LEN;
    r->p = p + REC_HDR_LEN + len;
    return 1;
out:
    r->err = code;
    return code;
}

const char *rec_type_name(uint8_t type)
{
    switch (type) {
    case REC_SPAN:
        return "span";
    case REC_METRIC:
        return "metric";
    case REC_EVENT:
        return "event";
    case REC_STATE:
        return "state";
    case REC_SERIES:
        return "series";
    case REC_SAMPLES:
        return "samples";
    case REC_ORIGIN:
        return "origin";
    default:
        return "unknown";
    }
}

/* ---- payload decoders --------------------------------------------------- */

static int start_decode(struct dec *d, const struct rec *r, uint8_t type, char *err, size_t errlen)
{
    const char *what = rec_type_name(type);
    if (r->type != type) {
        if (errlen > 0)
            snprintf(err, errlen, "%s: record type %u (%s) is not %s", what, r->type,
                     rec_type_name(r->type), what);
        return TT_EINVAL;
    }
    dec_init(d, r->payload, r->payload_len, what, err, errlen);
    return 0;
}

int rec_decode_span(const struct rec *r, struct rec_span *out, char *err, size_t errlen)
{
    struct dec d;
    TRY(start_decode(&d, r, REC_SPAN, err, errlen));
    TRY(need(&d, "trace_id", sizeof out->trace_id));
    memcpy(out->trace_id, d.r.p, sizeof out->trace_id);
    d.r.p += sizeof out->trace_id;
    TRY(get_u64(&d, "span_id", &out->span_id));
    TRY(get_u64(&d, "parent_id", &out->parent_id));
    TRY(get_uvarint(&d, "duration_ns", &out->duration_ns));
    TRY(get_u8(&d, "kind", &out->kind));
    TRY(get_u8(&d, "status", &out->status));
    TRY(get_u8(&d, "flags", &out->flags));
    TRY(get_str(&d, "name", &out->name));
    TRY(get_str(&d, "status_message", &out->status_message));
    TRY(get_list(&d, "attrs", KV_MIN, &out->attrs));
    TRY(get_list(&d, "events", EVENT_MIN, &out->events));
    TRY(get_list(&d, "links", LINK_MIN, &out->links));
    return 0;
}

int rec_decode_metric(const struct rec *r, struct rec_metric *out, char *err, size_t errlen)
{
    struct dec d;
    TRY(start_decode(&d, r, REC_METRIC, err, errlen));
    TRY(get_u8(&d, "kind", &out->kind));
    TRY(get_str(&d, "name", &out->name));
    TRY(get_str(&d, "help", &out->help));
    TRY(get_list(&d, "labels", KV_MIN, &out->labels));
    out->value = 0;
    out->precision_bits = 0;
    out->count = 0;
    out->sum = out->min = out->max = 0;
    memset(&out->buckets, 0, sizeof out->buckets);
    switch (out->kind) {
    case REC_METRIC_COUNTER:
    case REC_METRIC_GAUGE:
        return get_f64(&d, "value", &out->value);
    case REC_METRIC_HISTOGRAM:
        TRY(get_u8(&d, "precision", &out->precision_bits));
        if (out->precision_bits < LOGLIN_P_MIN || out->precision_bits > LOGLIN_P_MAX)
            return fail(&d, TT_ECORRUPT, "precision", "%u is outside [%d, %d]", out->precision_bits,
                        LOGLIN_P_MIN, LOGLIN_P_MAX);
        TRY(get_uvarint(&d, "count", &out->count));
        TRY(get_f64(&d, "sum", &out->sum));
        TRY(get_f64(&d, "min", &out->min));
        TRY(get_f64(&d, "max", &out->max));
        return get_list(&d, "buckets", BUCKET_MIN, &out->buckets);
    default:
        return fail(&d, TT_EUNSUPPORTED, "kind", "unknown metric kind %u", out->kind);
    }
}

int rec_decode_event(const struct rec *r, struct rec_event *out, char *err, size_t errlen)
{
    struct dec d;
    TRY(start_decode(&d, r, REC_EVENT, err, errlen));
    TRY(get_u8(&d, "severity", &out->severity));
    TRY(get_str(&d, "component", &out->component));
    TRY(get_str(&d, "name", &out->name));
    TRY(get_str(&d, "message", &out->message));
    TRY(get_list(&d, "attrs", KV_MIN, &out->attrs));
    return 0;
}

int rec_decode_state(const struct rec *r, struct rec_state *out, char *err, size_t errlen)
{
    struct dec d;
    TRY(start_decode(&d, r, REC_STATE, err, errlen));
    TRY(get_str(&d, "log", &out->log));
    TRY(get_str(&d, "var", &out->var));
    TRY(get_value(&d, "value", &out->value));
    TRY(get_value(&d, "prev", &out->prev));
    return 0;
}

int rec_decode_series(const struct rec *r, struct rec_series *out, char *err, size_t errlen)
{
    struct dec d;
    TRY(start_decode(&d, r, REC_SERIES, err, errlen));
    TRY(get_u64(&d, "ref", &out->ref));
    TRY(get_list(&d, "labels", LABEL_MIN, &out->labels));
    return 0;
}

int rec_decode_samples(const struct rec *r, struct rec_samples *out, char *err, size_t errlen)
{
    struct dec d;
    TRY(start_decode(&d, r, REC_SAMPLES, err, errlen));
    TRY(get_u8(&d, "value_enc", &out->value_enc));
    if (out->value_enc != REC_SAMPLES_RAW && out->value_enc != REC_SAMPLES_XOR)
        return fail(&d, TT_EUNSUPPORTED, "value_enc", "unknown value encoding %u", out->value_enc);
    return get_list(&d, "samples",
                    out->value_enc == REC_SAMPLES_RAW ? SAMPLE_RAW_MIN : SAMPLE_XOR_MIN,
                    &out->samples);
}

int rec_decode_origin(const struct rec *r, struct rec_origin *out, char *err, size_t errlen)
{
    struct dec d;
    TRY(start_decode(&d, r, REC_ORIGIN, err, errlen));
    TRY(get_u64(&d, "origin_id", &out->origin_id));
    TRY(get_u64(&d, "durable_end", &out->durable_end));
    out->prev_end = 0;
    out->reclog_seg = 0;
    out->reclog_end = 0;
    if (rbuf_left(&d.r) == 0)
        return 0; /* written without the record-log position */
    TRY(get_u64(&d, "prev_end", &out->prev_end));
    TRY(get_u32(&d, "reclog_seg", &out->reclog_seg));
    TRY(get_u64(&d, "reclog_end", &out->reclog_end));
    return 0;
}

/* ---- list iterators ----------------------------------------------------- */

/* list_start: 0 to go on with the next entry of it (d set up over its bytes),
 * or what the iterator returns: 0 at a clean end, TT_ECORRUPT for bytes left
 * after the last entry or entries without bytes. */
static int list_start(const struct rec_list *it, struct dec *d, int *ret)
{
    if (it->count == 0) {
        *ret = it->len == 0 ? 0 : TT_ECORRUPT;
        return 1;
    }
    if (it->len == 0 || it->bytes == NULL) {
        *ret = TT_ECORRUPT;
        return 1;
    }
    dec_init(d, it->bytes, it->len, "list", NULL, 0);
    return 0;
}

static void list_advance(struct rec_list *it, const struct dec *d)
{
    uint32_t used = (uint32_t)(d->r.p - it->bytes);
    it->bytes += used;
    it->len -= used;
    it->count--;
}

int rec_kv_next(struct rec_list *it, struct rec_str *key, struct rec_value *value)
{
    struct dec d;
    int ret;
    if (list_start(it, &d, &ret))
        return ret;
    TRY(get_str(&d, "key", key));
    TRY(get_value(&d, "value", value));
    list_advance(it, &d);
    return 1;
}

int rec_span_event_next(struct rec_list *it, struct rec_span_event *out)
{
    struct dec d;
    int ret;
    uint64_t t;
    if (list_start(it, &d, &ret))
        return ret;
    TRY(get_u64(&d, "time_ns", &t));
    out->time_ns = (int64_t)t;
    TRY(get_str(&d, "name", &out->name));
    TRY(get_list(&d, "attrs", KV_MIN, &out->attrs));
    list_advance(it, &d);
    return 1;
}

int rec_span_link_next(struct rec_list *it, struct rec_span_link *out)
{
    struct dec d;
    int ret;
    if (list_start(it, &d, &ret))
        return ret;
    TRY(need(&d, "trace_id", sizeof out->trace_id));
    memcpy(out->trace_id, d.r.p, sizeof out->trace_id);
    d.r.p += sizeof out->trace_id;
    TRY(get_u64(&d, "span_id", &out->span_id));
    TRY(get_u8(&d, "flags", &out->flags));
    TRY(get_list(&d, "attrs", KV_MIN, &out->attrs));
    list_advance(it, &d);
    return 1;
}

int rec_bucket_next(struct rec_list *it, int32_t *index, uint64_t *count)
{
    struct dec d;
    int ret;
    int64_t delta;
    if (list_start(it, &d, &ret))
        return ret;
    TRY(get_svarint(&d, "index", &delta));
    TRY(get_uvarint(&d, "count", count));
    /* prev + delta must stay an int32; checked without overflowing int64. */
    if (delta > (int64_t)INT32_MAX - it->prev || delta < (int64_t)INT32_MIN - it->prev)
        return TT_ECORRUPT;
    *index = (int32_t)(it->prev + delta);
    it->prev = *index;
    list_advance(it, &d);
    return 1;
}

int rec_label_next(struct rec_list *it, struct rec_label *out)
{
    struct dec d;
    int ret;
    if (list_start(it, &d, &ret))
        return ret;
    TRY(get_str(&d, "name", &out->name));
    TRY(get_str(&d, "value", &out->value));
    list_advance(it, &d);
    return 1;
}

void rec_sample_iter_init(struct rec_sample_iter *it, const struct rec_samples *s)
{
    it->list = s->samples;
    it->value_enc = s->value_enc;
    it->ref = 0;
    it->t_ms = 0;
    it->bits = 0;
}

int rec_sample_next(struct rec_sample_iter *it, struct rec_sample *out)
{
    struct dec d;
    int ret;
    int64_t dref, dt;
    uint64_t bits;
    if (list_start(&it->list, &d, &ret))
        return ret;
    TRY(get_svarint(&d, "ref", &dref));
    TRY(get_svarint(&d, "t", &dt));
    if (it->value_enc == REC_SAMPLES_RAW) {
        TRY(get_u64(&d, "value", &bits));
    } else if (it->value_enc == REC_SAMPLES_XOR) {
        /* Control byte: high nibble = zero bytes at the top of the XOR,
         * low nibble = zero bytes at the bottom; the bytes between follow,
         * least significant first. */
        uint8_t c;
        TRY(get_u8(&d, "value", &c));
        unsigned lead = c >> 4, trail = c & 15u;
        if (lead + trail > 8)
            return TT_ECORRUPT;
        unsigned n = 8 - lead - trail;
        TRY(need(&d, "value", n));
        uint64_t x = 0;
        for (unsigned i = 0; i < n; i++)
            x |= (uint64_t)d.r.p[i] << (8 * i);
        d.r.p += n;
        if (n > 0)
            x <<= 8 * trail;
        bits = it->bits ^ x;
    } else {
        return TT_ECORRUPT;
    }
    /* Deltas wrap modulo 2^64 as the encoder computed them, so any ref and
     * any int64 time survive, and nothing overflows a signed type. */
    it->ref += (uint64_t)dref;
    it->t_ms = (int64_t)((uint64_t)it->t_ms + (uint64_t)dt);
    it->bits = bits;
    out->ref = it->ref;
    out->t_ms = it->t_ms;
    out->v = f64_from_bits(bits);
    list_advance(&it->list, &d);
    return 1;
}

/* ---- encoders ----------------------------------------------------------- */

static void put_rstr(struct wbuf *b, const struct rec_str *s)
{
    wbuf_put_str(b, s->p, s->len);
}

static void put_list(struct wbuf *b, const struct rec_list *l)
{
    if (l == NULL) {
        wbuf_put_u32(b, 0);
        wbuf_put_u32(b, 0);
        return;
    }
    wbuf_put_u32(b, l->count);
    wbuf_put_u32(b, l->len);
    wbuf_put(b, l->bytes, l->len);
}

static int put_value(struct wbuf *b, const struct rec_value *v)
{
    switch (v->type) {
    case TT_VAL_NONE:
        wbuf_put_u8(b, TT_VAL_NONE);
        return 0;
    case TT_VAL_STR:
        wbuf_put_u8(b, TT_VAL_STR);
        put_rstr(b, &v->u.s);
        return 0;
    case TT_VAL_INT:
        wbuf_put_u8(b, TT_VAL_INT);
        wbuf_put_svarint(b, v->u.i);
        return 0;
    case TT_VAL_DOUBLE:
        wbuf_put_u8(b, TT_VAL_DOUBLE);
        wbuf_put_f64(b, v->u.d);
        return 0;
    case TT_VAL_BOOL:
        wbuf_put_u8(b, TT_VAL_BOOL);
        wbuf_put_u8(b, v->u.b != 0);
        return 0;
    default:
        return TT_EINVAL;
    }
}

/* rec_begin writes the frame with a zero length and returns where it starts. */
static size_t rec_begin(struct wbuf *b, uint8_t type, tt_hlc hlc, int64_t time_ns)
{
    size_t start = b->len;
    if (wbuf_reserve(b, REC_HDR_LEN + REC_FIXED_LEN) == 0) {
        uint8_t *p = b->data + b->len;
        p[0] = type;
        p[1] = 0;
        put_le32(p + 2, 0);
        put_le64(p + REC_HDR_LEN, hlc);
        put_le64(p + REC_HDR_LEN + 8, (uint64_t)time_ns);
        b->len += REC_HDR_LEN + REC_FIXED_LEN;
    }
    return start;
}

/* rec_end patches the length of the record at start, or takes it back out of
 * b when rc, the buffer or the size says it failed. */
static int rec_end(struct wbuf *b, size_t start, int rc)
{
    if (rc == 0)
        rc = b->err;
    if (rc == 0 && b->len - start - REC_HDR_LEN > REC_MAX_LEN)
        rc = TT_ETOOBIG;
    if (rc != 0) {
        if (b->len > start)
            b->len = start;
        return rc;
    }
    wbuf_set_u32(b, start + 2, (uint32_t)(b->len - start - REC_HDR_LEN));
    return 0;
}

int rec_put_span(struct wbuf *b, tt_hlc hlc, int64_t start_ns, const struct rec_span *s)
{
    size_t start = rec_begin(b, REC_SPAN, hlc, start_ns);
    wbuf_put(b, s->trace_id, sizeof s->trace_id);
    wbuf_put_u64(b, s->span_id);
    wbuf_put_u64(b, s->parent_id);
    wbuf_put_uvarint(b, s->duration_ns);
    wbuf_put_u8(b, s->kind);
    wbuf_put_u8(b, s->status);
    wbuf_put_u8(b, s->flags);
    put_rstr(b, &s->name);
    put_rstr(b, &s->status_message);
    put_list(b, &s->attrs);
    put_list(b, &s->events);
    put_list(b, &s->links);
    return rec_end(b, start, 0);
}

int rec_put_metric(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_metric *m)
{
    int rc = 0;
    size_t start = rec_begin(b, REC_METRIC, hlc, time_ns);
    wbuf_put_u8(b, m->kind);
    put_rstr(b, &m->name);
    put_rstr(b, &m->help);
    put_list(b, &m->labels);
    switch (m->kind) {
    case REC_METRIC_COUNTER:
    case REC_METRIC_GAUGE:
        wbuf_put_f64(b, m->value);
        break;
    case REC_METRIC_HISTOGRAM:
        wbuf_put_u8(b, m->precision_bits);
        wbuf_put_uvarint(b, m->count);
        wbuf_put_f64(b, m->sum);
        wbuf_put_f64(b, m->min);
        wbuf_put_f64(b, m->max);
        put_list(b, &m->buckets);
        break;
    default:
        rc = TT_EINVAL;
        break;
    }
    return rec_end(b, start, rc);
}

int rec_put_event(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_event *e)
{
    size_t start = rec_begin(b, REC_EVENT, hlc, time_ns);
    wbuf_put_u8(b, e->severity);
    put_rstr(b, &e->component);
    put_rstr(b, &e->name);
    put_rstr(b, &e->message);
    put_list(b, &e->attrs);
    return rec_end(b, start, 0);
}

int rec_put_state(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_state *s)
{
    size_t start = rec_begin(b, REC_STATE, hlc, time_ns);
    put_rstr(b, &s->log);
    put_rstr(b, &s->var);
    int rc = put_value(b, &s->value);
    if (rc == 0)
        rc = put_value(b, &s->prev);
    return rec_end(b, start, rc);
}

/* list_begin reserves a list header (count and byte length patched by
 * list_end) and returns where the header starts. */
static size_t list_begin(struct wbuf *b)
{
    size_t at = b->len;
    wbuf_put_u32(b, 0);
    wbuf_put_u32(b, 0);
    return at;
}

static int list_end(struct wbuf *b, size_t at, size_t count)
{
    if (b->err)
        return b->err;
    size_t len = b->len - at - LIST_HDR_LEN;
    if (count > UINT32_MAX || len > UINT32_MAX)
        return TT_ETOOBIG;
    wbuf_set_u32(b, at, (uint32_t)count);
    wbuf_set_u32(b, at + 4, (uint32_t)len);
    return 0;
}

int rec_put_series(struct wbuf *b, tt_hlc hlc, int64_t time_ns, uint64_t ref,
                   const struct rec_label *labels, size_t n)
{
    size_t start = rec_begin(b, REC_SERIES, hlc, time_ns);
    wbuf_put_u64(b, ref);
    size_t at = list_begin(b);
    for (size_t i = 0; i < n && b->err == 0; i++) {
        put_rstr(b, &labels[i].name);
        put_rstr(b, &labels[i].value);
        if (b->len - start > REC_MAX_LEN + REC_HDR_LEN)
            break; /* rec_end says TT_ETOOBIG; stop copying */
    }
    return rec_end(b, start, list_end(b, at, n));
}

int rec_put_origin(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_origin *o)
{
    size_t start = rec_begin(b, REC_ORIGIN, hlc, time_ns);
    wbuf_put_u64(b, o->origin_id);
    wbuf_put_u64(b, o->durable_end);
    wbuf_put_u64(b, o->prev_end);
    wbuf_put_u32(b, o->reclog_seg);
    wbuf_put_u64(b, o->reclog_end);
    return rec_end(b, start, 0);
}

/* put_xor writes x (a value's bits XOR the previous value's) as a control
 * byte and the bytes between its zero bytes at either end. */
static void put_xor(struct wbuf *b, uint64_t x)
{
    if (x == 0) {
        wbuf_put_u8(b, 8u << 4);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x) / 8;
    unsigned trail = (unsigned)__builtin_ctzll(x) / 8;
    unsigned n = 8 - lead - trail;
    uint8_t t[9];
    t[0] = (uint8_t)(lead << 4 | trail);
    x >>= 8 * trail;
    for (unsigned i = 0; i < n; i++)
        t[1 + i] = (uint8_t)(x >> (8 * i));
    wbuf_put(b, t, 1 + n);
}

int rec_put_samples(struct wbuf *b, tt_hlc hlc, int64_t time_ns, const struct rec_sample *s,
                    size_t n, uint8_t value_enc)
{
    if (value_enc != REC_SAMPLES_RAW && value_enc != REC_SAMPLES_XOR)
        return TT_EINVAL;
    if (n > UINT32_MAX || n > REC_MAX_LEN / SAMPLE_XOR_MIN)
        return TT_ETOOBIG;
    size_t start = rec_begin(b, REC_SAMPLES, hlc, time_ns);
    wbuf_put_u8(b, value_enc);
    size_t at = list_begin(b);
    uint64_t ref = 0, t = 0, bits = 0;
    /* Reserve the worst case (two 10-byte varints and 9 value bytes per
     * sample) up front when the buffer may grow that far, so the loop
     * appends in place; otherwise the writers grow it as they go. */
    size_t worst = n * 29;
    if (b->max == 0 || (b->len <= b->max && worst <= b->max - b->len))
        (void)wbuf_reserve(b, worst);
    for (size_t i = 0; i < n && b->err == 0; i++) {
        wbuf_put_svarint(b, (int64_t)(s[i].ref - ref));
        wbuf_put_svarint(b, (int64_t)((uint64_t)s[i].t_ms - t));
        uint64_t v = f64_bits(s[i].v);
        if (value_enc == REC_SAMPLES_RAW)
            wbuf_put_u64(b, v);
        else
            put_xor(b, v ^ bits);
        ref = s[i].ref;
        t = (uint64_t)s[i].t_ms;
        bits = v;
    }
    return rec_end(b, start, list_end(b, at, n));
}

int rec_put_raw(struct wbuf *b, uint8_t type, tt_hlc hlc, int64_t time_ns, const void *payload,
                size_t len)
{
    if (len > REC_MAX_LEN - REC_FIXED_LEN)
        return TT_ETOOBIG;
    size_t start = rec_begin(b, type, hlc, time_ns);
    wbuf_put(b, payload, len);
    return rec_end(b, start, 0);
}

/* ---- list builders ------------------------------------------------------ */

void rec_kv_put(struct wbuf *b, const char *key, size_t keylen, const struct rec_value *v)
{
    size_t start = b->len;
    wbuf_put_str(b, key, keylen);
    if (put_value(b, v) != 0 && b->err == 0) {
        b->len = start;
        b->err = TT_EINVAL;
    }
}

void rec_span_event_put(struct wbuf *b, int64_t time_ns, const char *name, size_t namelen,
                        const struct rec_list *attrs)
{
    wbuf_put_u64(b, (uint64_t)time_ns);
    wbuf_put_str(b, name, namelen);
    put_list(b, attrs);
}

void rec_span_link_put(struct wbuf *b, const uint8_t trace_id[16], uint64_t span_id, uint8_t flags,
                       const struct rec_list *attrs)
{
    wbuf_put(b, trace_id, 16);
    wbuf_put_u64(b, span_id);
    wbuf_put_u8(b, flags);
    put_list(b, attrs);
}

void rec_bucket_put(struct wbuf *b, int32_t prev_index, int32_t index, uint64_t count)
{
    wbuf_put_svarint(b, (int64_t)index - prev_index);
    wbuf_put_uvarint(b, count);
}
