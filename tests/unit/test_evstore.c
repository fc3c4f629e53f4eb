/*
 * test_evstore.c - the events store (src/store/events/): events indexed from
 * batches are found by every filter, newest first, page by page with a
 * stable token; a batch seen twice is indexed once, also across a reopen;
 * what was not committed is cut at reopen; a damaged block is reported by
 * segment name and skipped; retention drops whole old segments.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/record.h"
#include "store/events/evstore.h"

/* A batch from origin "node\0proc" with n events; event i has time
 * t0 + i seconds, severity 1 + i % 6, component "comp<i%3>", name
 * "ev<i%2>", message "hello world <i>" and attrs k=<i%4>, on=true. */
static void make_batch(struct wbuf *out, const char *node, uint64_t origin, uint64_t seq,
                       uint32_t n, int64_t t0)
{
    struct wbuf raw, kv;
    char origin_s[64], comp[16], name[16], msg[64];
    wbuf_init(&raw, 0);
    wbuf_init(&kv, 0);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(comp, sizeof comp, "comp%u", i % 3);
        snprintf(name, sizeof name, "ev%u", i % 2);
        snprintf(msg, sizeof msg, "Hello world %u", i);
        wbuf_reset(&kv);
        struct rec_value v = { .type = TT_VAL_INT, .u.i = i % 4 };
        rec_kv_put(&kv, "k", 1, &v);
        struct rec_value b = { .type = TT_VAL_BOOL, .u.b = 1 };
        rec_kv_put(&kv, "on", 2, &b);
        struct rec_event e = { .severity = (uint8_t)(1 + i % 6),
                               .component = { comp, (uint32_t)strlen(comp) },
                               .name = { name, (uint32_t)strlen(name) },
                               .message = { msg, (uint32_t)strlen(msg) },
                               .attrs = { 2, kv.data, (uint32_t)kv.len, 0 } };
        assert_int_equal(rec_put_event(&raw, (tt_hlc)(1000 + i), t0 + (int64_t)i * 1000000000, &e),
                         0);
    }
    int ol = snprintf(origin_s, sizeof origin_s, "%s%cproc/1", node, 0);
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = n;
    h.origin_id = origin;
    h.first_seq = seq;
    h.origin = origin_s;
    h.origin_len = (uint16_t)ol;
    h.hlc_min = 1000;
    h.hlc_max = 1000 + n;
    wbuf_reset(out);
    assert_int_equal(batch_encode(out, &h, raw.data, raw.len), 0);
    wbuf_release(&raw);
    wbuf_release(&kv);
}

static int add(struct evstore *st, const char *node, uint64_t origin, uint64_t seq, uint32_t n,
               int64_t t0)
{
    struct wbuf b;
    struct batch_hdr h;
    char err[256];
    wbuf_init(&b, 0);
    make_batch(&b, node, origin, seq, n, t0);
    assert_int_equal(batch_parse_header(b.data, b.len, &h, err, sizeof err), 0);
    int r = evstore_add_batch(st, &h, b.data + h.header_len, h.stored_len, err, sizeof err);
    wbuf_release(&b);
    return r;
}

struct probs {
    int n;
    char file[32];
};

static void on_problem(void *arg, const char *file, uint64_t off, const char *msg)
{
    struct probs *p = arg;
    (void)off;
    (void)msg;
    p->n++;
    snprintf(p->file, sizeof p->file, "%s", file);
}

static struct evstore *open_store(const char *dir, uint32_t block_events, struct probs *p)
{
    struct evstore_config c = { .dir = dir, .block_events = block_events };
    struct evstore *st = NULL;
    char err[256];
    c.problem = on_problem;
    c.problem_arg = p;
    assert_int_equal(evstore_open(&st, &c, err, sizeof err), 0);
    return st;
}

static size_t count(struct evstore *st, struct evstore_query *q)
{
    struct evstore_result r;
    char err[256];
    assert_int_equal(evstore_search(st, q, &r, err, sizeof err), 0);
    size_t n = r.n;
    for (size_t i = 1; i < r.n; i++)
        assert_true(r.hits[i - 1].ev.time_ns >= r.hits[i].ev.time_ns);
    evstore_result_release(&r);
    return n;
}

