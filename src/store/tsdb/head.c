/*
 * head.c - the TSDB head: series table, per-series chunks, out-of-order
 * buffers, appenders (WAL first, then memory), queriers with per-series
 * snapshots, WAL replay and truncation with checkpoints.
 *
 * Invariants kept here (see head.h for the contract):
 *  - A series struct is created once per index id, published with a release
 *    store into the series table and never freed before head_close.
 *  - Every field of a series but `logged` (atomic) is guarded by the stripe
 *    mutex of its id; nothing else is held while it is.
 *  - Per series: sealed chunks are in time order and do not overlap; the open
 *    head chunk follows them; out-of-order samples are sorted, unique, newer
 *    than nothing in particular but never equal to a chunk sample, and all
 *    older than max_t (the newest sample ever appended, kept after
 *    truncation so the out-of-order window stays anchored).
 *  - A series is `logged` only once a WAL append holding its series record
 *    has been made durable; samples are applied only after that, and only
 *    while the commit holds commit_rw shared, so the checkpoint barrier
 *    (commit_rw taken exclusively once the checkpoint's segment is closed)
 *    sees every series and sample of the segments it replaces.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "telltale.h"
#include "core/buf.h"
#include "core/record.h"
#include "store/tsdb/chunk.h"
#include "store/tsdb/head.h"
#include "core/tvpair.h"
#include "store/tsdb/sealed_codec.h"
#include "core/errmsg.h"

#define NSTRIPES   4096u
#define PAGE_BITS  16
#define PAGE_SLOTS (1u << PAGE_BITS)
#define NPAGES     (1u << 14) /* 2^30 series */
#define OOO_CAP    32         /* out-of-order samples kept before a merge */
#define SENT_HDR   16         /* sealed entry: min_t i64, span u32, len u32 */
/* A seal merges into the range's last sealed chunk (decoding and encoding it
 * again) only while the result stays at or below this many samples: without
 * a cap, a 1 s series re-encodes up to 7,200 samples every 120 (30 times
 * the work of encoding each sample once); 1,024 keeps the per-chunk headers
 * below 0.05 byte a sample and the re-encoding under 5 times. */
#define SEAL_MERGE_MAX 1024
#define SNAP_HDR       21 /* snapshot entry: kind u8, min i64, max i64, len u32 */
#define HBUF_ROOM      32 /* chunk.c's zeroed slack; one sample (<= 19 bytes) writes within it */
/* The head chunk buffer starts with room for the header, the slack and one
 * step, and grows by HBUF_STEP (or 1/8 when larger): a few dozen bytes of
 * slack a series rather than up to half the buffer. Sizes are 16 k + 8, what
 * glibc's malloc hands out without rounding. */
#define HBUF_STEP  32
#define HBUF_START (CHUNK_HDR_BYTES + HBUF_ROOM + HBUF_STEP)

enum { APP_DUP = 1 }; /* series_append: an exact duplicate, dropped */

struct head_sample {
    int64_t t;
    uint64_t bits;
};

/* One series (104 bytes: memory per series at millions of series is this
 * struct, its chunks and its index entry). The open head chunk is kept as
 * its bytes plus the appender state of chunk.c in compact form (hopen ..
 * hsig): app_load/app_store turn them into a struct chunk_app and back
 * around an append. Fields are 32-bit where bounded: a chunk spans less
 * than HEAD_MAX_CHUNK_RANGE_MS < 2^31 ms, so a timestamp delta inside it
 * fits; its bytes are bounded by chunk_samples * 20 + the header. */
struct memseries {
    uint64_t ref; /* WAL ref */
    uint32_t id;  /* index id; the public head_ref is id + 1 */
    atomic_uchar logged;
    uint8_t ooo_n, ooo_cap;
    uint8_t hopen; /* a head chunk is open (hdata holds it) */
    uint32_t nsealed;
    uint32_t sealed_len;
    int64_t min_t, max_t; /* min of data in memory (INT64_MAX: none); newest ever */
    uint64_t last_bits;   /* value bits of the sample at max_t */
    uint8_t *sealed;      /* nsealed entries: header + sealed chunk */
    struct head_sample *ooo;
    uint8_t *hdata;  /* the open head chunk's buffer (hcap bytes) */
    uint32_t hcap;   /* bytes allocated at hdata */
    uint32_t hbits;  /* payload bits of the head chunk */
    int64_t ht;      /* its last timestamp */
    uint64_t href;   /* its XOR reference value bits */
    uint32_t hdelta; /* its last timestamp delta */
    uint16_t hcount; /* its samples */
    uint8_t hlead;   /* its XOR window */
    uint8_t hsig;
};

struct page {
    _Atomic(struct memseries *) s[PAGE_SLOTS];
};

/* Series structs are carved from slabs (no malloc header or rounding per
 * series); slabs are freed by head_close only, as series are. */
#define SLAB_SERIES 1024
struct slab {
    struct slab *next;
    struct memseries s[SLAB_SERIES];
};

/* Scratch memory of one thread applying samples (an appender, the replay,
 * a truncation), plus memory and chunk count deltas it has not published. */
struct scratch {
    struct sealed_ctx sc;
    struct wbuf enc;
    int64_t *ts, *mt, *pt; /* decode, merge, seal */
    double *vs, *mv, *pv;
    size_t cap, mcap, pcap;
    int64_t d_bytes, d_chunks;
};

struct refmap {
    uint64_t *keys; /* ref + 1; 0 empty */
    struct memseries **vals;
    size_t cap, n;
};

struct head {
    struct head_options o;
    struct index *idx;
    struct wal *wal;
    pthread_mutex_t stripes[NSTRIPES];
    pthread_mutex_t series_mu; /* creation of series, next_ref, slabs */
    struct slab *slabs;        /* newest first; the first has slab_used taken */
    uint32_t slab_used;
    pthread_mutex_t trunc_mu;
    pthread_rwlock_t commit_rw;
    uint64_t next_ref;
    struct scratch rx; /* replay */
    struct refmap rmap;
    struct labels rlabels;
    struct wbuf rstr;
    struct head_replay_stats *rs;
    _Atomic(struct page *) pages[NPAGES];
    atomic_uint_fast64_t samples, ooo_ok, ooo_rej, dups, conflicts, commits, rollbacks;
    atomic_int_fast64_t chunks, chunk_bytes, series_bytes;
    atomic_int_fast64_t min_t, max_t;
    atomic_int_fast64_t min_valid; /* samples older are refused (head_set_min_valid) */
};

struct head_appender {
    struct head *h;
    struct scratch x;
    struct memseries **ser;
    struct rec_sample *smp;
    size_t n, cap;
    struct memseries **news; /* series this batch must declare to the WAL */
    size_t nnews, capnews;
    uint32_t *newset; /* open addressing over ids + 1 */
    size_t newset_cap;
    uint64_t dups;
    struct labels tmp, norm;
    struct rec_label *rl;
    size_t nrl, caprl;
    struct wal_series *ws;
    size_t capws;
    /* The series of the last add() that checked in order (t > max_t) and
     * its time: a later add of that series with a newer time passes the
     * same check without taking the stripe lock (it is the check made at
     * that earlier add; commit handles what changed since, see head.h). */
    struct memseries *last_s;
    int64_t last_t;
    /* origin marks written with the next commit (head_appender_set_origin) */
    struct wal_origin *orig;
    size_t norig, caporig;
};

/* ---- small helpers ----------------------------------------------------------------- */

/* The exclusive end of the aligned chunk range holding t. */
static int64_t range_end(const struct head *h, int64_t t)
{
    int64_t k = tt_floor_div(t, h->o.chunk_range_ms);
    if (k >= INT64_MAX / h->o.chunk_range_ms - 1)
        return INT64_MAX;
    return (k + 1) * h->o.chunk_range_ms;
}

static pthread_mutex_t *stripe(struct head *h, const struct memseries *s)
{
    return &h->stripes[s->id & (NSTRIPES - 1)];
}

static struct memseries *get_series(struct head *h, uint32_t id)
{
    struct page *p = atomic_load_explicit(&h->pages[id >> PAGE_BITS], memory_order_acquire);
    if (p == NULL)
        return NULL;
    return atomic_load_explicit(&p->s[id & (PAGE_SLOTS - 1)], memory_order_acquire);
}

