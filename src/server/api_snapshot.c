/*
 * api_snapshot.c - GET /api/tt/snapshot and GET /api/tt/cuts (see
 * api_snapshot.h).
 */
#include "server/api_snapshot.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/hlc.h"
#include "query/causal/cuts.h"
#include "server/api_spans.h"
#include "server/http.h"
#include "server/json_out.h"

#define CUTS_DEFAULT_LIMIT 1000
#define CUTS_LIMIT_MAX     100000
#define CUTS_BODY_MAX      (256u << 20) /* a reply of /api/tt/cuts at most */

struct api_snapshot {
    _Atomic(struct evstore *) st;
};

int api_snapshot_parse_at(const char *s, uint64_t *hlc)
{
    if (cuts_parse_hlc(s, hlc) == 0)
        return 0;
    int64_t ns;
    if (api_spans_parse_time(s, &ns) != 0 || ns < 0)
        return TT_ESYNTAX;
    uint64_t ms = (uint64_t)(ns / 1000000);
    if (ms > HLC_L_MAX)
        return TT_ESYNTAX;
    *hlc = hlc_pack(ms, 0);
    return 0;
}

/* put_hlc writes "hlc": 16 hex digits, "hlc_l" and "hlc_c" into an open object. */
static void put_hlc(struct json_out *j, const char *key, uint64_t h)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    json_out_key(j, key);
    json_out_str(j, hex);
}

static void put_at(struct json_out *j, uint64_t h)
{
    json_out_object_begin(j);
    put_hlc(j, "hlc", h);
    json_out_key(j, "l");
    json_out_u64(j, hlc_l(h));
    json_out_key(j, "c");
    json_out_u64(j, hlc_c(h));
    json_out_key(j, "time");
    json_out_time_ns(j, (int64_t)hlc_l(h) * 1000000);
    json_out_object_end(j);
}

static int entry_cmp(const void *pa, const void *pb)
{
    const struct cut_entry *a = *(const struct cut_entry *const *)pa,
                           *b = *(const struct cut_entry *const *)pb;
    int r = strcmp(a->node, b->node);
    if (r == 0)
        r = strcmp(a->log, b->log);
    return r ? r : strcmp(a->var, b->var);
}

/* put_nodes writes the cut as {node: {log: {var: {value, prev, hlc, time,
 * process}}}}, sorted by name. Returns 0 or TT_ENOMEM. */
static int put_nodes(struct json_out *j, const struct cut *c)
{
    size_t n = cut_count(c), it = 0, k = 0;
    const struct cut_entry **es = malloc((n ? n : 1) * sizeof *es);
    const struct cut_entry *e;
    if (es == NULL)
        return TT_ENOMEM;
    while ((e = cut_next(c, &it)) != NULL && k < n)
        es[k++] = e;
    qsort(es, k, sizeof *es, entry_cmp);
    json_out_object_begin(j);
    for (size_t i = 0; i < k; i++) {
        e = es[i];
        int new_node = i == 0 || strcmp(es[i - 1]->node, e->node) != 0;
        int new_log = new_node || strcmp(es[i - 1]->log, e->log) != 0;
        if (new_log && i > 0)
            json_out_object_end(j); /* the log */
        if (new_node && i > 0)
            json_out_object_end(j); /* the node */
        if (new_node) {
            json_out_key(j, e->node);
            json_out_object_begin(j);
        }
        if (new_log) {
            json_out_key(j, e->log);
            json_out_object_begin(j);
        }
        json_out_key(j, e->var);
        json_out_object_begin(j);
        json_out_key(j, "value");
        json_out_rec_value(j, &e->value);
        json_out_key(j, "prev");
        json_out_rec_value(j, &e->prev);
        put_hlc(j, "hlc", e->hlc);
        json_out_key(j, "time");
        json_out_time_ns(j, e->time_ns);
        json_out_key(j, "process");
        json_out_str(j, e->process);
        json_out_object_end(j);
    }
    if (k > 0) {
        json_out_object_end(j);
        json_out_object_end(j);
    }
    json_out_object_end(j);
    free(es);
    return 0;
}

