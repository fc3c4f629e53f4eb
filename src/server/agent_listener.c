/*
 * agent_listener.c - the server's agent port: accept thread, one thread per
 * agent connection, batch routing to the head and the record log, the
 * per-origin durable_end state and the per-node table behind
 * GET /api/tt/nodes. See agent_listener.h for the invariants.
 */
#include "server/agent_listener.h"
#include "server/digests.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/compress.h"
#include "core/hlc.h"
#include "core/link.h"
#include "core/record.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/reclog.h"
#include "server/metrics_self.h"
#include "server/metric_route.h"
#include "server/server.h"
#include "server/store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/labels.h"

#define MAX_NODES    4096
#define NAME_MAX_LEN 128
/* A connection must say HELLO this fast, and then send some whole frame (a
 * batch, a PING or the PONG to ours) at least this often, or it is closed: a
 * peer that connects and stays silent would otherwise hold one of the
 * max_conns threads for ever. A frame begun must be completed within
 * FRAME_TIMEOUT_S (a slow-loris sender), an answer read within
 * SEND_TIMEOUT_S. Defaults; agent_listener_config overrides them. */
#define HELLO_TIMEOUT_S   10
#define PING_INTERVAL_S   10
#define IDLE_TIMEOUT_S    60
#define FRAME_TIMEOUT_S   60
#define SEND_TIMEOUT_S    30
#define SEND_BUFFER_BYTES (64 << 10)

struct origin_state {
    uint64_t origin_id;
    uint64_t durable_end;
    int busy; /* a batch of this origin is being applied */
};

struct applier;

struct node_info {
    char node[NAME_MAX_LEN], role[NAME_MAX_LEN], release[NAME_MAX_LEN], version[NAME_MAX_LEN];
    char peer[64];
    uint64_t origin_id;
    int64_t last_seen_ms;
    /* The agent's clock minus the server's, ms: from the PONG with the
     * smallest round trip of the last few (rtt_ms), or at HELLO (rtt_ms -1,
     * the one-way delay not known). */
    int64_t offset_ms, rtt_ms;
    int connected;
};

struct conn {
    struct agent_listener *l;
    int fd;
    char peer[64];
    pthread_t thread;
    struct conn *next;
};

/* Why connections were closed and batches refused, by the server. */
enum close_reason {
    CLOSE_PROTOCOL,     /* broken stream or frame (BYE 2) */
    CLOSE_VERSION,      /* protocol version (BYE 1) */
    CLOSE_REFUSED,      /* too many connections (BYE 3) */
    CLOSE_IDLE,         /* no HELLO in time, or no frame for the idle timeout (BYE 5) */
    CLOSE_SLOW,         /* a frame not completed within the frame timeout (BYE 5) */
    CLOSE_SEND_TIMEOUT, /* the agent did not read its answers */
    CLOSE_NREASONS
};
static const char *const close_reason_names[CLOSE_NREASONS] = { "protocol", "version",
                                                                "refused",  "idle",
                                                                "slow",     "send_timeout" };

/* The listener's /metrics children (owned by the server's registry, which
 * outlives the listener; NULL ones are ignored by the metric_* calls). */
struct link_stats {
    struct metric *closed[CLOSE_NREASONS];
    struct metric *nack_too_big, *nack_bad_batch, *nack_store;
    struct metric *pings_sent, *pongs, *hlc_rejected;
    struct metric *connections, *buffered_bytes; /* gauges */
};

struct agent_listener {
    struct agent_listener_config cfg;
    char *addr, *data_dir;
    int lfd;
    uint16_t port;
    pthread_t accept_thread;
    int started;
    atomic_int stopping;
    struct hlc hlc;

    /* connections, guarded by conn_mu; conn_cv signals a connection's end */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;
    struct conn *conns;
    unsigned nconns;

    /* origin map, guarded by origins_mu; origins_cv: an origin's batch ended */
    pthread_mutex_t origins_mu;
    pthread_cond_t origins_cv;
    struct origin_state *origins;
    size_t norigins, cap_origins;
    struct reclog *reclog; /* opened by agent_listener_start */
    /* appliers not in use, guarded by pool_mu */
    pthread_mutex_t pool_mu;
    struct applier *pool;

    /* what the connections met, for /metrics (atomics, no lock) */
    struct link_stats stats;

    /* node table, guarded by nodes_mu */
    pthread_mutex_t nodes_mu;
    struct node_info *nodes;
    size_t nnodes;

    struct digests *digests; /* code digests from "telltale.digest" events */
};

static int64_t now_ms(void)
{
    return clock_realtime_ns() / TT_NS_PER_MS;
}

/* ---- origin state -------------------------------------------------------------
 *
 * The listener's copy of durable_end per origin, guarded by origins_mu. The
 * durable copy is in the head's WAL (origin records written with each
 * batch's commit, wal.h); this one answers HELLO and the duplicate check
 * without asking the WAL. busy marks an origin whose batch is being applied:
 * batches of one origin are applied one at a time (two connections of one
 * origin, a reconnect racing the old connection, wait for each other), those
 * of different origins at once. */

static struct origin_state *origin_find(struct agent_listener *l, uint64_t id)
{
    for (size_t i = 0; i < l->norigins; i++)
        if (l->origins[i].origin_id == id)
            return &l->origins[i];
    return NULL;
}

/* origin_get finds or adds origin id (origins_mu held). */
static struct origin_state *origin_get(struct agent_listener *l, uint64_t id)
{
    struct origin_state *o = origin_find(l, id);
    if (o != NULL)
        return o;
    if (l->norigins == l->cap_origins) {
        size_t nc = l->cap_origins ? l->cap_origins * 2 : 16;
        struct origin_state *n = realloc(l->origins, nc * sizeof(*n));
        if (n == NULL)
            return NULL;
        l->origins = n;
        l->cap_origins = nc;
    }
    o = &l->origins[l->norigins++];
    memset(o, 0, sizeof(*o));
    o->origin_id = id;
    return o;
}

/* origin_set raises id's durable_end to end (origins_mu held). */
static int origin_set(struct agent_listener *l, uint64_t id, uint64_t end)
{
    struct origin_state *o = origin_get(l, id);
    if (o == NULL)
        return TT_ENOMEM;
    if (end > o->durable_end)
        o->durable_end = end;
    return 0;
}

/* origin_claim waits until no batch of origin id is being applied, then
 * returns 1 (with *durable_end) when a batch ending at end is already stored,
 * or 0 having marked the origin busy; TT_ENOMEM. */
static int origin_claim(struct agent_listener *l, uint64_t id, uint64_t end, uint64_t *durable_end)
{
    int rc = 0;
    pthread_mutex_lock(&l->origins_mu);
    struct origin_state *o = origin_get(l, id);
    while (o != NULL && o->busy) {
        pthread_cond_wait(&l->origins_cv, &l->origins_mu);
        o = origin_find(l, id); /* the array may have moved */
    }
    if (o == NULL) {
        rc = TT_ENOMEM;
    } else if (end <= o->durable_end) {
        *durable_end = o->durable_end;
        rc = 1;
    } else {
        o->busy = 1;
    }
    pthread_mutex_unlock(&l->origins_mu);
    return rc;
}

/* origin_release ends origin_claim: raises durable_end to end when the batch
 * was stored (stored != 0) and returns the origin's durable_end. */
static uint64_t origin_release(struct agent_listener *l, uint64_t id, uint64_t end, int stored)
{
    uint64_t d = 0;
    pthread_mutex_lock(&l->origins_mu);
    struct origin_state *o = origin_find(l, id);
    if (o != NULL) {
        o->busy = 0;
        if (stored && end > o->durable_end)
            o->durable_end = end;
        d = o->durable_end;
    }
    pthread_cond_broadcast(&l->origins_cv);
    pthread_mutex_unlock(&l->origins_mu);
    return d;
}

static int state_path(const struct agent_listener *l, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/agents.state", l->data_dir);
    return (w < 0 || (size_t)w >= n) ? TT_EINVAL : 0;
}

/* state_load reads DATA/agents.state ("origin_hex durable_end" lines), the
 * file older servers kept durable_end in: read once, at start, and removed
 * once its origins are in the WAL (recover). *found says if it existed. */
static int state_load(struct agent_listener *l, int *found, char *err, size_t errlen)
{
    char path[4096], line[256];
    int rc = state_path(l, path, sizeof path), lineno = 0;
    *found = 0;
    if (rc < 0) {
        snprintf(err, errlen, "data directory path too long");
        return rc;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return TT_EIO;
    }
    *found = 1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long id, end;
        char extra;
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%llx %llu %c", &id, &end, &extra) != 2) {
            snprintf(err, errlen, "%s:%d: expected 'origin_hex durable_end'", path, lineno);
            fclose(f);
            return TT_ECORRUPT;
        }
        rc = origin_set(l, id, end);
        if (rc < 0) {
            fclose(f);
            return rc;
        }
    }
    fclose(f);
    return 0;
}

