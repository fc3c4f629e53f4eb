/* test_block.c - persisted TSDB blocks (src/store/tsdb/block*.c): round trips
 * of random and edge-case series, selection by every matcher kind against a
 * brute-force evaluation, label listings, time ranges and seeks, rollups
 * against brute force, damage to every file detected (and never a crash,
 * also with checksums fixed up so the decoders see the damage), writer
 * errors, empty blocks, abort, disk full, removal and ids. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/buf.h"
#include "core/crc32c.h"
#include "store/tsdb/block.h"
#include "store/tsdb/block_int.h"

/* ---- fixtures ------------------------------------------------------------------------ */

static void make_tmpdir(char *dir, size_t len)
{
    assert_int_equal(tmpdir_make(dir, len, "block"), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static uint64_t rng_state = 0x1234567;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

struct tseries {
    struct labels ls;
    int64_t *ts;
    double *vs;
    size_t n;
};

struct dataset {
    struct tseries *s;
    size_t n;
    char **strs;
    size_t nstrs;
    int64_t mint, maxt;
};

static const char *intern(struct dataset *d, const char *s)
{
    for (size_t i = 0; i < d->nstrs; i++) {
        if (strcmp(d->strs[i], s) == 0)
            return d->strs[i];
    }
    d->strs = realloc(d->strs, (d->nstrs + 1) * sizeof *d->strs);
    assert_non_null(d->strs);
    d->strs[d->nstrs] = strdup(s);
    assert_non_null(d->strs[d->nstrs]);
    return d->strs[d->nstrs++];
}

static int cmp_series(const void *a, const void *b)
{
    return labels_cmp(&((const struct tseries *)a)->ls, &((const struct tseries *)b)->ls);
}

static const double edge[] = { 0.0, -0.0, 1.0, -1.5, INFINITY, -INFINITY, 1e308, 5e-324, 0.1 };

static double edge_value(size_t k)
{
    switch (k % 12) {
    case 9:
        return f64_from_bits(BLOCK_STALE_BITS);
    case 10:
        return f64_from_bits(UINT64_C(0x7ff8000000000000) | (rnd() & 0xfffffffffffu));
    case 11:
        return f64_from_bits(UINT64_C(0xfff0000000000001) + (rnd() & 0xffff));
    default:
        return edge[k % 12];
    }
}

/* make_dataset builds nseries series with labels from small pools (so
 * matchers have work), sorted, over [mint, mint + span]. Series shapes:
 * regular 10 s, jittered 1 s, one sample, long (many chunks), random values,
 * counters, edge values. */
static void make_dataset(struct dataset *d, size_t nseries, int64_t mint, int64_t span)
{
    static const char *const names[] = { "up", "http_requests_total", "node_cpu", "mem", "a.b" };
    static const char *const jobs[] = { "api", "db", "web", "cache" };
    static const char *const modes[] = { "idle", "user", "system", "x\ny", "\"q\"" };
    memset(d, 0, sizeof *d);
    d->mint = mint;
    d->maxt = mint + span;
    d->s = calloc(nseries, sizeof *d->s);
    assert_non_null(d->s);
    char buf[64];
    for (size_t i = 0; i < nseries; i++) {
        struct tseries *s = &d->s[d->n];
        labels_init(&s->ls);
        labels_push(&s->ls, "__name__", intern(d, names[rnd() % 5]));
        if (rnd() % 4)
            labels_push(&s->ls, "job", intern(d, jobs[rnd() % 4]));
        snprintf(buf, sizeof buf, "host-%u", (unsigned)(rnd() % 23));
        labels_push(&s->ls, "instance", intern(d, buf));
        if (rnd() % 3 == 0)
            labels_push(&s->ls, "mode", intern(d, modes[rnd() % 5]));
        snprintf(buf, sizeof buf, "%zu", i);
        labels_push(&s->ls, "zid", intern(d, buf)); /* unique */
        assert_int_equal(labels_normalize(&s->ls), 0);
        int shape = (int)(i % 7);
        size_t n = shape == 2 ? 1 : shape == 3 ? 10000 : 50 + rnd() % 400;
        s->ts = malloc(n * sizeof *s->ts);
        s->vs = malloc(n * sizeof *s->vs);
        assert_true(s->ts && s->vs);
        int64_t step = shape == 1 ? 1000 : shape == 3 ? 1000 : 10000;
        int64_t t = mint + (int64_t)(rnd() % 5000);
        size_t k = 0;
        double c = 0;
        for (; k < n && t <= d->maxt; k++) {
            s->ts[k] = t;
            switch (shape) {
            case 0:
                s->vs[k] = (double)(int64_t)(rnd() % 100000) / 100.0;
                break;
            case 1:
                s->vs[k] = f64_from_bits(rnd());
                break;
            case 4:
                c += (double)(rnd() % 1000);
                s->vs[k] = c;
                break;
            case 5:
                s->vs[k] = edge_value(k + i);
                break;
            default:
                s->vs[k] = (double)(rnd() % 7);
            }
            int64_t jitter = shape == 1 ? (int64_t)(rnd() % 21) - 10 : 0;
            t += step + jitter;
        }
        s->n = k;
        d->n++;
    }
    qsort(d->s, d->n, sizeof *d->s, cmp_series);
}

static void free_dataset(struct dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        labels_release(&d->s[i].ls);
        free(d->s[i].ts);
        free(d->s[i].vs);
    }
    free(d->s);
    for (size_t i = 0; i < d->nstrs; i++)
        free(d->strs[i]);
    free(d->strs);
}

/* write_block writes d into blocks_dir; the block's directory into path. */
static void write_block(const struct dataset *d, const char *blocks_dir,
                        const struct block_writer_options *o, char *path, size_t len,
                        struct block_meta *meta)
{
    char err[256];
    struct block_writer *w;
    assert_int_equal(block_writer_new(&w, blocks_dir, d->mint, d->maxt, o, err, sizeof err), 0);
    for (size_t i = 0; i < d->n; i++) {
        int rc = block_writer_add_series(w, &d->s[i].ls, d->s[i].ts, d->s[i].vs, d->s[i].n, err,
                                         sizeof err);
        if (rc)
            fail_msg("add series %zu: %s", i, err);
    }
    struct block_meta m;
    int rc = block_writer_finish(w, &m, err, sizeof err);
    if (rc)
        fail_msg("finish: %s", err);
    snprintf(path, len, "%s/%s", blocks_dir, m.id);
    if (meta)
        *meta = m;
    else
        block_meta_release(&m);
}

static void assert_same_bits(double a, double b)
{
    if (f64_bits(a) != f64_bits(b))
        fail_msg("value bits %016llx != %016llx", (unsigned long long)f64_bits(a),
                 (unsigned long long)f64_bits(b));
}

/* check_all reads every series of the block in full and compares. */
static void check_all(struct block *b, const struct dataset *d)
{
    struct block_series_set *ss;
    assert_int_equal(block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ss), 0);
    assert_int_equal(block_series_set_count(ss), d->n);
    for (size_t i = 0; i < d->n; i++) {
        assert_true(labels_equal(block_series_set_labels(ss, i), &d->s[i].ls));
        struct block_iter it;
        assert_int_equal(block_iter_init(&it, ss, i, INT64_MIN, INT64_MAX, BLOCK_RAW, 0), 0);
        size_t k = 0;
        int rc;
        while ((rc = block_iter_next(&it)) == 1) {
            assert_true(k < d->s[i].n);
            assert_int_equal(it.t, d->s[i].ts[k]);
            assert_same_bits(it.v, d->s[i].vs[k]);
            k++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(k, d->s[i].n);
        block_iter_release(&it);
    }
    block_series_set_free(ss);
}

/* ---- round trips ------------------------------------------------------------------------ */

static void test_block_roundtrip(void **state)
{
    (void)state;
    char dir[64], path[256], err[256];
    make_tmpdir(dir, sizeof dir);
    struct dataset d;
    make_dataset(&d, 300, INT64_C(1700000000000), INT64_C(6) * 3600 * 1000);
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.chunk_max_samples = 1000; /* the long series need several chunks */
    struct block_meta wm;
    write_block(&d, dir, &o, path, sizeof path, &wm);
    uint64_t samples = 0;
    for (size_t i = 0; i < d.n; i++)
        samples += d.s[i].n;
    assert_int_equal(wm.series, d.n);
    assert_int_equal(wm.samples, samples);
    assert_true(wm.chunks > d.n);
    struct block *b;
    if (block_open(&b, path, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    const struct block_meta *m = block_get_meta(b);
    assert_string_equal(m->id, wm.id);
    assert_int_equal(m->mint, d.mint);
    assert_int_equal(m->maxt, d.maxt);
    assert_int_equal(m->series, d.n);
    assert_int_equal(m->samples, samples);
    assert_int_equal(m->chunks, wm.chunks);
    assert_int_equal(m->level, 1);
    assert_int_equal(m->nsources, 1);
    assert_string_equal(m->sources[0], m->id);
    assert_true(m->has_rollups);
    assert_int_equal(m->bytes, wm.bytes);
    assert_string_equal(block_dir(b), path);
    check_all(b, &d);
    block_close(b);
    block_meta_release(&wm);
    /* Defaults (4096 samples a chunk, 2 h ranges), no rollups, raw pages. */
    block_writer_options_default(&o);
    o.rollups = 0;
    o.zstd_level = 0;
    write_block(&d, dir, &o, path, sizeof path, NULL);
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    assert_false(block_get_meta(b)->has_rollups);
    check_all(b, &d);
    struct block_series_set *ss;
    assert_int_equal(block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ss), 0);
    struct block_iter it;
    assert_int_equal(
        block_iter_init(&it, ss, 0, INT64_MIN, INT64_MAX, BLOCK_ROLLUP_SUM, BLOCK_ROLLUP_5M_MS),
        TT_ENOTFOUND);
    block_iter_release(&it);
    block_series_set_free(ss);
    block_close(b);
    free_dataset(&d);
    rm_rf(dir);
}

/* Timestamps shared by every series are stored once per chunk range. */
static void test_block_shared_timestamps(void **state)
{
    (void)state;
    char dir[64], path[256], err[256];
    make_tmpdir(dir, sizeof dir);
    struct dataset d;
    memset(&d, 0, sizeof d);
    d.mint = 0;
    d.maxt = 4 * 3600 * 1000 - 1;
    size_t ns = 200, n = 1440;
    d.s = calloc(ns, sizeof *d.s);
    char name[32];
    for (size_t i = 0; i < ns; i++) {
        struct tseries *s = &d.s[d.n++];
        labels_init(&s->ls);
        snprintf(name, sizeof name, "s%05zu", i);
        labels_push(&s->ls, "__name__", intern(&d, name));
        s->ts = malloc(n * sizeof *s->ts);
        s->vs = malloc(n * sizeof *s->vs);
        for (size_t k = 0; k < n; k++) {
            s->ts[k] = (int64_t)k * 10000 + (int64_t)(k * 7 % 5); /* jittered, shared */
            s->vs[k] = (double)(k * i % 1000);
        }
        s->n = n;
    }
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.rollups = 0;
    o.zstd_level = 0;
    struct block_meta m;
    write_block(&d, dir, &o, path, sizeof path, &m);
    /* Unshared, each of the 400 chunks would carry ~720 bytes of dods. */
    char cpath[300];
    snprintf(cpath, sizeof cpath, "%s/chunks", path);
    struct stat st;
    assert_int_equal(stat(cpath, &st), 0);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    check_all(b, &d);
    size_t values = 0;
    struct bcursor c;
    struct bchunk ch;
    uint32_t tcol = 0;
    for (uint32_t s = 0; s < b->nseries; s++) {
        block_cursor_init(b, s, &c);
        int k = 0;
        while (block_cursor_next(&c, &ch)) {
            values += ch.len;
            if (s == 0 && k == 0)
                tcol = ch.tcol;
            else if (k == 0)
                assert_int_equal(ch.tcol, tcol);
            k++;
        }
        assert_int_equal(k, 2);
    }
    /* Two timestamp columns in the whole file, besides the value columns. */
    assert_int_equal(b->ntscols, 2);
    size_t limit = values + 2 * 2048 + 16 * (b->pages[0].n + 1);
    if ((size_t)st.st_size >= limit)
        fail_msg("chunks file %lld bytes, value columns %zu", (long long)st.st_size, values);
    block_close(b);
    block_meta_release(&m);
    free_dataset(&d);
    rm_rf(dir);
}

/* ---- selection ------------------------------------------------------------------------------ */

static int brute_match(const struct labels *ls, struct matcher *const *ms, size_t nms)
{
    for (size_t i = 0; i < nms; i++) {
        const char *v = labels_get(ls, matcher_name(ms[i]));
        if (v == NULL)
            v = "";
        if (!matcher_matches(ms[i], v, strlen(v)))
            return 0;
    }
    return 1;
}

static void check_select(struct block *b, const struct dataset *d, struct matcher *const *ms,
                         size_t nms)
{
    struct block_series_set *ss;
    assert_int_equal(block_select(b, ms, nms, INT64_MIN, INT64_MAX, &ss), 0);
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!brute_match(&d->s[i].ls, ms, nms))
            continue;
        assert_true(k < block_series_set_count(ss));
        assert_true(labels_equal(block_series_set_labels(ss, k), &d->s[i].ls));
        k++;
    }
    assert_int_equal(k, block_series_set_count(ss));
    block_series_set_free(ss);
    /* Names and values of the selection. */
    struct index_strs names, vals;
    assert_int_equal(block_label_names(b, ms, nms, &names), 0);
    const char *want[16];
    size_t nw = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!brute_match(&d->s[i].ls, ms, nms))
            continue;
        for (size_t l = 0; l < d->s[i].ls.n; l++) {
            size_t j = 0;
            while (j < nw && strcmp(want[j], d->s[i].ls.v[l].name) != 0)
                j++;
            if (j == nw)
                want[nw++] = d->s[i].ls.v[l].name;
        }
    }
    assert_int_equal(names.n, nw);
    for (size_t i = 0; i < names.n; i++) {
        if (i > 0)
            assert_true(strcmp(names.v[i - 1], names.v[i]) < 0);
        size_t j = 0;
        while (j < nw && strcmp(want[j], names.v[i]) != 0)
            j++;
        assert_true(j < nw);
    }
    index_strs_release(&names);
    static const char *const lnames[] = { "job", "mode", "__name__", "nope" };
    for (int ln = 0; ln < 4; ln++) {
        assert_int_equal(block_label_values(b, lnames[ln], ms, nms, &vals), 0);
        size_t cnt = 0;
        for (size_t v = 0; v < vals.n; v++) {
            if (v > 0)
                assert_true(strcmp(vals.v[v - 1], vals.v[v]) < 0);
            int found = 0;
            for (size_t i = 0; i < d->n && !found; i++) {
                const char *x = labels_get(&d->s[i].ls, lnames[ln]);
                found = x && strcmp(x, vals.v[v]) == 0 && brute_match(&d->s[i].ls, ms, nms);
            }
            assert_true(found);
            cnt++;
        }
        /* and every value that occurs is listed */
        for (size_t i = 0; i < d->n; i++) {
            const char *x = labels_get(&d->s[i].ls, lnames[ln]);
            if (x == NULL || !brute_match(&d->s[i].ls, ms, nms))
                continue;
            size_t v = 0;
            while (v < vals.n && strcmp(vals.v[v], x) != 0)
                v++;
            assert_true(v < vals.n);
        }
        (void)cnt;
        index_strs_release(&vals);
    }
}

