/*
 * test_promql_testfile.c - the promqltest file parser: series notation,
 * commands, expectations, errors with line numbers, and every file of
 * Prometheus's own test suite in shared/data parses.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "query/promql/testfile.h"

static int parse(const char *text, struct ptf_file *f, char *err)
{
    return ptf_parse(text, strlen(text), "t.test", f, err, 200);
}

static void test_ptf_durations(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_int_equal(ptf_parse_duration("5m", 2, &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(ptf_parse_duration("1h30m", 5, &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(ptf_parse_duration("10s53ms", 7, &ms), 0);
    assert_int_equal(ms, 10053);
    assert_int_equal(ptf_parse_duration("0", 1, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(ptf_parse_duration("-1m", 3, &ms), 0);
    assert_int_equal(ms, -60000);
    assert_int_equal(ptf_parse_duration("1m5", 3, &ms), TT_ESYNTAX);
    assert_int_equal(ptf_parse_duration("5x", 2, &ms), TT_ESYNTAX);
    assert_int_equal(ptf_parse_duration("", 0, &ms), TT_ESYNTAX);
}

static void test_ptf_load_expansion(void **state)
{
    (void)state;
    struct ptf_file f;
    char err[200] = "";
    int rc = parse("load 1m\n"
                   "    my_metric{env=\"prod\", x='a b'} 5 2+3x2 _ stale 1e+3-1e+2x1 -2x2 _x2 NaN\n"
                   "    {__name__=\"m2\"} {{schema:1 sum:3 count:22 buckets:[5 10 7]}}x1\n"
                   "    m3 0x3\n",
                   &f, err);
    assert_int_equal(rc, 0);
    assert_int_equal(f.ncmds, 1);
    struct ptf_cmd *c = &f.cmds[0];
    assert_int_equal(c->kind, PTF_LOAD);
    assert_int_equal(c->interval_ms, 60000);
    assert_int_equal(c->nseries, 3);
    /* No hex: "0x3" is 0 four times. */
    assert_int_equal(c->series[2].npoints, 4);
    assert_true(c->series[2].points[3].v == 0);
    struct ptf_series *s = &c->series[0];
    assert_int_equal(s->nlabels, 3);
    assert_string_equal(s->labels[0].name, "__name__");
    assert_string_equal(s->labels[0].value, "my_metric");
    assert_string_equal(s->labels[2].value, "a b");
    double want[] = { 5, 2, 5, 8, 0, 0, 1000, 900, -2, -2, -2, 0, 0, NAN };
    uint8_t kinds[] = { 0, 0, 0, 0, PTF_MISSING, PTF_STALE,   0,
                        0, 0, 0, 0, PTF_MISSING, PTF_MISSING, 0 };
    assert_int_equal(s->npoints, 14);
    for (size_t i = 0; i < 14; i++) {
        assert_int_equal(s->points[i].kind, kinds[i]);
        if (kinds[i] == PTF_VALUE && !isnan(want[i]))
            assert_true(s->points[i].v == want[i]);
    }
    assert_true(isnan(s->points[13].v));
    assert_true(c->series[1].has_histogram);
    assert_int_equal(c->series[1].npoints, 2);
    assert_true(c->has_histogram);
    ptf_free(&f);
}

