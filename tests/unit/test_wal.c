/* test_wal.c - the TSDB write-ahead log (src/store/tsdb/wal.c) and its two
 * record types (series, samples in src/core/record.c): round trips, every
 * fsync policy, rotation, torn tails cut at every offset, corruption skipped,
 * checkpoints, concurrent group commit, disk full, and kill -9 during
 * acknowledged appends. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/record.h"
#include "store/tsdb/wal.h"

/* ---- fixtures --------------------------------------------------------------------- */

static void make_tmpdir(char *dir, size_t len)
{
    assert_int_equal(tmpdir_make(dir, len, "wal"), 0);
}

static void wal_file(const char *dir, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/wal/%s", dir, name);
}

static long file_len(const char *dir, const char *name)
{
    char p[1024];
    struct stat st;
    wal_file(dir, name, p, sizeof p);
    if (stat(p, &st) != 0)
        return -1;
    return (long)st.st_size;
}

static int count_segments(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/wal", dir);
    DIR *d = opendir(p);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    closedir(d);
    return n;
}

static struct wal *open_wal(const char *dir, int sync, int comp, uint64_t seg_bytes)
{
    struct wal_options o;
    struct wal *w = NULL;
    char err[256] = "";
    wal_options_default(&o);
    o.sync = sync;
    o.compression = comp;
    if (seg_bytes)
        o.segment_bytes = seg_bytes;
    o.batch_window_ms = 2;
    o.interval_ms = 0;
    int rc = wal_open(&w, dir, &o, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "wal_open: %s\n", err);
    assert_int_equal(rc, 0);
    return w;
}

/* ---- what replay delivered ------------------------------------------------------------ */

struct got {
    uint64_t *sref; /* series refs, in order */
    char **slabels; /* "name=value,..." */
    size_t nseries, capseries;
    struct rec_sample *s;
    size_t ns, caps;
    struct wal_problem probs[16];
    size_t nprobs;
    uint64_t last_done, last_total;
    int progress_calls, progress_backwards;
};

static int got_series(void *arg, uint64_t ref, const struct rec_label *l, size_t n)
{
    struct got *g = arg;
    char buf[1024];
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%.*s=%.*s", i ? "," : "",
                                (int)l[i].name.len, l[i].name.p, (int)l[i].value.len, l[i].value.p);
    if (g->nseries == g->capseries) {
        g->capseries = g->capseries ? g->capseries * 2 : 64;
        g->sref = realloc(g->sref, g->capseries * sizeof *g->sref);
        g->slabels = realloc(g->slabels, g->capseries * sizeof *g->slabels);
        assert_non_null(g->sref);
        assert_non_null(g->slabels);
    }
    g->sref[g->nseries] = ref;
    g->slabels[g->nseries] = strdup(buf);
    g->nseries++;
    return 0;
}

static int got_samples(void *arg, const struct rec_sample *s, size_t n)
{
    struct got *g = arg;
    if (g->ns + n > g->caps) {
        while (g->ns + n > g->caps)
            g->caps = g->caps ? g->caps * 2 : 1024;
        g->s = realloc(g->s, g->caps * sizeof *g->s);
        assert_non_null(g->s);
    }
    memcpy(g->s + g->ns, s, n * sizeof *s);
    g->ns += n;
    return 0;
}

static void got_problem(void *arg, const struct wal_problem *p)
{
    struct got *g = arg;
    if (g->nprobs < 16)
        g->probs[g->nprobs] = *p;
    g->nprobs++;
}

static void got_progress(void *arg, uint64_t done, uint64_t total)
{
    struct got *g = arg;
    if (done < g->last_done)
        g->progress_backwards++;
    g->last_done = done;
    g->last_total = total;
    g->progress_calls++;
}

static const struct wal_replay_cb got_cb = { got_series, got_samples, got_problem, got_progress };

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->nseries; i++)
        free(g->slabels[i]);
    free(g->slabels);
    free(g->sref);
    free(g->s);
    memset(g, 0, sizeof *g);
}

/* replay_dir opens the WAL in dir, replays it into g and closes it. */
static void replay_dir(const char *dir, struct got *g, struct wal_replay_stats *st)
{
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 0);
    char err[256] = "";
    int rc = wal_replay(w, &got_cb, g, st, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "wal_replay: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(wal_close(w), 0);
}

/* ---- generated data ---------------------------------------------------------------------- */

static struct rec_sample gen_sample(uint64_t i, uint64_t nseries)
{
    struct rec_sample s;
    s.ref = i % nseries + 1;
    s.t_ms = 1700000000000 + (int64_t)(i / nseries) * 15000;
    /* counters, gauges with fractions, and a repeat now and then */
    s.v = (i % 3 == 0) ? (double)(i / nseries) : (i % 3 == 1) ? 0.25 * (double)i : 42.0;
    return s;
}

static void series_labels(uint64_t ref, struct rec_label l[3], char *buf, size_t len)
{
    snprintf(buf, len, "host-%" PRIu64, ref % 97);
    l[0].name = (struct rec_str){ "__name__", 8 };
    l[0].value = (struct rec_str){ "cpu_seconds_total", 17 };
    l[1].name = (struct rec_str){ "instance", 8 };
    l[1].value = (struct rec_str){ buf, (uint32_t)strlen(buf) };
    l[2].name = (struct rec_str){ "mode", 4 };
    l[2].value = (struct rec_str){ ref % 2 ? "user" : "system", ref % 2 ? 4u : 6u };
}

static char *series_string(uint64_t ref)
{
    struct rec_label l[3];
    char b[32], out[256];
    series_labels(ref, l, b, sizeof b);
    snprintf(out, sizeof out, "__name__=cpu_seconds_total,instance=%s,mode=%s", b,
             ref % 2 ? "user" : "system");
    return strdup(out);
}

/* append_range appends series [s0, s1) (refs s0+1..) and samples [i0, i1) in
 * one call; returns its LSN. */
static uint64_t append_range(struct wal *w, uint64_t s0, uint64_t s1, uint64_t i0, uint64_t i1,
                             uint64_t nseries)
{
    size_t ns = (size_t)(s1 - s0), n = (size_t)(i1 - i0);
    struct wal_series *ser = calloc(ns + 1, sizeof *ser);
    struct rec_label(*labels)[3] = calloc(ns + 1, sizeof *labels);
    char(*bufs)[32] = calloc(ns + 1, 32);
    struct rec_sample *s = calloc(n + 1, sizeof *s);
    char err[256] = "";
    uint64_t lsn = 0;
    for (size_t k = 0; k < ns; k++) {
        series_labels(s0 + k + 1, labels[k], bufs[k], 32);
        ser[k].ref = s0 + k + 1;
        ser[k].labels = labels[k];
        ser[k].nlabels = 3;
    }
    for (size_t k = 0; k < n; k++)
        s[k] = gen_sample(i0 + k, nseries);
    int rc = wal_append(w, ser, ns, s, n, &lsn, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "wal_append: %s\n", err);
    assert_int_equal(rc, 0);
    free(ser);
    free(labels);
    free(bufs);
    free(s);
    return lsn;
}