static void test_block_matchers(void **state)
{
    (void)state;
    char dir[64], path[256], err[256];
    make_tmpdir(dir, sizeof dir);
    struct dataset d;
    make_dataset(&d, 400, 0, 3600 * 1000);
    write_block(&d, dir, NULL, path, sizeof path, NULL);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    static const struct {
        enum matcher_type t;
        const char *name, *value;
    } cases[][3] = {
        { { MATCH_EQ, "job", "api" } },
        { { MATCH_EQ, "job", "" } },
        { { MATCH_EQ, "job", "nope" } },
        { { MATCH_EQ, "nolabel", "" } },
        { { MATCH_EQ, "nolabel", "x" } },
        { { MATCH_NEQ, "job", "api" } },
        { { MATCH_NEQ, "job", "" } },
        { { MATCH_NEQ, "nolabel", "x" } },
        { { MATCH_RE, "job", "api|db" } },
        { { MATCH_RE, "job", "api|" } },
        { { MATCH_RE, "job", ".*" } },
        { { MATCH_RE, "job", ".+" } },
        { { MATCH_RE, "instance", "host-1.*" } },
        { { MATCH_RE, "instance", "host-[0-9]" } },
        { { MATCH_RE, "mode", "x.y" } },
        { { MATCH_RE, "mode", "(?:idle|\"q\")" } },
        { { MATCH_NRE, "job", "api|db" } },
        { { MATCH_NRE, "job", ".+" } },
        { { MATCH_NRE, "mode", "i.*" } },
        { { MATCH_NRE, "instance", "" } },
        { { MATCH_EQ, "__name__", "up" }, { MATCH_NEQ, "job", "db" } },
        { { MATCH_RE, "__name__", "node.*|mem" }, { MATCH_RE, "instance", "host-2." } },
        { { MATCH_EQ, "__name__", "a.b" }, { MATCH_NRE, "mode", "" }, { MATCH_EQ, "job", "web" } },
        { { MATCH_NEQ, "job", "api" }, { MATCH_NRE, "instance", "host-1.*" } },
        { { MATCH_RE, "zid", "1[0-9]" }, { MATCH_EQ, "mode", "" } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct matcher *ms[3];
        size_t nms = 0;
        for (int k = 0; k < 3 && cases[c][k].name != NULL; k++) {
            assert_int_equal(matcher_new(&ms[nms], cases[c][k].t, cases[c][k].name,
                                         cases[c][k].value, 0, err, sizeof err),
                             0);
            nms++;
        }
        check_select(b, &d, ms, nms);
        for (size_t k = 0; k < nms; k++)
            matcher_free(ms[k]);
    }
    check_select(b, &d, NULL, 0);
    block_close(b);
    free_dataset(&d);
    rm_rf(dir);
}

/* ---- time ranges and seeks ----------------------------------------------------------------- */

static void test_block_time_range_seek(void **state)
{
    (void)state;
    char dir[64], path[256], err[256];
    make_tmpdir(dir, sizeof dir);
    struct dataset d;
    make_dataset(&d, 120, 1000, INT64_C(5) * 3600 * 1000);
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.chunk_max_samples = 300;
    write_block(&d, dir, &o, path, sizeof path, NULL);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    for (int q = 0; q < 60; q++) {
        int64_t lo = d.mint + (int64_t)(rnd() % (uint64_t)(d.maxt - d.mint + 1)) - 1000;
        int64_t hi = lo + (int64_t)(rnd() % (q < 30 ? 100000 : 20000000));
        struct block_series_set *ss;
        assert_int_equal(block_select(b, NULL, 0, lo, hi, &ss), 0);
        size_t k = 0;
        for (size_t i = 0; i < d.n; i++) {
            const struct tseries *s = &d.s[i];
            /* Selected when a chunk overlaps: a superset of series with samples in range. */
            size_t first = 0;
            while (first < s->n && s->ts[first] < lo)
                first++;
            int has = first < s->n && s->ts[first] <= hi;
            if (k < block_series_set_count(ss) &&
                labels_equal(block_series_set_labels(ss, k), &s->ls)) {
                struct block_iter it;
                assert_int_equal(block_iter_init(&it, ss, k, lo, hi, BLOCK_RAW, 0), 0);
                size_t j = first;
                int rc;
                while ((rc = block_iter_next(&it)) == 1) {
                    assert_true(j < s->n && s->ts[j] <= hi);
                    assert_int_equal(it.t, s->ts[j]);
                    assert_same_bits(it.v, s->vs[j]);
                    j++;
                }
                assert_int_equal(rc, 0);
                assert_true(j == s->n || s->ts[j] > hi);
                block_iter_release(&it);
                /* Seeks: forward to random targets, staying put when current. */
                assert_int_equal(block_iter_init(&it, ss, k, lo, hi, BLOCK_RAW, 0), 0);
                int64_t target = lo - 5;
                for (int sk = 0; sk < 20; sk++) {
                    target += (int64_t)(rnd() % (uint64_t)((hi - lo) / 8 + 2));
                    size_t want = first;
                    while (want < s->n && s->ts[want] < target)
                        want++;
                    rc = block_iter_seek(&it, target);
                    if (want >= s->n || s->ts[want] > hi) {
                        assert_int_equal(rc, 0);
                        break;
                    }
                    assert_int_equal(rc, 1);
                    assert_int_equal(it.t, s->ts[want]);
                    assert_same_bits(it.v, s->vs[want]);
                    /* seeking to an earlier time stays put */
                    assert_int_equal(block_iter_seek(&it, target - 100000), 1);
                    assert_int_equal(it.t, s->ts[want]);
                    if (sk % 3 == 0) {
                        rc = block_iter_next(&it);
                        if (want + 1 < s->n && s->ts[want + 1] <= hi) {
                            assert_int_equal(rc, 1);
                            assert_int_equal(it.t, s->ts[want + 1]);
                            target = it.t;
                        } else {
                            assert_int_equal(rc, 0);
                            break;
                        }
                    }
                }
                block_iter_release(&it);
                k++;
            } else {
                assert_false(has);
            }
        }
        assert_int_equal(k, block_series_set_count(ss));
        block_series_set_free(ss);
    }
    /* Empty ranges. */
    struct block_series_set *ss;
    assert_int_equal(block_select(b, NULL, 0, d.maxt + 1, INT64_MAX, &ss), 0);
    assert_int_equal(block_series_set_count(ss), 0);
    block_series_set_free(ss);
    assert_int_equal(block_select(b, NULL, 0, 10, 5, &ss), 0);
    assert_int_equal(block_series_set_count(ss), 0);
    block_series_set_free(ss);
    /* An iterator outlives its set (it keeps the page cache). */
    assert_int_equal(block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ss), 0);
    struct block_iter it;
    assert_int_equal(block_iter_init(&it, ss, 3, INT64_MIN, INT64_MAX, BLOCK_RAW, 0), 0);
    block_series_set_free(ss);
    size_t n = 0;
    while (block_iter_next(&it) == 1)
        n++;
    assert_int_equal(n, d.s[3].n);
    assert_string_equal(block_iter_error(&it), "");
    block_iter_release(&it);
    block_close(b);
    free_dataset(&d);
    rm_rf(dir);
}

