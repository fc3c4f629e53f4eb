/*
 * test_hlc.c - the Hybrid Logical Clock: a hand-worked table of send/receive
 * steps across three nodes, property tests (monotonicity under a wandering
 * physical clock, happened-before => smaller stamp in a simulated cluster with
 * skewed clocks, l - pt bounded by the skew) and a multithreaded uniqueness test.
 * Random tests use fixed seeds, printed; TT_SEED=<n> in the environment runs one
 * chosen seed instead.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include "unit.h"
#include "core/hlc.h"

/* 2023-11-14T22:13:20Z in ms: table times are relative to it. */
#define BASE_MS UINT64_C(1700000000000)

static void set_pt(struct clock_fake *f, uint64_t pt_ms)
{
    clock_fake_set(f, (int64_t)pt_ms * TT_NS_PER_MS);
}

/* ---- 1. hand-worked table ------------------------------------------------ */

enum { LOCAL, RECV };

struct step {
    int node;          /* 0 = A, 1 = B, 2 = C */
    int op;            /* LOCAL (local or send event) or RECV */
    uint64_t pt;       /* the node's physical time, ms after BASE_MS */
    int from;          /* RECV: the (1-based) step whose stamp arrives, or 0 ... */
    uint64_t rl, rc;   /* ... for a literal remote stamp (rl relative to BASE_MS) */
    int ret;           /* expected return of hlc_recv */
    uint64_t l, c;     /* expected stamp (l relative to BASE_MS) */
    uint64_t ovf, rej; /* expected counters of the node after the step */
};

/* max_offset_ms is 100 on every node. Each line's expectation follows from the
 * rules in hlc.h; the comment names the case. */
static const struct step table[] = {
    /* 1 */ { 0, LOCAL, 10, 0, 0, 0, 0, 10, 0, 0, 0 },  /* first event takes pt */
    /* 2 */ { 0, LOCAL, 10, 0, 0, 0, 0, 10, 1, 0, 0 },  /* same ms: c + 1 */
    /* 3 */ { 0, LOCAL, 5, 0, 0, 0, 0, 10, 2, 0, 0 },   /* pt behind l (stepped back); send m3 */
    /* 4 */ { 1, RECV, 3, 3, 0, 0, 0, 10, 3, 0, 0 },    /* remote ahead: l' = l_m, c_m + 1 */
    /* 5 */ { 1, LOCAL, 3, 0, 0, 0, 0, 10, 4, 0, 0 },   /* pt behind l */
    /* 6 */ { 1, LOCAL, 10, 0, 0, 0, 0, 10, 5, 0, 0 },  /* pt == l: c + 1; send m6 */
    /* 7 */ { 0, RECV, 10, 6, 0, 0, 0, 10, 6, 0, 0 },   /* l == l_m == pt: max(2, 5) + 1 */
    /* 8 */ { 2, LOCAL, 10, 0, 0, 0, 0, 10, 0, 0, 0 },  /* C's first event */
    /* 9 */ { 2, LOCAL, 10, 0, 0, 0, 0, 10, 1, 0, 0 },  /* send m9 */
    /* 10 */ { 0, RECV, 9, 9, 0, 0, 0, 10, 7, 0, 0 },   /* l == l_m > pt: max(6, 1) + 1 */
    /* 11 */ { 0, LOCAL, 12, 0, 0, 0, 0, 12, 0, 0, 0 }, /* pt jumps ahead: c resets; send m11 */
    /* 12 */ { 2, RECV, 11, 11, 0, 0, 0, 12, 1, 0, 0 }, /* remote ahead of l and pt: c_m + 1 */
    /* 13 */ { 1, RECV, 20, 11, 0, 0, 0, 20, 0, 0, 0 }, /* pt ahead of both: c = 0 */
    /* 14 */ { 2, RECV, 11, 6, 0, 0, 0, 12, 2, 0, 0 },  /* late old message: l' = l, c + 1 */
    /* 15 */ { 1, RECV, 20, 0, 121, 0, TT_ECLOCK, 20, 1, 0, 1 }, /* l_m = pt + 101: rejected */
    /* 16 */ { 1, RECV, 20, 0, 120, 7, 0, 120, 8, 0, 1 }, /* l_m = pt + 100 exactly: accepted */
    /* 17 */ { 1, LOCAL, 21, 0, 0, 0, 0, 120, 9, 0, 1 },  /* l stays 99 ms ahead of pt */
    /* 18 */ { 2, RECV, 11, 0, 50, 0xfffe, 0, 50, 0xffff, 0, 0 }, /* c_m + 1 == 0xffff still fits */
    /* 19 */ { 2, LOCAL, 11, 0, 0, 0, 0, 50, 0xffff, 1, 0 }, /* saturated: stamp repeats, counted */
    /* 20 */ { 2, LOCAL, 50, 0, 0, 0, 0, 50, 0xffff, 2, 0 }, /* again, pt == l; l never bumped */
    /* 21 */ { 2, RECV, 11, 0, 50, 0xffff, 0, 50, 0xffff, 3, 0 }, /* l == l_m: max + 1 saturates */
    /* 22 */ { 2, LOCAL, 51, 0, 0, 0, 0, 51, 0, 3, 0 }, /* physical time frees the counter */
    /* 23 */ { 2, RECV, 51, 0, 60, 0xffff, 0, 60, 0xffff, 4, 0 }, /* l_m only: c_m + 1 saturates */
    /* 24 */ { 2, RECV, 51, 0, 60, 3, 0, 60, 0xffff, 5, 0 },      /* l == l_m, c saturated */
    /* 25 */ { 0, RECV, 12, 0, 113, 0, TT_ECLOCK, 12, 1, 0, 1 },  /* rejected, A: local tick */
};

