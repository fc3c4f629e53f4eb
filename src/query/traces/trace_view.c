/*
 * trace_view.c - trace assembly, clock-skew placement, self times, the
 * critical path and trace diffs (trace_view.h; docs/design/spans.md).
 */
#include "query/traces/trace_view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/hlc.h"
#include "telltale.h"

void trace_view_init(struct trace_view *tv)
{
    memset(tv, 0, sizeof *tv);
}

void trace_view_release(struct trace_view *tv)
{
    for (size_t i = 0; i < tv->n; i++) {
        free(tv->spans[i].service);
        free(tv->spans[i].node);
        free(tv->spans[i].name);
    }
    for (size_t i = 0; i < tv->nnodes; i++)
        free(tv->nodes[i].name);
    free(tv->spans);
    free(tv->nodes);
    free(tv->roots);
    free(tv->order);
    free(tv->byid);
    memset(tv, 0, sizeof *tv);
}

static char *dupn(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int trace_view_add(struct trace_view *tv, const struct span_row *s)
{
    if (tv->built)
        return TT_ESTATE;
    if (tv->n == tv->cap) {
        size_t nc = tv->cap ? tv->cap * 2 : 64;
        struct tv_span *a = realloc(tv->spans, nc * sizeof *a);
        if (a == NULL)
            return TT_ENOMEM;
        tv->spans = a;
        tv->cap = nc;
    }
    struct tv_span *v = &tv->spans[tv->n];
    memset(v, 0, sizeof *v);
    v->span_id = s->span_id;
    v->parent_id = s->parent_id;
    v->start_ns = s->start_ns;
    v->duration_ns = s->duration_ns;
    v->hlc = s->hlc;
    v->kind = s->kind;
    v->status = s->status;
    v->service = dupn(s->service.p, s->service.len);
    v->node = dupn(s->node.p, s->node.len);
    v->name = dupn(s->name.p, s->name.len);
    if (v->service == NULL || v->node == NULL || v->name == NULL) {
        free(v->service);
        free(v->node);
        free(v->name);
        return TT_ENOMEM;
    }
    if (tv->n == 0)
        memcpy(tv->trace_id, s->trace_id, 16);
    tv->n++;
    return 0;
}

int trace_view_add_fn(void *arg, const struct span_row *s)
{
    return trace_view_add(arg, s);
}

/* --- helpers ---------------------------------------------------------------- */

static int64_t end_of(const struct tv_span *s, int placed)
{
    int64_t st = placed ? s->placed_ns : s->start_ns;
    return st + (int64_t)s->duration_ns;
}

static int64_t floor_ms(int64_t ns)
{
    int64_t q = ns / 1000000;
    return ns % 1000000 < 0 ? q - 1 : q;
}

/* ids sorted by (span_id, index) for lookups */
struct idix {
    uint64_t id;
    uint32_t ix;
};

static int cmp_idix(const void *a, const void *b)
{
    const struct idix *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->ix < y->ix ? -1 : x->ix > y->ix;
}

static uint32_t find_in(const struct idix *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo].id == id ? ids[lo].ix : TV_NONE;
}

uint32_t trace_view_find(const struct trace_view *tv, uint64_t span_id)
{
    if (tv->byid == NULL)
        return TV_NONE;
    return find_in(tv->byid, tv->n, span_id);
}

/* link_children rebuilds first_child/next_sibling and the root list, both
 * in order of (placed or stored) start. tmp has room for n indexes. */
