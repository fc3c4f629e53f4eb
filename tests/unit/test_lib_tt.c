/*
 * test_lib_tt.c - libtelltale end to end inside one process: init, record
 * spans/events/state from one and several threads, flush, and read the spool
 * back with the core codec; sampling, filters, propagation and HLC merge,
 * full buffers, thread exit, fork.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/record.h"

/* ---- reading a spool back ---------------------------------------------- */

struct got {
    uint8_t *files[64];
    size_t nfiles;
    struct rec recs[20000];
    uint64_t origins[20000];
    size_t n;
    size_t batches;
};

static struct got *got;

static void read_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    got->files[got->nfiles++] = buf;
    size_t off = 0, len = (size_t)st.st_size;
    while (off < len) {
        struct batch_hdr h;
        char err[200];
        int rc = batch_parse_header(buf + off, len - off, &h, err, sizeof err);
        if (rc != 0)
            fail_msg("%s: offset %zu: %s", path, off, err);
        assert_true(off + batch_total_len(&h) <= len);
        assert_int_equal(batch_check_body(buf + off, &h, err, sizeof err), 0);
        assert_int_equal(h.compression, BATCH_COMP_NONE);
        struct rbuf r;
        rbuf_init(&r, buf + off + h.header_len, h.stored_len);
        struct rec rec;
        uint32_t count = 0;
        while ((rc = rec_next(&r, buf, &rec, err, sizeof err)) == 1) {
            assert_true(got->n < 20000);
            got->origins[got->n] = h.origin_id;
            got->recs[got->n++] = rec;
            count++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(count, h.count);
        got->batches++;
        off += batch_total_len(&h);
    }
}

static void read_spool(const char *dir)
{
    for (size_t i = 0; i < got->nfiles; i++)
        free(got->files[i]);
    memset(got, 0, sizeof *got);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char names[64][600];
    size_t n = 0;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tts") && n < 64)
            snprintf(names[n++], sizeof names[0], "%s/%s", dir, e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    for (size_t i = 0; i < n; i++)
        read_file(names[i]);
}

static size_t count_type(uint8_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < got->n; i++)
        n += got->recs[i].type == type;
    return n;
}

static int str_is(struct rec_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static const struct rec *find_span(const char *name, struct rec_span *out)
{
    char err[200];
    for (size_t i = 0; i < got->n; i++) {
        if (got->recs[i].type != REC_SPAN)
            continue;
        assert_int_equal(rec_decode_span(&got->recs[i], out, err, sizeof err), 0);
        if (str_is(out->name, name))
            return &got->recs[i];
    }
    return NULL;
}

/* ---- fixture ------------------------------------------------------------ */

static char spool_dir[256];

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    (void)state;
    got = calloc(1, sizeof *got);
    snprintf(spool_dir, sizeof spool_dir, "/tmp/tt-test-lib-%d", (int)getpid());
    rm_dir(spool_dir);
    return got ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tt_shutdown();
    for (size_t i = 0; i < got->nfiles; i++)
        free(got->files[i]);
    free(got);
    rm_dir(spool_dir);
    return 0;
}

