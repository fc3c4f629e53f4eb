/*
 * client.c - microbenchmarks of libtelltale's hot path (bench/run client).
 *
 * Usage: client [--quick] [--json] [--spool DIR]
 *
 * Each figure is the median over several repetitions of a timed loop (the
 * thread's CPU time around the whole loop, divided by its iterations: the
 * machine is shared, and time spent preempted by other processes is not the
 * library's), after an untimed warm-up. All loops run round robin, one
 * repetition of each in turn, so drifts hit every figure alike. The library
 * runs as in production (its flusher thread included), spooling to DIR
 * (default $BENCH_TMP/client-spool), with a per-thread buffer large enough to
 * hold one repetition's records, prefaulted and written through once; the
 * buffers are flushed between repetitions, outside the timing, so no record
 * is dropped (drops are counted and reported as the figure records_dropped).
 *
 * Figures (ns per operation unless said):
 *   span_floor_ns        the physical floor of recording a span: two
 *                        CLOCK_REALTIME reads and one 64-byte store into a
 *                        thread-owned ring of the library's buffer size that
 *                        advances and wraps, in a noinline function
 *   span_sampled_ns      tt_span_start + tt_span_end, no attributes, ratio 1
 *   span_unsampled_ns    the same with sample ratio 0 (own process, forked)
 *   counter_add_ns, histogram_observe_ns, event_kv3_ns (tt_event, a short
 *   message and 3 key/values), state_set_ns (tt_state_set_int)
 *   inject_ns, extract_ns   tt_inject of a sampled span, tt_extract of its
 *                        headers (both paid per call whether sampled or not)
 *   spans_2threads_speedup  spans per wall-clock second of 2 threads over 1
 *                        thread, each in a tight span loop for a fixed
 *                        window; spans_2threads_speedup_cpu the same per
 *                        second of the threads' CPU time (meaningful when
 *                        other processes keep a CPU busy); the two rates
 *                        spans_1thread_per_s and spans_2threads_per_s
 * Output: one figure a line; with --json one JSON object a line as in
 * BENCH.md. Exit status 0 when the benchmark ran, whatever the figures.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "telltale.h"

#define NOINLINE __attribute__((noinline))

#define MT_THREADS  2
#define HIST_VALUES 1024
#define MAX_REPS    15
#define NFIGURES    16

/* Run parameters. */
struct params {
    int quick, json;
    uint64_t iters;     /* per repetition, for ops that record nothing */
    uint64_t rec_iters; /* per repetition, for ops that write records */
    int reps;
    int64_t mt_window_ns; /* time each thread loops in the 2-thread test */
    uint32_t ring_bytes;  /* library thread buffer and floor ring */
    char spool[TT_PATH_MAX];
};

/* What the timed loops operate on. */
struct loop_arg {
    struct floor_ring *floor;
    tt_counter *counter;
    tt_histogram *hist;
    const double *hist_values; /* HIST_VALUES of them */
    const tt_span *span;       /* a sampled span to inject */
    const tt_headers *headers; /* headers to extract */
};

struct floor_ring {
    uint8_t *buf;
    uint64_t mask;
    uint64_t head;
};

struct figure {
    const char *name;
    double value;
    const char *unit;
    double vs_floor;    /* 0: none */
    const char *target; /* text mode only; NULL: none */
    int pass;
};

struct report {
    struct figure fig[NFIGURES];
    int n;
};

typedef void (*loop_fn)(const struct loop_arg *a, uint64_t n);

