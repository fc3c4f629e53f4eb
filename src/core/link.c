/*
 * link.c - the agent-to-server link codec: frame encoders, the incremental
 * stream reader and the typed payload decoders (docs/design/agent-link.md).
 *
 * Invariants: the reader's buffer holds bytes fed and not yet consumed from
 * pos; it grows only to hold bytes that arrived, or up to the end of a frame
 * whose header it has checked (so a hostile peer cannot make it allocate on
 * an unchecked length); every field read goes through struct rbuf, which
 * never reads outside the payload.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/crc32c.h"
#include "core/link.h"

#define OFF_TYPE       4
#define OFF_FLAGS      5
#define OFF_RESERVED   6
#define OFF_LEN        8
#define OFF_HCRC       12
#define READER_MIN_CAP 4096

const char *link_type_name(uint8_t type)
{
    static const char *const names[] = { NULL,   "HELLO", "WELCOME", "BATCH", "ACK",
                                         "NACK", "PING",  "PONG",    "BYE" };
    if (type == 0 || type > LINK_TYPE_MAX)
        return "unknown";
    return names[type];
}

int link_nack_retryable(uint16_t reason)
{
    return reason == LINK_NACK_OVERLOADED || reason == LINK_NACK_STORE ||
           reason == LINK_NACK_SHUTDOWN;
}

static void set_msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_msg(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint32_t type_limit(uint8_t type, uint32_t max_payload)
{
    return type == LINK_BATCH ? max_payload : LINK_MAX_CONTROL;
}

/* ---- encoders ------------------------------------------------------------ */

/* frame_begin reserves a header at the end of out and returns its offset. */
static size_t frame_begin(struct wbuf *out, uint8_t type)
{
    size_t start = out->len;
    uint8_t h[LINK_HEADER_LEN] = { 0 };
    put_le32(h, LINK_MAGIC);
    h[OFF_TYPE] = type;
    wbuf_put(out, h, sizeof h);
    return start;
}

static void fill_header(uint8_t *h, uint8_t type, uint32_t payload_len)
{
    put_le32(h, LINK_MAGIC);
    h[OFF_TYPE] = type;
    h[OFF_FLAGS] = 0;
    put_le16(h + OFF_RESERVED, 0);
    put_le32(h + OFF_LEN, payload_len);
    put_le32(h + OFF_HCRC, crc32c(0, h, OFF_HCRC));
}

/* frame_finish patches the header of the frame at start, appends its CRC,
 * and on any failure takes the frame back out of out. */
static int frame_finish(struct wbuf *out, size_t start, int rc)
{
    if (out->err && rc == 0)
        rc = out->err;
    if (rc == 0) {
        size_t plen = out->len - start - LINK_HEADER_LEN;
        uint8_t *h = out->data + start;
        if (plen > type_limit(h[OFF_TYPE], LINK_MAX_PAYLOAD)) {
            rc = TT_EINVAL;
        } else {
            fill_header(h, h[OFF_TYPE], (uint32_t)plen);
            wbuf_put_u32(out, crc32c(0, h, out->len - start));
            rc = out->err;
        }
    }
    if (rc != 0 && out->len >= start) {
        out->len = start;
        out->err = 0;
    }
    return rc;
}

/* An error already stuck in out is returned as is and out left alone. */
#define BEGIN(out, type)   \
    if ((out)->err)        \
        return (out)->err; \
    size_t start = frame_begin((out), (type))

static int str_ok(const struct link_str *s)
{
    return s->len <= LINK_MAX_STR && (s->len == 0 || s->p != NULL);
}

static void put_lstr(struct wbuf *b, const struct link_str *s)
{
    wbuf_put_str(b, s->p, s->len);
}

int link_put_hello(struct wbuf *out, const struct link_hello *h)
{
    if (!str_ok(&h->node) || !str_ok(&h->role) || !str_ok(&h->release) ||
        !str_ok(&h->agent_version))
        return TT_EINVAL;
    BEGIN(out, LINK_HELLO);
    wbuf_put_u16(out, h->version);
    put_lstr(out, &h->node);
    put_lstr(out, &h->role);
    put_lstr(out, &h->release);
    put_lstr(out, &h->agent_version);
    wbuf_put_u64(out, h->origin_id);
    wbuf_put_u64(out, h->hlc);
    wbuf_put_u64(out, h->physical_ms);
    return frame_finish(out, start, 0);
}

