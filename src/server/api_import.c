/*
 * api_import.c - POST /api/v1/import/prometheus (api_import.h has the rules):
 * the body streams through the Prometheus text parser into a head appender
 * that commits every API_IMPORT_BATCH_SAMPLES samples, on a second thread
 * while the next batch is parsed. Series are looked up by their text as
 * written through a per-request cache.
 */
#include <pthread.h>
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

/* The series cache: the raw text of a series as the line wrote it (name and
 * label set, promtext_sample.series) -> its head ref, so that a series seen
 * before in the request skips label copying, normalization and the index's
 * hashing (what Prometheus's scrape cache does per target). Bounded: past
 * SCACHE_MAX_BYTES of keys or SCACHE_MAX_ENTRIES it starts empty again. */
#define SCACHE_MAX_BYTES   ((size_t)64 << 20)
#define SCACHE_MAX_ENTRIES ((size_t)1 << 20)

struct scache_ent {
    uint64_t hash; /* 0: empty slot */
    uint32_t off, len;
    head_ref ref;
    uint32_t next; /* slot + 1 of the series that followed this one last time */
};

struct scache {
    struct scache_ent *tab;
    size_t cap, n; /* cap a power of two */
    char *keys;    /* the raw series texts, back to back */
    size_t klen, kcap;
    uint32_t last_off; /* the last series looked up (last_ref 0: none) */
    uint32_t last_len;
    head_ref last_ref;
    size_t last_slot; /* its slot + 1 (0: none) */
};

static void scache_release(struct scache *c)
{
    free(c->tab);
    free(c->keys);
    memset(c, 0, sizeof *c);
}

static uint64_t scache_hash(const char *p, size_t n)
{
    uint64_t h = labels_hash_bytes(p, n, UINT64_C(0x9e3779b97f4a7c15));
    return h ? h : 1;
}

/* scache_hit makes slot j the last series looked up and returns its ref,
 * noting it as the successor of the one before. */
static head_ref scache_hit(struct scache *c, size_t j)
{
    if (c->last_slot != 0)
        c->tab[c->last_slot - 1].next = (uint32_t)(j + 1);
    c->last_slot = j + 1;
    c->last_off = c->tab[j].off;
    c->last_len = c->tab[j].len;
    c->last_ref = c->tab[j].ref;
    return c->last_ref;
}

/* scache_get returns the ref cached for series text p[0..n), or 0. It tries
 * the last series (a body grouped by series), then the one that followed it
 * last time (a body of scrapes: series come in the same order every time),
 * then the hash table. */
static head_ref scache_get(struct scache *c, const char *p, size_t n)
{
    if (c->last_ref != 0 && n == c->last_len && memcmp(c->keys + c->last_off, p, n) == 0)
        return c->last_ref;
    if (c->n == 0)
        return 0;
    if (c->last_slot != 0 && c->tab[c->last_slot - 1].next != 0) {
        size_t j = c->tab[c->last_slot - 1].next - 1;
        const struct scache_ent *e = &c->tab[j];
        if (e->len == n && memcmp(c->keys + e->off, p, n) == 0)
            return scache_hit(c, j);
    }
    uint64_t h = scache_hash(p, n);
    for (size_t j = h & (c->cap - 1);; j = (j + 1) & (c->cap - 1)) {
        const struct scache_ent *e = &c->tab[j];
        if (e->hash == 0)
            return 0;
        if (e->hash == h && e->len == n && memcmp(c->keys + e->off, p, n) == 0)
            return scache_hit(c, j);
    }
}

/* scache_put remembers p[0..n) -> ref (not cached before). Running out of
 * memory only means a cache miss later: it is not an error. */
