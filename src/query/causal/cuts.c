/*
 * cuts.c - consistent cuts of the state logs (see cuts.h).
 *
 * Entries are allocated one by one so pointers to them stay valid while
 * the tables grow; two open-addressing tables index them: (node, log, var)
 * -> entry, and (log, var) -> the group of entries of every node having it.
 */
#include "query/causal/cuts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/hlc.h"

struct centry {
    struct cut_entry e;
    uint64_t hash;
    char *key; /* "node\0log\0var\0", owned; e.node/log/var point in */
    size_t klen[3];
    char *vals; /* process, value and prev strings, owned */
    size_t vcap;
};

struct group {
    uint64_t hash;
    const char *log, *var; /* the first entry's */
    const struct cut_entry **ents;
    size_t n, cap;
};

struct cut {
    struct centry **ents;
    size_t n, cap;
    uint32_t *tab; /* index + 1; 0: empty */
    size_t tcap;
    struct group **groups;
    size_t ng, gcap;
    uint32_t *gtab;
    size_t gtcap;
    size_t live;
    uint64_t hlc;
};

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h ^ 0xff; /* separates "ab","c" from "a","bc" */
}

#define FNV0 14695981039346656037ull

int cut_new(struct cut **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : TT_ENOMEM;
}

void cut_free(struct cut *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->ents[i]->key);
        free(c->ents[i]->vals);
        free(c->ents[i]);
    }
    for (size_t i = 0; i < c->ng; i++) {
        free(c->groups[i]->ents);
        free(c->groups[i]);
    }
    free(c->ents);
    free(c->tab);
    free(c->groups);
    free(c->gtab);
    free(c);
}

static int streq(const char *a, size_t alen, const struct rec_str *b)
{
    return alen == b->len && (alen == 0 || memcmp(a, b->p, alen) == 0);
}

static int key_eq(const struct centry *ce, const struct rec_str *k)
{
    return streq(ce->e.node, ce->klen[0], &k[0]) && streq(ce->e.log, ce->klen[1], &k[1]) &&
           streq(ce->e.var, ce->klen[2], &k[2]);
}

static uint64_t key_hash(const struct rec_str *k, int from)
{
    uint64_t h = FNV0;
    for (int i = from; i < 3; i++)
        h = fnv(h, k[i].p, k[i].len);
    return h;
}

