/*
 * evload.c - loads synthetic events into an events store (src/store/events/)
 * and times searches: `evload DIR [EVENTS]` (default 1,000,000). Events
 * come in batches of 100 from 50 nodes over one day, with 20 components,
 * 100 names, messages from 12 templates with numbers and ids in them, and
 * three attributes. Prints ingest rate, bytes per event on disk, and the
 * latency of each search (median of 5 runs) with blocks read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/batch.h"
#include "core/record.h"
#include "store/events/evstore.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const tmpl[] = {
    "connection to %s refused after %u ms",      "request %u took %u ms (slow)",
    "disk /dev/sd%c usage at %u percent",        "user %u logged in from 10.0.%u.%u",
    "configuration reloaded, %u keys changed",   "cache miss ratio %u percent over 5 minutes",
    "job %u finished with exit code %u",         "certificate for %s expires in %u days",
    "queue depth %u above threshold %u",         "retrying upstream %s (attempt %u)",
    "garbage collection paused %u ms, freed %u", "health check of %s failed: timeout %u s",
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: evload DIR [EVENTS]\n");
        return 2;
    }
    long total = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
    char err[512];
    struct evstore_config c = { .dir = argv[1] };
    struct evstore *st = NULL;
    if (evstore_open(&st, &c, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    const int64_t t0 = 1800000000ll * 1000000000;
    const int64_t span = 86400ll * 1000000000;
    struct wbuf raw, kv, bb;
    wbuf_init(&raw, 0);
    wbuf_init(&kv, 0);
    wbuf_init(&bb, 0);
    double start = now_s();
    uint64_t seq[50] = { 0 };
    long done = 0;
    int batches = 0;
    while (done < total) {
        int node = (int)(rnd() % 50);
        char origin[64];
        int ol = snprintf(origin, sizeof origin, "node-%02d%capp/%d", node, 0, node * 7);
        wbuf_reset(&raw);
        int n = 100;
        int64_t bt = t0 + (int64_t)((double)done / (double)total * (double)span);
        for (int i = 0; i < n; i++) {
            char comp[32], name[32], msg[160], host[32];
            snprintf(comp, sizeof comp, "comp%02u", (unsigned)(rnd() % 20));
            unsigned ni = (unsigned)(rnd() % 100);
            snprintf(name, sizeof name, "app.event%02u", ni);
            snprintf(host, sizeof host, "db-%u.internal", (unsigned)(rnd() % 30));
            const char *tp = tmpl[ni % 12];
            /* The templates are this file's own, checked by eye. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            if (strstr(tp, "%s"))
                snprintf(msg, sizeof msg, tp, host, (unsigned)(rnd() % 5000));
            else if (strstr(tp, "%c"))
                snprintf(msg, sizeof msg, tp, 'a' + (int)(rnd() % 8), (unsigned)(rnd() % 100));
            else
                snprintf(msg, sizeof msg, tp, (unsigned)(rnd() % 100000), (unsigned)(rnd() % 1000),
                         (unsigned)(rnd() % 255));
            wbuf_reset(&kv);
            struct rec_value v1 = { .type = TT_VAL_STR, .u.s = { host, (uint32_t)strlen(host) } };
            rec_kv_put(&kv, "host", 4, &v1);
            struct rec_value v2 = { .type = TT_VAL_INT, .u.i = (int64_t)(rnd() % 1000) };
            rec_kv_put(&kv, "code", 4, &v2);
            char rid[24];
            snprintf(rid, sizeof rid, "r%012llx", (unsigned long long)(rnd() & 0xffffffffffffull));
            struct rec_value v3 = { .type = TT_VAL_STR, .u.s = { rid, (uint32_t)strlen(rid) } };
            rec_kv_put(&kv, "request_id", 10, &v3);
            uint64_t r = rnd() % 100;
            struct rec_event e = { .severity = r < 40   ? 2
                                               : r < 70 ? 1
                                               : r < 85 ? 3
                                               : r < 95 ? 4
                                               : r < 99 ? 5
                                                        : 6,
                                   .component = { comp, (uint32_t)strlen(comp) },
                                   .name = { name, (uint32_t)strlen(name) },
                                   .message = { msg, (uint32_t)strlen(msg) },
                                   .attrs = { 3, kv.data, (uint32_t)kv.len, 0 } };
            rec_put_event(&raw, (tt_hlc)(bt / 1000000) << 16, bt + (int64_t)i * 1000, &e);
        }
        struct batch_hdr h;
        memset(&h, 0, sizeof h);
        h.count = (uint32_t)n;
        h.origin_id = 1000 + (uint64_t)node;
        h.first_seq = seq[node];
        seq[node] += (uint64_t)n;
        h.origin = origin;
        h.origin_len = (uint16_t)ol;
        if (evstore_add_batch(st, &h, raw.data, raw.len, err, sizeof err) < 0) {
            fprintf(stderr, "add: %s\n", err);
            return 1;
        }
        done += n;
        if (++batches % 100 == 0 && evstore_commit(st, 1, (uint64_t)batches, err, sizeof err)) {
            fprintf(stderr, "commit: %s\n", err);
            return 1;
        }
    }
    if (evstore_commit(st, 1, (uint64_t)batches + 1, err, sizeof err)) {
        fprintf(stderr, "commit: %s\n", err);
        return 1;
    }
    double el = now_s() - start;
    struct evstore_stats s;
    evstore_get_stats(st, &s);
    printf("loaded %llu events in %.2f s (%.0f events/s); %llu blocks, %llu segments, %llu bytes "
           "on disk = %.1f bytes/event\n",
           (unsigned long long)s.events, el, (double)s.events / el, (unsigned long long)s.blocks,
           (unsigned long long)s.segments, (unsigned long long)s.bytes,
           (double)s.bytes / (double)s.events);
    struct {
        const char *what;
        struct evstore_query q;
    } qs[12];
    size_t nq = 0;
#define Q(label) (evstore_query_init(&qs[nq].q), qs[nq].what = (label), &qs[nq++].q)
    Q("newest 100, no filter");
    Q("node=node-07")->node = "node-07";
    struct evstore_query *q = Q("severity>=critical");
    q->min_severity = 6;
    q = Q("name=app.event42 severity>=warning");
    q->name = "app.event42";
    q->min_severity = 4;
    q = Q("kv host=db-7.internal");
    q->kv[0] = (struct evstore_kv){ "host", "db-7.internal" };
    q->nkv = 1;
    q = Q("kv request_id=<one id> (rare)");
    q->kv[0] = (struct evstore_kv){ "request_id", "r000000000000" };
    q->nkv = 1;
    q = Q("text 'refused' (common)");
    q->text = "refused";
    q = Q("text 'expires 17 days' (rare)");
    q->text = "expires 17 days";
    q = Q("text 'nosuchword' (none)");
    q->text = "nosuchword";
    q = Q("time: one hour in the middle, limit 1000");
    q->start_ns = t0 + span / 2;
    q->end_ns = t0 + span / 2 + 3600ll * 1000000000;
    q->limit = 1000;
    q = Q("node=node-03 component=comp04 'disk'");
    q->node = "node-03";
    q->component = "comp04";
    q->text = "disk";
    for (size_t i = 0; i < nq; i++) {
        double best[5];
        struct evstore_result r;
        for (int k = 0; k < 5; k++) {
            double a = now_s();
            if (evstore_search(st, &qs[i].q, &r, err, sizeof err) != 0) {
                fprintf(stderr, "search: %s\n", err);
                return 1;
            }
            best[k] = now_s() - a;
            if (k < 4)
                evstore_result_release(&r);
        }
        for (int x = 0; x < 5; x++)
            for (int y = x + 1; y < 5; y++)
                if (best[y] < best[x]) {
                    double t = best[x];
                    best[x] = best[y];
                    best[y] = t;
                }
        printf("%-42s %8.2f ms  hits %5zu%s  blocks read %6llu of %llu, events scanned %llu\n",
               qs[i].what, best[2] * 1e3, r.n, r.more ? "+" : " ",
               (unsigned long long)r.blocks_read, (unsigned long long)r.blocks_total,
               (unsigned long long)r.events_scanned);
        evstore_result_release(&r);
    }
    /* Deep pagination: 50 pages of 100 without a filter. */
    struct evstore_query pq;
    evstore_query_init(&pq);
    double a = now_s();
    for (int p = 0; p < 50; p++) {
        struct evstore_result r;
        if (evstore_search(st, &pq, &r, err, sizeof err) != 0 || r.n == 0)
            break;
        pq.has_after = 1;
        pq.after_time_ns = r.hits[r.n - 1].ev.time_ns;
        pq.after_id = r.hits[r.n - 1].ev.id;
        evstore_result_release(&r);
    }
    printf("50 pages of 100 following tokens: %.2f ms per page\n", (now_s() - a) * 1e3 / 50);
    evstore_close(st);
    wbuf_release(&raw);
    wbuf_release(&kv);
    wbuf_release(&bb);
    return 0;
}
