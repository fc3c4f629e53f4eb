/*
 * test_lib_torture.c - allocation failure injection for libtelltale (curl's
 * torture mode, SQLite's malloc tests): a scenario that uses every part of
 * the library is run once counting allocations, then again failing the Nth
 * allocation for every N. Every run must end cleanly: no crash, no hang, and
 * (under the ASan build) no leak. Linked with -Wl,--wrap for the allocator
 * (cmake/Tests.cmake), so only the calls from the library and this file go
 * through the hooks below.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "telltale.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);

static _Atomic long allocs;  /* allocations seen while counting */
static _Atomic long fail_at; /* 0: never fail */
static _Atomic int counting;
static _Atomic long failed;

static int should_fail(void)
{
    if (!atomic_load(&counting))
        return 0;
    long c = atomic_fetch_add(&allocs, 1) + 1;
    if (c == atomic_load(&fail_at)) {
        atomic_fetch_add(&failed, 1);
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return should_fail() ? ENOMEM : __real_posix_memalign(p, align, n);
}

static char dir[128];

static void rm_spool(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        tt_span s;
        tt_span_start(&s, "worker", TT_SPAN_INTERNAL, NULL);
        tt_span_set_int(&s, "i", i);
        tt_span_end(&s);
    }
    tt_state_set_int("w", "done", 1);
    return NULL;
}

/* Uses every part of the library; returns whether tt_init succeeded. */
static int scenario(void)
{
    tt_config cfg;
    char err[200];
    tt_config_default(&cfg);
    if (tt_config_set(&cfg, "SPOOL_DIR", dir, err, sizeof err) != 0)
        return 0;
    if (tt_init(&cfg) != 0)
        return 0;
    const char *labels[] = { "method", "GET", NULL };
    tt_counter *c = tt_counter_new("torture_requests_total", "requests", labels);
    tt_gauge *g = tt_gauge_new("torture_inflight", NULL, NULL);
    tt_histogram *h = tt_histogram_new("torture_seconds", NULL, labels, 0);
    tt_span root, child;
    tt_headers hdr;
    tt_span_start(&root, "root", TT_SPAN_SERVER, NULL);
    tt_span_set_str(&root, "k", "v");
    tt_client_span_start(&child, "call", &root.ctx, &hdr);
    tt_kv kv[] = { TT_STR("a", "b"), TT_INT("n", 1) };
    tt_span_add_event(&child, "ev", kv, 2);
    tt_span_add_link(&child, &root.ctx, kv, 1);
    tt_span_set_status(&child, TT_STATUS_ERROR, "failed");
    tt_span_end(&child);
    tt_span srv;
    tt_server_span_start(&srv, "serve", hdr.traceparent, hdr.tracestate);
    tt_span_end(&srv);
    tt_span_end(&root);
    for (int i = 0; i < 10; i++) {
        tt_counter_inc(c);
        tt_gauge_set(g, i);
        tt_histogram_observe(h, 0.001 * (i + 1));
    }
    tt_event(TT_SEV_WARNING, "torture", "event", kv, 2);
    tt_state_set_str("t", "mode", "a");
    tt_state_set_str("t", "mode", "b");
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL) == 0)
        pthread_join(th, NULL);
    tt_flush();
    tt_shutdown();
    return 1;
}

static void test_every_allocation_failure(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tt-torture-%d", (int)getpid());
    rm_spool();
    atomic_store(&allocs, 0);
    atomic_store(&fail_at, 0);
    atomic_store(&counting, 1);
    assert_true(scenario());
    atomic_store(&counting, 0);
    long total = atomic_load(&allocs);
    assert_true(total > 10); /* the scenario does allocate */
    long inits_failed = 0;
    for (long n = 1; n <= total + 5; n++) {
        rm_spool();
        atomic_store(&allocs, 0);
        atomic_store(&fail_at, n);
        atomic_store(&counting, 1);
        if (!scenario())
            inits_failed++;
        atomic_store(&counting, 0);
    }
    atomic_store(&fail_at, 0);
    /* Failures were injected, and some of them made tt_init fail cleanly. */
    assert_true(atomic_load(&failed) > 0);
    assert_true(inits_failed > 0);
    /* The library still works after all that. */
    rm_spool();
    assert_true(scenario());
    rm_spool();
    printf("torture: %ld allocations in the scenario, %ld failures injected, %ld failed inits\n",
           total, atomic_load(&failed), inits_failed);
}

UNIT_TESTS(cmocka_unit_test(test_every_allocation_failure))