/* Runs: block_iter_next_run hands over whole chunks cut to [lo, hi], and may
 * be mixed with next and seek. */
static void test_block_iter_runs(void **state)
{
    (void)state;
    char dir[64], path[256], err[256];
    make_tmpdir(dir, sizeof dir);
    struct dataset d;
    make_dataset(&d, 40, 1000, INT64_C(5) * 3600 * 1000);
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.chunk_max_samples = 300;
    write_block(&d, dir, &o, path, sizeof path, NULL);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    for (int q = 0; q < 40; q++) {
        int64_t lo = d.mint + (int64_t)(rnd() % (uint64_t)(d.maxt - d.mint + 1)) - 1000;
        int64_t hi = lo + (int64_t)(rnd() % (q < 20 ? 100000 : 20000000));
        if (q == 0) {
            lo = INT64_MIN;
            hi = INT64_MAX;
        }
        struct block_series_set *ss;
        assert_int_equal(block_select(b, NULL, 0, lo, hi, &ss), 0);
        size_t k = 0;
        for (size_t i = 0; i < d.n && k < block_series_set_count(ss); i++) {
            const struct tseries *s = &d.s[i];
            if (!labels_equal(block_series_set_labels(ss, k), &s->ls))
                continue;
            size_t j = 0;
            while (j < s->n && s->ts[j] < lo)
                j++;
            struct block_iter it;
            assert_int_equal(block_iter_init(&it, ss, k, lo, hi, BLOCK_RAW, 0), 0);
            long got;
            const int64_t *rts;
            const double *rvs;
            for (int step = 0;; step++) {
                int how = q == 0 ? 0 : (int)(rnd() % 4); /* 0, 1: run; 2: next; 3: seek */
                if (how < 2) {
                    got = block_iter_next_run(&it, &rts, &rvs);
                    if (got == 0)
                        break;
                    assert_true(got > 0 && got <= 300);
                    for (long r = 0; r < got; r++, j++) {
                        assert_true(j < s->n && s->ts[j] <= hi);
                        assert_int_equal(rts[r], s->ts[j]);
                        assert_same_bits(rvs[r], s->vs[j]);
                    }
                    assert_int_equal(it.t, rts[got - 1]);
                    assert_same_bits(it.v, rvs[got - 1]);
                } else if (how == 2) {
                    int rc = block_iter_next(&it);
                    if (rc == 0)
                        break;
                    assert_int_equal(rc, 1);
                    assert_int_equal(it.t, s->ts[j]);
                    j++;
                } else {
                    int64_t target = s->ts[j < s->n ? j : s->n - 1] + (int64_t)(rnd() % 5000);
                    size_t want = j;
                    while (want < s->n && s->ts[want] < target)
                        want++;
                    int rc = block_iter_seek(&it, target);
                    if (want >= s->n || s->ts[want] > hi) {
                        assert_int_equal(rc, 0);
                        j = want;
                        break;
                    }
                    assert_int_equal(rc, 1);
                    assert_int_equal(it.t, s->ts[want]);
                    /* The run after a seek starts after the sample it found. */
                    j = want + 1;
                }
            }
            assert_true(j >= s->n || s->ts[j] > hi);
            const int64_t *rts2;
            const double *rvs2;
            assert_int_equal(block_iter_next_run(&it, &rts2, &rvs2), 0); /* stays at the end */
            block_iter_release(&it);
            k++;
        }
        assert_int_equal(k, block_series_set_count(ss));
        block_series_set_free(ss);
    }
    block_close(b);
    free_dataset(&d);
    rm_rf(dir);
}

