/*
 * api_import.c - POST /api/v1/import/prometheus (api_import.h has the rules):
 * the body streams through the Prometheus text parser into a head appender
 * that commits every API_IMPORT_BATCH_SAMPLES samples.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/api_import.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/promtext.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"
#include "server/store.h"
#include "store/tsdb/head.h"
#include "telltale.h"

struct import {
    struct head *head;
    struct head_appender *app;
    struct promtext parser;
    int parser_ok;
    int64_t now_ms;
    struct labels ls;
    char *strs; /* NUL-terminated copies of the current sample's strings */
    size_t strs_cap;
    uint64_t imported;  /* samples committed */
    uint64_t too_old;   /* refused: out of the out-of-order window */
    uint64_t conflicts; /* refused: another value at the same timestamp */
    uint64_t invalid;   /* refused: bad label set */
    int failed;         /* a commit failed: the request is answered 500/503 */
    char err[256];
};

static void import_free(void *p)
{
    struct import *im = p;
    if (!im)
        return;
    if (im->parser_ok)
        promtext_release(&im->parser);
    head_appender_free(im->app); /* rolls back what is pending */
    labels_release(&im->ls);
    free(im->strs);
    free(im);
}

static int commit(struct import *im)
{
    struct head_commit_result res;
    memset(&res, 0, sizeof res);
    int rc = head_appender_commit(im->app, &res, im->err, sizeof im->err);
    if (rc != 0) {
        im->failed = rc;
        return rc;
    }
    im->imported += res.appended;
    im->too_old += res.too_old;
    im->conflicts += res.conflicts;
    return 0;
}

/* Copy the sample's name and labels as NUL-terminated strings into im->strs
 * and build im->ls over them. */
static int build_labels(struct import *im, const struct promtext_sample *s)
{
    size_t need = s->name_len + 1;
    for (size_t i = 0; i < s->nlabels; i++)
        need += s->labels[i].name_len + s->labels[i].value_len + 2;
    if (need > im->strs_cap) {
        size_t ncap = need * 2;
        char *np = realloc(im->strs, ncap);
        if (!np)
            return TT_ENOMEM;
        im->strs = np;
        im->strs_cap = ncap;
    }
    labels_reset(&im->ls);
    char *p = im->strs;
    memcpy(p, s->name, s->name_len);
    p[s->name_len] = 0;
    int rc = labels_push(&im->ls, "__name__", p);
    p += s->name_len + 1;
    for (size_t i = 0; i < s->nlabels && rc == 0; i++) {
        const struct promtext_label *l = &s->labels[i];
        char *n = p;
        memcpy(p, l->name, l->name_len);
        p[l->name_len] = 0;
        p += l->name_len + 1;
        char *v = p;
        memcpy(p, l->value, l->value_len);
        p[l->value_len] = 0;
        p += l->value_len + 1;
        rc = labels_push(&im->ls, n, v);
    }
    return rc;
}

static int on_sample(void *ctx, const struct promtext_sample *s)
{
    struct import *im = ctx;
    int rc = build_labels(im, s);
    if (rc != 0)
        return rc;
    int64_t t = s->has_timestamp ? s->timestamp_ms : im->now_ms;
    rc = head_appender_add(im->app, &im->ls, t, s->value, NULL);
    if (rc == TT_EFULL) {
        if ((rc = commit(im)) != 0)
            return rc;
        rc = head_appender_add(im->app, &im->ls, t, s->value, NULL);
    }
    switch (rc) {
    case 0:
        break;
    case TT_ERANGE:
        im->too_old++;
        break;
    case TT_EEXIST:
        im->conflicts++;
        break;
    case TT_EINVAL:
    case TT_ETOOBIG:
        im->invalid++;
        break;
    default:
        return rc;
    }
    if (head_appender_pending(im->app) >= API_IMPORT_BATCH_SAMPLES)
        return commit(im);
    return 0;
}

static struct import *import_get(struct http_req *req, struct head *h)
{
    struct import *im = http_req_state(req);
    if (im)
        return im;
    im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->head = h;
    im->now_ms = clock_realtime_ns() / TT_NS_PER_MS;
    labels_init(&im->ls);
    struct promtext_callbacks cb = { 0 };
    cb.on_sample = on_sample;
    cb.ctx = im;
    if (head_appender_new(h, &im->app) != 0 || promtext_init(&im->parser, NULL, &cb) != 0) {
        import_free(im);
        return NULL;
    }
    im->parser_ok = 1;
    http_req_set_state(req, im, import_free);
    return im;
}

static int respond_failure(struct http_req *req, struct import *im, int rc)
{
    head_appender_rollback(im->app);
    if (im->failed)
        return http_respond_error(req, im->failed == TT_ENOMEM ? 500 : 503, NULL,
                                  "import: storing failed after %llu samples: %s",
                                  (unsigned long long)im->imported, im->err);
    if (rc == TT_ENOMEM)
        return http_respond_error(req, 500, NULL, "import: out of memory");
    if (im->parser.err.line == 0) /* stopped by the store, not by a bad line */
        return http_respond_error(req, 500, NULL, "import: %s after %llu samples", tt_strerror(rc),
                                  (unsigned long long)im->imported);
    return http_respond_error(req, 400, "bad_data",
                              "import: %s; %llu samples were imported before the batch holding "
                              "this line (batches of %u samples), nothing from that batch on",
                              im->parser.err.msg, (unsigned long long)im->imported,
                              API_IMPORT_BATCH_SAMPLES);
}

static int on_body(struct http_req *req, void *ctx, const uint8_t *chunk, size_t n)
{
    struct head *h = server_store_head(ctx);
    if (!h)
        return http_respond_error(req, 503, NULL, "the store is opening (WAL replay)"), TT_ESTATE;
    struct import *im = import_get(req, h);
    if (!im)
        return http_respond_error(req, 500, NULL, "import: out of memory"), TT_ENOMEM;
    int rc = promtext_feed(&im->parser, chunk, n);
    if (rc != 0) {
        respond_failure(req, im, rc);
        return rc;
    }
    return 0;
}

static int handle_import(struct http_req *req, void *ctx)
{
    struct head *h = server_store_head(ctx);
    if (!h)
        return http_respond_error(req, 503, NULL, "the store is opening (WAL replay)");
    struct import *im = import_get(req, h);
    if (!im)
        return http_respond_error(req, 500, NULL, "import: out of memory");
    int rc = promtext_finish(&im->parser);
    if (rc == 0)
        rc = commit(im);
    if (rc != 0)
        return respond_failure(req, im, rc);
    if (im->too_old == 0 && im->conflicts == 0 && im->invalid == 0)
        return http_respond(req, 204, "text/plain", "", 0);
    struct wbuf b;
    wbuf_init(&b, 0);
    struct json_out j;
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "imported");
    json_out_u64(&j, im->imported);
    json_out_key(&j, "refused_too_old");
    json_out_u64(&j, im->too_old);
    json_out_key(&j, "refused_conflicting_value");
    json_out_u64(&j, im->conflicts);
    json_out_key(&j, "refused_bad_labels");
    json_out_u64(&j, im->invalid);
    json_out_object_end(&j);
    json_out_success_end(&j);
    rc = http_respond_json(req, 200, &b);
    wbuf_release(&b);
    return rc;
}

int api_import_register(struct server *srv, struct server_store *store)
{
    struct http_route r = { .method = "POST",
                            .pattern = "/api/v1/import/prometheus",
                            .handler = handle_import,
                            .on_body = on_body,
                            .max_body_bytes = (size_t)API_IMPORT_MAX_BODY,
                            .ctx = store };
    return server_add_route(srv, &r);
}
