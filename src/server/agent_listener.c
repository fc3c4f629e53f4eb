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
#include "server/metric_route.h"
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
};

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

    /* ingest state, guarded by apply_mu: batches are applied one at a time */
    pthread_mutex_t apply_mu;
    struct origin_state *origins;
    size_t norigins, cap_origins;
    int reclog_fd;
    struct wbuf scratch;

    /* node table, guarded by nodes_mu */
    pthread_mutex_t nodes_mu;
    struct node_info *nodes;
    size_t nnodes;
};

static int64_t now_ms(void)
{
    return clock_realtime_ns() / TT_NS_PER_MS;
}

/* ---- origin state ---------------------------------------------------------- */

static struct origin_state *origin_find(struct agent_listener *l, uint64_t id)
{
    for (size_t i = 0; i < l->norigins; i++)
        if (l->origins[i].origin_id == id)
            return &l->origins[i];
    return NULL;
}

static int origin_set(struct agent_listener *l, uint64_t id, uint64_t end)
{
    struct origin_state *o = origin_find(l, id);
    if (o != NULL) {
        if (end > o->durable_end)
            o->durable_end = end;
        return 0;
    }
    if (l->norigins == l->cap_origins) {
        size_t nc = l->cap_origins ? l->cap_origins * 2 : 16;
        struct origin_state *n = realloc(l->origins, nc * sizeof(*n));
        if (n == NULL)
            return TT_ENOMEM;
        l->origins = n;
        l->cap_origins = nc;
    }
    l->origins[l->norigins].origin_id = id;
    l->origins[l->norigins].durable_end = end;
    l->norigins++;
    return 0;
}

static int state_path(const struct agent_listener *l, char *out, size_t n, const char *suffix)
{
    int w = snprintf(out, n, "%s/agents.state%s", l->data_dir, suffix);
    return (w < 0 || (size_t)w >= n) ? TT_EINVAL : 0;
}

