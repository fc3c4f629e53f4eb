/*
 * span_metrics.c - RED metrics and the service graph from spans
 * (span_metrics.h).
 *
 * Invariants:
 *  - Names (services, operations, nodes) are interned once and never freed
 *    before span_metrics_free, so the pointers a flush copies stay valid.
 *  - Every waiting span is in exactly one hash chain and in the FIFO list,
 *    whose order is arrival order; since every wait is equally long it is
 *    also expiry order, so expiry and eviction pop its head.
 *  - A family's items never move their index; the hash slots hold index+1.
 */
#include "server/span_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/clock.h"
#include "server/metrics_self.h"
#include "server/store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/labels.h"
#include "telltale.h"

#define NB   SPAN_METRICS_NBUCKETS
#define NONE 0u

static const double bounds[NB] = { SPAN_METRICS_BUCKETS };

/* --- interned names ------------------------------------------------------- */

struct names {
    char **s;
    uint32_t *len; /* names may hold NULs: the TSDB sees them cut there */
    uint32_t n, cap;
    uint32_t *slots; /* id + 1, 0 empty */
    size_t nslots;   /* a power of two */
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    return labels_hash_bytes(p, n, 0x5bd1e995u);
}

/* names_id interns p[0..len): the id, or -1 (no memory, or full). */
static int64_t names_id(struct names *t, const char *p, size_t len)
{
    if (t->nslots == 0 || (size_t)t->n * 2 >= t->nslots) {
        if (t->n >= SPAN_METRICS_MAX_NAMES)
            goto lookup_only;
        size_t ns = t->nslots ? t->nslots * 2 : 256;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (sl == NULL)
            return -1;
        for (uint32_t i = 0; i < t->n; i++) {
            size_t h = (size_t)hash_bytes(t->s[i], t->len[i]) & (ns - 1);
            while (sl[h] != 0)
                h = (h + 1) & (ns - 1);
            sl[h] = i + 1;
        }
        free(t->slots);
        t->slots = sl;
        t->nslots = ns;
    }
lookup_only:;
    size_t h = (size_t)hash_bytes(p, len) & (t->nslots - 1);
    while (t->slots[h] != 0) {
        uint32_t id = t->slots[h] - 1;
        if (t->len[id] == len && memcmp(t->s[id], p, len) == 0)
            return id;
        h = (h + 1) & (t->nslots - 1);
    }
    if (t->n >= SPAN_METRICS_MAX_NAMES || (size_t)t->n * 2 + 2 > t->nslots)
        return -1;
    if (t->n == t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 64;
        char **a = realloc(t->s, nc * sizeof *a);
        if (a == NULL)
            return -1;
        t->s = a;
        uint32_t *l = realloc(t->len, nc * sizeof *l);
        if (l == NULL)
            return -1;
        t->len = l;
        t->cap = nc;
    }
    char *c = malloc(len + 1);
    if (c == NULL)
        return -1;
    memcpy(c, p, len);
    c[len] = '\0';
    t->s[t->n] = c;
    t->len[t->n] = (uint32_t)len;
    t->slots[h] = t->n + 1;
    return t->n++;
}

static void names_release(struct names *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->len);
    free(t->slots);
}

/* --- series families ------------------------------------------------------ */

struct key {
    uint32_t a, b, c, d;
};

struct hist {
    uint64_t b[NB + 1]; /* per bucket (not cumulative); the last is (15 s, +Inf) */
    double sum;         /* seconds */
};

struct red {
    struct key k; /* service, operation, kind, status */
    struct hist h;
    uint8_t flushed;
};

struct edge {
    struct key k; /* client service, server service */
    uint64_t failed;
    struct hist cli, srv; /* cli's count is the requests */
    uint64_t bytes[2];    /* request, response */
    uint8_t flushed;
};

struct npair {
    struct key k; /* client node, server node */
    uint64_t msgs;
    uint64_t bytes[2];
    uint8_t flushed;
};

struct family {
    unsigned char *items;
    size_t isize;
    uint32_t n, cap;
    uint32_t *slots; /* index + 1 */
    size_t nslots;
};

static size_t key_hash(const struct key *k)
{
    uint64_t h = ((uint64_t)k->a << 32 | k->b) * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)k->c << 32 | k->d) * 0xc2b2ae3d27d4eb4full;
    return (size_t)(h ^ (h >> 29));
}

static void *fam_at(const struct family *f, uint32_t i)
{
    return f->items + (size_t)i * f->isize;
}

/* fam_get finds or adds the item of key k (zeroed when new): NULL when the
 * family holds max items or memory ran out. */
