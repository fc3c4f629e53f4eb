/*
 * fuzz_link.c - fuzz target for the agent-to-server link codec (core/link.c).
 * The first 8 input bytes seed the splits, the rest is a stream. The stream
 * is read twice, fed whole and fed in pieces of pseudo-random sizes (1 byte
 * to a few KiB, derived from the seed): both must yield the same frames and
 * end the same way (same code and message), whatever the split. Every frame
 * goes through its typed decoder; every decoded frame is encoded again and
 * must decode to the same values. Then the stream is read once more with
 * every would-be frame's CRCs fixed up (seal), so mutations reach the
 * payload decoders behind the checksums, and once more (sealed) with a
 * 64-byte BATCH limit, skipping oversized BATCHes as the server does
 * (link_reader_skip_frame), checking every byte is accounted for.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/crc32c.h"
#include "core/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#define MAX_SEEN 512

struct seen {
    uint8_t type;
    uint32_t len;
    uint64_t offset;
    uint32_t crc;
    int decoded; /* the typed decoder's code */
};

struct run {
    struct seen s[MAX_SEEN];
    size_t n;
    int rc;
    char msg[LINK_MSG_MAX];
    uint64_t sum; /* touches every byte handed out, so ASan sees a bad one */
};

static void touch(struct run *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        r->sum += b[i];
}

