/*
 * cmd_promqltest.c - `telltale promqltest [-v] [-j N] FILE...`: runs PromQL test
 * files (Prometheus's promqltest format) against Telltale's engine and
 * prints, per file, how many eval statements passed, failed and were
 * skipped; with -v also every failing statement (file:line, the query, what
 * was expected and what came back) and every skip with its reason. The last
 * line is always "N passed, N failed, N skipped". -j N evaluates range
 * queries with N stream workers (promql_engine_opts.stream_workers), as the
 * server does, to check that threads change nothing.
 *
 * Exit status: 0 when nothing failed, 1 when an eval failed or a file could
 * not be read or parsed, 2 for a bad command line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "cli/cli.h"
#include "query/promql/runner.h"

#define MAX_FILE_BYTES (256u << 20)

void cmd_promqltest_usage(FILE *out)
{
    fprintf(out, "usage: telltale promqltest [-v] [-j N] FILE...\n\n"
                 "Runs PromQL test files (Prometheus's promqltest format: load, clear, eval\n"
                 "with expected results) against Telltale's engine and prints passed, failed\n"
                 "and skipped eval statements per file; the last line is the total as\n"
                 "\"N passed, N failed, N skipped\". Evals that need native histograms, start\n"
                 "timestamps, annotations or syntax Telltale does not enable are skipped.\n\n"
                 "  -v   also print each failed or skipped statement: file:line, query, why\n"
                 "  -j N evaluate with N stream worker threads (0 to 16; default 0), as the\n"
                 "       server evaluates range queries\n\n"
                 "Exit status: 0 all passed or skipped, 1 failures, 2 usage error.\n");
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = cap > MAX_FILE_BYTES ? NULL : realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cmd_promqltest(int argc, char **argv)
{
    size_t passed = 0, failed = 0, skipped = 0, skipped_hist = 0, nfiles = 0;
    int verbose = 0, problems = 0;
    struct promql_engine_opts opts = { 0 };

    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            cmd_promqltest_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-j") == 0) {
            char *end = NULL;
            long n = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
            if (end == NULL || end == argv[i + 1] || *end != '\0' || n < 0 || n > 16) {
                fprintf(stderr, "telltale promqltest: -j wants a number of threads from 0 to 16\n");
                return CLI_USAGE;
            }
            opts.stream_workers = (unsigned)n;
            argv[i + 1] = NULL; /* not a file */
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "telltale promqltest: unknown option '%s'\n", argv[i]);
            return CLI_USAGE;
        } else
            nfiles++;
    }
    if (nfiles == 0) {
        cmd_promqltest_usage(stderr);
        return CLI_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *path = argv[i];
        struct promqltest_report rep = { 0 };
        if (path == NULL)
            continue;
        char err[512] = "";
        size_t len = 0;
        char *text;
        int rc;

        if (path[0] == '-' && path[1] != '\0')
            continue;
        text = read_file(path, &len);
        if (text == NULL) {
            fprintf(stderr, "telltale promqltest: %s: %s\n", path, strerror(errno));
            problems = 1;
            continue;
        }
        rc = promqltest_run(text, len, path, &opts, &rep, err, sizeof err);
        free(text);
        if (rc != 0) {
            fprintf(stderr, "telltale promqltest: %s\n", err[0] ? err : tt_strerror(rc));
            problems = 1;
        }
        if (verbose) {
            for (size_t k = 0; k < rep.nitems; k++) {
                const struct promqltest_item *it = &rep.items[k];
                printf("%s:%d: %s: %s\n    %s\n", path, it->line,
                       it->outcome == PROMQLTEST_FAILED ? "FAIL" : "SKIP", it->query, it->why);
            }
        }
        printf("%s: %zu passed, %zu failed, %zu skipped\n", path, rep.passed, rep.failed,
               rep.skipped);
        passed += rep.passed;
        failed += rep.failed;
        skipped += rep.skipped;
        skipped_hist += rep.skipped_histogram;
        promqltest_report_release(&rep);
    }
    /* The conformance figure: passes among evals that do not need native
     * histograms or start timestamps (other skips count as not passed). */
    size_t float_evals = passed + failed + skipped - skipped_hist;
    printf("float-sample evals: %zu passed of %zu (%.1f%%); %zu skipped for native histograms or "
           "start timestamps\n",
           passed, float_evals, float_evals ? 100.0 * (double)passed / (double)float_evals : 100.0,
           skipped_hist);
    printf("%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    return failed > 0 || problems ? CLI_PROBLEMS : CLI_OK;
}
