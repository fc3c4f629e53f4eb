/*
 * batch.h - the batch: the unit in which records are written to spools, sent
 * from agent to server, and stored in the server's WAL.
 *
 * Layout (little-endian; docs/design/records.md):
 *   header (BATCH_FIXED_LEN + origin_len bytes, covered by header_crc)
 *   body   (stored_len bytes: records, compressed or not)
 *   u32 body_crc (CRC32C of the stored body)
 * The header has its own CRC so a reader can trust its lengths before reading
 * the body; the body CRC catches torn and corrupted writes. A batch is either
 * read whole or reported and skipped, never half-read.
 *
 * This module is pure C (no compression library): libtelltale writes
 * uncompressed batches with it. core/compress.h adds zstd and lz4.
 */
#ifndef TT_BATCH_H
#define TT_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include "telltale.h"
#include "core/buf.h"

#define BATCH_MAGIC       0x31425454u /* "TTB1" as bytes */
#define BATCH_VERSION     1
#define BATCH_FIXED_LEN   60
#define BATCH_TRAILER_LEN 4
#define BATCH_ORIGIN_MAX  1024
#define BATCH_MAX_STORED  (64u << 20)  /* a batch body is at most 64 MiB stored */
#define BATCH_MAX_RAW     (256u << 20) /* and 256 MiB uncompressed */

enum batch_compression {
    BATCH_COMP_NONE = 0,
    BATCH_COMP_ZSTD = 1,
    BATCH_COMP_LZ4 = 2,
};

struct batch_hdr {
    uint8_t version;
    uint8_t compression; /* batch_compression */
    uint16_t header_len; /* BATCH_FIXED_LEN + origin_len */
    uint32_t count;      /* records in the body */
    uint64_t origin_id;  /* stable id of the producing process/agent */
    uint64_t first_seq;  /* per-origin sequence number of the first record */
    tt_hlc hlc_min;      /* smallest and largest record HLC (0 if empty) */
    tt_hlc hlc_max;
    uint32_t raw_len;    /* body length uncompressed */
    uint32_t stored_len; /* body length as stored */
    const char *origin;  /* "node\0process", origin_len bytes; borrowed */
    uint16_t origin_len;
};

/* batch_encode appends a complete batch (header, body as given, body CRC) to
 * out. h->header_len and h->stored_len are computed here from origin_len and
 * body_len, and the version is BATCH_VERSION; h->compression must describe
 * body, and h->raw_len is used only for a compressed body. Returns 0,
 * TT_EINVAL for bad fields (origin too long, body too big, unknown
 * compression, hlc_min > hlc_max, more records than the body can hold), or
 * out's sticky error. body must not point into out. */
int batch_encode(struct wbuf *out, const struct batch_hdr *h, const void *body, size_t body_len);

/* batch_begin and batch_finish build a batch in place, so a writer can append
 * records straight after the header instead of copying a finished body:
 * batch_begin reserves a zeroed header for origin_len bytes of origin at the
 * end of out and returns its offset; everything appended to out after it is
 * the body; batch_finish(out, start, h) fills the header (h as for
 * batch_encode; for a compressed body h->raw_len is its raw length) and
 * appends the body CRC. batch_finish returns 0, TT_EINVAL (bad fields), or
 * out's sticky error, and on failure takes the batch back out of out. */
size_t batch_begin(struct wbuf *out, uint16_t origin_len);
int batch_finish(struct wbuf *out, size_t start, const struct batch_hdr *h);

/* batch_parse_header decodes and checks the header at p (avail bytes there).
 * Returns 0; TT_ETRUNC if avail is shorter than the header (and its first
 * bytes are those of a magic); TT_ECORRUPT for a bad magic, header CRC or
 * impossible length; TT_EVERSION for an unknown version. On error err gets a
 * message (err may be NULL when errlen is 0). h->origin points into p.
 * For TT_EVERSION the header CRC has been checked and h->header_len and
 * h->stored_len are filled (their place never changes between versions), so
 * a reader can skip the batch with batch_total_len(h). */
int batch_parse_header(const void *p, size_t avail, struct batch_hdr *h, char *err, size_t errlen);

/* batch_total_len: bytes of the whole batch described by h. */
static inline size_t batch_total_len(const struct batch_hdr *h)
{
    return (size_t)h->header_len + h->stored_len + BATCH_TRAILER_LEN;
}

/* batch_check_body verifies the body CRC of the batch at p (whole batch,
 * batch_total_len(h) bytes available). Returns 0 or TT_ECORRUPT (with message). */
int batch_check_body(const void *p, const struct batch_hdr *h, char *err, size_t errlen);

/* batch_find_magic returns the offset of the next possible batch start in
 * p[from..len), or len if none: how readers resynchronise after corruption. */
size_t batch_find_magic(const void *p, size_t len, size_t from);

#endif