static void test_hlc_table(void **state)
{
    struct clock_fake fk[3];
    struct hlc h[3];
    tt_hlc stamps[sizeof(table) / sizeof(table[0]) + 1] = { 0 };

    (void)state;
    for (int i = 0; i < 3; i++) {
        clock_fake_init(&fk[i], 0);
        hlc_init(&h[i], &fk[i].clock, 100);
    }
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct step *s = &table[i];
        struct hlc *n = &h[s->node];
        tt_hlc got = 0, before = hlc_peek(n), remote;
        int ret = 0;

        set_pt(&fk[s->node], BASE_MS + s->pt);
        if (s->op == LOCAL) {
            got = hlc_now(n);
        } else {
            remote = s->from ? stamps[s->from] : hlc_pack(BASE_MS + s->rl, (uint32_t)s->rc);
            ret = hlc_recv(n, remote, &got);
        }
        print_message("step %zu: node %c got (%llu, %llu)\n", i + 1, 'A' + s->node,
                      (unsigned long long)(hlc_l(got) - BASE_MS), (unsigned long long)hlc_c(got));
        stamps[i + 1] = got;
        assert_int_equal(ret, s->ret);
        assert_int_equal(hlc_l(got), BASE_MS + s->l);
        assert_int_equal(hlc_c(got), s->c);
        assert_int_equal(hlc_peek(n), got);
        assert_int_equal(n->overflows, s->ovf);
        assert_int_equal(n->rejected, s->rej);
        /* A rejected stamp is exactly a local tick: the remote left no trace. */
        if (s->ret == TT_ECLOCK)
            assert_int_equal(got, hlc_step(before, BASE_MS + s->pt, 0, 0, NULL));
    }
}

