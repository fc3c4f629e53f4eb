/*
 * clock.h - Telltale's one time type and a clock tests can replace.
 *
 * Time is int64_t nanoseconds since the Unix epoch (wall clock) everywhere;
 * HLC stamps are tt_hlc. Code that reads time takes a `const struct tt_clock *`
 * so tests can freeze, step and skew it (after collectd's cdtime_t).
 */
#ifndef TT_CLOCK_H
#define TT_CLOCK_H

#include <stdint.h>

#define TT_NS_PER_US INT64_C(1000)
#define TT_NS_PER_MS INT64_C(1000000)
#define TT_NS_PER_S  INT64_C(1000000000)

struct tt_clock {
    /* now_ns returns wall-clock nanoseconds since the epoch. */
    int64_t (*now_ns)(const struct tt_clock *clock);
};

/* The system's CLOCK_REALTIME (a static, immutable object). */
extern const struct tt_clock clock_system;

static inline int64_t clock_now_ns(const struct tt_clock *clock)
{
    return clock->now_ns(clock);
}

/* clock_realtime_ns reads CLOCK_REALTIME directly (the hot path's clock). */
int64_t clock_realtime_ns(void);
/* clock_monotonic_ns reads CLOCK_MONOTONIC (for intervals and timeouts). */
int64_t clock_monotonic_ns(void);

/* A fake clock for tests: time stands still until set or advanced; skew_ns is
 * added to every reading. Thread-safe (atomic reads and writes). */
struct clock_fake {
    struct tt_clock clock; /* pass &fake.clock wherever a clock is taken */
    _Atomic int64_t now_ns;
    _Atomic int64_t skew_ns;
};

/* clock_fake_init sets up a caller-owned fake clock reading start_ns, skew 0.
 * It must run before the clock is shared with other threads. */
void clock_fake_init(struct clock_fake *fake, int64_t start_ns);
/* clock_fake_set moves the fake time to now_ns (backwards too, like an NTP step). */
void clock_fake_set(struct clock_fake *fake, int64_t now_ns);
/* clock_fake_advance adds delta_ns (may be negative) atomically. */
void clock_fake_advance(struct clock_fake *fake, int64_t delta_ns);
/* clock_fake_skew replaces the skew added to every reading (not cumulative). */
void clock_fake_skew(struct clock_fake *fake, int64_t skew_ns);

#endif
