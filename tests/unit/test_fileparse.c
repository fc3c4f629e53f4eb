/* test_fileparse.c - the file sanity collector's parse checks
 * (src/agent/fileparse.c): INI, key=value, JSON and YAML, valid and invalid
 * with the line:col of the problem, types by extension, and the invisible
 * character scanner. */
#include <string.h>
#include "unit.h"
#include "agent/fileparse.h"

static int check(enum fileparse_type t, const char *s, struct fileparse_error *e)
{
    return fileparse_check(t, (const uint8_t *)s, strlen(s), e);
}

static void test_ini(void **state)
{
    struct fileparse_error e;
    (void)state;
    assert_int_equal(check(FILEPARSE_INI,
                           "; comment\n# another\n\n[main]\nkey = value\nother: 2\n  continued\n"
                           "[second] ; note\nkey = again\r\n",
                           &e),
                     1);
    assert_int_equal(check(FILEPARSE_INI, "", &e), 1);
    assert_int_equal(check(FILEPARSE_INI, "[main]\nkey = 1\nnot a pair\n", &e), 0);
    assert_int_equal(e.line, 3);
    assert_int_equal(e.col, 1);
    assert_int_equal(check(FILEPARSE_INI, "[main\nk=1\n", &e), 0);
    assert_int_equal(e.line, 1);
    assert_non_null(strstr(e.msg, "']'"));
    assert_int_equal(check(FILEPARSE_INI, "[]\n", &e), 0);
    assert_int_equal(check(FILEPARSE_INI, "[a] x\n", &e), 0);
    assert_int_equal(e.col, 5);
    assert_int_equal(check(FILEPARSE_INI, "[a]\n  = 3\n", &e), 0);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.col, 3);
    /* a key twice in one section (case-insensitive), fine in two sections */
    assert_int_equal(check(FILEPARSE_INI, "[a]\nKey=1\nx=2\nkey=3\n", &e), 0);
    assert_int_equal(e.line, 4);
    assert_non_null(strstr(e.msg, "first on line 2"));
    assert_int_equal(check(FILEPARSE_INI, "[a]\nk=1\n[b]\nk=1\n", &e), 1);
    /* the column counts characters: 'é' is one */
    assert_int_equal(check(FILEPARSE_INI, "[a]\n\xc3\xa9\xc3\xa9 x\n", &e), 0);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.col, 1);
    /* many keys: the duplicate set grows */
    char big[20000];
    size_t k = 0;
    for (int i = 0; i < 1000; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "k%d=%d\n", i, i);
    assert_int_equal(check(FILEPARSE_INI, big, &e), 1);
    snprintf(big + k, sizeof big - k, "k500=x\n");
    assert_int_equal(check(FILEPARSE_INI, big, &e), 0);
    assert_int_equal(e.line, 1001);
}

static void test_kv(void **state)
{
    struct fileparse_error e;
    (void)state;
    assert_int_equal(check(FILEPARSE_KV,
                           "# env\nA=1\nexport B_2=\"two words\" # c\nc.d-e='x'\nEMPTY=\n"
                           "  SPACED = yes\nQ=\"a\\\"b\"\n",
                           &e),
                     1);
    assert_int_equal(check(FILEPARSE_KV, "A=1\nB\n", &e), 0);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.col, 2);
    assert_int_equal(check(FILEPARSE_KV, "A=1\n=2\n", &e), 0);
    assert_int_equal(e.line, 2);
    assert_int_equal(check(FILEPARSE_KV, "A=1\nB=\"open\n", &e), 0);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.col, 3);
    assert_non_null(strstr(e.msg, "unterminated"));
    assert_int_equal(check(FILEPARSE_KV, "A='x' y\n", &e), 0);
    assert_int_equal(e.col, 7);
    assert_int_equal(check(FILEPARSE_KV, "A B=1\n", &e), 0);
    assert_int_equal(e.col, 3);
}

