/*
 * tvpair.h - growing a pair of parallel arrays of sample times (int64 ms)
 * and values (double), the shape every reader and writer of samples keeps:
 * the head's scratch, the store's merged reads, the in-memory PromQL store.
 */
#ifndef TT_CORE_TVPAIR_H
#define TT_CORE_TVPAIR_H

#include <stddef.h>
#include <stdint.h>

/* tvpair_grow makes room for need samples in *ts and *vs (both of capacity
 * *cap, NULL when 0): capacity doubles from first (at least 1) until it
 * reaches need. Returns 0, or TT_ENOMEM with both arrays still valid (one may
 * have grown) and *cap unchanged. The caller owns and frees the arrays. */
int tvpair_grow(int64_t **ts, double **vs, size_t *cap, size_t need, size_t first);

#endif
