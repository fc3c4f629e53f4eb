/*
 * loglin.c - log-linear bucket indexes computed from the IEEE-754 bits.
 *
 * A positive double is 2^e * (1 + m / 2^52) with the biased exponent in bits
 * 52..62 and the mantissa m in bits 0..51, so as an unsigned integer its bits
 * grow with the value, and (bits >> (52 - p)) is e * 2^p plus the top p
 * mantissa bits: the linear sub-bucket within the power of two. Subtracting
 * the bits of LOGLIN_MIN first makes indexes start at 1 for [2^-30, 2^-29).
 * Going back, bucket k's lower bound is the double whose bits are those of
 * LOGLIN_MIN plus (k - 1) << (52 - p); the upper bound is the next bucket's
 * lower bound (a mantissa carry into the exponent lands exactly on the next
 * power of two). No loops, no log(), no division.
 *
 * Invariants: loglin_index is monotonic (non-decreasing in v for v >= 0, odd
 * in v), and |loglin_index| <= LOGLIN_MAX_INDEX(p).
 */
#include "core/loglin.h"
#include "core/buf.h"

#include <string.h>

#define MANT_BITS 52
#define EXP_BIAS  1023
#define ABS_MASK  0x7fffffffffffffffULL
#define INF_BITS  0x7ff0000000000000ULL
#define MIN_BITS  ((uint64_t)(EXP_BIAS + LOGLIN_MIN_EXP) << MANT_BITS)
#define MAX_BITS  ((uint64_t)(EXP_BIAS + LOGLIN_MAX_EXP) << MANT_BITS)

static int clamp_p(int p)
{
    return p < LOGLIN_P_MIN ? LOGLIN_P_MIN : p > LOGLIN_P_MAX ? LOGLIN_P_MAX : p;
}

int32_t loglin_index(double v, int p)
{
    uint64_t bits = f64_bits(v);
    uint64_t a = bits & ABS_MASK;

    /* Zero, denormals, tiny values and NaN (whose bits exceed infinity's). */
    if (a < MIN_BITS || a > INF_BITS)
        return 0;
    if (a >= MAX_BITS)
        a = MAX_BITS - 1;
    int32_t idx = (int32_t)((a - MIN_BITS) >> (MANT_BITS - p)) + 1;
    return (bits >> 63) ? -idx : idx;
}

/* Lower bound of positive bucket k (1 <= k <= LOGLIN_MAX_INDEX(p) + 1; the
 * last value gives the upper bound of the outermost bucket, LOGLIN_MAX). */
static double pos_lower(uint32_t k, int p)
{
    return f64_from_bits(MIN_BITS + ((uint64_t)(k - 1) << (MANT_BITS - p)));
}

/* |index| clamped into [0, LOGLIN_MAX_INDEX(p)], computed without overflow
 * for INT32_MIN. */
static uint32_t abs_index(int32_t index, int p)
{
    uint32_t k = index < 0 ? 0u - (uint32_t)index : (uint32_t)index;
    uint32_t max = (uint32_t)LOGLIN_MAX_INDEX(p);
    return k > max ? max : k;
}

double loglin_lower(int32_t index, int p)
{
    p = clamp_p(p);
    uint32_t k = abs_index(index, p);
    if (k == 0)
        return 0.0;
    double lo = pos_lower(k, p);
    return index < 0 ? -lo : lo;
}

double loglin_upper(int32_t index, int p)
{
    p = clamp_p(p);
    uint32_t k = abs_index(index, p);
    double hi = pos_lower(k + 1, p);
    return index < 0 ? -hi : hi;
}

double loglin_mid(int32_t index, int p)
{
    p = clamp_p(p);
    uint32_t k = abs_index(index, p);
    if (k == 0)
        return 0.0;
    /* Both bounds share the exponent or the upper is the next power of two;
     * either way their mean is exact in binary floating point. */
    double mid = (pos_lower(k, p) + pos_lower(k + 1, p)) * 0.5;
    return index < 0 ? -mid : mid;
}