static void *fam_get(struct family *f, const struct key *k, uint32_t max)
{
    if (f->nslots != 0) {
        size_t h = key_hash(k) & (f->nslots - 1);
        while (f->slots[h] != 0) {
            void *it = fam_at(f, f->slots[h] - 1);
            if (memcmp(it, k, sizeof *k) == 0)
                return it;
            h = (h + 1) & (f->nslots - 1);
        }
    }
    if (f->n >= max)
        return NULL;
    if ((size_t)f->n * 2 + 2 > f->nslots) {
        size_t ns = f->nslots ? f->nslots * 2 : 64;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (sl == NULL)
            return NULL;
        for (uint32_t i = 0; i < f->n; i++) {
            size_t h = key_hash(fam_at(f, i)) & (ns - 1);
            while (sl[h] != 0)
                h = (h + 1) & (ns - 1);
            sl[h] = i + 1;
        }
        free(f->slots);
        f->slots = sl;
        f->nslots = ns;
    }
    if (f->n == f->cap) {
        uint32_t nc = f->cap ? f->cap * 2 : 32;
        unsigned char *a = realloc(f->items, (size_t)nc * f->isize);
        if (a == NULL)
            return NULL;
        f->items = a;
        f->cap = nc;
    }
    void *it = fam_at(f, f->n);
    memset(it, 0, f->isize);
    memcpy(it, k, sizeof *k);
    size_t h = key_hash(k) & (f->nslots - 1);
    while (f->slots[h] != 0)
        h = (h + 1) & (f->nslots - 1);
    f->slots[h] = ++f->n;
    return it;
}

static void fam_release(struct family *f)
{
    free(f->items);
    free(f->slots);
}

static void hist_observe(struct hist *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    int i = 0;
    while (i < NB && s > bounds[i])
        i++;
    h->b[i]++;
    h->sum += s;
}

static uint64_t hist_count(const struct hist *h)
{
    uint64_t c = 0;
    for (int i = 0; i <= NB; i++)
        c += h->b[i];
    return c;
}

/* --- the wait table ------------------------------------------------------- */

enum { ROLE_PARENT = 1, ROLE_CHILD = 2 };

struct pend {
    uint8_t trace[16];
    uint64_t key; /* ROLE_PARENT: the span's id; ROLE_CHILD: its parent's */
    int64_t expire_ns;
    uint64_t duration_ns, req, resp;
    uint32_t svc, node, peer; /* peer: the virtual server's name when have_peer */
    uint32_t hnext;           /* hash chain, or free list (index + 1) */
    uint32_t qnext, qprev;    /* FIFO (index + 1) */
    uint8_t kind, status, role, paired, have_req, have_resp, have_peer;
};

struct span_metrics {
    struct span_metrics_config cfg;
    pthread_mutex_t mu;
    struct names names;
    struct family red, edges, npairs;

    struct pend *pool;
    uint32_t pool_cap, pool_used, free_head;
    uint32_t *heads; /* hash heads (index + 1) */
    size_t nheads;
    uint32_t qhead, qtail, npend;

    int64_t last_flush_ms; /* the zeros of new series go here */
    struct span_metrics_stats st;

    pthread_t thread;
    int started, stop;
    pthread_cond_t cv;
    struct server_store *store;
};

static size_t pend_hash(const struct span_metrics *sm, const uint8_t trace[16], uint64_t key,
                        uint8_t role)
{
    uint64_t t0, t1;
    memcpy(&t0, trace, 8);
    memcpy(&t1, trace + 8, 8);
    uint64_t h = (t0 ^ (t1 * 0x9e3779b97f4a7c15ull) ^ (key * 0xc2b2ae3d27d4eb4full)) + role;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return (size_t)h & (sm->nheads - 1);
}

static struct pend *P(struct span_metrics *sm, uint32_t ref)
{
    return &sm->pool[ref - 1];
}

/* pend_remove unlinks entry ref from its chain and the FIFO and frees it. */
static void pend_remove(struct span_metrics *sm, uint32_t ref)
{
    struct pend *e = P(sm, ref);
    uint32_t *pp = &sm->heads[pend_hash(sm, e->trace, e->key, e->role)];
    while (*pp != ref)
        pp = &P(sm, *pp)->hnext;
    *pp = e->hnext;
    if (e->qprev)
        P(sm, e->qprev)->qnext = e->qnext;
    else
        sm->qhead = e->qnext;
    if (e->qnext)
        P(sm, e->qnext)->qprev = e->qprev;
    else
        sm->qtail = e->qprev;
    e->hnext = sm->free_head;
    sm->free_head = ref;
    sm->npend--;
}

/* An entry that ends unpaired counts as expired when it stood for a call:
 * a child whose parent never came, or a client/producer span without a
 * server/consumer child. */
static int unpaired_call(const struct pend *e)
{
    if (e->role == ROLE_CHILD)
        return 1;
    return !e->paired && (e->kind == TT_SPAN_CLIENT || e->kind == TT_SPAN_PRODUCER);
}

/* virtual_edge counts the call of a client or producer span that no server
 * or consumer span answered, to the peer its attributes name (Tempo's
 * virtual nodes: databases, queues, uninstrumented services). */