/* ---- applying a batch ------------------------------------------------------ */

/* A series declared in the batch: its batch-local ref, its labels (the
 * strings copied NUL-terminated into one block) and, once its first sample
 * went in, its head ref (later samples skip the label lookup). */
struct bseries {
    uint64_t ref;
    struct labels ls;
    char *strs;
    head_ref href;
};

/* What one thread needs to apply batches: kept in a pool on the listener,
 * taken by a connection thread for one batch. */
struct applier {
    struct applier *next;
    struct wbuf scratch; /* the decompressed body */
    struct bseries *ser;
    size_t nser, capser;
    struct head *head;
    struct head_appender *app;
};

static int bseries_cmp(const void *a, const void *b)
{
    const struct bseries *x = a, *y = b;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

static void bseries_clear(struct applier *ap)
{
    for (size_t i = 0; i < ap->nser; i++) {
        labels_release(&ap->ser[i].ls);
        free(ap->ser[i].strs);
    }
    ap->nser = 0;
}

static void applier_free(struct applier *ap)
{
    if (ap == NULL)
        return;
    bseries_clear(ap);
    free(ap->ser);
    head_appender_free(ap->app);
    wbuf_release(&ap->scratch);
    free(ap);
}

/* applier_get takes an applier from the pool (or makes one) with an
 * appender on head. NULL: out of memory. */
static struct applier *applier_get(struct agent_listener *l, struct head *head)
{
    pthread_mutex_lock(&l->pool_mu);
    struct applier *ap = l->pool;
    if (ap != NULL)
        l->pool = ap->next;
    pthread_mutex_unlock(&l->pool_mu);
    if (ap == NULL) {
        ap = calloc(1, sizeof(*ap));
        if (ap == NULL)
            return NULL;
        wbuf_init(&ap->scratch, 0);
    }
    if (ap->head != head) {
        head_appender_free(ap->app);
        ap->app = NULL;
        ap->head = NULL;
        if (head_appender_new(head, &ap->app) < 0) {
            applier_free(ap);
            return NULL;
        }
        ap->head = head;
    }
    return ap;
}

static void applier_put(struct agent_listener *l, struct applier *ap)
{
    bseries_clear(ap);
    if (ap->scratch.cap > (64u << 20)) {
        wbuf_release(&ap->scratch);
        wbuf_init(&ap->scratch, 0);
    }
    pthread_mutex_lock(&l->pool_mu);
    ap->next = l->pool;
    l->pool = ap;
    pthread_mutex_unlock(&l->pool_mu);
}

/* decode_series turns a series record into s (labels owned by s). */
static int decode_series(const struct rec *r, struct bseries *s, char *err, size_t errlen)
{
    struct rec_series rs;
    struct rec_label lab;
    struct rec_list it;
    size_t need = 0;
    int rc = rec_decode_series(r, &rs, err, errlen);
    if (rc < 0)
        return rc;
    it = rs.labels;
    while ((rc = rec_label_next(&it, &lab)) == 1)
        need += lab.name.len + lab.value.len + 2;
    if (rc < 0) {
        snprintf(err, errlen, "series record: malformed label list");
        return TT_ECORRUPT;
    }
    s->ref = rs.ref;
    s->href = 0;
    labels_init(&s->ls);
    s->strs = malloc(need ? need : 1);
    if (s->strs == NULL)
        return TT_ENOMEM;
    char *p = s->strs;
    it = rs.labels;
    while (rec_label_next(&it, &lab) == 1) {
        char *n = p, *v;
        memcpy(p, lab.name.p, lab.name.len);
        p += lab.name.len;
        *p++ = '\0';
        v = p;
        memcpy(p, lab.value.p, lab.value.len);
        p += lab.value.len;
        *p++ = '\0';
        if (labels_push(&s->ls, n, v) < 0)
            return TT_ENOMEM;
    }
    return 0;
}

/* What apply() found, for the ACK/NACK and the log. */
struct apply_res {
    uint64_t durable_end;
    int duplicate;
    uint64_t samples, skipped, series, other_records;
};

/* scan_records decodes a batch body's series into ap and counts in
 * res->other_records the records other than series and samples.
 * TT_ECORRUPT/TT_EUNSUPPORTED: bad batch; TT_ENOMEM. */
static int scan_records(struct applier *ap, const uint8_t *body, size_t body_len,
                        struct apply_res *res, char *err, size_t errlen)
{
    struct rbuf r;
    struct rec rec;
    int rc;

    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, errlen)) == 1) {
        if (rec.type == REC_SERIES) {
            if (ap->nser == ap->capser) {
                size_t nc = ap->capser ? ap->capser * 2 : 64;
                struct bseries *n = realloc(ap->ser, nc * sizeof(*n));
                if (n == NULL) {
                    rc = TT_ENOMEM;
                    goto out;
                }
                ap->ser = n;
                ap->capser = nc;
            }
            memset(&ap->ser[ap->nser], 0, sizeof(ap->ser[ap->nser]));
            ap->nser++;
            rc = decode_series(&rec, &ap->ser[ap->nser - 1], err, errlen);
            if (rc < 0)
                goto out;
        } else if (rec.type != REC_SAMPLES) {
            res->other_records++;
        }
    }
    if (rc < 0)
        goto out;
    if (ap->nser > 1)
        qsort(ap->ser, ap->nser, sizeof(*ap->ser), bseries_cmp);
    for (size_t i = 1; i < ap->nser; i++) {
        if (ap->ser[i].ref == ap->ser[i - 1].ref) {
            snprintf(err, errlen, "series ref %llu declared twice in the batch",
                     (unsigned long long)ap->ser[i].ref);
            rc = TT_ECORRUPT;
            goto out;
        }
    }
    res->series = ap->nser;
out:
    return rc < 0 ? rc : 0;
}

/* add_samples puts the samples of a scanned batch body into ap's appender
 * (not committed). Errors as scan_records, and the store's; the appender is
 * rolled back on error. */
static int add_samples(struct applier *ap, const char *origin, size_t origin_len,
                       const uint8_t *body, size_t body_len, struct apply_res *res, char *err,
                       size_t errlen)
{
    struct rbuf r;
    struct rec rec;
    int rc;

    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, errlen)) == 1) {
        struct rec_samples rs;
        struct rec_sample_iter it;
        struct rec_sample s;
        struct bseries *se = NULL;
        if (rec.type == REC_METRIC) { /* libtelltale metrics: series too (metric_route.h) */
            struct metric_route_head mh = { ap->app, 0, 0 };
            char merr[256];
            rc = metric_route_record(&rec, origin, origin_len, metric_route_to_head, &mh, merr,
                                     sizeof merr);
            if (rc == TT_ENOMEM || rc == TT_EIO || rc == TT_EFULL) {
                snprintf(err, errlen, "metric record: %s", tt_strerror(rc));
                goto out;
            }
            res->samples += mh.samples;
            res->skipped += mh.skipped + (rc < 0);
            continue;
        }
        if (rec.type != REC_SAMPLES)
            continue;
        rc = rec_decode_samples(&rec, &rs, err, errlen);
        if (rc < 0)
            goto out;
        rec_sample_iter_init(&it, &rs);
        while ((rc = rec_sample_next(&it, &s)) == 1) {
            if (se == NULL || se->ref != s.ref) {
                struct bseries key = { .ref = s.ref };
                se = ap->nser ? bsearch(&key, ap->ser, ap->nser, sizeof(*ap->ser), bseries_cmp)
                              : NULL;
                if (se == NULL) {
                    snprintf(err, errlen, "sample of series ref %llu not declared in the batch",
                             (unsigned long long)s.ref);
                    rc = TT_ECORRUPT;
                    goto out;
                }
            }
            int arc = se->href != 0 ? head_appender_add_ref(ap->app, se->href, s.t_ms, s.v)
                                    : head_appender_add(ap->app, &se->ls, s.t_ms, s.v, &se->href);
            if (arc == TT_ERANGE || arc == TT_EEXIST || arc == TT_EINVAL || arc == TT_ETOOBIG) {
                res->skipped++; /* the store refuses this sample: as Prometheus, skip it */
                continue;
            }
            if (arc < 0) {
                snprintf(err, errlen, "head append: %s", tt_strerror(arc));
                rc = arc;
                goto out;
            }
            res->samples++;
        }
        if (rc < 0) {
            snprintf(err, errlen, "samples record: malformed sample list");
            rc = TT_ECORRUPT;
            goto out;
        }
    }
out:
    if (rc < 0)
        head_appender_rollback(ap->app);
    return rc < 0 ? rc : 0;
}

/* add_records is scan_records then add_samples (origin: the batch's, for
 * the labels of libtelltale metric records). */