/* ---- rollups --------------------------------------------------------------------------------- */

static int64_t floor_div_ms(int64_t t, int64_t d)
{
    int64_t q = t / d;
    return (t % d != 0 && t < 0) ? q - 1 : q;
}

static void same_or_both_nan(double a, double b)
{
    if (isnan(a) && isnan(b))
        return;
    assert_same_bits(a, b);
}

static void check_rollup(struct block_series_set *ss, size_t i, const struct tseries *s,
                         int64_t res, int kind, int64_t lo, int64_t hi)
{
    struct block_iter it;
    assert_int_equal(block_iter_init(&it, ss, i, lo, hi, (enum block_series_kind)kind, res), 0);
    size_t k = 0;
    while (k < s->n) {
        /* brute force: the next interval with a non-stale sample */
        while (k < s->n && f64_bits(s->vs[k]) == BLOCK_STALE_BITS)
            k++;
        if (k == s->n)
            break;
        int64_t iv = floor_div_ms(s->ts[k] - 1, res);
        double mn = NAN, mx = NAN, sum = 0, cnt = 0, last = 0;
        int64_t t = 0;
        int first = 1;
        for (; k < s->n && floor_div_ms(s->ts[k] - 1, res) == iv; k++) {
            double v = s->vs[k];
            if (f64_bits(v) == BLOCK_STALE_BITS)
                continue;
            if (!isnan(v) && (isnan(mn) || v < mn))
                mn = v;
            if (!isnan(v) && (isnan(mx) || v > mx))
                mx = v;
            sum = first ? v : sum + v;
            first = 0;
            cnt++;
            last = v;
            t = s->ts[k];
        }
        if (t < lo || t > hi)
            continue;
        double want[] = { 0, mn, mx, sum, cnt, last };
        assert_int_equal(block_iter_next(&it), 1);
        assert_int_equal(it.t, t);
        if (kind == BLOCK_ROLLUP_LAST || kind == BLOCK_ROLLUP_COUNT)
            assert_same_bits(it.v, want[kind]);
        else
            same_or_both_nan(it.v, want[kind]);
    }
    assert_int_equal(block_iter_next(&it), 0);
    block_iter_release(&it);
}

