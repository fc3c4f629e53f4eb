/*
 * align_text.h - the plain text log format `telltale align` reads, one event
 * per line:
 *
 *   NODE PT_MS HLC_L_MS HLC_C [MESSAGE...]
 *
 * Fields are separated by spaces or tabs; NODE is any run of non-blank bytes;
 * PT_MS and HLC_L_MS are decimal integers in [0, 2^48), HLC_C in [0, 65535];
 * MESSAGE is the rest of the line after the blanks that follow HLC_C (may be
 * empty). Blank lines and lines whose first non-blank byte is '#' are skipped.
 * Lines end in LF (a CR before it is dropped); the last may lack it.
 */
#ifndef TT_QUERY_CAUSAL_ALIGN_TEXT_H
#define TT_QUERY_CAUSAL_ALIGN_TEXT_H

#include <stddef.h>

#include "query/causal/align.h"

/* align_text_parse adds every event of buf (len bytes, borrowed, need not be
 * NUL terminated) to s. name is the file name used in messages. On a bad line
 * returns TT_ESYNTAX (or TT_ERANGE for a number out of range) with
 * "NAME:LINE:COL: expected ..., got ..." in err (errlen bytes); the events of
 * the lines before it stay added. TT_ENOMEM when memory runs out. */
int align_text_parse(struct align_set *s, const char *name, const char *buf, size_t len, char *err,
                     size_t errlen);

#endif
