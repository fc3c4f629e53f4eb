/*
 * api_events.c - GET /api/tt/events (see api_events.h). Parameters are
 * checked one by one and a bad one is answered 400 naming it; the answer is
 *   {"status":"success","data":{"events":[...],"next_page_token":"..."|null}}
 */
#include "server/api_events.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "core/record.h"
#include "server/api_query.h"
#include "server/http.h"
#include "server/json_out.h"
#include "store/statelog/statelog.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT     10000

struct api_events {
    _Atomic(struct evstore *) st;
    _Atomic(struct evstore *) state; /* the state log */
};

static const char *const sev_names[] = { "",        "debug", "info",    "notice",
                                         "warning", "error", "critical" };

int api_events_severity_parse(const char *s)
{
    for (int i = 1; i <= 6; i++)
        if (strcasecmp(s, sev_names[i]) == 0)
            return i;
    if (s[0] >= '1' && s[0] <= '6' && s[1] == '\0')
        return s[0] - '0';
    return TT_ESYNTAX;
}

const char *api_events_severity_name(int sev)
{
    return sev >= 1 && sev <= 6 ? sev_names[sev] : "";
}

void api_events_token_format(int64_t time_ns, uint64_t id, char out[33])
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)time_ns, id);
}

int api_events_token_parse(const char *s, int64_t *time_ns, uint64_t *id)
{
    uint64_t v[2] = { 0, 0 };
    if (strlen(s) != 32)
        return TT_ESYNTAX;
    for (int i = 0; i < 32; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return TT_ESYNTAX;
        v[i / 16] = v[i / 16] << 4 | d;
    }
    *time_ns = (int64_t)v[0];
    *id = v[1];
    return 0;
}

static void put_event(struct json_out *j, const struct evseg_event *e)
{
    char id[32];
    json_out_object_begin(j);
    snprintf(id, sizeof id, "%" PRIu64, e->id);
    json_out_key(j, "id");
    json_out_str(j, id);
    json_out_key(j, "time");
    json_out_time_ns(j, e->time_ns);
    json_out_key(j, "time_ns");
    json_out_i64(j, e->time_ns);
    json_out_key(j, "hlc");
    json_out_u64(j, e->hlc);
    json_out_key(j, "node");
    json_out_strn(j, e->node.p, e->node.len);
    json_out_key(j, "process");
    json_out_strn(j, e->process.p, e->process.len);
    json_out_key(j, "component");
    json_out_strn(j, e->component.p, e->component.len);
    json_out_key(j, "severity");
    json_out_str(j, api_events_severity_name(e->severity));
    json_out_key(j, "severity_number");
    json_out_i64(j, e->severity);
    json_out_key(j, "name");
    json_out_strn(j, e->name.p, e->name.len);
    json_out_key(j, "message");
    json_out_strn(j, e->message.p, e->message.len);
    json_out_key(j, "attrs");
    json_out_object_begin(j);
    struct rec_list it = e->attrs;
    struct rec_str k;
    struct rec_value v;
    char key[512];
    while (rec_kv_next(&it, &k, &v) == 1) {
        size_t n = k.len < sizeof key - 1 ? k.len : sizeof key - 1;
        memcpy(key, k.p, n);
        key[n] = '\0';
        json_out_key(j, key);
        json_out_rec_value(j, &v);
    }
    json_out_object_end(j);
    json_out_object_end(j);
}

static int bad(struct http_req *req, const char *param, const char *why)
{
    http_respond_error(req, 400, NULL, "invalid parameter \"%s\": %s", param, why);
    return 0;
}

/* parse_common reads start, end, limit and page_token into q. Returns 0,
 * or 1 after answering 400 naming the bad parameter. */
static int parse_common(struct http_req *req, struct evstore_query *q)
{
    const char *s;
    int64_t start_ms = 0, end_ms = 0;
    s = http_req_param(req, "start");
    if (s && s[0]) {
        if (api_parse_time(s, &start_ms) != 0) {
            return 1 + bad(req, "start", "expected RFC 3339 or Unix seconds");
        }
        /* clamped: api_parse_time takes up to +-9.2e18 ms */
        q->start_ns = start_ms <= INT64_MIN / 1000000   ? INT64_MIN
                      : start_ms >= INT64_MAX / 1000000 ? INT64_MAX
                                                        : start_ms * 1000000;
    }
    s = http_req_param(req, "end");
    if (s && s[0]) {
        if (api_parse_time(s, &end_ms) != 0) {
            return 1 + bad(req, "end", "expected RFC 3339 or Unix seconds");
        }
        /* end is inclusive to the millisecond. */
        q->end_ns = end_ms >= INT64_MAX / 1000000   ? INT64_MAX
                    : end_ms <= INT64_MIN / 1000000 ? INT64_MIN
                                                    : end_ms * 1000000 + 999999;
    }
    if (q->end_ns < q->start_ns) {
        return 1 + bad(req, "end", "before start");
    }
    s = http_req_param(req, "limit");
    if (s && s[0]) {
        char *endp = NULL;
        unsigned long long v = strtoull(s, &endp, 10);
        if (s[0] < '0' || s[0] > '9' || *endp != '\0' || v == 0 || v > MAX_LIMIT) {
            return 1 + bad(req, "limit", "expected an integer from 1 to 10000");
        }
        q->limit = (size_t)v;
    }
    s = http_req_param(req, "page_token");
    if (s && s[0]) {
        if (api_events_token_parse(s, &q->after_time_ns, &q->after_id) != 0) {
            return 1 + bad(req, "page_token", "not a token from a previous answer");
        }
        q->has_after = 1;
    }
    return 0;
}