static void check_samples(const struct got *g, uint64_t i0, uint64_t i1, uint64_t nseries,
                          size_t at)
{
    assert_true(g->ns >= at + (i1 - i0));
    for (uint64_t i = i0; i < i1; i++) {
        struct rec_sample e = gen_sample(i, nseries);
        const struct rec_sample *s = &g->s[at + (i - i0)];
        assert_int_equal(s->ref, e.ref);
        assert_int_equal(s->t_ms, e.t_ms);
        assert_int_equal(f64_bits(s->v), f64_bits(e.v));
    }
}

static void check_series(const struct got *g, uint64_t s0, uint64_t s1, size_t at)
{
    assert_true(g->nseries >= at + (s1 - s0));
    for (uint64_t r = s0 + 1; r <= s1; r++) {
        char *e = series_string(r);
        assert_int_equal(g->sref[at + r - s0 - 1], r);
        assert_string_equal(g->slabels[at + r - s0 - 1], e);
        free(e);
    }
}

/* ---- the record codec ----------------------------------------------------------------------- */

static void test_codec_series_samples(void **state)
{
    (void)state;
    struct wbuf b;
    struct rbuf r;
    struct rec rec;
    char err[160];
    struct rec_label l[2] = { { { "job", 3 }, { "node", 4 } }, { { "", 0 }, { "", 0 } } };
    wbuf_init(&b, 0);
    assert_int_equal(rec_put_series(&b, 0, 0, UINT64_MAX, l, 2), 0);

    double nan_payload = f64_from_bits(0x7ff8000000000abcull);
    struct rec_sample in[] = {
        { 5, INT64_MIN, -0.0 },      { 3, INT64_MAX, nan_payload },
        { UINT64_MAX, 0, INFINITY }, { 0, -1, 1.0 },
        { 7, 1700000000000, 1.0 },   { 7, 1700000015000, 2.0 },
        { 8, 1700000015000, 2.5 },   { 8, 1700000015000, 1e-300 },
    };
    size_t n = sizeof in / sizeof in[0];
    for (uint8_t enc = 0; enc <= 1; enc++)
        assert_int_equal(rec_put_samples(&b, 0, 0, in, n, enc), 0);
    assert_int_equal(rec_put_samples(&b, 0, 0, in, n, 2), TT_EINVAL);
    assert_int_equal(rec_put_samples(&b, 0, 0, NULL, 0, REC_SAMPLES_XOR), 0);

    rbuf_init(&r, b.data, b.len);
    assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 1);
    assert_int_equal(rec.type, REC_SERIES);
    assert_string_equal(rec_type_name(rec.type), "series");
    struct rec_series s;
    assert_int_equal(rec_decode_series(&rec, &s, err, sizeof err), 0);
    assert_true(s.ref == UINT64_MAX);
    struct rec_label got;
    assert_int_equal(rec_label_next(&s.labels, &got), 1);
    assert_strn_equal(got.name.p, got.name.len, "job");
    assert_strn_equal(got.value.p, got.value.len, "node");
    assert_int_equal(rec_label_next(&s.labels, &got), 1);
    assert_int_equal(got.name.len + got.value.len, 0);
    assert_int_equal(rec_label_next(&s.labels, &got), 0);

    size_t xor_len = 0, raw_len = 0;
    for (int enc = 0; enc <= 1; enc++) {
        assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 1);
        assert_string_equal(rec_type_name(rec.type), "samples");
        struct rec_samples ss;
        struct rec_sample_iter it;
        struct rec_sample o;
        assert_int_equal(rec_decode_samples(&rec, &ss, err, sizeof err), 0);
        assert_int_equal(ss.value_enc, enc);
        assert_int_equal(ss.samples.count, n);
        if (enc == REC_SAMPLES_XOR)
            xor_len = rec.payload_len;
        else
            raw_len = rec.payload_len;
        rec_sample_iter_init(&it, &ss);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(rec_sample_next(&it, &o), 1);
            assert_true(o.ref == in[i].ref);
            assert_true(o.t_ms == in[i].t_ms);
            assert_true(f64_bits(o.v) == f64_bits(in[i].v));
        }
        assert_int_equal(rec_sample_next(&it, &o), 0);

        /* Every shorter payload is refused, never over-read. */
        for (uint32_t cut = 0; cut < rec.payload_len; cut++) {
            struct rec t = rec;
            t.payload_len = cut;
            int rc = rec_decode_samples(&t, &ss, err, sizeof err);
            if (rc == 0) {
                rec_sample_iter_init(&it, &ss);
                while ((rc = rec_sample_next(&it, &o)) == 1)
                    ;
            }
            assert_int_equal(rc, TT_ECORRUPT);
        }
    }
    assert_true(xor_len < raw_len);
    /* The empty run. */
    assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 1);
    struct rec_samples ss;
    assert_int_equal(rec_decode_samples(&rec, &ss, err, sizeof err), 0);
    assert_int_equal(ss.samples.count, 0);
    assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 0);

    /* A control byte with lead + trail > 8, and an unknown encoding. */
    uint8_t bad[] = { REC_SAMPLES_XOR, 1, 0, 0, 0, 3, 0, 0, 0, 2, 2, 0x90 };
    struct rec t = { .type = REC_SAMPLES, .payload = bad, .payload_len = sizeof bad };
    struct rec_sample_iter it;
    struct rec_sample o;
    assert_int_equal(rec_decode_samples(&t, &ss, err, sizeof err), 0);
    rec_sample_iter_init(&it, &ss);
    assert_int_equal(rec_sample_next(&it, &o), TT_ECORRUPT);
    bad[0] = 9;
    assert_int_equal(rec_decode_samples(&t, &ss, err, sizeof err), TT_EUNSUPPORTED);
    assert_non_null(strstr(err, "value_enc"));
    t.type = REC_SERIES;
    assert_int_equal(rec_decode_samples(&t, &ss, err, sizeof err), TT_EINVAL);
    wbuf_release(&b);
}

/* ---- round trip, policies, rotation -------------------------------------------------------- */

