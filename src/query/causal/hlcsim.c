/*
 * hlcsim.c - the HLC-sync experiment (see hlcsim.h for the model).
 *
 * One run keeps per node its HLC, offset and running a_i, and the messages in
 * flight in a ring of W = dmax + 1 slots (a message sent at t with delay d >= 1
 * lands in slot (t + d) % W, never the current one). Draws per node and tick
 * are fixed (event, send, target+delay), whatever the outcome, so runs of
 * points that differ only in ticks, pm or a constant delay share their
 * randomness. hlcsim_eval cuts every point into chunks of CHUNK runs; threads
 * take chunks from an atomic counter and each chunk's sums land in their own
 * slot, added up in chunk order afterwards: the thread count never changes a
 * bit of the result.
 */
#include "query/causal/hlcsim.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/errmsg.h"

#define CHUNK 8u

void hlcsim_defaults(struct hlcsim_params *p)
{
    p->nodes = 5;
    p->skew = 50;
    p->dmin = 3;
    p->dmax = 10;
    p->pe = 0.4;
    p->pm = 0.1;
    p->ticks = 1000;
    p->runs = 2000;
    p->seed = 1;
}

int hlcsim_check(const struct hlcsim_params *p, char *err, size_t errlen)
{
    if (p->nodes < 2 || p->nodes > HLCSIM_MAX_NODES) {
        tt_set_err(err, errlen, "--nodes %" PRIu32 ": must be 2..%u", p->nodes, HLCSIM_MAX_NODES);
        return TT_EINVAL;
    }
    if (p->skew > HLCSIM_MAX_SKEW) {
        tt_set_err(err, errlen, "--skew %" PRIu64 ": must be 0..%" PRIu64, p->skew,
                   HLCSIM_MAX_SKEW);
        return TT_EINVAL;
    }
    if (p->dmin < 1 || p->dmin > HLCSIM_MAX_DELAY) {
        tt_set_err(err, errlen, "--dmin %" PRIu32 ": must be 1..%u (a message takes a tick)",
                   p->dmin, HLCSIM_MAX_DELAY);
        return TT_EINVAL;
    }
    if (p->dmax < p->dmin || p->dmax > HLCSIM_MAX_DELAY) {
        tt_set_err(err, errlen, "--dmax %" PRIu32 ": must be --dmin (%" PRIu32 ")..%u", p->dmax,
                   p->dmin, HLCSIM_MAX_DELAY);
        return TT_EINVAL;
    }
    if (!(p->pe >= 0.0 && p->pe <= 1.0)) {
        tt_set_err(err, errlen, "--pe %g: must be a probability, 0..1", p->pe);
        return TT_EINVAL;
    }
    if (!(p->pm >= 0.0 && p->pm <= 1.0)) {
        tt_set_err(err, errlen, "--pm %g: must be a probability, 0..1", p->pm);
        return TT_EINVAL;
    }
    if (p->ticks < 1 || p->ticks > HLCSIM_MAX_TICKS) {
        tt_set_err(err, errlen, "--ticks %" PRIu64 ": must be 1..%" PRIu64, p->ticks,
                   HLCSIM_MAX_TICKS);
        return TT_EINVAL;
    }
    if (p->runs < 1 || p->runs > HLCSIM_MAX_RUNS) {
        tt_set_err(err, errlen, "--runs %" PRIu32 ": must be 1..%u", p->runs, HLCSIM_MAX_RUNS);
        return TT_EINVAL;
    }
    return 0;
}

struct hlcsim_stamp hlcsim_tick(struct hlcsim_stamp cur, uint64_t pt)
{
    struct hlcsim_stamp s;
    s.l = cur.l > pt ? cur.l : pt;
    s.c = s.l == cur.l ? cur.c + 1 : 0;
    return s;
}

struct hlcsim_stamp hlcsim_recv(struct hlcsim_stamp cur, struct hlcsim_stamp m, uint64_t pt)
{
    struct hlcsim_stamp s;
    s.l = cur.l > m.l ? cur.l : m.l;
    if (pt > s.l)
        s.l = pt;
    if (s.l == cur.l && s.l == m.l)
        s.c = (cur.c > m.c ? cur.c : m.c) + 1;
    else if (s.l == cur.l)
        s.c = cur.c + 1;
    else if (s.l == m.l)
        s.c = m.c + 1;
    else
        s.c = 0;
    return s;
}

/* ---- randomness: splitmix64, one stream per (seed, run) ----------------- */