static void test_ptf_eval_forms(void **state)
{
    (void)state;
    struct ptf_file f;
    char err[200] = "";
    int rc = parse("# comment\n"
                   "load 5m\n"
                   "\thttp_requests{path=\"/foo\"} 1+1x10\n"
                   "\n"
                   "eval instant at 50m resets(http_requests[10m])\n"
                   "\t{path=\"/foo\"} 0\n"
                   "\n"
                   "eval range from 0 to 3m step 1m sum by (env) (my_metric)\n"
                   "    expect warn msg: PromQL warning: something went wrong (1:15)\n"
                   "    expect info regex: PromQL info: (a|b)\n"
                   "    {env=\"prod\"} 2 _ 10 20\n"
                   "\n"
                   "eval instant at 1m ceil({__name__=~'a|b'})\n"
                   "expect fail msg: \"vector cannot contain metrics with the same labelset\"\n"
                   "\n"
                   "eval_fail instant at 1m foo(\n"
                   "  expected_fail_message unexpected end of input\n"
                   "\n"
                   "eval instant at 50m 1 + 1\n"
                   "  2\n"
                   "\n"
                   "eval instant at 50m (\"Foo\")\n"
                   "  expect string \"Foo\"\n"
                   "eval instant at 1m some_metric[1m]\n"
                   "  expect range vector from 10s to 1m step 10s\n"
                   "  some_metric{env=\"a\"} 2 3 4 5 6\n"
                   "clear\n",
                   &f, err);
    assert_string_equal(err, "");
    assert_int_equal(rc, 0);
    assert_int_equal(f.ncmds, 9);
    struct ptf_cmd *c = &f.cmds[1];
    assert_int_equal(c->kind, PTF_EVAL);
    assert_int_equal(c->line, 5);
    assert_int_equal(c->range, 0);
    assert_int_equal(c->at_ms, 3000000);
    assert_string_equal(c->query, "resets(http_requests[10m])");
    assert_int_equal(c->nseries, 1);
    c = &f.cmds[2];
    assert_int_equal(c->range, 1);
    assert_int_equal(c->end_ms, 180000);
    assert_int_equal(c->step_ms, 60000);
    assert_int_equal(c->nexpects, 2);
    assert_int_equal(c->expects[0].kind, PTF_EXPECT_WARN);
    assert_int_equal(c->expects[0].match, PTF_MATCH_MSG);
    assert_string_equal(c->expects[0].text, "PromQL warning: something went wrong (1:15)");
    assert_int_equal(c->expects[1].match, PTF_MATCH_REGEX);
    assert_int_equal(c->series[0].points[1].kind, PTF_MISSING);
    c = &f.cmds[3];
    assert_int_equal(c->expects[0].kind, PTF_EXPECT_FAIL);
    assert_string_equal(c->expects[0].text, "vector cannot contain metrics with the same labelset");
    c = &f.cmds[4];
    assert_int_equal(c->nexpects, 2);
    assert_int_equal(c->expects[0].kind, PTF_EXPECT_FAIL);
    assert_string_equal(c->expects[1].text, "unexpected end of input");
    c = &f.cmds[5];
    assert_true(c->has_scalar);
    assert_true(c->scalar == 2);
    c = &f.cmds[6];
    assert_int_equal(c->expects[0].kind, PTF_EXPECT_STRING);
    assert_string_equal(c->expects[0].text, "Foo");
    c = &f.cmds[7];
    assert_int_equal(c->expects[0].kind, PTF_EXPECT_RANGE_VECTOR);
    assert_int_equal(c->expects[0].start_ms, 10000);
    assert_int_equal(c->expects[0].step_ms, 10000);
    assert_int_equal(f.cmds[8].kind, PTF_CLEAR);
    size_t evals, hist;
    ptf_eval_count(&f, &evals, &hist);
    assert_int_equal(evals, 7);
    assert_int_equal(hist, 0);
    ptf_free(&f);
}

static void test_ptf_errors(void **state)
{
    (void)state;
    struct ptf_file f;
    char err[200];
    assert_int_equal(parse("load 5m\n  m{a=\"b\"} 1 2x\n", &f, err), TT_ESYNTAX);
    assert_string_equal(err, "t.test:2: bad value \"2x\"");
    assert_int_equal(parse("eval soon at 5m up\n", &f, err), TT_ESYNTAX);
    assert_string_equal(err,
                        "t.test:1: expected \"instant\" or \"range\" after eval, got \"soon\"");
    assert_int_equal(parse("\n\n  m 1\n", &f, err), TT_ESYNTAX);
    assert_string_equal(err, "t.test:3: expected a command (load, clear, eval), got \"m 1\"");
    assert_int_equal(parse("load 5m\n  m{a=\"b} 1\n", &f, err), TT_ESYNTAX);
    assert_string_equal(err, "t.test:2: unterminated label value");
    assert_int_equal(parse("eval range from 0 to 1m step 0 up\n", &f, err), TT_ESYNTAX);
    assert_string_equal(err, "t.test:1: range step must be positive");
    assert_int_equal(parse("eval instant at 1m up\n  expect sometimes\n", &f, err), TT_ESYNTAX);
    assert_string_equal(err, "t.test:2: unknown expectation \"sometimes\"");
    assert_int_equal(parse("load 1m\n  m 1x99999999\n", &f, err), TT_ESYNTAX);
}

/* Every file of Prometheus's suite parses; the counts are about what the
 * shared data's README says (about 2,200 evals). */
static void test_ptf_prometheus_suite(void **state)
{
    (void)state;
    const char *dir = "../shared/data/promql-testdata";
    DIR *d = opendir(dir);
    if (!d) {
        dir = "../../shared/data/promql-testdata";
        d = opendir(dir);
    }
    if (!d) {
        skip();
        return;
    }
    struct dirent *e;
    size_t files = 0, evals = 0, hist = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".test") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        fseek(fp, 0, SEEK_END);
        long len = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        char *buf = malloc((size_t)len + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        struct ptf_file f;
        char err[300] = "";
        int rc = ptf_parse(buf, (size_t)len, e->d_name, &f, err, sizeof err);
        if (rc != 0)
            fail_msg("%s", err);
        size_t ev, h;
        ptf_eval_count(&f, &ev, &h);
        evals += ev;
        hist += h;
        files++;
        ptf_free(&f);
        free(buf);
    }
    closedir(d);
    printf("promqltest suite: %zu files, %zu evals, %zu involving native histograms\n", files,
           evals, hist);
    assert_int_equal(files, 21);
    assert_in_range(evals, 2100, 2400);
    assert_true(hist > 100 && hist < evals / 2);
}

UNIT_TESTS(cmocka_unit_test(test_ptf_durations), cmocka_unit_test(test_ptf_load_expansion),
           cmocka_unit_test(test_ptf_eval_forms), cmocka_unit_test(test_ptf_errors),
           cmocka_unit_test(test_ptf_prometheus_suite))
