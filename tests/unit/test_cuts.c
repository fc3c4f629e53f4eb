/*
 * test_cuts.c - consistent cuts (src/query/causal/cuts.c): the cut at t
 * holds the latest change with hlc <= t per (node, log, var), at the exact
 * boundary and around it, with ties between nodes and within a key, deleted
 * and unknown variables and prev values; the walker's order, its "touched"
 * entry and last_of_hlc; the same over a real state log; HLC parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/hlc.h"
#include "core/record.h"
#include "query/causal/cuts.h"

static struct rec_str S(const char *s) {
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

static struct statelog_change
chi(uint64_t id, uint64_t hlc, const char *node, const char *log, const char *var, int64_t v,
    int has_prev, int64_t prev)
{
    struct statelog_change c;
    memset(&c, 0, sizeof c);
    c.id = id;
    c.hlc = hlc;
    c.time_ns = (int64_t)hlc * 1000;
    c.node = S(node);
    c.process = S("p");
    c.log = S(log);
    c.var = S(var);
    c.value.type = TT_VAL_INT;
    c.value.u.i = v;
    c.prev.type = has_prev ? TT_VAL_INT : TT_VAL_NONE;
    c.prev.u.i = prev;
    return c;
}

/* cut_at: the cut at t of ch[0..n) applied in the given (any) order, only
 * changes with hlc <= t. */
static struct cut *cut_at(const struct statelog_change *ch, size_t n, uint64_t t)
{
    struct cut *c = NULL;
    assert_int_equal(cut_new(&c), 0);
    for (size_t i = 0; i < n; i++)
        if (ch[i].hlc <= t)
            assert_true(cut_apply(c, &ch[i], NULL) >= 0);
    return c;
}

static int64_t val(const struct cut *c, const char *node, const char *var)
{
    const struct cut_entry *e = cut_lookup(c, node, "raft", var);
    return e ? e->value.u.i : -1;
}

static void test_boundaries(void **state)
{
    (void)state;
    /* n1 changes term at 10, 20, 30; n2 at 20 (same HLC as n1's), 25. */
    struct statelog_change ch[] = {
        chi(1, 10, "n1", "raft", "term", 1, 0, 0), chi(2, 20, "n1", "raft", "term", 2, 1, 1),
        chi(3, 30, "n1", "raft", "term", 3, 1, 2), chi(4, 20, "n2", "raft", "term", 7, 0, 0),
        chi(5, 25, "n2", "raft", "term", 8, 1, 7),
    };
    size_t n = sizeof ch / sizeof ch[0];
    struct {
        uint64_t t;
        int64_t n1, n2;
    } want[] = { { 9, -1, -1 }, { 10, 1, -1 }, { 19, 1, -1 }, { 20, 2, 7 },        { 21, 2, 7 },
                 { 25, 2, 8 },  { 29, 2, 8 },  { 30, 3, 8 },  { UINT64_MAX, 3, 8 } };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct cut *c = cut_at(ch, n, want[i].t);
        if (val(c, "n1", "term") != want[i].n1 || val(c, "n2", "term") != want[i].n2)
            fail_msg("cut at %llu: n1 %lld (want %lld), n2 %lld (want %lld)",
                     (unsigned long long)want[i].t, (long long)val(c, "n1", "term"),
                     (long long)want[i].n1, (long long)val(c, "n2", "term"), (long long)want[i].n2);
        cut_free(c);
    }
    /* Order of application does not matter: reversed gives the same cut. */
    struct statelog_change rev[5];
    for (size_t i = 0; i < n; i++)
        rev[i] = ch[n - 1 - i];
    struct cut *c = cut_at(rev, n, 26);
    assert_int_equal(val(c, "n1", "term"), 2);
    assert_int_equal(val(c, "n2", "term"), 8);
    const struct cut_entry *e = cut_lookup(c, "n2", "raft", "term");
    assert_non_null(e);
    assert_int_equal(e->prev.type, TT_VAL_INT);
    assert_int_equal(e->prev.u.i, 7);
    assert_int_equal(e->hlc, 25);
    assert_string_equal(e->process, "p");
    e = cut_lookup(c, "n1", "raft", "term");
    assert_int_equal(e->prev.u.i, 1);
    assert_int_equal(cut_count(c), 2);
    assert_int_equal(cut_hlc(c), 25);
    /* Unknown node, log, variable. */
    assert_null(cut_lookup(c, "n3", "raft", "term"));
    assert_null(cut_lookup(c, "n1", "raft", "role"));
    assert_null(cut_lookup(c, "n1", "other", "term"));
    size_t k = 9;
    assert_null(cut_var_nodes(c, "raft", "role", &k));
    assert_int_equal(k, 0);
    cut_free(c);
}