static void test_block_rollups(void **state)
{
    (void)state;
    char dir[64], path[256], err[256];
    make_tmpdir(dir, sizeof dir);
    struct dataset d;
    make_dataset(&d, 80, -INT64_C(3) * 3600 * 1000 + 17, INT64_C(7) * 3600 * 1000);
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.chunk_max_samples = 50; /* rollups are cut into segments too */
    write_block(&d, dir, &o, path, sizeof path, NULL);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    struct block_series_set *ss;
    assert_int_equal(block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ss), 0);
    assert_int_equal(block_series_set_count(ss), d.n);
    static const int64_t res[] = { BLOCK_ROLLUP_5M_MS, BLOCK_ROLLUP_1H_MS };
    for (size_t i = 0; i < d.n; i++) {
        for (int r = 0; r < 2; r++) {
            for (int kind = BLOCK_ROLLUP_MIN; kind <= BLOCK_ROLLUP_LAST; kind++) {
                check_rollup(ss, i, &d.s[i], res[r], kind, INT64_MIN, INT64_MAX);
                int64_t lo = d.mint + (int64_t)(rnd() % 20000000);
                check_rollup(ss, i, &d.s[i], res[r], kind, lo, lo + 3600 * 1000);
            }
        }
    }
    struct block_iter it;
    assert_int_equal(block_iter_init(&it, ss, 0, 0, 1, BLOCK_ROLLUP_MIN, 60000), TT_EINVAL);
    block_series_set_free(ss);
    block_close(b);
    free_dataset(&d);
    rm_rf(dir);
}

/* ---- damage --------------------------------------------------------------------------------- */

struct files {
    uint8_t *f[4]; /* meta, index, chunks, rollups */
    size_t len[4];
};

static const char *const fnames[4] = { "meta.json", "index", "chunks", "rollups" };

static void load_files(const char *path, struct files *fs)
{
    char p[512];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", path, fnames[i]);
        FILE *f = fopen(p, "rb");
        if (f == NULL && i == 3) { /* a block without rollups */
            fs->len[3] = 0;
            fs->f[3] = malloc(1);
            continue;
        }
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        fs->len[i] = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        fs->f[i] = malloc(fs->len[i] + 1);
        assert_int_equal(fread(fs->f[i], 1, fs->len[i], f), fs->len[i]);
        fclose(f);
    }
}

static void free_files(struct files *fs)
{
    for (int i = 0; i < 4; i++)
        free(fs->f[i]);
}

/* read_everything opens the in-memory block and reads all of it; returns the
 * first error (and its message in err), 0 when all is well. */
static int read_everything(const struct files *fs, const size_t *len, char *err, size_t errlen)
{
    struct block *b;
    int rc = block_open_mem(&b, "blk", fs->f[0], len[0], fs->f[1], len[1], fs->f[2], len[2],
                            fs->f[3], len[3], err, errlen);
    if (rc)
        return rc;
    struct block_series_set *ss = NULL;
    rc = block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ss);
    for (size_t i = 0; rc == 0 && i < block_series_set_count(ss); i++) {
        for (int kind = BLOCK_RAW; kind <= BLOCK_ROLLUP_LAST && rc == 0; kind++) {
            for (int r = 0; r < (kind == BLOCK_RAW ? 1 : 2) && rc == 0; r++) {
                struct block_iter it;
                rc = block_iter_init(&it, ss, i, INT64_MIN, INT64_MAX, (enum block_series_kind)kind,
                                     r ? BLOCK_ROLLUP_1H_MS : BLOCK_ROLLUP_5M_MS);
                if (rc == TT_ENOTFOUND && kind != BLOCK_RAW && !block_get_meta(b)->has_rollups) {
                    rc = 0;
                    continue;
                }
                int k;
                while (rc == 0 && (k = block_iter_next(&it)) == 1)
                    ;
                if (rc == 0 && k < 0) {
                    rc = k;
                    snprintf(err, errlen, "%s", block_iter_error(&it));
                }
                block_iter_release(&it);
            }
        }
    }
    struct index_strs s;
    if (rc == 0 && block_label_names(b, NULL, 0, &s) == 0) {
        for (size_t i = 0; i < s.n; i++) {
            struct index_strs v;
            if (block_label_values(b, s.v[i], NULL, 0, &v) == 0)
                index_strs_release(&v);
        }
        index_strs_release(&s);
    }
    block_series_set_free(ss);
    block_close(b);
    return rc;
}

