/* test_link.c - the agent-to-server link codec: round trips of every frame
 * type with edge values, the stream reader fed in every split, every
 * corruption class reported with its code and stream offset, the length
 * limits enforced from the header, a 10k-frame stream, and a BATCH carrying
 * a real core batch. Also writes the fuzz seed corpus when TT_WRITE_SEEDS
 * names a directory (tests/fuzz/corpus). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "unit.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/compress.h"
#include "core/crc32c.h"
#include "core/link.h"
#include "core/record.h"

static const char ORIGIN[] = "node-1\0agent";

static struct link_str ls(const char *s)
{
    struct link_str r = { s, (uint32_t)strlen(s) };
    return r;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* raw_frame writes a frame by hand (independently of the encoders) with good
 * CRCs around any payload, so tests can reach the payload decoders with bad
 * payloads, and announce any length. */
static void raw_header(uint8_t h[LINK_HEADER_LEN], uint8_t type, uint32_t len)
{
    memcpy(h, "TTL1", 4);
    h[4] = type;
    h[5] = 0;
    h[6] = h[7] = 0;
    put_le32(h + 8, len);
    put_le32(h + 12, crc32c(0, h, 12));
}

static void raw_frame(struct wbuf *w, uint8_t type, const void *payload, uint32_t len)
{
    uint8_t h[LINK_HEADER_LEN];
    raw_header(h, type, len);
    uint32_t crc = crc32c(crc32c(0, h, sizeof h), payload, len);
    wbuf_put(w, h, sizeof h);
    wbuf_put(w, payload, len);
    wbuf_put_u32(w, crc);
}

/* make_batch appends a core batch of n event records to w. */
static void make_batch(struct wbuf *w, uint64_t first_seq, uint32_t n, int comp)
{
    struct wbuf body;
    wbuf_init(&body, 0);
    for (uint32_t i = 0; i < n; i++) {
        struct rec_event e = { .severity = TT_SEV_WARNING };
        e.component.p = "disk";
        e.component.len = 4;
        e.name.p = "full";
        e.name.len = 4;
        e.message.p = "sda1 at 97%";
        e.message.len = 11;
        assert_int_equal(rec_put_event(&body, 1000 + i, 5000 + i, &e), 0);
    }
    struct batch_hdr h = { .compression = BATCH_COMP_NONE,
                           .count = n,
                           .origin_id = 0xfeedface,
                           .first_seq = first_seq,
                           .hlc_min = n ? 1000 : 0,
                           .hlc_max = n ? 1000 + n - 1 : 0,
                           .origin = ORIGIN,
                           .origin_len = sizeof ORIGIN - 1 };
    if (comp == BATCH_COMP_NONE)
        assert_int_equal(batch_encode(w, &h, body.data, body.len), 0);
    else
        assert_int_equal(batch_encode_compressed(w, &h, body.data, body.len, comp), 0);
    wbuf_release(&body);
}

/* ---- the frames every round trip uses ----------------------------------- */

static char long_str[LINK_MAX_STR + 1];

static void put_all(struct wbuf *w, uint64_t v)
{
    memset(long_str, 'x', LINK_MAX_STR);
    struct link_hello h = { LINK_VERSION, ls("node-1"), ls(""), ls("2026.11"), ls("0.1.0"), v,
                            UINT64_MAX,   v ^ 0x55 };
    h.role.p = long_str;
    h.role.len = LINK_MAX_STR;
    assert_int_equal(link_put_hello(w, &h), 0);
    struct link_origin o[3] = { { 1, 0 }, { UINT64_MAX, UINT64_MAX }, { v, v + 1 } };
    struct link_welcome we = { LINK_VERSION, UINT64_MAX, 0, UINT32_MAX, 3, o, NULL };
    assert_int_equal(link_put_welcome(w, &we), 0);
    struct link_welcome we0 = { LINK_VERSION, 0, 1, 0, 0, NULL, NULL };
    assert_int_equal(link_put_welcome(w, &we0), 0);
    struct wbuf b;
    wbuf_init(&b, 0);
    make_batch(&b, v, 3, BATCH_COMP_NONE);
    assert_int_equal(link_put_batch(w, v, b.data, b.len), 0);
    wbuf_release(&b);
    struct link_ack a = { v, UINT64_MAX, 0, v + 7 };
    assert_int_equal(link_put_ack(w, &a), 0);
    struct link_nack n = { UINT64_MAX, LINK_NACK_OVERLOADED, 1, UINT32_MAX, ls("slow down") };
    assert_int_equal(link_put_nack(w, &n), 0);
    struct link_nack n2 = { 0, 0xffff, 0, 0, ls("") };
    assert_int_equal(link_put_nack(w, &n2), 0);
    struct link_ping p = { v, UINT64_MAX };
    assert_int_equal(link_put_ping(w, &p), 0);
    struct link_pong q = { UINT64_MAX, 0, v };
    assert_int_equal(link_put_pong(w, &q), 0);
    struct link_bye y = { LINK_BYE_SHUTDOWN, ls("going away") };
    assert_int_equal(link_put_bye(w, &y), 0);
}
#define N_ALL 10

