/*
 * store.c - wires the metric store (db.h) into the server: registers the
 * APIs that read and write it, exports its figures on /metrics, opens it
 * (blocks, WAL replay) after the HTTP server is listening and publishes it
 * when done; POST /api/tt/admin/flush seals the head into blocks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "server/store.h"
#include "core/buf.h"
#include "server/api_import.h"
#include "server/api_query.h"
#include "server/api_series.h"
#include "core/log.h"
#include "server/db_storage.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/metrics_self.h"
#include "server/remote_write.h"
#include "server/server.h"
#include "store/tsdb/head.h"
#include "telltale.h"

static void put_metric(struct wbuf *out, const char *name, const char *type, const char *help,
                       uint64_t v)
{
    char line[512];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help,
                     name, type, name, v);
    if (n > 0 && (size_t)n < sizeof line)
        wbuf_put(out, line, (size_t)n);
}

/* The store's figures for /metrics. */
static void collect(void *ctx, struct wbuf *out)
{
    struct db *d = server_store_db(ctx);
    if (!d)
        return;
    struct head_stats s;
    head_stats(db_head(d), &s);
    struct db_stats ds;
    db_stats(d, &ds);
    put_metric(out, "telltale_tsdb_blocks", "gauge", "Persisted blocks.", ds.blocks);
    put_metric(out, "telltale_tsdb_block_bytes", "gauge", "Bytes of the blocks on disk.",
               ds.block_bytes);
    put_metric(out, "telltale_tsdb_block_samples", "gauge", "Samples held by the blocks.",
               ds.block_samples);
    put_metric(out, "telltale_tsdb_block_cuts_total", "counter", "Blocks cut from the head.",
               ds.cuts);
    put_metric(out, "telltale_tsdb_compactions_total", "counter", "Compactions done.",
               ds.compactions);
    put_metric(out, "telltale_tsdb_blocks_expired_total", "counter",
               "Blocks deleted by retention (age or size).", ds.expired);
    put_metric(out, "telltale_tsdb_maintenance_failures_total", "counter",
               "Block cuts or compactions that failed (see the log).", ds.failures);
    put_metric(out, "telltale_tsdb_rollup_selects_total", "counter",
               "Long-range selections answered from stored rollups.", ds.rollup_selects);
    put_metric(out, "telltale_tsdb_rollup_raw_selects_total", "counter",
               "Long-range selections rolled up from raw samples (head or overlapping blocks).",
               ds.rollup_fallback);
    put_metric(out, "telltale_tsdb_blocks_damaged", "gauge",
               "Blocks skipped at start-up because they could not be read.", ds.bad_blocks);
    put_metric(out, "telltale_tsdb_head_series", "gauge", "Series in the head.", s.series);
    put_metric(out, "telltale_tsdb_head_samples_appended_total", "counter",
               "Samples committed to the head.", s.samples_appended);
    put_metric(out, "telltale_tsdb_head_out_of_order_samples_total", "counter",
               "Out-of-order samples accepted inside the window.", s.ooo_accepted);
    put_metric(out, "telltale_tsdb_head_too_old_samples_total", "counter",
               "Samples refused: older than the out-of-order window.", s.ooo_rejected);
    put_metric(out, "telltale_tsdb_head_duplicate_samples_total", "counter",
               "Exact duplicate samples ignored.", s.duplicates);
    put_metric(out, "telltale_tsdb_head_conflicting_samples_total", "counter",
               "Samples refused: another value at a stored timestamp.", s.conflicts);
    put_metric(out, "telltale_tsdb_head_commits_total", "counter", "Append batches committed.",
               s.commits);
    put_metric(out, "telltale_tsdb_head_chunks", "gauge", "Chunks in the head.", s.chunks);
    put_metric(out, "telltale_tsdb_head_memory_bytes", "gauge",
               "Bytes the head holds (chunks, series, index).", s.memory_bytes);
    put_metric(out, "telltale_tsdb_wal_disk_bytes", "gauge", "Bytes of WAL segments on disk.",
               s.wal.disk_bytes);
    put_metric(out, "telltale_tsdb_wal_appends_total", "counter", "WAL appends.", s.wal.appends);
    put_metric(out, "telltale_tsdb_wal_fsyncs_total", "counter", "WAL fdatasync calls.",
               s.wal.syncs);
    put_metric(out, "telltale_tsdb_wal_write_errors_total", "counter",
               "WAL appends refused because a write failed (disk full, I/O error).",
               s.wal.write_errors);
}

/* POST /api/tt/admin/flush: every sample of the head into blocks, then
 * compaction and retention; answers when done with what was done. */
static int handle_flush(struct http_req *req, void *ctx)
{
    struct db *d = server_store_db(ctx);
    if (!d)
        return http_respond_error(req, 503, NULL, "the store is opening (WAL replay)");
    struct db_maint_stats ms;
    char err[512] = "";
    int rc = db_flush(d, &ms, err, sizeof err);
    if (rc != 0)
        return http_respond_error(req, 500, NULL, "flush: %s", err[0] ? err : tt_strerror(rc));
    struct db_stats ds;
    db_stats(d, &ds);
    struct wbuf b;
    wbuf_init(&b, 0);
    struct json_out j;
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "blocksWritten");
    json_out_u64(&j, ms.blocks_written);
    json_out_key(&j, "samplesWritten");
    json_out_u64(&j, ms.samples_written);
    json_out_key(&j, "blocksCompacted");
    json_out_u64(&j, ms.blocks_compacted);
    json_out_key(&j, "blocksExpired");
    json_out_u64(&j, ms.blocks_expired);
    json_out_key(&j, "blocks");
    json_out_u64(&j, ds.blocks);
    json_out_key(&j, "blockBytes");
    json_out_u64(&j, ds.block_bytes);
    json_out_key(&j, "blockSamples");
    json_out_u64(&j, ds.block_samples);
    json_out_object_end(&j);
    json_out_success_end(&j);
    http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return 0;
}

int server_store_init(struct server_store *st, struct server *srv)
{
    memset(st, 0, sizeof *st);
    atomic_store(&st->db, NULL);
    st->log = server_log(srv);
    db_storage_init(&st->storage, st);
    st->query.st = &st->storage;
    int rc = api_import_register(srv, st);
    if (rc == 0)
        rc = api_query_register(srv, &st->query);
    if (rc == 0)
        rc = api_series_register(srv, st);
    if (rc == 0)
        rc = remote_write_register(srv, st);
    if (rc == 0)
        rc = metrics_add_collector(server_metrics(srv), collect, st);
    if (rc == 0) {
        struct http_route r = { .method = "POST",
                                .pattern = "/api/tt/admin/flush",
                                .handler = handle_flush,
                                .flags = HTTP_ROUTE_FORM,
                                .ctx = st };
        rc = server_add_route(srv, &r);
    }
    return rc;
}

static void store_log(void *arg, const char *msg)
{
    struct server_store *st = arg;
    if (st->log != NULL)
        log_warn(st->log, msg);
}

int server_store_open(struct server_store *st, const char *data_dir, const struct db_options *o,
                      struct db_open_stats *os, char *err, size_t errlen)
{
    struct db *d = NULL;
    int rc = db_open(&d, data_dir, o, store_log, st, os, err, errlen);
    if (rc != 0)
        return rc;
    atomic_store_explicit(&st->db, d, memory_order_release);
    return 0;
}

int server_store_close(struct server_store *st)
{
    struct db *d = atomic_exchange(&st->db, NULL);
    return d ? db_close(d) : 0;
}
