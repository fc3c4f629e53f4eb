/*
 * agent.c - the agent: the batcher (a collection round into one
 * self-contained core batch), the origin state file, the collection round
 * and the shipper thread (HELLO/WELCOME, pipelined BATCH/ACK, reconnect with
 * exponential backoff and jitter). See agent.h for the invariants.
 */
#include "agent/agent.h"

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
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/backlog.h"
#include "agent/host.h"
#include "agent/scrape.h"
#include "agent/watch.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/compress.h"
#include "core/hlc.h"
#include "core/link.h"

#define AGENT_VERSION_STR "0.1.0"
#define WINDOW            16 /* unacked batches in flight */
#define BACKOFF_MIN_MS    200
#define BACKOFF_MAX_MS    30000
#define IO_TIMEOUT_MS     15000   /* WELCOME, or an ACK for a batch in flight */
#define MAX_ROUND_SAMPLES 2000000 /* one round's samples, a bound on memory */

/* ---- the batcher ----------------------------------------------------------- */

struct batcher_slot {
    uint64_t hash; /* 0: empty */
    size_t key_off, key_len;
    uint32_t nlabels;
    uint64_t ref;
};

struct batcher_ser {
    size_t key_off;
    uint32_t nlabels;
};

void agent_batcher_init(struct agent_batcher *b)
{
    memset(b, 0, sizeof(*b));
    wbuf_init(&b->series, 0);
    wbuf_init(&b->keys, (size_t)1 << 30);
    wbuf_init(&b->events, (size_t)1 << 30);
}

void agent_batcher_release(struct agent_batcher *b)
{
    wbuf_release(&b->series);
    wbuf_release(&b->keys);
    wbuf_release(&b->events);
    free(b->samples);
    free(b->slots);
    memset(b, 0, sizeof(*b));
}