/* check_all decodes the N_ALL frames of put_all(v) from f[]. */
static void check_all(const struct link_frame *f, uint64_t v)
{
    char err[LINK_MSG_MAX];
    struct link_hello h;
    assert_int_equal(link_decode_hello(&f[0], &h, err, sizeof err), 0);
    assert_int_equal(h.version, LINK_VERSION);
    assert_strn_equal(h.node.p, h.node.len, "node-1");
    assert_int_equal(h.role.len, LINK_MAX_STR);
    assert_memory_equal(h.role.p, long_str, LINK_MAX_STR);
    assert_int_equal(h.release.len, 7);
    assert_strn_equal(h.agent_version.p, h.agent_version.len, "0.1.0");
    assert_true(h.origin_id == v && h.hlc == UINT64_MAX && h.physical_ms == (v ^ 0x55));

    struct link_welcome w;
    assert_int_equal(link_decode_welcome(&f[1], &w, err, sizeof err), 0);
    assert_true(w.hlc == UINT64_MAX && w.physical_ms == 0 && w.max_batch_bytes == UINT32_MAX);
    assert_int_equal(w.n_origins, 3);
    struct link_origin o = link_welcome_origin(&w, 1);
    assert_true(o.origin_id == UINT64_MAX && o.durable_end == UINT64_MAX);
    o = link_welcome_origin(&w, 2);
    assert_true(o.origin_id == v && o.durable_end == v + 1);
    o = link_welcome_origin(&w, 3); /* out of range: zeros */
    assert_true(o.origin_id == 0 && o.durable_end == 0);
    assert_int_equal(link_decode_welcome(&f[2], &w, err, sizeof err), 0);
    assert_int_equal(w.n_origins, 0);
    assert_null(w.raw_origins);
    assert_true(w.physical_ms == 1);

    struct link_batch b;
    assert_int_equal(link_decode_batch(&f[3], &b, err, sizeof err), 0);
    assert_true(b.seq == v && b.hdr.first_seq == v && b.hdr.count == 3);
    assert_true(b.hdr.origin_id == 0xfeedface);
    assert_int_equal(b.batch_len, f[3].len - 8);

    struct link_ack a;
    assert_int_equal(link_decode_ack(&f[4], &a, err, sizeof err), 0);
    assert_true(a.seq == v && a.origin_id == UINT64_MAX && a.durable_end == 0 && a.hlc == v + 7);

    struct link_nack n;
    assert_int_equal(link_decode_nack(&f[5], &n, err, sizeof err), 0);
    assert_true(n.seq == UINT64_MAX && n.reason == LINK_NACK_OVERLOADED && n.retry == 1);
    assert_true(n.retry_after_ms == UINT32_MAX);
    assert_strn_equal(n.message.p, n.message.len, "slow down");
    assert_int_equal(link_decode_nack(&f[6], &n, err, sizeof err), 0);
    assert_true(n.seq == 0 && n.reason == 0xffff && n.retry == 0 && n.message.len == 0);

    struct link_ping p;
    assert_int_equal(link_decode_ping(&f[7], &p, err, sizeof err), 0);
    assert_true(p.hlc == v && p.physical_ms == UINT64_MAX);
    struct link_pong q;
    assert_int_equal(link_decode_pong(&f[8], &q, err, sizeof err), 0);
    assert_true(q.echo_ms == UINT64_MAX && q.hlc == 0 && q.physical_ms == v);
    struct link_bye y;
    assert_int_equal(link_decode_bye(&f[9], &y, err, sizeof err), 0);
    assert_int_equal(y.code, LINK_BYE_SHUTDOWN);
    assert_strn_equal(y.reason.p, y.reason.len, "going away");
}

/* A frame as seen by a reader, copied out so it outlives the reader's buffer. */
struct seen {
    uint8_t type;
    uint32_t len;
    uint64_t offset;
    uint32_t crc; /* of the payload */
};

/* read_split feeds stream to a reader in pieces (mode 0: whole, 1: byte by
 * byte, 2: random sizes from seed) and records the frames. Returns the count;
 * fails the test on any error. */
static size_t read_split(const uint8_t *p, size_t n, int mode, uint64_t seed, struct seen *out,
                         size_t max)
{
    struct link_reader r;
    link_reader_init(&r, 0);
    size_t count = 0, at = 0;
    char err[LINK_MSG_MAX];
    while (at < n) {
        size_t k = n - at;
        if (mode == 1)
            k = 1;
        else if (mode == 2) {
            uint64_t x = rng_next(&seed);
            k = (x & 3) == 0 ? 1 + (x >> 8) % 7 : 1 + (x >> 8) % 3000;
            if (k > n - at)
                k = n - at;
        }
        assert_int_equal(link_reader_feed(&r, p + at, k), 0);
        at += k;
        struct link_frame f;
        int rc;
        while ((rc = link_reader_next(&r, &f, err, sizeof err)) == 1) {
            assert_true(count < max);
            out[count].type = f.type;
            out[count].len = f.len;
            out[count].offset = f.offset;
            out[count].crc = crc32c(0, f.payload, f.len);
            count++;
        }
        if (rc != 0)
            fail_msg("reader: %s", err);
    }
    assert_int_equal(link_reader_pending(&r), 0);
    link_reader_release(&r);
    return count;
}