static void test_roundtrip(void **state)
{
    (void)state;
    const int comps[] = { BATCH_COMP_NONE, BATCH_COMP_ZSTD, BATCH_COMP_LZ4 };
    for (int c = 0; c < 3; c++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        const uint64_t nser = 500, nsamp = 60000;
        struct wal *w = open_wal(dir, WAL_SYNC_INTERVAL, comps[c], 0);
        uint64_t i = 0, s = 0, prev = 0;
        for (int k = 0; i < nsamp; k++) {
            uint64_t s1 = s + 50 < nser ? s + 50 : nser;
            uint64_t i1 = i + 1 + (uint64_t)(k * 37 % 2000);
            if (i1 > nsamp)
                i1 = nsamp;
            uint64_t lsn = append_range(w, s, s1, i, i1, nser);
            assert_true(lsn > prev);
            prev = lsn;
            s = s1;
            i = i1;
        }
        struct wal_stats ws;
        wal_get_stats(w, &ws);
        assert_int_equal(ws.written_lsn, prev);
        assert_int_equal(ws.write_errors, 0);
        assert_true(ws.disk_bytes > 0);
        assert_int_equal(wal_close(w), 0);

        struct got g = { 0 };
        struct wal_replay_stats st;
        replay_dir(dir, &g, &st);
        assert_int_equal(g.nprobs, 0);
        assert_int_equal(g.nseries, nser);
        assert_int_equal(g.ns, nsamp);
        check_series(&g, 0, nser, 0);
        check_samples(&g, 0, nsamp, nser, 0);
        assert_int_equal(st.last_lsn, prev);
        assert_int_equal(st.samples, nsamp);
        assert_true(g.progress_calls > 0);
        assert_int_equal(g.progress_backwards, 0);
        assert_int_equal(g.last_done, g.last_total);
        assert_int_equal(g.last_total, st.bytes);
        got_free(&g);

        /* Appends after a replay continue the LSNs and replay after the old. */
        w = open_wal(dir, WAL_SYNC_INTERVAL, comps[c], 0);
        struct wal_replay_stats st2;
        assert_int_equal(wal_replay(w, NULL, NULL, &st2, NULL, 0), 0);
        uint64_t lsn = append_range(w, 0, 0, nsamp, nsamp + 10, nser);
        assert_true(lsn > prev);
        assert_int_equal(wal_replay(w, NULL, NULL, NULL, NULL, 0), TT_ESTATE);
        assert_int_equal(wal_close(w), 0);
        replay_dir(dir, &g, &st);
        assert_int_equal(g.ns, nsamp + 10);
        check_samples(&g, nsamp, nsamp + 10, nser, nsamp);
        got_free(&g);
        rm_rf(dir);
    }
}

static void test_policy_always(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct wal *w = open_wal(dir, WAL_SYNC_ALWAYS, BATCH_COMP_LZ4, 0);
    struct wal_stats st;
    for (int k = 0; k < 5; k++) {
        uint64_t lsn = append_range(w, (uint64_t)k, (uint64_t)k + 1, (uint64_t)k * 10,
                                    (uint64_t)k * 10 + 10, 5);
        wal_get_stats(w, &st);
        assert_int_equal(st.durable_lsn, lsn);
        assert_int_equal(wal_wait(w, lsn, NULL, 0), 0);
    }
    wal_get_stats(w, &st);
    assert_true(st.syncs >= 5);
    assert_int_equal(st.appends, 5);
    assert_int_equal(wal_close(w), 0);
    rm_rf(dir);
}

struct batch_arg {
    struct wal *w;
    atomic_int failed;
};

static void *batch_committer(void *p)
{
    struct batch_arg *a = p;
    for (int k = 0; k < 20; k++) {
        struct rec_sample smp = { 1, 1000 + k, 1.0 };
        uint64_t lsn;
        char err[128];
        if (wal_append(a->w, NULL, 0, &smp, 1, &lsn, err, sizeof err) != 0 ||
            wal_wait(a->w, lsn, err, sizeof err) != 0)
            atomic_fetch_add(&a->failed, 1);
    }
    return NULL;
}

static void test_policy_batch(void **state)
{
    (void)state;
    char dir[64], err[128];
    struct wal_options o;
    struct wal *w;
    struct wal_stats st;
    make_tmpdir(dir, sizeof dir);
    wal_options_default(&o);
    o.batch_window_ms = 30;
    assert_int_equal(wal_open(&w, dir, &o, err, sizeof err), 0);
    uint64_t lsn = append_range(w, 0, 1, 0, 10, 1);
    wal_get_stats(w, &st);
    assert_true(st.durable_lsn < lsn); /* in the page cache only */
    int64_t t0 = clock_monotonic_ns();
    assert_int_equal(wal_wait(w, lsn, err, sizeof err), 0);
    int64_t waited = clock_monotonic_ns() - t0;
    wal_get_stats(w, &st);
    assert_true(st.durable_lsn >= lsn);
    assert_int_equal(st.syncs, 1);
    /* a lone commit does not wait for others: synced at once */
    assert_true(waited < 25 * TT_NS_PER_MS);
    /* already durable: no new sync */
    assert_int_equal(wal_wait(w, lsn, err, sizeof err), 0);
    wal_get_stats(w, &st);
    assert_int_equal(st.syncs, 1);
    assert_int_equal(wal_wait(w, lsn + 1, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "not written"));
    /* Concurrent commits share fdatasyncs. */
    struct batch_arg ba = { w, 0 };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, batch_committer, &ba), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&ba.failed), 0);
    wal_get_stats(w, &st);
    assert_true(st.syncs - 1 < 4 * 20);
    assert_int_equal(wal_close(w), 0);
    rm_rf(dir);
}

static void test_policy_interval(void **state)
{
    (void)state;
    char dir[64], err[128];
    struct wal_options o;
    struct wal *w;
    struct wal_stats st;
    make_tmpdir(dir, sizeof dir);
    wal_options_default(&o);
    o.sync = WAL_SYNC_INTERVAL;
    o.interval_ms = 20;
    assert_int_equal(wal_open(&w, dir, &o, err, sizeof err), 0);
    uint64_t lsn = append_range(w, 0, 1, 0, 10, 1);
    assert_int_equal(wal_wait(w, lsn, err, sizeof err), 0); /* does not wait */
    for (int k = 0; k < 200; k++) {
        wal_get_stats(w, &st);
        if (st.durable_lsn >= lsn)
            break;
        usleep(10000);
    }
    assert_true(st.durable_lsn >= lsn);
    assert_true(st.syncs >= 1);
    assert_int_equal(wal_close(w), 0);

    /* interval 0: never, until asked. */
    o.interval_ms = 0;
    assert_int_equal(wal_open(&w, dir, &o, err, sizeof err), 0);
    lsn = append_range(w, 0, 0, 10, 20, 1);
    usleep(30000);
    wal_get_stats(w, &st);
    assert_true(st.durable_lsn < lsn);
    assert_int_equal(st.syncs, 0);
    assert_int_equal(wal_sync(w, err, sizeof err), 0);
    wal_get_stats(w, &st);
    assert_int_equal(st.durable_lsn, lsn);
    assert_int_equal(wal_close(w), 0);

    /* bad options */
    o.sync = 9;
    assert_int_equal(wal_open(&w, dir, &o, err, sizeof err), TT_EINVAL);
    assert_null(w);
    assert_non_null(strstr(err, "policy"));
    wal_options_default(&o);
    o.compression = 7;
    assert_int_equal(wal_open(&w, dir, &o, err, sizeof err), TT_EINVAL);
    assert_int_equal(wal_open(&w, "", NULL, err, sizeof err), TT_EINVAL);
    rm_rf(dir);
}