static void small_block(char *dir, size_t dlen, char *path, size_t plen, struct dataset *d)
{
    make_tmpdir(dir, dlen);
    make_dataset(d, 24, 0, 3 * 3600 * 1000);
    for (size_t i = 0; i < d->n; i++) /* keep it small */
        d->s[i].n = d->s[i].n > 300 ? 300 : d->s[i].n;
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.chunk_max_samples = 100;
    write_block(d, dir, &o, path, plen, NULL);
}

static void test_block_corrupt_index(void **state)
{
    (void)state;
    char dir[64], path[256], err[512];
    struct dataset d;
    small_block(dir, sizeof dir, path, sizeof path, &d);
    struct files fs;
    load_files(path, &fs);
    assert_int_equal(read_everything(&fs, fs.len, err, sizeof err), 0);
    /* Every truncation of the index (meta.json names the size). */
    size_t len[4] = { fs.len[0], fs.len[1], fs.len[2], fs.len[3] };
    for (size_t cut = 0; cut < fs.len[1]; cut += 1 + cut / 64) {
        len[1] = cut;
        assert_int_equal(read_everything(&fs, len, err, sizeof err), TT_ECORRUPT);
        assert_non_null(strstr(err, "blk/index"));
    }
    len[1] = fs.len[1];
    /* Every byte flipped: the checksums catch each. */
    for (size_t off = 0; off < fs.len[1]; off++) {
        uint8_t x = (uint8_t)(1u << (off % 8));
        fs.f[1][off] ^= x;
        int rc = read_everything(&fs, len, err, sizeof err);
        if (rc != TT_ECORRUPT || strstr(err, "blk/index: offset") == NULL)
            fail_msg("flip at %zu: rc %d (%s)", off, rc, err);
        fs.f[1][off] ^= x;
    }
    /* And the same on disk: the message names the file's path. */
    char p[512];
    snprintf(p, sizeof p, "%s/index", path);
    assert_int_equal(truncate(p, (off_t)fs.len[1] - 3), 0);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, p));
    /* meta.json: damage never crashes; anything but a whitespace change fails. */
    for (size_t off = 0; off < fs.len[0]; off++) {
        uint8_t old = fs.f[0][off];
        fs.f[0][off] = (uint8_t)(old ^ 0x11);
        int rc = read_everything(&fs, fs.len, err, sizeof err);
        assert_true(rc == 0 || rc == TT_ECORRUPT);
        if (rc)
            assert_non_null(strstr(err, "blk/"));
        fs.f[0][off] = old;
    }
    free_files(&fs);
    free_dataset(&d);
    rm_rf(dir);
}

static void test_block_corrupt_pages(void **state)
{
    (void)state;
    char dir[64], path[256], err[512];
    struct dataset d;
    small_block(dir, sizeof dir, path, sizeof path, &d);
    struct files fs;
    load_files(path, &fs);
    for (int f = 2; f <= 3; f++) {
        const char *want = f == 2 ? "blk/chunks" : "blk/rollups";
        for (size_t off = 0; off < fs.len[f]; off += 1 + off / 500) {
            uint8_t x = (uint8_t)(1u << (off % 8));
            fs.f[f][off] ^= x;
            int rc = read_everything(&fs, fs.len, err, sizeof err);
            if (rc != TT_ECORRUPT || strstr(err, want) == NULL)
                fail_msg("%s: flip at %zu: rc %d (%s)", want, off, rc, err);
            fs.f[f][off] ^= x;
        }
        size_t len[4] = { fs.len[0], fs.len[1], fs.len[2], fs.len[3] };
        len[f] -= 1;
        assert_int_equal(read_everything(&fs, len, err, sizeof err), TT_ECORRUPT);
        assert_non_null(strstr(err, want));
    }
    /* A block without rollups opens from memory too. */
    {
        char d2[64], p2[256];
        struct files f2;
        make_tmpdir(d2, sizeof d2);
        struct block_writer_options o;
        block_writer_options_default(&o);
        o.rollups = 0;
        write_block(&d, d2, &o, p2, sizeof p2, NULL);
        load_files(p2, &f2);
        assert_int_equal(f2.len[3], 0);
        assert_int_equal(read_everything(&f2, f2.len, err, sizeof err), 0);
        f2.len[3] = 1; /* a rollups file the meta does not announce */
        assert_int_equal(read_everything(&f2, f2.len, err, sizeof err), TT_ECORRUPT);
        free_files(&f2);
        rm_rf(d2);
    }
    /* On disk, a damaged page is reported by an iterator with the path. */
    char p[512];
    snprintf(p, sizeof p, "%s/chunks", path);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t junk = 0x5a;
    assert_int_equal(pwrite(fd, &junk, 1, 100), 1);
    close(fd);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    struct block_series_set *ss;
    assert_int_equal(block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ss), 0);
    int seen = 0;
    for (size_t i = 0; i < block_series_set_count(ss); i++) {
        struct block_iter it;
        assert_int_equal(block_iter_init(&it, ss, i, INT64_MIN, INT64_MAX, BLOCK_RAW, 0), 0);
        int rc;
        while ((rc = block_iter_next(&it)) == 1)
            ;
        if (rc == TT_ECORRUPT) {
            seen = 1;
            assert_non_null(strstr(block_iter_error(&it), p));
            assert_int_equal(block_iter_next(&it), TT_ECORRUPT); /* sticky */
            const int64_t *rts;
            const double *rvs;
            assert_int_equal(block_iter_next_run(&it, &rts, &rvs), TT_ECORRUPT);
        }
        block_iter_release(&it);
        /* Runs meet the damage the same way. */
        assert_int_equal(block_iter_init(&it, ss, i, INT64_MIN, INT64_MAX, BLOCK_RAW, 0), 0);
        long k;
        const int64_t *rts;
        const double *rvs;
        while ((k = block_iter_next_run(&it, &rts, &rvs)) > 0)
            ;
        assert_int_equal(k, rc);
        if (k == TT_ECORRUPT)
            assert_non_null(strstr(block_iter_error(&it), p));
        block_iter_release(&it);
    }
    assert_true(seen);
    block_series_set_free(ss);
    block_close(b);
    free_files(&fs);
    free_dataset(&d);
    rm_rf(dir);
}

