/*
 * fuzz_spansum.c - fuzz target for the span summaries' decoders: the
 * summary records of a NNNNNNNN.sum sidecar (src/store/spans/spansum.c) and
 * the latency sketches inside them (src/core/sketch.c), zstd-compressed
 * groups included. The input is read
 * as a sidecar, records back to back, twice: as it is, and with every
 * would-be record's CRC fixed up so mutations reach the group and sketch
 * decoders. Every group's sketch is decoded; a decoded sketch must be
 * consistent (bucket counts add up, min <= max), answer quantiles inside
 * [min, max], and survive encode -> decode unchanged and a merge. The
 * whole input is also decoded as one bare sketch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/crc32c.h"
#include "core/sketch.h"
#include "store/spans/spansum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sketch(const struct sketch *s)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < s->nb; i++) {
        if (s->cnt[i] == 0 || (i > 0 && s->idx[i] <= s->idx[i - 1]))
            abort();
        t += s->cnt[i];
    }
    if (t != s->count || (s->count > 0 && s->min > s->max))
        abort();
    for (int q = 0; q <= 1000; q += 37) {
        uint64_t v = sketch_quantile(s, q / 1000.0);
        if (s->count > 0 && (v < s->min || v > s->max))
            abort();
    }
    /* round trip */
    struct wbuf b;
    struct sketch back, m;
    struct rbuf r;
    char err[128];
    wbuf_init(&b, 0);
    sketch_init(&back);
    sketch_init(&m);
    sketch_encode(s, &b);
    rbuf_init(&r, b.data, b.len);
    if (b.err == 0) {
        if (sketch_decode(&back, &r, err, sizeof err) != 0)
            abort();
        if (back.count != s->count || back.sum != s->sum || back.nb != s->nb ||
            (s->nb > 0 && (memcmp(back.idx, s->idx, s->nb * sizeof *s->idx) != 0 ||
                           memcmp(back.cnt, s->cnt, s->nb * sizeof *s->cnt) != 0)))
            abort();
        /* merging with itself doubles every bucket */
        if (sketch_merge(&m, s) == 0 && sketch_merge(&m, &back) == 0 && m.count != 2 * s->count)
            abort();
    }
    sketch_release(&m);
    sketch_release(&back);
    wbuf_release(&b);
}

static void walk(uint8_t *p, size_t size, int fixup)
{
    size_t off = 0;
    char err[256];
    struct sketch sk;
    struct spansum_scratch sc;
    sketch_init(&sk);
    spansum_scratch_init(&sc);
    while (off + 8 <= size) {
        struct spansum_rec rec;
        if (fixup) {
            uint32_t len = get_le32(p + off + 4);
            if (len >= SPANSUM_FIXED_LEN + 4 && len <= size - off)
                put_le32(p + off + len - 4, crc32c(0, p + off, len - 4));
        }
        if (spansum_parse(p + off, size - off, &rec, err, sizeof err) != 0)
            break;
        struct spansum_iter it;
        struct rec_str s, o;
        uint64_t errors;
        const uint8_t *skb;
        size_t skn;
        if (spansum_open_groups(&rec, &sc, err, sizeof err) != 0) {
            off += rec.rec_len;
            continue;
        }
        spansum_iter_init(&it, &rec);
        while (spansum_next(&it, &s, &o, &errors, &skb, &skn, err, sizeof err) == 1) {
            struct rbuf r;
            rbuf_init(&r, skb, skn);
            if (s.len > 0 && (s.p[0] == 1 || s.p[s.len - 1] == 1))
                err[0] = 0; /* touch the names */
            if (o.len > 0 && (o.p[0] == 1 || o.p[o.len - 1] == 1))
                err[0] = 0;
            if (sketch_decode(&sk, &r, err, sizeof err) == 0)
                check_sketch(&sk);
        }
        off += rec.rec_len;
    }
    sketch_release(&sk);
    spansum_scratch_release(&sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *w = malloc(size ? size : 1);
    struct sketch sk;
    struct rbuf r;
    char err[128];
    if (w == NULL)
        return 0;
    memcpy(w, data, size);
    walk(w, size, 0);
    memcpy(w, data, size);
    walk(w, size, 1);
    free(w);
    sketch_init(&sk);
    rbuf_init(&r, data, size);
    if (sketch_decode(&sk, &r, err, sizeof err) == 0)
        check_sketch(&sk);
    sketch_release(&sk);
    return 0;
}
