/*
 * batch_scan.c - walks batches laid back to back in a buffer (a spool or WAL
 * segment), handing out good batches and reporting the bytes it skips.
 *
 * Invariants: every call either returns a whole, CRC-checked batch, or
 * reports a problem and moves s->off forward by at least one byte, or
 * returns 0 at the end; so a scan always terminates. Nothing is read outside
 * data[0..len). After a corrupt batch the scan resumes at the next offset
 * where a batch header parses (magic and header CRC good); what is before it
 * is reported as skipped. A batch that runs past the end is a torn tail
 * (TT_ETRUNC, the rest of the data skipped) unless a good header follows it,
 * in which case its lengths were corrupt (TT_ECORRUPT) and the scan resumes
 * there.
 */
#include <stdio.h>
#include <string.h>
#include "core/batch_scan.h"
#include "core/compress.h"

void batch_scan_init(struct batch_scan *s, const void *data, size_t len)
{
    s->data = data;
    s->len = len;
    s->off = 0;
    wbuf_init(&s->scratch, BATCH_MAX_RAW);
}

void batch_scan_release(struct batch_scan *s)
{
    wbuf_release(&s->scratch);
}

/* resync returns the first offset >= from where a batch header parses (a
 * newer version counts: its header CRC matched), or len. */
static size_t resync(const struct batch_scan *s, size_t from)
{
    size_t i = from;
    for (;;) {
        i = batch_find_magic(s->data, s->len, i);
        if (i >= s->len)
            return s->len;
        struct batch_hdr h;
        int rc = batch_parse_header(s->data + i, s->len - i, &h, NULL, 0);
        if (rc == 0 || rc == TT_EVERSION)
            return i;
        i++;
    }
}

/* problem fills *prob for the bytes [at, next) and moves the scan to next. */
static int problem(struct batch_scan *s, struct batch_problem *prob, size_t at, size_t next,
                   int code, const char *msg)
{
    prob->offset = at;
    prob->skipped = next - at;
    prob->code = code;
    snprintf(prob->msg, sizeof prob->msg, "%s", msg);
    s->off = next;
    return -1;
}

int batch_scan_next(struct batch_scan *s, struct batch_hdr *h, const uint8_t **body,
                    size_t *body_len, size_t *offset, struct batch_problem *prob)
{
    char msg[sizeof prob->msg];
    char why[sizeof prob->msg];
    size_t at = s->off;
    if (at >= s->len)
        return 0;
    const uint8_t *p = s->data + at;
    size_t left = s->len - at;

    int rc = batch_parse_header(p, left, h, why, sizeof why);
    if ((rc == 0 || rc == TT_EVERSION) && batch_total_len(h) > left) {
        snprintf(why, sizeof why, "batch of %zu bytes runs past the end (%zu bytes left)",
                 batch_total_len(h), left);
        rc = TT_ETRUNC;
    }
    if (rc == TT_EVERSION)
        return problem(s, prob, at, at + batch_total_len(h), rc, why);
    if (rc == TT_ETRUNC) {
        size_t next = resync(s, at + 1);
        if (next < s->len) {
            snprintf(msg, sizeof msg, "%.100s; a batch follows at offset %zu", why, next);
            return problem(s, prob, at, next, TT_ECORRUPT, msg);
        }
        snprintf(msg, sizeof msg, "torn tail: %.140s", why);
        return problem(s, prob, at, s->len, TT_ETRUNC, msg);
    }
    if (rc != 0)
        return problem(s, prob, at, resync(s, at + 1), rc, why);

    size_t total = batch_total_len(h);
    rc = batch_open(p, h, &s->scratch, body, body_len, why, sizeof why);
    if (rc == TT_ECORRUPT)
        return problem(s, prob, at, resync(s, at + 1), rc, why);
    if (rc != 0) /* well-formed but unreadable here (compression, memory) */
        return problem(s, prob, at, at + total, rc, why);
    if (offset != NULL)
        *offset = at;
    s->off = at + total;
    return 1;
}
