/*
 * span.c - spans on the hot path: start (sampling, ids, HLC), end (one ring
 * entry), attributes/events/links (extra entries keyed by span id), and the
 * client/server helpers that carry context and HLC across a call.
 *
 * Invariants: an unsampled span reads no clock and writes no entry; a span
 * that is recording owns nothing outside the caller's struct tt_span, so a
 * span that is never ended costs only its extras (aged out by the flusher).
 */
#include <string.h>
#include "lib/config.h"
#include "lib/entry.h"
#include "lib/tt_int.h"
#include "core/clock.h"

static inline struct tt_ctx *ctx_get(void)
{
    return atomic_load_explicit((_Atomic(struct tt_ctx *) *)&tt__ctx, memory_order_relaxed);
}

/* The traces-per-second limit on root spans (GCRA with a one-second burst),
 * the only shared write on the path and only for root spans that passed the
 * probability. Returns 1 when the span may be sampled. */
static __attribute__((noinline)) int rate_allows(struct tt_ctx *ctx)
{
    int64_t now = clock_monotonic_ns();
    int64_t tat = atomic_load_explicit(&ctx->rl_next_ns, memory_order_relaxed);
    for (;;) {
        int64_t base = tat > now ? tat : now;
        if (base - now > TT_NS_PER_S)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&ctx->rl_next_ns, &tat,
                                                  base + ctx->rl_interval_ns, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    }
}

/* The sampling probability; at ratio 0 (or disabled) no draw is made. */
static inline int sample_draw(struct tt_ctx *ctx, struct tt_thread *t)
{
    return ctx->sample_all || (ctx->sample_threshold != 0 && tt_rand64(t) < ctx->sample_threshold);
}

/* span_record is the rest of a start for a span that is sampled: the name
 * filter, the name, the clock (unless now is already known) and the HLC. Out
 * of line so that the unsampled path stays short. */
static __attribute__((noinline)) void span_record(tt_span *span, struct tt_ctx *ctx,
                                                  struct tt_thread *t, const char *name,
                                                  const tt_span_context *parent, int64_t now)
{
    if (__builtin_expect(ctx->have_filters, 0) &&
        !tt_name_allowed(ctx->cfg.span_allow, ctx->cfg.span_deny, name)) {
        /* Filtered spans stay sampled for their children and callees. */
        TT_TSTAT_INC(t, spans_filtered);
        return;
    }
    /* One pass over the name (names are short: no library calls). */
    size_t n = 0;
    if (name)
        for (; n < sizeof span->name - 1 && name[n]; n++)
            span->name[n] = name[n];
    span->name[n] = 0;
    span->name_len = (uint32_t)n;
    if (!now)
        now = clock_realtime_ns();
    span->start_ns = now;
    tt_hlc h = tt_stamp_local(ctx, t, now);
    if (parent && !parent->remote && parent->hlc >= h) {
        /* A child handed to another thread is still after its parent. */
        h = parent->hlc + 1;
        t->last_hlc = h;
    }
    span->ctx.hlc = h;
    span->recording = 1;
}

/* span_start is tt_span_start with the physical time of the start when the
 * caller has just read it for an event of the same call (an extract), else 0:
 * the clock is then read only for a span that records. */
static inline __attribute__((always_inline)) void span_start(tt_span *span, const char *name,
                                                             tt_span_kind kind,
                                                             const tt_span_context *parent,
                                                             int64_t now)
{
    struct tt_thread *t = tt_thread_get();
    span->recording = 0;
    span->has_extras = 0;
    span->status = TT_STATUS_UNSET;
    span->kind = (uint8_t)kind;
    span->name_len = 0;
    span->extras = 0;
    span->ctx.remote = 0;
    span->ctx.hlc = 0;
    if (__builtin_expect(t == NULL, 0)) {
        memset(span->ctx.trace_id, 0, 16);
        span->ctx.span_id = 0;
        span->ctx.flags = 0;
        span->parent_id = 0;
        return;
    }
    struct tt_ctx *ctx = ctx_get();
    int sampled;
    if (parent && parent->span_id) {
        memcpy(span->ctx.trace_id, parent->trace_id, 16);
        span->parent_id = parent->span_id;
        if (ctx->cfg.sample_parent_based && ctx->cfg.enabled)
            sampled = parent->flags & TT_FLAG_SAMPLED;
        else
            sampled = sample_draw(ctx, t);
    } else {
        uint64_t a = tt_rand64(t), b = tt_rand64(t);
        if (__builtin_expect((a | b) == 0, 0))
            b = 1;
        memcpy(span->ctx.trace_id, &a, 8);
        memcpy(span->ctx.trace_id + 8, &b, 8);
        span->parent_id = 0;
        sampled = sample_draw(ctx, t) && (ctx->rl_interval_ns == 0 || rate_allows(ctx));
    }
    uint64_t id = tt_rand64(t);
    span->ctx.span_id = id ? id : 1;
    span->ctx.flags = sampled ? TT_FLAG_SAMPLED : 0;
    if (!sampled) {
        TT_TSTAT_INC(t, spans_unsampled);
        return;
    }
    span_record(span, ctx, t, name, parent, now);
}

