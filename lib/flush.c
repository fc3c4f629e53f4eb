/*
 * flush.c - the flusher thread of libtelltale.
 *
 * Each cycle (every flush interval, when a ring is a quarter full, on
 * tt_flush, and at shutdown) it drains every thread's ring up to the head it
 * saw at the start, turns entries into records (core/record.h), and appends
 * them in batches (core/batch.h) to the spool. Invariants:
 *  - a span is written once, with every attribute, event, link and status
 *    message recorded for it, which may sit in other threads' rings: span
 *    entries whose extras have not all arrived wait up to two more cycles;
 *  - state changes of one cycle are written in HLC order, each with the value
 *    it replaced (the previous change with a smaller HLC of the same variable);
 *  - losses (full rings, spool cap) are reported as events;
 *  - the flusher holds ctx->flush_lock for a whole cycle, so fork() (which
 *    takes it in its prepare handler) never copies a half-done cycle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib/flush.h"
#include "lib/entry.h"
#include "lib/tt_int.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/record.h"

/* Cut a batch at about this size: small enough that the body and the encoded
 * batch stay in L2 between cycles (measured: 256 KiB cost ~0.1 us more CPU
 * per traced echo RPC, 16 KiB more in write() calls than it saved). */
#define BATCH_TARGET_BYTES (64u << 10)
#define TICK_MS            20 /* how often rings are looked at */
#define DEFER_CYCLES       2  /* wait for a span's late extras */
#define PENDING_MAX_AGE_NS (600 * TT_NS_PER_S)
#define STATE_HISTORY      4

/* Extras received for a span that has not ended (or not been seen) yet. */
struct pending {
    uint64_t span_id; /* 0 = free slot */
    uint32_t n;       /* extras seen */
    uint32_t nattrs, nevents, nlinks;
    struct wbuf attrs, events, links; /* encoded record lists */
    struct wbuf status;               /* status message bytes */
    int64_t touched_ns;
};

struct deferred {
    struct e_span *span; /* malloc'd copy of the entry */
    uint32_t extras;
    int age;
};

struct state_val {
    tt_hlc hlc;
    struct rec_value v; /* strings point at str */
    char *str;
};

struct state_var {
    char *key; /* "log\0var", NULL = free slot */
    size_t keylen;
    int n;
    struct state_val hist[STATE_HISTORY]; /* newest last */
};

struct state_item {
    const struct e_state *e;
    struct entry_str log, var;
    struct rec_value value;
};

struct flusher {
    struct wbuf body;    /* the batch being built: reserved header, then records */
    size_t body_start;   /* where the header starts in body (0) */
    uint16_t origin_len; /* origin bytes in the reserved header */
    struct wbuf scratch;
    struct wbuf prevbuf; /* a state change's previous string value */
    uint32_t count;
    tt_hlc hlc_min, hlc_max;
    struct pending *pend;
    size_t pend_cap, pend_n;
    struct deferred *defer;
    size_t defer_n, defer_cap;
    struct state_var *vars;
    size_t vars_cap, vars_n;
    struct state_item *items;
    size_t items_n, items_cap;
    struct tt_thread **threads;
    uint64_t *heads;
    size_t threads_cap;
    int64_t next_metrics_ns;
    uint64_t reported_full; /* ring drops already reported */
    int write_failed;
};

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return x;
}

/* ---- pending extras: open addressing, backward-shift deletion ---------- */

static struct pending *pend_find(struct flusher *f, uint64_t id)
{
    if (!f->pend_cap)
        return NULL;
    size_t mask = f->pend_cap - 1;
    for (size_t i = hash64(id) & mask;; i = (i + 1) & mask) {
        if (f->pend[i].span_id == id)
            return &f->pend[i];
        if (f->pend[i].span_id == 0)
            return NULL;
    }
}

static void pend_free_bufs(struct pending *p)
{
    wbuf_release(&p->attrs);
    wbuf_release(&p->events);
    wbuf_release(&p->links);
    wbuf_release(&p->status);
}

static int pend_grow(struct flusher *f)
{
    size_t ncap = f->pend_cap ? f->pend_cap * 2 : 256;
    struct pending *np = calloc(ncap, sizeof *np);
    if (!np)
        return TT_ENOMEM;
    for (size_t j = 0; j < f->pend_cap; j++) {
        if (!f->pend[j].span_id)
            continue;
        size_t i = hash64(f->pend[j].span_id) & (ncap - 1);
        while (np[i].span_id)
            i = (i + 1) & (ncap - 1);
        np[i] = f->pend[j];
    }
    free(f->pend);
    f->pend = np;
    f->pend_cap = ncap;
    return 0;
}

