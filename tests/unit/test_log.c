/*
 * test_log.c - logfmt lines: timestamp from a replaceable clock, level
 * threshold, quoting and escaping, the builder, truncation, and that
 * nothing reaches a sink below the threshold or without a sink.
 */
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/log.h"

struct capture {
    char text[8192];
    size_t len;
    int lines;
};

static void sink(void *ctx, enum log_level level, const char *line, size_t len)
{
    struct capture *c = ctx;

    (void)level;
    assert_true(len > 0 && line[len - 1] == '\n' && line[len] == '\0');
    assert_true(c->len + len < sizeof(c->text));
    memcpy(c->text + c->len, line, len + 1);
    c->len += len;
    c->lines++;
}

static void setup_log(struct log *lg, struct capture *c, struct clock_fake *fc,
                      enum log_level level)
{
    memset(c, 0, sizeof(*c));
    log_init(lg, level, sink, c);
    /* 2024-05-01T12:00:00.123Z */
    clock_fake_init(fc, INT64_C(1714564800) * TT_NS_PER_S + 123 * TT_NS_PER_MS);
    lg->clock = &fc->clock;
}

static void test_log_format(void **state)
{
    struct log lg;
    struct capture c;
    struct clock_fake fc;

    (void)state;
    setup_log(&lg, &c, &fc, LOG_LEVEL_INFO);
    log_info(&lg, "server listening", "addr", "127.0.0.1:7070", "empty", "", "null", NULL, "quote",
             "say \"hi\"\\", "nl", "a\nb\x01");
    assert_string_equal(c.text, "ts=2024-05-01T12:00:00.123Z level=info msg=\"server listening\" "
                                "addr=127.0.0.1:7070 empty=\"\" null=\"\" quote=\"say "
                                "\\\"hi\\\"\\\\\" nl=\"a\\nb\\x01\"\n");
    c.len = 0;
    log_warn(&lg, "plain");
    assert_string_equal(c.text, "ts=2024-05-01T12:00:00.123Z level=warn msg=plain\n");
}

static void test_log_levels(void **state)
{
    struct log lg;
    struct capture c;
    struct clock_fake fc;
    enum log_level l;

    (void)state;
    setup_log(&lg, &c, &fc, LOG_LEVEL_WARN);
    log_debug(&lg, "no");
    log_info(&lg, "no");
    log_warn(&lg, "yes");
    log_error(&lg, "yes");
    assert_int_equal(c.lines, 2);
    log_set_level(&lg, LOG_LEVEL_DEBUG);
    log_debug(&lg, "yes");
    assert_int_equal(c.lines, 3);
    log_set_level(&lg, LOG_LEVEL_OFF);
    log_error(&lg, "no");
    assert_int_equal(c.lines, 3);
    assert_false(log_enabled(NULL, LOG_LEVEL_ERROR));
    log_error(NULL, "nothing happens");

    assert_int_equal(log_level_parse("DEBUG", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("loud", &l), TT_EINVAL);
    assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");

    /* No sink: nothing is enabled. */
    log_init(&lg, LOG_LEVEL_DEBUG, NULL, NULL);
    assert_false(log_enabled(&lg, LOG_LEVEL_ERROR));
    log_error(&lg, "dropped");
}

static void test_log_builder_and_cut(void **state)
{
    struct log lg;
    struct capture c;
    struct clock_fake fc;
    struct log_line l;
    char big[3000];

    (void)state;
    setup_log(&lg, &c, &fc, LOG_LEVEL_DEBUG);
    assert_true(log_begin(&lg, LOG_LEVEL_DEBUG, "request", &l));
    log_i64(&l, "code", -200);
    log_f64(&l, "seconds", 0.0125);
    log_strn(&l, "part", "abcdef", 3);
    log_end(&l);
    assert_string_equal(c.text, "ts=2024-05-01T12:00:00.123Z level=debug msg=request code=-200 "
                                "seconds=0.0125 part=abc\n");

    c.len = 0;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_error(&lg, "long", "v", big);
    assert_int_equal(c.len, LOG_LINE_MAX - 1);
    assert_memory_equal(c.text + c.len - 4, "...\n", 4);

    log_set_level(&lg, LOG_LEVEL_ERROR);
    assert_false(log_begin(&lg, LOG_LEVEL_INFO, "off", &l));
}

UNIT_TESTS(cmocka_unit_test(test_log_format), cmocka_unit_test(test_log_levels),
           cmocka_unit_test(test_log_builder_and_cut))