static void virtual_edge(struct span_metrics *sm, const struct pend *p)
{
    struct key ek = { p->svc, p->peer, 1, 0 };
    struct edge *e = fam_get(&sm->edges, &ek, sm->cfg.max_series);
    if (e == NULL) {
        sm->st.dropped_series++;
        return;
    }
    hist_observe(&e->cli, p->duration_ns);
    if (p->status == TT_STATUS_ERROR)
        e->failed++;
    e->bytes[0] += p->req;
    e->bytes[1] += p->resp;
    sm->st.virtual_pairs++;
}

/* end_wait ends the wait of the list's head: expired, or pushed out for
 * room (evicted). */
static void end_wait(struct span_metrics *sm, int evicted)
{
    const struct pend *e = P(sm, sm->qhead);
    if (evicted)
        sm->st.dropped_pending++;
    if (unpaired_call(e)) {
        if (e->role == ROLE_PARENT && e->have_peer)
            virtual_edge(sm, e);
        else if (!evicted)
            sm->st.expired++;
    }
    pend_remove(sm, sm->qhead);
}

static void expire_locked(struct span_metrics *sm, int64_t now_ns)
{
    while (sm->qhead != NONE && P(sm, sm->qhead)->expire_ns <= now_ns)
        end_wait(sm, 0);
}

/* pend_insert adds a copy of e at the FIFO's tail, pushing out the oldest
 * entry when the table is full. Returns 0 or TT_ENOMEM. */
static int pend_insert(struct span_metrics *sm, const struct pend *e)
{
    if (sm->heads == NULL) {
        size_t n = 1024;
        while (n < sm->cfg.max_pending && n < (1u << 24))
            n *= 2;
        sm->heads = calloc(n, sizeof *sm->heads);
        if (sm->heads == NULL)
            return TT_ENOMEM;
        sm->nheads = n;
    }
    if (sm->npend >= sm->cfg.max_pending)
        end_wait(sm, 1);
    uint32_t ref = sm->free_head;
    if (ref != NONE) {
        sm->free_head = P(sm, ref)->hnext;
    } else {
        if (sm->pool_used == sm->pool_cap) {
            uint32_t nc = sm->pool_cap ? sm->pool_cap * 2 : 1024;
            if (nc > sm->cfg.max_pending)
                nc = sm->cfg.max_pending;
            struct pend *p = realloc(sm->pool, (size_t)nc * sizeof *p);
            if (p == NULL)
                return TT_ENOMEM;
            sm->pool = p;
            sm->pool_cap = nc;
        }
        ref = ++sm->pool_used;
    }
    struct pend *n = P(sm, ref);
    *n = *e;
    size_t h = pend_hash(sm, e->trace, e->key, e->role);
    n->hnext = sm->heads[h];
    sm->heads[h] = ref;
    n->qnext = NONE;
    n->qprev = sm->qtail;
    if (sm->qtail)
        P(sm, sm->qtail)->qnext = ref;
    else
        sm->qhead = ref;
    sm->qtail = ref;
    sm->npend++;
    return 0;
}

/* pend_find: the first entry of (trace, key, role) after ref (NONE: from
 * the chain's start), or NONE. */
static uint32_t pend_find(struct span_metrics *sm, const uint8_t trace[16], uint64_t key,
                          uint8_t role, uint32_t after)
{
    if (sm->heads == NULL)
        return NONE;
    uint32_t r = after ? P(sm, after)->hnext : sm->heads[pend_hash(sm, trace, key, role)];
    for (; r != NONE; r = P(sm, r)->hnext) {
        const struct pend *e = P(sm, r);
        if (e->key == key && e->role == role && memcmp(e->trace, trace, 16) == 0)
            return r;
    }
    return NONE;
}

/* --- bytes ---------------------------------------------------------------- */

static int attr_size(const struct rec_value *v, uint64_t *out)
{
    switch (v->type) {
    case TT_VAL_INT:
        if (v->u.i < 0)
            return 0;
        *out = (uint64_t)v->u.i;
        return 1;
    case TT_VAL_DOUBLE:
        if (!(v->u.d >= 0 && v->u.d < 1.8e19))
            return 0;
        *out = (uint64_t)v->u.d;
        return 1;
    case TT_VAL_STR: {
        uint64_t x = 0;
        if (v->u.s.len == 0 || v->u.s.len > 19)
            return 0;
        for (uint32_t i = 0; i < v->u.s.len; i++) {
            char c = v->u.s.p[i];
            if (c < '0' || c > '9')
                return 0;
            x = x * 10 + (uint64_t)(c - '0');
        }
        *out = x;
        return 1;
    }
    default:
        return 0;
    }
}

static const char *const req_keys[] = {
    "http.request.body.size",
    "http.request_content_length",
    "http.request_content_length_uncompressed",
    "messaging.message.body.size",
    "messaging.message_payload_size_bytes",
    "rpc.message.uncompressed_size",
};
static const char *const resp_keys[] = {
    "http.response.body.size",
    "http.response_content_length",
    "http.response_content_length_uncompressed",
};

