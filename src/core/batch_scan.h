/*
 * batch_scan.h - walk the batches of a file or buffer (a spool segment, a WAL
 * segment), reporting torn tails and corrupt batches by offset and going on
 * with the next batch after them. Every reader of batch files uses this.
 */
#ifndef TT_BATCH_SCAN_H
#define TT_BATCH_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include "core/batch.h"
#include "core/buf.h"

struct batch_scan {
    const uint8_t *data; /* borrowed */
    size_t len;
    size_t off; /* next byte to look at */
    struct wbuf scratch;
};

/* What went wrong at one place, for reports like "seg-1.tts: offset 4096: ...". */
struct batch_problem {
    size_t offset;  /* where the bad batch (or torn tail) starts */
    size_t skipped; /* bytes skipped to the next good batch or the end */
    int code;       /* TT_ETRUNC (torn tail) or TT_ECORRUPT, TT_EVERSION, ... */
    char msg[160];
};

void batch_scan_init(struct batch_scan *s, const void *data, size_t len);
void batch_scan_release(struct batch_scan *s);

/* batch_scan_next: returns 1 with the next good batch (header in *h, raw
 * records in *body, valid until the next call), 0 at the end, or -1 with
 * *prob filled when it had to skip bytes (call again to continue). The batch
 * starts at s->data + *offset when offset is not NULL. */
int batch_scan_next(struct batch_scan *s, struct batch_hdr *h, const uint8_t **body,
                    size_t *body_len, size_t *offset, struct batch_problem *prob);

#endif
