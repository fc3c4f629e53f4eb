/*
 * cmd_snapshot.c - `telltale snapshot --at T [--log L] [--server URL]
 * [--json]`: every node's state variables at T, a consistent cut of the
 * state logs (GET /api/tt/snapshot, docs/design/causality.md), printed as a
 * table NODE LOG VAR VALUE HLC TIME sorted by node, log and variable, or
 * the server's JSON answer with --json.
 * Exit status: 0, 1 (server unreachable or an error answer), 2 (usage).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "cli/cli.h"
#include "cli/cli_http.h"
#include "core/buf.h"

#define DEFAULT_SERVER "http://127.0.0.1:7070"
#define MAX_ANSWER     (256u << 20)

void cmd_snapshot_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale snapshot --at T [--log L] [--server URL] [--json]\n\n"
            "Prints every node's state variables at T: on each node, for each\n"
            "variable, the latest change with an HLC at or before T (a consistent\n"
            "cut of the state logs the server keeps).\n\n"
            "Options:\n"
            "  --at T        an HLC (16 hex digits, or L.C: milliseconds and count) or\n"
            "                a time (RFC 3339, Unix seconds or milliseconds), meaning\n"
            "                the HLC (that millisecond, 0)\n"
            "  --log L       only the variables of state log L\n"
            "  --server URL  the server's HTTP address (default %s)\n"
            "  --json        print the server's JSON answer\n",
            DEFAULT_SERVER);
}

static void url_param(struct wbuf *url, CURL *c, const char *name, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0);
    wbuf_put(url, memchr(url->data, '?', url->len) ? "&" : "?", 1);
    wbuf_put(url, name, strlen(name));
    wbuf_put(url, "=", 1);
    if (esc != NULL)
        wbuf_put(url, esc, strlen(esc));
    curl_free(esc);
}

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* print_table prints the nodes object; jansson keeps keys in insertion
 * order, and the server writes them sorted. Returns the rows printed. */
static size_t print_table(json_t *nodes)
{
    const char *node, *log, *var;
    json_t *logs, *vars, *e;
    size_t rows = 0;
    printf("%-16s %-12s %-16s %-24s %-16s %s\n", "NODE", "LOG", "VAR", "VALUE", "HLC", "TIME");
    json_object_foreach(nodes, node, logs)
    {
        json_object_foreach(logs, log, vars)
        {
            json_object_foreach(vars, var, e)
            {
                printf("%-16s %-12s %-16s ", node, log, var);
                char *d = json_dumps(json_object_get(e, "value"), JSON_ENCODE_ANY | JSON_COMPACT);
                const char *s = json_string_value(json_object_get(e, "value"));
                printf("%-24s %-16s %s\n",
                       s   ? s
                       : d ? d
                           : "?",
                       str_or(e, "hlc", ""), str_or(e, "time", ""));
                free(d);
                rows++;
            }
        }
    }
    return rows;
}

int cmd_snapshot(int argc, char **argv)
{
    const char *server = DEFAULT_SERVER, *at = NULL, *log = NULL;
    int json = 0, ret = CLI_PROBLEMS;
    json_t *ans = NULL;
    struct wbuf url;
    CURL *c = NULL;
    wbuf_init(&url, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            cmd_snapshot_usage(stdout);
            ret = CLI_OK;
            goto out;
        }
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        const char **dst = strcmp(a, "--at") == 0       ? &at
                           : strcmp(a, "--log") == 0    ? &log
                           : strcmp(a, "--server") == 0 ? &server
                                                        : NULL;
        if (dst == NULL) {
            fprintf(stderr, "telltale snapshot: unknown argument %s (see --help)\n", a);
            ret = CLI_USAGE;
            goto out;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "telltale snapshot: %s needs a value\n", a);
            ret = CLI_USAGE;
            goto out;
        }
        *dst = argv[++i];
    }
    if (at == NULL) {
        fprintf(stderr, "telltale snapshot: --at T is required (see --help)\n");
        ret = CLI_USAGE;
        goto out;
    }
    c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "telltale snapshot: cannot start libcurl\n");
        goto out;
    }
    wbuf_put(&url, server, strlen(server));
    while (url.len && url.data[url.len - 1] == '/')
        url.len--;
    wbuf_put(&url, "/api/tt/snapshot", 16);
    url_param(&url, c, "at", at);
    if (log != NULL)
        url_param(&url, c, "log", log);
    wbuf_put(&url, "", 1);
    if (url.err) {
        fprintf(stderr, "telltale snapshot: out of memory\n");
        goto out;
    }
    long status = 0;
    ans = cli_http_get_json("telltale snapshot", (const char *)url.data, MAX_ANSWER, &status);
    if (ans == NULL)
        goto out;
    if (status != 200) {
        const char *e = json_string_value(json_object_get(ans, "error"));
        fprintf(stderr, "telltale snapshot: the server answered %ld: %s\n", status,
                e ? e : "(no message)");
        goto out;
    }
    json_t *data = json_object_get(ans, "data");
    if (json) {
        char *d = json_dumps(data, JSON_COMPACT);
        if (d == NULL) {
            fprintf(stderr, "telltale snapshot: out of memory\n");
            goto out;
        }
        puts(d);
        free(d);
    } else {
        json_t *atj = json_object_get(data, "at");
        printf("# snapshot at HLC %s (%s)\n", str_or(atj, "hlc", "?"), str_or(atj, "time", "?"));
        if (print_table(json_object_get(data, "nodes")) == 0)
            printf("# no state variables known at that HLC\n");
    }
    ret = CLI_OK;
out:
    json_decref(ans);
    if (c != NULL)
        curl_easy_cleanup(c);
    wbuf_release(&url);
    return ret;
}
