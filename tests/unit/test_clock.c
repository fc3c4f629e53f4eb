/* test_clock.c - the system clocks and the fake clock tests use everywhere. */
#include <pthread.h>
#include <stdint.h>
#include "unit.h"
#include "core/clock.h"

/* 2020-01-01T00:00:00Z: any sane system clock is past it. */
#define NS_2020 (INT64_C(1577836800) * TT_NS_PER_S)

static void test_clock_system(void **state)
{
    int64_t a, b, c, m1, m2;

    (void)state;
    a = clock_realtime_ns();
    b = clock_now_ns(&clock_system);
    c = clock_realtime_ns();
    assert_true(a > NS_2020);
    /* Realtime may be stepped, but not by seconds between adjacent reads. */
    assert_true(b >= a - TT_NS_PER_S && b <= c + TT_NS_PER_S);
    m1 = clock_monotonic_ns();
    m2 = clock_monotonic_ns();
    assert_true(m1 > 0);
    assert_true(m2 >= m1);
}

static void test_clock_fake_set_advance_skew(void **state)
{
    struct clock_fake f, g;
    const struct tt_clock *clk = &f.clock;

    (void)state;
    clock_fake_init(&f, 1000);
    clock_fake_init(&g, -5);
    assert_int_equal(clock_now_ns(clk), 1000);
    assert_int_equal(clock_now_ns(clk), 1000); /* time stands still */
    clock_fake_advance(&f, 250);
    assert_int_equal(clock_now_ns(clk), 1250);
    clock_fake_advance(&f, -1000); /* backwards, as after an NTP step */
    assert_int_equal(clock_now_ns(clk), 250);
    clock_fake_skew(&f, 30);
    assert_int_equal(clock_now_ns(clk), 280);
    clock_fake_skew(&f, -70); /* replaces, does not accumulate */
    assert_int_equal(clock_now_ns(clk), 180);
    clock_fake_set(&f, 5 * TT_NS_PER_S);
    assert_int_equal(clock_now_ns(clk), 5 * TT_NS_PER_S - 70);
    /* Two fakes do not share state: the callback finds its own container. */
    assert_int_equal(clock_now_ns(&g.clock), -5);
    clock_fake_skew(&g, 5);
    assert_int_equal(clock_now_ns(&g.clock), 0);
    assert_int_equal(clock_now_ns(clk), 5 * TT_NS_PER_S - 70);
}

static void test_clock_fake_wraps(void **state)
{
    struct clock_fake f;

    (void)state;
    /* Absurd values wrap instead of invoking undefined behaviour (UBSan build). */
    clock_fake_init(&f, INT64_MAX);
    clock_fake_skew(&f, 1);
    assert_int_equal(clock_now_ns(&f.clock), INT64_MIN);
    clock_fake_skew(&f, 0);
    clock_fake_advance(&f, 2);
    assert_int_equal(clock_now_ns(&f.clock), INT64_MIN + 1);
}

#define ADV_THREADS    4
#define ADV_PER_THREAD 100000

static void *advance_many(void *arg)
{
    struct clock_fake *f = arg;

    for (int i = 0; i < ADV_PER_THREAD; i++) {
        clock_fake_advance(f, 3);
        (void)clock_now_ns(&f->clock);
    }
    return NULL;
}

static void test_clock_fake_threads(void **state)
{
    struct clock_fake f;
    pthread_t th[ADV_THREADS];

    (void)state;
    clock_fake_init(&f, 7);
    for (int i = 0; i < ADV_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, advance_many, &f), 0);
    for (int i = 0; i < ADV_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    /* A non-atomic read-modify-write would lose some of the additions. */
    assert_int_equal(clock_now_ns(&f.clock), 7 + INT64_C(3) * ADV_THREADS * ADV_PER_THREAD);
}

UNIT_TESTS(cmocka_unit_test(test_clock_system), cmocka_unit_test(test_clock_fake_set_advance_skew),
           cmocka_unit_test(test_clock_fake_wraps), cmocka_unit_test(test_clock_fake_threads))
