/*
 * remote_write.c - POST /api/v1/write (remote_write.h has the rules): snappy
 * block decompression, a hand-written protobuf decoder for WriteRequest,
 * label validation and one head appender batch per request.
 *
 * The decoder makes two passes over the message: the first checks the whole
 * wire structure and counts series, labels, samples and string bytes; the
 * second, which cannot fail, fills arrays allocated to those exact sizes. So
 * a request costs four allocations whatever its shape, and an error leaves
 * nothing allocated behind.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <snappy-c.h>
#include "server/remote_write.h"
#include "server/http.h"
#include "server/server.h"
#include "server/store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/labels.h"
#include "telltale.h"

/* ---- snappy ---------------------------------------------------------------- */

static void set_err(struct rw_error *e, size_t off, size_t series, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(struct rw_error *e, size_t off, size_t series, const char *fmt, ...)
{
    if (!e)
        return;
    e->offset = off;
    e->series = series;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

int remote_write_decompress(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                            size_t *out_len, struct rw_error *err)
{
    size_t n = 0;
    *out = NULL;
    *out_len = 0;
    if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK) {
        set_err(err, 0, 0, "body is not a snappy block: bad length preamble");
        return TT_ECORRUPT;
    }
    if (n > max_out) {
        set_err(err, 0, 0, "decompressed body would be %zu bytes, more than the limit of %zu", n,
                max_out);
        return TT_ETOOBIG;
    }
    uint8_t *p = malloc(n + 1);
    if (!p) {
        set_err(err, 0, 0, "out of memory");
        return TT_ENOMEM;
    }
    size_t got = n;
    if (snappy_uncompress((const char *)in, len, (char *)p, &got) != SNAPPY_OK || got != n) {
        free(p);
        set_err(err, 0, 0, "body is not a valid snappy block");
        return TT_ECORRUPT;
    }
    p[n] = 0;
    *out = p;
    *out_len = n;
    return 0;
}

/* ---- protobuf ---------------------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

struct dec {
    const uint8_t *b;
    struct rw_error *err;
    int fill; /* 0: check and count; 1: fill req */
    size_t nseries, nlabels, nsamples, nstr;
    size_t series_idx; /* the series being decoded, for messages */
    struct rw_request *req;
    size_t li, si, stri; /* fill cursors */
};

static int bad(struct dec *d, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct dec *d, size_t off, const char *fmt, ...)
{
    if (d->err) {
        char what[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        set_err(d->err, off, d->series_idx, "malformed protobuf at byte %zu: %s", off, what);
    }
    return TT_ESYNTAX;
}

static int varint(struct dec *d, size_t *pos, size_t end, uint64_t *v, const char *what)
{
    size_t start = *pos;
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*pos >= end)
            return bad(d, start, "truncated varint (%s)", what);
        uint8_t c = d->b[(*pos)++];
        if (i == 9 && c > 1)
            return bad(d, start, "varint longer than 64 bits (%s)", what);
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return bad(d, start, "varint longer than 10 bytes (%s)", what);
}

/* key reads a field key: *field >= 1 and *wt. */
static int key(struct dec *d, size_t *pos, size_t end, uint32_t *field, unsigned *wt,
               const char *msg)
{
    size_t start = *pos;
    uint64_t k;
    int rc = varint(d, pos, end, &k, "field key");
    if (rc != 0)
        return rc;
    if ((k >> 3) == 0 || (k >> 3) > 0x1fffffff)
        return bad(d, start, "invalid field number %llu in %s", (unsigned long long)(k >> 3), msg);
    *field = (uint32_t)(k >> 3);
    *wt = (unsigned)(k & 7);
    return 0;
}

/* length reads a length prefix and checks it fits before end. */
static int length(struct dec *d, size_t *pos, size_t end, size_t *len, const char *what)
{
    size_t start = *pos;
    uint64_t n;
    int rc = varint(d, pos, end, &n, what);
    if (rc != 0)
        return rc;
    if (n > end - *pos)
        return bad(d, start, "length %llu of %s runs past the end (%zu bytes left)",
                   (unsigned long long)n, what, end - *pos);
    *len = (size_t)n;
    return 0;
}