static int link_children(struct trace_view *tv, int placed, uint32_t *tmp)
{
    /* a stable bottom-up merge sort: qsort's comparator could not see
     * the view without a global */
    size_t n = tv->n;
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint32_t)i;
    uint32_t *buf = malloc(n * sizeof *buf);
    if (buf == NULL)
        return TT_ENOMEM;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                const struct tv_span *x = &tv->spans[tmp[i]], *y = &tv->spans[tmp[j]];
                int64_t sx = placed ? x->placed_ns : x->start_ns;
                int64_t sy = placed ? y->placed_ns : y->start_ns;
                if (sy < sx)
                    buf[k++] = tmp[j++];
                else
                    buf[k++] = tmp[i++];
            }
            while (i < mid)
                buf[k++] = tmp[i++];
            while (j < hi)
                buf[k++] = tmp[j++];
        }
        memcpy(tmp, buf, n * sizeof *buf);
    }
    free(buf);
    for (size_t i = 0; i < n; i++)
        tv->spans[i].first_child = tv->spans[i].next_sibling = TV_NONE;
    tv->nroots = 0;
    /* walk backwards so each list ends up in ascending order */
    for (size_t k = n; k-- > 0;) {
        uint32_t i = tmp[k];
        struct tv_span *s = &tv->spans[i];
        if (s->parent == TV_NONE)
            continue;
        s->next_sibling = tv->spans[s->parent].first_child;
        tv->spans[s->parent].first_child = i;
    }
    for (size_t k = 0; k < n; k++)
        if (tv->spans[tmp[k]].parent == TV_NONE)
            tv->roots[tv->nroots++] = tmp[k];
    return 0;
}

/* dfs_order writes the depth-first order into tv->order and sets depths;
 * returns how many spans it reached. visited marks them. */
static size_t dfs_from(struct trace_view *tv, uint32_t root, uint32_t *stack, size_t at,
                       uint8_t *visited)
{
    size_t sp = 0, n = at;
    stack[sp++] = root;
    tv->spans[root].depth = 0;
    while (sp > 0) {
        uint32_t i = stack[--sp];
        if (visited[i])
            continue;
        visited[i] = 1;
        tv->order[n++] = i;
        /* push children in reverse so the first child comes out first */
        size_t first = sp;
        for (uint32_t c = tv->spans[i].first_child; c != TV_NONE; c = tv->spans[c].next_sibling) {
            if (!visited[c]) {
                tv->spans[c].depth = tv->spans[i].depth + 1;
                stack[sp++] = c;
            }
        }
        for (size_t a = first, b = sp; b > a + 1; a++, b--) {
            uint32_t t = stack[a];
            stack[a] = stack[b - 1];
            stack[b - 1] = t;
        }
    }
    return n;
}

/* --- the tree ------------------------------------------------------------- */

static int build_tree(struct trace_view *tv, uint32_t *tmp)
{
    size_t n = tv->n;
    struct idix *ids = malloc(n * sizeof *ids);
    uint8_t *visited = calloc(n ? n : 1, 1);
    uint32_t *stack = malloc(n * sizeof *stack);
    int rc = TT_ENOMEM;
    if (ids == NULL || visited == NULL || stack == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ids[i].id = tv->spans[i].span_id;
        ids[i].ix = (uint32_t)i;
    }
    qsort(ids, n, sizeof *ids, cmp_idix);
    for (size_t i = 0; i < n; i++) {
        struct tv_span *s = &tv->spans[i];
        s->parent = TV_NONE;
        s->orphan = 0;
        if (s->parent_id == 0)
            continue;
        uint32_t p = find_in(ids, n, s->parent_id);
        if (p == TV_NONE || p == i)
            s->orphan = 1;
        else
            s->parent = p;
    }
    /* cycles: whatever the roots do not reach hangs on a parent cycle; cut
     * it at its earliest span and walk again */
    for (;;) {
        if ((rc = link_children(tv, 0, tmp)) != 0)
            goto out;
        memset(visited, 0, n);
        size_t reached = 0;
        for (size_t r = 0; r < tv->nroots; r++)
            reached = dfs_from(tv, tv->roots[r], stack, reached, visited);
        if (reached == n)
            break;
        uint32_t cut = TV_NONE;
        for (size_t i = 0; i < n; i++)
            if (!visited[i] && (cut == TV_NONE || tv->spans[i].start_ns < tv->spans[cut].start_ns))
                cut = (uint32_t)i;
        tv->spans[cut].parent = TV_NONE;
        tv->spans[cut].orphan = 1;
    }
    rc = 0;
    tv->byid = ids; /* kept for trace_view_find */
    ids = NULL;
out:
    free(ids);
    free(visited);
    free(stack);
    return rc;
}

