/*
 * tt.c - libtelltale's lifecycle: tt_init/tt_shutdown/tt_flush, registration
 * of application threads, HLC stamping, statistics, and fork() safety.
 *
 * Invariants: tt__ctx is non-NULL exactly while the library is initialised; a
 * thread's struct tt_thread belongs to the generation (tt__gen) it was made
 * in, and a thread whose state is from an older generation re-registers; only
 * the flusher frees the state of a thread that exited while initialised.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "lib/tt_int.h"
#include "lib/config.h"
#include "lib/flush.h"
#include "core/clock.h"

struct tt_ctx *tt__ctx;
TT_TLS struct tt_thread *tt__self;
_Atomic uint32_t tt__gen;

/* Serialises tt_init/tt_shutdown against each other and against fork. */
static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;
static int thread_key_ok;

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)clock_monotonic_ns() ^ ((uint64_t)getpid() << 32);
    return seed;
}

/* FNV-1a, for the origin id. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* The origin names this process in every batch: "node\0service/pid", and its
 * id hashes that with the start time so a restarted process is a new origin. */
static void set_origin(struct tt_ctx *ctx)
{
    int n = snprintf(ctx->origin, sizeof ctx->origin, "%s%c%s/%ld", ctx->cfg.node, 0,
                     ctx->cfg.service, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof ctx->origin)
        n = (int)sizeof ctx->origin - 1;
    ctx->origin_len = (uint16_t)n;
    int64_t now = clock_realtime_ns();
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    h = fnv1a(h, ctx->origin, ctx->origin_len);
    h = fnv1a(h, &now, sizeof now);
    uint64_t r = random_seed();
    h = fnv1a(h, &r, sizeof r);
    ctx->origin_id = h ? h : 1;
    ctx->next_seq = 0;
}

static void thread_free(struct tt_thread *t)
{
    ring_release(&t->ring);
    free(t);
}

/* Called at thread exit (pthread key destructor). */
static void thread_exit(void *arg)
{
    struct tt_thread *t = arg;
    if (tt__self == t)
        tt__self = NULL;
    pthread_mutex_lock(&lifecycle_lock);
    struct tt_ctx *ctx = tt__ctx;
    int live = ctx && t->gen == atomic_load(&tt__gen);
    pthread_mutex_unlock(&lifecycle_lock);
    if (live) {
        /* The flusher drains what is left and frees it. */
        atomic_store_explicit(&t->exited, 1, memory_order_release);
        tt_flush_wake(ctx);
    } else {
        thread_free(t);
    }
}

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

