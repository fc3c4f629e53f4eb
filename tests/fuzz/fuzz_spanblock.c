/*
 * fuzz_spanblock.c - fuzz target for the span store's block decoder
 * (src/store/spans/spanblock.c): the input is read as a segment, blocks back
 * to back. Every block whose header parses is opened and all its spans are
 * decoded (each byte handed out is touched, so the sanitizers see a bad
 * read). The input is walked twice: as it is, and with the header and body
 * CRCs of every would-be block fixed up, so mutations reach the header
 * checks and the column decoder behind the checksums.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/crc32c.h"
#include "store/spans/spanblock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

volatile uint64_t fuzz_spanblock_sink; /* keeps the reads from being optimised away */

static uint64_t touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

static uint64_t walk(const uint8_t *p, size_t size, int fixup, uint8_t *w)
{
    struct spanblock_reader r;
    uint64_t sum = 0;
    size_t off = 0;
    char err[256];
    spanblock_reader_init(&r);
    while (off + 8 <= size) {
        if (fixup && w != NULL) {
            uint32_t hl = get_le32(w + off + 4);
            if (hl >= SPANBLOCK_FIXED_LEN + 4 && hl <= size - off) {
                put_le32(w + off + hl - 4, crc32c(0, w + off, hl - 4));
                if (hl >= SPANBLOCK_FIXED_LEN) {
                    uint32_t stored = get_le32(w + off + 41);
                    if (stored <= size - off - hl && size - off - hl - stored >= 4)
                        put_le32(w + off + hl + stored, crc32c(0, w + off + hl, stored));
                }
            }
        }
        struct spanblock_hdr h;
        int rc = spanblock_parse_header(p + off, size - off, &h, err, sizeof err);
        if (rc != 0 || spanblock_total_len(&h) > size - off) {
            off++;
            continue;
        }
        sum += touch(h.trace_ids, (size_t)h.ntraces * 16) + touch(h.bloom, h.bloom_bytes);
        if (spanblock_read(&r, p + off, &h, err, sizeof err) == 0) {
            struct span_row s;
            while ((rc = spanblock_next(&r, &s, err, sizeof err)) == 1) {
                sum += s.span_id + s.parent_id + (uint64_t)s.start_ns + s.duration_ns;
                sum += touch(s.service.p, s.service.len) + touch(s.name.p, s.name.len);
                sum +=
                    touch(s.node.p, s.node.len) + touch(s.status_message.p, s.status_message.len);
                for (uint32_t i = 0; i < s.nattrs; i++) {
                    char txt[64];
                    sum += touch(s.attrs[i].key.p, s.attrs[i].key.len);
                    sum += spanblock_value_text(&s.attrs[i].v, txt, sizeof txt);
                }
                struct rec_list it = s.events;
                struct rec_span_event e;
                while (rec_span_event_next(&it, &e) == 1)
                    sum += touch(e.name.p, e.name.len);
                sum += touch(s.links.bytes, s.links.len);
            }
        }
        off += spanblock_total_len(&h);
    }
    spanblock_reader_release(&r);
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_spanblock_sink += walk(data, size, 0, NULL);
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    walk(copy, size, 1, copy); /* fix CRCs in place, block by block */
    fuzz_spanblock_sink += walk(copy, size, 0, NULL);
    free(copy);
    return 0;
}