static struct pending *pend_get(struct flusher *f, uint64_t id, int64_t now_ns)
{
    struct pending *p = pend_find(f, id);
    if (p)
        return p;
    if ((f->pend_n + 1) * 2 > f->pend_cap && pend_grow(f) != 0)
        return NULL;
    size_t mask = f->pend_cap - 1;
    size_t i = hash64(id) & mask;
    while (f->pend[i].span_id)
        i = (i + 1) & mask;
    p = &f->pend[i];
    memset(p, 0, sizeof *p);
    p->span_id = id;
    p->touched_ns = now_ns;
    wbuf_init(&p->attrs, REC_MAX_LEN / 4);
    wbuf_init(&p->events, REC_MAX_LEN / 4);
    wbuf_init(&p->links, REC_MAX_LEN / 4);
    wbuf_init(&p->status, 4096);
    f->pend_n++;
    return p;
}

static void pend_remove(struct flusher *f, struct pending *p)
{
    size_t mask = f->pend_cap - 1;
    size_t i = (size_t)(p - f->pend);
    pend_free_bufs(p);
    f->pend[i].span_id = 0;
    f->pend_n--;
    /* Shift later members of the probe chain back into the hole. */
    for (size_t j = (i + 1) & mask; f->pend[j].span_id; j = (j + 1) & mask) {
        size_t home = hash64(f->pend[j].span_id) & mask;
        int movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            f->pend[i] = f->pend[j];
            f->pend[j].span_id = 0;
            i = j;
        }
    }
}

/* ---- batches ------------------------------------------------------------ */

/* The batch is built in place: f->body always starts with a reserved header
 * (batch_begin), records are appended after it, and batch_finish fills the
 * header and appends the CRC, so the body is never copied. */
static void begin_batch(struct tt_ctx *ctx, struct flusher *f)
{
    wbuf_reset(&f->body);
    f->body_start = batch_begin(&f->body, ctx->origin_len);
    f->count = 0;
    f->hlc_min = f->hlc_max = 0;
}

static size_t body_bytes(const struct flusher *f)
{
    return f->body.len - f->body_start - BATCH_FIXED_LEN - f->origin_len;
}

static void write_batch(struct tt_ctx *ctx, struct flusher *f)
{
    if (f->count == 0)
        return;
    struct batch_hdr h = { 0 };
    h.version = BATCH_VERSION;
    h.compression = BATCH_COMP_NONE;
    h.count = f->count;
    h.origin_id = ctx->origin_id;
    h.first_seq = ctx->next_seq;
    h.hlc_min = f->hlc_min;
    h.hlc_max = f->hlc_max;
    h.raw_len = (uint32_t)body_bytes(f);
    h.origin = ctx->origin;
    h.origin_len = ctx->origin_len;
    int rc = f->body.err ? f->body.err : batch_finish(&f->body, f->body_start, &h);
    if (rc == 0)
        rc = spool_append(&ctx->spool, f->body.data + f->body_start, f->body.len - f->body_start,
                          h.first_seq, h.count);
    if (rc == 0) {
        TT_CSTAT_ADD(ctx, records_flushed, f->count);
        TT_CSTAT_ADD(ctx, batches_written, 1);
        TT_CSTAT_ADD(ctx, bytes_written, f->body.len - f->body_start);
    } else {
        TT_CSTAT_ADD(ctx, write_errors, 1);
        f->write_failed = 1;
    }
    /* Sequence numbers are never reused, so a failed batch shows as a gap. */
    ctx->next_seq += f->count;
    begin_batch(ctx, f);
}

/* Count n records just appended to the body, stamped up to hlc, and cut the
 * batch when it is big enough. */
static void added_n(struct tt_ctx *ctx, struct flusher *f, tt_hlc hlc, uint32_t n)
{
    if (n == 0)
        return;
    if (f->count == 0 || hlc < f->hlc_min)
        f->hlc_min = hlc;
    if (hlc > f->hlc_max)
        f->hlc_max = hlc;
    f->count += n;
    if (body_bytes(f) >= BATCH_TARGET_BYTES)
        write_batch(ctx, f);
}

static void added(struct tt_ctx *ctx, struct flusher *f, tt_hlc hlc, int rc)
{
    if (rc != 0) {
        TT_CSTAT_ADD(ctx, write_errors, 1);
        return;
    }
    added_n(ctx, f, hlc, 1);
}

