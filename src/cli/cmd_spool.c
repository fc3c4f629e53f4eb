/*
 * cmd_spool.c - `telltale spool`: reading the spool segments libtelltale
 * writes (lib/spool.h). `telltale spool dump DIR|FILE... [--json]` prints
 * every record, one line each, reports torn and corrupt batches with their
 * offset and carries on after them.
 *
 * Invariants: a problem never stops the dump (the next batch, record or file
 * is read); every problem is counted and reported once, on stderr as
 * "FILE: offset N: message (skipped M bytes)" and, with --json, also as a
 * {"problem":...} line in the output; the exit status is 0 when everything
 * was read, 1 when any problem was found, 2 for a bad command line.
 * Records of a type this build does not know are counted and skipped, not
 * problems: newer writers may add types.
 *
 * Files are mapped read-only (segments can be hundreds of MiB). A file
 * truncated by another process while mapped would raise SIGBUS; the spool
 * writer only truncates a batch it failed to write, so in practice this
 * only happens to files being damaged by hand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/recfmt.h"
#include "core/batch_scan.h"
#include "core/json.h"
#include "core/record.h"

#define FLUSH_BYTES (64u << 10) /* write output in chunks of about this size */

struct dump {
    int json;
    struct wbuf out; /* pending output */
    uint64_t files, batches, records, problems;
    uint64_t by_type[REC_STATE + 1]; /* [0]: unknown types */
};

static void flush_out(struct dump *d)
{
    if (d->out.len > 0)
        fwrite(d->out.data, 1, d->out.len, stdout);
    wbuf_reset(&d->out);
}

/* problem reports one problem at offset of file (offset < 0: the file as a
 * whole, e.g. it cannot be opened) and counts it. */
static void problem(struct dump *d, const char *file, int64_t offset, uint64_t skipped, int code,
                    const char *msg)
{
    struct wbuf *b = &d->out;

    d->problems++;
    if (offset >= 0)
        fprintf(stderr, "%s: offset %" PRId64 ": %s (skipped %" PRIu64 " bytes)\n", file, offset,
                msg, skipped);
    else
        fprintf(stderr, "%s: %s\n", file, msg);
    if (!d->json)
        return;
    wbuf_put(b, "{\"problem\":", 11);
    json_put_cstr(b, msg);
    wbuf_put(b, ",\"file\":", 8);
    json_put_cstr(b, file);
    if (offset >= 0) {
        wbuf_put(b, ",\"offset\":", 10);
        json_put_i64(b, offset);
        wbuf_put(b, ",\"skipped\":", 11);
        json_put_u64(b, skipped);
    }
    wbuf_put(b, ",\"code\":", 8);
    json_put_cstr(b, tt_err_name(code));
    wbuf_put(b, "}\n", 2);
}

static void dump_batch(struct dump *d, const char *file, size_t off, const struct batch_hdr *h,
                       const uint8_t *body, size_t body_len)
{
    struct recfmt_src src = { file, off, h, h->first_seq };
    struct rbuf r;
    struct rec rec;
    uint32_t n = 0;
    char err[256], msg[400];
    int rc;

    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, sizeof(err))) == 1) {
        size_t at = (size_t)(rec.payload - body) - REC_HDR_LEN - REC_FIXED_LEN;

        src.seq = h->first_seq + n++;
        d->records++;
        if (!recfmt_known(rec.type)) {
            d->by_type[0]++;
            continue;
        }
        rc = d->json ? recfmt_json(&d->out, &rec, &src, err, sizeof(err))
                     : recfmt_text(&d->out, &rec, &src, err, sizeof(err));
        if (rc != 0) {
            snprintf(msg, sizeof(msg),
                     "batch seq %" PRIu64 ": %s record %" PRIu64 " at body byte %zu: %s",
                     h->first_seq, rec_type_name(rec.type), src.seq, at, err);
            problem(d, file, (int64_t)off, REC_HDR_LEN + REC_FIXED_LEN + rec.payload_len, rc, msg);
            continue;
        }
        d->by_type[rec.type]++;
        if (d->out.len >= FLUSH_BYTES)
            flush_out(d);
    }
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "batch seq %" PRIu64 ": record %" PRIu64 ": %s", h->first_seq,
                 h->first_seq + n, err);
        problem(d, file, (int64_t)off, rbuf_left(&r), rc, msg);
    } else if (n != h->count) {
        snprintf(msg, sizeof(msg),
                 "batch seq %" PRIu64 ": header says %" PRIu32 " records, body holds %" PRIu32,
                 h->first_seq, h->count, n);
        problem(d, file, (int64_t)off, 0, TT_ECORRUPT, msg);
    }
}

