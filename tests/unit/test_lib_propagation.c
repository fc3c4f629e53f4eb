/* test_lib_propagation.c - W3C traceparent and tracestate (lib/propagation.c):
 * the spec's examples, every rejection rule with its message, round trips,
 * and Telltale's HLC entry in tracestate. */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"

#define SPEC_TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int parse(const char *s, tt_span_context *ctx, char *err, size_t errlen)
{
    return tt_traceparent_parse(s, strlen(s), ctx, err, errlen);
}

/* expect_bad parses s, expects TT_ESYNTAX and a message containing want. */
static void expect_bad(const char *s, const char *want)
{
    tt_span_context ctx;
    memset(&ctx, 0x5a, sizeof ctx);
    tt_span_context before = ctx;
    char err[160] = "";
    int rc = parse(s, &ctx, err, sizeof err);
    if (rc != TT_ESYNTAX || !strstr(err, want))
        fail_msg("input \"%s\": rc %d, message \"%s\", wanted \"%s\"", s, rc, err, want);
    assert_memory_equal(&ctx, &before, sizeof ctx); /* untouched on failure */
}

static void test_traceparent_spec_example(void **state)
{
    (void)state;
    static const uint8_t tid[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                     0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
    tt_span_context ctx;
    memset(&ctx, 0x77, sizeof ctx);
    char err[128] = "";
    assert_int_equal(parse(SPEC_TP, &ctx, err, sizeof err), 0);
    assert_memory_equal(ctx.trace_id, tid, 16);
    assert_true(ctx.span_id == UINT64_C(0x00f067aa0ba902b7));
    assert_int_equal(ctx.flags, TT_FLAG_SAMPLED);
    assert_int_equal(ctx.remote, 1);
    assert_true(ctx.hlc == 0);

    /* The spec's not-sampled example. */
    assert_int_equal(
        parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &ctx, err, sizeof err), 0);
    assert_int_equal(ctx.flags, 0);
    /* Unknown flag bits are kept as received. */
    assert_int_equal(
        parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", &ctx, err, sizeof err), 0);
    assert_int_equal(ctx.flags, 0xff);
    /* The length given is what counts, not a NUL. */
    char buf[80];
    snprintf(buf, sizeof buf, "%sXYZ", SPEC_TP);
    assert_int_equal(tt_traceparent_parse(buf, TT_TRACEPARENT_LEN, &ctx, NULL, 0), 0);
}

static void test_traceparent_rejects_case_and_version(void **state)
{
    (void)state;
    expect_bad("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
               "position 4: trace-id must be 32 lowercase hex digits");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01",
               "position 38: parent-id must be 16 lowercase hex digits");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
               "position 54: trace-flags must be 2 lowercase hex digits");
    expect_bad("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
               "position 1: version must be 2 lowercase hex digits");
    expect_bad("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
               "position 0: version ff is invalid");
    expect_bad("ff", "version ff is invalid");
}

static void test_traceparent_rejects_zero_ids(void **state)
{
    (void)state;
    expect_bad("00-00000000000000000000000000000000-00f067aa0ba902b7-01",
               "position 3: trace-id must not be all zeros");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
               "position 36: parent-id must not be all zeros");
}

static void test_traceparent_rejects_length(void **state)
{
    (void)state;
    expect_bad("", "position 0: too short");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
               "position 54: too short (55 characters expected, got 54)");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736", "position 35: too short");
    expect_bad(SPEC_TP "-", "position 55: version 00 must be exactly 55 characters, got 56");
    expect_bad(SPEC_TP "0", "version 00 must be exactly 55 characters");
    /* A bad byte in a short header is reported before the length. */
    expect_bad("00-4bf92f3577bx", "position 14: trace-id");
    /* NULL with no length is an empty header. */
    tt_span_context ctx;
    char err[64];
    assert_int_equal(tt_traceparent_parse(NULL, 0, &ctx, err, sizeof err), TT_ESYNTAX);
    assert_int_equal(tt_traceparent_parse(SPEC_TP, 55, NULL, err, sizeof err), TT_EINVAL);
}

