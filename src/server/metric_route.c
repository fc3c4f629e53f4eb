/*
 * metric_route.c - libtelltale metric records into TSDB series (the mapping
 * is in metric_route.h).
 */
#include "server/metric_route.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/errmsg.h"
#include "core/loglin.h"
#include "store/tsdb/head.h"

#define MAX_LABELS 128

/* The record's labels and the origin's, as offsets into one string block
 * (the block may move while it grows; pointers are made at the end). */
struct lset {
    struct wbuf strs;
    size_t off[MAX_LABELS][2];
    size_t n;
};

static int lset_add(struct lset *s, const char *n, size_t nlen, const char *v, size_t vlen)
{
    if (s->n == MAX_LABELS)
        return TT_EINVAL;
    s->off[s->n][0] = s->strs.len;
    wbuf_put(&s->strs, n, nlen);
    wbuf_put_u8(&s->strs, 0);
    s->off[s->n][1] = s->strs.len;
    wbuf_put(&s->strs, v, vlen);
    wbuf_put_u8(&s->strs, 0);
    s->n++;
    return s->strs.err;
}

static int lset_has(const struct lset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp((const char *)s->strs.data + s->off[i][0], name) == 0)
            return 1;
    return 0;
}

static int name_ok(const char *p, size_t n, int colon)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* fmt_value formats a label value of any type into buf. */
static int fmt_value(const struct rec_value *v, char *buf, size_t n, const char **p, size_t *len)
{
    int k;
    switch (v->type) {
    case TT_VAL_STR:
        *p = v->u.s.p;
        *len = v->u.s.len;
        return 0;
    case TT_VAL_INT:
        k = snprintf(buf, n, "%" PRId64, v->u.i);
        break;
    case TT_VAL_DOUBLE:
        k = snprintf(buf, n, "%.17g", v->u.d);
        break;
    case TT_VAL_BOOL:
        k = snprintf(buf, n, "%s", v->u.b ? "true" : "false");
        break;
    default:
        return TT_EINVAL;
    }
    *p = buf;
    *len = (size_t)k;
    return 0;
}

/* fmt_le writes a bucket bound as Prometheus prints floats: the shortest
 * form that reads back to the same double. */