/* ---- helpers --------------------------------------------------------------- */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This thread's CPU time: time spent preempted by other processes (the
 * machine is shared) is not counted, unlike with the monotonic clock. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Records dropped because a thread buffer was full (the spool's size cap
 * may drop old segments of this run too; that is not the hot path's loss). */
static uint64_t dropped_now(void)
{
    tt_stats st;
    tt_stats_get(&st);
    return st.records_dropped_full;
}

static void add_figure(struct report *r, const char *name, double value, const char *unit,
                       double vs_floor, const char *target, int pass)
{
    if (r->n >= NFIGURES)
        return;
    r->fig[r->n++] = (struct figure){ name, value, unit, vs_floor, target, pass };
}

/* ---- the timed loops ---------------------------------------------------------- */

/* floor_record is what recording a span cannot do without: read the clock at
 * start and end and store one cache line of record into a per-thread ring. */
static NOINLINE void floor_record(struct floor_ring *r, uint64_t i)
{
    struct timespec a, b;
    clock_gettime(CLOCK_REALTIME, &a);
    clock_gettime(CLOCK_REALTIME, &b);
    uint64_t *p = (uint64_t *)(r->buf + (r->head & r->mask));
    p[0] = 64;
    p[1] = i;
    p[2] = i ^ 0x9e3779b97f4a7c15ull;
    p[3] = (uint64_t)a.tv_sec * 1000000000u + (uint64_t)a.tv_nsec;
    p[4] = (uint64_t)b.tv_sec * 1000000000u + (uint64_t)b.tv_nsec;
    p[5] = i + 1;
    p[6] = 0;
    p[7] = 0x6863746162; /* a short name */
    r->head += 64;
}

static NOINLINE void loop_floor(const struct loop_arg *a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        floor_record(a->floor, i);
}

static NOINLINE void loop_span(const struct loop_arg *a, uint64_t n)
{
    (void)a;
    for (uint64_t i = 0; i < n; i++) {
        tt_span sp;
        tt_span_start(&sp, "bench.span", TT_SPAN_INTERNAL, NULL);
        tt_span_end(&sp);
    }
}

static NOINLINE void loop_counter(const struct loop_arg *a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        tt_counter_add(a->counter, 1.0);
}

static NOINLINE void loop_hist(const struct loop_arg *a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        tt_histogram_observe(a->hist, a->hist_values[i & (HIST_VALUES - 1)]);
}

static NOINLINE void loop_event(const struct loop_arg *a, uint64_t n)
{
    (void)a;
    for (uint64_t i = 0; i < n; i++) {
        tt_kv kv[3] = { TT_STR("user", "alice"), TT_INT("items", (int64_t)i),
                        TT_DOUBLE("ratio", 0.5) };
        tt_event(TT_SEV_INFO, "bench.event", "cache miss", kv, 3);
    }
}

static NOINLINE void loop_state(const struct loop_arg *a, uint64_t n)
{
    (void)a;
    for (uint64_t i = 0; i < n; i++)
        tt_state_set_int("bench", "counter", (int64_t)i);
}

static NOINLINE void loop_inject(const struct loop_arg *a, uint64_t n)
{
    tt_headers h;
    for (uint64_t i = 0; i < n; i++)
        tt_inject(a->span, &h);
}

static NOINLINE void loop_extract(const struct loop_arg *a, uint64_t n)
{
    tt_span_context ctx;
    for (uint64_t i = 0; i < n; i++)
        tt_extract(a->headers->traceparent, a->headers->tracestate, &ctx);
}

/* One microbenchmark: a loop, its iterations per repetition, whether the
 * library's buffers are flushed before each repetition (untimed), and the
 * ns per iteration of each timed repetition. */
struct job {
    loop_fn fn;
    uint64_t n;
    int flush;
    double v[MAX_REPS];
    double median_ns;
};

/* measure_jobs runs one untimed then p->reps timed repetitions of every job,
 * round robin, so that a machine's drifts (frequency, neighbours) hit every
 * job alike, and sets each job's median. */
static void measure_jobs(const struct params *p, struct job *jobs, int njobs,
                         const struct loop_arg *a)
{
    for (int r = -1; r < p->reps; r++) {
        for (int k = 0; k < njobs; k++) {
            struct job *j = &jobs[k];
            if (j->flush)
                tt_flush();
            int64_t t0 = cpu_ns();
            j->fn(a, j->n);
            int64_t dt = cpu_ns() - t0;
            if (r >= 0)
                j->v[r] = (double)dt / (double)j->n;
        }
    }
    for (int k = 0; k < njobs; k++)
        jobs[k].median_ns = median(jobs[k].v, p->reps);
}

/* warm_cpu keeps the CPU busy for ms milliseconds: a virtual CPU fresh from
 * idle runs measurably slower for its first tens of milliseconds. */
static void warm_cpu(int64_t ms)
{
    int64_t t0 = mono_ns();
    while (mono_ns() - t0 < ms * 1000000) {
    }
}

/* prefault makes the calling thread's ring resident: page faults are a
 * one-time cost of a buffer's life, not of a record. Writes spans until more
 * than the ring's size went through it, flushing in between. */
static void prefault(const struct params *p)
{
    uint64_t span_bytes_min = 72; /* a span entry with a short name */
    uint64_t total = 0, chunk = p->rec_iters;
    while (total * span_bytes_min < (uint64_t)p->ring_bytes + p->ring_bytes / 4) {
        loop_span(NULL, chunk);
        total += chunk;
        tt_flush();
    }
}

/* ---- library set-up ------------------------------------------------------------- */

static int start_library(const struct params *p, double ratio)
{
    tt_config cfg;
    char err[256] = "";
    tt_config_default(&cfg);
    snprintf(cfg.service, sizeof(cfg.service), "bench-client");
    int rc = tt_config_from_env(&cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "client: %s\n", err[0] ? err : tt_strerror(rc));
        return rc;
    }
    memcpy(cfg.spool_dir, p->spool, sizeof(cfg.spool_dir));
    cfg.enabled = 1;
    cfg.sample_ratio = ratio;
    cfg.sample_max_traces_per_s = 0;
    cfg.min_span_duration_ns = 0;
    cfg.span_allow[0] = '\0';
    cfg.span_deny[0] = '\0';
    cfg.thread_buffer_bytes = p->ring_bytes;
    cfg.flush_interval_ms = 100;
    cfg.spool_max_bytes = 1ull << 30;
    cfg.fsync_segments = 0;
    rc = tt_init(&cfg);
    if (rc < 0)
        fprintf(stderr, "client: tt_init(%s): %s\n", cfg.spool_dir, tt_strerror(rc));
    return rc;
}

