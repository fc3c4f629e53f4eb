/*
 * cmd_trace.c - `telltale trace ID` prints one trace as a text waterfall,
 * and `telltale trace search --service S ...` lists the traces that match,
 * both read from a server's Jaeger query API (api_jaeger.c): the spans as a
 * tree (children under their parent in start order, spans whose parent is
 * not in the trace at the top), each with its start offset, duration,
 * service and operation and a bar placed on the trace's time line.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/cli_http.h"
#include "core/clock.h"
#include "query/traces/trace_view.h"
#include "server/api_jaeger.h"

#define DEFAULT_SERVER "http://127.0.0.1:7070"
#define MAX_BODY       (256u << 20)
#define BAR            40

void cmd_trace_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale trace [--server URL] [--raw] [--critical] TRACE_ID\n"
            "       telltale trace diff [--server URL] [--raw] TRACE_A TRACE_B\n"
            "       telltale trace search [--server URL] --service NAME [--operation NAME]\n"
            "                             [--tag KEY=VALUE]... [--min-duration D]\n"
            "                             [--max-duration D] [--since D] [--limit N]\n"
            "       telltale trace deps [--server URL] [--since D] [--json]\n"
            "       telltale trace stats|slowest ...   (latency stats, slowest spans and\n"
            "                             traces: see telltale trace stats --help)\n\n"
            "Reads traces from a Telltale server's query APIs.\n"
            "  TRACE_ID            1 to 32 hex digits: prints the trace as a waterfall, its\n"
            "                      spans placed against clock skew (by the nodes' HLCs,\n"
            "                      else fitted into the calling span); a moved span shows\n"
            "                      [skew +AMOUNT], nodes with a clock offset are listed\n"
            "  --raw               stored times, no clock-skew placement\n"
            "  --critical          mark the spans of the critical path with '*'\n"
            "  diff A B            structural and timing diff of two traces: spans matched\n"
            "                      by their service:operation path from the root, with\n"
            "                      duration deltas; '-' only in A, '+' only in B\n"
            "  search              lists matching traces, newest first: trace id, start,\n"
            "                      duration, spans, root operation\n"
            "  --server URL        the server (default %s)\n"
            "  --min-duration D, --max-duration D   span duration bounds (100ms, 1.5s)\n"
            "  --since D           only spans that started in the last D (default 1h)\n"
            "  --limit N           at most N traces (default 20)\n"
            "  deps                the service dependency graph over the last D (--since,\n"
            "                      default 1h): per edge calls, errors, the caller's latency\n"
            "                      p50/p90/p99 and bytes each way, then the node pairs;\n"
            "                      --json prints the server's answer as it is\n"
            "                      (/api/tt/dependencies, with the server side's latency)\n",
            DEFAULT_SERVER);
}

/* get fetches url and parses the JSON; NULL after printing the problem. */
static json_t *get(const char *url, long *status)
{
    return cli_http_get_json("telltale trace", url, MAX_BODY, status);
}

/* api_error prints the Jaeger error message of j, if any; 1 if there was. */
static int api_error(const json_t *j, long status)
{
    json_t *errs = json_object_get(j, "errors");
    if (status == 200 && !json_is_array(errs))
        return 0;
    const char *msg = json_string_value(json_object_get(json_array_get(errs, 0), "msg"));
    fprintf(stderr, "telltale trace: server answered %ld: %s\n", status,
            msg ? msg : "(no message)");
    return 1;
}

