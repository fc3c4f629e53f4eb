/*
 * cutbench.c - cuts walked per second by the cut engine
 * (src/query/causal/cuts.c), in memory, no store:
 *
 *   cutbench [CHANGES [NODES [DIR]]]   (default 1000000 changes, 5 nodes)
 *
 * CHANGES state changes of 3 int variables (app/a, app/b, app/c) spread
 * over NODES nodes, HLCs increasing with about 1 in 8 shared by two nodes,
 * sorted into walking order, then walked: after each change a consumer
 * evaluates a 3-variable predicate over the nodes that have the changed
 * variable (max - min of the variable across nodes > 2, plus a + b > c on
 * the changed node), as an RQL evaluator re-evaluating what a change
 * touched would. Prints the walk rate and the sort time apart.
 *
 * With DIR (a fresh directory), the changes are also written into a state
 * log there (batches of 1000 per node) and cuts_snapshot at the middle and
 * the end of the range, and cuts_walk over the last tenth, are timed: the
 * cost of reading the store, which a snapshot pays in full.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/batch.h"
#include "core/buf.h"
#include "query/causal/cuts.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct eval {
    uint64_t matches, evaluated;
};

static int64_t ival(const struct cut_entry *e)
{
    return e && e->value.type == TT_VAL_INT ? e->value.u.i : 0;
}

static int on_step(void *arg, const struct cut_step *s)
{
    struct eval *ev = arg;
    size_t n = 0;
    const struct cut_entry *const *g = cut_var_nodes(s->cut, s->entry->log, s->entry->var, &n);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t v = ival(g[i]);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    const char *node = s->entry->node;
    int64_t a = ival(cut_lookup(s->cut, node, "app", "a")),
            b = ival(cut_lookup(s->cut, node, "app", "b")),
            c = ival(cut_lookup(s->cut, node, "app", "c"));
    ev->evaluated++;
    if (n > 0 && hi - lo > 2 && a + b > c)
        ev->matches++;
    return 0;
}

static int count_step(void *arg, const struct cut_step *s)
{
    (void)s;
    (*(uint64_t *)arg)++;
    return 0;
}

static int flush_node(struct evstore *st, struct wbuf *raw, uint32_t n, const char *node,
                      uint64_t oid, uint64_t *seq)
{
    char origin[64], err[256];
    int ol = snprintf(origin, sizeof origin, "%s%cp", node, 0);
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = n;
    h.origin_id = oid;
    h.first_seq = *seq;
    *seq += n;
    h.origin = origin;
    h.origin_len = (uint16_t)ol;
    if (evstore_add_batch(st, &h, raw->data, raw->len, err, sizeof err) < 0) {
        fprintf(stderr, "cutbench: add: %s\n", err);
        return -1;
    }
    wbuf_reset(raw);
    return 0;
}

/* store_bench writes ch[0..n) into a state log in dir and times reading it. */
static int store_bench(const char *dir, const struct statelog_change *ch, size_t n, int nodes,
                       char (*names)[16])
{
    char err[512];
    struct evstore_config cfg = { .dir = dir };
    struct evstore *st = NULL;
    struct wbuf *raw = calloc((size_t)nodes, sizeof *raw);
    uint32_t *cnt = calloc((size_t)nodes, sizeof *cnt);
    uint64_t *seq = calloc((size_t)nodes, sizeof *seq);
    if (raw == NULL || cnt == NULL || seq == NULL || statelog_open(&st, &cfg, err, sizeof err)) {
        fprintf(stderr, "cutbench: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    for (int i = 0; i < nodes; i++)
        wbuf_init(&raw[i], 0);
    for (size_t i = 0; i < n; i++) {
        int node = (int)strtol(ch[i].node.p + 5, NULL, 10);
        struct rec_state rs = {
            .log = ch[i].log, .var = ch[i].var, .value = ch[i].value, .prev = ch[i].prev
        };
        rec_put_state(&raw[node], ch[i].hlc, ch[i].time_ns, &rs);
        if (++cnt[node] == 1000) {
            if (flush_node(st, &raw[node], cnt[node], names[node], 100 + (uint64_t)node,
                           &seq[node]))
                return 1;
            cnt[node] = 0;
        }
    }
    for (int i = 0; i < nodes; i++)
        if (cnt[i] && flush_node(st, &raw[i], cnt[i], names[i], 100 + (uint64_t)i, &seq[i]))
            return 1;
    if (evstore_commit(st, 1, 1, err, sizeof err)) {
        fprintf(stderr, "cutbench: commit: %s\n", err);
        return 1;
    }
    double t1 = now_s();
    printf("cutbench: state log of %zu changes written in %.2f s\n", n, t1 - t0);
    uint64_t at[2] = { ch[n / 2].hlc, ch[n - 1].hlc };
    for (int k = 0; k < 2; k++) {
        struct cut *c = NULL;
        double a = now_s();
        if (cut_new(&c) || cuts_snapshot(st, at[k], NULL, c, err, sizeof err)) {
            fprintf(stderr, "cutbench: snapshot: %s\n", err);
            return 1;
        }
        printf("cutbench: snapshot at the %s of the range: %.3f s (%zu variables)\n",
               k ? "end" : "middle", now_s() - a, cut_count(c));
        cut_free(c);
    }
    struct cut *c = NULL;
    uint64_t walked = 0;
    double a = now_s();
    if (cut_new(&c) || cuts_walk(st, ch[n - n / 10].hlc, ch[n - 1].hlc, NULL, 0, c, count_step,
                                 &walked, NULL, err, sizeof err)) {
        fprintf(stderr, "cutbench: walk: %s\n", err);
        return 1;
    }
    double b = now_s() - a;
    printf("cutbench: walk of the last tenth from the store: %llu cuts in %.3f s (%.0f/s, "
           "reading the store included)\n",
           (unsigned long long)walked, b, (double)walked / b);
    cut_free(c);
    evstore_close(st);
    for (int i = 0; i < nodes; i++)
        wbuf_release(&raw[i]);
    free(raw);
    free(cnt);
    free(seq);
    return 0;
}

int main(int argc, char **argv)
{
    size_t nch = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    int nodes = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
    if (nch < 1 || nodes < 1 || nodes > 1000) {
        fprintf(stderr, "usage: cutbench [CHANGES [NODES [DIR]]]\n");
        return 2;
    }
    static const char *vars[] = { "a", "b", "c" };
    char(*names)[16] = calloc((size_t)nodes, sizeof *names);
    struct statelog_change *ch = calloc(nch, sizeof *ch);
    int64_t *last = calloc((size_t)nodes * 3, sizeof *last);
    if (names == NULL || ch == NULL || last == NULL)
        return 1;
    for (int i = 0; i < nodes; i++)
        snprintf(names[i], sizeof names[i], "node-%d", i);
    uint64_t seed = 42, hlc = (uint64_t)1700000000000 << 16;
    for (size_t i = 0; i < nch; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(seed >> 33);
        int node = (int)(r % (uint32_t)nodes), var = (int)((r >> 8) % 3);
        if ((r >> 12) % 8 != 0)
            hlc++; /* otherwise the same HLC as the previous change */
        struct statelog_change *c = &ch[i];
        c->id = i + 1;
        c->hlc = hlc;
        c->time_ns = (int64_t)(hlc >> 16) * 1000000;
        c->node.p = names[node];
        c->node.len = (uint32_t)strlen(names[node]);
        c->process.p = "p";
        c->process.len = 1;
        c->log.p = "app";
        c->log.len = 3;
        c->var.p = vars[var];
        c->var.len = 1;
        int64_t *lv = &last[node * 3 + var];
        c->prev.type = TT_VAL_INT;
        c->prev.u.i = *lv;
        *lv += (int64_t)((r >> 16) % 5) - 2;
        c->value.type = TT_VAL_INT;
        c->value.u.i = *lv;
    }
    double t0 = now_s();
    cut_changes_sort(ch, nch);
    double t1 = now_s();
    struct cut *cut = NULL;
    struct eval ev = { 0 };
    if (cut_new(&cut) != 0)
        return 1;
    int rc = cut_walk_changes(cut, ch, nch, on_step, &ev);
    double t2 = now_s();
    if (rc != 0) {
        fprintf(stderr, "cutbench: walk: %s\n", tt_strerror(rc));
        return 1;
    }
    printf("cutbench: %zu changes, %d nodes, 3 variables: sort %.3f s; walk %.3f s = %.0f "
           "cuts/s (1 core), predicate evaluated %llu times, true %llu times\n",
           nch, nodes, t1 - t0, t2 - t1, (double)nch / (t2 - t1), (unsigned long long)ev.evaluated,
           (unsigned long long)ev.matches);
    cut_free(cut);
    if (argc > 3 && store_bench(argv[3], ch, nch, nodes, names) != 0)
        return 1;
    free(ch);
    free(last);
    free(names);
    return 0;
}