static int key_in(const struct rec_str *k, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i]) == k->len && memcmp(keys[i], k->p, k->len) == 0)
            return 1;
    return 0;
}

void span_bytes(const struct span_row *s, uint64_t *req, int *have_req, uint64_t *resp,
                int *have_resp)
{
    *req = *resp = 0;
    *have_req = *have_resp = 0;
    for (uint32_t i = 0; i < s->nattrs; i++) {
        const struct span_attr *a = &s->attrs[i];
        uint64_t v;
        if (a->key.len < 16 || (a->key.p[0] != 'h' && a->key.p[0] != 'm' && a->key.p[0] != 'r'))
            continue;
        if (!*have_req && key_in(&a->key, req_keys, sizeof req_keys / sizeof req_keys[0]) &&
            attr_size(&a->v, &v)) {
            *req = v;
            *have_req = 1;
        } else if (!*have_resp &&
                   key_in(&a->key, resp_keys, sizeof resp_keys / sizeof resp_keys[0]) &&
                   attr_size(&a->v, &v)) {
            *resp = v;
            *have_resp = 1;
        }
    }
}

/* peer_name finds the name of the peer a client or producer span calls:
 * peer.service, else db.name, else db.system (Tempo's defaults). Returns
 * 1 with the value in *out, or 0. */
static int peer_name(const struct span_row *s, struct rec_str *out)
{
    static const char *const keys[] = { "peer.service", "db.name", "db.system" };
    int best = 3;
    for (uint32_t i = 0; i < s->nattrs; i++) {
        const struct span_attr *a = &s->attrs[i];
        if (a->v.type != TT_VAL_STR || a->v.u.s.len == 0)
            continue;
        for (int k = 0; k < best; k++) {
            if (strlen(keys[k]) == a->key.len && memcmp(keys[k], a->key.p, a->key.len) == 0) {
                *out = a->v.u.s;
                best = k;
                break;
            }
        }
    }
    return best < 3;
}

/* --- aggregation ---------------------------------------------------------- */

int span_metrics_new(struct span_metrics **out, const struct span_metrics_config *cfg)
{
    struct span_metrics *sm = calloc(1, sizeof *sm);
    if (sm == NULL)
        return TT_ENOMEM;
    if (cfg != NULL)
        sm->cfg = *cfg;
    if (sm->cfg.interval_ms <= 0)
        sm->cfg.interval_ms = SPAN_METRICS_DEFAULT_INTERVAL_MS;
    if (sm->cfg.wait_ms <= 0)
        sm->cfg.wait_ms = SPAN_METRICS_DEFAULT_WAIT_MS;
    if (sm->cfg.max_pending == 0)
        sm->cfg.max_pending = SPAN_METRICS_DEFAULT_MAX_PENDING;
    if (sm->cfg.max_series == 0)
        sm->cfg.max_series = SPAN_METRICS_DEFAULT_MAX_SERIES;
    if (sm->cfg.max_age_ms == 0)
        sm->cfg.max_age_ms = SPAN_METRICS_DEFAULT_MAX_AGE_MS;
    sm->red.isize = sizeof(struct red);
    sm->edges.isize = sizeof(struct edge);
    sm->npairs.isize = sizeof(struct npair);
    sm->last_flush_ms = clock_realtime_ns() / 1000000;
    pthread_mutex_init(&sm->mu, NULL);
    pthread_cond_init(&sm->cv, NULL);
    *out = sm;
    return 0;
}

static int qualifies(const struct pend *p, const struct pend *c)
{
    if (p->svc != c->svc)
        return 1;
    return (p->kind == TT_SPAN_CLIENT || p->kind == TT_SPAN_PRODUCER) &&
           (c->kind == TT_SPAN_SERVER || c->kind == TT_SPAN_CONSUMER);
}

/* pair counts the call from parent p to child c if it is one: 1 if so. */
static int pair(struct span_metrics *sm, const struct pend *p, const struct pend *c)
{
    if (!qualifies(p, c))
        return 0;
    struct key ek = { p->svc, c->svc, 0, 0 };
    struct edge *e = fam_get(&sm->edges, &ek, sm->cfg.max_series);
    struct key nk = { p->node, c->node, 0, 0 };
    struct npair *n = fam_get(&sm->npairs, &nk, sm->cfg.max_series);
    if (e == NULL || n == NULL) {
        sm->st.dropped_series++;
        return 1;
    }
    uint64_t req = p->have_req ? p->req : c->req;
    uint64_t resp = p->have_resp ? p->resp : c->resp;
    hist_observe(&e->cli, p->duration_ns);
    hist_observe(&e->srv, c->duration_ns);
    if (p->status == TT_STATUS_ERROR || c->status == TT_STATUS_ERROR)
        e->failed++;
    e->bytes[0] += req;
    e->bytes[1] += resp;
    n->msgs++;
    n->bytes[0] += req;
    n->bytes[1] += resp;
    sm->st.pairs++;
    return 1;
}