static void test_ties_and_delete(void **state)
{
    (void)state;
    struct cut *c = NULL;
    const struct cut_entry *e = NULL;
    assert_int_equal(cut_new(&c), 0);
    /* Same key, same HLC: the higher id wins whichever comes first. */
    struct statelog_change a = chi(8, 50, "n1", "raft", "term", 1, 0, 0);
    struct statelog_change b = chi(9, 50, "n1", "raft", "term", 2, 1, 1);
    assert_int_equal(cut_apply(c, &b, &e), 1);
    assert_int_equal(cut_apply(c, &a, &e), 0);
    assert_int_equal(e->value.u.i, 2);
    /* An older change is not applied. */
    struct statelog_change old = chi(3, 40, "n1", "raft", "term", 9, 0, 0);
    assert_int_equal(cut_apply(c, &old, &e), 0);
    assert_int_equal(val(c, "n1", "term"), 2);
    /* A string value is copied: the source can go away. */
    char buf[16];
    snprintf(buf, sizeof buf, "leader");
    struct statelog_change r = chi(10, 51, "n1", "raft", "role", 0, 0, 0);
    r.value.type = TT_VAL_STR;
    r.value.u.s = S(buf);
    assert_int_equal(cut_apply(c, &r, &e), 1);
    memset(buf, 'x', 6);
    e = cut_lookup(c, "n1", "raft", "role");
    assert_non_null(e);
    assert_int_equal(e->value.u.s.len, 6);
    assert_memory_equal(e->value.u.s.p, "leader", 6);
    assert_int_equal(cut_count(c), 2);
    /* A change to no value deletes the variable. */
    struct statelog_change d = chi(11, 52, "n1", "raft", "role", 0, 0, 0);
    d.value.type = TT_VAL_NONE;
    d.prev.type = TT_VAL_STR;
    d.prev.u.s = S("leader");
    assert_int_equal(cut_apply(c, &d, &e), 1);
    assert_null(cut_lookup(c, "n1", "raft", "role"));
    assert_int_equal(cut_count(c), 1);
    size_t it = 0, seen = 0;
    while ((e = cut_next(c, &it)) != NULL) {
        assert_string_equal(e->var, "term");
        seen++;
    }
    assert_int_equal(seen, 1);
    size_t n = 0;
    const struct cut_entry *const *g = cut_var_nodes(c, "raft", "role", &n);
    assert_int_equal(n, 1);
    assert_int_equal(g[0]->value.type, TT_VAL_NONE);
    assert_int_equal(g[0]->prev.type, TT_VAL_STR);
    cut_free(c);
}

struct seen {
    char what[64][48];
    int last[64];
    size_t n;
    int stop_at;
};

static int on_step(void *arg, const struct cut_step *s)
{
    struct seen *r = arg;
    assert_true(r->n < 64);
    assert_ptr_equal(s->entry, cut_lookup(s->cut, s->entry->node, s->entry->log, s->entry->var));
    assert_int_equal(s->index, r->n);
    snprintf(r->what[r->n], sizeof r->what[0], "%llu %s.%s.%s=%lld",
             (unsigned long long)s->change->hlc, s->entry->node, s->entry->log, s->entry->var,
             (long long)s->entry->value.u.i);
    r->last[r->n] = s->last_of_hlc;
    r->n++;
    return r->stop_at && (int)r->n == r->stop_at ? 42 : 0;
}