static void test_traceparent_rejects_separators_and_hex(void **state)
{
    (void)state;
    expect_bad("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
               "position 2: expected '-' after version");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
               "position 35: expected '-' after trace-id");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7.01",
               "position 52: expected '-' after parent-id");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
               "position 34: trace-id must be 32 lowercase hex digits");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902z7-01",
               "position 50: parent-id must be 16 lowercase hex digits");
    expect_bad(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "position 0: version");
    expect_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
               "version 00 must be exactly 55 characters");
    /* A NUL inside the given length is a bad byte. */
    char buf[64];
    memcpy(buf, SPEC_TP, 56);
    buf[10] = '\0';
    tt_span_context ctx;
    char err[128] = "";
    assert_int_equal(tt_traceparent_parse(buf, 55, &ctx, err, sizeof err), TT_ESYNTAX);
    assert_non_null(strstr(err, "position 10: trace-id"));
}

static void test_traceparent_future_versions(void **state)
{
    (void)state;
    tt_span_context ctx;
    char err[128] = "";
    /* A higher version parses the same first 55 characters ... */
    assert_int_equal(
        parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &ctx, err, sizeof err), 0);
    assert_true(ctx.span_id == UINT64_C(0x00f067aa0ba902b7));
    /* ... and ignores a tail that starts with '-'. */
    assert_int_equal(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever",
                           &ctx, err, sizeof err),
                     0);
    assert_int_equal(ctx.flags, 1);
    assert_int_equal(
        parse("fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-", &ctx, err, sizeof err),
        0);
    /* Without the '-' after the flags, it is invalid. */
    expect_bad("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
               "position 55: expected '-' after trace-flags");
    expect_bad("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
               "position 55: expected '-' after trace-flags");
    /* Still strict on the first 55 characters. */
    expect_bad("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-tail",
               "position 54: trace-flags");
    expect_bad("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "too short");
}

static void test_traceparent_round_trip(void **state)
{
    (void)state;
    tt_span_context ctx, back;
    memset(&ctx, 0, sizeof ctx);
    for (int i = 0; i < 16; i++)
        ctx.trace_id[i] = (uint8_t)(i * 17 + 1);
    ctx.span_id = UINT64_C(0x0102030405060708);
    ctx.flags = TT_FLAG_SAMPLED;
    char out[TT_TRACEPARENT_LEN + 1];
    assert_int_equal(tt_traceparent_format(&ctx, out, sizeof out), 0);
    assert_string_equal(out, "00-0112233445566778899aabbccddeef00-0102030405060708-01");
    assert_int_equal(tt_traceparent_parse(out, strlen(out), &back, NULL, 0), 0);
    assert_memory_equal(back.trace_id, ctx.trace_id, 16);
    assert_true(back.span_id == ctx.span_id);
    assert_int_equal(back.flags, ctx.flags);

    /* The spec example formats back to itself. */
    assert_int_equal(parse(SPEC_TP, &back, NULL, 0), 0);
    back.flags = 0x01;
    assert_int_equal(tt_traceparent_format(&back, out, sizeof out), 0);
    assert_string_equal(out, SPEC_TP);

    /* Level 1 sends only the sampled bit. */
    back.flags = 0xfe;
    assert_int_equal(tt_traceparent_format(&back, out, sizeof out), 0);
    assert_string_equal(out + 53, "00");

    /* Invalid ids and short buffers. */
    assert_int_equal(tt_traceparent_format(&ctx, out, TT_TRACEPARENT_LEN), TT_EINVAL);
    ctx.span_id = 0;
    assert_int_equal(tt_traceparent_format(&ctx, out, sizeof out), TT_EINVAL);
    ctx.span_id = 1;
    memset(ctx.trace_id, 0, 16);
    assert_int_equal(tt_traceparent_format(&ctx, out, sizeof out), TT_EINVAL);
    ctx.trace_id[15] = 1;
    assert_int_equal(tt_traceparent_format(&ctx, out, sizeof out), 0);
    assert_string_equal(out, "00-00000000000000000000000000000001-0000000000000001-01");
    assert_int_equal(tt_traceparent_format(NULL, out, sizeof out), TT_EINVAL);
}

/* ---- tracestate ------------------------------------------------------------ */

static int get(const char *s, tt_hlc *h, char *err, size_t errlen)
{
    return tt_tracestate_get_hlc(s, strlen(s), h, err, errlen);
}

static void expect_ts_bad(const char *s, const char *want)
{
    tt_hlc h = 42;
    char err[200] = "";
    int rc = get(s, &h, err, sizeof err);
    if (rc != TT_ESYNTAX || !strstr(err, want))
        fail_msg("input \"%s\": rc %d, message \"%s\", wanted \"%s\"", s, rc, err, want);
    assert_true(h == 42);
}

