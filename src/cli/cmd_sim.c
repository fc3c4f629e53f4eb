/*
 * cmd_sim.c - `telltale sim hlc-sync`: the HLC-sync experiment
 * (query/causal/hlcsim.h). With --ticks or --pm (each may be repeated: the
 * points are every ticks x pm pair) it prints those points; without either it
 * prints the two tables of docs/experiments/hlc-sync.md, and with
 * --write-doc PATH writes that document. Table runs use every online CPU
 * (--threads to change); the output does not depend on the thread count.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "query/causal/hlcsim.h"

#define MAX_LIST 64

/* The tables' sweeps. */
static const uint64_t len_ticks[] = { 10, 20, 50, 100, 200, 500, 1000 };
static const double len_pm[] = { 0.05, 0.1, 0.2, 0.4 };
#define NLEN   (sizeof(len_ticks) / sizeof(len_ticks[0]))
#define NLENPM (sizeof(len_pm) / sizeof(len_pm[0]))
#define DELAYS 60u
static const uint64_t delay_skew[] = { 10, 20, 50 };
#define NSKEW (sizeof(delay_skew) / sizeof(delay_skew[0]))

static void hlc_sync_usage(FILE *out)
{
    fprintf(out, "usage: telltale sim hlc-sync [--nodes N] [--skew S] [--dmin D] [--dmax D]\n"
                 "                             [--pe P] [--pm P]... [--ticks T]... [--runs R]\n"
                 "                             [--seed S] [--threads N] [--json]\n"
                 "                             [--write-doc PATH]\n\n"
                 "Simulates n nodes with skewed clocks that log events and exchange messages\n"
                 "stamped with Hybrid Logical Clocks, aligns each node's log by\n"
                 "a_i = max (l - pt) over its events, and reports the error\n"
                 "1 - a_i / (how far node i's clock is behind the fastest one), averaged over\n"
                 "the nodes (the fastest left out) and the runs. docs/experiments/hlc-sync.md\n"
                 "describes the model.\n\n"
                 "  --nodes N     nodes (default 5, at least 2)\n"
                 "  --skew S      clock offsets uniform in [0, S] ticks, one node at 0 and one\n"
                 "                at S (default 50)\n"
                 "  --dmin D      least message delay in ticks (default 3, at least 1)\n"
                 "  --dmax D      greatest message delay (default 10): uniform in [dmin, dmax]\n"
                 "  --pe P        probability of a logged local event per node and tick (0.4)\n"
                 "  --pm P        probability of sending a message per node and tick (0.1)\n"
                 "  --ticks T     length of a run in ticks (1000)\n"
                 "  --runs R      runs averaged per point (2000)\n"
                 "  --seed S      seed of the random streams (1): same seed, same output\n"
                 "  --threads N   threads (default: the online CPUs)\n"
                 "  --json        one JSON object per point: nodes, skew, dmin, dmax, pe, pm,\n"
                 "                ticks, runs, error\n"
                 "  --write-doc PATH   write the tables as docs/experiments/hlc-sync.md\n\n"
                 "With --ticks or --pm (either may be given several times) it prints those\n"
                 "points. Without them it prints two tables: error by log length (10..1000\n"
                 "ticks) for pm 0.05, 0.1, 0.2, 0.4 (the other flags as given), and error by\n"
                 "a constant delay 1..60 (--dmin = --dmax) for skew 10, 20, 50 (--pm and\n"
                 "--ticks at their defaults). The default table run (2000 runs per cell)\n"
                 "takes about 11 s on two cores.\n");
}

static void sim_usage(FILE *out)
{
    fprintf(out, "usage: telltale sim <experiment> [<args>]\n\n"
                 "Runs a simulation experiment. Experiments:\n"
                 "  hlc-sync   how well HLCs recover clock offsets\n");
}

void cmd_sim_usage(FILE *out)
{
    sim_usage(out);
    fprintf(out, "\n");
    hlc_sync_usage(out);
}