static int add_records(struct applier *ap, const struct batch_hdr *h, const uint8_t *body,
                       size_t body_len, struct apply_res *res, char *err, size_t errlen)
{
    int rc = scan_records(ap, body, body_len, res, err, errlen);
    return rc < 0 ? rc
                  : add_samples(ap, h->origin, h->origin_len, body, body_len, res, err, errlen);
}

/* commit_batch commits what add_samples put in the appender together with
 * the origin record o (one WAL append, durable per the WAL's policy: with
 * the default group commit, concurrent batches share one fdatasync). */
static int commit_batch(struct applier *ap, const struct wal_origin *o, char *err, size_t errlen)
{
    int rc = head_appender_set_origin(ap->app, o);
    if (rc < 0) {
        head_appender_rollback(ap->app);
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    return head_appender_commit(ap->app, NULL, err, errlen);
}

/* apply routes one checked batch; any number of connection threads may
 * call it at once. Returns 0, or a negative code with a message:
 * TT_ECORRUPT/TT_EUNSUPPORTED (bad batch: NACK, do not resend),
 * TT_EIO/TT_ENOMEM/TT_ESTATE (store: NACK, resend). The whole batch goes to
 * the record log (when it holds other records; its fdatasync starts at
 * once, in the record log's syncer), then the samples and the new
 * durable_end, with the batch's record-log position, go to the WAL in one
 * append; the ACK waits for both fdatasyncs, which run at the same time.
 * After a crash either may be durable without the other: a batch in the
 * record log the WAL does not cover has its samples applied at the next
 * start, and an origin record whose record-log copy is missing sends the
 * origin back to prev_end (recover), so the agent sends it again. */
static int apply_claimed(struct agent_listener *l, struct head *head, const struct link_batch *lb,
                         struct apply_res *res, char *err, size_t errlen);

static int apply(struct agent_listener *l, const struct link_batch *lb, struct apply_res *res,
                 char *err, size_t errlen)
{
    const struct batch_hdr *h = &lb->hdr;
    uint64_t end = h->first_seq + h->count;
    int rc;

    memset(res, 0, sizeof(*res));
    struct head *head = server_store_head(l->cfg.store);
    if (head == NULL || l->reclog == NULL) {
        snprintf(err, errlen, "the store is opening");
        return TT_ESTATE;
    }
    rc = origin_claim(l, h->origin_id, end, &res->durable_end);
    if (rc == 1) {
        res->duplicate = 1;
        return 0;
    }
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    rc = apply_claimed(l, head, lb, res, err, errlen);
    res->durable_end = origin_release(l, h->origin_id, end, rc == 0);
    return rc;
}

/* apply_claimed is apply's work once the batch's origin is claimed (busy);
 * the caller releases it. */
static int apply_claimed(struct agent_listener *l, struct head *head, const struct link_batch *lb,
                         struct apply_res *res, char *err, size_t errlen)
{
    const struct batch_hdr *h = &lb->hdr;
    const uint8_t *body;
    size_t body_len;
    struct applier *ap = NULL;
    uint64_t end = h->first_seq + h->count;
    int rc;

    ap = applier_get(l, head);
    if (ap == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = TT_ENOMEM;
        goto out;
    }
    rc = batch_open(lb->batch, h, &ap->scratch, &body, &body_len, err, errlen);
    if (rc < 0)
        goto out;
    rc = add_records(ap, h, body, body_len, res, err, errlen);
    if (rc < 0)
        goto out;
    struct reclog_pos pos = { 0, 0, 0 };
    if (res->other_records > 0) {
        rc = reclog_append(l->reclog, lb->batch, lb->batch_len, &pos, err, errlen);
        if (rc < 0) {
            head_appender_rollback(ap->app);
            goto out;
        }
    }
    struct wal_origin o = { h->origin_id, end, h->first_seq, pos.seg, pos.end };
    rc = commit_batch(ap, &o, err, errlen);
    if (rc == 0 && pos.seg != 0)
        rc = reclog_sync(l->reclog, pos.ticket, err, errlen);
    if (rc == 0 && res->other_records > 0 &&
        digests_ingest(l->digests, h->origin, h->origin_len, body, body_len, NULL, err, errlen) < 0)
        log_warn(l->cfg.log, "digest events not stored", "reason", err);
out:
    if (ap != NULL)
        applier_put(l, ap);
    return rc;
}

/* origin_claim_next waits until no batch of origin id is being applied,
 * marks it busy and returns its durable_end in *durable_end: where a
 * server-side ingest's batch starts. 0 or TT_ENOMEM. */
static int origin_claim_next(struct agent_listener *l, uint64_t id, uint64_t *durable_end)
{
    int rc = 0;
    pthread_mutex_lock(&l->origins_mu);
    struct origin_state *o = origin_get(l, id);
    while (o != NULL && o->busy) {
        pthread_cond_wait(&l->origins_cv, &l->origins_mu);
        o = origin_find(l, id);
    }
    if (o == NULL) {
        rc = TT_ENOMEM;
    } else {
        o->busy = 1;
        *durable_end = o->durable_end;
    }
    pthread_mutex_unlock(&l->origins_mu);
    return rc;
}

tt_hlc agent_listener_hlc_now(struct agent_listener *l)
{
    return hlc_now(&l->hlc);
}

int agent_listener_ingest_local(struct agent_listener *l, const char *origin, size_t origin_len,
                                uint64_t origin_id, const uint8_t *body, size_t body_len,
                                uint32_t count, uint64_t *first_seq, char *err, size_t errlen)
{
    struct wbuf w;
    struct link_batch lb;
    struct apply_res res;
    struct rbuf r;
    struct rec rec;
    uint64_t start = 0;
    tt_hlc lo = 0, hi = 0;
    uint32_t n = 0;
    int rc;

    if (origin_len == 0 || origin_len > BATCH_ORIGIN_MAX || memchr(origin, 0, origin_len) == NULL) {
        snprintf(err, errlen, "origin must be \"node\\0service\" of at most %d bytes",
                 BATCH_ORIGIN_MAX);
        return TT_EINVAL;
    }
    if (count == 0 || body_len > BATCH_MAX_STORED) {
        snprintf(err, errlen, count == 0 ? "no records" : "body of %zu bytes is over %u", body_len,
                 (unsigned)BATCH_MAX_STORED);
        return TT_EINVAL;
    }
    /* The body is the caller's: check it frames as count records, and find
     * its HLC range for the header. */
    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, errlen)) == 1) {
        if (rec.type == REC_SERIES || rec.type == REC_SAMPLES || rec.type == REC_ORIGIN) {
            snprintf(err, errlen, "record %u: %s records are not ingested this way", n,
                     rec_type_name(rec.type));
            return TT_EINVAL;
        }
        if (n == 0 || rec.hlc < lo)
            lo = rec.hlc;
        if (n == 0 || rec.hlc > hi)
            hi = rec.hlc;
        n++;
    }
    if (rc < 0)
        return TT_EINVAL;
    if (n != count) {
        snprintf(err, errlen, "body holds %u records, count says %u", n, count);
        return TT_EINVAL;
    }
    struct head *head = server_store_head(l->cfg.store);
    if (head == NULL || l->reclog == NULL) {
        snprintf(err, errlen, "the store is opening");
        return TT_ESTATE;
    }
    rc = origin_claim_next(l, origin_id, &start);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    wbuf_init(&w, 0);
    struct batch_hdr h = { .compression = BATCH_COMP_NONE,
                           .count = count,
                           .origin_id = origin_id,
                           .first_seq = start,
                           .hlc_min = lo,
                           .hlc_max = hi,
                           .raw_len = (uint32_t)body_len,
                           .origin = origin,
                           .origin_len = (uint16_t)origin_len };
    rc = batch_encode(&w, &h, body, body_len);
    if (rc < 0) {
        snprintf(err, errlen, "batch: %s", tt_strerror(rc));
        goto out;
    }
    memset(&lb, 0, sizeof lb);
    lb.batch = w.data;
    lb.batch_len = w.len;
    rc = batch_parse_header(w.data, w.len, &lb.hdr, err, errlen);
    if (rc < 0)
        goto out;
    memset(&res, 0, sizeof res);
    rc = apply_claimed(l, head, &lb, &res, err, errlen);
out:
    /* The seqs are used up even on failure: the batch may be in the record
     * log already (the WAL commit failed after the append), and the next
     * call's different records must not come under the same (origin_id,
     * first_seq), which readers take for a copy of this batch. A gap in an
     * origin's seqs harms nothing. */
    origin_release(l, origin_id, start + count, 1);
    wbuf_release(&w);
    if (rc == 0 && first_seq != NULL)
        *first_seq = start;
    return rc;
}

/* ---- recovery at start ------------------------------------------------------ */

struct recover_ctx {
    struct agent_listener *l;
    struct head *head; /* NULL: no store, nothing to apply */
    struct applier *ap;
    uint64_t batches, redone;
    int err_rc;
    char err[256];
};