static int64_t jint(const json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static void fmt_us(int64_t us, char *out, size_t n)
{
    if (us >= 1000000)
        snprintf(out, n, "%.3fs", us / 1e6);
    else
        snprintf(out, n, "%.3fms", us / 1e3);
}

/* fmt_ns_signed: a signed ns amount as trace_view_fmt_ns writes it. */
static const char *fmt_ns_signed(int64_t ns, char *out, size_t n)
{
    return trace_view_fmt_ns(ns, out, n);
}

/* tt_error prints the error of a Telltale API answer; 1 if there was one. */
static int tt_error(const json_t *j, long status)
{
    if (status == 200)
        return 0;
    const char *msg = json_string_value(json_object_get(j, "error"));
    fprintf(stderr, "telltale trace: server answered %ld: %s\n", status,
            msg ? msg : "(no message)");
    return 1;
}

static void bar_of(int64_t start, int64_t dur, int64_t total, char bar[BAR + 3])
{
    int a = total > 0 ? (int)(start * BAR / total) : 0;
    int w = total > 0 ? (int)((dur * BAR + total - 1) / total) : BAR;
    if (a > BAR - 1)
        a = BAR - 1;
    if (a < 0)
        a = 0;
    if (w < 1)
        w = 1;
    if (a + w > BAR)
        w = BAR - a;
    bar[0] = '|';
    for (int k = 0; k < BAR; k++)
        bar[1 + k] = k >= a && k < a + w ? '#' : ' ';
    bar[BAR + 1] = '|';
    bar[BAR + 2] = '\0';
}

/* show_trace prints the trace from /api/tt/traces/<id>: the spans as a
 * tree in placed time (or stored, raw), each adjusted span marked with the
 * amount, the critical path marked with '*' when critical is set. */
static int show_trace(const char *server, const char *id, int raw, int critical)
{
    char url[2048];
    long status = 0;
    uint8_t tid[16];
    if (jaeger_parse_trace_id(id, tid) != 0) {
        fprintf(stderr, "telltale trace: '%s' is not a trace id (1 to 32 hex digits)\n", id);
        return CLI_USAGE;
    }
    snprintf(url, sizeof url, "%s/api/tt/traces/%s%s", server, id, raw ? "?raw=true" : "");
    json_t *j = get(url, &status);
    if (j == NULL)
        return CLI_PROBLEMS;
    if (tt_error(j, status)) {
        json_decref(j);
        return CLI_PROBLEMS;
    }
    json_t *tr = json_object_get(j, "data"), *spans = json_object_get(tr, "spans");
    json_t *nodes = json_object_get(tr, "nodes");
    int64_t t0 = jint(tr, "start_ns"), total = jint(tr, "duration_ns");
    size_t n = json_array_size(spans);
    char tot[32], off[32], dur[32], amt[32], bar[BAR + 3], label[256];
    fmt_us(total / 1000, tot, sizeof tot);
    printf("trace %s  %zu spans  %s%s\n", json_string_value(json_object_get(tr, "traceID")), n, tot,
           raw ? "  (stored times: clock skew not adjusted)" : "");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *nd = json_array_get(nodes, i);
        int64_t o = jint(nd, "offset_ns");
        if (o == 0)
            continue;
        const char *why = json_string_value(json_object_get(nd, "reason"));
        printf("node %s: clock offset %s (%s)\n", json_string_value(json_object_get(nd, "node")),
               fmt_ns_signed(o, amt, sizeof amt),
               why != NULL && strcmp(why, "hlc") == 0 ? "from its HLC"
               : why != NULL && strcmp(why, "hlc+skew") == 0
                   ? "from its HLC, then fitted into the calling span"
                   : "fitted into the calling span, no HLC");
    }
    printf("%s%10s %10s  %-14s %-36s\n", critical ? "  " : "", "start", "duration", "service",
           "operation");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(spans, i);
        const char *name = json_string_value(json_object_get(o, "operation"));
        const char *svc = json_string_value(json_object_get(o, "service"));
        int64_t st = jint(o, "placed_start_ns") - t0, d = jint(o, "duration_ns");
        int64_t adj = jint(o, "adjust_ns"), dis = jint(o, "disagree_ns");
        int depth = (int)jint(o, "depth");
        fmt_us(st / 1000, off, sizeof off);
        fmt_us(d / 1000, dur, sizeof dur);
        bar_of(st, d, total, bar);
        snprintf(label, sizeof label, "%*s%s%s", (depth > 20 ? 20 : depth) * 2, "",
                 depth ? "- " : "", name ? name : "?");
        printf("%s%10s %10s  %-14s %-36s %s",
               critical ? (json_is_true(json_object_get(o, "critical")) ? "* " : "  ") : "", off,
               dur, svc ? svc : "?", label, bar);
        if (adj != 0)
            printf("  [skew %s]", fmt_ns_signed(adj, amt, sizeof amt));
        else if (dis != 0)
            printf("  [clocks disagree by %s]", fmt_ns_signed(dis, amt, sizeof amt) + 1);
        printf("\n");
    }
    json_decref(j);
    return CLI_OK;
}