void agent_batcher_reset(struct agent_batcher *b)
{
    wbuf_reset(&b->series);
    wbuf_reset(&b->keys);
    wbuf_reset(&b->events);
    b->nevents = 0;
    b->nsamples = 0;
    b->nseries = 0;
    b->err = 0;
    if (b->slots != NULL)
        memset(b->slots, 0, b->nslots * sizeof(*b->slots));
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

/* grow_slots doubles the table (at least 256), re-inserting every slot. */
static int grow_slots(struct agent_batcher *b)
{
    size_t n = b->nslots ? b->nslots * 2 : 256;
    struct batcher_slot *s = calloc(n, sizeof(*s));
    if (s == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < b->nslots; i++) {
        if (b->slots[i].hash == 0)
            continue;
        size_t j = b->slots[i].hash & (n - 1);
        while (s[j].hash != 0)
            j = (j + 1) & (n - 1);
        s[j] = b->slots[i];
    }
    free(b->slots);
    b->slots = s;
    b->nslots = n;
    return 0;
}

int agent_batcher_add(struct agent_batcher *b, const char *name, const struct agent_label *labels,
                      size_t nlabels, int64_t t_ms, double v)
{
    if (b->err)
        return b->err;
    if (name == NULL || name[0] == '\0' || nlabels > 1000)
        return TT_EINVAL;
    for (size_t i = 0; i < nlabels; i++)
        if (labels[i].name == NULL || labels[i].value == NULL || labels[i].name[0] == '\0')
            return TT_EINVAL;
    if (b->nsamples >= MAX_ROUND_SAMPLES)
        return b->err = TT_ETOOBIG;

    /* The key: name NUL then name NUL value NUL per label, as given (a
     * collector emits one series' labels in one order). */
    size_t off = b->keys.len;
    wbuf_put(&b->keys, name, strlen(name) + 1);
    for (size_t i = 0; i < nlabels; i++) {
        wbuf_put(&b->keys, labels[i].name, strlen(labels[i].name) + 1);
        wbuf_put(&b->keys, labels[i].value, strlen(labels[i].value) + 1);
    }
    if (b->keys.err)
        return b->err = b->keys.err;
    size_t klen = b->keys.len - off;
    uint64_t h = fnv1a(b->keys.data + off, klen), ref = 0;
    if ((b->nseries + 1) * 2 > b->nslots && grow_slots(b) < 0)
        return b->err = TT_ENOMEM;
    size_t j = h & (b->nslots - 1);
    while (b->slots[j].hash != 0) {
        struct batcher_slot *s = &b->slots[j];
        if (s->hash == h && s->key_len == klen &&
            memcmp(b->keys.data + s->key_off, b->keys.data + off, klen) == 0) {
            ref = s->ref;
            b->keys.len = off; /* the key is known: drop the copy */
            break;
        }
        j = (j + 1) & (b->nslots - 1);
    }
    if (ref == 0) {
        ref = ++b->nseries;
        b->slots[j] = (struct batcher_slot){ h, off, klen, (uint32_t)nlabels, ref };
        /* series ref -> its key, for the ordered walk at finish (slot
         * indexes move when the table grows; key offsets do not) */
        struct batcher_ser bs = { off, (uint32_t)nlabels };
        wbuf_put(&b->series, &bs, sizeof bs);
        if (b->series.err)
            return b->err = b->series.err;
    }
    if (b->nsamples == b->capsamples) {
        size_t nc = b->capsamples ? b->capsamples * 2 : 1024;
        struct rec_sample *n = realloc(b->samples, nc * sizeof(*n));
        if (n == NULL)
            return b->err = TT_ENOMEM;
        b->samples = n;
        b->capsamples = nc;
    }
    b->samples[b->nsamples++] = (struct rec_sample){ ref, t_ms, v };
    return 0;
}

int agent_batcher_add_event(struct agent_batcher *b, const struct agent_event *ev, tt_hlc hlc)
{
    if (b->err)
        return b->err;
    if (ev == NULL || ev->name == NULL || ev->name[0] == '\0')
        return TT_EINVAL;
    struct wbuf attrs;
    wbuf_init(&attrs, REC_MAX_LEN);
    for (size_t i = 0; i < ev->nattrs; i++) {
        const struct agent_label *a = &ev->attrs[i];
        if (a->name == NULL || a->value == NULL) {
            wbuf_release(&attrs);
            return TT_EINVAL;
        }
        struct rec_value v = { .type = TT_VAL_STR };
        v.u.s = (struct rec_str){ a->value, (uint32_t)strlen(a->value) };
        rec_kv_put(&attrs, a->name, strlen(a->name), &v);
    }
    int rc = attrs.err;
    if (rc == 0) {
        struct rec_event e = {
            .severity = ev->severity,
            .component = { ev->component, ev->component ? (uint32_t)strlen(ev->component) : 0 },
            .name = { ev->name, (uint32_t)strlen(ev->name) },
            .message = { ev->message, ev->message ? (uint32_t)strlen(ev->message) : 0 },
            .attrs = { (uint32_t)ev->nattrs, attrs.data, (uint32_t)attrs.len, 0 },
        };
        rc = rec_put_event(&b->events, hlc, ev->t_ms * 1000000, &e);
    }
    wbuf_release(&attrs);
    if (rc == TT_ETOOBIG)
        return rc;
    if (rc < 0)
        return b->err = rc;
    if (b->nevents == 0 || hlc < b->ev_hlc_min)
        b->ev_hlc_min = hlc;
    if (b->nevents == 0 || hlc > b->ev_hlc_max)
        b->ev_hlc_max = hlc;
    b->nevents++;
    return 0;
}

uint32_t agent_batcher_count(const struct agent_batcher *b)
{
    return (b->nsamples ? (uint32_t)(b->nseries + 1) : 0) + b->nevents;
}

int agent_batcher_finish(const struct agent_batcher *b, const char *node, uint64_t origin_id,
                         uint64_t first_seq, tt_hlc hlc, int64_t time_ns, struct wbuf *out)
{
    struct wbuf raw;
    struct rec_label *ls = NULL;
    size_t caplabels = 0;
    char origin[BATCH_ORIGIN_MAX];
    size_t nl = strlen(node);
    int rc = 0;

    if (b->err)
        return b->err;
    if (agent_batcher_count(b) == 0 || nl + sizeof("\0agent") > sizeof origin)
        return TT_EINVAL;
    memcpy(origin, node, nl);
    memcpy(origin + nl, "\0agent", sizeof("\0agent") - 1);
    wbuf_init(&raw, BATCH_MAX_RAW);
    for (uint64_t r = 0; r < b->nseries; r++) {
        struct batcher_ser bs;
        memcpy(&bs, b->series.data + r * sizeof bs, sizeof bs);
        const char *p = (const char *)b->keys.data + bs.key_off;
        size_t n = (size_t)bs.nlabels + 1;
        if (n > caplabels) {
            struct rec_label *nls = realloc(ls, n * sizeof(*nls));
            if (nls == NULL) {
                rc = TT_ENOMEM;
                goto out;
            }
            ls = nls;
            caplabels = n;
        }
        ls[0].name = (struct rec_str){ "__name__", 8 };
        ls[0].value = (struct rec_str){ p, (uint32_t)strlen(p) };
        p += ls[0].value.len + 1;
        for (size_t i = 1; i < n; i++) {
            ls[i].name = (struct rec_str){ p, (uint32_t)strlen(p) };
            p += ls[i].name.len + 1;
            ls[i].value = (struct rec_str){ p, (uint32_t)strlen(p) };
            p += ls[i].value.len + 1;
        }
        rc = rec_put_series(&raw, hlc, time_ns, r + 1, ls, n);
        if (rc < 0)
            goto out;
    }
    if (b->nsamples > 0) {
        rc = rec_put_samples(&raw, hlc, time_ns, b->samples, b->nsamples, REC_SAMPLES_XOR);
        if (rc < 0)
            goto out;
    }
    wbuf_put(&raw, b->events.data, b->events.len);
    if (raw.err) {
        rc = raw.err;
        goto out;
    }
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = agent_batcher_count(b);
    h.origin_id = origin_id;
    h.first_seq = first_seq;
    h.hlc_min = hlc;
    h.hlc_max = hlc;
    if (b->nevents > 0 && (b->nsamples == 0 || b->ev_hlc_min < hlc))
        h.hlc_min = b->ev_hlc_min;
    if (b->nevents > 0 && (b->nsamples == 0 || b->ev_hlc_max > hlc))
        h.hlc_max = b->ev_hlc_max;
    h.origin = origin;
    h.origin_len = (uint16_t)(nl + 6);
    rc = batch_encode_compressed(out, &h, raw.data, raw.len, BATCH_COMP_ZSTD);
out:
    free(ls);
    wbuf_release(&raw);
    return rc;
}

/* ---- the agent ------------------------------------------------------------- */

struct agent {
    struct agent_config cfg;
    char *server, *node, *role, *release, *state_dir;
    struct scrape_target *scrapes[AGENT_MAX_SCRAPES];
    size_t nscrapes;
    struct agent_watch *watch; /* processes, files, digests */
    uint64_t origin_id, next_seq;
    struct hlc hlc;
    struct agent_batcher batcher;
    struct wbuf out;

    pthread_mutex_t mu; /* the backlog */
    struct backlog *backlog;

    pthread_t shipper;
    int started;
    atomic_int stop;
    int wake_fd; /* eventfd: a batch was appended, or stop */
    uint64_t rng;
};

/* Where a sample comes from decides the labels the agent adds: the host's
 * series get job="node" and instance=<node>, as Prometheus scraping the
 * node's node_exporter would give them (so its dashboards work); scraped
 * series keep their target's job and instance and get node=<node> (the
 * node whose agent scraped them), unless they carry one already. */
struct emit_ctx {
    struct agent *a;
    int host;
};

#define EMIT_MAX_LABELS 64

static void agent_warn(void *ctx, const char *msg)
{
    const struct emit_ctx *c = ctx;
    log_warn(c->a->cfg.log, "collector", "problem", msg);
}

static int emit_sample(void *ctx, const char *name, const struct agent_label *labels,
                       size_t nlabels, int64_t t_ms, double v)
{
    struct emit_ctx *c = ctx;
    struct agent *a = c->a;
    struct agent_label all[EMIT_MAX_LABELS + 2];
    if (nlabels > EMIT_MAX_LABELS)
        return agent_batcher_add(&a->batcher, name, labels, nlabels, t_ms, v);
    size_t n = 0;
    int has_node = 0, has_job = 0, has_instance = 0;
    for (size_t i = 0; i < nlabels; i++) {
        has_node |= strcmp(labels[i].name, "node") == 0;
        has_job |= strcmp(labels[i].name, "job") == 0;
        has_instance |= strcmp(labels[i].name, "instance") == 0;
        all[n++] = labels[i];
    }
    if (c->host) {
        if (!has_job)
            all[n++] = (struct agent_label){ "job", "node" };
        if (!has_instance)
            all[n++] = (struct agent_label){ "instance", a->cfg.node };
    } else if (!has_node) {
        all[n++] = (struct agent_label){ "node", a->cfg.node };
    }
    return agent_batcher_add(&a->batcher, name, all, n, t_ms, v);
}

/* write_file_atomic replaces path with data (tmp, fsync, rename, dir fsync). */
static int write_file_atomic(const char *dir, const char *name, const char *data, size_t len,
                             char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    int fd = -1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
        goto fail;
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0)
            goto fail;
        close(fd);
    }
    return 0;
