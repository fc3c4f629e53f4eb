/* test_lib_config.c - libtelltale's configuration (lib/config.c): defaults,
 * every key, value syntax and units, ranges, error messages, an unchanged
 * config on error, the environment, validation and the span name filter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "telltale.h"
#include "lib/config.h"

#define MiB (UINT64_C(1) << 20)

/* set_ok sets key=value on cfg and fails the test with the message if not. */
static void set_ok(tt_config *cfg, const char *key, const char *value)
{
    char err[256] = "";
    int rc = tt_config_set(cfg, key, value, err, sizeof err);
    if (rc != 0)
        fail_msg("%s=\"%s\": rc %d: %s", key, value, rc, err);
}

/* set_bad expects rc and a message containing want, and cfg unchanged. */
static void set_bad(const char *key, const char *value, int want_rc, const char *want)
{
    tt_config cfg, before;
    tt_config_default(&cfg);
    memcpy(&before, &cfg, sizeof cfg);
    char err[256] = "";
    int rc = tt_config_set(&cfg, key, value, err, sizeof err);
    if (rc != want_rc || !strstr(err, want))
        fail_msg("%s=\"%s\": rc %d, message \"%s\"; wanted rc %d, \"%s\"", key, value, rc, err,
                 want_rc, want);
    assert_memory_equal(&cfg, &before, sizeof cfg);
}

static void test_config_defaults(void **state)
{
    (void)state;
    tt_config cfg;
    memset(&cfg, 0xa5, sizeof cfg);
    tt_config_default(&cfg);
    assert_string_equal(cfg.service, program_invocation_short_name);
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof host), 0);
    assert_string_equal(cfg.node, host);
    if (geteuid() == 0) {
        assert_string_equal(cfg.spool_dir, "/var/spool/telltale");
    } else {
        assert_non_null(strstr(cfg.spool_dir, "/telltale-spool-"));
        assert_true(cfg.spool_dir[0] == '/');
    }
    assert_true(cfg.spool_max_bytes == 256 * MiB);
    assert_true(cfg.segment_bytes == 8 * MiB);
    assert_int_equal(cfg.flush_interval_ms, 1000);
    assert_int_equal(cfg.thread_buffer_bytes, MiB);
    assert_true(cfg.sample_ratio == 1.0);
    assert_int_equal(cfg.sample_parent_based, 1);
    assert_true(cfg.sample_max_traces_per_s == 0);
    assert_true(cfg.min_span_duration_ns == 0);
    assert_string_equal(cfg.span_allow, "");
    assert_string_equal(cfg.span_deny, "");
    assert_int_equal(cfg.hlc_max_offset_ms, 500);
    assert_int_equal(cfg.fsync_segments, 0);
    assert_int_equal(cfg.enabled, 1);
    assert_int_equal(config_validate(&cfg, NULL, 0), 0);
}

static void test_config_default_spool_dir_tmpdir(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip();
    const char *old = getenv("TMPDIR");
    char saved[1024] = "";
    if (old)
        snprintf(saved, sizeof saved, "%s", old);
    char want[128];
    tt_config cfg;

    setenv("TMPDIR", "/var/tmp/x//", 1);
    tt_config_default(&cfg);
    snprintf(want, sizeof want, "/var/tmp/x/telltale-spool-%u", (unsigned)geteuid());
    assert_string_equal(cfg.spool_dir, want);

    unsetenv("TMPDIR");
    tt_config_default(&cfg);
    snprintf(want, sizeof want, "/tmp/telltale-spool-%u", (unsigned)geteuid());
    assert_string_equal(cfg.spool_dir, want);

    setenv("TMPDIR", "relative/dir", 1); /* not absolute: ignored */
    tt_config_default(&cfg);
    assert_string_equal(cfg.spool_dir, want);

    if (old)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
}