static int bad(struct http_req *req, const char *param, const char *why)
{
    http_respond_error(req, 400, NULL, "parameter %s: %s", param, why);
    return 1;
}

#define AT_HELP                                                                             \
    "expected an HLC (16 hex digits, or L.C: milliseconds and count) or a time (RFC 3339, " \
    "Unix seconds or milliseconds)"

/* param_at reads parameter name into *h; dflt when absent (required: 0
 * means the parameter must be there). Returns 0, or 1 with a 400 set. */
static int param_at(struct http_req *req, const char *name, int required, uint64_t dflt,
                    uint64_t *h)
{
    const char *s = http_req_param(req, name);
    if (s == NULL || s[0] == '\0') {
        if (required)
            return bad(req, name, "missing; " AT_HELP);
        *h = dflt;
        return 0;
    }
    if (api_snapshot_parse_at(s, h) != 0)
        return bad(req, name, AT_HELP);
    return 0;
}

static const char *param_log(struct http_req *req)
{
    const char *log = http_req_param(req, "log");
    return log && log[0] ? log : NULL;
}

static int search_failed(struct http_req *req, int rc, const char *err)
{
    int status = rc == TT_ETOOBIG ? 422 : rc == TT_EINVAL ? 400 : 500;
    http_respond_error(req, status, NULL, "reading the state log: %s",
                       err[0] ? err : tt_strerror(rc));
    return 0;
}

static int handle_snapshot(struct http_req *req, void *ctx)
{
    struct api_snapshot *a = ctx;
    struct evstore *st = atomic_load(&a->st);
    char err[512] = "";
    uint64_t at;
    struct cut *c = NULL;
    if (st == NULL) {
        http_respond_error(req, 503, NULL, "the state log is not open yet");
        return 0;
    }
    if (param_at(req, "at", 1, 0, &at) != 0)
        return 0;
    int rc = cut_new(&c);
    if (rc == 0)
        rc = cuts_snapshot(st, at, param_log(req), c, err, sizeof err);
    if (rc < 0) {
        cut_free(c);
        return search_failed(req, rc, err);
    }
    struct wbuf body;
    struct json_out j;
    wbuf_init(&body, 0);
    json_out_init(&j, &body);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "at");
    put_at(&j, at);
    json_out_key(&j, "nodes");
    rc = put_nodes(&j, c);
    json_out_object_end(&j);
    json_out_success_end(&j);
    cut_free(c);
    if (rc < 0 || body.err) {
        wbuf_release(&body);
        http_respond_error(req, 500, NULL, "writing the snapshot: %s",
                           tt_strerror(rc < 0 ? rc : body.err));
        return 0;
    }
    rc = http_respond_json(req, 200, &body);
    wbuf_release(&body);
    return rc;
}

struct lines {
    struct wbuf *b;
    int full;
    uint64_t n;
};

static int put_step(void *arg, const struct cut_step *s)
{
    struct lines *l = arg;
    struct json_out j;
    const struct statelog_change *ch = s->change;
    json_out_init(&j, l->b);
    json_out_object_begin(&j);
    put_hlc(&j, "hlc", ch->hlc);
    json_out_key(&j, "time");
    json_out_time_ns(&j, ch->time_ns);
    json_out_key(&j, "node");
    json_out_str(&j, s->entry->node);
    json_out_key(&j, "process");
    json_out_strn(&j, ch->process.p, ch->process.len);
    json_out_key(&j, "log");
    json_out_str(&j, s->entry->log);
    json_out_key(&j, "var");
    json_out_str(&j, s->entry->var);
    json_out_key(&j, "value");
    json_out_rec_value(&j, &ch->value);
    json_out_key(&j, "prev");
    json_out_rec_value(&j, &ch->prev);
    json_out_key(&j, "last_of_hlc");
    json_out_bool(&j, s->last_of_hlc);
    if (l->full) {
        json_out_key(&j, "cut");
        int rc = put_nodes(&j, s->cut);
        if (rc < 0)
            return rc;
    }
    json_out_object_end(&j);
    wbuf_put(l->b, "\n", 1);
    l->n++;
    return l->b->err ? l->b->err : 0;
}