static void atomic_min64(atomic_int_fast64_t *a, int64_t v)
{
    int_fast64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v < cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static void atomic_max64(atomic_int_fast64_t *a, int64_t v)
{
    int_fast64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static int grow_arr(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (q == NULL)
        return TT_ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

static void scratch_init(struct scratch *x)
{
    memset(x, 0, sizeof *x);
    sealed_ctx_init(&x->sc, 0);
    wbuf_init(&x->enc, 0);
}

static void scratch_release(struct scratch *x)
{
    sealed_ctx_release(&x->sc);
    wbuf_release(&x->enc);
    free(x->ts);
    free(x->vs);
    free(x->mt);
    free(x->mv);
    free(x->pt);
    free(x->pv);
    memset(x, 0, sizeof *x);
}

static int scratch_dec(struct scratch *x, size_t n)
{
    return tvpair_grow(&x->ts, &x->vs, &x->cap, n, 256);
}

static int scratch_merge(struct scratch *x, size_t n)
{
    return tvpair_grow(&x->mt, &x->mv, &x->mcap, n, 256);
}

static int scratch_seal(struct scratch *x, size_t n)
{
    return tvpair_grow(&x->pt, &x->pv, &x->pcap, n, 1024);
}

static void scratch_publish(struct head *h, struct scratch *x)
{
    if (x->d_bytes)
        atomic_fetch_add_explicit(&h->chunk_bytes, x->d_bytes, memory_order_relaxed);
    if (x->d_chunks)
        atomic_fetch_add_explicit(&h->chunks, x->d_chunks, memory_order_relaxed);
    x->d_bytes = 0;
    x->d_chunks = 0;
}

/* Sealed entries. */
static int64_t sent_min(const uint8_t *e)
{
    return (int64_t)get_le64(e);
}
static int64_t sent_max(const uint8_t *e)
{
    return (int64_t)get_le64(e) + (int64_t)get_le32(e + 8);
}
static uint32_t sent_len(const uint8_t *e)
{
    return get_le32(e + 12);
}

static int64_t head_min(const struct memseries *s)
{
    return (int64_t)get_le64(s->hdata + 8);
}

/* hlen: bytes of the open head chunk (0: none). */
static size_t hlen(const struct memseries *s)
{
    return s->hopen ? CHUNK_HDR_BYTES + (size_t)((s->hbits + 7) >> 3) : 0;
}

/* app_load makes a chunk appender (over buffer b) of s's head chunk. */
static void app_load(const struct head *h, const struct memseries *s, struct chunk_app *a,
                     struct wbuf *b)
{
    b->data = s->hdata;
    b->len = hlen(s);
    b->cap = s->hcap;
    b->max = 0;
    b->err = 0;
    memset(a, 0, sizeof *a);
    a->buf = b;
    a->start = 0;
    a->nbits = s->hbits;
    a->max_samples = h->o.chunk_samples;
    a->max_bytes = CHUNK_HDR_BYTES + 20 * h->o.chunk_samples;
    a->count = s->hcount;
    a->t = s->ht;
    a->delta = s->hdelta;
    a->ref = s->href;
    a->lead = s->hlead;
    a->sig = s->hsig;
}

/* app_store saves what an append changed back into s. */
static void app_store(struct memseries *s, const struct chunk_app *a, const struct wbuf *b)
{
    s->hdata = b->data;
    s->hcap = (uint32_t)b->cap;
    s->hbits = (uint32_t)a->nbits;
    s->hcount = (uint16_t)a->count;
    s->ht = a->t;
    s->hdelta = (uint32_t)a->delta;
    s->href = a->ref;
    s->hlead = a->lead;
    s->hsig = a->sig;
}

/* ---- appending to one series (stripe lock held) ------------------------------------ */

static int hbuf_resize(struct memseries *s, struct scratch *x, size_t nc)
{
    uint8_t *d = realloc(s->hdata, nc);
    if (d == NULL)
        return TT_ENOMEM;
    x->d_bytes += (int64_t)nc - (int64_t)s->hcap;
    s->hdata = d;
    s->hcap = (uint32_t)nc;
    return 0;
}

/* hbuf_room grows the head chunk buffer before chunk.c would (it keeps 32
 * zeroed bytes after the payload and doubles its buffer): memory per series
 * is dominated by this buffer and the sealed chunks, so it grows in small
 * steps. */
static int hbuf_room(struct memseries *s, struct scratch *x)
{
    size_t len = hlen(s);
    if (s->hcap - len >= HBUF_ROOM + (s->hopen ? 0 : CHUNK_HDR_BYTES))
        return 0;
    if (s->hcap < HBUF_START)
        return hbuf_resize(s, x, HBUF_START);
    size_t step = s->hcap / 8 > HBUF_STEP ? s->hcap / 8 : HBUF_STEP;
    size_t nc = (len + HBUF_ROOM + step + 15) / 16 * 16 + 8;
    return hbuf_resize(s, x, nc);
}

/* seal_samples appends ts/vs[0..n) to s's sealed chunks. Samples of the
 * chunk range the last sealed chunk is in are merged into it (decoded and
 * encoded again) up to SEAL_MERGE_MAX samples: a few sealed chunks per range
 * and series pay the column headers and the timestamp column, not one every
 * 120 samples. */
static int seal_samples(struct head *h, struct memseries *s, struct scratch *x, const int64_t *ts,
                        const double *vs, size_t n)
{
    int rc;
    uint32_t keep = s->sealed_len;
    if (s->nsealed > 0) {
        uint32_t off = 0;
        for (uint32_t k = 0; k + 1 < s->nsealed; k++)
            off += SENT_HDR + sent_len(s->sealed + off);
        const uint8_t *e = s->sealed + off;
        size_t have = sealed_chunk_count(e + SENT_HDR, sent_len(e));
        if (range_end(h, sent_min(e)) == range_end(h, ts[0]) && sent_max(e) < ts[0] &&
            have + n <= SEAL_MERGE_MAX) {
            if ((rc = scratch_seal(x, have + n)) != 0)
                return rc;
            int got = sealed_chunk_decode(&x->sc, e + SENT_HDR, sent_len(e), x->pt, x->pv, x->pcap);
            if (got < 0)
                return got;
            memcpy(x->pt + got, ts, n * sizeof *ts);
            memcpy(x->pv + got, vs, n * sizeof *vs);
            ts = x->pt;
            vs = x->pv;
            n += (size_t)got;
            keep = off;
        }
    }
    wbuf_reset(&x->enc);
    if ((rc = sealed_chunk_encode(&x->sc, &x->enc, ts, vs, n)) != 0)
        return rc;
    size_t add = SENT_HDR + x->enc.len;
    uint8_t *p = realloc(s->sealed, keep + add);
    if (p == NULL)
        return TT_ENOMEM;
    uint8_t *e = p + keep;
    put_le64(e, (uint64_t)ts[0]);
    put_le32(e + 8, (uint32_t)(ts[n - 1] - ts[0]));
    put_le32(e + 12, (uint32_t)x->enc.len);
    memcpy(e + SENT_HDR, x->enc.data, x->enc.len);
    if (keep == s->sealed_len) {
        s->nsealed++;
        x->d_chunks++;
    }
    x->d_bytes += (int64_t)(keep + add) - (int64_t)s->sealed_len;
    s->sealed = p;
    s->sealed_len = (uint32_t)(keep + add);
    return 0;
}

/* seal_head turns the open head chunk into a sealed chunk. */
static int seal_head(struct head *h, struct memseries *s, struct scratch *x)
{
    int rc = scratch_dec(x, s->hcount);
    if (rc != 0)
        return rc;
    int n = chunk_decode_all(s->hdata, hlen(s), x->ts, x->vs, x->cap);
    if (n < 0)
        return n;
    if (n > 0 && (rc = seal_samples(h, s, x, x->ts, x->vs, (size_t)n)) != 0)
        return rc;
    s->hopen = 0;
    x->d_chunks--;
    /* The next chunk grows again from a small buffer. */
    if (s->hcap > HBUF_START)
        (void)hbuf_resize(s, x, HBUF_START);
    return 0;
}

static int need_cut(const struct head *h, const struct memseries *s, int64_t t)
{
    return s->hcount >= h->o.chunk_samples || t >= range_end(h, head_min(s));
}

/* raw_append appends t (after everything in the chunks) to the head chunk,
 * cutting when the chunk refuses it. */
static int raw_append(struct head *h, struct memseries *s, struct scratch *x, int64_t t,
                      uint64_t bits)
{
    int rc;
    struct chunk_app app;
    struct wbuf b;
    for (int tries = 0; tries < 2; tries++) {
        if (!s->hopen) {
            if ((rc = hbuf_room(s, x)) != 0)
                return rc;
            app_load(h, s, &app, &b);
            b.len = 0;
            rc = chunk_app_init(&app, &b, h->o.chunk_samples,
                                CHUNK_HDR_BYTES + 20 * h->o.chunk_samples);
            if (rc != 0)
                return rc;
            app_store(s, &app, &b);
            s->hopen = 1;
            x->d_chunks++;
        }
        if ((rc = hbuf_room(s, x)) != 0)
            return rc;
        app_load(h, s, &app, &b);
        rc = chunk_append(&app, t, f64_from_bits(bits));
        app_store(s, &app, &b);
        if (rc != TT_EFULL)
            return rc;
        if ((rc = seal_head(h, s, x)) != 0)
            return rc;
    }
    return TT_EFULL;
}

/* append_cut: an in-order append with the cut rules, no out-of-order merge. */
static int append_cut(struct head *h, struct memseries *s, struct scratch *x, int64_t t,
                      uint64_t bits)
{
    if (s->hopen && need_cut(h, s, t)) {
        int rc = seal_head(h, s, x);
        if (rc != 0)
            return rc;
    }
    return raw_append(h, s, x, t, bits);
}

/* decode_entry decodes sealed entry e into x->ts/vs; returns the count. */
static int decode_sealed(struct scratch *x, const uint8_t *e)
{
    const uint8_t *p = e + SENT_HDR;
    size_t len = sent_len(e);
    size_t n = sealed_chunk_count(p, len);
    if (n == 0)
        return TT_ECORRUPT;
    int rc = scratch_dec(x, n);
    if (rc != 0)
        return rc;
    return sealed_chunk_decode(&x->sc, p, len, x->ts, x->vs, x->cap);
}

/* flush_ooo merges the out-of-order buffer into the chunks: every chunk from
 * the first that reaches the oldest buffered sample is decoded, merged with
 * the buffer and appended again with the cut rules. */
static int flush_ooo(struct head *h, struct memseries *s, struct scratch *x)
{
    if (s->ooo_n == 0)
        return 0;
    int64_t omin = s->ooo[0].t;
    uint32_t off = 0, k = 0;
    while (k < s->nsealed && sent_max(s->sealed + off) < omin) {
        off += SENT_HDR + sent_len(s->sealed + off);
        k++;
    }
    /* Count what is re-appended. */
    size_t total = s->ooo_n;
    for (uint32_t o = off; o < s->sealed_len; o += SENT_HDR + sent_len(s->sealed + o))
        total += sealed_chunk_count(s->sealed + o + SENT_HDR, sent_len(s->sealed + o));
    if (s->hopen)
        total += s->hcount;
    int rc = scratch_merge(x, total);
    if (rc != 0)
        return rc;
    /* Gather chunk samples in order into mt/mv, then merge the buffer in
     * place from the back. */
    size_t m = 0;
    for (uint32_t o = off; o < s->sealed_len; o += SENT_HDR + sent_len(s->sealed + o)) {
        int n = decode_sealed(x, s->sealed + o);
        if (n < 0)
            return n;
        memcpy(x->mt + m, x->ts, (size_t)n * sizeof(int64_t));
        memcpy(x->mv + m, x->vs, (size_t)n * sizeof(double));
        m += (size_t)n;
    }
    if (s->hopen) {
        int n = chunk_decode_all(s->hdata, hlen(s), x->mt + m, x->mv + m, total - m);
        if (n < 0)
            return n;
        m += (size_t)n;
    }
    size_t i = m, j = s->ooo_n, w = m + s->ooo_n;
    while (j > 0) {
        if (i > 0 && x->mt[i - 1] > s->ooo[j - 1].t) {
            w--, i--;
            x->mt[w] = x->mt[i];
            x->mv[w] = x->mv[i];
        } else {
            w--, j--;
            x->mt[w] = s->ooo[j].t;
            x->mv[w] = f64_from_bits(s->ooo[j].bits);
        }
    }
    m += s->ooo_n;
    /* Drop the chunks from k on and append everything again. */
    x->d_chunks -= (int64_t)(s->nsealed - k) + (s->hopen > 0);
    x->d_bytes -= (int64_t)(s->sealed_len - off);
    s->sealed_len = off;
    s->nsealed = k;
    s->hopen = 0;
    s->ooo_n = 0;
    for (size_t q = 0; q < m; q++)
        if ((rc = append_cut(h, s, x, x->mt[q], f64_bits(x->mv[q]))) != 0)
            return rc;
    return 0;
}

/* find_sample looks for a sample at t in s's chunks: 1 with *bits, 0, or
 * an error. */
static int find_sample(struct memseries *s, struct scratch *x, int64_t t, uint64_t *bits)
{
    for (uint32_t o = 0; o < s->sealed_len; o += SENT_HDR + sent_len(s->sealed + o)) {
        const uint8_t *e = s->sealed + o;
        if (sent_min(e) > t)
            return 0;
        if (sent_max(e) < t)
            continue;
        int n = decode_sealed(x, e);
        if (n < 0)
            return n;
        size_t lo = 0, hi = (size_t)n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (x->ts[mid] < t)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < (size_t)n && x->ts[lo] == t) {
            *bits = f64_bits(x->vs[lo]);
            return 1;
        }
        return 0;
    }
    if (s->hopen && head_min(s) <= t) {
        struct chunk_iter it;
        int rc = chunk_iter_init(&it, s->hdata, hlen(s));
        if (rc == 0)
            rc = chunk_iter_seek(&it, t);
        if (rc < 0)
            return rc;
        if (rc == 1 && it.t == t) {
            *bits = f64_bits(it.v);
            return 1;
        }
    }
    return 0;
}

/* too_old: t (< s->max_t) is out of the out-of-order window. The difference
 * is taken unsigned: it is positive and may not fit an int64. */
static int too_old(const struct head *h, const struct memseries *s, int64_t t)
{
    return (uint64_t)s->max_t - (uint64_t)t > (uint64_t)h->o.ooo_window_ms;
}

/* series_append applies one sample: 0 (appended; *ooo says whether out of
 * order), APP_DUP, TT_ERANGE (too old), TT_EEXIST (same time, other value),
 * or a memory/codec error. replay lifts the window. */
static int series_append(struct head *h, struct memseries *s, struct scratch *x, int64_t t,
                         uint64_t bits, int replay, int *ooo)
{
    int rc;
    *ooo = 0;
    if (t < atomic_load_explicit(&h->min_valid, memory_order_relaxed))
        return TT_ERANGE;
    if (t > s->max_t) {
        if (s->hopen && s->ooo_n > 0 && need_cut(h, s, t) && (rc = flush_ooo(h, s, x)) != 0)
            return rc;
        if ((rc = append_cut(h, s, x, t, bits)) != 0)
            return rc;
        s->max_t = t;
        s->last_bits = bits;
        if (t < s->min_t)
            s->min_t = t;
        return 0;
    }
    if (t == s->max_t)
        return bits == s->last_bits ? APP_DUP : TT_EEXIST;
    if (!replay && too_old(h, s, t))
        return TT_ERANGE;
    /* Out of order: unique against the buffer and the chunks. */
    size_t lo = 0, hi = s->ooo_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->ooo[mid].t < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->ooo_n && s->ooo[lo].t == t)
        return s->ooo[lo].bits == bits ? APP_DUP : TT_EEXIST;
    uint64_t old;
    rc = find_sample(s, x, t, &old);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return old == bits ? APP_DUP : TT_EEXIST;
    if (s->ooo_n == s->ooo_cap) {
        uint8_t nc = s->ooo_cap ? (uint8_t)(s->ooo_cap * 2) : 4;
        struct head_sample *p = realloc(s->ooo, nc * sizeof *p);
        if (p == NULL)
            return TT_ENOMEM;
        x->d_bytes += (int64_t)((nc - s->ooo_cap) * sizeof *p);
        s->ooo = p;
        s->ooo_cap = nc;
    }
    memmove(s->ooo + lo + 1, s->ooo + lo, (s->ooo_n - lo) * sizeof *s->ooo);
    s->ooo[lo].t = t;
    s->ooo[lo].bits = bits;
    s->ooo_n++;
    if (t < s->min_t)
        s->min_t = t;
    *ooo = 1;
    if (s->ooo_n >= OOO_CAP && (rc = flush_ooo(h, s, x)) != 0)
        return rc;
    return 0;
}

/* ---- series table ------------------------------------------------------------------ */

/* series_free frees what s holds (s itself lives in a slab). */
static void series_free(struct memseries *s)
{
    free(s->sealed);
    free(s->ooo);
    free(s->hdata);
}

/* series_alloc takes a zeroed series struct from the slabs (series_mu
 * held): NULL when out of memory. */
static struct memseries *series_alloc(struct head *h)
{
    if (h->slabs == NULL || h->slab_used == SLAB_SERIES) {
        struct slab *sl = calloc(1, sizeof *sl);
        if (sl == NULL)
            return NULL;
        sl->next = h->slabs;
        h->slabs = sl;
        h->slab_used = 0;
        atomic_fetch_add_explicit(&h->series_bytes, (int64_t)sizeof *sl, memory_order_relaxed);
    }
    return &h->slabs->s[h->slab_used++];
}

/* series_get_or_create finds or makes the series of normalized ls; ref 0
 * gives a new series a fresh WAL ref, else ref is used (replay). */
static int series_get_or_create(struct head *h, const struct labels *ls, uint64_t ref,
                                struct memseries **out, int *created)
{
    uint32_t id;
    int rc = 0;
    *created = 0;
    pthread_mutex_lock(&h->series_mu);
    rc = index_get_or_create(h->idx, ls, &id, NULL);
    if (rc != 0)
        goto out;
    struct memseries *s = get_series(h, id);
    if (s == NULL) {
        struct page *p = atomic_load_explicit(&h->pages[id >> PAGE_BITS], memory_order_relaxed);
        if (p == NULL) {
            if ((id >> PAGE_BITS) >= NPAGES || (p = calloc(1, sizeof *p)) == NULL) {
                rc = (id >> PAGE_BITS) >= NPAGES ? TT_EFULL : TT_ENOMEM;
                goto out;
            }
            atomic_store_explicit(&h->pages[id >> PAGE_BITS], p, memory_order_release);
            atomic_fetch_add_explicit(&h->series_bytes, (int64_t)sizeof *p, memory_order_relaxed);
        }
        if ((s = series_alloc(h)) == NULL) {
            rc = TT_ENOMEM;
            goto out;
        }
        s->id = id;
        s->min_t = INT64_MAX;
        s->max_t = INT64_MIN;
        if (ref == 0)
            ref = h->next_ref++;
        else if (ref >= h->next_ref)
            h->next_ref = ref + 1;
        s->ref = ref;
        atomic_store_explicit(&p->s[id & (PAGE_SLOTS - 1)], s, memory_order_release);
        *created = 1;
    }
    *out = s;
out:
    pthread_mutex_unlock(&h->series_mu);
    return rc;
}

/* ---- replay -------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return x;
}

static int refmap_put(struct refmap *m, uint64_t ref, struct memseries *s)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        uint64_t *k = calloc(nc, sizeof *k);
        struct memseries **v = calloc(nc, sizeof *v);
        if (k == NULL || v == NULL) {
            free(k);
            free(v);
            return TT_ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i] == 0)
                continue;
            size_t j = mix64(m->keys[i]) & (nc - 1);
            while (k[j] != 0)
                j = (j + 1) & (nc - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->cap = nc;
    }
    size_t j = mix64(ref + 1) & (m->cap - 1);
    while (m->keys[j] != 0 && m->keys[j] != ref + 1)
        j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == 0)
        m->n++;
    m->keys[j] = ref + 1;
    m->vals[j] = s;
    return 0;
}

static struct memseries *refmap_get(const struct refmap *m, uint64_t ref)
{
    if (m->cap == 0)
        return NULL;
    size_t j = mix64(ref + 1) & (m->cap - 1);
    while (m->keys[j] != 0) {
        if (m->keys[j] == ref + 1)
            return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

static int replay_series(void *arg, uint64_t ref, const struct rec_label *labels, size_t nlabels)
{
    struct head *h = arg;
    size_t total = 0;
    for (size_t i = 0; i < nlabels; i++)
        total += labels[i].name.len + labels[i].value.len + 2;
    wbuf_reset(&h->rstr);
    if (wbuf_reserve(&h->rstr, total) != 0)
        return TT_ENOMEM;
    labels_reset(&h->rlabels);
    for (size_t i = 0; i < nlabels; i++) {
        const char *n = (const char *)h->rstr.data + h->rstr.len;
        wbuf_put(&h->rstr, labels[i].name.p, labels[i].name.len);
        wbuf_put_u8(&h->rstr, 0);
        const char *v = (const char *)h->rstr.data + h->rstr.len;
        wbuf_put(&h->rstr, labels[i].value.p, labels[i].value.len);
        wbuf_put_u8(&h->rstr, 0);
        if (labels_push(&h->rlabels, n, v) != 0)
            return TT_ENOMEM;
    }
    if (!labels_is_normalized(&h->rlabels) &&
        (labels_normalize(&h->rlabels) != 0 || h->rlabels.n == 0))
        return 0; /* not a series we could have written: skip it */
    if (h->rlabels.n == 0)
        return 0;
    struct memseries *s;
    int created;
    int rc = series_get_or_create(h, &h->rlabels, ref, &s, &created);
    if (rc == TT_ENOMEM)
        return rc;
    if (rc != 0)
        return 0;
    atomic_store_explicit(&s->logged, 1, memory_order_relaxed);
    h->rs->series += (uint64_t)created;
    return refmap_put(&h->rmap, ref, s);
}

