/*
 * test_metrics_self.c - the self-metrics registry: registration rules, the
 * exact text exposition of counters, gauges and histograms (escaping,
 * cumulative buckets, +Inf), collectors, and updates from several threads
 * at once (exact totals; run under TSan in CI).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "server/metrics_self.h"

static void test_metrics_register_rules(void **state)
{
    struct metrics_registry *reg;
    struct metric_family *f;
    static const char *const le[] = { "le" };
    static const char *const dup[] = { "a", "a" };
    static const char *const reserved[] = { "__name__" };
    static const double bad_buckets[] = { 1, 1 };
    struct metric_desc d = { .type = METRIC_COUNTER, .name = "ok_total", .help = "h" };

    (void)state;
    assert_int_equal(metrics_registry_new(&reg), 0);
    assert_int_equal(metrics_register(reg, &d, &f), 0);
    assert_non_null(f);
    assert_int_equal(metrics_register(reg, &d, &f), TT_EEXIST);
    d.name = "9bad";
    assert_int_equal(metrics_register(reg, &d, &f), TT_EINVAL);
    d.name = "bad-name";
    assert_int_equal(metrics_register(reg, &d, &f), TT_EINVAL);
    d.name = "h";
    d.type = METRIC_HISTOGRAM;
    d.label_names = le;
    d.nlabels = 1;
    assert_int_equal(metrics_register(reg, &d, &f), TT_EINVAL);
    d.label_names = dup;
    d.nlabels = 2;
    assert_int_equal(metrics_register(reg, &d, &f), TT_EINVAL);
    d.label_names = reserved;
    d.nlabels = 1;
    assert_int_equal(metrics_register(reg, &d, &f), TT_EINVAL);
    d.label_names = NULL;
    d.nlabels = 0;
    d.buckets = bad_buckets;
    d.nbuckets = 2;
    assert_int_equal(metrics_register(reg, &d, &f), TT_EINVAL);
    /* NULL children and families are harmless. */
    metric_inc(NULL);
    assert_null(metrics_child(NULL, NULL));
    metrics_registry_free(reg);
}

static void collect(void *ctx, struct wbuf *out)
{
    static const char *const names[] = { "path" };
    static const char *const values[] = { "/a\"b\\c\nd" };

    metrics_write_header(out, "extra_bytes", (const char *)ctx, METRIC_GAUGE);
    metrics_write_sample(out, "extra_bytes", names, values, 1, INFINITY);
}

static void test_metrics_render(void **state)
{
    struct metrics_registry *reg;
    struct metric_family *c, *g, *h;
    static const char *const code[] = { "code" };
    static const double buckets[] = { 0.1, 1 };
    const struct metric_desc cd = { .type = METRIC_COUNTER,
                                    .name = "req_total",
                                    .help = "Requests.\nSecond line \\.",
                                    .label_names = code,
                                    .nlabels = 1 };
    const struct metric_desc gd = { .type = METRIC_GAUGE, .name = "temp", .help = "T." };
    const struct metric_desc hd = { .type = METRIC_HISTOGRAM,
                                    .name = "lat_seconds",
                                    .help = "L.",
                                    .buckets = buckets,
                                    .nbuckets = 2 };
    const char *v200[] = { "200" }, *v500[] = { "500" };
    struct wbuf b;

    (void)state;
    assert_int_equal(metrics_registry_new(&reg), 0);
    assert_int_equal(metrics_register(reg, &cd, &c), 0);
    assert_int_equal(metrics_register(reg, &gd, &g), 0);
    assert_int_equal(metrics_register(reg, &hd, &h), 0);
    assert_int_equal(metrics_add_collector(reg, collect, "Extra."), 0);
    metric_inc(metrics_child(c, v200));
    metric_add(metrics_child(c, v200), 2.5);
    metric_add(metrics_child(c, v200), -1); /* ignored: counters only go up */
    metric_inc(metrics_child(c, v500));
    assert_ptr_equal(metrics_child(c, v200), metrics_child(c, v200));
    metric_set(metrics_child(g, NULL), -0.25);
    metric_observe(metrics_child(h, NULL), 0.05);
    metric_observe(metrics_child(h, NULL), 0.1); /* le is inclusive */
    metric_observe(metrics_child(h, NULL), 0.5);
    metric_observe(metrics_child(h, NULL), 7);
    assert_int_equal(metric_hist_count(metrics_child(h, NULL)), 4);
    assert_true(metric_hist_sum(metrics_child(h, NULL)) == 7.65);
    assert_true(metric_value(metrics_child(c, v200)) == 3.5);

    wbuf_init(&b, 0);
    assert_int_equal(metrics_render(reg, &b), 0);
    assert_strn_equal(b.data, b.len,
                      "# HELP req_total Requests.\\nSecond line \\\\.\n"
                      "# TYPE req_total counter\n"
                      "req_total{code=\"200\"} 3.5\n"
                      "req_total{code=\"500\"} 1\n"
                      "# HELP temp T.\n"
                      "# TYPE temp gauge\n"
                      "temp -0.25\n"
                      "# HELP lat_seconds L.\n"
                      "# TYPE lat_seconds histogram\n"
                      "lat_seconds_bucket{le=\"0.1\"} 2\n"
                      "lat_seconds_bucket{le=\"1\"} 3\n"
                      "lat_seconds_bucket{le=\"+Inf\"} 4\n"
                      "lat_seconds_sum 7.65\n"
                      "lat_seconds_count 4\n"
                      "# HELP extra_bytes Extra.\n"
                      "# TYPE extra_bytes gauge\n"
                      "extra_bytes{path=\"/a\\\"b\\\\c\\nd\"} +Inf\n");
    wbuf_release(&b);
    metrics_registry_free(reg);
}