/* Convert an entry kv list into an encoded record list in b. */
static const uint8_t *kvs_to_list(const uint8_t *p, const uint8_t *end, struct wbuf *b,
                                  uint32_t *count)
{
    uint32_t n;
    if (!p || end - p < 4)
        return NULL;
    memcpy(&n, p, 4);
    p += 4;
    for (uint32_t i = 0; i < n && p; i++) {
        struct entry_str k;
        struct rec_value v;
        p = entry_get_str(p, end, &k);
        p = entry_get_value(p, end, &v);
        if (p)
            rec_kv_put(b, k.p, k.len, &v);
    }
    *count = p ? n : 0;
    return p;
}

/* ---- spans ---------------------------------------------------------------- */

static uint32_t span_extras(const struct e_span *e)
{
    if (!(e->h.c & E_SPAN_HAS_EXTRAS))
        return 0;
    size_t room = e->h.len - sizeof *e;
    size_t nl = strnlen(e->name, room);
    uint32_t n = 0;
    if (nl + 1 + 4 <= room)
        memcpy(&n, e->name + nl + 1, 4);
    return n;
}

static void emit_span(struct tt_ctx *ctx, struct flusher *f, const struct e_span *e,
                      struct pending *p)
{
    struct rec_span s;
    memset(&s, 0, sizeof s);
    memcpy(s.trace_id, e->trace_id, 16);
    s.span_id = e->span_id;
    s.parent_id = e->parent_id;
    s.duration_ns = e->end_ns > e->start_ns ? (uint64_t)(e->end_ns - e->start_ns) : 0;
    s.kind = e->h.a;
    s.status = e->h.b;
    s.flags = e->h.c & TT_FLAG_SAMPLED;
    s.name.p = e->name;
    s.name.len = (uint32_t)strnlen(e->name, e->h.len - sizeof *e);
    if (p) {
        s.attrs = (struct rec_list){ p->nattrs, p->attrs.data, (uint32_t)p->attrs.len };
        s.events = (struct rec_list){ p->nevents, p->events.data, (uint32_t)p->events.len };
        s.links = (struct rec_list){ p->nlinks, p->links.data, (uint32_t)p->links.len };
        s.status_message.p = (const char *)p->status.data;
        s.status_message.len = (uint32_t)p->status.len;
    }
    added(ctx, f, e->hlc, rec_put_span(&f->body, e->hlc, e->start_ns, &s));
    if (p)
        pend_remove(f, p);
}

/* Returns 1 when the span was written, 0 when it must wait for extras. */
static int try_span(struct tt_ctx *ctx, struct flusher *f, const struct e_span *e, int force)
{
    uint32_t want = span_extras(e);
    struct pending *p = want ? pend_find(f, e->span_id) : NULL;
    if (want && !force && (!p || p->n < want))
        return 0;
    emit_span(ctx, f, e, p);
    return 1;
}

static void defer_span(struct flusher *f, const struct e_span *e)
{
    if (f->defer_n == f->defer_cap) {
        size_t ncap = f->defer_cap ? f->defer_cap * 2 : 64;
        struct deferred *nd = realloc(f->defer, ncap * sizeof *nd);
        if (!nd)
            return;
        f->defer = nd;
        f->defer_cap = ncap;
    }
    struct e_span *copy = malloc(e->h.len);
    if (!copy)
        return;
    memcpy(copy, e, e->h.len);
    f->defer[f->defer_n++] = (struct deferred){ copy, span_extras(e), 0 };
}

static void run_deferred(struct tt_ctx *ctx, struct flusher *f, int force)
{
    size_t keep = 0;
    for (size_t i = 0; i < f->defer_n; i++) {
        struct deferred *d = &f->defer[i];
        if (try_span(ctx, f, d->span, force || ++d->age > DEFER_CYCLES)) {
            free(d->span);
        } else {
            f->defer[keep++] = *d;
        }
    }
    f->defer_n = keep;
}

/* After appending one entry to a list: 1 if the list took it whole, else 0
 * with the partial entry cut off (a list at its size limit keeps the entries
 * before, and its count stays consistent with its bytes). */
static uint32_t list_took(struct wbuf *b, size_t before)
{
    if (b->err == 0)
        return 1;
    b->len = before;
    return 0;
}

