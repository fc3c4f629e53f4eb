/*
 * spanstatsbench.c - figures of the span analytics (spanstats.h): writes N
 * spans (default 1,000,000; 12 attributes, 6 services x 3 operations,
 * traces of 4 to 12 spans interleaved as concurrent requests are) spread
 * over one hour into a span store, then times, each the median of several
 * runs:
 *   stats over the whole hour by operation and by service (summaries
 *   merged), over a 10-minute window inside it (two edge blocks decoded),
 *   for one service; the same hour by decoding every span (what the
 *   summaries save); the 20 slowest spans and traces of the hour;
 * and reports the summary files' size against the segments', and the open
 * time with the summaries and when they must be rebuilt.
 *
 * Usage: spanstatsbench DIR [NSPANS]. Prints "figure value unit" lines.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "store/spans/spanstats.h"
#include "store/spans/spanstore.h"
#include "telltale.h"

static uint64_t rs = 0x9e3779b97f4a7c15ull;
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

#define RUNS 9

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static uint64_t file_bytes(const char *dir, const char *ext)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t total = 0;
    char p[4096];
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        struct stat sb;
        if (l < 4 || strcmp(e->d_name + l - 4, ext) != 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) == 0)
            total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

static void remove_sums(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4096];
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".sum") == 0) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d != NULL)
        closedir(d);
}

/* stats_ms times spanstats_latency (median of RUNS); *rows, *summ, *dec
 * from the last run. */