static void init_with(tt_config *cfg)
{
    char err[200];
    tt_config_default(cfg);
    assert_int_equal(tt_config_set(cfg, "SPOOL_DIR", spool_dir, err, sizeof err), 0);
    assert_int_equal(tt_config_set(cfg, "SERVICE", "unit", err, sizeof err), 0);
    assert_int_equal(tt_config_set(cfg, "NODE", "node-a", err, sizeof err), 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_init_twice_and_shutdown(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    assert_int_equal(tt_init(&cfg), TT_ESTATE);
    tt_shutdown();
    tt_shutdown();
    assert_int_equal(tt_flush(), TT_ESTATE);
    assert_int_equal(tt_init(&cfg), 0);
    tt_span s;
    tt_span_start(&s, "after-reinit", TT_SPAN_INTERNAL, NULL);
    tt_span_end(&s);
    tt_shutdown();
    read_spool(spool_dir);
    struct rec_span sp;
    assert_non_null(find_span("after-reinit", &sp));
}

static void test_span_round_trip(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    tt_span root, child;
    tt_span_start(&root, "GET /users", TT_SPAN_SERVER, NULL);
    tt_span_set_str(&root, "http.method", "GET");
    tt_span_set_int(&root, "http.status_code", 500);
    tt_span_set_double(&root, "load", 0.75);
    tt_span_set_bool(&root, "cached", 1);
    tt_span_start(&child, "db.query", TT_SPAN_CLIENT, &root.ctx);
    tt_kv kvs[] = { TT_STR("row", "42"), TT_INT("n", 7) };
    tt_span_add_event(&child, "retry", kvs, 2);
    tt_span_add_link(&child, &root.ctx, NULL, 0);
    tt_span_end(&child);
    tt_span_set_status(&root, TT_STATUS_ERROR, "boom");
    tt_span_end(&root);
    tt_span_end(&root); /* a second end is ignored */
    assert_int_equal(tt_flush(), 0);
    tt_stats st;
    tt_stats_get(&st);
    assert_int_equal(st.spans_recorded, 2);
    read_spool(spool_dir);
    assert_int_equal(count_type(REC_SPAN), 2);

    struct rec_span r, c;
    const struct rec *rr = find_span("GET /users", &r);
    assert_non_null(rr);
    assert_int_equal(r.kind, TT_SPAN_SERVER);
    assert_int_equal(r.status, TT_STATUS_ERROR);
    assert_true(str_is(r.status_message, "boom"));
    assert_int_equal(r.parent_id, 0);
    assert_int_equal(r.span_id, root.ctx.span_id);
    assert_memory_equal(r.trace_id, root.ctx.trace_id, 16);
    assert_int_equal(r.attrs.count, 4);
    struct rec_list it = r.attrs;
    struct rec_str k;
    struct rec_value v;
    int seen = 0;
    while (rec_kv_next(&it, &k, &v) == 1) {
        if (str_is(k, "http.method")) {
            assert_int_equal(v.type, TT_VAL_STR);
            assert_true(str_is(v.u.s, "GET"));
            seen |= 1;
        } else if (str_is(k, "http.status_code")) {
            assert_int_equal(v.u.i, 500);
            seen |= 2;
        } else if (str_is(k, "load")) {
            assert_true(v.u.d == 0.75);
            seen |= 4;
        } else if (str_is(k, "cached")) {
            assert_int_equal(v.type, TT_VAL_BOOL);
            assert_int_equal(v.u.b, 1);
            seen |= 8;
        }
    }
    assert_int_equal(seen, 15);

    const struct rec *cr = find_span("db.query", &c);
    assert_non_null(cr);
    assert_int_equal(c.parent_id, root.ctx.span_id);
    assert_memory_equal(c.trace_id, root.ctx.trace_id, 16);
    assert_int_equal(c.events.count, 1);
    assert_int_equal(c.links.count, 1);
    struct rec_list el = c.events;
    struct rec_span_event ev;
    assert_int_equal(rec_span_event_next(&el, &ev), 1);
    assert_true(str_is(ev.name, "retry"));
    assert_int_equal(ev.attrs.count, 2);
    struct rec_list ll = c.links;
    struct rec_span_link lk;
    assert_int_equal(rec_span_link_next(&ll, &lk), 1);
    assert_int_equal(lk.span_id, root.ctx.span_id);
    /* The child started after the root: HLC and physical time agree. */
    assert_true(cr->hlc > rr->hlc);
    assert_true(cr->time_ns >= rr->time_ns);
    assert_true(r.duration_ns >= c.duration_ns);
}

static void test_sampling_and_filters(void **state)
{
    (void)state;
    tt_config cfg;
    char err[200];
    init_with(&cfg);
    assert_int_equal(tt_config_set(&cfg, "SAMPLE_RATIO", "0", err, sizeof err), 0);
    assert_int_equal(tt_init(&cfg), 0);
    tt_span s, c;
    for (int i = 0; i < 100; i++) {
        tt_span_start(&s, "unsampled", TT_SPAN_INTERNAL, NULL);
        assert_int_equal(s.recording, 0);
        assert_true(s.ctx.span_id != 0);
        tt_span_end(&s);
    }
    /* Parent-based: a sampled remote parent is followed even at ratio 0. */
    tt_span_context parent;
    assert_int_equal(
        tt_extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL, &parent), 0);
    tt_span_start(&c, "follows-parent", TT_SPAN_SERVER, &parent);
    assert_int_equal(c.recording, 1);
    tt_span_end(&c);
    tt_shutdown();

    init_with(&cfg);
    assert_int_equal(tt_config_set(&cfg, "SPAN_DENY", "health*", err, sizeof err), 0);
    assert_int_equal(tt_config_set(&cfg, "MIN_SPAN_DURATION", "50ms", err, sizeof err), 0);
    assert_int_equal(tt_init(&cfg), 0);
    tt_span_start(&s, "healthz", TT_SPAN_SERVER, NULL);
    assert_int_equal(s.recording, 0);
    assert_int_equal(s.ctx.flags & TT_FLAG_SAMPLED, TT_FLAG_SAMPLED);
    tt_span_end(&s);
    tt_span_start(&s, "fast", TT_SPAN_SERVER, NULL);
    tt_span_set_str(&s, "k", "v");
    tt_span_end(&s);
    tt_span_start(&s, "slow", TT_SPAN_SERVER, NULL);
    usleep(60000);
    tt_span_end(&s);
    tt_stats st;
    tt_stats_get(&st);
    assert_int_equal(st.spans_filtered, 2);
    tt_shutdown();
    read_spool(spool_dir);
    struct rec_span r;
    assert_null(find_span("unsampled", &r));
    assert_null(find_span("healthz", &r));
    assert_null(find_span("fast", &r));
    assert_non_null(find_span("slow", &r));
    assert_non_null(find_span("follows-parent", &r));
    assert_int_equal(r.parent_id, 0x00f067aa0ba902b7ULL);
}

static void test_events_and_state_prev(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    tt_kv kvs[] = { TT_STR("from", "follower"), TT_STR("to", "leader"), TT_INT("term", 3) };
    tt_event(TT_SEV_NOTICE, "raft.role", "became leader", kvs, 3);
    tt_state_set_str("raft", "role", "follower");
    tt_state_set_int("raft", "term", 2);
    tt_state_set_str("raft", "role", "leader");
    tt_state_set_int("raft", "term", 3);
    assert_int_equal(tt_flush(), 0);
    tt_state_set_double("raft", "term", 3.5); /* next flush: prev still known */
    tt_shutdown();
    read_spool(spool_dir);
    assert_int_equal(count_type(REC_EVENT), 1);
    assert_int_equal(count_type(REC_STATE), 5);
    char err[200];
    struct rec_state sts[5];
    tt_hlc last = 0;
    size_t k = 0;
    for (size_t i = 0; i < got->n; i++) {
        if (got->recs[i].type == REC_EVENT) {
            struct rec_event ev;
            assert_int_equal(rec_decode_event(&got->recs[i], &ev, err, sizeof err), 0);
            assert_int_equal(ev.severity, TT_SEV_NOTICE);
            assert_true(str_is(ev.name, "raft.role"));
            assert_true(str_is(ev.message, "became leader"));
            assert_true(str_is(ev.component, "unit"));
            assert_int_equal(ev.attrs.count, 3);
        }
        if (got->recs[i].type != REC_STATE)
            continue;
        assert_true(got->recs[i].hlc > last);
        last = got->recs[i].hlc;
        assert_int_equal(rec_decode_state(&got->recs[i], &sts[k++], err, sizeof err), 0);
    }
    assert_int_equal(sts[0].prev.type, TT_VAL_NONE);
    assert_true(str_is(sts[0].value.u.s, "follower"));
    assert_int_equal(sts[1].prev.type, TT_VAL_NONE);
    assert_true(str_is(sts[2].prev.u.s, "follower"));
    assert_true(str_is(sts[2].value.u.s, "leader"));
    assert_int_equal(sts[3].prev.u.i, 2);
    assert_int_equal(sts[4].value.type, TT_VAL_DOUBLE);
    assert_int_equal(sts[4].prev.type, TT_VAL_INT);
    assert_int_equal(sts[4].prev.u.i, 3);
}

#define NTHREADS   4
#define PER_THREAD 2000

static void *spans_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        tt_span s;
        tt_span_start(&s, "work", TT_SPAN_INTERNAL, NULL);
        if (i % 10 == 0)
            tt_span_set_int(&s, "i", i);
        tt_span_end(&s);
        if (i % 100 == 0)
            tt_state_set_int("w", "progress", i);
    }
    return NULL; /* the thread exits before the flush: its ring is drained */
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_threads_and_exit(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, spans_thread, NULL), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tt_flush(), 0);
    tt_stats st;
    tt_stats_get(&st);
    assert_int_equal(st.records_dropped_full, 0);
    assert_int_equal(st.spans_recorded, NTHREADS * PER_THREAD);
    tt_shutdown();
    read_spool(spool_dir);
    size_t n = count_type(REC_SPAN);
    assert_int_equal(n, NTHREADS * PER_THREAD);
    uint64_t *ids = calloc(n, sizeof *ids);
    size_t k = 0, with_attr = 0;
    char err[200];
    for (size_t i = 0; i < got->n; i++) {
        if (got->recs[i].type != REC_SPAN)
            continue;
        struct rec_span s;
        assert_int_equal(rec_decode_span(&got->recs[i], &s, err, sizeof err), 0);
        ids[k++] = s.span_id;
        with_attr += s.attrs.count == 1;
    }
    assert_int_equal(with_attr, NTHREADS * PER_THREAD / 10);
    qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i] != ids[i - 1]);
    free(ids);
    /* Sequence numbers of the origin are contiguous across batches. */
    assert_true(got->batches >= 1);
}