static void test_config_names(void **state)
{
    (void)state;
    tt_config cfg;
    tt_config_default(&cfg);
    set_ok(&cfg, "SERVICE", "checkout");
    assert_string_equal(cfg.service, "checkout");
    set_ok(&cfg, "service", "caf\xc3\xa9 svc"); /* keys are case-insensitive, UTF-8 ok */
    assert_string_equal(cfg.service, "caf\xc3\xa9 svc");
    set_ok(&cfg, "Node", "db-1.example");
    assert_string_equal(cfg.node, "db-1.example");
    char name[TT_NAME_MAX + 1];
    memset(name, 'n', TT_NAME_MAX - 1);
    name[TT_NAME_MAX - 1] = '\0';
    set_ok(&cfg, "NODE", name);
    assert_int_equal(strlen(cfg.node), TT_NAME_MAX - 1);

    set_bad("SERVICE", "", TT_ESYNTAX, "SERVICE: \"\": must not be empty");
    set_bad("NODE", "a\tb", TT_ESYNTAX, "NODE: \"a\\x09b\": control character at position 1");
    set_bad("SERVICE", "a\x7f", TT_ESYNTAX, "control character at position 1");
    set_bad("SERVICE", "ab\xc3", TT_ESYNTAX, "invalid UTF-8 at position 2");
    set_bad("SERVICE", "\xc0\xaf", TT_ESYNTAX, "invalid UTF-8 at position 0"); /* overlong */
    set_bad("SERVICE", "\xed\xa0\x80", TT_ESYNTAX, "invalid UTF-8");           /* surrogate */
    name[TT_NAME_MAX - 1] = 'n';
    name[TT_NAME_MAX] = '\0';
    set_bad("SERVICE", name, TT_ERANGE, "longer than 127 bytes");
}

static void test_config_spool_dir(void **state)
{
    (void)state;
    tt_config cfg;
    tt_config_default(&cfg);
    set_ok(&cfg, "SPOOL_DIR", "/srv/spool");
    assert_string_equal(cfg.spool_dir, "/srv/spool");
    set_ok(&cfg, "SPOOL_DIR", "/srv/spool///");
    assert_string_equal(cfg.spool_dir, "/srv/spool");
    set_ok(&cfg, "SPOOL_DIR", "/");
    assert_string_equal(cfg.spool_dir, "/");
    set_bad("SPOOL_DIR", "spool", TT_ESYNTAX, "SPOOL_DIR: \"spool\": must be an absolute path");
    set_bad("SPOOL_DIR", "", TT_ESYNTAX, "must be an absolute path");
    set_bad("SPOOL_DIR", "/a\nb", TT_ESYNTAX, "control character at position 2");
    char path[TT_PATH_MAX];
    path[0] = '/';
    memset(path + 1, 'p', sizeof path - 2);
    path[TT_PATH_MAX - 64] = '\0'; /* 448 bytes: the limit */
    set_ok(&cfg, "SPOOL_DIR", path);
    path[TT_PATH_MAX - 64] = 'p';
    path[TT_PATH_MAX - 63] = '\0';
    set_bad("SPOOL_DIR", path, TT_ERANGE, "longer than 448 bytes");
}