static void scache_put(struct scache *c, const char *p, size_t n, head_ref ref)
{
    if (n > SCACHE_MAX_BYTES / 16)
        return;
    if (c->klen + n > SCACHE_MAX_BYTES || c->n >= SCACHE_MAX_ENTRIES) {
        c->n = 0;
        c->klen = 0;
        c->last_ref = 0;
        c->last_slot = 0;
        memset(c->tab, 0, c->cap * sizeof *c->tab);
    }
    if ((c->n + 1) * 2 > c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        struct scache_ent *t = calloc(nc, sizeof *t);
        if (t == NULL)
            return;
        for (size_t i = 0; i < c->cap; i++) {
            if (c->tab[i].hash == 0)
                continue;
            size_t j = c->tab[i].hash & (nc - 1);
            while (t[j].hash != 0)
                j = (j + 1) & (nc - 1);
            t[j] = c->tab[i];
            t[j].next = 0; /* slots moved: successors are learnt again */
        }
        c->last_slot = 0;
        free(c->tab);
        c->tab = t;
        c->cap = nc;
    }
    if (c->klen + n > c->kcap) {
        size_t nc = c->kcap ? c->kcap : 64 << 10;
        while (nc < c->klen + n)
            nc *= 2;
        char *k = realloc(c->keys, nc);
        if (k == NULL)
            return;
        c->keys = k;
        c->kcap = nc;
    }
    uint64_t h = scache_hash(p, n);
    size_t j = h & (c->cap - 1);
    while (c->tab[j].hash != 0)
        j = (j + 1) & (c->cap - 1);
    memcpy(c->keys + c->klen, p, n);
    c->tab[j].hash = h;
    c->tab[j].off = (uint32_t)c->klen;
    c->tab[j].len = (uint32_t)n;
    c->tab[j].ref = ref;
    c->tab[j].next = 0;
    c->klen += n;
    c->n++;
    (void)scache_hit(c, j);
}

/*
 * Batches are committed by a second thread while this one parses the next
 * batch (two cores: parsing and storing overlap). There are two appenders:
 * the one being filled here, and the one handed to the committer. Before
 * handing over a full batch the parser waits until the committer is idle,
 * so the other appender is free to fill and commits happen one at a time,
 * in the order of the body. The committer starts with the first full batch;
 * small bodies are committed on the request's thread only.
 */
struct import {
    struct head *head;
    struct head_appender *app[2];
    int cur; /* app[cur] is being filled */
    struct promtext parser;
    int parser_ok;
    int64_t now_ms;
    struct labels ls;
    char *strs; /* NUL-terminated copies of the current sample's strings */
    size_t strs_cap;
    struct scache cache;
    uint64_t add_too_old;   /* refused at add: out of the out-of-order window */
    uint64_t add_conflicts; /* refused at add: another value at the same timestamp */
    uint64_t invalid;       /* refused: bad label set */

    /* The committer thread and what it shares, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok; /* mu and cv initialised */
    pthread_t thr;
    int thr_state;                /* 0: not started, 1: running, -1: could not start */
    struct head_appender *queued; /* handed over, not yet taken */
    int busy;                     /* the committer is committing */
    int stop;
    uint64_t imported;  /* samples committed */
    uint64_t too_old;   /* refused at commit */
    uint64_t conflicts; /* refused at commit */
    int failed;         /* a commit failed: the request is answered 500/503 */
    char err[256];
};

/* commit commits app on the calling thread and adds its result to im. */
static int commit(struct import *im, struct head_appender *app)
{
    struct head_commit_result res;
    char err[256];
    memset(&res, 0, sizeof res);
    err[0] = 0;
    int rc = head_appender_commit(app, &res, err, sizeof err);
    pthread_mutex_lock(&im->mu);
    if (rc != 0) {
        if (!im->failed) {
            im->failed = rc;
            memcpy(im->err, err, sizeof im->err);
        }
    } else {
        im->imported += res.appended;
        im->too_old += res.too_old;
        im->conflicts += res.conflicts;
    }
    pthread_mutex_unlock(&im->mu);
    return rc;
}

static void *committer_main(void *arg)
{
    struct import *im = arg;
    pthread_mutex_lock(&im->mu);
    for (;;) {
        while (im->queued == NULL && !im->stop)
            pthread_cond_wait(&im->cv, &im->mu);
        if (im->stop) {
            if (im->queued != NULL)
                head_appender_rollback(im->queued);
            im->queued = NULL;
            break;
        }
        struct head_appender *a = im->queued;
        im->queued = NULL;
        im->busy = 1;
        if (im->failed) {
            head_appender_rollback(a); /* nothing after a failed batch */
        } else {
            pthread_mutex_unlock(&im->mu);
            (void)commit(im, a);
            pthread_mutex_lock(&im->mu);
        }
        im->busy = 0;
        pthread_cond_broadcast(&im->cv);
    }
    pthread_mutex_unlock(&im->mu);
    return NULL;
}

/* wait_idle waits until the committer has nothing queued or running and
 * returns the first commit error (0: none). */
static int wait_idle(struct import *im)
{
    pthread_mutex_lock(&im->mu);
    while (im->queued != NULL || im->busy)
        pthread_cond_wait(&im->cv, &im->mu);
    int rc = im->failed;
    pthread_mutex_unlock(&im->mu);
    return rc;
}

