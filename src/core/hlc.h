/*
 * hlc.h - Hybrid Logical Clock (Kulkarni et al., 2014).
 *
 * A stamp is 64 bits: l (48 bits, milliseconds since the epoch) << 16 | c
 * (16-bit logical counter). Invariants: stamps handed out by one struct hlc are
 * strictly increasing (except when the counter saturates, which is counted);
 * l never falls behind the physical clock; the counter never carries into l;
 * a remote stamp more than max_offset_ms ahead of our physical clock is
 * rejected and leaves the clock unchanged (as CockroachDB does).
 * Thread-safe and lock-free: the state is one atomic word updated by CAS.
 */
#ifndef TT_HLC_H
#define TT_HLC_H

#include <stdint.h>
#include "telltale.h"
#include "core/clock.h"

#define HLC_C_MAX 0xffffu
#define HLC_L_MAX ((UINT64_C(1) << 48) - 1)

static inline tt_hlc hlc_pack(uint64_t l_ms, uint32_t c)
{
    return (l_ms << 16) | (c & 0xffffu);
}
static inline uint64_t hlc_l(tt_hlc h)
{
    return h >> 16;
}
static inline uint32_t hlc_c(tt_hlc h)
{
    return (uint32_t)(h & 0xffffu);
}

struct hlc {
    _Atomic uint64_t state;
    const struct tt_clock *clock;
    uint64_t max_offset_ms;
    _Atomic uint64_t rejected;  /* remote stamps refused (beyond max offset) */
    _Atomic uint64_t overflows; /* times the counter saturated at HLC_C_MAX */
};

/* hlc_init starts the clock at 0 (the first event takes the physical time).
 * clock is borrowed and must outlive h (NULL means &clock_system);
 * max_offset_ms 0 means the default 500. Not thread-safe: call before sharing h.
 * Physical times beyond HLC_L_MAX ms (year 10889) are clamped to HLC_L_MAX. */
void hlc_init(struct hlc *h, const struct tt_clock *clock, uint32_t max_offset_ms);

/* hlc_now: a local or send event. l' = max(l, pt); c' = c + 1 if l' == l else
 * 0. Returns the new stamp. On counter saturation the stamp repeats (c stays at
 * HLC_C_MAX, l is not advanced) and h->overflows is incremented. Lock-free:
 * one atomic load, one clock read and one CAS when uncontended. */
tt_hlc hlc_now(struct hlc *h);
/* hlc_now_pt is hlc_now with the physical time given (ms), for callers that
 * have just read the clock. */
tt_hlc hlc_now_pt(struct hlc *h, uint64_t pt_ms);

/* hlc_recv: a receive event of a message stamped remote.
 * l' = max(l, l_m, pt); c' = max(c, c_m) + 1 if l' == l == l_m, c + 1 if
 * l' == l only, c_m + 1 if l' == l_m only, else 0. Returns 0 and the new stamp
 * in *out (may be NULL), or TT_ECLOCK when l_m > pt + max_offset: then the
 * remote stamp is ignored (the clock does not move towards it),
 * h->rejected is incremented, and the event is stamped as a local tick
 * (hlc_now_pt), which is stored in *out. A remote exactly at pt + max_offset
 * is accepted. On saturation c' sticks at HLC_C_MAX and the stamp may equal
 * the previous or the remote one (counted in h->overflows). */
int hlc_recv(struct hlc *h, tt_hlc remote, tt_hlc *out);
int hlc_recv_pt(struct hlc *h, tt_hlc remote, uint64_t pt_ms, tt_hlc *out);

/* hlc_now_after and hlc_recv_after are hlc_now_pt and hlc_recv_pt as if the
 * clock's state were at least floor: the new stamp is after floor too. A
 * process whose threads keep their own last stamps (libtelltale) folds a
 * thread's stamp in this way in the same CAS. */
tt_hlc hlc_now_after(struct hlc *h, tt_hlc floor, uint64_t pt_ms);
int hlc_recv_after(struct hlc *h, tt_hlc floor, tt_hlc remote, uint64_t pt_ms, tt_hlc *out);

/* hlc_peek returns the last stamp handed out, without ticking. */
tt_hlc hlc_peek(struct hlc *h);

/* hlc_step is the pure transition function behind the above (no atomics), for
 * tests and simulations: is_recv selects the receive rule (remote is ignored
 * otherwise). pt_ms is clamped to HLC_L_MAX. The max-offset check is not part
 * of it (hlc_recv_pt does that first). Returns the new state; *overflow is set
 * to 1 on saturation, else 0 (overflow may be NULL). */
tt_hlc hlc_step(tt_hlc cur, uint64_t pt_ms, int is_recv, tt_hlc remote, int *overflow);

#endif