static void test_config_sizes(void **state)
{
    (void)state;
    tt_config cfg;
    tt_config_default(&cfg);
    set_ok(&cfg, "SPOOL_MAX", "1048576");
    assert_true(cfg.spool_max_bytes == MiB);
    set_ok(&cfg, "SPOOL_MAX", "256KiB");
    assert_true(cfg.spool_max_bytes == 256 * 1024);
    set_ok(&cfg, "SPOOL_MAX", "64kb");
    assert_true(cfg.spool_max_bytes == 64 * 1024);
    set_ok(&cfg, "SPOOL_MAX", "8MiB");
    assert_true(cfg.spool_max_bytes == 8 * MiB);
    set_ok(&cfg, "SPOOL_MAX", "3 M");
    assert_true(cfg.spool_max_bytes == 3 * MiB);
    set_ok(&cfg, "SPOOL_MAX", "2GiB");
    assert_true(cfg.spool_max_bytes == 2048 * MiB);
    set_ok(&cfg, "SPOOL_MAX", "1g");
    assert_true(cfg.spool_max_bytes == 1024 * MiB);
    set_ok(&cfg, "SPOOL_MAX", "5TB");
    assert_true(cfg.spool_max_bytes == 5 * MiB * MiB);
    set_ok(&cfg, "SPOOL_MAX", "4096B");
    assert_true(cfg.spool_max_bytes == 4096);
    set_ok(&cfg, "SEGMENT_SIZE", "16MiB");
    assert_true(cfg.segment_bytes == 16 * MiB);
    set_ok(&cfg, "SEGMENT_SIZE", "1GiB");
    assert_true(cfg.segment_bytes == 1024 * MiB);
    set_ok(&cfg, "THREAD_BUFFER", "64K");
    assert_int_equal(cfg.thread_buffer_bytes, 64 * 1024);
    set_ok(&cfg, "THREAD_BUFFER", "1GiB");
    assert_int_equal(cfg.thread_buffer_bytes, 1024 * MiB);

    set_bad("SPOOL_MAX", "12XB", TT_ESYNTAX,
            "SPOOL_MAX: \"12XB\": unknown size unit \"XB\" (use KiB, MiB, GiB)");
    set_bad("SPOOL_MAX", "12 ", TT_ESYNTAX, "unknown size unit \" \"");
    set_bad("SPOOL_MAX", "", TT_ESYNTAX, "SPOOL_MAX: \"\": expected a size");
    set_bad("SPOOL_MAX", "MiB", TT_ESYNTAX, "expected a size");
    set_bad("SPOOL_MAX", "-1", TT_ESYNTAX, "expected a size");
    set_bad("SPOOL_MAX", " 1MiB", TT_ESYNTAX, "expected a size");
    set_bad("SPOOL_MAX", "1.5GiB", TT_ESYNTAX, "fractional sizes are not supported");
    set_bad("SPOOL_MAX", "0x100000", TT_ESYNTAX, "unknown size unit \"x100000\"");
    set_bad("SPOOL_MAX", "99999999999999999999", TT_ERANGE, "number too large");
    set_bad("SPOOL_MAX", "17179869184GiB", TT_ERANGE, "number too large"); /* 2^64 */
    set_bad("SPOOL_MAX", "2PiB", TT_ESYNTAX, "unknown size unit");
    set_bad("SPOOL_MAX", "1025TiB", TT_ERANGE,
            "SPOOL_MAX: \"1025TiB\": out of range (4KiB to 1PiB)");
    set_bad("SPOOL_MAX", "4095", TT_ERANGE, "out of range (4KiB to 1PiB)");
    set_bad("SEGMENT_SIZE", "2GiB", TT_ERANGE, "out of range (4KiB to 1GiB)");
    set_bad("THREAD_BUFFER", "1025MiB", TT_ERANGE, "THREAD_BUFFER: \"1025MiB\": out of range");
    set_bad("THREAD_BUFFER", "4294967296", TT_ERANGE, "out of range"); /* 2^32: would wrap */
    set_bad("THREAD_BUFFER", "0", TT_ERANGE, "out of range");
}

