/*
 * cmd_trace_stats.c - `telltale trace stats` (latency per service or
 * operation over a window) and `telltale trace slowest` (the slowest spans
 * or traces), read from a server's /api/tt/ span analytics (api_spans.c)
 * and printed as aligned tables, or as the server's JSON with --json.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "cli/cli_http.h"
#include "core/buf.h"
#include "core/clock.h"
#include "server/api_jaeger.h"

#define DEFAULT_SERVER "http://127.0.0.1:7070"
#define MAX_BODY       (64u << 20)

void cmd_trace_stats_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale trace stats [--server URL] [--service S] [--operation O]\n"
            "                            [--since D | --start T --end T]\n"
            "                            [--by service|operation] [--json]\n\n"
            "Latency per service, or per service and operation (the default), over a\n"
            "window: count, errors, error rate, min, avg, max, p50, p90, p99, p99.9.\n"
            "Quantiles come from mergeable sketches: within 0.4 %% of the exact value.\n"
            "  --server URL     the server (default %s)\n"
            "  --since D        the last D (1h, 30m, 90s; default 1h)\n"
            "  --start T, --end T   RFC 3339, Unix seconds or Unix milliseconds\n"
            "  --json           print the server's JSON answer\n",
            DEFAULT_SERVER);
}

void cmd_trace_slowest_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale trace slowest [--server URL] [--traces] [--service S]\n"
            "                              [--operation O] [--since D | --start T --end T]\n"
            "                              [--limit N] [--json]\n\n"
            "The slowest spans (or with --traces the slowest traces) of a window,\n"
            "longest first. A trace's duration is its root span's, or when the root\n"
            "span is not in the window, its extent (marked 'extent').\n"
            "  --server URL     the server (default %s)\n"
            "  --since D        the last D (default 1h); --start/--end T as for stats\n"
            "  --limit N        at most N (default 20, at most 1000)\n"
            "  --json           print the server's JSON answer\n",
            DEFAULT_SERVER);
}

/* fetch GETs url and parses the answer; NULL after printing the problem
 * (a transport error, not JSON, or an error answer with its message). */
static json_t *fetch(const char *cmd, const char *url)
{
    char who[64];
    long status = 0;
    snprintf(who, sizeof who, "telltale trace %s", cmd);
    json_t *j = cli_http_get_json(who, url, MAX_BODY, &status);
    if (j == NULL)
        return NULL;
    const char *st = json_string_value(json_object_get(j, "status"));
    if (status != 200 || st == NULL || strcmp(st, "success") != 0) {
        const char *msg = json_string_value(json_object_get(j, "error"));
        fprintf(stderr, "telltale trace %s: server answered %ld: %s\n", cmd, status,
                msg ? msg : "(no message)");
        json_decref(j);
        j = NULL;
    }
    return j;
}

struct opts {
    const char *server, *service, *operation, *since, *start, *end, *by, *limit;
    int json, traces;
};

/* parse_opts reads the options of both commands; returns CLI_OK,
 * CLI_USAGE (after a message) or -1 for --help (usage printed). */
