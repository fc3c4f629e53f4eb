/*
 * recfmt.h - formatting decoded records for people (one line of text per
 * record) and for programs (one JSON object per line), as `telltale spool
 * dump` prints them and later CLI readers (WAL dump, tail) will.
 *
 * Both formats share the primitives (hex ids, RFC 3339 times, values,
 * key/value lists); a record is either formatted whole or not at all.
 */
#ifndef TT_CLI_RECFMT_H
#define TT_CLI_RECFMT_H

#include <stddef.h>
#include <stdint.h>
#include "core/batch.h"
#include "core/buf.h"
#include "core/record.h"

/* Where a record came from: printed in full by the JSON format. */
struct recfmt_src {
    const char *file;          /* path of the file read (borrowed) */
    uint64_t offset;           /* the batch's offset in file */
    const struct batch_hdr *h; /* the batch's header (origin borrowed from it) */
    uint64_t seq;              /* this record's sequence number */
};

/* recfmt_known reports whether this reader can decode records of type. */
int recfmt_known(uint8_t type);

/* recfmt_text appends one line for r (ending in '\n') to out, e.g.
 *   2026-11-23T12:00:00.123456789Z hlc=1732363200123.4 span web-1/api GET /users
 *   trace=... span=... dur=1.234ms kind=server status=ok attrs={k="v"}
 * Returns 0, TT_EUNSUPPORTED for a type recfmt_known rejects, or the decoder's
 * error with a message in err; on error nothing is appended. */
int recfmt_text(struct wbuf *out, const struct rec *r, const struct recfmt_src *src, char *err,
                size_t errlen);

/* recfmt_json appends one JSON object for r and a '\n' to out: every field,
 * ids as lowercase hex strings, integers as numbers, non-finite doubles as
 * strings, strings escaped and made valid UTF-8 (core/json.h), plus file,
 * offset, origin and seq from src. Same returns as recfmt_text. */
int recfmt_json(struct wbuf *out, const struct rec *r, const struct recfmt_src *src, char *err,
                size_t errlen);

/* recfmt_time appends ns (since the epoch, may be negative) as RFC 3339 UTC
 * with nanoseconds: "2026-11-23T12:00:00.123456789Z". */
void recfmt_time(struct wbuf *out, int64_t ns);

/* recfmt_duration appends ns in a readable unit: "850ns", "12.500us",
 * "1.234ms", "2.000s". */
void recfmt_duration(struct wbuf *out, uint64_t ns);

#endif