static void test_config_durations(void **state)
{
    (void)state;
    tt_config cfg;
    tt_config_default(&cfg);
    set_ok(&cfg, "FLUSH_INTERVAL", "250ms");
    assert_int_equal(cfg.flush_interval_ms, 250);
    set_ok(&cfg, "FLUSH_INTERVAL", "1s");
    assert_int_equal(cfg.flush_interval_ms, 1000);
    set_ok(&cfg, "FLUSH_INTERVAL", "2m");
    assert_int_equal(cfg.flush_interval_ms, 120000);
    set_ok(&cfg, "FLUSH_INTERVAL", "1h");
    assert_int_equal(cfg.flush_interval_ms, 3600000);
    set_ok(&cfg, "FLUSH_INTERVAL", "750"); /* bare: milliseconds */
    assert_int_equal(cfg.flush_interval_ms, 750);
    set_ok(&cfg, "FLUSH_INTERVAL", "2000us");
    assert_int_equal(cfg.flush_interval_ms, 2);
    set_ok(&cfg, "FLUSH_INTERVAL", "5 s");
    assert_int_equal(cfg.flush_interval_ms, 5000);
    set_ok(&cfg, "HLC_MAX_OFFSET", "100ms");
    assert_int_equal(cfg.hlc_max_offset_ms, 100);
    set_ok(&cfg, "MIN_SPAN_DURATION", "2ms");
    assert_true(cfg.min_span_duration_ns == 2000000);
    set_ok(&cfg, "MIN_SPAN_DURATION", "500us");
    assert_true(cfg.min_span_duration_ns == 500000);
    set_ok(&cfg, "MIN_SPAN_DURATION", "3ns");
    assert_true(cfg.min_span_duration_ns == 3);
    set_ok(&cfg, "MIN_SPAN_DURATION", "7"); /* bare: milliseconds */
    assert_true(cfg.min_span_duration_ns == 7000000);
    set_ok(&cfg, "MIN_SPAN_DURATION", "0");
    assert_true(cfg.min_span_duration_ns == 0);

    set_bad("FLUSH_INTERVAL", "500us", TT_ERANGE,
            "FLUSH_INTERVAL: \"500us\": not a whole number of milliseconds");
    set_bad("FLUSH_INTERVAL", "0", TT_ERANGE, "out of range (1ms to 1h)");
    set_bad("FLUSH_INTERVAL", "61m", TT_ERANGE, "out of range (1ms to 1h)");
    set_bad("FLUSH_INTERVAL", "1d", TT_ESYNTAX,
            "unknown duration unit \"d\" (use ns, us, ms, s, m, h)");
    set_bad("FLUSH_INTERVAL", "1MS", TT_ESYNTAX, "unknown duration unit \"MS\"");
    set_bad("FLUSH_INTERVAL", "1.5s", TT_ESYNTAX, "fractional durations are not supported");
    set_bad("FLUSH_INTERVAL", "s", TT_ESYNTAX, "expected a duration");
    set_bad("FLUSH_INTERVAL", "", TT_ESYNTAX, "expected a duration");
    set_bad("FLUSH_INTERVAL", "18446744073709551616", TT_ERANGE, "number too large");
    set_bad("FLUSH_INTERVAL", "18446744073709551615h", TT_ERANGE, "duration too long");
    set_bad("HLC_MAX_OFFSET", "2h", TT_ERANGE, "HLC_MAX_OFFSET: \"2h\": out of range");
    set_bad("MIN_SPAN_DURATION", "3601s", TT_ERANGE, "out of range (0 to 1h)");
}

static void test_config_ratios_and_rates(void **state)
{
    (void)state;
    tt_config cfg;
    tt_config_default(&cfg);
    set_ok(&cfg, "SAMPLE_RATIO", "0.25");
    assert_true(cfg.sample_ratio == 0.25);
    set_ok(&cfg, "SAMPLE_RATIO", "1/100");
    assert_true(cfg.sample_ratio == 0.01);
    set_ok(&cfg, "SAMPLE_RATIO", "0");
    assert_true(cfg.sample_ratio == 0);
    set_ok(&cfg, "SAMPLE_RATIO", "1.000");
    assert_true(cfg.sample_ratio == 1);
    set_ok(&cfg, "SAMPLE_RATIO", ".5");
    assert_true(cfg.sample_ratio == 0.5);
    set_ok(&cfg, "SAMPLE_RATIO", "0.1");
    assert_true(cfg.sample_ratio == 0.1);
    set_ok(&cfg, "SAMPLE_RATIO", "3/3");
    assert_true(cfg.sample_ratio == 1);
    set_ok(&cfg, "SAMPLE_RATIO", "0.00000000000000000000000000000000000000001");
    assert_true(cfg.sample_ratio > 0 && cfg.sample_ratio < 1e-40);
    set_ok(&cfg, "SAMPLE_RATE_LIMIT", "100");
    assert_true(cfg.sample_max_traces_per_s == 100);
    set_ok(&cfg, "SAMPLE_RATE_LIMIT", "0.5");
    assert_true(cfg.sample_max_traces_per_s == 0.5);
    set_ok(&cfg, "SAMPLE_RATE_LIMIT", "0");
    assert_true(cfg.sample_max_traces_per_s == 0);

    set_bad("SAMPLE_RATIO", "1.01", TT_ERANGE, "SAMPLE_RATIO: \"1.01\": out of range (0 to 1)");
    set_bad("SAMPLE_RATIO", "2/1", TT_ERANGE, "out of range (0 to 1)");
    set_bad("SAMPLE_RATIO", "1/0", TT_ERANGE, "division by zero");
    set_bad("SAMPLE_RATIO", "-0.1", TT_ESYNTAX, "expected a ratio such as 0.25 or 1/100");
    set_bad("SAMPLE_RATIO", "1/", TT_ESYNTAX, "expected a ratio");
    set_bad("SAMPLE_RATIO", "1/2/3", TT_ESYNTAX, "expected a ratio");
    set_bad("SAMPLE_RATIO", "0.5x", TT_ESYNTAX, "expected a ratio");
    set_bad("SAMPLE_RATIO", ".", TT_ESYNTAX, "expected a ratio");
    set_bad("SAMPLE_RATIO", "1e-3", TT_ESYNTAX, "expected a ratio");
    set_bad("SAMPLE_RATIO", "nan", TT_ESYNTAX, "expected a ratio");
    set_bad("SAMPLE_RATIO", "", TT_ESYNTAX, "expected a ratio");
    set_bad("SAMPLE_RATE_LIMIT", "1000000001", TT_ERANGE, "out of range");
    set_bad("SAMPLE_RATE_LIMIT", "-5", TT_ESYNTAX, "expected a number of traces per second");
    set_bad("SAMPLE_RATE_LIMIT", "99999999999999999999999999", TT_ERANGE, "out of range");
}