static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o, void (*usage)(FILE *))
{
    memset(o, 0, sizeof *o);
    o->server = DEFAULT_SERVER;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        if (cli_is_help(a)) {
            usage(stdout);
            return -1;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--traces") == 0 && usage == cmd_trace_slowest_usage) {
            o->traces = 1;
            continue;
        }
        if (strcmp(a, "--server") == 0)
            dst = &o->server;
        else if (strcmp(a, "--service") == 0)
            dst = &o->service;
        else if (strcmp(a, "--operation") == 0)
            dst = &o->operation;
        else if (strcmp(a, "--since") == 0)
            dst = &o->since;
        else if (strcmp(a, "--start") == 0)
            dst = &o->start;
        else if (strcmp(a, "--end") == 0)
            dst = &o->end;
        else if (strcmp(a, "--by") == 0 && usage == cmd_trace_stats_usage)
            dst = &o->by;
        else if (strcmp(a, "--limit") == 0 && usage == cmd_trace_slowest_usage)
            dst = &o->limit;
        if (dst == NULL) {
            fprintf(stderr, "telltale trace %s: unknown option '%s'\n", cmd, a);
            usage(stderr);
            return CLI_USAGE;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "telltale trace %s: '%s' needs a value\n", cmd, a);
            return CLI_USAGE;
        }
        *dst = argv[++i];
    }
    if (o->since != NULL && (o->start != NULL || o->end != NULL)) {
        fprintf(stderr, "telltale trace %s: --since or --start/--end, not both\n", cmd);
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int add_param(CURL *c, char *url, size_t n, const char *key, const char *value)
{
    if (value == NULL)
        return 0;
    char *e = curl_easy_escape(c, value, 0);
    size_t len = strlen(url);
    int k = e ? snprintf(url + len, n - len, "%s%s=%s", strchr(url, '?') ? "&" : "?", key, e) : -1;
    curl_free(e);
    return k < 0 || (size_t)k >= n - len;
}

/* build_url makes the request URL of path with the options; returns 0 or
 * CLI_USAGE after a message. */
static int build_url(const char *cmd, const struct opts *o, const char *path, char *url, size_t n)
{
    const char *start = o->start, *end = o->end;
    char sbuf[32], ebuf[32];
    if (start == NULL && end == NULL) {
        uint64_t since_ns = 3600ull * 1000000000ull;
        if (o->since != NULL && jaeger_parse_duration(o->since, &since_ns) != 0) {
            fprintf(stderr, "telltale trace %s: --since '%s' is not a duration (1h, 30m, 90s)\n",
                    cmd, o->since);
            return CLI_USAGE;
        }
        int64_t now_ms = clock_realtime_ns() / 1000000;
        snprintf(sbuf, sizeof sbuf, "%" PRId64, now_ms - (int64_t)(since_ns / 1000000));
        snprintf(ebuf, sizeof ebuf, "%" PRId64, now_ms);
        start = sbuf;
        end = ebuf;
    }
    CURL *c = curl_easy_init();
    if (c == NULL)
        return CLI_PROBLEMS;
    snprintf(url, n, "%s%s", o->server, path);
    int bad = add_param(c, url, n, "service", o->service);
    bad |= add_param(c, url, n, "operation", o->operation);
    bad |= add_param(c, url, n, "start", start);
    bad |= add_param(c, url, n, "end", end);
    bad |= add_param(c, url, n, "by", o->by);
    bad |= add_param(c, url, n, "limit", o->limit);
    curl_easy_cleanup(c);
    if (bad) {
        fprintf(stderr, "telltale trace %s: arguments too long\n", cmd);
        return CLI_USAGE;
    }
    return 0;
}

static void fmt_ms(double ms, char *out, size_t n)
{
    if (ms >= 1000)
        snprintf(out, n, "%.3fs", ms / 1000);
    else if (ms >= 1)
        snprintf(out, n, "%.3fms", ms);
    else
        snprintf(out, n, "%.1fus", ms * 1000);
}

static double jnum(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "-";
}

static int width(const json_t *rows, const char *key, const char *title)
{
    int w = (int)strlen(title);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        int l = (int)strlen(jstr(json_array_get(rows, i), key));
        if (l > w)
            w = l;
    }
    return w;
}

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s != NULL)
        printf("%s\n", s);
    free(s);
}

