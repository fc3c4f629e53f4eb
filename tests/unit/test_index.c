/* test_index.c - the series index: get-or-create, postings set operations
 * against a brute-force model, selection and listings against a model on
 * random series, a writer racing readers, and memory per series on a
 * node_exporter-like fleet. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "unit.h"
#include "telltale.h"
#include "store/tsdb/index.h"

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void add(struct index *idx, const char *const *kv, uint32_t *id, int *created)
{
    struct labels ls;
    labels_init(&ls);
    for (size_t i = 0; kv[i]; i += 2)
        assert_int_equal(labels_push(&ls, kv[i], kv[i + 1]), 0);
    assert_int_equal(labels_normalize(&ls), 0);
    assert_int_equal(index_get_or_create(idx, &ls, id, created), 0);
    labels_release(&ls);
}

static void test_index_get_or_create(void **state)
{
    (void)state;
    struct index *idx;
    assert_int_equal(index_new(&idx), 0);
    uint32_t a, b, c;
    int created;
    add(idx, (const char *const[]){ "__name__", "up", "job", "node", NULL }, &a, &created);
    assert_int_equal(a, 0);
    assert_true(created);
    add(idx, (const char *const[]){ "job", "node", "__name__", "up", NULL }, &b, &created);
    assert_int_equal(b, 0);
    assert_false(created);
    add(idx, (const char *const[]){ "__name__", "up", "job", "node", "x", "", NULL }, &b, &created);
    assert_int_equal(b, 0); /* an empty value is no label */
    add(idx, (const char *const[]){ "__name__", "up", NULL }, &c, &created);
    assert_int_equal(c, 1);
    assert_true(created);
    assert_int_equal(index_series_count(idx), 2);

    struct labels ls;
    labels_init(&ls);
    assert_int_equal(index_series_labels(idx, 0, &ls), 0);
    assert_int_equal(ls.n, 2);
    assert_string_equal(ls.v[0].name, "__name__");
    assert_string_equal(ls.v[1].value, "node");
    assert_int_equal(index_lookup(idx, &ls, &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(index_series_labels(idx, 2, &ls), TT_ENOTFOUND);
    labels_reset(&ls);
    assert_int_equal(labels_push(&ls, "job", "node"), 0);
    assert_int_equal(index_lookup(idx, &ls, &b), TT_ENOTFOUND);
    assert_int_equal(labels_push(&ls, "a", "x"), 0); /* not sorted */
    assert_int_equal(index_get_or_create(idx, &ls, &b, NULL), TT_EINVAL);
    labels_reset(&ls);
    assert_int_equal(index_get_or_create(idx, &ls, &b, NULL), TT_EINVAL); /* empty set */

    struct postings p;
    postings_init(&p);
    assert_int_equal(index_postings(idx, "job", "node", &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.ids[0], 0);
    assert_int_equal(index_postings(idx, "job", "", &p), 0); /* without job */
    assert_int_equal(p.n, 1);
    assert_int_equal(p.ids[0], 1);
    assert_int_equal(index_name_postings(idx, "__name__", &p), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(index_postings(idx, "nope", "x", &p), 0);
    assert_int_equal(p.n, 0);
    postings_release(&p);
    labels_release(&ls);

    struct index_stats st;
    index_stats(idx, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.names, 2);
    assert_int_equal(st.pairs, 2);
    assert_true(st.total_bytes > 0);
    index_free(idx);
}

static void rand_sorted(uint64_t *rng, struct postings *p, size_t n, uint32_t range)
{
    uint8_t *bits = calloc(range, 1);
    assert_non_null(bits);
    for (size_t i = 0; i < n; i++)
        bits[rng_next(rng) % range] = 1;
    p->n = 0;
    for (uint32_t i = 0; i < range; i++) {
        if (bits[i])
            assert_int_equal(postings_push(p, i), 0);
    }
    free(bits);
}

static void test_index_postings_ops(void **state)
{
    (void)state;
    uint64_t rng = 99;
    struct postings a, b, out;
    postings_init(&a);
    postings_init(&b);
    postings_init(&out);
    assert_int_equal(postings_push(&a, 5), 0);
    assert_int_equal(postings_push(&a, 5), TT_EINVAL);
    static const size_t sizes[] = { 0, 1, 3, 10, 100, 1000, 5000 };
    const size_t ns = sizeof sizes / sizeof sizes[0];
    uint32_t range = 20000;
    uint8_t *ma = malloc(range), *mb = malloc(range);
    assert_non_null(ma);
    assert_non_null(mb);
    for (int iter = 0; iter < 400; iter++) {
        rand_sorted(&rng, &a, sizes[rng_next(&rng) % ns], range);
        rand_sorted(&rng, &b, sizes[rng_next(&rng) % ns], range);
        memset(ma, 0, range);
        memset(mb, 0, range);
        for (size_t i = 0; i < a.n; i++)
            ma[a.ids[i]] = 1;
        for (size_t i = 0; i < b.n; i++)
            mb[b.ids[i]] = 1;
        for (int op = 0; op < 3; op++) {
            int rc = op == 0   ? postings_intersect(&out, a.ids, a.n, b.ids, b.n)
                     : op == 1 ? postings_union(&out, a.ids, a.n, b.ids, b.n)
                               : postings_difference(&out, a.ids, a.n, b.ids, b.n);
            assert_int_equal(rc, 0);
            size_t k = 0;
            for (uint32_t i = 0; i < range; i++) {
                int want = op == 0 ? ma[i] && mb[i] : op == 1 ? ma[i] || mb[i] : ma[i] && !mb[i];
                if (want) {
                    assert_true(k < out.n);
                    assert_int_equal(out.ids[k], i);
                    k++;
                }
            }
            assert_int_equal(k, out.n);
            if (op == 0)
                assert_int_equal(postings_intersects(a.ids, a.n, b.ids, b.n), out.n > 0);
        }
    }
    free(ma);
    free(mb);
    postings_release(&a);
    postings_release(&b);
    postings_release(&out);
}

/* ---- selection against a model ------------------------------------------------ */

#define MNAMES  4
#define MSERIES 600

static const char *const model_names[MNAMES] = { "a", "b", "c", "d" };
static const char *const model_vals[] = { "x", "y", "xy", "yx", "xx", "z", "x.y", "éx" };
#define MVALS (sizeof model_vals / sizeof model_vals[0])

struct model {
    int val[MSERIES][MNAMES]; /* -1 = no label */
    uint32_t id[MSERIES];
    size_t n;
};

static void model_build(struct index *idx, struct model *md, uint64_t *rng)
{
    struct labels ls;
    labels_init(&ls);
    md->n = 0;
    for (size_t s = 0; s < MSERIES; s++) {
        labels_reset(&ls);
        for (int k = 0; k < MNAMES; k++) {
            /* "d" is rare, "a" nearly everywhere */
            int present = (int)(rng_next(rng) % 10) < 9 - 2 * k;
            md->val[s][k] = present ? (int)(rng_next(rng) % (MVALS - (size_t)k)) : -1;
            if (present)
                assert_int_equal(labels_push(&ls, model_names[k], model_vals[md->val[s][k]]), 0);
        }
        char uniq[16];
        snprintf(uniq, sizeof uniq, "%zu", s);
        assert_int_equal(labels_push(&ls, "u", uniq), 0);
        assert_int_equal(labels_normalize(&ls), 0);
        int created;
        assert_int_equal(index_get_or_create(idx, &ls, &md->id[s], &created), 0);
        assert_true(created);
        assert_int_equal(md->id[s], (uint32_t)s);
        md->n++;
    }
    labels_release(&ls);
}

static int model_accepts(const struct model *md, size_t s, struct matcher *const *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = matcher_name(ms[i]);
        const char *v = "";
        for (int k = 0; k < MNAMES; k++) {
            if (strcmp(name, model_names[k]) == 0 && md->val[s][k] >= 0)
                v = model_vals[md->val[s][k]];
        }
        if (!matcher_matches(ms[i], v, strlen(v)))
            return 0;
    }
    return 1;
}

static struct matcher *rand_matcher(uint64_t *rng)
{
    static const char *const res[] = { ".*", ".+",    "x.*",    ".*x",   "x|y", "x|",
                                       "x*", "x+y",   "(x|y)y", "[xy]+", "é.",  "",
                                       "x",  ".*y.*", "x\\.y",  "z|q" };
    int t = (int)(rng_next(rng) % 4);
    const char *name = rng_next(rng) % 8 == 0 ? "nope" : model_names[rng_next(rng) % MNAMES];
    const char *v;
    if (t <= MATCH_NEQ) {
        int k = (int)(rng_next(rng) % (MVALS + 2));
        v = k < (int)MVALS ? model_vals[k] : k == (int)MVALS ? "" : "absent";
    } else {
        v = res[rng_next(rng) % (sizeof res / sizeof res[0])];
    }
    struct matcher *m = NULL;
    assert_int_equal(matcher_new(&m, (enum matcher_type)t, name, v, 0, NULL, 0), 0);
    return m;
}

static void test_index_select_against_model(void **state)
{
    (void)state;
    struct index *idx;
    assert_int_equal(index_new(&idx), 0);
    static struct model md;
    uint64_t rng = 7;
    model_build(idx, &md, &rng);
    struct postings out;
    postings_init(&out);
    for (int iter = 0; iter < 1500; iter++) {
        struct matcher *ms[3];
        size_t n = (size_t)(rng_next(&rng) % 4);
        for (size_t i = 0; i < n; i++)
            ms[i] = rand_matcher(&rng);
        assert_int_equal(index_select(idx, ms, n, &out), 0);
        size_t k = 0;
        for (size_t s = 0; s < md.n; s++) {
            if (!model_accepts(&md, s, ms, n))
                continue;
            if (k >= out.n || out.ids[k] != md.id[s])
                fail_msg("iter %d: series %zu missing or out of order (got %zu ids)", iter, s,
                         out.n);
            k++;
        }
        assert_int_equal(k, out.n);

        /* label names and values of the selection, against the model */
        struct index_strs names, vals;
        assert_int_equal(index_label_names(idx, ms, n, &names), 0);
        int want_names[MNAMES + 1] = { 0 };
        for (size_t s = 0; s < md.n; s++) {
            if (!model_accepts(&md, s, ms, n))
                continue;
            want_names[MNAMES] = 1; /* "u" */
            for (int j = 0; j < MNAMES; j++)
                want_names[j] |= md.val[s][j] >= 0;
        }
        size_t nwant = 0;
        for (int j = 0; j <= MNAMES; j++)
            nwant += (size_t)want_names[j];
        assert_int_equal(names.n, nwant);
        for (size_t i = 1; i < names.n; i++)
            assert_true(strcmp(names.v[i - 1], names.v[i]) < 0);
        index_strs_release(&names);

        int q = (int)(rng_next(&rng) % MNAMES);
        assert_int_equal(index_label_values(idx, model_names[q], ms, n, &vals), 0);
        int want_vals[MVALS] = { 0 };
        for (size_t s = 0; s < md.n; s++) {
            if (model_accepts(&md, s, ms, n) && md.val[s][q] >= 0)
                want_vals[md.val[s][q]] = 1;
        }
        size_t nv = 0;
        for (size_t j = 0; j < MVALS; j++) {
            if (!want_vals[j])
                continue;
            int found = 0;
            for (size_t i = 0; i < vals.n; i++)
                found |= strcmp(vals.v[i], model_vals[j]) == 0;
            assert_true(found);
            nv++;
        }
        assert_int_equal(vals.n, nv);
        for (size_t i = 1; i < vals.n; i++)
            assert_true(strcmp(vals.v[i - 1], vals.v[i]) < 0);
        index_strs_release(&vals);
        for (size_t i = 0; i < n; i++)
            matcher_free(ms[i]);
    }
    struct index_strs vals;
    assert_int_equal(index_label_values(idx, "nope", NULL, 0, &vals), 0);
    assert_int_equal(vals.n, 0);
    index_strs_release(&vals);
    assert_int_equal(index_label_values(idx, "u", NULL, 0, &vals), 0);
    assert_int_equal(vals.n, MSERIES);
    index_strs_release(&vals);
    postings_release(&out);
    index_free(idx);
}

/* ---- a writer and readers at once -------------------------------------------- */

#define RACE_SERIES 20000

struct race {
    struct index *idx;
    atomic_int done;
    atomic_int errors;
};

static void *race_writer(void *arg)
{
    struct race *r = arg;
    struct labels ls;
    labels_init(&ls);
    char inst[32], mod[8];
    for (uint32_t i = 0; i < RACE_SERIES; i++) {
        labels_reset(&ls);
        snprintf(inst, sizeof inst, "host-%u", i);
        snprintf(mod, sizeof mod, "%u", i % 3);
        labels_push(&ls, "__name__", "m");
        labels_push(&ls, "instance", inst);
        labels_push(&ls, "mod", mod);
        uint32_t id;
        if (labels_normalize(&ls) || index_get_or_create(r->idx, &ls, &id, NULL) || id != i)
            atomic_fetch_add(&r->errors, 1);
    }
    labels_release(&ls);
    atomic_store(&r->done, 1);
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    struct matcher *ms[2] = { NULL, NULL };
    if (matcher_new(&ms[0], MATCH_EQ, "mod", "1", 0, NULL, 0) ||
        matcher_new(&ms[1], MATCH_RE, "instance", "host-1.*", 0, NULL, 0))
        atomic_fetch_add(&r->errors, 1);
    struct postings out;
    postings_init(&out);
    struct labels ls;
    labels_init(&ls);
    int rounds = 0;
    while (!atomic_load(&r->done) || rounds < 2) {
        rounds++;
        /* {mod="1"}: a consistent snapshot is exactly 1, 4, 7, ... below some n */
        if (index_select(r->idx, ms, 1, &out))
            atomic_fetch_add(&r->errors, 1);
        for (size_t i = 0; i < out.n; i++) {
            if (out.ids[i] != 3 * i + 1)
                atomic_fetch_add(&r->errors, 1);
        }
        if (index_select(r->idx, ms, 2, &out))
            atomic_fetch_add(&r->errors, 1);
        for (size_t i = 0; i < out.n; i++) {
            if (index_series_labels(r->idx, out.ids[i], &ls) ||
                strncmp(labels_get(&ls, "instance"), "host-1", 6) != 0 ||
                strcmp(labels_get(&ls, "mod"), "1") != 0)
                atomic_fetch_add(&r->errors, 1);
        }
        struct index_strs v;
        if (index_label_values(r->idx, "mod", ms, 1, &v) || v.n > 1)
            atomic_fetch_add(&r->errors, 1);
        index_strs_release(&v);
    }
    labels_release(&ls);
    postings_release(&out);
    matcher_free(ms[0]);
    matcher_free(ms[1]);
    return NULL;
}

static void test_index_concurrent_readers(void **state)
{
    (void)state;
    struct race r;
    assert_int_equal(index_new(&r.idx), 0);
    atomic_init(&r.done, 0);
    atomic_init(&r.errors, 0);
    pthread_t w, rd[2];
    assert_int_equal(pthread_create(&rd[0], NULL, race_reader, &r), 0);
    assert_int_equal(pthread_create(&rd[1], NULL, race_reader, &r), 0);
    assert_int_equal(pthread_create(&w, NULL, race_writer, &r), 0);
    pthread_join(w, NULL);
    pthread_join(rd[0], NULL);
    pthread_join(rd[1], NULL);
    assert_int_equal(atomic_load(&r.errors), 0);
    assert_int_equal(index_series_count(r.idx), RACE_SERIES);
    index_free(r.idx);
}

/* ---- memory per series, node_exporter-like ------------------------------------- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FLEET_HOSTS 200
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FLEET_HOSTS 200
#endif
#endif
#endif
/* 2000 hosts x 500 series = 1 M series in optimized builds; fewer hosts in
 * -O0 and sanitizer builds keep the test fast (the figure per series hardly
 * depends on the count: nearly all of it grows with the series). */
#ifndef FLEET_HOSTS
#ifdef __OPTIMIZE__
#define FLEET_HOSTS 2000
#else
#define FLEET_HOSTS 600
#endif
#endif

/* Each host exports 500 series with 10 labels: __name__, instance, job, dc,
 * env, rack, team, and 3 metric-specific ones (cpu/mode, device, device/
 * mountpoint/fstype, or low-cardinality fillers). */
static uint32_t fleet_host(struct index *idx, struct labels *ls, int h)
{
    static const char *const modes[] = { "idle",    "iowait", "irq",    "nice",
                                         "softirq", "steal",  "system", "user" };
    static const char *const disks[] = { "sda",     "sdb",     "sdc",  "sdd",
                                         "nvme0n1", "nvme1n1", "dm-0", "dm-1" };
    static const char *const nets[] = { "eth0", "eth1", "lo", "docker0" };
    static const char *const mounts[] = { "/", "/boot", "/var" };
    static const char *const fstypes[] = { "ext4", "xfs", "vfat" };
    char inst[32], rack[16], team[16], name[64], cpu[8], fill[8];
    snprintf(inst, sizeof inst, "node-%05d.example.net:9100", h);
    snprintf(rack, sizeof rack, "r%03d", h % 250);
    snprintf(team, sizeof team, "team-%d", h % 12);
    const char *dc = h % 4 == 0   ? "eu-west"
                     : h % 4 == 1 ? "eu-north"
                     : h % 4 == 2 ? "us-east"
                                  : "ap";
    const char *env = h % 10 < 7 ? "prod" : h % 10 < 9 ? "staging" : "dev";
    uint32_t made = 0;
    for (int s = 0; s < 500; s++) {
        labels_reset(ls);
        labels_push(ls, "instance", inst);
        labels_push(ls, "job", "node");
        labels_push(ls, "dc", dc);
        labels_push(ls, "env", env);
        labels_push(ls, "rack", rack);
        labels_push(ls, "team", team);
        if (s < 256) { /* 2 cpu metrics x 16 cpus x 8 modes */
            snprintf(name, sizeof name, "node_cpu_%s_seconds_total", s < 128 ? "" : "guest");
            snprintf(cpu, sizeof cpu, "%d", (s / 8) % 16);
            labels_push(ls, "cpu", cpu);
            labels_push(ls, "mode", modes[s % 8]);
            labels_push(ls, "k", "v");
        } else if (s < 400) { /* 18 disk metrics x 8 devices */
            snprintf(name, sizeof name, "node_disk_metric_%d_total", (s - 256) / 8);
            labels_push(ls, "device", disks[(s - 256) % 8]);
            labels_push(ls, "k", "v");
            labels_push(ls, "k2", "v");
        } else if (s < 480) { /* 20 network metrics x 4 interfaces */
            snprintf(name, sizeof name, "node_network_metric_%d_total", (s - 400) / 4);
            labels_push(ls, "device", nets[(s - 400) % 4]);
            labels_push(ls, "k", "v");
            labels_push(ls, "k2", "v");
        } else if (s < 489) { /* 3 filesystem metrics x 3 mounts */
            snprintf(name, sizeof name, "node_filesystem_metric_%d_bytes", (s - 480) / 3);
            labels_push(ls, "device", disks[(s - 480) % 3]);
            labels_push(ls, "mountpoint", mounts[(s - 480) % 3]);
            labels_push(ls, "fstype", fstypes[(s - 480) % 3]);
        } else { /* single gauges */
            snprintf(name, sizeof name, "node_gauge_%d", s - 489);
            snprintf(fill, sizeof fill, "%d", s % 3);
            labels_push(ls, "k", fill);
            labels_push(ls, "k2", "v");
            labels_push(ls, "k3", "v");
        }
        labels_push(ls, "__name__", name);
        assert_int_equal(labels_normalize(ls), 0);
        assert_int_equal(ls->n, 10);
        uint32_t id;
        int created;
        assert_int_equal(index_get_or_create(idx, ls, &id, &created), 0);
        made += (uint32_t)created;
    }
    return made;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_index_memory_per_series(void **state)
{
    (void)state;
    struct index *idx;
    assert_int_equal(index_new(&idx), 0);
    struct labels ls;
    labels_init(&ls);
    double t0 = now_s();
    uint32_t made = 0;
    for (int h = 0; h < FLEET_HOSTS; h++)
        made += fleet_host(idx, &ls, h);
    double t1 = now_s();
    assert_int_equal(made, (uint32_t)FLEET_HOSTS * 500);
    /* the second pass only finds series: the ingest fast path */
    assert_int_equal(fleet_host(idx, &ls, 0), 0);
    struct index_stats st;
    index_stats(idx, &st);
    double per = (double)st.total_bytes / st.series;
    printf("index: %u series, %u symbols, %u pairs, %u names: %.1f bytes/series "
           "(symbols %.1f, series %.1f, postings %.1f, tables %.1f); %.0f ns/create\n",
           st.series, st.symbols, st.pairs, st.names, per, (double)st.symbols_bytes / st.series,
           (double)st.series_bytes / st.series, (double)st.postings_bytes / st.series,
           (double)st.tables_bytes / st.series, (t1 - t0) * 1e9 / made);
    assert_true(per < 600.0);

    /* a few selections on the fleet */
    struct matcher *ms[2];
    struct postings out;
    postings_init(&out);
    assert_int_equal(
        matcher_new(&ms[0], MATCH_EQ, "__name__", "node_cpu__seconds_total", 0, NULL, 0), 0);
    assert_int_equal(matcher_new(&ms[1], MATCH_RE, "mode", "idle|user", 0, NULL, 0), 0);
    double t2 = now_s();
    assert_int_equal(index_select(idx, ms, 2, &out), 0);
    double t3 = now_s();
    assert_int_equal(out.n, (size_t)FLEET_HOSTS * 16 * 2);
    printf("index: select cpu{mode=~\"idle|user\"} %zu series in %.2f ms\n", out.n,
           (t3 - t2) * 1e3);
    matcher_free(ms[1]);
    assert_int_equal(matcher_new(&ms[1], MATCH_RE, "instance", "node-0001.*", 0, NULL, 0), 0);
    assert_int_equal(index_select(idx, ms, 2, &out), 0);
    assert_int_equal(out.n, 10 * 128); /* hosts 10..19, 16 cpus x 8 modes each */
    postings_release(&out);
    matcher_free(ms[0]);
    matcher_free(ms[1]);
    labels_release(&ls);
    index_free(idx);
}

UNIT_TESTS(cmocka_unit_test(test_index_get_or_create), cmocka_unit_test(test_index_postings_ops),
           cmocka_unit_test(test_index_select_against_model),
           cmocka_unit_test(test_index_concurrent_readers),
           cmocka_unit_test(test_index_memory_per_series))
