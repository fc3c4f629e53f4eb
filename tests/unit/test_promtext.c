/*
 * test_promtext.c - the Prometheus text parser: accepted syntax, values
 * bit-identical to strtod, errors with line and column, limits, skip mode,
 * every chunk split of a document, and the real node_exporter recording.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/promtext.h"

/* ---- a recorder: every callback appended to a text log --------------------- */

struct rec {
    char *buf;
    size_t len, cap;
    int stop_after; /* on_sample returns TT_EFULL at this sample (1-based); 0 never */
    uint64_t nsamples;
};

__attribute__((format(printf, 2, 3))) static void rec_printf(struct rec *r, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(r->buf ? r->buf + r->len : NULL, r->buf ? r->cap - r->len : 0, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if (r->buf && r->len + (size_t)n < r->cap) {
            r->len += (size_t)n;
            return;
        }
        size_t cap = r->cap ? r->cap * 2 : 1024;
        while (cap < r->len + (size_t)n + 1)
            cap *= 2;
        r->buf = realloc(r->buf, cap);
        assert_non_null(r->buf);
        r->cap = cap;
    }
}

static void rec_bytes(struct rec *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '\\' || c == '"' || c >= 0x7f)
            rec_printf(r, "\\x%02x", c);
        else
            rec_printf(r, "%c", c);
    }
}

static void rec_family(struct rec *r, const struct promtext_family *f)
{
    rec_bytes(r, f->name, f->name_len);
    rec_printf(r, " type=%s%s help=%s\"", promtext_type_name(f->type), f->has_type ? "" : "?",
               f->has_help ? "" : "none:");
    rec_bytes(r, f->help, f->help_len);
    rec_printf(r, "\"");
}

static int on_sample(void *ctx, const struct promtext_sample *s)
{
    struct rec *r = ctx;
    uint64_t bits;
    memcpy(&bits, &s->value, sizeof bits);
    rec_printf(r, "S%" PRIu64 " ", s->line);
    rec_bytes(r, s->name, s->name_len);
    rec_printf(r, "{");
    for (size_t i = 0; i < s->nlabels; i++) {
        rec_bytes(r, s->labels[i].name, s->labels[i].name_len);
        rec_printf(r, "=\"");
        rec_bytes(r, s->labels[i].value, s->labels[i].value_len);
        rec_printf(r, "\",");
    }
    rec_printf(r, "} %a/%016" PRIx64, s->value, bits);
    if (s->has_timestamp)
        rec_printf(r, " @%" PRId64, s->timestamp_ms);
    if (s->family) {
        rec_printf(r, " fam=");
        rec_family(r, s->family);
    }
    rec_printf(r, "\n");
    r->nsamples++;
    if (r->stop_after && r->nsamples == (uint64_t)r->stop_after)
        return TT_EFULL;
    return 0;
}

static int on_help(void *ctx, const struct promtext_family *f)
{
    rec_printf(ctx, "H ");
    rec_family(ctx, f);
    rec_printf(ctx, "\n");
    return 0;
}

static int on_type(void *ctx, const struct promtext_family *f)
{
    rec_printf(ctx, "T ");
    rec_family(ctx, f);
    rec_printf(ctx, "\n");
    return 0;
}

static int on_error(void *ctx, const struct promtext_error *e)
{
    rec_printf(ctx, "E %" PRIu64 ":%zu %s %s\n", e->line, e->column, tt_err_name(e->code), e->msg);
    return 0;
}

static const struct promtext_callbacks rec_cb = { on_sample, on_help, on_type, on_error, NULL };

/* run parses doc split into pieces of at most chunk bytes (0: whole) with
 * opts, logging into r (reset first); returns the final code and fills st. */
static int run_split(struct rec *r, const char *doc, size_t len, const struct promtext_opts *o,
                     size_t cut1, size_t cut2, struct promtext_stats *st)
{
    struct promtext p;
    struct promtext_callbacks cb = rec_cb;
    cb.ctx = r;
    r->len = 0;
    r->nsamples = 0;
    if (r->buf)
        r->buf[0] = 0;
    assert_int_equal(promtext_init(&p, o, &cb), 0);
    int rc = promtext_feed(&p, doc, cut1);
    if (rc == 0)
        rc = promtext_feed(&p, doc + cut1, cut2 - cut1);
    if (rc == 0)
        rc = promtext_feed(&p, doc + cut2, len - cut2);
    if (rc == 0)
        rc = promtext_finish(&p);
    rec_printf(r, "rc=%s bad=%" PRIu64 " eof=%d\n", tt_err_name(rc), p.stats.bad_lines,
               p.stats.eof_marker);
    if (st)
        *st = p.stats;
    promtext_release(&p);
    return rc;
}

static int run_doc(struct rec *r, const char *doc, const struct promtext_opts *o,
                   struct promtext_stats *st)
{
    size_t n = strlen(doc);
    return run_split(r, doc, n, o, n, n, st);
}

static void rec_free(struct rec *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* ---- syntax ------------------------------------------------------------------ */

static void test_basic_document(void **state)
{
    (void)state;
    struct rec r = { 0 };
    struct promtext_stats st;
    const char *doc = "# HELP http_requests_total The total number of HTTP requests.\n"
                      "# TYPE http_requests_total counter\n"
                      "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
                      "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
                      "\n"
                      "# A comment\n"
                      "plain 12.5\n";
    assert_int_equal(run_doc(&r, doc, NULL, &st), 0);
    assert_string_equal(
        r.buf,
        "H http_requests_total type=untyped? help=\"The total number of HTTP requests.\"\n"
        "T http_requests_total type=counter help=\"The total number of HTTP requests.\"\n"
        "S3 http_requests_total{method=\"post\",code=\"200\",} 0x1.00cp+10/40900c0000000000 "
        "@1395066363000 fam=http_requests_total type=counter help=\"The total number of HTTP "
        "requests.\"\n"
        "S4 http_requests_total{method=\"post\",code=\"400\",} 0x1.8p+1/4008000000000000 "
        "@1395066363000 fam=http_requests_total type=counter help=\"The total number of HTTP "
        "requests.\"\n"
        "S7 plain{} 0x1.9p+3/4029000000000000\n"
        "rc=TT_OK bad=0 eof=0\n");
    assert_int_equal(st.lines, 7);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.metadata, 2);
    assert_int_equal(st.comments, 1);
    assert_int_equal(st.bytes, strlen(doc));
    rec_free(&r);
}