/* state_load reads DATA/agents.state: "origin_hex durable_end" lines. */
static int state_load(struct agent_listener *l, char *err, size_t errlen)
{
    char path[4096], line[256];
    int rc = state_path(l, path, sizeof path, ""), lineno = 0;
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

/* state_save replaces DATA/agents.state atomically (write tmp, fsync, rename,
 * fsync the directory). Called with apply_mu held. */
static int state_save(struct agent_listener *l, char *err, size_t errlen)
{
    char path[4096], tmp[4096];
    struct wbuf b;
    int fd = -1, rc = TT_EIO;

    if (state_path(l, path, sizeof path, "") < 0 || state_path(l, tmp, sizeof tmp, ".tmp") < 0)
        return TT_EINVAL;
    wbuf_init(&b, 0);
    for (size_t i = 0; i < l->norigins; i++) {
        char line[64];
        int w = snprintf(line, sizeof line, "%016llx %llu\n",
                         (unsigned long long)l->origins[i].origin_id,
                         (unsigned long long)l->origins[i].durable_end);
        wbuf_put(&b, line, (size_t)w);
    }
    if (b.err) {
        rc = b.err;
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto syserr;
    for (size_t off = 0; off < b.len;) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto syserr;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto syserr;
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0)
        goto syserr;
    fd = open(l->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && fsync(fd) != 0)
        goto syserr;
    rc = 0;
    goto out;
syserr:
    snprintf(err, errlen, "%.300s: %s", tmp, strerror(errno));
    rc = TT_EIO;
out:
    if (fd >= 0)
        close(fd);
    wbuf_release(&b);
    return rc;
}

/* ---- applying a batch ------------------------------------------------------ */

/* A series declared in the batch: its batch-local ref and its labels, the
 * strings copied NUL-terminated into one block. */
struct bseries {
    uint64_t ref;
    struct labels ls;
    char *strs;
};

static int bseries_cmp(const void *a, const void *b)
{
    const struct bseries *x = a, *y = b;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

static void bseries_free(struct bseries *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        labels_release(&s[i].ls);
        free(s[i].strs);
    }
    free(s);
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

/* apply routes one checked batch (apply_mu held). Returns 0, or a negative
 * code with a message: TT_ECORRUPT/TT_EUNSUPPORTED (bad batch: NACK, do
 * not resend), TT_EIO/TT_ENOMEM/TT_ESTATE (store: NACK, resend). */
static int apply(struct agent_listener *l, const struct link_batch *lb, struct apply_res *res,
                 char *err, size_t errlen)
{
    const struct batch_hdr *h = &lb->hdr;
    const uint8_t *body;
    size_t body_len;
    struct bseries *ser = NULL;
    size_t nser = 0, capser = 0;
    struct head_appender *app = NULL;
    int rc, other = 0;
    uint64_t end = h->first_seq + h->count;
    struct origin_state *os = origin_find(l, h->origin_id);

    memset(res, 0, sizeof(*res));
    if (os != NULL && end <= os->durable_end) {
        res->duplicate = 1;
        res->durable_end = os->durable_end;
        return 0;
    }
    struct head *head = server_store_head(l->cfg.store);
    if (head == NULL) {
        snprintf(err, errlen, "the store is opening");
        return TT_ESTATE;
    }
    rc = batch_open(lb->batch, h, &l->scratch, &body, &body_len, err, errlen);
    if (rc < 0)
        return rc;

    /* Pass 1: series, and whether anything else is in the batch. */
    struct rbuf r;
    struct rec rec;
    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, errlen)) == 1) {
        if (rec.type == REC_SERIES) {
            if (nser == capser) {
                size_t nc = capser ? capser * 2 : 64;
                struct bseries *n = realloc(ser, nc * sizeof(*n));
                if (n == NULL) {
                    rc = TT_ENOMEM;
                    goto out;
                }
                ser = n;
                capser = nc;
            }
            memset(&ser[nser], 0, sizeof(ser[nser]));
            nser++;
            rc = decode_series(&rec, &ser[nser - 1], err, errlen);
            if (rc < 0)
                goto out;
        } else if (rec.type != REC_SAMPLES) {
            other = 1;
            res->other_records++;
        }
    }
    if (rc < 0)
        goto out;
    if (nser > 1) /* ser is NULL in a batch without series (qsort wants a pointer) */
        qsort(ser, nser, sizeof(*ser), bseries_cmp);
    for (size_t i = 1; i < nser; i++) {
        if (ser[i].ref == ser[i - 1].ref) {
            snprintf(err, errlen, "series ref %llu declared twice in the batch",
                     (unsigned long long)ser[i].ref);
            rc = TT_ECORRUPT;
            goto out;
        }
    }
    res->series = nser;

    /* Pass 2: samples into one head commit. */
    rc = head_appender_new(head, &app);
    if (rc < 0)
        goto out;
    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, errlen)) == 1) {
        struct rec_samples rs;
        struct rec_sample_iter it;
        struct rec_sample s;
        if (rec.type == REC_METRIC) { /* libtelltale metrics: series too (metric_route.h) */
            struct metric_route_head mh = { app, 0, 0 };
            char merr[256];
            rc = metric_route_record(&rec, h->origin, h->origin_len, metric_route_to_head, &mh,
                                     merr, sizeof merr);
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
            struct bseries key = { .ref = s.ref };
            struct bseries *se = nser ? bsearch(&key, ser, nser, sizeof(*ser), bseries_cmp) : NULL;
            if (se == NULL) {
                snprintf(err, errlen, "sample of series ref %llu not declared in the batch",
                         (unsigned long long)s.ref);
                rc = TT_ECORRUPT;
                goto out;
            }
            int arc = head_appender_add(app, &se->ls, s.t_ms, s.v, NULL);
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
    if (rc < 0)
        goto out;

    /* Records the stores of later issues will index: the batch as received. */
    if (other) {
        if (l->reclog_fd < 0) {
            char dir[4096], path[4200];
            snprintf(dir, sizeof dir, "%s/records", l->data_dir);
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "%.300s: %s", dir, strerror(errno));
                rc = TT_EIO;
                goto out;
            }
            snprintf(path, sizeof path, "%s/00000001.log", dir);
            l->reclog_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (l->reclog_fd < 0) {
                snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
                rc = TT_EIO;
                goto out;
            }
        }
        off_t start = lseek(l->reclog_fd, 0, SEEK_END);
        for (size_t off = 0; off < lb->batch_len;) {
            ssize_t w = write(l->reclog_fd, lb->batch + off, lb->batch_len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                snprintf(err, errlen, "record log: %s", strerror(errno));
                if (start >= 0 && ftruncate(l->reclog_fd, start) != 0)
                    (void)0; /* a torn tail stays; its reader skips it by CRC */
                rc = TT_EIO;
                goto out;
            }
            off += (size_t)w;
        }
        if (fdatasync(l->reclog_fd) != 0) {
            snprintf(err, errlen, "record log fdatasync: %s", strerror(errno));
            rc = TT_EIO;
            goto out;
        }
    }
    rc = head_appender_commit(app, NULL, err, errlen);
    if (rc < 0)
        goto out;
    rc = origin_set(l, h->origin_id, end);
    if (rc < 0)
        goto out;
    rc = state_save(l, err, errlen);
    if (rc < 0)
        goto out;
    res->durable_end = origin_find(l, h->origin_id)->durable_end;
out:
    head_appender_free(app);
    bseries_free(ser, nser);
    if (l->scratch.cap > (64u << 20)) {
        wbuf_release(&l->scratch);
        wbuf_init(&l->scratch, 0);
    }
    return rc;
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
            pthread_mutex_lock(&l->apply_mu);
            struct origin_state *os = origin_find(l, origin);
            struct link_origin lo = { origin, os ? os->durable_end : 0 };
            pthread_mutex_unlock(&l->apply_mu);
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
        pthread_mutex_lock(&l->apply_mu);
        rc = apply(l, &lb, &res, msg, sizeof msg);
        pthread_mutex_unlock(&l->apply_mu);
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
    l->reclog_fd = -1;
    pthread_mutex_init(&l->conn_mu, NULL);
    pthread_cond_init(&l->conn_cv, NULL);
    pthread_mutex_init(&l->apply_mu, NULL);
    pthread_mutex_init(&l->nodes_mu, NULL);
    wbuf_init(&l->scratch, 0);
    hlc_init(&l->hlc, NULL, 0);
    if (l->addr == NULL || l->data_dir == NULL) {
        agent_listener_free(l);
        return TT_ENOMEM;
    }
    /* The data directory is created by server_start; the state file is read
     * now if it exists (a fresh directory has none). */
    rc = state_load(l, err, errlen);
    if (rc < 0) {
        agent_listener_free(l);
        return rc;
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
    if (l->reclog_fd >= 0)
        close(l->reclog_fd);
    wbuf_release(&l->scratch);
    pthread_mutex_destroy(&l->conn_mu);
    pthread_cond_destroy(&l->conn_cv);
    pthread_mutex_destroy(&l->apply_mu);
    pthread_mutex_destroy(&l->nodes_mu);
    free(l->origins);
    free(l->nodes);
    free(l->addr);
    free(l->data_dir);
    free(l);
}