struct link_origin link_welcome_origin(const struct link_welcome *w, uint32_t i)
{
    struct link_origin o = { 0, 0 };
    if (i >= w->n_origins)
        return o;
    if (w->origins != NULL)
        return w->origins[i];
    if (w->raw_origins != NULL) {
        o.origin_id = get_le64(w->raw_origins + 16 * (size_t)i);
        o.durable_end = get_le64(w->raw_origins + 16 * (size_t)i + 8);
    }
    return o;
}

int link_put_welcome(struct wbuf *out, const struct link_welcome *w)
{
    if (w->n_origins > LINK_MAX_ORIGINS ||
        (w->n_origins > 0 && w->origins == NULL && w->raw_origins == NULL))
        return TT_EINVAL;
    BEGIN(out, LINK_WELCOME);
    wbuf_put_u16(out, w->version);
    wbuf_put_u64(out, w->hlc);
    wbuf_put_u64(out, w->physical_ms);
    wbuf_put_u32(out, w->max_batch_bytes);
    wbuf_put_u32(out, w->n_origins);
    for (uint32_t i = 0; i < w->n_origins; i++) {
        struct link_origin o = link_welcome_origin(w, i);
        wbuf_put_u64(out, o.origin_id);
        wbuf_put_u64(out, o.durable_end);
    }
    return frame_finish(out, start, 0);
}

/* check_batch: batch parses and is exactly batch_len bytes long. */
static int check_batch(const void *batch, size_t batch_len)
{
    struct batch_hdr h;
    if (batch == NULL || batch_len > LINK_MAX_PAYLOAD - 8)
        return TT_EINVAL;
    if (batch_parse_header(batch, batch_len, &h, NULL, 0) != 0)
        return TT_EINVAL;
    return batch_total_len(&h) == batch_len ? 0 : TT_EINVAL;
}

int link_put_batch(struct wbuf *out, uint64_t seq, const void *batch, size_t batch_len)
{
    int rc = check_batch(batch, batch_len);
    if (rc != 0)
        return rc;
    BEGIN(out, LINK_BATCH);
    wbuf_put_u64(out, seq);
    wbuf_put(out, batch, batch_len);
    return frame_finish(out, start, 0);
}

int link_batch_wrap(uint8_t head[LINK_BATCH_HEAD_LEN], uint8_t tail[LINK_TRAILER_LEN], uint64_t seq,
                    const void *batch, size_t batch_len)
{
    int rc = check_batch(batch, batch_len);
    if (rc != 0)
        return rc;
    fill_header(head, LINK_BATCH, (uint32_t)(8 + batch_len));
    put_le64(head + LINK_HEADER_LEN, seq);
    uint32_t crc = crc32c(0, head, LINK_BATCH_HEAD_LEN);
    put_le32(tail, crc32c(crc, batch, batch_len));
    return 0;
}

int link_put_ack(struct wbuf *out, const struct link_ack *a)
{
    BEGIN(out, LINK_ACK);
    wbuf_put_u64(out, a->seq);
    wbuf_put_u64(out, a->origin_id);
    wbuf_put_u64(out, a->durable_end);
    wbuf_put_u64(out, a->hlc);
    return frame_finish(out, start, 0);
}

int link_put_nack(struct wbuf *out, const struct link_nack *n)
{
    if (!str_ok(&n->message) || n->retry > 1)
        return TT_EINVAL;
    BEGIN(out, LINK_NACK);
    wbuf_put_u64(out, n->seq);
    wbuf_put_u16(out, n->reason);
    wbuf_put_u8(out, n->retry);
    wbuf_put_u32(out, n->retry_after_ms);
    put_lstr(out, &n->message);
    return frame_finish(out, start, 0);
}

int link_put_ping(struct wbuf *out, const struct link_ping *p)
{
    BEGIN(out, LINK_PING);
    wbuf_put_u64(out, p->hlc);
    wbuf_put_u64(out, p->physical_ms);
    return frame_finish(out, start, 0);
}

