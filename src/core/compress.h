/*
 * compress.h - batch body compression (zstd, lz4) and the reader that turns any
 * stored batch into its raw records. Agent, server and CLI side only:
 * libtelltale does not link it.
 */
#ifndef TT_COMPRESS_H
#define TT_COMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include "core/batch.h"
#include "core/buf.h"

/* compress_body appends raw (len bytes) compressed with comp to out. Returns 0,
 * TT_EUNSUPPORTED for an unknown method, TT_EIO if the library fails. */
int compress_body(struct wbuf *out, int comp, const void *raw, size_t len, int level);

/* batch_encode_compressed builds a whole batch from raw records, compressing
 * with comp (kept uncompressed if that is not smaller). h->raw_len is set. */
int batch_encode_compressed(struct wbuf *out, struct batch_hdr *h, const void *raw, size_t len,
                            int comp);

/* batch_open checks the body CRC of the batch at p and returns its raw records:
 * *body points into p when stored uncompressed, else into scratch (which the
 * caller owns and reuses). Returns 0, TT_ECORRUPT (CRC, or decompressed size
 * differs from raw_len), TT_EUNSUPPORTED, or TT_ENOMEM; message in err. */
int batch_open(const void *p, const struct batch_hdr *h, struct wbuf *scratch, const uint8_t **body,
               size_t *body_len, char *err, size_t errlen);

#endif