static int replay_samples(void *arg, const struct rec_sample *smp, size_t n)
{
    struct head *h = arg;
    struct memseries *s = NULL;
    uint64_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        if (s == NULL || smp[i].ref != cur) {
            cur = smp[i].ref;
            s = refmap_get(&h->rmap, cur);
        }
        if (s == NULL) {
            h->rs->unknown_ref++;
            continue;
        }
        int ooo;
        pthread_mutex_t *mu = stripe(h, s);
        pthread_mutex_lock(mu);
        int rc = series_append(h, s, &h->rx, smp[i].t_ms, f64_bits(smp[i].v), 1, &ooo);
        pthread_mutex_unlock(mu);
        if (rc == 0) {
            h->rs->samples++;
            atomic_min64(&h->min_t, smp[i].t_ms);
            atomic_max64(&h->max_t, smp[i].t_ms);
        } else if (rc == APP_DUP) {
            h->rs->duplicates++;
        } else if (rc == TT_EEXIST || rc == TT_ERANGE) {
            h->rs->rejected++;
        } else {
            return rc;
        }
    }
    return 0;
}

static void replay_progress(void *arg, uint64_t done, uint64_t total)
{
    struct head *h = arg;
    if (h->o.progress != NULL)
        h->o.progress(h->o.progress_arg, done, total);
}