/* seal_index recomputes the index's section and TOC checksums. */
static void seal_index(uint8_t *ix, size_t len)
{
    if (len < BLOCK_INDEX_HDR + BLOCK_TOC_BYTES)
        return;
    uint8_t *toc = ix + len - BLOCK_TOC_BYTES;
    for (int s = 0; s < SEC_COUNT; s++) {
        uint64_t off = get_le64(toc + 20 * s), l = get_le64(toc + 20 * s + 8);
        if (off <= len && l <= len - off)
            put_le32(toc + 20 * s + 16, crc32c(0, ix + off, (size_t)l));
    }
    put_le32(toc + SEC_COUNT * 20,
             crc32c(crc32c(0, ix, BLOCK_INDEX_HDR), toc, (size_t)SEC_COUNT * 20));
}

/* seal_pages recomputes every page checksum of a chunks or rollups file. */
static void seal_pages(uint8_t *p, size_t len)
{
    size_t off = BLOCK_FILE_HDR;
    while (off + BLOCK_PAGE_HDR <= len) {
        uint32_t st = get_le32(p + off + 4);
        if (st > len - off - BLOCK_PAGE_HDR)
            return;
        put_le32(p + off,
                 crc32c(crc32c(0, p + off + 4, BLOCK_PAGE_HDR - 4), p + off + BLOCK_PAGE_HDR, st));
        off += BLOCK_PAGE_HDR + st;
    }
}

/* With the checksums fixed up, damage reaches the decoders: any answer but
 * a crash (ASan and UBSan builds run this too). */
static void test_block_corrupt_sealed(void **state)
{
    (void)state;
    char dir[64], path[256], err[512];
    struct dataset d;
    make_tmpdir(dir, sizeof dir);
    make_dataset(&d, 12, 0, 3 * 3600 * 1000);
    for (size_t i = 0; i < d.n; i++)
        d.s[i].n = d.s[i].n > 200 ? 200 : d.s[i].n;
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.chunk_max_samples = 60;
    o.zstd_level = 0; /* raw pages: flips land in the columns themselves */
    write_block(&d, dir, &o, path, sizeof path, NULL);
    struct files fs;
    load_files(path, &fs);
    int failures = 0;
    for (int f = 1; f <= 3; f++) {
        for (size_t off = 0; off < fs.len[f]; off += f == 1 ? 1 : 3) {
            for (int bit = 0; bit < 8; bit += f == 1 ? 3 : 7) {
                fs.f[f][off] ^= (uint8_t)(1u << bit);
                if (f == 1)
                    seal_index(fs.f[1], fs.len[1]);
                else
                    seal_pages(fs.f[f], fs.len[f]);
                int rc = read_everything(&fs, fs.len, err, sizeof err);
                if (rc != 0 && rc != TT_ECORRUPT)
                    fail_msg("file %d flip at %zu: rc %d (%s)", f, off, rc, err);
                failures += rc != 0;
                fs.f[f][off] ^= (uint8_t)(1u << bit);
            }
        }
        if (f == 1)
            seal_index(fs.f[1], fs.len[1]);
        else
            seal_pages(fs.f[f], fs.len[f]);
        assert_int_equal(read_everything(&fs, fs.len, err, sizeof err), 0);
    }
    assert_true(failures > 0);
    free_files(&fs);
    free_dataset(&d);
    rm_rf(dir);
}

/* ---- writer errors, empty, abort, disk full ---------------------------------------------------
 */

static void test_block_writer_errors(void **state)
{
    (void)state;
    char dir[64], err[256];
    make_tmpdir(dir, sizeof dir);
    struct block_writer *w;
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.chunk_max_samples = 0;
    assert_int_equal(block_writer_new(&w, dir, 0, 100, &o, err, sizeof err), TT_EINVAL);
    assert_int_equal(block_writer_new(&w, dir, 100, 0, NULL, err, sizeof err), TT_EINVAL);
    assert_int_equal(block_writer_new(&w, dir, 0, 1000, NULL, err, sizeof err), 0);
    struct labels a, b, bad;
    labels_init(&a);
    labels_init(&b);
    labels_init(&bad);
    labels_push(&a, "__name__", "a");
    labels_push(&b, "__name__", "b");
    labels_push(&bad, "z", "1");
    labels_push(&bad, "a", "2"); /* not sorted */
    int64_t ts[3] = { 10, 20, 30 }, dup[3] = { 10, 10, 30 }, out[2] = { 999, 1001 };
    double vs[3] = { 1, 2, 3 };
    assert_int_equal(block_writer_add_series(w, &b, ts, vs, 3, err, sizeof err), 0);
    assert_int_equal(block_writer_add_series(w, &a, ts, vs, 3, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "out of order"));
    assert_int_equal(block_writer_add_series(w, &b, ts, vs, 3, err, sizeof err), TT_EINVAL);
    labels_reset(&a);
    labels_push(&a, "__name__", "c");
    assert_int_equal(block_writer_add_series(w, &a, dup, vs, 3, err, sizeof err), TT_EINVAL);
    assert_int_equal(block_writer_add_series(w, &a, out, vs, 2, err, sizeof err), TT_EINVAL);
    assert_int_equal(block_writer_add_series(w, &a, ts, vs, 0, err, sizeof err), TT_EINVAL);
    assert_int_equal(block_writer_add_series(w, &bad, ts, vs, 3, err, sizeof err), TT_EINVAL);
    struct labels empty;
    labels_init(&empty);
    assert_int_equal(block_writer_add_series(w, &empty, ts, vs, 3, err, sizeof err), TT_EINVAL);
    /* The writer is still fine after refusals. */
    assert_int_equal(block_writer_add_series(w, &a, ts, vs, 3, err, sizeof err), 0);
    struct block_meta m;
    assert_int_equal(block_writer_finish(w, &m, err, sizeof err), 0);
    assert_int_equal(m.series, 2);
    assert_int_equal(m.samples, 6);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, m.id);
    struct block *blk;
    assert_int_equal(block_open(&blk, path, err, sizeof err), 0);
    block_close(blk);
    assert_int_equal(count_entries(dir), 1);
    block_meta_release(&m);
    labels_release(&a);
    labels_release(&b);
    labels_release(&bad);
    rm_rf(dir);
}