/* --- placement -------------------------------------------------------------- */

static int intern_nodes(struct trace_view *tv)
{
    for (size_t i = 0; i < tv->n; i++) {
        struct tv_span *s = &tv->spans[i];
        size_t k;
        for (k = 0; k < tv->nnodes; k++)
            if (strcmp(tv->nodes[k].name, s->node) == 0)
                break;
        if (k == tv->nnodes) {
            struct tv_node *a = realloc(tv->nodes, (tv->nnodes + 1) * sizeof *a);
            if (a == NULL)
                return TT_ENOMEM;
            tv->nodes = a;
            memset(&a[k], 0, sizeof a[k]);
            a[k].name = dupn(s->node, strlen(s->node));
            if (a[k].name == NULL)
                return TT_ENOMEM;
            tv->nnodes++;
        }
        s->node_ix = (uint32_t)k;
        if (s->hlc != 0) {
            struct tv_node *nd = &tv->nodes[k];
            int64_t ahead = (int64_t)hlc_l(s->hlc) - floor_ms(s->start_ns);
            nd->has_hlc = 1;
            if (ahead > nd->hlc_ahead_ms)
                nd->hlc_ahead_ms = ahead;
        }
    }
    return 0;
}

static int is_rpc(const struct tv_span *c, const struct tv_span *p)
{
    return c->kind == TT_SPAN_SERVER && p->kind == TT_SPAN_CLIENT;
}

/* violation: how far child c (moved by shift) contradicts its placed parent
 * p: starts before it, or (a SERVER in its CLIENT) ends after it. 0: fine. */
static int64_t violation(const struct tv_span *c, int64_t shift, const struct tv_span *p)
{
    int64_t cs = c->start_ns + shift, ce = cs + (int64_t)c->duration_ns;
    if (cs < p->placed_ns)
        return p->placed_ns - cs;
    if (is_rpc(c, p) && ce > end_of(p, 1))
        return ce - end_of(p, 1);
    return 0;
}

/* jaeger_skew: Jaeger's clock-skew adjuster's delta for child c (already
 * moved by shift) under placed parent p: a SERVER child of a CLIENT that
 * does not fit in it is centred in it when shorter, else aligned at its
 * start; any other child that starts before its parent is aligned. */
static int64_t jaeger_skew(const struct tv_span *c, int64_t shift, const struct tv_span *p)
{
    int64_t cs = c->start_ns + shift;
    if (!is_rpc(c, p))
        return cs < p->placed_ns ? p->placed_ns - cs : 0;
    if (c->duration_ns > p->duration_ns)
        return cs < p->placed_ns ? p->placed_ns - cs : 0;
    if (cs >= p->placed_ns && cs + (int64_t)c->duration_ns <= end_of(p, 1))
        return 0;
    int64_t latency = (int64_t)(p->duration_ns - c->duration_ns) / 2;
    return p->placed_ns + latency - cs;
}