/* The pure step function on its own, including both flags of *overflow. */
static void test_hlc_step_pure(void **state)
{
    int ovf = 7;
    tt_hlc cur = hlc_pack(100, 5);

    (void)state;
    assert_int_equal(hlc_step(cur, 90, 0, 0, &ovf), hlc_pack(100, 6));
    assert_int_equal(ovf, 0);
    assert_int_equal(hlc_step(cur, 101, 0, 0, &ovf), hlc_pack(101, 0));
    /* is_recv = 0 ignores the remote stamp. */
    assert_int_equal(hlc_step(cur, 90, 0, hlc_pack(200, 0), NULL), hlc_pack(100, 6));
    assert_int_equal(hlc_step(cur, 90, 1, hlc_pack(100, 9), &ovf), hlc_pack(100, 10));
    assert_int_equal(hlc_step(cur, 90, 1, hlc_pack(100, 2), &ovf), hlc_pack(100, 6));
    assert_int_equal(hlc_step(cur, 90, 1, hlc_pack(99, 900), &ovf), hlc_pack(100, 6));
    assert_int_equal(hlc_step(cur, 90, 1, hlc_pack(150, 4), &ovf), hlc_pack(150, 5));
    assert_int_equal(hlc_step(cur, 151, 1, hlc_pack(150, 4), &ovf), hlc_pack(151, 0));
    assert_int_equal(ovf, 0);
    cur = hlc_pack(100, HLC_C_MAX);
    assert_int_equal(hlc_step(cur, 100, 0, 0, &ovf), cur);
    assert_int_equal(ovf, 1);
    assert_int_equal(hlc_step(cur, 101, 0, 0, &ovf), hlc_pack(101, 0));
    assert_int_equal(ovf, 0);
    /* The accessors agree with the public macros. */
    assert_int_equal(hlc_l(cur), TT_HLC_L(cur));
    assert_int_equal(hlc_c(cur), TT_HLC_C(cur));
}

/* Physical times beyond 48 bits clamp to HLC_L_MAX instead of spilling. */
static void test_hlc_clamp(void **state)
{
    struct clock_fake f;
    struct hlc h;
    tt_hlc out = 0;

    (void)state;
    clock_fake_init(&f, -5 * TT_NS_PER_S); /* before 1970 reads as pt 0 */
    hlc_init(&h, &f.clock, 0);
    assert_int_equal(h.max_offset_ms, 500);
    assert_int_equal(hlc_now(&h), hlc_pack(0, 1));
    assert_int_equal(hlc_now_pt(&h, UINT64_MAX), hlc_pack(HLC_L_MAX, 0));
    assert_int_equal(hlc_now_pt(&h, HLC_L_MAX + 12345), hlc_pack(HLC_L_MAX, 1));
    assert_int_equal(hlc_recv_pt(&h, hlc_pack(HLC_L_MAX, 40), UINT64_MAX, &out), 0);
    assert_int_equal(out, hlc_pack(HLC_L_MAX, 41));
    assert_int_equal(hlc_recv_pt(&h, hlc_pack(5, 0), UINT64_MAX, NULL), 0);
    assert_int_equal(hlc_peek(&h), hlc_pack(HLC_L_MAX, 42));
    assert_int_equal(h.overflows, 0);
    assert_int_equal(h.rejected, 0);
}

/* With the system clock the stamp's l is the wall clock in ms. */
static void test_hlc_system_clock(void **state)
{
    struct hlc h;
    uint64_t before, after;
    tt_hlc a, b;

    (void)state;
    hlc_init(&h, NULL, 0);
    before = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS);
    a = hlc_now(&h);
    b = hlc_now(&h);
    after = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS);
    assert_true(hlc_l(a) >= before && hlc_l(a) <= after);
    assert_true(b > a);
    assert_int_equal(hlc_recv(&h, hlc_pack(after + 10000, 0), NULL), TT_ECLOCK);
    assert_int_equal(hlc_recv(&h, a, NULL), 0);
    assert_true(hlc_peek(&h) > b);
}

/* ---- 2. property tests -------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

/* Fills seeds with the fixed list, or with TT_SEED alone when it is set. */
static size_t test_seeds(uint64_t *seeds, size_t max)
{
    static const uint64_t fixed[] = { 1, 0x5eed, 20140101, 0xdeadbeefcafe };
    const char *env = getenv("TT_SEED");
    size_t n = 0;

    if (env && *env) {
        char *end = NULL;
        unsigned long long v = strtoull(env, &end, 0);

        if (end && *end == 0 && v) {
            seeds[0] = v;
            return 1;
        }
    }
    for (; n < max && n < sizeof(fixed) / sizeof(fixed[0]); n++)
        seeds[n] = fixed[n];
    return n;
}