static void test_whitespace_crlf_and_trailing_comma(void **state)
{
    (void)state;
    struct rec r = { 0 };
    const char *doc = "  \t a{ x = \"1\" ,\ty=\"2\", }\t 1 \t 2 \t\r\n"
                      "\r\n"
                      "   \t\n"
                      "b{} 3\n"
                      "c{}4\n"
                      "d\t5\r\n"
                      "e {x=\"y\"} 6\n"
                      "\t# TYPE   f \t gauge  \r\n"
                      "f 7";
    assert_int_equal(run_doc(&r, doc, NULL, NULL), 0);
    assert_string_equal(r.buf, "S1 a{x=\"1\",y=\"2\",} 0x1p+0/3ff0000000000000 @2\n"
                               "S4 b{} 0x1.8p+1/4008000000000000\n"
                               "S5 c{} 0x1p+2/4010000000000000\n"
                               "S6 d{} 0x1.4p+2/4014000000000000\n"
                               "S7 e{x=\"y\",} 0x1.8p+2/4018000000000000\n"
                               "T f type=gauge help=none:\"\"\n"
                               "S9 f{} 0x1.cp+2/401c000000000000 fam=f type=gauge help=none:\"\"\n"
                               "rc=TT_OK bad=0 eof=0\n");
    rec_free(&r);
}

static void test_label_escapes_and_utf8(void **state)
{
    (void)state;
    struct rec r = { 0 };
    const char *doc =
        "m{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1\n"
        "m{a=\"h\xc3\xa9llo \xe2\x9c\x93\",b=\"x\\\\\",c=\"plain\",d=\"\\n\xf0\x9f\x98\x80\"} 2\n"
        "m{a=\"\",b=\"\\\"\"} 3\n";
    assert_int_equal(run_doc(&r, doc, NULL, NULL), 0);
    assert_string_equal(r.buf, "S1 m{path=\"C:\\x5cDIR\\x5cFILE.TXT\",error=\"Cannot find "
                               "file:\\x0a\\x22FILE.TXT\\x22\",} 0x1p+0/3ff0000000000000\n"
                               "S2 m{a=\"h\\xc3\\xa9llo \\xe2\\x9c\\x93\",b=\"x\\x5c\",c=\"plain\","
                               "d=\"\\x0a\\xf0\\x9f\\x98\\x80\",} 0x1p+1/4000000000000000\n"
                               "S3 m{a=\"\",b=\"\\x22\",} 0x1.8p+1/4008000000000000\n"
                               "rc=TT_OK bad=0 eof=0\n");
    rec_free(&r);
}

static void test_help_type_and_families(void **state)
{
    (void)state;
    struct rec r = { 0 };
    const char *doc = "# TYPE h histogram\n"
                      "# HELP h Request \\\\ latency\\nin seconds \\t kept\n"
                      "h_bucket{le=\"0.05\"} 24054\n"
                      "h_bucket{le=\"+Inf\",} 144320\n"
                      "h_sum 53423\n"
                      "h_count 144320\n"
                      "h 1\n"
                      "h_total 2\n"
                      "hx_sum 3\n"
                      "# TYPE s summary\n"
                      "s_sum 1\n"
                      "s_bucket 2\n"
                      "# TYPE c COUNTER\n"
                      "c_sum 3\n"
                      "# HELP u\n"
                      "u 4\n"
                      "# TYPE x unknown\n"
                      "# TYPE y untyped\n";
    assert_int_equal(run_doc(&r, doc, NULL, NULL), 0);
    assert_string_equal(
        r.buf,
        "T h type=histogram help=none:\"\"\n"
        "H h type=histogram help=\"Request \\x5c latency\\x0ain seconds \\x5ct kept\"\n"
        "S3 h_bucket{le=\"0.05\",} 0x1.77d8p+14/40d77d8000000000 fam=h type=histogram "
        "help=\"Request \\x5c latency\\x0ain seconds \\x5ct kept\"\n"
        "S4 h_bucket{le=\"+Inf\",} 0x1.19ep+17/41019e0000000000 fam=h type=histogram "
        "help=\"Request \\x5c latency\\x0ain seconds \\x5ct kept\"\n"
        "S5 h_sum{} 0x1.a15ep+15/40ea15e000000000 fam=h type=histogram help=\"Request \\x5c "
        "latency\\x0ain seconds \\x5ct kept\"\n"
        "S6 h_count{} 0x1.19ep+17/41019e0000000000 fam=h type=histogram help=\"Request \\x5c "
        "latency\\x0ain seconds \\x5ct kept\"\n"
        "S7 h{} 0x1p+0/3ff0000000000000 fam=h type=histogram help=\"Request \\x5c "
        "latency\\x0ain seconds \\x5ct kept\"\n"
        "S8 h_total{} 0x1p+1/4000000000000000\n"
        "S9 hx_sum{} 0x1.8p+1/4008000000000000\n"
        "T s type=summary help=none:\"\"\n"
        "S11 s_sum{} 0x1p+0/3ff0000000000000 fam=s type=summary help=none:\"\"\n"
        "S12 s_bucket{} 0x1p+1/4000000000000000\n"
        "T c type=counter help=none:\"\"\n"
        "S14 c_sum{} 0x1.8p+1/4008000000000000\n"
        "H u type=untyped? help=\"\"\n"
        "S16 u{} 0x1p+2/4010000000000000 fam=u type=untyped? help=\"\"\n"
        "T x type=untyped help=none:\"\"\n"
        "T y type=untyped help=none:\"\"\n"
        "rc=TT_OK bad=0 eof=0\n");
    rec_free(&r);
}

static void test_comments_and_eof(void **state)
{
    (void)state;
    struct rec r = { 0 };
    struct promtext_stats st;
    const char *doc = "#\n"
                      "#HELP x not metadata\n"
                      "# HELP\n"
                      "# TYPE\n"
                      "#   random words here\n"
                      "# UNIT x seconds\n"
                      "a 1\n"
                      "# EOF\n";
    assert_int_equal(run_doc(&r, doc, NULL, &st), 0);
    assert_string_equal(r.buf, "S7 a{} 0x1p+0/3ff0000000000000\nrc=TT_OK bad=0 eof=1\n");
    assert_int_equal(st.comments, 7);
    assert_int_equal(st.metadata, 0);
    assert_int_equal(run_doc(&r, "# EOFX\n# EO F\n", NULL, &st), 0);
    assert_int_equal(st.eof_marker, 0);
    assert_int_equal(run_doc(&r, "# EOF \t\r\n", NULL, &st), 0);
    assert_int_equal(st.eof_marker, 1);
    rec_free(&r);
}

