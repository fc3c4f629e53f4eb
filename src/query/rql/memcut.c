/*
 * memcut.c - the in-memory cut (memcut.h): a table of values per variable
 * key, indexed by node id, and per key the ascending list of nodes that have
 * a value. Lookups by name are linear (few nodes and variables); the hot
 * path (value, nodes, memcut_set_id) is by id.
 */
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "query/rql/memcut.h"

struct slot {
    struct rql_value v;
    size_t cap; /* bytes owned by v.u.s.p */
    int set;
};

struct keyrow {
    char *log, *var;
    struct slot *slots; /* nslots entries, by node id */
    uint32_t nslots;
    uint32_t *nodes; /* ascending ids with a value */
    uint32_t nnodes;
};

struct memcut {
    char **node_names;
    uint32_t nnodes;
    struct keyrow *keys;
    uint32_t nkeys;
};

struct memcut *memcut_new(void)
{
    return calloc(1, sizeof(struct memcut));
}

void memcut_free(struct memcut *mc)
{
    if (mc == NULL)
        return;
    for (uint32_t k = 0; k < mc->nnodes; k++)
        free(mc->node_names[k]);
    free(mc->node_names);
    for (uint32_t k = 0; k < mc->nkeys; k++) {
        struct keyrow *r = &mc->keys[k];
        for (uint32_t j = 0; j < r->nslots; j++)
            if (r->slots[j].cap)
                free((char *)r->slots[j].v.u.s.p);
        free(r->slots);
        free(r->nodes);
        free(r->log);
        free(r->var);
    }
    free(mc->keys);
    free(mc);
}

static char *dup_s(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

int memcut_set_id(struct memcut *mc, uint32_t node_id, uint32_t key, const struct rql_value *v)
{
    if (key >= mc->nkeys || node_id >= mc->nnodes)
        return TT_EINVAL;
    struct keyrow *r = &mc->keys[key];
    if (node_id >= r->nslots) {
        struct slot *s = realloc(r->slots, mc->nnodes * sizeof *s);
        if (s == NULL)
            return TT_ENOMEM;
        memset(s + r->nslots, 0, (mc->nnodes - r->nslots) * sizeof *s);
        r->slots = s;
        r->nslots = mc->nnodes;
    }
    struct slot *s = &r->slots[node_id];
    if (v->type == RQL_V_STR) {
        if (s->cap < v->u.s.len + 1) {
            char *p = malloc(v->u.s.len + 1);
            if (p == NULL)
                return TT_ENOMEM;
            if (s->cap)
                free((char *)s->v.u.s.p);
            s->v.u.s.p = p;
            s->cap = v->u.s.len + 1;
        }
        char *p = (char *)s->v.u.s.p;
        if (v->u.s.len)
            memmove(p, v->u.s.p, v->u.s.len);
        p[v->u.s.len] = 0;
        s->v.type = RQL_V_STR;
        s->v.u.s.len = v->u.s.len;
    } else {
        if (s->cap)
            free((char *)s->v.u.s.p);
        s->cap = 0;
        s->v = *v;
    }
    if (!s->set) {
        uint32_t *n = realloc(r->nodes, (r->nnodes + 1) * sizeof *n);
        if (n == NULL)
            return TT_ENOMEM;
        r->nodes = n;
        uint32_t at = r->nnodes;
        while (at > 0 && n[at - 1] > node_id) {
            n[at] = n[at - 1];
            at--;
        }
        n[at] = node_id;
        r->nnodes++;
        s->set = 1;
    }
    return 0;
}

int memcut_set(struct memcut *mc, const char *node, const char *log, const char *var,
               const struct rql_value *v, uint32_t *key, uint32_t *node_id)
{
    if (node[0] == 0 || log[0] == 0 || var[0] == 0)
        return TT_EINVAL;
    uint32_t ni = 0, ki = 0;
    while (ni < mc->nnodes && strcmp(mc->node_names[ni], node) != 0)
        ni++;
    if (ni == mc->nnodes) {
        char **nn = realloc(mc->node_names, (mc->nnodes + 1) * sizeof *nn);
        if (nn == NULL)
            return TT_ENOMEM;
        mc->node_names = nn;
        if ((nn[mc->nnodes] = dup_s(node)) == NULL)
            return TT_ENOMEM;
        mc->nnodes++;
    }
    while (ki < mc->nkeys &&
           (strcmp(mc->keys[ki].log, log) != 0 || strcmp(mc->keys[ki].var, var) != 0))
        ki++;
    if (ki == mc->nkeys) {
        struct keyrow *nk = realloc(mc->keys, (mc->nkeys + 1) * sizeof *nk);
        if (nk == NULL)
            return TT_ENOMEM;
        mc->keys = nk;
        memset(&nk[mc->nkeys], 0, sizeof nk[0]);
        nk[mc->nkeys].log = dup_s(log);
        nk[mc->nkeys].var = dup_s(var);
        if (nk[mc->nkeys].log == NULL || nk[mc->nkeys].var == NULL) {
            free(nk[mc->nkeys].log);
            free(nk[mc->nkeys].var);
            return TT_ENOMEM;
        }
        mc->nkeys++;
    }
    if (key)
        *key = ki;
    if (node_id)
        *node_id = ni;
    return memcut_set_id(mc, ni, ki, v);
}

static int mc_resolve(void *cut, const char *log, const char *var, uint32_t *key)
{
    struct memcut *mc = cut;
    for (uint32_t k = 0; k < mc->nkeys; k++) {
        if (strcmp(mc->keys[k].log, log) == 0 && strcmp(mc->keys[k].var, var) == 0) {
            *key = k;
            return 0;
        }
    }
    return TT_ENOTFOUND;
}

static uint32_t mc_node_count(void *cut)
{
    return ((struct memcut *)cut)->nnodes;
}

static uint32_t mc_nodes(void *cut, uint32_t key, const uint32_t **nodes)
{
    struct memcut *mc = cut;
    if (key >= mc->nkeys) {
        *nodes = NULL;
        return 0;
    }
    *nodes = mc->keys[key].nodes;
    return mc->keys[key].nnodes;
}

static int mc_value(void *cut, uint32_t node, uint32_t key, struct rql_value *out)
{
    struct memcut *mc = cut;
    if (key >= mc->nkeys || node >= mc->keys[key].nslots || !mc->keys[key].slots[node].set)
        return 0;
    *out = mc->keys[key].slots[node].v;
    return 1;
}

static const char *mc_node_name(void *cut, uint32_t node)
{
    struct memcut *mc = cut;
    return node < mc->nnodes ? mc->node_names[node] : "?";
}

const struct rql_cut_ops memcut_ops = { mc_resolve, mc_node_count, mc_nodes, mc_value,
                                        mc_node_name };
