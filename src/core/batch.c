/*
 * batch.c - the batch frame: header with its own CRC, body, body CRC. Pure C
 * (libtelltale builds it in); compression lives in compress.c.
 *
 * Invariants: batch_parse_header trusts no length before the header CRC has
 * matched, and accepts only headers whose every length is possible, so a
 * reader can size its reads from a parsed header. The encoder refuses to
 * write any header the parser would refuse. The offsets of magic, version,
 * header_len, header_crc and stored_len never change between versions.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "core/batch.h"
#include "core/crc32c.h"
#include "core/record.h"

/* Field offsets in the fixed part of the header (docs/design/records.md). */
#define OFF_MAGIC      0
#define OFF_VERSION    4
#define OFF_COMP       5
#define OFF_HEADER_LEN 6
#define OFF_HEADER_CRC 8
#define OFF_COUNT      12
#define OFF_ORIGIN_ID  16
#define OFF_FIRST_SEQ  24
#define OFF_HLC_MIN    32
#define OFF_HLC_MAX    40
#define OFF_RAW_LEN    48
#define OFF_STORED_LEN 52
#define OFF_ORIGIN_LEN 56
#define OFF_RESERVED   58

/* The smallest record (frame and fixed fields, empty payload). */
#define MIN_RECORD_LEN (REC_HDR_LEN + REC_FIXED_LEN)

/* header_crc: CRC32C of the header_len bytes at p with the CRC field read as
 * zero. */
static uint32_t header_crc(const uint8_t *p, size_t header_len)
{
    static const uint8_t zero[4];
    uint32_t c = crc32c(0, p, OFF_HEADER_CRC);
    c = crc32c(c, zero, sizeof zero);
    return crc32c(c, p + OFF_HEADER_CRC + 4, header_len - OFF_HEADER_CRC - 4);
}

/* check_fields: the rules shared by writer and reader, on a header whose
 * lengths are known. Returns NULL if fine, else what is wrong. */
static const char *check_fields(const struct batch_hdr *h)
{
    if (h->origin_len > BATCH_ORIGIN_MAX)
        return "origin too long";
    if (h->stored_len > BATCH_MAX_STORED)
        return "stored body too long";
    if (h->raw_len > BATCH_MAX_RAW)
        return "raw body too long";
    if (h->compression == BATCH_COMP_NONE && h->raw_len != h->stored_len)
        return "uncompressed body with raw_len != stored_len";
    if (h->hlc_min > h->hlc_max)
        return "hlc_min > hlc_max";
    if ((uint64_t)h->count * MIN_RECORD_LEN > h->raw_len)
        return "more records than the body can hold";
    return NULL;
}

size_t batch_begin(struct wbuf *out, uint16_t origin_len)
{
    size_t start = out->len;
    size_t hl = (size_t)BATCH_FIXED_LEN + origin_len;
    if (wbuf_reserve(out, hl) == 0) {
        memset(out->data + out->len, 0, hl);
        out->len += hl;
    }
    return start;
}

int batch_finish(struct wbuf *out, size_t start, const struct batch_hdr *h)
{
    int rc = out->err;
    size_t hl = (size_t)BATCH_FIXED_LEN + h->origin_len;
    struct batch_hdr w = *h;

    if (rc != 0)
        goto out;
    rc = TT_EINVAL;
    if (start > out->len || out->len - start < hl)
        goto out;
    if (h->origin_len > BATCH_ORIGIN_MAX || (h->origin_len > 0 && h->origin == NULL))
        goto out;
    if (h->compression > BATCH_COMP_LZ4)
        goto out;
    if (out->len - start - hl > BATCH_MAX_STORED)
        goto out;
    w.stored_len = (uint32_t)(out->len - start - hl);
    if (w.compression == BATCH_COMP_NONE)
        w.raw_len = w.stored_len;
    if (check_fields(&w) != NULL)
        goto out;
    rc = wbuf_reserve(out, BATCH_TRAILER_LEN);
    if (rc != 0)
        goto out;

    uint8_t *p = out->data + start;
    put_le32(p + OFF_MAGIC, BATCH_MAGIC);
    p[OFF_VERSION] = BATCH_VERSION;
    p[OFF_COMP] = w.compression;
    put_le16(p + OFF_HEADER_LEN, (uint16_t)hl);
    put_le32(p + OFF_HEADER_CRC, 0);
    put_le32(p + OFF_COUNT, w.count);
    put_le64(p + OFF_ORIGIN_ID, w.origin_id);
    put_le64(p + OFF_FIRST_SEQ, w.first_seq);
    put_le64(p + OFF_HLC_MIN, w.hlc_min);
    put_le64(p + OFF_HLC_MAX, w.hlc_max);
    put_le32(p + OFF_RAW_LEN, w.raw_len);
    put_le32(p + OFF_STORED_LEN, w.stored_len);
    put_le16(p + OFF_ORIGIN_LEN, w.origin_len);
    put_le16(p + OFF_RESERVED, 0);
    if (w.origin_len > 0)
        memcpy(p + BATCH_FIXED_LEN, w.origin, w.origin_len);
    put_le32(p + OFF_HEADER_CRC, header_crc(p, hl));
    wbuf_put_u32(out, crc32c(0, p + hl, w.stored_len));
    return 0;
out:
    if (out->len > start)
        out->len = start;
    return rc;
}

