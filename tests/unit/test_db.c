/*
 * test_db.c - the store as a whole (db.h): blocks cut from the head as it
 * grows, flush, reads merged across blocks and the head, compaction of
 * overlapping blocks, retention by age and size, restart with blocks and
 * leftovers, damaged blocks skipped with their name, and queries running
 * while maintenance deletes the blocks they read.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "store/tsdb/db.h"

#define HOUR INT64_C(3600000)

static void make_tmpdir(char *dir, size_t len)
{
    assert_int_equal(tmpdir_make(dir, len, "db"), 0);
}

static struct db_options test_opts(void)
{
    struct db_options o;
    db_options_default(&o);
    o.maintenance_ms = 0;                /* the tests drive maintenance */
    o.head.wal.sync = WAL_SYNC_INTERVAL; /* no fsync per commit: fast tests */
    o.head.wal.interval_ms = 0;
    o.retention_ms = 0;
    return o;
}

static struct db *open_db(const char *dir, const struct db_options *o, struct db_open_stats *st)
{
    struct db *d = NULL;
    char err[512] = "";
    int rc = db_open(&d, dir, o, NULL, NULL, st, err, sizeof err);
    if (rc != 0)
        fail_msg("db_open: %s: %s", tt_strerror(rc), err);
    return d;
}

/* The value of series s at time t: distinct per series and time, exact. */
static double value_at(int s, int64_t t)
{
    return (double)s * 1000.0 + (double)(t / 1000 % 100000) * 0.5;
}

static void series_labels(struct labels *ls, char *buf, size_t n, int s)
{
    labels_init(ls);
    snprintf(buf, n, "%d", s);
    labels_push(ls, "__name__", s % 2 ? "up" : "load");
    labels_push(ls, "host", buf);
    labels_push(ls, "job", "node");
}

/* append series 0..nser-1 at t0, t0+step, ... < t1 (one commit per step). */
static void append_range(struct db *d, int nser, int64_t t0, int64_t t1, int64_t step)
{
    struct head_appender *a = NULL;
    assert_int_equal(head_appender_new(db_head(d), &a), 0);
    for (int64_t t = t0; t < t1; t += step) {
        for (int s = 0; s < nser; s++) {
            struct labels ls;
            char buf[16];
            series_labels(&ls, buf, sizeof buf, s);
            assert_int_equal(head_appender_add(a, &ls, t, value_at(s, t), NULL), 0);
            labels_release(&ls);
        }
        char err[256];
        assert_int_equal(head_appender_commit(a, NULL, err, sizeof err), 0);
    }
    head_appender_free(a);
}

/* What a select returned, checked against value_at. */
struct seen {
    int series;
    uint64_t samples;
    int64_t mint, maxt;
    int bad;
};

static int check_series(void *arg, const struct labels *ls, const int64_t *ts, const double *vs,
                        size_t n)
{
    struct seen *sn = arg;
    int s = (int)strtol(labels_get(ls, "host"), NULL, 10);
    sn->series++;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && ts[i] <= ts[i - 1])
            sn->bad++;
        if (vs[i] != value_at(s, ts[i]))
            sn->bad++;
        if (ts[i] < sn->mint)
            sn->mint = ts[i];
        if (ts[i] > sn->maxt)
            sn->maxt = ts[i];
    }
    sn->samples += n;
    return 0;
}

static struct seen select_all(struct db *d, int64_t mint, int64_t maxt)
{
    struct seen sn = { 0, 0, INT64_MAX, INT64_MIN, 0 };
    char err[256] = "";
    int rc = db_select(d, NULL, 0, mint, maxt, 0, check_series, &sn, err, sizeof err);
    if (rc != 0)
        fail_msg("db_select: %s: %s", tt_strerror(rc), err);
    assert_int_equal(sn.bad, 0);
    return sn;
}

static size_t count_block_dirs(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/blocks", dir);
    DIR *dh = opendir(p);
    assert_non_null(dh);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dh);
    return n;
}

/* The head cuts its oldest 2 h once it spans more than 3 h; reads see every
 * sample exactly once across the block and the head. */
