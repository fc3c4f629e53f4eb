/*
 * test_align.c - HLC alignment on hand-made logs: a node whose clock is
 * behind (its receive events have l > pt), n-1 alignments against the driver,
 * ties, one node, a node nothing constrains, the causal repair of the merged
 * log, and the two-thread path against the one-thread path on random logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "query/causal/align.h"
#include "telltale.h"

static uint32_t node(struct align_set *s, const char *name)
{
    uint32_t id = 0;
    assert_int_equal(align_set_node(s, name, strlen(name), &id), 0);
    return id;
}

static void add(struct align_set *s, const char *n, int64_t pt, int64_t l, uint32_t c)
{
    assert_int_equal(align_set_add(s, node(s, n), pt, l, c, n, strlen(n)), 0);
}

static const struct align_node *find(const struct align_set *s, const char *name)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (strcmp(s->nodes[i].name, name) == 0)
            return &s->nodes[i];
    fail_msg("node %s not found", name);
    return NULL;
}

/* B's clock is 30 ms behind A's; A sends at its 1000 and 1050, B receives
 * after 5 ms of real time (B reads 975 and 1025): the stamps it takes from A
 * exceed its physical time by 25, the best provable shift. */
static void test_align_behind(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    add(&s, "A", 1000, 1000, 0);
    add(&s, "B", 975, 1000, 1);
    add(&s, "B", 990, 1000, 2);
    add(&s, "A", 1050, 1050, 0);
    add(&s, "B", 1025, 1050, 1);
    add(&s, "B", 1040, 1050, 2);
    assert_int_equal(align_run(&s, 1, 100), 0);
    const struct align_node *a = find(&s, "A"), *b = find(&s, "B");
    assert_int_equal(a->shift_ms, 0);
    assert_int_equal(a->lo_ms, 0);
    assert_int_equal(a->hi_ms, 0);
    assert_int_equal(a->constrained, 0);
    assert_int_equal(a->events, 2);
    assert_int_equal(b->shift_ms, 25);
    assert_int_equal(b->lo_ms, 25);
    assert_int_equal(b->hi_ms, 100);
    assert_int_equal(b->constrained, 2);
    assert_int_equal(b->events, 4);
    /* The merged log: A's send before B's receive, aligned times pt + shift. */
    assert_int_equal(s.ev[0].node, a - s.nodes);
    assert_int_equal(s.ev[0].aligned_ms, 1000);
    assert_int_equal(s.ev[1].aligned_ms, 1000);
    assert_int_equal(s.ev[2].aligned_ms, 1015);
    for (size_t i = 0; i < s.nev; i++)
        assert_int_equal(s.ev[i].repaired, 0);
    align_set_release(&s);
}

/* Three nodes, A drives; B is 20 behind, C 40: two alignments against A, and
 * one of C's comes through B (A -> B -> C). */
static void test_align_three_nodes(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    add(&s, "A", 100, 100, 0);
    add(&s, "B", 82, 100, 1); /* from A, 2 ms of real delay */
    add(&s, "B", 85, 100, 2); /* B sends to C */
    add(&s, "C", 66, 100, 3); /* from B: real time 106, C reads 66 */
    add(&s, "C", 70, 100, 4);
    add(&s, "A", 200, 200, 0);
    add(&s, "C", 161, 200, 1); /* from A, 1 ms of real delay */
    assert_int_equal(align_run(&s, 1, 100), 0);
    assert_int_equal(find(&s, "A")->shift_ms, 0);
    assert_int_equal(find(&s, "B")->shift_ms, 18);
    assert_int_equal(find(&s, "C")->shift_ms, 39);
    assert_int_equal(find(&s, "C")->constrained, 1);
    assert_int_equal(find(&s, "B")->constrained, 1);
    assert_int_equal(find(&s, "C")->lo_ms, 39);
    assert_int_equal(find(&s, "C")->hi_ms, 100);
    /* A shift the events prove beyond the bound widens nothing past it. */
    assert_int_equal(align_run(&s, 1, 10), 0);
    assert_int_equal(find(&s, "C")->hi_ms, 39);
    assert_int_equal(find(&s, "B")->hi_ms, 18);
    align_set_release(&s);
}

/* Two events attain the maximum: both count; equal HLCs sort by node, then
 * input order. */
static void test_align_ties(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    add(&s, "B", 990, 1000, 0);
    add(&s, "A", 1000, 1000, 0);
    add(&s, "B", 1990, 2000, 0);
    add(&s, "B", 1995, 2000, 1);
    assert_int_equal(align_run(&s, 1, 50), 0);
    const struct align_node *b = find(&s, "B");
    assert_int_equal(b->shift_ms, 10);
    assert_int_equal(b->constrained, 2);
    /* (1000, 0) twice: B was added first so it has the smaller id. */
    assert_int_equal(s.ev[0].node, 0);
    assert_int_equal(s.ev[1].node, 1);
    assert_int_equal(s.ev[0].seq, 0);
    assert_int_equal(s.ev[1].seq, 1);
    align_set_release(&s);
}

static void test_align_one_node(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    add(&s, "solo", 5, 5, 0);
    add(&s, "solo", 5, 5, 1);
    add(&s, "solo", 9, 9, 0);
    assert_int_equal(align_run(&s, 2, 100), 0);
    assert_int_equal(s.nnodes, 1);
    assert_int_equal(s.nodes[0].shift_ms, 0);
    assert_int_equal(s.nodes[0].lo_ms, 0);
    assert_int_equal(s.nodes[0].hi_ms, 0);
    assert_int_equal(s.nodes[0].constrained, 0);
    assert_int_equal(s.nodes[0].events, 3);
    align_set_release(&s);
}