static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* unif: a double uniform in [0, 1) from 53 bits. */
static double unif(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

/* below: a 32-bit draw scaled to [0, n) (multiply-high; n <= 2^32). */
static uint64_t below(uint32_t x, uint64_t n)
{
    return ((uint64_t)x * n) >> 32;
}

/* ---- one run ------------------------------------------------------------- */

struct msg {
    uint32_t dst;
    struct hlcsim_stamp st;
};

struct slot {
    struct msg *m;
    size_t n, cap;
};

struct node {
    struct hlcsim_stamp hlc;
    uint64_t off;
    uint64_t align; /* a_i so far: max (l - pt) over logged events */
};

struct hlcsim_ws {
    struct node *nodes;
    size_t nodes_cap;
    struct slot *slots;
    size_t slots_cap;
};

struct hlcsim_ws *hlcsim_ws_new(void)
{
    return calloc(1, sizeof(struct hlcsim_ws));
}

void hlcsim_ws_free(struct hlcsim_ws *ws)
{
    if (ws == NULL)
        return;
    for (size_t i = 0; i < ws->slots_cap; i++)
        free(ws->slots[i].m);
    free(ws->slots);
    free(ws->nodes);
    free(ws);
}

/* ws_fit makes room for n nodes and w empty slots. */
static int ws_fit(struct hlcsim_ws *ws, size_t n, size_t w)
{
    if (ws->nodes_cap < n) {
        struct node *nn = realloc(ws->nodes, n * sizeof(*nn));
        if (nn == NULL)
            return TT_ENOMEM;
        ws->nodes = nn;
        ws->nodes_cap = n;
    }
    if (ws->slots_cap < w) {
        struct slot *ns = realloc(ws->slots, w * sizeof(*ns));
        if (ns == NULL)
            return TT_ENOMEM;
        memset(ns + ws->slots_cap, 0, (w - ws->slots_cap) * sizeof(*ns));
        ws->slots = ns;
        ws->slots_cap = w;
    }
    for (size_t i = 0; i < w; i++)
        ws->slots[i].n = 0;
    return 0;
}

static int slot_push(struct slot *s, uint32_t dst, struct hlcsim_stamp st)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct msg *m = realloc(s->m, cap * sizeof(*m));
        if (m == NULL)
            return TT_ENOMEM;
        s->m = m;
        s->cap = cap;
    }
    s->m[s->n].dst = dst;
    s->m[s->n].st = st;
    s->n++;
    return 0;
}

static uint64_t run_seed(uint64_t seed, uint32_t run)
{
    uint64_t s = seed;
    uint64_t a = sm64(&s);
    s = a ^ ((uint64_t)run + 1) * UINT64_C(0xd1b54a32d192ed03);
    return sm64(&s);
}

int hlcsim_run(struct hlcsim_ws *ws, const struct hlcsim_params *p, uint32_t run,
               struct hlcsim_run_out *out, uint64_t *offset, uint64_t *align)
{
    const uint32_t n = p->nodes;
    const size_t w = (size_t)p->dmax + 1;
    const uint64_t drange = (uint64_t)p->dmax - p->dmin + 1;
    uint64_t rs = run_seed(p->seed, run);
    int rc = ws_fit(ws, n, w);
    if (rc != 0)
        return rc;
    struct node *nd = ws->nodes;
    for (uint32_t i = 0; i < n; i++) {
        nd[i].hlc.l = 0;
        nd[i].hlc.c = 0;
        nd[i].align = 0;
        if (i == 0) {
            nd[i].off = 0;
        } else if (i == n - 1) {
            nd[i].off = p->skew;
        } else {
            /* uniform integer in [0, skew] */
            uint64_t o = (uint64_t)(unif(sm64(&rs)) * ((double)p->skew + 1.0));
            nd[i].off = o > p->skew ? p->skew : o;
        }
    }
    for (uint64_t t = 0; t < p->ticks; t++) {
        struct slot *due = &ws->slots[t % w];
        for (size_t k = 0; k < due->n; k++) {
            struct node *d = &nd[due->m[k].dst];
            d->hlc = hlcsim_recv(d->hlc, due->m[k].st, t + d->off);
        }
        due->n = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct node *me = &nd[i];
            uint64_t pt = t + me->off;
            double ue = unif(sm64(&rs));
            double um = unif(sm64(&rs));
            uint64_t td = sm64(&rs);
            if (ue < p->pe) {
                me->hlc = hlcsim_tick(me->hlc, pt);
                if (me->hlc.l - pt > me->align)
                    me->align = me->hlc.l - pt;
            }
            if (um < p->pm) {
                uint32_t dst = (uint32_t)below((uint32_t)(td >> 32), n - 1);
                uint64_t delay = p->dmin + below((uint32_t)td, drange);
                if (dst >= i)
                    dst++;
                me->hlc = hlcsim_tick(me->hlc, pt);
                if (t + delay < p->ticks) {
                    rc = slot_push(&ws->slots[(t + delay) % w], dst, me->hlc);
                    if (rc != 0)
                        return rc;
                }
            }
        }
    }
    out->err_sum = 0;
    out->floor_sum = 0;
    out->counted = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t behind = p->skew - nd[i].off;
        if (offset != NULL)
            offset[i] = nd[i].off;
        if (align != NULL)
            align[i] = nd[i].align;
        if (behind == 0)
            continue; /* the fastest clock (or one tied with it) */
        out->err_sum += 1.0 - (double)nd[i].align / (double)behind;
        out->floor_sum += p->dmin >= behind ? 1.0 : (double)p->dmin / (double)behind;
        out->counted++;
    }
    return 0;
}