struct opts {
    struct hlcsim_params base;
    uint64_t ticks[MAX_LIST];
    double pm[MAX_LIST];
    size_t nticks, npm;
    unsigned threads;
    int json;
    const char *doc;
    char seen[16]; /* flags given once: index into once_flags */
};

static const char *const once_flags[] = {
    "--nodes", "--skew", "--dmin",    "--dmax", "--pe",
    "--runs",  "--seed", "--threads", "--json", "--write-doc"
};
#define NONCE (sizeof(once_flags) / sizeof(once_flags[0]))

static int parse_u64(const char *flag, const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    if (s == NULL) {
        fprintf(stderr, "telltale sim hlc-sync: %s needs a value\n", flag);
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != 0 || errno != 0 || v > max) {
        fprintf(stderr, "telltale sim hlc-sync: %s '%s': expected a whole number 0..%" PRIu64 "\n",
                flag, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_prob(const char *flag, const char *s, double *out)
{
    char *end = NULL;
    double v;
    if (s == NULL) {
        fprintf(stderr, "telltale sim hlc-sync: %s needs a value\n", flag);
        return -1;
    }
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != 0 || errno != 0 || !(v >= 0.0 && v <= 1.0)) {
        fprintf(stderr, "telltale sim hlc-sync: %s '%s': expected a probability 0..1\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    hlcsim_defaults(&o->base);
    o->threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u = 0;
        for (size_t k = 0; k < NONCE; k++)
            if (strcmp(a, once_flags[k]) == 0) {
                if (o->seen[k]) {
                    fprintf(stderr, "telltale sim hlc-sync: %s given twice\n", a);
                    return -1;
                }
                o->seen[k] = 1;
            }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--write-doc") == 0) {
            if (v == NULL || v[0] == 0) {
                fprintf(stderr, "telltale sim hlc-sync: --write-doc needs a path\n");
                return -1;
            }
            o->doc = v;
        } else if (strcmp(a, "--nodes") == 0) {
            if (parse_u64(a, v, HLCSIM_MAX_NODES, &u) != 0)
                return -1;
            o->base.nodes = (uint32_t)u;
        } else if (strcmp(a, "--skew") == 0) {
            if (parse_u64(a, v, HLCSIM_MAX_SKEW, &o->base.skew) != 0)
                return -1;
        } else if (strcmp(a, "--dmin") == 0) {
            if (parse_u64(a, v, HLCSIM_MAX_DELAY, &u) != 0)
                return -1;
            o->base.dmin = (uint32_t)u;
        } else if (strcmp(a, "--dmax") == 0) {
            if (parse_u64(a, v, HLCSIM_MAX_DELAY, &u) != 0)
                return -1;
            o->base.dmax = (uint32_t)u;
        } else if (strcmp(a, "--pe") == 0) {
            if (parse_prob(a, v, &o->base.pe) != 0)
                return -1;
        } else if (strcmp(a, "--pm") == 0) {
            if (o->npm == MAX_LIST) {
                fprintf(stderr, "telltale sim hlc-sync: at most %d --pm\n", MAX_LIST);
                return -1;
            }
            if (parse_prob(a, v, &o->pm[o->npm++]) != 0)
                return -1;
        } else if (strcmp(a, "--ticks") == 0) {
            if (o->nticks == MAX_LIST) {
                fprintf(stderr, "telltale sim hlc-sync: at most %d --ticks\n", MAX_LIST);
                return -1;
            }
            if (parse_u64(a, v, HLCSIM_MAX_TICKS, &o->ticks[o->nticks++]) != 0)
                return -1;
        } else if (strcmp(a, "--runs") == 0) {
            if (parse_u64(a, v, HLCSIM_MAX_RUNS, &u) != 0)
                return -1;
            o->base.runs = (uint32_t)u;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(a, v, UINT64_MAX, &o->base.seed) != 0)
                return -1;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_u64(a, v, 256, &u) != 0)
                return -1;
            if (u == 0) {
                fprintf(stderr, "telltale sim hlc-sync: --threads 0: must be 1..256\n");
                return -1;
            }
            o->threads = (unsigned)u;
        } else {
            fprintf(stderr, "telltale sim hlc-sync: unknown argument '%s' (see --help)\n", a);
            return -1;
        }
        i++; /* the value */
    }
    if (o->doc != NULL && (o->nticks > 0 || o->npm > 0)) {
        fprintf(stderr, "telltale sim hlc-sync: --write-doc writes the tables: leave out "
                        "--ticks and --pm\n");
        return -1;
    }
    return 0;
}

