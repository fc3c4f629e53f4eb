/*
 * agent.c - the agent: the batcher (a collection round into self-contained
 * core batches, cut at the server's batch size limit), the origin state
 * file, the collection round with the agent's own metrics and the backlog
 * drop report. The shipper thread is shipper.c. See agent.h for the
 * invariants.
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_config.h"
#include "agent/agent_int.h"
#include "agent/backlog.h"
#include "agent/host.h"
#include "agent/scrape.h"
#include "agent/watch.h"
#include "agent/spool_reader.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/compress.h"
#include "core/hlc.h"
#include "core/link.h"

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

int agent_batcher_finish_part(const struct agent_batcher *b, const struct agent_batch_part *p,
                              const char *node, uint64_t origin_id, uint64_t first_seq, tt_hlc hlc,
                              int64_t time_ns, struct wbuf *out, uint32_t *count)
{
    struct wbuf raw;
    struct rec_label *ls = NULL;
    struct rec_sample *smp = NULL;
    uint64_t *map = NULL; /* the round's ref -> the part's ref, 0: not yet */
    size_t caplabels = 0;
    char origin[BATCH_ORIGIN_MAX];
    size_t nl = strlen(node);
    uint64_t nref = 0;
    int events = p->events && b->nevents > 0;
    int rc = 0;

    if (b->err)
        return b->err;
    if (p->lo > p->hi || p->hi > b->nsamples || (p->lo == p->hi && !events) ||
        nl + sizeof("\0agent") > sizeof origin)
        return TT_EINVAL;
    memcpy(origin, node, nl);
    memcpy(origin + nl, "\0agent", sizeof("\0agent") - 1);
    wbuf_init(&raw, BATCH_MAX_RAW);
    map = calloc(b->nseries + 1, sizeof *map);
    smp = malloc((p->hi - p->lo + 1) * sizeof *smp);
    if (map == NULL || smp == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    /* The part's series in first-use order: for the whole round that is the
     * round's own order (refs are handed out at first use). */
    for (size_t i = p->lo; i < p->hi; i++) {
        uint64_t r = b->samples[i].ref;
        smp[i - p->lo] = b->samples[i];
        if (map[r] != 0) {
            smp[i - p->lo].ref = map[r];
            continue;
        }
        map[r] = ++nref;
        smp[i - p->lo].ref = nref;
        struct batcher_ser bs;
        memcpy(&bs, b->series.data + (r - 1) * sizeof bs, sizeof bs);
        const char *k = (const char *)b->keys.data + bs.key_off;
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
        ls[0].value = (struct rec_str){ k, (uint32_t)strlen(k) };
        k += ls[0].value.len + 1;
        for (size_t j = 1; j < n; j++) {
            ls[j].name = (struct rec_str){ k, (uint32_t)strlen(k) };
            k += ls[j].name.len + 1;
            ls[j].value = (struct rec_str){ k, (uint32_t)strlen(k) };
            k += ls[j].value.len + 1;
        }
        rc = rec_put_series(&raw, hlc, time_ns, nref, ls, n);
        if (rc < 0)
            goto out;
    }
    if (p->hi > p->lo) {
        rc = rec_put_samples(&raw, hlc, time_ns, smp, p->hi - p->lo, REC_SAMPLES_XOR);
        if (rc < 0)
            goto out;
    }
    if (events)
        wbuf_put(&raw, b->events.data, b->events.len);
    if (raw.err) {
        rc = raw.err;
        goto out;
    }
    int has_samples = p->hi > p->lo;
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = (uint32_t)(nref + (has_samples ? 1 : 0) + (events ? b->nevents : 0));
    h.origin_id = origin_id;
    h.first_seq = first_seq;
    h.hlc_min = hlc;
    h.hlc_max = hlc;
    if (events && (!has_samples || b->ev_hlc_min < hlc))
        h.hlc_min = b->ev_hlc_min;
    if (events && (!has_samples || b->ev_hlc_max > hlc))
        h.hlc_max = b->ev_hlc_max;
    h.origin = origin;
    h.origin_len = (uint16_t)(nl + 6);
    rc = batch_encode_compressed(out, &h, raw.data, raw.len, BATCH_COMP_ZSTD);
    if (rc == 0 && count != NULL)
        *count = h.count;
out:
    free(ls);
    free(smp);
    free(map);
    wbuf_release(&raw);
    return rc;
}