int cmd_trace_stats(int argc, char **argv)
{
    struct opts o;
    char url[8192];
    int rc = parse_opts("stats", argc, argv, &o, cmd_trace_stats_usage);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = build_url("stats", &o, "/api/tt/spans/stats", url, sizeof url);
    json_t *j = rc == 0 ? fetch("stats", url) : NULL;
    if (j == NULL) {
        curl_global_cleanup();
        return rc != 0 ? rc : CLI_PROBLEMS;
    }
    json_t *data = json_object_get(j, "data"), *rows = json_object_get(data, "rows");
    if (o.json) {
        print_json(data);
    } else {
        int by_op = o.by == NULL || strcmp(o.by, "operation") == 0;
        int ws = width(rows, "service", "SERVICE"), wo = width(rows, "operation", "OPERATION");
        printf("%-*s  ", ws, "SERVICE");
        if (by_op)
            printf("%-*s  ", wo, "OPERATION");
        printf("%9s %7s %7s %10s %10s %10s %10s %10s %10s %10s\n", "COUNT", "ERRORS", "ERR%", "MIN",
               "AVG", "MAX", "P50", "P90", "P99", "P99.9");
        for (size_t i = 0; i < json_array_size(rows); i++) {
            const json_t *r = json_array_get(rows, i);
            static const char *keys[] = { "min_ms", "avg_ms", "max_ms", "p50_ms",
                                          "p90_ms", "p99_ms", "p999_ms" };
            char d[7][32];
            for (int k = 0; k < 7; k++)
                fmt_ms(jnum(r, keys[k]), d[k], sizeof d[k]);
            printf("%-*s  ", ws, jstr(r, "service"));
            if (by_op)
                printf("%-*s  ", wo, jstr(r, "operation"));
            printf("%9" JSON_INTEGER_FORMAT " %7" JSON_INTEGER_FORMAT
                   " %6.2f%% %10s %10s %10s %10s %10s %10s %10s\n",
                   json_integer_value(json_object_get(r, "count")),
                   json_integer_value(json_object_get(r, "errors")), 100 * jnum(r, "error_rate"),
                   d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
        }
        if (json_array_size(rows) == 0)
            printf("(no spans in the window)\n");
    }
    json_decref(j);
    curl_global_cleanup();
    return CLI_OK;
}

static void fmt_when(int64_t ms, char *out, size_t n)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    snprintf(out, n, "?");
    if (gmtime_r(&secs, &tm) != NULL && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm) > 0)
        snprintf(out, n, "%s.%03d", buf, (int)(ms % 1000));
}

int cmd_trace_slowest(int argc, char **argv)
{
    struct opts o;
    char url[8192];
    int rc = parse_opts("slowest", argc, argv, &o, cmd_trace_slowest_usage);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = build_url("slowest", &o, o.traces ? "/api/tt/traces/slowest" : "/api/tt/spans/slowest",
                   url, sizeof url);
    json_t *j = rc == 0 ? fetch("slowest", url) : NULL;
    if (j == NULL) {
        curl_global_cleanup();
        return rc != 0 ? rc : CLI_PROBLEMS;
    }
    json_t *data = json_object_get(j, "data");
    json_t *rows = json_object_get(data, o.traces ? "traces" : "spans");
    if (o.json) {
        print_json(data);
    } else {
        int ws = width(rows, "service", "SERVICE"), wo = width(rows, "operation", "OPERATION");
        int wt = width(rows, "trace_id", "TRACE");
        printf("%-*s  %-23s  %12s  %-*s  %-*s  %s\n", wt, "TRACE", "START (UTC)", "DURATION", ws,
               "SERVICE", wo, "OPERATION", o.traces ? "SPANS ERRORS FROM" : "SPAN             ERR");
        for (size_t i = 0; i < json_array_size(rows); i++) {
            const json_t *r = json_array_get(rows, i);
            char when[48], dur[32];
            fmt_when((int64_t)json_integer_value(json_object_get(r, "start_unix_ms")), when,
                     sizeof when);
            fmt_ms(jnum(r, "duration_ms"), dur, sizeof dur);
            printf("%-*s  %-23s  %12s  %-*s  %-*s  ", wt, jstr(r, "trace_id"), when, dur, ws,
                   jstr(r, "service"), wo, jstr(r, "operation"));
            if (o.traces)
                printf("%5" JSON_INTEGER_FORMAT " %6" JSON_INTEGER_FORMAT " %s\n",
                       json_integer_value(json_object_get(r, "spans")),
                       json_integer_value(json_object_get(r, "errors")), jstr(r, "duration_from"));
            else
                printf("%-16s%s\n", jstr(r, "span_id"),
                       json_is_true(json_object_get(r, "error")) ? " yes" : "");
        }
        if (json_array_size(rows) == 0)
            printf("(no spans in the window)\n");
    }
    json_decref(j);
    curl_global_cleanup();
    return CLI_OK;
}
