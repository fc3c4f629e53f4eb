/*
 * loglin.h - log-linear histogram buckets (the scheme of HdrHistogram and
 * DDSketch's cousins): each power of two is split into 2^p equal linear
 * sub-buckets, so a value's bucket bounds it within a relative error of
 * 2^-(p+1) around the bucket's midpoint. The index comes straight from the
 * IEEE-754 bits (exponent and top p mantissa bits), so computing it is a few
 * instructions. Indexes are the same in every process for the same p, so
 * histograms merge by adding counts. Negative values use negative indexes,
 * zero (and |v| below LOGLIN_MIN) has index 0.
 */
#ifndef TT_LOGLIN_H
#define TT_LOGLIN_H

#include <stdint.h>

#define LOGLIN_P_MIN     1
#define LOGLIN_P_MAX     7
#define LOGLIN_P_DEFAULT 4

/* The range with full precision: LOGLIN_MIN <= |v| < LOGLIN_MAX, that is
 * [2^-30, 2^60) ~ [9.3e-10, 1.15e18]: nanoseconds expressed in seconds up to
 * byte counts in exabytes. Smaller magnitudes (and denormals, zero) share
 * index 0; larger ones (and infinities) are clamped into the outermost bucket,
 * whose bounds then do not contain them. */
#define LOGLIN_MIN_EXP (-30)
#define LOGLIN_MAX_EXP 60
#define LOGLIN_BINADES (LOGLIN_MAX_EXP - LOGLIN_MIN_EXP) /* powers of two covered */
#define LOGLIN_MIN     0x1p-30
#define LOGLIN_MAX     0x1p60
/* LOGLIN_MAX_INDEX(p): the largest index for precision p (the smallest is its
 * negation): indexes 1..2^p cover [2^-30, 2^-29), and so on upwards. */
#define LOGLIN_MAX_INDEX(p) ((int32_t)LOGLIN_BINADES << (p))

/* loglin_index returns the bucket index of v for precision p (p in
 * [LOGLIN_P_MIN, LOGLIN_P_MAX]). NaN maps to 0. */
int32_t loglin_index(double v, int p);
/* loglin_lower / loglin_upper: the bucket's bounds (|lower| <= |v| < |upper|);
 * bucket 0 is [0, LOGLIN_MIN). An index beyond +-LOGLIN_MAX_INDEX(p) is
 * treated as the outermost one, and p outside [1, 7] as the nearest valid p,
 * so any decoded input is safe to pass. */
double loglin_lower(int32_t index, int p);
double loglin_upper(int32_t index, int p);
/* loglin_mid: the representative value reported for the bucket, the middle
 * of its bounds (0 for bucket 0): for any v with LOGLIN_MIN <= |v| <
 * LOGLIN_MAX, |mid - v| <= |v| * 2^-(p+1). */
double loglin_mid(int32_t index, int p);

#endif