void tt_span_start(tt_span *span, const char *name, tt_span_kind kind,
                   const tt_span_context *parent)
{
    span_start(span, name, kind, parent, 0);
}

static void discard_extras(struct tt_thread *t, uint64_t span_id)
{
    struct e_extra *e = ring_reserve(&t->ring, sizeof *e);
    if (!e) {
        TT_TSTAT_INC(t, records_dropped_full);
        return;
    }
    e->h.tag = E_DISCARD;
    e->span_id = span_id;
    ring_commit(&t->ring, e);
}

void tt_span_end(tt_span *span)
{
    if (!span->recording)
        return;
    span->recording = 0;
    int64_t end = clock_realtime_ns();
    struct tt_thread *t = tt_thread_get();
    if (__builtin_expect(t == NULL, 0))
        return;
    struct tt_ctx *ctx = ctx_get();
    uint64_t min = ctx->cfg.min_span_duration_ns;
    if (__builtin_expect(min != 0, 0) && (uint64_t)(end - span->start_ns) < min) {
        TT_TSTAT_INC(t, spans_filtered);
        if (span->has_extras)
            discard_extras(t, span->ctx.span_id);
        return;
    }
    uint32_t n = span->name_len;
    uint32_t len = (uint32_t)sizeof(struct e_span) + n + 1 + (span->has_extras ? 4 : 0);
    struct e_span *e = ring_reserve(&t->ring, len);
    if (__builtin_expect(e == NULL, 0)) {
        TT_TSTAT_INC(t, records_dropped_full);
        return;
    }
    e->h.tag = E_SPAN;
    e->h.a = span->kind;
    e->h.b = span->status;
    e->h.c = (uint8_t)(span->ctx.flags | (span->has_extras ? E_SPAN_HAS_EXTRAS : 0));
    memcpy(e->trace_id, span->ctx.trace_id, 16);
    e->span_id = span->ctx.span_id;
    e->parent_id = span->parent_id;
    e->start_ns = span->start_ns;
    e->end_ns = end;
    e->hlc = span->ctx.hlc;
    memcpy(e->name, span->name, n + 1);
    if (span->has_extras) {
        uint32_t cnt = span->extras;
        memcpy(e->name + n + 1, &cnt, 4);
    }
    ring_commit(&t->ring, e);
    TT_TSTAT_INC(t, spans_recorded);
    TT_TSTAT_INC(t, records_buffered);
}

/* Reserve an extra entry of the given body size for span; NULL if the span
 * is not recording or the ring is full (counted). */
static struct e_extra *extra_begin(tt_span *span, uint8_t tag, size_t body, struct tt_thread **tp)
{
    if (!span || !span->recording)
        return NULL;
    struct tt_thread *t = tt_thread_get();
    if (!t)
        return NULL;
    if (body > (1u << 20)) {
        TT_CSTAT_ADD(ctx_get(), bad_input, 1);
        return NULL;
    }
    struct e_extra *e = ring_reserve(&t->ring, (uint32_t)(sizeof *e + body));
    if (!e) {
        TT_TSTAT_INC(t, records_dropped_full);
        return NULL;
    }
    e->h.tag = tag;
    e->span_id = span->ctx.span_id;
    *tp = t;
    return e;
}

static void extra_commit(tt_span *span, struct tt_thread *t, struct e_extra *e)
{
    ring_commit(&t->ring, e);
    span->has_extras = 1;
    span->extras++;
}

void tt_span_set_attr(tt_span *span, const char *key, tt_value value)
{
    struct tt_thread *t;
    size_t kl = key ? strlen(key) : 0;
    struct e_extra *e =
        extra_begin(span, E_ATTR, entry_str_size(kl) + entry_value_size(&value), &t);
    if (!e)
        return;
    entry_put_value(entry_put_str(e->body, key, kl), &value);
    extra_commit(span, t, e);
}

void tt_span_set_str(tt_span *span, const char *key, const char *value)
{
    tt_value v = { .type = TT_VAL_STR, .u.s = value ? value : "" };
    tt_span_set_attr(span, key, v);
}

void tt_span_set_int(tt_span *span, const char *key, int64_t value)
{
    tt_value v = { .type = TT_VAL_INT, .u.i = value };
    tt_span_set_attr(span, key, v);
}

void tt_span_set_double(tt_span *span, const char *key, double value)
{
    tt_value v = { .type = TT_VAL_DOUBLE, .u.d = value };
    tt_span_set_attr(span, key, v);
}

void tt_span_set_bool(tt_span *span, const char *key, int value)
{
    tt_value v = { .type = TT_VAL_BOOL, .u.b = value != 0 };
    tt_span_set_attr(span, key, v);
}

