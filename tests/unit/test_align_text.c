/*
 * test_align_text.c - the plain text alignment log: comments, blanks, CRLF,
 * tabs, messages, a last line without newline; and each error with its
 * FILE:LINE:COL and what was expected.
 */
#include <string.h>
#include "unit.h"
#include "query/causal/align_text.h"
#include "telltale.h"

static int parse(struct align_set *s, const char *text, char *err, size_t errlen)
{
    return align_text_parse(s, "f.log", text, strlen(text), err, errlen);
}

static void test_align_text_good(void **state)
{
    (void)state;
    struct align_set s;
    align_set_init(&s);
    char err[256] = "";
    const char *text = "# comment\n"
                       "\n"
                       "   \t\n"
                       "  # indented comment\n"
                       "A 1000 1000 0 hello  world\r\n"
                       "B\t975\t1000\t1\n"
                       "B 980 1000 2   \n"
                       "A 281474976710655 281474976710655 65535 last";
    assert_int_equal(parse(&s, text, err, sizeof(err)), 0);
    assert_int_equal(s.nev, 4);
    assert_int_equal(s.nnodes, 2);
    assert_string_equal(s.nodes[0].name, "A");
    assert_string_equal(s.nodes[1].name, "B");
    assert_int_equal(s.ev[0].pt_ms, 1000);
    assert_int_equal(s.ev[0].msg_len, 12);
    assert_memory_equal(s.msgs + s.ev[0].msg_off, "hello  world", 12);
    assert_int_equal(s.ev[1].node, 1);
    assert_int_equal(s.ev[1].pt_ms, 975);
    assert_int_equal(s.ev[1].l_ms, 1000);
    assert_int_equal(s.ev[1].c, 1);
    assert_int_equal(s.ev[1].msg_len, 0);
    assert_int_equal(s.ev[2].msg_len, 0);
    assert_int_equal(s.ev[3].l_ms, (INT64_C(1) << 48) - 1);
    assert_int_equal(s.ev[3].c, 65535);
    assert_memory_equal(s.msgs + s.ev[3].msg_off, "last", 4);
    /* An empty input is no events, no error. */
    assert_int_equal(parse(&s, "", err, sizeof(err)), 0);
    assert_int_equal(s.nev, 4);
    align_set_release(&s);
}

struct bad {
    const char *text;
    int rc;
    const char *msg;
};

static void test_align_text_errors(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { "A\n", TT_ESYNTAX, "f.log:1:2: expected PT_MS (decimal integer), got end of line" },
        { "A 1 2\n", TT_ESYNTAX, "f.log:1:6: expected HLC_C (decimal integer), got end of line" },
        { "# c\nA 1x 2 3\n", TT_ESYNTAX, "f.log:2:4: expected a blank after PT_MS, got 'x'" },
        { "A 1 -2 3\n", TT_ESYNTAX, "f.log:1:5: expected HLC_L_MS (decimal integer), got '-'" },
        { "A 1 2 65536\n", TT_ERANGE, "f.log:1:7: HLC_C out of range (at most 65535)" },
        { "A 281474976710656 2 3\n", TT_ERANGE,
          "f.log:1:3: PT_MS out of range (at most 281474976710655)" },
        { "A 99999999999999999999999 2 3\n", TT_ERANGE,
          "f.log:1:3: PT_MS out of range (at most 281474976710655)" },
        { "A 1 2 3\nB 1 2\x01 3\n", TT_ESYNTAX,
          "f.log:2:6: expected a blank after HLC_L_MS, got byte 0x01" },
        { "A 1 2 3\n\nA\0 1 2 3\n", TT_ESYNTAX, "f.log:3:2: expected a node name, got byte 0x00" },
    };
    static const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, 0, 17 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct align_set s;
        align_set_init(&s);
        char err[256] = "";
        size_t len = lens[i] ? lens[i] : strlen(cases[i].text);
        int rc = align_text_parse(&s, "f.log", cases[i].text, len, err, sizeof(err));
        print_message("case %zu: %s\n", i, err);
        assert_int_equal(rc, cases[i].rc);
        assert_string_equal(err, cases[i].msg);
        align_set_release(&s);
    }
}

UNIT_TESTS(cmocka_unit_test(test_align_text_good), cmocka_unit_test(test_align_text_errors))
