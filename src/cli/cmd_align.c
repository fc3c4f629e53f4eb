/*
 * cmd_align.c - `telltale align [--json] [--merged] [--max-offset MS] FILE...`:
 * reads per-node logs in the plain text format (query/causal/align_text.h),
 * aligns them by their HLC stamps (query/causal/align.h) and prints per node
 * the shift, its uncertainty and the events that constrained it; with
 * --merged the merged log in aligned time. "-" reads standard input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "query/causal/align.h"
#include "query/causal/align_text.h"
#include "telltale.h"

/* The HLC's default max offset (core/hlc.h: remote stamps further ahead are
 * rejected), the upper end of an unconstrained uncertainty interval. */
#define DEFAULT_MAX_OFFSET_MS 500

void cmd_align_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale align [--json] [--merged] [--max-offset MS] FILE...\n\n"
            "Aligns per-node logs after the fact by their HLC stamps. Each FILE (\"-\" for\n"
            "standard input) holds one event per line:\n"
            "  NODE PT_MS HLC_L_MS HLC_C [MESSAGE...]\n"
            "(decimal integers; blank lines and lines starting with '#' are skipped).\n"
            "The shift of a node is max(HLC_L_MS - PT_MS) over its events: how far its\n"
            "physical clock is provably behind the clock that drives the HLC.\n\n"
            "  --json            one JSON object per node: {\"node\":..., \"shift_ms\":...,\n"
            "                    \"uncertainty_ms\":[lo, hi], \"events\":...} (events: how many\n"
            "                    events constrained the shift)\n"
            "  --merged          also print the merged log in aligned time (HLC order;\n"
            "                    '*' marks a time raised to keep causal order)\n"
            "  --max-offset MS   the cluster's HLC max offset, the upper end of the\n"
            "                    uncertainty no event bounds tighter (default %d)\n"
            "Exit status: 0, 1 when a file cannot be read or parsed, 2 for usage errors.\n",
            DEFAULT_MAX_OFFSET_MS);
}

/* slurp reads a whole file (or stdin for "-") into *out (malloc'd). */
static int slurp(const char *path, char **out, size_t *outlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return TT_EIO;
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    int rc = 0;
    for (;;) {
        if (!b) {
            rc = TT_ENOMEM;
            break;
        }
        size_t n = fread(b + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                rc = TT_EIO;
            break;
        }
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    if (f != stdin)
        fclose(f);
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    *outlen = len;
    return 0;
}

static void print_json(const struct align_set *s)
{
    struct wbuf b;
    wbuf_init(&b, 0);
    for (size_t k = 0; k < s->nnodes; k++) {
        const struct align_node *n = &s->nodes[k];
        wbuf_reset(&b);
        wbuf_put(&b, "{\"node\":", 8);
        json_put_cstr(&b, n->name);
        wbuf_put(&b, ",\"shift_ms\":", 12);
        json_put_i64(&b, n->shift_ms);
        wbuf_put(&b, ",\"uncertainty_ms\":[", 19);
        json_put_i64(&b, n->lo_ms);
        wbuf_put(&b, ",", 1);
        json_put_i64(&b, n->hi_ms);
        wbuf_put(&b, "],\"events\":", 11);
        json_put_u64(&b, n->constrained);
        wbuf_put(&b, "}\n", 2);
        if (!b.err)
            fwrite(b.data, 1, b.len, stdout);
    }
    wbuf_release(&b);
}

static void print_table(const struct align_set *s)
{
    printf("%-20s %12s %27s %12s %12s\n", "NODE", "SHIFT_MS", "UNCERTAINTY_MS", "CONSTRAINED",
           "EVENTS");
    for (size_t k = 0; k < s->nnodes; k++) {
        const struct align_node *n = &s->nodes[k];
        char unc[64];
        snprintf(unc, sizeof(unc), "[%lld, %lld]", (long long)n->lo_ms, (long long)n->hi_ms);
        printf("%-20s %12lld %27s %12llu %12llu\n", n->name, (long long)n->shift_ms, unc,
               (unsigned long long)n->constrained, (unsigned long long)n->events);
    }
}

static void print_merged(const struct align_set *s)
{
    printf("\n%-15s %-20s %15s %15s %6s  %s\n", "ALIGNED_MS", "NODE", "PT_MS", "HLC_L_MS", "HLC_C",
           "MESSAGE");
    for (size_t i = 0; i < s->nev; i++) {
        const struct align_event *e = &s->ev[i];
        printf("%15lld%c%-20s %15lld %15lld %6u  %.*s\n", (long long)e->aligned_ms,
               e->repaired ? '*' : ' ', s->nodes[e->node].name, (long long)e->pt_ms,
               (long long)e->l_ms, e->c, (int)e->msg_len, s->msgs + e->msg_off);
    }
}

int cmd_align(int argc, char **argv)
{
    int json = 0, merged = 0, nfiles = 0, ret = CLI_OK;
    int64_t bound = DEFAULT_MAX_OFFSET_MS;
    char **files = calloc((size_t)argc, sizeof(*files));
    struct align_set s;
    align_set_init(&s);
    if (!files) {
        fprintf(stderr, "telltale align: out of memory\n");
        return CLI_PROBLEMS;
    }
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            cmd_align_usage(stdout);
            goto out;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--merged") == 0) {
            merged = 1;
        } else if (strcmp(argv[i], "--max-offset") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            long long v = strtoll(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || v < 0) {
                fprintf(stderr,
                        "telltale align: --max-offset: expected milliseconds >= 0, "
                        "got '%s'\n",
                        argv[i]);
                ret = CLI_USAGE;
                goto out;
            }
            bound = v;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "telltale align: unknown option '%s' (see telltale align --help)\n",
                    argv[i]);
            ret = CLI_USAGE;
            goto out;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (nfiles == 0) {
        cmd_align_usage(stderr);
        ret = CLI_USAGE;
        goto out;
    }
    for (int f = 0; f < nfiles; f++) {
        char *buf = NULL, err[512] = "";
        size_t len = 0;
        int rc = slurp(files[f], &buf, &len);
        if (rc) {
            fprintf(stderr, "telltale align: %s: %s\n", files[f],
                    rc == TT_EIO ? strerror(errno) : tt_strerror(rc));
            ret = CLI_PROBLEMS;
            goto out;
        }
        rc = align_text_parse(&s, files[f], buf, len, err, sizeof(err));
        free(buf);
        if (rc) {
            fprintf(stderr, "telltale align: %s\n", err[0] ? err : tt_strerror(rc));
            ret = CLI_PROBLEMS;
            goto out;
        }
    }
    int rc = align_run(&s, 2, bound);
    if (rc) {
        fprintf(stderr, "telltale align: %s\n", tt_strerror(rc));
        ret = CLI_PROBLEMS;
        goto out;
    }
    if (json)
        print_json(&s);
    else
        print_table(&s);
    if (merged)
        print_merged(&s);
out:
    align_set_release(&s);
    free(files);
    return ret;
}