static void place(struct trace_view *tv)
{
    uint8_t *decided = calloc(tv->nnodes ? tv->nnodes : 1, 1);
    for (size_t i = 0; i < tv->n; i++)
        tv->spans[i].placed_ns = tv->spans[i].start_ns;
    if (decided == NULL)
        return; /* unplaced is still a correct (raw) view */
    /* nodes are decided in the order the depth-first walk meets them, so
     * a node's callers are placed before it */
    for (size_t k = 0; k < tv->n; k++) {
        struct tv_span *s = &tv->spans[tv->order[k]];
        uint32_t nix = s->node_ix;
        struct tv_node *nd = &tv->nodes[nix];
        if (decided[nix])
            continue;
        decided[nix] = 1;
        if (s->parent == TV_NONE)
            continue; /* the reference: a root's node stays put */
        /* the first edge into this node from a placed node that its raw
         * times violate, if any */
        const struct tv_span *vc = NULL, *vp = NULL;
        for (size_t m = k; m < tv->n && vc == NULL; m++) {
            const struct tv_span *c = &tv->spans[tv->order[m]];
            if (c->node_ix != nix || c->parent == TV_NONE)
                continue;
            const struct tv_span *p = &tv->spans[c->parent];
            if (p->node_ix == nix || !decided[p->node_ix])
                continue;
            if (violation(c, 0, p) > 0)
                vc = c, vp = p;
        }
        if (vc == NULL)
            continue;
        int64_t shift = 0;
        if (nd->has_hlc && nd->hlc_ahead_ms > 0) {
            shift = nd->hlc_ahead_ms * 1000000;
            nd->reason |= TV_ADJ_HLC;
        }
        if (violation(vc, shift, vp) > 0) {
            int64_t d = jaeger_skew(vc, shift, vp);
            if (d != 0) {
                shift += d;
                nd->reason |= TV_ADJ_SKEW;
            }
        }
        nd->offset_ns = shift;
        if (shift != 0)
            for (size_t i = 0; i < tv->n; i++)
                if (tv->spans[i].node_ix == nix)
                    tv->spans[i].placed_ns = tv->spans[i].start_ns + shift;
    }
    free(decided);
}

/* self_time: duration minus the union of the children's placed intervals
 * clipped to the span's. Children are in order of placed start. */
static uint64_t self_time(const struct trace_view *tv, const struct tv_span *s)
{
    int64_t lo = s->placed_ns, hi = end_of(s, 1), covered = 0, cur_s = 0, cur_e = 0;
    int open = 0;
    for (uint32_t c = s->first_child; c != TV_NONE; c = tv->spans[c].next_sibling) {
        int64_t cs = tv->spans[c].placed_ns, ce = end_of(&tv->spans[c], 1);
        if (cs < lo)
            cs = lo;
        if (ce > hi)
            ce = hi;
        if (ce <= cs)
            continue;
        if (open && cs <= cur_e) {
            if (ce > cur_e)
                cur_e = ce;
        } else {
            if (open)
                covered += cur_e - cur_s;
            cur_s = cs, cur_e = ce, open = 1;
        }
    }
    if (open)
        covered += cur_e - cur_s;
    return s->duration_ns > (uint64_t)covered ? s->duration_ns - (uint64_t)covered : 0;
}