static double stats_ms(struct spanstore *ss, const struct spanstats_query *q, size_t *rows,
                       uint64_t *summ, uint64_t *dec, uint64_t *count)
{
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        struct spanstats_result res;
        spanstats_result_init(&res);
        double t0 = now_s();
        if (spanstats_latency(ss, q, &res) != 0)
            exit(1);
        t[r] = (now_s() - t0) * 1e3;
        *rows = res.n;
        *summ = res.blocks_summarised;
        *dec = res.blocks_decoded;
        *count = 0;
        for (size_t i = 0; i < res.n; i++)
            *count += res.rows[i].sk.count;
        spanstats_result_release(&res);
    }
    return median(t, RUNS);
}

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
        fprintf(stderr, "usage: spanstatsbench DIR [NSPANS]\n");
        return 2;
    }
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    struct spanstore *ss;
    struct spanstore_options o;
    char err[512];
    memset(&o, 0, sizeof o);
    if (spanstore_open(&ss, argv[1], &o, err, sizeof err) != 0) {
        fprintf(stderr, "spanstatsbench: %s\n", err);
        return 1;
    }
    enum { OPEN = 256 };
    struct {
        uint8_t id[16];
        uint64_t last;
        int left;
    } tr[OPEN];
    memset(tr, 0, sizeof tr);
    const int64_t hour = (int64_t)3600 * 1000000000;
    int64_t t0 = (int64_t)1700000000 * 1000000000, step = hour / (int64_t)n;
    char url[128], peer[32], uid[32];
    struct span_attr a[12];
    struct span_row r;
    double w0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        int k = (int)(rnd() % OPEN);
        if (tr[k].left == 0) {
            uint64_t x = rnd(), y = rnd();
            memcpy(tr[k].id, &x, 8);
            memcpy(tr[k].id + 8, &y, 8);
            tr[k].left = 4 + (int)(rnd() % 9);
            tr[k].last = 0;
        }
        int sv = (int)(rnd() % 6), op = (int)(rnd() % 3);
        memset(&r, 0, sizeof r);
        memcpy(r.trace_id, tr[k].id, 16);
        r.span_id = rnd();
        r.parent_id = tr[k].last;
        tr[k].last = r.span_id;
        tr[k].left--;
        r.start_ns = t0 + (int64_t)i * step + (int64_t)(rnd() % 1000000);
        r.duration_ns = 50000 + rnd() % (rnd() % 10 == 0 ? 2000000000 : 20000000);
        r.status = rnd() % 100 == 0 ? TT_STATUS_ERROR : TT_STATUS_UNSET;
        r.kind = 1;
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
            fprintf(stderr, "spanstatsbench: %s\n", err);
            return 1;
        }
    }
    if (spanstore_commit(ss, 1, 1, err, sizeof err) != 0) {
        fprintf(stderr, "spanstatsbench: %s\n", err);
        return 1;
    }
    double w1 = now_s();
    struct spanstore_stats st;
    spanstore_get_stats(ss, &st);
    printf("ingest_with_summaries_spans_per_s %.0f spans/s\n", n / (w1 - w0));
    uint64_t seg = file_bytes(argv[1], ".seg"), sum = file_bytes(argv[1], ".sum");
    printf("summary_bytes_per_span %.2f bytes (%.2f %% of the segments' %.1f bytes/span)\n",
           (double)sum / st.spans, 100.0 * sum / seg, (double)seg / st.spans);
    spanstore_close(ss);
    double o0 = now_s();
    if (spanstore_open(&ss, argv[1], &o, err, sizeof err) != 0)
        return 1;
    printf("open_ms %.1f ms (%" PRIu64 " spans, %" PRIu64 " blocks)\n", (now_s() - o0) * 1e3,
           st.spans, st.blocks);

    size_t rows;
    uint64_t summ, dec, cnt;
    struct spanstats_query q = { NULL, NULL, t0, t0 + hour, 1 };
    double ms = stats_ms(ss, &q, &rows, &summ, &dec, &cnt);
    printf("stats_1h_by_operation_ms %.2f ms (%zu rows, %" PRIu64 " spans, %" PRIu64
           " blocks summarised, %" PRIu64 " decoded)\n",
           ms, rows, cnt, summ, dec);
    q.by_operation = 0;
    ms = stats_ms(ss, &q, &rows, &summ, &dec, &cnt);
    printf("stats_1h_by_service_ms %.2f ms (%zu rows)\n", ms, rows);
    q.by_operation = 1;
    q.start_ns = t0 + hour / 3 + 12345;
    q.end_ns = q.start_ns + hour / 6;
    ms = stats_ms(ss, &q, &rows, &summ, &dec, &cnt);
    printf("stats_10m_window_ms %.2f ms (%" PRIu64 " spans, %" PRIu64 " blocks summarised, %" PRIu64
           " decoded)\n",
           ms, cnt, summ, dec);
    q = (struct spanstats_query){ "payment", NULL, t0, t0 + hour, 1 };
    ms = stats_ms(ss, &q, &rows, &summ, &dec, &cnt);
    printf("stats_1h_one_service_ms %.2f ms (%zu rows)\n", ms, rows);

    /* What the summaries save: the same hour by decoding every block. */
    double t[RUNS];
    for (int k = 0; k < 3; k++) {
        struct spanstore_reader rd;
        struct spanstats_result res;
        spanstats_result_init(&res);
        spanstore_reader_init(&rd);
        double a0 = now_s();
        uint64_t c = 0;
        spanstore_rdlock(ss);
        for (size_t i = 0; i < spanstore_nblocks(ss); i++) {
            struct span_row s;
            if (spanstore_block_open(ss, i, &rd) != 0)
                continue;
            while (spanblock_next(&rd.rd, &s, err, sizeof err) == 1)
                c += s.duration_ns > 0;
        }
        spanstore_rdunlock(ss);
        t[k] = (now_s() - a0) * 1e3;
        spanstore_reader_release(&rd);
        spanstats_result_release(&res);
        if (c == 0)
            return 1;
    }
    printf("decode_every_span_1h_ms %.1f ms (the work the summaries avoid)\n", median(t, 3));

    struct spanstats_slow_query sq = { NULL, NULL, t0, t0 + hour, 20 };
    uint64_t visited = 0;
    for (int k = 0; k < RUNS; k++) {
        struct spanstats_span *sp;
        size_t ns;
        double a0 = now_s();
        if (spanstats_slowest_spans(ss, &sq, &sp, &ns, &visited) != 0)
            return 1;
        t[k] = (now_s() - a0) * 1e3;
        spanstats_spans_free(sp, ns);
    }
    printf("slowest_spans_1h_ms %.2f ms (%" PRIu64 " of %" PRIu64 " blocks decoded)\n",
           median(t, RUNS), visited, st.blocks);
    for (int k = 0; k < 3; k++) {
        struct spanstats_trace *tt;
        size_t nt;
        double a0 = now_s();
        if (spanstats_slowest_traces(ss, &sq, &tt, &nt) != 0)
            return 1;
        t[k] = (now_s() - a0) * 1e3;
        spanstats_traces_free(tt, nt);
    }
    printf("slowest_traces_1h_ms %.1f ms\n", median(t, 3));
    spanstore_close(ss);

    remove_sums(argv[1]);
    o0 = now_s();
    if (spanstore_open(&ss, argv[1], &o, err, sizeof err) != 0)
        return 1;
    printf("open_rebuilding_summaries_ms %.1f ms\n", (now_s() - o0) * 1e3);
    spanstore_close(ss);
    return 0;
}