static void take_extra(struct flusher *f, const struct e_extra *e, int64_t now_ns)
{
    if (e->h.tag == E_DISCARD) {
        struct pending *p = pend_find(f, e->span_id);
        if (p)
            pend_remove(f, p);
        return;
    }
    struct pending *p = pend_get(f, e->span_id, now_ns);
    if (!p)
        return;
    const uint8_t *b = e->body, *end = (const uint8_t *)e + e->h.len;
    p->n++;
    p->touched_ns = now_ns;
    switch (e->h.tag) {
    case E_ATTR: {
        struct entry_str k;
        struct rec_value v;
        b = entry_get_str(b, end, &k);
        if (entry_get_value(b, end, &v)) {
            size_t before = p->attrs.len;
            rec_kv_put(&p->attrs, k.p, k.len, &v);
            p->nattrs += list_took(&p->attrs, before);
        }
        break;
    }
    case E_SPAN_EVENT: {
        struct entry_str name;
        uint32_t n = 0;
        b = entry_get_str(b, end, &name);
        wbuf_reset(&f->scratch);
        if (kvs_to_list(b, end, &f->scratch, &n)) {
            struct rec_list l = { n, f->scratch.data, (uint32_t)f->scratch.len };
            size_t before = p->events.len;
            rec_span_event_put(&p->events, e->time_ns, name.p, name.len, &l);
            p->nevents += list_took(&p->events, before);
        }
        break;
    }
    case E_LINK: {
        uint32_t n = 0;
        wbuf_reset(&f->scratch);
        if (kvs_to_list(b, end, &f->scratch, &n)) {
            struct rec_list l = { n, f->scratch.data, (uint32_t)f->scratch.len };
            size_t before = p->links.len;
            rec_span_link_put(&p->links, e->link_trace, e->link_span, e->h.a, &l);
            p->nlinks += list_took(&p->links, before);
        }
        break;
    }
    case E_STATUS_MSG: {
        struct entry_str m;
        if (entry_get_str(b, end, &m)) {
            wbuf_reset(&p->status);
            wbuf_put(&p->status, m.p, m.len);
        }
        break;
    }
    default:
        break;
    }
}

/* ---- events ------------------------------------------------------------- */

static void emit_event(struct tt_ctx *ctx, struct flusher *f, const struct e_event *e)
{
    const uint8_t *b = e->body, *end = (const uint8_t *)e + e->h.len;
    struct entry_str name, msg;
    uint32_t n = 0;
    b = entry_get_str(b, end, &name);
    b = entry_get_str(b, end, &msg);
    wbuf_reset(&f->scratch);
    if (!kvs_to_list(b, end, &f->scratch, &n))
        return;
    struct rec_event ev;
    memset(&ev, 0, sizeof ev);
    ev.severity = e->h.a;
    ev.component.p = ctx->cfg.service;
    ev.component.len = (uint32_t)strlen(ctx->cfg.service);
    ev.name = (struct rec_str){ name.p, name.len };
    ev.message = (struct rec_str){ msg.p, msg.len };
    ev.attrs = (struct rec_list){ n, f->scratch.data, (uint32_t)f->scratch.len };
    added(ctx, f, e->hlc, rec_put_event(&f->body, e->hlc, e->time_ns, &ev));
}

/* An event the library itself raises (losses). */
static void emit_own_event(struct tt_ctx *ctx, struct flusher *f, tt_severity sev, const char *name,
                           const char *msg, const tt_kv *kvs, size_t n)
{
    int64_t now = clock_realtime_ns();
    tt_hlc hlc = hlc_now_pt(&ctx->hlc, (uint64_t)now / (uint64_t)TT_NS_PER_MS);
    wbuf_reset(&f->scratch);
    for (size_t i = 0; i < n; i++) {
        struct rec_value v = { .type = TT_VAL_INT };
        v.u.i = kvs[i].value.u.i;
        rec_kv_put(&f->scratch, kvs[i].key, strlen(kvs[i].key), &v);
    }
    struct rec_event ev;
    memset(&ev, 0, sizeof ev);
    ev.severity = (uint8_t)sev;
    ev.component = (struct rec_str){ "telltale", 8 };
    ev.name = (struct rec_str){ name, (uint32_t)strlen(name) };
    ev.message = (struct rec_str){ msg, (uint32_t)strlen(msg) };
    ev.attrs = (struct rec_list){ (uint32_t)n, f->scratch.data, (uint32_t)f->scratch.len };
    added(ctx, f, hlc, rec_put_event(&f->body, hlc, now, &ev));
}