/* recover_batch: a batch found in the record log. When its origin's
 * durable_end (from the WAL) does not cover it, the server died between the
 * record-log append and the WAL commit: its samples go to the head now,
 * with the durable_end, so the agent does not send it again. */
static int recover_batch(void *arg, const struct batch_hdr *h, const uint8_t *body, size_t len)
{
    struct recover_ctx *rc = arg;
    struct agent_listener *l = rc->l;
    struct apply_res res;
    uint64_t end = h->first_seq + h->count;
    int r;

    rc->batches++;
    struct origin_state *os = origin_find(l, h->origin_id);
    if (os != NULL && end <= os->durable_end)
        return 0;
    rc->redone++;
    if (rc->head != NULL) {
        memset(&res, 0, sizeof res);
        r = add_records(rc->ap, h, body, len, &res, rc->err, sizeof rc->err);
        bseries_clear(rc->ap);
        if (r == TT_ECORRUPT || r == TT_EUNSUPPORTED) {
            log_warn(l->cfg.log, "record log batch not applied", "reason", rc->err);
            return 0; /* it passed its CRC, so it was checked before: keep going */
        }
        struct wal_origin o = { h->origin_id, end, h->first_seq, 0, 0 };
        if (r == 0)
            r = commit_batch(rc->ap, &o, rc->err, sizeof rc->err);
        if (r < 0)
            return r;
    }
    return origin_set(l, h->origin_id, end);
}

static void recover_problem(void *arg, const char *file, const struct batch_problem *p, int cut)
{
    struct recover_ctx *rc = arg;
    char off[32], n[32];
    snprintf(off, sizeof off, "%zu", p->offset);
    snprintf(n, sizeof n, "%zu", p->skipped);
    log_warn(rc->l->cfg.log,
             cut ? "record log: torn tail cut" : "record log: damaged bytes skipped", "file", file,
             "offset", off, "bytes", n, "reason", p->msg);
}

/* lost_copies: an origin whose latest WAL origin record names a record-log
 * position the record log does not reach (after its torn tail was cut) lost
 * that batch's record-log copy in a crash (the two fdatasyncs run at once):
 * its durable_end goes back to the record's prev_end, so the agent sends the
 * batch again (its samples are then exact duplicates). Only the last
 * segment can fall short: a segment is fdatasync'd before the next one is
 * made. */
static void lost_copies(struct agent_listener *l, const struct wal_origin *wo, size_t n)
{
    struct reclog_stats st;
    reclog_get_stats(l->reclog, &st);
    for (size_t i = 0; i < n; i++) {
        const struct wal_origin *o = &wo[i];
        if (o->reclog_seg == 0 || o->reclog_seg < st.segment ||
            (o->reclog_seg == st.segment && o->reclog_end <= st.segment_len))
            continue;
        struct origin_state *os = origin_find(l, o->origin_id);
        if (os == NULL || os->durable_end != o->durable_end)
            continue; /* raised since by a batch found in the record log */
        os->durable_end = o->prev_end;
        char id[24], seg[16];
        snprintf(id, sizeof id, "%016llx", (unsigned long long)o->origin_id);
        snprintf(seg, sizeof seg, "%08u", (unsigned)o->reclog_seg);
        log_warn(l->cfg.log, "record log lost an acknowledged-to-be batch; the agent resends it",
                 "origin", id, "segment", seg);
    }
}

/* recover builds the origin map at start: the WAL's origin records (head),
 * then an old DATA/agents.state (upgrade), then the record log's batches
 * (recover_batch); an upgraded state file is written into the WAL and
 * removed. Opens the record log for appends. */
static int recover(struct agent_listener *l, char *err, size_t errlen)
{
    struct recover_ctx rc = { .l = l };
    struct wal_origin *wo = NULL;
    size_t nwo = 0;
    char dir[4096], path[4096];
    int r, had_state = 0;

    rc.head = server_store_head(l->cfg.store);
    if (rc.head != NULL) {
        r = head_origins(rc.head, &wo, &nwo);
        if (r < 0) {
            snprintf(err, errlen, "out of memory");
            return r;
        }
        for (size_t i = 0; i < nwo && r == 0; i++)
            r = origin_set(l, wo[i].origin_id, wo[i].durable_end);
        if (r < 0)
            goto out;
        rc.ap = applier_get(l, rc.head);
        if (rc.ap == NULL) {
            r = TT_ENOMEM;
            goto out;
        }
    }
    r = state_load(l, &had_state, err, errlen);
    if (r < 0)
        goto out;
    snprintf(dir, sizeof dir, "%s/records", l->data_dir);
    struct reclog_scan_cb cb = { recover_batch, recover_problem };
    r = reclog_open(&l->reclog, dir, l->cfg.reclog_segment_bytes, &cb, &rc, err, errlen);
    if (r < 0) {
        if (rc.err[0] != '\0')
            snprintf(err, errlen, "record log recovery: %s", rc.err);
        goto out;
    }
    lost_copies(l, wo, nwo);
    if (rc.redone > 0) {
        char nb[32];
        snprintf(nb, sizeof nb, "%llu", (unsigned long long)rc.redone);
        log_warn(l->cfg.log, "record log batches not in the WAL applied again", "batches", nb);
    }
    if (had_state && rc.head != NULL) {
        /* Upgrade: the state file's origins go into the WAL, then it goes. */
        for (size_t i = 0; i < l->norigins && r == 0; i++) {
            struct wal_origin o = { l->origins[i].origin_id, l->origins[i].durable_end, 0, 0, 0 };
            r = head_appender_set_origin(rc.ap->app, &o);
        }
        if (r == 0)
            r = head_appender_commit(rc.ap->app, NULL, err, errlen);
        if (r < 0)
            goto out;
        if (state_path(l, path, sizeof path) == 0 && unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
            r = TT_EIO;
            goto out;
        }
        log_info(l->cfg.log, "agents.state moved into the WAL and removed", "data", l->data_dir);
    }
out:
    free(wo);
    if (rc.ap != NULL)
        applier_put(l, rc.ap);
    return r;
}

/* ---- nodes ----------------------------------------------------------------- */

static void copy_str(char *dst, size_t n, const struct link_str *s)
{
    size_t k = s->len < n - 1 ? s->len : n - 1;
    memcpy(dst, s->p, k);
    dst[k] = '\0';
}

static void node_hello(struct agent_listener *l, const struct link_hello *h, const char *peer)
{
    char name[NAME_MAX_LEN];
    struct node_info *n = NULL;
    copy_str(name, sizeof name, &h->node);
    pthread_mutex_lock(&l->nodes_mu);
    for (size_t i = 0; i < l->nnodes; i++)
        if (strcmp(l->nodes[i].node, name) == 0)
            n = &l->nodes[i];
    if (n == NULL && l->nnodes < MAX_NODES) {
        struct node_info *nn = realloc(l->nodes, (l->nnodes + 1) * sizeof(*nn));
        if (nn != NULL) {
            l->nodes = nn;
            n = &l->nodes[l->nnodes++];
            memset(n, 0, sizeof(*n));
            memcpy(n->node, name, sizeof name);
        }
    }
    if (n != NULL) {
        int64_t t = now_ms();
        copy_str(n->role, sizeof n->role, &h->role);
        copy_str(n->release, sizeof n->release, &h->release);
        copy_str(n->version, sizeof n->version, &h->agent_version);
        snprintf(n->peer, sizeof n->peer, "%s", peer);
        n->origin_id = h->origin_id;
        n->last_seen_ms = t;
        n->offset_ms = (int64_t)h->physical_ms - t;
        n->rtt_ms = -1;
        n->connected = 1;
    }
    pthread_mutex_unlock(&l->nodes_mu);
}

static void node_touch(struct agent_listener *l, uint64_t origin_id, int connected)
{
    pthread_mutex_lock(&l->nodes_mu);
    for (size_t i = 0; i < l->nnodes; i++) {
        if (l->nodes[i].origin_id == origin_id) {
            l->nodes[i].last_seen_ms = now_ms();
            if (connected >= 0)
                l->nodes[i].connected = connected;
        }
    }
    pthread_mutex_unlock(&l->nodes_mu);
}

/* node_clock records a clock sample of origin_id's node (see node_info). */
static void node_clock(struct agent_listener *l, uint64_t origin_id, int64_t offset_ms,
                       int64_t rtt_ms)
{
    pthread_mutex_lock(&l->nodes_mu);
    for (size_t i = 0; i < l->nnodes; i++) {
        if (l->nodes[i].origin_id == origin_id) {
            l->nodes[i].offset_ms = offset_ms;
            l->nodes[i].rtt_ms = rtt_ms;
        }
    }
    pthread_mutex_unlock(&l->nodes_mu);
}