fail:
    snprintf(err, errlen, "%.300s: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    return TT_EIO;
}

static int save_origin(struct agent *a, uint64_t next_seq, char *err, size_t errlen)
{
    char line[64];
    int n = snprintf(line, sizeof line, "%016llx %llu\n", (unsigned long long)a->origin_id,
                     (unsigned long long)next_seq);
    return write_file_atomic(a->state_dir, "origin", line, (size_t)n, err, errlen);
}

/* load_origin reads STATE/origin, or makes a new random origin id. */
static int load_origin(struct agent *a, char *err, size_t errlen)
{
    char path[4096], line[128];
    snprintf(path, sizeof path, "%s/origin", a->state_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        unsigned long long id, seq;
        char extra;
        int ok = fgets(line, sizeof line, f) != NULL &&
                 sscanf(line, "%llx %llu %c", &id, &seq, &extra) == 2 && id != 0;
        fclose(f);
        if (!ok) {
            snprintf(err, errlen, "%s: expected '<origin hex> <next seq>'", path);
            return TT_ECORRUPT;
        }
        a->origin_id = id;
        a->next_seq = seq;
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return TT_EIO;
    }
    while (a->origin_id == 0) {
        if (getrandom(&a->origin_id, sizeof a->origin_id, 0) != (ssize_t)sizeof a->origin_id) {
            snprintf(err, errlen, "getrandom: %s", strerror(errno));
            return TT_ESYS;
        }
    }
    a->next_seq = 0;
    return save_origin(a, 0, err, errlen);
}