int trace_view_build(struct trace_view *tv, int place_on)
{
    uint32_t *tmp = NULL, *stack = NULL;
    uint8_t *visited = NULL;
    int rc;
    if (tv->built)
        return TT_ESTATE;
    if (tv->n == 0)
        return TT_ENOTFOUND;
    tv->roots = malloc(tv->n * sizeof *tv->roots);
    tv->order = malloc(tv->n * sizeof *tv->order);
    tmp = malloc(tv->n * sizeof *tmp);
    stack = malloc(tv->n * sizeof *stack);
    visited = calloc(tv->n, 1);
    rc = TT_ENOMEM;
    if (tv->roots == NULL || tv->order == NULL || tmp == NULL || stack == NULL || visited == NULL)
        goto out;
    if ((rc = build_tree(tv, tmp)) != 0 || (rc = intern_nodes(tv)) != 0)
        goto out;
    /* measure disagreement on stored times, then place */
    for (size_t i = 0; i < tv->n; i++) {
        struct tv_span *s = &tv->spans[i];
        s->placed_ns = s->start_ns;
    }
    for (size_t i = 0; i < tv->n; i++) {
        struct tv_span *s = &tv->spans[i];
        if (s->parent != TV_NONE && tv->spans[s->parent].node_ix != s->node_ix)
            s->disagree_ns = violation(s, 0, &tv->spans[s->parent]);
    }
    if (place_on)
        place(tv);
    for (size_t i = 0; i < tv->n; i++) {
        struct tv_span *s = &tv->spans[i];
        s->adjust_ns = s->placed_ns - s->start_ns;
        s->reason = s->adjust_ns != 0 ? tv->nodes[s->node_ix].reason : 0;
    }
    /* children by placed start, then the final order and depths */
    if ((rc = link_children(tv, 1, tmp)) != 0)
        goto out;
    size_t reached = 0;
    for (size_t r = 0; r < tv->nroots; r++)
        reached = dfs_from(tv, tv->roots[r], stack, reached, visited);
    tv->start_ns = INT64_MAX;
    tv->end_ns = INT64_MIN;
    for (size_t i = 0; i < tv->n; i++) {
        struct tv_span *s = &tv->spans[i];
        s->self_ns = self_time(tv, s);
        if (s->placed_ns < tv->start_ns)
            tv->start_ns = s->placed_ns;
        if (end_of(s, 1) > tv->end_ns)
            tv->end_ns = end_of(s, 1);
    }
    tv->built = 1;
    rc = 0;
out:
    free(tmp);
    free(stack);
    free(visited);
    return rc;
}

uint32_t trace_view_main_root(const struct trace_view *tv)
{
    uint32_t best = TV_NONE;
    for (size_t r = 0; r < tv->nroots; r++) {
        uint32_t i = tv->roots[r];
        if (best == TV_NONE || (tv->spans[best].orphan && !tv->spans[i].orphan))
            best = i;
    }
    return best;
}

/* --- critical path --------------------------------------------------------- */

/* last_finishing: the child of s that ends last (its interval clipped to
 * its parent's, clo/chi), strictly before before; TV_NONE if none. */
static uint32_t last_finishing(const struct trace_view *tv, const struct tv_span *s,
                               const int64_t *clo, const int64_t *chi, int64_t before)
{
    uint32_t best = TV_NONE;
    for (uint32_t c = s->first_child; c != TV_NONE; c = tv->spans[c].next_sibling) {
        if (chi[c] < clo[c] || chi[c] >= before)
            continue; /* wholly outside its parent, or not before the point */
        if (best == TV_NONE || chi[c] > chi[best])
            best = c;
    }
    return best;
}

int trace_view_critical_path(struct trace_view *tv, struct tv_segment **out, size_t *n)
{
    struct tv_segment *seg = NULL;
    size_t ns = 0, cap = 0;
    int64_t *clo = NULL, *chi = NULL;
    *out = NULL;
    *n = 0;
    if (!tv->built)
        return TT_ESTATE;
    clo = malloc(tv->n * sizeof *clo);
    chi = malloc(tv->n * sizeof *chi);
    if (clo == NULL || chi == NULL)
        goto nomem;
    /* every span's interval clipped to its parent's clipped one (Jaeger
     * UI trims overflowing children the same way); parents come first in
     * the order */
    for (size_t k = 0; k < tv->n; k++) {
        uint32_t i = tv->order[k];
        const struct tv_span *s = &tv->spans[i];
        clo[i] = s->placed_ns;
        chi[i] = end_of(s, 1);
        if (s->parent != TV_NONE) {
            if (clo[i] < clo[s->parent])
                clo[i] = clo[s->parent];
            if (chi[i] > chi[s->parent])
                chi[i] = chi[s->parent];
        }
    }
    uint32_t root = trace_view_main_root(tv), cur = root;
    int64_t at = INT64_MAX; /* the point the walk has come back to */
    while (cur != TV_NONE) {
        struct tv_span *s = &tv->spans[cur];
        int64_t upto = at == INT64_MAX ? chi[cur] : at;
        uint32_t lfc = last_finishing(tv, s, clo, chi, at);
        int64_t from = lfc != TV_NONE ? chi[lfc] : clo[cur];
        if (from < upto) {
            if (ns == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct tv_segment *a = realloc(seg, nc * sizeof *a);
                if (a == NULL)
                    goto nomem;
                seg = a;
                cap = nc;
            }
            seg[ns].span = cur;
            seg[ns].start_ns = from;
            seg[ns].end_ns = upto;
            ns++;
        }
        s->critical = 1;
        if (lfc != TV_NONE) {
            cur = lfc;
            at = INT64_MAX;
        } else if (cur != root && s->parent != TV_NONE) {
            at = clo[cur];
            cur = s->parent;
        } else {
            break;
        }
    }
    /* the walk went backwards in time */
    for (size_t i = 0; i < ns / 2; i++) {
        struct tv_segment t = seg[i];
        seg[i] = seg[ns - 1 - i];
        seg[ns - 1 - i] = t;
    }
    free(clo);
    free(chi);
    *out = seg;
    *n = ns;
    return 0;
nomem:
    free(clo);
    free(chi);
    free(seg);
    return TT_ENOMEM;
}