static void test_round_trip_every_type(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w, 0);
    put_all(&w, 0);
    put_all(&w, UINT64_MAX - 1);
    struct link_reader r;
    link_reader_init(&r, 0);
    assert_int_equal(link_reader_feed(&r, w.data, w.len), 0);
    struct link_frame f[2 * N_ALL];
    uint64_t expect_off = 0;
    for (int i = 0; i < 2 * N_ALL; i++) {
        assert_int_equal(link_reader_next(&r, &f[i], NULL, 0), 1);
        assert_true(f[i].offset == expect_off);
        assert_int_equal(f[i].flags, 0);
        expect_off += LINK_FRAME_OVERHEAD + f[i].len;
    }
    assert_int_equal(link_reader_next(&r, &f[0], NULL, 0), 0);
    assert_int_equal(expect_off, w.len);
    static const uint8_t types[N_ALL] = { LINK_HELLO, LINK_WELCOME, LINK_WELCOME, LINK_BATCH,
                                          LINK_ACK,   LINK_NACK,    LINK_NACK,    LINK_PING,
                                          LINK_PONG,  LINK_BYE };
    for (int i = 0; i < N_ALL; i++) {
        assert_int_equal(f[i].type, types[i]);
        assert_int_equal(f[N_ALL + i].type, types[i]);
    }
    check_all(f, 0);
    check_all(f + N_ALL, UINT64_MAX - 1);
    /* A decoder refuses a frame of another type, naming both. */
    char err[LINK_MSG_MAX];
    struct link_ack a;
    assert_int_equal(link_decode_ack(&f[0], &a, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "HELLO frame where ACK was expected"));
    link_reader_release(&r);
    wbuf_release(&w);
}

static void test_split_feeds_same_frames(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w, 0);
    for (uint64_t v = 0; v < 5; v++)
        put_all(&w, v * 1000003);
    enum { MAX = 5 * N_ALL };
    struct seen whole[MAX], bytes[MAX], rnd[MAX];
    memset(whole, 0, sizeof whole); /* padding compared too */
    memset(bytes, 0, sizeof bytes);
    size_t n = read_split(w.data, w.len, 0, 0, whole, MAX);
    assert_int_equal(n, MAX);
    assert_int_equal(read_split(w.data, w.len, 1, 0, bytes, MAX), MAX);
    assert_memory_equal(whole, bytes, sizeof whole);
    for (uint64_t seed = 1; seed <= 50; seed++) {
        memset(rnd, 0, sizeof rnd);
        assert_int_equal(read_split(w.data, w.len, 2, seed * 0x9e3779b97f4a7c15u, rnd, MAX), MAX);
        assert_memory_equal(whole, rnd, sizeof whole);
    }
    wbuf_release(&w);
}

/* expect_stream_error feeds p (whole, then byte by byte) and wants code with
 * a message that contains want and "byte OFF:". */
static void expect_stream_error(const uint8_t *p, size_t n, int code, const char *want, uint64_t at)
{
    char needle[64];
    snprintf(needle, sizeof needle, "byte %llu:", (unsigned long long)at);
    for (int mode = 0; mode < 2; mode++) {
        struct link_reader r;
        link_reader_init(&r, 0);
        char err[LINK_MSG_MAX] = "";
        struct link_frame f;
        int rc = 0;
        for (size_t i = 0; i < n && rc >= 0; i += mode ? 1 : n) {
            size_t k = mode ? 1 : n;
            assert_int_equal(link_reader_feed(&r, p + i, k), 0);
            while ((rc = link_reader_next(&r, &f, err, sizeof err)) == 1)
                ;
        }
        assert_int_equal(rc, code);
        if (strstr(err, want) == NULL || strstr(err, needle) == NULL)
            fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err, want, needle);
        /* Errors are final. */
        assert_int_equal(link_reader_feed(&r, p, 1), code);
        assert_int_equal(link_reader_next(&r, &f, NULL, 0), code);
        assert_string_equal(r.msg, err);
        link_reader_release(&r);
    }
}

static void test_stream_corruption_detected(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w, 0);
    struct link_ping p = { 1, 2 };
    assert_int_equal(link_put_ping(&w, &p), 0);
    size_t one = w.len; /* the second frame starts here */
    assert_int_equal(link_put_ping(&w, &p), 0);
    uint8_t *d = malloc(w.len);
    assert_non_null(d);

    /* Bad magic, in each of its bytes of the second frame. */
    for (size_t i = 0; i < 4; i++) {
        memcpy(d, w.data, w.len);
        d[one + i] ^= 0x20;
        expect_stream_error(d, w.len, TT_ECORRUPT, "bad magic", one + i);
    }
    /* Any other header byte: the header CRC. */
    for (size_t i = 4; i < LINK_HEADER_LEN; i++) {
        memcpy(d, w.data, w.len);
        d[one + i] ^= 0x01;
        expect_stream_error(d, w.len, TT_ECORRUPT, "header CRC mismatch", one + 12);
    }
    /* Any payload or trailer byte: the frame CRC, reported at the trailer. */
    for (size_t i = LINK_HEADER_LEN; i < one; i++) {
        memcpy(d, w.data, w.len);
        d[one + i] ^= 0x80;
        expect_stream_error(d, w.len, TT_ECORRUPT, "frame CRC mismatch", one + one - 4);
    }
    /* Unknown types, with a good header CRC. */
    uint8_t h[LINK_HEADER_LEN + 4];
    memset(h, 0, sizeof h);
    raw_header(h, 0, 0);
    expect_stream_error(h, LINK_HEADER_LEN, TT_EUNSUPPORTED, "unknown frame type 0", 4);
    raw_header(h, LINK_TYPE_MAX + 1, 0);
    expect_stream_error(h, LINK_HEADER_LEN, TT_EUNSUPPORTED, "unknown frame type 9", 4);
    raw_header(h, 255, 0);
    expect_stream_error(h, LINK_HEADER_LEN, TT_EUNSUPPORTED, "unknown frame type 255", 4);
    free(d);
    wbuf_release(&w);
}