int link_put_pong(struct wbuf *out, const struct link_pong *p)
{
    BEGIN(out, LINK_PONG);
    wbuf_put_u64(out, p->echo_ms);
    wbuf_put_u64(out, p->hlc);
    wbuf_put_u64(out, p->physical_ms);
    return frame_finish(out, start, 0);
}

int link_put_bye(struct wbuf *out, const struct link_bye *b)
{
    if (!str_ok(&b->reason))
        return TT_EINVAL;
    BEGIN(out, LINK_BYE);
    wbuf_put_u16(out, b->code);
    put_lstr(out, &b->reason);
    return frame_finish(out, start, 0);
}

/* ---- the stream reader ---------------------------------------------------- */

void link_reader_init(struct link_reader *r, uint32_t max_payload)
{
    memset(r, 0, sizeof *r);
    r->max_payload =
        max_payload == 0 || max_payload > LINK_MAX_PAYLOAD ? LINK_MAX_PAYLOAD : max_payload;
}

void link_reader_release(struct link_reader *r)
{
    free(r->data);
    r->data = NULL;
    r->len = r->cap = r->pos = 0;
}

static int fail(struct link_reader *r, int code, char *err, size_t errlen)
{
    r->err = code;
    set_msg(err, errlen, "%s", r->msg);
    return code;
}

int link_reader_feed(struct link_reader *r, const void *p, size_t n)
{
    if (r->err)
        return r->err;
    if (n == 0)
        return 0;
    /* Drop what was consumed: what stays is less than one frame, and after a
     * move pos is 0, so a frame fed byte by byte is moved at most once. */
    if (r->pos > 0) {
        size_t keep = r->len - r->pos;
        if (keep > 0)
            memmove(r->data, r->data + r->pos, keep);
        r->base += r->pos;
        r->len = keep;
        r->pos = 0;
    }
    if (n > SIZE_MAX / 2 - r->len)
        return TT_ENOMEM;
    size_t need = r->len + n;
    if (need > r->cap) {
        /* Double for amortised appends (from a small minimum), but never
         * past the end of the frame being completed when its header is
         * checked: nothing is allocated for bytes a header announces until
         * they arrive, beyond what doubling the bytes held gives. */
        size_t cap = r->cap * 2 < READER_MIN_CAP ? READER_MIN_CAP : r->cap * 2;
        if (r->have_header && cap > r->frame_total)
            cap = r->frame_total;
        if (cap < need)
            cap = need;
        uint8_t *d = realloc(r->data, cap);
        if (d == NULL)
            return TT_ENOMEM;
        r->data = d;
        r->cap = cap;
    }
    memcpy(r->data + r->len, p, n);
    r->len = need;
    return 0;
}

