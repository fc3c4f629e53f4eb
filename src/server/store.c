/*
 * store.c - wires the TSDB head into the server: registers the APIs that read
 * and write it, exports its figures on /metrics, opens it (WAL replay) after
 * the HTTP server is listening and publishes it when done.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "server/store.h"
#include "core/buf.h"
#include "server/api_import.h"
#include "server/api_query.h"
#include "server/api_series.h"
#include "server/head_storage.h"
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

/* The head's figures for /metrics. */
static void collect(void *ctx, struct wbuf *out)
{
    struct head *h = server_store_head(ctx);
    if (!h)
        return;
    struct head_stats s;
    head_stats(h, &s);
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

int server_store_init(struct server_store *st, struct server *srv)
{
    memset(st, 0, sizeof *st);
    atomic_store(&st->head, NULL);
    head_storage_init(&st->storage, st);
    int rc = api_import_register(srv, st);
    if (rc == 0)
        rc = api_query_register(srv, &st->storage);
    if (rc == 0)
        rc = api_series_register(srv, st);
    if (rc == 0)
        rc = remote_write_register(srv, st);
    if (rc == 0)
        rc = metrics_add_collector(server_metrics(srv), collect, st);
    return rc;
}

int server_store_open(struct server_store *st, const char *data_dir,
                      void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg,
                      struct head_replay_stats *rs, char *err, size_t errlen)
{
    struct head_options o;
    head_options_default(&o);
    o.progress = progress;
    o.progress_arg = arg;
    struct head *h = NULL;
    int rc = head_open(&h, data_dir, &o, rs, err, errlen);
    if (rc != 0)
        return rc;
    atomic_store_explicit(&st->head, h, memory_order_release);
    return 0;
}

int server_store_close(struct server_store *st)
{
    struct head *h = atomic_exchange(&st->head, NULL);
    return h ? head_close(h) : 0;
}
