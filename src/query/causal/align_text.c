/*
 * align_text.c - parser of the plain text alignment log (format in
 * align_text.h). One pass over the buffer, no copies apart from what
 * align_set_add keeps; every error names the file, line and 1-based column.
 */
#include "query/causal/align_text.h"

#include <stdint.h>

#include "core/errmsg.h"
#include "telltale.h"

#define LIMIT_48 ((INT64_C(1) << 48) - 1)

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* what describes the byte at p (or the line end) for an error message. */
static void describe(const char *p, const char *end, char *out, size_t outlen)
{
    if (p >= end)
        tt_set_err(out, outlen, "end of line");
    else if ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
        tt_set_err(out, outlen, "'%c'", *p);
    else
        tt_set_err(out, outlen, "byte 0x%02x", (unsigned char)*p);
}

/* number parses a decimal integer in [0, max] at *pp (up to end) that must be
 * followed by a blank or the line end. */
static int number(const char **pp, const char *end, int64_t max, int64_t *out, const char *what,
                  const char *name, uint64_t line, const char *lstart, char *err, size_t errlen)
{
    const char *p = *pp;
    char got[32];
    if (p >= end || *p < '0' || *p > '9') {
        describe(p, end, got, sizeof(got));
        tt_set_err(err, errlen, "%s:%llu:%zu: expected %s (decimal integer), got %s", name,
                   (unsigned long long)line, (size_t)(p - lstart) + 1, what, got);
        return TT_ESYNTAX;
    }
    const char *start = p;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (max - (*p - '0')) / 10) {
            tt_set_err(err, errlen, "%s:%llu:%zu: %s out of range (at most %lld)", name,
                       (unsigned long long)line, (size_t)(start - lstart) + 1, what,
                       (long long)max);
            return TT_ERANGE;
        }
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p < end && !is_blank(*p)) {
        describe(p, end, got, sizeof(got));
        tt_set_err(err, errlen, "%s:%llu:%zu: expected a blank after %s, got %s", name,
                   (unsigned long long)line, (size_t)(p - lstart) + 1, what, got);
        return TT_ESYNTAX;
    }
    *pp = p;
    *out = v;
    return 0;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

int align_text_parse(struct align_set *s, const char *name, const char *buf, size_t len, char *err,
                     size_t errlen)
{
    const char *p = buf, *bend = buf + len;
    uint64_t line = 0;
    while (p < bend) {
        line++;
        const char *lstart = p, *end = p;
        while (end < bend && *end != '\n')
            end++;
        p = end < bend ? end + 1 : end;
        if (end > lstart && end[-1] == '\r')
            end--;
        const char *q = skip_blanks(lstart, end);
        if (q == end || *q == '#')
            continue;
        const char *nstart = q;
        while (q < end && !is_blank(*q) && *q != '\0')
            q++;
        if (q < end && *q == '\0') {
            tt_set_err(err, errlen, "%s:%llu:%zu: expected a node name, got byte 0x00", name,
                       (unsigned long long)line, (size_t)(q - lstart) + 1);
            return TT_ESYNTAX;
        }
        uint32_t node;
        int rc = align_set_node(s, nstart, (size_t)(q - nstart), &node);
        if (rc)
            return rc;
        int64_t pt, l, c;
        q = skip_blanks(q, end);
        if ((rc = number(&q, end, LIMIT_48, &pt, "PT_MS", name, line, lstart, err, errlen)))
            return rc;
        q = skip_blanks(q, end);
        if ((rc = number(&q, end, LIMIT_48, &l, "HLC_L_MS", name, line, lstart, err, errlen)))
            return rc;
        q = skip_blanks(q, end);
        if ((rc = number(&q, end, 0xffff, &c, "HLC_C", name, line, lstart, err, errlen)))
            return rc;
        q = skip_blanks(q, end);
        rc = align_set_add(s, node, pt, l, (uint32_t)c, q, (size_t)(end - q));
        if (rc == TT_EINVAL) {
            tt_set_err(err, errlen, "%s:%llu:1: event rejected", name, (unsigned long long)line);
            return TT_ESYNTAX;
        }
        if (rc)
            return rc;
    }
    return 0;
}
