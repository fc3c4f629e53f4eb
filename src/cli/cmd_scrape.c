/*
 * cmd_scrape.c - `telltale scrape URL [--job J] [--instance I] [--label K=V]...
 * [--timeout D]`: scrapes one Prometheus target once through the agent's
 * scraper (agent/scrape.c) and prints what it emitted in the text
 * exposition format, target labels and the synthetic series (up,
 * scrape_duration_seconds, ...) included, every sample with its timestamp.
 * Problems the scraper reports go to stderr.
 *
 * Exit status: 0 when the target was up, 1 when the scrape failed (up 0),
 * 2 for a bad command line.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "agent/scrape.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "query/promql/lexer.h"

#define MAX_LABELS 32

void cmd_scrape_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale scrape URL [--job J] [--instance I] [--label K=V]... [--timeout D]\n"
            "                           [--body-limit BYTES] [--ignore-timestamps]\n\n"
            "Scrapes one Prometheus target (text exposition format) once, as the agent does,\n"
            "and prints the samples it would ship, in the text format: every sample with\n"
            "the target labels job and instance (and --label ones) added, exported labels\n"
            "that clash renamed exported_<name>, then up, scrape_duration_seconds,\n"
            "scrape_samples_scraped, scrape_samples_post_metric_relabeling and\n"
            "scrape_series_added. Problems go to stderr.\n\n"
            "  --job J             the job label (default \"scrape\")\n"
            "  --instance I        the instance label (default: host:port of URL)\n"
            "  --label K=V         an extra target label (repeatable, up to %d)\n"
            "  --timeout D         scrape timeout, a Prometheus duration (default 10s)\n"
            "  --body-limit BYTES  largest decoded body (default 64 MiB)\n"
            "  --ignore-timestamps use the scrape time even for samples that carry one\n\n"
            "Exit status: 0 target up, 1 scrape failed (up 0), 2 usage error.\n",
            MAX_LABELS);
}

struct printer {
    int meta_pending;
    int up;
    uint64_t samples;
};

/* print_value prints v the shortest way that reads back the same. */
static void print_value(double v)
{
    if (isnan(v)) {
        fputs("NaN", stdout);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", stdout);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, stdout);
}

static void print_escaped(const char *s, int help)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", stdout);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else if (*s == '"' && !help)
            fputs("\\\"", stdout);
        else
            putchar(*s);
    }
}

static int on_sample(void *ctx, const char *name, const struct agent_label *labels, size_t n,
                     int64_t t_ms, double v)
{
    struct printer *pr = ctx;
    fputs(name, stdout);
    if (n) {
        putchar('{');
        for (size_t i = 0; i < n; i++) {
            printf("%s%s=\"", i ? "," : "", labels[i].name);
            print_escaped(labels[i].value, 0);
            putchar('"');
        }
        putchar('}');
    }
    putchar(' ');
    print_value(v);
    printf(" %" PRId64 "\n", t_ms);
    if (strcmp(name, "up") == 0)
        pr->up = v == 1.0;
    pr->samples++;
    return 0;
}

static int on_meta(void *ctx, const char *family, enum agent_metric_type type, const char *help)
{
    static const char *const names[] = { "untyped", "counter", "gauge", "histogram", "summary" };
    (void)ctx;
    if (help) {
        printf("# HELP %s ", family);
        print_escaped(help, 1);
        putchar('\n');
    }
    printf("# TYPE %s %s\n", family, names[type]);
    return 0;
}

static void on_warn(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "telltale scrape: %s\n", msg);
}

int cmd_scrape(int argc, char **argv)
{
    struct scrape_config cfg;
    struct agent_label labels[MAX_LABELS];
    char *label_copies[MAX_LABELS];
    size_t nlabels = 0;
    int rc = CLI_USAGE;
    struct scrape_target *t = NULL;

    memset(&cfg, 0, sizeof cfg);
    cfg.job = "scrape";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--job") == 0 && has_val) {
            cfg.job = argv[++i];
        } else if (strcmp(a, "--instance") == 0 && has_val) {
            cfg.instance = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && has_val) {
            const char *d = argv[++i];
            char e[128];
            int64_t ms = 0;
            if (promql_parse_duration(d, strlen(d), &ms, e, sizeof e) != 0 || ms <= 0) {
                fprintf(stderr, "telltale scrape: --timeout: bad duration '%s'\n", d);
                goto out;
            }
            cfg.timeout_ms = ms;
        } else if (strcmp(a, "--body-limit") == 0 && has_val) {
            char *end = NULL;
            unsigned long long n = strtoull(argv[++i], &end, 10);
            if (end == argv[i] || *end || n == 0) {
                fprintf(stderr, "telltale scrape: --body-limit: bad size '%s'\n", argv[i]);
                goto out;
            }
            cfg.body_limit_bytes = (size_t)n;
        } else if (strcmp(a, "--label") == 0 && has_val) {
            const char *kv = argv[++i];
            const char *eq = strchr(kv, '=');
            if (!eq || eq == kv || nlabels == MAX_LABELS) {
                fprintf(stderr, "telltale scrape: --label: expected K=V (at most %d), got '%s'\n",
                        MAX_LABELS, kv);
                goto out;
            }
            size_t kn = (size_t)(eq - kv);
            char *k = malloc(kn + 1);
            if (!k) {
                fprintf(stderr, "telltale scrape: out of memory\n");
                rc = CLI_PROBLEMS;
                goto out;
            }
            memcpy(k, kv, kn);
            k[kn] = 0;
            label_copies[nlabels] = k;
            labels[nlabels].name = k;
            labels[nlabels].value = eq + 1;
            nlabels++;
        } else if (strcmp(a, "--ignore-timestamps") == 0) {
            cfg.ignore_timestamps = 1;
        } else if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "telltale scrape: unknown option or missing value '%s'\n", a);
            goto out;
        } else if (cfg.url == NULL) {
            cfg.url = a;
        } else {
            fprintf(stderr, "telltale scrape: one URL only ('%s')\n", a);
            goto out;
        }
    }
    if (cfg.url == NULL) {
        cmd_scrape_usage(stderr);
        goto out;
    }
    cfg.labels = labels;
    cfg.nlabels = nlabels;
    char err[512];
    int trc = scrape_target_new(&t, &cfg, err, sizeof err);
    if (trc != 0) {
        fprintf(stderr, "telltale %s\n", trc == TT_EINVAL ? err : tt_strerror(trc));
        rc = trc == TT_EINVAL ? CLI_USAGE : CLI_PROBLEMS;
        goto out;
    }
    struct printer pr = { 0 };
    struct agent_emit emit = { &pr, on_sample, on_meta, on_warn };
    trc = scrape_target_run(t, &emit, clock_realtime_ns() / TT_NS_PER_MS);
    if (trc != 0) {
        fprintf(stderr, "telltale scrape: %s\n", tt_strerror(trc));
        rc = CLI_PROBLEMS;
        goto out;
    }
    rc = pr.up ? CLI_OK : CLI_PROBLEMS;
out:
    scrape_target_free(t);
    for (size_t i = 0; i < nlabels; i++)
        free(label_copies[i]);
    return rc;
}