void tt_span_add_event(tt_span *span, const char *name, const tt_kv *kvs, size_t nkv)
{
    struct tt_thread *t;
    size_t nl = name ? strlen(name) : 0;
    if (!kvs)
        nkv = 0;
    struct e_extra *e =
        extra_begin(span, E_SPAN_EVENT, entry_str_size(nl) + entry_kvs_size(kvs, nkv), &t);
    if (!e)
        return;
    e->time_ns = clock_realtime_ns();
    entry_put_kvs(entry_put_str(e->body, name, nl), kvs, nkv);
    extra_commit(span, t, e);
}

void tt_span_add_link(tt_span *span, const tt_span_context *linked, const tt_kv *kvs, size_t nkv)
{
    struct tt_thread *t;
    if (!linked || !linked->span_id)
        return;
    if (!kvs)
        nkv = 0;
    struct e_extra *e = extra_begin(span, E_LINK, entry_kvs_size(kvs, nkv), &t);
    if (!e)
        return;
    e->h.a = linked->flags;
    memcpy(e->link_trace, linked->trace_id, 16);
    e->link_span = linked->span_id;
    entry_put_kvs(e->body, kvs, nkv);
    extra_commit(span, t, e);
}

void tt_span_set_status(tt_span *span, tt_status status, const char *message)
{
    if (!span || !span->recording)
        return;
    span->status = (uint8_t)status;
    if (status != TT_STATUS_ERROR || !message || !*message)
        return;
    struct tt_thread *t;
    size_t ml = strlen(message);
    struct e_extra *e = extra_begin(span, E_STATUS_MSG, entry_str_size(ml), &t);
    if (!e)
        return;
    entry_put_str(e->body, message, ml);
    extra_commit(span, t, e);
}

/* ---- propagation helpers ---------------------------------------------------- */

/* inject is tt_inject with the physical time of the send when the caller has
 * just read it (the start of the span), else 0 to read it here. */
static int inject(const tt_span *span, tt_headers *out, int64_t now)
{
    if (!span || !out)
        return TT_EINVAL;
    int rc = tt_traceparent_format(&span->ctx, out->traceparent, sizeof out->traceparent);
    if (rc != 0) {
        out->traceparent[0] = 0;
        out->tracestate[0] = 0;
        return rc;
    }
    struct tt_thread *t = tt_thread_get();
    tt_hlc h = t ? tt_stamp_global(ctx_get(), t, now ? now : clock_realtime_ns()) : 0;
    if (!h || tt_tracestate_put_hlc(NULL, 0, h, out->tracestate, sizeof out->tracestate) != 0)
        out->tracestate[0] = 0;
    return 0;
}

int tt_inject(const tt_span *span, tt_headers *out)
{
    return inject(span, out, 0);
}

/* extract is tt_extract that also hands back the physical time it read for
 * the receive (*now, left alone when it read none). */
static int extract(const char *traceparent, const char *tracestate, tt_span_context *ctx_out,
                   int64_t *now)
{
    struct tt_thread *t = tt_thread_get();
    struct tt_ctx *ctx = ctx_get();
    tt_span_context c;
    if (!traceparent || tt_traceparent_parse(traceparent, strlen(traceparent), &c, NULL, 0) != 0) {
        if (ctx)
            TT_CSTAT_ADD(ctx, bad_input, 1);
        return TT_ESYNTAX;
    }
    int rc = 0;
    tt_hlc remote = 0;
    if (tracestate && *tracestate) {
        int r = tt_tracestate_get_hlc(tracestate, strlen(tracestate), &remote, NULL, 0);
        if (r == TT_ESYNTAX && ctx)
            TT_CSTAT_ADD(ctx, bad_input, 1);
        if (r != 0)
            remote = 0;
    }
    if (remote && t && ctx) {
        /* A receive event, after this thread's own stamps too. */
        tt_hlc merged;
        *now = clock_realtime_ns();
        uint64_t pt = (uint64_t)*now / (uint64_t)TT_NS_PER_MS;
        rc = hlc_recv_after(&ctx->hlc, t->last_hlc, remote, pt, &merged);
        t->last_hlc = merged;
    }
    c.hlc = remote;
    c.remote = 1;
    *ctx_out = c;
    return rc;
}

int tt_extract(const char *traceparent, const char *tracestate, tt_span_context *ctx_out)
{
    int64_t now = 0;
    return extract(traceparent, tracestate, ctx_out, &now);
}

void tt_server_span_start(tt_span *span, const char *name, const char *traceparent,
                          const char *tracestate)
{
    tt_span_context parent;
    int64_t now = 0; /* the receive and the span's start are one instant */
    int rc = extract(traceparent, tracestate, &parent, &now);
    span_start(span, name, TT_SPAN_SERVER, rc == TT_ESYNTAX ? NULL : &parent, now);
}

void tt_client_span_start(tt_span *span, const char *name, const tt_span_context *parent,
                          tt_headers *out)
{
    tt_span_start(span, name, TT_SPAN_CLIENT, parent);
    /* The send and the span's start are one instant: one clock read. */
    if (out && inject(span, out, span->recording ? span->start_ns : 0) != 0) {
        out->traceparent[0] = 0;
        out->tracestate[0] = 0;
    }
}
