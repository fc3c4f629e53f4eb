/*
 * fuzz_otlp_check.h - what the OTLP and Zipkin fuzz targets check after a
 * decode: on success every group's body is exactly `count` records, each a
 * span, event or metric that decodes and whose lists walk to their end (the
 * decoders must only ever produce well-formed records), the origin holds
 * its NUL, counts add up and a rejection has a message; on failure the
 * error is TT_ESYNTAX or TT_ENOMEM with a message.
 */
#ifndef TT_FUZZ_OTLP_CHECK_H
#define TT_FUZZ_OTLP_CHECK_H

#include <stdio.h>
#include "fuzz_rec_check.h"
#include "server/otlp_out.h"

static tt_hlc fuzz_hlc(void *ctx)
{
    (void)ctx;
    return 7;
}

static void fuzz_otlp_begin(struct otlp_out *o)
{
    otlp_out_init(o);
    o->default_node = "fuzz";
    o->hlc = fuzz_hlc;
    o->now_ns = 1;
}

static void strict_kv(struct rec_list l)
{
    struct rec_str k;
    struct rec_value v;
    uint32_t n = 0;
    int rc;
    while ((rc = rec_kv_next(&l, &k, &v)) == 1)
        n++;
    CHECK(rc == 0);
    (void)n;
}

static void fuzz_otlp_check(struct otlp_out *o, int rc, const char *err)
{
    struct wbuf w;
    char e[160];
    (void)fuzz_check_stream; /* fuzz_rec_check.h's; not needed here */
    if (rc != 0) {
        CHECK(rc == TT_ESYNTAX || rc == TT_ENOMEM);
        CHECK(rc == TT_ENOMEM || err[0] != '\0');
        otlp_out_release(o);
        return;
    }
    CHECK(o->rejected == 0 || o->reject_msg[0] != '\0');
    uint64_t total = 0;
    wbuf_init(&w, 0);
    for (size_t g = 0; g < o->ngroups; g++) {
        const struct otlp_group *gr = &o->groups[g];
        struct rbuf r;
        struct rec rec;
        uint32_t n = 0;
        CHECK(memchr(gr->origin, 0, gr->origin_len) != NULL);
        CHECK(gr->origin_len <= 1024);
        if (gr->body.data == NULL) { /* a resource whose items were all rejected */
            CHECK(gr->count == 0);
            continue;
        }
        rbuf_init(&r, gr->body.data, gr->body.len);
        while ((rc = rec_next(&r, gr->body.data, &rec, e, sizeof e)) == 1) {
            n++;
            /* the receive stamp, or a span's own HLC from its traceState */
            CHECK(rec.hlc == 7 || (rec.type == REC_SPAN && (rec.flags & REC_FLAG_OWN_HLC)));
            CHECK(rec.time_ns >= 0);
            if (rec.type == REC_SPAN) {
                struct rec_span s;
                CHECK(rec_decode_span(&rec, &s, e, sizeof e) == 0);
                CHECK(s.span_id != 0);
                strict_kv(s.attrs);
            } else if (rec.type == REC_METRIC) {
                struct rec_metric m;
                CHECK(rec_decode_metric(&rec, &m, e, sizeof e) == 0);
                CHECK(m.kind == REC_METRIC_COUNTER || m.kind == REC_METRIC_GAUGE);
                CHECK(m.name.len > 0);
                strict_kv(m.labels);
            } else {
                struct rec_event ev;
                CHECK(rec.type == REC_EVENT);
                CHECK(rec_decode_event(&rec, &ev, e, sizeof e) == 0);
                strict_kv(ev.attrs);
            }
            fuzz_check_record(&rec, &w);
        }
        CHECK(rc == 0);
        CHECK(n == gr->count);
        total += n;
    }
    CHECK(total == o->accepted);
    wbuf_release(&w);
    otlp_out_release(o);
}

#endif