static void test_block_empty_and_abort(void **state)
{
    (void)state;
    char dir[64], sub[128], err[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/x/blocks", dir); /* created on demand */
    struct block_writer *w;
    assert_int_equal(block_writer_new(&w, sub, 0, 1000, NULL, err, sizeof err), 0);
    assert_int_equal(count_entries(sub), 1); /* the .tmp directory */
    struct block_meta m;
    assert_int_equal(block_writer_finish(w, &m, err, sizeof err), TT_ENOTFOUND);
    assert_int_equal(count_entries(sub), 0);
    assert_int_equal(block_writer_new(&w, sub, 0, 1000, NULL, err, sizeof err), 0);
    struct labels a;
    labels_init(&a);
    labels_push(&a, "__name__", "a");
    int64_t ts[2] = { 1, 2 };
    double vs[2] = { 1, 2 };
    assert_int_equal(block_writer_add_series(w, &a, ts, vs, 2, err, sizeof err), 0);
    block_writer_abort(w);
    assert_int_equal(count_entries(sub), 0);
    block_writer_abort(NULL);
    /* A missing block is not found. */
    struct block *b;
    snprintf(sub, sizeof sub, "%s/nope", dir);
    assert_int_equal(block_open(&b, sub, err, sizeof err), TT_ENOTFOUND);
    labels_release(&a);
    rm_rf(dir);
}

static void test_block_disk_full(void **state)
{
    (void)state;
    char dir[64], err[256];
    make_tmpdir(dir, sizeof dir);
    int tmpfs = 0;
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mount("tmpfs", dir, "tmpfs", 0, "size=128k") == 0)
        tmpfs = 1;
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    if (!tmpfs) {
        struct rlimit rl = { 64 * 1024, old.rlim_max };
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    }
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.zstd_level = 0;
    struct block_writer *w;
    assert_int_equal(block_writer_new(&w, dir, 0, INT64_MAX, &o, err, sizeof err), 0);
    int rc = 0;
    int64_t ts[1000];
    double vs[1000];
    char name[32];
    struct labels ls;
    labels_init(&ls);
    for (int s = 0; s < 1000 && rc == 0; s++) {
        for (int k = 0; k < 1000; k++) {
            ts[k] = (int64_t)k * 1000 + s;
            vs[k] = f64_from_bits(rnd()); /* incompressible */
        }
        snprintf(name, sizeof name, "m%05d", s);
        labels_reset(&ls);
        labels_push(&ls, "__name__", name);
        rc = block_writer_add_series(w, &ls, ts, vs, 1000, err, sizeof err);
    }
    assert_int_equal(rc, TT_EIO);
    assert_non_null(strstr(err, "/chunks"));
    assert_true(strstr(err, "No space left") != NULL || strstr(err, "too large") != NULL);
    /* The writer is unusable now; finishing fails and leaves nothing. */
    labels_reset(&ls);
    labels_push(&ls, "__name__", "zzz");
    assert_int_equal(block_writer_add_series(w, &ls, ts, vs, 10, err, sizeof err), TT_EIO);
    assert_int_equal(block_writer_finish(w, NULL, err, sizeof err), TT_EIO);
    assert_int_equal(count_entries(dir), 0);
    if (!tmpfs)
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    labels_release(&ls);
    if (tmpfs)
        umount(dir);
    rm_rf(dir);
}

/* ---- meta, sources, removal, ids ----------------------------------------------------------------
 */

static void test_block_meta_remove_ids(void **state)
{
    (void)state;
    char dir[64], path[256], err[256];
    make_tmpdir(dir, sizeof dir);
    char ids[3][BLOCK_ID_LEN + 1];
    for (int i = 0; i < 3; i++) {
        block_new_id(ids[i]);
        assert_int_equal(strlen(ids[i]), BLOCK_ID_LEN);
        if (i > 0)
            assert_string_not_equal(ids[i], ids[i - 1]);
        struct timespec ts = { 0, 3 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    assert_true(strcmp(ids[0], ids[1]) < 0 && strcmp(ids[1], ids[2]) < 0);
    struct block_writer_options o;
    block_writer_options_default(&o);
    o.level = 3;
    o.sources = (const char(*)[BLOCK_ID_LEN + 1]) ids;
    o.nsources = 3;
    struct dataset d;
    make_dataset(&d, 10, 0, 600000);
    struct block_meta m;
    write_block(&d, dir, &o, path, sizeof path, &m);
    assert_int_equal(m.level, 3);
    assert_int_equal(m.nsources, 3);
    struct block *b;
    assert_int_equal(block_open(&b, path, err, sizeof err), 0);
    const struct block_meta *bm = block_get_meta(b);
    assert_int_equal(bm->level, 3);
    assert_int_equal(bm->nsources, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(bm->sources[i], ids[i]);
    assert_true(strcmp(bm->id, ids[2]) > 0);
    block_close(b);
    /* removal, also over a leftover .deleted */
    char del[300];
    snprintf(del, sizeof del, "%s.deleted", path);
    assert_int_equal(mkdir(del, 0755), 0);
    assert_int_equal(block_remove(path, err, sizeof err), 0);
    assert_int_equal(count_entries(dir), 0);
    assert_int_equal(block_remove(path, err, sizeof err), TT_ESYS);
    block_meta_release(&m);
    free_dataset(&d);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_block_roundtrip), cmocka_unit_test(test_block_shared_timestamps),
           cmocka_unit_test(test_block_matchers), cmocka_unit_test(test_block_time_range_seek),
           cmocka_unit_test(test_block_iter_runs), cmocka_unit_test(test_block_rollups),
           cmocka_unit_test(test_block_corrupt_index), cmocka_unit_test(test_block_corrupt_pages),
           cmocka_unit_test(test_block_corrupt_sealed), cmocka_unit_test(test_block_writer_errors),
           cmocka_unit_test(test_block_empty_and_abort), cmocka_unit_test(test_block_disk_full),
           cmocka_unit_test(test_block_meta_remove_ids))