/* decode_raw wraps payload in a good frame at stream offset 0 and decodes it
 * as type; returns the decoder's code and message. */
static int decode_raw(uint8_t type, const void *payload, uint32_t len, char *err, size_t errlen)
{
    struct wbuf w;
    wbuf_init(&w, 0);
    raw_frame(&w, type, payload, len);
    struct link_reader r;
    link_reader_init(&r, 0);
    assert_int_equal(link_reader_feed(&r, w.data, w.len), 0);
    struct link_frame f;
    assert_int_equal(link_reader_next(&r, &f, NULL, 0), 1);
    int rc;
    union {
        struct link_hello h;
        struct link_welcome w;
        struct link_batch b;
        struct link_ack a;
        struct link_nack n;
        struct link_ping p;
        struct link_pong q;
        struct link_bye y;
    } u;
    switch (type) {
    case LINK_HELLO:
        rc = link_decode_hello(&f, &u.h, err, errlen);
        break;
    case LINK_WELCOME:
        rc = link_decode_welcome(&f, &u.w, err, errlen);
        break;
    case LINK_BATCH:
        rc = link_decode_batch(&f, &u.b, err, errlen);
        break;
    case LINK_ACK:
        rc = link_decode_ack(&f, &u.a, err, errlen);
        break;
    case LINK_NACK:
        rc = link_decode_nack(&f, &u.n, err, errlen);
        break;
    case LINK_PING:
        rc = link_decode_ping(&f, &u.p, err, errlen);
        break;
    case LINK_PONG:
        rc = link_decode_pong(&f, &u.q, err, errlen);
        break;
    default:
        rc = link_decode_bye(&f, &u.y, err, errlen);
        break;
    }
    link_reader_release(&r);
    wbuf_release(&w);
    return rc;
}

#define EXPECT_DECODE(type, payload, len, code, want)                                  \
    do {                                                                               \
        char e_[LINK_MSG_MAX] = "";                                                    \
        assert_int_equal(decode_raw((type), (payload), (len), e_, sizeof e_), (code)); \
        if (strstr(e_, (want)) == NULL)                                                \
            fail_msg("message \"%s\" lacks \"%s\"", e_, (want));                       \
    } while (0)

static void test_payload_faults_detected(void **state)
{
    (void)state;
    /* Every fixed-size payload, cut at every length and grown by a byte. */
    uint8_t buf[64];
    memset(buf, 0, sizeof buf);
    static const struct {
        uint8_t type;
        uint32_t len;
    } fixed[] = { { LINK_ACK, 32 }, { LINK_PING, 16 }, { LINK_PONG, 24 } };
    for (size_t t = 0; t < 3; t++) {
        for (uint32_t n = 0; n < fixed[t].len; n++) {
            char e[LINK_MSG_MAX];
            assert_int_equal(decode_raw(fixed[t].type, buf, n, e, sizeof e), TT_ETRUNC);
            /* The field cut short starts at a multiple of 8 in these payloads. */
            char want[64];
            snprintf(want, sizeof want, "byte %u:", LINK_HEADER_LEN + n / 8 * 8);
            if (strstr(e, want) == NULL || strstr(e, "truncated") == NULL)
                fail_msg("\"%s\" lacks \"%s\"", e, want);
        }
        char want[64];
        snprintf(want, sizeof want, "byte %u: 1 trailing bytes", LINK_HEADER_LEN + fixed[t].len);
        EXPECT_DECODE(fixed[t].type, buf, fixed[t].len + 1, TT_ECORRUPT, want);
    }
    /* HELLO: a string running past the payload, a string over the limit, a
     * newer version, trailing bytes. */
    struct wbuf w;
    wbuf_init(&w, 0);
    wbuf_put_u16(&w, LINK_VERSION);
    wbuf_put_uvarint(&w, 50); /* node: 50 bytes announced, 3 there */
    wbuf_put(&w, "abc", 3);
    EXPECT_DECODE(LINK_HELLO, w.data, (uint32_t)w.len, TT_ETRUNC, "byte 18: HELLO field node");
    wbuf_reset(&w);
    wbuf_put_u16(&w, LINK_VERSION);
    wbuf_put_str(&w, "n", 1);
    wbuf_put_uvarint(&w, LINK_MAX_STR + 1);
    for (uint32_t i = 0; i <= LINK_MAX_STR; i++)
        wbuf_put_u8(&w, 'r');
    EXPECT_DECODE(LINK_HELLO, w.data, (uint32_t)w.len, TT_ECORRUPT, "byte 20: HELLO field role");
    wbuf_reset(&w);
    wbuf_put_u16(&w, LINK_VERSION + 1);
    EXPECT_DECODE(LINK_HELLO, w.data, (uint32_t)w.len, TT_EVERSION, "protocol version 2");
    struct wbuf fr;
    wbuf_init(&fr, 0);
    raw_frame(&fr, LINK_HELLO, w.data, (uint32_t)w.len);
    struct link_frame f = { LINK_HELLO, 0, (uint32_t)w.len, fr.data + LINK_HEADER_LEN, 0 };
    struct link_hello h;
    assert_int_equal(link_decode_hello(&f, &h, NULL, 0), TT_EVERSION);
    assert_int_equal(h.version, LINK_VERSION + 1);
    wbuf_release(&fr);
    /* A varint longer than 10 bytes. */
    wbuf_reset(&w);
    wbuf_put_u16(&w, 0);
    for (int i = 0; i < 11; i++)
        wbuf_put_u8(&w, 0xff);
    EXPECT_DECODE(LINK_BYE, w.data, (uint32_t)w.len, TT_ECORRUPT, "byte 18: BYE field reason");
    /* WELCOME: too many origins; fewer origin bytes than announced. */
    wbuf_reset(&w);
    wbuf_put_u16(&w, 1);
    wbuf_put_u64(&w, 0);
    wbuf_put_u64(&w, 0);
    wbuf_put_u32(&w, 0);
    wbuf_put_u32(&w, LINK_MAX_ORIGINS + 1);
    EXPECT_DECODE(LINK_WELCOME, w.data, (uint32_t)w.len, TT_ECORRUPT, "byte 38: WELCOME with");
    w.len -= 4;
    wbuf_put_u32(&w, 2);
    wbuf_put_u64(&w, 1);
    wbuf_put_u64(&w, 2);
    wbuf_put_u64(&w, 3);
    EXPECT_DECODE(LINK_WELCOME, w.data, (uint32_t)w.len, TT_ETRUNC,
                  "byte 42: WELCOME field origins truncated");
    /* NACK: a retry flag other than 0 or 1. */
    wbuf_reset(&w);
    wbuf_put_u64(&w, 1);
    wbuf_put_u16(&w, 1);
    wbuf_put_u8(&w, 2);
    EXPECT_DECODE(LINK_NACK, w.data, (uint32_t)w.len, TT_ECORRUPT, "byte 26: NACK retry flag 2");
    wbuf_release(&w);
}