int span_metrics_add(struct span_metrics *sm, const struct span_row *s, int64_t now_ns)
{
    int rc = 0;
    pthread_mutex_lock(&sm->mu);
    expire_locked(sm, now_ns);
    if (sm->cfg.max_age_ms > 0 && sm->cfg.max_age_ms < now_ns / 1000000) {
        /* ended (start + duration) before cut; no sum that could overflow */
        int64_t cut = now_ns - sm->cfg.max_age_ms * 1000000;
        if (s->start_ns < cut && s->duration_ns < (uint64_t)cut - (uint64_t)s->start_ns) {
            sm->st.too_old++;
            goto out;
        }
    }
    int64_t svc = names_id(&sm->names, s->service.p, s->service.len);
    int64_t op = names_id(&sm->names, s->name.p, s->name.len);
    int64_t node = names_id(&sm->names, s->node.p, s->node.len);
    if (svc < 0 || op < 0 || node < 0) {
        sm->st.dropped_series++;
        goto out;
    }
    sm->st.spans++;
    struct key rk = { (uint32_t)svc, (uint32_t)op, s->kind, s->status };
    struct red *r = fam_get(&sm->red, &rk, sm->cfg.max_series);
    if (r != NULL)
        hist_observe(&r->h, s->duration_ns);
    else
        sm->st.dropped_series++;

    /* the service graph */
    struct pend me;
    memset(&me, 0, sizeof me);
    memcpy(me.trace, s->trace_id, 16);
    me.expire_ns = now_ns + sm->cfg.wait_ms * 1000000;
    me.duration_ns = s->duration_ns;
    me.svc = (uint32_t)svc;
    me.node = (uint32_t)node;
    me.kind = s->kind;
    me.status = s->status;
    int hr, hp;
    span_bytes(s, &me.req, &hr, &me.resp, &hp);
    me.have_req = (uint8_t)hr;
    me.have_resp = (uint8_t)hp;
    struct rec_str peer = { "", 0 };
    if ((s->kind == TT_SPAN_CLIENT || s->kind == TT_SPAN_PRODUCER) && peer_name(s, &peer)) {
        int64_t id = names_id(&sm->names, peer.p, peer.len);
        if (id >= 0) {
            me.peer = (uint32_t)id;
            me.have_peer = 1;
        }
    }
    if (s->parent_id != 0) {
        uint32_t pr = pend_find(sm, s->trace_id, s->parent_id, ROLE_PARENT, NONE);
        if (pr != NONE) {
            if (pair(sm, P(sm, pr), &me))
                P(sm, pr)->paired = 1;
        } else {
            me.role = ROLE_CHILD;
            me.key = s->parent_id;
            rc = pend_insert(sm, &me);
            if (rc != 0)
                goto out;
        }
    }
    /* children that came first */
    uint32_t cr = pend_find(sm, s->trace_id, s->span_id, ROLE_CHILD, NONE);
    while (cr != NONE) {
        uint32_t next = pend_find(sm, s->trace_id, s->span_id, ROLE_CHILD, cr);
        if (pair(sm, &me, P(sm, cr)))
            me.paired = 1;
        pend_remove(sm, cr);
        cr = next;
    }
    me.role = ROLE_PARENT;
    me.key = s->span_id;
    rc = pend_insert(sm, &me);
out:
    pthread_mutex_unlock(&sm->mu);
    return rc;
}

void span_metrics_observe(void *arg, const struct span_row *s)
{
    (void)span_metrics_add(arg, s, clock_realtime_ns());
}

void span_metrics_expire(struct span_metrics *sm, int64_t now_ns)
{
    pthread_mutex_lock(&sm->mu);
    expire_locked(sm, now_ns);
    pthread_mutex_unlock(&sm->mu);
}

void span_metrics_get_stats(struct span_metrics *sm, struct span_metrics_stats *st)
{
    pthread_mutex_lock(&sm->mu);
    *st = sm->st;
    st->pending = sm->npend;
    st->red_series = sm->red.n;
    st->edges = sm->edges.n;
    st->node_pairs = sm->npairs.n;
    pthread_mutex_unlock(&sm->mu);
}

/* --- flushing ------------------------------------------------------------- */

static const char *kind_name(uint32_t k)
{
    static const char *const n[] = { "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT",
                                     "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER" };
    return k < 5 ? n[k] : "SPAN_KIND_UNSPECIFIED";
}

static const char *status_name(uint32_t s)
{
    return s == TT_STATUS_OK      ? "STATUS_CODE_OK"
           : s == TT_STATUS_ERROR ? "STATUS_CODE_ERROR"
                                  : "STATUS_CODE_UNSET";
}

