/*
 * spanbench.c - the span store's figures (BENCH.md `spans`): writes N
 * typical spans (12 attributes, realistic names, random ids, traces of 4 to
 * 12 spans from 6 services interleaved as concurrent requests are, over two
 * hours) into a store through spanstore_add/commit, then measures bytes per
 * span on disk, reopen time, trace-by-id latency (random stored traces) and
 * search by service + minDuration over the last hour.
 *
 * Usage: spanbench DIR [NSPANS] (default 2000000). Prints "figure value unit"
 * lines. The spans cover the two hours before now, so a server opened on
 * the store (DIR as DATA/spans; the cursor is left at the start of an empty
 * record log) keeps them under its default retention; with SPANBENCH_IDS=FILE
 * 2000 stored trace ids (hex, one a line) are written to FILE for queries
 * through the server's HTTP API, and "t0_ns" gives the spans' first start.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store/spans/spanstore.h"
#include "telltale.h"

static uint64_t rs = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct rec_str S(const char *s) {
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

static int
cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int count_fn(void *arg, const struct span_row *s)
{
    (void)s;
    (*(int *)arg)++;
    return 0;
}

#define OPEN 256

int main(int argc, char **argv)
{
    static const char *svcs[] = {
        "frontend", "checkout", "payment", "cart", "inventory", "shipping"
    };
    static const char *ops[][3] = {
        { "GET /", "GET /cart", "POST /checkout" }, { "PlaceOrder", "GetQuote", "ValidateCart" },
        { "Charge", "Refund", "Authorize" },        { "GetCart", "AddItem", "EmptyCart" },
        { "Reserve", "Release", "SELECT stock" },   { "ShipOrder", "GetQuote", "TrackParcel" }
    };
    static const char *keys[12] = { "http.method",   "http.url",  "http.status_code", "net.peer.ip",
                                    "net.peer.port", "component", "rpc.system",       "user.id",
                                    "db.system",     "thread.id", "region",           "retry" };
    if (argc < 2) {
        fprintf(stderr, "usage: spanbench DIR [NSPANS]\n");
        return 2;
    }
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000;
    struct spanstore *ss;
    struct spanstore_options o = { 0 };
    char err[512];
    /* SPANBENCH_BLOCK_SPANS and SPANBENCH_ZSTD_LEVEL try other settings */
    if (getenv("SPANBENCH_BLOCK_SPANS") != NULL)
        o.block_spans = (uint32_t)strtoul(getenv("SPANBENCH_BLOCK_SPANS"), NULL, 10);
    if (getenv("SPANBENCH_ZSTD_LEVEL") != NULL)
        o.zstd_level = (int)strtol(getenv("SPANBENCH_ZSTD_LEVEL"), NULL, 10);
    if (spanstore_open(&ss, argv[1], &o, err, sizeof err) != 0) {
        fprintf(stderr, "spanbench: %s\n", err);
        return 1;
    }
    struct {
        uint8_t id[16];
        uint64_t last;
        int left;
    } open_tr[OPEN];
    memset(open_tr, 0, sizeof open_tr);
    size_t cap_ids = n / 4 + 16, nids = 0;
    uint8_t *ids = malloc(cap_ids * 16);
    int64_t t0 = ((int64_t)time(NULL) - 7200 - 60) * 1000000000,
            span_ns = (int64_t)7200 * 1000000000 / (int64_t)n;
    char url[128], peer[32], uid[32];
    struct span_attr a[12];
    struct span_row r;
    double w0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        int k = (int)(rnd() % OPEN);
        if (open_tr[k].left == 0) {
            uint64_t x = rnd(), y = rnd();
            memcpy(open_tr[k].id, &x, 8);
            memcpy(open_tr[k].id + 8, &y, 8);
            open_tr[k].left = 4 + (int)(rnd() % 9);
            open_tr[k].last = 0;
            if (nids < cap_ids)
                memcpy(ids + 16 * nids++, open_tr[k].id, 16);
        }
        int sv = (int)(rnd() % 6), op = (int)(rnd() % 3);
        memset(&r, 0, sizeof r);
        memcpy(r.trace_id, open_tr[k].id, 16);
        r.span_id = rnd();
        r.parent_id = open_tr[k].last;
        open_tr[k].last = r.span_id;
        open_tr[k].left--;
        r.start_ns = t0 + (int64_t)i * span_ns + (int64_t)(rnd() % 1000000);
        r.duration_ns = 50000 + rnd() % (rnd() % 10 == 0 ? 2000000000 : 20000000);
        /* the start HLC as libtelltale stamps it (lib/span.c): from the same
         * clock read as the start, so the start's ms, except on a node
         * whose HLC a peer with a clock ahead pushed on (1 in 20 here, by
         * 1 to 3 ms), and a logical count for a span started in the same
         * ms as its parent or other spans (1 in 5, counts 1 to 3) */
        uint64_t hl = (uint64_t)(r.start_ns / 1000000) + (rnd() % 20 == 0 ? 1 + rnd() % 3 : 0);
        r.hlc = hl << 16 | (rnd() % 5 == 0 ? 1 + rnd() % 3 : 0);
        r.kind = (uint8_t)(1 + rnd() % 2);
        r.status = rnd() % 100 == 0 ? TT_STATUS_ERROR : TT_STATUS_UNSET;
        r.flags = 1;
        r.service = S(svcs[sv]);
        r.node = S(sv < 3 ? "web-03" : "app-11");
        r.name = S(ops[sv][op]);
        snprintf(url, sizeof url, "https://shop.example.com/api/v1/items/%" PRIu64, rnd() % 20000);
        snprintf(peer, sizeof peer, "10.1.%d.%d", (int)(rnd() % 8), (int)(rnd() % 250));
        snprintf(uid, sizeof uid, "u%06" PRIu64, rnd() % 50000);
        for (int q = 0; q < 12; q++)
            a[q].key = S(keys[q]);
        a[0].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S(op == 2 ? "POST" : "GET") };
        a[1].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S(url) };
        a[2].v = (struct rec_value){ .type = TT_VAL_INT, .u.i = rnd() % 50 ? 200 : 503 };
        a[3].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S(peer) };
        a[4].v = (struct rec_value){ .type = TT_VAL_INT, .u.i = 8080 };
        a[5].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S("grpc") };
        a[6].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S("grpc") };
        a[7].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S(uid) };
        a[8].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S("postgresql") };
        a[9].v = (struct rec_value){ .type = TT_VAL_INT, .u.i = (int64_t)(rnd() % 32) };
        a[10].v = (struct rec_value){ .type = TT_VAL_STR, .u.s = S("eu-west-1") };
        a[11].v = (struct rec_value){ .type = TT_VAL_BOOL, .u.b = 0 };
        r.attrs = a;
        r.nattrs = 12;
        if (spanstore_add(ss, &r, err, sizeof err) != 0) {
            fprintf(stderr, "spanbench: %s\n", err);
            return 1;
        }
    }
    if (spanstore_commit(ss, 0, 0, err, sizeof err) != 0) {
        fprintf(stderr, "spanbench: %s\n", err);
        return 1;
    }
    double w1 = now_s();
    struct spanstore_stats st;
    spanstore_get_stats(ss, &st);
    printf("t0_ns %" PRId64 " ns\n", t0);
    printf("store_ingest_spans_per_s %.0f spans/s\n", n / (w1 - w0));
    printf("bytes_per_span %.1f bytes\n", (double)st.bytes / st.spans);
    spanstore_close(ss);

    double o0 = now_s();
    if (spanstore_open(&ss, argv[1], &o, err, sizeof err) != 0) {
        fprintf(stderr, "spanbench: reopen: %s\n", err);
        return 1;
    }
    printf("open_ms %.1f ms (%" PRIu64 " spans, %" PRIu64 " blocks)\n", (now_s() - o0) * 1e3,
           st.spans, st.blocks);

    if (getenv("SPANBENCH_IDS") != NULL) {
        FILE *f = fopen(getenv("SPANBENCH_IDS"), "w");
        if (f == NULL) {
            fprintf(stderr, "spanbench: cannot write %s\n", getenv("SPANBENCH_IDS"));
            return 1;
        }
        for (int q = 0; q < 2000; q++) {
            const uint8_t *id = ids + 16 * (rnd() % nids);
            for (int k = 0; k < 16; k++)
                fprintf(f, "%02x", id[k]);
            fputc('\n', f);
        }
        if (fclose(f) != 0) {
            fprintf(stderr, "spanbench: cannot write %s\n", getenv("SPANBENCH_IDS"));
            return 1;
        }
    }
    enum { NQ = 2000 };
    static double lat[NQ];
    long found = 0;
    for (int q = 0; q < NQ; q++) {
        const uint8_t *id = ids + 16 * (rnd() % nids);
        int c = 0;
        double q0 = now_s();
        spanstore_trace(ss, id, count_fn, &c);
        lat[q] = (now_s() - q0) * 1e3;
        found += c;
    }
    qsort(lat, NQ, sizeof lat[0], cmp_d);
    printf("trace_by_id_p50_ms %.3f ms\n", lat[NQ / 2]);
    printf("trace_by_id_p99_ms %.3f ms (%.1f spans per trace)\n", lat[NQ * 99 / 100],
           (double)found / NQ);

    enum { NS = 30 };
    static double sl[NS];
    uint8_t out[20 * 16];
    for (int q = 0; q < NS; q++) {
        struct spanstore_query sq = { .service = svcs[q % 6],
                                      .min_duration_ns = 1000000000,
                                      .start_ns = t0 + (int64_t)3600 * 1000000000,
                                      .end_ns = t0 + (int64_t)7200 * 1000000000,
                                      .limit = 20 };
        double q0 = now_s();
        int m = spanstore_search(ss, &sq, out);
        sl[q] = (now_s() - q0) * 1e3;
        if (m < 0)
            return 1;
    }
    qsort(sl, NS, sizeof sl[0], cmp_d);
    printf("search_p50_ms %.3f ms (service + minDuration 1s over the last hour, limit 20)\n",
           sl[NS / 2]);
    spanstore_close(ss);
    free(ids);
    return 0;
}