static int handle(struct http_req *req, void *ctx)
{
    struct api_events *a = ctx;
    struct evstore *st = atomic_load(&a->st);
    struct evstore_query q;
    const char *s;
    char err[512];
    if (st == NULL) {
        http_respond_error(req, 503, NULL, "the events store is not open yet");
        return 0;
    }
    evstore_query_init(&q);
    q.limit = DEFAULT_LIMIT;
    s = http_req_param(req, "node");
    q.node = s && s[0] ? s : NULL;
    s = http_req_param(req, "component");
    q.component = s && s[0] ? s : NULL;
    s = http_req_param(req, "name");
    q.name = s && s[0] ? s : NULL;
    s = http_req_param(req, "q");
    q.text = s && s[0] ? s : NULL;
    if (q.text) {
        size_t pos = 0, ts, tl, nt = 0;
        while (evseg_next_token(q.text, strlen(q.text), &pos, &ts, &tl))
            nt++;
        if (nt > EVSTORE_MAX_TOKENS)
            return bad(req, "q", "more than 16 words");
    }
    s = http_req_param(req, "severity");
    if (s && s[0]) {
        int sev = api_events_severity_parse(s);
        if (sev < 0)
            return bad(req, "severity",
                       "expected debug, info, notice, warning, error, critical or 1..6");
        q.min_severity = sev;
    }
    int rc = 0;
    size_t pos = 0;
    while ((s = http_req_param_next(req, "kv", &pos)) != NULL) {
        const char *eq = strchr(s, '=');
        if (eq == NULL || eq == s) {
            rc = bad(req, "kv", "expected key=value");
            goto out;
        }
        if (q.nkv == EVSTORE_MAX_KV) {
            rc = bad(req, "kv", "at most 16 key=value filters");
            goto out;
        }
        /* The key is cut out of a copy kept for the request. */
        char *copy = strdup(s);
        if (copy == NULL) {
            rc = TT_ENOMEM;
            goto out;
        }
        copy[eq - s] = '\0';
        q.kv[q.nkv].key = copy;
        q.kv[q.nkv].value = copy + (eq - s) + 1;
        q.nkv++;
    }
    rc = parse_common(req, &q);
    if (rc != 0) {
        rc = 0;
        goto out;
    }
    struct evstore_result r;
    err[0] = '\0';
    rc = evstore_search(st, &q, &r, err, sizeof err);
    if (rc < 0) {
        evstore_result_release(&r);
        if (rc == TT_EINVAL)
            rc = bad(req, "limit", err);
        else
            http_respond_error(req, 500, NULL, "events search: %s", tt_strerror(rc));
        rc = 0;
        goto out;
    }
    struct wbuf body;
    struct json_out j;
    wbuf_init(&body, 0);
    json_out_init(&j, &body);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "events");
    json_out_array_begin(&j);
    for (size_t i = 0; i < r.n; i++)
        put_event(&j, &r.hits[i].ev);
    json_out_array_end(&j);
    json_out_key(&j, "next_page_token");
    if (r.more && r.n > 0) {
        char tok[33];
        const struct evseg_event *last = &r.hits[r.n - 1].ev;
        api_events_token_format(last->time_ns, last->id, tok);
        json_out_str(&j, tok);
    } else {
        json_out_null(&j);
    }
    json_out_key(&j, "stats");
    json_out_object_begin(&j);
    json_out_key(&j, "blocks_total");
    json_out_u64(&j, r.blocks_total);
    json_out_key(&j, "blocks_read");
    json_out_u64(&j, r.blocks_read);
    json_out_key(&j, "events_scanned");
    json_out_u64(&j, r.events_scanned);
    json_out_key(&j, "damaged_blocks");
    json_out_u64(&j, r.problems);
    json_out_object_end(&j);
    json_out_object_end(&j);
    json_out_success_end(&j);
    evstore_result_release(&r);
    rc = http_respond_json(req, 200, &body);
    wbuf_release(&body);