static void test_tracestate_finds_ours(void **state)
{
    (void)state;
    tt_hlc h = 0;
    char err[128] = "";
    assert_int_equal(get("tt=0123456789abcdef", &h, err, sizeof err), 0);
    assert_true(h == UINT64_C(0x0123456789abcdef));
    assert_int_equal(
        get("rojo=00f067aa0ba902b7,tt=00000000000000ff,congo=t61rcWkgMzE", &h, err, sizeof err), 0);
    assert_true(h == 0xff);
    assert_int_equal(
        get(" \tcongo=t61rcWkgMzE ,\t tt=ffffffffffffffff\t, rojo=1 ", &h, err, sizeof err), 0);
    assert_true(h == UINT64_MAX);
    /* Empty members are skipped. */
    assert_int_equal(get(",, ,tt=0000000000000001,,", &h, err, sizeof err), 0);
    assert_true(h == 1);
    /* Keys that merely start with or contain "tt" are not ours. */
    h = 7;
    assert_int_equal(
        get("ttx=0000000000000001,x@tt=0000000000000002,tt@sys=1", &h, err, sizeof err),
        TT_ENOTFOUND);
    assert_true(h == 7);
    /* The spec's examples, without our entry. */
    assert_int_equal(get("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", &h, err, sizeof err),
                     TT_ENOTFOUND);
    assert_int_equal(
        get("fw529a3039@dt=value with spaces,t/x*y_z-1=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~", &h, err,
            sizeof err),
        TT_ENOTFOUND);
    assert_int_equal(get("", &h, err, sizeof err), TT_ENOTFOUND);
    assert_int_equal(get(" , ,\t", &h, err, sizeof err), TT_ENOTFOUND);
    assert_int_equal(tt_tracestate_get_hlc(NULL, 0, &h, err, sizeof err), TT_ENOTFOUND);
}

static void test_tracestate_our_entry_malformed(void **state)
{
    (void)state;
    expect_ts_bad("a=1,tt=0123456789ABCDEF", "position 7: tt value must be 16 lowercase hex");
    expect_ts_bad("tt=0123456789abcde", "tt value must be 16 lowercase hex digits");
    expect_ts_bad("tt=0123456789abcdef0", "tt value must be 16 lowercase hex digits");
    expect_ts_bad("tt=0123456789abcdeg", "tt value must be 16 lowercase hex digits");
    expect_ts_bad("tt= 0123456789abcde", "tt value");
}

static void test_tracestate_malformed_lists(void **state)
{
    (void)state;
    expect_ts_bad("rojo", "position 0: list member has no '='");
    expect_ts_bad("a=1, rojo ,b=2", "position 5: list member has no '='");
    expect_ts_bad("=1", "position 0: empty key");
    expect_ts_bad("a=", "position 2: empty value");
    expect_ts_bad("a= ", "position 2: empty value");
    expect_ts_bad("Rojo=1", "position 0: key must start with a lowercase letter");
    expect_ts_bad("1abc=1", "key must start with a lowercase letter");
    expect_ts_bad("ro jo=1", "position 2: key may hold only");
    expect_ts_bad("rojo =1", "position 4: key may hold only");
    expect_ts_bad("roJo=1", "position 2: key may hold only");
    expect_ts_bad("a=b=c", "position 3: value may hold only printable ASCII");
    expect_ts_bad("a=b\x01", "position 3: value may hold only");
    expect_ts_bad("a=b\tc", "position 3: value may hold only");
    expect_ts_bad("a=\x80", "value may hold only");
    expect_ts_bad("@sys=1", "tenant-id must start");
    expect_ts_bad("_t@sys=1", "tenant-id must start");
    expect_ts_bad("t@=1", "position 2: system-id must start with a lowercase letter");
    expect_ts_bad("t@1sys=1", "system-id must start");
    expect_ts_bad("t@s@y=1", "position 3: key may hold only");
    expect_ts_bad("t@abcdefghijklmno=1", "system-id longer than 14");
    /* Multi-tenant keys with a digit first are fine. */
    tt_hlc h;
    assert_int_equal(get("1t@abcdefghijklmn=1", &h, NULL, 0), TT_ENOTFOUND);

    /* Length limits: 256 for keys and values. */
    char buf[700];
    memset(buf, 'k', 256);
    memcpy(buf + 256, "=v", 3);
    assert_int_equal(get(buf, &h, NULL, 0), TT_ENOTFOUND);
    memset(buf, 'k', 257);
    memcpy(buf + 257, "=v", 3);
    expect_ts_bad(buf, "key longer than 256");
    memcpy(buf, "k=", 2);
    memset(buf + 2, 'v', 256);
    buf[258] = '\0';
    assert_int_equal(get(buf, &h, NULL, 0), TT_ENOTFOUND);
    memset(buf + 2, 'v', 257);
    buf[259] = '\0';
    expect_ts_bad(buf, "position 2: value longer than 256");
    /* tenant-id up to 241 */
    memset(buf, 't', 241);
    memcpy(buf + 241, "@s=1", 5);
    assert_int_equal(get(buf, &h, NULL, 0), TT_ENOTFOUND);
    memset(buf, 't', 242);
    memcpy(buf + 242, "@s=1", 5);
    expect_ts_bad(buf, "tenant-id longer than 241");
}

