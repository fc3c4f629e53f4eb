/*
 * index.h - the head's in-memory series index: label sets -> dense series
 * ids, inverted postings, matcher selection, label name/value listing.
 *
 * Series ids are dense uint32s handed out in creation order (0, 1, 2, ...),
 * so every postings list is a sorted array that only grows at its end, and
 * the all-series postings is the range [0, index_series_count). A series is
 * never removed: the head drops series by building a new index from the
 * series it keeps (see docs/design/tsdb.md, "Index").
 *
 * Stored label sets are normalized (labels.h): sorted by name, no empty
 * values. The index keeps one postings list per (name, value) pair and one
 * per label name (every series that has the label).
 *
 * Thread-safety: any number of readers (lookup, select, listing) and writers
 * (get-or-create) may call concurrently; writers are serialized by a writer
 * mutex, and the data readers see is guarded by a writer-preferring rwlock.
 * Readers hold the read lock only while they copy postings or value lists
 * out (memcpy speed), never while they run regexes or set operations, so a
 * long query delays the writer by at most the copy of the lists it reads.
 * A writer holds the write lock only to publish one new series (O(labels)
 * amortized); looking up an existing series, the ingest fast path, takes the
 * writer mutex only. Strings handed out (label sets, names, values) are
 * interned and stay valid until index_free.
 */
#ifndef TT_TSDB_INDEX_H
#define TT_TSDB_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include "store/tsdb/labels.h"
#include "store/tsdb/matcher.h"

/* Most labels one series may have (TT_ETOOBIG beyond). */
#define INDEX_LABELS_MAX 1024

/* ---- postings: sorted, duplicate-free arrays of series ids ----------------- */

struct postings {
    uint32_t *ids; /* owned */
    size_t n;
    size_t cap;
};

void postings_init(struct postings *p);
void postings_release(struct postings *p);
/* postings_reserve makes room for n ids in total: 0 or TT_ENOMEM. */
int postings_reserve(struct postings *p, size_t n);
/* postings_push appends id, which must be greater than the last: 0,
 * TT_EINVAL (out of order) or TT_ENOMEM. */
int postings_push(struct postings *p, uint32_t id);

/* Set operations on sorted, duplicate-free arrays. Each replaces out's
 * contents with the result (sorted, duplicate-free); out must not share
 * memory with a or b. Skewed sizes use galloping (exponential then binary
 * search of the larger list), so intersecting 10 ids with 1 M costs about
 * 10 * log(1 M / 10) steps. Return 0 or TT_ENOMEM. */
int postings_intersect(struct postings *out, const uint32_t *a, size_t na, const uint32_t *b,
                       size_t nb);
int postings_union(struct postings *out, const uint32_t *a, size_t na, const uint32_t *b,
                   size_t nb);
/* postings_difference: a minus b. */
int postings_difference(struct postings *out, const uint32_t *a, size_t na, const uint32_t *b,
                        size_t nb);
/* postings_intersects: 1 when a and b share an id (stops at the first). */
int postings_intersects(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* One matcher's part in postings_combine: the ids it accepts (neg 0) or
 * rejects (neg 1); skip 1 when it constrains nothing. */
struct postings_term {
    struct postings *set;
    int neg, skip;
};

/* postings_combine writes into out the intersection of the positive terms'
 * sets (smallest first; [0, universe) when there is none) minus every
 * negative term's set: the selection rule of index_select and block_select.
 * Positive sets may be moved from (left empty). Returns 0 or TT_ENOMEM (out
 * is then empty). */
int postings_combine(struct postings *out, struct postings_term *t, size_t n, uint32_t universe);

/* ---- the index -------------------------------------------------------------- */

struct index;

/* A list of interned strings returned by the listing calls: v[0..n) sorted in
 * byte order; the array is the caller's (index_strs_release), the strings
 * the index's. */
struct index_strs {
    const char **v;
    size_t n;
};
void index_strs_release(struct index_strs *s);

/* Memory the index holds, by part (capacities, not just what is used). */
struct index_stats {
    uint32_t series;
    uint32_t symbols;
    uint32_t pairs; /* distinct (name, value) */
    uint32_t names;
    size_t symbols_bytes;  /* interned strings and the symbol table */
    size_t series_bytes;   /* label sets, their positions, the series hash table */
    size_t postings_bytes; /* postings arrays per pair and per name */
    size_t tables_bytes;   /* pairs, names, their hash tables, value lists */
    size_t total_bytes;
};

/* index_new makes an empty index: 0, TT_ENOMEM or TT_ESYS (lock init). */
int index_new(struct index **out);
/* index_free frees idx and every string it handed out (NULL is fine). No
 * other thread may be using it. */
void index_free(struct index *idx);

/* index_get_or_create returns in *id the id of the series with label set ls,
 * creating it when new (*created, if not NULL, says which). ls must be
 * normalized and non-empty (TT_EINVAL otherwise); its strings are copied
 * (interned). Other errors: TT_ENOMEM, TT_ETOOBIG (more than
 * INDEX_LABELS_MAX labels or a string over LABELS_STR_MAX), TT_EFULL (ids
 * exhausted). On error nothing is published: readers never see a series with
 * only some of its postings. */
int index_get_or_create(struct index *idx, const struct labels *ls, uint32_t *id, int *created);
/* index_lookup finds an existing series: 0 with *id, or TT_ENOTFOUND. ls must
 * be normalized (an unnormalized set is simply not found). */
int index_lookup(struct index *idx, const struct labels *ls, uint32_t *id);
/* index_series_count: how many series exist (ids are 0..count-1). */
uint32_t index_series_count(struct index *idx);
/* index_series_labels replaces out's contents with series id's labels
 * (interned strings, valid until index_free): 0, TT_ENOTFOUND or TT_ENOMEM. */
int index_series_labels(struct index *idx, uint32_t id, struct labels *out);

/* index_postings copies the postings of name=value into out (empty when the
 * pair is unknown). value "" gives the series without the label. */
int index_postings(struct index *idx, const char *name, const char *value, struct postings *out);
/* index_name_postings copies the ids of the series that have label name. */
int index_name_postings(struct index *idx, const char *name, struct postings *out);

/* index_select puts into out the sorted ids of the series every matcher
 * accepts, with Prometheus's rule that a missing label has the empty value
 * (so {a=""} selects the series without a, {a!="x"} also those without a).
 * With no matcher every series is selected; refusing selectors that match
 * everything is the query layer's business. The matchers are used from this
 * thread only (matcher.h). The result is a consistent snapshot: series
 * created during the call are either wholly in or out of it. Returns 0 or
 * TT_ENOMEM. */
int index_select(struct index *idx, struct matcher *const *ms, size_t nms, struct postings *out);

/* index_label_names lists the label names of the selected series (all series
 * when nms is 0), sorted, each once. 0 or TT_ENOMEM. */
int index_label_names(struct index *idx, struct matcher *const *ms, size_t nms,
                      struct index_strs *out);
/* index_label_values lists the values label name takes in the selected
 * series (all when nms is 0), sorted, each once ("" never appears). 0 or
 * TT_ENOMEM. */
int index_label_values(struct index *idx, const char *name, struct matcher *const *ms, size_t nms,
                       struct index_strs *out);

/* index_stats fills st with counts and memory held. */
void index_stats(struct index *idx, struct index_stats *st);

#endif