static int handle_nodes(struct http_req *req, void *ctx)
{
    struct agent_listener *l = ctx;
    struct wbuf b;
    struct json_out j;
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_array_begin(&j);
    pthread_mutex_lock(&l->nodes_mu);
    for (size_t i = 0; i < l->nnodes; i++) {
        const struct node_info *n = &l->nodes[i];
        char origin[24];
        snprintf(origin, sizeof origin, "%016llx", (unsigned long long)n->origin_id);
        json_out_object_begin(&j);
        json_out_key(&j, "node");
        json_out_str(&j, n->node);
        json_out_key(&j, "role");
        json_out_str(&j, n->role);
        json_out_key(&j, "release");
        json_out_str(&j, n->release);
        json_out_key(&j, "agent_version");
        json_out_str(&j, n->version);
        json_out_key(&j, "origin");
        json_out_str(&j, origin);
        json_out_key(&j, "peer");
        json_out_str(&j, n->peer);
        json_out_key(&j, "connected");
        json_out_i64(&j, n->connected);
        json_out_key(&j, "last_seen_ms");
        json_out_i64(&j, n->last_seen_ms);
        json_out_key(&j, "clock_offset_ms");
        json_out_i64(&j, n->offset_ms);
        json_out_key(&j, "rtt_ms");
        if (n->rtt_ms < 0)
            json_out_null(&j);
        else
            json_out_i64(&j, n->rtt_ms);
        json_out_object_end(&j);
    }
    pthread_mutex_unlock(&l->nodes_mu);
    json_out_array_end(&j);
    json_out_success_end(&j);
    return http_respond_json(req, 200, &b);
}

/* ---- one connection -------------------------------------------------------- */

/* send_all writes p whole. The socket has a send timeout (SO_SNDTIMEO), so a
 * peer that stops reading makes this fail with TT_EFULL after it instead
 * of blocking the connection's thread for ever (TT_EFULL: the socket's
 * buffer stayed full); no lock is held here. */
static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return TT_EFULL;
        if (w <= 0)
            return TT_EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void send_bye(struct conn *c, uint16_t code, const char *reason)
{
    struct wbuf out;
    struct link_bye b = { .code = code,
                          .reason = { reason, (uint32_t)strnlen(reason, LINK_MAX_STR) } };
    wbuf_init(&out, 0);
    if (link_put_bye(&out, &b) == 0)
        (void)send_all(c->fd, out.data, out.len);
    wbuf_release(&out);
}

/* conn_close logs reason with the peer, counts it under why, sends BYE
 * code and returns -1. */
static int conn_close(struct conn *c, uint16_t code, enum close_reason why, const char *reason)
{
    log_warn(c->l->cfg.log, "agent connection closed", "peer", c->peer, "reason", reason);
    metric_inc(c->l->stats.closed[why]);
    send_bye(c, code, reason);
    return -1;
}

/* conn_refuse is conn_close counted by the BYE code. */
static int conn_refuse(struct conn *c, uint16_t code, const char *reason)
{
    enum close_reason why = code == LINK_BYE_VERSION   ? CLOSE_VERSION
                            : code == LINK_BYE_REFUSED ? CLOSE_REFUSED
                            : code == LINK_BYE_IDLE    ? CLOSE_IDLE
                                                       : CLOSE_PROTOCOL;
    return conn_close(c, code, why, reason);
}

/* The clock samples kept per connection: the offset is taken from the one
 * with the smallest round trip (NTP's clock filter), whose error is at most
 * half its round trip. */
#define CLOCK_SAMPLES 8

/* The state of one conversation, for conn_serve and its helpers. */
struct cs {
    struct conn *c;
    struct agent_listener *l;
    struct link_reader rd;
    struct wbuf out;
    char msg[512];
    int have_hello;
    uint64_t origin;
    char node[NAME_MAX_LEN];
    int64_t now_ns;         /* monotonic, refreshed each turn */
    int64_t last_frame_ns;  /* the last whole frame (or the connect) */
    int64_t frame_start_ns; /* first byte of the frame being completed, 0: none */
    int64_t next_ping_ns;
    uint64_t ping_pt_ms;      /* physical_ms of the last PING sent, 0: none */
    struct link_skipped skip; /* an oversized frame being skipped (remaining > 0) */
    int64_t rtt_ms[CLOCK_SAMPLES], off_ms[CLOCK_SAMPLES];
    unsigned nclock, clock_next;
    int hlc_warned; /* a stamp beyond the HLC max offset was logged */
    /* A batch was NACKed for resending (TOO_BIG, STORE): the batches behind
     * it on this connection are refused too, since applying one would move
     * its origin's durable_end past the refused batch and mark it done. */
    int refusing;
    size_t buffered_shown; /* this connection's part of the buffered-bytes gauge */
};

/* cs_show_buffered brings the buffered-bytes gauge up to date with what
 * this connection's reader holds. */
static void cs_show_buffered(struct cs *s, size_t now_held)
{
    if (now_held != s->buffered_shown)
        metric_add(s->l->stats.buffered_bytes, (double)now_held - (double)s->buffered_shown);
    s->buffered_shown = now_held;
}

/* cs_send sends the frame in out; on failure logs why and returns < 0. */
static int cs_send(struct cs *s)
{
    int rc = s->out.err ? s->out.err : send_all(s->c->fd, s->out.data, s->out.len);
    wbuf_reset(&s->out);
    if (rc == TT_EFULL) {
        char m[96];
        snprintf(m, sizeof m, "the agent did not read for %u s (send timed out)",
                 s->l->cfg.send_timeout_s);
        log_warn(s->l->cfg.log, "agent connection closed", "peer", s->c->peer, "reason", m);
        metric_inc(s->l->stats.closed[CLOSE_SEND_TIMEOUT]);
    } else if (rc < 0) {
        log_info(s->l->cfg.log, "agent connection lost while sending", "peer", s->c->peer,
                 "problem", rc == TT_EIO ? strerror(errno) : tt_strerror(rc));
    }
    return rc;
}

/* merge_hlc folds a received stamp into the listener's HLC. A stamp too far
 * ahead of our clock is refused by hlc_recv (counted in hlc.rejected); the
 * first one of a connection is logged, since it means the node's clock is
 * off by more than the HLC's max offset. */
static void merge_hlc(struct cs *s, tt_hlc remote)
{
    if (remote == 0 || hlc_recv(&s->l->hlc, remote, NULL) != TT_ECLOCK)
        return;
    metric_inc(s->l->stats.hlc_rejected);
    if (s->hlc_warned)
        return;
    char ahead[32];
    snprintf(ahead, sizeof ahead, "%lld", (long long)((int64_t)hlc_l(remote) - (int64_t)now_ms()));
    log_warn(s->l->cfg.log, "agent HLC too far ahead of the server's clock; not merged", "peer",
             s->c->peer, "ahead_ms", ahead);
    s->hlc_warned = 1;
}

static int cs_nack(struct cs *s, uint64_t seq, uint16_t reason, const char *m)
{
    struct link_nack n = { seq,
                           reason,
                           (uint8_t)link_nack_retryable(reason),
                           reason == LINK_NACK_STORE ? 1000 : 0,
                           { m, (uint32_t)strnlen(m, LINK_MAX_STR) } };
    if (reason == LINK_NACK_TOO_BIG || reason == LINK_NACK_STORE)
        s->refusing = 1;
    if (reason != LINK_NACK_OVERLOADED)
        metric_inc(reason == LINK_NACK_TOO_BIG     ? s->l->stats.nack_too_big
                   : reason == LINK_NACK_BAD_BATCH ? s->l->stats.nack_bad_batch
                                                   : s->l->stats.nack_store);
    if (link_put_nack(&s->out, &n) < 0)
        return -1;
    return cs_send(s);
}

/* on_hello answers the first frame. Returns 0 or -1 (connection over). */
static int on_hello(struct cs *s, const struct link_frame *f)
{
    struct agent_listener *l = s->l;
    struct link_hello h;
    if (f->type != LINK_HELLO) {
        snprintf(s->msg, sizeof s->msg, "expected HELLO first, got %s", link_type_name(f->type));
        return conn_refuse(s->c, LINK_BYE_PROTOCOL, s->msg);
    }
    int rc = link_decode_hello(f, &h, s->msg, sizeof s->msg);
    if (rc < 0)
        return conn_refuse(s->c, rc == TT_EVERSION ? LINK_BYE_VERSION : LINK_BYE_PROTOCOL, s->msg);
    merge_hlc(s, h.hlc);
    s->origin = h.origin_id;
    node_hello(l, &h, s->c->peer);
    pthread_mutex_lock(&l->origins_mu);
    struct origin_state *os = origin_find(l, s->origin);
    struct link_origin lo = { s->origin, os ? os->durable_end : 0 };
    pthread_mutex_unlock(&l->origins_mu);
    struct link_welcome w = { .version = LINK_VERSION,
                              .hlc = hlc_now(&l->hlc),
                              .physical_ms = (uint64_t)now_ms(),
                              .max_batch_bytes = l->cfg.max_batch_bytes,
                              .n_origins = 1,
                              .origins = &lo };
    if (link_put_welcome(&s->out, &w) < 0 || cs_send(s) < 0)
        return -1;
    s->have_hello = 1;
    copy_str(s->node, sizeof s->node, &h.node);
    log_info(l->cfg.log, "agent connected", "peer", s->c->peer, "node", s->node);
    return 0;
}

