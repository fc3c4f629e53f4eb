/*
 * test_ev_indexer.c - the thread that tails the record log into the events
 * store (src/server/ev_indexer.c): batches appended to a real record log
 * are indexed once each (a batch appended twice too), batches without
 * events are passed over, and after a stop and a reopen of the store the
 * indexer goes on from the persisted cursor without indexing anything
 * twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/record.h"
#include "server/ev_indexer.h"
#include "server/reclog.h"
#include "store/events/evstore.h"

/* A batch of n events (n = 0: one span instead) from origin "n1\0svc". */
static void append(struct reclog *rl, uint64_t origin, uint64_t seq, uint32_t n)
{
    struct wbuf raw, out;
    char err[256];
    wbuf_init(&raw, 0);
    wbuf_init(&out, 0);
    for (uint32_t i = 0; i < n; i++) {
        struct rec_event e = { .severity = TT_SEV_WARNING,
                               .component = { "disk", 4 },
                               .name = { "full", 4 },
                               .message = { "disk almost full", 16 } };
        assert_int_equal(rec_put_event(&raw, 1, (int64_t)(seq + i) * 1000, &e), 0);
    }
    if (n == 0) {
        struct rec_span s;
        memset(&s, 0, sizeof s);
        s.trace_id[0] = 1;
        s.span_id = 2;
        s.name = (struct rec_str){ "op", 2 };
        assert_int_equal(rec_put_span(&raw, 1, 5, &s), 0);
    }
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = n ? n : 1;
    h.origin_id = origin;
    h.first_seq = seq;
    h.origin = "n1\0svc";
    h.origin_len = 6;
    h.hlc_min = h.hlc_max = 1;
    assert_int_equal(batch_encode(&out, &h, raw.data, raw.len), 0);
    struct reclog_pos pos;
    assert_int_equal(reclog_append(rl, out.data, out.len, &pos, err, sizeof err), 0);
    assert_int_equal(reclog_sync(rl, pos.ticket, err, sizeof err), 0);
    wbuf_release(&raw);
    wbuf_release(&out);
}

static uint64_t stored_events(struct evstore *st)
{
    struct evstore_stats s;
    evstore_get_stats(st, &s);
    return s.events;
}

static void test_tail_dedup_restart(void **state)
{
    (void)state;
    char dir[64], rdir[128], edir[128], err[256];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "evidx"), 0);
    snprintf(rdir, sizeof rdir, "%s/records", dir);
    snprintf(edir, sizeof edir, "%s/events", dir);
    struct reclog *rl = NULL;
    assert_int_equal(reclog_open(&rl, rdir, 4096, NULL, NULL, err, sizeof err), 0);
    struct evstore_config c = { .dir = edir };
    struct evstore *st = NULL;
    assert_int_equal(evstore_open(&st, &c, err, sizeof err), 0);
    struct ev_indexer *ix = NULL;
    struct ev_indexer_config ic = { .rl = rl, .st = st, .poll_ms = 20 };
    assert_int_equal(ev_indexer_start(&ix, &ic), 0);
    for (uint64_t i = 0; i < 30; i++)
        append(rl, 9, i * 10, 10);
    append(rl, 9, 50, 10);  /* again */
    append(rl, 9, 1000, 0); /* no events */
    assert_int_equal(ev_indexer_wait(ix, 5000), 0);
    assert_int_equal(stored_events(st), 300);
    struct ev_indexer_stats is;
    ev_indexer_get_stats(ix, &is);
    assert_int_equal(is.batches, 32);
    assert_int_equal(is.events, 300);
    assert_int_equal(is.bad, 0);
    ev_indexer_stop(ix);
    evstore_close(st);
    /* More while the indexer is down; a restart picks up from STATE. */
    for (uint64_t i = 30; i < 40; i++)
        append(rl, 9, i * 10, 10);
    append(rl, 9, 0, 10); /* an old batch again */
    assert_int_equal(evstore_open(&st, &c, err, sizeof err), 0);
    assert_int_equal(stored_events(st), 300);
    ic.st = st;
    assert_int_equal(ev_indexer_start(&ix, &ic), 0);
    assert_int_equal(ev_indexer_wait(ix, 5000), 0);
    assert_int_equal(stored_events(st), 400);
    struct evstore_query q;
    evstore_query_init(&q);
    q.text = "FULL";
    q.node = "n1";
    q.limit = 3;
    struct evstore_result r;
    assert_int_equal(evstore_search(st, &q, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 3);
    assert_true(r.more);
    assert_int_equal(r.hits[0].ev.time_ns, 399 * 1000);
    assert_int_equal(r.hits[0].ev.process.len, 3);
    assert_memory_equal(r.hits[0].ev.process.p, "svc", 3);
    evstore_result_release(&r);
    ev_indexer_stop(ix);
    evstore_close(st);
    assert_int_equal(reclog_close(rl), 0);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_tail_dedup_restart))