/* ---- open / close ---------------------------------------------------------------------- */

void head_options_default(struct head_options *o)
{
    memset(o, 0, sizeof *o);
    o->chunk_range_ms = HEAD_DEF_CHUNK_RANGE_MS;
    o->ooo_window_ms = HEAD_DEF_OOO_WINDOW_MS;
    o->chunk_samples = HEAD_DEF_CHUNK_SAMPLES;
    o->min_valid_t = INT64_MIN;
    wal_options_default(&o->wal);
}

static void head_destroy(struct head *h)
{
    for (uint32_t p = 0; p < NPAGES; p++) {
        struct page *pg = atomic_load_explicit(&h->pages[p], memory_order_relaxed);
        if (pg == NULL)
            continue;
        for (uint32_t i = 0; i < PAGE_SLOTS; i++) {
            struct memseries *s = atomic_load_explicit(&pg->s[i], memory_order_relaxed);
            if (s != NULL)
                series_free(s);
        }
        free(pg);
    }
    while (h->slabs != NULL) {
        struct slab *next = h->slabs->next;
        free(h->slabs);
        h->slabs = next;
    }
    for (uint32_t i = 0; i < NSTRIPES; i++)
        pthread_mutex_destroy(&h->stripes[i]);
    pthread_mutex_destroy(&h->series_mu);
    pthread_mutex_destroy(&h->trunc_mu);
    pthread_rwlock_destroy(&h->commit_rw);
    index_free(h->idx);
    scratch_release(&h->rx);
    free(h->rmap.keys);
    free(h->rmap.vals);
    labels_release(&h->rlabels);
    wbuf_release(&h->rstr);
    free(h);
}