/* Stamps from one clock only grow, whatever the physical clock does: it jitters,
 * steps back by seconds (NTP) and leaps forward; remote stamps come and go. */
static void test_hlc_monotonic_random_pt(void **state)
{
    uint64_t seeds[8];
    size_t nseeds = test_seeds(seeds, 8);

    (void)state;
    for (size_t si = 0; si < nseeds; si++) {
        uint64_t rng = seeds[si];
        uint64_t pt = BASE_MS, rejected = 0, ahead = 0, resets = 0;
        struct hlc h;
        tt_hlc prev = 0;

        print_message("monotonic: seed %llu\n", (unsigned long long)seeds[si]);
        hlc_init(&h, NULL, 200);
        for (int i = 0; i < 200000; i++) {
            uint64_t r = rng_below(&rng, 1000);
            tt_hlc now, remote = 0;
            int is_recv = 0, ret = 0;

            /* Rare steps back by up to 1 s (NTP), rare leaps forward, jitter,
             * and a forward drift of about 0.6 ms a step that lets pt catch up. */
            if (r < 1)
                pt -= rng_below(&rng, 1000);
            else if (r < 3)
                pt += rng_below(&rng, 500);
            else if (r < 600)
                pt += 1;
            else if (r < 650)
                pt -= rng_below(&rng, 3);
            r = rng_below(&rng, 2048);
            if (r < 160) {
                /* Remote stamps: mostly a little behind or ahead, some beyond the
                 * max offset (rejected), rarely far ahead but accepted (up to
                 * exactly the offset), which drags l ahead of pt for a while. */
                uint64_t lm = pt + 2 - rng_below(&rng, 100);

                if (r < 16)
                    lm = pt + 201 + rng_below(&rng, 300);
                else if (r < 17)
                    lm = pt + rng_below(&rng, 201);
                remote = hlc_pack(lm, (uint32_t)rng_below(&rng, 64));
                is_recv = 1;
                ret = hlc_recv_pt(&h, remote, pt, &now);
                if (hlc_l(remote) > pt + 200) {
                    assert_int_equal(ret, TT_ECLOCK);
                    rejected++;
                } else {
                    assert_int_equal(ret, 0);
                    assert_true(now > remote);
                }
            } else {
                now = hlc_now_pt(&h, pt);
            }
            if (now <= prev || hlc_l(now) < pt) {
                print_message("seed %llu step %d: prev %llx now %llx pt %llu recv %d\n",
                              (unsigned long long)seeds[si], i, (unsigned long long)prev,
                              (unsigned long long)now, (unsigned long long)pt, is_recv);
                fail();
            }
            ahead += hlc_l(now) > pt;
            resets += hlc_c(now) == 0;
            prev = now;
        }
        /* Both regimes must be common: l leading pt (after steps back and remote
         * stamps) and pt taking over (counter reset), or some rules were idle. */
        print_message("  of 200000 stamps %llu ahead of pt, %llu with c = 0\n",
                      (unsigned long long)ahead, (unsigned long long)resets);
        assert_true(ahead > 20000);
        assert_true(resets > 20000);
        assert_int_equal(h.overflows, 0);
        assert_int_equal(h.rejected, rejected);
        assert_true(rejected > 0);
    }
}

#define SIM_NODES       5
#define SIM_STEPS       6000
#define SIM_MAX_SKEW_MS 100

struct sim_event {
    tt_hlc stamp;
    int node;
    uint32_t vc[SIM_NODES]; /* vector clock after the event */
};

struct sim_msg {
    int to;
    uint64_t deliver_at; /* true time, ms */
    tt_hlc stamp;
    uint32_t vc[SIM_NODES];
};