static void test_json_yaml(void **state)
{
    struct fileparse_error e;
    (void)state;
    assert_int_equal(check(FILEPARSE_JSON, "{\"a\": [1, 2, {\"b\": null}]}\n", &e), 1);
    assert_int_equal(check(FILEPARSE_JSON, "42", &e), 1);
    assert_int_equal(check(FILEPARSE_JSON, "{\"a\": 1,\n \"b\": 2,,\n}", &e), 0);
    assert_int_equal(e.line, 2);
    assert_true(e.col > 0);
    assert_true(e.msg[0] != '\0');
    assert_int_equal(check(FILEPARSE_JSON, "{\"a\": 1, \"a\": 2}", &e), 0);
    assert_non_null(strstr(e.msg, "duplicate"));
    assert_int_equal(check(FILEPARSE_JSON, "", &e), 0);

    assert_int_equal(check(FILEPARSE_YAML, "a: 1\nb:\n  - x\n  - y\n", &e), 1);
    assert_int_equal(check(FILEPARSE_YAML, "", &e), 1);
    assert_int_equal(check(FILEPARSE_YAML, "a: 1\nb: [1, 2\nc: 3\n", &e), 0);
    assert_true(e.line >= 2);
    assert_true(e.msg[0] != '\0');
    assert_int_equal(check(FILEPARSE_YAML, "a: 1\n\tb: 2\n", &e), 0);
    assert_int_equal(e.line, 2);
    assert_int_equal(check(FILEPARSE_TEXT, "anything [ at all", &e), 1);
}

static void test_types(void **state)
{
    enum fileparse_type t;
    (void)state;
    assert_int_equal(fileparse_type_for_path("/etc/app.json"), FILEPARSE_JSON);
    assert_int_equal(fileparse_type_for_path("/etc/app.YML"), FILEPARSE_YAML);
    assert_int_equal(fileparse_type_for_path("/etc/app.yaml"), FILEPARSE_YAML);
    assert_int_equal(fileparse_type_for_path("/etc/php.ini"), FILEPARSE_INI);
    assert_int_equal(fileparse_type_for_path("/etc/default/app.env"), FILEPARSE_KV);
    assert_int_equal(fileparse_type_for_path("/etc/hosts"), FILEPARSE_TEXT);
    assert_int_equal(fileparse_type_parse("kv", &t), 0);
    assert_int_equal(t, FILEPARSE_KV);
    assert_int_equal(fileparse_type_parse("xml", &t), -1);
    assert_string_equal(fileparse_type_name(FILEPARSE_YAML), "yaml");
}

static void test_controls(void **state)
{
    struct fileparse_finding f[8];
    (void)state;
    const char ok[] = "\xef\xbb\xbfplain text\twith tabs\r\nand \xc3\xa9 accents \xe2\x82\xac\n";
    assert_int_equal(fileparse_scan_controls((const uint8_t *)ok, sizeof ok - 1, f, 8), 0);

    /* NUL at 1:3, zero-width space at 2:2, BOM mid-file at 2:4, bell at 3:1,
     * RLO (Trojan Source) at 3:2, invalid UTF-8 at 3:3 */
    const char bad[] = "ab\0c\n"
                       "x\xe2\x80\x8by\xef\xbb\xbf\n"
                       "\x07\xe2\x80\xae\xff";
    size_t n = fileparse_scan_controls((const uint8_t *)bad, sizeof bad - 1, f, 8);
    assert_int_equal(n, 6);
    assert_int_equal(f[0].line, 1);
    assert_int_equal(f[0].col, 3);
    assert_string_equal(f[0].what, "NUL");
    assert_int_equal(f[1].line, 2);
    assert_int_equal(f[1].col, 2);
    assert_int_equal(f[1].cp, 0x200B);
    assert_int_equal(f[2].col, 4);
    assert_string_equal(f[2].what, "byte order mark");
    assert_int_equal(f[3].line, 3);
    assert_int_equal(f[3].col, 1);
    assert_int_equal(f[3].cp, 7);
    assert_int_equal(f[4].cp, 0x202E);
    assert_string_equal(f[4].what, "bidirectional override");
    assert_string_equal(f[5].what, "invalid UTF-8");
    /* the total counts past max */
    assert_int_equal(fileparse_scan_controls((const uint8_t *)bad, sizeof bad - 1, f, 2), 6);
    /* overlong and surrogate encodings are invalid */
    const char ov[] = "\xc0\xaf\xed\xa0\x80";
    assert_int_equal(fileparse_scan_controls((const uint8_t *)ov, sizeof ov - 1, NULL, 0), 5);
}

UNIT_TESTS(cmocka_unit_test(test_ini), cmocka_unit_test(test_kv), cmocka_unit_test(test_json_yaml),
           cmocka_unit_test(test_types), cmocka_unit_test(test_controls))