static void dump_file(struct dump *d, const char *path)
{
    struct batch_scan sc;
    struct batch_hdr h;
    struct batch_problem prob;
    struct stat st;
    const uint8_t *body;
    size_t body_len, off;
    void *map = NULL;
    char msg[300];
    int fd, rc;

    memset(&st, 0, sizeof(st));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        problem(d, path, -1, 0, TT_ESYS, msg);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        problem(d, path, -1, 0, TT_EINVAL, "not a regular file");
        goto out;
    }
    d->files++;
    if (st.st_size == 0)
        goto out;
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        map = NULL;
        snprintf(msg, sizeof(msg), "cannot map: %s", strerror(errno));
        problem(d, path, -1, 0, TT_ESYS, msg);
        goto out;
    }
    (void)madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    batch_scan_init(&sc, map, (size_t)st.st_size);
    while ((rc = batch_scan_next(&sc, &h, &body, &body_len, &off, &prob)) != 0) {
        if (rc < 0) {
            problem(d, path, (int64_t)prob.offset, prob.skipped, prob.code, prob.msg);
            continue;
        }
        d->batches++;
        dump_batch(d, path, off, &h, body, body_len);
    }
    batch_scan_release(&sc);
out:
    if (map != NULL)
        munmap(map, (size_t)st.st_size);
    if (fd >= 0)
        close(fd);
    flush_out(d);
}

struct seg_name {
    char *name;
    uint64_t origin, first_seq;
    int parsed; /* the name is "<16 hex>-<16 hex>.tts" */
};

static int parse_hex16(const char *s, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (x < 0)
            return 0;
        *v = *v << 4 | (uint64_t)x;
    }
    return 1;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg_name *x = a, *y = b;

    /* Segment names sort by origin then first record; anything else after. */
    if (x->parsed != y->parsed)
        return x->parsed ? -1 : 1;
    if (x->parsed && x->origin != y->origin)
        return x->origin < y->origin ? -1 : 1;
    if (x->parsed && x->first_seq != y->first_seq)
        return x->first_seq < y->first_seq ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void dump_dir(struct dump *d, const char *dir)
{
    struct seg_name *segs = NULL;
    size_t n = 0, cap = 0, dlen = strlen(dir);
    struct dirent *e;
    DIR *dp = opendir(dir);
    char msg[300];

    if (dp == NULL) {
        snprintf(msg, sizeof(msg), "cannot open directory: %s", strerror(errno));
        problem(d, dir, -1, 0, TT_ESYS, msg);
        return;
    }
    while ((e = readdir(dp)) != NULL) {
        size_t len = strlen(e->d_name);
        struct seg_name *s;

        if (len < 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 4, ".tts") != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct seg_name *p = realloc(segs, ncap * sizeof(*p));
            if (p == NULL)
                break;
            segs = p;
            cap = ncap;
        }
        s = &segs[n];
        s->name = malloc(dlen + len + 2);
        if (s->name == NULL)
            break;
        snprintf(s->name, dlen + len + 2, "%s/%s", dir, e->d_name);
        s->parsed = len == 37 && e->d_name[16] == '-' && parse_hex16(e->d_name, &s->origin) &&
                    parse_hex16(e->d_name + 17, &s->first_seq);
        n++;
    }
    if (e != NULL)
        problem(d, dir, -1, 0, TT_ENOMEM, "out of memory listing the directory");
    closedir(dp);
    if (n > 1)
        qsort(segs, n, sizeof(*segs), seg_cmp);
    for (size_t i = 0; i < n; i++) {
        dump_file(d, segs[i].name);
        free(segs[i].name);
    }
    free(segs);
}