/* show_diff prints /api/tt/traces/diff?a=A&b=B: the summary, then each
 * node: in both (with duration and self-time deltas), only in A ('-'),
 * only in B ('+'). */
static int show_diff(const char *server, const char *a, const char *b, int raw)
{
    char url[2048], x[32], y[32], z[32];
    long status = 0;
    uint8_t tid[16];
    if (jaeger_parse_trace_id(a, tid) != 0 || jaeger_parse_trace_id(b, tid) != 0) {
        fprintf(stderr, "telltale trace diff: '%s' is not a trace id (1 to 32 hex digits)\n",
                jaeger_parse_trace_id(a, tid) != 0 ? a : b);
        return CLI_USAGE;
    }
    snprintf(url, sizeof url, "%s/api/tt/traces/diff?a=%s&b=%s%s", server, a, b,
             raw ? "&raw=true" : "");
    json_t *j = get(url, &status);
    if (j == NULL)
        return CLI_PROBLEMS;
    if (tt_error(j, status)) {
        json_decref(j);
        return CLI_PROBLEMS;
    }
    json_t *d = json_object_get(j, "data"), *sum = json_object_get(d, "summary");
    fmt_us(jint(sum, "duration_a_ns") / 1000, x, sizeof x);
    fmt_us(jint(sum, "duration_b_ns") / 1000, y, sizeof y);
    printf("A %s  %" PRId64 " spans  %s\n", json_string_value(json_object_get(d, "a")),
           jint(sum, "spans_a"), x);
    printf("B %s  %" PRId64 " spans  %s\n", json_string_value(json_object_get(d, "b")),
           jint(sum, "spans_b"), y);
    printf("duration %s; %" PRId64 " spans matched, %" PRId64 " only in A, %" PRId64 " only in B\n",
           fmt_ns_signed(jint(sum, "duration_delta_ns"), z, sizeof z), jint(sum, "matched"),
           jint(sum, "only_a"), jint(sum, "only_b"));
    json_t *top = json_object_get(sum, "largest_deltas");
    if (json_array_size(top) > 0)
        printf("largest changes:\n");
    for (size_t i = 0; i < json_array_size(top); i++) {
        json_t *o = json_array_get(top, i);
        printf("  %12s  (self %s)  %s\n", fmt_ns_signed(jint(o, "duration_delta_ns"), x, sizeof x),
               fmt_ns_signed(jint(o, "self_delta_ns"), y, sizeof y),
               json_string_value(json_object_get(o, "path")));
    }
    printf("\n  %12s %12s %12s  %s\n", "A", "B", "delta", "span path (service:operation#n)");
    json_t *nodes = json_object_get(d, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *o = json_array_get(nodes, i);
        const char *in = json_string_value(json_object_get(o, "in"));
        const char *path = json_string_value(json_object_get(o, "path"));
        if (in != NULL && strcmp(in, "both") == 0) {
            fmt_us(jint(o, "a_duration_ns") / 1000, x, sizeof x);
            fmt_us(jint(o, "b_duration_ns") / 1000, y, sizeof y);
            printf("  %12s %12s %12s  %s\n", x, y,
                   fmt_ns_signed(jint(o, "duration_delta_ns"), z, sizeof z), path);
        } else if (in != NULL && strcmp(in, "a") == 0) {
            fmt_us(jint(o, "a_duration_ns") / 1000, x, sizeof x);
            printf("- %12s %12s %12s  %s\n", x, "", "", path);
        } else {
            fmt_us(jint(o, "b_duration_ns") / 1000, y, sizeof y);
            printf("+ %12s %12s %12s  %s\n", "", y, "", path);
        }
    }
    json_decref(j);
    return CLI_OK;
}

