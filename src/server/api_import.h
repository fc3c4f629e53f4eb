/*
 * api_import.h - POST /api/v1/import/prometheus: Prometheus text exposition
 * with optional millisecond timestamps (what VictoriaMetrics accepts at the
 * same path), streamed into the TSDB head, any size.
 *
 * The rule for bad input (nothing half-applied silently): the body is parsed
 * as it arrives and committed to the head in batches of
 * API_IMPORT_BATCH_SAMPLES. At the first malformed line the uncommitted
 * batch is rolled back and the answer is 400 naming the line, the column and
 * what was wrong, and saying how many samples (all from lines before the
 * batch that failed) were imported before it. A request without errors is
 * answered 204 when every sample was applied, or 200 with a JSON summary when
 * some were refused (too old for the out-of-order window, or another value at
 * a timestamp already stored), with their counts. Samples without a
 * timestamp get the time the request arrived. Labels are stored exactly as
 * sent (no job or instance added).
 */
#ifndef TT_API_IMPORT_H
#define TT_API_IMPORT_H

#include <stdint.h>

struct server;
struct server_store;

#define API_IMPORT_BATCH_SAMPLES (256u << 10)
#define API_IMPORT_MAX_BODY      ((uint64_t)64 << 30) /* 64 GiB: "any size" within reason */

/* api_import_register adds the import route to srv, appending to the head of
 * store (borrowed: it must outlive the server; 503 while the head opens).
 * Returns 0 or TT_ENOMEM/TT_EINVAL. */
int api_import_register(struct server *srv, struct server_store *store);

#endif