static void process_init(void)
{
    thread_key_ok = pthread_key_create(&thread_key, thread_exit) == 0;
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

struct tt_thread *tt_thread_slow(struct tt_ctx *ctx)
{
    struct tt_thread *old = tt__self;
    uint32_t gen = atomic_load(&tt__gen);
    if (old && old->gen == gen)
        return old;
    if (old) {
        /* State from an instance that was shut down: nobody else holds it. */
        tt__self = NULL;
        thread_free(old);
    }
    struct tt_thread *t = NULL;
    if (posix_memalign((void **)&t, 64, sizeof *t) != 0)
        return NULL;
    memset(t, 0, sizeof *t);
    if (ring_init(&t->ring, ctx->cfg.thread_buffer_bytes) != 0) {
        free(t);
        return NULL;
    }
    t->gen = gen;
    t->tid = (pid_t)syscall(SYS_gettid);
    /* Any start of the Weyl sequence will do, as long as threads differ. */
    t->rng = random_seed() ^ ((uint64_t)t->tid << 17) ^ (uint64_t)(uintptr_t)t;
    metrics_thread_init(&t->metrics);
    pthread_mutex_lock(&ctx->threads_lock);
    t->next = ctx->threads;
    ctx->threads = t;
    pthread_mutex_unlock(&ctx->threads_lock);
    TT_CSTAT_ADD(ctx, threads, 1);
    if (thread_key_ok)
        pthread_setspecific(thread_key, t);
    tt__self = t;
    return t;
}

/* Next stamp after x without letting the counter carry into l. */
static inline tt_hlc hlc_next(struct tt_ctx *ctx, tt_hlc x)
{
    if (__builtin_expect((x & 0xffffu) == 0xffffu, 0)) {
        atomic_fetch_add_explicit(&ctx->hlc.overflows, 1, memory_order_relaxed);
        return x;
    }
    return x + 1;
}

tt_hlc tt_stamp_local(struct tt_ctx *ctx, struct tt_thread *t, int64_t now_ns)
{
    tt_hlc s = (tt_hlc)((uint64_t)now_ns / (uint64_t)TT_NS_PER_MS) << 16;
    tt_hlc g = atomic_load_explicit(&ctx->hlc.state, memory_order_relaxed);
    tt_hlc after = t->last_hlc > g ? t->last_hlc : g;
    if (after >= s)
        s = hlc_next(ctx, after);
    t->last_hlc = s;
    return s;
}

tt_hlc tt_stamp_global(struct tt_ctx *ctx, struct tt_thread *t, int64_t now_ns)
{
    /* The thread's own last stamp is folded into the shared clock in the same
     * CAS, so the global tick is after it. */
    tt_hlc next = hlc_now_after(&ctx->hlc, t->last_hlc, (uint64_t)now_ns / (uint64_t)TT_NS_PER_MS);
    t->last_hlc = next;
    return next;
}

tt_hlc tt_hlc_now(void)
{
    struct tt_thread *t = tt_thread_get();
    if (!t)
        return 0;
    return tt_stamp_global(tt__ctx, t, clock_realtime_ns());
}

static int start_instance(struct tt_ctx *ctx, char *err, size_t errlen)
{
    int rc;
    set_origin(ctx);
    hlc_init(&ctx->hlc, &clock_system, ctx->cfg.hlc_max_offset_ms);
    rc = spool_open(&ctx->spool, ctx->cfg.spool_dir, ctx->origin_id, ctx->cfg.spool_max_bytes,
                    ctx->cfg.segment_bytes, ctx->cfg.fsync_segments, err, errlen);
    if (rc != 0)
        return rc;
    rc = tt_flush_start(ctx);
    if (rc != 0)
        spool_close(&ctx->spool);
    return rc;
}

static void sampling_setup(struct tt_ctx *ctx)
{
    double r = ctx->cfg.enabled ? ctx->cfg.sample_ratio : 0.0;
    if (!(r > 0.0)) {
        ctx->sample_all = 0;
        ctx->sample_threshold = 0;
    } else if (r >= 1.0) {
        ctx->sample_all = 1;
        ctx->sample_threshold = UINT64_MAX;
    } else {
        ctx->sample_all = 0;
        ctx->sample_threshold = (uint64_t)(r * 18446744073709551616.0);
    }
    double rate = ctx->cfg.sample_max_traces_per_s;
    ctx->rl_interval_ns = rate > 0 ? (int64_t)(1e9 / rate) : 0;
    if (ctx->rl_interval_ns == 0 && rate > 0)
        ctx->rl_interval_ns = 1;
    atomic_store(&ctx->rl_next_ns, 0);
    ctx->have_filters = ctx->cfg.span_allow[0] || ctx->cfg.span_deny[0];
}

int tt_init(const tt_config *cfg)
{
    char err[256] = "";
    int rc = 0;
    pthread_once(&process_once, process_init);
    pthread_mutex_lock(&lifecycle_lock);
    if (tt__ctx) {
        pthread_mutex_unlock(&lifecycle_lock);
        return TT_ESTATE;
    }
    struct tt_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        pthread_mutex_unlock(&lifecycle_lock);
        return TT_ENOMEM;
    }
    if (cfg) {
        ctx->cfg = *cfg;
        rc = config_validate(&ctx->cfg, err, sizeof err);
        if (rc != 0)
            goto fail;
    } else {
        tt_config_default(&ctx->cfg);
        rc = tt_config_from_env(&ctx->cfg, err, sizeof err);
        if (rc != 0)
            goto fail;
    }
    if (ctx->cfg.thread_buffer_bytes < 4096)
        ctx->cfg.thread_buffer_bytes = 4096;
    if (ctx->cfg.flush_interval_ms == 0)
        ctx->cfg.flush_interval_ms = 1000;
    sampling_setup(ctx);
    pthread_mutex_init(&ctx->threads_lock, NULL);
    pthread_mutex_init(&ctx->flush_lock, NULL);
    pthread_cond_init(&ctx->flush_cond, NULL);
    pthread_cond_init(&ctx->flushed_cond, NULL);
    rc = metrics_init(&ctx->metrics);
    if (rc != 0)
        goto fail_sync;
    rc = start_instance(ctx, err, sizeof err);
    if (rc != 0) {
        metrics_release(&ctx->metrics);
        goto fail_sync;
    }
    atomic_fetch_add(&tt__gen, 1);
    atomic_store_explicit((_Atomic(struct tt_ctx *) *)&tt__ctx, ctx, memory_order_release);
    pthread_mutex_unlock(&lifecycle_lock);
    return 0;
fail_sync:
    pthread_cond_destroy(&ctx->flushed_cond);
    pthread_cond_destroy(&ctx->flush_cond);
    pthread_mutex_destroy(&ctx->flush_lock);
    pthread_mutex_destroy(&ctx->threads_lock);
fail:
    free(ctx);
    pthread_mutex_unlock(&lifecycle_lock);
    return rc;
}