/* url_append adds &key=value (value escaped) to url. */
static int url_append(CURL *c, char *url, size_t n, const char *key, const char *value)
{
    char *e = curl_easy_escape(c, value, 0);
    size_t len = strlen(url);
    if (e == NULL)
        return -1;
    int w = snprintf(url + len, n - len, "&%s=%s", key, e);
    curl_free(e);
    return w < 0 || (size_t)w >= n - len ? -1 : 0;
}

static int search(const char *server, int argc, char **argv)
{
    const char *service = NULL, *op = NULL, *mind = NULL, *maxd = NULL, *since = "1h",
               *limit = "20";
    char tags[4096] = "{", url[8192];
    int ntags = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        if (i + 1 >= argc) {
            fprintf(stderr, "telltale trace search: '%s' needs a value\n", a);
            return CLI_USAGE;
        }
        if (strcmp(a, "--service") == 0)
            dst = &service;
        else if (strcmp(a, "--operation") == 0)
            dst = &op;
        else if (strcmp(a, "--min-duration") == 0)
            dst = &mind;
        else if (strcmp(a, "--max-duration") == 0)
            dst = &maxd;
        else if (strcmp(a, "--since") == 0)
            dst = &since;
        else if (strcmp(a, "--limit") == 0)
            dst = &limit;
        else if (strcmp(a, "--tag") == 0) {
            const char *t = argv[++i], *eq = strchr(t, '=');
            if (eq == NULL || eq == t) {
                fprintf(stderr, "telltale trace search: --tag '%s': want KEY=VALUE\n", t);
                return CLI_USAGE;
            }
            json_t *k = json_stringn(t, (size_t)(eq - t)), *v = json_string(eq + 1);
            char *ks = json_dumps(k, JSON_ENCODE_ANY), *vs = json_dumps(v, JSON_ENCODE_ANY);
            size_t len = strlen(tags);
            if (ks != NULL && vs != NULL)
                snprintf(tags + len, sizeof tags - len, "%s%s:%s", ntags ? "," : "", ks, vs);
            free(ks);
            free(vs);
            json_decref(k);
            json_decref(v);
            ntags++;
            continue;
        } else {
            fprintf(stderr, "telltale trace search: unknown option '%s'\n", a);
            return CLI_USAGE;
        }
        *dst = argv[++i];
    }
    if (service == NULL) {
        fprintf(stderr, "telltale trace search: --service is required\n");
        return CLI_USAGE;
    }
    uint64_t since_ns;
    if (jaeger_parse_duration(since, &since_ns) != 0) {
        fprintf(stderr, "telltale trace search: --since '%s' is not a duration\n", since);
        return CLI_USAGE;
    }
    int64_t now_us = clock_realtime_ns() / 1000;
    char num[32];
    CURL *c = curl_easy_init();
    if (c == NULL)
        return CLI_PROBLEMS;
    snprintf(url, sizeof url, "%s/api/traces?limit=%s", server, limit);
    int bad = url_append(c, url, sizeof url, "service", service);
    if (op != NULL)
        bad |= url_append(c, url, sizeof url, "operation", op);
    if (mind != NULL)
        bad |= url_append(c, url, sizeof url, "minDuration", mind);
    if (maxd != NULL)
        bad |= url_append(c, url, sizeof url, "maxDuration", maxd);
    if (ntags > 0) {
        size_t len = strlen(tags);
        snprintf(tags + len, sizeof tags - len, "}");
        bad |= url_append(c, url, sizeof url, "tags", tags);
    }
    snprintf(num, sizeof num, "%" PRId64, now_us - (int64_t)(since_ns / 1000));
    bad |= url_append(c, url, sizeof url, "start", num);
    snprintf(num, sizeof num, "%" PRId64, now_us);
    bad |= url_append(c, url, sizeof url, "end", num);
    curl_easy_cleanup(c);
    if (bad) {
        fprintf(stderr, "telltale trace search: arguments too long\n");
        return CLI_USAGE;
    }
    long status = 0;
    json_t *j = get(url, &status);
    if (j == NULL)
        return CLI_PROBLEMS;
    if (api_error(j, status)) {
        json_decref(j);
        return CLI_PROBLEMS;
    }
    json_t *data = json_object_get(j, "data");
    printf("%-32s %-24s %10s %6s  %s\n", "trace", "start (UTC)", "duration", "spans", "root");
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *tr = json_array_get(data, i), *spans = json_object_get(tr, "spans");
        int64_t t0 = INT64_MAX, t1 = INT64_MIN;
        const char *root = NULL;
        for (size_t k = 0; k < json_array_size(spans); k++) {
            json_t *o = json_array_get(spans, k);
            int64_t st = jint(o, "startTime"), d = jint(o, "duration");
            if (st < t0)
                t0 = st;
            if (st + d > t1)
                t1 = st + d;
            int has_parent = 0;
            json_t *refs = json_object_get(o, "references");
            for (size_t r = 0; r < json_array_size(refs); r++) {
                const char *rt =
                    json_string_value(json_object_get(json_array_get(refs, r), "refType"));
                if (rt != NULL && strcmp(rt, "CHILD_OF") == 0)
                    has_parent = 1;
            }
            if (!has_parent && root == NULL)
                root = json_string_value(json_object_get(o, "operationName"));
        }
        char when[32] = "?", dur[32];
        time_t secs = (time_t)(t0 / 1000000);
        struct tm tm;
        if (gmtime_r(&secs, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        fmt_us(t1 - t0, dur, sizeof dur);
        printf("%-32s %-24s %10s %6zu  %s\n", json_string_value(json_object_get(tr, "traceID")),
               when, dur, json_array_size(spans), root ? root : "(no root)");
    }
    json_decref(j);
    return CLI_OK;
}