/* skip steps over an unknown field whose key started at byte start. */
static int skip(struct dec *d, size_t start, size_t *pos, size_t end, uint32_t field, unsigned wt,
                const char *msg)
{
    uint64_t v;
    size_t n;
    switch (wt) {
    case WT_VARINT:
        return varint(d, pos, end, &v, "unknown field");
    case WT_I64:
        n = 8;
        break;
    case WT_I32:
        n = 4;
        break;
    case WT_LEN: {
        int rc = length(d, pos, end, &n, "unknown field");
        if (rc != 0)
            return rc;
        break;
    }
    default:
        return bad(d, start, "unsupported wire type %u (field %u of %s)", wt, field, msg);
    }
    if (n > end - *pos)
        return bad(d, start, "fixed-size field %u of %s truncated", field, msg);
    *pos += n;
    return 0;
}

static int wrong_type(struct dec *d, size_t off, uint32_t field, const char *msg, unsigned wt,
                      unsigned want)
{
    return bad(d, off, "field %u of %s has wire type %u, expected %u", field, msg, wt, want);
}

static void copy_str(struct dec *d, size_t off, size_t n, const char **out, uint32_t *out_len)
{
    char *p = d->req->strs + d->stri;
    if (n)
        memcpy(p, d->b + off, n);
    p[n] = 0;
    d->stri += n + 1;
    *out = p;
    *out_len = (uint32_t)n;
}

static int label(struct dec *d, size_t pos, size_t end)
{
    size_t name_off = 0, name_len = 0, value_off = 0, value_len = 0;
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        unsigned wt;
        int rc = key(d, &pos, end, &f, &wt, "Label");
        if (rc != 0)
            return rc;
        if (f == 1 || f == 2) {
            if (wt != WT_LEN)
                return wrong_type(d, at, f, "Label", wt, WT_LEN);
            size_t n;
            if ((rc = length(d, &pos, end, &n, f == 1 ? "label name" : "label value")) != 0)
                return rc;
            if (n > UINT32_MAX)
                return bad(d, at, "label string of %zu bytes", n);
            if (f == 1) {
                name_off = pos;
                name_len = n;
            } else {
                value_off = pos;
                value_len = n;
            }
            pos += n;
        } else if ((rc = skip(d, at, &pos, end, f, wt, "Label")) != 0) {
            return rc;
        }
    }
    if (!d->fill) {
        d->nlabels++;
        d->nstr += name_len + value_len + 2;
        return 0;
    }
    struct rw_label *l = &d->req->label_store[d->li++];
    copy_str(d, name_off, name_len, &l->name, &l->name_len);
    copy_str(d, value_off, value_len, &l->value, &l->value_len);
    return 0;
}

static int sample(struct dec *d, size_t pos, size_t end)
{
    double value = 0;
    int64_t ts = 0;
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        unsigned wt;
        int rc = key(d, &pos, end, &f, &wt, "Sample");
        if (rc != 0)
            return rc;
        if (f == 1) {
            if (wt != WT_I64)
                return wrong_type(d, at, f, "Sample", wt, WT_I64);
            if (end - pos < 8)
                return bad(d, at, "sample value truncated");
            uint64_t bits = 0;
            for (unsigned i = 0; i < 8; i++)
                bits |= (uint64_t)d->b[pos + i] << (8 * i);
            memcpy(&value, &bits, sizeof value);
            pos += 8;
        } else if (f == 2) {
            if (wt != WT_VARINT)
                return wrong_type(d, at, f, "Sample", wt, WT_VARINT);
            uint64_t v;
            if ((rc = varint(d, &pos, end, &v, "sample timestamp")) != 0)
                return rc;
            ts = (int64_t)v;
        } else if ((rc = skip(d, at, &pos, end, f, wt, "Sample")) != 0) {
            return rc;
        }
    }
    if (!d->fill) {
        d->nsamples++;
        return 0;
    }
    struct rw_sample *s = &d->req->sample_store[d->si++];
    s->value = value;
    s->timestamp_ms = ts;
    return 0;
}