static void test_tracestate_duplicates(void **state)
{
    (void)state;
    expect_ts_bad("a=1,b=2,a=3", "position 8: duplicate key \"a\"");
    expect_ts_bad("tt=0000000000000001,tt=0000000000000002", "duplicate key \"tt\"");
    expect_ts_bad("x@y=1, x@y=2", "duplicate key \"x@y\"");
    tt_hlc h;
    assert_int_equal(get("x@y=1,x@z=2,y=3,ab=1,a=1", &h, NULL, 0), TT_ENOTFOUND);
}

/* make_list writes n members "k<i>=v<i>" separated by sep. */
static void make_list(char *out, size_t outlen, int n, const char *sep)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%sk%d=v%d", i ? sep : "", i, i);
}

static void test_tracestate_member_limit(void **state)
{
    (void)state;
    char buf[1024], err[128] = "";
    tt_hlc h;
    make_list(buf, sizeof buf, 32, ",");
    assert_int_equal(get(buf, &h, err, sizeof err), TT_ENOTFOUND);
    make_list(buf, sizeof buf, 33, ",");
    expect_ts_bad(buf, "more than 32 list members");
    /* Empty members do not count. */
    make_list(buf, sizeof buf, 32, ",,");
    assert_int_equal(get(buf, &h, err, sizeof err), TT_ENOTFOUND);
    /* Ours as the 32nd member. */
    make_list(buf, sizeof buf, 31, ",");
    size_t n = strlen(buf);
    snprintf(buf + n, sizeof buf - n, ",tt=00000000000000aa");
    assert_int_equal(get(buf, &h, err, sizeof err), 0);
    assert_true(h == 0xaa);
}

