/*
 * span_indexer.c - the record log -> span store indexer (span_indexer.h).
 */
#include "server/span_indexer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/clock.h"
#include "core/compress.h"
#include "core/record.h"
#include "server/otlp_out.h"
#include "server/reclog.h"
#include "telltale.h"

#define COMMIT_EVERY_NS 1000000000ll
#define RETAIN_EVERY_NS 60000000000ll

struct span_indexer {
    struct spanstore *ss;
    struct reclog *rl;
    struct log *log;
    unsigned poll_ms;
    struct reclog_cursor cur;
    int dirty; /* the cursor moved since the last commit */
    int64_t last_commit_ns, last_retain_ns;
    struct wbuf buf, scratch;
    struct span_attr *attrs;
    size_t cap_attrs;

    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct span_indexer_stats st;
    span_indexer_observe_fn observe;
    void *observe_arg;
};

int span_indexer_new(struct span_indexer **out, struct spanstore *ss, struct reclog *rl,
                     unsigned poll_ms, struct log *log)
{
    struct span_indexer *ix = calloc(1, sizeof *ix);
    if (ix == NULL)
        return TT_ENOMEM;
    ix->ss = ss;
    ix->rl = rl;
    ix->log = log;
    ix->poll_ms = poll_ms ? poll_ms : 150;
    spanstore_cursor(ss, &ix->cur.seg, &ix->cur.off);
    wbuf_init(&ix->buf, 0);
    wbuf_init(&ix->scratch, 0);
    pthread_mutex_init(&ix->mu, NULL);
    pthread_cond_init(&ix->cv, NULL);
    *out = ix;
    return 0;
}

void span_service_from_origin(const char *origin, size_t len, struct rec_str *service,
                              struct rec_str *node)
{
    const char *nul = origin != NULL ? memchr(origin, '\0', len) : NULL;
    node->p = origin;
    node->len = (uint32_t)(nul != NULL ? (size_t)(nul - origin) : len);
    service->p = "";
    service->len = 0;
    if (nul != NULL) {
        const char *p = nul + 1;
        size_t n = len - (size_t)(p - origin);
        const char *slash = memchr(p, '/', n);
        service->p = p;
        service->len = (uint32_t)(slash != NULL ? (size_t)(slash - p) : n);
    }
}

static int add_span(struct span_indexer *ix, const struct rec *r, const struct batch_hdr *h,
                    char *err, size_t errlen)
{
    struct rec_span s;
    struct span_row row;
    struct rec_list it;
    struct rec_str key;
    struct rec_value v;
    int rc;

    rc = rec_decode_span(r, &s, err, errlen);
    if (rc != 0)
        return rc;
    memset(&row, 0, sizeof row);
    memcpy(row.trace_id, s.trace_id, 16);
    row.span_id = s.span_id;
    row.parent_id = s.parent_id;
    row.start_ns = r->time_ns;
    row.duration_ns = s.duration_ns;
    /* An agent's span record carries the span's start HLC; one the server
     * made from OTLP/Zipkin input only when flagged (else it is our stamp). */
    if (h->origin_id != otlp_origin_id(h->origin, h->origin_len) ||
        (r->flags & REC_FLAG_OWN_HLC) != 0)
        row.hlc = r->hlc;
    row.kind = s.kind;
    row.status = s.status;
    row.flags = s.flags;
    row.name = s.name;
    row.status_message = s.status_message;
    row.events = s.events;
    row.links = s.links;
    span_service_from_origin(h->origin, h->origin_len, &row.service, &row.node);
    size_t n = 0;
    it = s.attrs;
    while ((rc = rec_kv_next(&it, &key, &v)) == 1) {
        if (n == ix->cap_attrs) {
            size_t nc = ix->cap_attrs ? ix->cap_attrs * 2 : 32;
            struct span_attr *a = realloc(ix->attrs, nc * sizeof *a);
            if (a == NULL)
                return TT_ENOMEM;
            ix->attrs = a;
            ix->cap_attrs = nc;
        }
        if (key.len == 12 && memcmp(key.p, "service.name", 12) == 0 && v.type == TT_VAL_STR &&
            v.u.s.len > 0)
            row.service = v.u.s;
        ix->attrs[n].key = key;
        ix->attrs[n].v = v;
        n++;
    }
    if (rc < 0) {
        snprintf(err, errlen, "span attributes do not decode");
        return TT_ECORRUPT;
    }
    if (row.service.len == 0) {
        row.service.p = "unknown";
        row.service.len = 7;
    }
    row.attrs = ix->attrs;
    row.nattrs = (uint32_t)n;
    rc = spanstore_add(ix->ss, &row, err, errlen);
    if (rc == 0 && ix->observe != NULL)
        ix->observe(ix->observe_arg, &row);
    return rc;
}