static void test_cut_as_head_grows(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    o.compact_range_ms = 0;
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 10 * 24 * HOUR; /* aligned */
    append_range(d, 6, t0, t0 + 5 * HOUR, 60000);
    struct db_maint_stats ms;
    char err[256];
    assert_int_equal(db_maintain(d, &ms, err, sizeof err), 0);
    /* 5 h of head: [0, 2h) cut, then the span is 3 h - 1 min: stop. */
    assert_int_equal(ms.blocks_written, 1);
    assert_int_equal(ms.samples_written, 6 * 120);
    struct db_stats ds;
    db_stats(d, &ds);
    assert_int_equal(ds.blocks, 1);
    assert_int_equal(ds.min_t, t0);
    assert_int_equal(ds.max_t, t0 + 2 * HOUR - 60000); /* meta: the samples' bounds */
    struct seen sn = select_all(d, t0, t0 + 5 * HOUR);
    assert_int_equal(sn.series, 6);
    assert_int_equal(sn.samples, 6 * 300);
    /* A range inside the block only, and one across the boundary. */
    sn = select_all(d, t0 + HOUR, t0 + 2 * HOUR + 30 * 60000);
    assert_int_equal(sn.samples, 6 * 91);
    /* The head now refuses samples behind the block. */
    struct head_appender *a = NULL;
    assert_int_equal(head_appender_new(db_head(d), &a), 0);
    struct labels ls;
    char buf[16];
    series_labels(&ls, buf, sizeof buf, 0);
    assert_int_equal(head_appender_add(a, &ls, t0 + HOUR + 1, 1.0, NULL), TT_ERANGE);
    labels_release(&ls);
    head_appender_free(a);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

/* Flush seals everything; a restart serves the same data from blocks, and
 * the WAL does not bring it back a second time. */
static void test_flush_and_restart(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 20 * 24 * HOUR + 17 * 60000;
    append_range(d, 10, t0, t0 + 7 * HOUR, 15000);
    struct db_maint_stats ms;
    char err[256];
    assert_int_equal(db_flush(d, &ms, err, sizeof err), 0);
    assert_int_equal(ms.samples_written, 10 * 7 * 240);
    struct head_stats hs;
    head_stats(db_head(d), &hs);
    assert_int_equal(hs.chunks, 0);
    struct db_stats ds;
    db_stats(d, &ds);
    assert_int_equal(ds.block_samples, 10 * 7 * 240);
    assert_int_equal(ds.blocks, 1); /* compacted: one 24 h window */
    assert_true(ds.block_bytes > 0);
    struct seen sn = select_all(d, INT64_MIN / 2, INT64_MAX / 2);
    assert_int_equal(sn.samples, 10 * 7 * 240);
    assert_int_equal(sn.mint, t0);
    /* New samples go on after the flushed ones. */
    append_range(d, 10, t0 + 7 * HOUR, t0 + 8 * HOUR, 15000);
    assert_int_equal(db_close(d), 0);

    struct db_open_stats os;
    d = open_db(dir, &o, &os);
    assert_int_equal(os.blocks, 1);
    assert_int_equal(os.head.samples, 10 * 240);
    sn = select_all(d, INT64_MIN / 2, INT64_MAX / 2);
    assert_int_equal(sn.series, 10);
    assert_int_equal(sn.samples, 10 * 8 * 240);
    assert_int_equal(sn.maxt, t0 + 8 * HOUR - 15000);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

/* Two flushes into the same window give overlapping blocks; reads merge
 * them, compaction makes one block with every sample once. */
static void test_overlap_and_compaction(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    o.compact_range_ms = 0; /* first without compaction */
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 30 * 24 * HOUR;
    char err[256];
    append_range(d, 4, t0, t0 + 30 * 60000, 10000);
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    append_range(d, 4, t0 + 30 * 60000, t0 + 60 * 60000, 10000);
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    struct db_stats ds;
    db_stats(d, &ds);
    assert_int_equal(ds.blocks, 2);
    struct seen sn = select_all(d, t0, t0 + HOUR);
    assert_int_equal(sn.samples, 4 * 360);
    assert_int_equal(db_close(d), 0);

    o.compact_range_ms = 24 * HOUR;
    d = open_db(dir, &o, NULL);
    struct db_maint_stats ms;
    /* The window is still open (the head may add to it): no compaction. */
    assert_int_equal(db_maintain(d, &ms, err, sizeof err), 0);
    assert_int_equal(ms.blocks_compacted, 0);
    assert_int_equal(db_flush(d, &ms, err, sizeof err), 0);
    assert_int_equal(ms.blocks_compacted, 2);
    db_stats(d, &ds);
    assert_int_equal(ds.blocks, 1);
    assert_int_equal(ds.block_samples, 4 * 360);
    assert_int_equal(count_block_dirs(dir), 1);
    sn = select_all(d, t0, t0 + HOUR);
    assert_int_equal(sn.samples, 4 * 360);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

/* Retention by age deletes whole blocks older than the period measured from
 * the newest sample; by size the oldest go first. */
static void test_retention(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    o.compact_range_ms = 0;
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 40 * 24 * HOUR;
    char err[256];
    append_range(d, 3, t0, t0 + 12 * HOUR, 60000);
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    struct db_stats ds;
    db_stats(d, &ds);
    assert_int_equal(ds.blocks, 6);
    assert_int_equal(db_close(d), 0);

    o.retention_ms = 5 * HOUR;
    d = open_db(dir, &o, NULL);
    struct db_maint_stats ms;
    assert_int_equal(db_maintain(d, &ms, err, sizeof err), 0);
    /* newest 12h - 1 min; kept: blocks with maxt >= 7h - 1 min: [6h, 8h) on. */
    assert_int_equal(ms.blocks_expired, 3);
    db_stats(d, &ds);
    assert_int_equal(ds.blocks, 3);
    assert_int_equal(ds.min_t, t0 + 6 * HOUR);
    assert_int_equal(count_block_dirs(dir), 3);
    struct seen sn = select_all(d, t0, t0 + 12 * HOUR);
    assert_int_equal(sn.mint, t0 + 6 * HOUR);
    uint64_t one = ds.block_bytes / 3;
    struct head_stats hs;
    head_stats(db_head(d), &hs);
    assert_int_equal(db_close(d), 0);

    o.retention_ms = 0;
    o.retention_bytes = hs.wal.disk_bytes + one + one / 2; /* WAL + 1.5 blocks */
    d = open_db(dir, &o, NULL);
    assert_int_equal(db_maintain(d, &ms, err, sizeof err), 0);
    db_stats(d, &ds);
    assert_true(ds.blocks >= 1 && ds.blocks <= 2);
    assert_true(ds.block_bytes <= o.retention_bytes);
    assert_int_equal(ds.max_t, t0 + 12 * HOUR - 60000);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

/* A damaged block is skipped with its name; the rest is served. Leftovers
 * of interrupted writes are removed at open. */
static char logged[2048];
static void log_cb(void *arg, const char *msg)
{
    (void)arg;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof logged - n, "%s\n", msg);
}

static void test_damaged_block_and_leftovers(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    o.compact_range_ms = 0;
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 50 * 24 * HOUR;
    char err[256];
    append_range(d, 3, t0, t0 + 4 * HOUR, 60000);
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    assert_int_equal(db_close(d), 0);
    /* Damage the index of the oldest block. */
    char bdir[512], victim[1024] = "";
    snprintf(bdir, sizeof bdir, "%s/blocks", dir);
    DIR *dh = opendir(bdir);
    struct dirent *e;
    char first[256] = "";
    int64_t first_mint = INT64_MAX;
    while ((e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", bdir, e->d_name);
        struct block *b = NULL;
        assert_int_equal(block_open(&b, p, err, sizeof err), 0);
        if (block_get_meta(b)->mint < first_mint) {
            first_mint = block_get_meta(b)->mint;
            snprintf(first, sizeof first, "%s", e->d_name);
        }
        block_close(b);
    }
    closedir(dh);
    snprintf(victim, sizeof victim, "%s/%s/index", bdir, first);
    int fd = open(victim, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    for (off_t off = 0; off < sb.st_size; off += 7) {
        unsigned char c;
        assert_int_equal(pread(fd, &c, 1, off), 1);
        c ^= 0x5a;
        assert_int_equal(pwrite(fd, &c, 1, off), 1);
    }
    close(fd);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp", bdir);
    assert_int_equal(mkdir(tmp, 0755), 0);
    logged[0] = 0;
    struct db_open_stats os;
    d = NULL;
    assert_int_equal(db_open(&d, dir, &o, log_cb, NULL, &os, err, sizeof err), 0);
    assert_int_equal(os.blocks, 1);
    assert_int_equal(os.blocks_bad, 1);
    assert_int_equal(os.blocks_removed, 1);
    assert_non_null(strstr(logged, first));
    struct seen sn = select_all(d, t0, t0 + 4 * HOUR);
    assert_int_equal(sn.mint, t0 + 2 * HOUR);
    assert_int_equal(sn.samples, 3 * 120);
    struct db_stats ds;
    db_stats(d, &ds);
    assert_int_equal(ds.bad_blocks, 1);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

/* Label names and values come from the head and every block. */
static int count_cb(void *arg, const struct labels *ls, const int64_t *ts, const double *vs,
                    size_t n)
{
    (void)ls;
    (void)vs;
    assert_null(ts);
    assert_int_equal(n, 0);
    (*(int *)arg)++;
    return 0;
}

static void test_labels_union(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 60 * 24 * HOUR;
    char err[256];
    append_range(d, 2, t0, t0 + HOUR, 60000);
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    struct head_appender *a = NULL;
    assert_int_equal(head_appender_new(db_head(d), &a), 0);
    struct labels ls;
    labels_init(&ls);
    labels_push(&ls, "__name__", "temp");
    labels_push(&ls, "room", "hall");
    assert_int_equal(head_appender_add(a, &ls, t0 + 2 * HOUR, 21.5, NULL), 0);
    labels_release(&ls);
    assert_int_equal(head_appender_commit(a, NULL, err, sizeof err), 0);
    head_appender_free(a);
    struct db_strs names, vals;
    assert_int_equal(db_label_names(d, NULL, 0, INT64_MIN / 2, INT64_MAX / 2, &names), 0);
    assert_int_equal(names.n, 4);
    assert_string_equal(names.v[0], "__name__");
    assert_string_equal(names.v[1], "host");
    assert_string_equal(names.v[2], "job");
    assert_string_equal(names.v[3], "room");
    db_strs_release(&names);
    assert_int_equal(db_label_values(d, "__name__", NULL, 0, INT64_MIN / 2, INT64_MAX / 2, &vals),
                     0);
    assert_int_equal(vals.n, 3);
    assert_string_equal(vals.v[0], "load");
    assert_string_equal(vals.v[1], "temp");
    assert_string_equal(vals.v[2], "up");
    db_strs_release(&vals);
    int n = 0;
    assert_int_equal(
        db_select(d, NULL, 0, INT64_MIN / 2, INT64_MAX / 2, 1, count_cb, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    struct matcher *m = NULL;
    assert_int_equal(matcher_new(&m, MATCH_EQ, "__name__", "up", 0, err, sizeof err), 0);
    n = 0;
    assert_int_equal(
        db_select(d, &m, 1, INT64_MIN / 2, INT64_MAX / 2, 1, count_cb, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    matcher_free(m);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

/* Queries run while flush and compaction replace the blocks they read:
 * every query sees every sample once, and the replaced blocks are deleted
 * when the last reader is done. */
struct reader_arg {
    struct db *d;
    int64_t t0;
    uint64_t expect;
    atomic_int stop;
    atomic_int bad;
    atomic_int rounds;
};

static void *reader_main(void *p)
{
    struct reader_arg *ra = p;
    while (!atomic_load(&ra->stop)) {
        struct seen sn = { 0, 0, INT64_MAX, INT64_MIN, 0 };
        char err[256];
        int rc = db_select(ra->d, NULL, 0, ra->t0, ra->t0 + 24 * HOUR, 0, check_series, &sn, err,
                           sizeof err);
        if (rc != 0 || sn.bad != 0 || sn.samples != ra->expect)
            atomic_fetch_add(&ra->bad, 1);
        atomic_fetch_add(&ra->rounds, 1);
    }
    return NULL;
}

/* run_reader_during_flush: a reader selects in a loop while db_flush runs. */
static void run_reader_during_flush(struct db *d, int64_t t0, uint64_t expect)
{
    struct reader_arg ra = { .d = d, .t0 = t0, .expect = expect };
    pthread_t th;
    char err[256];
    assert_int_equal(pthread_create(&th, NULL, reader_main, &ra), 0);
    while (atomic_load(&ra.rounds) < 3)
        usleep(1000);
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    int r0 = atomic_load(&ra.rounds);
    while (atomic_load(&ra.rounds) < r0 + 3)
        usleep(1000);
    atomic_store(&ra.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&ra.bad), 0);
}

static void test_queries_during_maintenance(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    o.compact_range_ms = 0;
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 70 * 24 * HOUR;
    append_range(d, 5, t0, t0 + 6 * HOUR, 60000);
    run_reader_during_flush(d, t0, 5 * 360); /* cut from the head */
    assert_int_equal(db_close(d), 0);
    assert_int_equal(count_block_dirs(dir), 3);
    o.compact_range_ms = 24 * HOUR;
    d = open_db(dir, &o, NULL);
    run_reader_during_flush(d, t0, 5 * 360); /* compaction */
    assert_int_equal(count_block_dirs(dir), 1);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

/* Rollups equal what the raw samples give, whether they come from the
 * blocks' stored rollups (sources disjoint in time), from the head, or from
 * overlapping blocks rolled up from raw samples. */
struct raw_copy {
    int64_t *ts;
    double *vs;
    size_t n;
};

static int copy_raw(void *arg, const struct labels *ls, const int64_t *ts, const double *vs,
                    size_t n)
{
    (void)ls;
    struct raw_copy *c = arg;
    c->ts = realloc(c->ts, (c->n + n) * sizeof *ts);
    c->vs = realloc(c->vs, (c->n + n) * sizeof *vs);
    memcpy(c->ts + c->n, ts, n * sizeof *ts);
    memcpy(c->vs + c->n, vs, n * sizeof *vs);
    c->n += n;
    return 0;
}

struct rollup_check {
    struct raw_copy raw;
    int64_t res;
    size_t points;
    int bad;
};

static int check_rollup(void *arg, const struct labels *ls, const struct db_rollup_point *p,
                        size_t n)
{
    (void)ls;
    struct rollup_check *c = arg;
    for (size_t i = 0; i < n; i++) {
        double mn = NAN, mx = NAN, sum = 0, cnt = 0, last = NAN;
        int64_t last_t = 0;
        for (size_t k = 0; k < c->raw.n; k++) {
            int64_t t = c->raw.ts[k];
            uint64_t bits;
            memcpy(&bits, &c->raw.vs[k], 8);
            if (t <= p[i].t - c->res || t > p[i].t || bits == UINT64_C(0x7ff0000000000002))
                continue;
            double v = c->raw.vs[k];
            if (cnt == 0) {
                mn = mx = v;
            } else {
                if (v < mn || (mn != mn && v == v))
                    mn = v;
                if (v > mx || (mx != mx && v == v))
                    mx = v;
            }
            sum += v;
            cnt++;
            last = v;
            last_t = t;
        }
        if (p[i].t % c->res != 0 || cnt != p[i].count || last_t != p[i].last_t ||
            memcmp(&last, &p[i].last, 8) != 0 || memcmp(&sum, &p[i].sum, 8) != 0 ||
            memcmp(&mn, &p[i].min, 8) != 0 || memcmp(&mx, &p[i].max, 8) != 0)
            c->bad++;
        if (i > 0 && p[i].t <= p[i - 1].t)
            c->bad++;
    }
    c->points += n;
    return 0;
}

static size_t rollup_vs_raw(struct db *d, int64_t mint, int64_t maxt, int64_t res)
{
    struct rollup_check c = { .res = res };
    char err[256] = "";
    assert_int_equal(db_select(d, NULL, 0, mint + 1, maxt, 0, copy_raw, &c.raw, err, sizeof err),
                     0);
    int rc = db_select_rollup(d, NULL, 0, mint, maxt, res, check_rollup, &c, err, sizeof err);
    if (rc != 0)
        fail_msg("db_select_rollup: %s: %s", tt_strerror(rc), err);
    assert_int_equal(c.bad, 0);
    free(c.raw.ts);
    free(c.raw.vs);
    return c.points;
}

static void test_rollups_match_raw(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    struct db_options o = test_opts();
    o.rollup_after_ms = 0; /* every block gets rollups as soon as it is compacted */
    struct db *d = open_db(dir, &o, NULL);
    const int64_t t0 = 80 * 24 * HOUR;
    /* One series, 10 s samples with jitter, NaNs, a stale run, exact
     * boundary timestamps (t0 + k * 5 min is a sample time). */
    struct head_appender *a = NULL;
    assert_int_equal(head_appender_new(db_head(d), &a), 0);
    struct labels ls;
    labels_init(&ls);
    labels_push(&ls, "__name__", "g");
    uint64_t stale = UINT64_C(0x7ff0000000000002);
    double stale_v;
    memcpy(&stale_v, &stale, 8);
    for (int64_t i = 0; i < 6 * 360; i++) {
        int64_t t = t0 + i * 10000 + (i % 3 == 1 ? 7 : 0);
        double v = (double)((i * 37) % 101) - 50.0;
        if (i % 97 == 5)
            v = NAN;
        if (i >= 700 && i < 760)
            v = stale_v;
        assert_int_equal(head_appender_add(a, &ls, t, v, NULL), 0);
        if (i % 100 == 99)
            assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    }
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    char err[256];
    /* Head only. */
    assert_true(rollup_vs_raw(d, t0 - HOUR, t0 + 7 * HOUR, BLOCK_ROLLUP_5M_MS) > 60);
    assert_true(rollup_vs_raw(d, t0, t0 + 6 * HOUR, BLOCK_ROLLUP_1H_MS) == 6);
    /* Cut 2 h into a block; the rest stays in the head: disjoint sources. */
    assert_int_equal(db_maintain(d, NULL, err, sizeof err), 0);
    struct db_stats ds;
    db_stats(d, &ds);
    assert_true(ds.blocks >= 1);
    assert_true(rollup_vs_raw(d, t0 - HOUR, t0 + 7 * HOUR, BLOCK_ROLLUP_5M_MS) > 60);
    assert_int_equal(rollup_vs_raw(d, t0, t0 + 6 * HOUR, BLOCK_ROLLUP_1H_MS), 6);
    /* 14 intervals, (120 min, 125 min] only stale markers: no row. */
    assert_true(rollup_vs_raw(d, t0 + 55 * 60000, t0 + 125 * 60000, BLOCK_ROLLUP_5M_MS) == 13);
    /* Everything in blocks. */
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    assert_int_equal(rollup_vs_raw(d, t0, t0 + 6 * HOUR, BLOCK_ROLLUP_1H_MS), 6);
    /* A late sample is refused; newer ones make a second, later block. */
    for (int64_t i = 6 * 360; i < 6 * 360 + 50; i++)
        assert_int_equal(head_appender_add(a, &ls, t0 + i * 10000, (double)i, NULL), 0);
    assert_int_equal(head_appender_commit(a, NULL, NULL, 0), 0);
    assert_true(rollup_vs_raw(d, t0 - HOUR, t0 + 8 * HOUR, BLOCK_ROLLUP_5M_MS) > 70);
    assert_int_equal(db_flush(d, NULL, err, sizeof err), 0);
    assert_true(rollup_vs_raw(d, t0 - HOUR, t0 + 8 * HOUR, BLOCK_ROLLUP_5M_MS) > 70);
    db_stats(d, &ds);
    assert_true(ds.rollup_selects > 0);  /* from stored rollups */
    assert_true(ds.rollup_fallback > 0); /* from raw (head only, overlaps) */
    /* Unaligned ranges are refused. */
    assert_int_equal(db_select_rollup(d, NULL, 0, t0 + 1, t0 + HOUR, BLOCK_ROLLUP_5M_MS,
                                      check_rollup, NULL, err, sizeof err),
                     TT_EINVAL);
    labels_release(&ls);
    head_appender_free(a);
    assert_int_equal(db_close(d), 0);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_cut_as_head_grows), cmocka_unit_test(test_flush_and_restart),
           cmocka_unit_test(test_overlap_and_compaction), cmocka_unit_test(test_retention),
           cmocka_unit_test(test_damaged_block_and_leftovers), cmocka_unit_test(test_labels_union),
           cmocka_unit_test(test_queries_during_maintenance),
           cmocka_unit_test(test_rollups_match_raw))
