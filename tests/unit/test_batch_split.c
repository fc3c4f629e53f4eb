/*
 * test_batch_split.c - cutting an oversized batch into self-contained pieces
 * that keep its seq range: events-only batches anywhere, agent rounds
 * between their samples and their events, a series/samples group never
 * (TT_ETOOBIG); a batch that fits is copied; a damaged one is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "agent/agent.h"
#include "agent/batch_split.h"
#include "core/batch.h"
#include "core/compress.h"
#include "core/record.h"

/* rand_text fills s (n bytes, NUL-terminated) with letters zstd cannot squeeze. */
static void rand_text(char *s, size_t n, uint64_t *x)
{
    for (size_t k = 0; k + 1 < n; k++) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        s[k] = (char)('a' + *x % 26);
    }
    s[n - 1] = '\0';
}

/* build makes a batch: nseries series with one sample each (if nseries),
 * then nevents events named "e<i>" with a random 300-byte message. */
static void build(struct wbuf *out, int nseries, int nevents, uint64_t first_seq)
{
    struct agent_batcher b;
    char v[32], msg[300], name[32];
    uint64_t x = 12345;
    agent_batcher_init(&b);
    for (int i = 0; i < nseries; i++) {
        snprintf(v, sizeof v, "%d", i);
        rand_text(msg, sizeof msg, &x);
        struct agent_label l[] = { { "i", v }, { "pad", msg } };
        assert_int_equal(agent_batcher_add(&b, "m", l, 2, 1000, i), 0);
    }
    for (int i = 0; i < nevents; i++) {
        snprintf(name, sizeof name, "e%d", i);
        rand_text(msg, sizeof msg, &x);
        struct agent_event ev = { .name = name, .message = msg, .t_ms = 1 };
        assert_int_equal(agent_batcher_add_event(&b, &ev, 100 + (tt_hlc)i), 0);
    }
    assert_int_equal(agent_batcher_finish(&b, "node", 77, first_seq, 50, 0, out), 0);
    agent_batcher_release(&b);
}

/* walk checks the pieces in p: each <= max, contiguous seqs from first,
 * self-contained; returns the number of pieces and appends the records'
 * types ('s', 'S', 'e') and event names to trace. */
static size_t walk(const struct wbuf *p, size_t max, uint64_t first, uint64_t *end, char *trace,
                   size_t tlen)
{
    size_t off = 0, n = 0, tl = 0;
    char err[256];
    struct wbuf scratch;
    wbuf_init(&scratch, 0);
    while (off < p->len) {
        struct batch_hdr h;
        const uint8_t *body;
        size_t blen;
        uint8_t declared[256];
        memset(declared, 0, sizeof declared);
        assert_int_equal(batch_parse_header(p->data + off, p->len - off, &h, err, sizeof err), 0);
        assert_true(batch_total_len(&h) <= max);
        assert_int_equal(h.first_seq, first);
        assert_int_equal(h.origin_id, 77);
        assert_int_equal(h.origin_len, 10);
        assert_memory_equal(h.origin, "node\0agent", 10);
        assert_int_equal(batch_open(p->data + off, &h, &scratch, &body, &blen, err, sizeof err), 0);
        struct rbuf r;
        struct rec rec;
        uint32_t nrec = 0;
        rbuf_init(&r, body, blen);
        while (rec_next(&r, body, &rec, err, sizeof err) == 1) {
            nrec++;
            assert_true(rec.hlc >= h.hlc_min && rec.hlc <= h.hlc_max);
            if (rec.type == REC_SERIES) {
                struct rec_series se;
                assert_int_equal(rec_decode_series(&rec, &se, err, sizeof err), 0);
                declared[se.ref & 255] = 1;
                tl += (size_t)snprintf(trace + tl, tlen - tl, "s");
            } else if (rec.type == REC_SAMPLES) {
                struct rec_samples rs;
                struct rec_sample_iter it;
                struct rec_sample x;
                assert_int_equal(rec_decode_samples(&rec, &rs, err, sizeof err), 0);
                rec_sample_iter_init(&it, &rs);
                while (rec_sample_next(&it, &x) == 1)
                    assert_true(declared[x.ref & 255]);
                tl += (size_t)snprintf(trace + tl, tlen - tl, "S");
            } else {
                struct rec_event e;
                assert_int_equal(rec_decode_event(&rec, &e, err, sizeof err), 0);
                tl += (size_t)snprintf(trace + tl, tlen - tl, "%.*s", (int)e.name.len, e.name.p);
            }
            assert_true(tl < tlen);
        }
        assert_int_equal(nrec, h.count);
        first += h.count;
        off += batch_total_len(&h);
        n++;
        tl += (size_t)snprintf(trace + tl, tlen - tl, "|");
    }
    wbuf_release(&scratch);
    *end = first;
    return n;
}