struct sim {
    struct clock_fake clk[SIM_NODES];
    struct hlc h[SIM_NODES];
    uint32_t vc[SIM_NODES][SIM_NODES];
    int64_t skew_ms[SIM_NODES];
    struct sim_event *ev;
    size_t nev;
    struct sim_msg *msg;
    size_t nmsg;
    uint64_t t;         /* true time, ms */
    int64_t max_gap_ms; /* max skew minus min skew */
};

/* Records node's event with stamp and checks that l - pt stays within the skew. */
static void sim_record(struct sim *s, int node, tt_hlc stamp)
{
    struct sim_event *e = &s->ev[s->nev++];
    uint64_t pt = (uint64_t)(clock_now_ns(&s->clk[node].clock) / TT_NS_PER_MS);

    s->vc[node][node]++;
    e->stamp = stamp;
    e->node = node;
    memcpy(e->vc, s->vc[node], sizeof(e->vc));
    /* l is some node's physical time at or before now, so it cannot lead our
     * pt by more than the spread of skews; and it never lags pt. */
    assert_true(hlc_l(stamp) >= pt);
    assert_true((int64_t)(hlc_l(stamp) - pt) <= s->max_gap_ms);
}

static void sim_deliver(struct sim *s, size_t mi)
{
    struct sim_msg m = s->msg[mi];
    tt_hlc got = 0;

    s->msg[mi] = s->msg[--s->nmsg];
    assert_int_equal(hlc_recv(&s->h[m.to], m.stamp, &got), 0);
    for (int k = 0; k < SIM_NODES; k++)
        if (m.vc[k] > s->vc[m.to][k])
            s->vc[m.to][k] = m.vc[k];
    sim_record(s, m.to, got);
}

static void sim_run(struct sim *s, uint64_t *rng)
{
    int64_t lo = 0, hi = 0;

    s->t = BASE_MS;
    for (int i = 0; i < SIM_NODES; i++) {
        /* Nodes 0 and 1 span the whole range, the others fall in between. */
        s->skew_ms[i] = i == 0   ? 0
                        : i == 1 ? SIM_MAX_SKEW_MS
                                 : (int64_t)rng_below(rng, SIM_MAX_SKEW_MS + 1);
        lo = i == 0 || s->skew_ms[i] < lo ? s->skew_ms[i] : lo;
        hi = i == 0 || s->skew_ms[i] > hi ? s->skew_ms[i] : hi;
        clock_fake_init(&s->clk[i], (int64_t)s->t * TT_NS_PER_MS);
        clock_fake_skew(&s->clk[i], s->skew_ms[i] * TT_NS_PER_MS);
        hlc_init(&s->h[i], &s->clk[i].clock, 0);
    }
    s->max_gap_ms = hi - lo;
    for (int step = 0; step < SIM_STEPS; step++) {
        uint64_t r = rng_below(rng, 100);
        int node = (int)rng_below(rng, SIM_NODES);

        s->t += rng_below(rng, 3);
        for (int i = 0; i < SIM_NODES; i++)
            set_pt(&s->clk[i], s->t);
        if (r < 40 && s->nmsg > 0) {
            /* Deliver some due message: a random pick reorders messages. */
            size_t mi = (size_t)rng_below(rng, s->nmsg);

            if (s->msg[mi].deliver_at <= s->t) {
                sim_deliver(s, mi);
                continue;
            }
        }
        tt_hlc stamp = hlc_now(&s->h[node]);

        sim_record(s, node, stamp);
        if (r < 75) {
            struct sim_msg *m = &s->msg[s->nmsg++];

            m->to = (node + 1 + (int)rng_below(rng, SIM_NODES - 1)) % SIM_NODES;
            m->deliver_at = s->t + rng_below(rng, 40);
            m->stamp = stamp;
            memcpy(m->vc, s->vc[node], sizeof(m->vc));
        }
    }
    /* Drain what is still in flight, late. */
    while (s->nmsg > 0) {
        s->t += 1;
        for (int i = 0; i < SIM_NODES; i++)
            set_pt(&s->clk[i], s->t);
        sim_deliver(s, s->nmsg - 1);
    }
}

