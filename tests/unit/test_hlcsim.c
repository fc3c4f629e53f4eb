/*
 * test_hlcsim.c - the HLC-sync experiment: the HLC rules case by case and
 * against core/hlc.c, the exactly predictable points (pm 0, pe 0, delay >=
 * skew, skew 0, two nodes talking every tick), the bounds every run keeps,
 * the coupling of runs across ticks, pm and delay, determinism across seeds
 * and thread counts, parameter checks and the JSON shape.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/hlc.h"
#include "query/causal/hlcsim.h"

static struct hlcsim_stamp st(uint64_t l, uint64_t c)
{
    struct hlcsim_stamp s = { l, c };
    return s;
}

static void assert_stamp(struct hlcsim_stamp s, uint64_t l, uint64_t c)
{
    assert_int_equal(s.l, l);
    assert_int_equal(s.c, c);
}

static void test_hlcsim_tick_rules(void **state)
{
    (void)state;
    /* Physical time ahead: l takes it, c restarts. */
    assert_stamp(hlcsim_tick(st(10, 7), 12), 12, 0);
    /* Physical time equal to l: l stays, c counts. */
    assert_stamp(hlcsim_tick(st(12, 0), 12), 12, 1);
    /* Physical time behind l (l came from a faster node): c counts. */
    assert_stamp(hlcsim_tick(st(40, 3), 12), 40, 4);
    /* From the zero state at pt 0 the paper's rule gives c 1. */
    assert_stamp(hlcsim_tick(st(0, 0), 0), 0, 1);
}

static void test_hlcsim_recv_rules(void **state)
{
    (void)state;
    /* pt beyond both: l = pt, c = 0. */
    assert_stamp(hlcsim_recv(st(10, 5), st(11, 9), 20), 20, 0);
    /* l_m largest: c = c_m + 1. */
    assert_stamp(hlcsim_recv(st(10, 5), st(30, 9), 20), 30, 10);
    /* own l largest: c = c + 1. */
    assert_stamp(hlcsim_recv(st(40, 5), st(30, 9), 20), 40, 6);
    /* l == l_m largest: c = max(c, c_m) + 1, both ways round. */
    assert_stamp(hlcsim_recv(st(40, 5), st(40, 9), 20), 40, 10);
    assert_stamp(hlcsim_recv(st(40, 12), st(40, 9), 20), 40, 13);
    /* pt ties with l_m: l' == l_m, so c_m + 1 (the paper's rule). */
    assert_stamp(hlcsim_recv(st(10, 5), st(20, 2), 20), 20, 3);
    /* pt ties with l: l' == l, so c + 1. */
    assert_stamp(hlcsim_recv(st(20, 5), st(10, 2), 20), 20, 6);
    /* all three equal. */
    assert_stamp(hlcsim_recv(st(20, 5), st(20, 2), 20), 20, 6);
}

/* The simulator's clock and core/hlc.c's hlc_step agree wherever the core's
 * packing (48-bit l, 16-bit c) holds the values. */
static void test_hlcsim_matches_core(void **state)
{
    (void)state;
    uint64_t x = 12345;
    for (int i = 0; i < 200000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t l = (x >> 20) % 64, c = (x >> 30) % 100;
        uint64_t lm = (x >> 40) % 64, cm = (x >> 50) % 100;
        uint64_t pt = (x >> 8) % 64;
        int recv = (int)((x >> 60) & 1);
        int ovf = 0;
        tt_hlc core =
            hlc_step(hlc_pack(l, (uint32_t)c), pt, recv, hlc_pack(lm, (uint32_t)cm), &ovf);
        struct hlcsim_stamp sim =
            recv ? hlcsim_recv(st(l, c), st(lm, cm), pt) : hlcsim_tick(st(l, c), pt);
        assert_int_equal(ovf, 0);
        assert_int_equal(hlc_l(core), sim.l);
        assert_int_equal(hlc_c(core), sim.c);
    }
}

