/*
 * sketch.h - a mergeable quantile sketch for non-negative integers
 * (durations in nanoseconds), DDSketch-style: values are counted in the
 * log-linear buckets of loglin.h at precision SKETCH_P, so a quantile
 * reported from a bucket's midpoint is within SKETCH_REL_ERR of the value
 * of that rank (relative error). Count, min, max and sum are exact (the sum
 * saturates at UINT64_MAX). Bucket indexes are the same in every process,
 * so sketches merge by adding counts, and a merge equals the sketch of the
 * union exactly.
 *
 * Invariants: idx[] is strictly ascending, every cnt[] >= 1, their sum is
 * count; min and max lie in the first and last bucket.
 */
#ifndef TT_SKETCH_H
#define TT_SKETCH_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/loglin.h"

#define SKETCH_P 7
/* The bound on |reported - exact| / exact for a quantile (2^-(p+1)). */
#define SKETCH_REL_ERR     (1.0 / 256)
#define SKETCH_FORMAT      1
#define SKETCH_MAX_BUCKETS ((uint32_t)LOGLIN_MAX_INDEX(SKETCH_P) + 1)

struct sketch {
    uint64_t count;
    uint64_t sum; /* saturating */
    uint64_t min, max;
    uint32_t nb, cap;
    int32_t *idx;  /* bucket indexes, ascending (owned) */
    uint64_t *cnt; /* values per bucket (owned) */
};

/* sketch_init makes s empty; sketch_release frees its buckets (s may be
 * reused after sketch_init); sketch_reset empties it keeping the memory. */
void sketch_init(struct sketch *s);
void sketch_release(struct sketch *s);
void sketch_reset(struct sketch *s);

/* sketch_add counts value v once. Returns 0 or TT_ENOMEM (s unchanged). */
int sketch_add(struct sketch *s, uint64_t v);

/* sketch_merge adds every value of src to dst (src unchanged; they may not
 * be the same sketch). Returns 0 or TT_ENOMEM (dst unchanged). */
int sketch_merge(struct sketch *dst, const struct sketch *src);

/* sketch_index: the bucket index of value v (what sketch_add counts it in). */
int32_t sketch_index(uint64_t v);

/* sketch_set_buckets replaces s's contents with n dense bucket counts
 * starting at index lo (zero counts skipped) and the given exact count,
 * sum, min and max (callers accumulating many sketches into a dense array
 * make the result this way). Returns 0, TT_EINVAL (the counts do not add
 * up to count, or lo is out of range; s then empty) or TT_ENOMEM. */
int sketch_set_buckets(struct sketch *s, int32_t lo, const uint64_t *cnt, uint32_t n,
                       uint64_t count, uint64_t sum, uint64_t min, uint64_t max);

/* sketch_quantile returns the value at quantile q (0..1; clamped) - the
 * midpoint of the bucket holding the value of rank floor(q * (count - 1)),
 * kept within [min, max]; q = 0 and q = 1 give min and max exactly. An
 * empty sketch gives 0. */
uint64_t sketch_quantile(const struct sketch *s, double q);

/* sketch_mean: sum / count (0 when empty). */
double sketch_mean(const struct sketch *s);

/* sketch_encode appends s's compact form to out (docs/design/spans.md,
 * "Summaries"); errors are out's sticky error. */
void sketch_encode(const struct sketch *s, struct wbuf *out);

/* sketch_decode reads one encoded sketch from r into s (emptied first).
 * Returns 0 or TT_ECORRUPT (a short or inconsistent encoding; the reason
 * in err, s then empty) or TT_ENOMEM. */
int sketch_decode(struct sketch *s, struct rbuf *r, char *err, size_t errlen);

#endif