static void test_walk_order(void **state)
{
    (void)state;
    struct statelog_change ch[] = {
        chi(5, 30, "n2", "raft", "term", 3, 1, 2), chi(1, 10, "n1", "raft", "term", 1, 0, 0),
        chi(3, 20, "n2", "raft", "term", 2, 0, 0), chi(2, 20, "n1", "raft", "idx", 5, 0, 0),
        chi(4, 20, "n1", "raft", "term", 2, 1, 1),
    };
    cut_changes_sort(ch, 5);
    struct cut *c = NULL;
    assert_int_equal(cut_new(&c), 0);
    struct seen r = { .n = 0 };
    assert_int_equal(cut_walk_changes(c, ch, 5, on_step, &r), 0);
    const char *want[] = { "10 n1.raft.term=1", "20 n1.raft.idx=5", "20 n1.raft.term=2",
                           "20 n2.raft.term=2", "30 n2.raft.term=3" };
    int want_last[] = { 1, 0, 0, 1, 1 };
    assert_int_equal(r.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(r.what[i], want[i]);
        assert_int_equal(r.last[i], want_last[i]);
    }
    /* After the walk: the cut at 30; the two nodes having raft.term. */
    size_t n = 0;
    const struct cut_entry *const *g = cut_var_nodes(c, "raft", "term", &n);
    assert_int_equal(n, 2);
    assert_string_equal(g[0]->node, "n1");
    assert_int_equal(g[0]->value.u.i, 2);
    assert_string_equal(g[1]->node, "n2");
    assert_int_equal(g[1]->value.u.i, 3);
    cut_free(c);
    /* A consumer stops the walk. */
    assert_int_equal(cut_new(&c), 0);
    struct seen r2 = { .n = 0, .stop_at = 2 };
    assert_int_equal(cut_walk_changes(c, ch, 5, on_step, &r2), 42);
    assert_int_equal(r2.n, 2);
    assert_int_equal(val(c, "n1", "term"), 1);
    cut_free(c);
}

/* Many keys: the tables grow, lookups stay right. */
static void test_many_keys(void **state)
{
    (void)state;
    struct cut *c = NULL;
    assert_int_equal(cut_new(&c), 0);
    char node[16], var[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(node, sizeof node, "n%d", i % 7);
        snprintf(var, sizeof var, "v%d", i);
        struct statelog_change x = chi((uint64_t)i + 1, (uint64_t)i + 1, node, "l", var, i, 0, 0);
        assert_int_equal(cut_apply(c, &x, NULL), 1);
    }
    assert_int_equal(cut_count(c), 3000);
    for (int i = 0; i < 3000; i += 7) {
        snprintf(node, sizeof node, "n%d", i % 7);
        snprintf(var, sizeof var, "v%d", i);
        const struct cut_entry *e = cut_lookup(c, node, "l", var);
        assert_non_null(e);
        assert_int_equal(e->value.u.i, i);
        size_t n = 0;
        assert_non_null(cut_var_nodes(c, "l", var, &n));
        assert_int_equal(n, 1);
    }
    cut_free(c);
}

/* Changes of two nodes in a real state log: a batch per node. */
static void add_node(struct evstore *st, const char *origin, size_t olen, uint64_t oid,
                     const uint64_t *hlcs, const int64_t *vals, size_t n)
{
    struct wbuf raw, b;
    char err[256];
    wbuf_init(&raw, 0);
    wbuf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        struct rec_state s = { .log = { "app", 3 },
                               .var = { "mode", 4 },
                               .value = { .type = TT_VAL_INT, .u.i = vals[i] },
                               .prev = { .type = i ? TT_VAL_INT : TT_VAL_NONE,
                                         .u.i = i ? vals[i - 1] : 0 } };
        /* Physical times run backwards against HLCs on purpose: the cut
         * must follow the HLC, not the time the store orders by. */
        assert_int_equal(rec_put_state(&raw, (tt_hlc)hlcs[i], 1000000 - (int64_t)hlcs[i], &s), 0);
    }
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = (uint32_t)n;
    h.origin_id = oid;
    h.origin = origin;
    h.origin_len = (uint32_t)olen;
    h.hlc_min = hlcs[0];
    h.hlc_max = hlcs[n - 1];
    assert_int_equal(batch_encode(&b, &h, raw.data, raw.len), 0);
    struct batch_hdr ph;
    assert_int_equal(batch_parse_header(b.data, b.len, &ph, err, sizeof err), 0);
    assert_int_equal(
        evstore_add_batch(st, &ph, b.data + ph.header_len, ph.stored_len, err, sizeof err), (int)n);
    assert_int_equal(evstore_commit(st, 1, (uint32_t)oid, err, sizeof err), 0);
    wbuf_release(&raw);
    wbuf_release(&b);
}