static void test_oversize_refused_before_buffering(void **state)
{
    (void)state;
    uint8_t h[LINK_HEADER_LEN];
    /* A control frame over LINK_MAX_CONTROL, a BATCH over LINK_MAX_PAYLOAD. */
    raw_header(h, LINK_PING, LINK_MAX_CONTROL + 1);
    expect_stream_error(h, sizeof h, TT_ETOOBIG, "PING payload length 262145 over the limit", 8);
    raw_header(h, LINK_BATCH, LINK_MAX_PAYLOAD + 1);
    expect_stream_error(h, sizeof h, TT_ETOOBIG, "BATCH payload length", 8);
    raw_header(h, LINK_BATCH, UINT32_MAX);
    expect_stream_error(h, sizeof h, TT_ETOOBIG, "over the limit of 67112960 bytes", 8);
    /* A reader with a lower limit refuses from the header alone. */
    struct link_reader r;
    link_reader_init(&r, 1000);
    raw_header(h, LINK_BATCH, 1001);
    assert_int_equal(link_reader_feed(&r, h, sizeof h), 0);
    struct link_frame f;
    assert_int_equal(link_reader_next(&r, &f, NULL, 0), TT_ETOOBIG);
    assert_non_null(strstr(r.msg, "limit of 1000"));
    link_reader_release(&r);
    /* A checked header announcing 60 MiB: memory follows the bytes that
     * arrive, not the announcement. */
    link_reader_init(&r, 0);
    raw_header(h, LINK_BATCH, 60u << 20);
    assert_int_equal(link_reader_feed(&r, h, sizeof h), 0);
    assert_int_equal(link_reader_next(&r, &f, NULL, 0), 0);
    static uint8_t chunk[10000];
    for (int i = 0; i < 100; i++)
        assert_int_equal(link_reader_feed(&r, chunk, sizeof chunk), 0);
    assert_int_equal(link_reader_next(&r, &f, NULL, 0), 0);
    assert_int_equal(link_reader_buffered(&r), sizeof h + 100 * sizeof chunk);
    assert_true(r.cap <= 2 * link_reader_buffered(&r));
    assert_int_equal(link_reader_pending(&r), 1);
    link_reader_release(&r);
}

/* skip_run feeds stream (a too-big BATCH, then a PING) in pieces of step
 * bytes to a reader limited to 1000 bytes, skipping as the listener does,
 * and checks the skip and the PING after it. */