static void test_filters(void **state)
{
    (void)state;
    char dir[64], err[256];
    struct probs p = { 0 };
    assert_int_equal(tmpdir_make(dir, sizeof dir, "evstore"), 0);
    struct evstore *st = open_store(dir, 16, &p);
    assert_int_equal(add(st, "alpha", 1, 0, 60, 1000000000000), 60);
    assert_int_equal(add(st, "beta", 2, 0, 60, 1000000000000), 60);
    /* Not searchable before the commit. */
    struct evstore_query q;
    evstore_query_init(&q);
    q.limit = 1000;
    assert_int_equal(count(st, &q), 0);
    assert_int_equal(evstore_commit(st, 1, 100, err, sizeof err), 0);
    assert_int_equal(count(st, &q), 120);
    q.node = "alpha";
    assert_int_equal(count(st, &q), 60);
    q.node = "gamma";
    assert_int_equal(count(st, &q), 0);
    evstore_query_init(&q);
    q.limit = 1000;
    q.component = "comp1";
    assert_int_equal(count(st, &q), 40);
    q.name = "ev0";
    assert_int_equal(count(st, &q), 20); /* i%3==1 and i%2==0: i%6==4 */
    evstore_query_init(&q);
    q.limit = 1000;
    q.min_severity = TT_SEV_ERROR; /* severities 5 and 6 */
    assert_int_equal(count(st, &q), 40);
    evstore_query_init(&q);
    q.limit = 1000;
    q.kv[0] = (struct evstore_kv){ "k", "3" };
    q.kv[1] = (struct evstore_kv){ "on", "true" };
    q.nkv = 2;
    assert_int_equal(count(st, &q), 30);
    q.kv[1].value = "false";
    assert_int_equal(count(st, &q), 0);
    evstore_query_init(&q);
    q.limit = 1000;
    q.text = "WORLD 7";
    assert_int_equal(count(st, &q), 2);
    q.text = "nothere";
    assert_int_equal(count(st, &q), 0);
    evstore_query_init(&q);
    q.limit = 1000;
    q.start_ns = 1000000000000 + 10 * 1000000000ll;
    q.end_ns = 1000000000000 + 19 * 1000000000ll;
    assert_int_equal(count(st, &q), 20);
    q.limit = 0;
    struct evstore_result r;
    assert_int_equal(evstore_search(st, &q, &r, err, sizeof err), TT_EINVAL);
    evstore_result_release(&r);
    struct evstore_stats s;
    evstore_get_stats(st, &s);
    assert_int_equal(s.events, 120);
    assert_true(s.blocks >= 8);
    evstore_close(st);
    assert_int_equal(p.n, 0);
    rm_rf(dir);
}

static void test_pages(void **state)
{
    (void)state;
    char dir[64], err[256];
    struct probs p = { 0 };
    assert_int_equal(tmpdir_make(dir, sizeof dir, "evstore"), 0);
    struct evstore *st = open_store(dir, 7, &p);
    /* Two nodes with interleaved times, so blocks overlap in time. */
    assert_int_equal(add(st, "a", 1, 0, 50, 0), 50);
    assert_int_equal(add(st, "b", 2, 0, 50, 500000000), 50);
    assert_int_equal(add(st, "c", 3, 0, 10, 0), 10); /* same times as a */
    assert_int_equal(evstore_commit(st, 1, 1, err, sizeof err), 0);
    struct evstore_query q;
    evstore_query_init(&q);
    q.limit = 9;
    uint64_t seen = 0, pages = 0;
    int64_t last_t = INT64_MAX;
    uint64_t last_id = UINT64_MAX;
    for (;;) {
        struct evstore_result r;
        assert_int_equal(evstore_search(st, &q, &r, err, sizeof err), 0);
        for (size_t i = 0; i < r.n; i++) {
            const struct evseg_event *e = &r.hits[i].ev;
            assert_true(e->time_ns < last_t || (e->time_ns == last_t && e->id < last_id));
            last_t = e->time_ns;
            last_id = e->id;
        }
        seen += r.n;
        pages++;
        int more = r.more;
        if (more) {
            assert_int_equal(r.n, 9);
            q.has_after = 1;
            q.after_time_ns = last_t;
            q.after_id = last_id;
        }
        evstore_result_release(&r);
        if (!more)
            break;
    }
    assert_int_equal(seen, 110);
    assert_int_equal(pages, 13);
    evstore_close(st);
    rm_rf(dir);
}