/* a happened before b iff b's vector clock has seen a's own event. */
static int sim_hb(const struct sim_event *a, const struct sim_event *b)
{
    return a != b && a->vc[a->node] <= b->vc[a->node];
}

static void test_hlc_sim_happened_before(void **state)
{
    uint64_t seeds[8];
    size_t nseeds = test_seeds(seeds, 8);

    (void)state;
    for (size_t si = 0; si < nseeds; si++) {
        uint64_t rng = seeds[si];
        struct sim *s = calloc(1, sizeof(*s));
        size_t hb = 0, concurrent = 0;

        print_message("simulation: seed %llu\n", (unsigned long long)seeds[si]);
        assert_non_null(s);
        /* Every step makes at most one event and one message, and each message one event. */
        s->ev = calloc(2 * SIM_STEPS, sizeof(*s->ev));
        s->msg = calloc(SIM_STEPS, sizeof(*s->msg));
        assert_non_null(s->ev);
        assert_non_null(s->msg);
        sim_run(s, &rng);
        /* All pairs, about 18 M per seed. Events are recorded in true-time
         * order, so b (later) happening before a (earlier) would be a bug of
         * the simulation itself. */
        for (size_t i = 0; i < s->nev; i++) {
            for (size_t j = i + 1; j < s->nev; j++) {
                const struct sim_event *a = &s->ev[i], *b = &s->ev[j];

                if (sim_hb(b, a))
                    fail_msg("seed %llu: simulation recorded %zu before %zu",
                             (unsigned long long)seeds[si], j, i);
                if (!sim_hb(a, b)) {
                    concurrent++;
                    continue;
                }
                hb++;
                if (a->stamp >= b->stamp) {
                    print_message("seed %llu: event %zu -> %zu but hlc %llx >= %llx\n",
                                  (unsigned long long)seeds[si], i, j, (unsigned long long)a->stamp,
                                  (unsigned long long)b->stamp);
                    fail();
                }
            }
        }
        /* The simulation must exercise both relations, or it proves nothing. */
        print_message("  %zu events, %zu hb pairs, %zu concurrent, max skew gap %lld ms\n", s->nev,
                      hb, concurrent, (long long)s->max_gap_ms);
        assert_true(hb > s->nev * 10);
        assert_true(concurrent > s->nev);
        for (int i = 0; i < SIM_NODES; i++) {
            assert_int_equal(s->h[i].overflows, 0);
            assert_int_equal(s->h[i].rejected, 0);
        }
        free(s->ev);
        free(s->msg);
        free(s);
    }
}

/* ---- 3. threads ------------------------------------------------------------- */

#define MT_THREADS 4
#define MT_CALLS   100000

struct mt_arg {
    struct hlc *h;
    struct clock_fake *clk;
    tt_hlc *out;
    uint64_t seed;
};

static void *mt_worker(void *p)
{
    struct mt_arg *a = p;
    uint64_t rng = a->seed;

    for (int i = 0; i < MT_CALLS; i++) {
        /* Keep the physical clock moving so the counter cannot saturate. */
        if (i % 1000 == 999)
            clock_fake_advance(a->clk, TT_NS_PER_MS);
        if (i % 7 == 3) {
            uint64_t pt = (uint64_t)(clock_now_ns(&a->clk->clock) / TT_NS_PER_MS);
            tt_hlc remote = hlc_pack(pt, (uint32_t)rng_below(&rng, 500));

            if (hlc_recv(a->h, remote, &a->out[i]) != 0)
                a->out[i] = 0; /* caught by the ordering check */
        } else {
            a->out[i] = hlc_now(a->h);
        }
    }
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return (a > b) - (a < b);
}

