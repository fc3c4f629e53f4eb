/*
 * flush.h - the flusher thread: drains every thread's ring into records,
 * resolves state changes' previous values in HLC order, adds the metrics and
 * loss reports, and appends batches to the spool.
 */
#ifndef TT_LIB_FLUSH_H
#define TT_LIB_FLUSH_H

struct tt_ctx;

/* tt_flush_start allocates the flusher's state and starts its thread.
 * Returns 0, TT_ENOMEM or TT_ESYS. */
int tt_flush_start(struct tt_ctx *ctx);
/* tt_flush_stop drains everything one last time, stops and joins the thread
 * and frees its state. */
void tt_flush_stop(struct tt_ctx *ctx);
/* tt_flush_wake asks the flusher to run a cycle soon (never blocks long). */
void tt_flush_wake(struct tt_ctx *ctx);
/* tt_flush_wait runs a full flush and waits for it; returns 0 or TT_EIO if
 * writing failed. */
int tt_flush_wait(struct tt_ctx *ctx);
/* tt_flush_forget frees the flusher's state in a forked child, where the
 * flusher thread does not exist. */
void tt_flush_forget(struct tt_ctx *ctx);

#endif