static void test_rotation(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_NONE, 4096);
    const uint64_t nser = 20;
    uint64_t lsn = append_range(w, 0, nser, 0, 0, nser);
    for (uint64_t i = 0; i < 4000; i += 40)
        lsn = append_range(w, 0, 0, i, i + 40, nser);
    assert_int_equal(wal_wait(w, lsn, NULL, 0), 0);
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_int_equal(st.first_segment, 1);
    assert_true(st.last_segment > 3);
    assert_int_equal(wal_close(w), 0);
    int nseg = count_segments(dir);
    assert_int_equal(nseg, (int)st.last_segment);
    for (int k = 1; k <= nseg; k++) {
        char name[16];
        snprintf(name, sizeof name, "%08d", k);
        long len = file_len(dir, name);
        assert_true(len > 0 && len <= 4096);
    }
    struct got g = { 0 };
    replay_dir(dir, &g, NULL);
    assert_int_equal(g.nprobs, 0);
    check_series(&g, 0, nser, 0);
    assert_int_equal(g.ns, 4000);
    check_samples(&g, 0, 4000, nser, 0);
    got_free(&g);
    rm_rf(dir);
}

/* ---- damage -------------------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to, long len)
{
    FILE *f = fopen(from, "rb");
    FILE *t = fopen(to, "wb");
    assert_non_null(f);
    assert_non_null(t);
    char *buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    assert_int_equal(fwrite(buf, 1, (size_t)len, t), (size_t)len);
    free(buf);
    fclose(f);
    fclose(t);
}

static void test_torn_tail_every_offset(void **state)
{
    (void)state;
    char dir[64], seg[1024], saved[1024];
    make_tmpdir(dir, sizeof dir);
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 0);
    append_range(w, 0, 3, 0, 30, 3);
    append_range(w, 0, 0, 30, 60, 3);
    assert_int_equal(wal_close(w), 0);
    long start = file_len(dir, "00000001");
    {
        /* The batch to tear goes at the end of the same segment (a reopened
         * WAL would start a new one): write it with a WAL of its own and
         * glue it on. */
        char d2[64];
        make_tmpdir(d2, sizeof d2);
        struct wal *w2 = open_wal(d2, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 0);
        append_range(w2, 0, 0, 60, 90, 3);
        assert_int_equal(wal_close(w2), 0);
        char p2[1024];
        wal_file(d2, "00000001", p2, sizeof p2);
        long l2 = file_len(d2, "00000001");
        FILE *f = fopen(p2, "rb");
        char *buf = malloc((size_t)l2);
        assert_int_equal(fread(buf, 1, (size_t)l2, f), (size_t)l2);
        fclose(f);
        wal_file(dir, "00000001", seg, sizeof seg);
        f = fopen(seg, "ab");
        assert_int_equal(fwrite(buf, 1, (size_t)l2, f), (size_t)l2);
        fclose(f);
        free(buf);
        rm_rf(d2);
    }
    long full = file_len(dir, "00000001");
    assert_true(full > start);
    snprintf(saved, sizeof saved, "%s/saved", dir);
    wal_file(dir, "00000001", seg, sizeof seg);
    copy_file(seg, saved, full);

    for (long cut = start; cut < full; cut++) {
        copy_file(saved, seg, cut);
        struct got g = { 0 };
        struct wal_replay_stats st;
        replay_dir(dir, &g, &st);
        assert_int_equal(g.ns, 60);
        check_samples(&g, 0, 60, 3, 0);
        if (cut == start) {
            assert_int_equal(g.nprobs, 0);
        } else {
            assert_int_equal(g.nprobs, 1);
            assert_string_equal(g.probs[0].file, "00000001");
            assert_int_equal(g.probs[0].offset, start);
            assert_int_equal(g.probs[0].bytes, cut - start);
            assert_int_equal(g.probs[0].cut, 1);
            assert_int_equal(st.bytes_cut, cut - start);
        }
        assert_int_equal(file_len(dir, "00000001"), start);
        got_free(&g);
    }
    /* After the cut the WAL takes appends and replays clean. */
    w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 0);
    uint64_t lsn = append_range(w, 0, 0, 60, 70, 3);
    assert_int_equal(wal_wait(w, lsn, NULL, 0), 0);
    assert_int_equal(wal_close(w), 0);
    struct got g = { 0 };
    replay_dir(dir, &g, NULL);
    assert_int_equal(g.nprobs, 0);
    assert_int_equal(g.ns, 70);
    check_samples(&g, 0, 70, 3, 0);
    got_free(&g);
    rm_rf(dir);
}

static void flip(const char *dir, const char *name, long off)
{
    char p[1024];
    wal_file(dir, name, p, sizeof p);
    int fd = open(p, O_RDWR);
    uint8_t c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void test_corruption_middle(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_NONE, 4096);
    append_range(w, 0, 4, 0, 0, 4);
    for (uint64_t i = 0; i < 2000; i += 20)
        append_range(w, 0, 0, i, i + 20, 4);
    assert_int_equal(wal_close(w), 0);
    int nseg = count_segments(dir);
    assert_true(nseg >= 3);
    /* Segment 2 (not the last): damage the body of its second batch. */
    struct got g0 = { 0 };
    replay_dir(dir, &g0, NULL);
    assert_int_equal(g0.nprobs, 0);
    assert_int_equal(g0.ns, 2000);
    got_free(&g0);
    long len2 = file_len(dir, "00000002");
    /* The second batch starts where the first ends (from its header). */
    char p[1024];
    wal_file(dir, "00000002", p, sizeof p);
    FILE *f = fopen(p, "rb");
    uint8_t hdr[BATCH_FIXED_LEN];
    assert_int_equal(fread(hdr, 1, sizeof hdr, f), sizeof hdr);
    fclose(f);
    long b1 = (long)get_le16(hdr + 6) + (long)get_le32(hdr + 52) + 4;
    assert_true(b1 < len2);
    flip(dir, "00000002", b1 + 70); /* inside the second batch's body */
    /* and the middle of the last segment: its first batch's header */
    char last[16];
    snprintf(last, sizeof last, "%08d", nseg);
    long lastlen = file_len(dir, last);
    flip(dir, last, 20);

    struct got g = { 0 };
    struct wal_replay_stats st;
    replay_dir(dir, &g, &st);
    assert_int_equal(g.nprobs, 2);
    assert_string_equal(g.probs[0].file, "00000002");
    assert_int_equal(g.probs[0].offset, b1);
    assert_int_equal(g.probs[0].code, TT_ECORRUPT);
    assert_int_equal(g.probs[0].cut, 0);
    assert_true(g.probs[0].bytes > 0);
    assert_string_equal(g.probs[1].file, last);
    assert_int_equal(g.probs[1].offset, 0);
    assert_int_equal(g.probs[1].cut, 0);
    /* Nothing was cut from the last segment: good batches follow the damage. */
    assert_int_equal(file_len(dir, last), lastlen);
    /* Everything but the two damaged batches (20 samples each) came back. */
    assert_int_equal(g.ns, 2000 - 40);
    assert_int_equal(st.problems, 2);
    got_free(&g);

    /* A missing segment in the middle is reported too. */
    char mid[1024];
    wal_file(dir, "00000002", mid, sizeof mid);
    assert_int_equal(unlink(mid), 0);
    replay_dir(dir, &g, &st);
    assert_int_equal(g.probs[0].code, TT_ENOTFOUND);
    assert_string_equal(g.probs[0].file, "00000002");
    got_free(&g);
    rm_rf(dir);
}

