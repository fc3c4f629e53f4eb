/*
 * fuzz_lib_traceparent.c - tt_traceparent_parse on arbitrary bytes: never reads
 * past len, leaves ctx untouched and explains itself on failure, and what it
 * accepts formats back to the same ids (and to the same text for version 00
 * with only the sampled flag).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_span_context ctx, before;
    memset(&ctx, 0x5a, sizeof ctx);
    before = ctx;
    char err[128];
    memset(err, 'x', sizeof err);
    int rc = tt_traceparent_parse((const char *)data, size, &ctx, err, sizeof err);
    if (rc != 0) {
        if (rc != TT_ESYNTAX || memcmp(&ctx, &before, sizeof ctx) != 0)
            abort();
        if (!memchr(err, '\0', sizeof err) || strncmp(err, "traceparent: position ", 22) != 0)
            abort();
        return 0;
    }
    if (size < TT_TRACEPARENT_LEN || ctx.remote != 1 || ctx.hlc != 0 || ctx.span_id == 0)
        abort();
    char out[TT_TRACEPARENT_LEN + 1];
    if (tt_traceparent_format(&ctx, out, sizeof out) != 0 || strlen(out) != TT_TRACEPARENT_LEN)
        abort();
    /* The ids are the same text; version 00 with flags 00/01 is the same header. */
    if (memcmp(out + 2, data + 2, 51) != 0)
        abort();
    if (data[0] == '0' && data[1] == '0' && (ctx.flags & ~TT_FLAG_SAMPLED) == 0 &&
        memcmp(out, data, TT_TRACEPARENT_LEN) != 0)
        abort();
    tt_span_context back;
    if (tt_traceparent_parse(out, TT_TRACEPARENT_LEN, &back, NULL, 0) != 0)
        abort();
    if (memcmp(back.trace_id, ctx.trace_id, 16) != 0 || back.span_id != ctx.span_id ||
        back.flags != (ctx.flags & TT_FLAG_SAMPLED))
        abort();
    return 0;
}
