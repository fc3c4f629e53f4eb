/*
 * batch_split.h - cut one core batch that is too big for the server into
 * smaller ones without changing what it means: the same origin, the same
 * records in the same order, and the same sequence numbers (piece i covers
 * [first_seq + k_i, first_seq + k_(i+1)), the pieces together exactly the
 * batch's range), so the server's (origin, seq) deduplication sees the
 * pieces as the batch.
 *
 * Invariant: every piece is self-contained. A samples record (17) names its
 * series by batch-local refs declared by series records (16) earlier in the
 * batch, so a cut is only made where no samples record after it uses a
 * series declared before it. An agent round (series..., samples, events...)
 * can therefore be cut between its samples and its events, or between
 * events; a libtelltale batch (spans, metrics, events, states: independent
 * records) anywhere. A series-and-samples group bigger than the limit
 * cannot be cut with its seq range kept (cutting it repeats series records,
 * one record more than the range holds): the agent's batcher avoids such
 * groups by cutting rounds when it builds them (agent_batcher_split).
 */
#ifndef TT_AGENT_BATCH_SPLIT_H
#define TT_AGENT_BATCH_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* batch_split appends to out the pieces of the whole core batch at batch
 * (len bytes), each a whole batch of at most max_bytes bytes, cut as near the
 * middle as the invariant allows and again until they fit (zstd-compressed
 * when smaller, like the agent's batches), and sets *npieces. A batch that
 * already fits is copied as one piece. Returns 0; TT_ETOOBIG when a piece
 * cannot be cut further (one record, or one series/samples group, is over
 * max_bytes); TT_ECORRUPT / TT_EUNSUPPORTED when the batch or its records do
 * not decode; TT_ENOMEM. Messages in err; out may hold some pieces on
 * failure (the caller resets it). */
int batch_split(const uint8_t *batch, size_t len, size_t max_bytes, struct wbuf *out,
                size_t *npieces, char *err, size_t errlen);

#endif