static void test_propagation_and_hlc_merge(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    tt_span client;
    tt_headers hdr;
    tt_client_span_start(&client, "call", NULL, &hdr);
    assert_int_equal(strlen(hdr.traceparent), TT_TRACEPARENT_LEN);
    assert_non_null(strstr(hdr.tracestate, "tt="));
    tt_span server;
    tt_server_span_start(&server, "handle", hdr.traceparent, hdr.tracestate);
    assert_int_equal(server.recording, 1);
    assert_memory_equal(server.ctx.trace_id, client.ctx.trace_id, 16);
    assert_int_equal(server.parent_id, client.ctx.span_id);
    tt_span_end(&server);
    tt_span_end(&client);

    /* A sender 200 ms ahead: our later stamps are after its stamp. */
    int64_t now_ms = clock_realtime_ns() / TT_NS_PER_MS;
    tt_hlc ahead = ((tt_hlc)(now_ms + 200) << 16) | 5;
    char ts[64];
    snprintf(ts, sizeof ts, "tt=%016llx,other=x", (unsigned long long)ahead);
    tt_span_context pc;
    assert_int_equal(tt_extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ts, &pc),
                     0);
    assert_true(tt_hlc_now() > ahead);
    tt_span after;
    tt_span_start(&after, "after-merge", TT_SPAN_INTERNAL, NULL);
    assert_true(after.ctx.hlc > ahead);
    tt_span_end(&after);

    /* A sender 10 s ahead is beyond the 500 ms max offset: rejected. */
    tt_hlc far = (tt_hlc)(now_ms + 10000) << 16;
    snprintf(ts, sizeof ts, "tt=%016llx", (unsigned long long)far);
    assert_int_equal(tt_extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ts, &pc),
                     TT_ECLOCK);
    assert_true(tt_hlc_now() < far);
    tt_stats st;
    tt_stats_get(&st);
    assert_int_equal(st.hlc_rejected, 1);
    /* A malformed traceparent is an error, counted. */
    assert_int_equal(tt_extract("00-XYZ", NULL, &pc), TT_ESYNTAX);
    tt_stats_get(&st);
    assert_true(st.bad_input >= 1);
}

