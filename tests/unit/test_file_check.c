/* test_file_check.c - the file sanity collector (src/agent/file_check.c) on
 * real files: metrics, the changed / invalid / valid / controls / missing
 * events, re-reading only on a stat change, and bad configuration. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "emit_capture.h"
#include "agent/digest.h"
#include "agent/file_check.h"
#include "telltale.h"

static void put(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void round_of(struct file_check *fc, struct cap *c, int64_t t)
{
    cap_reset(c);
    struct agent_emit e = cap_emit(c);
    assert_int_equal(file_check_collect(fc, &e, t), 0);
}

static void test_lifecycle(void **state)
{
    char dir[64], path[128];
    struct file_check *fc = NULL;
    struct cap c;
    char err[256];
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(tmpdir_make(dir, sizeof dir, "filecheck"), 0);
    snprintf(path, sizeof path, "%s/app.json", dir);
    put(path, "{\"a\": 1}\n");
    struct file_spec spec = { path, FILEPARSE_AUTO };
    assert_int_equal(file_check_new(&fc, &spec, 1, err, sizeof err), 0);

    char k_exists[300], k_size[300], k_valid[300], k_ctrl[300];
    snprintf(k_exists, sizeof k_exists, "telltale_file_exists{path=%s}", path);
    snprintf(k_size, sizeof k_size, "telltale_file_size_bytes{path=%s}", path);
    snprintf(k_ctrl, sizeof k_ctrl, "telltale_file_control_chars{path=%s}", path);
    snprintf(k_valid, sizeof k_valid, "telltale_file_valid{path=%s,type=json}", path);

    round_of(fc, &c, 1000);
    assert_true(cap_value(&c, k_exists) == 1);
    assert_true(cap_value(&c, k_size) == 9);
    assert_true(cap_value(&c, k_valid) == 1);
    assert_true(cap_value(&c, k_ctrl) == 0);
    assert_int_equal(c.nevents, 0);

    /* unchanged: no event */
    round_of(fc, &c, 2000);
    assert_int_equal(c.nevents, 0);

    /* broken: changed + invalid with line:col */
    put(path, "{\"a\": 1,\n \"b\": }\n");
    round_of(fc, &c, 3000);
    assert_true(cap_value(&c, k_valid) == 0);
    const struct cap_event *ch = cap_find_event(&c, "telltale.file.changed");
    assert_non_null(ch);
    assert_true(cap_attr_has(ch, "old_size=9"));
    assert_true(cap_attr_has(ch, "new_size=17"));
    const struct cap_event *inv = cap_find_event(&c, "telltale.file.invalid");
    assert_non_null(inv);
    assert_int_equal(inv->severity, TT_SEV_ERROR);
    assert_true(cap_attr_has(inv, "line=2"));
    assert_true(cap_attr_has(inv, "type=json"));
    char where[200];
    snprintf(where, sizeof where, "%s:2:", path);
    assert_non_null(strstr(inv->message, where));
    /* still invalid next round, different content: changed, but no second invalid event */
    put(path, "{\"a\": 2,\n \"b\": }\n");
    round_of(fc, &c, 4000);
    assert_non_null(cap_find_event(&c, "telltale.file.changed"));
    assert_null(cap_find_event(&c, "telltale.file.invalid"));
    assert_true(cap_value(&c, k_valid) == 0);

    /* fixed, with a zero-width space: valid again + controls */
    put(path, "{\"a\": \"x\xe2\x80\x8b\"}\n");
    round_of(fc, &c, 5000);
    assert_true(cap_value(&c, k_valid) == 1);
    assert_non_null(cap_find_event(&c, "telltale.file.valid"));
    const struct cap_event *ctl = cap_find_event(&c, "telltale.file.controls");
    assert_non_null(ctl);
    assert_true(cap_attr_has(ctl, "count=1"));
    assert_true(cap_attr_has(ctl, "first=1:9 zero-width or direction mark U+200B"));
    assert_true(cap_value(&c, k_ctrl) == 1);

    /* gone */
    unlink(path);
    round_of(fc, &c, 6000);
    assert_true(cap_value(&c, k_exists) == 0);
    assert_true(cap_value(&c, k_valid) == -12345);
    assert_non_null(cap_find_event(&c, "telltale.file.missing"));
    round_of(fc, &c, 7000);
    assert_null(cap_find_event(&c, "telltale.file.missing"));

    cap_free(&c);
    file_check_free(fc);
    rm_rf(dir);
}

static void test_reread_on_stat_change(void **state)
{
    char dir[64], path[128], k_valid[300];
    struct file_check *fc = NULL;
    struct cap c;
    char err[256];
    struct stat st;
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(tmpdir_make(dir, sizeof dir, "filecheck"), 0);
    snprintf(path, sizeof path, "%s/app.conf", dir);
    put(path, "A=1\nB=2\n");
    struct file_spec spec = { path, FILEPARSE_KV };
    assert_int_equal(file_check_new(&fc, &spec, 1, err, sizeof err), 0);
    snprintf(k_valid, sizeof k_valid, "telltale_file_valid{path=%s,type=kv}", path);
    round_of(fc, &c, 1000);
    assert_true(cap_value(&c, k_valid) == 1);
    assert_int_equal(stat(path, &st), 0);

    /* Same size, mtime put back: the ctime still moves, so it is re-read. */
    put(path, "A=1\nB 2\n");
    struct timespec ts[2] = { st.st_atim, st.st_mtim };
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    round_of(fc, &c, 2000);
    assert_true(cap_value(&c, k_valid) == 0);
    assert_non_null(cap_find_event(&c, "telltale.file.invalid"));
    cap_free(&c);
    file_check_free(fc);
    rm_rf(dir);
}

static void test_bad_config(void **state)
{
    struct file_check *fc = NULL;
    char err[256] = "";
    struct file_spec spec = { "relative/path.json", FILEPARSE_AUTO };
    (void)state;
    assert_int_equal(file_check_new(&fc, &spec, 1, err, sizeof err), TT_EINVAL);
    assert_null(fc);
    assert_non_null(strstr(err, "relative/path.json"));
}

static void test_unreadable_and_dir(void **state)
{
    char dir[64];
    struct file_check *fc = NULL;
    struct cap c;
    char err[256];
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(tmpdir_make(dir, sizeof dir, "filecheck"), 0);
    struct file_spec spec = { dir, FILEPARSE_AUTO }; /* a directory */
    assert_int_equal(file_check_new(&fc, &spec, 1, err, sizeof err), 0);
    round_of(fc, &c, 1000);
    assert_int_equal(c.nwarns, 1);
    assert_non_null(strstr(c.warns[0], "is a directory"));
    round_of(fc, &c, 2000);
    assert_int_equal(c.nwarns, 0); /* warned once */
    cap_free(&c);
    file_check_free(fc);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_lifecycle), cmocka_unit_test(test_reread_on_stat_change),
           cmocka_unit_test(test_bad_config), cmocka_unit_test(test_unreadable_and_dir))
