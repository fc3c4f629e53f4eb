/*
 * clock.c - the system clocks and a fake clock for tests.
 *
 * Invariants: clock_system is immutable and reads CLOCK_REALTIME; a fake
 * clock's reading is always now_ns + skew_ns, both held in atomics so tests
 * may set, advance and skew it from one thread while others read it. The sum
 * wraps instead of overflowing (no undefined behaviour on absurd inputs).
 */
#include <stddef.h>
#include <stdatomic.h>
#include <time.h>
#include "core/clock.h"

static int64_t timespec_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * TT_NS_PER_S + (int64_t)ts->tv_nsec;
}

int64_t clock_realtime_ns(void)
{
    struct timespec ts;

    /* CLOCK_REALTIME cannot fail with a valid pointer on Linux. */
    clock_gettime(CLOCK_REALTIME, &ts);
    return timespec_ns(&ts);
}

int64_t clock_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return timespec_ns(&ts);
}

static int64_t system_now_ns(const struct tt_clock *clock)
{
    (void)clock;
    return clock_realtime_ns();
}

const struct tt_clock clock_system = { .now_ns = system_now_ns };

/* Adds with two's-complement wrap-around: tests may skew by anything. */
static int64_t add_wrap(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t fake_now_ns(const struct tt_clock *clock)
{
    /* clock is the first member of struct clock_fake; step back to the container. */
    const struct clock_fake *fake =
        (const struct clock_fake *)(const void *)((const char *)clock -
                                                  offsetof(struct clock_fake, clock));

    return add_wrap(atomic_load(&fake->now_ns), atomic_load(&fake->skew_ns));
}

void clock_fake_init(struct clock_fake *fake, int64_t start_ns)
{
    fake->clock.now_ns = fake_now_ns;
    atomic_init(&fake->now_ns, start_ns);
    atomic_init(&fake->skew_ns, 0);
}

void clock_fake_set(struct clock_fake *fake, int64_t now_ns)
{
    atomic_store(&fake->now_ns, now_ns);
}

void clock_fake_advance(struct clock_fake *fake, int64_t delta_ns)
{
    /* C11 defines atomic signed addition to wrap (7.17.7.5), so no CAS loop is needed. */
    atomic_fetch_add(&fake->now_ns, delta_ns);
}

void clock_fake_skew(struct clock_fake *fake, int64_t skew_ns)
{
    atomic_store(&fake->skew_ns, skew_ns);
}