int batch_encode(struct wbuf *out, const struct batch_hdr *h, const void *body, size_t body_len)
{
    if (out->err)
        return out->err;
    if (body_len > BATCH_MAX_STORED || h->origin_len > BATCH_ORIGIN_MAX)
        return TT_EINVAL;
    size_t start = batch_begin(out, h->origin_len);
    wbuf_put(out, body, body_len);
    return batch_finish(out, start, h);
}

int batch_parse_header(const void *pv, size_t avail, struct batch_hdr *h, char *err, size_t errlen)
{
    const uint8_t *p = pv;
    const char *why;

    /* A few bytes that cannot start a batch are garbage, not a torn tail. */
    uint8_t want[4];
    put_le32(want, BATCH_MAGIC);
    if (avail > 0 && memcmp(p, want, avail < 4 ? avail : 4) != 0) {
        if (errlen > 0)
            snprintf(err, errlen, "bad batch magic");
        return TT_ECORRUPT;
    }
    if (avail < BATCH_FIXED_LEN) {
        if (errlen > 0)
            snprintf(err, errlen, "batch header needs %d bytes, %zu available", BATCH_FIXED_LEN,
                     avail);
        return TT_ETRUNC;
    }
    uint16_t hl = get_le16(p + OFF_HEADER_LEN);
    if (hl < BATCH_FIXED_LEN || hl > BATCH_FIXED_LEN + BATCH_ORIGIN_MAX) {
        if (errlen > 0)
            snprintf(err, errlen, "impossible batch header length %u", hl);
        return TT_ECORRUPT;
    }
    if (avail < hl) {
        if (errlen > 0)
            snprintf(err, errlen, "batch header of %u bytes, %zu available", hl, avail);
        return TT_ETRUNC;
    }
    uint32_t stored_crc = get_le32(p + OFF_HEADER_CRC);
    uint32_t crc = header_crc(p, hl);
    if (crc != stored_crc) {
        if (errlen > 0)
            snprintf(err, errlen,
                     "batch header CRC mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")",
                     stored_crc, crc);
        return TT_ECORRUPT;
    }

    h->version = p[OFF_VERSION];
    h->compression = p[OFF_COMP];
    h->header_len = hl;
    h->count = get_le32(p + OFF_COUNT);
    h->origin_id = get_le64(p + OFF_ORIGIN_ID);
    h->first_seq = get_le64(p + OFF_FIRST_SEQ);
    h->hlc_min = get_le64(p + OFF_HLC_MIN);
    h->hlc_max = get_le64(p + OFF_HLC_MAX);
    h->raw_len = get_le32(p + OFF_RAW_LEN);
    h->stored_len = get_le32(p + OFF_STORED_LEN);
    h->origin_len = get_le16(p + OFF_ORIGIN_LEN);
    h->origin = (const char *)p + BATCH_FIXED_LEN;

    if (h->version == 0) {
        why = "version 0";
        goto corrupt;
    }
    if (h->version > BATCH_VERSION) {
        if (h->stored_len > BATCH_MAX_STORED) {
            why = "stored body too long";
            goto corrupt;
        }
        if (errlen > 0)
            snprintf(err, errlen, "batch format version %u is newer than this reader's (%d)",
                     h->version, BATCH_VERSION);
        return TT_EVERSION;
    }
    if (hl != BATCH_FIXED_LEN + h->origin_len) {
        why = "header length does not match origin length";
        goto corrupt;
    }
    why = check_fields(h);
    if (why != NULL)
        goto corrupt;
    return 0;
corrupt:
    if (errlen > 0)
        snprintf(err, errlen, "bad batch header: %s", why);
    return TT_ECORRUPT;
}

int batch_check_body(const void *pv, const struct batch_hdr *h, char *err, size_t errlen)
{
    const uint8_t *body = (const uint8_t *)pv + h->header_len;
    uint32_t stored = get_le32(body + h->stored_len);
    uint32_t crc = crc32c(0, body, h->stored_len);
    if (crc != stored) {
        if (errlen > 0)
            snprintf(err, errlen,
                     "batch body CRC mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")",
                     stored, crc);
        return TT_ECORRUPT;
    }
    return 0;
}

size_t batch_find_magic(const void *pv, size_t len, size_t from)
{
    const uint8_t *p = pv;
    if (len < 4 || from > len - 4)
        return len;
    /* The magic's first byte is 'T' (0x54): let memchr skip to candidates. */
    size_t i = from;
    while (i <= len - 4) {
        const uint8_t *q = memchr(p + i, BATCH_MAGIC & 0xff, len - 3 - i);
        if (q == NULL)
            return len;
        i = (size_t)(q - p);
        if (get_le32(q) == BATCH_MAGIC)
            return i;
        i++;
    }
    return len;
}
