/*
 * align.c - HLC alignment of per-node logs: the per-node scan for the shift
 * a_i = max(l - pt) and the merged log in HLC order with aligned times.
 *
 * Both passes split the event array in two halves when asked for two threads:
 * each half is scanned (per-node maximum and how many events attain it) and
 * sorted on its own thread, then the halves are combined (maxima compared,
 * counts added where they tie) and merged into one array. Memory: the events,
 * plus one copy of them during the merge.
 */
#include "query/causal/align.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "telltale.h"

#define HLC_L_MAX ((INT64_C(1) << 48) - 1)

void align_set_init(struct align_set *s)
{
    memset(s, 0, sizeof(*s));
}

void align_set_release(struct align_set *s)
{
    for (size_t i = 0; i < s->nnodes; i++)
        free(s->nodes[i].name);
    free(s->nodes);
    free(s->ev);
    free(s->msgs);
    free(s->hash);
    memset(s, 0, sizeof(*s));
}

static uint64_t hash_name(const char *p, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * UINT64_C(1099511628211);
    return h;
}

static int grow_hash(struct align_set *s)
{
    size_t cap = s->hash_cap ? s->hash_cap * 2 : 64;
    uint32_t *h = calloc(cap, sizeof(*h));
    if (!h)
        return TT_ENOMEM;
    for (size_t i = 0; i < s->nnodes; i++) {
        size_t k = hash_name(s->nodes[i].name, strlen(s->nodes[i].name)) & (cap - 1);
        while (h[k])
            k = (k + 1) & (cap - 1);
        h[k] = (uint32_t)i + 1;
    }
    free(s->hash);
    s->hash = h;
    s->hash_cap = cap;
    return 0;
}

int align_set_node(struct align_set *s, const char *name, size_t len, uint32_t *id)
{
    if (len == 0 || memchr(name, '\0', len))
        return TT_EINVAL;
    if ((s->nnodes + 1) * 2 > s->hash_cap) {
        int rc = grow_hash(s);
        if (rc)
            return rc;
    }
    size_t k = hash_name(name, len) & (s->hash_cap - 1);
    while (s->hash[k]) {
        const char *n = s->nodes[s->hash[k] - 1].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            *id = s->hash[k] - 1;
            return 0;
        }
        k = (k + 1) & (s->hash_cap - 1);
    }
    if (s->nnodes >= UINT32_MAX - 1)
        return TT_ERANGE;
    if (s->nnodes == s->nodes_cap) {
        size_t cap = s->nodes_cap ? s->nodes_cap * 2 : 8;
        struct align_node *nn = realloc(s->nodes, cap * sizeof(*nn));
        if (!nn)
            return TT_ENOMEM;
        s->nodes = nn;
        s->nodes_cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return TT_ENOMEM;
    memcpy(copy, name, len);
    copy[len] = '\0';
    memset(&s->nodes[s->nnodes], 0, sizeof(s->nodes[0]));
    s->nodes[s->nnodes].name = copy;
    s->hash[k] = (uint32_t)s->nnodes + 1;
    *id = (uint32_t)s->nnodes++;
    return 0;
}

int align_set_add(struct align_set *s, uint32_t node, int64_t pt_ms, int64_t l_ms, uint32_t c,
                  const char *msg, size_t msglen)
{
    if (node >= s->nnodes || l_ms < 0 || l_ms > HLC_L_MAX || pt_ms < 0 || pt_ms > HLC_L_MAX ||
        c > 0xffff || msglen > UINT32_MAX)
        return TT_EINVAL;
    if (s->nev == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct align_event *ne = realloc(s->ev, cap * sizeof(*ne));
        if (!ne)
            return TT_ENOMEM;
        s->ev = ne;
        s->cap = cap;
    }
    if (msglen > s->msgs_cap - s->msgs_len) {
        uint64_t cap = s->msgs_cap ? s->msgs_cap : 4096;
        while (cap - s->msgs_len < msglen)
            cap *= 2;
        char *nm = realloc(s->msgs, (size_t)cap);
        if (!nm)
            return TT_ENOMEM;
        s->msgs = nm;
        s->msgs_cap = cap;
    }
    struct align_event *e = &s->ev[s->nev];
    memset(e, 0, sizeof(*e));
    e->pt_ms = pt_ms;
    e->l_ms = l_ms;
    e->c = c;
    e->node = node;
    e->seq = s->nev;
    e->msg_off = s->msgs_len;
    e->msg_len = (uint32_t)msglen;
    if (msglen)
        memcpy(s->msgs + s->msgs_len, msg, msglen);
    s->msgs_len += msglen;
    s->nev++;
    return 0;
}

/* ---- the per-node scan ---------------------------------------------------- */

struct scan_part {
    const struct align_event *ev;
    size_t n, nnodes;
    int64_t *max;    /* per node: max(l - pt), valid when events > 0 */
    uint64_t *at;    /* per node: how many events attain it */
    uint64_t *count; /* per node: events */
};

static void *scan_half(void *arg)
{
    struct scan_part *p = arg;
    for (size_t i = 0; i < p->n; i++) {
        const struct align_event *e = &p->ev[i];
        int64_t d = e->l_ms - e->pt_ms;
        uint32_t k = e->node;
        if (p->count[k] == 0 || d > p->max[k]) {
            p->max[k] = d;
            p->at[k] = 1;
        } else if (d == p->max[k]) {
            p->at[k]++;
        }
        p->count[k]++;
    }
    return NULL;
}