static void test_full_buffer_reports_loss(void **state)
{
    (void)state;
    tt_config cfg;
    char err[200];
    init_with(&cfg);
    assert_int_equal(tt_config_set(&cfg, "THREAD_BUFFER", "4KiB", err, sizeof err), 0);
    assert_int_equal(tt_config_set(&cfg, "FLUSH_INTERVAL", "10s", err, sizeof err), 0);
    assert_int_equal(tt_init(&cfg), 0);
    for (int i = 0; i < 1000; i++) {
        tt_span s;
        tt_span_start(&s, "burst", TT_SPAN_INTERNAL, NULL);
        tt_span_end(&s);
    }
    tt_stats st;
    tt_stats_get(&st);
    assert_true(st.records_dropped_full > 0);
    assert_true(st.spans_recorded > 0);
    tt_shutdown();
    read_spool(spool_dir);
    char e2[200];
    int reported = 0;
    for (size_t i = 0; i < got->n; i++) {
        struct rec_event ev;
        if (got->recs[i].type == REC_EVENT &&
            rec_decode_event(&got->recs[i], &ev, e2, sizeof e2) == 0 &&
            str_is(ev.name, "telltale.buffer.dropped"))
            reported = 1;
    }
    assert_true(reported);
}

/* ASan before LLVM 16 does not hold its allocator's lock across fork(): a
 * child forked while another thread (the flusher) is inside malloc can block
 * forever in its first allocation. The test runs in the other builds. */
#if defined(__clang__) && defined(__has_feature)
#if __has_feature(address_sanitizer) && __clang_major__ < 16
#define FORK_UNSAFE_SANITIZER 1
#endif
#endif

