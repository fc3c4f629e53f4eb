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

#define LOGLIN_P_MIN 1
#define LOGLIN_P_MAX 7
#define LOGLIN_P_DEFAULT 4

/* loglin_index returns the bucket index of v for precision p (p in
 * [LOGLIN_P_MIN, LOGLIN_P_MAX]). NaN maps to 0. */
int32_t loglin_index(double v, int p);
/* loglin_lower / loglin_upper: the bucket's bounds (|lower| <= |v| < |upper|). */
double loglin_lower(int32_t index, int p);
double loglin_upper(int32_t index, int p);
/* loglin_mid: the representative value reported for the bucket. */
double loglin_mid(int32_t index, int p);

#endif
