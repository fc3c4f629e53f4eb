/*
 * compress.c - zstd and lz4 batch bodies, and batch_open, the one way a
 * reader turns a stored batch into raw records.
 *
 * Invariants: batch_open checks the body CRC before it gives a single byte
 * to a decompressor, and accepts a decompressed body only if it is exactly
 * raw_len bytes, so what it returns is what the writer had. A compressed
 * body that would not be smaller is stored uncompressed.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <lz4.h>
#include <zstd.h>
#include "core/compress.h"

#define ZSTD_DEFAULT_LEVEL 3

int compress_body(struct wbuf *out, int comp, const void *raw, size_t len, int level)
{
    size_t bound, n;
    int rc;

    switch (comp) {
    case BATCH_COMP_NONE:
        wbuf_put(out, raw, len);
        return out->err;
    case BATCH_COMP_ZSTD:
        bound = ZSTD_compressBound(len);
        rc = wbuf_reserve(out, bound);
        if (rc != 0)
            return rc;
        n = ZSTD_compress(out->data + out->len, bound, raw, len,
                          level > 0 ? level : ZSTD_DEFAULT_LEVEL);
        if (ZSTD_isError(n))
            return TT_EIO;
        out->len += n;
        return 0;
    case BATCH_COMP_LZ4: {
        if (len > LZ4_MAX_INPUT_SIZE)
            return TT_EIO;
        int lbound = LZ4_compressBound((int)len);
        rc = wbuf_reserve(out, (size_t)lbound);
        if (rc != 0)
            return rc;
        int ln = LZ4_compress_default(raw, (char *)out->data + out->len, (int)len, lbound);
        if (ln <= 0)
            return TT_EIO;
        out->len += (size_t)ln;
        return 0;
    }
    default:
        return TT_EUNSUPPORTED;
    }
}

int batch_encode_compressed(struct wbuf *out, struct batch_hdr *h, const void *raw, size_t len,
                            int comp)
{
    if (out->err)
        return out->err;
    if (len > BATCH_MAX_RAW || h->origin_len > BATCH_ORIGIN_MAX)
        return TT_EINVAL;
    if (comp != BATCH_COMP_NONE && comp != BATCH_COMP_ZSTD && comp != BATCH_COMP_LZ4)
        return TT_EUNSUPPORTED;
    h->raw_len = (uint32_t)len;
    size_t start = batch_begin(out, h->origin_len);
    size_t body = out->len;
    int rc = compress_body(out, comp, raw, len, 0);
    if (rc != 0) {
        if (out->len > start)
            out->len = start;
        return rc;
    }
    if (comp != BATCH_COMP_NONE && out->len - body >= len) {
        /* Not worth it (tiny or incompressible): store the raw bytes. */
        out->len = body;
        wbuf_put(out, raw, len);
        comp = BATCH_COMP_NONE;
    }
    h->compression = (uint8_t)comp;
    return batch_finish(out, start, h);
}

int batch_open(const void *p, const struct batch_hdr *h, struct wbuf *scratch, const uint8_t **body,
               size_t *body_len, char *err, size_t errlen)
{
    const uint8_t *stored = (const uint8_t *)p + h->header_len;
    int rc = batch_check_body(p, h, err, errlen);
    if (rc != 0)
        return rc;

    if (h->compression == BATCH_COMP_NONE) {
        *body = stored;
        *body_len = h->stored_len;
        return 0;
    }
    if (h->compression != BATCH_COMP_ZSTD && h->compression != BATCH_COMP_LZ4) {
        if (errlen > 0)
            snprintf(err, errlen, "unknown batch compression %u", h->compression);
        return TT_EUNSUPPORTED;
    }
    if (h->compression == BATCH_COMP_ZSTD) {
        /* A frame that announces another size is refused before anything is
         * allocated for it. */
        unsigned long long fcs = ZSTD_getFrameContentSize(stored, h->stored_len);
        if (fcs == ZSTD_CONTENTSIZE_ERROR ||
            (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != h->raw_len)) {
            if (errlen > 0)
                snprintf(err, errlen, "zstd body: bad frame or size (raw_len %" PRIu32 ")",
                         h->raw_len);
            return TT_ECORRUPT;
        }
    }

    wbuf_reset(scratch);
    rc = wbuf_reserve(scratch, h->raw_len ? h->raw_len : 1);
    if (rc != 0) {
        if (errlen > 0)
            snprintf(err, errlen, "no memory for a %" PRIu32 "-byte batch body", h->raw_len);
        return rc == TT_ETOOBIG ? TT_ENOMEM : rc;
    }
    size_t got;
    if (h->compression == BATCH_COMP_ZSTD) {
        size_t n = ZSTD_decompress(scratch->data, h->raw_len, stored, h->stored_len);
        if (ZSTD_isError(n)) {
            if (errlen > 0)
                snprintf(err, errlen, "zstd body: %s", ZSTD_getErrorName(n));
            return TT_ECORRUPT;
        }
        got = n;
    } else {
        int n = LZ4_decompress_safe((const char *)stored, (char *)scratch->data, (int)h->stored_len,
                                    (int)h->raw_len);
        if (n < 0) {
            if (errlen > 0)
                snprintf(err, errlen, "lz4 body: malformed block");
            return TT_ECORRUPT;
        }
        got = (size_t)n;
    }
    if (got != h->raw_len) {
        if (errlen > 0)
            snprintf(err, errlen, "body decompressed to %zu bytes, header says %" PRIu32, got,
                     h->raw_len);
        return TT_ECORRUPT;
    }
    scratch->len = got;
    *body = scratch->data;
    *body_len = got;
    return 0;
}
