/*
 * hlc.c - Hybrid Logical Clock (Kulkarni, Demirbas et al., "Logical Physical
 * Clocks", OPODIS 2014). Design note: docs/design/hlc.md.
 *
 * The whole state is one 64-bit word, l << 16 | c, so a tick is a pure
 * function of (state, physical time, remote stamp) followed by one CAS.
 * Invariants kept here:
 *   - every successful tick stores a state >= the one it replaced, and > it
 *     unless the counter is saturated (then the stamp repeats, counted);
 *   - the counter never carries into l: at HLC_C_MAX it sticks;
 *   - physical times beyond 48 bits of milliseconds are clamped to HLC_L_MAX;
 *   - a remote stamp with l_m > pt + max_offset_ms never reaches the state.
 */
#include <stdatomic.h>
#include "core/hlc.h"

#define HLC_DEFAULT_MAX_OFFSET_MS 500u

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* The physical time in ms as the HLC sees it: before 1970 reads as 0. */
static uint64_t pt_from_clock(const struct tt_clock *clock)
{
    int64_t ns = clock_now_ns(clock);

    return ns < 0 ? 0 : (uint64_t)(ns / TT_NS_PER_MS);
}

void hlc_init(struct hlc *h, const struct tt_clock *clock, uint32_t max_offset_ms)
{
    atomic_init(&h->state, 0);
    h->clock = clock ? clock : &clock_system;
    h->max_offset_ms = max_offset_ms ? max_offset_ms : HLC_DEFAULT_MAX_OFFSET_MS;
    atomic_init(&h->rejected, 0);
    atomic_init(&h->overflows, 0);
}

tt_hlc hlc_step(tt_hlc cur, uint64_t pt_ms, int is_recv, tt_hlc remote, int *overflow)
{
    uint64_t l = hlc_l(cur), c = hlc_c(cur);
    uint64_t nl, nc;

    /* A 48-bit l lasts until the year 10889; clamping keeps a broken clock
     * from corrupting the counter bits. */
    if (pt_ms > HLC_L_MAX)
        pt_ms = HLC_L_MAX;
    if (!is_recv) {
        nl = max_u64(l, pt_ms);
        nc = nl == l ? c + 1 : 0;
    } else {
        uint64_t lm = hlc_l(remote), cm = hlc_c(remote);

        nl = max_u64(max_u64(l, lm), pt_ms);
        if (nl == l && nl == lm)
            nc = max_u64(c, cm) + 1;
        else if (nl == l)
            nc = c + 1;
        else if (nl == lm)
            nc = cm + 1;
        else
            nc = 0;
    }
    /* Carrying into l would push the clock ahead of physical time for no
     * reason other than load; instead the counter sticks and the caller counts. */
    if (overflow)
        *overflow = nc > HLC_C_MAX;
    if (nc > HLC_C_MAX)
        nc = HLC_C_MAX;
    return hlc_pack(nl, (uint32_t)nc);
}

/* One CAS loop for both rules. pt is read once by the caller: on a lost race
 * the step is recomputed from the winner's state with the same pt, which is
 * still a valid reading (the max() keeps l monotonic). */
static tt_hlc tick_after(struct hlc *h, tt_hlc floor, uint64_t pt_ms, int is_recv, tt_hlc remote)
{
    uint64_t cur = atomic_load_explicit(&h->state, memory_order_acquire);
    tt_hlc next;
    int overflow;

    do {
        next = hlc_step(cur > floor ? cur : floor, pt_ms, is_recv, remote, &overflow);
    } while (!atomic_compare_exchange_weak_explicit(&h->state, &cur, next, memory_order_acq_rel,
                                                    memory_order_acquire));
    if (overflow)
        atomic_fetch_add_explicit(&h->overflows, 1, memory_order_relaxed);
    return next;
}

static tt_hlc tick(struct hlc *h, uint64_t pt_ms, int is_recv, tt_hlc remote)
{
    return tick_after(h, 0, pt_ms, is_recv, remote);
}

tt_hlc hlc_now_after(struct hlc *h, tt_hlc floor, uint64_t pt_ms)
{
    if (pt_ms > HLC_L_MAX)
        pt_ms = HLC_L_MAX;
    return tick_after(h, floor, pt_ms, 0, 0);
}

int hlc_recv_after(struct hlc *h, tt_hlc floor, tt_hlc remote, uint64_t pt_ms, tt_hlc *out)
{
    if (pt_ms > HLC_L_MAX)
        pt_ms = HLC_L_MAX;
    int rc = 0;
    int is_recv = 1;
    if (hlc_l(remote) > pt_ms + h->max_offset_ms) {
        atomic_fetch_add_explicit(&h->rejected, 1, memory_order_relaxed);
        rc = TT_ECLOCK;
        is_recv = 0;
    }
    tt_hlc next = tick_after(h, floor, pt_ms, is_recv, remote);
    if (out)
        *out = next;
    return rc;
}

tt_hlc hlc_now_pt(struct hlc *h, uint64_t pt_ms)
{
    return tick(h, pt_ms, 0, 0);
}

tt_hlc hlc_now(struct hlc *h)
{
    return tick(h, pt_from_clock(h->clock), 0, 0);
}

int hlc_recv_pt(struct hlc *h, tt_hlc remote, uint64_t pt_ms, tt_hlc *out)
{
    tt_hlc next;

    if (pt_ms > HLC_L_MAX)
        pt_ms = HLC_L_MAX;
    /* No overflow: pt_ms < 2^48 and max_offset_ms < 2^32. */
    if (hlc_l(remote) > pt_ms + h->max_offset_ms) {
        atomic_fetch_add_explicit(&h->rejected, 1, memory_order_relaxed);
        /* The message still arrived, so the event gets a stamp: a local one. */
        next = tick(h, pt_ms, 0, 0);
        if (out)
            *out = next;
        return TT_ECLOCK;
    }
    next = tick(h, pt_ms, 1, remote);
    if (out)
        *out = next;
    return 0;
}

int hlc_recv(struct hlc *h, tt_hlc remote, tt_hlc *out)
{
    return hlc_recv_pt(h, remote, pt_from_clock(h->clock), out);
}

tt_hlc hlc_peek(struct hlc *h)
{
    return atomic_load_explicit(&h->state, memory_order_acquire);
}