static int check(const struct hlcsim_params *p)
{
    char err[256];
    if (hlcsim_check(p, err, sizeof err) != 0) {
        fprintf(stderr, "telltale sim hlc-sync: %s\n", err);
        return -1;
    }
    return 0;
}

static int eval(const struct opts *o, const struct hlcsim_params *pts, size_t n,
                struct hlcsim_result *res)
{
    char err[256];
    if (hlcsim_eval(pts, n, o->threads, res, err, sizeof err) != 0) {
        fprintf(stderr, "telltale sim hlc-sync: %s\n", err);
        return -1;
    }
    return 0;
}

static void print_json(FILE *out, const struct hlcsim_params *pts, const struct hlcsim_result *res,
                       size_t n)
{
    char line[512];
    for (size_t k = 0; k < n; k++)
        if (hlcsim_json(&pts[k], &res[k], line, sizeof line) > 0)
            fprintf(out, "%s\n", line);
}

/* ---- points mode ----------------------------------------------------------- */

static int run_points(const struct opts *o)
{
    size_t nt = o->nticks ? o->nticks : 1, np = o->npm ? o->npm : 1;
    struct hlcsim_params *pts = calloc(nt * np, sizeof(*pts));
    struct hlcsim_result *res = calloc(nt * np, sizeof(*res));
    size_t n = 0;
    int rc = CLI_OK;
    if (pts == NULL || res == NULL) {
        fprintf(stderr, "telltale sim hlc-sync: out of memory\n");
        rc = CLI_PROBLEMS;
        goto out;
    }
    for (size_t a = 0; a < nt; a++)
        for (size_t b = 0; b < np; b++) {
            pts[n] = o->base;
            if (o->nticks)
                pts[n].ticks = o->ticks[a];
            if (o->npm)
                pts[n].pm = o->pm[b];
            if (check(&pts[n]) != 0) {
                rc = CLI_USAGE;
                goto out;
            }
            n++;
        }
    if (eval(o, pts, n, res) != 0) {
        rc = CLI_PROBLEMS;
        goto out;
    }
    if (o->json) {
        print_json(stdout, pts, res, n);
        goto out;
    }
    printf("nodes %" PRIu32 ", skew %" PRIu64 ", delay %" PRIu32 "..%" PRIu32
           ", pe %g, runs %" PRIu32 ", seed %" PRIu64 "\n",
           o->base.nodes, o->base.skew, o->base.dmin, o->base.dmax, o->base.pe, o->base.runs,
           o->base.seed);
    printf("%10s %8s %8s %8s\n", "ticks", "pm", "error", "floor");
    for (size_t k = 0; k < n; k++)
        printf("%10" PRIu64 " %8g %8.4f %8.4f\n", pts[k].ticks, pts[k].pm, res[k].error,
               res[k].floor);
out:
    free(pts);
    free(res);
    return rc;
}

/* ---- tables mode ----------------------------------------------------------- */

struct tables {
    struct hlcsim_params len[NLEN][NLENPM];
    struct hlcsim_result lenr[NLEN][NLENPM];
    struct hlcsim_params del[DELAYS][NSKEW];
    struct hlcsim_result delr[DELAYS][NSKEW];
};