/* --- words ------------------------------------------------------------------ */

const char *trace_view_fmt_ns(int64_t ns, char *out, size_t outlen)
{
    const char *sign = ns < 0 ? "-" : "+";
    uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (a >= UINT64_C(1000000000))
        snprintf(out, outlen, "%s%" PRIu64 ".%03" PRIu64 "s", sign, a / UINT64_C(1000000000),
                 a / UINT64_C(1000000) % 1000);
    else if (a >= UINT64_C(1000000))
        snprintf(out, outlen, "%s%" PRIu64 ".%03" PRIu64 "ms", sign, a / UINT64_C(1000000),
                 a / UINT64_C(1000) % 1000);
    else if (a >= UINT64_C(1000))
        snprintf(out, outlen, "%s%" PRIu64 "us", sign, a / UINT64_C(1000));
    else
        snprintf(out, outlen, "%s%" PRIu64 "ns", sign, a);
    return out;
}

size_t trace_view_warning(const struct trace_view *tv, uint32_t i, char *out, size_t outlen)
{
    const struct tv_span *s = &tv->spans[i];
    const struct tv_node *nd = &tv->nodes[s->node_ix];
    char amt[32], dis[32], why[200];
    int n = 0;
    if (outlen == 0)
        return 0;
    out[0] = '\0';
    trace_view_fmt_ns(s->adjust_ns, amt, sizeof amt);
    trace_view_fmt_ns(s->disagree_ns, dis, sizeof dis);
    if (s->disagree_ns != 0) {
        const struct tv_span *p = &tv->spans[s->parent];
        int starts = s->start_ns < p->start_ns;
        snprintf(why, sizeof why, "its stored times %s its parent on node '%s' by %s",
                 starts ? "start before" : "end after", p->node, dis + 1);
    } else {
        snprintf(why, sizeof why, "another span of node '%s' disagreed with its parent", nd->name);
    }
    if (s->adjust_ns != 0) {
        if ((s->reason & TV_ADJ_HLC) != 0 && (s->reason & TV_ADJ_SKEW) == 0)
            n = snprintf(out, outlen,
                         "clock skew adjustment: start moved by %s: the HLC shows node '%s' "
                         "%" PRId64 "ms behind; %s",
                         amt, nd->name, nd->hlc_ahead_ms, why);
        else if ((s->reason & TV_ADJ_HLC) != 0)
            n = snprintf(out, outlen,
                         "clock skew adjustment: start moved by %s: the HLC shows node '%s' "
                         "%" PRId64 "ms behind, the rest centred in the calling span; %s",
                         amt, nd->name, nd->hlc_ahead_ms, why);
        else
            n = snprintf(out, outlen,
                         "clock skew adjustment: start moved by %s to fit it into its parent "
                         "(no HLC on node '%s'); %s",
                         amt, nd->name, why);
    } else if (s->disagree_ns != 0) {
        n = snprintf(out, outlen, "clock skew: not adjusted; %s", why);
    }
    if (n < 0)
        return 0;
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* --- diff ------------------------------------------------------------------- */

struct keyed {
    char *path;
    uint32_t ix;
};

/* paths computes each span's path in view order ("svc:op#k", k the
 * occurrence of (svc, op) among the siblings before it). */
static int paths(const struct trace_view *tv, struct keyed *out)
{
    char **p = calloc(tv->n, sizeof *p);
    if (p == NULL)
        return TT_ENOMEM;
    int rc = 0;
    for (size_t k = 0; k < tv->n && rc == 0; k++) {
        uint32_t i = tv->order[k];
        const struct tv_span *s = &tv->spans[i];
        /* occurrence among earlier siblings (or earlier roots) */
        unsigned occ = 0;
        uint32_t first = s->parent != TV_NONE ? tv->spans[s->parent].first_child : TV_NONE;
        if (s->parent != TV_NONE) {
            for (uint32_t c = first; c != i && c != TV_NONE; c = tv->spans[c].next_sibling)
                if (strcmp(tv->spans[c].service, s->service) == 0 &&
                    strcmp(tv->spans[c].name, s->name) == 0)
                    occ++;
        } else {
            for (size_t r = 0; r < tv->nroots && tv->roots[r] != i; r++) {
                const struct tv_span *c = &tv->spans[tv->roots[r]];
                if (strcmp(c->service, s->service) == 0 && strcmp(c->name, s->name) == 0)
                    occ++;
            }
        }
        const char *pre = s->parent != TV_NONE ? p[s->parent] : "";
        size_t len = strlen(pre) + strlen(s->service) + strlen(s->name) + 24;
        p[i] = malloc(len);
        if (p[i] == NULL) {
            rc = TT_ENOMEM;
            break;
        }
        snprintf(p[i], len, "%s%s%s:%s#%u", pre, pre[0] ? "/" : "", s->service, s->name, occ);
    }
    for (size_t i = 0; i < tv->n; i++) {
        out[i].path = p[i];
        out[i].ix = (uint32_t)i;
    }
    free(p);
    return rc;
}

static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = strcmp(x->path ? x->path : "", y->path ? y->path : "");
    if (c != 0)
        return c;
    return x->ix < y->ix ? -1 : x->ix > y->ix;
}