/* ---- many points over threads ------------------------------------------- */

struct task {
    size_t point;
    uint32_t first, count;
};

struct eval {
    const struct hlcsim_params *pts;
    struct task *tasks;
    struct hlcsim_run_out *sums; /* one per task */
    size_t ntasks;
    atomic_size_t next;
    atomic_int rc;
};

static void *worker(void *arg)
{
    struct eval *ev = arg;
    struct hlcsim_ws *ws = hlcsim_ws_new();
    if (ws == NULL) {
        atomic_store(&ev->rc, TT_ENOMEM);
        return NULL;
    }
    for (;;) {
        if (atomic_load(&ev->rc) != 0)
            break;
        size_t k = atomic_fetch_add(&ev->next, 1);
        if (k >= ev->ntasks)
            break;
        const struct task *tk = &ev->tasks[k];
        struct hlcsim_run_out sum = { 0, 0, 0 };
        for (uint32_t r = tk->first; r < tk->first + tk->count; r++) {
            struct hlcsim_run_out one;
            int rc = hlcsim_run(ws, &ev->pts[tk->point], r, &one, NULL, NULL);
            if (rc != 0) {
                atomic_store(&ev->rc, rc);
                break;
            }
            sum.err_sum += one.err_sum;
            sum.floor_sum += one.floor_sum;
            sum.counted += one.counted;
        }
        ev->sums[k] = sum;
    }
    hlcsim_ws_free(ws);
    return NULL;
}

int hlcsim_eval(const struct hlcsim_params *pts, size_t npts, unsigned threads,
                struct hlcsim_result *res, char *err, size_t errlen)
{
    struct eval ev;
    pthread_t *tids = NULL;
    unsigned started = 0;
    int rc = 0;
    size_t ntasks = 0;

    memset(&ev, 0, sizeof(ev));
    for (size_t k = 0; k < npts; k++)
        ntasks += (pts[k].runs + CHUNK - 1) / CHUNK;
    ev.pts = pts;
    ev.ntasks = ntasks;
    atomic_init(&ev.next, 0);
    atomic_init(&ev.rc, 0);
    ev.tasks = calloc(ntasks ? ntasks : 1, sizeof(*ev.tasks));
    ev.sums = calloc(ntasks ? ntasks : 1, sizeof(*ev.sums));
    if (ev.tasks == NULL || ev.sums == NULL) {
        rc = TT_ENOMEM;
        tt_set_err(err, errlen, "out of memory for %zu tasks", ntasks);
        goto out;
    }
    size_t t = 0;
    for (size_t k = 0; k < npts; k++)
        for (uint32_t r = 0; r < pts[k].runs; r += CHUNK) {
            ev.tasks[t].point = k;
            ev.tasks[t].first = r;
            ev.tasks[t].count = pts[k].runs - r < CHUNK ? pts[k].runs - r : CHUNK;
            t++;
        }
    if (threads > 1) {
        tids = calloc(threads - 1, sizeof(*tids));
        if (tids == NULL) {
            rc = TT_ENOMEM;
            tt_set_err(err, errlen, "out of memory for %u threads", threads);
            goto out;
        }
        for (; started < threads - 1; started++)
            if (pthread_create(&tids[started], NULL, worker, &ev) != 0) {
                /* The threads that did start and this one finish the work. */
                break;
            }
    }
    worker(&ev);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    rc = atomic_load(&ev.rc);
    if (rc != 0) {
        tt_set_err(err, errlen, "out of memory while simulating");
        goto out;
    }
    t = 0;
    for (size_t k = 0; k < npts; k++) {
        struct hlcsim_run_out sum = { 0, 0, 0 };
        for (uint32_t r = 0; r < pts[k].runs; r += CHUNK, t++) {
            sum.err_sum += ev.sums[t].err_sum;
            sum.floor_sum += ev.sums[t].floor_sum;
            sum.counted += ev.sums[t].counted;
        }
        res[k].counted = sum.counted;
        res[k].error = sum.counted ? sum.err_sum / (double)sum.counted : 0.0;
        res[k].floor = sum.counted ? sum.floor_sum / (double)sum.counted : 0.0;
    }
out:
    free(tids);
    free(ev.tasks);
    free(ev.sums);
    return rc;
}

int hlcsim_json(const struct hlcsim_params *p, const struct hlcsim_result *r, char *out, size_t cap)
{
    int n = snprintf(
        out, cap,
        "{\"nodes\":%" PRIu32 ",\"skew\":%" PRIu64 ",\"dmin\":%" PRIu32 ",\"dmax\":%" PRIu32
        ",\"pe\":%.15g,\"pm\":%.15g,\"ticks\":%" PRIu64 ",\"runs\":%" PRIu32 ",\"error\":%.6f}",
        p->nodes, p->skew, p->dmin, p->dmax, p->pe, p->pm, p->ticks, p->runs, r->error);
    if (n < 0 || (size_t)n >= cap)
        return TT_ETOOBIG;
    return n;
}