int head_open(struct head **out, const char *data_dir, const struct head_options *o,
              struct head_replay_stats *rs, char *err, size_t errlen)
{
    struct head_replay_stats rs0;
    struct head *h = NULL;
    int rc = 0;
    *out = NULL;
    if (rs == NULL)
        rs = &rs0;
    memset(rs, 0, sizeof *rs);
    struct head_options def;
    if (o == NULL) {
        head_options_default(&def);
        o = &def;
    }
    if (data_dir == NULL || o->chunk_range_ms < 1 || o->chunk_range_ms > HEAD_MAX_CHUNK_RANGE_MS ||
        o->ooo_window_ms < 0 || o->chunk_samples < 16 || o->chunk_samples > 1024) {
        tt_set_err(err, errlen, "head: invalid options");
        return TT_EINVAL;
    }
    if ((h = calloc(1, sizeof *h)) == NULL)
        return TT_ENOMEM;
    h->o = *o;
    for (uint32_t i = 0; i < NSTRIPES; i++)
        pthread_mutex_init(&h->stripes[i], NULL);
    pthread_mutex_init(&h->series_mu, NULL);
    pthread_mutex_init(&h->trunc_mu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->commit_rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    scratch_init(&h->rx);
    labels_init(&h->rlabels);
    wbuf_init(&h->rstr, 0);
    h->next_ref = 1;
    atomic_init(&h->min_t, INT64_MAX);
    atomic_init(&h->min_valid, h->o.min_valid_t);
    atomic_init(&h->max_t, INT64_MIN);
    h->rs = rs;
    if ((rc = index_new(&h->idx)) != 0)
        goto out;
    if (!h->o.no_wal) {
        if (mkdir(data_dir, 0777) != 0 && errno != EEXIST) {
            tt_set_err(err, errlen, "head: cannot create %s: %s", data_dir, strerror(errno));
            rc = TT_EIO;
            goto out;
        }
        if ((rc = wal_open(&h->wal, data_dir, &h->o.wal, err, errlen)) != 0)
            goto out;
        struct wal_replay_cb cb = {
            .series = replay_series,
            .samples = replay_samples,
            .problem = NULL,
            .progress = replay_progress,
        };
        rc = wal_replay(h->wal, &cb, h, &rs->wal, err, errlen);
        scratch_publish(h, &h->rx);
        if (rc != 0)
            goto out;
    }
out:
    /* The replay state is no longer needed. */
    free(h->rmap.keys);
    free(h->rmap.vals);
    memset(&h->rmap, 0, sizeof h->rmap);
    h->rs = NULL;
    if (rc != 0) {
        if (h->wal != NULL)
            wal_close(h->wal);
        head_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

int head_close(struct head *h)
{
    if (h == NULL)
        return 0;
    int rc = h->wal != NULL ? wal_close(h->wal) : 0;
    head_destroy(h);
    return rc;
}

struct index *head_index(struct head *h)
{
    return h->idx;
}

/* ---- appender ---------------------------------------------------------------------------- */

int head_appender_new(struct head *h, struct head_appender **out)
{
    struct head_appender *a = calloc(1, sizeof *a);
    if (a == NULL)
        return TT_ENOMEM;
    a->h = h;
    scratch_init(&a->x);
    labels_init(&a->tmp);
    labels_init(&a->norm);
    *out = a;
    return 0;
}

static void appender_reset(struct head_appender *a)
{
    a->n = 0;
    a->nnews = 0;
    a->dups = 0;
    a->last_s = NULL;
    a->norig = 0;
    if (a->newset != NULL)
        memset(a->newset, 0, a->newset_cap * sizeof *a->newset);
}

void head_appender_free(struct head_appender *a)
{
    if (a == NULL)
        return;
    head_appender_rollback(a);
    scratch_release(&a->x);
    free(a->ser);
    free(a->smp);
    free(a->news);
    free(a->newset);
    free(a->rl);
    free(a->ws);
    free(a->orig);
    labels_release(&a->tmp);
    labels_release(&a->norm);
    free(a);
}

size_t head_appender_pending(const struct head_appender *a)
{
    return a->n;
}

void head_appender_rollback(struct head_appender *a)
{
    if (a->n > 0 || a->dups > 0)
        atomic_fetch_add_explicit(&a->h->rollbacks, 1, memory_order_relaxed);
    appender_reset(a);
}

/* note_new remembers that s must be declared in this batch's WAL append. */
static int note_new(struct head_appender *a, struct memseries *s)
{
    if ((a->nnews + 1) * 2 > a->newset_cap) {
        size_t nc = a->newset_cap ? a->newset_cap * 2 : 64;
        uint32_t *t = calloc(nc, sizeof *t);
        if (t == NULL)
            return TT_ENOMEM;
        for (size_t i = 0; i < a->nnews; i++) {
            size_t j = mix64(a->news[i]->id) & (nc - 1);
            while (t[j] != 0)
                j = (j + 1) & (nc - 1);
            t[j] = a->news[i]->id + 1;
        }
        free(a->newset);
        a->newset = t;
        a->newset_cap = nc;
    }
    size_t j = mix64(s->id) & (a->newset_cap - 1);
    while (a->newset[j] != 0) {
        if (a->newset[j] == s->id + 1)
            return 0;
        j = (j + 1) & (a->newset_cap - 1);
    }
    if (grow_arr((void **)&a->news, &a->capnews, a->nnews + 1, sizeof *a->news) != 0)
        return TT_ENOMEM;
    a->newset[j] = s->id + 1;
    a->news[a->nnews++] = s;
    return 0;
}

static int add_series(struct head_appender *a, struct memseries *s, int64_t t, double v)
{
    struct head *h = a->h;
    uint64_t bits = f64_bits(v);
    int rc = 0;
    if (a->n >= HEAD_APPENDER_MAX_SAMPLES)
        return TT_EFULL;
    int in_order = 0;
    if (t < atomic_load_explicit(&h->min_valid, memory_order_relaxed)) {
        rc = TT_ERANGE;
    } else {
        in_order = s == a->last_s && t > a->last_t;
        if (!in_order) {
            pthread_mutex_t *mu = stripe(h, s);
            pthread_mutex_lock(mu);
            if (t == s->max_t)
                rc = bits == s->last_bits ? APP_DUP : TT_EEXIST;
            else if (t < s->max_t && too_old(h, s, t))
                rc = TT_ERANGE;
            in_order = t > s->max_t;
            pthread_mutex_unlock(mu);
        }
    }
    if (rc == APP_DUP) {
        a->dups++;
        return 0;
    }
    if (rc == TT_EEXIST) {
        atomic_fetch_add_explicit(&h->conflicts, 1, memory_order_relaxed);
        return rc;
    }
    if (rc == TT_ERANGE) {
        atomic_fetch_add_explicit(&h->ooo_rej, 1, memory_order_relaxed);
        return rc;
    }
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        struct memseries **ns = realloc(a->ser, nc * sizeof *ns);
        if (ns == NULL)
            return TT_ENOMEM;
        a->ser = ns;
        struct rec_sample *sm = realloc(a->smp, nc * sizeof *sm);
        if (sm == NULL)
            return TT_ENOMEM;
        a->smp = sm;
        a->cap = nc;
    }
    if (!atomic_load_explicit(&s->logged, memory_order_acquire) && (rc = note_new(a, s)) != 0)
        return rc;
    if (in_order) {
        a->last_s = s;
        a->last_t = t;
    }
    a->ser[a->n] = s;
    a->smp[a->n].ref = s->ref;
    a->smp[a->n].t_ms = t;
    a->smp[a->n].v = v;
    a->n++;
    return 0;
}

int head_appender_add(struct head_appender *a, const struct labels *ls, int64_t t_ms, double v,
                      head_ref *ref)
{
    struct head *h = a->h;
    const struct labels *use = ls;
    int rc;
    if (!labels_is_normalized(ls)) {
        labels_reset(&a->norm);
        for (size_t i = 0; i < ls->n; i++)
            if ((rc = labels_push(&a->norm, ls->v[i].name, ls->v[i].value)) != 0)
                return rc;
        if ((rc = labels_normalize(&a->norm)) != 0)
            return rc;
        use = &a->norm;
    }
    if (use->n == 0)
        return TT_EINVAL;
    struct memseries *s = NULL;
    uint32_t id;
    if (index_lookup(h->idx, use, &id) == 0)
        s = get_series(h, id);
    if (s == NULL) {
        int created;
        if ((rc = series_get_or_create(h, use, 0, &s, &created)) != 0)
            return rc;
    }
    if ((rc = add_series(a, s, t_ms, v)) != 0)
        return rc;
    if (ref != NULL)
        *ref = (head_ref)s->id + 1;
    return 0;
}

int head_appender_add_ref(struct head_appender *a, head_ref ref, int64_t t_ms, double v)
{
    if (ref == 0 || ref > UINT32_MAX)
        return TT_ENOTFOUND;
    struct memseries *s = get_series(a->h, (uint32_t)(ref - 1));
    if (s == NULL)
        return TT_ENOTFOUND;
    return add_series(a, s, t_ms, v);
}

/* wal_declare builds the series records of the batch's undeclared series. */
static int wal_declare(struct head_appender *a, size_t *nws)
{
    struct head *h = a->h;
    size_t k = 0;
    int rc;
    a->nrl = 0;
    if (grow_arr((void **)&a->ws, &a->capws, a->nnews, sizeof *a->ws) != 0)
        return TT_ENOMEM;
    for (size_t i = 0; i < a->nnews; i++) {
        struct memseries *s = a->news[i];
        if (atomic_load_explicit(&s->logged, memory_order_acquire))
            continue;
        if ((rc = index_series_labels(h->idx, s->id, &a->tmp)) != 0)
            return rc;
        if (grow_arr((void **)&a->rl, &a->caprl, a->nrl + a->tmp.n, sizeof *a->rl) != 0)
            return TT_ENOMEM;
        a->ws[k].ref = s->ref;
        a->ws[k].labels = NULL;
        a->ws[k].nlabels = a->tmp.n;
        for (size_t j = 0; j < a->tmp.n; j++) {
            a->rl[a->nrl + j].name.p = a->tmp.v[j].name;
            a->rl[a->nrl + j].name.len = (uint32_t)strlen(a->tmp.v[j].name);
            a->rl[a->nrl + j].value.p = a->tmp.v[j].value;
            a->rl[a->nrl + j].value.len = (uint32_t)strlen(a->tmp.v[j].value);
        }
        a->nrl += a->tmp.n;
        k++;
    }
    /* The label array is complete: point the series at it. */
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        a->ws[i].labels = a->rl + off;
        off += a->ws[i].nlabels;
    }
    *nws = k;
    return 0;
}

int head_appender_set_origin(struct head_appender *a, const struct wal_origin *o)
{
    for (size_t i = 0; i < a->norig; i++) {
        if (a->orig[i].origin_id == o->origin_id) {
            if (o->durable_end >= a->orig[i].durable_end)
                a->orig[i] = *o;
            return 0;
        }
    }
    if (grow_arr((void **)&a->orig, &a->caporig, a->norig + 1, sizeof *a->orig) != 0)
        return TT_ENOMEM;
    a->orig[a->norig++] = *o;
    return 0;
}

int head_origins(struct head *h, struct wal_origin **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return h->wal != NULL ? wal_origins(h->wal, out, n) : 0;
}

int head_appender_commit(struct head_appender *a, struct head_commit_result *res, char *err,
                         size_t errlen)
{
    struct head *h = a->h;
    struct head_commit_result r;
    size_t nws = 0;
    int rc = 0;
    memset(&r, 0, sizeof r);
    r.duplicates = a->dups;
    if (a->n == 0 && (a->norig == 0 || h->wal == NULL))
        goto out;
    if (h->wal != NULL && (rc = wal_declare(a, &nws)) != 0)
        goto fail;
    pthread_rwlock_rdlock(&h->commit_rw);
    if (h->wal != NULL) {
        uint64_t lsn;
        rc = wal_append_origins(h->wal, a->ws, nws, a->smp, a->n, a->orig, a->norig, &lsn, err,
                                errlen);
        if (rc == 0)
            rc = wal_wait(h->wal, lsn, err, errlen);
        if (rc != 0) {
            pthread_rwlock_unlock(&h->commit_rw);
            goto fail;
        }
        for (size_t i = 0; i < a->nnews; i++)
            atomic_store_explicit(&a->news[i]->logged, 1, memory_order_release);
    }
    r.new_series = nws;
    int64_t bmin = INT64_MAX, bmax = INT64_MIN;
    pthread_mutex_t *held = NULL;
    for (size_t i = 0; i < a->n; i++) {
        struct memseries *s = a->ser[i];
        pthread_mutex_t *mu = stripe(h, s);
        if (mu != held) {
            if (held != NULL)
                pthread_mutex_unlock(held);
            pthread_mutex_lock(mu);
            held = mu;
        }
        int ooo;
        int64_t t = a->smp[i].t_ms;
        int arc = series_append(h, s, &a->x, t, f64_bits(a->smp[i].v), 0, &ooo);
        if (arc == 0) {
            r.appended++;
            r.ooo += (uint64_t)ooo;
            if (t < bmin)
                bmin = t;
            if (t > bmax)
                bmax = t;
        } else if (arc == APP_DUP) {
            r.duplicates++;
        } else if (arc == TT_ERANGE) {
            r.too_old++;
        } else if (arc == TT_EEXIST) {
            r.conflicts++;
        } else if (rc == 0) {
            rc = arc; /* memory: the sample is in the WAL, not in memory */
        }
    }
    if (held != NULL)
        pthread_mutex_unlock(held);
    pthread_rwlock_unlock(&h->commit_rw);
    scratch_publish(h, &a->x);
    if (r.appended > 0) {
        atomic_min64(&h->min_t, bmin);
        atomic_max64(&h->max_t, bmax);
    }
    atomic_fetch_add_explicit(&h->samples, r.appended, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->ooo_ok, r.ooo, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->ooo_rej, r.too_old, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->conflicts, r.conflicts, memory_order_relaxed);
out:
    atomic_fetch_add_explicit(&h->dups, r.duplicates, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->commits, 1, memory_order_relaxed);
    appender_reset(a);
    if (res != NULL)
        *res = r;
    return rc;
fail:
    atomic_fetch_add_explicit(&h->rollbacks, 1, memory_order_relaxed);
    appender_reset(a);
    if (res != NULL)
        memset(res, 0, sizeof *res);
    return rc;
}

/* ---- snapshots and iterators ----------------------------------------------------------- */

struct head_querier {
    struct head *h;
    int64_t mint, maxt;
};

struct hss_entry {
    struct labels ls; /* view into the set's label array */
    struct memseries *s;
};

struct head_series_set {
    struct head *h;
    int64_t mint, maxt;
    struct hss_entry *e;
    size_t n;
    struct label *labs;
    struct sealed_ctx sc;
};

/* snap_take copies what s holds in [mint, maxt] into it (stripe lock taken
 * here). */
static int snap_take(struct head *h, struct memseries *s, struct head_iter *it)
{
    int rc = 0;
    pthread_mutex_t *mu = stripe(h, s);
    pthread_mutex_lock(mu);
    size_t bound = s->sealed_len + (size_t)s->nsealed * (SNAP_HDR - SENT_HDR) + hlen(s) + SNAP_HDR;
    it->snap = malloc(bound ? bound : 1);
    if (s->ooo_n > 0)
        it->ooo = malloc(s->ooo_n * sizeof *it->ooo);
    if (it->snap == NULL || (s->ooo_n > 0 && it->ooo == NULL)) {
        rc = TT_ENOMEM;
        goto out;
    }
    uint8_t *w = it->snap;
    for (uint32_t o = 0; o < s->sealed_len; o += SENT_HDR + sent_len(s->sealed + o)) {
        const uint8_t *e = s->sealed + o;
        if (sent_max(e) < it->mint)
            continue;
        if (sent_min(e) > it->maxt)
            break;
        w[0] = 1;
        put_le64(w + 1, (uint64_t)sent_min(e));
        put_le64(w + 9, (uint64_t)sent_max(e));
        put_le32(w + 17, sent_len(e));
        memcpy(w + SNAP_HDR, e + SENT_HDR, sent_len(e));
        w += SNAP_HDR + sent_len(e);
    }
    if (s->hopen && head_min(s) <= it->maxt && s->ht >= it->mint) {
        size_t len = hlen(s);
        w[0] = 2;
        put_le64(w + 1, (uint64_t)head_min(s));
        put_le64(w + 9, (uint64_t)s->ht);
        put_le32(w + 17, (uint32_t)len);
        memcpy(w + SNAP_HDR, s->hdata, len);
        w += SNAP_HDR + len;
    }
    it->snap_len = (size_t)(w - it->snap);
    for (size_t i = 0; i < s->ooo_n; i++)
        if (s->ooo[i].t >= it->mint && s->ooo[i].t <= it->maxt)
            it->ooo[it->on++] = s->ooo[i];
out:
    pthread_mutex_unlock(mu);
    return rc;
}

static int iter_open(struct head_iter *it, struct head *h, struct memseries *s,
                     struct sealed_ctx *sc, int64_t mint, int64_t maxt)
{
    memset(it, 0, sizeof *it);
    it->mint = mint;
    it->maxt = maxt;
    it->ctx = sc;
    int rc = snap_take(h, s, it);
    if (rc != 0)
        head_iter_release(it);
    return rc;
}

int head_iter_init(struct head_iter *it, const struct head_series_set *ss, size_t i)
{
    struct head_series_set *m = (struct head_series_set *)ss;
    return iter_open(it, ss->h, ss->e[i].s, &m->sc, ss->mint, ss->maxt);
}

void head_iter_release(struct head_iter *it)
{
    free(it->snap);
    free(it->ts);
    free(it->vs);
    free(it->ooo);
    it->snap = NULL;
    it->ts = NULL;
    it->vs = NULL;
    it->ooo = NULL;
    it->snap_len = it->snap_pos = it->cn = it->ci = it->on = it->oi = it->ccap = 0;
    it->done = 1;
}

/* load_chunk decodes the next snapshot entry whose max reaches lo. */
static int load_chunk(struct head_iter *it, int64_t lo)
{
    while (it->snap_pos < it->snap_len) {
        const uint8_t *e = it->snap + it->snap_pos;
        size_t len = get_le32(e + 17);
        it->snap_pos += SNAP_HDR + len;
        if ((int64_t)get_le64(e + 9) < lo)
            continue;
        const uint8_t *p = e + SNAP_HDR;
        size_t n;
        struct chunk_info ci;
        if (e[0] == 1) {
            n = sealed_chunk_count(p, len);
        } else {
            if (chunk_info_read(p, len, &ci) != 0)
                return TT_ECORRUPT;
            n = ci.count;
        }
        if (n == 0)
            return TT_ECORRUPT;
        if (n > it->ccap) {
            int64_t *t = realloc(it->ts, n * sizeof *t);
            if (t == NULL)
                return TT_ENOMEM;
            it->ts = t;
            double *v = realloc(it->vs, n * sizeof *v);
            if (v == NULL)
                return TT_ENOMEM;
            it->vs = v;
            it->ccap = n;
        }
        int got = e[0] == 1 ? sealed_chunk_decode(it->ctx, p, len, it->ts, it->vs, it->ccap)
                            : chunk_decode_all(p, len, it->ts, it->vs, it->ccap);
        if (got < 0)
            return got == TT_ENOMEM ? got : TT_ECORRUPT;
        it->cn = (size_t)got;
        it->ci = 0;
        return 1;
    }
    return 0;
}

int head_iter_next(struct head_iter *it)
{
    if (it->err)
        return it->err;
    if (it->done)
        return 0;
    for (;;) {
        while (it->ci >= it->cn) {
            int rc = load_chunk(it, it->mint);
            if (rc < 0)
                return it->err = rc;
            if (rc == 0)
                break;
        }
        int hc = it->ci < it->cn, ho = it->oi < it->on;
        int64_t t;
        double v;
        if (!hc && !ho) {
            it->done = 1;
            return 0;
        }
        if (hc && (!ho || it->ts[it->ci] <= it->ooo[it->oi].t)) {
            if (ho && it->ts[it->ci] == it->ooo[it->oi].t)
                it->oi++; /* cannot happen (unique per series); keep the chunk's */
            t = it->ts[it->ci];
            v = it->vs[it->ci++];
        } else {
            t = it->ooo[it->oi].t;
            v = f64_from_bits(it->ooo[it->oi++].bits);
        }
        if (t < it->mint)
            continue;
        if (t > it->maxt) {
            it->done = 1;
            return 0;
        }
        it->t = t;
        it->v = v;
        it->cur = 1;
        return 1;
    }
}

long head_iter_next_run(struct head_iter *it, const int64_t **ts, const double **vs)
{
    if (it->err)
        return it->err;
    if (it->done)
        return 0;
    if (it->oi < it->on) {
        /* Out-of-order samples to merge: one at a time. */
        int rc = head_iter_next(it);
        if (rc <= 0)
            return rc;
        *ts = &it->t;
        *vs = &it->v;
        return 1;
    }
    for (;;) {
        while (it->ci >= it->cn) {
            int rc = load_chunk(it, it->mint);
            if (rc < 0)
                return it->err = rc;
            if (rc == 0) {
                it->done = 1;
                return 0;
            }
        }
        size_t a = it->ci, b = it->cn;
        while (a < b && it->ts[a] < it->mint)
            a++;
        if (a == b) {
            it->ci = b;
            continue;
        }
        if (it->ts[b - 1] > it->maxt) {
            /* The run ends inside this chunk: find the last sample <= maxt. */
            size_t lo = a, hi = b;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (it->ts[mid] <= it->maxt)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            b = lo;
            it->done = 1;
            if (a == b)
                return 0;
        }
        it->ci = b;
        it->t = it->ts[b - 1];
        it->v = it->vs[b - 1];
        it->cur = 1;
        *ts = it->ts + a;
        *vs = it->vs + a;
        return (long)(b - a);
    }
}

int head_iter_seek(struct head_iter *it, int64_t ts)
{
    if (it->err)
        return it->err;
    if (it->done)
        return 0;
    /* Staying put: a current sample exists once something was consumed. */
    if (it->cur && it->t >= ts)
        return 1;
    if (it->ci < it->cn && it->ts[it->cn - 1] >= ts) {
        size_t lo = it->ci, hi = it->cn;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (it->ts[mid] < ts)
                lo = mid + 1;
            else
                hi = mid;
        }
        it->ci = lo;
    } else {
        it->ci = it->cn;
        int rc = load_chunk(it, ts);
        if (rc < 0)
            return it->err = rc;
        if (rc == 1) {
            size_t lo = 0, hi = it->cn;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (it->ts[mid] < ts)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            it->ci = lo;
        }
    }
    while (it->oi < it->on && it->ooo[it->oi].t < ts)
        it->oi++;
    int rc;
    while ((rc = head_iter_next(it)) == 1 && it->t < ts)
        ;
    return rc;
}

