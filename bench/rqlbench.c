/*
 * rqlbench.c - RQL evaluation speed (BENCH.md `rql`): cuts examined per
 * second on one core for a 3-variable predicate over 5 nodes. An in-memory
 * cut (memcut) of 5 nodes with the 3 variables of the predicate is changed
 * N times (default 1 M), one change at a time (a random node, a random
 * variable of the three, a random value), and after each change the query
 * is re-evaluated over the new cut: one cut examined per change. The time
 * includes applying the change. Figures:
 *
 *   same_node_cuts_per_s   a + b > c + 100 LINK SAME_NODE, incremental (one node per change)
 *   each_node_cuts_per_s   a + b > c LINK EACH_NODE, incremental
 *   unlinked_cuts_per_s    a - b > c + 60 unlinked (5x5x5 bindings a cut), incremental:
 *                          a match stands while its witness binding is untouched, a
 *                          non-match re-examines only the bindings through the change
 *   unlinked_full_cuts_per_s  the same, every cut evaluated in full (up to 125 bindings)
 *   same_node_full_cuts_per_s  the SAME_NODE query with every cut evaluated in full
 *
 * Usage: rqlbench [N]. Prints "figure value unit" lines, and the share of
 * cuts that matched as "..._match_pct" (so the work is seen to be real).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "telltale.h"
#include "query/rql/eval.h"
#include "query/rql/memcut.h"

static uint64_t rs = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const char *name, const char *text, int incremental, long n)
{
    static const char *const vars[] = { "a", "b", "c" };
    char node[8], err[512];
    uint32_t keys[3], nodes[5];
    struct memcut *mc = memcut_new();
    struct rql_query *q = NULL;
    struct rql_error perr;
    if (mc == NULL || rql_parse(text, strlen(text), &q, &perr) != 0) {
        fprintf(stderr, "rqlbench: %s: %s\n", text, perr.msg);
        exit(1);
    }
    rs = 0x243f6a8885a308d3ull;
    for (int k = 0; k < 5; k++) {
        snprintf(node, sizeof node, "n%d", k);
        for (int v = 0; v < 3; v++) {
            struct rql_value val = { .type = RQL_V_INT, .u.i = (int64_t)(rnd() % 100) };
            if (memcut_set(mc, node, "app", vars[v], &val, &keys[v], &nodes[k]) != 0)
                exit(1);
        }
    }
    struct rql_eval *ev = NULL;
    struct rql_eval_opts o = { 1000, 1 };
    if (rql_eval_new(q, &o, &memcut_ops, mc, &ev, err, sizeof err) != 0) {
        fprintf(stderr, "rqlbench: %s\n", err);
        exit(1);
    }
    int match = 0;
    long matches = 0;
    if (rql_eval_cut(ev, &match, err, sizeof err) != 0)
        exit(1);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        uint64_t r = rnd();
        uint32_t nd = nodes[r % 5], key = keys[(r >> 8) % 3];
        struct rql_value val = { .type = RQL_V_INT, .u.i = (int64_t)((r >> 16) % 100) };
        if (memcut_set_id(mc, nd, key, &val) != 0)
            exit(1);
        int rc = incremental ? rql_eval_change(ev, key, nd, &match, err, sizeof err)
                             : rql_eval_cut(ev, &match, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "rqlbench: %s\n", err);
            exit(1);
        }
        matches += match;
    }
    double dt = now_s() - t0;
    printf("%s_cuts_per_s %.0f cuts/s\n", name, (double)n / dt);
    printf("%s_match_pct %.1f %%\n", name, 100.0 * (double)matches / (double)n);
    rql_eval_free(ev);
    rql_query_free(q);
    memcut_free(mc);
}

int main(int argc, char **argv)
{
    long n = 1000000;
    if (argc > 1) {
        char *end = NULL;
        n = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end != 0 || n <= 0) {
            fprintf(stderr, "usage: rqlbench [CHANGES]\n");
            return 2;
        }
    }
    run("same_node", "SELECT NODE($1) FROM app WHEN a + b > c + 100 LINK SAME_NODE", 1, n);
    run("each_node", "SELECT NODE($1) FROM app WHEN a + b > c LINK EACH_NODE", 1, n);
    run("unlinked", "SELECT NODE($1) FROM app WHEN a - b > c + 60", 1, n);
    run("unlinked_full", "SELECT NODE($1) FROM app WHEN a - b > c + 60", 0, n);
    run("same_node_full", "SELECT NODE($1) FROM app WHEN a + b > c + 100 LINK SAME_NODE", 0, n);
    return 0;
}