int agent_batcher_finish(const struct agent_batcher *b, const char *node, uint64_t origin_id,
                         uint64_t first_seq, tt_hlc hlc, int64_t time_ns, struct wbuf *out)
{
    struct agent_batch_part p = { 0, b->nsamples, 1, 0 };
    if (b->err)
        return b->err;
    if (agent_batcher_count(b) == 0)
        return TT_EINVAL;
    return agent_batcher_finish_part(b, &p, node, origin_id, first_seq, hlc, time_ns, out, NULL);
}

struct split_ctx {
    const struct agent_batcher *b;
    const char *node;
    tt_hlc hlc;
    int64_t time_ns;
    size_t max_bytes;
    struct wbuf tmp;
    struct agent_batch_part *parts;
    size_t nparts, cap;
};

/* split_range encodes samples [lo, hi) (and the events if ev) and keeps it
 * as a part if it fits, else halves it: the sizes are exact, since the parts
 * are later encoded with the same hlc and time and only the seq differs (a
 * fixed-width header field). */
static int split_range(struct split_ctx *c, size_t lo, size_t hi, int ev)
{
    struct agent_batch_part p = { lo, hi, ev, 0 };
    wbuf_reset(&c->tmp);
    int rc =
        agent_batcher_finish_part(c->b, &p, c->node, 0, 0, c->hlc, c->time_ns, &c->tmp, &p.count);
    if (rc == 0 && c->tmp.len <= c->max_bytes) {
        if (c->nparts == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 8;
            struct agent_batch_part *n = realloc(c->parts, nc * sizeof *n);
            if (n == NULL)
                return TT_ENOMEM;
            c->parts = n;
            c->cap = nc;
        }
        c->parts[c->nparts++] = p;
        return 0;
    }
    if (rc < 0 && rc != TT_ETOOBIG && rc != TT_EINVAL)
        return rc;
    if (hi - lo >= 2) {
        size_t mid = lo + (hi - lo) / 2;
        rc = split_range(c, lo, mid, 0);
        return rc < 0 ? rc : split_range(c, mid, hi, ev);
    }
    if (ev && hi > lo) { /* one sample and the events: apart */
        rc = split_range(c, lo, hi, 0);
        return rc < 0 ? rc : split_range(c, hi, hi, ev);
    }
    return TT_ETOOBIG;
}

int agent_batcher_split(const struct agent_batcher *b, const char *node, tt_hlc hlc,
                        int64_t time_ns, size_t max_bytes, struct agent_batch_part **parts,
                        size_t *nparts)
{
    struct split_ctx c = { b, node, hlc, time_ns, max_bytes, { 0 }, NULL, 0, 0 };
    *parts = NULL;
    *nparts = 0;
    if (b->err)
        return b->err;
    if (agent_batcher_count(b) == 0)
        return TT_EINVAL;
    wbuf_init(&c.tmp, 0);
    int rc = split_range(&c, 0, b->nsamples, b->nevents > 0);
    wbuf_release(&c.tmp);
    if (rc < 0) {
        free(c.parts);
        return rc;
    }
    *parts = c.parts;
    *nparts = c.nparts;
    return 0;
}

/* ---- the agent ------------------------------------------------------------- */

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
        a->seq_reserved = seq;
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
    a->seq_reserved = 0;
    return save_origin(a, 0, err, errlen);
}

static void backlog_problem(void *arg, const struct backlog_problem *p)
{
    struct agent *a = arg;
    log_warn(a->cfg.log, "backlog problem", "file", p->file, "problem", p->msg);
}