/* ---- querier ------------------------------------------------------------------------------- */

int head_querier_new(struct head *h, int64_t mint, int64_t maxt, struct head_querier **out)
{
    if (mint > maxt)
        return TT_EINVAL;
    struct head_querier *q = calloc(1, sizeof *q);
    if (q == NULL)
        return TT_ENOMEM;
    q->h = h;
    q->mint = mint;
    q->maxt = maxt;
    *out = q;
    return 0;
}

void head_querier_free(struct head_querier *q)
{
    free(q);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct hss_entry *x = a, *y = b;
    return labels_cmp(&x->ls, &y->ls);
}

void head_series_set_free(struct head_series_set *ss)
{
    if (ss == NULL)
        return;
    free(ss->e);
    free(ss->labs);
    sealed_ctx_release(&ss->sc);
    free(ss);
}

int head_querier_select(struct head_querier *q, struct matcher *const *ms, size_t nms,
                        struct head_series_set **out)
{
    struct head *h = q->h;
    struct postings post;
    struct labels tmp;
    struct head_series_set *ss = calloc(1, sizeof *ss);
    size_t nlabs = 0, caplabs = 0, cape = 0;
    int rc = 0;
    postings_init(&post);
    labels_init(&tmp);
    *out = NULL;
    if (ss == NULL)
        return TT_ENOMEM;
    ss->h = h;
    ss->mint = q->mint;
    ss->maxt = q->maxt;
    sealed_ctx_init(&ss->sc, 0);
    if ((rc = index_select(h->idx, ms, nms, &post)) != 0)
        goto out;
    for (size_t i = 0; i < post.n; i++) {
        struct memseries *s = get_series(h, post.ids[i]);
        if (s == NULL)
            continue;
        pthread_mutex_t *mu = stripe(h, s);
        pthread_mutex_lock(mu);
        int hit = s->min_t <= q->maxt && s->max_t >= q->mint &&
                  (s->nsealed > 0 || s->hopen || s->ooo_n > 0);
        pthread_mutex_unlock(mu);
        if (!hit)
            continue;
        if ((rc = index_series_labels(h->idx, s->id, &tmp)) != 0)
            goto out;
        if (grow_arr((void **)&ss->labs, &caplabs, nlabs + tmp.n, sizeof *ss->labs) != 0 ||
            grow_arr((void **)&ss->e, &cape, ss->n + 1, sizeof *ss->e) != 0) {
            rc = TT_ENOMEM;
            goto out;
        }
        memcpy(ss->labs + nlabs, tmp.v, tmp.n * sizeof *tmp.v);
        ss->e[ss->n].s = s;
        ss->e[ss->n].ls.v = NULL;
        ss->e[ss->n].ls.n = tmp.n;
        ss->e[ss->n].ls.cap = 0;
        ss->n++;
        nlabs += tmp.n;
    }
    size_t off = 0;
    for (size_t i = 0; i < ss->n; i++) {
        ss->e[i].ls.v = ss->labs + off;
        off += ss->e[i].ls.n;
    }
    if (ss->n > 1)
        qsort(ss->e, ss->n, sizeof *ss->e, entry_cmp);
out:
    postings_release(&post);
    labels_release(&tmp);
    if (rc != 0) {
        head_series_set_free(ss);
        return rc;
    }
    *out = ss;
    return 0;
}

