/*
 * fuzz_evseg.c - fuzz target for the events store's block decoder
 * (src/store/events/evseg.c): the input is walked as a segment, block by
 * block. Twice: as it is, and with each would-be block's CRCs fixed up, so
 * mutations reach the zstd frame and the event decoder behind the
 * checksums. Decoding must never read outside the input, and every field
 * of every event it hands out is touched (so the sanitizers see bad reads).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/buf.h"
#include "core/crc32c.h"
#include "core/record.h"
#include "store/events/evseg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t touch(struct rec_str s)
{
    uint64_t x = 0;
    for (uint32_t i = 0; i < s.len; i++)
        x += (uint8_t)s.p[i];
    return x;
}

static void walk(const uint8_t *p, size_t len)
{
    struct wbuf raw;
    char err[256];
    volatile uint64_t sum = 0;
    wbuf_init(&raw, EVSEG_MAX_RAW);
    size_t off = 0;
    while (off < len) {
        struct evseg_hdr h;
        if (evseg_parse_header(p + off, len - off, &h, err, sizeof err) != 0 ||
            evseg_total_len(&h) > len - off) {
            off++;
            continue;
        }
        if (evseg_open_body(p + off, &h, &raw, err, sizeof err) == 0) {
            struct evseg_iter it;
            const uint8_t *keys;
            if (evseg_iter_init(&it, &h, raw.data, raw.len, &keys) == 0) {
                for (uint16_t i = 0; i < h.nkeys; i++)
                    sum += get_le64(keys + 16u * i);
                struct evseg_event e;
                while (evseg_iter_next(&it, &e, err, sizeof err) == 1) {
                    sum += touch(e.node) + touch(e.process) + touch(e.component) + touch(e.name) +
                           touch(e.message) + e.severity;
                    struct rec_list l = e.attrs;
                    struct rec_str k;
                    struct rec_value v;
                    char num[64];
                    while (rec_kv_next(&l, &k, &v) == 1) {
                        const char *direct;
                        size_t n = evseg_value_text(&v, num, sizeof num, &direct);
                        sum += touch(k) + n + (direct ? (uint8_t)direct[n ? n - 1 : 0] : 0);
                    }
                }
            }
        }
        off += evseg_total_len(&h);
    }
    (void)sum;
    wbuf_release(&raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk(data, size);
    if (size < EVSEG_FIXED_LEN + EVSEG_BLOOM_MIN + EVSEG_TRAILER_LEN || size > (1u << 20))
        return 0;
    uint8_t *c = malloc(size);
    if (c == NULL)
        return 0;
    memcpy(c, data, size);
    /* Fix up the first block's header: a Bloom filter length that fits,
     * stored_len clamped to the input, both CRCs. */
    uint32_t bloom_len = EVSEG_BLOOM_MIN;
    while (bloom_len * 2 <= EVSEG_BLOOM_MAX && bloom_len * 2 <= get_le32(c + 64) &&
           EVSEG_FIXED_LEN + bloom_len * 2 + EVSEG_TRAILER_LEN <= size)
        bloom_len *= 2;
    uint32_t hl = EVSEG_FIXED_LEN + bloom_len;
    uint32_t stored = get_le32(c + 8);
    if (stored > size - hl - EVSEG_TRAILER_LEN)
        stored = (uint32_t)(size - hl - EVSEG_TRAILER_LEN);
    put_le32(c, EVSEG_MAGIC);
    put_le32(c + 8, stored);
    c[16] = 1;
    put_le32(c + 64, bloom_len);
    put_le32(c + 4, 0);
    put_le32(c + 4, crc32c(0, c, hl));
    put_le32(c + hl + stored, crc32c(0, c + hl, stored));
    walk(c, hl + stored + EVSEG_TRAILER_LEN);
    free(c);
    return 0;
}