static void report_losses(struct tt_ctx *ctx, struct flusher *f)
{
    uint64_t recs = 0, segs = 0;
    spool_take_losses(&ctx->spool, &recs, &segs);
    if (recs || segs) {
        TT_CSTAT_ADD(ctx, records_dropped_spool, recs);
        TT_CSTAT_ADD(ctx, segments_dropped, segs);
        char msg[160];
        snprintf(msg, sizeof msg,
                 "spool size cap reached: deleted %llu unshipped segments holding %llu records",
                 (unsigned long long)segs, (unsigned long long)recs);
        tt_kv kvs[2] = { TT_INT("records", (int64_t)recs), TT_INT("segments", (int64_t)segs) };
        emit_own_event(ctx, f, TT_SEV_WARNING, "telltale.spool.dropped", msg, kvs, 2);
    }
    uint64_t full = atomic_load(&ctx->counters.records_dropped_full);
    for (size_t i = 0; i < f->threads_cap && f->threads[i]; i++)
        full +=
            atomic_load_explicit(&f->threads[i]->stats.records_dropped_full, memory_order_relaxed);
    if (full > f->reported_full) {
        uint64_t d = full - f->reported_full;
        char msg[160];
        snprintf(msg, sizeof msg, "thread buffers full: dropped %llu records",
                 (unsigned long long)d);
        tt_kv kvs[1] = { TT_INT("records", (int64_t)d) };
        emit_own_event(ctx, f, TT_SEV_WARNING, "telltale.buffer.dropped", msg, kvs, 1);
        f->reported_full = full;
    }
}

/* ---- state changes -------------------------------------------------------- */