static void test_dedup_reopen_cut(void **state)
{
    (void)state;
    char dir[64], err[256];
    struct probs p = { 0 };
    assert_int_equal(tmpdir_make(dir, sizeof dir, "evstore"), 0);
    struct evstore *st = open_store(dir, 16, &p);
    assert_int_equal(add(st, "a", 7, 100, 20, 0), 20);
    assert_int_equal(add(st, "a", 7, 100, 20, 0), 0); /* the same batch again */
    assert_int_equal(evstore_commit(st, 3, 4096, err, sizeof err), 0);
    /* Added but never committed: lost on reopen (indexed again from the log). */
    assert_int_equal(add(st, "a", 7, 120, 20, 0), 20);
    assert_int_equal(evstore_commit(st, 3, 8192, err, sizeof err), 0);
    assert_int_equal(add(st, "a", 7, 140, 40, 0), 40);
    evstore_close(st);
    st = open_store(dir, 16, &p);
    uint32_t seg;
    uint64_t off;
    evstore_cursor(st, &seg, &off);
    assert_int_equal(seg, 3);
    assert_int_equal(off, 8192);
    struct evstore_stats s;
    evstore_get_stats(st, &s);
    assert_int_equal(s.events, 40);
    /* Both committed batches are known after the reopen, the lost one not. */
    assert_int_equal(add(st, "a", 7, 100, 20, 0), 0);
    assert_int_equal(add(st, "a", 7, 120, 20, 0), 0);
    assert_int_equal(add(st, "a", 7, 140, 40, 0), 40);
    assert_int_equal(evstore_commit(st, 3, 9000, err, sizeof err), 0);
    evstore_get_stats(st, &s);
    assert_int_equal(s.events, 80);
    /* Ids go on after the reopen: no two events share one. */
    struct evstore_query q;
    evstore_query_init(&q);
    q.limit = 100;
    struct evstore_result r;
    assert_int_equal(evstore_search(st, &q, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 80);
    for (size_t i = 0; i < r.n; i++)
        for (size_t j = i + 1; j < r.n; j++)
            assert_true(r.hits[i].ev.id != r.hits[j].ev.id);
    evstore_result_release(&r);
    evstore_close(st);
    assert_int_equal(p.n, 0);
    rm_rf(dir);
}

static void test_damage_skipped(void **state)
{
    (void)state;
    char dir[64], err[256], path[128];
    struct probs p = { 0 };
    assert_int_equal(tmpdir_make(dir, sizeof dir, "evstore"), 0);
    struct evstore *st = open_store(dir, 10, &p);
    assert_int_equal(add(st, "a", 1, 0, 30, 0), 30); /* three blocks */
    assert_int_equal(evstore_commit(st, 1, 1, err, sizeof err), 0);
    evstore_close(st);
    /* Flip a byte in the second block's body: its CRC fails. */
    snprintf(path, sizeof path, "%s/00000001.evs", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    static uint8_t seg[1 << 16];
    ssize_t len = pread(fd, seg, sizeof seg, 0);
    assert_true(len > 0);
    struct evseg_hdr h;
    assert_int_equal(evseg_parse_header(seg, (size_t)len, &h, err, sizeof err), 0);
    off_t second = (off_t)evseg_total_len(&h);
    assert_int_equal(evseg_parse_header(seg + second, (size_t)(len - second), &h, err, sizeof err),
                     0);
    off_t at = second + (off_t)h.header_len + 3;
    uint8_t c = seg[at] ^ 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
    st = open_store(dir, 10, &p);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.file, "00000001.evs");
    struct evstore_stats s;
    evstore_get_stats(st, &s);
    assert_int_equal(s.events, 20);
    struct evstore_query q;
    evstore_query_init(&q);
    assert_int_equal(count(st, &q), 20);
    evstore_close(st);
    rm_rf(dir);
}

static void test_retention(void **state)
{
    (void)state;
    char dir[64], err[256];
    struct probs p = { 0 };
    assert_int_equal(tmpdir_make(dir, sizeof dir, "evstore"), 0);
    struct evstore_config c = { .dir = dir, .block_events = 10, .segment_bytes = 2000 };
    c.retention_ns = 3600ll * 1000000000;
    c.problem = on_problem;
    c.problem_arg = &p;
    struct evstore *st = NULL;
    assert_int_equal(evstore_open(&st, &c, err, sizeof err), 0);
    int64_t now = 100000ll * 1000000000;
    for (int i = 0; i < 20; i++) {
        /* Old batches first, then recent ones. */
        int64_t t0 = i < 10 ? now - 7200ll * 1000000000 : now - 60ll * 1000000000;
        assert_int_equal(add(st, "a", 1, (uint64_t)i * 10, 10, t0), 10);
        assert_int_equal(evstore_commit(st, 1, (uint64_t)i, err, sizeof err), 0);
    }
    struct evstore_stats s;
    evstore_get_stats(st, &s);
    assert_true(s.segments > 2);
    assert_int_equal(s.events, 200);
    assert_true(evstore_retention(st, now) > 0);
    evstore_get_stats(st, &s);
    assert_true(s.events >= 100 && s.events < 200);
    struct evstore_query q;
    evstore_query_init(&q);
    q.limit = 1000;
    q.end_ns = now - 3600ll * 1000000000;
    assert_true(count(st, &q) < 100);
    evstore_close(st);
    /* Size: keep at most ~3 segments' worth. */
    c.retention_ns = 0;
    c.retention_bytes = 5000;
    assert_int_equal(evstore_open(&st, &c, err, sizeof err), 0);
    evstore_retention(st, now);
    evstore_get_stats(st, &s);
    assert_true(s.bytes <= 5000 || s.segments == 1);
    assert_true(s.events > 0);
    evstore_close(st);
    assert_int_equal(p.n, 0);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_filters), cmocka_unit_test(test_pages),
           cmocka_unit_test(test_dedup_reopen_cut), cmocka_unit_test(test_damage_skipped),
           cmocka_unit_test(test_retention))