/* add_scrape makes the target of one scrape spec (agent_config.h). */
static int add_scrape(struct agent *a, const char *spec, char *err, size_t errlen)
{
    struct agent_scrape_spec s;
    int rc = agent_scrape_spec_parse(&s, spec, a->collect_ms, err, errlen);
    if (rc < 0)
        return rc;
    struct scrape_config sc = { .url = s.url,
                                .job = s.job,
                                .labels = s.labels,
                                .nlabels = s.nlabels,
                                .timeout_ms = s.timeout_ms };
    rc = scrape_target_new(&a->scrapes[a->nscrapes], &sc, err, errlen);
    if (rc == 0) {
        a->scrape_every_ms[a->nscrapes] = s.interval_ms;
        a->scrape_slot[a->nscrapes] = INT64_MIN;
        a->nscrapes++;
    }
    agent_scrape_spec_release(&s);
    return rc;
}

/* scrape_due tells whether target i is scraped in the round at now_ms (see
 * agent_collect in agent.h) and, if so, notes the round's slot. The round
 * is counted half a collection interval late so that a round woken a little
 * before or after a slot boundary falls on the same side of it. */
static int scrape_due(struct agent *a, size_t i, int64_t now_ms)
{
    int64_t every = a->scrape_every_ms[i], t = now_ms + a->collect_ms / 2;
    if (every <= a->collect_ms)
        return 1;
    int64_t slot = t / every - (t % every < 0);
    if (slot == a->scrape_slot[i])
        return 0;
    a->scrape_slot[i] = slot;
    return 1;
}