size_t head_series_set_count(const struct head_series_set *ss)
{
    return ss->n;
}

const struct labels *head_series_set_labels(const struct head_series_set *ss, size_t i)
{
    return &ss->e[i].ls;
}

head_ref head_series_set_ref(const struct head_series_set *ss, size_t i)
{
    return (head_ref)ss->e[i].s->id + 1;
}

int head_querier_label_names(struct head_querier *q, struct matcher *const *ms, size_t nms,
                             struct index_strs *out)
{
    return index_label_names(q->h->idx, ms, nms, out);
}

int head_querier_label_values(struct head_querier *q, const char *name, struct matcher *const *ms,
                              size_t nms, struct index_strs *out)
{
    return index_label_values(q->h->idx, name, ms, nms, out);
}

/* ---- truncation and checkpoint ----------------------------------------------------------- */

struct ckpt {
    struct head *h;
    uint32_t id, count;
    int barrier_done;
    int phase; /* 1: the current series' samples are next */
    struct memseries *cur;
    struct labels ls;
    struct rec_label *rl;
    size_t caprl;
    struct rec_sample *smp;
    size_t capsmp;
    struct sealed_ctx sc;
};

static int ckpt_next(void *arg, struct wal_item *item)
{
    struct ckpt *c = arg;
    struct head *h = c->h;
    int rc;
    if (!c->barrier_done) {
        /* The checkpoint's segment is closed: wait for the commits that
         * wrote into it to finish applying (see the file comment). */
        pthread_rwlock_wrlock(&h->commit_rw);
        pthread_rwlock_unlock(&h->commit_rw);
        c->count = index_series_count(h->idx);
        c->barrier_done = 1;
    }
    for (;;) {
        if (c->phase == 1) {
            c->phase = 0;
            struct head_iter it;
            if ((rc = iter_open(&it, h, c->cur, &c->sc, INT64_MIN, INT64_MAX)) != 0)
                return rc;
            size_t n = 0;
            while ((rc = head_iter_next(&it)) == 1) {
                if (grow_arr((void **)&c->smp, &c->capsmp, n + 1, sizeof *c->smp) != 0) {
                    rc = TT_ENOMEM;
                    break;
                }
                c->smp[n].ref = c->cur->ref;
                c->smp[n].t_ms = it.t;
                c->smp[n].v = it.v;
                n++;
            }
            head_iter_release(&it);
            if (rc < 0)
                return rc;
            if (n == 0)
                continue;
            memset(item, 0, sizeof *item);
            item->kind = WAL_ITEM_SAMPLES;
            item->samples = c->smp;
            item->nsamples = n;
            return 1;
        }
        if (c->id >= c->count)
            return 0;
        struct memseries *s = get_series(h, c->id++);
        if (s == NULL || !atomic_load_explicit(&s->logged, memory_order_acquire))
            continue;
        if ((rc = index_series_labels(h->idx, s->id, &c->ls)) != 0)
            return rc;
        if (grow_arr((void **)&c->rl, &c->caprl, c->ls.n, sizeof *c->rl) != 0)
            return TT_ENOMEM;
        for (size_t j = 0; j < c->ls.n; j++) {
            c->rl[j].name.p = c->ls.v[j].name;
            c->rl[j].name.len = (uint32_t)strlen(c->ls.v[j].name);
            c->rl[j].value.p = c->ls.v[j].value;
            c->rl[j].value.len = (uint32_t)strlen(c->ls.v[j].value);
        }
        memset(item, 0, sizeof *item);
        item->kind = WAL_ITEM_SERIES;
        item->series.ref = s->ref;
        item->series.labels = c->rl;
        item->series.nlabels = c->ls.n;
        c->cur = s;
        c->phase = 1;
        return 1;
    }
}