static int series(struct dec *d, size_t pos, size_t end)
{
    struct rw_series *s = NULL;
    if (d->fill) {
        s = &d->req->series[d->series_idx];
        s->labels = d->req->label_store + d->li;
        s->samples = d->req->sample_store + d->si;
    }
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        unsigned wt;
        int rc = key(d, &pos, end, &f, &wt, "TimeSeries");
        if (rc != 0)
            return rc;
        if (f == 1 || f == 2) {
            if (wt != WT_LEN)
                return wrong_type(d, at, f, "TimeSeries", wt, WT_LEN);
            size_t n;
            if ((rc = length(d, &pos, end, &n, f == 1 ? "Label" : "Sample")) != 0)
                return rc;
            rc = f == 1 ? label(d, pos, pos + n) : sample(d, pos, pos + n);
            if (rc != 0)
                return rc;
            pos += n;
        } else if ((rc = skip(d, at, &pos, end, f, wt, "TimeSeries")) != 0) {
            return rc;
        }
    }
    if (s) {
        s->nlabels = (size_t)(d->req->label_store + d->li - s->labels);
        s->nsamples = (size_t)(d->req->sample_store + d->si - s->samples);
    }
    return 0;
}

static int request(struct dec *d, size_t len)
{
    size_t pos = 0;
    d->series_idx = 0;
    while (pos < len) {
        size_t at = pos;
        uint32_t f;
        unsigned wt;
        int rc = key(d, &pos, len, &f, &wt, "WriteRequest");
        if (rc != 0)
            return rc;
        if (f == 1) {
            if (wt != WT_LEN)
                return wrong_type(d, at, f, "WriteRequest", wt, WT_LEN);
            size_t n;
            if ((rc = length(d, &pos, len, &n, "TimeSeries")) != 0)
                return rc;
            if ((rc = series(d, pos, pos + n)) != 0)
                return rc;
            pos += n;
            d->series_idx++;
        } else if ((rc = skip(d, at, &pos, len, f, wt, "WriteRequest")) != 0) {
            return rc;
        }
    }
    d->nseries = d->series_idx;
    return 0;
}

void remote_write_release(struct rw_request *req)
{
    if (!req)
        return;
    free(req->series);
    free(req->label_store);
    free(req->sample_store);
    free(req->strs);
    memset(req, 0, sizeof *req);
}

int remote_write_decode(const uint8_t *buf, size_t len, struct rw_request *req,
                        struct rw_error *err)
{
    memset(req, 0, sizeof *req);
    struct dec d;
    memset(&d, 0, sizeof d);
    d.b = buf;
    d.err = err;
    int rc = request(&d, len);
    if (rc != 0)
        return rc;
    req->series = calloc(d.nseries ? d.nseries : 1, sizeof *req->series);
    req->label_store = calloc(d.nlabels ? d.nlabels : 1, sizeof *req->label_store);
    req->sample_store = calloc(d.nsamples ? d.nsamples : 1, sizeof *req->sample_store);
    req->strs = malloc(d.nstr ? d.nstr : 1);
    if (!req->series || !req->label_store || !req->sample_store || !req->strs) {
        remote_write_release(req);
        set_err(err, 0, 0, "out of memory");
        return TT_ENOMEM;
    }
    req->nseries = d.nseries;
    req->nlabels = d.nlabels;
    req->nsamples = d.nsamples;
    d.fill = 1;
    d.req = req;
    rc = request(&d, len); /* cannot fail: the first pass checked everything */
    if (rc != 0) {
        remote_write_release(req);
        return rc;
    }
    return 0;
}

/* ---- validation ------------------------------------------------------------- */