static struct hlcsim_params small(void)
{
    struct hlcsim_params p;
    hlcsim_defaults(&p);
    p.ticks = 300;
    p.runs = 50;
    return p;
}

static struct hlcsim_result eval1(const struct hlcsim_params *p, unsigned threads)
{
    struct hlcsim_result r;
    char err[128];
    assert_int_equal(hlcsim_check(p, err, sizeof err), 0);
    assert_int_equal(hlcsim_eval(p, 1, threads, &r, err, sizeof err), 0);
    return r;
}

static void test_hlcsim_pm_zero(void **state)
{
    (void)state;
    /* No messages: every HLC equals its own physical clock, a_i = 0. */
    struct hlcsim_params p = small();
    p.pm = 0;
    p.pe = 1;
    struct hlcsim_result r = eval1(&p, 2);
    assert_true(r.error == 1.0);
    assert_true(r.counted >= (uint64_t)p.runs);
}

static void test_hlcsim_pe_zero(void **state)
{
    (void)state;
    /* Messages but nothing logged: a_i = 0 for every node. */
    struct hlcsim_params p = small();
    p.pe = 0;
    p.pm = 1;
    struct hlcsim_result r = eval1(&p, 1);
    assert_true(r.error == 1.0);
}

static void test_hlcsim_delay_reaches_skew(void **state)
{
    (void)state;
    /* Once the least delay reaches the skew, nothing can be recovered. */
    struct hlcsim_params p = small();
    p.pm = 1;
    p.pe = 1;
    p.skew = 20;
    p.dmin = 20;
    p.dmax = 25;
    struct hlcsim_result r = eval1(&p, 2);
    assert_true(r.error == 1.0);
    assert_true(r.floor == 1.0);
    /* One tick less and the node at offset 0 learns something. */
    p.dmin = p.dmax = 19;
    r = eval1(&p, 2);
    assert_true(r.error < 1.0);
}

static void test_hlcsim_skew_zero(void **state)
{
    (void)state;
    struct hlcsim_params p = small();
    p.skew = 0;
    struct hlcsim_result r = eval1(&p, 2);
    assert_true(r.error == 0.0);
    assert_int_equal(r.counted, 0);
}

/* Two nodes, the fast one (offset skew) sends every tick with a constant
 * delay d and the slow one logs every tick: a = skew - d exactly, so the
 * error is d / skew. */
static void test_hlcsim_two_nodes_exact(void **state)
{
    (void)state;
    struct hlcsim_ws *ws = hlcsim_ws_new();
    assert_non_null(ws);
    for (uint32_t d = 1; d < 30; d += 4) {
        struct hlcsim_params p = small();
        uint64_t off[2], al[2];
        struct hlcsim_run_out o;
        p.nodes = 2;
        p.skew = 30;
        p.pm = 1;
        p.pe = 1;
        p.dmin = p.dmax = d;
        p.ticks = 100;
        assert_int_equal(hlcsim_run(ws, &p, 3, &o, off, al), 0);
        assert_int_equal(off[0], 0);
        assert_int_equal(off[1], 30);
        assert_int_equal(al[0], 30 - d);
        assert_int_equal(al[1], 0);
        assert_int_equal(o.counted, 1);
        assert_true(o.err_sum == 1.0 - (double)(30 - d) / 30.0);
        assert_true(o.floor_sum == (double)d / 30.0);
    }
    hlcsim_ws_free(ws);
}

/* Every run: offsets in range with the ends fixed, 0 <= a_i <= D_i - dmin,
 * the fastest node's own a is 0, the error never below the floor. */