/* hand_off commits the full batch of app[cur]: on the committer thread
 * (starting it the first time) while parsing goes on into the other
 * appender, or here when the thread cannot run. Returns 0 or the error of
 * an earlier commit (the request then fails). */
static int hand_off(struct import *im)
{
    struct head_appender *a = im->app[im->cur];
    if (im->thr_state == 0)
        im->thr_state = pthread_create(&im->thr, NULL, committer_main, im) == 0 ? 1 : -1;
    if (im->thr_state < 0)
        return commit(im, a);
    pthread_mutex_lock(&im->mu);
    while (im->queued != NULL || im->busy)
        pthread_cond_wait(&im->cv, &im->mu);
    int rc = im->failed;
    if (rc == 0) {
        im->queued = a;
        pthread_cond_broadcast(&im->cv);
    }
    pthread_mutex_unlock(&im->mu);
    if (rc == 0)
        im->cur ^= 1;
    return rc;
}

static void import_free(void *p)
{
    struct import *im = p;
    if (!im)
        return;
    if (im->thr_state > 0) {
        pthread_mutex_lock(&im->mu);
        im->stop = 1;
        pthread_cond_broadcast(&im->cv);
        pthread_mutex_unlock(&im->mu);
        pthread_join(im->thr, NULL);
    }
    if (im->sync_ok) {
        pthread_cond_destroy(&im->cv);
        pthread_mutex_destroy(&im->mu);
    }
    if (im->parser_ok)
        promtext_release(&im->parser);
    head_appender_free(im->app[0]); /* rolls back what is pending */
    head_appender_free(im->app[1]);
    labels_release(&im->ls);
    free(im->strs);
    scache_release(&im->cache);
    free(im);
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

/* add adds one sample to app[cur], by the cached ref when the series text
 * was seen before in this request. */
static int add(struct import *im, const struct promtext_sample *s, int64_t t)
{
    struct head_appender *a = im->app[im->cur];
    head_ref ref = scache_get(&im->cache, s->series, s->series_len);
    if (ref != 0)
        return head_appender_add_ref(a, ref, t, s->value);
    int rc = build_labels(im, s);
    if (rc != 0)
        return rc;
    rc = head_appender_add(a, &im->ls, t, s->value, &ref);
    if (rc == 0)
        scache_put(&im->cache, s->series, s->series_len, ref);
    return rc;
}

static int on_sample(void *ctx, const struct promtext_sample *s)
{
    struct import *im = ctx;
    int64_t t = s->has_timestamp ? s->timestamp_ms : im->now_ms;
    int rc = add(im, s, t);
    if (rc == TT_EFULL) {
        if ((rc = hand_off(im)) != 0)
            return rc;
        rc = add(im, s, t);
    }
    switch (rc) {
    case 0:
        break;
    case TT_ERANGE:
        im->add_too_old++;
        break;
    case TT_EEXIST:
        im->add_conflicts++;
        break;
    case TT_EINVAL:
    case TT_ETOOBIG:
        im->invalid++;
        break;
    default:
        return rc;
    }
    if (head_appender_pending(im->app[im->cur]) >= API_IMPORT_BATCH_SAMPLES)
        return hand_off(im);
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
    if (pthread_mutex_init(&im->mu, NULL) != 0) {
        import_free(im);
        return NULL;
    }
    if (pthread_cond_init(&im->cv, NULL) != 0) {
        pthread_mutex_destroy(&im->mu);
        import_free(im);
        return NULL;
    }
    im->sync_ok = 1;
    if (head_appender_new(h, &im->app[0]) != 0 || head_appender_new(h, &im->app[1]) != 0 ||
        promtext_init(&im->parser, NULL, &cb) != 0) {
        import_free(im);
        return NULL;
    }
    im->parser_ok = 1;
    http_req_set_state(req, im, import_free);
    return im;
}

static int respond_failure(struct http_req *req, struct import *im, int rc)
{
    /* The batch being filled is dropped; the one handed over (all from
     * lines before it) is committed or fails first. */
    head_appender_rollback(im->app[im->cur]);
    (void)wait_idle(im);
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
    if (rc == 0 && (rc = wait_idle(im)) == 0)
        rc = commit(im, im->app[im->cur]);
    if (rc != 0)
        return respond_failure(req, im, rc);
    /* Every batch is committed (durable per the WAL policy) from here. */
    im->too_old += im->add_too_old;
    im->conflicts += im->add_conflicts;
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
