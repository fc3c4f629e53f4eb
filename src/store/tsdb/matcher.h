/*
 * matcher.h - label matchers: name="v", name!="v", name=~"re", name!~"re".
 *
 * Regexes are PCRE2 (UTF mode, `.` matches newlines too) and fully anchored as
 * in Prometheus: a pattern re matches a value exactly when "^(?s:re)$" would,
 * so "foo" does not match "foobar". The anchoring is done with PCRE2's
 * ANCHORED and ENDANCHORED options (and DOLLAR_ENDONLY), not by pasting text
 * around the pattern, so an unbalanced pattern such as "a)|(b" is rejected
 * rather than silently unanchored, and error offsets point into the pattern
 * as written. The code is JIT-compiled when PCRE2 has a JIT for this machine.
 *
 * Cheaper checks stand in for the regex where they give the same answer
 * (tested against plain PCRE2 on random strings): a pattern without
 * metacharacters is an equality ("foo\.bar" is the literal "foo.bar"); an
 * alternation of literals ("a|b|c", also inside one outer group) is a set
 * lookup; ".*" matches everything and ".+" every non-empty value; "lit.*" is
 * a prefix check; otherwise a literal prefix and suffix of the pattern are
 * checked before the regex runs. Values are expected to be valid UTF-8, as
 * Prometheus requires: on invalid UTF-8 the fast paths treat stray bytes as
 * characters (as Go's regexp does) where PCRE2 would not match them.
 *
 * Empty values: a series without label `a` is treated as having a="" (as in
 * Prometheus), so a matcher that matches "" (a="", a!="x", a=~"x|", a!~".+")
 * also selects series without the label. matcher_matches_empty tells which.
 *
 * A matcher holds PCRE2 match scratch space: use one matcher from one thread
 * at a time (compile one per query; compiling is cheap).
 */
#ifndef TT_TSDB_MATCHER_H
#define TT_TSDB_MATCHER_H

#include <stddef.h>
#include <stdint.h>

enum matcher_type {
    MATCH_EQ,  /* =  */
    MATCH_NEQ, /* != */
    MATCH_RE,  /* =~ */
    MATCH_NRE, /* !~ */
};

/* matcher_new flags. */
#define MATCHER_PLAIN 1u /* no fast paths: always run PCRE2 (tests, debugging) */

struct matcher;

/* matcher_new compiles a matcher of type on label name with value (the
 * literal for = and !=, the pattern for =~ and !~). name and value are
 * copied. Returns 0 with *out set (free with matcher_free), TT_EINVAL for a
 * NULL/empty name or unknown type, TT_ENOMEM, or TT_ESYNTAX for a pattern PCRE2
 * rejects: then errbuf (errlen bytes, may be 0) gets PCRE2's message and the
 * byte offset in the pattern, e.g. "missing closing parenthesis at offset 4". */
int matcher_new(struct matcher **out, enum matcher_type type, const char *name, const char *value,
                unsigned flags, char *errbuf, size_t errlen);
/* matcher_free frees m (NULL is fine). */
void matcher_free(struct matcher *m);

/* matcher_matches: 1 when value s[0..n) satisfies m (the matcher's negation
 * included), else 0. A regex that hits PCRE2's match limit counts as no
 * match. Uses m's scratch space: one thread at a time. */
int matcher_matches(struct matcher *m, const char *s, size_t n);
/* matcher_matches_empty: 1 when m matches the empty value, i.e. also selects
 * series that lack the label. */
int matcher_matches_empty(const struct matcher *m);
/* matcher_matches_all_nonempty: 1 when m is known to match every non-empty
 * value (a!="", a=~".+", a=~".*", a!~""), so no value needs testing. */
int matcher_matches_all_nonempty(const struct matcher *m);

/* matcher_set: when the values m is about (matches for =/=~, or rejects for
 * !=/!~) form a known finite set (=, !=, a literal regex, an alternation of
 * literals), returns their count and points *vals and *lens at m's own arrays
 * (valid while m lives); the set may contain "". Otherwise returns -1. For
 * MATCH_EQ/MATCH_RE the matcher matches exactly the set; for
 * MATCH_NEQ/MATCH_NRE exactly the values outside it. */
long matcher_set(const struct matcher *m, const char *const **vals, const size_t **lens);

enum matcher_type matcher_type(const struct matcher *m);
/* matcher_name / matcher_value return m's own NUL-terminated copies. */
const char *matcher_name(const struct matcher *m);
const char *matcher_value(const struct matcher *m);
/* matcher_is_jit: 1 when m's regex runs JIT-compiled code. */
int matcher_is_jit(const struct matcher *m);

#endif
