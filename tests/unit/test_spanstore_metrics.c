/*
 * test_spanstore_metrics.c - the span store's /metrics families: zero on an
 * empty store, then spans counted once their block is written (not while
 * they are pending), with bytes, blocks and traces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/metrics_self.h"
#include "server/spanstore_metrics.h"
#include "store/spans/spanstore.h"
#include "telltale.h"
#include "tmpdir.h"
#include "unit.h"

/* value_of: the value of the sample line "name v" in text, or -1. */
static double value_of(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

static void render(struct metrics_registry *reg, char *out, size_t len)
{
    struct wbuf b;
    wbuf_init(&b, 0);
    assert_int_equal(metrics_render(reg, &b), 0);
    snprintf(out, len, "%.*s", (int)b.len, (const char *)b.data);
    wbuf_release(&b);
}

static void test_spanstore_metrics_counts_written_spans(void **state)
{
    (void)state;
    char dir[256], err[256];
    static char text[16384];
    struct spanstore *ss = NULL;
    struct metrics_registry *reg = NULL;
    struct spanstore_options o = { 0 };
    assert_int_equal(tmpdir_make(dir, sizeof dir, "spanmet"), 0);
    assert_int_equal(spanstore_open(&ss, dir, &o, err, sizeof err), 0);
    assert_int_equal(metrics_registry_new(&reg), 0);
    assert_int_equal(spanstore_metrics_register(reg, ss), 0);

    render(reg, text, sizeof text);
    assert_non_null(strstr(text, "# TYPE telltale_spanstore_spans gauge\n"));
    assert_non_null(strstr(text, "# TYPE telltale_spanstore_problems_total counter\n"));
    assert_true(value_of(text, "telltale_spanstore_spans") == 0);
    assert_true(value_of(text, "telltale_spanstore_bytes") == 0);

    struct span_row r;
    memset(&r, 0, sizeof r);
    r.service = (struct rec_str){ "checkout", 8 };
    r.name = (struct rec_str){ "PlaceOrder", 10 };
    r.start_ns = 1700000000000000000ll;
    r.duration_ns = 1000;
    for (int i = 0; i < 3; i++) {
        r.trace_id[0] = (uint8_t)(1 + i % 2); /* two traces */
        r.trace_id[15] = 7;
        r.span_id = (uint64_t)i + 1;
        assert_int_equal(spanstore_add(ss, &r, err, sizeof err), 0);
    }
    render(reg, text, sizeof text);
    assert_true(value_of(text, "telltale_spanstore_spans") == 0); /* pending only */

    assert_int_equal(spanstore_commit(ss, 0, 0, err, sizeof err), 0);
    render(reg, text, sizeof text);
    assert_true(value_of(text, "telltale_spanstore_spans") == 3);
    assert_true(value_of(text, "telltale_spanstore_blocks") == 1);
    assert_true(value_of(text, "telltale_spanstore_traces") == 2);
    assert_true(value_of(text, "telltale_spanstore_bytes") > 0);
    assert_true(value_of(text, "telltale_spanstore_problems_total") == 0);

    metrics_registry_free(reg);
    spanstore_close(ss);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_spanstore_metrics_counts_written_spans))