static void test_hlcsim_bounds(void **state)
{
    (void)state;
    struct hlcsim_ws *ws = hlcsim_ws_new();
    assert_non_null(ws);
    uint64_t x = 99;
    for (uint32_t run = 0; run < 300; run++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        struct hlcsim_params p;
        hlcsim_defaults(&p);
        p.nodes = 2 + (uint32_t)((x >> 33) % 9);
        p.skew = (x >> 20) % 80;
        p.dmin = 1 + (uint32_t)((x >> 10) % 12);
        p.dmax = p.dmin + (uint32_t)((x >> 45) % 8);
        p.pe = (double)((x >> 50) % 11) / 10.0;
        p.pm = (double)((x >> 40) % 11) / 10.0;
        p.ticks = 1 + (x >> 5) % 400;
        p.seed = x;
        uint64_t off[10], al[10];
        struct hlcsim_run_out o;
        assert_int_equal(hlcsim_run(ws, &p, run, &o, off, al), 0);
        assert_int_equal(off[0], 0);
        assert_int_equal(off[p.nodes - 1], p.skew);
        for (uint32_t i = 0; i < p.nodes; i++) {
            uint64_t behind = p.skew - off[i];
            assert_true(off[i] <= p.skew);
            assert_true(al[i] <= (behind > p.dmin ? behind - p.dmin : 0));
        }
        assert_true(o.err_sum >= o.floor_sum - 1e-9);
        assert_true(o.err_sum <= (double)o.counted + 1e-9);
    }
    hlcsim_ws_free(ws);
}

/* Runs are coupled: for one run number, more ticks or a higher pm never
 * lowers any a_i, a longer constant delay never raises one. */
static void test_hlcsim_coupled_monotone(void **state)
{
    (void)state;
    struct hlcsim_ws *ws = hlcsim_ws_new();
    assert_non_null(ws);
    for (uint32_t run = 0; run < 40; run++) {
        struct hlcsim_params p;
        struct hlcsim_run_out o;
        uint64_t off[5], a[5], prev[5];
        hlcsim_defaults(&p);
        /* ticks */
        memset(prev, 0, sizeof prev);
        for (uint64_t t = 10; t <= 640; t *= 2) {
            p.ticks = t;
            assert_int_equal(hlcsim_run(ws, &p, run, &o, off, a), 0);
            for (int i = 0; i < 5; i++)
                assert_true(a[i] >= prev[i]);
            memcpy(prev, a, sizeof a);
        }
        /* pm */
        hlcsim_defaults(&p);
        p.ticks = 200;
        memset(prev, 0, sizeof prev);
        for (int k = 0; k <= 10; k++) {
            p.pm = k / 10.0;
            assert_int_equal(hlcsim_run(ws, &p, run, &o, off, a), 0);
            for (int i = 0; i < 5; i++)
                assert_true(a[i] >= prev[i]);
            memcpy(prev, a, sizeof a);
        }
        /* constant delay */
        hlcsim_defaults(&p);
        p.ticks = 200;
        p.pm = 0.3;
        for (uint32_t d = 1; d <= 55; d++) {
            p.dmin = p.dmax = d;
            assert_int_equal(hlcsim_run(ws, &p, run, &o, off, a), 0);
            if (d > 1)
                for (int i = 0; i < 5; i++)
                    assert_true(a[i] <= prev[i]);
            memcpy(prev, a, sizeof a);
        }
    }
    hlcsim_ws_free(ws);
}

static void test_hlcsim_deterministic(void **state)
{
    (void)state;
    struct hlcsim_params pts[3];
    struct hlcsim_result r1[3], r2[3], r3[3], r4[3];
    char err[128];
    for (int k = 0; k < 3; k++) {
        hlcsim_defaults(&pts[k]);
        pts[k].ticks = 100 + 100 * (uint64_t)k;
        pts[k].runs = 37 + (uint32_t)k; /* not a multiple of the chunk size */
        pts[k].seed = 42;
    }
    assert_int_equal(hlcsim_eval(pts, 3, 1, r1, err, sizeof err), 0);
    assert_int_equal(hlcsim_eval(pts, 3, 2, r2, err, sizeof err), 0);
    assert_int_equal(hlcsim_eval(pts, 3, 7, r3, err, sizeof err), 0);
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(&r1[k].error, &r2[k].error, sizeof(double));
        assert_memory_equal(&r1[k].error, &r3[k].error, sizeof(double));
        assert_memory_equal(&r1[k].floor, &r3[k].floor, sizeof(double));
        assert_int_equal(r1[k].counted, r3[k].counted);
    }
    /* Another seed draws other offsets and events. */
    for (int k = 0; k < 3; k++)
        pts[k].seed = 43;
    assert_int_equal(hlcsim_eval(pts, 3, 2, r4, err, sizeof err), 0);
    assert_true(r4[0].error != r1[0].error);
    assert_true(r4[2].error != r1[2].error);
}