/* --- telltale trace deps ------------------------------------------------------ */

/* jstr: the string member k of o, "" when absent or not a string. */
static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

/* fmt_secs writes a latency in seconds (null: "-") the way the waterfall
 * writes durations. */
static void fmt_secs(const json_t *v, char *out, size_t n)
{
    if (!json_is_number(v))
        snprintf(out, n, "-");
    else
        fmt_us((int64_t)(json_number_value(v) * 1e6 + 0.5), out, n);
}

/* trace_deps prints /api/tt/dependencies over the last --since as tables
 * (or the JSON). */
static int trace_deps(const char *server, int argc, char **argv)
{
    const char *since = "1h";
    int as_json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
            since = argv[++i];
        } else if (strncmp(argv[i], "--since=", 8) == 0) {
            since = argv[i] + 8;
        } else {
            fprintf(stderr, "telltale trace deps: unknown option '%s'\n", argv[i]);
            return CLI_USAGE;
        }
    }
    uint64_t since_ns;
    if (jaeger_parse_duration(since, &since_ns) != 0 || since_ns < 1000000000ull) {
        fprintf(stderr, "telltale trace deps: --since '%s' is not a duration of 1s or more\n",
                since);
        return CLI_USAGE;
    }
    int64_t now_ms = clock_realtime_ns() / 1000000;
    int64_t start_ms = now_ms - (int64_t)(since_ns / 1000000);
    char url[4096];
    snprintf(url, sizeof url, "%s/api/tt/dependencies?start=%lld.%03lld&end=%lld.%03lld", server,
             (long long)(start_ms / 1000), (long long)(start_ms % 1000), (long long)(now_ms / 1000),
             (long long)(now_ms % 1000));
    long status = 0;
    json_t *j = get(url, &status);
    if (j == NULL)
        return CLI_PROBLEMS;
    if (status != 200) {
        const char *msg = json_string_value(json_object_get(j, "error"));
        fprintf(stderr, "telltale trace deps: server answered %ld: %s\n", status,
                msg ? msg : "(no message)");
        json_decref(j);
        return CLI_PROBLEMS;
    }
    json_t *data = json_object_get(j, "data");
    if (as_json) {
        char *s = json_dumps(data, JSON_INDENT(2));
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(j);
        return s != NULL ? CLI_OK : CLI_PROBLEMS;
    }
    json_t *edges = json_object_get(data, "edges"), *e;
    size_t k;
    printf("%-20s %-20s %8s %7s %6s %10s %10s %10s %12s %12s\n", "CLIENT", "SERVER", "CALLS",
           "ERRORS", "ERR%", "P50", "P90", "P99", "BYTES_REQ", "BYTES_RESP");
    json_array_foreach(edges, k, e)
    {
        json_t *lat = json_object_get(e, "client_latency_seconds");
        char p50[32], p90[32], p99[32];
        fmt_secs(json_object_get(lat, "p50"), p50, sizeof p50);
        fmt_secs(json_object_get(lat, "p90"), p90, sizeof p90);
        fmt_secs(json_object_get(lat, "p99"), p99, sizeof p99);
        printf("%-20s %-20s %8" PRId64 " %7" PRId64 " %5.1f%% %10s %10s %10s %12" PRId64
               " %12" PRId64 "\n",
               jstr(e, "client"), jstr(e, "server"), jint(e, "calls"), jint(e, "errors"),
               100 * json_number_value(json_object_get(e, "error_rate")), p50, p90, p99,
               jint(e, "bytes_request"), jint(e, "bytes_response"));
    }
    json_t *nodes = json_object_get(data, "node_pairs");
    if (json_array_size(nodes) > 0) {
        printf("\n%-20s %-20s %8s %12s %12s\n", "CLIENT_NODE", "SERVER_NODE", "MESSAGES",
               "BYTES_REQ", "BYTES_RESP");
        json_array_foreach(nodes, k, e)
        {
            printf("%-20s %-20s %8" PRId64 " %12" PRId64 " %12" PRId64 "\n", jstr(e, "client_node"),
                   jstr(e, "server_node"), jint(e, "messages"), jint(e, "bytes_request"),
                   jint(e, "bytes_response"));
        }
    }
    json_decref(j);
    return CLI_OK;
}

