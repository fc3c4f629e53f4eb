/*
 * api_snapshot.h - consistent snapshots and cuts of the state logs over
 * HTTP (query/causal/cuts.h; docs/server.md):
 *   GET /api/tt/snapshot?at=T[&log=L]  every node's variables at T
 *   GET /api/tt/cuts?start=T1&end=T2[&log=L][&limit=N][&full=1]
 *       the cuts of [T1, T2] one change at a time, as JSON lines
 * T: an HLC (16 hex digits, or "L.C": milliseconds and count), or a time
 * (RFC 3339, Unix seconds, or Unix milliseconds) meaning the HLC (ms, 0).
 * Requests read the state log with its ordinary searches: ingest goes on.
 */
#ifndef TT_SERVER_API_SNAPSHOT_H
#define TT_SERVER_API_SNAPSHOT_H

#include <stdint.h>
#include "server/server.h"
#include "store/events/evstore.h"

struct api_snapshot;

/* api_snapshot_register adds the two routes to srv. Returns 0 with *out
 * (free with api_snapshot_free after the server stopped), TT_ENOMEM, or a
 * server_add_route error. */
int api_snapshot_register(struct server *srv, struct api_snapshot **out);

/* api_snapshot_attach makes requests read the state log st (borrowed;
 * NULL detaches: requests get 503). */
void api_snapshot_attach(struct api_snapshot *a, struct evstore *st);

void api_snapshot_free(struct api_snapshot *a);

/* api_snapshot_parse_at reads T (see above) into an HLC. Returns 0 or
 * TT_ESYNTAX. */
int api_snapshot_parse_at(const char *s, uint64_t *hlc);

#endif