static void test_hlcsim_check_errors(void **state)
{
    (void)state;
    /* The flag each case's bad value must be named by. */
    static const char *const flags[] = { "--nodes", "--dmin",  "--dmax", "--pe",
                                         "--pm",    "--ticks", "--runs", "--skew" };
    char err[200];
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        struct hlcsim_params p;
        hlcsim_defaults(&p);
        assert_int_equal(hlcsim_check(&p, err, sizeof err), 0);
        switch (k) {
        case 0:
            p.nodes = 1;
            break;
        case 1:
            p.dmin = 0;
            break;
        case 2:
            p.dmax = 2;
            break;
        case 3:
            p.pe = 1.5;
            break;
        case 4:
            p.pm = -0.1;
            break;
        case 5:
            p.ticks = 0;
            break;
        case 6:
            p.runs = 0;
            break;
        default:
            p.skew = HLCSIM_MAX_SKEW + 1;
            break;
        }
        err[0] = 0;
        assert_int_equal(hlcsim_check(&p, err, sizeof err), TT_EINVAL);
        assert_non_null(strstr(err, flags[k]));
    }
}

static void test_hlcsim_json_shape(void **state)
{
    (void)state;
    struct hlcsim_params p;
    struct hlcsim_result r = { 0.25, 0.125, 10 };
    char out[512];
    static const char *const keys[] = { "nodes", "skew",  "dmin", "dmax", "pe",
                                        "pm",    "ticks", "runs", "error" };
    hlcsim_defaults(&p);
    p.pm = 0.05;
    int n = hlcsim_json(&p, &r, out, sizeof out);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 9);
    for (size_t k = 0; k < 9; k++)
        assert_non_null(json_object_get(j, keys[k]));
    assert_int_equal(json_integer_value(json_object_get(j, "nodes")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "skew")), 50);
    assert_int_equal(json_integer_value(json_object_get(j, "dmin")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "dmax")), 10);
    assert_true(json_number_value(json_object_get(j, "pe")) == 0.4);
    assert_true(json_number_value(json_object_get(j, "pm")) == 0.05);
    assert_int_equal(json_integer_value(json_object_get(j, "ticks")), 1000);
    assert_int_equal(json_integer_value(json_object_get(j, "runs")), 2000);
    assert_true(json_number_value(json_object_get(j, "error")) == 0.25);
    /* Keys in the documented order. */
    const char *at = out;
    for (size_t k = 0; k < 9; k++) {
        char q[32];
        snprintf(q, sizeof q, "\"%s\":", keys[k]);
        const char *f = strstr(at, q);
        assert_non_null(f);
        at = f;
    }
    json_decref(j);
    /* Too small a buffer is an error, not a truncated object. */
    assert_int_equal(hlcsim_json(&p, &r, out, 20), TT_ETOOBIG);
}

UNIT_TESTS(cmocka_unit_test(test_hlcsim_tick_rules), cmocka_unit_test(test_hlcsim_recv_rules),
           cmocka_unit_test(test_hlcsim_matches_core), cmocka_unit_test(test_hlcsim_pm_zero),
           cmocka_unit_test(test_hlcsim_pe_zero), cmocka_unit_test(test_hlcsim_delay_reaches_skew),
           cmocka_unit_test(test_hlcsim_skew_zero), cmocka_unit_test(test_hlcsim_two_nodes_exact),
           cmocka_unit_test(test_hlcsim_bounds), cmocka_unit_test(test_hlcsim_coupled_monotone),
           cmocka_unit_test(test_hlcsim_deterministic), cmocka_unit_test(test_hlcsim_check_errors),
           cmocka_unit_test(test_hlcsim_json_shape))