static void test_config_bools(void **state)
{
    (void)state;
    static const char *const yes[] = { "1", "true", "TRUE", "yes", "Yes", "on", "ON" };
    static const char *const no[] = { "0", "false", "False", "no", "NO", "off", "Off" };
    static const char *const keys[] = { "SAMPLE_PARENT_BASED", "FSYNC", "ENABLED" };
    tt_config cfg;
    tt_config_default(&cfg);
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < 7; i++) {
            set_ok(&cfg, keys[k], no[i]);
            int v = k == 0 ? cfg.sample_parent_based : k == 1 ? cfg.fsync_segments : cfg.enabled;
            assert_int_equal(v, 0);
            set_ok(&cfg, keys[k], yes[i]);
            v = k == 0 ? cfg.sample_parent_based : k == 1 ? cfg.fsync_segments : cfg.enabled;
            assert_int_equal(v, 1);
        }
    }
    set_bad("ENABLED", "2", TT_ESYNTAX,
            "ENABLED: \"2\": expected a boolean (1/0, true/false, yes/no, on/off)");
    set_bad("FSYNC", "", TT_ESYNTAX, "expected a boolean");
    set_bad("FSYNC", "truee", TT_ESYNTAX, "expected a boolean");
    set_bad("FSYNC", "tru", TT_ESYNTAX, "expected a boolean");
    set_bad("FSYNC", " yes", TT_ESYNTAX, "expected a boolean");
}

static void test_config_lists(void **state)
{
    (void)state;
    tt_config cfg;
    tt_config_default(&cfg);
    set_ok(&cfg, "SPAN_ALLOW", "http.*,db.query");
    assert_string_equal(cfg.span_allow, "http.*,db.query");
    set_ok(&cfg, "SPAN_DENY", " health* ,\tGET /metrics ");
    assert_string_equal(cfg.span_deny, "health*,GET /metrics");
    set_ok(&cfg, "SPAN_DENY", "*");
    assert_string_equal(cfg.span_deny, "*");
    set_ok(&cfg, "SPAN_DENY", "");
    assert_string_equal(cfg.span_deny, "");
    set_ok(&cfg, "SPAN_ALLOW", "  ");
    assert_string_equal(cfg.span_allow, "");

    set_bad("SPAN_ALLOW", "a,,b", TT_ESYNTAX, "SPAN_ALLOW: \"a,,b\": empty pattern at position 2");
    set_bad("SPAN_ALLOW", "a,", TT_ESYNTAX, "empty pattern at position 2");
    set_bad("SPAN_ALLOW", ",a", TT_ESYNTAX, "empty pattern at position 0");
    set_bad("SPAN_DENY", "a, ,b", TT_ESYNTAX, "empty pattern");
    set_bad("SPAN_DENY", "a*b", TT_ESYNTAX,
            "'*' only allowed at the end of a pattern (position 1)");
    set_bad("SPAN_DENY", "**", TT_ESYNTAX, "'*' only allowed at the end");
    set_bad("SPAN_DENY", "a\x01", TT_ESYNTAX, "control character at position 1");
    set_bad("SPAN_DENY", "ok,\xff", TT_ESYNTAX, "invalid UTF-8 at position 3");
    char list[TT_LIST_MAX + 8];
    memset(list, 'x', TT_LIST_MAX - 1);
    list[TT_LIST_MAX - 1] = '\0';
    set_ok(&cfg, "SPAN_DENY", list);
    assert_int_equal(strlen(cfg.span_deny), TT_LIST_MAX - 1);
    list[TT_LIST_MAX - 1] = 'x';
    list[TT_LIST_MAX] = '\0';
    set_bad("SPAN_DENY", list, TT_ERANGE, "longer than 511 bytes");
    /* Spaces that are dropped do not count. */
    list[0] = ' ';
    set_ok(&cfg, "SPAN_DENY", list);
}