static void test_tracestate_put(void **state)
{
    (void)state;
    char out[TT_TRACESTATE_MAX];
    tt_hlc h = 0;
    /* Alone. */
    assert_int_equal(tt_tracestate_put_hlc(NULL, 0, UINT64_C(0x0123456789abcdef), out, sizeof out),
                     0);
    assert_string_equal(out, "tt=0123456789abcdef");
    assert_int_equal(get(out, &h, NULL, 0), 0);
    assert_true(h == UINT64_C(0x0123456789abcdef));
    /* Ours first, the rest kept in order and normalised. */
    const char *in = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE";
    assert_int_equal(tt_tracestate_put_hlc(in, strlen(in), 1, out, sizeof out), 0);
    assert_string_equal(out, "tt=0000000000000001,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    /* The old entry is dropped and ours moves to the front. */
    in = "rojo=1,tt=00000000000000ff, ,congo=a b";
    assert_int_equal(tt_tracestate_put_hlc(in, strlen(in), 0x100, out, sizeof out), 0);
    assert_string_equal(out, "tt=0000000000000100,rojo=1,congo=a b");
    assert_int_equal(get(out, &h, NULL, 0), 0);
    assert_true(h == 0x100);
    /* A malformed old entry of ours is dropped too. */
    in = "tt=zz,a=1";
    assert_int_equal(tt_tracestate_put_hlc(in, strlen(in), 2, out, sizeof out), 0);
    assert_string_equal(out, "tt=0000000000000002,a=1");
    /* A malformed list: only ours. */
    in = "a=1,a=2";
    assert_int_equal(tt_tracestate_put_hlc(in, strlen(in), 3, out, sizeof out), TT_ESYNTAX);
    assert_string_equal(out, "tt=0000000000000003");
    /* Empty incoming. */
    assert_int_equal(tt_tracestate_put_hlc("", 0, 4, out, sizeof out), 0);
    assert_string_equal(out, "tt=0000000000000004");
    /* Even ours does not fit. */
    assert_int_equal(tt_tracestate_put_hlc(NULL, 0, 4, out, 19), TT_ETOOBIG);
    assert_int_equal(tt_tracestate_put_hlc(NULL, 0, 4, out, 20), 0);
    assert_string_equal(out, "tt=0000000000000004");
}

static void test_tracestate_put_truncates(void **state)
{
    (void)state;
    char in[1024], out[TT_TRACESTATE_MAX];
    /* 32 others: the last is dropped to stay within 32 members. */
    make_list(in, sizeof in, 32, ",");
    assert_int_equal(tt_tracestate_put_hlc(in, strlen(in), 5, out, sizeof out), 0);
    assert_non_null(strstr(out, ",k30=v30"));
    assert_null(strstr(out, "k31"));
    size_t commas = 0;
    for (const char *p = out; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas, 31);
    /* With an old tt among them, all 32 others fit. */
    make_list(in, sizeof in, 31, ",");
    size_t n = strlen(in);
    snprintf(in + n, sizeof in - n, ",tt=0000000000000009");
    assert_int_equal(tt_tracestate_put_hlc(in, strlen(in), 5, out, sizeof out), 0);
    assert_non_null(strstr(out, ",k30=v30"));
    assert_null(strstr(out, "=0000000000000009"));

    /* outlen: whole members only, from the end. "tt=...(19),a=1(4),bb=22(6)" */
    const char *s = "a=1,bb=22,c=3";
    assert_int_equal(tt_tracestate_put_hlc(s, strlen(s), 6, out, 19 + 4 + 6 + 1), 0);
    assert_string_equal(out, "tt=0000000000000006,a=1,bb=22");
    assert_int_equal(tt_tracestate_put_hlc(s, strlen(s), 6, out, 19 + 4 + 6), 0);
    assert_string_equal(out, "tt=0000000000000006,a=1");
    assert_int_equal(tt_tracestate_put_hlc(s, strlen(s), 6, out, 19 + 4), 0);
    assert_string_equal(out, "tt=0000000000000006");
    /* A member that does not fit drops everything after it as well. */
    s = "big=0123456789012345678901234567890123456789,c=3";
    assert_int_equal(tt_tracestate_put_hlc(s, strlen(s), 6, out, 40), 0);
    assert_string_equal(out, "tt=0000000000000006");
    /* Output fills a TT_TRACESTATE_MAX buffer and still parses. */
    char big[2048];
    size_t o = 0;
    for (int i = 0; i < 10; i++) {
        o += (size_t)snprintf(big + o, sizeof big - o, "%sk%d=", i ? "," : "", i);
        memset(big + o, 'x', 100);
        o += 100;
        big[o] = '\0';
    }
    assert_int_equal(tt_tracestate_put_hlc(big, o, 7, out, sizeof out), 0);
    assert_true(strlen(out) < sizeof out);
    tt_hlc h;
    assert_int_equal(get(out, &h, NULL, 0), 0);
    assert_true(h == 7);
    assert_non_null(strstr(out, ",k3="));
    assert_null(strstr(out, ",k4="));
}

UNIT_TESTS(cmocka_unit_test(test_traceparent_spec_example),
           cmocka_unit_test(test_traceparent_rejects_case_and_version),
           cmocka_unit_test(test_traceparent_rejects_zero_ids),
           cmocka_unit_test(test_traceparent_rejects_length),
           cmocka_unit_test(test_traceparent_rejects_separators_and_hex),
           cmocka_unit_test(test_traceparent_future_versions),
           cmocka_unit_test(test_traceparent_round_trip),
           cmocka_unit_test(test_tracestate_finds_ours),
           cmocka_unit_test(test_tracestate_our_entry_malformed),
           cmocka_unit_test(test_tracestate_malformed_lists),
           cmocka_unit_test(test_tracestate_duplicates),
           cmocka_unit_test(test_tracestate_member_limit), cmocka_unit_test(test_tracestate_put),
           cmocka_unit_test(test_tracestate_put_truncates))