static void skip_run(const struct wbuf *stream, size_t big_len, size_t step)
{
    struct link_reader r;
    struct link_frame f;
    struct link_skipped sk;
    uint64_t remaining = 0;
    int skipped = 0, pings = 0;
    uint8_t head[8];
    uint32_t head_have = 0;
    link_reader_init(&r, 1000);
    assert_int_equal(link_reader_skip_frame(&r, &sk), TT_EINVAL); /* no error to skip */
    for (size_t off = 0; off < stream->len;) {
        size_t n = stream->len - off < step ? stream->len - off : step;
        const uint8_t *p = stream->data + off;
        off += n;
        while (remaining > 0 && n > 0) {
            if (head_have < 8)
                head[head_have++] = *p;
            p++;
            n--;
            remaining--;
        }
        if (n > 0)
            assert_int_equal(link_reader_feed(&r, p, n), 0);
        int rc;
        while ((rc = link_reader_next(&r, &f, NULL, 0)) != 0) {
            if (rc == TT_ETOOBIG) {
                assert_int_equal(link_reader_skip_frame(&r, &sk), 0);
                assert_int_equal(sk.type, LINK_BATCH);
                assert_int_equal(sk.len, big_len - LINK_FRAME_OVERHEAD);
                assert_int_equal(sk.offset, 0);
                /* what the reader held of the frame plus what is left is the frame */
                assert_true(sk.remaining <= big_len - LINK_HEADER_LEN - sk.head_have);
                assert_true(sk.head_have == 8 || sk.remaining > 0);
                memcpy(head, sk.head, sk.head_have);
                head_have = sk.head_have;
                remaining = sk.remaining;
                skipped++;
                continue;
            }
            assert_int_equal(rc, 1);
            assert_int_equal(f.type, LINK_PING);
            pings++;
        }
    }
    assert_int_equal(skipped, 1);
    assert_int_equal(pings, 1);
    assert_int_equal(remaining, 0);
    assert_int_equal(head_have, 8);
    assert_int_equal(get_le64(head), 77); /* the BATCH's seq */
    assert_int_equal(link_reader_pending(&r), 0);
    link_reader_release(&r);
}

static void test_skip_oversized_batch(void **state)
{
    (void)state;
    struct wbuf b, w;
    wbuf_init(&b, 0);
    wbuf_init(&w, 0);
    make_batch(&b, 0, 200, BATCH_COMP_NONE);
    assert_true(b.len > 1000);
    assert_int_equal(link_put_batch(&w, 77, b.data, b.len), 0);
    size_t big_len = w.len;
    assert_int_equal(link_put_ping(&w, &(struct link_ping){ 5, 6 }), 0);
    /* Whole, byte by byte, and in odd pieces: the same result. */
    skip_run(&w, big_len, w.len);
    skip_run(&w, big_len, 1);
    skip_run(&w, big_len, 7);
    skip_run(&w, big_len, LINK_HEADER_LEN + 3);
    wbuf_release(&b);
    wbuf_release(&w);
}