struct emitter {
    struct labels ls;
    metric_route_emit_fn emit;
    void *ctx;
    const char *ln[4], *lv[4];
    size_t nl;
};

static int put(struct emitter *e, const char *name, const char *le, int64_t t, double v)
{
    labels_reset(&e->ls);
    if (labels_push(&e->ls, LABELS_METRIC_NAME, name) < 0)
        return TT_ENOMEM;
    for (size_t i = 0; i < e->nl; i++)
        if (labels_push(&e->ls, e->ln[i], e->lv[i]) < 0)
            return TT_ENOMEM;
    if (le != NULL && labels_push(&e->ls, "le", le) < 0)
        return TT_ENOMEM;
    if (labels_normalize(&e->ls) < 0)
        return TT_EINVAL;
    return e->emit(e->ctx, &e->ls, t, v);
}

static int put_hist(struct emitter *e, const char *base, const struct hist *h, int64_t t, int zero)
{
    char name[96];
    static const char *const les[NB] = { "0.0001", "0.00025", "0.0005", "0.001", "0.002",
                                         "0.004",  "0.006",   "0.008",  "0.01",  "0.05",
                                         "0.1",    "0.2",     "0.4",    "0.8",   "1",
                                         "1.4",    "2",       "5",      "10",    "15" };
    uint64_t cum = 0;
    int rc = 0;
    snprintf(name, sizeof name, "%s_bucket", base);
    for (int i = 0; i < NB && rc == 0; i++) {
        cum += h->b[i];
        rc = put(e, name, les[i], t, zero ? 0 : (double)cum);
    }
    cum += h->b[NB];
    if (rc == 0)
        rc = put(e, name, "+Inf", t, zero ? 0 : (double)cum);
    snprintf(name, sizeof name, "%s_sum", base);
    if (rc == 0)
        rc = put(e, name, NULL, t, zero ? 0 : h->sum);
    snprintf(name, sizeof name, "%s_count", base);
    if (rc == 0)
        rc = put(e, name, NULL, t, zero ? 0 : (double)cum);
    return rc;
}

static void set_labels(struct emitter *e, const char *a, const char *va, const char *b,
                       const char *vb)
{
    e->ln[0] = a;
    e->lv[0] = va;
    e->ln[1] = b;
    e->lv[1] = vb;
    e->nl = 2;
}

/* The values of one flush, copied under the lock. */
struct snapshot {
    struct red *red;
    struct edge *edges;
    struct npair *npairs;
    uint32_t nred, nedges, nnpairs;
    char **names;
};

static int snap_take(struct span_metrics *sm, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&sm->mu);
    s->nred = sm->red.n;
    s->nedges = sm->edges.n;
    s->nnpairs = sm->npairs.n;
    s->red = malloc((size_t)s->nred * sizeof *s->red + 1);
    s->edges = malloc((size_t)s->nedges * sizeof *s->edges + 1);
    s->npairs = malloc((size_t)s->nnpairs * sizeof *s->npairs + 1);
    s->names = malloc((size_t)sm->names.n * sizeof(char *) + 1);
    int rc = 0;
    if (s->red == NULL || s->edges == NULL || s->npairs == NULL || s->names == NULL) {
        rc = TT_ENOMEM;
    } else {
        if (s->nred)
            memcpy(s->red, sm->red.items, (size_t)s->nred * sizeof *s->red);
        if (s->nedges)
            memcpy(s->edges, sm->edges.items, (size_t)s->nedges * sizeof *s->edges);
        if (s->nnpairs)
            memcpy(s->npairs, sm->npairs.items, (size_t)s->nnpairs * sizeof *s->npairs);
        if (sm->names.n)
            memcpy(s->names, sm->names.s, (size_t)sm->names.n * sizeof(char *));
        for (uint32_t i = 0; i < s->nred; i++)
            ((struct red *)fam_at(&sm->red, i))->flushed = 1;
        for (uint32_t i = 0; i < s->nedges; i++)
            ((struct edge *)fam_at(&sm->edges, i))->flushed = 1;
        for (uint32_t i = 0; i < s->nnpairs; i++)
            ((struct npair *)fam_at(&sm->npairs, i))->flushed = 1;
    }
    pthread_mutex_unlock(&sm->mu);
    return rc;
}

static void snap_release(struct snapshot *s)
{
    free(s->red);
    free(s->edges);
    free(s->npairs);
    free(s->names);
}