static void test_fork_child_is_new_origin(void **state)
{
    (void)state;
#ifdef FORK_UNSAFE_SANITIZER
    skip();
#endif
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    tt_span s;
    tt_span_start(&s, "parent-before-fork", TT_SPAN_INTERNAL, NULL);
    tt_span_end(&s); /* still buffered at fork time */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tt_span c;
        tt_span_start(&c, "in-child", TT_SPAN_INTERNAL, NULL);
        tt_span_end(&c);
        tt_shutdown();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tt_span_start(&s, "parent-after-fork", TT_SPAN_INTERNAL, NULL);
    tt_span_end(&s);
    tt_shutdown();
    read_spool(spool_dir);
    assert_int_equal(count_type(REC_SPAN), 3); /* nothing written twice */
    struct rec_span r;
    uint64_t o_child = 0, o_parent = 0;
    for (size_t i = 0; i < got->n; i++) {
        char err[200];
        if (got->recs[i].type != REC_SPAN)
            continue;
        assert_int_equal(rec_decode_span(&got->recs[i], &r, err, sizeof err), 0);
        if (str_is(r.name, "in-child"))
            o_child = got->origins[i];
        else
            o_parent = got->origins[i];
    }
    assert_true(o_child != 0 && o_parent != 0 && o_child != o_parent);
}

/* A span started and given attributes on one thread, handed over, given more
 * attributes and ended on another: one record with all of them, and a child
 * started on the second thread is stamped after its parent. */
static tt_span handed;

static void *finish_span(void *arg)
{
    (void)arg;
    tt_span_set_str(&handed, "on", "second-thread");
    tt_span child;
    tt_span_start(&child, "child-on-second", TT_SPAN_INTERNAL, &handed.ctx);
    tt_span_end(&child);
    tt_span_end(&handed);
    return NULL;
}

static void test_span_across_threads(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    tt_span_start(&handed, "handed-over", TT_SPAN_SERVER, NULL);
    for (int i = 0; i < 5; i++)
        tt_span_set_int(&handed, "first", i);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, finish_span, NULL), 0);
    pthread_join(th, NULL);
    tt_shutdown();
    read_spool(spool_dir);
    struct rec_span r, c;
    const struct rec *rr = find_span("handed-over", &r);
    assert_non_null(rr);
    assert_int_equal(r.attrs.count, 6);
    const struct rec *cr = find_span("child-on-second", &c);
    assert_non_null(cr);
    assert_int_equal(c.parent_id, r.span_id);
    assert_true(cr->hlc > rr->hlc);
}

/* More metric records in one flush than fit one batch: every batch's count
 * matches its records (read_file checks), and none is lost. */
static void test_many_metrics_span_batches(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    char val[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(val, sizeof val, "endpoint-%04d", i);
        const char *labels[] = { "endpoint", val, "method", "GET", NULL };
        tt_counter_add(tt_counter_new("requests_total", "requests", labels), i);
    }
    assert_int_equal(tt_flush(), 0);
    tt_shutdown();
    read_spool(spool_dir);
    assert_true(got->batches > 1);
    assert_int_equal(count_type(REC_METRIC), 3000 * 2); /* the flush, then shutdown */
}

/* A span whose attributes outgrow a record's list limit keeps the ones that
 * fit, and the record still decodes. */
static void test_span_attrs_over_limit(void **state)
{
    (void)state;
    tt_config cfg;
    char err[200];
    init_with(&cfg);
    assert_int_equal(tt_config_set(&cfg, "THREAD_BUFFER", "64MiB", err, sizeof err), 0);
    assert_int_equal(tt_init(&cfg), 0);
    size_t big = 900 * 1024;
    char *v = malloc(big + 1);
    assert_non_null(v);
    memset(v, 'x', big);
    v[big] = 0;
    tt_span s;
    tt_span_start(&s, "huge-attrs", TT_SPAN_INTERNAL, NULL);
    for (int i = 0; i < 10; i++)
        tt_span_set_str(&s, "blob", v);
    tt_span_end(&s);
    free(v);
    tt_shutdown();
    read_spool(spool_dir);
    struct rec_span r;
    assert_non_null(find_span("huge-attrs", &r));
    assert_in_range(r.attrs.count, 1, 9);
    struct rec_list it = r.attrs;
    struct rec_str k;
    struct rec_value val;
    uint32_t n = 0;
    while (rec_kv_next(&it, &k, &val) == 1) {
        assert_int_equal(val.u.s.len, big);
        n++;
    }
    assert_int_equal(n, r.attrs.count);
}

