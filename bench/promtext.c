/*
 * promtext.c - throughput of the Prometheus text parser (src/core/promtext.c,
 * compiled into this program) on the real node_exporter recording.
 *
 * Usage: promtext [--quick] [--json] [FILE]
 *
 * FILE is Prometheus text, or zstd-compressed text when its name ends in
 * ".zst" (read through `zstd -dc`); default: the node_exporter recording in
 * ../shared/data next to the project (304,707 samples). The input is held in
 * memory; each figure is the median over repetitions of the thread's CPU time
 * for one pass (the machine is shared; preemption is not the parser's cost).
 *
 * Figures:
 *   parse_samples_per_s          the whole body in one promtext_feed
 *   parse_chunked_samples_per_s  the body fed in 64 KiB chunks (an HTTP upload)
 *   parse_mb_per_s               input bytes per second of the whole-body pass
 *   line_floor_lines_per_s       the floor: memchr over the body counting lines
 * Output: one figure a line; with --json one JSON object a line (BENCH.md).
 * Exit status 0 when the benchmark ran, 1 when it could not (no input, or the
 * input does not parse).
 */
#include "../src/core/promtext.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sink {
    uint64_t samples;
    double sum;
};

static int on_sample(void *ctx, const struct promtext_sample *s)
{
    struct sink *k = ctx;
    k->samples++;
    k->sum += s->value + (double)s->nlabels;
    return 0;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_input(const char *path, size_t *len)
{
    size_t n = strlen(path), cap = 1 << 20, used = 0;
    int zst = n > 4 && strcmp(path + n - 4, ".zst") == 0;
    FILE *f;
    if (zst) {
        char cmd[4200];
        if ((size_t)snprintf(cmd, sizeof cmd, "zstd -dc -- '%s' 2>/dev/null", path) >= sizeof cmd)
            return NULL;
        f = popen(cmd, "r");
    } else {
        f = fopen(path, "rb");
    }
    if (!f)
        return NULL;
    char *buf = malloc(cap);
    while (buf) {
        if (used == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        if (got == 0)
            break;
        used += got;
    }
    int bad = zst ? pclose(f) != 0 : fclose(f) != 0;
    if (bad || used == 0) {
        free(buf);
        return NULL;
    }
    *len = used;
    return buf;
}

/* one_pass parses buf in chunks of chunk bytes; returns CPU seconds or -1. */
static double one_pass(const char *buf, size_t len, size_t chunk, struct sink *k)
{
    struct promtext p;
    struct promtext_callbacks cb = { .on_sample = on_sample, .ctx = k };
    if (promtext_init(&p, NULL, &cb))
        return -1;
    double t0 = cpu_now();
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = promtext_feed(&p, buf + off, len - off < chunk ? len - off : chunk);
    if (rc == 0)
        rc = promtext_finish(&p);
    double t = cpu_now() - t0;
    if (rc)
        fprintf(stderr, "promtext: %s\n", p.err.msg[0] ? p.err.msg : tt_strerror(rc));
    promtext_release(&p);
    return rc ? -1 : t;
}

static double floor_pass(const char *buf, size_t len, uint64_t *lines)
{
    double t0 = cpu_now();
    uint64_t n = 0;
    const char *s = buf, *end = buf + len, *nl;
    while (s < end && (nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        n++;
        s = nl + 1;
    }
    *lines = n;
    return cpu_now() - t0;
}

static void figure(int json, const char *name, double v, const char *unit)
{
    if (json)
        printf("{\"bench\":\"promtext\",\"figure\":\"%s\",\"value\":%.4g,\"unit\":\"%s\"}\n", name,
               v, unit);
    else
        printf("%-30s %12.4g %s\n", name, v, unit);
}

int main(int argc, char **argv)
{
    int quick = 0, json = 0;
    const char *path = NULL;
    char defpath[4096];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            path = argv[i];
    }
    if (!path) {
        /* __FILE__ is .../bench/promtext.c; the data sits in ../shared next to the root. */
        const char *f = __FILE__, *slash = strrchr(f, '/');
        int n = slash ? (int)(slash - f) : 1;
        snprintf(defpath, sizeof defpath,
                 "%.*s/../../shared/data/node-exporter/nodeexp-1s-600s.prom.zst", n,
                 slash ? f : ".");
        path = defpath;
    }
    size_t len = 0;
    char *buf = read_input(path, &len);
    if (!buf) {
        fprintf(stderr, "promtext: cannot read %s (zstd installed?)\n", path);
        return 1;
    }
    enum { MAXREP = 15 };
    int reps = quick ? 3 : MAXREP;
    double whole[MAXREP], chunked[MAXREP], flo[MAXREP];
    struct sink k = { 0, 0 };
    uint64_t lines = 0, samples = 0;
    if (one_pass(buf, len, len, &k) < 0) { /* warm-up, and a check */
        free(buf);
        return 1;
    }
    samples = k.samples;
    for (int r = 0; r < reps; r++) {
        k.samples = 0;
        whole[r] = one_pass(buf, len, len, &k);
        chunked[r] = one_pass(buf, len, 65536, &k);
        flo[r] = floor_pass(buf, len, &lines);
        if (whole[r] < 0 || chunked[r] < 0) {
            free(buf);
            return 1;
        }
    }
    qsort(whole, (size_t)reps, sizeof(double), cmp_double);
    qsort(chunked, (size_t)reps, sizeof(double), cmp_double);
    qsort(flo, (size_t)reps, sizeof(double), cmp_double);
    double tw = whole[reps / 2], tc = chunked[reps / 2], tf = flo[reps / 2];
    if (!json)
        printf("input: %s, %zu bytes, %llu lines, %llu samples (checksum %.6g)\n", path, len,
               (unsigned long long)lines, (unsigned long long)samples, k.sum);
    figure(json, "parse_samples_per_s", (double)samples / tw, "samples/s");
    figure(json, "parse_chunked_samples_per_s", (double)samples / tc, "samples/s");
    figure(json, "parse_mb_per_s", (double)len / tw / 1e6, "MB/s");
    figure(json, "line_floor_lines_per_s", (double)lines / tf, "lines/s");
    free(buf);
    return 0;
}