/* ---- checkpoints --------------------------------------------------------------------------- */

/* A checkpoint iterator over what a replay delivered, keeping samples at or
 * after min_t. */
struct ckpt_it {
    const struct got *g;
    size_t si, xi;
    int64_t min_t;
    struct rec_sample buf[100];
    struct rec_label labels[3];
    char lb[32];
};

static int ckpt_next(void *arg, struct wal_item *item)
{
    struct ckpt_it *c = arg;
    if (c->si < c->g->nseries) {
        uint64_t ref = c->g->sref[c->si++];
        series_labels(ref, c->labels, c->lb, sizeof c->lb);
        item->kind = WAL_ITEM_SERIES;
        item->series.ref = ref;
        item->series.labels = c->labels;
        item->series.nlabels = 3;
        return 1;
    }
    size_t n = 0;
    while (c->xi < c->g->ns && n < 100) {
        const struct rec_sample *s = &c->g->s[c->xi++];
        if (s->t_ms >= c->min_t)
            c->buf[n++] = *s;
    }
    if (n == 0)
        return 0;
    item->kind = WAL_ITEM_SAMPLES;
    item->samples = c->buf;
    item->nsamples = n;
    return 1;
}

static int ckpt_fail(void *arg, struct wal_item *item)
{
    (void)arg;
    (void)item;
    return TT_ENOMEM;
}

static void test_checkpoint(void **state)
{
    (void)state;
    char dir[64], err[256], p[1024];
    make_tmpdir(dir, sizeof dir);
    const uint64_t nser = 30;
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_ZSTD, 4096);
    append_range(w, 0, nser, 0, 0, nser);
    for (uint64_t i = 0; i < 3000; i += 30)
        append_range(w, 0, 0, i, i + 30, nser);
    struct wal_stats ws;
    wal_get_stats(w, &ws);
    uint32_t cut = ws.last_segment;
    assert_true(cut > 2);

    /* What the head would hold: replay of the same directory. */
    struct got head = { 0 };
    replay_dir(dir, &head, NULL);
    int64_t min_t = gen_sample(1500, nser).t_ms;
    struct ckpt_it it = { .g = &head, .min_t = min_t };

    /* An iterator failure leaves everything as it was. */
    assert_int_equal(wal_checkpoint(w, ckpt_fail, NULL, NULL, err, sizeof err), TT_ENOMEM);
    assert_int_equal(count_segments(dir), (int)cut);

    struct wal_ckpt_stats cs, cs2;
    int rc = wal_checkpoint(w, ckpt_next, &it, &cs, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "checkpoint: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(cs.segment, cut);
    assert_int_equal(cs.series, nser);
    assert_int_equal(cs.segments_deleted, cut);
    assert_int_equal(count_segments(dir), 0);
    char cname[32];
    snprintf(cname, sizeof cname, "checkpoint.%08u", cut);
    assert_int_equal(file_len(dir, cname), (long)cs.bytes);
    wal_get_stats(w, &ws);
    assert_int_equal(ws.checkpoint, cut);
    assert_int_equal(ws.first_segment, 0);

    /* More appends after the checkpoint. */
    for (uint64_t i = 3000; i < 3600; i += 30)
        append_range(w, 0, 0, i, i + 30, nser);
    assert_int_equal(wal_close(w), 0);

    /* Leftovers of a crash in the middle of a checkpoint are cleaned up at
     * open: a temporary, and a covered segment not yet deleted. */
    snprintf(cname, sizeof cname, "checkpoint.%08u.tmp", cut + 5);
    wal_file(dir, cname, p, sizeof p);
    FILE *f = fopen(p, "wb");
    fputs("junk", f);
    fclose(f);
    snprintf(cname, sizeof cname, "%08u", cut - 1);
    wal_file(dir, cname, p, sizeof p);
    f = fopen(p, "wb");
    fputs("junk", f);
    fclose(f);

    struct got g = { 0 };
    struct wal_replay_stats st;
    replay_dir(dir, &g, &st);
    assert_int_equal(g.nprobs, 0);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(g.nseries, nser);
    check_series(&g, 0, nser, 0);
    /* the checkpoint's samples (those >= min_t) then the later ones */
    size_t kept = 0;
    for (size_t i = 0; i < head.ns; i++)
        kept += head.s[i].t_ms >= min_t;
    assert_true(kept > 0 && kept < head.ns);
    assert_int_equal(g.ns, kept + 600);
    size_t at = 0;
    for (size_t i = 0; i < head.ns; i++) {
        if (head.s[i].t_ms < min_t)
            continue;
        assert_true(g.s[at].ref == head.s[i].ref && g.s[at].t_ms == head.s[i].t_ms);
        at++;
    }
    check_samples(&g, 3000, 3600, nser, kept);
    assert_true(st.last_lsn > 0);

    /* A second checkpoint replaces the first. */
    w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 4096);
    assert_int_equal(wal_replay(w, NULL, NULL, NULL, NULL, 0), 0);
    struct ckpt_it it2 = { .g = &g, .min_t = INT64_MIN };
    assert_int_equal(wal_checkpoint(w, ckpt_next, &it2, &cs, err, sizeof err), 0);
    assert_true(cs.segment > cut);
    snprintf(cname, sizeof cname, "checkpoint.%08u", cut);
    assert_int_equal(file_len(dir, cname), -1);
    assert_int_equal(count_segments(dir), 0);
    /* With nothing appended since, a third checkpoint (series only) takes
     * the same number and replaces the second. */
    it2 = (struct ckpt_it){ .g = &g, .min_t = INT64_MAX };
    assert_int_equal(wal_checkpoint(w, ckpt_next, &it2, &cs2, err, sizeof err), 0);
    assert_int_equal(cs2.segment, cs.segment);
    assert_int_equal(wal_close(w), 0);
    struct got g2 = { 0 };
    replay_dir(dir, &g2, NULL);
    assert_int_equal(g2.nprobs, 0);
    assert_int_equal(g2.nseries, g.nseries);
    assert_int_equal(g2.ns, 0);
    got_free(&g2);
    got_free(&g);
    got_free(&head);
    rm_rf(dir);
}