/* truncate_series drops what s holds before before_t; returns samples dropped. */
static uint64_t truncate_series(struct memseries *s, struct scratch *x, int64_t before_t,
                                uint64_t *chunks)
{
    uint64_t dropped = 0;
    uint32_t off = 0, k = 0;
    while (k < s->nsealed && sent_max(s->sealed + off) < before_t) {
        const uint8_t *e = s->sealed + off;
        dropped += sealed_chunk_count(e + SENT_HDR, sent_len(e));
        off += SENT_HDR + sent_len(e);
        k++;
    }
    if (k > 0) {
        memmove(s->sealed, s->sealed + off, s->sealed_len - off);
        s->sealed_len -= off;
        s->nsealed -= k;
        x->d_bytes -= off;
        x->d_chunks -= k;
        *chunks += k;
        if (s->sealed_len == 0) {
            free(s->sealed);
            s->sealed = NULL;
        } else {
            uint8_t *p = realloc(s->sealed, s->sealed_len);
            if (p != NULL)
                s->sealed = p;
        }
    }
    if (s->nsealed == 0 && s->hopen && s->ht < before_t) {
        dropped += s->hcount;
        x->d_bytes -= (int64_t)s->hcap;
        x->d_chunks--;
        (*chunks)++;
        free(s->hdata);
        s->hdata = NULL;
        s->hcap = 0;
        s->hopen = 0;
    }
    size_t j = 0;
    while (j < s->ooo_n && s->ooo[j].t < before_t)
        j++;
    if (j > 0) {
        memmove(s->ooo, s->ooo + j, (s->ooo_n - j) * sizeof *s->ooo);
        s->ooo_n = (uint8_t)(s->ooo_n - j);
        dropped += j;
    }
    int64_t mn = INT64_MAX;
    if (s->nsealed > 0)
        mn = sent_min(s->sealed);
    else if (s->hopen)
        mn = head_min(s);
    if (s->ooo_n > 0 && s->ooo[0].t < mn)
        mn = s->ooo[0].t;
    s->min_t = mn;
    return dropped;
}

int head_truncate(struct head *h, int64_t before_t, struct head_truncate_stats *st, char *err,
                  size_t errlen)
{
    struct head_truncate_stats st0;
    struct scratch x;
    int rc = 0;
    if (st == NULL)
        st = &st0;
    memset(st, 0, sizeof *st);
    if (pthread_mutex_trylock(&h->trunc_mu) != 0)
        return TT_ESTATE;
    scratch_init(&x);
    uint32_t count = index_series_count(h->idx);
    int64_t mn = INT64_MAX;
    for (uint32_t id = 0; id < count; id++) {
        struct memseries *s = get_series(h, id);
        if (s == NULL)
            continue;
        pthread_mutex_t *mu = stripe(h, s);
        pthread_mutex_lock(mu);
        st->samples_dropped += truncate_series(s, &x, before_t, &st->chunks_dropped);
        if (s->min_t < mn)
            mn = s->min_t;
        pthread_mutex_unlock(mu);
    }
    scratch_publish(h, &x);
    scratch_release(&x);
    atomic_store(&h->min_t, mn);
    if (h->wal != NULL) {
        struct ckpt c;
        memset(&c, 0, sizeof c);
        c.h = h;
        labels_init(&c.ls);
        sealed_ctx_init(&c.sc, 0);
        rc = wal_checkpoint(h->wal, ckpt_next, &c, &st->ckpt, err, errlen);
        labels_release(&c.ls);
        free(c.rl);
        free(c.smp);
        sealed_ctx_release(&c.sc);
    }
    pthread_mutex_unlock(&h->trunc_mu);
    return rc;
}

void head_set_min_valid(struct head *h, int64_t t)
{
    /* Exclusive: no commit is between its checks and its apply. */
    pthread_rwlock_wrlock(&h->commit_rw);
    int64_t cur = atomic_load(&h->min_valid);
    if (t > cur)
        atomic_store(&h->min_valid, t);
    pthread_rwlock_unlock(&h->commit_rw);
}

int64_t head_min_valid(struct head *h)
{
    return atomic_load(&h->min_valid);
}

void head_stats(struct head *h, struct head_stats *st)
{
    memset(st, 0, sizeof *st);
    struct index_stats is;
    index_stats(h->idx, &is);
    st->series = is.series;
    st->samples_appended = atomic_load(&h->samples);
    st->ooo_accepted = atomic_load(&h->ooo_ok);
    st->ooo_rejected = atomic_load(&h->ooo_rej);
    st->duplicates = atomic_load(&h->dups);
    st->conflicts = atomic_load(&h->conflicts);
    st->commits = atomic_load(&h->commits);
    st->rollbacks = atomic_load(&h->rollbacks);
    int64_t c = atomic_load(&h->chunks), cb = atomic_load(&h->chunk_bytes);
    st->chunks = c > 0 ? (uint64_t)c : 0;
    st->chunk_bytes = cb > 0 ? (uint64_t)cb : 0;
    st->series_bytes = (uint64_t)atomic_load(&h->series_bytes) + sizeof *h;
    st->index_bytes = is.total_bytes;
    st->memory_bytes = st->chunk_bytes + st->series_bytes + st->index_bytes;
    st->min_t = atomic_load(&h->min_t);
    st->max_t = atomic_load(&h->max_t);
    if (h->wal != NULL)
        wal_get_stats(h->wal, &st->wal);
}