static void test_hlc_threads_unique(void **state)
{
    struct clock_fake clk;
    struct hlc h;
    pthread_t th[MT_THREADS];
    struct mt_arg args[MT_THREADS];
    tt_hlc *all = calloc((size_t)MT_THREADS * MT_CALLS, sizeof(*all));

    (void)state;
    assert_non_null(all);
    clock_fake_init(&clk, (int64_t)BASE_MS * TT_NS_PER_MS);
    hlc_init(&h, &clk.clock, 0);
    for (int t = 0; t < MT_THREADS; t++) {
        args[t] = (struct mt_arg){ &h, &clk, all + (size_t)t * MT_CALLS, (uint64_t)t + 99 };
        assert_int_equal(pthread_create(&th[t], NULL, mt_worker, &args[t]), 0);
    }
    for (int t = 0; t < MT_THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < MT_THREADS; t++) {
        const tt_hlc *o = args[t].out;

        assert_true(o[0] > 0);
        for (int i = 1; i < MT_CALLS; i++) {
            if (o[i] <= o[i - 1]) {
                print_message("thread %d call %d: %llx after %llx\n", t, i,
                              (unsigned long long)o[i], (unsigned long long)o[i - 1]);
                fail();
            }
        }
    }
    qsort(all, (size_t)MT_THREADS * MT_CALLS, sizeof(*all), cmp_u64);
    for (size_t i = 1; i < (size_t)MT_THREADS * MT_CALLS; i++) {
        if (all[i] == all[i - 1]) {
            print_message("duplicate stamp %llx\n", (unsigned long long)all[i]);
            fail();
        }
    }
    /* The last stamp handed out is the largest one. */
    assert_int_equal(hlc_peek(&h), all[(size_t)MT_THREADS * MT_CALLS - 1]);
    assert_int_equal(h.overflows, 0);
    assert_int_equal(h.rejected, 0);
    free(all);
}

/* The _after variants: the tick is after a floor kept outside the clock (a
 * thread's own last stamp), in the same CAS. */
static void test_hlc_after_floor(void **state)
{
    (void)state;
    struct clock_fake f;
    struct hlc h;
    clock_fake_init(&f, 1000 * TT_NS_PER_MS);
    hlc_init(&h, &f.clock, 100);
    tt_hlc floor = hlc_pack(1005, 7); /* ahead of the clock's state and of pt */
    tt_hlc s = hlc_now_after(&h, floor, 1000);
    assert_int_equal(hlc_l(s), 1005);
    assert_int_equal(hlc_c(s), 8);
    assert_int_equal(hlc_peek(&h), s);
    /* A floor behind the state changes nothing: plain local tick. */
    s = hlc_now_after(&h, hlc_pack(10, 0), 1000);
    assert_int_equal(s, hlc_pack(1005, 9));
    /* Receive with a floor: max(c, c_m) + 1 over state, floor and remote. */
    tt_hlc out = 0;
    assert_int_equal(hlc_recv_after(&h, hlc_pack(1005, 20), hlc_pack(1005, 3), 1000, &out), 0);
    assert_int_equal(out, hlc_pack(1005, 21));
    /* Remote beyond the max offset: rejected, counted, still after the floor. */
    assert_int_equal(hlc_recv_after(&h, hlc_pack(1005, 30), hlc_pack(1200, 0), 1000, &out),
                     TT_ECLOCK);
    assert_int_equal(out, hlc_pack(1005, 31));
    assert_int_equal(atomic_load_explicit(&h.rejected, memory_order_relaxed), 1);
}

UNIT_TESTS(cmocka_unit_test(test_hlc_table), cmocka_unit_test(test_hlc_after_floor),
           cmocka_unit_test(test_hlc_step_pure), cmocka_unit_test(test_hlc_clamp),
           cmocka_unit_test(test_hlc_system_clock), cmocka_unit_test(test_hlc_monotonic_random_pt),
           cmocka_unit_test(test_hlc_sim_happened_before),
           cmocka_unit_test(test_hlc_threads_unique))