int cmd_trace(int argc, char **argv)
{
    const char *server = DEFAULT_SERVER;
    int i = 1;
    if (argc >= 2 && cli_is_help(argv[1])) {
        cmd_trace_usage(stdout);
        return CLI_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "stats") == 0)
        return cmd_trace_stats(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "slowest") == 0)
        return cmd_trace_slowest(argc - 1, argv + 1);
    int is_search = argc >= 2 && strcmp(argv[1], "search") == 0;
    int is_deps = argc >= 2 && strcmp(argv[1], "deps") == 0;
    int is_diff = argc >= 2 && strcmp(argv[1], "diff") == 0;
    int raw = 0, critical = 0;
    if (is_search || is_deps || is_diff)
        i = 2;
    /* --server may come first (or anywhere for search) */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, rc;
    if (rest == NULL)
        return CLI_PROBLEMS;
    for (; i < argc; i++) {
        if (cli_is_help(argv[i])) { /* telltale trace diff --help, ... */
            cmd_trace_usage(stdout);
            free(rest);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strncmp(argv[i], "--server=", 9) == 0)
            server = argv[i] + 9;
        else if (!is_search && strcmp(argv[i], "--raw") == 0)
            raw = 1;
        else if (!is_search && !is_diff && strcmp(argv[i], "--critical") == 0)
            critical = 1;
        else
            rest[nrest++] = argv[i];
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (is_deps) {
        rc = trace_deps(server, nrest, rest);
    } else if (is_search) {
        rc = search(server, nrest, rest);
    } else if (is_diff) {
        if (nrest != 2 || rest[0][0] == '-' || rest[1][0] == '-') {
            cmd_trace_usage(stderr);
            rc = CLI_USAGE;
        } else {
            rc = show_diff(server, rest[0], rest[1], raw);
        }
    } else if (nrest != 1 || rest[0][0] == '-') {
        cmd_trace_usage(stderr);
        rc = CLI_USAGE;
    } else {
        rc = show_trace(server, rest[0], raw, critical);
    }
    curl_global_cleanup();
    free(rest);
    return rc;
}
