/*
 * cmd_collect.c - `telltale collect [--proc DIR] [--sys DIR]`: runs the
 * agent's host collectors once (src/agent/host.h) and prints what they
 * emitted in the Prometheus text exposition format 0.0.4, with HELP and
 * TYPE lines, so a user can see what the agent would ship and tests can
 * compare it with node_exporter's /metrics.
 *
 * Invariants: the exposition format wants every sample of a family
 * together, after its HELP and TYPE, and collectors may interleave
 * families (diskstats emits per device), so everything is kept in memory
 * and printed grouped by family, in the order the families were announced;
 * samples of a family never announced come last, untyped. Warnings go to
 * stderr; the exit status is 1 when there was any, 0 otherwise.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "cli/cli.h"
#include "agent/host.h"
#include "core/buf.h"
#include "core/clock.h"

struct fam {
    char *name;
    char *help; /* NULL: none */
    enum agent_metric_type type;
    struct wbuf lines; /* the family's sample lines */
};

struct collect {
    struct fam *fams;
    size_t nfams, cap;
    struct wbuf untyped; /* samples of no announced family */
    unsigned warnings;
};

static struct fam *find_fam(struct collect *c, const char *name)
{
    for (size_t i = c->nfams; i-- > 0;)
        if (strcmp(c->fams[i].name, name) == 0)
            return &c->fams[i];
    return NULL;
}

static int on_meta(void *ctx, const char *family, enum agent_metric_type type, const char *help)
{
    struct collect *c = ctx;
    struct fam *f = find_fam(c, family);

    if (f != NULL)
        return 0; /* announced once per collection; keep the first */
    if (c->nfams == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct fam *p = realloc(c->fams, nc * sizeof *p);
        if (p == NULL)
            return TT_ENOMEM;
        c->fams = p;
        c->cap = nc;
    }
    f = &c->fams[c->nfams];
    memset(f, 0, sizeof *f);
    f->name = strdup(family);
    f->help = help != NULL ? strdup(help) : NULL;
    if (f->name == NULL || (help != NULL && f->help == NULL)) {
        free(f->name);
        free(f->help);
        return TT_ENOMEM;
    }
    f->type = type;
    wbuf_init(&f->lines, 0);
    c->nfams++;
    return 0;
}

/* put_escaped appends s with the escapes of the exposition format: \\ and
 * \n always, \" too in label values. */
static void put_escaped(struct wbuf *b, const char *s, int quote)
{
    for (; *s != 0; s++) {
        if (*s == '\\')
            wbuf_put(b, "\\\\", 2);
        else if (*s == '\n')
            wbuf_put(b, "\\n", 2);
        else if (*s == '"' && quote)
            wbuf_put(b, "\\\"", 2);
        else
            wbuf_put(b, s, 1);
    }
}

/* put_value appends v as the shortest decimal that reads back as v. */
static void put_value(struct wbuf *b, double v)
{
    char s[40];

    if (isnan(v))
        snprintf(s, sizeof s, "NaN");
    else if (isinf(v))
        snprintf(s, sizeof s, v > 0 ? "+Inf" : "-Inf");
    else if (v == trunc(v) && fabs(v) < 9007199254740992.0)
        snprintf(s, sizeof s, "%.0f", v); /* integers as integers, not 1e+03 */
    else {
        for (int p = 1; p <= 17; p++) {
            snprintf(s, sizeof s, "%.*g", p, v);
            if (strtod(s, NULL) == v)
                break;
        }
    }
    wbuf_put(b, s, strlen(s));
}

static int on_sample(void *ctx, const char *name, const struct agent_label *labels, size_t n,
                     int64_t t_ms, double v)
{
    struct collect *c = ctx;
    struct fam *f = find_fam(c, name);
    struct wbuf *b = f != NULL ? &f->lines : &c->untyped;

    (void)t_ms; /* printed without timestamps, as exporters do */
    wbuf_put(b, name, strlen(name));
    if (n > 0) {
        wbuf_put(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                wbuf_put(b, ",", 1);
            wbuf_put(b, labels[i].name, strlen(labels[i].name));
            wbuf_put(b, "=\"", 2);
            put_escaped(b, labels[i].value, 1);
            wbuf_put(b, "\"", 1);
        }
        wbuf_put(b, "}", 1);
    }
    wbuf_put(b, " ", 1);
    put_value(b, v);
    wbuf_put(b, "\n", 1);
    return b->err;
}

static void on_warn(void *ctx, const char *msg)
{
    struct collect *c = ctx;
    c->warnings++;
    fprintf(stderr, "telltale collect: %s\n", msg);
}

static const char *type_name(enum agent_metric_type t)
{
    switch (t) {
    case AGENT_COUNTER:
        return "counter";
    case AGENT_GAUGE:
        return "gauge";
    case AGENT_HISTOGRAM:
        return "histogram";
    case AGENT_SUMMARY:
        return "summary";
    default:
        return "untyped";
    }
}

void cmd_collect_usage(FILE *out)
{
    fprintf(out, "usage: telltale collect [--proc DIR] [--sys DIR]\n\n"
                 "Runs the agent's host collectors once and prints the samples in the\n"
                 "Prometheus text exposition format (node_exporter's metric names).\n\n"
                 "  --proc DIR  procfs root to read (default /proc)\n"
                 "  --sys DIR   sysfs root to read (default /sys)\n\n"
                 "Problems with the files read are reported on stderr; the exit status\n"
                 "is then 1.\n");
}

int cmd_collect(int argc, char **argv)
{
    struct host_opts o = { "/proc", "/sys" };
    struct collect c;
    struct agent_emit e;
    int rc;

    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--proc") == 0 || strcmp(argv[i], "--sys") == 0) && i + 1 < argc) {
            if (argv[i][2] == 'p')
                o.proc = argv[++i];
            else
                o.sys = argv[++i];
        } else {
            fprintf(stderr, "telltale collect: unexpected argument '%s'\n", argv[i]);
            cmd_collect_usage(stderr);
            return CLI_USAGE;
        }
    }
    memset(&c, 0, sizeof c);
    wbuf_init(&c.untyped, 0);
    e = (struct agent_emit){ &c, on_sample, on_meta, on_warn };
    rc = host_collect_all(&o, &e, clock_realtime_ns() / 1000000);
    if (rc != 0)
        fprintf(stderr, "telltale collect: %s\n", tt_strerror(rc));
    for (size_t i = 0; i < c.nfams; i++) {
        struct fam *f = &c.fams[i];
        if (rc == 0 && f->lines.len > 0) {
            if (f->help != NULL) {
                struct wbuf h;
                wbuf_init(&h, 0);
                put_escaped(&h, f->help, 0);
                printf("# HELP %s %.*s\n", f->name, (int)h.len,
                       h.len > 0 ? (const char *)h.data : "");
                wbuf_release(&h);
            }
            printf("# TYPE %s %s\n", f->name, type_name(f->type));
            fwrite(f->lines.data, 1, f->lines.len, stdout);
        }
        free(f->name);
        free(f->help);
        wbuf_release(&f->lines);
    }
    if (rc == 0 && c.untyped.len > 0)
        fwrite(c.untyped.data, 1, c.untyped.len, stdout);
    wbuf_release(&c.untyped);
    free(c.fams);
    if (rc != 0)
        return CLI_PROBLEMS;
    return c.warnings > 0 ? CLI_PROBLEMS : CLI_OK;
}