/* Long string values, more changes than the flusher's per-variable history:
 * every previous value is the whole previous string. */
static void test_state_prev_long_strings(void **state)
{
    (void)state;
    tt_config cfg;
    init_with(&cfg);
    assert_int_equal(tt_init(&cfg), 0);
    char vals[8][400];
    for (int i = 0; i < 8; i++) {
        memset(vals[i], 'a' + i, sizeof vals[i] - 1);
        vals[i][sizeof vals[i] - 1] = 0;
        tt_state_set_str("cfg", "blob", vals[i]);
        if (i == 5)
            assert_int_equal(tt_flush(), 0);
    }
    tt_shutdown();
    read_spool(spool_dir);
    char err[200];
    int k = 0;
    for (size_t i = 0; i < got->n; i++) {
        struct rec_state st;
        if (got->recs[i].type != REC_STATE)
            continue;
        assert_int_equal(rec_decode_state(&got->recs[i], &st, err, sizeof err), 0);
        assert_true(str_is(st.value.u.s, vals[k]));
        if (k == 0)
            assert_int_equal(st.prev.type, TT_VAL_NONE);
        else
            assert_true(str_is(st.prev.u.s, vals[k - 1]));
        k++;
    }
    assert_int_equal(k, 8);
}

static void test_rate_limit_and_env_config(void **state)
{
    (void)state;
    /* tt_init(NULL) reads TELLTALE_* from the environment. */
    setenv("TELLTALE_SPOOL_DIR", spool_dir, 1);
    setenv("TELLTALE_SERVICE", "from-env", 1);
    setenv("TELLTALE_SAMPLE_RATE_LIMIT", "100", 1);
    int rc = tt_init(NULL);
    unsetenv("TELLTALE_SPOOL_DIR");
    unsetenv("TELLTALE_SERVICE");
    unsetenv("TELLTALE_SAMPLE_RATE_LIMIT");
    assert_int_equal(rc, 0);
    int sampled = 0;
    for (int i = 0; i < 5000; i++) {
        tt_span s;
        tt_span_start(&s, "root", TT_SPAN_SERVER, NULL);
        sampled += s.recording;
        tt_span_end(&s);
    }
    /* A burst of one second's worth, plus what the elapsed time allows. */
    assert_in_range(sampled, 90, 130);
    tt_event(TT_SEV_INFO, "who", NULL, NULL, 0);
    tt_shutdown();
    read_spool(spool_dir);
    char err[200];
    for (size_t i = 0; i < got->n; i++) {
        struct rec_event ev;
        if (got->recs[i].type == REC_EVENT &&
            rec_decode_event(&got->recs[i], &ev, err, sizeof err) == 0 && str_is(ev.name, "who"))
            assert_true(str_is(ev.component, "from-env"));
    }
    assert_int_equal(count_type(REC_SPAN), (size_t)sampled);

    /* A bad variable is an error naming it, and nothing starts. */
    setenv("TELLTALE_SAMPLE_RATIO", "1.5", 1);
    rc = tt_init(NULL);
    unsetenv("TELLTALE_SAMPLE_RATIO");
    assert_int_not_equal(rc, 0);
    assert_int_equal(tt_flush(), TT_ESTATE);
}

static void test_not_initialised_is_harmless(void **state)
{
    (void)state;
    tt_span s;
    tt_span_start(&s, "nothing", TT_SPAN_INTERNAL, NULL);
    assert_int_equal(s.recording, 0);
    tt_span_set_str(&s, "k", "v");
    tt_span_end(&s);
    tt_event(TT_SEV_INFO, "e", NULL, NULL, 0);
    tt_state_set_int("l", "v", 1);
    assert_int_equal(tt_hlc_now(), 0);
    tt_stats st;
    tt_stats_get(&st);
    assert_int_equal(st.spans_recorded, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
UNIT_TESTS(T(test_init_twice_and_shutdown), T(test_span_round_trip), T(test_sampling_and_filters),
           T(test_events_and_state_prev), T(test_threads_and_exit),
           T(test_propagation_and_hlc_merge), T(test_full_buffer_reports_loss),
           T(test_fork_child_is_new_origin), T(test_span_across_threads),
           T(test_many_metrics_span_batches), T(test_span_attrs_over_limit),
           T(test_state_prev_long_strings), T(test_rate_limit_and_env_config),
           T(test_not_initialised_is_harmless))