/* utf8_ok: 1 when s[0..n) is valid UTF-8 without NUL (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int str_cmp(const struct rw_label *a, const struct rw_label *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c != 0)
        return c;
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

int remote_write_validate(const struct rw_request *req, struct rw_error *err)
{
    for (size_t i = 0; i < req->nseries; i++) {
        const struct rw_series *s = &req->series[i];
        if (s->nlabels == 0) {
            set_err(err, 0, i, "series %zu has no labels", i);
            return TT_EINVAL;
        }
        for (size_t j = 0; j < s->nlabels; j++) {
            const struct rw_label *l = &s->labels[j];
            if (l->name_len == 0) {
                set_err(err, 0, i, "series %zu: label %zu has an empty name", i, j);
                return TT_EINVAL;
            }
            if (l->name_len > LABELS_STR_MAX || l->value_len > LABELS_STR_MAX) {
                set_err(err, 0, i, "series %zu: label %zu is longer than %u bytes", i, j,
                        LABELS_STR_MAX);
                return TT_EINVAL;
            }
            if (!utf8_ok((const uint8_t *)l->name, l->name_len)) {
                set_err(err, 0, i, "series %zu: label %zu: name is not valid UTF-8 (or holds NUL)",
                        i, j);
                return TT_EINVAL;
            }
            if (!utf8_ok((const uint8_t *)l->value, l->value_len)) {
                set_err(err, 0, i,
                        "series %zu: label %zu (%.64s): value is not valid UTF-8 (or holds NUL)", i,
                        j, l->name);
                return TT_EINVAL;
            }
            if (j > 0) {
                int c = str_cmp(&s->labels[j - 1], l);
                if (c == 0) {
                    set_err(err, 0, i, "series %zu: duplicate label name %.64s", i, l->name);
                    return TT_EINVAL;
                }
                if (c > 0) {
                    set_err(err, 0, i, "series %zu: labels not sorted by name (%.64s after %.64s)",
                            i, l->name, s->labels[j - 1].name);
                    return TT_EINVAL;
                }
            }
        }
    }
    return 0;
}

/* ---- the endpoint ---------------------------------------------------------------- */

/* content_type_ok: application/x-protobuf, with no proto parameter or
 * proto=prometheus.WriteRequest (remote write 1.0). */
static int content_type_ok(const char *ct)
{
    while (*ct == ' ')
        ct++;
    static const char want[] = "application/x-protobuf";
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return 0;
    const char *p = ct + sizeof want - 1;
    while (*p == ' ')
        p++;
    if (*p == 0)
        return 1;
    if (*p != ';')
        return 0;
    const char *proto = strstr(p, "proto=");
    if (!proto)
        return 1;
    proto += 6;
    static const char v1[] = "prometheus.WriteRequest";
    return strncmp(proto, v1, sizeof v1 - 1) == 0 &&
           (proto[sizeof v1 - 1] == 0 || proto[sizeof v1 - 1] == ';' ||
            proto[sizeof v1 - 1] == ' ');
}

struct write_counts {
    uint64_t stored, too_old, conflicts;
};

/* append adds every sample of req in one batch and commits it; on a label
 * set the head refuses the batch is rolled back and the request answered. */
static int append(struct http_req *req, struct head *h, const struct rw_request *wr,
                  struct write_counts *wc)
{
    struct head_appender *app = NULL;
    struct labels ls;
    labels_init(&ls);
    char err[256] = "";
    int rc = head_appender_new(h, &app);
    if (rc != 0) {
        rc = http_respond_error(req, 500, NULL, "remote write: out of memory");
        goto out;
    }
    for (size_t i = 0; i < wr->nseries; i++) {
        const struct rw_series *s = &wr->series[i];
        labels_reset(&ls);
        for (size_t j = 0; j < s->nlabels && rc == 0; j++)
            rc = labels_push(&ls, s->labels[j].name, s->labels[j].value);
        head_ref ref = 0;
        for (size_t k = 0; k < s->nsamples && rc == 0; k++) {
            const struct rw_sample *sm = &s->samples[k];
            if (ref)
                rc = head_appender_add_ref(app, ref, sm->timestamp_ms, sm->value);
            else
                rc = head_appender_add(app, &ls, sm->timestamp_ms, sm->value, &ref);
            if (rc == TT_ERANGE) {
                wc->too_old++;
                rc = 0;
            } else if (rc == TT_EEXIST) {
                wc->conflicts++;
                rc = 0;
            }
        }
        if (rc == TT_EINVAL || rc == TT_ETOOBIG) {
            head_appender_rollback(app);
            rc = http_respond_error(req, 400, "bad_data",
                                    "remote write: series %zu: label set refused (%s); nothing "
                                    "was stored",
                                    i, tt_strerror(rc));
            goto out;
        }
        if (rc != 0) {
            head_appender_rollback(app);
            rc = http_respond_error(req, rc == TT_ENOMEM ? 500 : 503, NULL,
                                    "remote write: appending failed: %s; nothing was stored",
                                    tt_strerror(rc));
            goto out;
        }
    }
    struct head_commit_result res;
    memset(&res, 0, sizeof res);
    rc = head_appender_commit(app, &res, err, sizeof err);
    if (rc != 0) {
        int status = rc == TT_ETOOBIG ? 413 : rc == TT_ENOMEM ? 500 : 503;
        rc = http_respond_error(req, status, NULL, "remote write: commit failed: %s",
                                err[0] ? err : tt_strerror(rc));
        goto out;
    }
    wc->stored = res.appended + res.duplicates;
    wc->too_old += res.too_old;
    wc->conflicts += res.conflicts;
    rc = 0;
out:
    head_appender_free(app);
    labels_release(&ls);
    return rc;
}