static void test_split_events(void **state)
{
    (void)state;
    struct wbuf in, out;
    char trace[4096], err[256];
    size_t np = 0;
    uint64_t end;
    wbuf_init(&in, 0);
    wbuf_init(&out, 0);
    build(&in, 0, 40, 1000);
    assert_true(in.len > 4000);
    assert_int_equal(batch_split(in.data, in.len, 2000, &out, &np, err, sizeof err), 0);
    assert_true(np >= 6);
    assert_int_equal(walk(&out, 2000, 1000, &end, trace, sizeof trace), np);
    assert_int_equal(end, 1040);
    /* every event once, in order */
    char want[4096];
    size_t wl = 0;
    for (int i = 0; i < 40; i++)
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "e%d", i);
    char flat[4096];
    size_t fl = 0;
    for (const char *c = trace; *c; c++)
        if (*c != '|')
            flat[fl++] = *c;
    flat[fl] = '\0';
    assert_string_equal(flat, want);
    wbuf_release(&in);
    wbuf_release(&out);
}

static void test_split_round(void **state)
{
    (void)state;
    struct wbuf in, out;
    char trace[4096], err[256];
    size_t np = 0;
    uint64_t end;
    wbuf_init(&in, 0);
    wbuf_init(&out, 0);
    /* 5 series + samples (~2 KB) then 6 events (~2 KB): cut after the
     * samples and between events, never inside the series group */
    build(&in, 5, 6, 10);
    assert_true(in.len > 2000 && in.len < 3000); /* the limits below assume it */
    assert_int_equal(batch_split(in.data, in.len, 1500, &out, &np, err, sizeof err), 0);
    assert_true(np >= 2);
    assert_int_equal(walk(&out, 1500, 10, &end, trace, sizeof trace), np);
    assert_int_equal(end, 10 + 5 + 1 + 6);
    assert_true(strncmp(trace, "sssssS|", 7) == 0);

    /* the series group alone is over the limit: it cannot be cut */
    wbuf_reset(&out);
    assert_int_equal(batch_split(in.data, in.len, 800, &out, &np, err, sizeof err), TT_ETOOBIG);
    assert_non_null(strstr(err, "cannot be cut"));

    /* a batch that fits is copied as it is */
    wbuf_reset(&out);
    assert_int_equal(batch_split(in.data, in.len, in.len, &out, &np, err, sizeof err), 0);
    assert_int_equal(np, 1);
    assert_int_equal(out.len, in.len);
    assert_memory_equal(out.data, in.data, in.len);
    wbuf_release(&in);
    wbuf_release(&out);
}

static void test_split_bad(void **state)
{
    (void)state;
    struct wbuf in, out;
    char err[256];
    size_t np = 0;
    wbuf_init(&in, 0);
    wbuf_init(&out, 0);
    build(&in, 0, 10, 0);
    /* a flipped body byte: the CRC catches it */
    in.data[in.len - 10] ^= 0x40;
    assert_int_equal(batch_split(in.data, in.len, 500, &out, &np, err, sizeof err), TT_ECORRUPT);
    /* not a batch at all, and a length that is not the batch's */
    assert_int_equal(batch_split((const uint8_t *)"garbage!", 8, 4, &out, &np, err, sizeof err) < 0,
                     1);
    in.data[in.len - 10] ^= 0x40;
    assert_int_equal(batch_split(in.data, in.len - 1, 500, &out, &np, err, sizeof err) < 0, 1);
    wbuf_release(&in);
    wbuf_release(&out);
}

UNIT_TESTS(cmocka_unit_test(test_split_events), cmocka_unit_test(test_split_round),
           cmocka_unit_test(test_split_bad))
