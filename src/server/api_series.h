/*
 * api_series.h - the Prometheus metadata API over the TSDB head:
 * /api/v1/series (match[] required), /api/v1/labels and
 * /api/v1/label/<name>/values (match[] optional), with start and end.
 */
#ifndef TT_API_SERIES_H
#define TT_API_SERIES_H

struct server;
struct server_store;

/* api_series_register adds the three routes to srv, reading the head of
 * store (borrowed: it must outlive the server; 503 while the head opens).
 * Returns 0 or TT_ENOMEM/TT_EINVAL. */
int api_series_register(struct server *srv, struct server_store *store);

#endif