/* emit_all writes one time's samples (the zeros of new series when zeros). */
static int emit_all(struct emitter *e, const struct snapshot *s, int64_t t, int zeros)
{
    int rc = 0;
    char *const *nm = s->names;
    for (uint32_t i = 0; i < s->nred && rc == 0; i++) {
        const struct red *r = &s->red[i];
        if (zeros && r->flushed)
            continue;
        e->ln[0] = "service";
        e->lv[0] = nm[r->k.a];
        e->ln[1] = "operation";
        e->lv[1] = nm[r->k.b];
        e->ln[2] = "span_kind";
        e->lv[2] = kind_name(r->k.c);
        e->ln[3] = "status_code";
        e->lv[3] = status_name(r->k.d);
        e->nl = 4;
        rc = put(e, "telltale_span_calls_total", NULL, t, zeros ? 0 : (double)hist_count(&r->h));
        if (rc == 0)
            rc = put_hist(e, "telltale_span_duration_seconds", &r->h, t, zeros);
    }
    for (uint32_t i = 0; i < s->nedges && rc == 0; i++) {
        const struct edge *g = &s->edges[i];
        if (zeros && g->flushed)
            continue;
        set_labels(e, "client", nm[g->k.a], "server", nm[g->k.b]);
        if (g->k.c == 1) {
            e->ln[2] = "connection_type";
            e->lv[2] = "virtual_node";
            e->nl = 3;
        }
        size_t base = e->nl;
        rc = put(e, "telltale_service_graph_requests_total", NULL, t,
                 zeros ? 0 : (double)hist_count(&g->cli));
        if (rc == 0)
            rc = put(e, "telltale_service_graph_request_failed_total", NULL, t,
                     zeros ? 0 : (double)g->failed);
        if (rc == 0)
            rc = put_hist(e, "telltale_service_graph_request_client_seconds", &g->cli, t, zeros);
        if (rc == 0)
            rc = put_hist(e, "telltale_service_graph_request_server_seconds", &g->srv, t, zeros);
        for (int d = 0; d < 2 && rc == 0; d++) {
            e->ln[base] = "direction";
            e->lv[base] = d == 0 ? "request" : "response";
            e->nl = base + 1;
            rc = put(e, "telltale_service_graph_bytes_total", NULL, t,
                     zeros ? 0 : (double)g->bytes[d]);
        }
    }
    for (uint32_t i = 0; i < s->nnpairs && rc == 0; i++) {
        const struct npair *n = &s->npairs[i];
        if (zeros && n->flushed)
            continue;
        set_labels(e, "client_node", nm[n->k.a], "server_node", nm[n->k.b]);
        rc = put(e, "telltale_node_messages_total", NULL, t, zeros ? 0 : (double)n->msgs);
        for (int d = 0; d < 2 && rc == 0; d++) {
            e->ln[2] = "direction";
            e->lv[2] = d == 0 ? "request" : "response";
            e->nl = 3;
            rc = put(e, "telltale_node_bytes_total", NULL, t, zeros ? 0 : (double)n->bytes[d]);
        }
    }
    return rc;
}

int span_metrics_flush(struct span_metrics *sm, int64_t t_ms, metric_route_emit_fn emit, void *ctx)
{
    struct snapshot s;
    struct emitter e;
    int rc = snap_take(sm, &s);
    labels_init(&e.ls);
    e.emit = emit;
    e.ctx = ctx;
    e.nl = 0;
    pthread_mutex_lock(&sm->mu);
    int64_t prev = sm->last_flush_ms < t_ms ? sm->last_flush_ms : t_ms - 1;
    sm->last_flush_ms = t_ms;
    pthread_mutex_unlock(&sm->mu);
    if (rc == 0)
        rc = emit_all(&e, &s, prev, 1);
    if (rc == 0)
        rc = emit_all(&e, &s, t_ms, 0);
    labels_release(&e.ls);
    snap_release(&s);
    pthread_mutex_lock(&sm->mu);
    sm->st.flushes++;
    if (rc != 0)
        sm->st.flush_errors++;
    pthread_mutex_unlock(&sm->mu);
    return rc;
}

/* --- the thread ----------------------------------------------------------- */

/* flush_to_head appends one flush to the store's head as one commit. */
static void flush_to_head(struct span_metrics *sm)
{
    int64_t now = clock_realtime_ns();
    span_metrics_expire(sm, now);
    struct head *h = server_store_head(sm->store);
    if (h == NULL)
        return;
    struct metric_route_head mh = { NULL, 0, 0 };
    char err[256] = "";
    int rc = head_appender_new(h, &mh.app);
    if (rc == 0) {
        rc = span_metrics_flush(sm, now / 1000000, metric_route_to_head, &mh);
        if (rc == 0)
            rc = head_appender_commit(mh.app, NULL, err, sizeof err);
        else
            head_appender_rollback(mh.app);
    }
    head_appender_free(mh.app);
    pthread_mutex_lock(&sm->mu);
    if (rc == 0) {
        sm->st.samples += mh.samples;
        sm->st.samples_skipped += mh.skipped;
    } else {
        sm->st.flush_errors++;
    }
    pthread_mutex_unlock(&sm->mu);
    if (rc != 0)
        log_error(sm->cfg.log, "span metrics: appending to the TSDB failed", "err",
                  err[0] ? err : tt_strerror(rc));
}

