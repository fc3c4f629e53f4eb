/*
 * headmem.c - the TSDB head's memory per active series (issue 3's figure:
 * <= 1 KB at 1 M series; Prometheus: about 3 KB): a fleet of series with 10
 * labels each (Kubernetes-pod-like names, values and cardinalities), 120
 * samples every 15 s (30 minutes, one open chunk each), counters, gauges,
 * constants and full-precision doubles mixed as in real scrapes.
 *
 * Usage: headmem [--quick] [--json] [--series N]
 *   default 1,000,000 series (--quick: 100,000). Prints the heap growth per
 *   series as glibc's mallinfo2 counts it (allocated blocks with malloc's own
 *   overhead, from before the head is opened to after the last commit, the
 *   appender freed) and the head's own accounting (head_stats), one line or
 *   one JSON object per figure (BENCH.md).
 */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "store/tsdb/head.h"

static void figure(int json, const char *fig, double v, const char *unit, double target)
{
    if (json)
        printf("{\"bench\":\"tsdb\",\"figure\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"}\n", fig, v,
               unit);
    else if (target > 0)
        printf("%-36s %10.1f %-14s target <= %.0f %s\n", fig, v, unit, target,
               v <= target ? "ok" : "MISSED");
    else
        printf("%-36s %10.1f %s\n", fig, v, unit);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "headmem: %s: %s\n", what, tt_strerror(rc));
    exit(1);
}

int main(int argc, char **argv)
{
    long nser = 1000000, nsamp = 120;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            nser = 100000;
        else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc)
            nser = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: headmem [--quick] [--json] [--series N]\n");
            return 2;
        }
    }
    if (nser < 1)
        nser = 1;
    struct head_options o;
    head_options_default(&o);
    o.no_wal = 1;
    head_ref *refs = calloc((size_t)nser, sizeof *refs);
    double *val = calloc((size_t)nser, sizeof *val);
    if (refs == NULL || val == NULL)
        die("arrays", TT_ENOMEM);
    struct mallinfo2 m0 = mallinfo2();
    struct head *h;
    struct head_appender *a;
    int rc = head_open(&h, "/nonexistent-no-wal", &o, NULL, NULL, 0);
    if (rc != 0)
        die("head_open", rc);
    if ((rc = head_appender_new(h, &a)) != 0)
        die("appender", rc);
    struct labels ls;
    labels_init(&ls);
    char metric[48], pod[64], node[32], ip[48], cont[32], code[32];
    const int64_t t0 = INT64_C(1700006400000); /* on a chunk range boundary */
    for (long s = 0; s < nser; s++) {
        long p = s / 500, m = s % 500;
        snprintf(metric, sizeof metric, "app_metric_%03ld_total", m / 5);
        snprintf(pod, sizeof pod, "api-%05ld-7f9c8d6b5-x%04ld", p / 4, p);
        snprintf(node, sizeof node, "node-%03ld", p / 20);
        snprintf(ip, sizeof ip, "10.%ld.%ld.%ld:8080", p / 65536, p / 256 % 256, p % 256);
        snprintf(cont, sizeof cont, "c%ld", p % 3);
        snprintf(code, sizeof code, "code-%ld", m % 5);
        labels_reset(&ls);
        labels_push(&ls, "__name__", metric);
        labels_push(&ls, "job", "kubernetes-pods");
        labels_push(&ls, "namespace", p % 2 ? "prod" : "staging");
        labels_push(&ls, "pod", pod);
        labels_push(&ls, "instance", ip);
        labels_push(&ls, "node", node);
        labels_push(&ls, "container", cont);
        labels_push(&ls, "app", "api");
        labels_push(&ls, "status", code);
        labels_push(&ls, "region", p % 3 ? "eu-west-1" : "us-east-1");
        val[s] = (double)(s % 7);
        if ((rc = head_appender_add(a, &ls, t0, val[s], &refs[s])) != 0)
            die("add", rc);
    }
    labels_release(&ls);
    if ((rc = head_appender_commit(a, NULL, NULL, 0)) != 0)
        die("commit", rc);
    uint64_t seed = 7;
    for (long i = 1; i < nsamp; i++) {
        int64_t t = t0 + i * 15000;
        for (long s = 0; s < nser; s++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            int kind = (int)(s * 37 % 100);
            if (kind < 40) /* counters */
                val[s] += (double)((seed >> 33) % 50);
            else if (kind < 60) /* gauges with 2 decimals */
                val[s] = round((val[s] + (double)((int64_t)((seed >> 33) % 201) - 100) / 100.0) *
                               100.0) /
                         100.0;
            else if (kind >= 95) /* full-precision doubles */
                val[s] = (double)(seed >> 11) * 0x1.0p-53 * 1e3;
            if ((rc = head_appender_add_ref(a, refs[s], t, val[s])) != 0)
                die("add_ref", rc);
        }
        if ((rc = head_appender_commit(a, NULL, NULL, 0)) != 0)
            die("commit", rc);
    }
    head_appender_free(a);
    struct mallinfo2 m1 = mallinfo2();
    struct head_stats st;
    head_stats(h, &st);
    double heap = (double)(m1.uordblks + m1.hblkhd) - (double)(m0.uordblks + m0.hblkhd);
    char fig[64];
    snprintf(fig, sizeof fig, "head_memory_bytes_per_series");
    figure(json, fig, heap / (double)nser, "bytes/series", 1024);
    figure(json, "head_accounted_bytes_per_series", (double)st.memory_bytes / (double)nser,
           "bytes/series", 0);
    figure(json, "head_chunk_bytes_per_series", (double)st.chunk_bytes / (double)nser,
           "bytes/series", 0);
    figure(json, "head_index_bytes_per_series", (double)st.index_bytes / (double)nser,
           "bytes/series", 0);
    figure(json, "head_series_count", (double)nser, "series", 0);
    head_close(h);
    free(refs);
    free(val);
    return 0;
}