int span_indexer_add_batch(struct span_indexer *ix, const uint8_t *p, size_t len, char *err,
                           size_t errlen)
{
    struct batch_hdr h;
    const uint8_t *body;
    size_t body_len;
    struct rbuf rb;
    struct rec r;
    int rc, added = 0;

    rc = batch_parse_header(p, len, &h, err, errlen);
    if (rc != 0)
        return rc == TT_ENOMEM ? rc : TT_ECORRUPT;
    if (batch_total_len(&h) > len) {
        snprintf(err, errlen, "batch longer than its bytes");
        return TT_ECORRUPT;
    }
    int seen = spanstore_batch_seen(ix->ss, h.origin_id, h.first_seq, h.count);
    if (seen < 0) {
        snprintf(err, errlen, "span store: dedup map: %s", tt_strerror(seen));
        return seen;
    }
    if (seen) {
        ix->st.repeats++;
        return 0;
    }
    rc = batch_open(p, &h, &ix->scratch, &body, &body_len, err, errlen);
    if (rc != 0)
        return rc;
    rbuf_init(&rb, body, body_len);
    while ((rc = rec_next(&rb, body, &r, err, errlen)) == 1) {
        if (r.type != REC_SPAN)
            continue;
        char rerr[256];
        rc = add_span(ix, &r, &h, rerr, sizeof rerr);
        if (rc == TT_ECORRUPT || rc == TT_EINVAL) {
            ix->st.bad++;
            log_warn(ix->log, "span record skipped", "err", rerr);
            continue;
        }
        if (rc != 0) {
            snprintf(err, errlen, "%s", rerr);
            return rc;
        }
        added++;
    }
    if (rc < 0) {
        ix->st.bad++;
        log_warn(ix->log, "batch records damaged after some were indexed", "err", err);
    }
    ix->st.spans += (uint64_t)added;
    return added;
}

static int commit(struct span_indexer *ix, char *err, size_t errlen)
{
    int rc = spanstore_commit(ix->ss, ix->cur.seg, ix->cur.off, err, errlen);
    if (rc == 0) {
        ix->dirty = 0;
        ix->st.commits++;
        ix->last_commit_ns = clock_realtime_ns();
    }
    return rc;
}

int span_indexer_step(struct span_indexer *ix, char *err, size_t errlen)
{
    int n = 0, rc;
    for (;;) {
        rc = reclog_read(ix->rl, &ix->cur, &ix->buf, err, errlen);
        if (rc == 0)
            break;
        if (rc == TT_ECORRUPT) {
            ix->st.bad++;
            ix->dirty = 1;
            log_warn(ix->log, "record log damage skipped by the span indexer", "err", err);
            continue;
        }
        if (rc < 0)
            return rc;
        ix->st.batches++;
        ix->dirty = 1;
        n++;
        rc = span_indexer_add_batch(ix, ix->buf.data, ix->buf.len, err, errlen);
        if (rc == TT_ECORRUPT) {
            ix->st.bad++;
            log_warn(ix->log, "batch skipped by the span indexer", "err", err);
        } else if (rc < 0) {
            return rc;
        }
        if (clock_realtime_ns() - ix->last_commit_ns >= COMMIT_EVERY_NS) {
            rc = commit(ix, err, errlen);
            if (rc != 0)
                return rc;
        }
        pthread_mutex_lock(&ix->mu);
        int stop = ix->stop;
        pthread_mutex_unlock(&ix->mu);
        if (stop)
            break;
    }
    if (ix->dirty || spanstore_pending(ix->ss) > 0) {
        rc = commit(ix, err, errlen);
        if (rc != 0)
            return rc;
    }
    return n;
}

static void *run(void *arg)
{
    struct span_indexer *ix = arg;
    char err[512];
    for (;;) {
        err[0] = '\0';
        int rc = span_indexer_step(ix, err, sizeof err);
        if (rc < 0)
            log_error(ix->log, "span indexer", "err", err[0] ? err : tt_strerror(rc));
        int64_t now = clock_realtime_ns();
        if (now - ix->last_retain_ns >= RETAIN_EVERY_NS) {
            ix->last_retain_ns = now;
            rc = spanstore_retain(ix->ss, now, err, sizeof err);
            if (rc < 0)
                log_error(ix->log, "span store retention", "err", err);
        }
        pthread_mutex_lock(&ix->mu);
        if (!ix->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)ix->poll_ms * 1000000l;
            ts.tv_sec += ts.tv_nsec / 1000000000l;
            ts.tv_nsec %= 1000000000l;
            pthread_cond_timedwait(&ix->cv, &ix->mu, &ts);
        }
        int stop = ix->stop;
        pthread_mutex_unlock(&ix->mu);
        if (stop)
            break;
    }
    if (ix->dirty || spanstore_pending(ix->ss) > 0) {
        if (commit(ix, err, sizeof err) != 0)
            log_error(ix->log, "span indexer: final commit", "err", err);
    }
    return NULL;
}

void span_indexer_set_observer(struct span_indexer *ix, span_indexer_observe_fn fn, void *arg)
{
    ix->observe = fn;
    ix->observe_arg = arg;
}

int span_indexer_start(struct span_indexer *ix)
{
    if (ix->started)
        return TT_ESTATE;
    if (pthread_create(&ix->thread, NULL, run, ix) != 0)
        return TT_ESYS;
    ix->started = 1;
    return 0;
}

void span_indexer_stop(struct span_indexer *ix)
{
    if (ix == NULL || !ix->started)
        return;
    pthread_mutex_lock(&ix->mu);
    ix->stop = 1;
    pthread_cond_signal(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    pthread_join(ix->thread, NULL);
    ix->started = 0;
}

void span_indexer_get_stats(struct span_indexer *ix, struct span_indexer_stats *st)
{
    *st = ix->st;
}

void span_indexer_free(struct span_indexer *ix)
{
    if (ix == NULL)
        return;
    span_indexer_stop(ix);
    wbuf_release(&ix->buf);
    wbuf_release(&ix->scratch);
    free(ix->attrs);
    pthread_mutex_destroy(&ix->mu);
    pthread_cond_destroy(&ix->cv);
    free(ix);
}