/* C exchanged nothing: no event constrains it and it is not the reference,
 * so its shift is anywhere in [0, bound]. An empty set is fine too. */
static void test_align_unconstrained(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    assert_int_equal(align_run(&s, 2, 100), 0);
    add(&s, "A", 1000, 1000, 0);
    add(&s, "B", 990, 1000, 1);
    add(&s, "C", 500, 500, 0);
    add(&s, "C", 700, 700, 0);
    assert_int_equal(align_run(&s, 1, 100), 0);
    const struct align_node *c = find(&s, "C");
    assert_int_equal(c->shift_ms, 0);
    assert_int_equal(c->constrained, 0);
    assert_int_equal(c->lo_ms, 0);
    assert_int_equal(c->hi_ms, 100);
    assert_int_equal(find(&s, "A")->hi_ms, 0);
    align_set_release(&s);
}

/* Aligned times that would invert the HLC order are raised to just after. */
static void test_align_repair(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    add(&s, "A", 1000, 1000, 0);
    add(&s, "B", 900, 1000, 1);  /* B is 100 behind */
    add(&s, "B", 905, 1000, 2);  /* aligned 1005 */
    add(&s, "A", 1001, 1001, 0); /* HLC after B's, aligned 1001 */
    assert_int_equal(align_run(&s, 1, 100), 0);
    assert_int_equal(s.ev[2].aligned_ms, 1005);
    assert_int_equal(s.ev[3].l_ms, 1001);
    assert_int_equal(s.ev[3].aligned_ms, 1005);
    assert_int_equal(s.ev[3].repaired, 1);
    for (size_t i = 1; i < s.nev; i++)
        assert_true(s.ev[i].aligned_ms >= s.ev[i - 1].aligned_ms);
    align_set_release(&s);
}

/* Random logs: the two-thread split gives exactly the one-thread answer. */
static void test_align_threads_agree(void **state)
{
    (void)state;
    struct align_set s1, s2;
    align_set_init(&s1);
    align_set_init(&s2);
    unsigned seed = 12345;
    for (int i = 0; i < 50000; i++) {
        char name[8];
        int k = rand_r(&seed) % 7;
        name[0] = (char)('a' + k);
        name[1] = '\0';
        int64_t pt = 1000000 + i - k * 3;
        int64_t l = pt + rand_r(&seed) % (k + 1) * 2;
        uint32_t c = (uint32_t)(rand_r(&seed) % 4);
        uint32_t id1 = node(&s1, name), id2 = node(&s2, name);
        assert_int_equal(align_set_add(&s1, id1, pt, l, c, NULL, 0), 0);
        assert_int_equal(align_set_add(&s2, id2, pt, l, c, NULL, 0), 0);
    }
    assert_int_equal(align_run(&s1, 1, 100), 0);
    assert_int_equal(align_run(&s2, 2, 100), 0);
    assert_int_equal(s1.nnodes, s2.nnodes);
    for (size_t k = 0; k < s1.nnodes; k++) {
        assert_int_equal(s1.nodes[k].shift_ms, s2.nodes[k].shift_ms);
        assert_int_equal(s1.nodes[k].constrained, s2.nodes[k].constrained);
        assert_int_equal(s1.nodes[k].hi_ms, s2.nodes[k].hi_ms);
        assert_int_equal(s1.nodes[k].events, s2.nodes[k].events);
    }
    assert_int_equal(s1.nev, s2.nev);
    for (size_t i = 0; i < s1.nev; i++) {
        assert_int_equal(s1.ev[i].seq, s2.ev[i].seq);
        assert_int_equal(s1.ev[i].aligned_ms, s2.ev[i].aligned_ms);
    }
    align_set_release(&s1);
    align_set_release(&s2);
}

static void test_align_bad_args(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    uint32_t id;
    assert_int_equal(align_set_node(&s, "", 0, &id), TT_EINVAL);
    assert_int_equal(align_set_node(&s, "a\0b", 3, &id), TT_EINVAL);
    assert_int_equal(align_set_add(&s, 0, 1, 1, 0, NULL, 0), TT_EINVAL); /* no node yet */
    id = node(&s, "n");
    assert_int_equal(align_set_add(&s, id, -1, 1, 0, NULL, 0), TT_EINVAL);
    assert_int_equal(align_set_add(&s, id, 1, INT64_C(1) << 48, 0, NULL, 0), TT_EINVAL);
    assert_int_equal(align_set_add(&s, id, 1, 1, 65536, NULL, 0), TT_EINVAL);
    assert_int_equal(align_run(&s, 1, -1), TT_EINVAL);
    /* Node names are interned: same name, same id, across many nodes. */
    for (int i = 0; i < 300; i++) {
        char nm[16];
        snprintf(nm, sizeof(nm), "node%d", i);
        uint32_t a = node(&s, nm), b = node(&s, nm);
        assert_int_equal(a, b);
    }
    assert_int_equal(s.nnodes, 301);
    align_set_release(&s);
}

UNIT_TESTS(cmocka_unit_test(test_align_behind), cmocka_unit_test(test_align_three_nodes),
           cmocka_unit_test(test_align_ties), cmocka_unit_test(test_align_one_node),
           cmocka_unit_test(test_align_unconstrained), cmocka_unit_test(test_align_repair),
           cmocka_unit_test(test_align_threads_agree), cmocka_unit_test(test_align_bad_args))