/* find: the slot of key k in c->tab (holding it, or the empty one). */
static size_t find(const struct cut *c, const struct rec_str *k, uint64_t h)
{
    size_t mask = c->tcap - 1, i = (size_t)h & mask;
    while (c->tab[i] != 0) {
        const struct centry *ce = c->ents[c->tab[i] - 1];
        if (ce->hash == h && key_eq(ce, k))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static size_t gfind(const struct cut *c, const struct rec_str *k, uint64_t h)
{
    size_t mask = c->gtcap - 1, i = (size_t)h & mask;
    while (c->gtab[i] != 0) {
        const struct group *g = c->groups[c->gtab[i] - 1];
        if (g->hash == h && strlen(g->log) == k[1].len && strlen(g->var) == k[2].len &&
            memcmp(g->log, k[1].p, k[1].len) == 0 && memcmp(g->var, k[2].p, k[2].len) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int grow_tab(uint32_t **tab, size_t *tcap, size_t n,
                    uint64_t (*hash_of)(const void *, size_t), const void *owner)
{
    if ((n + 1) * 2 <= *tcap)
        return 0;
    size_t ncap = *tcap ? *tcap * 2 : 64;
    uint32_t *nt = calloc(ncap, sizeof *nt);
    if (nt == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t j = (size_t)hash_of(owner, i) & (ncap - 1);
        while (nt[j] != 0)
            j = (j + 1) & (ncap - 1);
        nt[j] = (uint32_t)(i + 1);
    }
    free(*tab);
    *tab = nt;
    *tcap = ncap;
    return 0;
}

static uint64_t ent_hash(const void *owner, size_t i)
{
    return ((const struct cut *)owner)->ents[i]->hash;
}

static uint64_t group_hash(const void *owner, size_t i)
{
    return ((const struct cut *)owner)->groups[i]->hash;
}

static int group_add(struct cut *c, const struct rec_str *k, const struct cut_entry *e)
{
    int rc = grow_tab(&c->gtab, &c->gtcap, c->ng, group_hash, c);
    if (rc < 0)
        return rc;
    uint64_t h = key_hash(k, 1);
    size_t slot = gfind(c, k, h);
    struct group *g;
    if (c->gtab[slot] == 0) {
        if (c->ng == c->gcap) {
            size_t ncap = c->gcap ? c->gcap * 2 : 16;
            struct group **ng = realloc(c->groups, ncap * sizeof *ng);
            if (ng == NULL)
                return TT_ENOMEM;
            c->groups = ng;
            c->gcap = ncap;
        }
        g = calloc(1, sizeof *g);
        if (g == NULL)
            return TT_ENOMEM;
        g->hash = h;
        g->log = e->log;
        g->var = e->var;
        c->groups[c->ng++] = g;
        c->gtab[slot] = (uint32_t)c->ng;
    } else {
        g = c->groups[c->gtab[slot] - 1];
    }
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 4;
        const struct cut_entry **ne = realloc(g->ents, ncap * sizeof *ne);
        if (ne == NULL)
            return TT_ENOMEM;
        g->ents = ne;
        g->cap = ncap;
    }
    g->ents[g->n++] = e;
    return 0;
}

/* new_entry adds an entry for key k at slot; the values are set by the caller. */
static struct centry *new_entry(struct cut *c, const struct rec_str *k, uint64_t h, size_t slot)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        struct centry **ne = realloc(c->ents, ncap * sizeof *ne);
        if (ne == NULL)
            return NULL;
        c->ents = ne;
        c->cap = ncap;
    }
    struct centry *ce = calloc(1, sizeof *ce);
    char *key = ce ? malloc((size_t)k[0].len + k[1].len + k[2].len + 3) : NULL;
    if (key == NULL) {
        free(ce);
        return NULL;
    }
    char *p = key;
    const char **dst[3] = { &ce->e.node, &ce->e.log, &ce->e.var };
    for (int i = 0; i < 3; i++) {
        if (k[i].len)
            memcpy(p, k[i].p, k[i].len);
        p[k[i].len] = '\0';
        *dst[i] = p;
        ce->klen[i] = k[i].len;
        p += k[i].len + 1;
    }
    ce->key = key;
    ce->hash = h;
    if (group_add(c, k, &ce->e) < 0) {
        free(key);
        free(ce);
        return NULL;
    }
    c->ents[c->n++] = ce;
    c->tab[slot] = (uint32_t)c->n;
    return ce;
}

static size_t val_len(const struct rec_value *v)
{
    return v->type == TT_VAL_STR ? v->u.s.len : 0;
}

/* set_values copies ch's process, value and prev into ce. */
static int set_values(struct centry *ce, const struct statelog_change *ch)
{
    size_t need = (size_t)ch->process.len + 1 + val_len(&ch->value) + val_len(&ch->prev);
    if (need > ce->vcap) {
        size_t ncap = need < 32 ? 32 : need * 2;
        char *nv = realloc(ce->vals, ncap);
        if (nv == NULL)
            return TT_ENOMEM;
        ce->vals = nv;
        ce->vcap = ncap;
    }
    char *p = ce->vals;
    if (ch->process.len)
        memcpy(p, ch->process.p, ch->process.len);
    p[ch->process.len] = '\0';
    ce->e.process = p;
    p += ch->process.len + 1;
    ce->e.value = ch->value;
    ce->e.prev = ch->prev;
    struct rec_value *vs[2] = { &ce->e.value, &ce->e.prev };
    for (int i = 0; i < 2; i++) {
        if (vs[i]->type != TT_VAL_STR)
            continue;
        if (vs[i]->u.s.len)
            memcpy(p, vs[i]->u.s.p, vs[i]->u.s.len);
        vs[i]->u.s.p = p;
        p += vs[i]->u.s.len;
    }
    ce->e.hlc = ch->hlc;
    ce->e.time_ns = ch->time_ns;
    ce->e.id = ch->id;
    return 0;
}

int cut_apply(struct cut *c, const struct statelog_change *ch, const struct cut_entry **entry)
{
    struct rec_str k[3] = { ch->node, ch->log, ch->var };
    uint64_t h = key_hash(k, 0);
    int rc = grow_tab(&c->tab, &c->tcap, c->n, ent_hash, c);
    if (rc < 0)
        return rc;
    size_t slot = find(c, k, h);
    struct centry *ce;
    int was_live = 0;
    if (c->tab[slot] == 0) {
        ce = new_entry(c, k, h, slot);
        if (ce == NULL)
            return TT_ENOMEM;
    } else {
        ce = c->ents[c->tab[slot] - 1];
        if (ce->e.hlc > ch->hlc || (ce->e.hlc == ch->hlc && ce->e.id > ch->id)) {
            if (entry)
                *entry = &ce->e;
            return 0;
        }
        was_live = ce->e.value.type != TT_VAL_NONE;
    }
    rc = set_values(ce, ch);
    if (rc < 0)
        return rc;
    int live = ce->e.value.type != TT_VAL_NONE;
    c->live = c->live + (size_t)live - (size_t)was_live;
    if (ch->hlc > c->hlc)
        c->hlc = ch->hlc;
    if (entry)
        *entry = &ce->e;
    return 1;
}

static struct rec_str rs(const char *s)
{
    struct rec_str r = { s ? s : "", s ? (uint32_t)strlen(s) : 0 };
    return r;
}

const struct cut_entry *cut_lookup(const struct cut *c, const char *node, const char *log,
                                   const char *var)
{
    if (c->tcap == 0)
        return NULL;
    struct rec_str k[3] = { rs(node), rs(log), rs(var) };
    size_t slot = find(c, k, key_hash(k, 0));
    if (c->tab[slot] == 0)
        return NULL;
    const struct cut_entry *e = &c->ents[c->tab[slot] - 1]->e;
    return e->value.type == TT_VAL_NONE ? NULL : e;
}

const struct cut_entry *const *cut_var_nodes(const struct cut *c, const char *log, const char *var,
                                             size_t *n)
{
    *n = 0;
    if (c->gtcap == 0)
        return NULL;
    struct rec_str k[3] = { rs(""), rs(log), rs(var) };
    size_t slot = gfind(c, k, key_hash(k, 1));
    if (c->gtab[slot] == 0)
        return NULL;
    const struct group *g = c->groups[c->gtab[slot] - 1];
    *n = g->n;
    return g->ents;
}

const struct cut_entry *cut_next(const struct cut *c, size_t *it)
{
    while (*it < c->n) {
        const struct cut_entry *e = &c->ents[(*it)++]->e;
        if (e->value.type != TT_VAL_NONE)
            return e;
    }
    return NULL;
}

size_t cut_count(const struct cut *c)
{
    return c->live;
}

uint64_t cut_hlc(const struct cut *c)
{
    return c->hlc;
}

static int strcmp_rs(const struct rec_str *a, const struct rec_str *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->p, b->p, n) : 0;
    if (r != 0)
        return r;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int change_cmp(const void *pa, const void *pb)
{
    const struct statelog_change *a = pa, *b = pb;
    int r;
    if (a->hlc != b->hlc)
        return a->hlc < b->hlc ? -1 : 1;
    if ((r = strcmp_rs(&a->node, &b->node)) != 0 || (r = strcmp_rs(&a->log, &b->log)) != 0 ||
        (r = strcmp_rs(&a->var, &b->var)) != 0)
        return r;
    return a->id < b->id ? -1 : a->id > b->id;
}

void cut_changes_sort(struct statelog_change *ch, size_t n)
{
    if (n > 1)
        qsort(ch, n, sizeof *ch, change_cmp);
}

int cut_walk_changes(struct cut *c, const struct statelog_change *ch, size_t n, cut_step_fn fn,
                     void *arg)
{
    for (size_t i = 0; i < n; i++) {
        struct cut_step s = { .cut = c, .change = &ch[i], .index = i };
        int rc = cut_apply(c, &ch[i], &s.entry);
        if (rc < 0)
            return rc;
        s.last_of_hlc = i + 1 == n || ch[i + 1].hlc != ch[i].hlc;
        rc = fn(arg, &s);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Reading a state log: every change of log with hlc <= end, a page at a
 * time; the ones before split go into c, the others are kept (with the
 * pages that hold their strings) to be sorted and walked. */
struct reader {
    struct evstore_result *pages;
    size_t npages, pcap;
    struct statelog_change *ch;
    size_t n, cap;
};

static void reader_release(struct reader *r)
{
    for (size_t i = 0; i < r->npages; i++)
        evstore_result_release(&r->pages[i]);
    free(r->pages);
    free(r->ch);
}

static int read_log(struct evstore *st, uint64_t split, uint64_t end, const char *log,
                    struct cut *c, struct reader *rd, char *err, size_t errlen)
{
    struct evstore_query q;
    uint64_t seen = 0;
    statelog_query_init(&q, NULL, log, NULL);
    q.hlc_max = end;
    q.limit = 10000;
    for (;;) {
        struct evstore_result r;
        int rc = evstore_search(st, &q, &r, err, errlen);
        if (rc < 0) {
            evstore_result_release(&r);
            return rc;
        }
        int keep = 0;
        for (size_t i = 0; i < r.n && rc >= 0; i++) {
            struct statelog_change ch;
            if (statelog_change_of(&r.hits[i].ev, &ch) != 0)
                continue; /* the store wrote both attrs; nothing else to do */
            if (ch.hlc < split) {
                rc = cut_apply(c, &ch, NULL);
                continue;
            }
            if (rd->n == rd->cap) {
                size_t ncap = rd->cap ? rd->cap * 2 : 1024;
                struct statelog_change *nc = realloc(rd->ch, ncap * sizeof *nc);
                if (nc == NULL) {
                    rc = TT_ENOMEM;
                    break;
                }
                rd->ch = nc;
                rd->cap = ncap;
            }
            rd->ch[rd->n++] = ch;
            keep = 1;
        }
        int more = r.more && r.n > 0;
        if (more) {
            q.has_after = 1;
            q.after_time_ns = r.hits[r.n - 1].ev.time_ns;
            q.after_id = r.hits[r.n - 1].ev.id;
        }
        seen += r.n;
        if (rc >= 0 && keep) {
            if (rd->npages == rd->pcap) {
                size_t ncap = rd->pcap ? rd->pcap * 2 : 16;
                struct evstore_result *np = realloc(rd->pages, ncap * sizeof *np);
                if (np == NULL)
                    rc = TT_ENOMEM;
                else {
                    rd->pages = np;
                    rd->pcap = ncap;
                }
            }
            if (rc >= 0) {
                rd->pages[rd->npages++] = r;
                r.hits = NULL;
                r.n = 0;
            }
        }
        if (rc < 0) {
            evstore_result_release(&r);
            if (rc == TT_ENOMEM && errlen)
                snprintf(err, errlen, "out of memory reading the state log");
            return rc;
        }
        if (r.hits != NULL)
            evstore_result_release(&r);
        if (seen > CUTS_MAX_CHANGES) {
            snprintf(err, errlen, "more than %u state changes up to HLC %016llx: narrow the range",
                     CUTS_MAX_CHANGES, (unsigned long long)end);
            return TT_ETOOBIG;
        }
        if (!more)
            return 0;
    }
}

int cuts_snapshot(struct evstore *st, uint64_t t, const char *log, struct cut *c, char *err,
                  size_t errlen)
{
    struct reader rd = { 0 };
    uint64_t split = t == UINT64_MAX ? UINT64_MAX : t + 1;
    int rc = read_log(st, split, t, log, c, &rd, err, errlen);
    /* With t == UINT64_MAX the changes at exactly that HLC were kept apart. */
    for (size_t i = 0; rc >= 0 && i < rd.n; i++)
        rc = cut_apply(c, &rd.ch[i], NULL);
    reader_release(&rd);
    return rc < 0 ? rc : 0;
}

int cuts_walk(struct evstore *st, uint64_t t1, uint64_t t2, const char *log, size_t limit,
              struct cut *c, cut_step_fn fn, void *arg, int *truncated, char *err, size_t errlen)
{
    struct reader rd = { 0 };
    if (truncated)
        *truncated = 0;
    if (t2 < t1) {
        snprintf(err, errlen, "the end of the range is before its start");
        return TT_EINVAL;
    }
    int rc = read_log(st, t1, t2, log, c, &rd, err, errlen);
    if (rc >= 0) {
        size_t n = rd.n;
        cut_changes_sort(rd.ch, rd.n);
        if (limit && n > limit) {
            n = limit;
            if (truncated)
                *truncated = 1;
        }
        rc = cut_walk_changes(c, rd.ch, n, fn, arg);
    }
    reader_release(&rd);
    return rc;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return TT_ESYNTAX;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return TT_ESYNTAX;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return TT_ESYNTAX;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cuts_parse_hlc(const char *s, uint64_t *hlc)
{
    size_t n = strlen(s);
    const char *dot = memchr(s, '.', n);
    if (dot != NULL) {
        uint64_t l, cnt;
        if (dec(s, (size_t)(dot - s), (1ull << 48) - 1, &l) < 0 ||
            dec(dot + 1, n - (size_t)(dot - s) - 1, 0xffff, &cnt) < 0)
            return TT_ESYNTAX;
        *hlc = hlc_pack(l, (uint32_t)cnt);
        return 0;
    }
    if (n != 16)
        return TT_ESYNTAX;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexval(s[i]);
        if (d < 0)
            return TT_ESYNTAX;
        v = v << 4 | (uint64_t)d;
    }
    *hlc = v;
    return 0;
}