static void test_statelog(void **state)
{
    (void)state;
    char dir[64], err[256];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "cuts"), 0);
    struct evstore_config cfg = { .dir = dir };
    struct evstore *st = NULL;
    assert_int_equal(statelog_open(&st, &cfg, err, sizeof err), 0);
    uint64_t h1[] = { hlc_pack(100, 0), hlc_pack(200, 0), hlc_pack(300, 1) };
    int64_t v1[] = { 1, 2, 3 };
    uint64_t h2[] = { hlc_pack(150, 0), hlc_pack(300, 1) };
    int64_t v2[] = { 10, 20 };
    add_node(st, "a\0p1", 4, 1, h1, v1, 3);
    add_node(st, "b\0p2", 4, 2, h2, v2, 2);
    struct {
        uint64_t t;
        int64_t a, b;
    } want[] = { { hlc_pack(99, 0), -1, -1 }, { hlc_pack(100, 0), 1, -1 },
                 { hlc_pack(150, 0), 1, 10 }, { hlc_pack(299, 9), 2, 10 },
                 { hlc_pack(300, 0), 2, 10 }, { hlc_pack(300, 1), 3, 20 },
                 { UINT64_MAX, 3, 20 } };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct cut *c = NULL;
        assert_int_equal(cut_new(&c), 0);
        assert_int_equal(cuts_snapshot(st, want[i].t, NULL, c, err, sizeof err), 0);
        const struct cut_entry *ea = cut_lookup(c, "a", "app", "mode"),
                               *eb = cut_lookup(c, "b", "app", "mode");
        int64_t ga = ea ? ea->value.u.i : -1, gb = eb ? eb->value.u.i : -1;
        if (ga != want[i].a || gb != want[i].b)
            fail_msg("snapshot at %016llx: a %lld (want %lld), b %lld (want %lld)",
                     (unsigned long long)want[i].t, (long long)ga, (long long)want[i].a,
                     (long long)gb, (long long)want[i].b);
        cut_free(c);
    }
    /* A log that does not exist: an empty cut. */
    struct cut *c = NULL;
    assert_int_equal(cut_new(&c), 0);
    assert_int_equal(cuts_snapshot(st, UINT64_MAX, "nope", c, err, sizeof err), 0);
    assert_int_equal(cut_count(c), 0);
    cut_free(c);
    /* Walk [150, 300.1]: starts from the cut before 150 (a=1). */
    assert_int_equal(cut_new(&c), 0);
    struct seen r = { .n = 0 };
    int trunc = -1;
    assert_int_equal(cuts_walk(st, hlc_pack(150, 0), hlc_pack(300, 1), "app", 0, c, on_step, &r,
                               &trunc, err, sizeof err),
                     0);
    assert_int_equal(trunc, 0);
    assert_int_equal(r.n, 4);
    char w[48];
    snprintf(w, sizeof w, "%llu b.app.mode=10", (unsigned long long)hlc_pack(150, 0));
    assert_string_equal(r.what[0], w);
    snprintf(w, sizeof w, "%llu a.app.mode=3", (unsigned long long)hlc_pack(300, 1));
    assert_string_equal(r.what[2], w);
    assert_int_equal(r.last[2], 0);
    assert_int_equal(r.last[3], 1);
    cut_free(c);
    /* With a limit, and an inverted range. */
    assert_int_equal(cut_new(&c), 0);
    struct seen r2 = { .n = 0 };
    assert_int_equal(
        cuts_walk(st, 0, UINT64_MAX, NULL, 2, c, on_step, &r2, &trunc, err, sizeof err), 0);
    assert_int_equal(r2.n, 2);
    assert_int_equal(trunc, 1);
    assert_int_equal(cuts_walk(st, 5, 4, NULL, 0, c, on_step, &r2, NULL, err, sizeof err),
                     TT_EINVAL);
    cut_free(c);
    evstore_close(st);
    rm_rf(dir);
}

static void test_parse_hlc(void **state)
{
    (void)state;
    uint64_t h = 0;
    assert_int_equal(cuts_parse_hlc("0000000100000002", &h), 0);
    assert_int_equal(h, 0x100000002ull);
    assert_int_equal(cuts_parse_hlc("1700000000000.3", &h), 0);
    assert_int_equal(h, hlc_pack(1700000000000ull, 3));
    assert_int_equal(cuts_parse_hlc("12.65536", &h), TT_ESYNTAX);
    assert_int_equal(cuts_parse_hlc("281474976710656.0", &h), TT_ESYNTAX);
    assert_int_equal(cuts_parse_hlc("000000010000000", &h), TT_ESYNTAX);
    assert_int_equal(cuts_parse_hlc("000000010000000g", &h), TT_ESYNTAX);
    assert_int_equal(cuts_parse_hlc(".1", &h), TT_ESYNTAX);
    assert_int_equal(cuts_parse_hlc("1.", &h), TT_ESYNTAX);
    assert_int_equal(cuts_parse_hlc("", &h), TT_ESYNTAX);
}

UNIT_TESTS(cmocka_unit_test(test_boundaries), cmocka_unit_test(test_ties_and_delete),
           cmocka_unit_test(test_walk_order), cmocka_unit_test(test_many_keys),
           cmocka_unit_test(test_statelog), cmocka_unit_test(test_parse_hlc))