/* ---- values -------------------------------------------------------------------- */

static void check_value(const char *s, int want_rc, double want)
{
    double v = 12345;
    int rc = promtext_parse_value(s, strlen(s), &v);
    if (rc != want_rc)
        fail_msg("value \"%s\": rc %s, want %s", s, tt_err_name(rc), tt_err_name(want_rc));
    if (rc == 0) {
        uint64_t a, b;
        memcpy(&a, &v, 8);
        memcpy(&b, &want, 8);
        if (isnan(want) ? !isnan(v) : a != b)
            fail_msg("value \"%s\": got %a, want %a", s, v, want);
    }
}

static void test_values_go_syntax(void **state)
{
    (void)state;
    check_value("0", 0, 0.0);
    check_value("-0", 0, -0.0);
    check_value("+0.000e-5", 0, 0.0);
    check_value("1", 0, 1.0);
    check_value("-1.5", 0, -1.5);
    check_value("+2", 0, 2.0);
    check_value(".5", 0, 0.5);
    check_value("5.", 0, 5.0);
    check_value("007", 0, 7.0);
    check_value("1e3", 0, 1000.0);
    check_value("1E-3", 0, 1e-3);
    check_value("1.7096e+06", 0, 1709600.0);
    check_value("1e+30", 0, 1e30);
    check_value("123456789e22", 0, 123456789e22);
    check_value("0.1", 0, 0.1);
    check_value("3.141592653589793", 0, 3.141592653589793);
    check_value("1.7976931348623157e308", 0, 1.7976931348623157e308);
    check_value("4.9e-324", 0, 4.9e-324);
    check_value("1e-400", 0, 0.0); /* underflow is not an error in Go */
    check_value("-1e-400", 0, -0.0);
    check_value("1e400", TT_ERANGE, 0);
    check_value("-1.8e308", TT_ERANGE, 0);
    check_value("NaN", 0, NAN);
    check_value("nan", 0, NAN);
    check_value("nAn", 0, NAN);
    check_value("Inf", 0, INFINITY);
    check_value("+Inf", 0, INFINITY);
    check_value("-Inf", 0, -INFINITY);
    check_value("inf", 0, INFINITY);
    check_value("Infinity", 0, INFINITY);
    check_value("-INFINITY", 0, -INFINITY);
    check_value("100000000000000000000000000000000000001", 0,
                100000000000000000000000000000000000001.0);
    check_value("0.000000000000000000000000000000000000000000000000000000000000001", 0, 1e-63);
    /* What Go rejects, and what Prometheus rejects on top (hex floats and '_'). */
    const char *bad[] = { "",          "+",     "-",    ".",    "e5",    "1e",    "1e+",
                          "1e-",       "1.2.3", "1ee3", "--1",  "+-1",   "0x10",  "0x1p3",
                          "0X1P-2",    "1_000", "+NaN", "-nan", "nana",  "infin", "Infinit",
                          "infinityy", "1 ",    " 1",   "1,5",  "1e5.5", "∞",     "0b101",
                          "1f",        "1d",    "Inf1", "NaN1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_value(bad[i], TT_ESYNTAX, 0);
    /* NaN has Go's bits, so stored values match Prometheus's. */
    double v;
    uint64_t bits;
    assert_int_equal(promtext_parse_value("NaN", 3, &v), 0);
    memcpy(&bits, &v, 8);
    assert_int_equal(bits, 0x7FF8000000000001ull);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random decimals in every shape, fast-path ones and slow ones, against strtod. */
static void test_values_match_strtod(void **state)
{
    (void)state;
    uint64_t seed = 42;
    char s[128];
    for (int iter = 0; iter < 300000; iter++) {
        uint64_t r = splitmix(&seed);
        size_t n = 0;
        if (r & 1)
            s[n++] = (r & 2) ? '-' : '+';
        int kind = (int)((r >> 2) % 4);
        int ndig = kind == 0   ? 1 + (int)((r >> 8) % 17) /* fast-path sized */
                   : kind == 1 ? 15 + (int)((r >> 8) % 6) /* around the limits */
                               : 1 + (int)((r >> 8) % 40);
        int point = (int)((r >> 16) % (uint64_t)(ndig + 2)) - 1; /* -1: no point */
        for (int d = 0; d < ndig; d++) {
            if (d == point)
                s[n++] = '.';
            uint64_t x = splitmix(&seed);
            /* Some zeros runs, so trailing and leading zeros get exercised. */
            s[n++] = (char)('0' + ((x & 0x30) == 0 ? 0 : (int)(x % 10)));
        }
        if (point == ndig)
            s[n++] = '.';
        if ((r >> 24) & 1) {
            int e = kind == 0 ? (int)((r >> 32) % 61) - 30 : (int)((r >> 32) % 701) - 350;
            n += (size_t)snprintf(s + n, sizeof s - n, "%c%d", (r >> 25) & 1 ? 'e' : 'E', e);
        }
        s[n] = 0;
        char *end;
        double want = strtod(s, &end);
        assert_ptr_equal(end, s + n);
        double got = 0;
        int rc = promtext_parse_value(s, n, &got);
        if (isinf(want)) {
            if (rc != TT_ERANGE)
                fail_msg("\"%s\": rc %s, want TT_ERANGE", s, tt_err_name(rc));
            continue;
        }
        uint64_t a, b;
        memcpy(&a, &got, 8);
        memcpy(&b, &want, 8);
        if (rc != 0 || a != b)
            fail_msg("\"%s\": rc %s got %a, strtod %a", s, tt_err_name(rc), got, want);
    }
}

static void test_timestamps(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(promtext_parse_timestamp("0", 1, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(promtext_parse_timestamp("-5", 2, &t), 0);
    assert_int_equal(t, -5);
    assert_int_equal(promtext_parse_timestamp("+7", 2, &t), 0);
    assert_int_equal(t, 7);
    assert_int_equal(promtext_parse_timestamp("9223372036854775807", 19, &t), 0);
    assert_true(t == INT64_MAX);
    assert_int_equal(promtext_parse_timestamp("-9223372036854775808", 20, &t), 0);
    assert_true(t == INT64_MIN);
    assert_int_equal(promtext_parse_timestamp("9223372036854775808", 19, &t), TT_ERANGE);
    assert_int_equal(promtext_parse_timestamp("-9223372036854775809", 20, &t), TT_ERANGE);
    assert_int_equal(promtext_parse_timestamp("99999999999999999999999", 23, &t), TT_ERANGE);
    const char *bad[] = { "", "+", "-", "1.5", "1e3", "0x10", "1_000", "12a", " 1", "--1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(promtext_parse_timestamp(bad[i], strlen(bad[i]), &t), TT_ESYNTAX);
    /* Random digit strings of 1 to 21 bytes, some with one junk byte, against
     * strtoll (the 8-digit SWAR path and the overflow checks). */
    uint64_t seed = 7;
    char buf[32];
    for (int iter = 0; iter < 200000; iter++) {
        uint64_t r = splitmix(&seed);
        size_t n = 0, nd = 1 + (size_t)(r % 21);
        if ((r >> 8) % 4 == 0)
            buf[n++] = (r >> 10) & 1 ? '-' : '+';
        for (size_t k = 0; k < nd; k++)
            buf[n++] = (char)('0' + splitmix(&seed) % 10);
        int junk = (r >> 12) % 3 == 0;
        if (junk)
            buf[(r >> 16) % n] = "/:a. \x80"[(r >> 24) % 6];
        buf[n] = 0;
        int valid = 1;
        for (size_t k = 0; k < n; k++)
            if (!(buf[k] >= '0' && buf[k] <= '9') && !(k == 0 && (buf[k] == '+' || buf[k] == '-')))
                valid = 0;
        if (n == 1 && (buf[0] == '+' || buf[0] == '-'))
            valid = 0;
        errno = 0;
        char *end;
        long long want = strtoll(buf, &end, 10);
        int want_rc = !valid ? TT_ESYNTAX : errno == ERANGE ? TT_ERANGE : 0;
        t = 12345;
        int rc = promtext_parse_timestamp(buf, n, &t);
        if (rc != want_rc || (rc == 0 && t != want))
            fail_msg("\"%s\": rc %s t %" PRId64 ", want %s %lld", buf, tt_err_name(rc), t,
                     tt_err_name(want_rc), want);
    }
}

/* Names and values of every length up to 40, with the byte that ends them at
 * every position: the 16-byte scanners and their scalar tails agree. */
static void test_scanners_every_length_and_position(void **state)
{
    (void)state;
    static const char alpha[] = "aZ_:09yB";
    char line[256], want[256];
    struct rec r = { 0 };
    struct promtext_stats st;
    for (size_t n = 1; n <= 40; n++) {
        char name[64], lname[64];
        for (size_t k = 0; k < n; k++) {
            name[k] = k == 0 ? 'm' : alpha[k % 8];
            lname[k] = k == 0 ? 'l' : (alpha[k % 8] == ':' ? 'q' : alpha[k % 8]);
        }
        name[n] = lname[n] = 0;
        /* A metric name ended by a byte outside the alphabet. */
        static const char enders[] = "-./;@[^`~\x80\xff";
        for (size_t e = 0; e + 1 < sizeof enders; e++) {
            snprintf(line, sizeof line, "%s%c 1\n", name, enders[e]);
            assert_int_equal(run_doc(&r, line, NULL, &st), TT_ESYNTAX);
            snprintf(want, sizeof want, "E 1:%zu TT_ESYNTAX line 1, column %zu: unexpected", n + 1,
                     n + 1);
            if (strncmp(r.buf, want, strlen(want)) != 0)
                fail_msg("%s -> %s", line, r.buf);
        }
        /* A label name ended by '-', and a good one. */
        snprintf(line, sizeof line, "m{%s-=\"x\"} 1\n", lname);
        assert_int_equal(run_doc(&r, line, NULL, &st), TT_ESYNTAX);
        snprintf(want, sizeof want, "E 1:%zu TT_ESYNTAX line 1, column %zu: expected '=' after",
                 n + 3, n + 3);
        if (strncmp(r.buf, want, strlen(want)) != 0)
            fail_msg("%s -> %s", line, r.buf);
        snprintf(line, sizeof line, "%s{%s=\"x\"} 1\n", name, lname);
        assert_int_equal(run_doc(&r, line, NULL, &st), 0);
        assert_int_equal(st.samples, 1);
        /* A value of n bytes with an escape, or a 2-byte UTF-8 character, at
         * every position k. */
        for (size_t k = 0; k + 1 < n; k++) {
            char v[64], esc[80];
            memset(v, 'v', n);
            v[n] = 0;
            memcpy(esc, v, k);
            memcpy(esc + k, "\\\"", 2);
            memcpy(esc + k + 2, v + k + 2, n - k - 2 + 1);
            snprintf(line, sizeof line, "m{a=\"%s\",b=\"%.*s\xc3\xa9%s\"} 1\n", esc, (int)k, v,
                     v + k + 2);
            assert_int_equal(run_doc(&r, line, NULL, &st), 0);
            snprintf(want, sizeof want, "S1 m{a=\"%.*s\\x22%s\",b=\"%.*s\\xc3\\xa9%s\",} ", (int)k,
                     v, v + k + 2, (int)k, v, v + k + 2);
            if (strncmp(r.buf, want, strlen(want)) != 0)
                fail_msg("%s -> %s\nwant %s", line, r.buf, want);
            /* The same with an invalid byte instead: the column is exact. */
            snprintf(line, sizeof line, "m{a=\"%.*s\xff%s\"} 1\n", (int)k, v, v + k + 1);
            assert_int_equal(run_doc(&r, line, NULL, &st), TT_ESYNTAX);
            snprintf(want, sizeof want, "E 1:%zu TT_ESYNTAX line 1, column %zu: invalid UTF-8",
                     k + 6, k + 6);
            if (strncmp(r.buf, want, strlen(want)) != 0)
                fail_msg("%s -> %s", line, r.buf);
        }
    }
    rec_free(&r);
}

/* ---- errors ------------------------------------------------------------------- */

struct bad_case {
    const char *line;
    const char *msg; /* the whole message for line 3 */
    int code;
};

static void test_errors_name_line_and_column(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        { "foo{job=\"x\" 1",
          "line 3, column 13: expected ',' or '}' after the value of label \"job\", found '1'" },
        { "foo{job \"x\"} 1",
          "line 3, column 9: expected '=' after label name \"job\", found '\\\"'" },
        { "foo{job=x} 1",
          "line 3, column 9: expected '\"' to start the value of label \"job\", found 'x'" },
        { "foo{job=\"x} 1",
          "line 3, column 9: unterminated value of label \"job\" (no closing '\"')" },
        { "foo{job=\"x\\\\\\\"} 1",
          "line 3, column 9: unterminated value of label \"job\" (no closing '\"')" },
        { "foo{job=\"x\\",
          "line 3, column 9: unterminated value of label \"job\" (no closing '\"')" },
        { "foo{1a=\"x\"} 1", "line 3, column 5: expected label name or '}', found '1'" },
        { "foo{a=\"x\",,} 1", "line 3, column 11: expected label name or '}', found ','" },
        { "foo{a=\"x\"", "line 3, column 10: expected ',' or '}' after the value of label \"a\", "
                         "found end of line" },
        { "foo{", "line 3, column 5: expected label name or '}', found end of line" },
        { "foo bar", "line 3, column 5: invalid value \"bar\" (want a float such as 12, -1.5e-3, "
                     "NaN or +Inf)" },
        { "foo", "line 3, column 4: expected a value after the metric name" },
        { "foo   ", "line 3, column 7: expected a value after the metric name" },
        { "foo{a=\"b\"}", "line 3, column 11: expected a value after the label set" },
        { "foo{} ", "line 3, column 7: expected a value after the label set" },
        { "foo 1 2 3", "line 3, column 9: unexpected text \"3\" after the timestamp" },
        { "foo 1 1.5",
          "line 3, column 7: invalid timestamp \"1.5\" (want integer milliseconds since the "
          "epoch)" },
        { "foo 1 99999999999999999999",
          "line 3, column 7: timestamp \"99999999999999999999\" is out of range for int64" },
        { "foo 1e400", "line 3, column 5: value \"1e400\" is out of range for a double" },
        { "foo 0x1p3",
          "line 3, column 5: invalid value \"0x1p3\" (want a float such as 12, -1.5e-3, NaN or "
          "+Inf)" },
        { "foo-bar 1", "line 3, column 4: unexpected '-' in metric name \"foo\"" },
        { "1foo 1", "line 3, column 1: expected metric name, found '1'" },
        { "{a=\"b\"} 1", "line 3, column 1: expected metric name before '{' (quoted UTF-8 names "
                         "are not supported)" },
        { "# TYPE foo blah", "line 3, column 12: unknown metric type \"blah\" (want counter, "
                             "gauge, histogram, summary or untyped)" },
        { "# TYPE foo", "line 3, column 11: expected metric type after TYPE \"foo\"" },
        { "# TYPE foo  ", "line 3, column 13: expected metric type after TYPE \"foo\"" },
        { "# TYPE 1foo counter", "line 3, column 8: expected metric name after TYPE, found '1'" },
        { "# HELP  ", "line 3, column 9: expected metric name after HELP, found end of line" },
        { "# HELP a-b text", "line 3, column 9: unexpected '-' in metric name \"a\"" },
        { "# TYPE foo counter extra",
          "line 3, column 20: unexpected text \"extra\" after the metric type" },
        { "foo{a=\"1\",a=\"2\"} 1", "line 3, column 11: duplicate label name \"a\"" },
        { "foo{__name__=\"x\"} 1", "line 3, column 5: label name \"__name__\" is reserved" },
        { "foo{a=\"\\t\"} 1",
          "line 3, column 8: invalid escape sequence '\\t' in the value of label \"a\" (valid: "
          "\\\\, \\\", \\n)" },
        { "foo{a=\"ok\\n\\x\"} 1",
          "line 3, column 12: invalid escape sequence '\\x' in the value of label \"a\" (valid: "
          "\\\\, \\\", \\n)" },
        { "foo{a=\"ab\xff\"} 1", "line 3, column 10: invalid UTF-8 in the value of label \"a\"" },
        { "foo{a=\"\xed\xa0\x80\"} 1",
          "line 3, column 8: invalid UTF-8 in the value of label \"a\"" },
        { "foo{a=\"\xc0\xaf\"} 1", "line 3, column 8: invalid UTF-8 in the value of label \"a\"" },
        { "foo{a=\"\xe2\x9c\"} 1", "line 3, column 8: invalid UTF-8 in the value of label \"a\"" },
        { "foo{a=\"\\n\xf4\x90\x80\x80\"} 1",
          "line 3, column 7: invalid UTF-8 in the value of label \"a\"" },
        { "foo 1 # {trace_id=\"1\"} 2",
          "line 3, column 7: invalid timestamp \"#\" (want integer milliseconds since the epoch)" },
        { "foo\x01 1", "line 3, column 4: unexpected '\\x01' in metric name \"foo\"" },
        { "foo 1\r\r", "line 3, column 5: invalid value \"1\\x0d\" (want a float such as 12, "
                       "-1.5e-3, NaN or +Inf)" },
    };
    struct rec r = { 0 };
    char doc[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(doc, sizeof doc, "ok 1\n# fine\n%s\nafter 2\n", cases[i].line);
        for (int mode = 0; mode < 2; mode++) {
            struct promtext_opts o = { .flags = mode ? PROMTEXT_SKIP_BAD_LINES : 0 };
            struct promtext p;
            struct promtext_callbacks cb = rec_cb;
            cb.ctx = &r;
            r.len = 0;
            assert_int_equal(promtext_init(&p, &o, &cb), 0);
            int rc = promtext_feed(&p, doc, strlen(doc));
            if (rc == 0)
                rc = promtext_finish(&p);
            if (strcmp(p.err.msg, cases[i].msg) != 0)
                fail_msg("case %zu: %s\n got: %s\nwant: %s", i, cases[i].line, p.err.msg,
                         cases[i].msg);
            assert_int_equal(p.err.line, 3);
            assert_int_equal(p.stats.bad_lines, 1);
            if (mode == 0) {
                assert_int_equal(rc, TT_ESYNTAX);
                assert_int_equal(p.stats.samples, 1);
                /* Sticky: later calls say the same. */
                assert_int_equal(promtext_feed(&p, "x 1\n", 4), TT_ESYNTAX);
                assert_int_equal(promtext_finish(&p), TT_ESYNTAX);
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(p.stats.samples, 2); /* "ok" and "after", nothing of line 3 */
            }
            promtext_release(&p);
        }
    }
    rec_free(&r);
}

static void test_limits(void **state)
{
    (void)state;
    struct rec r = { 0 };
    struct promtext_stats st;
    struct promtext_opts o = {
        .max_line_bytes = 30, .max_labels = 2, .max_name_bytes = 5, .max_value_bytes = 3
    };
    /* Exactly at each limit is fine. */
    assert_int_equal(run_doc(&r, "abcde{a=\"xyz\"} 1\r\nm{a=\"1\",b=\"2\"} 1\n", &o, NULL), 0);
    assert_int_equal(run_doc(&r, "x{a=\"\\\\\\\\\\\\\"} 1\n", &o, NULL), 0); /* 3 unescaped */
    static const struct {
        const char *doc, *msg;
    } cases[] = {
        { "abcdef 1\n", "line 1, column 1: metric name longer than the limit of 5 bytes" },
        { "a{abcdef=\"1\"} 1\n", "line 1, column 3: label name longer than the limit of 5 bytes" },
        { "a{a=\"1234\"} 1\n",
          "line 1, column 5: value of label \"a\" longer than the limit of 3 bytes" },
        { "a{a=\"1\",b=\"2\",c=\"3\"} 1\n", "line 1, column 15: more labels than the limit of 2" },
        { "a 1 123456789012345678901234567\n",
          "line 1, column 31: line longer than the limit of 30 bytes" },
        { "# HELP abcdef x\n", "line 1, column 8: metric name longer than the limit of 5 bytes" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(run_doc(&r, cases[i].doc, &o, NULL), TT_ETOOBIG);
        char want[300];
        /* The column in the E line is the number after "column ". */
        const char *c = strstr(cases[i].msg, "column ") + 7;
        snprintf(want, sizeof want, "E 1:%.*s TT_ETOOBIG %s\nrc=TT_ETOOBIG bad=1 eof=0\n",
                 (int)strcspn(c, ":"), c, cases[i].msg);
        assert_string_equal(r.buf, want);
    }
    /* Over-long lines in skip mode, cut anywhere by chunk boundaries. */
    o.flags = PROMTEXT_SKIP_BAD_LINES;
    const char *doc =
        "a 1\nlong_line_here 1 1234567890123456\nb 2\nc 3 12345678901234567890123456789\nd 4";
    size_t n = strlen(doc);
    struct rec ref = { 0 };
    assert_int_equal(run_split(&ref, doc, n, &o, n, n, &st), 0);
    assert_int_equal(st.bad_lines, 2);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.lines, 5);
    assert_non_null(strstr(ref.buf, "E 2:31 TT_ETOOBIG line 2, column 31: line longer"));
    assert_non_null(strstr(ref.buf, "E 4:31 TT_ETOOBIG line 4, column 31: line longer"));
    assert_non_null(strstr(ref.buf, "S5 d{}"));
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b++) {
            run_split(&r, doc, n, &o, a, b, NULL);
            if (strcmp(r.buf, ref.buf) != 0)
                fail_msg("split %zu/%zu:\n%s\nwant:\n%s", a, b, r.buf, ref.buf);
        }
    rec_free(&ref);
    rec_free(&r);
}

static void test_skip_mode_counts_bad_lines(void **state)
{
    (void)state;
    struct rec r = { 0 };
    struct promtext_stats st;
    struct promtext_opts o = { .flags = PROMTEXT_SKIP_BAD_LINES };
    const char *doc = "a 1\nb{ 2\nc 3\n# TYPE d nope\n# TYPE d gauge\nd x\nd 4\n";
    assert_int_equal(run_doc(&r, doc, &o, &st), 0);
    assert_string_equal(r.buf,
                        "S1 a{} 0x1p+0/3ff0000000000000\n"
                        "E 2:4 TT_ESYNTAX line 2, column 4: expected label name or '}', found '2'\n"
                        "S3 c{} 0x1.8p+1/4008000000000000\n"
                        "E 4:10 TT_ESYNTAX line 4, column 10: unknown metric type \"nope\" (want "
                        "counter, gauge, histogram, summary or untyped)\n"
                        "T d type=gauge help=none:\"\"\n"
                        "E 6:3 TT_ESYNTAX line 6, column 3: invalid value \"x\" (want a float such "
                        "as 12, -1.5e-3, NaN or +Inf)\n"
                        "S7 d{} 0x1p+2/4010000000000000 fam=d type=gauge help=none:\"\"\n"
                        "rc=TT_OK bad=3 eof=0\n");
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.bad_lines, 3);
    /* The parser's err keeps the first bad line. */
    struct promtext_error e;
    assert_int_equal(promtext_parse(doc, strlen(doc), &o, NULL, &st, &e), 0);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.column, 4);
    assert_int_equal(e.code, TT_ESYNTAX);
    assert_int_equal(st.bad_lines, 3);
    /* Stop mode with the same document stops at line 2. */
    assert_int_equal(promtext_parse(doc, strlen(doc), NULL, NULL, &st, &e), TT_ESYNTAX);
    assert_int_equal(st.samples, 1);
    assert_int_equal(e.line, 2);
    rec_free(&r);
}

static int stop_on_error(void *ctx, const struct promtext_error *e)
{
    (void)ctx;
    (void)e;
    return TT_EINVAL;
}

static void test_callbacks_stop_parsing(void **state)
{
    (void)state;
    struct rec r = { .stop_after = 2 };
    struct promtext_stats st;
    const char *doc = "a 1\nb 2\nc 3\n";
    struct promtext p;
    struct promtext_callbacks cb = rec_cb;
    cb.ctx = &r;
    assert_int_equal(promtext_init(&p, NULL, &cb), 0);
    assert_int_equal(promtext_feed(&p, doc, strlen(doc)), TT_EFULL);
    assert_int_equal(promtext_feed(&p, doc, strlen(doc)), TT_EFULL);
    assert_int_equal(promtext_finish(&p), TT_EFULL);
    assert_int_equal(r.nsamples, 2);
    promtext_release(&p);
    /* on_error can stop skip mode. */
    struct promtext_opts o = { .flags = PROMTEXT_SKIP_BAD_LINES };
    struct promtext_callbacks cb2 = { .on_error = stop_on_error };
    assert_int_equal(promtext_parse("a 1\nb x\nc 3\n", 12, &o, &cb2, &st, NULL), TT_EINVAL);
    assert_int_equal(st.samples, 1);
    /* Feeding after finish is a state error; finish again repeats the result. */
    assert_int_equal(promtext_init(&p, NULL, NULL), 0);
    assert_int_equal(promtext_feed(&p, "a 1", 3), 0);
    assert_int_equal(p.stats.samples, 0); /* no newline yet */
    assert_int_equal(promtext_finish(&p), 0);
    assert_int_equal(p.stats.samples, 1);
    assert_int_equal(promtext_feed(&p, "b 2\n", 4), TT_ESTATE);
    assert_int_equal(promtext_finish(&p), 0);
    promtext_release(&p);
    promtext_release(&p); /* safe on a released parser */
    assert_int_equal(promtext_init(NULL, NULL, NULL), TT_EINVAL);
    rec_free(&r);
}

/* ---- streaming ------------------------------------------------------------------- */

static const char split_doc[] =
    "# HELP http_requests_total The total number of HTTP requests.\\nSecond \\\\ line\n"
    "# TYPE http_requests_total counter\r\n"
    "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
    "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
    "\r\n"
    "# Escaping in label values:\n"
    "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
    "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
    "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
    "bad line here\n"
    "# TYPE http_request_duration_seconds histogram\n"
    "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n"
    "http_request_duration_seconds_bucket{le=\"+Inf\",} 144320\n"
    "http_request_duration_seconds_sum 53423.123456789012345678\n"
    "http_request_duration_seconds_count 144320\n"
    "\t metric_without_timestamp_and_labels\t12.47  \r\n"
    "utf8{v=\"h\xc3\xa9llo \xe2\x9c\x93\"} NaN\n"
    "a{x=\"1\\n\",y=\"\\\\2\",z=\"3\"} -1e-5 -1\n"
    "# EOF\n"
    "last_line_no_newline{a=\"\"} -0";

static void test_every_chunk_split_gives_same_result(void **state)
{
    (void)state;
    struct rec ref = { 0 }, r = { 0 };
    struct promtext_stats st;
    struct promtext_opts o = { .flags = PROMTEXT_SKIP_BAD_LINES };
    size_t n = sizeof split_doc - 1;
    assert_int_equal(run_split(&ref, split_doc, n, &o, n, n, &st), 0);
    assert_int_equal(st.samples, 12);
    assert_int_equal(st.bad_lines, 1);
    assert_int_equal(st.eof_marker, 1);
    assert_non_null(strstr(ref.buf, "E 9:5 TT_ESYNTAX line 9, column 5: invalid value \"line\""));
    assert_non_null(strstr(ref.buf, "S19 last_line_no_newline{a=\"\",} -0x0p+0/8000000000000000"));
    assert_non_null(strstr(ref.buf, "} 0x1.a15e3f35ba6e9p+15/40ea15e3f35ba6e9"));
    /* One cut at every byte offset, then two cuts at a grid of offset pairs. */
    for (size_t a = 0; a <= n; a++) {
        run_split(&r, split_doc, n, &o, a, a, NULL);
        if (strcmp(r.buf, ref.buf) != 0)
            fail_msg("split at %zu:\n%s\nwant:\n%s", a, r.buf, ref.buf);
    }
    for (size_t a = 0; a <= n; a += 5)
        for (size_t b = a; b <= n; b += 13) {
            run_split(&r, split_doc, n, &o, a, b, NULL);
            if (strcmp(r.buf, ref.buf) != 0)
                fail_msg("split %zu/%zu:\n%s\nwant:\n%s", a, b, r.buf, ref.buf);
        }
    /* One byte at a time, in stop mode: stops at line 9 with the same prefix. */
    struct promtext p;
    struct promtext_callbacks cb = rec_cb;
    cb.ctx = &r;
    r.len = 0;
    assert_int_equal(promtext_init(&p, NULL, &cb), 0);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = promtext_feed(&p, split_doc + i, 1);
    assert_int_equal(rc, TT_ESYNTAX);
    assert_int_equal(p.err.line, 9);
    assert_int_equal(p.err.column, 5);
    const char *cut = strstr(ref.buf, "E 9:5");
    assert_non_null(cut);
    size_t pre = (size_t)(strchr(cut, '\n') + 1 - ref.buf);
    assert_true(r.len == pre && memcmp(r.buf, ref.buf, pre) == 0);
    promtext_release(&p);
    rec_free(&ref);
    rec_free(&r);
}

/* ---- the real node_exporter recording ---------------------------------------------- */

struct tally {
    uint64_t samples, with_type, with_ts, labels;
    double sum;
    int64_t ts_min, ts_max;
};

static int tally_sample(void *ctx, const struct promtext_sample *s)
{
    struct tally *t = ctx;
    t->samples++;
    t->with_type += s->family && s->family->has_type;
    t->labels += s->nlabels;
    if (s->has_timestamp) {
        t->with_ts++;
        if (t->samples == 1 || s->timestamp_ms < t->ts_min)
            t->ts_min = s->timestamp_ms;
        if (t->samples == 1 || s->timestamp_ms > t->ts_max)
            t->ts_max = s->timestamp_ms;
    }
    if (!isnan(s->value))
        t->sum += s->value;
    return 0;
}

static char *read_node_exporter(size_t *len)
{
    const char *f = __FILE__, *slash = strrchr(f, '/');
    char path[4096], cmd[4200];
    snprintf(path, sizeof path, "%.*s/../../../shared/data/node-exporter/nodeexp-1s-600s.prom.zst",
             slash ? (int)(slash - f) : 1, slash ? f : ".");
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return NULL;
    fclose(probe);
    if (system("command -v zstd >/dev/null 2>&1") != 0)
        return NULL;
    snprintf(cmd, sizeof cmd, "zstd -dc -- '%s'", path);
    FILE *in = popen(cmd, "r");
    if (!in)
        return NULL;
    size_t cap = 32u << 20, n = 0, got;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((got = fread(buf + n, 1, cap - n, in)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    assert_int_equal(pclose(in), 0);
    *len = n;
    return buf;
}

/* ---- series text and repeated series ----------------------------------------- */

static int on_sample_series(void *ctx, const struct promtext_sample *s)
{
    struct rec *r = ctx;
    rec_printf(r, "[");
    rec_bytes(r, s->series, s->series_len);
    rec_printf(r, "] ");
    rec_bytes(r, s->name, s->name_len);
    for (size_t i = 0; i < s->nlabels; i++) {
        rec_printf(r, " ");
        rec_bytes(r, s->labels[i].name, s->labels[i].name_len);
        rec_printf(r, "=");
        rec_bytes(r, s->labels[i].value, s->labels[i].value_len);
    }
    rec_printf(r, " %a %" PRId64 "\n", s->value, s->timestamp_ms);
    return 0;
}

static int on_error_quiet(void *ctx, const struct promtext_error *e)
{
    rec_printf(ctx, "E %zu %s\n", e->column, e->msg + strcspn(e->msg, ":"));
    return 0;
}

/* series/series_len is the name and label set as written, and a line
 * repeating the last series (whose labels are then not parsed again) gives
 * exactly what a fresh parser gives for that line alone. */
static void test_series_text_and_repeats(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "a{x=\"1\",y=\"2\"} 1 10",
        "a{x=\"1\",y=\"2\"} 2 20",
        "a{x=\"1\",y=\"2\"}3 30",
        "a{x=\"1\",y=\"2\"} 4",
        "a{x=\"1\",y=\"2\"} bad 50",
        "a{x=\"1\",y=\"2\"} 6 60",
        "a{x=\"1\",y=\"2\",z=\"3\"} 7 70",
        "a{x=\"1\",y=\"2\"} 8 80",
        "a{x=\"1\",y=\"2\"}} 9 90",
        "a{x=\"1\",y=\"2\"} 10 100",
        "a{x=\"1\" , y=\"2\"} 11 110",
        "a{x=\"q\\\"\\n\",y=\"\\\\\"} 12 120",
        "a{x=\"q\\\"\\n\",y=\"\\\\\"} 13 130",
        "a{x=\"\xc3\xa9\"} 14 140",
        "a{x=\"\xc3\xa9\"} 15 150",
        "a{x=\"\xc3\xa9\",y=\"oops} 16 160",
        "a{x=\"\xc3\xa9\"} 17 170",
        "b 18 180",
        "b 19 190",
        "bc 20 200",
        "b {x=\"1\"} 21 210",
        "b{} 22 220",
        "b{} 23 230",
    };
    size_t nl = sizeof lines / sizeof lines[0];
    struct promtext_opts o = { 0 };
    o.flags = PROMTEXT_SKIP_BAD_LINES;
    struct promtext_callbacks cb = { on_sample_series, NULL, NULL, on_error_quiet, NULL };
    struct rec whole = { 0 }, alone = { 0 };
    struct promtext p;
    cb.ctx = &whole;
    assert_int_equal(promtext_init(&p, &o, &cb), 0);
    for (size_t i = 0; i < nl; i++) {
        /* Fed line by line, split in the middle: carry and direct paths. */
        size_t n = strlen(lines[i]);
        assert_int_equal(promtext_feed(&p, lines[i], n / 2), 0);
        assert_int_equal(promtext_feed(&p, lines[i] + n / 2, n - n / 2), 0);
        assert_int_equal(promtext_feed(&p, "\n", 1), 0);
    }
    assert_int_equal(promtext_finish(&p), 0);
    assert_int_equal(p.stats.bad_lines, 3);
    promtext_release(&p);
    cb.ctx = &alone;
    for (size_t i = 0; i < nl; i++) {
        assert_int_equal(promtext_init(&p, &o, &cb), 0);
        assert_int_equal(promtext_feed(&p, lines[i], strlen(lines[i])), 0);
        assert_int_equal(promtext_finish(&p), 0);
        promtext_release(&p);
    }
    assert_string_equal(whole.buf, alone.buf);
    assert_non_null(strstr(whole.buf, "[a{x=\\x221\\x22,y=\\x222\\x22}] a x=1 y=2 0x1.8p+1 30\n"));
    assert_non_null(strstr(whole.buf, "[b] b 0x1.3p+4 190\n"));
    assert_non_null(strstr(whole.buf, "[b {x=\\x221\\x22}] b x=1 "));
    rec_free(&whole);
    rec_free(&alone);
}

static void test_node_exporter_recording(void **state)
{
    (void)state;
    size_t len = 0;
    char *buf = read_node_exporter(&len);
    if (!buf) {
        skip();
        return;
    }
    struct tally whole = { 0 };
    struct promtext_callbacks cb = { .on_sample = tally_sample, .ctx = &whole };
    struct promtext_stats st;
    struct promtext_error e;
    int rc = promtext_parse(buf, len, NULL, &cb, &st, &e);
    if (rc)
        fail_msg("%s: %s", tt_err_name(rc), e.msg);
    assert_int_equal(st.samples, 304707);
    assert_int_equal(whole.samples, 304707);
    assert_int_equal(whole.with_ts, 304707);
    assert_int_equal(st.bad_lines, 0);
    assert_int_equal(st.bytes, len);
    assert_true(whole.with_type > 0);
    assert_true(whole.ts_max - whole.ts_min >= 599000 && whole.ts_max - whole.ts_min < 601000);
    /* Odd-sized chunks give the same samples. */
    struct tally chunked = { 0 };
    struct promtext p;
    cb.ctx = &chunked;
    assert_int_equal(promtext_init(&p, NULL, &cb), 0);
    for (size_t off = 0; off < len; off += 4093)
        assert_int_equal(promtext_feed(&p, buf + off, len - off < 4093 ? len - off : 4093), 0);
    assert_int_equal(promtext_finish(&p), 0);
    promtext_release(&p);
    assert_int_equal(chunked.samples, whole.samples);
    assert_int_equal(chunked.with_type, whole.with_type);
    assert_int_equal(chunked.labels, whole.labels);
    assert_true(chunked.sum == whole.sum);
    free(buf);
}

UNIT_TESTS(cmocka_unit_test(test_basic_document), cmocka_unit_test(test_series_text_and_repeats),
           cmocka_unit_test(test_whitespace_crlf_and_trailing_comma),
           cmocka_unit_test(test_label_escapes_and_utf8),
           cmocka_unit_test(test_help_type_and_families), cmocka_unit_test(test_comments_and_eof),
           cmocka_unit_test(test_values_go_syntax), cmocka_unit_test(test_values_match_strtod),
           cmocka_unit_test(test_timestamps),
           cmocka_unit_test(test_scanners_every_length_and_position),
           cmocka_unit_test(test_errors_name_line_and_column), cmocka_unit_test(test_limits),
           cmocka_unit_test(test_skip_mode_counts_bad_lines),
           cmocka_unit_test(test_callbacks_stop_parsing),
           cmocka_unit_test(test_every_chunk_split_gives_same_result),
           cmocka_unit_test(test_node_exporter_recording))