/* unsampled_in_child measures span_unsampled_ns in a forked process with a
 * library started at sample ratio 0 (the parent has not started its own yet).
 * Returns the figure or a negative value on failure. */
static double unsampled_in_child(const struct params *p)
{
    int fds[2];
    double v = -1;
    if (pipe(fds) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        double r = -1;
        if (start_library(p, 0.0) == 0) {
            struct job j = { .fn = loop_span, .n = p->iters, .flush = 0 };
            measure_jobs(p, &j, 1, NULL);
            r = j.median_ns;
            tt_stats st;
            tt_stats_get(&st);
            if (st.spans_recorded != 0) {
                fprintf(stderr, "client: %llu spans recorded at sample ratio 0\n",
                        (unsigned long long)st.spans_recorded);
                r = -1;
            }
            tt_shutdown();
        }
        ssize_t w = write(fds[1], &r, sizeof(r));
        _exit(w == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], &v, sizeof(v));
    if (got != (ssize_t)sizeof(v))
        v = -1;
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return v;
}

/* ---- 2-thread scaling ---------------------------------------------------------- */

struct mt {
    const struct params *p;
    pthread_barrier_t start, done;
    int active; /* threads that run this round; 0 = exit; set before start */
    uint64_t spans[MT_THREADS];
    int64_t wall_ns[MT_THREADS], cpu_ns[MT_THREADS];
};

struct mt_worker {
    struct mt *mt;
    int idx;
};

/* The rates of the 2-thread test, medians over the rounds. */
struct mt_result {
    double wall1, wall2; /* spans per wall-clock second, 1 and 2 threads */
    double cpu1, cpu2;   /* spans per second of the threads' CPU time */
};