static uint64_t key_hash(const char *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void val_free(struct state_val *v)
{
    free(v->str);
    v->str = NULL;
}

static int vars_grow(struct flusher *f)
{
    size_t ncap = f->vars_cap ? f->vars_cap * 2 : 64;
    struct state_var *nv = calloc(ncap, sizeof *nv);
    if (!nv)
        return TT_ENOMEM;
    for (size_t j = 0; j < f->vars_cap; j++) {
        if (!f->vars[j].key)
            continue;
        size_t i = key_hash(f->vars[j].key, f->vars[j].keylen) & (ncap - 1);
        while (nv[i].key)
            i = (i + 1) & (ncap - 1);
        nv[i] = f->vars[j];
    }
    free(f->vars);
    f->vars = nv;
    f->vars_cap = ncap;
    return 0;
}

static struct state_var *var_get(struct flusher *f, const struct entry_str *log,
                                 const struct entry_str *var)
{
    char key[1024];
    size_t n = (size_t)log->len + 1 + var->len;
    if (n > sizeof key)
        return NULL;
    memcpy(key, log->p, log->len);
    key[log->len] = 0;
    memcpy(key + log->len + 1, var->p, var->len);
    if ((f->vars_n + 1) * 2 > f->vars_cap && vars_grow(f) != 0)
        return NULL;
    size_t mask = f->vars_cap - 1;
    size_t i = key_hash(key, n) & mask;
    for (; f->vars[i].key; i = (i + 1) & mask)
        if (f->vars[i].keylen == n && memcmp(f->vars[i].key, key, n) == 0)
            return &f->vars[i];
    char *k = malloc(n);
    if (!k)
        return NULL;
    memcpy(k, key, n);
    f->vars[i].key = k;
    f->vars[i].keylen = n;
    f->vars[i].n = 0;
    f->vars_n++;
    return &f->vars[i];
}

static int item_cmp(const void *a, const void *b)
{
    tt_hlc x = ((const struct state_item *)a)->e->hlc, y = ((const struct state_item *)b)->e->hlc;
    return x < y ? -1 : x > y;
}

static void collect_state(struct flusher *f, const struct e_state *e)
{
    if (f->items_n == f->items_cap) {
        size_t ncap = f->items_cap ? f->items_cap * 2 : 256;
        struct state_item *ni = realloc(f->items, ncap * sizeof *ni);
        if (!ni)
            return;
        f->items = ni;
        f->items_cap = ncap;
    }
    struct state_item *it = &f->items[f->items_n];
    const uint8_t *b = e->body, *end = (const uint8_t *)e + e->h.len;
    b = entry_get_str(b, end, &it->log);
    b = entry_get_str(b, end, &it->var);
    if (!entry_get_value(b, end, &it->value))
        return;
    it->e = e;
    f->items_n++;
}

/* Record v as a change of var at hlc; *prev gets the value it replaced, its
 * string (if any) copied into prevbuf first, since keeping the history
 * bounded may free the entry it came from. */
static void var_record(struct state_var *sv, tt_hlc hlc, const struct rec_value *v,
                       struct rec_value *prev, struct wbuf *prevbuf)
{
    int pos = sv->n; /* insert position, keeping hist sorted by hlc */
    while (pos > 0 && sv->hist[pos - 1].hlc > hlc)
        pos--;
    prev->type = TT_VAL_NONE;
    if (pos > 0) {
        *prev = sv->hist[pos - 1].v;
        if (prev->type == TT_VAL_STR) {
            wbuf_reset(prevbuf);
            wbuf_put(prevbuf, prev->u.s.p, prev->u.s.len);
            prev->u.s.p = (const char *)prevbuf->data;
            if (prevbuf->err)
                prev->u.s.len = 0;
        }
    }
    struct state_val nv = { hlc, *v, NULL };
    if (v->type == TT_VAL_STR) {
        nv.str = malloc(v->u.s.len ? v->u.s.len : 1);
        if (nv.str && v->u.s.len)
            memcpy(nv.str, v->u.s.p, v->u.s.len);
        nv.v.u.s.p = nv.str;
        if (!nv.str)
            nv.v.u.s.len = 0; /* remembered as "" when out of memory */
    }
    if (sv->n == STATE_HISTORY) {
        if (pos == 0) { /* older than all we remember: not kept */
            free(nv.str);
            return;
        }
        val_free(&sv->hist[0]);
        memmove(&sv->hist[0], &sv->hist[1], (STATE_HISTORY - 1) * sizeof sv->hist[0]);
        sv->n--;
        pos--;
    }
    memmove(&sv->hist[pos + 1], &sv->hist[pos], (size_t)(sv->n - pos) * sizeof sv->hist[0]);
    sv->hist[pos] = nv;
    sv->n++;
}

static void emit_states(struct tt_ctx *ctx, struct flusher *f)
{
    if (f->items_n == 0)
        return;
    qsort(f->items, f->items_n, sizeof f->items[0], item_cmp);
    for (size_t i = 0; i < f->items_n; i++) {
        struct state_item *it = &f->items[i];
        struct rec_state st;
        memset(&st, 0, sizeof st);
        st.log = (struct rec_str){ it->log.p, it->log.len };
        st.var = (struct rec_str){ it->var.p, it->var.len };
        st.value = it->value;
        struct state_var *sv = var_get(f, &it->log, &it->var);
        if (sv)
            var_record(sv, it->e->hlc, &it->value, &st.prev, &f->prevbuf);
        added(ctx, f, it->e->hlc, rec_put_state(&f->body, it->e->hlc, it->e->time_ns, &st));
    }
    f->items_n = 0;
}

/* ---- the cycle ------------------------------------------------------------ */

static size_t snapshot_threads(struct tt_ctx *ctx, struct flusher *f)
{
    size_t n = 0;
    pthread_mutex_lock(&ctx->threads_lock);
    for (struct tt_thread *t = ctx->threads; t; t = t->next)
        n++;
    if (n + 1 > f->threads_cap) {
        size_t ncap = (n + 1) * 2;
        struct tt_thread **nt = realloc(f->threads, ncap * sizeof *nt);
        uint64_t *nh = realloc(f->heads, ncap * sizeof *nh);
        if (nt)
            f->threads = nt;
        if (nh)
            f->heads = nh;
        if (!nt || !nh) {
            pthread_mutex_unlock(&ctx->threads_lock);
            return 0;
        }
        f->threads_cap = ncap;
    }
    size_t i = 0;
    for (struct tt_thread *t = ctx->threads; t; t = t->next) {
        f->threads[i] = t;
        /* exited is read before head: a thread that exited has committed
         * all its entries, so draining to this head empties it. */
        (void)atomic_load_explicit(&t->exited, memory_order_acquire);
        f->heads[i] = atomic_load_explicit(&t->ring.head, memory_order_acquire);
        i++;
    }
    f->threads[i] = NULL;
    pthread_mutex_unlock(&ctx->threads_lock);
    return n;
}

static void drain_ring(struct tt_ctx *ctx, struct flusher *f, struct tt_thread *t, uint64_t head,
                       int64_t now_ns)
{
    struct ring *r = &t->ring;
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    struct ring_entry *e;
    while ((e = ring_peek(r, pos, head)) != NULL) {
        switch (e->tag) {
        case E_SPAN:
            if (!try_span(ctx, f, (const struct e_span *)e, 0))
                defer_span(f, (const struct e_span *)e);
            break;
        case E_ATTR:
        case E_SPAN_EVENT:
        case E_LINK:
        case E_STATUS_MSG:
        case E_DISCARD:
            take_extra(f, (const struct e_extra *)e, now_ns);
            break;
        case E_EVENT:
            emit_event(ctx, f, (const struct e_event *)e);
            break;
        case E_STATE:
            collect_state(f, (const struct e_state *)e);
            break;
        default:
            break;
        }
        pos += e->len;
    }
}

/* Free threads that exited and were drained; fold their counters in. The
 * threads are unlinked under threads_lock and released after it, since
 * releasing takes the metrics lock (which comes before threads_lock). */
static void reap_exited(struct tt_ctx *ctx)
{
    struct tt_thread *dead = NULL;
    pthread_mutex_lock(&ctx->threads_lock);
    struct tt_thread **pp = &ctx->threads;
    while (*pp) {
        struct tt_thread *t = *pp;
        if (atomic_load_explicit(&t->exited, memory_order_acquire) &&
            atomic_load(&t->ring.tail) == atomic_load(&t->ring.head)) {
            *pp = t->next;
            t->next = dead;
            dead = t;
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&ctx->threads_lock);
    while (dead) {
        struct tt_thread *t = dead;
        dead = t->next;
#define FOLD(fld) TT_CSTAT_ADD(ctx, fld, atomic_load_explicit(&t->stats.fld, memory_order_relaxed))
        FOLD(spans_recorded);
        FOLD(spans_unsampled);
        FOLD(spans_filtered);
        FOLD(records_buffered);
        FOLD(records_dropped_full);
#undef FOLD
        metrics_thread_release(&ctx->metrics, &t->metrics);
        ring_release(&t->ring);
        free(t);
    }
}

static void age_pending(struct flusher *f, int64_t now_ns)
{
    for (size_t i = 0; i < f->pend_cap; i++) {
        if (f->pend[i].span_id && now_ns - f->pend[i].touched_ns > PENDING_MAX_AGE_NS) {
            pend_remove(f, &f->pend[i]);
            i--; /* the slot may hold a shifted entry now */
        }
    }
}

static void cycle(struct tt_ctx *ctx, struct flusher *f, int metrics_due, int final)
{
    int64_t now = clock_realtime_ns();
    size_t n = snapshot_threads(ctx, f);
    for (size_t i = 0; i < n; i++)
        drain_ring(ctx, f, f->threads[i], f->heads[i], now);
    run_deferred(ctx, f, final);
    emit_states(ctx, f);
    /* Entries are consumed (states were the last to point into rings). */
    for (size_t i = 0; i < n; i++)
        ring_release_to(&f->threads[i]->ring, f->heads[i]);
    if (metrics_due) {
        tt_hlc hlc = hlc_now_pt(&ctx->hlc, (uint64_t)now / (uint64_t)TT_NS_PER_MS);
        int got = metrics_flush(&ctx->metrics, f->threads, n, &f->body, hlc, now);
        if (got > 0)
            added_n(ctx, f, hlc, (uint32_t)got);
    }
    report_losses(ctx, f);
    write_batch(ctx, f);
    if (ctx->cfg.fsync_segments)
        spool_sync(&ctx->spool);
    age_pending(f, now);
    reap_exited(ctx);
    TT_CSTAT_ADD(ctx, flushes, 1);
}

static int rings_need_drain(struct tt_ctx *ctx)
{
    int need = 0;
    pthread_mutex_lock(&ctx->threads_lock);
    for (struct tt_thread *t = ctx->threads; t && !need; t = t->next) {
        uint64_t used = atomic_load_explicit(&t->ring.head, memory_order_relaxed) -
                        atomic_load_explicit(&t->ring.tail, memory_order_relaxed);
        need = used > t->ring.size / 4 || atomic_load_explicit(&t->exited, memory_order_relaxed);
    }
    pthread_mutex_unlock(&ctx->threads_lock);
    return need;
}

static void *flusher_main(void *arg)
{
    struct tt_ctx *ctx = arg;
    struct flusher *f = ctx->flush_impl;
    int64_t interval = (int64_t)ctx->cfg.flush_interval_ms * TT_NS_PER_MS;
    int64_t next_due = clock_monotonic_ns() + interval;
    pthread_mutex_lock(&ctx->flush_lock);
    for (;;) {
        int64_t now = clock_monotonic_ns();
        int asked = ctx->flush_requests != ctx->flush_done;
        int final = ctx->stopping;
        if (!final && !asked && now < next_due && !rings_need_drain(ctx)) {
            int64_t wait = next_due - now;
            if (wait > TICK_MS * TT_NS_PER_MS)
                wait = TICK_MS * TT_NS_PER_MS;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t until = (int64_t)ts.tv_sec * TT_NS_PER_S + ts.tv_nsec + wait;
            ts.tv_sec = until / TT_NS_PER_S;
            ts.tv_nsec = until % TT_NS_PER_S;
            pthread_cond_timedwait(&ctx->flush_cond, &ctx->flush_lock, &ts);
            continue;
        }
        uint64_t req = ctx->flush_requests;
        int timed = now >= next_due;
        if (timed)
            next_due = now + interval;
        f->write_failed = 0;
        cycle(ctx, f, timed || asked || final, final);
        ctx->flush_done = req;
        pthread_cond_broadcast(&ctx->flushed_cond);
        if (final)
            break;
    }
    pthread_mutex_unlock(&ctx->flush_lock);
    return NULL;
}

static void flusher_free(struct flusher *f)
{
    if (!f)
        return;
    wbuf_release(&f->body);
    wbuf_release(&f->scratch);
    wbuf_release(&f->prevbuf);
    for (size_t i = 0; i < f->pend_cap; i++)
        if (f->pend[i].span_id)
            pend_free_bufs(&f->pend[i]);
    free(f->pend);
    for (size_t i = 0; i < f->defer_n; i++)
        free(f->defer[i].span);
    free(f->defer);
    for (size_t i = 0; i < f->vars_cap; i++) {
        if (!f->vars[i].key)
            continue;
        for (int j = 0; j < f->vars[i].n; j++)
            val_free(&f->vars[i].hist[j]);
        free(f->vars[i].key);
    }
    free(f->vars);
    free(f->items);
    free(f->threads);
    free(f->heads);
    free(f);
}

int tt_flush_start(struct tt_ctx *ctx)
{
    struct flusher *f = calloc(1, sizeof *f);
    if (!f)
        return TT_ENOMEM;
    wbuf_init(&f->body, BATCH_MAX_RAW);
    f->origin_len = ctx->origin_len;
    begin_batch(ctx, f);
    wbuf_init(&f->scratch, REC_MAX_LEN);
    wbuf_init(&f->prevbuf, REC_MAX_LEN);
    ctx->flush_impl = f;
    ctx->stopping = 0;
    ctx->flush_requests = ctx->flush_done = 0;
    if (pthread_create(&ctx->flusher, NULL, flusher_main, ctx) != 0) {
        flusher_free(f);
        ctx->flush_impl = NULL;
        return TT_ESYS;
    }
    ctx->flusher_running = 1;
    return 0;
}

void tt_flush_stop(struct tt_ctx *ctx)
{
    if (!ctx->flusher_running)
        return;
    pthread_mutex_lock(&ctx->flush_lock);
    ctx->stopping = 1;
    pthread_cond_signal(&ctx->flush_cond);
    pthread_mutex_unlock(&ctx->flush_lock);
    pthread_join(ctx->flusher, NULL);
    ctx->flusher_running = 0;
    flusher_free(ctx->flush_impl);
    ctx->flush_impl = NULL;
}

void tt_flush_wake(struct tt_ctx *ctx)
{
    pthread_mutex_lock(&ctx->flush_lock);
    pthread_cond_signal(&ctx->flush_cond);
    pthread_mutex_unlock(&ctx->flush_lock);
}

int tt_flush_wait(struct tt_ctx *ctx)
{
    pthread_mutex_lock(&ctx->flush_lock);
    if (!ctx->flusher_running || ctx->stopping) {
        pthread_mutex_unlock(&ctx->flush_lock);
        return TT_ESTATE;
    }
    uint64_t req = ++ctx->flush_requests;
    pthread_cond_signal(&ctx->flush_cond);
    while (ctx->flush_done < req)
        pthread_cond_wait(&ctx->flushed_cond, &ctx->flush_lock);
    int failed = ((struct flusher *)ctx->flush_impl)->write_failed;
    pthread_mutex_unlock(&ctx->flush_lock);
    return failed ? TT_EIO : 0;
}

void tt_flush_forget(struct tt_ctx *ctx)
{
    flusher_free(ctx->flush_impl);
    ctx->flush_impl = NULL;
    ctx->flusher_running = 0;
}