/* ---- concurrency ----------------------------------------------------------------------------- */

struct appender {
    struct wal *w;
    int id;
    int n;
    int rc;
};

static void *appender_main(void *arg)
{
    struct appender *a = arg;
    for (int k = 0; k < a->n && a->rc == 0; k++) {
        struct rec_sample s[5];
        uint64_t lsn;
        for (int j = 0; j < 5; j++) {
            s[j].ref = (uint64_t)a->id;
            s[j].t_ms = k * 5 + j;
            s[j].v = (double)(k * 5 + j);
        }
        a->rc = wal_append(a->w, NULL, 0, s, 5, &lsn, NULL, 0);
        if (a->rc == 0)
            a->rc = wal_wait(a->w, lsn, NULL, 0);
    }
    return NULL;
}

static void test_concurrent_group_commit(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 16384);
    enum { NT = 6, PER = 150 };
    pthread_t t[NT];
    struct appender a[NT];
    for (int i = 0; i < NT; i++) {
        a[i] = (struct appender){ w, i + 1, PER, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, appender_main, &a[i]), 0);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].rc, 0);
    }
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_int_equal(st.appends, NT * PER);
    assert_int_equal(st.durable_lsn, st.written_lsn);
    /* Group commit: far fewer fdatasyncs than appends. */
    assert_true(st.syncs < st.appends / 2);
    assert_int_equal(wal_close(w), 0);

    struct got g = { 0 };
    replay_dir(dir, &g, NULL);
    assert_int_equal(g.nprobs, 0);
    assert_int_equal(g.ns, NT * PER * 5);
    /* each appender's samples come back in its order */
    int64_t next[NT + 1] = { 0 };
    for (size_t i = 0; i < g.ns; i++) {
        uint64_t r = g.s[i].ref;
        assert_true(r >= 1 && r <= NT);
        assert_int_equal(g.s[i].t_ms, next[r]);
        next[r]++;
    }
    got_free(&g);
    rm_rf(dir);
}

/* ---- disk full ------------------------------------------------------------------------------- */

static void test_disk_full(void **state)
{
    (void)state;
    char dir[64], err[256], ballast[1024];
    int tmpfs = 0;
    make_tmpdir(dir, sizeof dir);
    /* A 256 KiB tmpfs in a private mount namespace (gone with this test's
     * process); without the privilege, a file size limit (as lib/spool's
     * test does). */
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mount("tmpfs", dir, "tmpfs", 0, "size=256k") == 0)
        tmpfs = 1;
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_NONE, 1 << 20);
    append_range(w, 0, 1, 0, 0, 1);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    if (!tmpfs) {
        /* Only the soft limit, so it can be raised again unprivileged. */
        struct rlimit rl = { 64 * 1024, old.rlim_max };
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    } else {
        /* Leave about 64 KiB free. */
        snprintf(ballast, sizeof ballast, "%s/ballast", dir);
        int fd = open(ballast, O_WRONLY | O_CREAT, 0644);
        char z[4096] = { 0 };
        assert_true(fd >= 0);
        for (int i = 0; i < 48; i++)
            assert_int_equal(write(fd, z, sizeof z), (ssize_t)sizeof z);
        close(fd);
    }
    /* Samples whose values do not compress or shrink under xor. */
    uint64_t done = 0, i = 0;
    int rc = 0;
    struct wal_stats st;
    for (int k = 0; k < 1000 && rc == 0; k++) {
        struct rec_sample s[100];
        for (int j = 0; j < 100; j++)
            s[j] = (struct rec_sample){ 1, (int64_t)(i + (uint64_t)j), (double)rand() / 3.0 };
        uint64_t lsn;
        rc = wal_append(w, NULL, 0, s, 100, &lsn, err, sizeof err);
        if (rc == 0) {
            done = i + 100;
            i += 100;
        }
    }
    assert_int_equal(rc, TT_EIO);
    assert_true(strstr(err, "No space left") != NULL || strstr(err, "too large") != NULL);
    assert_non_null(strstr(err, "segment 00000001"));
    wal_get_stats(w, &st);
    assert_int_equal(st.write_errors, 1);
    /* No torn batch left behind: the segment is exactly what was written. */
    assert_int_equal(file_len(dir, "00000001"), (long)st.bytes_written);
    /* Space comes back: the WAL goes on. */
    if (tmpfs) {
        assert_int_equal(unlink(ballast), 0);
    } else {
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    }
    struct rec_sample s = { 1, (int64_t)i, 1.5 };
    uint64_t lsn;
    assert_int_equal(wal_append(w, NULL, 0, &s, 1, &lsn, err, sizeof err), 0);
    assert_int_equal(wal_wait(w, lsn, err, sizeof err), 0);
    assert_int_equal(wal_close(w), 0);
    struct got g = { 0 };
    replay_dir(dir, &g, NULL);
    assert_int_equal(g.nprobs, 0);
    assert_int_equal(g.ns, done + 1);
    assert_int_equal(g.s[done].t_ms, (int64_t)i);
    got_free(&g);
    if (tmpfs)
        umount(dir);
    rm_rf(dir);
}

/* ---- kill -9 -----------------------------------------------------------------------------------
 */

/* The child appends from two threads under the batch policy and writes the
 * id of every acknowledged append (after wal_wait) to the pipe. */
struct crash_arg {
    struct wal *w;
    int fd;
    uint32_t thread;
    uint32_t round;
};