int link_reader_next(struct link_reader *r, struct link_frame *f, char *err, size_t errlen)
{
    if (r->err) {
        set_msg(err, errlen, "%s", r->msg);
        return r->err;
    }
    if (r->data == NULL)
        return 0; /* nothing fed yet (and no pointer arithmetic on NULL) */
    const uint8_t *p = r->data + r->pos;
    size_t avail = r->len - r->pos;
    uint64_t off = r->base + r->pos;
    if (!r->have_header) {
        /* The magic is checked byte by byte, so garbage is refused at once. */
        static const uint8_t magic[4] = { 'T', 'T', 'L', '1' };
        for (size_t i = 0; i < 4 && i < avail; i++) {
            if (p[i] != magic[i]) {
                snprintf(r->msg, sizeof r->msg,
                         "link: byte %llu: bad magic (byte 0x%02x where \"TTL1\" byte %zu "
                         "belongs)",
                         (unsigned long long)(off + i), p[i], i);
                return fail(r, TT_ECORRUPT, err, errlen);
            }
        }
        if (avail < LINK_HEADER_LEN)
            return 0;
        uint32_t stored = get_le32(p + OFF_HCRC), calc = crc32c(0, p, OFF_HCRC);
        if (stored != calc) {
            snprintf(r->msg, sizeof r->msg,
                     "link: byte %llu: frame header CRC mismatch (stored 0x%08x, computed "
                     "0x%08x)",
                     (unsigned long long)(off + OFF_HCRC), stored, calc);
            return fail(r, TT_ECORRUPT, err, errlen);
        }
        uint8_t type = p[OFF_TYPE];
        if (type == 0 || type > LINK_TYPE_MAX) {
            snprintf(r->msg, sizeof r->msg, "link: byte %llu: unknown frame type %u",
                     (unsigned long long)(off + OFF_TYPE), type);
            return fail(r, TT_EUNSUPPORTED, err, errlen);
        }
        uint32_t plen = get_le32(p + OFF_LEN), limit = type_limit(type, r->max_payload);
        if (plen > limit) {
            snprintf(r->msg, sizeof r->msg,
                     "link: byte %llu: %s payload length %u over the limit of %u bytes",
                     (unsigned long long)(off + OFF_LEN), link_type_name(type), plen, limit);
            return fail(r, TT_ETOOBIG, err, errlen);
        }
        r->have_header = 1;
        r->frame_total = (size_t)LINK_FRAME_OVERHEAD + plen;
    }
    if (avail < r->frame_total)
        return 0;
    size_t plen = r->frame_total - LINK_FRAME_OVERHEAD;
    uint32_t stored = get_le32(p + LINK_HEADER_LEN + plen);
    uint32_t calc = crc32c(0, p, LINK_HEADER_LEN + plen);
    if (stored != calc) {
        snprintf(r->msg, sizeof r->msg,
                 "link: byte %llu: frame CRC mismatch (%s frame at byte %llu, stored 0x%08x, "
                 "computed 0x%08x)",
                 (unsigned long long)(off + LINK_HEADER_LEN + plen), link_type_name(p[OFF_TYPE]),
                 (unsigned long long)off, stored, calc);
        return fail(r, TT_ECORRUPT, err, errlen);
    }
    f->type = p[OFF_TYPE];
    f->flags = p[OFF_FLAGS];
    f->len = (uint32_t)plen;
    f->payload = p + LINK_HEADER_LEN;
    f->offset = off;
    r->pos += r->frame_total;
    r->have_header = 0;
    r->frame_total = 0;
    return 1;
}

int link_reader_skip_frame(struct link_reader *r, struct link_skipped *s)
{
    if (r->err != TT_ETOOBIG || r->data == NULL || r->len - r->pos < LINK_HEADER_LEN)
        return TT_EINVAL;
    const uint8_t *p = r->data + r->pos;
    size_t avail = r->len - r->pos;
    uint64_t total = (uint64_t)LINK_FRAME_OVERHEAD + get_le32(p + OFF_LEN);
    memset(s, 0, sizeof *s);
    s->type = p[OFF_TYPE];
    s->len = get_le32(p + OFF_LEN);
    s->offset = r->base + r->pos;
    s->head_have = (uint32_t)(avail - LINK_HEADER_LEN < sizeof s->head ? avail - LINK_HEADER_LEN
                                                                       : sizeof s->head);
    if (s->head_have > s->len)
        s->head_have = s->len;
    memcpy(s->head, p + LINK_HEADER_LEN, s->head_have);
    if (avail >= total) {
        r->pos += (size_t)total;
        s->remaining = 0;
    } else {
        r->pos = r->len;
        s->remaining = total - avail;
    }
    r->err = 0;
    r->msg[0] = '\0';
    r->have_header = 0;
    r->frame_total = 0;
    return 0;
}

/* ---- typed decoders -------------------------------------------------------- */

/* struct dec walks one payload; the first failure is kept with the stream
 * offset of the field that failed. */
struct dec {
    struct rbuf r;
    const struct link_frame *f;
    const char *field; /* the field being read when the first error happened */
    uint64_t at;       /* its stream offset */
    int err;
};

static void dec_init(struct dec *d, const struct link_frame *f)
{
    rbuf_init(&d->r, f->payload, f->len);
    d->f = f;
    d->field = NULL;
    d->at = 0;
    d->err = 0;
}

static uint64_t dec_off(const struct dec *d)
{
    return d->f->offset + LINK_HEADER_LEN + (uint64_t)(d->r.p - d->f->payload);
}

/* dec_check records the first error of the reader as the failure of field. */
static int dec_check(struct dec *d, const char *field, uint64_t at)
{
    if (d->err == 0 && d->r.err != 0) {
        d->err = d->r.err;
        d->field = field;
        d->at = at;
    }
    return d->err == 0;
}