static void backlog_problem(void *arg, const struct backlog_problem *p)
{
    struct agent *a = arg;
    log_warn(a->cfg.log, "backlog problem", "file", p->file, "problem", p->msg);
}

int agent_new(struct agent **out, const struct agent_config *cfg, char *err, size_t errlen)
{
    struct agent *a;
    int rc;

    *out = NULL;
    if (cfg->server == NULL || cfg->node == NULL || cfg->node[0] == '\0' ||
        strlen(cfg->node) > LINK_MAX_STR || cfg->state_dir == NULL ||
        cfg->nscrapes > AGENT_MAX_SCRAPES) {
        snprintf(err, errlen, "the agent needs a server, a node name and a state directory");
        return TT_EINVAL;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return TT_ENOMEM;
    a->cfg = *cfg;
    a->wake_fd = -1;
    pthread_mutex_init(&a->mu, NULL);
    agent_batcher_init(&a->batcher);
    wbuf_init(&a->out, 0);
    hlc_init(&a->hlc, NULL, 0);
    a->server = strdup(cfg->server);
    a->node = strdup(cfg->node);
    a->role = strdup(cfg->role ? cfg->role : "");
    a->release = strdup(cfg->release ? cfg->release : "");
    a->state_dir = strdup(cfg->state_dir);
    if (!a->server || !a->node || !a->role || !a->release || !a->state_dir) {
        rc = TT_ENOMEM;
        goto fail;
    }
    if (mkdir(a->state_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state directory %s: %s", a->state_dir, strerror(errno));
        rc = TT_EIO;
        goto fail;
    }
    rc = load_origin(a, err, errlen);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < cfg->nscrapes; i++) {
        const char *spec = cfg->scrape_urls[i], *url = spec, *eq = strchr(spec, '=');
        const char *scheme = strstr(spec, "://");
        char job[128] = "scrape";
        if (eq != NULL && (scheme == NULL || eq < scheme)) {
            size_t n = (size_t)(eq - spec);
            if (n == 0 || n >= sizeof job) {
                snprintf(err, errlen, "--scrape '%s': bad job name", spec);
                rc = TT_EINVAL;
                goto fail;
            }
            memcpy(job, spec, n);
            job[n] = '\0';
            url = eq + 1;
        }
        struct scrape_config sc = { .url = url, .job = job };
        rc = scrape_target_new(&a->scrapes[i], &sc, err, errlen);
        if (rc < 0)
            goto fail;
        a->nscrapes++;
    }
    rc = agent_watch_new(&a->watch, cfg->watch, a->role, a->release, err, errlen);
    if (rc < 0)
        goto fail;
    struct backlog_options bo;
    backlog_options_default(&bo);
    if (cfg->backlog_limit_bytes)
        bo.limit_bytes = cfg->backlog_limit_bytes;
    bo.ack_interval_ms = 0; /* acks persisted as they come: nothing is resent twice */
    bo.problem = backlog_problem;
    bo.problem_arg = a;
    rc = backlog_open(&a->backlog, a->state_dir, &bo, err, errlen);
    if (rc < 0)
        goto fail;
    a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->wake_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        rc = TT_ESYS;
        goto fail;
    }
    a->rng = a->origin_id ^ (uint64_t)clock_monotonic_ns();
    *out = a;
    return 0;
fail:
    agent_free(a);
    return rc;
}