static void print_len_table(FILE *f, const struct tables *t)
{
    fprintf(f, "| ticks |");
    for (size_t j = 0; j < NLENPM; j++)
        fprintf(f, " pm %g |", len_pm[j]);
    fprintf(f, "\n|------:|");
    for (size_t j = 0; j < NLENPM; j++)
        fprintf(f, "-------:|");
    fprintf(f, "\n");
    for (size_t i = 0; i < NLEN; i++) {
        fprintf(f, "| %" PRIu64 " |", len_ticks[i]);
        for (size_t j = 0; j < NLENPM; j++)
            fprintf(f, " %.4f |", t->lenr[i][j].error);
        fprintf(f, "\n");
    }
    fprintf(f, "| floor |");
    for (size_t j = 0; j < NLENPM; j++)
        fprintf(f, " %.4f |", t->lenr[0][j].floor);
    fprintf(f, "\n");
}

static void print_delay_table(FILE *f, const struct tables *t)
{
    fprintf(f, "| delay |");
    for (size_t j = 0; j < NSKEW; j++)
        fprintf(f, " skew %" PRIu64 " | floor |", delay_skew[j]);
    fprintf(f, "\n|------:|");
    for (size_t j = 0; j < NSKEW; j++)
        fprintf(f, "-------:|------:|");
    fprintf(f, "\n");
    for (size_t i = 0; i < DELAYS; i++) {
        fprintf(f, "| %zu |", i + 1);
        for (size_t j = 0; j < NSKEW; j++)
            fprintf(f, " %.4f | %.4f |", t->delr[i][j].error, t->delr[i][j].floor);
        fprintf(f, "\n");
    }
}

/* write_findings: what the measured tables show, derived from the numbers
 * (so the text stays true for whatever flags produced them). */
static void write_findings(FILE *f, const struct tables *t)
{
    fprintf(f, "Error by log length:\n\n");
    for (size_t j = 0; j < NLENPM; j++) {
        size_t rises = 0;
        for (size_t i = 1; i < NLEN; i++)
            if (t->lenr[i][j].error > t->lenr[i - 1][j].error)
                rises++;
        const struct hlcsim_result *first = &t->lenr[0][j], *last = &t->lenr[NLEN - 1][j];
        size_t near = NLEN;
        for (size_t i = 0; i < NLEN && near == NLEN; i++)
            if (t->lenr[i][j].error - t->lenr[i][j].floor < 0.05)
                near = i;
        fprintf(f,
                "- pm %g: from %.4f at %" PRIu64 " ticks to %.4f at %" PRIu64
                " ticks (%s); the floor is %.4f, %.4f above it at the end; ",
                len_pm[j], first->error, len_ticks[0], last->error, len_ticks[NLEN - 1],
                rises == 0 ? "never rising from one length to the next"
                           : "NOT monotone: it rises between some lengths",
                last->floor, last->error - last->floor);
        if (near < NLEN)
            fprintf(f, "within 0.05 of the floor from %" PRIu64 " ticks.\n", len_ticks[near]);
        else
            fprintf(f, "never within 0.05 of the floor.\n");
    }
    size_t inversions = 0;
    for (size_t i = 0; i < NLEN; i++)
        for (size_t j = 1; j < NLENPM; j++)
            if (t->lenr[i][j].error > t->lenr[i][j - 1].error)
                inversions++;
    fprintf(f,
            "- Across a row, more messages %s (%zu of %zu neighbouring pairs where a higher "
            "pm has the higher error).\n",
            inversions == 0 ? "always give the lower error" : "do NOT always give a lower error",
            inversions, NLEN * (NLENPM - 1));
    fprintf(f, "\nError by constant delay:\n\n");
    for (size_t j = 0; j < NSKEW; j++) {
        size_t falls = 0, first1 = 0;
        double worst = 0.0;
        size_t worst_at = 0;
        for (size_t i = 0; i < DELAYS; i++) {
            const struct hlcsim_result *r = &t->delr[i][j];
            if (i > 0 && r->error < t->delr[i - 1][j].error)
                falls++;
            if (first1 == 0 && r->error >= 1.0)
                first1 = i + 1;
            if (r->error - r->floor > worst) {
                worst = r->error - r->floor;
                worst_at = i + 1;
            }
        }
        fprintf(f, "- skew %" PRIu64 ": ", delay_skew[j]);
        if (first1 != 0)
            fprintf(f, "the error first reaches 1 at delay %zu", first1);
        else
            fprintf(f, "the error stays below 1 up to delay %u", DELAYS);
        fprintf(f, " (expected: at delay = skew = %" PRIu64 "); %s; ", delay_skew[j],
                falls == 0 ? "it never falls as the delay grows"
                           : "it is NOT monotone in the delay");
        if (worst >= 0.00005)
            fprintf(f, "largest excess over the floor %.4f, at delay %zu.\n", worst, worst_at);
        else
            fprintf(f, "within 0.0001 of the floor at every delay.\n");
    }
    double len_gap = t->lenr[NLEN - 1][1].error - t->lenr[NLEN - 1][1].floor;
    double del_gap = 0.0;
    for (size_t i = 0; i < DELAYS; i++)
        for (size_t j = 0; j < NSKEW; j++)
            if (t->delr[i][j].error - t->delr[i][j].floor > del_gap)
                del_gap = t->delr[i][j].error - t->delr[i][j].floor;
    fprintf(f,
            "\nThe two tables meet at %" PRIu64 " ticks and pm %g: there the length table is "
            "%.4f above its\nfloor, the delay table at most %.2g above its own. ",
            t->del[0][0].ticks, t->del[0][0].pm, len_gap, del_gap);
    if (del_gap < len_gap)
        fprintf(f, "The difference is the delay's spread, not the length:\n"
                   "with a constant delay every message from the fastest node arrives at\n"
                   "the least delay, so the first one followed by a local event reaches the\n"
                   "floor; with delays uniform in [dmin, dmax] only one message in\n"
                   "dmax - dmin + 1 does.");
    fprintf(f, " Below the skew the error is not a straight line in the delay: each\n"
               "node's share is min(1, delay / D_i), so nodes close to the fastest reach 1\n"
               "early and the mean bends towards 1 before the delay reaches the skew.\n");
}