static uint16_t get16(struct dec *d, const char *field)
{
    uint64_t at = dec_off(d);
    uint16_t v = rbuf_u16(&d->r);
    dec_check(d, field, at);
    return v;
}

static uint64_t get64(struct dec *d, const char *field)
{
    uint64_t at = dec_off(d);
    uint64_t v = rbuf_u64(&d->r);
    dec_check(d, field, at);
    return v;
}

static uint32_t get32(struct dec *d, const char *field)
{
    uint64_t at = dec_off(d);
    uint32_t v = rbuf_u32(&d->r);
    dec_check(d, field, at);
    return v;
}

static uint8_t get8(struct dec *d, const char *field)
{
    uint64_t at = dec_off(d);
    uint8_t v = rbuf_u8(&d->r);
    dec_check(d, field, at);
    return v;
}

static struct link_str getstr(struct dec *d, const char *field)
{
    struct link_str s = { "", 0 };
    uint64_t at = dec_off(d);
    size_t n;
    const char *p = rbuf_str(&d->r, &n);
    if (!dec_check(d, field, at))
        return s;
    if (n > LINK_MAX_STR) {
        d->err = TT_ECORRUPT;
        d->field = field;
        d->at = at;
        return s;
    }
    s.p = p;
    s.len = (uint32_t)n;
    return s;
}

/* dec_finish turns the first error, or bytes left after the last field, into
 * a code and a message naming the stream offset. */
static int dec_finish(struct dec *d, char *err, size_t errlen)
{
    const char *tn = link_type_name(d->f->type);
    if (d->err == TT_ETRUNC) {
        set_msg(err, errlen, "link: byte %llu: %s field %s truncated (payload of %u bytes)",
                (unsigned long long)d->at, tn, d->field, d->f->len);
        return TT_ETRUNC;
    }
    if (d->err != 0) {
        set_msg(err, errlen, "link: byte %llu: %s field %s corrupt%s", (unsigned long long)d->at,
                tn, d->field, d->err == TT_ECORRUPT ? " (bad varint or over the limit)" : "");
        return d->err;
    }
    if (rbuf_left(&d->r) > 0) {
        set_msg(err, errlen, "link: byte %llu: %zu trailing bytes after the last %s field",
                (unsigned long long)dec_off(d), rbuf_left(&d->r), tn);
        return TT_ECORRUPT;
    }
    return 0;
}

static int want_type(const struct link_frame *f, uint8_t type, char *err, size_t errlen)
{
    if (f->type == type)
        return 0;
    set_msg(err, errlen, "link: byte %llu: %s frame where %s was expected",
            (unsigned long long)f->offset, link_type_name(f->type), link_type_name(type));
    return TT_EINVAL;
}