void tt_shutdown(void)
{
    pthread_mutex_lock(&lifecycle_lock);
    struct tt_ctx *ctx = tt__ctx;
    if (!ctx) {
        pthread_mutex_unlock(&lifecycle_lock);
        return;
    }
    /* Stop and drain: the flusher writes out every ring, the metrics and the
     * last loss report, then exits. */
    tt_flush_stop(ctx);
    atomic_store_explicit((_Atomic(struct tt_ctx *) *)&tt__ctx, NULL, memory_order_release);
    atomic_fetch_add(&tt__gen, 1);
    spool_close(&ctx->spool);
    /* Threads still alive keep their (now closed) state until they exit or
     * record again; their later records are dropped. The calling thread's
     * and the exited threads' state is freed here. */
    struct tt_thread *t = ctx->threads, *next;
    for (; t; t = next) {
        next = t->next;
        metrics_thread_release(&ctx->metrics, &t->metrics);
        if (t == tt__self || atomic_load(&t->exited)) {
            if (t == tt__self) {
                tt__self = NULL;
                if (thread_key_ok)
                    pthread_setspecific(thread_key, NULL);
            }
            thread_free(t);
        } else {
            ring_close(&t->ring);
        }
    }
    metrics_release(&ctx->metrics);
    pthread_cond_destroy(&ctx->flushed_cond);
    pthread_cond_destroy(&ctx->flush_cond);
    pthread_mutex_destroy(&ctx->flush_lock);
    pthread_mutex_destroy(&ctx->threads_lock);
    free(ctx);
    pthread_mutex_unlock(&lifecycle_lock);
}

int tt_flush(void)
{
    struct tt_ctx *ctx =
        atomic_load_explicit((_Atomic(struct tt_ctx *) *)&tt__ctx, memory_order_acquire);
    if (!ctx)
        return TT_ESTATE;
    return tt_flush_wait(ctx);
}

void tt_stats_get(tt_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&lifecycle_lock);
    struct tt_ctx *ctx = tt__ctx;
    if (!ctx) {
        pthread_mutex_unlock(&lifecycle_lock);
        return;
    }
