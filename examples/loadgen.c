/*
 * loadgen.c - records a steady stream of numbered spans, events and state
 * changes until killed or done: the load for crash tests (kill -9 at any
 * moment, then check that what reached the spool is a gapless prefix) and for
 * trying the agent later.
 *
 * usage: loadgen SPOOL_DIR [COUNT] [THREADS]
 *   COUNT 0 (default) runs until killed. Every span has the attribute
 *   "seq" = its number within its thread and "thread" = the thread's index.
 *   The counter loadgen_ops_total counts the spans, and the histogram
 *   loadgen_op_value observes (seq % 1000) / 1000 for each, so the agent's
 *   metric routing has something to check (median 0.5).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "telltale.h"

static long long count;
static tt_counter *ops;
static tt_histogram *op_value;

static void *worker(void *arg)
{
    long long idx = (long long)(intptr_t)arg;
    for (long long i = 0; count == 0 || i < count; i++) {
        tt_span s;
        tt_span_start(&s, "loadgen.op", TT_SPAN_INTERNAL, NULL);
        tt_span_set_int(&s, "seq", i);
        tt_span_set_int(&s, "thread", idx);
        tt_span_end(&s);
        tt_counter_inc(ops);
        tt_histogram_observe(op_value, (double)(i % 1000) / 1000.0);
        if (i % 100 == 0) {
            tt_kv kv[] = { TT_INT("seq", i), TT_INT("thread", idx) };
            tt_event(TT_SEV_INFO, "loadgen.tick", "progress", kv, 2);
            tt_state_set_int("loadgen", "seq", i);
        }
        if (i % 100 == 99) {
            struct timespec ts = { 0, 1000000 }; /* ~100k spans/s per thread at most */
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: loadgen SPOOL_DIR [COUNT] [THREADS]\n");
        return 2;
    }
    tt_config cfg;
    char err[256];
    tt_config_default(&cfg);
    if (tt_config_from_env(&cfg, err, sizeof err) != 0 ||
        tt_config_set(&cfg, "SPOOL_DIR", argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "loadgen: %s\n", err);
        return 2;
    }
    count = argc > 2 ? strtoll(argv[2], NULL, 10) : 0;
    int threads = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 1;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "loadgen: THREADS must be 1..64\n");
        return 2;
    }
    int rc = tt_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "loadgen: tt_init: %s\n", tt_strerror(rc));
        return 1;
    }
    ops = tt_counter_new("loadgen_ops_total", "spans loadgen recorded", NULL);
    op_value = tt_histogram_new("loadgen_op_value", "(seq % 1000) / 1000 of each span", NULL, 0);
    pthread_t th[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    tt_stats st;
    tt_stats_get(&st);
    tt_shutdown();
    printf("loadgen: %llu spans recorded, %llu dropped (buffer full)\n",
           (unsigned long long)st.spans_recorded, (unsigned long long)st.records_dropped_full);
    return 0;
}