out:
    for (size_t i = 0; i < q.nkv; i++)
        free((char *)q.kv[i].key);
    return rc;
}

static int parse_hlc(struct http_req *req, const char *name, uint64_t *out)
{
    const char *s = http_req_param(req, name);
    if (s == NULL || s[0] == '\0')
        return 0;
    char *endp = NULL;
    unsigned long long v = strtoull(s, &endp, 10);
    if (s[0] < '0' || s[0] > '9' || *endp != '\0')
        return 1 + bad(req, name, "expected an HLC: an unsigned decimal integer");
    *out = (uint64_t)v;
    return 0;
}

/* GET /api/tt/state: the state log's changes, newest first. */
static int handle_state(struct http_req *req, void *ctx)
{
    struct api_events *a = ctx;
    struct evstore *st = atomic_load(&a->state);
    struct evstore_query q;
    char err[512];
    if (st == NULL) {
        http_respond_error(req, 503, NULL, "the state log is not open yet");
        return 0;
    }
    const char *node = http_req_param(req, "node"), *log = http_req_param(req, "log"),
               *var = http_req_param(req, "var");
    statelog_query_init(&q, node && node[0] ? node : NULL, log && log[0] ? log : NULL,
                        var && var[0] ? var : NULL);
    q.limit = DEFAULT_LIMIT;
    if (parse_common(req, &q) != 0 || parse_hlc(req, "start_hlc", &q.hlc_min) != 0 ||
        parse_hlc(req, "end_hlc", &q.hlc_max) != 0)
        return 0;
    if (q.hlc_max < q.hlc_min)
        return bad(req, "end_hlc", "before start_hlc");
    struct evstore_result r;
    err[0] = '\0';
    int rc = evstore_search(st, &q, &r, err, sizeof err);
    if (rc < 0) {
        evstore_result_release(&r);
        http_respond_error(req, 500, NULL, "state search: %s", tt_strerror(rc));
        return 0;
    }
    struct wbuf body;
    struct json_out j;
    wbuf_init(&body, 0);
    json_out_init(&j, &body);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "changes");
    json_out_array_begin(&j);
    for (size_t i = 0; i < r.n; i++) {
        struct statelog_change c;
        char id[32];
        if (statelog_change_of(&r.hits[i].ev, &c) != 0)
            continue; /* cannot happen: the store wrote both */
        json_out_object_begin(&j);
        snprintf(id, sizeof id, "%" PRIu64, c.id);
        json_out_key(&j, "id");
        json_out_str(&j, id);
        json_out_key(&j, "time");
        json_out_time_ns(&j, c.time_ns);
        json_out_key(&j, "time_ns");
        json_out_i64(&j, c.time_ns);
        json_out_key(&j, "hlc");
        json_out_u64(&j, c.hlc);
        json_out_key(&j, "node");
        json_out_strn(&j, c.node.p, c.node.len);
        json_out_key(&j, "process");
        json_out_strn(&j, c.process.p, c.process.len);
        json_out_key(&j, "log");
        json_out_strn(&j, c.log.p, c.log.len);
        json_out_key(&j, "var");
        json_out_strn(&j, c.var.p, c.var.len);
        json_out_key(&j, "value");
        json_out_rec_value(&j, &c.value);
        json_out_key(&j, "prev");
        json_out_rec_value(&j, &c.prev);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_key(&j, "next_page_token");
    if (r.more && r.n > 0) {
        char tok[33];
        const struct evseg_event *last = &r.hits[r.n - 1].ev;
        api_events_token_format(last->time_ns, last->id, tok);
        json_out_str(&j, tok);
    } else {
        json_out_null(&j);
    }
    json_out_object_end(&j);
    json_out_success_end(&j);
    evstore_result_release(&r);
    rc = http_respond_json(req, 200, &body);
    wbuf_release(&body);
    return rc;
}

int api_events_register(struct server *srv, struct api_events **out)
{
    struct api_events *a = calloc(1, sizeof *a);
    *out = NULL;
    if (a == NULL)
        return TT_ENOMEM;
    atomic_init(&a->st, NULL);
    atomic_init(&a->state, NULL);
    struct http_route r = {
        .method = "GET", .pattern = "/api/tt/events", .handler = handle, .ctx = a
    };
    struct http_route rs = {
        .method = "GET", .pattern = "/api/tt/state", .handler = handle_state, .ctx = a
    };
    int rc = server_add_route(srv, &r);
    if (rc == 0)
        rc = server_add_route(srv, &rs);
    if (rc < 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void api_events_attach(struct api_events *a, struct evstore *st)
{
    atomic_store(&a->st, st);
}

void api_events_attach_state(struct api_events *a, struct evstore *state)
{
    atomic_store(&a->state, state);
}

void api_events_free(struct api_events *a)
{
    free(a);
}