#define C(f) atomic_load_explicit(&ctx->counters.f, memory_order_relaxed)
    out->spans_recorded = C(spans_recorded);
    out->spans_unsampled = C(spans_unsampled);
    out->spans_filtered = C(spans_filtered);
    out->records_buffered = C(records_buffered);
    out->records_dropped_full = C(records_dropped_full);
    out->records_flushed = C(records_flushed);
    out->records_dropped_spool = C(records_dropped_spool);
    out->batches_written = C(batches_written);
    out->bytes_written = C(bytes_written);
    out->segments_dropped = C(segments_dropped);
    out->write_errors = C(write_errors);
    out->bad_input = C(bad_input);
    out->threads = C(threads);
    out->flushes = C(flushes);
#undef C
    pthread_mutex_lock(&ctx->threads_lock);
    for (struct tt_thread *t = ctx->threads; t; t = t->next) {
#define T(f) atomic_load_explicit(&t->stats.f, memory_order_relaxed)
        out->spans_recorded += T(spans_recorded);
        out->spans_unsampled += T(spans_unsampled);
        out->spans_filtered += T(spans_filtered);
        out->records_buffered += T(records_buffered);
        out->records_dropped_full += T(records_dropped_full);
#undef T
    }
    pthread_mutex_unlock(&ctx->threads_lock);
    out->hlc_rejected = atomic_load(&ctx->hlc.rejected);
    out->hlc_overflows = atomic_load(&ctx->hlc.overflows);
    pthread_mutex_unlock(&lifecycle_lock);
}

/* fork(): the child has only the forking thread. It must not write the
 * parent's records again nor append to the parent's segments, so it becomes a
 * new origin with empty buffers and its own flusher. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&lifecycle_lock);
    struct tt_ctx *ctx = tt__ctx;
    if (ctx) {
        /* Lock order everywhere: lifecycle, flush, metrics, threads. */
        pthread_mutex_lock(&ctx->flush_lock);
        pthread_mutex_lock(&ctx->metrics.lock);
        pthread_mutex_lock(&ctx->threads_lock);
    }
}

static void atfork_parent(void)
{
    struct tt_ctx *ctx = tt__ctx;
    if (ctx) {
        pthread_mutex_unlock(&ctx->threads_lock);
        pthread_mutex_unlock(&ctx->metrics.lock);
        pthread_mutex_unlock(&ctx->flush_lock);
    }
    pthread_mutex_unlock(&lifecycle_lock);
}

static void atfork_child(void)
{
    pthread_mutex_init(&lifecycle_lock, NULL);
    struct tt_ctx *ctx = tt__ctx;
    if (!ctx)
        return;
    pthread_mutex_init(&ctx->threads_lock, NULL);
    pthread_mutex_init(&ctx->flush_lock, NULL);
    pthread_cond_init(&ctx->flush_cond, NULL);
    pthread_cond_init(&ctx->flushed_cond, NULL);
    metrics_atfork_child(&ctx->metrics);
    /* Only this thread survives: drop the others' state (their records are
     * the parent's to write) and empty our own ring likewise. */
    struct tt_thread *t = ctx->threads, *next, *self = tt__self;
    ctx->threads = NULL;
    for (; t; t = next) {
        next = t->next;
        if (t == self) {
            uint64_t head = atomic_load(&t->ring.head);
            atomic_store(&t->ring.tail, head);
            t->ring.cached_tail = head;
            t->next = NULL;
            ctx->threads = t;
        } else {
            metrics_thread_release(&ctx->metrics, &t->metrics);
            thread_free(t);
        }
    }
    tt_flush_forget(ctx);
    spool_forget(&ctx->spool);
    set_origin(ctx);
    char err[256];
    if (spool_open(&ctx->spool, ctx->cfg.spool_dir, ctx->origin_id, ctx->cfg.spool_max_bytes,
                   ctx->cfg.segment_bytes, ctx->cfg.fsync_segments, err, sizeof err) != 0 ||
        tt_flush_start(ctx) != 0) {
        /* No spool in the child: records are dropped and counted. */
        TT_CSTAT_ADD(ctx, write_errors, 1);
    }
}