static void *crash_appender(void *arg)
{
    struct crash_arg *c = arg;
    for (uint32_t k = 0;; k++) {
        struct rec_sample s[8];
        uint64_t id = (uint64_t)c->round << 40 | (uint64_t)c->thread << 32 | k;
        for (int j = 0; j < 8; j++)
            s[j] = (struct rec_sample){ id, j, (double)j };
        uint64_t lsn;
        if (wal_append(c->w, NULL, 0, s, 8, &lsn, NULL, 0) != 0 ||
            wal_wait(c->w, lsn, NULL, 0) != 0)
            _exit(3);
        if (write(c->fd, &id, sizeof id) != (ssize_t)sizeof id)
            _exit(4);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_crash_kill9(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    srand((unsigned)getpid());
    uint64_t *acked = NULL;
    size_t nacked = 0, cap = 0;
    for (uint32_t round = 1; round <= 3; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            struct wal_options o;
            struct wal *w;
            wal_options_default(&o);
            o.batch_window_ms = 1;
            o.segment_bytes = 16384;
            if (wal_open(&w, dir, &o, NULL, 0) != 0)
                _exit(2);
            struct crash_arg a[2] = { { w, pfd[1], 1, round }, { w, pfd[1], 2, round } };
            pthread_t t;
            pthread_create(&t, NULL, crash_appender, &a[1]);
            crash_appender(&a[0]);
            _exit(5);
        }
        close(pfd[1]);
        int64_t until = clock_monotonic_ns() + (100 + rand() % 300) * TT_NS_PER_MS;
        for (;;) {
            int64_t left = until - clock_monotonic_ns();
            struct pollfd pf = { pfd[0], POLLIN, 0 };
            if (left <= 0)
                break;
            if (poll(&pf, 1, (int)(left / TT_NS_PER_MS) + 1) <= 0)
                continue;
            uint64_t id;
            ssize_t n = read(pfd[0], &id, sizeof id);
            if (n <= 0)
                break;
            assert_int_equal(n, sizeof id);
            if (nacked == cap) {
                cap = cap ? cap * 2 : 1024;
                acked = realloc(acked, cap * sizeof *acked);
            }
            acked[nacked++] = id;
        }
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* acknowledgements already in the pipe count too */
        uint64_t id;
        while (read(pfd[0], &id, sizeof id) == (ssize_t)sizeof id) {
            if (nacked == cap) {
                cap = cap ? cap * 2 : 1024;
                acked = realloc(acked, cap * sizeof *acked);
            }
            acked[nacked++] = id;
        }
        close(pfd[0]);

        struct got g = { 0 };
        replay_dir(dir, &g, NULL);
        /* Only a torn tail, if anything, and it was cut. */
        for (size_t k = 0; k < g.nprobs && k < 16; k++)
            assert_int_equal(g.probs[k].cut, 1);
        uint64_t *have = malloc((g.ns / 8 + 1) * sizeof *have);
        size_t nh = 0;
        for (size_t k = 0; k < g.ns; k += 8) {
            /* each append came back whole */
            assert_true(k + 8 <= g.ns);
            for (int j = 0; j < 8; j++)
                assert_true(g.s[k + (size_t)j].ref == g.s[k].ref && g.s[k + (size_t)j].t_ms == j);
            have[nh++] = g.s[k].ref;
        }
        qsort(have, nh, sizeof *have, cmp_u64);
        for (size_t k = 0; k < nacked; k++)
            assert_non_null(bsearch(&acked[k], have, nh, sizeof *have, cmp_u64));
        assert_true(nh >= nacked);
        free(have);
        got_free(&g);
    }
    assert_true(nacked > 0);
    free(acked);
    rm_rf(dir);
}

/* ---- replay from memory ------------------------------------------------------------------------
 */

static void test_replay_buffer(void **state)
{
    (void)state;
    struct wal_replay_stats st;
    struct got g = { 0 };
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 7);
    assert_int_equal(wal_replay_buffer(junk, sizeof junk, "x", &got_cb, &g, &st), 0);
    assert_true(g.nprobs >= 1);
    assert_string_equal(g.probs[0].file, "x");
    assert_int_equal(st.bytes_skipped, sizeof junk);
    assert_int_equal(g.probs[0].cut, 0);
    got_free(&g);
    assert_int_equal(wal_replay_buffer(NULL, 0, NULL, NULL, NULL, NULL), 0);

    /* A record of a type the WAL does not know (a newer writer's) is
     * skipped; the rest of its batch is read. */
    struct wbuf raw, seg;
    struct batch_hdr h;
    struct rec_sample x = { 7, 1000, 2.5 };
    wbuf_init(&raw, 0);
    wbuf_init(&seg, 0);
    assert_int_equal(rec_put_raw(&raw, 99, 0, 0, "abc", 3), 0);
    assert_int_equal(rec_put_samples(&raw, 0, 0, &x, 1, REC_SAMPLES_XOR), 0);
    memset(&h, 0, sizeof h);
    h.count = 2;
    assert_int_equal(batch_encode(&seg, &h, raw.data, raw.len), 0);
    assert_int_equal(wal_replay_buffer(seg.data, seg.len, "y", &got_cb, &g, &st), 0);
    assert_int_equal(g.nprobs, 0);
    assert_int_equal(st.unknown, 1);
    assert_int_equal(g.ns, 1);
    assert_true(g.s[0].ref == 7 && g.s[0].t_ms == 1000 && g.s[0].v == 2.5);
    got_free(&g);
    wbuf_release(&raw);
    wbuf_release(&seg);
}

/* ---- origins ------------------------------------------------------------------------------ */

struct got_origins {
    struct wal_origin o[16];
    size_t n;
};

static int got_origin(void *arg, uint64_t id, uint64_t end)
{
    struct got_origins *g = arg;
    assert_true(g->n < 16);
    g->o[g->n].origin_id = id;
    g->o[g->n].durable_end = end;
    g->n++;
    return 0;
}

static const struct wal_replay_cb origin_cb = { .origin = got_origin };

/* map_end: origin id's durable_end in a wal_origins copy (0: absent). */
static uint64_t map_end(const struct wal_origin *o, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].origin_id == id)
            return o[i].durable_end;
    return 0;
}

/* Origin records ride in the same append as samples, come back in replay
 * (callback and map, the largest durable_end winning), survive a checkpoint
 * that deletes every segment holding them, and an append of origins only
 * is a batch of its own. */