struct worker {
    struct metric_family *c, *h;
    int id;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char label[8];
    const char *v[] = { label };

    for (int i = 0; i < 20000; i++) {
        /* New children appear while others count: the lock-free lookup. */
        snprintf(label, sizeof(label), "%d", i % 16);
        metric_inc(metrics_child(w->c, v));
        metric_observe(metrics_child(w->h, NULL), (double)(i % 3));
    }
    return NULL;
}

static void test_metrics_threads(void **state)
{
    struct metrics_registry *reg;
    static const char *const names[] = { "shard" };
    const struct metric_desc cd = {
        .type = METRIC_COUNTER, .name = "ops_total", .help = "", .label_names = names, .nlabels = 1
    };
    const struct metric_desc hd = { .type = METRIC_HISTOGRAM, .name = "x", .help = "" };
    struct worker w[4];
    pthread_t t[4];
    struct wbuf b;
    double total = 0;

    (void)state;
    assert_int_equal(metrics_registry_new(&reg), 0);
    assert_int_equal(metrics_register(reg, &cd, &w[0].c), 0);
    assert_int_equal(metrics_register(reg, &hd, &w[0].h), 0);
    for (int i = 0; i < 4; i++) {
        w[i] = w[0];
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    /* Render while the workers run. */
    for (int i = 0; i < 20; i++) {
        wbuf_init(&b, 0);
        assert_int_equal(metrics_render(reg, &b), 0);
        wbuf_release(&b);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 16; i++) {
        char label[8];
        const char *v[] = { label };
        snprintf(label, sizeof(label), "%d", i);
        total += metric_value(metrics_child(w[0].c, v));
    }
    assert_true(total == 80000);
    assert_int_equal(metric_hist_count(metrics_child(w[0].h, NULL)), 80000);
    metrics_registry_free(reg);
}

static void test_metrics_process(void **state)
{
    struct metrics_registry *reg;
    struct wbuf b;

    (void)state;
    assert_int_equal(metrics_registry_new(&reg), 0);
    assert_int_equal(metrics_add_process_collector(reg), 0);
    wbuf_init(&b, 0);
    assert_int_equal(metrics_render(reg, &b), 0);
    wbuf_put_u8(&b, 0);
    assert_non_null(strstr((char *)b.data, "\nprocess_cpu_seconds_total "));
    assert_non_null(strstr((char *)b.data, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr((char *)b.data, "\nprocess_virtual_memory_bytes "));
    assert_non_null(strstr((char *)b.data, "\nprocess_open_fds "));
    assert_non_null(strstr((char *)b.data, "\nprocess_max_fds "));
    assert_non_null(strstr((char *)b.data, "\nprocess_start_time_seconds "));
    assert_non_null(strstr((char *)b.data, "\ntelltale_uptime_seconds "));
    wbuf_release(&b);
    metrics_registry_free(reg);
}

UNIT_TESTS(cmocka_unit_test(test_metrics_register_rules), cmocka_unit_test(test_metrics_render),
           cmocka_unit_test(test_metrics_threads), cmocka_unit_test(test_metrics_process))