uint64_t agent_origin_id(const struct agent *a)
{
    return a->origin_id;
}

static void wake(struct agent *a)
{
    uint64_t one = 1;
    if (write(a->wake_fd, &one, sizeof one) < 0)
        (void)0; /* the counter is full: the shipper is woken anyway */
}

/* emit_event adds a collector's event to the round, stamped now. */
static int emit_event(void *ctx, const struct agent_event *ev)
{
    struct emit_ctx *c = ctx;
    return agent_batcher_add_event(&c->a->batcher, ev, hlc_now(&c->a->hlc));
}

int agent_collect(struct agent *a, int64_t now_ms, char *err, size_t errlen)
{
    struct emit_ctx host_ctx = { a, 1 }, scrape_ctx = { a, 0 };
    struct agent_emit emit = {
        .ctx = &host_ctx, .sample = emit_sample, .warn = agent_warn, .event = emit_event
    };
    int rc = 0;

    agent_batcher_reset(&a->batcher);
    if (a->cfg.host) {
        rc = host_collect_all(NULL, &emit, now_ms);
        if (rc < 0) {
            snprintf(err, errlen, "host collectors: %s", tt_strerror(rc));
            return rc;
        }
    }
    rc = agent_watch_collect(a->watch, &emit, now_ms);
    if (rc < 0) {
        snprintf(err, errlen, "process/file/digest watchers: %s", tt_strerror(rc));
        return rc;
    }
    emit.ctx = &scrape_ctx;
    for (size_t i = 0; i < a->nscrapes; i++) {
        rc = scrape_target_run(a->scrapes[i], &emit, now_ms);
        if (rc < 0) {
            snprintf(err, errlen, "scrape %zu: %s", i, tt_strerror(rc));
            return rc;
        }
    }
    uint32_t count = agent_batcher_count(&a->batcher);
    if (count == 0)
        return 0;
    uint64_t first = a->next_seq;
    /* Reserve the seqs first: a crash after this leaves a gap, never a reuse. */
    rc = save_origin(a, first + count, err, errlen);
    if (rc < 0)
        return rc;
    a->next_seq = first + count;
    wbuf_reset(&a->out);
    rc = agent_batcher_finish(&a->batcher, a->node, a->origin_id, first, hlc_now(&a->hlc),
                              now_ms * TT_NS_PER_MS, &a->out);
    if (rc < 0) {
        snprintf(err, errlen, "building the batch: %s", tt_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    rc = backlog_append(a->backlog, a->out.data, a->out.len, NULL, err, errlen);
    pthread_mutex_unlock(&a->mu);
    if (rc < 0)
        return rc;
    if (log_enabled(a->cfg.log, LOG_LEVEL_DEBUG)) {
        char fs[24], n[24];
        snprintf(fs, sizeof fs, "%llu", (unsigned long long)first);
        snprintf(n, sizeof n, "%u", count);
        log_debug(a->cfg.log, "round stored", "first_seq", fs, "records", n);
    }
    wake(a);
    return 0;
}

/* ---- the shipper ----------------------------------------------------------- */

struct inflight {
    uint64_t seq; /* link seq */
    uint64_t origin_id;
    uint64_t last; /* last record seq of the batch */
};

struct ship {
    struct agent *a;
    int fd;
    struct link_reader rd;
    struct wbuf out;
    struct inflight q[WINDOW];
    size_t qhead, qn;
    uint64_t link_seq;
    int64_t deadline_ns; /* for the oldest batch in flight (or WELCOME) */
};

static int connect_server(struct agent *a, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(a->server, ':');
    struct addrinfo hints, *ai = NULL;
    int fd = -1;
    if (colon == NULL || (size_t)(colon - a->server) >= sizeof host) {
        snprintf(err, errlen, "bad server address '%s'", a->server);
        return TT_EINVAL;
    }
    memcpy(host, a->server, (size_t)(colon - a->server));
    host[colon - a->server] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, colon + 1, &hints, &ai);
    if (g != 0) {
        snprintf(err, errlen, "%s: %s", a->server, gai_strerror(g));
        return TT_EIO;
    }
    for (struct addrinfo *p = ai; p != NULL; p = p->ai_next) {
        fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
            break;
        snprintf(err, errlen, "connect %s: %s", a->server, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return TT_EIO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int send_out(struct ship *s)
{
    const uint8_t *p = s->out.data;
    size_t n = s->out.len;
    if (s->out.err)
        return s->out.err;
    while (n > 0) {
        ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return TT_EIO;
        p += w;
        n -= (size_t)w;
    }
    wbuf_reset(&s->out);
    return 0;
}

static int ack_backlog(struct agent *a, uint64_t origin, uint64_t durable_end)
{
    char err[256];
    int rc = 0;
    if (durable_end == 0)
        return 0;
    pthread_mutex_lock(&a->mu);
    rc = backlog_ack(a->backlog, origin, durable_end - 1, err, sizeof err);
    pthread_mutex_unlock(&a->mu);
    if (rc < 0)
        log_warn(a->cfg.log, "backlog ack not persisted", "problem", err);
    return 0;
}

/* handle_frame processes one frame from the server. Returns 0, or < 0 to
 * drop the connection (message in err). */
static int handle_frame(struct ship *s, const struct link_frame *f, char *err, size_t errlen)
{
    struct agent *a = s->a;
    if (f->type == LINK_ACK) {
        struct link_ack k;
        int rc = link_decode_ack(f, &k, err, errlen);
        if (rc < 0)
            return rc;
        if (s->qn == 0 || s->q[s->qhead].seq != k.seq) {
            snprintf(err, errlen, "ACK for batch %llu, not the oldest in flight",
                     (unsigned long long)k.seq);
            return TT_ECORRUPT;
        }
        (void)hlc_recv(&a->hlc, k.hlc, NULL);
        ack_backlog(a, k.origin_id, k.durable_end);
        s->qhead = (s->qhead + 1) % WINDOW;
        s->qn--;
        s->deadline_ns = clock_monotonic_ns() + (int64_t)IO_TIMEOUT_MS * TT_NS_PER_MS;
        return 0;
    }
    if (f->type == LINK_NACK) {
        struct link_nack n;
        int rc = link_decode_nack(f, &n, err, errlen);
        if (rc < 0)
            return rc;
        if (s->qn == 0 || s->q[s->qhead].seq != n.seq) {
            snprintf(err, errlen, "NACK for batch %llu, not the oldest in flight",
                     (unsigned long long)n.seq);
            return TT_ECORRUPT;
        }
        const struct inflight *q = &s->q[s->qhead];
        char m[LINK_MAX_STR + 1];
        memcpy(m, n.message.p, n.message.len);
        m[n.message.len] = '\0';
        if (!n.retry) {
            /* The server will never take it: drop it from the backlog, loudly. */
            char seq[24];
            snprintf(seq, sizeof seq, "%llu", (unsigned long long)q->last);
            log_error(a->cfg.log, "server refused a batch for good; dropped", "reason", m,
                      "last_seq", seq);
            ack_backlog(a, q->origin_id, q->last + 1);
            s->qhead = (s->qhead + 1) % WINDOW;
            s->qn--;
            return 0;
        }
        snprintf(err, errlen, "server refused a batch for now: %.300s", m);
        return TT_EFULL;
    }
    if (f->type == LINK_PONG)
        return 0;
    if (f->type == LINK_PING) {
        /* The server measures the round trip and this node's clock offset. */
        struct link_ping p;
        int rc = link_decode_ping(f, &p, err, errlen);
        if (rc < 0)
            return rc;
        (void)hlc_recv(&a->hlc, p.hlc, NULL);
        struct link_pong po = { p.physical_ms, hlc_now(&a->hlc),
                                (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS) };
        rc = link_put_pong(&s->out, &po);
        return rc < 0 ? rc : send_out(s);
    }
    if (f->type == LINK_BYE) {
        struct link_bye b;
        if (link_decode_bye(f, &b, err, errlen) == 0)
            snprintf(err, errlen, "server said bye (%u): %.*s", b.code, (int)b.reason.len,
                     b.reason.p);
        return TT_EIO;
    }
    snprintf(err, errlen, "unexpected %s frame from the server", link_type_name(f->type));
    return TT_ECORRUPT;
}

/* read_frames reads what the socket has and processes whole frames. */
static int read_frames(struct ship *s, int *welcomed, char *err, size_t errlen)
{
    uint8_t buf[16384];
    ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        snprintf(err, errlen, "server closed the connection");
        return TT_EIO;
    }
    int rc = link_reader_feed(&s->rd, buf, (size_t)n);
    if (rc == TT_ENOMEM)
        return rc;
    for (;;) {
        struct link_frame f;
        rc = link_reader_next(&s->rd, &f, err, errlen);
        if (rc <= 0)
            return rc;
        if (!*welcomed) {
            struct link_welcome w;
            if (f.type == LINK_BYE)
                return handle_frame(s, &f, err, errlen); /* always < 0 */
            if (f.type != LINK_WELCOME) {
                snprintf(err, errlen, "expected WELCOME, got %s", link_type_name(f.type));
                return TT_ECORRUPT;
            }
            rc = link_decode_welcome(&f, &w, err, errlen);
            if (rc < 0)
                return rc;
            (void)hlc_recv(&s->a->hlc, w.hlc, NULL);
            for (uint32_t i = 0; i < w.n_origins; i++) {
                struct link_origin o = link_welcome_origin(&w, i);
                ack_backlog(s->a, o.origin_id, o.durable_end);
            }
            *welcomed = 1;
            continue;
        }
        rc = handle_frame(s, &f, err, errlen);
        if (rc < 0)
            return rc;
    }
}

/* fill_window sends backlog batches while the window has room. */
static int fill_window(struct ship *s, char *err, size_t errlen)
{
    struct agent *a = s->a;
    while (s->qn < WINDOW) {
        const uint8_t *batch;
        size_t len;
        struct batch_hdr h;
        pthread_mutex_lock(&a->mu);
        int rc = backlog_next(a->backlog, &batch, &len, NULL, err, errlen);
        if (rc == 1) {
            rc = batch_parse_header(batch, len, &h, err, errlen);
            if (rc == 0) {
                rc = link_put_batch(&s->out, ++s->link_seq, batch, len);
                if (rc == 0)
                    rc = 1;
            }
        }
        pthread_mutex_unlock(&a->mu);
        if (rc <= 0)
            return rc;
        if (s->qn == 0)
            s->deadline_ns = clock_monotonic_ns() + (int64_t)IO_TIMEOUT_MS * TT_NS_PER_MS;
        s->q[(s->qhead + s->qn) % WINDOW] =
            (struct inflight){ s->link_seq, h.origin_id,
                               h.count ? h.first_seq + h.count - 1 : h.first_seq };
        s->qn++;
        rc = send_out(s);
        if (rc < 0) {
            snprintf(err, errlen, "send: %s", strerror(errno));
            return rc;
        }
    }
    return 0;
}

/* session runs one connection until an error or stop. welcomed tells the
 * caller whether the backoff may be reset. */
static int session(struct ship *s, int *welcomed, char *err, size_t errlen)
{
    struct agent *a = s->a;
    struct link_hello h = { .version = LINK_VERSION,
                            .node = { a->node, (uint32_t)strlen(a->node) },
                            .role = { a->role, (uint32_t)strlen(a->role) },
                            .release = { a->release, (uint32_t)strlen(a->release) },
                            .agent_version = { AGENT_VERSION_STR, sizeof AGENT_VERSION_STR - 1 },
                            .origin_id = a->origin_id,
                            .hlc = hlc_now(&a->hlc),
                            .physical_ms = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS) };
    int rc = link_put_hello(&s->out, &h);
    if (rc < 0 || (rc = send_out(s)) < 0) {
        snprintf(err, errlen, "sending HELLO: %s", tt_strerror(rc));
        return rc;
    }
    s->deadline_ns = clock_monotonic_ns() + (int64_t)IO_TIMEOUT_MS * TT_NS_PER_MS;
    while (!atomic_load(&a->stop)) {
        if (*welcomed) {
            rc = fill_window(s, err, errlen);
            if (rc < 0)
                return rc;
        }
        if ((!*welcomed || s->qn > 0) && clock_monotonic_ns() > s->deadline_ns) {
            snprintf(err, errlen, "no answer from the server for %d ms", IO_TIMEOUT_MS);
            return TT_EIO;
        }
        struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN },
                               { .fd = a->wake_fd, .events = POLLIN } };
        int n = poll(p, 2, 1000);
        if (n < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return TT_ESYS;
        }
        if (n > 0 && (p[1].revents & POLLIN)) {
            uint64_t v;
            if (read(a->wake_fd, &v, sizeof v) < 0)
                (void)0; /* EAGAIN: someone else drained it */
        }
        if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            rc = read_frames(s, welcomed, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    struct link_bye b = { LINK_BYE_NORMAL, { "agent stopping", 14 } };
    if (link_put_bye(&s->out, &b) == 0)
        (void)send_out(s);
    return 0;
}

/* sleep_ms waits ms or until stop. */
static void sleep_ms(struct agent *a, int ms)
{
    struct pollfd p = { .fd = a->wake_fd, .events = POLLIN };
    int64_t end = clock_monotonic_ns() + (int64_t)ms * TT_NS_PER_MS;
    while (!atomic_load(&a->stop)) {
        int64_t left = (end - clock_monotonic_ns()) / TT_NS_PER_MS;
        if (left <= 0)
            return;
        if (poll(&p, 1, (int)left) > 0) {
            uint64_t v;
            if (read(a->wake_fd, &v, sizeof v) < 0)
                (void)0;
        }
    }
}

static void *shipper_main(void *arg)
{
    struct agent *a = arg;
    int backoff = BACKOFF_MIN_MS, failures = 0;
    char err[512];

    while (!atomic_load(&a->stop)) {
        struct ship s;
        int welcomed = 0;
        memset(&s, 0, sizeof s);
        s.a = a;
        link_reader_init(&s.rd, 0);
        wbuf_init(&s.out, 0);
        err[0] = '\0';
        s.fd = connect_server(a, err, sizeof err);
        if (s.fd >= 0) {
            /* Everything not acknowledged is sent again, from the oldest. */
            pthread_mutex_lock(&a->mu);
            backlog_rewind(a->backlog);
            pthread_mutex_unlock(&a->mu);
            int rc = session(&s, &welcomed, err, sizeof err);
            close(s.fd);
            if (rc == 0 && atomic_load(&a->stop)) {
                link_reader_release(&s.rd);
                wbuf_release(&s.out);
                break;
            }
        }
        link_reader_release(&s.rd);
        wbuf_release(&s.out);
        if (atomic_load(&a->stop))
            break;
        if (welcomed) {
            backoff = BACKOFF_MIN_MS;
            failures = 0;
        }
        failures++;
        if (failures == 1 || failures % 30 == 0)
            log_warn(a->cfg.log, "link to the server down; retrying", "server", a->server, "reason",
                     err);
        /* Exponential backoff with full jitter in [backoff/2, backoff]. */
        a->rng ^= a->rng << 13;
        a->rng ^= a->rng >> 7;
        a->rng ^= a->rng << 17;
        int wait = backoff / 2 + (int)(a->rng % (uint64_t)(backoff / 2 + 1));
        sleep_ms(a, wait);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

int agent_start(struct agent *a)
{
    if (pthread_create(&a->shipper, NULL, shipper_main, a) != 0)
        return TT_ESYS;
    a->started = 1;
    return 0;
}

void agent_stop(struct agent *a)
{
    if (a == NULL || !a->started)
        return;
    atomic_store(&a->stop, 1);
    wake(a);
    pthread_join(a->shipper, NULL);
    a->started = 0;
}

void agent_free(struct agent *a)
{
    if (a == NULL)
        return;
    agent_stop(a);
    if (a->backlog != NULL && backlog_close(a->backlog) != 0)
        log_error(a->cfg.log, "backlog close failed: the last appends may not be durable");
    for (size_t i = 0; i < a->nscrapes; i++)
        scrape_target_free(a->scrapes[i]);
    agent_watch_free(a->watch);
    if (a->wake_fd >= 0)
        close(a->wake_fd);
    agent_batcher_release(&a->batcher);
    wbuf_release(&a->out);
    pthread_mutex_destroy(&a->mu);
    free(a->server);
    free(a->node);
    free(a->role);
    free(a->release);
    free(a->state_dir);
    free(a);
}