void trace_diff_release(struct tv_diff *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->nodes[i].path);
    free(d->nodes);
    free(d->top);
    memset(d, 0, sizeof *d);
}

static int64_t abs64(int64_t x)
{
    return x < 0 ? -x : x;
}

int trace_diff(const struct trace_view *a, const struct trace_view *b, struct tv_diff *d)
{
    struct keyed *ka = NULL, *kb = NULL;
    uint32_t *match_a = NULL, *match_b = NULL;
    int rc = TT_ENOMEM;
    memset(d, 0, sizeof *d);
    if (!a->built || !b->built)
        return TT_ESTATE;
    ka = calloc(a->n + 1, sizeof *ka);
    kb = calloc(b->n + 1, sizeof *kb);
    match_a = malloc((a->n + 1) * sizeof *match_a);
    match_b = malloc((b->n + 1) * sizeof *match_b);
    d->nodes = calloc(a->n + b->n + 1, sizeof *d->nodes);
    if (ka == NULL || kb == NULL || match_a == NULL || match_b == NULL || d->nodes == NULL)
        goto out;
    if ((rc = paths(a, ka)) != 0 || (rc = paths(b, kb)) != 0)
        goto out;
    for (size_t i = 0; i < a->n; i++)
        match_a[i] = TV_NONE;
    for (size_t i = 0; i < b->n; i++)
        match_b[i] = TV_NONE;
    qsort(ka, a->n, sizeof *ka, cmp_keyed);
    qsort(kb, b->n, sizeof *kb, cmp_keyed);
    for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
        int c = strcmp(ka[i].path, kb[j].path);
        if (c == 0) {
            match_a[ka[i].ix] = kb[j].ix;
            match_b[kb[j].ix] = ka[i].ix;
            i++, j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    /* the paths by span index again */
    char **pa = calloc(a->n + 1, sizeof *pa), **pb = calloc(b->n + 1, sizeof *pb);
    if (pa == NULL || pb == NULL) {
        free(pa);
        free(pb);
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < a->n; i++)
        pa[ka[i].ix] = ka[i].path;
    for (size_t i = 0; i < b->n; i++)
        pb[kb[i].ix] = kb[i].path;
    for (size_t k = 0; k < a->n; k++) {
        uint32_t i = a->order[k];
        struct tv_diff_node *nd = &d->nodes[d->n++];
        nd->a = i;
        nd->b = match_a[i];
        nd->path = pa[i];
        pa[i] = NULL;
        if (nd->b != TV_NONE) {
            const struct tv_span *x = &a->spans[i], *y = &b->spans[nd->b];
            nd->duration_delta_ns = (int64_t)(y->duration_ns - x->duration_ns);
            nd->self_delta_ns = (int64_t)(y->self_ns - x->self_ns);
            d->matched++;
        } else {
            d->only_a++;
        }
    }
    for (size_t k = 0; k < b->n; k++) {
        uint32_t i = b->order[k];
        if (match_b[i] != TV_NONE)
            continue;
        struct tv_diff_node *nd = &d->nodes[d->n++];
        nd->a = TV_NONE;
        nd->b = i;
        nd->path = pb[i];
        pb[i] = NULL;
        d->only_b++;
    }
    for (size_t i = 0; i < a->n; i++)
        free(pa[i]);
    for (size_t i = 0; i < b->n; i++)
        free(pb[i]);
    free(pa);
    free(pb);
    for (size_t i = 0; i < a->n; i++)
        ka[i].path = NULL;
    for (size_t i = 0; i < b->n; i++)
        kb[i].path = NULL;
    d->spans_a = a->n;
    d->spans_b = b->n;
    d->duration_a_ns = a->end_ns - a->start_ns;
    d->duration_b_ns = b->end_ns - b->start_ns;
    /* the largest |duration delta| among matched nodes (a selection: TOP is
     * small) */
    d->top = malloc(TV_DIFF_TOP * sizeof *d->top);
    if (d->top == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < d->n; i++) {
        const struct tv_diff_node *x = &d->nodes[i];
        if (x->a == TV_NONE || x->b == TV_NONE || x->duration_delta_ns == 0)
            continue;
        size_t pos = d->ntop;
        while (pos > 0 &&
               abs64(d->nodes[d->top[pos - 1]].duration_delta_ns) < abs64(x->duration_delta_ns))
            pos--;
        if (pos >= TV_DIFF_TOP)
            continue;
        size_t last = d->ntop < TV_DIFF_TOP ? d->ntop : TV_DIFF_TOP - 1;
        memmove(d->top + pos + 1, d->top + pos, (last - pos) * sizeof *d->top);
        d->top[pos] = (uint32_t)i;
        if (d->ntop < TV_DIFF_TOP)
            d->ntop++;
    }
    rc = 0;
out:
    if (ka != NULL)
        for (size_t i = 0; i < a->n; i++)
            free(ka[i].path);
    if (kb != NULL)
        for (size_t i = 0; i < b->n; i++)
            free(kb[i].path);
    free(ka);
    free(kb);
    free(match_a);
    free(match_b);
    if (rc != 0)
        trace_diff_release(d);
    return rc;
}