static int write_doc(const char *path, const struct opts *o, const struct tables *t)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "telltale sim hlc-sync: --write-doc %s: %s\n", path, strerror(errno));
        return -1;
    }
    const struct hlcsim_params *b = &o->base;
    fprintf(f,
            "# The HLC-sync experiment\n\n"
            "How well do Hybrid Logical Clocks recover the offsets between the nodes'\n"
            "physical clocks after the fact? This document is written by\n"
            "`telltale sim hlc-sync --write-doc docs/experiments/hlc-sync.md`; the\n"
            "numbers below come from that run (nodes %" PRIu32 ", pe %g, runs %" PRIu32
            ", seed %" PRIu64 ")\n"
            "and change only when the model or the flags do: the simulation is\n"
            "deterministic given `--seed`, whatever the number of threads. With the\n"
            "default 2000 runs per cell the whole table run takes about 11 s on two\n"
            "cores (Release build; `--runs` trades time for precision).\n\n",
            b->nodes, b->pe, b->runs, b->seed);
    fprintf(f, "## Setup\n\n"
               "- n nodes (`--nodes`, default 5). Node i's physical clock reads\n"
               "  pt = t + off_i at tick t. off of the first node is 0, of the last is the\n"
               "  skew (`--skew`, default 50 ticks), the others uniform integers in\n"
               "  [0, skew], drawn per run.\n"
               "- Each tick: first every message due at that tick is received; then each\n"
               "  node logs a local event with probability pe (`--pe`, 0.4) and sends a\n"
               "  message to a uniformly chosen other node with probability pm (`--pm`),\n"
               "  delivered after a delay uniform in [dmin, dmax] ticks (`--dmin`,\n"
               "  `--dmax`, 3..10). Messages that would arrive after the last tick are\n"
               "  dropped.\n"
               "- Every local, send and receive event ticks the node's HLC by the rules of\n"
               "  Kulkarni et al., \"Logical Physical Clocks\" (2014): on a local or send\n"
               "  event l' = max(l, pt), c' = c + 1 if l' = l else 0; on a receive\n"
               "  l' = max(l, l_m, pt), c' = max(c, c_m) + 1, c + 1, c_m + 1 or 0 as l'\n"
               "  equals both l and l_m, l only, l_m only, or neither. The log a node\n"
               "  leaves holds its local events (the messages only carry clocks).\n"
               "- Alignment, the method of `telltale align`: a_i = max over node i's logged\n"
               "  events of (l - pt), the amount by which its clock is provably behind the\n"
               "  clock that drives the HLC. The truth is D_i = skew - off_i, how far it is\n"
               "  behind the fastest node. The error of node i is 1 - a_i / D_i: 0 when the\n"
               "  whole offset was recovered, 1 when nothing was (a node that logged\n"
               "  nothing has a_i = 0).\n"
               "- The error of a point is the mean over every (run, node) pair. The fastest node\n"
               "  (D_i = 0, and any other node that drew the same offset) is left out: it\n"
               "  has nothing to recover. With `--skew 0` no node is left and the error is\n"
               "  0 by definition.\n"
               "- Run r of every point uses the random stream (seed, r) with the same\n"
               "  draws per node and tick whatever happens, so the points of a table are\n"
               "  coupled: within one run, a longer log or a higher pm can only raise a_i\n"
               "  (it only adds events and causal paths), and a longer constant delay can\n"
               "  only lower it. The tables are therefore smooth even at a modest number\n"
               "  of runs.\n\n");
    fprintf(f, "## What to expect\n\n"
               "An HLC's l is the largest physical time in the event's causal past. The\n"
               "fastest clock's reading reaches node i only through messages, each at\n"
               "least dmin ticks late, so a_i <= max(0, D_i - dmin): the error of a node\n"
               "is at least min(1, dmin / D_i). The tables print this floor, averaged like\n"
               "the error over the same nodes and runs. A message sent by the fastest\n"
               "node with the least delay and followed in the same tick by a local event\n"
               "reaches the floor; the longer the log and the more messages, the likelier\n"
               "that (or a relayed path nearly as good) has happened. So the error falls\n"
               "with the log length, faster with more messages, towards the floor; and\n"
               "once the delay reaches the skew, D_i <= skew <= dmin for every node and\n"
               "the error is exactly 1: the HLCs carry nothing about the offsets.\n\n");
    fprintf(f,
            "## Error by log length\n\n"
            "nodes %" PRIu32 ", skew %" PRIu64 ", delay %" PRIu32 "..%" PRIu32 ", pe %g, %" PRIu32
            " runs per cell; the\n"
            "last row is the floor min(1, dmin / D_i).\n\n",
            b->nodes, b->skew, b->dmin, b->dmax, b->pe, b->runs);
    print_len_table(f, t);
    fprintf(f,
            "\n## Error by constant delay\n\n"
            "nodes %" PRIu32 ", dmin = dmax = delay, pe %g, pm %g, %" PRIu64 " ticks, %" PRIu32
            " runs per\n"
            "cell; next to each column its floor.\n\n",
            b->nodes, b->pe, t->del[0][0].pm, t->del[0][0].ticks, b->runs);
    print_delay_table(f, t);
    fprintf(f, "\n## What the measured tables show\n\n"
               "(These sentences are derived from the numbers above when the document is "
               "written.)\n\n");
    write_findings(f, t);
    fprintf(f, "\n## Reproducing\n\n"
               "    telltale sim hlc-sync                       # both tables\n"
               "    telltale sim hlc-sync --ticks 200 --pm 0.1  # one point\n"
               "    telltale sim hlc-sync --json                # every point as JSON\n"
               "    telltale sim hlc-sync --write-doc docs/experiments/hlc-sync.md\n");
    if (ferror(f) != 0) {
        fclose(f);
        fprintf(stderr, "telltale sim hlc-sync: writing %s failed\n", path);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "telltale sim hlc-sync: writing %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int run_tables(const struct opts *o)
{
    struct hlcsim_params def;
    int rc = CLI_OK;
    struct tables *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        fprintf(stderr, "telltale sim hlc-sync: out of memory\n");
        return CLI_PROBLEMS;
    }
    hlcsim_defaults(&def);
    for (size_t i = 0; i < NLEN; i++)
        for (size_t j = 0; j < NLENPM; j++) {
            t->len[i][j] = o->base;
            t->len[i][j].ticks = len_ticks[i];
            t->len[i][j].pm = len_pm[j];
            if (check(&t->len[i][j]) != 0) {
                rc = CLI_USAGE;
                goto out;
            }
        }
    for (size_t i = 0; i < DELAYS; i++)
        for (size_t j = 0; j < NSKEW; j++) {
            t->del[i][j] = o->base;
            t->del[i][j].dmin = t->del[i][j].dmax = (uint32_t)(i + 1);
            t->del[i][j].skew = delay_skew[j];
            t->del[i][j].pm = def.pm;
            t->del[i][j].ticks = def.ticks;
            if (check(&t->del[i][j]) != 0) {
                rc = CLI_USAGE;
                goto out;
            }
        }
    /* One call for both tables: the threads share all the work. */
    struct hlcsim_params *all = malloc((NLEN * NLENPM + DELAYS * NSKEW) * sizeof(*all));
    struct hlcsim_result *res = malloc((NLEN * NLENPM + DELAYS * NSKEW) * sizeof(*res));
    if (all == NULL || res == NULL) {
        free(all);
        free(res);
        fprintf(stderr, "telltale sim hlc-sync: out of memory\n");
        rc = CLI_PROBLEMS;
        goto out;
    }
    memcpy(all, t->len, sizeof(t->len));
    memcpy(all + NLEN * NLENPM, t->del, sizeof(t->del));
    if (eval(o, all, NLEN * NLENPM + DELAYS * NSKEW, res) != 0) {
        free(all);
        free(res);
        rc = CLI_PROBLEMS;
        goto out;
    }
    memcpy(t->lenr, res, sizeof(t->lenr));
    memcpy(t->delr, res + NLEN * NLENPM, sizeof(t->delr));
    if (o->json) {
        print_json(stdout, all, res, NLEN * NLENPM + DELAYS * NSKEW);
    } else {
        printf("Error by log length (nodes %" PRIu32 ", skew %" PRIu64 ", delay %" PRIu32
               "..%" PRIu32 ", pe %g, runs %" PRIu32 ", seed %" PRIu64 ")\n\n",
               o->base.nodes, o->base.skew, o->base.dmin, o->base.dmax, o->base.pe, o->base.runs,
               o->base.seed);
        print_len_table(stdout, t);
        printf("\nError by constant delay (nodes %" PRIu32 ", pe %g, pm %g, ticks %" PRIu64
               ", runs %" PRIu32 ", seed %" PRIu64 ")\n\n",
               o->base.nodes, o->base.pe, def.pm, def.ticks, o->base.runs, o->base.seed);
        print_delay_table(stdout, t);
    }
    free(all);
    free(res);
    if (o->doc != NULL && write_doc(o->doc, o, t) != 0)
        rc = CLI_PROBLEMS;
out:
    free(t);
    return rc;
}

static int cmd_hlc_sync(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof(o));
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            hlc_sync_usage(stdout);
            return CLI_OK;
        }
    if (parse(argc, argv, &o) != 0)
        return CLI_USAGE;
    if (o.nticks > 0 || o.npm > 0)
        return run_points(&o);
    return run_tables(&o);
}

int cmd_sim(int argc, char **argv)
{
    if (argc < 2) {
        sim_usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "hlc-sync") == 0)
        return cmd_hlc_sync(argc - 1, argv + 1);
    fprintf(stderr, "telltale sim: unknown experiment '%s' (known: hlc-sync)\n", argv[1]);
    return CLI_USAGE;
}