static void test_stream_of_10k_frames(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct wbuf w, b;
    wbuf_init(&w, 0);
    wbuf_init(&b, 0);
    make_batch(&b, 0, 2, BATCH_COMP_NONE);
    for (uint64_t i = 0; i < N; i++) {
        switch (i % 4) {
        case 0:
            assert_int_equal(link_put_batch(&w, i, b.data, b.len), 0);
            break;
        case 1: {
            struct link_ack a = { i, 7, i * 2, i * 3 };
            assert_int_equal(link_put_ack(&w, &a), 0);
            break;
        }
        case 2: {
            struct link_ping p = { i, i + 1 };
            assert_int_equal(link_put_ping(&w, &p), 0);
            break;
        }
        default: {
            struct link_nack n = { i, LINK_NACK_STORE, 1, 10, ls("wal fsync failed") };
            assert_int_equal(link_put_nack(&w, &n), 0);
            break;
        }
        }
    }
    struct link_reader r;
    link_reader_init(&r, 0);
    uint64_t seed = 42, i = 0;
    size_t at = 0;
    char err[LINK_MSG_MAX];
    while (at < w.len) {
        size_t k = 1 + rng_next(&seed) % 5000;
        if (k > w.len - at)
            k = w.len - at;
        assert_int_equal(link_reader_feed(&r, w.data + at, k), 0);
        at += k;
        struct link_frame f;
        int rc;
        while ((rc = link_reader_next(&r, &f, err, sizeof err)) == 1) {
            uint64_t seq = 0;
            switch (i % 4) {
            case 0: {
                struct link_batch lb;
                assert_int_equal(link_decode_batch(&f, &lb, err, sizeof err), 0);
                seq = lb.seq;
                break;
            }
            case 1: {
                struct link_ack a;
                assert_int_equal(link_decode_ack(&f, &a, err, sizeof err), 0);
                assert_true(a.durable_end == i * 2 && a.hlc == i * 3);
                seq = a.seq;
                break;
            }
            case 2: {
                struct link_ping p;
                assert_int_equal(link_decode_ping(&f, &p, err, sizeof err), 0);
                seq = p.hlc;
                break;
            }
            default: {
                struct link_nack n;
                assert_int_equal(link_decode_nack(&f, &n, err, sizeof err), 0);
                seq = n.seq;
                break;
            }
            }
            assert_true(seq == i);
            i++;
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(i, N);
    assert_int_equal(link_reader_pending(&r), 0);
    link_reader_release(&r);
    wbuf_release(&b);
    wbuf_release(&w);
}

static void test_batch_carries_core_batch(void **state)
{
    (void)state;
    static const int comps[] = { BATCH_COMP_NONE, BATCH_COMP_ZSTD, BATCH_COMP_LZ4 };
    char err[LINK_MSG_MAX];
    for (size_t c = 0; c < 3; c++) {
        struct wbuf b, w, scratch;
        wbuf_init(&b, 0);
        wbuf_init(&w, 0);
        wbuf_init(&scratch, 0);
        make_batch(&b, 1000, 50, comps[c]);
        assert_int_equal(link_put_batch(&w, 77, b.data, b.len), 0);
        /* link_batch_wrap gives the same bytes without copying the batch. */
        uint8_t head[LINK_BATCH_HEAD_LEN], tail[LINK_TRAILER_LEN];
        assert_int_equal(link_batch_wrap(head, tail, 77, b.data, b.len), 0);
        assert_int_equal(w.len, sizeof head + b.len + sizeof tail);
        assert_memory_equal(w.data, head, sizeof head);
        assert_memory_equal(w.data + sizeof head + b.len, tail, sizeof tail);

        struct link_reader r;
        link_reader_init(&r, 0);
        assert_int_equal(link_reader_feed(&r, w.data, w.len), 0);
        struct link_frame f;
        assert_int_equal(link_reader_next(&r, &f, err, sizeof err), 1);
        struct link_batch lb;
        assert_int_equal(link_decode_batch(&f, &lb, err, sizeof err), 0);
        assert_true(lb.seq == 77 && lb.hdr.first_seq == 1000 && lb.hdr.count == 50);
        assert_int_equal(lb.hdr.origin_len, sizeof ORIGIN - 1);
        assert_memory_equal(lb.hdr.origin, ORIGIN, sizeof ORIGIN - 1);
        /* The records inside read back. */
        const uint8_t *body;
        size_t body_len;
        assert_int_equal(batch_open(lb.batch, &lb.hdr, &scratch, &body, &body_len, err, sizeof err),
                         0);
        struct rbuf rb;
        rbuf_init(&rb, body, body_len);
        struct rec rec;
        int n = 0;
        while (rbuf_left(&rb) > 0) {
            assert_int_equal(rec_next(&rb, body, &rec, err, sizeof err), 1);
            struct rec_event e;
            assert_int_equal(rec_decode_event(&rec, &e, err, sizeof err), 0);
            assert_strn_equal(e.message.p, e.message.len, "sda1 at 97%");
            n++;
        }
        assert_int_equal(n, 50);
        link_reader_release(&r);
        wbuf_release(&scratch);
        wbuf_release(&b);
        wbuf_release(&w);
    }

    /* A damaged batch inside a good frame: the body CRC, trailing bytes, a
     * batch cut short, a batch header that does not parse. */
    struct wbuf b, p;
    wbuf_init(&b, 0);
    wbuf_init(&p, 0);
    make_batch(&b, 5, 4, BATCH_COMP_NONE);
    wbuf_put_u64(&p, 9);
    wbuf_put(&p, b.data, b.len);
    p.data[8 + b.len - 10] ^= 1; /* a body byte */
    EXPECT_DECODE(LINK_BATCH, p.data, (uint32_t)p.len, TT_ECORRUPT,
                  "byte 24: BATCH carries a bad batch");
    p.data[8 + b.len - 10] ^= 1;
    EXPECT_DECODE(LINK_BATCH, p.data, (uint32_t)p.len, 0, "");
    wbuf_put_u8(&p, 0);
    char want[64];
    snprintf(want, sizeof want, "byte %zu: 1 trailing bytes after the batch", 24 + b.len);
    EXPECT_DECODE(LINK_BATCH, p.data, (uint32_t)p.len, TT_ECORRUPT, want);
    EXPECT_DECODE(LINK_BATCH, p.data, (uint32_t)(p.len - 2), TT_ETRUNC, "BATCH truncated");
    p.data[8] ^= 0xff; /* the batch magic */
    EXPECT_DECODE(LINK_BATCH, p.data, (uint32_t)p.len, TT_ECORRUPT, "bad batch");
    EXPECT_DECODE(LINK_BATCH, p.data, 5, TT_ETRUNC, "byte 16: BATCH field seq truncated");
    wbuf_release(&p);
    wbuf_release(&b);
}

static void test_encoders_refuse_bad_fields(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w, 0);
    struct link_ping p = { 1, 2 };
    assert_int_equal(link_put_ping(&w, &p), 0);
    size_t len = w.len;
    memset(long_str, 'y', sizeof long_str);
    struct link_hello h = { LINK_VERSION, ls("n"), ls("r"), ls("v"), ls("a"), 1, 2, 3 };
    h.node.p = long_str;
    h.node.len = LINK_MAX_STR + 1;
    assert_int_equal(link_put_hello(&w, &h), TT_EINVAL);
    struct link_bye y = { 0, { long_str, LINK_MAX_STR + 1 } };
    assert_int_equal(link_put_bye(&w, &y), TT_EINVAL);
    struct link_nack n = { 1, 1, 2, 0, ls("") };
    assert_int_equal(link_put_nack(&w, &n), TT_EINVAL);
    struct link_welcome we = { 1, 0, 0, 0, LINK_MAX_ORIGINS + 1, NULL, NULL };
    assert_int_equal(link_put_welcome(&w, &we), TT_EINVAL);
    we.n_origins = 1; /* entries missing */
    assert_int_equal(link_put_welcome(&w, &we), TT_EINVAL);
    uint8_t junk[100] = { 0 };
    assert_int_equal(link_put_batch(&w, 1, junk, sizeof junk), TT_EINVAL);
    struct wbuf b;
    wbuf_init(&b, 0);
    make_batch(&b, 0, 1, BATCH_COMP_NONE);
    assert_int_equal(link_put_batch(&w, 1, b.data, b.len - 1), TT_EINVAL);
    wbuf_put_u8(&b, 0);
    assert_int_equal(link_put_batch(&w, 1, b.data, b.len), TT_EINVAL);
    uint8_t head[LINK_BATCH_HEAD_LEN], tail[4];
    assert_int_equal(link_batch_wrap(head, tail, 1, b.data, b.len), TT_EINVAL);
    assert_int_equal(w.len, len);
    assert_int_equal(w.err, 0);
    /* A buffer that cannot hold the frame: refused, left as it was. */
    struct wbuf small;
    wbuf_init(&small, 40);
    struct link_ack a = { 1, 2, 3, 4 };
    assert_int_equal(link_put_ack(&small, &a), TT_ETOOBIG);
    assert_int_equal(small.len, 0);
    assert_int_equal(small.err, 0);
    assert_int_equal(link_put_ping(&small, &p), 0);
    assert_int_equal(small.len, LINK_FRAME_OVERHEAD + 16);
    wbuf_release(&small);
    wbuf_release(&b);
    wbuf_release(&w);
    /* Names and retry advice. */
    assert_string_equal(link_type_name(LINK_WELCOME), "WELCOME");
    assert_string_equal(link_type_name(0), "unknown");
    assert_string_equal(link_type_name(200), "unknown");
    assert_true(link_nack_retryable(LINK_NACK_OVERLOADED));
    assert_false(link_nack_retryable(LINK_NACK_BAD_BATCH));
}

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
    if (dir == NULL)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz_link", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir %s", path);
    snprintf(path, sizeof path, "%s/fuzz_link/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The fuzz seeds (tests/fuzz/fuzz_link.c: the first 8 bytes pick the splits,
 * the rest is the stream). Always built and checked; TT_WRITE_SEEDS=
 * tests/fuzz/corpus writes them out. */
