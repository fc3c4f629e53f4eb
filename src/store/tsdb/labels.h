/*
 * labels.h - label sets and the symbol table that interns their strings.
 *
 * A label set is an array of (name, value) pairs of NUL-terminated UTF-8
 * strings. A *normalized* set (what the index stores and hands out) is sorted
 * by name in byte order, has unique non-empty names and no empty value: as in
 * Prometheus, a label whose value is empty is the same as no label at all.
 * `struct labels` never owns its strings; it points at interned strings (from a
 * struct symtab, valid as long as the table) or at the caller's memory.
 *
 * The symbol table maps strings to dense uint32 ids and back. Strings live in
 * an arena for the table's whole lifetime (no refcounts): they never move and
 * are never freed one by one, so a `const char *` from symtab_str() stays valid
 * until symtab_release(). A head that drops many series reclaims the memory of
 * their strings by building a new index (see docs/design/tsdb.md, "Index").
 */
#ifndef TT_TSDB_LABELS_H
#define TT_TSDB_LABELS_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* The metric name is the label of this name. */
#define LABELS_METRIC_NAME "__name__"
/* Longest name or value the symbol table accepts (TT_ETOOBIG beyond). */
#define LABELS_STR_MAX (1u << 20)

struct label {
    const char *name;
    const char *value;
};

struct labels {
    struct label *v; /* owned array; the strings are borrowed */
    size_t n;
    size_t cap;
};

/* labels_init makes an empty set (no allocation). */
void labels_init(struct labels *ls);
/* labels_release frees the array (not the strings); ls may be reused after
 * labels_init. */
void labels_release(struct labels *ls);
/* labels_reset empties ls, keeping its array. */
void labels_reset(struct labels *ls);
/* labels_push appends (name, value), borrowing both pointers. Returns 0 or
 * TT_ENOMEM. The set is not normalized afterwards; call labels_normalize. */
int labels_push(struct labels *ls, const char *name, const char *value);
/* labels_normalize sorts ls by name and drops labels with an empty value.
 * Returns 0, or TT_EINVAL for an empty name or a name given twice (ls is then
 * sorted but otherwise unspecified). */
int labels_normalize(struct labels *ls);
/* labels_is_normalized: 1 when ls is sorted by name with unique non-empty
 * names and no empty value, else 0. O(n). */
int labels_is_normalized(const struct labels *ls);
/* labels_get returns the value of name in a normalized set, or NULL. */
const char *labels_get(const struct labels *ls, const char *name);
/* labels_cmp orders normalized sets as Prometheus does: pair by pair, name
 * then value in byte order; a set that is a prefix of the other is smaller.
 * Returns <0, 0 or >0. */
int labels_cmp(const struct labels *a, const struct labels *b);
/* labels_equal: 1 when a and b hold the same pairs in the same order. */
int labels_equal(const struct labels *a, const struct labels *b);
/* labels_hash hashes a normalized set (names, values and their boundaries)
 * with a seed: equal sets give equal hashes for the same seed. Not stable
 * across versions: never persist it. */
uint64_t labels_hash(const struct labels *ls, uint64_t seed);
/* labels_hash_bytes is the string hash labels_hash and the symbol table use. */
uint64_t labels_hash_bytes(const void *p, size_t n, uint64_t seed);

/* labels_format appends the canonical form of a normalized set,
 * `{a="b",c="d"}` (`{}` when empty), to out. Values are escaped as in the
 * Prometheus text format (\\, \" and \n); a name that is not a legacy
 * identifier [a-zA-Z_][a-zA-Z0-9_]* is quoted the same way, as Prometheus 3
 * does. Errors are out's sticky error. */
void labels_format(const struct labels *ls, struct wbuf *out);
/* labels_format_metric appends Prometheus's metric-name-first form:
 * `name{a="b"}`, just `name` when it is the only label, and the canonical
 * form when there is no __name__. A metric name that is not a legacy metric
 * name [a-zA-Z_:][a-zA-Z0-9_:]* goes quoted inside the braces:
 * `{"my.metric",a="b"}`. */
void labels_format_metric(const struct labels *ls, struct wbuf *out);

/* ---- symbol table ---------------------------------------------------------
 * Not thread-safe by itself: the index guards it with its locks. Reads of
 * strings already returned need no lock (they never move). */
struct symtab {
    struct sym *syms; /* by id */
    uint32_t nsyms, capsyms;
    uint32_t *table; /* open addressing: id + 1, 0 = empty; power of two */
    uint32_t tabcap;
    char **blocks; /* arena blocks */
    size_t nblocks, capblocks;
    size_t block_used, block_size; /* of the last block */
    size_t arena_bytes;            /* sum of block sizes */
    uint64_t seed;
};

/* symtab_init makes an empty table hashing with seed. Allocates nothing. */
void symtab_init(struct symtab *st, uint64_t seed);
/* symtab_release frees every string and the table. */
void symtab_release(struct symtab *st);
/* symtab_intern returns in *id the id of s[0..n), adding a copy when new.
 * Returns 0, TT_ENOMEM, TT_ETOOBIG (n > LABELS_STR_MAX) or TT_EFULL (2^32-2
 * symbols). s may hold no NUL byte (TT_EINVAL). */
int symtab_intern(struct symtab *st, const char *s, size_t n, uint32_t *id);
/* symtab_find looks s[0..n) up without adding it: 0 or TT_ENOTFOUND. */
int symtab_find(const struct symtab *st, const char *s, size_t n, uint32_t *id);
/* symtab_str returns the NUL-terminated string of id (< symtab_count), valid
 * until symtab_release. */
const char *symtab_str(const struct symtab *st, uint32_t id);
/* symtab_len returns the length of id's string. */
size_t symtab_len(const struct symtab *st, uint32_t id);
/* symtab_count returns how many strings the table holds. */
static inline uint32_t symtab_count(const struct symtab *st)
{
    return st->nsyms;
}
/* symtab_bytes returns the memory the table holds (arena, arrays, table). */
size_t symtab_bytes(const struct symtab *st);

#endif