/* on_pong takes a clock sample: the round trip since our PING (echo_ms is
 * its physical_ms) and the agent's clock against the midpoint, then
 * publishes the sample with the smallest round trip of the last few. */
static void on_pong(struct cs *s, const struct link_pong *p)
{
    int64_t now = now_ms();
    if (s->ping_pt_ms == 0 || p->echo_ms != s->ping_pt_ms || (int64_t)p->echo_ms > now)
        return; /* not the answer to our last PING (or a clock step): no sample */
    int64_t rtt = now - (int64_t)p->echo_ms;
    int64_t off = (int64_t)p->physical_ms - ((int64_t)p->echo_ms + rtt / 2);
    s->ping_pt_ms = 0;
    s->rtt_ms[s->clock_next] = rtt;
    s->off_ms[s->clock_next] = off;
    s->clock_next = (s->clock_next + 1) % CLOCK_SAMPLES;
    if (s->nclock < CLOCK_SAMPLES)
        s->nclock++;
    unsigned best = 0;
    for (unsigned i = 1; i < s->nclock; i++)
        if (s->rtt_ms[i] < s->rtt_ms[best])
            best = i;
    node_clock(s->l, s->origin, s->off_ms[best], s->rtt_ms[best]);
}

/* on_batch applies one BATCH frame and answers it. Returns 0 or -1. */
static int on_batch(struct cs *s, const struct link_frame *f)
{
    struct agent_listener *l = s->l;
    struct link_batch lb;
    struct apply_res res;
    int rc = link_decode_batch(f, &lb, s->msg, sizeof s->msg);
    if (rc < 0) {
        /* The frame is whole (its CRC held) and the stream in step, but its
         * batch is not readable: NACK it for good and go on. */
        uint64_t seq = f->len >= 8 ? get_le64(f->payload) : 0;
        log_warn(l->cfg.log, "agent batch refused", "peer", s->c->peer, "reason", s->msg);
        return cs_nack(s, seq, LINK_NACK_BAD_BATCH, s->msg);
    }
    merge_hlc(s, lb.hdr.hlc_max);
    if (s->refusing)
        return cs_nack(s, lb.seq, LINK_NACK_OVERLOADED,
                       "an earlier batch on this connection was refused: send again from it");
    rc = apply(l, &lb, &res, s->msg, sizeof s->msg);
    node_touch(l, s->origin, -1);
    if (rc < 0) {
        int bad =
            rc == TT_ECORRUPT || rc == TT_EUNSUPPORTED || rc == TT_EVERSION || rc == TT_ETRUNC;
        log_warn(l->cfg.log, "agent batch refused", "peer", s->c->peer, "reason", s->msg);
        return cs_nack(s, lb.seq, bad ? LINK_NACK_BAD_BATCH : LINK_NACK_STORE, s->msg);
    }
    if (res.duplicate && log_enabled(l->cfg.log, LOG_LEVEL_DEBUG)) {
        char fs[24];
        snprintf(fs, sizeof fs, "%llu", (unsigned long long)lb.hdr.first_seq);
        log_debug(l->cfg.log, "duplicate batch acknowledged again", "peer", s->c->peer, "first_seq",
                  fs);
    }
    struct link_ack a = { lb.seq, lb.hdr.origin_id, res.durable_end, hlc_now(&l->hlc) };
    if (link_put_ack(&s->out, &a) < 0)
        return -1;
    return cs_send(s);
}

/* on_frame handles one whole frame. Returns 0 or -1 (connection over). */
static int on_frame(struct cs *s, const struct link_frame *f)
{
    struct agent_listener *l = s->l;
    if (!s->have_hello)
        return on_hello(s, f);
    switch (f->type) {
    case LINK_BATCH:
        return on_batch(s, f);
    case LINK_PING: {
        struct link_ping p;
        if (link_decode_ping(f, &p, s->msg, sizeof s->msg) < 0)
            return conn_refuse(s->c, LINK_BYE_PROTOCOL, s->msg);
        merge_hlc(s, p.hlc);
        node_touch(l, s->origin, -1);
        struct link_pong po = { p.physical_ms, hlc_now(&l->hlc), (uint64_t)now_ms() };
        if (link_put_pong(&s->out, &po) < 0)
            return -1;
        return cs_send(s);
    }
    case LINK_PONG: {
        struct link_pong p;
        if (link_decode_pong(f, &p, s->msg, sizeof s->msg) < 0)
            return conn_refuse(s->c, LINK_BYE_PROTOCOL, s->msg);
        merge_hlc(s, p.hlc);
        node_touch(l, s->origin, -1);
        metric_inc(l->stats.pongs);
        on_pong(s, &p);
        return 0;
    }
    case LINK_BYE: {
        struct link_bye b;
        if (link_decode_bye(f, &b, s->msg, sizeof s->msg) == 0)
            snprintf(s->msg, sizeof s->msg, "%u %.*s", b.code, (int)b.reason.len, b.reason.p);
        log_info(l->cfg.log, "agent said bye", "peer", s->c->peer, "bye", s->msg);
        return -1;
    }
    default:
        snprintf(s->msg, sizeof s->msg, "unexpected %s frame from an agent",
                 link_type_name(f->type));
        return conn_refuse(s->c, LINK_BYE_PROTOCOL, s->msg);
    }
}

/* on_too_big handles the reader's TT_ETOOBIG: a BATCH over max_batch_bytes
 * (but within what any batch can be) is skipped and NACKed TOO_BIG, its
 * sequence number taken from the payload's first bytes as they come; any
 * other oversized frame ends the connection. Returns 0 or -1. */
static int on_too_big(struct cs *s)
{
    char why[LINK_MSG_MAX];
    snprintf(why, sizeof why, "%s", s->rd.msg);
    if (!s->have_hello) {
        /* Before HELLO the reader takes no BATCH at all (see conn_serve). */
        if (link_reader_skip_frame(&s->rd, &s->skip) == 0 && s->skip.type == LINK_BATCH)
            snprintf(why, sizeof why, "expected HELLO first, got BATCH (of %u bytes)", s->skip.len);
        return conn_refuse(s->c, LINK_BYE_PROTOCOL, why);
    }
    if (link_reader_skip_frame(&s->rd, &s->skip) < 0 || s->skip.type != LINK_BATCH ||
        s->skip.len > LINK_MAX_PAYLOAD || s->skip.len < 8)
        return conn_refuse(s->c, LINK_BYE_PROTOCOL, why);
    snprintf(s->msg, sizeof s->msg,
             "batch of %u bytes over the server's max_batch_bytes %u: split it", s->skip.len - 8,
             s->l->cfg.max_batch_bytes);
    log_warn(s->l->cfg.log, "agent batch refused", "peer", s->c->peer, "reason", s->msg);
    if (s->skip.remaining > 0)
        return 0; /* NACKed once its seq is there (skip_bytes) */
    return cs_nack(s, get_le64(s->skip.head), LINK_NACK_TOO_BIG, s->msg);
}

/* skip_bytes consumes bytes of a frame being skipped from p (n bytes) and
 * returns how many it took; the NACK goes out when the whole frame is gone
 * (answers stay in BATCH order). *rc is set to -1 if the connection ends. */
static size_t skip_bytes(struct cs *s, const uint8_t *p, size_t n, int *rc)
{
    size_t take = n < s->skip.remaining ? n : (size_t)s->skip.remaining;
    for (size_t i = 0; i < take && s->skip.head_have < 8; i++)
        s->skip.head[s->skip.head_have++] = p[i];
    s->skip.remaining -= take;
    if (s->skip.remaining == 0)
        *rc = cs_nack(s, get_le64(s->skip.head), LINK_NACK_TOO_BIG, s->msg) < 0 ? -1 : 0;
    return take;
}

/* cs_deadlines sends the PING when one is due and returns the poll timeout
 * in ms to the next deadline (HELLO, idle, frame, PING), or -1 when a
 * deadline has passed (the connection refused with BYE and logged) or the
 * PING could not be sent. */