static void fmt_le(double v, char *buf, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* bucket_le: the upper bound, in value order, of loglin bucket idx. */
static double bucket_le(int32_t idx, int p)
{
    if (idx > 0)
        return loglin_upper(idx, p);
    if (idx == 0)
        return LOGLIN_MIN;
    /* Negative values: |lower| <= |v| < |upper|, so v <= lower (nearer zero). */
    return loglin_lower(idx, p);
}

/* origin_labels adds node, service and instance from "node\0service/pid". */
static int origin_labels(struct lset *s, const char *o, size_t n)
{
    const char *nul = memchr(o, '\0', n);
    size_t nlen = nul ? (size_t)(nul - o) : n;
    const char *svc = nul ? nul + 1 : o + n;
    size_t slen = (size_t)(o + n - svc), pid_at = slen;
    char inst[1100];
    int rc = 0;
    /* the pid: digits after the last '/' */
    for (size_t i = slen; i > 0; i--) {
        if (svc[i - 1] == '/') {
            pid_at = i - 1;
            break;
        }
        if (svc[i - 1] < '0' || svc[i - 1] > '9')
            break;
    }
    if (pid_at + 1 >= slen)
        pid_at = slen; /* no "/digits" */
    if (nlen > 0 && !lset_has(s, "node"))
        rc = lset_add(s, "node", 4, o, nlen);
    if (rc == 0 && pid_at > 0 && !lset_has(s, "service"))
        rc = lset_add(s, "service", 7, svc, pid_at);
    if (rc == 0 && nlen > 0 && !lset_has(s, "instance")) {
        int k;
        if (pid_at < slen)
            k = snprintf(inst, sizeof inst, "%.*s:%.*s", (int)(nlen > 1024 ? 1024 : nlen), o,
                         (int)(slen - pid_at - 1), svc + pid_at + 1);
        else
            k = snprintf(inst, sizeof inst, "%.*s", (int)(nlen > 1024 ? 1024 : nlen), o);
        rc = lset_add(s, "instance", 8, inst, (size_t)k);
    }
    return rc;
}

struct emitter {
    struct lset *s;
    struct labels ls;
    metric_route_emit_fn emit;
    void *ctx;
    int64_t t_ms;
};

/* put emits one sample of name{labels[, le]}. */
static int put(struct emitter *e, const char *name, const char *le, double v)
{
    labels_reset(&e->ls);
    if (labels_push(&e->ls, LABELS_METRIC_NAME, name) < 0)
        return TT_ENOMEM;
    for (size_t i = 0; i < e->s->n; i++) {
        const char *n = (const char *)e->s->strs.data + e->s->off[i][0];
        const char *v2 = (const char *)e->s->strs.data + e->s->off[i][1];
        if (labels_push(&e->ls, n, v2) < 0)
            return TT_ENOMEM;
    }
    if (le != NULL && labels_push(&e->ls, "le", le) < 0)
        return TT_ENOMEM;
    return e->emit(e->ctx, &e->ls, e->t_ms, v);
}

int metric_route_record(const struct rec *r, const char *origin, size_t origin_len,
                        metric_route_emit_fn emit, void *ctx, char *err, size_t errlen)
{
    struct rec_metric m;
    struct lset s;
    struct emitter e;
    char *names = NULL;
    int rc = rec_decode_metric(r, &m, err, errlen);
    if (rc < 0)
        return rc;
    if (m.name.len > 1024 || !name_ok(m.name.p, m.name.len, 1)) {
        tt_set_err(err, errlen, "metric record: bad metric name '%.*s'",
                   (int)(m.name.len > 200 ? 200 : m.name.len), m.name.p);
        return TT_EINVAL;
    }
    memset(&s, 0, sizeof s);
    wbuf_init(&s.strs, (size_t)64 << 20);
    labels_init(&e.ls);
    struct rec_list it = m.labels;
    struct rec_str k;
    struct rec_value v;
    while ((rc = rec_kv_next(&it, &k, &v)) == 1) {
        char buf[64];
        const char *vp;
        size_t vlen;
        if (!name_ok(k.p, k.len, 0) || (k.len >= 2 && k.p[0] == '_' && k.p[1] == '_') ||
            (m.kind == REC_METRIC_HISTOGRAM && k.len == 2 && memcmp(k.p, "le", 2) == 0) ||
            fmt_value(&v, buf, sizeof buf, &vp, &vlen) < 0) {
            tt_set_err(err, errlen, "metric %.*s: bad label '%.*s'", (int)m.name.len, m.name.p,
                       (int)(k.len > 200 ? 200 : k.len), k.p);
            rc = TT_EINVAL;
            goto out;
        }
        rc = lset_add(&s, k.p, k.len, vp, vlen);
        if (rc < 0) {
            tt_set_err(err, errlen, "metric %.*s: too many labels", (int)m.name.len, m.name.p);
            goto out;
        }
    }
    if (rc < 0) {
        tt_set_err(err, errlen, "metric %.*s: malformed label list", (int)m.name.len, m.name.p);
        rc = TT_ECORRUPT;
        goto out;
    }
    rc = origin_labels(&s, origin, origin_len);
    if (rc < 0)
        goto out;
    /* name, name_bucket, name_sum, name_count, NUL-terminated */
    size_t nl = m.name.len, step = nl + sizeof "_bucket";
    names = malloc(step * 4);
    if (names == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    const char *suffix[4] = { "", "_bucket", "_sum", "_count" };
    for (int i = 0; i < 4; i++) {
        memcpy(names + i * step, m.name.p, nl);
        memcpy(names + i * step + nl, suffix[i], strlen(suffix[i]) + 1);
    }
    e = (struct emitter){ &s, e.ls, emit, ctx, r->time_ns / 1000000 };
    if (r->time_ns < 0 && r->time_ns % 1000000 != 0)
        e.t_ms--; /* floor */
    if (m.kind == REC_METRIC_COUNTER || m.kind == REC_METRIC_GAUGE) {
        rc = put(&e, names, NULL, m.value);
        goto out;
    }
    /* histogram: check the buckets first, so a bad record emits nothing */
    struct rec_list bi = m.buckets;
    int32_t idx, prev_idx = INT32_MIN;
    uint64_t cnt, total = 0;
    while ((rc = rec_bucket_next(&bi, &idx, &cnt)) == 1) {
        if (idx <= prev_idx || cnt > UINT64_MAX - total) {
            rc = TT_ECORRUPT;
            break;
        }
        prev_idx = idx;
        total += cnt;
    }
    if (rc < 0) {
        tt_set_err(err, errlen, "metric %.*s: malformed or unsorted bucket list", (int)nl,
                   m.name.p);
        rc = TT_ECORRUPT;
        goto out;
    }
    int p = m.precision_bits, have = 0;
    double cum = 0, pend_le = 0;
    char le[40];
    bi = m.buckets;
    while (rec_bucket_next(&bi, &idx, &cnt) == 1) {
        double b = bucket_le(idx, p);
        /* A bucket is emitted once the next has a larger bound: clamped
         * outermost buckets share one, and their counts add up under it. */
        if (have && b > pend_le) {
            fmt_le(pend_le, le, sizeof le);
            rc = put(&e, names + step, le, cum);
            if (rc < 0)
                goto out;
        }
        cum += (double)cnt;
        if (!have || b > pend_le)
            pend_le = b;
        have = 1;
    }
    if (have) {
        fmt_le(pend_le, le, sizeof le);
        rc = put(&e, names + step, le, cum);
        if (rc < 0)
            goto out;
    }
    /* The +Inf bucket and _count are the record's count: the buckets are
     * read from several threads' cells at flush time, the count with them. */
    double count = (double)(m.count > total ? m.count : total);
    rc = put(&e, names + step, "+Inf", count);
    if (rc == 0)
        rc = put(&e, names + 2 * step, NULL, m.sum);
    if (rc == 0)
        rc = put(&e, names + 3 * step, NULL, count);
out:
    free(names);
    labels_release(&e.ls);
    wbuf_release(&s.strs);
    return rc;
}

int metric_route_to_head(void *ctx, const struct labels *ls, int64_t t_ms, double v)
{
    struct metric_route_head *h = ctx;
    int rc = head_appender_add(h->app, ls, t_ms, v, NULL);
    if (rc == TT_ERANGE || rc == TT_EEXIST || rc == TT_EINVAL || rc == TT_ETOOBIG) {
        h->skipped++;
        return 0;
    }
    if (rc < 0)
        return rc;
    h->samples++;
    return 0;
}