int agent_new(struct agent **out, const struct agent_config *cfg, char *err, size_t errlen)
{
    struct agent *a;
    int rc;

    *out = NULL;
    if (cfg->server == NULL || cfg->node == NULL || cfg->node[0] == '\0' ||
        strlen(cfg->node) > LINK_MAX_STR || cfg->state_dir == NULL ||
        cfg->nscrapes > AGENT_MAX_SCRAPES || cfg->nspools > AGENT_MAX_SPOOLS) {
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
    a->collect_ms = cfg->interval_ms > 0 ? cfg->interval_ms : AGENT_DEFAULT_INTERVAL_MS;
    for (size_t i = 0; i < cfg->nscrapes; i++) {
        rc = add_scrape(a, cfg->scrape_urls[i], err, errlen);
        if (rc < 0)
            goto fail;
    }
    rc = agent_watch_new(&a->watch, cfg->watch, a->role, a->release, err, errlen);
    if (rc < 0)
        goto fail;
    struct backlog_options bo;
    backlog_options_default(&bo);
    if (cfg->backlog_limit_bytes)
        bo.limit_bytes = cfg->backlog_limit_bytes;
    if (cfg->backlog_segment_bytes)
        bo.segment_bytes = cfg->backlog_segment_bytes;
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
    for (size_t i = 0; i < cfg->nspools; i++) {
        rc = spool_reader_open(&a->spools[i], cfg->spool_dirs[i], a->state_dir, cfg->log, err,
                               errlen);
        if (rc < 0)
            goto fail;
        a->nspools++;
    }
    atomic_store(&a->max_batch_bytes, AGENT_MAX_BATCH_BYTES);
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

void agent_wake(struct agent *a)
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

/* self_sample adds one of the agent's own series: job="telltale_agent",
 * instance=<node>, and one more label if lname is not NULL. */
static void self_sample(struct agent *a, const char *name, const char *lname, const char *lvalue,
                        int64_t t_ms, double v)
{
    struct agent_label l[3] = { { "job", "telltale_agent" },
                                { "instance", a->node },
                                { lname, lvalue } };
    (void)agent_batcher_add(&a->batcher, name, l, lname ? 3 : 2, t_ms, v);
}

/* self_metrics adds the agent's own metrics to the round. */
static void self_metrics(struct agent *a, int64_t t_ms, size_t round_samples)
{
    struct backlog_stats bs;
    struct rusage ru;
    uint64_t spool_pending = 0, spool_segments = 0, spool_acked = 0, spool_skipped = 0;
    pthread_mutex_lock(&a->mu);
    backlog_get_stats(a->backlog, &bs);
    for (size_t i = 0; i < a->nspools; i++) {
        struct spool_reader_stats ss;
        spool_reader_get_stats(a->spools[i], &ss);
        spool_pending += ss.pending_bytes;
        spool_segments += ss.segments;
        spool_acked += ss.batches_acked;
        spool_skipped += ss.bytes_skipped;
    }
    pthread_mutex_unlock(&a->mu);
    if (a->cfg.host)
        self_sample(a, "telltale_agent_collector_duration_seconds", "collector", "host", t_ms,
                    a->last_host_s);
    if (a->nscrapes > 0)
        self_sample(a, "telltale_agent_collector_duration_seconds", "collector", "scrape", t_ms,
                    a->last_scrape_s);
    if (agent_watch_active(a->watch))
        self_sample(a, "telltale_agent_collector_duration_seconds", "collector", "watch", t_ms,
                    a->last_watch_s);
    self_sample(a, "telltale_agent_round_samples", NULL, NULL, t_ms, (double)round_samples);
    self_sample(a, "telltale_agent_backlog_bytes", NULL, NULL, t_ms, (double)bs.bytes);
    self_sample(a, "telltale_agent_backlog_batches", NULL, NULL, t_ms, (double)bs.batches);
    self_sample(a, "telltale_agent_inflight_batches", NULL, NULL, t_ms,
                (double)atomic_load(&a->inflight));
    self_sample(a, "telltale_agent_dropped_records_total", NULL, NULL, t_ms,
                (double)bs.dropped_records);
    self_sample(a, "telltale_agent_sent_batches_total", NULL, NULL, t_ms,
                (double)atomic_load(&a->sent_batches));
    self_sample(a, "telltale_agent_acked_records_total", NULL, NULL, t_ms,
                (double)atomic_load(&a->acked_records));
    self_sample(a, "telltale_agent_reconnects_total", NULL, NULL, t_ms,
                (double)atomic_load(&a->reconnects));
    if (a->nspools > 0) {
        self_sample(a, "telltale_agent_spool_pending_bytes", NULL, NULL, t_ms,
                    (double)spool_pending);
        self_sample(a, "telltale_agent_spool_segments", NULL, NULL, t_ms, (double)spool_segments);
        self_sample(a, "telltale_agent_spool_acked_batches_total", NULL, NULL, t_ms,
                    (double)spool_acked);
        self_sample(a, "telltale_agent_spool_skipped_bytes_total", NULL, NULL, t_ms,
                    (double)spool_skipped);
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        self_sample(a, "telltale_agent_process_cpu_seconds_total", NULL, NULL, t_ms, cpu);
    }
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        unsigned long long size, rss;
        if (fscanf(f, "%llu %llu", &size, &rss) == 2)
            self_sample(a, "telltale_agent_process_resident_memory_bytes", NULL, NULL, t_ms,
                        (double)rss * (double)sysconf(_SC_PAGESIZE));
        fclose(f);
    }
}

/* add_drop_events adds one "telltale.agent.backlog.dropped" event per origin
 * whose batches the backlog dropped at its byte limit and did not report
 * yet. Called with a->mu held, so the counts leave the backlog state only
 * with the round that reports them (the backlog persists the reset counts
 * with its next state write, after the round is appended). */
static void add_drop_events(struct agent *a, int64_t t_ms)
{
    struct backlog_drop *d = NULL;
    size_t n = 0;
    if (backlog_take_drops(a->backlog, &d, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char origin[24], batches[24], records[24], bytes[24], fseq[24], lseq[24], t0[24], t1[24],
            msg[200];
        snprintf(origin, sizeof origin, "%016llx", (unsigned long long)d[i].origin_id);
        snprintf(batches, sizeof batches, "%llu", (unsigned long long)d[i].batches);
        snprintf(records, sizeof records, "%llu", (unsigned long long)d[i].records);
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)d[i].bytes);
        snprintf(msg, sizeof msg,
                 "the backlog reached its byte limit while the server was unreachable: %s "
                 "batches (%s records, %s bytes) dropped, oldest first",
                 batches, records, bytes);
        struct agent_label attrs[8] = {
            { "origin", origin }, { "batches", batches }, { "records", records }, { "bytes", bytes }
        };
        size_t na = 4;
        if (d[i].first_seq != UINT64_MAX) {
            snprintf(fseq, sizeof fseq, "%llu", (unsigned long long)d[i].first_seq);
            snprintf(lseq, sizeof lseq, "%llu", (unsigned long long)d[i].last_seq);
            attrs[na++] = (struct agent_label){ "first_seq", fseq };
            attrs[na++] = (struct agent_label){ "last_seq", lseq };
        }
        if (d[i].hlc_min != 0) {
            /* the time range, ms since the epoch, from the batches' HLCs */
            snprintf(t0, sizeof t0, "%llu", (unsigned long long)hlc_l(d[i].hlc_min));
            snprintf(t1, sizeof t1, "%llu", (unsigned long long)hlc_l(d[i].hlc_max));
            attrs[na++] = (struct agent_label){ "first_time_ms", t0 };
            attrs[na++] = (struct agent_label){ "last_time_ms", t1 };
        }
        struct agent_event ev = { .name = "telltale.agent.backlog.dropped",
                                  .component = "agent",
                                  .message = msg,
                                  .severity = TT_SEV_WARNING,
                                  .attrs = attrs,
                                  .nattrs = na,
                                  .t_ms = t_ms };
        if (agent_batcher_add_event(&a->batcher, &ev, hlc_now(&a->hlc)) < 0)
            log_error(a->cfg.log, "backlog drop not reported", "origin", origin, "batches", batches,
                      "records", records);
        else
            log_warn(a->cfg.log, "backlog dropped batches", "origin", origin, "batches", batches,
                     "records", records, "bytes", bytes);
    }
    free(d);
}