static void *mt_main(void *arg)
{
    struct mt_worker *w = arg;
    struct mt *mt = w->mt;
    prefault(mt->p);
    for (;;) {
        pthread_barrier_wait(&mt->start);
        int active = mt->active;
        if (active == 0)
            break;
        if (w->idx < active) {
            uint64_t n = 0;
            int64_t t0 = mono_ns(), c0 = cpu_ns(), now;
            do {
                loop_span(NULL, 256);
                n += 256;
                now = mono_ns();
            } while (now - t0 < mt->p->mt_window_ns);
            mt->cpu_ns[w->idx] = cpu_ns() - c0;
            mt->spans[w->idx] = n;
            mt->wall_ns[w->idx] = now - t0;
        }
        pthread_barrier_wait(&mt->done);
    }
    return NULL;
}

/* two_threads alternates rounds of 1 and 2 threads recording spans in a
 * tight loop for a fixed wall-clock window. The wall-clock rates are what an
 * application gets; the CPU-time rates leave out the time a thread spent
 * preempted, so they still show how the library scales (shared cache lines,
 * locks spinning) when the machine is busy with other work. Returns 0 or -1. */
static int two_threads(const struct params *p, struct mt_result *res)
{
    struct mt mt;
    struct mt_worker w[MT_THREADS];
    pthread_t th[MT_THREADS];
    double w1[MAX_REPS], w2[MAX_REPS], c1[MAX_REPS], c2[MAX_REPS];
    int started = 0;

    memset(&mt, 0, sizeof(mt));
    mt.p = p;
    pthread_barrier_init(&mt.start, NULL, MT_THREADS + 1);
    pthread_barrier_init(&mt.done, NULL, MT_THREADS + 1);
    for (; started < MT_THREADS; started++) {
        w[started] = (struct mt_worker){ &mt, started };
        if (pthread_create(&th[started], NULL, mt_main, &w[started]) != 0) {
            fprintf(stderr, "client: cannot start threads\n");
            exit(1); /* the started ones would wait on the barrier forever */
        }
    }
    for (int r = -1; r < p->reps; r++) {
        for (int active = 1; active <= MT_THREADS; active++) {
            tt_flush();
            mt.active = active;
            pthread_barrier_wait(&mt.start);
            pthread_barrier_wait(&mt.done);
            double wall = 0, cpu = 0;
            for (int i = 0; i < active; i++) {
                wall += (double)mt.spans[i] * 1e9 / (double)mt.wall_ns[i];
                cpu += mt.cpu_ns[i] > 0 ? (double)mt.spans[i] * 1e9 / (double)mt.cpu_ns[i] : 0;
            }
            if (r >= 0) {
                (active == 1 ? w1 : w2)[r] = wall;
                (active == 1 ? c1 : c2)[r] = cpu;
            }
        }
    }
    mt.active = 0;
    pthread_barrier_wait(&mt.start);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&mt.start);
    pthread_barrier_destroy(&mt.done);
    res->wall1 = median(w1, p->reps);
    res->wall2 = median(w2, p->reps);
    res->cpu1 = median(c1, p->reps);
    res->cpu2 = median(c2, p->reps);
    return res->wall1 > 0 && res->cpu1 > 0 ? 0 : -1;
}

/* ---- main ------------------------------------------------------------------------- */

static void print_report(const struct params *p, const struct report *r)
{
    for (int i = 0; i < r->n; i++) {
        const struct figure *f = &r->fig[i];
        if (p->json) {
            printf("{\"bench\":\"client\",\"figure\":\"%s\",\"value\":%.4g,\"unit\":\"%s\"",
                   f->name, f->value, f->unit);
            if (f->vs_floor > 0)
                printf(",\"vs\":{\"floor\":%.3g}", f->vs_floor);
            printf("}\n");
            continue;
        }
        char extra[64] = "";
        if (f->vs_floor > 0)
            snprintf(extra, sizeof(extra), "%.2fx floor", f->vs_floor);
        printf("%-28s %10.4g %-8s %-12s", f->name, f->value, f->unit, extra);
        if (f->target)
            printf(" target %-32s %s", f->target, f->pass ? "ok" : "MISSED");
        printf("\n");
    }
    fflush(stdout);
}

