/*
 * db_storage.h - the metric store (head and blocks) as storage for the
 * PromQL engine, and the conversion of PromQL matchers into the store's
 * compiled matchers (also used by the series and label APIs).
 */
#ifndef TT_DB_STORAGE_H
#define TT_DB_STORAGE_H

#include <stddef.h>
#include "query/promql/ast.h"
#include "query/promql/engine.h"
#include "store/tsdb/db.h"
#include "store/tsdb/matcher.h"

struct server_store;

/* db_storage_init fills st so the engine reads the store (borrowed; must
 * outlive every query). Selects run db_select over the requested time range;
 * while the store is still opening they fail with TT_ESTATE. */
void db_storage_init(struct promql_storage *st, struct server_store *store);

/* store_matchers_compile compiles n PromQL matchers into out[0..n) (caller's
 * array). Returns 0, or TT_ESYNTAX with PCRE2's message in err (nothing left
 * to free), or TT_ENOMEM. Free with store_matchers_free. */
int store_matchers_compile(const struct promql_matcher *m, size_t n, struct matcher **out,
                           char *err, size_t errlen);
void store_matchers_free(struct matcher **ms, size_t n);

#endif