static void summary(struct dump *d)
{
    static const char *const names[] = { "unknown", "span", "metric", "event", "state" };
    struct wbuf *b = &d->out;
    char line[512];
    int n;

    if (d->json) {
        n = snprintf(line, sizeof(line),
                     "{\"summary\":{\"files\":%" PRIu64 ",\"batches\":%" PRIu64
                     ",\"records\":%" PRIu64 ",\"problems\":%" PRIu64 ",\"by_type\":{",
                     d->files, d->batches, d->records, d->problems);
        wbuf_put(b, line, (size_t)n);
        for (int t = 1; t <= REC_STATE + 1; t++) {
            int i = t % (REC_STATE + 1); /* unknown last */
            n = snprintf(line, sizeof(line), "%s\"%s\":%" PRIu64, t > 1 ? "," : "", names[i],
                         d->by_type[i]);
            wbuf_put(b, line, (size_t)n);
        }
        wbuf_put(b, "}}}\n", 4);
    } else {
        n = snprintf(line, sizeof(line),
                     "-- %" PRIu64 " file%s, %" PRIu64 " batch%s, %" PRIu64
                     " records (span %" PRIu64 ", metric %" PRIu64 ", event %" PRIu64
                     ", state %" PRIu64 ", unknown type %" PRIu64 "), %" PRIu64 " problem%s\n",
                     d->files, d->files == 1 ? "" : "s", d->batches, d->batches == 1 ? "" : "es",
                     d->records, d->by_type[REC_SPAN], d->by_type[REC_METRIC],
                     d->by_type[REC_EVENT], d->by_type[REC_STATE], d->by_type[0], d->problems,
                     d->problems == 1 ? "" : "s");
        wbuf_put(b, line, (size_t)n);
    }
    flush_out(d);
}

static void dump_usage(FILE *out)
{
    fprintf(out, "usage: telltale spool dump [--json] DIR|FILE...\n\n"
                 "Prints every record of the spool segments (*.tts) of each DIR, sorted by\n"
                 "origin then first sequence number, or of the FILEs given, one line each,\n"
                 "and a summary line at the end. Torn or corrupt batches are reported on\n"
                 "stderr as 'FILE: offset N: message (skipped M bytes)' and skipped.\n\n"
                 "  --json   one JSON object per line per record (and per problem), then a\n"
                 "           {\"summary\":...} line\n\n"
                 "Exit status: 0 everything read, 1 problems found, 2 usage error.\n");
}

void cmd_spool_usage(FILE *out)
{
    fprintf(out, "usage: telltale spool <subcommand> [<args>]\n\n"
                 "Reads the spool segments libtelltale writes for the agent.\n\n"
                 "Subcommands:\n"
                 "  dump     print the records of spool directories or segment files\n\n");
    dump_usage(out);
}

static int cmd_spool_dump(int argc, char **argv)
{
    struct dump d;
    int npaths = 0, opts = 1;

    memset(&d, 0, sizeof(d));
    for (int i = 1; i < argc; i++) {
        if (opts && cli_is_help(argv[i])) {
            dump_usage(stdout);
            return CLI_OK;
        } else if (opts && strcmp(argv[i], "--json") == 0) {
            d.json = 1;
        } else if (opts && strcmp(argv[i], "--") == 0) {
            opts = 0;
        } else if (opts && argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "telltale spool dump: unknown option '%s'\n", argv[i]);
            dump_usage(stderr);
            return CLI_USAGE;
        } else {
            npaths++;
        }
    }
    if (npaths == 0) {
        fprintf(stderr, "telltale spool dump: no spool directory or file given\n");
        dump_usage(stderr);
        return CLI_USAGE;
    }
    wbuf_init(&d.out, 0);
    opts = 1;
    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (opts && strcmp(argv[i], "--") == 0) {
            opts = 0;
            continue;
        }
        if (opts && argv[i][0] == '-' && argv[i][1] != '\0')
            continue;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            dump_dir(&d, argv[i]);
        else
            dump_file(&d, argv[i]);
    }
    summary(&d);
    wbuf_release(&d.out);
    return d.problems > 0 ? CLI_PROBLEMS : CLI_OK;
}

int cmd_spool(int argc, char **argv)
{
    if (argc < 2) {
        cmd_spool_usage(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        cmd_spool_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "dump") == 0)
        return cmd_spool_dump(argc - 1, argv + 1);
    fprintf(stderr, "telltale spool: unknown subcommand '%s' (see 'telltale spool --help')\n",
            argv[1]);
    return CLI_USAGE;
}