static int parse_args(int argc, char **argv, struct params *p)
{
    const char *tmp = getenv("BENCH_TMP");
    memset(p, 0, sizeof(*p));
    snprintf(p->spool, sizeof(p->spool), "%s/client-spool", tmp && tmp[0] ? tmp : "/tmp/bench");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            p->quick = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            p->json = 1;
        } else if (strcmp(argv[i], "--spool") == 0 && i + 1 < argc) {
            if ((size_t)snprintf(p->spool, sizeof(p->spool), "%s", argv[++i]) >= sizeof(p->spool))
                return -1;
        } else {
            return -1;
        }
    }
    p->iters = p->quick ? 200000 : 1000000;
    p->rec_iters = p->quick ? 100000 : 200000;
    p->reps = p->quick ? 5 : 9;
    p->mt_window_ns = 5000000;
    p->ring_bytes = 64u << 20;
    return 0;
}

int main(int argc, char **argv)
{
    struct params p;
    struct report rep = { .n = 0 };
    struct floor_ring floor = { NULL, 0, 0 };
    double hist_values[HIST_VALUES];
    int rc = 1;

    if (parse_args(argc, argv, &p) < 0) {
        fprintf(stderr, "usage: client [--quick] [--json] [--spool DIR]\n");
        return 2;
    }
    if (mkdir(p.spool, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "client: mkdir %s: %s\n", p.spool, strerror(errno));
        return 1;
    }

    warm_cpu(p.quick ? 150 : 300);

    /* Unsampled spans need a library at ratio 0: a child process of its own,
     * before this one starts its library or touches its floor ring (which
     * would then be copy-on-write, every page faulting once more). */
    double unsampled_ns = unsampled_in_child(&p);
    if (unsampled_ns < 0)
        fprintf(stderr, "client: span_unsampled_ns could not be measured\n");

    /* The floor's ring, made resident and written through once, as the
     * library's is by prefault: the steady state, not the first pass. */
    floor.buf = malloc(p.ring_bytes);
    floor.mask = p.ring_bytes - 1;
    if (!floor.buf) {
        fprintf(stderr, "client: out of memory\n");
        return 1;
    }
    struct loop_arg la = { .floor = &floor };
    memset(floor.buf, 0xa5, p.ring_bytes);
    loop_floor(&la, (p.ring_bytes / 64) * 5 / 4);

    if (start_library(&p, 1.0) < 0)
        return 1;
    uint64_t drops0 = dropped_now();
    tt_stats st0, st1;

    const char *const labels[] = { "bench", "client", NULL };
    la.counter = tt_counter_new("bench_ops_total", "Benchmark operations.", labels);
    la.hist = tt_histogram_new("bench_latency_seconds", "Benchmark latencies.", labels, 0);
    /* Latencies spread over four decades, as a real histogram sees. */
    for (int i = 0; i < HIST_VALUES; i++)
        hist_values[i] = 1e-5 * (1.0 + (double)((i * 7919) % 1000)) * (1 + (i % 4) * 3);
    la.hist_values = hist_values;
    if (!la.counter || !la.hist)
        fprintf(stderr, "client: metric creation failed (the figures measure a no-op)\n");
    /* Propagation, which every traced call pays on both sides, sampled or not. */
    tt_span call;
    tt_headers hdr;
    tt_client_span_start(&call, "bench.call", NULL, &hdr);
    la.span = &call;
    la.headers = &hdr;

    enum { J_FLOOR, J_SPAN, J_COUNTER, J_HIST, J_EVENT, J_STATE, J_INJECT, J_EXTRACT, NJOBS };
    struct job jobs[NJOBS] = {
        [J_FLOOR] = { .fn = loop_floor, .n = p.iters },
        [J_SPAN] = { .fn = loop_span, .n = p.rec_iters, .flush = 1 },
        [J_COUNTER] = { .fn = loop_counter, .n = p.iters },
        [J_HIST] = { .fn = loop_hist, .n = p.iters },
        [J_EVENT] = { .fn = loop_event, .n = p.rec_iters, .flush = 1 },
        [J_STATE] = { .fn = loop_state, .n = p.rec_iters, .flush = 1 },
        [J_INJECT] = { .fn = loop_inject, .n = p.iters },
        [J_EXTRACT] = { .fn = loop_extract, .n = p.iters },
    };
    prefault(&p);
    tt_stats_get(&st0);
    measure_jobs(&p, jobs, NJOBS, &la);
    tt_flush();
    tt_stats_get(&st1);
    tt_span_end(&call);
    free(floor.buf);
    la.floor = NULL;
    uint64_t want = p.rec_iters * (uint64_t)(p.reps + 1);
    if (st1.spans_recorded - st0.spans_recorded != want)
        fprintf(stderr, "client: %llu spans recorded in the span loops, expected %llu\n",
                (unsigned long long)(st1.spans_recorded - st0.spans_recorded),
                (unsigned long long)want);
    double floor_ns = jobs[J_FLOOR].median_ns, sampled_ns = jobs[J_SPAN].median_ns;
    double counter_ns = jobs[J_COUNTER].median_ns, hist_ns = jobs[J_HIST].median_ns;
    double event_ns = jobs[J_EVENT].median_ns, state_ns = jobs[J_STATE].median_ns;
    double inject_ns = jobs[J_INJECT].median_ns, extract_ns = jobs[J_EXTRACT].median_ns;

    struct mt_result mtr;
    int mt_ok = two_threads(&p, &mtr) == 0;
    tt_flush();
    uint64_t drops = dropped_now() - drops0;

    double vs = floor_ns > 0 ? sampled_ns / floor_ns : 0;
    add_figure(&rep, "span_floor_ns", floor_ns, "ns", 0, NULL, 1);
    add_figure(&rep, "span_sampled_ns", sampled_ns, "ns", vs, "<= 60 ns and <= 2.0x floor",
               sampled_ns <= 60 && vs <= 2.0);
    if (unsampled_ns >= 0)
        add_figure(&rep, "span_unsampled_ns", unsampled_ns, "ns", 0, "<= 5 ns", unsampled_ns <= 5);
    add_figure(&rep, "counter_add_ns", counter_ns, "ns", 0, "<= 5 ns", counter_ns <= 5);
    add_figure(&rep, "histogram_observe_ns", hist_ns, "ns", 0, "<= 15 ns", hist_ns <= 15);
    add_figure(&rep, "event_kv3_ns", event_ns, "ns", 0, "<= 100 ns", event_ns <= 100);
    add_figure(&rep, "state_set_ns", state_ns, "ns", 0, "<= 60 ns", state_ns <= 60);
    add_figure(&rep, "inject_ns", inject_ns, "ns", 0, NULL, 1);
    add_figure(&rep, "extract_ns", extract_ns, "ns", 0, NULL, 1);
    if (mt_ok) {
        double sp = mtr.wall2 / mtr.wall1, sp_cpu = mtr.cpu2 / mtr.cpu1;
        add_figure(&rep, "spans_2threads_speedup", sp, "x", 0, ">= 1.8", sp >= 1.8);
        add_figure(&rep, "spans_2threads_speedup_cpu", sp_cpu, "x", 0, ">= 1.8", sp_cpu >= 1.8);
        add_figure(&rep, "spans_1thread_per_s", mtr.wall1, "spans/s", 0, NULL, 1);
        add_figure(&rep, "spans_2threads_per_s", mtr.wall2, "spans/s", 0, NULL, 1);
    }
    add_figure(&rep, "records_dropped", (double)drops, "records", 0, "0", drops == 0);
    print_report(&p, &rep);
    rc = 0;
    tt_shutdown();
    return rc;
}
