/*
 * fuzz_jaeger_params.c - fuzz target for the Jaeger API's query parameters:
 * the input is a query string, decoded as the server decodes form bodies
 * (urlform_parse), then read as /api/traces reads its parameters
 * (jaeger_parse_search: service, operation, minDuration, maxDuration,
 * start, end, limit, tags as a JSON object, tag=key:value); every traceID
 * goes through jaeger_parse_trace_id and every d through
 * jaeger_parse_duration. Checks: a parsed search is consistent (limit
 * within 1..1500, end not before start, max duration not below min, at
 * most JAEGER_MAX_TAGS tags, each with key and value), a refusal names
 * its parameter (or is TT_ENOMEM); a parsed trace id prints as 16 or 32 lowercase hex
 * digits that parse back to the same id; a parsed duration below 2^53 ns
 * reads back the same from "<n>ns". Also the other query APIs' value
 * parsers: time (api_parse_time), step (api_parse_duration), severity and
 * page_token (the events API: a parsed token prints back the same).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/api_events.h"
#include "server/api_jaeger.h"
#include "server/api_query.h"
#include "server/urlform.h"
#include "telltale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PARAMS 64

struct params {
    char *name[MAX_PARAMS], *value[MAX_PARAMS];
    size_t n;
};

/* add keeps a copy of each parameter as C strings (a decoded NUL ends them,
 * as in the server's parameter list). */
static int add(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct params *ps = arg;
    if (ps->n == MAX_PARAMS)
        return 1;
    ps->name[ps->n] = strndup(name, nlen);
    ps->value[ps->n] = strndup(value, vlen);
    if (ps->name[ps->n] == NULL || ps->value[ps->n] == NULL)
        abort();
    ps->n++;
    return 0;
}

static const char *param(void *arg, const char *name, size_t *pos)
{
    struct params *ps = arg;
    for (size_t i = *pos; i < ps->n; i++)
        if (strcmp(ps->name[i], name) == 0) {
            *pos = i + 1;
            return ps->value[i];
        }
    *pos = ps->n;
    return NULL;
}

static void check_search(struct params *ps)
{
    struct jaeger_search js;
    char msg[512] = "";
    int rc = jaeger_parse_search(param, ps, &js, msg, sizeof msg);
    if (rc == 0) {
        const struct spanstore_query *q = &js.q;
        if (q->service == NULL || q->service[0] == '\0' || q->limit < 1 || q->limit > 1500 ||
            q->end_ns < q->start_ns || q->start_ns < 0 ||
            (q->max_duration_ns > 0 && q->max_duration_ns < q->min_duration_ns) ||
            q->ntags > JAEGER_MAX_TAGS ||
            (q->operation != NULL && strcmp(q->operation, "all") == 0))
            abort();
        for (size_t i = 0; i < q->ntags; i++)
            if (q->tags[i].key == NULL || q->tags[i].value == NULL)
                abort();
    } else if (rc != TT_ENOMEM && (rc != TT_ESYNTAX || strncmp(msg, "parameter '", 11) != 0)) {
        abort();
    }
    jaeger_search_free(&js);
}

static void check_trace_id(const char *s)
{
    uint8_t id[16], back[16];
    char txt[33];
    if (jaeger_parse_trace_id(s, id) != 0)
        return;
    jaeger_trace_id_text(id, txt);
    size_t n = strlen(txt);
    if (n != 16 && n != 32)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!((txt[i] >= '0' && txt[i] <= '9') || (txt[i] >= 'a' && txt[i] <= 'f')))
            abort();
    if (jaeger_parse_trace_id(txt, back) != 0 || memcmp(id, back, 16) != 0)
        abort();
}

static void check_duration(const char *s)
{
    uint64_t ns, back;
    char txt[32];
    if (jaeger_parse_duration(s, &ns) != 0 || ns >= (UINT64_C(1) << 53))
        return;
    snprintf(txt, sizeof txt, "%" PRIu64 "ns", ns);
    if (jaeger_parse_duration(txt, &back) != 0 || back != ns)
        abort();
}

/* The other query APIs' value parsers: Prometheus times and durations
 * (time, step), the events API's severity and page token. */
static void check_other(const char *name, const char *v)
{
    int64_t ms, t;
    uint64_t id;
    if (strcmp(name, "time") == 0) {
        (void)api_parse_time(v, &ms);
    } else if (strcmp(name, "step") == 0) {
        (void)api_parse_duration(v, &ms);
    } else if (strcmp(name, "severity") == 0) {
        int sev = api_events_severity_parse(v);
        if (sev != TT_ESYNTAX && (sev < 1 || sev > 6 || api_events_severity_name(sev)[0] == '\0'))
            abort();
    } else if (strcmp(name, "page_token") == 0 && api_events_token_parse(v, &t, &id) == 0) {
        char back[33];
        api_events_token_format(t, id, back);
        if (strcmp(back, v) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct params ps = { .n = 0 };
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    urlform_parse(s, size, add, &ps);
    check_search(&ps);
    for (size_t i = 0; i < ps.n; i++) {
        if (strcmp(ps.name[i], "traceID") == 0)
            check_trace_id(ps.value[i]);
        else if (strcmp(ps.name[i], "d") == 0)
            check_duration(ps.value[i]);
        else
            check_other(ps.name[i], ps.value[i]);
    }
    for (size_t i = 0; i < ps.n; i++) {
        free(ps.name[i]);
        free(ps.value[i]);
    }
    free(s);
    return 0;
}