/* store_round cuts the round into batches of at most the server's limit,
 * reserves their seqs and appends them to the backlog. Called with a->mu
 * held. */
static int store_round(struct agent *a, int64_t now_ms, char *err, size_t errlen)
{
    struct agent_batch_part whole = { 0, a->batcher.nsamples, 1, 0 }, *parts = &whole;
    size_t nparts = 1, limit = atomic_load(&a->max_batch_bytes);
    tt_hlc hlc = hlc_now(&a->hlc);
    int64_t time_ns = now_ms * TT_NS_PER_MS;
    uint64_t first = a->next_seq, total = 0;
    int rc;

    wbuf_reset(&a->out);
    rc = agent_batcher_finish_part(&a->batcher, &whole, a->node, a->origin_id, first, hlc, time_ns,
                                   &a->out, &whole.count);
    if (rc == 0 && a->out.len <= limit) {
        total = whole.count;
    } else if (rc == 0 || rc == TT_ETOOBIG || rc == TT_EINVAL) {
        rc = agent_batcher_split(&a->batcher, a->node, hlc, time_ns, limit, &parts, &nparts);
        if (rc < 0) {
            snprintf(err, errlen, "cutting the round into batches of %zu bytes: %s", limit,
                     tt_strerror(rc));
            return rc;
        }
        for (size_t i = 0; i < nparts; i++)
            total += parts[i].count;
    } else {
        snprintf(err, errlen, "building the batch: %s", tt_strerror(rc));
        return rc;
    }
    /* Reserve the seqs first: a crash after this leaves a gap, never a
     * reuse. They are reserved SEQ_RESERVE_BLOCK at a time, so a round
     * rewrites STATE/origin (tmp, fsync, rename) once in many rounds; a
     * restart goes on from the end of the block (gaps are fine: the server
     * and the backlog only need seqs to grow). */
    if (first + total > a->seq_reserved) {
        uint64_t upto = first + total + SEQ_RESERVE_BLOCK;
        rc = save_origin(a, upto, err, errlen);
        if (rc < 0)
            goto out;
        a->seq_reserved = upto;
    }
    a->next_seq = first + total;
    for (size_t i = 0; i < nparts; i++) {
        if (parts != &whole) {
            wbuf_reset(&a->out);
            rc = agent_batcher_finish_part(&a->batcher, &parts[i], a->node, a->origin_id, first,
                                           hlc, time_ns, &a->out, NULL);
            if (rc < 0) {
                snprintf(err, errlen, "building batch %zu of %zu: %s", i + 1, nparts,
                         tt_strerror(rc));
                goto out;
            }
        }
        rc = backlog_append(a->backlog, a->out.data, a->out.len, NULL, err, errlen);
        if (rc < 0)
            goto out;
        first += parts[i].count;
    }
    if (log_enabled(a->cfg.log, LOG_LEVEL_DEBUG)) {
        char fs[24], n[24], nb[24];
        snprintf(fs, sizeof fs, "%llu", (unsigned long long)(a->next_seq - total));
        snprintf(n, sizeof n, "%llu", (unsigned long long)total);
        snprintf(nb, sizeof nb, "%zu", nparts);
        log_debug(a->cfg.log, "round stored", "first_seq", fs, "records", n, "batches", nb);
    }
out:
    if (parts != &whole)
        free(parts);
    return rc;
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
        int64_t t0 = clock_monotonic_ns();
        rc = host_collect_all(NULL, &emit, now_ms);
        a->last_host_s = (double)(clock_monotonic_ns() - t0) / 1e9;
        if (rc < 0) {
            snprintf(err, errlen, "host collectors: %s", tt_strerror(rc));
            return rc;
        }
    }
    int64_t tw = clock_monotonic_ns();
    rc = agent_watch_collect(a->watch, &emit, now_ms);
    a->last_watch_s = (double)(clock_monotonic_ns() - tw) / 1e9;
    if (rc < 0) {
        snprintf(err, errlen, "process/file/digest watchers: %s", tt_strerror(rc));
        return rc;
    }
    emit.ctx = &scrape_ctx;
    int64_t t0 = clock_monotonic_ns();
    for (size_t i = 0; i < a->nscrapes; i++) {
        if (!scrape_due(a, i, now_ms))
            continue;
        rc = scrape_target_run(a->scrapes[i], &emit, now_ms);
        if (rc < 0) {
            snprintf(err, errlen, "scrape %zu: %s", i, tt_strerror(rc));
            return rc;
        }
    }
    a->last_scrape_s = (double)(clock_monotonic_ns() - t0) / 1e9;
    if (a->cfg.self_metrics)
        self_metrics(a, now_ms, a->batcher.nsamples);
    pthread_mutex_lock(&a->mu);
    if (atomic_load(&a->link_up))
        add_drop_events(a, now_ms);
    if (agent_batcher_count(&a->batcher) > 0)
        rc = store_round(a, now_ms, err, errlen);
    pthread_mutex_unlock(&a->mu);
    if (rc < 0)
        return rc;
    agent_wake(a);
    return 0;
}

int agent_start(struct agent *a)
{
    if (pthread_create(&a->shipper, NULL, agent_shipper_main, a) != 0)
        return TT_ESYS;
    a->started = 1;
    return 0;
}

void agent_stop(struct agent *a)
{
    if (a == NULL || !a->started)
        return;
    atomic_store(&a->stop, 1);
    agent_wake(a);
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
    for (size_t i = 0; i < a->nspools; i++)
        spool_reader_close(a->spools[i]);
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