static void *run(void *arg)
{
    struct span_metrics *sm = arg;
    for (;;) {
        pthread_mutex_lock(&sm->mu);
        if (!sm->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + sm->cfg.interval_ms * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&sm->cv, &sm->mu, &ts);
        }
        int stop = sm->stop;
        pthread_mutex_unlock(&sm->mu);
        flush_to_head(sm);
        if (stop)
            break;
    }
    return NULL;
}

int span_metrics_start(struct span_metrics *sm, struct server_store *st)
{
    if (sm->started)
        return TT_ESTATE;
    sm->store = st;
    sm->stop = 0;
    if (pthread_create(&sm->thread, NULL, run, sm) != 0)
        return TT_ESYS;
    sm->started = 1;
    return 0;
}

void span_metrics_stop(struct span_metrics *sm)
{
    if (sm == NULL || !sm->started)
        return;
    pthread_mutex_lock(&sm->mu);
    sm->stop = 1;
    pthread_cond_signal(&sm->cv);
    pthread_mutex_unlock(&sm->mu);
    pthread_join(sm->thread, NULL);
    sm->started = 0;
}

/* --- /metrics ------------------------------------------------------------- */

static void collect(void *ctx, struct wbuf *out)
{
    struct span_metrics_stats st;
    span_metrics_get_stats(ctx, &st);
    static const struct {
        const char *name, *help;
        enum metric_type type;
        size_t off;
    } rows[] = {
        { "telltale_span_metrics_spans_total", "Spans aggregated into span metrics.",
          METRIC_COUNTER, offsetof(struct span_metrics_stats, spans) },
        { "telltale_span_metrics_too_old_total",
          "Spans not aggregated: they ended longer than spans_metrics_max_age before they were "
          "indexed.",
          METRIC_COUNTER, offsetof(struct span_metrics_stats, too_old) },
        { "telltale_span_metrics_pairs_total", "Parent/child span pairs counted as graph edges.",
          METRIC_COUNTER, offsetof(struct span_metrics_stats, pairs) },
        { "telltale_span_metrics_virtual_pairs_total",
          "Client or producer spans without a server span counted as calls to the peer their "
          "attributes name (peer.service, db.name, db.system).",
          METRIC_COUNTER, offsetof(struct span_metrics_stats, virtual_pairs) },
        { "telltale_span_metrics_expired_total",
          "Spans whose wait for their pair ended unpaired (orphans, calls without a server "
          "span).",
          METRIC_COUNTER, offsetof(struct span_metrics_stats, expired) },
        { "telltale_span_metrics_dropped_pending_total",
          "Spans pushed out of the full pairing table.", METRIC_COUNTER,
          offsetof(struct span_metrics_stats, dropped_pending) },
        { "telltale_span_metrics_dropped_series_total",
          "Spans or pairs not counted because a series family was full.", METRIC_COUNTER,
          offsetof(struct span_metrics_stats, dropped_series) },
        { "telltale_span_metrics_pending", "Spans waiting for their pair.", METRIC_GAUGE,
          offsetof(struct span_metrics_stats, pending) },
        { "telltale_span_metrics_red_series", "RED series (service, operation, kind, status).",
          METRIC_GAUGE, offsetof(struct span_metrics_stats, red_series) },
        { "telltale_span_metrics_edges", "Service graph edges.", METRIC_GAUGE,
          offsetof(struct span_metrics_stats, edges) },
        { "telltale_span_metrics_node_pairs", "Node pairs that exchanged messages.", METRIC_GAUGE,
          offsetof(struct span_metrics_stats, node_pairs) },
        { "telltale_span_metrics_flushes_total", "Flushes of span metrics to the TSDB.",
          METRIC_COUNTER, offsetof(struct span_metrics_stats, flushes) },
        { "telltale_span_metrics_flush_errors_total", "Flushes that failed.", METRIC_COUNTER,
          offsetof(struct span_metrics_stats, flush_errors) },
        { "telltale_span_metrics_samples_total", "Samples appended to the TSDB head.",
          METRIC_COUNTER, offsetof(struct span_metrics_stats, samples) },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&st + rows[i].off, sizeof v);
        metrics_write_header(out, rows[i].name, rows[i].help, rows[i].type);
        metrics_write_sample(out, rows[i].name, NULL, NULL, 0, (double)v);
    }
}

int span_metrics_register_self(struct span_metrics *sm, struct metrics_registry *reg)
{
    return metrics_add_collector(reg, collect, sm);
}

void span_metrics_free(struct span_metrics *sm)
{
    if (sm == NULL)
        return;
    span_metrics_stop(sm);
    names_release(&sm->names);
    fam_release(&sm->red);
    fam_release(&sm->edges);
    fam_release(&sm->npairs);
    free(sm->pool);
    free(sm->heads);
    pthread_mutex_destroy(&sm->mu);
    pthread_cond_destroy(&sm->cv);
    free(sm);
}