static int handle_cuts(struct http_req *req, void *ctx)
{
    struct api_snapshot *a = ctx;
    struct evstore *st = atomic_load(&a->st);
    char err[512] = "";
    uint64_t t1, t2;
    size_t limit = CUTS_DEFAULT_LIMIT;
    struct cut *c = NULL;
    if (st == NULL) {
        http_respond_error(req, 503, NULL, "the state log is not open yet");
        return 0;
    }
    if (param_at(req, "start", 0, 0, &t1) != 0 || param_at(req, "end", 0, UINT64_MAX, &t2) != 0)
        return 0;
    if (t2 < t1)
        return bad(req, "end", "before start") - 1;
    const char *ls = http_req_param(req, "limit"), *fs = http_req_param(req, "full");
    if (ls != NULL && ls[0] != '\0') {
        char *endp = NULL;
        unsigned long long v = strtoull(ls, &endp, 10);
        if (ls[0] < '0' || ls[0] > '9' || *endp != '\0' || v < 1 || v > CUTS_LIMIT_MAX)
            return bad(req, "limit", "expected an integer from 1 to 100000") - 1;
        limit = (size_t)v;
    }
    int full = 0;
    if (fs != NULL && fs[0] != '\0') {
        if (strcmp(fs, "1") != 0 && strcmp(fs, "0") != 0 && strcmp(fs, "true") != 0 &&
            strcmp(fs, "false") != 0)
            return bad(req, "full", "expected 1, 0, true or false") - 1;
        full = fs[0] == '1' || fs[0] == 't';
    }
    struct wbuf body;
    struct lines l = { .b = &body, .full = full };
    int truncated = 0;
    wbuf_init(&body, CUTS_BODY_MAX);
    int rc = cut_new(&c);
    if (rc == 0)
        rc = cuts_walk(st, t1, t2, param_log(req), limit, c, put_step, &l, &truncated, err,
                       sizeof err);
    cut_free(c);
    if (rc < 0 && rc != body.err) {
        wbuf_release(&body);
        return search_failed(req, rc, err);
    }
    if (truncated) {
        struct json_out j;
        json_out_init(&j, &body);
        json_out_object_begin(&j);
        json_out_key(&j, "truncated");
        json_out_bool(&j, 1);
        json_out_key(&j, "changes");
        json_out_u64(&j, l.n);
        json_out_object_end(&j);
        wbuf_put(&body, "\n", 1);
    }
    if (body.err) {
        rc = body.err;
        wbuf_release(&body);
        if (rc == TT_ETOOBIG)
            http_respond_error(req, 422, NULL,
                               "the reply would exceed 256 MiB: lower limit or leave out full=1");
        else
            http_respond_error(req, 500, NULL, "writing the cuts: %s", tt_strerror(rc));
        return 0;
    }
    rc = http_respond_wbuf(req, 200, "application/x-ndjson", &body);
    wbuf_release(&body);
    return rc;
}

int api_snapshot_register(struct server *srv, struct api_snapshot **out)
{
    struct api_snapshot *a = calloc(1, sizeof *a);
    *out = NULL;
    if (a == NULL)
        return TT_ENOMEM;
    atomic_init(&a->st, NULL);
    struct http_route r1 = {
        .method = "GET", .pattern = "/api/tt/snapshot", .handler = handle_snapshot, .ctx = a
    };
    struct http_route r2 = {
        .method = "GET", .pattern = "/api/tt/cuts", .handler = handle_cuts, .ctx = a
    };
    int rc = server_add_route(srv, &r1);
    if (rc == 0)
        rc = server_add_route(srv, &r2);
    if (rc < 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void api_snapshot_attach(struct api_snapshot *a, struct evstore *st)
{
    atomic_store(&a->st, st);
}

void api_snapshot_free(struct api_snapshot *a)
{
    free(a);
}