static int handle_write(struct http_req *req, void *ctx)
{
    struct head *h = server_store_head(ctx);
    if (!h)
        return http_respond_error(req, 503, NULL, "the store is opening (WAL replay)");
    const char *ct = http_req_header(req, "Content-Type");
    if (ct && !content_type_ok(ct))
        return http_respond_error(req, 415, "bad_data",
                                  "remote write: unsupported Content-Type %.100s (want "
                                  "application/x-protobuf, remote write 1.0)",
                                  ct);
    const char *ce = http_req_header(req, "Content-Encoding");
    if (ce && strcasecmp(ce, "snappy") != 0)
        return http_respond_error(req, 415, "bad_data",
                                  "remote write: unsupported Content-Encoding %.100s (want snappy)",
                                  ce);
    size_t len;
    const uint8_t *body = http_req_body(req, &len);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    struct rw_request wr;
    memset(&wr, 0, sizeof wr);
    struct rw_error e;
    memset(&e, 0, sizeof e);
    int rc = remote_write_decompress(body, len, RW_MAX_DECOMPRESSED, &raw, &raw_len, &e);
    if (rc != 0) {
        int status = rc == TT_ETOOBIG ? 413 : rc == TT_ENOMEM ? 500 : 400;
        rc = http_respond_error(req, status, NULL, "remote write: %s", e.msg);
        goto out;
    }
    rc = remote_write_decode(raw, raw_len, &wr, &e);
    if (rc == 0)
        rc = remote_write_validate(&wr, &e);
    if (rc != 0) {
        rc = http_respond_error(req, rc == TT_ENOMEM ? 500 : 400, NULL,
                                "remote write: %s; nothing was stored", e.msg);
        goto out;
    }
    if (wr.nsamples > HEAD_APPENDER_MAX_SAMPLES) {
        rc = http_respond_error(req, 413, NULL,
                                "remote write: %zu samples in one request, more than %u",
                                wr.nsamples, HEAD_APPENDER_MAX_SAMPLES);
        goto out;
    }
    struct write_counts wc;
    memset(&wc, 0, sizeof wc);
    rc = append(req, h, &wr, &wc);
    if (rc != 0 || http_req_status(req) != 0)
        goto out;
    if (wc.too_old || wc.conflicts)
        rc = http_respond_error(req, 400, "bad_data",
                                "remote write: %llu of %zu samples refused (%llu older than the "
                                "out-of-order window, %llu with another value at a stored "
                                "timestamp); the other %llu were stored",
                                (unsigned long long)(wc.too_old + wc.conflicts), wr.nsamples,
                                (unsigned long long)wc.too_old, (unsigned long long)wc.conflicts,
                                (unsigned long long)wc.stored);
    else
        rc = http_respond(req, 204, "text/plain", "", 0);
out:
    free(raw);
    remote_write_release(&wr);
    return rc;
}

int remote_write_register(struct server *srv, struct server_store *store)
{
    struct http_route r = { .method = "POST",
                            .pattern = "/api/v1/write",
                            .handler = handle_write,
                            .max_body_bytes = RW_MAX_BODY,
                            .ctx = store };
    return server_add_route(srv, &r);
}
