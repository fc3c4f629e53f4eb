/*
 * test_statelog.c - the state log (src/store/statelog/): a batch's state
 * changes are kept (its events are not: they belong to the events store),
 * with node and process from the origin, value and previous value with
 * their types; changes are found by log, variable, time and HLC range,
 * newest first, and survive a reopen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/record.h"
#include "store/statelog/statelog.h"

/* Ten changes of raft/term (ints, prev = previous) and one of raft/role
 * (a string, first change), plus an event, in one batch. */
static void add(struct evstore *st)
{
    struct wbuf raw, b;
    char err[256];
    wbuf_init(&raw, 0);
    wbuf_init(&b, 0);
    for (int i = 0; i < 10; i++) {
        struct rec_state s = { .log = { "raft", 4 },
                               .var = { "term", 4 },
                               .value = { .type = TT_VAL_INT, .u.i = i + 1 },
                               .prev = { .type = i ? TT_VAL_INT : TT_VAL_NONE, .u.i = i } };
        assert_int_equal(rec_put_state(&raw, (tt_hlc)(100 + i), 1000 + i, &s), 0);
    }
    struct rec_state r = { .log = { "raft", 4 },
                           .var = { "role", 4 },
                           .value = { .type = TT_VAL_STR, .u.s = { "leader", 6 } } };
    assert_int_equal(rec_put_state(&raw, 200, 2000, &r), 0);
    struct rec_event e = { .severity = 2, .name = { "ev", 2 } };
    assert_int_equal(rec_put_event(&raw, 300, 3000, &e), 0);
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = 12;
    h.origin_id = 5;
    h.first_seq = 0;
    h.origin = "n9\0db/7";
    h.origin_len = 7;
    h.hlc_min = 100;
    h.hlc_max = 300;
    assert_int_equal(batch_encode(&b, &h, raw.data, raw.len), 0);
    struct batch_hdr ph;
    assert_int_equal(batch_parse_header(b.data, b.len, &ph, err, sizeof err), 0);
    assert_int_equal(
        evstore_add_batch(st, &ph, b.data + ph.header_len, ph.stored_len, err, sizeof err), 11);
    assert_int_equal(evstore_commit(st, 1, 1, err, sizeof err), 0);
    wbuf_release(&raw);
    wbuf_release(&b);
}

static void test_changes(void **state)
{
    (void)state;
    char dir[64], err[256];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "statelog"), 0);
    struct evstore_config c = { .dir = dir };
    struct evstore *st = NULL;
    assert_int_equal(statelog_open(&st, &c, err, sizeof err), 0);
    add(st);
    evstore_close(st);
    assert_int_equal(statelog_open(&st, &c, err, sizeof err), 0);
    struct evstore_query q;
    struct evstore_result r;
    struct statelog_change ch;
    statelog_query_init(&q, "n9", "raft", "term");
    assert_int_equal(evstore_search(st, &q, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 10);
    assert_int_equal(statelog_change_of(&r.hits[0].ev, &ch), 0);
    assert_int_equal(ch.value.u.i, 10);
    assert_int_equal(ch.prev.type, TT_VAL_INT);
    assert_int_equal(ch.prev.u.i, 9);
    assert_int_equal(ch.hlc, 109);
    assert_memory_equal(ch.process.p, "db/7", 4);
    assert_int_equal(statelog_change_of(&r.hits[9].ev, &ch), 0);
    assert_int_equal(ch.prev.type, TT_VAL_NONE);
    evstore_result_release(&r);
    /* An HLC range, then a time range. */
    q.hlc_min = 103;
    q.hlc_max = 105;
    assert_int_equal(evstore_search(st, &q, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.hits[2].ev.hlc, 103);
    evstore_result_release(&r);
    statelog_query_init(&q, NULL, "raft", NULL);
    q.start_ns = 1009;
    assert_int_equal(evstore_search(st, &q, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 2); /* term 10 and role; never the event */
    assert_int_equal(statelog_change_of(&r.hits[0].ev, &ch), 0);
    assert_memory_equal(ch.var.p, "role", 4);
    assert_int_equal(ch.value.type, TT_VAL_STR);
    assert_memory_equal(ch.value.u.s.p, "leader", 6);
    evstore_result_release(&r);
    evstore_close(st);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_changes))