/* ---- the sort: HLC, then node, then input order ----------------------------- */

static int ev_cmp(const void *a, const void *b)
{
    const struct align_event *x = a, *y = b;
    if (x->l_ms != y->l_ms)
        return x->l_ms < y->l_ms ? -1 : 1;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct sort_part {
    struct align_event *ev;
    size_t n;
};

static void *sort_half(void *arg)
{
    struct sort_part *p = arg;
    qsort(p->ev, p->n, sizeof(*p->ev), ev_cmp);
    return NULL;
}

/* run2 runs fn(a) on a new thread and fn(b) here; falls back to running both
 * here if the thread cannot be started. */
static void run2(void *(*fn)(void *), void *a, void *b, int two)
{
    pthread_t t;
    if (two && pthread_create(&t, NULL, fn, a) == 0) {
        fn(b);
        pthread_join(t, NULL);
        return;
    }
    fn(a);
    fn(b);
}

int align_run(struct align_set *s, int nthreads, int64_t bound_ms)
{
    int rc = TT_ENOMEM;
    int two = nthreads >= 2 && s->nev >= 4096;
    size_t nn = s->nnodes ? s->nnodes : 1;
    int64_t *max = calloc(2 * nn, sizeof(*max));
    uint64_t *at = calloc(2 * nn, sizeof(*at));
    uint64_t *count = calloc(2 * nn, sizeof(*count));
    struct align_event *tmp = NULL;
    if (bound_ms < 0) {
        rc = TT_EINVAL;
        goto out;
    }
    if (!max || !at || !count)
        goto out;
    size_t half = s->nev / 2;
    struct scan_part sp[2] = {
        { s->ev, half, s->nnodes, max, at, count },
        /* s->ev is NULL while the set is empty: no pointer arithmetic on it. */
        { s->nev ? s->ev + half : NULL, s->nev - half, s->nnodes, max + nn, at + nn, count + nn },
    };
    run2(scan_half, &sp[0], &sp[1], two);
    int64_t amin = INT64_MAX;
    for (size_t k = 0; k < s->nnodes; k++) {
        struct align_node *nd = &s->nodes[k];
        uint64_t c0 = count[k], c1 = count[nn + k];
        int64_t m;
        uint64_t a;
        if (c0 && c1) {
            m = max[k] > max[nn + k] ? max[k] : max[nn + k];
            a = (max[k] == m ? at[k] : 0) + (max[nn + k] == m ? at[nn + k] : 0);
        } else if (c0) {
            m = max[k];
            a = at[k];
        } else if (c1) {
            m = max[nn + k];
            a = at[nn + k];
        } else {
            m = 0;
            a = 0;
        }
        nd->events = c0 + c1;
        nd->shift_ms = m;
        /* Only events with l > pt carry evidence from another clock. */
        nd->constrained = m > 0 ? a : 0;
        if (nd->events && m < amin)
            amin = m;
    }
    int ref_done = 0;
    for (size_t k = 0; k < s->nnodes; k++) {
        struct align_node *nd = &s->nodes[k];
        nd->lo_ms = nd->shift_ms;
        /* The HLC accepts no stamp more than bound_ms ahead of the receiver, so
         * in a cluster it has run in no clock is provably further behind; a
         * shift beyond it was proven by the events themselves. The node that
         * drives the HLC (the smallest shift, nothing constrains it) is the
         * reference, exactly where it is: the first such node when several
         * qualify (the others exchanged nothing that tells them apart). */
        nd->hi_ms = nd->shift_ms > bound_ms ? nd->shift_ms : bound_ms;
        if (!ref_done && nd->events && nd->shift_ms == amin && nd->constrained == 0) {
            nd->hi_ms = nd->lo_ms;
            ref_done = 1;
        }
    }

    /* Merged log: HLC order (a linear extension of happened-before), aligned
     * times pt + a_i raised where needed so they never go backwards. */
    if (s->nev > 1) {
        struct sort_part pp[2] = { { s->ev, half }, { s->ev + half, s->nev - half } };
        if (!two) {
            qsort(s->ev, s->nev, sizeof(*s->ev), ev_cmp);
        } else {
            tmp = malloc(s->nev * sizeof(*tmp));
            if (!tmp)
                goto out;
            run2(sort_half, &pp[0], &pp[1], 1);
            size_t i = 0, j = half, o = 0;
            while (i < half && j < s->nev)
                tmp[o++] = ev_cmp(&s->ev[j], &s->ev[i]) < 0 ? s->ev[j++] : s->ev[i++];
            while (i < half)
                tmp[o++] = s->ev[i++];
            while (j < s->nev)
                tmp[o++] = s->ev[j++];
            free(s->ev);
            s->ev = tmp;
            s->cap = s->nev;
            tmp = NULL;
        }
    }
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < s->nev; i++) {
        struct align_event *e = &s->ev[i];
        int64_t t = e->pt_ms + s->nodes[e->node].shift_ms;
        e->repaired = t < prev;
        if (t < prev)
            t = prev;
        e->aligned_ms = t;
        prev = t;
    }
    rc = 0;
out:
    free(tmp);
    free(max);
    free(at);
    free(count);
    return rc;
}