static void test_config_unknown_and_errors(void **state)
{
    (void)state;
    set_bad("NOPE", "1", TT_ENOTFOUND, "config: unknown setting \"NOPE\"");
    set_bad("", "1", TT_ENOTFOUND, "unknown setting \"\"");
    set_bad("SERVICEX", "a", TT_ENOTFOUND, "unknown setting");
    set_bad("TELLTALE_SERVICE", "a", TT_ENOTFOUND, "unknown setting"); /* no prefix here */
    tt_config cfg;
    tt_config_default(&cfg);
    assert_int_equal(tt_config_set(NULL, "SERVICE", "x", NULL, 0), TT_EINVAL);
    assert_int_equal(tt_config_set(&cfg, NULL, "x", NULL, 0), TT_EINVAL);
    assert_int_equal(tt_config_set(&cfg, "SERVICE", NULL, NULL, 0), TT_EINVAL);
    /* errbuf may be NULL or tiny; messages are cut, never overrun. */
    assert_int_equal(tt_config_set(&cfg, "SPOOL_MAX", "12XB", NULL, 0), TT_ESYNTAX);
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    assert_int_equal(tt_config_set(&cfg, "SPOOL_MAX", "12XB", tiny, 5), TT_ESYNTAX);
    assert_string_equal(tiny, "SPOO");
    assert_true(tiny[5] == 'z');
    /* Long and odd values are quoted, escaped and cut in messages. */
    char err[256] = "";
    char val[300];
    memset(val, 'q', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    val[0] = '"';
    assert_int_equal(tt_config_set(&cfg, "FSYNC", val, err, sizeof err), TT_ESYNTAX);
    assert_non_null(strstr(err, "FSYNC: \"\\\"qqq"));
    assert_non_null(strstr(err, "qqq...\": expected a boolean"));
}

/* Saved TELLTALE_* variables, so the test runs in a clean environment and puts
 * the caller's back. */
struct saved_env {
    char *vars[64];
    size_t n;
};

static void env_clear(struct saved_env *s)
{
    s->n = 0;
    for (;;) {
        char **e = environ;
        while (*e && strncmp(*e, "TELLTALE_", 9) != 0)
            e++;
        if (!*e)
            break;
        assert_true(s->n < 64);
        s->vars[s->n] = strdup(*e);
        assert_non_null(s->vars[s->n]);
        char *eq = strchr(s->vars[s->n], '=');
        char name[256];
        size_t n = eq ? (size_t)(eq - s->vars[s->n]) : strlen(s->vars[s->n]);
        assert_true(n < sizeof name);
        memcpy(name, s->vars[s->n], n);
        name[n] = '\0';
        s->n++;
        unsetenv(name);
    }
}

static void env_restore(struct saved_env *s)
{
    for (size_t i = 0; i < s->n; i++) {
        char *eq = strchr(s->vars[i], '=');
        if (eq) {
            *eq = '\0';
            setenv(s->vars[i], eq + 1, 1);
        }
        free(s->vars[i]);
    }
    s->n = 0;
}

static void test_config_from_env(void **state)
{
    (void)state;
    struct saved_env saved;
    env_clear(&saved);
    tt_config cfg, before;
    char err[256] = "";
    tt_config_default(&cfg);
    memcpy(&before, &cfg, sizeof cfg);
    /* Nothing set: nothing changes. */
    assert_int_equal(tt_config_from_env(&cfg, err, sizeof err), 0);
    assert_memory_equal(&cfg, &before, sizeof cfg);

    setenv("TELLTALE_SERVICE", "envsvc", 1);
    setenv("TELLTALE_SPOOL_MAX", "64MiB", 1);
    setenv("TELLTALE_FLUSH_INTERVAL", "250ms", 1);
    setenv("TELLTALE_SAMPLE_RATIO", "1/4", 1);
    setenv("TELLTALE_SPAN_DENY", "health*", 1);
    setenv("TELLTALE_ENABLED", "off", 1);
    setenv("TELLTALEX", "ignored", 1); /* not our prefix */
    setenv("XTELLTALE_NODE", "ignored", 1);
    assert_int_equal(tt_config_from_env(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.service, "envsvc");
    assert_true(cfg.spool_max_bytes == 64 * MiB);
    assert_int_equal(cfg.flush_interval_ms, 250);
    assert_true(cfg.sample_ratio == 0.25);
    assert_string_equal(cfg.span_deny, "health*");
    assert_int_equal(cfg.enabled, 0);
    assert_string_equal(cfg.node, before.node);
    unsetenv("TELLTALEX");
    unsetenv("XTELLTALE_NODE");

    /* A bad value: reported with its full variable name. */
    setenv("TELLTALE_SEGMENT_SIZE", "12XB", 1);
    tt_config_default(&cfg);
    assert_int_equal(tt_config_from_env(&cfg, err, sizeof err), TT_ESYNTAX);
    assert_string_equal(err, "TELLTALE_SEGMENT_SIZE: \"12XB\": unknown size unit \"XB\" (use "
                             "KiB, MiB, GiB)");
    assert_true(cfg.segment_bytes == 8 * MiB);
    unsetenv("TELLTALE_SEGMENT_SIZE");

    /* Names the library does not know (the agent's, the server's) are
     * skipped, and the known ones still apply. */
    setenv("TELLTALE_SERVER", "127.0.0.1:7071", 1);
    setenv("TELLTALE_", "1", 1);
    setenv("TELLTALE_NODE", "n-env", 1);
    assert_int_equal(tt_config_from_env(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.node, "n-env");
    unsetenv("TELLTALE_SERVER");
    unsetenv("TELLTALE_");
    unsetenv("TELLTALE_NODE");

    unsetenv("TELLTALE_SERVICE");
    unsetenv("TELLTALE_SPOOL_MAX");
    unsetenv("TELLTALE_FLUSH_INTERVAL");
    unsetenv("TELLTALE_SAMPLE_RATIO");
    unsetenv("TELLTALE_SPAN_DENY");
    unsetenv("TELLTALE_ENABLED");
    assert_int_equal(tt_config_from_env(NULL, err, sizeof err), TT_EINVAL);
    env_restore(&saved);
}

static void test_config_validate(void **state)
{
    (void)state;
    tt_config cfg;
    char err[256] = "";
    tt_config_default(&cfg);
    assert_int_equal(config_validate(&cfg, err, sizeof err), 0);
    cfg.sample_ratio = 1.5;
    assert_int_equal(config_validate(&cfg, err, sizeof err), TT_ERANGE);
    assert_non_null(strstr(err, "SAMPLE_RATIO"));
    tt_config_default(&cfg);
    cfg.flush_interval_ms = 0;
    assert_int_equal(config_validate(&cfg, err, sizeof err), TT_ERANGE);
    assert_non_null(strstr(err, "FLUSH_INTERVAL"));
    tt_config_default(&cfg);
    memset(cfg.node, 'n', sizeof cfg.node);
    assert_int_equal(config_validate(&cfg, err, sizeof err), TT_ERANGE);
    assert_string_equal(err, "NODE: not NUL-terminated");
    tt_config_default(&cfg);
    cfg.service[0] = '\0';
    assert_int_equal(config_validate(&cfg, err, sizeof err), TT_ESYNTAX);
    tt_config_default(&cfg);
    snprintf(cfg.span_allow, sizeof cfg.span_allow, "a,,b");
    assert_int_equal(config_validate(&cfg, err, sizeof err), TT_ESYNTAX);
    assert_non_null(strstr(err, "SPAN_ALLOW"));
    tt_config_default(&cfg);
    snprintf(cfg.spool_dir, sizeof cfg.spool_dir, "relative");
    assert_int_equal(config_validate(&cfg, err, sizeof err), TT_ESYNTAX);
    tt_config_default(&cfg);
    cfg.sample_max_traces_per_s = -1;
    assert_int_equal(config_validate(&cfg, err, sizeof err), TT_ERANGE);
    assert_int_equal(config_validate(NULL, err, sizeof err), TT_EINVAL);
}

static void test_name_filter(void **state)
{
    (void)state;
    /* Empty lists allow everything. */
    assert_int_equal(tt_name_allowed("", "", "anything"), 1);
    assert_int_equal(tt_name_allowed(NULL, NULL, "anything"), 1);
    assert_int_equal(tt_name_allowed(NULL, NULL, NULL), 1);
    /* Allow list: exact and prefix. */
    assert_int_equal(tt_name_allowed("http.*,db.query", "", "http.get"), 1);
    assert_int_equal(tt_name_allowed("http.*,db.query", "", "http."), 1);
    assert_int_equal(tt_name_allowed("http.*,db.query", "", "http"), 0);
    assert_int_equal(tt_name_allowed("http.*,db.query", "", "db.query"), 1);
    assert_int_equal(tt_name_allowed("http.*,db.query", "", "db.query2"), 0);
    assert_int_equal(tt_name_allowed("http.*,db.query", "", "db.quer"), 0);
    assert_int_equal(tt_name_allowed("http.*,db.query", "", ""), 0);
    assert_int_equal(tt_name_allowed("*", "", ""), 1);
    /* Deny wins over allow. */
    assert_int_equal(tt_name_allowed("http.*", "http.health", "http.health"), 0);
    assert_int_equal(tt_name_allowed("http.*", "http.health", "http.healthz"), 1);
    assert_int_equal(tt_name_allowed("", "health*,GET /metrics", "healthcheck"), 0);
    assert_int_equal(tt_name_allowed("", "health*,GET /metrics", "GET /metrics"), 0);
    assert_int_equal(tt_name_allowed("", "health*,GET /metrics", "GET /metrics2"), 1);
    assert_int_equal(tt_name_allowed("", "*", "x"), 0);
    /* A '*' that is not last is literal. */
    assert_int_equal(tt_name_allowed("a*b", "", "a*b"), 1);
    assert_int_equal(tt_name_allowed("a*b", "", "axb"), 0);
    /* Hand-written lists: spaces around patterns and blank lists are tolerated. */
    assert_int_equal(tt_name_allowed(" a , b* ", "", "bz"), 1);
    assert_int_equal(tt_name_allowed(" a , b* ", "", "a"), 1);
    assert_int_equal(tt_name_allowed("  ", "", "a"), 1);
    assert_int_equal(tt_name_allowed("", " ,", "a"), 1);
}

UNIT_TESTS(cmocka_unit_test(test_config_defaults),
           cmocka_unit_test(test_config_default_spool_dir_tmpdir),
           cmocka_unit_test(test_config_names), cmocka_unit_test(test_config_spool_dir),
           cmocka_unit_test(test_config_sizes), cmocka_unit_test(test_config_durations),
           cmocka_unit_test(test_config_ratios_and_rates), cmocka_unit_test(test_config_bools),
           cmocka_unit_test(test_config_lists), cmocka_unit_test(test_config_unknown_and_errors),
           cmocka_unit_test(test_config_from_env), cmocka_unit_test(test_config_validate),
           cmocka_unit_test(test_name_filter))
