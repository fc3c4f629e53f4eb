/*
 * cmd_events.c - `telltale events [--server URL] [filters...]`: searches
 * the server's events (GET /api/tt/events, docs/design/events.md) and
 * prints one line per event, newest first:
 *   TIME SEVERITY NODE[/PROCESS] COMPONENT NAME: MESSAGE key=value...
 * or the server's JSON answers with --json. --all follows the page tokens
 * to the end; otherwise the token of the next page is printed on stderr.
 * Exit status: 0, 1 (server unreachable or an error answer), 2 (usage).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "cli/cli.h"
#include "core/buf.h"

#define DEFAULT_SERVER "http://127.0.0.1:7070"
#define MAX_ANSWER     (256u << 20)

void cmd_events_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale events [--server URL] [--node N] [--component C]\n"
            "                       [--severity LEVEL] [--name NAME] [--kv KEY=VALUE]...\n"
            "                       [--start TIME] [--end TIME] [--limit N]\n"
            "                       [--page-token T] [--all] [--json] [TEXT...]\n\n"
            "Searches the events the server keeps (from agents and libtelltale\n"
            "programs), newest first, one line per event.\n\n"
            "Options:\n"
            "  --server URL       the server's HTTP address (default %s)\n"
            "  --node N, --component C, --name NAME   exact matches\n"
            "  --severity LEVEL   this level or worse: debug, info, notice, warning,\n"
            "                     error, critical\n"
            "  --kv KEY=VALUE     an attribute equal to VALUE (repeatable)\n"
            "  --start, --end TIME  RFC 3339 or Unix seconds\n"
            "  --limit N          events per page (default 100, at most 10000)\n"
            "  --page-token T     the page after the one that printed T\n"
            "  --all              follow the pages to the end\n"
            "  --json             print the server's JSON answer(s)\n"
            "  TEXT               words that must all be in the message or a value\n",
            DEFAULT_SERVER);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct wbuf *b = arg;
    wbuf_put(b, p, size * n);
    return b->err ? 0 : size * n;
}

static void add_param(struct wbuf *url, CURL *c, const char *name, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0);
    wbuf_put(url, url->len && memchr(url->data, '?', url->len) ? "&" : "?", 1);
    wbuf_put(url, name, strlen(name));
    wbuf_put(url, "=", 1);
    if (esc != NULL)
        wbuf_put(url, esc, strlen(esc));
    curl_free(esc);
}

static const char *str_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void print_event(json_t *ev)
{
    const char *proc = str_of(ev, "process");
    printf("%s %s %s%s%s %s %s: %s", str_of(ev, "time"), str_of(ev, "severity"), str_of(ev, "node"),
           proc[0] ? "/" : "", proc, str_of(ev, "component"), str_of(ev, "name"),
           str_of(ev, "message"));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(ev, "attrs"), k, v)
    {
        if (json_is_string(v)) {
            printf(" %s=%s", k, json_string_value(v));
        } else {
            char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf(" %s=%s", k, d ? d : "?");
            free(d);
        }
    }
    putchar('\n');
}

int cmd_events(int argc, char **argv)
{
    const char *server = DEFAULT_SERVER, *token = NULL;
    int json = 0, all = 0, ret = CLI_PROBLEMS;
    struct wbuf params, text, url, answer;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "telltale events: cannot start libcurl\n");
        return CLI_PROBLEMS;
    }
    wbuf_init(&params, 0);
    wbuf_init(&text, 0);
    wbuf_init(&url, 0);
    wbuf_init(&answer, MAX_ANSWER);
    static const char *const flags[][2] = { { "--node", "node" },
                                            { "--component", "component" },
                                            { "--severity", "severity" },
                                            { "--name", "name" },
                                            { "--kv", "kv" },
                                            { "--start", "start" },
                                            { "--end", "end" },
                                            { "--limit", "limit" } };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int done = 0;
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--all") == 0) {
            all = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cmd_events_usage(stdout);
            ret = CLI_OK;
            goto out;
        }
        if (strcmp(a, "--server") == 0 || strcmp(a, "--page-token") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "telltale events: %s needs a value\n", a);
                ret = CLI_USAGE;
                goto out;
            }
            *(a[2] == 's' ? &server : &token) = argv[++i];
            continue;
        }
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            if (strcmp(a, flags[f][0]) != 0)
                continue;
            if (i + 1 >= argc) {
                fprintf(stderr, "telltale events: %s needs a value\n", a);
                ret = CLI_USAGE;
                goto out;
            }
            add_param(&params, c, flags[f][1], argv[++i]);
            done = 1;
        }
        if (done)
            continue;
        if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "telltale events: unknown option %s\n", a);
            cmd_events_usage(stderr);
            ret = CLI_USAGE;
            goto out;
        }
        if (text.len)
            wbuf_put(&text, " ", 1);
        wbuf_put(&text, a, strlen(a));
    }
    if (text.len) {
        wbuf_put(&text, "", 1);
        add_param(&params, c, "q", (const char *)text.data);
    }
    char *next = token ? strdup(token) : NULL;
    for (;;) {
        wbuf_reset(&url);
        wbuf_reset(&answer);
        wbuf_put(&url, server, strlen(server));
        while (url.len && url.data[url.len - 1] == '/')
            url.len--;
        wbuf_put(&url, "/api/tt/events", 14);
        if (params.len)
            wbuf_put(&url, params.data, params.len);
        if (next != NULL) {
            add_param(&url, c, "page_token", next);
            free(next);
            next = NULL;
        }
        wbuf_put(&url, "", 1);
        if (url.err || params.err || text.err) {
            fprintf(stderr, "telltale events: out of memory\n");
            goto out;
        }
        curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        CURLcode cr = curl_easy_perform(c);
        if (cr != CURLE_OK) {
            fprintf(stderr, "telltale events: %s: %s\n", server, curl_easy_strerror(cr));
            goto out;
        }
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        json_error_t je;
        json_t *root = json_loadb((const char *)answer.data, answer.len, 0, &je);
        if (status != 200 || root == NULL) {
            const char *msg = root ? json_string_value(json_object_get(root, "error")) : NULL;
            fprintf(stderr, "telltale events: server answered %ld: %s\n", status,
                    msg ? msg : "(not JSON)");
            json_decref(root);
            goto out;
        }
        json_t *data = json_object_get(root, "data");
        if (json) {
            fwrite(answer.data, 1, answer.len, stdout);
            putchar('\n');
        } else {
            size_t i;
            json_t *ev;
            json_array_foreach(json_object_get(data, "events"), i, ev) print_event(ev);
        }
        const char *nt = json_string_value(json_object_get(data, "next_page_token"));
        if (nt != NULL && all)
            next = strdup(nt);
        else if (nt != NULL && !json)
            fprintf(stderr, "more: --page-token %s\n", nt);
        json_decref(root);
        if (next == NULL)
            break;
    }
    ret = CLI_OK;
out:
    curl_easy_cleanup(c);
    wbuf_release(&params);
    wbuf_release(&text);
    wbuf_release(&url);
    wbuf_release(&answer);
    return ret;
}