static void test_fuzz_seeds(void **state)
{
    (void)state;
    const char *dir = getenv("TT_WRITE_SEEDS");
    struct wbuf w;
    wbuf_init(&w, 0);
    struct seen s[64];
    /* Every type, one conversation each way, a torn tail. */
    static const uint8_t split[8] = { 3, 17, 1, 200, 9, 64, 2, 5 };
    wbuf_put(&w, split, sizeof split);
    put_all(&w, 12345);
    assert_int_equal(read_split(w.data + 8, w.len - 8, 2, 7, s, 64), N_ALL);
    write_seed(dir, "all-types", w.data, w.len);
    wbuf_reset(&w);
    wbuf_put(&w, split, sizeof split);
    struct link_hello h = {
        LINK_VERSION, ls("web-3"), ls("api"), ls("r42"), ls("0.1.0"), 9, 10, 11
    };
    assert_int_equal(link_put_hello(&w, &h), 0);
    struct wbuf b;
    wbuf_init(&b, 0);
    make_batch(&b, 0, 2, BATCH_COMP_NONE);
    assert_int_equal(link_put_batch(&w, 1, b.data, b.len), 0);
    wbuf_reset(&b);
    make_batch(&b, 2, 20, BATCH_COMP_ZSTD);
    assert_int_equal(link_put_batch(&w, 2, b.data, b.len), 0);
    struct link_bye y = { LINK_BYE_NORMAL, ls("done") };
    assert_int_equal(link_put_bye(&w, &y), 0);
    assert_int_equal(read_split(w.data + 8, w.len - 8, 1, 0, s, 64), 4);
    write_seed(dir, "agent-side", w.data, w.len);
    w.len -= 3; /* torn in the last frame */
    write_seed(dir, "agent-torn", w.data, w.len);
    wbuf_reset(&w);
    wbuf_put(&w, split, sizeof split);
    struct link_origin o[2] = { { 9, 100 }, { 0xfeedface, 2 } };
    struct link_welcome we = { LINK_VERSION, 5, 6, 1u << 20, 2, o, NULL };
    assert_int_equal(link_put_welcome(&w, &we), 0);
    struct link_ack a = { 1, 0xfeedface, 2, 99 };
    assert_int_equal(link_put_ack(&w, &a), 0);
    struct link_nack n = { 2, LINK_NACK_TOO_BIG, 0, 0, ls("over 1 MiB") };
    assert_int_equal(link_put_nack(&w, &n), 0);
    struct link_pong q = { 1, 2, 3 };
    assert_int_equal(link_put_pong(&w, &q), 0);
    assert_int_equal(read_split(w.data + 8, w.len - 8, 0, 0, s, 64), 4);
    write_seed(dir, "server-side", w.data, w.len);
    wbuf_release(&b);
    wbuf_release(&w);
}

UNIT_TESTS(cmocka_unit_test(test_round_trip_every_type),
           cmocka_unit_test(test_split_feeds_same_frames),
           cmocka_unit_test(test_stream_corruption_detected),
           cmocka_unit_test(test_payload_faults_detected),
           cmocka_unit_test(test_oversize_refused_before_buffering),
           cmocka_unit_test(test_skip_oversized_batch), cmocka_unit_test(test_stream_of_10k_frames),
           cmocka_unit_test(test_batch_carries_core_batch),
           cmocka_unit_test(test_encoders_refuse_bad_fields), cmocka_unit_test(test_fuzz_seeds))