int link_decode_hello(const struct link_frame *f, struct link_hello *out, char *err, size_t errlen)
{
    int rc = want_type(f, LINK_HELLO, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    memset(out, 0, sizeof *out);
    out->version = get16(&d, "version");
    if (d.err == 0 && out->version != LINK_VERSION) {
        set_msg(err, errlen, "link: byte %llu: HELLO of protocol version %u (this end speaks %u)",
                (unsigned long long)f->offset + LINK_HEADER_LEN, out->version, LINK_VERSION);
        return TT_EVERSION;
    }
    out->node = getstr(&d, "node");
    out->role = getstr(&d, "role");
    out->release = getstr(&d, "release");
    out->agent_version = getstr(&d, "agent_version");
    out->origin_id = get64(&d, "origin_id");
    out->hlc = get64(&d, "hlc");
    out->physical_ms = get64(&d, "physical_ms");
    return dec_finish(&d, err, errlen);
}

int link_decode_welcome(const struct link_frame *f, struct link_welcome *out, char *err,
                        size_t errlen)
{
    int rc = want_type(f, LINK_WELCOME, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    memset(out, 0, sizeof *out);
    out->version = get16(&d, "version");
    out->hlc = get64(&d, "hlc");
    out->physical_ms = get64(&d, "physical_ms");
    out->max_batch_bytes = get32(&d, "max_batch_bytes");
    uint64_t at = dec_off(&d);
    uint32_t n = get32(&d, "n_origins");
    if (d.err == 0 && n > LINK_MAX_ORIGINS) {
        set_msg(err, errlen, "link: byte %llu: WELCOME with %u origins (at most %u)",
                (unsigned long long)at, n, LINK_MAX_ORIGINS);
        return TT_ECORRUPT;
    }
    at = dec_off(&d);
    const uint8_t *raw = rbuf_bytes(&d.r, (size_t)n * 16);
    dec_check(&d, "origins", at);
    rc = dec_finish(&d, err, errlen);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->n_origins = n;
    out->raw_origins = n > 0 ? raw : NULL;
    return 0;
}

int link_decode_batch(const struct link_frame *f, struct link_batch *out, char *err, size_t errlen)
{
    int rc = want_type(f, LINK_BATCH, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    memset(out, 0, sizeof *out);
    out->seq = get64(&d, "seq");
    if (d.err != 0)
        return dec_finish(&d, err, errlen);
    uint64_t at = dec_off(&d);
    const uint8_t *b = d.r.p;
    size_t left = rbuf_left(&d.r);
    char why[128];
    rc = batch_parse_header(b, left, &out->hdr, why, sizeof why);
    if (rc != 0) {
        set_msg(err, errlen, "link: byte %llu: BATCH carries a bad batch: %s",
                (unsigned long long)at, why);
        return rc;
    }
    size_t total = batch_total_len(&out->hdr);
    if (total > left) {
        set_msg(err, errlen,
                "link: byte %llu: BATCH truncated: its batch needs %zu bytes, the frame has %zu",
                (unsigned long long)at, total, left);
        return TT_ETRUNC;
    }
    if (total < left) {
        set_msg(err, errlen, "link: byte %llu: %zu trailing bytes after the batch of BATCH",
                (unsigned long long)(at + total), left - total);
        return TT_ECORRUPT;
    }
    rc = batch_check_body(b, &out->hdr, why, sizeof why);
    if (rc != 0) {
        set_msg(err, errlen, "link: byte %llu: BATCH carries a bad batch: %s",
                (unsigned long long)at, why);
        return rc;
    }
    out->batch = b;
    out->batch_len = total;
    return 0;
}

int link_decode_ack(const struct link_frame *f, struct link_ack *out, char *err, size_t errlen)
{
    int rc = want_type(f, LINK_ACK, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    out->seq = get64(&d, "seq");
    out->origin_id = get64(&d, "origin_id");
    out->durable_end = get64(&d, "durable_end");
    out->hlc = get64(&d, "hlc");
    return dec_finish(&d, err, errlen);
}

int link_decode_nack(const struct link_frame *f, struct link_nack *out, char *err, size_t errlen)
{
    int rc = want_type(f, LINK_NACK, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    out->seq = get64(&d, "seq");
    out->reason = get16(&d, "reason");
    uint64_t at = dec_off(&d);
    out->retry = get8(&d, "retry");
    if (d.err == 0 && out->retry > 1) {
        set_msg(err, errlen, "link: byte %llu: NACK retry flag %u (0 or 1)", (unsigned long long)at,
                out->retry);
        return TT_ECORRUPT;
    }
    out->retry_after_ms = get32(&d, "retry_after_ms");
    out->message = getstr(&d, "message");
    return dec_finish(&d, err, errlen);
}

int link_decode_ping(const struct link_frame *f, struct link_ping *out, char *err, size_t errlen)
{
    int rc = want_type(f, LINK_PING, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    out->hlc = get64(&d, "hlc");
    out->physical_ms = get64(&d, "physical_ms");
    return dec_finish(&d, err, errlen);
}

int link_decode_pong(const struct link_frame *f, struct link_pong *out, char *err, size_t errlen)
{
    int rc = want_type(f, LINK_PONG, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    out->echo_ms = get64(&d, "echo_ms");
    out->hlc = get64(&d, "hlc");
    out->physical_ms = get64(&d, "physical_ms");
    return dec_finish(&d, err, errlen);
}

int link_decode_bye(const struct link_frame *f, struct link_bye *out, char *err, size_t errlen)
{
    int rc = want_type(f, LINK_BYE, err, errlen);
    if (rc != 0)
        return rc;
    struct dec d;
    dec_init(&d, f);
    out->code = get16(&d, "code");
    out->reason = getstr(&d, "reason");
    return dec_finish(&d, err, errlen);
}