static int cs_deadlines(struct cs *s)
{
    const struct agent_listener_config *cfg = &s->l->cfg;
    int64_t now = s->now_ns, next;
    char m[160];
    if (!s->have_hello) {
        next = s->last_frame_ns + (int64_t)cfg->hello_timeout_s * TT_NS_PER_S;
        if (now >= next) {
            snprintf(m, sizeof m, "no HELLO in %u s", cfg->hello_timeout_s);
            return conn_refuse(s->c, LINK_BYE_IDLE, m);
        }
    } else {
        next = s->last_frame_ns + (int64_t)cfg->idle_timeout_s * TT_NS_PER_S;
        if (now >= next && s->frame_start_ns == 0) {
            snprintf(m, sizeof m, "no frame for %u s (PINGs unanswered)", cfg->idle_timeout_s);
            return conn_refuse(s->c, LINK_BYE_IDLE, m);
        }
        if (s->frame_start_ns != 0)
            next = INT64_MAX;
        if (now >= s->next_ping_ns) {
            struct link_ping p = { hlc_now(&s->l->hlc), (uint64_t)now_ms() };
            if (link_put_ping(&s->out, &p) < 0 || cs_send(s) < 0)
                return -1;
            s->ping_pt_ms = p.physical_ms;
            metric_inc(s->l->stats.pings_sent);
            s->next_ping_ns = now + (int64_t)cfg->ping_interval_s * TT_NS_PER_S;
        }
        if (s->next_ping_ns < next)
            next = s->next_ping_ns;
    }
    if (s->frame_start_ns != 0) {
        int64_t fd = s->frame_start_ns + (int64_t)cfg->frame_timeout_s * TT_NS_PER_S;
        if (now >= fd) {
            snprintf(m, sizeof m,
                     "a frame begun %u s ago is still not complete (%zu bytes of it came; "
                     "slow sender)",
                     cfg->frame_timeout_s,
                     s->skip.remaining > 0
                         ? (size_t)(s->skip.len + LINK_FRAME_OVERHEAD - s->skip.remaining)
                         : link_reader_buffered(&s->rd));
            return conn_close(s->c, LINK_BYE_IDLE, CLOSE_SLOW, m);
        }
        if (fd < next)
            next = fd;
    }
    int64_t ms = (next - now + TT_NS_PER_MS - 1) / TT_NS_PER_MS;
    return ms > 60000 ? 60000 : (int)ms;
}

/* conn_serve runs the conversation; returns when the connection ends. */
static void conn_serve(struct conn *c)
{
    struct agent_listener *l = c->l;
    struct cs *s = calloc(1, sizeof(*s));
    uint8_t buf[65536];
    /* A connection never holds more than one frame of the largest batch
     * and one read after it. */
    size_t max_buffered = (size_t)l->cfg.max_batch_bytes + 8 + LINK_FRAME_OVERHEAD + sizeof buf;

    if (s == NULL)
        return;
    s->c = c;
    s->l = l;
    /* Until HELLO the reader refuses any BATCH from its header (limit 1
     * byte), so a peer that has not even said who it is cannot make the
     * server buffer a batch: at most a control frame (256 KiB). */
    link_reader_init(&s->rd, 1);
    wbuf_init(&s->out, 0);
    /* The server only sends small answers, so a small send buffer (the
     * kernel doubles it) is plenty, bounds the kernel memory an agent that
     * does not read can pin, and makes such an agent show up as a blocked
     * send (closed after send_timeout_s) after a few thousand answers rather
     * than after megabytes of them. */
    struct timeval tv = { .tv_sec = (time_t)l->cfg.send_timeout_s };
    int sndbuf = SEND_BUFFER_BYTES;
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    s->last_frame_ns = clock_monotonic_ns();
    metric_add(l->stats.connections, 1);
    for (;;) {
        struct link_frame f;
        int rc = link_reader_next(&s->rd, &f, s->msg, sizeof s->msg);
        if (rc == TT_ETOOBIG) {
            if (on_too_big(s) < 0)
                break;
            continue;
        }
        if (rc < 0) {
            conn_refuse(c, LINK_BYE_PROTOCOL, s->msg);
            break;
        }
        s->now_ns = clock_monotonic_ns();
        if (rc == 1) {
            s->last_frame_ns = s->now_ns;
            int hello_before = s->have_hello;
            if (on_frame(s, &f) < 0)
                break;
            if (!hello_before && s->have_hello) {
                s->next_ping_ns = s->now_ns + (int64_t)l->cfg.ping_interval_s * TT_NS_PER_S;
                s->rd.max_payload = l->cfg.max_batch_bytes + 8; /* <= LINK_MAX_PAYLOAD */
            }
            s->frame_start_ns = link_reader_pending(&s->rd) ? s->now_ns : 0;
            continue;
        }
        /* Nothing whole: wait for bytes or the next deadline. */
        if (s->skip.remaining == 0)
            s->frame_start_ns = link_reader_pending(&s->rd) ? s->frame_start_ns : 0;
        cs_show_buffered(s, link_reader_buffered(&s->rd));
        int timeout = cs_deadlines(s);
        if (timeout < 0)
            break;
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int pr = poll(&pfd, 1, timeout);
        if (pr < 0 && errno != EINTR) {
            log_warn(l->cfg.log, "agent connection: poll failed", "peer", c->peer, "problem",
                     strerror(errno));
            break;
        }
        if (pr <= 0)
            continue;
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            if (link_reader_pending(&s->rd) || s->skip.remaining > 0) {
                char m[96];
                snprintf(m, sizeof m,
                         "connection closed in the middle of a frame (%zu bytes of it)",
                         link_reader_buffered(&s->rd));
                log_warn(l->cfg.log, "agent connection cut mid-frame", "peer", c->peer, "reason",
                         m);
            } else {
                log_info(l->cfg.log, "agent disconnected", "peer", c->peer, "problem",
                         n < 0 ? strerror(errno) : "closed by the agent");
            }
            break;
        }
        if (s->frame_start_ns == 0)
            s->frame_start_ns = clock_monotonic_ns();
        size_t off = 0;
        if (s->skip.remaining > 0) {
            rc = 0;
            off = skip_bytes(s, buf, (size_t)n, &rc);
            if (rc < 0)
                break;
            if (s->skip.remaining == 0 && off == (size_t)n)
                s->frame_start_ns = 0;
        }
        if (off < (size_t)n) {
            rc = link_reader_feed(&s->rd, buf + off, (size_t)n - off);
            if (rc == TT_ENOMEM) {
                conn_refuse(c, LINK_BYE_PROTOCOL, "server out of memory for this connection");
                break;
            }
            /* A stream error comes back from link_reader_next with its message. */
        }
        if (link_reader_buffered(&s->rd) > max_buffered) {
            char m[96];
            snprintf(m, sizeof m, "%zu bytes buffered, over the limit of %zu",
                     link_reader_buffered(&s->rd), max_buffered);
            conn_refuse(c, LINK_BYE_PROTOCOL, m);
            break;
        }
    }
    if (s->have_hello)
        node_touch(l, s->origin, 0);
    cs_show_buffered(s, 0);
    metric_add(l->stats.connections, -1);
    link_reader_release(&s->rd);
    wbuf_release(&s->out);
    free(s);
}

/* register_metrics creates the listener's families in srv's registry. */
static int register_metrics(struct agent_listener *l, struct server *srv)
{
    static const char *const reason[] = { "reason" };
    struct metrics_registry *reg = server_metrics(srv);
    struct metric_family *f;
    const struct metric_desc closed = {
        METRIC_COUNTER,
        "telltale_agent_connections_closed_total",
        "Agent connections the server closed, by reason (protocol, version, refused, idle, "
        "slow, send_timeout).",
        reason,
        1,
        NULL,
        0
    };
    const struct metric_desc refused = {
        METRIC_COUNTER,
        "telltale_agent_batches_refused_total",
        "Agent batches answered with NACK, by reason (too_big, bad_batch, store).",
        reason,
        1,
        NULL,
        0
    };
    const struct metric_desc plain[] = {
        { METRIC_COUNTER, "telltale_agent_pings_sent_total", "PINGs sent to agents.", NULL, 0, NULL,
          0 },
        { METRIC_COUNTER, "telltale_agent_pongs_received_total", "PONGs received from agents.",
          NULL, 0, NULL, 0 },
        { METRIC_COUNTER, "telltale_agent_hlc_rejected_total",
          "Agent HLC stamps not merged: ahead of the server's clock by more than the max offset.",
          NULL, 0, NULL, 0 },
        { METRIC_GAUGE, "telltale_agent_connections", "Agent connections open.", NULL, 0, NULL, 0 },
        { METRIC_GAUGE, "telltale_agent_buffered_bytes",
          "Bytes of partial frames held for agent connections.", NULL, 0, NULL, 0 },
    };
    struct metric **plain_out[] = { &l->stats.pings_sent, &l->stats.pongs, &l->stats.hlc_rejected,
                                    &l->stats.connections, &l->stats.buffered_bytes };
    int rc = metrics_register(reg, &closed, &f);
    if (rc < 0)
        return rc;
    for (int i = 0; i < CLOSE_NREASONS; i++)
        l->stats.closed[i] = metrics_child(f, &close_reason_names[i]);
    if ((rc = metrics_register(reg, &refused, &f)) < 0)
        return rc;
    static const char *const too_big[] = { "too_big" }, *const bad[] = { "bad_batch" },
                             *const store[] = { "store" };
    l->stats.nack_too_big = metrics_child(f, too_big);
    l->stats.nack_bad_batch = metrics_child(f, bad);
    l->stats.nack_store = metrics_child(f, store);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if ((rc = metrics_register(reg, &plain[i], &f)) < 0)
            return rc;
        *plain_out[i] = metrics_child(f, NULL);
    }
    return 0;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct agent_listener *l = c->l;
    conn_serve(c);
    pthread_mutex_lock(&l->conn_mu);
    close(c->fd);
    c->fd = -1;
    for (struct conn **p = &l->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    l->nconns--;
    pthread_cond_broadcast(&l->conn_cv);
    pthread_mutex_unlock(&l->conn_mu);
    free(c);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct agent_listener *l = arg;
    while (!atomic_load(&l->stopping)) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(l->lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (atomic_load(&l->stopping))
                break;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                usleep(100000);
                continue;
            }
            break;
        }
        char host[48] = "?", serv[8] = "?", peer[64];
        getnameinfo((struct sockaddr *)&sa, salen, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(peer, sizeof peer, "%s:%s", host, serv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&l->conn_mu);
        if (l->nconns >= l->cfg.max_conns || atomic_load(&l->stopping)) {
            pthread_mutex_unlock(&l->conn_mu);
            struct conn tmp = { .l = l, .fd = fd };
            snprintf(tmp.peer, sizeof tmp.peer, "%s", peer);
            conn_refuse(&tmp, LINK_BYE_REFUSED, "too many agent connections");
            close(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            pthread_mutex_unlock(&l->conn_mu);
            close(fd);
            continue;
        }
        c->l = l;
        c->fd = fd;
        memcpy(c->peer, peer, sizeof peer);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&c->thread, &attr, conn_main, c) != 0) {
            pthread_attr_destroy(&attr);
            pthread_mutex_unlock(&l->conn_mu);
            close(fd);
            free(c);
            continue;
        }
        pthread_attr_destroy(&attr);
        c->next = l->conns;
        l->conns = c;
        l->nconns++;
        pthread_mutex_unlock(&l->conn_mu);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------- */

