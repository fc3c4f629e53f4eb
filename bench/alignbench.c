/*
 * alignbench.c - `bench/run align`: aligns N events (default 10 M) of a
 * simulated cluster held in memory, on 1 and on 2 threads, and prints the
 * median events/s of RUNS runs as JSON lines ({"threads":..,"events":..,
 * "events_per_s":..}). The events come from 8 nodes whose clocks are 0..70 ms
 * behind, stamped by the HLC rules with a message every few events, so the
 * shifts are real work; events are handed over in node order (one log file
 * after another), as `telltale align FILE...` sees them.
 *
 * Usage: alignbench [--events N] [--runs R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "query/causal/align.h"

#define NODES 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* fill builds the event set: real time advances 1 ms per round, each node logs
 * one event a round; one in 4 events receives the stamp node (k+1) % NODES
 * sent 2 ms earlier. */
static int fill(struct align_set *s, size_t n)
{
    int64_t hl[NODES] = { 0 }, hc[NODES] = { 0 }, sent_l[NODES][4] = { { 0 } },
            sent_c[NODES][4] = { { 0 } };
    uint32_t id[NODES];
    for (int k = 0; k < NODES; k++) {
        char name[8];
        snprintf(name, sizeof(name), "node%d", k);
        if (align_set_node(s, name, strlen(name), &id[k]))
            return -1;
    }
    /* Per node in turn, so the input is file after file. */
    size_t per = n / NODES;
    struct align_event *tmp = malloc(per * NODES * sizeof(*tmp));
    if (!tmp)
        return -1;
    for (size_t r = 0; r < per; r++) {
        for (int k = 0; k < NODES; k++) {
            int64_t pt = 1700000000000 + (int64_t)r - k * 10;
            int64_t lold = hl[k], l = lold > pt ? lold : pt, c = l == lold ? hc[k] + 1 : 0;
            if (r % 4 == (size_t)(k % 4) && r >= 2) {
                int src = (k + 1) % NODES;
                int64_t ml = sent_l[src][(r - 2) % 4], mc = sent_c[src][(r - 2) % 4];
                if (ml > l) {
                    l = ml;
                    c = mc + 1;
                } else if (ml == l && mc >= c) {
                    c = mc + 1;
                }
            }
            if (c > 0xffff)
                c = 0xffff;
            hl[k] = l;
            hc[k] = c;
            sent_l[k][r % 4] = l;
            sent_c[k][r % 4] = c;
            struct align_event *e = &tmp[(size_t)k * per + r];
            e->pt_ms = pt;
            e->l_ms = l;
            e->c = (uint32_t)c;
        }
    }
    for (size_t i = 0; i < per * NODES; i++)
        if (align_set_add(s, id[i / per], tmp[i].pt_ms, tmp[i].l_ms, tmp[i].c, NULL, 0)) {
            free(tmp);
            return -1;
        }
    free(tmp);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 10000000;
    int runs = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--events") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (runs < 1 || runs > 20 || n < NODES) {
        fprintf(stderr, "usage: alignbench [--events N] [--runs R]\n");
        return 2;
    }
    for (int threads = 1; threads <= 2; threads++) {
        double rate[20];
        int64_t shift7 = 0;
        for (int r = 0; r < runs; r++) {
            struct align_set s;
            align_set_init(&s);
            if (fill(&s, n)) {
                fprintf(stderr, "alignbench: out of memory\n");
                return 1;
            }
            double t0 = now_s();
            if (align_run(&s, threads, 100)) {
                fprintf(stderr, "alignbench: align_run failed\n");
                return 1;
            }
            rate[r] = (double)s.nev / (now_s() - t0);
            shift7 = s.nodes[7].shift_ms;
            align_set_release(&s);
        }
        qsort(rate, (size_t)runs, sizeof(rate[0]), cmp_double);
        printf("{\"threads\":%d,\"events\":%zu,\"events_per_s\":%.0f,\"shift_node7_ms\":%lld}\n",
               threads, n / NODES * NODES, rate[runs / 2], (long long)shift7);
    }
    return 0;
}
