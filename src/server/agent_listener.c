/*
 * agent_listener.c - the server's agent port: accept thread, one thread per
 * agent connection, batch routing to the head and the record log, the
 * per-origin durable_end state and the per-node table behind
 * GET /api/tt/nodes. See agent_listener.h for the invariants.
 */
#include "server/agent_listener.h"

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
#include "server/server.h"
#include "server/store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/labels.h"

#define MAX_BATCH_BYTES (16u << 20) /* whole batch taken on the link */
#define MAX_NODES       4096
#define NAME_MAX_LEN    128
/* A connection must say HELLO this fast, and then send something (a batch
 * or a PING) at least this often, or it is closed: a peer that connects and
 * stays silent would otherwise hold one of the max_conns threads for ever. */
#define HELLO_TIMEOUT_S 10
#define IDLE_TIMEOUT_S  600

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
    int64_t offset_ms; /* server physical ms - agent physical ms at HELLO */
    int connected;
};

struct conn {
    struct agent_listener *l;
    int fd;
    char peer[64];
    pthread_t thread;
    struct conn *next;
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

    /* node table, guarded by nodes_mu */
    pthread_mutex_t nodes_mu;
    struct node_info *nodes;
    size_t nnodes;
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
static int add_samples(struct applier *ap, const uint8_t *body, size_t body_len,
                       struct apply_res *res, char *err, size_t errlen)
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

/* add_records is scan_records then add_samples. */
static int add_records(struct applier *ap, const uint8_t *body, size_t body_len,
                       struct apply_res *res, char *err, size_t errlen)
{
    int rc = scan_records(ap, body, body_len, res, err, errlen);
    return rc < 0 ? rc : add_samples(ap, body, body_len, res, err, errlen);
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
static int apply(struct agent_listener *l, const struct link_batch *lb, struct apply_res *res,
                 char *err, size_t errlen)
{
    const struct batch_hdr *h = &lb->hdr;
    const uint8_t *body;
    size_t body_len;
    struct applier *ap = NULL;
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
    ap = applier_get(l, head);
    if (ap == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = TT_ENOMEM;
        goto out;
    }
    rc = batch_open(lb->batch, h, &ap->scratch, &body, &body_len, err, errlen);
    if (rc < 0)
        goto out;
    rc = add_records(ap, body, body_len, res, err, errlen);
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
out:
    res->durable_end = origin_release(l, h->origin_id, end, rc == 0);
    if (ap != NULL)
        applier_put(l, ap);
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
        r = add_records(rc->ap, body, len, &res, rc->err, sizeof rc->err);
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
        n->offset_ms = t - (int64_t)h->physical_ms;
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
        json_out_object_end(&j);
    }
    pthread_mutex_unlock(&l->nodes_mu);
    json_out_array_end(&j);
    json_out_success_end(&j);
    return http_respond_json(req, 200, &b);
}

/* ---- one connection -------------------------------------------------------- */

static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return TT_EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_frame(int fd, struct wbuf *out)
{
    int rc = out->err ? out->err : send_all(fd, out->data, out->len);
    wbuf_reset(out);
    return rc;
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

/* conn_refuse logs reason with the peer, sends BYE code and returns -1. */
static int conn_refuse(struct conn *c, uint16_t code, const char *reason)
{
    log_warn(c->l->cfg.log, "agent connection closed", "peer", c->peer, "reason", reason);
    send_bye(c, code, reason);
    return -1;
}

/* conn_serve runs the conversation; returns when the connection ends. */
static void set_rcv_timeout(int fd, int s)
{
    struct timeval tv = { .tv_sec = s };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void conn_serve(struct conn *c)
{
    struct agent_listener *l = c->l;
    struct link_reader rd;
    struct wbuf out;
    uint8_t buf[65536];
    char msg[512];
    int have_hello = 0;
    uint64_t origin = 0;

    link_reader_init(&rd, MAX_BATCH_BYTES + 4096);
    wbuf_init(&out, 0);
    set_rcv_timeout(c->fd, (int)l->cfg.hello_timeout_s);
    for (;;) {
        struct link_frame f;
        int rc = link_reader_next(&rd, &f, msg, sizeof msg);
        if (rc < 0) {
            conn_refuse(c, LINK_BYE_PROTOCOL, msg);
            break;
        }
        if (rc == 0) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                conn_refuse(c, LINK_BYE_IDLE,
                            have_hello ? "no frame for too long" : "no HELLO in time");
                break;
            }
            if (n <= 0) {
                if (link_reader_pending(&rd))
                    log_warn(l->cfg.log, "agent connection cut mid-frame", "peer", c->peer);
                else
                    log_info(l->cfg.log, "agent disconnected", "peer", c->peer);
                break;
            }
            rc = link_reader_feed(&rd, buf, (size_t)n);
            if (rc < 0 && rc != TT_ENOMEM)
                continue; /* the stream error comes back from next() with its message */
            if (rc < 0) {
                conn_refuse(c, LINK_BYE_PROTOCOL, "out of memory");
                break;
            }
            continue;
        }
        if (!have_hello) {
            struct link_hello h;
            if (f.type != LINK_HELLO) {
                snprintf(msg, sizeof msg, "expected HELLO first, got %s", link_type_name(f.type));
                conn_refuse(c, LINK_BYE_PROTOCOL, msg);
                break;
            }
            rc = link_decode_hello(&f, &h, msg, sizeof msg);
            if (rc < 0) {
                conn_refuse(c, rc == TT_EVERSION ? LINK_BYE_VERSION : LINK_BYE_PROTOCOL, msg);
                break;
            }
            origin = h.origin_id;
            node_hello(l, &h, c->peer);
            pthread_mutex_lock(&l->origins_mu);
            struct origin_state *os = origin_find(l, origin);
            struct link_origin lo = { origin, os ? os->durable_end : 0 };
            pthread_mutex_unlock(&l->origins_mu);
            struct link_welcome w = { .version = LINK_VERSION,
                                      .hlc = hlc_now(&l->hlc),
                                      .physical_ms = (uint64_t)now_ms(),
                                      .max_batch_bytes = MAX_BATCH_BYTES,
                                      .n_origins = 1,
                                      .origins = &lo };
            if (link_put_welcome(&out, &w) < 0 || send_frame(c->fd, &out) < 0)
                break;
            have_hello = 1;
            set_rcv_timeout(c->fd, IDLE_TIMEOUT_S);
            char node[NAME_MAX_LEN];
            copy_str(node, sizeof node, &h.node);
            log_info(l->cfg.log, "agent connected", "peer", c->peer, "node", node);
            continue;
        }
        if (f.type == LINK_PING) {
            struct link_ping p;
            if (link_decode_ping(&f, &p, msg, sizeof msg) < 0) {
                conn_refuse(c, LINK_BYE_PROTOCOL, msg);
                break;
            }
            (void)hlc_recv(&l->hlc, p.hlc, NULL);
            struct link_pong po = { p.physical_ms, hlc_now(&l->hlc), (uint64_t)now_ms() };
            if (link_put_pong(&out, &po) < 0 || send_frame(c->fd, &out) < 0)
                break;
            continue;
        }
        if (f.type == LINK_BYE) {
            log_info(l->cfg.log, "agent said bye", "peer", c->peer);
            break;
        }
        if (f.type != LINK_BATCH) {
            snprintf(msg, sizeof msg, "unexpected %s frame from an agent", link_type_name(f.type));
            conn_refuse(c, LINK_BYE_PROTOCOL, msg);
            break;
        }
        struct link_batch lb;
        rc = link_decode_batch(&f, &lb, msg, sizeof msg);
        if (rc < 0) {
            /* The frame is whole (its CRC held) but its batch is not: NACK it,
             * and close, since the sender produced garbage. */
            uint64_t seq = f.len >= 8
                               ? ((uint64_t)f.payload[0] | (uint64_t)f.payload[1] << 8 |
                                  (uint64_t)f.payload[2] << 16 | (uint64_t)f.payload[3] << 24 |
                                  (uint64_t)f.payload[4] << 32 | (uint64_t)f.payload[5] << 40 |
                                  (uint64_t)f.payload[6] << 48 | (uint64_t)f.payload[7] << 56)
                               : 0;
            struct link_nack n = {
                seq, LINK_NACK_BAD_BATCH, 0, 0, { msg, (uint32_t)strnlen(msg, LINK_MAX_STR) }
            };
            if (link_put_nack(&out, &n) == 0)
                (void)send_frame(c->fd, &out);
            conn_refuse(c, LINK_BYE_PROTOCOL, msg);
            break;
        }
        struct apply_res res;
        rc = apply(l, &lb, &res, msg, sizeof msg);
        node_touch(l, origin, -1);
        if (rc < 0) {
            int bad =
                rc == TT_ECORRUPT || rc == TT_EUNSUPPORTED || rc == TT_EVERSION || rc == TT_ETRUNC;
            struct link_nack n = { lb.seq,
                                   bad ? LINK_NACK_BAD_BATCH : LINK_NACK_STORE,
                                   (uint8_t)!bad,
                                   bad ? 0 : 1000,
                                   { msg, (uint32_t)strnlen(msg, LINK_MAX_STR) } };
            log_warn(l->cfg.log, "agent batch refused", "peer", c->peer, "reason", msg);
            if (link_put_nack(&out, &n) < 0 || send_frame(c->fd, &out) < 0)
                break;
            if (bad) {
                send_bye(c, LINK_BYE_PROTOCOL, msg);
                break;
            }
            continue;
        }
        if (res.duplicate && log_enabled(l->cfg.log, LOG_LEVEL_DEBUG)) {
            char s[24];
            snprintf(s, sizeof s, "%llu", (unsigned long long)lb.hdr.first_seq);
            log_debug(l->cfg.log, "duplicate batch acknowledged again", "peer", c->peer,
                      "first_seq", s);
        }
        struct link_ack a = { lb.seq, lb.hdr.origin_id, res.durable_end, hlc_now(&l->hlc) };
        if (link_put_ack(&out, &a) < 0 || send_frame(c->fd, &out) < 0)
            break;
    }
    if (have_hello)
        node_touch(l, origin, 0);
    link_reader_release(&rd);
    wbuf_release(&out);
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
    free(l->origins);
    free(l->nodes);
    free(l->addr);
    free(l->data_dir);
    free(l);
}