static int same_str(struct link_str a, struct link_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* reread decodes the single frame in w as the same type. */
static struct link_frame reread(struct link_reader *lr, const struct wbuf *w)
{
    struct link_frame f;
    link_reader_init(lr, 0);
    CHECK(link_reader_feed(lr, w->data, w->len) == 0);
    CHECK(link_reader_next(lr, &f, NULL, 0) == 1);
    CHECK(link_reader_next(lr, &f, NULL, 0) == 0);
    return f;
}

/* decode runs f's decoder, re-encodes what it decoded and checks it reads back. */
static int decode(struct run *r, const struct link_frame *f)
{
    char err[LINK_MSG_MAX];
    struct wbuf w;
    struct link_reader lr;
    struct link_frame g;
    int rc;
    wbuf_init(&w, 0);
    link_reader_init(&lr, 0);
    switch (f->type) {
    case LINK_HELLO: {
        struct link_hello a, b;
        rc = link_decode_hello(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        touch(r, a.node.p, a.node.len);
        touch(r, a.role.p, a.role.len);
        touch(r, a.release.p, a.release.len);
        touch(r, a.agent_version.p, a.agent_version.len);
        CHECK(link_put_hello(&w, &a) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_hello(&g, &b, NULL, 0) == 0);
        CHECK(same_str(a.node, b.node) && same_str(a.role, b.role));
        CHECK(same_str(a.release, b.release) && same_str(a.agent_version, b.agent_version));
        CHECK(a.origin_id == b.origin_id && a.hlc == b.hlc && a.physical_ms == b.physical_ms);
        break;
    }
    case LINK_WELCOME: {
        struct link_welcome a, b;
        rc = link_decode_welcome(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        CHECK(link_put_welcome(&w, &a) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_welcome(&g, &b, NULL, 0) == 0);
        CHECK(a.version == b.version && a.hlc == b.hlc && a.physical_ms == b.physical_ms);
        CHECK(a.max_batch_bytes == b.max_batch_bytes && a.n_origins == b.n_origins);
        for (uint32_t i = 0; i < a.n_origins; i++) {
            struct link_origin x = link_welcome_origin(&a, i), y = link_welcome_origin(&b, i);
            CHECK(x.origin_id == y.origin_id && x.durable_end == y.durable_end);
        }
        break;
    }
    case LINK_BATCH: {
        struct link_batch a, b;
        rc = link_decode_batch(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        touch(r, a.batch, a.batch_len);
        touch(r, a.hdr.origin, a.hdr.origin_len);
        CHECK(a.batch + a.batch_len == f->payload + f->len);
        CHECK(link_put_batch(&w, a.seq, a.batch, a.batch_len) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_batch(&g, &b, NULL, 0) == 0);
        CHECK(a.seq == b.seq && a.batch_len == b.batch_len);
        CHECK(memcmp(a.batch, b.batch, a.batch_len) == 0);
        uint8_t head[LINK_BATCH_HEAD_LEN], tail[LINK_TRAILER_LEN];
        CHECK(link_batch_wrap(head, tail, a.seq, a.batch, a.batch_len) == 0);
        CHECK(memcmp(head, w.data, sizeof head) == 0);
        CHECK(memcmp(tail, w.data + w.len - sizeof tail, sizeof tail) == 0);
        break;
    }
    case LINK_ACK: {
        struct link_ack a, b;
        rc = link_decode_ack(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        CHECK(link_put_ack(&w, &a) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_ack(&g, &b, NULL, 0) == 0);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
        CHECK(w.len == LINK_FRAME_OVERHEAD + f->len);
        break;
    }
    case LINK_NACK: {
        struct link_nack a, b;
        rc = link_decode_nack(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        touch(r, a.message.p, a.message.len);
        CHECK(link_put_nack(&w, &a) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_nack(&g, &b, NULL, 0) == 0);
        CHECK(a.seq == b.seq && a.reason == b.reason && a.retry == b.retry);
        CHECK(a.retry_after_ms == b.retry_after_ms && same_str(a.message, b.message));
        break;
    }
    case LINK_PING: {
        struct link_ping a, b;
        rc = link_decode_ping(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        CHECK(link_put_ping(&w, &a) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_ping(&g, &b, NULL, 0) == 0);
        CHECK(a.hlc == b.hlc && a.physical_ms == b.physical_ms);
        break;
    }
    case LINK_PONG: {
        struct link_pong a, b;
        rc = link_decode_pong(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        CHECK(link_put_pong(&w, &a) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_pong(&g, &b, NULL, 0) == 0);
        CHECK(a.echo_ms == b.echo_ms && a.hlc == b.hlc && a.physical_ms == b.physical_ms);
        break;
    }
    case LINK_BYE: {
        struct link_bye a, b;
        rc = link_decode_bye(f, &a, err, sizeof err);
        if (rc != 0)
            break;
        touch(r, a.reason.p, a.reason.len);
        CHECK(link_put_bye(&w, &a) == 0);
        g = reread(&lr, &w);
        CHECK(link_decode_bye(&g, &b, NULL, 0) == 0);
        CHECK(a.code == b.code && same_str(a.reason, b.reason));
        break;
    }
    default:
        CHECK(0 && "reader yielded an unknown type");
        rc = 0;
    }
    if (rc != 0)
        CHECK(rc < 0 && strncmp(err, "link: byte ", 11) == 0);
    link_reader_release(&lr);
    wbuf_release(&w);
    return rc;
}

/* read_stream feeds p to a reader (whole when seed is 0, else in pieces). */
static void read_stream(struct run *r, const uint8_t *p, size_t n, uint64_t seed)
{
    struct link_reader lr;
    link_reader_init(&lr, 0);
    memset(r, 0, sizeof *r);
    size_t at = 0;
    uint64_t x = seed | 1;
    while (at < n && r->rc == 0) {
        size_t k = n - at;
        if (seed != 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            k = (x & 1) ? 1 + (x >> 8) % 8 : 1 + (x >> 8) % 4096;
            if (k > n - at)
                k = n - at;
        }
        int rc = link_reader_feed(&lr, p + at, k);
        if (rc == TT_ENOMEM) {
            r->rc = rc;
            break;
        }
        CHECK(rc == 0);
        at += k;
        struct link_frame f;
        while ((rc = link_reader_next(&lr, &f, r->msg, sizeof r->msg)) == 1) {
            CHECK(f.offset + LINK_FRAME_OVERHEAD + f.len <= at);
            touch(r, f.payload, f.len);
            int d = decode(r, &f);
            if (r->n < MAX_SEEN) {
                struct seen *s = &r->s[r->n];
                s->type = f.type;
                s->len = f.len;
                s->offset = f.offset;
                s->crc = crc32c(0, f.payload, f.len);
                s->decoded = d;
            }
            r->n++;
        }
        if (rc != 0) {
            CHECK(rc == TT_ECORRUPT || rc == TT_EUNSUPPORTED || rc == TT_ETOOBIG);
            CHECK(strncmp(r->msg, "link: byte ", 11) == 0);
            r->rc = rc;
        }
    }
    CHECK(link_reader_buffered(&lr) <= n);
    link_reader_release(&lr);
}

/* seal fixes the header and frame CRCs of every would-be frame in d. */
static void seal(uint8_t *d, size_t n)
{
    size_t i = 0;
    while (i + LINK_HEADER_LEN <= n) {
        if (memcmp(d + i, "TTL1", 4) != 0) {
            i++;
            continue;
        }
        put_le32(d + i + 12, crc32c(0, d + i, 12));
        uint32_t len = get_le32(d + i + 8);
        if ((uint64_t)len + LINK_FRAME_OVERHEAD > n - i) {
            i++;
            continue;
        }
        put_le32(d + i + LINK_HEADER_LEN + len, crc32c(0, d + i, LINK_HEADER_LEN + len));
        i += LINK_FRAME_OVERHEAD + len;
    }
}

static struct run whole, split;

/* skip_stream reads data as the server does with a small BATCH limit:
 * an oversized BATCH is skipped with link_reader_skip_frame (the bytes it
 * still owns discarded before the next feed) and reading goes on. Checks
 * that every byte is accounted for: frames returned, bytes skipped, bytes
 * held at the end, or a final stream error. */
static void skip_stream(const uint8_t *data, size_t size, uint64_t seed)
{
    struct link_reader r;
    struct link_frame f;
    struct link_skipped sk;
    /* fed: bytes given to the reader; returned: bytes of frames it returned;
     * held: bytes of skipped frames it had; discarded: bytes not fed. */
    uint64_t remaining = 0, fed = 0, returned = 0, held = 0, discarded = 0;
    int rc = 0;
    size_t off = 0;
    link_reader_init(&r, 64);
    while (off < size && rc >= 0) {
        size_t n = 1 + (size_t)(seed % 97);
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        if (n > size - off)
            n = size - off;
        const uint8_t *p = data + off;
        off += n;
        size_t take = n < remaining ? n : (size_t)remaining;
        remaining -= take;
        discarded += take;
        p += take;
        n -= take;
        if (n > 0) {
            if (link_reader_feed(&r, p, n) == TT_ENOMEM)
                break;
            fed += n;
        }
        while ((rc = link_reader_next(&r, &f, NULL, 0)) != 0) {
            if (rc == TT_ETOOBIG) {
                CHECK(remaining == 0);
                CHECK(link_reader_skip_frame(&r, &sk) == 0);
                CHECK(sk.head_have <= 8 && sk.head_have <= sk.len);
                CHECK(sk.offset == returned + held);
                uint64_t total = (uint64_t)LINK_FRAME_OVERHEAD + sk.len;
                CHECK(sk.remaining < total);
                held += total - sk.remaining;
                remaining = sk.remaining;
                CHECK(link_reader_skip_frame(&r, &sk) == TT_EINVAL);
                continue;
            }
            if (rc < 0)
                break;
            CHECK(f.offset == returned + held);
            returned += (uint64_t)LINK_FRAME_OVERHEAD + f.len;
        }
    }
    if (rc >= 0 && off == size) {
        CHECK(fed + discarded == size);
        CHECK(returned + held + link_reader_buffered(&r) == fed);
    }
    link_reader_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t seed = get_le64(data);
    data += 8;
    size -= 8;
    read_stream(&whole, data, size, 0);
    read_stream(&split, data, size, seed ? seed : 1);
    if (whole.rc != TT_ENOMEM && split.rc != TT_ENOMEM) {
        CHECK(whole.n == split.n && whole.rc == split.rc);
        CHECK(strcmp(whole.msg, split.msg) == 0);
        size_t m = whole.n < MAX_SEEN ? whole.n : MAX_SEEN;
        CHECK(memcmp(whole.s, split.s, m * sizeof whole.s[0]) == 0);
    }
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    seal(copy, size);
    read_stream(&whole, copy, size, seed);
    skip_stream(copy, size, seed);
    free(copy);
    return 0;
}
