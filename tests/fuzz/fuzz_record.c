/*
 * fuzz_record.c - fuzz target for the record codec. The input is a raw
 * record body (records back to back, as inside a batch): every record is
 * framed, decoded with every decoder and iterator, and what decodes is
 * re-encoded and compared. The whole input is also decoded as the payload of
 * each record type, and walked as the bytes of each kind of list, so the
 * decoders are reached without a valid frame.
 */
#include <stdint.h>
#include <stdio.h>
#include "fuzz_rec_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wbuf w;
    wbuf_init(&w, 0);
    fuzz_check_stream(data, size, &w);

    uint32_t n = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    for (uint8_t t = REC_SPAN; t <= REC_STATE; t++) {
        struct rec r = { .type = t, .hlc = 1, .time_ns = -1, .payload = data, .payload_len = n };
        fuzz_check_record(&r, &w);
    }
    if (size >= 1) {
        /* first byte: entry count; the rest: the list's bytes */
        struct rec_list l = { data[0], data + 1, n - 1 };
        walk_kv(l);
        walk_events(l);
        walk_links(l);
        walk_buckets(l);
    }
    wbuf_release(&w);
    return 0;
}