int agent_listener_new(struct agent_listener **out, const struct agent_listener_config *cfg,
                       struct server *srv, char *err, size_t errlen)
{
    struct agent_listener *l = calloc(1, sizeof(*l));
    int rc;
    *out = NULL;
    if (l == NULL)
        return TT_ENOMEM;
    l->cfg = *cfg;
    if (l->cfg.max_conns == 0)
        l->cfg.max_conns = AGENT_LISTENER_DEFAULT_MAX_CONNS;
    if (l->cfg.hello_timeout_s == 0)
        l->cfg.hello_timeout_s = HELLO_TIMEOUT_S;
    if (l->cfg.max_batch_bytes == 0)
        l->cfg.max_batch_bytes = AGENT_LISTENER_DEFAULT_MAX_BATCH;
    if (l->cfg.max_batch_bytes < AGENT_LISTENER_MIN_MAX_BATCH)
        l->cfg.max_batch_bytes = AGENT_LISTENER_MIN_MAX_BATCH;
    if (l->cfg.max_batch_bytes > LINK_MAX_PAYLOAD - 8)
        l->cfg.max_batch_bytes = LINK_MAX_PAYLOAD - 8;
    if (l->cfg.ping_interval_s == 0)
        l->cfg.ping_interval_s = PING_INTERVAL_S;
    if (l->cfg.idle_timeout_s == 0)
        l->cfg.idle_timeout_s = IDLE_TIMEOUT_S;
    if (l->cfg.frame_timeout_s == 0)
        l->cfg.frame_timeout_s = FRAME_TIMEOUT_S;
    if (l->cfg.send_timeout_s == 0)
        l->cfg.send_timeout_s = SEND_TIMEOUT_S;
    l->addr = strdup(cfg->addr ? cfg->addr : AGENT_LISTENER_DEFAULT_ADDR);
    l->data_dir = strdup(cfg->data_dir ? cfg->data_dir : ".");
    l->lfd = -1;
    pthread_mutex_init(&l->conn_mu, NULL);
    pthread_cond_init(&l->conn_cv, NULL);
    pthread_mutex_init(&l->origins_mu, NULL);
    pthread_cond_init(&l->origins_cv, NULL);
    pthread_mutex_init(&l->pool_mu, NULL);
    pthread_mutex_init(&l->nodes_mu, NULL);
    hlc_init(&l->hlc, NULL, 0);
    if (l->addr == NULL || l->data_dir == NULL) {
        agent_listener_free(l);
        return TT_ENOMEM;
    }
    struct http_route r = {
        .method = "GET", .pattern = "/api/tt/nodes", .handler = handle_nodes, .ctx = l
    };
    rc = server_add_route(srv, &r);
    if (rc < 0) {
        snprintf(err, errlen, "cannot register /api/tt/nodes: %s", tt_strerror(rc));
        agent_listener_free(l);
        return rc;
    }
    rc = register_metrics(l, srv);
    if (rc < 0) {
        snprintf(err, errlen, "cannot register the agent metrics: %s", tt_strerror(rc));
        agent_listener_free(l);
        return rc;
    }
    if ((rc = digests_open(&l->digests, l->data_dir, err, errlen)) < 0 ||
        (rc = server_add_route(srv, &(struct http_route){ .method = "GET",
                                                          .pattern = "/api/tt/digests",
                                                          .handler = digests_handle,
                                                          .ctx = l->digests })) < 0) {
        agent_listener_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int agent_listener_start(struct agent_listener *l, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(l->addr, ':');
    struct addrinfo hints, *ai = NULL;
    int rc = TT_ESYS, one = 1;

    /* The store is open: the origin map and the record log first. */
    if (l->reclog == NULL) {
        rc = recover(l, err, errlen);
        if (rc < 0)
            return rc;
    }
    rc = TT_ESYS;
    if (colon == NULL || (size_t)(colon - l->addr) >= sizeof host) {
        snprintf(err, errlen, "bad agents address '%s' (expected HOST:PORT)", l->addr);
        return TT_EINVAL;
    }
    memcpy(host, l->addr, (size_t)(colon - l->addr));
    host[colon - l->addr] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (g != 0) {
        snprintf(err, errlen, "agents address '%s': %s", l->addr, gai_strerror(g));
        return TT_EINVAL;
    }
    l->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->lfd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto out;
    }
    setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l->lfd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = errno == EADDRINUSE ? TT_EEXIST : TT_ESYS;
        snprintf(err, errlen, "agents address %s: %s", l->addr, strerror(errno));
        goto out;
    }
    if (listen(l->lfd, 128) != 0) {
        snprintf(err, errlen, "listen %s: %s", l->addr, strerror(errno));
        goto out;
    }
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    getsockname(l->lfd, (struct sockaddr *)&sa, &salen);
    l->port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    if (pthread_create(&l->accept_thread, NULL, accept_main, l) != 0) {
        snprintf(err, errlen, "cannot start the agent listener thread");
        goto out;
    }
    l->started = 1;
    rc = 0;
out:
    if (rc < 0 && l->lfd >= 0) {
        close(l->lfd);
        l->lfd = -1;
    }
    freeaddrinfo(ai);
    return rc;
}

struct reclog *agent_listener_reclog(struct agent_listener *l)
{
    return l->reclog;
}

uint16_t agent_listener_port(const struct agent_listener *l)
{
    return l->port;
}

void agent_listener_stop(struct agent_listener *l)
{
    if (l == NULL || atomic_exchange(&l->stopping, 1))
        return;
    if (l->lfd >= 0)
        shutdown(l->lfd, SHUT_RDWR);
    if (l->started)
        pthread_join(l->accept_thread, NULL);
    if (l->lfd >= 0) {
        close(l->lfd);
        l->lfd = -1;
    }
    pthread_mutex_lock(&l->conn_mu);
    for (struct conn *c = l->conns; c != NULL; c = c->next)
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    while (l->nconns > 0)
        pthread_cond_wait(&l->conn_cv, &l->conn_mu);
    pthread_mutex_unlock(&l->conn_mu);
}

void agent_listener_free(struct agent_listener *l)
{
    if (l == NULL)
        return;
    agent_listener_stop(l);
    if (reclog_close(l->reclog) != 0)
        log_error(l->cfg.log, "record log: the final fdatasync failed");
    while (l->pool != NULL) {
        struct applier *ap = l->pool;
        l->pool = ap->next;
        applier_free(ap);
    }
    pthread_mutex_destroy(&l->conn_mu);
    pthread_cond_destroy(&l->conn_cv);
    pthread_mutex_destroy(&l->origins_mu);
    pthread_cond_destroy(&l->origins_cv);
    pthread_mutex_destroy(&l->pool_mu);
    pthread_mutex_destroy(&l->nodes_mu);
    digests_close(l->digests);
    free(l->origins);
    free(l->nodes);
    free(l->addr);
    free(l->data_dir);
    free(l);
}