static void test_origins(void **state)
{
    (void)state;
    char dir[64], err[256] = "";
    make_tmpdir(dir, sizeof dir);
    struct wal *w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 4096);
    struct rec_sample smp[3] = { { 1, 1000, 1.0 }, { 1, 2000, 2.0 }, { 1, 3000, 3.0 } };
    struct rec_label lab[1] = { { { "__name__", 8 }, { "up", 2 } } };
    struct wal_series ser = { 1, lab, 1 };
    struct wal_origin o1[2] = { { 0xa1, 10 }, { 0xb2, 5 } };
    struct wal_origin o2[1] = { { 0xa1, 25, 10, 4, 999 } };
    struct wal_origin o3[1] = { { 0xa1, 20 } }; /* lower: never lowers the map */
    uint64_t lsn;
    assert_int_equal(wal_append_origins(w, &ser, 1, smp, 3, o1, 2, &lsn, err, sizeof err), 0);
    assert_int_equal(wal_append_origins(w, NULL, 0, NULL, 0, o2, 1, &lsn, err, sizeof err), 0);
    assert_int_equal(wal_append_origins(w, NULL, 0, NULL, 0, o3, 1, &lsn, err, sizeof err), 0);
    assert_int_equal(wal_wait(w, lsn, err, sizeof err), 0);
    assert_int_equal(wal_append_origins(w, NULL, 0, NULL, 0, NULL, 1, &lsn, err, sizeof err),
                     TT_EINVAL);
    struct wal_origin *m = NULL;
    size_t nm = 0;
    assert_int_equal(wal_origins(w, &m, &nm), 0);
    assert_int_equal(nm, 2);
    assert_int_equal(map_end(m, nm, 0xa1), 25);
    assert_int_equal(map_end(m, nm, 0xb2), 5);
    free(m);
    assert_int_equal(wal_close(w), 0);

    /* Replay: every record in order, the map as before, samples intact. */
    struct got_origins go = { .n = 0 };
    struct wal_replay_stats st;
    w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 4096);
    assert_int_equal(wal_replay(w, &origin_cb, &go, &st, err, sizeof err), 0);
    assert_int_equal(go.n, 4);
    assert_int_equal(st.origins, 4);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.problems, 0);
    assert_int_equal(go.o[0].origin_id, 0xa1);
    assert_int_equal(go.o[0].durable_end, 10);
    assert_int_equal(go.o[2].durable_end, 25);
    assert_int_equal(wal_origins(w, &m, &nm), 0);
    assert_int_equal(nm, 2);
    assert_int_equal(map_end(m, nm, 0xa1), 25);
    free(m);

    /* A checkpoint with no series or samples at all still carries the
     * origins; the segments that held them are deleted. */
    struct got empty = { 0 };
    struct ckpt_it it = { .g = &empty, .min_t = INT64_MIN };
    struct wal_ckpt_stats cs;
    assert_int_equal(wal_checkpoint(w, ckpt_next, &it, &cs, err, sizeof err), 0);
    assert_int_equal(cs.origins, 2);
    assert_int_equal(count_segments(dir), 0);
    struct wal_origin o4[1] = { { 0xc3, 7 } };
    assert_int_equal(wal_append_origins(w, NULL, 0, NULL, 0, o4, 1, &lsn, err, sizeof err), 0);
    assert_int_equal(wal_close(w), 0);

    go.n = 0;
    w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 4096);
    assert_int_equal(wal_replay(w, &origin_cb, &go, &st, err, sizeof err), 0);
    assert_int_equal(st.samples, 0);
    assert_int_equal(go.n, 3);
    assert_int_equal(wal_origins(w, &m, &nm), 0);
    assert_int_equal(nm, 3);
    assert_int_equal(map_end(m, nm, 0xa1), 25);
    assert_int_equal(map_end(m, nm, 0xb2), 5);
    assert_int_equal(map_end(m, nm, 0xc3), 7);
    for (size_t i = 0; i < nm; i++) {
        if (m[i].origin_id != 0xa1)
            continue;
        /* the record-log position rode through the checkpoint */
        assert_int_equal(m[i].prev_end, 10);
        assert_int_equal(m[i].reclog_seg, 4);
        assert_int_equal(m[i].reclog_end, 999);
    }
    free(m);
    /* A second checkpoint carries them on again. */
    assert_int_equal(wal_checkpoint(w, ckpt_next, &it, &cs, err, sizeof err), 0);
    assert_int_equal(cs.origins, 3);
    assert_int_equal(wal_close(w), 0);
    go.n = 0;
    w = open_wal(dir, WAL_SYNC_BATCH, BATCH_COMP_LZ4, 4096);
    assert_int_equal(wal_replay(w, &origin_cb, &go, &st, err, sizeof err), 0);
    assert_int_equal(go.n, 3);
    assert_int_equal(wal_close(w), 0);
    rm_rf(dir);
}

/* The origin record's codec: round trip, a short payload is corrupt. */
static void test_codec_origin(void **state)
{
    (void)state;
    struct wbuf b;
    struct rbuf r;
    struct rec rec;
    struct rec_origin o;
    char err[160];
    wbuf_init(&b, 0);
    struct rec_origin in = { UINT64_C(0xfeedface12345678), 99, 90, 3, 123456 };
    assert_int_equal(rec_put_origin(&b, 0, 0, &in), 0);
    rbuf_init(&r, b.data, b.len);
    assert_int_equal(rec_next(&r, b.data, &rec, err, sizeof err), 1);
    assert_int_equal(rec.type, REC_ORIGIN);
    assert_string_equal(rec_type_name(rec.type), "origin");
    assert_int_equal(rec_decode_origin(&rec, &o, err, sizeof err), 0);
    assert_int_equal(o.origin_id, UINT64_C(0xfeedface12345678));
    assert_int_equal(o.durable_end, 99);
    assert_int_equal(o.prev_end, 90);
    assert_int_equal(o.reclog_seg, 3);
    assert_int_equal(o.reclog_end, 123456);
    /* without the optional fields: they read as 0 */
    uint32_t full = rec.payload_len;
    rec.payload_len = 16;
    assert_int_equal(rec_decode_origin(&rec, &o, err, sizeof err), 0);
    assert_int_equal(o.durable_end, 99);
    assert_int_equal(o.reclog_seg, 0);
    assert_int_equal(o.prev_end, 0);
    /* cut inside them, or inside the mandatory ones: corrupt, named */
    rec.payload_len = full - 1;
    assert_int_equal(rec_decode_origin(&rec, &o, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "reclog_end"));
    rec.payload_len = 15;
    assert_int_equal(rec_decode_origin(&rec, &o, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "durable_end"));
    rec.type = REC_SERIES;
    assert_int_equal(rec_decode_origin(&rec, &o, err, sizeof err), TT_EINVAL);
    wbuf_release(&b);
}

UNIT_TESTS(cmocka_unit_test(test_codec_series_samples), cmocka_unit_test(test_roundtrip),
           cmocka_unit_test(test_policy_always), cmocka_unit_test(test_policy_batch),
           cmocka_unit_test(test_policy_interval), cmocka_unit_test(test_rotation),
           cmocka_unit_test(test_torn_tail_every_offset), cmocka_unit_test(test_corruption_middle),
           cmocka_unit_test(test_checkpoint), cmocka_unit_test(test_concurrent_group_commit),
           cmocka_unit_test(test_disk_full), cmocka_unit_test(test_crash_kill9),
           cmocka_unit_test(test_replay_buffer), cmocka_unit_test(test_origins),
           cmocka_unit_test(test_codec_origin))
