/* test_cli_spool.c - the telltale command end to end: global help, version
 * and unknown commands, and `telltale spool dump` on spools built here with
 * the codec (clean, torn tail, corrupt middle batch, unknown record type,
 * --json, empty and missing directories). Runs the real binary: $TT_BIN, or
 * "telltale" next to this test binary in the build directory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "core/batch.h"
#include "core/compress.h"
#include "core/record.h"

extern char **environ;

#define ORIGIN_A UINT64_C(0x1111)
#define ORIGIN_B UINT64_C(0x2222)
#define T0       INT64_C(1795435200123456789) /* 2026-11-23T12:00:00.123456789Z */
#define HLC0     (((tt_hlc)1795435200123 << 16) | 4)

struct run {
    int status; /* exit code, or -1 if it did not exit normally */
    char *out, *err;
};

struct fix {
    char dir[64];
    char bin[PATH_MAX];
    struct run r;
};

static void find_bin(struct fix *f)
{
    const char *env = getenv("TT_BIN");
    char self[PATH_MAX - 16];
    ssize_t n;
    char *slash;

    if (env != NULL && env[0] != '\0') {
        snprintf(f->bin, sizeof(f->bin), "%s", env);
    } else {
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        assert_true(n > 0);
        self[n] = '\0';
        slash = strrchr(self, '/');
        assert_non_null(slash);
        *slash = '\0';
        snprintf(f->bin, sizeof(f->bin), "%s/telltale", self);
    }
    if (access(f->bin, X_OK) != 0)
        fail_msg("telltale binary not found at %s (build target telltale_cli or set TT_BIN)",
                 f->bin);
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/tt-cli-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    find_bin(f);
    *state = f;
    return 0;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    char cmd[128];

    run_free(&f->r);
    /* TT_TEST_KEEP=1 keeps the spool for a look with the real binary. */
    if (getenv("TT_TEST_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", f->dir);
    } else {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            return -1;
    }
    free(f);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

/* run executes the binary with args (NULL-terminated, without argv[0]),
 * capturing stdout and stderr into f->r. Returns the exit status. */
static int run(struct fix *f, const char *const *args)
{
    char outp[128], errp[128];
    const char *argv[16];
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st, i;

    run_free(&f->r);
    argv[0] = f->bin;
    for (i = 0; args[i] != NULL; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    snprintf(outp, sizeof(outp), "%s/.out", f->dir);
    snprintf(errp, sizeof(errp), "%s/.err", f->dir);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(posix_spawn(&pid, f->bin, &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    f->r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    f->r.out = slurp(outp, NULL);
    f->r.err = slurp(errp, NULL);
    unlink(outp);
    unlink(errp);
    return f->r.status;
}

#define RUN(f, ...) run((f), (const char *const[]){ __VA_ARGS__, NULL })

/* EXPECT runs the binary and fails, showing its output, unless it exits want. */
#define EXPECT(f, want, ...)                                                                     \
    do {                                                                                         \
        int st_ = RUN(f, __VA_ARGS__);                                                           \
        if (st_ != (want))                                                                       \
            fail_msg("exit %d, want %d\nstderr:\n%s\nstdout:\n%.3000s", st_, (want), (f)->r.err, \
                     (f)->r.out);                                                                \
    } while (0)

/* has fails the test unless needle occurs in hay, showing both. */
#define has(hay, needle)                                      \
    do {                                                      \
        if (strstr((hay), (needle)) == NULL)                  \
            fail_msg("expected %s in:\n%s", (needle), (hay)); \
    } while (0)

/* ---- building spools ------------------------------------------------------ */

static struct rec_list list_of(const struct wbuf *b, uint32_t count)
{
    struct rec_list l = { count, b->data, (uint32_t)b->len, 0 };
    return l;
}

static struct rec_str str_of(const char *s)
{
    struct rec_str r = { s, (uint32_t)strlen(s) };
    return r;
}

static void put_kv_str(struct wbuf *b, const char *k, const char *v, size_t vlen)
{
    struct rec_value val = { .type = TT_VAL_STR };

    val.u.s.p = v;
    val.u.s.len = (uint32_t)vlen;
    rec_kv_put(b, k, strlen(k), &val);
}

/* The records of the "clean" batch: span, counter, histogram, event, state. */
static uint32_t put_records(struct wbuf *recs, int64_t t)
{
    static const uint8_t trace[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                       0xa3, 0xce, 0x92, 0x9e, 0x0e, 0x0e, 0x47, 0x36 };
    struct wbuf attrs, evs, evattrs, links, labels, bks;
    struct rec_value v;
    struct rec_span s;
    struct rec_metric m;
    struct rec_event e;
    struct rec_state st;
    struct rec_list l;

    wbuf_init(&attrs, 0);
    wbuf_init(&evs, 0);
    wbuf_init(&evattrs, 0);
    wbuf_init(&links, 0);
    wbuf_init(&labels, 0);
    wbuf_init(&bks, 0);

    put_kv_str(&attrs, "http.method", "GET", 3);
    v.type = TT_VAL_INT;
    v.u.i = -42;
    rec_kv_put(&attrs, "n", 1, &v);
    v.type = TT_VAL_DOUBLE;
    v.u.d = NAN;
    rec_kv_put(&attrs, "ratio", 5, &v);
    v.type = TT_VAL_BOOL;
    v.u.b = 1;
    rec_kv_put(&attrs, "cached", 6, &v);
    put_kv_str(&attrs, "weird", "a\"b\x01\xff", 5);
    put_kv_str(&evattrs, "key", "x", 1);
    l = list_of(&evattrs, 1);
    rec_span_event_put(&evs, t + 250000, "cache_miss", 10, &l);
    memset(&l, 0, sizeof(l));
    rec_span_link_put(&links, trace, 0x1234, 1, &l);

    memset(&s, 0, sizeof(s));
    memcpy(s.trace_id, trace, 16);
    s.span_id = 0x00f067aa0ba902b7;
    s.parent_id = 0x0102030405060708;
    s.duration_ns = 1234567;
    s.kind = TT_SPAN_SERVER;
    s.status = TT_STATUS_OK;
    s.flags = TT_FLAG_SAMPLED;
    s.name = str_of("GET /users");
    s.attrs = list_of(&attrs, 5);
    s.events = list_of(&evs, 1);
    s.links = list_of(&links, 1);
    assert_int_equal(rec_put_span(recs, HLC0, t, &s), 0);

    put_kv_str(&labels, "method", "GET", 3);
    memset(&m, 0, sizeof(m));
    m.kind = REC_METRIC_COUNTER;
    m.name = str_of("http_requests_total");
    m.help = str_of("Requests.");
    m.labels = list_of(&labels, 1);
    m.value = 42;
    assert_int_equal(rec_put_metric(recs, HLC0 + 1, t, &m), 0);

    rec_bucket_put(&bks, 0, 3, 5);
    rec_bucket_put(&bks, 3, 17, 2);
    memset(&m, 0, sizeof(m));
    m.kind = REC_METRIC_HISTOGRAM;
    m.name = str_of("latency_seconds");
    m.precision_bits = 1;
    m.count = 7;
    m.sum = 1.5;
    m.min = 0.001;
    m.max = 0.5;
    m.buckets = list_of(&bks, 2);
    assert_int_equal(rec_put_metric(recs, HLC0 + 2, t, &m), 0);

    memset(&e, 0, sizeof(e));
    e.severity = TT_SEV_WARNING;
    e.component = str_of("api");
    e.name = str_of("disk_full");
    e.message = str_of("disk almost full");
    assert_int_equal(rec_put_event(recs, HLC0 + 3, t, &e), 0);

    memset(&st, 0, sizeof(st));
    st.log = str_of("app");
    st.var = str_of("mode");
    st.value.type = TT_VAL_STR;
    st.value.u.s = str_of("leader");
    st.prev.type = TT_VAL_STR;
    st.prev.u.s = str_of("follower");
    assert_int_equal(rec_put_state(recs, HLC0 + 4, t, &st), 0);

    wbuf_release(&attrs);
    wbuf_release(&evs);
    wbuf_release(&evattrs);
    wbuf_release(&links);
    wbuf_release(&labels);
    wbuf_release(&bks);
    return 5;
}

/* add_batch appends a batch of count records to file; returns its offset. */
static size_t add_batch(struct wbuf *file, uint64_t origin, uint64_t first_seq,
                        const struct wbuf *recs, uint32_t count, int comp)
{
    struct batch_hdr h;
    size_t off = file->len;

    memset(&h, 0, sizeof(h));
    h.count = count;
    h.origin_id = origin;
    h.first_seq = first_seq;
    h.hlc_min = HLC0;
    h.hlc_max = HLC0 + 16;
    h.origin = "web-1\0api";
    h.origin_len = 9;
    if (comp)
        assert_int_equal(batch_encode_compressed(file, &h, recs->data, recs->len, comp), 0);
    else
        assert_int_equal(batch_encode(file, &h, recs->data, recs->len), 0);
    return off;
}

/* a batch of the five standard records, first_seq given */
static size_t add_std_batch(struct wbuf *file, uint64_t origin, uint64_t seq, int comp)
{
    struct wbuf recs;
    size_t off;
    uint32_t n;

    wbuf_init(&recs, 0);
    n = put_records(&recs, T0);
    off = add_batch(file, origin, seq, &recs, n, comp);
    wbuf_release(&recs);
    return off;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void seg_path(const struct fix *f, uint64_t origin, uint64_t seq, char *out, size_t len)
{
    snprintf(out, len, "%s/%016" PRIx64 "-%016" PRIx64 ".tts", f->dir, origin, seq);
}

/* write_seg writes a segment of the given batches (nb standard batches). */
static void write_seg(const struct fix *f, uint64_t origin, uint64_t seq, int nb, int comp,
                      size_t *offs)
{
    struct wbuf file;
    char path[256];

    wbuf_init(&file, 0);
    for (int i = 0; i < nb; i++) {
        size_t off = add_std_batch(&file, origin, seq + (uint64_t)i * 5, comp);
        if (offs != NULL)
            offs[i] = off;
    }
    if (offs != NULL)
        offs[nb] = file.len;
    seg_path(f, origin, seq, path, sizeof(path));
    write_file(path, file.data, file.len);
    wbuf_release(&file);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_cli_global(void **state)
{
    struct fix *f = *state;

    EXPECT(f, 0, "--help");
    has(f->r.out, "usage: telltale");
    has(f->r.out, "spool");
    EXPECT(f, 0, "--version");
    assert_string_equal(f->r.out, "telltale 0.1.0\n");
    EXPECT(f, 0, "version");
    assert_string_equal(f->r.out, "telltale 0.1.0\n");
    EXPECT(f, 2, "frobnicate");
    has(f->r.err, "unknown command 'frobnicate'");
    assert_string_equal(f->r.out, "");
    EXPECT(f, 2, "--frob");
    has(f->r.err, "unknown option '--frob'");
    EXPECT(f, 2, "help", "nope");
    has(f->r.err, "unknown command 'nope'");
    /* Every subcommand answers --help and `help CMD`. */
    EXPECT(f, 0, "help");
    has(f->r.out, "Commands:");
    for (const char *const *c = (const char *const[]){ "help", "spool", "version", NULL }; *c;
         c++) {
        EXPECT(f, 0, "help", *c);
        has(f->r.out, "usage: telltale ");
        has(f->r.out, *c);
        EXPECT(f, 0, *c, "--help");
        has(f->r.out, "usage: telltale ");
    }
    EXPECT(f, 0, "spool", "dump", "--help");
    has(f->r.out, "--json");
    EXPECT(f, 2, "spool", "dump");
    has(f->r.err, "no spool directory or file given");
    EXPECT(f, 2, "spool", "dump", "--bogus", f->dir);
    has(f->r.err, "unknown option '--bogus'");
    EXPECT(f, 2, "spool", "squash");
    has(f->r.err, "unknown subcommand 'squash'");
}

static void test_dump_clean(void **state)
{
    struct fix *f = *state;

    /* Written out of order; the dump sorts by origin, then first_seq. */
    write_seg(f, ORIGIN_B, 1, 1, 0, NULL);
    write_seg(f, ORIGIN_A, 11, 1, BATCH_COMP_ZSTD, NULL);
    write_seg(f, ORIGIN_A, 1, 2, 0, NULL);
    EXPECT(f, 0, "spool", "dump", f->dir);
    assert_string_equal(f->r.err, "");
    has(f->r.out, "2026-11-23T12:00:00.123456789Z hlc=1795435200123.4 span web-1/api GET /users "
                  "trace=4bf92f3577b34da6a3ce929e0e0e4736 span=00f067aa0ba902b7 "
                  "parent=0102030405060708 dur=1.234ms kind=server status=ok attrs={"
                  "http.method=\"GET\", n=-42, ratio=NaN, cached=true, weird=\"a\\\"b\\u0001"
                  "\\ufffd\"} events=[cache_miss@+250.000us {key=\"x\"}] "
                  "links=[4bf92f3577b34da6a3ce929e0e0e4736:0000000000001234]\n");
    has(f->r.out,
        " hlc=1795435200123.5 counter web-1/api http_requests_total{method=\"GET\"} 42\n");
    has(f->r.out, "histogram web-1/api latency_seconds count=7 sum=1.5 min=0.001 max=0.5 p=1 "
                  "buckets=[");
    has(f->r.out, "event web-1/api warning api/disk_full: \"disk almost full\"\n");
    has(f->r.out, "state web-1/api app/mode: \"leader\" (was \"follower\")\n");
    has(f->r.out, "-- 3 files, 4 batches, 20 records (span 4, metric 8, event 4, state 4, "
                  "unknown type 0), 0 problems\n");
    /* Order: origin A seq 1 (two batches: seqs 1 and 6), A seq 11, then B seq 1. */
    EXPECT(f, 0, "spool", "dump", "--json", f->dir);
    {
        static const char *const order[] = {
            "1111\",\"node\":\"web-1\",\"process\":\"api\",\"seq\":1,",
            "1111\",\"node\":\"web-1\",\"process\":\"api\",\"seq\":6,",
            "1111\",\"node\":\"web-1\",\"process\":\"api\",\"seq\":11,",
            "2222\",\"node\":\"web-1\",\"process\":\"api\",\"seq\":1,"
        };
        const char *prev = f->r.out;
        for (size_t i = 0; i < 4; i++) {
            const char *at = strstr(f->r.out, order[i]);
            if (at == NULL || at < prev)
                fail_msg("record %zu (%s) missing or out of order", i, order[i]);
            prev = at;
        }
    }
    /* Files can be given one by one too. */
    {
        char p[256];
        seg_path(f, ORIGIN_A, 11, p, sizeof(p));
        EXPECT(f, 0, "spool", "dump", p);
        has(f->r.out, "-- 1 file, 1 batch, 5 records");
    }
}

static void test_dump_json(void **state)
{
    struct fix *f = *state;
    char *line, *save = NULL;
    int n = 0;

    write_seg(f, ORIGIN_A, 1, 1, 0, NULL);
    EXPECT(f, 0, "spool", "dump", "--json", f->dir);
    has(f->r.out, "{\"type\":\"span\",\"file\":\"");
    has(f->r.out, "\"origin_id\":\"0000000000001111\",\"node\":\"web-1\",\"process\":\"api\","
                  "\"seq\":1,\"hlc\":");
    has(f->r.out, "\"time_ns\":1795435200123456789,\"time\":\"2026-11-23T12:00:00.123456789Z\"");
    has(f->r.out, "\"trace_id\":\"4bf92f3577b34da6a3ce929e0e0e4736\",\"span_id\":"
                  "\"00f067aa0ba902b7\",\"parent_id\":\"0102030405060708\"");
    has(f->r.out, "\"duration_ns\":1234567,\"kind\":\"server\",\"status\":\"ok\"");
    has(f->r.out, "\"attrs\":{\"http.method\":\"GET\",\"n\":-42,\"ratio\":\"NaN\",\"cached\":true,"
                  "\"weird\":\"a\\\"b\\u0001\\ufffd\"}");
    has(f->r.out, "\"events\":[{\"time_ns\":1795435200123706789,");
    has(f->r.out, "\"kind\":\"counter\",\"name\":\"http_requests_total\",\"help\":\"Requests.\","
                  "\"labels\":{\"method\":\"GET\"},\"value\":42}");
    has(f->r.out, "\"buckets\":[{\"index\":3,");
    has(f->r.out, "\"severity\":\"warning\",\"component\":\"api\"");
    has(f->r.out, "\"log\":\"app\",\"var\":\"mode\",\"value\":\"leader\",\"prev\":\"follower\"}");
    has(f->r.out,
        "{\"summary\":{\"files\":1,\"batches\":1,\"records\":5,\"problems\":0,"
        "\"by_type\":{\"span\":1,\"metric\":2,\"event\":1,\"state\":1,\"unknown\":0}}}\n");
    /* One object per line. */
    for (line = strtok_r(f->r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        assert_true(len > 2);
        assert_int_equal(line[0], '{');
        assert_int_equal(line[len - 1], '}');
        n++;
    }
    assert_int_equal(n, 6);
}

static void test_dump_torn_tail(void **state)
{
    struct fix *f = *state;
    size_t offs[3];
    char path[256], want[400];

    write_seg(f, ORIGIN_A, 1, 2, 0, offs);
    seg_path(f, ORIGIN_A, 1, path, sizeof(path));
    /* A crash mid-write: the second batch lost its last 10 bytes. */
    assert_int_equal(truncate(path, (off_t)offs[2] - 10), 0);
    EXPECT(f, 1, "spool", "dump", f->dir);
    snprintf(want, sizeof(want), "%s: offset %zu: torn tail", path, offs[1]);
    has(f->r.err, want);
    snprintf(want, sizeof(want), "(skipped %zu bytes)\n", offs[2] - 10 - offs[1]);
    has(f->r.err, want);
    has(f->r.out, "-- 1 file, 1 batch, 5 records");
    has(f->r.out, "1 problem\n");

    /* The same problem as a JSON line with --json. */
    EXPECT(f, 1, "spool", "dump", "--json", path);
    snprintf(want, sizeof(want), "\",\"offset\":%zu,\"skipped\":%zu,\"code\":\"TT_ETRUNC\"}\n",
             offs[1], offs[2] - 10 - offs[1]);
    has(f->r.out, "{\"problem\":\"torn tail: ");
    has(f->r.out, want);
    has(f->r.err, "offset");
}

static void test_dump_corrupt_middle(void **state)
{
    struct fix *f = *state;
    size_t offs[4];
    char path[256], want[400];
    struct wbuf file;
    size_t n;
    char *data;

    write_seg(f, ORIGIN_A, 1, 3, 0, offs);
    seg_path(f, ORIGIN_A, 1, path, sizeof(path));
    data = slurp(path, &n);
    assert_int_equal(n, offs[3]);
    /* Flip a byte in the middle of the second batch's body. */
    data[(offs[1] + offs[2]) / 2] ^= 0x40;
    write_file(path, data, n);
    free(data);
    EXPECT(f, 1, "spool", "dump", f->dir);
    snprintf(want, sizeof(want), "%s: offset %zu: ", path, offs[1]);
    has(f->r.err, want);
    snprintf(want, sizeof(want), "(skipped %zu bytes)\n", offs[2] - offs[1]);
    has(f->r.err, want);
    /* The batch after the corrupt one is read: seq 11 onwards. */
    has(f->r.out, "-- 1 file, 2 batches, 10 records (span 2, metric 4, event 2, state 2, "
                  "unknown type 0), 1 problem\n");
    EXPECT(f, 1, "spool", "dump", "--json", f->dir);
    has(f->r.out, "\"seq\":11,");
    assert_null(strstr(f->r.out, "\"seq\":6,"));

    /* Garbage between two batches is skipped too. */
    wbuf_init(&file, 0);
    add_std_batch(&file, ORIGIN_A, 1, 0);
    wbuf_put(&file, "garbage!", 8);
    add_std_batch(&file, ORIGIN_A, 6, 0);
    write_file(path, file.data, file.len);
    wbuf_release(&file);
    EXPECT(f, 1, "spool", "dump", path);
    snprintf(want, sizeof(want), "(skipped 8 bytes)");
    has(f->r.err, want);
    has(f->r.out, "2 batches, 10 records");
}

static void test_dump_unknown_type(void **state)
{
    struct fix *f = *state;
    struct wbuf recs, file;
    char path[256];
    struct rec_state st;

    wbuf_init(&recs, 0);
    wbuf_init(&file, 0);
    assert_int_equal(rec_put_raw(&recs, 9, HLC0, T0, "future", 6), 0);
    memset(&st, 0, sizeof(st));
    st.log = str_of("app");
    st.var = str_of("n");
    st.value.type = TT_VAL_INT;
    st.value.u.i = 7;
    assert_int_equal(rec_put_state(&recs, HLC0, T0, &st), 0);
    add_batch(&file, ORIGIN_A, 1, &recs, 2, 0);
    seg_path(f, ORIGIN_A, 1, path, sizeof(path));
    write_file(path, file.data, file.len);
    wbuf_release(&recs);
    wbuf_release(&file);
    /* Skipped and counted, not a problem: newer writers may add types. */
    EXPECT(f, 0, "spool", "dump", f->dir);
    has(f->r.out, "state web-1/api app/n: 7\n");
    has(f->r.out, "2 records (span 0, metric 0, event 0, state 1, unknown type 1), 0 problems");
    EXPECT(f, 0, "spool", "dump", "--json", f->dir);
    has(f->r.out, "\"seq\":2,");
    has(f->r.out, "\"unknown\":1}");
}

static void test_dump_bad_record(void **state)
{
    struct fix *f = *state;
    struct wbuf recs, file;
    char path[256], want[400];
    struct rec_state st;
    size_t off2;

    wbuf_init(&recs, 0);
    wbuf_init(&file, 0);
    /* A span whose payload is garbage, inside a batch with a good CRC: the
     * record is reported and skipped, the next one printed. */
    assert_int_equal(rec_put_raw(&recs, REC_SPAN, HLC0, T0, "\xff\xff", 2), 0);
    memset(&st, 0, sizeof(st));
    st.log = str_of("app");
    st.var = str_of("n");
    st.value.type = TT_VAL_BOOL;
    st.value.u.b = 0;
    assert_int_equal(rec_put_state(&recs, HLC0, T0, &st), 0);
    add_batch(&file, ORIGIN_A, 1, &recs, 2, 0);
    /* A batch whose header counts one record fewer than its body holds. */
    off2 = add_batch(&file, ORIGIN_A, 3, &recs, 1, 0);
    seg_path(f, ORIGIN_A, 1, path, sizeof(path));
    write_file(path, file.data, file.len);
    wbuf_release(&recs);
    wbuf_release(&file);
    EXPECT(f, 1, "spool", "dump", f->dir);
    has(f->r.out, "state web-1/api app/n: false\n");
    snprintf(want, sizeof(want), "%s: offset 0: batch seq 1: span record 1 at body byte 0: ", path);
    has(f->r.err, want);
    snprintf(want, sizeof(want),
             "%s: offset %zu: batch seq 3: header says 1 records, body "
             "holds 2 (skipped 0 bytes)\n",
             path, off2);
    has(f->r.err, want);
    has(f->r.out, "4 records (span 0, metric 0, event 0, state 2, unknown type 0), 3 problems");
}

static void test_dump_empty_and_missing(void **state)
{
    struct fix *f = *state;
    char path[256];

    EXPECT(f, 0, "spool", "dump", f->dir);
    assert_string_equal(f->r.out, "-- 0 files, 0 batches, 0 records (span 0, metric 0, event 0, "
                                  "state 0, unknown type 0), 0 problems\n");
    /* An empty segment (created, nothing written yet) is fine. */
    seg_path(f, ORIGIN_A, 1, path, sizeof(path));
    write_file(path, "", 0);
    EXPECT(f, 0, "spool", "dump", f->dir);
    has(f->r.out, "-- 1 file, 0 batches");

    snprintf(path, sizeof(path), "%s/nope", f->dir);
    EXPECT(f, 1, "spool", "dump", path);
    has(f->r.err, "/nope: cannot open: No such file or directory\n");
    has(f->r.out, "1 problem\n");
}

UNIT_TESTS(cmocka_unit_test_setup_teardown(test_cli_global, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dump_clean, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dump_json, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dump_torn_tail, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dump_corrupt_middle, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dump_unknown_type, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dump_bad_record, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dump_empty_and_missing, setup, teardown))
