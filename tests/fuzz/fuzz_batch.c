/*
 * fuzz_batch.c - fuzz target for batches and the batch scanner. The input is
 * scanned as batches back to back (a spool or WAL segment); the scan must end,
 * report sane problems, and every good batch is re-encoded uncompressed and
 * must scan back to the same header and body. Every record of every good
 * batch goes through every decoder and iterator (fuzz_rec_check.h). The
 * input is scanned twice: as it is, and with every CRC fixed up (seal), so
 * mutations reach the decompressors and decoders behind the checksums.
 */
#include <stdint.h>
#include <stdio.h>
#include "core/batch.h"
#include "core/batch_scan.h"
#include "core/compress.h"
#include "core/crc32c.h"
#include "fuzz_rec_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* recheck encodes the good batch h/body again and checks it reads back. */
static void recheck(const struct batch_hdr *h, const uint8_t *body, size_t body_len,
                    struct wbuf *out)
{
    struct batch_hdr c = *h;
    c.compression = BATCH_COMP_NONE;
    wbuf_reset(out);
    CHECK(batch_encode(out, &c, body, body_len) == 0);
    struct batch_scan s;
    struct batch_hdr g;
    struct batch_problem prob;
    const uint8_t *b2;
    size_t len2, off;
    batch_scan_init(&s, out->data, out->len);
    CHECK(batch_scan_next(&s, &g, &b2, &len2, &off, &prob) == 1);
    CHECK(off == 0 && len2 == body_len && (len2 == 0 || memcmp(b2, body, len2) == 0));
    CHECK(g.count == h->count && g.origin_id == h->origin_id && g.first_seq == h->first_seq);
    CHECK(g.hlc_min == h->hlc_min && g.hlc_max == h->hlc_max && g.raw_len == body_len);
    CHECK(g.origin_len == h->origin_len && memcmp(g.origin, h->origin, g.origin_len) == 0);
    CHECK(batch_scan_next(&s, &g, &b2, &len2, &off, &prob) == 0);
    batch_scan_release(&s);
}

/* seal fixes the header and body CRCs of every would-be batch in d, so the
 * fuzzer reaches decompression and record decoding without having to find
 * CRCs itself. */
static void seal(uint8_t *d, size_t n)
{
    size_t i = 0;
    while ((i = batch_find_magic(d, n, i)) < n) {
        if (n - i >= BATCH_FIXED_LEN) {
            uint16_t hl = get_le16(d + i + 6);
            if (hl >= BATCH_FIXED_LEN && hl <= n - i) {
                put_le32(d + i + 8, 0);
                put_le32(d + i + 8, crc32c(0, d + i, hl));
                uint32_t stored = get_le32(d + i + 52);
                if ((uint64_t)hl + stored + BATCH_TRAILER_LEN <= n - i)
                    put_le32(d + i + hl + stored, crc32c(0, d + i + hl, stored));
            }
        }
        i++;
    }
}

static void scan(const uint8_t *data, size_t size)
{
    struct batch_scan s;
    struct batch_hdr h;
    struct batch_problem prob;
    const uint8_t *body;
    size_t body_len, off, pos = 0;
    struct wbuf w, out;
    int rc;

    wbuf_init(&w, 0);
    wbuf_init(&out, 0);
    batch_scan_init(&s, data, size);
    while ((rc = batch_scan_next(&s, &h, &body, &body_len, &off, &prob)) != 0) {
        if (rc == 1) {
            CHECK(off == pos && batch_total_len(&h) <= size - off);
            CHECK(body_len == h.raw_len);
            pos = off + batch_total_len(&h);
            fuzz_check_stream(body, body_len, &w);
            recheck(&h, body, body_len, &out);
        } else {
            CHECK(rc == -1);
            CHECK(prob.offset == pos && prob.skipped > 0 && prob.skipped <= size - pos);
            CHECK(prob.code < 0 && prob.msg[0] != 0);
            pos += prob.skipped;
        }
        CHECK(s.off == pos);
    }
    CHECK(pos == size);
    batch_scan_release(&s);
    wbuf_release(&w);
    wbuf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    seal(copy, size);
    scan(copy, size);
    free(copy);
    return 0;
}
